// `kube-ipvs plan` as a user meets it: outputs, exit codes and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { run } from '../../src/cli/run.ts';

const repo = join(import.meta.dirname, '..', '..');
const example = join(repo, 'examples', 'cluster.yaml');

async function plan(args: readonly string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, readStdin: () => Promise.resolve(stdin) });
  return { code, out, err };
}

const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: d}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 443}]}\n';

test('reads stdin with -f -, and several -f files', async () => {
  const r = await plan(['plan', '-f', '-', '--hostname-override', 'n'], svc);
  assert.deepEqual([r.code, r.out], [0, '-A -t 10.96.0.1:443 -s rr\n']);
  const two = await plan(['plan', '-f', '-', '-f', example, '--hostname-override', 'node-a', '-o', 'addresses'], svc);
  assert.ok(two.out.startsWith('10.96.0.1\n10.96.0.10\n'), two.out);
});

test('json output carries every part with a documented shape', async () => {
  const r = await plan(['plan', '-f', example, '--hostname-override', 'node-a', '--node-addresses', '192.168.1.10', '-o', 'json']);
  const j = JSON.parse(r.out) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ['virtualServers', 'addresses', 'ipsets', 'iptables', 'healthCheckNodePorts', 'noLocalEndpoints', 'warnings', 'ignored']);
  const vs = (j.virtualServers as { address: string; port: number; protocol: string; realServers: unknown[] }[])
    .find((v) => v.address === '10.96.0.10' && v.port === 53 && v.protocol === 'UDP');
  assert.deepEqual(vs?.realServers, [
    { address: '10.244.0.2', port: 53, weight: 1, forwarding: 'masq' },
    { address: '10.244.1.3', port: 53, weight: 1, forwarding: 'masq' },
  ]);
  assert.deepEqual(j.healthCheckNodePorts, [{ service: 'ingress-nginx/ingress-nginx-controller', nodePort: 32000, localEndpoints: 1 }]);
  assert.equal((j.ipsets as unknown[]).length, 34);
});

test('a YAML syntax error names file, line and column and exits 2', async () => {
  const r = await plan(['plan', '-f', '-'], 'kind: Service\nmetadata:\n  name: [x\n');
  assert.equal(r.code, 2);
  assert.match(r.err, /^kube-ipvs: <stdin>:4:1: /);
  assert.equal(r.out, '');
});

test('unknown flags and outputs exit 2 listing the valid ones', async () => {
  const flag = await plan(['plan', '-f', example, '--frobnicate']);
  assert.equal(flag.code, 2);
  assert.match(flag.err, /unknown option '--frobnicate'/);
  assert.match(flag.err, /valid options for kube-ipvs plan: .*--output.*--node-addresses/);
  const out = await plan(['plan', '-f', example, '-o', 'yaml']);
  assert.equal(out.code, 2);
  assert.match(out.err, /Allowed choices are ipvsadm, addresses, ipset, iptables, ip6tables, nft, json/);
});

test('bad flag values exit 2 naming the flag and what is accepted', async () => {
  const sched = await plan(['plan', '-f', example, '--ipvs-scheduler', 'fastest']);
  assert.equal(sched.code, 2);
  assert.match(sched.err, /--ipvs-scheduler: "fastest" is not an IPVS scheduler; valid: rr, wrr/);
  const cidr = await plan(['plan', '-f', example, '--nodeport-addresses', '10.0.0.0/40', '--node-addresses', 'x']);
  assert.match(cidr.err, /--node-addresses: "x" is not a valid IP address/);
  assert.match(cidr.err, /--nodeport-addresses: "10.0.0.0\/40" is not a valid CIDR/);
  const bool = await plan(['plan', '-f', example, '--masquerade-all=maybe']);
  assert.deepEqual([bool.code, bool.err], [2, 'kube-ipvs: --masquerade-all: "maybe" is not a boolean (true or false)\n']);
  const missing = await plan(['plan', '-f', '/nonexistent.yaml']);
  assert.deepEqual([missing.code, missing.err], [2, 'kube-ipvs: cannot read /nonexistent.yaml: ENOENT\n']);
});

test('--config problems name the file and field; flags it overrides are reported', async () => {
  const bad = await plan(['plan', '-f', example, '--config', join(repo, 'package.json')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--config .*package.json: kind: expected KubeProxyConfiguration/);
  const cfg = join(repo, 'test', 'golden', 'cases', 'config-file', 'kube-proxy.yaml');
  const ok = await plan(['plan', '-f', example, '--config', cfg, '--ipvs-scheduler', 'lc']);
  assert.equal(ok.code, 0);
  assert.match(ok.err, /warning: --ipvs-scheduler is ignored: --config/);
});

test('the entry point: plan prints and exits 0; the daemon without any API server configuration exits 2 before touching the node', () => {
  const main = join(repo, 'src', 'cli', 'main.ts');
  const out = execFileSync(process.execPath, [main, 'plan', '-f', '-', '--hostname-override', 'n', '-o', 'addresses'], { input: svc, encoding: 'utf8' });
  assert.equal(out, '10.96.0.1\n');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KUBERNETES_')));
  const bare = spawnSync(process.execPath, [main, '--hostname-override', 'n'], { encoding: 'utf8', env, timeout: 20_000 });
  assert.equal(bare.status, 2, bare.stderr);
  assert.match(bare.stderr, /--kubeconfig: not given, no --master, and not running in a cluster/);
});

test('wrongly typed YAML: a warning naming namespace/name and field per object, the object skipped, the rest planned, no throw', async () => {
  const bad = [
    'apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: d}\nspec: {clusterIP: 10.96.0.1, ports: 5}\n',
    'apiVersion: v1\nkind: Service\nmetadata: {name: b, namespace: d}\nspec: {clusterIP: 10.96.0.2, ports: [{port: "80"}]}\n',
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: c-1, namespace: d, labels: {kubernetes.io/service-name: c}}\naddressType: IPv4\nendpoints: {}\n',
    'apiVersion: v1\nkind: Service\nmetadata: {name: c, namespace: d}\nspec: {clusterIP: 10.96.0.3, ports: [{port: 80}]}\n',
    'apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus: {addresses: "10.0.0.1"}\n',
  ].join('---\n');
  const r = await plan(['plan', '-f', '-', '--hostname-override', 'n', '--strict'], bad);
  assert.equal(r.out, '-A -t 10.96.0.3:80 -s rr\n');
  assert.deepEqual(r.err.split('\n').filter((l) => l !== ''), [
    'warning: Node n: status.addresses: expected a list, got a string ("10.0.0.1")',
    'warning: EndpointSlice d/c-1: endpoints: expected a list, got an object',
    'warning: Service d/a: spec.ports: expected a list, got a number (5)',
    'warning: Service d/b: spec.ports[0].port: expected a number, got a string ("80")',
  ]);
  assert.equal(r.code, 1);
});
