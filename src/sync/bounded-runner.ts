// Runs a function "soon" when asked, but never more often than minInterval (with a burst
// allowance, a token bucket refilled at 1/minInterval) and at least every maxInterval —
// kube-proxy's BoundedFrequencyRunner. A failed run asks for a retry after a backoff instead
// of waiting a full period. Runs never overlap: a request during a run is queued, unless the
// running function listens for requests (RunSignal) and takes it itself.
import type { Log } from '../log.ts';
import type { Clock } from './clock.ts';

export type RunReason = 'requested' | 'periodic' | 'retry';

/**
 * Given to a run: a long run (a full resync waiting on the kernel's dumps) can listen for a
 * request that arrives meanwhile and serve it itself instead of holding it until it ends.
 */
export interface RunSignal {
  /**
   * Calls `cb` once, at the next request the rate limit allows during this run (the request
   * is then the listener's: it takes a token and is not queued). Returns the unsubscribe.
   */
  onRequest(cb: () => void): () => void;
}

export interface BoundedRunnerOptions {
  readonly fn: (reason: RunReason, signal: RunSignal) => Promise<void>;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly burst: number;
  readonly clock: Clock;
  readonly log: Log;
  /** Waits before the retry after the n-th consecutive throw (the last one repeats). */
  readonly retryMs?: readonly number[];
}

const RETRY_MS = [1000, 2000, 5000, 10_000, 30_000];

export class BoundedFrequencyRunner {
  readonly #o: BoundedRunnerOptions;
  #tokens: number;
  #refilledAt: number;
  #timer: unknown;
  #timerAt = Infinity;
  #timerReason: RunReason = 'periodic';
  #running = false;
  #queued: RunReason | undefined;
  #stopped = true;
  #lastPeriodicAt = 0;
  #thrown = 0;
  #listener: (() => void) | undefined;
  /** A request asked for and not yet taken by a run (a 'requested' run, or a listener). */
  #waiting = false;
  readonly #signal: RunSignal = {
    onRequest: (cb) => {
      const l = (): void => { cb(); };
      // A request no run has taken yet (it came while the run listened to none — serving an
      // earlier one — or before this run started, merged into it) is this listener's:
      // otherwise it would wait for the whole run.
      if (this.#waiting && this.#takeToken()) {
        this.#waiting = false;
        if (this.#queued === 'requested') this.#queued = undefined;
        l();
        return () => undefined;
      }
      this.#listener = l;
      return () => { if (this.#listener === l) this.#listener = undefined; };
    },
  };

  constructor(o: BoundedRunnerOptions) {
    if (o.minIntervalMs < 0 || o.maxIntervalMs <= 0 || o.minIntervalMs > o.maxIntervalMs || o.burst < 1) {
      throw new RangeError(`bounded runner: need 0 <= minInterval (${o.minIntervalMs}) <= maxInterval (${o.maxIntervalMs}) and burst >= 1 (${o.burst})`);
    }
    this.#o = o;
    this.#tokens = o.burst;
    this.#refilledAt = o.clock.now();
  }

  /** Starts the periodic schedule; the first periodic run comes after maxInterval. */
  start(): void {
    this.#stopped = false;
    this.#lastPeriodicAt = this.#o.clock.now();
    this.#schedule(this.#o.maxIntervalMs, 'periodic');
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer();
  }

  /** Asks for a run as soon as the rate limit allows. */
  run(): void {
    this.#request('requested');
  }

  /** Asks for a run after `ms` unless one happens sooner (used after a failed run). */
  retryAfter(ms: number): void {
    if (!this.#stopped) this.#schedule(ms, 'retry');
  }

  #request(reason: RunReason): void {
    if (this.#stopped) return;
    if (this.#running) {
      const listener = this.#listener;
      if (reason === 'requested' && listener !== undefined && this.#takeToken()) {
        this.#listener = undefined;
        listener();
        return;
      }
      this.#queued ??= reason;
      if (reason === 'requested') this.#waiting = true;
      return;
    }
    this.#refill();
    if (this.#o.minIntervalMs === 0 || this.#tokens >= 1) {
      void this.#execute(reason);
      return;
    }
    if (reason === 'requested') this.#waiting = true;
    this.#schedule(Math.ceil((1 - this.#tokens) * this.#o.minIntervalMs), reason);
  }

  /** A token for a request handed to a listener, if the rate limit allows one now. */
  #takeToken(): boolean {
    this.#refill();
    if (this.#o.minIntervalMs > 0 && this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #refill(): void {
    const now = this.#o.clock.now();
    if (this.#o.minIntervalMs > 0) {
      this.#tokens = Math.min(this.#o.burst, this.#tokens + (now - this.#refilledAt) / this.#o.minIntervalMs);
    }
    this.#refilledAt = now;
  }

  async #execute(requested: RunReason): Promise<void> {
    this.#cancelTimer();
    this.#tokens -= 1;
    this.#running = true;
    // However busy the incremental runs keep it, a periodic run comes every maxInterval.
    const now = this.#o.clock.now();
    const reason = now - this.#lastPeriodicAt >= this.#o.maxIntervalMs ? 'periodic' : requested;
    if (reason === 'periodic') this.#lastPeriodicAt = now;
    // A requested run takes every change itself; another (a resync) hands a waiting request to
    // its first listener — also the request that started it, when the period had come due.
    if (reason === 'requested') this.#waiting = false;
    else if (requested === 'requested') this.#waiting = true;
    try {
      await this.#o.fn(reason, this.#signal);
      this.#thrown = 0;
    } catch (e) {
      // The function should report its own failures; one that escapes is still said and
      // retried, never dropped: the schedule goes on either way.
      const delays = this.#o.retryMs ?? RETRY_MS;
      const wait = delays[Math.min(this.#thrown, delays.length - 1)] ?? 30_000;
      this.#thrown++;
      const err = e instanceof Error ? e.message : String(e);
      this.#o.log.error({ err, reason, retryInMs: wait }, `sync threw: ${err}; retrying`);
      this.#running = false;
      this.retryAfter(wait);
    } finally {
      this.#running = false;
      this.#listener = undefined;
    }
    if (this.#stopped) return;
    if (this.#timerAt === Infinity) {
      this.#schedule(Math.max(0, this.#lastPeriodicAt + this.#o.maxIntervalMs - this.#o.clock.now()), 'periodic');
    }
    const queued = this.#queued;
    this.#queued = undefined;
    if (queued !== undefined) this.#request(queued);
  }

  /** Keeps the earliest of the pending timer and the new one. */
  #schedule(ms: number, reason: RunReason): void {
    const at = this.#o.clock.now() + ms;
    if (at >= this.#timerAt) return;
    this.#cancelTimer();
    this.#timerAt = at;
    this.#timerReason = reason;
    this.#timer = this.#o.clock.setTimer(() => {
      this.#timerAt = Infinity;
      this.#timer = undefined;
      this.#request(this.#timerReason);
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }
}
