// Members held by several owners (two Services may share a NodePort, an address, a hairpin
// entry): a count per member, and the net change since the last `takeDelta()` — so a sync
// learns what was added and removed in O(changed), never by comparing whole sets.

export interface Delta<T> {
  readonly added: readonly T[];
  readonly removed: readonly T[];
}

export const emptyDelta: Delta<never> = { added: [], removed: [] };

export class Counted<T> {
  readonly #items = new Map<string, { readonly value: T; n: number }>();
  #added = new Map<string, T>();
  #removed = new Map<string, T>();
  #values: readonly T[] | undefined;

  get size(): number { return this.#items.size; }

  get changed(): boolean { return this.#added.size > 0 || this.#removed.size > 0; }

  has(key: string): boolean { return this.#items.has(key); }

  add(key: string, value: T): void {
    const cur = this.#items.get(key);
    if (cur !== undefined) { cur.n++; return; }
    this.#items.set(key, { value, n: 1 });
    this.#values = undefined;
    // Gone and back since the last delta: no change at all.
    if (!this.#removed.delete(key)) this.#added.set(key, value);
  }

  remove(key: string): void {
    const cur = this.#items.get(key);
    if (cur === undefined || --cur.n > 0) return;
    this.#items.delete(key);
    this.#values = undefined;
    if (!this.#added.delete(key)) this.#removed.set(key, cur.value);
  }

  /** Members added and removed since the previous call (net: a member that came and went is in neither). */
  takeDelta(): Delta<T> {
    if (!this.changed) return emptyDelta;
    const d = { added: [...this.#added.values()], removed: [...this.#removed.values()] };
    this.#added = new Map();
    this.#removed = new Map();
    return d;
  }

  /** Every member, unordered. The array is built once per change and never mutated afterwards. */
  values(): readonly T[] {
    this.#values ??= Array.from(this.#items.values(), (x) => x.value);
    return this.#values;
  }
}
