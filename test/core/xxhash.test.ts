/**
 * xxhash: the JS XXH32 used for short keys equals xxhash-wasm's for every length it takes and
 * beyond, several seeds, on offset views; `xxh32` gives the same whichever path it takes; the pair
 * form (two seeds in one pass, bloom probes) gives both. XXH64 (the core's for inputs up to 64 KiB,
 * xxhash-wasm's beyond) equals xxhash-wasm's at every length around its stripe and size edges.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import xxhashInit from 'xxhash-wasm';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh32, xxh32js, xxh32jsPair, xxh64, xxh64Parts } from '../../core/xxhash.js';

await initXxhash();
const wasm = await xxhashInit();

test('xxh32js equals the wasm XXH32 at lengths 0..200, seeds 0, 1, 2^31, 2^32-1 and random, on offset views', () => {
  const rng = new Rng(9);
  for (let n = 0; n <= 200; n++) {
    for (const seed of [0, 1, 0x80000000, 0xffffffff, rng.int(0x7fffffff)]) {
      const v = rng.bytes(n + 3).subarray(3);
      const want = wasm.h32Raw(v, seed);
      assert.is(xxh32js(v, seed), want, `length ${n} seed ${seed}`);
      assert.is(xxh32(v, seed), want, `xxh32 length ${n} seed ${seed}`);
    }
  }
});

test('xxh32js of a prefix (its length argument) equals the wasm XXH32 of that prefix; a length beyond the buffer is refused', () => {
  const rng = new Rng(10);
  const buf = rng.bytes(80);
  for (let n = 0; n <= 80; n++) for (const seed of [0, 0x9747b28c, rng.int(0x7fffffff)]) {
    assert.is(xxh32js(buf, seed, n), wasm.h32Raw(buf.subarray(0, n), seed), `prefix ${n} seed ${seed}`);
  }
  assert.throws(() => xxh32js(buf, 0, 81), (e: Error & { code?: string }) => e.code === 'ASSERTION_FAILED');
  assert.throws(() => xxh32js(buf, 0, -1), (e: Error & { code?: string }) => e.code === 'ASSERTION_FAILED');
});

test('xxh32jsPair gives the wasm XXH32 of a prefix under each of its two seeds (lengths 0..120, offset views); a length beyond the buffer is refused', () => {
  const rng = new Rng(11);
  const buf = rng.bytes(125).subarray(5);
  const out = { h1: -1, h2: -1 };
  for (let n = 0; n <= 120; n++) for (const [s1, s2] of [[0x9747b28c, 0x5bd1e995], [0, 0xffffffff], [rng.int(0x7fffffff), 0x80000000]] as const) {
    xxh32jsPair(buf, n, s1, s2, out);
    assert.is(out.h1, wasm.h32Raw(buf.subarray(0, n), s1), `h1 prefix ${n} seed ${s1}`);
    assert.is(out.h2, wasm.h32Raw(buf.subarray(0, n), s2), `h2 prefix ${n} seed ${s2}`);
  }
  assert.throws(() => xxh32jsPair(buf, 121, 0, 1, out), (e: Error & { code?: string }) => e.code === 'ASSERTION_FAILED');
});

const SEEDS64 = [0n, 1n, 0x12345n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

test('xxh64 equals the wasm XXH64 at lengths 0..300, seeds across the 64-bit range, on offset views', () => {
  const rng = new Rng(64);
  for (let n = 0; n <= 300; n++) {
    for (const seed of [...SEEDS64, BigInt.asUintN(64, BigInt(rng.int(2 ** 31)) * 0x9e3779b97f4a7c15n)]) {
      const whole = rng.bytes(n + 11);
      const v = whole.subarray(5, 5 + n);
      assert.is(xxh64(v, seed), wasm.h64Raw(Uint8Array.from(v), seed), `n ${n} seed ${seed}`);
    }
  }
});

test('xxh64 at the edge of the core\'s input (64 KiB) and past it equals the wasm XXH64; the answer is unsigned', () => {
  const rng = new Rng(65);
  for (const n of [65_504, 65_535, 65_536, 65_537, 100_000, 1 << 20]) {
    const b = rng.bytes(n);
    for (const seed of [0n, (1n << 64n) - 1n]) {
      const h = xxh64(b, seed);
      assert.is(h, wasm.h64Raw(b, seed), `n ${n}`);
      assert.ok(h >= 0n && h < 1n << 64n);
    }
  }
  // a hash of a short input after a long one is not disturbed by what the long one left behind
  assert.is(xxh64(Uint8Array.of(1, 2, 3), 7n), wasm.h64Raw(Uint8Array.of(1, 2, 3), 7n));
  assert.is(xxh64Parts([Uint8Array.of(1, 2), Uint8Array.of(3)], 7n), wasm.h64Raw(Uint8Array.of(1, 2, 3), 7n));
});

test('xxh64 known answers (XXH64 of "" and "abc", seed 0)', () => {
  assert.is(xxh64(new Uint8Array(0)), 0xef46db3751d8e999n);
  assert.is(xxh64(new TextEncoder().encode('abc')), 0x44bc2cf5ad770999n);
});

test('known answers (XXH32 of "" and "abc", seed 0)', () => {
  assert.is(xxh32js(new Uint8Array(0), 0), 0x02cc5d05);
  assert.is(xxh32js(new TextEncoder().encode('abc'), 0), 0x32d153ff);
});

test.run();
