// iproute2's effects: `ip -o addr|link show` and one `ip -batch -`. The text itself is
// src/tools/ip.ts.
import { batchTimeoutMs, type Runner } from './exec.ts';
import { parseAddrShow, parseLinkShow, type InterfaceAddress } from '../tools/ip.ts';

/** Every interface's addresses but `except`'s. */
export const readAddresses = async (runner: Runner, except?: string): Promise<InterfaceAddress[]> =>
  parseAddrShow((await runner.run(['ip', '-o', 'addr', 'show'])).stdout, except);

export const readLinks = async (runner: Runner): Promise<string[]> =>
  parseLinkShow((await runner.run(['ip', '-o', 'link', 'show'])).stdout);

/** Runs a batch (no process when there is nothing to do). */
export async function applyIpBatch(runner: Runner, batch: string): Promise<void> {
  if (batch === '') return;
  await runner.run(['ip', '-batch', '-'], { input: batch, timeoutMs: batchTimeoutMs(batch) });
}
