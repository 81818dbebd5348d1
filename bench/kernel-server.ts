// The fake kernel (test/fakes/fake-kernel.ts) as a process of its own, serving the daemon's tool
// runs over a Unix socket (bench/socket-runner.ts), so the daemon's memory and CPU figures are
// its own and the tools' time is measured apart. It logs every run: when the batch arrived,
// how long the tool took, and the batch, so the bench can see when a change reached a tool.
//   node bench/kernel-server.ts SOCKET   (started by bench/realistic.ts; prints "ready")
import { createServer } from 'node:net';
import { ToolError } from '../src/apply/exec.ts';
import { FakeKernel } from '../test/fakes/fake-kernel.ts';
import { onFrames, writeFrame } from './frames.ts';

/**
 * One frame each way (frames.ts): `input`, `stdout` and `stderr` travel raw after the header.
 * `log`: runs since index `from`; `admin`: a read by the bench itself.
 */
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

if (import.meta.filename === process.argv[1]) {
  const kernel = new FakeKernel();
  const runs: { tool: string; at: number; done: number; input: string }[] = [];
  const server = createServer((sock) => {
    const send = (r: KernelReply): void => {
      if (r.ok) { const { stdout, stderr, ...h } = r; writeFrame(sock, h, [stdout, stderr]); return; }
      const { stdout, stderr, ...e } = r.error;
      writeFrame(sock, { id: r.id, ok: false, error: e }, [stdout, stderr]);
    };
    onFrames(sock, (header, [input]) => {
      const h = header as KernelRequest;
      const m: KernelRequest = h.kind === 'run' && header.hasInput === true ? { ...h, input: input?.toString('utf8') ?? '' } : h;
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
