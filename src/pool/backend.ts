/**
 * Where a pool keeps its state and how it reaches its targets. The embedded backend
 * (`local-backend.ts`) uses one directory; the connected backend (src/net/connected.ts) keeps the
 * pool map and metadata in etcd and reaches targets through engines. `Pool` holds the logic common
 * to both.
 */
import type { PoolMap } from '../../placement/index.js';
import type { ShardStore } from '../io/shard-store.js';
import type { ContainerStorage } from '../container/storage.js';
import type { ContainerMeta } from '../container/container.js';

/** Pool-wide metadata. */
export interface PoolMeta {
  uuid: string;
  createdAt: string;
  scmBytes: number;
  dataBytes: number;
  containers: Array<{ label: string; uuid: string }>;
}

/** Options of `Pool.connect` (defined here so that the pool layer owns its own API). */
export interface ConnectOptions {
  /** etcd client URL(s), e.g. `http://127.0.0.1:2379`. */
  etcd: string | string[];
  /** Pool name the engines were started with (`cairn engine --pool NAME`). */
  pool: string;
  /** Shared pool secret (default `$CAIRN_POOL_SECRET`). */
  secret?: string;
  /** Clock for epochs. */
  now?: () => number;
  signal?: AbortSignal;
  durable?: boolean;
  /** Per-request timeout towards engines (default 30 s). */
  timeoutMs?: number;
  /** TLS towards the engines: the CA that signed their certificates (when engines run with TLS). */
  tls?: { ca: string | Buffer };
  /** @internal the engines' leader runs migrations through its own connected pool. */
  runsMigrations?: boolean;
}

/**
 * The pool map of record, the map being moved to, and targets being refilled; `reclaim`: targets
 * still holding copies of shards a promoted move took off them (reclaim.ts; kept by embedded pools).
 */
export interface PoolMaps { map: PoolMap; stable: PoolMap; resync: number[]; reclaim?: number[] }

/** State and progress of rebuild / rebalance, as `pool.rebuildStatus()` and 'rebuild' events report it. */
export interface RebuildStatus {
  /** idle: nothing pending; running; blocked: too few targets to move some shards (served degraded); failed. */
  state: 'idle' | 'running' | 'blocked' | 'failed';
  /** Pool map version being migrated to. */
  mapVersion: number;
  objectsDone: number;
  objectsTotal: number;
  /** Bytes written to new targets. */
  bytes: number;
  /** Objects that could not be rebuilt (too many failures): their reads fail with DATA_LOST. */
  lost: string[];
  /** Distinct targets read from / written to by this migration (declustering). */
  sources?: number;
  destinations?: number;
  etaSeconds?: number;
  error?: string;
}

/** What `Pool` needs from where the pool lives. */
export interface PoolBackend {
  /** Directory of an embedded pool, `etcd-url#pool` of a connected one. */
  readonly location: string;
  /** Pool metadata (the container list is kept current for connected pools). */
  readonly meta: PoolMeta;
  /** Whether this process runs rebuild and rebalance (embedded pools, the engines' leader). */
  readonly runsMigrations: boolean;
  /** Low bits of this client's epochs (connected pools). */
  readonly clockSlot?: number;
  /** Block I/O engine of the opened local targets ('io_uring' or 'pread'), once known. */
  readonly ioEngine?: string;

  loadMaps(): Promise<PoolMaps>;
  /**
   * Persist maps. `expect` is the map version the change was made against: a connected pool
   * refuses (returns false) when another client changed the maps since; embedded pools always succeed.
   */
  saveMaps(maps: PoolMaps, expectVersion: number, stableChanged: boolean): Promise<boolean>;
  /** Maps changed by someone else (connected pools). */
  onMaps?(cb: (maps: PoolMaps) => void): void;

  addContainer(meta: ContainerMeta): Promise<void>;
  removeContainer(label: string, uuid: string): Promise<void>;
  containerMeta(uuid: string, label: string): Promise<ContainerMeta>;
  containerStorage(meta: ContainerMeta): Promise<ContainerStorage>;

  openStore(t: number, cuuid: string): Promise<ShardStore>;
  /** Open the stores of these targets now (embedded pools: target stores open in constant time). */
  openTargets?(ids: number[]): Promise<void>;
  /**
   * Verify target `t`'s own metadata (every index block; its log and manifest were checked at
   * open). `whole`: the target is damaged as a whole (or cannot be opened) and must be rebuilt;
   * `damaged`: key ranges of damaged blocks, per container.
   */
  scrubTarget?(t: number, signal?: AbortSignal): Promise<{ whole?: string; blocks: number; damaged: import('./scrub.js').DamagedRanges }>;
  /** Drop target `t`'s damaged blocks (after their content was rewritten from redundancy). */
  healTarget?(t: number): Promise<void>;
  /** Close target `t`'s store (excluded, or about to be wiped); the next use reopens it. */
  closeTarget?(t: number, opts?: { flush?: boolean }): Promise<void>;
  storeExists(t: number, cuuid: string): boolean;
  removeStore(t: number, cuuid: string): Promise<void>;
  /** Drop everything a target holds (before it is reintegrated). */
  wipeTarget(t: number): Promise<void>;
  /** Make room for new targets (before writes may be routed to them; what an extend that did not take effect left of them is replaced). */
  prepareTargets(ids: number[]): Promise<void>;
  /** Bytes a target uses, when known. */
  spaceUsed(t: number): number;

  /** Cross-client lock of a dkey for partial-stripe EC writes (connected pools). */
  lockDkey?(cuuid: string, key: string, targets: number[], available: (t: number) => boolean): Promise<() => Promise<void>>;
  /** Commits of every client, in epoch order, after `from` (connected pools). */
  followCommits?(cuuid: string, from: bigint, signal?: AbortSignal): AsyncGenerator<{ epoch: bigint; objects: bigint[] }>;
  /** Connected pools: the epoch a snapshot takes, at or above `proposed` and every write the engines hold, the engines frozen there. */
  snapshotEpoch?(cuuid: string, proposed: bigint): Promise<bigint>;
  /** Rebuild progress published by whoever runs migrations (connected pools). */
  remoteRebuild?(): RebuildStatus | undefined;
  publishRebuild?(st: RebuildStatus): void;
  /** Before a migration copies anything: every engine enforces the new map version. */
  beforeMigration?(version: number): Promise<void>;
  /** Read-only opens: re-read the pool metadata (the container list) another process writes. */
  refreshMeta?(): Promise<void>;
  /** Read-only opens: re-read these targets' stores (opening those not open yet). */
  refreshTargets?(ids: number[]): Promise<void>;
  close(): Promise<void>;
}
