// Untrusted JSON → the objects the proxy reads, one object at a time (DESIGN §8: a typed
// decoder that throws on one wrongly shaped field loses the whole list). Each decoded object
// keeps only the fields the proxy reads — no managedFields, no last-applied annotation, no
// targetRefs — and each of those fields had its JSON type checked: a wrong one is dropped and
// listed in `problems` (the model then reports the object and skips it). Never throws.
import { FieldReader, isRecord, type JsonRecord } from './field-reader.ts';
import {
  SERVICE_ANNOTATIONS_READ, SERVICE_LABELS_READ, SLICE_ANNOTATIONS_READ, SLICE_LABELS_READ,
  type Endpoint, type EndpointConditions, type EndpointPort, type EndpointSlice, type LoadBalancerIngress,
  type Node, type ObjectMeta, type Service, type ServicePort,
} from './objects.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type ServiceSpec = NonNullable<Service['spec']>;

const EMPTY: JsonRecord = {};

/** out[k] = v when the field was present and well typed: an absent optional field stays absent. */
function put<T, K extends keyof T>(out: T, k: K, v: T[K] | undefined): void {
  if (v !== undefined) out[k] = v;
}

function decodeMeta(r: FieldReader, raw: unknown, labels: readonly string[] | undefined, annotations: readonly string[], deletion = false): ObjectMeta {
  const m = r.obj(raw, 'metadata') ?? EMPTY;
  const out: Mutable<ObjectMeta> = {};
  put(out, 'name', r.str(m.name, 'metadata.name'));
  put(out, 'namespace', r.str(m.namespace, 'metadata.namespace'));
  // Informers need it to resume watches and to tell an update from a repeat.
  put(out, 'resourceVersion', r.str(m.resourceVersion, 'metadata.resourceVersion'));
  put(out, 'labels', r.stringMap(m.labels, 'metadata.labels', labels));
  put(out, 'annotations', r.stringMap(m.annotations, 'metadata.annotations', annotations));
  if (deletion) {
    put(out, 'deletionTimestamp', r.str(m.deletionTimestamp, 'metadata.deletionTimestamp'));
  }
  return out;
}

function decodeServicePort(r: FieldReader, p: JsonRecord, f: string): ServicePort {
  const out: Mutable<ServicePort> = {};
  put(out, 'name', r.str(p.name, `${f}.name`));
  put(out, 'protocol', r.str(p.protocol, `${f}.protocol`));
  put(out, 'port', r.num(p.port, `${f}.port`));
  put(out, 'nodePort', r.num(p.nodePort, `${f}.nodePort`));
  return out;
}

function decodeSpec(r: FieldReader, s: JsonRecord): ServiceSpec {
  const out: Mutable<ServiceSpec> = {};
  const str = (k: 'type' | 'clusterIP' | 'sessionAffinity' | 'externalTrafficPolicy' | 'internalTrafficPolicy'): void => {
    put(out, k, r.str(s[k], `spec.${k}`));
  };
  const strs = (k: 'clusterIPs' | 'externalIPs' | 'loadBalancerSourceRanges'): void => {
    put(out, k, r.strings(s[k], `spec.${k}`));
  };
  str('type');
  str('clusterIP');
  strs('clusterIPs');
  put(out, 'ports', r.objects(s.ports, 'spec.ports', (p, f) => decodeServicePort(r, p, f)));
  strs('externalIPs');
  strs('loadBalancerSourceRanges');
  str('sessionAffinity');
  const clientIP = r.obj(r.obj(s.sessionAffinityConfig, 'spec.sessionAffinityConfig')?.clientIP, 'spec.sessionAffinityConfig.clientIP');
  const timeoutSeconds = r.num(clientIP?.timeoutSeconds, 'spec.sessionAffinityConfig.clientIP.timeoutSeconds');
  if (timeoutSeconds !== undefined) out.sessionAffinityConfig = { clientIP: { timeoutSeconds } };
  str('externalTrafficPolicy');
  str('internalTrafficPolicy');
  put(out, 'healthCheckNodePort', r.num(s.healthCheckNodePort, 'spec.healthCheckNodePort'));
  return out;
}

function decodeIngress(r: FieldReader, i: JsonRecord, f: string): LoadBalancerIngress {
  const out: Mutable<LoadBalancerIngress> = {};
  put(out, 'ip', r.str(i.ip, `${f}.ip`));
  put(out, 'ipMode', r.str(i.ipMode, `${f}.ipMode`));
  return out;
}

export function decodeService(raw: unknown): Service {
  const r = new FieldReader();
  const o = isRecord(raw) ? raw : EMPTY;
  if (o !== raw) r.wrong('Service', 'an object', raw);
  const out: Mutable<Service> = { metadata: decodeMeta(r, o.metadata, SERVICE_LABELS_READ, SERVICE_ANNOTATIONS_READ) };
  const spec = r.obj(o.spec, 'spec');
  if (spec !== undefined) out.spec = decodeSpec(r, spec);
  const lb = r.obj(r.obj(o.status, 'status')?.loadBalancer, 'status.loadBalancer');
  const ingress = r.objects(lb?.ingress, 'status.loadBalancer.ingress', (i, f) => decodeIngress(r, i, f));
  if (ingress !== undefined && ingress.length > 0) out.status = { loadBalancer: { ingress } };
  if (r.problems !== undefined) out.problems = r.problems;
  return out;
}

// Nearly every endpoint has one of a few condition sets: share them instead of one object each.
// 27 possible sets (each condition absent, false or true), indexed without building a key: this
// runs for every endpoint of every list (100,000 at 10,000 Services).
const conditionSets: (EndpointConditions | undefined)[] = [];
const tri = (b: boolean | undefined): number => (b === undefined ? 0 : b ? 2 : 1);
function conditions(ready: boolean | undefined, serving: boolean | undefined, terminating: boolean | undefined): EndpointConditions {
  const key = tri(ready) * 9 + tri(serving) * 3 + tri(terminating);
  let c = conditionSets[key];
  if (c === undefined) {
    const m: Mutable<EndpointConditions> = {};
    if (ready !== undefined) m.ready = ready;
    if (serving !== undefined) m.serving = serving;
    if (terminating !== undefined) m.terminating = terminating;
    conditionSets[key] = c = Object.freeze(m);
  }
  return c;
}

// Hints repeat too (a few zones): 100,000 endpoints with one zone hint each were ~11 MB of
// identical { forZones: [{ name }] } objects and arrays at 10,000 Services (heap snapshot,
// docs/benchmarks.md). Shared and frozen, keyed by the names read; a bounded cache, so a
// cluster with hints per node cannot grow it without limit.
const hintSets = new Map<string, NonNullable<Endpoint['hints']>>();
const MAX_HINT_SETS = 10_000;
/** Hints of the usual shape, one zone and no nodes, by zone name (the same objects as hintSets'). */
const oneZoneHints = new Map<string, NonNullable<Endpoint['hints']>>();

/**
 * The usual shape (`{ forZones: [{ name }] }` with a string name) found without building its
 * key; anything else, or a zone not seen yet, goes the general way (decodeHintsGeneral).
 */
function decodeHints(r: FieldReader, h: JsonRecord, f: string): NonNullable<Endpoint['hints']> {
  const zones = h.forZones;
  const zone: unknown = h.forNodes === undefined && Array.isArray(zones) && zones.length === 1 ? zones[0] : undefined;
  const name = isRecord(zone) ? zone.name : undefined;
  if (typeof name !== 'string') return decodeHintsGeneral(r, h, f);
  let known = oneZoneHints.get(name);
  if (known === undefined) {
    known = decodeHintsGeneral(r, h, f);
    if (oneZoneHints.size < MAX_HINT_SETS) oneZoneHints.set(name, known);
  }
  return known;
}

/** Any hints: read field by field (problems reported), shared by the names read. */
export function decodeHintsGeneral(r: FieldReader, h: JsonRecord, f: string): NonNullable<Endpoint['hints']> {
  const names = (k: 'forZones' | 'forNodes'): { name?: string }[] | undefined =>
    r.objects(h[k], `${f}.${k}`, (x, g) => {
      const name = r.str(x.name, `${g}.name`);
      return name === undefined ? {} : { name };
    });
  const zones = names('forZones');
  const nodes = names('forNodes');
  const listKey = (xs: readonly { name?: string }[] | undefined): string => (xs === undefined ? '-' : JSON.stringify(xs.map((x) => x.name ?? null)));
  const key = `${listKey(zones)}|${listKey(nodes)}`;
  const known = hintSets.get(key);
  if (known !== undefined) return known;
  const out: Mutable<NonNullable<Endpoint['hints']>> = {};
  if (zones !== undefined) out.forZones = Object.freeze(zones.map((z) => Object.freeze(z)));
  if (nodes !== undefined) out.forNodes = Object.freeze(nodes.map((n) => Object.freeze(n)));
  const frozen = Object.freeze(out);
  if (hintSets.size < MAX_HINT_SETS) hintSets.set(key, frozen);
  return frozen;
}

// Run for every endpoint of every list: a well-typed field is taken as it is, and only a field
// the reader must look at (absent, null, wrongly typed) gets its path built — the reader's result
// is the same either way (test/compute/k8s/decode-fast-paths.test.ts).
const boolAt = (r: FieldReader, v: unknown, f: string, k: string): boolean | undefined =>
  typeof v === 'boolean' ? v : r.bool(v, `${f}.conditions.${k}`);

function decodeEndpoint(r: FieldReader, e: JsonRecord, f: string): Endpoint {
  const out: Mutable<Endpoint> = {};
  const a = e.addresses;
  put(out, 'addresses', Array.isArray(a) && a.every(isString) ? a.slice() : r.strings(a, `${f}.addresses`));
  const c = isRecord(e.conditions) ? e.conditions : r.obj(e.conditions, `${f}.conditions`);
  if (c !== undefined) {
    out.conditions = conditions(boolAt(r, c.ready, f, 'ready'), boolAt(r, c.serving, f, 'serving'), boolAt(r, c.terminating, f, 'terminating'));
  }
  put(out, 'nodeName', typeof e.nodeName === 'string' ? e.nodeName : r.str(e.nodeName, `${f}.nodeName`));
  const hints = isRecord(e.hints) ? e.hints : r.obj(e.hints, `${f}.hints`);
  if (hints !== undefined) out.hints = decodeHints(r, hints, `${f}.hints`);
  return out;
}

const isString = (v: unknown): v is string => typeof v === 'string';

function decodeEndpointPort(r: FieldReader, p: JsonRecord, f: string): EndpointPort {
  const out: Mutable<EndpointPort> = {};
  put(out, 'name', r.str(p.name, `${f}.name`));
  put(out, 'port', r.num(p.port, `${f}.port`));
  put(out, 'protocol', r.str(p.protocol, `${f}.protocol`));
  return out;
}

export function decodeEndpointSlice(raw: unknown): EndpointSlice {
  const r = new FieldReader();
  const o = isRecord(raw) ? raw : EMPTY;
  if (o !== raw) r.wrong('EndpointSlice', 'an object', raw);
  const out: Mutable<EndpointSlice> = { metadata: decodeMeta(r, o.metadata, SLICE_LABELS_READ, SLICE_ANNOTATIONS_READ) };
  put(out, 'addressType', r.str(o.addressType, 'addressType'));
  put(out, 'endpoints', r.objects(o.endpoints, 'endpoints', (e, f) => decodeEndpoint(r, e, f)));
  put(out, 'ports', r.objects(o.ports, 'ports', (p, f) => decodeEndpointPort(r, p, f)));
  if (r.problems !== undefined) out.problems = r.problems;
  return out;
}

/**
 * The Node: its labels (all: one object, and zone/hostname readers may grow), addresses,
 * deletion, pod CIDRs (--detect-local-mode=NodeCIDR) and taint keys (/healthz's nodeEligible).
 */
export function decodeNode(raw: unknown): Node {
  const r = new FieldReader();
  const o = isRecord(raw) ? raw : EMPTY;
  if (o !== raw) r.wrong('Node', 'an object', raw);
  const out: Mutable<Node> = { metadata: decodeMeta(r, o.metadata, undefined, [], true) };
  const status = r.obj(o.status, 'status');
  const addresses = r.objects(status?.addresses, 'status.addresses', (a, f) => {
    const x: Mutable<NonNullable<NonNullable<Node['status']>['addresses']>[number]> = {};
    const type = r.str(a.type, `${f}.type`);
    if (type !== undefined) x.type = type;
    const address = r.str(a.address, `${f}.address`);
    if (address !== undefined) x.address = address;
    return x;
  });
  if (addresses !== undefined) out.status = { addresses };
  const spec = r.obj(o.spec, 'spec');
  if (spec !== undefined) {
    const x: Mutable<NonNullable<Node['spec']>> = {};
    const podCIDR = r.str(spec.podCIDR, 'spec.podCIDR');
    if (podCIDR !== undefined) x.podCIDR = podCIDR;
    const podCIDRs = r.strings(spec.podCIDRs, 'spec.podCIDRs');
    if (podCIDRs !== undefined) x.podCIDRs = podCIDRs;
    const taints = r.objects(spec.taints, 'spec.taints', (t, f) => {
      const key = r.str(t.key, `${f}.key`);
      return key === undefined ? {} : { key };
    });
    if (taints !== undefined) x.taints = taints;
    out.spec = x;
  }
  if (r.problems !== undefined) out.problems = r.problems;
  return out;
}
