/**
 * The binary payload of a journal INTENT record (payload encoding 1 of journal format 3): what a
 * commit touches, written straight into the journal group's reused buffer, so a small put builds
 * no JSON text, hex or base64 string per commit. All integers little-endian:
 *
 * `u8 codec version (1) | u8 flags (bit 0: single, bit 1: value, bit 2: store hash) | 2 x 0 | u32 targets |
 *  u32 objects | targets x u32 | objects x (u16 length | ASCII hex id) |
 *  single: u32 dkey length | dkey | u32 akey length | akey | u64 xxh64 of the value |
 *  u32 shards | shards x (u32 target | u32 shard) | value: u32 length | value`.
 *
 * Codec 2 (journal format 7 writes it; codec 1 above is still read), the same fields, compact:
 *
 * `u8 codec version (2) | u8 flags | varint targets | varint objects | targets x varint |
 *  objects x (u8 hex digits n | ceil(n/2) bytes: the digits two a byte, the first in the high nibble,
 *  an odd count's last low nibble 0) | single: varint dkey length | dkey | varint akey length | akey |
 *  u64 hash | varint shards | shards x (varint target | varint shard) | value: varint length | value`,
 * varints LEB128 (7 bits a byte, low bits first, at most 32 bits). A durable 100-byte put's
 * payload is 140 bytes instead of 193 (its journal bytes 235 -> 182 per put with format 7's DONE
 * sets: ~23k puts per redo checkpoint instead of ~18k).
 *
 * The hash is XXH64 of the value with seed 0, or, with the store-hash flag (journal format 4), the
 * value's store checksum (`valueChecksum`: XXH64 under the stores' seed), which a put takes once
 * for its replicas and its INTENT instead of hashing the value twice.
 *
 * Decoding gives the payload the JSON encoding gives (`{ targets, objects, single: { d, a, h, s,
 * v, c } }`, keys and the hash in hex, the value in base64, `c: 1` for a store hash), so recovery
 * reads both encodings alike.
 * The record's checksum covers the payload; a payload that does not parse is a damaged record.
 */
import { assert } from '../../core/errors.js';
import { copyInto } from '../../core/typed.js';

/** What an INTENT names (a `CommitInfo` is one). */
export interface IntentFields {
  readonly targets: readonly number[];
  readonly objects: readonly string[];
  readonly single?: {
    readonly dkey: Uint8Array;
    readonly akey: Uint8Array;
    readonly hash: bigint;
    /** `hash` is the value's store checksum (`valueChecksum`), not XXH64 with seed 0 (format 4). */
    readonly storeHash?: boolean;
    readonly shards: ReadonlyArray<readonly [number, number]>;
    readonly value?: Uint8Array;
  };
}

/** Version byte of the first payload layout (read; written by journal formats 3-6). */
const CODEC_VERSION = 1;
/**
 * Version byte of the compact layout written by journal format 7 (see the file's doc): counts,
 * lengths, targets and shards as varints, object ids as packed hex digits. A durable 100-byte put's
 * INTENT payload: 193 -> 140 bytes.
 */
const CODEC_V2 = 2;
const FLAG_SINGLE = 1;
const FLAG_VALUE = 2;
/** The single value's hash is its store checksum (`valueChecksum`), not XXH64 with seed 0. */
const FLAG_STORE_HASH = 4;
/** Fixed part: version, flags, 2 zero bytes, target count, object count. */
const FIXED_BYTES = 12;
/** Longest object id written (hex of a 128-bit id is 32 characters). */
const MAX_OBJECT_ID_CHARS = 64;

/** Bytes of `n` (an unsigned 32-bit integer) as a varint (LEB128: 7 bits a byte, low bits first). */
function varintBytes(n: number): number { return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5; }

/** Write `n` as a varint at `at`; returns the offset after it. */
function putVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) { out[at++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
  out[at++] = n;
  return at;
}

/** Where the varint `getVarint` read last ended. */
let varintEnd = 0;
/** The varint at `at` (ending before `end`; at most 32 bits), its end in `varintEnd`; -1 when it does not parse. */
function getVarint(buf: Uint8Array, at: number, end: number): number {
  let n = 0, mul = 1;
  for (let i = 0; i < 5; i++) {
    if (at >= end) return -1;
    const b = buf[at++]!;
    n += (b & 0x7f) * mul;
    if (b < 0x80) { varintEnd = at; return n <= 0xffffffff ? n : -1; }
    mul *= 128;
  }
  return -1;
}

/** The value of hex digit (char code) `c`, -1 when it is not one of 0-9a-f. */
function hexValue(c: number): number { return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1; }

/** Bytes `writeIntent` writes for `f` (the compact layout, CODEC_V2). */
export function intentBytes(f: IntentFields): number {
  const t = f.targets, objs = f.objects;
  let n = 2 + varintBytes(t.length) + varintBytes(objs.length);
  for (let i = 0; i < t.length; i++) n += varintBytes(t[i]!);
  for (let i = 0; i < objs.length; i++) n += 1 + ((objs[i]!.length + 1) >> 1);
  const s = f.single;
  if (s !== undefined) {
    const sh = s.shards;
    n += varintBytes(s.dkey.length) + s.dkey.length + varintBytes(s.akey.length) + s.akey.length + 8 + varintBytes(sh.length);
    for (let i = 0; i < sh.length; i++) n += varintBytes(sh[i]![0]) + varintBytes(sh[i]![1]);
    if (s.value !== undefined) n += varintBytes(s.value.length) + s.value.length;
  }
  return n;
}

/**
 * Write `f` at `at` of `out` (`dv` views `out`) in the compact layout (CODEC_V2); returns the
 * offset after it. Exactly `intentBytes(f)` bytes.
 */
export function writeIntent(out: Buffer, dv: DataView, at: number, f: IntentFields): number {
  const s = f.single;
  out[at] = CODEC_V2;
  out[at + 1] = s === undefined ? 0 : FLAG_SINGLE | (s.value === undefined ? 0 : FLAG_VALUE) | (s.storeHash === true ? FLAG_STORE_HASH : 0);
  const t = f.targets, objs = f.objects;
  at = putVarint(out, at + 2, t.length);
  at = putVarint(out, at, objs.length);
  for (let i = 0; i < t.length; i++) at = putVarint(out, at, t[i]!);
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i]!, len = o.length;
    if (len < 1 || len > MAX_OBJECT_ID_CHARS) assert(false, 'an INTENT names objects by the hex of their 128-bit ids', { chars: len });
    out[at++] = len;
    // two hex digits a byte, the first in the high nibble (an odd count leaves the last low nibble 0)
    for (let k = 0; k < len; k += 2) {
      const hi = hexValue(o.charCodeAt(k)), lo = k + 1 < len ? hexValue(o.charCodeAt(k + 1)) : 0;
      if (hi < 0 || lo < 0) assert(false, 'an INTENT names objects by lowercase hex ids', { id: o });
      out[at++] = (hi << 4) | lo;
    }
  }
  if (s === undefined) return at;
  at = putVarint(out, at, s.dkey.length); copyInto(out, s.dkey, at); at += s.dkey.length;
  at = putVarint(out, at, s.akey.length); copyInto(out, s.akey, at); at += s.akey.length;
  dv.setBigUint64(at, s.hash, true); at += 8;
  const sh = s.shards;
  at = putVarint(out, at, sh.length);
  for (let i = 0; i < sh.length; i++) { at = putVarint(out, at, sh[i]![0]); at = putVarint(out, at, sh[i]![1]); }
  if (s.value !== undefined) { at = putVarint(out, at, s.value.length); copyInto(out, s.value, at); at += s.value.length; }
  return at;
}

/** Write `f` at `at` in the first layout (CODEC_VERSION 1, as journal formats 3-6 wrote it: tests of older files). */
export function writeIntentV1(out: Buffer, dv: DataView, at: number, f: IntentFields): number {
  const s = f.single;
  dv.setUint32(at, CODEC_VERSION | ((s === undefined ? 0 : FLAG_SINGLE | (s.value === undefined ? 0 : FLAG_VALUE) | (s.storeHash === true ? FLAG_STORE_HASH : 0)) << 8), true);
  dv.setUint32(at + 4, f.targets.length, true);
  dv.setUint32(at + 8, f.objects.length, true);
  at += FIXED_BYTES;
  const t = f.targets;
  for (let i = 0; i < t.length; i++, at += 4) dv.setUint32(at, t[i]!, true);
  const objs = f.objects;
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i]!;
    if (o.length > MAX_OBJECT_ID_CHARS) assert(false, 'an INTENT names objects by the hex of their 128-bit ids', { chars: o.length });
    dv.setUint16(at, o.length, true);
    out.write(o, at + 2, o.length, 'latin1');
    at += 2 + o.length;
  }
  if (s === undefined) return at;
  dv.setUint32(at, s.dkey.length, true); out.set(s.dkey, at + 4); at += 4 + s.dkey.length;
  dv.setUint32(at, s.akey.length, true); out.set(s.akey, at + 4); at += 4 + s.akey.length;
  dv.setBigUint64(at, s.hash, true); at += 8;
  const sh = s.shards;
  dv.setUint32(at, sh.length, true); at += 4;
  for (let i = 0; i < sh.length; i++, at += 8) { dv.setUint32(at, sh[i]![0], true); dv.setUint32(at + 4, sh[i]![1], true); }
  if (s.value !== undefined) { dv.setUint32(at, s.value.length, true); out.set(s.value, at + 4); at += 4 + s.value.length; }
  return at;
}

/** Bytes `writeIntentV1` writes for `f`. */
export function intentBytesV1(f: IntentFields): number {
  let n = FIXED_BYTES + 4 * f.targets.length;
  const objs = f.objects;
  for (let i = 0; i < objs.length; i++) n += 2 + objs[i]!.length;
  const s = f.single;
  if (s !== undefined) {
    n += 4 + s.dkey.length + 4 + s.akey.length + 8 + 4 + 8 * s.shards.length;
    if (s.value !== undefined) n += 4 + s.value.length;
  }
  return n;
}

const HEX_ID = /^[0-9a-f]+$/;

/**
 * The hex id of `digits` packed digits at `at` (CODEC_V2), undefined when an odd count's padding
 * nibble is not 0. One flat string made natively: built a byte pair at a time, an id of 32 digits
 * was 16 concatenated strings, 2.5x slower (the walk that made the ids of an open reading ~51k
 * INTENTs allocated 37 MB, 14 MB since).
 */
function packedHex(buf: Uint8Array, at: number, digits: number): string | undefined {
  const n = (digits + 1) >> 1;
  if ((digits & 1) === 1 && (buf[at + n - 1]! & 15) !== 0) return undefined;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const hex = b.toString('hex', at, at + n);
  return (digits & 1) === 1 ? hex.slice(0, digits) : hex;
}

/**
 * CODEC_V2: walk the object ids of the payload `buf[start, end)`, calling `visit(at, digits)` for
 * each (packed digits at `at`); returns the offset after them, -1 when they do not parse. `nt`
 * targets are skipped first (`targets` gets them when given).
 */
function v2Objects(buf: Uint8Array, start: number, end: number, visit: ((at: number, digits: number) => boolean) | undefined, targets?: number[]): number {
  if (end - start < 4 || (buf[start + 1]! & ~(FLAG_SINGLE | FLAG_VALUE | FLAG_STORE_HASH)) !== 0) return -1;
  const nt = getVarint(buf, start + 2, end);
  if (nt < 0) return -1;
  const no = getVarint(buf, varintEnd, end);
  if (no < 0 || nt > end - varintEnd || no > (end - varintEnd) / 2) return -1;
  let at = varintEnd;
  for (let i = 0; i < nt; i++) { const v = getVarint(buf, at, end); if (v < 0) return -1; targets?.push(v); at = varintEnd; }
  for (let i = 0; i < no; i++) {
    if (at >= end) return -1;
    const digits = buf[at]!;
    const bytes = (digits + 1) >> 1;
    if (digits === 0 || digits > MAX_OBJECT_ID_CHARS || at + 1 + bytes > end) return -1;
    if (visit !== undefined && !visit(at + 1, digits)) return -1;
    at += 1 + bytes;
  }
  return at;
}

/**
 * The object ids (hex) of the binary INTENT in `buf[start, end)`, read without decoding the rest
 * of it (a checkpoint folds the ids of the INTENTs it drops into the registry); undefined when
 * they do not parse.
 */
export function intentObjects(buf: Buffer, start: number, end: number): string[] | undefined {
  if (end > start && buf[start] === CODEC_V2) {
    const objects: string[] = [];
    const ok = v2Objects(buf, start, end, (at, digits) => { const o = packedHex(buf, at, digits); if (o === undefined) return false; objects.push(o); return true; }) >= 0;
    return ok ? objects : undefined;
  }
  if (end - start < FIXED_BYTES || buf[start] !== CODEC_VERSION) return undefined;
  const nt = buf.readUInt32LE(start + 4), no = buf.readUInt32LE(start + 8);
  let at = start + FIXED_BYTES;
  if (nt > (end - at) / 4) return undefined;
  at += 4 * nt;
  if (no > (end - at) / 2) return undefined;
  const objects: string[] = new Array(no);
  for (let i = 0; i < no; i++) {
    if (at + 2 > end) return undefined;
    const len = buf.readUInt16LE(at);
    if (len === 0 || len > MAX_OBJECT_ID_CHARS || at + 2 + len > end) return undefined;
    const o = buf.toString('latin1', at + 2, at + 2 + len);
    if (!HEX_ID.test(o)) return undefined;
    objects[i] = o; at += 2 + len;
  }
  return objects;
}

/**
 * `intentObjects` without a string per id: `visit(at, len, packed)` gets each object id's `len`
 * hex digits, in order: as the ASCII range `buf[at, at + len)` (CODEC_VERSION 1), or packed two a
 * byte from `at`, the first in the high nibble (`packed`, CODEC_V2); checked as there but for the
 * digits themselves (the visitor reads them). False when the ids do not parse (some may have been visited).
 */
export function forEachIntentObject(buf: Buffer, start: number, end: number, visit: (at: number, len: number, packed: boolean) => void): boolean {
  if (end > start && buf[start] === CODEC_V2) return v2Objects(buf, start, end, (at, digits) => { visit(at, digits, true); return true; }) >= 0;
  if (end - start < FIXED_BYTES || buf[start] !== CODEC_VERSION) return false;
  const nt = buf.readUInt32LE(start + 4), no = buf.readUInt32LE(start + 8);
  let at = start + FIXED_BYTES;
  if (nt > (end - at) / 4) return false;
  at += 4 * nt;
  if (no > (end - at) / 2) return false;
  for (let i = 0; i < no; i++) {
    if (at + 2 > end) return false;
    const len = buf.readUInt16LE(at);
    if (len === 0 || len > MAX_OBJECT_ID_CHARS || at + 2 + len > end) return false;
    visit(at + 2, len, false);
    at += 2 + len;
  }
  return true;
}

/**
 * A binary INTENT decoded without a string but its object ids (`decodeIntentTyped`): what
 * recovery reads of it. `single`: its single value's fields as bytes and numbers (`dkey`, `akey`,
 * `value` are views of the decoded buffer), absent when it names none.
 */
export interface DecodedIntent {
  targets: number[];
  objects: string[];
  single?: DecodedSingle;
  /** The payload's bytes (a view of the decoded buffer), when the reader keeps them (`Journal.open`'s `typed`). */
  bytes?: Uint8Array;
  /**
   * A single value checked but not parsed (a lazy decode: `decodeIntentTyped`'s `lazy`): where it
   * starts in `bytes`. `intentSingle` parses it when it is asked for.
   */
  singleAt?: number;
}

/** The single value of a `DecodedIntent`: the fields the JSON encoding gives as hex and base64 strings. */
export interface DecodedSingle {
  dkey: Uint8Array;
  akey: Uint8Array;
  hash: bigint;
  /** The hash is the value's store checksum (FLAG_STORE_HASH). */
  storeHash: boolean;
  shards: Array<[number, number]>;
  value?: Uint8Array;
}

/**
 * The payload of the binary INTENT in `buf[start, end)` (`dv` views `buf`), in the JSON
 * encoding's shape; undefined when it does not parse (a damaged or foreign record).
 */
export function decodeIntent(buf: Buffer, dv: DataView, start: number, end: number): Record<string, unknown> | undefined {
  const d = decodeIntentTyped(buf, dv, start, end);
  if (d === undefined) return undefined;
  const payload: Record<string, unknown> = { targets: d.targets, objects: d.objects };
  const s = d.single;
  if (s === undefined) return payload;
  const single: Record<string, unknown> = { d: Buffer.from(s.dkey.buffer, s.dkey.byteOffset, s.dkey.length).toString('hex'), a: Buffer.from(s.akey.buffer, s.akey.byteOffset, s.akey.length).toString('hex'), h: s.hash.toString(16), s: s.shards };
  if (s.storeHash) single.c = 1;
  if (s.value !== undefined) single.v = Buffer.from(s.value.buffer, s.value.byteOffset, s.value.length).toString('base64');
  payload.single = single;
  return payload;
}

/**
 * `decodeIntent` without the strings: the same records parse (and the same do not), the single
 * value's keys, hash and value given as bytes and a BigInt (what recovery uses: no hex or base64
 * string made and parsed back per INTENT).
 */
export function decodeIntentTyped(buf: Buffer, dv: DataView, start: number, end: number, lazy = false): DecodedIntent | undefined {
  if (end > start && buf[start] === CODEC_V2) return decodeIntentV2(buf, dv, start, end, lazy);
  if (end - start < FIXED_BYTES || buf[start] !== CODEC_VERSION || buf[start + 2] !== 0 || buf[start + 3] !== 0) return undefined;
  const flags = buf[start + 1]!;
  if ((flags & ~(FLAG_SINGLE | FLAG_VALUE | FLAG_STORE_HASH)) !== 0 || ((flags & FLAG_SINGLE) === 0 && flags !== 0)) return undefined;
  const nt = dv.getUint32(start + 4, true), no = dv.getUint32(start + 8, true);
  let at = start + FIXED_BYTES;
  if (nt > (end - at) / 4) return undefined;
  const targets: number[] = new Array(nt);
  for (let i = 0; i < nt; i++, at += 4) targets[i] = dv.getUint32(at, true);
  if (no > (end - at) / 2) return undefined;
  const objects: string[] = new Array(no);
  for (let i = 0; i < no; i++) {
    if (at + 2 > end) return undefined;
    const len = dv.getUint16(at, true);
    if (len === 0 || len > MAX_OBJECT_ID_CHARS || at + 2 + len > end) return undefined;
    const o = buf.toString('latin1', at + 2, at + 2 + len);
    if (!HEX_ID.test(o)) return undefined;
    objects[i] = o; at += 2 + len;
  }
  if ((flags & FLAG_SINGLE) === 0) return at === end ? { targets, objects } : undefined;
  const bytes = (): Buffer | undefined => {
    if (at + 4 > end) return undefined;
    const len = dv.getUint32(at, true);
    if (len > end - at - 4) return undefined;
    const b = buf.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    return b;
  };
  const dkey = bytes(), akey = bytes();
  if (dkey === undefined || akey === undefined || at + 12 > end) return undefined;
  const hash = dv.getBigUint64(at, true);
  const ns = dv.getUint32(at + 8, true);
  at += 12;
  if (ns > (end - at) / 8) return undefined;
  const shards: Array<[number, number]> = new Array(ns);
  for (let i = 0; i < ns; i++, at += 8) shards[i] = [dv.getUint32(at, true), dv.getUint32(at + 4, true)];
  const single = singlePart(flags, dkey, akey, hash, shards, bytes);
  if (single === undefined || at !== end) return undefined;
  return { targets, objects, single };
}

/** The single-value part of a decoded INTENT (either codec); its value, when flagged, is read by `bytes`. Undefined when that read fails. */
function singlePart(flags: number, dkey: Buffer, akey: Buffer, hash: bigint, shards: Array<[number, number]>, bytes: () => Buffer | undefined): DecodedSingle | undefined {
  const storeHash = (flags & FLAG_STORE_HASH) !== 0;
  if ((flags & FLAG_VALUE) === 0) return { dkey, akey, hash, storeHash, shards };
  const value = bytes();
  if (value === undefined) return undefined;
  return { dkey, akey, hash, storeHash, shards, value };
}

/**
 * `decodeIntent` of the compact layout (CODEC_V2). `lazy`: the single value is checked as a parse
 * would check it (the same records parse) but not made: `singleAt` says where it starts, and
 * `intentSingle` parses it if asked. An open reads tens of thousands of finished commits whose
 * single values nobody asks for: their keys, hash and shards were a large share of what it allocated.
 */
function decodeIntentV2(buf: Buffer, dv: DataView, start: number, end: number, lazy: boolean): DecodedIntent | undefined {
  const flags = buf[start + 1]!;
  if ((flags & FLAG_SINGLE) === 0 && flags !== 0) return undefined;
  const targets: number[] = [];
  const objects: string[] = [];
  const at = v2Objects(buf, start, end, (a, digits) => { const o = packedHex(buf, a, digits); if (o === undefined) return false; objects.push(o); return true; }, targets);
  if (at < 0) return undefined;
  if ((flags & FLAG_SINGLE) === 0) return at === end ? { targets, objects } : undefined;
  if (lazy) return singleV2(buf, dv, at, end, flags, false) === undefined ? undefined : { targets, objects, singleAt: at - start };
  const single = singleV2(buf, dv, at, end, flags, true);
  return single === undefined ? undefined : { targets, objects, single: single as DecodedSingle };
}

/** What `singleV2` answers when it only checks. */
const SINGLE_CHECKED = {} as const;

/**
 * The single-value part of a CODEC_V2 INTENT, from `at` to exactly `end`: parsed (`make`), or
 * only checked, allocating nothing (`SINGLE_CHECKED`); undefined when it does not parse.
 */
function singleV2(buf: Buffer, dv: DataView, at: number, end: number, flags: number, make: boolean): DecodedSingle | typeof SINGLE_CHECKED | undefined {
  const dkeyLen = getVarint(buf, at, end);
  if (dkeyLen < 0 || dkeyLen > end - varintEnd) return undefined;
  const dkeyAt = varintEnd;
  const akeyLen = getVarint(buf, dkeyAt + dkeyLen, end);
  if (akeyLen < 0 || akeyLen > end - varintEnd) return undefined;
  const akeyAt = varintEnd;
  at = akeyAt + akeyLen;
  if (at + 8 > end) return undefined;
  const hashAt = at;
  at += 8;
  const ns = getVarint(buf, at, end);
  if (ns < 0 || ns > (end - varintEnd) / 2) return undefined;
  at = varintEnd;
  const shards: Array<[number, number]> | undefined = make ? new Array(ns) : undefined;
  for (let i = 0; i < ns; i++) {
    const tg = getVarint(buf, at, end);
    if (tg < 0) return undefined;
    const sh = getVarint(buf, varintEnd, end);
    if (sh < 0) return undefined;
    at = varintEnd;
    if (shards !== undefined) shards[i] = [tg, sh];
  }
  let valueAt = -1, valueLen = 0;
  if ((flags & FLAG_VALUE) !== 0) {
    valueLen = getVarint(buf, at, end);
    if (valueLen < 0 || valueLen > end - varintEnd) return undefined;
    valueAt = varintEnd;
    at = valueAt + valueLen;
  }
  if (at !== end) return undefined;
  if (shards === undefined) return SINGLE_CHECKED;
  const out: DecodedSingle = { dkey: buf.subarray(dkeyAt, dkeyAt + dkeyLen), akey: buf.subarray(akeyAt, akeyAt + akeyLen), hash: dv.getBigUint64(hashAt, true), storeHash: (flags & FLAG_STORE_HASH) !== 0, shards };
  if (valueAt >= 0) out.value = buf.subarray(valueAt, valueAt + valueLen);
  return out;
}

/** The single value of a decoded INTENT: as decoded, or parsed now from its bytes (a lazy decode). */
export function intentSingle(d: DecodedIntent): DecodedSingle | undefined {
  if (d.single !== undefined || d.singleAt === undefined) return d.single;
  const b = d.bytes!;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.length);
  const single = singleV2(buf, new DataView(b.buffer, b.byteOffset, b.length), d.singleAt, b.length, b[1]!, true);
  assert(single !== undefined && single !== SINGLE_CHECKED, 'a lazily decoded single value parses (it was checked)');
  return single as DecodedSingle;
}

/** Whether a decoded INTENT carries its single value (a redo journal's), without parsing it. */
export function intentCarriesValue(d: DecodedIntent): boolean {
  if (d.single !== undefined) return d.single.value !== undefined;
  return d.singleAt !== undefined && (d.bytes![1]! & FLAG_VALUE) !== 0;
}
