// `make bench-health`: the cost of active health checks. The daemon's own checker and probes
// (src/observe/health-checker.ts, health-probe.ts) probe ENDPOINTS real local listeners —
// distinct addresses 127.1.x.y, one port, 100 Services of ENDPOINTS/100 endpoints — at the
// default 1 s interval; the listeners run in another process so only the prober is measured.
// After a warm-up it reads the process CPU time (user + system) over the window: the % of one
// core. Writes bench/results/health-checks.json.
// `native` is the TCP check through kube-ipvs-prober (src/native/prober.c, `make native`),
// `native-http` the HTTP check through it (src/native/http.c): the CPU of both processes
// counts, node's and the helper's (/proc/<pid>/stat). On loopback the listener's kernel half
// (its SYN-ACK, our kernel's RST; for HTTP the receiving side of each request) is charged to
// the prober's system time too; against a remote endpoint that half runs on the other machine.
// Also prints the CPU per probe and what the target rate (ENDPOINTS probes a second) costs at
// that price: on a busy machine the local listeners may not take every probe in time, and
// `none` (the checker with a probe that answers at once) shows its own bookkeeping's share.
//   node bench/health-checks.ts [native|native-http|tcp|http|none|all=all] [endpoints=10000] [seconds=60]
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { HEALTH_CHECK_DEFAULTS, type HealthCheckKind, type ProbeTarget } from '../src/compute/model/health-check.ts';
import { parseIp } from '../src/compute/net/ip.ts';
import { silentLog } from '../src/log.ts';
import { HealthChecker } from '../src/observe/health-checker.ts';
import { NativeProber } from '../src/observe/native-prober.ts';
import { systemClock } from '../src/sync/clock.ts';

const PORT = 18080;
const WARMUP_S = 10;
const MODES: readonly Mode[] = ['none', 'native', 'tcp', 'native-http', 'http'];

if (process.argv[2] === '--serve') {
  // One listener on every loopback address per kind: 127.0.0.0/8 all reaches it.
  createServer((c) => { c.on('error', () => undefined); c.end(); }).listen({ port: PORT, host: '0.0.0.0', backlog: 8192 });
  const http = createHttpServer((_req, res) => { res.end('ok'); });
  http.keepAliveTimeout = 60_000;
  http.listen({ port: PORT + 1, host: '0.0.0.0', backlog: 8192 }, () => { process.send?.('ready'); });
} else {
  const arg = process.argv[2] ?? 'all';
  const modes: readonly Mode[] = MODES.includes(arg as Mode) ? [arg as Mode] : MODES;
  const endpoints = Number(process.argv[3] ?? 10_000);
  const seconds = Number(process.argv[4] ?? 60);
  const server = fork(import.meta.filename, ['--serve'], { stdio: 'inherit' });
  await new Promise<void>((resolve) => { server.once('message', () => { resolve(); }); });
  const rows: Record<string, unknown>[] = [];
  for (const kind of modes) rows.push(await measure(kind, endpoints, seconds));
  server.kill();
  const result = { when: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, rows };
  writeFileSync(join(import.meta.dirname, 'results', 'health-checks.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('\nprobe        endpoints  interval  probes/s  failed  CPU % of a core  CPU µs/probe  CPU % at endpoints/s\n');
  for (const r of rows) {
    process.stdout.write(`${String(r.kind).padEnd(11)} ${String(r.endpoints).padStart(10)}  ${String(r.interval).padStart(8)}  ${String(r.probesPerSecond).padStart(8)}  ${String(r.failed).padStart(6)}  ${String(r.cpuPercent).padStart(15)}  ${String(r.cpuMicrosPerProbe).padStart(12)}  ${String(r.cpuPercentAtTarget).padStart(20)}\n`);
  }
}

type Mode = HealthCheckKind | 'none' | 'native' | 'native-http';

/** A child's user and system CPU time in µs (utime, stime: fields 14 and 15 of /proc/<pid>/stat). */
function childCpu(pid: number | undefined): { user: number; system: number } {
  if (pid === undefined) return { user: 0, system: 0 };
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tick = 1e6 / 100; // USER_HZ is 100 on Linux
  return { user: Number(f[11]) * tick, system: Number(f[12]) * tick };
}

async function measure(mode: Mode, endpoints: number, seconds: number): Promise<Record<string, unknown>> {
  const kind: HealthCheckKind = mode === 'http' || mode === 'native-http' ? 'http' : 'tcp';
  let ok = 0;
  let failed = 0;
  const native = mode.startsWith('native') ? new NativeProber({ clock: systemClock, log: silentLog }) : undefined;
  const checker = new HealthChecker({
    clock: systemClock, log: silentLog, changed: () => undefined,
    result: (r, n) => { if (r) ok += n; else failed += n; },
    ...(mode === 'none' ? { probe: () => Promise.resolve(true) } : {}),
    ...(native === undefined ? {} : { native }),
  });
  await native?.start();
  if (native !== undefined && native.prober(kind) !== 'native') throw new Error(`kube-ipvs-prober is not in use for ${kind}: make native, and run as root (CAP_NET_RAW)`);
  const spec = { kind, ...HEALTH_CHECK_DEFAULTS, ...(kind === 'http' ? { path: '/healthz', port: PORT + 1 } : { port: PORT }) };
  const perService = Math.ceil(endpoints / 100);
  for (let s = 0; s * perService < endpoints; s++) {
    const targets = new Map<string, ProbeTarget>();
    for (let i = s * perService; i < Math.min(endpoints, (s + 1) * perService); i++) {
      const ip = parseIp(`127.1.${i >> 8}.${(i & 255) + 1}`);
      if (ip !== undefined) targets.set(ip.text, { ip, port: spec.port });
    }
    checker.setTargets(`bench/svc-${s}`, { spec, targets });
  }
  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  ok = 0;
  failed = 0;
  const cpu0 = process.cpuUsage();
  const helper0 = childCpu(native?.pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const own = process.cpuUsage(cpu0);
  const helper1 = childCpu(native?.pid);
  const helper = { user: helper1.user - helper0.user, system: helper1.system - helper0.system };
  const cpu = { user: own.user + helper.user, system: own.system + helper.system };
  const wall = (performance.now() - t0) / 1000;
  checker.stop();
  native?.stop();
  await new Promise((r) => setTimeout(r, 2000)); // probes in flight end before the next kind
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const probes = ok + failed;
  const perProbeS = cpuS / Math.max(1, probes);
  return {
    kind: mode, endpoints, interval: '1s', seconds: Math.round(wall),
    probesPerSecond: Math.round(probes / wall), failed,
    cpuSeconds: Number(cpuS.toFixed(2)), cpuPercent: Number((100 * cpuS / wall).toFixed(1)),
    cpuMicrosPerProbe: Number((perProbeS * 1e6).toFixed(1)),
    // User (JavaScript, libuv) and system (the kernel: on loopback the connection's far side
    // is processed in the prober's system calls too) time per probe.
    userMicrosPerProbe: Number((cpu.user / Math.max(1, probes)).toFixed(1)),
    systemMicrosPerProbe: Number((cpu.system / Math.max(1, probes)).toFixed(1)),
    // native: the helper's share (its user and system µs per probe) of the totals above.
    ...(native === undefined ? {} : {
      helperUserMicrosPerProbe: Number((helper.user / Math.max(1, probes)).toFixed(1)),
      helperSystemMicrosPerProbe: Number((helper.system / Math.max(1, probes)).toFixed(1)),
    }),
    // The target: every endpoint once a second.
    cpuPercentAtTarget: Number((100 * perProbeS * endpoints).toFixed(1)),
  };
}
