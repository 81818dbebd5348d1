// What one fake tool invocation produces, before the fake kernel turns a non-zero exit into
// the ToolError the real runner would throw.
export interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export const ok = (stdout = '', stderr = ''): Outcome => ({ stdout, stderr, exitCode: 0 });
export const fail = (stderr: string, exitCode = 1, stdout = ''): Outcome => ({ stdout, stderr, exitCode });

/** A test-injected kernel-level error for a batch line: its message, or undefined. */
export type LineFault = (line: string) => string | undefined;

/** Input text → lines as the tools read them (a final newline ends the last line). */
export const inputLines = (input: string | undefined): string[] => {
  const lines = (input ?? '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
};

export const text = (lines: readonly string[]): string => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);
