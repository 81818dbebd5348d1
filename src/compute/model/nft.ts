// kube-proxy's IPVS-mode ipsets and KUBE-* rules as one nftables table, `inet kube-ipvs`, for
// both families. Rendered from the very set members and rule inputs the iptables backend
// uses (DesiredState.ipsets, IptablesState.inputs): the nft backend is a second renderer, not
// a second copy of the Service semantics. Each ipset becomes a typed nft set (concatenations
// for ip,port and ip,port,ip; `flags interval` for CIDRs); the chains mirror the KUBE-*
// chains rule for rule. Every rule is written whether its set is empty or not, so the rules
// never change with Services: a sync changes set elements only.
import type { Family } from '../net/ip.ts';
import type { IpsetState } from './desired.ts';
import type { SetBase, SetType } from './ipsets.ts';
import type { IptablesInputs, IptablesState, LocalTraffic } from './iptables.ts';
import type { NftChain, NftDataType, NftSet, NftTable } from '../../tools/nft.ts';
import { parseCidr, cidrContains } from '../net/ip.ts';

export const NFT_TABLE = 'kube-ipvs';

/** --ipvs-rules-backend: kube-proxy's ipsets + KUBE-* iptables rules (the default), or this table. */
export const RULES_BACKENDS = ['iptables', 'nftables'] as const;
export type RulesBackend = (typeof RULES_BACKENDS)[number];

/** `KUBE-LOAD-BALANCER-SOURCE-CIDR`, 6 → `load-balancer-source-cidr-v6`. */
export const nftSetName = (base: SetBase | 'KUBE-IPVS-OUT-FILTER', family: Family): string =>
  `${base.replace(/^KUBE-/, '').toLowerCase()}-v${family}`;

const addrType = (f: Family): NftDataType => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');

export function nftSetType(type: SetType, f: Family): readonly NftDataType[] {
  switch (type) {
    case 'hash:ip': return [addrType(f)];
    case 'bitmap:port': return ['inet_service'];
    case 'hash:ip,port': return [addrType(f), 'inet_proto', 'inet_service'];
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net': return [addrType(f), 'inet_proto', 'inet_service', addrType(f)];
    default: { const never: never = type; throw new Error(`unknown set type ${String(never)}`); }
  }
}

/** An `ipset save` member (`10.0.0.1,tcp:80,10.1.0.0/16`) → the nft element (`10.0.0.1 . tcp . 80 . 10.1.0.0/16`). */
export function nftElement(entry: string): string {
  const [ip, protoPort, third] = entry.split(',');
  if (protoPort === undefined) return entry; // an address or a port
  const [proto, port] = protoPort.split(':');
  return [ip, proto, port, ...(third === undefined ? [] : [third])].join(' . ');
}

/**
 * The kernel refuses overlapping intervals in one concatenated set, where `hash:ip,port,net`
 * takes them: a range inside another range of the same ip,port is dropped (it adds nothing).
 */
export function withoutCoveredRanges(elements: readonly string[]): string[] {
  const byKey = new Map<string, { text: string; cidr: ReturnType<typeof parseCidr> }[]>();
  for (const e of elements) {
    const cut = e.lastIndexOf(' . ');
    const key = e.slice(0, cut);
    const net = e.slice(cut + 3);
    const cidr = parseCidr(net.includes('/') ? net : `${net}/${net.includes(':') ? 128 : 32}`);
    const list = byKey.get(key) ?? [];
    list.push({ text: e, cidr });
    byKey.set(key, list);
  }
  const out: string[] = [];
  for (const list of byKey.values()) {
    for (const x of list) {
      const covered = list.some((y) => y !== x && y.cidr !== undefined && x.cidr !== undefined
        && y.cidr.prefix <= x.cidr.prefix && cidrContains(y.cidr, x.cidr.ip) && (y.cidr.prefix < x.cidr.prefix || y.text < x.text));
      if (!covered) out.push(x.text);
    }
  }
  return out;
}

/** An nft element back as the ipset member it stands for (`a . tcp . 80 . b` → `a,tcp:80,b`). */
export function ipsetEntry(element: string): string {
  const [ip, proto, port, third] = element.split(' . ');
  if (proto === undefined || port === undefined) return element;
  return `${ip ?? ''},${proto}:${port}${third === undefined ? '' : `,${third}`}`;
}

/**
 * The nft set standing for one ipset. Its elements are computed when first read: an
 * incremental sync reads only the sets that changed, so its cost follows the change.
 */
export function nftSetOf(s: IpsetState): NftSet {
  const interval = s.type === 'hash:ip,port,net';
  let elements: readonly string[] | undefined;
  return {
    name: nftSetName(s.base, s.family), type: nftSetType(s.type, s.family), interval,
    get elements() {
      if (elements === undefined) { const e = s.entries.map(nftElement); elements = interval ? withoutCoveredRanges(e) : e; }
      return elements;
    },
  };
}

/** LB VIPs the node itself must not reach (#119656), as `vip . vip . proto . port`. */
export function outFilterSet(inp: IptablesInputs): NftSet {
  const t = addrType(inp.family);
  return {
    name: nftSetName('KUBE-IPVS-OUT-FILTER', inp.family),
    type: [t, t, 'inet_proto', 'inet_service'],
    interval: false,
    elements: inp.outFilterDrops.map((d) => `${d.ip.text} . ${d.ip.text} . ${d.protocol.toLowerCase()} . ${d.port}`),
  };
}

const notLocal = (p: string, l: LocalTraffic): string =>
  ('source' in l ? `${p} saddr != ${l.source.text}` : `iifname != "${l.inInterface.replace(/\+$/, '*')}"`);

/** Rules by chain for one family, in the KUBE-* chains' order. */
function familyRules(inp: IptablesInputs): Readonly<Record<string, readonly string[]>> {
  const f = inp.family;
  const p = f === 4 ? 'ip' : 'ip6';
  const nf = f === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6';
  const s = (b: SetBase): string => `@${nftSetName(b, f)}`;
  const dd = `${p} daddr . meta l4proto . th dport`; // ipset dst,dst
  const clusterMasq = inp.masqueradeAll
    ? `${dd} ${s('KUBE-CLUSTER-IP')} jump mark-masq`
    : inp.local !== undefined
      ? `${notLocal(p, inp.local)} ${dd} ${s('KUBE-CLUSTER-IP')} jump mark-masq`
      // No way to tell pod traffic: node-originated traffic whose source is a VIP (src,dst).
      : `${p} saddr . meta l4proto . th dport ${s('KUBE-CLUSTER-IP')} jump mark-masq`;
  const external = (b: SetBase): string[] => [
    // The bridge (physdev) part of kube-proxy's rule has no nft equivalent in an inet table.
    `${dd} ${s(b)} fib saddr type != local accept`,
    `${dd} ${s(b)} fib daddr type local accept`,
  ];
  return {
    services: [
      f === 4 ? 'ip saddr 127.0.0.0/8 return' : 'ip6 saddr ::1 return',
      `${dd} ${s('KUBE-LOAD-BALANCER')} jump load-balancer`,
      clusterMasq,
      `${dd} ${s('KUBE-EXTERNAL-IP')} jump mark-masq`,
      ...external('KUBE-EXTERNAL-IP'),
      ...external('KUBE-EXTERNAL-IP-LOCAL'),
      `${nf} fib daddr type local jump node-port`,
      `${dd} ${s('KUBE-CLUSTER-IP')} accept`,
      `${dd} ${s('KUBE-LOAD-BALANCER')} accept`,
    ],
    'load-balancer': [`${dd} ${s('KUBE-LOAD-BALANCER-LOCAL')} return`],
    // The Local sets first: their ports return before being marked for masquerade.
    'node-port': [
      `${nf} tcp dport ${s('KUBE-NODE-PORT-LOCAL-TCP')} return`,
      `${nf} tcp dport ${s('KUBE-NODE-PORT-TCP')} jump mark-masq`,
      `${nf} udp dport ${s('KUBE-NODE-PORT-LOCAL-UDP')} return`,
      `${nf} udp dport ${s('KUBE-NODE-PORT-UDP')} jump mark-masq`,
      `${dd} ${s('KUBE-NODE-PORT-LOCAL-SCTP-HASH')} return`,
      `${dd} ${s('KUBE-NODE-PORT-SCTP-HASH')} jump mark-masq`,
    ],
    postrouting: [`${dd} . ${p} saddr ${s('KUBE-LOOP-BACK')} masquerade`],
    'health-check-node-port': [`${nf} th dport ${s('KUBE-HEALTH-CHECK-NODE-PORT')} accept`],
    'proxy-firewall': [`${dd} ${s('KUBE-LOAD-BALANCER-FW')} jump source-ranges-firewall`],
    'source-ranges-firewall': [
      `${dd} . ${p} saddr ${s('KUBE-LOAD-BALANCER-SOURCE-CIDR')} return`,
      `${dd} . ${p} saddr ${s('KUBE-LOAD-BALANCER-SOURCE-IP')} return`,
    ],
    'ipvs-out-filter': [`${p} saddr . ${p} daddr . meta l4proto . th dport @${nftSetName('KUBE-IPVS-OUT-FILTER', f)} drop`],
    'ipvs-filter': [
      `${dd} ${s('KUBE-LOAD-BALANCER')} return`,
      `${dd} ${s('KUBE-CLUSTER-IP')} return`,
      `${dd} ${s('KUBE-EXTERNAL-IP')} return`,
      `${dd} ${s('KUBE-EXTERNAL-IP-LOCAL')} return`,
      `${nf} th dport ${s('KUBE-HEALTH-CHECK-NODE-PORT')} return`,
      `ct state new ${p} daddr ${s('KUBE-IPVS-IPS')} reject with icmpx port-unreachable`,
    ],
  };
}

const BASE_CHAINS: readonly NftChain[] = [
  { name: 'nat-prerouting', base: { type: 'nat', hook: 'prerouting', priority: -100 }, rules: ['jump services'] },
  { name: 'nat-output', base: { type: 'nat', hook: 'output', priority: -100 }, rules: ['jump services'] },
  { name: 'nat-postrouting', base: { type: 'nat', hook: 'postrouting', priority: 100 }, rules: ['jump postrouting'] },
  // #72236: host services must not answer on VIPs bound to kube-ipvs0.
  { name: 'filter-input', base: { type: 'filter', hook: 'input', priority: 0 }, rules: ['jump ipvs-filter', 'jump proxy-firewall', 'jump health-check-node-port'] },
  { name: 'filter-forward', base: { type: 'filter', hook: 'forward', priority: 0 }, rules: ['jump proxy-firewall', 'jump forward'] },
  // #119656: before IPVS' own LOCAL_OUT hook (-99) rewrites the VIP to a real server.
  { name: 'filter-output', base: { type: 'filter', hook: 'output', priority: -150 }, rules: ['jump ipvs-out-filter'] },
];

const REGULAR = [
  'services', 'load-balancer', 'node-port', 'mark-masq', 'postrouting', 'forward', 'health-check-node-port',
  'proxy-firewall', 'source-ranges-firewall', 'ipvs-filter', 'ipvs-out-filter',
] as const;

/** The chains for the families `inputs` cover (one IptablesInputs per family). */
export function nftChains(inputs: readonly IptablesInputs[]): NftChain[] {
  const per = inputs.map(familyRules);
  // Family-independent rules, written once: the mark bit is the same for both families.
  const mark = `0x${(1 << (inputs[0]?.masqueradeBit ?? 14)).toString(16).padStart(8, '0')}`;
  const tails: Readonly<Record<string, readonly string[]>> = {
    'load-balancer': ['jump mark-masq'],
    'mark-masq': [`meta mark set meta mark | ${mark}`],
    postrouting: [
      `meta mark & ${mark} != ${mark} return`,
      // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
      `meta mark set meta mark ^ ${mark}`,
      'masquerade fully-random',
    ],
    forward: [`meta mark & ${mark} == ${mark} accept`, 'ct state established,related accept'],
    'source-ranges-firewall': ['drop'],
  };
  const regular = REGULAR.map((name): NftChain => ({ name, rules: [...per.flatMap((r) => r[name] ?? []), ...(tails[name] ?? [])] }));
  return [...BASE_CHAINS, ...regular];
}

/** The whole table: every ipset of `ipsets` as an nft set, the out-filter sets, the chains. */
export function buildNftTable(ipsets: readonly IpsetState[], iptables: readonly IptablesState[]): NftTable {
  const inputs = iptables.map((s) => s.inputs);
  return {
    family: 'inet',
    name: NFT_TABLE,
    sets: [...ipsets.map(nftSetOf), ...inputs.map(outFilterSet)],
    chains: nftChains(inputs),
  };
}
