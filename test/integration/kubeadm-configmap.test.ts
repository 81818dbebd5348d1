// kubeadm's own kube-proxy ConfigMap (v1.31-v1.35, test/fixtures/kube-proxy/kubeadm/) starts
// kube-ipvs exactly as kubeadm's DaemonSet starts kube-proxy: both keys mounted at
// /var/lib/kube-proxy, `--config=/var/lib/kube-proxy/config.conf --hostname-override=$(NODE_NAME)`,
// the service-account token at /var/run/secrets/kubernetes.io/serviceaccount/token. A private
// mount namespace (unshare -m, as root) provides those paths without touching the host.
// config.conf is used unchanged; in kubeconfig.conf only the server becomes the test API server's
// http address (with insecure-skip-tls-verify: it has no TLS), and the token is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { seedWeb } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { tracked } from '../support/child.ts';

const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'kube-proxy', 'kubeadm');
// The real entry point with the node's kernel replaced by the fake one: this host is never changed.
const main = join(root, 'test', 'support', 'fake-kernel-main.ts');
const canUnshare = spawnSync('unshare', ['-m', 'true']).status === 0;

interface ConfigMap { readonly data: { readonly 'config.conf': string; readonly 'kubeconfig.conf': string } }

/** A shell script that lays out the pod's mounts in a private mount namespace, then runs argv. */
function podScript(dir: string, argv: readonly string[]): string {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  return [
    'set -e',
    'mount -t tmpfs none /var/lib', 'mkdir -p /var/lib/kube-proxy',
    `cp ${q(join(dir, 'config.conf'))} ${q(join(dir, 'kubeconfig.conf'))} /var/lib/kube-proxy/`,
    'mount -t tmpfs none /run', 'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
    `cp ${q(join(dir, 'token'))} ${q(join(dir, 'ca.crt'))} /run/secrets/kubernetes.io/serviceaccount/`,
    `exec ${argv.map(q).join(' ')}`,
  ].join('\n');
}

function podDir(cm: ConfigMap, server: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-kubeadm-'));
  writeFileSync(join(dir, 'config.conf'), cm.data['config.conf']);
  const kubeconfig = cm.data['kubeconfig.conf'].replace('server: https://control-plane:6443', `server: ${server}\n    insecure-skip-tls-verify: true`)
    .replace(/^ {4}certificate-authority: .*\n/m, '');
  assert.notEqual(kubeconfig, cm.data['kubeconfig.conf']);
  writeFileSync(join(dir, 'kubeconfig.conf'), kubeconfig);
  writeFileSync(join(dir, 'token'), 'kube-proxy-sa-token\n');
  writeFileSync(join(dir, 'ca.crt'), '');
  return dir;
}

const portsFree = (): boolean => !/:(10256|10249)\b/.test(spawnSync('ss', ['-ltnH']).stdout.toString());

for (const file of readdirSync(fixtures).filter((f) => /^v1\.\d+\.yaml$/.test(f)).sort()) {
  test(`kubeadm ${file.replace('.yaml', '')}'s kube-proxy ConfigMap starts the daemon unchanged; --write-config-to shows kube-proxy's defaults`,
    { skip: canUnshare ? false : 'needs root for a private mount namespace (unshare -m)' }, async (t) => {
      const cm = parse(readFileSync(join(fixtures, file), 'utf8')) as ConfigMap;
      const api = await start({ token: 'kube-proxy-sa-token' });
      try {
        seedWeb(api);
        const dir = podDir(cm, api.url);
        // --write-config-to first: the effective configuration, nothing started.
        const out = join(dir, 'effective.yaml');
        const w = spawnSync('unshare', ['-m', 'sh', '-c', podScript(dir, [process.execPath, main, '--config=/var/lib/kube-proxy/config.conf', '--hostname-override=node-a', `--write-config-to=${out}`])], { timeout: 60_000 });
        assert.equal(w.status, 0, w.stderr.toString());
        assert.equal(w.stderr.toString(), '', 'no warning: kubeadm sets no field kube-ipvs ignores');
        assert.deepEqual(parse(readFileSync(out, 'utf8')), parse(readFileSync(join(fixtures, 'effective.yaml'), 'utf8')));
        // Then the daemon itself, with the DaemonSet's arguments.
        assert.ok(portsFree(), 'ports 10256 and 10249 must be free: kubeadm\'s config leaves health and metrics at their defaults');
        // The script execs the daemon: the signals reach it, not a shell.
        const d = tracked(t, spawn('unshare', ['-m', 'sh', '-c', podScript(dir, [process.execPath, main, '--config=/var/lib/kube-proxy/config.conf', '--hostname-override=node-a'])],
          { stdio: ['ignore', 'ignore', 'pipe'] }));
        const proc = d.proc;
        let logs = '';
        proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
        try {
          await waitUntil(() => logs.includes('"first sync done"') || proc.exitCode !== null, 'first sync', 30_000);
          assert.match(logs, /"first sync done"/, logs);
          assert.ok(api.requests('watch', '/api/v1/services') > 0, 'watching with the token from tokenFile');
          // healthzBindAddress: "" and metricsBindAddress: "" mean kube-proxy's defaults, not "off".
          assert.equal((await fetch('http://127.0.0.1:10256/healthz')).status, 200);
          const metrics = await (await fetch('http://127.0.0.1:10249/metrics')).text();
          assert.ok(metrics.includes('# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram'), 'kube-proxy metrics on 127.0.0.1:10249');
          assert.equal(await (await fetch('http://127.0.0.1:10249/proxyMode')).text(), 'ipvs');
          // kube-proxy's signals: /configz, the build-info metric, the Node's Starting event.
          assert.deepEqual(await (await fetch('http://127.0.0.1:10249/configz')).json(),
            { 'kubeproxy.config.k8s.io': parse(readFileSync(join(fixtures, 'effective.yaml'), 'utf8')) as unknown });
          assert.match(metrics, /^kubernetes_build_info\{major="\d+",minor="\d+",git_version="v\d+\.\d+\.\d+",.*\} 1$/m);
          await waitUntil(() => api.events().some((e) => (e as { reason?: string }).reason === 'Starting'), 'the Starting event', 5000);
          // logging.format unset: kube-ipvs' structured JSON lines.
          assert.ok(logs.split('\n').some((l) => l.startsWith('{') && (JSON.parse(l) as { msg?: string }).msg === 'starting'), 'JSON log lines');
        } finally {
          proc.kill('SIGTERM');
          assert.equal(await d.exit(15_000, 'the daemon after SIGTERM').finally(() => d.stop()), 0, logs);
        }
      } finally {
        await api.stop();
      }
    });
}
