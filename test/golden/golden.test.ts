// Golden files: `kube-ipvs plan` on whole clusters, every output compared byte for byte.
// Each case's case.json says which kube-proxy behaviour it pins. Regenerate after a
// deliberate change with `UPDATE_GOLDEN=1 make unit`, then review the diff like code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../src/cli/run.ts';

interface Case { readonly why: string; readonly args: readonly string[]; readonly outputs: readonly string[]; readonly exit: number }

const root = join(import.meta.dirname, 'cases');
const update = process.env.UPDATE_GOLDEN === '1';

async function plan(dir: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  // Paths in case.json are relative to the case folder.
  const resolved = args.map((a) => (a.startsWith('./') || a.startsWith('../') ? join(dir, a) : a));
  const code = await run(['plan', ...resolved], {
    stdout: (s) => { stdout += s; },
    stderr: (s) => { stderr += s; },
    readStdin: () => Promise.resolve(''),
  });
  return { code, stdout, stderr: stderr.replaceAll(dir, '<case>') };
}

function compare(file: string, actual: string): void {
  if (update) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `${file} differs (UPDATE_GOLDEN=1 to regenerate, then review)`);
}

for (const name of readdirSync(root).sort()) {
  const dir = join(root, name);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Case;
  test(`golden ${name}: ${c.why}`, async () => {
    for (const output of c.outputs) {
      const r = await plan(dir, [...c.args, '--output', output]);
      assert.equal(r.code, c.exit, r.stderr);
      compare(join(dir, `${output}.golden`), r.stdout);
      compare(join(dir, 'stderr.golden'), r.stderr);
    }
  });
}
