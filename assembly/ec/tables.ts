/**
 * Split-nibble multiplication tables for a coefficient matrix.
 *
 * For a matrix of `rows` x `k` coefficients the table block holds, for input j and row r, 32 bytes
 * at `tab + (j * rows + r) * 32`: `lo[i] = c * i` and `hi[i] = c * (i << 4)` for i in 0..15, so
 * `c * x = lo[x & 15] ^ hi[x >> 4]` (two `i8x16.swizzle` per 16 bytes). The rows of one input
 * are adjacent so a kernel that accumulates several rows reads one contiguous run per input.
 * The coefficient itself is `lo[1]`, which the scalar paths read back.
 */
import { gfMul } from './gf';

/** Bytes of table per (input, row) pair. */
export const TABLE_BYTES: i32 = 32;

/** Build the tables of the `rows` x `k` matrix at `mat` (row-major bytes) into `tab`. */
export function buildTables(mat: usize, rows: i32, k: i32, tab: usize): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      const c = load<u8>(mat + r * k + j) as i32;
      const t = tab + ((j * rows + r) * TABLE_BYTES) as usize;
      for (let i = 0; i < 16; i++) {
        store<u8>(t + i, gfMul(c, i));
        store<u8>(t + 16 + i, gfMul(c, i << 4));
      }
    }
  }
}
