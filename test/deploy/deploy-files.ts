// Reads deploy/: every YAML file, parsed strictly (any syntax error fails the test that asks).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DEPLOY = join(ROOT, 'deploy');

export interface Manifest {
  /** Path relative to the repository, e.g. deploy/daemonset.yaml. */
  readonly file: string;
  readonly obj: Record<string, unknown>;
}

const isYaml = (f: string): boolean => f.endsWith('.yaml') || f.endsWith('.yml');

/** YAML files under `dir`, recursively, sorted. */
export function yamlFiles(dir = DEPLOY): string[] {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : isYaml(f) ? [p] : [];
  });
}

/** Every document of a file; throws naming the file and line on a syntax error. */
export function readManifests(path: string): Manifest[] {
  const file = relative(ROOT, path);
  return parseAllDocuments(readFileSync(path, 'utf8'), { prettyErrors: true }).map((doc) => {
    const [err] = doc.errors;
    if (err !== undefined) throw new Error(`${file}: ${err.message}`);
    const obj: unknown = doc.toJS();
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${file}: not an object`);
    return { file, obj: obj as Record<string, unknown> };
  });
}

/** The objects of one kustomization directory (its own files, not its bases). */
export function objectsIn(dir = DEPLOY): Manifest[] {
  return readdirSync(dir).filter(isYaml).sort().flatMap((f) => readManifests(join(dir, f)));
}

/** The one object of `kind` in `list` (its shape for the caller to assert). */
export function only(list: readonly Manifest[], kind: string): unknown {
  const found = list.filter((m) => m.obj.kind === kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} in deploy/, found ${found.length}`);
  return found[0]!.obj;
}

export const daemonSet = (): V1DaemonSet => only(objectsIn(), 'DaemonSet') as V1DaemonSet;
export const configMap = (): V1ConfigMap => only(objectsIn(), 'ConfigMap') as V1ConfigMap;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const named = (v: unknown): v is { name: string } => isRecord(v) && typeof v.name === 'string';

/**
 * Strategic merge as kustomize applies this project's patches: maps merge, lists of named
 * objects (containers, env, volumes) merge by name, other lists and scalars are replaced.
 */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isRecord(base) && isRecord(patch)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(patch)) out[k] = k in base ? strategicMerge(base[k], v) : v;
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch) && base.every(named) && patch.every(named) && patch.length > 0) {
    const out: unknown[] = base.map((b) => {
      const p = patch.find((x) => x.name === b.name);
      return p === undefined ? b : strategicMerge(b, p);
    });
    return [...out, ...patch.filter((p) => !base.some((b) => b.name === p.name))];
  }
  return patch;
}

interface Kustomization { resources?: string[]; patches?: { path?: string }[] }

/** What `kubectl apply -k dir` applies: resources (files and bases), then the patches. */
export function build(dir = DEPLOY): Manifest[] {
  const k = only(readManifests(join(dir, 'kustomization.yaml')), 'Kustomization') as Kustomization;
  let objs = (k.resources ?? []).flatMap((r) => {
    const p = join(dir, r);
    return statSync(p).isDirectory() ? build(p) : readManifests(p);
  });
  for (const { path = '' } of k.patches ?? []) {
    for (const patch of readManifests(join(dir, path))) {
      const key = (m: Manifest): string => `${String(m.obj.kind)}/${String((m.obj.metadata as { name?: string } | undefined)?.name)}`;
      const i = objs.findIndex((m) => key(m) === key(patch));
      if (i < 0) throw new Error(`${patch.file}: patches ${key(patch)}, which ${relative(ROOT, dirname(join(dir, path)))}'s bases do not have`);
      objs = objs.map((m, j) => (j === i ? { file: m.file, obj: strategicMerge(m.obj, patch.obj) as Record<string, unknown> } : m));
    }
  }
  return objs;
}
