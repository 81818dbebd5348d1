// Health checks through kube-ipvs-prober (src/native): TCP ones as half-open SYN probes, HTTP
// ones on kept-alive connections (http.c), from one long-lived helper process that also keeps
// their schedule, so node's share of a probe is at most one result line (README, "Active
// health checks", for the cost). The checker (health-checker.ts) hands a target over once and
// keeps the thresholds: the results come back here and go to it. In the steady state there is no line per probe at all: the helper
// reports an endpoint's oks only until `rise` (its success threshold) in a row, since later
// ones change nothing in the checker, and counts the rest: one "n <count>" line at most a second.
//
// Never a wrong "down" because of the helper: until it is ready, while it restarts, and when
// it cannot run at all (not built), the checker probes in-process as before; when the helper
// ends, its targets go back to in-process probes (`lost`) and what it had in flight counts for
// nothing. Without raw sockets (no CAP_NET_RAW) the helper still runs, for HTTP checks only
// (it says so in its `ready` line): TCP checks then stay in-process.
import { join } from 'node:path';
import { startHelper, type Helper, type HelperExit } from '../apply/exec.ts';
import { HEALTH_CHECK_KINDS, type HealthCheckKind } from '../compute/model/health-check.ts';
import type { Ip } from '../compute/net/ip.ts';
import type { Log } from '../log.ts';
import type { Clock } from '../sync/clock.ts';
import { restartDelayMs } from './backoff.ts';

/** Where `make native` and the image put the helper, relative to src/observe or dist/observe. */
export const PROBER_PATH = join(import.meta.dirname, '..', '..', 'bin', 'kube-ipvs-prober');
/** The helper's bound of an HTTP check's path (MAX_PATH in src/native/prober.h). */
const MAX_PATH = 1024;
/** What the helper takes as a path: "/" then printable ASCII without spaces. */
const HELPER_PATH = /^\/[\x21-\x7e]*$/;
/** Target ids are the helper's table slots: [0, 65536). */
const MAX_TARGETS = 65_536;
/** A helper that lived this long restarts at the first backoff step again. */
const STABLE_MS = 60_000;
/** Silence this long past every target's interval + timeout means it is stuck: replaced. */
const STUCK_MS = 5000;

export type ProberInUse = 'native' | 'in-process';
/**
 * How the helper's HTTP checks do their I/O (the 5th field of its `ready` line): io_uring (a
 * tick's requests in one system call), or epoll where io_uring is refused (a container
 * runtime's default seccomp profile, io_uring_disabled, an older kernel) or
 * KUBE_IPVS_PROBER_IO=epoll is set; unknown from a helper that does not say.
 */
export type ProberIo = 'io_uring' | 'epoll' | 'unknown';

/** What the helper's results go to (the checker). */
export interface ScheduleListener {
  /**
   * One probe's result for a target handed over with `add`: every failure, and the oks until
   * `rise` in a row (the oks after those are only counted, in `oks`).
   */
  result(id: number, ok: boolean): void;
  /** Oks the helper did not report one by one (each after its target's `rise` oks in a row). */
  oks(count: number): void;
  /** The helper is ready: targets may be handed over. */
  ready(): void;
  /** The helper ended: every target handed over is no longer probed by it. */
  lost(): void;
}

export interface NativeTarget {
  readonly kind: HealthCheckKind;
  /** HTTP: the path to GET. */
  readonly path?: string;
  readonly ip: Ip;
  readonly port: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Oks in a row to report one by one (the success threshold); later ones only count. */
  readonly rise: number;
}

export interface NativeProberOptions {
  readonly log: Log;
  readonly clock: Clock;
  /** The helper binary (default PROBER_PATH). */
  readonly path?: string;
  readonly random?: () => number;
  /** The prober a kind of check uses changed (metrics). */
  readonly inUse?: (kind: HealthCheckKind, p: ProberInUse) => void;
}

// Result words, told apart by their first letter: ok | refused | timeout | unreachable.
const OK = 'o'.charCodeAt(0);
const R = 'r'.charCodeAt(0);
const N = 'n'.charCodeAt(0);
/** The helper's bound of `rise` (it keeps it in 16 bits). */
const MAX_RISE = 65_535;
const NL = 10;
const SPACE = 32;

export class NativeProber {
  readonly #o: NativeProberOptions;
  readonly #path: string;
  #listener: ScheduleListener | undefined;
  #helper: Helper | undefined;
  #ready = false;
  /** The kinds of check the ready helper takes (its `ready` line says). */
  #kinds: ReadonlySet<HealthCheckKind> = new Set();
  #io: ProberIo = 'unknown';
  #stopped = false;
  #unavailable = false;
  #attempt = 0;
  #startedAt = 0;
  #restartTimer: unknown;
  #watchdog: unknown;
  #lastOutput = 0;
  #slowest = 0;
  /** Free ids; an id removed returns here only once the helper confirmed it (`d <id>`). */
  #free: number[] = [];
  #inUse = 0;
  #batch = '';
  #text = '';
  #settledWaiters: (() => void)[] = [];

  constructor(o: NativeProberOptions) {
    this.#o = o;
    this.#path = o.path ?? PROBER_PATH;
  }

  listen(l: ScheduleListener): void { this.#listener = l; }

  /** Which prober a kind of check uses now. */
  prober(kind: HealthCheckKind): ProberInUse { return this.#ready && this.#kinds.has(kind) ? 'native' : 'in-process'; }

  get ready(): boolean { return this.#ready; }

  /** How the ready helper's HTTP checks do their I/O. */
  get io(): ProberIo { return this.#io; }

  /** Targets the helper probes now. */
  get targets(): number { return this.#inUse; }

  /** The helper's process id while it runs (the benchmark reads its CPU time). */
  get pid(): number | undefined { return this.#helper?.pid; }

  /** Starts the helper; resolves once it is ready or checks stay in-process. */
  start(): Promise<void> {
    if (this.#helper === undefined && !this.#stopped && !this.#unavailable) this.#launch();
    return this.settled();
  }

  /** Resolves when the helper is ready or will not be (for a test's or the benchmark's wait). */
  settled(): Promise<void> {
    if (this.#ready || this.#unavailable || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => { this.#settledWaiters.push(resolve); });
  }

  /**
   * Hands a target over: its id, or undefined when the helper is not ready, does not take that
   * kind of check (or that path), or is full — the caller probes it in-process then.
   */
  add(t: NativeTarget): number | undefined {
    if (this.prober(t.kind) !== 'native') return undefined;
    const path = t.kind === 'http' ? t.path ?? '/' : '';
    if (t.kind === 'http' && (path.length > MAX_PATH || !HELPER_PATH.test(path))) return undefined;
    const id = this.#free.pop();
    if (id === undefined) return undefined;
    if (this.#inUse++ === 0) this.#lastOutput = this.#o.clock.now();
    this.#slowest = Math.max(this.#slowest, t.intervalMs + t.timeoutMs);
    const fields = `${id} ${t.ip.text} ${t.port} ${t.intervalMs} ${t.timeoutMs} ${Math.min(Math.max(1, t.rise), MAX_RISE)}`;
    this.#send(t.kind === 'http' ? `h ${fields} ${path}\n` : `a ${fields}\n`);
    return id;
  }

  /** Stops probing a target; no result names its id after this call. */
  remove(id: number): void {
    if (!this.#ready) return;
    this.#inUse--;
    this.#send(`d ${id}\n`);
  }

  /** Ends the helper for good. */
  stop(): void {
    this.#stopped = true;
    if (this.#restartTimer !== undefined) this.#o.clock.clearTimer(this.#restartTimer);
    if (this.#watchdog !== undefined) this.#o.clock.clearTimer(this.#watchdog);
    this.#watchdog = undefined;
    this.#helper?.kill();
    this.#settle();
  }

  #send(line: string): void {
    if (this.#batch === '') queueMicrotask(() => { this.#flush(); });
    this.#batch += line;
  }

  #flush(): void {
    const b = this.#batch;
    this.#batch = '';
    if (b !== '') this.#helper?.write(b);
  }

  #launch(): void {
    this.#startedAt = this.#o.clock.now();
    this.#text = '';
    const helper = startHelper([this.#path], (c) => { this.#output(c); });
    this.#helper = helper;
    void helper.ended.then((e) => { this.#ended(helper, e); });
  }

  /** Result lines are most of the traffic: parsed in place, no string per line. */
  #output(chunk: string): void {
    this.#lastOutput = this.#o.clock.now();
    const text = this.#text === '' ? chunk : this.#text + chunk;
    let i = 0;
    while (i < text.length) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      const first = text.charCodeAt(i);
      if ((first === R || first === N) && text.charCodeAt(i + 1) === SPACE) {
        let n = 0;
        let j = i + 2;
        for (let c = text.charCodeAt(j); c !== SPACE && c !== NL; c = text.charCodeAt(++j)) n = n * 10 + c - 48;
        if (!this.#ready) {
          // results of a helper not (yet) in use count for nothing
        } else if (first === R) {
          this.#listener?.result(n, text.charCodeAt(j + 1) === OK);
        } else {
          this.#listener?.oks(n);
        }
      } else {
        this.#line(text.slice(i, nl));
      }
      i = nl + 1;
    }
    this.#text = text.slice(i);
  }

  #line(line: string): void {
    if (line.startsWith('d ')) {
      this.#free.push(Number(line.slice(2)));
    } else if (line.startsWith('ready ')) {
      this.#ready = true;
      const fields = line.split(' ');
      this.#kinds = new Set(HEALTH_CHECK_KINDS.filter((k) => (fields[3] ?? '').split(',').includes(k)));
      this.#io = fields[4] === 'io_uring' || fields[4] === 'epoll' ? fields[4] : 'unknown';
      this.#free = Array.from({ length: MAX_TARGETS }, (_, i) => MAX_TARGETS - 1 - i);
      this.#inUse = 0;
      this.#slowest = 0;
      const said = { prober: 'native', pid: this.#helper?.pid, path: this.#path, io: this.#io };
      if (this.#kinds.has('tcp')) {
        this.#o.log.info(said, 'health checks: TCP and HTTP probes by kube-ipvs-prober (TCP: half-open SYN probes on a raw socket; HTTP: kept-alive connections)');
      } else {
        this.#o.log.warn(said, 'health checks: HTTP probes by kube-ipvs-prober; its raw sockets refused (needs CAP_NET_RAW): TCP probes run in-process (about 5x the CPU per probe)');
      }
      for (const k of this.#kinds) this.#o.inUse?.(k, 'native');
      this.#watchdog ??= this.#o.clock.setTimer(() => { this.#watch(); }, 1000);
      this.#settle();
      this.#listener?.ready();
    } else if (line !== '') {
      // A request it refused, or an HTTP probe it could not make (no socket): said by the helper.
      this.#o.log.error({ prober: 'native', line }, 'health checks: kube-ipvs-prober reports an error');
    }
  }

  #ended(helper: Helper, e: HelperExit): void {
    if (helper !== this.#helper) return;
    const wasReady = this.#ready;
    const kinds = [...this.#kinds];
    this.#helper = undefined;
    this.#ready = false;
    this.#kinds = new Set();
    this.#io = 'unknown';
    this.#batch = '';
    this.#free = [];
    this.#inUse = 0;
    if (wasReady) {
      for (const k of kinds) this.#o.inUse?.(k, 'in-process');
      this.#listener?.lost();
    }
    if (this.#stopped) return;
    const reason = e.error?.message ?? (e.stderr.trim() || `exit ${e.exitCode ?? e.signal ?? '?'}`);
    if (e.error !== undefined) {
      this.#unavailable = true;
      this.#o.log.warn({ prober: 'in-process', path: this.#path, reason }, 'health checks: kube-ipvs-prober not found (make native builds it); TCP and HTTP probes run in-process (about 5x the CPU per probe)');
      this.#settle();
      return;
    }
    if (this.#o.clock.now() - this.#startedAt >= STABLE_MS) this.#attempt = 0;
    const delay = restartDelayMs(this.#attempt++, this.#o.random);
    this.#o.log.warn({ prober: 'in-process', reason, restartInMs: delay }, 'health checks: kube-ipvs-prober ended; its probes run in-process until it is back');
    this.#restartTimer = this.#o.clock.setTimer(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#launch();
    }, delay);
  }

  /** Once a second while it runs: a helper that stopped answering is replaced. */
  #watch(): void {
    this.#watchdog = undefined;
    if (this.#stopped || this.#helper === undefined || !this.#ready) return;
    const silentMs = this.#o.clock.now() - this.#lastOutput;
    if (this.#inUse > 0 && silentMs > this.#slowest + STUCK_MS) {
      this.#o.log.warn({ prober: 'native', pid: this.#helper.pid, silentMs }, 'health checks: kube-ipvs-prober stopped answering; restarting it');
      this.#helper.kill();
      return;
    }
    this.#watchdog = this.#o.clock.setTimer(() => { this.#watch(); }, 1000);
  }

  #settle(): void {
    const w = this.#settledWaiters;
    this.#settledWaiters = [];
    for (const f of w) f();
  }
}
