// After its read, a periodic resync parses and verifies the dumps a slice at a time (seconds in
// one stretch at 50,000 Services when nothing is recorded yet: the first resync after a cold
// sync that filled the kernel). A change asked for meanwhile pauses it and is applied at once;
// the verification then goes on over the same read. Drift is still repaired by that resync, and
// a batch that fails meanwhile leaves nothing half-known. Driven by the real runner on the fake
// kernel, a slice being one unit of work (sliceMs 0) so that the parse spans many turns of the
// event loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../../src/apply/exec.ts';
import { silentLog } from '../../src/log.ts';
import { BoundedFrequencyRunner } from '../../src/sync/bounded-runner.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import type { FakeKernel } from '../fakes/fake-kernel.ts';
import { rig, type Rig } from './proxier-rig.ts';

const PERIOD_MS = 30_000;
const SERVICES = 400;

/** `ipvsadm -Sn` waits while held, until the test releases it. */
class HeldDump {
  held = false;
  #waiting: (() => void)[] = [];

  runner(kernel: FakeKernel): Runner {
    return {
      run: async (argv, opts) => {
        if (argv[0] === 'ipvsadm' && argv[1] === '-Sn' && this.held) await new Promise<void>((resolve) => { this.#waiting.push(resolve); });
        return kernel.run(argv, opts);
      },
    };
  }

  release(): void {
    this.held = false;
    const w = this.#waiting;
    this.#waiting = [];
    w.forEach((f) => { f(); });
  }

  get waiting(): number { return this.#waiting.length; }
}

const vip = (i: number): string => `10.96.${String(i >> 8)}.${String(i & 255)}`;

function setEndpoint(r: Rig, i: number, n: number): void {
  r.cluster.setSlice(`d/s${String(i)}-x`, makeSlice('d', `s${String(i)}`, [ep(`10.244.${String(n)}.${String(i & 255)}`, { node: 'node-a' })], [{ name: 'p', port: 8080 }], { name: `s${String(i)}-x` }));
}

function setup(): { r: Rig; dump: HeldDump; runner: BoundedFrequencyRunner } {
  const dump = new HeldDump();
  const r = rig({ runner: (k) => dump.runner(k), sliceMs: 0 });
  const runner = new BoundedFrequencyRunner({
    fn: (reason, signal) => r.proxier.sync(reason, signal),
    minIntervalMs: 0, maxIntervalMs: PERIOD_MS, burst: 2, clock: r.clock, log: silentLog,
  });
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  for (let i = 0; i < SERVICES; i++) {
    r.cluster.setService(`d/s${String(i)}`, makeService('d', `s${String(i)}`, { clusterIP: vip(i), ports: [{ name: 'p', port: 80 }] }));
    setEndpoint(r, i, 1);
  }
  return { r, dump, runner };
}

/** One turn of the event loop: one slice of the verification at most. */
const turn = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });
const ipvs = (r: Rig): string => r.kernel.admin(['ipvsadm', '-Sn']);
const periodic = (r: Rig): Rig['reports'] => r.reports.filter((x) => x.reason === 'periodic');
const has = (r: Rig, i: number, n: number): boolean => ipvs(r).includes(`-a -t ${vip(i)}:80 -r 10.244.${String(n)}.${String(i & 255)}:8080 `);

/** The cold sync fills the kernel; the periodic resync then starts and its read is held. */
async function resyncHeld(): Promise<{ r: Rig; dump: HeldDump; runner: BoundedFrequencyRunner }> {
  const s = setup();
  s.runner.start();
  s.runner.run();
  await s.r.clock.advance(0);
  assert.ok(has(s.r, 7, 1));
  s.dump.held = true;
  await s.r.clock.advance(PERIOD_MS);
  assert.equal(s.dump.waiting, 1);
  return s;
}

async function untilResyncEnds(r: Rig): Promise<void> {
  for (let n = 0; n < 5000 && periodic(r).length === 0; n++) await turn();
}

test('an endpoint change asked for while a resync parses its read (not reads) is in the kernel before the resync ends', async () => {
  const { r, dump, runner } = await resyncHeld();
  dump.release();
  await turn(); // the read is in; its verification has begun
  assert.equal(periodic(r).length, 0);
  setEndpoint(r, 7, 2);
  runner.run();
  for (let n = 0; n < 5 && !has(r, 7, 2); n++) await turn();
  assert.ok(has(r, 7, 2), 'the change is in the kernel');
  assert.equal(periodic(r).length, 0, 'applied while the resync still parses');

  await untilResyncEnds(r);
  const resync = periodic(r)[0];
  assert.ok(resync !== undefined);
  assert.equal(resync.error, undefined);
  assert.equal(resync.result?.repairs, 0);
  // The first resync after the cold sync recorded what it verified: its sync parsed only the
  // block the change made stale, not the 400.
  const cost = resync.result.read;
  assert.ok(cost !== undefined);
  assert.equal(cost.ipvsBlocks, SERVICES);
  assert.ok(cost.ipvsParsed <= 1, `parsed ${String(cost.ipvsParsed)}`);
  assert.ok(has(r, 7, 2) && !has(r, 7, 1));
  runner.stop();
});

test('the first resync after a cold sync records as it verifies: its sync parses only a drifted block, and repairs it', async () => {
  const { r, dump, runner } = await resyncHeld();
  r.kernel.admin(['ipvsadm', '-e', '-t', `${vip(9)}:80`, '-r', '10.244.1.9:8080', '-m', '-w', '0']); // drift
  dump.release();
  await untilResyncEnds(r);
  const resync = periodic(r)[0];
  assert.ok(resync !== undefined);
  assert.equal(resync.error, undefined);
  assert.equal(resync.result?.read?.ipvsParsed, 1);
  assert.equal(resync.result.repairs, 1);
  assert.match(ipvs(r), new RegExp(`-a -t ${vip(9).replaceAll('.', '\\.')}:80 -r 10\\.244\\.1\\.9:8080 -m -w 1`));
  runner.stop();
});

test('drift is repaired by a resync during whose parse changes keep arriving, and the resync ends', async () => {
  const { r, dump, runner } = await resyncHeld();
  r.kernel.admin(['ipvsadm', '-D', '-t', `${vip(5)}:80`]); // drift: a virtual server deleted
  r.kernel.admin(['ipvsadm', '-e', '-t', `${vip(9)}:80`, '-r', '10.244.1.9:8080', '-m', '-w', '0']); // and a weight
  dump.release();
  await turn();
  const before = r.reports.length;
  // A change at every turn of the event loop, for as long as the resync runs (bounded here).
  let changes = 0;
  for (; changes < 2000 && periodic(r).length === 0; changes++) {
    setEndpoint(r, 20 + (changes % 300), 2);
    runner.run();
    await turn();
  }
  const resync = periodic(r)[0];
  assert.ok(resync !== undefined, 'the resync ended while changes kept arriving');
  assert.equal(resync.error, undefined);
  assert.ok((resync.result?.repairs ?? 0) >= 2, `repairs ${String(resync.result?.repairs)}`);
  const served = r.reports.slice(before, r.reports.indexOf(resync)).filter((x) => x.reason === 'requested' && x.error === undefined);
  assert.ok(served.length >= 3, `changes applied during the parse: ${String(served.length)}`);
  await r.clock.advance(0);
  assert.match(ipvs(r), new RegExp(`-A -t ${vip(5).replaceAll('.', '\\.')}:80 `));
  assert.match(ipvs(r), new RegExp(`-a -t ${vip(9).replaceAll('.', '\\.')}:80 -r 10\\.244\\.1\\.9:8080 -m -w 1`));
  for (let c = 0; c < Math.min(changes, 300); c++) assert.ok(has(r, 20 + c, 2), `change ${String(c)} applied`);
  runner.stop();
});

test('a batch that fails while the resync is paused leaves nothing half-known: the resync parses everything and repairs', async () => {
  const { r, dump, runner } = await resyncHeld();
  r.kernel.admin(['ipvsadm', '-e', '-t', `${vip(9)}:80`, '-r', '10.244.1.9:8080', '-m', '-w', '0']); // drift
  dump.release();
  await turn();
  r.kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'injected failure' });
  setEndpoint(r, 7, 2);
  runner.run();
  await untilResyncEnds(r);
  const failed = r.reports.find((x) => x.reason === 'requested' && x.error !== undefined);
  const resync = periodic(r)[0];
  assert.ok(failed !== undefined && resync !== undefined);
  assert.ok(r.reports.indexOf(failed) < r.reports.indexOf(resync), 'the change was tried during the resync');
  assert.equal(resync.error, undefined);
  // Nothing recorded survived the failure: every block read again and parsed.
  assert.equal(resync.result?.read?.ipvsParsed, resync.result?.read?.ipvsBlocks);
  // Repairs are not counted after a failure (nothing known to compare with), but made.
  assert.ok(has(r, 7, 2) && !has(r, 7, 1));
  assert.match(ipvs(r), new RegExp(`-a -t ${vip(9).replaceAll('.', '\\.')}:80 -r 10\\.244\\.1\\.9:8080 -m -w 1`));
  runner.stop();
});

/** The cold sync fills the kernel; `drift` then changes it; the first periodic resync runs to its end. */
async function firstResyncAfter(drift: (r: Rig) => void): Promise<{ r: Rig; runner: BoundedFrequencyRunner }> {
  const { r, runner } = setup();
  runner.start();
  runner.run();
  await r.clock.advance(0);
  assert.ok(has(r, 7, 1));
  drift(r);
  await r.clock.advance(PERIOD_MS);
  await untilResyncEnds(r);
  return { r, runner };
}

test('the first resync after a cold sync parses no virtual server: each block is the bytes ipvsadm prints for what was applied', async () => {
  const { r, runner } = await firstResyncAfter(() => undefined);
  const resync = periodic(r)[0];
  assert.ok(resync !== undefined);
  assert.equal(resync.error, undefined);
  const cost = resync.result?.read;
  assert.ok(cost !== undefined);
  assert.equal(cost.verified?.printed, SERVICES, 'every block recorded from what was applied');
  assert.equal(cost.ipvsParsed, 0);
  assert.equal(resync.result?.repairs, 0);
  runner.stop();
});

test('drift made right after a cold sync is repaired by the first resync, which parses only the drifted blocks', async () => {
  const { r, runner } = await firstResyncAfter((k) => {
    const a = (...argv: string[]): void => { k.kernel.admin(['ipvsadm', ...argv]); };
    a('-e', '-t', `${vip(9)}:80`, '-r', '10.244.1.9:8080', '-m', '-w', '0'); // a weight hand-set to 0
    a('-d', '-t', `${vip(10)}:80`, '-r', '10.244.1.10:8080'); // a real server deleted
    a('-a', '-t', `${vip(11)}:80`, '-r', '10.9.9.9:80', '-m', '-w', '1'); // a foreign real server added
    a('-E', '-t', `${vip(12)}:80`, '-s', 'wrr'); // the scheduler changed
    a('-D', '-t', `${vip(13)}:80`); // a virtual server deleted
    k.kernel.admin(['ipset', 'del', 'KUBE-CLUSTER-IP', `${vip(14)},tcp:80`]); // a set member deleted
    k.kernel.admin(['ipset', 'add', 'KUBE-CLUSTER-IP', '10.96.250.1,tcp:80']); // a foreign one added
  });
  const resync = periodic(r)[0];
  assert.ok(resync !== undefined);
  assert.equal(resync.error, undefined);
  // The four drifted blocks left are parsed (the deleted one has no block); the rest recorded as printed.
  assert.equal(resync.result?.read?.verified?.printed, SERVICES - 5);
  assert.ok(resync.result.repairs >= 6, `repairs ${String(resync.result.repairs)}`);
  const dumped = ipvs(r);
  for (const i of [9, 10, 11, 12, 13]) {
    const v = vip(i).replaceAll('.', '\\.');
    assert.match(dumped, new RegExp(`-A -t ${v}:80 -s rr\\n-a -t ${v}:80 -r 10\\.244\\.1\\.${String(i)}:8080 -m -w 1\\n(?!-a)`), `virtual server ${String(i)} as applied`);
  }
  const sets = r.kernel.admin(['ipset', 'save']);
  assert.ok(sets.includes(`add KUBE-CLUSTER-IP ${vip(14)},tcp:80\n`), 'the deleted member is back');
  assert.ok(!sets.includes('10.96.250.1,tcp:80'), 'the foreign member is gone');
  runner.stop();
});

