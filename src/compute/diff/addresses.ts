// Desired kube-ipvs0 addresses vs the ones bound → binds and unbinds, on kube-ipvs0 only.
import type { Family, Ip } from '../net/ip.ts';
import type { Delta } from '../model/counted.ts';
import type { AddressChanges, InterfaceAddress } from '../../tools/ip.ts';

/** `bound`: kube-ipvs0's addresses by text, of every family (other families are left alone). */
export function diffAddresses(
  desired: readonly Ip[], bound: ReadonlyMap<string, InterfaceAddress>, linkExists: boolean, families: readonly Family[],
): AddressChanges {
  const want = new Set(desired.map((ip) => ip.text));
  const del: Ip[] = [];
  for (const a of bound.values()) if (families.includes(a.ip.family) && !want.has(a.ip.text)) del.push(a.ip);
  return { createLink: !linkExists, add: desired.filter((ip) => !bound.has(ip.text)), del };
}

/** The index's address delta → binds and unbinds, checked against what is bound: O(changed). */
export function incrementalAddressChanges(delta: Delta<Ip>, bound: ReadonlyMap<string, InterfaceAddress>, linkExists: boolean): AddressChanges {
  return {
    createLink: !linkExists,
    add: delta.added.filter((ip) => !bound.has(ip.text)),
    del: delta.removed.filter((ip) => bound.has(ip.text)),
  };
}

export const noAddressChanges = (c: AddressChanges): boolean => !c.createLink && c.add.length === 0 && c.del.length === 0;
