/**
 * BLOCK_SIZE-aligned memory for O_DIRECT I/O, and a way to tell whether a caller's buffer is
 * aligned (so the device copies into an aligned bounce buffer only when it must).
 *
 * With the native addon loaded, buffers come from `posix_memalign` (external ArrayBuffers, freed
 * by the GC) and alignment of any view is checked from its real address. Without it, buffers are
 * carved from page-aligned `WebAssembly.Memory` slabs and only views into those count as aligned.
 */
import { assert } from '../../core/errors.js';
import { MediaError } from './errors.js';
import { nativeAddon } from './io-uring.js';

/** Alignment and granularity of block I/O, in bytes (the page size and the usual logical block size). */
export const BLOCK_SIZE = 4096;
/** Largest single aligned allocation (and largest single I/O) the media layer accepts. */
export const MAX_ALIGNED_BYTES = 1 << 30;
/** Size of one shared WebAssembly.Memory slab used when the native addon is absent. */
const SLAB_BYTES = 4 << 20;
const WASM_PAGE = 65536;

/** ArrayBuffers whose byte 0 is known to be BLOCK_SIZE-aligned (wasm memories we created or were told about). */
const alignedBases = new WeakSet<ArrayBufferLike>();
let slab: { buffer: ArrayBuffer; used: number } | undefined;

/**
 * Record that `buffer` starts at a BLOCK_SIZE-aligned address (e.g. a `WebAssembly.Memory`
 * buffer), so views into it at aligned offsets skip the bounce copy. Note: a wasm memory's
 * buffer object changes after `memory.grow`; register the new one.
 */
export function registerAlignedBuffer(buffer: ArrayBufferLike): void { alignedBases.add(buffer); }

/** True when `view` starts at a BLOCK_SIZE-aligned address. */
export function isAligned(view: Uint8Array): boolean {
  const native = nativeAddon();
  if (native) return native.alignmentOf(view, BLOCK_SIZE) === 0;
  return alignedBases.has(view.buffer) && view.byteOffset % BLOCK_SIZE === 0;
}

/** A zeroed buffer of `bytes` (rounded up to BLOCK_SIZE) whose address is BLOCK_SIZE-aligned. */
export function allocAligned(bytes: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_ALIGNED_BYTES) {
    throw new MediaError('INVALID_ARGUMENT', `allocAligned: bytes must be an integer in [0, ${MAX_ALIGNED_BYTES}]`, { bytes });
  }
  const rounded = Math.max(BLOCK_SIZE, Math.ceil(bytes / BLOCK_SIZE) * BLOCK_SIZE);
  const native = nativeAddon();
  let out: Uint8Array;
  if (native) {
    out = new Uint8Array(native.allocAligned(rounded, BLOCK_SIZE), 0, bytes);
  } else if (rounded > SLAB_BYTES / 4) {
    const mem = new WebAssembly.Memory({ initial: Math.ceil(rounded / WASM_PAGE) });
    alignedBases.add(mem.buffer);
    out = new Uint8Array(mem.buffer, 0, bytes);
  } else {
    if (!slab || slab.used + rounded > slab.buffer.byteLength) {
      const mem = new WebAssembly.Memory({ initial: SLAB_BYTES / WASM_PAGE });
      alignedBases.add(mem.buffer);
      slab = { buffer: mem.buffer, used: 0 };
    }
    out = new Uint8Array(slab.buffer, slab.used, bytes);
    slab.used += rounded;
  }
  assert(isAligned(out), 'allocAligned returned an unaligned buffer');
  return out;
}
