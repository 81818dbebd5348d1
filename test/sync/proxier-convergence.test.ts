// Property: whatever interleaving of cluster changes and faults (a tool failing, a kernel-level
// error on a batch line, the node-address read failing, a Service's render throwing), once the
// faults stop the kernel converges to exactly what a clean full sync of the same cluster gives.
// Seeded, so a failure names the seed that reproduces it; bounded in seeds and steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../src/compute/k8s/objects.ts';
import { ep, makeNode, makeService, makeSlice } from '../compute/builders.ts';
import { kernelState, rig, type Rig } from './proxier-rig.ts';
import { prng } from '../support/prng.ts';
import type { RunSignal } from '../../src/sync/bounded-runner.ts';

const SEEDS = 40;
const STEPS = 30;
const NAMES = ['a', 'b', 'c', 'd', 'e'];
const TOOLS = ['ipvsadm', 'ipset', 'ip', 'iptables-restore'];
const GROWING_ADDRESSES = [['192.168.1.10'], ['192.168.1.10', '10.0.0.4']];
const CHANGING_ADDRESSES = [['192.168.1.10'], ['192.168.1.10', '10.0.0.4'], ['10.0.0.4']];

function service(name: string, i: number, nodePort: boolean, variant: number): Service {
  const ports = [{ name: 'p', port: 80 + variant, ...(nodePort ? { nodePort: 30080 + i } : {}) }];
  return makeService('d', name, { ...(nodePort ? { type: 'NodePort' } : {}), clusterIP: `10.96.0.${20 + i}`, ports });
}

/** One random cluster change, applied to the rig's cluster state. */
function change(r: Rig, rnd: () => number, log: string[], addressSets: readonly string[][]): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const i = Math.floor(rnd() * NAMES.length);
  const name = NAMES[i] ?? 'a';
  const what = pick(['service', 'service', 'slice', 'slice', 'delete-service', 'delete-slice', 'addresses', 'node']);
  log.push(`${what} ${name}`);
  switch (what) {
    case 'service': r.cluster.setService(`d/${name}`, service(name, i, rnd() < 0.5, Math.floor(rnd() * 2))); break;
    case 'slice': {
      const eps = [1, 2, 3].filter(() => rnd() < 0.6).map((n) => ep(`10.244.${i}.${n}`, { node: 'node-a' }));
      r.cluster.setSlice(`d/${name}-x`, makeSlice('d', name, eps, [{ name: 'p', port: 8080 }], { name: `${name}-x` }));
      break;
    }
    case 'delete-service': r.cluster.setService(`d/${name}`, undefined); break;
    case 'delete-slice': r.cluster.setSlice(`d/${name}-x`, undefined); break;
    case 'addresses': {
      // Never fewer addresses than before, unless the sets allow it (see the test below).
      const next = pick(addressSets);
      if (addressSets === CHANGING_ADDRESSES || next.length >= r.addresses.length) r.addresses = next;
      break;
    }
    case 'node': r.cluster.setNode(makeNode('node-a', ['192.168.1.10'], rnd() < 0.5 ? {} : { 'topology.kubernetes.io/zone': 'z1' })); break;
  }
}

/** One random fault, armed for the syncs to come. */
function fault(r: Rig, rnd: () => number, log: string[]): void {
  const n = Math.floor(rnd() * 4);
  const name = NAMES[Math.floor(rnd() * NAMES.length)] ?? 'a';
  const tool = TOOLS[Math.floor(rnd() * TOOLS.length)] ?? 'ipvsadm';
  log.push([`tool ${tool}`, 'line ipvsadm', 'address-read', `render ${name}`][n] ?? '');
  if (n === 0) r.kernel.failNext(tool, { kind: 'exit', exitCode: 1, stderr: 'injected failure' });
  else if (n === 1) r.kernel.failLine('ipvsadm', /^-a /, 'Memory allocation problem');
  else if (n === 2) r.failAddressRead = true;
  else r.throwingRender.add(name);
}

/**
 * The runner's signal, as when a change is asked for while a full sync reads the kernel or
 * verifies its read a slice at a time: at most once per sync, half the time, one more change,
 * served by the proxier at once — either as the listener subscribes (during the read) or some
 * turns of the event loop later (during the verification, if it still listens then).
 */
function duringResync(r: Rig, rnd: () => number, log: string[], addressSets: readonly string[][]): RunSignal {
  let fired = false;
  return {
    onRequest: (cb) => {
      let listening = true;
      const fire = (when: string): void => {
        if (fired || !listening) return;
        fired = true;
        change(r, rnd, log, addressSets);
        log.push(`  (asked for during the full sync's ${when})`);
        if (when !== 'kernel read') askedDuringVerification++;
        cb();
      };
      if (!fired && rnd() < 0.5) {
        const turns = Math.floor(rnd() * 12);
        if (turns === 0) fire('kernel read');
        else void afterTurns(turns).then(() => { fire(`verification, ${String(turns)} turns in`); });
      }
      return () => { listening = false; };
    },
  };
}

/** Changes asked for while a full sync verified its read (the property must cover some). */
let askedDuringVerification = 0;

async function afterTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => { setImmediate(resolve); });
}

/** Same cluster, a fresh kernel, one clean full sync. */
async function cleanState(from: Rig): Promise<string> {
  const clean = rig({ addresses: from.addresses });
  clean.cluster.setNode(from.cluster.node);
  for (const [k, s] of from.cluster.services) clean.cluster.setService(k, s);
  for (const [k, s] of from.cluster.slices) clean.cluster.setSlice(k, s);
  await clean.proxier.sync('periodic');
  assert.equal(clean.reports.at(-1)?.error, undefined);
  return kernelState(clean.kernel);
}

async function converges(addressSets: readonly string[][]): Promise<void> {
  askedDuringVerification = 0;
  // KUBE_IPVS_SEED=n reruns one failing seed alone.
  const only = Number(process.env.KUBE_IPVS_SEED ?? 0);
  for (let seed = only || 1; seed <= (only || SEEDS); seed++) {
    const rnd = prng(seed);
    // A verification slice is one unit of work: a change can come in the middle of one.
    const r = rig({ sliceMs: 0 });
    const log: string[] = [];
    r.cluster.setNode(makeNode('node-a', ['192.168.1.10']));
    for (let step = 0; step < STEPS; step++) {
      change(r, rnd, log, addressSets);
      if (rnd() < 0.4) fault(r, rnd, log);
      if (rnd() < 0.6) {
        const reason = rnd() < 0.7 ? 'requested' : 'periodic';
        log.push(`sync ${reason}`);
        await r.proxier.sync(reason, duringResync(r, rnd, log, addressSets));
      }
    }
    // Faults stop: no more renders throw nor reads fail; armed tool faults are used up by the
    // syncs that follow, as the retries the proxier asked for would run.
    r.throwingRender.clear();
    r.failAddressRead = false;
    let quiet = 0;
    for (let n = 0; n < 12 && quiet < 2; n++) {
      const before = r.reports.length;
      await r.proxier.sync(n === 0 ? 'retry' : 'periodic');
      quiet = r.reports.slice(before).every((x) => x.error === undefined) ? quiet + 1 : 0;
    }
    assert.equal(quiet, 2, `seed ${seed}: still failing after the faults stopped\n${log.join('\n')}`);
    assert.equal(kernelState(r.kernel), await cleanState(r), `seed ${seed}: kernel differs from a clean full sync\n${log.join('\n')}`);
  }
  if (only === 0) assert.ok(askedDuringVerification >= 10, `changes asked for during a verification: ${String(askedDuringVerification)}`);
}

test(`random changes and faults converge to a clean full sync once faults stop (${SEEDS} seeds × ${STEPS} steps)`, async () => {
  await converges(GROWING_ADDRESSES);
});

// A node address that goes away must take its NodePort virtual servers with it (ownership by
// the KUBE-NODE-PORT-* set marks, not by the current node addresses).
test('… also when node addresses are removed', async () => {
  await converges(CHANGING_ADDRESSES);
});
