// Reads untrusted JSON (an API server's list or watch event, a user's YAML) field by field:
// each read checks the JSON type and, when it is wrong, records a problem naming the field and
// reads the field as absent. Nothing here throws, whatever the input.
import type { FieldProblem } from './objects.ts';

/** Beyond this many problems per object only a count is kept (a 100,000-element list of nulls
 *  must not become 100,000 warnings and Events). */
const MAX_PROBLEMS = 10;

export type JsonRecord = Readonly<Record<string, unknown>>;

export const isRecord = (v: unknown): v is JsonRecord =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': return `a string ("${v.length > 40 ? `${v.slice(0, 40)}…` : v}")`;
    case 'number': return `a number (${String(v)})`;
    case 'boolean': return `a boolean (${String(v)})`;
    case 'object': return 'an object';
    default: return typeof v;
  }
}

export class FieldReader {
  readonly #problems: FieldProblem[] = [];
  #more = 0;

  /** The problems found, or undefined when there were none. */
  get problems(): readonly FieldProblem[] | undefined {
    if (this.#problems.length === 0) return undefined;
    if (this.#more === 0) return this.#problems;
    return [...this.#problems, { field: '…', message: `${String(this.#more)} more wrongly typed fields not listed` }];
  }

  wrong(field: string, expected: string, v: unknown): undefined {
    if (this.#problems.length < MAX_PROBLEMS) this.#problems.push({ field, message: `expected ${expected}, got ${describe(v)}` });
    else this.#more++;
    return undefined;
  }

  // null reads as absent everywhere, as Go's JSON decoding of an optional field does.
  str(v: unknown, field: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.wrong(field, 'a string', v);
  }

  num(v: unknown, field: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' ? v : this.wrong(field, 'a number', v);
  }

  bool(v: unknown, field: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : this.wrong(field, 'true or false', v);
  }

  obj(v: unknown, field: string): JsonRecord | undefined {
    if (v === undefined || v === null) return undefined;
    return isRecord(v) ? v : this.wrong(field, 'an object', v);
  }

  /** A list whose items are read by `item`; a null or wrongly typed item is a problem. */
  list<T>(v: unknown, field: string, item: (x: unknown, field: string) => T | undefined): T[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.wrong(field, 'a list', v);
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      const f = `${field}[${String(i)}]`;
      const read = x === null || x === undefined ? this.wrong(f, 'a value', x) : item(x, f);
      if (read !== undefined) out.push(read);
    }
    return out;
  }

  strings(v: unknown, field: string): string[] | undefined {
    return this.list(v, field, (x, f) => (typeof x === 'string' ? x : this.wrong(f, 'a string', x)));
  }

  /** A list of objects, each read by `fields`. */
  objects<T>(v: unknown, field: string, fields: (o: JsonRecord, field: string) => T): T[] | undefined {
    return this.list(v, field, (x, f) => (isRecord(x) ? fields(x, f) : this.wrong(f, 'an object', x)));
  }

  /** A string map (labels, annotations); with `keep`, only those keys are read and kept. */
  stringMap(v: unknown, field: string, keep?: readonly string[]): Record<string, string> | undefined {
    const o = this.obj(v, field);
    if (o === undefined) return undefined;
    const out: Record<string, string> = {};
    let any = false;
    for (const k of keep ?? Object.keys(o)) {
      const value = this.str(o[k], `${field}[${k}]`);
      if (value !== undefined) { out[k] = value; any = true; }
    }
    return any || keep === undefined ? out : undefined;
  }
}
