// The test API server: node:http on 127.0.0.1, an in-memory store, and the knobs tests turn.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Faults, type RequestRecord } from './faults.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { type Context, dispatch, verbOf } from './dispatch.ts';
import { encodeListItems } from './list.ts';
import { parseRoute, resourceForKind, resourceForObject, resourceForRef } from './resources.ts';
import { Store } from './store.ts';
import type { KubeObject, Ref, Verb } from './types.ts';
import type { OpenWatch, WatchRecord, WatchSettings } from './watch.ts';

export interface StartOptions {
  /** Watch events kept for resumption (default 1000); older RVs get 410 Expired. */
  readonly historyLimit?: number;
  readonly bookmarks?: WatchSettings['bookmarks']; // default 'requested'
  readonly bookmarkIntervalMs?: number; // default 1000
  readonly watchExpiredAs?: WatchSettings['expiredAs']; // default 'event'
  readonly watchTimeoutMs?: number; // default: watches without timeoutSeconds never end
  /** When set, requests need `Authorization: Bearer TOKEN` (the kubeconfig carries it). */
  readonly token?: string;
}

export class TestApiServer {
  readonly kubeconfigPath: string;
  /** Live settings: a test may flip `expiredAs` or `bookmarks` between steps. */
  readonly watch: WatchSettings;
  readonly #store: Store;
  readonly #faults = new Faults();
  readonly #open = new Set<OpenWatch>();
  readonly #watchLog: WatchRecord[] = [];
  #token: string | undefined;
  #server: Server | undefined;
  #port = 0;

  constructor(options: StartOptions, kubeconfigPath: string) {
    this.kubeconfigPath = kubeconfigPath;
    this.#store = new Store(options.historyLimit ?? 1000);
    this.#token = options.token;
    this.watch = {
      bookmarks: options.bookmarks ?? 'requested',
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
      expiredAs: options.watchExpiredAs ?? 'event',
      defaultTimeoutMs: options.watchTimeoutMs,
    };
  }

  get url(): string { return `http://127.0.0.1:${this.#port}`; }
  get resourceVersion(): string { return String(this.#store.rv); }
  get openWatches(): number { return this.#open.size; }
  get requestLog(): readonly RequestRecord[] { return this.#faults.log; }

  // ---- objects (in-process; every write raises watch events like an API write) ----
  create<T extends KubeObject>(obj: T): T { return structuredClone(this.#store.create(resourceForObject(obj), obj)) as T; }
  update<T extends KubeObject>(obj: T): T { return structuredClone(this.#store.update(resourceForObject(obj), obj)) as T; }
  apply<T extends KubeObject>(obj: T): T {
    const exists = this.#store.get(resourceForObject(obj), obj.metadata.namespace, obj.metadata.name ?? '') !== undefined;
    return exists ? this.update({ ...obj, metadata: { ...obj.metadata, resourceVersion: '' } }) : this.create(obj);
  }
  delete(ref: Ref): void { this.#store.delete(resourceForRef(ref), ref.namespace, ref.name); }
  get(ref: Ref): KubeObject | undefined {
    const found = this.#store.get(resourceForRef(ref), ref.namespace, ref.name);
    return found === undefined ? undefined : structuredClone(found);
  }
  list(kind: string, apiVersion?: string): KubeObject[] {
    return structuredClone([...this.#store.list(resourceForKind(kind, apiVersion))]);
  }
  /**
   * Encodes every object as LISTs serve it, now rather than at the first LIST (a benchmark calls
   * it before starting the daemon: kube-apiserver serves from a warm watch cache on machines of
   * its own, not on the node's cores). Each object is encoded once anyway; a write encodes anew.
   */
  prepareLists(): void { encodeListItems(this.#store.objects()); }
  /** Events the client created or patched, core v1 and events.k8s.io/v1 alike. */
  events(): KubeObject[] { return [...this.list('Event', 'v1'), ...this.list('Event', 'events.k8s.io/v1')]; }

  // ---- faults and observations ----
  /** Ends open watch responses cleanly (a server-side timeout); returns how many. */
  dropWatches(): number { return this.#eachWatch((w) => { w.end(); }); }
  /** Destroys open watches' sockets mid-stream (a connection reset); returns how many. */
  resetWatches(): number { return this.#eachWatch((w) => { w.destroy(); }); }
  /** Compacts history at the current RV: watches and continue tokens from older RVs get 410. */
  expireHistory(): void { this.#store.expireHistory(); }
  /** The next `times` requests whose `VERB PATH?QUERY` matches answer `status`. */
  failNext(match: RegExp | string, status: number, times = 1): void { this.#faults.failNext(match, status, times); }
  /** Holds new requests until resume(); open watches keep streaming. */
  pause(): void { this.#faults.pause(); }
  resume(): void { this.#faults.resume(); }
  /** Requests seen, optionally of one verb and/or matching `VERB PATH?QUERY`. */
  requests(verb?: Verb, match?: RegExp | string): number { return this.#faults.count(verb, match); }
  /** Requests per resource plural (`services`, `endpointslices`, `nodes`…), optionally of one verb. */
  requestsPerResource(verb?: Verb): Map<string, number> { return this.#faults.perResource(verb); }
  /** Every watch served: when it opened and closed, and who ended it. */
  get watchLog(): readonly WatchRecord[] { return this.#watchLog; }

  #eachWatch(fn: (w: OpenWatch) => void): number {
    const all = [...this.#open];
    all.forEach(fn);
    return all.length;
  }

  // ---- lifecycle ----
  /** Closes the port and every connection; the state stays for restart(). Idempotent. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    this.#faults.dropHeld();
    this.#eachWatch((w) => { w.destroy(); }); // ended by the server, for watchLog
    const closed = new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
    server.closeAllConnections();
    await closed;
    await rm(dirname(this.kubeconfigPath), { recursive: true, force: true });
  }

  /** Listens again on the same port. keepState=false forgets all objects (RVs keep counting up). */
  async restart(options: { readonly keepState?: boolean } = {}): Promise<void> {
    await this.stop();
    if (options.keepState === false) this.#store.reset();
    await this.listen(this.#port);
  }

  /** @internal start() and restart() use this; port 0 picks an ephemeral port. */
  async listen(port: number): Promise<void> {
    const server = createServer((req, res) => { this.#onRequest(req, res); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('test apiserver: no TCP address');
    this.#port = address.port;
    this.#server = server;
    await writeKubeconfig(this.kubeconfigPath, this.url, this.#token);
  }

  /** The bearer token requests need from now on (a rotated service-account token). */
  setToken(token: string | undefined): void { this.#token = token; }

  async [Symbol.asyncDispose](): Promise<void> { await this.stop(); }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = parseRoute(url.pathname);
    const verb = route === undefined ? 'other' : verbOf(req.method ?? 'GET', route, url.searchParams);
    const failWith = this.#faults.admit({
      verb, description: `${verb} ${url.pathname}${url.search}`, resource: route?.resource.plural ?? '',
      query: Object.fromEntries(url.searchParams), at: Date.now(),
    });
    const ctx: Context = { store: this.#store, watch: this.watch, open: this.#open, token: this.#token, watchLog: this.#watchLog };
    const run = (): void => { void dispatch(ctx, req, res, url, route, verb, failWith); };
    if (!this.#faults.hold(run)) run();
  }
}

/** Starts a server on an ephemeral port with a kubeconfig for it in a fresh temp directory. */
export async function start(options: StartOptions = {}): Promise<TestApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-ipvs-apiserver-'));
  const server = new TestApiServer(options, join(dir, 'kubeconfig'));
  await server.listen(0);
  return server;
}
