// Runs inside the VM (make e2e): `kube-ipvs plan` output for the shipped example cluster is fed
// to the real tools, and what the kernel reports back is exactly what was planned.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../../src/cli/run.ts';

const repo = join(import.meta.dirname, '..', '..');
const args = ['plan', '-f', join(repo, 'examples', 'cluster.yaml'), '--hostname-override', 'node-a',
  '--node-addresses', '192.168.1.10,fd00:192:168:1::10', '--cluster-cidr', '10.244.0.0/16,fd00:10:244::/56'];

async function plan(output: string): Promise<string> {
  let out = '';
  const code = await run([...args, '-o', output], { stdout: (s) => { out += s; }, stderr: () => undefined, readStdin: () => Promise.resolve('') });
  assert.equal(code, 0);
  return out;
}

const sh = (cmd: string, argv: string[], input?: string): string =>
  execFileSync(cmd, argv, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
const sorted = (xs: string[]): string[] => [...xs].sort();

test('ipvsadm -R accepts the plan and ipvsadm -Sn prints it back line for line', async () => {
  const want = await plan('ipvsadm');
  sh('ipvsadm', ['-C']);
  sh('ipvsadm', ['-R'], want);
  assert.deepEqual(sorted(lines(sh('ipvsadm', ['-Sn']))), sorted(lines(want)));
  sh('ipvsadm', ['-C']);
});

test('scheduler flags and persistence print back in ipvsadm\'s own order', async () => {
  const svc = (name: string, ip: string, sched: string, flags: string, affinity: boolean) => [
    'apiVersion: v1', 'kind: Service',
    `metadata: {name: ${name}, namespace: d, annotations: {ipvs.kube-ipvs.io/scheduler: ${sched}, ipvs.kube-ipvs.io/scheduler-flags: "${flags}"}}`,
    `spec: {clusterIP: ${ip}, ports: [{port: 80}]${affinity ? ', sessionAffinity: ClientIP' : ''}}`,
  ].join('\n');
  const input = [svc('a', '10.96.0.1', 'mh', 'mh-fallback,mh-port', true), svc('b', '10.96.0.2', 'sh', 'sh-port', false), svc('c', '10.96.0.3', 'mh', '', true)].join('\n---\n');
  let want = '';
  const code = await run(['plan', '-f', '-', '--hostname-override', 'n'], { stdout: (s) => { want += s; }, stderr: () => undefined, readStdin: () => Promise.resolve(input) });
  assert.equal(code, 0);
  sh('ipvsadm', ['-C']);
  sh('ipvsadm', ['-R'], want);
  assert.deepEqual(sorted(lines(sh('ipvsadm', ['-Sn']))), sorted(lines(want)));
  sh('ipvsadm', ['-C']);
});

test('ipset restore accepts the plan and ipset save lists the same members', async () => {
  const want = await plan('ipset');
  sh('ipset', ['restore'], want);
  const saved = lines(sh('ipset', ['save']));
  assert.deepEqual(sorted(saved.filter((l) => l.startsWith('add '))), sorted(lines(want).filter((l) => l.startsWith('add '))));
  // Same sets with the same types; the kernel adds bucketsize/initval to hash sets.
  const creates = (ls: string[]) => sorted(ls.filter((l) => l.startsWith('create ')).map((l) => l.split(' ').slice(0, 3).join(' ')));
  assert.deepEqual(creates(saved), creates(lines(want)));
  sh('ipset', ['destroy']);
});

// Both iptables backends: nft (Debian's default) and legacy print the same save format.
for (const [family, tool] of [['iptables', 'iptables'], ['ip6tables', 'ip6tables'], ['iptables', 'iptables-legacy'], ['ip6tables', 'ip6tables-legacy']] as const) {
  test(`${tool}-restore --noflush accepts the plan and ${tool}-save prints the rules back as planned`, async () => {
    sh('ipset', ['restore'], await plan('ipset')); // rules refer to the sets
    const want = await plan(family);
    sh(`${tool}-restore`, ['--noflush', '-w'], want);
    const saved = lines(sh(`${tool}-save`, []));
    const rules = (ls: string[]) => ls.filter((l) => l.startsWith('-A '));
    assert.deepEqual(sorted(rules(saved)), sorted(rules(lines(want))));
    for (const t of ['nat', 'filter']) sh(tool, ['-t', t, '-F']);
    for (const t of ['nat', 'filter']) sh(tool, ['-t', t, '-X']);
    sh('ipset', ['destroy']);
  });
}

test('every planned address binds to the kube-ipvs0 dummy interface', async () => {
  const want = lines(await plan('addresses'));
  sh('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
  const batch = want.map((a) => `addr add ${a}/${a.includes(':') ? 128 : 32} dev kube-ipvs0`).join('\n');
  sh('ip', ['-batch', '-'], `${batch}\n`);
  const bound = lines(sh('ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).map((l) => (l.split(/\s+/)[3] ?? '').split('/')[0] ?? '');
  assert.deepEqual(sorted(bound), sorted(want));
  sh('ip', ['link', 'del', 'kube-ipvs0']);
});
