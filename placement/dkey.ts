/**
 * Distribution keys to redundancy groups: xxhash64 of the dkey, reduced with jump consistent
 * hash so that adding groups to a GX object moves few dkeys.
 */
import { describeValue } from '../core/describe.js';
import { xxh64 } from '../core/xxhash.js';
import { PlacementError } from './errors.js';
import { jumpConsistentHash } from './jump.js';

/** Seed of the dkey hash (fixed: changing it would move every dkey). */
export const DKEY_HASH_SEED = 0x43616972n; // "Cair"

/** Group in [0, groups) of `dkey`; requires `await initXxhash()` beforehand. */
export function dkeyGroup(dkey: Uint8Array, groups: number): number {
  if (!(dkey instanceof Uint8Array)) throw new PlacementError('INVALID_ARGUMENT', 'dkey must be a Uint8Array');
  if (!Number.isInteger(groups) || groups < 1) throw new PlacementError('INVALID_ARGUMENT', `groups must be a positive integer, got ${describeValue(groups)}`);
  if (groups === 1) return 0;
  return jumpConsistentHash(xxh64(dkey, DKEY_HASH_SEED), groups);
}
