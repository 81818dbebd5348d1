// Routes one admitted request to the handler for its verb, and turns failures into Status bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listBytes } from './list.ts';
import type { Route } from './resources.ts';
import { ApiError, sendError, sendJson, sendJsonBytes } from './status.ts';
import type { Store } from './store.ts';
import type { Verb } from './types.ts';
import { type OpenWatch, serveWatch, type WatchRecord, type WatchSettings } from './watch.ts';
import { serveObjectVerb } from './write.ts';

export interface Context {
  readonly store: Store;
  readonly watch: WatchSettings;
  readonly open: Set<OpenWatch>;
  readonly token: string | undefined;
  readonly watchLog: WatchRecord[];
}

export function verbOf(method: string, route: Route, q: URLSearchParams): Verb | 'other' {
  const named = route.name !== undefined;
  switch (method) {
    case 'GET': return named ? 'get' : q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
    case 'POST': return named ? 'other' : 'create';
    case 'PUT': return named ? 'update' : 'other';
    case 'PATCH': return named ? 'patch' : 'other';
    case 'DELETE': return named ? 'delete' : 'other';
    default: return 'other';
  }
}

function serveNonResource(pathname: string, res: ServerResponse): void {
  if (pathname === '/version') {
    sendJson(res, 200, { major: '1', minor: '34', gitVersion: 'v1.34.0-kube-ipvs-test', platform: 'linux/amd64' });
  } else if (['/healthz', '/livez', '/readyz'].includes(pathname)) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n'); // as the real mux
  }
}

export async function dispatch(
  ctx: Context, req: IncomingMessage, res: ServerResponse, url: URL, route: Route | undefined,
  verb: Verb | 'other', failWith: number | undefined,
): Promise<void> {
  try {
    if (ctx.token !== undefined && req.headers.authorization !== `Bearer ${ctx.token}`) throw new ApiError(401, 'Unauthorized');
    if (failWith !== undefined) throw new ApiError(failWith, `injected failure: ${String(failWith)}`);
    if (route === undefined) { serveNonResource(url.pathname, res); return; }
    switch (verb) {
      case 'list': sendJsonBytes(res, 200, listBytes(ctx.store, route, url.searchParams)); return;
      case 'watch': serveWatch(ctx.store, ctx.watch, ctx.open, route, url.searchParams, res, ctx.watchLog); return;
      case 'other': throw new ApiError(405, 'the server does not allow this method on the requested resource');
      case 'get': case 'create': case 'update': case 'patch': case 'delete': {
        const { code, body } = await serveObjectVerb(ctx.store, verb, route, req);
        sendJson(res, code, body);
      }
    }
  } catch (err) {
    const apiErr = err instanceof ApiError ? err : new ApiError(500, String(err));
    if (!res.headersSent) sendError(res, apiErr);
    else res.destroy(); // a watch already streaming: a mid-stream failure is a broken connection
  }
}
