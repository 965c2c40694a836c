/**
 * A container's kept record sizes (`RecordSizes`) answer as a model `Map` keyed by the oid and both
 * keys' bytes does: oids that share their low 32 bits, keys that differ
 * in one byte or in length or only in where the dkey ends and the akey begins, a size replaced under
 * a key held already, the caller's key buffers changed after the set, and the cache emptied once a
 * new key would pass RECORD_SIZES_MAX. A store's oids are unit object ids `(oid << 32) | shard`
 * (io/shard-store.ts: the low 32 bits are the shard index only): the akeys of thousands of objects
 * of one shard, dkey and akey name still spread over the slots, so a lookup compares a few entries,
 * not one per object.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { RECORD_SIZES_MAX, RecordSizes } from '../../src/vos/record-sizes.js';
import { unitOid } from '../../src/io/shard-store.js';
import { shortNameObjectId } from '../../placement/name-hash.js';

const test = suite('vos record sizes');

const modelKey = (oid: bigint, d: Uint8Array, a: Uint8Array) => `${oid}|${Buffer.from(d).toString('hex')}|${Buffer.from(a).toString('hex')}`;

function randomKey(rng: Rng): Uint8Array {
  const k = new Uint8Array(1 + rng.int(6));
  for (let i = 0; i < k.length; i++) k[i] = rng.int(3);
  return k;
}

test('answers as a model Map through random sets and gets', () => {
  const rng = new Rng(37);
  const rs = new RecordSizes();
  const model = new Map<string, number>();
  // (oids that share their low 32 bits, and some past 2^64)
  const oids = [1n, 2n, 1n + (1n << 32n), 1n + (1n << 100n), (1n << 64n) - 1n, 7n << 150n];
  for (let i = 0; i < 20_000; i++) {
    const oid = oids[rng.int(oids.length)]!, d = randomKey(rng), a = randomKey(rng);
    if (rng.chance(0.4)) {
      const size = 1 + rng.int(4);
      rs.set(oid, d, a, size);
      model.set(modelKey(oid, d, a), size);
      d.fill(9); a.fill(9); // the caller reuses its buffers: the kept keys are copies
    } else {
      assert.is(rs.get(oid, d, a), model.get(modelKey(oid, d, a)), `get ${modelKey(oid, d, a)}`);
    }
  }
  assert.is(rs.size, model.size, 'one entry per distinct (oid, dkey, akey)');
});

test('the boundary between dkey and akey is part of the key', () => {
  const rs = new RecordSizes();
  rs.set(5n, Uint8Array.of(1, 2), Uint8Array.of(3), 4);
  assert.is(rs.get(5n, Uint8Array.of(1), Uint8Array.of(2, 3)), undefined);
  assert.is(rs.get(5n, Uint8Array.of(1, 2), Uint8Array.of(3)), 4);
  assert.is(rs.get(5n + (1n << 32n), Uint8Array.of(1, 2), Uint8Array.of(3)), undefined, 'same low 32 bits, another oid');
});

test('a new key past RECORD_SIZES_MAX empties the cache first; replacing a held one does not', () => {
  const rs = new RecordSizes();
  const a = Uint8Array.of(0);
  const d = (i: number) => Uint8Array.of(i & 255, (i >>> 8) & 255, i >>> 16);
  for (let i = 0; i < RECORD_SIZES_MAX; i++) rs.set(BigInt(i), d(i), a, 1);
  assert.is(rs.size, RECORD_SIZES_MAX);
  rs.set(0n, d(0), a, 2); // held already: replaced in place
  assert.is(rs.size, RECORD_SIZES_MAX);
  assert.is(rs.get(0n, d(0), a), 2);
  rs.set(BigInt(RECORD_SIZES_MAX), d(RECORD_SIZES_MAX), a, 3);
  assert.is(rs.size, 1, 'emptied, then the new one kept');
  assert.is(rs.get(1n, d(1), a), undefined);
  assert.is(rs.get(BigInt(RECORD_SIZES_MAX), d(RECORD_SIZES_MAX), a), 3);
});

test('unit oids of many objects of one shard, dkey and akey spread over the slots', () => {
  const rs = new RecordSizes();
  const dkey = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 2), akey = Uint8Array.of(0x30);
  const objects = 8192;
  const named = (i: number) => { const b = Buffer.from(`obj-${i}`); return shortNameObjectId(b, b.length, 0x5c00003d); };
  // (objects named as an application names them, and objects numbered 0, 1, 2, ...)
  for (let i = 0; i < objects; i++) rs.set(unitOid(named(i), 3), dkey, akey, 1);
  for (let i = 0; i < objects; i++) rs.set(unitOid(BigInt(i), 3), dkey, akey, 1);
  for (let i = 0; i < objects; i++) rs.set(unitOid(BigInt(i + 1) << 96n, 3), dkey, akey, 1);
  assert.is(rs.size, 3 * objects, 'every one kept');
  const longest = rs.longestChain();
  assert.ok(longest <= 8, `a lookup compares at most a few entries (longest chain ${longest} of ${rs.size} entries)`);
  for (let i = 0; i < objects; i += 97) {
    assert.is(rs.get(unitOid(named(i), 3), dkey, akey), 1);
    assert.is(rs.get(unitOid(named(i), 4), dkey, akey), undefined, 'another shard of the object');
  }
});

test('a size that is not a positive integer is refused', () => {
  const rs = new RecordSizes();
  assert.throws(() => rs.set(1n, Uint8Array.of(1), Uint8Array.of(1), 0));
  assert.throws(() => rs.set(1n, Uint8Array.of(1), Uint8Array.of(1), 1.5));
  assert.is(rs.size, 0);
});

test.run();
