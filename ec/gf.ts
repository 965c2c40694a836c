/**
 * GF(2^8) arithmetic in plain TypeScript (polynomial 0x11d, generator 2): the field of
 * Backblaze/klauspost/reed-solomon-erasure and Intel ISA-L. Used to build and invert coding
 * matrices and by the `scalar` reference codec. The wasm core has its own copy of these tables.
 */

/** The reduction polynomial x^8 + x^4 + x^3 + x^2 + 1. */
export const GF_POLY = 0x11d;

/** exp table, doubled so that `GF_EXP[log a + log b]` needs no modulo. */
export const GF_EXP = new Uint8Array(512);
/** log table; `GF_LOG[0]` is unused. */
export const GF_LOG = new Uint8Array(256);
/** Full product table, `GF_MUL_TABLE[(a << 8) | b] = a * b` (64 KiB). */
export const GF_MUL_TABLE = new Uint8Array(65536);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x; GF_EXP[i + 255] = x; GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLY;
  }
  GF_EXP[510] = GF_EXP[255]!; GF_EXP[511] = GF_EXP[256]!;
  for (let a = 1; a < 256; a++) {
    for (let b = 1; b < 256; b++) GF_MUL_TABLE[(a << 8) | b] = GF_EXP[GF_LOG[a]! + GF_LOG[b]!]!;
  }
}

/** a * b. */
export function gfMul(a: number, b: number): number {
  return GF_MUL_TABLE[((a & 255) << 8) | (b & 255)]!;
}

/** 1 / a for a != 0. */
export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('gfInv(0)');
  return GF_EXP[255 - GF_LOG[a]!]!;
}

/** a^n for n >= 0 with 0^0 = 1 (the convention of the Vandermonde construction). */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return GF_EXP[(GF_LOG[a]! * n) % 255]!;
}
