// The daemon's logger as kube-proxy's logging flags shape it: --logging-format=text writes
// klog-style lines (`I1204 12:00:00.000000   4242 proxier] "first sync done" key="value"`), json
// (kube-ipvs' default) the structured pino lines; -v sets the level, --vmodule a level per component.
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { DaemonOptions } from '../config/merged.ts';

/** klog verbosity → pino level: 0-1 info, 2-4 debug, 5+ trace. */
export const levelOf = (v: number): string => (v >= 5 ? 'trace' : v >= 2 ? 'debug' : 'info');

const KLOG_SEVERITY: Readonly<Record<number, string>> = { 10: 'I', 20: 'I', 30: 'I', 40: 'W', 50: 'E', 60: 'F' };
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** A klog value: strings quoted (Go %q-like), numbers and booleans bare, the rest as JSON. */
const klogValue = (v: unknown): string => (typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v));

/** One pino JSON record as klog's text format prints a structured (InfoS) line. */
export function klogLine(record: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(record) as Record<string, unknown>;
  } catch {
    return record;
  }
  const { level, time, pid, component, msg, ...rest } = r;
  const d = new Date(typeof time === 'number' ? time : Date.now());
  const ts = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}000`;
  const sev = KLOG_SEVERITY[typeof level === 'number' ? level : 30] ?? 'I';
  const kv = Object.entries(rest).filter(([k]) => k !== 'name' && k !== 'hostname').map(([k, v]) => ` ${k}=${klogValue(v)}`).join('');
  const where = typeof component === 'string' ? component : 'kube-ipvs';
  return `${sev}${ts} ${String(typeof pid === 'number' ? pid : process.pid).padStart(7)} ${where}] ${JSON.stringify(typeof msg === 'string' ? msg : '')}${kv}\n`;
}

/** klog's vmodule glob (`*`, `?`) on a component name. */
const globMatch = (pattern: string, name: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(name);

export function createLogger(o: Pick<DaemonOptions, 'verbosity' | 'loggingFormat' | 'vmodule'>, fd = 2): Logger {
  const stream = o.loggingFormat === 'json'
    ? pino.destination({ fd, sync: true })
    : { write: (s: string): void => { writeSync(fd, klogLine(s)); } };
  return pino({
    level: levelOf(o.verbosity),
    name: 'kube-ipvs',
    base: o.loggingFormat === 'json' ? {} : { pid: process.pid },
    // --vmodule: the first pattern matching a child's component sets that child's level.
    onChild: (child) => {
      const component = (child.bindings() as { component?: unknown }).component;
      const rule = typeof component === 'string' ? o.vmodule.find((m) => globMatch(m.pattern, component)) : undefined;
      if (rule !== undefined) child.level = levelOf(rule.level);
    },
  }, stream);
}
