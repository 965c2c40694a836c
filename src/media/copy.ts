/**
 * Large copies between byte views, done by `memcpy` (the native addon's `copyInto`) where the
 * addon is loaded. Why: V8 copies into or out of a view of *shared* memory (the EC codec's wasm
 * memory is a shared `WebAssembly.Memory`) with a byte-relaxed loop that measured about half the
 * speed of a plain `Uint8Array.set` here (3.1 against 5.9 GB/s for 1 MiB), and an EC write copies
 * every byte it is given into that memory once. Small copies and machines without the addon use
 * `set` (same result).
 */
import { nativeAddon } from './io-uring.js';

/** Copies shorter than this use `Uint8Array.set` (a native call costs more than it saves). */
export const NATIVE_COPY_MIN_BYTES = 16 * 1024;

let native: ((dst: Uint8Array, offset: number, src: Uint8Array) => void) | null | undefined;

/** `dst.set(src, offset)`, by memcpy for large copies when the native addon is loaded. */
export function copyBytes(dst: Uint8Array, src: Uint8Array, offset = 0): void {
  if (src.length >= NATIVE_COPY_MIN_BYTES) {
    if (native === undefined) native = nativeAddon()?.copyInto ?? null;
    // (the bounds are checked here so a bad call fails as `set` would: RangeError, never a crash)
    if (native !== null && offset >= 0 && offset + src.length <= dst.length) { native(dst, offset, src); return; }
  }
  dst.set(src, offset);
}
