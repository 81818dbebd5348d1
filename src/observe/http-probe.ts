// The HTTP health probe on a raw kept-alive socket per endpoint: one small request written, the
// status line and the body's framing read, nothing else. The in-process fallback: while
// kube-ipvs-prober runs, it makes these probes itself with the same semantics (src/native/http.c). `node:http` builds a request and a
// response object, parses every header and runs its agent's bookkeeping per request — most of a
// probe's CPU at thousands of probes a second (bench/health-checks.ts).
import { connect, type Socket } from 'node:net';
import type { Ip } from '../compute/net/ip.ts';

const HEADER_END = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('0\r\n\r\n');

interface Exchange {
  /** `noAnswer`: the connection closed before a byte of the answer came. */
  readonly finish: (ok: boolean, noAnswer: boolean) => void;
  /** Bytes of the answer so far. */
  buf: Buffer;
}

interface Conn {
  readonly socket: Socket;
  exchange: Exchange | undefined;
  /** The connection carried an answer already (a close before any byte may just be its idle end). */
  used: boolean;
}

/** Endpoint (`ip port`) → its kept-alive connection, while one is open. */
const conns = new Map<string, Conn>();

/** How the answer so far ends: undefined while incomplete. */
function complete(buf: Buffer): { status: number; keep: boolean } | undefined {
  const end = buf.indexOf(HEADER_END);
  if (end < 0) return undefined;
  const head = buf.toString('latin1', 0, end).toLowerCase();
  const status = Number(head.slice(9, 12));
  const keep = !/\r\nconnection:\s*close/.test(head) && head.startsWith('http/1.1');
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length !== null) return buf.length - end - 4 >= Number(length[1]) ? { status, keep } : undefined;
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return buf.subarray(buf.length - CHUNKED_END.length).equals(CHUNKED_END) ? { status, keep } : undefined;
  // No framing: the body runs to the connection's end (the close handler decides).
  return status === 204 || status === 304 ? { status, keep } : undefined;
}

function open(key: string, ip: Ip, port: number): Conn {
  const socket = connect({ host: ip.text, port, family: ip.family });
  socket.setNoDelay(true);
  const c: Conn = { socket, exchange: undefined, used: false };
  socket.on('data', (chunk: Buffer) => {
    const x = c.exchange;
    if (x === undefined) { socket.destroy(); return; } // unasked-for bytes: not a connection to trust
    x.buf = x.buf.length === 0 ? chunk : Buffer.concat([x.buf, chunk]);
    const done = complete(x.buf);
    if (done === undefined) return;
    c.exchange = undefined;
    c.used = true;
    if (!done.keep) socket.destroy();
    x.finish(done.status >= 200 && done.status < 400, false);
  });
  socket.on('error', () => undefined); // reported through 'close'
  socket.on('close', () => {
    if (conns.get(key) === c) conns.delete(key);
    const x = c.exchange;
    c.exchange = undefined;
    if (x === undefined) return;
    // A body that ran to the close is complete; anything else is a failure.
    const end = x.buf.indexOf(HEADER_END);
    const status = end < 0 ? 0 : Number(x.buf.toString('latin1', 9, 12));
    x.finish(end >= 0 && status >= 200 && status < 400, x.buf.length === 0);
  });
  conns.set(key, c);
  return c;
}

export function probeHttpRaw(ip: Ip, port: number, path: string, timeoutMs: number): Promise<boolean> {
  const key = `${ip.text} ${port}`;
  const host = ip.family === 6 ? `[${ip.text}]:${port}` : `${ip.text}:${port}`;
  const request = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: kube-ipvs-health-check\r\nAccept: */*\r\n\r\n`;
  return new Promise((resolve) => {
    let settled = false;
    let current: Conn | undefined;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const send = (retry: boolean): void => {
      const existing = conns.get(key);
      const c = existing !== undefined && existing.exchange === undefined && !existing.socket.destroyed ? existing : open(key, ip, port);
      current = c;
      const reused = c.used;
      c.exchange = {
        buf: Buffer.alloc(0),
        finish: (ok, noAnswer) => {
          // A kept-alive connection the server closed as we wrote to it: once more on a new one.
          if (noAnswer && reused && retry && !settled) { send(false); return; }
          settle(ok);
        },
      };
      c.socket.write(request);
    };
    // A silent endpoint: its connection goes, the next probe opens a new one.
    const timer = setTimeout(() => { current?.socket.destroy(); settle(false); }, timeoutMs);
    send(true);
  });
}
