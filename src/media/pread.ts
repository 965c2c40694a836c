/**
 * The portable I/O engine: `pread`/`pwrite`/`fdatasync` on Node's libuv thread-pool. Used when
 * io_uring is unavailable (no native addon, kernel refuses) or when asked for with `io: 'pread'`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import type { FileMap, HashedRead, HashedWrite, IoEngine } from './io-engine.js';
import { mediaErrorFromErrno, MediaError } from './errors.js';
import { nativeAddon, type NativeAddon } from './io-uring.js';
import { fillOf, materializeFills, type ParityFill } from './fills.js';

/** Requests in flight at once on the thread-pool engine (libuv has 4 threads by default). */
export const PREAD_MAX_IN_FLIGHT = 16;

function writeOnce(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function readOnce(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function readvOnce(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.readv(fd, bufs as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function writevOnce(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, bufs as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** `bufs` without their first `n` bytes (after a short scatter read or gather write). */
function skipBytes(bufs: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (n >= b.length) { n -= b.length; continue; }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/** Most buffers one hashed request takes (`native/hashio.c` MAX_VIEWS). */
export const HASHED_IO_MAX_VIEWS = 1024;

/** Most requests one thread-pool job of the hashed batcher carries (`native/hashio.c` MAX_BATCH is 256). */
export const HASHED_BATCH_MAX_REQUESTS = 64;
/**
 * Bytes past which a gathering batch is sent at once (so one job never holds the pool thread long).
 * HASHED_BATCH_MAX_BYTES_ENV sets another (bytes, at least 64 KiB): with 1 MiB EC reads 8 in
 * flight, 8 MiB gathers the reads issued in one tick into one job (jobs of 4 reads were 90% of
 * them, 2 jobs in flight: the reads complete in cohorts of 4); 1-2 MiB makes a job per read or
 * two (more jobs at once, +10-14% CPU per MiB measured at load 15: wall unmeasured quiet).
 */
export const HASHED_BATCH_MAX_BYTES = batchMaxBytes(process.env.CAIRN_HASHED_BATCH_MAX_BYTES);
/** Environment variable naming HASHED_BATCH_MAX_BYTES (bytes). */
export const HASHED_BATCH_MAX_BYTES_ENV = 'CAIRN_HASHED_BATCH_MAX_BYTES';
function batchMaxBytes(v: string | undefined): number {
  const n = Number(v);
  return v !== undefined && Number.isSafeInteger(n) && n >= 64 * 1024 ? n : 8 * 1024 * 1024;
}

/**
 * Fewest requests a job gets when a batch is split over idle cores: the native vector pass hashes
 * (and copies) the requests of one job side by side only when it holds at least 3 of them
 * (native/hashio.c MULTI_MIN); a job of 1-2 runs the scalar loop, ~1.4x the CPU per byte for a
 * mapped copy+hash. A connected client's located reads arrive per engine answer, 2-8 cells at a
 * time (EC_2P1G1 at qd8: 1024 cells in ~320 jobs, most of 2-3): split over 2 cores they ran as
 * jobs of 1-2, scalar, each job a pool-thread wake-up and a completion on the JavaScript thread.
 * Shares of at least 3 (floor(n / 3) jobs) cut that CPU under load (client CPU per MiB x0.90,
 * 2be4bcd) but cost wall time when cores are idle: a lone EC_4P2G1 read's 4 cells went as one job
 * instead of two, and on a quiet machine the split per idle core read faster in every pair (io EC
 * reads 5 of 5 EC-only pairs, ~+0.1x of file reads; connected reused reads 4 of 4 rows, +9-23%
 * MiB/s). The default is therefore 1 (one share per idle core); `hashedBatchTuning.minPerJob` sets
 * the share for same-process A/Bs.
 */
export const HASHED_BATCH_MIN_PER_JOB = 1;
/**
 * The share when the machine is loaded (`machineLoaded`): with every core kept busy by other
 * processes, a second job runs no sooner than the first, and shares of at least 3 requests cost
 * less CPU per byte (connected EC_2P1G1 reused reads qd8, client CPU per MiB x0.90; a lone
 * EC_4P2G1 reader x0.77, 2be4bcd, load 11-14): the machine's other users get that CPU.
 */
export const HASHED_BATCH_LOADED_MIN_PER_JOB = 3;
/**
 * Set to 0 to pass a batch's views to the addon one by one (`hashedBatchFlat`) instead of as
 * numbers into their distinct buffers (`hashedBatchBases`; `hashedBatchTuning.bases`). Why: N-API
 * reads of a view (an array element, then its typed-array info) cost about 900 instructions, and an
 * EC write's batch names 18 views of 3 buffers (4 data cells x 4 stripes of the caller's bytes, 2
 * parity buffers), an EC read's 4 cells one buffer.
 */
export const HASHED_BATCH_BASES_ENV = 'CAIRN_HASHED_BATCH_BASES';
/** Most distinct buffers one `hashedBatchBases` call takes (native/hashio.c MAX_BASES); a batch of more goes through `hashedBatchFlat`. */
const HASHED_BATCH_MAX_BASES = 256;

/**
 * Jobs in flight a local flush of reads only may count on beyond one per core, while the machine
 * is not loaded (`hashedBatchTuning.readExtraJobs`; HASHED_BATCH_READ_EXTRA_JOBS_ENV sets another,
 * 0 to 4). Why: reads answered together come back in cohorts, and while the JavaScript thread
 * completes one cohort and issues the next, the job that finished leaves its core idle; with one
 * more job the next reads are split over both cores again. Quiet machine, io bench EC-only, 6
 * alternating pairs: EC_4P2G1 1 MiB reads 8 in flight 22.3 -> 23.4 GB/s median (0.69 -> 0.72x plain
 * file reads; higher in 5 of 6), CPU per MiB 68-72 -> 70-75 us, writes unchanged. Writes are
 * not split further: more jobs made EC writes slower (9-12 against 11-14.5 GB/s in the same runs).
 */
export const HASHED_BATCH_READ_EXTRA_JOBS = 1;
/** Environment variable naming `hashedBatchTuning.readExtraJobs` (0 to 4). */
export const HASHED_BATCH_READ_EXTRA_JOBS_ENV = 'CAIRN_HASHED_BATCH_READ_EXTRA_JOBS';
/** Most extra read jobs the variable may ask for. */
const HASHED_BATCH_READ_EXTRA_JOBS_MAX = 4;
function readExtraJobsOf(v: string | undefined): number {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isSafeInteger(n) && n >= 0 && n <= HASHED_BATCH_READ_EXTRA_JOBS_MAX ? n : HASHED_BATCH_READ_EXTRA_JOBS;
}

/**
 * Tuning of the process-wide hashed batcher, read at each flush (probes flip it for same-process
 * A/Bs). `minPerJob`: a number fixes the share; 'auto' (the default) takes HASHED_BATCH_MIN_PER_JOB
 * while the cores are free and HASHED_BATCH_LOADED_MIN_PER_JOB while `machineLoaded()` says.
 * `maxJobs`: see HASHED_BATCH_MAX_JOBS_ENV. `typedResults` (default on; CAIRN_HASHED_BATCH_TYPED=0
 * turns it off): a job's answers come back in a reused BigUint64Array (`hashedBatchFlat`'s `out`)
 * instead of an array of a BigInt or errno per request made through N-API on the JavaScript thread.
 * `bases` (default on; HASHED_BATCH_BASES_ENV): views passed as numbers into their buffers.
 */
export const hashedBatchTuning: { minPerJob: number | 'auto'; maxJobs: number | 'auto' | undefined; typedResults: boolean; bases: boolean; readExtraJobs: number } = {
  minPerJob: 'auto', maxJobs: maxJobsOf(process.env.CAIRN_HASHED_BATCH_MAX_JOBS), typedResults: process.env.CAIRN_HASHED_BATCH_TYPED !== '0',
  bases: process.env[HASHED_BATCH_BASES_ENV] !== '0', readExtraJobs: readExtraJobsOf(process.env[HASHED_BATCH_READ_EXTRA_JOBS_ENV]),
};


/**
 * Environment variable naming `hashedBatchTuning.maxJobs`: a whole number >= 1 caps the jobs in
 * flight that a big local read flush may join; 0 (or anything else): no cap; unset: 'auto', which
 * caps at HASHED_BATCH_LOADED_MAX_JOBS while `machineLoaded()` and not otherwise. Why: under load
 * (other processes on the cores) a second job runs no sooner, and one job of all the reads answered
 * at once costs less (embedded EC_4P2G1 1 MiB reads qd8, same process, load 9: CPU/MiB x0.927, main
 * thread x0.86; io bench EC-only runs at load 26-29, 9 rounds each: median CPU/MiB 139 capped vs
 * 158 base); on free cores two jobs copy in parallel beside the JavaScript thread (the quiet wall is
 * the lead's A/B).
 */
export const HASHED_BATCH_MAX_JOBS_ENV = 'CAIRN_HASHED_BATCH_MAX_JOBS';
/** The cap 'auto' applies while the machine is loaded. */
export const HASHED_BATCH_LOADED_MAX_JOBS = 1;
function maxJobsOf(v: string | undefined): number | 'auto' | undefined {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}
/**
 * Fewest reads a flush must hold for `hashedBatchTuning.maxJobs` to apply to it: a lone reader's
 * flush (an EC_4P2G1 read's 4 cells) is still split over the idle cores, as its latency wants;
 * the flushes of many reads in flight (8 EC reads answered at once: 32 cells) are what the cap
 * keeps in one job.
 */
export const HASHED_BATCH_CAP_MIN_REQUESTS = 8;

/**
 * 1-minute load average per core from which the machine counts as loaded (the batcher's shares go
 * to HASHED_BATCH_LOADED_MIN_PER_JOB). What a bench adds itself, on the 2-core machine the benches
 * run on: a connected client and its 4 engines (EC_2P1G1 1 MiB rounds, all their threads sampled
 * every 10 ms) kept 2.6 threads runnable on average while reading and 3.9 while writing (max 11),
 * counted at load 30-45, where every wait is longer: less on a quiet machine, where one share per
 * idle core read faster in 4 of 4 connected rows (db3e9a5). Seven people benching at once put the
 * load at 10-45 (where shares of 3 saved CPU). 3 per core (6 on 2 cores) stays above the first.
 */
export const LOADED_LOAD_PER_CORE = 3;
/** How often `machineLoaded` reads the load average again (ms). */
const LOAD_SAMPLE_MS = 1000;
const load = { at: -Infinity, loaded: false, override: undefined as boolean | undefined };

/**
 * Whether other work keeps this machine's cores busy: the 1-minute load average (`os.loadavg`,
 * read at most once a second) at least LOADED_LOAD_PER_CORE per core. False where the system
 * reports no load average (0). Why a load average and not the idle time of the cores: a connected
 * client's engines are other processes whose CPU comes and goes with the client's own requests,
 * and splitting per idle core still paid there (db3e9a5); only sustained demand well past the
 * cores says a second job will wait.
 */
export function machineLoaded(): boolean {
  if (load.override !== undefined) return load.override;
  const now = performance.now();
  if (now - load.at >= LOAD_SAMPLE_MS) {
    load.at = now;
    load.loaded = os.loadavg()[0]! >= LOADED_LOAD_PER_CORE * os.availableParallelism();
  }
  return load.loaded;
}
/** Test hook: make `machineLoaded` answer `loaded` (undefined: read the load average again). */
export function overrideMachineLoaded(loaded: boolean | undefined): void { load.override = loaded; load.at = -Infinity; }
/** Jobs and requests the hashed batcher sent so far (counts for probes and tests). */
export const hashedBatchStats = { jobs: 0, requests: 0 };

/**
 * A hashed transfer waiting for its batch: [op 0 read | 1 write, fd, views, position, hashLen, seed,
 * the file's mapping for a read, a write's deferred parity fill of its first view (fills.ts)].
 */
type HashedRequest = [0 | 1, number, readonly Uint8Array[], number, number, bigint, FileMap | undefined, ParityFill | undefined];
type HashedBatchFn = NonNullable<NativeAddon['hashedBatch']>;
type HashedBatchFlatFn = NonNullable<NativeAddon['hashedBatchFlat']>;
type HashedBatchBasesFn = NonNullable<NativeAddon['hashedBatchBases']>;
/** Numbers per request in a flattened batch (`hashedBatchFlat`): op, fd, position, hashLen, view count. */
const FLAT_FIELDS = 5;

/** `hashedBatchFlat` with its optional `out` (results into a BigUint64Array; the promise then answers the failures' count). */
type HashedBatchFlatOutFn = (n: number, nums: Float64Array, seeds: BigUint64Array, views: Uint8Array[], extras: Parameters<HashedBatchFlatFn>[4], out?: BigUint64Array) => Promise<Array<bigint | number> | number>;

/** A batch request's completion: a promise's settle functions, or one member of a group (`GroupMember`). */
interface Waiter { resolve(h: bigint): void; reject(e: unknown): void }

/** The shared state of one `submitGroup`: its results, in order, and the reads still in flight. */
interface GroupState { readonly out: Array<bigint | Error>; pending: number; readonly done: (out: Array<bigint | Error>) => void }

/** Read `i` of a group: records its hash or error; the last one to complete settles the group's one promise. */
class GroupMember implements Waiter {
  constructor(private readonly g: GroupState, private readonly i: number) {}
  resolve(h: bigint): void { this.g.out[this.i] = h; if (--this.g.pending === 0) this.g.done(this.g.out); }
  reject(e: unknown): void { this.g.out[this.i] = e instanceof Error ? e : new MediaError('IO_ERROR', String(e)); if (--this.g.pending === 0) this.g.done(this.g.out); }
}

/** Whether every request of a flush is a read. */
function allReads(reqs: readonly HashedRequest[]): boolean {
  for (let i = 0; i < reqs.length; i++) if (reqs[i]![0] !== 0) return false;
  return true;
}

/**
 * Gathers the hashed reads and writes issued in one run of JavaScript (up to the next microtask
 * checkpoint) and sends them to the thread pool as few native jobs (`hashedBatch`): the k cell
 * reads of an EC read, the k + p cell writes of an EC write or the k source reads of a rebuild
 * step then cost one queue, one wake-up and one completion instead of one per shard (on a loaded
 * 2-core machine each wake-up of a pool thread can preempt the JavaScript thread).
 *
 * Parallelism is kept where it matters: when fewer jobs are in flight than the machine has cores
 * (a lone reader), the gathered requests are split over them in shares of at least
 * `hashedBatchTuning.minPerJob` (HASHED_BATCH_MIN_PER_JOB, 1: one share per idle core, so a single
 * EC read's cells are read in parallel; HASHED_BATCH_LOADED_MIN_PER_JOB, 3, while other processes
 * keep the cores busy: `machineLoaded`); under load (many requests in flight) they go as one job. The split counts
 * cores, not pool threads (libuv's 4 on a 2-core machine): more jobs than cores run no sooner,
 * while each costs a wake-up and a completion, and a job's cells are hashed side by side only
 * when it holds at least 3 (native/xxh64x.c). Measured (EC 1 MiB reads of an EC_4P2G1 array, 8 in
 * flight, 2 cores, load 12-16, alternating processes): JavaScript-thread CPU per read 80-112 us
 * splitting by threads, 64-73 by cores; with the cells then hashed side by side, the io bench's
 * EC read row went from 2.85 to 3.15 GB per CPU-second (medians of 8 alternating runs).
 * One process-wide batcher serves every device (each request names its descriptor).
 */
class HashedBatcher {
  private queue: HashedRequest[] = [];
  private waiters: Waiter[] = [];
  private bytes = 0;
  private scheduled = false;
  /** Native jobs in flight. */
  private inFlight = 0;
  /** Flushes held back by `hashedBatchTuning.maxJobs`: sent together, as one job, when a job completes. */
  private readonly later: Array<[HashedRequest[], Waiter[]]> = [];
  private readonly flushNow = () => { this.scheduled = false; this.flush(); };

  /** Scratch of the flattened call (read by the addon before it returns, so reused). */
  private readonly nums = new Float64Array(HASHED_BATCH_MAX_REQUESTS * FLAT_FIELDS);
  private readonly seeds = new BigUint64Array(HASHED_BATCH_MAX_REQUESTS);
  /** Results arrays of jobs (`typedResults`: n hashes then n errnos), one per job in flight, reused. */
  private readonly results: BigUint64Array[] = [];

  /**
   * `threads`: jobs that can run at once (pool threads, capped at the cores that run them).
   * `flat`: the addon's `hashedBatchFlat` (same job, arguments flattened: a few N-API calls and two
   * per view, against about a dozen per request through `hashedBatch`), used where it exists.
   */
  /** Scratch of `hashedBatchBases`' view triples and fills (read by the addon before it returns, so reused; the triples grown as needed). */
  private triples = new Float64Array(HASHED_BATCH_MAX_REQUESTS * 3 * 4);
  private readonly fills = new Float64Array(HASHED_BATCH_MAX_REQUESTS * 3);

  constructor(private readonly native: HashedBatchFn, private readonly threads: number, private readonly flat?: HashedBatchFlatFn, private readonly located = false, private readonly bases?: HashedBatchBasesFn) {}

  submit(op: 0 | 1, fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint, map?: FileMap): Promise<bigint> {
    // a write whose first view is a deferred parity buffer carries its fill: computed in the job
    const fill = op === 1 ? fillOf(bufs[0]) : undefined;
    return new Promise<bigint>((resolve, reject) => {
      this.queue.push([op, fd, bufs, position, hashLen, seed, map, fill]);
      this.waiters.push({ resolve, reject });
      this.bytes += hashLen;
      if (this.queue.length >= HASHED_BATCH_MAX_REQUESTS || this.bytes >= HASHED_BATCH_MAX_BYTES) this.flush();
      else if (!this.scheduled) { this.scheduled = true; queueMicrotask(this.flushNow); }
    });
  }

  /**
   * Several hashed reads (`op` 0) or writes (1) with one promise (`IoEngine.readvHashGroup`,
   * `writevHashGroup`): they join the gathering batch like `submit`'s, but one group object, not a
   * promise per request, collects their results (each one's hash, or its error). A group split
   * over two jobs settles when both have completed. A write's deferred parity fill goes with it.
   */
  submitGroup(op: 0 | 1, reqs: readonly (HashedRead | HashedWrite)[]): Promise<Array<bigint | Error>> {
    if (reqs.length === 0) return Promise.resolve([]);
    return new Promise<Array<bigint | Error>>((done) => {
      const g: GroupState = { out: new Array<bigint | Error>(reqs.length), pending: reqs.length, done };
      for (let i = 0; i < reqs.length; i++) {
        const r = reqs[i]!;
        this.queue.push(op === 0 ? [0, r.fd, r.views, r.position, r.hashLen, r.seed, (r as HashedRead).map, undefined] : [1, r.fd, r.views, r.position, r.hashLen, r.seed, (r as HashedWrite).map, fillOf(r.views[0])]);
        this.waiters.push(new GroupMember(g, i));
        this.bytes += r.hashLen;
        if (this.queue.length >= HASHED_BATCH_MAX_REQUESTS || this.bytes >= HASHED_BATCH_MAX_BYTES) this.flush();
      }
      if (this.queue.length > 0 && !this.scheduled) { this.scheduled = true; queueMicrotask(this.flushNow); }
    });
  }

  private flush(): void {
    const reqs = this.queue, waiters = this.waiters;
    if (reqs.length === 0) return;
    this.queue = []; this.waiters = []; this.bytes = 0;
    const cap = this.capped(reqs);
    if (cap !== undefined && this.inFlight >= cap) { this.later.push([reqs, waiters]); return; }
    // Idle cores get a share each, of at least minPerJob requests (the vector pass); else one job.
    // (a local flush of reads only may also count on `readExtraJobs` more while the cores are free)
    const extra = hashedBatchTuning.readExtraJobs;
    const par = this.threads + (extra > 0 && !this.located && allReads(reqs) && !machineLoaded() ? extra : 0);
    const idle = Math.min(par, cap ?? par) - this.inFlight;
    const tuned = hashedBatchTuning.minPerJob;
    const minPerJob = idle <= 1 ? 1 : tuned !== 'auto' ? Math.max(1, tuned) : machineLoaded() ? HASHED_BATCH_LOADED_MIN_PER_JOB : HASHED_BATCH_MIN_PER_JOB;
    const jobs = Math.max(1, Math.min(Math.floor(reqs.length / minPerJob), idle));
    if (jobs === 1) { this.send(reqs, waiters); return; }
    // Contiguous shares, not strided: the requests of one caller (the k cells of one EC read) are
    // submitted one after another, so they stay in one job and that read completes when its job
    // does. Strided shares put every read's cells in every job: all reads then completed at once,
    // and the pool threads idled while the JavaScript thread issued the next round (and vice versa).
    for (let j = 0, from = 0; j < jobs; j++) {
      const to = from + Math.ceil((reqs.length - from) / (jobs - j));
      this.send(reqs.slice(from, to), waiters.slice(from, to));
      from = to;
    }
  }

  /**
   * The most jobs `reqs` may join in flight (`hashedBatchTuning.maxJobs`; 'auto': HASHED_BATCH_LOADED_MAX_JOBS while `machineLoaded()`), or undefined: no cap.
   * Only a local batcher's (not `lane` 'located') flushes of HASHED_BATCH_CAP_MIN_REQUESTS or
   * more requests, all reads, are capped.
   */
  private capped(reqs: HashedRequest[]): number | undefined {
    const tuned = hashedBatchTuning.maxJobs;
    if (tuned === undefined || this.located || reqs.length < HASHED_BATCH_CAP_MIN_REQUESTS || !allReads(reqs)) return undefined;
    return tuned !== 'auto' ? tuned : machineLoaded() ? HASHED_BATCH_LOADED_MAX_JOBS : undefined;
  }

  /** A job completed: send the flushes held back (`later`) as one job (up to HASHED_BATCH_MAX_REQUESTS requests). */
  private next(): void {
    let [reqs, waiters] = this.later.shift()!;
    while (this.later.length !== 0 && reqs.length + this.later[0]![0].length <= HASHED_BATCH_MAX_REQUESTS) {
      const [r, w] = this.later.shift()!;
      reqs = reqs.concat(r); waiters = waiters.concat(w);
    }
    this.send(reqs, waiters);
  }

  private send(reqs: HashedRequest[], waiters: Waiter[]): void {
    this.inFlight++;
    hashedBatchStats.jobs++;
    hashedBatchStats.requests += reqs.length;
    let p: Promise<Array<bigint | number> | number>;
    const res = this.flat !== undefined && hashedBatchTuning.typedResults && reqs.length <= HASHED_BATCH_MAX_REQUESTS
      ? this.results.pop() ?? new BigUint64Array(2 * HASHED_BATCH_MAX_REQUESTS) : undefined;
    try {
      p = this.flat !== undefined ? this.sendFlat(reqs, this.flat, res) : this.native(reqs as unknown as Parameters<HashedBatchFn>[0]);
    } catch (e) {
      this.inFlight--;
      if (res !== undefined) this.results.push(res);
      // A request the addon refused (bad arguments) must not fail the others gathered with it.
      if (reqs.length > 1) { for (let i = 0; i < reqs.length; i++) this.send([reqs[i]!], [waiters[i]!]); return; }
      waiters[0]!.reject(e);
      return;
    }
    p.then((out) => {
      this.inFlight--;
      if (this.later.length !== 0) this.next();
      if (typeof out === 'number') {
        // (typed results: hashes at [0, n), errnos at [n, 2n); `out` counts the failures)
        const n = reqs.length, r = res!;
        for (let i = 0; i < n; i++) {
          if (out === 0 || r[n + i] === 0n) waiters[i]!.resolve(r[i]!);
          else waiters[i]!.reject(this.failure(reqs[i]!, -Number(r[n + i])));
        }
        this.results.push(r);
        return;
      }
      if (res !== undefined) this.results.push(res);
      for (let i = 0; i < waiters.length; i++) {
        const r = out[i];
        if (typeof r === 'bigint') waiters[i]!.resolve(r);
        else waiters[i]!.reject(this.failure(reqs[i]!, r!));
      }
    }, (e: unknown) => {
      this.inFlight--;
      if (res !== undefined) this.results.push(res);
      if (this.later.length !== 0) this.next();
      for (const w of waiters) w.reject(mediaErrorFromErrno(e, 'hashed I/O'));
    });
  }

  /** The typed error of request `q`, which failed with `errno` (negative). */
  private failure(q: HashedRequest, errno: number): Error {
    return mediaErrorFromErrno(errno, q[0] === 0 ? 'preadv' : 'pwritev', { position: q[3], length: q[2].reduce((n, b) => n + b.length, 0) });
  }

  /** `reqs` as one `hashedBatchFlat` call: numbers and seeds into the scratch arrays, views in one array, maps and fills beside them; the results into `out` when given. */
  private sendFlat(reqs: HashedRequest[], flat: HashedBatchFlatFn, out?: BigUint64Array): Promise<Array<bigint | number> | number> {
    const n = reqs.length;
    const nums = n <= HASHED_BATCH_MAX_REQUESTS ? this.nums : new Float64Array(n * FLAT_FIELDS);
    const seeds = n <= HASHED_BATCH_MAX_REQUESTS ? this.seeds : new BigUint64Array(n);
    if (this.bases !== undefined && hashedBatchTuning.bases) {
      const r = this.sendBases(reqs, nums, seeds, out);
      if (r !== undefined) return r;
    }
    // (the views array at its final length: grown by push, 16 views took two backing stores)
    let nviews = 0;
    for (let i = 0; i < n; i++) nviews += reqs[i]![2].length;
    const views = new Array<Uint8Array>(nviews);
    let extras: Array<FileMap | ParityFill | undefined> | undefined;
    for (let i = 0, at = 0, v = 0; i < n; i++, at += FLAT_FIELDS) {
      const q = reqs[i]!, vs = q[2];
      nums[at] = q[0]; nums[at + 1] = q[1]; nums[at + 2] = q[3]; nums[at + 3] = q[4]; nums[at + 4] = vs.length;
      seeds[i] = q[5];
      for (let j = 0; j < vs.length; j++) views[v++] = vs[j]!;
      // (a write's extra: its fill, or its writable mapping, or the fill with the mapping as a 4th element)
      const x = q[0] === 0 || q[7] === undefined ? q[6] : q[6] === undefined ? q[7] : [...q[7], q[6]] as unknown as ParityFill;
      if (x !== undefined) (extras ??= new Array<FileMap | ParityFill | undefined>(n))[i] = x;
    }
    return out !== undefined ? (flat as unknown as HashedBatchFlatOutFn)(n, nums, seeds, views, extras, out) : flat(n, nums, seeds, views, extras);
  }

  /**
   * `reqs` as one `hashedBatchBases` call: every view, and each write's fill's coefficients and data,
   * as [buffer, offset, length] numbers into one base view per distinct buffer (found by identity
   * among those seen so far in the batch), fills as numbers (`fills`), mappings alone in the extras.
   * Undefined (nothing sent) past HASHED_BATCH_MAX_BASES buffers: then `hashedBatchFlat` takes it.
   */
  private sendBases(reqs: HashedRequest[], nums: Float64Array, seeds: BigUint64Array, out: BigUint64Array | undefined): Promise<Array<bigint | number> | number> | undefined {
    const n = reqs.length;
    let nv = 0, nfills = 0;
    for (let i = 0; i < n; i++) { const q = reqs[i]!; nv += q[2].length; if (q[0] === 1 && q[7] !== undefined) nfills++; }
    let t = this.triples;
    if (t.length < (nv + 2 * nfills) * 3) t = this.triples = new Float64Array((nv + 2 * nfills) * 6);
    const fills = nfills === 0 ? undefined : n <= HASHED_BATCH_MAX_REQUESTS ? this.fills : new Float64Array(n * 3);
    const bufs: ArrayBufferLike[] = [];
    const bases: Uint8Array[] = [];
    let maps: Array<FileMap | undefined> | undefined;
    // (a view's triple at `w`: its buffer's index among `bases`, added when new; false past the limit)
    const put = (v: Uint8Array, w: number): boolean => {
      const buf = v.buffer;
      let b = 0;
      while (b < bufs.length && bufs[b] !== buf) b++;
      if (b === bufs.length) {
        if (b === HASHED_BATCH_MAX_BASES) return false;
        bufs.push(buf); bases.push(new Uint8Array(buf));
      }
      t[w] = b; t[w + 1] = v.byteOffset; t[w + 2] = v.length;
      return true;
    };
    let w = 0, fw = nv * 3;
    for (let i = 0, at = 0; i < n; i++, at += FLAT_FIELDS) {
      const q = reqs[i]!, vs = q[2];
      nums[at] = q[0]; nums[at + 1] = q[1]; nums[at + 2] = q[3]; nums[at + 3] = q[4]; nums[at + 4] = vs.length;
      seeds[i] = q[5];
      for (let j = 0; j < vs.length; j++, w += 3) if (!put(vs[j]!, w)) return undefined;
      if (q[6] !== undefined) (maps ??= new Array<FileMap | undefined>(n))[i] = q[6];
      if (fills !== undefined) {
        const f = q[0] === 1 ? q[7] : undefined;
        if (f === undefined) { fills[i * 3] = -1; continue; }
        if (!put(f[0], fw) || !put(f[2], fw + 3)) return undefined;
        fills[i * 3] = fw / 3; fills[i * 3 + 1] = f[1]; fills[i * 3 + 2] = fw / 3 + 1;
        fw += 6;
      }
    }
    return this.bases!(n, nums, seeds, bases, t, maps, out, fills);
  }
}

let batcher: HashedBatcher | undefined;
let locatedBatcher: HashedBatcher | undefined;
/**
 * The process-wide batcher of `lane` (libuv's pool has UV_THREADPOOL_SIZE threads, 4 by default;
 * they share the machine's cores): 'local' for the block devices of an embedded pool, 'located'
 * for a connected client's reads of engines' files (net/direct-read), whose answers arrive per
 * engine: holding their jobs back (`hashedBatchTuning.maxJobs`) stalled the round trips (connected
 * EC_2P1G1 reused reads qd8, maxJobs 1: MiB/s x0.67, client CPU x1.12), so that lane is never capped.
 */
function sharedBatcher(native: HashedBatchFn, flat: HashedBatchFlatFn | undefined, lane: 'local' | 'located', bases?: HashedBatchBasesFn): HashedBatcher {
  const threads = Math.max(1, Math.min(1024, Number(process.env.UV_THREADPOOL_SIZE) || 4));
  const make = () => {
    // (the main thread's batches only: a worker's take the libuv pool, see native/hashio.c `hashed_own_on`)
    if (isMainThread) nativeAddon()?.hashedOwnThreads?.(process.env[HASHED_OWN_THREADS_ENV] !== '0');
    return new HashedBatcher(native, Math.max(1, Math.min(threads, os.availableParallelism())), process.env[HASHED_BATCH_FLAT_ENV] === '0' ? undefined : flat, lane === 'located', bases);
  };
  return lane === 'located' ? (locatedBatcher ??= make()) : (batcher ??= make());
}

/**
 * Set to 0 to run hashed batches on the libuv pool instead of the addon's own threads (`hashedOwnThreads`:
 * those run at a lower priority than the JavaScript thread, the critical path of bulk writes on few
 * cores: see native/hashio.c `hashed_pool`).
 */
export const HASHED_OWN_THREADS_ENV = 'CAIRN_HASHED_OWN_THREADS';

/** Set to 0 to send hashed batches through the addon's `hashedBatch` (an array per request) instead of `hashedBatchFlat`. */
export const HASHED_BATCH_FLAT_ENV = 'CAIRN_HASHED_BATCH_FLAT';

/**
 * `IoEngine` over the libuv thread-pool. With the native addon (`native/hashio.c`) it also reads
 * and writes with the checksum computed on the pool thread that moves the bytes (`readvHash`,
 * `writevHash`), so bulk I/O leaves the JavaScript thread nothing to hash.
 */
export class PreadEngine implements IoEngine {
  readonly name = 'pread' as const;
  readonly maxInFlight = PREAD_MAX_IN_FLIGHT;
  readonly readvHash?: (fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint, map?: FileMap) => Promise<bigint>;
  readonly writevHash?: (fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint, map?: FileMap) => Promise<bigint>;
  readonly readvHashGroup?: (reads: readonly HashedRead[]) => Promise<Array<bigint | Error>>;
  readonly writevHashGroup?: (writes: readonly HashedWrite[]) => Promise<Array<bigint | Error>>;

  /** `lane`: 'located' for a connected client's reads of engines' files (its own batcher, never capped: `sharedBatcher`). */
  constructor(lane: 'local' | 'located' = 'local') {
    const addon = nativeAddon();
    const { preadvHash, pwritevHash, hashedBatch, hashedBatchFlat, hashedBatchBases } = addon ?? {};
    if (hashedBatch && process.env.CAIRN_HASHED_BATCH !== '0') {
      const batcher = sharedBatcher(hashedBatch, hashedBatchFlat, lane, hashedBatchBases);
      this.readvHash = (fd, bufs, position, hashLen, seed, map) => batcher.submit(0, fd, bufs, position, hashLen, seed, map);
      this.writevHash = (fd, bufs, position, hashLen, seed, map) => batcher.submit(1, fd, bufs, position, hashLen, seed, map);
      this.readvHashGroup = (reads) => batcher.submitGroup(0, reads);
      this.writevHashGroup = (writes) => batcher.submitGroup(1, writes);
    } else if (preadvHash && pwritevHash) {
      const total = (bufs: readonly Uint8Array[]) => bufs.reduce((n, b) => n + b.length, 0);
      this.readvHash = (fd, bufs, position, hashLen, seed) => preadvHash(fd, bufs as Uint8Array[], position, hashLen, seed)
        .catch((e: unknown) => { throw mediaErrorFromErrno(e, 'preadv', { position, length: total(bufs) }); });
      this.writevHash = (fd, bufs, position, hashLen, seed) => (materializeFills(bufs), pwritevHash(fd, bufs as Uint8Array[], position, hashLen, seed))
        .catch((e: unknown) => { throw mediaErrorFromErrno(e, 'pwritev', { position, length: total(bufs) }); });
    }
  }

  async write(fd: number, buf: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try { n = await writeOnce(fd, done === 0 ? buf : buf.subarray(done), position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pwrite', { position: position + done, length: buf.length - done }); }
      if (n <= 0) throw new MediaError('IO_ERROR', 'pwrite wrote nothing', { position: position + done });
      done += n;
    }
  }

  async read(fd: number, buf: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try { n = await readOnce(fd, done === 0 ? buf : buf.subarray(done), position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pread', { position: position + done, length: buf.length - done }); }
      if (n === 0) break; // end of file
      done += n;
    }
    return done;
  }

  async readv(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let done = 0;
    let rest: readonly Uint8Array[] = bufs;
    while (done < total) {
      let n: number;
      try { n = await readvOnce(fd, rest, position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'preadv', { position: position + done, length: total - done }); }
      if (n === 0) break; // end of file
      done += n;
      if (done < total) rest = skipBytes(rest, n);
    }
    return done;
  }

  async writev(fd: number, bufs: readonly Uint8Array[], position: number): Promise<void> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let done = 0;
    let rest: readonly Uint8Array[] = bufs;
    while (done < total) {
      let n: number;
      try { n = await writevOnce(fd, rest, position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pwritev', { position: position + done, length: total - done }); }
      if (n <= 0) throw new MediaError('IO_ERROR', 'pwritev wrote nothing', { position: position + done });
      done += n;
      if (done < total) rest = skipBytes(rest, n);
    }
  }

  datasync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(mediaErrorFromErrno(err, 'fdatasync')) : resolve()));
    });
  }

  close(): void { /* nothing to release */ }
}
