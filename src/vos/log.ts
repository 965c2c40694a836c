/**
 * The pmem log of one target: superblock, two log regions, append, replay and the atomic
 * switch of a compaction (see `format.ts` for the byte layout).
 *
 * Appends copy a whole record into the mapping with one store sequence; the record is
 * acknowledged only after that returns, so after a process crash it is either wholly there or
 * torn, and a torn tail fails its checksum and is cut off on open. A record in the middle of
 * the log that fails its checksum while valid records follow is corruption, not a torn tail:
 * it is skipped and reported (`corrupt`), the rest of the log is kept.
 */
import { randomInt } from 'node:crypto';
import { PmemFile } from '../media/pmem.js';
import type { FaultInjector } from '../media/fault.js';
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from './constants.js';
import { VosError } from './errors.js';
import {
  LOG_BASE, REC_HEADER, REC_MAGIC, SB_BYTES, SB_SLOT, Where, decodeRecord, decodeSuperblock, encodeSuperblock,
  type DecodedRecord, type Superblock,
} from './format.js';

const MAGIC_BYTES = Buffer.from(new Uint32Array([REC_MAGIC]).buffer);

/** A random non-zero u32 different from `old`. */
function newStamp(old: number): number {
  for (;;) {
    const s = randomInt(1, 2 ** 32 - 1);
    if (s !== old) return s;
  }
}

/** A span of the log that failed validation and was skipped on open. */
export interface CorruptSpan { offset: number; length: number }

/** What `VosLog.open` found. */
export interface LogReplay {
  /** Valid records of the active region, in log order. */
  records: DecodedRecord[];
  /** Corrupt spans skipped in the middle of the log. */
  corrupt: CorruptSpan[];
  /** Offset where a torn tail was cut off, if any. */
  tornAt?: number;
  /** True when the file was created (or found blank) and initialised. */
  created: boolean;
  /** Superblock slots (offsets) that hold something but fail validation. */
  damagedSlots: number[];
}

/** Options of `VosLog.open`. */
export interface LogOpenOptions {
  scmBytes: number;
  inlineThreshold: number;
  dataBytes: number;
  fault?: FaultInjector;
}

/** An in-progress compaction into the inactive region (see `VosLog.beginCompaction`). */
export interface Compaction {
  /** Stamp to encode the new region's records with. */
  readonly gen: number;
  /** Append a record (encoded with `gen`); returns its absolute offset, or -1 when the region is full. */
  append(rec: Uint8Array): number;
  /** Make the new region the active one (atomic superblock switch). */
  commit(durable: boolean): void;
}

/** The append-only log inside the pmem file. */
export class VosLog {
  readonly pmem: PmemFile;
  private readonly dv: DataView;
  private sb: Superblock;
  /** Absolute offset where the next record goes. */
  private tailAt: number;

  private constructor(pmem: PmemFile, sb: Superblock, tail: number) {
    this.pmem = pmem;
    this.dv = new DataView(pmem.view.buffer, pmem.view.byteOffset, pmem.view.byteLength);
    this.sb = sb;
    this.tailAt = tail;
  }

  /** Open (or create) the pmem file at `path`, pick the live superblock and replay the active region. */
  static open(path: string, opts: LogOpenOptions): { log: VosLog; replay: LogReplay } {
    const pmem = PmemFile.open(path, { size: opts.scmBytes, fault: opts.fault });
    const view = pmem.view;
    const a = decodeSuperblock(view, 0);
    const b = decodeSuperblock(view, SB_SLOT);
    let sb = a && b ? (a.gen >= b.gen ? a : b) : (a ?? b);
    let created = false;
    const blankSlot = (off: number) => view.subarray(off, off + SB_BYTES).every((x) => x === 0);
    const damagedSlots = [a ? -1 : 0, b ? -1 : SB_SLOT].filter((off) => off >= 0 && !blankSlot(off));
    if (!sb) {
      const blank = view.subarray(0, LOG_BASE).every((x) => x === 0);
      if (!pmem.created && !blank) {
        throw new VosError('CORRUPTED', `no valid superblock in ${path}`, { path });
      }
      const regionSize = Math.floor((pmem.size - LOG_BASE) / 2 / 4096) * 4096;
      if (regionSize < 4096) throw new VosError('INVALID_ARGUMENT', 'scmBytes too small for two log regions', { scmBytes: pmem.size });
      sb = { gen: 1, stamp: newStamp(0), active: 0, regionSize, inlineThreshold: opts.inlineThreshold, dataBytes: opts.dataBytes, scmBytes: pmem.size };
      pmem.zero(LOG_BASE, REC_HEADER); // no stale record at the start of region 0
      // both slots: either one alone lets the target open
      pmem.write(0, encodeSuperblock(sb));
      pmem.write(SB_SLOT, encodeSuperblock(sb));
      pmem.persist(0, LOG_BASE + REC_HEADER);
      created = true;
    }
    if (sb.scmBytes !== pmem.size || LOG_BASE + 2 * sb.regionSize > pmem.size || sb.regionSize < 4096) {
      throw new VosError('CORRUPTED', 'superblock does not match the pmem file', { path, size: pmem.size, regionSize: sb.regionSize });
    }
    const log = new VosLog(pmem, sb, 0);
    const replay = log.scan();
    replay.created = created;
    replay.damagedSlots = created ? [] : damagedSlots;
    return { log, replay };
  }

  /** The superblock in force. */
  get superblock(): Readonly<Superblock> { return this.sb; }
  /** Stamp carried by the records of the active region (see `Superblock.stamp`). */
  get gen(): number { return this.sb.stamp; }
  /** First byte of the active region. */
  get base(): number { return LOG_BASE + this.sb.active * this.sb.regionSize; }
  /** One past the last byte of the active region. */
  get end(): number { return this.base + this.sb.regionSize; }
  /** Absolute offset of the next record. */
  get tail(): number { return this.tailAt; }
  /** Bytes used in the active region. */
  get used(): number { return this.tailAt - this.base; }
  /** Bytes of one region (the most the live set may take). */
  get regionSize(): number { return this.sb.regionSize; }

  /** Whether a record of `len` bytes fits after the tail. */
  fits(len: number): boolean { return this.tailAt + len <= this.end; }

  /** Append an encoded record; returns its absolute offset. The caller checked `fits`. */
  append(rec: Uint8Array): number {
    const at = this.tailAt;
    if (at + rec.length > this.end) throw new VosError('NO_SPACE', 'log region full', { used: this.used, regionSize: this.regionSize });
    this.pmem.write(at, rec);
    this.tailAt = at + rec.length;
    return at;
  }

  /** msync the log bytes in `[from, tail)` (durable mode group commit). */
  persistFrom(from: number): void {
    if (this.tailAt > from) this.pmem.persist(from, this.tailAt - from);
  }

  /** Check the xxh64 of an inline value at absolute `offset`. */
  inlineOk(offset: number, len: number, csum: bigint): boolean {
    return xxh64(this.pmem.view.subarray(offset, offset + len), CSUM_SEED) === csum;
  }

  /** Start writing a compacted copy of the live set into the inactive region. */
  beginCompaction(): Compaction {
    const gen = newStamp(this.sb.stamp);
    const active = (this.sb.active ^ 1) as 0 | 1;
    const base = LOG_BASE + active * this.sb.regionSize;
    const end = base + this.sb.regionSize;
    let tail = base;
    const pmem = this.pmem;
    return {
      gen,
      append: (rec) => {
        if (tail + rec.length > end) return -1;
        pmem.write(tail, rec);
        const at = tail;
        tail += rec.length;
        return at;
      },
      commit: (durable) => {
        if (tail + REC_HEADER <= end) pmem.zero(tail, REC_HEADER);
        if (durable) pmem.persist(base, Math.min(end, tail + REC_HEADER) - base);
        const sb: Superblock = { ...this.sb, gen: this.sb.gen + 1, stamp: gen, active };
        const slot = (sb.gen % 2) * SB_SLOT;
        pmem.write(slot, encodeSuperblock(sb));
        if (durable) pmem.persist(slot, SB_BYTES);
        this.sb = sb;
        this.tailAt = tail;
      },
    };
  }

  /** Replay the active region: valid records, skipped corrupt spans, and the cut torn tail. */
  private scan(): LogReplay {
    const view = this.pmem.view; const dv = this.dv;
    const gen = this.sb.stamp; const end = this.end;
    const records: DecodedRecord[] = [];
    const corrupt: CorruptSpan[] = [];
    let pos = this.base;
    while (pos < end) {
      const rec = decodeRecord(view, dv, pos, end, gen);
      if (rec) { records.push(rec); pos += rec.length; continue; }
      const next = this.resync(pos + 8, end, gen);
      if (next < 0) break;
      corrupt.push({ offset: pos, length: next - pos });
      pos = next;
    }
    let tornAt: number | undefined;
    // The last record may have a complete header but a torn inline value: check it.
    const last = records[records.length - 1];
    if (last?.update && last.update.where === Where.Inline && !this.inlineOk(last.inlineOffset!, last.update.dataLen, last.update.csum)) {
      records.pop();
      pos = last.offset;
    }
    if (pos < end && dv.getUint32(pos, true) !== 0) tornAt = pos;
    // Wipe what a torn tail left so that it can never be mistaken for a record later.
    if (tornAt !== undefined) this.pmem.zero(pos, Math.min(end - pos, 64 * 1024));
    this.tailAt = pos;
    return { records, corrupt, tornAt, created: false, damagedSlots: [] };
  }

  /** The next offset >= `from` (8-aligned) holding a valid record of `gen`, or -1. */
  private resync(from: number, end: number, gen: number): number {
    const dv = this.dv; const view = this.pmem.view;
    let p = from;
    while (p + REC_HEADER <= end) {
      // native search for the magic (a zeroed tail is skipped at memchr speed)
      const hit = view.indexOf(MAGIC_BYTES, p);
      if (hit < 0 || hit + REC_HEADER > end) return -1;
      if (hit % 8 === 0 && dv.getUint32(hit + 12, true) === (gen >>> 0) && decodeRecord(view, dv, hit, end, gen)) return hit;
      p = hit + 1;
    }
    return -1;
  }

  /** Detach from the mapping. */
  close(): void { this.pmem.close(); }
}
