// Per-Service states → the whole desired kernel state; and the one-shot pipeline from
// Kubernetes objects to it (used by `plan`; the daemon re-renders only what changed).
import type { ProxyConfig } from '../config.ts';
import type { Cluster } from '../k8s/manifests.ts';
import type { Node } from '../k8s/objects.ts';
import { compareIp, type Family, type Ip } from '../net/ip.ts';
import { buildContext, type RenderContext } from './context.ts';
import { mergeSlices, parseEndpointSlice, type ParsedSlice } from './endpoints.ts';
import { SET_BASES, SET_DEFS, createOptions, setName, type SetBase, type SetType } from './ipsets.ts';
import { buildIptables, type IptablesState, type OutFilterDrop } from './iptables.ts';
import { renderService, type ServiceState } from './render.ts';
import { parseService } from './service.ts';
import type { ServiceKey, VirtualServer, Warning } from './types.ts';

export interface IpsetState {
  readonly name: string;
  readonly base: SetBase;
  readonly family: Family;
  readonly type: SetType;
  readonly createOptions: string;
  /** Members, sorted. */
  readonly entries: readonly string[];
}

export interface HealthCheck {
  readonly service: ServiceKey;
  readonly nodePort: number;
  readonly localEndpoints: number;
}

export interface DesiredState {
  readonly families: readonly Family[];
  /** By key, sorted by key. */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  /** Addresses bound to kube-ipvs0, sorted (IPv4 first). */
  readonly addresses: readonly Ip[];
  /** Every managed set of every family, in kube-proxy's order, IPv4 first. */
  readonly ipsets: readonly IpsetState[];
  readonly iptables: readonly IptablesState[];
  readonly healthChecks: readonly HealthCheck[];
  readonly noLocalEndpoints: { readonly internal: readonly ServiceKey[]; readonly external: readonly ServiceKey[] };
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Merges Service states. Two Services claiming the same virtual server (e.g. the same
 * external IP and port) cannot both win: the one whose namespace/name sorts first keeps it
 * and the other gets a warning, so the outcome is deterministic (kube-proxy: map order).
 */
export function assemble(states: readonly ServiceState[], ctx: RenderContext): { desired: DesiredState; warnings: Warning[] } {
  const warnings: Warning[] = [];
  const ordered = [...states].sort((a, b) => byText(a.key, b.key));
  const vss = new Map<string, VirtualServer>();
  const addresses = new Map<string, Ip>();
  const members = new Map<string, Set<string>>();
  const drops: OutFilterDrop[] = [];
  for (const s of ordered) {
    for (const vs of s.virtualServers) {
      const owner = vss.get(vs.key);
      if (owner === undefined) vss.set(vs.key, vs);
      else if (`${owner.service.namespace}/${owner.service.name}` !== s.key) {
        warnings.push({
          kind: 'Service', object: s.key, field: 'spec',
          message: `virtual server ${vs.key} is already used by Service ${owner.service.namespace}/${owner.service.name}; not programmed for this one`,
        });
      }
    }
    for (const ip of s.bound) addresses.set(ip.text, ip);
    for (const e of s.setEntries) {
      const name = setName(e.base, e.family);
      let m = members.get(name);
      if (m === undefined) members.set(name, (m = new Set<string>()));
      m.add(e.entry);
    }
    drops.push(...s.outFilterDrops);
  }
  const ipsets = ctx.families.flatMap((family) => SET_BASES.map((base): IpsetState => {
    const name = setName(base, family);
    const type = SET_DEFS[base].type;
    return { name, base, family, type, createOptions: createOptions(type, family), entries: [...(members.get(name) ?? [])].sort(byText) };
  }));
  const iptables = ctx.families.map((family) => buildIptables({
    family,
    masqueradeAll: ctx.config.masqueradeAll,
    clusterCidr: ctx.config.clusterCidrs.find((c) => c.ip.family === family),
    masqueradeBit: ctx.config.masqueradeBit,
    nonEmptySets: new Set(ipsets.filter((s) => s.family === family && s.entries.length > 0).map((s) => s.base)),
    outFilterDrops: dedupeDrops(drops.filter((d) => d.ip.family === family)),
  }));
  const desired: DesiredState = {
    families: ctx.families,
    virtualServers: new Map([...vss.entries()].sort(([, a], [, b]) => compareVirtualServers(a, b))),
    addresses: [...addresses.values()].sort(compareIp),
    ipsets,
    iptables,
    healthChecks: ordered.flatMap((s) => (s.healthCheck === undefined ? [] : [{ service: s.key, ...s.healthCheck }])),
    noLocalEndpoints: {
      internal: ordered.filter((s) => s.noLocalEndpoints.internal).map((s) => s.key),
      external: ordered.filter((s) => s.noLocalEndpoints.external).map((s) => s.key),
    },
  };
  return { desired, warnings };
}

/** Address (IPv4 first, numerically), then port, then protocol: how a person scans a table. */
export const compareVirtualServers = (a: VirtualServer, b: VirtualServer): number =>
  compareIp(a.ip, b.ip) || a.port - b.port || byText(a.protocol, b.protocol);

function dedupeDrops(drops: readonly OutFilterDrop[]): OutFilterDrop[] {
  const seen = new Map<string, OutFilterDrop>();
  for (const d of drops) seen.set(`${d.ip.text}/${d.protocol}/${d.port}`, d);
  return [...seen.values()].sort((a, b) => compareIp(a.ip, b.ip) || byText(a.protocol, b.protocol) || a.port - b.port);
}

export interface ComputeResult {
  readonly desired: DesiredState;
  readonly warnings: readonly Warning[];
  /** Objects deliberately not proxied, with why (headless, ExternalName, other proxy…). */
  readonly ignored: readonly { readonly object: string; readonly reason: string }[];
}

export function findNode(nodes: readonly Node[], nodeName: string): Node | undefined {
  return nodes.find((n) => (n.metadata?.name ?? '').toLowerCase() === nodeName);
}

/** Kubernetes objects → desired kernel state, in one pass. */
export function computeDesired(cluster: Cluster, config: ProxyConfig, families?: readonly Family[]): ComputeResult {
  const ctx = buildContext(config, findNode(cluster.nodes, config.nodeName), families);
  const warnings: Warning[] = [];
  const ignored: { object: string; reason: string }[] = [];
  const slicesByService = new Map<ServiceKey, ParsedSlice[]>();
  for (const es of cluster.endpointSlices) {
    const r = parseEndpointSlice(es);
    const id = `EndpointSlice ${es.metadata?.namespace ?? 'default'}/${es.metadata?.name ?? ''}`;
    if (r.kind === 'ignored') { ignored.push({ object: id, reason: r.reason }); continue; }
    warnings.push(...r.warnings);
    if (r.kind === 'invalid') continue;
    const list = slicesByService.get(r.slice.service) ?? [];
    list.push(r.slice);
    slicesByService.set(r.slice.service, list);
  }
  const states: ServiceState[] = [];
  for (const svc of cluster.services) {
    const r = parseService(svc, config);
    const id = `Service ${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
    if (r.kind === 'ignored') { ignored.push({ object: id, reason: r.reason }); continue; }
    warnings.push(...r.warnings);
    if (r.kind === 'invalid') continue;
    const key = `${r.info.namespace}/${r.info.name}`;
    states.push(renderService(r.info, mergeSlices(slicesByService.get(key) ?? []), ctx));
  }
  const { desired, warnings: conflicts } = assemble(states, ctx);
  return { desired, warnings: [...warnings, ...conflicts], ignored };
}
