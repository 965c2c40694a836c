/**
 * The wasm core as a `Kernel`: one instance of build/ec.wasm (or build/ec-relaxed.wasm where
 * relaxed SIMD is on, see relaxed-simd.ts) per codec, with its own shared
 * linear memory (views survive `memory.grow`, so buffers from `allocShards` stay valid until
 * freed). Buffers that live in this memory (from `allocShards`) are used in place; any other
 * `Uint8Array` is copied into a scratch area and results are copied back out.
 */
import { instantiate } from '../core/wasm.js';
import { assert } from '../core/errors.js';
import { Arena, alignUp } from './arena.js';
import type { Kernel, KernelPlan } from './kernel.js';
import { EcError } from './errors.js';
import { relaxedSimdStatus } from './relaxed-simd.js';

/** Bytes of split-nibble tables per matrix coefficient (see assembly/ec/tables.ts). */
const TABLE_BYTES = 32;
/** Max shards of a matrix product (k + p <= 256), for the pointer arrays. */
const MAX_SHARDS = 256;
/** Initial and maximum sizes of the shared memory, in 64 KiB pages (must match assembly/ec/asconfig.json). */
const INITIAL_PAGES = 16;
const MAXIMUM_PAGES = 65536;
/** Shard buffers from `allocShards` are aligned to this (page-aligned: usable with O_DIRECT). */
const SHARD_ALIGN = 4096;

interface WasmExports {
  heapBase(): number;
  init(): void;
  buildTables(mat: number, rows: number, k: number, tab: number): void;
  applySimd(tab: number, rows: number, k: number, inPtrs: number, outPtrs: number, len: number): void;
  applyScalar(tab: number, rows: number, k: number, inPtrs: number, outPtrs: number, len: number): void;
}

interface WasmPlan extends KernelPlan { tab: number; released: boolean; matrix: Uint8Array }

/**
 * A native GF(2^8) matrix-times-shards (the addon's `gfApply`: GFNI with AVX-512, native/gfni.c):
 * true when it wrote the outputs, false when it cannot run here (the wasm kernel then does).
 */
export type NativeGfApply = (matrix: Uint8Array, rows: number, k: number, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number) => boolean;
/** `NativeGfApply` that also stores inputs[j]'s `len` bytes into copies[j] in the same pass (the addon's `gfApplyCopy`). */
export type NativeGfApplyCopy = (matrix: Uint8Array, rows: number, k: number, inputs: readonly Uint8Array[], copies: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number) => boolean;
let nativeGf: NativeGfApply | undefined;
let nativeGfCopy: NativeGfApplyCopy | undefined;

/**
 * Let `apply` of shards of at least NATIVE_GF_MIN_BYTES run natively (registered by the layer that
 * loads the addon: this module cannot import it), and `applyCopy` (`Codec.encodeFrom`) where `copy`
 * is given too. Same results as the wasm kernel, which the EC tests check against the reference
 * codec; undefined turns them off.
 */
export function useNativeGf(fn: NativeGfApply | undefined, copy?: NativeGfApplyCopy): void { nativeGf = fn; nativeGfCopy = fn ? copy : undefined; }

/** Shards shorter than this stay in wasm (a native call's fixed cost outweighs the faster loop). */
export const NATIVE_GF_MIN_BYTES = 4096;

/**
 * Which wasm kernel to run: `simd` = the best SIMD lowering allowed here (relaxed where
 * `relaxedSimdStatus()` enables it, else portable), `simd-portable` / `simd-relaxed` = that
 * lowering explicitly (`simd-relaxed` throws `UNSUPPORTED` where it cannot run), `scalar` = the
 * byte-wise kernel of the same module.
 */
export type WasmVariant = 'simd' | 'simd-portable' | 'simd-relaxed' | 'scalar';

export { PORTABLE_SIMD_ENV, relaxedSimdUsable } from './relaxed-simd.js';

/** Kernel backed by build/ec.wasm. */
export class WasmKernel implements Kernel {
  private readonly memory: WebAssembly.Memory;
  private readonly ex: WasmExports;
  private readonly arena: Arena;
  private heap: Uint8Array;
  private readonly ptrs: number;
  private scratch = 0;
  private scratchSize = 0;
  /** Shard blocks handed out: start -> end (exclusive). */
  private readonly blocks = new Map<number, number>();
  private readonly run: WasmExports['applySimd'];
  /** Every `SharedArrayBuffer` object `memory.buffer` has returned (a new one after each grow). */
  private readonly buffers = new Set<SharedArrayBuffer>();

  /** Which kernel runs: `wasm-simd-relaxed`, `wasm-simd` (portable swizzle) or `wasm-scalar`. */
  readonly name: string;
  /** Why that kernel (e.g. why relaxed SIMD is or is not in use). */
  readonly reason: string;

  constructor(variant: WasmVariant) {
    const rs = variant === 'simd' || variant === 'simd-relaxed' ? relaxedSimdStatus() : undefined;
    if (variant === 'simd-relaxed' && !rs!.enabled) {
      throw new EcError('UNSUPPORTED', `the relaxed-SIMD kernel was requested but cannot run here: ${rs!.reason}`, { reason: rs!.reason });
    }
    this.memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true });
    const relaxed = rs?.enabled === true;
    this.name = variant === 'scalar' ? 'wasm-scalar' : relaxed ? 'wasm-simd-relaxed' : 'wasm-simd';
    this.reason = variant === 'scalar' ? 'byte-wise kernel requested (impl wasm-scalar)'
      : variant === 'simd-portable' ? 'portable SIMD kernel requested (simd: portable)'
      : variant === 'simd-relaxed' ? `relaxed SIMD kernel requested (simd: relaxed); ${rs!.reason}`
      : rs!.reason;
    const inst = instantiate(relaxed ? 'ec-relaxed' : 'ec', { env: { memory: this.memory } });
    this.ex = inst.exports as unknown as WasmExports;
    this.ex.init();
    this.heap = new Uint8Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer as unknown as SharedArrayBuffer);
    this.arena = new Arena(this.ex.heapBase(), (end) => this.ensure(end));
    this.ptrs = this.arena.alloc(MAX_SHARDS * 2 * 4, 64);
    this.run = variant === 'scalar' ? this.ex.applyScalar : this.ex.applySimd;
  }

  /** Make bytes up to `end` addressable, growing the memory. */
  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new EcError('OUT_OF_MEMORY', `wasm memory cannot grow to ${end} bytes`, { end, maximum: MAXIMUM_PAGES * 65536, cause: String(e) });
    }
    this.heap = new Uint8Array(this.memory.buffer);
    this.buffers.add(this.memory.buffer as unknown as SharedArrayBuffer);
  }

  /** Address of `b` in this memory if it lies inside a block from `allocShards`, else -1. */
  private addressOf(b: Uint8Array, len: number): number {
    if (this.blocks.size === 0 || !this.sameMemory(b)) return -1;
    const start = b.byteOffset;
    for (const [s, e] of this.blocks) {
      if (start >= s && start + len <= e) return start;
    }
    return -1;
  }

  /** True when `b` views this instance's memory (any `SharedArrayBuffer` object it has had). */
  private sameMemory(b: Uint8Array): boolean {
    return this.buffers.has(b.buffer as SharedArrayBuffer);
  }

  prepare(matrix: Uint8Array, rows: number, k: number): KernelPlan {
    assert(rows >= 1 && k >= 1 && rows <= MAX_SHARDS && k <= MAX_SHARDS, 'wasm kernel: matrix shape', { rows, k });
    const tab = this.arena.alloc(rows * k * TABLE_BYTES, 64);
    const mat = this.arena.alloc(rows * k, 64);
    this.heap.set(matrix.subarray(0, rows * k), mat);
    this.ex.buildTables(mat, rows, k, tab);
    this.arena.free(mat);
    return { rows, k, tab, released: false, matrix: matrix.slice(0, rows * k) } as WasmPlan;
  }

  release(plan: KernelPlan): void {
    const p = plan as WasmPlan;
    if (p.released) return;
    p.released = true;
    this.arena.free(p.tab);
  }

  /** A scratch area of at least `bytes` (kept and reused across calls). */
  private scratchArea(bytes: number): number {
    if (bytes <= this.scratchSize) return this.scratch;
    if (this.scratch) this.arena.free(this.scratch);
    this.scratch = 0; this.scratchSize = 0;
    const size = alignUp(Math.max(bytes, 65536), 65536);
    this.scratch = this.arena.alloc(size, SHARD_ALIGN);
    this.scratchSize = size;
    return this.scratch;
  }

  /** Run the kernel; `outAddrs[r] < 0` means: compute into scratch slot and return the address. */
  private exec(plan: KernelPlan, inputs: readonly Uint8Array[], outputs: readonly (Uint8Array | null)[], len: number): number[] {
    const p = plan as WasmPlan;
    assert(!p.released, 'wasm kernel: plan used after release');
    assert(inputs.length === p.k && outputs.length === p.rows, 'wasm kernel: operand counts');
    const stride = alignUp(len, 64);
    const inAddr = inputs.map((b) => this.addressOf(b, len));
    const outAddr = outputs.map((b) => (b ? this.addressOf(b, len) : -1));
    const foreign = inAddr.filter((a) => a < 0).length + outAddr.filter((a) => a < 0).length;
    let slot = foreign ? this.scratchArea(foreign * stride) : 0;
    let heap = this.heap;
    for (let j = 0; j < inputs.length; j++) {
      if (inAddr[j]! < 0) { heap.set(inputs[j]!.subarray(0, len), slot); inAddr[j] = slot; slot += stride; }
    }
    const copyBack: number[] = [];
    for (let r = 0; r < outputs.length; r++) {
      if (outAddr[r]! < 0) { outAddr[r] = slot; slot += stride; copyBack.push(r); }
    }
    const ptrView = new Uint32Array(this.memory.buffer, this.ptrs, MAX_SHARDS * 2);
    for (let j = 0; j < inAddr.length; j++) ptrView[j] = inAddr[j]!;
    for (let r = 0; r < outAddr.length; r++) ptrView[MAX_SHARDS + r] = outAddr[r]!;
    this.run(p.tab, p.rows, p.k, this.ptrs, this.ptrs + MAX_SHARDS * 4, len);
    heap = this.heap;
    for (const r of copyBack) {
      const o = outputs[r];
      if (o) o.set(heap.subarray(outAddr[r]!, outAddr[r]! + len));
    }
    return outAddr;
  }

  apply(plan: KernelPlan, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
    const p = plan as WasmPlan;
    if (nativeGf !== undefined && len >= NATIVE_GF_MIN_BYTES && !p.released && inputs.length === p.k && outputs.length === p.rows
      && nativeGf(p.matrix, p.rows, p.k, inputs, outputs, len)) return;
    this.exec(plan, inputs, outputs, len);
  }

  applyCopy(plan: KernelPlan, inputs: readonly Uint8Array[], copies: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): boolean {
    const p = plan as WasmPlan;
    // (the wasm loop reads its inputs from its own memory: there the caller's copy then `apply` is the one pass)
    return nativeGfCopy !== undefined && len >= NATIVE_GF_MIN_BYTES && !p.released && inputs.length === p.k && copies.length === p.k
      && outputs.length === p.rows && nativeGfCopy(p.matrix, p.rows, p.k, inputs, copies, outputs, len);
  }

  applyToScratch(plan: KernelPlan, inputs: readonly Uint8Array[], len: number): Uint8Array[] {
    const outs = new Array<Uint8Array | null>(plan.rows).fill(null);
    const addrs = this.exec(plan, inputs, outs, len);
    return addrs.map((a) => this.heap.subarray(a, a + len));
  }

  allocShards(count: number, size: number): Uint8Array[] {
    const stride = alignUp(size, size >= SHARD_ALIGN ? SHARD_ALIGN : 64);
    const start = this.arena.alloc(stride * count, SHARD_ALIGN);
    this.blocks.set(start, start + stride * count);
    const buf = this.memory.buffer;
    this.buffers.add(buf as unknown as SharedArrayBuffer);
    return Array.from({ length: count }, (_, i) => new Uint8Array(buf, start + i * stride, size));
  }

  free(shards: readonly Uint8Array[]): void {
    const first = shards[0];
    const start = first ? first.byteOffset : -1;
    if (!first || !this.blocks.has(start) || !this.sameMemory(first)) {
      throw new EcError('EC_NOT_ALLOCATED', 'buffers were not allocated by this codec (pass the array allocShards returned)');
    }
    this.blocks.delete(start);
    this.arena.free(start);
  }

  dispose(): void {
    this.blocks.clear();
    this.heap = new Uint8Array(0);
  }

  /** Bytes allocated in the arena (tables, scratch, shards): for leak tests. */
  get liveBytes(): number { return this.arena.liveBytes; }
}
