// Single-object verbs: GET, POST (create), PUT (update), PATCH and DELETE, as the daemon uses for
// Events; the same handlers serve every resource.
import type { IncomingMessage } from 'node:http';
import { applyPatch } from './patch.ts';
import { apiVersionOf, type Route } from './resources.ts';
import { ApiError, notFound } from './status.ts';
import type { Store } from './store.ts';
import type { KubeObject, Verb } from './types.ts';

const MAX_BODY = 4 * 1024 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiError(413, 'request entity too large', 'RequestEntityTooLarge');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'the body of the request could not be decoded as JSON');
  }
}

/** Checks the body against the URL, as the apiserver does, and fills in what the URL implies. */
function asObject(body: unknown, route: Route): KubeObject {
  if (typeof body !== 'object' || body === null) throw new ApiError(400, 'the request body must be an object');
  const o = body as Partial<KubeObject>;
  const r = route.resource;
  const metadata = { ...(o.metadata ?? {}) };
  if (route.namespace !== undefined) {
    if (metadata.namespace !== undefined && metadata.namespace !== route.namespace) {
      throw new ApiError(400, 'the namespace of the provided object does not match the namespace sent on the request');
    }
    metadata.namespace = route.namespace;
  }
  if (route.name !== undefined && metadata.name !== route.name) {
    throw new ApiError(400, 'the name of the object does not match the name on the URL');
  }
  return { ...o, kind: r.kind, apiVersion: apiVersionOf(r), metadata };
}

export async function serveObjectVerb(
  store: Store, verb: Exclude<Verb, 'list' | 'watch'>, route: Route, req: IncomingMessage,
): Promise<{ code: number; body: KubeObject }> {
  const r = route.resource;
  const name = route.name ?? '';
  switch (verb) {
    case 'get': {
      const found = store.get(r, route.namespace, name);
      if (found === undefined) throw notFound(r.plural, name);
      return { code: 200, body: found };
    }
    case 'create':
      return { code: 201, body: store.create(r, asObject(await readJson(req), route)) };
    case 'update':
      return { code: 200, body: store.update(r, asObject(await readJson(req), route)) };
    case 'patch': {
      const patch = await readJson(req);
      const found = store.get(r, route.namespace, name);
      if (found === undefined) throw notFound(r.plural, name);
      const patched = applyPatch(req.headers['content-type'] ?? '', found, patch);
      return { code: 200, body: store.update(r, asObject(patched, route)) };
    }
    case 'delete':
      return { code: 200, body: store.delete(r, route.namespace, name) };
  }
}
