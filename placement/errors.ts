/**
 * Errors of the placement layer. Codes come from the one registry in core/errors.ts
 * (`INVALID_ARGUMENT`, `UNKNOWN_OBJECT_CLASS`, `UNKNOWN_TARGET`, `INSUFFICIENT_TARGETS`,
 * `CORRUPTED`, `OUT_OF_MEMORY`).
 */
import { CairnError, type CairnErrorCode } from '../core/errors.js';

/** Any failure of the placement layer. */
export class PlacementError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
