// ipset's effects: one `ipset save`, one `ipset restore -exist` per script. The text itself is
// src/tools/ipset.ts.
import { batchTimeoutMs, type Runner } from './exec.ts';
import { parseIpsetSave, type ObservedSet } from '../tools/ipset.ts';

export const readIpsets = async (runner: Runner): Promise<Map<string, ObservedSet>> =>
  parseIpsetSave((await runner.run(['ipset', 'save'])).stdout);

/** One `ipset restore -exist`; it stops at the first failing line (ToolError.line). */
export async function applyIpsetScript(runner: Runner, script: string): Promise<void> {
  if (script === '') return;
  await runner.run(['ipset', 'restore', '-exist'], { input: script, timeoutMs: batchTimeoutMs(script) });
}
