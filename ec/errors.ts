/**
 * Errors of the erasure-coding layer. Codes come from the one registry in core/errors.ts:
 * `INVALID_ARGUMENT`, `EC_SHARD_COUNT_MISMATCH`, `EC_SHARD_SIZE_MISMATCH`, `EC_TOO_FEW_SHARDS`,
 * `OUT_OF_MEMORY` (a codec's wasm memory cannot grow), `CLOSED` (used after `dispose()`) and
 * `EC_NOT_ALLOCATED` (a buffer not handed out by this codec's `allocShards`).
 */
import { CairnError, type CairnErrorCode } from '../core/errors.js';

/** A typed error from the erasure-coding layer. */
export class EcError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
