// `make bench`: synthetic clusters through the daemon's real code paths, one process per size
// (bench/size.ts) so that each size's memory is its own. The code is compiled to JavaScript
// first (.cache/bench-js), as the image runs it: Node's TypeScript stripping would add ~30 MiB
// to every process. Prints a table and writes bench/results/latest.json (machine, commit, one
// entry per size).
//   node bench/run.ts [sizes=100,1000,10000] [runs=5] [name=latest]
// A run named `latest` also keeps a dated copy (bench/results/<date>-<commit>.json) to compare over time.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const sizes = (process.argv[2] ?? '100,1000,10000').split(',').map(Number);
const runs = Number(process.argv[3] ?? 5);
const name = process.argv[4] ?? 'latest';
const MiB = 2 ** 20;
// The V8 flags the container image gives the daemon (Dockerfile NODE_OPTIONS): without a cap,
// V8 grows the young generation to 2 x 64 MiB at this heap size and keeps it (RSS +75 MiB at
// 10,000 Services) for no measurable gain in sync time.
const DAEMON_V8_FLAGS = ['--max-semi-space-size=16'];
const n = (x: number): string => x.toLocaleString('en-US');
const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

const root = join(import.meta.dirname, '..');
const js = join(root, '.cache', 'bench-js');
rmSync(js, { recursive: true, force: true });
execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json'),
  '--noEmit', 'false', '--noCheck', '--sourceMap', 'false', '--outDir', js], { stdio: 'inherit' });

process.stdout.write(`Times: compute only (time inside the fake tools excluded); median of ${runs} cold syncs after a warm-up,
of ${runs * 10} changes after 30 warm-ups; cold sync CPU: the daemon process's CPU time (GC threads included). RSS: the daemon's process after the initial sync and a GC (Node ${DAEMON_V8_FLAGS.join(' ')});
the fake kernel runs in another process.\n\n`);
const header = ['services', 'endpoints', 'cold sync', 'cold sync CPU', 'endpoint change', 'service add', 'no-change resync ops', 'processes/sync', 'RSS', 'iptables rules', 'sets with members'];
process.stdout.write(`${header.join(' | ')}\n`);
const results: Record<string, number>[] = [];
for (const size of sizes) {
  const out = execFileSync(process.execPath, ['--expose-gc', ...DAEMON_V8_FLAGS, join(js, 'bench', 'size.js'), String(size), String(runs)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * MiB });
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
  results.push(r);
  const row = [n(size), n(r.endpoints ?? 0), `${ms(r.coldSyncMs ?? NaN)} ms`, `${ms(r.coldSyncCpuMs ?? NaN)} ms`, `${ms(r.endpointChangeMs ?? NaN)} ms`, `${ms(r.serviceAddMs ?? NaN)} ms`,
    r.noChangeResyncOps, r.processesPerSync, `${((r.rssBytes ?? 0) / MiB).toFixed(0)} MiB`, r.iptablesRules, r.setsWithMembers];
  process.stdout.write(`${row.join(' | ')}\n`);
}
process.stdout.write(`\nmemory | RSS | of which Node + modules | heap: cluster objects | heap: daemon structures | peak RSS\n`);
for (const r of results) {
  const mib = (k: string): string => `${((r[k] ?? 0) / MiB).toFixed(0)} MiB`;
  process.stdout.write(`${n(r.services ?? 0)} | ${mib('rssBytes')} | ${mib('baseRssBytes')} | ${mib('clusterHeapBytes')} | ${mib('daemonHeapBytes')} | ${mib('peakRssBytes')}\n`);
}
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
const out = { date: new Date().toISOString(), commit: dirty ? `${commit}+dirty` : commit, node: process.version, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memBytes: totalmem() }, runs, results };
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const files = [`${name}.json`, ...(name === 'latest' ? [`${out.date.slice(0, 10)}-${out.commit}.json`] : [])];
for (const f of files) writeFileSync(join(dir, f), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote ${files.map((f) => `bench/results/${f}`).join(', ')}\n`);
