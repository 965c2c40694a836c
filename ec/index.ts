/**
 * Erasure coding: Reed-Solomon over GF(2^8) with Vandermonde (reed-solomon-erasure compatible)
 * or Cauchy (ISA-L compatible) matrices, on a SIMD wasm core.
 */
export { createCodec } from './create.js';
export {
  matrixId, MAX_TOTAL_SHARDS, DECODE_CACHE_SIZE, EC_IMPLS, EC_MATRICES, SIMD_LOWERINGS,
  type Codec, type CodecOptions, type ReconstructOptions, type EcImpl, type SimdLowering,
} from './codec.js';
export { relaxedSimdStatus, PORTABLE_SIMD_ENV, RELAXED_SIMD_FLAG, type RelaxedSimdStatus } from './relaxed-simd.js';
export { MATRIX_IDS, matrixKindOfId, type MatrixKind } from './matrix.js';
export { EcError } from './errors.js';
export { useNativeGf, NATIVE_GF_MIN_BYTES, type NativeGfApply, type NativeGfApplyCopy } from './wasm-kernel.js';
