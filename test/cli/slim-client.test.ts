// The daemon runs @kubernetes/client-node (KubeConfig, ListWatch, Watch, its request path) without
// the generated API that the package root and KubeConfig's module would load (cli/slim-client.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { SLIM } from '../../src/cli/slim-client.ts';
import { seedWeb } from '../support/apiserver/builders.ts';
import { waitUntil } from '../support/apiserver/client.ts';
import { start } from '../support/apiserver/index.ts';
import { tracked } from '../support/child.ts';
import { freePort } from '../support/ports.ts';

const DIST = join(dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node')));
const GENERATED = /\/@kubernetes\/client-node\/dist\/gen\/(models|apis|types)\//;

test('the daemon lists, watches and posts its Starting event without loading client-node\'s generated API', async (t) => {
  const api = await start();
  try {
    seedWeb(api);
    const log = join(mkdtempSync(join(tmpdir(), 'kube-ipvs-modules-')), 'modules.txt');
    const proc = spawn(process.execPath, ['--import', join(import.meta.dirname, '..', 'support', 'module-log.ts'),
      join(import.meta.dirname, '..', 'support', 'fake-kernel-main.ts'), '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a',
      '--healthz-bind-address', `127.0.0.1:${await freePort()}`, '--metrics-bind-address', `127.0.0.1:${await freePort()}`],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBE_IPVS_MODULE_LOG: log } });
    const d = tracked(t, proc);
    let logs = '';
    proc.stderr.on('data', (c: Buffer) => { logs += c.toString(); });
    await waitUntil(() => logs.includes('first sync done'), 'first sync', 20_000);
    await waitUntil(() => api.events().length > 0, 'the Starting event', 5_000);
    proc.kill('SIGTERM');
    assert.equal(await d.exit(15_000, 'the daemon after SIGTERM'), 0, logs);
    const loaded = readFileSync(log, 'utf8').split('\n');
    const client = loaded.filter((u) => u.includes('/@kubernetes/client-node/'));
    for (const m of ['config.js', 'cache.js', 'watch.js', 'gen/http/http.js']) {
      assert.ok(client.some((u) => u.endsWith(`/client-node/dist/${m}`)), `the real client-node ${m} is what runs`);
    }
    assert.deepEqual(client.filter((u) => GENERATED.test(u)), [], 'no generated model or API module');
    assert.ok(client.length < 40, `${String(client.length)} client-node modules loaded`);
    assert.equal((api.events()[0] as { reason?: string }).reason, 'Starting');
    assert.ok(api.requestLog.some((r) => r.verb === 'watch' && r.description.includes('labelSelector=')), 'ListWatch sends its label selector');
  } finally {
    await api.stop();
  }
});

/** What `importer` (a client-node module) takes from `specifier`, as its source says. */
function namesImported(importer: string, specifier: string): string[] {
  const file = join(DIST, importer);
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  const names: string[] = [];
  for (const s of src.statements) {
    if (!(ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) || s.moduleSpecifier === undefined) continue;
    if (!ts.isStringLiteral(s.moduleSpecifier) || s.moduleSpecifier.text !== specifier) continue;
    const bindings = ts.isImportDeclaration(s) ? s.importClause?.namedBindings : s.exportClause;
    assert.ok(bindings !== undefined && (ts.isNamedImports(bindings) || ts.isNamedExports(bindings)),
      `${importer} takes named bindings only from ${specifier} (a namespace or default import would need the whole module)`);
    for (const e of bindings.elements) names.push((e.propertyName ?? e.name).text);
  }
  assert.ok(!/\bimport\s*\(/.test(readFileSync(file, 'utf8')), `${importer} has no dynamic import`);
  return names.sort();
}

test('each slimmed import of the installed client-node takes exactly what its slim module provides', () => {
  for (const s of SLIM) {
    assert.deepEqual(namesImported(s.importer, s.specifier), [...s.names].sort(), `${s.importer} → ${s.specifier}`);
  }
});
