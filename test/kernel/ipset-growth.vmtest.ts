// Runs inside the VM (make e2e): an ipset crosses kube-proxy's fixed maxelem of 65,536 on the
// real kernel (kubernetes #129389: there, further Services silently fail) through the same
// diff → restore-script path the dataplane runs, full resync and incremental alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execaRunner } from '../../src/apply/exec.ts';
import { applyIpsetScript, readIpsets } from '../../src/apply/ipset.ts';
import { formatDeltaScript } from '../../src/tools/ipset.ts';
import { diffIpsets, incrementalSetDeltas } from '../../src/compute/diff/ipsets.ts';
import type { IpsetState } from '../../src/compute/model/desired.ts';
import { createOptions } from '../../src/compute/model/ipsets.ts';
import { sh } from './lab.ts';

const ipPorts = (from: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `10.${96 + ((from + i) >> 16)}.${((from + i) >> 8) & 255}.${(from + i) & 255},tcp:80`);
const clusterIp = (entries: readonly string[]): IpsetState =>
  ({ name: 'KUBE-CLUSTER-IP', base: 'KUBE-CLUSTER-IP', family: 4, type: 'hash:ip,port', createOptions: createOptions('hash:ip,port', 4, entries.length), entries });
/** Header of `ipset list -t`: maxelem and the member count the kernel reports. */
const header = (): { maxelem: string | undefined; members: number } => {
  const out = sh('ipset', 'list', '-t', 'KUBE-CLUSTER-IP');
  return { maxelem: /maxelem (\d+)/.exec(out)?.[1], members: Number(/Number of entries: (\d+)/.exec(out)?.[1]) };
};

test('KUBE-CLUSTER-IP grows past 65,536 members by a swap in one ipset restore, and keeps taking new members', { timeout: 600_000 }, async () => {
  // As kube-proxy leaves it: maxelem 65536, nearly full.
  sh('ipset', 'create', 'KUBE-CLUSTER-IP', 'hash:ip,port', 'family', 'inet', 'hashsize', '1024', 'maxelem', '65536');
  await applyIpsetScript(execaRunner, formatDeltaScript(diffIpsets([clusterIp(ipPorts(0, 60_000))], await readIpsets(execaRunner)).deltas));
  assert.deepEqual(header(), { maxelem: '65536', members: 60_000 });
  // The kernel really refuses members beyond it (checked per hash region, so not at exactly the
  // 65,537th: seen here, one restore stops at 65,537, and 60,000 + 5,537 in two restores passes).
  await assert.rejects(applyIpsetScript(execaRunner, `${ipPorts(60_000, 10_000).map((e) => `add KUBE-CLUSTER-IP ${e}`).join('\n')}\n`), /Hash is full/);
  sh('ipset', 'flush', 'KUBE-CLUSTER-IP');
  await applyIpsetScript(execaRunner, formatDeltaScript(diffIpsets([clusterIp(ipPorts(0, 60_000))], await readIpsets(execaRunner)).deltas));

  // A full resync that wants 70,000 members: grown in place of adds.
  const big = clusterIp(ipPorts(0, 70_000));
  const { deltas } = diffIpsets([big], await readIpsets(execaRunner));
  assert.deepEqual(deltas.map((d) => d.grow), [true]);
  await applyIpsetScript(execaRunner, formatDeltaScript(deltas));
  assert.deepEqual(header(), { maxelem: '131072', members: 70_000 });
  const sets = await readIpsets(execaRunner);
  assert.deepEqual([...sets.keys()].filter((n) => n.startsWith('KUBE-TMP-')), [], 'no temporary set left');

  // An incremental sync then adds a new Service's member as a plain add, and it is there.
  const next = ipPorts(70_000, 1);
  const inc = incrementalSetDeltas([clusterIp(ipPorts(0, 70_001))], new Map([['KUBE-CLUSTER-IP', { added: next, removed: [] }]]), sets);
  assert.deepEqual(inc.map((d) => [d.grow, d.add.length]), [[undefined, 1]]);
  await applyIpsetScript(execaRunner, formatDeltaScript(inc));
  assert.deepEqual(header(), { maxelem: '131072', members: 70_001 });
  assert.doesNotThrow(() => sh('ipset', 'test', 'KUBE-CLUSTER-IP', next[0] ?? ''), 'the new member is in the set (ipset test exits 0)');
  sh('ipset', 'destroy', 'KUBE-CLUSTER-IP');
});
