// The cluster through @kubernetes/client-node informers: Services and EndpointSlices (with
// kube-proxy's label selector) and this Node (by name). client-node stops an informer on any
// error (socket reset, 5xx, a failed list) — each is restarted here with backoff; a 410 it
// handles itself by relisting. Callbacks after stop() are ignored.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CoreV1Api, DiscoveryV1Api, ListWatch, Watch,
  type Informer, type KubeConfig, type KubernetesObject, type ObjectCallback, type ErrorCallback,
} from '@kubernetes/client-node';
import type { Log } from '../log.ts';
import { keyOf, type ClusterState } from './cluster-state.ts';

export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';

const BACKOFF_MS = [500, 1000, 2000, 5000, 10_000, 30_000];

/**
 * One informer kept running: (re)started with backoff after every error, the backoff reset
 * once a start lists without error. Errors during a start are that start's failure.
 */
class Supervised {
  readonly name: string;
  readonly informer: Informer<KubernetesObject>;
  readonly #log: Log;
  readonly #stopped: () => boolean;
  #attempt = 0;
  #starting = false;
  #errDuringStart: unknown;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #listed: () => void = () => undefined;
  readonly listed: Promise<void>;

  constructor(name: string, informer: Informer<KubernetesObject>, log: Log, stopped: () => boolean) {
    this.name = name;
    this.informer = informer;
    this.#log = log;
    this.#stopped = stopped;
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
    const wait = BACKOFF_MS[Math.min(this.#attempt++, BACKOFF_MS.length - 1)] ?? 30_000;
    this.#log.warn({ informer: this.name, err: err instanceof Error ? err.message : String(err), retryInMs: wait }, 'informer stopped; restarting');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => { void this.run(); }, wait);
  }
}

export interface InformerHooks {
  /** Something changed: ask for a sync. */
  changed(): void;
}

/**
 * client-node's Watch, as the proxy needs it:
 * - bookmarks asked for (as client-go's reflector does), so a quiet watch's resourceVersion
 *   stays fresh and a reconnect resumes instead of relisting everything after a 410;
 * - ListWatch checks `stopped` only before its reconnect delay, its list and the watch's
 *   connect, not after them: a stop() in one of those windows would leave a live watch (a
 *   stopped informer still watching, and a process that never exits on SIGTERM). A watch that
 *   connects after stop() is aborted at once here.
 */
class ProxyWatch extends Watch {
  readonly #stopped: () => boolean;
  constructor(kc: KubeConfig, stopped: () => boolean) {
    super(kc);
    this.#stopped = stopped;
  }

  override async watch(path: string, query: Parameters<Watch['watch']>[1], callback: Parameters<Watch['watch']>[2], done: Parameters<Watch['watch']>[3]): Promise<AbortController> {
    const controller = await super.watch(path, { ...query, allowWatchBookmarks: true }, callback, done);
    if (this.#stopped()) controller.abort();
    return controller;
  }
}

export class ClusterWatcher {
  readonly #watched: Supervised[] = [];
  #stopped = false;

  constructor(kc: KubeConfig, nodeName: string, cluster: ClusterState, hooks: InformerHooks, log: Log) {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const stopped = (): boolean => this.#stopped;
    // Its reconnect delay must not keep a stopping process alive either.
    const options = { delayFn: (ms: number) => sleep(ms, undefined, { ref: false }) };
    const listWatch = <T extends KubernetesObject>(path: string, list: () => Promise<{ items: T[] }>, labels?: string, fields?: string): ListWatch<T> =>
      new ListWatch(path, new ProxyWatch(kc, stopped), list, false, labels, fields, options);
    const svc = listWatch('/api/v1/services', () => core.listServiceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR }), PROXY_LABEL_SELECTOR);
    const eps = listWatch('/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR }), PROXY_LABEL_SELECTOR);
    // The Node by name.
    const byName = `metadata.name=${nodeName}`;
    const node = listWatch('/api/v1/nodes', () => core.listNode({ fieldSelector: byName }), undefined, byName);
    const wire = (name: string, informer: Informer<KubernetesObject>, set: (key: string, o: KubernetesObject | undefined) => void): void => {
      const put = ((o: KubernetesObject) => { if (!this.#stopped) { set(keyOf(o), o); hooks.changed(); } }) as ObjectCallback<KubernetesObject>;
      informer.on('add', put);
      informer.on('update', put);
      informer.on('delete', ((o: KubernetesObject) => { if (!this.#stopped) { set(keyOf(o), undefined); hooks.changed(); } }));
      this.#watched.push(new Supervised(name, informer, log, () => this.#stopped));
    };
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
