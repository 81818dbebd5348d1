// The test API server's wire protocol, checked over plain HTTP: lists, selectors, chunking,
// watches and their edge cases, writes, and fault injection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { start, type TestApiServer } from './apiserver/index.ts';
import { node, service } from './apiserver/builders.ts';
import { parseFieldSelector, parseLabelSelector } from './apiserver/selectors.ts';
import type { KubeObject } from './apiserver/types.ts';
import { WatchReader } from './apiserver/watch-reader.ts';

const PROXY_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

interface List { kind: string; apiVersion: string; metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number }; items: Record<string, unknown>[] }
const names = (l: List): string[] => l.items.map((i) => (i.metadata as { name: string }).name);

async function getJson(s: TestApiServer, path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(s.url + path, init);
  return { status: res.status, body: await res.json() };
}

test('label selectors follow the apiserver grammar', () => {
  const obj = (labels: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { labels } });
  const cases: [string, Record<string, string>, boolean][] = [
    [PROXY_SELECTOR, {}, true],
    [PROXY_SELECTOR, { 'service.kubernetes.io/headless': '' }, false],
    [PROXY_SELECTOR, { 'service.kubernetes.io/service-proxy-name': 'x' }, false],
    ['a=b', { a: 'b' }, true], ['a==b', { a: 'c' }, false], ['a!=b', {}, true], ['a!=b', { a: 'b' }, false],
    ['a', { a: '' }, true], ['a in (x, y),b', { a: 'y', b: '1' }, true], ['a in (x,y)', {}, false],
    ['a notin (x,y)', {}, true], ['a notin (x,y)', { a: 'x' }, false], ['', { z: '1' }, true],
  ];
  for (const [sel, labels, want] of cases) assert.equal(parseLabelSelector(sel)(obj(labels)), want, `${sel} on ${JSON.stringify(labels)}`);
  assert.throws(() => parseLabelSelector('a in x'), { code: 400 });
  assert.equal(parseFieldSelector('metadata.name=n1')(node('n1')), true);
  assert.equal(parseFieldSelector('metadata.name!=n1')(node('n1')), false);
  assert.throws(() => parseFieldSelector('spec.foo=1'), { code: 400 });
});

describe('test API server over HTTP', () => {
  let s: TestApiServer;
  before(async () => { s = await start({ bookmarkIntervalMs: 50 }); });
  after(async () => { await s.stop(); });

  test('lists like the real apiserver: list kind, RV, items without type meta', async () => {
    const a = s.create(service('default', 'a'));
    s.create(service('kube-system', 'b', { 'service.kubernetes.io/headless': '' }));
    assert.match(a.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(a.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const all = (await getJson(s, '/api/v1/services')).body as List;
    assert.equal(all.kind, 'ServiceList');
    assert.equal(all.apiVersion, 'v1');
    assert.equal(all.metadata.resourceVersion, s.resourceVersion);
    assert.deepEqual(names(all), ['a', 'b']);
    assert.equal(all.items[0]?.kind, undefined);
    const filtered = (await getJson(s, `/api/v1/services?labelSelector=${encodeURIComponent(PROXY_SELECTOR)}`)).body as List;
    assert.deepEqual(names(filtered), ['a']);
    const ns = (await getJson(s, '/api/v1/namespaces/kube-system/services')).body as List;
    assert.deepEqual(names(ns), ['b']);
    const one = await getJson(s, '/api/v1/namespaces/default/services/a');
    assert.equal((one.body as KubeObject).kind, 'Service');
    const missing = await getJson(s, '/api/v1/namespaces/default/services/zz');
    assert.deepEqual(missing, { status: 404, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'services "zz" not found', reason: 'NotFound', code: 404, details: { name: 'zz', kind: 'services' } } });
    const bad = await getJson(s, '/api/v1/nodes?fieldSelector=spec.foo%3D1');
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { reason: string }).reason, 'BadRequest');
  });

  test('field selectors on nodes', async () => {
    s.create(node('n1'));
    s.create(node('n2'));
    const l = (await getJson(s, '/api/v1/nodes?fieldSelector=metadata.name%3Dn2')).body as List;
    assert.equal(l.kind, 'NodeList');
    assert.deepEqual(names(l), ['n2']);
  });

  test('chunked lists are consistent snapshots; an expired continue token is 410 Expired', async () => {
    for (const n of ['c1', 'c2', 'c3', 'c4']) s.create(service('chunk', n));
    const p1 = (await getJson(s, '/api/v1/namespaces/chunk/services?limit=3')).body as List;
    assert.deepEqual(names(p1), ['c1', 'c2', 'c3']);
    assert.equal(p1.metadata.remainingItemCount, 1);
    s.create(service('chunk', 'c5')); // after the snapshot: not in later pages
    const p2 = (await getJson(s, `/api/v1/namespaces/chunk/services?limit=3&continue=${p1.metadata.continue ?? ''}`)).body as List;
    assert.deepEqual(names(p2), ['c4']);
    assert.equal(p2.metadata.continue, undefined);
    assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
    const again = (await getJson(s, '/api/v1/namespaces/chunk/services?limit=1')).body as List;
    s.expireHistory();
    const expired = await getJson(s, `/api/v1/namespaces/chunk/services?limit=1&continue=${again.metadata.continue ?? ''}`);
    assert.equal(expired.status, 410);
    assert.equal((expired.body as { reason: string }).reason, 'Expired');
  });

  test('a selective chunked list pages through the matches only, from where the last page ended', async () => {
    // Pages start at their continue key (a binary search of the snapshot) and stop at the first
    // match past the page: the same pages a filter of the whole list gave.
    for (let i = 0; i < 9; i++) {
      const svc = service('sel', `s${i}`);
      s.create(i % 3 === 0 ? { ...svc, metadata: { ...svc.metadata, labels: { 'service.kubernetes.io/headless': '' } } } : svc);
    }
    const seen: string[][] = [];
    let token = '';
    for (let page = 0; page < 10; page++) {
      const l = (await getJson(s, `/api/v1/namespaces/sel/services?limit=2&labelSelector=${encodeURIComponent(PROXY_SELECTOR)}${token === '' ? '' : `&continue=${token}`}`)).body as List;
      seen.push(names(l));
      assert.equal(l.metadata.remainingItemCount, undefined, 'not counted with a selector');
      token = l.metadata.continue ?? '';
      if (token === '') break;
    }
    assert.deepEqual(seen, [['s1', 's2'], ['s4', 's5'], ['s7', 's8']]);
  });

  test('LISTs serve what prepareLists encoded, and an object written since as it is now', async () => {
    s.create(service('prep', 'a'));
    s.create(service('prep', 'b'));
    s.prepareLists();
    const b = s.get({ kind: 'Service', namespace: 'prep', name: 'b' });
    assert.ok(b !== undefined);
    s.update({ ...b, metadata: { ...b.metadata, labels: { changed: 'yes' } } });
    const l = (await getJson(s, '/api/v1/namespaces/prep/services')).body as List;
    assert.deepEqual(l.items.map((i) => (i.metadata as { labels?: Record<string, string> }).labels ?? {}), [{}, { changed: 'yes' }]);
    assert.deepEqual(l.items, s.list('Service').filter((o) => o.metadata.namespace === 'prep').map((o) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'kind' && k !== 'apiVersion'))));
  });

  test('watch replays after an RV and turns selector transitions into ADDED/DELETED', async () => {
    const from = s.resourceVersion;
    s.create(service('w', 'x'));
    const sel = encodeURIComponent(PROXY_SELECTOR);
    const w = await WatchReader.open(`${s.url}/api/v1/namespaces/w/services?watch=true&resourceVersion=${from}&labelSelector=${sel}`);
    await w.waitFor((r) => r.events.length === 1);
    const x = s.get({ kind: 'Service', namespace: 'w', name: 'x' })!;
    s.update({ ...x, metadata: { ...x.metadata, labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } });
    s.update({ ...x, metadata: { ...x.metadata, resourceVersion: '', labels: {} } });
    s.update({ ...x, metadata: { ...x.metadata, resourceVersion: '', labels: {} }, spec: { clusterIP: '10.96.0.99' } });
    s.create(service('other-ns', 'y'));
    s.delete({ kind: 'Service', namespace: 'w', name: 'x' });
    await w.waitFor((r) => r.events.length === 5);
    assert.deepEqual(w.types(), ['ADDED', 'DELETED', 'ADDED', 'MODIFIED', 'DELETED']);
    const last = w.events.at(-1)!.object as KubeObject;
    assert.equal(last.metadata.resourceVersion, s.resourceVersion);
    assert.equal(last.kind, 'Service'); // watch objects, unlike list items, carry type meta
    w.close();
  });

  test('watch without RV starts with the current state; timeoutSeconds ends it; bookmarks on request', async () => {
    const t0 = Date.now();
    const w = await WatchReader.open(`${s.url}/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=1`);
    await w.waitFor((r) => r.ended, 3000);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 950 && elapsed < 2000, `ended after ${String(elapsed)} ms`);
    assert.deepEqual(w.types().filter((t) => t !== 'BOOKMARK'), ['ADDED', 'ADDED']);
    const bookmark = w.events.find((e) => e.type === 'BOOKMARK');
    assert.deepEqual(bookmark?.object, { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: s.resourceVersion } });
  });

  test('a too-old RV is an ERROR event, or HTTP 410 when switched', async () => {
    const old = s.resourceVersion;
    s.create(service('old', 'o'));
    s.expireHistory();
    const w = await WatchReader.open(`${s.url}/api/v1/services?watch=true&resourceVersion=${old}`);
    await w.waitFor((r) => r.ended);
    assert.deepEqual(w.events, [{ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `too old resource version: ${old} (${s.resourceVersion})`, reason: 'Expired', code: 410 } }]);
    s.watch.expiredAs = 'http';
    const h = await WatchReader.open(`${s.url}/api/v1/services?watch=true&resourceVersion=${old}`);
    await h.waitFor((r) => r.ended);
    s.watch.expiredAs = 'event';
    assert.equal(h.status, 410);
    assert.equal((JSON.parse(h.body) as { reason: string }).reason, 'Expired');
  });

  test('events: POST with generateName, PATCH (merge and JSON patch), recorded for assertions', async () => {
    const body = { apiVersion: 'v1', kind: 'Event', metadata: { generateName: 'n1.' }, reason: 'Test', count: 1, involvedObject: { kind: 'Node', name: 'n1' } };
    const created = await getJson(s, '/api/v1/namespaces/default/events', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(created.status, 201);
    const name = (created.body as KubeObject).metadata.name ?? '';
    assert.match(name, /^n1\.[0-9a-f]{5}$/);
    const path = `/api/v1/namespaces/default/events/${name}`;
    await getJson(s, path, { method: 'PATCH', body: JSON.stringify({ count: 2 }), headers: { 'content-type': 'application/merge-patch+json' } });
    const patched = await getJson(s, path, { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/reason', value: 'Again' }]), headers: { 'content-type': 'application/json-patch+json' } });
    assert.equal(patched.status, 200);
    const [ev] = s.events();
    assert.equal(ev?.reason, 'Again');
    assert.equal(ev.count, 2);
    const dup = await getJson(s, '/api/v1/namespaces/default/events', { method: 'POST', body: JSON.stringify({ ...body, metadata: { name } }) });
    assert.equal(dup.status, 409);
    assert.equal((dup.body as { reason: string }).reason, 'AlreadyExists');
  });

  test('failNext, request counts and pause', async () => {
    s.failNext(/^list \/api\/v1\/nodes/, 500, 2);
    const lists = s.requests('list');
    assert.equal((await fetch(`${s.url}/api/v1/nodes`)).status, 500);
    const second = await getJson(s, '/api/v1/nodes');
    assert.deepEqual(second.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'injected failure: 500', reason: 'InternalError', code: 500 });
    assert.equal((await fetch(`${s.url}/api/v1/nodes`)).status, 200);
    assert.equal(s.requests('list') - lists, 3);
    s.pause();
    let answered = false;
    const held = fetch(`${s.url}/api/v1/nodes`).then((r) => { answered = true; return r.status; });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false);
    s.resume();
    assert.equal(await held, 200);
  });
});

test('restart on the same port keeps or drops state; a bearer token is enforced', async () => {
  const s = await start({ token: 'sekret' });
  try {
    s.create(node('n1'));
    s.create(node('n2'));
    const url = s.url;
    assert.equal((await fetch(`${url}/api/v1/nodes`)).status, 401);
    const auth = { headers: { authorization: 'Bearer sekret' } };
    await s.restart();
    assert.equal(s.url, url);
    assert.equal(((await (await fetch(`${url}/api/v1/nodes`, auth)).json()) as List).items.length, 2);
    const rv = s.resourceVersion;
    await s.restart({ keepState: false });
    assert.equal(((await (await fetch(`${url}/api/v1/nodes`, auth)).json()) as List).items.length, 0);
    assert.equal((await fetch(`${url}/api/v1/nodes?watch=true&resourceVersion=0`, auth)).status, 200);
    s.watch.expiredAs = 'http';
    assert.equal((await fetch(`${url}/api/v1/nodes?watch=true&resourceVersion=${String(Number(rv) - 1)}`, auth)).status, 410);
  } finally {
    await s.stop();
  }
});
