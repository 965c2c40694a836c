/**
 * What a container needs from its pool at run time (kept as an interface so containers do not
 * depend on how the pool opens targets, caches layouts or tracks failures).
 */
import type { ObjectClass, PoolMap } from '../../placement/index.js';
import type { ShardStore } from '../io/shard-store.js';
import type { EcCodec, Redundancy } from '../io/io.js';

/** The layout of an object as the data path needs it. */
export interface ObjectLayout {
  groups: number[][]; red: Redundancy; cls: ObjectClass;
  /** @internal the object it was computed for. */
  oid?: bigint;
}

/** A shard found bad by a read or a scrub, queued for repair. */
export interface BadShard { container: string; target: number; oid: bigint; shard: number; dkey: Uint8Array; akey: Uint8Array; error: unknown }

/** The pool as a container sees it. */
export interface ContainerRuntime {
  /** Clock for epochs (injectable for deterministic tests). */
  readonly now: () => number;
  /** Whether acknowledged writes must survive power loss (msync/fsync), not only a crash. */
  readonly durable: boolean;
  /** True once the pool is closed. */
  readonly closed: boolean;
  /** The pool was opened read-only (another process writes it): containers refuse writes and repair nothing. */
  readonly readOnly?: boolean;
  /**
   * Embedded pools opened for writing: before aggregating container `cuuid` up to `upTo`, the
   * epochs that read-only readers in other processes read at (kept like snapshots; readers.ts).
   */
  readerEpochs?(cuuid: string, upTo: bigint): Promise<bigint[]>;
  /** The current pool map. */
  map(): PoolMap;
  /**
   * The layout reads use (the stable map's): target id per shard, per group, with the object's
   * class. Cached by the pool (one lookup per I/O; the same object until the map changes). Never
   * modify it.
   */
  objectLayout(oid: bigint): ObjectLayout;
  /**
   * Shards being moved by a pending rebuild / rebalance: global shard index -> new target.
   * Writes go to both the stable target and the new one; reads use the stable one until done.
   */
  moved(oid: bigint): ReadonlyMap<number, number>;
  /** Whether target `t` may serve reads (UPIN or DRAIN). */
  available(t: number): boolean;
  /** Whether target `t` accepts writes (UPIN, DRAIN, or UP/NEW while being integrated). */
  writable(t: number): boolean;
  /** The (cached) erasure codec for k+p with the given matrix. */
  codec(k: number, p: number, matrix: 'vandermonde' | 'cauchy'): EcCodec;
  /** The store of target `t` for container `cuuid`, opened on first use. */
  store(t: number, cuuid: string): Promise<ShardStore>;
  /**
   * A number that changes whenever a store returned by `store` may have been closed or replaced
   * (target excluded, container destroyed, stores re-read): containers keep the stores they
   * resolved only while it stays the same, and use them without a promise per I/O.
   */
  storesVersion?(): number;
  /** Whether that store exists on disk. */
  storeExists(t: number, cuuid: string): boolean;
  /** Remember a shard that failed a read (checksum, missing file, I/O error). */
  reportBadShard(info: BadShard): void;
  /** Low bits stamped into this client's epochs (connected pools: one slot per client). */
  readonly clockSlot?: number;
  /** Reload the pool map after an engine reported it stale (connected pools). */
  refreshMap?(): Promise<void>;
  /**
   * Take the cross-client lock of an EC stripe group's dkey (connected pools), for a partial-stripe
   * read-modify-write; resolves with its release. `targets` is the group's layout.
   */
  lockDkey?(cuuid: string, key: string, targets: number[]): Promise<() => Promise<void>>;
  /** Commits of every client of a connected pool, in epoch order, after `from`. */
  followCommits?(cuuid: string, from: bigint, signal?: AbortSignal): AsyncGenerator<{ epoch: bigint; objects: bigint[] }>;
  /** Connected pools: the epoch a snapshot takes (at or above `proposed` and every write the engines hold; they are frozen there). */
  snapshotEpoch?(cuuid: string, proposed: bigint): Promise<bigint>;
  /** A container handle was closed. */
  containerClosed(c: object): void;
  /**
   * Pools whose target stores defer their syncs (durable embedded pools with redo journals): make
   * every write the stores of `targets` (default: all) acknowledged so far durable. Absent: the
   * stores sync each write themselves.
   */
  syncStores?(targets?: readonly number[]): Promise<void>;
  /**
   * Writable embedded pools: checkpoint the pool (a durable pool's: one flush of every target
   * store first; then every container's journal drops the records of the commits it covers).
   * Concurrent calls share a checkpoint.
   */
  checkpoint?(): Promise<void>;
}
