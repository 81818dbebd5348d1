// LIST: a <Kind>List of the matching objects, optionally in chunks (limit + continue).
import { apiVersionOf, type Route } from './resources.ts';
import { requestMatcher } from './selectors.ts';
import { ApiError } from './status.ts';
import { objectKey, type Store } from './store.ts';
import type { KubeObject } from './types.ts';

interface ContinueToken { readonly rv: number; readonly start: string }

// Same shape as the apiserver's token (base64 JSON with the snapshot RV and the next key); base64url
// so the token survives query strings that decode '+' as a space. Clients treat it as opaque.
function encodeContinue(rv: number, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: `${lastKey}\u0000` })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'rv' in parsed && 'start' in parsed &&
        typeof parsed.rv === 'number' && typeof parsed.start === 'string') {
      return { rv: parsed.rv, start: parsed.start };
    }
  } catch { /* reported below */ }
  throw new ApiError(400, 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

/** Items in a real list carry no kind/apiVersion: the list's own fields say it once. */
function withoutTypeMeta(o: KubeObject): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'kind' && k !== 'apiVersion'));
}

// Each stored object's JSON as a list item, UTF-8 encoded once: the store never changes an
// object it holds (a write stores a new one), so its bytes can be kept, as kube-apiserver's
// watch cache keeps objects encoded. Serialising and encoding every object again for every page
// was the bench's API server spending CPU on the daemon's two cores that a real one spends on
// machines of its own.
const itemBytes = new WeakMap<KubeObject, Buffer>();
function bytesOf(o: KubeObject): Buffer {
  let b = itemBytes.get(o);
  if (b === undefined) itemBytes.set(o, (b = Buffer.from(JSON.stringify(withoutTypeMeta(o)))));
  return b;
}

/** Encodes every object's list-item bytes ahead of the LISTs (a benchmark's watch cache, warm). */
export function encodeListItems(objects: Iterable<KubeObject>): void {
  for (const o of objects) bytesOf(o);
}

const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

/** The first index in `sorted` (key order) whose key is not below `after`: a page starts there. */
function firstAtOrAfter(sorted: readonly KubeObject[], after: string): number {
  let [lo, hi] = [0, sorted.length];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const o = sorted[mid];
    if (o !== undefined && objectKey(o) < after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A LIST answer's JSON (UTF-8) as the pieces to write one after the other: the page's items and,
 * when more follow, a continue token. Not concatenated: a fresh 2 MB Buffer per page counts as
 * external memory to V8, which answers with full collections of this process's whole heap
 * (seconds per list at 50,000 objects).
 */
export function listBytes(store: Store, route: Route, query: URLSearchParams): Buffer[] {
  const r = route.resource;
  const matches = requestMatcher(route.namespace, query);
  const limit = Number.parseInt(query.get('limit') ?? '', 10);
  const token = query.get('continue');
  // resourceVersion / resourceVersionMatch are accepted and ignored: every list is served from
  // the latest state (what resourceVersion="" asks for), which is always a valid answer.
  let rv: number;
  let source: readonly KubeObject[];
  let after = '';
  if (token !== null && token !== '') {
    const t = decodeContinue(token);
    const items = store.snapshotAt(r, t.rv);
    if (items === undefined) {
      throw new ApiError(410, 'The provided continue parameter is too old to display a consistent list result. ' +
        'You can start a new list without the continue parameter.', 'Expired');
    }
    [rv, source, after] = [t.rv, items, t.start];
  } else if (limit > 0) {
    ({ rv, items: source } = store.snapshot(r));
  } else {
    [rv, source] = [store.rv, store.list(r)];
  }
  const selective = query.has('labelSelector') || query.has('fieldSelector');
  // A page costs what it holds, not the whole list: it starts at its key (the snapshot is in key
  // order) and, with a selector, stops at the first match past the page (then the remainder is
  // not counted, as upstream).
  const page: KubeObject[] = [];
  let remaining = 0;
  for (let i = firstAtOrAfter(source, after); i < source.length; i++) {
    const o = source[i];
    if (o === undefined || !matches(o)) continue;
    if (!(limit > 0) || page.length < limit) { page.push(o); continue; }
    remaining++;
    if (selective) break;
  }
  const more = remaining > 0;
  const last = page.at(-1);
  const metadata = {
    resourceVersion: String(rv),
    ...(more && last !== undefined ? { continue: encodeContinue(rv, objectKey(last)) } : {}),
    // Upstream only counts the remainder when no selector makes the count expensive.
    ...(more && !selective ? { remainingItemCount: remaining } : {}),
  };
  const head = JSON.stringify({ kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata });
  const parts: Buffer[] = [Buffer.from(`${head.slice(0, -1)},"items":[`)];
  for (const [i, o] of page.entries()) {
    if (i > 0) parts.push(COMMA);
    parts.push(bytesOf(o));
  }
  parts.push(CLOSE);
  return parts;
}
