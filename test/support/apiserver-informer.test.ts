// The real @kubernetes/client-node 2.x informers (makeInformer, ListWatch) against the test API
// server, used exactly as the daemon uses them: services and endpointslices with the proxy label
// selector, and one Node through a field selector.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  CoreV1Api, DiscoveryV1Api, EventsV1Api, ListWatch, makeInformer, setHeaderOptions, Watch,
  CoreV1Event, EventsV1Event, type KubeConfig, type V1Node, type V1Service, V1ListMeta, V1MicroTime, V1ObjectMeta,
  V1ObjectReference, V1ServiceList,
} from '@kubernetes/client-node';
import { endpointSlice, node, service } from './apiserver/builders.ts';
import { cacheKeys, kubeConfigFor, Recorder, sleep, waitUntil } from './apiserver/client.ts';
import { start, type TestApiServer } from './apiserver/index.ts';

const SEL = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

describe('client-node informers against the test API server', () => {
  let s: TestApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const informers: { stop(): Promise<void> }[] = [];
  const track = <T extends { stop(): Promise<void> }>(i: T): T => { informers.push(i); return i; };

  beforeEach(async () => {
    s = await start({ bookmarks: 'always', bookmarkIntervalMs: 30 });
    kc = kubeConfigFor(s);
    core = kc.makeApiClient(CoreV1Api);
  });
  afterEach(async () => {
    for (const i of informers.splice(0)) await i.stop();
    await s.stop();
  });

  test('services: initial list, add/update/delete, labelled services filtered', async () => {
    s.create(service('default', 'a'));
    s.create(service('default', 'proxied', { 'service.kubernetes.io/service-proxy-name': 'other' }));
    s.create(service('kube-system', 'headless', { 'service.kubernetes.io/headless': '' }));
    const inf = track(makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: SEL }), SEL));
    const rec = new Recorder<V1Service>(inf);
    await inf.start();
    assert.deepEqual(rec.take(), ['add default/a']);

    s.create(service('default', 'b'));
    const a = s.get({ kind: 'Service', namespace: 'default', name: 'a' })!;
    s.update({ ...a, spec: { clusterIP: '10.96.0.42' } });
    s.delete({ kind: 'Service', namespace: 'default', name: 'b' });
    s.create(service('default', 'ignored', { 'service.kubernetes.io/service-proxy-name': 'other' }));
    await waitUntil(() => rec.log.length >= 3, 'three events');
    assert.deepEqual(rec.take(), ['add default/b', 'update default/a', 'delete default/b']);
    assert.equal(rec.latest.get('default/a')?.spec?.clusterIP, '10.96.0.42'); // update gets only the new object

    // Gaining the label is a delete for this watcher, losing it an add (as from the real apiserver).
    const a2 = s.get({ kind: 'Service', namespace: 'default', name: 'a' })!;
    s.update({ ...a2, metadata: { ...a2.metadata, labels: { 'service.kubernetes.io/headless': '' } } });
    s.update({ ...a2, metadata: { ...a2.metadata, resourceVersion: '', labels: {} } });
    await waitUntil(() => rec.log.length >= 2, 'label transitions');
    assert.deepEqual(rec.take(), ['delete default/a', 'add default/a']);
    assert.deepEqual(cacheKeys(inf), ['default/a']);
    assert.deepEqual(rec.errors, []);
  });

  test('endpointslices: initial list and changes through DiscoveryV1Api', async () => {
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    s.create(endpointSlice('default', 'a-1', 'a', ['10.244.1.2']));
    s.create(endpointSlice('default', 'h-1', 'h', ['10.244.1.3'], { 'service.kubernetes.io/headless': '' }));
    const inf = track(makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: SEL }), SEL));
    const rec = new Recorder(inf);
    await inf.start();
    assert.deepEqual(rec.take(), ['add default/a-1']);
    s.apply(endpointSlice('default', 'a-1', 'a', ['10.244.1.2', '10.244.2.2']));
    s.create(endpointSlice('kube-system', 'dns-1', 'dns', ['10.244.3.3']));
    await waitUntil(() => rec.log.length >= 2, 'slice events');
    assert.deepEqual(rec.take(), ['update default/a-1', 'add kube-system/dns-1']);
  });

  test('one node through ListWatch with fieldSelector metadata.name', async () => {
    s.create(node('n1'));
    s.create(node('n2'));
    const fieldSelector = 'metadata.name=n1';
    const lw = track(new ListWatch<V1Node>('/api/v1/nodes', new Watch(kc), () => core.listNode({ fieldSelector }), false, undefined, fieldSelector));
    const rec = new Recorder(lw);
    await lw.start();
    assert.deepEqual(rec.take(), ['add n1']);
    s.apply({ ...node('n2'), spec: { unschedulable: true } });
    s.apply({ ...node('n1'), spec: { unschedulable: true } });
    s.delete({ kind: 'Node', name: 'n1' });
    await waitUntil(() => rec.log.length >= 2, 'node events');
    assert.deepEqual(rec.take(), ['update n1', 'delete n1']);
    assert.ok(s.requestLog.some((r) => r.verb === 'watch' && r.description.includes('fieldSelector=metadata.name%3Dn1')));
  });

  test('a chunked list (limit 2) feeds the informer in full', async () => {
    for (const n of ['s1', 's2', 's3', 's4', 's5']) s.create(service('default', n));
    const listAll = async (): Promise<V1ServiceList> => {
      const items: V1Service[] = [];
      let cont: string | undefined;
      let resourceVersion: string | undefined;
      do {
        const page = await core.listServiceForAllNamespaces({ labelSelector: SEL, limit: 2, ...(cont === undefined ? {} : { _continue: cont }) });
        items.push(...page.items);
        cont = page.metadata?._continue;
        resourceVersion = page.metadata?.resourceVersion;
      } while (cont !== undefined && cont !== '');
      const list = new V1ServiceList();
      list.items = items;
      list.metadata = new V1ListMeta();
      if (resourceVersion !== undefined) list.metadata.resourceVersion = resourceVersion;
      return list;
    };
    const inf = track(makeInformer(kc, '/api/v1/services', listAll, SEL));
    const rec = new Recorder(inf);
    await inf.start();
    assert.equal(rec.take().length, 5);
    assert.equal(s.requests('list'), 3);
    s.create(service('default', 's6'));
    await waitUntil(() => rec.log.length === 1, 'add after chunked list');
  });

  test('bookmarks (sent even unasked here) advance the informer RV and harm nothing', async () => {
    s.create(service('default', 'a'));
    // ListWatch, as makeInformer builds it, for latestResourceVersion() in its type.
    const inf = track(new ListWatch<V1Service>('/api/v1/services', new Watch(kc), () => core.listServiceForAllNamespaces({ labelSelector: SEL }), false, SEL));
    const rec = new Recorder(inf);
    await inf.start();
    rec.take();
    s.create(node('n1')); // bumps the global RV without a service event
    await waitUntil(() => inf.latestResourceVersion() === s.resourceVersion, 'bookmark RV');
    const lists = s.requests('list');
    s.dropWatches();
    s.create(service('default', 'b'));
    await waitUntil(() => rec.log.length === 1, 'event after resume');
    assert.deepEqual(rec.take(), ['add default/b']);
    assert.equal(s.requests('list'), lists, 'resumed from the bookmark RV without relisting');
    await sleep(100); // several bookmarks more
    assert.deepEqual(rec.log, []);
    assert.deepEqual(rec.errors, []);
  });

  test('events created and patched through CoreV1Api / EventsV1Api are recorded', async () => {
    // client-node 2.x models are classes; the lint rule wants them built by their constructors.
    const core1 = Object.assign(new CoreV1Event(), {
      metadata: Object.assign(new V1ObjectMeta(), { generateName: 'n1.' }),
      involvedObject: Object.assign(new V1ObjectReference(), { kind: 'Node', name: 'n1', uid: 'n1' }),
      reason: 'Starting', message: 'hello', type: 'Normal', count: 1,
    });
    const created = await core.createNamespacedEvent({ namespace: 'default', body: core1 });
    const name = created.metadata.name ?? '';
    // client-node sends application/json-patch+json unless told otherwise.
    await core.patchNamespacedEvent({ name, namespace: 'default', body: [{ op: 'replace', path: '/count', value: 2 }] });
    await core.patchNamespacedEvent({ name, namespace: 'default', body: { message: 'again' } },
      setHeaderOptions('Content-Type', 'application/merge-patch+json'));
    const events = kc.makeApiClient(EventsV1Api);
    await events.createNamespacedEvent({ namespace: 'default', body: Object.assign(new EventsV1Event(), {
      metadata: Object.assign(new V1ObjectMeta(), { name: 'n1.2' }), eventTime: new V1MicroTime(),
      reason: 'Synced', action: 'Sync', reportingController: 'kube-ipvs', reportingInstance: 'n1', type: 'Normal',
    }) });
    const recorded = s.events();
    assert.deepEqual(recorded.map((e) => [e.apiVersion, e.reason, e.count, e.message]),
      [['v1', 'Starting', 2, 'again'], ['events.k8s.io/v1', 'Synced', undefined, undefined]]);
    assert.equal(s.requests('patch'), 2);
  });
});
