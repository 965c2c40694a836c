/**
 * Memcomparable keys of the per-target index. Every entry of every container on a target is one
 * key; comparing two encoded keys with `Buffer.compare` orders them exactly as the store needs:
 *
 *   [container u32][section u8] ...
 *   section OBJECTS (object table):  [unit oid, 24 bytes]
 *   section DATA:                    [unit oid, 24 bytes][tag] ...
 *     tag PUNCH                       [~epoch u64][~seq u64]                     object punch
 *     tag KEY  [esc(dkey)]  tag PUNCH [~epoch][~seq]                             dkey punch
 *                           tag KEY  [esc(akey)] tag PUNCH|SINGLE|ARRAY [~epoch][~seq]
 *
 * Integers are big-endian; `~x` is 2^64-1-x, so within one akey the newest epoch (then the newest
 * sequence number) comes first and "the newest version at or below epoch E" is a single seek to
 * `prefix + ~E`. `esc(k)` escapes 0x00 as 0x00 0xFF and ends with 0x00 0x01: prefix-free and
 * order-preserving, so dkeys and akeys sort in byte order and a punch (tag 0x01) sorts before the
 * keys it covers.
 */
import { assert } from '../../core/errors.js';
import { prefixEnd } from '../../core/bytes.js';

/** Object-table section: one key per unit object that has ever been written on the target. */
export const SECTION_OBJECTS = 0x01;
/** Data section: punches and versions. */
export const SECTION_DATA = 0x02;
/** Tags after a unit oid / dkey / akey. */
export const TAG_PUNCH = 0x01;
export const TAG_KEY = 0x02;
export const TAG_SINGLE = 0x02;
export const TAG_ARRAY = 0x03;
/** Bytes of a unit oid (192 bits: a 128-bit object id and a 32-bit shard, plus headroom). */
export const OID_BYTES = 24;
/** Bytes of a container index. */
export const CONT_BYTES = 4;
/** Bytes of the (epoch, seq) suffix. */
export const STAMP_BYTES = 16;
/** Largest sequence number (2^53: kept exact in a JS number). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;


/** What a decoded key names. */
export type KeyKind = 'object' | 'objPunch' | 'dkeyPunch' | 'akeyPunch' | 'single' | 'array';

/** A decoded key. Keys (dkey/akey) are copies. */
export interface DecodedKey {
  cont: number;
  kind: KeyKind;
  oid: bigint;
  dkey?: Uint8Array;
  akey?: Uint8Array;
  epoch: bigint;
  seq: number;
}

/**
 * A key's escaped bytes: `src[from, from + len)`, each 0x00 followed by 0xff, then the terminator
 * 0x00 0x01, written into `b` at `p` (room for 2 * len + 2 bytes made); where they end. Used by
 * `KeyBuilder.escFrom` and by writers that build many keys into room reserved once (a flush).
 */
export function escInto(b: Uint8Array, p: number, src: Uint8Array, from: number, len: number): number {
  for (let i = from; i < from + len; i++) {
    const c = src[i]!;
    b[p++] = c;
    if (c === 0) b[p++] = 0xff;
  }
  b[p] = 0; b[p + 1] = 1;
  return p + 2;
}

/** `v` as 4 big-endian bytes into `b` at `p` (room made); where they end. */
export function u32Into(b: Uint8Array, p: number, v: number): number {
  b[p] = v >>> 24; b[p + 1] = (v >>> 16) & 0xff; b[p + 2] = (v >>> 8) & 0xff; b[p + 3] = v & 0xff;
  return p + 4;
}

/** Growable byte builder for keys (reused; `take()` returns a copy). */
export class KeyBuilder {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  private n = 0;

  reset(): this { this.n = 0; return this; }
  /** Keep the first `n` bytes (a prefix built before) and build on from there. */
  truncate(n: number): this { assert(n >= 0 && n <= this.n, 'truncate beyond the key built', { n, len: this.n }); this.n = n; return this; }
  /** The bytes built so far, as a view (valid until the builder changes). */
  view(): Uint8Array { return this.buf.subarray(0, this.n); }
  /** The builder's buffer: its first `length` bytes are the key built so far (valid until the next call). */
  raw(): Uint8Array { return this.buf; }
  private ensure(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + extra) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }
  u8(v: number): this { this.ensure(1); this.buf[this.n++] = v; return this; }
  u32(v: number): this {
    this.ensure(4);
    this.n = u32Into(this.buf, this.n, v);
    return this;
  }
  u64(v: bigint): this {
    this.ensure(8);
    this.dv.setBigUint64(this.n, v, false); // big-endian; the setter itself keeps the low 64 bits (no BigInt.asUintN copy)
    this.n += 8;
    return this;
  }
  /**
   * 2^64-1-v (mod 2^64): v's low 64 bits written, then inverted in place (no BigInt made: a point
   * read and every version a merge writes build one).
   */
  inv64(v: bigint): this {
    this.ensure(8);
    const dv = this.dv, n = this.n;
    dv.setBigUint64(n, v, false);
    dv.setUint32(n, ~dv.getUint32(n, false) >>> 0, false);
    dv.setUint32(n + 4, ~dv.getUint32(n + 4, false) >>> 0, false);
    this.n = n + 8;
    return this;
  }
  /** 2^64-1-seq for a safe-integer seq. */
  invSeq(seq: number): this {
    const hi = Math.floor(seq / 4294967296); const lo = seq >>> 0;
    return this.u32((0xffffffff - hi) >>> 0).u32((0xffffffff - lo) >>> 0);
  }
  oid(oid: bigint): this {
    // u64 keeps the low 64 bits of what it is given: no masks to allocate
    return this.u64(oid >> 128n).u64(oid >> 64n).u64(oid);
  }
  /**
   * `oid` of the unit oid whose six 32-bit words, least significant first, are `w[0..5]` (an
   * `OidKey`'s words on a little-endian host, read once for the memtables: no BigInt shifts).
   */
  oidWords(w: Uint32Array): this {
    this.ensure(OID_BYTES);
    const dv = this.dv, n = this.n;
    for (let i = 0; i < 6; i++) dv.setUint32(n + 4 * i, w[5 - i]!, false);
    this.n = n + OID_BYTES;
    return this;
  }
  esc(k: Uint8Array): this { return this.escFrom(k, 0, k.length); }
  /** `esc` of `src[from, from+len)` (a key read in place, e.g. in a log record: no view made). */
  escFrom(src: Uint8Array, from: number, len: number): this {
    this.ensure(len * 2 + 2);
    this.n = escInto(this.buf, this.n, src, from, len);
    return this;
  }
  bytes(k: Uint8Array): this { this.ensure(k.length); this.buf.set(k, this.n); this.n += k.length; return this; }
  /**
   * Room for `extra` more bytes: the buffer to write them into from `length` on, then `extend` by
   * how many were written (a key built field by field in one pass, one bounds check for all).
   */
  reserve(extra: number): Uint8Array { this.ensure(extra); return this.buf; }
  /** Count `k` bytes written past `length` into the buffer `reserve` returned (at most what it made room for). */
  extend(k: number): this {
    if (!(k >= 0 && this.n + k <= this.buf.length)) assert(false, 'extend beyond the room reserved', { k, len: this.n, room: this.buf.length });
    this.n += k;
    return this;
  }
  /** A copy of the bytes built so far (see `copyKey`). */
  take(): Uint8Array { return slabCopy(this.buf, this.n); }
  get length(): number { return this.n; }
}

/** Bytes of one key slab; keys above a quarter of it get their own buffer. */
const KEY_SLAB_BYTES = 4096;
let slab = new ArrayBuffer(KEY_SLAB_BYTES);
let slabAt = 0;

/**
 * A copy of `src[0, n)` as a view into a shared slab: a store builds a key per entry it writes or
 * seeks, and an ArrayBuffer each cost more to collect than to fill. A slab lives while any key
 * carved from it does (at most KEY_SLAB_BYTES per long-lived key).
 */
function slabCopy(src: Uint8Array, n: number): Uint8Array {
  if (n > KEY_SLAB_BYTES / 4) return src.slice(0, n);
  if (slabAt + n > KEY_SLAB_BYTES) { slab = new ArrayBuffer(KEY_SLAB_BYTES); slabAt = 0; }
  const out = new Uint8Array(slab, slabAt, n);
  for (let i = 0; i < n; i++) out[i] = src[i]!;
  slabAt += (n + 7) & ~7;
  return out;
}

/**
 * A copy of a key the store keeps (memtable nodes, merge output), carved from the shared key slab:
 * one ArrayBuffer per key cost more to collect than the copy.
 */
export function copyKey(k: Uint8Array): Uint8Array { return slabCopy(k, k.length); }

const kb = new KeyBuilder();

/** `[cont][OBJECTS]`: prefix of a container's object table. */
export function objectTablePrefix(cont: number): Uint8Array { return kb.reset().u32(cont).u8(SECTION_OBJECTS).take(); }
/** Object-table key of a unit oid. */
export function objectTableKey(cont: number, oid: bigint): Uint8Array { return kb.reset().u32(cont).u8(SECTION_OBJECTS).oid(oid).take(); }
/** `[cont]`: prefix of everything a container holds on the target. */
export function containerPrefix(cont: number): Uint8Array { return kb.reset().u32(cont).take(); }
/** `[cont][DATA][oid]`: prefix of everything of one unit object. */
export function objectPrefix(cont: number, oid: bigint): Uint8Array { return kb.reset().u32(cont).u8(SECTION_DATA).oid(oid).take(); }
/** Prefix of one dkey's entries. */
export function dkeyPrefix(cont: number, oid: bigint, dkey: Uint8Array): Uint8Array {
  return kb.reset().u32(cont).u8(SECTION_DATA).oid(oid).u8(TAG_KEY).esc(dkey).take();
}
/** Prefix of one akey's entries. */
export function akeyPrefix(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Uint8Array {
  return kb.reset().u32(cont).u8(SECTION_DATA).oid(oid).u8(TAG_KEY).esc(dkey).u8(TAG_KEY).esc(akey).take();
}
/** `prefix + tag`: where entries of one kind under a prefix start. */
export function withTag(prefix: Uint8Array, tag: number): Uint8Array { return kb.reset().bytes(prefix).u8(tag).take(); }
/** `prefix + tag + ~epoch + ~seq`: a full key. */
export function stampKey(prefix: Uint8Array, tag: number, epoch: bigint, seq: number): Uint8Array {
  return kb.reset().bytes(prefix).u8(tag).inv64(epoch).invSeq(seq).take();
}
/** `prefix + tag + ~epoch`: the seek key for "newest at or below epoch". */
export function seekAtEpoch(prefix: Uint8Array, tag: number, epoch: bigint): Uint8Array {
  return kb.reset().bytes(prefix).u8(tag).inv64(epoch).take();
}

/** The smallest key greater than every key starting with `prefix` (core/bytes; undefined for all-0xff). */
export { prefixEnd };

/** Whether `key` starts with `prefix`. */
export function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = prefix.length - 1; i >= 0; i--) if (key[i] !== prefix[i]) return false;
  return true;
}

/** Byte order of keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
function readU64(b: Uint8Array, at: number): bigint {
  return (BigInt(readU32(b, at)) << 32n) | BigInt(readU32(b, at + 4));
}

/** Read an escaped key starting at `at`; returns the raw bytes and the offset after the terminator, or undefined if malformed. */
function unesc(b: Uint8Array, at: number): { key: Uint8Array; next: number } | undefined {
  const out: number[] = [];
  let i = at;
  while (i + 1 < b.length) {
    const c = b[i]!;
    if (c !== 0) { out.push(c); i++; continue; }
    const d = b[i + 1]!;
    if (d === 0xff) { out.push(0); i += 2; continue; }
    if (d === 0x01) return { key: Uint8Array.from(out), next: i + 2 };
    return undefined;
  }
  return undefined;
}

function stampAt(b: Uint8Array, at: number): { epoch: bigint; seq: number } | undefined {
  if (at + STAMP_BYTES !== b.length) return undefined;
  const epoch = stampEpochAt(b, at);
  const hi = 0xffffffff - readU32(b, at + 8); const lo = 0xffffffff - readU32(b, at + 12);
  const seq = hi * 4294967296 + lo;
  if (!Number.isSafeInteger(seq)) return undefined;
  return { epoch, seq };
}

/** Decode a key; undefined when it is malformed (treated as corruption by callers). */
export function decodeKey(b: Uint8Array): DecodedKey | undefined {
  if (b.length < CONT_BYTES + 1 + OID_BYTES) return undefined;
  const cont = readU32(b, 0);
  const section = b[4]!;
  const oid = (readU64(b, 5) << 128n) | (readU64(b, 13) << 64n) | readU64(b, 21);
  let at = 5 + OID_BYTES;
  if (section === SECTION_OBJECTS) return at === b.length ? { cont, kind: 'object', oid, epoch: 0n, seq: 0 } : undefined;
  if (section !== SECTION_DATA || at >= b.length) return undefined;
  if (b[at] === TAG_PUNCH) {
    const s = stampAt(b, at + 1);
    return s && { cont, kind: 'objPunch', oid, ...s };
  }
  if (b[at] !== TAG_KEY) return undefined;
  const d = unesc(b, at + 1);
  if (!d || d.next >= b.length) return undefined;
  at = d.next;
  if (b[at] === TAG_PUNCH) {
    const s = stampAt(b, at + 1);
    return s && { cont, kind: 'dkeyPunch', oid, dkey: d.key, ...s };
  }
  if (b[at] !== TAG_KEY) return undefined;
  const a = unesc(b, at + 1);
  if (!a || a.next >= b.length) return undefined;
  at = a.next;
  const tag = b[at]!;
  const s = stampAt(b, at + 1);
  if (!s) return undefined;
  const kind: KeyKind | undefined = tag === TAG_PUNCH ? 'akeyPunch' : tag === TAG_SINGLE ? 'single' : tag === TAG_ARRAY ? 'array' : undefined;
  return kind && { cont, kind, oid, dkey: d.key, akey: a.key, ...s };
}

/** Encode the key of a decoded key (inverse of `decodeKey`). */
export function encodeKey(k: DecodedKey): Uint8Array {
  switch (k.kind) {
    case 'object': return objectTableKey(k.cont, k.oid);
    case 'objPunch': return stampKey(objectPrefix(k.cont, k.oid), TAG_PUNCH, k.epoch, k.seq);
    case 'dkeyPunch': return stampKey(dkeyPrefix(k.cont, k.oid, k.dkey!), TAG_PUNCH, k.epoch, k.seq);
    default: {
      const tag = k.kind === 'akeyPunch' ? TAG_PUNCH : k.kind === 'single' ? TAG_SINGLE : TAG_ARRAY;
      assert(k.dkey !== undefined && k.akey !== undefined, 'akey-level key needs dkey and akey');
      return stampKey(akeyPrefix(k.cont, k.oid, k.dkey, k.akey), tag, k.epoch, k.seq);
    }
  }
}

/**
 * Split a data key into its akey path (everything before the final tag and stamp), for grouping
 * the entries of one akey in a scan. Returns the length of that prefix, or -1 for keys that are
 * not akey-level entries.
 */
export function akeyPathLength(b: Uint8Array): number {
  // akey-level keys end with [tag][16-byte stamp] after a second escaped key
  if (b.length < CONT_BYTES + 1 + OID_BYTES + 1 + STAMP_BYTES || b[4] !== SECTION_DATA) return -1;
  const k = decodeKey(b);
  if (!k || (k.kind !== 'single' && k.kind !== 'array' && k.kind !== 'akeyPunch')) return -1;
  return b.length - 1 - STAMP_BYTES;
}

/** Offset after the escaped key that starts at `at` (its 0x00 0x01 terminator), or -1. */
function escEnd(b: Uint8Array, at: number): number {
  for (let i = at; i + 1 < b.length; i++) {
    if (b[i] !== 0) continue;
    const d = b[i + 1];
    if (d === 0xff) { i++; continue; }
    return d === 0x01 ? i + 2 : -1;
  }
  return -1;
}

/** Where a key's parts end, found without copying (for grouping and bloom prefixes). */
export interface KeyShape {
  kind: KeyKind;
  /** Length of `[cont][section][oid]`. */
  objEnd: number;
  /** End of `... TAG_KEY esc(dkey)` (dkey-level and akey-level keys), else -1. */
  dkeyEnd: number;
  /** End of `... TAG_KEY esc(akey)` (akey-level keys), else -1. */
  akeyEnd: number;
}

/** The shape of a key; undefined when malformed. */
export function keyShape(b: Uint8Array): KeyShape | undefined {
  const objEnd = CONT_BYTES + 1 + OID_BYTES;
  if (b.length < objEnd) return undefined;
  if (b[4] === SECTION_OBJECTS) return b.length === objEnd ? { kind: 'object', objEnd, dkeyEnd: -1, akeyEnd: -1 } : undefined;
  if (b[4] !== SECTION_DATA || b.length <= objEnd) return undefined;
  if (b[objEnd] === TAG_PUNCH) return b.length === objEnd + 1 + STAMP_BYTES ? { kind: 'objPunch', objEnd, dkeyEnd: -1, akeyEnd: -1 } : undefined;
  if (b[objEnd] !== TAG_KEY) return undefined;
  const dkeyEnd = escEnd(b, objEnd + 1);
  if (dkeyEnd < 0 || dkeyEnd >= b.length) return undefined;
  if (b[dkeyEnd] === TAG_PUNCH) return b.length === dkeyEnd + 1 + STAMP_BYTES ? { kind: 'dkeyPunch', objEnd, dkeyEnd, akeyEnd: -1 } : undefined;
  if (b[dkeyEnd] !== TAG_KEY) return undefined;
  const akeyEnd = escEnd(b, dkeyEnd + 1);
  if (akeyEnd < 0 || b.length !== akeyEnd + 1 + STAMP_BYTES) return undefined;
  const tag = b[akeyEnd];
  const kind: KeyKind | undefined = tag === TAG_PUNCH ? 'akeyPunch' : tag === TAG_SINGLE ? 'single' : tag === TAG_ARRAY ? 'array' : undefined;
  return kind && { kind, objEnd, dkeyEnd, akeyEnd };
}

/** Scratch for decoding a stamp's epoch: one BigInt made per epoch read, not five. */
const stampDv = new DataView(new ArrayBuffer(8));

/**
 * The epoch of the stamp that starts at `b[at]` (`~epoch` big-endian): read in place, without the
 * intermediate BigInts of shifting and subtracting (a point lookup reads one per get).
 */
export function stampEpochAt(b: Uint8Array, at: number): bigint {
  stampDv.setUint32(0, (0xffffffff - readU32(b, at)) >>> 0);
  stampDv.setUint32(4, (0xffffffff - readU32(b, at + 4)) >>> 0);
  return stampDv.getBigUint64(0);
}

/** The sequence number of the stamp that starts at `b[at]`. */
export function stampSeqAt(b: Uint8Array, at: number): number {
  return (0xffffffff - readU32(b, at + 8)) * 4294967296 + (0xffffffff - readU32(b, at + 12));
}

/** The epoch of a stamped key (`keyStamp` without the object). */
export function keyEpoch(b: Uint8Array): bigint { return stampEpochAt(b, b.length - STAMP_BYTES); }

/** The sequence number of a stamped key. */
export function keySeq(b: Uint8Array): number { return stampSeqAt(b, b.length - STAMP_BYTES); }

/** (epoch, seq) of a stamped key (its last 16 bytes). */
export function keyStamp(b: Uint8Array): { epoch: bigint; seq: number } {
  const at = b.length - STAMP_BYTES;
  return { epoch: stampEpochAt(b, at), seq: stampSeqAt(b, at) };
}

/** The unit oid of a key (any section). */
export function keyOid(b: Uint8Array): bigint {
  return (readU64(b, 5) << 128n) | (readU64(b, 13) << 64n) | readU64(b, 21);
}

/** The container index of a key. */
export function keyCont(b: Uint8Array): number { return readU32(b, 0); }

/** Unescape the key that starts at `at` (copy). */
export function unescapeAt(b: Uint8Array, at: number): Uint8Array {
  const r = unesc(b, at);
  assert(r !== undefined, 'malformed escaped key');
  return r.key;
}
