// The nftables rules backend's effects: read the kube-ipvs table (`nft -j list table`), apply
// one `nft -f -` script (one kernel transaction: all of it or nothing), delete the table. The
// language (scripts, JSON) is src/tools/nft.ts; nothing outside the table is ever touched.
import { NFT_TABLE } from '../compute/model/nft.ts';
import { formatNftScript, type ObservedNftTable } from '../tools/nft.ts';
import { NftParseError, parseNftJson } from '../tools/nft-json.ts';
import { batchTimeoutMs, ToolError, type Runner } from './exec.ts';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Whether `nft -j list tables inet` names the table (the listing of a missing table just fails). */
export async function nftTableExists(runner: Runner, table = NFT_TABLE): Promise<boolean> {
  const out = (await runner.run(['nft', '-j', 'list', 'tables', 'inet'])).stdout;
  let doc: unknown;
  try { doc = JSON.parse(out); } catch (e) { throw new NftParseError('nft -j list tables printed no JSON', { cause: e }); }
  const items: unknown = isObj(doc) ? doc.nftables : undefined;
  return Array.isArray(items) && items.some((i) => isObj(i) && isObj(i.table) && i.table.name === table && i.table.family === 'inet');
}

/**
 * The table's JSON listing, or undefined when there is no such table. One process when the
 * table exists; a failed listing is told apart from an absent table by a second, cheap one.
 */
export async function readNftText(runner: Runner, table = NFT_TABLE): Promise<string | undefined> {
  try {
    return (await runner.run(['nft', '-j', 'list', 'table', 'inet', table])).stdout;
  } catch (e) {
    if (e instanceof ToolError && e.code === 'TOOL_FAILED' && !(await nftTableExists(runner, table))) return undefined;
    throw e;
  }
}

export async function readNftTable(runner: Runner, table = NFT_TABLE): Promise<ObservedNftTable | undefined> {
  const text = await readNftText(runner, table);
  return text === undefined ? undefined : parseNftJson(text, table);
}

/** One transaction; a failure applies nothing of it (ToolError, with the failing line). */
export async function applyNftScript(runner: Runner, script: string): Promise<void> {
  if (script === '') return;
  await runner.run(['nft', '-f', '-'], { input: script, timeoutMs: batchTimeoutMs(script) });
}

/** Deletes the table if it exists (the added-then-deleted table makes an absent one no error). */
export async function deleteNftTable(runner: Runner, table = NFT_TABLE): Promise<void> {
  await applyNftScript(runner, formatNftScript(table, [{ op: 'delete-table' }]));
}
