// The layers of docs/architecture.md, checked over the real import graph of src/: no cycle, no
// edge a layer may not take, execa in one file. eslint's no-restricted-imports says the same
// per file; this sees the whole graph (cycles) and cannot be switched off by a comment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const SRC = resolve(import.meta.dirname, '../src');

export type Graph = ReadonlyMap<string, readonly string[]>;

const tsFiles = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);

/** File (relative to src/) → what it imports: other files of src/ by path, packages by name. */
export function importGraph(root: string): Graph {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(root)) {
    const specs = ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
    graph.set(relative(root, file), specs.map((s) => (s.startsWith('.') ? relative(root, resolve(dirname(file), s)) : s)));
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the files around it (first file repeated). */
export function cycles(graph: Graph): string[][] {
  const out: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const to of graph.get(f) ?? []) {
      if (!graph.has(to)) continue;
      const s = state.get(to);
      if (s === 'open') out.push([...stack.slice(stack.indexOf(to)), to]);
      else if (s === undefined) visit(to);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...graph.keys()].sort()) if (!state.has(f)) visit(f);
  return out;
}

const layer = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '(root)');
const PURE = new Set(['compute', 'tools']);

/** Edges the layers forbid: compute/ and tools/ import only compute/, tools/ and packages; execa only in apply/exec.ts. */
export function forbiddenEdges(graph: Graph): string[] {
  const out: string[] = [];
  for (const [from, tos] of graph) {
    for (const to of tos) {
      const local = graph.has(to);
      if (!local && to === 'execa' && from !== 'apply/exec.ts') out.push(`${from} → execa`);
      if (local && PURE.has(layer(from)) && !PURE.has(layer(to))) out.push(`${from} → ${to}`);
    }
  }
  return out.sort();
}

test('src/ has no import cycle', () => {
  const g = importGraph(SRC);
  assert.ok(g.size > 50, 'the graph covers src/');
  assert.deepEqual(cycles(g).map((c) => c.join(' → ')), []);
});

test('src/compute and src/tools import no effects; execa only in src/apply/exec.ts', () => {
  const g = importGraph(SRC);
  assert.deepEqual(forbiddenEdges(g), []);
  assert.ok(g.get('apply/exec.ts')?.includes('execa'), 'the checks see package imports');
  assert.ok([...g.keys()].some((f) => f.startsWith('tools/')), 'the checks see src/tools');
});

test('the checks find a cycle and a forbidden edge when there is one', () => {
  const g: Graph = new Map([
    ['compute/a.ts', ['compute/b.ts', 'tools/t.ts']],
    ['compute/b.ts', ['compute/c.ts']],
    ['compute/c.ts', ['compute/a.ts', 'apply/x.ts']],
    ['tools/t.ts', ['execa']],
    ['apply/x.ts', ['tools/t.ts']],
    ['apply/exec.ts', ['execa']],
  ]);
  assert.deepEqual(cycles(g), [['compute/a.ts', 'compute/b.ts', 'compute/c.ts', 'compute/a.ts']]);
  assert.deepEqual(forbiddenEdges(g), ['compute/c.ts → apply/x.ts', 'tools/t.ts → execa']);
});
