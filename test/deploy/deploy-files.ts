// Reads deploy/: the YAML source files (parsed strictly), and what `kubectl kustomize` renders
// from a kustomization directory — the objects a cluster would get from `kubectl apply -k`.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { V1ConfigMap, V1DaemonSet } from '@kubernetes/client-node';

export const ROOT = join(import.meta.dirname, '..', '..');
export const DEPLOY = join(ROOT, 'deploy');
export const BASE = join(DEPLOY, 'base');

export interface Manifest {
  /** Where it comes from: a path relative to the repository, or `kustomize <dir>`. */
  readonly file: string;
  readonly obj: Record<string, unknown>;
}

const isYaml = (f: string): boolean => f.endsWith('.yaml') || f.endsWith('.yml');

/** Files under `dir` accepted by `keep`, recursively, sorted. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p, keep) : keep(f) ? [p] : [];
  });
}

/** YAML files under `dir`, recursively, sorted. */
export const yamlFiles = (dir = DEPLOY): string[] => filesUnder(dir, isYaml);

/** Every document of YAML `text`; throws naming `file` and the line on a syntax error. */
export function parseManifests(text: string, file: string): Manifest[] {
  return parseAllDocuments(text, { prettyErrors: true }).map((doc) => {
    const [err] = doc.errors;
    if (err !== undefined) throw new Error(`${file}: ${err.message}`);
    const obj: unknown = doc.toJS();
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${file}: not an object`);
    return { file, obj: obj as Record<string, unknown> };
  });
}

export const readManifests = (path: string): Manifest[] => parseManifests(readFileSync(path, 'utf8'), relative(ROOT, path));

/** The one object of `kind` in `list` (its shape for the caller to assert). */
export function only(list: readonly Manifest[], kind: string, name?: string): unknown {
  const found = list.filter((m) => m.obj.kind === kind && (name === undefined || (m.obj.metadata as { name?: string } | undefined)?.name === name));
  if (found.length !== 1) throw new Error(`expected exactly one ${kind}${name === undefined ? '' : ` ${name}`}, found ${found.length}`);
  return found[0]!.obj;
}

const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const INSTALL = 'install kubectl v1.27 or newer (it embeds kustomize v5): https://kubernetes.io/docs/tasks/tools/ '
  + '(Debian/Ubuntu: the `kubectl` package of https://pkgs.k8s.io), or point KUBECTL at one';
const rendered = new Map<string, Manifest[]>();
let checkedVersion = false;

function kubectl(args: readonly string[]): string {
  const r = spawnSync(KUBECTL, args, { encoding: 'utf8', timeout: 60_000 });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(`${KUBECTL} not found: the deploy tests render deploy/ with the real \`kubectl kustomize\`; ${INSTALL}`);
  if (r.error !== undefined) throw r.error;
  if (r.status !== 0) throw new Error(`${KUBECTL} ${args.join(' ')}: exit ${String(r.status)}: ${r.stderr}`);
  return r.stdout;
}

/** `kubectl kustomize dir` (kustomize v5 required), parsed; cached per directory. */
export function kustomize(dir: string): Manifest[] {
  if (!checkedVersion) {
    const v = JSON.parse(kubectl(['version', '--client', '-o', 'json'])) as { kustomizeVersion?: string };
    if (!/^v([5-9]|\d\d)\./.test(v.kustomizeVersion ?? '')) throw new Error(`${KUBECTL} embeds kustomize ${v.kustomizeVersion ?? '(none)'}, not v5; ${INSTALL}`);
    checkedVersion = true;
  }
  const hit = rendered.get(dir);
  if (hit !== undefined) return hit;
  const objs = parseManifests(kubectl(['kustomize', dir]), `kustomize ${relative(ROOT, dir)}`);
  rendered.set(dir, objs);
  return objs;
}

export const daemonSet = (dir = BASE): V1DaemonSet => only(kustomize(dir), 'DaemonSet') as V1DaemonSet;
export const configMap = (dir = BASE): V1ConfigMap => only(kustomize(dir), 'ConfigMap', 'kube-ipvs') as V1ConfigMap;
