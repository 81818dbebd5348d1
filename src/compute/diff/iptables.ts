// Our chains and jumps vs iptables-save: a restore is needed only when they differ, so a
// steady-state sync spawns no iptables process at all.
import { jumpRuleText, type IptablesState, type TableName } from '../model/iptables.ts';
import type { SavedTable } from '../../tools/iptables.ts';

const TABLES: readonly TableName[] = ['nat', 'filter'];

/** Number of chains or jumps that differ from the desired state (0 = nothing to do). */
export function iptablesDrift(state: IptablesState, observed: ReadonlyMap<string, SavedTable>): number {
  let drift = 0;
  for (const t of TABLES) {
    const table = observed.get(t);
    const want = state[t];
    for (const chain of want.chains) {
      const rules = want.rules.filter((r) => r.startsWith(`-A ${chain} `));
      const have = table?.get(chain)?.rules;
      if (have === undefined || have.length !== rules.length || have.some((r, i) => r !== rules[i])) drift++;
    }
    for (const j of state.jumps.filter((x) => x.table === t)) {
      const text = jumpRuleText(j);
      if ((table?.get(j.from)?.rules ?? []).filter((r) => r === text).length !== 1) drift++;
    }
  }
  return drift;
}
