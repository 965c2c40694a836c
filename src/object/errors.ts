/**
 * Typed errors of the pool, container and object layers. Codes are stable contracts.
 */
import { CairnError } from '../../core/errors.js';

/** Stable codes of `ObjectError`. */
export type ObjectErrorCode =
  | 'INVALID_ARGUMENT'   // a caller's argument is outside its documented domain
  | 'NOT_FOUND'          // no such pool, container, snapshot
  | 'EXISTS'             // a container or snapshot with that name already exists
  | 'TX_RESTART'         // a transaction conflicted with a concurrent commit: retry it
  | 'TX_CLOSED'          // the transaction was already committed or aborted
  | 'DATA_LOST'          // more shards lost than the object class can rebuild
  | 'RF_VIOLATION'       // the object class cannot survive the container's redundancy factor
  | 'POOL_CLOSED'        // the pool or container was closed
  | 'POOL_BUSY';         // another process has the pool open

/** Any failure of the pool / container / object layer that is not a lower layer's own error. */
export class ObjectError extends CairnError {
  declare readonly code: ObjectErrorCode;
  constructor(code: ObjectErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Shorthand for an `INVALID_ARGUMENT` error. */
export function badArg(message: string, details?: Record<string, unknown>): ObjectError {
  return new ObjectError('INVALID_ARGUMENT', message, details);
}
