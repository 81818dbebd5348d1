// The whole desired kernel state: what a sync makes the kernel hold. Built per Service by
// render.ts, merged by DesiredIndex (the daemon) or computeDesired (one shot, for `plan`).
import type { Family, Ip } from '../net/ip.ts';
import type { SetBase, SetType } from './ipsets.ts';
import type { IptablesState } from './iptables.ts';
import type { ServiceKey } from './types.ts';
import type { VirtualServers } from './vs-map.ts';

export interface IpsetState {
  readonly name: string;
  readonly base: SetBase;
  readonly family: Family;
  readonly type: SetType;
  readonly createOptions: string;
  /** Members; unordered from the daemon's index, sorted by `assemble` (for printing). */
  readonly entries: readonly string[];
}

export interface HealthCheck {
  readonly service: ServiceKey;
  readonly nodePort: number;
  readonly localEndpoints: number;
}

export interface DesiredState {
  readonly families: readonly Family[];
  /** By key: sorted by address by `assemble` (for printing); in the daemon's index, in no set order. */
  readonly virtualServers: VirtualServers;
  /** Addresses bound to kube-ipvs0; sorted (IPv4 first) by `assemble`. */
  readonly addresses: readonly Ip[];
  /** Every managed set of every family, in kube-proxy's order, IPv4 first. */
  readonly ipsets: readonly IpsetState[];
  readonly iptables: readonly IptablesState[];
  readonly healthChecks: readonly HealthCheck[];
  readonly noLocalEndpoints: { readonly internal: readonly ServiceKey[]; readonly external: readonly ServiceKey[] };
}
