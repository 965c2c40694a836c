/**
 * `Pool.create` leaves nothing behind when it fails: the entries it created in the pool directory
 * (or the directory itself, when it made it) are removed, and file-system failures come back as
 * `CairnError`s with registry codes (a path through a file is `INVALID_ARGUMENT`, a full disk
 * `NO_SPACE`, ...), never as raw `ENOTDIR` errors. `CreatedPaths` does the same for the CLI and
 * for an engine's target directories.
 */
import { existsSync, lstatSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
  // the parent must be a directory too (mkdir would say ENOTDIR)
  const parent = dirname(dir);
  if (!st && existsSync(parent) && !statSync(parent).isDirectory()) throw badArg(`cannot create a pool in ${dir}: ${parent} is not a directory`, { dir });
  const created = CreatedPaths.note(dir);
  try {
    if (!st) await makeDirs(dir);
    return await create();
  } catch (err) {
    const e = poolFsError(err, dir, 'cannot create a pool in');
    created.remove();
    throw e;
  }
}

/**
 * `mkdir -p dir` that fails with the real cause: Node's recursive mkdir reports ENOENT when a
 * missing directory cannot be made (on a read-only mount: EROFS; where this user may not write:
 * EACCES), so on ENOENT the missing directories are made one at a time, the first failure thrown
 * as it is.
 */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing: string[] = [];
    for (let d = resolve(dir); !exists(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) await mkdir(d); // (throws EROFS, EACCES, ENOTDIR...: the cause)
  }
}

/**
 * What an operation may create at `dir`, noted before it runs, so that its failure removes exactly
 * that and nothing that existed: when `dir` does not exist, the topmost directory missing on its
 * path (mkdir -p makes the ancestors too), else the entries of `dir` that were not there. Used by
 * `Pool.create`, `cairn pool create` (on a signal) and `Engine.start` (its target directories).
 */
export class CreatedPaths {
  private constructor(
    private readonly dir: string,
    /** The topmost directory that did not exist; undefined: `dir` existed. */
    private readonly top: string | undefined,
    /** The entries of `dir` when it existed; undefined: it did not, or could not be listed (nothing in it is removed). */
    private readonly before: ReadonlySet<string> | undefined,
  ) {}

  /** Note what is at `dir` now, before the operation creates anything there. */
  static note(dir: string): CreatedPaths {
    const abs = resolve(dir);
    if (exists(abs)) {
      let before: Set<string> | undefined;
      try { before = new Set(readdirSync(abs)); } catch (err) { swallowed('pool.created-paths-not-a-directory', err); } // (the operation refuses it)
      return new CreatedPaths(abs, undefined, before);
    }
    let top = abs;
    while (!exists(dirname(top)) && dirname(top) !== top) top = dirname(top);
    return new CreatedPaths(abs, top, undefined);
  }

  /** Whether anything that appeared since `note` is there now. */
  remains(): boolean {
    try {
      if (this.top !== undefined) return exists(this.top);
      return this.before !== undefined && readdirSync(this.dir).some((e) => !this.before!.has(e));
    } catch { return false; }
  }

  /** Remove what appeared since `note`. Best effort: a failure is counted, never thrown (the operation's own error is what its caller needs). */
  remove(): void {
    try {
      if (this.top !== undefined) rmSync(this.top, { recursive: true, force: true });
      else if (this.before) for (const e of readdirSync(this.dir)) if (!this.before.has(e)) rmSync(join(this.dir, e), { recursive: true, force: true });
    } catch (err) {
      swallowed('pool.create-cleanup-after-failure', err);
    }
  }
}

/** Whether anything is at `path` (a dangling symbolic link too: it is never taken for a directory to make and remove). */
function exists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}
