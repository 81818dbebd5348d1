// iproute2's language for kube-ipvs0 and the addresses bound to it: `ip -o` one-line output and
// `ip -batch` lines. Pure: src/apply/ip.ts runs the tool.
import { parseIp, type Ip } from '../compute/net/ip.ts';

export const DUMMY_LINK = 'kube-ipvs0';

export interface InterfaceAddress {
  readonly ifname: string;
  readonly ip: Ip;
  readonly prefix: number;
}

// `3: kube-ipvs0    inet 10.96.0.10/32 scope global kube-ipvs0\       valid_lft forever …`
const ADDR_LINE = /^\d+:\s+([^\s@]+)(?:@\S+)?\s+inet6?\s+([0-9a-fA-F.:]+)\/(\d+)\s/;

/**
 * `ip -o addr show` → one entry per address; lines of other shapes are skipped, and so are
 * the interface `except`'s, before they are parsed (the node's own addresses without the
 * 10,000 on kube-ipvs0).
 */
export function parseAddrShow(text: string, except?: string): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  const skip = except === undefined ? undefined : `: ${except} `;
  for (const line of text.split('\n')) {
    if (skip !== undefined && line.includes(skip)) continue;
    const m = ADDR_LINE.exec(line);
    const ip = m?.[2] === undefined ? undefined : parseIp(m[2]);
    if (m?.[1] === undefined || ip === undefined) continue;
    out.push({ ifname: m[1], ip, prefix: Number(m[3]) });
  }
  return out;
}

// `3: kube-ipvs0: <BROADCAST,NOARP> mtu 1500 …`; veths print as `veth-be1@if2:`.
const LINK_LINE = /^\d+:\s+([^\s@:]+)(?:@[^\s:]+)?:\s/;

/** `ip -o link show` → interface names, in the kernel's order. */
export const parseLinkShow = (text: string): string[] =>
  text.split('\n').flatMap((l) => { const n = LINK_LINE.exec(l)?.[1]; return n === undefined ? [] : [n]; });

/** The addresses bound to kube-ipvs0, by address text. */
export function boundAddresses(addresses: Iterable<InterfaceAddress>): Map<string, InterfaceAddress> {
  const out = new Map<string, InterfaceAddress>();
  for (const a of addresses) if (a.ifname === DUMMY_LINK) out.set(a.ip.text, a);
  return out;
}

const hostPrefix = (ip: Ip): number => (ip.family === 4 ? 32 : 128);

// `ip -batch -` lines.
export const linkAddLine = (name = DUMMY_LINK): string => `link add ${name} type dummy`;
export const addrAddLine = (ip: Ip, dev = DUMMY_LINK): string => `addr add ${ip.text}/${hostPrefix(ip)} dev ${dev}`;
export const addrDelLine = (ip: Ip, dev = DUMMY_LINK): string => `addr del ${ip.text}/${hostPrefix(ip)} dev ${dev}`;

export interface AddressChanges {
  /** Create kube-ipvs0 first (it is absent). */
  readonly createLink: boolean;
  readonly add: readonly Ip[];
  readonly del: readonly Ip[];
}

/** One batch; deletions first so a re-added address never collides with its old self. */
export function formatIpBatch(c: AddressChanges): string {
  const lines = [
    ...(c.createLink ? [linkAddLine()] : []),
    ...c.del.map((ip) => addrDelLine(ip)),
    ...c.add.map((ip) => addrAddLine(ip)),
  ];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
