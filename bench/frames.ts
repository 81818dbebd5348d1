// The bench's wire between the daemon and the fake kernel process: a JSON header line, then the
// large strings (a batch's input, a dump's stdout and stderr) as raw UTF-8 bytes whose lengths
// the header gives. The daemon pays for them what it pays reading a pipe: one copy, and a
// UTF-8 decode unless it asked for the bytes (`RunOptions.bytes`, the kernel dumps). (Inside JSON they cost an escape, a join and a JSON.parse of megabytes: ~half of
// a no-change periodic resync at 10,000 Services in the daemon's CPU profile — a cost of the
// bench, not of the daemon; docs/benchmarks.md.)
import type { Socket } from 'node:net';

export type Header = Readonly<Record<string, unknown>>;

/** A body: one string or byte array, or several pieces sent one after the other (a dump produced in chunks). */
export type Body = string | Uint8Array | readonly string[];

const byteLength = (b: string | Uint8Array): number => (typeof b === 'string' ? Buffer.byteLength(b) : b.byteLength);

/** One frame: the header (with `bodyLengths` added) and the bodies, raw. */
export function writeFrame(sock: Socket, header: Header, bodies: readonly Body[]): void {
  const pieces = bodies.map((b) => (typeof b === 'string' || b instanceof Uint8Array ? [b] : b));
  sock.write(`${JSON.stringify({ ...header, bodyLengths: pieces.map((p) => p.reduce((n, x) => n + byteLength(x), 0)) })}\n`);
  for (const p of pieces) for (const x of p) if (x.length > 0) sock.write(x);
}

/** Calls `handle` per frame received, in order; linear in the bytes received. */
export function onFrames(sock: Socket, handle: (header: Header, bodies: Buffer[]) => void): void {
  let chunks: Buffer[] = [];
  let have = 0;
  let pending: { readonly header: Header; readonly lengths: readonly number[]; readonly need: number } | undefined;
  const take = (): Buffer => (chunks.length === 1 ? chunks[0] ?? Buffer.alloc(0) : Buffer.concat(chunks, have));
  const keep = (rest: Buffer): void => { chunks = rest.length > 0 ? [rest] : []; have = rest.length; };
  sock.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    have += chunk.length;
    for (;;) {
      if (pending === undefined) {
        const all = take();
        const nl = all.indexOf(10);
        if (nl < 0) { keep(all); return; }
        const header = JSON.parse(all.toString('utf8', 0, nl)) as Header;
        const lengths = Array.isArray(header.bodyLengths) ? (header.bodyLengths as number[]) : [];
        pending = { header, lengths, need: lengths.reduce((a, n) => a + n, 0) };
        keep(all.subarray(nl + 1));
      }
      if (have < pending.need) return;
      const all = take();
      let at = 0;
      const bodies = pending.lengths.map((n) => { const b = all.subarray(at, at + n); at += n; return b; });
      keep(all.subarray(at));
      const { header } = pending;
      pending = undefined;
      handle(header, bodies);
    }
  });
}
