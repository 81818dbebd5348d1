// LIST through client-node's own request path (the kubeconfig's server, TLS and credentials),
// but parsed here: each item parsed and decoded on its own as the answer arrives (list-items.ts). client-node's typed
// decoding throws for the whole list on one wrongly shaped field (DESIGN §8) — a relist would
// then fail forever and nothing new would be programmed; here one bad item is reported and
// skipped. API load (as client-go's reflector): the first list is served from the API server's
// watch cache (resourceVersion=0); a relist after 410 Gone asks for current data, in pages.
import type { KubeConfig } from '@kubernetes/client-node';
import { isRecord, type JsonRecord } from '../compute/k8s/field-reader.ts';
import { apiRequest, type ApiAnswer } from './api-request.ts';
import { ListItems, ListSyntaxError } from './list-items.ts';

export const PAGE_SIZE = 500;
const LIST_TIMEOUT_MS = 120_000;

export class ListError extends Error {
  readonly code = 'LIST_FAILED';
  readonly path: string;
  /** HTTP status when the server answered; client-node's ListWatch reads it (410 → relist). */
  readonly statusCode: number | undefined;
  constructor(path: string, message: string, statusCode?: number, cause?: unknown) {
    super(`list ${path}: ${message}`, { cause });
    this.name = 'ListError';
    this.path = path;
    this.statusCode = statusCode;
  }
}

export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface Listed<T> {
  readonly metadata: { readonly resourceVersion: string };
  readonly items: T[];
}

/** Turns one raw item into what the informer keeps; undefined skips it (the decoder reports why). */
export type Decode<T> = (raw: unknown) => T | undefined;

/** One page: its items decoded (each parsed alone as it arrives, list-items.ts) and the rest of the answer. */
async function listPage<T>(kc: KubeConfig, path: string, query: Readonly<Record<string, string>>, decode: Decode<T>): Promise<{ list: JsonRecord; items: T[] }> {
  let answer: ApiAnswer;
  try {
    answer = await apiRequest(kc, { method: 'GET', path, query, timeoutMs: LIST_TIMEOUT_MS });
  } catch (e) {
    throw new ListError(path, e instanceof Error ? e.message : String(e), undefined, e);
  }
  const { status, body } = answer;
  if (status !== 200) {
    const text = await body.text().catch(() => '');
    throw new ListError(path, `HTTP ${String(status)}: ${text.slice(0, 200)}`, status);
  }
  const items: T[] = [];
  const split = new ListItems((json) => {
    const item = decode(JSON.parse(json));
    if (item !== undefined) items.push(item);
  });
  let rest: unknown;
  try {
    for await (const chunk of body.stream() ?? []) split.push(chunk);
    rest = split.end();
  } catch (e) {
    if (e instanceof ListSyntaxError || e instanceof SyntaxError) throw new ListError(path, 'the answer is not JSON', status, e);
    throw new ListError(path, e instanceof Error ? e.message : String(e), undefined, e);
  }
  const list = isRecord(rest) ? rest : {};
  if (!Array.isArray(list.items)) throw new ListError(path, 'the answer has no items list');
  return { list, items };
}

/**
 * Lists `path` in pages of PAGE_SIZE. `fromCache`: resourceVersion=0 (the watch cache may ignore
 * the limit and answer in one page). A continue token that expires mid-way falls back to one
 * full list, as client-go's pager does.
 */
export async function listDecoded<T>(kc: KubeConfig, path: string, q: ListQuery, fromCache: boolean, decode: Decode<T>): Promise<Listed<T>> {
  const base: Record<string, string> = { limit: String(PAGE_SIZE) };
  if (q.labelSelector !== undefined) base.labelSelector = q.labelSelector;
  if (q.fieldSelector !== undefined) base.fieldSelector = q.fieldSelector;
  const items: T[] = [];
  let query: Record<string, string> = fromCache ? { ...base, resourceVersion: '0' } : base;
  for (;;) {
    let page: { list: JsonRecord; items: T[] };
    try {
      page = await listPage(kc, path, query, decode);
    } catch (e) {
      if (!(e instanceof ListError && e.statusCode === 410 && query.continue !== undefined)) throw e;
      items.length = 0;
      query = Object.fromEntries(Object.entries(base).filter(([k]) => k !== 'limit'));
      continue;
    }
    const { list } = page;
    for (const item of page.items) items.push(item);
    const meta = isRecord(list.metadata) ? list.metadata : {};
    const next = typeof meta.continue === 'string' ? meta.continue : '';
    if (next === '') {
      return { metadata: { resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '' }, items };
    }
    query = { ...base, continue: next };
  }
}
