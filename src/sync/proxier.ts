// One sync: take what changed in the cluster, re-render only those Services, assemble the
// desired state and hand it to the dataplane (incrementally, or as a full resync that reads
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
import type { SyncResult } from '../apply/dataplane.ts';
import type { ClusterState } from '../observe/cluster-state.ts';
import type { Log } from '../log.ts';
import type { Clock } from './clock.ts';
import type { RunReason } from './bounded-runner.ts';

export interface DataplanePort {
  sync(desired: DesiredState, opts: { readonly full: boolean; readonly changes?: Changes }): Promise<SyncResult>;
  checkDrains(desired: DesiredState): Promise<number>;
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
  /** An invalid object, reported once per change (logged; an Event for Services). */
  invalid(w: Warning): void;
}

export interface ProxierOptions {
  readonly config: ProxyConfig;
  /** IP families proxied. */
  readonly families: readonly Family[];
  readonly cluster: ClusterState;
  readonly dataplane: DataplanePort;
  readonly readNodeAddresses: () => Promise<readonly Ip[]>;
  readonly hooks: ProxierHooks;
  readonly log: Log;
  readonly clock: Clock;
  /** Called after a failed sync to ask for an earlier retry. */
  readonly retryAfter: (ms: number) => void;
}

const DRAIN_CHECK_MS = 60_000; // kube-proxy's rsCheckDeleteInterval
const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export class Proxier {
  readonly #o: ProxierOptions;
  #ctx: RenderContext | undefined;
  #index: DesiredIndex | undefined;
  #nodeAddresses: readonly Ip[] = [];
  #lastDrainCheck = 0;
  #failures = 0;
  #desired: DesiredState | undefined;

  constructor(o: ProxierOptions) { this.#o = o; }

  get desired(): DesiredState | undefined { return this.#desired; }

  /** The node addresses NodePorts are served on (--nodeport-addresses), as of the last sync. */
  get nodePortIps(): readonly Ip[] { return this.#ctx?.nodePortIps ?? []; }

  async sync(reason: RunReason): Promise<void> {
    const started = this.#o.clock.now();
    const input = this.#o.cluster.drain();
    // A periodic run and the retry after a failure read the kernel again.
    const full = reason !== 'requested' || this.#ctx === undefined;
    let renderAll = input.nodeChanged || this.#ctx === undefined;
    if (full) {
      const addrs = await this.#o.readNodeAddresses();
      if (addrs.map((a) => a.text).join() !== this.#nodeAddresses.map((a) => a.text).join()) renderAll = true;
      this.#nodeAddresses = addrs;
    }
    let rebuilt = false;
    if (renderAll || this.#ctx === undefined || this.#index === undefined) {
      this.#ctx = buildContext({ ...this.#o.config, nodeAddresses: this.#nodeAddresses }, this.#o.cluster.node, this.#o.families);
      this.#index = new DesiredIndex(this.#ctx);
      rebuilt = true;
    }
    const keys = renderAll ? new Set(this.#o.cluster.services.keys()) : input.changed;
    for (const key of keys) this.#render(key, this.#ctx, this.#index);
    const { desired, changes } = this.#index.snapshot();
    for (const w of this.#index.conflicts(keys)) this.#o.hooks.invalid(w);
    this.#desired = desired;
    const base = { reason, full, rendered: keys.size, triggerTimes: input.triggerTimes, desired };
    try {
      // A new index's changes are relative to nothing, not to what was applied: diff it all.
      const result = await this.#o.dataplane.sync(desired, rebuilt ? { full } : { full, changes });
      this.#failures = 0;
      await this.#checkDrains(desired);
      this.#o.hooks.synced({ ...base, durationMs: this.#o.clock.now() - started, result });
    } catch (error) {
      const wait = RETRY_MS[Math.min(this.#failures, RETRY_MS.length - 1)] ?? 30_000;
      this.#failures++;
      this.#o.log.error({ err: error instanceof Error ? error.message : String(error), retryInMs: wait }, 'sync failed');
      this.#o.hooks.synced({ ...base, durationMs: this.#o.clock.now() - started, error });
      this.#o.retryAfter(wait);
    }
  }

  #render(key: string, ctx: RenderContext, index: DesiredIndex): void {
    const svc = this.#o.cluster.services.get(key);
    const parsed = svc === undefined ? undefined : parseService(svc, ctx.config);
    if (parsed === undefined || parsed.kind !== 'proxied') {
      index.set(key, undefined);
      if (parsed?.kind === 'invalid') parsed.warnings.forEach((w) => { this.#o.hooks.invalid(w); });
      if (parsed?.kind === 'ignored') this.#o.log.debug({ service: key, reason: parsed.reason }, 'service not proxied');
      return;
    }
    parsed.warnings.forEach((w) => { this.#o.hooks.invalid(w); });
    const slices: ParsedSlice[] = [];
    for (const es of this.#o.cluster.slicesFor(key)) {
      const r = parseEndpointSlice(es);
      if (r.kind !== 'ignored') r.warnings.forEach((w) => { this.#o.hooks.invalid(w); });
      if (r.kind === 'parsed') slices.push(r.slice);
    }
    index.set(key, renderService(parsed.info, mergeSlices(slices), ctx));
  }

  async #checkDrains(desired: DesiredState): Promise<void> {
    const now = this.#o.clock.now();
    if (now - this.#lastDrainCheck < DRAIN_CHECK_MS) return;
    this.#lastDrainCheck = now;
    const deleted = await this.#o.dataplane.checkDrains(desired);
    if (deleted > 0) this.#o.log.info({ deleted }, 'drained real servers removed');
  }
}
