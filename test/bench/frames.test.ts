// The bench's wire to the fake kernel process: headers and raw bodies arrive intact and in
// order, whatever the chunking (a dump of megabytes arrives in many pieces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onFrames, writeFrame, type Header } from '../../bench/frames.ts';

test('frames: headers and bodies (empty, multi-byte, megabytes) arrive intact and in order', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'frames-')), 's.sock');
  const got: [Header, string[]][] = [];
  const big = `-a -t 10.96.0.1:80 -r 10.244.0.1:8080 -m -w 1 é€\n`.repeat(60_000);
  const sent: [Header, string[]][] = [[{ id: 0 }, []], [{ id: 1, ok: true }, ['', 'ünïcode €']], [{ id: 2 }, [big, 'x']], [{ id: 3 }, ['\n{"id":9}\n']]];
  const done = new Promise<void>((resolve) => {
    const server = createServer((sock: Socket) => {
      onFrames(sock, (h, b) => { got.push([h, b.map((x) => x.toString('utf8'))]); if (got.length === sent.length) { sock.end(); server.close(); resolve(); } });
    });
    server.listen(path, () => {
      const c = connect(path, () => { for (const [h, b] of sent) writeFrame(c, h, b); c.end(); });
    });
  });
  await done;
  assert.deepEqual(got.map(([h, b]) => [h.id, b]), sent.map(([h, b]) => [h.id, b]));
});
