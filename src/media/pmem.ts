/**
 * A pmem-style file: a regular file (on /dev/shm or any filesystem) mapped shared and writable
 * with `@riaskov/mmap-io`, so the versioned object store can keep its metadata log as plain
 * loads and stores. A store into the mapping is in the page cache as soon as it returns, so it
 * survives a process crash (SIGKILL); `persist()` (msync) makes a range survive power loss too.
 *
 * `@riaskov/mmap-io` is an optional dependency (it compiles from source): it is loaded on first use,
 * and when it is missing or cannot load, `PmemFile.open` throws `UNSUPPORTED` naming the reason
 * (`mmapSupport()` tells a caller in advance, so a store can fall back to pread/pwrite).
 *
 * Fault injection: with a `FaultInjector` (tests), `write` may be torn (only a prefix of whole
 * 8-byte stores lands, then it throws, like a crash mid-store), fail, or report `NO_SPACE`, and
 * `read` may flip a bit of the copy it returns. Loads through `view` are never faulted.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { CairnError, InvalidArgumentError, assert } from '../../core/errors.js';
import type { FaultInjector } from './fault.js';

/** The subset of the mmap-io binding this wrapper uses (the package ships CommonJS). */
export interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  sync(buffer: Buffer, offset?: number, size?: number, blockingSync?: boolean, invalidatePages?: boolean): void;
  advise(buffer: Buffer, offset: number, length: number, advise: number): void;
  readonly PROT_READ: number; readonly PROT_WRITE: number; readonly MAP_SHARED: number;
  readonly MADV_RANDOM: number; readonly PAGESIZE: number;
}

let loaded: { mmap?: MmapBinding; reason: string } | undefined;

/**
 * Whether mmap is usable in this process: loads `@riaskov/mmap-io` once. `reason` says why not
 * (not installed, failed to load, disabled by `CAIRN_NO_MMAP=1`), or names the binding when it is.
 */
export function mmapSupport(): { available: boolean; reason: string } {
  if (!loaded) {
    if (process.env.CAIRN_NO_MMAP === '1') loaded = { reason: 'mmap disabled by CAIRN_NO_MMAP=1' };
    else {
      // The binding locates itself with node-pre-gyp, which parses process.argv: a program's own
      // `--dir X` would be taken for its `--directory`. Load it with a bare argv.
      const argv = process.argv;
      process.argv = argv.slice(0, 2);
      try {
        loaded = { mmap: createRequire(import.meta.url)('@riaskov/mmap-io') as MmapBinding, reason: 'mmap via @riaskov/mmap-io' };
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        loaded = { reason: err.code === 'MODULE_NOT_FOUND' && String(err.message).includes("'@riaskov/mmap-io'")
          ? 'the optional dependency @riaskov/mmap-io is not installed (it builds from source: needs a C++ toolchain)'
          : `@riaskov/mmap-io failed to load: ${String(err.message).split('\n')[0]}` };
      } finally {
        process.argv = argv;
      }
    }
  }
  return { available: loaded.mmap !== undefined, reason: loaded.reason };
}

/** The mmap binding (for tools measuring mappings: bench/page-costs), or `UNSUPPORTED` with the reason it is unavailable. */
export function mmapBinding(): MmapBinding {
  const { reason } = mmapSupport();
  if (!loaded!.mmap) throw new CairnError('UNSUPPORTED', `mmap is not available: ${reason}`, { reason });
  return loaded!.mmap;
}

/** Largest pmem file this wrapper maps (a Node Buffer cannot exceed 4 GiB on 64-bit V8). */
export const MAX_PMEM_BYTES = 2 ** 32 - 4096;
/** Smallest pmem file (one page). */
export const MIN_PMEM_BYTES = 4096;

/** Granularity at which pmem stores reach the medium atomically (an aligned 8-byte store). */
export const PMEM_ATOMIC_UNIT = 8;

/** Options of `PmemFile.open`. */
export interface PmemOpenOptions {
  /** Size of the file and mapping in bytes (a multiple of the page size). Used when creating. */
  size: number;
  /** Create the file when absent (default true). */
  create?: boolean;
  /** Seeded fault injection (tests only). */
  fault?: FaultInjector;
}

/** A shared, writable mapping of a whole file. */
export class PmemFile {
  /** The mapping: reads and writes go straight to the page cache of the file. */
  readonly view: Buffer;
  /** Size of the mapping in bytes. */
  readonly size: number;
  /** True when the file did not exist (or was empty) and was created by `open`. */
  readonly created: boolean;
  private closed = false;

  private constructor(readonly path: string, view: Buffer, created: boolean, private readonly fault?: FaultInjector) {
    this.view = view;
    this.size = view.length;
    this.created = created;
  }

  /** Open (and create when absent) `path` and map it whole. An existing file keeps its size. */
  static open(path: string, opts: PmemOpenOptions): PmemFile {
    const mmap = mmapBinding();
    const page = mmap.PAGESIZE;
    if (!Number.isInteger(opts.size) || opts.size < MIN_PMEM_BYTES || opts.size > MAX_PMEM_BYTES || opts.size % page !== 0) {
      throw new InvalidArgumentError(`pmem size must be a multiple of ${page} in [${MIN_PMEM_BYTES}, ${MAX_PMEM_BYTES}]`, { size: opts.size });
    }
    opts.fault?.onOpen(path);
    let fd: number;
    let created = false;
    try {
      fd = fs.openSync(path, opts.create === false ? 'r+' : fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (e) {
      throw new CairnError('IO_ERROR', `cannot open pmem file ${path}: ${(e as Error).message}`, { path }, { cause: e });
    }
    try {
      let size = fs.fstatSync(fd).size;
      if (size === 0) {
        try {
          fs.ftruncateSync(fd, opts.size);
        } catch (e) {
          throw new CairnError('NO_SPACE', `cannot size pmem file ${path} to ${opts.size} bytes`, { path }, { cause: e });
        }
        size = opts.size;
        created = true;
      }
      if (size < MIN_PMEM_BYTES || size > MAX_PMEM_BYTES || size % page !== 0) {
        throw new CairnError('CORRUPTED', `pmem file ${path} has unusable size ${size}`, { path, size });
      }
      const view = mmap.map(size, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0);
      assert(view.length === size, 'mmap returned a short mapping', { size, got: view.length });
      return new PmemFile(path, view, created, opts.fault);
    } finally {
      fs.closeSync(fd); // the mapping stays valid without the descriptor
    }
  }

  /**
   * Copy `data` into the mapping at `offset`. When it returns the bytes are in the page cache
   * (process-crash safe). An injected fault may land only a prefix and then throw (tests).
   */
  write(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length);
    if (this.fault) {
      const f = this.fault.onWrite(offset, data, PMEM_ATOMIC_UNIT);
      if (f.truncateTo !== undefined) this.view.set(data.subarray(0, f.truncateTo), offset);
      if (f.error) throw f.error;
    }
    this.view.set(data, offset);
  }

  /** A copy of `length` bytes at `offset` (an injected fault may flip a bit of the copy). */
  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const out = new Uint8Array(length);
    out.set(this.view.subarray(offset, offset + length));
    this.fault?.onRead(offset, out);
    return out;
  }

  /** Zero `length` bytes at `offset`. */
  zero(offset: number, length: number): void {
    this.checkRange(offset, length);
    this.view.fill(0, offset, offset + length);
  }

  /**
   * msync `[offset, offset+length)` (rounded out to pages) with MS_SYNC: after it returns the
   * range survives power loss. Blocks the calling thread for the duration of the flush.
   */
  persist(offset = 0, length = this.size): void {
    this.checkRange(offset, length);
    const err = this.fault?.beforeSync();
    if (err) throw err;
    if (length === 0) return;
    const mmap = mmapBinding();
    const page = mmap.PAGESIZE;
    const start = Math.floor(offset / page) * page;
    const end = Math.min(this.size, Math.ceil((offset + length) / page) * page);
    mmap.sync(this.view, start, end - start, true, false);
  }

  /** Hint that access is random (no read-ahead). */
  adviseRandom(): void {
    const mmap = mmapBinding();
    mmap.advise(this.view, 0, this.size, mmap.MADV_RANDOM);
  }

  /** Forget the mapping; it is unmapped when the buffer is garbage-collected. */
  close(): void {
    this.closed = true;
  }

  /** True after `close()`. */
  get isClosed(): boolean { return this.closed; }

  private checkRange(offset: number, length: number): void {
    if (this.closed) throw new CairnError('CLOSED', 'pmem file is closed', { path: this.path });
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new InvalidArgumentError('pmem range out of bounds', { offset, length, size: this.size });
    }
  }
}
