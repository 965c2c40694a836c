/**
 * Typed errors of the versioned object store. Callers branch on `code`; details name the
 * object, keys, extent and epoch involved, never the stored bytes.
 */
import { CairnError } from '../../core/errors.js';

/** Stable codes a `VosError` can carry. */
export type VosErrorCode =
  | 'NO_SPACE'
  | 'CHECKSUM_MISMATCH'
  | 'KEY_TOO_LARGE'
  | 'VALUE_TOO_LARGE'
  | 'VOS_INVALID_ARGUMENT'
  | 'VOS_CORRUPTED'
  | 'VOS_CLOSED'
  | 'VOS_IO_ERROR';

/** Every failure the store reports on purpose. */
export class VosError extends CairnError {
  declare readonly code: VosErrorCode;
  constructor(code: VosErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Shorthand for a `VOS_INVALID_ARGUMENT` error. */
export function invalidArg(message: string, details?: Record<string, unknown>): VosError {
  return new VosError('VOS_INVALID_ARGUMENT', message, details);
}
