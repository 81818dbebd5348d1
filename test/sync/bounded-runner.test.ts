import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFrequencyRunner, type RunReason } from '../../src/sync/bounded-runner.ts';
import { FakeClock, flush } from '../support/fake-clock.ts';
import { silentLog } from '../../src/log.ts';

function setup(o: { min: number; max: number; burst?: number; fn?: (r: RunReason) => Promise<void> }) {
  const clock = new FakeClock();
  const runs: [number, RunReason][] = [];
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: o.min, maxIntervalMs: o.max, burst: o.burst ?? 2, clock, log: silentLog,
    fn: async (r) => { runs.push([clock.now(), r]); await o.fn?.(r); },
  });
  runner.start();
  return { clock, runs, runner };
}

test('with no requests it runs periodically, every maxInterval', async () => {
  const { clock, runs } = setup({ min: 1000, max: 30_000 });
  await clock.advance(95_000);
  assert.deepEqual(runs, [[30_000, 'periodic'], [60_000, 'periodic'], [90_000, 'periodic']]);
});

test('requests run at once up to the burst, then no closer than minInterval', async () => {
  const { clock, runs, runner } = setup({ min: 1000, max: 30_000, burst: 2 });
  for (let i = 0; i < 5; i++) { runner.run(); await flush(); }
  await clock.advance(2500);
  assert.deepEqual(runs.map(([t]) => t), [0, 0, 1000]);
  // The three requests that arrived while rate-limited merged into one run.
  assert.ok(runs.every(([, r]) => r === 'requested'));
});

test('minInterval 0 (kube-proxy IPVS default) runs every request immediately', async () => {
  const { runs, runner } = setup({ min: 0, max: 30_000, burst: 2 });
  for (let i = 0; i < 4; i++) { runner.run(); await flush(); }
  assert.equal(runs.length, 4);
});

test('a request during a run is queued, never overlapping it', async () => {
  let release: () => void = () => undefined;
  let active = 0;
  let maxActive = 0;
  const { clock, runs, runner } = setup({
    min: 0, max: 30_000,
    fn: async () => { active++; maxActive = Math.max(maxActive, active); await new Promise<void>((r) => { release = r; }); active--; },
  });
  runner.run(); await flush();
  runner.run(); runner.run(); await flush();
  assert.equal(runs.length, 1);
  release(); await flush();
  assert.equal(runs.length, 2, 'the queued requests ran once after the first');
  release(); await clock.advance(10);
  assert.equal(maxActive, 1);
});

test('steady requests do not starve the periodic full resync', async () => {
  const { clock, runs, runner } = setup({ min: 1000, max: 30_000 });
  for (let t = 0; t < 65_000; t += 500) { runner.run(); await clock.advance(500); }
  const periodic = runs.filter(([, r]) => r === 'periodic').map(([t]) => t);
  assert.equal(periodic.length, 2, JSON.stringify(periodic));
  assert.ok(periodic.every((t, i) => t >= (i + 1) * 30_000 && t < (i + 1) * 30_000 + 1000));
});

test('retryAfter brings the next run forward after a failure, not a full period later', async () => {
  let fail = true;
  const holder: { runner?: BoundedFrequencyRunner } = {};
  // The proxier's way: it reports its own failure, asks for a retry and resolves.
  const s = setup({ min: 1000, max: 30_000, fn: () => {
    if (fail) { fail = false; holder.runner?.retryAfter(2000); }
    return Promise.resolve();
  } });
  holder.runner = s.runner;
  s.runner.run(); await s.clock.advance(2500);
  assert.deepEqual(s.runs, [[0, 'requested'], [2000, 'retry']]);
});

test('a run that throws is logged with its error and retried with backoff, never swallowed', async () => {
  const clock = new FakeClock();
  const runs: [number, RunReason][] = [];
  const logged: { msg: string; obj: object }[] = [];
  let throws = 3;
  const log = { ...silentLog, error: (obj: object, msg: string) => { logged.push({ obj, msg }); } };
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 0, maxIntervalMs: 30_000, burst: 2, clock, log, retryMs: [1000, 2000, 5000],
    fn: (r) => { runs.push([clock.now(), r]); return throws-- > 0 ? Promise.reject(new Error('address read failed')) : Promise.resolve(); },
  });
  runner.start();
  runner.run();
  await clock.advance(10_000);
  assert.deepEqual(runs, [[0, 'requested'], [1000, 'retry'], [3000, 'retry'], [8000, 'retry']]);
  assert.equal(logged.length, 3);
  assert.ok(logged.every((l) => l.msg.includes('address read failed')));
  assert.deepEqual(logged.map((l) => (l.obj as { retryInMs: number }).retryInMs), [1000, 2000, 5000]);
});

test('stop cancels every timer', async () => {
  const { clock, runs, runner } = setup({ min: 1000, max: 30_000 });
  runner.stop();
  runner.run();
  await clock.advance(100_000);
  assert.equal(runs.length, 0);
  assert.equal(clock.pendingTimers, 0);
});

test('invalid intervals are refused with the values', () => {
  assert.throws(() => new BoundedFrequencyRunner({ minIntervalMs: 5000, maxIntervalMs: 1000, burst: 2, clock: new FakeClock(), log: silentLog, fn: () => Promise.resolve() }), /minInterval \(5000\) <= maxInterval \(1000\)/);
});

test('a run listening for requests takes one at once, within the rate limit; one beyond it stays queued', async () => {
  const clock = new FakeClock();
  const served: number[] = [];
  const runs: RunReason[] = [];
  let release: () => void = () => undefined;
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 1000, maxIntervalMs: 30_000, burst: 2, clock, log: silentLog,
    fn: async (r, signal) => {
      runs.push(r);
      if (r !== 'periodic') return;
      // The long run serves the requests that arrive while it lasts, as a full resync does.
      const listen = (): void => { signal.onRequest(() => { served.push(clock.now()); listen(); }); };
      listen();
      await new Promise<void>((resolve) => { release = resolve; });
    },
  });
  runner.start();
  await clock.advance(30_000); // the periodic run starts (one token of two left after it)
  runner.run(); await flush(); // served by the run: the last token
  runner.run(); await flush(); // none left: queued, not served
  assert.deepEqual(served, [30_000]);
  assert.deepEqual(runs, ['periodic']);
  release(); await flush();
  await clock.advance(1000); // the queued request runs once a token is back
  assert.deepEqual(runs, ['periodic', 'requested']);
  assert.deepEqual(served, [30_000]);
  runner.stop();
});

test('a request queued while a listening run served an earlier one is handed to its next listener, not held to the end', async () => {
  const clock = new FakeClock();
  const served: number[] = [];
  const runs: RunReason[] = [];
  let release: () => void = () => undefined;
  let serving: () => void = () => undefined;
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 0, maxIntervalMs: 30_000, burst: 2, clock, log: silentLog,
    fn: async (r, signal) => {
      runs.push(r);
      if (r !== 'periodic') return;
      // As a resync: listen, serve a request (not listening meanwhile), listen again.
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve) => { signal.onRequest(resolve); });
        served.push(i);
        await new Promise<void>((resolve) => { serving = resolve; });
      }
      await new Promise<void>((resolve) => { release = resolve; });
    },
  });
  runner.start();
  await clock.advance(30_000);
  runner.run(); await flush(); // served: the run is now busy with it, listening to none
  runner.run(); await flush(); // queued meanwhile
  assert.deepEqual(served, [0]);
  serving(); await flush(); // the run listens again: the queued request is its at once
  assert.deepEqual(served, [0, 1]);
  serving(); release(); await flush();
  assert.deepEqual(runs, ['periodic'], 'not run again after the periodic one: it was served');
  runner.stop();
});

test('a request that arrives while a periodic run is queued behind another is handed to the periodic run\'s first listener', async () => {
  const clock = new FakeClock();
  const served: number[] = [];
  const runs: RunReason[] = [];
  let finishFirst: () => void = () => undefined;
  let release: () => void = () => undefined;
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 0, maxIntervalMs: 30_000, burst: 2, clock, log: silentLog,
    fn: async (r, signal) => {
      runs.push(r);
      if (runs.length === 1) { await new Promise<void>((resolve) => { finishFirst = resolve; }); return; }
      if (r !== 'periodic') return;
      signal.onRequest(() => { served.push(clock.now()); });
      await new Promise<void>((resolve) => { release = resolve; });
    },
  });
  runner.start();
  runner.run(); await flush(); // a long first run (a cold sync)
  await clock.advance(30_000); // the periodic run comes due meanwhile: queued
  runner.run(); await flush(); // a change: merged into the queued periodic run
  finishFirst(); await flush();
  assert.deepEqual(runs, ['requested', 'periodic']);
  assert.deepEqual(served, [30_000], 'handed to the periodic run as it listens, not held to its end');
  release(); await flush();
  assert.deepEqual(runs, ['requested', 'periodic']);
  runner.stop();
});

test('a request that finds the period due (its timer not yet run) is handed to the periodic run\'s first listener', async () => {
  // As when a long callback delays the timers: the request's I/O callback runs first.
  let now = 0;
  const clock = { now: () => now, setTimer: (): unknown => 0, clearTimer: (): void => undefined };
  const served: number[] = [];
  const runs: RunReason[] = [];
  let release: () => void = () => undefined;
  const runner = new BoundedFrequencyRunner({
    minIntervalMs: 0, maxIntervalMs: 30_000, burst: 2, clock, log: silentLog,
    fn: async (r, signal) => {
      runs.push(r);
      signal.onRequest(() => { served.push(now); });
      await new Promise<void>((resolve) => { release = resolve; });
    },
  });
  runner.start();
  now = 30_000;
  runner.run(); await flush();
  assert.deepEqual(runs, ['periodic']);
  assert.deepEqual(served, [30_000], 'the change is served by the resync as it listens, not held to its end');
  release(); await flush();
  runner.stop();
});
