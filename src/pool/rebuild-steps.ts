/**
 * The rebuild's batched device steps (split out of migrate.ts): the rebuild addon
 * (native/rebuild.c) and the queue that sends its fused decode steps to the libuv pool several per
 * job (`FusedQueue`); the rebuilt writes prepared in one run of JavaScript go as one hashed group
 * write (`PreparedWriteGroup`, src/io/write-group.ts). migrate.ts plans the steps, checks their answers and
 * owns every fallback; nothing here decides what is read or written.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { HashedRead, HashedWrite } from '../media/io-engine.js';
import { swallowed } from '../../core/log.js';

/** The rebuild addon (native/rebuild.c): one decode step as one pool job. */
export interface RebuildAddon {
  rebuildStep(k: number, cell: number, slots: Uint8Array, rows: Uint8Array, reads: readonly HashedRead[], writes: readonly HashedWrite[]): Promise<Array<bigint | number>>;
  /**
   * `rebuildStep` with its requests as numbers (no property read through N-API: 4-8 against
   * 16-80 us per call measured): read j lands in cell j of every stripe of `slots`; write i is
   * outs[i] then zeros up to its total. nums: per read fd, position, hashLen; per write fd,
   * position, hashLen, total. seeds: k + m.
   */
  rebuildStepFlat(k: number, cell: number, slots: Uint8Array, rows: Uint8Array, outs: readonly Uint8Array[], nums: Float64Array, seeds: BigUint64Array): Promise<Array<bigint | number>>;
  /** Several `rebuildStepFlat` steps (7 arguments each, one after another in `args`) run by one pool job: each step's answers, in order. */
  rebuildStepsFlat?(args: unknown[]): Promise<Array<Array<bigint | number>>>;
  /**
   * Several steps without the caller's buffers (6 arguments each: k, cell, len, rows, nums, seeds;
   * `len` bytes read from each source and written to each output): the job reads, decodes and
   * writes in its pool thread's own memory, so a step allocates nothing here and its bytes stay in
   * the thread's cache. Each step's answers, in order (as `rebuildStepFlat`'s).
   */
  rebuildStepsStaged?(args: unknown[]): Promise<Array<Array<bigint | number>>>;
  /**
   * Whether the steps' writes go to their files with O_DIRECT where they can (aligned requests,
   * a file that takes it; else buffered, as before): no page cache allocated for rebuilt bytes.
   * `on` switches it for the steps run from then on; answers the setting.
   */
  directWrites?(on?: boolean): boolean;
  /**
   * How many direct writes a batch's pool thread gathers before it submits them to its own
   * io_uring, going on with the batch's next step meanwhile (the batch answers once every write
   * completed); 0: each direct write holds its thread until the disk answers. `kick` (0..64) sets
   * it for the batches started from then on; answers the setting.
   */
  asyncWrites?(kick?: number): number;
  /**
   * Whether batches of steps run on the addon's own threads (SCHED_BATCH: waking one never
   * preempts the JavaScript thread that queued the batch) instead of the libuv pool; `on` switches it
   * for the batches queued from then on; answers the setting.
   */
  ownThreads?(on?: boolean): boolean;
}

/** A fused step's arguments (`rebuildStepFlat`'s, in order). */
export type FlatStep = [k: number, cell: number, slots: Uint8Array, rows: Uint8Array, outs: Uint8Array[], nums: Float64Array, seeds: BigUint64Array];
/** A staged step's arguments (`rebuildStepsStaged`'s per step, in order). */
export type StagedStep = [k: number, cell: number, len: number, rows: Uint8Array, nums: Float64Array, seeds: BigUint64Array];

/** Most pool jobs of fused steps in flight (`fusedJobs`, its environment override included). */
export const FUSED_JOBS_MAX = 64;
/**
 * Pool jobs of fused steps in flight at most (`FusedQueue`) while no rebuild budget paces the
 * migration: two per core, so that when a job completes another is already queued on the pool and
 * its thread goes on at once, instead of idling until this thread has answered the job, verified
 * and prepared new steps (with one per core, 0.3-0.37 of this 2-core machine's cores sat idle
 * during a rebuild, /proc/stat; session 68: 2 against 4 jobs, 14 alternating pairs of the
 * bench's measured rebuild, 4 faster in 11, e.g. the full suite's 550-788 against 709-775 MB/s).
 * CAIRN_REBUILD_FUSED_JOBS (a positive integer up to FUSED_JOBS_MAX, read when a migration makes its queues)
 * sets it, so benches can compare in one process.
 */
export function fusedJobs(env: string | undefined): number {
  const n = Number(env);
  return Number.isInteger(n) && n >= 1 && n <= FUSED_JOBS_MAX ? n : Math.min(FUSED_JOBS_MAX, 2 * Math.max(1, availableParallelism()));
}
/**
 * Pool jobs in flight at most while a rebuild budget paces the migration: one per core (the budget
 * paces the average; fewer jobs queued keep its bursts, and their CPU, out of client I/O's way).
 */
export function pacedFusedJobs(): number {
  return Math.min(FUSED_JOBS_MAX, Math.max(1, availableParallelism()));
}
/** Fused steps one pool job runs at most (one after another). */
const FUSED_STEPS_PER_JOB = 16;

/** Number arrays of each length kept for reuse (`stepNums`, `stepSeeds`). */
const STEP_ARRAYS_KEPT = 64;
const freeNums = new Map<number, Float64Array[]>();
const freeSeeds = new Map<number, BigUint64Array[]>();

/**
 * A Float64Array of `n` for a fused step's numbers (`FlatStep` / `StagedStep` nums), reused from a
 * step already sent (`FusedQueue` gives them back once the addon has queued the step: it copies a
 * step's numbers then, and never reads the array again). The caller writes every element. Why: a
 * step's 3k + 4m numbers (and k + m seeds) are more than V8 keeps inside its heap (64 bytes), so each
 * new array was an ArrayBuffer with a backing store of its own, allocated, tracked and swept per step
 * (two per 128 KiB rebuilt in the bench's rebuild).
 */
export function stepNums(n: number): Float64Array {
  return freeNums.get(n)?.pop() ?? new Float64Array(n);
}

/** A BigUint64Array of `n` for a fused step's seeds, reused as `stepNums`'s arrays are. */
export function stepSeeds(n: number): BigUint64Array {
  return freeSeeds.get(n)?.pop() ?? new BigUint64Array(n);
}

/** Keep a sent step's nums and seeds (its last two arguments) for `stepNums` / `stepSeeds`, up to STEP_ARRAYS_KEPT of each length. */
function recycleStep(st: FlatStep | StagedStep): void {
  const nums = st[st.length - 2], seeds = st[st.length - 1];
  if (nums instanceof Float64Array) keep(freeNums, nums);
  if (seeds instanceof BigUint64Array) keep(freeSeeds, seeds);
}

function keep<A extends Float64Array | BigUint64Array>(free: Map<number, A[]>, a: A): void {
  let list = free.get(a.length);
  if (list === undefined) free.set(a.length, list = []);
  if (list.length < STEP_ARRAYS_KEPT) list.push(a);
}

/**
 * The fused steps of a migration, sent to the pool as at most `fusedJobs` jobs in flight: a step that
 * arrives while that many run waits, and when a job completes the steps waiting go as one job
 * (`rebuildStepsFlat`, its steps one after another): one submission and one completion for several
 * steps. Why: a submission wakes a pool thread, and on this busy 2-core machine the wake took the
 * JavaScript thread's core: a step's native call measured 270 us (one step) to 940 us (a batch) of
 * the JavaScript thread's wall time inside a rebuild, against 4-8 us alone. Each step's promise gets
 * its own answers; a job the addon refuses rejects its steps (they run the other way).
 */
export class FusedQueue<S extends FlatStep | StagedStep = FlatStep> {
  private inFlight = 0;
  /** Jobs in flight at most (`fusedJobs`), and while `paced()` (`pacedFusedJobs`, never more). */
  private readonly jobs = fusedJobs(process.env.CAIRN_REBUILD_FUSED_JOBS);
  private readonly pacedJobs = Math.min(this.jobs, pacedFusedJobs());
  // (arrays of objects from the start, `objectArray`: each migration makes new queues, and a literal
  // [] changed elements kind at its first push, which deoptimised `cellStep`, where `add` is
  // inlined, at the first step of the bench's measured rebuild: "wrong map", --trace-deopt)
  private readonly steps: S[] = objectArray<S>();
  private readonly waiters = objectArray<{ resolve: (a: Array<bigint | number>) => void; reject: (e: unknown) => void }>();
  private readonly flushNow = (): void => { this.flush(); };

  /**
   * `addon`'s flat steps; with `staged`, its staged steps (`rebuildStepsStaged`, which it must
   * have). `paced`: whether a rebuild budget paces the migration now (asked at each send: a budget
   * may be set or lifted while it runs).
   */
  constructor(private readonly addon: RebuildAddon, private readonly staged = false, private readonly paced: () => boolean = unpaced) {}

  add(step: S): Promise<Array<bigint | number>> {
    this.steps.push(step);
    const p = new Promise<Array<bigint | number>>((resolve, reject) => { this.waiters.push({ resolve, reject }); });
    // (sent when this run of JavaScript ends, with the others it starts, if a job slot is free
    // then: a flush queued for every step, no branch here; with both jobs in flight, as in most of
    // a rebuild, a branch on a free slot went untaken, and `cellStep`, where this is inlined, was
    // deoptimised at the first step of the bench's measured rebuild, --trace-deopt)
    queueMicrotask(this.flushNow);
    return p;
  }

  private flush(): void {
    const jobs = this.paced() ? this.pacedJobs : this.jobs;
    while (this.inFlight < jobs && this.steps.length > 0) {
      // (a share of the waiting steps per job slot, busy or not: a job that completes takes its
      // share and leaves the rest queued for the next job to complete, whose thread then has work
      // at once instead of waiting for this thread to answer, verify and prepare new steps)
      const n = Math.min(FUSED_STEPS_PER_JOB, Math.ceil(this.steps.length / jobs));
      const steps = this.steps.splice(0, n), waiters = this.waiters.splice(0, n);
      let p: Promise<Array<Array<bigint | number>>>;
      try {
        if (this.staged || this.addon.rebuildStepsFlat !== undefined) {
          const args: unknown[] = [];
          for (const st of steps) for (let a = 0; a < st.length; a++) args.push(st[a]);
          p = this.staged ? this.addon.rebuildStepsStaged!(args) : this.addon.rebuildStepsFlat!(args);
        } else {
          p = Promise.all(steps.map((st) => this.addon.rebuildStepFlat(...(st as FlatStep))));
        }
      } catch (e) {
        for (const w of waiters) w.reject(e);
        continue;
      } finally {
        // (the addon copied every step's numbers when it took or refused the call: free for the next steps)
        for (let i = 0; i < steps.length; i++) recycleStep(steps[i]!);
      }
      this.inFlight++;
      p.then((all) => { for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(all[i]!); }, (e: unknown) => { for (const w of waiters) w.reject(e); })
        .finally(() => { this.inFlight--; this.flush(); });
    }
  }
}
/** No budget paces the migration (`FusedQueue`'s default). */
function unpaced(): boolean { return false; }

/**
 * An empty array whose elements kind is already "any value" (a literal [] starts as small
 * integers and changes map at its first push of an object; see `FusedQueue`).
 */
function objectArray<T>(): T[] {
  const a: unknown[] = [undefined];
  a.pop();
  return a as T[];
}

let rebuildAddon: RebuildAddon | null | undefined;
/** The rebuild addon, loaded once (next to the sources or one level up from dist/); undefined when absent, not loadable or CAIRN_NO_NATIVE=1. */
export function fusedAddon(): RebuildAddon | undefined {
  if (rebuildAddon === undefined) {
    rebuildAddon = null;
    if (process.platform === 'linux' && process.env.CAIRN_NO_NATIVE !== '1') {
      for (const rel of ['../../native/build/Release/cairn_rebuild.node', '../../../native/build/Release/cairn_rebuild.node']) {
        const path = fileURLToPath(new URL(rel, import.meta.url));
        if (!existsSync(path)) continue;
        try { rebuildAddon = createRequire(import.meta.url)(path) as RebuildAddon; } catch (err) { swallowed('migrate.rebuild-addon-unloadable', err); }
        break;
      }
    }
  }
  return rebuildAddon ?? undefined;
}

