// Desired table vs the table read back → the operations of one transaction: nothing when equal,
// only the differing elements, a chain rewritten only when its rules differ, a table of another
// shape replaced whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterOps, diffNft, incrementalNft } from '../../../src/compute/diff/nft.ts';
import { DesiredIndex } from '../../../src/compute/model/desired-index.ts';
import { buildNftTable } from '../../../src/compute/model/nft.ts';
import type { ObservedNftTable } from '../../../src/tools/nft.ts';
import { ctx, shapedService } from '../shapes.ts';
import { desiredOf, exampleCluster } from '../nft-example.ts';

const { table } = desiredOf(exampleCluster());
const applied = (): ObservedNftTable => afterOps(undefined, [{ op: 'create-table', table }], table.name)!;

test('no table: one create; the created table needs nothing more', () => {
  assert.deepEqual(diffNft(table, undefined).map((o) => o.op), ['create-table']);
  assert.deepEqual(diffNft(table, applied()), []);
});

test('elements removed or added behind our back are put back, and only those', () => {
  const o = applied();
  const cip = o.sets.get('cluster-ip-v4')!.elements as Set<string>;
  cip.delete('10.96.0.10 . udp . 53');
  cip.add('10.9.9.9 . tcp . 1');
  assert.deepEqual(diffNft(table, o), [
    { op: 'delete-elements', set: 'cluster-ip-v4', elements: ['10.9.9.9 . tcp . 1'] },
    { op: 'add-elements', set: 'cluster-ip-v4', elements: ['10.96.0.10 . udp . 53'] },
  ]);
});

test('a flushed chain or a foreign rule rewrites that chain only', () => {
  const o = applied();
  const chains = o.chains as Map<string, { fingerprints: readonly string[] }>;
  chains.set('services', { fingerprints: [] });
  chains.set('forward', { fingerprints: [...chains.get('forward')!.fingerprints, ''] });
  assert.deepEqual(diffNft(table, o).map((x) => (x.op === 'replace-chain' ? x.chain.name : x.op)), ['services', 'forward']);
});

test('a set of another type, a missing set or a chain on another hook replaces the table in the same transaction', () => {
  const wrongType = applied();
  (wrongType.sets as Map<string, unknown>).set('cluster-ip-v4', { type: ['ipv4_addr'], interval: false, elements: new Set() });
  assert.deepEqual(diffNft(table, wrongType).map((o) => o.op), ['delete-table', 'create-table']);
  const missing = applied();
  (missing.sets as Map<string, unknown>).delete('loop-back-v6');
  assert.deepEqual(diffNft(table, missing).map((o) => o.op), ['delete-table', 'create-table']);
  const hook = applied();
  (hook.chains as Map<string, unknown>).set('filter-input', { base: { type: 'filter', hook: 'input', priority: 10 }, fingerprints: [] });
  assert.deepEqual(diffNft(table, hook).map((o) => o.op), ['delete-table', 'create-table']);
});

test('an incremental sync touches only the changed elements, and replaying it equals a full render', () => {
  const index = new DesiredIndex(ctx);
  for (let i = 1; i <= 30; i++) index.set(`d/s${i}`, shapedService(i, i, 3));
  const first = index.snapshot().desired;
  let known = afterOps(undefined, [{ op: 'create-table', table: buildNftTable(first.ipsets, first.iptables) }], 'kube-ipvs')!;
  index.set('d/s4', shapedService(4, 4, 5)); // two endpoints more, one on this node
  const { desired, changes } = index.snapshot();
  const want = buildNftTable(desired.ipsets, desired.iptables);
  const ops = incrementalNft(want, desired.ipsets, changes.sets, known);
  assert.deepEqual(ops, [{ op: 'add-elements', set: 'loop-back-v4', elements: ['10.244.0.5 . tcp . 8080 . 10.244.0.5'] }]);
  known = afterOps(known, ops, 'kube-ipvs')!;
  assert.deepEqual(diffNft(want, known), []);
  // A Service removed: its elements go, shared ones stay.
  index.set('d/s2', undefined);
  const next = index.snapshot();
  const want2 = buildNftTable(next.desired.ipsets, next.desired.iptables);
  const ops2 = incrementalNft(want2, next.desired.ipsets, next.changes.sets, known);
  assert.ok(ops2.every((o) => o.op === 'delete-elements' || o.op === 'add-elements'));
  assert.deepEqual(diffNft(want2, afterOps(known, ops2, 'kube-ipvs')), []);
});
