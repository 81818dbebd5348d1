// Services and EndpointSlices shaped as kube-apiserver returns them for a cluster managed with
// `kubectl apply` (bench/synthetic.ts's mix of types, ports and policies, and what the API adds):
// the kubectl last-applied annotation, 2–3 managedFields entries with their fieldsV1 trees,
// uid, labels, ownerReferences, targetRefs, zones, hints, all three conditions, the
// last-change-trigger-time annotation. Built by the bench, then written to the test API server.
import { endpointSlice, service } from './synthetic.ts';

type Obj = Record<string, unknown>;
const ZONES = ['zone-a', 'zone-b', 'zone-c'];
const uid = (kind: number, i: number, j = 0): string =>
  `${(0x10000000 + kind * 0x1000000 + i).toString(16)}-${(j & 0xffff).toString(16).padStart(4, '0')}-4${(i % 4096).toString(16).padStart(3, '0')}-8000-${(i * 2654435761 >>> 0).toString(16).padStart(12, '0')}`;
const T0 = '2026-11-01T08:00:00Z';

/** A managedFields entry as the API server records it (fieldsV1: the fields the manager set). */
const managed = (manager: string, operation: 'Update' | 'Apply', fields: Obj, subresource?: string): Obj =>
  ({ manager, operation, apiVersion: 'v1', time: T0, fieldsType: 'FieldsV1', fieldsV1: fields, ...(subresource === undefined ? {} : { subresource }) });

/** `f:` trees for the fields present in `o` (as the server derives them). */
function fieldsOf(o: unknown): Obj {
  if (Array.isArray(o)) return Object.fromEntries(o.map((x, i) => [`k:{"port":${(x as { port?: number }).port ?? i},"protocol":"TCP"}`, { '.': {}, ...fieldsOf(x) }]));
  if (typeof o !== 'object' || o === null) return {};
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`f:${k}`, typeof v === 'object' && v !== null ? fieldsOf(v) : {}]));
}

/**
 * Node ports numbered among the Services that have them (8 in every 20, health checks 3 in
 * every 20), so 50,000 Services fit in 30000–57500 (a --service-node-port-range that wide).
 */
function renumberNodePorts(i: number, spec: Obj): Obj {
  const k = i % 20;
  if (k < 12) return spec;
  const ports = (spec.ports as Obj[]).map((p) => ({ ...p, nodePort: 30000 + Math.floor(i / 20) * 8 + (k - 12) }));
  return { ...spec, ports, ...(spec.healthCheckNodePort === undefined ? {} : { healthCheckNodePort: 50000 + Math.floor(i / 20) * 3 + (k - 17) }) };
}

export function realisticService(i: number): Obj {
  const s = service(i);
  const spec = renumberNodePorts(i, s.spec as Obj);
  const app = `app${i}`;
  const applied = { apiVersion: 'v1', kind: 'Service', metadata: { name: s.metadata.name, namespace: s.metadata.namespace, labels: { app, team: `team${i % 17}` } }, spec: { ...spec, selector: { app } } };
  const clusterIP = spec.clusterIP as string;
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: s.metadata.name, namespace: s.metadata.namespace, uid: uid(1, i), creationTimestamp: T0,
      labels: { app, team: `team${i % 17}`, 'app.kubernetes.io/managed-by': 'kubectl' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `${JSON.stringify(applied)}\n` },
      managedFields: [
        managed('kubectl-client-side-apply', 'Update', { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} }, 'f:labels': fieldsOf(applied.metadata.labels) }, 'f:spec': fieldsOf(applied.spec) }),
        ...(s.status === undefined ? [] : [managed('kube-controller-manager', 'Update', { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } }, 'status')]),
        managed('kubectl', 'Update', { 'f:metadata': { 'f:labels': { 'f:app.kubernetes.io/managed-by': {} } } }),
      ],
    },
    spec: {
      ...spec, selector: { app }, clusterIPs: [clusterIP], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster', sessionAffinity: (spec.sessionAffinity as string | undefined) ?? 'None',
      ...(spec.sessionAffinity === 'ClientIP' ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } } : {}),
      ...(spec.type === 'ClusterIP' ? {} : { externalTrafficPolicy: (spec.externalTrafficPolicy as string | undefined) ?? 'Cluster' }),
      ports: (spec.ports as Obj[]).map((p) => ({ ...p, targetPort: 8080 })),
    },
    status: s.status ?? { loadBalancer: {} },
  };
}

/** Endpoint `j` of slice `i` gets an address from `endpoints`' generation (so a write can add a new one). */
export function realisticSlice(i: number, endpoints: number, seed: number, changedAt = T0): Obj {
  const e = endpointSlice(i, endpoints, seed);
  const svc = e.metadata.labels?.['kubernetes.io/service-name'] ?? '';
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: e.metadata.name, generateName: `${svc}-`, namespace: e.metadata.namespace, uid: uid(2, i), creationTimestamp: T0, generation: 1,
      labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', app: `app${i}` },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': changedAt },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc, uid: uid(1, i), controller: true, blockOwnerDeletion: true }],
      managedFields: [managed('kube-controller-manager', 'Update', {
        'f:addressType': {}, 'f:endpoints': {}, 'f:ports': {},
        'f:metadata': { 'f:annotations': { '.': {}, 'f:endpoints.kubernetes.io/last-change-trigger-time': {} }, 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:endpointslice.kubernetes.io/managed-by': {}, 'f:kubernetes.io/service-name': {} }, 'f:ownerReferences': { '.': {}, [`k:{"uid":"${uid(1, i)}"}`]: {} } },
      })],
    },
    addressType: 'IPv4',
    endpoints: (e.endpoints as { addresses: string[]; nodeName: string }[]).map((x, j) => {
      const zone = ZONES[(i + j) % 3] ?? 'zone-a';
      return {
        addresses: x.addresses, conditions: { ready: true, serving: true, terminating: false }, nodeName: x.nodeName, zone,
        hints: { forZones: [{ name: zone }] },
        targetRef: { kind: 'Pod', namespace: e.metadata.namespace, name: `${svc}-6d8f7c9b5-${(i * 31 + j).toString(36).padStart(5, 'x')}`, uid: uid(3, i, j) },
      };
    }),
    ports: (e.ports as Obj[]).map((p) => ({ ...p, appProtocol: 'http' })),
  };
}

export const realisticNode = (name: string): Obj => ({
  apiVersion: 'v1', kind: 'Node',
  // No zone label: topology hints then do not apply, and every endpoint is programmed (the heavier case).
  metadata: { name, uid: uid(4, 0), labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
  spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] },
  status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }, { type: 'Hostname', address: name }] },
});
