// kube-proxy flags that kube-ipvs accepts (so kubeadm, kops, kubespray and systemd units keep
// working) but that cannot change what it does. Each given one gets one warning at start, saying
// why. Adding a flag here is the whole change: it is registered, parsed and warned about from
// this table (the flags kube-ipvs implements live in proxy-flags.ts and daemon-flags.ts).
import { Option, type Command } from 'commander';
import { parseDuration } from '../compute/duration.ts';
import { FlagError, parseBool } from './proxy-flags.ts';

export type InertValue = 'string' | 'bool' | 'int' | 'float' | 'duration' | 'map';

export interface InertFlag {
  readonly flag: string;
  readonly value: InertValue;
  readonly why: string;
}

const IPVS_MODE = 'kube-proxy uses it only in iptables mode; kube-ipvs is IPVS mode (use the --ipvs-* flag)';

export const INERT_FLAGS: readonly InertFlag[] = [
  { flag: '--iptables-sync-period', value: 'duration', why: IPVS_MODE },
  { flag: '--iptables-min-sync-period', value: 'duration', why: IPVS_MODE },
  { flag: '--iptables-localhost-nodeports', value: 'bool', why: 'kube-proxy applies it only in iptables mode; in IPVS mode NodePorts are never reachable on localhost' },
  { flag: '--config-sync-period', value: 'duration', why: 'kube-ipvs\' informers have no periodic resync; the full resync every --ipvs-sync-period re-reads the kernel instead' },
  { flag: '--kube-api-qps', value: 'float', why: 'kube-ipvs makes no client-side rate-limited requests: one list and watch per resource, and a few Events' },
  { flag: '--kube-api-burst', value: 'int', why: 'kube-ipvs makes no client-side rate-limited requests: one list and watch per resource, and a few Events' },
  { flag: '--kube-api-content-type', value: 'string', why: 'kube-ipvs always talks JSON to the API server (its client has no protobuf)' },
  { flag: '--feature-gates', value: 'map', why: 'kube-ipvs has no feature gates: every behaviour it implements is always on' },
  { flag: '--bind-address-hard-fail', value: 'bool', why: 'kube-ipvs retries a health or metrics port in use (proxying goes on) and exits on any other bind error, whatever this says' },
  { flag: '--profiling', value: 'bool', why: 'Go\'s /debug/pprof has no equivalent in kube-ipvs (use node --inspect or --cpu-prof)' },
  { flag: '--show-hidden-metrics-for-version', value: 'string', why: 'kube-ipvs hides no deprecated metrics' },
  { flag: '--log-flush-frequency', value: 'duration', why: 'kube-ipvs writes each log line at once; there is no buffer to flush' },
  { flag: '--log-text-split-stream', value: 'bool', why: 'all log lines go to stderr' },
  { flag: '--log-text-info-buffer-size', value: 'string', why: 'kube-ipvs writes each log line at once; there is no buffer' },
  { flag: '--log-json-split-stream', value: 'bool', why: 'all log lines go to stderr' },
  { flag: '--log-json-info-buffer-size', value: 'string', why: 'kube-ipvs writes each log line at once; there is no buffer' },
  { flag: '--boot-id-file', value: 'string', why: 'a Go library flag kube-proxy registers but never reads' },
  { flag: '--machine-id-file', value: 'string', why: 'a Go library flag kube-proxy registers but never reads' },
];

/** The one warning a given inert flag gets. */
export const inertWarning = (f: InertFlag): string => `${f.flag} has no effect in kube-ipvs: ${f.why}`;

/** Commander's attribute name of a long flag: --kube-api-qps → kubeApiQps. */
export const attributeOf = (flag: string): string => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function parser(f: InertFlag): (v: string) => unknown {
  const bad = (v: string, what: string): FlagError => new FlagError(`${f.flag}: "${v}" is not ${what}`);
  switch (f.value) {
    case 'string': return (v) => v;
    case 'bool': return parseBool(f.flag);
    case 'int': return (v) => { if (!/^-?\d+$/.test(v)) throw bad(v, 'an integer'); return Number(v); };
    case 'float': return (v) => { if (v.trim() === '' || !Number.isFinite(Number(v))) throw bad(v, 'a number'); return Number(v); };
    case 'duration': return (v) => { if (parseDuration(v) === undefined) throw bad(v, 'a duration (e.g. 30s, 1m0s)'); return v; };
    case 'map': return (v) => {
      // pflag's mapStringBool: key=bool pairs, comma-separated.
      for (const kv of v.split(',').filter((s) => s.trim() !== '')) {
        const [k = '', b = ''] = kv.split('=');
        if (k.trim() === '' || !/^(true|false)$/i.test(b.trim())) throw bad(v, 'a list of key=true|false pairs');
      }
      return v;
    };
  }
}

export function addInertFlags(cmd: Command): Command {
  for (const f of INERT_FLAGS) {
    cmd.addOption(new Option(f.value === 'bool' ? `${f.flag} [bool]` : `${f.flag} <value>`, `accepted for kube-proxy compatibility; no effect: ${f.why}`)
      .argParser(parser(f)));
  }
  return cmd;
}

/** One warning per inert flag given on the command line. */
export function inertWarnings(opts: object): string[] {
  const given = new Set(Object.entries(opts).filter(([, v]) => v !== undefined).map(([k]) => k));
  return INERT_FLAGS.filter((f) => given.has(attributeOf(f.flag))).map(inertWarning);
}
