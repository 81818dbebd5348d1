// Configurations as deployments write them start unchanged; --write-config-to shows what
// takes effect, and each field or flag kube-ipvs does not implement is named once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { run } from '../../src/cli/run.ts';

const fixtures = join(import.meta.dirname, '..', 'fixtures', 'kube-proxy');
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-configs-'));

async function writeConfig(argv: readonly string[]): Promise<{ code: number; stderr: string; config: Record<string, unknown> }> {
  let stderr = '';
  const out = join(dir, `${String(Date.now())}-${String(Math.random()).slice(2)}.yaml`);
  const code = await run([...argv, '--write-config-to', out], { stdout: () => undefined, stderr: (s) => { stderr += s; }, readStdin: () => Promise.resolve('') });
  return { code, stderr, config: code === 0 ? parse(readFileSync(out, 'utf8')) as Record<string, unknown> : {} };
}

test('a kubespray-style config starts unchanged; the dropped udpIdleTimeout is named', async () => {
  const file = join(fixtures, 'kubespray', 'kube-proxy-config.yaml');
  const r = await writeConfig(['--config', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `warning: --config ${file}: udpIdleTimeout is not a KubeProxyConfiguration field; ignored\n`);
  assert.deepEqual([r.config.clusterCIDR, r.config.hostnameOverride, r.config.detectLocalMode, r.config.healthzBindAddress, r.config.metricsBindAddress],
    ['10.233.64.0/18', 'node1', 'ClusterCIDR', '0.0.0.0:10256', '127.0.0.1:10249']);
  assert.deepEqual(r.config.ipvs, { excludeCIDRs: [], minSyncPeriod: '0s', scheduler: 'rr', strictARP: true, syncPeriod: '30s', tcpFinTimeout: '0s', tcpTimeout: '0s', udpTimeout: '0s' });
});

test('systemd-unit and kube-router-style flags start unchanged; inert ones are named once each', async () => {
  const { argv } = JSON.parse(readFileSync(join(fixtures, 'flags-systemd.json'), 'utf8')) as { argv: string[] };
  const r = await writeConfig(argv);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stderr.split('\n').filter((l) => l !== '').map((l) => l.replace(/ has no effect in kube-ipvs: .*/, '')),
    ['warning: --iptables-sync-period', 'warning: --kube-api-qps', 'warning: --feature-gates']);
  const c = r.config as { ipvs: Record<string, unknown>; iptables: Record<string, unknown>; conntrack: Record<string, unknown>; logging: Record<string, unknown> } & Record<string, unknown>;
  assert.deepEqual([c.hostnameOverride, c.clusterCIDR, c.ipvs.scheduler, c.ipvs.strictARP, c.ipvs.excludeCIDRs, c.iptables.masqueradeAll, c.conntrack.maxPerCore,
    c.metricsBindAddress, c.nodePortAddresses, c.oomScoreAdj, c.logging.verbosity, c.clientConnection],
  ['worker-0', '10.200.0.0/16', 'wrr', true, ['10.0.0.0/24'], true, 0, '0.0.0.0:10249', ['192.168.0.0/16'], -998, 2,
    { acceptContentTypes: '', burst: 10, contentType: 'application/json', kubeconfig: '/var/lib/kube-proxy/kubeconfig', qps: 5 }]);
});

test('config file defaulting, field by field: zero or empty means kube-proxy\'s default; an explicit 0s timeout stays 0', async () => {
  const file = join(dir, 'zeros.yaml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(file, ['apiVersion: kubeproxy.config.k8s.io/v1alpha1', 'kind: KubeProxyConfiguration', 'bindAddress: ""', 'healthzBindAddress: ""',
    'metricsBindAddress: 127.0.0.1', 'mode: ""', 'detectLocalMode: ""', 'oomScoreAdj: null', 'ipvs: {syncPeriod: 0s, scheduler: ""}',
    'conntrack: {maxPerCore: null, min: null, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: null}', 'iptables: {masqueradeBit: null}', ''].join('\n'));
  const r = await writeConfig(['--config', file, '--hostname-override=n']);
  assert.equal(r.code, 0, r.stderr);
  const c = r.config as { ipvs: Record<string, unknown>; iptables: Record<string, unknown>; conntrack: Record<string, unknown> } & Record<string, unknown>;
  assert.deepEqual([c.bindAddress, c.healthzBindAddress, c.metricsBindAddress, c.mode, c.detectLocalMode, c.oomScoreAdj, c.ipvs.syncPeriod, c.ipvs.scheduler,
    c.conntrack.maxPerCore, c.conntrack.min, c.conntrack.tcpEstablishedTimeout, c.conntrack.tcpCloseWaitTimeout, c.iptables.masqueradeBit],
  ['0.0.0.0', '0.0.0.0:10256', '127.0.0.1:10249', 'ipvs', 'ClusterCIDR', -999, '30s', 'rr', 32768, 131072, '0s', '1h0m0s', 14]);
});

test('config file validation names the field: a bad detectLocalMode, a missing bridge name, v1alpha2', async () => {
  const { writeFileSync } = await import('node:fs');
  const cases: [string, RegExp][] = [
    ['apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\ndetectLocalMode: PodCIDR\n', /--detect-local-mode: "PodCIDR" is not a mode; valid: ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix/],
    ['apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\ndetectLocalMode: BridgeInterface\n', /--pod-bridge-interface: must be set when --detect-local-mode is BridgeInterface/],
    ['apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n', /apiVersion: expected kubeproxy\.config\.k8s\.io\/v1alpha1, got "kubeproxy\.config\.k8s\.io\/v1alpha2"/],
  ];
  for (const [text, want] of cases) {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, text);
    const r = await writeConfig(['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, want);
  }
});
