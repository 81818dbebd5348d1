// Binding node:http servers the way kube-proxy (Go net/http) binds its listeners.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:[\]]*):(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  if (m === null || port > 65535) throw new BindAddressError(addr);
  const host = m[1] ?? '';
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
