// Stale UDP conntrack entries. IPVS keeps answering a UDP flow from its conntrack entry
// after the endpoint or the service is gone, so DNS clients hang on a deleted pod (#71514).
import type { Family, Ip } from '../compute/net/ip.ts';
import { ToolError, type Runner } from './exec.ts';

const familyArgs = (ip: Ip): string[] => (ip.family === 6 ? ['-f', 'ipv6'] : []);

/** Every UDP flow addressed to a removed service IP. */
export const deleteByServiceIpArgv = (vip: Ip): string[] =>
  ['conntrack', '-D', ...familyArgs(vip), '-p', 'udp', '--orig-dst', vip.text];

/**
 * UDP flows NATed to a removed endpoint, narrowed to one service IP when given. Matched on
 * the reply source (as kube-proxy's netlink filter does), not `--dst-nat`: IPVS rewrites the
 * reply tuple without the NAT status bits conntrack's --dst-nat relies on.
 */
export const deleteByEndpointArgv = (endpoint: Ip, vip?: Ip): string[] => [
  'conntrack', '-D', ...familyArgs(endpoint), '-p', 'udp',
  ...(vip === undefined ? [] : ['--orig-dst', vip.text]), '--reply-src', endpoint.text,
];

/** UDP flows to a removed node port, on any node address. */
export const deleteByPortArgv = (port: number, family: Family): string[] =>
  ['conntrack', '-D', ...(family === 6 ? ['-f', 'ipv6'] : []), '-p', 'udp', '--dport', String(port)];

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
