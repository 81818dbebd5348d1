// The ClusterRole grants exactly what kube-ipvs uses. What it uses is not read from the source
// but observed: the real `kube-ipvs` process runs (--dry-run) against the test API server with an
// invalid Service (so it also records an Event), and every request it makes becomes an RBAC
// (apiGroup, resource, verb). The role must grant those, plus `patch` on events (Event series,
// as the issue asks), and nothing else: no wildcards, no other verbs or resources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { seedWeb, service } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { tracked } from '../support/child.ts';
import { freePort } from '../support/ports.ts';
import type { RequestRecord } from '../support/apiserver/faults.ts';
import { BASE, ROOT, kustomize, only } from './deploy-files.ts';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }

// The real CLI on the fake kernel: this host has no ip_vs, so a first sync on it never succeeds.
const main = join(ROOT, 'test', 'support', 'fake-kernel-main.ts');
// Granted beyond what the daemon is seen to do: Event series are patched (kube-proxy's role too).
const EXTRA = ['/events:get', '/events:patch'];

/** `GROUP/RESOURCE:VERB` for a request to the API server ('' group for core). */
function rbacOf(r: RequestRecord): string {
  const path = r.description.slice(r.description.indexOf(' ') + 1).split('?')[0] ?? '';
  const core = /^\/api\/v1\/(?:namespaces\/[^/]+\/)?([a-z]+)(?:\/[^/]+)?$/.exec(path);
  const named = /^\/apis\/([^/]+)\/[^/]+\/(?:namespaces\/[^/]+\/)?([a-z]+)(?:\/[^/]+)?$/.exec(path);
  const [group, resource] = core !== null ? ['', core[1]] : named !== null ? [named[1], named[2]] : [undefined, undefined];
  if (r.verb === 'other' || group === undefined || resource === undefined) throw new Error(`not a resource request: ${r.description}`);
  return `${group}/${resource}:${r.verb}`;
}

function granted(rules: readonly Rule[]): string[] {
  return rules.flatMap((r) => (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => (r.verbs ?? []).map((v) => `${g}/${res}:${v}`))));
}

test('request paths map to RBAC resources and verbs', () => {
  assert.equal(rbacOf({ verb: 'watch', description: 'watch /api/v1/services?labelSelector=x&watch=true' }), '/services:watch');
  assert.equal(rbacOf({ verb: 'create', description: 'create /api/v1/namespaces/shop/events' }), '/events:create');
  assert.equal(rbacOf({ verb: 'get', description: 'get /api/v1/namespaces/shop' }), '/namespaces:get');
  assert.equal(rbacOf({ verb: 'list', description: 'list /apis/discovery.k8s.io/v1/namespaces/a/endpointslices' }), 'discovery.k8s.io/endpointslices:list');
  assert.throws(() => rbacOf({ verb: 'other', description: 'other /version' }), /not a resource request/);
});

test('the ClusterRole grants exactly the API calls kube-ipvs makes, and no wildcards', async (t) => {
  const api = await start();
  try {
    seedWeb(api);
    const bad = service('shop', 'broken', {}, '10.96.0.11');
    (bad as unknown as { spec: { ports: { port: number }[] } }).spec.ports[0]!.port = 70000;
    api.create(bad);
    const [healthz, metrics] = [await freePort(), await freePort()];
    const d = tracked(t, spawn(process.execPath, [main, '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a', '--dry-run',
      '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metrics}`], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let logs = '';
    d.proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
    try {
      await waitUntil(() => logs.includes('first sync done') && api.events().length > 0, 'first sync and an Event', 20_000);
    } finally {
      d.proc.kill('SIGTERM');
    }
    assert.equal(await d.exit(15_000, 'the daemon after SIGTERM'), 0, logs);
    const used = [...new Set(api.requestLog.map(rbacOf))].sort();
    assert.deepEqual(used, ['/events:create', '/nodes:list', '/nodes:watch', '/services:list', '/services:watch',
      'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch']);

    const role = only(kustomize(BASE), 'ClusterRole') as { rules?: Rule[] };
    const rules = role.rules ?? [];
    for (const r of rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs]) assert.ok(field !== undefined && !field.includes('*'), `no wildcards: ${JSON.stringify(r)}`);
      assert.equal(r.nonResourceURLs, undefined);
      assert.equal(r.resourceNames, undefined);
    }
    const grants = granted(rules);
    assert.equal(new Set(grants).size, grants.length, 'no grant repeated');
    assert.deepEqual(grants.sort(), [...used, ...EXTRA].sort());
  } finally {
    await api.stop();
  }
});
