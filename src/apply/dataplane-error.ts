// A failed batch, with what an operator needs on the one log line: the tool, its exit code, its
// own message and the input line that failed. ipvsadm -R names no line for kernel-level errors
// (DESIGN §6), so its failing lines are found by reading the table back once.
import { moduleHint, ToolError, type Runner } from './exec.ts';
import { unappliedLines, type UnappliedLine } from '../tools/ipvsadm.ts';
import { type IpvsApplyResult } from './ipvsadm.ts';

export interface FailedLine {
  readonly number: number;
  readonly text: string;
}

export interface DataplaneErrorDetail {
  readonly exitCode?: number;
  /** The tool's own words (stderr), or why it did not run (missing, timed out). */
  readonly toolMessage?: string;
  readonly line?: FailedLine;
}

export class DataplaneError extends Error {
  readonly code = 'DATAPLANE_FAILED';
  readonly tool: string;
  readonly exitCode: number | undefined;
  readonly toolMessage: string;
  readonly line: FailedLine | undefined;

  /** `message` is the whole sentence, starting with the command (as a ToolError's does). */
  constructor(tool: string, message: string, cause?: unknown, detail: DataplaneErrorDetail = {}) {
    super(message, { cause });
    this.name = 'DataplaneError';
    this.tool = tool;
    this.exitCode = detail.exitCode;
    this.toolMessage = detail.toolMessage ?? message;
    this.line = detail.line;
  }

  /** A tool's failure as the batch step it broke; a ToolError's message already has it all. */
  static fromTool(tool: string, e: unknown): DataplaneError {
    if (!(e instanceof ToolError)) return new DataplaneError(tool, `${tool}: ${e instanceof Error ? e.message : String(e)}`, e);
    const stderr = e.stderr.trim();
    return new DataplaneError(tool, e.message, e, {
      ...(e.exitCode === undefined ? {} : { exitCode: e.exitCode }),
      toolMessage: stderr === '' ? e.message : stderr,
      ...(e.line === undefined ? {} : { line: { number: e.line.number, text: e.line.text } }),
    });
  }
}

/** Fields for the log line of a failed sync: tool, exitCode, toolMessage, inputLine. */
export function failureFields(e: unknown): Record<string, unknown> {
  if (e instanceof DataplaneError) {
    return {
      tool: e.tool, exitCode: e.exitCode, toolMessage: e.toolMessage,
      ...(e.line === undefined ? {} : { inputLine: e.line.number, input: e.line.text }),
    };
  }
  if (e instanceof ToolError) {
    return {
      tool: e.argv[0], exitCode: e.exitCode, toolMessage: e.stderr.trim(),
      ...(e.line === undefined ? {} : { inputLine: e.line.number, input: e.line.text }),
    };
  }
  return {};
}

const MAX_LINES_IN_MESSAGE = 3;

/**
 * An `ipvsadm -R` that reported errors: its messages, exit code and the batch lines whose
 * effect is missing from the table read back (one `ipvsadm -Sn`, only after a failure).
 */
export async function ipvsFailure(runner: Runner, batch: string, res: IpvsApplyResult): Promise<DataplaneError> {
  const saved = await runner.run(['ipvsadm', '-Sn']).then((r) => r.stdout, () => undefined);
  const failed: UnappliedLine[] = saved === undefined ? [] : unappliedLines(batch, saved);
  const said = res.messages.join('; ');
  const hint = moduleHint(res.messages.join('\n'));
  const at = failed.length === 0 ? ''
    : ` (input line ${failed.slice(0, MAX_LINES_IN_MESSAGE).map((l) => `${l.number}: ${l.text}`).join(', line ')}`
      + `${failed.length > MAX_LINES_IN_MESSAGE ? `, and ${failed.length - MAX_LINES_IN_MESSAGE} more` : ''})`;
  const first = failed[0];
  return new DataplaneError('ipvsadm', `ipvsadm -R: exit ${res.exitCode}: ${said}${at}${hint === undefined ? '' : `; ${hint}`}`, undefined, {
    exitCode: res.exitCode, toolMessage: said, ...(first === undefined ? {} : { line: first }),
  });
}
