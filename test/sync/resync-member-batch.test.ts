// A change that only changes members (real servers of existing virtual servers) may be applied
// while a periodic resync reads the kernel. Its batch still in flight when the read ends must
// not spoil the read (which would make the resync read the whole kernel again): once the batch
// is done, what it touched is taken from what was applied. If it fails, the read is spoilt and
// nothing half-known survives. Driven by the real runner on the fake kernel, with the dump and
// the ipvsadm batches held by the test so that they overlap as they would at 50,000 Services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../../src/apply/exec.ts';
import { silentLog } from '../../src/log.ts';
import { BoundedFrequencyRunner } from '../../src/sync/bounded-runner.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import type { FakeKernel } from '../fakes/fake-kernel.ts';
import { rig, type Rig } from './proxier-rig.ts';

const PERIOD_MS = 30_000;
const SERVICES = 50;

/** Holds `ipvsadm -Sn` (the read) and `ipvsadm -R` (a batch) while told to, and counts reads. */
class Gates {
  holdDump = false;
  holdBatch = false;
  dumps = 0;
  readonly #waiting = { dump: [] as (() => void)[], batch: [] as (() => void)[] };

  runner(kernel: FakeKernel): Runner {
    return {
      run: async (argv, opts) => {
        if (argv[0] === 'ipvsadm' && argv[1] === '-Sn') {
          this.dumps++;
          if (this.holdDump) await new Promise<void>((resolve) => { this.#waiting.dump.push(resolve); });
        }
        if (argv[0] === 'ipvsadm' && argv[1] === '-R' && this.holdBatch) await new Promise<void>((resolve) => { this.#waiting.batch.push(resolve); });
        return kernel.run(argv, opts);
      },
    };
  }

  waiting(k: 'dump' | 'batch'): number { return this.#waiting[k].length; }

  release(k: 'dump' | 'batch'): void {
    if (k === 'dump') this.holdDump = false;
    else this.holdBatch = false;
    this.#waiting[k].splice(0).forEach((f) => { f(); });
  }
}

const vip = (i: number): string => `10.96.0.${String(i)}`;
const turn = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });
const ipvs = (r: Rig): string => r.kernel.admin(['ipvsadm', '-Sn']);
const has = (r: Rig, i: number, n: number): boolean => ipvs(r).includes(`-a -t ${vip(i)}:80 -r 10.244.${String(n)}.${String(i)}:8080 `);
const periodic = (r: Rig): Rig['reports'] => r.reports.filter((x) => x.reason === 'periodic');

function setEndpoint(r: Rig, i: number, n: number): void {
  r.cluster.setSlice(`d/s${String(i)}-x`, makeSlice('d', `s${String(i)}`, [ep(`10.244.${String(n)}.${String(i)}`, { node: 'node-a' })], [{ name: 'p', port: 8080 }], { name: `s${String(i)}-x` }));
}

/**
 * The cold sync fills the kernel; the periodic resync starts and its read is held; a
 * member-only change is asked for and its batch is held too: both in flight at once.
 */
async function readAndBatchInFlight(): Promise<{ r: Rig; gates: Gates; runner: BoundedFrequencyRunner }> {
  const gates = new Gates();
  const r = rig({ runner: (k) => gates.runner(k), sliceMs: 0 });
  const runner = new BoundedFrequencyRunner({
    fn: (reason, signal) => r.proxier.sync(reason, signal),
    minIntervalMs: 0, maxIntervalMs: PERIOD_MS, burst: 2, clock: r.clock, log: silentLog,
  });
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  for (let i = 0; i < SERVICES; i++) {
    r.cluster.setService(`d/s${String(i)}`, makeService('d', `s${String(i)}`, { clusterIP: vip(i), ports: [{ name: 'p', port: 80 }] }));
    setEndpoint(r, i, 1);
  }
  runner.start();
  runner.run();
  await r.clock.advance(0);
  assert.ok(has(r, 7, 1), 'the cold sync programmed the kernel');

  gates.holdDump = true;
  gates.holdBatch = true;
  gates.dumps = 0;
  await r.clock.advance(PERIOD_MS);
  assert.equal(gates.waiting('dump'), 1, 'the resync reads the kernel');
  setEndpoint(r, 7, 2); // only members change: 10.244.1.7 out, 10.244.2.7 in
  runner.run();
  for (let n = 0; n < 50 && gates.waiting('batch') === 0; n++) await turn();
  assert.equal(gates.waiting('batch'), 1, 'the change is applied while the resync reads');
  return { r, gates, runner };
}

async function untilResyncEnds(r: Rig): Promise<void> {
  for (let n = 0; n < 5000 && periodic(r).length === 0; n++) await turn();
}

test('a member-only batch still in flight when the resync\'s read ends does not make the resync read again', async () => {
  const { r, gates, runner } = await readAndBatchInFlight();
  gates.release('dump'); // the read ends while the batch is in flight
  for (let n = 0; n < 20; n++) await turn();
  gates.release('batch');
  await untilResyncEnds(r);

  const resync = periodic(r)[0];
  assert.ok(resync !== undefined, 'the resync ended');
  assert.equal(resync.error, undefined);
  assert.equal(gates.dumps, 1, 'one read of the kernel: the batch in flight did not spoil it');
  assert.equal(resync.result?.repairs, 0, 'the change is not taken for drift');
  assert.ok(has(r, 7, 2) && !has(r, 7, 1), 'the change is in the kernel');
  runner.stop();
});

test('a member-only batch that fails after the resync\'s read ended spoils the read: the resync reads again and the kernel ends right', async () => {
  const { r, gates, runner } = await readAndBatchInFlight();
  gates.release('dump');
  for (let n = 0; n < 20; n++) await turn();
  r.kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'injected failure' }); // the held batch's
  gates.release('batch');
  await untilResyncEnds(r);
  await r.clock.advance(0);

  const failed = r.reports.find((x) => x.reason === 'requested' && x.error !== undefined);
  const resync = periodic(r)[0];
  assert.ok(failed !== undefined, 'the change\'s batch failed');
  assert.ok(resync !== undefined, 'the resync ended');
  assert.equal(resync.error, undefined);
  assert.ok(gates.dumps >= 2, `the kernel was read again after the failure (reads: ${String(gates.dumps)})`);
  for (let n = 0; n < 50 && !has(r, 7, 2); n++) await r.clock.advance(1000);
  assert.ok(has(r, 7, 2) && !has(r, 7, 1), 'the change is in the kernel in the end');
  runner.stop();
});
