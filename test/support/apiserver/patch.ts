// PATCH bodies: JSON merge patch (RFC 7386; also used for strategic merge patch, whose list
// merge keys these tests do not need) and JSON patch (RFC 6902 add/remove/replace/test).
import { ApiError } from './status.ts';

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

interface Op { op: string; path: string; value?: Json }

function parsePointer(path: string): string[] {
  if (!path.startsWith('/')) throw new ApiError(422, `invalid JSON pointer: ${path}`);
  return path.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function applyOp(doc: Json, op: Op): Json {
  const tokens = parsePointer(op.path);
  const last = tokens.pop();
  if (last === undefined) return op.value;
  let parent: Json = doc;
  for (const t of tokens) {
    parent = isObject(parent) ? parent[t] : Array.isArray(parent) ? parent[Number(t)] : undefined;
  }
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (op.op === 'add') parent.splice(i, 0, op.value);
    else if (op.op === 'remove') parent.splice(i, 1);
    else if (op.op === 'replace') parent[i] = op.value;
    else if (op.op === 'test' && JSON.stringify(parent[i]) !== JSON.stringify(op.value)) throw new ApiError(422, `test failed: ${op.path}`);
    return doc;
  }
  if (!isObject(parent)) throw new ApiError(422, `path not found: ${op.path}`);
  if (op.op === 'add' || op.op === 'replace') parent[last] = op.value;
  else if (op.op === 'remove') Reflect.deleteProperty(parent, last);
  else if (op.op === 'test') {
    if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new ApiError(422, `test failed: ${op.path}`);
  } else throw new ApiError(422, `unsupported JSON patch op: ${op.op}`);
  return doc;
}

export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new ApiError(400, 'a JSON patch must be an array of operations');
  let out = structuredClone(doc);
  for (const op of ops as Op[]) out = applyOp(out, op);
  return out;
}

export function applyPatch(contentType: string, doc: Json, patch: Json): Json {
  const type = contentType.split(';')[0]?.trim() ?? '';
  switch (type) {
    case 'application/json-patch+json': return jsonPatch(doc, patch);
    case 'application/merge-patch+json':
    case 'application/strategic-merge-patch+json':
    case 'application/apply-patch+yaml': // server-side apply of a JSON body, approximated as a merge
      return mergePatch(doc, patch);
    default:
      throw new ApiError(415, `the body of the request was in an unknown format - accepted media types include: ` +
        'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json');
  }
}
