// client-node's Watch, as the proxy needs it:
// - bookmarks asked for (as client-go's reflector does), so a quiet watch's resourceVersion
//   stays fresh and a reconnect resumes instead of relisting everything after a 410;
// - a server-side `timeoutSeconds` drawn per watch from 5–10 minutes (client-go's reflector), and
//   a client idle limit longer than kube-apiserver's ~1 min bookmark interval: client-node's
//   default 30 s idle abort reopened every quiet watch twice a minute, on every node (DESIGN §8);
// - each ADDED/MODIFIED/DELETED object decoded on its own (compute/k8s/decode.ts) before
//   ListWatch caches it: the cache holds only what the proxy reads, and a malformed object is
//   reported and skipped, never cached as sent;
// - a 410 (ERROR event or HTTP 410) remembered in `expiry`, so the relist that follows asks for
//   current data rather than the watch cache's;
// - ListWatch checks `stopped` only before its reconnect delay, its list and the watch's
//   connect, not after them: a watch that connects after stop() is aborted at once here.
import type { KubeConfig } from '@kubernetes/client-node';
import { Watch } from './kube-client.ts';
import type { Decode } from './raw-list.ts';

export interface WatchTiming {
  /** Server-side lifetime of one watch, drawn per watch in [min, max] seconds. */
  readonly timeoutSeconds: readonly [number, number];
  /** No data at all (events or bookmarks) for this long: the connection is presumed dead. */
  readonly idleMs: number;
  /** [0, 1): the watch lifetimes and the restart jitter. */
  readonly random: () => number;
}

// kube-apiserver sends a bookmark about once a minute to watchers that allow them; 150 s
// tolerates one lost bookmark and still finds a dead connection well within undici's own
// 300 s body timeout. An idle cluster: 3 watches × 3600 s / 300..600 s = 18..36 watch
// requests per hour per node (client-node's default: 3 × 120 = 360).
export const DEFAULT_WATCH_TIMING: WatchTiming = { timeoutSeconds: [300, 600], idleMs: 150_000, random: Math.random };

/** Shared by a resource's list function and its watch: did the last watch end with 410 Gone? */
export interface Expiry { expired: boolean }

type WatchArgs = Parameters<Watch['watch']>;

export class ProxyWatch<T> extends Watch {
  readonly #stopped: () => boolean;
  readonly #decode: Decode<T>;
  readonly #timing: WatchTiming;
  readonly #expiry: Expiry;

  constructor(kc: KubeConfig, stopped: () => boolean, decode: Decode<T>, timing: WatchTiming, expiry: Expiry) {
    super(kc);
    this.#stopped = stopped;
    this.#decode = decode;
    this.#timing = timing;
    this.#expiry = expiry;
    // Private in client-node's typings, a plain field of the instance at runtime (2.0.1); the
    // idle-limit test in test/observe/watch-lifetime.test.ts fails if that ever changes.
    Reflect.set(this, 'requestTimeoutMs', timing.idleMs);
  }

  override async watch(path: string, query: WatchArgs[1], callback: WatchArgs[2], done: WatchArgs[3]): Promise<AbortController> {
    const [min, max] = this.#timing.timeoutSeconds;
    const timeoutSeconds = Math.floor(min + this.#timing.random() * (max - min + 1));
    const onEvent: WatchArgs[2] = (phase, obj, raw) => {
      if (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') {
        const decoded = this.#decode(obj);
        if (decoded !== undefined) callback(phase, decoded, raw);
        return;
      }
      if (phase === 'ERROR' && isGone(obj)) this.#expiry.expired = true;
      callback(phase, obj, raw);
    };
    const onDone: WatchArgs[3] = (err) => {
      if (isGone(err)) this.#expiry.expired = true;
      done(err);
    };
    const controller = await super.watch(path, { ...query, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onDone);
    if (this.#stopped()) controller.abort();
    return controller;
  }
}

function isGone(x: unknown): boolean {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as { readonly code?: unknown; readonly statusCode?: unknown };
  return o.code === 410 || o.statusCode === 410;
}
