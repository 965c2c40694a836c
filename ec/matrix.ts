/**
 * Coding matrices over GF(2^8), row-major `Uint8Array`s of `rows * cols` bytes.
 *
 * Both encoding matrices are systematic ((k + p) x k, identity on top), so data shards are stored
 * as they are and the p bottom rows produce parity:
 * - `vandermonde`: V * inverse(top k rows of V) with V[r][c] = r^c, the matrix of Backblaze
 *   JavaReedSolomon, klauspost/reedsolomon and the reed-solomon-erasure crate;
 * - `cauchy`: identity over rows 1 / (i xor j) for i in k..k+p-1, j in 0..k-1, exactly Intel
 *   ISA-L's `gf_gen_cauchy1_matrix` (used by DAOS).
 */
import { gfInv, gfMul, gfPow } from './gf.js';
import { EcError } from './errors.js';

/** Names of the encoding matrices a codec can use. */
export type MatrixKind = 'vandermonde' | 'cauchy';

/** Stable numeric ids of the matrices, recorded with the data so a reader decodes with the same matrix. */
export const MATRIX_IDS: Readonly<Record<MatrixKind, number>> = Object.freeze({ vandermonde: 1, cauchy: 2 });

/** The matrix kind of a stable id (inverse of `MATRIX_IDS`); throws `INVALID_ARGUMENT` for unknown ids. */
export function matrixKindOfId(id: number): MatrixKind {
  if (id === MATRIX_IDS.vandermonde) return 'vandermonde';
  if (id === MATRIX_IDS.cauchy) return 'cauchy';
  throw new EcError('INVALID_ARGUMENT', `unknown matrix id ${id}`, { id });
}

/** A * B for A (n x m) and B (m x q). */
export function matMul(a: Uint8Array, n: number, m: number, b: Uint8Array, q: number): Uint8Array {
  const out = new Uint8Array(n * q);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < m; t++) {
      const c = a[i * m + t]!;
      if (c === 0) continue;
      for (let j = 0; j < q; j++) out[i * q + j] ^= gfMul(c, b[t * q + j]!);
    }
  }
  return out;
}

/** Inverse of the n x n matrix `a` (Gauss-Jordan); null when singular. `a` is not modified. */
export function matInvert(a: Uint8Array, n: number): Uint8Array | null {
  const w = Uint8Array.from(a);
  const inv = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let piv = col;
    while (piv < n && w[piv * n + col] === 0) piv++;
    if (piv === n) return null;
    if (piv !== col) {
      for (let j = 0; j < n; j++) {
        let t = w[col * n + j]!; w[col * n + j] = w[piv * n + j]!; w[piv * n + j] = t;
        t = inv[col * n + j]!; inv[col * n + j] = inv[piv * n + j]!; inv[piv * n + j] = t;
      }
    }
    const s = gfInv(w[col * n + col]!);
    for (let j = 0; j < n; j++) { w[col * n + j] = gfMul(w[col * n + j]!, s); inv[col * n + j] = gfMul(inv[col * n + j]!, s); }
    for (let r = 0; r < n; r++) {
      const f = r === col ? 0 : w[r * n + col]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) { w[r * n + j] ^= gfMul(f, w[col * n + j]!); inv[r * n + j] ^= gfMul(f, inv[col * n + j]!); }
    }
  }
  return inv;
}

/** The systematic (k + p) x k Vandermonde-derived encoding matrix (Backblaze convention). */
export function vandermondeMatrix(k: number, p: number): Uint8Array {
  const rows = k + p;
  const v = new Uint8Array(rows * k);
  for (let r = 0; r < rows; r++) for (let c = 0; c < k; c++) v[r * k + c] = gfPow(r, c);
  const topInv = matInvert(v.subarray(0, k * k), k);
  if (!topInv) throw new Error('vandermonde top is singular (cannot happen for k + p <= 256)');
  return matMul(v, rows, k, topInv, k);
}

/** The (k + p) x k matrix of ISA-L `gf_gen_cauchy1_matrix(a, k + p, k)`. */
export function cauchyMatrix(k: number, p: number): Uint8Array {
  const rows = k + p;
  const a = new Uint8Array(rows * k);
  for (let i = 0; i < k; i++) a[i * k + i] = 1;
  for (let i = k; i < rows; i++) for (let j = 0; j < k; j++) a[i * k + j] = gfInv(i ^ j);
  return a;
}

/** The encoding matrix of a kind. */
export function encodingMatrix(kind: MatrixKind, k: number, p: number): Uint8Array {
  return kind === 'cauchy' ? cauchyMatrix(k, p) : vandermondeMatrix(k, p);
}

/**
 * The rows that restore shards `wanted` from the k shards `chosen` of a (k + p) x k encoding
 * matrix `enc`: shard wanted[r] = sum over j of rows[r * k + j] * shard chosen[j], in GF(2^8). A data
 * shard's row is its row of the inverse of the chosen rows; a parity shard's is its encoding row
 * times that inverse. Null when the chosen rows are singular (a matrix that is not MDS there).
 */
export function decodeRows(enc: Uint8Array, k: number, chosen: readonly number[], wanted: readonly number[]): Uint8Array | null {
  const sub = new Uint8Array(k * k);
  for (let j = 0; j < k; j++) sub.set(enc.subarray(chosen[j]! * k, chosen[j]! * k + k), j * k);
  const inv = matInvert(sub, k);
  if (inv === null) return null;
  const rows = new Uint8Array(wanted.length * k);
  for (let r = 0; r < wanted.length; r++) {
    const w = wanted[r]!;
    rows.set(w < k ? inv.subarray(w * k, w * k + k) : matMul(enc.subarray(w * k, w * k + k), 1, k, inv, k), r * k);
  }
  return rows;
}
