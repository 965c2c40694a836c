/**
 * The order of a commit's ops (src/container/commit-waves.ts): `orderOps` leaves out what a later
 * op overwrites whole and joins an erasure-coded akey's array writes into one; `commitWaves` puts
 * an op that must follow another of the commit in a later wave. Checked by cases, then by a
 * seeded property: random commits over a few keys, applied to a plain model in the order given,
 * and again as ordered — each wave's ops in reverse, the worst order a target may see — end in
 * the same state.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { orderOps, commitWaves, distinctWrites } from '../../src/container/commit-waves.js';
import type { Op } from '../../src/container/ops.js';
import { Rng } from '../../core/rng.js';

const t = suite('container/commit-waves');
const b = (s: string) => new TextEncoder().encode(s);
const EC_OID = 7n, RP_OID = 3n;
const isEc = (oid: bigint) => oid === EC_OID;
const single = (oid: bigint, d: string, a: string, v: string): Op => ({ kind: 'single', oid, dkey: b(d), akey: b(a), value: b(v) });
const array = (oid: bigint, d: string, a: string, offset: number, data: Uint8Array): Op => ({ kind: 'array', oid, dkey: b(d), akey: b(a), offset, data });

t('ops on distinct keys: one wave, the ops as given', () => {
  const ops = [single(RP_OID, 'd', 'a', 'x'), single(RP_OID, 'd', 'b', 'y'), single(EC_OID, 'd', 'a', 'z'), array(EC_OID, 'e', 'a', 0, new Uint8Array(4)), single(RP_OID, 'da', '', 'w')];
  assert.ok(distinctWrites(ops), 'seen as distinct by the quick check');
  assert.is(orderOps(ops, isEc), ops);
  assert.is(commitWaves(ops), undefined);
  assert.not.ok(distinctWrites([...ops, single(RP_OID, 'd', 'a', 'again')]), 'an akey twice');
  assert.not.ok(distinctWrites([single(RP_OID, 'd', 'a', 'x'), { kind: 'punchAkey', oid: RP_OID, dkey: b('d'), akey: b('b') }]), 'a punch');
});

t('keys are told apart by their bytes, not by a separator', () => {
  const ops = [single(RP_OID, 'a\u0000b', 'c', 'x'), single(RP_OID, 'a', 'b\u0000c', 'y')];
  assert.is(commitWaves(ops), undefined);
});

t('an op a later punch or single value overwrites whole is left out', () => {
  const up = single(RP_OID, 'd', 'a', 'x'), other = single(RP_OID, 'd', 'b', 'y');
  assert.equal(orderOps([up, { kind: 'punchAkey', oid: RP_OID, dkey: b('d'), akey: b('a') }], isEc).map((o) => o.kind), ['punchAkey']);
  assert.equal(orderOps([up, other, { kind: 'punchDkey', oid: RP_OID, dkey: b('d') }], isEc).map((o) => o.kind), ['punchDkey']);
  assert.equal(orderOps([up, single(RP_OID, 'e', 'a', 'z'), { kind: 'punchObject', oid: RP_OID }], isEc).map((o) => o.kind), ['punchObject']);
  const second = single(RP_OID, 'd', 'a', 'w');
  assert.equal(orderOps([up, second], isEc), [second]);
});

t('a punch then an update under it: two waves', () => {
  const ops: Op[] = [{ kind: 'punchDkey', oid: RP_OID, dkey: b('d') }, single(RP_OID, 'd', 'a', 'x'), single(RP_OID, 'e', 'a', 'y')];
  assert.is(orderOps(ops, isEc), ops);
  assert.equal([...commitWaves(ops)!], [0, 1, 0]);
});

t('array writes of one replicated akey stay apart, in waves; of an erasure-coded one they are joined', () => {
  const rp = [array(RP_OID, 'd', 'a', 0, new Uint8Array(10).fill(1)), array(RP_OID, 'd', 'a', 5, new Uint8Array(10).fill(2))];
  assert.is(orderOps(rp, isEc), rp);
  assert.equal([...commitWaves(rp)!], [0, 1]);
  const joined = orderOps([array(EC_OID, 'd', 'a', 0, new Uint8Array(10).fill(1)), array(EC_OID, 'd', 'a', 5, new Uint8Array(10).fill(2))], isEc);
  assert.is(joined.length, 1);
  const j = joined[0] as Extract<Op, { kind: 'array' }>;
  assert.equal([j.offset, j.pieces, j.zeroBase], [0, undefined, undefined]);
  assert.equal(j.data, Uint8Array.from([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]));
  const gap = orderOps([array(EC_OID, 'd', 'a', 20, new Uint8Array(2).fill(3)), array(EC_OID, 'd', 'a', 0, new Uint8Array(2).fill(4))], isEc);
  const g = gap[0] as Extract<Op, { kind: 'array' }>;
  assert.equal([gap.length, g.offset, g.data.length, g.pieces?.map((p) => p.offset)], [1, 0, 22, [20, 0]]);
});

t('an erasure-coded array write after a punch of its akey or above takes the stripes as holes', () => {
  for (const punch of [{ kind: 'punchAkey', oid: EC_OID, dkey: b('d'), akey: b('a') }, { kind: 'punchDkey', oid: EC_OID, dkey: b('d') }, { kind: 'punchObject', oid: EC_OID }] as Op[]) {
    const ops = orderOps([punch, array(EC_OID, 'd', 'a', 3, new Uint8Array(2))], isEc);
    assert.equal(ops.map((o) => o.kind), [punch.kind, 'array']);
    assert.is((ops[1] as Extract<Op, { kind: 'array' }>).zeroBase, true, punch.kind);
  }
  const other = orderOps([{ kind: 'punchAkey', oid: EC_OID, dkey: b('d'), akey: b('b') }, array(EC_OID, 'd', 'a', 3, new Uint8Array(2))], isEc);
  assert.is((other[1] as Extract<Op, { kind: 'array' }>).zeroBase, undefined, 'a punch of another akey');
});

// ------------------------------------------------------------------ the property

type Model = Map<string, { single?: string; array?: number[] }>;
const path = (o: bigint, d: string, a: string) => `${o}/${d}/${a}`;
const text = (u: Uint8Array) => new TextDecoder().decode(u);

function apply(m: Model, op: Op): void {
  const o = String(op.oid);
  if (op.kind === 'punchObject') { for (const k of [...m.keys()]) if (k.startsWith(`${o}/`)) m.delete(k); return; }
  const d = text(op.dkey);
  if (op.kind === 'punchDkey') { for (const k of [...m.keys()]) if (k.startsWith(`${o}/${d}/`)) m.delete(k); return; }
  const k = path(op.oid, d, text(op.akey));
  if (op.kind === 'punchAkey') { m.delete(k); return; }
  if (op.kind === 'single') { m.set(k, { single: text(op.value) }); return; }
  const cur = m.get(k)?.array ?? [];
  const arr = cur.slice();
  for (const p of op.pieces ?? [{ offset: op.offset, data: op.data }]) p.data.forEach((v, i) => { arr[p.offset + i] = v; });
  m.set(k, { array: arr });
}

t('random commits end the same applied as given and as ordered, waves in reverse (seeded)', () => {
  const rng = new Rng(Number(process.env.CAIRN_WAVES_SEED ?? 0xc0de));
  let multiWave = 0, joined = 0;
  for (let round = 0; round < 3000; round++) {
    const ops: Op[] = [];
    const n = 1 + rng.int(7);
    for (let i = 0; i < n; i++) {
      const oid = rng.chance(0.5) ? EC_OID : RP_OID, d = rng.pick(['d', 'e']), a = rng.pick(['a', 'b']);
      const r = rng.float();
      if (r < 0.3) ops.push(single(oid, d, a, `v${round}.${i}`));
      else if (r < 0.7) ops.push(array(oid, d, 'x' + a, rng.int(20), rng.bytes(1 + rng.int(8)).map((v) => v | 1)));
      else if (r < 0.8) ops.push({ kind: 'punchAkey', oid, dkey: b(d), akey: b(rng.chance(0.5) ? a : 'x' + a) });
      else if (r < 0.93) ops.push({ kind: 'punchDkey', oid, dkey: b(d) });
      else ops.push({ kind: 'punchObject', oid });
    }
    const given: Model = new Map(), ordered: Model = new Map();
    // what was there before the commit
    for (const m of [given, ordered]) for (const o of [EC_OID, RP_OID]) m.set(path(o, 'd', 'xa'), { array: Array.from({ length: 24 }, (_, i) => 100 + i) });
    for (const op of ops) apply(given, op);
    const out = orderOps(ops, isEc);
    const waves = commitWaves(out);
    if (distinctWrites(ops)) assert.ok(out === ops && waves === undefined, `round ${round}: distinct writes need no ordering`);
    if (waves !== undefined) multiWave++;
    if (out.some((o) => o.kind === 'array' && (o.pieces !== undefined || o.zeroBase))) joined++;
    const last = waves === undefined ? 0 : Math.max(...waves);
    for (let w = 0; w <= last; w++) {
      const wave = out.filter((_, i) => (waves?.[i] ?? 0) === w);
      for (const op of wave.reverse()) apply(ordered, op);
    }
    assert.equal(Object.fromEntries(ordered), Object.fromEntries(given), `round ${round}: ${JSON.stringify(ops, (_, v) => typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? [...v] : v)}`);
  }
  assert.ok(multiWave > 300 && joined > 100, `the rounds reached waves (${multiWave}) and joined writes (${joined})`);
});

t.run();
