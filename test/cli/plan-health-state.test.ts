// `kube-ipvs plan --health-state`: a bad results file is a usage error naming the file and
// the entry; the weights it implies are pinned by the golden case health-checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/run.ts';
import { parseHealthState } from '../../src/compute/model/health-state-file.ts';

const golden = join(import.meta.dirname, '..', 'golden', 'cases', 'health-checks', 'cluster.yaml');

async function plan(state: string): Promise<{ code: number; stderr: string; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'health-state-'));
  const file = join(dir, 'health.json');
  writeFileSync(file, state);
  let stderr = '';
  let stdout = '';
  const code = await run(['plan', '-f', golden, '--health-state', file, '--hostname-override', 'node-a'], {
    stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; }, readStdin: () => Promise.resolve(''),
  });
  return { code, stderr: stderr.replaceAll(dir, '<dir>'), stdout };
}

test('a bad --health-state file: exit 2 and a message naming the file and the entry', async () => {
  assert.deepEqual(await plan('{"shop/web": ["10.244.2.6", "nope"]}'), { code: 2, stdout: '', stderr: 'kube-ipvs: --health-state <dir>/health.json: "shop/web"[1]: "nope" is not an IP address\n' });
  assert.match((await plan('{"web": []}')).stderr, /"web": not a Service as namespace\/name/);
  assert.match((await plan('[1]')).stderr, /expected an object/);
  assert.match((await plan('{')).stderr, /--health-state <dir>\/health\.json: not JSON/);
  assert.equal((await plan('{"shop/web": ["10.244.2.6"]}')).code, 0);
});

test('parseHealthState: addresses normalised, empty lists dropped', () => {
  const r = parseHealthState('{"shop/web": [" 10.244.2.6 ", "fd00::0:1"], "shop/api": []}');
  assert.ok('state' in r);
  assert.deepEqual([...r.state].map(([k, v]) => [k, [...v]]), [['shop/web', ['10.244.2.6', 'fd00::1']]]);
});
