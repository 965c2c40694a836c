/**
 * Errors of the versioned object store. Callers branch on `code` (from the registry in
 * core/errors.ts); details name the object, keys, extent and epoch involved, never the stored bytes.
 */
import { CairnError, type CairnErrorCode } from '../../core/errors.js';

/** A failure of the per-target store (`NO_SPACE`, `CHECKSUM_MISMATCH`, `CORRUPTED`, ...). */
export class VosError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Shorthand for an `INVALID_ARGUMENT` error raised by the store. */
export function invalidArg(message: string, details?: Record<string, unknown>): VosError {
  return new VosError('INVALID_ARGUMENT', message, details);
}
