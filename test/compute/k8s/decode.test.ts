// decode: untrusted JSON → the fields the proxy reads, each type-checked on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEndpointSlice, decodeNode, decodeService } from '../../../src/compute/k8s/decode.ts';
import { parseService } from '../../../src/compute/model/service.ts';
import { parseEndpointSlice } from '../../../src/compute/model/endpoints.ts';
import { config } from '../builders.ts';

const meta = { name: 'web', namespace: 'default' };

test('a wrongly typed field the proxy reads is a problem naming the field; the model reports it and skips the object', () => {
  const cases: [unknown, string, string][] = [
    [{ clusterIP: '10.96.0.1', ports: [null] }, 'spec.ports[0]', 'expected a value, got null'],
    [{ clusterIP: '10.96.0.1', ports: { port: 80 } }, 'spec.ports', 'expected a list, got an object'],
    [{ clusterIP: '10.96.0.1', ports: [{ port: 80 }], externalIPs: '1.2.3.4' }, 'spec.externalIPs', 'expected a list, got a string ("1.2.3.4")'],
    [{ clusterIP: 7, ports: [{ port: 80 }] }, 'spec.clusterIP', 'expected a string, got a number (7)'],
    [{ clusterIP: '10.96.0.1', ports: [{ port: 80, protocol: ['TCP'] }] }, 'spec.ports[0].protocol', 'expected a string, got a list'],
    [[], 'spec', 'expected an object, got a list'],
  ];
  for (const [spec, field, message] of cases) {
    const svc = decodeService({ metadata: meta, spec });
    assert.deepEqual(svc.problems, [{ field, message }], field);
    assert.deepEqual(parseService(svc, config()), { kind: 'invalid', warnings: [{ kind: 'Service', object: 'default/web', field, message }] }, field);
  }
  const slice = decodeEndpointSlice({ metadata: { ...meta, labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: [null, { addresses: ['10.0.0.1'] }], ports: [null] });
  assert.deepEqual(parseEndpointSlice(slice), { kind: 'invalid', warnings: [
    { kind: 'EndpointSlice', object: 'default/web', field: 'endpoints[0]', message: 'expected a value, got null' },
    { kind: 'EndpointSlice', object: 'default/web', field: 'ports[0]', message: 'expected a value, got null' },
  ] });
});

test('only what the proxy reads is kept: no managedFields, last-applied annotation, uid, targetRef, other labels', () => {
  const svc = decodeService({
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      ...meta, uid: 'u', resourceVersion: '7', managedFields: [{ manager: 'kubectl' }],
      labels: { app: 'web', 'service.kubernetes.io/headless': '' },
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{…}', 'ipvs.kube-ipvs.io/scheduler': 'wrr' },
    },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
    status: { loadBalancer: {} },
  });
  assert.deepEqual(svc, {
    metadata: { ...meta, resourceVersion: '7', labels: { 'service.kubernetes.io/headless': '' }, annotations: { 'ipvs.kube-ipvs.io/scheduler': 'wrr' } },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  });
  const slice = decodeEndpointSlice({
    metadata: { ...meta, labels: { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'x' }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-01-01T00:00:00Z' }, managedFields: [] },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n', zone: 'z', targetRef: { kind: 'Pod', name: 'p' } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' }],
  });
  assert.deepEqual(slice, {
    metadata: { ...meta, labels: { 'kubernetes.io/service-name': 'web' }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-01-01T00:00:00Z' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n' }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
});

test('null reads as absent; a huge list of wrong items yields a bounded number of problems; nothing throws on non-objects', () => {
  assert.equal(decodeService({ metadata: meta, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }], externalIPs: null } }).problems, undefined);
  const many = decodeService({ metadata: meta, spec: { ports: new Array(100_000).fill(5) } });
  assert.deepEqual(many.problems?.slice(9), [
    { field: 'spec.ports[9]', message: 'expected an object, got a number (5)' },
    { field: '…', message: '99990 more wrongly typed fields not listed' },
  ]);
  for (const raw of [null, 5, 'x', [], true]) {
    assert.deepEqual(decodeService(raw).metadata, {}, String(raw));
    assert.equal(decodeEndpointSlice(raw).problems?.length, 1);
    assert.equal(decodeNode(raw).problems?.length, 1);
  }
});

test('a Node keeps what the proxy reads of it: labels, addresses, deletion, pod CIDRs (detect-local NodeCIDR) and taint keys (/healthz)', () => {
  const node = decodeNode({
    metadata: { name: 'node-a', resourceVersion: '7', labels: { 'topology.kubernetes.io/zone': 'z1' }, deletionTimestamp: '2026-12-04T00:00:00Z', managedFields: [{ manager: 'kubelet' }] },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'], providerID: 'x', taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule', value: '1' }] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }], images: [{ names: ['big'] }] },
  });
  assert.deepEqual(node, {
    metadata: { name: 'node-a', resourceVersion: '7', labels: { 'topology.kubernetes.io/zone': 'z1' }, deletionTimestamp: '2026-12-04T00:00:00Z' },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:1::/64'], taints: [{ key: 'ToBeDeletedByClusterAutoscaler' }] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] },
  });
  assert.deepEqual(decodeNode({ metadata: { name: 'n' }, spec: { podCIDRs: '10.244.1.0/24' } }).problems, [
    { field: 'spec.podCIDRs', message: 'expected a list, got a string ("10.244.1.0/24")' },
  ]);
});

test('endpoint hints: decoded as given, one shared frozen object per distinct set of zone and node names', () => {
  const ep = (zones: unknown, nodes?: unknown): unknown => ({ addresses: ['10.0.0.1'], hints: { forZones: zones, ...(nodes === undefined ? {} : { forNodes: nodes }) } });
  const s = decodeEndpointSlice({
    metadata: meta, addressType: 'IPv4',
    endpoints: [ep([{ name: 'z1' }]), ep([{ name: 'z1' }]), ep([{ name: 'z2' }]), ep([{ name: 'z1' }], [{ name: 'n1' }]), ep([{}]), ep([{ name: 7 }])],
  });
  const h = (s.endpoints ?? []).map((e) => e.hints);
  assert.deepEqual(h[0], { forZones: [{ name: 'z1' }] });
  assert.deepEqual(h[2], { forZones: [{ name: 'z2' }] });
  assert.deepEqual(h[3], { forZones: [{ name: 'z1' }], forNodes: [{ name: 'n1' }] });
  assert.deepEqual(h[4], { forZones: [{}] });
  assert.equal(h[0], h[1], '100,000 endpoints in one zone share one hints object');
  assert.notEqual(h[0], h[2]);
  assert.notEqual(h[0], h[3]);
  const z = h[0].forZones;
  assert.ok(Object.isFrozen(h[0]) && Object.isFrozen(z) && Object.isFrozen(z[0]), 'shared, so never mutated');
  // A wrongly typed name is still reported as a problem, whatever is shared.
  assert.match(JSON.stringify(s.problems), /endpoints\[5\]\.hints\.forZones\[0\]\.name/);
});
