// Which IPVS virtual servers are kube-ipvs' (and kube-proxy IPVS mode's, same rule) to change
// or delete. One pure rule shared by the sync (Dataplane) and --cleanup, so both leave the
// same things alone: fwmark services, excluded CIDRs, a user's own service on another address.
import { cidrContains, isIpv6LinkLocal, isLoopback, type Cidr, type Family } from '../compute/net/ip.ts';
import { DUMMY_LINK, type InterfaceAddress } from './ip.ts';
import type { ObservedService } from './ipvsadm.ts';

export const DEFAULT_NODE_PORTS: readonly [number, number] = [30000, 32767];

export interface OwnershipRule {
  readonly families: readonly Family[];
  /** --ipvs-exclude-cidrs: never ours, whatever else holds. */
  readonly excludeCidrs: readonly Cidr[];
  /** Addresses bound to kube-ipvs0, as text (a set, or a map keyed by them). */
  readonly bound: { has(ip: string): boolean };
  /** Node addresses, as text: services on them in the NodePort range are ours. */
  readonly nodeAddresses: ReadonlySet<string>;
  readonly nodePortRange: readonly [number, number];
  /** Services we want right now (the desired state's keys); nothing during cleanup. */
  readonly wanted: (key: string) => boolean;
}

export function ownsService(r: OwnershipRule, s: ObservedService): boolean {
  if (s.target.kind !== 'address') return false;
  const { ip, port } = s.target;
  if (!r.families.includes(ip.family) || r.excludeCidrs.some((c) => cidrContains(c, ip))) return false;
  const [lo, hi] = r.nodePortRange;
  return r.wanted(s.key) || r.bound.has(ip.text) || (r.nodeAddresses.has(ip.text) && port >= lo && port <= hi);
}

export const boundAddresses = (addresses: readonly InterfaceAddress[]): Set<string> =>
  new Set(addresses.filter((a) => a.ifname === DUMMY_LINK).map((a) => a.ip.text));

/**
 * The node's addresses as NodePorts use them when --nodeport-addresses is unset: every
 * address on the host's interfaces but kube-ipvs0's, loopback and IPv6 link-local ones.
 */
export const hostNodeAddresses = (addresses: readonly InterfaceAddress[]): Set<string> =>
  new Set(addresses.filter((a) => a.ifname !== DUMMY_LINK && a.ifname !== 'lo' && !isLoopback(a.ip) && !isIpv6LinkLocal(a.ip))
    .map((a) => a.ip.text));
