/**
 * UTF-8 bytes of short strings (keys, object names) without `TextEncoder`: its call costs more
 * than the encoding for the one-to-few-byte keys small I/O uses (10% of a 100-byte get's CPU).
 */
import { toBytes } from '../../core/bytes.js';

/** Strings up to this many UTF-16 units are encoded in JavaScript when they are ASCII. */
export const INLINE_UTF8_MAX_CHARS = 64;

/** The UTF-8 bytes of `s` (a new array, as `TextEncoder.encode` gives). */
export function utf8(s: string): Uint8Array {
  const n = s.length;
  if (n > INLINE_UTF8_MAX_CHARS) return toBytes(s);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return toBytes(s);
    out[i] = c;
  }
  return out;
}

/** Scratch of `utf8Scratch`, and its views by length (`subarray` would make one per call). */
const scratch = new Uint8Array(INLINE_UTF8_MAX_CHARS);
const scratchViews: Uint8Array[] = Array.from({ length: INLINE_UTF8_MAX_CHARS + 1 }, (_, n) => scratch.subarray(0, n));

/**
 * The UTF-8 bytes of `s` for immediate use (hashing a name): ASCII strings up to
 * INLINE_UTF8_MAX_CHARS are written into a shared scratch and returned as a view of it, valid
 * only until the next call; anything else as `utf8(s)`, a new array. No allocation per name.
 */
export function utf8Scratch(s: string): Uint8Array {
  const n = s.length;
  if (n > INLINE_UTF8_MAX_CHARS) return toBytes(s);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return toBytes(s);
    scratch[i] = c;
  }
  return scratchViews[n]!;
}

/**
 * Whether `s` is well-formed UTF-16 (no lone surrogate). UTF-8 cannot carry a lone surrogate:
 * the encoder writes each as U+FFFD, so two different such strings would name the same key or
 * object. Callers check it only for strings that are not ASCII (whose UTF-8 is longer than they are).
 */
export function wellFormed(s: string): boolean {
  // (String.prototype.isWellFormed: Node 20, not yet in the ES2022 lib this checkout compiles against)
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}
