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
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': return `a string ("${v.length > 40 ? `${v.slice(0, 40)}…` : v}")`;
    case 'number': return `a number (${String(v)})`;
    case 'boolean': return `a boolean (${String(v)})`;
    case 'object': return 'an object';
    case 'undefined': case 'bigint': case 'function': case 'symbol': return typeof v; // not from JSON or YAML
  }
  return typeof v;
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

  wrong(field: string, expected: string, v: unknown): void {
    if (this.#problems.length < MAX_PROBLEMS) this.#problems.push({ field, message: `expected ${expected}, got ${describe(v)}` });
    else this.#more++;
  }

  /** `v` when it passes `is`; absent when null or undefined (as Go's JSON decoding reads an
   *  optional field); else a problem, and absent. */
  #read<T>(v: unknown, field: string, expected: string, is: (x: unknown) => x is T): T | undefined {
    if (v === undefined || v === null) return undefined;
    if (is(v)) return v;
    this.wrong(field, expected, v);
    return undefined;
  }

  str(v: unknown, field: string): string | undefined { return this.#read(v, field, 'a string', isString); }
  num(v: unknown, field: string): number | undefined { return this.#read(v, field, 'a number', isNumber); }
  bool(v: unknown, field: string): boolean | undefined { return this.#read(v, field, 'true or false', isBoolean); }
  obj(v: unknown, field: string): JsonRecord | undefined { return this.#read(v, field, 'an object', isRecord); }

  /** A list whose items are read by `item`; a null or wrongly typed item is a problem. */
  list<T>(v: unknown, field: string, item: (x: unknown, field: string) => T | undefined): T[] | undefined {
    const xs = this.#read(v, field, 'a list', Array.isArray);
    if (xs === undefined) return undefined;
    const out: T[] = [];
    for (let i = 0; i < xs.length; i++) {
      const x: unknown = xs[i];
      const f = `${field}[${String(i)}]`;
      if (x === null || x === undefined) {
        this.wrong(f, 'a value', x);
        continue;
      }
      const read = item(x, f);
      if (read !== undefined) out.push(read);
    }
    // push() leaves spare capacity (17 slots for one address): an exact copy is what is kept.
    return out.slice();
  }

  strings(v: unknown, field: string): string[] | undefined {
    return this.list(v, field, (x, f) => this.#read(x, f, 'a string', isString));
  }

  /** A list of objects, each read by `fields`. */
  objects<T>(v: unknown, field: string, fields: (o: JsonRecord, field: string) => T): T[] | undefined {
    return this.list(v, field, (x, f) => {
      const o = this.#read(x, f, 'an object', isRecord);
      return o === undefined ? undefined : fields(o, f);
    });
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
