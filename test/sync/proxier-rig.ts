// A proxier on the fake kernel with every fault the sync must survive at hand: tool failures
// (the fake kernel's own), a failing node-address read and a render that throws for one Service.
import { Dataplane } from '../../src/apply/dataplane.ts';
import type { Runner } from '../../src/apply/exec.ts';
import { resolveConfig } from '../../src/compute/config.ts';
import { renderService } from '../../src/compute/model/render.ts';
import type { Warning } from '../../src/compute/model/types.ts';
import { parseIp, type Ip } from '../../src/compute/net/ip.ts';
import type { Log } from '../../src/log.ts';
import { silentLog } from '../../src/log.ts';
import { ClusterState } from '../../src/observe/cluster-state.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { Proxier, type SyncReport } from '../../src/sync/proxier.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

export interface Rig {
  readonly kernel: FakeKernel;
  readonly cluster: ClusterState;
  readonly proxier: Proxier;
  readonly clock: FakeClock;
  readonly reports: SyncReport[];
  readonly invalid: Warning[];
  readonly retries: number[];
  readonly errors: string[];
  /** The node's interface addresses, as the next read returns them. */
  addresses: string[];
  /** The next node-address read fails. */
  failAddressRead: boolean;
  /** Service names whose render throws. */
  readonly throwingRender: Set<string>;
  /** Thrown by the dataplane's drain check while set. */
  failDrainCheck: boolean;
}

export class InjectedFault extends Error {
  readonly code = 'INJECTED';
}

export function rig(o: {
  addresses?: string[]; synced?: (r: SyncReport) => void; log?: Log; serviceWarnings?: (key: string, ws: readonly Warning[]) => void;
  /** The tools as the dataplane runs them (e.g. a slow dump in front of the fake kernel). */
  runner?: (kernel: FakeKernel) => Runner;
  /** The dataplane's verification slice (0: one unit of work between yields). */
  sliceMs?: number;
} = {}): Rig {
  const kernel = new FakeKernel();
  const clock = new FakeClock();
  const cluster = new ClusterState();
  const reports: SyncReport[] = [];
  const errors: string[] = [];
  const log: Log = o.log ?? { ...silentLog, error: (_o, msg) => { errors.push(msg); } };
  const dataplane = new Dataplane({ runner: o.runner?.(kernel) ?? kernel, families: [4], excludeCidrs: [], log: silentLog, ...(o.sliceMs === undefined ? {} : { sliceMs: o.sliceMs }) });
  const r: Rig = {
    kernel, cluster, clock, reports, invalid: [], retries: [], errors, addresses: o.addresses ?? ['192.168.1.10'],
    failAddressRead: false, throwingRender: new Set(), failDrainCheck: false,
    proxier: undefined as unknown as Proxier,
  };
  const port = {
    sync: dataplane.sync.bind(dataplane),
    readKernel: dataplane.readKernel.bind(dataplane),
    verify: dataplane.verify.bind(dataplane),
    usable: dataplane.usable.bind(dataplane),
    checkDrains: (d: Parameters<Dataplane['checkDrains']>[0]) => (r.failDrainCheck ? Promise.reject(new InjectedFault('drain check: ipvsadm -Ln failed')) : dataplane.checkDrains(d)),
  };
  const proxier = new Proxier({
    config: resolveConfig({ hostnameOverride: 'node-a' }, 'test'), families: [4], cluster, dataplane: port, log, clock,
    readNodeAddresses: () => {
      if (r.failAddressRead) { r.failAddressRead = false; return Promise.reject(new InjectedFault('ip -o addr show: exit 1')); }
      const ips = r.addresses.map((a) => parseIp(a)).filter((ip): ip is Ip => ip !== undefined);
      return Promise.resolve(ips);
    },
    hooks: {
      synced: (s) => { reports.push(s); o.synced?.(s); }, invalid: (w) => { r.invalid.push(w); },
      ...(o.serviceWarnings === undefined ? {} : { serviceWarnings: o.serviceWarnings }),
    },
    retryAfter: (ms) => { r.retries.push(ms); },
    render: (info, eps, ctx, down) => {
      if (r.throwingRender.has(info.name)) throw new InjectedFault(`render ${info.name}: injected`);
      return renderService(info, eps, ctx, down);
    },
  });
  Object.assign(r, { proxier });
  return r;
}

/**
 * Everything kube-ipvs programs in the fake kernel. IPVS, set members and addresses sorted
 * (their order is the kernel's hash order, not ours), a set's hash seed left out; the rules
 * as listed, since their order is what they mean.
 */
export function kernelState(k: FakeKernel): string {
  const sorted = (s: string): string => s.split('\n').filter((l) => l !== '').sort().join('\n');
  return [
    sorted(k.admin(['ipvsadm', '-Sn'])),
    sorted(k.admin(['ipset', 'save']).replace(/ initval 0x[0-9a-f]+/g, '')),
    sorted(k.admin(['ip', '-o', 'addr', 'show', 'dev', 'kube-ipvs0']).replace(/^\d+: /gm, '')),
    k.admin(['iptables-save']).replace(/^#.*\n/gm, ''),
  ].join('\n--\n');
}
