/**
 * `createCodec`: the one entry point that picks an implementation for (k, p, matrix).
 */
import { checkOptions, MatrixCodec, type Codec, type CodecOptions } from './codec.js';
import { ReferenceKernel } from './reference-kernel.js';
import { WasmKernel } from './wasm-kernel.js';
import { ReedSolomonErasureCodec } from './rse-codec.js';

/**
 * A Reed-Solomon codec with `dataShards` + `parityShards` shards. `impl`: `'wasm-simd'` (default,
 * the SIMD wasm core), `'wasm-scalar'` (the same core's byte-wise kernel), `'scalar'` (plain
 * TypeScript reference) or `'reed-solomon-erasure'` (the npm package; Vandermonde only).
 * `matrix`: `'vandermonde'` (default; parity identical to reed-solomon-erasure / klauspost) or
 * `'cauchy'` (parity identical to ISA-L `gf_gen_cauchy1_matrix` + `ec_encode_data`).
 * `simd`: which SIMD lowering `wasm-simd` runs (`'auto'`: relaxed SIMD where allowed; the choice
 * and its reason are `codec.kernelName` / `codec.kernelReason`).
 * Throws `EcError` `INVALID_ARGUMENT` for options out of range, `UNSUPPORTED` for `simd: 'relaxed'`
 * where relaxed SIMD cannot run.
 */
export function createCodec(options: CodecOptions): Codec {
  const opts = checkOptions(options);
  switch (opts.impl) {
    case 'wasm-simd': return new MatrixCodec(opts, new WasmKernel(opts.simd === 'portable' ? 'simd-portable' : opts.simd === 'relaxed' ? 'simd-relaxed' : 'simd'));
    case 'wasm-scalar': return new MatrixCodec(opts, new WasmKernel('scalar'));
    case 'scalar': return new MatrixCodec(opts, new ReferenceKernel());
    case 'reed-solomon-erasure': return new ReedSolomonErasureCodec(opts);
  }
}
