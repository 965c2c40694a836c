/**
 * Typed errors shared by every layer of Cairn.
 *
 * Every failure a caller can see is a `CairnError` with a stable, machine-readable `code`:
 * user code and tests branch on `code`, never on the message text.
 */

/** Base class of every error Cairn throws on purpose. `code` is stable across releases. */
export class CairnError extends Error {
  /** Stable identifier, e.g. `EC_TOO_FEW_SHARDS`, `NO_SPACE`, `CHECKSUM_MISMATCH`. */
  readonly code: string;
  /**
   * Structured context (object id, keys, extent, target...) for logs and programmatic handling.
   * (Named `info`, not `details`: test reporters such as uvu treat a `details` field as a string.)
   */
  readonly info?: Record<string, unknown>;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    if (details !== undefined) this.info = details;
  }
}

/** A caller passed an argument outside the documented domain (`INVALID_ARGUMENT`). */
export class InvalidArgumentError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>, code = 'INVALID_ARGUMENT') {
    super(code, message, details);
  }
}

/** An operation was cancelled through its `AbortSignal` (`ABORTED`). */
export class AbortedError extends CairnError {
  constructor(message = 'operation aborted', details?: Record<string, unknown>) {
    super('ABORTED', message, details);
  }
}

/** Data read back from media failed validation: bad magic, version or checksum (`CORRUPTED`). */
export class CorruptionError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>, code = 'CORRUPTED') {
    super(code, message, details);
  }
}

/** An internal invariant was broken: a bug in Cairn, never a user error (`ASSERTION_FAILED`). */
export class InvariantError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ASSERTION_FAILED', message, details);
  }
}

/** Assert an internal invariant; throws `InvariantError` (a bug) when `cond` is false. */
export function assert(cond: unknown, message: string, details?: Record<string, unknown>): asserts cond {
  if (!cond) throw new InvariantError(message, details);
}

/** Throw `AbortedError` if `signal` has fired; call at every await point of long operations. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('operation aborted', { reason: String(signal.reason ?? '') });
}
