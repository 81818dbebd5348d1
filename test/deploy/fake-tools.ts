// A FakeKernel for a kube-ipvs *process*: a folder of executables named like the kernel tools
// (put it first in the process' PATH) that forward each call to this FakeKernel over a Unix
// socket. The test keeps the kernel object to read its state and inject faults.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolError } from '../../src/apply/exec.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

const TOOLS = ['ipvsadm', 'ipset', 'ip', 'conntrack', ...['iptables', 'ip6tables'].flatMap((t) =>
  ['', '-nft', '-legacy'].flatMap((b) => ['', '-save', '-restore'].map((s) => `${t}${b}${s}`)))];
const CLIENT = join(import.meta.dirname, 'fake-tool-client.ts');

export interface FakeTools {
  readonly kernel: FakeKernel;
  /** The folder to put first in PATH. */
  readonly bin: string;
  /** Environment for the process: PATH and the socket. */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

async function answer(kernel: FakeKernel, request: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const { argv, input } = JSON.parse(request) as { argv: string[]; input?: string };
  try {
    const r = await kernel.run(argv, input === undefined ? {} : { input });
    return { ...r, code: 0 };
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    return { stdout: e.stdout, stderr: e.stderr, code: e.code === 'TOOL_FAILED' ? (e.exitCode ?? 1) : 127 };
  }
}

export async function startFakeTools(kernel = new FakeKernel()): Promise<FakeTools> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-fake-tools-'));
  const socket = join(dir, 'kernel.sock');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const t of TOOLS) {
    writeFileSync(join(bin, t), `#!/bin/sh\nKUBE_IPVS_FAKE_TOOL=${t} exec '${process.execPath}' '${CLIENT}' "$@"\n`, { mode: 0o755 });
  }
  const server: Server = createServer({ allowHalfOpen: true }, (conn) => {
    let request = '';
    conn.on('data', (c: Buffer) => { request += c.toString(); });
    conn.on('end', () => {
      answer(kernel, request).then((r) => { conn.end(JSON.stringify(r)); }, (e: unknown) => {
        conn.end(JSON.stringify({ stdout: '', stderr: `fake kernel: ${e instanceof Error ? e.message : String(e)}\n`, code: 1 }));
      });
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
  return {
    kernel, bin,
    env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, KUBE_IPVS_FAKE_KERNEL: socket },
    close: () => new Promise<void>((r) => { server.close(() => { r(); }); }),
  };
}
