// `kube-ipvs [flags]`: the proxy daemon, `--cleanup`, or `--write-config-to`. Resolves flags
// and the --config file, then wires the daemon to the real world: execa, /proc/sys, the API
// server, pino logs, the health and metrics servers, SIGTERM/SIGINT.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import type { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { CleanupError, cleanup, isEmptyReport } from '../apply/cleanup.ts';
import { DataplaneError } from '../apply/dataplane.ts';
import { countingRunner, execaRunner, type Runner } from '../apply/exec.ts';
import { readStats } from '../apply/ipvsadm.ts';
import { procSysFs, type SysctlFs, conntrackSysctls } from '../apply/sysctl.ts';
import { ConfigError, resolveConfig, type ProxyConfig } from '../compute/config.ts';
import { formatWarning } from '../compute/model/types.ts';
import type { Family } from '../compute/net/ip.ts';
import type { Daemon } from '../daemon.ts';
import { createMetrics, recordQueued, recordServiceTraffic, recordSync } from '../serve/metrics.ts';
import { HealthCheckMetrics } from '../serve/health-check-metrics.ts';
import { PROBER_PATH } from '../observe/native-prober.ts';
import { heldDownCount } from '../compute/model/health-check.ts';
import { healthHandler, ProxyHealth, type IpFamilyName } from '../serve/proxy-health.ts';
import { metricsHandler } from '../serve/metrics-server.ts';
import { ServiceHealthServer } from '../serve/service-health.ts';
import { listenPersistently, parseBindAddress, type PersistentListening } from '../serve/listen.ts';
import { StartupError } from '../startup-error.ts';
import { systemClock } from '../sync/clock.ts';
import { ignoredFlags, mergeFileConfig, readConfigFile, readInput } from '../config/file.ts';
import { inertWarnings, rawDaemonOptions, type DaemonFlagValues } from '../config/flags.ts';
import { loadKubeConfigFile } from './token-file.ts';
import { slimClientNode } from './slim-client.ts';
import { createLogger } from './logger.ts';
import { versionText } from '../version.ts';
import { resolveDaemonOptions, type DaemonOptions, type RawDaemonOptions, kubeProxyConfiguration } from '../config/merged.ts';
import type { PlanIo } from './plan.ts';

export interface Resolved {
  readonly raw: RawDaemonOptions;
  readonly config: ProxyConfig;
  readonly options: DaemonOptions;
}

export async function resolveAll(flags: DaemonFlagValues, warn: (s: string) => void): Promise<Resolved> {
  const fromFlags = rawDaemonOptions(flags);
  for (const w of inertWarnings(flags)) warn(w);
  const read = flags.config === undefined ? undefined : readConfigFile(await readInput(flags.config), flags.config);
  for (const w of read?.warnings ?? []) warn(w);
  const file = read?.config;
  if (file !== undefined) for (const f of ignoredFlags(fromFlags)) warn(`${f} is ignored: --config ${flags.config ?? ''} takes precedence (as in kube-proxy)`);
  const raw = mergeFileConfig(fromFlags, file);
  const options = resolveDaemonOptions(raw);
  return { raw, config: resolveConfig(raw, hostname()), options };
}

async function loadKubeConfig(o: DaemonOptions): Promise<KubeConfig> {
  if (o.kubeconfig === undefined && o.master === undefined && (process.env.KUBERNETES_SERVICE_HOST ?? '') === '') {
    throw new ConfigError(['--kubeconfig: not given, no --master, and not running in a cluster (KUBERNETES_SERVICE_HOST is unset or empty)']);
  }
  // Loaded only here: the client library takes seconds to import on a slow node, which
  // --help, plan and --cleanup have no reason to wait for. Without its generated API: the
  // hook first, before anything imports the library (slim-client.ts).
  slimClientNode();
  const { KubeConfig } = await import('../observe/kube-client.ts');
  const kc = new KubeConfig();
  if (o.kubeconfig !== undefined) loadKubeConfigFile(kc, o.kubeconfig);
  // An http:// --master has no TLS to verify; client-node refuses http unless told to skip it.
  else if (o.master !== undefined) kc.loadFromClusterAndUser({ name: 'master', server: o.master, skipTLSVerify: o.master.startsWith('http://') }, { name: 'kube-ipvs' });
  else kc.loadFromCluster();
  if (o.master !== undefined) {
    // --master overrides the kubeconfig's server, as in kube-proxy.
    const current = kc.getCurrentCluster();
    if (current !== null) kc.clusters = kc.clusters.map((c) => (c.name === current.name ? { ...c, server: o.master ?? c.server } : c));
  }
  return kc;
}

async function setOomScoreAdj(value: number, log: Logger): Promise<void> {
  await writeFile('/proc/self/oom_score_adj', String(value)).catch((e: unknown) => {
    log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not set oom_score_adj');
  });
}

/** The node's kernel as the daemon reaches it; tests run the real CLI against the fake kernel. */
export interface Host {
  readonly runner: Runner;
  readonly sysctl: SysctlFs;
  /** kube-ipvs-prober for TCP health checks; absent: they run in-process. */
  readonly prober?: string;
}

/** KUBE_IPVS_PROBER names another helper binary; set empty, TCP checks run in-process. */
export const realHost = (): Host => {
  const prober = process.env.KUBE_IPVS_PROBER ?? PROBER_PATH;
  return { runner: execaRunner, sysctl: procSysFs(), ...(prober === '' ? {} : { prober }) };
};

/** Runs until SIGTERM/SIGINT (exit 0) or a fatal start-up error (exit 1); returns the exit code. */
export async function runDaemon(flags: DaemonFlagValues, io: PlanIo, host: Host = realHost()): Promise<number> {
  if (flags.version !== undefined) {
    io.stdout(versionText(flags.version));
    return 0;
  }
  const { raw, config, options } = await resolveAll(flags, (s) => { io.stderr(`warning: ${s}\n`); });
  if (flags.writeConfigTo !== undefined) {
    await writeFile(flags.writeConfigTo, stringify(kubeProxyConfiguration(raw, config, options)));
    return 0;
  }
  const log = createLogger(options);
  const runner = countingRunner(host.runner);
  // Cleanup needs no API server; everything else does, and fails before touching the node.
  const kc = flags.cleanup === true || flags.cleanupIpvs === true ? undefined : await loadKubeConfig(options);
  if (kc === undefined) {
    try {
      const report = await cleanup({ runner, log: log.child({ component: 'cleanup' }), excludeCidrs: config.excludeCidrs });
      log.info({ ...report, nothingToDo: isEmptyReport(report) }, 'cleanup done');
      return 0;
    } catch (e) {
      if (!(e instanceof CleanupError)) throw e;
      log.error({ ...e.report, errors: e.errors.map((x: unknown) => (x instanceof Error ? x.message : String(x))) }, 'cleanup incomplete; run it again');
      return 1;
    }
  }
  const [{ Daemon }, { EventRecorder }] = await Promise.all([import('../daemon.ts'), import('../observe/events.ts')]);
  if (flags.dryRun !== true) await setOomScoreAdj(options.oomScoreAdj, log);
  // Both families, as kube-proxy's dual-stack proxier on a host that has IPv6; IPv4 alone where
  // the kernel has IPv6 disabled (ip6tables would fail every sync there).
  const ipFamilies: Family[] = existsSync('/proc/net/if_inet6') ? [4, 6] : [4];
  const families: IpFamilyName[] = ipFamilies.map((f) => (f === 4 ? 'IPv4' : 'IPv6'));
  const metrics = createMetrics({ perService: options.metricsPerService });
  const healthChecks = new HealthCheckMetrics(metrics.registry);
  const health = new ProxyHealth({ syncPeriodMs: options.syncPeriodMs, families });
  // --dry-run exports what it would change, per tool, for comparing with a running kube-proxy.
  const wouldChange = flags.dryRun === true
    ? new Gauge({ name: 'kubeipvs_dry_run_changes', help: 'Changes the last sync would have applied (--dry-run), by tool', labelNames: ['tool'], registers: [metrics.registry] })
    : undefined;
  const everyAddress = !config.nodePortPrimary && (config.nodePortAddresses.length === 0 || config.nodePortAddresses.some((c) => c.prefix === 0));
  const serviceHealth = new ServiceHealthServer({ proxyHealth: health, log: log.child({ component: 'service-health' }) });
  const events = new EventRecorder(kc, config.nodeName, log.child({ component: 'events' }));
  let lastStats = 0;
  let nodeSeen = false;
  // The Node's deletion state decides /healthz; every event for it is applied at once.
  const nodeHealth = (): void => {
    nodeSeen ||= daemon.cluster.node !== undefined;
    if (nodeSeen) health.syncNode(daemon.cluster.node);
  };
  const sysctl = host.sysctl;
  if (flags.dryRun !== true) {
    const { changes, failed } = await conntrackSysctls(sysctl, options.conntrack);
    for (const c of changes) log.info(c, 'conntrack setting changed');
    for (const f of failed) log.warn(f, 'could not change a conntrack setting; going on without it');
  }
  // --init-only: the steps that need full root (oom_score_adj, conntrack) are done; a second
  // kube-ipvs can then run with CAP_NET_ADMIN alone, as with kube-proxy.
  if (flags.initOnly === true) {
    log.info({}, 'init-only: initialization done, exiting');
    return 0;
  }
  // kube-proxy's change gauges and counters, from the cluster state's tallies.
  const counted = { services: 0, slices: 0 };
  const recordChanges = (): void => {
    const c = daemon.cluster;
    metrics.serviceChangesPending.set(c.pendingServiceChanges);
    metrics.endpointChangesPending.set(c.pendingEndpointChanges);
    metrics.serviceChangesTotal.inc(c.serviceEvents - counted.services);
    metrics.endpointChangesTotal.inc(c.sliceEvents - counted.slices);
    counted.services = c.serviceEvents;
    counted.slices = c.sliceEvents;
  };
  const daemon: Daemon = new Daemon(
    { runner, sysctl, kubeConfig: kc, clock: systemClock, log: log.child({ component: 'proxier' }), ...(host.prober === undefined ? {} : { prober: host.prober }) },
    {
      config, syncPeriodMs: options.syncPeriodMs, minSyncPeriodMs: options.minSyncPeriodMs, families: ipFamilies,
      kernel: { strictArp: config.strictArp, timeouts: options.ipvsTimeouts }, dryRun: flags.dryRun === true,
      rules: options.rulesBackend,
    },
    {
      queued: () => {
        health.queued();
        nodeHealth();
        recordQueued(metrics, families, Date.now());
        recordChanges();
      },
      healthResult: (ok, count) => { healthChecks.result(ok, count); },
      healthProber: (k, p) => { healthChecks.prober(k, p); },
      healthTransition: (t) => { healthChecks.transition(t); },
      invalid: (w) => { log.warn({ kind: w.kind, object: w.object, field: w.field }, formatWarning(w)); },
      serviceWarnings: (key, ws) => { events.serviceWarnings(key, ws); },
      synced: (r) => {
        const ok = r.error === undefined;
        // unchanged: a periodic resync that found the kernel's digest as it was (nothing parsed);
        // read: how many of the dumps' blocks a full sync parsed (the others were known unchanged).
        log.debug({ reason: r.reason, full: r.full, unchanged: r.result?.unchanged === true, durationMs: r.durationMs, changes: r.result?.changes, read: r.result?.read }, 'sync done');
        if (ok) health.updated();
        nodeHealth();
        if (r.error instanceof DataplaneError) {
          metrics.batchFailures.inc({ tool: r.error.tool });
          if (r.error.tool.endsWith('tables-restore')) metrics.iptablesRestoreFailures.inc({ ip_family: r.error.tool.startsWith('ip6') ? 'IPv6' : 'IPv4' });
        }
        recordSync(metrics, {
          families, kind: r.full ? 'full' : 'incremental', ok, seconds: r.durationMs / 1000, endedAtMs: Date.now(),
          processes: runner.total(), repairs: r.result?.repairs ?? 0, triggerTimesMs: r.triggerTimes,
          noLocalEndpoints: { internal: r.desired.noLocalEndpoints.internal.length, external: r.desired.noLocalEndpoints.external.length },
        });
        runner.reset();
        healthChecks.synced(ok, daemon.health.targets === 0 ? 0 : heldDownCount(r.desired.virtualServers.values()), Date.now());
        for (const [tool, n] of Object.entries(r.result?.changes ?? {})) wouldChange?.set({ tool }, n);
        recordChanges();
        // Health-check node ports listen where NodePorts do, as kube-proxy's do.
        void serviceHealth.sync(r.desired.healthChecks, everyAddress ? 'all' : daemon.proxier.nodePortIps.map((ip) => ip.text));
        // Per-Service traffic (opt-in): one `ipvsadm -Ln --stats` at most once per sync period.
        if (ok && options.metricsPerService && Date.now() - lastStats >= options.syncPeriodMs) {
          lastStats = Date.now();
          readStats(host.runner).then((s) => { recordServiceTraffic(metrics, s, r.desired.virtualServers); })
            .catch((e: unknown) => { log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not read IPVS stats'); });
        }
      },
    },
  );
  const servers: PersistentListening[] = [];
  const stopped = new Promise<string>((resolve) => {
    // `on`, not `once`: while a tool runs, execa's signal-exit handler is also listening, and
    // if it finds itself the only listener left it re-raises the signal and the process dies
    // by it (exit 143, the tool killed mid-batch) instead of stopping cleanly.
    process.on('SIGTERM', () => { resolve('SIGTERM'); });
    process.on('SIGINT', () => { resolve('SIGINT'); });
  });
  let code = 0;
  try {
    const serve = async (addr: string, what: string, handler: Parameters<typeof listenPersistently>[0]): Promise<void> => {
      const bind = parseBindAddress(addr);
      servers.push(await listenPersistently(handler, bind, {
        onBusy: (e, retryMs) => {
          log.warn({ address: addr, err: e.code, retryInMs: retryMs },
            `${what} port in use (kube-proxy still running on this node?): proxying goes on, /readyz answers once the port is free; retrying`);
        },
        onBound: () => { log.info({ address: addr }, `${what} port free at last: listening`); },
      }).catch((e: unknown) => {
        throw new StartupError('STARTUP_LISTEN', `${what} ${addr}: ${e instanceof Error ? e.message : String(e)}`,
          `check --${what === 'health' ? 'healthz' : 'metrics'}-bind-address names an address of this node`, e);
      }));
    };
    if (options.healthzBindAddress !== '') await serve(options.healthzBindAddress, 'health', healthHandler(health, metrics));
    // /configz as kube-proxy serves it there: the effective configuration under its API group.
    const configz = (): object => ({ 'kubeproxy.config.k8s.io': kubeProxyConfiguration(raw, config, options) });
    if (options.metricsBindAddress !== '') await serve(options.metricsBindAddress, 'metrics', metricsHandler(metrics.registry, 'ipvs', configz));
    events.starting();
    log.info({ node: config.nodeName, dryRun: flags.dryRun === true, syncPeriodMs: options.syncPeriodMs, minSyncPeriodMs: options.minSyncPeriodMs }, 'starting');
    const first = daemon.start().then(() => { log.info({}, 'first sync done'); });
    const signal = await Promise.race([stopped, first.then(() => stopped)]);
    log.info({ signal }, 'stopping; kernel state left in place');
  } catch (e) {
    // One line that says what failed and what to do; everything started so far is stopped
    // below, so the process exits and the DaemonSet's restart makes the failure visible.
    const err = e instanceof StartupError ? e : new StartupError('STARTUP_OTHER', e instanceof Error ? e.message : String(e), undefined, e);
    log.error({ code: err.code }, `cannot start: ${err.message}`);
    code = 1;
  } finally {
    daemon.stop();
    await serviceHealth.sync([]);
    await Promise.all(servers.map((s) => s.close()));
  }
  return code;
}
