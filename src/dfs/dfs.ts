/**
 * `Dfs`: a POSIX namespace inside a container (DAOS's dfs), with an API that mirrors
 * `node:fs/promises`. Directories are objects whose dkeys are entry names; files are objects whose
 * dkeys are chunks of the file's bytes, so large files spread over the pool and are striped or
 * erasure-coded by the object class. Every namespace change is one transaction (a rename moves an
 * entry atomically, also between directories); docs/dfs.md describes the layout.
 *
 * Consistency: the mutations of one `Dfs` are serialised (one transaction at a time), so every
 * read of this `Dfs` sees every change it made before. Other `Dfs` instances on the same container
 * (other clients of a connected pool) see committed state; their conflicting changes make a
 * transaction restart (`TX_RESTART`), which `Dfs` retries.
 */
import { randomUUID } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { OBJECT_CLASS_NAMES } from '../../placement/index.js';
import type { Container, Transaction } from '../index.js';
import { DfsError } from './errors.js';
import { Mutex } from './mutex.js';
import { optionsOf, modeOf, offsetOf } from './args.js';
import { splitPath, validName, joinPath, checkPath, endsAsDir } from './path.js';
import {
  CHUNK_AKEY, DEFAULT_CHUNK_BYTES, DIRENT_AKEY, INODE_AKEY, INODE_DKEY, MAX_CHUNK_BYTES, MIN_CHUNK_BYTES, NodeType, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
  SUPERBLOCK_AKEY, SUPERBLOCK_DKEY, SUPERBLOCK_OBJECT,
  chunkKey, decodeDirent, decodeSuperblock, encodeDirent, encodeInode, encodeSuperblock, nowNs,
  type Dirent, type Inode, type Superblock,
} from './layout.js';
import { DfsStats, DfsDirent } from './stats.js';
import { DfsFileHandle, FileNode, fetchInode, parseFlags } from './file.js';

/** Symbolic links followed while resolving one path before ELOOP (Linux's MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;
/** The option names of `Dfs.mount`. */
const MOUNT_OPTIONS = ['chunkSize', 'dirClass', 'fileClass', 'uid', 'gid', 'umask', 'writeBackBytes', 'create'] as const;
/** The option names that shape a new file (`open`, `writeFile`, `appendFile`, `createWriteStream`). */
const CREATE_OPTIONS = ['mode', 'chunkSize'] as const;

/** Attempts of a namespace transaction that meets concurrent changes (`TX_RESTART`). */
export const MAX_TX_ATTEMPTS = 32;
/** Default write-back buffer of an open file (bytes). */
export const DEFAULT_WRITE_BACK_BYTES = 4 * 1024 * 1024;
/** Dirents fetched ahead while listing a directory with file types. */
export const DEFAULT_DIR_PREFETCH = 64;
/** Entries of one `readdirPage` unless the caller asks for another number. */
export const DEFAULT_DIR_PAGE = 1000;

/** Options of `Dfs.mount`. */
export interface DfsMountOptions {
  /** Default bytes per file chunk for a new namespace (default 1 MiB; 4 KiB..64 MiB). */
  chunkSize?: number;
  /** Object class of new directories (default: the container's). */
  dirClass?: string;
  /** Object class of new files (default: the container's). */
  fileClass?: string;
  /** Owner of new entries (default: this process's uid/gid, 0 where unknown). */
  uid?: number;
  gid?: number;
  /** Permission bits cleared from the mode of new entries (default 0o022). */
  umask?: number;
  /** Write-back buffer per open file (default 4 MiB). */
  writeBackBytes?: number;
  /** Create the namespace when the container has none (default true). */
  create?: boolean;
}

/** Options of `open`, `writeFile` and `createWriteStream` that shape a new file. */
export interface DfsCreateOptions {
  /** Permission bits of a created file (default 0o666, less the umask). */
  mode?: number;
  /** Bytes per chunk of a created file (default: the namespace's). */
  chunkSize?: number;
}

/** Where a path led. `parent`/`name` are undefined for the root (and paths ending in `..`). */
interface Resolved {
  parent?: bigint;
  name?: string;
  /** The entry, or undefined when the last component is missing (with `allowMissing`). */
  dirent?: Dirent;
  /** Directory objects walked from the root down to `parent` (for loop checks in rename). */
  ancestors: bigint[];
  /** The path ends in `/` (or `/.`): it names a directory (POSIX), checked where it matters. */
  mustBeDir: boolean;
}

const errCode = (err: unknown): string | undefined => (err as { code?: string } | undefined)?.code;
const isRestart = (err: unknown): boolean => errCode(err) === 'TX_RESTART';

/** Times are stored as signed 64-bit nanoseconds (about 1677..2262). */
const MIN_TIME_NS = -(2n ** 63n), MAX_TIME_NS = 2n ** 63n - 1n;

function toNs(t: number | string | Date | bigint, syscall: string, path: string): bigint {
  let ns: bigint;
  if (typeof t === 'bigint') ns = t;
  else if (t instanceof Date) {
    const ms = t.getTime();
    if (!Number.isFinite(ms)) throw new DfsError('EINVAL', syscall, path, undefined, 'invalid time: an invalid Date');
    ns = BigInt(ms) * 1_000_000n;
  } else {
    const n = typeof t === 'string' ? Number(t) : t;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new DfsError('EINVAL', syscall, path, undefined, `invalid time ${String(t)}`);
    ns = BigInt(Math.round(n * 1e6)) * 1000n; // seconds, as node:fs takes them
  }
  // (an inode field would keep the low 64 bits only: a time far out of range stored wrapped)
  if (ns < MIN_TIME_NS || ns > MAX_TIME_NS) throw new DfsError('EINVAL', syscall, path, undefined, `time ${String(t)} is outside the 64-bit nanosecond range (years 1677..2262)`);
  return ns;
}

/**
 * A mounted POSIX namespace. Obtain one with `Dfs.mount(container)`. (It serves its open files as
 * their `FileHost` structurally, not through `implements`: the host members are marked internal,
 * so the shipped declarations, which strip them, must not claim the interface. A doc comment
 * that names the internal tag itself is stripped whole, with what it documents.)
 */
export class Dfs {
  /** @internal */ readonly writeBackBytes: number;
  /** @internal */ readonly dev: number;
  private readonly ns = new Mutex();
  private readonly nodes = new Map<bigint, FileNode>();
  private readonly uid: number;
  private readonly gid: number;
  private readonly umask: number;
  private readonly dirClass?: string;
  private readonly fileClass?: string;
  private nextFd = 3;
  private closed = false;

  private constructor(readonly cont: Container, private readonly sb: Superblock, opts: DfsMountOptions) {
    this.writeBackBytes = opts.writeBackBytes ?? DEFAULT_WRITE_BACK_BYTES;
    this.uid = opts.uid ?? process.getuid?.() ?? 0;
    this.gid = opts.gid ?? process.getgid?.() ?? 0;
    this.umask = opts.umask ?? 0o022;
    this.dirClass = opts.dirClass;
    this.fileClass = opts.fileClass;
    this.dev = parseInt(cont.uuid.replace(/-/g, '').slice(0, 8), 16) || 1;
  }

  /**
   * Mount the namespace of `container`, creating it (superblock and root directory) on first use.
   * Several processes may mount one container of a connected pool; creation races are settled by
   * the superblock transaction.
   */
  static async mount(container: Container, options: DfsMountOptions = {}): Promise<Dfs> {
    const opts = optionsOf<DfsMountOptions>(options, MOUNT_OPTIONS, 'mount');
    for (const k of ['dirClass', 'fileClass'] as const) {
      if (opts[k] !== undefined && typeof opts[k] !== 'string') throw new DfsError('EINVAL', 'mount', undefined, undefined, `${k} must be an object class name`);
    }
    if (opts.create !== undefined && typeof opts.create !== 'boolean') throw new DfsError('EINVAL', 'mount', undefined, undefined, 'create must be a boolean');
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_BYTES;
    checkChunkSize(chunkSize, 'mount');
    const wb = opts.writeBackBytes ?? DEFAULT_WRITE_BACK_BYTES;
    if (!Number.isSafeInteger(wb) || wb < 1) throw new DfsError('EINVAL', 'mount', undefined, undefined, 'writeBackBytes must be a positive integer');
    for (const k of ['uid', 'gid', 'umask'] as const) {
      const v = opts[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) throw new DfsError('EINVAL', 'mount', undefined, undefined, `${k} must be a 32-bit unsigned integer`);
    }
    const sbClass = superblockClass(container.props.oclass);
    const sbObj = container.object(SUPERBLOCK_OBJECT, sbClass ? { oclass: sbClass } : {});
    let raw = await sbObj.fetch(SUPERBLOCK_DKEY, SUPERBLOCK_AKEY);
    if (!raw) {
      if (opts.create === false) throw new DfsError('ENOENT', 'mount', container.label, undefined, 'the container holds no POSIX namespace');
      const now = nowNs();
      for (let attempt = 1; ; attempt++) {
        const tx = container.beginTx();
        try {
          const o = tx.object(sbObj.oid);
          raw = await o.fetch(SUPERBLOCK_DKEY, SUPERBLOCK_AKEY);
          if (raw) { await tx.abort(); break; }
          const rootOid = container.object(`dfs.dir.${randomUUID()}`, opts.dirClass ? { oclass: opts.dirClass } : {}).oid;
          const umask = opts.umask ?? 0o022;
          const root: Inode = { type: NodeType.Dir, mode: S_IFDIR | (0o777 & ~umask), uid: opts.uid ?? process.getuid?.() ?? 0, gid: opts.gid ?? process.getgid?.() ?? 0, size: 0, atimeNs: now, mtimeNs: now, ctimeNs: now, birthtimeNs: now, chunkSize: 0 };
          await tx.object(rootOid).update(INODE_DKEY, INODE_AKEY, encodeInode(root));
          raw = encodeSuperblock({ rootOid, chunkSize, createdNs: now });
          await o.update(SUPERBLOCK_DKEY, SUPERBLOCK_AKEY, raw);
          await tx.commit();
          break;
        } catch (err) {
          await tx.abort();
          if (!isRestart(err) || attempt >= MAX_TX_ATTEMPTS) throw err;
        }
      }
    }
    return new Dfs(container, decodeSuperblock(raw), opts);
  }

  /** @internal whether `close()` was called (open handles then refuse I/O with EBADF). */
  get unmounted(): boolean { return this.closed; }

  /** The object id of the root directory. */
  get rootOid(): bigint { return this.sb.rootOid; }

  /** Default bytes per chunk of new files. */
  get chunkSize(): number { return this.sb.chunkSize; }

  // ------------------------------------------------------------------ plumbing

  private checkOpen(syscall: string, path?: string): void {
    if (this.closed) throw new DfsError('EBADF', syscall, path, undefined, 'the namespace was unmounted');
  }

  /**
   * @internal run `fn` in a transaction, serialised with every other mutation of this Dfs and
   * retried (a fresh transaction) when a concurrent client's commit conflicts with it.
   */
  transact<T>(syscall: string, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.ns.run(() => this.transactLocked(syscall, fn));
  }

  private async transactLocked<T>(_syscall: string, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const tx = this.cont.beginTx();
      try {
        const r = await fn(tx);
        await tx.commit();
        return r;
      } catch (err) {
        await tx.abort();
        if (!isRestart(err) || attempt >= MAX_TX_ATTEMPTS) throw err;
        // Another client committed over what we read: back off a little (randomised) and redo.
        await new Promise((r) => setTimeout(r, Math.min(100, attempt * attempt) * Math.random()));
      }
    }
  }

  /** The dirent `name` in directory `dir` (inside a transaction when `tx` is given). */
  private async lookup(dir: bigint, name: string, tx?: Transaction): Promise<Dirent | undefined> {
    const o = tx ? tx.object(dir) : this.cont.object(dir);
    const raw = await o.fetch(name, DIRENT_AKEY);
    return raw ? decodeDirent(raw) : undefined;
  }

  /** Resolve `path`: symlinks in the middle always followed, the last one when `follow`. */
  private async resolve(path: string, syscall: string, opts: { follow: boolean; allowMissing?: boolean; slashFollows?: boolean }): Promise<Resolved> {
    const queue = splitPath(path, syscall);
    // A trailing slash names a directory: a final symlink is followed by the lookups (lstat and
    // readlink: `slashFollows`), refused by unlink, rmdir and rename (ENOTDIR), as on Linux; a
    // final file is ENOTDIR.
    const mustBeDir = endsAsDir(path);
    const root = this.sb.rootOid;
    let stack: bigint[] = [root];
    let cur: Dirent = { type: NodeType.Dir, oid: root };
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (cur.type !== NodeType.Dir) throw new DfsError('ENOTDIR', syscall, path);
      if (c === '..') {
        if (stack.length > 1) stack.pop();
        cur = { type: NodeType.Dir, oid: stack[stack.length - 1]! };
        continue;
      }
      const dir = stack[stack.length - 1]!;
      const d = await this.lookup(dir, c);
      const final = queue.length === 0;
      if (!d) {
        if (final && opts.allowMissing) return { parent: dir, name: c, ancestors: stack, mustBeDir };
        throw new DfsError('ENOENT', syscall, path);
      }
      if (d.type === NodeType.Symlink && (!final || opts.follow || (mustBeDir && opts.slashFollows))) {
        if (++hops > MAX_SYMLINK_HOPS) throw new DfsError('ELOOP', syscall, path);
        const target = d.target ?? '';
        if (target.startsWith('/')) { stack = [root]; cur = { type: NodeType.Dir, oid: root }; }
        queue.unshift(...splitPath(target, syscall));
        continue;
      }
      if (final) {
        // (calls that create, or rename, check `mustBeDir` themselves: their own codes, in their order)
        if (mustBeDir && d.type !== NodeType.Dir && !opts.allowMissing) throw new DfsError('ENOTDIR', syscall, path);
        return { parent: dir, name: c, dirent: d, ancestors: stack, mustBeDir };
      }
      if (d.type === NodeType.Dir) stack = [...stack, d.oid];
      cur = d;
    }
    // The path ended at a directory reached by `..`, a symlink to a directory, or the root.
    return { dirent: cur, ancestors: stack.slice(0, -1), mustBeDir };
  }

  /** The inode of a dirent: a symlink's own, else its object's (or the open node's, with buffered writes). */
  private async inodeOf(d: Dirent, syscall: string, path: string): Promise<DfsStats> {
    if (d.type === NodeType.Symlink) return new DfsStats(d.inode!, 0n, this.dev);
    const node = this.nodes.get(d.oid);
    if (node && node.refs > 0) { await node.ready; return node.stat(); }
    return new DfsStats(await fetchInode(this.cont.object(d.oid), syscall, path), d.oid, this.dev);
  }

  private newInode(type: NodeType, perm: number, chunkSize: number, size = 0): Inode {
    const now = nowNs();
    const bits = type === NodeType.Dir ? S_IFDIR : type === NodeType.Symlink ? S_IFLNK : S_IFREG;
    const mode = bits | (type === NodeType.Symlink ? 0o777 : perm & 0o7777 & ~this.umask);
    return { type, mode, uid: this.uid, gid: this.gid, size, atimeNs: now, mtimeNs: now, ctimeNs: now, birthtimeNs: now, chunkSize };
  }

  /**
   * Inside a transaction: check that `dir` (resolved before) still exists as a directory, and that
   * `name` is free; both reads make concurrent removals of the directory or creations of the name
   * conflict with this transaction.
   */
  private async checkFree(tx: Transaction, dir: bigint, name: string, syscall: string, path: string): Promise<void> {
    const parent = await tx.object(dir).fetch(INODE_DKEY, INODE_AKEY);
    if (!parent) throw new DfsError('ENOENT', syscall, path);
    if (await this.lookup(dir, name, tx)) throw new DfsError('EEXIST', syscall, path);
  }

  /** Punch the object of a removed file or directory now, or at the last close of an open file. */
  private async dropObject(tx: Transaction, d: Dirent): Promise<void> {
    if (d.type === NodeType.Symlink) return;
    const node = this.nodes.get(d.oid);
    if (node) { node.unlinked = true; return; }
    await tx.object(d.oid).punch();
  }

  /** @internal the last handle on `node` closed. */
  async releaseNode(node: FileNode): Promise<void> {
    if (--node.refs > 0) return;
    if (this.nodes.get(node.oid) === node) this.nodes.delete(node.oid);
    if (node.unlinked) await this.transact('close', async (tx) => { await tx.object(node.oid).punch(); });
  }

  /** The shared node of an open file object (loaded from the store when first opened). */
  private async acquireNode(oid: bigint, syscall: string, path: string): Promise<FileNode> {
    let node = this.nodes.get(oid);
    const shared = node !== undefined;
    if (!node) {
      node = new FileNode(this, oid);
      this.nodes.set(oid, node);
      node.ready = node.load(syscall, path);
    }
    node.refs++;
    try {
      await node.ready;
      // (an open node's inode may be older than another client's commit: re-read it, as a first open does)
      if (shared) await node.refresh(syscall, path);
    } catch (err) {
      await this.releaseNode(node);
      throw err;
    }
    return node;
  }

  // ------------------------------------------------------------------ attributes

  /** Attributes of `path` (symlinks followed). */
  async stat(path: string): Promise<DfsStats> {
    this.checkOpen('stat', path);
    const r = await this.resolve(path, 'stat', { follow: true });
    return this.inodeOf(r.dirent!, 'stat', path);
  }

  /** Attributes of `path` itself (a final symlink is not followed). */
  async lstat(path: string): Promise<DfsStats> {
    this.checkOpen('lstat', path);
    const r = await this.resolve(path, 'lstat', { follow: false, slashFollows: true });
    return this.inodeOf(r.dirent!, 'lstat', path);
  }

  /** Resolves when `path` exists (ENOENT otherwise); permission bits are not enforced. */
  async access(path: string): Promise<void> { await this.stat(path); }

  /**
   * Change the attributes of what `path` leads to (with `follow`), or of `path` itself: a
   * symlink's attributes live in its dirent, which is rewritten in a transaction.
   */
  private async setAttrs(path: string, syscall: string, fn: (i: Inode) => void, follow = true): Promise<void> {
    this.checkOpen(syscall, path);
    const r = await this.resolve(path, syscall, { follow });
    const d = r.dirent!;
    if (d.type === NodeType.Symlink) {
      await this.transact(syscall, async (tx) => {
        const cur = await this.lookup(r.parent!, r.name!, tx);
        if (!cur || cur.type !== NodeType.Symlink) throw new DfsError('ENOENT', syscall, path);
        fn(cur.inode!);
        cur.inode!.mode = S_IFLNK | (cur.inode!.mode & 0o7777);
        await tx.object(r.parent!).update(r.name!, DIRENT_AKEY, encodeDirent(cur));
      });
      return;
    }
    const node = this.nodes.get(d.oid);
    if (node && node.refs > 0) { await node.ready; await node.setAttrs(syscall, fn); return; }
    await this.transact(syscall, async (tx) => {
      const o = tx.object(d.oid);
      const inode = await fetchInode(o, syscall, path);
      fn(inode);
      await o.update(INODE_DKEY, INODE_AKEY, encodeInode(inode));
    });
  }

  /** Change the permission bits of `path`. */
  async chmod(path: string, mode: number | string): Promise<void> {
    const m = modeOf(mode, 0, 'chmod', path); // (a string must be all octal digits: parseInt made '0o755' mode 000)
    await this.setAttrs(path, 'chmod', (i) => { i.mode = (i.mode & S_IFMT) | m; i.ctimeNs = nowNs(); });
  }

  /** Change the owner of `path` (-1 keeps a value); symlinks are followed. */
  async chown(path: string, uid: number, gid: number): Promise<void> { await this.setOwner(path, uid, gid, true, 'chown'); }

  /** Change the owner of `path` itself (a symlink's own owner). */
  async lchown(path: string, uid: number, gid: number): Promise<void> { await this.setOwner(path, uid, gid, false, 'lchown'); }

  private async setOwner(path: string, uid: number, gid: number, follow: boolean, syscall: string): Promise<void> {
    for (const v of [uid, gid]) if (!Number.isInteger(v) || v < -1 || v > 0xffffffff) throw new DfsError('EINVAL', syscall, path, undefined, 'uid and gid must be 32-bit integers');
    await this.setAttrs(path, syscall, (i) => {
      if (uid !== -1 && uid !== 0xffffffff) i.uid = uid;
      if (gid !== -1 && gid !== 0xffffffff) i.gid = gid;
      i.ctimeNs = nowNs();
    }, follow);
  }

  /** Set access and modification times (seconds as numbers or strings, Dates, or bigint nanoseconds). */
  async utimes(path: string, atime: number | string | Date | bigint, mtime: number | string | Date | bigint): Promise<void> {
    const a = toNs(atime, 'utime', path), m = toNs(mtime, 'utime', path);
    await this.setAttrs(path, 'utime', (i) => { i.atimeNs = a; i.mtimeNs = m; i.ctimeNs = nowNs(); });
  }

  /** `utimes` of `path` itself (a symlink's own times). */
  async lutimes(path: string, atime: number | string | Date | bigint, mtime: number | string | Date | bigint): Promise<void> {
    const a = toNs(atime, 'lutime', path), m = toNs(mtime, 'lutime', path);
    await this.setAttrs(path, 'lutime', (i) => { i.atimeNs = a; i.mtimeNs = m; i.ctimeNs = nowNs(); }, false);
  }

  /** @internal chmod without following a final symlink (FUSE: the kernel already resolved links). */
  async lchmod(path: string, mode: number): Promise<void> {
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new DfsError('EINVAL', 'lchmod', path, undefined, `invalid mode ${String(mode)}`);
    await this.setAttrs(path, 'lchmod', (i) => { i.mode = (i.mode & S_IFMT) | mode; i.ctimeNs = nowNs(); }, false);
  }

  // ------------------------------------------------------------------ directories

  /**
   * Create a directory. With `recursive`, create missing parents too and resolve to the first
   * directory created (undefined when it already existed), as node:fs does.
   */
  async mkdir(path: string, opts: { recursive?: boolean; mode?: number } | number = {}): Promise<string | undefined> {
    this.checkOpen('mkdir', path);
    const o = typeof opts === 'number' || typeof opts === 'string' ? { mode: opts } : optionsOf<{ recursive: boolean; mode: number }>(opts, ['recursive', 'mode'], 'mkdir', path);
    const mode = modeOf(o.mode, 0o777, 'mkdir', path);
    if (!o.recursive) { await this.mkdirOne(path, mode); return undefined; }
    const comps = splitPath(path, 'mkdir');
    let first: string | undefined;
    for (let i = 1; i <= comps.length; i++) {
      const sub = '/' + comps.slice(0, i).join('/');
      try {
        await this.mkdirOne(sub, mode);
        first ??= sub;
      } catch (err) {
        if (errCode(err) !== 'EEXIST') throw err;
        const st = await this.stat(sub).catch(() => undefined);
        if (!st?.isDirectory()) throw new DfsError(i === comps.length ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
      }
    }
    return first;
  }

  private async mkdirOne(path: string, mode: number): Promise<void> {
    await this.ns.run(async () => {
      const r = await this.resolve(path, 'mkdir', { follow: false, allowMissing: true });
      if (r.dirent || r.name === undefined) throw new DfsError('EEXIST', 'mkdir', path);
      const oid = this.cont.object(`dfs.dir.${randomUUID()}`, this.dirClass ? { oclass: this.dirClass } : {}).oid;
      await this.transactLocked('mkdir', async (tx) => {
        await this.checkFree(tx, r.parent!, r.name!, 'mkdir', path);
        await tx.object(oid).update(INODE_DKEY, INODE_AKEY, encodeInode(this.newInode(NodeType.Dir, mode, 0)));
        await tx.object(r.parent!).update(r.name!, DIRENT_AKEY, encodeDirent({ type: NodeType.Dir, oid }));
      });
    });
  }

  /**
   * Open a directory for lazy listing, like `fs.promises.opendir`: entries come in byte order of
   * their UTF-8 names, fetched in pages from the directory object's ordered dkey listing, so a
   * directory of millions of entries is never held in memory. The listing reads one consistent
   * version of the directory (the stable epoch when it starts).
   */
  async opendir(path: string, options: { bufferSize?: number } = {}): Promise<DfsDir> {
    this.checkOpen('opendir', path);
    const opts = optionsOf<{ bufferSize: number }>(options, ['bufferSize'], 'opendir', path);
    const r = await this.resolve(path, 'opendir', { follow: true });
    if (r.dirent!.type !== NodeType.Dir) throw new DfsError('ENOTDIR', 'opendir', path);
    const bufferSize = opts.bufferSize ?? DEFAULT_DIR_PREFETCH;
    if (!Number.isInteger(bufferSize) || bufferSize < 1) throw new DfsError('EINVAL', 'opendir', path, undefined, 'bufferSize must be a positive integer');
    return new DfsDir(this.cont, r.dirent!.oid, path, bufferSize);
  }

  /** Entry names of a directory in byte order of their UTF-8 names (or `DfsDirent`s with `withFileTypes`). */
  async readdir(path: string, opts?: { withFileTypes?: false }): Promise<string[]>;
  async readdir(path: string, opts: { withFileTypes: true }): Promise<DfsDirent[]>;
  async readdir(path: string, options: { withFileTypes?: boolean } = {}): Promise<string[] | DfsDirent[]> {
    this.checkOpen('readdir', path);
    const opts = optionsOf<{ withFileTypes: boolean }>(options, ['withFileTypes'], 'readdir', path);
    const dir = await this.opendir(path);
    if (opts.withFileTypes) {
      const out: DfsDirent[] = [];
      for await (const e of dir) out.push(e);
      return out;
    }
    const names: string[] = [];
    for await (const n of dir.names()) names.push(n);
    return names;
  }

  /**
   * One page of a directory: at most `limit` (default 1,000) entries after the name `after`
   * (from the start without it), in byte order of their UTF-8 names, read by a range scan of the
   * directory object; `next` is the cursor of the following page, given when this page is full (the
   * next may then be empty). Pages
   * may be fetched by different calls or processes; each reads the directory as it is then.
   */
  async readdirPage(path: string, options: { after?: string; limit?: number; withFileTypes?: boolean } = {}): Promise<{ entries: Array<string | DfsDirent>; next?: string }> {
    this.checkOpen('readdir', path);
    const opts = optionsOf<{ after: string; limit: number; withFileTypes: boolean }>(options, ['after', 'limit', 'withFileTypes'], 'readdir', path);
    const limit = opts.limit ?? DEFAULT_DIR_PAGE;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new DfsError('EINVAL', 'readdir', path, undefined, 'limit must be a positive integer');
    if (opts.after !== undefined && (typeof opts.after !== 'string' || !validName(opts.after))) throw new DfsError('EINVAL', 'readdir', path, undefined, 'after must be an entry name');
    const r = await this.resolve(path, 'readdir', { follow: true });
    if (r.dirent!.type !== NodeType.Dir) throw new DfsError('ENOTDIR', 'readdir', path);
    const dir = new DfsDir(this.cont, r.dirent!.oid, path, Math.min(limit, DEFAULT_DIR_PREFETCH), opts.after);
    const entries: Array<string | DfsDirent> = [];
    try {
      if (opts.withFileTypes) {
        while (entries.length < limit) {
          const e = await dir.read();
          if (!e) break;
          entries.push(e);
        }
      } else {
        for await (const n of dir.names()) {
          entries.push(n);
          if (entries.length >= limit) break;
        }
      }
    } finally {
      await dir.close();
    }
    const last = entries[entries.length - 1];
    return entries.length < limit || last === undefined ? { entries } : { entries, next: typeof last === 'string' ? last : last.name };
  }

  /** Remove an empty directory. */
  async rmdir(path: string): Promise<void> {
    this.checkOpen('rmdir', path);
    await this.ns.run(async () => {
      const r = await this.resolve(path, 'rmdir', { follow: false });
      if (r.name === undefined) throw new DfsError('EINVAL', 'rmdir', path, undefined, 'cannot remove the root or a path ending in ..');
      if (r.dirent!.type !== NodeType.Dir) throw new DfsError('ENOTDIR', 'rmdir', path);
      await this.transactLocked('rmdir', async (tx) => {
        const d = await this.lookup(r.parent!, r.name!, tx);
        if (!d) throw new DfsError('ENOENT', 'rmdir', path);
        if (d.type !== NodeType.Dir) throw new DfsError('ENOTDIR', 'rmdir', path);
        if (!(await isEmptyDir(this.cont, d.oid))) throw new DfsError('ENOTEMPTY', 'rmdir', path);
        await tx.object(d.oid).fetch(INODE_DKEY, INODE_AKEY); // a concurrent create in it conflicts
        await tx.object(r.parent!).punchDkey(r.name!);
        await tx.object(d.oid).punch();
      });
    });
  }

  /** Remove a file or symlink (EISDIR for a directory). Open handles keep working until closed. */
  async unlink(path: string): Promise<void> {
    this.checkOpen('unlink', path);
    await this.ns.run(async () => {
      const r = await this.resolve(path, 'unlink', { follow: false });
      if (r.name === undefined || r.dirent!.type === NodeType.Dir) throw new DfsError('EISDIR', 'unlink', path);
      await this.transactLocked('unlink', async (tx) => {
        const d = await this.lookup(r.parent!, r.name!, tx);
        if (!d) throw new DfsError('ENOENT', 'unlink', path);
        if (d.type === NodeType.Dir) throw new DfsError('EISDIR', 'unlink', path);
        await tx.object(r.parent!).punchDkey(r.name!);
        await this.dropObject(tx, d);
      });
    });
  }

  /**
   * Remove `path`; directories need `recursive` (their contents are removed depth first, each
   * entry in its own transaction, listing lazily). With `force`, a missing path is no error.
   */
  async rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    this.checkOpen('rm', path);
    const opts = optionsOf<{ recursive: boolean; force: boolean }>(options, ['recursive', 'force'], 'rm', path);
    let st: DfsStats;
    try {
      st = await this.lstat(path);
    } catch (err) {
      if (opts.force && errCode(err) === 'ENOENT') return;
      throw err;
    }
    if (!st.isDirectory()) { await this.unlink(path); return; }
    if (!opts.recursive) throw new DfsError('EISDIR', 'rm', path, undefined, 'is a directory (use recursive)');
    // The root (or a path ending in ..) cannot be removed: refuse before emptying it, not after
    // (rm -r / removed every entry, then failed on the root's rmdir).
    if ((await this.resolve(path, 'rm', { follow: false })).name === undefined) throw new DfsError('EINVAL', 'rm', path, undefined, 'cannot remove the root or a path ending in ..');
    await this.removeTree(path);
  }

  private async removeTree(path: string): Promise<void> {
    const dir = await this.opendir(path);
    for await (const e of dir) {
      const child = joinPath(path, e.name);
      if (e.isDirectory()) await this.removeTree(child);
      else await this.unlink(child).catch((err) => { if (errCode(err) !== 'ENOENT') throw err; });
    }
    await this.rmdir(path);
  }

  /**
   * Rename `from` to `to` in one transaction: across directories, of directories with everything
   * in them, replacing an existing file (or an empty directory, when `from` is one) at `to`.
   */
  async rename(from: string, to: string): Promise<void> {
    this.checkOpen('rename', from);
    // Each attempt resolves both paths again: after a concurrent client's commit made this one
    // restart, the tree it checked (the destination's ancestors) may have changed.
    await this.transact('rename', async (tx) => {
      // Both parents are resolved before the source entry is looked up (a missing source under a
      // destination that cannot exist is ENOTDIR/ENOENT of the destination, as rename(2) reports).
      const asRename = (err: unknown): never => {
        throw errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR' ? new DfsError(errCode(err) as 'ENOENT', 'rename', from, to) : err;
      };
      const src = await this.resolve(from, 'rename', { follow: false, allowMissing: true }).catch(asRename);
      const dst = await this.resolve(to, 'rename', { follow: false, allowMissing: true }).catch(asRename);
      if (!src.dirent && src.name !== undefined) throw new DfsError('ENOENT', 'rename', from, to);
      if (src.name === undefined || dst.name === undefined) throw new DfsError('EINVAL', 'rename', from, to, 'cannot rename the root or a path ending in ..');
      const moving = src.dirent!;
      if ((src.mustBeDir || dst.mustBeDir) && moving.type !== NodeType.Dir) throw new DfsError('ENOTDIR', 'rename', from, to);
      if (src.parent === dst.parent && src.name === dst.name) return;
      if (moving.type === NodeType.Dir && (dst.ancestors.includes(moving.oid) || dst.parent === moving.oid)) {
        throw new DfsError('EINVAL', 'rename', from, to, 'cannot move a directory into itself');
      }
      const s = await this.lookup(src.parent!, src.name!, tx);
      if (!s) throw new DfsError('ENOENT', 'rename', from, to);
      if (s.type === NodeType.Dir) {
        // The loop check above holds only while no ancestor of the destination moves: read their
        // inodes in the transaction and write the moved directory's (its ctime), so two clients
        // moving directories into each other at once conflict (TX_RESTART) instead of both
        // committing a cycle that cuts both off from the root.
        for (const a of dst.ancestors) await tx.object(a).fetch(INODE_DKEY, INODE_AKEY);
        const ino = await fetchInode(tx.object(s.oid), 'rename', from);
        ino.ctimeNs = nowNs();
        await tx.object(s.oid).update(INODE_DKEY, INODE_AKEY, encodeInode(ino));
      }
      const parent = await tx.object(dst.parent!).fetch(INODE_DKEY, INODE_AKEY);
      if (!parent) throw new DfsError('ENOENT', 'rename', from, to);
      const old = await this.lookup(dst.parent!, dst.name!, tx);
      if (old) {
        if (old.type === NodeType.Dir && s.type !== NodeType.Dir) throw new DfsError('EISDIR', 'rename', from, to);
        if (old.type !== NodeType.Dir && s.type === NodeType.Dir) throw new DfsError('ENOTDIR', 'rename', from, to);
        if (old.type === NodeType.Dir) {
          if (!(await isEmptyDir(this.cont, old.oid))) throw new DfsError('ENOTEMPTY', 'rename', from, to);
          await tx.object(old.oid).fetch(INODE_DKEY, INODE_AKEY);
        }
      }
      await tx.object(dst.parent!).update(dst.name!, DIRENT_AKEY, encodeDirent(s));
      await tx.object(src.parent!).punchDkey(src.name!);
      if (old && !(old.type !== NodeType.Symlink && old.oid === s.oid)) await this.dropObject(tx, old);
    });
  }

  // ------------------------------------------------------------------ symlinks

  /** Create a symbolic link at `path` pointing to `target` (stored as given, not checked). */
  async symlink(target: string, path: string): Promise<void> {
    this.checkOpen('symlink', path);
    if (target === '') throw new DfsError('EINVAL', 'symlink', target, path, 'target must be a non-empty string');
    checkPath(target, 'symlink', 'target');
    const bytes = Buffer.byteLength(target, 'utf8');
    await this.ns.run(async () => {
      const r = await this.resolve(path, 'symlink', { follow: false, allowMissing: true });
      if (r.dirent || r.name === undefined) throw new DfsError('EEXIST', 'symlink', target, path);
      if (r.mustBeDir) throw new DfsError('ENOENT', 'symlink', target, path, 'a symbolic link cannot be created at a path ending in /');
      await this.transactLocked('symlink', async (tx) => {
        await this.checkFree(tx, r.parent!, r.name!, 'symlink', path);
        const inode = this.newInode(NodeType.Symlink, 0o777, 0, bytes);
        await tx.object(r.parent!).update(r.name!, DIRENT_AKEY, encodeDirent({ type: NodeType.Symlink, oid: 0n, inode, target }));
      });
    });
  }

  /** The target of the symbolic link `path` (EINVAL when it is not one). */
  async readlink(path: string): Promise<string> {
    this.checkOpen('readlink', path);
    const r = await this.resolve(path, 'readlink', { follow: false, slashFollows: true });
    if (r.dirent!.type !== NodeType.Symlink) throw new DfsError('EINVAL', 'readlink', path);
    return r.dirent!.target!;
  }

  // ------------------------------------------------------------------ files

  /**
   * Open a file like `fs.promises.open`: flags `'r'`, `'r+'`, `'w'`, `'w+'`, `'wx'`, `'a'`,
   * `'a+'`, `'ax'`, ... or O_* bits (Linux values). Resolves to a `DfsFileHandle`.
   */
  async open(path: string, flags: string | number = 'r', mode?: number | DfsCreateOptions): Promise<DfsFileHandle> {
    this.checkOpen('open', path);
    const fm = parseFlags(flags, path);
    const copts = createOptions(mode, 'open', path);
    const chunkSize = copts.chunkSize ?? this.sb.chunkSize;
    checkChunkSize(chunkSize, 'open', path);
    let oid: bigint;
    if (fm.create) {
      oid = await this.ns.run(async () => {
        const r = await this.resolve(path, 'open', { follow: !fm.excl, allowMissing: true });
        if (r.dirent) {
          if (fm.excl) throw new DfsError('EEXIST', 'open', path);
          if (r.dirent.type === NodeType.Dir || r.mustBeDir) throw new DfsError('EISDIR', 'open', path);
          return r.dirent.oid;
        }
        if (r.name === undefined || r.mustBeDir) throw new DfsError('EISDIR', 'open', path);
        const fresh = this.cont.object(`dfs.file.${randomUUID()}`, this.fileClass ? { oclass: this.fileClass } : {}).oid;
        return this.transactLocked('open', async (tx) => {
          const parent = await tx.object(r.parent!).fetch(INODE_DKEY, INODE_AKEY);
          if (!parent) throw new DfsError('ENOENT', 'open', path);
          const existing = await this.lookup(r.parent!, r.name!, tx);
          if (existing) {
            if (fm.excl) throw new DfsError('EEXIST', 'open', path);
            if (existing.type !== NodeType.File) throw new DfsError('EISDIR', 'open', path);
            return existing.oid;
          }
          await tx.object(fresh).update(INODE_DKEY, INODE_AKEY, encodeInode(this.newInode(NodeType.File, modeOf(copts.mode, 0o666, 'open', path), chunkSize)));
          await tx.object(r.parent!).update(r.name!, DIRENT_AKEY, encodeDirent({ type: NodeType.File, oid: fresh }));
          return fresh;
        });
      });
    } else {
      const r = await this.resolve(path, 'open', { follow: true });
      if (r.dirent!.type === NodeType.Dir) throw new DfsError('EISDIR', 'open', path);
      oid = r.dirent!.oid;
    }
    const node = await this.acquireNode(oid, 'open', path);
    try {
      if (fm.trunc && fm.write && node.size > 0) await node.truncate(0);
    } catch (err) {
      await this.releaseNode(node);
      throw err;
    }
    return new DfsFileHandle(node, fm, this, this.nextFd++, path);
  }

  /** The whole file (a Buffer, or a string with `encoding`). */
  async readFile(path: string, opts: { encoding?: BufferEncoding } | BufferEncoding = {}): Promise<Buffer | string> {
    const enc = typeof opts === 'string' ? opts : optionsOf<{ encoding: BufferEncoding }>(opts, ['encoding'], 'open', path).encoding;
    if (enc !== undefined && (typeof enc !== 'string' || !Buffer.isEncoding(enc))) throw new DfsError('EINVAL', 'open', path, undefined, `unknown encoding ${String(enc)}`);
    const h = await this.open(path, 'r');
    try {
      const b = await h.readFile();
      return enc ? b.toString(enc) : b;
    } finally {
      await h.close();
    }
  }

  /** Replace (flag `'w'`, default) or create (`'wx'`) a file with `data`. */
  async writeFile(path: string, data: Uint8Array | string, options: DfsCreateOptions & { flag?: string } = {}): Promise<void> {
    // (a string is node's encoding argument: the data is written as UTF-8, so only that one is taken)
    if (typeof options === 'string' && !/^utf-?8$/i.test(options)) throw new DfsError('EINVAL', 'open', path, undefined, `unsupported encoding ${JSON.stringify(options)} (strings are written as UTF-8)`);
    const { flag = 'w', ...opts } = optionsOf<DfsCreateOptions & { flag: string }>(typeof options === 'string' ? undefined : options, [...CREATE_OPTIONS, 'flag'], 'open', path);
    // The data is checked before the file is opened: 'w' truncates, and a call refused for its
    // data must leave the file as it was.
    const bytes = dataBytes(data, 'write', path);
    if (flag === 'w' || flag === 'wx') {
      if (bytes.length <= this.writeBackBytes && (await this.createWithData(path, bytes, flag === 'wx', opts))) return;
    }
    const h = await this.open(path, flag, opts);
    try {
      await h.writeFile(bytes);
    } finally {
      await h.close();
    }
  }

  /**
   * `writeFile` of a new small file in one transaction (dirent, inode and data together).
   * Resolves to false, doing nothing, when the path exists (the caller then opens it).
   */
  private async createWithData(path: string, bytes: Uint8Array, excl: boolean, opts: DfsCreateOptions): Promise<boolean> {
    this.checkOpen('open', path);
    const chunkSize = opts.chunkSize ?? this.sb.chunkSize;
    checkChunkSize(chunkSize, 'open', path);
    const perm = modeOf(opts.mode, 0o666, 'open', path);
    return this.ns.run(async () => {
      const r = await this.resolve(path, 'open', { follow: !excl, allowMissing: true });
      if (r.dirent || r.name === undefined || r.mustBeDir) {
        if (excl && !r.mustBeDir) throw new DfsError('EEXIST', 'open', path);
        return false;
      }
      const oid = this.cont.object(`dfs.file.${randomUUID()}`, this.fileClass ? { oclass: this.fileClass } : {}).oid;
      return this.transactLocked('open', async (tx) => {
        const parent = await tx.object(r.parent!).fetch(INODE_DKEY, INODE_AKEY);
        if (!parent) throw new DfsError('ENOENT', 'open', path);
        if (await this.lookup(r.parent!, r.name!, tx)) {
          if (excl) throw new DfsError('EEXIST', 'open', path);
          return false;
        }
        const o = tx.object(oid);
        for (let p = 0; p < bytes.length; p += chunkSize) {
          const part = bytes.subarray(p, Math.min(bytes.length, p + chunkSize));
          await o.update(chunkKey(p / chunkSize), CHUNK_AKEY, { recx: { index: 0, count: part.length }, data: part });
        }
        await o.update(INODE_DKEY, INODE_AKEY, encodeInode(this.newInode(NodeType.File, perm, chunkSize, bytes.length)));
        await tx.object(r.parent!).update(r.name!, DIRENT_AKEY, encodeDirent({ type: NodeType.File, oid }));
        return true;
      });
    });
  }

  /** Append `data` to a file, creating it when missing. */
  async appendFile(path: string, data: Uint8Array | string, opts: DfsCreateOptions = {}): Promise<void> {
    await this.writeFile(path, data, { ...optionsOf<DfsCreateOptions>(opts, CREATE_OPTIONS, 'open', path), flag: 'a' });
  }

  /** Set the size of the file at `path` (default 0). */
  async truncate(path: string, len = 0): Promise<void> {
    const h = await this.open(path, 'r+');
    try {
      await h.truncate(len);
    } finally {
      await h.close();
    }
  }

  /**
   * A readable stream of a file's bytes, like `fs.createReadStream` (`start`, inclusive `end`),
   * reading a chunk at a time.
   */
  createReadStream(path: string, options: { start?: number; end?: number; highWaterMark?: number } = {}): Readable {
    const self = this;
    // Checked at the call, as node:fs does: a NaN start or a zero step would end the stream at once, as if the file were empty.
    const opts = optionsOf<{ start: number; end: number; highWaterMark: number }>(options, ['start', 'end', 'highWaterMark'], 'open', path);
    const start = offsetOf(opts.start, 'start', 'open', path);
    const last = opts.end === Infinity ? undefined : offsetOf(opts.end, 'end', 'open', path);
    if (start !== undefined && last !== undefined && last < start) throw new DfsError('EINVAL', 'open', path, undefined, `end (${last}) is before start (${start})`);
    if (opts.highWaterMark !== undefined && !(offsetOf(opts.highWaterMark, 'highWaterMark', 'open', path)! > 0)) throw new DfsError('EINVAL', 'open', path, undefined, 'highWaterMark must be a positive integer');
    return Readable.from((async function* () {
      const h = await self.open(path, 'r');
      try {
        const st = await h.stat();
        const end = Math.min(st.size, last === undefined ? st.size : last + 1);
        const step = opts.highWaterMark ?? st.chunkSize;
        for (let pos = start ?? 0; pos < end;) {
          const buf = Buffer.allocUnsafe(Math.min(step, end - pos));
          const { bytesRead } = await h.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) break;
          yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          pos += bytesRead;
        }
      } finally {
        await h.close();
      }
    })(), { objectMode: false });
  }

  /** A writable stream into a file, like `fs.createWriteStream` (`flags` default `'w'`, `start`). */
  createWriteStream(path: string, options: DfsCreateOptions & { flags?: string; start?: number } = {}): Writable {
    const { flags, start, ...opts } = optionsOf<DfsCreateOptions & { flags: string; start: number }>(options, [...CREATE_OPTIONS, 'flags', 'start'], 'open', path);
    let handle: DfsFileHandle | undefined;
    let pos = offsetOf(start, 'start', 'open', path) ?? 0;
    const append = typeof flags === 'string' && flags.startsWith('a');
    return new Writable({
      construct: (cb) => { this.open(path, flags ?? 'w', opts).then((h) => { handle = h; cb(); }, cb); },
      write: (chunk: Buffer, _enc, cb) => {
        handle!.write(chunk, 0, chunk.length, append ? null : pos).then(({ bytesWritten }) => { pos += bytesWritten; cb(); }, cb);
      },
      final: (cb) => { handle!.close().then(() => cb(), cb); },
      destroy: (err, cb) => { (handle ? handle.close() : Promise.resolve()).then(() => cb(err), () => cb(err)); },
    });
  }

  // ------------------------------------------------------------------ lifecycle

  /** Commit the buffered writes of every open file. */
  async sync(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.flush()));
  }

  /**
   * Commit buffered writes and detach from the container (which stays open: the caller owns it).
   * Later calls fail with EBADF.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.sync();
    this.closed = true;
  }
}

/**
 * The class of the superblock object: the container's, but with a fixed group count. The
 * superblock is found by name, and a name hashes to an object id that, for a GX class, embeds the
 * group count the pool had when the id was computed; after the pool grows, the same name would give
 * another id. With one group (G1, or S1 for SX) the id of the name never changes.
 */
function superblockClass(oclass: string): string | undefined {
  const name = oclass.trim().toUpperCase();
  const fixed = name === 'SX' ? 'S1' : name.endsWith('GX') ? name.slice(0, -2) + 'G1' : undefined;
  return fixed && OBJECT_CLASS_NAMES.includes(fixed) ? fixed : undefined;
}

/** The create options of `open` (a mode number or an options object). */
function createOptions(mode: number | string | DfsCreateOptions | undefined, syscall: string, path: string): DfsCreateOptions {
  return typeof mode === 'number' || typeof mode === 'string' ? { mode: modeOf(mode, 0, syscall, path) } : optionsOf<DfsCreateOptions>(mode, CREATE_OPTIONS, syscall, path);
}

/** The bytes of file data given as a string (UTF-8) or any ArrayBufferView; EINVAL otherwise. */
function dataBytes(data: unknown, syscall: string, path: string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new DfsError('EINVAL', syscall, path, undefined, `data must be a string or a Uint8Array, got ${data === null ? 'null' : typeof data}`);
}

function checkChunkSize(n: number, syscall: string, path?: string): void {
  if (!Number.isSafeInteger(n) || n < MIN_CHUNK_BYTES || n > MAX_CHUNK_BYTES) {
    throw new DfsError('EINVAL', syscall, path, undefined, `chunkSize must be an integer in ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}, got ${String(n)}`);
  }
}

/** Whether a directory object has no entries (a range scan for the first key past the inode). */
async function isEmptyDir(cont: Container, oid: bigint): Promise<boolean> {
  for await (const _ of cont.object(oid).listDkeys({ gt: INODE_DKEY, limit: 1 })) return false;
  return true;
}

/**
 * A directory being listed, like `fs.Dir`: `read()` the next entry (null at the end), or iterate
 * with `for await`. Names come from the directory object's ordered dkey listing, consumed lazily;
 * entry types are fetched `bufferSize` entries ahead.
 */
export class DfsDir implements AsyncIterable<DfsDirent> {
  private readonly epoch: bigint;
  private keys?: AsyncGenerator<Uint8Array>;
  private buffered: DfsDirent[] = [];
  private done = false;

  /** @internal use `dfs.opendir()`. */
  constructor(private readonly cont: Container, private readonly oid: bigint, readonly path: string, private readonly bufferSize: number, private readonly after?: string) {
    this.epoch = cont.stableEpoch();
  }

  private nextKeys(): AsyncGenerator<Uint8Array> {
    // Entries are the dkeys after the inode's (0x00), in byte order, streamed by a range scan.
    this.keys ??= this.cont.object(this.oid).listDkeys({ epoch: this.epoch, gt: this.after ?? INODE_DKEY });
    return this.keys;
  }

  /** The next entry names, lazily (no dirent fetches). */
  async *names(): AsyncGenerator<string> {
    for await (const k of this.nextKeys()) {
      if (k.length === 1 && k[0] === 0) continue; // the directory's own inode
      yield Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('utf8');
    }
    this.done = true;
  }

  /** The next entry, or null when the directory is exhausted. */
  async read(): Promise<DfsDirent | null> {
    if (this.buffered.length === 0 && !this.done) await this.fill();
    return this.buffered.shift() ?? null;
  }

  private async fill(): Promise<void> {
    const names: string[] = [];
    const it = this.nextKeys();
    while (names.length < this.bufferSize) {
      const n = await it.next();
      if (n.done) { this.done = true; break; }
      const k = n.value;
      if (k.length === 1 && k[0] === 0) continue;
      names.push(Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('utf8'));
    }
    const obj = this.cont.object(this.oid);
    const got = await Promise.all(names.map((name) => obj.fetch(name, DIRENT_AKEY, { epoch: this.epoch })));
    names.forEach((name, i) => {
      const raw = got[i];
      if (raw) this.buffered.push(new DfsDirent(name, this.path, decodeDirent(raw).type));
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DfsDirent> {
    try {
      for (;;) {
        const e = await this.read();
        if (!e) return;
        yield e;
      }
    } finally {
      await this.close();
    }
  }

  /** Stop listing (releases the underlying iteration). */
  async close(): Promise<void> {
    this.done = true;
    this.buffered = [];
    await this.keys?.return(undefined);
  }
}

