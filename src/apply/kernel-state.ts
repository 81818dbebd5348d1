// What the kernel holds, as kube-ipvs reads it: one read per tool, and the same shape for
// "what we last applied", so an incremental sync diffs against memory instead of the kernel.
import type { Family } from '../compute/net/ip.ts';
import type { DesiredState } from '../compute/model/desired.ts';
import type { Changes } from '../compute/model/desired-index.ts';
import type { VirtualServer } from '../compute/model/types.ts';
import { jumpRuleText } from '../compute/model/iptables.ts';
import { DUMMY_LINK, readAddresses, readLinks, type InterfaceAddress } from './ip.ts';
import { readIpsets, type ObservedSet } from './ipset.ts';
import { parseIptablesSave, iptablesBinary, type Backend, type SavedTable } from './iptables.ts';
import { readIpvs, type ObservedRealServer, type ObservedService } from './ipvsadm.ts';
import type { Runner } from './exec.ts';

export interface KernelState {
  readonly ipvs: ReadonlyMap<string, ObservedService>;
  readonly sets: ReadonlyMap<string, ObservedSet>;
  readonly iptables: ReadonlyMap<Family, ReadonlyMap<string, SavedTable>>;
  readonly addresses: readonly InterfaceAddress[];
  readonly linkExists: boolean;
}

/** One process per tool (per family for iptables): never one per object. */
export async function observeKernel(runner: Runner, families: readonly Family[], backend?: Backend): Promise<KernelState> {
  const [table, sets, addresses, links, ...tables] = await Promise.all([
    readIpvs(runner), readIpsets(runner), readAddresses(runner), readLinks(runner),
    ...families.map(async (f) => parseIptablesSave((await runner.run([iptablesBinary(f, 'save', backend)])).stdout)),
  ]);
  return {
    ipvs: table.services, sets, addresses, linkExists: links.includes(DUMMY_LINK),
    iptables: new Map(families.map((f, i) => [f, tables[i] ?? new Map<string, SavedTable>()])),
  };
}

export function toObserved(vs: VirtualServer, draining: readonly ObservedRealServer[] = []): ObservedService {
  return {
    key: vs.key,
    target: { kind: 'address', protocol: vs.protocol, ip: vs.ip, port: vs.port },
    scheduler: vs.scheduler,
    schedulerFlags: vs.schedulerFlags,
    ...(vs.persistence === undefined ? {} : { persistence: vs.persistence }),
    otherOptions: [],
    realServers: [...vs.realServers.map((rs) => ({ ...rs, forwarding: 'masq' as const })), ...draining],
  };
}

function tablesOf(desired: DesiredState, family: Family, before: ReadonlyMap<string, SavedTable> | undefined): Map<string, SavedTable> {
  const state = desired.iptables.find((s) => s.family === family);
  const out = new Map<string, Map<string, { policy: string; rules: readonly string[] }>>();
  for (const [name, chains] of before ?? []) out.set(name, new Map(chains));
  if (state === undefined) return out;
  for (const t of ['nat', 'filter'] as const) {
    const chains = out.get(t) ?? new Map<string, { policy: string; rules: readonly string[] }>();
    for (const c of state[t].chains) chains.set(c, { policy: '-', rules: state[t].rules.filter((r) => r.startsWith(`-A ${c} `)) });
    for (const j of state.jumps.filter((x) => x.table === t)) {
      const text = jumpRuleText(j);
      const cur = chains.get(j.from) ?? { policy: 'ACCEPT', rules: [] };
      chains.set(j.from, { ...cur, rules: [...cur.rules.filter((r) => r !== text), text] });
    }
    out.set(t, chains);
  }
  return out;
}

/**
 * The kernel state after a successful apply of `desired` on top of `before`: our objects as
 * desired (draining real servers kept at weight 0), everything we do not own as it was.
 */
export function afterApply(
  before: KernelState, desired: DesiredState, owned: (s: ObservedService) => boolean,
  draining: ReadonlyMap<string, readonly ObservedRealServer[]>,
): KernelState {
  const ipvs = new Map<string, ObservedService>();
  for (const [k, s] of before.ipvs) if (!owned(s) && !desired.virtualServers.has(k)) ipvs.set(k, s);
  for (const [k, vs] of desired.virtualServers) ipvs.set(k, toObserved(vs, draining.get(k)));
  const sets = new Map(before.sets);
  for (const s of desired.ipsets) {
    sets.set(s.name, { name: s.name, type: s.type, options: before.sets.get(s.name)?.options ?? optionsOf(s.createOptions), entries: s.entries });
  }
  const iptables = new Map(desired.families.map((f) => [f, tablesOf(desired, f, before.iptables.get(f))]));
  const others = before.addresses.filter((a) => a.ifname !== DUMMY_LINK || !desired.families.includes(a.ip.family));
  const ours = desired.addresses.map((ip) => ({ ifname: DUMMY_LINK, ip, prefix: ip.family === 4 ? 32 : 128 }));
  return { ipvs, sets, iptables, addresses: [...others, ...ours], linkExists: true };
}

function optionsOf(createOptions: string): Map<string, string> {
  const t = createOptions.split(' ');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < t.length; i += 2) out.set(t[i] ?? '', t[i + 1] ?? '');
  return out;
}

/**
 * afterApply for an incremental sync: only what `changes` names is updated, in place (the
 * dataplane owns `known` exclusively), so the cost follows the change, not the cluster.
 */
export function afterIncremental(
  known: KernelState, desired: DesiredState, changes: Changes, owned: (s: ObservedService) => boolean,
  draining: ReadonlyMap<string, readonly ObservedRealServer[]>,
): KernelState {
  const ipvs = known.ipvs as Map<string, ObservedService>;
  for (const k of changes.virtualServers) {
    const vs = desired.virtualServers.get(k);
    const cur = ipvs.get(k);
    if (vs !== undefined) ipvs.set(k, toObserved(vs, draining.get(k)));
    else if (cur !== undefined && owned(cur)) ipvs.delete(k);
  }
  const sets = known.sets as Map<string, ObservedSet>;
  for (const s of desired.ipsets) {
    if (!changes.sets.has(s.name)) continue;
    sets.set(s.name, { name: s.name, type: s.type, options: sets.get(s.name)?.options ?? optionsOf(s.createOptions), entries: s.entries });
  }
  const iptables = changes.iptables
    ? new Map(desired.families.map((f) => [f, tablesOf(desired, f, known.iptables.get(f))]))
    : known.iptables;
  const addresses = changes.addresses
    ? [...known.addresses.filter((a) => a.ifname !== DUMMY_LINK || !desired.families.includes(a.ip.family)),
      ...desired.addresses.map((ip) => ({ ifname: DUMMY_LINK, ip, prefix: ip.family === 4 ? 32 : 128 }))]
    : known.addresses;
  return { ipvs, sets, iptables, addresses, linkExists: known.linkExists || changes.addresses };
}
