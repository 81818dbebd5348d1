// Reads a watch stream over plain node:http, for tests of the wire protocol itself.
import { get, type IncomingMessage } from 'node:http';
import type { WatchEvent } from './types.ts';

export class WatchReader {
  readonly events: WatchEvent[] = [];
  readonly status: number;
  #ended = false;
  #body = '';
  readonly #res: IncomingMessage;

  private constructor(res: IncomingMessage) {
    this.#res = res;
    this.status = res.statusCode ?? 0;
    let pending = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (this.status !== 200) { this.#body += chunk; return; }
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.events.push(JSON.parse(line) as WatchEvent);
    });
    res.on('close', () => { this.#ended = true; });
  }

  /** Resolves once the response headers arrived. */
  static open(url: string): Promise<WatchReader> {
    return new Promise((resolve, reject) => {
      get(url, (res) => { resolve(new WatchReader(res)); }).on('error', reject);
    });
  }

  get ended(): boolean { return this.#ended; }
  /** The body of a non-200 answer. */
  get body(): string { return this.#body; }
  types(): string[] { return this.events.map((e) => e.type); }

  async waitFor(done: (r: WatchReader) => boolean, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this)) {
      if (Date.now() > deadline) throw new Error(`watch: timed out; events so far: ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void { this.#res.destroy(); }
}
