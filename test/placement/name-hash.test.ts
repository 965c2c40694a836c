/**
 * The JavaScript XXH64 of short names (placement/name-hash.ts) equals the wasm xxh64 the ids of
 * named objects were always made with: every length it takes, random and extreme bytes, the name
 * seeds and random ones. Ids on disk depend on it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { makeObjectId } from '../../placement/index.js';
import { NAME_HASH_JS_MAX_BYTES, shortNameObjectId, xxh64ShortPair } from '../../placement/name-hash.js';

await initXxhash();
const t = suite('name-hash');

t('equals the wasm xxh64 on every length below NAME_HASH_JS_MAX_BYTES, any bytes and seeds', () => {
  const rng = new Rng(0x6e68);
  for (let n = 0; n < NAME_HASH_JS_MAX_BYTES; n++) {
    const inputs = [new Uint8Array(n), new Uint8Array(n).fill(0xff), new Uint8Array(n).fill(0x80), ...Array.from({ length: 200 }, () => rng.bytes(n))];
    for (const b of inputs) {
      for (const [s1, s2] of [[0x6f6964, 0x6e616d65], [0, 0xffffffff], [rng.int(2 ** 32), rng.int(2 ** 32)]] as Array<[number, number]>) {
        const [h1, h2] = xxh64ShortPair(b, s1, s2);
        assert.is(h1, xxh64(b, BigInt(s1)), `length ${n}, seed ${s1}`);
        assert.is(h2, xxh64(b, BigInt(s2)), `length ${n}, seed ${s2}`);
      }
    }
  }
});

t('a name\'s id is the one the wasm hashes give, for ids of every class top', () => {
  const rng = new Rng(0x1d5);
  for (const cls of ['S1', 'RP_2G1', 'EC_4P2G1', 'EC_2P1G1']) {
    const base = makeObjectId(0n, cls);
    const top = Number(base >> 96n);
    for (let i = 0; i < 2000; i++) {
      const b = i % 2 ? new TextEncoder().encode(`o${i}`) : rng.bytes(rng.int(NAME_HASH_JS_MAX_BYTES));
      const want = base | (xxh64(b, 0x6f6964n) << 32n) | (xxh64(b, 0x6e616d65n) & 0xffffffffn);
      assert.is(shortNameObjectId(b, b.length, top), want);
    }
  }
  // (a view into a larger buffer: only its first n bytes count)
  const big = new TextEncoder().encode('o123456-and-more');
  assert.is(shortNameObjectId(big, 7, Number(makeObjectId(0n, 'RP_2G1') >> 96n)), 0x800003b916da45552c79d8f2a1756n);
});

t('refuses inputs it does not take', () => {
  assert.throws(() => xxh64ShortPair(new Uint8Array(NAME_HASH_JS_MAX_BYTES), 0, 0));
  assert.throws(() => xxh64ShortPair(new Uint8Array(3), -1, 0));
});

t.run();
