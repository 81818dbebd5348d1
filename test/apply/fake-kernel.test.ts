// The fake kernel against what the real tools printed (test/fixtures/tools): if these hold,
// a test that passes against the fake says something about the real kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolError } from '../../src/apply/exec.ts';
import { parseConnCounts, parseStats } from '../../src/tools/ipvsadm.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';
import { fixture, probe } from './fixtures.ts';

interface Ran { stdout: string; stderr: string; exitCode: number }

async function run(k: FakeKernel, argv: readonly string[], input?: string): Promise<Ran> {
  try {
    const r = await k.run(argv, input === undefined ? {} : { input });
    return { ...r, exitCode: 0 };
  } catch (e) {
    if (!(e instanceof ToolError) || e.exitCode === undefined) throw e;
    return { stdout: e.stdout, stderr: e.stderr, exitCode: e.exitCode };
  }
}

const noComments = (s: string): string => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
const sortedLines = (s: string): string[] => s.split('\n').filter((l) => l !== '').sort();
const maskInitval = (s: string): string => s.replace(/initval 0x[0-9a-f]+/g, 'initval X');

/** The state the capture script built before its probes. */
function capturedState(): FakeKernel {
  const k = new FakeKernel();
  k.admin(['ipvsadm', '-R'], fixture('ipvsadm-save.txt'));
  k.admin(['ipset', 'restore'], fixture('ipset-save.txt'));
  k.admin(['ip', '-batch', '-'], 'link add kube-ipvs0 type dummy\naddr add 10.96.0.10/32 dev kube-ipvs0\naddr add 10.96.0.11/32 dev kube-ipvs0\naddr add fd00::10/128 dev kube-ipvs0\n');
  return k;
}

test('reads print what ipvsadm, ipset and ip print', async () => {
  const k = capturedState();
  assert.equal((await run(k, ['ipvsadm', '-Sn'])).stdout, fixture('ipvsadm-save.txt'));
  // the capture's traffic, seeded from its own numbers
  const web = k.ipvs.services.get('TCP 10.96.0.10:80') ?? assert.fail();
  const be1 = web.reals.get('10.244.1.5:8080') ?? assert.fail();
  be1.inactiveConns = parseConnCounts(fixture('ipvsadm-Ln-exact.txt')).get('TCP/10.96.0.10:80')?.[0]?.inactiveConns ?? 0;
  web.stats = { ...parseStats(fixture('ipvsadm-Ln-stats-exact.txt')).get('TCP/10.96.0.10:80')?.stats ?? assert.fail() };
  be1.stats = { ...web.stats };
  assert.equal((await run(k, ['ipvsadm', '-Ln', '--exact'])).stdout, fixture('ipvsadm-Ln-exact.txt'));
  assert.equal((await run(k, ['ipvsadm', '-Ln', '--stats', '--exact'])).stdout, fixture('ipvsadm-Ln-stats-exact.txt'));
  assert.equal((await run(k, ['ipset', 'save'])).stdout, fixture('ipset-save.txt'));
  assert.equal((await run(k, ['ipset', 'list', '-n'])).stdout, fixture('ipset-list-n.txt'));
  assert.equal((await run(k, ['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).stdout, fixture('ip-o-addr-dev.txt'));
});

test('iptables-save of either backend prints back what was restored, as the real one did', async () => {
  const k = capturedState();
  for (const [backend, name] of [['nft', 'iptables-save-nft.txt'], ['legacy', 'iptables-save-legacy.txt']] as const) {
    k.admin([`iptables-${backend}-restore`, '--noflush'], fixture(name));
    assert.equal(noComments((await run(k, [`iptables-${backend}-save`])).stdout), noComments(fixture(name)), backend);
  }
  // rules left in legacy tables are pointed out by the nft tools, as on a real node
  assert.match((await run(k, ['iptables-nft-save'])).stderr, /iptables-legacy tables present/);
});

// The capture script's probes, in its order, each with its recorded stdin, stderr and exit code.
const PROBES = [
  'fail-ipvsadm-R-exists-middle.txt', 'fail-ipvsadm-R-nosuch-last.txt', 'fail-ipvsadm-R-parse.txt', 'fail-ipvsadm-R-sched.txt',
  'fail-ipvsadm-R-rs-exists.txt', 'ipvsadm-set.txt', 'ipvsadm-Ln-timeout.txt', 'fail-ipset-restore.txt', 'fail-ipset-restore-exist.txt',
  'ipset-swap.txt', 'fail-ipset-destroy-missing.txt', 'fail-ipset-create-conflict.txt', 'fail-ip-batch.txt',
  'fail-ip-batch-del-missing.txt', 'fail-ip-link-exists.txt', 'fail-ip-addr-nodev.txt', 'fail-iptables-restore-nft.txt',
  'fail-iptables-restore-legacy.txt', 'fail-iptables-restore-delete-missing.txt', 'conntrack-delete-none.txt', 'conntrack-delete-dnat-none.txt',
];

test('failures: the same input fails with the same message and exit code as the real tool', async () => {
  const k = capturedState();
  for (const name of PROBES) {
    const p = probe(name);
    const got = await run(k, p.argv, p.stdin === '' ? undefined : p.stdin);
    assert.deepEqual({ stdout: got.stdout, stderr: got.stderr, exitCode: got.exitCode }, { stdout: p.stdout, stderr: p.stderr, exitCode: p.exitCode }, name);
  }
  // what stayed applied: lines before a failure (ipvsadm -R goes on after kernel errors)
  assert.deepEqual(sortedLines((await run(k, ['ipvsadm', '-Sn'])).stdout), sortedLines(probe('ipvsadm-after-failures.txt').stdout));
  assert.equal(maskInitval((await run(k, ['ipset', 'save', 'KUBE-Y'])).stdout), maskInitval(probe('ipset-save-after.txt').stdout));
  const filter = (await run(k, ['iptables-nft-save', '-t', 'filter'])).stdout;
  assert.doesNotMatch(filter, /KUBE-T/, 'a failed table commits nothing');
});

test('injected faults: a missing tool, a timeout, an exit, a failing batch line', async () => {
  const k = new FakeKernel();
  k.failNext('ipset', { kind: 'missing' });
  k.failNext('iptables', { kind: 'timeout' });
  k.failNext('ip', { kind: 'exit', exitCode: 2, stderr: 'boom\n' });
  await assert.rejects(k.run(['ipset', 'save']), { code: 'TOOL_MISSING' });
  await assert.rejects(k.run(['ip6tables-legacy-save']), { code: 'TOOL_TIMEOUT' });
  await assert.rejects(k.run(['ip', '-o', 'addr', 'show']), { code: 'TOOL_FAILED', exitCode: 2, stderr: 'boom\n' });
  // each fault fires once
  assert.equal((await run(k, ['ipset', 'save'])).exitCode, 0);
  k.failLine('ipvsadm', '10.96.0.2:80', 'Memory allocation problem');
  const r = await run(k, ['ipvsadm', '-R'], '-A -t 10.96.0.1:80 -s rr\n-A -t 10.96.0.2:80 -s rr\n-A -t 10.96.0.3:80 -s rr\n');
  assert.deepEqual(r, { stdout: '', stderr: 'Memory allocation problem\n', exitCode: 0 });
  assert.deepEqual([...k.ipvs.services.keys()], ['TCP 10.96.0.1:80', 'TCP 10.96.0.3:80']);
});

test('calls are counted per tool; changes behind the proxy\'s back are not', async () => {
  const k = new FakeKernel();
  k.admin(['ipvsadm', '-A', '-t', '10.96.0.1:80', '-s', 'rr']);
  await k.run(['ipvsadm', '-Sn']);
  await k.run(['/usr/sbin/ipvsadm', '-Ln', '--exact']);
  await k.run(['ipset', 'save']);
  assert.deepEqual([k.callCount('ipvsadm'), k.callCount('ipset'), k.callCount()], [2, 1, 3]);
  k.admin(['iptables', '-t', 'nat', '-A', 'PREROUTING', '-m', 'comment', '--comment', 'x y', '-j', 'ACCEPT']);
  k.admin(['iptables', '-t', 'nat', '-D', 'PREROUTING', '-m', 'comment', '--comment', 'x y', '-j', 'ACCEPT']);
  assert.doesNotMatch((await k.run(['iptables-save', '-t', 'nat'])).stdout, /comment/);
});

test('ipvsadm prints real servers sorted by address, then port, whatever order they were added in (as the real one did)', async () => {
  // The commands that made test/fixtures/tools/ipvsadm-save-order.txt in the test VM (ipvsadm 1.31,
  // kernel 6.1): real servers added out of order, one edited, one deleted and added again.
  const k = new FakeKernel();
  const svc = ['-t', '10.96.0.1:80'];
  k.admin(['ipvsadm', '-A', ...svc, '-s', 'rr']);
  for (const ip of ['10.244.0.9', '10.244.0.3', '10.244.0.200', '10.244.0.25', '10.244.0.1']) k.admin(['ipvsadm', '-a', ...svc, '-r', `${ip}:8080`, '-m', '-w', '1']);
  k.admin(['ipvsadm', '-e', ...svc, '-r', '10.244.0.3:8080', '-m', '-w', '0']);
  k.admin(['ipvsadm', '-d', ...svc, '-r', '10.244.0.25:8080']);
  k.admin(['ipvsadm', '-a', ...svc, '-r', '10.244.0.25:8080', '-m', '-w', '1']);
  k.admin(['ipvsadm', '-a', ...svc, '-r', '10.244.0.7:9090', '-m', '-w', '1']);
  k.admin(['ipvsadm', '-a', ...svc, '-r', '10.244.0.7:8080', '-m', '-w', '1']);
  assert.equal((await run(k, ['ipvsadm', '-Sn'])).stdout, fixture('ipvsadm-save-order.txt'));
});
