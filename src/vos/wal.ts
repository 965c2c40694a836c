/**
 * The write-ahead log of one target: two fixed regions in the pmem file, used alternately. Every
 * update, punch and container change is one checksummed record appended to the active region and
 * applied to the memtable; when the region fills, the memtable is frozen, the log moves to the
 * other region, and the frozen memtable is written out as a sorted run. Once the run is in the
 * manifest (superblock generation switched) the frozen region is free again. So opening a target
 * replays at most two regions: a bounded tail, never the history.
 *
 * Torn tail or corruption? After each append a *tail slot* (two 64-byte slots, written
 * alternately, each checksummed with a 32-bit mix of its words: written after every append, so no
 * call into wasm and no BigInt; slots of the earlier format, checksummed with xxh64, are still read)
 * records how far the log is acknowledged. On open, every record
 * before the acknowledged tail must be intact: one that is not is corruption (the target is
 * reported damaged, never silently shortened). Bytes after the tail are an append that a crash
 * interrupted, and are dropped.
 *
 * A power loss is not a crash: the page cache goes, and what the kernel wrote back since the last
 * sync is any set of pages (the tail slots' page, low in the file, often before the records it
 * names). So a durable log's slots also carry a *sync mark* (`markSynced`): the generation and tail
 * of the log when its last completed sync started. Records before the mark must be intact, as
 * before; past it the log is its longest valid prefix (cut at the first invalid record, its slot
 * tail or a lost region header notwithstanding): nothing acknowledged is cut, as an acknowledged
 * record of a durable store was synced, and every record before it with it. Slots without a mark
 * (non-durable logs, and logs written before the mark) keep the strict rule.
 *
 * Record: `[magic u32][ver u8][type u8][metaLen u16][length u32][stamp u32][epoch u64][cont u32][0 u32]`
 * `meta | xxh64(header+meta) | pad8 | inline value | pad8`. The stamp is the low 32 bits of the
 * region's generation, so records left from an earlier use of the region end the scan.
 *
 * Prepare and Settle records (an engine's undecided epochs: `TargetStore.preparedEpochs`) carry
 * version WAL_VERSION_PREPARED, and so does an update that is the first prepared write of its
 * epoch (its prepared flag, meta byte 69, set: it notes the epoch as a Prepare record would, one
 * record instead of two); every other record keeps WAL_VERSION, so a log without them is
 * the same bytes as before, and a build that predates them refuses a log holding one (an invalid
 * record before the acknowledged tail: the target is reported damaged), never replays it as data
 * whose epoch was decided.
 */
import { xxh64 } from '../../core/xxhash.js';
import { copyInto, zeroRange } from '../../core/typed.js';
import { assert } from '../../core/errors.js';
import { CSUM_SEED } from './constants.js';
import { VosError } from './errors.js';
import type { PmemSpace } from '../media/pmem-space.js';
import { fmix32 } from '../../core/mix.js';

export const WAL_MAGIC = 0x4c415756; // "VWAL"
export const WAL_VERSION = 3;
/** Version of Prepare and Settle records (see the header comment). */
export const WAL_VERSION_PREPARED = 4;
/** Most epochs one Settle record names (a settle of more writes several). */
export const SETTLE_MAX_EPOCHS = 1024;
export const WAL_HEADER = 32;
export const WAL_CSUM = 8;
const REGION_MAGIC = 0x48525756; // "VWRH"
/** Tail slots checksummed with xxh64 (written before session 13; still read). */
const SLOT_MAGIC_XXH64 = 0x53545756; // "VWTS"
/** Tail slots are written as native 32-bit words and read back little-endian: Cairn's on-disk formats are little-endian. */
assert(new Uint8Array(new Uint32Array([1]).buffer)[0] === 1, 'Cairn needs a little-endian platform');
/** Tail slots checksummed with `slotChecksum`. */
const SLOT_MAGIC = 0x32545756; // "VWT2"
/** Bytes reserved at the start of each region for its header. */
export const REGION_HEADER = 64;
/** Bytes of one tail slot. */
export const TAIL_SLOT = 64;
/** Word 8 of a tail slot that carries a sync mark (words 9-12: its tail and generation); 0 without one. */
const SLOT_MARK = 0x4b4d5953; // "SYMK"

/** Record types. */
export const enum WalType { UpdateSingle = 1, UpdateArray = 2, Punch = 3, Discard = 4, ContCreate = 5, ContDestroy = 6, Prepare = 7, Settle = 8 }
/** Punch levels. */
export const enum PunchLevel { Object = 0, Dkey = 1, Akey = 2 }
/** Where a value lives. */
export const enum Where { Wal = 0, Block = 1, Run = 2 }

/**
 * Most log bytes made writable ahead of the tail at a time (`Wal.makeWritable`): one madvise per
 * 16 pages instead of 16 page faults; the pmem space's residency window.
 */
export const WAL_PREFAULT_BYTES = 64 * 1024;
/** The page size `Wal.makeWritable` rounds to (the smallest prefault). */
const WAL_PAGE_BYTES = 4096;

const UPDATE_META = 80;
/** An update's flag byte (meta byte 69) when it notes its epoch as prepared (WAL_VERSION_PREPARED records only). */
const UPDATE_PREPARED = 1;
/** Records up to this many bytes are handed out as cached views of the encoder's buffer (see `WalEncoder.head`). */
const VIEW_CACHE_MAX_BYTES = 4096;
const PUNCH_META = 32;
const TWO_64 = 1n << 64n;

export function align8(n: number): number { return (n + 7) & ~7; }

/** Fields of an update record. */
export interface WalUpdate {
  oid: bigint; dkey: Uint8Array; akey: Uint8Array;
  csum: bigint; index: number; count: number; recordSize: number; dataLen: number;
  where: Where.Wal | Where.Block; blockOffset: number; alloc: number;
}
/** Fields of a punch record. */
export interface WalPunch { oid: bigint; level: PunchLevel; dkey: Uint8Array; akey: Uint8Array }

/** A record read back. */
export interface WalRecord {
  type: WalType;
  epoch: bigint;
  cont: number;
  /** Absolute offset and length of the record. */
  offset: number;
  length: number;
  /** Sequence number (assigned from the region's start sequence in log order). */
  seq: number;
  update?: WalUpdate;
  /** Absolute offset of the inline value (updates stored in the log). */
  inlineOffset?: number;
  punch?: WalPunch;
  /** Discard: drop epochs in (epoch, upTo]. */
  upTo?: bigint;
  /** ContCreate: the container uuid. */
  uuid?: string;
  /** Settle: the prepared epochs settled. */
  epochs?: bigint[];
  /** An update that notes its epoch as prepared (as a Prepare record before it would). */
  prepared?: boolean;
}

function putU64n(dv: DataView, off: number, v: number): void { dv.setUint32(off, v >>> 0, true); dv.setUint32(off + 4, Math.floor(v / 4294967296), true); }
/** A u64 field as a number: a small one as the small integer a computed one would be (not a heap number: see `geometry`). */
function getU64n(dv: DataView, off: number): number { const hi = dv.getUint32(off + 4, true); return hi === 0 ? dv.getUint32(off, true) : dv.getUint32(off, true) + hi * 4294967296; }
function putOid(dv: DataView, off: number, oid: bigint): void {
  // setBigUint64 keeps the low 64 bits of what it is given: no masks to allocate, no shift of a small id
  dv.setBigUint64(off, oid, true);
  if (oid < TWO_64) { dv.setUint32(off + 8, 0); dv.setUint32(off + 12, 0); dv.setUint32(off + 16, 0); dv.setUint32(off + 20, 0); return; }
  const hi = oid >> 64n;
  dv.setBigUint64(off + 8, hi, true);
  if (hi < TWO_64) { dv.setUint32(off + 16, 0); dv.setUint32(off + 20, 0); } else dv.setBigUint64(off + 16, hi >> 64n, true);
}
function getOid(dv: DataView, off: number): bigint {
  return dv.getBigUint64(off, true) | (dv.getBigUint64(off + 8, true) << 64n) | (dv.getBigUint64(off + 16, true) << 128n);
}

/** An array of `n` empty view slots, of one elements kind whatever is stored first (see `WalEncoder.views`). */
export function emptyViews(n: number): Array<Uint8Array | undefined> { return new Array<Uint8Array | undefined>(n).fill(undefined); }

/** Encodes records into a reusable buffer (copy `bytes` out before encoding the next). */
export class WalEncoder {
  private buf = new Uint8Array(16 * 1024);
  private dv = new DataView(this.buf.buffer);
  /**
   * Views of the first n bytes of `buf`, by n (records of a workload have few lengths: no view
   * made per record). Made at its full length: an array first written far past its end becomes a
   * dictionary, and encoders of other stores, whose first index differed, would each have another
   * hidden class (the append path, compiled for one, deoptimised at the next: 'wrong map').
   */
  private views = emptyViews(VIEW_CACHE_MAX_BYTES + 1);
  private ensure(n: number): void {
    if (this.buf.length >= n) return;
    let s = this.buf.length; while (s < n) s *= 2;
    this.buf = new Uint8Array(s); this.dv = new DataView(this.buf.buffer);
    this.views = emptyViews(VIEW_CACHE_MAX_BYTES + 1);
  }
  /** The first `n` bytes of `buf` (valid until `buf` grows). */
  private head(n: number): Uint8Array {
    if (n > VIEW_CACHE_MAX_BYTES) return this.buf.subarray(0, n);
    let v = this.views[n];
    if (v === undefined) { v = this.buf.subarray(0, n); this.views[n] = v; }
    return v;
  }
  private header(type: WalType, metaLen: number, length: number, stamp: number, epoch: bigint, cont: number, prepared = false): void {
    const dv = this.dv;
    dv.setUint32(0, WAL_MAGIC, true); dv.setUint8(4, type >= WalType.Prepare || prepared ? WAL_VERSION_PREPARED : WAL_VERSION); dv.setUint8(5, type); dv.setUint16(6, metaLen, true);
    dv.setUint32(8, length, true); dv.setUint32(12, stamp >>> 0, true); dv.setBigUint64(16, epoch, true);
    dv.setUint32(24, cont >>> 0, true); dv.setUint32(28, 0, true);
  }
  private seal(metaLen: number, length: number): Uint8Array {
    const end = WAL_HEADER + metaLen;
    this.dv.setBigUint64(end, xxh64(this.head(end), CSUM_SEED), true);
    zeroRange(this.buf, end + WAL_CSUM, align8(end + WAL_CSUM));
    return this.head(length);
  }

  /** Bytes an update record takes. */
  static updateLength(dk: number, ak: number, inline: number): number { return align8(WAL_HEADER + UPDATE_META + dk + ak + WAL_CSUM) + align8(inline); }
  /** Bytes a Prepare record takes. */
  static prepareLength(): number { return align8(WAL_HEADER + WAL_CSUM); }
  /** Bytes a Settle record of `n` epochs takes. */
  static settleLength(n: number): number { return align8(WAL_HEADER + 8 + 8 * n + WAL_CSUM); }
  /** Offset of the inline value inside an update record. */
  static inlineOffset(dk: number, ak: number): number { return align8(WAL_HEADER + UPDATE_META + dk + ak + WAL_CSUM); }

  /**
   * An update record (the fields of `WalUpdate`, passed one by one: this runs per update). `oid`:
   * the id's 24 bytes, little-endian, low 64 bits first (`OidKey.bytes`: the store reads the id
   * into words once, for this record and the memtable's lookup). `prepared`: the record notes its
   * epoch as prepared (version WAL_VERSION_PREPARED, flag byte 69 set; see the header comment).
   */
  update(type: WalType.UpdateSingle | WalType.UpdateArray, stamp: number, epoch: bigint, cont: number,
    oid: Uint8Array, dkey: Uint8Array, akey: Uint8Array, csum: bigint, index: number, count: number, recordSize: number, dataLen: number,
    where: Where.Wal | Where.Block, blockOffset: number, alloc: number, inline: Uint8Array | undefined, prepared = false): Uint8Array {
    const metaLen = UPDATE_META + dkey.length + akey.length;
    const length = WalEncoder.updateLength(dkey.length, akey.length, inline?.length ?? 0);
    this.ensure(length);
    this.header(type, metaLen, length, stamp, epoch, cont, prepared);
    const dv = this.dv; const m = WAL_HEADER;
    copyInto(this.buf, oid, m);
    dv.setBigUint64(m + 24, csum, true);
    putU64n(dv, m + 32, index); putU64n(dv, m + 40, count);
    dv.setUint32(m + 48, recordSize, true); dv.setUint32(m + 52, dataLen, true);
    putU64n(dv, m + 56, blockOffset); dv.setUint32(m + 64, alloc, true);
    dv.setUint8(m + 68, where); dv.setUint8(m + 69, prepared ? UPDATE_PREPARED : 0);
    dv.setUint16(m + 70, dkey.length, true); dv.setUint16(m + 72, akey.length, true);
    dv.setUint16(m + 74, 0, true); dv.setUint32(m + 76, 0, true);
    copyInto(this.buf, dkey, m + UPDATE_META);
    copyInto(this.buf, akey, m + UPDATE_META + dkey.length);
    const out = this.seal(metaLen, length);
    if (inline) {
      const at = WalEncoder.inlineOffset(dkey.length, akey.length);
      copyInto(this.buf, inline, at);
      zeroRange(this.buf, at + inline.length, length);
    }
    return out;
  }

  punch(stamp: number, epoch: bigint, cont: number, f: WalPunch): Uint8Array {
    const metaLen = PUNCH_META + f.dkey.length + f.akey.length;
    const length = align8(WAL_HEADER + metaLen + WAL_CSUM);
    this.ensure(length);
    this.header(WalType.Punch, metaLen, length, stamp, epoch, cont);
    const dv = this.dv; const m = WAL_HEADER;
    putOid(dv, m, f.oid);
    dv.setUint8(m + 24, f.level); dv.setUint8(m + 25, 0);
    dv.setUint16(m + 26, f.dkey.length, true); dv.setUint16(m + 28, f.akey.length, true); dv.setUint16(m + 30, 0, true);
    copyInto(this.buf, f.dkey, m + PUNCH_META);
    copyInto(this.buf, f.akey, m + PUNCH_META + f.dkey.length);
    return this.seal(metaLen, length);
  }

  discard(stamp: number, cont: number, after: bigint, upTo: bigint): Uint8Array {
    const length = align8(WAL_HEADER + 8 + WAL_CSUM);
    this.ensure(length);
    this.header(WalType.Discard, 8, length, stamp, after, cont);
    this.dv.setBigUint64(WAL_HEADER, upTo, true);
    return this.seal(8, length);
  }

  /** A Prepare record: writes of `epoch` to container `cont` after it are undecided until settled. */
  prepare(stamp: number, cont: number, epoch: bigint): Uint8Array {
    const length = align8(WAL_HEADER + WAL_CSUM);
    this.ensure(length);
    this.header(WalType.Prepare, 0, length, stamp, epoch, cont);
    return this.seal(0, length);
  }

  /** A Settle record: the prepared `epochs` (at most SETTLE_MAX_EPOCHS) of container `cont` are decided. */
  settle(stamp: number, cont: number, epochs: readonly bigint[]): Uint8Array {
    assert(epochs.length > 0 && epochs.length <= SETTLE_MAX_EPOCHS, 'settle record epochs out of range', { n: epochs.length });
    const metaLen = 8 + 8 * epochs.length;
    const length = align8(WAL_HEADER + metaLen + WAL_CSUM);
    this.ensure(length);
    this.header(WalType.Settle, metaLen, length, stamp, 0n, cont);
    this.dv.setUint32(WAL_HEADER, epochs.length, true); this.dv.setUint32(WAL_HEADER + 4, 0, true);
    for (let i = 0; i < epochs.length; i++) this.dv.setBigUint64(WAL_HEADER + 8 + 8 * i, epochs[i]!, true);
    return this.seal(metaLen, length);
  }

  container(type: WalType.ContCreate | WalType.ContDestroy, stamp: number, cont: number, uuid: string): Uint8Array {
    const u = type === WalType.ContCreate ? Buffer.from(uuid, 'utf8') : Buffer.alloc(0);
    const length = align8(WAL_HEADER + u.length + WAL_CSUM);
    this.ensure(length);
    this.header(type, u.length, length, stamp, 0n, cont);
    copyInto(this.buf, u, WAL_HEADER);
    return this.seal(u.length, length);
  }
}

/**
 * The length of the valid record at `off` (0: not a valid record of this region): its header,
 * checksum and the layout its type implies are checked, nothing is decoded. `decodeWalRecord`
 * decodes what this accepts; a flush job reads the fields of single-value updates in place.
 */
export function walRecordLength(buf: Uint8Array, dv: DataView, base: number, off: number, end: number, stamp: number): number {
  const at = off - base;
  if (off + WAL_HEADER + WAL_CSUM > end) return 0;
  if (dv.getUint32(at, true) !== WAL_MAGIC || dv.getUint32(at + 12, true) !== (stamp >>> 0)) return 0;
  const type = dv.getUint8(at + 5) as WalType;
  const ver = dv.getUint8(at + 4);
  // (an update of either version: its flag byte says which, checked below)
  if (ver !== (type >= WalType.Prepare ? WAL_VERSION_PREPARED : WAL_VERSION) && !(ver === WAL_VERSION_PREPARED && type <= WalType.UpdateArray)) return 0;
  const metaLen = dv.getUint16(at + 6, true);
  const length = dv.getUint32(at + 8, true);
  if (length % 8 !== 0 || length < WAL_HEADER + metaLen + WAL_CSUM || off + length > end) return 0;
  const csumAt = at + WAL_HEADER + metaLen;
  if (dv.getBigUint64(csumAt, true) !== xxh64(buf.subarray(at, csumAt), CSUM_SEED)) return 0;
  const m = at + WAL_HEADER;
  const metaEnd = align8(WAL_HEADER + metaLen + WAL_CSUM);
  switch (type) {
    case WalType.UpdateSingle:
    case WalType.UpdateArray: {
      if (metaLen < UPDATE_META) return 0;
      const dk = dv.getUint16(m + 70, true); const ak = dv.getUint16(m + 72, true);
      if (UPDATE_META + dk + ak !== metaLen) return 0;
      if (dv.getUint8(m + 69) !== (ver === WAL_VERSION_PREPARED ? UPDATE_PREPARED : 0)) return 0;
      const where = dv.getUint8(m + 68);
      const dataLen = dv.getUint32(m + 52, true);
      return (where === Where.Wal ? metaEnd + align8(dataLen) === length : where === Where.Block && metaEnd === length) ? length : 0;
    }
    case WalType.Punch: {
      if (metaLen < PUNCH_META || metaEnd !== length) return 0;
      const dk = dv.getUint16(m + 26, true); const ak = dv.getUint16(m + 28, true);
      return PUNCH_META + dk + ak === metaLen && dv.getUint8(m + 24) <= PunchLevel.Akey ? length : 0;
    }
    case WalType.Discard: return metaLen === 8 && metaEnd === length ? length : 0;
    case WalType.ContCreate: return metaEnd === length && metaLen !== 0 ? length : 0;
    case WalType.ContDestroy: return metaLen === 0 && metaEnd === length ? length : 0;
    case WalType.Prepare: return metaLen === 0 && metaEnd === length ? length : 0;
    case WalType.Settle: {
      if (metaLen < 16 || metaEnd !== length) return 0;
      const n = dv.getUint32(m, true);
      return n >= 1 && n <= SETTLE_MAX_EPOCHS && metaLen === 8 + 8 * n ? length : 0;
    }
    default: return 0;
  }
}

/** Decode and verify the record at `off` (undefined: not a valid record of this region). */
export function decodeWalRecord(buf: Uint8Array, dv: DataView, base: number, off: number, end: number, stamp: number): Omit<WalRecord, 'seq'> | undefined {
  const length = walRecordLength(buf, dv, base, off, end, stamp);
  if (length === 0) return undefined;
  const at = off - base;
  const type = dv.getUint8(at + 5) as WalType;
  const metaLen = dv.getUint16(at + 6, true);
  const rec: Omit<WalRecord, 'seq'> = { type, epoch: dv.getBigUint64(at + 16, true), cont: dv.getUint32(at + 24, true), offset: off, length };
  const m = at + WAL_HEADER;
  const metaEnd = align8(WAL_HEADER + metaLen + WAL_CSUM);
  switch (type) {
    case WalType.UpdateSingle:
    case WalType.UpdateArray: {
      const dk = dv.getUint16(m + 70, true); const ak = dv.getUint16(m + 72, true);
      const where = dv.getUint8(m + 68);
      const dataLen = dv.getUint32(m + 52, true);
      rec.update = {
        oid: getOid(dv, m), csum: dv.getBigUint64(m + 24, true), index: getU64n(dv, m + 32), count: getU64n(dv, m + 40),
        recordSize: dv.getUint32(m + 48, true), dataLen, blockOffset: getU64n(dv, m + 56), alloc: dv.getUint32(m + 64, true),
        where: where as Where.Wal | Where.Block,
        dkey: buf.slice(m + UPDATE_META, m + UPDATE_META + dk), akey: buf.slice(m + UPDATE_META + dk, m + UPDATE_META + dk + ak),
      };
      if (where === Where.Wal) rec.inlineOffset = off + metaEnd;
      if (dv.getUint8(m + 69) === UPDATE_PREPARED) rec.prepared = true;
      return rec;
    }
    case WalType.Punch: {
      const level = dv.getUint8(m + 24);
      const dk = dv.getUint16(m + 26, true); const ak = dv.getUint16(m + 28, true);
      rec.punch = { oid: getOid(dv, m), level: level as PunchLevel, dkey: buf.slice(m + PUNCH_META, m + PUNCH_META + dk), akey: buf.slice(m + PUNCH_META + dk, m + PUNCH_META + dk + ak) };
      return rec;
    }
    case WalType.Discard:
      rec.upTo = dv.getBigUint64(m, true);
      return rec;
    case WalType.ContCreate:
      rec.uuid = Buffer.from(buf.subarray(m, m + metaLen)).toString('utf8');
      return rec;
    case WalType.Settle: {
      const n = dv.getUint32(m, true);
      rec.epochs = [];
      for (let i = 0; i < n; i++) rec.epochs.push(dv.getBigUint64(m + 8 + 8 * i, true));
      return rec;
    }
    default: // (ContDestroy and Prepare: the header says it all)
      return rec;
  }
}

/** Geometry of the log inside the pmem file. */
export interface WalGeometry { regions: [number, number]; regionBytes: number; slots: number }

/** A frozen region: its records are `[base + REGION_HEADER, end)`, numbered from `startSeq`. */
export interface FrozenRegion { base: number; end: number; gen: number; startSeq: number }

/** Decoded region header. */
interface RegionHeader { gen: number; startSeq: number; prevTail: number; prevGen: number }

/** What `Wal.open` found. */
export interface WalReplay {
  /** Records of the unflushed regions, oldest first, with sequence numbers. */
  records: WalRecord[];
  /** Set when the log is damaged: an acknowledged record failed validation, or a flushed region went missing. */
  damage?: string;
  /** A record after the acknowledged tail was dropped (a crash interrupted its append). */
  tornAt?: number;
  /**
   * Past the sync mark, records the tail slot named (or a region whose header did not survive) were
   * not read back: a power loss took them (see the module's comment). Where the log was cut.
   */
  cutAt?: number;
  /** The highest log generation the tail slot or a region header names (a recovery's fresh log starts past it). */
  highestGen: number;
  /**
   * The regions `records` came from, oldest first: each one's bytes as read (`view`, from its
   * `base`), its valid records' end and its single-value updates (`records`), for a recovery that
   * writes them as runs straight from the log (`logFlushSteps`) instead of through a memtable.
   */
  regions: ReplayedRegion[];
}

/** One region of a replay (see `WalReplay.regions`). */
export interface ReplayedRegion extends FrozenRegion { records: number; view: Uint8Array }

/** The log. Appends are synchronous stores into the mapping. */
export class Wal {
  private active: 0 | 1;
  private gen: number;
  private tailAt: number;
  private counter: number;
  private startSeq: number;
  /** Region of the frozen (not yet flushed) memtable, if any. */
  private frozen: { region: 0 | 1; gen: number } | undefined;
  /** Where the frozen region's records are (known when this process froze it). */
  private frozenSpan: FrozenRegion | undefined;
  /** The log up to here (absolute) was made writable (`makeWritable`) while the space's sync count was `writableAt`. */
  private writableTo = 0;
  private writableAt = -1;
  /** How far ahead the last `makeWritable` reached (a page after a sync, doubling up to WAL_PREFAULT_BYTES). */
  private prefaultBytes = WAL_PAGE_BYTES;
  /** The sync mark the slots carry (see the module's comment); undefined: none (the strict rule). */
  private mark: SyncMark | undefined;

  private constructor(private readonly space: PmemSpace, readonly geo: WalGeometry, st: { active: 0 | 1; gen: number; tail: number; counter: number; startSeq: number; frozen?: { region: 0 | 1; gen: number }; mark?: SyncMark }) {
    this.active = st.active; this.gen = st.gen; this.tailAt = st.tail; this.counter = st.counter; this.startSeq = st.startSeq; this.frozen = st.frozen; this.mark = st.mark;
  }

  /**
   * Start a fresh log in region 0 (new target). `synced`: everything before it is on the medium
   * (a durable store's create or recovery commit synced it), so its slots carry a sync mark at
   * its start from the first one.
   */
  static create(space: PmemSpace, geo: WalGeometry, firstGen: number, startSeq: number, synced = false): Wal {
    // Continue the tail-slot counter past the slots an earlier log left (recovery restarts the log):
    // a restarted counter would lose to the stale slot and the next open would find no acknowledged end.
    const counter = readTailSlot(space, geo.slots)?.counter ?? 0;
    const start = geo.regions[0] + REGION_HEADER;
    const w = new Wal(space, geo, { active: 0, gen: firstGen, tail: start, counter, startSeq, mark: synced ? { gen: firstGen, tail: start } : undefined });
    // the first record header too: records of the region's earlier use must not read as a torn append
    space.zero(geo.regions[0]!, REGION_HEADER + WAL_HEADER);
    w.writeRegionHeader(0, { gen: firstGen, startSeq, prevTail: 0, prevGen: 0 });
    w.writeSlot();
    return w;
  }

  /**
   * Open the log: replay the regions whose generation is above `flushedGen` (the last one the
   * manifest says is in runs), oldest first. `startSeq` is the manifest's next sequence number.
   */
  static open(space: PmemSpace, geo: WalGeometry, flushedGen: number, readOnly: boolean): { wal: Wal; replay: WalReplay } {
    const heads = [0, 1].map((r) => readRegionHeader(space, geo.regions[r]!));
    const slot = readTailSlot(space, geo.slots);
    const mark = slot?.mark;
    const replay: WalReplay = { records: [], regions: [], highestGen: Math.max(slot?.gen ?? 0, heads[0]?.gen ?? 0, heads[1]?.gen ?? 0) };
    const live = ([0, 1] as const).filter((r) => heads[r] && heads[r]!.gen > flushedGen).sort((a, b) => heads[a]!.gen - heads[b]!.gen);
    // The active region is the newest one; a region after it in generation must not exist.
    const newest = ([0, 1] as const).filter((r) => heads[r]).sort((a, b) => heads[b]!.gen - heads[a]!.gen)[0];
    if (newest === undefined || !heads[newest]) {
      replay.damage = 'no valid log region header';
      const w = new Wal(space, geo, { active: 0, gen: flushedGen + 1, tail: geo.regions[0] + REGION_HEADER, counter: 0, startSeq: 0 });
      return { wal: w, replay };
    }
    const expect = live.map((r) => heads[r]!.gen);
    for (let i = 0; i < expect.length; i++) {
      if (expect[i] !== flushedGen + 1 + i) replay.damage = `log regions out of sequence: flushed up to ${flushedGen}, found ${expect.join(',')}`;
    }
    const activeH = heads[newest]!;
    // How far the active region is acknowledged: its tail slot. A valid slot one generation behind means
    // the rotation's own slot write was lost or damaged and nothing was appended since (an append's slot
    // write would have replaced that older slot): acknowledged up to the region's start.
    const activeTail = slot && slot.gen === activeH.gen ? slot.tail
      : slot && slot.gen + 1 === activeH.gen ? geo.regions[newest]! + REGION_HEADER : undefined;
    // A slot naming a generation newer than every readable header: that region's header is damaged, and
    // unless the slot says nothing was appended there, acknowledged records are unreadable.
    // Past the sync mark, that header is one a power loss took (nothing there was synced): the log ends in the region before.
    if (slot && slot.gen > activeH.gen && slot.tail !== geo.regions[newest ^ 1]! + REGION_HEADER) {
      if (mark !== undefined && mark.gen <= activeH.gen) replay.cutAt ??= geo.regions[newest ^ 1]! + REGION_HEADER;
      else replay.damage ??= `log region ${slot.gen}: its header is damaged (the tail slot names it, acknowledged to ${slot.tail})`;
    }
    let activeEnd = geo.regions[newest]! + REGION_HEADER;
    let cut = false; // (a region read so far was cut)
    for (const r of live) {
      const h = heads[r]!;
      const base = geo.regions[r]!;
      const end = base + geo.regionBytes;
      if (cut) {
        // cut in the region before: this one's records follow a gap, and the log opens as a prefix
        replay.regions.push({ base, end: base + REGION_HEADER, gen: h.gen, startSeq: h.startSeq, records: 0, view: space.pread(base, REGION_HEADER) });
        if (r === newest && !readOnly) space.zero(base + REGION_HEADER, end - base - REGION_HEADER);
        continue;
      }
      // acknowledged end: the slot for the active region, the next region's prevTail for a frozen one
      const next = heads[r ^ 1];
      const acked = r === newest ? activeTail : next && next.prevGen === h.gen ? next.prevTail : undefined;
      // what must read back whole: up to the acknowledged end, or to the sync mark where there is one
      const strict = mark === undefined || h.gen < mark.gen ? acked
        : h.gen === mark.gen ? Math.min(acked ?? mark.tail, mark.tail) : base + REGION_HEADER;
      if (strict === undefined) replay.damage ??= `log region ${h.gen}: its acknowledged end is unknown (tail slot or header damaged)`;
      const got = scanRegion(space, base, end, h, strict ?? base + REGION_HEADER);
      if (!got.damage && strict !== undefined && strict !== acked && got.end < (acked ?? end)) { replay.cutAt ??= got.end; cut = true; }
      replay.records.push(...got.records);
      let singles = 0;
      for (const x of got.records) if (x.type === WalType.UpdateSingle) singles++;
      replay.regions.push({ base, end: got.end, gen: h.gen, startSeq: h.startSeq, records: singles, view: got.view });
      if (got.damage) replay.damage ??= got.damage;
      if (r === newest) {
        if (got.tornAt !== undefined) replay.tornAt = got.tornAt;
        activeEnd = got.end;
        // wipe what a torn append left so it can never be read as a record later (a cut log: all of
        // the rest, where records of this generation a power loss kept may follow the cut)
        if (!readOnly && got.end < end) space.zero(got.end, replay.cutAt !== undefined ? end - got.end : Math.min(end - got.end, 64 * 1024));
      }
    }
    const older = heads[newest ^ 1];
    const frozen = older && older.gen > flushedGen && older.gen < activeH.gen ? { region: (newest ^ 1) as 0 | 1, gen: older.gen } : undefined;
    const w = new Wal(space, geo, { active: newest, gen: activeH.gen, tail: activeEnd, counter: slot?.counter ?? 0, startSeq: activeH.startSeq, frozen, mark });
    if (!readOnly && activeTail !== activeEnd) w.writeSlot();
    return { wal: w, replay };
  }

  /** Generation of the active region. */
  get activeGen(): number { return this.gen; }
  /** Generation of the frozen region waiting to be flushed, if any. */
  get frozenGen(): number | undefined { return this.frozen?.gen; }
  /** Absolute offset of the next record. */
  get tail(): number { return this.tailAt; }
  /** Bytes used in the active region. */
  get used(): number { return this.tailAt - this.geo.regions[this.active]; }
  /** Stamp carried by the active region's records. */
  get stamp(): number { return this.gen >>> 0; }
  /** Whether a record of `len` bytes fits in the active region. */
  fits(len: number): boolean { return this.tailAt + len <= this.geo.regions[this.active] + this.geo.regionBytes; }
  /** Whether the log can move to the other region now (it is not still being flushed). */
  get canRotate(): boolean { return this.frozen === undefined; }

  /** Append an encoded record; returns its absolute offset. The caller checked `fits`. */
  append(rec: Uint8Array): number {
    const at = this.tailAt;
    if (!this.fits(rec.length)) throw new VosError('NO_SPACE', 'log region full', { used: this.used });
    if (at + rec.length > this.writableTo || this.space.syncs !== this.writableAt) this.makeWritable(at, at + rec.length);
    this.space.write(at, rec);
    this.tailAt = at + rec.length;
    this.writeSlot();
    return at;
  }

  /**
   * Make the log from `at` writable in the page tables in one call (`PmemSpace.prefault`) instead
   * of a trap into the kernel at the first store into each page (after a rotation, a residency
   * eviction, or a sync, which write-protects the pages it wrote back). How far ahead grows like
   * readahead: a page (the pages of this record) after a sync, then twice as far each time the
   * appends reach the end of what was made writable with no sync between, up to
   * WAL_PREFAULT_BYTES. A prefault dirties its pages, so a store that syncs every few appends
   * (a durable store's commit groups) makes writable about what it writes before its next sync,
   * never 64 KiB per sync, while a log that syncs rarely gets a 16-page call per 64 KiB.
   * After a sync the tail slots' page is made writable too (written right after this record).
   */
  private makeWritable(at: number, end: number): void {
    const synced = this.space.syncs !== this.writableAt;
    this.prefaultBytes = synced ? WAL_PAGE_BYTES : Math.min(WAL_PREFAULT_BYTES, this.prefaultBytes * 2);
    const regionEnd = this.geo.regions[this.active]! + this.geo.regionBytes;
    // (from where the last range ended, when that range is still writable)
    const from = synced || at >= this.writableTo ? at : this.writableTo;
    const to = Math.min(regionEnd, Math.ceil(Math.max(end, from + this.prefaultBytes) / WAL_PAGE_BYTES) * WAL_PAGE_BYTES);
    this.writableAt = this.space.syncs;
    // (unsupported: writes fault page by page, and this is asked again only after a sync or a rotation)
    this.writableTo = this.space.prefault(from, to - from) ? to : regionEnd;
    if (synced) this.space.prefault(this.geo.slots, 2 * TAIL_SLOT);
  }

  /**
   * Freeze the active region and continue in the other one, whose records start at `nextSeq`.
   * Returns the frozen generation (flush it, then call `flushed`).
   */
  rotate(nextSeq: number): number {
    assert(this.frozen === undefined, 'a frozen log region is still being flushed');
    const old = { region: this.active, gen: this.gen };
    const r = (this.active ^ 1) as 0 | 1;
    const base = this.geo.regions[r]!;
    this.space.zero(base, REGION_HEADER + WAL_HEADER);
    this.writeRegionHeader(r, { gen: this.gen + 1, startSeq: nextSeq, prevTail: this.tailAt, prevGen: this.gen });
    this.frozen = old;
    this.frozenSpan = { base: this.geo.regions[old.region]!, end: this.tailAt, gen: old.gen, startSeq: this.startSeq };
    this.active = r;
    this.gen += 1;
    this.startSeq = nextSeq;
    this.tailAt = base + REGION_HEADER;
    this.writableTo = 0;
    this.writeSlot();
    return old.gen;
  }

  /** The frozen region is in runs now (the manifest says so): it may be reused. */
  flushed(gen: number): void {
    if (this.frozen?.gen === gen) { this.frozen = undefined; this.frozenSpan = undefined; }
  }

  /** The frozen region's records (undefined when none, or when it was found at open). */
  frozenRegion(): FrozenRegion | undefined { return this.frozenSpan; }

  /** msync the log bytes `[from, tail)` and the tail slots (durable mode). */
  persist(from: number): void {
    const base = this.geo.regions[this.active]!;
    const start = from >= base && from <= this.tailAt ? from : base;
    this.space.persist(start, this.tailAt - start);
    this.space.persist(this.geo.slots, 2 * TAIL_SLOT);
  }

  /** Everything appended so far (records and tail slots) made durable, off the event loop. */
  persistAsync(): Promise<void> { return this.space.persistAsync(); }

  /** Where the log is now: what `markSynced` takes once a sync started after this returns. */
  position(): SyncMark { return { gen: this.gen, tail: this.tailAt }; }

  /**
   * A sync that started at `at` (`position`) completed: the log up to there is on the medium. The
   * slots carry it from now on (a slot is written at once: it reaches the medium with the next sync).
   */
  markSynced(at: SyncMark): void {
    const m = this.mark;
    if (m !== undefined && (m.gen > at.gen || (m.gen === at.gen && m.tail >= at.tail))) return;
    this.mark = at;
    this.writeSlot();
  }

  private writeRegionHeader(r: number, h: RegionHeader): void {
    const b = new Uint8Array(REGION_HEADER);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, REGION_MAGIC, true); dv.setUint32(4, WAL_VERSION, true);
    putU64n(dv, 8, h.gen); putU64n(dv, 16, h.startSeq); putU64n(dv, 24, h.prevTail); putU64n(dv, 32, h.prevGen);
    dv.setBigUint64(56, xxh64(b.subarray(0, 56), CSUM_SEED), true);
    this.space.write(this.geo.regions[r]!, b);
  }

  /** Scratch of `writeSlot` (a tail slot is written after every append: no allocation). */
  private readonly slot = new Uint8Array(TAIL_SLOT);
  private readonly slotWords = new Uint32Array(this.slot.buffer, 0, TAIL_SLOT / 4);

  private writeSlot(): void {
    this.counter++;
    // words 0..12 as slotChecksum reads them (little-endian: the platforms Cairn runs on), 13 stays zero
    const w = this.slotWords; const c = this.counter; const g = this.gen; const t = this.tailAt;
    w[0] = SLOT_MAGIC; w[1] = 0;
    w[2] = c >>> 0; w[3] = Math.floor(c / 4294967296);
    w[4] = g >>> 0; w[5] = Math.floor(g / 4294967296);
    w[6] = t >>> 0; w[7] = Math.floor(t / 4294967296);
    const m = this.mark;
    if (m !== undefined) {
      w[8] = SLOT_MARK;
      w[9] = m.tail >>> 0; w[10] = Math.floor(m.tail / 4294967296);
      w[11] = m.gen >>> 0; w[12] = Math.floor(m.gen / 4294967296);
    }
    w[14] = slotChecksum(w); w[15] = 0;
    this.space.write(this.geo.slots + (c % 2) * TAIL_SLOT, this.slot);
  }
}

function readRegionHeader(space: PmemSpace, off: number): RegionHeader | undefined {
  const b = space.pread(off, REGION_HEADER); // pread: opening maps nothing into the process
  const dv = new DataView(b.buffer, b.byteOffset, REGION_HEADER);
  if (dv.getUint32(0, true) !== REGION_MAGIC || dv.getUint32(4, true) !== WAL_VERSION) return undefined;
  if (dv.getBigUint64(56, true) !== xxh64(b.subarray(0, 56), CSUM_SEED)) return undefined;
  return { gen: getU64n(dv, 8), startSeq: getU64n(dv, 16), prevTail: getU64n(dv, 24), prevGen: getU64n(dv, 32) };
}

/** A sync mark: the log's generation and tail when a sync that completed started. */
export interface SyncMark { gen: number; tail: number }

/** A tail slot read back. */
interface TailSlot { counter: number; gen: number; tail: number; mark?: SyncMark }

/** The valid tail slot with the highest counter. */
function readTailSlot(space: PmemSpace, off: number): TailSlot | undefined {
  let best: TailSlot | undefined;
  for (let i = 0; i < 2; i++) {
    const b = space.pread(off + i * TAIL_SLOT, TAIL_SLOT);
    const dv = new DataView(b.buffer, b.byteOffset, TAIL_SLOT);
    const magic = dv.getUint32(0, true);
    if (magic === SLOT_MAGIC) {
      const w = new Uint32Array(16);
      for (let j = 0; j < 16; j++) w[j] = dv.getUint32(4 * j, true);
      if (w[14] !== slotChecksum(w) || w[15] !== 0) continue;
    } else if (magic !== SLOT_MAGIC_XXH64 || dv.getBigUint64(56, true) !== xxh64(b.subarray(0, 56), CSUM_SEED)) continue;
    const s: TailSlot = { counter: getU64n(dv, 8), gen: getU64n(dv, 16), tail: getU64n(dv, 24) };
    if (magic === SLOT_MAGIC && dv.getUint32(32, true) === SLOT_MARK) s.mark = { tail: getU64n(dv, 36), gen: getU64n(dv, 44) };
    if (!best || s.counter > best.counter) best = s;
  }
  return best;
}

/**
 * Checksum of a tail slot: its words 0..13 (magic, counter, generation, tail, sync mark, zeros) mixed with
 * Math.imul (murmur3's 32-bit steps). 32 bits suffice: a slot that fails it is only ever the one
 * torn or damaged of the two, and a slot that passes is cross-checked against the region headers.
 */
function slotChecksum(w: Uint32Array): number {
  let h = 0x43414952; // seed "CAIR"
  for (let i = 0; i < 14; i++) {
    let k = Math.imul(w[i]!, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  return fmix32(h ^ 56);
}

/** Read a region's records up to the first invalid one; invalid before `acked` is damage. */
function scanRegion(space: PmemSpace, base: number, end: number, h: RegionHeader, acked: number): { records: WalRecord[]; end: number; damage?: string; tornAt?: number; view: Uint8Array } {
  // one pread of the region: the scan maps nothing into the process (mapped pages of a large page
  // cache folio would all count as resident)
  const view = space.pread(base, end - base);
  return { ...decodeRegion(view, base, h, acked), view };
}

/**
 * The records of a region copy `view` (read from absolute offset `base`), up to the first invalid
 * one; an invalid one before `acked` is damage. Also what a flush on a merge worker replays.
 */
export function decodeRegion(view: Uint8Array, base: number, h: { gen: number; startSeq: number }, acked: number): { records: WalRecord[]; end: number; damage?: string; tornAt?: number } {
  const end = base + view.length;
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const records: WalRecord[] = [];
  let pos = base + REGION_HEADER;
  let seq = h.startSeq;
  let damage: string | undefined;
  let tornAt: number | undefined;
  while (pos < end) {
    const r = decodeWalRecord(view, dv, base, pos, end, h.gen);
    if (r && r.update?.where === Where.Wal) {
      const v = view.subarray(r.inlineOffset! - base, r.inlineOffset! - base + r.update.dataLen);
      // a value torn by a crash after its header landed: only possible past the acknowledged tail
      if (xxh64(v, CSUM_SEED) !== r.update.csum && pos + r.length > acked) { tornAt = pos; break; }
    }
    if (!r) {
      if (pos < acked) damage = `log record at ${pos} (region ${h.gen}) failed validation before the acknowledged tail ${acked}`;
      // torn: a started record of this generation (magic and stamp landed); records left from the
      // region's earlier use carry an older stamp and simply end the log
      else if (pos + 16 <= end && dv.getUint32(pos - base, true) === WAL_MAGIC && dv.getUint32(pos - base + 12, true) === (h.gen >>> 0)) tornAt = pos;
      break;
    }
    (r as WalRecord).seq = seq++; // (a fresh record: numbered in place, not copied)
    records.push(r as WalRecord);
    pos += r.length;
  }
  if (!damage && pos < acked) damage = `log region ${h.gen} ends at ${pos}, before its acknowledged tail ${acked}`;
  return { records, end: pos, damage, tornAt };
}
