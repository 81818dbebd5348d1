// iptables' effects: iptables-save and one `iptables-restore --noflush` per family. The text
// itself is src/tools/iptables.ts.
import { batchTimeoutMs, type Runner } from './exec.ts';
import { iptablesBinary, parseIptablesSave, type IptablesTarget, type SavedTable } from '../tools/iptables.ts';

/** One `iptables-save` per table asked for, or one for all tables when none is named. */
export async function readIptables(runner: Runner, t: IptablesTarget, tables?: readonly string[]): Promise<Map<string, SavedTable>> {
  const bin = iptablesBinary(t.family, 'save', t.backend);
  if (tables === undefined) return parseIptablesSave((await runner.run([bin])).stdout);
  const out = new Map<string, SavedTable>();
  for (const name of tables) {
    for (const [k, v] of parseIptablesSave((await runner.run([bin, '-t', name])).stdout)) out.set(k, v);
  }
  return out;
}

/** Atomic per table: a failing payload applies nothing of that table (ToolError.line). */
export async function applyIptables(runner: Runner, t: IptablesTarget, payload: string): Promise<void> {
  if (payload === '') return;
  await runner.run([iptablesBinary(t.family, 'restore', t.backend), '--noflush', '-w'], { input: payload, timeoutMs: batchTimeoutMs(payload) });
}
