// The prober's state machine on a fake clock with a scripted probe: thresholds, jitter, the
// concurrency limit, targets coming and going. (Real sockets: health-probe.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEALTH_CHECK_DEFAULTS, type HealthCheckSpec, type ProbeTarget, type ServiceProbes } from '../../src/compute/model/health-check.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { HealthChecker, type HealthTransition } from '../../src/observe/health-checker.ts';
import type { ProbeRequest } from '../../src/observe/health-probe.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { prng } from '../support/prng.ts';

const ip = (s: string): Ip => parseIp(s) ?? assert.fail(s);
const spec = (o: Partial<HealthCheckSpec> = {}): HealthCheckSpec => ({ kind: 'tcp', ...HEALTH_CHECK_DEFAULTS, ...o });
const probes = (s: HealthCheckSpec, ...ips: string[]): ServiceProbes =>
  ({ spec: s, targets: new Map(ips.map((a): [string, ProbeTarget] => [a, { ip: ip(a), port: 8080 }])) });

interface Harness {
  readonly clock: FakeClock;
  readonly checker: HealthChecker;
  readonly changed: string[];
  readonly transitions: HealthTransition[];
  readonly probed: { at: number; ip: string }[];
  readonly logs: string[];
  /** Addresses whose probes fail. */
  readonly failing: Set<string>;
}

function harness(o: { maxInFlight?: number; probe?: (r: ProbeRequest) => Promise<boolean>; random?: () => number } = {}): Harness {
  const clock = new FakeClock();
  const h: Omit<Harness, 'checker'> = { clock, changed: [], transitions: [], probed: [], logs: [], failing: new Set() };
  const log: Log = { ...silentLog, info: (_o, m) => { h.logs.push(m); }, warn: (_o, m) => { h.logs.push(m); } };
  const checker = new HealthChecker({
    clock, log, changed: (s) => { h.changed.push(s); },
    random: o.random ?? prng(7),
    ...(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight }),
    transition: (t) => { h.transitions.push(t); },
    probe: o.probe ?? ((r) => { h.probed.push({ at: clock.now(), ip: r.ip.text }); return Promise.resolve(!h.failing.has(r.ip.text)); }),
  });
  return { ...h, checker };
}

/** Advances the clock until `ip` has been probed `n` more times. */
async function probesOf(h: Harness, ip: string, n: number): Promise<void> {
  const want = h.probed.filter((p) => p.ip === ip).length + n;
  for (let i = 0; i < 1000 && h.probed.filter((p) => p.ip === ip).length < want; i++) await h.clock.advance(10);
}

test('failureThreshold failures in a row hold an endpoint down; successThreshold successes bring it back', async () => {
  const h = harness();
  const a = '10.244.1.5';
  h.checker.setTargets('shop/web', probes(spec(), a, '10.244.2.6'));
  await h.clock.advance(5000);
  assert.equal(h.checker.down('shop/web'), undefined);
  h.failing.add(a);
  await probesOf(h, a, 2);
  assert.equal(h.checker.down('shop/web'), undefined, 'two failures are not enough');
  await probesOf(h, a, 1);
  assert.deepEqual([...(h.checker.down('shop/web') ?? [])], [a]);
  assert.deepEqual([...h.checker.takeChanges()], ['shop/web']);
  assert.deepEqual([...h.checker.takeChanges()], [], 'taken once');
  assert.deepEqual(h.changed, ['shop/web']);
  const out = h.transitions[0] ?? assert.fail('no transition');
  assert.equal(out.down, true);
  // Time from the first failure to down: two intervals (± 5 % each).
  const failing = h.clock.now() - (out.firstFailureAt ?? NaN);
  assert.ok(failing >= 1900 && failing <= 2120, String(failing));
  assert.match(h.logs.join('\n'), /endpoint 10\.244\.1\.5 of Service shop\/web failed 3 checks in a row; out of rotation/);
  // One success, then a failure: the success count starts over.
  h.failing.delete(a);
  await probesOf(h, a, 1);
  h.failing.add(a);
  await probesOf(h, a, 1);
  h.failing.delete(a);
  await probesOf(h, a, 1);
  assert.ok(h.checker.down('shop/web')?.has(a), 'one success after a failure: still down');
  await probesOf(h, a, 1);
  assert.equal(h.checker.down('shop/web'), undefined);
  assert.deepEqual(h.changed, ['shop/web', 'shop/web']);
  assert.match(h.logs.join('\n'), /endpoint 10\.244\.1\.5 of Service shop\/web passed 2 checks in a row; back in rotation/);
});

test('thresholds of 1: one failure takes it out, one success brings it back', async () => {
  const h = harness();
  h.checker.setTargets('shop/web', probes(spec({ failureThreshold: 1, successThreshold: 1, intervalMs: 200 }), '10.244.1.5'));
  h.failing.add('10.244.1.5');
  await h.clock.advance(200);
  assert.ok(h.checker.down('shop/web')?.has('10.244.1.5'));
  h.failing.clear();
  await h.clock.advance(220);
  assert.equal(h.checker.down('shop/web'), undefined);
});

test('jitter: targets added together are first probed spread over one interval, then about one interval apart', async () => {
  const h = harness({ random: prng(42) });
  const ips = Array.from({ length: 200 }, (_, i) => `10.244.${i >> 8}.${i & 255}`);
  h.checker.setTargets('shop/web', probes(spec(), ...ips));
  await h.clock.advance(1000);
  const first = h.probed.map((p) => p.at);
  assert.equal(first.length, 200, 'every target probed once in its first interval');
  // In ten 100 ms slices: none empty, none with more than twice its share.
  const slices = Array.from({ length: 10 }, (_, i) => first.filter((t) => t >= i * 100 && t < (i + 1) * 100).length);
  assert.ok(slices.every((n) => n > 0 && n <= 40), slices.join(','));
  await h.clock.advance(10_000);
  const one = h.probed.filter((p) => p.ip === ips[0]).map((p) => p.at);
  const gaps = one.slice(1).map((t, i) => t - (one[i] ?? 0));
  assert.ok(gaps.length >= 9 && gaps.every((g) => g >= 940 && g <= 1060), gaps.join(','));
  assert.ok(new Set(gaps).size > 1, 'the gaps vary: targets do not stay in lockstep');
});

test('bounded concurrency: never more than maxInFlight probes at once; the rest wait their turn and all are probed', async () => {
  let inFlight = 0;
  let peak = 0;
  let done = 0;
  const seen = new Set<string>();
  const h = harness({
    maxInFlight: 16,
    // Every probe takes 300 ms (a silent endpoint up to its timeout).
    probe: (r) => {
      seen.add(r.ip.text);
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise((resolve) => { h2.clock.setTimer(() => { inFlight--; done++; resolve(true); }, 300); });
    },
  });
  const h2 = h;
  const ips = Array.from({ length: 100 }, (_, i) => `10.244.0.${i + 1}`);
  h.checker.setTargets('shop/web', probes(spec({ intervalMs: 1000 }), ...ips));
  await h.clock.advance(3000);
  assert.equal(peak, 16);
  assert.ok(h.checker.inFlight <= 16);
  // 16 slots busy from the first due probe on: about 16 × 2.7 s / 0.3 s probes, every target's turn came.
  assert.ok(done >= 130, String(done));
  assert.equal(seen.size, ips.length);
});

test('targets come and go with the renders: a removed endpoint held down is released; an unchanged render keeps counts; a changed check starts over', async () => {
  const h = harness();
  const s = spec({ failureThreshold: 2 });
  h.checker.setTargets('shop/web', probes(s, '10.244.1.5', '10.244.2.6'));
  h.failing.add('10.244.1.5');
  await h.clock.advance(2100);
  assert.ok(h.checker.down('shop/web')?.has('10.244.1.5'));
  h.checker.takeChanges();
  // The same render again (a resync): nothing changes.
  h.checker.setTargets('shop/web', probes(s, '10.244.1.5', '10.244.2.6'));
  assert.ok(h.checker.down('shop/web')?.has('10.244.1.5'));
  assert.deepEqual([...h.checker.takeChanges()], []);
  // Kubernetes marked it not ready (or it went away): no longer probed, no longer held down.
  h.checker.setTargets('shop/web', probes(s, '10.244.2.6'));
  assert.equal(h.checker.down('shop/web'), undefined);
  assert.deepEqual([...h.checker.takeChanges()], ['shop/web']);
  const before = h.probed.filter((p) => p.ip === '10.244.1.5').length;
  await h.clock.advance(3000);
  assert.equal(h.probed.filter((p) => p.ip === '10.244.1.5').length, before, 'not probed any more');
  // A changed check (another threshold) starts over; the annotation removed stops everything.
  h.failing.add('10.244.2.6');
  await h.clock.advance(2100);
  assert.ok(h.checker.down('shop/web')?.has('10.244.2.6'));
  h.checker.setTargets('shop/web', probes(spec({ failureThreshold: 5 }), '10.244.2.6'));
  assert.equal(h.checker.down('shop/web'), undefined);
  h.checker.setTargets('shop/web', undefined);
  assert.equal(h.checker.targets, 0);
  const n = h.probed.length;
  await h.clock.advance(5000);
  assert.equal(h.probed.length, n);
  h.checker.stop();
  assert.equal(h.clock.pendingTimers, 0, 'no timer left behind');
});
