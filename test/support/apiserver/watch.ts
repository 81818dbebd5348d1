// WATCH: a chunked stream of JSON lines, one watch event each, as the apiserver's watch cache
// serves them (k8s.io/apiserver/pkg/storage/cacher).
import type { ServerResponse } from 'node:http';
import { apiVersionOf, type Resource, type Route } from './resources.ts';
import { type Matcher, requestMatcher } from './selectors.ts';
import { ApiError, tooOld } from './status.ts';
import type { Change, Store } from './store.ts';
import type { KubeObject, WatchEvent } from './types.ts';

export interface WatchSettings {
  /** `requested`: only with allowWatchBookmarks=true, as upstream. `always` also sends them to
   *  clients that never ask (client-node's ListWatch), to prove they cope. */
  bookmarks: 'requested' | 'always' | 'never';
  bookmarkIntervalMs: number;
  /** How a too-old resourceVersion is reported: an ERROR event in a 200 stream (what the watch
   *  cache does) or an HTTP 410 answer (what etcd-served watches can do). */
  expiredAs: 'event' | 'http';
  /** Server-side end of watches that give no timeoutSeconds (upstream: 30–60 min); undefined = never. */
  defaultTimeoutMs: number | undefined;
}

/** One served watch, for tests of watch lifetimes. */
export interface WatchRecord {
  readonly resource: string;
  readonly query: Readonly<Record<string, string>>;
  readonly openedAt: number;
  closedAt?: number;
  /** `timeout`: the server ended it at timeoutSeconds; `client`: the client went away first;
   *  `server`: ended otherwise here (dropWatches, resetWatches, a 410, stop). */
  endedBy?: 'timeout' | 'client' | 'server';
}

export interface OpenWatch {
  readonly resource: Resource;
  end(): void;
  destroy(): void;
}

/** An object that starts matching is ADDED and one that stops is DELETED (its previous content
 *  at the event's RV), exactly as cacheWatcher.convertToWatchEvent does. */
function toEvent(c: Change, matches: Matcher): WatchEvent | undefined {
  const prev = c.prev;
  const cur = c.type !== 'DELETED' && matches(c.object);
  const old = prev !== undefined && matches(prev);
  if (cur) return { type: old ? 'MODIFIED' : 'ADDED', object: c.object };
  if (!old) return undefined;
  return { type: 'DELETED', object: { ...prev, metadata: { ...prev.metadata, resourceVersion: String(c.rv) } } };
}

function initialEvents(store: Store, route: Route, from: string, matches: Matcher): WatchEvent[] | ApiError {
  // No RV (or "0"): synthetic ADDED events for the current state, then live changes.
  if (from === '' || from === '0') {
    return store.list(route.resource).filter(matches).map((object: KubeObject) => ({ type: 'ADDED', object }));
  }
  const rv = Number(from);
  if (!Number.isSafeInteger(rv) || rv < 0) throw new ApiError(400, `invalid resource version: ${from}`);
  const changes = store.changesSince(route.resource, rv);
  if (changes === undefined) return tooOld(rv, store.compactedRv);
  return changes.map((c) => toEvent(c, matches)).filter((e) => e !== undefined);
}

export function serveWatch(
  store: Store, settings: WatchSettings, open: Set<OpenWatch>, route: Route, query: URLSearchParams, res: ServerResponse,
  log: WatchRecord[] = [],
): void {
  const matches = requestMatcher(route.namespace, query);
  const initial = initialEvents(store, route, query.get('resourceVersion') ?? '', matches);
  if (initial instanceof ApiError && settings.expiredAs === 'http') throw initial;

  const record: WatchRecord = { resource: route.resource.plural, query: Object.fromEntries(query), openedAt: Date.now() };
  log.push(record);
  // Whoever ends the response first is who ended the watch.
  const ended = (by: NonNullable<WatchRecord['endedBy']>): void => {
    if (record.endedBy !== undefined) return;
    record.endedBy = by;
    record.closedAt = Date.now();
  };
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  res.flushHeaders(); // the client's watch() resolves on headers; do not wait for the first event
  const send = (e: WatchEvent): void => { if (!res.writableEnded) res.write(JSON.stringify(e) + '\n'); };
  if (initial instanceof ApiError) {
    // The watch cache reports a compacted RV in-band, then closes the stream.
    send({ type: 'ERROR', object: initial.toStatus() });
    ended('server');
    res.end();
    return;
  }
  for (const e of initial) send(e);

  const r = route.resource;
  const unsubscribe = store.subscribe((c) => {
    const e = c.resource === r ? toEvent(c, matches) : undefined;
    if (e !== undefined) send(e);
  });
  const wantBookmarks = settings.bookmarks === 'always' ||
    (settings.bookmarks === 'requested' && query.get('allowWatchBookmarks') === 'true');
  const bookmarks = wantBookmarks
    ? setInterval(() => {
      send({ type: 'BOOKMARK', object: { kind: r.kind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(store.rv) } } });
    }, settings.bookmarkIntervalMs).unref()
    : undefined;
  const seconds = Number.parseInt(query.get('timeoutSeconds') ?? '', 10);
  const timeoutMs = seconds > 0 ? seconds * 1000 : settings.defaultTimeoutMs;
  const timeout = timeoutMs === undefined ? undefined : setTimeout(() => { ended('timeout'); res.end(); }, timeoutMs).unref();

  const w: OpenWatch = { resource: r, end: () => { ended('server'); res.end(); }, destroy: () => { ended('server'); res.destroy(); } };
  open.add(w);
  res.on('close', () => {
    ended(res.writableEnded ? 'server' : 'client');
    unsubscribe();
    clearInterval(bookmarks);
    clearTimeout(timeout);
    open.delete(w);
  });
}
