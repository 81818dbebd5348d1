// The machine-readable form of a plan (`--output json`); its shape is documented in README.md.
import type { ComputeResult } from '../model/compute-desired.ts';
import { jumpRuleText, type IptablesState } from '../model/iptables.ts';
import { formatTable } from '../../tools/iptables.ts';

const iptablesJson = (s: IptablesState): object => ({
  jumps: s.jumps.map((j) => ({ table: j.table, rule: jumpRuleText(j) })),
  nat: { chains: s.nat.chains, rules: s.nat.rules },
  filter: { chains: s.filter.chains, rules: s.filter.rules },
  restore: [...formatTable(s, 'nat', false), ...formatTable(s, 'filter', false)].join('\n'),
});

export function planJson(r: ComputeResult): object {
  const d = r.desired;
  return {
    virtualServers: [...d.virtualServers.values()].map((vs) => ({
      protocol: vs.protocol,
      address: vs.ip.text,
      port: vs.port,
      scheduler: vs.scheduler,
      schedulerFlags: vs.schedulerFlags,
      persistenceTimeout: vs.persistence ?? null,
      kind: vs.kind,
      service: vs.service,
      realServers: vs.realServers.map((rs) => ({ address: rs.ip.text, port: rs.port, weight: rs.weight, forwarding: 'masq' })),
    })),
    addresses: d.addresses.map((ip) => ip.text),
    ipsets: d.ipsets.map((s) => ({ name: s.name, type: s.type, family: s.family === 4 ? 'inet' : 'inet6', entries: s.entries })),
    iptables: Object.fromEntries(d.iptables.map((s) => [s.family === 4 ? 'ipv4' : 'ipv6', iptablesJson(s)])),
    healthCheckNodePorts: d.healthChecks,
    noLocalEndpoints: d.noLocalEndpoints,
    warnings: r.warnings,
    ignored: r.ignored,
  };
}
