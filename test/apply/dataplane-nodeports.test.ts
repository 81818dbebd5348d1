// NodePort virtual servers sit on ordinary node addresses; their mark of ownership is their
// port in KUBE-NODE-PORT-* (src/apply/ownership.ts). Here: any NodePort range, restarts, an
// address leaving the node, a failed batch in between, and what must never be touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import type { DesiredState } from '../../src/compute/model/desired.ts';
import { parseCidr } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { compute, ep, makeService, makeSlice } from '../compute/builders.ts';

const EXCLUDED = parseCidr('10.3.0.0/16')!;
const dataplane = (kernel: FakeKernel): Dataplane =>
  new Dataplane({ runner: kernel, families: [4, 6], excludeCidrs: [EXCLUDED], log: silentLog });

/** Services `names`, NodePorts from 40000 up (a cluster whose range is 40000-40100), on `nodeIps`. */
function desired(names: readonly string[], nodeIps: readonly string[] = ['192.168.1.10'], protocol = 'TCP'): DesiredState {
  const services = names.map((n, i) => makeService('d', n, { type: 'NodePort', clusterIP: `10.96.0.${20 + i}`, ports: [{ name: 'p', port: 80, protocol, nodePort: 40000 + 50 * i }] }));
  const endpointSlices = names.map((n) => makeSlice('d', n, [ep('10.244.1.1')], [{ name: 'p', port: 8080, protocol }]));
  return compute({ services, endpointSlices }, { nodeAddresses: [...nodeIps] }).desired;
}

const nodePortServices = (k: FakeKernel): string[] =>
  k.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => /^-A .*:40\d{3} /.test(l)).sort();

test('a deleted Service\'s NodePort goes whatever the range: incrementally, on a full resync and after a restart', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  await dp.sync(desired(['web', 'api', 'dns']), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr', '-A -t 192.168.1.10:40050 -s rr', '-A -t 192.168.1.10:40100 -s rr']);

  await dp.sync(desired(['web', 'api']), { full: false });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr', '-A -t 192.168.1.10:40050 -s rr']);
  await dp.sync(desired(['web']), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr']);
  assert.doesNotMatch(kernel.admin(['ipset', 'save']), /KUBE-NODE-PORT-TCP 400(50|100)/);

  // Deleted while kube-ipvs was down: the new process knows nothing but the kernel.
  await dataplane(kernel).sync(desired([]), { full: true });
  assert.deepEqual(nodePortServices(kernel), []);
});

test('a NodePort whose deletion failed keeps its mark, so the next sync still removes it', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  await dp.sync(desired(['web', 'api'], ['192.168.1.10'], 'UDP'), { full: true });
  kernel.failLine('ipvsadm', '-D -u 192.168.1.10:40050', 'Memory allocation problem');
  await assert.rejects(dp.sync(desired(['web'], ['192.168.1.10'], 'UDP'), { full: false }));
  assert.match(kernel.admin(['ipset', 'save']), /add KUBE-NODE-PORT-UDP 40050/, 'the port stays in the set while its virtual server exists');
  await dataplane(kernel).sync(desired(['web'], ['192.168.1.10'], 'UDP'), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -u 192.168.1.10:40000 -s rr']);
  assert.doesNotMatch(kernel.admin(['ipset', 'save']), /KUBE-NODE-PORT-UDP 40050/);
});

test('an address removed from the node takes its NodePorts with it on the next full resync; a new one gets them', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  await dp.sync(desired(['web'], ['192.168.1.10', '192.168.2.10']), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr', '-A -t 192.168.2.10:40000 -s rr']);
  await dp.sync(desired(['web'], ['192.168.1.10']), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr']);
  await dp.sync(desired(['web'], ['192.168.1.10', '192.168.3.10']), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A -t 192.168.1.10:40000 -s rr', '-A -t 192.168.3.10:40000 -s rr']);
});

test('SCTP NodePorts are marked per address (KUBE-NODE-PORT-SCTP-HASH)', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  await dp.sync(desired(['web'], ['192.168.1.10', '192.168.2.10'], 'SCTP'), { full: true });
  await dataplane(kernel).sync(desired(['web'], ['192.168.1.10'], 'SCTP'), { full: true });
  assert.deepEqual(nodePortServices(kernel), ['-A --sctp-service 192.168.1.10:40000 -s rr']);
  assert.doesNotMatch(kernel.admin(['ipset', 'save']), /192\.168\.2\.10/);
});

test('never ours: a user\'s service on a node address (also in 30000-32767), one inside --ipvs-exclude-cidrs, loopback', async () => {
  const kernel = new FakeKernel();
  const user = ['-A -t 192.168.1.10:8080 -s rr', '-A -t 192.168.1.10:30500 -s wlc', '-A -t 10.3.0.5:40000 -s rr', '-A -t 127.0.0.1:40000 -s rr'];
  kernel.admin(['ipvsadm', '-R'], `${user.join('\n')}\n`);
  const dp = dataplane(kernel);
  await dp.sync(desired(['web']), { full: true });
  await dataplane(kernel).sync(desired([]), { full: true });
  const left = kernel.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l !== '').sort();
  assert.deepEqual(left, [...user].sort());
});

/** UDP NodePort Services by name → [ClusterIP, NodePort] (in the default range: main owned them too). */
function udp(services: Record<string, readonly [string, number]>, backends: readonly string[] = ['10.244.1.1']): DesiredState {
  const names = Object.keys(services);
  return compute({
    services: names.map((n) => makeService('d', n, { type: 'NodePort', clusterIP: services[n]![0], ports: [{ name: 'p', port: 53, protocol: 'UDP', nodePort: services[n]![1] }] })),
    endpointSlices: names.map((n) => makeSlice('d', n, backends.map((b) => ep(b)), [{ name: 'p', port: 5353, protocol: 'UDP' }])),
  }).desired;
}

const flow = (origDst: string, origDport: number, natDst: string) => ({ protocol: 'udp' as const, origSrc: '203.0.113.7', origDst, origDport, natDst });

test('a removed UDP NodePort clears its own flows only: another port on the node address (WireGuard) is untouched', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  const web = ['10.96.0.20', 30080] as const;
  await dp.sync(udp({ web, dns: ['10.96.0.53', 30053] }), { full: true });
  kernel.conntrack.flows = [
    flow('192.168.1.10', 30053, '10.244.1.1'), // to the dns NodePort: stale once it goes
    flow('10.96.0.53', 53, '10.244.1.1'), // to the dns ClusterIP: stale too
    flow('192.168.1.10', 51820, '192.168.1.10'), // WireGuard to the node itself
    flow('192.168.1.10', 30080, '10.244.1.1'), // to the web NodePort, which stays
    flow('10.96.0.20', 53, '10.244.1.1'), // to the web ClusterIP, which stays
  ];
  const r = await dp.sync(udp({ web }), { full: false });
  assert.equal(r.conntrackDeletes, 2);
  assert.deepEqual(kernel.conntrack.flows.map((f) => `${f.origDst}:${f.origDport}`), ['192.168.1.10:51820', '192.168.1.10:30080', '10.96.0.20:53']);
});

test('a UDP endpoint removed from a NodePort clears the flows NATed to it on that port, nothing else', async () => {
  const kernel = new FakeKernel();
  const dp = dataplane(kernel);
  const dns = { dns: ['10.96.0.53', 30053] as const };
  await dp.sync(udp(dns, ['10.244.1.1', '10.244.1.2']), { full: true });
  kernel.conntrack.flows = [
    flow('192.168.1.10', 30053, '10.244.1.2'), flow('10.96.0.53', 53, '10.244.1.2'),
    flow('192.168.1.10', 30053, '10.244.1.1'), flow('192.168.1.10', 51820, '192.168.1.10'),
  ];
  await dp.sync(udp(dns, ['10.244.1.1']), { full: false });
  assert.deepEqual(kernel.conntrack.flows.map((f) => `${f.origDst}:${f.origDport}>${f.natDst}`), ['192.168.1.10:30053>10.244.1.1', '192.168.1.10:51820>192.168.1.10']);
});
