// The cluster through @kubernetes/client-node's ListWatch informers: Services and EndpointSlices
// (with kube-proxy's label selector) and this Node (by name). Lists and watch events are decoded
// object by object (raw-list.ts, proxy-watch.ts), so one malformed object never stops the others.
// client-node stops an informer on any error (socket reset, 5xx, a failed list) — each is
// restarted here with jittered backoff; a 410 it handles itself by relisting. Callbacks after
// stop() are ignored.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Informer, KubeConfig, KubernetesObject, ObjectCallback, ErrorCallback } from '@kubernetes/client-node';
import { decodeEndpointSlice, decodeNode, decodeService } from '../compute/k8s/decode.ts';
import type { FieldProblem, ObjectMeta } from '../compute/k8s/objects.ts';
import type { Log } from '../log.ts';
import { restartDelayMs } from './backoff.ts';
import { keyOf, type ClusterState } from './cluster-state.ts';
import { ListWatch } from './kube-client.ts';
import { DEFAULT_WATCH_TIMING, ProxyWatch, type Expiry, type WatchTiming } from './proxy-watch.ts';
import { listDecoded, type Decode, type ListQuery } from './raw-list.ts';

export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

/**
 * One informer kept running: (re)started with jittered backoff after every error, the backoff
 * reset once a start lists without error. Errors during a start are that start's failure.
 */
class Supervised {
  readonly name: string;
  readonly informer: Informer<KubernetesObject>;
  readonly #log: Log;
  readonly #stopped: () => boolean;
  readonly #random: () => number;
  #attempt = 0;
  #starting = false;
  #errDuringStart: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #listed: () => void = () => undefined;
  readonly listed: Promise<void>;

  constructor(name: string, informer: Informer<KubernetesObject>, log: Log, stopped: () => boolean, random: () => number) {
    this.name = name;
    this.informer = informer;
    this.#log = log;
    this.#stopped = stopped;
    this.#random = random;
    this.listed = new Promise((resolve) => { this.#listed = resolve; });
    informer.on('error', ((err: unknown) => { this.#error(err); }) as ErrorCallback);
  }

  async run(): Promise<void> {
    if (this.#stopped()) return;
    this.#starting = true;
    this.#errDuringStart = undefined;
    try {
      await this.informer.start();
    } catch (err) {
      this.#errDuringStart ??= err;
    } finally {
      this.#starting = false;
    }
    if (this.#errDuringStart === undefined) {
      this.#attempt = 0;
      this.#listed();
    } else {
      this.#retry(this.#errDuringStart);
    }
  }

  stop(): void {
    clearTimeout(this.#timer);
    void this.informer.stop();
  }

  #error(err: unknown): void {
    if (this.#starting) this.#errDuringStart ??= err;
    else this.#retry(err);
  }

  #retry(err: unknown): void {
    if (this.#stopped()) return;
    const wait = restartDelayMs(this.#attempt++, this.#random);
    this.#log.warn({ informer: this.name, err: err instanceof Error ? err.message : String(err), retryInMs: wait }, 'informer stopped; restarting');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => { void this.run(); }, wait);
  }
}

export interface InformerHooks {
  /**
   * Something changed: ask for a sync. Once per burst: a list hands its objects over in one
   * synchronous loop (20,000 at 10,000 Services), and the sync request, with its metrics and
   * health bookkeeping, is made once after it (a microtask later), not per object.
   */
  changed(): void;
}

type Ingested = { readonly metadata?: ObjectMeta; readonly problems?: readonly FieldProblem[] };

/**
 * Decodes one object for the informer cache. An object without a usable name cannot be keyed
 * (nor ever deleted): it is reported and skipped. With `report`, field problems are logged here
 * (the Node's; Services and slices are reported when rendered, with an Event).
 */
function ingest(kind: string, decode: (raw: unknown) => Ingested, log: Log, report: boolean): Decode<KubernetesObject> {
  return (raw) => {
    const o = decode(raw);
    const name = o.metadata?.name ?? '';
    const ns = o.metadata?.namespace ?? '';
    const object = ns === '' ? name : `${ns}/${name}`; // cluster-scoped: the name alone
    if (name === '') {
      log.warn({ kind, object, problems: o.problems }, `${kind} without a usable metadata.name skipped`);
      return undefined;
    }
    if (report) for (const p of o.problems ?? []) log.warn({ kind, object, field: p.field }, `${kind} ${object}: ${p.field}: ${p.message}`);
    // ListWatch reads only metadata.namespace/name/resourceVersion of what it caches.
    return o as KubernetesObject;
  };
}

export class ClusterWatcher {
  readonly #watched: Supervised[] = [];
  #stopped = false;

  constructor(kc: KubeConfig, nodeName: string, cluster: ClusterState, hooks: InformerHooks, log: Log, timing: Partial<WatchTiming> = {}) {
    const t: WatchTiming = { ...DEFAULT_WATCH_TIMING, ...timing };
    const stopped = (): boolean => this.#stopped;
    // Its reconnect delay must not keep a stopping process alive either.
    const options = { delayFn: (ms: number) => sleep(ms, undefined, { ref: false }) };
    const listWatch = (path: string, decode: Decode<KubernetesObject>, q: ListQuery): ListWatch<KubernetesObject> => {
      const expiry: Expiry = { expired: false };
      const list = async (): Promise<{ metadata: { resourceVersion: string }; items: KubernetesObject[] }> => {
        // The watch cache serves the first list; after 410 Gone its data may be as old as the
        // watch that expired, so ask for current data (client-go's reflector does the same).
        const listed = await listDecoded(kc, path, q, !expiry.expired, decode);
        expiry.expired = false;
        return listed;
      };
      return new ListWatch(path, new ProxyWatch(kc, stopped, decode, t, expiry), list, false, q.labelSelector, q.fieldSelector, options);
    };
    const svc = listWatch('/api/v1/services', ingest('Service', decodeService, log, false), { labelSelector: PROXY_LABEL_SELECTOR });
    const eps = listWatch('/apis/discovery.k8s.io/v1/endpointslices', ingest('EndpointSlice', decodeEndpointSlice, log, false),
      { labelSelector: PROXY_LABEL_SELECTOR });
    const node = listWatch('/api/v1/nodes', ingest('Node', decodeNode, log, true), { fieldSelector: `metadata.name=${nodeName}` });
    let pending = false;
    const changed = (): void => {
      if (pending) return;
      pending = true;
      queueMicrotask(() => {
        pending = false;
        if (!this.#stopped) hooks.changed();
      });
    };
    const wire = (name: string, informer: Informer<KubernetesObject>, set: (key: string, o: KubernetesObject | undefined) => void): void => {
      const put = ((o: KubernetesObject) => { if (!this.#stopped) { set(keyOf(o), o); changed(); } }) as ObjectCallback<KubernetesObject>;
      informer.on('add', put);
      informer.on('update', put);
      informer.on('delete', ((o: KubernetesObject) => { if (!this.#stopped) { set(keyOf(o), undefined); changed(); } }));
      this.#watched.push(new Supervised(name, informer, log, () => this.#stopped, t.random));
    };
    // What the informers cache is what `ingest` decoded.
    wire('services', svc, (k, o) => { cluster.setService(k, o); });
    wire('endpointslices', eps, (k, o) => { cluster.setSlice(k, o); });
    wire('node', node, (_k, o) => { cluster.setNode(o); });
  }

  /** Resolves once every informer has listed successfully (failed lists are retried). */
  async start(): Promise<void> {
    for (const w of this.#watched) void w.run();
    await Promise.all(this.#watched.map((w) => w.listed));
  }

  stop(): void {
    this.#stopped = true;
    for (const w of this.#watched) w.stop();
  }
}
