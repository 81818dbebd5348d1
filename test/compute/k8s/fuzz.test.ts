// Bad input never throws: 100,000 seeded mutations of valid Services and EndpointSlices (wrong
// types, nulls, huge lists, deep nesting, missing fields) through decode + parse + render — and
// a share of them through the whole plan pipeline (manifests, computeDesired, every output).
// Reproducible: a failure prints its seed and iteration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderOutput, OUTPUTS } from '../../../src/cli/plan.ts';
import { decodeEndpointSlice, decodeService } from '../../../src/compute/k8s/decode.ts';
import { parseManifests } from '../../../src/compute/k8s/manifests.ts';
import { buildContext } from '../../../src/compute/model/context.ts';
import { computeDesired } from '../../../src/compute/model/compute-desired.ts';
import { mergeSlices, parseEndpointSlice, type ParsedSlice } from '../../../src/compute/model/endpoints.ts';
import { renderService } from '../../../src/compute/model/render.ts';
import { parseService } from '../../../src/compute/model/service.ts';
import { ClusterState, keyOf } from '../../../src/observe/cluster-state.ts';
import { config, makeNode } from '../builders.ts';
import { prng } from '../../support/prng.ts';

const SEED = 20261204;
const ITERATIONS = 100_000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const SERVICES: Json[] = [
  { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'd', name: 'web', labels: { app: 'web' }, annotations: { 'ipvs.kube-ipvs.io/scheduler': 'wrr' } },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, internalTrafficPolicy: 'Local' } },
  { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'd', name: 'lb' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11', 'fd00::11'], externalIPs: ['203.0.113.5'],
      loadBalancerSourceRanges: ['198.51.100.0/24'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000,
      ports: [{ name: 'https', protocol: 'TCP', port: 443, nodePort: 30443 }, { name: 'dns', protocol: 'UDP', port: 53, nodePort: 30053 }] },
    status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { ip: '198.51.100.8', ipMode: 'Proxy' }] } } },
];
const SLICES: Json[] = [
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'd', name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: [
      { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', hints: { forZones: [{ name: 'z1' }] } },
      { addresses: ['10.244.2.6'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b', targetRef: { kind: 'Pod', name: 'p' } },
    ] },
  { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'd', name: 'lb-1', labels: { 'kubernetes.io/service-name': 'lb' } },
    addressType: 'IPv4', ports: [{ name: 'https', port: 8443 }, { name: 'dns', protocol: 'UDP', port: 5353 }],
    endpoints: [{ addresses: ['10.244.1.9'], nodeName: 'node-a', hints: { forNodes: [{ name: 'node-a' }] } }] },
];

// Built once and shared: decode never writes to its input.
const deep = (depth: number, array: boolean): Json => {
  let v: Json = 'bottom';
  for (let i = 0; i < depth; i++) v = array ? [v] : { x: v };
  return v;
};
const DEEP_ARRAY = deep(2000, true);
const DEEP_OBJECT = deep(2000, false);
const HUGE = (item: Json): Json[] => new Array<Json>(10_000).fill(item);

function evil(rand: () => number): Json | undefined {
  const pick = Math.floor(rand() * 22);
  switch (pick) {
    case 0: return null;
    case 1: return undefined; // the key goes
    case 2: return 0;
    case 3: return -1;
    case 4: return 65536;
    case 5: return 1.5;
    case 6: return Number.NaN; // YAML's .nan
    case 7: return '';
    case 8: return '80';
    case 9: return 'x'.repeat(5000);
    case 10: return true;
    case 11: return [];
    case 12: return {};
    case 13: return [null];
    case 14: return [5, 'a', {}];
    case 15: return { port: 80, name: 'http' };
    case 16: return rand() < 0.1 ? HUGE(rand() < 0.5 ? null : { port: 80 }) : ['10.0.0.1', '::1', 'not-an-ip'];
    case 17: return rand() < 0.5 ? DEEP_ARRAY : DEEP_OBJECT;
    case 18: return '10.96.0.99';
    case 19: return 'Local';
    case 20: return { ready: 'yes' };
    default: return 1e308;
  }
}

type Holder = Json[] | { [k: string]: Json };
/** Every slot in `v` (object keys and list items) down to depth 8, so a mutation can land
 *  anywhere the proxy reads — but not inside the deep or huge values a mutation put there. */
function slots(v: Json): [Holder, string | number][] {
  const out: [Holder, string | number][] = [];
  const todo: [Json, number][] = [[v, 0]];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    const [x, depth] = next;
    if (typeof x !== 'object' || x === null || x === DEEP_ARRAY || x === DEEP_OBJECT || depth > 8) continue;
    if (Array.isArray(x) && x.length > 100) continue;
    const entries: [string | number, Json][] = Array.isArray(x) ? Array.from(x, (c, i): [number, Json] => [i, c]) : Object.entries(x);
    for (const [k, c] of entries) {
      out.push([x, k]);
      todo.push([c, depth + 1]);
    }
  }
  return out;
}

function mutate(base: Json, rand: () => number): Json {
  const o = structuredClone(base);
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const all = slots(o);
    const picked = all[Math.floor(rand() * all.length)];
    if (picked === undefined) continue;
    const [holder, key] = picked;
    const value = evil(rand);
    if (value === undefined) Reflect.deleteProperty(holder, key);
    else Reflect.set(holder, key, value);
  }
  return o;
}

test(`${ITERATIONS.toLocaleString('en')} mutations of Services and EndpointSlices through decode, parse and render never throw (seed ${String(SEED)})`, () => {
  const rand = prng(SEED);
  const cfg = config();
  const ctx = buildContext(cfg, makeNode('node-a', ['192.168.1.10'], { 'topology.kubernetes.io/zone': 'z1' }));
  const goodSlices = SLICES.map((s) => parseEndpointSlice(decodeEndpointSlice(s))).flatMap((r) => (r.kind === 'parsed' ? [r.slice] : []));
  const goodServices = SERVICES.map((s) => parseService(decodeService(s), cfg)).flatMap((r) => (r.kind === 'proxied' ? [r.info] : []));
  assert.equal(goodSlices.length + goodServices.length, 4, 'the seeds are valid');
  const outcomes = new Map<string, number>();
  const count = (k: string): void => { outcomes.set(k, (outcomes.get(k) ?? 0) + 1); };
  const cluster = new ClusterState();
  for (let i = 0; i < ITERATIONS; i++) {
    const isService = (i & 1) === 0;
    const base = (isService ? SERVICES : SLICES)[Math.floor(rand() * 2)] ?? null;
    const raw = mutate(base, rand);
    try {
      if (isService) {
        const svc = decodeService(raw);
        const r = parseService(svc, cfg);
        count(`Service ${r.kind}`);
        if (r.kind === 'proxied') renderService(r.info, mergeSlices(goodSlices), ctx);
        if (r.kind === 'invalid') assert.ok(r.warnings.every((w) => w.object !== '' && w.field !== ''));
        cluster.setService(keyOf(svc), svc);
      } else {
        const slice = decodeEndpointSlice(raw);
        const r = parseEndpointSlice(slice);
        count(`EndpointSlice ${r.kind}`);
        const parsed: ParsedSlice[] = r.kind === 'parsed' ? [r.slice] : [];
        for (const info of goodServices) renderService(info, mergeSlices([...goodSlices, ...parsed]), ctx);
        cluster.setSlice(keyOf(slice), slice);
      }
      // 1 in 250 through the whole offline pipeline, as `kube-ipvs plan` runs it.
      if (i % 250 === 0) {
        const docs = [...SERVICES, ...SLICES, raw].map((d) => JSON.stringify(d));
        const result = computeDesired(parseManifests(`[${docs.join(',')}]`, 'fuzz.json'), cfg);
        for (const out of OUTPUTS) renderOutput(result, out);
      }
      if (i % 1000 === 0) cluster.takeChanges();
    } catch (e) {
      assert.fail(`seed ${String(SEED)} iteration ${String(i)} threw ${String(e)} on ${JSON.stringify(raw).slice(0, 500)}`);
    }
  }
  // The mutations reach every outcome: a fuzz that only produced invalid objects would prove little.
  for (const k of ['Service proxied', 'Service invalid', 'EndpointSlice parsed', 'EndpointSlice invalid']) {
    assert.ok((outcomes.get(k) ?? 0) > 1000, `${k}: ${String(outcomes.get(k) ?? 0)}`);
  }
});
