/**
 * The memtable's object table (`OidTable`), held to a `Map` of the same ids: ids of every width
 * up to 192 bits, ids equal in their low 64 or 128 bits, growth through many rehashes, updates of
 * present ids, lookups of absent ones, and insertion order of the values.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { OidKey, OidTable } from '../../src/vos/oid-table.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { WalEncoder, WalType, Where, decodeWalRecord } from '../../src/vos/wal.js';

const test = suite('vos oid table');

function randomBits(rng: Rng, bits: number): bigint {
  let x = 0n;
  for (let b = 0; b < bits; b += 30) x = (x << 30n) | BigInt(rng.int(1 << 30));
  return x & ((1n << BigInt(bits)) - 1n);
}

for (const expect of [0, 100, 40_000]) test(`answers as a Map of the same ids: every width, ids alike in their low 64 or 128 bits, updates, absent ids, order (sized for ${expect})`, () => {
  const rng = new Rng(0x01d7ab + expect);
  const t = new OidTable<number>(expect);
  const model = new Map<bigint, number>();
  const order: bigint[] = [];
  const k = new OidKey();
  const low = randomBits(rng, 64); const low128 = randomBits(rng, 128);
  const pick = (): bigint => {
    switch (rng.int(6)) {
      case 0: return BigInt(rng.int(64)); // tiny: many repeats
      case 1: return randomBits(rng, 64);
      case 2: return (randomBits(rng, 64) << 64n) | low; // alike in the low 64 bits
      case 3: return (randomBits(rng, 64) << 128n) | low128; // alike in the low 128 bits
      case 4: return (1n << 192n) - 1n - BigInt(rng.int(16)); // the top of the range
      default: return randomBits(rng, 1 + rng.int(192));
    }
  };
  for (let n = 0; n < 30_000; n++) {
    const id = pick();
    if (!model.has(id)) order.push(id);
    model.set(id, n);
    t.setKey(k.of(id), n);
    if (n % 3001 === 0) for (const [x, v] of model) assert.is(t.get(x), v, `id ${x.toString(16)} after ${n + 1} sets`);
  }
  assert.is(t.size, model.size);
  for (const [x, v] of model) assert.is(t.getKey(k.of(x)), v, `id ${x.toString(16)}`);
  for (let m = 0; m < 5000; m++) { const x = pick(); assert.is(t.get(x), model.get(x), `probe ${x.toString(16)}`); }
  assert.equal([...t.values()], order.map((x) => model.get(x)), 'values in insertion order');
  for (let i = 0; i < order.length; i += 97) assert.is(t.hashAt(i), new OidKey().of(order[i]!).hash, `hash of entry ${i}`);
});

test('oidAt gives back every entry\'s id from its words: every width, through the growth of the key array', () => {
  const rng = new Rng(0x0a1d);
  const t = new OidTable<number>();
  const ids: bigint[] = [0n, 1n, (1n << 64n) - 1n, 1n << 64n, (1n << 128n) - 1n, 1n << 128n, (1n << 192n) - 1n];
  for (let i = 0; i < 3000; i++) ids.push(randomBits(rng, [20, 64, 65, 96, 128, 129, 160, 192][i % 8]!));
  const k = new OidKey();
  const seen = new Set<bigint>();
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    t.setKey(k.of(id), t.size);
    if (t.size % 500 === 1) for (let e = 0; e < t.size; e++) assert.is(t.oidAt(e), [...seen][e], `entry ${e} of ${t.size}`);
  }
  const all = [...seen];
  for (let e = 0; e < t.size; e++) assert.is(t.oidAt(e), all[e], `entry ${e}`);
});

test('a key reads each id afresh: the same id again (a replica), another id, an equal id made anew', () => {
  const k = new OidKey();
  const a = (1n << 150n) | 12345n; const b = 77n;
  const wordsOf = (x: bigint) => [...new OidKey().of(x).words];
  assert.equal([...k.of(a).words], wordsOf(a));
  const h = k.hash;
  assert.equal([...k.of(a).words], wordsOf(a), 'the same id again');
  assert.is(k.hash, h);
  assert.equal([...k.of(b).words], wordsOf(b), 'another id: every word rewritten');
  assert.equal([...k.of(BigInt(a.toString())).words], wordsOf(a), 'an equal id from another bigint');
  assert.equal([...k.of(b).words], wordsOf(b));
  assert.throws(() => new OidTable(-1));
});

test('a key hashes every word: ids that differ in one bit anywhere hash apart (almost always) and never match', () => {
  const k = new OidKey(); const j = new OidKey();
  const base = (1n << 191n) | (0x1234n << 100n) | 77n;
  let same = 0;
  for (let b = 0; b < 192; b++) {
    const x = base ^ (1n << BigInt(b));
    if (k.of(base).hash === j.of(x).hash) same++;
    const t = new OidTable<string>();
    t.setKey(k.of(base), 'base');
    assert.is(t.get(x), undefined, `bit ${b} flipped: absent`);
    assert.is(t.get(base), 'base');
  }
  assert.ok(same <= 1, `${same} of 192 one-bit neighbours share the hash`);
});

test('lookup then addAt answers as setKey: one probe for a lookup that inserts', () => {
  const rng = new Rng(0x0add);
  const t = new OidTable<number>(0);
  const model = new Map<bigint, number>();
  const k = new OidKey();
  for (let n = 0; n < 20_000; n++) {
    const id = rng.int(3) === 0 ? BigInt(rng.int(500)) : randomBits(rng, 1 + rng.int(192));
    const e = t.lookup(k.of(id));
    assert.is(e >= 0, model.has(id), `lookup of ${id.toString(16)}`);
    if (e >= 0) assert.is(t.valueAt(e), model.get(id));
    else { t.addAt(k, e, n); model.set(id, n); }
  }
  for (const [x, v] of model) assert.is(t.get(x), v, `id ${x.toString(16)}`);
  assert.throws(() => t.addAt(k.of([...model.keys()][0]!), t.lookup(k), 1), /addAt/);
});

test('touchSlot and touchEntry change nothing; touchEntry probes the value of the entry in the first slot, none for an empty slot', () => {
  const rng = new Rng(0x70c4);
  const t = new OidTable<{ n: number }>();
  const ids: bigint[] = [];
  const k = new OidKey();
  for (let i = 0; i < 3000; i++) { const id = randomBits(rng, 160); ids.push(id); t.setKey(k.of(id), { n: i }); }
  let probed = 0, firstSlot = 0;
  for (let i = 0; i < ids.length; i++) {
    k.of(ids[i]!);
    t.touchSlot(k);
    const seen: number[] = [];
    const x = t.touchEntry(k, (v) => { seen.push(v.n); return v.n; });
    assert.ok(Number.isInteger(x));
    assert.ok(seen.length <= 1);
    if (seen.length === 1) { probed++; if (seen[0] === i) firstSlot++; }
    assert.equal(t.getKey(k)?.n, i, `id ${i} after the touches`);
  }
  // most ids sit in their first slot (the table is at most half full), and every such one was probed
  assert.ok(firstSlot > ids.length / 2 && probed >= firstSlot, `${firstSlot} of ${ids.length} in their first slot, ${probed} probed`);
  assert.is(t.size, ids.length);
  // an id the table does not hold, whose first slot is empty: no probe
  for (let tries = 0, found = false; !found && tries < 1000; tries++) {
    k.of(randomBits(rng, 160));
    if (t.touchSlot(k) !== 0) continue;
    found = true;
    assert.is(t.touchEntry(k, () => { throw new Error('probed an empty slot'); }), 0);
  }
});

test('a key\'s bytes are the log record\'s oid field: updates (from the bytes) and punches (from the id) decode to the id, every width', async () => {
  await initXxhash();
  const rng = new Rng(0xb17e5);
  const enc = new WalEncoder(); const k = new OidKey();
  const ids = [0n, 1n, (1n << 64n) - 1n, 1n << 64n, (1n << 128n) - 1n, 1n << 128n, (1n << 192n) - 1n];
  for (let i = 0; i < 200; i++) ids.push(randomBits(rng, 1 + rng.int(192)));
  for (const id of ids) {
    for (const rec of [
      enc.update(WalType.UpdateSingle, 7, 3n, 1, k.of(id).bytes, Uint8Array.of(1), Uint8Array.of(2), 5n, 0, 0, 0, 1, Where.Wal, 0, 0, Uint8Array.of(9)).slice(),
      enc.punch(7, 3n, 1, { oid: id, level: 0, dkey: new Uint8Array(0), akey: new Uint8Array(0) }).slice(),
    ]) {
      const r = decodeWalRecord(rec, new DataView(rec.buffer), 0, 0, rec.length, 7);
      assert.ok(r, `record of ${id.toString(16)} decodes`);
      assert.is((r!.update ?? r!.punch)!.oid, id, `id ${id.toString(16)}`);
    }
  }
});

test.run();
