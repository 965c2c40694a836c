/**
 * Ordered range listings and the KV methods Level and S3 build on (list/entries with
 * gt/gte/lt/lte/reverse/limit, batch, getMany, has), checked against a plain sorted-array model
 * with random keys and random ranges, on a real embedded pool and several redundancy classes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { collect, rejectsWith, text } from '../helpers/tmp.js';
import { poolUnderTest } from '../helpers/pool-under-test.js';
import type { KeyRange } from '../../src/index.js';

const put = await poolUnderTest(6, { scmBytes: 16 << 20, dataBytes: 64 << 20 });
const pool = put.pool;
const cont = await pool.createContainer('kv-range', { oclass: 'RP_2G1', cellSize: 1024 });
const CLASSES = ['S1', 'S4', 'RP_2G2', 'EC_2P1G2', 'EC_4P2G1'];

const t = suite('kv-range');

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);

/** Keys over a small alphabet (shared prefixes, 0x00 and 0xff included), 1..5 bytes. */
function randomKey(rng: Rng): Uint8Array {
  const alphabet = [0x00, 0x01, 0x2f, 0x61, 0x62, 0x7f, 0x80, 0xfe, 0xff];
  const k = new Uint8Array(1 + rng.int(5));
  for (let i = 0; i < k.length; i++) k[i] = alphabet[rng.int(alphabet.length)]!;
  return k;
}

/** The model: what a range query must return over the sorted key set. */
function modelQuery(keys: Uint8Array[], r: KeyRange): Uint8Array[] {
  const b = (x: unknown) => (typeof x === 'string' ? new TextEncoder().encode(x) : (x as Uint8Array));
  let out = keys.filter((k) =>
    (r.gt === undefined || cmp(k, b(r.gt)) > 0) && (r.gte === undefined || cmp(k, b(r.gte)) >= 0) &&
    (r.lt === undefined || cmp(k, b(r.lt)) < 0) && (r.lte === undefined || cmp(k, b(r.lte)) <= 0));
  if (r.reverse) out = out.reverse();
  return r.limit === undefined ? out : out.slice(0, r.limit);
}

function randomRange(rng: Rng, keys: Uint8Array[]): KeyRange {
  const bound = () => (keys.length && rng.chance(0.5) ? keys[rng.int(keys.length)]! : rng.chance(0.1) ? new Uint8Array(0) : randomKey(rng));
  const r: KeyRange = {};
  const lo = rng.int(3), hi = rng.int(3);
  if (lo === 1) r.gt = bound(); else if (lo === 2) r.gte = bound();
  if (hi === 1) r.lt = bound(); else if (hi === 2) r.lte = bound();
  if (rng.chance(0.5)) r.reverse = true;
  if (rng.chance(0.5)) r.limit = rng.int(12);
  return r;
}

const show = (r: KeyRange) => JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? hexOf(v) : v));

for (const oclass of CLASSES) {
  t(`${oclass}: random ranges in both directions with limits match a sorted-array model`, async () => {
    const rng = new Rng(0x5eed + oclass.length);
    const kv = cont.kv(`range-${oclass}`, { oclass });
    const model = new Map<string, { key: Uint8Array; value: Uint8Array }>();
    // Random puts (batched and single) and deletes.
    for (let round = 0; round < 6; round++) {
      const ops: Array<{ type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }> = [];
      for (let i = 0; i < 30; i++) {
        const key = randomKey(rng);
        if (rng.chance(0.2)) { ops.push({ type: 'del', key }); model.delete(hexOf(key)); }
        else { const value = rng.bytes(rng.int(40)); ops.push({ type: 'put', key, value }); model.set(hexOf(key), { key, value }); }
      }
      await kv.batch(ops);
      const single = randomKey(rng);
      await kv.put(single, 'one');
      model.set(hexOf(single), { key: single, value: new TextEncoder().encode('one') });
    }
    const keys = [...model.values()].map((e) => e.key).sort(cmp);
    assert.ok(keys.length > 40, `enough keys (${keys.length})`);
    assert.equal((await collect(kv.list())).map(hexOf), keys.map(hexOf), 'full listing');
    assert.equal((await collect(kv.list({ reverse: true }))).map(hexOf), [...keys].reverse().map(hexOf), 'full reverse listing');
    for (let q = 0; q < 150; q++) {
      const r = randomRange(rng, keys);
      const want = modelQuery(keys, r).map(hexOf);
      assert.equal((await collect(kv.list(r))).map(hexOf), want, `list ${show(r)}`);
      if (q % 5 === 0) {
        const got = await collect(kv.entries(r));
        assert.equal(got.map(([k]) => hexOf(k)), want, `entries keys ${show(r)}`);
        for (const [k, v] of got) assert.equal(hexOf(v), hexOf(model.get(hexOf(k))!.value), 'entry value');
      }
    }
  });
}

t('string bounds compare as UTF-8 bytes; the upper bound stops a forward scan early', async () => {
  const kv = cont.kv('strings');
  const names = ['a', 'a/b', 'a/c', 'ab', 'b', 'é', 'z'];
  await kv.batch(names.map((key) => ({ type: 'put' as const, key, value: key })));
  const list = async (r: KeyRange) => (await collect(kv.list(r))).map((k) => text(k));
  assert.equal(await list({ gt: 'a', lt: 'b' }), ['a/b', 'a/c', 'ab']);
  assert.equal(await list({ gte: 'a/', lt: 'a0' }), ['a/b', 'a/c']);
  assert.equal(await list({ gte: 'b', reverse: true }), ['é', 'z', 'b'], 'é is 0xc3a9, above z');
  assert.equal(await list({ lte: 'ab', reverse: true, limit: 2 }), ['ab', 'a/c']);
  assert.equal(await list({ gt: 'é' }), []);
  assert.equal(await list({ gt: 'z' }), ['é']);
  assert.equal(await list({ gt: 'b', lt: 'a' }), [], 'inverted range is empty');
  assert.equal(await list({ gte: 'b', lte: 'b' }), ['b']);
  assert.equal(await list({ gt: 'b', lte: 'b' }), []);
  assert.equal(await list({ limit: 0 }), []);
  // Leaving a forward listing after the first key is fine and closes the scan.
  for await (const k of kv.list({ gte: 'a/' })) { assert.is(text(k), 'a/b'); break; }
  assert.is(text(await kv.object.queryMaxDkey()), 'é');
});

t('batch is atomic at one epoch; the last operation on a key wins', async () => {
  const kv = cont.kv('batch');
  await kv.put('gone', 'old');
  const before = await kv.put('keep', 'old');
  const epoch = await kv.batch([
    { type: 'put', key: 'x', value: '1' },
    { type: 'put', key: 'y', value: new Uint8Array([2]) },
    { type: 'del', key: 'gone' },
    { type: 'put', key: 'keep', value: 'new' },
    { type: 'put', key: 'flip', value: 'a' },
    { type: 'del', key: 'flip' },
    { type: 'del', key: 'flop' },
    { type: 'put', key: 'flop', value: 'b' },
  ]);
  assert.ok(epoch > before);
  const at = async (e: bigint) => (await collect(kv.entries({ epoch: e }))).map(([k, v]) => `${text(k)}=${text(v)}`);
  assert.equal(await at(epoch - 1n), ['gone=old', 'keep=old']);
  assert.equal(await at(epoch), ['flop=b', 'keep=new', 'x=1', 'y=\u0002']);
  assert.equal(await kv.batch([]), await kv.batch([]), 'an empty batch commits nothing');
});

t('getMany reads every key at one epoch; has tells presence; empty values round-trip', async () => {
  const kv = cont.kv('many');
  const keys = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, '0')}`);
  await kv.batch(keys.filter((_, i) => i % 3 !== 0).map((key) => ({ type: 'put' as const, key, value: key.toUpperCase() })));
  const e = await kv.put('empty', new Uint8Array(0));
  const vals = await kv.getMany([...keys, 'empty']);
  keys.forEach((k, i) => assert.is(text(vals[i]), i % 3 !== 0 ? k.toUpperCase() : undefined, k));
  assert.equal(vals[keys.length], new Uint8Array(0));
  assert.ok(await kv.has('empty'));
  assert.ok(await kv.has('k001'));
  assert.not.ok(await kv.has('k000'));
  await kv.remove('k001');
  assert.not.ok(await kv.has('k001'));
  assert.ok(await kv.has('k001', { epoch: e }), 'has reads at an epoch');
  assert.is(text((await kv.getMany(['k001'], { epoch: e }))[0]), 'K001');
  const snap = await cont.snapshot('many-snap');
  await kv.put('k002', 'changed');
  assert.is(text((await kv.getMany(['k002'], { snapshot: snap }))[0]), 'K002');
  assert.equal((await collect(kv.entries({ gte: 'k002', lte: 'k002', snapshot: 'many-snap' }))).map(([, v]) => text(v)), ['K002']);
});

t('bad arguments are INVALID_ARGUMENT', async () => {
  const kv = cont.kv('bad');
  const bad: unknown[] = [
    { gt: 'a', gte: 'a' }, { lt: 'a', lte: 'b' }, { limit: -1 }, { limit: 1.5 }, { limit: '3' }, { reverse: 'yes' },
    { gt: 5 }, { lte: null }, { gte: 'x'.repeat(5000) },
  ];
  for (const r of bad) await rejectsWith(() => collect(kv.list(r as KeyRange)), 'INVALID_ARGUMENT');
  await rejectsWith(() => collect(kv.entries({ limit: -2 })), 'INVALID_ARGUMENT');
  await rejectsWith(kv.batch('nope' as never), 'INVALID_ARGUMENT');
  await rejectsWith(kv.batch([{ type: 'upsert', key: 'a', value: 'b' } as never]), 'INVALID_ARGUMENT');
  await rejectsWith(kv.batch([{ type: 'put', key: 'a', value: 7 } as never]), 'INVALID_ARGUMENT');
  await rejectsWith(kv.batch([{ type: 'put', key: '', value: 'v' }]), 'INVALID_ARGUMENT');
  await rejectsWith(kv.batch([null as never]), 'INVALID_ARGUMENT');
  await rejectsWith(kv.getMany('a' as never), 'INVALID_ARGUMENT');
  await rejectsWith(kv.getMany([42 as never]), 'INVALID_ARGUMENT');
  await rejectsWith(kv.put('a', { recx: { index: 0, count: 1 }, data: 'x' } as never), 'INVALID_ARGUMENT');
  assert.equal(await collect(kv.list()), [], 'nothing was written by the refused calls');
});

t.after(async () => { await put.close(); });
t.run();
