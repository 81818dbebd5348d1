// The check-results file `kube-ipvs plan --health-state` reads: per Service, the endpoint
// addresses its health checks hold down, as the daemon's checker would report them —
//   {"shop/web": ["10.244.1.5"], "default/api": []}
// so a plan shows the weights the daemon would program with those results.
import { parseIp } from '../net/ip.ts';
import type { HealthState } from './health-check.ts';

/** The state, or what is wrong with the text (naming the key or index). */
export function parseHealthState(text: string): { readonly state: HealthState } | { readonly error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: 'expected an object {"namespace/name": ["address", …]}' };
  const state = new Map<string, Set<string>>();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (!/^[^/\s]+\/[^/\s]+$/.test(key)) return { error: `"${key}": not a Service as namespace/name` };
    if (!Array.isArray(value)) return { error: `"${key}": expected a list of endpoint addresses` };
    const ips = new Set<string>();
    for (const [i, v] of (value as unknown[]).entries()) {
      const ip = typeof v === 'string' ? parseIp(v.trim()) : undefined;
      if (ip === undefined) return { error: `"${key}"[${i}]: ${JSON.stringify(v)} is not an IP address` };
      ips.add(ip.text);
    }
    if (ips.size > 0) state.set(key, ips);
  }
  return { state };
}
