// Tool output captured from a real kernel (test/fixtures/tools, see its README).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const fixture = (name: string): string =>
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tools', name), 'utf8');

/** One recorded command: argv, stdin, and what the real tool printed and returned. */
export interface Probe {
  readonly argv: string[];
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export function probe(name: string): Probe {
  const t = fixture(name);
  const section = (from: string, to: string): string => {
    const start = t.indexOf(`${from}\n`) + from.length + 1;
    return t.slice(start, t.indexOf(to, start));
  };
  const argv = /^argv: (.*)$/m.exec(t)?.[1]?.split(' ') ?? [];
  const exit = /^--- exit (\d+)$/m.exec(t)?.[1];
  return {
    argv, stdin: section('--- stdin', '--- stdout'), stdout: section('--- stdout', '--- stderr'),
    stderr: section('--- stderr', '--- exit'), exitCode: Number(exit),
  };
}
