/**
 * The io_uring I/O engine, over the small N-API addon in `native/` (raw io_uring syscalls, no
 * liburing). One ring per device with `URING_QUEUE_DEPTH` entries; JS prepares SQEs, submits them
 * in one `io_uring_enter` per microtask turn, and the addon reaps completions on the event loop
 * (an eventfd registered with the ring and watched by `uv_poll`), so nothing ever blocks the loop.
 * Each in-flight request holds its buffer in `pending[slot]` until its completion arrives, so the
 * GC cannot free memory the kernel is still using.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FileMap, IoEngine } from './io-engine.js';
import { MediaError, mediaErrorFromErrno } from './errors.js';
import { assert } from '../../core/errors.js';

/** Submission-queue entries per ring = most requests in flight per device. */
export const URING_QUEUE_DEPTH = 64;
/**
 * Most completions delivered straight from `io_uring_enter` (requests that finished inline,
 * e.g. buffered writes into the page cache) per event-loop turn; past it, delivery waits for
 * `setImmediate`, so a loop of awaited writes cannot starve timers and other I/O.
 */
export const URING_INLINE_BUDGET = 32;

/** The functions the native addon (`native/cairn_uring.c`) exports. */
export interface NativeAddon {
  /** Set up a ring; completions are written as (slot, result) pairs into `completions`, then `onComplete(count)` runs. */
  ringCreate(entries: number, completions: Int32Array, onComplete: (count: number) => void): object;
  /**
   * Prepare a read (op 0) or write (op 1) SQE of `view` at `position`; tagged with `slot`. `flags`:
   * the SQE's flags, only IOSQE_IO_LINK (`URING_LINK`) taken (else a TypeError; an addon built before
   * flags ignores them).
   */
  ringPrepRw(ring: object, op: 0 | 1, fd: number, view: Uint8Array, position: number, slot: number, flags?: number): void;
  /** Prepare an fdatasync SQE (`flags` as for ringPrepRw). */
  ringPrepFsync(ring: object, fd: number, slot: number, flags?: number): void;
  /** True where ringPrepRw / ringPrepFsync take `flags` (absent from addons built before: they ignore it). */
  readonly sqeFlags?: boolean;
  /** Submit all prepared SQEs (throws on error); with `reapInline`, copy completions already posted into the array and return their count. */
  ringSubmit(ring: object, reapInline: boolean): number;
  /** Copy completions already posted into the array (no callback); returns their count. */
  ringReap(ring: object): number;
  /** Tear the ring down (no request may be in flight). */
  ringClose(ring: object): void;
  /** Address of `view` modulo `align`. */
  alignmentOf(view: Uint8Array, align: number): number;
  /** A zeroed external ArrayBuffer of `bytes` at an `align`-aligned address (posix_memalign). */
  allocAligned(bytes: number, align: number): ArrayBuffer;
  /** An external ArrayBuffer of `bytes` zeros, mapped anonymously and advised for huge pages (pages made on first touch). Absent from addons built before it existed. */
  allocTable?(bytes: number): ArrayBuffer;
  /**
   * An external ArrayBuffer of `bytes` (page-aligned, contents unspecified) from the addon's
   * bounded free list of buffers the GC has freed, else new: outputs whose pages are already
   * mapped. Absent from addons built before it existed.
   */
  allocRecycled?(bytes: number): ArrayBuffer;
  /**
   * A new ArrayBuffer over the bytes of an `allocRecycled` output, that one detached (no copy);
   * undefined where outputs cannot move (N-API outputs: `CAIRN_OUTPUT_V8=0`). Media `adoptResult`
   * says why; only for outputs no other view of which is used after.
   */
  adoptOutput?(buffer: ArrayBuffer): ArrayBuffer | undefined;
  /**
   * [buffers on the free list, their bytes, allocations served from it, allocations that were not,
   * bytes of outputs kept out of V8's external total now, this thread's drift, outputs the GC has
   * freed so far (native/cairn_uring.c)].
   */
  recycleStats?(): [number, number, number, number, number, number, number];
  /**
   * On the libuv thread-pool: preadv into `views` (short reads retried, zeros past the end of the
   * file), then xxhash64 of their first `hashLen` bytes (`native/hashio.c`). Rejects with -errno.
   * Absent from addons built before it existed.
   */
  preadvHash?(fd: number, views: Uint8Array[], position: number, hashLen: number, seed: bigint): Promise<bigint>;
  /** On the thread-pool: xxhash64 of the first `hashLen` bytes of `views`, then pwritev of all of them. Rejects with -errno. */
  pwritevHash?(fd: number, views: Uint8Array[], position: number, hashLen: number, seed: bigint): Promise<bigint>;
  /** xxhash64 of the concatenation of `views`, in place (no copy), on the calling thread. */
  xxh64Parts?(views: Uint8Array[], seed: bigint): bigint;
  /** xxhash64 of `view`, then pwritev of it and zeros up to `length`, on the calling thread; -errno (a number) on failure. */
  pwriteHashSync?(fd: number, view: Uint8Array, position: number, length: number, seed: bigint): bigint | number;
  /**
   * Several `preadvHash` / `pwritevHash` requests in one thread-pool job, in order; each request is
   * [op 0 read | 1 write, fd, views, position, hashLen, seed, map?, fill?] (map: a read's mapping or a
   * write's writable one, taken when it covers the request; fill: a write's deferred
   * parity of its first view, see `parityFill`). Resolves with each request's hash, or
   * its negative errno (a number). Absent from addons built before it existed.
   */
  hashedBatch?(requests: Array<[0 | 1, number, Uint8Array[], number, number, bigint] | [0 | 1, number, Uint8Array[], number, number, bigint, FileMap | undefined]
    | [0 | 1, number, Uint8Array[], number, number, bigint, FileMap | undefined, readonly [Uint8Array, number, Uint8Array] | undefined]>): Promise<Array<bigint | number>>;
  /**
   * `hashedBatch` with its requests flattened (the same job and answer): `nums` holds [op, fd,
   * position, hashLen, view count] for each of the first `n` requests, `seeds` their seeds,
   * `views` every request's views in order, `extras` (absent, or one element per request) a read's
   * mapping, a write's writable mapping, or a write's fill (with the write's mapping as a 4th element
   * when it has both). A batch then costs a few N-API calls and two per view instead of
   * about a dozen per request. TypeError on bad arguments. Absent from addons built before it existed.
   */
  hashedBatchFlat?(n: number, nums: Float64Array, seeds: BigUint64Array, views: Uint8Array[], extras?: ReadonlyArray<FileMap | readonly [Uint8Array, number, Uint8Array] | undefined>): Promise<Array<bigint | number>>;
  /**
   * `hashedBatchFlat` whose views are given as numbers: `triples` holds [base index, byte offset,
   * length] per view, in order (its length a multiple of 3, at least 3 per view), into `bases` (at
   * most 256 Uint8Arrays, typically each spanning a whole ArrayBuffer), so the views of one buffer
   * (an EC read's k cells in one caller's buffer, an EC write's data cells in the caller's bytes)
   * cost no N-API call each. Same job and answer; TypeError on bad arguments, a triple outside its
   * base included. `fills` (3 numbers per request): a write's deferred parity fill as [coeffs view,
   * cell bytes, data view] (view indices into `triples`, past the requests' own views; -1 first:
   * none), its writable mapping then alone in `extras`. Absent from addons built before it existed.
   */
  hashedBatchBases?(n: number, nums: Float64Array, seeds: BigUint64Array, bases: Uint8Array[], triples: Float64Array, extras?: ReadonlyArray<FileMap | readonly [Uint8Array, number, Uint8Array] | undefined>, out?: BigUint64Array, fills?: Float64Array): Promise<Array<bigint | number> | number>;
  /**
   * Whether this thread's hashed batches run on the addon's own threads, at a lower priority than
   * the JavaScript thread, instead of the libuv pool; `on` switches it for batches queued from then
   * on. The first thread to pass true owns them (the main thread: workers never call it); another's
   * batches stay on the libuv pool and its calls answer false. Absent from addons built before it.
   */
  hashedOwnThreads?(on?: boolean): boolean;
  /**
   * The own threads' pool: `runCap`, the most hashed batches it runs at once (the cores, at most
   * 8; 0: no cap, or no thread claimed the pool yet), `threads` it made, and `blocked`, its reads
   * so far that found their pages out of the page cache and waited for the device without counting
   * against the cap. For tests and probes.
   */
  hashedOwnStats?(): { runCap: number; threads: number; blocked: number };
  /**
   * One parity row of whole stripes, on the calling thread: cell s of `out` = sum_j coeffs[j] *
   * (cell j of stripe s of `data`), k = coeffs.length cells of `cell` bytes per stripe, in GF(2^8)
   * (0x11d). The same fill runs on the thread pool in a hashedBatch write carrying it as its 8th
   * element [coeffs, cell, data] (media/fills.ts). TypeError when the shapes do not fit. Absent
   * from addons built before it existed.
   */
  parityFill?(coeffs: Uint8Array, cell: number, data: Uint8Array, out: Uint8Array): void;
  /** The kernel parity fills run on ('gfni', else 'scalar'); 'scalar' forces the scalar reference (tests), 'single' keeps GFNI without pairing two fills of one job's same data (one pass for both rows), 'unfused' keeps GFNI without fusing an EC write's fills with its data cells' copy+hash (native gf_fused_stripes: one pass over the data for parity, copy into the mappings and hashes), 'auto' undoes any. */
  fillKernel?(mode?: 'scalar' | 'single' | 'unfused' | 'auto'): 'gfni' | 'scalar';
  /**
   * A read-only shared mapping of the first `length` bytes of file `fd` (undefined when it cannot
   * be made). A `hashedBatch` read carrying it as a 7th element copies its bytes out of the
   * mapping and hashes them in the same pass; a fault in the mapping (SIGBUS: the file cut short,
   * an unreadable page) is caught and the request read with preadv instead. Absent from addons
   * built before it existed. `zapBytes` (read-only mappings only): drop the mapping's page-table
   * entries after this many bytes of chunks first touched (0: never; default 64 MiB). `huge`:
   * advise MADV_HUGEPAGE (`mapHuge` answers whether the kernel took it).
   */
  mapFile?(fd: number, length: number, writable?: boolean, zapBytes?: number, huge?: boolean): FileMap | undefined;
  /** True where hashed batch writes take a writable mapping (`hashedBatch`'s map of a write; absent from addons built before). */
  readonly mappedBatchWrites?: boolean;
  /**
   * A small value written through a writable mapping (`mapFile(fd, length, true)`) on the calling
   * thread: XXH64 of `view` while it is copied to `position`, zeros up to `length` (at most 64 KiB
   * more); no system call. -1 when the mapping cannot take it or faulted (SIGBUS, caught): write it
   * with `pwriteHashSync` instead. Absent from addons built before it existed.
   */
  mapWriteHashSync?(map: FileMap, view: Uint8Array, position: number, length: number, seed: bigint): bigint | number;
  /**
   * A small value read out of a mapping (`mapFile`) on the calling thread: `view.length` bytes at
   * `position` copied into `view`, XXH64 of them in the same pass; no system call. -1 when the
   * mapping cannot take it or faulted (SIGBUS, caught): read it with pread instead. Absent from
   * addons built before it existed. With an array of 1 to 64 views: the bytes at `position` across
   * them in order, one XXH64 of them all.
   */
  mapReadHashSync?(map: FileMap, view: Uint8Array | readonly Uint8Array[], position: number, seed: bigint): bigint | number;
  /**
   * Map `[position, position + length)` of a writable mapping writable in this process's page
   * tables in one call (MADV_POPULATE_WRITE), before stores into it: a store into a page not mapped
   * writable traps, ~10-13 us a page here. The range must lie inside the file. False when it did
   * nothing (an older kernel, outside the mapping): the stores then fault as ever. Absent from
   * addons built before it existed.
   */
  mapPrefault?(map: FileMap, position: number, length: number): boolean;
  /**
   * Make the whole pages inside `view` present and writable in one call (MADV_POPULATE_WRITE),
   * before they are filled: fresh memory traps on each page's first store, ~10-15 us a page here.
   * Leaves the bytes as they are. False when it did nothing (an older kernel, no whole page inside).
   * Absent from addons built before it existed.
   */
  prefaultBuffer?(view: ArrayBufferView): boolean;
  /** No new request takes `map`; it is unmapped once the batches using it have completed. */
  unmapFile?(map: FileMap): void;
  /**
   * Whether `map` was made with `huge` and the kernel took the advice (MADV_HUGEPAGE): pages its
   * faults bring into the page cache come as 2 MiB folios, so a store after the kernel's writeback
   * write-protected them faults once per 2 MiB, not per page. Absent from addons built before it.
   */
  mapHuge?(map: FileMap): boolean;
  /**
   * SO_SNDBUF / SO_RCVBUF of a connected socket (0 leaves one as it is); answers the sizes the
   * kernel reports. Node sets neither on stream sockets, and a Unix socket's sender queues only its
   * send buffer: large RPC messages left in pieces, a wake-up each (src/net). Absent from older addons.
   */
  setSocketBuffers?(fd: number, sendBytes: number, receiveBytes: number): number[];
  /** memcpy of `src` into `dst` at `offset` (views of shared wasm memory included); RangeError when it does not fit. */
  copyInto?(dst: Uint8Array, offset: number, src: Uint8Array): void;
  /**
   * outputs[r] = sum_j matrix[r * k + j] * inputs[j] over `len` bytes in GF(2^8) (polynomial 0x11d),
   * synchronously (GFNI with AVX-512, native/gfni.c); false when this CPU cannot (nothing written).
   * TypeError on bad arguments. Absent from addons built before it existed.
   */
  gfApply?(matrix: Uint8Array, rows: number, k: number, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): boolean;
  /**
   * `gfApply` that also stores inputs[j]'s `len` bytes into copies[j] (k views) in the same pass
   * (an EC write's data cells copied and encoded at once). Absent from addons built before it existed.
   */
  gfApplyCopy?(matrix: Uint8Array, rows: number, k: number, inputs: readonly Uint8Array[], copies: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): boolean;
  /**
   * fallocate(2) of `[offset, offset+length)` of `fd` (mode 0: reserves blocks, extends the file):
   * 0, or the errno (ENOSPC, EOPNOTSUPP, ...). Absent from addons built before it existed.
   */
  fallocate?(fd: number, offset: number, length: number): number;
  /**
   * Sort the 16-byte records of `view` in place, ascending by their bytes, each distinct one moved
   * once to the front; returns how many there are (a checkpoint's object ids for the registry,
   * sorted in C: JavaScript would run that code cold every time). Absent from addons built before.
   */
  sortIdRecords?(view: Uint8Array): number;
  /**
   * A syncer of the file the descriptors `fds` name (media/syncer.ts): fdatasync on a thread per
   * descriptor, each on a dup of its own. `cb(gen, errno)` answers every request up to `gen`.
   * Undefined when none could be made; absent from addons built before it existed.
   */
  syncerOpen?(fds: number[], cb: (gen: number, errno: number) => void): SyncerHandle | undefined;
  /** Ask `s` for a sync: the request's generation number (TypeError for another value; throws once closed). */
  syncerRequest?(s: SyncerHandle): number;
  /** No request of `s` waits for its answer: the event loop need not wait for it. */
  syncerIdle?(s: SyncerHandle): void;
  /** fdatasyncs `s` has run. */
  syncerSyncs?(s: SyncerHandle): number;
  /** No more requests; those made are synced and answered, then its thread ends and closes its descriptor. */
  syncerClose?(s: SyncerHandle): void;
}

/** A native syncer (opaque). */
export type SyncerHandle = { readonly __syncer: unique symbol };

let loaded: { addon?: NativeAddon; reason: string } | undefined;

/** Where the built addon may live: next to the sources (tsx) or one level up from dist/. */
function addonCandidates(): string[] {
  const rel = ['../../native/build/Release/cairn_uring.node', '../../../native/build/Release/cairn_uring.node'];
  return rel.map((r) => fileURLToPath(new URL(r, import.meta.url)));
}

/** Load the native addon once; `reason` says why it is unavailable when it is. */
export function loadNative(): { addon?: NativeAddon; reason: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { reason: `io_uring needs Linux (platform is ${process.platform})` });
  if (process.env.CAIRN_NO_NATIVE === '1') return (loaded = { reason: 'native addon disabled by CAIRN_NO_NATIVE=1' });
  const path = addonCandidates().find((p) => existsSync(p));
  if (!path) return (loaded = { reason: 'native addon not built (run `npm run build:native`)' });
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    return (loaded = { addon, reason: `native addon ${path}` });
  } catch (e) {
    return (loaded = { reason: `native addon failed to load: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** The native addon, or undefined when it is not built or cannot load. */
export function nativeAddon(): NativeAddon | undefined { return loadNative().addon; }

interface Pending { resolve(n: number): void; reject(e: unknown): void; buf: Uint8Array | undefined }

/** `IoEngine` over one io_uring ring. Create with `IoUringEngine.create()`. */
/** IOSQE_IO_LINK: the next SQE starts once this one completed in full (a failed or short one cancels the rest of the chain: -ECANCELED). */
export const URING_LINK = 1 << 2;

export class IoUringEngine implements IoEngine {
  readonly name = 'io_uring' as const;
  readonly maxInFlight = URING_QUEUE_DEPTH;
  private readonly pending: (Pending | undefined)[] = new Array(URING_QUEUE_DEPTH).fill(undefined);
  private readonly freeSlots: number[] = [];
  private readonly completions = new Int32Array(URING_QUEUE_DEPTH * 2 * 2);
  private submitScheduled = false;
  private turnScheduled = false;
  private reapLater = false;
  private inlineDelivered = 0;
  private broken: MediaError | undefined;
  private closed = false;
  private ring!: object;

  private constructor(private readonly addon: NativeAddon) {
    for (let i = URING_QUEUE_DEPTH - 1; i >= 0; i--) this.freeSlots.push(i);
  }

  /** A new ring, or a `UNSUPPORTED` error saying why io_uring cannot be used here. */
  static create(): IoUringEngine {
    const { addon, reason } = loadNative();
    if (!addon) throw new MediaError('UNSUPPORTED', `io_uring unavailable: ${reason}`, { reason });
    const engine = new IoUringEngine(addon);
    try {
      engine.ring = addon.ringCreate(URING_QUEUE_DEPTH, engine.completions, (count) => engine.onComplete(count));
    } catch (e) {
      throw new MediaError('UNSUPPORTED', `io_uring unavailable: io_uring_setup failed: ${(e as Error).message}`, { reason: (e as Error).message });
    }
    return engine;
  }

  private onComplete(count: number): void {
    const c = this.completions;
    for (let i = 0; i < count; i++) {
      const slot = c[2 * i]!, res = c[2 * i + 1]!;
      const p = this.pending[slot];
      if (p === undefined) {
        // Only after a failed submit, whose requests were already rejected.
        assert(this.broken !== undefined, 'io_uring completion for a free slot', { slot });
        if (!this.freeSlots.includes(slot)) this.freeSlots.push(slot);
        continue;
      }
      this.pending[slot] = undefined;
      this.freeSlots.push(slot);
      p.resolve(res);
    }
  }

  private scheduleSubmit(): void {
    if (this.submitScheduled) return;
    this.submitScheduled = true;
    queueMicrotask(this.submitNow);
  }

  /** Submit prepared SQEs (one io_uring_enter) and deliver what completed inline, within budget. */
  private readonly submitNow = (): void => {
    this.submitScheduled = false;
    if (this.closed) return;
    const reap = this.inlineDelivered < URING_INLINE_BUDGET;
    let n: number;
    try { n = this.addon.ringSubmit(this.ring, reap); } catch (e) { this.fail(e); return; }
    if (n > 0) { this.inlineDelivered += n; this.onComplete(n); }
    if (!reap) this.reapLater = true;
    if (!this.turnScheduled && (this.inlineDelivered > 0 || this.reapLater)) {
      this.turnScheduled = true;
      setImmediate(this.nextTurn);
    }
  };

  /** A new event-loop turn: reset the inline budget and reap what was left for it. */
  private readonly nextTurn = (): void => {
    this.turnScheduled = false;
    this.inlineDelivered = 0;
    if (this.reapLater && !this.closed) {
      this.reapLater = false;
      let n: number;
      while ((n = this.addon.ringReap(this.ring)) > 0) this.onComplete(n);
    }
  };

  /** io_uring_enter failed: nothing prepared can be trusted to complete; fail every pending request. */
  private fail(e: unknown): void {
    const err = new MediaError('IO_ERROR', `io_uring submit failed: ${(e as Error).message}`);
    this.broken = err;
    for (let slot = 0; slot < this.pending.length; slot++) {
      const p = this.pending[slot];
      if (p) { this.pending[slot] = undefined; this.freeSlots.push(slot); p.reject(err); }
    }
  }

  /** Issue one request; resolves with the raw CQE result (bytes, or -errno). */
  private issue(op: 0 | 1 | 2, fd: number, buf: Uint8Array | undefined, position: number): Promise<number> {
    assert(!this.closed, 'io_uring request on a closed ring');
    if (this.broken) return Promise.reject(this.broken);
    const slot = this.freeSlots.pop();
    assert(slot !== undefined, 'io_uring queue depth exceeded (the device must bound in-flight requests)');
    return new Promise<number>((resolve, reject) => {
      this.pending[slot] = { resolve, reject, buf };
      if (op === 2) this.addon.ringPrepFsync(this.ring, fd, slot);
      else this.addon.ringPrepRw(this.ring, op, fd, buf!, position, slot);
      this.scheduleSubmit();
    });
  }

  async write(fd: number, buf: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const n = await this.issue(1, fd, done === 0 ? buf : buf.subarray(done), position + done);
      if (n < 0) throw mediaErrorFromErrno(n, 'io_uring write', { position: position + done, length: buf.length - done });
      if (n === 0) throw new MediaError('IO_ERROR', 'io_uring write wrote nothing', { position: position + done });
      done += n;
    }
  }

  async read(fd: number, buf: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buf.length) {
      const n = await this.issue(0, fd, done === 0 ? buf : buf.subarray(done), position + done);
      if (n < 0) throw mediaErrorFromErrno(n, 'io_uring read', { position: position + done, length: buf.length - done });
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  async datasync(fd: number): Promise<void> {
    const n = await this.issue(2, fd, undefined, 0);
    if (n < 0) throw mediaErrorFromErrno(n, 'io_uring fdatasync');
  }

  /** Free request slots now (a caller of `writesThenDatasync` needs one per write and one for the sync). */
  get freeRequestSlots(): number { return this.freeSlots.length; }

  /**
   * Write each `[view, position]` of `parts` to `fd`, then fdatasync `syncFd` (default `fd`), as one
   * linked chain submitted in one io_uring_enter (IOSQE_IO_LINK on every write: the sync starts
   * only once every write completed in full). Resolves when the sync did; rejects with the first
   * failing request in order (a write's errno, or IO_ERROR for a short write; the requests after it
   * in the chain are cancelled and not reported): the caller then writes again its own way and
   * syncs. `sync: false` leaves the sync out (the writes in one submission, in order). The views
   * must stay unchanged until the promise settles. Needs `parts.length + 1` free slots
   * (`freeRequestSlots`): fewer is an OVERLOADED error, nothing submitted. UNSUPPORTED where the
   * addon cannot link requests (`sqeFlags`: built before it).
   */
  writesThenDatasync(fd: number, parts: ReadonlyArray<readonly [Uint8Array, number]>, syncFd: number = fd, opts?: { sync?: boolean }): Promise<void> {
    assert(!this.closed, 'io_uring request on a closed ring');
    if (this.broken) return Promise.reject(this.broken);
    if (this.addon.sqeFlags !== true) return Promise.reject(new MediaError('UNSUPPORTED', 'io_uring: this addon build cannot link requests (rebuild it)'));
    const sync = opts?.sync !== false;
    const need = parts.length + (sync ? 1 : 0);
    if (need === 0) return Promise.resolve();
    if (this.freeSlots.length < need) return Promise.reject(new MediaError('OVERLOADED', 'io_uring: not enough free request slots for the linked chain', { need, free: this.freeSlots.length }));
    for (const [view, position] of parts) {
      if (!(view instanceof Uint8Array) || !Number.isSafeInteger(position) || position < 0) {
        return Promise.reject(new MediaError('INVALID_ARGUMENT', 'writesThenDatasync: parts are [Uint8Array, non-negative position]', { position }));
      }
    }
    const results: Array<Promise<number>> = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        const [view, position] = parts[i]!;
        const link = sync || i < parts.length - 1 ? URING_LINK : 0;
        results.push(this.prepared(view, (slot) => this.addon.ringPrepRw(this.ring, 1, fd, view, position, slot, link)));
      }
      if (sync) results.push(this.prepared(undefined, (slot) => this.addon.ringPrepFsync(this.ring, syncFd, slot)));
    } catch (e) {
      // (an SQE the addon refused: the ones prepared before it go out and complete; their results are dropped)
      this.scheduleSubmit();
      for (const r of results) r.catch(() => undefined);
      return Promise.reject(e);
    }
    this.scheduleSubmit();
    return Promise.all(results).then((res) => {
      for (let i = 0; i < res.length; i++) {
        const n = res[i]!;
        if (i === parts.length) { if (n < 0) throw mediaErrorFromErrno(n, 'io_uring fdatasync'); continue; }
        const [view, position] = parts[i]!;
        if (n < 0) throw mediaErrorFromErrno(n, 'io_uring write', { position, length: view.length });
        if (n < view.length) throw new MediaError('IO_ERROR', 'io_uring write was short (the rest of its chain cancelled)', { position, length: view.length, wrote: n });
      }
    });
  }

  /** One SQE prepared by `prep` on a free slot (which the caller checked there is); resolves with its raw CQE result. */
  private prepared(buf: Uint8Array | undefined, prep: (slot: number) => void): Promise<number> {
    const slot = this.freeSlots.pop()!;
    return new Promise<number>((resolve, reject) => {
      this.pending[slot] = { resolve, reject, buf };
      try { prep(slot); } catch (e) { this.pending[slot] = undefined; this.freeSlots.push(slot); throw e; }
    });
  }

  close(): void {
    if (this.closed) return;
    assert(this.broken !== undefined || this.freeSlots.length === URING_QUEUE_DEPTH, 'io_uring ring closed with requests in flight');
    this.closed = true;
    this.addon.ringClose(this.ring);
  }
}
