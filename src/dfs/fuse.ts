/**
 * A FUSE mount of a `Dfs` (what dfuse is to DAOS), through `fuse-native` (libfuse 2, an optional
 * dependency that needs Debian's `libfuse2` and `fuse` at run time). Requests arrive by path; each
 * is served by the `Dfs` API, and Cairn error codes become errnos (POSIX codes as themselves,
 * NO_SPACE as ENOSPC, anything else as EIO, logged once per code on stderr).
 *
 * Consistency: the kernel caches attributes and names for `attrTimeout`/`entryTimeout` seconds
 * (default 1); file data is not cached across opens, and every FLUSH (each close(2)) commits the
 * file's buffered writes, so a process that opens a file after another closed it reads its bytes.
 */
import { createRequire } from 'node:module';
import { CairnError } from '../../core/errors.js';
import type { Dfs } from './dfs.js';
import type { DfsFileHandle } from './file.js';
import type { DfsStats } from './stats.js';

/** Largest write request the mount asks the kernel for (libfuse 2 caps it at 128 KiB). */
export const FUSE_MAX_WRITE_BYTES = 128 * 1024;
/** Longest a single FUSE request may take before the binding answers ETIMEDOUT (ms). */
export const FUSE_REQUEST_TIMEOUT_MS = 120_000;

/** Options of `mountFuse`. */
export interface FuseMountOptions {
  /** Seconds the kernel may cache attributes and names (default 1). */
  attrTimeout?: number;
  /** Print every FUSE request (libfuse debug output on stderr). */
  debug?: boolean;
  /** Name shown in /proc/mounts (default `cairn`). */
  fsname?: string;
}

/** A mounted file system; `unmount()` detaches it (lazily, like `fusermount -uz`). */
export interface FuseMount {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

interface FuseNative {
  new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>): { mount(cb: (err: Error | null) => void): void; unmount(cb: (err: Error | null) => void): void };
  unmount(mnt: string, cb: (err: Error | null) => void): void;
  [errno: string]: unknown;
}

/** Load fuse-native, or fail with UNSUPPORTED saying what is missing. */
export function loadFuse(): FuseNative {
  try {
    return createRequire(import.meta.url)('fuse-native') as FuseNative;
  } catch (err) {
    throw new CairnError('UNSUPPORTED', `FUSE is not available here: ${(err as Error).message.split('\n')[0]} (npm install fuse-native, the optional peer dependency behind cairn mount; and Debian's libfuse2 and fuse: node scripts/ensure-fuse.mjs installs them as root)`, { cause: String(err) });
  }
}

/** Why FUSE mounts cannot work on this machine, or undefined when they can. */
export function fuseUnavailableReason(): string | undefined {
  try {
    loadFuse();
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/**
 * The errno a failure with Cairn code `code` answers through the mount: POSIX codes as
 * themselves, the Cairn codes that have a POSIX meaning as that (`NO_SPACE` ENOSPC, `READ_ONLY`
 * EROFS, `TIMEOUT` ETIMEDOUT, `OVERLOADED` and an exhausted `TX_RESTART` EAGAIN, ...), anything
 * else (data lost, corruption, a bug) EIO.
 */
export function errnoName(code: string): string {
  // (the table first: Cairn's EXISTS is not an errno, though it is spelled like one)
  return ERRNO_OF[code] ?? (/^E[A-Z]+$/.test(code) ? code : 'EIO');
}

const ERRNO_OF: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
  NO_SPACE: 'ENOSPC',
  INVALID_ARGUMENT: 'EINVAL', KEY_TOO_LARGE: 'EINVAL', VALUE_TOO_LARGE: 'EINVAL',
  READ_ONLY: 'EROFS',
  NOT_FOUND: 'ENOENT', EXISTS: 'EEXIST',
  TIMEOUT: 'ETIMEDOUT', NET_TIMEOUT: 'ETIMEDOUT',
  OVERLOADED: 'EAGAIN', TX_RESTART: 'EAGAIN',
  ABORTED: 'EINTR',
  UNSUPPORTED: 'EOPNOTSUPP',
  OUT_OF_MEMORY: 'ENOMEM',
  NET_UNREACHABLE: 'ENOTCONN', ETCD_UNREACHABLE: 'ENOTCONN',
  AUTH_FAILED: 'EACCES',
});

function toFuseStat(st: DfsStats): Record<string, unknown> {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, nlink: st.nlink, ino: st.ino,
    blksize: st.blksize, blocks: st.blocks, atime: st.atimeMs, mtime: st.mtimeMs, ctime: st.ctimeMs, dev: st.dev,
  };
}

/** Mount `dfs` at `mountpoint` (an existing empty directory); resolves once the kernel serves it. */
export async function mountFuse(dfs: Dfs, mountpoint: string, opts: FuseMountOptions = {}): Promise<FuseMount> {
  const Fuse = loadFuse();
  const reported = new Set<string>();
  const errno = (err: unknown): number => {
    const code = (err as { code?: string } | undefined)?.code ?? '';
    const name = errnoName(code);
    const posix = Fuse[name];
    if (name !== 'EIO' && typeof posix === 'number') return posix;
    if (!reported.has(code)) {
      reported.add(code);
      process.stderr.write(`cairn mount: ${code || 'error'}: ${(err as Error)?.message ?? String(err)} (answered EIO)\n`);
    }
    return Fuse.EIO as number;
  };
  const handles = new Map<number, DfsFileHandle>();
  const handle = (fd: number): DfsFileHandle => {
    const h = handles.get(fd);
    if (!h) throw Object.assign(new Error('unknown handle'), { code: 'EBADF' });
    return h;
  };
  // Each op: run an async body, answer 0 (or the value) or the errno.
  const op = <T>(cb: (code: number, value?: T) => void, body: () => Promise<T | undefined>, ok = 0) => {
    body().then((v) => cb(ok, v), (err) => cb(errno(err)));
  };

  const ops: Record<string, unknown> = {
    getattr: (path: string, cb: (c: number, st?: unknown) => void) => op(cb, async () => toFuseStat(await dfs.lstat(path))),
    fgetattr: (path: string, fd: number, cb: (c: number, st?: unknown) => void) => op(cb, async () => toFuseStat(await handle(fd).stat())),
    access: (_path: string, _mode: number, cb: (c: number) => void) => cb(0),
    statfs: (_path: string, cb: (c: number, st?: unknown) => void) => cb(0, { bsize: 4096, frsize: 4096, blocks: 1 << 30, bfree: 1 << 29, bavail: 1 << 29, files: 1 << 30, ffree: 1 << 29, favail: 1 << 29, fsid: dfs.dev, flag: 0, namemax: 255 }),
    readdir: (path: string, cb: (c: number, names?: string[]) => void) => op(cb, async () => dfs.readdir(path)),
    mkdir: (path: string, mode: number, cb: (c: number) => void) => op(cb, async () => { await dfs.mkdir(path, { mode: mode & 0o7777 }); }),
    rmdir: (path: string, cb: (c: number) => void) => op(cb, () => dfs.rmdir(path)),
    unlink: (path: string, cb: (c: number) => void) => op(cb, () => dfs.unlink(path)),
    rename: (from: string, to: string, cb: (c: number) => void) => op(cb, () => dfs.rename(from, to)),
    symlink: (target: string, path: string, cb: (c: number) => void) => op(cb, () => dfs.symlink(target, path)),
    readlink: (path: string, cb: (c: number, t?: string) => void) => op(cb, () => dfs.readlink(path)),
    chmod: (path: string, mode: number, cb: (c: number) => void) => op(cb, () => dfs.lchmod(path, mode & 0o7777)),
    chown: (path: string, uid: number, gid: number, cb: (c: number) => void) => op(cb, () => dfs.lchown(path, uid, gid)),
    // Paths reach us with symlinks already resolved by the kernel: attribute calls act on the
    // path itself (a symlink's own attributes when it is one).
    // fuse-native 2.2.6 passes the access time in both time arguments (its C glue repeats atime).
    utimens: (path: string, atime: number, mtime: number, cb: (c: number) => void) => op(cb, () => dfs.lutimes(path, new Date(atime), new Date(mtime))),
    truncate: (path: string, size: number, cb: (c: number) => void) => op(cb, () => dfs.truncate(path, size)),
    ftruncate: (_path: string, fd: number, size: number, cb: (c: number) => void) => op(cb, () => handle(fd).truncate(size)),
    open: (path: string, flags: number, cb: (c: number, fd?: number) => void) => op(cb, async () => {
      const h = await dfs.open(path, flags);
      handles.set(h.fd, h);
      return h.fd;
    }),
    create: (path: string, mode: number, cb: (c: number, fd?: number) => void) => op(cb, async () => {
      const h = await dfs.open(path, 0o102 /* O_CREAT | O_RDWR */, { mode: mode & 0o7777 });
      handles.set(h.fd, h);
      return h.fd;
    }),
    read: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
      handle0(fd, cb, async (h) => (await h.read(buf, 0, len, pos)).bytesRead);
    },
    write: (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void) => {
      handle0(fd, cb, async (h) => (await h.write(buf, 0, len, pos)).bytesWritten);
    },
    flush: (_path: string, fd: number, cb: (c: number) => void) => op(cb, () => handle(fd).sync()),
    fsync: (_path: string, _datasync: boolean, fd: number, cb: (c: number) => void) => op(cb, () => handle(fd).sync()),
    release: (_path: string, fd: number, cb: (c: number) => void) => op(cb, async () => {
      const h = handles.get(fd);
      handles.delete(fd);
      await h?.close();
    }),
  };
  // read/write answer a byte count, or a negative errno.
  function handle0(fd: number, cb: (n: number) => void, fn: (h: DfsFileHandle) => Promise<number>): void {
    let h: DfsFileHandle;
    try { h = handle(fd); } catch (err) { cb(errno(err)); return; }
    fn(h).then((n) => cb(n), (err) => cb(errno(err)));
  }

  const attr = opts.attrTimeout ?? 1;
  // fuse-native whitelists its -o options; `big_writes` (128 KiB write requests instead of 4 KiB)
  // rides along in the fsname value, which it appends to the option string unquoted.
  const fuse = new Fuse(mountpoint, ops, {
    force: true, mkdir: false, debug: opts.debug === true, timeout: FUSE_REQUEST_TIMEOUT_MS,
    fsname: `${opts.fsname ?? 'cairn'},big_writes,max_write=${FUSE_MAX_WRITE_BYTES}`,
    attrTimeout: attr, entryTimeout: attr, acAttrTimeout: attr,
  });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(new CairnError('IO_ERROR', `cannot mount FUSE at ${mountpoint}: ${err.message}`, { mountpoint })) : resolve())));
  let unmounted: Promise<void> | undefined;
  return {
    mountpoint,
    unmount: () => (unmounted ??= (async () => {
      await new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(new CairnError('IO_ERROR', `cannot unmount ${mountpoint}: ${err.message}`, { mountpoint })) : resolve())));
      for (const h of handles.values()) await h.close().catch(() => {});
      handles.clear();
    })()),
  };
}
