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

export function listBody(store: Store, route: Route, query: URLSearchParams): unknown {
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
  const matching = source.filter((o) => objectKey(o) >= after && matches(o));
  const page = limit > 0 ? matching.slice(0, limit) : matching;
  const more = page.length < matching.length;
  const last = page.at(-1);
  const selective = query.has('labelSelector') || query.has('fieldSelector');
  return {
    kind: `${r.kind}List`,
    apiVersion: apiVersionOf(r),
    metadata: {
      resourceVersion: String(rv),
      ...(more && last !== undefined ? { continue: encodeContinue(rv, objectKey(last)) } : {}),
      // Upstream only counts the remainder when no selector makes the count expensive.
      ...(more && !selective ? { remainingItemCount: matching.length - page.length } : {}),
    },
    items: page.map(withoutTypeMeta),
  };
}
