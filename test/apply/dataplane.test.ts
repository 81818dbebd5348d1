// The dataplane against the stateful fake kernel: end state, processes spawned, adoption,
// graceful drain, drift repair, failed batches, ownership. Assertions read the fake's own
// tool output, not the calls made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane, DataplaneError } from '../../src/apply/dataplane.ts';
import { ensureKernelSettings } from '../../src/apply/settings.ts';
import { formatIpvsadmSave } from '../../src/tools/ipvsadm.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { parseCidr } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { compute, config, ep, makeService, makeSlice } from '../compute/builders.ts';
import { buildContext } from '../../src/compute/model/context.ts';
import { DesiredIndex } from '../../src/compute/model/desired-index.ts';
import { mergeSlices, parseEndpointSlice } from '../../src/compute/model/endpoints.ts';
import { renderService } from '../../src/compute/model/render.ts';
import { parseService } from '../../src/compute/model/service.ts';

function desired(backends: string[], o: { protocol?: string; extraServices?: number } = {}): DesiredState {
  const protocol = o.protocol ?? 'TCP';
  const services = [makeService('d', 'web', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80, protocol, nodePort: 30080 }] })];
  const endpointSlices = [makeSlice('d', 'web', backends.map((a) => ep(a)), [{ name: 'p', port: 8080, protocol }])];
  for (let i = 0; i < (o.extraServices ?? 0); i++) services.push(makeService('d', `s${i}`, { clusterIP: `10.96.1.${i + 1}`, ports: [{ port: 443 }] }));
  return compute({ services, endpointSlices }).desired;
}

function setup(): { kernel: FakeKernel; dp: Dataplane } {
  const kernel = new FakeKernel();
  const dp = new Dataplane({
    runner: kernel, families: [4, 6], excludeCidrs: [parseCidr('10.3.0.0/16')!],
    log: silentLog,
  });
  return { kernel, dp };
}

const table = (k: FakeKernel): string[] => k.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l !== '').sort();
const want = (d: DesiredState): string[] => formatIpvsadmSave(d.virtualServers.values()).split('\n').filter((l) => l !== '').sort();
const bound = (k: FakeKernel): string[] =>
  k.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']).split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[3] ?? '').sort();

test('a first sync on an empty node programs everything, one process per tool', async () => {
  const { kernel, dp } = setup();
  const d = desired(['10.244.1.1', '10.244.1.2'], { extraServices: 3 });
  const r = await dp.sync(d, { full: true });
  assert.deepEqual(table(kernel), want(d));
  assert.deepEqual(bound(kernel), ['10.96.0.20/32', '10.96.1.1/32', '10.96.1.2/32', '10.96.1.3/32']);
  assert.match(kernel.admin(['ipset', 'save']), /add KUBE-CLUSTER-IP 10\.96\.0\.20,tcp:80/);
  assert.match(kernel.admin(['iptables-save', '-t', 'nat']), /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  assert.equal(r.full, true);
  // Reads: ipvsadm, ipset, ip ×2, iptables-save ×2. Writes: ipset, iptables-restore ×2, ip, ipvsadm.
  assert.equal(kernel.callCount(), 11);
});

test('an unchanged desired state costs no process at all; a change costs one batch per tool touched', async () => {
  const { kernel, dp } = setup();
  await dp.sync(desired(['10.244.1.1']), { full: true });
  const before = kernel.callCount();
  const idle = await dp.sync(desired(['10.244.1.1']), { full: false });
  assert.equal(kernel.callCount(), before);
  assert.deepEqual(idle.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
  await dp.sync(desired(['10.244.1.1', '10.244.1.3']), { full: false });
  assert.equal(kernel.callCount() - before, 1, 'one ipvsadm -R');
  assert.ok(table(kernel).includes('-a -t 10.96.0.20:80 -r 10.244.1.3:8080 -m -w 1'));
});

test('start-up adopts what is there: nothing desired is removed or re-added; weights reset to 1', async () => {
  const { kernel, dp } = setup();
  const d = desired(['10.244.1.1', '10.244.1.2']);
  await dp.sync(d, { full: true });
  kernel.admin(['ipvsadm', '-e', '-t', '10.96.0.20:80', '-r', '10.244.1.2:8080', '-m', '-w', '0']);
  // A new process (restart): fresh dataplane, same kernel.
  const restarted = new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [], log: silentLog });
  const r = await restarted.sync(d, { full: true });
  assert.deepEqual(r.changes, { ipvs: 1, ipset: 0, iptables: 0, addresses: 0 });
  assert.deepEqual(table(kernel), want(d));
});

test('a removed TCP backend with connections drains at weight 0, and goes once they end', async () => {
  const { kernel, dp } = setup();
  await dp.sync(desired(['10.244.1.1', '10.244.1.2']), { full: true });
  const real = () => kernel.ipvs.services.get('TCP 10.96.0.20:80')?.reals.get('10.244.1.2:8080');
  const conns = (n: number) => { const rs = real(); assert.ok(rs); rs.activeConns = n; rs.inactiveConns = 0; };
  conns(1);
  const next = desired(['10.244.1.1']);
  const r = await dp.sync(next, { full: false });
  assert.equal(r.draining, 1);
  assert.ok(table(kernel).includes('-a -t 10.96.0.20:80 -r 10.244.1.2:8080 -m -w 0'));
  assert.equal(await dp.checkDrains(next), 0, 'still connected');
  conns(0);
  assert.equal(await dp.checkDrains(next), 1);
  assert.ok(!table(kernel).some((l) => l.includes('10.244.1.2')));
});

test('removed UDP backends are deleted at once and their conntrack flows cleared', async () => {
  const { kernel, dp } = setup();
  await dp.sync(desired(['10.244.1.1', '10.244.1.2'], { protocol: 'UDP' }), { full: true });
  kernel.conntrack.flows = [{ protocol: 'udp', origSrc: '10.244.9.9', origDst: '10.96.0.20', origDport: 80, natDst: '10.244.1.2' }];
  const r = await dp.sync(desired(['10.244.1.1'], { protocol: 'UDP' }), { full: false });
  assert.ok(!table(kernel).some((l) => l.includes('10.244.1.2')));
  assert.equal(r.conntrackDeletes, 1);
  assert.deepEqual(kernel.conntrack.flows, []);
});

test('a full resync repairs drift made behind our back, and counts it', async () => {
  const { kernel, dp } = setup();
  const d = desired(['10.244.1.1']);
  await dp.sync(d, { full: true });
  kernel.admin(['ipvsadm', '-D', '-t', '10.96.0.20:80']);
  kernel.admin(['ipset', 'del', 'KUBE-CLUSTER-IP', '10.96.0.20,tcp:80']);
  const r = await dp.sync(d, { full: true });
  assert.equal(r.repairs, 3, 'virtual server, its real server, the set member');
  assert.deepEqual(table(kernel), want(d));
  assert.match(kernel.admin(['ipset', 'save']), /add KUBE-CLUSTER-IP 10\.96\.0\.20,tcp:80/);
});

test('a failed ipvsadm batch is reported, and the next sync re-reads the kernel and converges', async () => {
  const { kernel, dp } = setup();
  await dp.sync(desired(['10.244.1.1']), { full: true });
  kernel.failLine('ipvsadm', '10.244.1.3', 'Memory allocation problem');
  const d = desired(['10.244.1.1', '10.244.1.3', '10.244.1.4']);
  await assert.rejects(dp.sync(d, { full: false }), (e: unknown) => e instanceof DataplaneError && e.tool === 'ipvsadm' && /Memory allocation/.test(e.message));
  const reads = kernel.callCount('ipset');
  const r = await dp.sync(d, { full: false });
  assert.equal(r.full, true, 'state was unknown: observed again');
  assert.ok(kernel.callCount('ipset') > reads);
  assert.deepEqual(table(kernel), want(d));
});

test('services kube-ipvs does not own survive: a user\'s own, an excluded CIDR, a firewall mark', async () => {
  const { kernel, dp } = setup();
  kernel.admin(['ipvsadm', '-A', '-t', '172.16.0.1:80', '-s', 'wlc']);
  kernel.admin(['ipvsadm', '-A', '-t', '10.3.0.5:80', '-s', 'rr']);
  kernel.admin(['ipvsadm', '-A', '-f', '7', '-s', 'rr']);
  kernel.admin(['ipvsadm', '-A', '-t', '192.168.1.10:8080', '-s', 'rr']);
  await dp.sync(desired([]), { full: true });
  const t = table(kernel);
  for (const s of ['-A -t 172.16.0.1:80 -s wlc', '-A -t 10.3.0.5:80 -s rr', '-A -f 7 -s rr', '-A -t 192.168.1.10:8080 -s rr']) assert.ok(t.includes(s), s);
});

test('stale services of ours (a VIP on kube-ipvs0, a NodePort marked in KUBE-NODE-PORT-TCP) are removed', async () => {
  const { kernel, dp } = setup();
  await dp.sync(desired(['10.244.1.1'], { extraServices: 1 }), { full: true });
  // As kube-proxy (or a crashed kube-ipvs) leaves a NodePort: its virtual server and its port in the set.
  kernel.admin(['ipvsadm', '-A', '-t', '192.168.1.10:31000', '-s', 'rr']);
  kernel.admin(['ipset', 'add', 'KUBE-NODE-PORT-TCP', '31000']);
  const d = desired(['10.244.1.1']);
  await dp.sync(d, { full: true });
  assert.deepEqual(table(kernel), want(d));
  assert.deepEqual(bound(kernel), ['10.96.0.20/32']);
  assert.doesNotMatch(kernel.admin(['ipset', 'save']), /KUBE-NODE-PORT-TCP 31000/);
});

test('a missing tool fails the sync with the package to install', async () => {
  const { kernel, dp } = setup();
  kernel.uninstall('ipset');
  await assert.rejects(dp.sync(desired([]), { full: true }), /ipset not found: install the Debian package ipset/);
});

test('kernel settings: kube-proxy\'s sysctls, strict ARP, IPVS timeouts; a second pass changes nothing', async () => {
  const kernel = new FakeKernel();
  const s = { strictArp: true, timeouts: { tcp: 3600, tcpFin: 0, udp: 60 } };
  const first = await ensureKernelSettings(kernel, kernel.sysctl, s);
  assert.deepEqual(first.map((c) => c.name), [
    'net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/ip_forward',
    'net/ipv4/conf/all/arp_ignore', 'net/ipv4/conf/all/arp_announce', 'ipvs timeouts (tcp tcpfin udp)',
  ]);
  assert.equal(kernel.proc.get('net/ipv4/vs/conn_reuse_mode'), '1', 'kernel 6.1: conn_reuse_mode left alone (#81775)');
  assert.match(kernel.admin(['ipvsadm', '-Ln', '--timeout']), /Timeout \(tcp tcpfin udp\): 3600 120 60/);
  assert.deepEqual(await ensureKernelSettings(kernel, kernel.sysctl, s), []);
  kernel.proc.set('kernel/osrelease', '5.4.0-150-generic');
  assert.deepEqual((await ensureKernelSettings(kernel, kernel.sysctl, s)).map((c) => `${c.name}=${c.to}`), ['net/ipv4/vs/conn_reuse_mode=0']);
});

test('incremental syncs with the index\'s changes keep what was applied exact: a full resync then repairs nothing', async () => {
  const { kernel, dp } = setup();
  const index = new DesiredIndex(buildContext(config({ nodeAddresses: ['192.168.1.10'] }), undefined));
  const sync = async (full: boolean) => { const { desired: d, changes } = index.snapshot(); return dp.sync(d, { full, changes }); };
  index.set('d/web', renderOne(['10.244.1.1']));
  await sync(true);
  const before = kernel.callCount();
  index.set('d/web', renderOne(['10.244.1.1', '10.244.1.2']));
  index.set('d/api', renderOne(['10.244.2.1'], 'api', '10.96.0.21'));
  const r = await sync(false);
  assert.equal(r.full, false);
  assert.equal(kernel.callCount() - before, 3, 'ipset (new hairpin and ClusterIP members), ip (new VIP), ipvsadm');
  index.set('d/api', undefined);
  await sync(false);
  const full = await sync(true);
  assert.equal(full.repairs, 0);
  assert.deepEqual(full.changes, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 });
});

function renderOne(backends: string[], name = 'web', ip = '10.96.0.20') {
  const cfg = config({ nodeAddresses: ['192.168.1.10'] });
  const p = parseService(makeService('d', name, { type: 'NodePort', clusterIP: ip, ports: [{ name: 'p', port: 80, nodePort: name === 'web' ? 30080 : 30081 }] }), cfg);
  const s = parseEndpointSlice(makeSlice('d', name, backends.map((a) => ep(a, { node: 'node-a' })), [{ name: 'p', port: 8080 }]));
  assert.ok(p.kind === 'proxied' && s.kind === 'parsed');
  return renderService(p.info, mergeSlices([s.slice]), buildContext(cfg, undefined));
}

test('a periodic resync with nothing to repair only digests the dumps; a drift changes the digest and is repaired', async () => {
  const { kernel, dp } = setup();
  const index = new DesiredIndex(buildContext(config({ nodeAddresses: ['192.168.1.10'] }), undefined));
  const sync = async (full: boolean) => { const { desired: d, changes } = index.snapshot(); return { d, r: await dp.sync(d, { full, changes }) }; };
  index.set('d/web', renderOne(['10.244.1.1', '10.244.1.2']));
  await sync(true);
  // The first periodic resync after a change parses and diffs (the kernel was written since).
  assert.equal((await sync(true)).r.unchanged, undefined);
  // Nothing applied since, the same dumps: nothing to parse, diff or apply.
  const before = kernel.callCount();
  const idle = await sync(true);
  assert.equal(idle.r.unchanged, true);
  assert.deepEqual([idle.r.repairs, idle.r.changes], [0, { ipvs: 0, ipset: 0, iptables: 0, addresses: 0 }]);
  assert.equal(kernel.callCount() - before, 6, 'one read per tool: ipvsadm, ipset, ip addr, ip link, iptables-save, ip6tables-save');
  // Drift behind our back: a real server deleted, a set member removed, a rule flushed.
  kernel.admin(['ipvsadm', '-d', '-t', '10.96.0.20:80', '-r', '10.244.1.2:8080']);
  kernel.admin(['ipset', 'del', 'KUBE-CLUSTER-IP', '10.96.0.20,tcp:80']);
  const drifted = await sync(true);
  assert.equal(drifted.r.unchanged, undefined);
  assert.equal(drifted.r.repairs, 2, 'the real server and the set member');
  assert.deepEqual(table(kernel), want(drifted.d));
  assert.match(kernel.admin(['ipset', 'save']), /add KUBE-CLUSTER-IP 10\.96\.0\.20,tcp:80/);
  // A change wanted (even with the kernel as it was) is never skipped.
  assert.equal((await sync(true)).r.unchanged, undefined, 'the repair was applied: parsed once more');
  assert.equal((await sync(true)).r.unchanged, true);
  index.set('d/web', renderOne(['10.244.1.1']));
  const changed = await sync(true);
  assert.equal(changed.r.unchanged, undefined);
  assert.deepEqual(table(kernel), want(changed.d));
});
