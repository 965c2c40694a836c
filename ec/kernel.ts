/**
 * The backend interface of matrix-based codecs: multiply a coefficient matrix by a set of shards.
 * Implemented by the wasm core (SIMD and scalar kernels, `wasm-kernel.ts`) and by the plain
 * TypeScript reference (`reference-kernel.ts`); the codec above does validation, matrices and
 * decode-matrix caching once for all of them.
 */

/** A matrix prepared for repeated application (tables built once). Opaque to the codec. */
export interface KernelPlan { readonly rows: number; readonly k: number }

/** A GF(2^8) matrix-times-shards engine. */
export interface Kernel {
  /** What runs, e.g. `wasm-simd-relaxed`, `wasm-simd`, `wasm-scalar`, `ts-scalar`. */
  readonly name: string;
  /** Why this kernel runs (e.g. why relaxed SIMD is or is not in use), for logs and benchmarks. */
  readonly reason: string;
  /** Prepare the `rows` x `k` row-major `matrix`. */
  prepare(matrix: Uint8Array, rows: number, k: number): KernelPlan;
  /** outputs[r] = sum_j M[r][j] * inputs[j] over `len` bytes. Outputs must not alias inputs. */
  apply(plan: KernelPlan, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void;
  /**
   * `apply` that also copies inputs[j] into copies[j] (`len` bytes), in one pass; false when this
   * kernel cannot here (nothing written: the caller copies, then `apply`). Optional. Copies overlap
   * neither inputs nor outputs.
   */
  applyCopy?(plan: KernelPlan, inputs: readonly Uint8Array[], copies: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): boolean;
  /** Like `apply` into kernel-owned buffers; the views are valid until the next kernel call. */
  applyToScratch(plan: KernelPlan, inputs: readonly Uint8Array[], len: number): Uint8Array[];
  /** Forget a plan (frees its tables). */
  release(plan: KernelPlan): void;
  /** `count` buffers of `size` bytes that `apply` uses without copying. */
  allocShards(count: number, size: number): Uint8Array[];
  /** Return buffers from `allocShards` (the first element identifies the block). */
  free(shards: readonly Uint8Array[]): void;
  /** Release everything; the kernel is unusable afterwards. */
  dispose(): void;
}
