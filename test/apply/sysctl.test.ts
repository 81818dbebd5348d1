import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSysctls, procSysFs, readKernelVersion } from '../../src/apply/sysctl.ts';
import { parseKernelVersion, requiredSysctls } from '../../src/tools/sysctl.ts';
import { FakeKernel } from '../fakes/fake-kernel.ts';

test('kernel versions from release strings', () => {
  assert.deepEqual(parseKernelVersion('6.1.0-26-amd64'), { major: 6, minor: 1, patch: 0 });
  assert.deepEqual(parseKernelVersion('4.19.112+\n'), { major: 4, minor: 19, patch: 112 });
  assert.deepEqual(parseKernelVersion('5.4'), { major: 5, minor: 4, patch: 0 });
  assert.equal(parseKernelVersion('unknown'), undefined);
});

test('conn_reuse_mode=0 only on kernels 4.1 <= v < 5.9', () => {
  const reuse = (release: string | undefined): boolean =>
    requiredSysctls({ kernel: release === undefined ? undefined : parseKernelVersion(release), strictArp: false })
      .some((s) => s.name === 'net/ipv4/vs/conn_reuse_mode');
  assert.deepEqual(['4.0.9', '4.1.0', '4.19.0', '5.8.18', '5.9.0', '6.1.0-26-amd64'].map(reuse), [false, true, true, true, false, false]);
  assert.equal(reuse(undefined), false);
});

test('strict ARP adds arp_ignore=1 and arp_announce=2; the IPVS basics are always there', () => {
  const names = (strictArp: boolean): string[] => requiredSysctls({ kernel: undefined, strictArp }).map((s) => `${s.name}=${s.value}`);
  assert.deepEqual(names(false), ['net/ipv4/vs/conntrack=1', 'net/ipv4/vs/expire_nodest_conn=1', 'net/ipv4/vs/expire_quiescent_template=1', 'net/ipv4/ip_forward=1']);
  assert.deepEqual(names(true).slice(-2), ['net/ipv4/conf/all/arp_ignore=1', 'net/ipv4/conf/all/arp_announce=2']);
});

test('ensureSysctls writes only what differs, so a second run changes nothing', async () => {
  const k = new FakeKernel();
  k.proc.set('net/ipv4/ip_forward', '1');
  const wanted = requiredSysctls({ kernel: await readKernelVersion(k.sysctl), strictArp: true });
  const changed = await ensureSysctls(k.sysctl, wanted);
  assert.equal(changed.some((c) => c.name === 'net/ipv4/ip_forward'), false);
  assert.deepEqual(changed.find((c) => c.name === 'net/ipv4/conf/all/arp_announce'), { name: 'net/ipv4/conf/all/arp_announce', from: '0', to: '2' });
  for (const s of wanted) assert.equal(k.proc.get(s.name), s.value);
  assert.deepEqual(await ensureSysctls(k.sysctl, wanted), []);
});

test('procSysFs reads and writes files under its root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'kube-ipvs-sysctl-'));
  await mkdir(join(root, 'net/ipv4'), { recursive: true });
  await writeFile(join(root, 'net/ipv4/ip_forward'), '0\n');
  const fs = procSysFs(root);
  assert.equal(await fs.read('net/ipv4/ip_forward'), '0');
  await fs.write('net/ipv4/ip_forward', '1');
  assert.equal(await readFile(join(root, 'net/ipv4/ip_forward'), 'utf8'), '1\n');
});
