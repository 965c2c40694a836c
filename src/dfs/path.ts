/**
 * Path handling of the namespace: paths are `/`-separated, relative to the namespace root
 * (a leading `/` is optional); `.` is skipped and `..` is resolved against the directories
 * actually walked (so `..` after a symlink goes to the link target's parent, as in POSIX).
 */
import { DfsError } from './errors.js';
import { NAME_MAX_BYTES, PATH_MAX_BYTES } from './layout.js';

/** The components of `path` (`.` and empty ones dropped; `..` kept for the resolver). */
export function splitPath(path: string, syscall: string): string[] {
  checkPath(path, syscall);
  const out: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (Buffer.byteLength(c, 'utf8') > NAME_MAX_BYTES) throw new DfsError('EINVAL', syscall, path, undefined, `a path component is longer than ${NAME_MAX_BYTES} bytes`);
    out.push(c);
  }
  return out;
}

/**
 * Refuse what cannot name an entry: a non-string, the empty path (ENOENT, as node:fs), a NUL
 * byte, a lone surrogate (UTF-8 cannot carry it: the name would be stored as U+FFFD and alias
 * every other name that differs only there), or more than PATH_MAX bytes.
 */
export function checkPath(path: unknown, syscall: string, what = 'path'): asserts path is string {
  if (typeof path !== 'string') throw new DfsError('EINVAL', syscall, typeof path === 'symbol' ? path.toString() : String(path), undefined, `${what} must be a string`);
  if (path.length === 0) throw new DfsError('ENOENT', syscall, path);
  const short = path.length > 200 ? path.slice(0, 200) + '...' : path;
  if (path.includes('\0')) throw new DfsError('EINVAL', syscall, short, undefined, `${what} contains a NUL byte`);
  if (LONE_SURROGATE.test(path)) throw new DfsError('EINVAL', syscall, short, undefined, `${what} holds a lone surrogate (not well-formed UTF-16; UTF-8 cannot carry it)`);
  if (Buffer.byteLength(path, 'utf8') > PATH_MAX_BYTES) throw new DfsError('EINVAL', syscall, short, undefined, `${what} is longer than ${PATH_MAX_BYTES} bytes`);
}

/** A UTF-16 surrogate not part of a pair (a `u` regex sees pairs as one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

/** Whether `path` names a directory by its form: it ends in `/` or `/.` (POSIX: a trailing slash). */
export function endsAsDir(path: string): boolean {
  return /\/\.?$/.test(path) && path.replace(/[/.]/g, '') !== '';
}

/** Whether `name` may be stored as a directory entry. */
export function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && !LONE_SURROGATE.test(name) && Buffer.byteLength(name, 'utf8') <= NAME_MAX_BYTES;
}

/** `a/b` joined, normalised to a leading slash. */
export function joinPath(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + name;
}
