// The dataplane over both rules backends (--ipvs-rules-backend iptables|nftables) against the
// stateful fake kernel: the same desired state gives the same IPVS table and the same set
// members whichever backend holds them; with nftables every set and rule change of a sync is
// one `nft -f` transaction, a full resync repairs drift in the table, a failed transaction
// applies nothing, and a restart with the other backend removes the other one's state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, DataplaneError } from '../../src/apply/dataplane.ts';
import { parseIpsetSave } from '../../src/tools/ipset.ts';
import { parseIptablesSave } from '../../src/tools/iptables.ts';
import { diffNft } from '../../src/compute/diff/nft.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { buildNftTable, ipsetEntry, nftSetName, RULES_BACKENDS, type RulesBackend } from '../../src/compute/model/nft.ts';
import { SET_BASES } from '../../src/compute/model/ipsets.ts';
import { formatIpvsadmSave } from '../../src/tools/ipvsadm.ts';
import { silentLog } from '../../src/log.ts';
import { parseNftJson } from '../../src/tools/nft-json.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { compute, ep, lbStatus, makeService, makeSlice } from '../compute/builders.ts';

function desired(backends: readonly string[], o: { nodePort?: boolean } = {}): DesiredState {
  const services = [
    makeService('d', 'web', { type: o.nodePort === false ? 'ClusterIP' : 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80, ...(o.nodePort === false ? {} : { nodePort: 30080 }) }] }),
    makeService('d', 'lb', {
      type: 'LoadBalancer', clusterIP: '10.96.0.30', loadBalancerSourceRanges: ['10.0.0.0/8', '10.1.0.0/16'], externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000, ports: [{ name: 'p', port: 443, nodePort: 30443 }],
    }, lbStatus('203.0.113.7')),
  ];
  const endpointSlices = [
    makeSlice('d', 'web', backends.map((a) => ep(a, { node: 'node-a' })), [{ name: 'p', port: 8080 }]),
    makeSlice('d', 'lb', [ep('10.244.2.2', { node: 'node-a' })], [{ name: 'p', port: 8443 }]),
  ];
  return compute({ services, endpointSlices }).desired;
}

const dataplane = (kernel: FakeKernel, rules: RulesBackend): Dataplane =>
  new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [], rules, log: silentLog });

const ipvs = (k: FakeKernel): string[] => k.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l !== '').sort();
const want = (d: DesiredState): string[] => formatIpvsadmSave(d.virtualServers.values()).split('\n').filter((l) => l !== '').sort();

/** The set members as ipset text, from whichever backend holds them. */
function members(k: FakeKernel, rules: RulesBackend): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (rules === 'iptables') {
    for (const [name, s] of parseIpsetSave(k.admin(['ipset', 'save']))) if (name.startsWith('KUBE-')) out.set(name, [...s.members].sort());
    return out;
  }
  const t = parseNftJson(k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']), 'kube-ipvs');
  for (const base of SET_BASES) {
    for (const f of [4, 6] as const) {
      const s = t.sets.get(nftSetName(base, f));
      if (s !== undefined) out.set(f === 4 ? base : base.replace('KUBE-', 'KUBE-6-').slice(0, 31), [...s.elements].map(ipsetEntry).sort());
    }
  }
  return out;
}

const kubeChains = (k: FakeKernel): string[] =>
  [...(parseIptablesSave(k.admin(['iptables-nft-save'])).get('nat') ?? new Map<string, unknown>()).keys()].filter((c) => c.startsWith('KUBE-'));
const hasTable = (k: FakeKernel): boolean => k.nft.tables.has('kube-ipvs');

for (const rules of RULES_BACKENDS) {
  test(`${rules}: a first sync programs IPVS and the rules; the set members are the same for both backends`, async () => {
    const k = new FakeKernel();
    const d = desired(['10.244.1.1', '10.244.1.2']);
    await dataplane(k, rules).sync(d, { full: true });
    assert.deepEqual(ipvs(k), want(d));
    const other = new FakeKernel();
    await dataplane(other, rules === 'iptables' ? 'nftables' : 'iptables').sync(d, { full: true });
    // Covered source ranges are left out of the nft set (the kernel refuses overlaps).
    const norm = (m: Map<string, string[]>) => new Map([...m].map(([n, e]) => [n, e.filter((x) => !x.endsWith(',10.1.0.0/16'))]));
    assert.deepEqual(norm(members(k, rules)), norm(members(other, rules === 'iptables' ? 'nftables' : 'iptables')));
    assert.equal(hasTable(k), rules === 'nftables');
    assert.equal(kubeChains(k).length > 0, rules === 'iptables');
  });

  test(`${rules}: one changed endpoint and one NodePort gone converge incrementally; an idle sync spawns nothing`, async () => {
    const k = new FakeKernel();
    const dp = dataplane(k, rules);
    await dp.sync(desired(['10.244.1.1']), { full: true });
    const before = k.callCount();
    await dp.sync(desired(['10.244.1.1']), { full: false });
    assert.equal(k.callCount(), before);
    const d = desired(['10.244.1.1', '10.244.1.3'], { nodePort: false });
    await dp.sync(d, { full: false });
    assert.deepEqual(ipvs(k), want(d));
    const m = members(k, rules);
    assert.ok(m.get('KUBE-LOOP-BACK')?.includes('10.244.1.3,tcp:8080,10.244.1.3'));
    assert.ok(!m.get('KUBE-NODE-PORT-TCP')?.includes('30080'));
    assert.ok(m.get('KUBE-NODE-PORT-TCP')?.includes('30443'));
    // And a full resync after it finds nothing to repair.
    const r = await dp.sync(d, { full: true });
    assert.equal(r.repairs, 0);
  });
}

test('nftables: a cold sync is one nft transaction, no ipset or iptables process; the table is exactly the desired one', async () => {
  const k = new FakeKernel();
  const d = desired(['10.244.1.1']);
  await dataplane(k, 'nftables').sync(d, { full: true });
  // Reads: nft list table (fails), list tables. Write: nft -f. Then: list tables? no (first sync removes the iptables backend's state).
  assert.equal(k.callCount('ipset') + k.callCount('iptables-restore') + k.callCount('iptables-nft-restore') + k.callCount('ip6tables-nft-restore'), 1, 'only the ipset listing of the switch check');
  const t = parseNftJson(k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']), 'kube-ipvs');
  assert.deepEqual(diffNft(buildNftTable(d.ipsets, d.iptables), t), []);
});

test('nftables: an incremental change is ONE nft -f with only the changed elements', async () => {
  const k = new FakeKernel();
  const dp = dataplane(k, 'nftables');
  await dp.sync(desired(['10.244.1.1']), { full: true });
  k.calls.clear();
  const r = await dp.sync(desired(['10.244.1.1', '10.244.1.3']), { full: false });
  assert.deepEqual(Object.fromEntries(k.calls), { nft: 1, ipvsadm: 1 });
  assert.deepEqual(r.changes, { ipvs: 2, ipset: 1, iptables: 0, addresses: 0 }, 'the ClusterIP and the NodePort get the real server; one hairpin element');
});

test('nftables: a full resync reads the table and repairs drift (elements, a flushed chain, a deleted table) in one transaction', async () => {
  const k = new FakeKernel();
  const dp = dataplane(k, 'nftables');
  const d = desired(['10.244.1.1']);
  await dp.sync(d, { full: true });
  k.admin(['nft', '-f', '-'], 'delete element inet kube-ipvs cluster-ip-v4 { 10.96.0.20 . tcp . 80 }\nflush chain inet kube-ipvs services\nadd element inet kube-ipvs node-port-tcp-v4 { 1234 }\n');
  k.calls.clear();
  const r = await dp.sync(d, { full: true });
  assert.equal(k.callCount('nft'), 2, 'one read, one transaction');
  assert.ok(r.repairs >= 3, `repairs ${r.repairs}`);
  const table = buildNftTable(d.ipsets, d.iptables);
  assert.deepEqual(diffNft(table, parseNftJson(k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']), 'kube-ipvs')), []);
  k.admin(['nft', '-f', '-'], 'delete table inet kube-ipvs\n');
  await dp.sync(d, { full: true });
  assert.deepEqual(diffNft(table, parseNftJson(k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']), 'kube-ipvs')), []);
});

test('nftables: a failed transaction applies nothing, fails the sync naming nft, and the next sync converges', async () => {
  const k = new FakeKernel();
  const dp = dataplane(k, 'nftables');
  await dp.sync(desired(['10.244.1.1']), { full: true });
  const before = k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']);
  k.failLine('nft', 'loop-back-v4', 'Cannot allocate memory');
  const d = desired(['10.244.1.1', '10.244.1.3']);
  await assert.rejects(dp.sync(d, { full: false }), (e: unknown) => e instanceof DataplaneError && e.tool === 'nft');
  assert.equal(k.admin(['nft', '-j', 'list', 'table', 'inet', 'kube-ipvs']), before, 'the table is as before the failed transaction');
  const r = await dp.sync(d, { full: false });
  assert.equal(r.full, true);
  assert.ok(members(k, 'nftables').get('KUBE-LOOP-BACK')?.includes('10.244.1.3,tcp:8080,10.244.1.3'));
});

test('a restart with the other backend removes the other one\'s state, keeps the IPVS services, in both directions', async () => {
  const k = new FakeKernel();
  const d = desired(['10.244.1.1']);
  await dataplane(k, 'iptables').sync(d, { full: true });
  assert.ok(kubeChains(k).length > 0 && k.ipset.sets.size > 0);
  const vsBefore = ipvs(k);
  const r = await dataplane(k, 'nftables').sync(d, { full: true });
  assert.equal(r.changes.ipvs, 0, 'IPVS untouched');
  assert.deepEqual(ipvs(k), vsBefore);
  assert.ok(hasTable(k));
  assert.deepEqual(kubeChains(k), []);
  assert.deepEqual([...k.ipset.sets.keys()].filter((n) => n.startsWith('KUBE-')), []);
  // And back.
  const back = await dataplane(k, 'iptables').sync(d, { full: true });
  assert.equal(back.changes.ipvs, 0);
  assert.ok(!hasTable(k));
  assert.ok(kubeChains(k).length > 0);
  assert.ok(members(k, 'iptables').get('KUBE-CLUSTER-IP')?.includes('10.96.0.20,tcp:80'));
});

test('nftables: a NodePort virtual server left by a failed ipvsadm batch is still known as ours by its mark in the table', async () => {
  const k = new FakeKernel();
  const dp = dataplane(k, 'nftables');
  await dp.sync(desired(['10.244.1.1']), { full: true });
  k.failLine('ipvsadm', '30080', 'Memory allocation problem');
  const d = desired(['10.244.1.1'], { nodePort: false });
  await assert.rejects(dp.sync(d, { full: false }));
  assert.ok(members(k, 'nftables').get('KUBE-NODE-PORT-TCP')?.includes('30080'), 'the mark waits for IPVS');
  await dp.sync(d, { full: false });
  assert.deepEqual(ipvs(k), want(d));
  assert.ok(!members(k, 'nftables').get('KUBE-NODE-PORT-TCP')?.includes('30080'));
});
