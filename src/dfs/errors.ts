/**
 * Errors of the POSIX namespace. As in `node:fs`, `err.code` is the POSIX name (`ENOENT`,
 * `EEXIST`, `ENOTDIR`, `EISDIR`, `ENOTEMPTY`, `EINVAL`, `ELOOP`, `EBADF`), so code written against
 * `node:fs/promises` branches the same way; `err.syscall` and `err.path` say which call on which
 * path failed. Every one is a `CairnError` (one registry: core/errors.ts).
 */
import { CairnError } from '../../core/errors.js';

type CairnErrorCode = CairnError['code'];

/** The POSIX codes a `DfsError` carries (a subset of the registry; not a table of its own). */
type PosixCode = Extract<CairnErrorCode, 'ENOENT' | 'EEXIST' | 'ENOTDIR' | 'EISDIR' | 'ENOTEMPTY' | 'EINVAL' | 'ELOOP' | 'EBADF'>;

/** A failed namespace operation (`code` is the POSIX name, as in node:fs). */
export class DfsError extends CairnError {
  /** The call that failed (`open`, `mkdir`, `rename`, ...), as node:fs reports it. */
  readonly syscall: string;
  /** The path the call failed on. */
  readonly path?: string;
  /** The second path of two-path calls (rename, symlink). */
  readonly dest?: string;

  constructor(code: PosixCode, syscall: string, path?: string, dest?: string, message?: string) {
    const where = path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`;
    super(code, `${code}: ${message ?? DESCRIPTIONS[code]}, ${syscall}${where}`, { syscall, path, dest });
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
    if (dest !== undefined) this.dest = dest;
  }
}

const DESCRIPTIONS: Record<PosixCode, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  ENOTEMPTY: 'directory not empty',
  EINVAL: 'invalid argument',
  ELOOP: 'too many symbolic links encountered',
  EBADF: 'bad file descriptor',
};
