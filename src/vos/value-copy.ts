/**
 * Copies of small values handed to callers, carved from a shared slab (core/bytes.ts `valueSlab`).
 * A read returns a copy of bytes the store keeps (a run's block, the log):
 * `Uint8Array.prototype.slice` gives each copy its own ArrayBuffer, which measured 0.9 µs per
 * 100-byte copy here (a backing store to allocate and later collect) against 0.15 µs for a view
 * carved from a slab — most of a small get's copy cost. A copy's `.buffer` is the slab, shared with
 * other copies; values above VALUE_SLAB_MAX_BYTES get their own buffer. Do not transfer a copy's
 * `.buffer` (postMessage transfer lists): it would detach the other copies in the slab.
 */
import { readSlab, valueSlab } from '../../core/bytes.js';

/** Bytes of one value slab. */
export const VALUE_SLAB_BYTES = valueSlab.slabBytes;
/** Largest value carved from a slab; larger ones are copied into their own buffer. */
export const VALUE_SLAB_MAX_BYTES = valueSlab.maxBytes;

/**
 * A copy of `src` for a caller to keep: a view into the shared value slab for values of at most
 * VALUE_SLAB_MAX_BYTES (8-byte aligned), else a copy with its own buffer.
 */
export function copyValue(src: Uint8Array): Uint8Array {
  const n = src.length;
  if (n > VALUE_SLAB_MAX_BYTES) return src.slice();
  const out = valueSlab.take(n);
  out.set(src);
  return out;
}

/** Longest value `copyValueFrom` copies byte by byte (no view of the source made for it). */
const COPY_LOOP_MAX_BYTES = 256;

/**
 * `copyValue` of `src[at, at+n)` without a view of it: a point read copies a value straight out of
 * the run block it found it in (reads.ts `PointVersion`).
 */
export function copyValueFrom(src: Uint8Array, at: number, n: number): Uint8Array {
  if (n > COPY_LOOP_MAX_BYTES) return copyValue(src.subarray(at, at + n));
  const out = valueSlab.take(n);
  for (let i = 0; i < n; i++) out[i] = src[at + i]!;
  return out;
}

/** Bytes of one read slab (`readBuffer`): as Node's Buffer pool, one allocation for many small reads. */
export const READ_SLAB_BYTES = readSlab.slabBytes;
/** Largest read carved from a read slab; larger ones get their own buffer. */
export const READ_SLAB_MAX_BYTES = readSlab.maxBytes;

/**
 * `n` bytes for a value read from the data file to be handed to a caller (the read fills all of
 * them): a view of the shared read slab (core/bytes.ts `readSlab`) for values of at most
 * READ_SLAB_MAX_BYTES, else a buffer of its own. A 4 KiB typed array of its own is a backing store
 * to allocate and later collect per read; a slab is one per 64 such reads. The same sharing caveat
 * as `copyValue`.
 */
export function readBuffer(n: number): Uint8Array { return readSlab.take(n); }
