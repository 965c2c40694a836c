/**
 * Typed errors of the media layer (block data file, pmem file). Callers branch on `code`:
 * `NO_SPACE` (ENOSPC, or an access past the device size), `IO_ERROR` (EIO and other
 * failures of the medium, including injected torn writes and crashes), `INVALID_ARGUMENT`
 * (misaligned offsets or lengths, bad options), `MISSING_FILE` (open without `create` of a
 * file that does not exist), `READ_ONLY` (EROFS: a write, or an open for writing, on a read-only
 * filesystem; also a write on a device opened read-only), `UNSUPPORTED` (io_uring or O_DIRECT explicitly requested but
 * not available here) and `CLOSED` (use after `close()`).
 */
import { CairnError, type CairnErrorCode } from '../../core/errors.js';

/** Any failure of a media device; `code` is one of `MediaErrorCode`. */
export class MediaError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** Positive errno values we translate; anything else becomes `IO_ERROR`. */
const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 9: 'EBADF', 13: 'EACCES', 22: 'EINVAL', 28: 'ENOSPC', 30: 'EROFS', 122: 'EDQUOT', 27: 'EFBIG' };

/**
 * What an errno whose name says little to an operator means, added to the message: a pool on a
 * read-only mount or in a directory this user may not write fails with the cause named.
 */
const ERRNO_MEANINGS: Record<string, string> = {
  EROFS: 'the filesystem is mounted read-only', EACCES: 'permission denied', EPERM: 'operation not permitted',
};

/**
 * Translate a failed system call (a Node errno exception, or a negative errno from the io_uring
 * addon) into a `MediaError` with the right code.
 */
export function mediaErrorFromErrno(err: unknown, op: string, details: Record<string, unknown> = {}): MediaError {
  if (err instanceof MediaError) return err;
  let name: string | undefined;
  if (typeof err === 'number') name = ERRNO_NAMES[-err] ?? `errno ${-err}`;
  else if (err && typeof err === 'object' && 'code' in err) name = String((err as { code: unknown }).code);
  const meaning = name === undefined ? undefined : ERRNO_MEANINGS[name];
  const msg = `${op} failed: ${name ?? String(err)}${meaning ? ` (${meaning})` : ''}`;
  const d = { ...details, errno: name };
  const cause = typeof err === 'number' ? undefined : err;
  if (name === 'ENOSPC' || name === 'EDQUOT' || name === 'EFBIG') return new MediaError('NO_SPACE', msg, d, { cause });
  if (name === 'ENOENT') return new MediaError('MISSING_FILE', msg, d, { cause });
  if (name === 'EROFS') return new MediaError('READ_ONLY', msg, d, { cause });
  if (name === 'EINVAL') return new MediaError('INVALID_ARGUMENT', msg, d, { cause });
  return new MediaError('IO_ERROR', msg, d, { cause });
}
