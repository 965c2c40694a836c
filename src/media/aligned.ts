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

/**
 * Outputs at least this long come from the native addon's recycled buffers (`allocOutput`): the
 * size past which glibc maps a fresh allocation instead of reusing its heap.
 */
export const RECYCLED_OUTPUT_MIN_BYTES = 128 * 1024;

/**
 * A buffer of `bytes` whose every byte the caller will overwrite (contents unspecified: not
 * zeroed), for results handed to a reader who did not pass its own (`read()` without `into`).
 * Large ones are recycled by the native addon: a buffer the GC frees keeps its pages and serves
 * the next output of its size, where a new one from malloc is fresh memory whose first touch costs
 * a page fault per 4 KiB (7-15 us of CPU each on this VM, 2-4 ms per MiB against ~0.2 ms for the
 * read itself). Every 64 MiB of them also has V8 allocate a 1-byte ArrayBuffer, which runs V8's
 * check for young ArrayBuffers worth a scavenge (an external buffer skips it): outputs read and
 * dropped are then freed by scavenges instead of a full collection per 64 MiB
 * (`CAIRN_OUTPUT_SCAVENGE=0`: not; `CAIRN_OUTPUT_POKE_MIB=0`: the check at every output, which
 * scavenged every ~22 outputs and promoted the ones still held at two).
 * And their bytes are taken back out of V8's external-memory total (up to 128 MiB of them
 * outstanding): V8 counts that total's growth since the last full collection against the old
 * generation's limit, and the ~32 MiB that outputs reach between two scavenges started a full
 * collection every ~20 ms whenever the last one had set that limit tight (`CAIRN_OUTPUT_HIDE=0`:
 * not; native/cairn_uring.c `alloc_recycled` has the details, and how other external memory's
 * growth stays seen).
 * Without the addon, or for smaller sizes, `Buffer.allocUnsafeSlow`.
 */
export function allocOutput(bytes: number): Uint8Array {
  if (bytes >= RECYCLED_OUTPUT_MIN_BYTES) {
    const alloc = nativeAddon()?.allocRecycled;
    if (alloc !== undefined) return new Uint8Array(alloc(bytes), 0, bytes);
  }
  const b = Buffer.allocUnsafeSlow(bytes);
  return new Uint8Array(b.buffer, b.byteOffset, bytes);
}

/** Whether results move to a new ArrayBuffer when their read completes (`adoptResult`). */
const ADOPT = process.env.CAIRN_OUTPUT_ADOPT !== '0';
/** Result buffers not yet handed to their reader (`allocResult`). */
const adoptable = new WeakSet<ArrayBufferLike>();

/** Results at least this long are allocated without zero-filling (every byte is then read into them). */
const UNZEROED_RESULT_BYTES = 4096;

/**
 * A result buffer of `bytes` for a read without `into`, every byte of which the read writes:
 * below 4 KiB a plain array, from there `allocOutput`'s (no zero-fill; recycled pages for the
 * largest), which `adoptResult` moves to a new ArrayBuffer once the read completes.
 */
export function allocResult(bytes: number): Uint8Array {
  if (bytes < UNZEROED_RESULT_BYTES) return new Uint8Array(bytes);
  const out = allocOutput(bytes);
  if (ADOPT && bytes >= RECYCLED_OUTPUT_MIN_BYTES && nativeAddon()?.adoptOutput !== undefined) adoptable.add(out.buffer); // (only the addon's outputs can move)
  return out;
}

/**
 * `out` as the reader gets it: when it came from `allocResult`, a new view of its bytes on a new
 * ArrayBuffer, the one the read filled detached (no copy). Why: a read in flight holds its output,
 * a full collection promotes every live young object, and a promoted buffer is freed only by the
 * next full collection however soon the reader drops it; a run of reads without `into` then fell
 * into a full collection every ~40 ms (native/cairn_uring.c `recycle_v8`). The new one is young,
 * and freed by the next young collection once dropped. Only where no view of the old one is
 * used after (the end of a read). `CAIRN_OUTPUT_ADOPT=0` turns it off.
 */
export function adoptResult<T extends Uint8Array | undefined>(out: T): T {
  if (out === undefined || out.length < RECYCLED_OUTPUT_MIN_BYTES || !adoptable.has(out.buffer)) return out;
  adoptable.delete(out.buffer);
  const offset = out.byteOffset, length = out.length;
  const ab = nativeAddon()?.adoptOutput?.(out.buffer as ArrayBuffer);
  return (ab === undefined ? out : new Uint8Array(ab, offset, length)) as T;
}
