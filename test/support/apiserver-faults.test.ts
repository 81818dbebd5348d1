// What the real client-node 2.x informer does under each fault the test API server can inject.
// These observations drive the daemon's design (DESIGN §7, §8); `t.diagnostic` prints timings.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CoreV1Api, makeInformer, type Informer, type V1Service } from '@kubernetes/client-node';
import { service } from './apiserver/builders.ts';
import { cacheKeys, kubeConfigFor, Recorder, sleep, waitUntil } from './apiserver/client.ts';
import { start, type TestApiServer } from './apiserver/index.ts';

const SEL = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';
const svc = (name: string) => ({ kind: 'Service', namespace: 'default', name });

describe('client-node informer under injected faults', () => {
  let s: TestApiServer;
  let inf: Informer<V1Service> & { list(): readonly V1Service[] };
  let rec: Recorder<V1Service>;

  beforeEach(async () => {
    s = await start();
    s.create(service('default', 'a'));
    s.create(service('default', 'b'));
    s.create(service('default', 'z')); // never changes: must never be reported again
    const kc = kubeConfigFor(s);
    const core = kc.makeApiClient(CoreV1Api);
    inf = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: SEL }), SEL);
    rec = new Recorder(inf);
  });
  afterEach(async () => {
    await inf.stop();
    await s.stop();
  });

  /** Changes made while no watch is open: a deleted, b changed, c new. */
  function changeWhileDisconnected(): void {
    s.delete(svc('a'));
    const b = s.get(svc('b'))!;
    s.update({ ...b, spec: { clusterIP: '10.96.0.77' } });
    s.create(service('default', 'c'));
  }
  const serverKeys = (): string[] => s.list('Service').map((o) => `default/${o.metadata.name ?? ''}`).sort();

  test('a cleanly ended watch resumes from its RV and gets what happened meanwhile', async (t) => {
    await inf.start();
    rec.take();
    const lists = s.requests('list');
    s.pause(); // hold the reconnect so the changes land between the two watches
    assert.equal(s.dropWatches(), 1);
    changeWhileDisconnected();
    const t0 = Date.now();
    s.resume();
    await waitUntil(() => rec.log.length >= 3, 'replayed events');
    t.diagnostic(`resumed and replayed in ${String(Date.now() - t0)} ms`);
    assert.deepEqual(rec.take(), ['delete default/a', 'update default/b', 'add default/c']);
    assert.equal(s.requests('list'), lists, 'no relist');
    assert.equal(s.requests('watch'), 2);
  });

  for (const expiredAs of ['event', 'http'] as const) {
    test(`an expired RV (410 as ${expiredAs}) relists; the client reports the differences itself`, async (t) => {
      s.watch.expiredAs = expiredAs;
      await inf.start();
      rec.take();
      s.pause();
      s.dropWatches();
      changeWhileDisconnected();
      s.expireHistory();
      const t0 = Date.now();
      s.resume();
      await waitUntil(() => rec.log.length >= 3, 'relist events');
      t.diagnostic(`relisted in ${String(Date.now() - t0)} ms`);
      // deleteItems() first, then every listed item: b is an update (new RV), c an add.
      assert.deepEqual(rec.take(), ['delete default/a', 'update default/b', 'add default/c']);
      assert.deepEqual(cacheKeys(inf), serverKeys());
      assert.equal(s.requests('list'), 2);
      assert.deepEqual(rec.errors, []);
      // The watch after a relist waits out the client's reconnect backoff (1 s) before it opens.
      await waitUntil(() => s.openWatches === 1, 'a new watch', 3000);
      t.diagnostic(`new watch open ${String(Date.now() - t0)} ms after the drop`);
      s.create(service('default', 'd'));
      await waitUntil(() => rec.log.length === 1, 'live event after relist');
    });
  }

  test('a reset socket makes the informer emit error and stop; start() again resumes', async (t) => {
    await inf.start();
    rec.take();
    const watches = s.requests('watch');
    assert.equal(s.resetWatches(), 1);
    await waitUntil(() => rec.errors.length === 1, 'error callback');
    const err = rec.errors[0] as { name?: string; message?: string; code?: string; cause?: { code?: string } };
    t.diagnostic(`error: name=${String(err.name)} message=${String(err.message)} code=${String(err.code ?? err.cause?.code)}`);
    changeWhileDisconnected();
    await sleep(300);
    assert.equal(s.requests('watch'), watches, 'the informer does not reconnect by itself');
    assert.deepEqual(rec.take(), ['error']);
    // start() keeps the last RV: it watches from there, no relist, and the replay fills the gap.
    await inf.start();
    await waitUntil(() => rec.log.length >= 3, 'events after restart');
    assert.deepEqual(rec.take(), ['delete default/a', 'update default/b', 'add default/c']);
    assert.equal(s.requests('list'), 1);
  });

  test('a failed initial list: start() resolves anyway, error is emitted, nothing is watched', async () => {
    s.failNext(/^list /, 500);
    await inf.start(); // resolves: the failure only reaches the error callback
    assert.deepEqual(rec.take(), ['error']);
    assert.equal((rec.errors[0] as { code?: number }).code, 500);
    assert.equal(s.requests('watch'), 0);
    await inf.start();
    assert.deepEqual(rec.take(), ['add default/a', 'add default/b', 'add default/z']);
  });

  test('a watch answered 500 stops the informer like a reset does', async () => {
    await inf.start();
    rec.take();
    s.failNext(/^watch /, 500);
    s.dropWatches();
    await waitUntil(() => rec.errors.length === 1, 'error callback');
    assert.equal((rec.errors[0] as { statusCode?: number }).statusCode, 500);
    await sleep(200);
    assert.equal(s.requests('watch'), 2);
  });

  test('an API server restart (same port, state lost) stops the informer; start() then relists', async () => {
    await inf.start();
    rec.take();
    await s.restart({ keepState: false });
    await waitUntil(() => rec.errors.length === 1, 'error callback');
    await sleep(200);
    assert.equal(s.requests('watch'), 1, 'no reconnect by itself');
    s.create(service('default', 'c'));
    await inf.start(); // watches from its old RV → 410 → relist
    await waitUntil(() => rec.log.length >= 4, 'relist');
    assert.deepEqual(rec.take(), ['error', 'delete default/a', 'delete default/b', 'delete default/z', 'add default/c']);
  });

  test('stop() during the reconnect backoff still opens one more watch (client quirk)', async () => {
    await inf.start();
    s.pause();
    s.dropWatches();
    s.expireHistory();
    s.resume(); // the next watch gets 410, the client relists and then sleeps 1 s before watching
    await waitUntil(() => s.requests('list') === 2, 'relist');
    await inf.stop();
    const watches = s.requests('watch');
    await waitUntil(() => s.requests('watch') === watches + 1, 'a watch after stop()', 2000);
    s.create(service('default', 'late'));
    await waitUntil(() => rec.log.includes('add default/late'), 'callback of a stopped informer');
  });
});
