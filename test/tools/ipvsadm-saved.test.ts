// savedTexts: the bytes `ipvsadm -Sn` prints for a virtual server as applied. A resync records a
// block whose digest is one of them without parsing it (src/apply/verify-read.ts), which is sound
// only if parsing each text gives the service back — and useful only if ipvsadm prints exactly them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIp } from '../../src/compute/net/ip.ts';
import { virtualServerKey, type Protocol } from '../../src/compute/model/types.ts';
import { keyOfServiceArg, parseIpvsadmSave, savedTexts, type ObservedRealServer, type ObservedService } from '../../src/tools/ipvsadm.ts';
import { ipvsBlocks } from '../../src/tools/dump-blocks.ts';
import { sameService } from '../../src/apply/verify-read.ts';
import { prng } from '../support/prng.ts';

const fixture = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tools', 'ipvsadm-save.txt'));

test('the real ipvsadm -Sn (fixture from the VM): every block of the shape kube-ipvs programs is one of its texts, byte for byte', () => {
  let supported = 0;
  for (const b of ipvsBlocks(fixture)) {
    const text = fixture.toString('utf8', b.start, b.end);
    const s = [...parseIpvsadmSave(text).services.values()][0];
    assert.ok(s !== undefined, text);
    assert.equal(keyOfServiceArg(b.id), s.key);
    const texts = [...savedTexts(s)];
    if (texts.length === 0) continue;
    supported++;
    assert.ok(texts.includes(text), `${text} not among ${JSON.stringify(texts)}`);
  }
  // TCP with 2 real servers (one at weight 0), persistence, scheduler flags, UDP, SCTP, IPv6.
  assert.equal(supported, 6);
});

test('shapes kube-ipvs does not program have no text (their blocks are parsed)', () => {
  const shapes = parseIpvsadmSave(fixture.toString('utf8')).services;
  for (const key of ['FWM/100', virtualServerKey('TCP', parseIp('10.96.0.14')!, 80), virtualServerKey('UDP', parseIp('10.96.0.30')!, 514)]) {
    const s = shapes.get(key);
    assert.ok(s !== undefined, key);
    assert.deepEqual([...savedTexts(s)], [], key); // firewall mark; -M mask and tunnel forwarding; -o
  }
});

/** A deterministic pseudo-random sequence (mulberry32). */
test('each text parses back to the service it was printed for (500 random services)', () => {
  const rnd = prng(12);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  for (let n = 0; n < 500; n++) {
    const v6 = rnd() < 0.3;
    const protocol: Protocol = pick(['TCP', 'UDP', 'SCTP']);
    const ip = parseIp(v6 ? `fd00::${(n + 1).toString(16)}` : `10.96.${String(n >> 8)}.${String(n & 255)}`)!;
    const port = 1 + Math.floor(rnd() * 65535);
    const scheduler = pick(['rr', 'wrr', 'lc', 'sh', 'mh']);
    const flags = scheduler === 'mh' ? pick([[], ['mh-port'], ['mh-fallback', 'mh-port']]) : scheduler === 'sh' ? pick([[], ['sh-fallback']]) : [];
    const realServers: ObservedRealServer[] = Array.from({ length: Math.floor(rnd() * 12) }, (_, k) => ({
      ip: parseIp(v6 ? `fd00:10:244::${(k * 37 + n).toString(16)}` : `10.244.${String(Math.floor(rnd() * 256))}.${String(k)}`)!,
      port: 1 + Math.floor(rnd() * 65535), weight: pick([0, 1, 1, 1, 7]), forwarding: 'masq' as const,
    }));
    const s: ObservedService = {
      key: virtualServerKey(protocol, ip, port), target: { kind: 'address', protocol, ip, port }, scheduler, schedulerFlags: flags,
      ...(rnd() < 0.3 ? { persistence: pick([300, 10800]) } : {}), otherOptions: [], realServers,
    };
    const texts = [...savedTexts(s)];
    assert.ok(texts.length >= 1 && texts.length <= 2);
    for (const text of texts) {
      const table = parseIpvsadmSave(text);
      assert.deepEqual(table.skipped, [], text);
      const back = table.services.get(s.key);
      assert.ok(back !== undefined && table.services.size === 1, text);
      assert.ok(sameService(back, s), text);
      assert.equal(ipvsBlocks(Buffer.from(text)).length, 1, 'one block');
    }
    const order = (text: string | undefined): string[] => parseIpvsadmSave(text ?? '').services.get(s.key)?.realServers.map((r) => `${r.ip.text}:${String(r.port)}`) ?? [];
    const applied = realServers.map((r) => `${r.ip.text}:${String(r.port)}`);
    const sorted = [...realServers].sort((a, b) => (a.ip.value < b.ip.value ? -1 : a.ip.value > b.ip.value ? 1 : a.port - b.port)).map((r) => `${r.ip.text}:${String(r.port)}`);
    assert.deepEqual(order(texts[0]), sorted, 'first as ipvsadm prints them: by address, then port');
    assert.deepEqual(order(texts.at(-1)), applied, 'then in the order applied');
  }
});
