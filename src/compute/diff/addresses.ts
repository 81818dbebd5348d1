// Desired kube-ipvs0 addresses vs `ip -o addr` → binds and unbinds, on kube-ipvs0 only.
import type { Family, Ip } from '../net/ip.ts';
import { DUMMY_LINK, type AddressChanges, type InterfaceAddress } from '../../apply/ip.ts';

export function diffAddresses(
  desired: readonly Ip[], observed: readonly InterfaceAddress[], linkExists: boolean, families: readonly Family[],
): AddressChanges {
  const bound = observed.filter((a) => a.ifname === DUMMY_LINK && families.includes(a.ip.family));
  const want = new Set(desired.map((ip) => ip.text));
  const have = new Set(bound.map((a) => a.ip.text));
  return {
    createLink: !linkExists,
    add: desired.filter((ip) => !have.has(ip.text)),
    del: bound.filter((a) => !want.has(a.ip.text)).map((a) => a.ip),
  };
}

export const noAddressChanges = (c: AddressChanges): boolean => !c.createLink && c.add.length === 0 && c.del.length === 0;
