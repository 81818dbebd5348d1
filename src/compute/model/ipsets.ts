// kube-proxy's IPVS-mode ipsets, declared as data (pkg/proxy/ipvs/ipset.go): same names,
// types and entry formats, so a node moves between kube-proxy and kube-ipvs in place.
import type { Family, Ip } from '../net/ip.ts';
import type { Protocol } from './types.ts';
import { flat } from '../text.ts';

export type SetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export const SET_BASES = [
  'KUBE-LOOP-BACK', 'KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP', 'KUBE-EXTERNAL-IP-LOCAL',
  'KUBE-LOAD-BALANCER', 'KUBE-LOAD-BALANCER-FW', 'KUBE-LOAD-BALANCER-LOCAL',
  'KUBE-LOAD-BALANCER-SOURCE-IP', 'KUBE-LOAD-BALANCER-SOURCE-CIDR',
  'KUBE-NODE-PORT-TCP', 'KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-NODE-PORT-UDP', 'KUBE-NODE-PORT-LOCAL-UDP',
  'KUBE-NODE-PORT-SCTP-HASH', 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'KUBE-HEALTH-CHECK-NODE-PORT',
  'KUBE-IPVS-IPS',
] as const;
export type SetBase = (typeof SET_BASES)[number];

export interface SetDef {
  readonly base: SetBase;
  readonly type: SetType;
  /** Used as the iptables rule comment of the rule matching this set. */
  readonly comment: string;
}

export const SET_DEFS: Readonly<Record<SetBase, SetDef>> = {
  'KUBE-LOOP-BACK': { base: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  'KUBE-CLUSTER-IP': { base: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  'KUBE-EXTERNAL-IP': { base: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  'KUBE-EXTERNAL-IP-LOCAL': { base: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  'KUBE-LOAD-BALANCER': { base: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  'KUBE-LOAD-BALANCER-FW': { base: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  'KUBE-LOAD-BALANCER-LOCAL': { base: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  'KUBE-LOAD-BALANCER-SOURCE-IP': { base: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  'KUBE-LOAD-BALANCER-SOURCE-CIDR': { base: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  'KUBE-NODE-PORT-TCP': { base: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  'KUBE-NODE-PORT-LOCAL-TCP': { base: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  'KUBE-NODE-PORT-UDP': { base: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  'KUBE-NODE-PORT-LOCAL-UDP': { base: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  'KUBE-NODE-PORT-SCTP-HASH': { base: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  'KUBE-NODE-PORT-LOCAL-SCTP-HASH': { base: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  'KUBE-HEALTH-CHECK-NODE-PORT': { base: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  'KUBE-IPVS-IPS': { base: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
};

const MAX_SET_NAME = 31; // IPSET_MAXNAMELEN - 1

/** IPv6 sets are `KUBE-6-…`, cut to 31 characters (e.g. KUBE-6-LOAD-BALANCER-SOURCE-CID). */
export function setName(base: SetBase, family: Family): string {
  if (family === 4) return base;
  return base.replace('KUBE-', 'KUBE-6-').slice(0, MAX_SET_NAME);
}

/** kube-proxy's fixed maxelem: with more members its sets fill and new Services silently fail (kubernetes #129389). */
export const DEFAULT_MAXELEM = 65536;

/**
 * The maxelem a hash set of `members` is created with: kube-proxy's 65,536 while that leaves a
 * quarter free, else the next power-of-two multiple that does, so a growing set is recreated
 * (swapped) rarely — at 65,536 × 2^k crossings — and never shrunk.
 */
export function maxelemFor(members: number): number {
  let max = DEFAULT_MAXELEM;
  while (members * 4 > max * 3) max *= 2;
  return max;
}

/** The `create` options: kube-proxy's (hashsize 1024, maxelem sized as above; bitmaps cover all ports). */
export function createOptions(type: SetType, family: Family, members = 0): string {
  if (type === 'bitmap:port') return 'range 0-65535';
  return `family ${family === 4 ? 'inet' : 'inet6'} hashsize 1024 maxelem ${maxelemFor(members)}`;
}

// Entry text exactly as `ipset save` prints it, so desired and observed compare as strings.
const proto = (p: Protocol): string => p.toLowerCase();
// Flat (text.ts): every entry is kept by the desired state, its Counted set and the known kernel state.
export const ipPortEntry = (ip: Ip, p: Protocol, port: number): string => flat(ip.text, ',', proto(p), ':', port);
export const ipPortIpEntry = (ip: Ip, p: Protocol, port: number, ip2: Ip): string =>
  flat(ip.text, ',', proto(p), ':', port, ',', ip2.text);
/** A host network prints without its mask (`1.2.3.4`, not `1.2.3.4/32`). */
export const ipPortNetEntry = (ip: Ip, p: Protocol, port: number, net: { ip: Ip; prefix: number }): string =>
  flat(ip.text, ',', proto(p), ':', port, ',', net.ip.text, ...(net.prefix === (net.ip.family === 4 ? 32 : 128) ? [] : ['/', net.prefix]));
