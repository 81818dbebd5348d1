// Property-style: random Service changes applied incrementally (the index's member deltas go
// straight to the batches) leave the fake kernel exactly as desired, and a full resync after
// any of them finds nothing to repair — so the dataplane's bookkeeping stays exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { formatIpvsadmSave } from '../../src/tools/ipvsadm.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { DesiredIndex } from '../../src/compute/model/desired-index.ts';
import { silentLog } from '../../src/log.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { ctx, shapedService } from '../compute/shapes.ts';

const state = shapedService;

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '').sort();

function assertKernelIs(kernel: FakeKernel, d: DesiredState, step: number): void {
  assert.deepEqual(lines(kernel.admin(['ipvsadm', '-Sn'])), lines(formatIpvsadmSave(d.virtualServers.values())), `step ${step}: ipvs`);
  const saved = lines(kernel.admin(['ipset', 'save'])).filter((l) => l.startsWith('add '));
  const want = d.ipsets.flatMap((s) => s.entries.map((e) => `add ${s.name} ${e}`)).sort();
  assert.deepEqual(saved, want, `step ${step}: ipset members`);
  const bound = lines(kernel.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).map((l) => (l.split(/\s+/)[3] ?? '').replace(/\/\d+$/, '')).sort();
  assert.deepEqual(bound, d.addresses.map((ip) => ip.text).sort(), `step ${step}: kube-ipvs0`);
}

test('random incremental syncs leave the kernel as desired; a full resync then repairs nothing', async () => {
  let seed = 11;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const kernel = new FakeKernel();
  const dp = new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [], log: silentLog });
  const index = new DesiredIndex(ctx);
  for (let i = 1; i <= 8; i++) index.set(`d/s${i}`, state(i, i, 3));
  await dp.sync(index.snapshot().desired, { full: true });
  for (let step = 0; step < 150; step++) {
    // One to three Services change per sync: added, reshaped, rescaled or deleted.
    for (let c = 0; c <= rand(3); c++) {
      const i = 1 + rand(14);
      index.set(`d/s${i}`, rand(5) === 0 ? undefined : state(i, rand(4), rand(5)));
    }
    const { desired, changes } = index.snapshot();
    const r = await dp.sync(desired, { full: false, changes });
    assert.equal(r.full, false, `step ${step}`);
    assertKernelIs(kernel, desired, step);
    if (step % 10 === 9) {
      const full = await dp.sync(index.snapshot().desired, { full: true });
      assert.equal(full.repairs, 0, `step ${step}: repairs`);
      assert.deepEqual(full.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 }, `step ${step}: full resync`);
    }
  }
});
