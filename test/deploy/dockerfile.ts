// The Dockerfile read as data: its stages and instructions (continuations joined), and the
// .dockerignore rules, so test/deploy/image.test.ts can check them without a Docker engine.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './deploy-files.ts';

export interface Instruction { readonly op: string; readonly args: string }
export interface Stage { readonly from: string; readonly name: string | undefined; readonly body: readonly Instruction[] }
export interface Dockerfile { readonly args: ReadonlyMap<string, string>; readonly stages: readonly Stage[] }

export function readDockerfile(path = join(ROOT, 'Dockerfile')): Dockerfile {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const args = new Map<string, string>();
  const stages: { from: string; name: string | undefined; body: Instruction[] }[] = [];
  for (const line of joined) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const [, from = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      stages.push({ from, name, body: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [k = '', v = ''] = rest.split('=');
      args.set(k, v);
    } else {
      stages.at(-1)?.body.push({ op: upper, args: rest.replace(/\s+/g, ' ') });
    }
  }
  return { args, stages };
}

/** The image reference a stage starts from, global ARGs substituted. */
export function baseOf(d: Dockerfile, s: Stage): string {
  return s.from.replace(/\$\{(\w+)\}/g, (_m, k: string) => d.args.get(k) ?? '');
}

export const stage = (d: Dockerfile, name: string | undefined): Stage => {
  const s = name === undefined ? d.stages.at(-1) : d.stages.find((x) => x.name === name);
  if (s === undefined) throw new Error(`Dockerfile: no stage ${name ?? '(final)'}`);
  return s;
};

export const ops = (s: Stage, op: string): string[] => s.body.filter((i) => i.op === op).map((i) => i.args);

/**
 * Whether .dockerignore sends `path` (relative, '/'-separated) to the build: the last matching
 * rule wins, `!` re-includes, `*` matches any one path segment, a directory rule covers what is
 * inside it. Enough of Docker's syntax for this project's file.
 */
export function inContext(path: string, dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')): boolean {
  let included = true;
  for (const raw of dockerignore.split('\n').map((l) => l.trim())) {
    if (raw === '' || raw.startsWith('#')) continue;
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/\/+$/, '');
    const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}(/.*)?$`);
    if (re.test(path)) included = negate;
  }
  return included;
}
