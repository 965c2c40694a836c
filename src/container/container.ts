/**
 * A container: a versioned namespace of objects inside a pool, with its own epochs, snapshots,
 * transactions and commit journal. Every commit (a single update or a whole transaction) gets one
 * epoch and becomes visible atomically: reads without an explicit epoch read at the *stable epoch*,
 * the highest epoch below which every commit has been fully applied on every target, so a reader
 * never sees half a commit, and a crash mid-commit is rolled back on open through the journal.
 *
 * This module is the container core: commits, epochs, snapshots, rollback, aggregation, watch.
 * The handles (objects, KV, arrays, transactions) live a layer above, in src/object, and reach
 * the core through its port (`containerPort`), never through public methods.
 */
import { CacheAdmission } from './cache-admission.js';
import { EventEmitter } from 'node:events';
import { REDO_MAX_VALUE_BYTES, REDO_RETAINED_HISTORY, singleHash, type ContainerStorage, type CommitEvent, type CommitInfo, type SingleCheck, type RedoDiscard, type RedoCommit } from './storage.js';
import { EpochClock, epochAtMs } from './epoch-clock.js';
import { ConflictTracker } from './conflicts.js';
import { CommitHistory, type CommitObjects } from './commit-history.js';
import { utf8Scratch, wellFormed } from './utf8.js';
import { opConflictKey, type Op, type OpTarget } from './ops.js';
import { planOp, type PlanView } from './plan.js';
import { commitWaves, distinctWrites, orderOps } from './commit-waves.js';
import type { ContainerRuntime, ObjectLayout } from './runtime.js';
import { KeyedMutex, KeyedRwLock } from '../../core/keyed-mutex.js';
import { hex } from '../../core/bytes.js';
import { runBounded } from '../../core/semaphore.js';
import { Notifier } from '../../core/wait.js';
import { swallowed } from '../../core/log.js';
import { throwIfAborted, assert } from '../../core/errors.js';
import { xxh64 } from '../../core/xxhash.js';
import { valueChecksum } from '../vos/index.js';
import { ObjectError, badArg } from '../io/errors.js';
import { splitUnitOid, unitOid, type ShardStore } from '../io/shard-store.js';
import { ContainerStore } from '../vos/container-store.js';
import { isPartialStripe, roleShards, dkeyRotation, wholeSinglePiece, wholeSingleRole, forgetStripedSingle, EC_WHOLE_SINGLE_MAX_BYTES, type ApplyContext, type IoContext, type ShardWrite, type Redundancy, type EcCodec } from '../io/io.js';
import { makeObjectId, objectClassOf, toObjectClass, dkeyGroup, resolveGroups, type ObjectClass } from '../../placement/index.js';
import { NAME_HASH_JS_MAX_BYTES, shortNameObjectId } from '../../placement/name-hash.js';

/** Container properties fixed at creation. */
export interface ContainerProps {
  /** Default object class of objects created without one (e.g. `EC_4P2G1`). */
  oclass: string;
  /** Number of fault domains that may fail with no data loss; classes below it are refused. */
  redundancyFactor: number;
  /** EC cell size in bytes (array data per data shard per stripe). */
  cellSize: number;
  /** End-to-end checksums (always on in the store; kept for DAOS compatibility of the property). */
  checksum: boolean;
  /** Reed-Solomon matrix every EC object of the container is encoded with (readers decode with it). */
  ecMatrix?: 'vandermonde' | 'cauchy';
  /**
   * EC parity rotation (src/io/io.ts): `'per-dkey'` rotates the roles of a group's shards with the
   * dkey. Absent in containers created before it existed: their roles are fixed (rotation 0).
   */
  parityRotation?: 'per-dkey';
  /**
   * Targets the group count of `GX` objects named by string is computed from (the pool's target
   * count when the container was created, or, for containers made before this was recorded, at
   * their first open): fixed, so a name maps to the same object id after the pool grows.
   */
  gxTargets?: number;
}

/** A named snapshot: reads at `epoch` see the container exactly as it was then. */
export interface Snapshot { name: string; epoch: bigint }

export type { CommitEvent } from './storage.js';

/** Persisted container metadata. */
export interface ContainerMeta {
  uuid: string;
  label: string;
  props: ContainerProps;
  snapshots: Array<{ name: string; epoch: string }>;
  createdAt: string;
  /** Objects a rebuild could not restore (hex oids): they fail with DATA_LOST until punched. */
  lost?: string[];
}

export { CONTAINER_META_MAGIC, JOURNAL_COMPACT_BYTES } from './storage.js';
/** Largest number of commit events kept in memory for `watch()` consumers that lag behind. */
export const MAX_WATCH_HISTORY = 65_536;
/** Commit events kept in the journal by a clean close (older ones are folded away). */
export const RETAINED_ON_CLOSE = 1024;
/** Journal size above which a clean close compacts it. */
export const RETAINED_ON_CLOSE_BYTES = 256 * 1024;
/** Largest number of shard I/Os one commit keeps in flight. */
export const MAX_COMMIT_CONCURRENCY = 64;

/** Waits for every promise of `ps`, then throws the first rejection (in `ps` order), if any. */
function settleAll(ps: ReadonlyArray<Promise<void>>): Promise<void> {
  return Promise.allSettled(ps).then(throwFirstRejection); // (no async frame of its own)
}

/**
 * Apply a commit's writes wave by wave (`waves[i]`: op i's, commit-waves.ts; `starts`: where op
 * i's writes are in `writes`), each wave settled before the next is sent; a wave that failed
 * ends it (the commit's epoch is then discarded).
 */
async function applyWaves(waves: Int32Array, writes: readonly ShardWrite[], starts: readonly number[], apply: (w: ShardWrite) => Promise<void>): Promise<void> {
  let last = 0;
  for (const w of waves) if (w > last) last = w;
  for (let wave = 0; wave <= last; wave++) {
    const batch: ShardWrite[] = [];
    for (let i = 0; i < waves.length; i++) if (waves[i] === wave) for (let k = starts[i]!; k < starts[i + 1]!; k++) batch.push(writes[k]!);
    if (batch.length <= MAX_COMMIT_CONCURRENCY) await settleAll(batch.map(apply));
    else await runBounded(batch, MAX_COMMIT_CONCURRENCY, apply);
  }
}

/** Throws the first rejection of `settled` (in order), if any. */
function throwFirstRejection(settled: ReadonlyArray<PromiseSettledResult<void>>): void {
  for (let i = 0; i < settled.length; i++) { const r = settled[i]!; if (r.status === 'rejected') throw r.reason; }
}

/**
 * Object names whose ids `resolveOid` keeps in each of its two generations (so at most twice this
 * many in all): a working set of up to this many names is always found, a larger one mostly.
 */
const NAME_OID_CACHE_SIZE = 16_384;
/**
 * Lookups in a row that find nothing in the name cache's old generation before it is dropped (a
 * working set spread over both generations finds names there far more often than this).
 */
const NAME_OID_OLD_MISSES_MAX = 1024;
/** Name-cache lookups per window over which its hit share is taken (`nameSampled`). */
const NAME_OID_WINDOW_LOOKUPS = 1024;
/**
 * While the name cache found fewer than half the names of its last window, it is consulted (and
 * a miss inserted) for one name in 2^this; the others are hashed outright. A lookup that misses
 * costs far more than the hash it saves: two Map probes of a fresh string in maps of up to 16k
 * names (cache misses each) and an insert that keeps the string alive for a generation, against
 * ~0.15 us for the hash (placement/name-hash). Random gets over a set larger than the cache (the
 * io bench: 151k names) and puts of new names pay it for nothing. Measured per `kv(name)` (sync
 * loop, /tmp/gets22/labv.mts, load ~20; ns at 100 / 5k / 30k / 151k random names): one in 8
 * 100-111 / 78-111 / 454-626 / 284-309; one in 64: 94-112 / 80-94 / 248-313 / 226-229; no cache
 * 169-173 / 147-160 / 230-244 / 204-232. A hot set comes back into use after one window of
 * consulted lookups (NAME_OID_WINDOW_LOOKUPS << this handles at most).
 */
const NAME_OID_SAMPLE_SHIFT = 6;
/** Commits between two prunings of the conflict tracker. */
const PRUNE_EVERY = 1024;
/**
 * Most commits kept aside with their ops while no transaction is open (`unrecorded`);
 * past it they are recorded in the conflict tracker as they would have been. Below it, the list is
 * trimmed of commits at or below the stable epoch once it reaches UNRECORDED_TRIM.
 */
const MAX_UNRECORDED = 16_384;
const UNRECORDED_TRIM = 64;
/** Slots the pending events' arrays keep when they drain (`ContainerCore.pendingEpochs`). */
const PENDING_KEEP_SLOTS = 1024;
/** Slots `unrecorded`'s arrays keep through a trim (past it, as after a slow commit, they shrink to what they hold). */
const UNRECORDED_KEEP_SLOTS = 1024;
/**
 * Longest wait for in-flight commits to finish before a rollback, a rebuild's quiesce or close
 * (`TIMEOUT` after it). Commits are bounded by their RPC and lock timeouts, far below this.
 */
export const QUIESCE_TIMEOUT_MS = 5 * 60_000;
/** Attempts of an operation that meets a pool map changed under it (connected pools). */
export const MAX_STALE_MAP_RETRIES = 8;
/** Default EC cell size. */
export const DEFAULT_CELL_SIZE = 64 * 1024;

/** Fault domains an object class can lose without losing data (p for EC, n-1 for RP_n, 0 for S). */
export function failuresTolerated(cls: ObjectClass): number {
  return cls.kind === 'ec' ? cls.parityShards : cls.kind === 'replicated' ? cls.replicas - 1 : 0;
}

/** Throw RF_VIOLATION when `cls` survives fewer failed domains than `redundancyFactor`. */
export function checkRedundancy(cls: ObjectClass, redundancyFactor: number): void {
  const tolerates = failuresTolerated(cls);
  if (tolerates < redundancyFactor) {
    throw new ObjectError('RF_VIOLATION', `object class ${cls.name} survives ${tolerates} failed domain(s), below the redundancy factor ${redundancyFactor}`, { oclass: cls.name, redundancyFactor });
  }
}

/** Options of a read: an explicit epoch or a snapshot (by name or object), else the stable epoch. */
export interface ReadOptions { epoch?: bigint; snapshot?: string | Snapshot; signal?: AbortSignal }


export type { ObjectLayout } from './runtime.js';

/** A transaction's registration with its container: its read epoch pins versions until `end()`. */
export interface TxTicket {
  readonly readEpoch: bigint;
  /** The transaction committed or aborted: its read epoch stops pinning versions. */
  end(): void;
}

/** The conflict check of a transaction's commit: keys read or written, since its read epoch. */
export interface CommitCheck { readEpoch: bigint; keys: Iterable<string> }

/**
 * What the layers above the container core use of it: the handles (objects, KV, arrays,
 * transactions) and the pool's maintenance (rebuild, rebalance, scrub). Not part of the public
 * API: obtain it with `containerPort(cont)`.
 */
export interface ContainerPort {
  /** Throw POOL_CLOSED when the container (or its pool) is closed. */
  checkOpen(): void;
  /** Resolve read options to an epoch (the stable epoch by default). */
  readEpoch(opts?: ReadOptions): bigint;
  /**
   * `readEpoch`, except that a snapshot this client has not heard of (a connected pool: another
   * client's snapshot comes with its etcd watch a moment later) is looked up in the container's
   * record again first: a promise then, the epoch itself otherwise.
   */
  epochFor(opts?: ReadOptions): bigint | Promise<bigint>;
  /** The object id of a handle (names hash to ids; the class must survive the redundancy factor). */
  resolveOid(oidOrName: bigint | string, oclass?: string | ObjectClass): bigint;
  /** The layout of record of an object and its redundancy. */
  layout(oid: bigint): ObjectLayout;
  /** The group of a dkey in a layout. */
  groupOf(groups: number[][], dkey: Uint8Array): number;
  /** The I/O context of the data path for this container. */
  io(): IoContext;
  /** Throw DATA_LOST for an object lost to failures beyond its redundancy. */
  checkNotLost(oid: bigint): void;
  /**
   * Run `fn` again when an engine reports the pool map (or the epoch) stale (connected pools).
   * Embedded pools call it once and return its answer as is (a value or a promise).
   */
  retryStale<T>(fn: () => T | Promise<T>): T | Promise<T>;
  /**
   * Whether nothing can be stale (an embedded pool: no pool map to refresh, one client), so
   * `retryStale(fn)` is `fn()`: a hot read calls its step directly, without a closure.
   */
  staleFree(): boolean;
  /** Commit `ops` atomically at one new epoch; with `check`, TX_RESTART on a conflict. */
  commit(ops: Op[], check?: CommitCheck, signal?: AbortSignal): Promise<bigint>;
  /** Register a transaction beginning now (read epoch: the stable epoch). */
  beginTx(): TxTicket;
  /** Wait until no commit is in flight; returns the stable epoch (rebuild / scrub start). */
  quiesce(): Promise<bigint>;
  /**
   * Checkpointed journals, at the start of a pool checkpoint (before a durable pool's target
   * stores are flushed): the step that drops the journal records the checkpoint covers (every
   * commit at or below the stable epoch taken now), to run once the flush is done. Undefined when
   * the container keeps none.
   */
  redoMark(): (() => Promise<void>) | undefined;
  /** Reload object ids other clients recorded (connected pools), and the epoch clock. */
  refreshObjects(): Promise<void>;
  /** Record objects a rebuild could not restore (they read DATA_LOST until punched). */
  markLost(oids: bigint[]): Promise<void>;
  /** Shards of `oid` a pending rebuild/rebalance moves: shard index -> new target. */
  movedShards(oid: bigint): ReadonlyMap<number, number>;
  /**
   * Read-only opens: re-read the commit record and metadata another process wrote. Resolves to a
   * function that makes the commits read visible (called once the targets were re-read too, so a
   * reader never reads at an epoch whose data it has not loaded).
   */
  refresh(): Promise<() => void>;
}

const ports = new WeakMap<ContainerCore, ContainerPort>();

/** The internal port of a container (handles and pool maintenance only; not public API). */
export function containerPort(c: ContainerCore): ContainerPort {
  const p = ports.get(c);
  assert(p !== undefined, 'every container has a port');
  return p;
}

/**
 * The container core: everything a container is apart from its handle factories, which the
 * public `Container` (src/object/handles.ts) adds. Obtain one from `pool.createContainer` /
 * `pool.openContainer`.
 */
export class ContainerCore {
  private readonly clock: EpochClock;
  private readonly inflight = new InflightEpochs();
  /** Notified whenever a commit leaves `inflight`. */
  private readonly commitsDone = new Notifier();
  /** Dkey locks, by `dkeyLockKey` (a small integer: no lock-name string per put). */
  private readonly locks = new KeyedMutex<number>();
  private readonly objLocks = new KeyedRwLock();
  /**
   * Small puts holding only their dkey lock (`tryLocksSingle` with `light`): their object's shared
   * lock is implied, not taken (two lock-table operations and their releases fewer per put). Taken
   * only while no object punch waits or runs (`punchesIn`); a punch waits for them all first.
   */
  private lightHolds = 0;
  /** Object punches waiting for their locks or holding them: small puts take the object's shared lock too meanwhile. */
  private punchesIn = 0;
  /** Punches waiting for `lightHolds` to reach zero. */
  private lightDrained: Array<() => void> = [];
  /** Whether the locks `tryLocksSingle` took last are light (read by its caller at once). */
  private heldLight = false;
  private readonly conflicts = new ConflictTracker();
  private readonly activeTx = new Map<TxTicket, bigint>();
  /**
   * Where each live `watch()` consumer of this handle is (embedded pools): the epoch of the last
   * event it was handed, or where it starts. `aggregate()` merges nothing above the lowest, so a
   * consumer reads at its events' epochs exactly (`watchFloor`).
   */
  private readonly watchers = new Set<{ at: bigint }>();
  /**
   * Commits begun while no transaction was open (`beginCommit`): their conflict keys are
   * recorded only if a transaction opens before the stable epoch passes them (`openTx`), so a
   * stream of plain puts builds no keys. One entry per op, without its value; bounded by
   * MAX_UNRECORDED.
   */
  private unrecorded: Unrecorded = newUnrecorded();
  /** Length of `unrecorded` at which it is next trimmed (twice what the last trim kept: amortised). */
  private trimAt = UNRECORDED_TRIM;
  private readonly events = new EventEmitter();
  private readonly history = new CommitHistory(MAX_WATCH_HISTORY);
  /**
   * Events of decided commits not yet published (above the stable epoch), ascending by epoch in
   * [`pendingHead`, `pendingTail`) (commits are decided nearly in epoch order: an insert is an
   * append). The arrays keep their length when they drain (a small put's stream drains them every
   * few commits: emptied and regrown, their backing stores were copied at each doubling, ~70 B
   * allocated per put), up to PENDING_KEEP_SLOTS.
   */
  private pendingEpochs: bigint[] = [];
  /** The objects of each of `pendingEpochs` (see CommitObjects; undefined once published). */
  private pendingObjs: Array<CommitObjects | undefined> = [];
  private pendingHead = 0;
  private pendingTail = 0;
  private barrier: Promise<void> | null = null;
  /** Object ids of names of the default class (`resolveOid`), bounded by NAME_OID_CACHE_SIZE. */
  private nameOids = new Map<string, bigint>();
  /**
   * The previous generation of `nameOids`: when the young map holds NAME_OID_CACHE_SIZE names it
   * becomes this one (the older one is dropped), and a name found here moves back to the young
   * map. Names in use stay cached, and a working set a little larger than one generation is not
   * lost all at once (clearing one map when full lost it: every name was hashed again). Dropped
   * early (undefined) after NAME_OID_OLD_MISSES_MAX lookups in a row found nothing in it: a stream
   * of new names (the small put) then costs one map lookup per name, not two.
   */
  private nameOidsOld: Map<string, bigint> | undefined;
  /** Lookups in a row that missed `nameOidsOld`. */
  private nameOldMisses = 0;
  /** Which new names the name cache takes (a stream of new names: one in eight). */
  private readonly nameAdmission = new CacheAdmission();
  /** The name cache's last window found fewer than half its names: consult it for one name in 2^NAME_OID_SAMPLE_SHIFT. */
  private nameSampled = false;
  /** Lookups and hits of the name cache in the current window. */
  private nameLookups = 0;
  private nameHits = 0;
  /** LCG state of the one-in-2^NAME_OID_SAMPLE_SHIFT choice while sampled (deterministic, not periodic in a way access patterns meet). */
  private nameRnd = 0x6e616d65;
  /** `defaultClass()`: the parsed default class, by the name it was parsed from. */
  private defaultCls: { name: string; cls: ObjectClass; idBase: bigint | undefined; idTop: number } | undefined;
  private readonly writableFn = (t: number): boolean => this.rt.writable(t);
  private readonly availableFn = (t: number): boolean => this.rt.available(t);
  /** Whether an object is erasure-coded (`orderOps` joins such an object's array writes of one akey). */
  private readonly isEcFn = (oid: bigint): boolean => this.layout(oid).cls.kind === 'ec';
  /** The I/O context, rebuilt when the metadata object is replaced (`io()`). */
  private ioCtx: { meta: ContainerMeta; ctx: IoContext } | undefined;
  private commitsSincePrune = 0;
  /** Stores already opened, by target, valid while the pool's `storesVersion` stays `readyVersion`. */
  private ready: Array<ShardStore | undefined> = [];
  private readyVersion = -1;
  private closed = false;
  private emittedUpTo: bigint;
  /** Redo journals: the epoch of the rollback whose discards are running (a checkpoint covers only epochs below it). */
  private rollingBack: bigint | undefined;
  /** Redo journals: a checkpoint this container asked for is running. */
  private checkpointing = false;

  /** @internal use `pool.openContainer`. */
  constructor(
    private readonly rt: ContainerRuntime,
    private meta: ContainerMeta,
    private readonly storage: ContainerStorage,
    floor: bigint,
  ) {
    this.clock = new EpochClock(floor, rt.now, rt.clockSlot);
    this.emittedUpTo = floor;
    this.events.setMaxListeners(0);
    storage.onMetaChange?.((m) => { this.meta = m as ContainerMeta; });
    ports.set(this, this.makePort());
  }

  /**
   * Open (or finish creating) a container's runtime: replays its commit record and repairs torn
   * commits. Constructs `this` class (the public `Container` when called on it).
   */
  static async load<C extends ContainerCore>(this: new (rt: ContainerRuntime, meta: ContainerMeta, storage: ContainerStorage, floor: bigint) => C, rt: ContainerRuntime, meta: ContainerMeta, storage: ContainerStorage): Promise<C> {
    const { floor, torn, done, replay, rediscard, rollback } = storage.recover();
    const c = new this(rt, meta, storage, floor);
    // A container made before GX group counts were recorded fixes them now (see ContainerProps.gxTargets).
    if (meta.props.gxTargets === undefined) {
      const n = rt.map().targets.length;
      meta.props.gxTargets = n;
      // (a record other clients write too keeps their changes: only the count is added)
      if (!rt.readOnly && storage.updateMeta !== undefined) await storage.updateMeta((m) => { (m as ContainerMeta).props.gxTargets ??= n; });
      else if (!rt.readOnly) await storage.saveMeta(meta);
    }
    if (rt.readOnly) {
      // A reader repairs nothing: the floor is the last commit the writer finished (storage.recover).
      for (const ev of done.slice(-MAX_WATCH_HISTORY)) c.history.pushEvent(ev);
      return c;
    }
    // Commits that never recorded DONE: the process died between INTENT and DONE. A single-value
    // commit whose every write is on its targets is finished (its DONE was not waited for, see
    // commitSingleDirect); any other is rolled back.
    let completed = false;
    // Redo journals: the values of finished commits are written again (the stores sync only at
    // checkpoints: a power loss may have taken them), and torn commits that carry their values roll
    // forward (their INTENT was durable before any target was written).
    if (replay !== undefined && replay.length > 0) await c.reapplyAll(replay);
    for (const { epoch, targets, objects, single } of torn) {
      if (single?.value !== undefined && objects.length === 1) {
        await c.reapply(epoch, objects[0]!, single as SingleCheck & { value: Uint8Array });
        await storage.done(epoch, { targets, objects });
        done.push({ epoch, objects: [BigInt('0x' + objects[0]!)] });
        completed = true;
        continue;
      }
      if (single !== undefined && objects.length === 1 && await c.singleLanded(epoch, objects[0]!, single)) {
        await storage.done(epoch, { targets, objects });
        done.push({ epoch, objects: [BigInt('0x' + objects[0]!)] });
        completed = true;
        continue;
      }
      if (await c.discardEpoch(epoch, targets)) await storage.abort(epoch, { targets, objects: [], recovered: true });
    }
    if (completed) done.sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
    // then the aborts and rollbacks since the last checkpoint are discarded again (after the values)
    for (const d of rediscard ?? []) await c.rediscard(d);
    // a rollback the last process may not have finished is finished now (its discards, in a redo
    // journal among `rediscard`, and its drop of the snapshots it discarded the epochs of)
    if (rollback !== undefined) await c.finishRollback(rollback, rediscard === undefined);
    // Every target may hold epochs above the journal's (a journal reset): never reuse them.
    await c.observeTargetEpochs();
    c.emittedUpTo = c.clock.current;
    for (const ev of done.slice(-MAX_WATCH_HISTORY)) c.history.pushEvent(ev);
    if (storage.needsCompaction()) await c.compactJournal();
    // (asked by the storage when a group write takes the journal past its bound: nothing per commit)
    if (storage.checkpointed === true) storage.whenCheckpointDue?.(() => c.maybeCheckpoint());
    return c;
  }

  private makePort(): ContainerPort {
    return {
      checkOpen: () => this.checkOpen(),
      readEpoch: (opts) => this.epochOf(opts),
      epochFor: (opts) => this.epochFor(opts),
      resolveOid: (o, cls) => this.resolveOid(o, cls),
      layout: (oid) => this.layout(oid),
      groupOf: (groups, dkey) => dkeyGroup(dkey, groups.length),
      io: () => this.io(),
      checkNotLost: (oid) => this.checkNotLost(oid),
      retryStale: (fn) => this.retryStale(fn),
      staleFree: () => !this.rt.refreshMap,
      commit: (ops, check, signal) => this.commit(ops, check, signal),
      beginTx: () => this.openTx(),
      quiesce: () => this.exclusive(async () => this.stableEpoch()),
      redoMark: () => this.redoMark(),
      refreshObjects: () => this.refreshObjects(),
      markLost: (oids) => this.markLost(oids),
      movedShards: (oid) => this.rt.moved(oid),
      refresh: () => this.refreshReadOnly(),
    };
  }

  /** Refuse writes through a read-only open (`READ_ONLY`). */
  private checkWritable(): void {
    if (this.rt.readOnly) throw new ObjectError('READ_ONLY', `container ${this.meta.label} was opened read-only (another process holds the pool)`, { container: this.meta.label });
  }

  /** See `ContainerPort.refresh`: read the writer's newer commits and metadata; apply them later. */
  private async refreshReadOnly(): Promise<() => void> {
    assert(this.rt.readOnly === true && this.storage.refresh !== undefined, 'refresh is for read-only opens of a storage that can re-read');
    const r = await this.storage.refresh();
    return () => {
      if (this.closed) return;
      if (r.meta !== undefined) this.meta = r.meta as ContainerMeta;
      this.clock.observe(r.floor);
      for (const ev of r.done) {
        if (ev.epoch <= this.emittedUpTo || ev.epoch > r.floor) continue;
        this.history.pushEvent(ev);
        this.emittedUpTo = ev.epoch;
        this.events.emit('commit');
      }
    };
  }

  /**
   * Redo journals, at open: write a single-value commit's value again on every shard whose target
   * takes writes (idempotent: the same value at its own epoch). A target out of service is skipped
   * (rebuilt from the others before it serves again).
   */
  private async reapply(epoch: bigint, oidHex: string, sv: SingleCheck & { value: Uint8Array }): Promise<void> {
    if (!/^[0-9a-f]{1,32}$/.test(oidHex)) return;
    const oid = BigInt('0x' + oidHex);
    await Promise.all(sv.shards.map(async ([t, shard]) => {
      if (!this.rt.writable(t)) return;
      await (await this.rt.store(t, this.meta.uuid)).updateSingle(epoch, unitOid(oid, shard), sv.dkey, sv.akey, sv.value);
    }));
  }

  /**
   * `reapply` of every finished commit a redo journal holds (at open, in journal order, each
   * commit's shards at once): each target's store resolved once, not per write, and a local
   * store's synchronous write taken (`updateSingleNow`, given the value's store checksum when the
   * INTENT recorded it: no hash again), so the replay of ~20k puts makes no promise per write.
   */
  private async reapplyAll(replay: readonly RedoCommit[]): Promise<void> {
    const stores = new Map<number, ShardStore>();
    for (const r of replay) {
      const oidHex = r.objects[0]!, sv = r.single;
      if (!/^[0-9a-f]{1,32}$/.test(oidHex)) continue;
      const oid = BigInt('0x' + oidHex);
      const csum = sv.storeHash === true ? sv.hash : undefined; // (recovery trusted the value only if it hashes to it)
      let pending: Array<Promise<void>> | undefined;
      for (const [t, shard] of sv.shards) {
        if (!this.rt.writable(t)) continue;
        let s = stores.get(t);
        if (s === undefined) { s = await this.rt.store(t, this.meta.uuid); stores.set(t, s); }
        const uoid = unitOid(oid, shard);
        // (a vos store logs nothing for a value it already holds at exactly this epoch: after a
        // SIGKILL its own log kept every write, so the replay wrote them all again, each a log
        // record and a memtable version; one it lost is written as before)
        const p = s.reapplySingleNow !== undefined ? s.reapplySingleNow(r.epoch, uoid, sv.dkey, sv.akey, sv.value, csum)
          : s.updateSingleNow !== undefined ? s.updateSingleNow(r.epoch, uoid, sv.dkey, sv.akey, sv.value, csum) : s.updateSingle(r.epoch, uoid, sv.dkey, sv.akey, sv.value);
        if (p !== undefined) (pending ??= []).push(p);
      }
      if (pending !== undefined) await Promise.all(pending);
    }
  }

  /** Redo journals, at open: discard again the epochs of an abort or a rollback (on its targets, or every target). */
  private async rediscard(d: RedoDiscard): Promise<void> {
    const targets = d.targets ?? this.rt.map().targets.map((t) => t.id);
    await Promise.all(targets.map(async (t) => {
      const s = await this.peekStore(t);
      if (s) await s.discard(d.after, d.upTo);
    }));
  }

  /**
   * At open: finish a rollback to `to` recorded at `at` that may have been cut short: discard
   * (to, at] again on every target (`discard`: not already done by the redo replay), then forget
   * the snapshots between (taken before it, above its target: their epochs' versions are gone;
   * one taken after it is at `at` or later). Before, a process killed during a rollback left some
   * targets rolled back and others not, and later snapshots reading the discarded state.
   */
  private async finishRollback(r: { at: bigint; to: bigint }, discard: boolean): Promise<void> {
    if (discard) await this.rediscard({ after: r.to, upTo: r.at });
    const gone = (s: { epoch: string }) => { const e = BigInt(s.epoch); return e > r.to && e < r.at; };
    if (this.meta.snapshots.some(gone)) {
      await this.updateMeta((m) => { m.snapshots = m.snapshots.filter((s) => !gone(s)); });
    }
    this.rollbackFinished(r.at);
  }

  /**
   * The rollback recorded at `at` is whole (its discards on every target and its drop of snapshots
   * done): a rollback record to its own epoch follows it, which discards nothing and makes it no
   * longer the journal's last (`unfinishedRollback`). Why: while it was last, every read-write open
   * finished it again, a discard record and a tombstone per target each time.
   */
  private rollbackFinished(at: bigint): void {
    const mark = this.clock.next();
    assert(mark > at, 'a finished rollback\'s mark follows it', { at: String(at), mark: String(mark) });
    this.storage.rollback(mark, mark);
  }

  /** See `ContainerPort.redoMark`. */
  private redoMark(): (() => Promise<void>) | undefined {
    if (this.storage.checkpointed !== true || this.closed || this.rt.readOnly) return undefined;
    const stable = this.stableEpoch();
    const covered = this.rollingBack !== undefined && this.rollingBack - 1n < stable ? this.rollingBack - 1n : stable;
    // (the history as it is when the drop runs, as the storage keeps its newest part)
    return () => this.storage.dropRedo!(covered, this.history.tail(REDO_RETAINED_HISTORY));
  }

  /** Checkpointed journals: the journal passed its bound: ask the pool for a checkpoint (one at a time per container; failures keep the journal). */
  private maybeCheckpoint(): void {
    if (this.checkpointing || !this.rt.checkpoint || !this.storage.needsCheckpoint!()) return;
    this.checkpointing = true;
    this.rt.checkpoint().catch((err) => swallowed('container.checkpoint-failed-journal-kept', err)).finally(() => { this.checkpointing = false; });
  }

  /**
   * Discard `epoch` on `targets` (an abandoned or torn commit). True when nothing of it can become
   * visible: every discard succeeded, or failed on a target out of service (its content is rebuilt
   * elsewhere and wiped before it serves again). Otherwise the abort must not be recorded as done:
   * the journal keeps the INTENT and the next open discards again.
   */
  private async discardEpoch(epoch: bigint, targets: number[]): Promise<boolean> {
    assert(epoch > 0n, 'only commit epochs are discarded', { epoch: String(epoch) });
    const outcomes = await Promise.all(targets.map(async (t) => {
      try {
        await (await this.rt.store(t, this.meta.uuid)).discard(epoch - 1n, epoch);
        return true;
      } catch (err) {
        if (!this.rt.available(t)) { swallowed('container.discard-on-out-of-service-target', err); return true; }
        swallowed('container.discard-failed-abort-kept-open', err);
        return false;
      }
    }));
    if (!outcomes.every(Boolean)) return false;
    // stores that defer their syncs: the discards are durable before an ABORT says they happened
    if (this.rt.syncStores) {
      try { await this.rt.syncStores(targets); } catch (err) { swallowed('container.discard-unsynced-abort-kept-open', err); return false; }
    }
    return true;
  }

  /**
   * Whether every write of a single-value commit at `epoch` landed: each shard on a target in
   * service reads, at `epoch`, a value with the recorded hash (an older version with the same bytes
   * reads the same either way). Any shard unreadable or different: false (the commit is discarded).
   */
  private async singleLanded(epoch: bigint, oidHex: string, sv: SingleCheck): Promise<boolean> {
    if (!/^[0-9a-f]{1,32}$/.test(oidHex)) return false;
    const oid = BigInt('0x' + oidHex);
    let checked = 0;
    for (const [t, shard] of sv.shards) {
      if (!this.rt.available(t)) continue; // rebuilt from the others before it serves again
      try {
        const v = await (await this.rt.store(t, this.meta.uuid)).fetchSingle(epoch, unitOid(oid, shard), sv.dkey, sv.akey);
        if (v === undefined || singleHash(sv, v) !== sv.hash) return false;
        checked++;
      } catch (err) {
        swallowed('container.torn-single-commit-unreadable-discarded', err);
        return false;
      }
    }
    return checked > 0;
  }

  /** Move the epoch clock past the highest epoch any target holds. */
  private async observeTargetEpochs(): Promise<void> {
    await Promise.all(this.rt.map().targets.map(async (t) => {
      const store = await this.peekStore(t.id);
      if (!store) return;
      let max = store.queryMaxEpoch();
      if (store.refreshMaxEpoch) {
        try { max = await store.refreshMaxEpoch(); } catch (err) { swallowed('container.refresh-max-epoch-uses-last-known', err); }
      }
      this.clock.observe(max);
    }));
  }

  /**
   * Run `fn` again (up to MAX_STALE_MAP_RETRIES times) when an engine says the pool map it was
   * planned with is stale (the pool refreshes its map first), or that it already served a read at
   * or above our epoch (the clock moves past it). Embedded pools never see either.
   */
  private retryStale<T>(fn: () => T | Promise<T>): T | Promise<T> {
    // Embedded pools (no map to refresh, one client): nothing can be stale, no retry frame per op.
    if (!this.rt.refreshMap) return fn();
    // The first attempt runs with no async frame of its own (connected pools: every commit and
    // read comes here); only a failure enters the retry loop.
    let first: T | Promise<T>;
    try { first = fn(); } catch (err) { return this.retryStaleLoop(fn, err); }
    return first instanceof Promise ? first.then(undefined, (err: unknown) => this.retryStaleLoop(fn, err)) : first;
  }

  /** `retryStale` once attempt 1 failed with `err`: attempts 2 .. MAX_STALE_MAP_RETRIES. */
  private async retryStaleLoop<T>(fn: () => T | Promise<T>, err: unknown): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const code = (err as { code?: string }).code;
      if (code === 'STALE_EPOCH' && attempt < MAX_STALE_MAP_RETRIES) {
        // An engine already served a read at or above our epoch: move the clock past it (HLC).
        const seen = (err as { info?: { epoch?: string } }).info?.epoch;
        if (seen && /^\d+$/.test(seen)) this.clock.observe(BigInt(seen));
      } else {
        if (code !== 'STALE_MAP' || attempt >= MAX_STALE_MAP_RETRIES || !this.rt.refreshMap) throw err;
        await this.rt.refreshMap();
      }
      try { return await fn(); } catch (e) { err = e; }
    }
  }

  /** Container label. */
  get label(): string { return this.meta.label; }
  /** Container UUID. */
  get uuid(): string { return this.meta.uuid; }
  /** Container properties. */
  get props(): Readonly<ContainerProps> { return this.meta.props; }

  /**
   * The highest epoch at which the container is consistent: every commit at or below it is
   * fully applied. Reads default to it.
   */
  stableEpoch(): bigint {
    // Connected pools: other clients commit too, so "now" follows physical time (engines hold a
    // read back until any prepared write at or below its epoch is decided).
    if (this.rt.clockSlot !== undefined) this.clock.observe(epochAtMs(this.rt.now()));
    if (this.inflight.size === 0) return this.clock.current;
    const min = this.inflight.min();
    if (!(min > 0n && min <= this.clock.current)) assert(false, 'in-flight commits hold epochs the clock handed out', { min: String(min), clock: String(this.clock.current) });
    return min - 1n;
  }

  /** Register a transaction at the current stable epoch. */
  private openTx(): TxTicket {
    this.checkOpen();
    // Commits decided above the stable epoch can conflict with this transaction: their keys now.
    if (this.unrecorded.n) this.recordUnrecorded();
    const ticket: TxTicket = {
      readEpoch: this.stableEpoch(),
      end: () => {
        this.activeTx.delete(ticket);
        this.pruneConflicts();
      },
    };
    this.activeTx.set(ticket, ticket.readEpoch);
    return ticket;
  }

  /** The object id for a handle. */
  private resolveOid(oidOrName: bigint | string, oclass?: string | ObjectClass): bigint {
    if (typeof oidOrName === 'bigint') {
      const cls = objectClassOf(oidOrName);
      this.checkClass(cls);
      return oidOrName;
    }
    if (typeof oidOrName !== 'string' || oidOrName.length === 0) throw badArg('object name must be a non-empty string or an object id');
    // Names of the container's default class (not GX: their group count follows the pool map)
    // hash once: a bounded cache, cleared when full.
    // (while the cache mostly misses, most names skip it: see NAME_OID_SAMPLE_SHIFT)
    let consulted = false;
    if (oclass === undefined && (!this.nameSampled || (this.nameRnd = (Math.imul(this.nameRnd, 1103515245) + 12345) >>> 0) >>> (32 - NAME_OID_SAMPLE_SHIFT) === 0)) {
      consulted = true;
      const young = this.nameOids.get(oidOrName);
      if (young !== undefined) { this.nameAdmission.hit(); this.noteNameLookup(1); return young; }
      if (this.nameOidsOld !== undefined) {
        const old = this.nameOidsOld.get(oidOrName);
        if (old !== undefined) { this.nameAdmission.hit(); this.noteNameLookup(1); this.nameOldMisses = 0; this.cacheNameOid(oidOrName, old); return old; }
        if (++this.nameOldMisses >= NAME_OID_OLD_MISSES_MAX) this.nameOidsOld = undefined;
      }
      this.noteNameLookup(0);
    }
    const cls = oclass === undefined ? this.defaultClass() : toObjectClass(oclass);
    if (oclass !== undefined) this.checkClass(cls);
    const name = utf8Scratch(oidOrName); // (hashed at once: no array per name)
    // (a lone surrogate encodes as U+FFFD: two such names would be one object)
    if (name.length !== oidOrName.length && !wellFormed(oidOrName)) throw badArg('object name must be well-formed UTF-16 (it holds a lone surrogate, which UTF-8 cannot carry)');
    if (oclass === undefined && name.length < NAME_HASH_JS_MAX_BYTES && cls.groups !== 'X') {
      // a short name of the default class: hashed in JavaScript, the id assembled from words (no
      // wasm call, two BigInts of the hashes and four of the id's assembly fewer: placement/name-hash)
      const oid = shortNameObjectId(name, name.length, this.defaultCls!.idTop);
      // (while sampled, every consulted miss is kept: the sampling already bounds the inserts, and
      // a hot set must get in to bring the cache back in use)
      if (consulted && (this.nameSampled || this.nameAdmission.admitMiss())) this.cacheNameOid(oidOrName, oid);
      return oid;
    }
    const lo = (xxh64(name, 0x6f6964n) << 32n) | (xxh64(name, 0x6e616d65n) & 0xffffffffn);
    if (cls.groups !== 'X') {
      // (the default class's bits above the 96 user bits are taken once: one BigInt per name, not seven)
      const oid = oclass === undefined ? this.defaultCls!.idBase! | lo : makeObjectId(lo, cls, {});
      if (consulted && (this.nameSampled || this.nameAdmission.admitMiss())) this.cacheNameOid(oidOrName, oid);
      return oid;
    }
    // GX objects fix their group count in their id, computed from the container's recorded target
    // count (not the pool's current one), so a name keeps its id after the pool grows.
    resolveGroups(cls, this.rt.map()); // INSUFFICIENT_TARGETS when the pool cannot hold one group
    const basis = this.meta.props.gxTargets ?? this.rt.map().targets.length;
    return makeObjectId(lo, cls, { groups: resolveGroups(cls, Math.max(basis, cls.groupSize)) });
  }

  /** Count a name-cache lookup (`hit` 1 or 0); at the end of a window, decide whether the next one is sampled. */
  private noteNameLookup(hit: number): void {
    this.nameHits += hit;
    if (++this.nameLookups < NAME_OID_WINDOW_LOOKUPS) return;
    this.nameSampled = this.nameHits * 2 < this.nameLookups;
    this.nameHits = this.nameLookups = 0;
  }

  /** Keep `name`'s object id in the young generation of the name cache (at most NAME_OID_CACHE_SIZE names in each). */
  private cacheNameOid(name: string, oid: bigint): void {
    if (this.nameOids.size >= NAME_OID_CACHE_SIZE) { this.nameOidsOld = this.nameOids; this.nameOids = new Map(); this.nameOldMisses = 0; }
    this.nameOids.set(name, oid);
  }

  /** The container's default class, parsed and checked against its redundancy factor once (props are fixed at creation). */
  private defaultClass(): ObjectClass {
    const name = this.meta.props.oclass;
    if (this.defaultCls?.name !== name) {
      const cls = toObjectClass(name);
      this.checkClass(cls);
      const idBase = cls.groups === 'X' ? undefined : makeObjectId(0n, cls, {});
      // (idTop: the id's bits 127..96, for shortNameObjectId)
      this.defaultCls = { name, cls, idBase, idTop: idBase === undefined ? 0 : Number(idBase >> 96n) };
    }
    return this.defaultCls.cls;
  }

  /** Refuse classes that cannot survive the container's redundancy factor. */
  private checkClass(cls: ObjectClass): void { checkRedundancy(cls, this.meta.props.redundancyFactor); }

  // ------------------------------------------------------------------ reads

  /**
   * The epoch reads with `opts` see: `opts.epoch`, the epoch of snapshot `opts.snapshot`, or the
   * stable epoch. Pass it back as `{ epoch }` to make several reads see one consistent state.
   */
  readEpoch(opts: ReadOptions = {}): bigint { return this.epochOf(opts); }

  /**
   * `readEpoch` for the handles (the port): not the public method, which a subclass may override
   * to check its caller's options, while a handle passes its own call's (a fetch's, a listing's).
   */
  private epochOf(opts: ReadOptions = {}): bigint {
    throwIfAborted(opts.signal);
    if (opts.epoch !== undefined && opts.snapshot !== undefined) throw badArg('give epoch or snapshot, not both');
    if (opts.epoch !== undefined) {
      if (typeof opts.epoch !== 'bigint' || opts.epoch < 0n) throw badArg('epoch must be a non-negative bigint');
      return opts.epoch;
    }
    if (opts.snapshot !== undefined) {
      const name = typeof opts.snapshot === 'string' ? opts.snapshot : opts.snapshot.name;
      const s = this.meta.snapshots.find((x) => x.name === name);
      if (!s) throw new ObjectError('NOT_FOUND', `no snapshot named ${name}`, { snapshot: name });
      return BigInt(s.epoch);
    }
    return this.stableEpoch();
  }

  /** `ContainerPort.epochFor`. */
  private epochFor(opts?: ReadOptions): bigint | Promise<bigint> {
    try {
      return this.epochOf(opts);
    } catch (err) {
      // (a snapshot name not in the record held: looked up once more, then epochOf's answer stands)
      if (opts?.snapshot === undefined || this.storage.refreshMeta === undefined || !(err instanceof ObjectError) || err.code !== 'NOT_FOUND') throw err;
      return this.storage.refreshMeta().then(() => this.epochOf(opts));
    }
  }

  /** The layout groups of an object and its redundancy (the pool's cached record: one lookup). */
  private layout(oid: bigint): ObjectLayout { return this.rt.objectLayout(oid); }

  /**
   * Every object id this container has written on a target in service (a superset of the objects
   * that hold data), ascending, found by merging the object tables of the targets: nothing is
   * recorded per object outside them. A target whose table cannot be read is skipped (its objects
   * have shards elsewhere when their class has redundancy).
   */
  async *listObjects(opts: { signal?: AbortSignal } = {}): AsyncGenerator<bigint> {
    for await (const page of this.listObjectPages(opts)) yield* page;
  }

  /**
   * `listObjects` a page at a time (arrays of ascending object ids, none empty, each id once over
   * all pages): the merge walks the targets' pages synchronously and awaits only when a target's
   * page runs out (once per LIST_PAGE unit ids of a local target, not once per id). Each page is a
   * new array the caller may keep.
   */
  async *listObjectPages(opts: { signal?: AbortSignal } = {}): AsyncGenerator<bigint[]> {
    this.checkOpen();
    const heads: ListHead[] = [];
    for (const t of this.rt.map().targets) {
      if (!this.rt.available(t.id) || !this.rt.storeExists(t.id, this.meta.uuid)) continue;
      try {
        const s = await this.rt.store(t.id, this.meta.uuid);
        const pages = s instanceof ContainerStore ? s.listObjectIdPages({ signal: opts.signal }) : idPages(s.listObjectIds({ signal: opts.signal }));
        const h = new ListHead(pages);
        await h.fill(false);
        if (!h.done) heads.push(h);
      } catch (err) {
        swallowed('container.list-objects-target-unreadable', err);
      }
    }
    // Objects the commit record knows (so one whose every shard is gone is still found, and a
    // rebuild reports it lost instead of forgetting it): one page of their shard-0 unit ids.
    const registered = await this.storage.registeredObjects?.().catch((err) => { swallowed('container.list-objects-registry-unreadable', err); return undefined; });
    if (registered?.length) {
      const ids: bigint[] = new Array(registered.length);
      for (let i = 0; i < registered.length; i++) ids[i] = unitOid(registered[i]!, 0);
      heads.push(ListHead.of(ids));
    }
    yield* mergeHeads(heads, opts.signal);
  }

  /** How many objects `listObjects()` yields (one pass over the object tables). */
  async countObjects(opts: { signal?: AbortSignal } = {}): Promise<number> {
    let n = 0;
    for await (const _ of this.listObjects(opts)) n++;
    return n;
  }

  /** Reload object ids other clients recorded (connected pools), and the epoch clock. */
  private async refreshObjects(): Promise<void> {
    await this.observeTargetEpochs();
  }

  /** Record objects that a rebuild could not restore. */
  private async markLost(oids: bigint[]): Promise<void> {
    this.checkWritable();
    await this.updateMeta((m) => {
      const set = new Set(m.lost ?? []);
      for (const o of oids) set.add(o.toString(16));
      m.lost = [...set];
    });
  }

  /** Whether `oid` was lost to failures beyond its redundancy (reads fail with DATA_LOST). */
  isLost(oid: bigint): boolean { return this.meta.lost?.includes(oid.toString(16)) ?? false; }

  /** Throw DATA_LOST for a lost object. */
  private checkNotLost(oid: bigint): void {
    if (this.isLost(oid)) throw new ObjectError('DATA_LOST', `object ${oid.toString(16)} was lost to more failures than its class survives; punch it to reuse it`, { oid: oid.toString(16) });
  }

  /** The I/O context for the data path (one per metadata record: its properties are fixed). */
  private io(): IoContext {
    if (this.ioCtx?.meta === this.meta) return this.ioCtx.ctx;
    const ctx = this.makeIo();
    this.ioCtx = { meta: this.meta, ctx };
    return ctx;
  }

  private makeIo(): IoContext {
    return {
      store: (t) => this.store(t),
      storeNow: (t) => this.storeNow(t),
      // read-only opens read through a wrapper that retries promise reads on a re-read index
      syncReads: this.rt.readOnly !== true,
      available: (t) => this.rt.available(t),
      codec: (k, p): EcCodec => this.rt.codec(k, p, this.meta.props.ecMatrix ?? 'vandermonde'),
      matrixId: (this.meta.props.ecMatrix ?? 'vandermonde') === 'cauchy' ? 2 : 1,
      cellSize: this.meta.props.cellSize,
      ...(this.meta.props.parityRotation === 'per-dkey' ? { parityRotation: 'per-dkey' as const } : {}),
      reportBadShard: (info) => this.rt.reportBadShard({ ...info, container: this.meta.uuid }),
    };
  }

  /** The store of target `t` for this container (opened lazily). */
  private store(t: number): Promise<ShardStore> {
    this.checkOpen();
    const p = this.rt.store(t, this.meta.uuid);
    if (this.rt.storesVersion !== undefined && this.storeNow(t) === undefined) {
      const v = this.readyVersion;
      p.then((s) => { if (!this.closed && this.readyVersion === v && this.rt.storesVersion!() === v) this.ready[t] = s; }, () => undefined);
    }
    return p;
  }

  /**
   * The store of target `t` when it is already open (no promise, no lookup by key); undefined
   * otherwise (then `store(t)`). Stores are forgotten whenever the pool may have closed one.
   */
  private storeNow(t: number): ShardStore | undefined {
    if (this.closed || this.rt.closed || this.rt.storesVersion === undefined) return undefined;
    const v = this.rt.storesVersion();
    if (v !== this.readyVersion) { this.ready = []; this.readyVersion = v; }
    return this.ready[t];
  }

  /**
   * Open this container's store on every in-service target now (they are otherwise opened on
   * first use), so the first I/O does not pay for replaying or creating target files.
   */
  async openTargets(): Promise<void> {
    await Promise.all(this.rt.map().targets.filter((t) => this.rt.writable(t.id)).map(async (t) => {
      const s = await this.store(t.id);
      // A remote store opens on its engine at the first request: make that request now.
      await s.refreshMaxEpoch?.();
    }));
  }

  /** The store of `t` only when it exists on disk (does not create it); undefined when it cannot be opened. */
  private async peekStore(t: number): Promise<ShardStore | undefined> {
    if (!this.rt.available(t) || !this.rt.storeExists(t, this.meta.uuid)) return undefined;
    try {
      return await this.rt.store(t, this.meta.uuid);
    } catch (err) {
      // A broken target is reported by reads and repaired by scrub; maintenance skips it.
      swallowed('container.peek-store-unopenable', err);
      return undefined;
    }
  }

  // ------------------------------------------------------------------ commits

  /**
   * `ContainerPort.commit`. A lone single-value op whose locks are free (the small put) goes
   * straight to `commitSingle`, without `commitOnce`'s frame (a single value takes no cross-client
   * stripe lock, so connected pools too: a stale map or epoch then retries through `commitOnce`,
   * as `retryStale` would); anything else, and anything `commitOnce` would refuse, takes `commitOnce`.
   */
  private commit(ops: Op[], check?: CommitCheck, signal?: AbortSignal): Promise<bigint> {
    if (ops.length === 1 && check === undefined && this.barrier === null
      && !this.closed && !this.rt.closed && this.rt.readOnly !== true && signal?.aborted !== true) {
      const op = ops[0]!;
      if (op.kind === 'single' && !this.isLost(op.oid)) {
        const obj = op.oid.toString(16); // (the lock name and the INTENT's object id: one conversion)
        const key = this.tryLocksSingle(obj, op.dkey, true);
        if (key !== undefined) {
          const first = this.commitSingle(op, ops, obj, key, this.heldLight);
          return this.rt.refreshMap === undefined ? first : first.catch((err: unknown) => this.retryStaleLoop(() => this.commitOnce(ops, check, signal), err));
        }
      }
    }
    return this.retryStale(() => this.commitOnce(ops, check, signal)) as Promise<bigint>; // (commitOnce: always a promise)
  }

  private async commitOnce(ops: Op[], check?: CommitCheck, signal?: AbortSignal): Promise<bigint> {
    this.checkOpen();
    this.checkWritable();
    throwIfAborted(signal);
    while (this.barrier) await this.barrier;
    if (ops.length === 0) return this.stableEpoch();
    if (ops.length === 1 && !check && (!this.rt.lockDkey || ops[0]!.kind !== 'array')) {
      // One op, locks free (the common case): take them without waiting for anything. (Connected
      // pools too, unless the op is an array write: only those may take cross-client stripe
      // locks, `lockStripes`, which the queued path takes after the local ones.)
      const op = ops[0]!;
      const release = this.tryLocks(op);
      if (release) {
        try {
          if (op.kind !== 'punchObject') this.checkNotLost(op.oid);
          return await this.commitLocked(ops);
        } finally {
          release();
        }
      }
    }
    // Writes to one dkey are serialised (EC read-modify-write needs it). Every commit holds its
    // objects shared, an object punch holds its object exclusively, so a punch never interleaves
    // with a read-modify-write of the same object. Object locks come first, each set in sorted
    // order, so concurrent commits cannot deadlock.
    const objs = [...new Set(ops.map((o) => o.oid.toString(16)))];
    const punched = new Set(ops.filter((o) => o.kind === 'punchObject').map((o) => o.oid.toString(16)));
    const lockKeys = [...new Set(ops.filter((o) => 'dkey' in o).map((o) => dkeyLockKey(o.oid.toString(16), (o as { dkey: Uint8Array }).dkey)))];
    if (punched.size > 0) return this.commitPunching(ops, objs, punched, lockKeys, check);
    return this.commitQueued(ops, objs, punched, lockKeys, check);
  }

  /**
   * `commitQueued` for ops that punch objects: no small put takes light locks from now until it
   * ends, and once it holds its objects exclusively it waits for the puts holding light locks
   * (their objects' shared locks are implied, not in the table). Puts that come meanwhile take
   * the shared lock and queue behind it, as they did when every put took it.
   */
  private async commitPunching(ops: Op[], objs: string[], punched: Set<string>, lockKeys: number[], check?: CommitCheck): Promise<bigint> {
    this.punchesIn++;
    try {
      return await this.commitQueued(ops, objs, punched, lockKeys, check, true);
    } finally {
      this.punchesIn--;
    }
  }

  /** Resolves once no small put holds light locks (`lightHolds`). */
  private lightDrain(): Promise<void> | undefined {
    if (this.lightHolds === 0) return undefined;
    return new Promise<void>((resolve) => { this.lightDrained.push(resolve); });
  }

  /** Take `ops`' object and dkey locks in the queues (`punching`: then wait for `lightDrain`), then commit. */
  private commitQueued(ops: Op[], objs: string[], punched: Set<string>, lockKeys: number[], check?: CommitCheck, punching = false): Promise<bigint> {
    return this.objLocks.with(objs.filter((o) => !punched.has(o)), [...punched], async () => { if (punching) await this.lightDrain(); return this.locks.withLocks(lockKeys, async () => {
      for (const op of ops) if (op.kind !== 'punchObject') this.checkNotLost(op.oid);
      // Connected pools: partial-stripe EC writes also serialise with other clients' (engine locks).
      const unlock = await this.lockStripes(ops);
      try {
        return await this.commitLocked(ops, check?.readEpoch, check);
      } finally {
        await unlock();
      }
    }); });
  }

  /**
   * The locks `commitOnce` takes for a lone `op` (its object shared, or exclusive for an object
   * punch, then its dkey), taken now when free; undefined (nothing held) when any is taken or
   * waited for, and the caller queues for them the usual way.
   */
  private tryLocks(op: Op, obj = op.oid.toString(16)): (() => void) | undefined {
    if (op.kind === 'punchObject') return undefined; // rare: the queued path
    const key = this.tryLocksSingle(obj, op.dkey, false);
    if (key === undefined) return undefined;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.unlockSingle(obj, key, false);
    };
  }

  /**
   * The object's shared lock and one dkey's lock, with no release closure (the allocation-free
   * forms of the lock tables): the dkey lock's key once both are taken (`unlockSingle(obj, key, light)`
   * frees them), undefined (nothing held) otherwise. `light` (the small put): while no object
   * punch waits or runs, only the dkey lock is taken and the shared hold is implied (`lightHolds`);
   * `heldLight` says which was done.
   */
  private tryLocksSingle(obj: string, dkey: Uint8Array, light: boolean): number | undefined {
    if (light && this.punchesIn === 0) {
      // (no object punch waits or runs: the object's shared hold is implied, see lightHolds)
      const key = dkeyLockKey(obj, dkey);
      if (!this.locks.tryAcquire(key)) return undefined;
      this.lightHolds++;
      this.heldLight = true;
      return key;
    }
    if (!this.objLocks.trySharedAcquire(obj)) return undefined;
    const key = dkeyLockKey(obj, dkey);
    if (!this.locks.tryAcquire(key)) { this.objLocks.releaseShared(obj); return undefined; }
    this.heldLight = false;
    return key;
  }

  /** Free the locks `tryLocksSingle` took (`light`: as it said in `heldLight`). */
  private unlockSingle(obj: string, key: number, light: boolean): void {
    this.locks.release(key);
    if (!light) { this.objLocks.releaseShared(obj); return; }
    if (--this.lightHolds === 0 && this.lightDrained.length > 0) {
      const waiting = this.lightDrained;
      this.lightDrained = [];
      for (const resolve of waiting) resolve();
    }
  }

  /** Take the cross-client locks of the dkeys whose EC stripes `ops` rewrite in part (sorted: no deadlock). */
  private async lockStripes(ops: Op[]): Promise<() => Promise<void>> {
    if (!this.rt.lockDkey) return async () => {};
    const want = new Map<string, number[]>();
    for (const op of ops) {
      if (op.kind !== 'array') continue;
      const { groups, red } = this.layout(op.oid);
      if (!isPartialStripe(red, this.meta.props.cellSize, op.offset, op.data.length)) continue;
      want.set(`${op.oid.toString(16)}/${hex(op.dkey)}`, groups[dkeyGroup(op.dkey, groups.length)]!); // a lock name engines see: hex
    }
    const releases: Array<() => Promise<void>> = [];
    const releaseAll = async () => {
      for (const r of releases.splice(0).reverse()) {
        // An unreleased stripe lock lapses after its TTL on the engine.
        try { await r(); } catch (err) { swallowed('container.stripe-unlock-lapses-after-ttl', err); }
      }
    };
    try {
      for (const key of [...want.keys()].sort()) releases.push(await this.rt.lockDkey(this.meta.uuid, key, want.get(key)!));
    } catch (err) {
      await releaseAll();
      throw err;
    }
    return releaseAll;
  }

  /** A transaction's reads and listings, against every commit above its read epoch (TX_RESTART when one wrote what it read). */
  private checkReads(check: CommitCheck): void {
    for (const k of check.keys) {
      if (this.conflicts.conflicts(k, check.readEpoch)) {
        throw new ObjectError('TX_RESTART', 'transaction conflicts with a concurrent commit; retry it', { key: k });
      }
    }
  }

  /**
   * Connected pools: the epoch of the first attempt of the commit whose first op is `op` (see
   * `CommitInfo.firstEpoch`), `epoch` when this is its first; undefined on embedded pools (one
   * client: its clock orders its writes). A commit made again after STALE_EPOCH (`retryStale`)
   * keeps its ops, so the window its writes are checked in shrinks with each attempt and the
   * retries end; the entry goes when the commit succeeds.
   */
  private firstEpochOf(op: Op, epoch: bigint): bigint | undefined {
    if (this.rt.clockSlot === undefined) return undefined;
    const first = this.firstEpochs.get(op);
    if (first !== undefined) return first;
    this.firstEpochs.set(op, epoch);
    return epoch;
  }
  /** `firstEpochOf`'s record: a commit's first op -> the epoch of its first attempt. */
  private readonly firstEpochs = new WeakMap<Op, bigint>();

  /**
   * A commit's epoch, in flight from now until `endCommit`, and its writes made known to
   * transactions: recorded as conflicts now while one is open (a transaction that checks its reads
   * while this commit is in flight, below or above its epoch, sees it: without it two transactions
   * committing together each missed what the other wrote), else set aside for one that opens
   * before the stable epoch passes it (`openTx`), so a stream of plain puts builds no keys.
   */
  private beginCommit(txRead: bigint | undefined, ops: readonly Op[] | Op): bigint {
    const epoch = this.clock.next();
    // (conditions tested first: the details are only built for a failing assertion)
    if (!(epoch > this.emittedUpTo && !this.inflight.has(epoch))) assert(false, 'commit epochs are unique and above every published epoch', { epoch: String(epoch) });
    if (!(txRead === undefined || txRead < epoch)) assert(false, 'a transaction commits above its read epoch', { epoch: String(epoch), txRead: String(txRead) });
    this.inflight.add(epoch);
    if (this.activeTx.size > 0) this.recordConflicts(epoch, Array.isArray(ops) ? ops : [ops as Op]);
    else {
      const n = Array.isArray(ops) ? ops.length : 1;
      if (this.unrecorded.n + n > MAX_UNRECORDED) {
        this.trimUnrecorded();
        if (this.unrecorded.n + n > MAX_UNRECORDED) this.recordUnrecorded(); // many slow commits: keys now, as ever
      }
      if (Array.isArray(ops)) for (const op of ops) setAside(this.unrecorded, epoch, op);
      else setAside(this.unrecorded, epoch, ops as Op);
    }
    return epoch;
  }

  /** A decided commit's event, published in epoch order (its conflict keys were noted when it began, `beginCommit`). */
  private recordCommitted(epoch: bigint, objects: CommitObjects): void {
    if (!this.inflight.has(epoch)) assert(false, 'a commit stays in flight until published', { epoch: String(epoch) });
    this.queueEvent(epoch, objects);
  }

  private recordConflicts(epoch: bigint, ops: readonly (Op | OpTarget)[]): void {
    for (const op of ops) this.conflicts.record(opConflictKey(op), epoch, op.kind.startsWith('punch'));
    if (++this.commitsSincePrune >= PRUNE_EVERY) { this.commitsSincePrune = 0; this.pruneConflicts(); }
  }

  /** Record the conflict keys of every commit set aside (a transaction is opening, or the list is full). */
  private recordUnrecorded(): void {
    const stable = this.stableEpoch();
    const list = this.unrecorded;
    this.unrecorded = newUnrecorded();
    this.trimAt = UNRECORDED_TRIM;
    for (let i = 0; i < list.n; i++) if (list.epochs[i]! > stable) this.recordConflicts(list.epochs[i]!, [setAsideTarget(list, i)]);
  }

  /** Drop the commits set aside that the stable epoch has passed (no transaction can open below them now). */
  private trimUnrecorded(): void {
    const list = this.unrecorded;
    if (this.inflight.size === 0) { truncateUnrecorded(list, 0); this.trimAt = UNRECORDED_TRIM; return; }
    const stable = this.stableEpoch();
    let n = 0;
    for (let i = 0; i < list.n; i++) {
      if (list.epochs[i]! <= stable) continue;
      list.epochs[n] = list.epochs[i]!; list.kinds[n] = list.kinds[i]!; list.oids[n] = list.oids[i]!; list.dkeys[n] = list.dkeys[i]; list.akeys[n] = list.akeys[i];
      n++;
    }
    truncateUnrecorded(list, n);
    this.trimAt = Math.min(MAX_UNRECORDED, Math.max(UNRECORDED_TRIM, 2 * n));
  }

  /** The commit at `epoch` is no longer in flight (decided or rolled back). */
  private endCommit(epoch: bigint): void {
    // The stable epoch (the oldest in flight minus one) moves only when the oldest commit ends:
    // when a younger one ends, every event at or below it was published already (no stable-epoch
    // BigInt, no compares). Commits end out of order about half the time at 32 in flight.
    const oldest = this.inflight.delete(epoch) !== InflightEnd.Younger;
    const unrecorded = this.unrecorded.n;
    if (unrecorded >= this.trimAt || (unrecorded && this.inflight.size === 0)) this.trimUnrecorded();
    this.commitsDone.notify();
    if (oldest) this.flushEvents();
  }

  private async commitLocked(ops: Op[], txRead?: bigint, check?: CommitCheck): Promise<bigint> {
    // (in the same synchronous stretch as the epoch and the record of this commit's writes: a
    // transaction committing meanwhile then sees this one, and this one every other that began)
    if (check) this.checkReads(check);
    const epoch = this.beginCommit(txRead, ops);
    const releases: Array<() => void> = [];
    try {
      // the ops that write what `ops` mean, and those that must reach the targets after others of
      // this commit (commit-waves.ts): their waves, and where each op's writes start
      const ordered = ops.length > 1 && !distinctWrites(ops);
      const wops = ordered ? orderOps(ops, this.isEcFn) : ops;
      const waves = ordered ? commitWaves(wops) : undefined;
      const starts: number[] | undefined = waves !== undefined ? [] : undefined;
      // (no await where nothing waits: a single value's plan and a connected pool's INTENT and DONE are synchronous)
      const planned = starts === undefined ? this.planWrites(wops, epoch, releases) : this.planWritesOfMany(wops, epoch, releases, starts);
      const writes = planned instanceof Promise ? await planned : planned;
      const info: CommitInfo = {
        targets: sortedTargets(writes), objects: ops.length === 1 ? [ops[0]!.oid.toString(16)] : [...new Set(ops.map((o) => o.oid.toString(16)))],
        writes: writes.map((w) => w.target),
        ...(check ? { check: { readEpoch: check.readEpoch, keys: check.keys, written: ops.map(opConflictKey), layout: (oid: bigint) => this.layout(oid) } } : {}),
        ...(txRead === undefined && this.rt.clockSlot !== undefined ? { firstEpoch: this.firstEpochOf(ops[0]!, epoch) } : {}),
      };
      const intent = this.storage.intent(epoch, info);
      if (intent !== undefined) await intent;
      try {
        const at: ApplyContext = txRead !== undefined ? { epoch, txRead } : { epoch };
        // (a store already open is taken without a promise; a synchronous failure becomes this
        // write's rejection, so every other write still settles before the epoch is discarded)
        const apply = (w: ShardWrite): Promise<void> => {
          try {
            const s = this.storeNow(w.target);
            return s !== undefined ? w.apply(s, at) : this.store(w.target).then((st) => w.apply(st, at));
          } catch (err) { return Promise.reject(err); }
        };
        this.storage.applying?.(1);
        try {
          // every write settles before a failure is thrown: the catch below discards the epoch, and
          // a write still in flight would land after the discard (a torn commit) and still be
          // reading the plan's buffers after `releases` gave them back
          if (waves !== undefined) await applyWaves(waves, writes, starts!, apply);
          else if (writes.length <= MAX_COMMIT_CONCURRENCY) await settleAll(writes.map(apply));
          else await runBounded(writes, MAX_COMMIT_CONCURRENCY, apply);
        } finally {
          this.storage.applying?.(-1); // before DONE is awaited: the journal's next group may be waiting for it
        }
        // no redo record carries these writes: stores that defer their syncs sync before DONE
        if (this.rt.syncStores) await this.rt.syncStores(info.targets);
        const done = this.storage.done(epoch, info);
        if (done !== undefined) await done;
      } catch (err) {
        if (await this.discardEpoch(epoch, info.targets)) await this.storage.abort(epoch, info);
        throw err;
      }
      if (!info.targets.every((t) => Number.isInteger(t) && t >= 0)) assert(false, 'a commit\'s targets are target ids', { epoch: String(epoch) });
      if (this.meta.lost?.length) await this.forgetLostPunched(ops);
      if (info.firstEpoch !== undefined) this.firstEpochs.delete(ops[0]!);
      this.recordCommitted(epoch, ops.length === 1 ? ops[0]!.oid : info.objects.map((o) => BigInt('0x' + o)));
      return epoch;
    } finally {
      for (const r of releases) r();
      this.endCommit(epoch);
    }
  }

  /**
   * `commitLocked` of one single value of a replicated or striped object whose group's targets all
   * take writes and are open, or of an EC object's single small enough to be stored whole (io.ts
   * `wholeSinglePiece`: its p + 1 holders then stand for the group), nothing of it moving (the
   * small put): the same steps and records (epoch, INTENT, every replica written at once, DONE,
   * events) without the generic plan's write objects and closures (an EC_2P1G1 100 B put cost 1.5x
   * an RP_2G1 one through the plan). Anything else takes `commitLocked`. The locks `tryLocksSingle`
   * took (`obj`, `key`) are released once the commit ended. (Not async: the small put's path has one async frame,
   * `commitSingleDirect`.)
   */
  private commitSingle(op: Extract<Op, { kind: 'single' }>, ops: Op[], obj: string, key: number, light: boolean): Promise<bigint> {
    let g: number, group: number[], direct: boolean, healthy = 0;
    let holders: EcHolders | undefined;
    try {
      const { groups, cls, red } = this.layout(op.oid);
      g = dkeyGroup(op.dkey, groups.length);
      group = groups[g]!;
      const size = group.length;
      direct = size === cls.groupSize && this.rt.moved(op.oid).size === 0;
      if (direct && red.kind === 'ec') {
        // a small EC single is stored whole on data role 0 and the parity roles (io.ts
        // `wholeSinglePiece`): p + 1 identical pieces, written like a replica set's copies
        if (op.value.length > EC_WHOLE_SINGLE_MAX_BYTES) direct = false;
        else {
          holders = ecHolders(roleShards(groups, g, dkeyRotation(this.io(), red, op.dkey)), red.dataShards);
          group = holders.targets;
        }
      }
      for (let i = 0; direct && i < group.length; i++) {
        const t = group[i]!;
        if (!this.rt.writable(t) || this.storeNow(t) === undefined) direct = false;
        if (this.rt.available(t)) healthy++;
      }
    } catch (err) {
      this.unlockSingle(obj, key, light);
      return Promise.reject(err);
    }
    // anything else (and a group with no healthy shard, which it reports DATA_LOST) is planned
    if (!direct || healthy === 0) return this.commitLocked(ops).finally(() => this.unlockSingle(obj, key, light));
    return this.commitSingleDirect(op, g, group, obj, key, light, holders);
  }

  /**
   * `holders`: an EC group's roles that hold a whole single (`group` is their targets), whose
   * piece is written to each; otherwise `group` is a replica set's (shard g * size + i on group[i]).
   * Not async: the commit's state is one `DirectCommit`, and the rest runs in `applyDirect` once
   * the INTENT is recorded (an async frame here kept ~45 registers, its await closures and its
   * promise per put: ~600 B allocated per small put), synchronously in the common case.
   */
  private commitSingleDirect(op: Extract<Op, { kind: 'single' }>, g: number, group: number[], obj: string, key: number, light: boolean, holders?: EcHolders): Promise<bigint> {
    const size = group.length;
    let epoch: bigint;
    try { epoch = this.beginCommit(undefined, op); } catch (err) { this.unlockSingle(obj, key, light); return Promise.reject(err); }
    let c: DirectCommit;
    let intent: Promise<void> | void;
    try {
      // (an EC piece names its epoch: made once, the same bytes for every holder)
      const value = holders === undefined ? op.value : wholeSinglePiece(op.value, epoch);
      // (a striped hint of this akey is stale now: io.ts forgetStripedSingle; one WeakMap lookup while the context holds none)
      if (holders !== undefined) forgetStripedSingle(this.io(), op.oid, op.dkey, op.akey);
      const pair = size === 2 && holders === undefined ? pairShards(group[0]!, group[1]!, g * 2) : undefined; // (shared, read only)
      const targets = pair !== undefined ? pair.targets : size === 1 ? [group[0]!] : sortedTargetIds(group);
      // A storage that can leave DONE to recovery records what recovery checks on the targets.
      const later = this.storage.doneLater !== undefined;
      // A redo journal carries a small value in its INTENT (written once, with the group's one
      // sync); the stores then need no sync of their own before the commit is acknowledged.
      const redo = later && this.storage.redo === true && value.length <= REDO_MAX_VALUE_BYTES;
      // The value's store checksum, taken once: local stores store it instead of hashing the value
      // again per replica, and an INTENT that records the value's hash records this one (format 4).
      const local = this.storeNow(group[0]!)?.updateSingleNow !== undefined;
      const csum = later || (size > 1 && local) ? valueChecksum(value) : undefined;
      let info: CommitInfo; // (one literal each way: a property added later would cost a map transition and a property store per put)
      if (later) {
        let shards: Array<[number, number]>;
        if (pair !== undefined) shards = pair.shards;
        else { shards = new Array(size); for (let i = 0; i < size; i++) shards[i] = [group[i]!, holders === undefined ? g * size + i : holders.shards[i]!]; }
        const single = redo ? { dkey: op.dkey, akey: op.akey, hash: csum!, storeHash: true, shards, value } : { dkey: op.dkey, akey: op.akey, hash: csum!, storeHash: true, shards };
        info = { targets, objects: [obj], writes: group, single }; // (the layout's group: read only)
      } else info = { targets, objects: [obj], writes: group, firstEpoch: this.firstEpochOf(op, epoch) };
      c = { op, value, g, group, holders, obj, key, light, epoch, info, later, redo, csum: local ? csum : undefined };
      intent = this.storage.intent(epoch, info);
    } catch (err) {
      this.endCommit(epoch);
      this.unlockSingle(obj, key, light);
      return Promise.reject(err);
    }
    if (intent !== undefined) {
      // (an INTENT not recorded: nothing was written, nothing to discard)
      return intent.then(() => this.applyDirect(c), (err: unknown) => { this.endDirect(c); throw err; });
    }
    // (a connected pool's INTENT is synchronous)
    try {
      const r = this.applyDirect(c);
      return typeof r === 'bigint' ? Promise.resolve(r) : r;
    } catch (err) { return Promise.reject(err); }
  }

  /**
   * A direct commit once its INTENT is recorded: every replica at once (most local stores apply it
   * synchronously), then its DONE, its event, and its epoch and locks released. Synchronous (the
   * epoch) when every write applied in the call and nothing waits (the small put: its DONE is
   * `doneLater`'s); `applyDirectAsync` otherwise. A failure discards the epoch (`abandonDirect`).
   */
  private applyDirect(c: DirectCommit): bigint | Promise<bigint> {
    const { group, holders, g } = c;
    const size = group.length;
    let pending: Array<Promise<void>> | undefined;
    let failure: { err: unknown } | undefined;
    try {
      this.storage.applying?.(1);
      for (let i = 0; i < size; i++) {
        try {
          const p = this.writeReplica(c.op, c.value, holders === undefined ? g * size + i : holders.shards[i]!, group[i]!, c.epoch, c.csum);
          if (p !== undefined) (pending ??= []).push(p);
        } catch (err) { failure ??= { err }; }
      }
      if (pending !== undefined) return this.applyDirectAsync(c, pending, failure);
      this.storage.applying?.(-1);
      // (a failure, a value no redo record carries while the stores defer their syncs, or a DONE
      // awaited: the awaited path)
      if (failure !== undefined || !c.later || (!c.redo && this.rt.syncStores)) return this.applyDirectAsync(c, undefined, failure);
      // Every write is on its targets: the commit is decided. Its DONE joins the next journal
      // group, waited for by no one (no sync per commit in durable mode).
      this.storage.doneLater!(c.epoch);
    } catch (err) {
      return this.abandonDirect(c, err);
    }
    return this.finishDirect(c);
  }

  /**
   * `applyDirect` where something waits: the replica writes still `pending` (the journal's
   * `applying` is then still counting this commit), a store sync, a DONE record; `failure`: a
   * write that failed synchronously (the epoch is discarded once every write settled).
   */
  private async applyDirectAsync(c: DirectCommit, pending: Array<Promise<void>> | undefined, failure: { err: unknown } | undefined): Promise<bigint> {
    try {
      // (settled together: a second replica failing while the first is pending is handled, not
      // an unhandled rejection, and no write is still in flight when a failure discards the epoch)
      if (pending !== undefined) {
        if (pending.length === 1) {
          try { await pending[0]; } catch (err) { failure ??= { err }; }
        } else {
          const settled = await Promise.allSettled(pending);
          for (let i = 0; i < settled.length; i++) { const r = settled[i]!; if (r.status === 'rejected') failure ??= { err: r.reason }; }
        }
        this.storage.applying?.(-1);
      }
      if (failure) throw failure.err;
      // (a value no redo record carries: the stores of a pool that defers their syncs sync now)
      if (!c.redo && this.rt.syncStores) await this.rt.syncStores(c.info.targets);
      if (c.later) this.storage.doneLater!(c.epoch);
      else { const done = this.storage.done(c.epoch, c.info); if (done !== undefined) await done; }
    } catch (err) {
      return this.abandonDirect(c, err);
    }
    return this.finishDirect(c);
  }

  /** A direct commit that failed after its INTENT: its epoch discarded (ABORT recorded when it was), then `err`. */
  private async abandonDirect(c: DirectCommit, err: unknown): Promise<never> {
    try {
      if (await this.discardEpoch(c.epoch, c.info.targets)) await this.storage.abort(c.epoch, c.info);
      throw err;
    } finally {
      this.endDirect(c);
    }
  }

  /** A direct commit decided: recorded as committed, then ended (`endDirect`); its epoch. */
  private finishDirect(c: DirectCommit): bigint {
    if (c.info.firstEpoch !== undefined) this.firstEpochs.delete(c.op);
    try { this.recordCommitted(c.epoch, c.op.oid); } finally { this.endDirect(c); }
    return c.epoch;
  }

  /** A direct commit ended (decided or abandoned): its epoch leaves the in-flight set, its locks are freed. */
  private endDirect(c: DirectCommit): void {
    this.endCommit(c.epoch);
    this.unlockSingle(c.obj, c.key, c.light);
  }

  /**
   * Write `value` (`op`'s, or its EC piece) as shard `shard` of `op`'s object on target `t` at `epoch`: undefined when the store applied
   * it synchronously (`updateSingleNow`), else the write's promise. Synchronous failures are thrown.
   * `csum`: the value's `valueChecksum`, when the caller took it for several replicas (a local
   * store then stores it instead of hashing the value again).
   */
  private writeReplica(op: Extract<Op, { kind: 'single' }>, value: Uint8Array, shard: number, t: number, epoch: bigint, csum: bigint | undefined): Promise<void> | undefined {
    const uoid = unitOid(op.oid, shard);
    const s = this.storeNow(t);
    if (s === undefined) return this.updateOpening(t, epoch, uoid, op, value);
    return s.updateSingleNow !== undefined ? s.updateSingleNow(epoch, uoid, op.dkey, op.akey, value, csum) : s.updateSingle(epoch, uoid, op.dkey, op.akey, value);
  }

  /** `updateSingle` on target `t`'s store once it is open (`writeReplica` when it is not yet). */
  private updateOpening(t: number, epoch: bigint, uoid: bigint, op: Extract<Op, { kind: 'single' }>, value: Uint8Array): Promise<void> {
    return this.store(t).then((st) => st.updateSingle(epoch, uoid, op.dkey, op.akey, value));
  }

  /** Plan every op's shard writes at `epoch`; buffer releases go to `releases` (freed after apply). */
  private planWrites(ops: readonly Op[], epoch: bigint, releases: Array<() => void>): ShardWrite[] | Promise<ShardWrite[]> {
    if (ops.length !== 1) return this.planWritesOfMany(ops, epoch, releases);
    // one op: synchronous unless it must read first (an EC array's read-modify-write)
    const planned = planOp(this.io(), this.planView(ops[0]!.oid), ops[0]!, epoch);
    if (planned instanceof Promise) return planned.then((plan) => { if (plan.release) releases.push(plan.release); return plan; });
    if (planned.release) releases.push(planned.release);
    return planned;
  }

  /** `planWrites` of several ops, one after another; `starts` (when given) gets where each op's writes begin, then their count. */
  private async planWritesOfMany(ops: readonly Op[], epoch: bigint, releases: Array<() => void>, starts?: number[]): Promise<ShardWrite[]> {
    const io = this.io();
    const writes: ShardWrite[] = [];
    for (const op of ops) {
      starts?.push(writes.length);
      const plan = await planOp(io, this.planView(op.oid), op, epoch);
      if (plan.release) releases.push(plan.release);
      writes.push(...plan);
    }
    starts?.push(writes.length);
    return writes;
  }

  /** What planning needs to know of where `oid` lives and which targets take writes. */
  private planView(oid: bigint): PlanView {
    const { groups, cls } = this.layout(oid);
    return { groups, cls, moved: this.rt.moved(oid), writable: this.writableFn, available: this.availableFn };
  }

  /** A punch of a lost object makes it usable again: forget that it was lost. */
  private async forgetLostPunched(ops: Op[]): Promise<void> {
    if (!this.meta.lost?.length || !ops.some((o) => o.kind === 'punchObject' && this.isLost(o.oid))) return;
    await this.updateMeta((m) => { m.lost = (m.lost ?? []).filter((x) => !ops.some((o) => o.kind === 'punchObject' && o.oid.toString(16) === x)); });
  }

  /** Queue a decided commit's event (kept ascending by epoch) until the stable epoch reaches it. */
  private queueEvent(epoch: bigint, objects: CommitObjects): void {
    const a = this.pendingEpochs, o = this.pendingObjs;
    const n = this.pendingTail++;
    if (n === this.pendingHead || a[n - 1]! < epoch) {
      if (n === a.length) { a.push(epoch); o.push(objects); } else { a[n] = epoch; o[n] = objects; }
      return;
    }
    // Out of order (a commit that waited, e.g. for its store, behind many that did not): its place
    // by binary search, then the later events move up without comparing them (a step back per
    // event compared a BigInt per commit decided meanwhile: 3% of the small puts' main thread).
    let lo = this.pendingHead, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < epoch) lo = mid + 1; else hi = mid;
    }
    if (n === a.length) { a.push(epoch); o.push(objects); }
    for (let i = n; i > lo; i--) { a[i] = a[i - 1]!; o[i] = o[i - 1]; }
    a[lo] = epoch; o[lo] = objects;
  }

  /** Publish commit events in epoch order once they are at or below the stable epoch. */
  private flushEvents(): void {
    const a = this.pendingEpochs, o = this.pendingObjs;
    const tail = this.pendingTail;
    if (this.pendingHead === tail) return;
    // Events at or below the stable epoch publish. With commits in flight (embedded pools) that is
    // every event below the oldest in flight, compared with it as it is (no stable-epoch BigInt made
    // per call: ~30 B a small put).
    const below = this.rt.clockSlot === undefined && this.inflight.size > 0;
    const bound = below ? this.inflight.min() : this.stableEpoch();
    if (bound <= this.emittedUpTo) return; // every pending event is above what was published
    const from = this.pendingHead;
    while (this.pendingHead < tail && (below ? a[this.pendingHead]! < bound : a[this.pendingHead]! <= bound)) {
      const e = a[this.pendingHead]!;
      if (!(e > this.emittedUpTo)) assert(false, 'commit events are published in epoch order, once', { epoch: String(e), emittedUpTo: String(this.emittedUpTo) });
      this.history.push(e, o[this.pendingHead]!);
      o[this.pendingHead++] = undefined;
      this.emittedUpTo = e;
    }
    // (watchers wait for any published commit and read the history: one wake-up for them all)
    if (this.pendingHead > from) this.events.emit('commit');
    // (the tail read again: a listener may have queued an event)
    if (this.pendingHead === this.pendingTail) {
      // (drained: the epochs published stay as values until overwritten; the objects were cleared above)
      if (a.length > PENDING_KEEP_SLOTS) { a.length = 0; o.length = 0; }
      this.pendingHead = 0; this.pendingTail = 0;
    } else if (this.pendingHead >= 1024 && this.pendingHead * 2 >= this.pendingTail) {
      a.splice(0, this.pendingHead); o.splice(0, this.pendingHead);
      this.pendingTail -= this.pendingHead; this.pendingHead = 0;
      if (a.length > this.pendingTail) { a.length = this.pendingTail; o.length = this.pendingTail; }
    }
  }

  // ------------------------------------------------------------------ snapshots, rollback, aggregation

  /** Take a snapshot of the current stable state; returns `{ name, epoch }`. */
  async snapshot(name?: string, opts: { signal?: AbortSignal } = {}): Promise<Snapshot> {
    this.checkOpen();
    this.checkWritable();
    throwIfAborted(opts.signal);
    if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 255)) throw badArg('snapshot name must be 1..255 characters');
    let epoch = this.stableEpoch();
    // connected: at or above every commit the engines hold (another client's may lie above this clock)
    if (this.rt.snapshotEpoch !== undefined) { epoch = await this.rt.snapshotEpoch(this.meta.uuid, epoch); this.clock.observe(epoch); }
    const n = name ?? `snap-${epoch}`;
    await this.updateMeta((m) => {
      if (m.snapshots.some((s) => s.name === n)) throw new ObjectError('EXISTS', `snapshot ${n} already exists`, { snapshot: n });
      m.snapshots.push({ name: n, epoch: epoch.toString() });
    });
    return { name: n, epoch };
  }

  /** Every snapshot, oldest first. */
  listSnapshots(): Snapshot[] {
    return this.meta.snapshots.map((s) => ({ name: s.name, epoch: BigInt(s.epoch) })).sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
  }

  /** Forget a snapshot (its versions become reclaimable by `aggregate`). */
  async destroySnapshot(snapshot: string | Snapshot): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    const name = typeof snapshot === 'string' ? snapshot : snapshot.name;
    await this.updateMeta((m) => {
      const i = m.snapshots.findIndex((s) => s.name === name);
      if (i < 0) throw new ObjectError('NOT_FOUND', `no snapshot named ${name}`, { snapshot: name });
      m.snapshots.splice(i, 1);
    });
  }

  /**
   * Return the container to a snapshot: everything committed after it is discarded on every
   * target (later snapshots are dropped too). Waits for in-flight commits first.
   */
  async rollback(snapshot: string | Snapshot, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    const at = this.epochFor({ snapshot, signal: opts.signal });
    const epoch = typeof at === 'bigint' ? at : await at;
    await this.exclusive(async () => {
      const at = this.clock.next();
      this.rollingBack = at;
      try {
        this.storage.rollback(at, epoch);
        for (const t of this.rt.map().targets) {
          const s = await this.peekStore(t.id);
          if (s) await s.discard(epoch);
        }
        // stores that defer their syncs: the discards are durable before a checkpoint may drop the rollback record
        await this.rt.syncStores?.();
        // (before a checkpoint may drop the rollback record, which an open would finish the rollback from)
        await this.updateMeta((m) => { m.snapshots = m.snapshots.filter((s) => BigInt(s.epoch) <= epoch); });
        this.rollbackFinished(at);
      } finally {
        this.rollingBack = undefined;
      }
      this.conflicts.recordGlobal(this.clock.current);
    });
  }

  /**
   * Reclaim space: merge versions that neither the current state, a snapshot nor an open
   * transaction can see any more.
   */
  async aggregate(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    if (this.storage.needsCompaction()) await this.exclusive(async () => this.compactJournal());
    let upTo = this.stableEpoch();
    // (a watch() consumer reads at the epochs of the events it is handed: nothing above it is merged)
    const watched = this.watchFloor();
    if (watched !== undefined && watched < upTo) upTo = watched;
    // redo journals: no redo record at or below upTo may write again, at an open, a version
    // aggregation merged away: a checkpoint drops them first (and upTo stays within what it dropped)
    if (this.storage.redo === true && this.rt.checkpoint) {
      await this.rt.checkpoint();
      const covered = this.storage.redoCovered?.() ?? 0n;
      if (covered < upTo) upTo = covered;
    }
    // Nothing at or below epoch 0 (a container with no commit yet, or a redo journal whose
    // checkpoints covered none): nothing to merge. (The stores take epochs from 1 and refused
    // 0 as INVALID_ARGUMENT, which the caller of a valid aggregate() got.)
    if (upTo < 1n) return;
    // (connected: every snapshot taken before this began, another client's too, whose record
    // this client's watch may not have brought yet)
    if (this.storage.refreshMeta !== undefined) await this.storage.refreshMeta();
    const keep = [...this.listSnapshots().map((s) => s.epoch), ...this.activeTx.values()];
    // read-only readers in other processes keep what they read (see readers.ts)
    if (this.rt.readerEpochs) keep.push(...await this.rt.readerEpochs(this.meta.uuid, upTo));
    for (const t of this.rt.map().targets) {
      throwIfAborted(opts.signal);
      const s = await this.peekStore(t.id);
      if (s) await s.aggregate(upTo, keep);
    }
  }

  // ------------------------------------------------------------------ watch

  /**
   * Committed epochs after `from`, in order, with the objects each touched; waits for new
   * commits. A consumer reading at an event's epoch sees a consistent snapshot: `aggregate()`
   * merges nothing above the events a live consumer may still read at (embedded pools: one
   * abandoned without `return()` holds it back by at most MAX_WATCH_HISTORY commits; connected
   * pools, any client's aggregation: at most WATCH_HOLD_MS after its last request to the
   * engines, src/engine/watch-holds.ts; read at a snapshot to keep a point for good). Producers never
   * wait for consumers: a consumer more than MAX_WATCH_HISTORY commits behind gets `WATCH_LAGGED`,
   * and so does one resumed from a saved epoch the retained history no longer reaches; `from: 0n`
   * asks for whatever is retained and starts at its oldest commit.
   */
  async *watch(opts: { from?: bigint; signal?: AbortSignal } = {}): AsyncGenerator<CommitEvent> {
    let cursor = opts.from ?? this.emittedUpTo;
    const signal = opts.signal;
    if (this.rt.followCommits) {
      // Connected pools: the commits of every client, from the engines, once final.
      for await (const ev of this.rt.followCommits(this.meta.uuid, cursor, signal)) {
        if (this.closed) return;
        yield ev;
      }
      return;
    }
    const pin = { at: cursor };
    this.watchers.add(pin);
    try {
      yield* this.watchLocal(pin, opts.from, signal);
    } finally {
      this.watchers.delete(pin);
    }
  }

  /** `watch()` of an embedded pool from `pin.at`, `pin` following the events handed out (`watchers`). */
  private async *watchLocal(pin: { at: bigint }, from: bigint | undefined, signal: AbortSignal | undefined): AsyncGenerator<CommitEvent> {
    let cursor = pin.at;
    for (;;) {
      throwIfAborted(signal);
      if (this.closed) return;
      const first = this.history.firstAfter(cursor);
      if (first >= 0) {
        // (commits between the cursor and the oldest retained one were dropped: lagged. Only
        // `{ from: 0n }`, whatever is retained, starts at the oldest retained commit instead; a
        // watch resumed from a saved epoch, or from now, lags like any other)
        if (first === 0 && this.history.length >= MAX_WATCH_HISTORY && cursor < this.history.epochAt(0) - 1n && !(cursor === 0n && from === 0n)) {
          throw new ObjectError('WATCH_LAGGED', 'watch consumer lagged behind the retained history', { from: String(cursor), oldest: String(this.history.epochAt(0)) });
        }
        const ev = this.history.at(first);
        cursor = ev.epoch;
        pin.at = cursor;
        yield ev;
        continue;
      }
      await this.nextCommitOrClose(signal);
    }
  }

  /**
   * The lowest epoch a live `watch()` consumer of this handle may still read at (undefined: none):
   * its last event's. A consumer behind the retained history counts from its oldest commit: all it
   * can get next is `WATCH_LAGGED` (or, from `0n`, that commit), so one abandoned without being
   * closed holds back at most MAX_WATCH_HISTORY commits.
   */
  private watchFloor(): bigint | undefined {
    if (this.watchers.size === 0) return undefined;
    const oldest = this.history.length > 0 ? this.history.epochAt(0) - 1n : this.emittedUpTo;
    let low: bigint | undefined;
    for (const w of this.watchers) {
      const at = w.at > oldest ? w.at : oldest;
      if (low === undefined || at < low) low = at;
    }
    return low;
  }

  /** Resolve on the next published commit, on close, or when `signal` fires (a watch waits indefinitely by design). */
  private nextCommitOrClose(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => { this.events.off('commit', done); this.events.off('close', done); signal?.removeEventListener('abort', done); resolve(); };
      this.events.on('commit', done);
      this.events.on('close', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Forget last-writer epochs no transaction can conflict with: a transaction's read epoch is at
   * least the stable epoch when it begins, so entries at or below min(stable, oldest open
   * transaction) are dead. Keeps the tracker bounded by the writes since the oldest open tx.
   */
  private pruneConflicts(): void {
    let oldest = this.stableEpoch();
    for (const e of this.activeTx.values()) if (e < oldest) oldest = e;
    this.conflicts.prune(oldest);
  }

  /**
   * Rewrite the journal to the retained watch history (no commit in flight). A redo journal's
   * records are dropped only once the stores hold what they carry durably: the stores sync first.
   */
  private async compactJournal(keep = MAX_WATCH_HISTORY): Promise<void> {
    if (this.storage.redo === true) { await this.storage.settled?.(); await this.rt.syncStores?.(); }
    this.storage.compact(this.history.tail(keep));
  }

  /** Run `fn` with no commit in flight and none starting (in-flight ones finish first, within QUIESCE_TIMEOUT_MS). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.barrier) await this.barrier;
    let release!: () => void;
    this.barrier = new Promise<void>((r) => (release = r));
    try {
      await this.commitsDone.until(() => this.inflight.size === 0, { timeoutMs: QUIESCE_TIMEOUT_MS, what: `in-flight commits of container ${this.meta.label} to finish`, info: { container: this.meta.label } });
      return await fn();
    } finally {
      this.barrier = null;
      release();
    }
  }

  /**
   * Change the metadata record and persist it. On a storage other clients write too, `change`
   * runs on the newest record and the write keeps their changes (`ContainerStorage.updateMeta`);
   * otherwise on a copy of this handle's record, kept once written. `change` may throw: nothing
   * is written then.
   */
  private async updateMeta(change: (m: ContainerMeta) => void): Promise<void> {
    if (this.storage.updateMeta !== undefined) { this.meta = await this.storage.updateMeta(change as (m: unknown) => void) as ContainerMeta; return; }
    const next = structuredClone(this.meta);
    change(next);
    await this.storage.saveMeta(next);
    this.meta = next;
  }

  /** Close the handle: waits for in-flight commits; later calls fail with POOL_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => { this.closed = true; });
    this.events.emit('close');
    // A clean close leaves a short commit record, so the next open reads almost nothing (watch
    // history across a restart keeps the last RETAINED_ON_CLOSE commits).
    if (this.storage.needsCompaction(RETAINED_ON_CLOSE_BYTES)) {
      try { await this.compactJournal(RETAINED_ON_CLOSE); } catch (err) { swallowed('container.compact-journal-at-close-failed-kept-as-is', err); }
    }
    await this.storage.settled?.(); // (a checkpoint's rewrite of the journal ends first)
    await this.storage.close();
    // a handle kept after close pins no store (their runs' indexes and blocks: ~330 MiB after the
    // io bench's puts); the I/O context goes too (its functions reach the pool's stores)
    this.ready = [];
    this.ioCtx = undefined;
    this.rt.containerClosed(this);
  }

  private checkOpen(): void {
    if (this.closed || this.rt.closed) throw new ObjectError('POOL_CLOSED', `container ${this.meta.label} is closed`);
  }
}

/**
 * Commits set aside while no transaction is open (`ContainerCore.unrecorded`): one entry per op,
 * without its value, in parallel arrays (no object per op: a small put sets one aside most times).
 * The first `n` entries are live; the arrays keep their length past them (a trim clears the
 * references it drops), so a list trimmed every 64 puts is not regrown, its backing stores copied
 * at each doubling, every time (~90 B allocated per put).
 */
interface Unrecorded {
  n: number;
  epochs: bigint[];
  kinds: Array<Op['kind']>;
  oids: bigint[];
  dkeys: Array<Uint8Array | undefined>;
  akeys: Array<Uint8Array | undefined>;
}

function newUnrecorded(): Unrecorded { return { n: 0, epochs: [], kinds: [], oids: [], dkeys: [], akeys: [] }; }

/** Set `op` (committed at `epoch`) aside in `u`. */
function setAside(u: Unrecorded, epoch: bigint, op: Op): void {
  const i = u.n++;
  if (i === u.epochs.length) {
    u.epochs.push(epoch); u.kinds.push(op.kind); u.oids.push(op.oid);
    u.dkeys.push(op.kind === 'punchObject' ? undefined : op.dkey);
    u.akeys.push(op.kind === 'punchObject' || op.kind === 'punchDkey' ? undefined : op.akey);
    return;
  }
  u.epochs[i] = epoch; u.kinds[i] = op.kind; u.oids[i] = op.oid;
  u.dkeys[i] = op.kind === 'punchObject' ? undefined : op.dkey;
  u.akeys[i] = op.kind === 'punchObject' || op.kind === 'punchDkey' ? undefined : op.akey;
}

/** The conflict target of entry `i` of `u` (what `opTarget` gives for its op). */
function setAsideTarget(u: Unrecorded, i: number): OpTarget {
  const kind = u.kinds[i]!, oid = u.oids[i]!;
  if (kind === 'punchObject') return { kind, oid };
  if (kind === 'punchDkey') return { kind, oid, dkey: u.dkeys[i]! };
  return { kind, oid, dkey: u.dkeys[i]!, akey: u.akeys[i]! };
}

/**
 * Keep the first `n` entries of `u`: the references past them are cleared (keys and ids die young),
 * the arrays keep their length (see `Unrecorded`) up to UNRECORDED_KEEP_SLOTS.
 */
function truncateUnrecorded(u: Unrecorded, n: number): void {
  if (u.epochs.length > UNRECORDED_KEEP_SLOTS) { u.epochs.length = n; u.kinds.length = n; u.oids.length = n; u.dkeys.length = n; u.akeys.length = n; u.n = n; return; }
  const ids = u.oids, d = u.dkeys, a = u.akeys;
  const e = u.epochs;
  for (let i = n; i < u.n; i++) { e[i] = 0n; ids[i] = 0n; d[i] = undefined; a[i] = undefined; }
  u.n = n;
}

/** Distinct target ids of a layout group, ascending (a new array). */
/**
 * This process's lock of one dkey of an object: a 30-bit hash of the object's hex id and the dkey's
 * bytes (FNV-1a, then mixed), a small integer, so a small put's lock is a map entry with no key
 * to build, flatten or hash per put (was `${oidHex}/${latin1(dkey)}`: 3% of the put's main
 * thread). Two dkeys whose hashes collide share one lock: only more exclusion (a commit waits
 * for an unrelated one while it runs), never less; a commit naming both takes it once
 * (`withLocks` takes a set), and every commit still takes its locks in one sorted order.
 */
export function dkeyLockKey(oidHex: string, dkey: Uint8Array): number {
  let h = 0x811c9dc5 ^ dkey.length;
  for (let i = 0; i < oidHex.length; i++) h = Math.imul(h ^ oidHex.charCodeAt(i), 0x01000193);
  for (let i = 0; i < dkey.length; i++) h = Math.imul(h ^ dkey[i]!, 0x01000193);
  h ^= h >>> 16; h = Math.imul(h, 0x45d9f3b); h ^= h >>> 16;
  return h & 0x3fffffff;
}

/** Pairs `pairShards` keeps (about 17 bytes of key and 200 of arrays each). */
const PAIR_SHARDS_CACHE_SIZE = 4096;
/** Largest target id and first shard `pairShards` caches (its key packs them into 48 bits). */
const PAIR_KEY_LIMIT = 0x10000;
const pairCache = new Map<number, { targets: number[]; shards: Array<[number, number]> }>();

/**
 * A group of two (replicas of RP_2, the small put's usual case) on targets `a`, `b` holding shards
 * `first`, `first + 1`: its sorted distinct targets (`sortedTargetIds`) and its (target, shard)
 * pairs, kept (bounded) and shared by every commit to such a group, which only reads them.
 */
function pairShards(a: number, b: number, first: number): { targets: number[]; shards: Array<[number, number]> } {
  if (!(a < PAIR_KEY_LIMIT && b < PAIR_KEY_LIMIT && first < PAIR_KEY_LIMIT)) return makePair(a, b, first);
  const k = (first * PAIR_KEY_LIMIT + a) * PAIR_KEY_LIMIT + b;
  let p = pairCache.get(k);
  if (p === undefined) {
    if (pairCache.size >= PAIR_SHARDS_CACHE_SIZE) pairCache.clear();
    p = makePair(a, b, first);
    pairCache.set(k, p);
  }
  return p;
}

function makePair(a: number, b: number, first: number): { targets: number[]; shards: Array<[number, number]> } {
  return { targets: a === b ? [a] : a < b ? [a, b] : [b, a], shards: [[a, first], [b, first + 1]] };
}

/** The roles of an EC group that hold a whole single (`wholeSingleRole`): their shards and targets, in role order. */
interface EcHolders { shards: number[]; targets: number[] }

/**
 * A direct single-value commit in flight (`ContainerCore.commitSingleDirect`): what its steps after
 * the INTENT need, in one object (one literal: every put's has the same shape). `csum`: the value's
 * store checksum for local stores (undefined: each store hashes it).
 */
interface DirectCommit {
  readonly op: Extract<Op, { kind: 'single' }>;
  readonly value: Uint8Array;
  readonly g: number;
  readonly group: number[];
  readonly holders: EcHolders | undefined;
  readonly obj: string;
  readonly key: number;
  readonly light: boolean;
  readonly epoch: bigint;
  readonly info: CommitInfo;
  readonly later: boolean;
  readonly redo: boolean;
  readonly csum: bigint | undefined;
}

/** `roles` (an EC group's, in role order) that hold a whole single of a k + p class. */
function ecHolders(roles: ReadonlyArray<{ readonly shard: number; readonly target: number }>, k: number): EcHolders {
  const shards: number[] = [], targets: number[] = [];
  for (let i = 0; i < roles.length; i++) if (wholeSingleRole(i, k)) { shards.push(roles[i]!.shard); targets.push(roles[i]!.target); }
  return { shards, targets };
}

function sortedTargetIds(group: readonly number[]): number[] {
  const out: number[] = [];
  for (const t of group) {
    if (out.includes(t)) continue;
    // insertion sort: a handful of targets, and Array#sort allocates its work area
    let i = out.length;
    out.push(t);
    while (i > 0 && out[i - 1]! > t) { out[i] = out[i - 1]!; i--; }
    out[i] = t;
  }
  return out;
}

/** Distinct targets of `writes`, ascending. */
function sortedTargets(writes: readonly ShardWrite[]): number[] {
  return sortedTargetIds(writes.map((w) => w.target));
}

/** What `InflightEpochs.delete` found: the oldest epoch in flight, a younger one, or none. */
const enum InflightEnd { Oldest, Younger, Absent }

/**
 * Epochs of the commits in flight. Epochs come from a monotonic clock, so they are appended in
 * ascending order and the oldest is the first: the stable epoch costs no scan.
 */
class InflightEpochs {
  private readonly order: bigint[] = [];

  get size(): number { return this.order.length; }

  add(e: bigint): void {
    const o = this.order;
    if (o.length === 0 || o[o.length - 1]! < e) { o.push(e); return; }
    o.splice(this.lowerBound(e), 0, e);
  }

  /**
   * Whether `e` is in flight: a binary search of the ascending epochs (about five BigInt compares
   * at 32 commits in flight; a scan compared against every one, twice per commit). A new epoch is
   * above every one held: one compare.
   */
  has(e: bigint): boolean {
    const o = this.order;
    if (o.length === 0 || o[o.length - 1]! < e) return false;
    const i = this.lowerBound(e);
    return i < o.length && o[i] === e;
  }

  /** Remove `e`: whether it was the oldest in flight, a younger one, or not in flight. */
  delete(e: bigint): InflightEnd {
    const o = this.order;
    if (o.length === 0) return InflightEnd.Absent;
    if (o[0] === e) { o.shift(); return InflightEnd.Oldest; } // (commits end about in epoch order)
    const i = this.lowerBound(e);
    if (i === o.length || o[i] !== e) return InflightEnd.Absent;
    for (let j = i; j < o.length - 1; j++) o[j] = o[j + 1]!;
    o.length--; // (splice would allocate the removed items' array)
    return InflightEnd.Younger;
  }

  /** The oldest epoch in flight (-1 when none). */
  min(): bigint { return this.order.length ? this.order[0]! : -1n; }

  /** Index of the first epoch >= `e`. */
  private lowerBound(e: bigint): number {
    const o = this.order;
    let lo = 0, hi = o.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (o[mid]! < e) lo = mid + 1; else hi = mid;
    }
    return lo;
  }
}

/** Object ids a `listObjectPages` page holds at most. */
const LIST_OUT_PAGE = 1024;

/** The merge of `listObjectPages` over heads whose first page is loaded (or at hand). */
async function* mergeHeads(heads: ListHead[], signal: AbortSignal | undefined): AsyncGenerator<bigint[]> {
  const m = new ListMerge(heads);
  for (;;) {
    throwIfAborted(signal);
    const out = m.run(LIST_OUT_PAGE);
    if (out.length > 0) yield out;
    const e = m.empty;
    if (e !== null) { await e.fill(true); m.add(e); }
    else if (out.length === 0) return;
  }
}

/**
 * @internal (tests) the merge `listObjectPages` makes, over sources of pages of ascending unit
 * object ids (an array: one page at hand): object ids ascending, each once, in pages; a source
 * that fails is dropped (reported as failing mid-listing).
 */
export async function* mergeUnitIdPages(sources: ReadonlyArray<AsyncIterator<bigint[]> | bigint[]>, signal?: AbortSignal): AsyncGenerator<bigint[]> {
  const heads: ListHead[] = [];
  for (const src of sources) {
    const h = Array.isArray(src) ? ListHead.of(src) : new ListHead(src);
    if (!Array.isArray(src)) await h.fill(true);
    if (h.at < h.page.length) heads.push(h);
  }
  yield* mergeHeads(heads, signal);
}

/** A listing of pages of ascending unit object ids from a store that lists id by id (a remote or wrapped one). */
async function* idPages(ids: AsyncIterable<bigint>): AsyncGenerator<bigint[]> {
  let page: bigint[] = [];
  for await (const id of ids) {
    page.push(id);
    if (page.length === LIST_OUT_PAGE) { yield page; page = []; }
  }
  if (page.length > 0) yield page;
}

/** One source of a listing merge (`ListMerge`): its current page of ascending unit ids and the next one's place. */
class ListHead {
  page: bigint[] = NO_IDS;
  at = 0;
  /** No page left (or the source failed). */
  done = false;
  constructor(private readonly pages: AsyncIterator<bigint[]> | null) {}

  /** A head of one page already at hand. */
  static of(ids: bigint[]): ListHead {
    const h = new ListHead(null);
    h.page = ids; h.done = true;
    return h;
  }

  /** Load the next page (the current one is used up); `midway`: a source that fails now is reported as failing mid-listing. */
  async fill(midway: boolean): Promise<void> {
    this.page = NO_IDS; this.at = 0;
    if (this.pages === null) { this.done = true; return; }
    try {
      // (pages are never empty: a source ends with `done`)
      const r = await this.pages.next();
      if (r.done || r.value.length === 0) this.done = true;
      else this.page = r.value;
    } catch (err) {
      if (!midway) throw err;
      swallowed('container.list-objects-target-failed-mid-listing', err);
      this.done = true;
    }
  }
}
const NO_IDS: bigint[] = [];

/**
 * The synchronous part of a listing merge: object ids in ascending order over every head's
 * pages, each once (a unit id's object is `unit >> 32`: every shard of an object is next to the
 * others in unit id order). The heads with a current id are kept in a binary min-heap by it (a
 * few BigInt compares per id instead of one per head: a rebuild merges 32 targets and the
 * registry). One class of one shape and plain loops, so its compiled code serves every listing.
 */
class ListMerge {
  /** The head whose page ran out (its next page must be loaded, then `add`ed, before the merge goes on), or null. */
  empty: ListHead | null = null;
  private last = -1n;
  private readonly heap: ListHead[] = [];
  constructor(heads: ListHead[]) {
    for (const h of heads) this.add(h);
  }

  /** Put `h` back in the merge when it has a current id (a head just refilled). */
  add(h: ListHead): void {
    if (h.at >= h.page.length) return;
    const q = this.heap;
    q.push(h);
    // sift up
    let i = q.length - 1;
    const id = h.page[h.at]!;
    while (i > 0) {
      const up = (i - 1) >> 1, u = q[up]!;
      if (!(id < u.page[u.at]!)) break;
      q[i] = u; i = up;
    }
    q[i] = h;
  }

  /** Up to `max` more object ids; stops early when a head's page runs out (`empty`) or every head is done. */
  run(max: number): bigint[] {
    const out: bigint[] = [];
    const q = this.heap;
    this.empty = null;
    while (out.length < max && q.length > 0) {
      const h = q[0]!;
      const unit = h.page[h.at++]!;
      const oid = splitUnitOid(unit).oid;
      if (oid !== this.last) { this.last = oid; out.push(oid); }
      if (h.at < h.page.length) { this.down(h); continue; }
      // its page is used up: out of the heap (the last head takes the root), refilled when not done
      const tail = q.pop()!;
      if (q.length > 0) this.down(tail);
      if (!h.done) { this.empty = h; return out; }
    }
    return out;
  }

  /** Sift head `h` down from the root (it is, or takes, the root's place). */
  private down(h: ListHead): void {
    const q = this.heap, n = q.length;
    const id = h.page[h.at]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l, cid = q[l]!.page[q[l]!.at]!;
      const r = l + 1;
      if (r < n) { const rid = q[r]!.page[q[r]!.at]!; if (rid < cid) { c = r; cid = rid; } }
      if (!(cid < id)) break;
      q[i] = q[c]!; i = c;
    }
    q[i] = h;
  }
}
