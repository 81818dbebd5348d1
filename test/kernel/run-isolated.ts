// Inside the VM: runs each real-kernel test file in a network namespace of its own, so IPVS
// tables, ipsets, iptables and links of one file never meet another's. Prints each file's
// report as it goes and one closing line for all of them; exits 1 if any test failed.
import { spawnSync } from 'node:child_process';
import { globSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const node = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node');
const files = process.argv.slice(2).flatMap((p) => globSync(p)).sort();
let passed = 0;
let failed = 0;
for (const [i, file] of files.entries()) {
  const ns = `e2e-${i}`;
  const tap = `/tmp/${ns}.tap`;
  spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
  process.stdout.write(`\n# ${file} (network namespace ${ns})\n`);
  const r = spawnSync('ip', ['netns', 'exec', ns, node, '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, file],
  { stdio: 'inherit' });
  const report = readFileSync(tap, 'utf8');
  const count = (k: string): number => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
  passed += count('pass');
  failed += count('fail') + (r.status !== 0 && count('fail') === 0 ? 1 : 0);
  rmSync(tap, { force: true });
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'inherit' });
}
process.stdout.write(`\ne2e: ${files.length} files\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
