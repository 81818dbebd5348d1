// Zone hints at their edges, as kube-proxy reads them (pkg/proxy/topology.go,
// endpointslicecache.go): every name in hints.forZones is a hint, the empty one included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, ep, makeNode, makeService, makeSlice, NODE } from '../builders.ts';

const svc = makeService('shop', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80 }] });
const slice = (...eps: Parameters<typeof ep>[]) => makeSlice('shop', 'web', eps.map((a) => ep(...a)), [{ name: 'http', port: 8080 }]);
const backends = (zone: string | undefined, s: ReturnType<typeof slice>): string[] | undefined => {
  const node = makeNode(NODE, ['192.168.1.10'], zone === undefined ? {} : { 'topology.kubernetes.io/zone': zone });
  return compute({ services: [svc], endpointSlices: [s], nodes: [node] }).desired.virtualServers.get('TCP/10.96.0.20:80')?.realServers.map((r) => r.ip.text);
};

test('an empty zone name is still a hint: zone filtering stays on', () => {
  const s = slice(['10.244.1.1', { zoneHints: ['zone-a'] }], ['10.244.2.2', { zoneHints: [''] }]);
  assert.deepEqual(backends('zone-a', s), ['10.244.1.1']);
});

test('an unlabelled node matches only endpoints hinted for the zone named ""', () => {
  const s = slice(['10.244.1.1', { zoneHints: ['zone-a'] }], ['10.244.2.2', { zoneHints: [''] }]);
  assert.deepEqual(backends(undefined, s), ['10.244.2.2']);
  // Without such a hint an unlabelled node ignores the hints.
  assert.deepEqual(backends(undefined, slice(['10.244.1.1', { zoneHints: ['zone-a'] }], ['10.244.2.2', { zoneHints: ['zone-b'] }])), ['10.244.1.1', '10.244.2.2']);
});
