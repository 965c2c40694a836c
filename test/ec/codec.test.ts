import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCodec, matrixId, EcError, type Codec, type EcImpl, type MatrixKind } from '../../ec/index.js';
import { MatrixCodec } from '../../ec/codec.js';
import { CairnError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { randomStripe, cloneShards, hex, subsets, randomSubset } from './helpers.js';

const test = suite('ec/codec');
const MATRIX_IMPLS: EcImpl[] = ['wasm-simd', 'wasm-scalar', 'scalar'];
const codecs = new Map<string, Codec>();
/** One codec per (impl, k, p, matrix), reused across cases (disposed at the end). */
function codec(impl: EcImpl, k: number, p: number, matrix: MatrixKind = 'vandermonde'): Codec {
  const key = `${impl} ${k}+${p} ${matrix}`;
  let c = codecs.get(key);
  if (!c) { c = createCodec({ dataShards: k, parityShards: p, impl, matrix }); codecs.set(key, c); }
  return c;
}

const SHAPES: [number, number][] = [[1, 1], [2, 1], [3, 1], [2, 2], [4, 2], [5, 3], [6, 3], [8, 2], [8, 4], [10, 4], [12, 4], [16, 2], [16, 4], [20, 5], [32, 8], [64, 16]];
const LENGTHS = [1, 2, 7, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 100, 255, 1000, 4097];

test('encodeFrom equals copying the data in and encode, for every implementation (the wasm kernels without the native one)', () => {
  const rng = new Rng(0xec0f);
  for (const impl of [...MATRIX_IMPLS, 'reed-solomon-erasure'] as EcImpl[]) {
    for (const [k, p] of [[1, 1], [4, 2], [8, 2], [10, 4]] as [number, number][]) {
      for (const len of [1, 63, 64, 1000, 4097]) {
        const stripe = randomStripe(rng, k, p, len);
        const ref = cloneShards(stripe);
        codec('scalar', k, p).encode(ref);
        const shards = Array.from({ length: k + p }, () => new Uint8Array(len).fill(0x5c));
        codec(impl, k, p).encodeFrom(stripe.slice(0, k), shards);
        for (let i = 0; i < k + p; i++) if (hex(shards[i]!) !== hex(ref[i]!)) assert.unreachable(`${impl} ${k}+${p} len ${len}: shard ${i} differs`);
      }
    }
  }
});

test('vandermonde parity equals the reed-solomon-erasure package; SIMD == wasm scalar == TS reference', () => {
  const rng = new Rng(0xec01);
  for (const [k, p] of SHAPES) {
    for (const len of LENGTHS) {
      if (k >= 32 && len > 1000) continue;
      const data = randomStripe(rng, k, p, len);
      const ref = cloneShards(data);
      codec('reed-solomon-erasure', k, p).encode(ref);
      for (const impl of MATRIX_IMPLS) {
        const got = cloneShards(data);
        codec(impl, k, p).encode(got);
        for (let r = k; r < k + p; r++) {
          if (hex(got[r]!) !== hex(ref[r]!)) assert.unreachable(`${impl} ${k}+${p} len ${len} parity ${r - k} differs`);
        }
        for (let i = 0; i < k; i++) assert.ok(got[i]!.every((b, j) => b === data[i]![j]), 'data shards untouched');
      }
    }
  }
});

test('SIMD kernel equals the references on long and chunk-crossing lengths', () => {
  const rng = new Rng(0xec02);
  for (const [k, p] of [[4, 2], [8, 2], [10, 4], [3, 7], [9, 5]] as const) {
    for (const len of [16383, 16384, 16385, 40000 + 3, 65536]) {
      for (const matrix of ['vandermonde', 'cauchy'] as const) {
        const data = randomStripe(rng, k, p, len);
        const a = cloneShards(data), b = cloneShards(data);
        codec('wasm-simd', k, p, matrix).encode(a);
        codec('scalar', k, p, matrix).encode(b);
        for (let r = k; r < k + p; r++) assert.ok(Buffer.from(a[r]!).equals(Buffer.from(b[r]!)), `${matrix} ${k}+${p} len ${len} row ${r}`);
      }
    }
  }
});

/** Lose `lost`, reconstruct with `c`, compare every shard with `full`. */
function checkRecovery(c: Codec, full: Uint8Array[], lost: number[], how: 'null' | 'flag'): void {
  const shards: (Uint8Array | null)[] = cloneShards(full);
  const present = full.map(() => true);
  for (const i of lost) {
    if (how === 'null') shards[i] = null;
    else { shards[i]!.fill(0xee); present[i] = false; }
  }
  const out = c.reconstruct(shards, how === 'flag' ? { present } : {});
  assert.is(out, shards);
  for (let i = 0; i < full.length; i++) {
    if (!Buffer.from(out[i]!).equals(Buffer.from(full[i]!))) assert.unreachable(`${c.impl} ${c.matrix} ${c.dataShards}+${c.parityShards} lost ${lost}: shard ${i} wrong`);
  }
}

test('every subset of up to p lost shards is restored exactly (small k + p, both matrices, all impls)', () => {
  const rng = new Rng(0xec03);
  for (const [k, p] of [[1, 1], [2, 1], [2, 2], [3, 2], [4, 2], [4, 3], [5, 3], [6, 4], [8, 2]] as const) {
    for (const matrix of ['vandermonde', 'cauchy'] as const) {
      const len = rng.pick([1, 13, 16, 33, 100]);
      const full = randomStripe(rng, k, p, len);
      codec('scalar', k, p, matrix).encode(full);
      const impls: EcImpl[] = matrix === 'vandermonde' ? [...MATRIX_IMPLS, 'reed-solomon-erasure'] : MATRIX_IMPLS;
      for (const lost of subsets(k + p, p)) {
        for (const impl of impls) checkRecovery(codec(impl, k, p, matrix), full, lost, rng.chance(0.5) ? 'null' : 'flag');
      }
    }
  }
});

test('random loss patterns on large shapes', () => {
  const rng = new Rng(0xec04);
  for (const [k, p] of [[10, 4], [16, 4], [20, 5], [32, 8], [64, 16], [100, 28], [200, 56], [128, 128], [255, 1], [1, 255]] as const) {
    for (const matrix of ['vandermonde', 'cauchy'] as const) {
      const len = rng.pick([1, 17, 64, 257]);
      const full = randomStripe(rng, k, p, len);
      codec('wasm-simd', k, p, matrix).encode(full);
      const check = cloneShards(full);
      codec('scalar', k, p, matrix).encode(check);
      for (let r = k; r < k + p; r++) assert.ok(Buffer.from(check[r]!).equals(Buffer.from(full[r]!)), `${k}+${p} ${matrix} parity`);
      for (let t = 0; t < 6; t++) {
        const lost = randomSubset(rng, k + p, rng.range(1, p));
        checkRecovery(codec('wasm-simd', k, p, matrix), full, lost, 'null');
        if (t < 2) checkRecovery(codec('scalar', k, p, matrix), full, lost, 'flag');
      }
    }
  }
});

test('dataOnly restores data shards and leaves lost parity alone', () => {
  const rng = new Rng(0xec05);
  for (const impl of [...MATRIX_IMPLS, 'reed-solomon-erasure'] as EcImpl[]) {
    const c = codec(impl, 4, 2);
    const full = randomStripe(rng, 4, 2, 50);
    c.encode(full);
    const shards: (Uint8Array | null)[] = cloneShards(full);
    shards[1] = null; shards[5] = null;
    c.reconstruct(shards, { dataOnly: true });
    assert.ok(Buffer.from(shards[1]!).equals(Buffer.from(full[1]!)), impl);
    assert.is(shards[5], null, impl);
    const onlyParity: (Uint8Array | null)[] = cloneShards(full);
    onlyParity[4] = null;
    c.reconstruct(onlyParity, { dataOnly: true });
    assert.is(onlyParity[4], null);
  }
});

test('verify accepts good stripes and rejects any single corrupted byte', () => {
  const rng = new Rng(0xec06);
  for (const impl of [...MATRIX_IMPLS, 'reed-solomon-erasure'] as EcImpl[]) {
    for (const len of [1, 16, 33, 5000]) {
      const c = codec(impl, 6, 3);
      const s = randomStripe(rng, 6, 3, len);
      c.encode(s);
      assert.ok(c.verify(s), `${impl} good`);
      for (let t = 0; t < 5; t++) {
        const i = rng.int(9), b = rng.int(len);
        s[i]![b] ^= 1 + rng.int(255);
        assert.not.ok(c.verify(s), `${impl} shard ${i} byte ${b} corrupted`);
        c.encode(s);
        assert.ok(c.verify(s));
      }
    }
  }
});

test('allocShards: zero-copy views in wasm memory that survive memory growth', () => {
  const c = createCodec({ dataShards: 4, parityShards: 2 });
  const rng = new Rng(0xec07);
  const a = c.allocShards(100_000);
  assert.is(a.length, 6);
  for (const s of a) { assert.is(s.length, 100_000); assert.is(s.byteOffset % 4096, 0); }
  for (let i = 0; i < 4; i++) rng.fill(a[i]!);
  const copy = cloneShards(a);
  // force several memory.grow calls: views in `a` must stay valid
  const big = [c.allocShards(3 << 20), c.allocShards(5 << 20)];
  assert.is(a[0]!.length, 100_000);
  assert.ok(Buffer.from(a[0]!).equals(Buffer.from(copy[0]!)));
  c.encode(a);
  codec('scalar', 4, 2).encode(copy);
  assert.ok(Buffer.from(a[5]!).equals(Buffer.from(copy[5]!)));
  // reconstruct in place on wasm-resident buffers
  a[2]!.fill(0); a[4]!.fill(0);
  c.reconstruct(a, { present: [true, true, false, true, false, true] });
  assert.ok(Buffer.from(a[2]!).equals(Buffer.from(copy[2]!)));
  assert.ok(Buffer.from(a[4]!).equals(Buffer.from(copy[4]!)));
  // mixing wasm-resident and foreign buffers works too
  const mixed = [a[0]!, copy[1]!, a[2]!, copy[3]!, new Uint8Array(100_000), a[5]!];
  c.encode(mixed);
  assert.ok(Buffer.from(mixed[4]!).equals(Buffer.from(copy[4]!)));
  for (const b of big) c.free(b);
  c.free(a);
  assert.throws(() => c.free(a), (e: EcError) => e.code === 'EC_NOT_ALLOCATED');
  assert.throws(() => c.free(copy), (e: EcError) => e.code === 'EC_NOT_ALLOCATED');
  // memory is reused after free: a, big freed -> the kernel holds only tables, pointers, scratch
  const kernel = (c as unknown as { kernel: { liveBytes: number } }).kernel;
  const before = kernel.liveBytes;
  for (let i = 0; i < 20; i++) c.free(c.allocShards(1 << 20));
  assert.is(kernel.liveBytes, before);
  c.dispose();
  assert.throws(() => c.encode(copy), (e: EcError) => e.code === 'CLOSED');
});

test('decode matrices are cached per loss pattern', () => {
  const c = createCodec({ dataShards: 8, parityShards: 2 }) as MatrixCodec;
  const rng = new Rng(0xec08);
  const full = randomStripe(rng, 8, 2, 256);
  c.encode(full);
  for (let stripe = 0; stripe < 20; stripe++) {
    const s: (Uint8Array | null)[] = cloneShards(full);
    s[3] = null; s[6] = null;
    c.reconstruct(s);
    assert.ok(Buffer.from(s[3]!).equals(Buffer.from(full[3]!)));
  }
  assert.is(c.inversions, 1);
  const s: (Uint8Array | null)[] = cloneShards(full);
  s[0] = null;
  c.reconstruct(s);
  assert.is(c.inversions, 2);
  // more patterns than the cache holds still decode correctly (evicted plans are rebuilt)
  for (const lost of subsets(10, 2)) checkRecovery(c, full, lost, 'null');
  for (const lost of subsets(10, 2)) checkRecovery(c, full, lost, 'flag');
  c.dispose();
});

test('typed errors for bad arguments', () => {
  const code = (fn: () => unknown, expected: string) => {
    try { fn(); } catch (e) {
      assert.instance(e, EcError); assert.instance(e, CairnError);
      assert.is((e as EcError).code, expected, String(e));
      return;
    }
    assert.unreachable(`expected ${expected}`);
  };
  for (const bad of [{ dataShards: 0, parityShards: 1 }, { dataShards: 1, parityShards: 0 }, { dataShards: 200, parityShards: 57 }, { dataShards: 2.5, parityShards: 1 },
    { dataShards: 4, parityShards: 2, impl: 'gpu' }, { dataShards: 4, parityShards: 2, matrix: 'hilbert' }, { dataShards: 4, parityShards: 2, impl: 'reed-solomon-erasure', matrix: 'cauchy' }]) {
    code(() => createCodec(bad as never), 'INVALID_ARGUMENT');
  }
  code(() => createCodec(null as never), 'INVALID_ARGUMENT');
  for (const impl of [...MATRIX_IMPLS, 'reed-solomon-erasure'] as EcImpl[]) {
    const c = codec(impl, 4, 2);
    const good = randomStripe(new Rng(1), 4, 2, 10);
    code(() => c.encode(good.slice(0, 5)), 'EC_SHARD_COUNT_MISMATCH');
    code(() => c.encode([...good.slice(0, 5), new Uint8Array(11)]), 'EC_SHARD_SIZE_MISMATCH');
    code(() => c.encode([...good.slice(0, 5), new Uint8Array(0)]), 'EC_SHARD_SIZE_MISMATCH');
    code(() => c.encode([...good.slice(0, 5), null as never]), 'EC_SHARD_SIZE_MISMATCH');
    code(() => c.encode([...good.slice(0, 5), [1, 2] as never]), 'EC_SHARD_SIZE_MISMATCH');
    code(() => c.encode('nope' as never), 'INVALID_ARGUMENT');
    code(() => c.verify(good.slice(0, 3)), 'EC_SHARD_COUNT_MISMATCH');
    code(() => c.reconstruct([null, null, null, good[3]!, good[4]!, good[5]!]), 'EC_TOO_FEW_SHARDS');
    code(() => c.reconstruct(good, { present: [false, true, false, true, false, true] }), 'EC_TOO_FEW_SHARDS');
    code(() => c.reconstruct(good, { present: [true] }), 'INVALID_ARGUMENT');
    code(() => c.reconstruct([null, good[1]!, good[2]!, good[3]!, new Uint8Array(3), good[5]!]), 'EC_SHARD_SIZE_MISMATCH');
    code(() => c.allocShards(0), 'INVALID_ARGUMENT');
    const fine: (Uint8Array | null)[] = cloneShards(good);
    c.encode(fine as Uint8Array[]);
    fine[0] = null;
    c.reconstruct(fine, null);
    assert.ok(c.verify(fine as Uint8Array[]), `${impl} reconstruct with null options`);
  }
  const c = codec('wasm-simd', 4, 2);
  const s = randomStripe(new Rng(2), 4, 2, 10);
  code(() => c.encode([s[0]!, s[1]!, s[2]!, s[3]!, s[0]!, s[5]!]), 'INVALID_ARGUMENT');
  code(() => c.encode([s[0]!, s[1]!, s[2]!, s[3]!, s[0]!.subarray(0, 10), s[5]!]), 'INVALID_ARGUMENT');
});

test('shards beyond what a codec memory can ever hold are bad input (INVALID_ARGUMENT), and the codec stays usable', () => {
  const c = createCodec({ dataShards: 4, parityShards: 2 });
  assert.throws(() => c.allocShards(2 ** 31), (e: EcError) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => c.allocShards(1e15), (e: EcError) => e.code === 'INVALID_ARGUMENT');
  const s = randomStripe(new Rng(3), 4, 2, 100);
  c.encode(s);
  assert.ok(c.verify(s));
  c.dispose();
});

test('matrixId and readonly shape fields', () => {
  const v = codec('wasm-simd', 4, 2), ca = codec('wasm-simd', 4, 2, 'cauchy');
  assert.is(matrixId(v), 1); assert.is(matrixId(ca), 2);
  assert.is(v.dataShards, 4); assert.is(v.parityShards, 2); assert.is(v.matrix, 'vandermonde'); assert.is(v.impl, 'wasm-simd');
  assert.is(codec('reed-solomon-erasure', 4, 2).matrix, 'vandermonde');
});

test('fuzz: random shapes, lengths, matrices and losses agree across impls (fixed seed)', () => {
  const rng = new Rng(0xec09);
  for (let t = 0; t < 150; t++) {
    const k = rng.range(1, 24), p = rng.range(1, 8), len = rng.range(1, 3000);
    const matrix: MatrixKind = rng.chance(0.5) ? 'cauchy' : 'vandermonde';
    const full = randomStripe(rng, k, p, len);
    const simd = createCodec({ dataShards: k, parityShards: p, matrix });
    simd.encode(full);
    const ref = cloneShards(full);
    createCodec({ dataShards: k, parityShards: p, matrix, impl: 'scalar' }).encode(ref);
    for (let r = k; r < k + p; r++) if (hex(ref[r]!) !== hex(full[r]!)) assert.unreachable(`case ${t}: ${k}+${p} ${matrix} len ${len}`);
    if (matrix === 'vandermonde' && !(p === 1 && k <= 3) && t % 3 === 0) {
      const rs = cloneShards(full);
      createCodec({ dataShards: k, parityShards: p, impl: 'reed-solomon-erasure' }).encode(rs);
      for (let r = k; r < k + p; r++) assert.is(hex(rs[r]!), hex(full[r]!));
    }
    checkRecovery(simd, full, randomSubset(rng, k + p, rng.range(1, p)), rng.chance(0.5) ? 'null' : 'flag');
    simd.dispose();
  }
});

test.after(() => { for (const c of codecs.values()) c.dispose(); });

test.run();
