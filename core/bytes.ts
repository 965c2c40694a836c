/** Byte-string helpers shared by the object layer (keys may be strings or bytes). */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bytes of a key or value given as a string (UTF-8) or bytes (as is). */
export function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? enc.encode(v) : v;
}

/** UTF-8 text of bytes. */
export function toText(v: Uint8Array): string { return dec.decode(v); }

/** Longest input `latin1` builds from chunks of `fromCharCode` calls (beyond, through a Buffer view). */
const LATIN1_CHUNKED_MAX_BYTES = 32;

/**
 * Bytes as a string of the same length, one char per byte (latin1): a map key for byte strings,
 * cheaper than hex. Built directly for short inputs, up to 8 bytes per `String.fromCharCode` call
 * with its arguments spelled out (measured, 1,024 keys looked up in a Map by their string: 6 bytes
 * 77 -> 54 ns, 8 bytes 104 -> 78, 9 bytes 272 -> 68 against a string grown a char at a time, or
 * `fromCharCode.apply` over the array; a Buffer view costs more still).
 */
export function latin1(v: Uint8Array): string {
  const n = v.length;
  if (n <= 8) return latin1Chunk(v, 0, n);
  if (n <= LATIN1_CHUNKED_MAX_BYTES) {
    let s = latin1Chunk(v, 0, 8);
    for (let at = 8; at < n; at += 8) s += latin1Chunk(v, at, n - at < 8 ? n - at : 8);
    return s;
  }
  return Buffer.from(v.buffer, v.byteOffset, n).toString('latin1');
}

const chr = String.fromCharCode;

/** The `m` (0..8) bytes of `v` at `at` as latin1: one `fromCharCode` call with `m` arguments. */
function latin1Chunk(v: Uint8Array, at: number, m: number): string {
  switch (m) {
    case 0: return '';
    case 1: return chr(v[at]!);
    case 2: return chr(v[at]!, v[at + 1]!);
    case 3: return chr(v[at]!, v[at + 1]!, v[at + 2]!);
    case 4: return chr(v[at]!, v[at + 1]!, v[at + 2]!, v[at + 3]!);
    case 5: return chr(v[at]!, v[at + 1]!, v[at + 2]!, v[at + 3]!, v[at + 4]!);
    case 6: return chr(v[at]!, v[at + 1]!, v[at + 2]!, v[at + 3]!, v[at + 4]!, v[at + 5]!);
    case 7: return chr(v[at]!, v[at + 1]!, v[at + 2]!, v[at + 3]!, v[at + 4]!, v[at + 5]!, v[at + 6]!);
    default: return chr(v[at]!, v[at + 1]!, v[at + 2]!, v[at + 3]!, v[at + 4]!, v[at + 5]!, v[at + 6]!, v[at + 7]!);
  }
}

const HEX_PAIRS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase hex of bytes (map keys, logs). Short inputs from a table (measured: a Buffer view costs more). */
export function hex(v: Uint8Array): string {
  const n = v.length;
  if (n <= 8) { let s = ''; for (let i = 0; i < n; i++) s += HEX_PAIRS[v[i]!]!; return s; }
  return Buffer.from(v.buffer, v.byteOffset, n).toString('hex');
}

/** The smallest byte string greater than every string starting with `prefix` (undefined when it is all 0xff: none is). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  const out = new Uint8Array(n); // (a copy: Buffer's slice would share, and the increment write through)
  out.set(prefix.subarray(0, n));
  out[n - 1]!++;
  return out;
}

/** Lexicographic comparison of byte strings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Equal short byte strings (keys), compared in place: `equalBytes` makes two Buffer views per call,
 * which costs more than the loop for the few bytes of a dkey or akey.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equal byte strings. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean { return a.length === b.length && compareBytes(a, b) === 0; }

/**
 * Small byte buffers carved from shared slabs, as Node's `Buffer.allocUnsafe` pool does: a typed
 * array of its own past 64 bytes is a backing store allocated off the JavaScript heap and later
 * freed by the collector (0.9 us a 100-byte copy here against 0.15 us for a view of a slab). A
 * view's `.buffer` is the slab, shared with other views (each sees only its own range; no range is
 * handed out twice, so a view starts zeroed), and a slab lives while any view of it does. Never
 * transfer such a view's `.buffer` (postMessage transfer lists): it would detach the other views.
 */
export class Slab {
  private buf = new ArrayBuffer(0);
  private at = 0;
  /** `slabBytes`: one slab's size; `maxBytes`: the largest view carved (larger ones get a buffer of their own). */
  constructor(readonly slabBytes: number, readonly maxBytes: number) {}
  /** `n` fresh zeroed bytes: a view of the slab (8-byte aligned) when `n <= maxBytes`, else a buffer of their own. */
  take(n: number): Uint8Array {
    if (n > this.maxBytes) return new Uint8Array(n);
    if (this.at + n > this.buf.byteLength) { this.buf = new ArrayBuffer(this.slabBytes); this.at = 0; }
    const out = new Uint8Array(this.buf, this.at, n);
    this.at += (n + 7) & ~7;
    return out;
  }
}

/** Small values handed to callers or built per write (value copies, EC whole pieces): 8 KiB slabs, up to 1 KiB each. */
export const valueSlab = new Slab(8 * 1024, 1024);
/** Reads handed to callers (the data file's small reads): 256 KiB slabs, up to 16 KiB each (a 4 KiB read of its own cost a backing store). */
export const readSlab = new Slab(256 * 1024, 16 * 1024);
