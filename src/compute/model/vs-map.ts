// The desired virtual servers as the DesiredIndex keeps them: a map whose snapshot costs
// O(shards) and whose next change copies one shard, not the whole map. A snapshot must never
// change afterwards (a reader may keep it past the next sync), and copying a single Map of
// every virtual server on the first change after each snapshot cost O(cluster) per endpoint
// change: ~14 ms of a change's latency at 10,000 Services in the bench's CPU profile (82,500
// entries at 50,000). Here a change copies the ~1/512 of the map its key hashes to.
import type { VirtualServer } from './types.ts';

/** What the desired state exposes of its virtual servers (a `Map` is one too). */
export interface VirtualServers extends Iterable<readonly [string, VirtualServer]> {
  readonly size: number;
  get(key: string): VirtualServer | undefined;
  has(key: string): boolean;
  keys(): Iterable<string>;
  values(): Iterable<VirtualServer>;
  entries(): Iterable<readonly [string, VirtualServer]>;
}

const SHARDS = 512; // a power of two: the shard is the hash's low bits

/** FNV-1a of the key's UTF-16 code units: cheap, and spreads keys that differ in one digit. */
function shardOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h & (SHARDS - 1);
}

/** A frozen view: the shards as they were at the snapshot (the live map copies before writing). */
class View implements VirtualServers {
  readonly #shards: readonly ReadonlyMap<string, VirtualServer>[];
  readonly size: number;
  constructor(shards: readonly ReadonlyMap<string, VirtualServer>[], size: number) { this.#shards = shards; this.size = size; }
  get(key: string): VirtualServer | undefined { return this.#shards[shardOf(key)]?.get(key); }
  has(key: string): boolean { return this.#shards[shardOf(key)]?.has(key) ?? false; }
  * keys(): Generator<string> { for (const s of this.#shards) yield* s.keys(); }
  * values(): Generator<VirtualServer> { for (const s of this.#shards) yield* s.values(); }
  * entries(): Generator<readonly [string, VirtualServer]> { for (const s of this.#shards) yield* s.entries(); }
  [Symbol.iterator](): Iterator<readonly [string, VirtualServer]> { return this.entries(); }
}

/** The index's live map: written in place until a snapshot shares it, then per shard on write. */
export class VirtualServerMap {
  readonly #shards: Map<string, VirtualServer>[] = Array.from({ length: SHARDS }, () => new Map<string, VirtualServer>());
  /** Whether shard i is still held by the last snapshot (copied on its next write). */
  readonly #shared: boolean[] = new Array<boolean>(SHARDS).fill(false);
  #size = 0;

  get(key: string): VirtualServer | undefined { return this.#shards[shardOf(key)]?.get(key); }

  set(key: string, vs: VirtualServer): void {
    const s = this.#writable(shardOf(key));
    if (!s.has(key)) this.#size++;
    s.set(key, vs);
  }

  delete(key: string): void {
    const i = shardOf(key);
    if (!(this.#shards[i]?.has(key) ?? false)) return;
    this.#writable(i).delete(key);
    this.#size--;
  }

  /** The map as it is now, never changed afterwards. */
  snapshot(): VirtualServers {
    this.#shared.fill(true);
    return new View([...this.#shards], this.#size);
  }

  #writable(i: number): Map<string, VirtualServer> {
    const cur = this.#shards[i] ?? new Map<string, VirtualServer>();
    if (!(this.#shared[i] ?? false)) return cur;
    const copy = new Map(cur);
    this.#shards[i] = copy;
    this.#shared[i] = false;
    return copy;
  }
}
