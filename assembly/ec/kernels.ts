/**
 * Matrix-times-shards kernels: out[r] = sum_j M[r][j] * in[j] over GF(2^8), for every byte.
 *
 * `applySimd` is the hot path: split-nibble multiplication with `i8x16.swizzle`, accumulating two
 * output rows of 32 bytes per pass over the inputs (each input block is loaded and split into
 * nibbles once for both rows; 4 accumulators + 4 nibble vectors + tables fit the 16 x64 vector
 * registers) and walking the shards in CHUNK-byte slices so the inputs of a slice stay in L1/L2
 * while every row pair passes over them. Measured on V8 11.3 (x64), per 16-byte product:
 * `i8x16.swizzle` lowers to `vpaddusb` (0x70 fix-up for out-of-range lanes) + `vpshufb`, so
 * a third of the multiply is the fix-up that our masked indices never need; four rows x 16 bytes
 * per pass was 5% slower than pairs, four rows x 32 bytes spilled (15% slower), and slice sizes
 * 4-64 KiB made no measurable difference. Lengths need not be multiples of 16: the tail goes through
 * the scalar product table. `applyScalar` is the byte-at-a-time reference of the same contract.
 *
 * Pointer arguments: `inPtrs` holds k u32 addresses of the input shards, `outPtrs` rows u32
 * addresses of the outputs; `tab` is a table block from `buildTables`. Outputs must not alias
 * inputs.
 */
import { MUL } from './gf';

/** Bytes of each shard processed per slice (all inputs of a slice stay in cache across groups). */
export const CHUNK: usize = 16384;

// @ts-ignore: decorator
@inline function nibbleLo(x: v128, mask: v128): v128 { return v128.and(x, mask); }
// @ts-ignore: decorator
@inline function nibbleHi(x: v128, mask: v128): v128 { return v128.and(i16x8.shr_u(x, 4), mask); }
/**
 * Table lookup of 16 nibbles (all in 0..15). Built twice: portable (`i8x16.swizzle`) and, for
 * build/ec-relaxed.wasm, `i8x16.relaxed_swizzle`, which V8 lowers to a bare `vpshufb` without
 * the out-of-range fix-up; for in-range indices both are exactly defined and equal.
 */
// @ts-ignore: decorator
@inline function lookup(table: v128, idx: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(table, idx);
  return i8x16.swizzle(table, idx);
}
// @ts-ignore: decorator
@inline function mul16(t: usize, lo: v128, hi: v128): v128 {
  return v128.xor(lookup(v128.load(t), lo), lookup(v128.load(t, 16), hi));
}

/** Two rows at once, 32 bytes per step where possible. */
function rows2(tab: usize, tstride: usize, k: i32, inPtrs: usize, outPtrs: usize, from: usize, to: usize): void {
  const mask = i8x16.splat(0x0f);
  const o0 = load<u32>(outPtrs) as usize, o1 = load<u32>(outPtrs, 4) as usize;
  let off = from;
  for (; off + 32 <= to; off += 32) {
    let p = (load<u32>(inPtrs) as usize) + off;
    let x = v128.load(p), y = v128.load(p, 16);
    let xl = nibbleLo(x, mask), xh = nibbleHi(x, mask), yl = nibbleLo(y, mask), yh = nibbleHi(y, mask);
    let t = tab;
    let a0 = mul16(t, xl, xh), b0 = mul16(t, yl, yh), a1 = mul16(t + 32, xl, xh), b1 = mul16(t + 32, yl, yh);
    for (let j = 1; j < k; j++) {
      p = (load<u32>(inPtrs + ((j as usize) << 2)) as usize) + off;
      x = v128.load(p); y = v128.load(p, 16);
      xl = nibbleLo(x, mask); xh = nibbleHi(x, mask); yl = nibbleLo(y, mask); yh = nibbleHi(y, mask);
      t += tstride;
      a0 = v128.xor(a0, mul16(t, xl, xh)); b0 = v128.xor(b0, mul16(t, yl, yh));
      a1 = v128.xor(a1, mul16(t + 32, xl, xh)); b1 = v128.xor(b1, mul16(t + 32, yl, yh));
    }
    v128.store(o0 + off, a0); v128.store(o0 + off, b0, 16);
    v128.store(o1 + off, a1); v128.store(o1 + off, b1, 16);
  }
  if (off < to) rows1(tab, tstride, k, inPtrs, outPtrs, off, to), rows1(tab + 32, tstride, k, inPtrs, outPtrs + 4, off, to);
}

/** One row, 32 bytes per step where possible, then 16. */
function rows1(tab: usize, tstride: usize, k: i32, inPtrs: usize, outPtrs: usize, from: usize, to: usize): void {
  const mask = i8x16.splat(0x0f);
  const o0 = load<u32>(outPtrs) as usize;
  let off = from;
  for (; off + 32 <= to; off += 32) {
    let p = (load<u32>(inPtrs) as usize) + off;
    let x = v128.load(p), y = v128.load(p, 16);
    let t = tab;
    let a0 = mul16(t, nibbleLo(x, mask), nibbleHi(x, mask)), b0 = mul16(t, nibbleLo(y, mask), nibbleHi(y, mask));
    for (let j = 1; j < k; j++) {
      p = (load<u32>(inPtrs + ((j as usize) << 2)) as usize) + off;
      x = v128.load(p); y = v128.load(p, 16);
      t += tstride;
      a0 = v128.xor(a0, mul16(t, nibbleLo(x, mask), nibbleHi(x, mask)));
      b0 = v128.xor(b0, mul16(t, nibbleLo(y, mask), nibbleHi(y, mask)));
    }
    v128.store(o0 + off, a0); v128.store(o0 + off, b0, 16);
  }
  for (; off < to; off += 16) {
    let x = v128.load((load<u32>(inPtrs) as usize) + off);
    let t = tab;
    let a0 = mul16(t, nibbleLo(x, mask), nibbleHi(x, mask));
    for (let j = 1; j < k; j++) {
      x = v128.load((load<u32>(inPtrs + ((j as usize) << 2)) as usize) + off);
      t += tstride;
      a0 = v128.xor(a0, mul16(t, nibbleLo(x, mask), nibbleHi(x, mask)));
    }
    v128.store(o0 + off, a0);
  }
}

/** Scalar rows over [from, to): any length, product table lookups. */
function scalarRange(tab: usize, rows: i32, k: i32, inPtrs: usize, outPtrs: usize, from: usize, to: usize): void {
  for (let r = 0; r < rows; r++) {
    const out = load<u32>(outPtrs + ((r as usize) << 2)) as usize;
    for (let j = 0; j < k; j++) {
      const inp = load<u32>(inPtrs + ((j as usize) << 2)) as usize;
      const c = load<u8>(tab + (((j * rows + r) << 5) as usize) + 1) as usize;
      const mt = MUL + (c << 8);
      if (j == 0) {
        for (let i = from; i < to; i++) store<u8>(out + i, load<u8>(mt + (load<u8>(inp + i) as usize)));
      } else {
        for (let i = from; i < to; i++) store<u8>(out + i, load<u8>(out + i) ^ load<u8>(mt + (load<u8>(inp + i) as usize)));
      }
    }
  }
}

/** SIMD kernel: out[r] = sum_j M[r][j] * in[j] for `len` bytes (any length >= 0). */
export function applySimd(tab: usize, rows: i32, k: i32, inPtrs: usize, outPtrs: usize, len: usize): void {
  const vecLen = len & ~(15 as usize);
  const tstride = (rows << 5) as usize;
  for (let from: usize = 0; from < vecLen; from += CHUNK) {
    const to = min(from + CHUNK, vecLen);
    let r = 0;
    for (; r + 2 <= rows; r += 2) rows2(tab + ((r << 5) as usize), tstride, k, inPtrs, outPtrs + ((r as usize) << 2), from, to);
    if (r < rows) rows1(tab + ((r << 5) as usize), tstride, k, inPtrs, outPtrs + ((r as usize) << 2), from, to);
  }
  if (vecLen < len) scalarRange(tab, rows, k, inPtrs, outPtrs, vecLen, len);
}

/** Scalar kernel with the same contract as `applySimd` (the differential-test reference in wasm). */
export function applyScalar(tab: usize, rows: i32, k: i32, inPtrs: usize, outPtrs: usize, len: usize): void {
  scalarRange(tab, rows, k, inPtrs, outPtrs, 0, len);
}
