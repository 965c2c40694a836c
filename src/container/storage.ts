/**
 * Where a container keeps its metadata and the record that makes a commit atomic. Embedded pools
 * use files (metadata in two copies and a journal beside the pool); connected pools keep
 * them in etcd and let the engines' two-phase commit do the journal's job. The container only
 * sees this interface.
 */
import { join } from 'node:path';
import { mkdir, rm, open, rename } from 'node:fs/promises';
import { makeReadersDir } from './readers.js';
import { nativeAddon } from '../media/io-uring.js';
import { Journal, JournalType, JOURNAL_PREALLOC_BYTES, JOURNAL_SPARE, doneSetPayloadEpochs, type AppendRecord } from './journal.js';
import { intentObjects, forEachIntentObject, intentSingle, intentCarriesValue, type DecodedSingle } from './intent-codec.js';
import { BigIdSet } from '../../core/big-id-map.js';
import { writeJsonRecordTwice, encodeRecordFile, decodeRecordFile, readJsonRecordEither, COPY_SUFFIX } from '../../core/record-file.js';
import { CairnError, CorruptionError, assert } from '../../core/errors.js';
import type { JournalRecord } from './journal.js';
import { swallow, swallowed } from '../../core/log.js';
import { xxh64 } from '../../core/xxhash.js';
import { valueChecksum } from '../vos/index.js';
import type { Redundancy } from '../io/io.js';
import { readFileSync, readdirSync, rmSync, openSync, writeSync, fdatasyncSync, fsyncSync, closeSync, renameSync } from 'node:fs';

/**
 * A journal record waiting for (or written by) a group write; `objects`: an INTENT's object ids
 * (redo journals, for the registry). An INTENT is queued as its commit's fields (`intent`),
 * encoded in binary by the group write into its reused buffer.
 */
type QueuedRecord = AppendRecord & { objects?: string[] };

/**
 * Checkpointed journals: one group write's records, kept for the next checkpoint as one copy of the bytes
 * written (`Journal.forEachBatchRecord` reads them back), not an object and a payload view per
 * record: the thousands of records between two checkpoints would otherwise live through every
 * young-generation collection until the checkpoint drops them.
 */
class PackedGroup {
  /**
   * `maxEpoch`: the highest epoch of its `records` records; `[idFrom, idTo)`: the object ids its
   * INTENTs name, in the storage's `liveIds` (gathered when it was written; idFrom -1 when one
   * was not 1-32 hex digits: a checkpoint then reads them from the bytes, as any group it keeps
   * part of). A checkpoint that drops the whole group takes its ids from there, without walking it.
   */
  constructor(readonly bytes: Buffer, readonly maxEpoch: bigint, readonly records: number, public idFrom: number, public idTo: number, readonly minEpoch: bigint = 0n) {}
}

/** What a redo journal keeps of the records written since its last rewrite (in file order). */
type LiveEntry = QueuedRecord | PackedGroup;

/** A record of a packed group as the rewrite encodes it again (binary INTENTs keep their payload bytes and name their objects). */
function packedRecord(b: Buffer, type: JournalType, epoch: bigint, start: number, end: number, binary: boolean): QueuedRecord {
  if (!binary) return { type, epoch, json: b.toString('utf8', start, end) };
  if (type === JournalType.Done) return { type, epoch, epochs: doneSetPayloadEpochs(b, start, end) }; // (a DONE set)
  const bin = b.subarray(start, end);
  return type === JournalType.Intent ? { type, epoch, bin, objects: packedIntentObjects(b, start, end) } : { type, epoch, bin };
}

/**
 * The object ids of a binary INTENT this process wrote (a packed group's): they must parse, or a
 * checkpoint would drop the record without its ids reaching the registry.
 */
function packedIntentObjects(b: Buffer, start: number, end: number): string[] {
  const objects = intentObjects(b, start, end);
  assert(objects !== undefined, 'a kept INTENT names its objects', { start, end });
  return objects;
}

/** The object ids a JSON INTENT payload names (hex strings only). */
function jsonObjects(text: string): string[] {
  let p: unknown;
  try { p = JSON.parse(text); } catch (err) { assert(false, 'a kept JSON INTENT parses', { err: String(err) }); }
  const o = (p as { objects?: unknown } | null)?.objects;
  return Array.isArray(o) ? o.filter((x): x is string => typeof x === 'string') : [];
}

/** `JSON.stringify({ objects })` of a DONE record naming `objects` in hex (no escaping: hex digits), without the generic serialiser (a checkpoint writes 1024 of them, cold). */
function doneJson(objects: readonly bigint[]): string {
  let s = '{"objects":[';
  for (let i = 0; i < objects.length; i++) s += (i === 0 ? '"' : ',"') + objects[i]!.toString(16) + '"';
  return s + ']}';
}

/**
 * The records of live entries as a rewrite encodes them again: a packed group as its bytes
 * (`AppendRecord.packed`: copied, no record decoded, no id of its INTENTs parsed; the group stays
 * live, its ids in `liveIds`).
 */
function rewriteRecords(entries: readonly LiveEntry[]): AppendRecord[] {
  const out: AppendRecord[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    out[i] = e instanceof PackedGroup ? { type: JournalType.Intent, epoch: e.maxEpoch, packed: e.bytes } : e;
  }
  return out;
}

/** One published commit: its epoch and the objects it touched. */
export interface CommitEvent { epoch: bigint; objects: bigint[] }

/** What a commit touches. */
export interface CommitInfo {
  targets: number[];
  objects: string[];
  /** Target of every shard write, in plan order (connected pools: each engine learns how many writes it gets). */
  writes?: readonly number[];
  /**
   * A transaction's commit: its read epoch, every key it read or wrote, the keys its ops write, and
   * where objects live (connected pools check the keys it only read on the engines).
   */
  check?: { readEpoch: bigint; keys: Iterable<string>; written: string[]; layout(oid: bigint): { groups: number[][]; red: Redundancy } };
  /**
   * A commit of one single value written whole on every shard (replicas / a stripe): enough for
   * recovery to tell, from the targets alone, whether every write landed (`TornCommit.single`), so
   * its DONE record need not be waited for (`ContainerStorage.doneLater`).
   */
  single?: SingleCheck;
  /**
   * Connected pools, a commit that is not a transaction's: the epoch of its first attempt (a
   * commit refused with STALE_EPOCH and made again at a later epoch keeps it). Its writes carry
   * the top of their uncertainty window, `firstEpoch + ε`, and an engine holding another client's
   * write to what one changes in (epoch, top] refuses it, so a write that starts after another
   * client's acknowledged write to the same key lands above it (docs/scale.md, "Freshness").
   */
  firstEpoch?: bigint;
}

/** What recovery checks on the targets of a single-value commit: each shard holds these bytes at its epoch. */
export interface SingleCheck {
  dkey: Uint8Array;
  akey: Uint8Array;
  /** xxh64 of the value: with seed 0, or its store checksum when `storeHash` (see `singleHash`). */
  hash: bigint;
  /**
   * `hash` is the value's store checksum (`valueChecksum`, XXH64 under the stores' seed; journal
   * format 4): a put hashes its value once, for its replicas and its INTENT.
   */
  storeHash?: boolean;
  /** (target, shard) of every write. */
  shards: Array<[number, number]>;
  /**
   * The value itself (redo journals: `LocalContainerStorage.redo`): the INTENT is then a redo
   * record, and recovery writes the value again instead of checking it.
   */
  value?: Uint8Array;
}

/** A commit a redo journal holds the values of, written again at open (idempotent in the stores). */
export interface RedoCommit { epoch: bigint; objects: string[]; single: SingleCheck & { value: Uint8Array } }

/** Epochs (after, upTo] to discard again at open (an abort or a rollback a checkpoint did not cover); `targets` undefined: every target. */
export interface RedoDiscard { after: bigint; upTo: bigint; targets?: number[] }

/** A commit the last process started and did not record as finished. */
export interface TornCommit {
  epoch: bigint;
  targets: number[];
  objects: string[];
  /** Single-value commits: checked on the targets; complete there, the commit is finished, not discarded. */
  single?: SingleCheck;
}

/** What a storage found on open. */
export interface StorageRecovery {
  /** Highest epoch already used. */
  floor: bigint;
  /** Commits that started and never finished: to be discarded from the targets they name. */
  torn: TornCommit[];
  /** Retained commit history, oldest first (for `watch()`). */
  done: CommitEvent[];
  /**
   * Redo journals: the finished commits whose values the journal holds (written again at open:
   * a power loss may have taken them from the stores, which sync only at checkpoints).
   */
  replay?: RedoCommit[];
  /** Redo journals: aborts and rollbacks since the last checkpoint, in journal order (discarded again at open, after `replay`). */
  rediscard?: RedoDiscard[];
  /**
   * The last rollback (to epoch `to`, at epoch `at`) when no later record follows it: its discards
   * and its drop of later snapshots may not have finished (the process died during it), so the
   * open finishes both (idempotent: no epoch in (to, at] is written after it).
   */
  rollback?: { at: bigint; to: bigint };
}

/** A container's persistent state and commit record. */
export interface ContainerStorage {
  /** Read back what the last process left (called once, at load). */
  recover(): StorageRecovery;
  /** Before any target is written at `epoch`. */
  intent(epoch: bigint, info: CommitInfo): void | Promise<void>;
  /** After every target applied `epoch`: the commit point. Throws when the commit could not be made. */
  done(epoch: bigint, info: CommitInfo): void | Promise<void>;
  /**
   * `done` for a commit whose INTENT carries `single`: the record is queued with the next group
   * and nothing waits for it (in durable mode, for its sync): recovery completes such a commit from
   * its targets when the record is missing. Errors are the storage's to count. Optional.
   */
  doneLater?(epoch: bigint): void;
  /**
   * A commit whose INTENT is recorded starts (+1) or stops (-1) writing its targets. Durable
   * storages gather the next journal group while commits write, so the commits they acknowledge
   * next join it (one journal sync and one target sync for the whole cohort). Optional.
   */
  applying?(delta: 1 | -1): void;
  /** The commit at `epoch` was abandoned (its writes were discarded). */
  abort(epoch: bigint, info: CommitInfo & { recovered?: boolean }): void | Promise<void>;
  /**
   * Write the records queued for group commit now (the caller knows no other record can join the
   * batch); storages that write at once need not implement it.
   */
  flush?(): void;
  /**
   * A rollback to `to` happened at `epoch`. `to === epoch` discards nothing: it marks the rollback
   * before it finished (see `ContainerCore.rollbackFinished`).
   */
  rollback(epoch: bigint, to: bigint): void;
  /** Whether the commit record has grown past its compaction threshold (or `bytes`, when given). */
  needsCompaction(bytes?: number): boolean;
  /**
   * A redo journal (durable embedded pools): INTENT records of small single-value commits carry
   * their values, and the target stores sync only at checkpoints (`TargetStore` `deferSync`).
   */
  readonly redo?: boolean;
  /**
   * The journal is checkpointed (redo journals, and those of writable embedded pools that are not
   * durable: PLAIN_CHECKPOINT_BYTES): `needsCheckpoint`, `dropRedo` and `redoCovered` apply.
   */
  readonly checkpointed?: boolean;
  /** Checkpointed journals: the journal passed its bound (REDO_CHECKPOINT_BYTES, PLAIN_CHECKPOINT_BYTES): the pool should checkpoint. */
  needsCheckpoint?(): boolean;
  /**
   * Checkpointed journals: call `cb` (in a microtask) whenever a group write leaves the journal past
   * its bound with no checkpoint rewriting it: the container asks the pool for one then.
   */
  whenCheckpointDue?(cb: () => void): void;
  /**
   * Checkpointed journals: every commit at or below `covered` was applied (and, redo journals,
   * every target store was flushed after): drop the records of those commits (the journal is
   * rewritten to `history`'s DONE records at or below `covered` and the records above it). Waits
   * for a group sync in progress.
   */
  dropRedo?(covered: bigint, history: CommitEvent[]): Promise<void>;
  /** Checkpointed journals: resolves once no `dropRedo` rewrite runs (compaction waits for it). */
  settled?(): Promise<void>;
  /**
   * Checkpointed journals: the epoch at or below which the journal holds no record any more (the last
   * checkpoint's, or compaction's): aggregation merges no further, so an open never writes again
   * a version aggregation merged away.
   */
  redoCovered?(): bigint;
  /** Rewrite the commit record down to `history`. */
  compact(history: CommitEvent[]): void;
  /** Persist the container's metadata record. */
  saveMeta(meta: unknown): Promise<void>;
  /**
   * Storages other clients write too (connected pools): apply `change` to a copy of the newest
   * metadata record and write it only if no one wrote since (a compare-and-put), reading the
   * record again and applying `change` again otherwise; resolves to what was written. `change` may
   * throw (the record then stays as it was). Absent: `saveMeta` after changing in place.
   */
  updateMeta?(change: (meta: unknown) => void): Promise<unknown>;
  /** Metadata changed by another client (connected pools): the container adopts it. */
  onMetaChange?(cb: (meta: unknown) => void): void;
  /**
   * Read the metadata record again now (connected pools: before the watch brings it), adopted
   * (`onMetaChange`) when newer than the one held; false when the container was destroyed (the
   * record held is left as it was).
   */
  refreshMeta?(): Promise<boolean>;
  /**
   * Every object id the commit record has seen committed (ascending, possibly with ids whose data
   * was since punched). Used beside the targets' object tables to find objects whose every shard
   * is gone, so a rebuild reports them lost instead of forgetting them.
   */
  registeredObjects?(): Promise<bigint[]>;
  /**
   * Read-only opens: re-read the commit record (and metadata) another process keeps writing.
   * `floor` is the newest epoch at or below which that process finished every commit.
   */
  refresh?(): Promise<{ floor: bigint; done: CommitEvent[]; meta?: unknown }>;
  close(): void | Promise<void>;
}

/** The hash of `value` that `single.hash` is compared with (`SingleCheck.storeHash` says which). */
export function singleHash(single: Pick<SingleCheck, 'storeHash'>, value: Uint8Array): bigint {
  return single.storeHash === true ? valueChecksum(value) : xxh64(value);
}

/** The settlement every record of one group write waits on. */
interface Batch { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void; detached?: boolean; lazy?: boolean }

/** What a group write's failure does to the DONE records nobody waits for (`doneLater`). */
const swallowUnwrittenDone = swallow('container.done-record-unwritten-completed-at-open');

/**
 * Durable mode: longest a journal group gathers while commits are still writing their targets
 * (it is written as soon as they are done; this bounds the wait behind a slow target).
 */
export const GROUP_GATHER_MAX_MS = 20;
/** Durable mode: a gathering group is written once at most this share of its cohort (1/8) still writes (a slow target does not hold it). */
const GATHER_STRAGGLERS_SHIFT = 3;
/**
 * Durable mode, pipelined group syncs (journal format 6): a group is written as soon as it holds
 * this many INTENTs while fewer than the journal's `syncDepth` syncs run (else at the end of the
 * turn, or when a sync ends), so the commits in flight are spread over several groups, each synced
 * while the others' commits run, instead of one group whose sync everything waits for. A group is
 * acknowledged once a sync issued after its write completed (in order: that sync made every
 * earlier group durable too). With JOURNAL_SYNC_DEPTH 1, one group per sync. 16: durable puts, 32
 * in flight, 3 alternating runs of 3x10k (load 9-10): CPU per put 40-44 us with groups of 16 (as
 * with one group per sync: 38-46), 42-50 with groups of 8; `CAIRN_JOURNAL_GROUP_SPLIT` overrides.
 */
export const GROUP_SPLIT_INTENTS = Math.max(2, Number(process.env.CAIRN_JOURNAL_GROUP_SPLIT ?? 16) || 16);

/** Journal size above which the journal is rewritten down to the retained history. */
export const JOURNAL_COMPACT_BYTES = 16 * 1024 * 1024;
/**
 * Redo journals: journal size (one copy) past which the pool checkpoints (flushes every target
 * store, then each container drops the redo records the flush made redundant). Bounds the
 * journal, the records kept in memory for the rewrite, and the values replayed at open.
 * 4 MiB: a checkpoint every ~23k durable 100-byte puts; each stalls the puts running beside it
 * (the io bench's third durable round, puts 21k-31k, holds the first one in every run: 22-28k/s
 * against 35-49k/s for rounds 1-2, lead's finals of session 27; its phases under load: the stores'
 * flush ~2/3, registry fold, new journal file and its adoption ~1/3). `CAIRN_REDO_CHECKPOINT_MIB`
 * (1-64) sets it per process: fewer checkpoints, for more redo replayed at a crash reopen and
 * more bytes held for the rewrite.
 */
export const REDO_CHECKPOINT_BYTES = Math.max(1, Math.min(64, Math.floor(Number(process.env.CAIRN_REDO_CHECKPOINT_MIB ?? 4)) || 4)) * 1024 * 1024;
/**
 * Journals of pools that are not durable: journal size (one copy) past which the container
 * checkpoints it as a redo journal is (the records of finished commits dropped, their object ids
 * folded into the registry, the journal rewritten beside the commits that go on: `dropRedo`),
 * with no store to flush first (such a pool promises nothing across a power loss; a process crash
 * keeps what the stores wrote). Without it the journal grew with every commit until a close or
 * an aggregation compacted it: 50 MB after 300k small puts, and an open after a crash read it
 * all (8.8-11 s). 8 MiB (~100k small puts): an open after a crash took 1.27 s after 300k puts and
 * 1.75 s after 1M (4 MiB: 1.30 and 1.79 s, twice the checkpoints; 16 MiB: a copy can pass
 * JOURNAL_COMPACT_BYTES and the open compacts it, 8.4 s after 1M). A put pays ~0.2 us for the
 * records kept for the rewrite, and each checkpoint ~30 ms of the JavaScript thread
 * (docs/performance.md, session 44). `CAIRN_JOURNAL_CHECKPOINT_MIB` (1-64) sets it per process;
 * 0 turns these checkpoints off (the journal is compacted only at open, close and aggregation).
 */
export const PLAIN_CHECKPOINT_BYTES = (() => {
  const mib = Math.floor(Number(process.env.CAIRN_JOURNAL_CHECKPOINT_MIB ?? 8));
  return mib === 0 ? 0 : Math.max(1, Math.min(64, mib || 8)) * 1024 * 1024;
})();
/**
 * Redo journals with JOURNAL_SPARE: bytes of each copy of a checkpoint's file made ahead: the
 * interval and the preallocation step a checkpoint's own file gets, and one step more for the
 * records it keeps (a spare too small for them is not taken).
 */
const REDO_SPARE_BYTES = REDO_CHECKPOINT_BYTES + 2 * JOURNAL_PREALLOC_BYTES;
/** Redo journals: largest single value a commit carries in its INTENT (larger ones sync their target stores before DONE). */
export const REDO_MAX_VALUE_BYTES = 16 * 1024;
/** Redo journals: DONE records of the latest commits kept by a checkpoint's rewrite (watch history across a restart). */
export const REDO_RETAINED_HISTORY = 1024;
export const CONTAINER_META_MAGIC = 'CAIRNCNT';
export const CONTAINER_META_VERSION = 1;

/** Magic and version of the registry of committed object ids (record file, two copies). */
const REGISTRY_MAGIC = 'CAIRNREG';
const REGISTRY_VERSION = 1;

/**
 * Files in `dir`: `meta` (two copies), `journal` (two copies in one file, format 5; `journal.copy`
 * is its guard against older builds), `objects.reg` (two copies: the object ids of commits folded
 * out of the journal by compaction).
 *
 * Commits are group-committed: INTENT and DONE records of the commits waiting in one turn of the
 * event loop go to the journal in one write per copy (one fdatasync per group in durable mode,
 * several groups syncing at once: GROUP_SPLIT_INTENTS).
 */
export class LocalContainerStorage implements ContainerStorage {
  private queue: QueuedRecord[] = [];
  /** The DONE set `doneLater` adds to, while `doneSetQueue` (the queue it waits in) is still `queue`. */
  private doneSet: (QueuedRecord & { epochs: bigint[] }) | undefined;
  private doneSetQueue: QueuedRecord[] | undefined;
  /**
   * Checkpointed journals: the records written to the journal since it was last rewritten (in file order),
   * kept for the next checkpoint's rewrite (those above its epoch stay); bounded by
   * REDO_CHECKPOINT_BYTES, past which the pool checkpoints.
   */
  private live: LiveEntry[] = [];
  /** `recover` ran to its end: `live` holds what the open read (checkpointed journals). */
  private recovered = false;
  /** Checkpointed journals: the object ids named by the INTENTs of the packed groups of `live` (`PackedGroup.idFrom`). */
  private liveIds = new IdWords();
  /** Checkpointed journals: journal size at which the next checkpoint is asked for (one bound past the size the last one left). */
  private nextCheckpointBytes: number;
  /** Checkpointed journals: see `whenCheckpointDue`; `dueQueued`: its call is queued. */
  private checkpointDue: (() => void) | undefined;
  private dueQueued = false;
  /**
   * Redo journals with JOURNAL_SPARE: journal size past which the next checkpoint's file is made
   * ahead (`Journal.prepareSpare`): half way to the checkpoint, so only a container that will
   * checkpoint soon holds one.
   */
  private spareAtBytes = REDO_CHECKPOINT_BYTES / 2;
  private closed = false;
  /** Checkpointed journals: a checkpoint's rewrite of the journal runs (`dropRedo`); resolves when it ends. */
  private rewriting: Promise<void> | undefined;
  /** Checkpointed journals: the journal was compacted while a checkpoint's rewrite was prepared (that rewrite is abandoned). */
  private rewriteStale = false;
  /** Checkpointed journals: see `redoCovered`. */
  private coveredUpTo = 0n;
  /**
   * The last `registeredObjects()` answer as id records (registry and journal, ascending, each
   * once), while the journal's size and `listingGen` are what they were: a listing with no record
   * written since reads no file. `listingGen` moves at every rewrite of the journal or the registry.
   */
  private listed: { gen: number; bytes: number; records: Uint8Array } | undefined;
  private listingGen = 0;
  /** The settlement every record of the queued batch waits on (one promise per group write, not per record). */
  private batch: Batch | undefined;
  private readonly flushSoon = (): void => { if (!this.blocked) this.flushQueue(); };
  /**
   * Durable mode: the groups written and not yet settled, oldest first (see GROUP_SPLIT_INTENTS);
   * `syncsRunning`: the group syncs running (at most the journal's `syncDepth`).
   */
  private inflight: Array<{ batch: Batch | undefined }> = [];
  private syncsRunning = 0;
  /** Durable mode: no group may be written now (`syncDepth` syncs in flight). */
  private get blocked(): boolean { return this.syncsRunning >= this.journal.syncDepth; }
  /** Durable mode: commits writing their targets now (`applying`). */
  private writers = 0;
  /** Durable mode: most commits writing at once since the last group was written (the cohort the next group gathers). */
  private cohort = 0;
  /** Durable mode: the deadline of a group gathering while commits write (GROUP_GATHER_MAX_MS). */
  private gatherTimer: ReturnType<typeof setTimeout> | undefined;
  /** Durable mode: a flush is scheduled for the end of this turn of the event loop. */
  private flushPending = false;
  /** Durable mode: INTENT records in `queue` (commits waiting for the next group). */
  private queuedIntents = 0;
  private readonly flushAtTurnEnd = (): void => { this.flushPending = false; this.startGroup(); };

  private constructor(private readonly dir: string, private readonly journal: Journal, private readonly opened: ReturnType<typeof Journal.open>, readonly redo: boolean, readonly checkpointed: boolean) {
    this.nextCheckpointBytes = this.checkpointBytes;
  }

  /** Checkpointed journals: the bound a checkpoint is asked for past (see `needsCheckpoint`). */
  private get checkpointBytes(): number { return this.redo ? REDO_CHECKPOINT_BYTES : PLAIN_CHECKPOINT_BYTES; }

  /**
   * Open (creating when absent) the files of a container. `redo` (durable only): the journal is a
   * redo journal, for a pool whose target stores defer their syncs to checkpoints.
   */
  static async open(dir: string, durable: boolean, opts: { redo?: boolean } = {}): Promise<LocalContainerStorage> {
    await mkdir(dir, { recursive: true });
    await makeReadersDir(dir); // (also in containers created before create made it: readers register there)
    const opened = Journal.open(join(dir, 'journal'), { durable, typed: true });
    const redo = durable && opts.redo === true;
    return new LocalContainerStorage(dir, opened.journal, opened, redo, redo || (!durable && PLAIN_CHECKPOINT_BYTES > 0));
  }

  /** Write the metadata of a new container. */
  static async create(dir: string, meta: unknown): Promise<void> {
    await mkdir(dir, { recursive: true });
    await makeReadersDir(dir);
    await writeJsonRecordTwice(join(dir, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, meta);
  }

  /** Remove a container's files (after close). */
  static async remove(dir: string): Promise<void> { await rm(dir, { recursive: true, force: true }); }

  recover(): StorageRecovery {
    const records = this.opened.records;
    const state = new Map<bigint, { targets: number[]; objects: string[]; intent: JournalRecord }>();
    let floor = 0n;
    const done: CommitEvent[] = [];
    // INTENTs first: records come in copy 0's order, then the other copy's extras, so an INTENT
    // read from the other copy (damaged in copy 0) comes after its DONE
    for (const r of records) {
      if (r.epoch > floor) floor = r.epoch;
      if (r.type === JournalType.Intent && !state.has(r.epoch)) state.set(r.epoch, { targets: (r.payload.targets as number[]) ?? [], objects: (r.payload.objects as string[]) ?? [], intent: r });
    }
    for (const r of records) {
      if (r.type === JournalType.Done || r.type === JournalType.Abort) {
        const s = state.get(r.epoch);
        // A DONE without INTENT is retained history written by journal compaction.
        const objects = s?.objects ?? (r.payload.objects as string[] | undefined);
        if (r.type === JournalType.Done && objects) done.push({ epoch: r.epoch, objects: objects.map((o) => BigInt('0x' + o)) });
        state.delete(r.epoch);
      }
    }
    done.sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
    // the single value of each torn INTENT, parsed once (its value decoded and hashed), for `torn`
    // and the redo replay (which parses the finished ones' itself): not one per INTENT read
    const singles = new Map<JournalRecord, SingleCheck | undefined>();
    for (const s of state.values()) singles.set(s.intent, recordSingle(s.intent));
    if (this.opened.damaged && state.size > 0) {
      // Both copies are damaged: whether these commits finished cannot be told. Discarding them
      // could drop acknowledged data; keeping them could expose half a commit. Say so.
      throw new CorruptionError(`container journal in ${this.dir}: both copies are damaged and ${state.size} commit(s) cannot be resolved`, { dir: this.dir, unresolved: [...state.keys()].map(String) });
    }
    // (a journal a durable pool left holds redo records whatever this open's mode: they are replayed)
    const redo = this.redo || records.some((r) => r.type === JournalType.Intent && (r.intent !== undefined ? intentCarriesValue(r.intent) : typeof (r.payload.single as { v?: unknown } | undefined)?.v === 'string')) ? this.redoRecovery(records, singles) : {};
    const rollback = unfinishedRollback(records);
    if (this.checkpointed) this.keepRead(records);
    this.recovered = true;
    this.opened.records.length = 0;
    return { floor, torn: [...state].map(([epoch, s]) => { const single = singles.get(s.intent); return { epoch, targets: s.targets, objects: s.objects, ...(single ? { single } : {}) }; }), done, ...redo, ...(rollback ? { rollback } : {}) };
  }

  /**
   * What a redo journal asks of the stores at open: every finished commit whose INTENT carries its
   * values is written again (torn ones come with `torn` and roll forward there), then aborts and
   * rollbacks are discarded again, in journal order. Every record in the journal is after the last
   * checkpoint (a checkpoint rewrites the journal without the records it covered).
   */
  private redoRecovery(records: JournalRecord[], singles: ReadonlyMap<JournalRecord, SingleCheck | undefined>): Pick<StorageRecovery, 'replay' | 'rediscard'> {
    const intents = new Map<bigint, JournalRecord>();
    const finished = new Set<bigint>();
    const aborted = new Set<bigint>();
    for (const r of records) {
      if (r.type === JournalType.Intent) intents.set(r.epoch, r);
      else if (r.type === JournalType.Done) finished.add(r.epoch);
      else if (r.type === JournalType.Abort) aborted.add(r.epoch);
    }
    const replay: RedoCommit[] = [];
    const rediscard: RedoDiscard[] = [];
    for (const [epoch, r] of intents) {
      if (!finished.has(epoch) || aborted.has(epoch)) continue;
      const single = singles.has(r) ? singles.get(r) : recordSingle(r);
      if (single?.value) replay.push({ epoch, objects: (r.payload.objects as string[]) ?? [], single: single as SingleCheck & { value: Uint8Array } });
    }
    for (const r of records) {
      if (r.type === JournalType.Abort) {
        const targets = intents.get(r.epoch)?.payload.targets;
        rediscard.push({ after: r.epoch - 1n, upTo: r.epoch, ...(Array.isArray(targets) ? { targets: targets.filter((t): t is number => Number.isSafeInteger(t) && t >= 0) } : {}) });
      } else if (r.type === JournalType.Rollback) {
        const to = rollbackTo(r);
        if (to !== undefined && to < r.epoch) rediscard.push({ after: to, upTo: r.epoch });
      }
    }
    return { replay, rediscard };
  }

  /**
   * Checkpointed journals, at open: the records read stay in the journal until a checkpoint covers
   * them: its rewrite keeps the ones above its epoch and folds the objects of the others into the
   * registry.
   */
  private keepRead(records: JournalRecord[]): void {
    const live: LiveEntry[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!, objs = r.payload.objects;
      // (a binary INTENT read typed keeps its payload's bytes: a view of the open's read of the
      // journal, which holds them until the checkpoint that drops them, as copies of them would,
      // without an allocation per record; its ids as read (hex by construction: `splitLive`
      // leaves out those longer than 32 digits))
      const bytes = r.intent?.bytes;
      if (r.type === JournalType.Intent && bytes !== undefined) live[i] = { type: r.type, epoch: r.epoch, bin: bytes, objects: r.intent!.objects };
      else live[i] = r.type === JournalType.Intent && Array.isArray(objs) ? { type: r.type, epoch: r.epoch, payload: r.payload, objects: (objs as unknown[]).filter(isHexId) } : { type: r.type, epoch: r.epoch, payload: r.payload };
    }
    this.live = live;
  }

  /**
   * Queue a record for the next group write; resolves when it is in both copies. `lazy`: a record
   * nobody waits for (a DONE of `doneLater`), which rides with the next group instead of starting
   * one of its own before the end of this turn of the event loop.
   */
  private write(rec: QueuedRecord, lazy = false): Promise<void> {
    this.queue.push(rec);
    if (!this.batch) {
      let resolve!: () => void, reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      this.batch = { promise, resolve, reject };
      // A microtask, not setImmediate: concurrent commits run in lockstep and still meet in one
      // batch, and a reader spinning on reads that never leave the microtask queue cannot starve it.
      // (Durable mode while a group is being synced: the records wait for that sync to end; while
      // commits write their targets: for them to finish, see `gather`.)
      // Lazy records (DONE of finished commits) wait for the end of the turn: commits run in
      // lockstep, so the DONEs of one cohort meet the INTENTs of the next in one write, instead
      // of taking a write of their own (half the group writes of small puts).
      if (!this.journal.durable) {
        if (lazy) { this.batch.lazy = true; setImmediate(this.flushSoon); } else queueMicrotask(this.flushSoon);
      } else if (!this.blocked) this.gather();
    } else if (this.batch.lazy === true && !lazy) {
      this.batch.lazy = false;
      queueMicrotask(this.flushSoon); // (the pending end-of-turn flush then finds the group written)
    }
    const promise = this.batch.promise;
    if (rec.type === JournalType.Intent && this.journal.durable && ++this.queuedIntents >= GROUP_SPLIT_INTENTS && this.journal.syncDepth > 1 && !this.blocked) this.flushQueue();
    return promise;
  }

  /**
   * Durable mode, a group is queued and no sync runs: write it now when no commit is writing its
   * targets, else once they are done (their callers' next commits join it, so a cohort of
   * concurrent commits costs one journal sync and one sync per target instead of several), at
   * most GROUP_GATHER_MAX_MS later.
   */
  private gather(): void {
    if (this.writers <= this.cohort >> GATHER_STRAGGLERS_SHIFT) { this.scheduleFlush(); return; }
    this.gatherTimer ??= setTimeout(() => { this.gatherTimer = undefined; this.startGroup(); }, GROUP_GATHER_MAX_MS);
  }

  /** At the end of this turn (commits acknowledged in it queue their next records first). */
  private scheduleFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(this.flushAtTurnEnd);
  }

  /** Durable mode: write and sync the queued group unless a sync runs (its end starts the next). */
  private startGroup(): void {
    if (this.gatherTimer !== undefined) { clearTimeout(this.gatherTimer); this.gatherTimer = undefined; }
    if (!this.blocked && this.queue.length) this.flushQueue();
  }

  applying(delta: 1 | -1): void {
    if (!this.journal.durable) return;
    this.writers += delta;
    if (this.writers > this.cohort) this.cohort = this.writers;
    if (delta < 0 && this.writers <= this.cohort >> GATHER_STRAGGLERS_SHIFT && this.queue.length && !this.blocked) this.scheduleFlush();
  }

  flush(): void { if (this.queue.length && !this.blocked) this.flushQueue(); }

  /**
   * Write the queued records as one group. Durable mode syncs off the event loop, up to the
   * journal's `syncDepth` groups at once (GROUP_SPLIT_INTENTS): records queued while that many
   * sync form the next group, written when one of them completes. A group is settled once a sync
   * issued after its write completed (that sync made it durable, and every group before it: they
   * are settled in order); a failed sync fails every group not yet settled (their bytes may be
   * the ones the error was about).
   */
  private flushQueue(): void {
    if (!this.journal.durable) { this.flushNow(); return; }
    const queued = this.queue, batch = this.batch;
    this.queue = [];
    this.batch = undefined;
    this.queuedIntents = 0;
    if (queued.length === 0) { batch?.resolve(); return; }
    let written: Buffer | undefined;
    try { written = this.journal.writeBatch(queued); } catch (err) { batch?.reject(err); return; }
    if (this.checkpointed) {
      this.keepLive(queued, written);
      this.checkDue();
      if (JOURNAL_SPARE && this.journal.bytes > this.spareAtBytes) { this.spareAtBytes = Infinity; this.journal.prepareSpare(REDO_SPARE_BYTES); }
    }
    this.cohort = this.writers;
    const g = { batch };
    this.inflight.push(g);
    this.syncsRunning++;
    const ended = (ok: boolean, err?: unknown): void => {
      this.syncsRunning--;
      const i = this.inflight.indexOf(g);
      // (i < 0: a later sync settled it already)
      const settled = ok ? this.inflight.splice(0, i + 1) : this.inflight.splice(0);
      if (this.queuedIntents >= GROUP_SPLIT_INTENTS && this.journal.syncDepth > 1 && !this.blocked) {
        // (pipelined: the commits that waited for a free sync go now, while those released below run)
        this.flushQueue();
      }
      for (const x of settled) if (ok) x.batch?.resolve(); else x.batch?.reject(err);
      // (the commits this sync released count as writing by now: the next group gathers for them)
      if (!this.blocked && this.queue.length) this.gather();
    };
    this.journal.sync().then(() => ended(true), (err) => ended(false, err));
  }

  /** Write the queued records now, synchronously (durably in durable mode): before a record written in place, a compaction, a close. */
  private flushNow(): void {
    if (!this.queue.length) return;
    const queued = this.queue, batch = this.batch;
    this.queue = [];
    this.batch = undefined;
    this.queuedIntents = 0;
    let written: Buffer | undefined;
    try { written = this.journal.appendBatch(queued); } catch (err) { batch?.reject(err); return; }
    if (this.checkpointed) { this.keepLive(queued, written); this.checkDue(); }
    batch?.resolve();
  }

  /**
   * Checkpointed journals: remember records just written, for the next checkpoint's rewrite: one copy of
   * the group's written bytes (`written`, as the journal returned them: a `PackedGroup`), not the
   * records (an INTENT queued as fields names the caller's buffers, which may change once the
   * commit is acknowledged).
   */
  private keepLive(recs: QueuedRecord[], written?: Buffer): void {
    if (written !== undefined) {
      // (a copy: the batch buffer is reused by the next encode)
      const ids = this.liveIds, from = ids.n;
      let max = 0n, min = -1n, ok = true;
      for (let i = 0; i < recs.length; i++) {
        const r = recs[i]!;
        if (r.epoch > max) max = r.epoch;
        if (min < 0n || r.epoch < min) min = r.epoch;
        const objs = r.objects;
        if (objs !== undefined && ok) for (let k = 0; k < objs.length; k++) if (!ids.addHex(objs[k]!)) { ok = false; break; }
      }
      if (!ok) ids.n = from;
      this.live.push(new PackedGroup(Buffer.from(written), max, recs.length, ok ? from : -1, ids.n, min < 0n ? 0n : min));
      return;
    }
    let bins: Array<Uint8Array | undefined> | undefined;
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      if (r.intent === undefined) { this.live.push(r); continue; }
      bins ??= written !== undefined ? Journal.intentPayloads(recs, written) : recs.map((x) => (x.intent !== undefined ? Journal.intentPayload(x.intent) : undefined));
      this.live.push(r.objects ? { type: r.type, epoch: r.epoch, bin: bins[i]!, objects: r.objects } : { type: r.type, epoch: r.epoch, bin: bins[i]! });
    }
  }

  whenCheckpointDue(cb: () => void): void { this.checkpointDue = cb; }

  /** After a group write: tell the container when a checkpoint is due (once per microtask at most). */
  private checkDue(): void {
    if (this.dueQueued || this.checkpointDue === undefined || !this.needsCheckpoint()) return;
    this.dueQueued = true;
    queueMicrotask(() => { this.dueQueued = false; this.checkpointDue?.(); });
  }

  needsCheckpoint(): boolean { return this.checkpointed && !this.closed && this.rewriting === undefined && this.journal.bytes > this.nextCheckpointBytes; }

  redoCovered(): bigint { return this.coveredUpTo; }

  async dropRedo(covered: bigint, history: CommitEvent[]): Promise<void> {
    while (this.rewriting) await this.rewriting; // (one at a time)
    if (!this.checkpointed || this.closed || covered <= this.coveredUpTo) return;
    let done!: () => void;
    this.rewriting = new Promise<void>((r) => { done = r; });
    this.rewriteStale = false;
    try {
      await this.dropRedoAsync(covered, history);
    } finally {
      this.nextCheckpointBytes = this.journal.bytes + this.checkpointBytes;
      this.spareAtBytes = this.journal.bytes + REDO_CHECKPOINT_BYTES / 2;
      this.rewriting = undefined;
      done();
    }
  }

  /** Resolves once no checkpoint rewrite of the journal runs (a compaction waits for it). */
  async settled(): Promise<void> { while (this.rewriting) await this.rewriting; }

  /**
   * The checkpoint's rewrite, off the event loop but for its last step: the object ids of the
   * dropped INTENTs are folded into the registry, the new journal (retained DONE history, then
   * the records above `covered`) is written and synced under a temporary name while commits go on
   * appending to the old one; then the records appended meanwhile are added to it and it is
   * renamed over the old one while group writes and syncs go on to both (`Journal.commitReplace`).
   */
  private async dropRedoAsync(covered: bigint, history: CommitEvent[]): Promise<void> {
    const n = this.live.length;
    const kept: LiveEntry[] = [];
    const dropped = new IdWords();
    const drops = this.splitLive(n, covered, kept, dropped);
    if (drops === 0) { this.coveredUpTo = covered; return; } // nothing to drop
    // the object ids of the dropped INTENTs reach the registry before the journal forgets them
    if (dropped.n > 0 && !(await this.foldIntoRegistry(dropped))) return;
    const retained: QueuedRecord[] = [];
    for (const ev of history.slice(-REDO_RETAINED_HISTORY)) {
      if (ev.epoch <= covered) retained.push({ type: JournalType.Done, epoch: ev.epoch, json: doneJson(ev.objects) });
    }
    // (zeros for the records of the whole next interval, written with the new file, off the event loop)
    const prep = await this.journal.prepareReplace([...retained, ...rewriteRecords(kept)], REDO_CHECKPOINT_BYTES + JOURNAL_PREALLOC_BYTES);
    if (this.closed || this.rewriteStale) { this.journal.abandonReplace(prep); return; }
    // The records written since `n` are added to the new file, and group writes and syncs go on
    // meanwhile, to both files, until it is adopted (`Journal.commitReplace`): no commit waits
    // for the checkpoint. Every record written meanwhile is in the new file: still live.
    // (packed groups copied whole, as `kept` was: no record split out, no id string made, on the event loop)
    const extra = this.live.slice(n);
    await this.journal.commitReplace(prep, rewriteRecords(extra));
    this.listingGen++;
    this.live = kept.concat(this.live.slice(n));
    // the ids of the packed groups still live (written meanwhile) move to a new sink
    const ids = new IdWords();
    for (const e of this.live) if (e instanceof PackedGroup && e.idFrom >= 0) { const from = ids.n; ids.addWords(this.liveIds, e.idFrom, e.idTo); e.idFrom = from; e.idTo = ids.n; }
    this.liveIds = ids;
    this.coveredUpTo = covered;
  }

  /**
   * Split the first `n` entries of `live` at `covered`: those above it (and the records above it
   * of a packed group that straddles it) go to `kept` (in file order; a packed group every record
   * of which is kept stays packed: its ids stay in `liveIds` and no id of its INTENTs is parsed),
   * the object ids of the INTENTs at or below it to `dropped` (parsed from their bytes where
   * `liveIds` does not hold them: no string or BigInt per id). Returns the records dropped.
   */
  private splitLive(n: number, covered: bigint, kept: LiveEntry[] | undefined, dropped: IdWords): number {
    let drops = 0;
    const intentIds = (b: Buffer, start: number, end: number, binary: boolean): void => {
      if (!binary) { for (const o of jsonObjects(b.toString('utf8', start, end))) dropped.addHex(o); return; }
      // (an id longer than 32 digits is left out, as ever; one that is not hex means this process did not write the INTENT)
      const ok = forEachIntentObject(b, start, end, (at, len, packed) => { if (!(packed ? dropped.addPacked(b, at, len) : dropped.addAscii(b, at, len)) && len <= 32) assert(false, 'a kept INTENT names its objects in hex', { at, len }); });
      assert(ok, 'a kept INTENT names its objects', { start, end });
    };
    for (let i = 0; i < n; i++) {
      const e = this.live[i]!;
      if (e instanceof PackedGroup) {
        if (e.maxEpoch <= covered && e.idFrom >= 0) { drops += e.records; dropped.addWords(this.liveIds, e.idFrom, e.idTo); continue; } // (all dropped)
        if (e.minEpoch > covered && e.idFrom >= 0) { kept?.push(e); continue; } // (all kept)
        const b = e.bytes;
        drops += Journal.splitBatch(b, covered, (type, epoch, start, end, binary) => { kept?.push(packedRecord(b, type, epoch, start, end, binary)); }, (start, end, binary) => intentIds(b, start, end, binary));
        continue;
      }
      if (e.epoch > covered) kept?.push(e);
      else { drops++; if (e.objects) for (const o of e.objects) dropped.addHex(o); }
    }
    return drops;
  }

  /**
   * Add `ids` (hex) to the registry of committed objects: as a new delta file (two copies), so a
   * checkpoint writes what it adds, not every id ever committed. Past REGISTRY_MAX_DELTAS deltas
   * they are merged with these ids: into one delta, or into the base file once they hold as many
   * ids as it (each id is then rewritten a few times over its life, not at every checkpoint).
   * False (nothing written) when a merge finds a registry file damaged in both copies.
   */
  private async foldIntoRegistry(ids: IdWords): Promise<boolean> {
    this.listingGen++;
    const add = ids.records();
    const deltas = registryDeltas(this.dir);
    const next = join(this.dir, `${REGISTRY_FILE}.${(deltas[deltas.length - 1] ?? 0) + 1}`);
    if (deltas.length < REGISTRY_MAX_DELTAS) {
      await writeRegistryFileAsync(next, add);
      await syncDirAsync(this.dir);
      return !this.closed;
    }
    const parts = readRegistryParts(this.dir);
    if (parts === undefined) {
      swallowed('container.checkpoint-registry-damaged', new CorruptionError(`object registry in ${this.dir}: a file is damaged in both copies; journal kept`, { dir: this.dir }));
      return false;
    }
    let merged = add;
    for (const d of parts.deltas) merged = mergeIdRecords(d.records, merged);
    if (merged.length >= parts.base.length) await writeRegistryFileAsync(join(this.dir, REGISTRY_FILE), mergeIdRecords(parts.base, merged));
    else await writeRegistryFileAsync(next, merged);
    await syncDirAsync(this.dir);
    // (the merged deltas' ids are in the file just written: a crash before they go lists them twice, harmlessly)
    removeRegistryDeltas(this.dir, parts.deltas.map((d) => d.n));
    await syncDirAsync(this.dir);
    return !this.closed;
  }

  intent(epoch: bigint, info: CommitInfo): Promise<void> { return this.write(this.checkpointed ? { type: JournalType.Intent, epoch, intent: info, objects: info.objects } : { type: JournalType.Intent, epoch, intent: info }); }
  done(epoch: bigint, _info?: CommitInfo): Promise<void> { return this.write({ type: JournalType.Done, epoch, json: '{}' }); }
  doneLater(epoch: bigint): void {
    // the DONEs of the commits that finish while a group gathers are one DONE set (journal format
    // 7): one record for all of them, the epoch added to it while it is still queued
    const set = this.doneSet;
    if (set !== undefined && this.doneSetQueue === this.queue) {
      set.epochs.push(epoch);
      if (epoch > set.epoch) set.epoch = epoch;
      return;
    }
    const rec: QueuedRecord & { epochs: bigint[] } = { type: JournalType.Done, epoch, epochs: [epoch] };
    const queue = this.queue;
    // a failed write leaves INTENT alone: the next open completes the commit from its targets
    // (one handler per group write, not one per commit: the records of a group share its promise)
    const p = this.write(rec, true);
    if (!this.batch!.detached) { this.batch!.detached = true; p.catch(swallowUnwrittenDone); }
    // (added to while it waits in this queue; a queue written meanwhile starts a new set)
    if (this.queue === queue) { this.doneSet = rec; this.doneSetQueue = queue; } else { this.doneSet = undefined; this.doneSetQueue = undefined; }
  }
  abort(epoch: bigint, info: { recovered?: boolean }): Promise<void> { return this.write({ type: JournalType.Abort, epoch, payload: info.recovered ? { recovered: true } : {} }); }
  rollback(epoch: bigint, to: bigint): void {
    this.flushNow();
    const rec: QueuedRecord = { type: JournalType.Rollback, epoch, payload: { to: to.toString() } };
    this.journal.appendBatch([rec]);
    if (this.checkpointed) this.keepLive([rec]);
  }
  needsCompaction(bytes = JOURNAL_COMPACT_BYTES): boolean { return this.journal.bytes > bytes; }

  compact(history: CommitEvent[]): void {
    this.listingGen++;
    if (this.rewriting) this.rewriteStale = true; // (callers wait for `settled()`; this keeps any other from racing it)
    this.flushNow();
    // fold the object ids the journal holds (and the registry's deltas) into the registry's base
    // file before the journal forgets them
    const parts = readRegistryParts(this.dir);
    if (parts === undefined) {
      // A registry file is damaged in both copies: the journal is the only record of the ids it
      // names, so it is kept whole (recovery reads it; registeredObjects() still lists them) until a repair.
      swallowed('container.compact-registry-damaged', new CorruptionError(`object registry in ${this.dir}: a file is damaged in both copies; journal kept`, { dir: this.dir }));
      return;
    }
    // all sorted: merging walks over the 16-byte records (no id decoded from the registry)
    const held = new IdWords();
    // (a checkpointed journal's records that its last rewrite did not fold into the registry are
    // all in `live`: those written since, and those the open read: `keepRead`. Taken from there,
    // not read back from the file: a close after 300k puts spent 135 ms reading it)
    if (this.checkpointed && this.recovered) this.splitLive(this.live.length, ALL_EPOCHS, undefined, held);
    else this.journalObjectIds(held);
    let merged = mergeIdRecords(parts.base, held.records());
    for (const d of parts.deltas) merged = mergeIdRecords(d.records, merged);
    const img = encodeRecordFile(REGISTRY_MAGIC, REGISTRY_VERSION, merged);
    for (const p of [join(this.dir, REGISTRY_FILE), join(this.dir, REGISTRY_FILE) + COPY_SUFFIX]) writeFileSyncAtomic(p, img);
    if (parts.deltas.length) {
      syncDirSync(this.dir); // (the base holds the deltas' ids before they go)
      removeRegistryDeltas(this.dir, parts.deltas.map((d) => d.n));
    }
    this.journal.rewrite(history.map((ev) => ({ epoch: ev.epoch, objects: ev.objects.map((o) => o.toString(16)) })));
    // (callers synced the stores first: every record the journal held is covered)
    // (a packed group's highest epoch is kept with it: none of its records is decoded)
    for (const e of this.live) { const top = e instanceof PackedGroup ? e.maxEpoch : e.epoch; if (top > this.coveredUpTo) this.coveredUpTo = top; }
    this.live = [];
    this.liveIds = new IdWords();
  }

  async registeredObjects(): Promise<bigint[]> {
    this.flushNow();
    const gen = this.listingGen, bytes = this.journal.bytes, last = this.listed;
    if (last !== undefined && last.gen === gen && last.bytes === bytes) return decodeIds(last.records);
    // (a registry file damaged in both copies throws here: nothing is cached, and the next listing reads again)
    const ids = new IdWords();
    this.journalObjectIds(ids);
    const records = mergeIdRecords(readRegistryOrThrow(this.dir), ids.records());
    this.listed = records.length <= LISTING_CACHE_MAX_BYTES ? { gen, bytes, records } : undefined;
    return decodeIds(records);
  }

  /**
   * Add the object ids the journal's records name (both copies, read now) to `ids`: binary
   * INTENTs' straight from their bytes (no payload decoded, no string or BigInt per id), those of
   * JSON records (a compaction's DONE history, older formats) from their `objects`.
   */
  private journalObjectIds(ids: IdWords): void {
    const { records } = Journal.read(join(this.dir, 'journal'), { writtenEnd: this.journal.bytes, intentObjects: (b, at, len, packed) => { if (packed) ids.addPacked(b, at, len); else ids.addAscii(b, at, len); } });
    for (const r of records) {
      const objs = r.payload.objects as string[] | undefined;
      if (Array.isArray(objs)) for (const o of objs) if (typeof o === 'string') ids.addHex(o);
    }
  }

  async saveMeta(meta: unknown): Promise<void> { await writeJsonRecordTwice(join(this.dir, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, meta); }
  close(): void {
    this.closed = true;
    if (this.gatherTimer !== undefined) { clearTimeout(this.gatherTimer); this.gatherTimer = undefined; }
    this.flushNow();
    this.journal.close();
  }
}

/** Above every epoch (epochs are unsigned 64-bit): `splitLive` drops every record. */
const ALL_EPOCHS = 1n << 64n;

/** Largest `registeredObjects()` answer kept for the next listing (16 bytes per id: 2M ids). */
const LISTING_CACHE_MAX_BYTES = 32 * 1024 * 1024;

/** File name of the registry's base file in a container's directory (its deltas add `.<n>`). */
const REGISTRY_FILE = 'objects.reg';
/** A registry delta file (the primary copy; `COPY_SUFFIX` names the other). */
const REGISTRY_DELTA_RE = /^objects\.reg\.(\d+)$/;
/**
 * Registry delta files (`objects.reg.<n>`, two copies each: the ids of one checkpoint's fold)
 * past which the next fold merges them (into one delta, or into the base). Bounds the files a
 * reader of the registry opens.
 */
export const REGISTRY_MAX_DELTAS = 16;
/** Times a registry is read again when a delta it listed went meanwhile (a writer merging; read-only opens). */
const REGISTRY_READ_ATTEMPTS = 3;

/** The numbers of the registry's delta files in `dir`, ascending. */
function registryDeltas(dir: string): number[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  const out: number[] = [];
  for (const n of names) { const m = REGISTRY_DELTA_RE.exec(n); if (m) out.push(Number(m[1])); }
  return out.sort((a, b) => a - b);
}

/** The id records of registry file `p` (either copy): null when neither copy exists, undefined when both are damaged. */
function readRegistryFile(p: string): Uint8Array | null | undefined {
  let found = false;
  for (const f of [p, p + COPY_SUFFIX]) {
    let img: Uint8Array;
    try { img = new Uint8Array(readFileSync(f)); } catch { continue; }
    found = true;
    try {
      const { payload } = decodeRecordFile(REGISTRY_MAGIC, REGISTRY_VERSION, img, 'object registry');
      if (payload.length % 16 === 0) return payload;
    } catch { /* the other copy */ }
  }
  return found ? undefined : null;
}

/**
 * The registry's base records (empty when there is none) and its deltas' (see `idRecords`);
 * undefined when a file of it is damaged in both copies.
 */
function readRegistryParts(dir: string): { base: Uint8Array; deltas: Array<{ n: number; records: Uint8Array }> } | undefined {
  for (let attempt = 1; ; attempt++) {
    // deltas first: a writer merges them into the base before it removes them
    const deltas: Array<{ n: number; records: Uint8Array }> = [];
    let vanished = false;
    for (const n of registryDeltas(dir)) {
      const r = readRegistryFile(join(dir, `${REGISTRY_FILE}.${n}`));
      if (r === undefined) return undefined;
      if (r === null) vanished = true; else deltas.push({ n, records: r });
    }
    if (vanished && attempt < REGISTRY_READ_ATTEMPTS) continue;
    const base = readRegistryFile(join(dir, REGISTRY_FILE));
    if (base === undefined) return undefined;
    return { base: base ?? new Uint8Array(0), deltas };
  }
}

/** Every id record of the registry in `dir` (base and deltas, ascending, each once); CORRUPTED when a file of it is damaged in both copies. */
function readRegistryOrThrow(dir: string): Uint8Array {
  const parts = readRegistryParts(dir);
  if (parts === undefined) throw new CorruptionError(`object registry in ${dir}: a file is damaged in both copies`, { dir });
  let all = parts.base;
  for (const d of parts.deltas) all = mergeIdRecords(d.records, all);
  return all;
}

/**
 * Write registry file `p` (both copies, each atomically) with `records`. The copies are written
 * and synced at once (their fdatasyncs can share one filesystem-journal commit; 40 alternating
 * pairs: 5.1 against 11.2 ms median for a 320 KiB file): each copy is renamed only once synced,
 * so either copy is whole, old or new, at every moment, as when written one after the other. A
 * crash may leave a new delta's copy without its primary: it is not listed (deltas are found by
 * their primaries), the journal still names its ids, and the next fold writes that number again.
 */
async function writeRegistryFileAsync(p: string, records: Uint8Array): Promise<void> {
  const img = encodeRecordFile(REGISTRY_MAGIC, REGISTRY_VERSION, records);
  await Promise.all([writeFileAtomicAsync(p, img), writeFileAtomicAsync(p + COPY_SUFFIX, img)]);
}

/** Remove registry deltas `ns` of `dir` (each copy before its primary: a primary is what lists a delta). */
function removeRegistryDeltas(dir: string, ns: readonly number[]): void {
  for (const n of ns) {
    const p = join(dir, `${REGISTRY_FILE}.${n}`);
    rmSync(p + COPY_SUFFIX, { force: true });
    rmSync(p, { force: true });
  }
}

/** `syncDirAsync`, synchronously. */
function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* a filesystem that cannot sync directories */ } finally { if (fd !== undefined) closeSync(fd); }
}

/** Each byte's value as a lowercase hex digit, -1 for any other byte. */
const HEX_DIGIT = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x61 + i] = 10 + i;
  return t;
})();
/** 2^21: `IdWords.records` sorts keys `word * 2^21 + position` (exact in a double below 2^53). */
const SORT_POS = 2097152;
/** Whether this machine stores a Uint32Array's words little-endian (`IdWords.records` swaps them to big-endian). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Object ids gathered for the registry (a checkpoint's fold, `hexIdRecords`): each parsed from
 * its hex digits (1-32 lowercase ones, as INTENT records name objects) into four 32-bit words,
 * most significant first, so numeric order is the registry's byte order; no string and no BigInt
 * per id. `records()` sorts them with one native typed-array sort, not a comparator called per
 * pair: a checkpoint's fold runs once per REDO_CHECKPOINT_BYTES of records, always cold.
 */
export class IdWords {
  private w = new Uint32Array(4 * 256);
  /** Ids added. */
  n = 0;

  /** The word slots of the next id, zeroed (grown on demand). */
  private slot(): number {
    const base = 4 * this.n;
    if (base + 4 > this.w.length) { const w = new Uint32Array(2 * this.w.length); w.set(this.w); this.w = w; }
    this.w[base] = 0; this.w[base + 1] = 0; this.w[base + 2] = 0; this.w[base + 3] = 0;
    return base;
  }

  /** Add ids `[from, to)` of `src`. */
  addWords(src: IdWords, from: number, to: number): void {
    if (to <= from) return;
    while (4 * (this.n + to - from) > this.w.length) { const w = new Uint32Array(2 * this.w.length); w.set(this.w); this.w = w; }
    this.w.set(src.w.subarray(4 * from, 4 * to), 4 * this.n);
    this.n += to - from;
  }

  /** Add the id whose hex digits are `b[at, at + len)`; false (nothing added) unless they are 1-32 lowercase hex digits. */
  addAscii(b: Uint8Array, at: number, len: number): boolean {
    if (len < 1 || len > 32) return false;
    const base = this.slot(), w = this.w, pad = 32 - len;
    for (let i = 0; i < len; i++) {
      const v = HEX_DIGIT[b[at + i]!]!;
      if (v < 0) return false;
      const k = base + ((pad + i) >> 3);
      w[k] = w[k]! * 16 + v; // (leading zeros of the padding add nothing: the first word's digits simply start later)
    }
    this.n++;
    return true;
  }

  /** `addAscii` of an id of `len` hex digits packed two a byte from `b[at]`, the first in the high nibble (an INTENT's, codec 2). */
  addPacked(b: Uint8Array, at: number, len: number): boolean {
    if (len < 1 || len > 32) return false;
    const base = this.slot(), w = this.w, pad = 32 - len;
    for (let i = 0; i < len; i++) {
      const x = b[at + (i >> 1)]!;
      const k = base + ((pad + i) >> 3);
      w[k] = w[k]! * 16 + ((i & 1) === 0 ? x >> 4 : x & 15);
    }
    this.n++;
    return true;
  }

  /** `addAscii` of the id in hex string `s`. */
  addHex(s: string): boolean {
    const len = s.length;
    if (len < 1 || len > 32) return false;
    const base = this.slot(), w = this.w, pad = 32 - len;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      const v = c < 256 ? HEX_DIGIT[c]! : -1;
      if (v < 0) return false;
      const k = base + ((pad + i) >> 3);
      w[k] = w[k]! * 16 + v;
    }
    this.n++;
    return true;
  }

  /**
   * The ids as 16-byte big-endian records, ascending, each once (the registry's payload). One
   * native sort of `word * 2^21 + index` on the most significant word that is not the same in
   * every id (object ids share their top bits: the class), then each run of ids equal in that
   * word (rare: the next word is a hash) sorted on the words after it with a comparator.
   */
  records(): Uint8Array {
    const n = this.n, w = this.w;
    const sort = nativeAddon()?.sortIdRecords;
    if (sort !== undefined && LITTLE_ENDIAN) {
      // the words made big-endian by one byte swap, then sorted and made unique in C
      const out = Buffer.from(w.slice(0, 4 * n).buffer);
      out.swap32();
      const m = sort(out);
      return new Uint8Array(out.buffer, 0, 16 * m);
    }
    let order: Int32Array = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const cmpFrom = (k0: number) => (a: number, b: number): number => {
      for (let k = k0; k < 4; k++) { const d = w[4 * a + k]! - w[4 * b + k]!; if (d !== 0) return d; }
      return 0;
    };
    if (n >= SORT_POS) order = Int32Array.from(Array.from(order).sort(cmpFrom(0)));
    else if (n > 1) {
      let k0 = 0;
      for (; k0 < 4; k0++) { const first = w[k0]!; let i = 1; while (i < n && w[4 * i + k0] === first) i++; if (i < n) break; }
      if (k0 < 4) {
        const keys = new Float64Array(n);
        for (let i = 0; i < n; i++) keys[i] = w[4 * i + k0]! * SORT_POS + i;
        keys.sort();
        for (let j = 0; j < n; j++) order[j] = keys[j]! % SORT_POS;
        if (k0 < 3) {
          // runs of ids equal in word k0: sorted on the words after it
          const rest = cmpFrom(k0 + 1);
          for (let j = 0; j < n;) {
            const v = w[4 * order[j]! + k0]!;
            let e = j + 1;
            while (e < n && w[4 * order[e]! + k0] === v) e++;
            if (e - j > 1) order.subarray(j, e).sort(rest);
            j = e;
          }
        }
      }
    }
    // the words in sorted order, each id once, then made big-endian by one native byte swap (a
    // DataView store per word costs a call each in the cold code a checkpoint runs)
    const out32 = new Uint32Array(4 * n);
    let m = 0;
    for (let j = 0; j < n; j++) {
      const b = 4 * order[j]!;
      const w0 = w[b]!, w1 = w[b + 1]!, w2 = w[b + 2]!, w3 = w[b + 3]!;
      if (m > 0 && out32[m - 4] === w0 && out32[m - 3] === w1 && out32[m - 2] === w2 && out32[m - 1] === w3) continue;
      out32[m] = w0; out32[m + 1] = w1; out32[m + 2] = w2; out32[m + 3] = w3;
      m += 4;
    }
    const out = Buffer.from(out32.buffer, 0, 4 * m);
    if (LITTLE_ENDIAN) out.swap32();
    return new Uint8Array(out.buffer, 0, 4 * m);
  }
}

/**
 * `idRecords` of ids given in hex (as INTENT records name them), without a BigInt per id
 * (`IdWords`). Ids that are not 1-32 lowercase hex digits are left out (recovery only keeps such ones).
 */
export function hexIdRecords(ids: readonly string[]): Uint8Array {
  const s = new IdWords();
  for (const o of ids) s.addHex(o);
  return s.records();
}

/** Object ids as 16-byte big-endian records, ascending, each once (the registry's payload). */
export function idRecords(ids: readonly bigint[]): Uint8Array {
  const sorted = [...new Set(ids)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out = new Uint8Array(sorted.length * 16);
  const dv = new DataView(out.buffer);
  sorted.forEach((o, i) => { dv.setBigUint64(i * 16, o >> 64n, false); dv.setBigUint64(i * 16 + 8, o & 0xffffffffffffffffn, false); });
  return out;
}

/** Compare the 16-byte records at a[i] and b[j] (byte order = numeric order of the ids). */
function cmpId(a: Uint8Array, i: number, b: Uint8Array, j: number): number {
  for (let k = 0; k < 16; k++) { const d = a[i + k]! - b[j + k]!; if (d !== 0) return d; }
  return 0;
}

/**
 * The union of two sets of id records, ascending, each once. Inputs are expected ascending (the
 * registry is written that way); a record out of order in `a` is not trusted: the union is then
 * rebuilt by decoding both.
 */
export function mergeIdRecords(a: Uint8Array, b: Uint8Array): Uint8Array {
  for (let i = 16; i < a.length; i += 16) {
    if (cmpId(a, i - 16, a, i) >= 0) return idRecords([...decodeIds(a), ...decodeIds(b)]);
  }
  const out = new Uint8Array(a.length + b.length);
  let i = 0; let j = 0; let n = 0;
  const put = (src: Uint8Array, at: number) => { if (n === 0 || cmpId(out, n - 16, src, at) !== 0) { out.set(src.subarray(at, at + 16), n); n += 16; } };
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && cmpId(a, i, b, j) <= 0)) { put(a, i); i += 16; } else { put(b, j); j += 16; }
  }
  return out.subarray(0, n);
}

function decodeIds(r: Uint8Array): bigint[] {
  const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
  const out: bigint[] = [];
  for (let i = 0; i + 16 <= r.length; i += 16) out.push((dv.getBigUint64(i, false) << 64n) | dv.getBigUint64(i + 8, false));
  return out;
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** The `single` field of an INTENT payload; undefined when absent or malformed (the commit is then discarded as ever). */
/** Whether `o` is an object id of 1-32 lowercase hex digits (what the registry takes). */
function isHexId(o: unknown): o is string {
  if (typeof o !== 'string' || o.length < 1 || o.length > 32) return false;
  for (let i = 0; i < o.length; i++) { const c = o.charCodeAt(i); if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false; }
  return true;
}

/** The single value an INTENT record names (`parseSingle` of its JSON form, `typedSingle` of a binary one read typed). */
function recordSingle(r: JournalRecord): SingleCheck | undefined {
  return r.intent !== undefined ? typedSingle(intentSingle(r.intent)) : parseSingle(r.payload.single);
}

/**
 * `parseSingle` of a binary INTENT's single value read typed (`JournalRecord.intent`): the same
 * checks (at least one shard; a redo value trusted only when it hashes to the INTENT's hash), no
 * string made; the keys and value are copied (the read buffer is not kept).
 */
function typedSingle(s: DecodedSingle | undefined): SingleCheck | undefined {
  if (s === undefined || s.shards.length === 0) return undefined;
  const out: SingleCheck = { dkey: new Uint8Array(s.dkey), akey: new Uint8Array(s.akey), hash: s.hash, shards: s.shards }; // (copies: the views are Buffers, whose slice() is a view)
  if (s.storeHash) out.storeHash = true;
  if (s.value !== undefined) {
    if (singleHash(out, s.value) !== out.hash) return undefined;
    out.value = new Uint8Array(s.value);
  }
  return out;
}

function parseSingle(v: unknown): SingleCheck | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as { d?: unknown; a?: unknown; h?: unknown; s?: unknown; v?: unknown; c?: unknown };
  if (typeof o.d !== 'string' || typeof o.a !== 'string' || typeof o.h !== 'string' || !HEX_RE.test(o.d) || !HEX_RE.test(o.a) || !/^[0-9a-f]{1,16}$/.test(o.h) || !Array.isArray(o.s)) return undefined;
  const shards: Array<[number, number]> = [];
  for (const x of o.s) {
    if (!Array.isArray(x) || x.length !== 2 || !x.every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined;
    shards.push([x[0] as number, x[1] as number]);
  }
  if (shards.length === 0) return undefined;
  if (o.c !== undefined && o.c !== 1) return undefined;
  const out: SingleCheck = { dkey: new Uint8Array(Buffer.from(o.d, 'hex')), akey: new Uint8Array(Buffer.from(o.a, 'hex')), hash: BigInt('0x' + o.h), shards };
  if (o.c === 1) out.storeHash = true;
  if (typeof o.v === 'string') {
    // a redo value is trusted only when it is the value the INTENT's hash names
    const value = new Uint8Array(Buffer.from(o.v, 'base64'));
    if (singleHash(out, value) !== out.hash) return undefined;
    out.value = value;
  }
  return out;
}

/** `writeFileSyncAtomic` off the event loop. */
async function writeFileAtomicAsync(p: string, img: Uint8Array): Promise<void> {
  const tmp = `${p}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try { await fh.writeFile(img); await fh.datasync(); } finally { await fh.close(); }
  await rename(tmp, p);
}

/** Make the renames in `dir` durable (best effort where a directory cannot be synced). */
async function syncDirAsync(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try { fh = await open(dir, 'r'); await fh.sync(); } catch { /* a filesystem that cannot sync directories */ } finally { await fh?.close(); }
}

function writeFileSyncAtomic(p: string, img: Uint8Array): void {
  const tmp = `${p}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try { writeSync(fd, img); fdatasyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, p);
}

/** The target of a rollback record (undefined when its payload is not a decimal epoch). */
function rollbackTo(r: JournalRecord): bigint | undefined {
  return typeof r.payload.to === 'string' && /^\d+$/.test(r.payload.to) ? BigInt(r.payload.to) : undefined;
}

/** See `StorageRecovery.rollback`: the last rollback no record of a later epoch follows (the one whose discards may have been cut short; a rollback record to its own epoch, written once one finished, follows it too). */
function unfinishedRollback(records: readonly JournalRecord[]): { at: bigint; to: bigint } | undefined {
  let rollback: { at: bigint; to: bigint } | undefined;
  for (const r of records) {
    if (r.type === JournalType.Rollback) {
      const to = rollbackTo(r);
      rollback = to !== undefined && to < r.epoch ? { at: r.epoch, to } : undefined;
    } else if (rollback && r.epoch > rollback.at) rollback = undefined; // (later commits: it finished)
  }
  return rollback;
}

/**
 * What a reader may see of a journal another process is appending to: the newest epoch at or
 * below which every commit finished (`floor`: below the oldest INTENT without DONE/ABORT, and at
 * most the target of a rollback whose discards may still be running, i.e. one no later record
 * follows), and the finished commits up to it (oldest first).
 */
export function readerView(records: JournalRecord[]): { floor: bigint; done: CommitEvent[] } {
  const open = new Map<bigint, string[]>();
  const objectsOf = new Map<bigint, string[]>();
  let max = 0n;
  let rollback: { at: bigint; to: bigint } | undefined;
  const resolved = new Set<bigint>();
  for (const r of records) {
    if (r.epoch > max) max = r.epoch;
    if (rollback && r.epoch > rollback.at && r.type !== JournalType.Rollback) rollback = undefined; // later commits: the rollback finished
    if (r.type === JournalType.Intent) {
      const objs = Array.isArray(r.payload.objects) ? (r.payload.objects as string[]) : [];
      objectsOf.set(r.epoch, objs);
      if (!resolved.has(r.epoch)) open.set(r.epoch, objs);
    } else if (r.type === JournalType.Done || r.type === JournalType.Abort) {
      resolved.add(r.epoch);
      open.delete(r.epoch);
      // a DONE without INTENT is retained history written by compaction
      if (r.type === JournalType.Done && !objectsOf.has(r.epoch) && Array.isArray(r.payload.objects)) objectsOf.set(r.epoch, r.payload.objects as string[]);
    } else if (r.type === JournalType.Rollback) {
      const to = typeof r.payload.to === 'string' && /^\d+$/.test(r.payload.to) ? BigInt(r.payload.to) : 0n;
      rollback = { at: r.epoch, to };
    }
  }
  let floor = max;
  for (const e of open.keys()) if (e - 1n < floor) floor = e - 1n;
  if (rollback && rollback.to < floor) floor = rollback.to;
  const done: CommitEvent[] = [];
  for (const r of records) {
    if (r.type !== JournalType.Done || r.epoch > floor) continue;
    const objs = objectsOf.get(r.epoch);
    if (objs) done.push({ epoch: r.epoch, objects: objs.filter((o) => typeof o === 'string' && /^[0-9a-f]+$/.test(o)).map((o) => BigInt('0x' + o)) });
  }
  done.sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
  return { floor, done };
}

/**
 * The files of a container opened read-only while another process may hold the pool: the journal
 * and metadata are read, never written (no repair of torn commits, no compaction); every write
 * is refused with `READ_ONLY`. `refresh()` re-reads what the writer committed since.
 */
export class ReadOnlyContainerStorage implements ContainerStorage {
  private constructor(private readonly dir: string, private view: { floor: bigint; done: CommitEvent[] }) {}

  /** Read the journal of the container in `dir` (nothing is created or changed). */
  static async open(dir: string): Promise<ReadOnlyContainerStorage> {
    return new ReadOnlyContainerStorage(dir, readerView(ReadOnlyContainerStorage.readJournal(dir)));
  }

  private static readJournal(dir: string): JournalRecord[] {
    const { records, damaged } = Journal.read(join(dir, 'journal'));
    if (damaged) throw new CorruptionError(`container journal in ${dir}: both copies are damaged; open it read-write to recover`, { dir });
    return records;
  }

  recover(): StorageRecovery { return { floor: this.view.floor, torn: [], done: this.view.done }; }

  async refresh(): Promise<{ floor: bigint; done: CommitEvent[]; meta: unknown }> {
    // the journal first: data the targets show later is at or above what it names
    this.view = readerView(ReadOnlyContainerStorage.readJournal(this.dir));
    const meta = (await readJsonRecordEither<unknown>(join(this.dir, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, 'container metadata')).doc;
    return { ...this.view, meta };
  }

  private refuse(): never { throw new CairnError('READ_ONLY', `container in ${this.dir} was opened read-only`, { dir: this.dir }); }
  intent(): void { this.refuse(); }
  done(): void { this.refuse(); }
  abort(): void { this.refuse(); }
  rollback(): void { this.refuse(); }
  needsCompaction(): boolean { return false; }
  compact(): void { this.refuse(); }
  async saveMeta(): Promise<void> { this.refuse(); }

  async registeredObjects(): Promise<bigint[]> {
    const ids = new BigIdSet(decodeIds(readRegistryOrThrow(this.dir)));
    for (const ev of this.view.done) for (const o of ev.objects) ids.add(o);
    return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  close(): void { /* nothing is held open */ }
}
