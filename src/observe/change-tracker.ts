// Per namespace/name: the object before the first pending change and the latest one, so a
// sync knows exactly which objects changed — and a change that ends where it started (or
// touches nothing the proxy reads) is dropped (kube-proxy's change trackers).
export interface Change<T> {
  readonly before: T | undefined;
  readonly after: T | undefined;
}

export class ChangeTracker<T> {
  readonly #pending = new Map<string, Change<T>>();
  readonly #same: (a: T, b: T) => boolean;

  constructor(same: (a: T, b: T) => boolean) { this.#same = same; }

  /** Records a change from `prev` (the current value, undefined when new) to `next` (undefined when deleted). */
  update(key: string, prev: T | undefined, next: T | undefined): void {
    const first = this.#pending.get(key);
    const change = { before: first === undefined ? prev : first.before, after: next };
    if (this.#noop(change)) this.#pending.delete(key);
    else this.#pending.set(key, change);
  }

  get size(): number { return this.#pending.size; }

  /** The pending changes, emptied ("drain" is kept for IPVS draining). */
  takeChanges(): Map<string, Change<T>> {
    const out = new Map(this.#pending);
    this.#pending.clear();
    return out;
  }

  #noop(c: Change<T>): boolean {
    if (c.before === undefined || c.after === undefined) return c.before === c.after;
    return this.#same(c.before, c.after);
  }
}
