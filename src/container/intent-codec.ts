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

/** Version byte of this payload layout. */
const CODEC_VERSION = 1;
const FLAG_SINGLE = 1;
const FLAG_VALUE = 2;
/** The single value's hash is its store checksum (`valueChecksum`), not XXH64 with seed 0. */
const FLAG_STORE_HASH = 4;
/** Fixed part: version, flags, 2 zero bytes, target count, object count. */
const FIXED_BYTES = 12;
/** Longest object id written (hex of a 128-bit id is 32 characters). */
const MAX_OBJECT_ID_CHARS = 64;

/** Bytes `writeIntent` writes for `f`. */
export function intentBytes(f: IntentFields): number {
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

/** Write `f` at `at` of `out` (`dv` views `out`); returns the offset after it. Exactly `intentBytes(f)` bytes. */
export function writeIntent(out: Buffer, dv: DataView, at: number, f: IntentFields): number {
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

const HEX_ID = /^[0-9a-f]+$/;

/**
 * The object ids (hex) of the binary INTENT in `buf[start, end)`, read without decoding the rest
 * of it (a checkpoint folds the ids of the INTENTs it drops into the registry); undefined when
 * they do not parse.
 */
export function intentObjects(buf: Buffer, start: number, end: number): string[] | undefined {
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
 * `intentObjects` without a string per id: `visit(at, len)` gets each object id's hex digits as
 * the range `buf[at, at + len)`, in order (checked as there but for the hex digits: the visitor
 * reads them). False when the ids do not parse (some may have been visited).
 */
export function forEachIntentObject(buf: Buffer, start: number, end: number, visit: (at: number, len: number) => void): boolean {
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
    visit(at + 2, len);
    at += 2 + len;
  }
  return true;
}

/**
 * The payload of the binary INTENT in `buf[start, end)` (`dv` views `buf`), in the JSON
 * encoding's shape; undefined when it does not parse (a damaged or foreign record).
 */
export function decodeIntent(buf: Buffer, dv: DataView, start: number, end: number): Record<string, unknown> | undefined {
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
  const payload: Record<string, unknown> = { targets, objects };
  if ((flags & FLAG_SINGLE) === 0) return at === end ? payload : undefined;
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
  const single: Record<string, unknown> = { d: dkey.toString('hex'), a: akey.toString('hex'), h: hash.toString(16), s: shards };
  if ((flags & FLAG_STORE_HASH) !== 0) single.c = 1;
  if ((flags & FLAG_VALUE) !== 0) {
    const value = bytes();
    if (value === undefined) return undefined;
    single.v = value.toString('base64');
  }
  if (at !== end) return undefined;
  payload.single = single;
  return payload;
}
