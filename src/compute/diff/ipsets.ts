// Desired set members vs `ipset save` → per-set add/del deltas (one `ipset restore` applies
// them all). Deltas, not whole-set swaps: a sync then costs O(changed members), and a set's
// other members are never in flux. An incremental sync skips this whole-set comparison:
// the DesiredIndex's member deltas go straight to `incrementalSetDeltas`.
import type { IpsetState } from '../model/desired.ts';
import type { Delta } from '../model/counted.ts';
import { fits, sameDefinition, type ObservedSet, type SetDelta } from '../../tools/ipset.ts';

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
    if (o !== undefined && !fits(o.options, set.entries.length)) { deltas.push({ set, create: false, add: set.entries, del: [], grow: true }); continue; }
    const have = o?.members ?? new Set<string>();
    const want = new Set(set.entries);
    const add = set.entries.filter((e) => !have.has(e));
    const del = [...have].filter((e) => !want.has(e)).sort();
    if (o === undefined || add.length > 0 || del.length > 0) deltas.push({ set, create: o === undefined, add, del });
  }
  return { deltas, conflicts };
}

/**
 * Member deltas since the last applied state → set deltas, checked against what is known to be
 * in each set (so a delta never re-adds or deletes twice). Cost: O(changed members).
 */
export function incrementalSetDeltas(
  desired: readonly IpsetState[], changed: ReadonlyMap<string, Delta<string>>, known: ReadonlyMap<string, ObservedSet>,
): SetDelta[] {
  const out: SetDelta[] = [];
  for (const set of desired) {
    const d = changed.get(set.name);
    if (d === undefined) continue;
    const cur = known.get(set.name);
    if (cur === undefined) { out.push({ set, create: true, add: set.entries, del: [] }); continue; }
    const have = cur.members;
    const add = d.added.filter((e) => !have.has(e));
    const del = d.removed.filter((e) => have.has(e));
    if (add.length === 0 && del.length === 0) continue;
    if (!fits(cur.options, have.size + add.length - del.length)) out.push({ set, create: false, add: set.entries, del: [], grow: true });
    else out.push({ set, create: false, add, del });
  }
  return out;
}
