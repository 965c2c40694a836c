/**
 * The process's merge worker threads, shared by every target store: merges and memtable flushes
 * run there (`merge-job.ts`) while the store's thread keeps serving reads and writes, and the
 * store then commits the run. Two lanes: flushes never wait behind a long merge of another store
 * (writers wait for flushes when their log fills). Started on first use; idle workers do not keep
 * the process alive. A store does the work on its own thread when workers are off
 * (`CAIRN_MERGE_WORKERS=0`, or a store option) or cannot start.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { isErrorCode } from '../../core/errors.js';
import { VosError } from './errors.js';
import { MergeJobStopped, type MergeJob, type MergeResult } from './merge-job.js';
import type { MergeReply, MergeRequest } from './merge-worker.js';

/** Most merge workers a process starts for merges (one per spare core up to this); flushes have one more. */
export const MERGE_WORKERS_MAX = 4;

/** Which workers run a job: flushes and merges never queue behind each other. */
export type MergeLane = 'flush' | 'merge';

/**
 * Scheduling priority (nice) of merge workers: merges use the cores that reads and writes leave
 * idle (flushes keep normal priority: writers wait for them when their log fills).
 */
export const MERGE_WORKER_NICE = 10;

/** The workers could not run a job (not started, or died): the caller merges on its own thread. */
export class MergeWorkersUnavailable extends Error {}

interface Slot { worker: Worker; ready: boolean; started: Promise<void>; pending: Map<number, { resolve: (r: MergeResult) => void; reject: (e: unknown) => void }> }

/**
 * Workers asked to start that have not reported ready nor failed (`starting.n`, read per write by
 * the stores: a plain field). A worker's ready message is taken by the event loop, and a stream of
 * small writes that never waits for I/O runs on microtasks only: the loop did not turn, so the
 * flush worker started at FLUSH_WARM_FILL stayed unseen and the first flushes ran on the writers'
 * thread (6-7 flushes of the io puts row's first 50k puts; the worker reported ready at the first
 * write that had to wait). While one is starting, writers yield to the loop now and then (store.ts `shareLoop`).
 */
export const starting = { n: 0 };

class MergeWorkers {
  private readonly lanes: Record<MergeLane, Slot[]> = { flush: [], merge: [] };
  private nextId = 1;
  private broken = false;
  constructor(private readonly size: number) {}

  get available(): boolean { return !this.broken; }

  /**
   * Whether a worker of `lane` has started and can take a job now; when none has, one is started
   * (unless `start` is false) and the caller does this job itself (a job never waits for a thread to start: that takes
   * longer than a small flush).
   */
  warm(lane: MergeLane, start = true): boolean {
    if (this.broken) return false;
    const slots = this.lanes[lane];
    if (slots.some((s) => s.ready)) return true;
    if (start && slots.length === 0) {
      try { this.start(slots, lane); } catch { this.broken = true; }
    }
    return false;
  }

  /** Whether a worker of `lane` was asked to start (up or starting). */
  started(lane: MergeLane): boolean { return this.lanes[lane].length > 0; }

  /**
   * Resolves true once a worker of `lane` has started (starting one when none has), false when
   * none starts within `timeoutMs` or the workers are unavailable: for tests that need a job to go
   * to a worker, and for warming up before timed work.
   */
  async ready(lane: MergeLane, timeoutMs = 30_000): Promise<boolean> {
    this.warm(lane);
    const slot = this.lanes[lane][0];
    if (!slot || this.broken) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((r) => { timer = setTimeout(() => r(false), timeoutMs); }); // (a ref'd timer: the process waits for the answer)
    try {
      return await Promise.race([slot.started.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Run `job` on the least busy worker of `lane`. */
  run(job: MergeJob, lane: MergeLane): Promise<MergeResult> {
    if (this.broken) return Promise.reject(new MergeWorkersUnavailable('merge workers unavailable'));
    let slot: Slot | undefined;
    try { slot = this.pick(lane); } catch (e) { this.broken = true; return Promise.reject(new MergeWorkersUnavailable(`merge worker did not start: ${(e as Error).message}`)); }
    const id = this.nextId++;
    const s = slot;
    return new Promise<MergeResult>((resolve, reject) => {
      s.pending.set(id, { resolve, reject });
      if (s.pending.size === 1) s.worker.ref();
      s.worker.postMessage({ id, job } satisfies MergeRequest);
    });
  }

  private pick(lane: MergeLane): Slot {
    const slots = this.lanes[lane];
    let best: Slot | undefined;
    for (const s of slots) if (!best || s.pending.size < best.pending.size) best = s;
    if (best && (best.pending.size === 0 || slots.length >= (lane === 'flush' ? 1 : this.size))) return best;
    return this.start(slots, lane);
  }

  private start(slots: Slot[], lane: MergeLane): Slot {
    const self = fileURLToPath(import.meta.url);
    const ext = path.extname(self);
    const entry = path.join(path.dirname(self), `merge-worker${ext}`);
    // From TypeScript sources (tests, `CAIRN_BENCH_SOURCE`), the worker registers tsx first:
    // loader hooks of the main thread do not reach workers on Node 20.
    const workerData = { nice: lane === 'merge' ? MERGE_WORKER_NICE : 0 };
    const worker = ext === '.ts'
      ? startWorker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(entry).href)}); });`, { eval: true, workerData })
      : startWorker(entry, { workerData });
    let started!: () => void;
    const slot: Slot = { worker, ready: false, started: new Promise<void>((r) => { started = r; }), pending: new Map() };
    slots.push(slot);
    starting.n++;
    let counted = true;
    const up = () => { if (counted) { counted = false; starting.n--; } };
    const settle = (id: number) => {
      const p = slot.pending.get(id);
      slot.pending.delete(id);
      if (slot.pending.size === 0) worker.unref();
      return p;
    };
    worker.on('message', (m: MergeReply) => {
      if ('ready' in m) { slot.ready = true; up(); started(); return; }
      const p = settle(m.id);
      if (!p) return;
      if (m.ok) p.resolve(m.result);
      else if (m.stop) p.reject(new MergeJobStopped(m.stop));
      else if (m.code && isErrorCode(m.code)) p.reject(new VosError(m.code, m.message, m.info));
      else p.reject(new VosError('IO_ERROR', `merge worker: ${m.message}`));
    });
    const fail = (e: unknown) => {
      up();
      this.broken = true;
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      for (const id of [...slot.pending.keys()]) settle(id)?.reject(new MergeWorkersUnavailable(`merge worker failed: ${(e as Error)?.message ?? e}`));
    };
    worker.on('error', fail);
    worker.on('exit', (code) => { if (slot.pending.size > 0 || code !== 0) fail(new Error(`exited with code ${code}`)); });
    worker.unref(); // (after the listeners: adding a 'message' listener refs the worker's port again)
    return slot;
  }
}

/** Node options that load code into a thread before its entry (module hooks, preloads). */
const PRELOAD_OPTIONS: ReadonlySet<string> = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/**
 * `argv` (node options) without those that load code before the entry (`--import`, `--require`,
 * `--loader`, with their values). A worker inherits its parent's options, and a loader such as
 * tsx (`--import tsx`) then loads and compiles itself in every merge worker, on the cores the
 * writers use (rounds of 50k puts under the bench's `--import tsx`, two alternating pairs: the
 * first round 56-59k -> 70-74k puts/s, V8's compile time in the run 1.74-2.06 -> 1.63-1.66 s). A merge
 * worker runs only this package's modules, which need no hook (from TypeScript sources its entry
 * registers tsx itself).
 */
export function withoutPreloads(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    if (PRELOAD_OPTIONS.has(eq > 0 ? a.slice(0, eq) : a)) { if (eq < 0) i++; continue; }
    out.push(a);
  }
  return out;
}

/**
 * A worker started with the parent's node options less its preloads (`withoutPreloads`). Options
 * given explicitly must all be valid in a worker (V8 and process-wide ones are refused): when the
 * rest holds one, the worker inherits everything, as it did before.
 */
export function startWorker(what: string, options: WorkerOptions): Worker {
  const lean = withoutPreloads(process.execArgv);
  if (lean.length < process.execArgv.length) {
    try {
      return new Worker(what, { ...options, execArgv: lean });
    } catch (e) {
      if ((e as { code?: unknown })?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e;
    }
  }
  return new Worker(what, options);
}

let shared: MergeWorkers | undefined;

/** The shared merge workers, or undefined when turned off (`CAIRN_MERGE_WORKERS=0`). */
export function mergeWorkers(): MergeWorkers | undefined {
  const env = process.env.CAIRN_MERGE_WORKERS;
  if (env === '0') return undefined;
  if (!shared) {
    const want = env !== undefined && /^[1-9][0-9]*$/.test(env) ? Number(env) : os.availableParallelism() - 1;
    shared = new MergeWorkers(Math.max(1, Math.min(MERGE_WORKERS_MAX, want)));
  }
  return shared.available ? shared : undefined;
}
