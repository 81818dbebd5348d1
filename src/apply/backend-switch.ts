// A node restarted with the other --ipvs-rules-backend: once the first full sync has put this
// backend's rules in place, the other backend's are removed, so no moment is without rules
// and established connections (conntrack and IPVS entries) carry on. Nothing else is touched.
import type { RulesBackend } from '../compute/model/nft.ts';
import type { Log } from '../log.ts';
import { CleanupError, removeIptablesBackend } from './cleanup.ts';
import { ToolError, type Runner } from './exec.ts';
import { deleteNftTable, nftTableExists } from './nft.ts';

/** Removes what the backend not in use left; true once nothing is left (else retried later). */
export async function removeOtherBackend(runner: Runner, rules: RulesBackend, log: Log): Promise<boolean> {
  try {
    if (rules === 'nftables') {
      const r = await removeIptablesBackend({ runner, log, excludeCidrs: [] });
      if (r.chains.length + r.jumps.length + r.sets.length > 0) {
        log.info({ chains: r.chains.length, jumps: r.jumps.length, sets: r.sets.length }, 'rules backend nftables: removed the iptables backend\'s chains and ipsets');
      }
      return true;
    }
    if (!(await nftTableExists(runner))) return true;
    await deleteNftTable(runner);
    log.info({ table: 'inet kube-ipvs' }, 'rules backend iptables: removed the nftables backend\'s table');
    return true;
  } catch (e) {
    // No nft on a node that never ran the nftables backend: nothing of it to remove.
    if (rules === 'iptables' && e instanceof ToolError && e.code === 'TOOL_MISSING') return true;
    const err = e instanceof CleanupError || e instanceof Error ? e.message : String(e);
    log.warn({ rules, err }, 'could not remove the other rules backend\'s state; retried at the next full sync');
    return false;
  }
}
