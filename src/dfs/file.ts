/**
 * Open files: a `FileNode` per open file object (shared by every handle on it in one `Dfs`), and
 * the `DfsFileHandle` callers use. Sequential writes collect in a write-back buffer of the node
 * (up to `writeBackBytes`), committed as whole chunks, each commit one transaction of the chunk
 * extents and the new inode (size, mtime), so the file's size and data always agree in the store.
 * Reads, `sync`, `close`, attribute changes and truncation commit the buffer first, so readers in
 * this process always see every byte written; other processes see it after `sync` or `close`
 * (close-to-open consistency, as NFS and dfuse give).
 */
import { constants as bufferConstants } from 'node:buffer';
import type { Container, Transaction, CairnObject } from '../index.js';
import { DfsError } from './errors.js';
import { Mutex } from './mutex.js';
import { CHUNK_AKEY, INODE_AKEY, INODE_DKEY, NodeType, chunkIndex, chunkKey, decodeInode, encodeInode, nowNs, type Inode } from './layout.js';
import { DfsStats } from './stats.js';

/** Most bytes of file data one transaction carries (a larger write commits in several). */
export const MAX_TX_DATA_BYTES = 16 * 1024 * 1024;
/** Most chunk punches one truncate transaction carries; larger truncations punch in batches first. */
export const MAX_TX_PUNCHES = 4096;
/** Chunk reads one `read` keeps in flight. */
export const READ_CONCURRENCY = 8;
/** Most bytes `readFile` returns (the largest Buffer node allocates). */
export const MAX_READ_FILE_BYTES = bufferConstants.MAX_LENGTH;
/** Whole chunks an open file keeps for small sequential reads. */
export const READ_CACHE_CHUNKS = 2;

/** What a node needs from its `Dfs`. */
export interface FileHost {
  readonly cont: Container;
  readonly writeBackBytes: number;
  readonly dev: number;
  /** The namespace was unmounted (`Dfs.close()`). */
  readonly unmounted: boolean;
  /** Run `fn` in a namespace transaction (serialised, retried on TX_RESTART). */
  transact<T>(syscall: string, fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** The last handle on `node` closed. */
  releaseNode(node: FileNode): Promise<void>;
}

interface Dirty { start: number; parts: Uint8Array[]; length: number }

/** The shared state of one open file object. */
export class FileNode {
  /** Handles open on this node. */
  refs = 0;
  /** The file's name was removed while open: its object is punched when the last handle closes. */
  unlinked = false;
  /** The inode as last committed (size excludes the write-back buffer). */
  inode!: Inode;
  /** Loads the inode; awaited by every opener. */
  ready!: Promise<void>;
  readonly obj: CairnObject;
  /** Serialises writes, flushes, truncation and attribute changes of this file. */
  readonly lock = new Mutex();
  private dirty: Dirty | null = null;
  /** Whole chunks fetched for small reads (most recent last), so sequential small reads (FUSE's 128 KiB) fetch each chunk once. */
  private cache = new Map<number, Promise<Uint8Array>>();
  /** In-memory mtime of buffered writes (committed with them). */
  private dirtyMtimeNs = 0n;

  constructor(private readonly host: FileHost, readonly oid: bigint) {
    this.obj = host.cont.object(oid);
  }

  /** Fetch the inode from the store (at open). */
  async load(syscall: string, path?: string): Promise<void> {
    const raw = await this.obj.fetch(INODE_DKEY, INODE_AKEY);
    if (!raw) throw new DfsError('ENOENT', syscall, path);
    const inode = decodeInode(raw);
    if (inode.type !== NodeType.File) throw new DfsError('EISDIR', syscall, path);
    this.inode = inode;
  }

  /**
   * Re-read the inode when the file is opened again while open (close-to-open: an open sees what
   * other clients committed before it, also when a handle of this `Dfs` kept the node open), and
   * drop the read cache. Buffered writes stay buffered (the size counts them on top).
   */
  refresh(syscall: string, path?: string): Promise<void> {
    return this.lock.run(async () => {
      const inode = await fetchInode(this.obj, syscall, path);
      this.cache.clear();
      this.inode = inode;
    });
  }

  /** Size including buffered writes. */
  get size(): number { return this.dirty ? Math.max(this.inode.size, this.dirty.start + this.dirty.length) : this.inode.size; }

  /** Attributes including buffered writes. */
  stat(): DfsStats {
    const i = { ...this.inode, size: this.size };
    if (this.dirty && this.dirtyMtimeNs > i.mtimeNs) { i.mtimeNs = this.dirtyMtimeNs; i.ctimeNs = this.dirtyMtimeNs; }
    return new DfsStats(i, this.oid, this.host.dev);
  }

  /** Write `data` at `position` (copied before this resolves, so the caller may reuse it). */
  write(data: Uint8Array, position: number | 'append'): Promise<number> {
    const limit = this.host.writeBackBytes;
    // Buffered bytes are copied now (Buffer#slice would only be a view of the caller's memory).
    const bytes = data.length < limit ? copyBytes(data) : data;
    return this.lock.run(async () => {
      const at = position === 'append' ? this.size : position;
      const d = this.dirty;
      if (d && at === d.start + d.length && bytes !== data) {
        d.parts.push(bytes);
        d.length += bytes.length;
      } else {
        if (d) await this.flushDirty(true);
        if (bytes === data) {
          await this.commitData(at, data);
          return data.length;
        }
        this.dirty = { start: at, parts: [bytes], length: bytes.length };
      }
      this.dirtyMtimeNs = nowNs();
      if (this.dirty!.length >= limit) await this.flushDirty(false);
      return bytes.length;
    });
  }

  /** Commit buffered writes (all of them, or only whole chunks when `all` is false). */
  private async flushDirty(all: boolean): Promise<void> {
    const d = this.dirty;
    if (!d) return;
    const cs = this.inode.chunkSize;
    const end = d.start + d.length;
    let cut = all ? d.length : Math.floor(end / cs) * cs - d.start;
    if (cut <= 0) cut = d.length; // chunks larger than the buffer: commit what is buffered
    const buf = d.parts.length === 1 ? d.parts[0]! : Buffer.concat(d.parts, d.length);
    this.dirty = cut < d.length ? { start: d.start + cut, parts: [buf.subarray(cut)], length: d.length - cut } : null;
    // On failure the bytes are dropped and the error reaches this writer (as a failed write-back).
    await this.commitData(d.start, buf.subarray(0, cut));
  }

  /** Commit `data` at `offset`: chunk extents and the inode, one transaction per MAX_TX_DATA_BYTES. */
  private async commitData(offset: number, data: Uint8Array): Promise<void> {
    this.cache.clear();
    const cs = this.inode.chunkSize;
    for (let pos = 0; pos < data.length; pos += MAX_TX_DATA_BYTES) {
      const slice = data.subarray(pos, Math.min(data.length, pos + MAX_TX_DATA_BYTES));
      const base = offset + pos;
      this.inode = await this.host.transact('write', async (tx) => {
        const o = tx.object(this.oid);
        const inode = await fetchInode(o, 'write');
        for (let p = 0; p < slice.length;) {
          const abs = base + p;
          const c = Math.floor(abs / cs);
          const inChunk = abs - c * cs;
          const len = Math.min(cs - inChunk, slice.length - p);
          await o.update(chunkKey(c), CHUNK_AKEY, { recx: { index: inChunk, count: len }, data: slice.subarray(p, p + len) });
          p += len;
        }
        inode.size = Math.max(inode.size, base + slice.length);
        inode.mtimeNs = inode.ctimeNs = nowNs();
        await o.update(INODE_DKEY, INODE_AKEY, encodeInode(inode));
        return inode;
      });
    }
  }

  /** Commit every buffered write. */
  flush(): Promise<void> {
    if (!this.dirty && !this.lock.busy) return Promise.resolve();
    return this.lock.run(() => this.flushDirty(true));
  }

  /** Read up to `length` bytes at `position` into `into[offset..]`; resolves to the bytes read. */
  async read(into: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    await this.flush();
    const size = this.inode.size;
    if (position >= size || length <= 0) return 0;
    const n = Math.min(length, size - position);
    const cs = this.inode.chunkSize;
    const jobs: Array<() => Promise<void>> = [];
    for (let p = 0; p < n;) {
      const abs = position + p;
      const c = Math.floor(abs / cs);
      const inChunk = abs - c * cs;
      const len = Math.min(cs - inChunk, n - p);
      const at = offset + p;
      jobs.push(async () => {
        if (len < cs) {
          // A part of a chunk: fetch (or reuse) the whole chunk, the next small read wants the rest.
          const whole = await this.cachedChunk(c, Math.min(cs, size - c * cs));
          const part = whole.subarray(inChunk, inChunk + len);
          into.set(part, at);
          if (part.length < len) into.fill(0, at + part.length, at + len);
          return;
        }
        const got = await this.obj.fetch(chunkKey(c), CHUNK_AKEY, { recx: { index: inChunk, count: len } });
        if (got) into.set(got.subarray(0, len), at);
        else into.fill(0, at, at + len);
      });
      p += len;
    }
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, jobs.length) }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }));
    return n;
  }

  /** The first `len` bytes of chunk `c`, from the read cache or the store. */
  private cachedChunk(c: number, len: number): Promise<Uint8Array> {
    let p = this.cache.get(c);
    if (p) {
      this.cache.delete(c);
      this.cache.set(c, p);
      return p.then((b) => (b.length >= len ? b : this.refetch(c, len)));
    }
    p = this.obj.fetch(chunkKey(c), CHUNK_AKEY, { recx: { index: 0, count: len } }).then((b) => b ?? new Uint8Array(len));
    this.cache.set(c, p);
    p.catch(() => { if (this.cache.get(c) === p) this.cache.delete(c); });
    while (this.cache.size > READ_CACHE_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
    return p;
  }

  private refetch(c: number, len: number): Promise<Uint8Array> {
    this.cache.delete(c);
    return this.cachedChunk(c, len);
  }

  /** Set the size: shrinking punches whole chunks past it and zeroes the rest of the last one. */
  truncate(size: number): Promise<void> {
    return this.lock.run(async () => {
      await this.flushDirty(true);
      this.cache.clear();
      const cs = this.inode.chunkSize;
      const firstGone = Math.ceil(size / cs);
      const old = this.inode.size;
      const lastOld = old > 0 ? Math.floor((old - 1) / cs) : -1;
      const many = lastOld - firstGone + 1 > MAX_TX_PUNCHES;
      if (many && size < old) await this.punchChunksFrom(firstGone);
      this.inode = await this.host.transact('truncate', async (tx) => {
        const o = tx.object(this.oid);
        const inode = await fetchInode(o, 'truncate');
        const cur = inode.size;
        if (size < cur) {
          const last = Math.floor((cur - 1) / cs);
          if (!many) for (let c = firstGone; c <= last; c++) await o.punchDkey(chunkKey(c));
          const tailChunk = Math.floor(size / cs);
          const from = size - tailChunk * cs;
          const to = Math.min(cur - tailChunk * cs, cs);
          if (from > 0 && to > from) await o.update(chunkKey(tailChunk), CHUNK_AKEY, { recx: { index: from, count: to - from }, data: new Uint8Array(to - from) });
        }
        inode.size = size;
        inode.mtimeNs = inode.ctimeNs = nowNs();
        await o.update(INODE_DKEY, INODE_AKEY, encodeInode(inode));
        return inode;
      });
    });
  }

  /** Punch every chunk at or past `first`, walking the object's dkeys lazily, in batches. */
  private async punchChunksFrom(first: number): Promise<void> {
    let batch: number[] = [];
    const punch = async () => {
      const cs = batch;
      batch = [];
      await this.host.transact('truncate', async (tx) => {
        const o = tx.object(this.oid);
        for (const c of cs) await o.punchDkey(chunkKey(c));
      });
    };
    for await (const k of this.obj.listDkeys({ gte: chunkKey(first) })) {
      const c = chunkIndex(k);
      if (c === undefined || c < first) continue;
      batch.push(c);
      if (batch.length >= MAX_TX_PUNCHES) await punch();
    }
    if (batch.length) await punch();
  }

  /** Change attributes (mode, owner, times) after committing buffered writes. */
  setAttrs(syscall: string, fn: (i: Inode) => void): Promise<void> {
    return this.lock.run(async () => {
      await this.flushDirty(true);
      this.inode = await this.host.transact(syscall, async (tx) => {
        const o = tx.object(this.oid);
        const inode = await fetchInode(o, syscall);
        fn(inode);
        await o.update(INODE_DKEY, INODE_AKEY, encodeInode(inode));
        return inode;
      });
    });
  }
}

function copyBytes(b: Uint8Array): Uint8Array {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c;
}

/** The inode of a transaction's object, or ENOENT. */
export async function fetchInode(o: CairnObject, syscall: string, path?: string): Promise<Inode> {
  const raw = await o.fetch(INODE_DKEY, INODE_AKEY);
  if (!raw) throw new DfsError('ENOENT', syscall, path);
  return decodeInode(raw);
}

/** Parsed open flags. */
export interface OpenMode { read: boolean; write: boolean; append: boolean; create: boolean; excl: boolean; trunc: boolean }

/** POSIX open flag bits (Linux values, as FUSE passes them). */
export const O_ACCMODE = 3, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_APPEND = 0o2000;

/** Parse node:fs flags (`'r'`, `'w+'`, `'ax'`, ... or O_* bits). */
export function parseFlags(flags: string | number, path: string): OpenMode {
  if (typeof flags === 'number') {
    // (bitwise operators would take NaN as 0 and -1 as every flag at once, O_EXCL and O_TRUNC included)
    if (!Number.isInteger(flags) || flags < 0 || flags > 0x7fffffff || (flags & O_ACCMODE) === O_ACCMODE) throw new DfsError('EINVAL', 'open', path, undefined, `invalid open flags ${flags}`);
    const acc = flags & O_ACCMODE;
    return { read: acc !== O_WRONLY, write: acc !== 0, append: (flags & O_APPEND) !== 0, create: (flags & O_CREAT) !== 0, excl: (flags & O_EXCL) !== 0, trunc: (flags & O_TRUNC) !== 0 };
  }
  const m = /^(r|w|a)(s?)(x?)(\+?)$/.exec(typeof flags === 'string' ? flags.replace(/^(r|w|a)s(\+?)$/, '$1$2') : '');
  if (!m || (m[1] === 'r' && m[3])) throw new DfsError('EINVAL', 'open', path, undefined, `unknown open flags ${JSON.stringify(flags)}`);
  const plus = m[4] === '+';
  switch (m[1]) {
    case 'r': return { read: true, write: plus, append: false, create: false, excl: false, trunc: false };
    case 'w': return { read: plus, write: true, append: false, create: true, excl: !!m[3], trunc: true };
    default: return { read: plus, write: true, append: true, create: true, excl: !!m[3], trunc: false };
  }
}

/** An open file, shaped like `fs.promises.FileHandle`: positional `read`/`write`, `truncate`, `stat`, `sync`, `close`. */
export class DfsFileHandle {
  /** The current position of reads and writes without an explicit position. */
  private pos = 0;
  private closed = false;
  /** Orders the reads at the current position (and the writes that follow them). */
  private readonly posLock = new Mutex();

  /** @internal use `dfs.open()`. */
  constructor(private readonly node: FileNode, private readonly mode: OpenMode, private readonly host: FileHost, readonly fd: number, readonly path: string) {}

  private check(syscall: string, need?: 'read' | 'write'): void {
    if (this.closed) throw new DfsError('EBADF', syscall, this.path, undefined, 'file handle is closed');
    if (this.host.unmounted) throw new DfsError('EBADF', syscall, this.path, undefined, 'the namespace was unmounted (close the handle)');
    if (need && !this.mode[need]) throw new DfsError('EBADF', syscall, this.path, undefined, `file not open for ${need === 'read' ? 'reading' : 'writing'}`);
  }

  /**
   * Read into `buffer[offset..offset+length]` from `position` (null: the current position, which
   * then advances). Resolves to `{ bytesRead, buffer }`; 0 bytes at end of file.
   */
  async read<T extends Uint8Array>(buffer: T, offset = 0, length?: number, position: number | bigint | null = null): Promise<{ bytesRead: number; buffer: T }> {
    this.check('read', 'read');
    if (!(buffer instanceof Uint8Array)) throw new DfsError('EINVAL', 'read', this.path, undefined, 'buffer must be a Uint8Array');
    const len = length ?? buffer.length - offset;
    checkRange(offset, len, buffer.length, 'read', this.path);
    if (position !== null && position !== undefined && Number(position) >= 0) {
      return { bytesRead: await this.node.read(buffer, offset, len, checkPosition(position, 'read', this.path)), buffer };
    }
    // At the current position: one at a time (as read(2) holds the file position), so reads in
    // flight together read consecutive ranges and each advances the position by what it read.
    return this.posLock.run(async () => {
      const bytesRead = await this.node.read(buffer, offset, len, this.pos);
      this.pos += bytesRead;
      return { bytesRead, buffer };
    });
  }

  /**
   * Write `buffer[offset..offset+length]` (or a string) at `position` (null: the current position;
   * files opened for appending always write at the end). Resolves to `{ bytesWritten, buffer }`.
   */
  async write<T extends Uint8Array | string>(buffer: T, offset?: number | null, length?: number | null, position?: number | bigint | null): Promise<{ bytesWritten: number; buffer: T }> {
    this.check('write', 'write');
    let bytes: Uint8Array;
    let pos: number | bigint | null | undefined = position;
    if (typeof buffer === 'string') {
      bytes = Buffer.from(buffer, 'utf8');
      pos = typeof offset === 'number' ? offset : null; // write(string, position)
    } else if (buffer instanceof Uint8Array) {
      const off = offset ?? 0;
      const len = length ?? buffer.length - off;
      checkRange(off, len, buffer.length, 'write', this.path);
      bytes = buffer.subarray(off, off + len);
    } else {
      throw new DfsError('EINVAL', 'write', this.path, undefined, 'data must be a string or Uint8Array');
    }
    const explicit = pos !== null && pos !== undefined && Number(pos) >= 0;
    const at = explicit ? checkPosition(pos!, 'write', this.path) : undefined;
    if (at !== undefined && !this.mode.append) checkEnd(at, bytes.length, 'write', this.path);
    if (bytes.length === 0) return { bytesWritten: 0, buffer };
    if (this.mode.append) {
      const sizeBefore = this.node.size;
      await this.node.write(bytes, 'append');
      this.pos = Math.max(sizeBefore, this.node.size);
    } else if (at !== undefined) {
      await this.node.write(bytes, at);
    } else {
      // At the current position: the range is taken from the position when the call is made (after
      // any read at the current position still in flight), so writes in flight together land one
      // after another, as write(2)s do, instead of all at the same offset.
      const start = () => {
        const from = this.pos;
        checkEnd(from, bytes.length, 'write', this.path);
        this.pos = from + bytes.length;
        return this.node.write(bytes, from).catch((err: unknown) => {
          if (this.pos === from + bytes.length) this.pos = from;
          throw err;
        });
      };
      await (this.posLock.busy ? this.posLock.run(async () => ({ p: start() })).then((r) => r.p) : start());
    }
    return { bytesWritten: bytes.length, buffer };
  }

  /** Read from the current position to the end of the file. */
  async readFile(): Promise<Buffer> {
    this.check('read', 'read');
    await this.node.flush();
    const size = this.node.size;
    if (size - this.pos > MAX_READ_FILE_BYTES) throw new DfsError('EINVAL', 'read', this.path, undefined, `the file holds ${size - this.pos} bytes from the position, more than one Buffer holds (${MAX_READ_FILE_BYTES}); read it in parts or with a stream`);
    const out = Buffer.alloc(Math.max(0, size - this.pos));
    let got = 0;
    while (got < out.length) {
      const { bytesRead } = await this.read(out, got, out.length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === out.length ? out : out.subarray(0, got);
  }

  /** Write all of `data` at the current position (at the end when appending). */
  async writeFile(data: Uint8Array | string): Promise<void> {
    await this.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, 0, undefined, null);
  }

  /** Set the file's size to `len` (default 0). */
  async truncate(len = 0): Promise<void> {
    this.check('ftruncate', 'write');
    await this.node.truncate(checkPosition(len, 'ftruncate', this.path));
  }

  /** Attributes of the open file (including bytes not yet committed). */
  async stat(): Promise<DfsStats> {
    this.check('fstat');
    return this.node.stat();
  }

  /** Commit every buffered write. */
  async sync(): Promise<void> {
    this.check('fsync');
    await this.node.flush();
  }

  /** Same as `sync` (data and attributes are committed together). */
  datasync(): Promise<void> { return this.sync(); }

  /** Commit buffered writes and release the handle; later calls fail with EBADF. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.node.flush();
    } finally {
      await this.host.releaseNode(this.node);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> { await this.close(); }
}

function checkRange(offset: number, length: number, bufLen: number, syscall: string, path: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > bufLen) {
    throw new DfsError('EINVAL', syscall, path, undefined, `offset ${offset} and length ${length} do not fit a buffer of ${bufLen} bytes`);
  }
}

/** A write of `length` bytes at `at` must end within the safe-integer range of file offsets. */
function checkEnd(at: number, length: number, syscall: string, path: string): void {
  if (at + length > Number.MAX_SAFE_INTEGER) throw new DfsError('EINVAL', syscall, path, undefined, `a write of ${length} bytes at ${at} would end past the largest file offset (2^53 - 1)`);
}

function checkPosition(p: number | bigint, syscall: string, path: string): number {
  const n = typeof p === 'bigint' ? Number(p) : p;
  if (!Number.isSafeInteger(n) || n < 0) throw new DfsError('EINVAL', syscall, path, undefined, `position must be a non-negative integer, got ${String(p)}`);
  return n;
}
