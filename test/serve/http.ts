// Real HTTP for the serving tests: requests to 127.0.0.1 and free ports to bind.
import { createServer, type Server } from 'node:net';

export interface Response {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

export async function get(url: string): Promise<Response> {
  const r = await fetch(url);
  return { status: r.status, headers: r.headers, body: await r.text() };
}

/** A TCP server on 127.0.0.1 holding a port (the kernel picked it); close() frees it. */
export async function holdPort(port = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return { port: addr.port, close: () => new Promise((resolve) => { server.close(() => { resolve(); }); }) };
}

/** A port that was free a moment ago (bound then released). */
export async function freePort(): Promise<number> {
  const h = await holdPort();
  await h.close();
  return h.port;
}
