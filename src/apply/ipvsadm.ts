// ipvsadm's effects: read the table with one `ipvsadm -Sn`, change it with one `ipvsadm -R`,
// list connection counts and counters. The text itself is src/tools/ipvsadm.ts.
import { batchTimeoutMs, ToolError, type Runner } from './exec.ts';
import { parseConnCounts, parseIpvsadmSave, parseStats, serviceArg, type IpvsTable, type RealServerConns, type ServiceId, type ServiceStats } from '../tools/ipvsadm.ts';

export const readIpvs = async (runner: Runner): Promise<IpvsTable> =>
  parseIpvsadmSave((await runner.run(['ipvsadm', '-Sn'])).stdout);

export interface IpvsApplyResult {
  /** False when any line may have failed: re-read the table before trusting what is applied. */
  readonly clean: boolean;
  /** ipvsadm's messages; kernel errors carry no line number. */
  readonly messages: readonly string[];
  /** The exit code (the last line's only, see DESIGN §6). */
  readonly exitCode: number;
}

/**
 * One `ipvsadm -R`. It runs line by line and its exit code is the last line's only, so any
 * message on stderr counts as a possible failure; missing tool and timeout still throw.
 */
export async function applyIpvsBatch(runner: Runner, batch: string): Promise<IpvsApplyResult> {
  if (batch === '') return { clean: true, messages: [], exitCode: 0 };
  const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');
  try {
    const { stderr } = await runner.run(['ipvsadm', '-R'], { input: batch, timeoutMs: batchTimeoutMs(batch) });
    return { clean: lines(stderr).length === 0, messages: lines(stderr), exitCode: 0 };
  } catch (e) {
    if (e instanceof ToolError && e.code === 'TOOL_FAILED') return { clean: false, messages: lines(e.stderr), exitCode: e.exitCode ?? 1 };
    throw e;
  }
}

/** `ipvsadm --set`: TCP, TCP FIN-WAIT and UDP timeouts in seconds; 0 leaves one unchanged. */
export async function setTimeouts(runner: Runner, tcp: number, tcpfin: number, udp: number): Promise<void> {
  await runner.run(['ipvsadm', '--set', String(tcp), String(tcpfin), String(udp)]);
}

/** Above this many services one whole-table dump is cheaper than one listing each. */
const PER_SERVICE_MAX = 4;

/**
 * Connection counts: of the given services (one `ipvsadm -Ln --exact -t …` each, so removing a
 * pod's endpoint does not dump a 10,000-service table), or of all when there are many or none
 * are named.
 */
export async function readConnCounts(runner: Runner, services?: readonly ServiceId[]): Promise<Map<string, readonly RealServerConns[]>> {
  if (services === undefined || services.length > PER_SERVICE_MAX) return parseConnCounts((await runner.run(['ipvsadm', '-Ln', '--exact'])).stdout);
  const out = new Map<string, readonly RealServerConns[]>();
  for (const s of services) {
    const parts = (await runner.run(['ipvsadm', '-Ln', '--exact', ...serviceArg(s).split(' ')])).stdout;
    for (const [k, v] of parseConnCounts(parts)) out.set(k, v);
  }
  return out;
}

export const readStats = async (runner: Runner): Promise<Map<string, ServiceStats>> =>
  parseStats((await runner.run(['ipvsadm', '-Ln', '--stats', '--exact'])).stdout);
