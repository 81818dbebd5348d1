// A Kubernetes List answer split into its items as the bytes arrive, each item's JSON text handed
// on alone. One JSON.parse of a whole page built the raw tree of every item at once (managedFields,
// last-applied annotations and all) and kept it alive while the items were decoded, long enough
// for V8 to promote much of it to the old generation; parsed one at a time, an item's raw tree
// dies young (heap used after the first sync at 10,000 Services: 190-204 MiB before, 107-184 MiB
// after, docs/benchmarks.md). A kube-apiserver serving the first list from its watch cache
// may ignore `limit` and send everything in one answer: neither its text nor its tree is then
// ever whole in memory.
//
// Only the structure is scanned (strings, brackets, commas): each item is then checked by
// JSON.parse, and so is the rest of the answer (`skeleton`: the list with an empty items array).
// UTF-8 continuation bytes are never ASCII, so scanning bytes is safe with any text.
//
// An item's `metadata.managedFields` is handed on empty (`[]`), and so is each endpoint's
// `targetRef` in an EndpointSlice's `endpoints` (`{}`): nothing in kube-ipvs reads them, and they
// are two fifths of a realistic EndpointSlice's bytes and of a Service's, parsed into trees of
// small objects only to be dropped by the decoder. Their brackets are still scanned (balanced),
// their content is neither parsed nor checked.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COLON = 0x3a;
const ITEMS = Buffer.from('"items"');
const METADATA = Buffer.from('"metadata"');
const MANAGED_FIELDS = Buffer.from('"managedFields"');
const ENDPOINTS = Buffer.from('"endpoints"');
const TARGET_REF = Buffer.from('"targetRef"');

/** Where a key the scanner looks for stands: just read, or followed by its ':'. */
const KEY = { none: 0, metadata: 1, metadataColon: 2, managed: 3, managedColon: 4, endpoints: 5, endpointsColon: 6, targetRef: 7, targetRefColon: 8 } as const;

export class ListSyntaxError extends Error {
  readonly code = 'LIST_SYNTAX';
  constructor(message: string) {
    super(message);
    this.name = 'ListSyntaxError';
  }
}

const isSpace = (b: number): boolean => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

export class ListItems {
  readonly #onItem: (json: string) => void;
  /**
   * Bytes from `#start` on are not handed on yet: outside the items array, the skeleton (small:
   * kind, apiVersion, metadata); inside it, the element being read.
   */
  #buf: Buffer = Buffer.alloc(0);
  /** Where scanning resumes in #buf. */
  #pos = 0;
  /** Start in #buf of the text not yet consumed (an item being read, or skeleton text). */
  #start = 0;
  #depth = 0;
  #inString = false;
  /** Start of the last string at depth 1, 3 or 4 (a key, when an array or object follows it). */
  #lastString = -1;
  /** An item's `metadata` or `endpoints` key, or in them `managedFields` or `targetRef`, just read (KEY). */
  #key: number = KEY.none;
  /** Inside an item's metadata object (depth 4). */
  #inMetadata = false;
  /** Inside an item's endpoints array (depth 4; its elements at depth 5). */
  #inEndpoints = false;
  /** The depth of the bracket whose content is being left out. */
  #skipDepth = 0;
  /** Start in #buf of the managedFields array's content being left out, or -1. */
  #skipFrom = -1;
  /** [from, to) pairs in #buf left out of the current item. */
  #cuts: number[] = [];
  #lastStringIsItems = false;
  /** Inside the items array (depth 2 is its elements' level). */
  #inItems = false;
  #itemsDone = false;
  /** The answer up to its items array's '[' (the rest stays in #buf after the items). */
  readonly #skeleton: Buffer[] = [];
  /** Elements of the items array handed on. */
  #count = 0;

  constructor(onItem: (json: string) => void) {
    this.#onItem = onItem;
  }

  push(chunk: Uint8Array): void {
    // Keep only what is not consumed yet, then the new bytes.
    const rest = this.#buf.subarray(this.#start);
    this.#buf = rest.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([rest, chunk]);
    this.#pos -= this.#start;
    if (this.#lastString >= 0) this.#lastString -= this.#start;
    if (this.#skipFrom >= 0) this.#skipFrom -= this.#start;
    for (let k = 0; k < this.#cuts.length; k++) this.#cuts[k] = (this.#cuts[k] ?? 0) - this.#start;
    this.#start = 0;
    this.#scan();
  }

  /** The answer without its items (`"items":[]`), parsed; throws ListSyntaxError if it is not JSON. */
  end(): unknown {
    if (this.#inItems || this.#inString || this.#depth !== 0) throw new ListSyntaxError('the answer ends inside the list');
    const text = Buffer.concat([...this.#skeleton, this.#buf.subarray(this.#start)]).toString('utf8');
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new ListSyntaxError(`the answer is not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #scan(): void {
    const b = this.#buf;
    const n = b.length;
    let i = this.#pos;
    while (i < n) {
      if (this.#inString) {
        // A byte loop: strings are mostly short keys, where Buffer.indexOf costs more per call
        // than it saves. An escape skips the byte after it (past the end: in the next chunk).
        let c = b[i] ?? 0;
        while (c !== QUOTE) {
          i += c === BACKSLASH ? 2 : 1;
          if (i >= n) break;
          c = b[i] ?? 0;
        }
        if (i >= n) break;
        this.#inString = false;
        const d = this.#depth;
        if (d === 1) this.#lastStringIsItems = this.#is(ITEMS, i + 1);
        else if (d === 3 && this.#inItems) this.#key = this.#is(METADATA, i + 1) ? KEY.metadata : this.#is(ENDPOINTS, i + 1) ? KEY.endpoints : KEY.none;
        else if (d === 4 && this.#inMetadata) this.#key = this.#is(MANAGED_FIELDS, i + 1) ? KEY.managed : KEY.none;
        else if (d === 5 && this.#inEndpoints) this.#key = this.#is(TARGET_REF, i + 1) ? KEY.targetRef : KEY.none;
        i++;
        continue;
      }
      const c = b[i] ?? 0;
      if (c === QUOTE) {
        this.#inString = true;
        const d = this.#depth;
        if (d === 1 || ((d === 3 || d === 4 || d === 5) && this.#inItems)) this.#lastString = i;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        this.#depth++;
        if (this.#key !== KEY.none) this.#open(c, i);
        if (c === OPEN_ARRAY && this.#depth === 2 && this.#lastStringIsItems && !this.#itemsDone) this.#enterItems(i);
      } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
        if (this.#inItems && this.#depth === 2) this.#leaveItems(i);
        if (this.#skipFrom >= 0 && this.#depth === this.#skipDepth) { this.#cuts.push(this.#skipFrom, i); this.#skipFrom = -1; }
        if (this.#depth === 4) { this.#inMetadata = false; this.#inEndpoints = false; }
        this.#depth--;
        this.#key = KEY.none;
        if (this.#depth < 0) throw new ListSyntaxError('unbalanced brackets');
      } else if (c === COMMA) {
        this.#key = KEY.none;
        if (this.#inItems && this.#depth === 2) {
          this.#item(i, false);
          this.#start = i + 1;
        }
      } else if (c === COLON && (this.#key & 1) === 1) {
        this.#key++;
      }
      i++;
    }
    this.#pos = i;
  }

  /** Whether the string ending before `end` (started at #lastString) is `key`, quotes included. */
  #is(key: Buffer, end: number): boolean {
    return end - this.#lastString === key.length && this.#buf.compare(key, 0, key.length, this.#lastString, end) === 0;
  }

  /** A bracket opened (depth already counted) right after one of the keys looked for and its ':'. */
  #open(c: number, i: number): void {
    const d = this.#depth;
    if (this.#key === KEY.metadataColon && c === OPEN_OBJECT && d === 4) this.#inMetadata = true;
    else if (this.#key === KEY.endpointsColon && c === OPEN_ARRAY && d === 4) this.#inEndpoints = true;
    else if ((this.#key === KEY.managedColon && c === OPEN_ARRAY && d === 5) || (this.#key === KEY.targetRefColon && c === OPEN_OBJECT && d === 6)) {
      this.#skipFrom = i + 1;
      this.#skipDepth = d;
    }
    this.#key = KEY.none;
  }

  #enterItems(i: number): void {
    // The skeleton keeps everything up to and including '['.
    this.#skeleton.push(Buffer.from(this.#buf.subarray(this.#start, i + 1)));
    this.#start = i + 1;
    this.#inItems = true;
    this.#lastString = -1;
  }

  #leaveItems(i: number): void {
    this.#item(i, true);
    this.#inItems = false;
    this.#itemsDone = true;
    this.#start = i; // ']' and what follows are skeleton again
  }

  /** The element from #start to `end` (exclusive). Only whitespace: an empty list, or no JSON. */
  #item(end: number, last: boolean): void {
    let s = this.#start;
    let e = end;
    while (s < e && isSpace(this.#buf[s] ?? 0)) s++;
    while (e > s && isSpace(this.#buf[e - 1] ?? 0)) e--;
    if (s === e) {
      if (last && this.#count === 0) return;
      throw new ListSyntaxError('an empty element in the items array');
    }
    this.#count++;
    if (this.#cuts.length === 0) { this.#onItem(this.#buf.toString('utf8', s, e)); return; }
    let text = '';
    let at = s;
    for (let k = 0; k + 1 < this.#cuts.length; k += 2) {
      text += this.#buf.toString('utf8', at, this.#cuts[k]);
      at = this.#cuts[k + 1] ?? e;
    }
    this.#cuts = [];
    this.#onItem(text + this.#buf.toString('utf8', at, e));
  }
}
