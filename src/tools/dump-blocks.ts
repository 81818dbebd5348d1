// The large dumps cut into blocks of one kernel object each — an IPVS virtual server with its
// real servers (`ipvsadm -Sn`), one ipset with its members (`ipset save`), kube-ipvs0's address
// lines (`ip -o addr show`) — each with a digest of its bytes, as the tool printed them. A
// periodic resync compares these digests with the ones it recorded and parses only the blocks
// that differ: drift anywhere changes some block's bytes, so it is still found. Pure, on bytes:
// nothing is decoded that is only hashed.
import { hash } from 'node:crypto';

export interface Block {
  /** The object: the service argument (`-t 10.96.0.10:80`), the set's name; '' for lines before the first one. */
  readonly id: string;
  readonly digest: string;
  /** Byte range in the dump. */
  readonly start: number;
  readonly end: number;
}

/** A block's digest; of a string, the digest of its UTF-8 bytes (as the tool would print it). */
export const digestOf = (bytes: Uint8Array | string): string => hash('sha256', bytes, 'base64');

const NL = 10;
const SPACE = 32;

/**
 * Cuts `dump` before every line that starts with `head`; a block's id is the text after
 * `head` up to the `words`-th space (the rest of the line when there is none).
 */
function* cut(dump: Buffer, head: string, words: number): Generator<Block> {
  const marker = Buffer.from(`\n${head}`);
  let start = dump.subarray(0, head.length).toString('latin1') === head ? 0 : -1;
  if (start < 0) {
    const first = dump.indexOf(marker);
    const preamble = first < 0 ? dump.length : first + 1;
    if (preamble > 0) yield { id: '', digest: digestOf(dump.subarray(0, preamble)), start: 0, end: preamble };
    if (first < 0) return;
    start = first + 1;
  }
  while (start < dump.length) {
    const next = dump.indexOf(marker, start);
    const end = next < 0 ? dump.length : next + 1;
    const nl = dump.indexOf(NL, start);
    const lineEnd = nl < 0 || nl > end ? end : nl;
    let idEnd = lineEnd;
    for (let w = 0, pos = start + head.length; w < words; w++) {
      const sp = dump.indexOf(SPACE, pos);
      if (sp < 0 || sp >= lineEnd) { idEnd = lineEnd; break; }
      idEnd = sp;
      pos = sp + 1;
    }
    yield { id: dump.toString('utf8', start + head.length, idEnd), digest: digestOf(dump.subarray(start, end)), start, end };
    start = end;
  }
}

/** `ipvsadm -Sn`: one block per `-A` line and the `-a` lines after it; id `-t 10.96.0.10:80`. */
export const ipvsBlocks = (dump: Buffer): Block[] => [...cut(dump, '-A ', 2)];

/** ipvsBlocks one at a time: a resync's verification cuts, hashes and parses in slices. */
export const eachIpvsBlock = (dump: Buffer): Generator<Block> => cut(dump, '-A ', 2);

/** `ipset save`: one block per `create` line and the `add` lines after it; id the set's name. */
export const ipsetBlocks = (dump: Buffer): Block[] => [...cut(dump, 'create ', 1)];

/**
 * The byte ranges of `ip -o addr show` lines that are `ifname`'s (`5: kube-ipvs0    inet …`),
 * adjacent lines merged: one range when they follow each other, as `ip` prints an interface's
 * addresses together.
 */
function linkLineRuns(dump: Buffer, ifname: string): readonly (readonly [number, number])[] {
  // A resync looks for them twice in the same dump: its verification and the node's addresses.
  const memo = runsMemo.get(dump);
  if (memo?.ifname === ifname) return memo.runs;
  const runs = findRuns(dump, ifname);
  runsMemo.set(dump, { ifname, runs });
  return runs;
}

const runsMemo = new WeakMap<Buffer, { readonly ifname: string; readonly runs: readonly (readonly [number, number])[] }>();

function findRuns(dump: Buffer, ifname: string): [number, number][] {
  const needle = Buffer.from(`: ${ifname} `);
  const runs: [number, number][] = [];
  let runStart = -1;
  let runEnd = -1;
  for (let at = dump.indexOf(needle); at >= 0; at = dump.indexOf(needle, at + needle.length)) {
    const lineStart = dump.lastIndexOf(NL, at) + 1;
    // Only the index before the name: `12: kube-ipvs0 `, not a label or a name ending in it.
    let digits = lineStart < at;
    for (let i = lineStart; i < at && digits; i++) { const c = dump[i] ?? 0; digits = c >= 48 && c <= 57; }
    if (!digits) continue;
    const nl = dump.indexOf(NL, at);
    const lineEnd = nl < 0 ? dump.length : nl + 1;
    if (lineStart !== runEnd) {
      if (runStart >= 0) runs.push([runStart, runEnd]);
      runStart = lineStart;
    }
    runEnd = lineEnd;
    at = lineEnd - needle.length;
  }
  if (runStart >= 0) runs.push([runStart, runEnd]);
  return runs;
}

const joined = (dump: Buffer, ranges: readonly (readonly [number, number])[]): Buffer => {
  const parts = ranges.filter(([a, b]) => b > a).map(([a, b]) => dump.subarray(a, b));
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
};

/**
 * The lines of `ip -o addr show` that are `ifname`'s, as bytes (a view of the dump when they
 * follow each other), and their digest. Other interfaces' lines are left out: their lifetimes
 * count down.
 */
export function linkAddressLines(dump: Buffer, ifname: string): { readonly lines: Buffer; readonly digest: string } {
  const lines = joined(dump, linkLineRuns(dump, ifname));
  return { lines, digest: digestOf(lines) };
}

/**
 * Every line of `ip -o addr show` but `ifname`'s, as bytes: the node's own addresses without
 * kube-ipvs0's one line per Service IP (12,500 lines at 10,000 Services), never decoded.
 */
export function otherAddressLines(dump: Buffer, ifname: string): Buffer {
  const gaps: [number, number][] = [];
  let from = 0;
  for (const [a, b] of linkLineRuns(dump, ifname)) { gaps.push([from, a]); from = b; }
  gaps.push([from, dump.length]);
  return joined(dump, gaps);
}
