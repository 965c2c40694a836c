/**
 * The one error registry of Cairn, and the error classes every layer throws.
 *
 * Every failure a caller can see is a `CairnError` whose `code` is one of `ERROR_CODES` below:
 * user code and tests branch on `code`, never on the message text. A code is defined here once,
 * with its meaning, and means the same in every layer (`INVALID_ARGUMENT` from the codec, the
 * store or the pool is the same code). Layers subclass `CairnError` only to say where a failure
 * came from (`VosError`, `PlacementError`, ...); they never define codes of their own
 * (`test/core/errors.test.ts` enforces that no code is spelled outside this registry).
 */

/** Every stable error code, with what it means. Adding a code is an API change: add it here only. */
export const ERROR_CODES = {
  // ---- caller errors
  INVALID_ARGUMENT: 'An argument is outside its documented domain: wrong type, range, size or an unknown option.',
  KEY_TOO_LARGE: 'A dkey or akey is longer than the store accepts (MAX_KEY_SIZE bytes).',
  VALUE_TOO_LARGE: 'A value, extent or read is larger than one operation may carry.',
  UNKNOWN_OBJECT_CLASS: 'An object class name or id that Cairn does not define.',
  UNKNOWN_TARGET: 'A target or rank id that is not in the pool map.',
  USAGE: 'A command line that the CLI cannot run (unknown flag, missing argument); exit code 2.',
  // ---- names and lifecycle
  NOT_FOUND: 'No such pool, container, snapshot, file or object.',
  EXISTS: 'Something with that name already exists (pool, container, snapshot).',
  POOL_CLOSED: 'The pool or container handle was closed.',
  POOL_BUSY: 'Another process holds the pool open for writing.',
  CLOSED: 'A lower-level handle (target store, device, codec, connection) was used after it was closed.',
  READ_ONLY: 'A write was attempted through a read-only handle, or on a read-only filesystem (EROFS).',
  FORMAT_VERSION: 'Files on disk were written by a format version this build cannot read; the message names the fix.',
  ABORTED: 'The operation was cancelled through its AbortSignal.',
  TIMEOUT: 'A wait ran past its deadline.',
  OVERLOADED: 'A bounded queue (lock waiters, batches, request slots) is full: too many requests wait at once; retry later.',
  // ---- transactions and epochs
  TX_RESTART: 'A transaction conflicted with a concurrent commit: run it again.',
  TX_CLOSED: 'The transaction was already committed or aborted.',
  STALE_EPOCH: 'An engine already served a read at or above this write epoch: the writer recommits above it.',
  STALE_MAP: 'The request was planned with an older pool map: reload the map and plan again.',
  WATCH_LAGGED: 'A watch() consumer fell further behind than the retained commit history.',
  // ---- redundancy and data
  DATA_LOST: 'More shards are lost or damaged than the object class can rebuild: the bytes cannot be returned.',
  RF_VIOLATION: 'The object class survives fewer failed fault domains than the container requires.',
  EC_TOO_FEW_SHARDS: 'More than p shards of an erasure-coded stripe are missing: reconstruction is impossible.',
  EC_SHARD_COUNT_MISMATCH: 'An erasure codec got a shard array of the wrong length (it must be k + p).',
  EC_SHARD_SIZE_MISMATCH: 'Shards of different lengths, an empty shard, or a shard that is not a Uint8Array.',
  EC_NOT_ALLOCATED: 'A buffer given to a codec was not handed out by its allocShards().',
  INSUFFICIENT_TARGETS: 'The pool map has fewer eligible targets or fault domains than a layout needs.',
  // ---- media and integrity
  NO_SPACE: 'The device, the filesystem under it, or a configured cap is full.',
  IO_ERROR: 'The medium failed a read, write or flush (EIO and other system errors).',
  MISSING_FILE: 'A file the store needs does not exist.',
  UNSUPPORTED: 'A feature was explicitly requested that this machine does not provide (io_uring, O_DIRECT).',
  OUT_OF_MEMORY: 'A wasm memory could not grow to hold the request.',
  CHECKSUM_MISMATCH: 'Bytes read back do not match the checksum stored with them.',
  CORRUPTED: 'Metadata read back failed validation (magic, version, checksum or structure).',
  ASSERTION_FAILED: 'An internal invariant broke: a bug in Cairn, never a caller error.',
  WASM_NOT_BUILT: 'The WebAssembly core was not built (run npm install).',
  // ---- network and connected pools
  NET_UNREACHABLE: 'A peer engine could not be reached, or its connection closed mid-call.',
  NET_TIMEOUT: 'A network call ran past its deadline.',
  NET_PROTOCOL: 'A peer sent a malformed, oversized or unexpected frame.',
  AUTH_FAILED: 'The pool secret (or TLS identity) was refused.',
  WRONG_ENGINE: 'The request reached an engine that does not serve the target it names.',
  ETCD_UNREACHABLE: 'etcd could not be reached.',
  ETCD_CONFLICT: 'An etcd compare-and-set lost to a concurrent change.',
  ETCD_ERROR: 'etcd refused a request.',
  INTERNAL: 'A remote peer failed with an error that is not a Cairn error.',
  // ---- POSIX namespace (Dfs): node:fs-compatible codes
  ENOENT: 'No such file or directory (Dfs).',
  EEXIST: 'The path already exists (Dfs).',
  ENOTDIR: 'A path component is not a directory (Dfs).',
  EISDIR: 'The path is a directory where a file was expected (Dfs).',
  ENOTEMPTY: 'The directory is not empty (Dfs).',
  EINVAL: 'An invalid argument to a POSIX-style call (Dfs).',
  ELOOP: 'Too many symbolic links while resolving a path (Dfs).',
  EBADF: 'A file handle was used after close or with the wrong mode (Dfs).',
} as const satisfies Record<string, string>;

/** A stable error code: one of the keys of `ERROR_CODES`. */
export type CairnErrorCode = keyof typeof ERROR_CODES;

/** Whether `code` is a registered error code. */
export function isErrorCode(code: unknown): code is CairnErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/** Base class of every error Cairn throws on purpose. `code` is stable across releases. */
export class CairnError extends Error {
  /** Stable identifier from `ERROR_CODES`, e.g. `EC_TOO_FEW_SHARDS`, `NO_SPACE`, `CHECKSUM_MISMATCH`. */
  readonly code: CairnErrorCode;
  /**
   * Structured context (object id, keys, extent, target...) for logs and programmatic handling.
   * (Named `info`, not `details`: test reporters such as uvu treat a `details` field as a string.)
   */
  readonly info?: Record<string, unknown>;

  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    if (details !== undefined) this.info = details;
  }
}

/** A caller passed an argument outside the documented domain (`INVALID_ARGUMENT`). */
export class InvalidArgumentError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>, code: CairnErrorCode = 'INVALID_ARGUMENT') {
    super(code, message, details);
  }
}

/** An operation was cancelled through its `AbortSignal` (`ABORTED`). */
export class AbortedError extends CairnError {
  constructor(message = 'operation aborted', details?: Record<string, unknown>) {
    super('ABORTED', message, details);
  }
}

/** A wait ran past its deadline (`TIMEOUT`). */
export class TimeoutError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('TIMEOUT', message, details);
  }
}

/** Data read back from media failed validation: bad magic, version or checksum (`CORRUPTED`). */
export class CorruptionError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>, code: CairnErrorCode = 'CORRUPTED') {
    super(code, message, details);
  }
}

/** A file on disk was written in a format this build cannot read (`FORMAT_VERSION`). */
export class FormatVersionError extends CairnError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('FORMAT_VERSION', message, details);
  }

  /** `what` at `path` has format `version`, newer than the `oldest`-`newest` this build reads. */
  static newer(what: string, path: string, version: number, oldest: number, newest: number): FormatVersionError {
    return new FormatVersionError(`${what} ${path}: format version ${version} is newer than this build reads (${oldest}-${newest}); open it with the build that wrote it`, { path, version, supported: newest });
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

/** The shorthand every layer uses for a bad argument. */
export function invalidArgument(message: string, details?: Record<string, unknown>): InvalidArgumentError {
  return new InvalidArgumentError(message, details);
}
