// Informer restart backoff with jitter: after an API server restart, 5,000 nodes must not
// retry in lockstep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { restartDelayMs } from '../../src/observe/backoff.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { ClusterWatcher } from '../../src/observe/informers.ts';
import { seedWeb } from '../support/apiserver/builders.ts';
import { kubeConfigFor, waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { prng } from '../support/prng.ts';

test('each delay is drawn from [½, 1½) × its step, and the steps grow to 30 s', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 9].map((a) => restartDelayMs(a, () => 0.5)), [500, 1000, 2000, 5000, 10_000, 30_000, 30_000]);
  assert.equal(restartDelayMs(0, () => 0), 250);
  assert.equal(restartDelayMs(5, () => 0.999_999), 45_000);
});

test('5,000 nodes failing at the same instant spread their first retries: no 25 ms window holds more than 8 % of them (without jitter: all of them in one)', () => {
  const random = prng(11);
  const delays = Array.from({ length: 5000 }, () => restartDelayMs(0, random));
  const buckets = new Map<number, number>();
  for (const d of delays) buckets.set(Math.floor(d / 25), (buckets.get(Math.floor(d / 25)) ?? 0) + 1);
  const busiest = Math.max(...buckets.values());
  assert.ok(busiest <= 400, `busiest 25 ms window: ${String(busiest)} of 5,000`);
  assert.ok(Math.min(...delays) >= 250 && Math.max(...delays) <= 750);
});

test('the informers use it: a failed list is retried after a jittered delay', async () => {
  await using api = await start();
  seedWeb(api);
  api.failNext(/^list \/api\/v1\/services/, 500);
  const waits: number[] = [];
  const log: Log = { ...silentLog, warn: (o) => { if ('retryInMs' in o) waits.push(Number(o.retryInMs)); } };
  const watcher = new ClusterWatcher(kubeConfigFor(api), 'node-a', new ClusterState(), { changed: () => undefined }, log, { random: () => 0.1 });
  try {
    await watcher.start();
    await waitUntil(() => waits.length > 0, 'a retry logged');
    assert.deepEqual(waits, [300]); // 500 ms × (0.5 + 0.1)
  } finally {
    watcher.stop();
  }
});
