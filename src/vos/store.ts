/**
 * `TargetStore`: the versioned object store of one storage target, shared by every container
 * (DAOS's VOS pool: containers are subtrees of one store). Files in the target directory:
 *   vos.scm   pmem-style metadata file (superblocks, write-ahead log, sorted runs, manifest),
 *             mapped in segments and grown as needed up to its cap (`scmBytes`);
 *   vos.data  block file for values above the inline threshold (sparse, capped at `dataBytes`).
 *
 * The index is a log-structured merge tree kept *in* the pmem file: writes append to the log and
 * land in a memtable; a full log region is frozen and written out as a sorted, checksummed run;
 * runs of similar size are merged in the background (where aggregation and discards take effect).
 * Opening reads the superblock and manifest and replays at most two log regions, so it costs the
 * same with ten keys or ten million, and memory follows the memtables plus a residency budget,
 * not the data. See docs/architecture.md for the formats.
 *
 * Integrity: every record, block and manifest carries a checksum verified where it is read. A
 * block that fails is reported with the key range it covers (reads there fail `CORRUPTED`, never
 * "absent"); an acknowledged log record that fails, or a manifest that cannot be read, marks the
 * whole target damaged (reads fail until it is rebuilt from redundancy).
 */
import fs from 'node:fs';
import path from 'node:path';
import { CairnError, assert, throwIfAborted } from '../../core/errors.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { debugLog } from '../../core/log.js';
import { openBlockDevice, type BlockDevice } from '../media/block-device.js';
import type { FaultInjector } from '../media/fault.js';
import { PmemSpace, DEFAULT_RESIDENT_BYTES, PMEM_WINDOW_BYTES } from '../media/pmem-space.js';
import { BlockAllocator, ExtentList, freeSnapshot } from './allocator.js';
import { CSUM_SEED, DATA_BLOCK, DATA_FILE, DEFAULT_INLINE_THRESHOLD, MAX_INLINE_THRESHOLD, SCM_FILE, SYNC_WRITE_MAX_BYTES } from './constants.js';
import { VosError } from './errors.js';
import {
  MAX_MANIFEST_CHUNKS, SB_SLOT_BYTES, TAIL_SLOTS_OFFSET, decodeManifest, decodeSuperblock, encodeManifest, encodeSuperblock, geometry,
  type Geometry, type Manifest, type ManifestContainer, type Superblock,
} from './manifest.js';
import { Memtable, addLogged, type MemVersion } from './memtable.js';
import { OidKey } from './oid-table.js';
import { copyValue, copyValueFrom, readBuffer } from './value-copy.js';
import { MemtableCursor, MergeSink, PointVersion, aggregateMerge, fastMerge, flushMemtable, memtableEntries, mergeSources, runCursors, runEntries, writeMerged, type ContainerRules, type Entry, type MergeOptions, type MergeStats } from './merge.js';
import { MergeJobStopped, unpackRunMeta, type MergeJob, type MergeResult } from './merge-job.js';
import { MergeWorkersUnavailable, mergeWorkers, starting as workersStarting } from './merge-workers.js';
import { ContainerSplitWriter, Run, RunWriter, VerifiedBlocks, type RunSink, BlockKind, runMetaFromJson, runMetaToJson, type BlockDamage, type RunMeta } from './run.js';
import { REGION_HEADER, SETTLE_MAX_EPOCHS, Wal, WalEncoder, WalType, Where, type ReplayedRegion, type SyncMark, type WalRecord } from './wal.js';
import { logFlushSteps, releaseFlushBuffers } from './log-flush.js';
import type { Tomb } from './reads.js';
import type { RecordSizes } from './record-sizes.js';

/** Default cap of the pmem file per target (it starts at one segment and grows). */
export const DEFAULT_TARGET_SCM_BYTES = 1024 * 1024 * 1024;
/** Default cap of the data file per target. */
export const DEFAULT_TARGET_DATA_BYTES = 64 * 1024 * 1024 * 1024;
/** Heap allocation unit: runs and manifest copies own whole chunks. */
export const CHUNK_BYTES = 256 * 1024;
/** Runs at which writers wait for the merge in progress (bounds the runs a read probes: a bloom probe each). */
export const MAX_RUNS_BEFORE_STALL = 20;
/**
 * Runs of one size tier merged together. Eight, not four: an entry is rewritten log8 instead of
 * log4 times as the data grows (300k new-object puts on 16 targets: 10 merges instead of 35, the
 * last 50k puts at 0.79-0.96x of the first 50k instead of 0.58-0.60x), and reads after it were
 * faster too (no merge backlog competing with them), for at most 7 runs per tier to probe.
 */
export const MERGE_FANIN = 8;
/**
 * Space merges (every run merged, which frees the extents of singles replaced at their epoch in
 * later runs): the first when DATA_SPACE_MERGE_FIRST_BYTES (or half the data file, if less) is in
 * use; each next one when the data in use has doubled since the last (at least
 * DATA_SPACE_MERGE_MIN_STEP_BYTES more), or, if sooner, over half the file is in use and 1/this of
 * it was written since. Keys overwritten in place then keep the file's written part (the pages a
 * store touches: ~15 us of CPU per first touch here, and page cache) near twice their size instead
 * of half the file; data that only grows is merged at doublings, a bounded share of its writes.
 */
const DATA_SPACE_MERGE_STEP = 8;
/** See DATA_SPACE_MERGE_STEP. */
const DATA_SPACE_MERGE_FIRST_BYTES = 16 * 1024 * 1024;
/** See DATA_SPACE_MERGE_STEP. */
const DATA_SPACE_MERGE_MIN_STEP_BYTES = 4 * 1024 * 1024;
/** Merges or background aggregations one write may start or wait for when it finds the data file full, before `NO_SPACE`. */
const SPACE_WAITS_PER_WRITE = 3;
/**
 * Durable manifest commits, flushes or merges in flight one write (or one committer's staging) may
 * wait for when it finds the metadata file at its cap, before `NO_SPACE`: each releases chunks when
 * it ends (see `chunksInFlight`), and at most a few are ever in flight (one per committer), so a
 * bound this size only guards against work that keeps coming and frees nothing.
 */
const COMMIT_WAITS_PER_WRITE = 8;
/** Discards kept per container before a full merge applies them. */
export const MAX_TOMBS = 32;
/** Entries merged between two yields to the event loop. */
const YIELD_EVERY = 512;
/** Log fill (fraction of a region) at which a rotation and flush start in the background (default). */
export const ROTATE_FILL_DEFAULT = 0.75;
/** Log fill at which a store first starts the flush workers (early: under load a worker took ~2.5 s to start, 20k puts of the io puts shape; a store written less starts none). */
const FLUSH_WARM_FILL = 0.05;
/** Bounds of `rotateFill`: below, flushes of small memtables; above, writers meet a full region before the flush is done. */
export const ROTATE_FILL_MIN = 0.5;
export const ROTATE_FILL_MAX = 0.9;
/** Updates stop this many heap chunks before the flush-and-commit reserve, so punch + aggregate can still merge. */
export const MERGE_HEADROOM_CHUNKS = 4;
/**
 * Runs of at most this many bytes are folded with the memtable by a background aggregation on the
 * event loop, in steps, not on a worker (see `foldMemtable`). Measured on 2 cores, 4 KiB updates
 * with an aggregation every 4,096 in the background (100 KiB of runs): 2.2-3.5x the update rate
 * and a third of the CPU of a fold on a worker.
 */
export const BACKGROUND_FOLD_HERE_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Merges of runs holding fewer bytes than this run on the store's thread, in steps, not on a
 * worker (see `TargetOptions.mergeOnWorkerBytes`): such a merge costs a few milliseconds here,
 * less than its round trip to a worker, and a store that only ever merges small runs (one that
 * aggregates often) never starts a merge worker (about 155 ms of CPU and a thread's memory).
 */
export const MERGE_HERE_MAX_BYTES = 256 * 1024;
/**
 * While no merge worker of the process is up, merges of runs holding fewer bytes than this also
 * run on the store's thread: starting a worker costs about 155 ms of CPU, and its first merges run
 * cold (unoptimised code), more than such a merge costs here. A store that only ever merges runs
 * this small (1,024 keys overwritten in place: seven runs of ~60 KiB) never starts one, up to
 * MERGE_HERE_COLD_BUDGET_BYTES of such merges per process. Measured,
 * 4 KiB overwrites of 1,024 keys, 3 pairs at load 6-7: 5.1-8.5 us of CPU per update against
 * 6.8-14.6 with a worker started for them.
 */
export const MERGE_HERE_COLD_MAX_BYTES = 4 * 1024 * 1024;
/**
 * Input bytes the process's stores merge on their threads under MERGE_HERE_COLD_MAX_BYTES before
 * the next such merge starts a worker after all: past this much merge work here, a worker's start
 * is paid back (several stores of a pool in one process merge far more than one store overwriting
 * a few keys).
 */
export const MERGE_HERE_COLD_BUDGET_BYTES = 16 * 1024 * 1024;
/** The process's account of `MERGE_HERE_COLD_BUDGET_BYTES` (`budgetBytes` may be lowered by tests). */
export const coldMerges = { budgetBytes: MERGE_HERE_COLD_BUDGET_BYTES, usedBytes: 0 };
/** Smallest heap (chunks after the log regions) a target is created with: the reserves need room. */
export const MIN_HEAP_CHUNKS = 16;

/**
 * The checksum a single value is stored with (XXH64 under the store's seed): a caller writing one
 * value to several replicas computes it once and passes it to `updateSingleNow`.
 */
export function valueChecksum(value: Uint8Array): bigint {
  return xxh64(value, CSUM_SEED);
}

/** A data-file `NO_SPACE` (no free extent: `allocData`), which a merge or an aggregation may cure; not the metadata file's. */
function isDataFull(e: unknown): boolean {
  return (e as CairnError)?.code === 'NO_SPACE' && (e as VosError).info?.need !== undefined;
}

/** A metadata-file `NO_SPACE` (heap chunks at the cap: `admit`), which the end of a durable commit in flight may cure. */
function isMetaFull(e: unknown): boolean {
  return (e as CairnError)?.code === 'NO_SPACE' && (e as VosError).info?.need === undefined;
}

const ignore = (): void => undefined;

/**
 * Upper bound of the run bytes one logged entry becomes when its memtable is flushed: the key
 * (escaped: a zero byte takes two) twice (the entry and, at worst, an index entry of its own), the
 * version header and inline value, block offsets and headers, bloom bits and an object-table entry.
 */
function runBytesBound(dkey: Uint8Array, akey: Uint8Array, inline: number): number {
  let zeros = 0;
  for (let i = 0; i < dkey.length; i++) if (dkey[i] === 0) zeros++;
  for (let i = 0; i < akey.length; i++) if (akey[i] === 0) zeros++;
  const key = 52 + dkey.length + akey.length + zeros;
  return 2 * key + inline + 48 + 128;
}

/** Options of `TargetStore.open`. */
export interface TargetOptions {
  /** Cap of the pmem metadata file (it grows up to this). Default 1 GiB. Used when creating. */
  scmBytes?: number;
  /** Cap of the data file. Default 64 GiB (sparse). Used when creating. */
  dataBytes?: number;
  /** Values up to this many bytes live in the pmem file. Default 4096. Used when creating. */
  inlineThreshold?: number;
  /**
   * Bytes of each of the two log regions. Default: 4 MiB, 1 MiB or 256 KiB, the largest whose two
   * regions fill at most half of the file's mapped share of `residentBytes` and that the cap allows
   * (4 MiB from 64 MiB, 1 MiB from 16 MiB): 4 MiB for a lone target with the default 32 MiB, 1 MiB
   * for the targets of a 16-target pool with the default cache. The memtable holds at most one
   * region's records, so this bounds its memory; a flush costs about the same for any number of
   * overwrites of the keys it holds, so a larger region flushes overwritten keys less often.
   */
  walBytes?: number;
  /** Mapped bytes kept resident (default 32 MiB): half for the pmem file's windows, half for the verified-block cache. */
  residentBytes?: number;
  /**
   * Let the verified-block cache grow past its half of `residentBytes` as the store's runs grow:
   * by their bytes, all for the arena point reads answer from, up to this many bytes in all.
   * Default: no growth. With a fixed cache, random point reads over runs whose blocks no longer
   * fit re-read and re-verify a whole block per get (16 targets of 100 B RP_2G1 objects: 2.8-3.1
   * us of CPU per get at 151k objects, 7.5-8.8 at 201k). Memory grows only with blocks read.
   */
  blockCacheMaxBytes?: number;
  /** Acknowledged writes also survive power loss (msync + fdatasync, group-committed). */
  durable?: boolean;
  /**
   * Durable stores only: updates, punches and discards are acknowledged without a sync, and
   * `flush()` makes everything acknowledged so far durable. For a caller that keeps its own redo
   * log of those writes until `flush()` returns (a pool's journal), so a group of commits costs
   * one sync of that log instead of one per target. Flushes and merges stay durable as before
   * (the data file is synced before a manifest names its blocks).
   */
  deferSync?: boolean;
  /**
   * Log fill (fraction of a region, ROTATE_FILL_MIN..ROTATE_FILL_MAX, default 0.75) at which the
   * memtable is frozen and flushed. A pool gives its targets different fills, so targets written
   * at the same pace flush and merge at different moments, not all in the same instant.
   */
  rotateFill?: number;
  /**
   * Merge runs on the process's merge worker threads (default true; `CAIRN_MERGE_WORKERS=0` turns
   * them off for every store). Needs the mapped pmem file; stores with injected faults merge here.
   */
  mergeWorker?: boolean;
  /**
   * A background aggregation (`aggregate({ wait: false })`) folds the memtable and the runs on a
   * merge worker only when the runs hold more than this many bytes (default
   * `BACKGROUND_FOLD_HERE_MAX_BYTES`, 8 MiB; 0: always on a worker); smaller folds run on the
   * store's thread in steps (see `foldMemtable`).
   */
  foldOnWorkerBytes?: number;
  /**
   * Merges whose input runs hold fewer bytes than this run on the store's thread in steps
   * (default `MERGE_HERE_MAX_BYTES`, 256 KiB, and `MERGE_HERE_COLD_MAX_BYTES`, 4 MiB, while no
   * merge worker is up; 0: every merge on a worker when workers are on).
   */
  mergeOnWorkerBytes?: number;
  /**
   * A whole data-file value of at most this many bytes read into one buffer (`readValueInto`: a
   * whole-extent array read, `fetchArrayInto`) is copied and hashed on the store's thread
   * (`BlockDevice.readHashedSync`: out of the data file's mapping, else pread) instead of on the
   * thread pool. Default 0: always the pool, which a lone reader uses to read cells in parallel.
   * A process that serves many reads at once can set it (`cairn engine` with
   * `CAIRN_ENGINE_READ_HERE=1`): the pool hop costs a wake-up of a pool thread and a completion
   * per read. Measured under load it saved engine CPU on warm data but lowered the read rate (the
   * pool thread overlaps the copy with the next request): off by default (docs/performance.md, the
   * connected data path's history, session 15).
   */
  readHereBytes?: number;
  /** Block I/O engine of the data file. */
  io?: 'auto' | 'io_uring' | 'pread';
  /** pmem access: mmap when available (default) or pread/pwrite. */
  pmemIo?: 'auto' | 'mmap' | 'pread';
  /** O_DIRECT for the data file (default: auto when durable, else buffered). */
  direct?: boolean | 'auto';
  /** Open without writing (another process may hold the target); see `refresh()`. */
  readOnly?: boolean;
  /**
   * Create the store when the directory holds none (default true). Pools pass false when opening
   * a target they created before, so missing files are reported (`MISSING_FILE`), never taken for
   * an empty target whose reads would answer "absent".
   */
  create?: boolean;
  fault?: FaultInjector;
  signal?: AbortSignal;
}

/**
 * An array value given as the views that hold it, in order (`ContainerStore.updateArrayParts`):
 * written to the data file with one gather write and hashed there, never joined into one buffer.
 * Only values above SYNC_WRITE_MAX_BYTES and the inline threshold (never inline, never `now`).
 */
export interface ValueParts { readonly length: number; readonly parts: readonly Uint8Array[] }
/** The views of a value already in the data file (`commitPreparedData`: only its length is used). */
const NO_PARTS: readonly Uint8Array[] = Object.freeze([]);

/** State of one container on the target. */
export interface ContState {
  idx: number;
  uuid: string;
  maxEpoch: bigint;
  tombs: Tomb[];
  destroyed: boolean;
  destroyedSeq?: number;
  aggregate?: { upTo: bigint; keep: bigint[] };
  /** What flushes and merges removed under `aggregate` while it is in force (the aggregate's answer). */
  aggStats?: MergeStats;
  /** The aggregation of this container in progress (one at a time: each sets `aggregate`). */
  aggBusy?: Promise<unknown>;
  /**
   * Record sizes of array akeys this container has written since open (`ContainerStore`'s check
   * of every array update: a lookup in the runs otherwise), dropped whenever extents could go away
   * with no newer one left: a punch, a discard, an aggregation while punches exist, a heal.
   */
  recordSizes?: RecordSizes;
  /**
   * Prepared epochs not yet settled (`TargetStore.preparedEpochs`): added by a Prepare record (in
   * the log before any write it covers), removed by a Settle record or a discard that covers them,
   * kept in the manifest (version 2) so a flush that drops their log region keeps them.
   */
  prepared?: Set<bigint>;
}

/** `n` as a small integer (V8's Smi) when it is one: what a value read back or from fstat would be, had it been computed. */
function smallInt(n: number): number { return n <= 0x3fffffff && n >= 0 ? n | 0 : n; }

/**
 * A new `ContState`, every field present from the start in one order: containers created here,
 * replayed from the log or read from the manifest, with or without prepared epochs, share one
 * hidden class (a field added later would move some of them to another, and the write path
 * compiled for one would deoptimise at the other).
 */
function contState(idx: number, uuid: string, maxEpoch: bigint, tombs: Tomb[], destroyed: boolean): ContState {
  return { idx, uuid, maxEpoch, tombs, destroyed, destroyedSeq: undefined, aggregate: undefined, aggStats: undefined, aggBusy: undefined, recordSizes: undefined, prepared: undefined };
}

/** Space in use. */
export interface TargetUsage {
  scmUsed: number; scmTotal: number; scmFile: number; dataUsed: number; dataTotal: number;
  runs: number; memtableBytes: number; residentWindows: number;
}

/** What open found. */
export interface TargetOpenReport {
  created: boolean;
  /** Log records replayed. */
  records: number;
  /** A crash interrupted an append: its bytes were dropped. */
  tornAt?: number;
  /** A power loss took log records past the last sync (the log's slots say so: see src/vos/wal.ts): the log was cut here. */
  cutAt?: number;
  /** Target-wide damage (the target must be rebuilt from redundancy). */
  damage?: string;
  /** A superblock slot failed validation (the other was used; a writable open rewrites it). */
  superblockDamaged: boolean;
  /** The first manifest copy failed validation (the second was used; a writable open writes both afresh). */
  manifestCopyDamaged?: string;
  /** Milliseconds the open took. */
  ms: number;
  /**
   * How the log's records became a run (a writable open that found any): `log`, written straight
   * from the log's regions, one run each (inline single values and container records only);
   * `memtable`, through a memtable (punches, arrays, values in the data file, damage).
   */
  recovered?: 'log' | 'memtable';
}

/** Batches concurrent requests into one run of `fn`: a request is served by a run that starts after it. */
class GroupSync {
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private running = false;
  constructor(private readonly fn: () => Promise<void> | void) {}
  request(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) void this.loop();
    });
  }
  private async loop(): Promise<void> {
    this.running = true;
    try {
      // wait for the rest of this turn of the event loop: every write the commits of one group
      // make (they run in the same turn) joins this sync (it completes on the thread pool, a later
      // turn anyway)
      await yieldNow();
      while (this.waiters.length) {
        const batch = this.waiters; this.waiters = [];
        try { await this.fn(); for (const w of batch) w.resolve(); } catch (e) { for (const w of batch) w.reject(e); }
      }
    } finally { this.running = false; }
  }
}

/** Map lower-layer failures to the store's errors (`NO_SPACE`, `IO_ERROR`). */
export function toVosError(e: unknown, op: string): unknown {
  if (e instanceof VosError) return e;
  if (e instanceof CairnError) {
    if (e.code === 'NO_SPACE' || e.code === 'READ_ONLY' || e.code === 'CLOSED' || e.code === 'INVALID_ARGUMENT') return new VosError(e.code, `${op}: ${e.message}`, e.info, { cause: e });
    return new VosError('IO_ERROR', `${op}: ${e.message}`, e.info, { cause: e });
  }
  return e;
}

const yieldNow = () => new Promise<void>((r) => setImmediate(r));
/** The end of this turn of the event loop: one promise for every caller in the turn, so they resume together. */
let turnEnd: Promise<void> | undefined;
const nextTurn = (): Promise<void> => turnEnd ??= new Promise<void>((r) => setImmediate(() => { turnEnd = undefined; r(); }));
/** Writes between two yields to the event loop while a flush or merge is pending (see shareLoop). */
const BACKGROUND_SHARE_OPS = 32;

/**
 * The `rotateFill` of target `index` of a pool: spread over [ROTATE_FILL_MIN, ROTATE_FILL_MAX] by
 * the golden ratio, so any number of targets written at the same pace freeze and merge their
 * memtables at different moments (a pool of uniformly hashed writes otherwise flushes every
 * target in the same instant, and merges them all in the next).
 */
export function staggeredRotateFill(index: number): number {
  const frac = (index * 0.6180339887498949) % 1;
  return ROTATE_FILL_MIN + frac * (ROTATE_FILL_MAX - ROTATE_FILL_MIN);
}

/**
 * Default log region sizes, largest first, with the smallest cap each needs. On 1,024 keys of
 * 4 KiB overwritten at one epoch (the vos bench's overwrite row, `.scratch/ow.mjs`), 1 MiB regions
 * flushed ~7k updates at a time and spent 4.3-4.4 µs of CPU per update, 4 MiB regions 2.4-2.6 µs.
 * Both regions stay within half the mapped-resident budget: past it, the clock would drop log
 * windows and each reuse of a region would fault its pages in again (~15 µs of CPU each here).
 */
const WAL_DEFAULTS: ReadonlyArray<{ walBytes: number; minCapBytes: number }> = [
  { walBytes: 4 * 1024 * 1024, minCapBytes: 64 * 1024 * 1024 },
  { walBytes: 1024 * 1024, minCapBytes: 16 * 1024 * 1024 },
  { walBytes: 256 * 1024, minCapBytes: 0 },
];

/** The default log region size of a new target (see `WAL_DEFAULTS`); `residentBytes`: the pmem file's mapped-resident budget. */
function defaultWalBytes(capBytes: number, residentBytes: number): number {
  for (const d of WAL_DEFAULTS) if (capBytes >= d.minCapBytes && 4 * d.walBytes <= residentBytes) return d.walBytes;
  return WAL_DEFAULTS[WAL_DEFAULTS.length - 1]!.walBytes;
}

/** Choose the geometry of a new target. */
export function geometryFor(opts: { scmBytes: number; dataBytes: number; inlineThreshold: number; walBytes?: number; residentBytes?: number }): Geometry {
  const cap = opts.scmBytes;
  const wal = opts.walBytes ?? defaultWalBytes(cap, opts.residentBytes ?? DEFAULT_RESIDENT_BYTES / 2);
  if (!Number.isSafeInteger(wal) || wal < CHUNK_BYTES || wal % CHUNK_BYTES !== 0 || wal > 64 * 1024 * 1024) {
    throw new VosError('INVALID_ARGUMENT', `walBytes must be a multiple of ${CHUNK_BYTES} up to 64 MiB`, { walBytes: wal });
  }
  const heapStart = CHUNK_BYTES + 2 * wal;
  let seg = 1024 * 1024;
  while (seg < heapStart + CHUNK_BYTES) seg *= 2;
  const min = Math.ceil((heapStart + MIN_HEAP_CHUNKS * CHUNK_BYTES) / seg) * seg;
  if (cap < min) throw new VosError('INVALID_ARGUMENT', `scmBytes ${cap} is below the smallest target (${min} bytes with ${wal}-byte log regions)`, { scmBytes: cap, min });
  return geometry(seg, CHUNK_BYTES, wal, heapStart, Math.floor(cap / seg) * seg, opts.dataBytes, opts.inlineThreshold);
}

/** The store of one target. */
export class TargetStore {
  readonly conts = new Map<number, ContState>();
  readonly byUuid = new Map<string, ContState>();
  runs: Run[] = [];
  active!: Memtable;
  frozen: Memtable | undefined;
  alloc!: BlockAllocator;
  readonly verified: VerifiedBlocks;
  /** Damaged blocks found by reads and scrubs, by block offset. */
  readonly damagedBlocks = new Map<number, BlockDamage>();
  damage: string | undefined;
  openReport!: TargetOpenReport;
  nextSeq = 1;
  private nextRunId = 1;
  private nextContIdx = 1;
  /** The state of record in memory (staged by the newest commit; its `gen` is not used: see `slotSb`). */
  private sb!: Superblock;
  /** The superblock last written to a slot (the next commit's generations follow it). */
  private slotSb!: Superblock;
  /** The last durable manifest commit not yet done (the next one writes its slots after it: `commitManifest`). */
  private commitTail: Promise<void> | undefined;
  /** Durable manifest commits staged and not yet done (at most one per kind of committer). */
  commitInFlight = 0;
  /**
   * Called at each phase of a manifest commit (tests and diagnostics: crash tests kill the process
   * there): 'staged' (new state in memory, manifest copies written), 'synced' (runs and copies
   * durable; with two syncs, the commit slot too), 'committed' (the commit slot durable), 'written'
   * (the other slot durable), 'released' (the old state's space free). Not durable: no sync phases
   * ('staged', 'released'). `twoSyncs`: the commit takes two syncs, not three (`syncCommit`).
   */
  onCommitPhase: ((phase: 'staged' | 'synced' | 'committed' | 'written' | 'released', twoSyncs: boolean) => void) | undefined;
  /** Data extents freed by commits not yet durable: free in every manifest written, reused only once theirs is durable. */
  private readonly commitFreed: ExtentList[] = [];
  /** Log generation the superblock before the current one counts as flushed (0: unknown). */
  private prevWalFlushedGen = 0;
  /** Why the first manifest copy could not be read at open (the second was used). */
  private manifestCopyDamaged: string | undefined;
  private wal!: Wal;
  /** The log's active generation and tail now (tests and tools: where a power loss would cut it). */
  get logPosition(): SyncMark { return this.wal.position(); }
  private heapFree: number[] = [];
  private pendingChunkFree: number[] = [];
  private readonly allocsByGen = new Map<number, Array<[number, number]>>();
  private readonly inflightAllocs = new Map<number, number>();
  /**
   * Data extents freed while reads may still be reading them, released after a grace period: a
   * free waits only for the reads that began before it (reads are counted in two generations,
   * `readsIn`; a grace period moves `deferredFree` to `graceFree` and new reads to the other
   * generation), so frees are released under a steady stream of reads too.
   */
  private deferredFree = new ExtentList();
  private graceFree = new ExtentList();
  private readonly readsIn = [0, 0];
  private readGen = 0;
  private ops = 0;
  private drained: Array<() => void> = [];
  private closed = false;
  private flushing: Promise<void> | undefined;
  private flushError: unknown;
  private compacting: Promise<void> | undefined;
  /** Data-file bytes in use at which the next flush merges every run to free space (see `scheduleCompaction`). */
  private spaceMergeAt = -1; // (-1: none yet, see DATA_SPACE_MERGE_STEP)
  /** A merge started because the data file was full (`mergeForSpace`); writers that find it full wait for it. */
  private spaceMerge: Promise<void> | undefined;
  private compactAbort = false;
  /** Merges go to the merge workers (see `TargetOptions.mergeWorker`). */
  private mergeAway = false;
  /** See `TargetOptions.foldOnWorkerBytes`. */
  private foldAwayBytes = BACKGROUND_FOLD_HERE_MAX_BYTES;
  /** See `TargetOptions.readHereBytes`. */
  private readHereBytes = 0;
  /** See `TargetOptions.mergeOnWorkerBytes`. */
  private mergeAwayBytes = MERGE_HERE_MAX_BYTES;
  /** See `MERGE_HERE_COLD_MAX_BYTES` (`mergeOnWorkerBytes` sets both). */
  private mergeColdBytes = MERGE_HERE_COLD_MAX_BYTES;
  /** Stop flag of the merge running on a worker. */
  private mergeAbort: Int32Array | undefined;
  /** Merges and flushes done on workers (tests, stats). */
  workerJobs = 0;
  /** Aggregation folds among them (see `foldAggregate`). */
  workerFolds = 0;
  private persistedAt = 0;
  private sinceYield = 0;
  private readonly enc = new WalEncoder();
  /** The id of the update being appended, read into words (`appendUpdate`). */
  private readonly oidKey = new OidKey();
  private readonly commitSync: GroupSync;
  private readonly dataSync: GroupSync;
  private engineReason = '';
  /** Compactions (merges) committed since open. */
  compactions = 0;
  /** Flushes committed since open. */
  flushes = 0;
  /** Group syncs of the log that acknowledged updates, punches or discards waited for (durable stores that sync per write), since open. */
  commitSyncs = 0;
  /** Aggregations since open that folded the memtable and the container's runs into runs (counted in flushes and compactions too). */
  folds = 0;
  /**
   * Entries (of every container) the folds of aggregations read, since open: the memtable's and
   * the input runs'. An aggregation of one container reads only the runs holding its keys, so this
   * grows by that container's data and the memtable, not by the other containers on the target.
   */
  aggregateEntries = 0;
  /** Entries of the runs merges (compactions, space merges, aggregations' merges) took as inputs, since open. */
  mergeInputEntries = 0;
  /** What aggregations run in the background (`aggregateInBackground`) removed, since open. */
  readonly aggregatedInBackground: MergeStats & { scmBytesFreed: number; aggregations: number } = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0, scmBytesFreed: 0, aggregations: 0 };
  /** The aggregation running in the background (at most one per target: the next waits for it). */
  private background: Promise<void> | undefined;
  /** Why the last background aggregation failed; thrown to the next caller of `aggregateInBackground`. */
  private backgroundError: unknown;
  /** Background aggregations asked for while one runs: the newest per container. */
  private readonly backgroundNext = new Map<ContState, { upTo: bigint; keep: bigint[] }>();
  /** Log fill at which the memtable is frozen and flushed (`TargetOptions.rotateFill`). */
  private rotateFill = ROTATE_FILL_DEFAULT;
  /** The flush workers were asked to start (`maybeRotate`). */
  private flushWarmed = false;
  /** Each update, punch and discard is synced before it is acknowledged (durable, not `deferSync`). */
  private syncOps = false;
  /** See `TargetOptions.blockCacheMaxBytes` (0: the cache keeps its bound). */
  private blockCacheMax = 0;

  /** Let the verified-block cache's arena grow to the runs' bytes, up to `blockCacheMax` (`TargetOptions.blockCacheMaxBytes`). */
  private fitBlockCache(): void {
    if (this.blockCacheMax <= this.verified.bound) return;
    let bytes = 0;
    for (const r of this.runs) bytes += r.meta.bytes;
    this.verified.followData(bytes, this.blockCacheMax);
  }

  private constructor(
    readonly dir: string,
    readonly space: PmemSpace,
    readonly dev: BlockDevice,
    readonly geo: Geometry,
    readonly durable: boolean,
    readonly readOnly: boolean,
    blockCacheBytes: number,
  ) {
    this.verified = new VerifiedBlocks(blockCacheBytes);
    this.commitSync = new GroupSync(() => { this.commitSyncs++; return this.persistLogAsync(); });
    this.dataSync = new GroupSync(() => this.dev.sync());
  }

  /** Open the store in `dir`, creating it when absent (unless read-only). */
  static async open(dir: string, opts: TargetOptions = {}): Promise<TargetStore> {
    const t0 = performance.now();
    throwIfAborted(opts.signal);
    const scmBytes = opts.scmBytes ?? DEFAULT_TARGET_SCM_BYTES;
    const dataBytes = opts.dataBytes ?? DEFAULT_TARGET_DATA_BYTES;
    const inlineThreshold = opts.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD;
    if (!Number.isSafeInteger(scmBytes) || scmBytes <= 0) throw new VosError('INVALID_ARGUMENT', 'scmBytes must be a positive integer', { scmBytes });
    if (!Number.isSafeInteger(dataBytes) || dataBytes < DATA_BLOCK || dataBytes % DATA_BLOCK !== 0) throw new VosError('INVALID_ARGUMENT', `dataBytes must be a positive multiple of ${DATA_BLOCK}`, { dataBytes });
    if (!Number.isSafeInteger(inlineThreshold) || inlineThreshold < 0 || inlineThreshold > MAX_INLINE_THRESHOLD) throw new VosError('INVALID_ARGUMENT', `inlineThreshold must be in [0, ${MAX_INLINE_THRESHOLD}]`, { inlineThreshold });
    if (opts.rotateFill !== undefined && !(typeof opts.rotateFill === 'number' && opts.rotateFill >= ROTATE_FILL_MIN && opts.rotateFill <= ROTATE_FILL_MAX)) {
      throw new VosError('INVALID_ARGUMENT', `rotateFill must be a number in [${ROTATE_FILL_MIN}, ${ROTATE_FILL_MAX}]`, { rotateFill: opts.rotateFill });
    }
    await initXxhash();
    const readOnly = opts.readOnly === true;
    if (!readOnly) {
      try { fs.mkdirSync(dir, { recursive: true }); } catch (e) { throw new VosError('IO_ERROR', `cannot create target directory ${dir}`, { dir }, { cause: e }); }
    }
    const scmPath = path.join(dir, SCM_FILE);
    // the resident budget, half for the pmem file's mapped windows, half for the verified-block cache
    const halfResident = Math.floor((opts.residentBytes ?? DEFAULT_RESIDENT_BYTES) / 2);
    const spaceResident = Math.max(PMEM_WINDOW_BYTES, halfResident);
    const existing = readSuperblocks(scmPath);
    let geo: Geometry;
    let sb: Superblock | undefined;
    let older: Superblock | undefined;
    let slotDamaged = false;
    if (existing.kind === 'old') throw new VosError('FORMAT_VERSION', `target ${dir} holds a store of an older Cairn format (one store per container); this build reads format 3: copy the data out with the Cairn version that wrote it and into a new pool`, { dir });
    if (existing.kind === 'found') { sb = existing.sb; older = existing.older; geo = sb.geo; slotDamaged = existing.slotDamaged; }
    else if (existing.kind === 'damaged') throw new VosError('CORRUPTED', `target ${dir}: no valid superblock (${existing.why}); the target must be rebuilt`, { dir, whole: true });
    else {
      if (readOnly || opts.create === false) throw new VosError('MISSING_FILE', `no target store in ${dir} (${SCM_FILE} is missing or empty)`, { dir });
      geo = geometryFor({ scmBytes, dataBytes, inlineThreshold, walBytes: opts.walBytes, residentBytes: spaceResident });
    }
    let space: PmemSpace;
    try {
      space = PmemSpace.open(scmPath, {
        segmentBytes: geo.segmentBytes, initialBytes: geo.segmentBytes, maxBytes: geo.maxBytes, readOnly, create: !readOnly,
        io: opts.pmemIo, residentBytes: spaceResident, fault: opts.fault,
      });
    } catch (e) { throw toVosError(e, 'open'); }
    let dev: BlockDevice;
    let engineReason: string | undefined;
    try {
      const direct = opts.direct ?? (opts.durable && !opts.deferSync ? 'auto' : false);
      const io = opts.io ?? 'auto';
      const devIo = io === 'auto' && direct === false ? 'pread' : io;
      dev = await openBlockDevice(path.join(dir, DATA_FILE), { size: geo.dataBytes, io: devIo, direct, fault: opts.fault, create: !readOnly && !sb, readOnly });
      if (devIo !== io) engineReason = 'pread: buffered data file, thread-pool writes overlap checksumming (faster here than buffered io_uring)';
    } catch (e) {
      space.close();
      throw toVosError(e, 'open');
    }
    const t = new TargetStore(dir, space, dev, geo, opts.durable ?? false, readOnly, halfResident);
    if (opts.blockCacheMaxBytes !== undefined) {
      if (!Number.isSafeInteger(opts.blockCacheMaxBytes) || opts.blockCacheMaxBytes < 0) throw new VosError('INVALID_ARGUMENT', 'blockCacheMaxBytes must be an integer >= 0', { blockCacheMaxBytes: opts.blockCacheMaxBytes });
      t.blockCacheMax = opts.blockCacheMaxBytes;
    }
    t.rotateFill = opts.rotateFill ?? ROTATE_FILL_DEFAULT;
    t.syncOps = t.durable && opts.deferSync !== true;
    t.mergeAway = opts.mergeWorker !== false && !readOnly && !opts.fault && space.engine === 'mmap';
    if (opts.foldOnWorkerBytes !== undefined) {
      if (!Number.isSafeInteger(opts.foldOnWorkerBytes) || opts.foldOnWorkerBytes < 0) throw new VosError('INVALID_ARGUMENT', 'foldOnWorkerBytes must be an integer >= 0', { foldOnWorkerBytes: opts.foldOnWorkerBytes });
      t.foldAwayBytes = opts.foldOnWorkerBytes;
    }
    if (opts.readHereBytes !== undefined) {
      if (!Number.isSafeInteger(opts.readHereBytes) || opts.readHereBytes < 0) throw new VosError('INVALID_ARGUMENT', 'readHereBytes must be an integer >= 0', { readHereBytes: opts.readHereBytes });
      t.readHereBytes = opts.readHereBytes;
    }
    if (opts.mergeOnWorkerBytes !== undefined) {
      if (!Number.isSafeInteger(opts.mergeOnWorkerBytes) || opts.mergeOnWorkerBytes < 0) throw new VosError('INVALID_ARGUMENT', 'mergeOnWorkerBytes must be an integer >= 0', { mergeOnWorkerBytes: opts.mergeOnWorkerBytes });
      t.mergeAwayBytes = opts.mergeOnWorkerBytes;
      t.mergeColdBytes = opts.mergeOnWorkerBytes;
    }
    t.engineReason = engineReason ?? dev.engineReason;
    try {
      if (!sb) t.create();
      else t.load(sb, opts.durable && older?.gen === sb.gen - 1 ? older : undefined); // (see load)
      t.openReport.superblockDamaged = slotDamaged;
      if (t.manifestCopyDamaged) t.openReport.manifestCopyDamaged = t.manifestCopyDamaged;
      // one damaged copy was survived: write fresh copies (and the damaged slot) now, so a second fault is survived too
      if (!readOnly && (slotDamaged || t.manifestCopyDamaged)) t.commitManifestNow([], [], t.sb.walFlushedGen);
      t.openReport.ms = performance.now() - t0;
    } catch (e) {
      await dev.close().catch(() => undefined);
      space.close();
      throw toVosError(e, 'open');
    }
    return t;
  }

  /** The block I/O engine of the data file, and why. */
  get ioEngine(): 'io_uring' | 'pread' { return this.dev.engine; }
  get ioEngineReason(): string { return this.engineReason; }
  /** pmem access engine (mmap or pread) and why. */
  get pmemEngine(): string { return `${this.space.engine}: ${this.space.engineReason}`; }
  get inlineThreshold(): number { return this.geo.inlineThreshold; }

  // ------------------------------------------------------------------ create / load

  private create(): void {
    this.alloc = new BlockAllocator(this.geo.dataBytes, DATA_BLOCK);
    this.initHeap(new Set());
    this.wal = Wal.create(this.space, this.walGeometry(), 1, 1, this.durable); // (durable: synced by the commit below)
    this.active = new Memtable(1);
    this.sb = { gen: 0, geo: this.geo, walFlushedGen: 0, copies: [{ len: 0, csum: 0n, chunks: [] }, { len: 0, csum: 0n, chunks: [] }] };
    this.slotSb = this.sb;
    this.commitManifestNow([], [], 0); // both slots: either one alone opens the target
    this.openReport = { created: true, records: 0, superblockDamaged: false, ms: 0 };
  }

  private walGeometry() {
    return { regions: [CHUNK_BYTES, CHUNK_BYTES + this.geo.walBytes] as [number, number], regionBytes: this.geo.walBytes, slots: TAIL_SLOTS_OFFSET };
  }

  /**
   * Reader of a frozen memtable's inline values: the log region holding them is read once (a
   * region is not reused until its flush commits), each value a view of that copy. One read and one
   * allocation per value cost most of a flush of small values.
   */
  private inlineReader(): (loc: number, len: number) => Uint8Array {
    const { regions, regionBytes } = this.walGeometry();
    let base = -1; let copy: Uint8Array | undefined;
    return (loc, len) => {
      if (copy === undefined || loc < base || loc + len > base + copy.length) {
        const r = regions.find((start) => loc >= start && loc + len <= start + regionBytes);
        if (r === undefined) return this.space.read(loc, len);
        base = r; copy = this.space.read(r, regionBytes);
      }
      return copy.subarray(loc - base, loc - base + len);
    };
  }

  /**
   * Read the manifest of `sb`, open its runs, replay the log. `older`: the other slot, one
   * generation before (durable opens only: a store written without syncs has no such promise after
   * a power loss, and a CORRUPTED there stays loud). When no copy of `sb`'s manifest reads back
   * whole, `older` is opened instead: a durable commit cut short by a power loss inside the one
   * sync of its manifest copies and its commit slot (`syncCommit`, two syncs) leaves the slot
   * without them, and the other slot's state is then whole (nothing it names is released before
   * that commit's end). The slots name two states only while a commit is cut short (or after a
   * failed write of the second slot, when the old state is kept too); naming one, the older slot's
   * copies are the same and fail too (CORRUPTED, as before).
   */
  private load(sb: Superblock, older?: Superblock): void {
    let m: Manifest;
    this.sb = sb; this.slotSb = sb;
    try {
      m = this.readManifest(sb);
    } catch (e) {
      if (!older || !(e instanceof VosError && e.code === 'CORRUPTED')) throw e;
      this.sb = older; this.slotSb = older;
      m = this.readManifest(older); // (CORRUPTED as well when it names the same copies)
      this.manifestCopyDamaged = `the newest superblock slot (generation ${sb.gen}) names no readable manifest copy (${(e as Error).message}): opened the state of the slot before it (generation ${older.gen}), a durable commit cut short`;
      sb = older;
    }
    this.applyManifest(m);
    const { wal, replay } = Wal.open(this.space, this.walGeometry(), sb.walFlushedGen, this.readOnly);
    this.wal = wal;
    const mt = new Memtable(wal.activeGen);
    // (a log of inline single values and records that change no memtable is replayed for its other
    // effects only, and written as runs straight from its regions below: see `recoverFromLog`)
    const direct = !this.readOnly && replay.damage === undefined && replay.records.every(directReplay);
    let damage = replay.damage;
    let lastSeq = 0;
    let skipped: Set<WalRecord> | undefined; // (records not applied: damage)
    for (const r of replay.records) {
      const why = this.replayRecord(direct ? undefined : mt, r);
      if (why) { damage ??= why; (skipped ??= new Set()).add(r); continue; }
      lastSeq = r.seq;
    }
    this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
    this.openReport = { created: false, records: replay.records.length, tornAt: replay.tornAt, cutAt: replay.cutAt, superblockDamaged: false, ms: 0 };
    if (damage) this.markDamaged(damage);
    if (this.damage) this.openReport.damage = this.damage; // found now, or recorded in the manifest earlier
    if (replay.cutAt !== undefined) debugLog('vos.open', `target ${this.dir}: log cut at ${replay.cutAt} (records past its last sync were not on the medium: a power loss)`);
    // (a newest region the manifest already counts as flushed means a crash came between a recovery's
    // commit and its fresh log: appending there would be skipped by the next open, so start a log too;
    // a cut log too: records of its generations a power loss kept may lie past the cut)
    if (this.readOnly || (replay.records.length === 0 && wal.frozenGen === undefined && wal.activeGen > sb.walFlushedGen && replay.cutAt === undefined)) {
      this.active = mt;
      return;
    }
    // Recovery: write what the log held as a run, then start a clean log (past every generation the
    // log named: a region whose header a power loss took may hold records of its generation).
    const flushedTo = Math.max(wal.activeGen, sb.walFlushedGen, replay.highestGen);
    this.active = new Memtable(flushedTo + 1);
    const freed = new ExtentList();
    const metas = direct && damage === undefined ? this.recoverFromLog(replay.regions, freed) : undefined;
    if (metas === undefined) {
      if (direct) for (const r of replay.records) if (!skipped?.has(r)) addLogged(mt, r, this.releaseReplayed);
      const w = new RunWriter(this.space, this.heap(), this.nextRunId++, 0);
      writeMergedSync(memtableEntries(mt, this.inlineReader()), w, { rules: (c) => this.rules(c), full: false, freed, stats: new Map() });
      const meta = w.finish();
      this.commitManifestNow(meta ? [meta] : [], [], flushedTo, freed); // both slots past the old log before it is overwritten
    } else this.commitManifestNow(metas, [], flushedTo, freed);
    this.openReport.recovered = metas === undefined ? 'memtable' : 'log';
    this.wal = Wal.create(this.space, this.walGeometry(), flushedTo + 1, this.nextSeq, this.durable); // (durable: the commit above synced)
    this.allocsByGen.clear();
  }

  /** Re-read the state another process wrote (read-only opens): commits up to now become visible. */
  async refresh(): Promise<void> {
    assert(this.readOnly, 'refresh is for read-only opens');
    this.space.refresh();
    const found = readSuperblocks(path.join(this.dir, SCM_FILE));
    if (found.kind !== 'found') throw new VosError('CORRUPTED', `target ${this.dir}: superblock unreadable on refresh`, { dir: this.dir });
    this.conts.clear(); this.byUuid.clear(); this.runs = []; this.verified.forgetRange(0, Number.MAX_SAFE_INTEGER);
    this.load(found.sb);
  }

  private readManifest(sb: Superblock): Manifest {
    const errors: string[] = [];
    let good: { m: Manifest; blob: Buffer } | undefined;
    for (const c of sb.copies) {
      try {
        const parts: Uint8Array[] = [];
        let left = c.len;
        for (const ch of c.chunks) { const n = Math.min(left, this.geo.chunkBytes); parts.push(this.space.pread(ch, n)); left -= n; }
        if (left !== 0) throw new Error('manifest chunks too short');
        const blob = Buffer.concat(parts);
        // both copies hold the same blob: the second is checked against the first (a damaged copy is noticed either way)
        if (good) { if (!blob.equals(good.blob)) throw new Error('second manifest copy differs from the first'); continue; }
        good = { m: decodeManifest(blob, c.csum), blob };
      } catch (e) { errors.push((e as Error).message); }
    }
    if (good) {
      if (errors.length) this.manifestCopyDamaged = errors[0];
      return good.m;
    }
    throw new VosError('CORRUPTED', `target ${this.dir}: both manifest copies are damaged (${errors.join('; ')}); the target must be rebuilt`, { dir: this.dir, whole: true });
  }

  private applyManifest(m: Manifest): void {
    this.nextSeq = m.nextSeq; this.nextRunId = m.nextRunId; this.nextContIdx = m.nextContIdx;
    for (const c of m.containers) {
      const st = contState(c.idx, c.uuid, BigInt(c.maxEpoch), c.tombs.map((t) => ({ after: BigInt(t.after), upTo: BigInt(t.upTo), seq: t.seq })), c.destroyed === true);
      if (c.prepared !== undefined && c.prepared.length > 0) st.prepared = new Set(c.prepared.map((e) => BigInt(e)));
      this.conts.set(st.idx, st);
      if (!st.destroyed) this.byUuid.set(st.uuid, st);
    }
    const used = new Set<number>();
    for (const j of m.runs) {
      const meta = runMetaFromJson(j);
      for (const ch of meta.chunks) used.add(ch);
      this.runs.push(new Run(this.space, meta, this.verified));
    }
    this.fitBlockCache();
    for (const c of this.sb.copies) for (const ch of c.chunks) used.add(ch);
    this.initHeap(used);
    try {
      this.alloc = BlockAllocator.fromFree(m.data.total, DATA_BLOCK, m.data.free);
    } catch (e) {
      throw new VosError('CORRUPTED', `target ${this.dir}: data free list in the manifest is inconsistent`, { dir: this.dir, whole: true }, { cause: e });
    }
    if ((m as { damaged?: string }).damaged) this.damage = (m as { damaged?: string }).damaged;
  }

  /**
   * Recovery of a log `directReplay` accepts: each region written as a run of its own, straight
   * from its bytes, as a flush job writes a frozen region (`logFlushSteps`), not through a memtable
   * and a merge (an open after a crash spent a quarter of its time there, and as much again
   * collecting what it allocated). Undefined when a region needs the memtable path (a container
   * rule covers it); nothing is written then. The runs' chunks are the store's own, so a run
   * written before a later region declined goes back to the heap.
   */
  private recoverFromLog(regions: ReplayedRegion[], freed: ExtentList): RunMeta[] | undefined {
    const metas: RunMeta[] = [];
    const writers: RunWriter[] = [];
    const declined = (): undefined => { for (const w of writers) this.heapFree.push(...w.allocated); releaseFlushBuffers(); return undefined; };
    for (const f of regions) {
      if (f.records === 0) continue;
      const w = new RunWriter(this.space, this.heap(), this.nextRunId, 0);
      writers.push(w);
      let steps: Generator<void, number> | undefined;
      try {
        steps = logFlushSteps(f.view, f, w, (c) => this.rules(c), freed, () => { throw new LogNotReplayable(); });
        if (steps === undefined) return declined();
        while (!steps.next().done);
      } catch (e) {
        if (e instanceof LogNotReplayable) return declined();
        throw e;
      }
      this.nextRunId++;
      const meta = w.finish();
      if (meta) metas.push(meta);
    }
    releaseFlushBuffers();
    return metas;
  }

  /** Apply one replayed record (to `mt` when given: see `directReplay`); returns a reason when it cannot be applied (damage). */
  private replayRecord(mt: Memtable | undefined, r: WalRecord): string | undefined {
    switch (r.type) {
      case WalType.ContCreate: {
        const st = contState(r.cont, r.uuid!, 0n, [], false);
        this.conts.set(r.cont, st); this.byUuid.set(st.uuid, st);
        this.nextContIdx = Math.max(this.nextContIdx, r.cont + 1);
        return undefined;
      }
      case WalType.ContDestroy: {
        const st = this.conts.get(r.cont);
        if (st) { st.destroyed = true; st.destroyedSeq = r.seq; st.prepared = undefined; this.byUuid.delete(st.uuid); }
        return undefined;
      }
      case WalType.Prepare:
      case WalType.Settle: {
        const st = this.conts.get(r.cont);
        if (!st) return `log record ${r.seq} names unknown container ${r.cont}`;
        if (r.type === WalType.Prepare) (st.prepared ??= new Set()).add(r.epoch);
        else for (const e of r.epochs!) st.prepared?.delete(e);
        return undefined;
      }
      case WalType.Discard: {
        const st = this.conts.get(r.cont);
        if (!st) return `log record ${r.seq} names unknown container ${r.cont}`;
        this.applyDiscard(st, r.epoch, r.upTo!, r.seq);
        return undefined;
      }
      case WalType.Punch: {
        const st = this.conts.get(r.cont);
        if (!st) return `log record ${r.seq} names unknown container ${r.cont}`;
        if (mt) addLogged(mt, r);
        if (r.epoch > st.maxEpoch) st.maxEpoch = r.epoch;
        return undefined;
      }
      case WalType.UpdateSingle:
      case WalType.UpdateArray: {
        const st = this.conts.get(r.cont);
        if (!st) return `log record ${r.seq} names unknown container ${r.cont}`;
        const u = r.update!;
        if (u.where === Where.Block) {
          if (u.blockOffset % DATA_BLOCK !== 0 || u.alloc % DATA_BLOCK !== 0 || u.blockOffset + u.alloc > this.geo.dataBytes || !this.alloc.isFree(u.blockOffset, u.alloc)) {
            return `log record ${r.seq} references data extent ${u.blockOffset}+${u.alloc} that is not free`;
          }
          this.alloc.reserve(u.blockOffset, u.alloc);
          this.noteAlloc(this.wal?.activeGen ?? 0, u.blockOffset, u.alloc);
        }
        if (mt) addLogged(mt, r, this.releaseReplayed);
        if (r.prepared === true) (st.prepared ??= new Set()).add(r.epoch); // (as a Prepare record before it)
        if (r.epoch > st.maxEpoch) st.maxEpoch = r.epoch;
        return undefined;
      }
      default:
        return `unknown log record type ${r.type}`;
    }
  }

  /** A single the replay replaced at its epoch: its extent is freed, as the write that replaced it did. */
  private readonly releaseReplayed = (v: MemVersion): void => { if (v.where === Where.Block) this.alloc.release(v.loc, v.alloc); };

  /** Record target-wide damage (persisted with the next manifest). */
  markDamaged(why: string): void {
    if (!this.damage) this.damage = why;
  }

  // ------------------------------------------------------------------ heap of chunks

  private initHeap(used: Set<number>): void {
    this.heapFree = [];
    for (let off = smallInt(this.space.size) - this.geo.chunkBytes; off >= this.geo.heapStart; off -= this.geo.chunkBytes) { // (small integers: see growHeap)
      if (!used.has(off)) this.heapFree.push(off);
    }
  }

  /**
   * A chunk source for run writers. `reserved`: merges, which must leave the flush-and-commit
   * reserve alone (a merge that would dip into it fails `NO_SPACE` and is retried later).
   */
  private heap(reserved = false): { allocChunk(): number; chunkBytes: number } {
    return {
      chunkBytes: this.geo.chunkBytes,
      allocChunk: () => {
        if (reserved && !this.ensureChunks(this.flushReserve(0) + 1)) {
          throw new VosError('NO_SPACE', 'no metadata space for a merge beyond the flush reserve', { cap: this.geo.maxBytes, freeChunks: this.heapFree.length });
        }
        if (this.heapFree.length === 0) this.growHeap();
        // (no need to forget cached blocks of a reused chunk: a cached copy serves only a
        // reference with the same offset, length and checksum, i.e. the same verified bytes)
        return this.heapFree.pop()!;
      },
    };
  }

  /** Grow the file by one segment; its chunks join the free heap (`NO_SPACE` at the cap or on a full filesystem). */
  private growHeap(): void {
    const from = this.space.size;
    this.space.grow(from + this.geo.segmentBytes);
    // (offsets as small integers where they are: the file's size comes from fstat as a heap number,
    // and one double pushed moves this array, and every run offset taken from it, to double
    // elements: the write path compiled for a created store deoptimised at a reopened one)
    for (let off = smallInt(this.space.size) - this.geo.chunkBytes; off >= from; off -= this.geo.chunkBytes) this.heapFree.push(off);
  }

  /** Heap chunks a run of `bytes` entry bytes can take (a block never spans chunks; one partial chunk at the end). */
  private runChunks(bytes: number): number {
    if (bytes <= 0) return 0;
    const usable = this.geo.chunkBytes - (2 * 4096 + this.geo.inlineThreshold + 4 * 4096 + 256);
    return Math.ceil(bytes / usable) + 1;
  }

  /** Chunks two manifest commits take (both copies, with room for the manifest to grow). */
  private commitReserve(): number {
    return 4 * (Math.ceil(this.sb.copies[0].len / this.geo.chunkBytes) + 1);
  }

  /** Free chunks that flushing both memtables plus `extraBytes` of entries, and committing, can take. */
  private flushReserve(extraBytes: number): number {
    return this.runChunks(this.active.runBound + extraBytes) + this.runChunks(this.frozen?.runBound ?? 0) + this.commitReserve();
  }

  /**
   * Make `need` heap chunks free: grow the file by segments up to its cap (allocated for real, so a
   * full filesystem shows here and never in a flush or at open), or commit once to release chunks
   * the last commit left pending. False when the cap is reached.
   */
  private ensureChunks(need: number): boolean {
    while (this.heapFree.length < need) {
      if (this.space.size + this.geo.segmentBytes <= this.geo.maxBytes) { this.growHeap(); continue; }
      // (not while a durable commit is in flight: its end releases chunks too)
      if (this.pendingChunkFree.length > 2 * this.sb.copies[0].chunks.length + 2 && this.commitManifestNow([], [], this.sb.walFlushedGen)) continue;
      return false;
    }
    return true;
  }

  /**
   * Admission of a log record that becomes `bound` run bytes: refused with `NO_SPACE` unless the heap
   * can flush everything logged (with it) and commit, so flushes and recovery at open never run out
   * of space. Updates also leave `MERGE_HEADROOM_CHUNKS`, for a punch + aggregate to merge into.
   */
  private admit(bound: number, update: boolean): void {
    // the update's fast path: the active memtable's run bound still below the limit the last
    // admission computed for the free chunks, frozen memtable and manifest it saw (none changed)
    const a = this.active.runBound + bound;
    if (update && a <= this.admitLimit && this.heapFree.length >= this.admitFree && this.frozen === this.admitFrozen && this.sb === this.admitSb) return;
    const need = this.flushReserve(bound) + (update ? MERGE_HEADROOM_CHUNKS : 0);
    if (!this.ensureChunks(need)) {
      this.admitLimit = -1;
      throw new VosError('NO_SPACE', `metadata file at its cap of ${this.geo.maxBytes} bytes: punch and aggregate, or discard, to free space`, { cap: this.geo.maxBytes, needChunks: need, freeChunks: this.heapFree.length });
    }
    if (!update) return;
    // need <= free  <=>  ceil(a / usable) <= free - (the rest of need): the largest run bound admitted as is
    const rest = need - this.runChunks(a);
    this.admitLimit = (this.heapFree.length - rest - 1) * (this.geo.chunkBytes - (2 * 4096 + this.geo.inlineThreshold + 4 * 4096 + 256));
    this.admitFree = this.heapFree.length; this.admitFrozen = this.frozen; this.admitSb = this.sb;
  }
  /** Whether `admit(bound, update)` passes now (false: the metadata file is at its cap for it). */
  private admits(bound: number, update = true): boolean {
    try { this.admit(bound, update); return true; } catch (e) { if (isMetaFull(e)) return false; throw e; }
  }

  /**
   * What frees metadata chunks when it ends, if anything is in flight: a durable commit (the old
   * state's chunks), a flush (the chunks it took ahead for its run, while its frozen memtable's
   * reserve is still counted in `flushReserve`), a merge (the chunks it took ahead, down to the
   * flush reserve, and then its inputs) or a background aggregation. A record refused by `admit`
   * while one runs may fit once it ends: an 8 MiB store refused updates with a merge in flight
   * after 4,907 values of the ~9,200 it holds (test/vos/nospace-inflight); a pool rebuild's writes
   * meet it (likely test/pool/crash-rebalance's rare NO_SPACE). Undefined when nothing is in flight: `NO_SPACE` then means full.
   */
  private chunksInFlight(): Promise<unknown> | undefined {
    return this.commitTail ?? this.flushing ?? this.compacting ?? this.background;
  }

  /**
   * Before appending a record of `bound` run bytes (room in the log checked): when `admit` refuses
   * it now and something in flight frees chunks when it ends (`chunksInFlight`), the end of that,
   * to wait for and then make room and ask again (at most COMMIT_WAITS_PER_WRITE `waits`).
   * Undefined: append now, with no await in between (admitted, or the append gives `NO_SPACE`).
   */
  private chunksToWaitFor(bound: number, update: boolean, waits: number): Promise<void> | undefined {
    if (waits >= COMMIT_WAITS_PER_WRITE) return undefined;
    const p = this.chunksInFlight();
    if (p === undefined || this.admits(bound, update)) return undefined;
    return p.then(ignore, ignore);
  }
  /** What `admit`'s fast path compares (see there): the run bound admitted without computing, and the state it was computed for. */
  private admitLimit = -1;
  private admitFree = 0;
  private admitFrozen: Memtable | undefined;
  private admitSb: Superblock | undefined;

  // ------------------------------------------------------------------ manifest commit

  private rules(cont: number): ContainerRules | undefined {
    const st = this.conts.get(cont);
    return st && { destroyed: st.destroyed, tombs: st.tombs, aggregate: st.aggregate };
  }

  /**
   * The JSON of each run's descriptor, made once (a run never changes): every commit writes every
   * run's, and encoding them all again (hex of each index block's first key, checksums) was most
   * of a flush's commit on the store's thread.
   */
  private readonly runJsons = new WeakMap<RunMeta, string>();

  private runJson(r: Run): string {
    let j = this.runJsons.get(r.meta);
    if (j === undefined) { j = JSON.stringify(runMetaToJson(r.meta)); this.runJsons.set(r.meta, j); }
    return j;
  }

  /** The manifest of the current state, its runs left out (`encodeManifest` takes their JSON apart: `runJson`). */
  private buildManifest(walFlushedGen: number): Manifest {
    let prepared = false;
    const containers: ManifestContainer[] = [...this.conts.values()].map((c) => {
      const p = c.prepared !== undefined && c.prepared.size > 0 && !c.destroyed ? { prepared: [...c.prepared].map((e) => e.toString()) } : {};
      if (p.prepared) prepared = true;
      return {
        idx: c.idx, uuid: c.uuid, maxEpoch: c.maxEpoch.toString(), tombs: c.tombs.map((t) => ({ after: t.after.toString(), upTo: t.upTo.toString(), seq: t.seq })),
        ...(c.destroyed ? { destroyed: true } : {}), ...p,
      };
    });
    // Extents allocated by log records not yet in runs, or by writes still in flight, are free in
    // the persistent state (a replay re-allocates the logged ones); frees not yet released are free too.
    const extra = new ExtentList();
    for (const [off, n] of this.inflightAllocs) extra.push(off, n);
    for (const [gen, list] of this.allocsByGen) if (gen > walFlushedGen) for (const [off, n] of list) extra.push(off, n);
    const m: Manifest = {
      version: prepared ? 2 : 1, nextSeq: this.nextSeq, nextRunId: this.nextRunId, nextContIdx: this.nextContIdx, walFlushedGen,
      containers, runs: [], data: { total: this.geo.dataBytes, free: freeSnapshot(this.alloc, extra, this.deferredFree, this.graceFree, ...this.commitFreed) },
    };
    if (this.damage) (m as Manifest & { damaged?: string }).damaged = this.damage;
    return m;
  }

  /**
   * Make a new state the state of record: add `add` runs, drop `remove` runs, note the log
   * generation now held in runs, and release data extents of dropped versions. Writes both manifest
   * copies into fresh chunks, then one superblock slot (the commit point), then the other slot with
   * the same state: chunks of the old state are free at once and a rotation needs no commit.
   *
   * Two halves. `stageCommit` (synchronous) makes the new state the one reads and the next commit
   * see and writes its manifest copies; nothing the old state names is freed yet. `finishCommit`
   * writes the superblock slots and then releases what the old state alone named (its manifest
   * chunks, the removed runs' chunks, the data extents `freedData` lists). Not durable: both now,
   * and this returns undefined. Durable: the syncs are fdatasyncs on the thread pool (two when
   * `runsSynced`, the runs it adds on the medium already; else three: see `syncCommit`), and this
   * returns the promise of the commit
   * (`commitInFlight`): updates and reads go on meanwhile; a second commit stages at once (its
   * manifest includes the first's state) and writes its slots after the first's (`commitTail`,
   * one link per commit: flush, merge, heal and a rotation each commit one at a time). A SIGKILL
   * anywhere in the window finds the old state or the new one, whole: nothing the old state names
   * is reused before the new one is durable. Throws (state unchanged) when staging fails; the
   * promise rejects when a sync failed, after marking the target damaged (nothing is released:
   * which slot holds what is unknown).
   */
  private commitManifest(add: RunMeta[], remove: Run[], walFlushedGen: number, freedData?: ExtentList, runsSynced = add.length === 0): Promise<void> | undefined {
    const staged = this.stageCommit(add, remove, walFlushedGen, freedData, this.durable && runsSynced);
    if (!this.durable) { this.finishCommit(staged); return undefined; }
    const prev = this.commitTail;
    const p = this.syncCommit(staged, prev);
    this.commitTail = p;
    this.commitInFlight++;
    const done = (): void => { this.commitInFlight--; if (this.commitTail === p) this.commitTail = undefined; };
    p.then(done, done);
    return p;
  }

  /**
   * Before a committer that can wait (flush, fold, merge, heal) stages its commit. Two commits'
   * manifest copies are reserved (`commitReserve`: a flush's and a merge's in flight at once); a
   * third committer in flight (a heal, a rotation's fallback commit) can leave a staging at the
   * metadata file's cap without chunks for its copies. Then this waits for the commits in flight
   * (`commitTail`: their ends release the old states' chunks), a bounded number of times, and the
   * staging that follows finds them free (or fails `NO_SPACE` as before, state unchanged).
   * Undefined, nothing to wait for, on the common path.
   */
  private roomToStage(): Promise<void> | undefined {
    if (!this.commitTail || !this.stageShort()) return undefined;
    return (async () => {
      for (let waits = 0; this.commitTail && waits < COMMIT_WAITS_PER_WRITE && this.stageShort(); waits++) await this.commitTail.catch(ignore);
    })();
  }

  /** Fewer free chunks than one commit's two copies may take, and the file at its cap. */
  private stageShort(): boolean {
    return this.heapFree.length < this.commitReserve() / 2 && this.space.size + this.geo.segmentBytes > this.geo.maxBytes;
  }

  /**
   * `commitManifest` for the callers that cannot wait (open, a commit to free chunks at the cap,
   * a rotation's fallback commit): done before this returns, the durable syncs on this thread.
   * False (nothing done) while a durable commit is in flight: its slots are not written yet.
   */
  private commitManifestNow(add: RunMeta[], remove: Run[], walFlushedGen: number, freedData?: ExtentList): boolean {
    if (this.commitTail) return false;
    const staged = this.stageCommit(add, remove, walFlushedGen, freedData);
    if (this.durable) this.space.persistAll();
    this.finishCommit(staged, this.durable);
    return true;
  }

  /** The synchronous half of `commitManifest`: the new state in memory and its manifest copies written. */
  private stageCommit(add: RunMeta[], remove: Run[], walFlushedGen: number, freedData?: ExtentList, twoSyncs = false): StagedCommit {
    // a new list (never changed in place): readers and the point index hold the list they began with
    const gone = new Set(remove);
    const runs = remove.length > 0 ? this.runs.filter((r) => !gone.has(r)) : this.runs.slice();
    for (const meta of add) runs.push(new Run(this.space, meta, this.verified));
    // freed data extents: free in the manifest being written (and in every later one), released in
    // memory once it is durable (`finishCommit`)
    const freed = freedData && freedData.length > 0 ? freedData : undefined;
    if (freed) this.commitFreed.push(freed);
    let copies: Superblock['copies'];
    const heap = this.heap();
    const taken: number[] = [];
    try {
      const m = this.buildManifest(walFlushedGen);
      const { blob, csum } = encodeManifest(m, runs.map((r) => this.runJson(r)));
      const per = this.geo.chunkBytes;
      const nChunks = Math.ceil(blob.length / per);
      if (nChunks > MAX_MANIFEST_CHUNKS) throw new VosError('NO_SPACE', 'manifest larger than a superblock can describe', { bytes: blob.length });
      copies = [0, 1].map(() => {
        const chunks: number[] = [];
        for (let i = 0; i < nChunks; i++) {
          const ch = heap.allocChunk();
          chunks.push(ch); taken.push(ch);
          const part = blob.subarray(i * per, Math.min(blob.length, (i + 1) * per));
          this.space.pwrite(ch, part);
        }
        return { len: blob.length, csum, chunks };
      }) as Superblock['copies'];
    } catch (e) {
      if (freed) this.commitFreed.pop();
      this.heapFree.push(...taken);
      throw e;
    }
    this.runs = runs;
    this.fitBlockCache();
    for (const r of remove) r.retired = true;
    // the chunks of runs no reader pins are the commit's to free (a pinned one goes to
    // pendingChunkFree when unpinned: see scrub)
    const runChunks: number[] = [];
    for (const r of remove) if (r.pins === 0) runChunks.push(...r.meta.chunks);
    const old = this.sb;
    this.sb = { gen: old.gen, geo: this.geo, walFlushedGen, copies };
    for (const [gen] of this.allocsByGen) if (gen <= walFlushedGen) this.allocsByGen.delete(gen);
    this.onCommitPhase?.('staged', twoSyncs);
    return { sb: this.sb, oldCopies: old.copies, runChunks, freed, twoSyncs };
  }

  /**
   * The second half of `commitManifest`: both superblock slots (generations after the last slot
   * written), then the old state's chunks and the commit's freed extents released. `sync`: each
   * slot persisted before the next step (durable, on this thread; `syncCommit` syncs on the pool).
   */
  private finishCommit(c: StagedCommit, sync = false): void {
    const old = this.slotSb;
    // The commit point is the first slot written. Then the other slot gets the same state (one
    // generation on), so the fallback slot never names the old state: the log region it needed and
    // the chunks of the old state are free at once, and a rotation needs no commit of its own.
    const first: Superblock = { ...c.sb, gen: old.gen + 1 };
    this.writeSlot(first, sync);
    const second: Superblock = { ...c.sb, gen: old.gen + 2 };
    let both = true;
    try { this.writeSlot(second, sync); } catch { both = false; /* committed: the fallback slot keeps the old state */ }
    this.slotWritten(c, first, second, both);
  }

  /**
   * `finishCommit` with durable syncs on the thread pool, after the commit before it (`prev`) is done.
   *
   * `c.twoSyncs` (`commitManifest`'s `runsSynced`: the runs it adds are on the medium already, a
   * worker synced its output before answering, or it adds none): the commit slot is written with
   * the manifest copies and one sync takes both, then the other slot and a second sync. A power loss inside the first sync can leave
   * the commit slot on the medium without its copies: the open then finds both copies of the newest
   * slot unreadable and takes the other slot (`open`), which names the state before this commit,
   * whole (nothing it names is released before this commit's end, and its log regions are not
   * reused before then). That fallback can only meet a state older than the newest slot's while a
   * commit is cut short: once both slots are written they name one state. Otherwise three syncs:
   * the new runs and the copies reach the medium before a slot names them (an open does not read
   * every block of a run to find one torn).
   */
  private async syncCommit(c: StagedCommit, prev: Promise<void> | undefined): Promise<void> {
    const runsSynced = c.twoSyncs;
    try {
      if (prev) await prev; // (its failure is this one's: the target is damaged)
      const old = this.slotSb;
      const first: Superblock = { ...c.sb, gen: old.gen + 1 };
      const wal = this.wal, at = wal.position(); // (a sync of the whole file: the log's too)
      if (runsSynced) {
        this.writeSlot(first, false);
        await this.space.persistAsync(); // (the copies and the commit slot)
        this.onCommitPhase?.('synced', true);
      } else {
        // the new runs and both manifest copies reach the medium before a superblock names them
        await this.space.persistAsync();
        this.onCommitPhase?.('synced', false);
        this.writeSlot(first, false);
        await this.space.persistAsync();
      }
      this.onCommitPhase?.('committed', runsSynced);
      if (this.wal === wal) wal.markSynced(at);
      const second: Superblock = { ...c.sb, gen: old.gen + 2 };
      let both = true;
      try { this.writeSlot(second, false); await this.space.persistAsync(); } catch { both = false; }
      this.onCommitPhase?.('written', runsSynced);
      this.slotWritten(c, first, second, both);
    } catch (e) {
      this.markDamaged(`manifest commit failed: ${(e as Error).message}`);
      throw toVosError(e, 'manifest commit');
    }
  }

  /** After a commit's slots: the last slot written, and what the old state alone named released. */
  private slotWritten(c: StagedCommit, first: Superblock, second: Superblock, both: boolean): void {
    const old = this.slotSb;
    const release = this.pendingChunkFree;
    this.pendingChunkFree = [];
    const oldChunks = both ? release : this.pendingChunkFree;
    for (const x of c.oldCopies) oldChunks.push(...x.chunks);
    oldChunks.push(...c.runChunks);
    this.slotSb = both ? second : first;
    this.prevWalFlushedGen = both ? c.sb.walFlushedGen : old.walFlushedGen;
    // chunks no slot names any more (a run a reader still pins goes to pendingChunkFree when unpinned)
    this.heapFree.push(...release);
    if (c.freed) {
      const i = this.commitFreed.indexOf(c.freed);
      if (i >= 0) this.commitFreed.splice(i, 1);
      this.deferredFree.pushAll(c.freed);
    }
    this.reclaim();
    this.onCommitPhase?.('released', c.twoSyncs);
  }

  /** Store superblock `sb` in its slot (by generation); `sync`: on the medium when this returns. */
  private writeSlot(sb: Superblock, sync: boolean): void {
    const slot = (sb.gen % 2) * SB_SLOT_BYTES;
    this.space.write(slot, encodeSuperblock(sb));
    if (sync) this.space.persist(slot, SB_SLOT_BYTES);
  }

  // ------------------------------------------------------------------ log, memtable, flush

  /** Count an allocation made by a record of log generation `gen` (free in manifests until flushed). */
  private noteAlloc(gen: number, off: number, len: number): void {
    let l = this.allocsByGen.get(gen);
    if (!l) { l = []; this.allocsByGen.set(gen, l); }
    // consecutive allocations are usually adjacent: one range (manifests list these as free)
    const last = l[l.length - 1];
    if (last && last[0] + last[1] === off) last[1] += len;
    else l.push([off, len]);
  }

  /** Wait until a record of `len` bytes fits the active log region (rotating and flushing as needed). */
  private async makeRoom(len: number): Promise<void> {
    for (let spins = 0; !this.wal.fits(len); spins++) {
      assert(spins < 1000, 'log room never appeared', { len });
      if (this.flushError) { const e = this.flushError; this.flushError = undefined; throw toVosError(e, 'update'); }
      if (this.flushing) { await this.flushing.catch(() => undefined); continue; }
      if (this.frozen) { this.startFlush(); continue; }
      if (!this.rotate()) await this.commitTail?.catch(ignore); // (a commit the rotation needs is in flight: after it)
    }
  }

  /**
   * Freeze the active memtable and log region; flush in the background (unless `flush` is false:
   * the caller folds it). `waited`: the caller waits for that flush (see `Memtable.waited`).
   *
   * The region about to be reused holds generation activeGen - 1, in runs since the last flush
   * commit. The other superblock slot (the fallback if the newest is damaged) must not need it any
   * more: when it may (`prevWalFlushedGen`: the first rotation after an open, or a commit whose
   * second slot write failed), a commit writes both slots past it first. False, nothing rotated,
   * while a durable commit is in flight (its end writes both slots, or the next call commits): the
   * caller waits for `commitTail` and calls again. Throws, nothing rotated and the state unchanged,
   * when that commit cannot be made: a typed `NO_SPACE` when no space was found for its manifest
   * copies (the metadata file at its cap, the filesystem full). The region is never reused while
   * the fallback slot needs it.
   */
  private rotate(flush = true, waited = false): boolean {
    assert(this.frozen === undefined && this.wal.canRotate, 'rotate with a frozen memtable pending');
    if (this.prevWalFlushedGen < this.wal.activeGen - 1) {
      let done: boolean;
      try { done = this.commitManifestNow([], [], this.sb.walFlushedGen); } catch (e) {
        if ((e as CairnError)?.code !== 'NO_SPACE') throw toVosError(e, 'log rotation');
        // (a metadata-file NO_SPACE, as `admit` reports it: no `need`, so no data-file retry takes it for one)
        throw new VosError('NO_SPACE', `log rotation: no space for the manifest commit that must come before the log region is reused (${(e as Error).message})`, { cap: this.geo.maxBytes, freeChunks: this.heapFree.length }, { cause: e });
      }
      if (!done) return false;
    }
    this.wal.rotate(this.nextSeq);
    this.frozen = this.active;
    this.frozen.waited = waited;
    this.active = new Memtable(this.wal.activeGen, this.frozen.objectCounts());
    if (flush) this.startFlush();
    return true;
  }

  private startFlush(): void {
    if (this.flushing || !this.frozen) return;
    const mt = this.frozen;
    this.flushing = this.flushMemtable(mt).then(
      () => { this.flushing = undefined; },
      (e) => { this.flushing = undefined; this.flushError = e; },
    );
  }

  private async flushMemtable(mt: Memtable): Promise<void> {
    if (await this.memtableOnWorker(mt)) { this.flushed(mt); return; }
    const w = new RunWriter(this.space, this.heap(), this.nextRunId++, 0);
    const freed = new ExtentList();
    let c: Promise<void> | undefined;
    try {
      const steps = flushMemtable(mt, w, (c) => this.rules(c), this.inlineReader(), freed, (c) => this.conts.get(c)?.aggStats);
      while (!steps.next().done) await yieldNow();
      const meta = w.finish();
      await this.syncDeferredData();
      { const room = this.roomToStage(); if (room) await room; }
      c = this.commitManifest(meta ? [meta] : [], [], mt.gen, freed);
    } catch (e) {
      this.heapFree.push(...w.allocated);
      throw e;
    }
    await this.committed(mt, c);
    this.flushed(mt);
  }

  /**
   * After a flush's or fold's `commitManifest` staged: reads take the run from now on, not frozen
   * memtable `mt` (in the same turn as the runs changed); its log region is reused only once the
   * commit `c` is durable (`flushed`, `folded`).
   */
  private async committed(mt: Memtable, c: Promise<void> | undefined): Promise<void> {
    if (this.frozen === mt) this.frozen = undefined;
    if (c) await c;
  }

  /** After the commit of `mt`'s flush: its log region may be reused. */
  private flushed(mt: Memtable): void {
    this.wal.flushed(mt.gen);
    if (this.frozen === mt) this.frozen = undefined;
    this.flushes++;
    this.scheduleCompaction();
  }

  /** `deferSync`: the data file's blocks a memtable names reach the medium before a run that names them is committed. */
  private async syncDeferredData(): Promise<void> {
    if (this.durable && !this.syncOps) await this.dataSync.request();
  }

  /**
   * Start a rotation in the background when the log region is filling up. The first time the
   * region is FLUSH_WARM_FILL full, the flush workers are started (when this store flushes on
   * them): a worker took ~2.5 s to start under load (load 15-20), and a flush that finds none up runs
   * on this thread (the first flushes of a put stream did: 9 of 60, ~15% of the thread's CPU over
   * 100k puts).
   */
  private maybeRotate(): void {
    const used = this.wal.used;
    if (!this.flushWarmed && used >= FLUSH_WARM_FILL * this.geo.walBytes) this.warmFlushes();
    if (this.frozen || this.flushing || this.closed || used < this.rotateFill * this.geo.walBytes) return;
    // (after an append: nothing thrown to its writer; a writer that needs the room meets a failure in makeRoom)
    try { this.rotate(); } catch { /* not rotated: see makeRoom */ }
  }

  /** Start the flush workers, once (see `maybeRotate`). */
  private warmFlushes(): void {
    this.flushWarmed = true;
    if (this.mergeAway && !this.closed) mergeWorkers()?.warm('flush');
  }

  /** Write everything in the memtables into runs (aggregate, close). */
  async flushAll(): Promise<void> {
    // until nothing is frozen or flushing (another caller, a fold or a rotation may freeze one
    // while this one waits), then rotate with no await in between
    for (;;) {
      while (this.flushing) await this.flushing;
      if (this.flushError) { const e = this.flushError; this.flushError = undefined; throw toVosError(e, 'flush'); }
      if (this.frozen) { this.startFlush(); continue; }
      // also when only discards or container records are in the log: they too must be in the manifest
      if (this.active.records === 0 && this.wal.used <= REGION_HEADER) break;
      if (this.rotate(true, true)) { await this.flushing; break; }
      await this.commitTail?.catch(ignore); // (a commit the rotation needs is in flight: after it)
    }
    if (this.flushError) { const e = this.flushError; this.flushError = undefined; throw toVosError(e, 'flush'); }
  }

  // ------------------------------------------------------------------ compaction

  private scheduleCompaction(): void {
    if (this.compacting || this.closed) return;
    const byLevel = new Map<number, Run[]>();
    for (const r of this.runs) { const l = byLevel.get(r.meta.level) ?? []; l.push(r); byLevel.set(r.meta.level, l); }
    const tombs = [...this.conts.values()].some((c) => c.tombs.length > MAX_TOMBS || c.destroyed);
    const covers = this.memFloorSeq();
    // a full merge forgets only discards and destroys older than everything still in a memtable
    const settles = (c: ContState) => (c.destroyed && (c.destroyedSeq ?? 0) < covers) || (c.tombs.length > MAX_TOMBS && c.tombs.some((t) => t.seq < covers));
    const clears = [...this.conts.values()].find(settles);
    let pick: Run[] | undefined;
    let full = false;
    let only: number | undefined;
    if (tombs && this.runs.length > 0 && !this.frozen && clears) {
      // A discard or a destroy drops the versions it names from whichever run holds them: one
      // container's are settled (forgotten) once every run holding its keys was merged, with the
      // runs of the other containers left alone (a destroy beside a large container merged all of
      // that one's runs too: the cost of the target, not of the container)
      const held = this.runs.filter((r) => runHoldsCont(r.meta, clears.idx));
      if (held.length === 0) { this.settled(clears.idx, covers); this.scheduleCompaction(); return; } // (none of it in a run: nothing to merge)
      pick = held; full = true;
      if (held.length < this.runs.length) only = clears.idx;
    }
    else if (tombs && this.runs.length > 0 && !this.frozen && !this.flushing && this.active.records > 0) { try { this.rotate(); } catch { /* not now: see makeRoom */ } return; } // flush first: its end schedules again
    else for (const [, rs] of [...byLevel].sort((a, b) => a[0] - b[0])) if (rs.length >= MERGE_FANIN) { pick = levelPick(rs); break; }
    // the data file filling: merge the runs, which frees the extents of singles replaced at their
    // epoch in later runs (at most once per 1/DATA_SPACE_MERGE_STEP of the file written since the last).
    // Only runs whose key ranges overlap another's: a replaced single and its replacement hold one key,
    // so a run that shares no key range (another container's, say) has nothing to free and stays
    const space = !pick && this.runs.length >= 2 && this.alloc.used >= (this.spaceMergeAt < 0 ? Math.min(this.alloc.total / 2, DATA_SPACE_MERGE_FIRST_BYTES) : this.spaceMergeAt);
    if (space) { const o = overlappingRuns(this.runs); if (o.length >= 2) pick = o; }
    if (!pick) return;
    const inputs = pick;
    this.compacting = this.merge(inputs, full, covers, new Map(), only, false).then(
      () => {
        this.compacting = undefined;
        if (space) {
          this.reclaim();
          const used = this.alloc.used;
          this.spaceMergeAt = Math.min(Math.max(this.alloc.total / 2, used + this.alloc.total / DATA_SPACE_MERGE_STEP), Math.max(2 * used, used + DATA_SPACE_MERGE_MIN_STEP_BYTES));
        }
        this.scheduleCompaction();
      },
      (e) => { this.compacting = undefined; if (!(e instanceof CompactionAborted) && (e as CairnError).code !== 'NO_SPACE') process.emitWarning(`cairn: compaction of ${this.dir} failed: ${(e as Error).message}`); }, // near the cap a merge waits for space
    );
  }

  /** Sequence numbers below this are in runs only (not in a memtable): what a full merge may settle for good. */
  private memFloorSeq(): number {
    return Math.min(this.nextSeq, this.active.minSeq, this.frozen?.minSeq ?? Number.MAX_SAFE_INTEGER);
  }

  /**
   * Merge `inputs` into one run. `full`: every run takes part and nothing older sits in a memtable
   * below `coversSeq`, so punches, discards and destroyed containers older than it go for good.
   */
  private async merge(inputs: Run[], full: boolean, coversSeq: number, stats = new Map<number, MergeStats>(), only?: number, aggregating = true): Promise<void> {
    const level = Math.max(...inputs.map((r) => r.meta.level)) + 1;
    for (const r of inputs) this.mergeInputEntries += r.meta.entries;
    const plain = !full && [...this.conts.values()].every((c) => !c.destroyed && c.tombs.length === 0 && !c.aggregate);
    // a full merge with only aggregation policies to apply (no punches, discards or destroys): streamed
    const aggOnly = full && inputs.every((r) => r.meta.punches === 0) && [...this.conts.values()].every((c) => !c.destroyed && c.tombs.length === 0);
    // `only`: the inputs are every run holding container `only`'s keys but not every run: the merge
    // is full for that container alone (only its aggregation policy applies, punches it supersedes
    // go; its discards and destroy are settled), the others' discards and destroys stay to settle,
    // and its output is split at its bounds. `aggregating`: an aggregation's merge (its entries
    // count in `aggregateEntries`), not one that settles discards.
    const rules = only === undefined ? (c: number) => this.rules(c) : (c: number) => { const r = this.rules(c); return r && c !== only ? { ...r, aggregate: undefined } : r; };
    const settles = full;
    if (only === undefined && (plain || aggOnly) && await this.mergeOnWorker(inputs, level, plain ? 'plain' : 'aggregate', stats)) {
      this.afterMerge(settles, coversSeq, stats, only);
      return;
    }
    for (const r of inputs) r.pins++;
    const heap = this.heap(true);
    const w = only === undefined ? new RunWriter(this.space, heap, this.nextRunId++, level) : new ContainerSplitWriter(only, () => new RunWriter(this.space, heap, this.nextRunId++, level));
    const freed = new ExtentList();
    let c: Promise<void> | undefined;
    try {
      if (plain || aggOnly) {
        const steps = plain ? fastMerge(inputs, w as RunWriter, freed) : aggregateMerge(runCursors(inputs), w, rules, freed, stats);
        while (!steps.next().done) { await yieldNow(); if (this.compactAbort) throw new CompactionAborted('compaction aborted by close'); }
      } else {
        await writeMergedAsync(mergeSources(inputs.map((r) => runEntries(r))), w, { rules, full, freed, stats }, () => this.compactAbort);
      }
      const out = w.finish();
      const metas = out === undefined ? [] : Array.isArray(out) ? out : [out];
      if (only !== undefined && aggregating) for (const x of stats.values()) this.aggregateEntries += x.entriesIn;
      { const room = this.roomToStage(); if (room) await room; }
      for (const r of inputs) r.pins--;
      c = this.commitManifest(metas, inputs, this.sb.walFlushedGen, freed);
    } catch (e) {
      for (const r of inputs) if (r.pins > 0) r.pins--;
      this.heapFree.push(...w.allocated);
      throw e;
    }
    if (c) await c;
    this.afterMerge(settles, coversSeq, stats, only);
  }

  /**
   * After a merge's commit: its counts, and for a full merge the discards and destroys it settled
   * (of container `only` alone when it merged only the runs holding that container's keys).
   */
  private afterMerge(full: boolean, coversSeq: number, stats: ReadonlyMap<number, MergeStats>, only?: number): void {
    this.addAggStats(stats);
    if (full && only !== undefined) this.settled(only, coversSeq);
    else if (full) for (const idx of [...this.conts.keys()]) this.settled(idx, coversSeq);
    this.compactions++;
  }

  /**
   * Container `idx`'s discards and destroy older than `coversSeq` are settled: no run holds a
   * version they hide (every run holding its keys was merged with them, or none holds any) and no
   * memtable holds anything older. Forgotten (the next manifest commit records it).
   */
  private settled(idx: number, coversSeq: number): void {
    const c = this.conts.get(idx);
    if (c === undefined) return;
    c.tombs = c.tombs.filter((t) => t.seq >= coversSeq);
    if (c.destroyed && (c.destroyedSeq ?? 0) < coversSeq) this.conts.delete(idx);
  }

  /**
   * Run `job` on a worker, its output's chunks taken here beforehand (`need`; `reserved`: leaving
   * the flush reserve alone, as merges do) and the unused ones given back; `startLane` false: only
   * when the lane's worker is up already (none is started for it). Undefined when the work
   * must be done here instead: workers off or unavailable, no room for the chunks ahead, the output
   * outgrew them, or (a flush) the log region did not replay to the memtable held here. The caller
   * commits the run (and on failure frees `used`).
   */
  private async away(job: Pick<MergeJob, 'inputs' | 'level' | 'kind' | 'rules' | 'flush'>, need: number, reserved: boolean, startLane = true): Promise<(Omit<MergeResult, 'meta'> & { meta?: RunMeta }) | undefined> {
    const workers = this.mergeAway ? mergeWorkers() : undefined;
    const lane = job.kind === 'flush' || job.kind === 'fold' ? 'flush' : 'merge'; // a fold is the flush of its memtable
    if (!workers || !workers.warm(lane, startLane)) return undefined;
    const chunks: number[] = [];
    try {
      const heap = this.heap(reserved);
      for (let i = 0; i < need; i++) chunks.push(heap.allocChunk());
    } catch {
      this.heapFree.push(...chunks); // near the cap: done here, chunk by chunk
      return undefined;
    }
    const abort = new Int32Array(new SharedArrayBuffer(4));
    if (lane === 'merge') this.mergeAbort = abort;
    let res: MergeResult;
    try {
      res = await workers.run({ ...job, path: this.space.path, chunkBytes: this.geo.chunkBytes, chunks, runId: this.nextRunId++, sync: this.durable, abort }, lane);
    } catch (e) {
      this.heapFree.push(...chunks);
      if (e instanceof MergeWorkersUnavailable || (e instanceof MergeJobStopped && e.why !== 'aborted')) {
        if (e instanceof MergeJobStopped && e.why === 'replay') process.emitWarning(`cairn: ${this.dir}: a frozen log region did not replay to its memtable on a worker; flushed here`);
        return undefined;
      }
      if (e instanceof MergeJobStopped) throw new CompactionAborted('compaction aborted by close');
      throw e;
    } finally {
      if (this.mergeAbort === abort) this.mergeAbort = undefined;
    }
    const used = new Set(res.used);
    for (const c of chunks) if (!used.has(c)) this.heapFree.push(c);
    this.workerJobs++;
    return { ...res, freed: ExtentList.revive(res.freed), meta: res.meta && unpackRunMeta(res.meta) };
  }

  /** Merge `inputs` on a worker and commit the run; false: merge here (see `away`). */
  private async mergeOnWorker(inputs: Run[], level: number, kind: 'plain' | 'aggregate', stats: Map<number, MergeStats>): Promise<boolean> {
    const bytes = inputs.reduce((n, r) => n + r.meta.bytes, 0);
    if (!this.mergeAway || bytes < this.mergeAwayBytes) return false; // (small: here, see MERGE_HERE_MAX_BYTES)
    if (bytes < this.mergeColdBytes && !mergeWorkers()?.warm('merge', false) && coldMerges.usedBytes < coldMerges.budgetBytes) {
      coldMerges.usedBytes += bytes; // (no worker up: see MERGE_HERE_COLD_MAX_BYTES; past the budget, `away` starts one)
      return false;
    }
    const rules: Array<[number, ContainerRules]> = [];
    if (kind === 'aggregate') for (const c of this.conts.keys()) rules.push([c, this.rules(c)!]);
    for (const r of inputs) r.pins++;
    let res: Awaited<ReturnType<TargetStore['away']>>;
    try {
      res = await this.away({ inputs: inputs.map((r) => r.meta), level, kind, rules }, this.runChunks(bytes) + 2, true);
    } finally {
      for (const r of inputs) r.pins--;
    }
    if (!res) return false;
    let c: Promise<void> | undefined;
    try {
      { const room = this.roomToStage(); if (room) await room; }
      c = this.commitManifest(res.meta ? [res.meta] : [], inputs, this.sb.walFlushedGen, res.freed, true); // (the worker synced its run)
    } catch (e) {
      this.heapFree.push(...res.used);
      throw e;
    }
    if (c) await c;
    addStats(stats, res.stats);
    return true;
  }

  /**
   * Write frozen memtable `mt` out on a worker, which rebuilds it from its log region, and commit
   * the run as `mt`'s flush: alone (a flush), or folded with every run `inputs` under the
   * aggregation policies (an aggregation's fold). False: do it here (see `away`).
   */
  private async memtableOnWorker(mt: Memtable, inputs: Run[] = []): Promise<boolean> {
    const region = this.mergeAway ? this.wal.frozenRegion() : undefined;
    if (!region || region.gen !== mt.gen) return false;
    // most records replaced at their epoch (keys overwritten in place): writing the few entries
    // left here costs less than the worker's rebuild of the memtable from every record
    if (mt.superseded * 2 > mt.records) return false;
    const fold = inputs.length > 0;
    const rules: Array<[number, ContainerRules]> = [];
    const aggregating: number[] = [];
    for (const [c, st] of this.conts) { const r = this.rules(c); if (r) rules.push([c, r]); if (st.aggStats) aggregating.push(c); }
    const level = fold ? Math.max(...inputs.map((r) => r.meta.level)) + 1 : 0;
    const bound = mt.runBound + inputs.reduce((n, r) => n + r.meta.bytes, 0);
    for (const r of inputs) r.pins++;
    let res: Awaited<ReturnType<TargetStore['away']>>;
    try {
      // a fold, like every aggregation, leaves the flush reserve alone
      res = await this.away({ inputs: inputs.map((r) => r.meta), level, kind: fold ? 'fold' : 'flush', rules, flush: { ...region, records: mt.records, aggregating } }, this.runChunks(bound) + 2, fold, !mt.waited);
    } finally {
      for (const r of inputs) r.pins--;
    }
    if (!res) return false;
    let c: Promise<void> | undefined;
    try {
      await this.syncDeferredData();
      { const room = this.roomToStage(); if (room) await room; }
      c = this.commitManifest(res.meta ? [res.meta] : [], inputs, mt.gen, res.freed, true); // (the worker synced its run)
    } catch (e) {
      this.heapFree.push(...res.used);
      throw e;
    }
    await this.committed(mt, c);
    this.addAggStats(new Map(res.stats));
    if (fold) this.workerFolds++;
    return true;
  }

  /** Add a merge's per-container counts to the counters of aggregations in progress. */
  private addAggStats(stats: ReadonlyMap<number, MergeStats>): void {
    for (const [idx, s] of stats) {
      const into = this.conts.get(idx)?.aggStats;
      if (into && into !== s) sumStats(into, s);
    }
  }

  /**
   * Aggregate container `cont`: flush the memtables, then merge every run applying the policy.
   * Returns what was removed.
   */
  async aggregateContainer(st: ContState, upTo: bigint, keep: bigint[], background = false): Promise<MergeStats & { scmBytesFreed: number }> {
    while (st.aggBusy) await st.aggBusy.catch(() => undefined);
    const p = this.aggregateNow(st, upTo, keep, background);
    st.aggBusy = p;
    try {
      return await p;
    } finally {
      if (st.aggBusy === p) st.aggBusy = undefined;
    }
  }

  /**
   * Run `aggregateContainer` in the background: its fold or merge runs on a worker where there is
   * one, while reads and writes go on; this returns at once. Reads are the same either way
   * (aggregation removes only what no permitted read sees). One runs at a time per target: a
   * request made while one runs waits for it, and a newer request for the same container replaces
   * a waiting one (the newest policy is the one in force: its keep list is the current one). A
   * write that finds no space while one runs waits for it; `idle()` and `close()` wait for the one
   * running (waiting requests are dropped at close). Counts go to `aggregatedInBackground`; a
   * failure is thrown to the next call.
   */
  aggregateInBackground(st: ContState, upTo: bigint, keep: bigint[]): void {
    if (this.backgroundError !== undefined) { const e = this.backgroundError; this.backgroundError = undefined; throw toVosError(e, 'background aggregation'); }
    if (this.background) { this.backgroundNext.set(st, { upTo, keep }); return; }
    this.startBackground(st, upTo, keep);
  }

  private startBackground(st: ContState, upTo: bigint, keep: bigint[]): void {
    this.enter(); // close() waits for it
    const p: Promise<void> = this.aggregateContainer(st, upTo, keep, true).then(
      (s) => { const a = this.aggregatedInBackground; sumStats(a, s); a.scmBytesFreed += s.scmBytesFreed; a.aggregations++; },
      (e) => { this.backgroundError = e; },
    ).finally(() => {
      if (this.background === p) this.background = undefined;
      const next = this.backgroundNext.entries().next().value as [ContState, { upTo: bigint; keep: bigint[] }] | undefined;
      if (next && !this.closed && this.backgroundError === undefined && !next[0].destroyed) {
        this.backgroundNext.delete(next[0]);
        this.startBackground(next[0], next[1].upTo, next[1].keep); // before leave(): close() keeps waiting
      } else this.backgroundNext.clear();
      this.leave();
    });
    this.background = p;
  }

  private async aggregateNow(st: ContState, upTo: bigint, keep: bigint[], background: boolean): Promise<MergeStats & { scmBytesFreed: number }> {
    // nothing of the container on this target (no memtable part, no run holding its keys): nothing
    // to aggregate, and the other containers' memtable is left to its own flush
    if (!this.active.conts.has(st.idx) && !this.frozen?.conts.has(st.idx) && !this.runs.some((r) => runHoldsCont(r.meta, st.idx))) {
      return { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0, scmBytesFreed: 0 };
    }
    // an akey punched below upTo may lose every extent: its record size is free again
    if (this.active.punches > 0 || (this.frozen?.punches ?? 0) > 0 || this.runs.some((r) => (r.meta.punches ?? 1) > 0)) st.recordSizes = undefined;
    // the policy is in force from the flush on: the flush drops what the memtable itself hides
    const s: MergeStats = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0 };
    st.aggregate = { upTo, keep };
    st.aggStats = s;
    let before = 0;
    try {
      before = this.runs.reduce((n, r) => n + r.meta.bytes, 0);
      if (await this.foldAggregate(st, s, background)) return { ...s, scmBytesFreed: Math.max(0, before - this.runs.reduce((n, r) => n + r.meta.bytes, 0)) };
      await this.flushAll();
      while (this.compacting) await this.compacting;
      const coversSeq = this.memFloorSeq();
      // the runs holding keys of the container (see foldAggregate); when other runs stay out, the
      // merge is full for this container only (`merge`'s `only`)
      const inputs = this.runs.filter((r) => runHoldsCont(r.meta, st.idx));
      if (inputs.length > 0) {
        const stats = new Map<number, MergeStats>([[st.idx, s]]);
        const p = this.merge(inputs, true, coversSeq, stats, inputs.length === this.runs.length ? undefined : st.idx);
        this.compacting = p.finally(() => { this.compacting = undefined; });
        await p;
      }
    } finally {
      st.aggregate = undefined;
      st.aggStats = undefined;
    }
    const after = this.runs.reduce((n, r) => n + r.meta.bytes, 0);
    return { ...s, scmBytesFreed: Math.max(0, before - after) };
  }

  /**
   * An aggregation with nothing but aggregation policies to apply (no punch in the memtable or
   * the runs, no discard, no destroyed container): the active memtable and every run folded into
   * one run in one pass, instead of a flush whose run the merge then reads back. False when it
   * does not apply, or failed (then the memtable is flushed the usual way and `s` is reset).
   */
  private async foldAggregate(st: ContState, s: MergeStats, onWorker: boolean): Promise<boolean> {
    while (this.flushing || this.compacting) { await this.flushing?.catch(() => undefined); await this.compacting?.catch(() => undefined); }
    // only the runs holding keys of the container: the others have none of its versions, and
    // folding them too made an aggregation cost by every container's data on the target
    const inputs = this.runs.filter((r) => runHoldsCont(r.meta, st.idx));
    const foldable = !this.frozen && this.flushError === undefined && this.active.records > 0 && this.active.punches === 0 &&
      inputs.every((r) => r.meta.punches === 0) && [...this.conts.values()].every((c) => !c.destroyed && c.tombs.length === 0);
    if (!foldable || !this.rotate(false)) return false; // (not rotated: a commit in flight; the flush the usual way waits for it)
    const mt = this.frozen!;
    const done = this.foldMemtable(mt, inputs, new Map([[st.idx, s]]), onWorker, st.idx);
    const settled = done.then(() => undefined, () => undefined);
    this.flushing = settled; this.compacting = settled; // writers needing log room wait for it; no merge starts meanwhile
    try {
      await done;
      return true;
    } catch {
      Object.assign(s, { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0 });
      return false;
    } finally {
      this.flushing = undefined; this.compacting = undefined;
      if (this.frozen === mt) this.startFlush(); // the fold failed: flush it the usual way
    }
  }

  /**
   * Merge frozen memtable `mt` and runs `inputs` (all of them) into one run applying the policies;
   * commits it as the flush of `mt`. `onWorker`: on a worker where there is one (a background
   * aggregation) when the runs are large (`TargetOptions.foldOnWorkerBytes`); else here, in steps
   * that yield to the event loop: a caller waiting for it gets it sooner, and a small fold costs
   * less here than on a worker, which first rebuilds the memtable from its log region (about as
   * much work as the fold itself) while the writers' extents freed only by its commit spread the
   * data-file pages they write over more memory.
   */
  private async foldMemtable(mt: Memtable, inputs: Run[], stats: Map<number, MergeStats>, onWorker: boolean, cont: number): Promise<void> {
    const runBytes = inputs.reduce((n, r) => n + r.meta.bytes, 0);
    // (a worker writes one run: only when everything folded is the container's, else here, split)
    const pure = inputs.length > 0 && inputs.every((r) => keyCont(r.meta.first) === cont && keyCont(r.meta.last) === cont) && [...mt.conts.keys()].every((c) => c === cont);
    if (onWorker && pure && runBytes > this.foldAwayBytes && await this.memtableOnWorker(mt, inputs)) { this.folded(mt); return; }
    for (const r of inputs) r.pins++;
    const level = inputs.length > 0 ? Math.max(...inputs.map((r) => r.meta.level)) + 1 : 0;
    const heap = this.heap(true);
    const w = new ContainerSplitWriter(cont, () => new RunWriter(this.space, heap, this.nextRunId++, level));
    const freed = new ExtentList();
    let c: Promise<void> | undefined;
    try {
      const mem = new MemtableCursor(mt, (c) => this.rules(c), this.inlineReader(), freed, (c) => this.conts.get(c)?.aggStats);
      const steps = aggregateMerge([mem, ...runCursors(inputs)], w, (c) => this.rules(c), freed, stats);
      while (!steps.next().done) await yieldNow();
      const metas = w.finish();
      for (const x of stats.values()) this.aggregateEntries += x.entriesIn;
      await this.syncDeferredData();
      { const room = this.roomToStage(); if (room) await room; }
      for (const r of inputs) r.pins--;
      c = this.commitManifest(metas, inputs, mt.gen, freed);
    } catch (e) {
      for (const r of inputs) if (r.pins > 0) r.pins--;
      this.heapFree.push(...w.allocated);
      throw e;
    }
    await this.committed(mt, c);
    this.addAggStats(stats);
    this.folded(mt);
  }

  /** After the commit of a fold of `mt`: its log region may be reused. */
  private folded(mt: Memtable): void {
    this.wal.flushed(mt.gen);
    if (this.frozen === mt) this.frozen = undefined;
    this.flushes++; this.compactions++; this.folds++;
  }

  // ------------------------------------------------------------------ writes

  enter(): void {
    if (this.closed) throw new VosError('CLOSED', 'target is closed', { dir: this.dir });
    this.ops++;
  }

  leave(): void {
    if (--this.ops === 0 && this.drained.length) { const d = this.drained; this.drained = []; for (const f of d) f(); }
  }

  private checkWritable(): void {
    if (this.readOnly) throw new VosError('READ_ONLY', 'target opened read-only', { dir: this.dir });
  }

  /** Register a container (idempotent); returns its state. */
  async createContainer(uuid: string): Promise<ContState> {
    const have = this.byUuid.get(uuid);
    if (have) return have;
    this.checkWritable();
    const idx = this.nextContIdx++;
    const len = 40 + Buffer.byteLength(uuid) + 16;
    while (!this.wal.fits(len)) await this.makeRoom(len);
    const again = this.byUuid.get(uuid);
    if (again) return again;
    try { this.admit(0, false); this.wal.append(this.enc.container(WalType.ContCreate, this.wal.stamp, idx, uuid)); } catch (e) { throw toVosError(e, 'create container'); }
    this.nextSeq++;
    const st = contState(idx, uuid, 0n, [], false);
    this.conts.set(idx, st); this.byUuid.set(uuid, st);
    if (this.durable) await this.commitSync.request(); // containers are synced even with deferSync: rare, and no redo log names them
    return st;
  }

  /** Forget a container: its space is reclaimed by the next full merge. */
  async destroyContainer(uuid: string): Promise<void> {
    const st = this.byUuid.get(uuid);
    if (!st) return;
    this.checkWritable();
    while (!this.wal.fits(64)) await this.makeRoom(64);
    try { this.admit(0, false); this.wal.append(this.enc.container(WalType.ContDestroy, this.wal.stamp, st.idx, uuid)); } catch (e) { throw toVosError(e, 'destroy container'); }
    st.destroyed = true; st.destroyedSeq = this.nextSeq++; st.prepared = undefined;
    this.byUuid.delete(uuid);
    if (this.durable) await this.commitSync.request();
    this.scheduleCompaction();
  }

  /**
   * An extent of `n` bytes of the data file (`NO_SPACE` when none is free, after releasing frees
   * that waited for reads).
   */
  private allocData(n: number): number {
    let off = this.alloc.alloc(n);
    if (off < 0) { this.reclaim(); off = this.alloc.alloc(n); }
    if (off < 0) throw new VosError('NO_SPACE', 'data file full: aggregate, punch+aggregate or discard to free space', { need: n, used: this.alloc.used, total: this.alloc.total });
    return off;
  }

  /** A small value (at most SYNC_WRITE_MAX_BYTES) written to the data file now: a synchronous hashed write into the page cache. */
  private writeNow(value: Uint8Array): { loc: number; alloc: number; csum: bigint } {
    const n = Math.max(DATA_BLOCK, this.alloc.roundUp(value.length));
    const off = this.allocData(n);
    try {
      return { loc: off, alloc: n, csum: this.dev.writeHashedSync(off, n, value, CSUM_SEED) };
    } catch (e) {
      this.alloc.release(off, n);
      throw toVosError(e, 'update');
    }
  }

  /**
   * Store a value in the data file; returns where, and its checksum (a `ValueParts` value with one
   * gather write of its views). `now`: a small value written
   * synchronously (`writeNow`); else on the thread pool (hashed there where the device can).
   * Durable: synced with its group before the record that points at it is appended.
   */
  async writeData(value: Uint8Array | ValueParts, now = false): Promise<{ loc: number; alloc: number; csum: bigint }> {
    let w: { loc: number; alloc: number; csum: bigint } | undefined;
    if (now) {
      w = this.writeNow(value as Uint8Array); // (ValueParts are above SYNC_WRITE_MAX_BYTES: never `now`)
      if (!this.syncOps) return w;
    }
    const n = w?.alloc ?? Math.max(DATA_BLOCK, this.alloc.roundUp(value.length));
    const off = w?.loc ?? this.allocData(n);
    this.inflightAllocs.set(off, n);
    try {
      // a value that is not whole blocks goes out with a zero tail (gather write), not a padded copy
      const csum = w?.csum ?? await this.dev.writeFromHashed(off, n, value instanceof Uint8Array ? [value] : value.parts, CSUM_SEED);
      if (this.syncOps) await this.dataSync.request();
      return { loc: off, alloc: n, csum };
    } catch (e) {
      this.inflightAllocs.delete(off);
      this.alloc.release(off, n);
      throw toVosError(e, 'update');
    }
  }

  /**
   * The synchronous half of a fused array write (src/vos/locate-write.ts): an extent for a value
   * of `len` bytes (above SYNC_WRITE_MAX_BYTES and the inline threshold) whose update record
   * (`dkeyLen`, `akeyLen`) the log has room for now, held in flight (no merge hands it out) until
   * `commitPreparedData` or `abandonPreparedData`. Undefined when the update must take `logUpdate`:
   * a per-op sync, a background aggregation, a write stall, no room in the log, a full data file
   * (the conditions of `logUpdateNow`; no loop share is due: a fused write always waits for the
   * thread pool). Throws `READ_ONLY` as `logUpdate` does.
   */
  prepareDataNow(dkeyLen: number, akeyLen: number, len: number): { loc: number; alloc: number } | undefined {
    this.checkWritable();
    if (this.syncOps || this.background || (this.compacting && this.runs.length >= MAX_RUNS_BEFORE_STALL)
      || !this.wal.fits(WalEncoder.updateLength(dkeyLen, akeyLen, 0))) return undefined;
    const n = Math.max(DATA_BLOCK, this.alloc.roundUp(len));
    let off = this.alloc.alloc(n);
    if (off < 0) { this.reclaim(); off = this.alloc.alloc(n); }
    if (off < 0) return undefined; // (full: logUpdate waits for room)
    this.inflightAllocs.set(off, n);
    return { loc: off, alloc: n };
  }

  /** An extent of `prepareDataNow` whose write failed or was never sent: free again (as `writeData` on failure). */
  abandonPreparedData(loc: number, alloc: number): void {
    this.inflightAllocs.delete(loc);
    this.alloc.release(loc, alloc);
  }

  /**
   * The end of a fused array write: `len` bytes at `loc` (`alloc` bytes of `prepareDataNow`) are in
   * the data file and hash to `csum`; append and apply its record as `logUpdate` does. Undefined
   * once applied; a promise when the log had to make room first (other updates filled it since the
   * prepare, or the metadata file was at its cap while a durable commit was in flight: that waits
   * for the commit, whose end releases chunks, as `logUpdate` does). On failure the extent is freed
   * and the error thrown or rejected.
   */
  commitPreparedData(st: ContState, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, index: number, count: number, recordSize: number, len: number, loc: number, alloc: number, csum: bigint, commitWaits = 0): Promise<void> | undefined {
    const inFlight = commitWaits < COMMIT_WAITS_PER_WRITE ? this.chunksInFlight() : undefined;
    if (inFlight !== undefined && !this.admits(runBytesBound(dkey, akey, 0))) {
      return inFlight.then(ignore, ignore).then(() => this.commitPreparedData(st, epoch, oid, dkey, akey, index, count, recordSize, len, loc, alloc, csum, commitWaits + 1));
    }
    const need = WalEncoder.updateLength(dkey.length, akey.length, 0);
    const value: ValueParts = { length: len, parts: NO_PARTS };
    if (this.wal.fits(need)) { this.appendUpdate(st, true, epoch, oid, dkey, akey, value, index, count, recordSize, Where.Block, loc, alloc, csum); return undefined; }
    return (async () => {
      try { while (!this.wal.fits(need)) await this.makeRoom(need); } catch (e) { this.abandonPreparedData(loc, alloc); throw e; }
      this.appendUpdate(st, true, epoch, oid, dkey, akey, value, index, count, recordSize, Where.Block, loc, alloc, csum);
    })();
  }

  /**
   * Write backpressure: when flushed runs pile up faster than merges retire them (reads probe every
   * run), writers wait for the merge in progress. Also lets a merge run when writers never yield.
   */
  private async throttle(): Promise<void> {
    let waits = 0;
    while (this.compacting && this.runs.length >= MAX_RUNS_BEFORE_STALL && waits++ < 8) await this.compacting.catch(() => undefined);
  }

  /**
   * An update never waits for I/O on its own, so a writer that keeps the microtask queue busy
   * would starve flushes and merges (they step on macrotasks) and the start of a merge worker (its
   * ready message: merge-workers.ts `starting`): while one is pending, every
   * BACKGROUND_SHARE_OPS-th write yields to the event loop once.
   */
  private shareLoop(): Promise<void> | undefined {
    if (!(this.flushing || this.compacting || workersStarting.n > 0) || ++this.sinceYield < BACKGROUND_SHARE_OPS) return undefined;
    this.sinceYield = 0;
    return nextTurn(); // (writers that yielded in one turn resume in one drain: their journal records group again)
  }

  /**
   * Append an update record and apply it. A data file found full is waited out in
   * `logUpdateOnce` (`roomForData`). One that finds the metadata file at its cap while a durable
   * manifest commit is in flight waits for the commits in flight (`commitTail`: their ends release
   * the old state's chunks) and tries again; while an aggregation runs in the background, it waits
   * for that and tries again. `NO_SPACE` once neither is left to wait for (or the bounds are spent).
   */
  logUpdate(st: ContState, isArray: boolean, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array | ValueParts, index: number, count: number, recordSize: number): Promise<void> {
    const p = this.logUpdateOnce(st, isArray, epoch, oid, dkey, akey, value, index, count, recordSize);
    // (no handler on the common path: a promise and a closure less per update; a commit can be in
    // flight only when durable)
    if (!this.background && !this.durable) return p;
    return p.catch(async (first) => {
      for (let e = first, waits = 0, commits = 0; ;) {
        if ((e as CairnError).code !== 'NO_SPACE') throw e;
        if (this.commitTail && isMetaFull(e) && commits++ < COMMIT_WAITS_PER_WRITE) await this.commitTail.catch(ignore);
        else if (this.background && waits++ < SPACE_WAITS_PER_WRITE) await this.background.catch(ignore); // (the next waiting request, if any, has started by then)
        else throw e;
        try { return await this.logUpdateOnce(st, isArray, epoch, oid, dkey, akey, value, index, count, recordSize); } catch (again) { e = again; }
      }
    });
  }

  /**
   * A write found the data file full (its `attempt`-th time): wait for what may free space, a
   * background aggregation running, else the merge of every run (`mergeForSpace`). False when
   * nothing can: then the write gives `NO_SPACE`.
   */
  private async roomForData(attempt: number): Promise<boolean> {
    if (attempt >= SPACE_WAITS_PER_WRITE || this.closed) return false;
    if (this.background) { await this.background.catch(() => undefined); return true; }
    return this.mergeForSpace();
  }

  /**
   * The data file is full: make the space merge of `scheduleCompaction` due now (every run merged,
   * on a worker where there is one, which drops the versions no read can see, such as a single
   * replaced at its epoch by a later one flushed apart, and frees their extents) and wait for it.
   * Writers that find the file full meanwhile wait for the same merge. With one run, the memtable
   * is flushed first (its singles may replace the run's). False when there is nothing to merge and
   * nothing ran meanwhile (the space is held by what reads can see: aggregate, punch or discard).
   */
  private async mergeForSpace(): Promise<boolean> {
    if (this.spaceMerge) { await this.spaceMerge; return true; }
    const p = (async () => {
      let waited = false; // a flush or merge that ends may have freed space (a merge of every run just done, say): try again
      while (this.flushing || this.compacting) { waited = true; await this.flushing?.catch(() => undefined); await this.compacting?.catch(() => undefined); }
      // one run and a memtable that replaced its singles: flush it, so the merge can drop what it replaced
      if (this.runs.length === 1 && this.active.records > 0 && !this.closed) await this.flushAll();
      if (this.runs.length < 2 || this.closed) return waited && !this.closed;
      this.spaceMergeAt = 0;
      this.scheduleCompaction();
      if (!this.compacting) return waited && !this.closed; // (no two runs share a key range: nothing a merge frees)
      await this.compacting; // (settles, failures included: see scheduleCompaction)
      return true;
    })();
    this.spaceMerge = p.then(() => undefined, () => undefined);
    try { return await p; } finally { this.spaceMerge = undefined; }
  }

  /**
   * A single-value `logUpdate` done synchronously when nothing makes it wait (an inline value or
   * one small enough for a synchronous data-file write, no background aggregation, no stall or
   * share of the loop due, room in the log, no per-op sync; a data file found full gives way to
   * the awaited path, which waits for room): undefined once
   * appended and applied; otherwise the promise `logUpdate` returns. Errors of the synchronous path
   * are thrown. (A small put's replicas, and a 4 KiB update, then cost no async frame, promise or
   * microtask here.) `csum`: the value's `valueChecksum` when the caller has it (inline values).
   * `prepared`: the write belongs to an undecided transaction: the first such write of its epoch
   * notes the epoch in its own record when it is appended here (no Prepare record of its own); the
   * awaited path logs a Prepare record first (`logPrepareNow`), as `markPrepared` does.
   */
  logUpdateNow(st: ContState, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum?: bigint, prepared = false): Promise<void> | undefined {
    const mark = prepared && (st.prepared === undefined || !st.prepared.has(epoch));
    // (anything that could wait, retry or go to the thread pool takes logUpdate: the conditions of its own fast return, and more)
    const inData = value.length > this.geo.inlineThreshold;
    if ((inData && value.length > SYNC_WRITE_MAX_BYTES) || this.syncOps || this.background
      || (this.compacting && this.runs.length >= MAX_RUNS_BEFORE_STALL) || !this.wal.fits(WalEncoder.updateLength(dkey.length, akey.length, inData ? 0 : value.length))) {
      return this.logUpdateLater(undefined, st, epoch, oid, dkey, akey, value, mark);
    }
    this.checkWritable();
    const y = this.shareLoop();
    if (y) return this.logUpdateLater(y, st, epoch, oid, dkey, akey, value, mark);
    try {
      if (!inData) {
        this.appendUpdate(st, false, epoch, oid, dkey, akey, value, 0, 0, 0, Where.Wal, 0, 0, csum ?? valueChecksum(value), mark);
        return undefined;
      }
      let w: { loc: number; alloc: number; csum: bigint };
      try { w = this.writeNow(value); } catch (e) {
        if (isDataFull(e)) return this.logUpdateLater(undefined, st, epoch, oid, dkey, akey, value, mark); // (it waits for room)
        throw e;
      }
      this.appendUpdate(st, false, epoch, oid, dkey, akey, value, 0, 0, 0, Where.Block, w.loc, w.alloc, w.csum, mark);
      return undefined;
    } catch (e) {
      // the metadata file at its cap with a commit, flush or merge in flight: nothing was appended
      // (its extent, if any, freed again); the awaited path waits for it and tries again
      if (isMetaFull(e) && this.chunksInFlight() !== undefined) return this.logUpdateLater(undefined, st, epoch, oid, dkey, akey, value, mark);
      throw e;
    }
  }

  /**
   * `logUpdateNow`'s awaited path (after `first`, when given), its prepared mark first when `mark`.
   * A method, not a closure made in every call: the synchronous path allocated ~190 bytes per
   * update for it (heap sampling, /tmp/vos29/alloc.mjs).
   */
  private async logUpdateLater(first: Promise<void> | undefined, st: ContState, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, mark: boolean): Promise<void> {
    if (first !== undefined) await first;
    if (mark) return this.preparedThen(st, epoch, () => this.logUpdate(st, false, epoch, oid, dkey, akey, value, 0, 0, 0));
    return this.logUpdate(st, false, epoch, oid, dkey, akey, value, 0, 0, 0);
  }

  private async logUpdateOnce(st: ContState, isArray: boolean, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array | ValueParts, index: number, count: number, recordSize: number): Promise<void> {
    this.checkWritable();
    if (this.compacting && this.runs.length >= MAX_RUNS_BEFORE_STALL) await this.throttle();
    else { const y = this.shareLoop(); if (y) await y; }
    let where: Where.Wal | Where.Block = Where.Wal;
    let loc = 0; let alloc = 0;
    let csum: bigint;
    // Above the inline threshold a value lives in the data file, written before the record that
    // points at it: up to SYNC_WRITE_MAX_BYTES synchronously (a copy into the page cache, no
    // thread-pool round trip; by default in the synchronous part below, with no await), larger
    // values on the thread pool.
    const inData = value.length > this.geo.inlineThreshold;
    const now = inData && value.length <= SYNC_WRITE_MAX_BYTES && !this.syncOps;
    if (inData && !now) {
      for (let attempt = 0; ; attempt++) {
        try { ({ loc, alloc, csum } = await this.writeData(value, value.length <= SYNC_WRITE_MAX_BYTES)); break; } catch (e) {
          if (!isDataFull(e) || !await this.roomForData(attempt)) throw e;
        }
      }
      where = Where.Block;
    } else {
      csum = now ? 0n : valueChecksum(value as Uint8Array); // written now: hashed with the write below (ValueParts are in the data file: not here)
    }
    const need = WalEncoder.updateLength(dkey.length, akey.length, inData ? 0 : value.length);
    const bound = runBytesBound(dkey, akey, inData ? 0 : value.length);
    for (let attempt = 0, waits = 0; ; attempt++) {
      try {
        for (;;) {
          while (!this.wal.fits(need)) await this.makeRoom(need);
          const p = this.chunksToWaitFor(bound, true, waits);
          if (p === undefined) break;
          waits++; await p;
        }
      } catch (e) {
        if (where === Where.Block) { this.inflightAllocs.delete(loc); this.alloc.release(loc, alloc); }
        throw e;
      }
      if (!now) break;
      // synchronous from here: write a small value, append, apply
      try { ({ loc, alloc, csum } = this.writeNow(value as Uint8Array)); where = Where.Block; break; } catch (e) {
        if (!isDataFull(e) || !await this.roomForData(attempt)) throw e;
      }
    }
    this.appendUpdate(st, isArray, epoch, oid, dkey, akey, value, index, count, recordSize, where, loc, alloc, csum);
    if (this.syncOps) await this.commitSync.request().catch((e) => { throw toVosError(e, 'update'); });
  }

  /** The synchronous end of an update (room in the log checked, a data-file value written): append its record and apply it. */
  private appendUpdate(st: ContState, isArray: boolean, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array | ValueParts, index: number, count: number, recordSize: number, where: Where.Wal | Where.Block, loc: number, alloc: number, csum: bigint, prepared = false): void {
    const inline = where === Where.Block ? undefined : value as Uint8Array; // (ValueParts go to the data file)
    const k = this.oidKey.of(oid); // (read into words once: the record's oid field and the memtable's lookup)
    const rec = this.enc.update(isArray ? WalType.UpdateArray : WalType.UpdateSingle, this.wal.stamp, epoch, st.idx,
      k.bytes, dkey, akey, csum, index, count, recordSize, value.length, where, loc, alloc, inline, prepared);
    const bound = runBytesBound(dkey, akey, inline?.length ?? 0);
    let at: number;
    try {
      this.admit(bound, true);
      at = this.wal.append(rec);
    } catch (e) {
      if (where === Where.Block) { this.inflightAllocs.delete(loc); this.alloc.release(loc, alloc); }
      throw toVosError(e, 'update');
    }
    this.active.runBound += bound;
    if (prepared) (st.prepared ??= new Set()).add(epoch);
    const seq = this.nextSeq++;
    if (where === Where.Block) { this.inflightAllocs.delete(loc); this.noteAlloc(this.wal.activeGen, loc, alloc); }
    else loc = at + WalEncoder.inlineOffset(dkey.length, akey.length);
    const gone = isArray
      ? this.active.addVersion(st.idx, oid, dkey, akey, { epoch, seq, csum, len: value.length, where, loc, alloc, index, count, recordSize }, rec.length, k)
      : this.active.addSingle(st.idx, oid, dkey, akey, epoch, seq, csum, value.length, where, loc, alloc, rec.length, k); // (a new object's node is its version)
    // a single this one replaced at its epoch: its extent is free once no read can be reading it
    // (a replay of the log frees it at the same point: see Memtable.addVersion)
    if (gone !== undefined && gone.where === Where.Block) { this.deferredFree.push(gone.loc, gone.alloc); this.reclaim(); }
    if (epoch > st.maxEpoch) st.maxEpoch = epoch;
    this.maybeRotate();
  }

  /** Append a punch record and apply it. */
  async logPunch(st: ContState, level: 0 | 1 | 2, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> {
    this.checkWritable();
    const y = this.shareLoop(); if (y) await y;
    const bound = runBytesBound(dkey, akey, 0);
    for (let waits = 0; ; waits++) {
      while (!this.wal.fits(80 + dkey.length + akey.length)) await this.makeRoom(80 + dkey.length + akey.length);
      const p = this.chunksToWaitFor(bound, false, waits);
      if (p === undefined) break;
      await p;
    }
    const rec = this.enc.punch(this.wal.stamp, epoch, st.idx, { oid, level, dkey, akey });
    try { this.admit(bound, false); this.wal.append(rec); } catch (e) { throw toVosError(e, 'punch'); }
    this.active.runBound += bound;
    const seq = this.nextSeq++;
    this.active.addPunch(st.idx, oid, level, dkey, akey, { epoch, seq }, rec.length);
    st.recordSizes = undefined;
    if (epoch > st.maxEpoch) st.maxEpoch = epoch;
    this.maybeRotate();
    if (this.syncOps) await this.commitSync.request().catch((e) => { throw toVosError(e, 'punch'); });
  }

  /** Append a discard of epochs (after, upTo] of a container. */
  async logDiscard(st: ContState, after: bigint, upTo: bigint): Promise<void> {
    this.checkWritable();
    for (let waits = 0; ; waits++) {
      while (!this.wal.fits(64)) await this.makeRoom(64);
      const p = this.chunksToWaitFor(0, false, waits);
      if (p === undefined) break;
      await p;
    }
    try { this.admit(0, false); this.wal.append(this.enc.discard(this.wal.stamp, st.idx, after, upTo)); } catch (e) { throw toVosError(e, 'discard'); }
    this.applyDiscard(st, after, upTo, this.nextSeq++);
    if (this.syncOps) await this.commitSync.request().catch((e) => { throw toVosError(e, 'discard'); });
    if (st.tombs.length > MAX_TOMBS) this.scheduleCompaction();
  }

  private applyDiscard(st: ContState, after: bigint, upTo: bigint, seq: number): void {
    // a discard settles the prepared epochs it covers (an engine's abort at restart need not settle them too)
    if (st.prepared !== undefined) for (const e of st.prepared) if (e > after && e <= upTo) st.prepared.delete(e);
    st.tombs.push({ after, upTo, seq });
    st.recordSizes = undefined;
    if (st.maxEpoch > after && st.maxEpoch <= upTo) st.maxEpoch = after;
  }

  // ------------------------------------------------------------------ prepared epochs

  /**
   * Note that writes of `epoch` to the container that follow are undecided (an engine's prepared
   * transaction): a Prepare record goes into the log before them, once per (container, epoch)
   * until settled, so after a crash `preparedEpochs` names the epoch whenever any of them survived.
   * Undefined when the epoch is noted already or was noted now; a promise when the log had to make
   * room first. No sync of its own: a durable write that follows syncs the log up to itself.
   */
  logPrepareNow(st: ContState, epoch: bigint): Promise<void> | undefined {
    if (st.prepared !== undefined && st.prepared.has(epoch)) return undefined;
    this.checkWritable();
    const rec = () => { this.admit(0, false); this.wal.append(this.enc.prepare(this.wal.stamp, st.idx, epoch)); this.nextSeq++; (st.prepared ??= new Set()).add(epoch); };
    const need = WalEncoder.prepareLength();
    if (this.wal.fits(need)) {
      try { rec(); } catch (e) { throw toVosError(e, 'prepare'); }
      return undefined;
    }
    return (async () => {
      while (!this.wal.fits(need)) await this.makeRoom(need);
      if (st.prepared !== undefined && st.prepared.has(epoch)) return;
      try { rec(); } catch (e) { throw toVosError(e, 'prepare'); }
    })();
  }

  /** `then` once `epoch` is noted prepared for `st` (a Prepare record logged when it is not yet). */
  private preparedThen(st: ContState, epoch: bigint, then: () => Promise<void>): Promise<void> {
    const m = this.logPrepareNow(st, epoch);
    return m === undefined ? then() : m.then(then);
  }

  /**
   * The prepared epochs not yet settled, of every container of the target (`ContainerStore`
   * writes with `prepared`, or `markPrepared`): after a crash, every epoch of which any write may
   * have survived. An engine settles each once its decision is in its own log.
   */
  preparedEpochs(): Array<{ cont: string; epoch: bigint }> {
    const out: Array<{ cont: string; epoch: bigint }> = [];
    for (const st of this.byUuid.values()) if (st.prepared !== undefined) for (const epoch of st.prepared) out.push({ cont: st.uuid, epoch });
    return out;
  }

  /**
   * Forget prepared `epochs` of container `cont` (their decision is logged elsewhere): a Settle
   * record, so neither a replay of the log nor the next manifest names them again. Idempotent
   * (epochs not prepared, or a container not here, are skipped). As durable as a write of the
   * store: a SIGKILL at once, power loss from the store's next sync (`flush`); until then they may
   * come back from `preparedEpochs` after a crash, and settling them again is harmless.
   */
  async settlePrepared(cont: string, epochs: readonly bigint[]): Promise<void> {
    const st = this.byUuid.get(cont);
    if (st === undefined || st.prepared === undefined) return;
    this.checkWritable();
    let todo = [...new Set(epochs)].filter((e) => st.prepared!.has(e));
    while (todo.length > 0) {
      const part = todo.slice(0, SETTLE_MAX_EPOCHS);
      const need = WalEncoder.settleLength(part.length);
      while (!this.wal.fits(need)) await this.makeRoom(need);
      const left = part.filter((e) => st.prepared?.has(e)); // (settled meanwhile by another caller or a discard)
      if (left.length > 0) {
        try { this.admit(0, false); this.wal.append(this.enc.settle(this.wal.stamp, st.idx, left)); } catch (e) { throw toVosError(e, 'settle'); }
        this.nextSeq++;
        for (const e of left) st.prepared?.delete(e);
      }
      todo = todo.slice(part.length);
    }
    if (st.prepared?.size === 0) st.prepared = undefined;
  }

  /** msync log bytes appended since the last flush (durable mode, group-committed). */
  private persistLog(): void {
    // (no sync mark: msync syncs these ranges only, and a mark names the whole log up to it)
    this.wal.persist(this.persistedAt);
    this.persistedAt = this.wal.tail;
  }

  /**
   * `persistLog` off the event loop (an fdatasync of the pmem file on the thread pool), so the
   * targets a group of commits wrote sync in parallel instead of one msync after another.
   */
  private async persistLogAsync(): Promise<void> {
    const wal = this.wal, at = wal.position();
    await wal.persistAsync();
    this.persistedAt = at.tail;
    if (this.wal === wal) wal.markSynced(at);
  }

  /** Resolves once no flush or merge is running or due: the background work has caught up. */
  async idle(): Promise<void> {
    for (let p = this.flushing ?? this.compacting ?? this.background; p; p = this.flushing ?? this.compacting ?? this.background) await p.catch(() => undefined);
  }

  /**
   * Make everything acknowledged so far durable against power loss. The log's sync mark naming
   * this flush reaches the medium with the next one: a caller about to drop its own redo of these
   * writes flushes twice, so that a record before it that reads back damaged is reported, never
   * cut as a power loss's (src/vos/wal.ts).
   */
  async flush(): Promise<void> {
    this.enter();
    try {
      await this.dev.sync();
      if (!this.readOnly) await this.persistLogAsync(); // (an fdatasync on the thread pool, not an msync on the event loop)
    } catch (e) {
      throw toVosError(e, 'flush');
    } finally {
      this.leave();
    }
  }

  // ------------------------------------------------------------------ reads of values

  /** Read and verify a version's bytes; `CHECKSUM_MISMATCH` names it. */
  async readValue(v: MemVersion, describe: () => Record<string, unknown>): Promise<Uint8Array> {
    const now = this.readValueSync(v, describe);
    if (now) return now;
    let bytes: Uint8Array;
    const gen = this.beginRead();
    try {
      const buf = await this.dev.read(v.loc, v.alloc);
      bytes = buf.subarray(0, v.len);
    } catch (e) {
      throw toVosError(e, 'fetch');
    } finally {
      this.endRead(gen);
    }
    return this.checked(bytes, v, describe);
  }

  /**
   * `readValue` done synchronously, so a small read needs no promise: a value held in memory or
   * in the log (a copy), or a data-file value of at most SYNC_WRITE_MAX_BYTES read from the page
   * cache. Undefined for a larger data-file value (read it with `readValue`).
   */
  readValueSync(v: MemVersion, describe: () => Record<string, unknown>): Uint8Array | undefined {
    if (v.where === Where.Block) {
      if (v.alloc > SYNC_WRITE_MAX_BYTES) return undefined;
      // copied and hashed in one pass, out of the data file's mapping when there is one (no system call)
      const out = readBuffer(v.len);
      let h: bigint;
      try { h = this.dev.readHashedSync(v.loc, out, CSUM_SEED); } catch (e) { throw toVosError(e, 'fetch'); }
      this.verify(h, v, describe);
      return out;
    }
    if (v.where === Where.Run) {
      // a point read's version is copied out of its block with no view made (and its checksum unread when checked)
      if (v instanceof PointVersion) { if (!v.checked) this.checked(v.inline, v, describe); return copyValueFrom(v.bytes, v.at, v.len); }
      return copyValue(v.checked ? v.inline! : this.checked(v.inline!, v, describe)); // (checked: see MemVersion.checked)
    }
    return this.checked(this.space.read(v.loc, v.len), v, describe);
  }

  /** `bytes`, when they hash to `v`'s checksum (else `CHECKSUM_MISMATCH` naming the version). */
  private checked(bytes: Uint8Array, v: MemVersion, describe: () => Record<string, unknown>): Uint8Array {
    this.verify(xxh64(bytes, CSUM_SEED), v, describe);
    return bytes;
  }

  /** `CHECKSUM_MISMATCH` naming the version unless hash `h` of its bytes is `v`'s checksum. */
  private verify(h: bigint, v: MemVersion, describe: () => Record<string, unknown>): void {
    if (h !== v.csum) throw new VosError('CHECKSUM_MISMATCH', 'value checksum mismatch', describe());
  }

  async readValueInto(v: import('./memtable.js').MemVersion, describe: () => Record<string, unknown>, into: readonly Uint8Array[]): Promise<void> {
    assert(into.reduce((n, b) => n + b.length, 0) === v.len, 'readValueInto buffers hold exactly the value', { len: v.len, buffers: into.map((b) => b.length) });
    if (v.where !== Where.Block) {
      const bytes = await this.readValue(v, describe);
      let at = 0;
      for (const b of into) { b.set(bytes.subarray(at, at + b.length)); at += b.length; }
      return;
    }
    const gen = this.beginRead();
    let csum: bigint;
    try {
      // (one buffer, small enough: here, see TargetOptions.readHereBytes)
      csum = into.length === 1 && v.len <= this.readHereBytes ? this.dev.readHashedSync(v.loc, into[0]!, CSUM_SEED) : await this.dev.readIntoHashed(v.loc, v.alloc, into, CSUM_SEED);
    } catch (e) {
      throw toVosError(e, 'fetch');
    } finally {
      this.endRead(gen);
    }
    this.verify(csum, v, describe);
  }

  /** A read of data-file extents begins: frees from now on wait for it (pass the result to `endRead`). */
  beginRead(): number {
    const g = this.readGen;
    this.readsIn[g]++;
    return g;
  }

  /** The read `beginRead` returned `gen` for has ended. */
  endRead(gen: number): void {
    this.readsIn[gen]--;
    this.reclaim();
  }

  /** Release deferred data frees once no read that began before them is in flight (see `deferredFree`). */
  private reclaim(): void {
    const prev = this.readGen ^ 1;
    if (this.graceFree.length > 0) {
      if (this.readsIn[prev]! > 0) return; // the grace period goes on
      this.releaseFree(this.graceFree);
    }
    if (this.deferredFree.length === 0) return;
    if (this.readsIn[this.readGen] === 0) { this.releaseFree(this.deferredFree); return; }
    // reads are in flight: a grace period starts; reads from now on are counted apart
    const empty = this.graceFree;
    this.graceFree = this.deferredFree;
    this.deferredFree = empty;
    this.readGen = prev;
  }

  /** Release every extent of `x` to the allocator and empty it (sorted once: see `ExtentList.sorted`). */
  private releaseFree(x: ExtentList): void {
    this.alloc.releaseMany(x);
    x.clear();
  }

  /** Throw when the target is damaged as a whole (reads must go to redundancy). */
  checkIntact(): void {
    if (this.damage) throw new VosError('CORRUPTED', `target ${this.dir} is damaged: ${this.damage}`, { dir: this.dir, whole: true, reason: this.damage });
  }

  /** Remember a damaged block a read ran into (for scrub and repair). */
  noteDamage(e: unknown): void {
    const info = (e as { info?: Partial<BlockDamage> }).info;
    if (e instanceof VosError && e.code === 'CORRUPTED' && info && typeof info.block === 'number' && typeof info.run === 'number') {
      this.damagedBlocks.set(info.block, info as BlockDamage);
    }
  }

  // ------------------------------------------------------------------ scrub and heal

  /**
   * Verify every block of every run and every value (log, runs, data file). Returns damaged blocks
   * (with the key range each covers) and bad values (with their keys).
   */
  async scrub(opts: { signal?: AbortSignal; values?: boolean } = {}): Promise<{ blocks: BlockDamage[]; blocksChecked: number; values: Array<Record<string, unknown>>; checked: number; bytes: number; whole?: string }> {
    this.enter();
    const runs = this.runs.slice();
    for (const r of runs) r.pins++;
    try {
      const out = { blocks: [] as BlockDamage[], blocksChecked: 0, values: [] as Array<Record<string, unknown>>, checked: 0, bytes: 0, ...(this.damage ? { whole: this.damage } : {}) };
      const values = opts.values !== false;
      let n = 0;
      const check = async (v: import('./memtable.js').MemVersion, info: () => Record<string, unknown>) => {
        out.checked++; out.bytes += v.len;
        try { await this.readValue(v, info); } catch (e) { out.values.push({ ...info(), reason: (e as CairnError).code ?? String(e) }); }
      };
      for (const r of runs) {
        for (const b of r.blocks()) {
          throwIfAborted(opts.signal);
          if (++n % 64 === 0) await yieldNow();
          out.blocksChecked++;
          try {
            this.verified.forgetRange(b.ref.off, 1);
            r.block(b.ref, b.kind, b.damage);
          } catch (e) {
            const d = (e as { info?: BlockDamage }).info ?? b.damage();
            out.blocks.push(d); this.damagedBlocks.set(d.block, d);
            continue;
          }
          if (b.kind !== BlockKind.Data || !values) continue;
          // values of the entries in this block (their extents are not reused while it checks them)
          const gen = this.beginRead();
          try {
            const { entries } = blockEntries(r, b.ref);
            for (const e of entries) {
              if (e.version) await check(e.version, () => ({ run: r.meta.id, key: Buffer.from(e.key).toString('hex') }));
            }
          } finally { this.endRead(gen); }
        }
      }
      for (const mt of values ? [this.frozen, this.active] : []) {
        if (!mt) continue;
        for (const [cont, mc] of mt.conts) for (const o of mc.objects.values()) for (const d of o.dkeys.values()) for (const a of d.akeys.values()) {
          const gen = this.beginRead(); // (a version of this akey replaced meanwhile keeps its extent until the checks end)
          try {
            for (const v of [...a.singles, ...a.extents]) {
              if (++n % 256 === 0) await yieldNow();
              await check(v, () => ({ cont, oid: o.oid.toString(16), dkey: Buffer.from(d.key).toString('hex'), akey: Buffer.from(a.key).toString('hex'), epoch: v.epoch.toString() }));
            }
          } finally { this.endRead(gen); }
        }
      }
      for (const d of this.damagedBlocks.values()) if (!out.blocks.some((b) => b.block === d.block)) out.blocks.push(d);
      return out;
    } finally {
      // a run retired while pinned gives its chunks back now (they go with the next commit)
      for (const r of runs) if (--r.pins === 0 && r.retired) this.pendingChunkFree.push(...r.meta.chunks);
      this.leave();
    }
  }

  /**
   * Drop damaged blocks for good: the runs holding them are rewritten without them (after the
   * pool rewrote the affected objects from redundancy). Returns the entries lost with them.
   */
  async heal(): Promise<number> {
    if (this.damagedBlocks.size === 0) return 0;
    for (const st of this.conts.values()) st.recordSizes = undefined;
    while (this.compacting) await this.compacting;
    const bad = new Set(this.damagedBlocks.keys());
    const hit = this.runs.filter((r) => [...r.blocks()].some((b) => bad.has(b.ref.off)) || r.meta.index.some((x) => bad.has(x.ref.off)));
    let lost = 0;
    for (const r of hit) {
      r.pins++;
      const w = new RunWriter(this.space, this.heap(), this.nextRunId++, r.meta.level);
      const freed = new ExtentList();
      let c: Promise<void> | undefined;
      try {
        const src = runEntriesSkipping(r, (n) => { lost += n; });
        await writeMergedAsync(src, w, { rules: (c) => this.rules(c), full: false, freed, stats: new Map() }, () => false);
        const meta = w.finish();
        { const room = this.roomToStage(); if (room) await room; }
        r.pins--;
        c = this.commitManifest(meta ? [meta] : [], [r], this.sb.walFlushedGen, freed);
      } catch (e) {
        if (r.pins > 0) r.pins--;
        this.heapFree.push(...w.allocated);
        throw e;
      }
      if (c) await c;
    }
    for (const b of bad) this.damagedBlocks.delete(b);
    return lost;
  }

  // ------------------------------------------------------------------ lifecycle

  /** Space in use. */
  usage(): TargetUsage {
    const chunksUsed = (this.space.size - this.geo.heapStart) / this.geo.chunkBytes - this.heapFree.length;
    return {
      scmUsed: this.geo.heapStart + chunksUsed * this.geo.chunkBytes, scmTotal: this.geo.maxBytes, scmFile: this.space.size,
      dataUsed: this.alloc.used, dataTotal: this.alloc.total, runs: this.runs.length,
      memtableBytes: this.active.bytes + (this.frozen?.bytes ?? 0), residentWindows: this.space.residentWindows,
    };
  }

  /** Containers on this target (uuids). */
  containerUuids(): string[] { return [...this.byUuid.keys()]; }

  /**
   * Wait for operations in flight, write the memtables out (so the next open replays nothing),
   * close the files. `flush: false` leaves the memtables in the log, replayed by the next open as
   * after a crash: for a target taken out of service, whose content is rebuilt elsewhere.
   */
  async close(opts: { flush?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ops > 0) await new Promise<void>((r) => this.drained.push(r));
    this.compactAbort = true;
    if (this.mergeAbort) Atomics.store(this.mergeAbort, 0, 1);
    try {
      if (this.compacting) await this.compacting.catch(() => undefined);
      if (opts.flush === false) await this.flushing?.catch(() => undefined);
      else if (!this.readOnly) {
        try { await this.flushAll(); } catch { /* the log still holds it: replayed at the next open */ }
        if (this.durable) { await this.dev.sync(); this.persistLog(); }
      }
      while (this.commitTail) await this.commitTail.catch(() => undefined);
    } finally {
      await this.dev.close().catch(() => undefined);
      this.space.close();
    }
  }
}

class CompactionAborted extends Error {}

/** A region `logFlushSteps` found unlike its replay (never expected: the replay validated it): the memtable path recovers it. */
class LogNotReplayable extends Error {}

/**
 * Records a recovery may replay without a memtable (`recoverFromLog`): single values held in the
 * log itself (no data extent, so no later record can reuse one a replaced single freed) and the
 * records that change no memtable. Punches, arrays and values in the data file take the memtable path.
 */
function directReplay(r: WalRecord): boolean {
  if (r.type === WalType.UpdateSingle) return r.update!.where === Where.Wal;
  return r.type !== WalType.UpdateArray && r.type !== WalType.Punch;
}

/** A manifest commit between its halves (`stageCommit`, `finishCommit`). */
interface StagedCommit {
  /** The new state (its generation is set when its slots are written). */
  sb: Superblock;
  /** Manifest copies of the state before it: freed once its slots are written. */
  oldCopies: Superblock['copies'];
  /** Chunks of the runs it removed that no reader pins: freed likewise. */
  runChunks: number[];
  /** Data extents it freed: released likewise. */
  freed: ExtentList | undefined;
  /** Its syncs are two (`syncCommit`'s `runsSynced`), not three. */
  twoSyncs: boolean;
}

/** Add per-container counts `from` into `into` (objects of `into` are updated in place). */
function addStats(into: Map<number, MergeStats>, from: Iterable<[number, MergeStats]>): void {
  for (const [idx, s] of from) {
    const t = into.get(idx);
    if (!t) into.set(idx, s);
    else sumStats(t, s);
  }
}

/** Add the counts of `s` to `into`. */
function sumStats(into: MergeStats, s: MergeStats): void {
  into.versionsRemoved += s.versionsRemoved; into.punchesRemoved += s.punchesRemoved; into.dataBytesFreed += s.dataBytesFreed; into.entriesIn += s.entriesIn; into.entriesOut += s.entriesOut;
}

/** Read both superblock slots with plain file reads (before the file is mapped). */
function readSuperblocks(file: string): { kind: 'none' } | { kind: 'old' } | { kind: 'damaged'; why: string } | { kind: 'found'; sb: Superblock; older?: Superblock; slotDamaged: boolean } {
  let fd: number;
  try { fd = fs.openSync(file, 'r'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    throw new VosError('IO_ERROR', `cannot open ${file}`, { file }, { cause: e });
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return { kind: 'none' };
    const b = new Uint8Array(2 * SB_SLOT_BYTES);
    fs.readSync(fd, b, 0, b.length, 0);
    const slots = [decodeSuperblock(b.subarray(0, SB_SLOT_BYTES)), decodeSuperblock(b.subarray(SB_SLOT_BYTES))];
    if (slots.some((s) => 'old' in s)) return { kind: 'old' };
    const valid = slots.flatMap((s) => ('sb' in s ? [s.sb] : []));
    if (valid.length === 0) {
      if (slots.every((s) => 'blank' in s)) return { kind: 'none' };
      return { kind: 'damaged', why: slots.map((s) => ('bad' in s ? s.bad : 'blank')).join(', ') };
    }
    const best = valid.reduce((a, c) => (c.gen > a.gen ? c : a));
    const older = valid.find((c) => c.gen < best.gen);
    const slotDamaged = slots.some((s) => 'bad' in s);
    return { kind: 'found', sb: best, ...(older ? { older } : {}), slotDamaged };
  } finally {
    fs.closeSync(fd);
  }
}

/** Drive a `MergeSink` over a sync source, yielding to the event loop every so often. */
/**
 * The runs whose key ranges overlap another run's (every member of each group of two or more
 * overlapping runs); empty when no two overlap. Only a key held by two runs can lose a version in a
 * merge without policies (`fastMerge`).
 */
function overlappingRuns(runs: readonly Run[]): Run[] {
  const by = runs.slice().sort((a, b) => compareKeys(a.meta.first, b.meta.first));
  const out: Run[] = [];
  let group: Run[] = [];
  let end: Uint8Array | undefined;
  for (const r of by) {
    if (end !== undefined && compareKeys(r.meta.first, end) <= 0) {
      group.push(r);
      if (compareKeys(r.meta.last, end) > 0) end = r.meta.last;
    } else {
      if (group.length >= 2) out.push(...group);
      group = [r]; end = r.meta.last;
    }
  }
  if (group.length >= 2) out.push(...group);
  return out;
}

/** Whether run `m` may hold keys of container `cont` (its first and last keys bound the containers it holds). */
/**
 * The runs of a level holding MERGE_FANIN runs or more that a compaction merges: those of one
 * container, when one container's runs (holding its keys only) are at least half of MERGE_FANIN
 * (the most of them, up to MERGE_FANIN), else the first MERGE_FANIN. A container's flushed runs
 * then climb the levels among themselves: merged with another container's, the mixed run was read
 * again by each aggregation and discard settling of either (the first MERGE_FANIN of a level mixed
 * a small container's run with a large one's 7). Each merge still takes at least MERGE_FANIN / 2
 * runs into one, so runs per level stay bounded as before.
 */
function levelPick(rs: readonly Run[]): Run[] {
  const by = new Map<number, Run[]>();
  for (const r of rs) {
    const c = keyCont(r.meta.first);
    if (c !== keyCont(r.meta.last)) continue;
    const l = by.get(c);
    if (l) l.push(r); else by.set(c, [r]);
  }
  let best: Run[] | undefined;
  for (const l of by.values()) if (l.length >= MERGE_FANIN / 2 && (best === undefined || l.length > best.length)) best = l;
  return (best ?? rs).slice(0, MERGE_FANIN);
}

function runHoldsCont(m: RunMeta, cont: number): boolean {
  return keyCont(m.first) <= cont && cont <= keyCont(m.last);
}

async function writeMergedAsync(src: Iterable<Entry>, w: RunSink, opts: MergeOptions, aborted: () => boolean): Promise<void> {
  const sink = new MergeSink(w, opts);
  let n = 0;
  for (const e of src) {
    sink.push(e);
    if (++n % YIELD_EVERY === 0) {
      await yieldNow();
      if (aborted()) throw new CompactionAborted('compaction aborted by close');
    }
  }
  sink.end();
}

function writeMergedSync(src: Iterable<Entry>, w: RunWriter, opts: MergeOptions): void {
  writeMerged(src, w, opts);
}

/** Entries of a run, skipping blocks that fail verification (heal). */
function* runEntriesSkipping(r: Run, lost: (n: number) => void): Generator<Entry> {
  for (let i = 0; i < r.meta.index.length; i++) {
    let ib: ReturnType<Run['indexBlock']>;
    try { ib = r.indexBlock(i); } catch { lost(1); continue; }
    for (let j = 0; j < ib.count; j++) {
      let blk;
      try { blk = r.dataBlock(i, j); } catch { lost(1); continue; }
      for (let e = 0; e < blk.count; e++) {
        const key = blk.key(e);
        yield { key, value: blk.value(e), seq: keyShape(key)?.kind === 'object' ? 0 : keyStamp(key).seq };
      }
    }
  }
}

/** Decode a verified data block's version entries (scrub). */
function blockEntries(r: Run, ref: { off: number }): { entries: Array<{ key: Uint8Array; version?: import('./memtable.js').MemVersion }> } {
  const out: Array<{ key: Uint8Array; version?: import('./memtable.js').MemVersion }> = [];
  for (let i = 0; i < r.meta.index.length; i++) {
    const ib = r.indexBlock(i);
    let j = -1;
    for (let k = 0; k < ib.count; k++) if (ib.ref(k).off === ref.off) { j = k; break; }
    if (j < 0) continue;
    const blk = r.dataBlock(i, j);
    for (let e = 0; e < blk.count; e++) {
      const key = blk.key(e).slice();
      const val = blk.value(e);
      const shape = keyShapeOf(key);
      if (shape === 'single' || shape === 'array') {
        const st = stampOf(key);
        const v = decodeVersionOf(val, st.epoch, st.seq);
        out.push(v ? { key, version: v } : { key });
      }
    }
    break;
  }
  return { entries: out };
}

import { compareKeys, keyCont, keyShape, keyStamp } from './keys.js';
import { decodeVersion } from './merge.js';
const keyShapeOf = (k: Uint8Array) => keyShape(k)?.kind;
const stampOf = (k: Uint8Array) => keyStamp(k);
const decodeVersionOf = (v: Uint8Array, e: bigint, s: number) => decodeVersion(v, e, s, true);
