/**
 * Reed-Solomon codecs over GF(2^8): the public `Codec` contract, argument checking and the
 * matrix-based codec shared by the `wasm-simd`, `wasm-scalar` and `scalar` implementations.
 *
 * Shards are k data then p parity buffers of one length. Decoding picks the first k present
 * shards, inverts the matching k x k submatrix of the encoding matrix and multiplies: missing
 * data rows come from the inverse, missing parity rows from (parity row x inverse), so one pass
 * over the k inputs restores everything. The prepared decode tables are cached per loss pattern
 * (LRU), so a degraded read of many stripes inverts once.
 */
import { EcError } from './errors.js';
import { describeValue } from '../core/describe.js';
import { encodingMatrix, decodeRows, MATRIX_IDS, type MatrixKind } from './matrix.js';
import type { Kernel, KernelPlan } from './kernel.js';

/** Largest k + p (GF(2^8) has 256 distinct evaluation points). */
export const MAX_TOTAL_SHARDS = 256;
/** Decode plans kept per codec (each holds k * (lost shards) * 32 bytes of tables). */
export const DECODE_CACHE_SIZE = 64;

/** Implementations a codec can run on. */
export type EcImpl = 'wasm-simd' | 'wasm-scalar' | 'reed-solomon-erasure' | 'scalar';
/** The implementations, for validation and iteration in tests and benchmarks. */
export const EC_IMPLS: readonly EcImpl[] = Object.freeze(['wasm-simd', 'wasm-scalar', 'reed-solomon-erasure', 'scalar']);
/** The matrices, for validation. */
export const EC_MATRICES: readonly MatrixKind[] = Object.freeze(['vandermonde', 'cauchy']);

/** Options of `createCodec`. */
export interface CodecOptions {
  /** k: number of data shards, >= 1. */
  dataShards: number;
  /** p: number of parity shards, >= 1; k + p <= 256. */
  parityShards: number;
  /** Implementation; default `'wasm-simd'`. */
  impl?: EcImpl;
  /** Encoding matrix; default `'vandermonde'`. Record `matrixId(codec)` with the data. */
  matrix?: MatrixKind;
  /**
   * SIMD lowering of `impl: 'wasm-simd'`: `'auto'` (default; relaxed SIMD where the process allows
   * it, see `relaxedSimdStatus()`), `'portable'` (plain `i8x16.swizzle`, for comparisons) or
   * `'relaxed'` (throws `UNSUPPORTED` where relaxed SIMD cannot run). Other impls take only `'auto'`.
   */
  simd?: SimdLowering;
}

/** The SIMD lowerings of the wasm core (`CodecOptions.simd`). */
export type SimdLowering = 'auto' | 'portable' | 'relaxed';
/** The lowerings, for validation. */
export const SIMD_LOWERINGS: readonly SimdLowering[] = Object.freeze(['auto', 'portable', 'relaxed']);

/** Options of `reconstruct`. */
export interface ReconstructOptions {
  /** Restore only missing data shards (lost parity stays as it was). Default false. */
  dataOnly?: boolean;
  /**
   * Per-shard presence flags (length k + p). A shard whose flag is false is treated as missing
   * and its buffer is overwritten with the restored content. `null` entries are always missing.
   */
  present?: readonly boolean[];
}

/** A Reed-Solomon codec for one (k, p, matrix). Not safe for concurrent use from several threads. */
export interface Codec {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly matrix: MatrixKind;
  readonly impl: EcImpl;
  /** The kernel that runs, for logs and benchmarks (`wasm-simd-relaxed`, `wasm-simd`, `ts-scalar`, ...). */
  readonly kernelName: string;
  /** Why that kernel runs (e.g. why relaxed SIMD is or is not in use). */
  readonly kernelReason: string;
  /** Compute the p parity shards from the k data shards, in place (`shards.length === k + p`). */
  encode(shards: readonly Uint8Array[]): void;
  /**
   * Restore missing shards (`null` or flagged absent) from any k present ones, in place; `null`
   * entries are replaced by new buffers. Returns the same array. Throws `EC_TOO_FEW_SHARDS` when
   * more than p are missing.
   */
  reconstruct(shards: (Uint8Array | null)[], options?: ReconstructOptions | null): Uint8Array[];
  /**
   * `encode` of data held elsewhere: shards[j] (j < k) receive a copy of data[j] and the p parity
   * shards are computed, as `shards[j].set(data[j])` then `encode(shards)` would, in one pass where
   * the kernel can (the native GFNI kernel stores each 64-byte column it loads for the encode: an
   * EC write's data cells are copied from the caller's buffer and encoded without reading them
   * back). data: k arrays of the shards' length, overlapping no shard.
   */
  encodeFrom(data: readonly Uint8Array[], shards: readonly Uint8Array[]): void;
  /** True when every parity shard matches the data shards. All k + p shards must be present. */
  verify(shards: readonly Uint8Array[]): boolean;
  /**
   * k + p buffers of `size` bytes that the codec uses without copying (for `wasm-*`: views of
   * its wasm memory, page-aligned). Valid until `free(shards)` or `dispose()`; other buffers work
   * too, at the cost of a copy in and out.
   */
  allocShards(size: number): Uint8Array[];
  /** Return buffers obtained from `allocShards` (pass the array it returned). */
  free(shards: readonly Uint8Array[]): void;
  /** Release the codec's memory; any further call throws `CLOSED`. */
  dispose(): void;
}

/** Most bytes one codec's memory can hold (a 32-bit wasm memory): larger shard sets are refused as bad input. */
export const MAX_CODEC_MEMORY_BYTES = 4 * 1024 ** 3;

/** The stable numeric id of a codec's matrix (1 = vandermonde, 2 = cauchy), to store with the data. */
export function matrixId(codec: Pick<Codec, 'matrix'>): number {
  return MATRIX_IDS[codec.matrix];
}

/** Throw `INVALID_ARGUMENT` unless (k, p, impl, matrix) are in range. */
export function checkOptions(o: CodecOptions): Required<CodecOptions> {
  if (o === null || typeof o !== 'object') throw new EcError('INVALID_ARGUMENT', 'createCodec needs an options object');
  const { dataShards: k, parityShards: p } = o;
  const impl = o.impl ?? 'wasm-simd';
  const matrix = o.matrix ?? 'vandermonde';
  const simd = o.simd ?? 'auto';
  if (!Number.isInteger(k) || k < 1) throw new EcError('INVALID_ARGUMENT', `dataShards must be an integer >= 1, got ${describeValue(k)}`, { dataShards: k });
  if (!Number.isInteger(p) || p < 1) throw new EcError('INVALID_ARGUMENT', `parityShards must be an integer >= 1, got ${describeValue(p)}`, { parityShards: p });
  if (k + p > MAX_TOTAL_SHARDS) throw new EcError('INVALID_ARGUMENT', `dataShards + parityShards must be <= ${MAX_TOTAL_SHARDS}, got ${k + p}`, { dataShards: k, parityShards: p });
  if (!EC_IMPLS.includes(impl)) throw new EcError('INVALID_ARGUMENT', `unknown impl ${describeValue(impl)}`, { impl });
  if (!EC_MATRICES.includes(matrix)) throw new EcError('INVALID_ARGUMENT', `unknown matrix ${describeValue(matrix)}`, { matrix });
  if (!SIMD_LOWERINGS.includes(simd)) throw new EcError('INVALID_ARGUMENT', `unknown simd lowering ${describeValue(simd)}`, { simd });
  if (simd !== 'auto' && impl !== 'wasm-simd') throw new EcError('INVALID_ARGUMENT', `simd '${simd}' applies to impl 'wasm-simd' only, got impl '${impl}'`, { simd, impl });
  return { dataShards: k, parityShards: p, impl, matrix, simd };
}

/** Check that `shards` is an array of k + p entries; returns the common length of the non-null ones. */
export function checkShards(shards: readonly (Uint8Array | null)[], k: number, p: number, allowNull: boolean): number {
  if (!Array.isArray(shards)) throw new EcError('INVALID_ARGUMENT', 'shards must be an array');
  if (shards.length !== k + p) {
    throw new EcError('EC_SHARD_COUNT_MISMATCH', `expected ${k + p} shards (${k} data + ${p} parity), got ${shards.length}`, { expected: k + p, got: shards.length });
  }
  let len = -1;
  for (let i = 0; i < shards.length; i++) {
    const s = shards[i];
    if (s === null || s === undefined) {
      if (!allowNull) throw new EcError('EC_SHARD_SIZE_MISMATCH', `shard ${i} is missing`, { index: i });
      continue;
    }
    if (!(s instanceof Uint8Array)) throw new EcError('EC_SHARD_SIZE_MISMATCH', `shard ${i} is not a Uint8Array`, { index: i });
    if (s.length === 0) throw new EcError('EC_SHARD_SIZE_MISMATCH', `shard ${i} is empty`, { index: i });
    if (len < 0) len = s.length;
    else if (s.length !== len) throw new EcError('EC_SHARD_SIZE_MISMATCH', `shard ${i} has ${s.length} bytes, shard 0..${i - 1} have ${len}`, { index: i, expected: len, got: s.length });
  }
  return len;
}

/** `encodeFrom`'s data: k Uint8Arrays of `len` bytes (`EC_SHARD_COUNT_MISMATCH`, `EC_SHARD_SIZE_MISMATCH`). */
export function checkSources(data: readonly Uint8Array[], k: number, len: number): void {
  if (!Array.isArray(data)) throw new EcError('INVALID_ARGUMENT', 'data must be an array');
  if (data.length !== k) throw new EcError('EC_SHARD_COUNT_MISMATCH', `expected ${k} data arrays, got ${data.length}`, { expected: k, got: data.length });
  for (let j = 0; j < k; j++) {
    const d = data[j];
    if (!(d instanceof Uint8Array) || d.length !== len) throw new EcError('EC_SHARD_SIZE_MISMATCH', `data ${j} is not a Uint8Array of the shards' ${len} bytes`, { index: j, expected: len, got: (d as Uint8Array | undefined)?.length });
  }
}

/** Throw `INVALID_ARGUMENT` if an output buffer overlaps an input buffer. */
function checkNoAlias(inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void {
  for (const o of outputs) {
    for (const i of inputs) {
      if (o.buffer === i.buffer && o.byteOffset < i.byteOffset + i.byteLength && i.byteOffset < o.byteOffset + o.byteLength) {
        throw new EcError('INVALID_ARGUMENT', 'an output shard overlaps an input shard');
      }
    }
  }
}

/** Byte equality of two equal-length arrays (memcmp through Buffer). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Codec built on a `Kernel` (matrix products) with cached decode plans. */
export class MatrixCodec implements Codec {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly matrix: MatrixKind;
  readonly impl: EcImpl;
  /** The full (k + p) x k encoding matrix. */
  readonly encodingMatrix: Uint8Array;
  /** The kernel that runs (`wasm-simd-relaxed` where the engine has relaxed SIMD, else `wasm-simd`, ...). */
  readonly kernelName: string;
  /** Why that kernel runs. */
  readonly kernelReason: string;
  private kernel: Kernel | null;
  private readonly parityPlan: KernelPlan;
  private readonly decodePlans = new Map<string, KernelPlan>();
  /** Number of decode matrices inverted so far (for tests of the cache). */
  inversions = 0;

  constructor(opts: Required<CodecOptions>, kernel: Kernel) {
    this.dataShards = opts.dataShards;
    this.parityShards = opts.parityShards;
    this.matrix = opts.matrix;
    this.impl = opts.impl;
    this.kernel = kernel;
    this.kernelName = kernel.name;
    this.kernelReason = kernel.reason;
    const k = this.dataShards;
    this.encodingMatrix = encodingMatrix(this.matrix, k, this.parityShards);
    this.parityPlan = kernel.prepare(this.encodingMatrix.subarray(k * k), this.parityShards, k);
  }

  private live(): Kernel {
    if (!this.kernel) throw new EcError('CLOSED', 'codec used after dispose()');
    return this.kernel;
  }

  encode(shards: readonly Uint8Array[]): void {
    const kernel = this.live();
    const k = this.dataShards;
    const len = checkShards(shards, k, this.parityShards, false);
    const data = shards.slice(0, k), parity = shards.slice(k);
    checkNoAlias(data, parity);
    kernel.apply(this.parityPlan, data, parity, len);
  }

  encodeFrom(data: readonly Uint8Array[], shards: readonly Uint8Array[]): void {
    const kernel = this.live();
    const k = this.dataShards;
    const len = checkShards(shards, k, this.parityShards, false);
    checkSources(data, k, len);
    const dst = shards.slice(0, k), parity = shards.slice(k);
    checkNoAlias(dst, parity);
    checkNoAlias(data, shards);
    if (kernel.applyCopy?.(this.parityPlan, data, dst, parity, len) === true) return;
    for (let j = 0; j < k; j++) dst[j]!.set(data[j]!);
    kernel.apply(this.parityPlan, dst, parity, len);
  }

  verify(shards: readonly Uint8Array[]): boolean {
    const kernel = this.live();
    const k = this.dataShards;
    const len = checkShards(shards, k, this.parityShards, false);
    const got = kernel.applyToScratch(this.parityPlan, shards.slice(0, k), len);
    for (let r = 0; r < this.parityShards; r++) if (!bytesEqual(got[r]!, shards[k + r]!)) return false;
    return true;
  }

  reconstruct(shards: (Uint8Array | null)[], opts?: ReconstructOptions | null): Uint8Array[] {
    const options: ReconstructOptions = opts ?? {};
    const kernel = this.live();
    const k = this.dataShards, n = k + this.parityShards;
    const len = checkShards(shards, k, this.parityShards, true);
    const present = options.present;
    if (present !== undefined && (!Array.isArray(present) || present.length !== n)) {
      throw new EcError('INVALID_ARGUMENT', `options.present must be an array of ${n} booleans`);
    }
    const isPresent = (i: number) => shards[i] != null && (present === undefined || present[i] === true);
    const chosen: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < n; i++) {
      if (isPresent(i)) { if (chosen.length < k) chosen.push(i); } else missing.push(i);
    }
    if (chosen.length < k) {
      throw new EcError('EC_TOO_FEW_SHARDS', `${missing.length} shards missing, at most ${this.parityShards} can be restored`, { missing: missing.length, parityShards: this.parityShards });
    }
    if (len < 0) throw new EcError('INVALID_ARGUMENT', 'no shard present');
    const wanted = options.dataOnly ? missing.filter((i) => i < k) : missing;
    if (wanted.length === 0) return shards as Uint8Array[];
    for (const i of wanted) if (shards[i] == null) shards[i] = new Uint8Array(len);
    const inputs = chosen.map((i) => shards[i]!);
    const outputs = wanted.map((i) => shards[i]!);
    checkNoAlias(inputs, outputs);
    kernel.apply(this.decodePlan(chosen, wanted), inputs, outputs, len);
    return shards as Uint8Array[];
  }

  /** The prepared matrix mapping shards `chosen` (k of them) to shards `wanted`; cached (LRU). */
  private decodePlan(chosen: readonly number[], wanted: readonly number[]): KernelPlan {
    const key = `${chosen.join(',')}>${wanted.join(',')}`;
    const hit = this.decodePlans.get(key);
    if (hit) { this.decodePlans.delete(key); this.decodePlans.set(key, hit); return hit; }
    const k = this.dataShards, enc = this.encodingMatrix;
    const rows = decodeRows(enc, k, chosen, wanted);
    this.inversions++;
    if (!rows) throw new Error(`decode submatrix singular for rows ${chosen.join(',')}: the ${this.matrix} matrix is not MDS here (bug)`);
    const plan = this.live().prepare(rows, wanted.length, k);
    this.decodePlans.set(key, plan);
    if (this.decodePlans.size > DECODE_CACHE_SIZE) {
      const [oldKey, oldPlan] = this.decodePlans.entries().next().value as [string, KernelPlan];
      this.decodePlans.delete(oldKey);
      this.live().release(oldPlan);
    }
    return plan;
  }

  allocShards(size: number): Uint8Array[] {
    const kernel = this.live();
    if (!Number.isInteger(size) || size < 1) throw new EcError('INVALID_ARGUMENT', `shard size must be an integer >= 1, got ${describeValue(size)}`);
    const shards = this.dataShards + this.parityShards;
    if (size * shards > MAX_CODEC_MEMORY_BYTES) throw new EcError('INVALID_ARGUMENT', `${shards} shards of ${size} bytes exceed the ${MAX_CODEC_MEMORY_BYTES} bytes a codec can hold`, { size, shards });
    return kernel.allocShards(this.dataShards + this.parityShards, size);
  }

  free(shards: readonly Uint8Array[]): void {
    const kernel = this.live();
    if (!Array.isArray(shards) || shards.length === 0 || !shards.every((s) => s instanceof Uint8Array)) throw new EcError('EC_NOT_ALLOCATED', `free() takes the array allocShards() returned, got ${describeValue(shards)}`);
    kernel.free(shards);
  }

  dispose(): void {
    if (!this.kernel) return;
    for (const plan of this.decodePlans.values()) this.kernel.release(plan);
    this.decodePlans.clear();
    this.kernel.release(this.parityPlan);
    this.kernel.dispose();
    this.kernel = null;
  }
}
