/**
 * The block data file of a Cairn target: a fixed-size, BLOCK_SIZE-aligned file that holds the
 * bulk of larger values. Writes and reads go through an I/O engine: io_uring (native addon) when
 * available, else `pread`/`pwrite` on the libuv thread-pool, chosen automatically and reported
 * in `engine`/`engineReason`. The file is opened with O_DIRECT where the filesystem supports it
 * (`direct`), in which case unaligned caller buffers are copied once into aligned memory.
 *
 * On disk: a plain file of `size` bytes (sparse until written); byte `o` of the device is byte `o`
 * of the file. There is no header: the versioned store above owns the layout.
 */
import * as fs from 'node:fs';
import { assert } from '../../core/errors.js';
import { Semaphore } from '../../core/semaphore.js';
import { materializeFills } from './fills.js';
import { swallowed } from '../../core/log.js';
import { BLOCK_SIZE, MAX_ALIGNED_BYTES, allocAligned, isAligned } from './aligned.js';
import type { FileMap, HashedRead, HashedWrite, IoEngine } from './io-engine.js';
import { MediaError, mediaErrorFromErrno } from './errors.js';
import type { FaultInjector, ReadFault } from './fault.js';
import { IoUringEngine, loadNative, nativeAddon } from './io-uring.js';
import { PreadEngine, HASHED_IO_MAX_VIEWS } from './pread.js';
import { xxh64Parts } from '../../core/xxhash.js';
import { readSlab } from '../../core/bytes.js';

export { BLOCK_SIZE, allocAligned, isAligned, registerAlignedBuffer } from './aligned.js';

/** Largest device (file) size accepted: 2^50 bytes, well inside exact JS integers. */
export const MAX_DEVICE_SIZE = 2 ** 50;
/** Writes and reads larger than this are split into chunks issued in parallel. */
export const IO_CHUNK_BYTES = 512 * 1024;
/** Filesystem magic of tmpfs (statfs f_type): memory already, O_DIRECT buys nothing. */
const TMPFS_MAGIC = 0x01021994;

/** A fixed-size, block-addressed data file. Offsets and lengths are multiples of BLOCK_SIZE. */
export interface BlockDevice {
  /** The engine in use. */
  readonly engine: 'io_uring' | 'pread';
  /** Why this engine was chosen (e.g. why io_uring is not in use). */
  readonly engineReason: string;
  /** True when the file is open with O_DIRECT (page cache bypassed). */
  readonly direct: boolean;
  /** Why O_DIRECT is or is not in use. */
  readonly directReason: string;
  /** Device size in bytes; accesses past it fail with `NO_SPACE`. */
  readonly size: number;
  /** Write `data` at `offset`; both offset and length are multiples of BLOCK_SIZE. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Read `length` bytes at `offset` (into `into` if given, which must hold `length` bytes); unwritten areas read as zeros. */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * Read `length` bytes at `offset` straight into the caller's buffers `into` (filled in order;
   * together at most `length` bytes; bytes past them are read and dropped), so a value lands
   * where its reader wants it without an intermediate buffer: one scatter read (preadv) when the
   * engine has it and the file is buffered, else one aligned bounce buffer and a copy.
   */
  readInto(offset: number, length: number, into: readonly Uint8Array[]): Promise<void>;
  /**
   * Write `length` bytes at `offset` (both multiples of BLOCK_SIZE): the caller's buffers `from`
   * in order (together at most `length` bytes), then zeros up to `length` — one gather write
   * (pwritev) when the engine has it and the file is buffered, so a value whose length is not a
   * whole number of blocks needs no padded copy; else one aligned bounce buffer.
   */
  writeFrom(offset: number, length: number, from: readonly Uint8Array[]): Promise<void>;
  /**
   * `readInto`, resolving with the xxhash64 (`seed`) of the bytes read into `into` (exactly those:
   * the value, not the block padding after it), so the reader verifies a checksum without hashing
   * on its own thread: the engine hashes on the thread that read the bytes where it can
   * (`IoEngine.readvHash`), else the device hashes after the read (same result).
   */
  readIntoHashed(offset: number, length: number, into: readonly Uint8Array[], seed: bigint): Promise<bigint>;
  /**
   * `readIntoHashed` prepared synchronously and not yet sent: the request, holding one of the
   * device's slots, for `readHashedGroup` (the reads of several devices, the k cells of an EC
   * read, sent with one promise). Undefined when this device cannot (O_DIRECT, fault injection,
   * an engine without groups, no free slot): use `readIntoHashed`. The caller gives the slot back
   * (`release`) once the group has settled, or when it does not send it.
   */
  hashedReadNow?(offset: number, length: number, into: readonly Uint8Array[], seed: bigint): HashedReadSlot | undefined;
  /**
   * `writeFrom`, resolving with the xxhash64 (`seed`) of the bytes of `from` (without the zero
   * padding), computed off the JavaScript thread where the engine can (`IoEngine.writevHash`),
   * else on it while the write is in flight.
   */
  writeFromHashed(offset: number, length: number, from: readonly Uint8Array[], seed: bigint): Promise<bigint>;
  /**
   * `writeFromHashed` prepared synchronously and not yet sent: the request, holding one of the
   * device's slots, for `writeHashedGroup` (the shard writes of several devices, the k + p cells of
   * an EC write, sent with one promise). Undefined when this device cannot (O_DIRECT, fault
   * injection, an engine without groups, no free slot): use `writeFromHashed`. The caller gives the
   * slot back (`release`) once the group has settled, or when it does not send it. The views must
   * not change until then; a first view registered as a deferred parity fill is computed on the job.
   */
  hashedWriteNow?(offset: number, length: number, from: readonly Uint8Array[], seed: bigint): HashedWriteSlot | undefined;
  /**
   * `writeFrom` done synchronously, one pwritev into the page cache: small values on the write
   * path, where a thread-pool round trip costs more than the copy. An O_DIRECT device does it
   * through a second, buffered descriptor of the same file (the kernel keeps the two coherent:
   * direct I/O writes back and drops cached pages of its range); `sync()` covers these writes too.
   */
  writeFromSync(offset: number, length: number, from: readonly Uint8Array[]): void;
  /**
   * `writeFromSync` of one value, returning its xxhash64 (`seed`): hashed where it is, next to the
   * system call, when the native addon is there (else hashed on this thread, same result).
   */
  writeHashedSync(offset: number, length: number, value: Uint8Array, seed: bigint): bigint;
  /** `read` done synchronously from the page cache (small values on the read path; buffered descriptor as `writeFromSync`). */
  readSync(offset: number, length: number): Uint8Array;
  /**
   * `readSync` of the first `into.length` bytes of the extent at `offset` (a block boundary) into
   * `into`, returning their xxhash64 (`seed`):
   * copied and hashed in one pass out of the file's writable mapping (the one small writes go
   * through, so a value written lately has its page-table entry) when it is there, with no system
   * call; else pread and the hash on this thread (same result).
   */
  readHashedSync(offset: number, into: Uint8Array, seed: bigint): bigint;
  /** fdatasync: writes completed before this call are durable when it resolves. */
  sync(): Promise<void>;
  /** A zeroed BLOCK_SIZE-aligned buffer (use it for data to avoid the O_DIRECT bounce copy). */
  allocAligned(bytes: number): Uint8Array;
  /** Wait for in-flight requests, then close the file. Later calls fail with `CLOSED`. */
  close(): Promise<void>;
}

/** A hashed read prepared by `BlockDevice.hashedReadNow`: the request, its engine and the device slot it holds. */
export interface HashedReadSlot extends HashedRead {
  readonly engine: IoEngine;
  /** Give the device slot back (once; later calls do nothing). */
  release(): void;
}

/**
 * `HashedReadSlot` and `HashedWriteSlot` of a file device (see `FileBlockDevice.hashedReadNow` and
 * `hashedWriteNow`; a write's `map` is undefined): the request and the device slot it holds.
 */
class FileHashedSlot implements HashedReadSlot, HashedWriteSlot {
  private held = true;
  constructor(
    readonly fd: number,
    readonly views: readonly Uint8Array[],
    readonly position: number,
    readonly hashLen: number,
    readonly seed: bigint,
    readonly map: FileMap | undefined,
    readonly engine: IoEngine,
    private readonly slots: Semaphore,
  ) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.slots.release();
  }
}

/** A hashed write prepared by `BlockDevice.hashedWriteNow`: the request, its engine and the device slot it holds. */
export interface HashedWriteSlot extends HashedWrite {
  readonly engine: IoEngine;
  /** Give the device slot back (once; later calls do nothing). */
  release(): void;
}

/**
 * Send hashed writes prepared by `hashedWriteNow` (of one or several devices) as one request with
 * one promise: it resolves, in order, with each write's hash (of its bytes, without the zero
 * padding) or the error it failed with, and never rejects. The slots stay held: the caller releases
 * each once it has looked at the results.
 */
export function writeHashedGroup(writes: readonly HashedWriteSlot[]): Promise<Array<bigint | Error>> {
  if (writes.length === 0) return Promise.resolve([]);
  // (every engine that prepares write slots has write groups, and they share one process-wide batcher)
  return writes[0]!.engine.writevHashGroup!(writes);
}

/**
 * Send hashed reads prepared by `hashedReadNow` (of one or several devices) as one request with
 * one promise: it resolves, in order, with each read's hash or the error it failed with, and never
 * rejects. The slots stay held: the caller releases each once it has looked at the results.
 */
export function readHashedGroup(reads: readonly HashedReadSlot[]): Promise<Array<bigint | Error>> {
  if (reads.length === 0) return Promise.resolve([]);
  // (every engine that prepares slots has groups, and they share one process-wide batcher)
  return reads[0]!.engine.readvHashGroup!(reads);
}

/** Options of `openBlockDevice`. */
export interface BlockDeviceOptions {
  /** Device size in bytes, a positive multiple of BLOCK_SIZE; the file is extended (sparse) to it. */
  size: number;
  /** Engine: `auto` (default) picks io_uring when it works, else pread; an explicit choice that cannot be met throws `UNSUPPORTED`. */
  io?: 'auto' | 'io_uring' | 'pread';
  /** O_DIRECT: `auto` (default) where the filesystem supports it (not on tmpfs); `true` requires it. */
  direct?: boolean | 'auto';
  /** Fault injector consulted on every operation (tests). */
  fault?: FaultInjector;
  /** Create the file if missing (default true); false gives `MISSING_FILE`. */
  create?: boolean;
  /**
   * Open the file for reading only (O_RDONLY; implies `create: false`, the file is not extended):
   * a read-only store on a read-only mount or a file it may not write. Writes give `READ_ONLY`.
   */
  readOnly?: boolean;
}

function checkRange(op: string, offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % BLOCK_SIZE !== 0) {
    throw new MediaError('INVALID_ARGUMENT', `${op}: offset must be a non-negative multiple of ${BLOCK_SIZE}`, { offset });
  }
  if (!Number.isSafeInteger(length) || length < 0 || length % BLOCK_SIZE !== 0 || length > MAX_ALIGNED_BYTES) {
    throw new MediaError('INVALID_ARGUMENT', `${op}: length must be a multiple of ${BLOCK_SIZE} up to ${MAX_ALIGNED_BYTES}`, { offset, length });
  }
  if (offset + length > size) {
    throw new MediaError('NO_SPACE', `${op} past the end of the device`, { offset, length, size });
  }
}

class FileBlockDevice implements BlockDevice {
  private closed = false;
  /** Requests in flight (at most the engine's `maxInFlight`); further callers wait in order. */
  private readonly slots: Semaphore;
  /** The file's read-only mapping for hashed reads (`mappedReads`), made at the first one; null: none. */
  private map: FileMap | null | undefined;
  /**
   * Chunks of READ_SEEN_CHUNK bytes read before by a hashed read (one bit each, grown on demand):
   * in the default `'reread'` mode a hashed read goes through the mapping only when every chunk
   * it covers was read before (`readMap`).
   */
  private seen: Uint8Array | undefined;
  /**
   * Chunks of READ_SEEN_CHUNK bytes written before by a hashed write (one bit each, grown on
   * demand): a hashed batch write goes through the writable mapping only when every chunk it
   * covers was written before (`writeMap`).
   */
  private written: Uint8Array | undefined;
  /** Bytes of hashed batch writes left to send to pwritev after a `sync` (`writeMap`). */
  private writeMapPause = 0;
  /** Whether hashed batch writes may go through the writable mapping (`mappedWrites() === 'all'` and an addon that takes it). */
  private readonly bulkWriteMaps = mappedWrites() === 'all' && nativeAddon()?.mappedBatchWrites === true;
  /** `mappedReads()` when the device was opened (not process.env per read). */
  private readonly readMode = mappedReads();
  /** The file's writable mapping for small synchronous writes (`mappedWrites`), made at the first one; null: none. */
  private wmap: FileMap | null | undefined;
  /** Whether hashed writes of HUGE_WRITE_MIN_BYTES or more take a huge mapping (`bulkMapOnce`): `mapHuge()` when the device was opened. */
  private readonly hugeBulk = this.bulkWriteMaps && mapHuge();
  /** The huge writable mapping of bulk writes (`bulkMapOnce`), made at the first one; null: none (off, or the kernel took no huge pages: `wmap` as before). */
  private bmap: FileMap | null | undefined;

  constructor(
    private readonly fd: number,
    /** Buffered descriptor of the same file for small synchronous I/O (`fd` itself unless O_DIRECT). */
    private readonly syncFd: number,
    private readonly io: IoEngine,
    readonly engineReason: string,
    readonly direct: boolean,
    readonly directReason: string,
    readonly size: number,
    private readonly fault: FaultInjector | undefined,
    private readonly readOnly: boolean,
  ) {
    this.slots = new Semaphore(io.maxInFlight, { what: `${io.name} request` });
  }

  get engine(): 'io_uring' | 'pread' { return this.io.name; }

  allocAligned(bytes: number): Uint8Array { return allocAligned(bytes); }

  private checkOpen(op: string): void {
    if (this.closed) throw new MediaError('CLOSED', `${op} on a closed block device`);
    if (op === 'write' && this.readOnly) throw new MediaError('READ_ONLY', 'write on a block device opened read-only');
  }

  /** Run one engine request inside a slot. */
  private async slotted<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.slots.tryAcquire()) await this.slots.acquire();
    try { return await fn(); } finally { this.slots.release(); }
  }

  /** Write `buf` at `offset`, split into IO_CHUNK_BYTES pieces in flight together. */
  private async writeChunks(offset: number, buf: Uint8Array): Promise<void> {
    // Buffered writes are memory copies into the page cache: one call is cheapest. O_DIRECT
    // writes go to the device, where several requests in flight are faster.
    if (buf.length <= IO_CHUNK_BYTES || !this.direct) return this.slotted(() => this.io.write(this.fd, buf, offset));
    const parts: Promise<void>[] = [];
    for (let o = 0; o < buf.length; o += IO_CHUNK_BYTES) {
      const piece = buf.subarray(o, Math.min(buf.length, o + IO_CHUNK_BYTES));
      parts.push(this.slotted(() => this.io.write(this.fd, piece, offset + o)));
    }
    await settleAll(parts);
  }

  private async readChunks(offset: number, buf: Uint8Array): Promise<void> {
    const one = async (piece: Uint8Array, at: number) => {
      const n = await this.slotted(() => this.io.read(this.fd, piece, at));
      if (n < piece.length) piece.fill(0, n); // past the end of a shorter file: unwritten, zeros
    };
    if (buf.length <= IO_CHUNK_BYTES) return one(buf, offset);
    const parts: Promise<void>[] = [];
    for (let o = 0; o < buf.length; o += IO_CHUNK_BYTES) {
      parts.push(one(buf.subarray(o, Math.min(buf.length, o + IO_CHUNK_BYTES)), offset + o));
    }
    await settleAll(parts);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    materializeFills([data]); // (a deferred parity fill goes only with a hashed batch write: fills.ts)
    this.checkOpen('write');
    if (!(data instanceof Uint8Array)) throw new MediaError('INVALID_ARGUMENT', 'write: data must be a Uint8Array');
    checkRange('write', offset, data.length, this.size);
    let fault: ReturnType<FaultInjector['onWrite']> | undefined;
    if (this.fault) {
      fault = this.fault.onWrite(offset, data, BLOCK_SIZE);
      if (fault.error && fault.truncateTo === undefined) throw fault.error;
    }
    const len = fault?.truncateTo ?? data.length;
    if (len > 0) {
      let src = data.subarray(0, len);
      if (this.direct && !isAligned(src)) {
        const bounce = allocAligned(len);
        bounce.set(src);
        src = bounce;
      }
      await this.writeChunks(offset, src);
    }
    if (fault?.error) throw fault.error;
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    this.checkOpen('read');
    checkRange('read', offset, length, this.size);
    if (into !== undefined && (!(into instanceof Uint8Array) || into.length < length)) {
      throw new MediaError('INVALID_ARGUMENT', 'read: into must be a Uint8Array of at least `length` bytes', { length, intoLength: (into as Uint8Array | undefined)?.length });
    }
    let rf: ReadFault | undefined;
    if (this.fault) {
      rf = this.fault.beforeRead(offset, length);
      if (rf.error) throw rf.error;
    }
    const out = into ? into.subarray(0, length) : (this.direct ? allocAligned(length) : new Uint8Array(length));
    if (length > 0) {
      if (this.direct && !isAligned(out)) {
        const bounce = allocAligned(length);
        await this.readChunks(offset, bounce);
        out.set(bounce);
      } else {
        await this.readChunks(offset, out);
      }
    }
    if (rf) this.fault!.applyRead(rf, out);
    return out;
  }

  async readInto(offset: number, length: number, into: readonly Uint8Array[]): Promise<void> {
    this.checkOpen('read');
    checkRange('read', offset, length, this.size);
    const want = checkBuffers('readInto', 'into', into, length);
    if (length === 0) return;
    if (this.direct || this.fault || !this.io.readv) {
      // O_DIRECT needs aligned memory, and injected read faults apply to one buffer: bounce.
      const bounce = await this.read(offset, length);
      let at = 0;
      for (const b of into) { b.set(bounce.subarray(at, at + b.length)); at += b.length; }
      return;
    }
    const bufs = want < length ? [...into, tailScratch(length - want)] : into;
    const n = await this.slotted(() => this.io.readv!(this.fd, bufs, offset));
    if (n < length) {
      // Past the end of a shorter file: unwritten, zeros.
      let at = 0;
      for (const b of into) {
        if (at + b.length > n) b.fill(0, Math.max(0, n - at));
        at += b.length;
      }
    }
  }

  async writeFrom(offset: number, length: number, from: readonly Uint8Array[]): Promise<void> {
    materializeFills(from);
    this.checkOpen('write');
    checkRange('write', offset, length, this.size);
    const have = checkBuffers('writeFrom', 'from', from, length);
    if (length === 0) return;
    if (this.direct || this.fault || !this.io.writev) {
      return this.write(offset, gather(allocAligned(length), from));
    }
    const bufs = have < length ? [...from, zeroTail(length - have)] : from;
    await this.slotted(() => this.io.writev!(this.fd, bufs, offset));
  }

  async readIntoHashed(offset: number, length: number, into: readonly Uint8Array[], seed: bigint): Promise<bigint> {
    const io = this.io;
    if (this.direct || this.fault || !io.readvHash || !Array.isArray(into) || into.length === 0 || into.length > HASHED_IO_MAX_VIEWS) {
      await this.readInto(offset, length, into);
      return xxh64Parts(into, seed);
    }
    this.checkOpen('read');
    checkRange('read', offset, length, this.size);
    const want = checkBuffers('readIntoHashed', 'into', into, length);
    // Buffered file: read exactly the caller's bytes (the block padding after them is never used).
    // (`slotted` inline: a bulk read's path is one promise shorter.)
    if (!this.slots.tryAcquire()) await this.slots.acquire();
    try { return await io.readvHash(this.fd, into, offset, want, seed, this.readMap(offset, want)); } finally { this.slots.release(); }
  }

  hashedReadNow(offset: number, length: number, into: readonly Uint8Array[], seed: bigint): HashedReadSlot | undefined {
    const io = this.io;
    if (this.closed || this.direct || this.fault || !io.readvHashGroup || !Array.isArray(into) || into.length === 0 || into.length > HASHED_IO_MAX_VIEWS) return undefined;
    checkRange('read', offset, length, this.size);
    const want = checkBuffers('hashedReadNow', 'into', into, length);
    if (!this.slots.tryAcquire()) return undefined; // (busy: the caller's promise read waits in order)
    return new FileHashedSlot(this.fd, into, offset, want, seed, this.readMap(offset, want), io, this.slots);
  }

  /**
   * The mapping a hashed read of `length` bytes at `offset` goes through, or undefined (preadv).
   * `'always'`: the file's mapping (made at the first read). `'reread'` (default): the mapping only
   * when every READ_SEEN_CHUNK chunk of the range was read before, else preadv, and the chunks are
   * remembered — a read out of a mapping is cheaper than preadv only once its page-table entries
   * exist, and a first read would pay for making them (see `mappedReads`). In `'reread'` mode a
   * range written by hashed batch writes goes through their writable mapping when the file has one
   * (`writeMap`): the entries its mapped writes made serve the reads (a separate read-only mapping
   * made its own again: EC reads of what was just written, 3 env pairs in one build, load 5-7:
   * 161-178 -> 148-156 us CPU per MiB, medians).
   */
  private readMap(offset: number, length: number): FileMap | undefined {
    if (this.map === null) return undefined;
    const mode = this.readMode;
    if (mode === 'never') return undefined;
    // a range the batch writes wrote goes through their writable mapping: its entries are the writes' own
    const wm = this.bmap ?? this.wmap;
    if (mode === 'reread' && length > 0 && wm && this.written !== undefined && allMarked(this.written, offset, length)) return wm;
    if (mode === 'reread' && length > 0 && !markChunks(this.seen = coverChunks(this.seen ?? new Uint8Array(64), offset, length), offset, length)) return undefined;
    if (this.map === undefined) this.map = nativeAddon()?.mapFile?.(this.fd, this.size) ?? null;
    return this.map ?? undefined;
  }

  async writeFromHashed(offset: number, length: number, from: readonly Uint8Array[], seed: bigint): Promise<bigint> {
    const io = this.io;
    if (this.direct || this.fault || !io.writevHash || !Array.isArray(from) || from.length === 0 || from.length >= HASHED_IO_MAX_VIEWS) {
      materializeFills(from); // (before the hash below; writeFrom's own call then finds nothing)
      const written = this.writeFrom(offset, length, from);
      let h: bigint;
      try { h = xxh64Parts(from, seed); } finally { await written; }
      return h;
    }
    this.checkOpen('write');
    checkRange('write', offset, length, this.size);
    const have = checkBuffers('writeFromHashed', 'from', from, length);
    const bufs = have < length ? [...from, zeroTail(length - have)] : from;
    const map = this.writeMap(offset, length, false);
    return this.slotted(() => io.writevHash!(this.fd, bufs, offset, have, seed, map));
  }

  hashedWriteNow(offset: number, length: number, from: readonly Uint8Array[], seed: bigint): HashedWriteSlot | undefined {
    const io = this.io;
    if (this.closed || this.readOnly || this.direct || this.fault || !io.writevHashGroup || !Array.isArray(from) || from.length === 0 || from.length >= HASHED_IO_MAX_VIEWS) return undefined;
    checkRange('write', offset, length, this.size);
    const have = checkBuffers('hashedWriteNow', 'from', from, length);
    if (!this.slots.tryAcquire()) return undefined; // (busy: the caller's promise write waits in order)
    return new FileHashedSlot(this.fd, have < length ? [...from, zeroTail(length - have)] : from, offset, have, seed, this.writeMap(offset, length), io, this.slots);
  }

  /**
   * The writable mapping a hashed batch write of `length` bytes at `offset` goes through, or
   * undefined (pwritev): for a write of HUGE_WRITE_MIN_BYTES or more, the huge mapping of bulk
   * writes where there is one (`bulkMapOnce`), first writes included; else the mapping only when
   * every READ_SEEN_CHUNK chunk of the range was written before (then marked). Copying into a
   * mapping (hashing on the way) costs less than pwritev and a hash pass only where the mapping's
   * page-table entries exist and are writable: a first write of a range would make them (a fault
   * and the filesystem's page_mkwrite per page, the dear part on this machine kind), so it goes to
   * pwritev; a range rewritten, as a working set is, takes the mapping (its first time there makes
   * the entries). The next WRITE_MAP_PAUSE_BYTES after a
   * `sync` go to pwritev too: a sync's writeback write-protects every mapped page it writes (a
   * page-table change per page, dear here), so a file synced often (a durable store syncs its
   * data file per group of writes) would take a fault and page_mkwrite on each page of its next
   * mapped writes; pwritev pays neither. `smallPages` false (`writeFromHashed`, whose writes never
   * took the small-page mapping): the huge mapping or pwritev, and nothing marked for pwritev.
   */
  private writeMap(offset: number, length: number, smallPages = true): FileMap | undefined {
    if (!this.bulkWriteMaps || this.direct || length === 0) return undefined;
    const huge = length >= HUGE_WRITE_MIN_BYTES ? (this.bmap === undefined ? this.bulkMapOnce() : this.bmap) : null;
    if (huge === null && !smallPages) return undefined;
    const before = markChunks(this.written = coverChunks(this.written ?? new Uint8Array(64), offset, length), offset, length);
    if (this.writeMapPause > 0) { this.writeMapPause -= length; return undefined; }
    if (huge !== null) return huge; // (first writes too, see `bulkMapOnce`)
    if (!before || this.wmap === null) return undefined;
    const m = this.wmap === undefined ? this.writeMapOnce() : this.wmap;
    return m ?? undefined;
  }

  writeHashedSync(offset: number, length: number, value: Uint8Array, seed: bigint): bigint {
    materializeFills([value]);
    const native = this.fault ? undefined : nativeAddon()?.pwriteHashSync;
    if (!native || !(value instanceof Uint8Array) || length - value.length > 65536) {
      this.writeFromSync(offset, length, [value]);
      return xxh64Parts([value], seed);
    }
    this.checkOpen('write');
    checkRange('write', offset, length, this.size);
    checkBuffers('writeHashedSync', 'from', [value], length);
    const m = this.wmap === undefined ? this.writeMapOnce() : this.wmap;
    if (m) {
      const h = nativeAddon()!.mapWriteHashSync!(m, value, offset, length, seed);
      if (typeof h === 'bigint') return h;
      // (-1: the mapping faulted or cannot take it: pwrite's answer stands, an errno included)
    }
    const r = native(this.syncFd, value, offset, length, seed);
    if (typeof r === 'number') throw mediaErrorFromErrno(r, 'write', { offset, length });
    return r;
  }

  /**
   * Make the file's huge writable mapping for bulk writes (once; null when off, or when the kernel
   * took no huge pages for it: bulk writes then follow `writeMap`'s rule for the small-page
   * mapping). Why a mapping of its own, advised MADV_HUGEPAGE: the pages a fault of it brings into
   * the page cache come as 2 MiB folios, mapped by one entry, and the kernel's writeback
   * write-protects the pages it writes, after which the next store into each page faults. Rewriting
   * 256 MiB of a mapped file after an fdatasync (a C probe, ext4, Linux 6.18, this paravirtual
   * guest) took 256 faults and 3.4 ms per MiB where its folios had been made by 256 KiB pwrites
   * (as the first write of an EC cell made them), 40 faults and 0.66 ms with the kernel's default
   * folios, and 0.5 faults and 0.10 ms with huge ones (0.04-0.05 ms with no writeback between
   * passes). So the first write of a range goes through this mapping too. Writes under
   * HUGE_WRITE_MIN_BYTES and small synchronous values keep `wmap` and its rule: a store into a
   * clean folio dirties all of it, so a small value's write through a huge mapping would bring in,
   * and after writeback dirty, a whole 2 MiB folio (written back whole). `CAIRN_MAP_HUGE=0` turns it
   * off (`mapHuge`).
   */
  private bulkMapOnce(): FileMap | null {
    const native = nativeAddon();
    let m = (this.hugeBulk && !this.direct && native?.mapHuge ? native.mapFile?.(this.syncFd, this.size, true, undefined, true) : undefined) ?? null;
    if (m !== null && native!.mapHuge!(m) !== true) { native!.unmapFile?.(m); m = null; }
    this.bmap = m;
    return m;
  }

  /** Make the file's writable mapping for small synchronous writes (once; null when off, O_DIRECT or impossible: they use pwrite). */
  private writeMapOnce(): FileMap | null {
    const native = nativeAddon();
    this.wmap = (!this.direct && mappedWrites() !== 'none' && native?.mapWriteHashSync ? native.mapFile?.(this.syncFd, this.size, true) : undefined) ?? null;
    return this.wmap;
  }

  readHashedSync(offset: number, into: Uint8Array, seed: bigint): bigint {
    const length = into.length;
    const blocks = Math.ceil(length / BLOCK_SIZE) * BLOCK_SIZE; // (a value's extent: whole blocks from `offset`)
    if (this.fault) { into.set(this.readSync(offset, blocks).subarray(0, length)); return xxh64Parts([into], seed); }
    this.checkOpen('read');
    checkRange('read', offset, blocks, this.size);
    const m = this.wmap === undefined ? this.writeMapOnce() : this.wmap;
    if (m) {
      const h = nativeAddon()!.mapReadHashSync?.(m, into, offset, seed);
      if (typeof h === 'bigint') return h;
      // (-1: the mapping faulted or cannot take it: pread's answer stands, an errno included)
    }
    this.preadFully(into, length, offset);
    return xxh64Parts([into], seed);
  }

  /** The first `length` bytes of `into` read synchronously from `offset` (zeros past the end of a shorter file). */
  private preadFully(into: Uint8Array, length: number, offset: number): void {
    try {
      let got = 0;
      while (got < length) { const n = fs.readSync(this.syncFd, into, got, length - got, offset + got); if (n <= 0) break; got += n; }
      if (got < length) into.fill(0, got); // past the end of a shorter file: unwritten, zeros
    } catch (e) {
      throw mediaErrorFromErrno(e, 'read', { offset, length });
    }
  }

  readSync(offset: number, length: number): Uint8Array {
    this.checkOpen('read');
    checkRange('read', offset, length, this.size);
    let rf: ReadFault | undefined;
    if (this.fault) {
      rf = this.fault.beforeRead(offset, length);
      if (rf.error) throw rf.error;
    }
    const out = readSlab.take(length); // (small reads share a slab: core/bytes.ts)
    this.preadFully(out, length, offset);
    if (rf) this.fault!.applyRead(rf, out);
    return out;
  }

  writeFromSync(offset: number, length: number, from: readonly Uint8Array[]): void {
    materializeFills(from);
    this.checkOpen('write');
    checkRange('write', offset, length, this.size);
    const have = checkBuffers('writeFromSync', 'from', from, length);
    if (length === 0) return;
    // one buffer: the value alone when it fills `length`, else the buffers and zeros joined (small values)
    let buf = from.length === 1 && have === length ? from[0]! : gather(new Uint8Array(length), from);
    let fault: ReturnType<FaultInjector['onWrite']> | undefined;
    if (this.fault) {
      fault = this.fault.onWrite(offset, buf, BLOCK_SIZE);
      if (fault.error && fault.truncateTo === undefined) throw fault.error;
      buf = buf.subarray(0, fault.truncateTo ?? length);
    }
    try {
      for (let done = 0; done < buf.length;) {
        const n = fs.writeSync(this.syncFd, buf, done, buf.length - done, offset + done);
        if (n <= 0) break;
        done += n;
      }
    } catch (e) {
      throw mediaErrorFromErrno(e, 'write', { offset, length });
    }
    if (fault?.error) throw fault.error;
  }

  async sync(): Promise<void> {
    this.checkOpen('sync');
    this.writeMapPause = WRITE_MAP_PAUSE_BYTES; // (see writeMap)
    const e = this.fault?.beforeSync();
    if (e) throw e;
    await this.slotted(() => this.io.datasync(this.fd));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.slots.idle();
    if (this.map) nativeAddon()?.unmapFile?.(this.map); // (unmapped once the last batch using it completes)
    if (this.wmap) nativeAddon()?.unmapFile?.(this.wmap);
    if (this.bmap) nativeAddon()?.unmapFile?.(this.bmap);
    this.map = null;
    this.wmap = null;
    this.bmap = null;
    this.io.close();
    if (this.syncFd !== this.fd) { try { fs.closeSync(this.syncFd); } catch { /* the data descriptor's close reports errors */ } }
    await new Promise<void>((resolve, reject) => fs.close(this.fd, (err) => (err ? reject(mediaErrorFromErrno(err, 'close')) : resolve())));
  }
}

/**
 * How hashed reads of buffered data files read: `1` always through the file's mapping, `0` always
 * with preadv; unset (or anything else), through the mapping only ranges read before (`mappedReads`).
 */
export const MAPPED_READS_ENV = 'CAIRN_MAPPED_READS';

/** Bytes of a data file one bit of a device's read-before and written-before maps stands for (`readMap`, `writeMap`). */
const READ_SEEN_CHUNK = 64 * 1024;
/**
 * Hashed writes of at least this many bytes take the huge bulk mapping (`writeMap`): a store into a
 * clean 2 MiB folio dirties all of it, so a write of 128 KiB brings at most 16x its bytes to
 * writeback, and EC cells and array chunks written one after another fill their folios.
 */
const HUGE_WRITE_MIN_BYTES = 128 * 1024;
/** Bytes of hashed batch writes a device sends to pwritev after each `sync` (`writeMap`). */
const WRITE_MAP_PAUSE_BYTES = 32 * 1024 * 1024;

/** Chunks those maps cover at most (the first 4 TiB of a device, 8 MiB of bits each); ranges past them keep the system calls. */
const SEEN_MAX_CHUNKS = 1 << 26;

/** Whether every READ_SEEN_CHUNK chunk of [offset, offset + length) is marked in `bits` (nothing is marked). */
function allMarked(bits: Uint8Array, offset: number, length: number): boolean {
  const first = Math.floor(offset / READ_SEEN_CHUNK), last = Math.floor((offset + length - 1) / READ_SEEN_CHUNK);
  if (last >= SEEN_MAX_CHUNKS || bits.length <= last >>> 3) return false;
  for (let c = first; c <= last; c++) if ((bits[c >>> 3]! & (1 << (c & 7))) === 0) return false;
  return true;
}

/**
 * Bit map `bits` grown, when it is too short, to hold the READ_SEEN_CHUNK chunks of [offset,
 * offset + length) (a new array: the caller keeps it); `bits` itself when it holds them or they
 * lie beyond the map's reach. (Apart from `markChunks`, which took a setter closure per call: one
 * per hashed read and write.)
 */
export function coverChunks(bits: Uint8Array, offset: number, length: number): Uint8Array {
  const last = Math.floor((offset + length - 1) / READ_SEEN_CHUNK);
  if (last >= SEEN_MAX_CHUNKS || bits.length > last >>> 3) return bits;
  const grown = new Uint8Array(Math.min(SEEN_MAX_CHUNKS / 8, Math.max((last >>> 3) + 1, 2 * bits.length)));
  grown.set(bits);
  return grown;
}

/**
 * Mark the READ_SEEN_CHUNK chunks of [offset, offset + length) in bit map `bits` (which holds
 * them: `coverChunks`); whether every one of them was marked before.
 */
export function markChunks(bits: Uint8Array, offset: number, length: number): boolean {
  const first = Math.floor(offset / READ_SEEN_CHUNK), last = Math.floor((offset + length - 1) / READ_SEEN_CHUNK);
  if (last >= SEEN_MAX_CHUNKS || bits.length <= last >>> 3) return false; // (beyond the map's reach: never marked, the system call path)
  let before = true;
  for (let c = first; c <= last; c++) {
    const bit = 1 << (c & 7), i = c >>> 3;
    if ((bits[i]! & bit) === 0) { before = false; bits[i] = bits[i]! | bit; }
  }
  return before;
}

/**
 * How hashed reads of buffered data files read (MAPPED_READS_ENV): out of a read-only mapping of
 * the file, copying and hashing their bytes in one pass (native `mapFile`), or with preadv, after
 * which the cells of a batch are hashed side by side in their destinations (native/hashio.c).
 * A read out of a mapping is cheaper only once its page-table entries exist, and making them is
 * what costs on this machine kind (PVM guest, page tables kept by the hypervisor): C only, 1 MiB
 * reads of a page-cached file in 4 cells, mapped copy+hash 340-400 us per MiB while the entries
 * are made (every byte read once, or after the 64 MiB drop below), 50 once they exist; preadv and
 * then the 4 cells hashed side by side 72-74 (preadv alone 41-81). So the default, `'reread'`,
 * reads a range through the mapping only when it was read before (bulk reads that read each byte
 * once keep preadv; data read again, as a working set is, goes through the mapping): io bench
 * 1 MiB EC reads, 4 alternating pairs at load 12-14, always-mapped against preadv: 145-186 against
 * 209-245 us CPU per MiB, 0.89-1.02x against 0.55-0.79x plain file reads.
 * A fault in the mapping (a file cut short under the store, a page the disk cannot read) is caught
 * in the addon and the read goes to preadv, whose answer stands (zeros past the end, an I/O error).
 * Page-table entries are dropped after every 64 MiB read through a mapping, so the process's RSS
 * does not grow with the data file.
 */
export function mappedReads(): 'always' | 'never' | 'reread' {
  const v = process.env[MAPPED_READS_ENV];
  return v === '1' ? 'always' : v === '0' ? 'never' : 'reread';
}

/**
 * Set to 0 to write with pwrite only, `small` to map only small synchronous value writes (not
 * hashed batch writes); unset (or anything else): both (`mappedWrites`).
 */
export const MAPPED_WRITES_ENV = 'CAIRN_MAPPED_WRITES';

/** Set to 0 to keep bulk writes off huge mappings (`mapHuge`). */
export const MAP_HUGE_ENV = 'CAIRN_MAP_HUGE';

/**
 * Whether a buffered device writes its bulk writes (hashed batch writes, `writeFromHashed`)
 * through a writable mapping of its own advised MADV_HUGEPAGE, first writes included
 * (`FileBlockDevice.bulkMapOnce` says why); read at open. Off (MAP_HUGE_ENV=0), or where the
 * kernel takes no huge pages, they follow the small-page rule: pwritev for a first write of a
 * range, the mapping for a rewrite.
 */
export function mapHuge(): boolean {
  return process.env[MAP_HUGE_ENV] !== '0';
}

/**
 * Which writes of a buffered data file copy and hash their bytes into a writable shared mapping of
 * the file instead of a system call each: `'small'`, small synchronous value writes
 * (`writeHashedSync`, native `mapWriteHashSync`); `'all'` (default), those and hashed batch writes
 * (`hashedWriteNow`: the cells of an EC write) of ranges written before (`writeMap`), copied into
 * the mapping while hashed on the pool job (native/hashio.c, side by side as the vector pass
 * hashes them), instead of a hash pass and then pwritev's copy. The same page cache, so readers,
 * process-crash safety and fdatasync are unchanged. O_DIRECT files keep pwrite (a mapping there
 * would cache pages direct I/O bypasses). A fault in the mapping (a hole on a full filesystem, an
 * unreadable page) is caught in the addon and the write goes to pwrite, whose answer stands
 * (`NO_SPACE`, an I/O error). A mapping of a file larger than 256 MiB drops its page-table entries
 * after every 256 MiB written through it (RSS stays bounded); a smaller file's pages are resident
 * at most once.
 */
export function mappedWrites(): 'none' | 'small' | 'all' {
  const v = process.env[MAPPED_WRITES_ENV];
  return v === '0' ? 'none' : v === 'small' ? 'small' : 'all';
}

/** Shared sink for the bytes a scatter read fetches past the caller's buffers (never read back). */
let tailSink: Uint8Array | undefined;

/** A view of `bytes` of the shared tail sink (concurrent reads may overwrite each other's: nobody reads it). */
function tailScratch(bytes: number): Uint8Array {
  if (!tailSink || tailSink.length < bytes) tailSink = new Uint8Array(Math.max(bytes, BLOCK_SIZE));
  return tailSink.subarray(0, bytes);
}

/** Shared zeros padding gather writes to whole blocks (never written into). */
let zeroSink: Uint8Array | undefined;

/** Copy `from` in order to the start of `out` (the rest of `out` is left as it is: zeros when fresh). */
function gather(out: Uint8Array, from: readonly Uint8Array[]): Uint8Array {
  let at = 0;
  for (const b of from) { out.set(b, at); at += b.length; }
  return out;
}

/** A view of `bytes` zeros. */
function zeroTail(bytes: number): Uint8Array {
  if (!zeroSink || zeroSink.length < bytes) zeroSink = new Uint8Array(Math.max(bytes, BLOCK_SIZE));
  return zeroSink.subarray(0, bytes);
}

/** Await every promise, then rethrow the first failure (so no request is still running when we reject). */
async function settleAll(ps: Promise<void>[]): Promise<void> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  // The first failure is thrown; the others of the same request are counted (CAIRN_DEBUG logs them).
  for (const r of failed.slice(1)) swallowed('media.further-failure-of-same-request', r.reason);
  if (failed.length) throw failed[0]!.reason;
}

function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
}

function isTmpfs(path: string): boolean {
  try {
    return fs.statfsSync(path).type === TMPFS_MAGIC;
  } catch (err) {
    swallowed('media.statfs-failed-assume-not-tmpfs', err); // O_DIRECT is then probed directly
    return false;
  }
}

/** Check that O_DIRECT really works on this fd (some filesystems accept the flag, then fail I/O with EINVAL). */
function probeDirect(fd: number): string | undefined {
  try {
    fs.readSync(fd, allocAligned(BLOCK_SIZE), 0, BLOCK_SIZE, 0);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/**
 * Open (and by default create) the block data file at `path`, extended to `opts.size` bytes,
 * choosing the I/O engine and O_DIRECT as described on `BlockDeviceOptions`.
 */
export async function openBlockDevice(path: string, opts: BlockDeviceOptions): Promise<BlockDevice> {
  if (typeof path !== 'string' || path.length === 0) throw new MediaError('INVALID_ARGUMENT', 'path must be a non-empty string');
  if (!opts || typeof opts !== 'object') throw new MediaError('INVALID_ARGUMENT', 'options are required');
  const { size } = opts;
  if (!Number.isSafeInteger(size) || size <= 0 || size % BLOCK_SIZE !== 0 || size > MAX_DEVICE_SIZE) {
    throw new MediaError('INVALID_ARGUMENT', `size must be a positive multiple of ${BLOCK_SIZE} up to ${MAX_DEVICE_SIZE}`, { size });
  }
  const ioChoice = opts.io ?? 'auto';
  if (!['auto', 'io_uring', 'pread'].includes(ioChoice)) throw new MediaError('INVALID_ARGUMENT', `io must be auto, io_uring or pread`, { io: ioChoice });
  const directChoice = opts.direct ?? 'auto';
  if (!(directChoice === 'auto' || directChoice === true || directChoice === false)) {
    throw new MediaError('INVALID_ARGUMENT', 'direct must be true, false or auto', { direct: directChoice });
  }
  const readOnly = opts.readOnly === true;
  const create = !readOnly && (opts.create ?? true);
  opts.fault?.onOpen(path);

  // Engine first, so an explicit request that cannot be met fails before touching the file.
  let io: IoEngine;
  let engineReason: string;
  if (ioChoice === 'pread') {
    io = new PreadEngine(); engineReason = 'pread requested';
  } else {
    try {
      io = IoUringEngine.create(); engineReason = ioChoice === 'io_uring' ? 'io_uring requested' : 'io_uring available';
    } catch (e) {
      if (ioChoice === 'io_uring') throw e;
      io = new PreadEngine(); engineReason = `pread fallback: ${(e as Error).message}`;
    }
  }

  const base = readOnly ? fs.constants.O_RDONLY : fs.constants.O_RDWR | (create ? fs.constants.O_CREAT : 0);
  let fd: number | undefined;
  let syncFd: number | undefined;
  try {
    try { fd = await openFd(path, base); } catch (e) {
      throw mediaErrorFromErrno(e, `open ${path}`, { path });
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile() && !st.isBlockDevice()) throw new MediaError('INVALID_ARGUMENT', `${path} is not a regular file`, { path });
    if (st.isFile() && st.size < size && !readOnly) {
      try { fs.ftruncateSync(fd, size); } catch (e) { throw mediaErrorFromErrno(e, `ftruncate ${path}`, { path, size }); }
    }

    let direct = false;
    let directReason: string;
    if (directChoice === false) directReason = 'buffered requested';
    else if (directChoice === 'auto' && isTmpfs(path)) directReason = 'tmpfs: buffered (the page cache is the medium)';
    else {
      let dfd: number | undefined;
      let why: string | undefined;
      try { dfd = await openFd(path, base | fs.constants.O_DIRECT); } catch (e) { why = (e as NodeJS.ErrnoException).code ?? String(e); }
      if (dfd !== undefined) {
        why = probeDirect(dfd);
        if (why) fs.closeSync(dfd);
      }
      if (why === undefined && dfd !== undefined) {
        // the buffered descriptor stays open for small synchronous I/O (writeFromSync, readSync)
        syncFd = fd; fd = dfd; direct = true; directReason = 'O_DIRECT';
      } else if (directChoice === true) {
        throw new MediaError('UNSUPPORTED', `O_DIRECT not supported for ${path}: ${why}`, { path, errno: why });
      } else {
        directReason = `buffered: O_DIRECT refused (${why})`;
      }
    }
    return new FileBlockDevice(fd, syncFd ?? fd, io, engineReason, direct, directReason, size, opts.fault, readOnly);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    if (syncFd !== undefined) fs.closeSync(syncFd);
    io.close();
    throw e;
  }
}

/** Bytes in `bufs`, an array of Uint8Array holding at most `length` bytes (else INVALID_ARGUMENT). */
function checkBuffers(op: string, name: string, bufs: readonly Uint8Array[], length: number): number {
  // (one plain loop: every() and reduce() with arrows made two closures per call, on every hashed read and write)
  if (!Array.isArray(bufs)) throw new MediaError('INVALID_ARGUMENT', `${op}: ${name} must be an array of Uint8Array`);
  let total = 0;
  for (let i = 0; i < bufs.length; i++) {
    const b: unknown = bufs[i];
    if (!(b instanceof Uint8Array)) throw new MediaError('INVALID_ARGUMENT', `${op}: ${name} must be an array of Uint8Array`);
    total += b.length;
  }
  if (total > length) throw new MediaError('INVALID_ARGUMENT', `${op}: the buffers hold more than \`length\` bytes`, { length, buffers: total });
  return total;
}
