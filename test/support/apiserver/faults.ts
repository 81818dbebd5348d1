// Fault injection and request accounting. Requests are described as `VERB PATH?QUERY`
// (e.g. `list /api/v1/services?labelSelector=…`) so one pattern can name a verb, a path or both.
import type { Verb } from './types.ts';

interface FailRule { readonly match: RegExp | string; readonly status: number; remaining: number }

export interface RequestRecord {
  readonly verb: Verb | 'other';
  /** `VERB PATH?QUERY`, what failNext and requests() match on. */
  readonly description: string;
  /** The resource's plural (`services`, `endpointslices`, `nodes`, `events`); '' for other paths. */
  readonly resource?: string;
  /** Query parameters as sent (resourceVersion, limit, timeoutSeconds, labelSelector…). */
  readonly query?: Readonly<Record<string, string>>;
  /** Date.now() when the request arrived. */
  readonly at?: number;
}

export class Faults {
  #rules: FailRule[] = [];
  #held: (() => void)[] | undefined;
  readonly log: RequestRecord[] = [];

  /** The next `times` requests whose description matches answer `status` (a Status body). */
  failNext(match: RegExp | string, status: number, times: number): void {
    this.#rules.push({ match, status, remaining: times });
  }

  /** Records the request and returns the status it must fail with, if a rule says so. */
  admit(record: RequestRecord): number | undefined {
    this.log.push(record);
    const rule = this.#rules.find((r) => r.remaining > 0 &&
      (typeof r.match === 'string' ? record.description.includes(r.match) : r.match.test(record.description)));
    if (rule === undefined) return undefined;
    rule.remaining--;
    return rule.status;
  }

  /** Requests per resource plural, optionally of one verb. */
  perResource(verb?: Verb): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.log) {
      if (verb !== undefined && r.verb !== verb) continue;
      const k = r.resource ?? '';
      out.set(k, (out.get(k) ?? 0) + 1);
    }
    return out;
  }

  count(verb?: Verb, match?: RegExp | string): number {
    return this.log.filter((r) => (verb === undefined || r.verb === verb) && (match === undefined ||
      (typeof match === 'string' ? r.description.includes(match) : match.test(r.description)))).length;
  }

  pause(): void {
    this.#held ??= [];
  }

  /** Runs the held requests in arrival order. */
  resume(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const run of held) run();
  }

  /** Holds `run` while paused; returns false if it should run now. */
  hold(run: () => void): boolean {
    if (this.#held === undefined) return false;
    this.#held.push(run);
    return true;
  }

  /** Forgets held requests (their sockets are closed by the server's stop). */
  dropHeld(): void {
    if (this.#held !== undefined) this.#held = [];
  }
}
