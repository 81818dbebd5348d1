// `kube-ipvs plan`: render the desired kernel state of a cluster offline, from YAML/JSON.
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { resolveConfig } from '../compute/config.ts';
import { mergeClusters, parseManifests, type Cluster } from '../compute/k8s/manifests.ts';
import { computeDesired, findNode, type ComputeResult } from '../compute/model/compute-desired.ts';
import { formatWarning, type Warning } from '../compute/model/types.ts';
import { formatIpsetSave } from '../tools/ipset.ts';
import { formatIptablesSave } from '../tools/iptables.ts';
import { formatIpvsadmSave } from '../tools/ipvsadm.ts';
import { planJson } from '../compute/format/json.ts';
import { ignoredFlags, mergeFileConfig, readConfigFile, readInput } from '../config/file.ts';
import { addProxyFlags, FlagError, rawConfigFromFlags, type ProxyFlagValues } from '../config/flags.ts';
import { parseHealthState } from '../compute/model/health-state-file.ts';

export const OUTPUTS = ['ipvsadm', 'addresses', 'ipset', 'iptables', 'ip6tables', 'json'] as const;
export type PlanOutput = (typeof OUTPUTS)[number];

export interface PlanIo {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  readonly readStdin: () => Promise<string>;
}

interface PlanOptions extends ProxyFlagValues {
  readonly file: string[];
  readonly output: PlanOutput;
  readonly nodeAddresses?: string[];
  readonly strict?: boolean;
  readonly verbose?: boolean;
  readonly healthState?: string;
}

export function renderOutput(r: ComputeResult, output: PlanOutput): string {
  const d = r.desired;
  const family = (f: 4 | 6): string => {
    const s = d.iptables.find((t) => t.family === f);
    return s === undefined ? '' : formatIptablesSave(s);
  };
  switch (output) {
    case 'ipvsadm': return formatIpvsadmSave(d.virtualServers.values());
    case 'addresses': return d.addresses.map((ip) => `${ip.text}\n`).join('');
    case 'ipset': return formatIpsetSave(d.ipsets);
    case 'iptables': return family(4);
    case 'ip6tables': return family(6);
    case 'json': return `${JSON.stringify(planJson(r), null, 2)}\n`;
  }
}

async function loadCluster(files: readonly string[], io: PlanIo): Promise<Cluster> {
  const parts: Cluster[] = [];
  for (const f of files) {
    const text = f === '-' ? await io.readStdin() : await readInput(f);
    parts.push(parseManifests(text, f === '-' ? '<stdin>' : f));
  }
  return mergeClusters(parts);
}

/** Returns the exit code: 0, or 1 when --strict and some object was invalid. */
async function runPlan(o: PlanOptions, io: PlanIo): Promise<number> {
  const read = o.config === undefined ? undefined : readConfigFile(await readInput(o.config), o.config);
  for (const w of read?.warnings ?? []) io.stderr(`warning: ${w}\n`);
  const file = read?.config;
  const flags = rawConfigFromFlags(o, o.nodeAddresses);
  if (file !== undefined) {
    for (const f of ignoredFlags(flags)) io.stderr(`warning: ${f} is ignored: --config ${o.config ?? ''} takes precedence (as in kube-proxy)\n`);
  }
  const config = resolveConfig(mergeFileConfig(flags, file), hostname());
  const cluster = await loadCluster(o.file, io);
  let health;
  if (o.healthState !== undefined) {
    const parsed = parseHealthState(await readInput(o.healthState));
    if ('error' in parsed) throw new FlagError(`--health-state ${o.healthState}: ${parsed.error}`);
    health = parsed.state;
  }
  const result = computeDesired(cluster, config, undefined, health);
  // This node's wrongly typed fields read as absent (its addresses, its zone): say so.
  const node = findNode(cluster.nodes, config.nodeName);
  const nodeWarnings = (node?.problems ?? []).map((p): Warning => ({ kind: 'Node', object: node?.metadata?.name ?? '', ...p }));
  const warnings = [...nodeWarnings, ...result.warnings];
  for (const w of warnings) io.stderr(`warning: ${formatWarning(w)}\n`);
  if (o.verbose === true) for (const i of result.ignored) io.stderr(`ignored: ${i.object}: ${i.reason}\n`);
  io.stdout(renderOutput(result, o.output));
  return o.strict === true && warnings.length > 0 ? 1 : 0;
}

export function planCommand(io: PlanIo, setExit: (code: number) => void): Command {
  const cmd = new Command('plan')
    .description('render the kernel state kube-ipvs would program for a cluster, offline (never touches this host)')
    .requiredOption('-f, --file <file>', 'YAML or JSON: multi-document, or a List as `kubectl get svc,endpointslices,nodes -A -o yaml` prints; "-" for stdin; repeatable', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .addOption(new Option('-o, --output <format>', 'what to print').choices(OUTPUTS).default('ipvsadm'))
    .option('--node-addresses <ips>', "addresses on this node's interfaces (comma-separated, repeatable); none when omitted", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--strict', 'exit 1 when any object is invalid')
    .option('--health-state <file>', 'health-check results as JSON, {"namespace/name": ["endpoint address", …]}: endpoints held down (Services with a health-check annotation) get weight 0')
    .option('-v, --verbose', 'also list the objects deliberately not proxied (headless, ExternalName, other proxies)');
  addProxyFlags(cmd);
  return cmd.action(async (o: PlanOptions) => { setExit(await runPlan(o, io)); });
}
