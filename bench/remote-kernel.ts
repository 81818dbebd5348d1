// The fake kernel in its own process, so the bench's memory figure is the daemon side alone
// (as on a real node, where the kernel's tables are not in the daemon's heap). The daemon side
// talks to it through a Runner; time spent there is tool time, not compute time.
//   forked by bench/size.ts; not meant to be run by hand
import { fork, type ChildProcess } from 'node:child_process';
import type { RunOptions, RunResult, Runner } from '../src/apply/exec.ts';

type Request = { id: number; kind: 'run' | 'admin' | 'reset'; argv: readonly string[]; input?: string };
type Outcome = { ok: true; stdout: string; stderr: string } | { ok: false; error: string };
type Reply = Outcome & { id: number };

export class RemoteKernel implements Runner {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (r: RunResult) => void; reject: (e: Error) => void }>();
  #next = 0;

  constructor() {
    this.#child = fork(import.meta.filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    this.#child.on('message', (m: Reply) => {
      const p = this.#pending.get(m.id);
      this.#pending.delete(m.id);
      if (m.ok) p?.resolve({ stdout: m.stdout, stderr: m.stderr });
      else p?.reject(new Error(m.error));
    });
  }

  #call(kind: Request['kind'], argv: readonly string[], input?: string): Promise<RunResult> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#child.send({ id, kind, argv, ...(input === undefined ? {} : { input }) } satisfies Request);
    });
  }

  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> { return this.#call('run', argv, opts?.input); }
  /** A read by the bench itself (not a process the daemon would spawn). */
  async admin(argv: readonly string[]): Promise<string> { return (await this.#call('admin', argv)).stdout; }
  /** An empty kernel again. */
  async reset(): Promise<void> { await this.#call('reset', []); }
  stop(): void { this.#child.disconnect(); }
}

if (process.argv[2] === '--serve') {
  const { FakeKernel } = await import('../test/fakes/fake-kernel.ts');
  let kernel = new FakeKernel();
  process.on('message', (m: Request) => {
    const reply = (r: Outcome): void => { process.send?.({ id: m.id, ...r }); };
    if (m.kind === 'reset') { kernel = new FakeKernel(); reply({ ok: true, stdout: '', stderr: '' }); return; }
    if (m.kind === 'admin') {
      try { reply({ ok: true, stdout: kernel.admin(m.argv), stderr: '' }); } catch (e) { reply({ ok: false, error: e instanceof Error ? e.message : String(e) }); }
      return;
    }
    kernel.run(m.argv, m.input === undefined ? {} : { input: m.input }).then(
      (r) => { reply({ ok: true, ...r }); },
      (e: unknown) => { reply({ ok: false, error: e instanceof Error ? e.message : String(e) }); },
    );
  });
}
