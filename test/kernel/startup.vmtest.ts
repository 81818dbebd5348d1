// Runs inside the VM (make e2e): start-up on a node without ip_vs. The VM's init loads ip_vs
// and its schedulers; this file unloads them (the VM is this run's alone, and nothing has used
// IPVS yet), then starts the real `kube-ipvs` process. It must exit non-zero with one message
// saying to load ip_vs, and leave nothing listening — not a pod that runs, answers /healthz and
// programs nothing.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { KubeIpvs, startApi } from './e2e-lab.ts';
import { sh } from './lab.ts';

/** The modules using ip_vs first (its schedulers), then ip_vs itself. */
function unloadIpvs(): void {
  if (!existsSync('/sys/module/ip_vs')) return;
  for (const holder of readdirSync('/sys/module/ip_vs/holders')) sh('rmmod', holder);
  sh('rmmod', 'ip_vs');
}

/** 'refused' when nothing listens on 127.0.0.1:port. */
function probe(port: number): Promise<'listening' | 'refused'> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve('listening'); });
    s.once('error', () => { resolve('refused'); });
  });
}

before(() => {
  unloadIpvs();
  assert.equal(existsSync('/proc/sys/net/ipv4/vs'), false, 'ip_vs unloaded');
});

test('without ip_vs the daemon exits 1, says to load ip_vs, and nothing is left listening', async () => {
  const api = await startApi();
  const kube = new KubeIpvs(api, ['--healthz-bind-address=127.0.0.1:10256', '--metrics-bind-address=127.0.0.1:10249']);
  try {
    kube.start();
    // Generous: importing the API client alone took 20-90 s under emulation.
    const { code, signal } = await kube.exitedByItself(240_000);
    assert.deepEqual({ code, signal }, { code: 1, signal: null }, kube.logTail() || '(nothing on stderr)');
    const fatal = kube.logs.split('\n').filter((l) => l.includes('"level":50'));
    assert.equal(fatal.length, 1, kube.logTail());
    assert.match(fatal[0] ?? '', /cannot start: kernel settings: \/proc\/sys\/net\/ipv4\/vs\/conntrack does not exist.*modprobe ip_vs/);
    assert.deepEqual([await probe(10256), await probe(10249)], ['refused', 'refused']);
    assert.equal(existsSync('/proc/sys/net/ipv4/vs'), false, 'and it did not load ip_vs behind our back');
  } finally {
    if (kube.running) await kube.stop('SIGKILL');
    await api.stop();
  }
});
