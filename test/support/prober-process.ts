// kube-ipvs-prober (src/native) as a child process for the tests: its output as lines, and
// `until` to wait for a line.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { PROBER_PATH } from '../../src/observe/native-prober.ts';

/** The helper with its output as lines; `until` waits for a line matching. */
export class Prober {
  readonly lines: string[] = [];
  readonly child: ChildProcessWithoutNullStreams;
  readonly #waiters: (() => void)[] = [];

  /** `env`: added to this process's (KUBE_IPVS_PROBER_IO=epoll forces the epoll path). */
  constructor(argv: readonly string[] = [PROBER_PATH], env: Readonly<Record<string, string>> = {}) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd!, args, { env: { ...process.env, ...env } });
    let text = '';
    this.child.stdout.setEncoding('utf8').on('data', (c: string) => {
      text += c;
      const parts = text.split('\n');
      text = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  send(text: string): void { this.child.stdin.write(text); }

  async until(re: RegExp, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`no line ${re} within ${ms} ms; got:\n${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => { this.#waiters.push(resolve); setTimeout(resolve, left).unref(); });
    }
  }

  /** Closes stdin: it exits 0. */
  async end(): Promise<number | null> {
    this.child.stdin.end();
    const [code] = await once(this.child, 'exit') as [number | null];
    return code;
  }
}
