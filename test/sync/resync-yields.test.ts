// A periodic full resync reads the kernel's dumps first (seconds at 50,000 Services). A change
// asked for meanwhile must not wait for the whole resync: it is applied at once, incrementally.
// One that only changes members of existing objects (an endpoint) leaves the read usable (what
// it touched is taken from what was applied); one that adds or removes a virtual server could
// shift the dumps, and the read is started again — a bounded number of times, so drift is still
// repaired while changes keep arriving. Driven by the real runner, with the fake kernel's
// `ipvsadm -Sn` held for as long as the test says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner } from '../../src/apply/exec.ts';
import { silentLog } from '../../src/log.ts';
import { BoundedFrequencyRunner } from '../../src/sync/bounded-runner.ts';
import { MAX_READ_RESTARTS } from '../../src/sync/proxier.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import type { FakeKernel } from '../fakes/fake-kernel.ts';
import { flush } from '../support/fake-clock.ts';
import { rig, type Rig } from './proxier-rig.ts';

const PERIOD_MS = 30_000;

/** `ipvsadm -Sn` waits while held, until the test releases the reads waiting. */
class SlowDump {
  held = false;
  reads = 0;
  #waiting: (() => void)[] = [];

  runner(kernel: FakeKernel): Runner {
    return {
      run: async (argv, opts) => {
        if (argv[0] === 'ipvsadm' && argv[1] === '-Sn') {
          this.reads++;
          if (this.held) await new Promise<void>((resolve) => { this.#waiting.push(resolve); });
        }
        return kernel.run(argv, opts);
      },
    };
  }

  /** The reads waiting now complete (with the kernel as it is now); later ones wait again. */
  releaseWaiting(): void {
    const w = this.#waiting;
    this.#waiting = [];
    w.forEach((f) => { f(); });
  }

  get waiting(): number { return this.#waiting.length; }
}

function setup(): { r: Rig; dump: SlowDump; runner: BoundedFrequencyRunner } {
  const dump = new SlowDump();
  const r = rig({ runner: (k) => dump.runner(k) });
  const runner = new BoundedFrequencyRunner({
    fn: (reason, signal) => r.proxier.sync(reason, signal),
    minIntervalMs: 0, maxIntervalMs: PERIOD_MS, burst: 2, clock: r.clock, log: silentLog,
  });
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  r.cluster.setService('d/web', makeService('d', 'web', { clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80 }] }));
  r.cluster.setService('d/api', makeService('d', 'api', { clusterIP: '10.96.0.21', ports: [{ name: 'p', port: 80 }] }));
  setEndpoints(r, 'web', 1);
  setEndpoints(r, 'api', 1);
  return { r, dump, runner };
}

function setEndpoints(r: Rig, name: string, n: number): void {
  r.cluster.setSlice(`d/${name}-x`, makeSlice('d', name, [ep(`10.244.1.${n}`, { node: 'node-a' })], [{ name: 'p', port: 8080 }], { name: `${name}-x` }));
}

const ipvs = (r: Rig): string => r.kernel.admin(['ipvsadm', '-Sn']);
const periodicDone = (r: Rig): number => r.reports.filter((x) => x.reason === 'periodic' && x.error === undefined).length;

test('an endpoint change asked for while a periodic resync waits on the kernel dumps is applied before the resync ends', async () => {
  const { r, dump, runner } = setup();
  runner.start();
  runner.run();
  await r.clock.advance(0);
  assert.match(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.1:8080/);

  dump.held = true;
  await r.clock.advance(PERIOD_MS); // the periodic resync starts and waits on `ipvsadm -Sn`
  assert.equal(dump.waiting, 1);
  setEndpoints(r, 'web', 2);
  runner.run();
  await flush();
  // Applied while the resync's read is still held: it did not wait for the resync.
  assert.equal(dump.waiting, 1);
  assert.equal(periodicDone(r), 0);
  assert.match(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.2:8080/);
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.1:8080/);
  // And one asked for while the read, now stale, is still running: at once too.
  setEndpoints(r, 'api', 3);
  runner.run();
  await flush();
  assert.equal(periodicDone(r), 0);
  assert.match(ipvs(r), /10\.96\.0\.21:80 -r 10\.244\.1\.3:8080/);

  // Endpoint changes only: the read is not spoiled; the resync completes on it, with nothing
  // left to do (what the changes touched taken from what was applied).
  dump.held = false;
  dump.releaseWaiting();
  await r.clock.advance(0);
  assert.equal(dump.reads, 2, 'the cold sync\'s read and the resync\'s, not started again');
  const periodic = r.reports.filter((x) => x.reason === 'periodic');
  assert.equal(periodic.length, 1);
  assert.equal(periodic[0]?.error, undefined);
  assert.equal(periodic[0]?.full, true);
  assert.equal(periodic.at(0)?.result?.repairs, 0);
  assert.match(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.2:8080/);
  assert.match(ipvs(r), /10\.96\.0\.21:80 -r 10\.244\.1\.3:8080/);
  runner.stop();
});

test('drift is repaired within the resync while new Services keep arriving during its reads', async () => {
  const { r, dump, runner } = setup();
  runner.start();
  runner.run();
  await r.clock.advance(0);
  r.kernel.admin(['ipvsadm', '-D', '-t', '10.96.0.21:80']); // drift: someone removed a virtual server
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.21/);

  dump.held = true;
  await r.clock.advance(PERIOD_MS);
  // A new virtual server during every read (it spoils the read), more of them than the restarts
  // allowed: the resync still ends.
  const changes = MAX_READ_RESTARTS + 3;
  for (let i = 0; i < changes; i++) {
    r.cluster.setService(`d/n${String(i)}`, makeService('d', `n${String(i)}`, { clusterIP: `10.96.1.${String(i)}`, ports: [{ name: 'p', port: 80 }] }));
    setEndpoints(r, 'web', 10 + i);
    runner.run();
    await flush();
    dump.releaseWaiting();
    await flush();
  }
  dump.held = false;
  const whileChanging = r.reports.find((x) => x.reason === 'periodic');
  assert.ok(whileChanging !== undefined, 'the periodic resync ended while changes were still arriving');
  assert.equal(whileChanging.error, undefined);
  assert.ok((whileChanging.result?.repairs ?? 0) > 0, 'the resync counted the repair');
  // Served during the resync's first reads: those changes did not wait for it.
  assert.ok(r.reports.indexOf(whileChanging) >= MAX_READ_RESTARTS + 1);
  dump.releaseWaiting();
  await r.clock.advance(0);
  assert.match(ipvs(r), /-A -t 10\.96\.0\.21:80/);
  for (let i = 0; i < changes; i++) assert.match(ipvs(r), new RegExp(`-A -t 10\\.96\\.1\\.${String(i)}:80 `));
  assert.ok(dump.reads <= 1 + MAX_READ_RESTARTS + 2, `reads: ${String(dump.reads)}`);
  assert.match(ipvs(r), new RegExp(`10\\.96\\.0\\.20:80 -r 10\\.244\\.1\\.${String(10 + changes - 1)}:8080`));
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.1:8080/);
  runner.stop();
});

test('drift is repaired by a resync whose one read saw endpoint changes applied during it', async () => {
  const { r, dump, runner } = setup();
  runner.start();
  runner.run();
  await r.clock.advance(0);
  r.kernel.admin(['ipvsadm', '-D', '-t', '10.96.0.21:80']); // drift

  dump.held = true;
  await r.clock.advance(PERIOD_MS);
  for (let i = 0; i < 5; i++) {
    setEndpoints(r, 'web', 20 + i);
    runner.run();
    await flush();
    assert.match(ipvs(r), new RegExp(`10\\.96\\.0\\.20:80 -r 10\\.244\\.1\\.${String(20 + i)}:8080`), 'applied during the read');
  }
  assert.equal(periodicDone(r), 0);
  dump.held = false;
  dump.releaseWaiting();
  await r.clock.advance(0);
  const resync = r.reports.find((x) => x.reason === 'periodic');
  assert.equal(resync?.error, undefined);
  assert.equal(resync?.result?.repairs, 2); // the virtual server and its real server, nothing for the changed one
  assert.equal(dump.reads, 2, 'one read for the resync');
  assert.match(ipvs(r), /-A -t 10\.96\.0\.21:80/);
  assert.match(ipvs(r), /10\.96\.0\.20:80 -r 10\.244\.1\.24:8080/);
  runner.stop();
});
