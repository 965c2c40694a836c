/**
 * The addon's GFNI matrix kernel (native/gfni.c) behind the wasm codec (`useNativeGf`, as src/io
 * registers it). Specification: with it, encode and reconstruct give exactly the TypeScript
 * reference codec's bytes (and the reed-solomon-erasure package's parity for Vandermonde), for
 * every shape, both matrices, lengths at and past the native threshold (tails of any length), and
 * any lost subset; shapes it does not take fall back to wasm with the same results; bad arguments
 * are a TypeError, not a crash.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCodec, useNativeGf, NATIVE_GF_MIN_BYTES, type Codec, type EcImpl, type MatrixKind } from '../../ec/index.js';
import { loadNative } from '../../src/media/index.js';
import { Rng } from '../../core/rng.js';
import { randomStripe, cloneShards, hex, randomSubset } from './helpers.js';

const test = suite('ec/native-gf');
const gf = loadNative().addon?.gfApply;
const gfCopy = loadNative().addon?.gfApplyCopy;
let calls = 0, ran = 0, copyCalls = 0, copyRan = 0;
const codecs = new Map<string, Codec>();
function codec(impl: EcImpl, k: number, p: number, matrix: MatrixKind): Codec {
  const key = `${impl} ${k}+${p} ${matrix}`;
  let c = codecs.get(key);
  if (!c) { c = createCodec({ dataShards: k, parityShards: p, impl, matrix }); codecs.set(key, c); }
  return c;
}
test.before(() => {
  if (gf) {
    useNativeGf((m, rows, k, ins, outs, len) => { calls++; const ok = gf(m, rows, k, ins, outs, len); if (ok) ran++; return ok; },
      gfCopy && ((m, rows, k, ins, cps, outs, len) => { copyCalls++; const ok = gfCopy(m, rows, k, ins, cps, outs, len); if (ok) copyRan++; return ok; }));
  }
});
test.after(() => { useNativeGf(undefined); for (const c of codecs.values()) c.dispose?.(); });

const SHAPES: [number, number][] = [[1, 1], [2, 1], [4, 2], [5, 3], [8, 2], [10, 4], [16, 4], [20, 5], [32, 8], [64, 16]];
const LENGTHS = [NATIVE_GF_MIN_BYTES, NATIVE_GF_MIN_BYTES + 1, NATIVE_GF_MIN_BYTES + 63, 65_536 + 33, 262_144];

test('encode and reconstruct equal the TypeScript reference (and reed-solomon-erasure), both matrices, any lost subset', () => {
  if (!gf) return; // no addon: the wasm kernel runs (tested in codec.test.ts)
  const rng = new Rng(0x6f1);
  for (const matrix of ['vandermonde', 'cauchy'] as MatrixKind[]) {
    for (const [k, p] of SHAPES) {
      for (const len of LENGTHS) {
        if (k >= 20 && len > 70_000) continue;
        const data = randomStripe(rng, k, p, len);
        const ref = cloneShards(data);
        codec('scalar', k, p, matrix).encode(ref);
        if (matrix === 'vandermonde') {
          const rse = cloneShards(data);
          codec('reed-solomon-erasure', k, p, matrix).encode(rse);
          for (let r = k; r < k + p; r++) assert.is(hex(rse[r]!), hex(ref[r]!), `reference vs reed-solomon-erasure ${k}+${p}`);
        }
        const got = cloneShards(data);
        codec('wasm-simd', k, p, matrix).encode(got);
        for (let r = k; r < k + p; r++) if (hex(got[r]!) !== hex(ref[r]!)) assert.unreachable(`${matrix} ${k}+${p} len ${len}: parity ${r - k} differs`);
        // lose up to p shards, reconstruct everything
        const lost = randomSubset(rng, k + p, 1 + rng.int(p));
        const shards: (Uint8Array | null)[] = cloneShards(ref);
        for (const i of lost) shards[i] = null;
        codec('wasm-simd', k, p, matrix).reconstruct(shards);
        for (let i = 0; i < k + p; i++) if (hex(shards[i]!) !== hex(ref[i]!)) assert.unreachable(`${matrix} ${k}+${p} len ${len}: lost ${lost} shard ${i} differs`);
      }
    }
  }
  assert.ok(ran > 0, `the native kernel ran (${ran} of ${calls} calls)`);
  assert.ok(ran < calls, 'shapes it does not take (64+16) fell back to wasm');
});

test('encodeFrom (gfApplyCopy): the data copied and the parity of the TypeScript reference, sources left as they were', () => {
  if (!gf || !gfCopy) return;
  const rng = new Rng(0x6f2);
  const before = copyRan;
  for (const matrix of ['vandermonde', 'cauchy'] as MatrixKind[]) {
    for (const [k, p] of SHAPES) {
      for (const len of [...LENGTHS, 65_536]) {
        if (k >= 20 && len > 70_000) continue;
        const stripe = randomStripe(rng, k, p, len);
        const ref = cloneShards(stripe);
        codec('scalar', k, p, matrix).encode(ref);
        // sources: views at odd offsets of one larger buffer (as an EC write's cells of the caller's bytes)
        const whole = rng.bytes(k * len + 7);
        const src = stripe.slice(0, k).map((d, j) => { const v = whole.subarray(3 + j * len, 3 + (j + 1) * len); v.set(d); return v; });
        const srcCopy = whole.slice();
        const c = codec('wasm-simd', k, p, matrix);
        const shards = c.allocShards(len);
        for (const sh of shards) sh.fill(0xa5); // stale bytes must all be overwritten
        try {
          c.encodeFrom(src, shards);
          for (let i = 0; i < k + p; i++) if (hex(shards[i]!) !== hex(ref[i]!)) assert.unreachable(`${matrix} ${k}+${p} len ${len}: shard ${i} differs`);
          assert.ok(Buffer.from(whole).equals(srcCopy), 'sources unchanged');
        } finally { c.free(shards); }
      }
    }
  }
  assert.ok(copyRan > before, `the native copy kernel ran (${copyRan - before} of ${copyCalls} calls)`);
});

test('encodeFrom: wrong data counts and sizes are EC errors; data overlapping a shard is refused', () => {
  const c = codec('wasm-simd', 4, 2, 'vandermonde');
  const shards = c.allocShards(NATIVE_GF_MIN_BYTES);
  try {
    const d = Array.from({ length: 4 }, () => new Uint8Array(NATIVE_GF_MIN_BYTES));
    assert.throws(() => c.encodeFrom(d.slice(1), shards), (e: Error) => (e as { code?: string }).code === 'EC_SHARD_COUNT_MISMATCH');
    assert.throws(() => c.encodeFrom([...d.slice(1), new Uint8Array(10)], shards), (e: Error) => (e as { code?: string }).code === 'EC_SHARD_SIZE_MISMATCH');
    assert.throws(() => c.encodeFrom([...d.slice(1), shards[5]!], shards), (e: Error) => (e as { code?: string }).code === 'INVALID_ARGUMENT');
  } finally { c.free(shards); }
});

test('gfApplyCopy: bad arguments are a TypeError', () => {
  if (!gfCopy) return;
  const ins = [new Uint8Array(64), new Uint8Array(64)], outs = [new Uint8Array(64)], cps = [new Uint8Array(64), new Uint8Array(64)];
  assert.throws(() => gfCopy(new Uint8Array(2), 1, 2, ins, [cps[0]!], outs, 64), /gfApplyCopy/, 'too few copies');
  assert.throws(() => gfCopy(new Uint8Array(2), 1, 2, ins, [cps[0]!, new Uint8Array(63)], outs, 64), /gfApplyCopy/, 'a copy shorter than len');
  assert.throws(() => (gfCopy as (...a: unknown[]) => boolean)(new Uint8Array(2), 1, 2, ins, cps, outs), /gfApplyCopy/, 'no len');
  assert.ok(gfCopy(new Uint8Array([3, 5]), 1, 2, ins, cps, outs, 64));
});

test('gfApply: bad arguments are a TypeError; a zero length writes nothing', () => {
  if (!gf) return;
  const ins = [new Uint8Array(64), new Uint8Array(64)], outs = [new Uint8Array(64)];
  assert.throws(() => gf(new Uint8Array(1), 1, 2, ins, outs, 64), /gfApply/, 'matrix too short');
  assert.throws(() => gf(new Uint8Array(2), 1, 2, [ins[0]!], outs, 64), /gfApply/, 'too few inputs');
  assert.throws(() => gf(new Uint8Array(2), 1, 2, ins, outs, 65), /gfApply/, 'shorter than len');
  assert.throws(() => gf(new Uint8Array(2), 0, 2, ins, outs, 64), /gfApply/, 'no rows');
  assert.throws(() => gf(new Uint8Array(2), 1, 2, ins, [null as unknown as Uint8Array], 64), /gfApply/, 'not a view');
  const o = new Uint8Array(64).fill(7);
  gf(new Uint8Array([3, 5]), 1, 2, ins, [o], 0);
  assert.ok(o.every((b) => b === 7));
});

test.run();
