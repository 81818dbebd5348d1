// `make bench`: first what users run (bench/realistic.ts: the real daemon process, informers
// against the test API server with realistic objects, the fake kernel in another process), then
// the compute-only figures (bench/size.ts: synthetic objects handed straight to the cluster
// state), one process per size so that each size's memory is its own. The code is compiled to
// JavaScript first (.cache/bench-js), as the image runs it: Node's TypeScript stripping would add
// ~30 MiB to every process. Prints both tables and writes bench/results/latest.json.
//   BENCH_SIZES=1000,10000 BENCH_IDLE_S=120 node bench/run.ts [compute-only sizes=100,1000,10000] [runs=5] [name=latest]
// BENCH_SIZES: the realistic sizes ('' skips them); BENCH_IDLE_S: the idle window per size.
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

const realSizes = (process.env.BENCH_SIZES ?? '1000,10000').split(',').filter((s) => s !== '').map(Number);
const idleS = Number(process.env.BENCH_IDLE_S ?? 120);
const realistic: Record<string, unknown>[] = [];
const mib = (b: unknown): string => `${(Number(b) / MiB).toFixed(0)} MiB`;
if (realSizes.length > 0) {
  process.stdout.write(`What users run: the kube-ipvs process (compiled) from start, its informers against the test API server with
realistic objects (× 10 endpoints), the fake kernel tools in another process; ${idleS} s idle (sync period 30 s, a scrape every 30 s).
Latency: EndpointSlice write at the API server → the batch with the new endpoint reaches the tool (min-sync-period 0), tools' time excluded.

`);
  const head = ['services', 'start → first sync', 'RSS first sync / idle', 'heap first sync / idle', 'peak RSS', 'latency p50 / p99', 'full resync wall / CPU≤', 'idle CPU per min', '/metrics', 'API requests per hour (idle)'];
  process.stdout.write(`${head.join(' | ')}
`);
  for (const size of realSizes) {
    // In a network namespace of its own where the fake kernel's node address (192.168.1.10) is
    // local, so the daemon's health-check node ports listen as on a node; loopback up for the API server.
    const argv = [process.execPath, join(root, 'bench', 'realistic.ts'), js, String(size), String(idleS)];
    const out = execFileSync('unshare', ['--net', 'sh', '-c', 'ip link set lo up && ip addr add 192.168.1.10/24 dev lo && exec "$@"', 'sh', ...argv],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * MiB });
    const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, number>;
    realistic.push(r);
    const reqs = Object.entries((r.apiRequestsPerHour ?? {}) as unknown as Record<string, number>).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
    process.stdout.write(`${[n(size), `${ms(r.startToFirstSyncMs ?? NaN)} ms (CPU ${ms(r.startCpuMs ?? NaN)} ms)`, `${mib(r.rssAfterFirstSyncBytes)} / ${mib(r.rssAfterIdleBytes)}`, `${mib(r.heapAfterFirstSyncBytes)} / ${mib(r.heapAfterIdleBytes)}`, mib(r.peakRssBytes),
      `${ms(r.daemonLatencyP50Ms ?? NaN)} / ${ms(r.daemonLatencyP99Ms ?? NaN)} ms`, `${ms(r.fullResyncWallMs ?? NaN)} / ${ms(r.fullResyncCpuMsUpperBound ?? NaN)} ms`, `${ms((r.idleCpuMsPerMin ?? NaN) / 1000)} s (steady ${ms((r.steadyIdleCpuMsPerMin ?? NaN) / 1000)} s)`,
      `${((r.metricsBytes ?? 0) / 1000).toFixed(0)} KB`, reqs === '' ? 'none' : reqs].join(' | ')}\n`);
    const parts = (r.rssParts ?? {}) as unknown as Record<string, Record<string, number>>;
    process.stdout.write(`  RSS: ${Object.entries(parts).map(([k, v]) => `${k} ${mib(v.rssBytes)} = anon ${mib(v.rssAnonBytes)} + file ${mib(v.rssFileBytes)} (V8 heap total ${mib(v.heapTotalBytes)}, used ${mib(v.heapUsedBytes)}, external ${mib(v.externalBytes)})`).join('; ')}\n`);
    // Where the start's wall time went, per phase the daemon's log marks (bench/realistic.ts).
    const phases = (r.startPhases ?? []) as unknown as { phase: string; wallMs: number; daemonCpuMs: number; kernelCpuMs: number; apiServerCpuMs: number; toolMs?: number }[];
    process.stdout.write(`  start: ${phases.map((p) => `${p.phase} ${ms(p.wallMs)} ms wall (daemon CPU ${ms(p.daemonCpuMs)}, API server CPU ${ms(p.apiServerCpuMs)}, fake kernel CPU ${ms(p.kernelCpuMs)}${p.toolMs === undefined ? '' : `, in tools ${ms(p.toolMs)}`})`).join('; ')}\n`);
  }
  process.stdout.write('\nCompute only (synthetic objects handed straight to the cluster state; no API server, informers or metrics):\n');
}
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
const out = { date: new Date().toISOString(), commit: dirty ? `${commit}+dirty` : commit, node: process.version, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memBytes: totalmem() },
  idleSeconds: idleS, realistic, runs, results };
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
const files = [`${name}.json`, ...(name === 'latest' ? [`${out.date.slice(0, 10)}-${out.commit}.json`] : [])];
for (const f of files) writeFileSync(join(dir, f), `${JSON.stringify(out, null, 2)}\n`);
process.stdout.write(`wrote ${files.map((f) => `bench/results/${f}`).join(', ')}\n`);
