// The long-running proxy: informers → cluster state → bounded-frequency runner → proxier →
// dataplane, plus the kernel settings at start. Everything that touches the outside world
// (tool runner, /proc/sys, API client, clock) is injected, so integration tests run the
// real informers and sync logic against a test API server and the fake kernel.
import type { KubeConfig } from '@kubernetes/client-node';
import { Dataplane, type SyncResult } from './apply/dataplane.ts';
import type { Runner } from './apply/exec.ts';
import { DUMMY_LINK, parseAddrShow, type InterfaceAddress } from './tools/ip.ts';
import { otherAddressLines } from './tools/dump-blocks.ts';
import type { KernelText } from './apply/kernel-state.ts';
import { readAddresses } from './apply/ip.ts';
import type { Backend } from './tools/iptables.ts';
import type { RulesBackend } from './compute/model/nft.ts';
import { ensureKernelSettings, type KernelSettings } from './apply/settings.ts';
import type { SysctlFs } from './apply/sysctl.ts';
import type { ProxyConfig } from './compute/config.ts';
import type { DesiredState } from './compute/model/desired.ts';
import { HEALTH_CHECK_KINDS, type HealthCheckKind } from './compute/model/health-check.ts';
import { formatIpvsBatch } from './tools/ipvsadm.ts';
import { isIpv6LinkLocal, isLoopback, type Family, type Ip } from './compute/net/ip.ts';
import type { Log } from './log.ts';
import { ClusterState } from './observe/cluster-state.ts';
import { ClusterWatcher } from './observe/informers.ts';
import { HealthChecker, type HealthTransition } from './observe/health-checker.ts';
import { NativeProber, type ProberInUse } from './observe/native-prober.ts';
import { BoundedFrequencyRunner } from './sync/bounded-runner.ts';
import type { Clock } from './sync/clock.ts';
import { Proxier, type ProxierHooks, type DataplanePort } from './sync/proxier.ts';
import { startupError } from './startup-error.ts';

export interface DaemonDeps {
  readonly runner: Runner;
  readonly sysctl: SysctlFs;
  readonly kubeConfig: KubeConfig;
  readonly clock: Clock;
  readonly log: Log;
  /** kube-ipvs-prober's path: health checks by it (observe/native-prober.ts); absent: in-process. */
  readonly prober?: string;
}

export interface DaemonSettings {
  readonly config: ProxyConfig;
  readonly syncPeriodMs: number;
  readonly minSyncPeriodMs: number;
  readonly kernel: KernelSettings;
  readonly families: readonly Family[];
  readonly backend?: Backend;
  /** --ipvs-rules-backend (default iptables). */
  readonly rules?: RulesBackend;
  /** Compute and log what would change; change nothing. */
  readonly dryRun: boolean;
}

export interface DaemonHooks extends ProxierHooks {
  /** A change was observed and a sync requested (healthz "queued"). */
  queued(): void;
  /** Active health-check probes' results, `count` of them (metrics). */
  healthResult?(ok: boolean, count: number): void;
  /** An endpoint taken out of rotation by its checks, or back (metrics). */
  healthTransition?(t: HealthTransition): void;
  /** The prober a kind of health check uses now (metrics). */
  healthProber?(kind: HealthCheckKind, p: ProberInUse): void;
}

/** Addresses of this node's interfaces, as NodePorts and kube-proxy see them. */
export async function nodeAddresses(runner: Runner, families: readonly Family[]): Promise<Ip[]> {
  // kube-ipvs0's addresses (one per Service IP) are never the node's: skipped unparsed.
  return nodeIps(await readAddresses(runner, DUMMY_LINK), families);
}

/**
 * The same from the `ip -o addr show` a full sync's kernel read already holds: no second run of
 * `ip` per resync, and kube-ipvs0's lines (one per Service IP) are never decoded. Other
 * interfaces' lines are as fresh as that read (kube-ipvs' batches touch only kube-ipvs0's).
 */
export function nodeAddressesIn(dump: KernelText, families: readonly Family[]): Ip[] {
  return nodeIps(parseAddrShow(otherAddressLines(dump.addresses, DUMMY_LINK).toString('utf8'), DUMMY_LINK), families);
}

/** The proxier's readNodeAddresses: from a full sync's kernel read when it has one, else by `ip`. */
export const nodeAddressReader = (runner: Runner, families: readonly Family[]) => (dump?: KernelText): Promise<Ip[]> =>
  (dump === undefined ? nodeAddresses(runner, families) : Promise.resolve(nodeAddressesIn(dump, families)));

function nodeIps(all: readonly InterfaceAddress[], families: readonly Family[]): Ip[] {
  const ips = all.filter((a) => a.ifname !== DUMMY_LINK && families.includes(a.ip.family) && !isLoopback(a.ip) && !isIpv6LinkLocal(a.ip)).map((a) => a.ip);
  return [...new Map(ips.map((ip) => [ip.text, ip])).values()];
}

/** A dataplane that only reports: the daemon's --dry-run (shadow mode). */
class DryRunDataplane implements DataplanePort {
  readonly #inner: Dataplane;
  readonly #log: Log;
  constructor(inner: Dataplane, log: Log) { this.#inner = inner; this.#log = log; }
  async sync(desired: DesiredState): Promise<SyncResult> {
    const would = await this.#inner.dryRun(desired);
    if (would.ipvs.length > 0) this.#log.info({ dryRun: true, ipvsadm: formatIpvsBatch(would.ipvs) }, 'would apply');
    return would.result;
  }
  checkDrains(): Promise<number> { return Promise.resolve(0); }
}

export class Daemon {
  readonly cluster = new ClusterState();
  readonly proxier: Proxier;
  /** Active health checks of the Services that opt in (their results are a sync input). */
  readonly health: HealthChecker;
  /** Probes through kube-ipvs-prober, when the daemon was given one. */
  readonly prober: NativeProber | undefined;
  readonly #runner: BoundedFrequencyRunner;
  readonly #watcher: ClusterWatcher;
  readonly #deps: DaemonDeps;
  readonly #s: DaemonSettings;

  #firstSync: () => void = () => undefined;
  readonly #synced = new Promise<void>((resolve) => { this.#firstSync = resolve; });

  constructor(deps: DaemonDeps, s: DaemonSettings, hooks: DaemonHooks) {
    this.#deps = deps;
    this.#s = s;
    const real = new Dataplane({
      runner: deps.runner, families: s.families, excludeCidrs: s.config.excludeCidrs,
      log: deps.log, ...(s.backend === undefined ? {} : { backend: s.backend }), ...(s.rules === undefined ? {} : { rules: s.rules }),
    });
    const dataplane: DataplanePort = s.dryRun ? new DryRunDataplane(real, deps.log) : real;
    this.#runner = new BoundedFrequencyRunner({
      minIntervalMs: s.minSyncPeriodMs, maxIntervalMs: s.syncPeriodMs, burst: 2, clock: deps.clock, log: deps.log,
      fn: (reason, signal) => this.proxier.sync(reason, signal),
    });
    this.prober = deps.prober === undefined ? undefined : new NativeProber({
      path: deps.prober, clock: deps.clock, log: deps.log, inUse: (k, p) => { hooks.healthProber?.(k, p); },
    });
    for (const k of HEALTH_CHECK_KINDS) hooks.healthProber?.(k, 'in-process');
    this.health = new HealthChecker({
      clock: deps.clock, log: deps.log,
      ...(this.prober === undefined ? {} : { native: this.prober }),
      changed: () => {
        hooks.queued();
        if (this.#listed) this.#runner.run();
      },
      result: (ok, count) => { hooks.healthResult?.(ok, count); },
      transition: (t) => { hooks.healthTransition?.(t); },
    });
    this.proxier = new Proxier({
      health: this.health,
      config: s.config, families: s.families, cluster: this.cluster, dataplane, log: deps.log, clock: deps.clock,
      hooks: {
        invalid: (w) => { hooks.invalid(w); },
        serviceWarnings: (key, ws) => { hooks.serviceWarnings?.(key, ws); },
        synced: (r) => { hooks.synced(r); if (r.error === undefined) this.#firstSync(); },
      },
      readNodeAddresses: nodeAddressReader(deps.runner, s.families),
      retryAfter: (ms) => { this.#runner.retryAfter(ms); },
    });
    this.#watcher = new ClusterWatcher(deps.kubeConfig, s.config.nodeName, this.cluster, {
      changed: () => {
        hooks.queued();
        // No sync before Services and EndpointSlices have both listed.
        if (this.#listed) this.#runner.run();
      },
    }, deps.log);
  }

  #listed = false;
  #stopped = false;

  /**
   * Kernel settings first (a node without ip_vs fails here, before anything watches or
   * listens), then the informers; resolves once listed and the first sync has been applied.
   * Rejects with a StartupError on what the process cannot go on without.
   */
  async start(): Promise<void> {
    if (!this.#s.dryRun) {
      const changes = await ensureKernelSettings(this.#deps.runner, this.#deps.sysctl, this.#s.kernel).catch((e: unknown) => {
        throw startupError('kernel settings', e);
      });
      for (const c of changes) this.#deps.log.info({ setting: c.name, from: c.from, to: c.to }, 'kernel setting changed');
    }
    if (this.#isStopped()) return;
    // Not awaited: until the helper is ready, probes run in-process.
    void this.prober?.start();
    await this.#watcher.start();
    if (this.#isStopped()) return;
    this.#listed = true;
    this.#runner.start();
    this.#runner.run();
    await this.#synced;
  }

  // A method, not the field: stop() may run while start() awaits, which narrowing cannot see.
  #isStopped(): boolean { return this.#stopped; }

  /** Stops watching and syncing; the kernel state stays as it is (traffic keeps flowing). */
  stop(): void {
    this.#stopped = true;
    this.#watcher.stop();
    this.#runner.stop();
    this.health.stop();
    this.prober?.stop();
  }
}
