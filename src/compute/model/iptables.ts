// kube-proxy's IPVS-mode iptables rules (pkg/proxy/ipvs/proxier.go writeIptablesRules), as
// data. Their number does not grow with Services: set membership does the per-Service
// work. The one exception, as upstream, is one KUBE-IPVS-OUT-FILTER drop per LB VIP whose
// source ranges exclude the node (#119656). Rules are written the way `iptables-save`
// prints them, so desired and observed compare as text.
import type { Cidr, Family, Ip } from '../net/ip.ts';
import { SET_DEFS, setName, type SetBase } from './ipsets.ts';
import type { Protocol } from './types.ts';

export type TableName = 'nat' | 'filter';

export interface JumpRule {
  readonly table: TableName;
  /** Built-in chain the jump lives in. */
  readonly from: 'PREROUTING' | 'OUTPUT' | 'POSTROUTING' | 'INPUT' | 'FORWARD';
  readonly to: string;
  readonly comment: string;
}

export interface TableRules {
  /** kube-ipvs' own chains, flushed and rewritten by every restore. */
  readonly chains: readonly string[];
  /** `-A CHAIN …` lines of those chains, in order. */
  readonly rules: readonly string[];
}

export interface IptablesState {
  readonly family: Family;
  readonly jumps: readonly JumpRule[];
  readonly nat: TableRules;
  readonly filter: TableRules;
  /** What the rules were built from: the nftables backend renders the same inputs (model/nft.ts). */
  readonly inputs: IptablesInputs;
}

export interface OutFilterDrop {
  readonly ip: Ip;
  readonly protocol: Protocol;
  readonly port: number;
}

/**
 * How traffic from this node's pods is recognised (kube-proxy's --detect-local-mode,
 * pkg/proxy/util/localdetector.go): by source (ClusterCIDR, NodeCIDR) or by the interface it
 * came in on (BridgeInterface: the bridge; InterfaceNamePrefix: `prefix+`). Undefined: no way
 * to tell (e.g. ClusterCIDR without a CIDR of this family).
 */
export type LocalTraffic = { readonly source: Cidr } | { readonly inInterface: string };

/** The iptables match for "not from a local pod", as iptables-save prints it. */
export const notLocalMatch = (l: LocalTraffic): string => ('source' in l ? `! -s ${l.source.text}` : `! -i ${l.inInterface}`);

export interface IptablesInputs {
  readonly family: Family;
  readonly masqueradeAll: boolean;
  readonly local: LocalTraffic | undefined;
  readonly masqueradeBit: number;
  readonly nonEmptySets: ReadonlySet<SetBase>;
  readonly outFilterDrops: readonly OutFilterDrop[];
}

export const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'] as const;
export const FILTER_CHAINS = [
  'KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER',
] as const;

/** Jumps from built-in chains, in the order `iptables-save` shows them on a fresh node. */
export const JUMPS: readonly JumpRule[] = [
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules' },
  // #72236: host services must not be reachable through VIPs bound on kube-ipvs0.
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'kubernetes ipvs access filter' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', comment: 'kubernetes health check rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules' },
  // #119656: LB source ranges must also apply to the node itself.
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-IPVS-OUT-FILTER', comment: 'kubernetes ipvs access filter' },
];

export const quote = (s: string): string => (/^[\w.:/-]+$/.test(s) ? s : `"${s.replace(/["\\]/g, '\\$&')}"`);

export const jumpRuleText = (j: JumpRule): string => `-A ${j.from} -m comment --comment ${quote(j.comment)} -j ${j.to}`;

const IP_PROTO_NUMBER: Readonly<Record<Protocol, number>> = { TCP: 6, UDP: 17, SCTP: 132 };

export function buildIptables(inp: IptablesInputs): IptablesState {
  const f = inp.family;
  const set = (b: SetBase): string => setName(b, f);
  const has = (b: SetBase): boolean => inp.nonEmptySets.has(b);
  const mark = `0x${(1 << inp.masqueradeBit).toString(16)}`;
  // A rule matching one set, commented with the set's comment; written only when the set has members.
  const setRule = (chain: string, b: SetBase, match: string, target: string, p?: Protocol): string[] =>
    has(b)
      ? [`-A ${chain}${p === undefined ? '' : ` -p ${p.toLowerCase()}`} -m comment --comment ${quote(SET_DEFS[b].comment)} -m set --match-set ${set(b)} ${match} -j ${target}`]
      : [];
  const nat: string[] = [
    `-A KUBE-SERVICES -s ${f === 4 ? '127.0.0.0/8' : '::1/128'} -j RETURN`,
    ...setRule('KUBE-POSTROUTING', 'KUBE-LOOP-BACK', 'dst,dst,src', 'MASQUERADE'),
    ...setRule('KUBE-SERVICES', 'KUBE-LOAD-BALANCER', 'dst,dst', 'KUBE-LOAD-BALANCER'),
    ...setRule('KUBE-LOAD-BALANCER', 'KUBE-LOAD-BALANCER-LOCAL', 'dst,dst', 'RETURN'),
    // The Local sets come first: their ports return before being marked for masquerade.
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-LOCAL-TCP', 'dst', 'RETURN', 'TCP'),
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-TCP', 'dst', 'KUBE-MARK-MASQ', 'TCP'),
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-LOCAL-UDP', 'dst', 'RETURN', 'UDP'),
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-UDP', 'dst', 'KUBE-MARK-MASQ', 'UDP'),
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'dst,dst', 'RETURN', 'SCTP'),
    ...setRule('KUBE-NODE-PORT', 'KUBE-NODE-PORT-SCTP-HASH', 'dst,dst', 'KUBE-MARK-MASQ', 'SCTP'),
    ...clusterIpMasquerade(inp, set('KUBE-CLUSTER-IP')),
    ...externalIpRules(inp, 'KUBE-EXTERNAL-IP', set('KUBE-EXTERNAL-IP'), true),
    ...externalIpRules(inp, 'KUBE-EXTERNAL-IP-LOCAL', set('KUBE-EXTERNAL-IP-LOCAL'), false),
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
    ...(has('KUBE-CLUSTER-IP') ? [`-A KUBE-SERVICES -m set --match-set ${set('KUBE-CLUSTER-IP')} dst,dst -j ACCEPT`] : []),
    ...(has('KUBE-LOAD-BALANCER') ? [`-A KUBE-SERVICES -m set --match-set ${set('KUBE-LOAD-BALANCER')} dst,dst -j ACCEPT`] : []),
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
    `-A KUBE-POSTROUTING -j MARK --set-xmark ${mark}/0x0`,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    `-A KUBE-MARK-MASQ -j MARK --set-xmark ${mark}/${mark}`,
  ];
  const host = f === 4 ? 32 : 128;
  const filter: string[] = [
    ...setRule('KUBE-PROXY-FIREWALL', 'KUBE-LOAD-BALANCER-FW', 'dst,dst', 'KUBE-SOURCE-RANGES-FIREWALL'),
    ...setRule('KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-LOAD-BALANCER-SOURCE-CIDR', 'dst,dst,src', 'RETURN'),
    ...setRule('KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-LOAD-BALANCER-SOURCE-IP', 'dst,dst,src', 'RETURN'),
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
    // With IPVS a node-originated packet to an LB VIP has the VIP as source too (#119656).
    ...inp.outFilterDrops.map((d) =>
      `-A KUBE-IPVS-OUT-FILTER -s ${d.ip.text}/${host} -m ipvs --vproto ${IP_PROTO_NUMBER[d.protocol]} --vaddr ${d.ip.text} --vport ${d.port} -j DROP`),
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    `-A KUBE-NODE-PORT -m comment --comment ${quote(SET_DEFS['KUBE-HEALTH-CHECK-NODE-PORT'].comment)} -m set --match-set ${set('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j ACCEPT`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-LOAD-BALANCER')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-CLUSTER-IP')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-EXTERNAL-IP')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-EXTERNAL-IP-LOCAL')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('KUBE-HEALTH-CHECK-NODE-PORT')} dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set ${set('KUBE-IPVS-IPS')} dst -j REJECT --reject-with ${f === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`,
  ];
  return {
    family: f,
    jumps: JUMPS,
    nat: { chains: NAT_CHAINS, rules: nat },
    filter: { chains: FILTER_CHAINS, rules: filter },
    inputs: inp,
  };
}

function clusterIpMasquerade(inp: IptablesInputs, name: string): string[] {
  if (!inp.nonEmptySets.has('KUBE-CLUSTER-IP')) return [];
  const comment = `-m comment --comment ${quote(SET_DEFS['KUBE-CLUSTER-IP'].comment)}`;
  if (inp.masqueradeAll) return [`-A KUBE-SERVICES ${comment} -m set --match-set ${name} dst,dst -j KUBE-MARK-MASQ`];
  if (inp.local !== undefined) {
    // Traffic to a ClusterIP from anything but a local pod is masqueraded (off-cluster
    // clients routed to this node, and the node itself).
    return [`-A KUBE-SERVICES ${notLocalMatch(inp.local)} ${comment} -m set --match-set ${name} dst,dst -j KUBE-MARK-MASQ`];
  }
  // No way to tell pod traffic apart: masquerade node-originated traffic whose source is a VIP.
  return [`-A KUBE-SERVICES ${comment} -m set --match-set ${name} src,dst -j KUBE-MARK-MASQ`];
}

function externalIpRules(inp: IptablesInputs, b: SetBase, name: string, masquerade: boolean): string[] {
  if (!inp.nonEmptySets.has(b)) return [];
  const base = `-A KUBE-SERVICES -m comment --comment ${quote(SET_DEFS[b].comment)} -m set --match-set ${name} dst,dst`;
  return [
    ...(masquerade ? [`${base} -j KUBE-MARK-MASQ`] : []),
    // Allow traffic for external IPs that does not come from a bridge (i.e. not from a container)
    // nor from a local process to be forwarded to the service.
    `${base} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
    // Allow traffic from local processes to external IPs bound on this node.
    `${base} -m addrtype --dst-type LOCAL -j ACCEPT`,
  ];
}
