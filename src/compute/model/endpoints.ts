// EndpointSlices → endpoints per Service port (kube-proxy: pkg/proxy/endpointslicecache.go).
// Slices join their Service through the `kubernetes.io/service-name` label only; ports
// match by (name, protocol); only addresses[0] is used; nil conditions mean
// ready=serving=true, terminating=false; duplicates across slices keep a non-terminating one.
import { SERVICE_NAME_LABEL, type EndpointSlice } from '../k8s/objects.ts';
import { compareIp, hostPort, parseIp, type Family, type Ip } from '../net/ip.ts';
import { PROTOCOLS, type Protocol, type ServiceKey, type Warning } from './types.ts';
import { ignoredByLabels } from './service.ts';

export interface EndpointInfo {
  /** `ip:port` (IPv6 in brackets): identity of the real server. */
  readonly key: string;
  readonly ip: Ip;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName: string | undefined;
  readonly zoneHints: readonly string[];
  readonly nodeHints: readonly string[];
}

/** Service port identity as endpoints know it: `name/PROTOCOL` (name may be empty). */
export const portKey = (name: string, protocol: Protocol): string => `${name}/${protocol}`;

export interface ParsedSlice {
  /** namespace/name of the slice. */
  readonly id: string;
  readonly service: ServiceKey;
  readonly family: Family;
  /** portKey → endpoints of this slice for that port. */
  readonly ports: ReadonlyMap<string, readonly EndpointInfo[]>;
}

export type SliceResult =
  | { readonly kind: 'parsed'; readonly slice: ParsedSlice; readonly warnings: readonly Warning[] }
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'invalid'; readonly warnings: readonly Warning[] };

const NONE: readonly string[] = [];
// Most endpoints carry no hints: share one empty list rather than build two per endpoint.
// Every name is a hint, "" included, as kube-proxy inserts each into the hint set
// (endpointslicecache.go): dropping "" would make the endpoint look unhinted and turn zone
// filtering off for the whole Service.
const names = (xs: readonly { readonly name?: string }[] | undefined): readonly string[] =>
  xs === undefined || xs.length === 0 ? NONE : [...new Set(xs.map((x) => x.name ?? ''))];

/** Validates one slice. A bad endpoint address skips that endpoint (with a warning), not the slice. */
export function parseEndpointSlice(es: EndpointSlice): SliceResult {
  const namespace = es.metadata?.namespace ?? 'default';
  const name = es.metadata?.name ?? '';
  const id = `${namespace}/${name || '<unnamed>'}`;
  const warnings: Warning[] = [];
  const warn = (field: string, message: string): void => {
    warnings.push({ kind: 'EndpointSlice', object: id, field, message });
  };
  const byLabel = ignoredByLabels(es.metadata?.labels);
  if (byLabel !== undefined) return { kind: 'ignored', reason: byLabel };
  // Wrongly typed fields (found by decode): the slice is skipped, not half-read.
  for (const p of es.problems ?? []) warn(p.field, p.message);
  if (warnings.length > 0) return { kind: 'invalid', warnings };
  if (es.addressType === 'FQDN') return { kind: 'ignored', reason: 'addressType FQDN' };
  if (es.addressType !== 'IPv4' && es.addressType !== 'IPv6') {
    warn('addressType', `"${String(es.addressType)}" is not one of IPv4, IPv6, FQDN`);
    return { kind: 'invalid', warnings };
  }
  const service = es.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (name === '' || service === undefined || service === '') {
    warn(name === '' ? 'metadata.name' : `metadata.labels[${SERVICE_NAME_LABEL}]`, 'missing');
    return { kind: 'invalid', warnings };
  }
  const family: Family = es.addressType === 'IPv4' ? 4 : 6;
  const endpoints: { ip: Ip; ep: NonNullable<EndpointSlice['endpoints']>[number] }[] = [];
  (es.endpoints ?? []).forEach((ep, i) => {
    const first = ep.addresses?.[0];
    if (first === undefined) return; // kube-proxy ignores endpoints without addresses
    const ip = parseIp(first);
    if (ip === undefined || ip.family !== family) {
      warn(`endpoints[${i}].addresses[0]`, `"${first}" is not a valid ${es.addressType} address; endpoint skipped`);
      return;
    }
    endpoints.push({ ip, ep });
  });
  const ports = new Map<string, EndpointInfo[]>();
  (es.ports ?? []).forEach((p, i) => {
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (!PROTOCOLS.includes(protocol)) {
      warn(`ports[${i}].protocol`, `"${String(p.protocol)}" is not one of ${PROTOCOLS.join(', ')}; port skipped`);
      return;
    }
    const port = p.port;
    if (port === undefined || port === null || port === 0) return; // kube-proxy: "Ignoring invalid endpoint port"
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      warn(`ports[${i}].port`, `${String(port)} is not a port number in [1, 65535]; port skipped`);
      return;
    }
    ports.set(portKey(p.name ?? '', protocol), endpoints.map(({ ip, ep }) => {
      const c = ep.conditions ?? {};
      return {
        key: hostPort(ip, port),
        ip,
        port,
        ready: c.ready ?? true,
        serving: c.serving ?? true,
        terminating: c.terminating ?? false,
        nodeName: ep.nodeName,
        zoneHints: names(ep.hints?.forZones),
        nodeHints: names(ep.hints?.forNodes),
      };
    }));
  });
  return { kind: 'parsed', slice: { id, service: `${namespace}/${service}`, family, ports }, warnings };
}

/**
 * Merges a Service's slices into endpoints per (portKey, family), sorted by address then port
 * (the order real servers are listed in, so rendering need not sort again).
 * Duplicates keep the first, unless a later one is not terminating.
 */
export function mergeSlices(slices: readonly ParsedSlice[]): Map<string, EndpointInfo[]> {
  const merged = new Map<string, Map<string, EndpointInfo>>();
  const ordered = [...slices].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const s of ordered) {
    for (const [pk, eps] of s.ports) {
      const k = `${pk}/${s.family}`;
      let m = merged.get(k);
      if (m === undefined) merged.set(k, (m = new Map<string, EndpointInfo>()));
      for (const ep of eps) {
        if (!m.has(ep.key) || !ep.terminating) m.set(ep.key, ep);
      }
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [k, m] of merged) {
    out.set(k, [...m.values()].sort((a, b) => compareIp(a.ip, b.ip) || a.port - b.port));
  }
  return out;
}

export const endpointsKey = (name: string, protocol: Protocol, family: Family): string =>
  `${portKey(name, protocol)}/${family}`;
