// tracked(): a child a test starts never outlives the test, even when an assertion fails
// before the test's own kill (which hung `make unit` with the daemon left running).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tracked } from './child.ts';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('a child that ignores SIGTERM is killed after the grace period; exit() is bounded', async (t) => {
  const c = tracked(t, spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);'],
    { stdio: ['ignore', 'pipe', 'ignore'] }));
  await new Promise((r) => c.proc.stdout.once('data', r));
  await assert.rejects(c.exit(200, 'the stubborn child'), /the stubborn child \(pid \d+\) still running after 200 ms/);
  assert.equal(await c.stop(500), null);
  assert.equal(c.proc.signalCode, 'SIGKILL');
  assert.equal(await c.stop(), null, 'stop() again is harmless');
});

test('a test that fails with its child still running ends, and the child with it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-child-'));
  const pidFile = join(dir, 'pid');
  const file = join(dir, 'fails.test.ts');
  writeFileSync(file, [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    "import { spawn } from 'node:child_process';",
    "import { writeFileSync } from 'node:fs';",
    `import { tracked } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'child.ts')).href)};`,
    "test('fails mid-way', (t) => {",
    // Like the daemon: runs until told to stop, its stderr piped to the test.
    "  const c = tracked(t, spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'pipe'] }));",
    "  c.proc.stderr.on('data', () => {});",
    `  writeFileSync(${JSON.stringify(pidFile)}, String(c.proc.pid));`,
    "  assert.equal(1, 2, 'an assertion that fails before any kill');",
    '});',
  ].join('\n'));
  // Without the t.after kill this run never ends: the live child's pipe keeps it open.
  // A run of its own, not a subtest of this one (node --test marks its children with NODE_TEST_CONTEXT).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT'));
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(r.error, undefined, 'the failing test run ended');
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /an assertion that fails before any kill/);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(pid > 0);
  assert.equal(alive(pid), false, 'the child was stopped');
});
