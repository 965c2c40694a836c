/**
 * Parity rotation, as in DAOS: the roles of a redundancy group's shards (data cells 0..k-1, then
 * parity 0..p-1) rotate with the dkey, so the parity writes of an object with many dkeys spread
 * over every shard of its group instead of hammering the p targets at the end of the layout.
 *
 * Rotation r (0 <= r < groupSize) maps role i to layout position (i + r) mod groupSize, so
 * rotation 0 is the fixed layout used so far (data on positions 0..k-1, parity on k..k+p-1): data
 * written without rotation reads as rotation 0. The rotation of a dkey is a pure function of its
 * 64-bit hash (the same xxhash64 `dkeyGroup` uses), mixed so that it is independent of the group
 * the dkey lands in. Nothing here touches the data path: src/object/io.ts decides when to use it.
 */
import { describeValue } from '../core/describe.js';
import { xxh64 } from '../core/xxhash.js';
import { PlacementError } from './errors.js';
import { DKEY_HASH_SEED } from './dkey.js';
import { MAX_GROUP_SIZE } from './classes.js';

const U64_MAX = (1n << 64n) - 1n;

function checkGroupSize(groupSize: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 1 || groupSize > MAX_GROUP_SIZE) {
    throw new PlacementError('INVALID_ARGUMENT', `groupSize must be an integer in [1, ${MAX_GROUP_SIZE}], got ${describeValue(groupSize)}`, { groupSize });
  }
}

/** murmur3's 32-bit finaliser. */
function mix32(x: number): number {
  x ^= x >>> 16; x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13; x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Rotation of a dkey given the two 32-bit halves of its hash (the fast path of `parityRotation`,
 * for callers that hold hashes as numbers; same result).
 */
export function parityRotationOfHalves(hi: number, lo: number, groupSize: number): number {
  const m = mix32((hi ^ mix32(lo ^ 0x5bd1e995)) >>> 0);
  return Math.floor((m * groupSize) / 4294967296);
}

/** Rotation in [0, groupSize) of the dkey whose 64-bit hash is `dkeyHash`. */
export function parityRotation(dkeyHash: bigint, groupSize: number): number {
  if (typeof dkeyHash !== 'bigint' || dkeyHash < 0n || dkeyHash > U64_MAX) {
    throw new PlacementError('INVALID_ARGUMENT', `dkeyHash must be a bigint in [0, 2^64), got ${describeValue(dkeyHash)}`);
  }
  checkGroupSize(groupSize);
  return parityRotationOfHalves(Number(dkeyHash >> 32n), Number(dkeyHash & 0xffffffffn), groupSize);
}

/** Rotation of `dkey` (hashes it like `dkeyGroup`; requires `await initXxhash()` beforehand). */
export function dkeyParityRotation(dkey: Uint8Array, groupSize: number): number {
  if (!(dkey instanceof Uint8Array)) throw new PlacementError('INVALID_ARGUMENT', 'dkey must be a Uint8Array');
  return parityRotation(xxh64(dkey, DKEY_HASH_SEED), groupSize);
}

/** Layout position (index into the group's targets) of role `role` under `rotation`. */
export function positionOfRole(role: number, rotation: number, groupSize: number): number {
  checkGroupSize(groupSize);
  if (!Number.isInteger(role) || role < 0 || role >= groupSize) throw new PlacementError('INVALID_ARGUMENT', `role must be in [0, ${groupSize}), got ${describeValue(role)}`);
  if (!Number.isInteger(rotation) || rotation < 0 || rotation >= groupSize) throw new PlacementError('INVALID_ARGUMENT', `rotation must be in [0, ${groupSize}), got ${describeValue(rotation)}`);
  return (role + rotation) % groupSize;
}

/** Role (0..k-1 data cell, k.. parity) held by layout position `position` under `rotation`. */
export function roleOfPosition(position: number, rotation: number, groupSize: number): number {
  checkGroupSize(groupSize);
  if (!Number.isInteger(position) || position < 0 || position >= groupSize) throw new PlacementError('INVALID_ARGUMENT', `position must be in [0, ${groupSize}), got ${describeValue(position)}`);
  if (!Number.isInteger(rotation) || rotation < 0 || rotation >= groupSize) throw new PlacementError('INVALID_ARGUMENT', `rotation must be in [0, ${groupSize}), got ${describeValue(rotation)}`);
  return (position - rotation + groupSize) % groupSize;
}

/**
 * The permutation of one dkey: `positions[role]` is the layout position holding that role, so
 * `group[positions[i]]` is the target of data cell i (i < k) or parity i - k (i >= k).
 */
export function rolePositions(rotation: number, groupSize: number): Int32Array {
  checkGroupSize(groupSize);
  if (!Number.isInteger(rotation) || rotation < 0 || rotation >= groupSize) throw new PlacementError('INVALID_ARGUMENT', `rotation must be in [0, ${groupSize}), got ${describeValue(rotation)}`);
  return Int32Array.from({ length: groupSize }, (_, role) => (role + rotation) % groupSize);
}
