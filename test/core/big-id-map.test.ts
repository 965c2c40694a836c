/**
 * BigIdMap / BigIdSet (core/big-id-map.ts): maps and sets of big ids that behave as a Map and a Set,
 * keyed by a mix whose low 64 bits (all V8 hashes of a BigInt key) depend on every bit of the id.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { BigIdMap, BigIdSet, mixBigId } from '../../core/big-id-map.js';

const U64 = (1n << 64n) - 1n;

test('mixBigId is its own inverse, keeps ids below 2^64 and the bits above 64, and spreads ids that differ only above bit 64', () => {
  const rng = new Rng(21);
  for (let i = 0; i < 2000; i++) {
    const id = (BigInt(rng.int(0x7fffffff)) << 128n) | (BigInt(rng.int(0x7fffffff)) << 64n) | BigInt(rng.int(0x7fffffff));
    assert.is(mixBigId(mixBigId(id)), id);
    assert.is(mixBigId(id) >> 64n, id >> 64n, 'the high bits are unchanged');
  }
  assert.is(mixBigId(12345n), 12345n);
  assert.is(mixBigId(U64), U64);
  const lows = new Set<bigint>();
  for (let i = 1n; i <= 5000n; i++) lows.add(mixBigId((i << 64n) | 7n) & U64);
  assert.is(lows.size, 5000, 'ids alike in their low 64 bits get distinct low digits');
});

test('BigIdMap and BigIdSet behave as a Map and a Set (random operations against the built-ins)', () => {
  const rng = new Rng(22);
  const m = new BigIdMap<number>(); const ref = new Map<bigint, number>();
  const s = new BigIdSet(); const refS = new Set<bigint>();
  const ids = Array.from({ length: 300 }, (_, i) => (BigInt(i % 17) << 100n) | (BigInt(i % 5) << 64n) | BigInt(i % 3));
  for (let step = 0; step < 20000; step++) {
    const id = ids[rng.int(ids.length)]!;
    const op = rng.int(4);
    if (op === 0) { m.set(id, step); ref.set(id, step); s.add(id); refS.add(id); }
    else if (op === 1) { assert.is(m.delete(id), ref.delete(id)); assert.is(s.delete(id), refS.delete(id)); }
    else if (op === 2) { assert.is(m.get(id), ref.get(id)); assert.is(m.has(id), ref.has(id)); assert.is(s.has(id), refS.has(id)); }
    else { assert.is(m.size, ref.size); assert.is(s.size, refS.size); }
  }
  assert.equal([...m.keys()], [...ref.keys()], 'ids come back unmixed, in insertion order');
  assert.equal([...m.values()], [...ref.values()]);
  assert.equal([...m], [...ref]);
  assert.equal([...s], [...refS]);
  assert.equal([...new BigIdSet([3n, 1n << 70n, 3n])], [3n, 1n << 70n]);
  m.clear(); assert.is(m.size, 0);
});

test('getMixed finds what get finds, by the id mixed once', () => {
  const m = new BigIdMap<number>();
  const rng = new Rng(7);
  const ids: bigint[] = [];
  for (let i = 0; i < 500; i++) ids.push((BigInt(rng.int(1 << 30)) << 96n) | (BigInt(i) << 32n) | BigInt(i & 3));
  ids.forEach((id, i) => m.set(id, i));
  ids.forEach((id, i) => { assert.is(m.getMixed(mixBigId(id)), i); assert.is(m.getMixed(mixBigId(id)), m.get(id)); });
  assert.is(m.getMixed(mixBigId(ids[0]! + (1n << 100n))), undefined, 'an absent id');
  assert.is(m.getMixed(ids[3]!), undefined, 'an id above 2^64, unmixed, is not its key');
});

test.run();
