// What the informers report themselves: this Node's wrongly typed fields (nothing renders a
// Node, so nobody else would say why its addresses or zone are ignored).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Log } from '../../src/log.ts';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { ClusterWatcher } from '../../src/observe/informers.ts';
import { node } from '../support/apiserver/builders.ts';
import { kubeConfigFor } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';

test('a Node with a wrongly typed field is logged naming the field; the rest of it is kept', async () => {
  await using api = await start();
  api.create({ ...node('node-a', { 'topology.kubernetes.io/zone': 'z1' }), status: { addresses: { type: 'InternalIP', address: '192.168.0.10' } } });
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (_o, msg) => { warnings.push(msg); } };
  const cluster = new ClusterState();
  const watcher = new ClusterWatcher(kubeConfigFor(api), 'node-a', cluster, { changed: () => undefined }, log);
  try {
    await watcher.start();
    assert.deepEqual(warnings, ['Node node-a: status.addresses: expected a list, got an object']);
    assert.equal(cluster.node?.metadata?.labels?.['topology.kubernetes.io/zone'], 'z1');
    assert.equal(cluster.node.status, undefined);
  } finally {
    watcher.stop();
  }
});
