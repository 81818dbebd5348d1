// One request to the API server through client-node's own request path: the kubeconfig's
// server, TLS and credentials (KubeConfig.applySecurityAuthentication: tokens, exec plugins,
// client certificates, the token file), undici's fetch underneath. The answer is returned as
// status and body: callers read and parse it themselves (raw-list.ts as it streams in, item by
// item; events.ts as text).
import type { KubeConfig, ResponseBody } from '@kubernetes/client-node';
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from './kube-client.ts';

export type Method = 'GET' | 'POST' | 'PATCH';

export interface ApiRequest {
  readonly method: Method;
  /** Path under the cluster's server, e.g. /api/v1/namespaces/default/events. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Sent as JSON, with `contentType` (default application/json). */
  readonly body?: unknown;
  readonly contentType?: string;
  readonly timeoutMs: number;
}

export interface ApiAnswer {
  readonly status: number;
  /** Read once, as text or as a stream; errors while reading it are the caller's to name. */
  readonly body: ResponseBody;
}

/**
 * No answer at all: no current cluster, credentials that could not be obtained, a connection
 * error. The message is the reason alone: callers say which request it was.
 */
export class ApiRequestError extends Error {
  readonly code = 'API_REQUEST_FAILED';
  readonly method: Method;
  readonly path: string;
  constructor(method: Method, path: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'ApiRequestError';
    this.method = method;
    this.path = path;
  }
}

const METHODS: Readonly<Record<Method, HttpMethod>> = { GET: HttpMethod.GET, POST: HttpMethod.POST, PATCH: HttpMethod.PATCH };

export async function apiRequest(kc: KubeConfig, r: ApiRequest): Promise<ApiAnswer> {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new ApiRequestError(r.method, r.path, 'no current cluster in the kubeconfig');
  const url = new URL(cluster.server + r.path);
  for (const [k, v] of Object.entries(r.query ?? {})) url.searchParams.set(k, v);
  const ctx = new RequestContext(url.toString(), METHODS[r.method]);
  ctx.setHeaderParam('Accept', 'application/json');
  if (r.body !== undefined) {
    ctx.setHeaderParam('Content-Type', r.contentType ?? 'application/json');
    ctx.setBody(JSON.stringify(r.body));
  }
  ctx.setSignal(AbortSignal.timeout(r.timeoutMs));
  try {
    await kc.applySecurityAuthentication(ctx);
    const res = await new IsomorphicFetchHttpLibrary().send(ctx).toPromise();
    return { status: res.httpStatusCode, body: res.body };
  } catch (e) {
    throw new ApiRequestError(r.method, r.path, e instanceof Error ? e.message : String(e), e);
  }
}
