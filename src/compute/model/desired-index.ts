// The desired state kept up to date Service by Service: replacing one Service's state costs
// O(that Service), and a snapshot says exactly what changed since the last one — which virtual
// servers, which set members and addresses were added or removed, whether the rules changed —
// so a sync is O(changed), not O(cluster).
import { compareIp, type Family, type Ip } from '../net/ip.ts';
import type { RenderContext } from './context.ts';
import { byText } from '../order.ts';
import { Counted, type Delta } from './counted.ts';
import type { DesiredState, HealthCheck, IpsetState } from './desired.ts';
import { SET_BASES, SET_DEFS, createOptions, setName, type SetBase } from './ipsets.ts';
import { buildIptables, type IptablesState, type OutFilterDrop } from './iptables.ts';
import type { ServiceState } from './render.ts';
import type { ServiceKey, VirtualServer, Warning } from './types.ts';
import { VirtualServerMap } from './vs-map.ts';

export interface Changes {
  /** Virtual server keys whose desired value changed (added, edited, removed). */
  readonly virtualServers: ReadonlySet<string>;
  /** Member changes by set name; only sets whose members changed are present. */
  readonly sets: ReadonlyMap<string, Delta<string>>;
  /** kube-ipvs0 addresses added and removed. */
  readonly addresses: Delta<Ip>;
  readonly iptables: boolean;
}

const ownerKey = (vs: VirtualServer): string => `${vs.service.namespace}/${vs.service.name}`;

interface IndexedSet { readonly state: IpsetState; readonly members: Counted<string> }

/** The Services with a flag set; the list is rebuilt only after a change. */
class KeyList {
  readonly #keys = new Set<ServiceKey>();
  #list: readonly ServiceKey[] | undefined;
  set(key: ServiceKey, on: boolean): void {
    if (on === this.#keys.has(key)) return;
    if (on) this.#keys.add(key); else this.#keys.delete(key);
    this.#list = undefined;
  }
  list(): readonly ServiceKey[] { return (this.#list ??= [...this.#keys]); }
}

export class DesiredIndex {
  readonly #ctx: RenderContext;
  readonly #states = new Map<ServiceKey, ServiceState>();
  /** vs key → the Services that render it (nearly always one); the first by namespace/name wins. */
  readonly #claims = new Map<string, VirtualServer[]>();
  /** vs keys claimed by more than one Service. */
  readonly #contested = new Set<string>();
  /** Copy-on-write per shard: a snapshot holds it as it was (vs-map.ts). */
  readonly #vss = new VirtualServerMap();
  readonly #sets = new Map<string, IndexedSet>();
  readonly #addresses = new Counted<Ip>();
  readonly #drops = new Counted<OutFilterDrop>();
  readonly #healthChecks = new Map<ServiceKey, HealthCheck>();
  #healthCheckList: readonly HealthCheck[] | undefined;
  readonly #noLocalInternal = new KeyList();
  readonly #noLocalExternal = new KeyList();
  #iptables: IptablesState[] | undefined;
  #dirtyVs = new Set<string>();

  constructor(ctx: RenderContext) {
    this.#ctx = ctx;
    for (const family of ctx.families) {
      for (const base of SET_BASES) {
        const name = setName(base, family);
        const members = new Counted<string>();
        const type = SET_DEFS[base].type;
        // Unordered: a sync needs membership, not order (plan sorts what it prints).
        const state: IpsetState = { name, base, family, type, get createOptions() { return createOptions(type, family, members.size); }, get entries() { return members.values(); } };
        this.#sets.set(name, { state, members });
      }
    }
  }

  get size(): number { return this.#states.size; }

  /** One Service's share as last set (the proxier keeps it when a re-render fails). */
  get(key: ServiceKey): ServiceState | undefined { return this.#states.get(key); }

  /** Replaces one Service's share of the state (undefined: the Service is gone). */
  set(key: ServiceKey, state: ServiceState | undefined): void {
    const old = this.#states.get(key);
    if (old !== undefined) {
      const next = new Set(state?.virtualServers.map((v) => v.key));
      for (const vs of old.virtualServers) if (!next.has(vs.key)) this.#claim(vs, -1);
    }
    for (const vs of state?.virtualServers ?? []) this.#claim(vs, 1);
    // New members first, then the old ones go: a member in both never drops to zero.
    if (state !== undefined) this.#count(state, 1);
    if (old !== undefined) this.#count(old, -1);
    if (state === undefined) this.#states.delete(key);
    else this.#states.set(key, state);
    const hc = state?.healthCheck;
    if (hc !== old?.healthCheck) {
      if (hc === undefined) this.#healthChecks.delete(key);
      else this.#healthChecks.set(key, { service: key, ...hc });
      this.#healthCheckList = undefined;
    }
    this.#noLocalInternal.set(key, state?.noLocalEndpoints.internal ?? false);
    this.#noLocalExternal.set(key, state?.noLocalEndpoints.external ?? false);
  }

  #count(s: ServiceState, sign: 1 | -1): void {
    for (const e of s.setEntries) {
      const m = this.#sets.get(setName(e.base, e.family))?.members;
      if (m === undefined) continue;
      if (sign === 1) m.add(e.entry, e.entry); else m.remove(e.entry);
    }
    for (const ip of s.bound) if (sign === 1) this.#addresses.add(ip.text, ip); else this.#addresses.remove(ip.text);
    for (const d of s.outFilterDrops) {
      const k = `${d.ip.text}/${d.protocol}/${d.port}`;
      if (sign === 1) this.#drops.add(k, d); else this.#drops.remove(k);
    }
  }

  #claim(vs: VirtualServer, sign: 1 | -1): void {
    const sameOwner = (c: VirtualServer): boolean => c.service.name === vs.service.name && c.service.namespace === vs.service.namespace;
    const cur = this.#claims.get(vs.key);
    const others = cur === undefined ? [] : cur.filter((c) => !sameOwner(c));
    // Not pushed onto: a pushed array keeps room for 17 claims, and nearly every key has one.
    const claims = sign === 1 ? (others.length === 0 ? [vs] : [...others, vs]) : others;
    if (claims.length === 0) this.#claims.delete(vs.key);
    else this.#claims.set(vs.key, claims);
    if (claims.length > 1) this.#contested.add(vs.key); else this.#contested.delete(vs.key);
    const next = claims.length > 1 ? [...claims].sort((a, b) => byText(ownerKey(a), ownerKey(b)))[0] : claims[0];
    if (next === this.#vss.get(vs.key)) return;
    if (next === undefined) this.#vss.delete(vs.key);
    else this.#vss.set(vs.key, next);
    this.#dirtyVs.add(vs.key);
  }

  /** Services that lost a virtual server to another Service (deterministic: namespace/name order). */
  conflicts(keys?: ReadonlySet<ServiceKey>): Warning[] {
    const out: Warning[] = [];
    for (const vsKey of this.#contested) {
      const [winner, ...losers] = (this.#claims.get(vsKey) ?? []).map(ownerKey).sort(byText);
      for (const l of losers) {
        if (keys !== undefined && !keys.has(l)) continue;
        out.push({ kind: 'Service', object: l, field: 'spec', message: `virtual server ${vsKey} is already used by Service ${winner ?? ''}; not programmed for this one` });
      }
    }
    return out;
  }

  /**
   * The desired state now, and what changed since the previous snapshot. The state never
   * changes afterwards, so a reader may keep it past the next sync (a metrics callback does):
   * member and address lists are arrays the index never mutates, and of the virtual server map
   * the index's next change copies the shard it writes (copy-on-write, vs-map.ts).
   */
  snapshot(): { desired: DesiredState; changes: Changes } {
    const sets = new Map<string, Delta<string>>();
    let emptinessChanged = false;
    for (const [name, { members }] of this.#sets) {
      if (!members.changed) continue;
      const d = members.takeDelta();
      sets.set(name, d);
      // Rules are written only for sets with members: their count follows emptiness, not size.
      const wasEmpty = members.size - d.added.length + d.removed.length === 0;
      if (wasEmpty !== (members.size === 0)) emptinessChanged = true;
    }
    const rulesChanged = this.#drops.changed || emptinessChanged || this.#iptables === undefined;
    this.#drops.takeDelta();
    const iptables = rulesChanged || this.#iptables === undefined ? this.#ctx.families.map((f) => this.#rules(f)) : this.#iptables;
    this.#iptables = iptables;
    const changes: Changes = { virtualServers: this.#dirtyVs, sets, addresses: this.#addresses.takeDelta(), iptables: rulesChanged };
    this.#dirtyVs = new Set();
    const desired: DesiredState = {
      families: this.#ctx.families,
      virtualServers: this.#vss.snapshot(),
      addresses: this.#addresses.values(),
      // Counted.values() is rebuilt only after a change, so this costs O(changed sets).
      ipsets: [...this.#sets.values()].map(({ state: s }) => ({ name: s.name, base: s.base, family: s.family, type: s.type, createOptions: s.createOptions, entries: s.entries })),
      iptables,
      healthChecks: (this.#healthCheckList ??= [...this.#healthChecks.values()]),
      noLocalEndpoints: { internal: this.#noLocalInternal.list(), external: this.#noLocalExternal.list() },
    };
    return { desired, changes };
  }

  #rules(family: Family): IptablesState {
    const nonEmpty = new Set<SetBase>();
    for (const { state, members } of this.#sets.values()) if (state.family === family && members.size > 0) nonEmpty.add(state.base);
    const drops = this.#drops.values().filter((d) => d.ip.family === family)
      .sort((a, b) => compareIp(a.ip, b.ip) || byText(a.protocol, b.protocol) || a.port - b.port);
    return buildIptables({
      family, masqueradeAll: this.#ctx.config.masqueradeAll, local: this.#ctx.localTraffic.get(family),
      masqueradeBit: this.#ctx.config.masqueradeBit, nonEmptySets: nonEmpty, outFilterDrops: drops,
    });
  }
}
