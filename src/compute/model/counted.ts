// Members held by several owners (two Services may share a NodePort, an address, a hairpin
// entry): a count per member, and the net change since the last `takeDelta()` — so a sync
// learns what was added and removed in O(changed), never by comparing whole sets.

export interface Delta<T> {
  readonly added: readonly T[];
  readonly removed: readonly T[];
}

export const emptyDelta: Delta<never> = { added: [], removed: [] };

export class Counted<T> {
  readonly #items = new Map<string, T>();
  /** Counts above 1 only: most members have one owner, and this keeps them one map entry. */
  readonly #extra = new Map<string, number>();
  /** Until the first delta is taken, every member is "added": no need to track them one by one. */
  #tracking = false;
  #added = new Map<string, T>();
  #removed = new Map<string, T>();
  #values: readonly T[] | undefined;

  get size(): number { return this.#items.size; }

  get changed(): boolean { return this.#tracking ? this.#added.size > 0 || this.#removed.size > 0 : this.#items.size > 0; }

  has(key: string): boolean { return this.#items.has(key); }

  add(key: string, value: T): void {
    if (this.#items.has(key)) { this.#extra.set(key, (this.#extra.get(key) ?? 1) + 1); return; }
    this.#items.set(key, value);
    this.#values = undefined;
    // Gone and back since the last delta: no change at all.
    if (this.#tracking && !this.#removed.delete(key)) this.#added.set(key, value);
  }

  remove(key: string): void {
    const n = this.#extra.get(key);
    if (n !== undefined) {
      if (n > 2) this.#extra.set(key, n - 1); else this.#extra.delete(key);
      return;
    }
    const value = this.#items.get(key);
    if (value === undefined) return;
    this.#items.delete(key);
    this.#values = undefined;
    if (this.#tracking && !this.#added.delete(key)) this.#removed.set(key, value);
  }

  /** Members added and removed since the previous call (net: a member that came and went is in neither). */
  takeDelta(): Delta<T> {
    if (!this.#tracking) {
      this.#tracking = true;
      return this.#items.size === 0 ? emptyDelta : { added: this.values(), removed: [] };
    }
    if (!this.changed) return emptyDelta;
    const d = { added: [...this.#added.values()], removed: [...this.#removed.values()] };
    this.#added = new Map();
    this.#removed = new Map();
    return d;
  }

  /** Every member, unordered. The array is built once per change and never mutated afterwards. */
  values(): readonly T[] {
    this.#values ??= [...this.#items.values()];
    return this.#values;
  }
}
