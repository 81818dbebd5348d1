// The cluster through @kubernetes/client-node informers: Services and EndpointSlices (with
// kube-proxy's label selector) and this Node (by name). client-node stops an informer on any
// error (socket reset, 5xx, a failed list) — each is restarted here with backoff; a 410 it
// handles itself by relisting. Callbacks after stop() are ignored.
import {
  CoreV1Api, DiscoveryV1Api, ListWatch, Watch, makeInformer,
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

export class ClusterWatcher {
  readonly #watched: Supervised[] = [];
  #stopped = false;

  constructor(kc: KubeConfig, nodeName: string, cluster: ClusterState, hooks: InformerHooks, log: Log) {
    const core = kc.makeApiClient(CoreV1Api);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    const svc = makeInformer(kc, '/api/v1/services',
      () => core.listServiceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR }), PROXY_LABEL_SELECTOR);
    const eps = makeInformer(kc, '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: PROXY_LABEL_SELECTOR }), PROXY_LABEL_SELECTOR);
    // makeInformer has no field selector; the Node is watched by name with a ListWatch.
    const byName = `metadata.name=${nodeName}`;
    const node = new ListWatch('/api/v1/nodes', new Watch(kc), () => core.listNode({ fieldSelector: byName }), false, undefined, byName);
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
