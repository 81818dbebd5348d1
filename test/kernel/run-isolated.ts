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
/** The failed tests' names and first error lines, printed again at the end: CI shows only the tail. */
const failures: string[] = [];
/**
 * Runs one file in a fresh network namespace; returns its TAP report. Under QEMU's software
 * emulation the node binary has been seen to die at start-up with a V8 fatal error (an
 * emulation fault, not a test result); a file whose process died that way — no test of it ran —
 * is run again, at most `START_ATTEMPTS` times in all, and says so. (One CI run saw the same
 * file's process die twice in a row, both times before any test, with the same V8 check.)
 */
function runFile(file: string, ns: string): { report: string; status: number | null } {
  const tap = `/tmp/${ns}.tap`;
  spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
  spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
  const r = spawnSync('ip', ['netns', 'exec', ns, node, '--test', '--test-concurrency=1',
    '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`, file],
  { stdio: 'inherit' });
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'inherit' });
  const report = readFileSync(tap, { encoding: 'utf8', flag: 'a+' });
  rmSync(tap, { force: true });
  return { report, status: r.status };
}

const START_ATTEMPTS = 3;

/**
 * Each failed test of a TAP report with the start of its YAML block's `error` (and `failureType`,
 * `exitCode`, `signal`): `not ok 3 - name`, then `  ---`, key lines, `  ...`.
 */
function failedTests(report: string): string[] {
  const lines = report.split('\n');
  const out: string[] = [];
  for (const [i, line] of lines.entries()) {
    const m = /^\s*not ok \d+ - (.*)$/.exec(line);
    if (m === null) continue;
    const end = lines.findIndex((l, j) => j > i && /^\s*\.\.\.$/.test(l));
    const block = lines.slice(i + 1, end < 0 ? i + 40 : end);
    const stack = block.findIndex((l) => /^\s+stack:/.test(l));
    const why = (stack < 0 ? block : block.slice(0, stack))
      .filter((l) => !/^\s+(---|duration_ms:|location:|type:)/.test(l)).slice(0, 6);
    out.push(`  ${m[1] ?? ''}`, ...why.map((l) => `    ${l.trim()}`));
  }
  return out;
}

const count = (report: string, k: string): number => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
// The file itself failed before any of its tests reported (crash at load or start-up): every
// result line of the report names the file, none a test.
function crashed(run: { report: string; status: number | null }, file: string): boolean {
  const results = [...run.report.matchAll(/^\s*(?:not )?ok \d+ - (.*)$/gm)].map((m) => m[1] ?? '');
  return (count(run.report, 'fail') > 0 || run.status !== 0) && results.every((name) => file.endsWith(name) || name.endsWith(file));
}

for (const [i, file] of files.entries()) {
  process.stdout.write(`\n# ${file} (network namespace e2e-${i})\n`);
  let run = runFile(file, `e2e-${i}`);
  for (let attempt = 2; attempt <= START_ATTEMPTS && crashed(run, file); attempt++) {
    process.stdout.write(`\n# ${file}: the test process died before any test ran; running it again (attempt ${attempt} of ${START_ATTEMPTS})\n`);
    run = runFile(file, `e2e-${i}-${attempt}`);
  }
  passed += count(run.report, 'pass');
  // A runner that exits non-zero without a failed test (it could not start) is a failure too.
  failed += count(run.report, 'fail') + (run.status !== 0 && count(run.report, 'fail') === 0 ? 1 : 0);
  if (count(run.report, 'fail') > 0 || run.status !== 0) failures.push(`${file} (exit ${String(run.status)}):`, ...failedTests(run.report));
}
if (failures.length > 0) process.stdout.write(`\ne2e failures:\n${failures.join('\n')}\n`);
process.stdout.write(`\ne2e: ${files.length} files\n${passed} passed, ${failed} failed\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
