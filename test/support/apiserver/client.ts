// Helpers for tests that drive the real @kubernetes/client-node against the test API server.
import { KubeConfig, type Informer, type KubernetesObject } from '@kubernetes/client-node';
import type { TestApiServer } from './server.ts';

export function kubeConfigFor(server: TestApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath); // exactly what the daemon does with --kubeconfig
  return kc;
}

const keyOf = (o: KubernetesObject): string =>
  o.metadata?.namespace === undefined ? o.metadata?.name ?? '' : `${o.metadata.namespace}/${o.metadata.name ?? ''}`;

/** Records an informer's callbacks as `add ns/name`, `update …`, `delete …`, `error`, in order. */
export class Recorder<T extends KubernetesObject> {
  readonly log: string[] = [];
  readonly errors: unknown[] = [];
  readonly latest = new Map<string, T>(); // what each update callback handed over
  connects = 0;

  constructor(informer: Informer<T>) {
    informer.on('add', (o) => { this.#note('add', o); });
    informer.on('update', (o) => { this.#note('update', o); });
    informer.on('delete', (o) => { this.#note('delete', o); });
    informer.on('connect', () => { this.connects++; });
    informer.on('error', (err) => { this.errors.push(err); this.log.push('error'); });
  }

  #note(what: string, o: T): void {
    this.log.push(`${what} ${keyOf(o)}`);
    this.latest.set(keyOf(o), o);
  }

  /** Returns what was recorded since the last take(). */
  take(): string[] { return this.log.splice(0); }
}

export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 3000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - t0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Names in an informer's cache, sorted, to compare with the server's. */
export function cacheKeys(cache: { list(): readonly KubernetesObject[] }): string[] {
  return cache.list().map(keyOf).sort();
}
