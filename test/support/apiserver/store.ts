// The object store: one global resourceVersion (like etcd's revision), a bounded history of
// changes so watches can resume, and snapshots that keep chunked lists consistent.
import { randomBytes, randomUUID } from 'node:crypto';
import { type Resource, resourceId } from './resources.ts';
import { ApiError, notFound } from './status.ts';
import type { KubeObject } from './types.ts';

export interface Change {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly rv: number;
  readonly resource: Resource;
  readonly object: KubeObject; // for DELETED: the last state, stamped with the deletion's RV
  readonly prev: KubeObject | undefined; // needed to turn selector transitions into ADDED/DELETED
}

const key = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;
export const objectKey = (o: KubeObject): string => key(o.metadata.namespace, o.metadata.name ?? '');

const stamp = (o: KubeObject, rv: number): KubeObject =>
  ({ ...o, metadata: { ...o.metadata, resourceVersion: String(rv) } });

/** Ignores the fields the server sets, so that an update changing nothing is a no-op, as upstream. */
const sameContent = (a: KubeObject, b: KubeObject): boolean =>
  JSON.stringify(stamp(a, 0)) === JSON.stringify(stamp(b, 0));

export class Store {
  #rv = 0;
  #compactedRv = 0; // a watch from an RV below this is answered 410 Expired
  readonly #historyLimit: number;
  #history: Change[] = [];
  #objects = new Map<string, Map<string, KubeObject>>();
  #snapshots = new Map<string, readonly KubeObject[]>(); // `${resourceId}@${rv}`
  readonly #listeners = new Set<(c: Change) => void>();

  constructor(historyLimit: number) {
    this.#historyLimit = historyLimit;
  }

  get rv(): number { return this.#rv; }
  get compactedRv(): number { return this.#compactedRv; }

  #bucket(r: Resource): Map<string, KubeObject> {
    let m = this.#objects.get(resourceId(r));
    if (m === undefined) this.#objects.set(resourceId(r), (m = new Map<string, KubeObject>()));
    return m;
  }

  /** Current objects in key order (namespace, then name), like etcd's range reads. */
  list(r: Resource): readonly KubeObject[] {
    // The map's keys are the sort keys: no key built per comparison (a snapshot of 50,000).
    return [...this.#bucket(r)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
  }

  /** Every object held, of every resource. */
  *objects(): Iterable<KubeObject> {
    for (const m of this.#objects.values()) yield* m.values();
  }

  get(r: Resource, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.#bucket(r).get(key(namespace, name));
  }

  create(r: Resource, input: KubeObject): KubeObject {
    const meta = { ...input.metadata };
    if (meta.name === undefined && meta.generateName !== undefined) {
      meta.name = meta.generateName + randomBytes(3).toString('hex').slice(0, 5);
    }
    const name = meta.name;
    if (name === undefined || name === '') throw new ApiError(422, 'name or generateName is required');
    if (r.namespaced && (meta.namespace ?? '') === '') throw new ApiError(400, 'the namespace of the object is required');
    if (this.get(r, meta.namespace, name) !== undefined) {
      throw new ApiError(409, `${r.plural} "${name}" already exists`, 'AlreadyExists', { name, kind: r.plural });
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.#commit('ADDED', r, { ...input, metadata: meta }, undefined);
  }

  update(r: Resource, input: KubeObject): KubeObject {
    const { namespace, name = '', resourceVersion } = input.metadata;
    const old = this.get(r, namespace, name);
    if (old === undefined) throw notFound(r.plural, name);
    if (resourceVersion !== undefined && resourceVersion !== '' && resourceVersion !== old.metadata.resourceVersion) {
      throw new ApiError(409, `Operation cannot be fulfilled on ${r.plural} "${name}": the object has been modified; ` +
        'please apply your changes to the latest version and try again', 'Conflict', { name, kind: r.plural });
    }
    // Identity fields belong to the server.
    const next = { ...input, metadata: { ...input.metadata, uid: old.metadata.uid ?? '', creationTimestamp: old.metadata.creationTimestamp ?? '' } };
    if (sameContent(next, old)) return old;
    return this.#commit('MODIFIED', r, next, old);
  }

  delete(r: Resource, namespace: string | undefined, name: string): KubeObject {
    const old = this.get(r, namespace, name);
    if (old === undefined) throw notFound(r.plural, name);
    return this.#commit('DELETED', r, old, old);
  }

  #commit(type: Change['type'], r: Resource, obj: KubeObject, prev: KubeObject | undefined): KubeObject {
    const object = stamp(structuredClone(obj), ++this.#rv);
    if (type === 'DELETED') this.#bucket(r).delete(objectKey(object));
    else this.#bucket(r).set(objectKey(object), object);
    const change: Change = { type, rv: this.#rv, resource: r, object, prev };
    this.#history.push(change);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      this.#compactedRv = Math.max(this.#compactedRv, dropped.at(-1)?.rv ?? 0);
    }
    for (const l of [...this.#listeners]) l(change);
    return object;
  }

  /** Changes to `r` after `rv`, or undefined when the history no longer reaches back that far. */
  changesSince(r: Resource, rv: number): readonly Change[] | undefined {
    if (rv < this.#compactedRv) return undefined;
    return this.#history.filter((c) => c.rv > rv && c.resource === r);
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Keeps the current list of `r` so that later pages of a chunked list see the same state. */
  snapshot(r: Resource): { rv: number; items: readonly KubeObject[] } {
    const id = `${resourceId(r)}@${String(this.#rv)}`;
    let items = this.#snapshots.get(id);
    if (items === undefined) {
      items = this.list(r);
      this.#snapshots.set(id, items);
      // Bounded: the oldest continue tokens expire first, as compaction does upstream.
      if (this.#snapshots.size > 32) this.#snapshots.delete(this.#snapshots.keys().next().value ?? '');
    }
    return { rv: this.#rv, items };
  }

  snapshotAt(r: Resource, rv: number): readonly KubeObject[] | undefined {
    return rv < this.#compactedRv ? undefined : this.#snapshots.get(`${resourceId(r)}@${String(rv)}`);
  }

  /** Like an etcd compaction: every RV handed out so far, and every continue token, expires.
   *  The RV moves one step first (as a write elsewhere would) so that even a client that is up to
   *  date gets 410 on its next watch: tests can force a relist without racing a write. */
  expireHistory(): void {
    this.#history = [];
    this.#snapshots.clear();
    this.#compactedRv = ++this.#rv;
  }

  /** Forgets every object; all RVs handed out so far read as expired, so clients relist. */
  reset(): void {
    this.#objects.clear();
    this.expireHistory();
  }
}
