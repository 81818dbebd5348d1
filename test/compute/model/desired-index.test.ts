// The incremental index must always equal a from-scratch assemble, and report exactly what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../../src/compute/model/compute-desired.ts';
import { DesiredIndex } from '../../../src/compute/model/desired-index.ts';
import { formatIpvsadmSave } from '../../../src/tools/ipvsadm.ts';
import type { ServiceState } from '../../../src/compute/model/render.ts';
import { ctx, shapedService } from '../shapes.ts';

const state = shapedService;

const text = (d: ReturnType<DesiredIndex['snapshot']>['desired']) => ({
  ipvs: formatIpvsadmSave([...d.virtualServers.values()]).split('\n').sort(),
  sets: d.ipsets.map((s) => `${s.name}:${[...s.entries].sort().join(' ')}`).sort(),
  addresses: d.addresses.map((a) => a.text).sort(),
  rules: d.iptables.map((t) => [...t.nat.rules, ...t.filter.rules]),
  members: new Map(d.ipsets.map((s) => [s.name, new Set(s.entries)])),
});

test('after any sequence of updates the index equals a from-scratch assemble, and its changes name what differs', () => {
  let seed = 7;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  const index = new DesiredIndex(ctx);
  const current = new Map<string, ServiceState>();
  let before = text(index.snapshot().desired);
  for (let step = 0; step < 200; step++) {
    const i = 1 + rand(12);
    const key = `d/s${i}`;
    const next = rand(5) === 0 ? undefined : state(i, rand(4), rand(4));
    index.set(key, next);
    if (next === undefined) current.delete(key); else current.set(key, next);
    const { desired, changes } = index.snapshot();
    const fresh = assemble([...current.values()], ctx).desired;
    const now = text(desired);
    assert.deepEqual(now, text(fresh), `step ${step}`);
    // Every virtual server that differs from the previous snapshot is reported as changed.
    const prevVs = new Set(before.ipvs.filter((l) => l.startsWith('-A ')));
    const diffVs = now.ipvs.filter((l) => l.startsWith('-A ') && !prevVs.has(l)).map((l) => l.split(' ').slice(1, 3).join(' '));
    for (const id of diffVs) {
      const [flag, hostPort] = id.split(' ');
      const proto = flag === '-t' ? 'TCP' : flag === '-u' ? 'UDP' : 'SCTP';
      assert.ok(changes.virtualServers.has(`${proto}/${hostPort ?? ''}`), `step ${step}: ${id} changed but not reported`);
    }
    // Set members and addresses: the previous state plus the reported deltas is the new state.
    const replayed = new Map(before.members);
    for (const [name, d] of changes.sets) {
      const m = new Set(replayed.get(name));
      for (const e of d.removed) assert.ok(m.delete(e), `step ${step}: ${name} removes ${e}, which it did not hold`);
      for (const e of d.added) { assert.ok(!m.has(e), `step ${step}: ${name} adds ${e} twice`); m.add(e); }
      replayed.set(name, m);
    }
    assert.deepEqual(replayed, now.members, `step ${step}: set deltas`);
    const addrs = new Set(before.addresses);
    for (const ip of changes.addresses.removed) assert.ok(addrs.delete(ip.text), `step ${step}: address ${ip.text}`);
    for (const ip of changes.addresses.added) { assert.ok(!addrs.has(ip.text)); addrs.add(ip.text); }
    assert.deepEqual([...addrs].sort(), now.addresses, `step ${step}: address delta`);
    if (JSON.stringify(now.rules) !== JSON.stringify(before.rules)) assert.ok(changes.iptables, `step ${step}: rules`);
    before = now;
  }
});

test('a change to one Service reports only its own virtual servers and sets', () => {
  const index = new DesiredIndex(ctx);
  for (let i = 1; i <= 50; i++) index.set(`d/s${i}`, state(i, 0, 2));
  index.snapshot();
  index.set('d/s7', state(7, 0, 3));
  const { changes } = index.snapshot();
  assert.deepEqual([...changes.virtualServers], ['TCP/10.96.0.7:80']);
  assert.deepEqual([...changes.sets], [['KUBE-LOOP-BACK', { added: ['10.244.0.3,tcp:8080,10.244.0.3'], removed: [] }]], 'only the new local endpoint\'s hairpin member');
  assert.deepEqual(changes.addresses, { added: [], removed: [] });
  assert.equal(changes.iptables, false);
});

test('a kept snapshot does not change when the index moves on (a reader may hold it past the next sync)', () => {
  const index = new DesiredIndex(ctx);
  index.set('d/s1', state(1, 2, 1));
  index.set('d/s2', state(2, 1, 1));
  const kept = index.snapshot().desired;
  const before = text(kept);
  const createOptions = kept.ipsets.map((s) => s.createOptions);
  assert.ok(before.ipvs.length > 1 && before.addresses.length > 0, 'the snapshot holds something');
  // The next sync: one Service gone, one changed, one new; then its snapshot.
  index.set('d/s1', undefined);
  index.set('d/s2', state(2, 3, 2));
  index.set('d/s3', state(3, 2, 0));
  const next = index.snapshot().desired;
  assert.notDeepEqual(text(next), before, 'the index did change');
  assert.deepEqual(text(kept), before);
  assert.deepEqual(kept.ipsets.map((s) => s.createOptions), createOptions);
  // And the same after further changes with no snapshot taken.
  index.set('d/s2', undefined);
  assert.deepEqual(text(kept), before);
});
