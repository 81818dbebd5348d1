// The one-shot pipeline from Kubernetes objects to the whole desired kernel state, sorted for
// printing (used by the `plan` command and the tests; the daemon keeps a DesiredIndex and
// re-renders only what changed). The state's shape is desired.ts.
import type { ProxyConfig } from '../config.ts';
import type { Cluster } from '../k8s/manifests.ts';
import type { Node } from '../k8s/objects.ts';
import { compareIp, type Family } from '../net/ip.ts';
import { byText } from '../order.ts';
import { buildContext, type RenderContext } from './context.ts';
import { mergeSlices, parseEndpointSlice, type ParsedSlice } from './endpoints.ts';
import { DesiredIndex } from './desired-index.ts';
import type { DesiredState } from './desired.ts';
import { renderService, type ServiceState } from './render.ts';
import { parseService } from './service.ts';
import type { HealthState } from './health-check.ts';
import type { ServiceKey, VirtualServer, Warning } from './types.ts';

/**
 * Merges Service states (all at once; the daemon keeps a DesiredIndex instead). Two Services
 * claiming the same virtual server (e.g. the same external IP and port) cannot both win: the
 * one whose namespace/name sorts first keeps it and the other gets a warning, so the outcome
 * is deterministic (kube-proxy: Go map order). Everything comes out sorted, for printing.
 */
export function assemble(states: readonly ServiceState[], ctx: RenderContext): { desired: DesiredState; warnings: Warning[] } {
  const index = new DesiredIndex(ctx);
  for (const s of states) index.set(s.key, s);
  const { desired } = index.snapshot();
  return {
    desired: {
      ...desired,
      virtualServers: new Map([...desired.virtualServers.entries()].sort(([, a], [, b]) => compareVirtualServers(a, b))),
      addresses: [...desired.addresses].sort(compareIp),
      ipsets: desired.ipsets.map((s) => ({ ...s, entries: [...s.entries].sort(byText) })),
      healthChecks: [...desired.healthChecks].sort((a, b) => byText(a.service, b.service)),
      noLocalEndpoints: { internal: [...desired.noLocalEndpoints.internal].sort(byText), external: [...desired.noLocalEndpoints.external].sort(byText) },
    },
    warnings: index.conflicts().sort((a, b) => byText(a.object, b.object)),
  };
}

/** Address (IPv4 first, numerically), then port, then protocol: how a person scans a table. */
export const compareVirtualServers = (a: VirtualServer, b: VirtualServer): number =>
  compareIp(a.ip, b.ip) || a.port - b.port || byText(a.protocol, b.protocol);

export interface ComputeResult {
  readonly desired: DesiredState;
  readonly warnings: readonly Warning[];
  /** Objects deliberately not proxied, with why (headless, ExternalName, other proxy…). */
  readonly ignored: readonly { readonly object: string; readonly reason: string }[];
}

export function findNode(nodes: readonly Node[], nodeName: string): Node | undefined {
  return nodes.find((n) => (n.metadata?.name ?? '').toLowerCase() === nodeName);
}

/** Kubernetes objects (and health-check results, if any) → desired kernel state, in one pass. */
export function computeDesired(cluster: Cluster, config: ProxyConfig, families?: readonly Family[], health?: HealthState): ComputeResult {
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
    states.push(renderService(r.info, mergeSlices(slicesByService.get(key) ?? []), ctx, health?.get(key)));
  }
  const { desired, warnings: conflicts } = assemble(states, ctx);
  return { desired, warnings: [...warnings, ...conflicts], ignored };
}
