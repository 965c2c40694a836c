/**
 * What the object layer needs from one target's store (a structural subset of `VosTarget`), and how
 * an object's shard is named inside it: each shard of an object is its own VOS object, the
 * "unit object id" `(oid << 32) | shard`, so two shards of one object never collide on a target.
 */
export interface Recx { index: number; count: number }

/** The per-target operations the object layer drives. */
export interface ShardStore {
  updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array): Promise<void>;
  updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts?: { recordSize?: number }): Promise<void>;
  fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<Uint8Array | undefined>;
  fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts?: { holesAsZero?: boolean }): Promise<{ data: Uint8Array; present: Recx[] }>;
  punchObject(epoch: bigint, oid: bigint): Promise<void>;
  punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array): Promise<void>;
  punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void>;
  listObjects(epoch: bigint): AsyncIterable<bigint>;
  listDkeys(epoch: bigint, oid: bigint): AsyncIterable<Uint8Array>;
  listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array): AsyncIterable<Uint8Array>;
  listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AsyncIterable<{ index: number; count: number; epoch: bigint }>;
  akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<'single' | 'array' | undefined>;
  queryMaxEpoch(): bigint;
  aggregate(upTo: bigint, keep?: bigint[]): Promise<unknown>;
  /** Drop versions with after < epoch <= upTo (upTo defaults to the maximum epoch). */
  discard(after: bigint, upTo?: bigint): Promise<void>;
  usage(): { scmUsed: number; scmTotal: number; dataUsed: number; dataTotal: number };
  close(): Promise<void>;
}

/** Bits below the object id that carry the shard index in a unit object id. */
export const SHARD_BITS = 32n;

/** The VOS object id of shard `shard` of object `oid`. */
export function unitOid(oid: bigint, shard: number): bigint { return (oid << SHARD_BITS) | BigInt(shard); }

/** Split a unit object id into (oid, shard). */
export function splitUnitOid(u: bigint): { oid: bigint; shard: number } {
  return { oid: u >> SHARD_BITS, shard: Number(u & ((1n << SHARD_BITS) - 1n)) };
}
