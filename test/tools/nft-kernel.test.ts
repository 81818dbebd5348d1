// The nftables backend's scripts against the REAL nft and kernel, each run in a fresh network
// namespace (test/support/nft.ts): `nft -c` makes the kernel validate a script without
// committing it; `nft -f` commits, and `nft -j list table` reads back what the kernel holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterOps, diffNft, incrementalNft } from '../../src/compute/diff/nft.ts';
import { DesiredIndex } from '../../src/compute/model/desired-index.ts';
import { buildNftTable } from '../../src/compute/model/nft.ts';
import { formatNftScript, type NftOp, type NftTable } from '../../src/tools/nft.ts';
import { parseNftJson } from '../../src/tools/nft-json.ts';
import { compute, lbStatus, makeService } from '../compute/builders.ts';
import { ctx, shapedService } from '../compute/shapes.ts';
import { desiredOf, exampleCluster } from '../compute/nft-example.ts';
import { nftInNetns, type NftStep } from '../support/nft.ts';

const create = (t: NftTable): string => formatNftScript(t.name, [{ op: 'create-table', table: t }]);

test('every golden case\'s `plan --output nft` ruleset is accepted by the kernel', () => {
  const root = join(import.meta.dirname, '../golden/cases');
  const cases = readdirSync(root).filter((c) => existsSync(join(root, c, 'nft.golden')));
  assert.ok(cases.length >= 8);
  for (const c of cases) {
    const r = nftInNetns([{ mode: 'check', script: readFileSync(join(root, c, 'nft.golden'), 'utf8') }], { list: false });
    assert.equal(r.status, 0, `${c}: ${r.stderr}`);
    const applied = nftInNetns([{ mode: 'apply', script: readFileSync(join(root, c, 'nft.golden'), 'utf8') }]);
    assert.equal(applied.status, 0, `${c}: ${applied.stderr}`);
  }
});

test('the cold script is checked, applied and read back equal to the desired table (round trip)', () => {
  const { table } = desiredOf(exampleCluster());
  const r = nftInNetns([{ mode: 'check', script: create(table) }, { mode: 'apply', script: create(table) }]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(diffNft(table, parseNftJson(r.stdout, table.name)), []);
});

test('incremental scripts applied one after another leave the kernel equal to the final desired table', () => {
  const index = new DesiredIndex(ctx);
  for (let i = 1; i <= 24; i++) index.set(`d/s${i}`, shapedService(i, i, 3));
  const first = index.snapshot().desired;
  const cold = buildNftTable(first.ipsets, first.iptables);
  let known = afterOps(undefined, [{ op: 'create-table', table: cold }], cold.name)!;
  const steps: NftStep[] = [{ mode: 'apply', script: create(cold) }];
  let seed = 11;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
  let want = cold;
  for (let step = 0; step < 12; step++) {
    const i = 1 + rand(30);
    index.set(`d/s${i}`, rand(4) === 0 ? undefined : shapedService(i, rand(4), rand(6)));
    const { desired, changes } = index.snapshot();
    want = buildNftTable(desired.ipsets, desired.iptables);
    const ops: NftOp[] = incrementalNft(want, desired.ipsets, changes.sets, known);
    if (ops.length === 0) continue;
    const script = formatNftScript(want.name, ops);
    steps.push({ mode: 'check', script }, { mode: 'apply', script });
    known = afterOps(known, ops, want.name)!;
  }
  assert.ok(steps.length > 10);
  const r = nftInNetns(steps);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(diffNft(want, parseNftJson(r.stdout, want.name)), []);
});

test('drift is repaired by one script: flushed chain, deleted elements, a set of another type', () => {
  const { table } = desiredOf(exampleCluster());
  const sabotage = [
    'flush chain inet kube-ipvs services',
    'delete element inet kube-ipvs cluster-ip-v4 { 10.96.0.10 . udp . 53 }',
    'add element inet kube-ipvs node-port-tcp-v4 { 1234 }',
  ].join('\n');
  const r = nftInNetns([{ mode: 'apply', script: create(table) }, { mode: 'apply', script: `${sabotage}\n` }]);
  assert.equal(r.status, 0, r.stderr);
  const drifted = parseNftJson(r.stdout, table.name);
  const ops = diffNft(table, drifted);
  assert.deepEqual(ops.map((o) => o.op).sort(), ['add-elements', 'delete-elements', 'replace-chain']);
  const fixed = nftInNetns([{ mode: 'apply', script: create(table) }, { mode: 'apply', script: `${sabotage}\n` }, { mode: 'apply', script: formatNftScript(table.name, ops) }]);
  assert.equal(fixed.status, 0, fixed.stderr);
  assert.deepEqual(diffNft(table, parseNftJson(fixed.stdout, table.name)), []);
  // A set recreated with another type: the whole table is replaced in one transaction.
  const retyped = 'delete chain inet kube-ipvs filter-input\ndelete chain inet kube-ipvs ipvs-filter\ndelete set inet kube-ipvs ipvs-ips-v4\nadd set inet kube-ipvs ipvs-ips-v4 { type inet_service; }\n';
  const r2 = nftInNetns([{ mode: 'apply', script: create(table) }, { mode: 'apply', script: retyped }]);
  assert.equal(r2.status, 0, r2.stderr);
  const ops2 = diffNft(table, parseNftJson(r2.stdout, table.name));
  assert.deepEqual(ops2.map((o) => o.op), ['delete-table', 'create-table']);
  const r3 = nftInNetns([{ mode: 'apply', script: create(table) }, { mode: 'apply', script: retyped }, { mode: 'apply', script: formatNftScript(table.name, ops2) }]);
  assert.equal(r3.status, 0, r3.stderr);
  assert.deepEqual(diffNft(table, parseNftJson(r3.stdout, table.name)), []);
});

test('a failed transaction leaves the previous ruleset intact: nothing of it is applied', () => {
  const { table } = desiredOf(exampleCluster());
  const bad = formatNftScript(table.name, [
    { op: 'add-elements', set: 'cluster-ip-v4', elements: ['10.96.99.99 . tcp . 80'] },
    { op: 'replace-chain', chain: { name: 'services', rules: [] } },
    { op: 'add-elements', set: 'no-such-set', elements: ['1'] },
  ]);
  const r = nftInNetns([{ mode: 'apply', script: create(table) }, { mode: 'apply', script: bad }], { keepGoing: true });
  assert.match(r.stderr, /Error/);
  assert.deepEqual(diffNft(table, parseNftJson(r.stdout, table.name)), []);
});

test('overlapping source ranges of one LoadBalancer are loaded (the covered one left out)', () => {
  const d = compute({ services: [makeService('d', 'lb', {
    type: 'LoadBalancer', clusterIP: '10.96.0.5', loadBalancerSourceRanges: ['10.0.0.0/8', '10.1.0.0/16', '192.168.1.0/24'],
    ports: [{ name: 'p', port: 80, nodePort: 30080 }],
  }, lbStatus('203.0.113.5'))] }).desired;
  const table = buildNftTable(d.ipsets, d.iptables);
  const r = nftInNetns([{ mode: 'apply', script: create(table) }]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual([...parseNftJson(r.stdout, table.name).sets.get('load-balancer-source-cidr-v4')!.elements].sort(),
    ['203.0.113.5 . tcp . 80 . 10.0.0.0/8', '203.0.113.5 . tcp . 80 . 192.168.1.0/24']);
});
