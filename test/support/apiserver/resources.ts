// The resources this server knows, and how request paths map onto them.
import type { KubeObject, Ref } from './types.ts';

export interface Resource {
  readonly group: string; // '' = the core group, served under /api
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const RESOURCES: readonly Resource[] = [
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  // A separate store, not a view over core events as in the real apiserver: tests read what was sent.
  { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
];

export function apiVersionOf(r: Resource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** A stable key for per-resource maps. */
export function resourceId(r: Resource): string {
  return `${apiVersionOf(r)}/${r.plural}`;
}

export function resourceForKind(kind: string, apiVersion?: string): Resource {
  const matches = RESOURCES.filter((r) => r.kind === kind);
  const found = matches.find((r) => apiVersionOf(r) === apiVersion) ?? matches[0];
  if (found === undefined) throw new Error(`test apiserver: unknown kind ${kind}`);
  return found;
}

export function resourceForObject(obj: KubeObject): Resource {
  return resourceForKind(obj.kind, obj.apiVersion);
}

export function resourceForRef(ref: Ref): Resource {
  return resourceForKind(ref.kind, ref.apiVersion);
}

export interface Route {
  readonly resource: Resource;
  readonly namespace?: string; // absent: all namespaces (or cluster-scoped)
  readonly name?: string;
}

/** `/api/v1/…` or `/apis/GROUP/VERSION/…`, then `[namespaces/NS/]PLURAL[/NAME]`. */
export function parseRoute(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api') [group, rest] = ['', parts.slice(1)];
  else if (parts[0] === 'apis' && parts.length > 2) [group, rest] = [parts[1] ?? '', parts.slice(2)];
  else return undefined;
  const [version, ...tail] = rest;
  let namespace: string | undefined;
  if (tail[0] === 'namespaces' && tail.length >= 3) {
    namespace = tail[1];
    tail.splice(0, 2);
  }
  const [plural, name, extra] = tail;
  if (extra !== undefined) return undefined; // subresources are not served
  const resource = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
  if (resource === undefined) return undefined;
  if (!resource.namespaced && namespace !== undefined) return undefined;
  // A namespaced object is only addressable inside its namespace.
  if (resource.namespaced && namespace === undefined && name !== undefined) return undefined;
  return {
    resource,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
  };
}
