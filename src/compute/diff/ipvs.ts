// Desired virtual servers vs the IPVS table → ipvsadm operations, in a safe order: services
// added/edited, real servers added/edited, real servers drained or deleted, services deleted.
// Graceful termination (kube-proxy graceful_termination.go): a removed TCP real server with
// connections goes to weight 0 and is deleted once ActiveConn+InActConn reach 0; UDP/SCTP and
// idle ones are deleted at once. A desired real server at another weight is set back to 1
// (a restart never leaves servers at weight 0: #92019, #108319).
import { hostPort } from '../net/ip.ts';
import type { RealServer, VirtualServer } from '../model/types.ts';
import type { VirtualServers } from '../model/vs-map.ts';
import type { IpvsOp, ObservedRealServer, ObservedService, RealServerConns } from '../../tools/ipvsadm.ts';

export interface IpvsDiffOptions {
  /** Whether kube-ipvs may change this observed service (see ownership in the dataplane). */
  readonly owns: (s: ObservedService) => boolean;
  /** Connection counts by service key; without them removed TCP real servers are drained. */
  readonly conns?: ReadonlyMap<string, readonly RealServerConns[]>;
  /** Only these virtual server keys (an incremental sync); all when absent. */
  readonly keys?: Iterable<string>;
}

export interface IpvsDiff {
  readonly ops: readonly IpvsOp[];
  /** `vsKey rsHostPort` of TCP real servers left (or put) at weight 0 to drain. */
  readonly draining: readonly string[];
  /** The same real servers (at weight 0) by service key, to remember in the applied state. */
  readonly drainingServers: ReadonlyMap<string, readonly ObservedRealServer[]>;
  /** Some TCP real server is to go and connection counts were not given. */
  readonly needsConns: boolean;
  /** The services whose connection counts that needs. */
  readonly needsConnsFor: readonly VirtualServer[];
}

export const drainKey = (vsKey: string, rs: Pick<RealServer, 'ip' | 'port'>): string => `${vsKey} ${hostPort(rs.ip, rs.port)}`;

const sameOptions = (d: VirtualServer, o: ObservedService): boolean =>
  d.scheduler === o.scheduler && d.persistence === o.persistence && o.netmask === undefined &&
  d.schedulerFlags.join(',') === o.schedulerFlags.join(',');

const sameServer = (a: Pick<RealServer, 'ip' | 'port'>, b: Pick<RealServer, 'ip' | 'port'>): boolean =>
  a.ip.text === b.ip.text && a.port === b.port;

export function diffIpvs(
  desired: VirtualServers, observed: ReadonlyMap<string, ObservedService>, opts: IpvsDiffOptions,
): IpvsDiff {
  const head: IpvsOp[] = [];
  const reals: IpvsOp[] = [];
  const removals: IpvsOp[] = [];
  const deletes: IpvsOp[] = [];
  const draining: string[] = [];
  const drainingServers = new Map<string, ObservedRealServer[]>();
  const needsConnsFor = new Map<string, VirtualServer>();
  const keys = opts.keys === undefined ? new Set([...desired.keys(), ...observed.keys()]) : new Set(opts.keys);

  // A real server of a still-desired service that is no longer wanted.
  const remove = (vs: VirtualServer, key: string, rs: ObservedRealServer): void => {
    if (vs.protocol !== 'TCP') { removals.push({ op: 'delete-real', vs, rs }); return; }
    const c = opts.conns?.get(key)?.find((x) => sameServer(x, rs));
    if (opts.conns !== undefined && (c === undefined || c.activeConns + c.inactiveConns === 0)) {
      removals.push({ op: 'delete-real', vs, rs });
      return;
    }
    if (opts.conns === undefined) needsConnsFor.set(key, vs);
    draining.push(drainKey(key, rs));
    const list = drainingServers.get(key) ?? [];
    list.push({ ...rs, weight: 0 });
    drainingServers.set(key, list);
    if (rs.weight !== 0) removals.push({ op: 'edit-real', vs, rs: { ip: rs.ip, port: rs.port, weight: 0, forwarding: 'masq' } });
  };

  for (const key of keys) {
    const d = desired.get(key);
    const o = observed.get(key);
    if (o !== undefined && !opts.owns(o)) continue;
    if (d === undefined) {
      if (o?.target.kind === 'address') deletes.push({ op: 'delete-service', vs: o.target });
      continue;
    }
    if (o === undefined) {
      head.push({ op: 'add-service', vs: d });
      for (const rs of d.realServers) reals.push({ op: 'add-real', vs: d, rs });
      continue;
    }
    if (!sameOptions(d, o)) head.push({ op: 'edit-service', vs: d });
    for (const rs of d.realServers) {
      const cur = o.realServers.find((x) => sameServer(x, rs));
      if (cur === undefined) reals.push({ op: 'add-real', vs: d, rs });
      else if (cur.weight !== rs.weight || cur.forwarding !== 'masq') reals.push({ op: 'edit-real', vs: d, rs });
    }
    for (const rs of o.realServers) {
      if (!d.realServers.some((x) => sameServer(x, rs))) remove(d, key, rs);
    }
  }
  return { ops: head.concat(reals, removals, deletes), draining, drainingServers, needsConns: needsConnsFor.size > 0, needsConnsFor: [...needsConnsFor.values()] };
}
