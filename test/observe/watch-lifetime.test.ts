// API load per node (issue #12): the real ClusterWatcher (client-node's ListWatch and Watch)
// against the test API server, which records every request's query and every watch's life.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { ClusterWatcher, PROXY_LABEL_SELECTOR } from '../../src/observe/informers.ts';
import { DEFAULT_WATCH_TIMING, type WatchTiming } from '../../src/observe/proxy-watch.ts';
import { PAGE_SIZE } from '../../src/observe/raw-list.ts';
import { node, service } from '../support/apiserver/builders.ts';
import { kubeConfigFor, sleep, waitUntil } from '../support/apiserver/client.ts';
import { start, type StartOptions, type TestApiServer } from '../support/apiserver/index.ts';

let api: TestApiServer | undefined;
let watcher: ClusterWatcher | undefined;
afterEach(async () => {
  watcher?.stop();
  await api?.stop();
  [api, watcher] = [undefined, undefined];
});

async function run(options: StartOptions, timing: Partial<WatchTiming> = {}, seed = 1): Promise<{ s: TestApiServer; cluster: ClusterState }> {
  const s = (api = await start(options));
  s.create(node('node-a'));
  for (let i = 0; i < seed; i++) s.create(service('default', `svc-${String(i).padStart(4, '0')}`, {}, `10.96.${String(i >> 8)}.${String(i & 255)}`));
  const cluster = new ClusterState();
  watcher = new ClusterWatcher(kubeConfigFor(s), 'node-a', cluster, { changed: () => undefined }, silentLog, timing);
  await watcher.start();
  return { s, cluster };
}

const lists = (s: TestApiServer, resource: string) => s.requestLog.filter((r) => r.verb === 'list' && r.resource === resource).map((r) => r.query ?? {});
const watches = (s: TestApiServer, resource: string) => s.watchLog.filter((w) => w.resource === resource);
const RESOURCES = ['services', 'endpointslices', 'nodes'];

test('the first LIST comes from the watch cache (resourceVersion=0) in pages of 500; a relist after 410 asks for current data, in pages', async () => {
  const { s, cluster } = await run({}, {}, 1200);
  assert.equal(cluster.services.size, 1200);
  const [first, ...pages] = lists(s, 'services');
  assert.deepEqual(first, { limit: String(PAGE_SIZE), labelSelector: PROXY_LABEL_SELECTOR, resourceVersion: '0' });
  // 1,200 in pages of 500 (the test server pages even at resourceVersion=0; a real watch cache
  // may answer in one page); later pages carry the continue token, never a resourceVersion.
  assert.equal(pages.length, 2);
  for (const q of pages) {
    assert.deepEqual(Object.keys(q).sort(), ['continue', 'labelSelector', 'limit']);
    assert.notEqual(q.continue, '');
  }
  assert.deepEqual(lists(s, 'endpointslices'), [{ limit: String(PAGE_SIZE), labelSelector: PROXY_LABEL_SELECTOR, resourceVersion: '0' }]);
  assert.deepEqual(lists(s, 'nodes'), [{ limit: String(PAGE_SIZE), fieldSelector: 'metadata.name=node-a', resourceVersion: '0' }]);
  for (const r of RESOURCES) {
    const q = watches(s, r)[0]?.query ?? {};
    assert.equal(q.allowWatchBookmarks, 'true', r);
    const t = Number(q.timeoutSeconds);
    assert.ok(t >= 300 && t <= 600, `${r} timeoutSeconds=${String(t)}`);
    assert.notEqual(q.resourceVersion ?? '', '', `${r} watches from the list's resourceVersion`);
  }
  // 410: the relist asks for current data (no resourceVersion: not the cache's), again in pages.
  s.pause();
  s.dropWatches();
  s.expireHistory();
  s.resume();
  await waitUntil(() => lists(s, 'services').length === 6, 'services relisted');
  const relist = lists(s, 'services').slice(3);
  assert.deepEqual(relist.map((q) => [q.resourceVersion, q.limit]), [[undefined, '500'], [undefined, '500'], [undefined, '500']]);
  assert.equal(cluster.services.size, 1200);
});

test('a watch lives until the server ends it at timeoutSeconds while bookmarks flow, then resumes from its resourceVersion without a LIST', { timeout: 20_000 }, async () => {
  // Scaled down: watches of 2 s, an idle limit of 1 s, bookmarks every 250 ms.
  const { s } = await run({ bookmarkIntervalMs: 250 }, { timeoutSeconds: [2, 2], idleMs: 1000 });
  await sleep(4500);
  for (const r of RESOURCES) {
    const ws = watches(s, r);
    const done = ws.filter((w) => w.closedAt !== undefined);
    assert.ok(done.length >= 2, `${r}: ${String(done.length)} watches ended`);
    for (const w of done) {
      assert.equal(w.endedBy, 'timeout', `${r}: ended by the server's timeout, never by the client's idle limit`);
      assert.ok((w.closedAt ?? 0) - w.openedAt >= 1900, `${r}: lived ${String((w.closedAt ?? 0) - w.openedAt)} ms > the 1 s idle limit`);
    }
    // Each resumed from the last resourceVersion the previous one saw (a bookmark's at least).
    for (const w of ws.slice(1)) assert.ok(Number(w.query.resourceVersion) >= Number(ws[0]?.query.resourceVersion), r);
    assert.equal(lists(s, r).length, 1, `${r}: no relist`);
    // One watch per timeoutSeconds: with the defaults (≥ 300 s) that is ≤ 3 × 12 + 3 = 39 an hour per node.
    assert.ok(ws.length <= 4500 / 2000 + 1, `${r}: ${String(ws.length)} watches in 4.5 s`);
  }
  assert.ok(3 * (3600 / DEFAULT_WATCH_TIMING.timeoutSeconds[0] + 1) <= 40);
});

test('without data the client gives up on a watch at its idle limit (a dead connection) and resumes without a LIST', { timeout: 20_000 }, async () => {
  const { s } = await run({ bookmarks: 'never' }, { timeoutSeconds: [30, 30], idleMs: 700 });
  await sleep(2000);
  const ws = watches(s, 'services');
  const done = ws.filter((w) => w.closedAt !== undefined);
  assert.ok(done.length >= 1, 'a silent watch was abandoned');
  for (const w of done) {
    assert.equal(w.endedBy, 'client');
    const life = (w.closedAt ?? 0) - w.openedAt;
    assert.ok(life >= 600 && life < 1500, `lived ${String(life)} ms`);
  }
  assert.equal(lists(s, 'services').length, 1);
});
