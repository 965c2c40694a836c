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
