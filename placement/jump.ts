/**
 * Jump consistent hash (Lamping & Veach 2014): maps a u64 key to one of `buckets` buckets so that
 * growing from n to n+1 buckets moves only 1/(n+1) of the keys. The wasm core does the work; a
 * scalar bigint reference (`jumpConsistentHashReference`) documents the algorithm and tests it.
 */
import { describeValue } from '../core/describe.js';
import { PlacementError } from './errors.js';
import { sharedCore } from './wasm.js';

/** Largest bucket count accepted (jump hash returns an int32). */
export const MAX_JUMP_BUCKETS = 0x7fffffff;
const U64_MAX = (1n << 64n) - 1n;

function checkBuckets(buckets: number): void {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_JUMP_BUCKETS) {
    throw new PlacementError('INVALID_ARGUMENT', `buckets must be an integer in [1, ${MAX_JUMP_BUCKETS}], got ${describeValue(buckets)}`, { buckets: describeValue(buckets) });
  }
}

/** Bucket in [0, buckets) of unsigned 64-bit `key` (one wasm call). */
export function jumpConsistentHash(key: bigint, buckets: number): number {
  if (typeof key !== 'bigint' || key < 0n || key > U64_MAX) {
    throw new PlacementError('INVALID_ARGUMENT', `key must be a bigint in [0, 2^64), got ${describeValue(key)}`);
  }
  checkBuckets(buckets);
  return sharedCore().exports.jumpHash(BigInt.asIntN(64, key), buckets);
}

/** Buckets of many keys in one wasm call (keys are u64 by construction of BigUint64Array). */
export function jumpConsistentHashBatch(keys: BigUint64Array, buckets: number): Int32Array {
  if (!(keys instanceof BigUint64Array)) throw new PlacementError('INVALID_ARGUMENT', 'keys must be a BigUint64Array');
  checkBuckets(buckets);
  const core = sharedCore();
  const m = core.mark();
  try {
    const kp = core.reserve(keys.length * 8);
    const op = core.reserve(keys.length * 4);
    new BigUint64Array(core.buffer, kp, keys.length).set(keys);
    core.exports.jumpHashBatch(kp, keys.length, buckets, op);
    return new Int32Array(core.buffer, op, keys.length).slice();
  } finally {
    core.release(m);
  }
}

/** Scalar reference: the paper's loop on bigints (slow; for tests and documentation). */
export function jumpConsistentHashReference(key: bigint, buckets: number): number {
  checkBuckets(buckets);
  let k = BigInt.asUintN(64, key);
  let b = -1, j = 0;
  while (j < buckets) {
    b = j;
    k = BigInt.asUintN(64, k * 2862933555777941757n + 1n);
    j = Math.trunc((b + 1) * (2147483648 / Number((k >> 33n) + 1n)));
  }
  return b;
}
