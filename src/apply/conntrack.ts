// conntrack's effects: one `conntrack -D` run. The argv and the text are src/tools/conntrack.ts.
import { ToolError, type Runner } from './exec.ts';
import { deletedCount } from '../tools/conntrack.ts';

/**
 * Runs one delete and returns how many entries went. conntrack exits 1 when nothing
 * matched; that is the common case (no flow was open), not a failure.
 */
export async function deleteEntries(runner: Runner, argv: readonly string[]): Promise<number> {
  try {
    const { stderr } = await runner.run(argv);
    return deletedCount(stderr);
  } catch (e) {
    // The tool offers no other signal than this text for "nothing matched".
    if (e instanceof ToolError && e.code === 'TOOL_FAILED' && e.exitCode === 1 && /\b0 flow entries have been deleted/.test(e.stderr)) return 0;
    throw e;
  }
}
