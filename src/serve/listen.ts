// Binding node:http servers the way kube-proxy (Go net/http) binds its listeners.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../compute/net/ip.ts';

export interface BindAddress {
  /** undefined: every address of both families. */
  readonly host: string | undefined;
  readonly port: number;
}

export class BindAddressError extends Error {
  readonly code = 'BAD_BIND_ADDRESS';
  constructor(addr: string) {
    super(`"${addr}" is not host:port (an IP, IPv6 in brackets, and a port 0-65535)`);
    this.name = 'BindAddressError';
  }
}

/**
 * `0.0.0.0:10256`, `[::]:10256`, `127.0.0.1:0`. A wildcard host becomes "all addresses":
 * Go's net.Listen("tcp", "0.0.0.0:…") opens a dual-stack socket, so kube-proxy's default
 * healthz address also answers over IPv6; Node does the same when no host is given.
 */
export function parseBindAddress(addr: string): BindAddress {
  const hp = splitHostPort(addr);
  if (hp === undefined) throw new BindAddressError(addr);
  const { host, port } = hp;
  return { host: host === '' || host === '0.0.0.0' || host === '::' ? undefined : host, port };
}

export interface Listening {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: AddressInfo;
  /** Stops accepting and drops open connections (probes keep connections alive). */
  close(): Promise<void>;
}

/** Resolves once bound; rejects with the listen error (EADDRINUSE…) without leaving a server open. */
export async function listen(handler: RequestListener, bind: BindAddress): Promise<Listening> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => { reject(err); };
    server.once('error', onError);
    server.listen({ port: bind.port, ...(bind.host === undefined ? {} : { host: bind.host }) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // A failed accept after start-up must not crash the daemon through an unhandled 'error'.
  server.on('error', () => undefined);
  return { address: server.address() as AddressInfo, close: () => closeServer(server) };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => { resolve(); });
    server.closeAllConnections();
  });
}

/** Writes a complete response; Content-Length set so probes need not wait for a close. */
export function reply(res: Parameters<RequestListener>[1], code: number, headers: Readonly<Record<string, string>>, body: string): void {
  res.writeHead(code, { ...headers, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export interface PersistentOptions {
  /** Waits between bind attempts while the port is in use; the last one repeats. */
  readonly retryMs?: readonly number[];
  /** Once, when the port is found in use. */
  onBusy(err: NodeJS.ErrnoException, retryMs: number): void;
  /** When bound after having been busy. */
  onBound(address: AddressInfo): void;
}

export interface PersistentListening {
  /** Bound now (false while another process holds the port). */
  readonly bound: boolean;
  close(): Promise<void>;
}

// Well under the DaemonSet's liveness window (6 failures × 10 s), so once the other process
// lets go of the port the probe finds this one answering before it gives up.
const BUSY_RETRY_MS = [500, 1000, 2000, 5000];

const isBusy = (e: unknown): e is NodeJS.ErrnoException =>
  e instanceof Error && (e as NodeJS.ErrnoException).code === 'EADDRINUSE';

/**
 * As listen(), but a port in use is waited for instead of failing: during a migration
 * kube-proxy still holds 10256 (and 10249) while kube-ipvs starts, and proxying must not wait
 * for it. Any other bind error (no such address, no permission) rejects at once.
 */
export async function listenPersistently(handler: RequestListener, bind: BindAddress, o: PersistentOptions): Promise<PersistentListening> {
  const delays = o.retryMs ?? BUSY_RETRY_MS;
  let current: Listening | undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    current = await listen(handler, bind);
  } catch (e) {
    if (!isBusy(e)) throw e;
    o.onBusy(e, delays[0] ?? 1000);
    let attempt = 0;
    const retry = (): void => {
      timer = setTimeout(() => {
        timer = undefined;
        listen(handler, bind).then((l) => {
          if (closed) { void l.close(); return; }
          current = l;
          o.onBound(l.address);
        }, () => {
          // Whatever the error now, keep trying: the address itself was bindable at start.
          if (closed) return;
          attempt++;
          retry();
        });
      }, delays[Math.min(attempt, delays.length - 1)] ?? 1000);
    };
    retry();
  }
  return {
    get bound() { return current !== undefined; },
    close: async () => {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      await current?.close();
    },
  };
}
