// The bench's fake kernel process (bench/kernel-server.ts) is measurement infrastructure: a
// batch sent while it produces a large dump must be received and stamped on arrival and applied
// promptly (as a real kernel runs `ipvsadm -R` beside `ipvsadm -Sn`), and a run's tool time must
// be its own, so overlapping runs are not counted twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { SocketRunner } from '../../bench/socket-runner.ts';

const SERVICES = 20_000;

test('kernel server: a batch sent during a large dump is applied before the dump ends; tool time is per run', async () => {
  const socket = join(mkdtempSync(join(tmpdir(), 'kernel-server-')), 'k.sock');
  const proc = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'bench', 'kernel-server.ts'), socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await once(proc.stdout, 'data'); // "ready"
    const k = await SocketRunner.connect(socket);
    const lines: string[] = [];
    for (let i = 0; i < SERVICES; i++) {
      const vs = `10.96.${String(i >> 8)}.${String(i & 255)}:80`;
      lines.push(`-A -t ${vs} -s rr`);
      for (let e = 0; e < 4; e++) lines.push(`-a -t ${vs} -r 10.244.${String(e)}.${String(i & 255)}:8080 -m -w 1`);
    }
    await k.run(['ipvsadm', '-R'], { input: `${lines.join('\n')}\n` });
    const from = (await k.log(0)).length;

    const order: string[] = [];
    const dump = k.run(['ipvsadm', '-Sn'], { bytes: true }).then((r) => { order.push('dump'); return r; });
    await new Promise((resolve) => { setTimeout(resolve, 5); });
    const batch = k.run(['ipvsadm', '-R'], { input: '-a -t 10.96.0.1:80 -r 10.250.0.1:8080 -m -w 1\n' }).then(() => { order.push('batch'); });
    const [d] = await Promise.all([dump, batch]);
    assert.deepEqual(order, ['batch', 'dump'], 'the batch was served while the dump was produced');
    assert.equal(new TextDecoder().decode(d.bytes).split('\n').filter((l) => l.startsWith('-A ')).length, SERVICES);

    const runs = await k.log(from, '10.250.0.1');
    const b = runs.find((r) => r.matched === true);
    const s = runs.find((r) => r.tool === 'ipvsadm -Sn');
    assert.ok(b !== undefined && s !== undefined);
    assert.ok(b.at < s.done, 'stamped on arrival, before the dump ended');
    // The dump's own time leaves out the batch served in between; neither exceeds its interval.
    assert.ok(s.busy <= s.done - s.at && b.busy <= b.done - b.at);
    assert.ok(s.busy + b.busy <= (Math.max(s.done, b.done) - Math.min(s.at, b.at)) + 1);
    k.close();
  } finally {
    proc.kill('SIGTERM');
  }
});
