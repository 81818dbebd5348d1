// IP addresses and CIDRs as plain data: parsed once, compared and printed canonically.
// Pure; no DNS, no host lookups. Canonical text is what the kernel tools print
// (dotted quad for IPv4, RFC 5952 compressed lowercase for IPv6), so desired and
// observed state compare as strings.

export type Family = 4 | 6;

export interface Ip {
  readonly family: Family;
  readonly value: bigint;
  /** Canonical text, e.g. `10.96.0.10` or `fd00::a`. */
  readonly text: string;
}

export interface Cidr {
  readonly ip: Ip; // network address (host bits cleared)
  readonly prefix: number;
  readonly text: string;
}

const IPV4_PART = /^(0|[1-9][0-9]{0,2})$/;

function parseIpv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are rejected, as Kubernetes validation does (ambiguous octal).
    if (!IPV4_PART.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseHextets(s: string): bigint[] | undefined {
  if (s === '') return [];
  const out: bigint[] = [];
  const parts = s.split(':');
  for (const [i, p] of parts.entries()) {
    if (i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 === undefined) return undefined;
      out.push(v4 >> 16n, v4 & 0xffffn);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
      out.push(BigInt(`0x${p}`));
    } else {
      return undefined;
    }
  }
  return out;
}

function parseIpv6(s: string): bigint | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = parseHextets(halves[0] ?? '');
  const tail = halves.length === 2 ? parseHextets(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<bigint>(missing).fill(0n), ...tail];
  return all.reduce((acc, h) => (acc << 16n) | h, 0n);
}

function formatIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => ((v >> shift) & 0xffn).toString()).join('.');
}

function formatIpv6(v: bigint): string {
  // IPv4-mapped addresses print with a dotted tail, as inet_ntop does.
  if (v >> 32n === 0xffffn) return `::ffff:${formatIpv4(v & 0xffffffffn)}`;
  const h = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt((7 - i) * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (length ≥ 2) of zero hextets, the first one on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (h[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && h[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(h);
  return `${hex(h.slice(0, bestStart))}::${hex(h.slice(bestStart + bestLen))}`;
}

/** IPv4 on numbers (hot: every endpoint of every slice); valid input is already canonical text. */
function parseIpv4Fast(s: string): Ip | undefined {
  let v = 0;
  let octet = -1;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) { // '.'
      if (digits === 0 || ++dots > 3) return undefined;
      v = v * 256 + octet;
      octet = -1;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return undefined;
    // Leading zeros are rejected, as Kubernetes validation does (ambiguous octal).
    if (digits === 1 && octet === 0) return undefined;
    octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
    if (++digits > 3 || octet > 255) return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return { family: 4, value: BigInt(v * 256 + octet), text: s };
}

export function parseIp(s: string): Ip | undefined {
  if (s.includes(':')) {
    const v = parseIpv6(s);
    return v === undefined ? undefined : { family: 6, value: v, text: formatIpv6(v) };
  }
  return parseIpv4Fast(s);
}

const bits = (f: Family): number => (f === 4 ? 32 : 128);

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(s.slice(0, slash));
  const prefixText = s.slice(slash + 1);
  if (ip === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const width = bits(ip.family);
  if (prefix > width) return undefined;
  const hostBits = BigInt(width - prefix);
  const value = (ip.value >> hostBits) << hostBits;
  const net = ipFromValue(ip.family, value);
  return { ip: net, prefix, text: `${net.text}/${prefix}` };
}

export function ipFromValue(family: Family, value: bigint): Ip {
  return { family, value, text: family === 4 ? formatIpv4(value) : formatIpv6(value) };
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  if (c.ip.family !== ip.family) return false;
  const hostBits = BigInt(bits(ip.family) - c.prefix);
  return ip.value >> hostBits === c.ip.value >> hostBits;
}

export const isLoopback = (ip: Ip): boolean =>
  ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;

export const isIpv6LinkLocal = (ip: Ip): boolean =>
  ip.family === 6 && ip.value >> 118n === 0x3fan; // fe80::/10

/** Compare for sorting: IPv4 before IPv6, then numerically. */
export function compareIp(a: Ip, b: Ip): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** `addr:port` as ipvsadm prints it: IPv6 in brackets. */
export const hostPort = (ip: Ip, port: number): string =>
  ip.family === 6 ? `[${ip.text}]:${port}` : `${ip.text}:${port}`;

/**
 * The one `host:port` splitter (ipvsadm's output, --healthz/--metrics-bind-address, listeners):
 * an IPv6 host in brackets, any other host without `:`, `[`, `]` (maybe empty), a port 0-65535.
 * The host is not checked here: callers that need an IP parse it.
 */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  return m === null || port > 65535 ? undefined : { host: m[1] ?? m[2] ?? '', port };
}

/** `10.96.0.10:80` or `[fd00::10]:80`: an IP and a port. */
export function parseIpPort(text: string): { ip: Ip; port: number } | undefined {
  const hp = splitHostPort(text);
  const ip = hp === undefined ? undefined : parseIp(hp.host);
  return hp === undefined || ip === undefined ? undefined : { ip, port: hp.port };
}
