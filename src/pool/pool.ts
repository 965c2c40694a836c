/**
 * A pool: many storage targets, grouped into fault domains by a pool map, holding containers.
 * Embedded pools live in one directory (`local-backend.ts`); connected pools keep their map and
 * metadata in etcd and reach targets through engines (src/net/connected.ts, a layer above: it
 * installs itself as the pool connector, so `Pool.connect` needs no upward import). This module is
 * the logic both share: layouts, map changes, rebuild and rebalance, scrub.
 */
import { randomUUID } from 'node:crypto';
import '../object/dispose.js';
import { EventEmitter } from 'node:events';
import { BigIdMap, mixBigId } from '../../core/big-id-map.js';
import { PoolMap, createPlacement, toObjectClass, type Placement, type SharedLayout } from '../../placement/index.js';
import { createCodec, type Codec } from '../../ec/index.js';
import { initXxhash } from '../../core/xxhash.js';
import { CairnError, assert, throwIfAborted } from '../../core/errors.js';
import { KeyedMutex } from '../../core/keyed-mutex.js';
import { swallow, swallowed } from '../../core/log.js';
import { ObjectError, badArg } from '../io/errors.js';
import type { ShardStore } from '../io/shard-store.js';
import type { BadShard, ContainerRuntime, ObjectLayout } from '../container/runtime.js';
import { DEFAULT_CELL_SIZE, checkRedundancy, containerPort, type ContainerMeta, type ContainerProps } from '../container/container.js';
import { Container } from '../object/handles.js';
import { migrateContainer, listMigrationObjects, MIGRATE_LISTED_OBJECTS_MAX } from './migrate.js';
import { reclaimContainer, reclaimOn } from './reclaim.js';
import { ObjectFeed } from './rebuild-feed.js';
import { RebuildBudget, type RebuildBudgetOptions } from './rebuild-budget.js';
import { findBadShards, openContainers, repairShards, confirmRepairs, type PoolScrubReport, type DamagedRanges, type ShardToRepair } from './scrub.js';
import type { ConnectOptions, PoolBackend, PoolMaps, RebuildStatus } from './backend.js';
import { LocalBackend } from './local-backend.js';
import { CONNECT_OPTIONS, MAX_REDUNDANCY_FACTOR, containerOptionsArg, createOptionsArg, extendArg, labelArg, openOptionsArg, poolDirArg, scrubOptionsArg, targetIdArg, targetIdsArg } from './pool-args.js';
import { createPoolDir, poolFsError, POOL_FILE_ERRNO_CODES } from './create-guard.js';
import { knownOptionsArg, signalOptions } from '../object/args.js';
import { describeValue } from '../../core/describe.js';
import { HLC_LOGICAL_BITS } from '../container/epoch-clock.js';
import { aggregationMark, readerEpochsBeforeAggregate, readerId, registerReader, unregisterReader } from '../container/readers.js';
import type { ContainerStorage } from '../container/storage.js';
import { CacheAdmission } from '../container/cache-admission.js';
import { refreshingStore } from './readonly-store.js';
import { join } from 'node:path';

export type { RebuildStatus, ConnectOptions } from './backend.js';

/** Opens a connected pool (`Pool.connect`); installed by the network layer (src/net/connected.ts). */
export type PoolConnector = (options: ConnectOptions) => Promise<Pool>;
let connector: PoolConnector | undefined;

/**
 * Install the implementation of `Pool.connect`. The network layer calls this when it is loaded
 * (the package entry loads it), so the pool layer never imports the layer above it.
 */
export function installPoolConnector(c: PoolConnector): void { connector = c; }
const EMPTY_MOVES: ReadonlyMap<number, number> = new Map();
/** Default cap of each target's metadata file (it starts at one segment and grows). */
export const DEFAULT_SCM_CAP_BYTES = 1024 * 1024 * 1024;
/** Default cap of each target's data file (sparse: only written blocks take space). */
export const DEFAULT_DATA_CAP_BYTES = 64 * 1024 * 1024 * 1024;
/** Most containers one pool holds. */
export const MAX_CONTAINERS = 4096;
/** Longest container label. */
export const MAX_LABEL_LENGTH = 127;
/** Layouts cached per pool map version. */
export const LAYOUT_CACHE_SIZE = 16_384;
/** Bad shards remembered for repair before the oldest are dropped (they are found again by scrub). */
export const MAX_BAD_SHARDS = 10_000;
/** Longest a connected client waiting for rebuild goes without re-checking the leader's published status. */
const REBUILD_RECHECK_MS = 500;
/**
 * Durable pools: target stores a checkpoint flushes at once. Each flush is two syncs (data file,
 * pmem file) with everything written since the last checkpoint; all of a pool's at once filled
 * the thread pool and the io_uring workers, and the journals' group syncs, which every durable
 * commit waits for, queued behind them (2 groups in 98 ms at ~15 ms each, against a 2.7 ms p50
 * outside checkpoints). The checkpoint itself is not waited for by any commit.
 */
const CHECKPOINT_FLUSH_LANES = 2;
/** Attempts of a map change that races with changes by other clients (connected pools). */
const MAX_MAP_CAS_ATTEMPTS = 32;
/** Read-only opens: journal re-reads while the writer keeps aggregating past the reader's epoch (then it reads unprotected). */
const MAX_READ_VIEW_ATTEMPTS = 8;

/**
 * Latest time (milliseconds since 1970) a clock given as `now` may return: epochs are the
 * milliseconds above HLC_LOGICAL_BITS logical bits and must stay below 2^64 (one millisecond of
 * logical counter is kept free). About the year 4199.
 */
export const MAX_CLOCK_MS = Number((1n << (64n - HLC_LOGICAL_BITS)) - 2n);

/** Options of `Pool.create`. Sizes are per target; files are sparse. */
export interface PoolCreateOptions {
  nodes?: number;
  ranksPerNode?: number;
  targetsPerRank?: number;
  /** Size of each target's metadata (pmem-style) file. */
  scmBytes?: number;
  /** Size of each target's bulk data file. */
  dataBytes?: number;
}

/** Options of `Pool.open` (and of `Pool.create`). */
export interface PoolOpenOptions {
  /** Acknowledged writes also survive power loss (msync/fsync, group-committed). Default false. */
  durable?: boolean;
  /** Block I/O engine of the targets. Default 'auto' (io_uring when available). */
  io?: 'auto' | 'io_uring' | 'pread';
  /** Clock for epochs; inject for deterministic tests. */
  now?: () => number;
  /**
   * Memory the target stores may keep resident (their mapped metadata), split evenly among the
   * targets. Default 256 MiB per pool. Data pages beyond it stay in the page cache, not in RSS.
   */
  cacheBytes?: number;
  /**
   * Open without taking the pool's lock, while another process may hold it for writing: nothing
   * is written (targets are mapped read-only, no torn commit is repaired), every write is refused
   * with `READ_ONLY`, reads see every commit finished before the open, and newer ones after
   * `pool.refresh()`. Default false. (Embedded pools only.)
   */
  readOnly?: boolean;
  signal?: AbortSignal;
}

/** Options of `pool.createContainer`. */
export interface ContainerCreateOptions {
  /** Default object class (default `EC_2P1GX` when the pool has >= 3 ranks, else `S1`). */
  oclass?: string;
  /** Failed fault domains the container must survive (default 0). */
  redundancyFactor?: number;
  /** EC cell size in bytes (default 64 KiB). */
  cellSize?: number;
  /** Checksums (always computed; default true). */
  checksum?: boolean;
  /** Reed-Solomon matrix of EC objects, recorded with the container (default 'vandermonde'). */
  ecMatrix?: 'vandermonde' | 'cauchy';
  /**
   * EC parity rotation: `'per-dkey'` (the default for new containers) rotates the roles of a
   * group's shards with the dkey, so parity writes spread over every shard; `'none'` keeps parity
   * on the last p shards of each group (how containers created before rotation existed read).
   */
  parityRotation?: 'per-dkey' | 'none';
}

/** One target as `pool.query()` reports it. */
export interface TargetQuery {
  id: number; node: number; rank: number; state: string;
  /** Bytes allocated on disk by this target's stores. */
  spaceUsed: number;
  /** Configured capacity (scm + data) of this target. */
  spaceTotal: number;
}

/** What `pool.query()` returns. */
export interface PoolQuery {
  uuid: string;
  dir: string;
  mapVersion: number;
  targets: TargetQuery[];
  space: { used: number; total: number; free: number; scmBytes: number; dataBytes: number };
  containers: number;
  /** Shards found bad by reads, waiting for repair. */
  badShards: number;
  /** I/O engine in use by opened targets ('io_uring' or 'pread'), when known. */
  ioEngine?: string;
  /** Rebuild / rebalance state and progress. */
  rebuild: RebuildStatus;
}

/** Progress of a scrub, as 'scrub' events and `onProgress` report it. */
export interface ScrubProgress { objectsDone: number; objectsTotal: number }

/** The events a pool emits, with their arguments. */
export interface PoolEvents {
  /** Rebuild / rebalance state and progress changed. */
  rebuild: [status: RebuildStatus];
  /** A scrub checked one more object. */
  scrub: [progress: ScrubProgress];
  /** The pool map changed; its new version. */
  map: [version: number];
}

/**
 * Typed `on` / `once` / `off` for the pool's events (`pool.on('rebuild', (s) => s.objectsDone)`):
 * only the events of `PoolEvents`, with their argument types (an unknown event name or a listener
 * of the wrong type does not compile).
 */
export interface Pool {
  on<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this;
  once<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this;
  off<E extends keyof PoolEvents>(event: E, listener: (...args: PoolEvents[E]) => void): this;
  emit<E extends keyof PoolEvents>(event: E, ...args: PoolEvents[E]): boolean;
}

/**
 * A pool handle. `Pool.create(dir, ...)` makes a new pool; `Pool.open(dir)` opens one. Close it
 * with `close()` or let `await using` do it.
 */
export class Pool extends EventEmitter {
  private map_: PoolMap;
  /** The map the data is laid out by; differs from `map_` while a rebuild/rebalance is pending. */
  private stable: PoolMap;
  private placement: Placement;
  private targetPlacement: Placement;
  /** Targets whose content is rebuilt from scratch (reintegrated targets). */
  private resync = new Set<number>();
  /** Targets holding copies of shards a promoted move took off them, not reclaimed yet (`reclaim`). */
  private reclaimOwed: Set<number>;
  private layoutCache = new BigIdMap<ObjectLayout>();
  /** The layouts `placement` shares among objects (`Placement.sharedLayout`), by their id. */
  private sharedLayouts: ObjectLayout[] = [];
  /** Which missed layouts `layoutCache` takes (a stream of new objects: one in eight). */
  private readonly layoutAdmission = new CacheAdmission();
  private movedCache = new BigIdMap<ReadonlyMap<number, number>>();
  private migration: Promise<void> | null = null;
  private migrationAgain = false;
  private readonly persistLock = new KeyedMutex();
  private mapWaiters: Array<() => void> = [];
  /** Set when some object has no legal layout in the current map (not enough targets). */
  private blocked = false;
  private migrationAbort = new AbortController();
  private rebuildState: RebuildStatus = { state: 'idle', mapVersion: 0, objectsDone: 0, objectsTotal: 0, bytes: 0, lost: [] };
  /** Bytes per second the migrations this process runs may move (`setRebuildBudget`). */
  private readonly rebuildBudget = new RebuildBudget();
  private codecs = new Map<string, Codec>();
  private stores = new Map<string, Promise<ShardStore>>();
  /** Bumped whenever a store leaves `stores` (containers drop the stores they resolved before). */
  private storesVersion = 0;
  private containers = new Map<string, Container>();
  private opening = new Map<string, Promise<Container>>();
  private badShards: BadShard[] = [];
  /** Read-only opens: the storage of every container read, by uuid (their epochs are registered as `readerId`). */
  private readonly readViews = new Map<string, ContainerStorage>();
  private readonly readerId = readerId();
  /** Read-only opens: target re-reads in progress (stale views, see readonly-store.ts). */
  private readonly rereading = new Map<number, Promise<void>>();
  private closed_ = false;
  private readonly runtime: ContainerRuntime;
  /** Redo journals: the checkpoint running, and the one queued behind it (`checkpoint`). */
  private checkpointRunning: Promise<void> | undefined;
  private checkpointNext: Promise<void> | undefined;

  private constructor(private readonly backend: PoolBackend, maps: PoolMaps, private readonly opts: PoolOpenOptions) {
    super();
    this.map_ = maps.map;
    this.stable = maps.stable;
    this.resync = new Set(maps.resync);
    this.reclaimOwed = new Set(maps.reclaim ?? []);
    this.placement = createPlacement(layoutView(this.stable), { algo: 'jump-map' });
    this.targetPlacement = createPlacement(this.map_, { algo: 'jump-map' });
    const self = this;
    const runtime: Omit<ContainerRuntime, 'closed'> = {
      now: opts.now ? checkedClock(opts.now) : Date.now,
      durable: opts.durable ?? false,
      readOnly: opts.readOnly === true,
      map: () => self.map_,
      objectLayout: (oid) => self.objectLayout(oid),
      moved: (oid) => self.moved(oid),
      available: (t) => self.available(t),
      writable: (t) => self.writable(t),
      codec: (k, p, m) => self.codec(k, p, m),
      store: (t, c) => self.store(t, c),
      storesVersion: () => self.storesVersion,
      storeExists: (t, c) => self.backend.storeExists(t, c),
      reportBadShard: (b) => { self.badShards.push(b); if (self.badShards.length > MAX_BAD_SHARDS) self.badShards.shift(); },
      containerClosed: (c) => { for (const [k, v] of self.containers) if (v === c) self.containers.delete(k); },
      ...(backend.clockSlot !== undefined ? { clockSlot: backend.clockSlot, refreshMap: () => self.reloadMaps() } : {}),
      ...(backend.followCommits ? { followCommits: (c: string, f: bigint, s?: AbortSignal) => backend.followCommits!(c, f, s) } : {}),
      ...(backend.snapshotEpoch ? { snapshotEpoch: (c: string, e: bigint) => backend.snapshotEpoch!(c, e) } : {}),
      ...(backend.lockDkey ? { lockDkey: (c: string, k: string, ts: number[]) => backend.lockDkey!(c, k, ts, (t) => self.available(t)) } : {}),
      ...(backend instanceof LocalBackend && opts.readOnly !== true
        ? { readerEpochs: (c: string, upTo: bigint) => readerEpochsBeforeAggregate(join(backend.location, 'containers', c), upTo) } : {}),
      ...(backend instanceof LocalBackend && backend.redo ? { syncStores: (ts?: readonly number[]) => backend.flushTargets(ts) } : {}),
      // (every writable embedded pool's journals are checkpointed: a redo journal's after its stores' flush)
      ...(backend instanceof LocalBackend && opts.readOnly !== true ? { checkpoint: () => self.checkpoint() } : {}),
    };
    // `closed` is added after the literal: V8 makes an object literal that has an accessor a
    // dictionary-mode object, and every `rt.x` of a put then cost a generic property lookup
    Object.defineProperty(runtime, 'closed', { get: () => self.closed_, enumerable: true });
    this.runtime = runtime as ContainerRuntime;
    backend.onMaps?.((m) => this.adoptMaps(m));
  }

  /**
   * Checkpointed journals (writable embedded pools): each open container names the epoch its
   * commits are applied up to, every target store of a durable pool is flushed once, and each
   * container's journal then drops the records at or below its epoch. One checkpoint runs at a
   * time; calls made while one runs share the next.
   */
  private checkpoint(): Promise<void> {
    const again = (): Promise<void> => { this.checkpointNext = undefined; return this.checkpoint(); };
    if (this.checkpointRunning) return (this.checkpointNext ??= this.checkpointRunning.then(again, again));
    const run = (async () => {
      const backend = this.backend;
      if (!(backend instanceof LocalBackend) || this.closed_) return;
      const marks = [...this.containers.values()].map((c) => containerPort(c).redoMark()).filter((m) => m !== undefined);
      await backend.flushTargets(undefined, CHECKPOINT_FLUSH_LANES);
      // again: the stores' sync marks naming the first flush reach the medium (`TargetStore.flush`)
      await backend.flushTargets(undefined, CHECKPOINT_FLUSH_LANES);
      for (const drop of marks) await drop();
    })().finally(() => { this.checkpointRunning = undefined; });
    this.checkpointRunning = run;
    return run;
  }

  /** Directory of an embedded pool; `etcd-url#pool` of a connected one. */
  get dir(): string { return this.backend.location; }

  /** @internal open a pool over a backend (used by `open` and `connect`). */
  static async fromBackend(backend: PoolBackend, options: PoolOpenOptions): Promise<Pool> {
    const pool = new Pool(backend, await backend.loadMaps(), options);
    // Target stores open in constant time: open every one now, so the first I/O pays nothing.
    // (A read-only open opens them after reading a container's journal: see openContainer.)
    if (!options.readOnly) await backend.openTargets?.(pool.map_.targets.map((t) => t.id).filter((id) => pool.runtime.writable(id) || pool.runtime.available(id)));
    // A rebuild or rebalance that was running when the process stopped resumes in the background,
    // as does a reclaim a promotion left owed.
    if ((pool.pending() || pool.reclaimOwed.size > 0) && backend.runsMigrations) pool.startMigration();
    return pool;
  }

  /** Create a pool in `dir` (which must not hold a pool already). */
  static async create(dir: string, options: PoolCreateOptions & PoolOpenOptions = {}): Promise<Pool> {
    poolDirArg(dir);
    options = createOptionsArg<PoolCreateOptions & PoolOpenOptions>(options);
    await initXxhash();
    throwIfAborted(options.signal);
    const { nodes = 1, ranksPerNode = 2, targetsPerRank = 4, scmBytes = DEFAULT_SCM_CAP_BYTES, dataBytes = DEFAULT_DATA_CAP_BYTES, ...openOptions } = options;
    // A failure removes everything created so far: no half-made pool is left behind.
    // (the open gets the open options only: it refuses the shape's names as unknown options)
    return createPoolDir(dir, async () => {
      await LocalBackend.create(dir, { nodes, ranksPerNode, targetsPerRank, scmBytes, dataBytes });
      return Pool.open(dir, openOptions);
    });
  }

  /** Open the pool in `dir`. Only one process may have a pool open (`POOL_BUSY` otherwise). */
  static async open(dir: string, options: PoolOpenOptions = {}): Promise<Pool> {
    poolDirArg(dir);
    options = openOptionsArg<PoolOpenOptions>(options);
    await initXxhash();
    throwIfAborted(options.signal);
    const backend = await LocalBackend.open(dir, { readOnly: options.readOnly === true, durable: options.durable ?? false, io: options.io ?? 'auto', cacheBytes: options.cacheBytes })
      .catch((err: unknown) => { throw poolFsError(err, dir, 'cannot open the pool in'); });
    try {
      return await Pool.fromBackend(backend, options);
    } catch (err) {
      await backend.close();
      throw poolFsError(err, dir, 'cannot open the pool in');
    }
  }

  /**
   * Connect to a pool served by `cairn engine` processes: the pool map and metadata come from
   * etcd, data goes straight to the engines. The same Pool/Container/Object API as embedded pools.
   */
  static async connect(options: ConnectOptions): Promise<Pool> {
    if (typeof options !== 'object' || options === null) throw badArg('Pool.connect needs { etcd, pool }');
    // (a misspelt `{ secert }` or `{ timeoutMS }` is refused, not ignored and its default used)
    knownOptionsArg(options, CONNECT_OPTIONS, 'connect options');
    if (!connector) throw new CairnError('UNSUPPORTED', 'connected pools need the network layer: import Pool from the package entry (cairn), which loads it');
    return connector(options);
  }

  /** The current pool map (read-only view; change it with exclude/reintegrate/...). */
  get map(): PoolMap { return this.map_; }

  /** Targets, their states and space. */
  query(): PoolQuery {
    this.checkOpen();
    const meta = this.backend.meta;
    const perTarget = meta.scmBytes + meta.dataBytes;
    const targets = this.map_.targets.map((t) => ({
      id: t.id, node: t.node, rank: t.rank, state: t.state,
      spaceUsed: this.backend.spaceUsed(t.id),
      spaceTotal: perTarget,
    }));
    const used = targets.reduce((n, t) => n + t.spaceUsed, 0);
    const total = perTarget * targets.length;
    return {
      uuid: meta.uuid, dir: this.dir, mapVersion: this.map_.version, targets,
      space: { used, total, free: Math.max(0, total - used), scmBytes: meta.scmBytes, dataBytes: meta.dataBytes },
      containers: meta.containers.length, badShards: this.badShards.length, rebuild: this.rebuildStatus(),
      ...(this.ioEngine ? { ioEngine: this.ioEngine } : {}),
    };
  }

  // ------------------------------------------------------------------ containers

  /** Create a container labelled `label` and return its open handle. */
  async createContainer(label: string, opts: ContainerCreateOptions = {}): Promise<Container> {
    this.checkOpen();
    this.checkWritable();
    checkLabel(label);
    opts = containerOptionsArg<ContainerCreateOptions>(opts);
    // One creation per label at a time, so two concurrent calls cannot both pass the EXISTS check.
    return this.persistLock.withLocks([`container/${label}`], () => this.createContainerLocked(label, opts))
      .catch((err: unknown) => { throw this.fileError(err, `cannot create container ${label} in pool`); });
  }

  /** `err` as a CairnError: a system error on the pool's own files (a damaged or full pool directory) gets a registry code. */
  private fileError(err: unknown, what: string): CairnError {
    return poolFsError(err, this.dir, what, POOL_FILE_ERRNO_CODES);
  }

  private async createContainerLocked(label: string, opts: ContainerCreateOptions): Promise<Container> {
    if (this.backend.meta.containers.some((c) => c.label === label)) throw new ObjectError('EXISTS', `container ${label} already exists`, { label });
    if (this.backend.meta.containers.length >= MAX_CONTAINERS) throw badArg(`a pool holds at most ${MAX_CONTAINERS} containers`);
    const props: ContainerProps = {
      oclass: opts.oclass ?? (this.map_.rankCount >= 3 ? 'EC_2P1GX' : 'S1'),
      redundancyFactor: opts.redundancyFactor ?? 0,
      cellSize: opts.cellSize ?? DEFAULT_CELL_SIZE,
      checksum: opts.checksum ?? true,
      ecMatrix: opts.ecMatrix ?? 'vandermonde',
      ...((opts.parityRotation ?? 'per-dkey') === 'per-dkey' ? { parityRotation: 'per-dkey' as const } : {}),
    };
    if (opts.parityRotation !== undefined && opts.parityRotation !== 'per-dkey' && opts.parityRotation !== 'none') throw badArg(`parityRotation must be 'per-dkey' or 'none', got ${JSON.stringify(opts.parityRotation)}`);
    if (props.ecMatrix !== 'vandermonde' && props.ecMatrix !== 'cauchy') throw badArg(`ecMatrix must be 'vandermonde' or 'cauchy', got ${JSON.stringify(props.ecMatrix)}`);
    if (!Number.isInteger(props.redundancyFactor) || props.redundancyFactor < 0 || props.redundancyFactor > MAX_REDUNDANCY_FACTOR) throw badArg(`redundancyFactor must be an integer in 0..${MAX_REDUNDANCY_FACTOR}`);
    if (!Number.isInteger(props.cellSize) || props.cellSize < 512 || props.cellSize > 16 * 1024 * 1024) throw badArg('cellSize must be an integer in 512..16 MiB');
    // Validate the class (throws UNKNOWN_OBJECT_CLASS / RF_VIOLATION) before anything is written.
    const cls = toObjectClass(props.oclass);
    checkRedundancy(cls, props.redundancyFactor);
    if (cls.groupSize > this.map_.rankCount && cls.groupSize > this.map_.targets.length) {
      throw badArg(`object class ${cls.name} needs ${cls.groupSize} targets, the pool has ${this.map_.targets.length}`);
    }
    props.oclass = cls.name;
    // GX objects named by string take their group count from this, for the container's life.
    props.gxTargets = this.map_.targets.length;
    const meta: ContainerMeta = { uuid: randomUUID(), label, props, snapshots: [], createdAt: new Date().toISOString() };
    try {
      await this.backend.addContainer(meta);
      return await this.openContainer(label);
    } catch (err) {
      // Nothing half-created stays behind: a container that cannot be opened is removed again.
      await this.containers.get(meta.uuid)?.close().catch(swallow('pool.close-container-that-failed-to-create'));
      await this.backend.removeContainer(label, meta.uuid).catch(swallow('pool.remove-container-that-failed-to-create'));
      throw err;
    }
  }

  /** Open the container labelled `label` (the same handle while it stays open). */
  async openContainer(label: string): Promise<Container> {
    this.checkOpen();
    labelArg(label);
    const entry = this.backend.meta.containers.find((c) => c.label === label);
    if (!entry) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    const open = this.containers.get(entry.uuid);
    if (open) return open;
    let opening = this.opening.get(entry.uuid);
    if (!opening) {
      opening = (async () => {
        try {
          return await this.loadContainer(entry.uuid, label);
        } catch (err) {
          throw this.fileError(err, `cannot open container ${label} in pool`);
        }
      })();
      this.opening.set(entry.uuid, opening);
      // Forget the attempt when it settles; a failure reaches every caller through `opening`.
      const forget = () => { this.opening.delete(entry.uuid); };
      opening.then(forget, forget);
    }
    return opening;
  }

  /** Open the container `uuid` (labelled `label`) and keep its handle. */
  private async loadContainer(uuid: string, label: string): Promise<Container> {
    const meta = await this.backend.containerMeta(uuid, label);
    const storage = await this.backend.containerStorage(meta);
    if (this.opts.readOnly) {
      await this.holdReadView(uuid, storage, async () => { await storage.refresh?.(); });
      // The journal was read first, so the targets re-read now hold every commit it names.
      await this.refreshTargets();
    }
    const c = await Container.load(this.runtime, meta, storage);
    this.containers.set(uuid, c);
    return c;
  }

  /** Labels and properties of every container. */
  async listContainers(): Promise<Array<{ label: string; uuid: string; props: ContainerProps }>> {
    this.checkOpen();
    const out = [];
    for (const c of [...this.backend.meta.containers]) {
      const meta = await this.backend.containerMeta(c.uuid, c.label).catch((err: unknown) => { throw this.fileError(err, `cannot read container ${c.label} in pool`); });
      out.push({ label: c.label, uuid: c.uuid, props: meta.props });
    }
    return out;
  }

  /** Destroy a container and all of its data. */
  async destroyContainer(label: string): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    labelArg(label);
    const entry = this.backend.meta.containers.find((c) => c.label === label);
    if (!entry) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    const { uuid } = entry;
    await this.containers.get(uuid)?.close();
    await this.backend.removeContainer(label, uuid);
    for (const t of this.map_.targets) {
      const key = `${t.id}/${uuid}`;
      const s = this.stores.get(key);
      if (s) { this.stores.delete(key); this.storesVersion++; await closeStore(s, 'pool.close-store-of-destroyed-container'); }
      // A target out of service is wiped on reintegration.
      await this.backend.removeStore(t.id, uuid).catch(swallow('pool.remove-store-target-out-of-service'));
    }
  }

  // ------------------------------------------------------------------ pool map changes

  /**
   * Mark a target DOWN: I/O continues degraded at once (reads rebuild its shards from redundancy),
   * and a background rebuild reconstructs every shard it held onto the new layout, then marks it
   * DOWNOUT. `waitForRebuild()` resolves when that is done. Several targets (a rank, a node) can
   * be excluded in one change.
   */
  async exclude(targetId: number | number[]): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    const ids = targetIdsArg(targetId);
    await this.changeMap((m) => {
      // Validate all before changing anything, so a bad id leaves the map as it was.
      const trial = m.clone();
      for (const id of ids) trial.exclude(id);
      for (const id of ids) m.exclude(id);
    });
    for (const id of ids) await this.closeStoresOf(id);
  }

  /**
   * Bring a DOWN or DOWNOUT target back: its stale content is dropped and every shard that belongs
   * on it is rebuilt there in the background; reads keep using the other shards until then.
   */
  async reintegrate(targetId: number): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    targetIdArg(targetId);
    this.map_.clone().reintegrate(targetId); // validate the transition first
    // Drop the stale content while the target is still out of service (nothing writes to it),
    // then bring it in: from then on concurrent writes land on the fresh, empty store.
    await this.closeStoresOf(targetId);
    await this.backend.wipeTarget(targetId);
    await this.changeMap((m, resync) => { m.reintegrate(targetId); resync.add(targetId); });
  }

  /** Move every shard off a target (it stays readable meanwhile), then mark it DOWNOUT. */
  async drain(targetId: number): Promise<void> {
    this.checkOpen();
    this.checkWritable();
    targetIdArg(targetId);
    await this.changeMap((m) => { m.drain(targetId); });
  }

  /** Add `nodes` nodes of the pool's shape; shards whose placement changes move onto them in the background. */
  async extend(opts: { nodes: number; ranksPerNode?: number; targetsPerRank?: number }): Promise<number[]> {
    this.checkOpen();
    this.checkWritable();
    opts = extendArg(opts);
    const shape = this.map_.targets.filter((t) => t.node === 0);
    const ranks = new Set(shape.map((t) => t.rank)).size;
    const ext = { nodes: opts.nodes, ranksPerNode: opts.ranksPerNode ?? ranks, targetsPerRank: opts.targetsPerRank ?? Math.max(1, shape.length / ranks) };
    // Create the new targets' directories before any write can be routed to them.
    await this.backend.prepareTargets(this.map_.clone().extend(ext));
    return this.changeMap((m) => m.extend(ext));
  }

  /**
   * Apply `fn` to the current map (and the set of targets being refilled), switch layouts at once,
   * persist, and start the migration. Connected pools apply it to the newest map in etcd and
   * retry when another client changed the map first.
   */
  private async changeMap<T>(fn: (m: PoolMap, resync: Set<number>) => T): Promise<T> {
    for (let attempt = 0; attempt < MAX_MAP_CAS_ATTEMPTS; attempt++) {
      const result = await this.persistLock.withLocks(['map'], async () => {
        const m = this.map_.clone();
        const resync = new Set(this.resync);
        const expect = this.map_.version;
        const r = fn(m, resync);
        if (!(await this.backend.saveMaps({ map: m, stable: this.stable, resync: [...resync], reclaim: [...this.reclaimOwed] }, expect, false))) return { ok: false as const };
        this.map_ = m;
        this.resync = resync;
        this.refreshPlacement();
        this.notifyMaps();
        return { ok: true as const, r };
      });
      if (result.ok) {
        if (this.pending() && this.backend.runsMigrations) this.startMigration();
        return result.r;
      }
      await this.reloadMaps();
    }
    throw new ObjectError('POOL_BUSY', 'the pool map kept changing under this update; retry it');
  }

  /** Load the newest maps from the backend (an engine said ours is stale). */
  private async reloadMaps(): Promise<void> { this.adoptMaps(await this.backend.loadMaps()); }

  /** Adopt maps changed by another client (connected pools). */
  private adoptMaps(m: PoolMaps): void {
    if (this.closed_) return;
    if (m.map.version < this.map_.version || (m.map.version === this.map_.version && m.stable.version === this.stable.version && m.resync.length === this.resync.size)) return;
    const excluded = this.map_.targets.filter((t) => m.map.stateList[t.id] === 'DOWN' && t.state !== 'DOWN').map((t) => t.id);
    this.map_ = m.map;
    this.stable = m.stable;
    this.resync = new Set(m.resync);
    this.refreshPlacement();
    this.notifyMaps();
    for (const id of excluded) void this.closeStoresOf(id);
    if (this.pending() && this.backend.runsMigrations) this.startMigration();
  }

  private notifyMaps(): void {
    const w = this.mapWaiters;
    this.mapWaiters = [];
    for (const f of w) f();
    this.emit('map', this.map_.version);
  }

  /** Resolves when no rebuild or rebalance is pending (rejects if the last one failed). */
  async waitForRebuild(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    opts = signalOptions(opts, 'waitForRebuild options');
    this.checkWritable(); // a reader runs no rebuild: refresh() shows the writer's progress
    if (!this.backend.runsMigrations) {
      // Connected clients: the engines' leader migrates; wait until it published the new stable map.
      while (this.pending() && !this.closed_) {
        throwIfAborted(opts.signal);
        const st = this.backend.remoteRebuild?.();
        if (st?.state === 'failed' && st.mapVersion === this.map_.version) break;
        // Woken by a map change; re-checks the leader's published status at least every
        // REBUILD_RECHECK_MS (its failure arrives without a map change).
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            opts.signal?.removeEventListener('abort', done);
            const i = this.mapWaiters.indexOf(done);
            if (i >= 0) this.mapWaiters.splice(i, 1);
            resolve();
          };
          const t = setTimeout(done, REBUILD_RECHECK_MS);
          this.mapWaiters.push(done);
          opts.signal?.addEventListener('abort', done, { once: true });
        });
      }
    }
    while (this.migration) {
      throwIfAborted(opts.signal);
      await this.migration;
    }
    // closed while waiting: the rebuild stopped unfinished (it resumes at the next open), never "done"
    if (this.closed_ && this.pending()) throw new ObjectError('POOL_CLOSED', 'pool was closed before its rebuild finished; it resumes when the pool is opened again');
    const st = this.rebuildStatus();
    if (st.state === 'failed') throw new ObjectError('DATA_LOST', `rebuild failed: ${st.error}`, { error: st.error });
  }

  /**
   * Limit the I/O of rebuild and rebalance (bytes read plus bytes written per second, shared by
   * every migration step), so client I/O keeps its share of the devices while a rebuild runs;
   * `{ bytesPerSecond: 0 }` or `{}` lifts the limit (the default). Takes effect at once, also for
   * a migration already running. Connected pools: it limits the migrations this process runs
   * (the engines' leader runs them).
   */
  setRebuildBudget(opts: RebuildBudgetOptions): void {
    this.checkOpen();
    this.rebuildBudget.set(opts);
  }

  /** State and progress of rebuild / rebalance. */
  rebuildStatus(): RebuildStatus {
    const remote = this.backend.runsMigrations ? undefined : this.backend.remoteRebuild?.();
    const st = remote ?? this.rebuildState;
    if (!this.backend.runsMigrations && !remote) return { ...st, state: this.pending() ? 'running' : 'idle', mapVersion: this.map_.version, lost: [] };
    return { ...st, lost: [...st.lost] };
  }

  private setRebuild(st: RebuildStatus): void {
    this.rebuildState = st;
    this.backend.publishRebuild?.(this.rebuildStatus());
    this.emit('rebuild', this.rebuildStatus());
  }

  private pending(): boolean { return this.map_.version !== this.stable.version || this.resync.size > 0; }

  private async closeStoresOf(targetId: number): Promise<void> {
    for (const [k, p] of [...this.stores.entries()]) {
      if (!k.startsWith(`${targetId}/`)) continue;
      this.stores.delete(k);
      this.storesVersion++;
      await closeStore(p, 'pool.close-store-of-excluded-target');
    }
    // out of service: its memtables stay in its log (its content is rebuilt elsewhere, or wiped)
    await this.backend.closeTarget?.(targetId, { flush: false });
  }

  /**
   * Called right after every map mutation, before any await: layouts switch to the new map at
   * once, so no reader, writer or migration ever combines the new map with an old layout.
   */
  private refreshPlacement(): void {
    this.placement = createPlacement(layoutView(this.stable), { algo: 'jump-map' });
    this.targetPlacement = createPlacement(this.map_, { algo: 'jump-map' });
    this.layoutCache.clear();
    this.sharedLayouts = [];
    this.movedCache.clear();
    this.blocked = false;
  }

  /**
   * Run (or re-run, after another map change) the migration in the background; with nothing to
   * move, the reclaim an earlier promotion left owed.
   */
  private startMigration(): void {
    if (this.migration) { this.migrationAgain = true; return; }
    this.migration = (async () => {
      try {
        do {
          this.migrationAgain = false;
          if (this.pending()) await this.migrateOnce();
          else if (this.reclaimOwed.size > 0) await this.reclaim(await this.openAllContainers());
        } while (this.migrationAgain && !this.closed_);
      } catch (err) {
        if (!this.closed_) this.setRebuild({ ...this.rebuildState, state: 'failed', error: (err as Error).message });
      } finally {
        this.migration = null;
      }
    })();
  }

  private async migrateOnce(): Promise<void> {
    // The version of the layout this pass migrates to (refreshPlacement keeps them in step).
    const version = this.targetPlacement.poolMap.version;
    const started = performance.now();
    const st: RebuildStatus = { state: 'running', mapVersion: version, objectsDone: 0, objectsTotal: 0, bytes: 0, lost: [] };
    this.rebuildState = st;
    // Connected pools: every engine refuses writes planned with an older map from here on.
    await this.backend.beforeMigration?.(version);
    const handles = await this.openAllContainers();
    st.objectsTotal = 0;
    // One listing per container serves the count and the migration (ids kept up to
    // MIGRATE_LISTED_OBJECTS_MAX in all), and feeds the migration as it goes (ObjectFeed): objects
    // move while the rest are listed. Progress events start once the total is known.
    const signal = this.migrationAbort.signal;
    const feeds = new Map<Container, ObjectFeed>();
    for (const c of handles) feeds.set(c, new ObjectFeed(() => c.listObjects({ signal })));
    let counted = false;
    const listing = (async () => {
      let keep = MIGRATE_LISTED_OBJECTS_MAX;
      for (const c of handles) {
        const l = await listMigrationObjects(c, { signal, maxIds: keep, feed: feeds.get(c)! });
        keep -= l.fed ?? 0;
        st.objectsTotal += l.count;
      }
      counted = true;
      this.setRebuild(st);
    })();
    // (a failed listing fails every feed not ended yet: their migrations rethrow it)
    listing.catch((err: unknown) => { for (const f of feeds.values()) f.fail(err); });
    const sources = new Set<number>(), destinations = new Set<number>(), vacated = new Set<number>();
    const lostBy = new Map<Container, bigint[]>();
    try {
      for (const c of handles) {
        if (this.closed_) return;
        await migrateContainer(c, {
          signal,
          sources, destinations, vacated, budget: this.rebuildBudget, objects: feeds.get(c),
          onObject: (bytes, lost) => {
            st.objectsDone++;
            st.bytes += bytes;
            if (lost) { st.lost.push(lost); lostBy.set(c, [...(lostBy.get(c) ?? []), BigInt('0x' + lost)]); }
            const secs = (performance.now() - started) / 1000;
            st.etaSeconds = st.objectsDone ? (secs / st.objectsDone) * (st.objectsTotal - st.objectsDone) : undefined;
            st.sources = sources.size;
            st.destinations = destinations.size;
            if (counted) this.setRebuild(st);
          },
        });
      }
      await listing;
    } finally {
      for (const f of feeds.values()) f.end();
      await listing.catch(() => undefined);
    }
    if (this.closed_ || this.map_.version !== version || this.targetPlacement.poolMap.version !== version) { this.migrationAgain = true; return; }
    if (this.blocked) {
      // Some objects cannot move (too few targets): keep serving them degraded from their current
      // layout; the pool finishes the move when targets are reintegrated or added.
      this.setRebuild({ ...st, state: 'blocked', error: 'not enough in-service targets to restore redundancy for every object' });
      return;
    }
    // Objects that could not be rebuilt keep failing with DATA_LOST (never read as empty) until
    // they are punched; record that before their layout moves to empty spares.
    for (const [c, oids] of lostBy) await containerPort(c).markLost(oids);
    if (!(await this.promoteMap(version, vacated))) {
      // Another client changed the map meanwhile: migrate again to the newest one.
      await this.reloadMaps().catch(swallow('pool.reload-maps-after-lost-promotion')); // the migration runs again either way
      this.migrationAgain = true;
      return;
    }
    this.setRebuild({ ...st, state: 'idle', mapVersion: this.map_.version, etaSeconds: 0 });
    await this.reclaim(handles);
  }

  /** Every container of the pool, opened, with the object ids other clients recorded. */
  private async openAllContainers(): Promise<Container[]> {
    const handles: Container[] = [];
    for (const { label } of [...this.backend.meta.containers]) {
      const c = await this.openContainer(label);
      await containerPort(c).refreshObjects();
      handles.push(c);
    }
    return handles;
  }

  /**
   * After a promotion: punch the copies the moves left on the targets owed a reclaim that are in
   * service (reclaim.ts), so their aggregation frees the space, then record them done (a pool
   * reopened before that reclaims again: it is idempotent). Never fails the rebuild: a reclaim
   * cut short (close, a failing target) leaves space, never wrong data.
   */
  private async reclaim(handles: Container[]): Promise<void> {
    if (this.reclaimOwed.size === 0 || !reclaimOn()) return;
    // (a target owed one that left service holds nothing to reclaim: a reintegration wipes it first)
    const targets = [...this.reclaimOwed].filter((t) => this.map_.targets[t]?.state === 'UPIN');
    const signal = this.migrationAbort.signal;
    const failed = new Set<number>();
    try {
      for (const c of handles) {
        if (this.closed_) return;
        for (const t of (await reclaimContainer(c, targets, { signal })).failed) failed.add(t);
      }
    } catch (err) {
      if (this.closed_ || signal.aborted) return;
      swallowed('pool.reclaim-failed', err);
      return;
    }
    // what is left owed: the targets that failed it
    await this.persistLock.withLocks(['map'], async () => {
      const owed = failed;
      if (owed.size === this.reclaimOwed.size || this.closed_) return;
      // (only embedded pools keep it: a connected pool's leader reclaims what its own promotions owe)
      if (this.backend instanceof LocalBackend && !(await this.backend.saveMaps({ map: this.map_, stable: this.stable, resync: [...this.resync], reclaim: [...owed] }, this.map_.version, false))) return;
      this.reclaimOwed = owed;
    });
  }

  /**
   * Everything moved to the map of `version`: it becomes the layout of record (DOWN/DRAIN targets
   * DOWNOUT, NEW/UP targets UPIN). False when the map changed meanwhile (another client).
   */
  private async promoteMap(version: number, vacated: ReadonlySet<number> = new Set()): Promise<boolean> {
    return this.persistLock.withLocks(['map'], async () => {
      if (this.map_.version !== version) return false;
      const m = this.map_.clone();
      for (const t of m.targets) {
        if (t.state === 'DOWN' || t.state === 'DRAIN') m.markDownOut(t.id);
        else if (t.state === 'NEW' || t.state === 'UP') m.markUpIn(t.id);
      }
      // targets the moves left copies on and that stay in service: owed a reclaim (with those owed before)
      const owed = new Set([...this.reclaimOwed, ...vacated].filter((t) => m.targets[t]?.state === 'UPIN'));
      const maps = { map: m, stable: m.clone(), resync: [], reclaim: [...owed] };
      // stores that defer their syncs: what the migration wrote is durable before the map names it
      if (this.backend instanceof LocalBackend) await this.backend.flushTargets();
      if (!(await this.backend.saveMaps(maps, version, true))) return false;
      this.map_ = maps.map;
      this.stable = maps.stable;
      this.resync.clear();
      this.reclaimOwed = owed;
      this.refreshPlacement();
      this.notifyMaps();
      assert(this.map_.version === this.stable.version && !this.pending(), 'a promoted map is the layout of record, nothing pending', { version: this.map_.version });
      return true;
    });
  }

  /**
   * Verify the checksum of every shard of every object (at each snapshot and the current epoch)
   * and repair bad shards from redundancy. Emits 'scrub' progress events `{ objectsDone, objectsTotal }`.
   */
  async scrub(opts: { signal?: AbortSignal; onProgress?: (p: ScrubProgress) => void } = {}): Promise<PoolScrubReport> {
    this.checkOpen();
    this.checkWritable();
    opts = scrubOptionsArg<typeof opts>(opts);
    const report: PoolScrubReport = { containers: 0, objects: 0, shardsChecked: 0, bytesChecked: 0, blocksChecked: 0, targetsRebuilt: [], bad: [], repaired: 0, unrepairable: 0 };
    // 1. every target's own metadata
    const damaged = new Map<number, DamagedRanges>();
    const whole: Array<{ t: number; why: string }> = [];
    if (this.backend.scrubTarget) {
      for (const t of this.map_.targets) {
        if (!this.runtime.available(t.id)) continue;
        throwIfAborted(opts.signal);
        const r = await this.backend.scrubTarget(t.id, opts.signal);
        report.blocksChecked += r.blocks;
        if (r.whole) whole.push({ t: t.id, why: r.whole });
        else if (r.damaged.ranges.length) damaged.set(t.id, r.damaged);
      }
    }
    // A target damaged as a whole is rebuilt from the others: out of service, then back in, empty.
    for (const { t, why } of whole) {
      await this.exclude(t);
      await this.reintegrate(t);
      await this.waitForRebuild({ signal: opts.signal });
      report.targetsRebuilt.push(t);
      report.bad.push({ container: '*', oid: '*', shard: -1, target: t, code: 'CORRUPTED', message: why, repaired: true });
      report.repaired++;
    }
    // 2. every shard of every object
    const handles: Container[] = [];
    handles.push(...await openContainers(this.backend.meta.containers.map((c) => c.label), (l) => this.openContainer(l), report));
    let total = 0;
    for (const c of handles) total += await c.countObjects({ signal: opts.signal });
    let done = 0;
    const toRepair: ShardToRepair[] = [];
    for (const c of handles) {
      const known = new Map<bigint, Set<number>>();
      for (const b of this.badShards) if (b.container === c.uuid) known.set(b.oid, (known.get(b.oid) ?? new Set()).add(b.shard));
      await findBadShards(c, report, toRepair, {
        signal: opts.signal, known, damaged,
        onObject: () => { done++; const p = { objectsDone: done, objectsTotal: total }; opts.onProgress?.(p); this.emit('scrub', p); },
      });
    }
    // 3. repair from redundancy, 4. drop damaged blocks, then read the repairs back
    const rebuilt = await repairShards(toRepair, opts.signal);
    // (only on targets whose every bad shard was rebuilt: dropping a block that still holds the only
    // trace of an unrepairable shard's damage would make that shard read as empty)
    for (const t of damaged.keys()) if (toRepair.every((r) => r.target !== t || rebuilt.has(r))) await this.backend.healTarget?.(t);
    await confirmRepairs(toRepair, rebuilt, report);
    const seen = new Set(handles.map((c) => c.uuid));
    this.badShards = this.badShards.filter((b) => !seen.has(b.container));
    return report;
  }

  /** Shards found bad by reads since open (oldest first), for repair. */
  get pendingRepairs(): readonly BadShard[] { return this.badShards; }

  // ------------------------------------------------------------------ runtime

  private layout(oid: bigint): number[][] { return this.objectLayout(oid).groups; }

  /**
   * The layout of record of `oid` with its class. Objects of a few shards share it with every
   * object of the same class and targets: the placement engine answers one value per distinct
   * layout (`sharedLayout`: one wasm call, no allocation), and the pool keeps one `ObjectLayout`
   * per such value. Others are cached per object (one Map lookup per I/O; a miss is one
   * placement call, whose groups are fresh arrays, kept as they are; while lookups mostly miss,
   * a stream of new objects, one miss in eight is kept: `CacheAdmission`). Cleared with the map.
   */
  private objectLayout(oid: bigint): ObjectLayout {
    const s = this.placement.sharedLayout(oid);
    if (s !== undefined) return this.sharedLayouts[s.id] ?? this.shareLayout(s);
    const mixed = mixBigId(oid); // (once for the lookup and the insert of a new object's layout)
    let l = this.layoutCache.getMixed(mixed);
    if (l !== undefined) this.layoutAdmission.hit();
    else {
      const p = this.placement.layout(oid);
      const groups = p.groups as number[][], cls = p.oclass;
      if (!layoutIsSane(groups, cls.groupSize, this.map_.targets.length)) assert(false, 'a layout names targets of the map, in groups of the class\'s group size', { oid: oid.toString(16), groupSize: cls.groupSize, sizes: groups.map((g) => g.length) });
      l = { groups, red: cls, cls, oid };
      // cleared when full: evicting the oldest entry one by one walks the Map's deleted slots (~25 µs per insert)
      if (this.layoutAdmission.admitMiss()) {
        if (this.layoutCache.size >= LAYOUT_CACHE_SIZE) this.layoutCache.clear();
        this.layoutCache.setMixed(mixed, l);
      }
    }
    return l;
  }

  /** The pool's `ObjectLayout` of a shared layout, made once (its frozen groups are never written to). */
  private shareLayout(s: SharedLayout): ObjectLayout {
    const groups = s.groups as number[][], cls = s.oclass;
    if (!layoutIsSane(groups, cls.groupSize, this.map_.targets.length)) assert(false, 'a layout names targets of the map, in groups of the class\'s group size', { groupSize: cls.groupSize, sizes: groups.map((g) => g.length) });
    const l: ObjectLayout = { groups, red: cls, cls };
    this.sharedLayouts[s.id] = l;
    return l;
  }

  /** Shards whose target differs between the stable and the current layout (or must be resynced). */
  private moved(oid: bigint): ReadonlyMap<number, number> {
    if (!this.pending()) return EMPTY_MOVES;
    let m = this.movedCache.get(oid);
    if (!m) {
      const from = this.layout(oid);
      let to: readonly (readonly number[])[];
      try {
        to = this.targetPlacement.layout(oid).groups;
      } catch (err) {
        // No legal layout in the new map (too few targets left): the object stays degraded
        // in its current layout; the migration reports itself blocked instead of finishing.
        if ((err as { code?: string }).code !== 'INSUFFICIENT_TARGETS') throw err;
        this.blocked = true;
        return EMPTY_MOVES;
      }
      const out = new Map<number, number>();
      const size = from[0]!.length;
      from.forEach((g, gi) => g.forEach((t, i) => {
        const nt = to[gi]?.[i];
        if (nt !== undefined && (nt !== t || this.resync.has(nt))) out.set(gi * size + i, nt);
      }));
      m = out;
      if (this.movedCache.size >= LAYOUT_CACHE_SIZE) this.movedCache.clear();
      this.movedCache.set(oid, m);
    }
    return m;
  }

  /** Readable: in the layout of record and in service (a reintegrating or new target is not, yet). */
  private available(t: number): boolean {
    const st = this.map_.stateList[t];
    return (st === 'UPIN' || st === 'DRAIN') && !this.resync.has(t);
  }

  /** Writable: anything in service or being integrated. */
  private writable(t: number): boolean {
    const st = this.map_.stateList[t];
    return st === 'UP' || st === 'UPIN' || st === 'NEW' || st === 'DRAIN';
  }

  private codec(k: number, p: number, matrix: 'vandermonde' | 'cauchy'): Codec {
    const key = `${k}+${p}/${matrix}`;
    let c = this.codecs.get(key);
    if (!c) { c = createCodec({ dataShards: k, parityShards: p, matrix }); this.codecs.set(key, c); }
    return c;
  }

  private store(t: number, cuuid: string): Promise<ShardStore> {
    const key = `${t}/${cuuid}`;
    let s = this.stores.get(key);
    if (!s) {
      s = this.backend.openStore(t, cuuid);
      // Read-only: reads through an index the writer has since rewritten re-read the target once more.
      if (this.opts.readOnly) s = s.then((raw) => refreshingStore(raw, () => this.rereadTarget(t).then(() => this.backend.openStore(t, cuuid))));
      // A store that fails to open is forgotten (the next use retries); the caller gets the error through `s`.
      const forget = () => { if (this.stores.get(key) === s) { this.stores.delete(key); this.storesVersion++; } };
      s.then(undefined, forget);
      this.stores.set(key, s);
    }
    return s;
  }

  private get ioEngine(): string | undefined { return this.backend.ioEngine; }

  /** Close every container and target, release the pool lock. */
  async close(): Promise<void> {
    if (this.closed_) return;
    this.closed_ = true;
    this.migrationAbort.abort();
    await this.migration; // never rejects: a failed migration is recorded in the rebuild state
    // a checkpoint running finishes first (its journal rewrites need the containers open; a failure was counted by its caller)
    await (this.checkpointNext ?? this.checkpointRunning)?.catch(() => undefined);
    for (const c of [...this.containers.values()]) await c.close();
    if (this.backend instanceof LocalBackend) for (const uuid of this.readViews.keys()) await unregisterReader(join(this.backend.location, 'containers', uuid), this.readerId);
    this.storesVersion++;
    for (const s of this.stores.values()) await closeStore(s, 'pool.close-store-at-pool-close');
    this.stores.clear();
    for (const c of this.codecs.values()) (c as { dispose?: () => void }).dispose?.();
    await this.backend.close();
  }

  /** Close the pool (also what `await using` calls). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Whether this handle was opened read-only (`Pool.open(dir, { readOnly: true })`). */
  get readOnly(): boolean { return this.opts.readOnly === true; }

  /**
   * Read-only opens: see what the writing process committed since the open (or the last refresh):
   * the container list, the pool map, and every open container's commits, snapshots and
   * properties; `watch()` on an open container yields the new commits. Writable pools already see
   * everything (a connected pool reloads its map).
   */
  async refresh(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    opts = signalOptions(opts, 'refresh options');
    throwIfAborted(opts.signal);
    if (!this.opts.readOnly) {
      if (this.backend.clockSlot !== undefined) await this.reloadMaps();
      return;
    }
    await this.backend.refreshMeta?.();
    this.adoptMaps(await this.backend.loadMaps());
    // Journals first, targets second: a commit a journal names is in the targets read after it.
    const known = new Set(this.backend.meta.containers.map((c) => c.uuid));
    const applies: Array<() => void> = [];
    for (const [uuid, c] of [...this.containers]) {
      if (!known.has(uuid)) { await c.close(); continue; } // destroyed by the writer
      const port = containerPort(c);
      let apply = await port.refresh();
      const storage = this.readViews.get(uuid);
      if (storage) await this.holdReadView(uuid, storage, async () => { apply = await port.refresh(); });
      applies.push(() => apply());
    }
    await this.refreshTargets();
    for (const apply of applies) apply();
  }

  /**
   * Read-only opens: register the epoch `storage` reads the container at, so that the writer's
   * aggregation keeps it; when the writer may have aggregated past it before seeing the
   * registration (its mark is higher), re-read the journal (`reread`) and register again.
   */
  private async holdReadView(uuid: string, storage: ContainerStorage, reread: () => Promise<void>): Promise<void> {
    if (!(this.backend instanceof LocalBackend)) return;
    const dir = join(this.backend.location, 'containers', uuid);
    this.readViews.set(uuid, storage);
    for (let attempt = 1; ; attempt++) {
      const floor = storage.recover().floor;
      if (!(await registerReader(dir, this.readerId, floor))) return; // cannot register: read unprotected
      // the mark's commits were finished when it was written: a re-read journal reaches it
      if ((await aggregationMark(dir)) <= floor || attempt >= MAX_READ_VIEW_ATTEMPTS) return;
      await reread();
    }
  }

  /** Read-only opens: re-read every target store (they were written by another process meanwhile). */
  private async refreshTargets(): Promise<void> {
    await this.backend.refreshTargets?.(this.map_.targets.map((t) => t.id).filter((id) => this.runtime.available(id) || this.runtime.writable(id)));
    // store views hold the state they were opened with: open fresh ones
    this.stores.clear();
    this.storesVersion++;
  }

  /** Read-only opens: re-read one target store (one re-read at a time per target). */
  private rereadTarget(t: number): Promise<void> {
    let p = this.rereading.get(t);
    if (!p) {
      p = (async () => { await this.backend.refreshTargets?.([t]); })().finally(() => this.rereading.delete(t));
      this.rereading.set(t, p);
    }
    return p;
  }

  /** Refuse changes through a read-only handle (`READ_ONLY`). */
  private checkWritable(): void {
    if (this.opts.readOnly) throw new ObjectError('READ_ONLY', `pool ${this.dir} was opened read-only`, { dir: this.dir });
  }

  private checkOpen(): void {
    if (this.closed_) throw new ObjectError('POOL_CLOSED', 'pool is closed');
  }
}

/** Close a store being opened or open: one that never opened has nothing to close (its error went to its opener). */
async function closeStore(p: Promise<ShardStore>, reason: string): Promise<void> {
  let store: ShardStore;
  try { store = await p; } catch (err) { swallowed(`${reason}.never-opened`, err); return; }
  try { await store.close(); } catch (err) { swallowed(reason, err); }
}

/** Whether `groups` is at least one group of `groupSize` target ids below `targets` (no closure per check). */
function layoutIsSane(groups: readonly (readonly number[])[], groupSize: number, targets: number): boolean {
  if (groups.length < 1) return false;
  for (const g of groups) {
    if (g.length !== groupSize) return false;
    for (const t of g) if (!(t >= 0 && t < targets)) return false;
  }
  return true;
}

/**
 * The map used for layouts: DOWN targets keep their place (their shards count as lost and are
 * rebuilt from redundancy on read) until rebuild moves them and marks them DOWNOUT.
 */
function layoutView(map: PoolMap): PoolMap {
  if (!map.stateList.some((s) => s === 'DOWN')) return map;
  const json = map.toJSON();
  const fix = (d: { children?: unknown[]; targets?: Array<{ id: number; state?: string }> }): void => {
    d.targets?.forEach((t) => { if (t.state === 'DOWN') t.state = 'UPIN'; });
    (d.children as typeof d[] | undefined)?.forEach(fix);
  };
  json.domains.forEach((d) => fix(d as never));
  return PoolMap.fromJSON(json);
}

/**
 * A caller's clock (`PoolOpenOptions.now`), checked at every reading: a time that is not a number
 * of milliseconds in [0, MAX_CLOCK_MS] is refused with INVALID_ARGUMENT before any epoch is made
 * from it (NaN tripped an internal assertion; a time past MAX_CLOCK_MS made epochs beyond 2^64,
 * which the target stores refused after the commit had begun, and snapshots kept).
 */
function checkedClock(now: () => number): () => number {
  return () => {
    const ms = now();
    if (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_CLOCK_MS)) throw badArg(`the pool's clock (option now) must return milliseconds in [0, ${MAX_CLOCK_MS}], got ${describeValue(ms)}`);
    return ms;
  };
}

function checkLabel(label: string): void {
  labelArg(label);
  if (!/^[A-Za-z0-9._-]{1,127}$/.test(label)) {
    throw badArg(`container label must be 1..${MAX_LABEL_LENGTH} characters of [A-Za-z0-9._-], got ${JSON.stringify(label.length > 140 ? label.slice(0, 140) + '...' : label)}`);
  }
}
