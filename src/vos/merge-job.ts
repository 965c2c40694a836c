/**
 * A merge of runs, or the flush of a frozen memtable, as a self-contained job: the runs'
 * descriptors (or where the frozen log region is), the heap chunks the output may take (allocated
 * by the store beforehand) and the container rules in force, run against a plain file descriptor
 * of the target's pmem file. The store runs it on a worker thread (`merge-workers.ts`), so the
 * work of writing runs, which grows with the data, leaves the thread that serves reads and
 * writes. A flush of single-value updates writes its log region straight into a run
 * (`log-flush.ts`); any other flush rebuilds the memtable from its log region, as an open replays
 * it. Either checks it found every record the store applied. Everything here is synchronous and needs nothing of the store.
 */
import fs from 'node:fs';
import { assert } from '../../core/errors.js';
import { VosError } from './errors.js';
import { ExtentList } from './allocator.js';
import { Memtable, addLogged } from './memtable.js';
import { MemtableCursor, aggregateMerge, fastMerge, flushMemtable, runCursors, type ContainerRules, type MergeStats } from './merge.js';
import { Run, RunWriter, VerifiedBlocks, type BlockRef, type RunMeta, type RunSpace } from './run.js';
import { decodeRegion, type FrozenRegion } from './wal.js';
import { logFlushSteps } from './log-flush.js';

/** Verified blocks a job keeps (it reads each input block once, in order: a small cache suffices). */
const JOB_BLOCK_CACHE_BYTES = 4 * 1024 * 1024;

/** What the store hands a merge worker. */
export interface MergeJob {
  /** The target's pmem file. */
  path: string;
  chunkBytes: number;
  /** Heap chunks the output run may take, in the order to take them. */
  chunks: number[];
  /** Runs to merge (none for a flush). */
  inputs: RunMeta[];
  runId: number;
  level: number;
  /**
   * 'plain': a merge with no rules to apply; 'aggregate': every run, aggregation policies only
   * (see `aggregateMerge`); 'flush': the frozen memtable of `flush`; 'fold': the frozen memtable
   * of `flush` and every run, aggregation policies only, into one run (an aggregation's fold).
   */
  kind: 'plain' | 'aggregate' | 'flush' | 'fold';
  /** Container rules by container index ('aggregate', 'flush', 'fold'). */
  rules: Array<[number, ContainerRules]>;
  /** 'flush', 'fold': the frozen log region, the records its memtable holds, containers being aggregated. */
  flush?: FrozenRegion & { records: number; aggregating: number[] };
  /** fdatasync the file before answering (durable stores). */
  sync: boolean;
  /** Shared flag: non-zero asks the job to stop (the store is closing). */
  abort: Int32Array;
}

/** What a finished job answers. */
export interface MergeResult {
  /** The output run (undefined: every entry was dropped); see `unpackRunMeta`. */
  meta?: PackedRunMeta;
  /** Data extents freed by dropped versions. */
  freed: ExtentList;
  /** Chunks of `MergeJob.chunks` the output took (a prefix). */
  used: number[];
  stats: Array<[number, MergeStats]>;
}

/**
 * Why a job stopped without a result, when it is not a store error: asked to, out of chunks, or
 * (a flush) the log region did not replay to the memtable the store holds.
 */
export type MergeJobStop = 'aborted' | 'chunks' | 'replay';

/** Thrown by `runMergeJob` when the job ran out of chunks or was asked to stop. */
export class MergeJobStopped extends Error {
  constructor(readonly why: MergeJobStop) { super(`merge job stopped: ${why}`); }
}

/** The log region a flush or fold job read last (per thread: reused by the next job, see `FileSpace.preadRegion`). */
let regionBuf = new Uint8Array(0);
/** Longest log region read into the reused buffer (the default region is 1 MiB; longer ones get their own). */
const REGION_REUSE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Bytes a job reads at once from a run's chunk: a merge's cursors each walk their run's blocks in
 * file order, so one read serves the next several blocks (a pread per 4 KiB block: 6.6k of them
 * in a merge of 41k entries, 8% of its CPU). A window lives while any block of it is held, so a
 * job holds at most JOB_READ_AHEAD_BYTES per block its cache keeps, and in practice about the
 * cache's bound: cursors read in order and the cache lets old blocks go first.
 */
export const JOB_READ_AHEAD_BYTES = 32 * 1024;
/**
 * Read-ahead windows a job keeps at least (replaced in turn); a job of more runs keeps two per run
 * and spares (a cursor reads its run's index blocks too, which lie past the data blocks they
 * index), so no cursor's window is replaced while it still reads it.
 */
const JOB_READ_WINDOWS_MIN = 16;

/** Reads and writes whole blocks of the pmem file with pread/pwrite (one page cache with the store's mapping). */
class FileSpace implements RunSpace {
  /**
   * Windows of the file read ahead, each a fresh buffer never written again: blocks are returned
   * as views of them, which stay valid as long as they are held (a verified block is never changed).
   */
  private readonly windows: Array<{ off: number; bytes: Uint8Array }> = [];
  private nextWindow = 0;
  private readonly maxWindows: number;
  constructor(private readonly fd: number, private readonly path: string, private readonly chunkBytes: number, inputs: number) {
    this.maxWindows = Math.max(JOB_READ_WINDOWS_MIN, 2 * inputs + 4);
  }
  /** `[off, off + len)` of the file, from a window read ahead within its chunk (runs are written chunk by chunk; blocks never span chunks). */
  pread(off: number, len: number): Uint8Array {
    const ws = this.windows;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      const at = off - w.off;
      if (at >= 0 && at + len <= w.bytes.length) return w.bytes.subarray(at, at + len);
    }
    const chunkEnd = (Math.floor(off / this.chunkBytes) + 1) * this.chunkBytes;
    const n = Math.max(len, Math.min(JOB_READ_AHEAD_BYTES, chunkEnd - off));
    if (n === len) return this.readInto(new Uint8Array(len), off);
    const ab = Buffer.allocUnsafeSlow(n); // (filled by the read: no zeroing first)
    const bytes = new Uint8Array(ab.buffer, ab.byteOffset, n);
    const got = this.readSome(bytes, off, len);
    const w = { off, bytes: got === n ? bytes : bytes.subarray(0, got) };
    if (ws.length < this.maxWindows) ws.push(w); else { ws[this.nextWindow] = w; this.nextWindow = (this.nextWindow + 1) % this.maxWindows; }
    return w.bytes.subarray(0, len);
  }
  /**
   * `pread` into this thread's reused region buffer (valid until the next call: a job reads one
   * region and runs synchronously): a fresh 1 MiB buffer per flush is fresh pages, 256 page faults
   * of 7-15 us of CPU each on this machine kind (a PVM guest).
   */
  preadRegion(off: number, len: number): Uint8Array {
    if (len > REGION_REUSE_MAX_BYTES) return this.pread(off, len);
    if (regionBuf.length < len) regionBuf = new Uint8Array(len);
    return this.readInto(regionBuf.subarray(0, len), off);
  }
  /** Fill `out` from `off` (a short read is `IO_ERROR`). */
  private readInto(out: Uint8Array, off: number): Uint8Array {
    this.readSome(out, off, out.length);
    return out;
  }
  /** Read into `out` from `off` until it is full or the file ends; bytes read (fewer than `need` is `IO_ERROR`). */
  private readSome(out: Uint8Array, off: number, need: number): number {
    let got = 0;
    while (got < out.length) {
      const n = fs.readSync(this.fd, out, got, out.length - got, off + got);
      if (n === 0) break;
      got += n;
    }
    if (got < need) throw new VosError('IO_ERROR', `short read of ${this.path}`, { path: this.path, offset: off + got });
    return got;
  }
  pwrite(off: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, off + done);
  }
}

/** Run a merge job to its end (synchronously). Throws `MergeJobStopped`, or the store's errors (`CORRUPTED`, `IO_ERROR`). */
export function runMergeJob(job: MergeJob): MergeResult {
  const memtable = job.kind === 'flush' || job.kind === 'fold';
  assert((!memtable || job.flush !== undefined) && (job.kind === 'flush' || job.inputs.length > 0) && job.chunks.length > 0, 'a merge job needs inputs and chunks', { kind: job.kind, inputs: job.inputs.length, chunks: job.chunks.length });
  let fd: number;
  try { fd = fs.openSync(job.path, 'r+'); } catch (e) { throw new VosError('IO_ERROR', `merge: cannot open ${job.path}`, { path: job.path }, { cause: e }); }
  try {
    const space = new FileSpace(fd, job.path, job.chunkBytes, job.inputs.length);
    const verified = new VerifiedBlocks(JOB_BLOCK_CACHE_BYTES);
    let next = 0;
    const w = new RunWriter(space, {
      chunkBytes: job.chunkBytes,
      allocChunk: () => { if (next >= job.chunks.length) throw new MergeJobStopped('chunks'); return job.chunks[next++]!; },
    }, job.runId, job.level);
    const freed = new ExtentList();
    const stats = new Map<number, MergeStats>();
    const rules = new Map(job.rules);
    const rule = (c: number) => rules.get(c);
    let steps: Generator<void, number>;
    if (memtable) {
      const f = job.flush!;
      const region = space.preadRegion(f.base, f.end - f.base);
      const direct = job.kind === 'flush' ? logFlushSteps(region, f, w, rule, freed, () => { throw new MergeJobStopped('replay'); }) : undefined;
      const mt = direct ? undefined : replayRegion(region, f);
      const aggregating = new Set(f.aggregating);
      const statsOf = (c: number): MergeStats | undefined => {
        if (!aggregating.has(c)) return undefined;
        let s = stats.get(c);
        if (!s) { s = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0 }; stats.set(c, s); }
        return s;
      };
      const inlineAt = (loc: number, len: number) => region.subarray(loc - f.base, loc - f.base + len);
      if (direct) steps = direct;
      else if (job.kind === 'flush') steps = flushMemtable(mt!, w, rule, inlineAt, freed, statsOf);
      else {
        const runs = job.inputs.map((m) => new Run(space, m, verified));
        steps = aggregateMerge([new MemtableCursor(mt!, rule, inlineAt, freed, statsOf), ...runCursors(runs)], w, rule, freed, stats);
      }
    } else {
      const runs = job.inputs.map((m) => new Run(space, m, verified));
      // (the runs' blocks are FileSpace reads: fresh buffers, never written again, so keys need no copies)
      steps = job.kind === 'plain' ? fastMerge(runs, w, freed, true) : aggregateMerge(runCursors(runs), w, rule, freed, stats);
    }
    while (!steps.next().done) if (Atomics.load(job.abort, 0) !== 0) throw new MergeJobStopped('aborted');
    const done = w.finish();
    if (job.sync) fs.fdatasyncSync(fd);
    const meta = done && packRunMeta(done);
    return { meta, freed, used: job.chunks.slice(0, next), stats: [...stats] };
  } catch (e) {
    if (e instanceof MergeJobStopped || e instanceof VosError) throw e;
    throw new VosError('IO_ERROR', `merge of ${job.path}: ${(e as Error).message}`, { path: job.path }, { cause: e });
  } finally {
    fs.closeSync(fd);
  }
}

/** The memtable a frozen region holds, rebuilt as an open replays it; `replay` unless it has exactly the records the store applied. */
function replayRegion(region: Uint8Array, f: FrozenRegion & { records: number }): Memtable {
  const got = decodeRegion(region, f.base, f, f.end);
  if (got.damage || got.end !== f.end) throw new MergeJobStopped('replay');
  const mt = new Memtable(f.gen);
  for (const r of got.records) addLogged(mt, r);
  if (mt.records !== f.records) throw new MergeJobStopped('replay');
  return mt;
}

/**
 * A run descriptor as a worker sends it: its keys in one buffer and its index references in typed
 * arrays (a structured clone of thousands of small key arrays, each a view of a larger slab, would
 * copy every slab once per key).
 */
export interface PackedRunMeta {
  head: Omit<RunMeta, 'index' | 'first' | 'last'>;
  /** first, last, then the index's first keys, back to back. */
  keys: Uint8Array;
  /** End offset of each key in `keys`. */
  ends: Uint32Array;
  /** Index references: offsets and lengths. */
  refs: Float64Array;
  csums: BigUint64Array;
}

/** Pack `m` for a worker's answer. */
export function packRunMeta(m: RunMeta): PackedRunMeta {
  const keys = [m.first, m.last, ...m.index.map((x) => x.first)];
  const ends = new Uint32Array(keys.length);
  let n = 0;
  for (let i = 0; i < keys.length; i++) { n += keys[i]!.length; ends[i] = n; }
  const all = new Uint8Array(n);
  for (let i = 0; i < keys.length; i++) all.set(keys[i]!, i === 0 ? 0 : ends[i - 1]!);
  const refs = new Float64Array(2 * m.index.length);
  const csums = new BigUint64Array(m.index.length);
  m.index.forEach((x, i) => { refs[2 * i] = x.ref.off; refs[2 * i + 1] = x.ref.len; csums[i] = x.ref.csum; });
  const { index: _i, first: _f, last: _l, ...head } = m;
  return { head, keys: all, ends, refs, csums };
}

/** The descriptor `p` packs (keys are views of one buffer). */
export function unpackRunMeta(p: PackedRunMeta): RunMeta {
  const key = (i: number) => p.keys.subarray(i === 0 ? 0 : p.ends[i - 1]!, p.ends[i]!);
  const index: Array<{ first: Uint8Array; ref: BlockRef }> = new Array(p.csums.length);
  for (let i = 0; i < index.length; i++) index[i] = { first: key(i + 2), ref: { off: p.refs[2 * i]!, len: p.refs[2 * i + 1]!, csum: p.csums[i]! } };
  return { ...p.head, index, first: key(0), last: key(1) };
}
