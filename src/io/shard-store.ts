/**
 * What the object layer needs from one target's store (a structural subset of `VosTarget`), and how
 * an object's shard is named inside it: each shard of an object is its own VOS object, the
 * "unit object id" `(oid << 32) | shard`, so two shards of one object never collide on a target.
 */
import type { Extent } from '../../core/extents.js';
import { assert } from '../../core/errors.js';
import type { HashedReadSlot, HashedWriteSlot } from '../media/block-device.js';

/** An extent of an array akey (bytes, or records of `recordSize`). */
export type Recx = Extent;

/**
 * What travels with every write of a commit besides its epoch. `txRead`: the read epoch of the
 * transaction the write belongs to; a store shared by several clients (an engine) refuses the write
 * with `TX_RESTART` when someone else wrote the key after it (optimistic concurrency across
 * clients). A store used by one container process only (a local VOS) may ignore it: the container
 * already checked its own commits.
 */
export interface WriteOpts { txRead?: bigint }

/** A shard read located by `ShardStore.locateArrayNow`: its device request and how it ends. */
export interface LocatedShardRead {
  /** The hashed read, not yet sent (media `readHashedGroup`). */
  readonly read: HashedReadSlot;
  /** The read is over (its hash or error; undefined: never sent): releases its holds; true only when its bytes matched the checksum. */
  finish(result: bigint | Error | undefined): boolean;
}

/** A shard write prepared by `ShardStore.prepareArrayWriteNow`: its device request and how it ends. */
export interface PreparedShardWrite {
  /** The hashed write, not yet sent (media `writeHashedGroup`). */
  readonly write: HashedWriteSlot;
  /**
   * The write is over (its hash or error; undefined: never sent): with a hash the record is
   * appended (undefined once applied, else a promise); otherwise the space is freed and an error
   * thrown. Releases its holds.
   */
  finish(result: bigint | Error | undefined): Promise<void> | undefined;
}

/**
 * The last argument of a read "now" (`ShardStore` read methods): the epoch its first attempt read
 * at, the start of its uncertainty window. A store several clients share (an engine) refuses the
 * read with STALE_EPOCH (`info.epoch`: the write's epoch) when it holds a write to what the read
 * depends on in (epoch, fresh + ε], ε being one millisecond plus the clock skew allowed between
 * clients (src/net/shard-rpc.ts): such a write may have been acknowledged before the read began,
 * so the reader reads again at a "now" at or above it, keeping this first bound (the window
 * shrinks and the retries end). Reads at an explicit epoch or snapshot never carry it (they read
 * exactly what they name), except a transaction's reads at its read epoch, which carry `TX_READ`
 * instead. A store of one client's pool (a local VOS) ignores it.
 */
export type FreshFrom = bigint | typeof TX_READ | undefined;

/**
 * The `FreshFrom` of a transaction's read at its read epoch on a pool other clients share: an
 * engine refuses it (TX_RESTART) when an aggregation, which another client may have run, passed
 * that epoch without keeping it (src/engine/aggregation-floors.ts), rather than answer what
 * aggregation left there.
 */
export const TX_READ: unique symbol = Symbol('cairn.txRead');

/** The per-target operations the object layer drives. */
export interface ShardStore {
  updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, opts?: WriteOpts): Promise<void>;
  /** `updateSingle` applied synchronously where the store can (undefined once applied; else its promise; synchronous failures thrown): a local store's small put costs no promise. `csum`: the value's `valueChecksum`, when the caller computed it once for every replica. */
  updateSingleNow?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum?: bigint): Promise<void> | undefined;
  /** `updateSingleNow` for a redo replay at open: nothing logged when the store already holds that value at exactly `epoch` (after a crash its own log usually kept it). */
  reapplySingleNow?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum?: bigint): Promise<void> | undefined;
  updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts?: { recordSize?: number } & WriteOpts): Promise<void>;
  /**
   * `updateArray` of bytes given as views, in order (byte records): an EC write's data cells of
   * the caller's buffer, written with one gather write and hashed where they are, never joined
   * into one buffer. The views must not change until the promise settles. Optional (a local store
   * has it; others are given one buffer).
   */
  updateArrayParts?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[], opts?: { recordSize?: number } & WriteOpts): Promise<void>;
  /**
   * `updateArrayParts` prepared synchronously (a local store, src/vos/locate-write.ts): the
   * value's space allocated and its hashed gather write handed back, not yet sent; null when only
   * `updateArrayParts` can write it. The caller sends the writes of several shards as one group
   * (media `writeHashedGroup`, one promise) and must `finish` each with its result: that appends
   * the record. Bad arguments throw as `updateArrayParts` would. Optional.
   */
  prepareArrayWriteNow?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[]): PreparedShardWrite | null;
  fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): Promise<Uint8Array | undefined>;
  /**
   * `fetchSingle` answered synchronously when the store can (a local store whose value is in
   * memory, its log or inline in a run: every small value): the value, undefined when none is
   * visible, or `null` when only `fetchSingle` can read it. Optional (remote stores lack it).
   */
  fetchSingleNow?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Uint8Array | undefined | null;
  fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts?: { holesAsZero?: boolean }, fresh?: FreshFrom): Promise<{ data: Uint8Array; present: Recx[] }>;
  /**
   * `fetchArray` (holes as zeros) straight into `into`: its buffers, in order, receive exactly
   * `recx.count` records. Optional: a store without it (a remote one) is read with `fetchArray`
   * and a copy. A local store reads a whole extent from its data file into the buffers and checks
   * its checksum there, with no intermediate buffer.
   */
  fetchArrayInto?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[], fresh?: FreshFrom): Promise<void>;
  /**
   * `fetchArrayInto` located synchronously (a local store, src/vos/locate.ts): when the newest
   * visible extent is exactly `recx` and lies in the data file, the hashed device read of it into
   * `into`, not yet sent; null when only `fetchArrayInto` can read it. The caller sends the reads
   * of several shards as one group (media `readHashedGroup`, one promise) and must `finish` each:
   * only a read whose `finish` returns true has verified bytes (else read it with `fetchArrayInto`,
   * which reports the damage). Optional.
   */
  locateArrayNow?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]): LocatedShardRead | null;
  punchObject(epoch: bigint, oid: bigint, opts?: WriteOpts): Promise<void>;
  punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array, opts?: WriteOpts): Promise<void>;
  punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, opts?: WriteOpts): Promise<void>;
  listObjects(epoch: bigint, fresh?: FreshFrom): AsyncIterable<bigint>;
  /**
   * The unit object ids this store has ever been written for (its object table), ascending, with
   * no visibility check: how rebuild, scrub and object listings find objects.
   */
  listObjectIds(opts?: { signal?: AbortSignal }): AsyncIterable<bigint>;
  /** (The third argument is a local store's key range, not part of this interface: pass undefined before `fresh`.) */
  listDkeys(epoch: bigint, oid: bigint, range?: undefined, fresh?: FreshFrom): AsyncIterable<Uint8Array>;
  listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array, fresh?: FreshFrom): AsyncIterable<Uint8Array>;
  listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): AsyncIterable<{ index: number; count: number; epoch: bigint }>;
  akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): Promise<'single' | 'array' | undefined>;
  queryMaxEpoch(): bigint;
  /** Ask the store for its highest epoch now (a remote store; a local one answers `queryMaxEpoch`). */
  refreshMaxEpoch?(): Promise<bigint>;
  aggregate(upTo: bigint, keep?: bigint[]): Promise<unknown>;
  /** Drop versions with after < epoch <= upTo (upTo defaults to the maximum epoch). */
  discard(after: bigint, upTo?: bigint): Promise<void>;
  usage(): { scmUsed: number; scmTotal: number; dataUsed: number; dataTotal: number };
  close(): Promise<void>;
}

/** Bits below the object id that carry the shard index in a unit object id. */
export const SHARD_BITS = 32n;

/** Shard indexes whose BigInts `unitOid` keeps made (every shard of a group of up to this many). */
const SHARD_BIGINTS_COUNT = 256;
/** `BigInt(i)` for the first SHARD_BIGINTS_COUNT shards: `unitOid` runs on every I/O. */
const SHARD_BIGINTS: readonly bigint[] = Array.from({ length: SHARD_BIGINTS_COUNT }, (_, i) => BigInt(i));

/** The VOS object id of shard `shard` of object `oid`. */
export function unitOid(oid: bigint, shard: number): bigint {
  if (!(oid >= 0n && Number.isInteger(shard) && shard >= 0 && shard < 2 ** 32)) assert(false, 'a unit object id is a non-negative oid and a 32-bit shard', { oid: oid.toString(16), shard });
  return (oid << SHARD_BITS) | (shard < SHARD_BIGINTS_COUNT ? SHARD_BIGINTS[shard]! : BigInt(shard));
}

/** Split a unit object id into (oid, shard). */
export function splitUnitOid(u: bigint): { oid: bigint; shard: number } {
  return { oid: u >> SHARD_BITS, shard: Number(u & ((1n << SHARD_BITS) - 1n)) };
}
