// The proxier's incremental path end to end against the fake kernel: in particular a Node
// change, which rebuilds the desired index — its changes are then relative to nothing, so the
// sync must diff everything against what was applied, or removals made meanwhile would be lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dataplane } from '../../src/apply/dataplane.ts';
import { resolveConfig } from '../../src/compute/config.ts';
import { parseIp } from '../../src/compute/net/ip.ts';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { systemClock } from '../../src/sync/clock.ts';
import { Proxier } from '../../src/sync/proxier.ts';
import { nodeAddressReader, nodeAddresses } from '../../src/daemon.ts';
import type { Runner } from '../../src/apply/exec.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';

test('a Service deleted in the same sync as a Node change is removed from the kernel', async () => {
  const kernel = new FakeKernel();
  const node = parseIp('192.168.1.10')!;
  const cluster = new ClusterState();
  const dataplane = new Dataplane({ runner: kernel, families: [4], excludeCidrs: [], log: silentLog });
  const proxier = new Proxier({
    config: resolveConfig({ hostnameOverride: 'node-a' }, 'test'), families: [4], cluster, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => Promise.resolve([node]), hooks: { synced: () => undefined, invalid: () => undefined }, retryAfter: () => undefined,
  });
  cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  for (const [name, ip] of [['web', '10.96.0.20'], ['api', '10.96.0.21']] as const) {
    cluster.setService(`d/${name}`, makeService('d', name, { clusterIP: ip, ports: [{ name: 'p', port: 80 }] }));
    cluster.setSlice(`d/${name}-x`, makeSlice('d', name, [ep('10.244.1.1', { node: 'node-a' })], [{ name: 'p', port: 8080 }]));
  }
  await proxier.sync('periodic');
  assert.match(kernel.admin(['ipvsadm', '-Sn']), /10\.96\.0\.21:80/);

  cluster.setService('d/api', undefined);
  cluster.setNode(makeNode('node-a', ['192.168.1.10'], { 'topology.kubernetes.io/zone': 'z1' }));
  await proxier.sync('requested');
  assert.doesNotMatch(kernel.admin(['ipvsadm', '-Sn']), /10\.96\.0\.21/);
  assert.doesNotMatch(kernel.admin(['ipset', 'save']), /10\.96\.0\.21/);
  assert.doesNotMatch(kernel.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']), /10\.96\.0\.21/);
  assert.match(kernel.admin(['ipvsadm', '-Sn']), /10\.96\.0\.20:80/);
});

test('a periodic resync follows the node\'s addresses: NodePorts leave a removed address and appear on a new one', async () => {
  const kernel = new FakeKernel();
  kernel.admin(['ip', 'addr', 'add', '192.168.2.10/24', 'dev', 'eth0']);
  const cluster = new ClusterState();
  const dataplane = new Dataplane({ runner: kernel, families: [4], excludeCidrs: [], log: silentLog });
  const proxier = new Proxier({
    config: resolveConfig({ hostnameOverride: 'node-a' }, 'test'), families: [4], cluster, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: () => nodeAddresses(kernel, [4]), hooks: { synced: () => undefined, invalid: () => undefined }, retryAfter: () => undefined,
  });
  cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  cluster.setService('d/web', makeService('d', 'web', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80, nodePort: 30080 }] }));
  cluster.setSlice('d/web-x', makeSlice('d', 'web', [ep('10.244.1.1')], [{ name: 'p', port: 8080 }]));
  const nodePorts = (): string[] => kernel.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l.startsWith('-A -t 192.168.')).sort();
  await proxier.sync('periodic');
  assert.deepEqual(nodePorts(), ['-A -t 192.168.1.10:30080 -s rr', '-A -t 192.168.2.10:30080 -s rr']);
  kernel.admin(['ip', 'addr', 'del', '192.168.2.10/24', 'dev', 'eth0']);
  kernel.admin(['ip', 'addr', 'add', '192.168.3.10/24', 'dev', 'eth0']);
  await proxier.sync('periodic');
  assert.deepEqual(nodePorts(), ['-A -t 192.168.1.10:30080 -s rr', '-A -t 192.168.3.10:30080 -s rr']);
});

test('a periodic resync takes the node\'s addresses from its own kernel read: one `ip -o addr show` per resync, NodePorts still follow', async () => {
  const kernel = new FakeKernel();
  kernel.admin(['ip', 'addr', 'add', '192.168.2.10/24', 'dev', 'eth0']);
  let addrReads = 0;
  const runner: Runner = { run: (argv, opts) => { if (argv.join(' ') === 'ip -o addr show') addrReads++; return kernel.run(argv, opts); } };
  const cluster = new ClusterState();
  const dataplane = new Dataplane({ runner, families: [4], excludeCidrs: [], log: silentLog });
  const proxier = new Proxier({
    config: resolveConfig({ hostnameOverride: 'node-a' }, 'test'), families: [4], cluster, dataplane, log: silentLog, clock: systemClock,
    readNodeAddresses: nodeAddressReader(runner, [4]), hooks: { synced: () => undefined, invalid: () => undefined }, retryAfter: () => undefined,
  });
  cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  cluster.setService('d/web', makeService('d', 'web', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [{ name: 'p', port: 80, nodePort: 30080 }] }));
  cluster.setSlice('d/web-x', makeSlice('d', 'web', [ep('10.244.1.1')], [{ name: 'p', port: 8080 }]));
  const nodePorts = (): string[] => kernel.admin(['ipvsadm', '-Sn']).split('\n').filter((l) => l.startsWith('-A -t 192.168.')).sort();
  const signal = { onRequest: () => () => undefined };
  await proxier.sync('periodic', signal);
  assert.deepEqual(nodePorts(), ['-A -t 192.168.1.10:30080 -s rr', '-A -t 192.168.2.10:30080 -s rr']);
  kernel.admin(['ip', 'addr', 'del', '192.168.2.10/24', 'dev', 'eth0']);
  kernel.admin(['ip', 'addr', 'add', '192.168.3.10/24', 'dev', 'eth0']);
  addrReads = 0;
  await proxier.sync('periodic', signal);
  assert.equal(addrReads, 1, 'the dataplane\'s read only, not a second one for the node\'s addresses');
  assert.deepEqual(nodePorts(), ['-A -t 192.168.1.10:30080 -s rr', '-A -t 192.168.3.10:30080 -s rr']);
  assert.deepEqual(proxier.nodePortIps.map((ip) => ip.text).sort(), ['192.168.1.10', '192.168.3.10']);
});
