/**
 * The plain TypeScript kernel (`impl: 'scalar'`): byte-at-a-time products through the 64 KiB
 * GF(2^8) product table. Slow and obviously correct; the oracle of the differential tests.
 */
import { GF_MUL_TABLE } from './gf.js';
import type { Kernel, KernelPlan } from './kernel.js';

interface RefPlan extends KernelPlan { readonly matrix: Uint8Array }

/** out[r] = sum_j M[r][j] * in[j], byte by byte. */
export function referenceApply(matrix: Uint8Array, rows: number, k: number, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
  for (let r = 0; r < rows; r++) {
    const out = outputs[r]!;
    for (let j = 0; j < k; j++) {
      const base = matrix[r * k + j]! << 8;
      const inp = inputs[j]!;
      if (j === 0) for (let i = 0; i < len; i++) out[i] = GF_MUL_TABLE[base | inp[i]!]!;
      else for (let i = 0; i < len; i++) out[i] ^= GF_MUL_TABLE[base | inp[i]!]!;
    }
  }
}

/** Kernel over ordinary `Uint8Array`s. */
export class ReferenceKernel implements Kernel {
  readonly name = 'ts-scalar';
  readonly reason = 'TypeScript reference kernel requested (impl scalar)';
  private scratch: Uint8Array[] = [];

  prepare(matrix: Uint8Array, rows: number, k: number): KernelPlan {
    return { rows, k, matrix: Uint8Array.from(matrix.subarray(0, rows * k)) } as RefPlan;
  }

  apply(plan: KernelPlan, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
    const p = plan as RefPlan;
    referenceApply(p.matrix, p.rows, p.k, inputs, outputs, len);
  }

  applyToScratch(plan: KernelPlan, inputs: readonly Uint8Array[], len: number): Uint8Array[] {
    if (this.scratch.length < plan.rows || (this.scratch[0]?.length ?? 0) < len) {
      this.scratch = Array.from({ length: plan.rows }, () => new Uint8Array(len));
    }
    const outs = this.scratch.slice(0, plan.rows).map((b) => b.subarray(0, len));
    this.apply(plan, inputs, outs, len);
    return outs;
  }

  release(_plan: KernelPlan): void { /* garbage-collected */ }

  allocShards(count: number, size: number): Uint8Array[] {
    return Array.from({ length: count }, () => new Uint8Array(size));
  }

  free(_shards: readonly Uint8Array[]): void { /* garbage-collected */ }

  dispose(): void { this.scratch = []; }
}
