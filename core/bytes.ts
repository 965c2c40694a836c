/** Byte-string helpers shared by the object layer (keys may be strings or bytes). */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes of a key or value given as a string (UTF-8) or bytes (as is). */
export function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? enc.encode(v) : v;
}

/** UTF-8 text of bytes. */
export function toText(v: Uint8Array): string { return dec.decode(v); }

/**
 * Bytes as a string of the same length, one char per byte (latin1): a map key for byte strings,
 * cheaper than hex. Built directly for short inputs (measured: a Buffer view costs more).
 */
export function latin1(v: Uint8Array): string {
  const n = v.length;
  if (n <= 8) { let s = ''; for (let i = 0; i < n; i++) s += String.fromCharCode(v[i]!); return s; }
  if (n <= 32) return String.fromCharCode.apply(null, v as unknown as number[]);
  return Buffer.from(v.buffer, v.byteOffset, n).toString('latin1');
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of bytes (map keys, logs). Short inputs from a table (measured: a Buffer view costs more). */
export function hex(v: Uint8Array): string {
  const n = v.length;
  if (n <= 8) { let s = ''; for (let i = 0; i < n; i++) s += HEX_PAIRS[v[i]!]!; return s; }
  return Buffer.from(v.buffer, v.byteOffset, n).toString('hex');
}

/** Lexicographic comparison of byte strings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Equal byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean { return a.length === b.length && compareBytes(a, b) === 0; }
