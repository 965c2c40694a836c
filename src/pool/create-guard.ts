/**
 * `Pool.create` leaves nothing behind when it fails: the entries it created in the pool directory
 * (or the directory itself, when it made it) are removed, and file-system failures come back as
 * `CairnError`s with registry codes (a path through a file is `INVALID_ARGUMENT`, a full disk
 * `NO_SPACE`, ...), never as raw `ENOTDIR` errors.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CairnError, type CairnErrorCode } from '../../core/errors.js';
import { swallowed } from '../../core/log.js';
import { ObjectError, badArg } from '../io/errors.js';

/** Registry code of a Node system error met while creating or opening a pool directory. */
const ERRNO_CODES: Record<string, CairnErrorCode> = {
  ENOTDIR: 'INVALID_ARGUMENT', EISDIR: 'INVALID_ARGUMENT', ENAMETOOLONG: 'INVALID_ARGUMENT', ELOOP: 'INVALID_ARGUMENT', EINVAL: 'INVALID_ARGUMENT',
  ENOENT: 'NOT_FOUND', EEXIST: 'EXISTS', ENOSPC: 'NO_SPACE', EDQUOT: 'NO_SPACE', EFBIG: 'NO_SPACE', EROFS: 'READ_ONLY',
};

/**
 * Registry code of a Node system error met on a file inside an existing pool (container metadata
 * and journals): the caller's arguments were fine, the pool directory is damaged or full.
 */
export const POOL_FILE_ERRNO_CODES: Record<string, CairnErrorCode> = {
  ENOENT: 'MISSING_FILE', ENOSPC: 'NO_SPACE', EDQUOT: 'NO_SPACE', EFBIG: 'NO_SPACE', EROFS: 'READ_ONLY',
};

/**
 * `err` as a CairnError: Cairn's own errors pass through; system errors get a registry code
 * (from `codes`: by default those of a pool directory being created or opened).
 */
export function poolFsError(err: unknown, dir: string, what: string, codes: Record<string, CairnErrorCode> = ERRNO_CODES): CairnError {
  if (err instanceof CairnError) return err;
  const sys = err as NodeJS.ErrnoException | undefined;
  const errno = typeof sys?.code === 'string' ? sys.code : undefined;
  const code: CairnErrorCode = (errno && codes[errno]) || (errno?.startsWith('ERR_INVALID_ARG') ? 'INVALID_ARGUMENT' : 'IO_ERROR');
  return new ObjectError(code, `${what} ${dir}: ${(sys as Error | undefined)?.message ?? String(err)}`, { dir, ...(errno ? { errno } : {}) }, { cause: err });
}

/**
 * Run `create` (which lays out a pool in `dir`) so that a failure removes what it created: the
 * directory when it did not exist before, else the entries that were not there. A path that
 * exists and is not a directory is refused up front.
 */
export async function createPoolDir<T>(dir: string, create: () => Promise<T>): Promise<T> {
  let st;
  try { st = statSync(dir); } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno !== 'ENOENT') throw poolFsError(err, dir, 'cannot create a pool in');
  }
  if (st && !st.isDirectory()) throw badArg(`cannot create a pool in ${dir}: it exists and is not a directory`, { dir });
  const before = st ? new Set(readdirSync(dir)) : undefined;
  // the parent must be a directory too (mkdir would say ENOTDIR)
  const parent = dirname(dir);
  if (!st && existsSync(parent) && !statSync(parent).isDirectory()) throw badArg(`cannot create a pool in ${dir}: ${parent} is not a directory`, { dir });
  let made: string | undefined;
  try {
    if (!st) made = (await makeDirs(dir)) ?? dir;
    return await create();
  } catch (err) {
    const e = poolFsError(err, dir, 'cannot create a pool in');
    await removeCreated(dir, made, before);
    throw e;
  }
}

/**
 * `mkdir -p dir`, resolving with the topmost directory it made (undefined: none), that fails with
 * the real cause: Node's recursive mkdir reports ENOENT when a missing directory cannot be made
 * (on a read-only mount: EROFS; where this user may not write: EACCES), so on ENOENT the missing
 * directories are made one at a time, the first failure thrown as it is.
 */
export async function makeDirs(dir: string): Promise<string | undefined> {
  try {
    return await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing: string[] = [];
    for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) await mkdir(d); // (throws EROFS, EACCES, ENOTDIR...: the cause)
    return missing[0];
  }
}

/** Remove `made` (the topmost directory mkdir created for the pool) or the entries of `dir` not in `before`. */
async function removeCreated(dir: string, made: string | undefined, before: Set<string> | undefined): Promise<void> {
  try {
    if (!before) { if (made) await rm(made, { recursive: true, force: true }); return; }
    for (const e of readdirSync(dir)) if (!before.has(e)) await rm(join(dir, e), { recursive: true, force: true });
  } catch (err) {
    swallowed('pool.create-cleanup-after-failure', err); // the original error is what the caller needs
  }
}
