// One sync: take what changed in the cluster, re-render only those Services, assemble the
// desired state and hand it to the dataplane (incrementally, or as a full sync that reads
// the kernel and repairs drift). Failures are reported and retried soon; nothing is lost,
// since the rendered state already holds every change and the dataplane re-reads the kernel.
import type { ProxyConfig } from '../compute/config.ts';
import type { Family, Ip } from '../compute/net/ip.ts';
import { buildContext, type RenderContext } from '../compute/model/context.ts';
import type { DesiredState } from '../compute/model/desired.ts';
import { DesiredIndex, type Changes } from '../compute/model/desired-index.ts';
import { mergeSlices, parseEndpointSlice, type ParsedSlice } from '../compute/model/endpoints.ts';
import { renderService } from '../compute/model/render.ts';
import { parseService } from '../compute/model/service.ts';
import type { Warning } from '../compute/model/types.ts';
import type { ServiceProbes } from '../compute/model/health-check.ts';
import type { SyncResult } from '../apply/dataplane.ts';
import type { KernelText } from '../apply/kernel-state.ts';
import { failureFields } from '../apply/dataplane-error.ts';
import type { ClusterState } from '../observe/cluster-state.ts';
import type { Log } from '../log.ts';
import type { Clock } from './clock.ts';
import type { RunReason, RunSignal } from './bounded-runner.ts';

export interface DataplanePort {
  sync(desired: DesiredState, opts: { readonly full: boolean; readonly changes?: Changes; readonly text?: KernelText }): Promise<SyncResult>;
  checkDrains(desired: DesiredState): Promise<number>;
  /** The kernel's dumps ahead of a full sync (absent: a full sync reads them itself, in one go). */
  readKernel?(): Promise<KernelText>;
  /**
   * Whether a full sync can take the read `text` although changes were applied during it (only
   * members of existing objects changed). Absent: a read during which a change was applied is not.
   */
  usable?(text: KernelText): boolean;
  /**
   * Parses and records the read's blocks in slices; 'paused' when `pause()` said so between two
   * (absent: the full sync parses what it must in one go).
   */
  verify?(text: KernelText, pause: () => boolean): Promise<'done' | 'paused'>;
}

export interface SyncReport {
  readonly reason: RunReason;
  readonly full: boolean;
  readonly durationMs: number;
  /** Services re-rendered. */
  readonly rendered: number;
  readonly result?: SyncResult;
  readonly error?: unknown;
  /** EndpointSlice trigger times (ms) of the changes this sync programmed. */
  readonly triggerTimes: readonly number[];
  readonly desired: DesiredState;
}

export interface ProxierHooks {
  /** After every sync attempt. */
  synced(r: SyncReport): void;
  /** An invalid object, reported once per change (logged). */
  invalid(w: Warning): void;
  /** A Service's own warnings as of its latest render; empty once it is fine or gone (Events). */
  serviceWarnings?(key: string, warnings: readonly Warning[]): void;
}

/**
 * Active health checks (observe/health-checker.ts): their state is one more input of the
 * render, its changes are taken like the cluster's, and each render hands the Service's
 * probe targets back.
 */
export interface HealthInput {
  /** Services whose held-down endpoints changed since the last call. */
  takeChanges(): ReadonlySet<string>;
  /** Endpoint addresses of a Service held down by its checks. */
  down(service: string): ReadonlySet<string> | undefined;
  setTargets(service: string, probes: ServiceProbes | undefined): void;
}

export interface ProxierOptions {
  readonly config: ProxyConfig;
  /** IP families proxied. */
  readonly families: readonly Family[];
  readonly cluster: ClusterState;
  readonly dataplane: DataplanePort;
  /**
   * This node's addresses (NodePorts, --nodeport-addresses); `dump`: a full sync's kernel read,
   * whose `ip -o addr show` holds them (none: read them).
   */
  readonly readNodeAddresses: (dump?: KernelText) => Promise<readonly Ip[]>;
  readonly hooks: ProxierHooks;
  readonly log: Log;
  readonly clock: Clock;
  /** Called after a failed sync to ask for an earlier retry. */
  readonly retryAfter: (ms: number) => void;
  readonly health?: HealthInput;
  /** The renderer (tests inject one that throws). */
  readonly render?: typeof renderService;
}

const DRAIN_CHECK_MS = 60_000; // kube-proxy's rsCheckDeleteInterval
const MAX_TRIGGER_TIMES = 10_000;
export const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];
/**
 * How many times a full sync's kernel read is discarded and started again because a change
 * applied during it may have shifted the dumps (one that adds or removes a virtual server, a
 * set, an address or rules; an endpoint change does not). Bounded so that such changes arriving
 * faster than the dumps can be read never put off the drift repair by more than this many reads
 * (after them, the full sync reads once more itself, then without serving changes meanwhile).
 */
export const MAX_READ_RESTARTS = 2;

export const retryDelay = (failures: number): number => RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] ?? 30_000;

/** The read's result, or 'asked' if a change is asked for first. */
async function firstOf<T>(read: Promise<T>, signal: RunSignal): Promise<T | 'asked'> {
  let unsubscribe = (): void => undefined;
  const asked = new Promise<'asked'>((resolve) => { unsubscribe = signal.onRequest(() => { resolve('asked'); }); });
  try {
    return await Promise.race([read, asked]);
  } finally {
    unsubscribe();
  }
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Changes taken from the cluster state and not yet applied. They stay here until a sync
 * applies them, so a sync that fails anywhere (address read, render, a tool) loses nothing.
 */
interface Pending {
  readonly services: Set<string>;
  node: boolean;
  triggerTimes: number[];
}

export class Proxier {
  readonly #o: ProxierOptions;
  readonly #render: typeof renderService;
  #ctx: RenderContext | undefined;
  #index: DesiredIndex | undefined;
  #nodeAddresses: readonly Ip[] = [];
  #lastDrainCheck = 0;
  #failures = 0;
  #desired: DesiredState | undefined;
  #pending: Pending = { services: new Set(), node: false, triggerTimes: [] };

  constructor(o: ProxierOptions) {
    this.#o = o;
    this.#render = o.render ?? renderService;
  }

  get desired(): DesiredState | undefined { return this.#desired; }

  /** The node addresses NodePorts are served on (--nodeport-addresses), as of the last sync. */
  get nodePortIps(): readonly Ip[] { return this.#ctx?.nodePortIps ?? []; }

  /**
   * Never rejects: a failure is logged, reported through `synced` and retried (retryAfter).
   * A full sync first reads the kernel (seconds at 50,000 Services, the event loop free); a
   * change asked for meanwhile (`signal`) is applied incrementally at once, against what was
   * last applied, and the read, which may predate it, is discarded and started again.
   */
  async sync(reason: RunReason, signal?: RunSignal): Promise<void> {
    // Only when a change asked for meanwhile could be applied incrementally.
    const serve = signal !== undefined && this.#isFull(reason) && !this.#isFull('requested');
    const text = serve ? await this.#readServing(signal) : undefined;
    await this.#syncOnce(reason, text);
  }

  #isFull(reason: RunReason): boolean {
    return reason !== 'requested' || this.#ctx === undefined || this.#failures > 0;
  }

  /**
   * The kernel's dumps, read while serving the changes asked for meanwhile; undefined when
   * the full sync must read them itself (the read failed, or an interleaved sync failed).
   */
  async #readServing(signal: RunSignal): Promise<KernelText | undefined> {
    const dp = this.#o.dataplane;
    const read = dp.readKernel?.bind(dp);
    if (read === undefined) return undefined;
    for (let restarts = 0; ; restarts++) {
      // Settled either way at once: a read given up on must not reject unhandled.
      const dumps = read().then((t) => ({ text: t }), () => ({ text: undefined }));
      // Every change asked for while the read runs is applied at once.
      let served = false;
      while (await firstOf(dumps, signal) === 'asked') {
        served = true;
        await this.#syncOnce('requested', undefined);
        if (this.#isFull('requested')) { await dumps; return undefined; } // failed: the full sync reads afresh
      }
      const { text } = await dumps;
      if (text === undefined) return undefined;
      const usable = dp.usable?.(text) ?? !served;
      // Spoiled by what was applied meanwhile: read again, a bounded number of times (then the
      // dataplane, finding it spoiled, reads again itself).
      if (!usable && restarts < MAX_READ_RESTARTS) continue;
      return this.#verifyServing(text, signal);
    }
  }

  /**
   * The read verified in slices (Dataplane.verify); a change asked for meanwhile pauses it and
   * is applied at once, incrementally, then the verification goes on over the same read. Not
   * restarted: the read completed before that apply, and the dataplane takes what was applied
   * since from what it applied (kernel-read.ts overlay), so every slice is progress, and changes
   * arriving without pause cannot put off the resync (it ends once every block is verified).
   */
  async #verifyServing(text: KernelText | undefined, signal: RunSignal): Promise<KernelText | undefined> {
    const verify = this.#o.dataplane.verify?.bind(this.#o.dataplane);
    if (text === undefined || verify === undefined) return text;
    for (;;) {
      let asked = false;
      const unsubscribe = signal.onRequest(() => { asked = true; });
      let state: 'done' | 'paused';
      try {
        state = await verify(text, () => asked);
      } catch (e) {
        // What it recorded stays sound (each record on its own); the sync parses the rest.
        this.#o.log.warn({ err: message(e) }, `verifying the kernel read failed; the resync parses it whole: ${message(e)}`);
        return text;
      } finally {
        unsubscribe();
      }
      // A request taken just as it finished is the resync's own: it takes every pending change.
      if (state === 'done') return text;
      await this.#syncOnce('requested', undefined);
      if (this.#isFull('requested')) return undefined; // failed: the full sync reads afresh
    }
  }

  async #syncOnce(reason: RunReason, text: KernelText | undefined): Promise<void> {
    const started = this.#o.clock.now();
    const input = this.#o.cluster.takeChanges();
    for (const k of input.changed) this.#pending.services.add(k);
    for (const k of this.#o.health?.takeChanges() ?? []) this.#pending.services.add(k);
    this.#pending.node ||= input.nodeChanged;
    this.#pending.triggerTimes.push(...input.triggerTimes);
    // Only for the programming-latency histogram: through a long outage keep the latest ones.
    if (this.#pending.triggerTimes.length > MAX_TRIGGER_TIMES) this.#pending.triggerTimes.splice(0, this.#pending.triggerTimes.length - MAX_TRIGGER_TIMES);
    const pending = this.#pending;
    // A periodic run, the retry after a failure and the first sync read the kernel again.
    const full = this.#isFull(reason);
    let base: Omit<SyncReport, 'durationMs'> | undefined;
    let unrendered: ReadonlySet<string> = new Set();
    let result: SyncResult;
    try {
      let renderAll = pending.node || this.#ctx === undefined;
      if (full) {
        const addrs = await this.#o.readNodeAddresses(text);
        if (addrs.map((a) => a.text).join() !== this.#nodeAddresses.map((a) => a.text).join()) renderAll = true;
        this.#nodeAddresses = addrs;
      }
      let rebuilt = false;
      const previous = this.#index;
      if (renderAll || this.#ctx === undefined || this.#index === undefined) {
        this.#ctx = buildContext({ ...this.#o.config, nodeAddresses: this.#nodeAddresses }, this.#o.cluster.node, this.#o.families);
        this.#index = new DesiredIndex(this.#ctx);
        rebuilt = true;
      }
      const keys = renderAll ? new Set(this.#o.cluster.services.keys()) : new Set(pending.services);
      unrendered = this.#renderAll(keys, this.#ctx, this.#index, previous);
      const { desired, changes } = this.#index.snapshot();
      for (const w of this.#index.conflicts(keys)) this.#report(w);
      this.#desired = desired;
      base = { reason, full, rendered: keys.size - unrendered.size, triggerTimes: [...pending.triggerTimes], desired };
      // A new index's changes are relative to nothing, not to what was applied: diff it all.
      const dumps = full && text !== undefined ? { text } : {};
      result = await this.#o.dataplane.sync(desired, rebuilt ? { full, ...dumps } : { full, changes, ...dumps });
    } catch (error) {
      // Everything pending stays pending, and so does a Service whose render threw in this
      // run; the retry is a full sync, which re-reads the kernel.
      for (const k of unrendered) pending.services.add(k);
      const wait = retryDelay(this.#failures);
      this.#failures++;
      // One line with all an operator needs: the tool, its exit code, its words, the input line.
      this.#o.log.error({ err: message(error), ...failureFields(error), reason, failures: this.#failures, retryInMs: wait }, `sync failed: ${message(error)}`);
      this.#notify({ ...(base ?? this.#emptyReport(reason, full)), durationMs: this.#o.clock.now() - started, error });
      this.#o.retryAfter(wait);
      return;
    }
    // Applied. Services whose render threw stay pending and are tried again soon; nothing
    // after this point can turn the applied sync into a failed one.
    this.#pending = { services: new Set(unrendered), node: false, triggerTimes: [] };
    this.#failures = 0;
    if (unrendered.size > 0) this.#o.retryAfter(RETRY_MS[0] ?? 1000);
    await this.#checkDrains(base.desired);
    this.#notify({ ...base, durationMs: this.#o.clock.now() - started, result });
  }

  #emptyReport(reason: RunReason, full: boolean): Omit<SyncReport, 'durationMs'> {
    // Nothing rendered yet: an empty state (no health checks, nothing without endpoints).
    const desired = this.#desired
      ?? new DesiredIndex(buildContext({ ...this.#o.config, nodeAddresses: [] }, undefined, this.#o.families)).snapshot().desired;
    return { reason, full, rendered: 0, triggerTimes: [...this.#pending.triggerTimes], desired };
  }

  /** Renders each Service on its own: one that throws is reported and left out. Returns those. */
  #renderAll(keys: ReadonlySet<string>, ctx: RenderContext, index: DesiredIndex, previous: DesiredIndex | undefined): Set<string> {
    const failed = new Set<string>();
    for (const key of keys) {
      try {
        this.#renderOne(key, ctx, index);
      } catch (e) {
        failed.add(key);
        // What was applied for it stays in place, also across a rebuilt index: better a
        // Service on its last good state than one torn down by a bug in rendering it.
        if (index !== previous) index.set(key, previous?.get(key));
        this.#o.log.error({ service: key, err: message(e) }, `Service ${key}: could not be rendered, left as last applied; retrying: ${message(e)}`);
      }
    }
    return failed;
  }

  #report(w: Warning): void {
    try {
      this.#o.hooks.invalid(w);
    } catch (e) {
      this.#o.log.error({ err: message(e), object: w.object }, 'reporting an invalid object failed');
    }
  }

  #notify(r: SyncReport): void {
    try {
      this.#o.hooks.synced(r);
    } catch (e) {
      this.#o.log.error({ err: message(e) }, 'after-sync reporting failed (the sync itself succeeded or was reported)');
    }
  }

  #renderOne(key: string, ctx: RenderContext, index: DesiredIndex): void {
    const svc = this.#o.cluster.services.get(key);
    const parsed = svc === undefined ? undefined : parseService(svc, ctx.config);
    if (parsed === undefined || parsed.kind !== 'proxied') {
      index.set(key, undefined);
      this.#o.health?.setTargets(key, undefined);
      const warnings = parsed?.kind === 'invalid' ? parsed.warnings : [];
      warnings.forEach((w) => { this.#report(w); });
      this.#serviceWarnings(key, warnings);
      if (parsed?.kind === 'ignored') this.#o.log.debug({ service: key, reason: parsed.reason }, 'service not proxied');
      return;
    }
    const slices: ParsedSlice[] = [];
    for (const es of this.#o.cluster.slicesFor(key)) {
      const r = parseEndpointSlice(es);
      if (r.kind !== 'ignored') r.warnings.forEach((w) => { this.#report(w); });
      if (r.kind === 'parsed') slices.push(r.slice);
    }
    const rendered = this.#render(parsed.info, mergeSlices(slices), ctx, this.#o.health?.down(key));
    this.#o.health?.setTargets(key, rendered.probes);
    parsed.warnings.forEach((w) => { this.#report(w); });
    this.#serviceWarnings(key, parsed.warnings);
    index.set(key, rendered);
  }

  #serviceWarnings(key: string, warnings: readonly Warning[]): void {
    try {
      this.#o.hooks.serviceWarnings?.(key, warnings);
    } catch (e) {
      this.#o.log.error({ err: message(e), service: key }, 'reporting a Service\'s warnings failed');
    }
  }

  /** Graceful-termination upkeep after an applied sync: its failure is logged, never the sync's. */
  async #checkDrains(desired: DesiredState): Promise<void> {
    const now = this.#o.clock.now();
    if (now - this.#lastDrainCheck < DRAIN_CHECK_MS) return;
    this.#lastDrainCheck = now;
    try {
      const deleted = await this.#o.dataplane.checkDrains(desired);
      if (deleted > 0) this.#o.log.info({ deleted }, 'drained real servers removed');
    } catch (e) {
      this.#o.log.warn({ err: message(e), ...failureFields(e) }, `drain check failed; tried again at the next sync: ${message(e)}`);
      this.#lastDrainCheck = 0;
    }
  }
}
