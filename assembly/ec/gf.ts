/**
 * GF(2^8) with the polynomial 0x11d (x^8 + x^4 + x^3 + x^2 + 1) and generator 2, the field of
 * Backblaze/klauspost/reed-solomon-erasure and of Intel ISA-L. Tables live in static memory and
 * are filled by `gfInit()` (call once per instance, before any kernel).
 */

/** exp table doubled (512 entries) so `exp[log a + log b]` needs no modulo. */
const EXP: usize = memory.data(512, 64);
/** log table (log 0 is unused). */
const LOG: usize = memory.data(256, 64);
/** Full product table: `MUL[(a << 8) | b] = a * b`; 64 KiB, used by the scalar paths. */
export const MUL: usize = memory.data(65536, 64);

/** The field's reduction polynomial. */
export const GF_POLY: i32 = 0x11d;

/** a * b in GF(2^8) from the log/exp tables. */
export function gfMul(a: i32, b: i32): i32 {
  if (a == 0 || b == 0) return 0;
  return load<u8>(EXP + (load<u8>(LOG + a) as usize) + (load<u8>(LOG + b) as usize)) as i32;
}

/** Fill EXP, LOG and MUL. Idempotent. */
export function gfInit(): void {
  let x: i32 = 1;
  for (let i = 0; i < 255; i++) {
    store<u8>(EXP + i, x);
    store<u8>(EXP + i + 255, x);
    store<u8>(LOG + x, i);
    x <<= 1;
    if (x & 0x100) x ^= GF_POLY;
  }
  store<u8>(EXP + 510, load<u8>(EXP + 255));
  store<u8>(EXP + 511, load<u8>(EXP + 256));
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) store<u8>(MUL + ((a << 8) | b), gfMul(a, b));
  }
}
