// A failed sync loses nothing: every change queued before it is applied by a later sync,
// one Service that cannot be rendered does not hold back the others, and what runs after a
// successful apply (drain check, reporting) never turns it into a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import { silentLog, type Log } from '../../src/log.ts';
import { kernelState, rig, type Rig } from './proxier-rig.ts';

const svc = (name: string, ip: string): Parameters<Rig['cluster']['setService']>[1] =>
  makeService('d', name, { clusterIP: ip, ports: [{ name: 'p', port: 80 }] });
const slice = (name: string, ...ips: string[]): Parameters<Rig['cluster']['setSlice']>[1] =>
  makeSlice('d', name, ips.map((ip) => ep(ip, { node: 'node-a' })), [{ name: 'p', port: 8080 }], { name: `${name}-x` });

function add(r: Rig, name: string, ip: string, ...eps: string[]): void {
  r.cluster.setService(`d/${name}`, svc(name, ip));
  r.cluster.setSlice(`d/${name}-x`, slice(name, ...eps));
}

const ipvs = (r: Rig): string => r.kernel.admin(['ipvsadm', '-Sn']);

async function started(): Promise<Rig> {
  const r = rig();
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  add(r, 'web', '10.96.0.20', '10.244.1.1');
  await r.proxier.sync('periodic');
  assert.equal(r.reports.at(-1)?.error, undefined);
  return r;
}

test('a Service added while the node-address read fails is programmed by the retry', async () => {
  const r = await started();
  add(r, 'api', '10.96.0.21', '10.244.1.2');
  r.failAddressRead = true;
  await r.proxier.sync('periodic'); // resolves: the failure is reported, not thrown
  assert.ok(r.reports.at(-1)?.error !== undefined, 'reported as a failed sync');
  assert.deepEqual(r.retries, [1000], 'a retry is asked for');
  assert.match(r.errors.join('\n'), /sync failed: ip -o addr show: exit 1/);
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.21/);
  await r.proxier.sync('retry');
  assert.match(ipvs(r), /-A -t 10\.96\.0\.21:80 -s rr/);
  assert.equal(r.reports.at(-1)?.error, undefined);
});

test('a change queued before a failed batch is applied by the next sync, even an incremental one', async () => {
  const r = await started();
  r.cluster.setSlice('d/web-x', slice('web', '10.244.1.1', '10.244.1.9'));
  r.kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'Memory allocation problem' });
  await r.proxier.sync('requested');
  assert.ok(r.reports.at(-1)?.error !== undefined);
  await r.proxier.sync('requested'); // no new change: the pending one is still applied
  assert.match(ipvs(r), /-a -t 10\.96\.0\.20:80 -r 10\.244\.1\.9:8080 -m -w 1/);
});

test('a Service whose render throws is reported for that Service; the others are programmed; it is retried', async () => {
  const r = await started();
  r.throwingRender.add('api');
  add(r, 'api', '10.96.0.21', '10.244.1.2');
  add(r, 'db', '10.96.0.22', '10.244.1.3');
  r.cluster.setSlice('d/web-x', slice('web', '10.244.1.1', '10.244.1.4'));
  await r.proxier.sync('requested');
  const last = r.reports.at(-1);
  assert.equal(last?.error, undefined, 'the sync applied');
  assert.match(ipvs(r), /-A -t 10\.96\.0\.22:80 -s rr/);
  assert.match(ipvs(r), /-r 10\.244\.1\.4:8080/);
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.21/);
  assert.deepEqual(r.errors.filter((e) => e.includes('d/api')).length, 1);
  assert.match(r.errors.join('\n'), /Service d\/api: could not be rendered.*render api: injected/);
  assert.deepEqual(r.retries, [1000], 'retried soon');
  r.throwingRender.clear();
  await r.proxier.sync('retry');
  assert.match(ipvs(r), /-A -t 10\.96\.0\.21:80 -s rr/);
});

test('a Service that stops rendering keeps its last applied state, also across a Node change', async () => {
  const r = await started();
  r.throwingRender.add('web');
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10'], { 'topology.kubernetes.io/zone': 'z1' }));
  r.cluster.setSlice('d/web-x', slice('web', '10.244.1.7'));
  await r.proxier.sync('requested');
  assert.match(ipvs(r), /-a -t 10\.96\.0\.20:80 -r 10\.244\.1\.1:8080 -m -w 1/, 'not torn down');
});

test('a drain check or a reporting hook that fails after an applied sync does not fail the sync', async () => {
  const warned: string[] = [];
  const r = rig({ log: { ...silentLog, warn: (_o, m) => { warned.push(m); } } });
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  add(r, 'web', '10.96.0.20', '10.244.1.1');
  await r.proxier.sync('periodic');
  r.failDrainCheck = true;
  add(r, 'api', '10.96.0.21', '10.244.1.2');
  await r.clock.advance(61_000); // the drain check runs once a minute
  await r.proxier.sync('periodic');
  assert.match(r.errors.join('\n') + warned.join('\n'), /drain check failed/);
  assert.match(ipvs(r), /10\.96\.0\.21:80/);
  assert.ok(r.reports.every((x) => x.error === undefined), 'every sync reported as applied');
  assert.deepEqual(r.retries, [], 'no retry of an applied sync');

  let calls = 0;
  const t = rig({ synced: () => { calls++; throw new Error('metrics exploded'); } });
  t.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  add(t, 'web', '10.96.0.20', '10.244.1.1');
  await t.proxier.sync('periodic');
  add(t, 'api', '10.96.0.21', '10.244.1.2');
  await t.proxier.sync('requested');
  assert.equal(calls, 2);
  assert.deepEqual(t.retries, []);
  assert.match(ipvs(t), /10\.96\.0\.21:80/);
  assert.equal(kernelState(t.kernel).includes('10.96.0.21'), true);
});

test('a Service deleted while the ipvsadm batch fails is still deleted by the next sync (its address is unbound only after)', async () => {
  const r = await started();
  add(r, 'api', '10.96.0.21', '10.244.1.2');
  await r.proxier.sync('requested');
  r.cluster.setService('d/api', undefined);
  r.kernel.failNext('ipvsadm', { kind: 'exit', exitCode: 1, stderr: 'Memory allocation problem' });
  await r.proxier.sync('requested');
  assert.match(r.kernel.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']), /10\.96\.0\.21\/32/, 'still bound: still ours');
  await r.proxier.sync('retry');
  assert.doesNotMatch(ipvs(r), /10\.96\.0\.21/);
  assert.doesNotMatch(r.kernel.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']), /10\.96\.0\.21/);
});

function capturing(): { log: Log; lines: { obj: Record<string, unknown>; msg: string }[] } {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  return { lines, log: { ...silentLog, error: (obj, msg) => { lines.push({ obj: obj as Record<string, unknown>, msg }); } } };
}

test('an ipvsadm -R failure is logged with the tool\'s message, exit code and the failing input line', async () => {
  const { log, lines } = capturing();
  const r = rig({ log });
  r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
  add(r, 'web', '10.96.0.20', '10.244.1.1');
  r.kernel.failLine('ipvsadm', /-r 10\.244\.1\.1:8080/, 'Memory allocation problem');
  await r.proxier.sync('periodic');
  assert.equal(lines.length, 1);
  const line = lines[0];
  assert.match(line?.msg ?? '', /^sync failed: ipvsadm -R: exit \d+: Memory allocation problem \(input line 2: -a -t 10\.96\.0\.20:80 -r 10\.244\.1\.1:8080 -m -w 1\)/);
  assert.deepEqual([line?.obj.tool, line?.obj.toolMessage, line?.obj.inputLine, line?.obj.input],
    ['ipvsadm', 'Memory allocation problem', 2, '-a -t 10.96.0.20:80 -r 10.244.1.1:8080 -m -w 1']);
  assert.equal(typeof line?.obj.exitCode, 'number');
});

test('an ipset or ip batch failure is logged with the tool\'s message, exit code and the failing input line', async () => {
  for (const tool of ['ipset', 'ip'] as const) {
    const { log, lines } = capturing();
    const r = rig({ log });
    r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
    add(r, 'web', '10.96.0.20', '10.244.1.1');
    r.kernel.failLine(tool, /10\.96\.0\.20/, 'Kernel error received: Invalid argument');
    await r.proxier.sync('periodic');
    const line = lines[0];
    assert.equal(lines.length, 1, tool);
    assert.ok(line !== undefined);
    assert.equal(line.obj.tool, tool);
    assert.equal(typeof line.obj.exitCode, 'number', tool);
    assert.match(String(line.obj.toolMessage), /Invalid argument/, tool);
    assert.match(String(line.obj.input), /10\.96\.0\.20/, tool);
    assert.match(line.msg, new RegExp(`^sync failed: ${tool} .*exit \\d+: .*\\(input line \\d+: .*10\\.96\\.0\\.20`), tool);
  }
});
