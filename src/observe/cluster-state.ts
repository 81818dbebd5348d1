// The cluster as the informers last saw it, and which Services changed since the last sync.
// EndpointSlice changes are tracked per slice and mapped to their Service.
import { isDeepStrictEqual } from 'node:util';
import { SERVICE_NAME_LABEL, TRIGGER_TIME_ANNOTATION, type EndpointSlice, type Node, type Service } from '../compute/k8s/objects.ts';
import { flat } from '../compute/text.ts';
import { ChangeTracker } from './change-tracker.ts';

// Flat (text.ts): the maps below keep one key per object.
export const keyOf = (o: { readonly metadata?: { readonly namespace?: string; readonly name?: string } }): string =>
  flat(o.metadata?.namespace ?? '', '/', o.metadata?.name ?? '');

const serviceOfSlice = (s: EndpointSlice): string => flat(s.metadata?.namespace ?? '', '/', s.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '');

// Only what the proxy reads: a status-only or managedFields update is not a change. The decode
// problems are part of it: a Service whose wrongly typed field was fixed (or removed) must be
// rendered again even when what decode kept is the same.
const serviceView = (s: Service): unknown => [s.metadata?.labels, s.metadata?.annotations, s.spec, s.status?.loadBalancer, s.problems];
const sliceView = (s: EndpointSlice): unknown => [s.metadata?.labels, s.addressType, s.endpoints, s.ports, s.problems];

export interface SyncInput {
  /** Services whose objects or slices changed. */
  readonly changed: ReadonlySet<string>;
  readonly nodeChanged: boolean;
  /** EndpointSlice last-change-trigger-time annotations of the changes (for programming latency). */
  readonly triggerTimes: readonly number[];
}

export class ClusterState {
  readonly services = new Map<string, Service>();
  readonly slices = new Map<string, EndpointSlice>();
  /** Service key → keys of its slices. */
  readonly slicesOf = new Map<string, Set<string>>();
  node: Node | undefined;
  #nodeChanged = false;
  readonly #serviceChanges = new ChangeTracker<Service>((a, b) => isDeepStrictEqual(serviceView(a), serviceView(b)));
  readonly #sliceChanges = new ChangeTracker<EndpointSlice>((a, b) => isDeepStrictEqual(sliceView(a), sliceView(b)));

  get pendingServiceChanges(): number { return this.#serviceChanges.size; }
  get pendingEndpointChanges(): number { return this.#sliceChanges.size; }
  /** Every Service and EndpointSlice event seen, no-op ones too (kube-proxy's *_changes_total). */
  get serviceEvents(): number { return this.#serviceEvents; }
  get sliceEvents(): number { return this.#sliceEvents; }
  #serviceEvents = 0;
  #sliceEvents = 0;

  setService(key: string, svc: Service | undefined): void {
    this.#serviceEvents++;
    this.#serviceChanges.update(key, this.services.get(key), svc);
    if (svc === undefined) this.services.delete(key);
    else this.services.set(key, svc);
  }

  setSlice(key: string, slice: EndpointSlice | undefined): void {
    this.#sliceEvents++;
    const prev = this.slices.get(key);
    this.#sliceChanges.update(key, prev, slice);
    if (prev !== undefined) {
      // An emptied set goes too: Services come and go, and their names must not pile up.
      const owner = serviceOfSlice(prev);
      const set = this.slicesOf.get(owner);
      set?.delete(key);
      if (set?.size === 0) this.slicesOf.delete(owner);
    }
    if (slice === undefined) {
      this.slices.delete(key);
      return;
    }
    this.slices.set(key, slice);
    const svc = serviceOfSlice(slice);
    const set = this.slicesOf.get(svc) ?? new Set<string>();
    set.add(key);
    this.slicesOf.set(svc, set);
  }

  setNode(node: Node | undefined): void {
    if (!isDeepStrictEqual([this.node?.metadata?.labels, this.node?.status?.addresses], [node?.metadata?.labels, node?.status?.addresses])) this.#nodeChanged = true;
    this.node = node;
  }

  /** What changed since the last call. */
  takeChanges(): SyncInput {
    const changed = new Set(this.#serviceChanges.takeChanges().keys());
    const triggerTimes: number[] = [];
    for (const c of this.#sliceChanges.takeChanges().values()) {
      for (const s of [c.before, c.after]) if (s !== undefined) changed.add(serviceOfSlice(s));
      const t = Date.parse(c.after?.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION] ?? '');
      if (Number.isFinite(t)) triggerTimes.push(t);
    }
    const nodeChanged = this.#nodeChanged;
    this.#nodeChanged = false;
    return { changed, nodeChanged, triggerTimes };
  }

  slicesFor(serviceKey: string): EndpointSlice[] {
    return [...(this.slicesOf.get(serviceKey) ?? [])].flatMap((k) => this.slices.get(k) ?? []);
  }
}
