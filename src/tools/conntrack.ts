// Stale UDP conntrack entries. IPVS keeps answering a UDP flow from its conntrack entry
// after the endpoint or the service is gone, so DNS clients hang on a deleted pod (#71514).
import type { Ip } from '../compute/net/ip.ts';

const familyArgs = (ip: Ip): string[] => (ip.family === 6 ? ['-f', 'ipv6'] : []);

// What kube-proxy clears (pkg/proxy/conntrack/cleanup.go): UDP flows addressed to a service
// frontend (IP and port) whose reply comes from an endpoint that no longer serves it. Every
// filter here names the frontend's port: a flow to the same address on another port (a
// WireGuard tunnel to the node address that also carries a NodePort, DNS to the node) is
// never touched.

/**
 * Every UDP flow to a removed virtual server `vip:port`. While it existed IPVS took every
 * UDP packet to that address and port, so each such flow was NATed by it to some endpoint.
 */
export const deleteByServiceArgv = (vip: Ip, port: number): string[] =>
  ['conntrack', '-D', ...familyArgs(vip), '-p', 'udp', '--orig-dst', vip.text, '--orig-port-dst', String(port)];

/**
 * UDP flows to `vip:port` NATed to a removed endpoint. Matched on the reply source (as
 * kube-proxy's netlink filter does), not `--dst-nat`: IPVS rewrites the reply tuple without
 * the NAT status bits conntrack's --dst-nat relies on.
 */
export const deleteByEndpointArgv = (endpoint: Ip, vip: Ip, port: number): string[] =>
  [...deleteByServiceArgv(vip, port), '--reply-src', endpoint.text];

// conntrack reports on stderr: "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted."
const DELETED = /(\d+) flow entr(?:y has|ies have) been deleted/;

/** How many entries a `conntrack -D` says it deleted (0 when it says nothing). */
export const deletedCount = (stderr: string): number => Number(DELETED.exec(stderr)?.[1] ?? 0);
