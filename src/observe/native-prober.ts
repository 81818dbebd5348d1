// TCP health checks through kube-ipvs-prober (src/native/prober.c): half-open SYN probes from
// one long-lived helper process, ~10× cheaper than a connect() from node (README, "Active
// health checks"). The checker's schedule and thresholds stay in health-checker.ts; this is
// only its ProbeFn: requests of one event-loop turn go to the helper in one write, its results
// come back in batches.
//
// Never a wrong "down" because of the helper: until it is ready, while it restarts, and when it
// cannot run at all (not built, or raw sockets refused: no CAP_NET_RAW), probes run in-process
// as before; the probes a dying helper had in flight are probed again in-process. HTTP checks
// always run in-process.
import { join } from 'node:path';
import { startHelper, type Helper, type HelperExit } from '../apply/exec.ts';
import type { Log } from '../log.ts';
import type { Clock } from '../sync/clock.ts';
import { restartDelayMs } from './backoff.ts';
import { probe as inProcessProbe, type ProbeFn, type ProbeRequest } from './health-probe.ts';

/** Where `make native` and the image put the helper, relative to src/observe or dist/observe. */
export const PROBER_PATH = join(import.meta.dirname, '..', '..', 'bin', 'kube-ipvs-prober');
/** The helper's exit code when the kernel refuses it raw sockets. */
const EXIT_NO_PERMISSION = 77;
/** In-process probes at once (each is a socket) while the helper is not in use. */
export const IN_PROCESS_MAX = 256;
/** Probes the checker may have in flight with the helper (its table holds 65,536). */
export const NATIVE_MAX_IN_FLIGHT = 16_384;
/** A helper that lived this long restarts at the first backoff step again. */
const STABLE_MS = 60_000;
/** An answer this late past its timeout means the helper is stuck: it is replaced. */
const STUCK_MS = 5000;

export type ProberInUse = 'native' | 'in-process';

export interface NativeProberOptions {
  readonly log: Log;
  readonly clock: Clock;
  /** The helper binary (default PROBER_PATH). */
  readonly path?: string;
  /** The in-process probe (default health-probe.ts's). */
  readonly inProcess?: ProbeFn;
  readonly random?: () => number;
  /** The prober TCP checks use changed (metrics). */
  readonly inUse?: (p: ProberInUse) => void;
}

interface Pending {
  readonly r: ProbeRequest;
  readonly resolve: (ok: boolean) => void;
  readonly overdueAt: number;
}

export class NativeProber {
  readonly #o: NativeProberOptions;
  readonly #path: string;
  readonly #inProcess: ProbeFn;
  #helper: Helper | undefined;
  #ready = false;
  #stopped = false;
  #unavailable = false;
  #attempt = 0;
  #startedAt = 0;
  #restartTimer: unknown;
  #watchdog: unknown;
  #nextId = 0;
  readonly #pending = new Map<number, Pending>();
  #batch = '';
  #text = '';
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  #readyWaiters: (() => void)[] = [];

  constructor(o: NativeProberOptions) {
    this.#o = o;
    this.#path = o.path ?? PROBER_PATH;
    this.#inProcess = o.inProcess ?? inProcessProbe;
  }

  /** Which prober TCP checks use now. */
  get inUse(): ProberInUse { return this.#ready ? 'native' : 'in-process'; }

  /** Probes sent to the helper and not answered yet. */
  get pending(): number { return this.#pending.size; }

  /** The helper's process id while it runs (the benchmark reads its CPU time). */
  get pid(): number | undefined { return this.#helper?.pid; }

  /** Starts the helper; resolves once it is ready or TCP checks run in-process instead. */
  start(): Promise<void> {
    if (this.#helper === undefined && !this.#stopped && !this.#unavailable) this.#launch();
    return this.settled();
  }

  /** Resolves when the helper is ready or will not be (a test's or the benchmark's wait). */
  settled(): Promise<void> {
    if (this.#ready || this.#unavailable || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => { this.#readyWaiters.push(resolve); });
  }

  readonly probe: ProbeFn = (r) => {
    if (r.spec.kind !== 'tcp' || !this.#ready || this.#helper === undefined) return this.#local(r);
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0;
    if (this.#batch === '') queueMicrotask(() => { this.#flush(); });
    this.#batch += `t ${id} ${r.ip.text} ${r.port} ${r.spec.timeoutMs}\n`;
    return new Promise((resolve) => {
      this.#pending.set(id, { r, resolve, overdueAt: this.#o.clock.now() + r.spec.timeoutMs + STUCK_MS });
    });
  };

  /** Ends the helper; probes in flight are answered in-process. */
  stop(): void {
    this.#stopped = true;
    if (this.#restartTimer !== undefined) this.#o.clock.clearTimer(this.#restartTimer);
    if (this.#watchdog !== undefined) this.#o.clock.clearTimer(this.#watchdog);
    this.#watchdog = undefined;
    this.#helper?.kill();
    this.#settle();
  }

  #flush(): void {
    const b = this.#batch;
    this.#batch = '';
    this.#helper?.write(b);
  }

  #launch(): void {
    this.#startedAt = this.#o.clock.now();
    this.#text = '';
    const helper = startHelper([this.#path], (c) => { this.#output(c); });
    this.#helper = helper;
    void helper.ended.then((e) => { this.#ended(helper, e); });
  }

  #output(chunk: string): void {
    const text = this.#text + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.#line(text.slice(start, nl));
      start = nl + 1;
    }
    this.#text = text.slice(start);
  }

  #line(line: string): void {
    if (line.startsWith('r ')) {
      const sp = line.indexOf(' ', 2);
      const id = Number(line.slice(2, sp));
      const p = this.#pending.get(id);
      if (p === undefined) return;
      this.#pending.delete(id);
      const result = line.slice(sp + 1);
      // busy: its table is full; probed in-process rather than counted as a failure.
      if (result === 'busy') void this.#local(p.r).then(p.resolve);
      else p.resolve(result === 'ok');
    } else if (line.startsWith('ready ')) {
      this.#ready = true;
      this.#o.log.info({ prober: 'native', pid: this.#helper?.pid, path: this.#path }, 'health checks: TCP probes by kube-ipvs-prober (half-open SYN probes on a raw socket)');
      this.#o.inUse?.('native');
      this.#watchdog ??= this.#o.clock.setTimer(() => { this.#watch(); }, 1000);
      this.#settle();
    } else if (line !== '') {
      this.#o.log.error({ prober: 'native', line }, 'health checks: kube-ipvs-prober refused a request');
    }
  }

  #ended(helper: Helper, e: HelperExit): void {
    if (helper !== this.#helper) return;
    const wasReady = this.#ready;
    this.#helper = undefined;
    this.#ready = false;
    this.#batch = '';
    // What it had in flight is probed again in-process: its death says nothing of the endpoints.
    const orphans = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of orphans) void this.#local(p.r).then(p.resolve);
    if (wasReady) this.#o.inUse?.('in-process');
    if (this.#stopped) return;
    const reason = e.error?.message ?? (e.stderr.trim() || `exit ${e.exitCode ?? e.signal ?? '?'}`);
    if (e.error !== undefined || (!wasReady && e.exitCode === EXIT_NO_PERMISSION)) {
      this.#unavailable = true;
      const why = e.exitCode === EXIT_NO_PERMISSION ? 'raw sockets refused (needs CAP_NET_RAW)' : 'not found (make native builds it)';
      this.#o.log.warn({ prober: 'in-process', path: this.#path, reason }, `health checks: kube-ipvs-prober ${why}; TCP probes run in-process (about 5× the CPU per probe)`);
      this.#settle();
      return;
    }
    if (this.#o.clock.now() - this.#startedAt >= STABLE_MS) this.#attempt = 0;
    const delay = restartDelayMs(this.#attempt++, this.#o.random);
    this.#o.log.warn({ prober: 'in-process', reason, restartInMs: delay, reprobed: orphans.length }, 'health checks: kube-ipvs-prober ended; TCP probes run in-process until it is back');
    this.#restartTimer = this.#o.clock.setTimer(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#launch();
    }, delay);
  }

  /** Once a second while in use: a helper that stopped answering is replaced. */
  #watch(): void {
    this.#watchdog = undefined;
    if (this.#stopped || this.#helper === undefined) return;
    const now = this.#o.clock.now();
    for (const p of this.#pending.values()) {
      if (p.overdueAt > now) continue;
      this.#o.log.warn({ prober: 'native', pid: this.#helper.pid, pending: this.#pending.size }, 'health checks: kube-ipvs-prober stopped answering; restarting it');
      this.#helper.kill();
      return;
    }
    this.#watchdog = this.#o.clock.setTimer(() => { this.#watch(); }, 1000);
  }

  #settle(): void {
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const f of w) f();
  }

  /** An in-process probe, at most IN_PROCESS_MAX at once. */
  #local(r: ProbeRequest): Promise<boolean> {
    if (this.#running >= IN_PROCESS_MAX) {
      return new Promise((resolve) => { this.#waiting.push(() => { void this.#local(r).then(resolve); }); });
    }
    this.#running++;
    return this.#inProcess(r).catch(() => false).finally(() => {
      this.#running--;
      this.#waiting.shift()?.();
    });
  }
}
