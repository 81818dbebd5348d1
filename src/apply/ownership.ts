// Which IPVS virtual servers are kube-ipvs' (and kube-proxy IPVS mode's, same rule) to change
// or delete. One pure rule shared by the sync (Dataplane) and --cleanup, so both leave the
// same things alone: fwmark services, excluded CIDRs, a user's own service on another address
// or on a port that is not one of our NodePorts.
//
// A ClusterIP, external or LoadBalancer virtual server is marked by its address being bound to
// kube-ipvs0. A NodePort one sits on an ordinary node address, so its mark is its port: every
// NodePort kube-ipvs serves is a member of the family's KUBE-NODE-PORT-{TCP,UDP} set (SCTP:
// its address,port in KUBE-NODE-PORT-SCTP-HASH), as kube-proxy's IPVS mode also keeps them.
// The set lives in the kernel, so the mark survives restarts, needs no --service-node-port-range
// (any range works) and no API server (--cleanup). The dataplane keeps the invariant that makes
// it sound: a port joins the set before its virtual servers are created and leaves it only
// after they are deleted. The address is not checked against the node's current addresses,
// so NodePorts on an address removed from the node are found too.
import { cidrContains, isLoopback, type Cidr, type Family, type Ip } from '../compute/net/ip.ts';
import { ipPortEntry, setName, type SetBase } from '../compute/model/ipsets.ts';
import type { Protocol } from '../compute/model/types.ts';
import type { ObservedService } from '../tools/ipvsadm.ts';

/** The sets as read from the kernel (or as last applied), by name: only their members are used. */
export type SetMembers = ReadonlyMap<string, { readonly members: ReadonlySet<string> }>;

export interface OwnershipRule {
  readonly families: readonly Family[];
  /** --ipvs-exclude-cidrs: never ours, whatever else holds. */
  readonly excludeCidrs: readonly Cidr[];
  /** Addresses bound to kube-ipvs0, as text (a set, or a map keyed by them). */
  readonly bound: { has(ip: string): boolean };
  /** The kernel's ipsets: KUBE-NODE-PORT-* membership marks a NodePort virtual server as ours. */
  readonly sets: SetMembers;
  /** Services we want right now (the desired state's keys); nothing during cleanup. */
  readonly wanted: (key: string) => boolean;
}

const NODE_PORT_SET: Readonly<Record<Protocol, SetBase>> = {
  TCP: 'KUBE-NODE-PORT-TCP', UDP: 'KUBE-NODE-PORT-UDP', SCTP: 'KUBE-NODE-PORT-SCTP-HASH',
};

/** The sets whose members mark NodePort virtual servers: their deletions wait for IPVS. */
export const NODE_PORT_SET_NAMES: ReadonlySet<string> = new Set(
  Object.values(NODE_PORT_SET).flatMap((b) => [setName(b, 4), setName(b, 6)]),
);

/** Whether `protocol ip:port` is a NodePort kube-ipvs (or kube-proxy) serves, per the sets. */
export function isMarkedNodePort(sets: SetMembers, protocol: Protocol, ip: Ip, port: number): boolean {
  // bitmap:port sets carry the port alone; the SCTP set is hash:ip,port (one entry per address).
  const entry = protocol === 'SCTP' ? ipPortEntry(ip, 'SCTP', port) : String(port);
  return sets.get(setName(NODE_PORT_SET[protocol], ip.family))?.members.has(entry) ?? false;
}

export function ownsService(r: OwnershipRule, s: ObservedService): boolean {
  if (s.target.kind !== 'address') return false;
  const { ip, port, protocol } = s.target;
  if (!r.families.includes(ip.family) || r.excludeCidrs.some((c) => cidrContains(c, ip))) return false;
  if (r.wanted(s.key) || r.bound.has(ip.text)) return true;
  // NodePorts are never served on loopback addresses in IPVS mode.
  return !isLoopback(ip) && isMarkedNodePort(r.sets, protocol, ip, port);
}

