// A periodic resync parses only the blocks of the dumps that changed since they were last known
// (src/apply/kernel-read.ts): the virtual servers and sets a change touched, or drift. Every kind
// of drift still changes some block and is repaired. Driven through the dataplane against the
// stateful fake kernel; assertions read the fake's own dumps and the sync's result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { formatIpvsadmSave } from '../../src/tools/ipvsadm.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { parseCidr } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { config, ep, makeService, makeSlice } from '../compute/builders.ts';
import { buildContext } from '../../src/compute/model/context.ts';
import { DesiredIndex } from '../../src/compute/model/desired-index.ts';
import { mergeSlices, parseEndpointSlice } from '../../src/compute/model/endpoints.ts';
import { renderService } from '../../src/compute/model/render.ts';
import { parseService } from '../../src/compute/model/service.ts';

const SERVICES = 12;
const cfg = config({ nodeAddresses: ['192.168.1.10'] });

/** Service i: ClusterIP 10.96.0.(10+i):80, NodePort for even i; `backends` endpoints. */
function render(i: number, backends = 2) {
  const type = i % 2 === 0 ? 'NodePort' : 'ClusterIP';
  const p = parseService(makeService('d', `s${i}`, { type, clusterIP: `10.96.0.${10 + i}`, ports: [{ name: 'p', port: 80, ...(type === 'NodePort' ? { nodePort: 30000 + i } : {}) }] }), cfg);
  const s = parseEndpointSlice(makeSlice('d', `s${i}`, Array.from({ length: backends }, (_, k) => ep(`10.244.${i}.${k + 1}`, { node: 'node-a' })), [{ name: 'p', port: 8080 }]));
  assert.ok(p.kind === 'proxied' && s.kind === 'parsed');
  return renderService(p.info, mergeSlices([s.slice]), buildContext(cfg, undefined));
}

async function setup() {
  const kernel = new FakeKernel();
  const dp = new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [parseCidr('10.3.0.0/16')!], log: silentLog });
  const index = new DesiredIndex(buildContext(cfg, undefined));
  const sync = async (full: boolean) => { const { desired: d, changes } = index.snapshot(); return { d, r: await dp.sync(d, { full, changes }) }; };
  for (let i = 0; i < SERVICES; i++) index.set(`d/s${i}`, render(i));
  await sync(true);
  // The first resync after the cold sync parses all (everything was written); then records hold.
  await sync(true);
  const settled = await sync(true);
  assert.equal(settled.r.unchanged, true);
  return { kernel, dp, index, sync };
}

const table = (k: FakeKernel): string[] => k.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l !== '').sort();
const want = (d: DesiredState): string[] => formatIpvsadmSave(d.virtualServers.values()).split('\n').filter((l) => l !== '').sort();
const members = (k: FakeKernel, set: string): string[] =>
  k.admin(['ipset', 'save']).split('\n').filter((l) => l.startsWith(`add ${set} `)).map((l) => l.split(' ')[2] ?? '').sort();
const bound = (k: FakeKernel): string[] =>
  k.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']).split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[3] ?? '').sort();

test('a periodic resync after an endpoint change parses only that virtual server\'s block', async () => {
  const { kernel, index, sync } = await setup();
  const blocks = table(kernel).filter((l) => l.startsWith('-A ')).length;
  index.set('d/s3', render(3, 3));
  await sync(false); // applied incrementally
  const r = await sync(true);
  assert.equal(r.r.unchanged, undefined);
  // The endpoint is on this node: KUBE-LOOP-BACK gained its hairpin entry.
  assert.deepEqual(r.r.read, { ipvsBlocks: blocks, ipvsParsed: 1, setBlocks: r.r.read?.setBlocks, setsParsed: 1, addressesParsed: false });
  assert.equal(r.r.repairs, 0);
  assert.deepEqual(r.r.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
  assert.deepEqual(table(kernel), want(r.d));
  // Nothing applied since: the next one is the digest alone.
  assert.equal((await sync(true)).r.unchanged, true);
});

test('a new Service applied incrementally: its blocks, its set members and kube-ipvs0 are parsed, nothing else', async () => {
  const { kernel, index, sync } = await setup();
  index.set('d/s20', render(20));
  await sync(false);
  const r = await sync(true);
  // Its ClusterIP, its NodePort on the node address: two new virtual servers.
  const read = r.r.read;
  assert.ok(read !== undefined);
  assert.equal(read.ipvsParsed, 2);
  assert.ok(read.setsParsed >= 2, 'KUBE-CLUSTER-IP and KUBE-NODE-PORT-TCP changed');
  assert.ok(read.setsParsed < read.setBlocks);
  assert.equal(read.addressesParsed, true);
  assert.equal(r.r.repairs, 0);
  assert.deepEqual(table(kernel), want(r.d));
});

// Drift behind kube-ipvs' back, once the resyncs have settled on digests: each kind is found
// in its block, parsed alone, repaired and counted.
const DRIFTS: readonly { readonly name: string; readonly drift: (k: FakeKernel) => void; readonly ipvsParsed: number; readonly check?: (k: FakeKernel) => void }[] = [
  { name: 'a real server deleted', drift: (k) => k.admin(['ipvsadm', '-d', '-t', '10.96.0.15:80', '-r', '10.244.5.2:8080']), ipvsParsed: 1 },
  { name: 'a real server hand-set to weight 0', drift: (k) => k.admin(['ipvsadm', '-e', '-t', '10.96.0.15:80', '-r', '10.244.5.1:8080', '-m', '-w', '0']), ipvsParsed: 1 },
  { name: 'a foreign real server added', drift: (k) => k.admin(['ipvsadm', '-a', '-t', '10.96.0.15:80', '-r', '10.9.9.9:8080', '-m', '-w', '1']), ipvsParsed: 1 },
  { name: 'a scheduler changed', drift: (k) => k.admin(['ipvsadm', '-E', '-t', '10.96.0.17:80', '-s', 'wlc']), ipvsParsed: 1 },
  { name: 'a virtual server deleted', drift: (k) => k.admin(['ipvsadm', '-D', '-t', '10.96.0.17:80']), ipvsParsed: 0 },
  {
    name: 'a virtual server added on a kube-ipvs0 address (ours: removed)',
    drift: (k) => { k.admin(['ipvsadm', '-A', '-t', '10.96.0.17:8080', '-s', 'rr']); },
    ipvsParsed: 1,
    check: (k) => { assert.doesNotMatch(k.admin(['ipvsadm', '-Sn']), /10\.96\.0\.17:8080/); },
  },
  {
    name: 'a set member deleted',
    drift: (k) => k.admin(['ipset', 'del', 'KUBE-CLUSTER-IP', '10.96.0.17,tcp:80']),
    ipvsParsed: 0,
    check: (k) => { assert.ok(members(k, 'KUBE-CLUSTER-IP').includes('10.96.0.17,tcp:80')); },
  },
  {
    name: 'a foreign set member added',
    drift: (k) => k.admin(['ipset', 'add', 'KUBE-CLUSTER-IP', '10.96.9.9,tcp:80']),
    ipvsParsed: 0,
    check: (k) => { assert.ok(!members(k, 'KUBE-CLUSTER-IP').includes('10.96.9.9,tcp:80')); },
  },
  {
    name: 'a chain of rules flushed',
    drift: (k) => k.admin(['iptables', '-t', 'nat', '-F', 'KUBE-SERVICES']),
    ipvsParsed: 0,
    check: (k) => { assert.match(k.admin(['iptables-save', '-t', 'nat']), /-A KUBE-SERVICES .*KUBE-CLUSTER-IP/); },
  },
  {
    name: 'a set destroyed',
    drift: (k) => { k.admin(['ipset', 'destroy', 'KUBE-LOAD-BALANCER-SOURCE-IP']); },
    ipvsParsed: 0,
    check: (k) => { assert.match(k.admin(['ipset', 'save']), /^create KUBE-LOAD-BALANCER-SOURCE-IP /m); },
  },
  {
    name: 'an address unbound from kube-ipvs0',
    drift: (k) => k.admin(['ip', 'addr', 'del', '10.96.0.17/32', 'dev', 'kube-ipvs0']),
    ipvsParsed: 0,
    check: (k) => { assert.ok(bound(k).includes('10.96.0.17/32')); },
  },
];

for (const d of DRIFTS) {
  test(`drift, ${d.name}: the resync parses only what changed and repairs it`, async () => {
    const { kernel, sync } = await setup();
    const setsBefore = kernel.admin(['ipset', 'save']);
    d.drift(kernel);
    const r = await sync(true);
    assert.equal(r.r.unchanged, undefined);
    const read = r.r.read;
    assert.ok(read !== undefined);
    assert.equal(read.ipvsParsed, d.ipvsParsed);
    assert.ok(read.setsParsed <= 1);
    assert.ok(r.r.repairs >= 1, `counted as a repair (${r.r.repairs})`);
    assert.deepEqual(table(kernel), want(r.d));
    d.check?.(kernel);
    // Repaired: the block written is parsed once more, then the digests hold again.
    const again = await sync(true);
    assert.equal(again.r.repairs, 0);
    assert.equal((await sync(true)).r.unchanged, true);
    assert.deepEqual(members(kernel, 'KUBE-CLUSTER-IP'), setsBefore.split('\n').filter((l) => l.startsWith('add KUBE-CLUSTER-IP ')).map((l) => l.split(' ')[2] ?? '').sort());
  });
}

test('a drift and an incremental change in the same period are both repaired by the next resync', async () => {
  const { kernel, index, sync } = await setup();
  index.set('d/s3', render(3, 1));
  await sync(false);
  kernel.admin(['ipvsadm', '-d', '-t', '10.96.0.19:80', '-r', '10.244.9.1:8080']);
  const r = await sync(true);
  assert.equal(r.r.read?.ipvsParsed, 2);
  assert.equal(r.r.repairs, 1);
  assert.deepEqual(table(kernel), want(r.d));
});

test('a user\'s own virtual server that changes is parsed and left alone', async () => {
  const { kernel, sync } = await setup();
  kernel.admin(['ipvsadm', '-A', '-t', '172.16.0.1:80', '-s', 'rr']);
  let r = await sync(true);
  assert.equal(r.r.read?.ipvsParsed, 1);
  assert.equal((await sync(true)).r.unchanged, true);
  kernel.admin(['ipvsadm', '-a', '-t', '172.16.0.1:80', '-r', '10.1.1.1:80', '-m', '-w', '1']);
  r = await sync(true);
  assert.equal(r.r.read?.ipvsParsed, 1);
  assert.deepEqual(r.r.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
  assert.match(kernel.admin(['ipvsadm', '-Sn']), /-a -t 172\.16\.0\.1:80 -r 10\.1\.1\.1:80/);
});

test('after a failed batch nothing recorded is trusted: the next sync parses every block', async () => {
  const { kernel, index, sync } = await setup();
  const blocks = table(kernel).filter((l) => l.startsWith('-A ')).length;
  kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'boom' });
  index.set('d/s3', render(3, 3));
  await assert.rejects(sync(false));
  const r = await sync(true);
  assert.equal(r.r.read?.ipvsParsed, blocks);
  assert.deepEqual(table(kernel), want(r.d));
});

test('changes handed to a resync whose kernel read fails are applied by the next one, though the kernel is as it was', async () => {
  const { kernel, index, sync } = await setup();
  index.set('d/s3', render(3, 3));
  kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'Memory allocation problem' });
  await assert.rejects(sync(true)); // took the change, read nothing
  // Nothing changed since in the cluster nor in the kernel: the same digest as the last clean
  // resync, and no change left in the index. The change must still be applied.
  const r = await sync(true);
  assert.equal(r.r.unchanged, undefined);
  assert.deepEqual(table(kernel), want(r.d));
  assert.match(kernel.admin(['ipvsadm', '-Sn']), /-a -t 10\.96\.0\.13:80 -r 10\.244\.3\.3:8080/);
});

test('a restart over a programmed kernel records every block at its first sync: the first periodic resync parses nothing', async () => {
  const { kernel, index } = await setup();
  const restarted = new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [parseCidr('10.3.0.0/16')!], log: silentLog });
  const { desired: d, changes } = index.snapshot();
  const first = await restarted.sync(d, { full: true, changes });
  assert.deepEqual(first.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
  // Kernel as it was, but no clean digest yet: the blocks are compared, none parsed.
  kernel.admin(['ipvsadm', '-e', '-t', '10.96.0.15:80', '-r', '10.244.5.1:8080', '-m', '-w', '0']);
  const r = await restarted.sync(d, { full: true, changes: index.snapshot().changes });
  assert.equal(r.read?.ipvsParsed, 1, 'only the drifted block');
  assert.equal(r.repairs, 1);
  assert.deepEqual(table(kernel), want(d));
});
