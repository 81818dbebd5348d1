// The desired state kept up to date Service by Service: replacing one Service's state costs
// O(that Service), and a snapshot says exactly which virtual servers, sets, addresses and rules
// changed since the last one — so a sync is O(changed), not O(cluster).
import { compareIp, type Family, type Ip } from '../net/ip.ts';
import type { RenderContext } from './context.ts';
import type { DesiredState, HealthCheck, IpsetState } from './desired.ts';
import { SET_BASES, SET_DEFS, createOptions, setName, type SetBase } from './ipsets.ts';
import { buildIptables, type IptablesState, type OutFilterDrop } from './iptables.ts';
import type { ServiceState } from './render.ts';
import type { ServiceKey, VirtualServer, Warning } from './types.ts';

export interface Changes {
  /** Virtual server keys whose desired value changed (added, edited, removed). */
  readonly virtualServers: ReadonlySet<string>;
  /** Set names whose members changed. */
  readonly sets: ReadonlySet<string>;
  readonly addresses: boolean;
  readonly iptables: boolean;
}

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const ownerKey = (vs: VirtualServer): string => `${vs.service.namespace}/${vs.service.name}`;

/** A count per member, so two Services sharing a member (an address, a NodePort) keep it. */
class Counted<T> {
  readonly items = new Map<string, { value: T; n: number }>();
  add(k: string, value: T): boolean {
    const cur = this.items.get(k);
    if (cur !== undefined) { cur.n++; return false; }
    this.items.set(k, { value, n: 1 });
    return true;
  }
  remove(k: string): boolean {
    const cur = this.items.get(k);
    if (cur === undefined) return false;
    if (--cur.n > 0) return false;
    this.items.delete(k);
    return true;
  }
}

export class DesiredIndex {
  readonly #ctx: RenderContext;
  readonly #states = new Map<ServiceKey, ServiceState>();
  /** vs key → the Services that render it; the first by namespace/name wins. */
  readonly #claims = new Map<string, Map<ServiceKey, VirtualServer>>();
  readonly #vss = new Map<string, VirtualServer>();
  readonly #members = new Map<string, Counted<null>>();
  readonly #addresses = new Counted<Ip>();
  readonly #drops = new Counted<OutFilterDrop>();
  readonly #sets = new Map<string, IpsetState>();
  #iptables: IptablesState[] = [];
  #addressList: Ip[] = [];
  #dirtyVs = new Set<string>();
  #dirtySets = new Set<string>();
  #dirtyAddresses = true;
  #dirtyRules = true;

  constructor(ctx: RenderContext) {
    this.#ctx = ctx;
    for (const family of ctx.families) {
      for (const base of SET_BASES) {
        const name = setName(base, family);
        this.#members.set(name, new Counted());
        this.#dirtySets.add(name);
      }
    }
  }

  get size(): number { return this.#states.size; }

  /** Replaces one Service's share of the state (undefined: the Service is gone). */
  set(key: ServiceKey, state: ServiceState | undefined): void {
    const old = this.#states.get(key);
    const next = new Set(state?.virtualServers.map((v) => v.key));
    for (const vs of old?.virtualServers ?? []) if (!next.has(vs.key)) this.#claim(vs, -1);
    for (const vs of state?.virtualServers ?? []) this.#claim(vs, 1);
    // New members first, then the old ones go: a member in both never drops to zero, so only
    // real changes are reported.
    if (state !== undefined) this.#count(state, 1);
    if (old !== undefined) this.#count(old, -1);
    if (state === undefined) this.#states.delete(key);
    else this.#states.set(key, state);
  }

  #count(s: ServiceState, sign: 1 | -1): void {
    for (const e of s.setEntries) {
      const name = setName(e.base, e.family);
      const m = this.#members.get(name);
      if (m !== undefined && (sign === 1 ? m.add(e.entry, null) : m.remove(e.entry))) this.#dirtySets.add(name);
    }
    for (const ip of s.bound) if (sign === 1 ? this.#addresses.add(ip.text, ip) : this.#addresses.remove(ip.text)) this.#dirtyAddresses = true;
    for (const d of s.outFilterDrops) {
      const k = `${d.ip.text}/${d.protocol}/${d.port}`;
      if (sign === 1 ? this.#drops.add(k, d) : this.#drops.remove(k)) this.#dirtyRules = true;
    }
  }

  #claim(vs: VirtualServer, sign: 1 | -1): void {
    const claims = this.#claims.get(vs.key) ?? new Map<ServiceKey, VirtualServer>();
    if (sign === 1) claims.set(ownerKey(vs), vs);
    else claims.delete(ownerKey(vs));
    if (claims.size === 0) this.#claims.delete(vs.key);
    else this.#claims.set(vs.key, claims);
    const winner = [...claims.keys()].sort(byText)[0];
    const next = winner === undefined ? undefined : claims.get(winner);
    if (next === this.#vss.get(vs.key)) return;
    if (next === undefined) this.#vss.delete(vs.key);
    else this.#vss.set(vs.key, next);
    this.#dirtyVs.add(vs.key);
  }

  /** Services that lost a virtual server to another Service (deterministic: namespace/name order). */
  conflicts(keys?: ReadonlySet<ServiceKey>): Warning[] {
    const out: Warning[] = [];
    for (const [vsKey, claims] of this.#claims) {
      if (claims.size < 2) continue;
      const [winner, ...losers] = [...claims.keys()].sort(byText);
      for (const l of losers) {
        if (keys !== undefined && !keys.has(l)) continue;
        out.push({ kind: 'Service', object: l, field: 'spec', message: `virtual server ${vsKey} is already used by Service ${winner ?? ''}; not programmed for this one` });
      }
    }
    return out;
  }

  /** The desired state now, and what changed since the previous snapshot. */
  snapshot(): { desired: DesiredState; changes: Changes } {
    const changedSets = this.#dirtySets;
    let emptinessChanged = false;
    for (const name of changedSets) {
      const wasEmpty = (this.#sets.get(name)?.entries.length ?? 0) === 0;
      const next = this.#setState(name);
      this.#sets.set(name, next);
      // Rules are written only for sets with members: their count follows emptiness, not size.
      if (wasEmpty !== (next.entries.length === 0)) emptinessChanged = true;
    }
    const rulesChanged = this.#dirtyRules || emptinessChanged || this.#iptables.length === 0;
    if (rulesChanged) this.#iptables = this.#ctx.families.map((f) => this.#rules(f));
    if (this.#dirtyAddresses) this.#addressList = [...this.#addresses.items.values()].map((a) => a.value).sort(compareIp);
    const changes: Changes = { virtualServers: this.#dirtyVs, sets: changedSets, addresses: this.#dirtyAddresses, iptables: rulesChanged };
    this.#dirtyVs = new Set();
    this.#dirtySets = new Set();
    this.#dirtyAddresses = false;
    this.#dirtyRules = false;
    const states = [...this.#states.values()];
    const desired: DesiredState = {
      families: this.#ctx.families,
      virtualServers: this.#vss,
      addresses: this.#addressList,
      ipsets: [...this.#sets.values()],
      iptables: this.#iptables,
      healthChecks: states.flatMap((s): HealthCheck[] => (s.healthCheck === undefined ? [] : [{ service: s.key, ...s.healthCheck }])),
      noLocalEndpoints: {
        internal: states.filter((s) => s.noLocalEndpoints.internal).map((s) => s.key),
        external: states.filter((s) => s.noLocalEndpoints.external).map((s) => s.key),
      },
    };
    return { desired, changes };
  }

  #setState(name: string): IpsetState {
    const family: Family = name.startsWith('KUBE-6-') ? 6 : 4;
    const base = SET_BASES.find((b) => setName(b, family) === name) as SetBase;
    const type = SET_DEFS[base].type;
    // Unsorted: a sync needs membership, not order (plan sorts what it prints).
    return { name, base, family, type, createOptions: createOptions(type, family), entries: [...(this.#members.get(name)?.items.keys() ?? [])] };
  }

  #rules(family: Family): IptablesState {
    const nonEmpty = new Set([...this.#sets.values()].filter((s) => s.family === family && s.entries.length > 0).map((s) => s.base));
    const drops = [...this.#drops.items.values()].map((d) => d.value).filter((d) => d.ip.family === family)
      .sort((a, b) => compareIp(a.ip, b.ip) || byText(a.protocol, b.protocol) || a.port - b.port);
    return buildIptables({
      family, masqueradeAll: this.#ctx.config.masqueradeAll, clusterCidr: this.#ctx.config.clusterCidrs.find((c) => c.ip.family === family),
      masqueradeBit: this.#ctx.config.masqueradeBit, nonEmptySets: nonEmpty, outFilterDrops: drops,
    });
  }
}
