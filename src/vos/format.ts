/**
 * On-media formats of the versioned object store's pmem file (see docs/architecture.md):
 *
 *   [superblock slot 0 @0][superblock slot 1 @4096][log region 0][log region 1]
 *
 * A superblock (64 bytes, xxh64-checked) names the active log region, its generation and its
 * random stamp; the valid slot with the highest generation wins. A log region is a sequence
 * of 8-byte-aligned records, each carrying the stamp of its region (records with another
 * stamp are stale: they end the replay like a torn tail does):
 *
 *   0 magic u32 | 4 version u8 | 5 type u8 | 6 metaLen u16 | 8 length u32 | 12 stamp u32
 *   16 epoch u64 | 24 meta (metaLen bytes) | xxh64 u64 of bytes [0, 24+metaLen)
 *   | pad to 8 | inline value (UPDATE records stored inline) | pad to 8
 *
 * The record checksum covers header and metadata; an inline value is covered by its own
 * value checksum (kept in the metadata), so a flipped value byte is reported by fetch/scrub
 * with its object, keys and extent rather than destroying the record.
 */
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from './constants.js';

/** Magic of a log record ("VOSR" little-endian). */
export const REC_MAGIC = 0x52534f56;
/** Version of the record format. */
export const REC_VERSION = 2;
/** Bytes of the fixed record header before the metadata. */
export const REC_HEADER = 24;
/** Bytes of the record checksum. */
export const REC_CSUM = 8;
/** Bytes of every UPDATE record's fixed metadata (before the keys). */
export const UPDATE_META_FIXED = 72;
/** Bytes of every PUNCH record's fixed metadata (before the keys). */
export const PUNCH_META_FIXED = 32;

const U64 = 0xffffffffffffffffn;
/** Store a (up to 192-bit) object id as three u64 words: low at `lo`, the others at `hi`, `hi + 8`. */
function putOid(dv: DataView, lo: number, hi: number, oid: bigint): void {
  dv.setBigUint64(lo, oid & U64, true);
  dv.setBigUint64(hi, (oid >> 64n) & U64, true);
  dv.setBigUint64(hi + 8, oid >> 128n, true);
}
function getOid(dv: DataView, lo: number, hi: number): bigint {
  return dv.getBigUint64(lo, true) | (dv.getBigUint64(hi, true) << 64n) | (dv.getBigUint64(hi + 8, true) << 128n);
}
/** Most kept epochs one AGGREGATE record can carry. */
export const MAX_KEEP_EPOCHS = 4096;

/** Record types. */
export enum RecType {
  UpdateSingle = 1,
  UpdateArray = 2,
  Punch = 3,
  Discard = 4,
  Aggregate = 5,
  Checkpoint = 6,
}

/** Punch levels. */
export enum PunchLevel { Object = 0, Dkey = 1, Akey = 2 }

/** Where an UPDATE's value lives. */
export enum Where { Inline = 0, Block = 1 }

/** Superblock slot size and positions. */
export const SB_SLOT = 4096;
export const SB_BYTES = 64;
export const SB_MAGIC = 0x534f564e52494143n; // "CAIRNVOS"
export const SB_VERSION = 1;
/** First byte of log region 0. */
export const LOG_BASE = 2 * SB_SLOT;

/** Round up to a multiple of 8. */
export function align8(n: number): number { return (n + 7) & ~7; }

/** Decoded superblock. */
export interface Superblock {
  /** Monotonic generation: the valid slot with the highest one is in force. */
  gen: number;
  /**
   * Random stamp of the active region, carried by each of its records. Fresh for every
   * compaction attempt, so records left by an attempt that crashed before its superblock
   * switch can never be mistaken for records of a later one.
   */
  stamp: number;
  active: 0 | 1;
  regionSize: number;
  inlineThreshold: number;
  dataBytes: number;
  scmBytes: number;
}

function putU64n(dv: DataView, off: number, v: number): void {
  dv.setUint32(off, v >>> 0, true);
  dv.setUint32(off + 4, Math.floor(v / 4294967296), true);
}
function getU64n(dv: DataView, off: number): number {
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 4294967296;
}

/** Encode a superblock into 64 bytes. */
export function encodeSuperblock(sb: Superblock): Uint8Array {
  const b = new Uint8Array(SB_BYTES);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, SB_MAGIC, true);
  dv.setUint32(8, SB_VERSION, true);
  dv.setUint32(12, sb.active, true);
  putU64n(dv, 16, sb.gen);
  putU64n(dv, 24, sb.regionSize);
  dv.setUint32(32, sb.inlineThreshold, true);
  dv.setUint32(36, sb.stamp >>> 0, true);
  putU64n(dv, 40, sb.dataBytes);
  putU64n(dv, 48, sb.scmBytes);
  dv.setBigUint64(56, xxh64(b.subarray(0, 56), CSUM_SEED), true);
  return b;
}

/** Decode a superblock slot; undefined when magic, version or checksum is wrong. */
export function decodeSuperblock(buf: Uint8Array, off: number): Superblock | undefined {
  const dv = new DataView(buf.buffer, buf.byteOffset + off, SB_BYTES);
  if (dv.getBigUint64(0, true) !== SB_MAGIC || dv.getUint32(8, true) !== SB_VERSION) return undefined;
  if (dv.getBigUint64(56, true) !== xxh64(buf.subarray(off, off + 56), CSUM_SEED)) return undefined;
  const active = dv.getUint32(12, true);
  if (active !== 0 && active !== 1) return undefined;
  return {
    active, gen: getU64n(dv, 16), regionSize: getU64n(dv, 24), inlineThreshold: dv.getUint32(32, true), stamp: dv.getUint32(36, true),
    dataBytes: getU64n(dv, 40), scmBytes: getU64n(dv, 48),
  };
}

/** Fields of an UPDATE record (single value or array extent). */
export interface UpdateFields {
  oid: bigint;
  csum: bigint;
  index: number;
  count: number;
  recordSize: number;
  dataLen: number;
  where: Where;
  blockOffset: number;
  dkey: Uint8Array;
  akey: Uint8Array;
}

/** Fields of a PUNCH record. */
export interface PunchFields {
  oid: bigint;
  level: PunchLevel;
  dkey: Uint8Array;
  akey: Uint8Array;
}

/** A record as read back from the log. */
export interface DecodedRecord {
  type: RecType;
  epoch: bigint;
  /** Absolute offset of the record in the pmem file. */
  offset: number;
  length: number;
  update?: UpdateFields;
  /** Absolute offset of the inline value (UPDATE records stored inline). */
  inlineOffset?: number;
  punch?: PunchFields;
  keep?: bigint[];
  /** DISCARD: upper end (inclusive) of the dropped epochs. */
  upTo?: bigint;
}

/** Bytes an UPDATE record takes. */
export function updateRecordLength(dkeyLen: number, akeyLen: number, inlineLen: number): number {
  return align8(REC_HEADER + UPDATE_META_FIXED + dkeyLen + akeyLen + REC_CSUM) + align8(inlineLen);
}

/** Bytes a PUNCH record takes. */
export function punchRecordLength(dkeyLen: number, akeyLen: number): number {
  return align8(REC_HEADER + PUNCH_META_FIXED + dkeyLen + akeyLen + REC_CSUM);
}

/** Bytes of an AGGREGATE record with `n` kept epochs. */
export function aggregateRecordLength(n: number): number {
  return align8(REC_HEADER + 8 + 8 * n + REC_CSUM);
}

/** Bytes of a CHECKPOINT record. */
export const SMALL_RECORD_LENGTH = align8(REC_HEADER + REC_CSUM);
/** Bytes of a DISCARD record (meta: upTo u64). */
export const DISCARD_RECORD_LENGTH = align8(REC_HEADER + 8 + REC_CSUM);

/**
 * Writes records into a reusable scratch buffer; the caller copies `bytes()` into the log.
 * Not re-entrant: encode one record, copy it, then encode the next.
 */
export class RecordEncoder {
  private buf = new Uint8Array(64 * 1024);
  private dv = new DataView(this.buf.buffer);

  private ensure(n: number): void {
    if (this.buf.length >= n) return;
    let size = this.buf.length;
    while (size < n) size *= 2;
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }

  private header(type: RecType, metaLen: number, length: number, gen: number, epoch: bigint): void {
    const dv = this.dv;
    dv.setUint32(0, REC_MAGIC, true);
    dv.setUint8(4, REC_VERSION);
    dv.setUint8(5, type);
    dv.setUint16(6, metaLen, true);
    dv.setUint32(8, length, true);
    dv.setUint32(12, gen >>> 0, true);
    dv.setBigUint64(16, epoch, true);
  }

  private seal(metaLen: number, length: number): Uint8Array {
    const end = REC_HEADER + metaLen;
    this.dv.setBigUint64(end, xxh64(this.buf.subarray(0, end), CSUM_SEED), true);
    // zero the padding so the record bytes are deterministic
    const padEnd = align8(end + REC_CSUM);
    this.buf.fill(0, end + REC_CSUM, padEnd);
    return this.buf.subarray(0, length);
  }

  /** Encode an UPDATE record; `inline` is the value when stored inline. */
  update(type: RecType.UpdateSingle | RecType.UpdateArray, gen: number, epoch: bigint, f: UpdateFields, inline: Uint8Array | undefined): Uint8Array {
    const metaLen = UPDATE_META_FIXED + f.dkey.length + f.akey.length;
    const inlineLen = inline ? inline.length : 0;
    const length = updateRecordLength(f.dkey.length, f.akey.length, inlineLen);
    this.ensure(length);
    this.header(type, metaLen, length, gen, epoch);
    const dv = this.dv; const m = REC_HEADER;
    putOid(dv, m, m + 56, f.oid);
    dv.setBigUint64(m + 8, f.csum, true);
    putU64n(dv, m + 16, f.index);
    putU64n(dv, m + 24, f.count);
    dv.setUint32(m + 32, f.recordSize, true);
    dv.setUint32(m + 36, f.dataLen, true);
    putU64n(dv, m + 40, f.blockOffset);
    dv.setUint8(m + 48, f.where);
    dv.setUint8(m + 49, 0);
    dv.setUint16(m + 50, f.dkey.length, true);
    dv.setUint16(m + 52, f.akey.length, true);
    dv.setUint16(m + 54, 0, true);
    this.buf.set(f.dkey, m + UPDATE_META_FIXED);
    this.buf.set(f.akey, m + UPDATE_META_FIXED + f.dkey.length);
    const out = this.seal(metaLen, length);
    if (inline) {
      const at = align8(REC_HEADER + metaLen + REC_CSUM);
      this.buf.set(inline, at);
      this.buf.fill(0, at + inline.length, length);
    }
    return out;
  }

  /** Encode a PUNCH record. */
  punch(gen: number, epoch: bigint, f: PunchFields): Uint8Array {
    const metaLen = PUNCH_META_FIXED + f.dkey.length + f.akey.length;
    const length = punchRecordLength(f.dkey.length, f.akey.length);
    this.ensure(length);
    this.header(RecType.Punch, metaLen, length, gen, epoch);
    const dv = this.dv; const m = REC_HEADER;
    putOid(dv, m, m + 16, f.oid);
    dv.setUint8(m + 8, f.level);
    dv.setUint8(m + 9, 0);
    dv.setUint16(m + 10, f.dkey.length, true);
    dv.setUint16(m + 12, f.akey.length, true);
    dv.setUint16(m + 14, 0, true);
    this.buf.set(f.dkey, m + PUNCH_META_FIXED);
    this.buf.set(f.akey, m + PUNCH_META_FIXED + f.dkey.length);
    return this.seal(metaLen, length);
  }

  /** Encode a CHECKPOINT record (epoch = the target's max epoch). */
  small(type: RecType.Checkpoint, gen: number, epoch: bigint): Uint8Array {
    this.ensure(SMALL_RECORD_LENGTH);
    this.header(type, 0, SMALL_RECORD_LENGTH, gen, epoch);
    return this.seal(0, SMALL_RECORD_LENGTH);
  }

  /** Encode a DISCARD record: drop versions with after < epoch <= upTo (epoch field = after). */
  discard(gen: number, after: bigint, upTo: bigint): Uint8Array {
    this.ensure(DISCARD_RECORD_LENGTH);
    this.header(RecType.Discard, 8, DISCARD_RECORD_LENGTH, gen, after);
    this.dv.setBigUint64(REC_HEADER, upTo, true);
    return this.seal(8, DISCARD_RECORD_LENGTH);
  }

  /** Encode an AGGREGATE record (epoch = upTo). */
  aggregate(gen: number, upTo: bigint, keep: readonly bigint[]): Uint8Array {
    const metaLen = 8 + 8 * keep.length;
    const length = aggregateRecordLength(keep.length);
    this.ensure(length);
    this.header(RecType.Aggregate, metaLen, length, gen, upTo);
    const dv = this.dv; const m = REC_HEADER;
    dv.setUint32(m, keep.length, true);
    dv.setUint32(m + 4, 0, true);
    keep.forEach((k, i) => dv.setBigUint64(m + 8 + 8 * i, k, true));
    return this.seal(metaLen, length);
  }
}

/**
 * Decode and verify the record at absolute offset `off` of `buf`, within `[.., end)`. Returns
 * undefined when anything is wrong (bad magic, version, generation, length, checksum or
 * metadata), which the replay treats as a torn tail or a corrupt record.
 */
export function decodeRecord(buf: Uint8Array, dv: DataView, off: number, end: number, gen: number): DecodedRecord | undefined {
  if (off + REC_HEADER + REC_CSUM > end) return undefined;
  if (dv.getUint32(off, true) !== REC_MAGIC) return undefined;
  if (dv.getUint8(off + 4) !== REC_VERSION) return undefined;
  if (dv.getUint32(off + 12, true) !== (gen >>> 0)) return undefined;
  const type = dv.getUint8(off + 5) as RecType;
  const metaLen = dv.getUint16(off + 6, true);
  const length = dv.getUint32(off + 8, true);
  if (length % 8 !== 0 || length < REC_HEADER + metaLen + REC_CSUM || off + length > end) return undefined;
  const csumAt = off + REC_HEADER + metaLen;
  if (dv.getBigUint64(csumAt, true) !== xxh64(buf.subarray(off, csumAt), CSUM_SEED)) return undefined;
  const epoch = dv.getBigUint64(off + 16, true);
  const rec: DecodedRecord = { type, epoch, offset: off, length };
  const m = off + REC_HEADER;
  const metaEnd = align8(REC_HEADER + metaLen + REC_CSUM);
  switch (type) {
    case RecType.UpdateSingle:
    case RecType.UpdateArray: {
      if (metaLen < UPDATE_META_FIXED) return undefined;
      const dk = dv.getUint16(m + 50, true); const ak = dv.getUint16(m + 52, true);
      if (UPDATE_META_FIXED + dk + ak !== metaLen) return undefined;
      const where = dv.getUint8(m + 48) as Where;
      const dataLen = dv.getUint32(m + 36, true);
      if (where !== Where.Inline && where !== Where.Block) return undefined;
      if (where === Where.Inline && metaEnd + align8(dataLen) !== length) return undefined;
      if (where === Where.Block && metaEnd !== length) return undefined;
      rec.update = {
        oid: getOid(dv, m, m + 56), csum: dv.getBigUint64(m + 8, true), index: getU64n(dv, m + 16),
        count: getU64n(dv, m + 24), recordSize: dv.getUint32(m + 32, true), dataLen, where,
        blockOffset: getU64n(dv, m + 40),
        dkey: copyOut(buf, m + UPDATE_META_FIXED, m + UPDATE_META_FIXED + dk),
        akey: copyOut(buf, m + UPDATE_META_FIXED + dk, m + UPDATE_META_FIXED + dk + ak),
      };
      if (where === Where.Inline) rec.inlineOffset = off + metaEnd;
      return rec;
    }
    case RecType.Punch: {
      if (metaLen < PUNCH_META_FIXED || metaEnd !== length) return undefined;
      const level = dv.getUint8(m + 8) as PunchLevel;
      const dk = dv.getUint16(m + 10, true); const ak = dv.getUint16(m + 12, true);
      if (PUNCH_META_FIXED + dk + ak !== metaLen || level > PunchLevel.Akey) return undefined;
      rec.punch = {
        oid: getOid(dv, m, m + 16), level,
        dkey: copyOut(buf, m + PUNCH_META_FIXED, m + PUNCH_META_FIXED + dk),
        akey: copyOut(buf, m + PUNCH_META_FIXED + dk, m + PUNCH_META_FIXED + dk + ak),
      };
      return rec;
    }
    case RecType.Discard:
      if (metaLen !== 8 || length !== DISCARD_RECORD_LENGTH) return undefined;
      rec.upTo = dv.getBigUint64(m, true);
      return rec;
    case RecType.Checkpoint:
      return metaLen === 0 && length === SMALL_RECORD_LENGTH ? rec : undefined;
    case RecType.Aggregate: {
      if (metaLen < 8 || metaEnd !== length) return undefined;
      const n = dv.getUint32(m, true);
      if (metaLen !== 8 + 8 * n) return undefined;
      rec.keep = [];
      for (let i = 0; i < n; i++) rec.keep.push(dv.getBigUint64(m + 8 + 8 * i, true));
      return rec;
    }
    default:
      return undefined;
  }
}

/** Offset of the inline value inside an UPDATE record with the given key lengths. */
export function inlineDataOffset(dkeyLen: number, akeyLen: number): number {
  return align8(REC_HEADER + UPDATE_META_FIXED + dkeyLen + akeyLen + REC_CSUM);
}

/** A copy (never a view: `Buffer#slice` shares memory) of `buf[start, end)`. */
export function copyOut(buf: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.subarray(start, end));
}
