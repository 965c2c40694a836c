/** Byte-string helpers shared by the object layer (keys may be strings or bytes). */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes of a key or value given as a string (UTF-8) or bytes (as is). */
export function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? enc.encode(v) : v;
}

/** UTF-8 text of bytes. */
export function toText(v: Uint8Array): string { return dec.decode(v); }

/** Lowercase hex of bytes (map keys, logs). */
export function hex(v: Uint8Array): string { return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex'); }

/** Lexicographic comparison of byte strings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Equal byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean { return a.length === b.length && compareBytes(a, b) === 0; }
