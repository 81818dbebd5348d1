// The fake kernel (test/fakes/fake-kernel.ts) as a process of its own, serving the daemon's tool
// runs over a Unix socket (bench/socket-runner.ts), so the daemon's memory and CPU figures are
// its own and the tools' time is measured apart. It logs every run: when the batch arrived,
// how long the tool took, and the batch, so the bench can see when a change reached a tool.
//
// The two large dumps (`ipvsadm -Sn`, `ipset save`: tens of MB at 50,000 Services) are produced
// in chunks of CHUNK_MS, yielding between them, so a batch sent during a dump is received — and
// stamped — on arrival and applied between two chunks, as a real kernel runs `ipvsadm -R` beside
// an `ipvsadm -Sn` (and, as there, a dump may show a change made while it runs). A run's tool
// time (`busy`) is the time this process worked on it: a dump's chunks, not the batches served
// in between, so overlapping runs are never counted twice.
//   node bench/kernel-server.ts SOCKET   (started by bench/realistic.ts; prints "ready")
import { createServer } from 'node:net';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { ToolError } from '../src/apply/exec.ts';
import { FakeKernel } from '../test/fakes/fake-kernel.ts';
import { ipvsSaveLines } from '../test/fakes/fake-ipvs-print.ts';
import { onFrames, writeFrame, type Body } from './frames.ts';

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
  /** Ms this process worked on the run (≤ done − at: other runs may be served meanwhile). */
  readonly busy: number;
  /** Whether `grep` of a `log` request occurs in the batch input. */
  readonly matched?: boolean;
}

export type KernelReply =
  | { readonly id: number; readonly ok: true; readonly stdout: string; readonly stderr: string; readonly log?: readonly RunRecord[] }
  | { readonly id: number; readonly ok: false; readonly error: { code: ToolError['code']; argv: readonly string[]; exitCode?: number; stdout: string; stderr: string; message: string } };

const now = (): number => performance.timeOrigin + performance.now();

const CHUNK_MS = 2;

/** A dump's lines in chunks of CHUNK_MS, yielding between them; its text as pieces, and the time worked on it. */
async function chunked(lines: Iterator<string>): Promise<{ readonly pieces: string[]; readonly busy: number }> {
  const pieces: string[] = [];
  let busy = 0;
  for (;;) {
    const start = now();
    const part: string[] = [];
    let end = false;
    while (!end && now() - start < CHUNK_MS) {
      for (let i = 0; i < 200; i++) {
        const n = lines.next();
        if (n.done === true) { end = true; break; }
        part.push(n.value);
      }
    }
    if (part.length > 0) pieces.push(`${part.join('\n')}\n`);
    busy += now() - start;
    if (end) return { pieces, busy };
    await yieldToEvents();
  }
}

if (import.meta.filename === process.argv[1]) {
  const kernel = new FakeKernel();
  const runs: { tool: string; at: number; done: number; busy: number; input: string }[] = [];
  // The dumps served in chunks (the others are small, or batches: applied in one go).
  const dumps: Readonly<Record<string, () => Iterator<string>>> = {
    'ipvsadm -Sn': () => ipvsSaveLines(kernel.ipvs),
    'ipset save': () => kernel.ipset.saveLines(),
  };
  const server = createServer((sock) => {
    // As the reply is read (socket-runner.ts), but a dump's stdout may go in pieces.
    const send = (r: KernelReply | { readonly id: number; readonly ok: true; readonly stdout: Body; readonly stderr: string }): void => {
      if (r.ok) { const { stdout, stderr, ...h } = r; writeFrame(sock, h, [stdout, stderr]); return; }
      const { stdout, stderr, ...e } = r.error;
      writeFrame(sock, { id: r.id, ok: false, error: e }, [stdout, stderr]);
    };
    onFrames(sock, (header, [input]) => {
      const h = header as KernelRequest;
      const m: KernelRequest = h.kind === 'run' && header.hasInput === true ? { ...h, input: input?.toString('utf8') ?? '' } : h;
      if (m.kind === 'log') {
        const grep = m.grep;
        send({ id: m.id, ok: true, stdout: '', stderr: '', log: runs.slice(m.from).map((r) => ({ tool: r.tool, at: r.at, done: r.done, busy: r.busy, ...(grep === undefined ? {} : { matched: r.input.includes(grep) }) })) });
        return;
      }
      if (m.kind === 'admin') { send({ id: m.id, ok: true, stdout: kernel.admin(m.argv), stderr: '' }); return; }
      const at = now();
      const tool = m.argv.join(' ').slice(0, 40);
      const dump = m.input === undefined ? dumps[m.argv.join(' ')] : undefined;
      if (dump !== undefined) {
        void chunked(dump()).then(({ pieces, busy }) => {
          runs.push({ tool, at, done: now(), busy, input: '' });
          send({ id: m.id, ok: true, stdout: pieces, stderr: '' });
        });
        return;
      }
      kernel.run(m.argv, m.input === undefined ? {} : { input: m.input }).then(
        (r) => { const done = now(); runs.push({ tool, at, done, busy: done - at, input: m.input ?? '' }); send({ id: m.id, ok: true, ...r }); },
        (e: unknown) => {
          const done = now();
          runs.push({ tool, at, done, busy: done - at, input: m.input ?? '' });
          const t = e instanceof ToolError ? e : new ToolError({ code: 'TOOL_FAILED', argv: m.argv, stderr: String(e) });
          send({ id: m.id, ok: false, error: { code: t.code, argv: t.argv, ...(t.exitCode === undefined ? {} : { exitCode: t.exitCode }), stdout: t.stdout, stderr: t.stderr, message: t.message } });
        },
      );
    });
  });
  server.listen(process.argv[2], () => { process.stdout.write('ready\n'); });
  process.on('SIGTERM', () => { server.close(); process.exit(0); });
}
