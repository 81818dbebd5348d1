// Active health checks, the observing half: probes the endpoints each opted-in Service hands
// it (ready ones this node uses), counts consecutive failures and successes against the
// Service's thresholds, and keeps the resulting check state — per Service, the endpoint
// addresses held down. That state is an input of the desired state like the cluster's
// objects: a Service whose held-down set changed is reported (`changed`) and re-rendered by
// the next sync; nothing here touches the kernel.
import type { HealthCheckSpec, HealthState, ProbeTarget, ServiceProbes } from '../compute/model/health-check.ts';
import type { ServiceKey } from '../compute/model/types.ts';
import type { Log } from '../log.ts';
import type { Clock } from '../sync/clock.ts';
import { probe as realProbe, type ProbeFn } from './health-probe.ts';
import type { NativeProber } from './native-prober.ts';

export const MAX_IN_FLIGHT = 256;
/** Each probe's delay is the interval ± 5 %: targets that start together drift apart. */
const JITTER = 0.1;
/**
 * Probes are due in 10 ms slots, one timer for all: a timer per probe, each of another
 * (jittered) duration, cost node more than the probe's bookkeeping itself.
 */
const SLOT_MS = 10;

export interface HealthTransition {
  readonly service: ServiceKey;
  readonly ip: string;
  readonly port: number;
  readonly down: boolean;
  /** When the run of failures that took it down began (clock ms); for a `down` transition. */
  readonly firstFailureAt?: number;
}

export interface HealthCheckerOptions {
  readonly clock: Clock;
  readonly log: Log;
  /** A Service's held-down set changed: it needs a sync. */
  readonly changed: (service: ServiceKey) => void;
  /** The in-process probe (checks `native` does not take, or not now). */
  readonly probe?: ProbeFn;
  /** Checks by kube-ipvs-prober, which then keeps their schedule. */
  readonly native?: NativeProber;
  /** In-process probes at once. */
  readonly maxInFlight?: number;
  /** In [0, 1); Math.random unless a test fixes it. */
  readonly random?: () => number;
  /** Probes' results (metrics): `count` of them, all ok or all failed. */
  readonly result?: (ok: boolean, count: number) => void;
  /** An endpoint went out of rotation or came back (metrics; it is logged here). */
  readonly transition?: (t: HealthTransition) => void;
}

interface Target {
  readonly service: ServiceKey;
  readonly spec: HealthCheckSpec;
  readonly target: ProbeTarget;
  failures: number;
  successes: number;
  down: boolean;
  firstFailureAt: number;
  removed: boolean;
  /** Its id with kube-ipvs-prober while that probes it (then its in-process schedule is idle). */
  nativeId: number | undefined;
  /** In the in-process schedule: in a slot, queued or in flight (so it is never in it twice). */
  inProcess: boolean;
}

const sameSpec = (a: HealthCheckSpec, b: HealthCheckSpec): boolean =>
  a.kind === b.kind && a.port === b.port && a.path === b.path && a.intervalMs === b.intervalMs &&
  a.timeoutMs === b.timeoutMs && a.failureThreshold === b.failureThreshold && a.successThreshold === b.successThreshold;

export class HealthChecker {
  readonly #o: HealthCheckerOptions;
  readonly #probe: ProbeFn;
  readonly #max: number;
  readonly #random: () => number;
  /** Service → address text → target. */
  readonly #services = new Map<ServiceKey, { spec: HealthCheckSpec; targets: Map<string, Target> }>();
  readonly #down = new Map<ServiceKey, Set<string>>();
  #changed = new Set<ServiceKey>();
  /** Due probes waiting for a free slot, oldest first. */
  #queue: Target[] = [];
  #inFlight = 0;
  #stopped = false;
  /** Slot number (clock ms / SLOT_MS) → targets due then; removed ones are skipped when due. */
  readonly #slots = new Map<number, Target[]>();
  #lastSlot = -1;
  #timer: unknown;
  /** kube-ipvs-prober's ids → targets. */
  readonly #byNative = new Map<number, Target>();

  constructor(o: HealthCheckerOptions) {
    this.#o = o;
    this.#probe = o.probe ?? realProbe;
    this.#max = o.maxInFlight ?? MAX_IN_FLIGHT;
    this.#random = o.random ?? Math.random;
    o.native?.listen({
      result: (id, ok) => {
        const t = this.#byNative.get(id);
        if (t !== undefined) this.#record(t, ok);
      },
      // Oks after a target's successThreshold in a row: they change no count that matters (it
      // is up, failures already 0), only the metric.
      oks: (count) => { this.#o.result?.(true, count); },
      ready: () => { this.#toNative(); },
      lost: () => { this.#toInProcess(); },
    });
  }

  /** Hands every target probed in-process to kube-ipvs-prober (its helper is ready). */
  #toNative(): void {
    for (const s of this.#services.values()) for (const t of s.targets.values()) this.#handOver(t);
  }

  #handOver(t: Target): boolean {
    if (t.removed || t.nativeId !== undefined) return false;
    const { kind, path, intervalMs, timeoutMs, successThreshold } = t.spec;
    const id = this.#o.native?.add({ kind, ...(path === undefined ? {} : { path }), ip: t.target.ip, port: t.target.port, intervalMs, timeoutMs, rise: successThreshold });
    if (id === undefined) return false;
    t.nativeId = id;
    this.#byNative.set(id, t);
    return true;
  }

  /**
   * The helper ended: its targets are probed in-process again, each first at a random point
   * of its interval. Its probes in flight count for nothing, so its end takes nothing down.
   */
  #toInProcess(): void {
    for (const t of this.#byNative.values()) {
      t.nativeId = undefined;
      if (!t.removed && !t.inProcess) this.#schedule(t, this.#random() * t.spec.intervalMs);
    }
    this.#byNative.clear();
  }

  /** The check state: per Service, the endpoint addresses held down. */
  get state(): HealthState { return this.#down; }

  down(service: ServiceKey): ReadonlySet<string> | undefined { return this.#down.get(service); }

  get inFlight(): number { return this.#inFlight; }

  /** Endpoints probed. */
  get targets(): number {
    let n = 0;
    for (const s of this.#services.values()) n += s.targets.size;
    return n;
  }

  /** Services whose held-down set changed since the last call. */
  takeChanges(): ReadonlySet<ServiceKey> {
    const c = this.#changed;
    this.#changed = new Set();
    return c;
  }

  /**
   * What to probe for a Service as of its latest render (undefined: nothing — no check, or the
   * Service is gone). Unchanged targets keep their counts and schedule; a changed check
   * starts over.
   */
  setTargets(service: ServiceKey, probes: ServiceProbes | undefined): void {
    if (this.#stopped) return;
    const cur = this.#services.get(service);
    if (cur !== undefined && (probes === undefined || !sameSpec(cur.spec, probes.spec))) {
      for (const t of cur.targets.values()) this.#remove(t);
      this.#services.delete(service);
    }
    if (probes === undefined || probes.targets.size === 0) {
      this.#services.delete(service);
      return;
    }
    const entry = this.#services.get(service) ?? { spec: probes.spec, targets: new Map<string, Target>() };
    this.#services.set(service, entry);
    for (const [key, t] of entry.targets) {
      const next = probes.targets.get(key);
      if (next === undefined || next.port !== t.target.port) {
        this.#remove(t);
        entry.targets.delete(key);
      }
    }
    for (const [key, target] of probes.targets) {
      if (entry.targets.has(key)) continue;
      const t: Target = { service, spec: probes.spec, target, failures: 0, successes: 0, down: false, firstFailureAt: 0, removed: false, nativeId: undefined, inProcess: false };
      entry.targets.set(key, t);
      // The first probe at a random point of the interval: targets added together (a start,
      // a large Service) spread over it instead of firing in one burst (the helper does the same).
      if (!this.#handOver(t)) this.#schedule(t, this.#random() * probes.spec.intervalMs);
    }
  }

  /** Stops every schedule; probes in flight finish unrecorded. */
  stop(): void {
    this.#stopped = true;
    for (const s of this.#services.values()) for (const t of s.targets.values()) this.#remove(t);
    this.#services.clear();
    this.#queue = [];
    this.#slots.clear();
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  #remove(t: Target): void {
    t.removed = true;
    if (t.nativeId !== undefined) {
      this.#o.native?.remove(t.nativeId);
      this.#byNative.delete(t.nativeId);
      t.nativeId = undefined;
    }
    if (t.down) this.#setDown(t, false);
  }

  #schedule(t: Target, ms: number): void {
    t.inProcess = true;
    const now = this.#o.clock.now();
    if (this.#lastSlot < 0) this.#lastSlot = Math.floor(now / SLOT_MS);
    const slot = Math.max(this.#lastSlot + 1, Math.ceil((now + ms) / SLOT_MS));
    const list = this.#slots.get(slot);
    if (list === undefined) this.#slots.set(slot, [t]); else list.push(t);
    this.#timer ??= this.#o.clock.setTimer(() => { this.#tick(); }, SLOT_MS);
  }

  #tick(): void {
    this.#timer = undefined;
    const now = Math.floor(this.#o.clock.now() / SLOT_MS);
    // Normally one slot or a few; after a long quiet spell, only the slots that hold targets.
    const slots = now - this.#lastSlot <= this.#slots.size
      ? Array.from({ length: Math.max(0, now - this.#lastSlot) }, (_, i) => this.#lastSlot + 1 + i)
      : [...this.#slots.keys()].filter((k) => k <= now).sort((a, b) => a - b);
    for (const s of slots) {
      const due = this.#slots.get(s);
      if (due === undefined) continue;
      this.#slots.delete(s);
      for (const t of due) this.#due(t);
    }
    this.#lastSlot = Math.max(this.#lastSlot, now);
    if (this.#slots.size > 0 && !this.#stopped) this.#timer ??= this.#o.clock.setTimer(() => { this.#tick(); }, SLOT_MS);
  }

  #due(t: Target): void {
    if (t.removed || t.nativeId !== undefined) {
      t.inProcess = false;
      return;
    }
    if (this.#inFlight >= this.#max) this.#queue.push(t);
    else this.#start(t);
  }

  #start(t: Target): void {
    this.#inFlight++;
    const started = this.#o.clock.now();
    void this.#probe({ spec: t.spec, ip: t.target.ip, port: t.target.port }).catch(() => false).then((ok) => {
      this.#inFlight--;
      this.#next();
      if (t.removed || this.#stopped) return;
      this.#record(t, ok);
      if (t.nativeId !== undefined) { // handed over meanwhile
        t.inProcess = false;
        return;
      }
      const interval = t.spec.intervalMs * (1 - JITTER / 2 + JITTER * this.#random());
      this.#schedule(t, Math.max(0, interval - (this.#o.clock.now() - started)));
    });
  }

  #next(): void {
    while (this.#inFlight < this.#max && this.#queue.length > 0) {
      const t = this.#queue.shift();
      if (t !== undefined && !t.removed) this.#start(t);
    }
  }

  #record(t: Target, ok: boolean): void {
    this.#o.result?.(ok, 1);
    if (ok) {
      t.failures = 0;
      t.successes++;
      if (t.down && t.successes >= t.spec.successThreshold) this.#setDown(t, false);
      return;
    }
    t.successes = 0;
    if (t.failures === 0) t.firstFailureAt = this.#o.clock.now();
    t.failures++;
    if (!t.down && t.failures >= t.spec.failureThreshold) this.#setDown(t, true);
  }

  #setDown(t: Target, down: boolean): void {
    t.down = down;
    const ip = t.target.ip.text;
    const set = this.#down.get(t.service) ?? new Set<string>();
    if (down) set.add(ip); else set.delete(ip);
    if (set.size === 0) this.#down.delete(t.service); else this.#down.set(t.service, set);
    const fields = { service: t.service, endpoint: `${ip}:${t.target.port}`, check: t.spec.kind };
    if (down) {
      this.#o.log.warn({ ...fields, failures: t.failures, failingForMs: this.#o.clock.now() - t.firstFailureAt }, `health check: endpoint ${ip} of Service ${t.service} failed ${t.failures} checks in a row; out of rotation (weight 0)`);
    } else if (!t.removed) {
      this.#o.log.info({ ...fields, successes: t.successes }, `health check: endpoint ${ip} of Service ${t.service} passed ${t.successes} checks in a row; back in rotation`);
    }
    this.#o.transition?.({ service: t.service, ip, port: t.target.port, down, ...(down ? { firstFailureAt: t.firstFailureAt } : {}) });
    this.#changed.add(t.service);
    this.#o.changed(t.service);
  }
}
