// The real `kube-ipvs` process as a user runs it (--dry-run, so this host is not changed):
// lists and watches the test API server, serves /healthz and /metrics, exits 0 on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { seedWeb } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { freePort } from '../support/ports.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

test('the daemon starts against an API server, serves health and metrics, and exits 0 on SIGTERM', async () => {
  const api = await start();
  try {
    seedWeb(api);
    const [healthz, metrics] = [await freePort(), await freePort()];
    const proc = spawn(process.execPath, [main, '--proxy-mode=ipvs', '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a', '--dry-run',
      '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`, '--ipvs-sync-period', '1m0s'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => { r(code); }));
    await waitUntil(() => logs.includes('first sync done'), 'first sync', 20_000);
    assert.ok(api.requests('watch', '/api/v1/services') > 0 && api.requests('watch', '/apis/discovery.k8s.io/v1/endpointslices') > 0, 'watching');
    const h = await fetch(`http://127.0.0.1:${healthz}/healthz`);
    assert.equal(h.status, 200);
    const body = await h.json() as { nodeEligible: boolean };
    assert.equal(body.nodeEligible, true);
    const m = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    assert.match(m, /^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$/m);
    assert.match(m, /^kubeipvs_syncs_total\{kind="full",result="(success|error)"\} 1$/m);
    assert.match(m, /^# TYPE kubeipvs_dry_run_changes gauge$/m);
    const line = logs.split('\n').find((l) => l.includes('"msg":"starting"'));
    assert.ok(line !== undefined && (JSON.parse(line) as { dryRun?: boolean }).dryRun === true, 'structured JSON logs');
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(logs, /kernel state left in place/);
  } finally {
    await api.stop();
  }
});
