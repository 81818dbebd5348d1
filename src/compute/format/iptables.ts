// Rules as `iptables-save` prints them; also valid `iptables-restore --noflush` input, which
// flushes and rewrites exactly the chains declared (`:CHAIN - [0:0]`) and no other.
import { jumpRuleText, type IptablesState, type TableName } from '../model/iptables.ts';

export function formatTable(state: IptablesState, table: TableName, withJumps: boolean): string[] {
  const t = state[table];
  return [
    `*${table}`,
    ...t.chains.map((c) => `:${c} - [0:0]`),
    ...(withJumps ? state.jumps.filter((j) => j.table === table).map(jumpRuleText) : []),
    ...t.rules,
    'COMMIT',
  ];
}

/** Both tables (nat first, as kube-proxy writes them) with the jumps from built-in chains. */
export function formatIptablesSave(state: IptablesState): string {
  return `${[...formatTable(state, 'nat', true), ...formatTable(state, 'filter', true)].join('\n')}\n`;
}
