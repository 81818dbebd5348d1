// The fake kernel (test/fakes/fake-kernel.ts) as a process of its own, serving the daemon's tool
// runs over a Unix socket (bench/socket-runner.ts), so the daemon's memory and CPU figures are
// its own and the tools' time is measured apart. It logs every run: when the batch arrived,
// how long the tool took, and the batch, so the bench can see when a change reached a tool.
//   node bench/kernel-server.ts SOCKET   (started by bench/realistic.ts; prints "ready")
import { createServer, type Socket } from 'node:net';
import { ToolError } from '../src/apply/exec.ts';
import { FakeKernel } from '../test/fakes/fake-kernel.ts';

/** One line of JSON each way. `log`: runs since index `from`; `admin`: a read by the bench itself. */
export type KernelRequest =
  | { readonly id: number; readonly kind: 'run'; readonly argv: readonly string[]; readonly input?: string }
  | { readonly id: number; readonly kind: 'admin'; readonly argv: readonly string[] }
  | { readonly id: number; readonly kind: 'log'; readonly from: number; readonly grep?: string };

export interface RunRecord {
  readonly tool: string;
  /** Epoch ms (sub-ms precision) when the request arrived, and when the tool finished. */
  readonly at: number;
  readonly done: number;
  /** Whether `grep` of a `log` request occurs in the batch input. */
  readonly matched?: boolean;
}

export type KernelReply =
  | { readonly id: number; readonly ok: true; readonly stdout: string; readonly stderr: string; readonly log?: readonly RunRecord[] }
  | { readonly id: number; readonly ok: false; readonly error: { code: ToolError['code']; argv: readonly string[]; exitCode?: number; stdout: string; stderr: string; message: string } };

const now = (): number => performance.timeOrigin + performance.now();

/**
 * Newline-delimited JSON messages from a socket. Linear in the message size: a batch or a dump
 * of megabytes arrives in many chunks, and only each new chunk is searched for the newline
 * (JSON escapes every newline inside a message).
 */
export function onLines(sock: Socket, handle: (line: string) => void): void {
  let parts: string[] = [];
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    let from = 0;
    let i;
    while ((i = chunk.indexOf('\n', from)) >= 0) {
      parts.push(chunk.slice(from, i));
      const line = parts.join('');
      parts = [];
      from = i + 1;
      if (line !== '') handle(line);
    }
    if (from < chunk.length) parts.push(chunk.slice(from));
  });
}

if (import.meta.filename === process.argv[1]) {
  const kernel = new FakeKernel();
  const runs: { tool: string; at: number; done: number; input: string }[] = [];
  const server = createServer((sock) => {
    const send = (r: KernelReply): void => { sock.write(`${JSON.stringify(r)}\n`); };
    onLines(sock, (line) => {
      const m = JSON.parse(line) as KernelRequest;
      if (m.kind === 'log') {
        const grep = m.grep;
        send({ id: m.id, ok: true, stdout: '', stderr: '', log: runs.slice(m.from).map((r) => ({ tool: r.tool, at: r.at, done: r.done, ...(grep === undefined ? {} : { matched: r.input.includes(grep) }) })) });
        return;
      }
      if (m.kind === 'admin') { send({ id: m.id, ok: true, stdout: kernel.admin(m.argv), stderr: '' }); return; }
      const at = now();
      kernel.run(m.argv, m.input === undefined ? {} : { input: m.input }).then(
        (r) => { runs.push({ tool: m.argv.join(' ').slice(0, 40), at, done: now(), input: m.input ?? '' }); send({ id: m.id, ok: true, ...r }); },
        (e: unknown) => {
          runs.push({ tool: m.argv.join(' ').slice(0, 40), at, done: now(), input: m.input ?? '' });
          const t = e instanceof ToolError ? e : new ToolError({ code: 'TOOL_FAILED', argv: m.argv, stderr: String(e) });
          send({ id: m.id, ok: false, error: { code: t.code, argv: t.argv, ...(t.exitCode === undefined ? {} : { exitCode: t.exitCode }), stdout: t.stdout, stderr: t.stderr, message: t.message } });
        },
      );
    });
  });
  server.listen(process.argv[2], () => { process.stdout.write('ready\n'); });
  process.on('SIGTERM', () => { server.close(); process.exit(0); });
}
