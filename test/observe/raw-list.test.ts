// listDecoded against a scripted HTTP server: what an API server may answer that the test API
// server never does (an expired continue token mid-list, items that are not objects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { decodeService } from '../../src/compute/k8s/decode.ts';
import type { Service } from '../../src/compute/k8s/objects.ts';
import { ListError, listDecoded } from '../../src/observe/raw-list.ts';

type Answer = readonly [number, unknown];

async function serve(answers: readonly Answer[], fn: (kc: KubeConfig, queries: URLSearchParams[]) => Promise<void>): Promise<void> {
  const queries: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    queries.push(new URL(req.url ?? '/', 'http://x').searchParams);
    const [code, body] = answers[queries.length - 1] ?? [500, {}];
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${String(port)}`, skipTLSVerify: true }],
    users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x',
  });
  try {
    await fn(kc, queries);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

const svc = (name: string): unknown => ({ metadata: { namespace: 'd', name, resourceVersion: '5' }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] } });
const decode = (raw: unknown): Service | undefined => {
  const s = decodeService(raw);
  return s.metadata?.name === undefined ? undefined : s;
};

test('an expired continue token mid-list falls back to one full list (client-go pager), without the earlier pages twice', async () => {
  const gone = { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 };
  await serve([
    [200, { metadata: { resourceVersion: '7', continue: 'tok' }, items: [svc('a')] }],
    [410, gone],
    [200, { metadata: { resourceVersion: '9' }, items: [svc('a'), svc('b')] }],
  ], async (kc, queries) => {
    const l = await listDecoded(kc, '/api/v1/services', { labelSelector: 'x' }, true, decode);
    assert.deepEqual(l.items.map((s) => s.metadata?.name), ['a', 'b']);
    assert.equal(l.metadata.resourceVersion, '9');
    assert.deepEqual(queries.map((q) => Object.fromEntries(q)), [
      { limit: '500', labelSelector: 'x', resourceVersion: '0' },
      { limit: '500', labelSelector: 'x', continue: 'tok' },
      { labelSelector: 'x' },
    ]);
  });
});

test('items that are not objects, or have no name, are skipped; the rest are kept', async () => {
  await serve([[200, { metadata: { resourceVersion: '3' }, items: [null, 5, 'x', { metadata: { name: 7 } }, svc('ok')] }]], async (kc) => {
    const l = await listDecoded(kc, '/api/v1/services', {}, true, decode);
    assert.deepEqual(l.items.map((s) => s.metadata?.name), ['ok']);
  });
});

test('an answer that is not a list at all is a typed error with the HTTP status, so the informer retries', async () => {
  await serve([[500, { message: 'boom' }], [200, { items: {} }], [200, 'not json']], async (kc) => {
    for (const status of [500, 200, 200]) {
      await assert.rejects(listDecoded(kc, '/api/v1/services', {}, true, decode), (e: unknown) => e instanceof ListError && e.statusCode === (status === 500 ? 500 : undefined));
    }
  });
});
