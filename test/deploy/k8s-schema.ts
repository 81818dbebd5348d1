// "A valid object of its kind" without an API server: every field of a manifest must exist, with
// the right JSON type, in Kubernetes' OpenAPI models as @kubernetes/client-node generates them
// (its classes' attribute maps) — kubectl's strict field validation, offline. Required fields
// are checked by the tests themselves (the generated maps do not carry them).
import * as k8s from '@kubernetes/client-node';

interface Attribute { readonly baseName: string; readonly type: string }
type Model = { getAttributeTypeMap?: () => readonly Attribute[] } | undefined;
const models = k8s as unknown as Readonly<Record<string, Model>>;

/** The model class name for an apiVersion/kind, e.g. apps/v1 DaemonSet → V1DaemonSet. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').at(-1) ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function check(value: unknown, type: string, path: string, problems: string[]): void {
  const array = /^Array<(.+)>$/.exec(type);
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (array !== null) {
    if (!Array.isArray(value)) { problems.push(`${path}: expected a list`); return; }
    value.forEach((v, i) => { check(v, array[1] ?? 'any', `${path}[${i}]`, problems); });
    return;
  }
  if (map !== null) {
    if (!isRecord(value)) { problems.push(`${path}: expected a map`); return; }
    for (const [k, v] of Object.entries(value)) check(v, map[1] ?? 'any', `${path}.${k}`, problems);
    return;
  }
  switch (type) {
    case 'any': return;
    case 'string': case 'Date': if (typeof value !== 'string') problems.push(`${path}: expected a string, got ${JSON.stringify(value)}`); return;
    case 'boolean': if (typeof value !== 'boolean') problems.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`); return;
    case 'number': if (typeof value !== 'number') problems.push(`${path}: expected a number, got ${JSON.stringify(value)}`); return;
    case 'IntOrString': if (typeof value !== 'string' && typeof value !== 'number') problems.push(`${path}: expected an int or a string`); return;
    default: break;
  }
  const attributes = models[type]?.getAttributeTypeMap?.();
  if (attributes === undefined) { problems.push(`${path}: no model ${type} to check against`); return; }
  if (!isRecord(value)) { problems.push(`${path}: expected an object (${type})`); return; }
  for (const [key, v] of Object.entries(value)) {
    const a = attributes.find((x) => x.baseName === key);
    if (a === undefined) problems.push(`${path}.${key}: unknown field of ${type}`);
    else check(v, a.type, `${path}.${key}`, problems);
  }
}

/** Problems with `obj` as an object of its apiVersion/kind; [] when it is valid. */
export function schemaProblems(obj: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const name = modelName(String(obj.apiVersion), String(obj.kind));
  if (models[name]?.getAttributeTypeMap === undefined) return [`${String(obj.apiVersion)} ${String(obj.kind)}: not a Kubernetes kind (no model ${name})`];
  check(obj, name, String(obj.kind), problems);
  return problems;
}
