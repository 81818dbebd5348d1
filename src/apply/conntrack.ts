// Stale UDP conntrack entries. IPVS keeps answering a UDP flow from its conntrack entry
// after the endpoint or the service is gone, so DNS clients hang on a deleted pod (#71514).
import type { Ip } from '../compute/net/ip.ts';
import { ToolError, type Runner } from './exec.ts';

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

/**
 * Runs one delete and returns how many entries went. conntrack exits 1 when nothing
 * matched; that is the common case (no flow was open), not a failure.
 */
export async function deleteEntries(runner: Runner, argv: readonly string[]): Promise<number> {
  try {
    const { stderr } = await runner.run(argv);
    return Number(DELETED.exec(stderr)?.[1] ?? 0);
  } catch (e) {
    // The tool offers no other signal than this text for "nothing matched".
    if (e instanceof ToolError && e.code === 'TOOL_FAILED' && e.exitCode === 1 && /\b0 flow entries have been deleted/.test(e.stderr)) return 0;
    throw e;
  }
}
