/**
 * Errors of the erasure-coding layer. Every bad input to a codec is an `EcError` with one of the
 * stable codes below (callers branch on `code`, never on messages).
 */
import { CairnError } from '../core/errors.js';

/** Stable error codes of the `ec` layer. */
export const EcErrorCode = {
  /** k, p, impl, matrix or another option outside the documented domain; shards not an array. */
  INVALID_ARGUMENT: 'EC_INVALID_ARGUMENT',
  /** Wrong number of shards in the array (must be k + p). */
  SHARD_COUNT: 'EC_SHARD_COUNT_MISMATCH',
  /** Shards of different lengths, or a zero-length shard, or a shard that is not a Uint8Array. */
  SHARD_SIZE: 'EC_SHARD_SIZE_MISMATCH',
  /** More than p shards missing: the data cannot be reconstructed. */
  TOO_FEW_SHARDS: 'EC_TOO_FEW_SHARDS',
  /** The wasm memory cannot grow to hold the shards (wasm32 limit: 4 GiB per codec). */
  OUT_OF_MEMORY: 'EC_OUT_OF_MEMORY',
  /** The codec was used after `dispose()`. */
  DISPOSED: 'EC_DISPOSED',
  /** A buffer passed to `free` was not handed out by this codec's `allocShards`. */
  NOT_ALLOCATED: 'EC_NOT_ALLOCATED',
} as const;

/** One of the `EcErrorCode` values. */
export type EcErrorCodeValue = (typeof EcErrorCode)[keyof typeof EcErrorCode];

/** A typed error from the erasure-coding layer. */
export class EcError extends CairnError {
  declare readonly code: EcErrorCodeValue;
  constructor(code: EcErrorCodeValue, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
