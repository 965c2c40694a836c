/**
 * Path handling of the namespace: paths are `/`-separated, relative to the namespace root
 * (a leading `/` is optional); `.` is skipped and `..` is resolved against the directories
 * actually walked (so `..` after a symlink goes to the link target's parent, as in POSIX).
 */
import { DfsError } from './errors.js';
import { NAME_MAX_BYTES } from './layout.js';

/** The components of `path` (`.` and empty ones dropped; `..` kept for the resolver). */
export function splitPath(path: string, syscall: string): string[] {
  if (typeof path !== 'string') throw new DfsError('EINVAL', syscall, String(path), undefined, 'path must be a string');
  if (path.length === 0) throw new DfsError('ENOENT', syscall, path);
  if (path.includes('\0')) throw new DfsError('EINVAL', syscall, path, undefined, 'path contains a NUL byte');
  const out: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (Buffer.byteLength(c, 'utf8') > NAME_MAX_BYTES) throw new DfsError('EINVAL', syscall, path, undefined, `a path component is longer than ${NAME_MAX_BYTES} bytes`);
    out.push(c);
  }
  return out;
}

/** Whether `name` may be stored as a directory entry. */
export function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && Buffer.byteLength(name, 'utf8') <= NAME_MAX_BYTES;
}

/** `a/b` joined, normalised to a leading slash. */
export function joinPath(dir: string, name: string): string {
  return (dir.endsWith('/') ? dir : dir + '/') + name;
}
