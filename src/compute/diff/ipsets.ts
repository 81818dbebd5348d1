// Desired set members vs `ipset save` → per-set add/del deltas (one `ipset restore` applies
// them all). Deltas, not whole-set swaps: a sync then costs O(changed members), and a set's
// other members are never in flux.
import type { IpsetState } from '../model/desired.ts';
import { sameDefinition, type ObservedSet, type SetDelta } from '../../apply/ipset.ts';

export interface IpsetDiff {
  readonly deltas: readonly SetDelta[];
  /** Sets that exist with another type or family: kube-ipvs will not guess; the user must act. */
  readonly conflicts: readonly string[];
}

export function diffIpsets(desired: readonly IpsetState[], observed: ReadonlyMap<string, ObservedSet>): IpsetDiff {
  const deltas: SetDelta[] = [];
  const conflicts: string[] = [];
  for (const set of desired) {
    const o = observed.get(set.name);
    if (o !== undefined && !sameDefinition(o, set)) {
      conflicts.push(`ipset ${set.name} exists as "${o.type} ${[...o.options].map(([k, v]) => `${k} ${v}`.trim()).join(' ')}", kube-ipvs needs "${set.type} ${set.createOptions}"; remove it (kube-ipvs --cleanup-ipvs) and restart`);
      continue;
    }
    const have = new Set(o?.entries ?? []);
    const want = new Set(set.entries);
    const add = set.entries.filter((e) => !have.has(e));
    const del = (o?.entries ?? []).filter((e) => !want.has(e)).sort();
    if (o === undefined || add.length > 0 || del.length > 0) deltas.push({ set, create: o === undefined, add, del });
  }
  return { deltas, conflicts };
}
