import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyIpsetScript, readIpsets } from '../../src/apply/ipset.ts';
import { formatDeltaScript, formatDestroyScript, formatSwapScript, parseIpsetSave, sameDefinition, tempSetName } from '../../src/tools/ipset.ts';
import { ToolError } from '../../src/apply/exec.ts';
import type { IpsetState } from '../../src/compute/model/desired.ts';
import { createOptions, SET_DEFS, setName, type SetBase } from '../../src/compute/model/ipsets.ts';
import { diffIpsets, incrementalSetDeltas } from '../../src/compute/diff/ipsets.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { fixture } from './fixtures.ts';

function set(base: SetBase, entries: string[], family: 4 | 6 = 4): IpsetState {
  const type = SET_DEFS[base].type;
  return { name: setName(base, family), base, family, type, createOptions: createOptions(type, family, entries.length), entries };
}

test('ipset save: sets with ipset 7.x bucketsize/initval, bitmaps, and host nets without /32', () => {
  const sets = parseIpsetSave(fixture('ipset-save.txt'));
  assert.equal(sets.size, 34);
  const cip = sets.get('KUBE-CLUSTER-IP') ?? assert.fail();
  assert.equal(cip.type, 'hash:ip,port');
  assert.deepEqual([...cip.options.keys()], ['family', 'hashsize', 'maxelem', 'bucketsize', 'initval']);
  assert.match(cip.options.get('initval') ?? '', /^0x[0-9a-f]{8}$/);
  assert.ok(cip.members.has('10.96.0.20,sctp:3868'));
  assert.ok(sets.get('KUBE-LOAD-BALANCER-SOURCE-CIDR')?.members.has('203.0.113.10,tcp:443,198.51.100.7'));
  assert.deepEqual(Object.fromEntries(sets.get('KUBE-NODE-PORT-TCP')?.options ?? []), { range: '0-65535' });
  assert.ok(sets.get('KUBE-NODE-PORT-TCP')?.members.has('30080'));
  assert.equal(sets.get('KUBE-6-CLUSTER-IP')?.options.get('family'), 'inet6');
});

test('a set as the kernel prints it has the definition kube-proxy creates', () => {
  const sets = parseIpsetSave(fixture('ipset-save.txt'));
  for (const base of ['KUBE-CLUSTER-IP', 'KUBE-NODE-PORT-TCP', 'KUBE-LOOP-BACK', 'KUBE-IPVS-IPS'] as const) {
    assert.equal(sameDefinition(sets.get(base) ?? assert.fail(base), set(base, [])), true, base);
  }
  const v6 = sets.get('KUBE-6-CLUSTER-IP') ?? assert.fail();
  assert.equal(sameDefinition(v6, set('KUBE-CLUSTER-IP', [], 4)), false, 'family differs');
  assert.equal(sameDefinition(sets.get('KUBE-IPVS-IPS') ?? assert.fail(), set('KUBE-CLUSTER-IP', [])), false, 'type differs');
});

test('delta script: creates what is missing, deletes before adding, and reads back', async () => {
  const k = new FakeKernel();
  const cip = set('KUBE-CLUSTER-IP', []);
  const np = set('KUBE-NODE-PORT-TCP', []);
  await applyIpsetScript(k, formatDeltaScript([
    { set: cip, create: true, add: ['10.96.0.10,tcp:80', '10.96.0.11,udp:53'], del: [] },
    { set: np, create: true, add: ['30080'], del: [] },
  ]));
  const script = formatDeltaScript([{ set: cip, create: false, add: ['10.96.0.12,tcp:443'], del: ['10.96.0.11,udp:53'] }]);
  assert.equal(script, 'del KUBE-CLUSTER-IP 10.96.0.11,udp:53\nadd KUBE-CLUSTER-IP 10.96.0.12,tcp:443\n');
  await applyIpsetScript(k, script);
  const got = await readIpsets(k);
  assert.deepEqual([...got.get('KUBE-CLUSTER-IP')?.members ?? []], ['10.96.0.10,tcp:80', '10.96.0.12,tcp:443']);
  assert.deepEqual([...got.get('KUBE-NODE-PORT-TCP')?.members ?? []], ['30080']);
  assert.equal(formatDeltaScript([{ set: cip, create: false, add: [], del: [] }]), '');
});

test('swap script: replaces members in one step, whether the set exists or not, leaving no temp set', async () => {
  const k = new FakeKernel();
  k.admin(['ipset', 'create', 'KUBE-CLUSTER-IP', 'hash:ip,port', 'family', 'inet', 'hashsize', '1024', 'maxelem', '65536']);
  k.admin(['ipset', 'add', 'KUBE-CLUSTER-IP', '10.96.0.99,tcp:1']);
  const want = [set('KUBE-CLUSTER-IP', ['10.96.0.10,tcp:80']), set('KUBE-LOOP-BACK', ['10.244.0.5,tcp:80,10.244.0.5'])];
  const existing = new Set((await readIpsets(k)).keys());
  await applyIpsetScript(k, formatSwapScript(want, existing));
  const got = await readIpsets(k);
  assert.deepEqual([...got].map(([n, s]) => [n, [...s.members]]), want.map((s) => [s.name, s.entries]));
  // a temp set left over by an interrupted run is reused, not a failure
  k.admin(['ipset', 'create', tempSetName('KUBE-CLUSTER-IP'), 'hash:ip,port', 'family', 'inet', 'hashsize', '1024', 'maxelem', '65536']);
  k.admin(['ipset', 'add', tempSetName('KUBE-CLUSTER-IP'), '10.1.1.1,tcp:1']);
  await applyIpsetScript(k, formatSwapScript(want, new Set((await readIpsets(k)).keys())));
  assert.deepEqual([...(await readIpsets(k)).get('KUBE-CLUSTER-IP')?.members ?? []], ['10.96.0.10,tcp:80']);
});

test('temp set names fit ipset\'s 31 characters and differ per set', () => {
  const names = ['KUBE-6-LOAD-BALANCER-SOURCE-CID', 'KUBE-6-LOAD-BALANCER-SOURCE-IP'].map(tempSetName);
  assert.ok(names.every((n) => n.length <= 31));
  assert.notEqual(names[0], names[1]);
});

test('a failing script stops at its line and the error shows it', async () => {
  const k = new FakeKernel();
  const script = formatDeltaScript([{ set: set('KUBE-CLUSTER-IP', []), create: false, add: ['10.96.0.10,tcp:80'], del: [] }]);
  const e = await applyIpsetScript(k, script).then(() => assert.fail(), (x: unknown) => x);
  assert.ok(e instanceof ToolError);
  assert.equal(e.line?.text, 'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80');
  assert.match(e.stderr, /Error in line 1: The set with the given name does not exist/);
});

test('destroy script removes sets; a set still used by a rule cannot go', async () => {
  const k = new FakeKernel();
  await applyIpsetScript(k, formatDeltaScript([{ set: set('KUBE-IPVS-IPS', []), create: true, add: [], del: [] }, { set: set('KUBE-CLUSTER-IP', []), create: true, add: [], del: [] }]));
  k.admin(['iptables-restore', '--noflush'], '*filter\n:KUBE-X - [0:0]\n-A KUBE-X -m set --match-set KUBE-IPVS-IPS dst -j DROP\nCOMMIT\n');
  await applyIpsetScript(k, formatDestroyScript(['KUBE-CLUSTER-IP']));
  await assert.rejects(applyIpsetScript(k, formatDestroyScript(['KUBE-IPVS-IPS'])), /in use by a kernel component/);
  assert.deepEqual([...(await readIpsets(k)).keys()], ['KUBE-IPVS-IPS']);
});

// kube-proxy's sets stop at maxelem 65536 and further Services silently fail (kubernetes #129389).
const ipPorts = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `10.${96 + ((from + i) >> 16)}.${((from + i) >> 8) & 255}.${(from + i) & 255},tcp:80`);

test('the fake kernel refuses members beyond maxelem, as the kernel does ("Hash is full")', async () => {
  const k = new FakeKernel();
  await k.run(['ipset', 'restore', '-exist'], { input: `create S hash:ip,port family inet hashsize 1024 maxelem 2\nadd S 10.0.0.1,tcp:80\nadd S 10.0.0.2,tcp:80\nadd S 10.0.0.2,tcp:80\n` });
  await assert.rejects(k.run(['ipset', 'restore', '-exist'], { input: 'add S 10.0.0.3,tcp:80\n' }), (e: unknown) =>
    e instanceof ToolError && /Hash is full, cannot add more elements/.test(e.stderr));
});

test('sets are created with a maxelem that fits their members; kube-proxy\'s 65,536 up to three quarters full', () => {
  assert.match(set('KUBE-CLUSTER-IP', ipPorts(0, 49_152)).createOptions, /maxelem 65536$/);
  assert.match(set('KUBE-CLUSTER-IP', ipPorts(0, 49_153)).createOptions, /maxelem 131072$/);
  assert.match(set('KUBE-CLUSTER-IP', ipPorts(0, 110_000)).createOptions, /maxelem 262144$/);
  assert.equal(set('KUBE-NODE-PORT-TCP', []).createOptions, 'range 0-65535');
});

test('a set that outgrows its maxelem is swapped for a larger one in the same restore, every member programmed', async () => {
  const k = new FakeKernel();
  await applyIpsetScript(k, formatDeltaScript(diffIpsets([set('KUBE-CLUSTER-IP', ipPorts(0, 40_000))], await readIpsets(k)).deltas));
  assert.match(k.admin(['ipset', 'save', 'KUBE-CLUSTER-IP']), /maxelem 65536 /);
  // A full resync: 70,000 members wanted, the set holds 65,536 at most.
  const big = set('KUBE-CLUSTER-IP', ipPorts(0, 70_000));
  const { deltas, conflicts } = diffIpsets([big], await readIpsets(k));
  assert.deepEqual([conflicts, deltas.map((d) => d.grow)], [[], [true]]);
  await applyIpsetScript(k, formatDeltaScript(deltas));
  const after = await readIpsets(k);
  assert.equal(after.get('KUBE-CLUSTER-IP')?.members.size, 70_000);
  assert.equal(after.get('KUBE-CLUSTER-IP')?.options.get('maxelem'), '131072');
  assert.deepEqual([...after.keys()], ['KUBE-CLUSTER-IP'], 'no temporary set left');
  // An incremental sync past the new limit grows it again; below it, plain adds.
  const more = set('KUBE-CLUSTER-IP', ipPorts(0, 140_000));
  const grow = incrementalSetDeltas([more], new Map([[more.name, { added: ipPorts(70_000, 70_000), removed: [] }]]), after);
  assert.deepEqual(grow.map((d) => d.grow), [true]);
  await applyIpsetScript(k, formatDeltaScript(grow));
  const last = await readIpsets(k);
  assert.equal(last.get('KUBE-CLUSTER-IP')?.members.size, 140_000);
  assert.equal(last.get('KUBE-CLUSTER-IP')?.options.get('maxelem'), '262144');
  const few = incrementalSetDeltas([more], new Map([[more.name, { added: ['10.200.0.1,tcp:80'], removed: [] }]]), last);
  assert.deepEqual(few.map((d) => [d.grow, d.add]), [[undefined, ['10.200.0.1,tcp:80']]]);
});
