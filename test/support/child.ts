// A process a test starts (the daemon, a port holder, Prometheus), stopped after the test
// whatever its outcome: a child still running with a pipe to the test keeps the test file's
// process alive, so one failing assertion before a kill would hang `make unit`. Every wait on a
// child is bounded: SIGTERM, then SIGKILL after a grace period.
import type { ChildProcess } from 'node:child_process';

/** The part of node:test's TestContext this needs (t.after runs after a failed test too). */
export interface AfterHook { after(fn: () => Promise<void>): void }

export interface Child<P extends ChildProcess> {
  readonly proc: P;
  /** The exit code (null when ended by a signal or never started); resolves once, whenever it ends. */
  readonly exited: Promise<number | null>;
  /** The exit code, or a rejection naming `what` if it has not exited within `ms`. */
  exit(ms: number, what?: string): Promise<number | null>;
  /** SIGTERM, SIGKILL if still running after `graceMs`; resolves with the exit code. Idempotent. */
  stop(graceMs?: number): Promise<number | null>;
}

const GRACE_MS = 5_000;

/** Resolves with `p`'s value, or with `fallback` after `ms`; the timer never holds the process. */
function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((r) => { timer = setTimeout(() => { r(fallback); }, ms); });
  return Promise.race([p, late]).finally(() => { clearTimeout(timer); });
}

const TIMEOUT = Symbol('timeout');

/** Tracks `proc` (call right after spawn) and stops it when the test `t` ends. */
export function tracked<P extends ChildProcess>(t: AfterHook, proc: P): Child<P> {
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => { done = true; resolve(code); });
    // A spawn that failed (ENOENT) emits no exit.
    proc.once('error', () => { if (proc.pid === undefined) { done = true; resolve(null); } });
  });
  const exit = async (ms: number, what = 'the process'): Promise<number | null> => {
    const r = await within<number | null | typeof TIMEOUT>(exited, ms, TIMEOUT);
    if (r === TIMEOUT) throw new Error(`${what} (pid ${String(proc.pid)}) still running after ${ms} ms`);
    return r;
  };
  const stop = async (graceMs = GRACE_MS): Promise<number | null> => {
    if (!done) proc.kill('SIGTERM');
    const r = await within<number | null | typeof TIMEOUT>(exited, graceMs, TIMEOUT);
    if (r !== TIMEOUT) return r;
    proc.kill('SIGKILL');
    // SIGKILL cannot be ignored; the bound only guards against a process stuck in the kernel.
    const k = await within<number | null | typeof TIMEOUT>(exited, GRACE_MS, TIMEOUT);
    return k === TIMEOUT ? null : k;
  };
  t.after(async () => { await stop(); });
  return { proc, exited, exit, stop };
}
