// The decoder's shortcuts for what nearly every endpoint carries (src/compute/k8s/decode.ts):
// condition sets found by index, one-zone hints found by zone name. Each must give exactly what
// the general reading gives — the same values, the same problems, the same shared objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEndpointSlice, decodeHintsGeneral } from '../../../src/compute/k8s/decode.ts';
import { FieldReader, type JsonRecord } from '../../../src/compute/k8s/field-reader.ts';
import { prng } from '../../support/prng.ts';

const SEED = 20261205;
const meta = { name: 's', namespace: 'd' };

/** A hints value of any shape the API could send, well or wrongly typed. */
function randomHints(rnd: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const name = (): unknown => pick(['z1', 'z2', `zone-${String(Math.floor(rnd() * 5))}`, '', 7, null, undefined, ['z1'], { n: 1 }]);
  const entry = (): unknown => pick([{ name: name() }, { name: name(), extra: 1 }, {}, null, 'z1', 3]);
  const list = (): unknown => pick([undefined, null, [], [entry()], [entry()], [entry(), entry()], 'z1', { name: 'z1' }, [null]]);
  const h: Record<string, unknown> = {};
  const zones = list();
  const nodes = rnd() < 0.6 ? undefined : list();
  if (zones !== undefined || rnd() < 0.5) h.forZones = zones;
  if (nodes !== undefined || rnd() < 0.2) h.forNodes = nodes;
  return h;
}

test('one-zone hints by zone name: the same hints, problems and shared object as the general reading (property, 20,000 cases)', () => {
  const rnd = prng(SEED);
  for (let i = 0; i < 20_000; i++) {
    const hints = randomHints(rnd);
    const s = decodeEndpointSlice({ metadata: meta, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], hints }] });
    const r = new FieldReader();
    const general = decodeHintsGeneral(r, hints as JsonRecord, 'endpoints[0].hints');
    const got = s.endpoints?.[0]?.hints;
    const why = `seed ${String(SEED)} case ${String(i)}: ${JSON.stringify(hints)}`;
    assert.deepEqual(got, general, why);
    assert.equal(got, general, `${why}: one shared object per set of names`);
    assert.deepEqual(s.problems, r.problems, why);
  }
});

/** The endpoint as the reader reads it field by field (the decoder before its shortcuts): the oracle. */
function endpointByReader(r: FieldReader, e: JsonRecord, f: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const addresses = r.strings(e.addresses, `${f}.addresses`);
  if (addresses !== undefined) out.addresses = addresses;
  const c = r.obj(e.conditions, `${f}.conditions`);
  if (c !== undefined) {
    const cond: Record<string, boolean> = {};
    for (const k of ['ready', 'serving', 'terminating']) {
      const b = r.bool(c[k], `${f}.conditions.${k}`);
      if (b !== undefined) cond[k] = b;
    }
    out.conditions = cond;
  }
  const nodeName = r.str(e.nodeName, `${f}.nodeName`);
  if (nodeName !== undefined) out.nodeName = nodeName;
  const hints = r.obj(e.hints, `${f}.hints`);
  if (hints !== undefined) out.hints = decodeHintsGeneral(r, hints, `${f}.hints`);
  return out;
}

/** An endpoint with each field absent, null, well or wrongly typed. */
function randomEndpoint(rnd: () => number): JsonRecord {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const bool = (): unknown => pick([true, false, undefined, null, 'true', 1]);
  const e: Record<string, unknown> = {};
  const set = (k: string, v: unknown): void => { if (v !== undefined || rnd() < 0.3) e[k] = v; };
  set('addresses', pick([['10.0.0.1'], ['10.0.0.1', 'fd00::1'], [], undefined, null, '10.0.0.1', [7], ['10.0.0.1', null], [{ ip: 'x' }]]));
  set('conditions', pick([{ ready: bool(), serving: bool(), terminating: bool() }, {}, undefined, null, 'ready', [true]]));
  set('nodeName', pick(['node-a', '', undefined, null, 5, ['node-a']]));
  set('hints', pick([randomHints(rnd), undefined, null, 'z1', []]));
  if (rnd() < 0.3) e.targetRef = { kind: 'Pod', name: 'p' };
  return e;
}

test('endpoints: well-typed fields taken as they are, the rest read field by field — the same endpoints and problems as the reader alone (property, 20,000 cases)', () => {
  const rnd = prng(SEED + 1);
  for (let i = 0; i < 20_000; i++) {
    const endpoints = [randomEndpoint(rnd), randomEndpoint(rnd)];
    const s = decodeEndpointSlice({ metadata: meta, addressType: 'IPv4', endpoints });
    const r = new FieldReader();
    const want = endpoints.map((e, k) => endpointByReader(r, e, `endpoints[${String(k)}]`));
    const why = `seed ${String(SEED + 1)} case ${String(i)}: ${JSON.stringify(endpoints)}`;
    assert.deepEqual(s.endpoints, want, why);
    assert.deepEqual(s.problems, r.problems, why);
  }
});

test('every condition set (absent, false, true each) is decoded as given and shared', () => {
  const values = [undefined, false, true] as const;
  for (const ready of values) {
    for (const serving of values) {
      for (const terminating of values) {
        const c: Record<string, boolean> = {};
        if (ready !== undefined) c.ready = ready;
        if (serving !== undefined) c.serving = serving;
        if (terminating !== undefined) c.terminating = terminating;
        const s = decodeEndpointSlice({ metadata: meta, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: c }, { addresses: ['10.0.0.2'], conditions: { ...c } }] });
        const [a, b] = (s.endpoints ?? []).map((e) => e.conditions);
        assert.deepEqual(a, c, JSON.stringify(c));
        assert.equal(a, b, `${JSON.stringify(c)}: shared`);
        assert.ok(Object.isFrozen(a), 'shared, so never mutated');
      }
    }
  }
  // A wrongly typed condition is a problem and reads as absent, as before.
  const s = decodeEndpointSlice({ metadata: meta, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: 'yes', serving: true } }] });
  assert.deepEqual(s.endpoints?.[0]?.conditions, { serving: true });
  assert.match(JSON.stringify(s.problems), /endpoints\[0\]\.conditions\.ready/);
});
