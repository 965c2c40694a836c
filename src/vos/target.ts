/**
 * `VosTarget`: the versioned object store of one storage target (DAOS's VOS).
 *
 * Data flow of an update: validate -> xxh64 of the value -> (value above the inline threshold:
 * allocate blocks, write them through the block device and wait for completion; durable mode
 * also fdatasyncs them, group-committed) -> append one checksummed record to the pmem log ->
 * apply it to the in-memory index -> (durable mode: msync the new log bytes, group-committed)
 * -> resolve. The record that references data blocks is written only after the blocks are, so
 * a crash never exposes torn data; blocks freed by replace, aggregation or discard are reused
 * only once no read that could still see them is in flight (and, in durable mode, once the
 * record that freed them is flushed).
 *
 * Open replays the log into the index and rebuilds the block allocator from it. When the log
 * region fills, a compaction rewrites the live records into the other region and switches the
 * superblock atomically.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CairnError, throwIfAborted } from '../../core/errors.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { openBlockDevice, type BlockDevice } from '../media/block-device.js';
import type { FaultInjector } from '../media/fault.js';
import { BlockAllocator } from './allocator.js';
import {
  CSUM_SEED, DATA_BLOCK, DATA_FILE, DEFAULT_DATA_BYTES, DEFAULT_INLINE_THRESHOLD, DEFAULT_SCM_BYTES, MAX_ARRAY_INDEX,
  MAX_EPOCH, MAX_OID, MAX_INLINE_THRESHOLD, MAX_KEY_SIZE, MAX_RECORD_SIZE, MAX_VALUE_SIZE, SCM_FILE,
} from './constants.js';
import { VosError, invalidArg } from './errors.js';
import {
  DISCARD_RECORD_LENGTH, MAX_KEEP_EPOCHS, PunchLevel, RecType, RecordEncoder, SMALL_RECORD_LENGTH, Where, aggregateRecordLength, inlineDataOffset,
  type DecodedRecord,
} from './format.js';
import { VosLog, type CorruptSpan } from './log.js';
import {
  akeyVisible, before, covered, dkeyVisible, floorAt, keyHex, keyStr, objectVisible, punchFloor, paint, visibleExtents,
  visibleSingle, type AkeyNode, type DkeyNode, type ObjNode, type Punch, type Range, type Stamp, type Version,
} from './tree.js';

/** Options of `VosTarget.open`. */
export interface VosOptions {
  /** Size of the pmem file (metadata and small values), used when creating. Default 64 MiB. */
  scmBytes?: number;
  /** Size of the block data file (sparse), used when creating. Default 1 GiB. */
  dataBytes?: number;
  /** Values of at most this many bytes are stored inline in the pmem log. Default 4096. */
  inlineThreshold?: number;
  /** Also survive power loss: msync + fdatasync before acknowledging (group-committed). */
  durable?: boolean;
  /**
   * Block I/O engine. `auto` (default): with O_DIRECT, io_uring when it works, else pread; for
   * a buffered data file, pread (thread-pool writes overlap the checksum of the value, while
   * buffered io_uring writes complete inside the submitting thread: measured slower here).
   */
  io?: 'auto' | 'io_uring' | 'pread';
  /**
   * O_DIRECT for the data file. Default: `'auto'` (O_DIRECT where the filesystem allows it) when
   * `durable`, `false` (page cache, which already survives a process crash) otherwise.
   */
  direct?: boolean | 'auto';
  /** Seeded fault injection for the pmem and data files (tests). */
  fault?: FaultInjector;
  /** Cancels `open`. */
  signal?: AbortSignal;
}

/** An array extent: `count` records starting at record `index`. */
export interface Recx { index: number; count: number }

/** What `aggregate` did. */
export interface AggregateStats {
  versionsRemoved: number;
  punchesRemoved: number;
  dataBytesFreed: number;
  scmBytesFreed: number;
  compacted: boolean;
}

/** One bad record found by `scrub` (never the bytes themselves). */
export interface ScrubFinding {
  /** `scm`: inline value in the pmem log; `data`: block data file; `scm-log`: a log record that failed validation on open. */
  where: 'scm' | 'data' | 'scm-log';
  oid?: bigint;
  dkey?: Uint8Array;
  akey?: Uint8Array;
  recx?: Recx;
  epoch?: bigint;
  /** Log offset and length of a corrupt log span. */
  offset?: number;
  length?: number;
  reason: string;
}

/** Result of `scrub`. */
export interface ScrubReport {
  /** Versions checked. */
  checked: number;
  /** Value bytes checked. */
  bytes: number;
  bad: ScrubFinding[];
}

/** Space in use. */
export interface VosUsage {
  /** Pmem bytes in use (superblocks + active log region up to its tail). */
  scmUsed: number;
  scmTotal: number;
  /** Log bytes the live set would take after a compaction. */
  scmLive: number;
  dataUsed: number;
  dataTotal: number;
}

/** What open found in the log. */
export interface VosOpenReport {
  created: boolean;
  records: number;
  corruptSpans: CorruptSpan[];
  tornAt?: number;
  /**
   * A superblock slot failed validation: the other one was used. After a crash during a
   * compaction's switch that is the right state; after media corruption of the newest slot it
   * is an older consistent state (the log as of the previous compaction).
   */
  superblockDamaged: boolean;
}

/** Batches concurrent requests into one run of `fn`: a request is served by a run that starts after it. */
class GroupSync {
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private running = false;
  constructor(private readonly fn: () => Promise<void>) {}

  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    try {
      await null; // let writers of the same tick join the batch
      while (this.waiters.length) {
        const batch = this.waiters;
        this.waiters = [];
        try {
          await this.fn();
          for (const w of batch) w.resolve();
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

function toVosError(e: unknown, op: string): unknown {
  if (e instanceof VosError) return e;
  if (e instanceof CairnError) {
    if (e.code === 'NO_SPACE') return new VosError('NO_SPACE', `${op}: no space on the target`, e.info, { cause: e });
    return new VosError('IO_ERROR', `${op}: ${e.message}`, e.info, { cause: e });
  }
  return e;
}

function checkEpoch(epoch: unknown, name = 'epoch', min = 1n): asserts epoch is bigint {
  if (typeof epoch !== 'bigint' || epoch < min || epoch > MAX_EPOCH) {
    throw invalidArg(`${name} must be a bigint in [${min}, 2^64-1]`, { [name]: String(epoch) });
  }
}
function checkOid(oid: unknown): asserts oid is bigint {
  if (typeof oid !== 'bigint' || oid < 0n || oid > MAX_OID) throw invalidArg('oid must be a bigint in [0, 2^192)', { oid: String(oid) });
}
function checkKey(key: unknown, name: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw invalidArg(`${name} must be a Uint8Array`);
  if (key.length === 0) throw invalidArg(`${name} must not be empty`);
  if (key.length > MAX_KEY_SIZE) throw new VosError('KEY_TOO_LARGE', `${name} longer than ${MAX_KEY_SIZE} bytes`, { [name + 'Length']: key.length, max: MAX_KEY_SIZE });
}
function checkRecx(recx: unknown): asserts recx is Recx {
  const r = recx as Recx;
  if (!r || !Number.isSafeInteger(r.index) || !Number.isSafeInteger(r.count) || r.index < 0 || r.count < 1 || r.index + r.count > MAX_ARRAY_INDEX) {
    throw invalidArg('recx must be { index >= 0, count >= 1 } safe integers', { recx: r && { index: r.index, count: r.count } });
  }
}

/** Details naming a version for errors and reports (strings: JSON-safe, no bytes of the value). */
function describe(oid: bigint, dkey: Uint8Array, akey: Uint8Array, v: Version): Record<string, unknown> {
  const d: Record<string, unknown> = { oid: oid.toString(), dkey: keyHex(dkey), akey: keyHex(akey), epoch: v.epoch.toString(), where: v.where === 0 ? 'scm' : 'data' };
  if (v.recordSize > 0) d.recx = { index: v.index, count: v.count };
  return d;
}

/** The versioned object store of one target. Create or reopen with `VosTarget.open`. */
export class VosTarget {
  private readonly objects = new Map<bigint, ObjNode>();
  private readonly enc = new RecordEncoder();
  private alloc!: BlockAllocator;
  private seq = 0;
  private maxEpoch = 0n;
  private liveScm = 0;
  private closed = false;
  private ops = 0;
  private drained: Array<() => void> = [];
  private activeReads = 0;
  private deferredFree: Array<[number, number]> = [];
  /** Frees held back while a change is only in memory (not yet in the log): released once it is. */
  private holding: Array<[number, number]> | undefined;
  private commitFree: Array<[number, number]> = [];
  private persistedAt = 0;
  private corrupt: CorruptSpan[] = [];
  private readonly dataSync: GroupSync;
  private readonly commitSync: GroupSync;
  /** What the replay on open found. */
  openReport!: VosOpenReport;
  private engineReason = '';
  /** Compactions (log region switches) since open. */
  compactions = 0;

  private constructor(
    /** Directory holding `vos.scm` and `vos.data`. */
    readonly dir: string,
    private readonly log: VosLog,
    private readonly dev: BlockDevice,
    /** Inline threshold in force (stored in the superblock when the target was created). */
    readonly inlineThreshold: number,
    /** Whether acknowledged writes also survive power loss. */
    readonly durable: boolean,
  ) {
    this.dataSync = new GroupSync(() => this.dev.sync());
    this.commitSync = new GroupSync(async () => this.flushLog());
  }

  /** Open the target in `dir`, creating it when absent. */
  static async open(dir: string, opts: VosOptions = {}): Promise<VosTarget> {
    throwIfAborted(opts.signal);
    const scmBytes = opts.scmBytes ?? DEFAULT_SCM_BYTES;
    const dataBytes = opts.dataBytes ?? DEFAULT_DATA_BYTES;
    const inlineThreshold = opts.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD;
    if (!Number.isSafeInteger(scmBytes) || scmBytes < 4 * 4096 || scmBytes % 4096 !== 0) throw invalidArg('scmBytes must be a multiple of 4096, at least 16 KiB', { scmBytes });
    if (!Number.isSafeInteger(dataBytes) || dataBytes < DATA_BLOCK || dataBytes % DATA_BLOCK !== 0) throw invalidArg(`dataBytes must be a positive multiple of ${DATA_BLOCK}`, { dataBytes });
    if (!Number.isSafeInteger(inlineThreshold) || inlineThreshold < 0 || inlineThreshold > MAX_INLINE_THRESHOLD) throw invalidArg(`inlineThreshold must be in [0, ${MAX_INLINE_THRESHOLD}]`, { inlineThreshold });
    await initXxhash();
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new VosError('IO_ERROR', `cannot create target directory ${dir}`, { dir }, { cause: e });
    }
    let opened: ReturnType<typeof VosLog.open>;
    try {
      opened = VosLog.open(path.join(dir, SCM_FILE), { scmBytes, dataBytes, inlineThreshold, fault: opts.fault });
    } catch (e) {
      throw toVosError(e, 'open');
    }
    const { log, replay } = opened;
    const sb = log.superblock;
    let dev: BlockDevice;
    let engineReason: string | undefined;
    try {
      throwIfAborted(opts.signal);
      const direct = opts.direct ?? (opts.durable ? 'auto' : false);
      const io = opts.io ?? 'auto';
      const devIo = io === 'auto' && direct === false ? 'pread' : io;
      dev = await openBlockDevice(path.join(dir, DATA_FILE), { size: sb.dataBytes, io: devIo, direct, fault: opts.fault, create: true });
      if (devIo !== io) engineReason = 'pread: buffered data file, thread-pool writes overlap checksumming (faster here than buffered io_uring)';
    } catch (e) {
      log.close();
      throw toVosError(e, 'open');
    }
    const t = new VosTarget(dir, log, dev, sb.inlineThreshold, opts.durable ?? false);
    t.engineReason = engineReason ?? dev.engineReason;
    try {
      t.replay(replay.records);
      t.corrupt = [...replay.damagedSlots.map((offset) => ({ offset, length: 64 })), ...replay.corrupt];
      const used: Array<[number, number]> = [];
      t.forEachVersion((_o, _d, _a, v) => { if (v.where === Where.Block) used.push([v.loc, v.alloc]); });
      try {
        t.alloc = BlockAllocator.fromUsed(sb.dataBytes, DATA_BLOCK, used);
      } catch (e) {
        throw new VosError('CORRUPTED', 'data extents referenced by the log overlap', { dir }, { cause: e });
      }
      t.persistedAt = log.tail;
      t.openReport = { created: replay.created, records: replay.records.length, corruptSpans: replay.corrupt, tornAt: replay.tornAt, superblockDamaged: replay.damagedSlots.length > 0 };
    } catch (e) {
      await dev.close().catch(() => undefined);
      log.close();
      throw toVosError(e, 'open');
    }
    return t;
  }

  /** The block I/O engine chosen for the data file. */
  get ioEngine(): 'io_uring' | 'pread' { return this.dev.engine; }
  /** Why that engine (e.g. why io_uring is not in use). */
  get ioEngineReason(): string { return this.engineReason; }
  /** Whether the data file uses O_DIRECT. */
  get directIo(): boolean { return this.dev.direct; }

  // ---------------------------------------------------------------- lifecycle

  private enter(): void {
    if (this.closed) throw new VosError('CLOSED', 'target is closed', { dir: this.dir });
    this.ops++;
  }

  private leave(): void {
    if (--this.ops === 0 && this.drained.length) {
      const d = this.drained; this.drained = [];
      for (const f of d) f();
    }
  }

  /** Wait for operations in flight, make everything durable, and close the files. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ops > 0) await new Promise<void>((r) => this.drained.push(r));
    try {
      if (this.durable) { await this.dev.sync(); this.flushLog(); }
    } finally {
      await this.dev.close().catch(() => undefined);
      this.log.close();
    }
  }

  /** Make everything acknowledged so far durable against power loss (fdatasync + msync). */
  async flush(): Promise<void> {
    this.enter();
    try {
      await this.dev.sync();
      this.flushLog();
    } catch (e) {
      throw toVosError(e, 'flush');
    } finally {
      this.leave();
    }
  }

  /** msync log bytes appended since the last flush; then blocks freed before it may be reused. */
  private flushLog(): void {
    const frees = this.commitFree;
    this.commitFree = [];
    const log = this.log;
    const from = this.persistedAt >= log.base && this.persistedAt <= log.tail ? this.persistedAt : log.base;
    log.pmem.persist(from, log.tail - from);
    this.persistedAt = log.tail;
    for (const f of frees) this.deferredFree.push(f);
    this.reclaim();
  }

  // ---------------------------------------------------------------- space

  private releaseData(v: Version): void {
    if (v.where !== Where.Block || !this.alloc) return;
    if (this.holding) { this.holding.push([v.loc, v.alloc]); return; }
    if (this.durable) this.commitFree.push([v.loc, v.alloc]);
    else this.deferredFree.push([v.loc, v.alloc]);
    this.reclaim();
  }

  /** Hand frees held during an unlogged change to the normal release path. */
  private releaseHeld(): void {
    const held = this.holding;
    this.holding = undefined;
    if (!held?.length) return;
    for (const f of held) (this.durable ? this.commitFree : this.deferredFree).push(f);
    this.reclaim();
  }

  private reclaim(): void {
    if (this.activeReads > 0 || this.deferredFree.length === 0) return;
    for (const [off, n] of this.deferredFree) this.alloc.release(off, n);
    this.deferredFree = [];
  }

  private dropVersion(v: Version): void {
    v.dead = true;
    this.liveScm -= v.recLen;
    this.releaseData(v);
  }

  /** Space in use. */
  usage(): VosUsage {
    return {
      scmUsed: this.log.tail - this.log.base + 2 * 4096, scmTotal: this.log.pmem.size, scmLive: this.liveScm,
      dataUsed: this.alloc.used, dataTotal: this.alloc.total,
    };
  }

  /** Highest epoch written (0n when empty); lowered by `discard`. */
  queryMaxEpoch(): bigint { return this.maxEpoch; }

  // ---------------------------------------------------------------- log append and compaction

  /**
   * Append the record `make(gen)` encodes (re-encoded after a compaction, which changes the
   * generation and reuses the encoder); returns its absolute offset and length.
   */
  private appendRecord(make: (gen: number) => Uint8Array): { at: number; len: number } {
    let rec = make(this.log.gen);
    if (!this.log.fits(rec.length)) {
      // reserve room for the record being appended too
      this.compact(rec.length);
      rec = make(this.log.gen);
      if (!this.log.fits(rec.length)) {
        throw new VosError('NO_SPACE', 'pmem log full: aggregate, punch+aggregate or discard to free space', { used: this.log.used, live: this.liveScm, regionSize: this.log.regionSize });
      }
    }
    return { at: this.log.append(rec), len: rec.length };
  }

  /**
   * Rewrite the live set into the other log region and switch to it atomically. Throws
   * `NO_SPACE` (leaving the current region in force) when the live set does not fit.
   */
  private compact(extra = 0): void {
    if (this.liveScm + SMALL_RECORD_LENGTH + extra > this.log.regionSize) {
      throw new VosError('NO_SPACE', 'pmem log full: the live set does not fit a log region', { live: this.liveScm, regionSize: this.log.regionSize });
    }
    type Item = { seq: number; write: (gen: number) => Uint8Array; v?: Version; p?: Punch; inlineAt?: number };
    const items: Item[] = [];
    const view = this.log.pmem.view;
    for (const o of this.objects.values()) {
      for (const p of o.punches) items.push({ seq: p.seq, p, write: (g) => this.enc.punch(g, p.epoch, { oid: o.oid, level: PunchLevel.Object, dkey: new Uint8Array(0), akey: new Uint8Array(0) }) });
      for (const d of o.dkeys.values()) {
        for (const p of d.punches) items.push({ seq: p.seq, p, write: (g) => this.enc.punch(g, p.epoch, { oid: o.oid, level: PunchLevel.Dkey, dkey: d.key, akey: new Uint8Array(0) }) });
        for (const a of d.akeys.values()) {
          for (const p of a.punches) items.push({ seq: p.seq, p, write: (g) => this.enc.punch(g, p.epoch, { oid: o.oid, level: PunchLevel.Akey, dkey: d.key, akey: a.key }) });
          for (const v of [...a.singles, ...a.extents]) {
            items.push({
              seq: v.seq, v, inlineAt: inlineDataOffset(d.key.length, a.key.length),
              write: (g) => this.enc.update(v.recordSize > 0 ? RecType.UpdateArray : RecType.UpdateSingle, g, v.epoch, {
                oid: o.oid, csum: v.csum, index: v.index, count: v.count, recordSize: v.recordSize, dataLen: v.len,
                where: v.where, blockOffset: v.where === Where.Block ? v.loc : 0, dkey: d.key, akey: a.key,
              }, v.where === Where.Inline ? view.subarray(v.loc, v.loc + v.len) : undefined),
            });
          }
        }
      }
    }
    items.sort((x, y) => x.seq - y.seq);
    const c = this.log.beginCompaction();
    const newLoc: number[] = [];
    const fail = () => new VosError('NO_SPACE', 'pmem log full: the live set does not fit a log region', { live: this.liveScm, regionSize: this.log.regionSize });
    if (c.append(this.enc.small(RecType.Checkpoint, c.gen, this.maxEpoch)) < 0) throw fail();
    for (const it of items) {
      const at = c.append(it.write(c.gen));
      if (at < 0) throw fail();
      newLoc.push(at);
    }
    c.commit(this.durable);
    this.compactions++;
    this.persistedAt = this.log.tail;
    items.forEach((it, i) => {
      if (it.v && it.v.where === Where.Inline) it.v.loc = newLoc[i]! + it.inlineAt!;
    });
  }

  // ---------------------------------------------------------------- index mutation (shared by API and replay)

  private node(oid: bigint, dkey: Uint8Array, akey: Uint8Array | undefined, create: true): { o: ObjNode; d: DkeyNode; a: AkeyNode };
  private node(oid: bigint, dkey: Uint8Array | undefined, akey: Uint8Array | undefined, create: boolean): { o?: ObjNode; d?: DkeyNode; a?: AkeyNode };
  private node(oid: bigint, dkey: Uint8Array | undefined, akey: Uint8Array | undefined, create: boolean): { o?: ObjNode; d?: DkeyNode; a?: AkeyNode } {
    let o = this.objects.get(oid);
    if (!o) {
      if (!create) return {};
      o = { oid, dkeys: new Map(), punches: [] };
      this.objects.set(oid, o);
    }
    if (!dkey) return { o };
    const ds = keyStr(dkey);
    let d = o.dkeys.get(ds);
    if (!d) {
      if (!create) return { o };
      d = { key: new Uint8Array(dkey), akeys: new Map(), punches: [] };
      o.dkeys.set(ds, d);
    }
    if (!akey) return { o, d };
    const as = keyStr(akey);
    let a = d.akeys.get(as);
    if (!a) {
      if (!create) return { o, d };
      a = { key: new Uint8Array(akey), singles: [], extents: [], punches: [] };
      d.akeys.set(as, a);
    }
    return { o, d, a };
  }

  private applyUpdate(oid: bigint, dkey: Uint8Array, akey: Uint8Array, v: Version): void {
    const { a } = this.node(oid, dkey, akey, true);
    if (v.recordSize === 0) {
      const s = a.singles;
      for (let i = s.length - 1; i >= 0; i--) {
        if (s[i]!.epoch === v.epoch) { this.dropVersion(s[i]!); s.splice(i, 1); }
      }
      let i = s.length;
      while (i > 0 && s[i - 1]!.epoch > v.epoch) i--;
      s.splice(i, 0, v);
    } else {
      const xs = a.extents;
      for (let i = xs.length - 1; i >= 0; i--) {
        const x = xs[i]!;
        if (x.epoch === v.epoch && x.index >= v.index && x.index + x.count <= v.index + v.count) { this.dropVersion(x); xs.splice(i, 1); }
      }
      xs.push(v);
    }
    this.liveScm += v.recLen;
    if (v.epoch > this.maxEpoch) this.maxEpoch = v.epoch;
  }

  private applyPunch(epoch: bigint, seq: number, recLen: number, oid: bigint, level: PunchLevel, dkey: Uint8Array, akey: Uint8Array): void {
    const n = this.node(oid, level >= PunchLevel.Dkey ? dkey : undefined, level === PunchLevel.Akey ? akey : undefined, true);
    const holder = level === PunchLevel.Object ? n.o! : level === PunchLevel.Dkey ? n.d! : n.a!;
    const ps = holder.punches;
    for (let i = ps.length - 1; i >= 0; i--) if (ps[i]!.epoch === epoch) { this.liveScm -= ps[i]!.recLen; ps.splice(i, 1); }
    ps.push({ epoch, seq, recLen });
    this.liveScm += recLen;
    if (epoch > this.maxEpoch) this.maxEpoch = epoch;
  }

  private dropPunches(ps: Punch[], keep: (p: Punch) => boolean): number {
    let n = 0;
    for (let i = ps.length - 1; i >= 0; i--) {
      if (!keep(ps[i]!)) { this.liveScm -= ps[i]!.recLen; ps.splice(i, 1); n++; }
    }
    return n;
  }

  private applyDiscard(after: bigint, upTo: bigint): void {
    const keep = (x: { epoch: bigint }) => x.epoch <= after || x.epoch > upTo;
    for (const [oid, o] of this.objects) {
      this.dropPunches(o.punches, keep);
      for (const [ds, d] of o.dkeys) {
        this.dropPunches(d.punches, keep);
        for (const [as, a] of d.akeys) {
          this.dropPunches(a.punches, keep);
          a.singles = a.singles.filter((v) => keep(v) || (this.dropVersion(v), false));
          a.extents = a.extents.filter((v) => keep(v) || (this.dropVersion(v), false));
          if (!a.singles.length && !a.extents.length && !a.punches.length) d.akeys.delete(as);
        }
        if (!d.akeys.size && !d.punches.length) o.dkeys.delete(ds);
      }
      if (!o.dkeys.size && !o.punches.length) this.objects.delete(oid);
    }
    if (this.maxEpoch > after && this.maxEpoch <= upTo) this.maxEpoch = after;
  }

  /**
   * Remove versions older than `upTo` that no read at a kept epoch or at an epoch >= upTo - 1
   * can see, then punches that hide nothing any more. Returns what was removed.
   */
  private applyAggregate(upTo: bigint, keep: readonly bigint[]): AggregateStats {
    const stats: AggregateStats = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, scmBytesFreed: 0, compacted: false };
    if (upTo <= 1n) return stats;
    const liveBefore = this.liveScm;
    const views = [...new Set([...keep.filter((k) => k < upTo), upTo - 1n])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const vmin = (e: bigint): bigint => { for (const v of views) if (v >= e) return v; return upTo - 1n; };
    const drop = (v: Version) => { stats.versionsRemoved++; if (v.where === Where.Block) stats.dataBytesFreed += v.alloc; this.dropVersion(v); };
    for (const [oid, o] of this.objects) {
      for (const [ds, d] of o.dkeys) {
        for (const [as, a] of d.akeys) {
          // single values: hidden at the smallest view that can see them?
          const s = a.singles;
          const keepS: Version[] = [];
          for (let i = 0; i < s.length; i++) {
            const v = s[i]!;
            if (v.epoch >= upTo) { keepS.push(v); continue; }
            const V = vmin(v.epoch);
            const next = s[i + 1];
            const hidden = before(v, floorAt(o, d, a, V)) || (next !== undefined && next.epoch <= V);
            if (hidden) drop(v); else keepS.push(v);
          }
          a.singles = keepS;
          // extents: punched, or wholly covered by newer extents visible at that view
          const xs = a.extents;
          const gone = new Set<Version>();
          for (const x of xs) {
            if (x.epoch >= upTo) continue;
            const V = vmin(x.epoch);
            if (before(x, floorAt(o, d, a, V))) { gone.add(x); continue; }
            const cov: Range[] = [];
            for (const y of xs) if (y !== x && before(x, y) && y.epoch <= V) cov.push([y.index, y.index + y.count]);
            if (covered(x.index, x.index + x.count, cov)) gone.add(x);
          }
          if (gone.size) { for (const x of gone) drop(x); a.extents = xs.filter((x) => !gone.has(x)); }
        }
      }
      // punches superseded at every view that can see them by a later punch of the same or an
      // enclosing scope (one that would hide at least as much); the latest stays as a tombstone
      // so that a later write below it stays hidden.
      const superseded = (p: Punch, floor: (V: bigint) => Stamp) => p.epoch < upTo && before(p, floor(vmin(p.epoch)));
      for (const d of o.dkeys.values()) {
        for (const a of d.akeys.values()) stats.punchesRemoved += this.dropPunches(a.punches, (p) => !superseded(p, (V) => floorAt(o, d, a, V)));
        stats.punchesRemoved += this.dropPunches(d.punches, (p) => !superseded(p, (V) => floorAt(o, d, undefined, V)));
      }
      stats.punchesRemoved += this.dropPunches(o.punches, (p) => !superseded(p, (V) => punchFloor(o.punches, V)));
      for (const [ds, d] of o.dkeys) {
        for (const [as, a] of d.akeys) if (!a.singles.length && !a.extents.length && !a.punches.length) d.akeys.delete(as);
        if (!d.akeys.size && !d.punches.length) o.dkeys.delete(ds);
      }
      if (!o.dkeys.size && !o.punches.length) this.objects.delete(oid);
    }
    stats.scmBytesFreed = liveBefore - this.liveScm;
    return stats;
  }

  private replay(records: DecodedRecord[]): void {
    for (const r of records) {
      switch (r.type) {
        case RecType.UpdateSingle:
        case RecType.UpdateArray: {
          const u = r.update!;
          const isArray = r.type === RecType.UpdateArray;
          const bad = u.dkey.length === 0 || u.akey.length === 0 || (isArray ? (u.recordSize < 1 || u.count < 1 || u.count * u.recordSize !== u.dataLen) : u.recordSize !== 0)
            || (u.where === Where.Block && (u.blockOffset % DATA_BLOCK !== 0 || u.blockOffset + u.dataLen > this.log.superblock.dataBytes));
          if (bad) { this.corrupt.push({ offset: r.offset, length: r.length }); continue; }
          const alloc = u.where === Where.Block ? Math.max(DATA_BLOCK, Math.ceil(u.dataLen / DATA_BLOCK) * DATA_BLOCK) : 0;
          this.applyUpdate(u.oid, u.dkey, u.akey, {
            epoch: r.epoch, seq: ++this.seq, csum: u.csum, len: u.dataLen, where: u.where,
            loc: u.where === Where.Inline ? r.inlineOffset! : u.blockOffset, alloc, recLen: r.length,
            index: isArray ? u.index : 0, count: isArray ? u.count : 0, recordSize: isArray ? u.recordSize : 0,
          });
          break;
        }
        case RecType.Punch: {
          const p = r.punch!;
          this.applyPunch(r.epoch, ++this.seq, r.length, p.oid, p.level, p.dkey, p.akey);
          break;
        }
        case RecType.Discard: this.applyDiscard(r.epoch, r.upTo!); break;
        case RecType.Aggregate: this.applyAggregate(r.epoch, r.keep!); break;
        case RecType.Checkpoint: if (r.epoch > this.maxEpoch) this.maxEpoch = r.epoch; break;
      }
    }
  }

  private forEachVersion(fn: (o: ObjNode, d: DkeyNode, a: AkeyNode, v: Version) => void): void {
    for (const o of this.objects.values()) for (const d of o.dkeys.values()) for (const a of d.akeys.values()) {
      for (const v of a.singles) fn(o, d, a, v);
      for (const v of a.extents) fn(o, d, a, v);
    }
  }

  // ---------------------------------------------------------------- updates

  /** Store a value of `len` bytes in the data file; returns where. Frees the blocks on failure. */
  private async writeData(value: Uint8Array): Promise<{ loc: number; alloc: number }> {
    const n = Math.max(DATA_BLOCK, this.alloc.roundUp(value.length));
    let off = this.alloc.alloc(n);
    if (off < 0) { this.reclaim(); off = this.alloc.alloc(n); }
    if (off < 0) throw new VosError('NO_SPACE', 'data file full: aggregate, punch+aggregate or discard to free space', { need: n, used: this.alloc.used, total: this.alloc.total });
    try {
      // whole blocks go as they are (the device bounces unaligned buffers for O_DIRECT itself)
      let buf = value;
      if (value.length !== n) { buf = this.dev.allocAligned(n); buf.set(value); }
      await this.dev.write(off, buf);
      if (this.durable) await this.dataSync.request();
    } catch (e) {
      this.alloc.release(off, n);
      throw toVosError(e, 'update');
    }
    return { loc: off, alloc: n };
  }

  private async update(kind: 'single' | 'array', epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, index: number, count: number, recordSize: number): Promise<void> {
    let where = Where.Inline; let loc = 0; let alloc = 0;
    let csum: bigint;
    if (value.length > this.inlineThreshold) {
      // the write is issued first and the checksum computed while it runs
      const written = this.writeData(value);
      try {
        csum = xxh64(value, CSUM_SEED);
      } finally {
        ({ loc, alloc } = await written);
      }
      where = Where.Block;
    } else {
      csum = xxh64(value, CSUM_SEED);
    }
    try {
      if (kind === 'array') this.checkRecordSize(oid, dkey, akey, recordSize);
      const blockOffset = loc;
      const { at, len: recLen } = this.appendRecord((gen) => this.enc.update(kind === 'array' ? RecType.UpdateArray : RecType.UpdateSingle, gen, epoch, {
        oid, csum, index, count, recordSize, dataLen: value.length, where, blockOffset, dkey, akey,
      }, where === Where.Inline ? value : undefined));
      if (where === Where.Inline) loc = at + inlineDataOffset(dkey.length, akey.length);
      this.applyUpdate(oid, dkey, akey, { epoch, seq: ++this.seq, csum, len: value.length, where, loc, alloc, recLen, index, count, recordSize });
    } catch (e) {
      if (where === Where.Block) this.alloc.release(loc, alloc);
      throw toVosError(e, 'update');
    }
    if (this.durable) await this.commitSync.request().catch((e) => { throw toVosError(e, 'update'); });
  }

  private checkRecordSize(oid: bigint, dkey: Uint8Array, akey: Uint8Array, recordSize: number): void {
    const { a } = this.node(oid, dkey, akey, false);
    const x = a?.extents[0];
    if (x && x.recordSize !== recordSize) {
      throw invalidArg('record size differs from the existing extents of this akey', { oid: oid.toString(), akey: keyHex(akey), recordSize, existing: x.recordSize });
    }
  }

  /** Replace the single value of (oid, dkey, akey) at `epoch` (an existing version at exactly `epoch` is replaced). */
  async updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    if (!(value instanceof Uint8Array)) throw invalidArg('value must be a Uint8Array');
    if (value.length > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `value longer than ${MAX_VALUE_SIZE} bytes`, { length: value.length });
    this.enter();
    try {
      await this.update('single', epoch, oid, dkey, akey, value, 0, 0, 0);
    } finally {
      this.leave();
    }
  }

  /** Write `recx.count` records of `recordSize` bytes (default 1, fixed per akey) at `recx.index`. */
  async updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts: { recordSize?: number } = {}): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    const rs = opts.recordSize ?? this.node(oid, dkey, akey, false).a?.extents[0]?.recordSize ?? 1;
    if (!Number.isSafeInteger(rs) || rs < 1 || rs > MAX_RECORD_SIZE) throw invalidArg(`recordSize must be in [1, ${MAX_RECORD_SIZE}]`, { recordSize: rs });
    if (!(data instanceof Uint8Array)) throw invalidArg('data must be a Uint8Array');
    if (recx.count * rs > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `extent longer than ${MAX_VALUE_SIZE} bytes`, { bytes: recx.count * rs });
    if (data.length !== recx.count * rs) throw invalidArg('data length must be recx.count * recordSize', { length: data.length, count: recx.count, recordSize: rs });
    this.checkRecordSize(oid, dkey, akey, rs);
    this.enter();
    try {
      await this.update('array', epoch, oid, dkey, akey, data, recx.index, recx.count, rs);
    } finally {
      this.leave();
    }
  }

  private async punch(level: PunchLevel, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> {
    this.enter();
    try {
      try {
        const { len } = this.appendRecord((gen) => this.enc.punch(gen, epoch, { oid, level, dkey, akey }));
        this.applyPunch(epoch, ++this.seq, len, oid, level, dkey, akey);
      } catch (e) {
        throw toVosError(e, 'punch');
      }
      if (this.durable) await this.commitSync.request().catch((e) => { throw toVosError(e, 'punch'); });
    } finally {
      this.leave();
    }
  }

  /** Punch a whole object at `epoch`: reads at >= epoch see nothing written before. */
  async punchObject(epoch: bigint, oid: bigint): Promise<void> {
    checkEpoch(epoch); checkOid(oid);
    await this.punch(PunchLevel.Object, epoch, oid, new Uint8Array(0), new Uint8Array(0));
  }

  /** Punch a dkey (all its akeys) at `epoch`. */
  async punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey');
    await this.punch(PunchLevel.Dkey, epoch, oid, dkey, new Uint8Array(0));
  }

  /** Punch one akey (its single value and all its extents) at `epoch`. */
  async punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    await this.punch(PunchLevel.Akey, epoch, oid, dkey, akey);
  }

  // ---------------------------------------------------------------- reads

  /** Read and verify a version's bytes; throws CHECKSUM_MISMATCH naming it. */
  private async readVersion(oid: bigint, d: DkeyNode, a: AkeyNode, v: Version): Promise<Uint8Array> {
    let bytes: Uint8Array;
    if (v.where === Where.Inline) {
      bytes = this.log.pmem.read(v.loc, v.len);
    } else {
      this.activeReads++;
      try {
        const buf = await this.dev.read(v.loc, v.alloc);
        bytes = buf.subarray(0, v.len);
      } catch (e) {
        throw toVosError(e, 'fetch');
      } finally {
        this.activeReads--;
        this.reclaim();
      }
    }
    if (xxh64(bytes, CSUM_SEED) !== v.csum) {
      throw new VosError('CHECKSUM_MISMATCH', `checksum mismatch in object ${oid}`, describe(oid, d.key, a.key, v));
    }
    return bytes;
  }

  private lookup(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): { o: ObjNode; d: DkeyNode; a: AkeyNode; floor: Stamp } | undefined {
    const { o, d, a } = this.node(oid, dkey, akey, false);
    if (!o || !d || !a) return undefined;
    return { o, d, a, floor: floorAt(o, d, a, epoch) };
  }

  /** The single value visible at `epoch`, or undefined. */
  async fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<Uint8Array | undefined> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    this.enter();
    try {
      const n = this.lookup(epoch, oid, dkey, akey);
      if (!n) return undefined;
      const v = visibleSingle(n.a, n.floor, epoch);
      if (!v) return undefined;
      return await this.readVersion(oid, n.d, n.a, v);
    } finally {
      this.leave();
    }
  }

  /**
   * Records `recx` of an array akey as visible at `epoch`, newest extent winning. `present`
   * lists the ranges that hold data; holes are zero bytes in `data` and absent from `present`
   * unless `holesAsZero` (then the whole range is present).
   */
  async fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts: { holesAsZero?: boolean; recordSize?: number } = {}): Promise<{ data: Uint8Array; present: Recx[] }> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    this.enter();
    try {
      const n = this.lookup(epoch, oid, dkey, akey);
      const rs = n?.a.extents[0]?.recordSize ?? opts.recordSize ?? 1;
      if (recx.count * rs > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `fetch longer than ${MAX_VALUE_SIZE} bytes`, { bytes: recx.count * rs });
      const lo = recx.index; const hi = recx.index + recx.count;
      const pieces: Range[] = [];
      let data: Uint8Array | undefined;
      if (n) {
        const exts = visibleExtents(n.a, n.floor, epoch);
        const painted = paint(exts, lo, hi);
        // fast path: the newest extent is exactly the range asked for: return its bytes as read
        const x0 = exts[0];
        if (x0 && x0.index === lo && x0.count === recx.count) {
          const bytes = await this.readVersion(oid, n.d, n.a, x0);
          return { data: bytes, present: [{ index: lo, count: recx.count }] };
        }
        const out = new Uint8Array(recx.count * rs);
        data = out;
        await Promise.all(exts.map(async (x, i) => {
          const ps = painted[i]!;
          if (!ps.length) return;
          const bytes = await this.readVersion(oid, n.d, n.a, x);
          for (const [s, e] of ps) {
            out.set(bytes.subarray((s - x.index) * rs, (e - x.index) * rs), (s - lo) * rs);
            pieces.push([s, e]);
          }
        }));
      }
      data ??= new Uint8Array(recx.count * rs);
      if (opts.holesAsZero) return { data, present: [{ index: lo, count: recx.count }] };
      return { data, present: mergeRanges(pieces) };
    } finally {
      this.leave();
    }
  }

  /** 'single' or 'array' by the newest thing visible at `epoch`, undefined when nothing is. */
  async akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<'single' | 'array' | undefined> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    const n = this.lookup(epoch, oid, dkey, akey);
    if (!n) return undefined;
    const s = visibleSingle(n.a, n.floor, epoch);
    const x = visibleExtents(n.a, n.floor, epoch)[0];
    if (!s && !x) return undefined;
    if (s && x) return before(s, x) ? 'array' : 'single';
    return s ? 'single' : 'array';
  }

  // ---------------------------------------------------------------- enumeration

  /** Object ids with anything visible at `epoch`, ascending. */
  async *listObjects(epoch: bigint): AsyncIterable<bigint> {
    checkEpoch(epoch, 'epoch', 0n);
    if (this.closed) throw new VosError('CLOSED', 'target is closed');
    const out = [...this.objects.values()].filter((o) => objectVisible(o, epoch)).map((o) => o.oid).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    yield* out;
  }

  /** Dkeys of `oid` with anything visible at `epoch`, in byte order. */
  async *listDkeys(epoch: bigint, oid: bigint): AsyncIterable<Uint8Array> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid);
    if (this.closed) throw new VosError('CLOSED', 'target is closed');
    const o = this.objects.get(oid);
    if (!o) return;
    const out = [...o.dkeys.values()].filter((d) => dkeyVisible(o, d, epoch)).map((d) => d.key).sort(Buffer.compare);
    for (const k of out) yield k.slice();
  }

  /** Akeys of (oid, dkey) with anything visible at `epoch`, in byte order. */
  async *listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array): AsyncIterable<Uint8Array> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey');
    if (this.closed) throw new VosError('CLOSED', 'target is closed');
    const { o, d } = this.node(oid, dkey, undefined, false);
    if (!o || !d) return;
    const out = [...d.akeys.values()].filter((a) => akeyVisible(o, d, a, epoch)).map((a) => a.key).sort(Buffer.compare);
    for (const k of out) yield k.slice();
  }

  /** Visible extents of an array akey at `epoch`: disjoint, ascending, each with the epoch it was written at. */
  async *listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AsyncIterable<{ index: number; count: number; epoch: bigint }> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    if (this.closed) throw new VosError('CLOSED', 'target is closed');
    const n = this.lookup(epoch, oid, dkey, akey);
    if (!n) return;
    const exts = visibleExtents(n.a, n.floor, epoch);
    if (!exts.length) return;
    let lo = Infinity, hi = 0;
    for (const x of exts) { lo = Math.min(lo, x.index); hi = Math.max(hi, x.index + x.count); }
    const painted = paint(exts, lo, hi);
    const out: Array<{ s: number; e: number; x: Version }> = [];
    exts.forEach((x, i) => { for (const [s, e] of painted[i]!) out.push({ s, e, x }); });
    out.sort((p, q) => p.s - q.s);
    const merged: Array<{ index: number; count: number; epoch: bigint }> = [];
    let prev: { s: number; e: number; x: Version } | undefined;
    for (const p of out) {
      if (prev && prev.x === p.x && prev.e === p.s) { prev.e = p.e; merged[merged.length - 1]!.count = prev.e - prev.s; continue; }
      prev = { ...p };
      merged.push({ index: p.s, count: p.e - p.s, epoch: p.x.epoch });
    }
    yield* merged;
  }

  // ---------------------------------------------------------------- aggregation, discard, scrub

  /**
   * Merge versions older than `upTo`: drop every version and punch that neither a read at a
   * `keep` epoch nor a read at an epoch >= upTo - 1 can see, and reclaim its space (data blocks
   * at once, log space by compaction). Fetches at kept epochs and at epochs >= upTo - 1 return
   * the same bytes before and after.
   */
  async aggregate(upTo: bigint, keep: bigint[] = []): Promise<AggregateStats> {
    checkEpoch(upTo, 'upTo');
    if (!Array.isArray(keep) || keep.length > MAX_KEEP_EPOCHS) throw invalidArg(`keep must be an array of at most ${MAX_KEEP_EPOCHS} epochs`);
    for (const k of keep) checkEpoch(k, 'keep epoch', 0n);
    this.enter();
    try {
      let logged = false;
      try {
        if (this.log.fits(aggregateRecordLength(keep.length))) {
          this.log.append(this.enc.aggregate(this.log.gen, upTo, keep));
          logged = true;
        }
      } catch (e) {
        throw toVosError(e, 'aggregate');
      }
      // Not logged (log full): the result becomes persistent only through the compaction below;
      // until then the blocks it frees must not be reused.
      if (!logged) this.holding = [];
      const stats = this.applyAggregate(upTo, keep);
      const used = this.log.used;
      if (!logged || (used > this.log.regionSize / 2 && this.liveScm < used / 2)) {
        try {
          this.compact();
          stats.compacted = true;
        } catch (e) {
          if (!logged) { this.holding = undefined; throw toVosError(e, 'aggregate'); } // held blocks stay allocated until reopen
        }
      }
      this.releaseHeld();
      if (this.durable) await this.commitSync.request().catch((e) => { throw toVosError(e, 'aggregate'); });
      return stats;
    } finally {
      this.leave();
    }
  }

  /**
   * Drop everything written at epochs in (`after`, `upTo`] (rollback, aborted transactions);
   * `upTo` defaults to the largest epoch. `queryMaxEpoch` drops to `after` when the range
   * covered it.
   */
  async discard(after: bigint, upTo: bigint = MAX_EPOCH): Promise<void> {
    checkEpoch(after, 'after', 0n);
    checkEpoch(upTo, 'upTo', 0n);
    this.enter();
    try {
      let logged = false;
      try {
        if (this.log.fits(DISCARD_RECORD_LENGTH)) {
          this.log.append(this.enc.discard(this.log.gen, after, upTo));
          logged = true;
        }
      } catch (e) {
        throw toVosError(e, 'discard');
      }
      if (!logged) this.holding = [];
      this.applyDiscard(after, upTo);
      if (!logged) {
        try { this.compact(); } catch (e) { this.holding = undefined; throw toVosError(e, 'discard'); }
      }
      this.releaseHeld();
      if (this.durable) await this.commitSync.request().catch((e) => { throw toVosError(e, 'discard'); });
    } finally {
      this.leave();
    }
  }

  /** Verify every version's checksum (visible or not) and report every bad one, plus log spans found corrupt on open. */
  async scrub(opts: { signal?: AbortSignal; onProgress?: (checked: number, total: number) => void } = {}): Promise<ScrubReport> {
    this.enter();
    try {
      const all: Array<{ o: ObjNode; d: DkeyNode; a: AkeyNode; v: Version }> = [];
      this.forEachVersion((o, d, a, v) => all.push({ o, d, a, v }));
      const report: ScrubReport = { checked: 0, bytes: 0, bad: [] };
      for (const c of this.corrupt) {
        report.bad.push({ where: 'scm-log', offset: c.offset, length: c.length, reason: c.offset < 8192 ? 'superblock slot failed validation on open' : 'log record failed validation on open and was skipped' });
      }
      for (const { o, d, a, v } of all) {
        throwIfAborted(opts.signal);
        if (v.dead) continue; // replaced, aggregated or discarded meanwhile: its space may hold other data now
        try {
          await this.readVersion(o.oid, d, a, v);
        } catch (e) {
          const f: ScrubFinding = { where: v.where === Where.Inline ? 'scm' : 'data', oid: o.oid, dkey: d.key.slice(), akey: a.key.slice(), epoch: v.epoch, reason: (e as VosError).code ?? String(e) };
          if (v.recordSize > 0) f.recx = { index: v.index, count: v.count };
          report.bad.push(f);
        }
        report.checked++;
        report.bytes += v.len;
        if (opts.onProgress && report.checked % 256 === 0) opts.onProgress(report.checked, all.length);
      }
      opts.onProgress?.(report.checked, all.length);
      return report;
    } finally {
      this.leave();
    }
  }
}

/** Sort and merge touching/overlapping ranges into extents. */
function mergeRanges(rs: Range[]): Recx[] {
  rs.sort((x, y) => x[0] - y[0]);
  const out: Recx[] = [];
  for (const [s, e] of rs) {
    const last = out[out.length - 1];
    if (last && last.index + last.count >= s) last.count = Math.max(last.index + last.count, e) - last.index;
    else out.push({ index: s, count: e - s });
  }
  return out;
}

