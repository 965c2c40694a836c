/**
 * A growable pmem-style byte space: one file, mapped shared in fixed-size segments (with
 * `@riaskov/mmap-io`), so the store reads its metadata straight from the mapping and writes with
 * plain stores that are in the page cache (process-crash safe) when they return.
 *
 * Why segments: the file grows while open (a new segment is allocated and mapped; existing views
 * stay valid), and no access ever spans two mappings (callers keep every block inside one segment).
 * Why real allocation: new space is written with zeros before it is mapped, so a full filesystem
 * gives `NO_SPACE` at grow time instead of a SIGBUS on the first store into a sparse hole.
 * Why a residency budget: a mapped page counts in RSS once touched; windows (64 KiB) not used
 * recently are dropped from the page tables with MADV_DONTNEED (the data stays in the page cache
 * and the file, a later access faults it back), so resident memory follows `residentBytes`, not
 * the file size.
 *
 * Without the mmap binding (`io: 'pread'`, or the optional package missing) the same API works
 * over pread/pwrite with a bounded window cache; `engineReason` says which and why.
 */
import fs from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { CairnError, InvalidArgumentError, assert } from '../../core/errors.js';
import type { FaultInjector } from './fault.js';
import { mediaErrorFromErrno } from './errors.js';
import { nativeAddon } from './io-uring.js';
import { swallowed } from '../../core/log.js';
import { copyInto } from '../../core/typed.js';

/** The subset of the mmap-io binding used here (the package ships CommonJS). */
interface MmapBinding {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  sync(buffer: Buffer, offset?: number, size?: number, blockingSync?: boolean, invalidatePages?: boolean): void;
  advise(buffer: Buffer, offset: number, length: number, advise: number): void;
  readonly PROT_READ: number; readonly PROT_WRITE: number; readonly MAP_SHARED: number;
  readonly MADV_RANDOM: number; readonly MADV_DONTNEED: number; readonly PAGESIZE: number;
}

/**
 * The mmap-io addon loaded straight from where its install put it; the package's own entry finds
 * it through node-pre-gyp, whose loading costs ~180 ms of CPU (~0.4 s of wall) per process at the
 * first store's open. Falls back to that entry when the addon is elsewhere. The package's `sync`
 * wrapper (defaults of the raw binding's arguments) is rebuilt here as it is.
 */
function loadMmapAddon(req: NodeJS.Require): MmapBinding {
  let root: string;
  try { root = req.resolve('@riaskov/mmap-io/package.json').replace(/package\.json$/, ''); } catch { return req('@riaskov/mmap-io') as MmapBinding; }
  for (const rel of [`build/binding/Release/node-v${process.versions.modules}-${process.platform}-${process.arch}/mmap_io.node`, 'build/Release/mmap_io.node']) {
    let raw: Record<string, unknown>;
    try { raw = req(root + rel) as Record<string, unknown>; } catch { continue; }
    const rawSync = raw.sync_lib_private__;
    if (typeof rawSync !== 'function' || typeof raw.map !== 'function') continue;
    const sync = (buf: Buffer, offset?: number, size?: number, blocking?: boolean, invalidate?: boolean) => rawSync(buf, offset || 0, size || buf.length, blocking || false, invalidate || false);
    return { ...(raw as unknown as MmapBinding), sync };
  }
  return req('@riaskov/mmap-io') as MmapBinding;
}

let mmapBinding: MmapBinding | null | undefined;
let mmapMissingReason = '';
/** The mmap binding, or null (with the reason in `mmapMissingReason`) when it cannot load. */
function loadMmap(): MmapBinding | null {
  if (mmapBinding !== undefined) return mmapBinding;
  try {
    mmapBinding = loadMmapAddon(createRequire(import.meta.url));
  } catch (e) {
    mmapBinding = null;
    mmapMissingReason = `@riaskov/mmap-io unavailable (${(e as Error).message.split('\n')[0]})`;
  }
  return mmapBinding;
}

/** Residency window: the unit of the LRU and of MADV_DONTNEED / the pread cache. */
export const PMEM_WINDOW_BYTES = 64 * 1024;
/** Smallest segment (mapping and growth unit). */
export const MIN_SEGMENT_BYTES = 256 * 1024;
/** Largest segment: one Node Buffer maps at most this much. */
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** Largest file: 4096 segments of the largest size would exceed any target we support. */
export const MAX_SPACE_BYTES = 2 ** 44;
/** Default resident budget of one space (mapped windows kept in the page tables). */
export const DEFAULT_RESIDENT_BYTES = 32 * 1024 * 1024;
/** Zero-fill chunk for real allocation of new space. */
const ZERO_CHUNK_BYTES = 1024 * 1024;

/** Options of `PmemSpace.open`. */
export interface PmemSpaceOptions {
  /** Mapping and growth unit in bytes (power of two, >= 256 KiB). Used when creating; an existing file keeps its own. */
  segmentBytes: number;
  /** Size to create the file with (a multiple of segmentBytes). Used when creating. */
  initialBytes: number;
  /** The file never grows past this (`NO_SPACE`). */
  maxBytes: number;
  /** Create the file when absent (default true). */
  create?: boolean;
  /** Open without writing (another process may be writing it). */
  readOnly?: boolean;
  /** 'auto' (default): mmap when the binding loads; 'pread': never map. */
  io?: 'auto' | 'mmap' | 'pread';
  /** Mapped (or cached) bytes kept resident before the least recently used windows are dropped. */
  residentBytes?: number;
  /** Seeded fault injection (tests): torn or failing writes, bit flips on `read` copies. */
  fault?: FaultInjector;
}

/** `n` as a small integer (V8 Smi) when it is one that fits in 30 bits, else `n` (sizes kept in fields: one representation). */
const smallInt = (n: number): number => (n >= 0 && n <= 0x3fffffff ? n | 0 : n);

/**
 * Linux's MADV_POPULATE_WRITE (5.14+): fault a range of a mapping in writable in one call.
 * `CAIRN_PMEM_PREFAULT=0` turns `PmemSpace.prefault` off (an A/B, or a kernel that misreports).
 */
const MADV_POPULATE_WRITE = 23;
/** Whether `prefault` may call MADV_POPULATE_WRITE: off once the kernel refused it (an older kernel: EINVAL). */
let populateWrite = process.env.CAIRN_PMEM_PREFAULT !== '0';

/** A growable, segment-mapped file. Offsets are absolute file offsets. */
export class PmemSpace {
  /** 'mmap' or 'pread'. */
  readonly engine: 'mmap' | 'pread';
  /** Why that engine. */
  readonly engineReason: string;
  /** True when this open created the file. */
  readonly created: boolean;
  private segs: Uint8Array[] = [];
  /** Clock of resident windows (mmap mode): resident flag and referenced bit per window. */
  private resident = new Uint8Array(0);
  private referenced = new Uint8Array(0);
  private residentCount = 0;
  private hand = 0;
  private readonly cache = new Map<number, Uint8Array>();
  private closed = false;
  private sizeBytes: number;
  private readonly maxBytes: number;
  private readonly residentBytes: number;
  /**
   * Syncs of the file started or ended (mmap mode): a sync writes dirty pages back and so
   * write-protects them in the page tables again; a range `prefault` made writable before the
   * count moved is not writable any more.
   */
  private syncCount = 0;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    readonly segmentBytes: number,
    size: number,
    maxBytes: number,
    private readonly readOnly: boolean,
    private readonly mm: MmapBinding | null,
    created: boolean,
    reason: string,
    residentBytes: number,
    private readonly fault?: FaultInjector,
  ) {
    // (small integers whatever their source: fstat's size is a heap number even when small, a
    // created file's size a small integer; one field of two representations moves the object to
    // another hidden class and deoptimises its callers once more: vos's ask, session 29)
    this.sizeBytes = smallInt(size);
    this.maxBytes = smallInt(maxBytes);
    this.created = created;
    this.engine = mm ? 'mmap' : 'pread';
    this.engineReason = reason;
    this.residentBytes = residentBytes;
  }

  /** Open (creating when absent and allowed) `path`. */
  static open(path: string, opts: PmemSpaceOptions): PmemSpace {
    const seg = opts.segmentBytes;
    if (!Number.isSafeInteger(seg) || seg < MIN_SEGMENT_BYTES || seg > MAX_SEGMENT_BYTES || (seg & (seg - 1)) !== 0) {
      throw new InvalidArgumentError(`segmentBytes must be a power of two in [${MIN_SEGMENT_BYTES}, ${MAX_SEGMENT_BYTES}]`, { segmentBytes: seg });
    }
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes < seg || opts.maxBytes > MAX_SPACE_BYTES) {
      throw new InvalidArgumentError(`maxBytes must be in [segmentBytes, 2^44]`, { maxBytes: opts.maxBytes, segmentBytes: seg });
    }
    if (!Number.isSafeInteger(opts.initialBytes) || opts.initialBytes < seg || opts.initialBytes % seg !== 0 || opts.initialBytes > opts.maxBytes) {
      throw new InvalidArgumentError('initialBytes must be a multiple of segmentBytes within maxBytes', { initialBytes: opts.initialBytes });
    }
    const resident = opts.residentBytes ?? DEFAULT_RESIDENT_BYTES;
    if (!Number.isSafeInteger(resident) || resident < PMEM_WINDOW_BYTES) throw new InvalidArgumentError(`residentBytes must be >= ${PMEM_WINDOW_BYTES}`, { residentBytes: resident });
    opts.fault?.onOpen(path);
    let mm: MmapBinding | null = null;
    let reason: string;
    if ((opts.io ?? 'auto') === 'pread') {
      reason = 'pread: requested';
    } else {
      mm = loadMmap();
      if (!mm && opts.io === 'mmap') throw new CairnError('UNSUPPORTED', `mmap requested but ${mmapMissingReason}`, { path });
      reason = mm ? 'mmap: shared mapping of the file, loads and stores in place' : `pread: ${mmapMissingReason}`;
    }
    const readOnly = opts.readOnly === true;
    let fd: number;
    try {
      fd = fs.openSync(path, readOnly ? 'r' : opts.create === false ? 'r+' : fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (e) {
      throw mediaErrorFromErrno(e, `open ${path}`, { path });
    }
    try {
      let size = fs.fstatSync(fd).size;
      let created = false;
      // A grow (or the first allocation) that a crash interrupted leaves a partial segment at the end.
      // Nothing in it was handed out (space is used only once a grow completed), so it is dropped;
      // a read-only open maps the whole segments (the writer may be growing the file right now).
      if (size % seg !== 0) {
        const whole = size - (size % seg);
        if (!readOnly) {
          try { fs.ftruncateSync(fd, whole); } catch (e) { throw mediaErrorFromErrno(e, `truncate ${path}`, { path }); }
        }
        size = whole;
      }
      if (size === 0) {
        if (readOnly) throw new CairnError('MISSING_FILE', `pmem file ${path} is empty`, { path });
        allocate(fd, 0, opts.initialBytes, path);
        size = opts.initialBytes;
        created = true;
      }
      // An existing file keeps its geometry: the caller passes the segment size it recorded.
      const space = new PmemSpace(path, fd, seg, size, Math.max(opts.maxBytes, size), readOnly, mm, created, reason, resident, opts.fault);
      for (let off = 0; off < size; off += seg) space.mapSegment(off);
      return space;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  /** Current size of the file in bytes. */
  get size(): number { return this.sizeBytes; }
  /** Largest size the file may grow to. */
  get capacity(): number { return this.maxBytes; }
  /** True after `close()`. */
  get isClosed(): boolean { return this.closed; }

  /**
   * Grow the file by whole segments to at least `minSize` bytes (allocated for real, then
   * mapped). `NO_SPACE` when that exceeds `maxBytes` or the filesystem is full.
   */
  grow(minSize: number): void {
    this.checkOpen();
    if (this.readOnly) throw new CairnError('READ_ONLY', 'pmem space opened read-only', { path: this.path });
    if (minSize <= this.sizeBytes) return;
    const target = Math.ceil(minSize / this.segmentBytes) * this.segmentBytes;
    if (target > this.maxBytes) {
      throw new CairnError('NO_SPACE', `metadata file ${this.path} would exceed its cap of ${this.maxBytes} bytes`, { path: this.path, cap: this.maxBytes, need: target });
    }
    allocate(this.fd, this.sizeBytes, target - this.sizeBytes, this.path);
    for (let off = this.sizeBytes; off < target; off += this.segmentBytes) this.mapSegment(off);
    this.sizeBytes = smallInt(target); // (Math.ceil answers a heap number)
  }

  /** Re-read the file size after another process grew it (read-only opens). */
  refresh(): void {
    this.checkOpen();
    this.cache.clear(); // pread mode: cached windows may hold bytes the writer has changed since
    const size = fs.fstatSync(this.fd).size;
    for (let off = this.sizeBytes; off + this.segmentBytes <= size; off += this.segmentBytes) {
      this.mapSegment(off);
      this.sizeBytes = smallInt(off + this.segmentBytes);
    }
  }

  /**
   * A view of `[off, off+len)`: zero-copy into the mapping (valid while the space is open; the
   * bytes change if the range is rewritten). The range must lie inside one segment. In pread mode
   * the view is into a cached window (or a fresh copy when it spans windows).
   */
  view(off: number, len: number): Uint8Array {
    this.checkRange(off, len);
    if (this.mm) {
      this.touch(off, len);
      const s = Math.floor(off / this.segmentBytes);
      const base = off - s * this.segmentBytes;
      if (base + len > this.segmentBytes) assert(false, 'pmem access spans two segments', { off, len, segmentBytes: this.segmentBytes });
      // a plain Uint8Array, never a Buffer: Buffer#slice would share memory where callers copy
      const seg = this.segs[s]!;
      return new Uint8Array(seg.buffer, seg.byteOffset + base, len);
    }
    const w = Math.floor(off / PMEM_WINDOW_BYTES);
    const we = Math.floor((off + len - 1) / PMEM_WINDOW_BYTES);
    if (w === we || len === 0) {
      const win = this.window(w);
      const b = off - w * PMEM_WINDOW_BYTES;
      return win.subarray(b, b + len);
    }
    const out = new Uint8Array(len);
    this.copyOut(off, out);
    return out;
  }

  /**
   * A copy of `[off, off+len)` read with pread (never through the mapping, so it maps nothing into
   * the process): for blocks read at random and cached by the caller. An injected fault may flip a
   * bit of the copy (tests).
   */
  pread(off: number, len: number): Uint8Array {
    this.checkRange(off, len); // (before the allocation: a bad length is INVALID_ARGUMENT, not a RangeError)
    const out = new Uint8Array(len);
    this.preadInto(off, out);
    return out;
  }

  /**
   * `pread` into the caller's `out` (`[off, off + out.length)`): for a caller that reuses one buffer
   * for reads it checks and copies out at once, since fresh memory costs a page fault a page here.
   */
  preadInto(off: number, out: Uint8Array): void {
    const len = out.length;
    this.checkRange(off, len);
    try {
      let got = 0;
      while (got < len) { const n = fs.readSync(this.fd, out, got, len - got, off + got); if (n === 0) break; got += n; }
    } catch (e) {
      throw mediaErrorFromErrno(e, `read ${this.path}`, { path: this.path, offset: off });
    }
    this.fault?.onRead(off, out);
  }

  /**
   * Write `data` at `off` with pwrite (bulk writes: sorted runs, manifests), leaving nothing mapped.
   * Coherent with the mapping (one page cache). Injected faults as for `write`.
   */
  pwrite(off: number, data: Uint8Array): void {
    this.checkRange(off, data.length);
    const { bytes, err } = this.admitWrite(off, data);
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, off + done);
    } catch (e) {
      throw mediaErrorFromErrno(e, `write ${this.path}`, { path: this.path, offset: off });
    }
    // pread mode keeps a window cache: keep it coherent
    if (!this.mm) {
      for (let w = Math.floor(off / PMEM_WINDOW_BYTES); w * PMEM_WINDOW_BYTES < off + bytes.length; w++) {
        const win = this.cache.get(w);
        if (!win) continue;
        const ws = w * PMEM_WINDOW_BYTES;
        const s = Math.max(off, ws); const e = Math.min(off + bytes.length, ws + PMEM_WINDOW_BYTES);
        win.set(bytes.subarray(s - off, e - off), s - ws);
      }
    }
    if (err) throw err;
  }

  /**
   * Refuse writes to a read-only space, and apply an injected write fault: the bytes that land (a
   * prefix of whole 8-byte units) and the error to throw once they have.
   */
  private admitWrite(off: number, data: Uint8Array): { bytes: Uint8Array; err?: unknown } {
    if (this.readOnly) throw new CairnError('READ_ONLY', 'pmem space opened read-only', { path: this.path });
    if (!this.fault) return { bytes: data };
    const f = this.fault.onWrite(off, data, 8);
    if (f.error && f.truncateTo === undefined) throw f.error;
    return { bytes: f.truncateTo !== undefined ? data.subarray(0, f.truncateTo) : data, err: f.error };
  }

  /** A copy of `[off, off+len)`; an injected fault may flip a bit of the copy (tests). */
  read(off: number, len: number): Uint8Array {
    this.checkRange(off, len);
    const out = new Uint8Array(len);
    this.copyOut(off, out);
    this.fault?.onRead(off, out);
    return out;
  }

  /**
   * Store `data` at `off`. When it returns the bytes are in the page cache (process-crash safe).
   * An injected fault may land only a prefix of whole 8-byte units and then throw (tests).
   */
  write(off: number, data: Uint8Array): void {
    this.checkRange(off, data.length);
    const { bytes, err } = this.admitWrite(off, data);
    this.store(off, bytes);
    if (err) throw err;
  }

  /**
   * Make `[off, off + len)` writable in this process's page tables in one call, before a writer
   * stores into all of it in order (the log's append window: `Wal.append`). A store into a page
   * that is not mapped writable traps into the kernel; on this VM a trap costs ~10-13 us, while
   * MADV_POPULATE_WRITE maps 16 pages for ~3-9 us (measured: 0.15-0.54 us a page). Every page of
   * the range becomes dirty (written back at the next sync as it is: nothing changes on disk), so
   * only a range about to be written belongs here. Clipped to the segment and the file holding
   * `off`. True when it did so; false when it cannot help (pread mode, read-only, a kernel
   * without MADV_POPULATE_WRITE, `CAIRN_PMEM_PREFAULT=0`): the writes then fault as ever.
   * See `syncs` for how long the range stays writable.
   */
  prefault(off: number, len: number): boolean {
    if (!this.mm || this.readOnly || !populateWrite || len <= 0) return false;
    this.checkRange(off, len);
    const page = this.mm.PAGESIZE;
    const s = Math.floor(off / this.segmentBytes);
    const seg = this.segs[s];
    if (seg === undefined) return false;
    const from = Math.floor(off / page) * page;
    const to = Math.min(off + len, (s + 1) * this.segmentBytes, this.sizeBytes);
    try {
      this.mm.advise(seg as Buffer, from - s * this.segmentBytes, to - from, MADV_POPULATE_WRITE);
    } catch (e) {
      populateWrite = false; // (EINVAL: a kernel before 5.14; the writes fault page by page instead)
      swallowed('media.pmem-prefault-unsupported', e);
      return false;
    }
    this.touch(from, to - from);
    return true;
  }

  /**
   * Syncs of the file so far (started and ended: each moves it twice). A writer that made a range
   * writable (`prefault`) at one count makes it writable again once the count moved.
   */
  get syncs(): number { return this.syncCount; }

  /** Zero `[off, off+len)` (with pwrite: hygiene writes are never faulted and map nothing in). */
  zero(off: number, len: number): void {
    this.checkRange(off, len);
    if (this.readOnly) throw new CairnError('READ_ONLY', 'pmem space opened read-only', { path: this.path });
    try {
      for (let at = off; at < off + len;) {
        const n = Math.min(ZERO.length, off + len - at);
        let done = 0;
        while (done < n) done += fs.writeSync(this.fd, ZERO, done, n - done, at + done);
        at += n;
      }
    } catch (e) {
      throw mediaErrorFromErrno(e, `write ${this.path}`, { path: this.path, offset: off });
    }
    if (!this.mm) {
      for (let w = Math.floor(off / PMEM_WINDOW_BYTES); w * PMEM_WINDOW_BYTES < off + len; w++) {
        const win = this.cache.get(w);
        if (!win) continue;
        const ws = w * PMEM_WINDOW_BYTES;
        win.fill(0, Math.max(off, ws) - ws, Math.min(off + len, ws + PMEM_WINDOW_BYTES) - ws);
      }
    }
  }

  /**
   * Make `[off, off+len)` durable against power loss: msync (mmap) or fdatasync (pread). Blocks
   * the calling thread for the flush; used only in durable mode, group-committed by the caller.
   */
  persist(off: number, len: number): void {
    this.checkRange(off, len);
    const err = this.fault?.beforeSync();
    if (err) throw err;
    if (len === 0) return;
    if (!this.mm) { fs.fdatasyncSync(this.fd); return; }
    this.syncCount += 2;
    const page = this.mm.PAGESIZE;
    let at = Math.floor(off / page) * page;
    const end = Math.ceil((off + len) / page) * page;
    while (at < end) {
      const s = Math.floor(at / this.segmentBytes);
      const segEnd = (s + 1) * this.segmentBytes;
      const n = Math.min(end, segEnd) - at;
      this.mm.sync(this.segs[s] as Buffer, at - s * this.segmentBytes, n, true, false);
      at += n;
    }
  }

  /**
   * `persist` of the whole file without blocking the event loop: one fdatasync on the thread pool
   * (it covers mapped and written pages alike: on Linux msync(MS_SYNC) is an fsync of a range), so
   * several files sync in parallel. Covers every write made before the call. Injected faults as
   * for `persist`.
   */
  /** Make every write to the file so far durable (one fdatasync: cheaper than several range msyncs, each of which syncs the file). */
  persistAll(): void {
    const err = this.fault?.beforeSync();
    if (err) throw err;
    this.syncCount += 2;
    try { fs.fdatasyncSync(this.fd); } catch (e) { throw mediaErrorFromErrno(e, `sync ${this.path}`, { path: this.path }); }
  }

  persistAsync(): Promise<void> {
    const err = this.fault?.beforeSync();
    if (err) return Promise.reject(err);
    // (counted when it starts and when it ends: pages made writable while it runs may be written back by it)
    this.syncCount++;
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.fd, (e) => { this.syncCount++; if (e) reject(mediaErrorFromErrno(e, `sync ${this.path}`, { path: this.path })); else resolve(); });
    });
  }

  /** Drop every window from residency (after a bulk scan), keeping the data. */
  dropResidency(): void {
    for (let w = 0; w < this.resident.length; w++) this.evict(w);
  }

  /** Windows currently counted resident (for tests and `usage`). */
  get residentWindows(): number { return this.mm ? this.residentCount : this.cache.size; }

  /** Unmap (the mappings go with their buffers) and close the descriptor. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.segs = [];
    this.cache.clear();
    this.resident = new Uint8Array(0); this.referenced = new Uint8Array(0); this.residentCount = 0;
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
  }

  // ------------------------------------------------------------------ internals

  private mapSegment(off: number): void {
    if (!this.mm) return;
    const prot = this.readOnly ? this.mm.PROT_READ : this.mm.PROT_READ | this.mm.PROT_WRITE;
    const b = this.mm.map(this.segmentBytes, prot, this.mm.MAP_SHARED, this.fd, off);
    assert(b.length === this.segmentBytes, 'mmap returned a short mapping', { off, got: b.length });
    this.mm.advise(b, 0, b.length, this.mm.MADV_RANDOM);
    this.segs.push(b);
  }

  private store(off: number, data: Uint8Array): void {
    if (data.length === 0) return;
    if (this.mm) {
      const s0 = Math.floor(off / this.segmentBytes);
      const base0 = off - s0 * this.segmentBytes;
      if (base0 + data.length <= this.segmentBytes) {
        // the common case: inside one segment, no subarray
        copyInto(this.segs[s0]!, data, base0);
        this.touch(off, data.length);
        return;
      }
      let at = off; let from = 0;
      while (from < data.length) {
        const s = Math.floor(at / this.segmentBytes);
        const base = at - s * this.segmentBytes;
        const n = Math.min(data.length - from, this.segmentBytes - base);
        this.segs[s]!.set(data.subarray(from, from + n), base);
        this.touch(at, n);
        at += n; from += n;
      }
      return;
    }
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, off + done);
    } catch (e) {
      throw mediaErrorFromErrno(e, `write ${this.path}`, { path: this.path, offset: off });
    }
    // keep cached windows coherent
    for (let w = Math.floor(off / PMEM_WINDOW_BYTES); w * PMEM_WINDOW_BYTES < off + data.length; w++) {
      const win = this.cache.get(w);
      if (!win) continue;
      const ws = w * PMEM_WINDOW_BYTES;
      const s = Math.max(off, ws); const e = Math.min(off + data.length, ws + PMEM_WINDOW_BYTES);
      win.set(data.subarray(s - off, e - off), s - ws);
    }
  }

  private copyOut(off: number, out: Uint8Array): void {
    if (this.mm) {
      let at = off; let to = 0;
      while (to < out.length) {
        const s = Math.floor(at / this.segmentBytes);
        const base = at - s * this.segmentBytes;
        const n = Math.min(out.length - to, this.segmentBytes - base);
        out.set(this.segs[s]!.subarray(base, base + n), to);
        this.touch(at, n);
        at += n; to += n;
      }
      return;
    }
    let at = off; let to = 0;
    while (to < out.length) {
      const w = Math.floor(at / PMEM_WINDOW_BYTES);
      const b = at - w * PMEM_WINDOW_BYTES;
      const n = Math.min(out.length - to, PMEM_WINDOW_BYTES - b);
      out.set(this.window(w).subarray(b, b + n), to);
      at += n; to += n;
    }
  }

  /** The cached window `w` (pread mode), read on a miss; the least recently used go over budget. */
  private window(w: number): Uint8Array {
    let win = this.cache.get(w);
    if (win) { this.cache.delete(w); this.cache.set(w, win); return win; }
    win = new Uint8Array(PMEM_WINDOW_BYTES);
    const pos = w * PMEM_WINDOW_BYTES;
    const n = Math.min(PMEM_WINDOW_BYTES, this.sizeBytes - pos);
    try {
      let got = 0;
      while (got < n) {
        const r = fs.readSync(this.fd, win, got, n - got, pos + got);
        if (r === 0) break;
        got += r;
      }
    } catch (e) {
      throw mediaErrorFromErrno(e, `read ${this.path}`, { path: this.path, offset: pos });
    }
    this.cache.set(w, win);
    while (this.cache.size * PMEM_WINDOW_BYTES > this.residentBytes) {
      const oldest = this.cache.keys().next().value as number;
      this.cache.delete(oldest);
    }
    return win;
  }

  /** Note use of `[off, off+len)` (clock algorithm); drop windows not used since the hand passed, over budget. */
  private touch(off: number, len: number): void {
    const first = Math.floor(off / PMEM_WINDOW_BYTES);
    const last = Math.floor((off + Math.max(1, len) - 1) / PMEM_WINDOW_BYTES);
    if (last >= this.resident.length) this.growClock(last + 1);
    for (let w = first; w <= last; w++) {
      this.referenced[w] = 1;
      if (this.resident[w] === 0) {
        this.resident[w] = 1;
        if (++this.residentCount * PMEM_WINDOW_BYTES > this.residentBytes) this.sweep(first, last);
      }
    }
  }

  private growClock(n: number): void {
    const size = Math.max(n, this.resident.length * 2, 64);
    const r = new Uint8Array(size); r.set(this.resident); this.resident = r;
    const f = new Uint8Array(size); f.set(this.referenced); this.referenced = f;
  }

  /** Advance the clock hand, evicting unreferenced windows (never those in [keepLo, keepHi]) until under budget. */
  private sweep(keepLo: number, keepHi: number): void {
    const n = this.resident.length;
    for (let steps = 0; this.residentCount * PMEM_WINDOW_BYTES > this.residentBytes && steps < 2 * n; steps++) {
      const w = this.hand;
      this.hand = (this.hand + 1) % n;
      if (this.resident[w] === 0 || (w >= keepLo && w <= keepHi)) continue;
      if (this.referenced[w] === 1) { this.referenced[w] = 0; continue; }
      this.evict(w);
    }
  }

  private evict(w: number): void {
    if (this.resident[w] === 0) return;
    this.resident[w] = 0; this.referenced[w] = 0; this.residentCount--;
    if (!this.mm) return;
    const off = w * PMEM_WINDOW_BYTES;
    const s = Math.floor(off / this.segmentBytes);
    const seg = this.segs[s];
    if (seg) this.mm.advise(seg as Buffer, off - s * this.segmentBytes, PMEM_WINDOW_BYTES, this.mm.MADV_DONTNEED);
  }

  private checkOpen(): void {
    if (this.closed) throw new CairnError('CLOSED', 'pmem space is closed', { path: this.path });
  }

  private checkRange(off: number, len: number): void {
    this.checkOpen();
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > this.sizeBytes) {
      throw new InvalidArgumentError('pmem range out of bounds', { offset: off, length: len, size: this.sizeBytes });
    }
  }
}

const ZERO = new Uint8Array(ZERO_CHUNK_BYTES);
const ERRNO_EOPNOTSUPP = os.constants.errno.EOPNOTSUPP;
const ERRNO_ENOSYS = os.constants.errno.ENOSYS;

/** Allocate `[from, from+len)` of the file for real (fallocate, else zero-filled writes), so later stores never SIGBUS. */
function allocate(fd: number, from: number, len: number, path: string): void {
  // fallocate(2) reserves the blocks without a page of zeros through the page cache (214 ms per
  // 4 MiB of zero writes here under dirty-page throttling, against 0.05 ms); zeros where it is absent
  const fa = nativeAddon()?.fallocate;
  const e = fa ? fa(fd, from, len) : ERRNO_EOPNOTSUPP;
  if (e === 0) return;
  if (e !== ERRNO_EOPNOTSUPP && e !== ERRNO_ENOSYS) {
    try { fs.ftruncateSync(fd, from); } catch { /* as below */ }
    throw mediaErrorFromErrno(-e, `allocate ${len} bytes of ${path}`, { path, from, len });
  }
  try {
    let at = from;
    while (at < from + len) {
      const n = Math.min(ZERO.length, from + len - at);
      let done = 0;
      while (done < n) done += fs.writeSync(fd, ZERO, done, n - done, at + done);
      at += n;
    }
  } catch (e) {
    // leave the file as long as it was: a half-grown tail would not be a whole segment
    try { fs.ftruncateSync(fd, from); } catch { /* the truncate itself failed: the next open sees a bad size */ }
    throw mediaErrorFromErrno(e, `allocate ${len} bytes of ${path}`, { path, from, len });
  }
}
