// What a retained Service/EndpointSlice costs at ingest: 10,000 Services and 10,000
// EndpointSlices × 10 endpoints, shaped as kube-apiserver returns them (managedFields with 3
// entries, the kubectl last-applied annotation, uid, ownerReferences, targetRefs, zones,
// conditions), parsed from the LIST's JSON text and kept, as the informers keep them:
//   typed    client-node's ObjectSerializer models (what the daemon kept before decode.ts)
//   raw      plain JSON.parse objects
//   decoded  decode.ts: only the fields the proxy reads
// Each variant runs in its own process (`node --expose-gc bench/ingest-memory.ts`): the heap
// after a full GC with the objects retained, minus the heap before the JSON text was made.
import { execFileSync } from 'node:child_process';
import { decodeEndpointSlice, decodeService } from '../src/compute/k8s/decode.ts';

const N = Number(process.env.INGEST_N ?? '10000');
const ts = '2026-11-20T10:00:00Z';
const uid = (k: string, i: number): string => `${k}${String(i).padStart(8, '0')}-1b2c-4d5e-8f90-a1b2c3d4e5f6`.slice(0, 36);

function service(i: number): object {
  const name = `svc-${String(i)}`;
  const spec = { type: 'ClusterIP', clusterIP: `10.96.${String(i >> 8)}.${String(i & 255)}`, clusterIPs: [`10.96.${String(i >> 8)}.${String(i & 255)}`],
    ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster', sessionAffinity: 'None', selector: { app: name },
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }, { name: 'metrics', protocol: 'TCP', port: 9090, targetPort: 9090 }] };
  const applied = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: `ns-${String(i % 100)}`, labels: { app: name, team: 'payments' } }, spec: { selector: spec.selector, ports: spec.ports } };
  return {
    metadata: {
      name, namespace: `ns-${String(i % 100)}`, uid: uid('s', i), resourceVersion: String(100_000 + i), creationTimestamp: ts,
      labels: { app: name, team: 'payments', 'app.kubernetes.io/managed-by': 'Helm', 'helm.sh/chart': 'web-1.2.3' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied), 'meta.helm.sh/release-name': name, 'meta.helm.sh/release-namespace': `ns-${String(i % 100)}` },
      managedFields: [
        { manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'v1', time: ts, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} }, 'f:labels': { '.': {}, 'f:app': {}, 'f:team': {} } }, 'f:spec': { 'f:internalTrafficPolicy': {}, 'f:ports': { '.': {}, 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } }, 'f:selector': {}, 'f:sessionAffinity': {}, 'f:type': {} } } },
        { manager: 'helm', operation: 'Update', apiVersion: 'v1', time: ts, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:meta.helm.sh/release-name': {}, 'f:meta.helm.sh/release-namespace': {} }, 'f:labels': { 'f:app.kubernetes.io/managed-by': {}, 'f:helm.sh/chart': {} } } } },
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: ts, fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:ports': { 'k:{"port":9090,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {} } } } } },
      ],
    },
    spec, status: { loadBalancer: {} },
  };
}

function slice(i: number): object {
  const name = `svc-${String(i)}`;
  return {
    metadata: {
      name: `${name}-x7k2p`, generateName: `${name}-`, namespace: `ns-${String(i % 100)}`, uid: uid('e', i), resourceVersion: String(200_000 + i), creationTimestamp: ts, generation: 3,
      labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', app: name },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': ts },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name, uid: uid('s', i), controller: true, blockOwnerDeletion: true }],
      managedFields: [
        { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'discovery.k8s.io/v1', time: ts, fieldsType: 'FieldsV1', fieldsV1: { 'f:addressType': {}, 'f:endpoints': {}, 'f:metadata': { 'f:annotations': { '.': {}, 'f:endpoints.kubernetes.io/last-change-trigger-time': {} }, 'f:generateName': {}, 'f:labels': { '.': {}, 'f:endpointslice.kubernetes.io/managed-by': {}, 'f:kubernetes.io/service-name': {} }, 'f:ownerReferences': { '.': {}, 'k:{"uid":"x"}': {} } }, 'f:ports': {} } },
        { manager: 'kubectl', operation: 'Update', apiVersion: 'discovery.k8s.io/v1', time: ts, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { 'f:app': {} } } } },
      ],
    },
    addressType: 'IPv4',
    endpoints: Array.from({ length: 10 }, (_, e) => ({
      addresses: [`10.${String(64 + (e & 63))}.${String(i >> 8 & 255)}.${String(i & 255)}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${String((i * 10 + e) % 1000)}`, zone: `zone-${String(e % 3)}`,
      targetRef: { kind: 'Pod', namespace: `ns-${String(i % 100)}`, name: `${name}-7d9f8b6c5d-${String(e)}abcd`, uid: uid('p', i * 10 + e) },
    })),
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'metrics', protocol: 'TCP', port: 9090 }],
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => { gc?.(); gc?.(); return process.memoryUsage().heapUsed; };

async function measure(variant: string): Promise<void> {
  // The deserializer client-node's generated API runs on every LIST answer (not exported by name).
  const { ObjectSerializer } = await import('@kubernetes/client-node/dist/gen/models/ObjectSerializer.js') as
    { ObjectSerializer: { deserialize(data: unknown, type: string, format: string): unknown } };
  const list = (kind: string, items: object[]): string => JSON.stringify({ kind, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
  const keep = (kind: 'Service' | 'EndpointSlice', text: string): unknown[] => {
    const parsed = (JSON.parse(text) as { items: unknown[] }).items;
    switch (variant) {
      case 'typed': return (ObjectSerializer.deserialize(JSON.parse(text), kind === 'Service' ? 'V1ServiceList' : 'V1EndpointSliceList', '') as { items: unknown[] }).items;
      case 'decoded': return parsed.map(kind === 'Service' ? decodeService : decodeEndpointSlice);
      default: return parsed;
    }
  };
  // Each step in its own function: a temporary left in this frame's registers would stay alive.
  const make = (kind: 'Service' | 'EndpointSlice'): string => kind === 'Service'
    ? list('ServiceList', Array.from({ length: N }, (_, i) => service(i)))
    : list('EndpointSliceList', Array.from({ length: N }, (_, i) => slice(i)));
  const before = heap();
  const services = keep('Service', make('Service'));
  const slices = keep('EndpointSlice', make('EndpointSlice'));
  // Let the event loop turn once: some of V8's memory is only released after a task ends.
  await new Promise((r) => setTimeout(r, 50));
  const after = heap();
  process.stdout.write(JSON.stringify({ variant, services: services.length, slices: slices.length, heapBytes: after - before }) + '\n');
}

const variant = process.argv[2];
if (variant !== undefined) {
  await measure(variant);
} else {
  const rows = ['typed', 'raw', 'decoded'].map((v) =>
    JSON.parse(execFileSync(process.execPath, ['--expose-gc', import.meta.filename, v], { encoding: 'utf8', env: { ...process.env } })) as { variant: string; heapBytes: number });
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  process.stdout.write(`${String(N)} Services + ${String(N)} EndpointSlices × 10 endpoints, retained heap after GC\n`);
  process.stdout.write('| kept as | heap MiB | bytes per Service+slice |\n|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.variant} | ${mib(r.heapBytes)} | ${String(Math.round(r.heapBytes / N))} |\n`);
}
