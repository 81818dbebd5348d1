// One cluster size as an operator runs it (run by bench/run.ts): the real `kube-ipvs` process
// (compiled, bench/daemon-main.js: the CLI from process start, its informers, sync, batch
// formatting, health and metrics servers) against the test API server (in this process) seeded
// with objects shaped as kube-apiserver returns them (bench/objects.ts), its kernel tools being
// the fake kernel in a third process (bench/kernel-server.ts; its own time measured apart).
// Prints one JSON line.
//   node bench/realistic.ts JS_DIR SERVICES IDLE_SECONDS
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '../test/support/apiserver/index.ts';
import type { KubeObject } from '../test/support/apiserver/types.ts';
import { freePort } from '../test/support/ports.ts';
import { realisticNode, realisticService, realisticSlice } from './objects.ts';
import { SocketRunner } from './socket-runner.ts';

const [js = '', sizeArg = '1000', idleArg = '120'] = process.argv.slice(2);
const services = Number(sizeArg);
const idleS = Number(idleArg);
const V8_FLAGS = ['--max-semi-space-size=16']; // as the image's NODE_OPTIONS (Dockerfile)
// Profiling only (docs/benchmarks.md): extra Node flags for the daemon, e.g. '--cpu-prof
// --cpu-prof-dir=/tmp/prof' or '--heapsnapshot-signal=SIGUSR2' (with BENCH_HEAP_SNAPSHOT=1 the
// daemon gets SIGUSR2 after the first sync settled). Never set by `make bench`.
const EXTRA_FLAGS = (process.env.BENCH_DAEMON_FLAGS ?? '').split(' ').filter((f) => f !== '');
// Profiling only: the daemon's stdout to this file (what `--trace-gc` prints), else discarded.
const DAEMON_STDOUT = process.env.BENCH_DAEMON_STDOUT;
const SYNC_PERIOD_S = 30; // kube-proxy's default --ipvs-sync-period
const SCRAPE_S = 30; // a Prometheus scraping /metrics every 30 s during the idle window
const CHANGES = 40;
// Opt-in (docs/pending/resync.md): the gap between the latency changes; spread over a sync
// period or more (e.g. 1500 ms) they meet periodic resyncs, and resyncs follow changes.
const CHANGE_GAP_MS = Number(process.env.BENCH_CHANGE_GAP_MS ?? 50);
const now = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;

/** The daemon's RSS, peak RSS (kernel's VmHWM) and CPU time (user+system) from /proc. */
function proc(pid: number): { rss: number; peak: number; cpuMs: number; rssAnon: number; rssFile: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  // RssFile: pages of mapped files (the node binary's code and data, shared libraries); RssAnon:
  // the process's own memory (V8's heap, malloc, buffers).
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), cpuMs: (Number(stat[11]) + Number(stat[12])) * 10, rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
}

interface StartSample { readonly at: number; readonly daemon: number; readonly kernel: number; readonly api: number }
/** One phase of the start: its wall time and each process's CPU time in it (ms). */
interface StartPhase { readonly phase: string; readonly wallMs: number; readonly daemonCpuMs: number; readonly kernelCpuMs: number; readonly apiServerCpuMs: number; readonly toolMs?: number }

/** The samples' CPU times at `at`, linearly between the two samples around it. */
function cpuAt(samples: readonly StartSample[], at: number): StartSample {
  const i = samples.findIndex((s) => s.at >= at);
  const b = samples[i < 0 ? samples.length - 1 : i];
  const a = samples[Math.max(0, i - 1)];
  if (a === undefined || b === undefined) return { at, daemon: NaN, kernel: NaN, api: NaN };
  const f = b.at === a.at ? 1 : Math.min(1, Math.max(0, (at - a.at) / (b.at - a.at)));
  const mix = (x: number, y: number): number => x + (y - x) * f;
  return { at, daemon: mix(a.daemon, b.daemon), kernel: mix(a.kernel, b.kernel), api: mix(a.api, b.api) };
}

/** The start cut at the daemon's log marks, each phase with the CPU each process spent in it. */
function splitStart(samples: readonly StartSample[], t0: number, marks: readonly (readonly [string, number])[], toolMs: number): StartPhase[] {
  const out: StartPhase[] = [];
  let from = t0;
  let prev = samples[0] ?? { at: t0, daemon: 0, kernel: NaN, api: NaN };
  for (const [phase, until] of marks) {
    const cur = cpuAt(samples, until);
    out.push({
      phase, wallMs: until - from, daemonCpuMs: cur.daemon - prev.daemon, kernelCpuMs: cur.kernel - prev.kernel, apiServerCpuMs: cur.api - prev.api,
      ...(phase === 'firstSync' ? { toolMs } : {}),
    });
    [from, prev] = [until, cur];
  }
  return out;
}

const metric = (text: string, name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

const loadBefore = loadavg()[0];
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-bench-'));
const socket = join(dir, 'kernel.sock');
const kernelProc = spawn(process.execPath, [join(import.meta.dirname, 'kernel-server.ts'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((resolve) => { kernelProc.stdout.once('data', () => { resolve(); }); });
const kernel = await SocketRunner.connect(socket);

const api = await start({ historyLimit: 100_000 });
api.create(realisticNode('node-a') as unknown as KubeObject);
for (let i = 0; i < services; i++) {
  api.create(realisticService(i) as unknown as KubeObject);
  api.create(realisticSlice(i, 10, 42) as unknown as KubeObject);
}
const listBytes = JSON.stringify(api.list('Service')).length + JSON.stringify(api.list('EndpointSlice', 'discovery.k8s.io/v1')).length;
// The objects encoded as the LISTs will serve them, before the daemon starts: a real API server
// does its serving on machines of its own; here it shares the daemon's two cores (its CPU in the
// start is reported per phase below, as apiServerCpuMs).
api.prepareLists();

const [healthz, metricsPort] = [await freePort(), await freePort()];
const t0 = now();
const daemonOut = DAEMON_STDOUT === undefined ? 'ignore' : openSync(DAEMON_STDOUT, 'w');
const daemon = spawn(process.execPath, [...V8_FLAGS, ...EXTRA_FLAGS, join(js, 'bench', 'daemon-main.js'), '--bench-kernel', socket,
  '--kubeconfig', api.kubeconfigPath, '--hostname-override=node-a', '--cluster-cidr=10.244.0.0/16', '--ipvs-min-sync-period=0s',
  `--ipvs-sync-period=${SYNC_PERIOD_S}s`, '--healthz-bind-address', `127.0.0.1:${healthz}`, '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
  '--nodeport-addresses=192.168.1.0/24', '--v=2'], { stdio: ['ignore', daemonOut, 'pipe'] });
const daemonErr = daemon.stderr;
if (daemonErr === null) throw new Error('the daemon has no stderr pipe');
let logs = '';
let firstSyncAt = 0;
daemonErr.setEncoding('utf8');
daemonErr.on('data', (c: string) => {
  logs += c;
  if (firstSyncAt === 0 && logs.includes('"first sync done"')) firstSyncAt = now();
});
/** The daemon's JSON log lines with this message (-v=2 logs each sync as "sync done"). */
const logLines = (msg: string): { time: number; reason?: string; full?: boolean; unchanged?: boolean; durationMs?: number }[] =>
  logs.split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as { time: number });
const daemonState = { exited: false };
daemon.on('exit', () => { daemonState.exited = true; });
// On any failure too: no process of the bench left behind.
process.on('exit', () => { daemon.kill('SIGKILL'); kernelProc.kill('SIGKILL'); writeFileSync(join(dir, 'daemon.log'), logs); process.stderr.write(`daemon log: ${join(dir, 'daemon.log')}\n`); });
const pid = daemon.pid ?? 0;
let peak = 0;
const peakTimer = setInterval(() => { try { peak = Math.max(peak, proc(pid).peak); } catch { /* exited */ } }, 200);
// Where the start's wall time goes: the CPU time of the daemon, of the fake kernel process and
// of this process (the test API server serving the LISTs and watches) sampled every 25 ms, so
// that each phase the daemon's log marks can be given the CPU each process spent in it.
const cpuSamples: StartSample[] = [];
const benchCpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const sampleCpu = (): void => {
  try { cpuSamples.push({ at: now(), daemon: proc(pid).cpuMs, kernel: proc(kernelProc.pid ?? 0).cpuMs, api: benchCpuMs() }); } catch { /* exited */ }
};
sampleCpu();
const cpuTimer = setInterval(sampleCpu, 25);
const deadline = Date.now() + 600_000;
while (firstSyncAt === 0) {
  if (Date.now() > deadline || daemonState.exited) throw new Error(`no first sync: ${logs.slice(-2000)}`);
  await sleep(20);
}
sampleCpu();
clearInterval(cpuTimer);
const startMs = firstSyncAt - t0;
// The daemon's CPU time (user + system, all threads) from process start to the first sync: less
// sensitive than wall time to other work on a shared machine.
const startCpuMs = proc(pid).cpuMs;
// Process start → the CLI's "starting" line: Node and module loading, flags, servers.
const startingMs = (logLines('starting')[0]?.time ?? NaN) - t0;
const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
const firstRuns = await kernel.log(0);
const toolMsFirst = firstRuns.reduce((a, r) => a + r.busy, 0);
const firstSyncLine = logLines('sync done')[0];
const startPhases = splitStart(cpuSamples, t0, [
  ['modules', t0 + startingMs], // Node, module loading, flags, servers: to the CLI's "starting"
  ['lists', (firstSyncLine?.time ?? NaN) - (firstSyncLine?.durationMs ?? NaN)], // LISTs read and decoded, until the first sync begins
  ['firstSync', firstSyncLine?.time ?? NaN], // render, kernel read, batches, the tools applying them
  ['rest', firstSyncAt], // to the "first sync done" line as the bench saw it
], toolMsFirst);
await sleep(2000); // settle: GC after the first sync
let m = await scrape();
/** RSS as its parts: V8's heap (committed), memory outside it V8 knows of (ArrayBuffers, external strings), file-backed pages. */
const memoryParts = (text: string): { heap: number; heapTotal: number; external: number } =>
  ({ heap: metric(text, 'nodejs_heap_size_used_bytes'), heapTotal: metric(text, 'nodejs_heap_size_total_bytes'), external: metric(text, 'nodejs_external_memory_bytes') });
const afterFirst = { ...proc(pid), ...memoryParts(m), metricsBytes: Buffer.byteLength(m) };
if (process.env.BENCH_DUMP_METRICS === '1') writeFileSync(join(dir, 'metrics-first-sync.txt'), m);
if (process.env.BENCH_HEAP_SNAPSHOT === '1') { daemon.kill('SIGUSR2'); await sleep(30_000); }

// Programming latency: an EndpointSlice gains an endpoint at the API server → the first batch
// carrying its address reaches a tool. Daemon time: that interval less the tools' own time in it.
const latency: number[] = [];
const daemonLatency: number[] = [];
for (let c = 0; c < CHANGES; c++) {
  const i = (c * 7919) % services;
  const slice = realisticSlice(i, 10, 42) as { endpoints: { addresses: string[] }[]; metadata: Record<string, unknown> };
  const ip = `10.250.${c >> 8}.${c & 255}`;
  slice.endpoints.push({ ...slice.endpoints[0], addresses: [ip] });
  const from = (await kernel.log(0)).length;
  const w = now();
  api.update(slice as unknown as KubeObject);
  let hit;
  // A change may wait behind a sync in progress (a periodic resync at 50,000 Services takes a while).
  for (const until = Date.now() + 300_000; hit === undefined && Date.now() < until;) {
    await sleep(2);
    const runs = await kernel.log(from, ` ${ip}`);
    const k = runs.findIndex((r) => r.matched === true);
    if (k >= 0) hit = { at: runs[k]?.at ?? NaN, toolMs: runs.slice(0, k).filter((r) => r.at >= w).reduce((a, r) => a + r.busy, 0) };
  }
  if (hit === undefined) throw new Error(`endpoint ${ip} never reached a tool`);
  latency.push(hit.at - w);
  daemonLatency.push(hit.at - w - hit.toolMs);
  await sleep(CHANGE_GAP_MS);
}

// Idle: no change at all; the periodic resyncs every SYNC_PERIOD_S and a scrape every SCRAPE_S.
m = await scrape();
const fullBefore = { sum: metric(m, 'kubeproxy_sync_full_proxy_rules_duration_seconds_sum'), count: metric(m, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count') };
const reqBefore = api.requestLog.length;
const cpuBefore = proc(pid).cpuMs;
const idleStart = now();
let scrapeBytes = 0;
// The first periodic resync of the window still finds the 40 changes above applied since the
// last digest, so it parses and diffs; every later one finds the kernel's digest as it was.
// Steady idle: the daemon's CPU from the end of that first resync to the end of the window.
let steady: { at: number; cpuMs: number } | undefined;
const steadyTimer = setInterval(() => {
  if (steady === undefined && logLines('sync done').some((l) => l.reason === 'periodic' && l.time >= idleStart)) steady = { at: now(), cpuMs: proc(pid).cpuMs };
}, 100);
while (now() - idleStart < idleS * 1000) {
  await sleep(Math.min(SCRAPE_S * 1000, idleS * 1000 - (now() - idleStart)));
  scrapeBytes = Buffer.byteLength(await scrape());
}
clearInterval(steadyTimer);
const idleMin = (now() - idleStart) / 60_000;
const cpuNow = proc(pid).cpuMs;
const cpuIdle = cpuNow - cpuBefore;
const steadyIdleCpuMsPerMin = steady === undefined ? NaN : (cpuNow - steady.cpuMs) / ((now() - steady.at) / 60_000);
m = await scrape();
if (process.env.BENCH_DUMP_METRICS === '1') writeFileSync(join(dir, 'metrics-idle.txt'), m);
const fullAfter = { sum: metric(m, 'kubeproxy_sync_full_proxy_rules_duration_seconds_sum'), count: metric(m, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count') };
const resyncs = fullAfter.count - fullBefore.count;
const periodic = logLines('sync done').filter((l) => l.reason === 'periodic' && l.time >= idleStart);
const cheap = periodic.filter((l) => l.unchanged === true);
const parsed = periodic.filter((l) => l.unchanged !== true);
const avg = (xs: readonly { durationMs?: number }[]): number => xs.reduce((a, l) => a + (l.durationMs ?? 0), 0) / xs.length;
const afterIdle = { ...proc(pid), ...memoryParts(m) };
const perHour: Record<string, number> = {};
for (const r of api.requestLog.slice(reqBefore)) {
  const resource = /\/(services|endpointslices|nodes|events)\b/.exec(r.description)?.[1] ?? 'other';
  const key = `${r.verb} ${resource}`;
  perHour[key] = (perHour[key] ?? 0) + 60 / idleMin;
}
clearInterval(peakTimer);
daemon.kill('SIGTERM');
const code = await new Promise<number | null>((r) => { if (daemon.exitCode !== null) r(daemon.exitCode); else daemon.on('exit', r); });
kernel.close();
kernelProc.kill('SIGTERM');
await api.stop();

process.stdout.write(`${JSON.stringify({
  services, endpoints: services * 10, apiListBytes: listBytes,
  startToFirstSyncMs: startMs, startCpuMs, processStartToStartingMs: startingMs, firstSyncToolMs: toolMsFirst, startPhases,
  rssAfterFirstSyncBytes: afterFirst.rss, heapAfterFirstSyncBytes: afterFirst.heap,
  rssAfterIdleBytes: afterIdle.rss, heapAfterIdleBytes: afterIdle.heap, idleSeconds: idleS,
  peakRssBytes: Math.max(peak, afterIdle.peak),
  // Where the RSS is: after the first sync and after idle, V8's heap total (committed), external
  // (ArrayBuffers, external strings), the process's own pages (anon) and mapped files' (file).
  rssParts: Object.fromEntries(([['afterFirstSync', afterFirst], ['afterIdle', afterIdle]] as const).map(([k, v]) =>
    [k, { rssBytes: v.rss, rssAnonBytes: v.rssAnon, rssFileBytes: v.rssFile, heapTotalBytes: v.heapTotal, heapUsedBytes: v.heap, externalBytes: v.external }])),
  changeGapMs: CHANGE_GAP_MS, latencyP50Ms: pct(latency, 0.5), latencyP99Ms: pct(latency, 0.99), daemonLatencyP50Ms: pct(daemonLatency, 0.5), daemonLatencyP99Ms: pct(daemonLatency, 0.99), daemonLatenciesMs: daemonLatency.map((x) => Math.round(x * 10) / 10), changes: CHANGES,
  fullResyncs: resyncs, fullResyncWallMs: resyncs > 0 ? ((fullAfter.sum - fullBefore.sum) / resyncs) * 1000 : NaN,
  // Periodic resyncs in the idle window: parsed and diffed, or found unchanged by digest; wall ms each (tool time included).
  resyncsParsed: parsed.length, resyncParsedWallMs: avg(parsed), resyncsUnchanged: cheap.length, resyncUnchangedWallMs: avg(cheap),
  fullResyncCpuMsUpperBound: resyncs > 0 ? cpuIdle / resyncs : NaN,
  idleCpuMsPerMin: cpuIdle / idleMin, steadyIdleCpuMsPerMin, apiRequestsPerHour: perHour,
  metricsBytes: afterFirst.metricsBytes, metricsBytesIdle: scrapeBytes, exitCode: code,
  // The machine is shared: its 1-minute load average before and after (2 CPUs).
  loadAverage: [loadBefore, loadavg()[0]],
})}\n`);
