// A Runner whose tools are the fake kernel in another process (bench/kernel-server.ts), over a
// Unix socket: what the bench's daemon spawns instead of ipvsadm, ipset, iptables and ip.
import { connect, type Socket } from 'node:net';
import { ToolError, type RunOptions, type RunResult, type Runner } from '../src/apply/exec.ts';
import { onFrames, writeFrame } from './frames.ts';
import type { KernelReply, KernelRequest, RunRecord } from './kernel-server.ts';

type Body = KernelRequest extends infer R ? R extends KernelRequest ? Omit<R, 'id'> : never : never;

export class SocketRunner implements Runner {
  readonly #sock: Socket;
  readonly #pending = new Map<number, { readonly resolve: (r: KernelReply & { bytes?: Buffer }) => void; readonly bytes: boolean }>();
  #next = 0;

  private constructor(sock: Socket) {
    this.#sock = sock;
    onFrames(sock, (header, [out = Buffer.alloc(0), err = Buffer.alloc(0)]) => {
      const h = header as unknown as KernelReply;
      const p = this.#pending.get(h.id);
      this.#pending.delete(h.id);
      // As a pipe: stdout decoded only when the daemon did not ask for the bytes.
      const bytes = p?.bytes === true && h.ok;
      const stdout = bytes ? '' : out.toString('utf8');
      const stderr = err.toString('utf8');
      const r: KernelReply = h.ok ? { ...h, stdout, stderr } : { ...h, error: { ...h.error, stdout, stderr } };
      p?.resolve(bytes ? { ...r, bytes: out } : r);
    });
  }

  static connect(path: string): Promise<SocketRunner> {
    return new Promise((resolve, reject) => {
      const sock = connect(path, () => { resolve(new SocketRunner(sock)); });
      sock.once('error', reject);
    });
  }

  #call(body: Body, bytes = false): Promise<KernelReply & { bytes?: Buffer }> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, bytes });
      if (body.kind === 'run' && body.input !== undefined) {
        const { input, ...h } = body;
        writeFrame(this.#sock, { id, ...h, hasInput: true }, [input]);
      } else writeFrame(this.#sock, { id, ...body }, []);
    });
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const r = await this.#call({ kind: 'run', argv, ...(opts?.input === undefined ? {} : { input: opts.input }) }, opts?.bytes === true);
    if (!r.ok) throw new ToolError({ code: r.error.code, argv: r.error.argv, ...(r.error.exitCode === undefined ? {} : { exitCode: r.error.exitCode }), stdout: r.error.stdout, stderr: r.error.stderr, ...(opts?.input === undefined ? {} : { input: opts.input }) });
    return { stdout: r.stdout, stderr: r.stderr, ...(r.bytes === undefined ? {} : { bytes: r.bytes }) };
  }

  /** A read by the bench itself (not a run the daemon made). */
  async admin(argv: readonly string[]): Promise<string> {
    const r = await this.#call({ kind: 'admin', argv });
    return r.ok ? r.stdout : '';
  }

  /** The daemon's runs from index `from`; `matched`: whether `grep` is in the batch. */
  async log(from: number, grep?: string): Promise<readonly RunRecord[]> {
    const r = await this.#call({ kind: 'log', from, ...(grep === undefined ? {} : { grep }) });
    return r.ok ? r.log ?? [] : [];
  }

  close(): void { this.#sock.end(); }
}
