// Errors as the real apiserver reports them: a metav1.Status body with the HTTP code repeated.
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

export interface Status {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: string;
  readonly code: number;
  readonly details?: { readonly name?: string; readonly kind?: string };
}

// Reasons the apiserver uses for each code (k8s.io/apimachinery StatusReason).
const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  409: 'Conflict', 410: 'Expired', 415: 'UnsupportedMediaType', 422: 'Invalid', 429: 'TooManyRequests',
  500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout',
};

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: number;
  readonly reason: string;
  readonly details: Status['details'];

  constructor(code: number, message: string, reason?: string, details?: Status['details']) {
    super(message);
    this.code = code;
    this.reason = reason ?? REASONS[code] ?? STATUS_CODES[code] ?? 'Unknown';
    this.details = details;
  }

  toStatus(): Status {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, code: this.code,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function notFound(plural: string, name: string): ApiError {
  return new ApiError(404, `${plural} "${name}" not found`, 'NotFound', { name, kind: plural });
}

export function tooOld(requested: number, oldest: number): ApiError {
  return new ApiError(410, `too old resource version: ${requested} (${oldest})`, 'Expired');
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  sendJsonBytes(res, code, [Buffer.from(JSON.stringify(body))]);
}

/** A JSON body given as pieces, written in one go (corked: one writev, no copy). */
export function sendJsonBytes(res: ServerResponse, code: number, parts: readonly Buffer[]): void {
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': parts.reduce((n, p) => n + p.length, 0) });
  res.cork();
  for (const p of parts) res.write(p);
  res.end();
  res.uncork();
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.code, err.toStatus());
}
