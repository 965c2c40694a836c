/**
 * Errors of the pool, container and object layers. Codes come from the one registry in
 * core/errors.ts.
 */
import { CairnError, type CairnErrorCode } from '../../core/errors.js';

/** Any failure of the pool / container / object layer that is not a lower layer's own error. */
export class ObjectError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Shorthand for an `INVALID_ARGUMENT` error. */
export function badArg(message: string, details?: Record<string, unknown>): ObjectError {
  return new ObjectError('INVALID_ARGUMENT', message, details);
}
