/**
 * Rebuild and rebalance: move every shard whose target differs between the stable pool map (where
 * data lives) and the current one (where it should live), then make the current map stable.
 *
 * A moved shard is copied from its old target when that target is still readable (drain, extend,
 * reintegrate) and otherwise reconstructed from the rest of its group: EC pieces and cells are
 * decoded from any k healthy shards, replicas are copied from a healthy sibling. Content is
 * rebuilt at every read point that matters (each snapshot and the stable epoch when the move
 * started): at each read point the moved shard is punched whole on its destination and then
 * written at that epoch, and a key that vanished between read points is punched, so reads at the
 * current epoch and at every snapshot return the same bytes before and after. The punch is what
 * keeps an old copy out: a shard that moved off a target that stays in service (an extend's or a
 * reintegration's moves) left its copy there, and a later move back onto that target must not let
 * a key changed or punched meanwhile read back from it. Writes that arrive meanwhile go to both
 * targets (see container/plan.ts): those at or below the last read point are on the sources too
 * and are written again, those above it are above every punch. Every write and punch is
 * idempotent and a later one at the same epoch wins, so a migration killed half way simply runs
 * again after reopen.
 *
 * It streams: the objects of a container are listed once (`listMigrationObjects`: the same listing
 * gives the progress total and the ids to visit, kept up to MIGRATE_LISTED_OBJECTS_MAX);
 * MIGRATE_CONCURRENCY objects are in flight (MIGRATE_BUDGETED_CONCURRENCY while a budget is set),
 * MIGRATE_KEYS_IN_FLIGHT keys of each at once. What a group holds is read by one ordered scan per
 * source shard (`scanObject`, src/vos/scan.ts: every visible dkey, akey, kind and extent with its
 * epoch in one pass over the shard's key range), on just enough healthy shards to meet every dkey;
 * each dkey's akeys, kinds and extent ends come from a scanned shard holding a parity role of it
 * (see `keysAt`). On a local store that scan is `objectVersions` (src/vos/bulk-read.ts): the same
 * answer plus the stored version behind every visible piece, kept for the read point, so a source
 * value is read straight from its version (`readVersionInto`: one positional read on the thread
 * pool with its checksum verified there, no lookup per read; a checksum failure there is read once
 * more the ordinary way, since the version may have been freed meanwhile). An EC array is rebuilt
 * in steps of MIGRATE_STEP_BYTES per shard, each step one large sequential read per source shard
 * (k of them) straight into the codec's wasm memory, decoded in place (only the lost roles: every
 * lost shard of the group in one pass, never an unread parity) and written from there; the writes of a destination are
 * pipelined (MIGRATE_WRITES_PER_DESTINATION in flight) while the next steps read and decode; at
 * most MIGRATE_DECODES_IN_FLIGHT steps hold decode memory at once (and MIGRATE_STAGED_IN_FLIGHT
 * staged steps, which hold none here, are in flight). Every step draws its bytes (read
 * + written) from the pool's rebuild budget, and every scan a fixed charge for its CPU
 * (MIGRATE_LIST_COST_BYTES), so client I/O keeps its share of the devices (`pool.setRebuildBudget`).
 *
 * Roles: in a container with parity rotation, the shard (position) that holds a data cell or a
 * parity cell depends on the dkey; decoding maps positions to roles (`roleShards`) first.
 */
import { containerPort, type ContainerCore } from '../container/container.js';
import type { ShardStore, LocatedShardRead, PreparedShardWrite } from '../io/shard-store.js';
import { PreparedWriteGroup } from '../io/write-group.js';
import { readHashedGroup, type HashedReadSlot } from '../media/block-device.js';
import { unitOid } from '../io/shard-store.js';
import { groupShards, roleShards, dkeyRotation, stripeBuffers, stripeViews, readShardInto, ecRebuildSinglePiece, type IoContext } from '../io/io.js';
import { deferFill, deferredFills, dropFill, FILL_MAX_COEFFS } from '../media/fills.js';
import { decodeRows as matrixDecodeRows } from '../../ec/matrix.js';
import { ObjectError } from '../io/errors.js';
import { objectClassOf } from '../../placement/index.js';
import { scanObject, extentEnd, type ScannedDkey } from '../vos/scan.js';
import { objectVersions, readVersionInto, supportsBulkRead, type VersionedDkey } from '../vos/bulk-read.js';
import type { MemVersion } from '../vos/memtable.js';
import { SYNC_WRITE_MAX_BYTES } from '../vos/constants.js';
import type { ContainerStore } from '../vos/container-store.js';
import { throwIfAborted, CairnError, assert } from '../../core/errors.js';
import { Semaphore, runBounded, runBoundedIter } from '../../core/semaphore.js';
import { swallowed } from '../../core/log.js';
import { setMaxListeners } from 'node:events';
import { mediaErrorFromErrno } from '../media/errors.js';
import type { RebuildBudget } from './rebuild-budget.js';
import { FusedQueue, fusedAddon, stepNums, stepSeeds, type FlatStep, type StagedStep, type RebuildAddon } from './rebuild-steps.js';
import { ObjectFeed } from './rebuild-feed.js';
import { sameBytes } from '../../core/bytes.js';

/** Objects migrated concurrently (each object's groups sequentially). */
export const MIGRATE_CONCURRENCY = 16;
/**
 * Objects with shards to move that are migrated at once while a rebuild budget is set: few, so the
 * rebuild's requests never queue in front of client I/O in bursts (the budget paces the average,
 * this bounds what is in flight at any moment).
 */
export const MIGRATE_BUDGETED_CONCURRENCY = 2;
/** Keys (dkey, akey) of one group moved at once (MIGRATE_DECODES_IN_FLIGHT bounds their decode memory). */
export const MIGRATE_KEYS_IN_FLIGHT = 4;
/** Largest array span read or written in one copy step of a migration (bytes per shard). */
export const MIGRATE_CHUNK = 4 * 1024 * 1024;
/** Largest span of one EC decode step (bytes per shard): k reads of it, one decode, one write per lost shard. */
export const MIGRATE_STEP_BYTES = 1024 * 1024;
/** EC decode steps holding codec memory at once (each at most (k + p) x MIGRATE_STEP_BYTES). */
export const MIGRATE_DECODES_IN_FLIGHT = 8;
/**
 * Staged decode steps (`stagedStep`: run in the pool thread's own memory, so they hold no codec
 * memory here) in flight at once: twice the decode window, so that while the pool's fused jobs run,
 * the next steps are already located, prepared and queued, and a job that completes takes them at
 * once; with 8, every step in flight sat in the two running jobs and a pool thread waited for this
 * thread to verify, commit and prepare before it had work again. CAIRN_REBUILD_STAGED_SLOTS (a
 * positive integer up to 256, read at each migration's start) sets it for A/Bs.
 */
export const MIGRATE_STAGED_IN_FLIGHT = 16;
/** Environment variable that overrides MIGRATE_STAGED_IN_FLIGHT (benches compare on one build). */
export const REBUILD_STAGED_SLOTS_ENV = 'CAIRN_REBUILD_STAGED_SLOTS';
/** MIGRATE_STAGED_IN_FLIGHT, or its environment override when that is a positive integer up to 256. */
function stagedSlotCount(): number {
  const n = Number(process.env[REBUILD_STAGED_SLOTS_ENV]);
  return Number.isInteger(n) && n >= 1 && n <= 256 ? n : MIGRATE_STAGED_IN_FLIGHT;
}
/**
 * Set to 0 to decode rebuilt EC cells on the JavaScript thread (the codec's `reconstruct`) instead
 * of on the pool job that hashes and writes them (see `cellStep`); read once, at load.
 */
export const REBUILD_POOL_DECODE_ENV = 'CAIRN_REBUILD_POOL_DECODE';
let poolDecodeOn = process.env[REBUILD_POOL_DECODE_ENV] !== '0';
/**
 * Whether rebuilt EC cells are decoded on the pool job that hashes and writes them (where the
 * native addon computes deferred fills); `on` switches it (tests and benches compare both ways in
 * one process). Starts from CAIRN_REBUILD_POOL_DECODE.
 */
export function rebuildPoolDecode(on?: boolean): boolean {
  if (on !== undefined) poolDecodeOn = on;
  return poolDecodeOn;
}

/**
 * Set to 0 to read a decode step's sources and write its rebuilt cells each through the store's
 * checked promise chain (`readVersionInto`, `updateArray`) instead of as located reads and
 * prepared writes sent in hashed groups (see `readBatch`, `writeCellsNow`); read once, at load.
 */
export const REBUILD_GROUPED_ENV = 'CAIRN_REBUILD_GROUPED';
let groupedOn = process.env[REBUILD_GROUPED_ENV] !== '0';
/**
 * Whether decode steps read their sources as one located hashed group and write their cells as
 * prepared writes sent in groups; `on` switches it (tests and benches compare both ways in one
 * process). Starts from CAIRN_REBUILD_GROUPED.
 */
export function rebuildGrouped(on?: boolean): boolean {
  if (on !== undefined) groupedOn = on;
  return groupedOn;
}

/**
 * Set to 0 to run a decode step as located reads and prepared writes in separate groups (two pool
 * jobs) instead of one fused native job (native/rebuild.c, `fusedStep`); read once, at load.
 */
export const REBUILD_FUSED_ENV = 'CAIRN_REBUILD_FUSED';
let fusedOn = process.env[REBUILD_FUSED_ENV] !== '0';
/** Whether decode steps run as one fused native job where they can; `on` switches it (tests, benches). Starts from CAIRN_REBUILD_FUSED. */
export function rebuildFused(on?: boolean): boolean {
  if (on !== undefined) fusedOn = on;
  return fusedOn;
}

/**
 * Set to 0 to run fused decode steps in buffers of the migration's (the codec's stripe buffers, as
 * `rebuildStepFlat` takes them) instead of the pool thread's own (`rebuildStepsStaged`); read once, at load.
 */
export const REBUILD_STAGED_ENV = 'CAIRN_REBUILD_STAGED';
let stagedOn = process.env[REBUILD_STAGED_ENV] !== '0';
/** Whether fused steps run in the pool thread's own memory where the addon can (`stagedStep`); `on` switches it (tests, benches). Starts from CAIRN_REBUILD_STAGED. */
export function rebuildStaged(on?: boolean): boolean {
  if (on !== undefined) stagedOn = on;
  return stagedOn;
}

/**
 * Set to 1 to write rebuilt cells of native steps O_DIRECT instead of through the page cache
 * (native/rebuild.c `write_out`, `run_steps_async`); read once, at load.
 */
export const REBUILD_DIRECT_ENV = 'CAIRN_REBUILD_DIRECT';
let directOn = process.env[REBUILD_DIRECT_ENV] === '1';
/**
 * Whether native rebuild steps write their cells with O_DIRECT where the request and the file allow
 * it (default off: quiet, buffered rebuilds ran faster, session 28's finals: 512 objects 358/334 vs
 * asynchronous direct 242/265 MB/s, 2048 objects 408 vs 314 MB/s). On a machine whose free memory the host reclaims (a VM with free page
 * reporting) every new page-cache page can cost a host fault: buffered writes measured 3.4-5.5 ms
 * CPU per MiB at 100-160 MB/s once ~2.5 GB of new pages were taken, O_DIRECT 0.20-0.26 ms per MiB
 * (C, 128 KiB writes). Synchronous direct writes held their pool thread until the disk answered
 * and lost quiet (session 27's finals: 241-289 vs 355-365 MB/s buffered); a batch's direct writes
 * are now submitted without waiting (`rebuildAsyncWrites`). Same process, 512 objects, load 10-12
 * (/tmp/rb28 ab3.mjs): asynchronous direct 4.81-6.36 ms CPU per rebuilt MiB (median 5.28, 51-121
 * MB/s) vs buffered 9.13-12.37 (median 9.62, 19-33 MB/s, host faults); vs synchronous direct
 * median 5.11 vs 6.20 ms/MiB, 107 vs 60 MB/s. `on` switches it from the next migration (tests and
 * benches compare both). Starts from CAIRN_REBUILD_DIRECT.
 */
export function rebuildDirectWrites(on?: boolean): boolean {
  if (on !== undefined) directOn = on;
  return directOn;
}

/**
 * How many direct writes a native batch gathers before it submits them to its pool thread's
 * io_uring without waiting (native/rebuild.c `run_steps_async`: the thread reads and decodes the
 * next steps while the disk writes; the batch answers only after every write of it completed, so
 * nothing is recorded before its bytes are written); 0: synchronous direct writes. Default 4 (same
 * process, 512 objects, load 19: 5.26 vs 6.01 ms CPU per rebuilt MiB with 1; 16 as 4). Read from
 * CAIRN_REBUILD_ASYNC at each migration (a bench compares settings in one process).
 */
export const REBUILD_ASYNC_ENV = 'CAIRN_REBUILD_ASYNC';
export function rebuildAsyncWrites(): number {
  const n = Number(process.env[REBUILD_ASYNC_ENV] ?? 4);
  return Number.isInteger(n) && n >= 0 && n <= 64 ? n : 4;
}

/** Set to 0 to run native rebuild steps on the libuv pool instead of the addon's own threads (`rebuildOwnThreads`); read once, at load. */
export const REBUILD_OWN_THREADS_ENV = 'CAIRN_REBUILD_OWN_THREADS';
let ownThreadsOn = process.env[REBUILD_OWN_THREADS_ENV] !== '0';
/**
 * Whether a migration's native step batches run on the rebuild addon's own threads, which never
 * preempt the JavaScript thread when it wakes them (SCHED_BATCH; native/rebuild.c `own_main`),
 * instead of the libuv pool (on by default). On this 2-core machine the JavaScript thread, a
 * rebuild's critical path, spent 20-27% of its wall time inside the call that queues a batch
 * (--cpu-prof, load 10-30) against ~3% of its CPU there (perf): the pool thread it woke took its
 * core. Quiet A/B (session 29, 3 runs of 1024 x 4 MiB EC_8P2G1 on 32 targets, 3 rebuilds per arm
 * and run): own threads median 643 MB/s (287-850) against 404 (207-730) on the libuv pool with 2
 * jobs, 495 with 1, 413 with 3. `on` switches it from the next migration. Starts from
 * CAIRN_REBUILD_OWN_THREADS (0: the libuv pool).
 */
export function rebuildOwnThreads(on?: boolean): boolean {
  if (on !== undefined) ownThreadsOn = on;
  return ownThreadsOn;
}

/** What the grouped steps did (`rebuildGroupStats`): counted since the process started. */
const groupStats = { locatedReads: 0, versionLocates: 0, locatedRereads: 0, preparedWrites: 0, checkedWrites: 0, fusedSteps: 0, fusedFallbacks: 0, stagedSteps: 0 };
/**
 * Counts of the grouped step paths since the process started: source reads sent in located groups
 * and verified there, fused sources located straight from their scanned version (`locateSource`), located reads that failed or mismatched and were read again the checked
 * way, rebuilt writes sent as prepared group writes, pool-decoded writes that took the checked
 * `updateArray`, steps run as one fused native job (of them, staged: in the pool thread's own
 * memory), and fused steps whose sources failed (their writes abandoned, the step run again the
 * other way) (tests: which path ran).
 */
export function rebuildGroupStats(): Readonly<typeof groupStats> { return { ...groupStats }; }

/** Rebuilt writes in flight per destination target (the next steps read and decode meanwhile). */
export const MIGRATE_WRITES_PER_DESTINATION = 4;
/**
 * What one object scan of a migration (one shard's dkeys, akeys, kinds and extents at a read point:
 * `scanObject`) draws from the rebuild budget, in bytes: measured on the filled 32-target pool of
 * the rebuild bench (2026-11-30), a scan of a 4-dkey object costs about 50 us of CPU, what hashed
 * reads of about 170 KiB cost (40 us per 128 KiB); a budgeted rebuild thereby leaves client I/O the
 * CPU its scans would otherwise take (charged at 256 KiB: objects with more keys cost more).
 */
export const MIGRATE_LIST_COST_BYTES = 256 * 1024;

/** Progress of a migration. */
export interface MigrateProgress { objectsDone: number; objectsTotal: number; bytes: number; lost: string[] }

/** Options of `migrateContainer`. */
export interface MigrateOptions {
  signal?: AbortSignal;
  onObject?: (bytes: number, lost?: string) => void;
  /** Filled with the targets read from / written to (declustering figures). */
  sources?: Set<number>;
  destinations?: Set<number>;
  /**
   * Filled with the old targets moved shards were copied from while readable: once the map is
   * promoted, those that stay in service hold copies nothing reads (`reclaimContainer`).
   */
  vacated?: Set<number>;
  /** Bytes per second the migration may move (reads + writes); unlimited without. */
  budget?: RebuildBudget;
  /**
   * The container's objects as `listMigrationObjects` kept them, or the feed it fills as it lists
   * (`ObjectFeed`: the migration starts on the first ids while the rest are listed); listed again
   * when absent.
   */
  objects?: readonly bigint[] | AsyncIterable<bigint>;
}

/**
 * Object ids kept in memory between counting them and migrating them, at most (a bigint each; the
 * pool shares this bound among its containers): a pass over at most this many objects lists them once (the listing merges every
 * target's object table and reads the commit registry, the costliest part of a small rebuild);
 * beyond it the count and the migration each stream their own listing, so memory stays bounded.
 */
export const MIGRATE_LISTED_OBJECTS_MAX = 256 * 1024;

/** What `listMigrationObjects` found: how many objects, and their ids when they were few enough to keep (or how many went into its feed). */
export interface MigrationObjects { count: number; oids?: bigint[]; fed?: number }

/**
 * Count the objects of `cont` a migration pass visits (after waiting for the commits in flight,
 * so an object whose first write was still landing under the old map is listed), keeping their ids
 * for `migrateContainer` (option `objects`) when there are at most `maxIds`
 * (default MIGRATE_LISTED_OBJECTS_MAX).
 */
export async function listMigrationObjects(cont: ContainerCore, opts: { signal?: AbortSignal; maxIds?: number; feed?: ObjectFeed } = {}): Promise<MigrationObjects> {
  const maxIds = opts.maxIds ?? MIGRATE_LISTED_OBJECTS_MAX;
  const feed = opts.feed;
  if (feed === undefined) return listKept(cont, maxIds, opts.signal);
  try {
    await containerPort(cont).quiesce();
    feed.markQuiesced();
    let count = 0, fed = 0;
    for await (const oid of cont.listObjects({ signal: opts.signal })) {
      count++;
      if (fed < maxIds) { feed.push(oid); fed++; } else feed.overflow();
    }
    feed.end();
    return { count, fed };
  } catch (err) {
    feed.fail(err);
    throw err;
  }
}

/** `listMigrationObjects` without a feed: the ids kept in an array (up to `maxIds`). */
async function listKept(cont: ContainerCore, maxIds: number, signal: AbortSignal | undefined): Promise<MigrationObjects> {
  await containerPort(cont).quiesce();
  let oids: bigint[] | undefined = [];
  let count = 0;
  for await (const oid of cont.listObjects({ signal })) {
    count++;
    if (oids && oids.length < maxIds) oids.push(oid);
    else oids = undefined;
  }
  return oids ? { count, oids } : { count };
}

/** Migrate every moved shard of one container. */
export async function migrateContainer(cont: ContainerCore, opts: MigrateOptions): Promise<void> {
  const given = opts.objects;
  // (a feed's listing quiesces first: the read points come after it, as after a listing that ended)
  if (given instanceof ObjectFeed) await given.quiesced;
  const points = readPoints(cont, await containerPort(cont).quiesce());
  const run = new MigrationRun(opts.signal, opts.budget);
  // Ids listed by `listMigrationObjects` (after a quiesce that came before this one) or a fresh listing.
  const objects: AsyncIterable<bigint> = given === undefined ? cont.listObjects({ signal: opts.signal })
    : Array.isArray(given) ? (async function* () { yield* given as readonly bigint[]; })() : given as AsyncIterable<bigint>;
  try {
    await runBoundedIter(objects, MIGRATE_CONCURRENCY, async (oid) => {
      throwIfAborted(opts.signal);
      try {
        const bytes = await migrateObject(run, cont, oid, points, opts);
        opts.onObject?.(bytes);
      } catch (err) {
        if ((err as { code?: string }).code === 'DATA_LOST') opts.onObject?.(0, oid.toString(16));
        else throw err;
      }
    });
  } finally {
    await run.settle();
  }
}

/**
 * Shared state of one migration pass: the decode-memory window, the budget, and the pipelined
 * writes per destination (a write failure is rethrown by the object that queued it, at its end).
 */
class MigrationRun {
  readonly decodes = new Semaphore(MIGRATE_DECODES_IN_FLIGHT, { what: 'rebuild decode step' });
  /** Staged steps in flight (MIGRATE_STAGED_IN_FLIGHT; they hold no decode memory here). */
  readonly stagedSlots = new Semaphore(stagedSlotCount(), { what: 'rebuild staged step' });
  /** Objects moving data while a budget is set (MIGRATE_BUDGETED_CONCURRENCY). */
  private readonly budgeted = new Semaphore(MIGRATE_BUDGETED_CONCURRENCY, { what: 'budgeted rebuild object' });
  private readonly writers = new Map<number, Semaphore>();
  private readonly pending = new Set<Promise<void>>();

  constructor(readonly signal: AbortSignal | undefined, readonly budget: RebuildBudget | undefined) {
    // Every step waiting for its budget, a decode slot or a write slot listens for the abort.
    if (signal) setMaxListeners(MIGRATE_CONCURRENCY * (MIGRATE_WRITES_PER_DESTINATION + 4), signal);
    this.addon?.directWrites?.(directOn);
    this.addon?.asyncWrites?.(rebuildAsyncWrites());
    this.addon?.ownThreads?.(ownThreadsOn);
  }

  /**
   * Wait for a decode slot (`decodes`, after its `tryAcquire` failed). Without an abort listener
   * per wait: the holders are steps in flight, which always release theirs, so a waiter is
   * granted one soon after an abort and then throws. Why: the Semaphore's per-wait
   * addEventListener, inlined into `cellStep`, deoptimised it in the bench's measured rebuild
   * ("not a Smi" in EventTarget code; cellStep then ran unoptimised for the rest of the rebuild
   * and was compiled again), and Node's listener code was compiled there too (--trace-deopt).
   */
  async decodeSlot(): Promise<void> { return this.slot(this.decodes); }

  /** Wait for a staged-step slot (`stagedSlots`, after its `tryAcquire` failed), as `decodeSlot`. */
  async stagedSlot(): Promise<void> { return this.slot(this.stagedSlots); }

  private async slot(slots: Semaphore): Promise<void> {
    await slots.acquire();
    if (this.signal?.aborted) {
      slots.release();
      throwIfAborted(this.signal);
    }
  }

  /** Wait for the budget of `bytes`. */
  take(bytes: number): Promise<void> { return this.budget ? this.budget.take(bytes, this.signal) : Promise.resolve(); }

  /**
   * Run `fn` (one object's moves) — while a budget is set, as one of at most
   * MIGRATE_BUDGETED_CONCURRENCY objects; checked per object, so a budget set or lifted during
   * the migration takes effect from the next object on.
   */
  async paced<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.budget || this.budget.bytesPerSecond === 0) return fn();
    await this.budgeted.acquire(this.signal);
    try { return await fn(); } finally { this.budgeted.release(); }
  }

  /**
   * Start `write` on destination `target` once it has a free write slot (waiting for one), and
   * return without waiting for the write: `{ landed }` settles when it has (it never rejects:
   * `write` records its own failure). `settle` also waits for it.
   */
  async queueWrite(target: number, write: () => Promise<void>): Promise<{ landed: Promise<void> }> {
    let slots = this.writers.get(target);
    if (!slots) { slots = new Semaphore(MIGRATE_WRITES_PER_DESTINATION, { what: 'rebuild write' }); this.writers.set(target, slots); }
    if (!slots.tryAcquire()) await slots.acquire(this.signal);
    const s = slots;
    const landed = (async () => { try { await write(); } finally { s.release(); } })();
    this.pending.add(landed);
    void landed.finally(() => this.pending.delete(landed));
    return { landed };
  }

  /** The prepared writes gathered in this run of JavaScript (sent together when it ends). */
  private openGroup: PreparedWriteGroup | undefined;

  /**
   * The migration's fused steps on their way to the pool (`FusedQueue`). Both queues are made with
   * the run, not at its first step: that `new`, run once per migration and before V8 kept
   * feedback for it, was a construct site without feedback in `cellStep` (where `stagedCall` is
   * inlined), which deoptimised it at the first step of the bench's measured rebuild (--trace-deopt).
   */
  private readonly addon = fusedAddon();
  /** Whether a rebuild budget paces the migration now (set and not lifted): fewer pool jobs in flight (`pacedFusedJobs`). */
  private readonly budgetPaces = (): boolean => this.budget !== undefined && this.budget.bytesPerSecond > 0;
  private fused: FusedQueue | undefined = this.addon && new FusedQueue(this.addon, false, this.budgetPaces);

  /** Run fused step `step` (`FusedQueue`: batched with the steps waiting for a job): its answers. */
  fusedCall(addon: RebuildAddon, step: FlatStep): Promise<Array<bigint | number>> {
    return (this.fused ??= new FusedQueue(addon, false, this.budgetPaces)).add(step);
  }

  /** The migration's staged steps on their way to the pool (`FusedQueue` of `rebuildStepsStaged`). */
  private staged: FusedQueue<StagedStep> | undefined = this.addon?.rebuildStepsStaged ? new FusedQueue<StagedStep>(this.addon, true, this.budgetPaces) : undefined;

  /** Run staged step `step` (batched as `fusedCall`'s): its answers. */
  stagedCall(addon: RebuildAddon, step: StagedStep): Promise<Array<bigint | number>> {
    return (this.staged ??= new FusedQueue<StagedStep>(addon, true, this.budgetPaces)).add(step);
  }

  /** Add prepared write `w` to the open group (one is opened when none is or it was sent); settles when its record is applied. */
  joinWrite(w: PreparedShardWrite): Promise<void> {
    let g = this.openGroup;
    if (g === undefined || g.sent) g = this.openGroup = new PreparedWriteGroup('member');
    return g.add(w);
  }

  /** Wait for every queued write (errors were reported to their objects). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }
}

/** The target sets a migration fills (`MigrateOptions`). */
type NotedTargets = Pick<MigrateOptions, 'sources' | 'destinations' | 'vacated'>;

async function migrateObject(run: MigrationRun, cont: ContainerCore, oid: bigint, points: bigint[], noted: NotedTargets): Promise<number> {
  const port = containerPort(cont);
  const moved = port.movedShards(oid);
  if (moved.size === 0) return 0;
  return run.paced(() => moveObjectShards(run, cont, oid, points, moved, noted));
}

async function moveObjectShards(run: MigrationRun, cont: ContainerCore, oid: bigint, points: bigint[], moved: ReadonlyMap<number, number>, noted: NotedTargets): Promise<number> {
  // Indexed loops and its parts in functions of their own (`groupMovers`, `groupCtx`,
  // `moverDests`): it runs once per object, so V8 reaches it late (the bench's measured rebuild);
  // less bytecode (no iterator protocol) is less to compile then (see `rebuildGroupOnto`).
  const port = containerPort(cont);
  const groups = port.layout(oid).groups;
  const io = port.io();
  let bytes = 0;
  for (let g = 0; g < groups.length; g++) {
    const members = groupShards(groups, g);
    const movers = groupMovers(members, moved);
    if (movers.length === 0) continue;
    throwIfAborted(run.signal);
    const stores = new Map<number, ShardStore>();
    const healthy = await openable(io, members, stores);
    const ctx = groupCtx(run, cont, io, oid, members, healthy, groups[0]!.length, stores);
    if (noted.sources || noted.destinations || noted.vacated) noteTargets(io, movers, healthy, moved, noted);
    bytes += await rebuildGroupOnto(ctx, await moverDests(io, oid, movers, moved), points);
  }
  return bytes;
}

/** Members of a group whose shard moves (`moved`). */
function groupMovers(members: Array<{ shard: number; target: number }>, moved: ReadonlyMap<number, number>): Array<{ shard: number; target: number }> {
  const out: Array<{ shard: number; target: number }> = [];
  for (let i = 0; i < members.length; i++) if (moved.has(members[i]!.shard)) out.push(members[i]!);
  return out;
}

/**
 * The moves' context of one group with readable members `healthy`. Too few readable shards to
 * supply the group's content: DATA_LOST rather than "rebuild" nothing (with every replica gone, the
 * key lists would come back empty).
 */
function groupCtx(run: MigrationRun, cont: ContainerCore, io: IoContext, oid: bigint, members: Array<{ shard: number; target: number }>, healthy: Array<{ shard: number; target: number }>, size: number, stores: Map<number, ShardStore>): ShardCtx {
  const cls = objectClassOf(oid);
  if (healthy.length < (cls.kind === 'ec' ? cls.dataShards : 1)) throw lostErr(oid);
  const healthyShards = new Set<number>();
  for (let i = 0; i < healthy.length; i++) healthyShards.add(healthy[i]!.shard);
  return { run, cont, io, oid, cls, members, healthy, size, roles: new Map(), rotations: new Map(), healthyShards, stores, versions: new Map() };
}

/** Each mover of `movers` with its destination store (`moved`: shard -> new target). */
async function moverDests(io: IoContext, oid: bigint, movers: Array<{ shard: number; target: number }>, moved: ReadonlyMap<number, number>): Promise<Mover[]> {
  const dests: Mover[] = [];
  for (let i = 0; i < movers.length; i++) {
    const mv = movers[i]!, to = moved.get(mv.shard)!;
    dests.push({ shard: mv.shard, target: mv.target, dst: await io.store(to), dstTarget: to, uoid: unitOid(oid, mv.shard) });
  }
  return dests;
}

/**
 * Record the targets a group's moves read from (a mover's own old target when readable, else every
 * healthy member) and write to (declustering figures), and the readable old targets the movers
 * leave (`vacated`).
 */
function noteTargets(io: IoContext, movers: ReadonlyArray<{ shard: number; target: number }>, healthy: ReadonlyArray<{ target: number }>, moved: ReadonlyMap<number, number>, { sources, destinations, vacated }: NotedTargets): void {
  // (one `sources.add` call site, taken for every mover: a branch first taken in the measured
  // rebuild deoptimised `moveObjectShards`, where this is inlined, in the bench)
  for (let i = 0; i < movers.length; i++) {
    const mv = movers[i]!;
    destinations?.add(moved.get(mv.shard)!);
    const own = io.available(mv.target);
    for (let h = 0; h < (own ? 1 : healthy.length); h++) sources?.add(own ? mv.target : healthy[h]!.target);
    if (own) vacated?.add(mv.target);
  }
}

/** A shard being rebuilt: its position, its old target (-1: none) and where it goes. */
interface Mover { shard: number; target: number; dst: ShardStore; dstTarget: number; /** The shard's unit object id (unitOid), made once. */ uoid: bigint }

/**
 * Write shards `movers` of one group onto their destinations at every read point: copied from
 * their own old target when that is readable, else rebuilt from the siblings (EC: all lost shards
 * of the group decoded in one pass). Returns bytes written.
 */
async function rebuildGroupOnto(ctx: ShardCtx, movers: Mover[], points: bigint[]): Promise<number> {
  // Small on the common path (indexed loops; the punches of a repair and of keys gone since the
  // previous read point in functions of their own): it runs once per group, so V8 optimises it
  // late, in the bench's measured rebuild; its for-of loops made it 1448 bytes of bytecode and
  // 100-175 ms of compiler wall time there (--trace-opt, load 14).
  const acc: WriteAcc = { bytes: 0, errors: [], writes: [] };
  let prev: KeyToMove[] | undefined;
  for (let i = 0; i < points.length; i++) {
    const R = points[i]!;
    ctx.versions.clear();
    const keys = await keysAt(ctx, R);
    await punchMovers(ctx, movers, R);
    // Keys are independent: several move at once (each a chain of reads, a decode and writes).
    await runBounded(keys, MIGRATE_KEYS_IN_FLIGHT, (key) => moveValue(ctx, movers, R, key, acc));
    if (prev !== undefined) await punchGone(ctx, movers, R, prev, keys);
    prev = keys;
    // The next read point may rewrite the same keys: this one's writes land first.
    await drain(acc);
  }
  return acc.bytes;
}

/**
 * Punch every mover's whole shard at R on its destination, before R's content is written there:
 * nothing the destination held at or below R shows through (an old copy of the shard, a repaired
 * shard's damaged versions, an interrupted run's writes).
 */
async function punchMovers(ctx: ShardCtx, movers: Mover[], R: bigint): Promise<void> {
  for (const mv of movers) await mv.dst.punchObject(R, unitOid(ctx.oid, mv.shard));
}

/** The (dkey, akey) of a key as a map key. */
function keyId(key: KeyToMove): string { return `${key.dkey.length}:${key.dk}${latin1Key(key.akey)}`; }

/** Punch, on every mover at R, the keys of the previous read point (`prev`) that `now` no longer has. */
async function punchGone(ctx: ShardCtx, movers: Mover[], R: bigint, prev: KeyToMove[], now: KeyToMove[]): Promise<void> {
  const seen = new Set<string>();
  for (const key of now) seen.add(keyId(key));
  for (const key of prev) {
    const id = keyId(key);
    if (seen.has(id)) continue;
    seen.add(id);
    for (const mv of movers) await mv.dst.punchAkey(R, unitOid(ctx.oid, mv.shard), key.dkey, key.akey);
  }
}

/** Pipelined writes of one group: bytes written, failures, and the writes still in flight. */
interface WriteAcc { bytes: number; errors: unknown[]; writes: Array<Promise<void>> }

/** Wait for the group's writes in flight; rethrow the first failure. */
async function drain(acc: WriteAcc): Promise<void> {
  await Promise.allSettled(acc.writes.splice(0));
  if (acc.errors.length) throw acc.errors[0];
}

/**
 * Repair shard `shard` of `oid` in place (scrub found it bad): rebuild it from its siblings onto
 * its own target, at every read point. `alsoBad`: other shards of the object found bad, never used
 * as sources. Throws DATA_LOST, before touching the shard, when too few siblings are left to supply
 * it (the damaged shard then keeps failing its reads instead of being emptied by the repair).
 */
export async function repairShard(cont: ContainerCore, oid: bigint, shard: number, points: bigint[], alsoBad: ReadonlySet<number> = new Set()): Promise<number> {
  const port = containerPort(cont);
  const { groups } = port.layout(oid);
  const size = groups[0]!.length;
  const g = Math.floor(shard / size);
  const io = port.io();
  const members = groupShards(groups, g);
  const me = members.find((m) => m.shard === shard)!;
  // The bad shards are neither sources nor counted healthy while one is rebuilt.
  const stores = new Map<number, ShardStore>();
  const healthy = await openable(io, members.filter((m) => m.shard !== shard && !alsoBad.has(m.shard)), stores);
  const cls = objectClassOf(oid);
  if (healthy.length < (cls.kind === 'ec' ? cls.dataShards : 1)) throw lostErr(oid);
  const run = new MigrationRun(undefined, undefined);
  const ctx: ShardCtx = { run, cont, io, oid, cls, members, healthy, size, roles: new Map(), rotations: new Map(), healthyShards: new Set(healthy.map((m) => m.shard)), stores, versions: new Map() };
  try {
    return await rebuildGroupOnto(ctx, [{ shard, target: -1, dst: await io.store(me.target), dstTarget: me.target, uoid: unitOid(oid, shard) }], points);
  } finally {
    await run.settle();
  }
}

/** The read points of a container: every snapshot at or below `stable`, and `stable`. */
export function readPoints(cont: ContainerCore, stable: bigint): bigint[] {
  return [...new Set([...cont.listSnapshots().map((s) => s.epoch).filter((e) => e <= stable), stable])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface ShardCtx {
  run: MigrationRun;
  cont: ContainerCore; io: IoContext; oid: bigint; cls: ReturnType<typeof objectClassOf>;
  members: Array<{ shard: number; target: number }>;
  healthy: Array<{ shard: number; target: number }>;
  size: number;
  /** `rolesOf` per dkey (latin1 key), filled as the group's keys are met. */
  roles: Map<string, DkeyRoles>;
  /** `rolesOf` per parity rotation (the dkeys of one rotation share it). */
  rotations: Map<number, DkeyRoles>;
  /** Shards of `healthy`. */
  healthyShards: Set<number>;
  /** The healthy members' stores by target, opened once per group (`openable`). */
  stores: Map<number, ShardStore>;
  /**
   * Local shards' content at the read point being moved, with the versions supplying it
   * (`objectVersions`): filled by the key scans and on a source's first read, so each value is
   * read straight from its version (`readVersionInto`) with no lookup per read. Undefined
   * entries: not a local store, or too many dkeys (read the ordinary way). Cleared per read point.
   */
  versions: Map<number, Map<string, VersionedDkey> | undefined>;
}

/**
 * Healthy shards of an EC group whose dkey listings together meet every visible dkey: for every
 * rotation a dkey of the container can have, one healthy shard at a parity position of it (every
 * write of a dkey writes all its parity roles, so each of them lists it). A new array, in
 * `ctx.healthy` order; undefined when some rotation has no healthy parity position (its dkeys may
 * be readable on data roles only). Greedy: the shard meeting the most rotations not met yet.
 */
function parityCover(ctx: ShardCtx): Array<{ shard: number; target: number }> | undefined {
  const k = ctx.cls.dataShards;
  const n = ctx.members.length;
  // Rotations a dkey may have: all of them in a container that rotates per dkey, else rotation 0.
  const rotations = ctx.io.parityRotation === 'per-dkey' && n > 1 ? n : 1;
  const base = ctx.members[0]!.shard;
  const healthyPos = ctx.healthy.map((m) => m.shard - base);
  // The cover depends only on the group's shape and which positions are healthy: computed once per pattern.
  const key = `${n},${k},${rotations}:${healthyPos.join(',')}`;
  let chosenPos = coverCache.get(key);
  if (chosenPos === undefined) {
    chosenPos = computeCover(n, k, rotations, healthyPos);
    if (coverCache.size >= COVER_CACHE_MAX) coverCache.clear();
    coverCache.set(key, chosenPos);
  }
  if (chosenPos === null) return undefined;
  const chosen = new Set(chosenPos);
  return ctx.healthy.filter((m) => chosen.has(m.shard - base));
}

/** Cover patterns kept (group shape + healthy positions -> chosen positions; null: no cover). */
const COVER_CACHE_MAX = 1024;
const coverCache = new Map<string, number[] | null>();

/** `parityCover` on positions: the chosen positions, or null when some rotation has no healthy parity position. */
function computeCover(n: number, k: number, rotations: number, healthyPos: readonly number[]): number[] | null {
  const healthy = new Set(healthyPos);
  let open: number[][] = [];
  for (let r = 0; r < rotations; r++) {
    const parity = rolePositions(n, r).slice(k).filter((pos) => healthy.has(pos));
    if (parity.length === 0) return null;
    open.push(parity);
  }
  const chosen: number[] = [];
  while (open.length > 0) {
    const hits = new Map<number, number>();
    for (const w of open) for (const pos of w) hits.set(pos, (hits.get(pos) ?? 0) + 1);
    let best = -1, most = 0;
    for (const pos of healthyPos) { const h = hits.get(pos) ?? 0; if (h > most) { best = pos; most = h; } }
    chosen.push(best);
    open = open.filter((w) => !w.includes(best));
  }
  return chosen;
}

/** One akey to move at a read point: its kind and, for arrays, the shard-local end of its extents. */
interface KeyToMove {
  dkey: Uint8Array; akey: Uint8Array; kind: 'single' | 'array'; end: number;
  /** `dkey` as a map key (latin1Key), made once per key: the per-step lookups (roles, source versions) use it. */
  dk: string;
}

/**
 * The (dkey, akey) pairs visible at epoch R in the group, each with its kind and extent end, from
 * one ordered scan per listed shard (`scanObject`: every dkey, akey, kind and extent of the shard
 * in one pass, instead of a dkey listing, an akey listing per dkey and a probe per akey).
 * Replicas: one replica's scan (any holds every key). EC: the shards scanned are enough healthy
 * shards to meet every dkey (a short write reaches only some data shards); each dkey's akeys,
 * kinds and extent ends are taken from a scanned shard holding a parity role of it — every EC write
 * (array cells or single-value pieces) writes all parity roles, so each holds every akey, and whole
 * cells of every stripe written — and only when no parity holder answers from the union of the
 * data shards that listed it (kind from the first, the largest extent end).
 *
 * Enough shards: a visible EC key lives on its p parity roles and at least one data role, p + 1
 * shards of the group; at most `u` of them are not healthy (u = group size - healthy), so any
 * healthy - (p - u) healthy shards include a holder of every dkey. Fewer suffice when the parity
 * positions a dkey can have are known (`parityCover`: one healthy parity position of every
 * rotation, 5 for 8+2 with rotation, 1 without): that set is scanned when it is smaller. When a
 * scan fails the shards not scanned are scanned too; a dkey none of whose parity holders was
 * scanned has its unscanned healthy parity holders scanned.
 */
async function keysAt(ctx: ShardCtx, R: bigint): Promise<KeyToMove[]> {
  // Kept small, its steps in functions of their own: V8 optimises a long async function as one
  // unit (a deoptimised keysAt cost 100+ ms of compiler time per rebuild on the rebuild bench).
  const scans: ShardScans = new Map();
  if (ctx.cls.kind !== 'ec') {
    // The first replica that answers holds every key.
    for (const m of ctx.healthy) {
      await scanShards(ctx, R, scans, [m]);
      const got = scans.get(m.shard);
      if (got) return replicaKeys(got);
    }
    return [];
  }
  await scanShards(ctx, R, scans, shardsToList(ctx));
  if (anyFailed(scans)) {
    // A scan failed: the skipped shards may hold the only readable copy of some dkey.
    const unscanned = ctx.healthy.filter((m) => !scans.has(m.shard));
    if (unscanned.length > 0) await scanShards(ctx, R, scans, unscanned);
  }
  const order = orderedDkeys(scans);
  // Dkeys none of whose scanned parity holders answered: scan their other healthy parity holders first.
  const want = unscannedParityHolders(ctx, order, scans);
  if (want.length > 0) await scanShards(ctx, R, scans, want);
  return keysFromScans(ctx, order, scans);
}

/** Shard -> its scan at the read point by dkey (latin1 key); undefined: the scan failed. */
type ShardScans = Map<number, Map<string, ScannedDkey> | undefined>;

/** The EC shards `keysAt` scans first (see its comment): the parity cover when smaller, else healthy - (p - u). */
function shardsToList(ctx: ShardCtx): Array<{ shard: number; target: number }> {
  // Healthy shards whose scan may be skipped.
  const spare = Math.max(0, ctx.cls.parityShards - (ctx.members.length - ctx.healthy.length));
  const byCount = ctx.healthy.slice(0, ctx.healthy.length - spare);
  const cover = parityCover(ctx);
  return cover !== undefined && cover.length < byCount.length ? cover : byCount;
}

/** Whether some scan in `scans` failed. */
function anyFailed(scans: ShardScans): boolean {
  for (const sc of scans.values()) if (sc === undefined) return true;
  return false;
}

/** Scan shards `ms` at read point R into `scans` (a shard that fails counts as lost: undefined). */
async function scanShards(ctx: ShardCtx, R: bigint, scans: ShardScans, ms: ReadonlyArray<{ shard: number; target: number }>): Promise<void> {
  await ctx.run.take(ms.length * MIGRATE_LIST_COST_BYTES);
  await Promise.all(ms.map((m) => scanShard(ctx, R, scans, m)));
}

/** One shard's scan into `scans` (see `scanShards`). */
async function scanShard(ctx: ShardCtx, R: bigint, scans: ShardScans, m: { shard: number; target: number }): Promise<void> {
  try {
    const store = ctx.stores.get(m.target) ?? await ctx.io.store(m.target);
    const bulk = shardVersions(ctx, m.shard, store, R);
    if (bulk) { scans.set(m.shard, bulk); return; }
    const byKey = new Map<string, ScannedDkey>();
    for await (const d of scanObject(store, R, unitOid(ctx.oid, m.shard))) byKey.set(latin1Key(d.dkey), d);
    scans.set(m.shard, byKey);
  } catch (err) {
    // A sibling that fails (missing files, corruption) counts as lost; the others supply the keys.
    if (!isShardFailure(err)) throw err;
    scans.set(m.shard, undefined);
  }
}

/** Every key of one replica's scan. */
function replicaKeys(got: Map<string, ScannedDkey>): KeyToMove[] {
  const out: KeyToMove[] = [];
  for (const [dk, d] of got) for (const a of d.akeys) out.push({ dkey: d.dkey, akey: a.akey, kind: a.kind, end: extentEnd(a), dk });
  return out;
}

/** Every dkey met by the scans, in byte order: [latin1 key, dkey]. */
function orderedDkeys(scans: ShardScans): Array<[string, Uint8Array]> {
  const dkeys = new Map<string, Uint8Array>();
  for (const sc of scans.values()) {
    if (sc === undefined) continue;
    for (const [k, d] of sc) if (!dkeys.has(k)) dkeys.set(k, d.dkey);
  }
  return [...dkeys.entries()].sort((a, b) => Buffer.compare(a[1], b[1]));
}

/** Shards at a parity role of the dkey (by role). */
function parityShardsOf(ctx: ShardCtx, dkey: Uint8Array, dk: string): number[] {
  return rolesOf(ctx, dkey, dk).parity;
}

/** Whether shard `sh`'s scan answered for dkey `key`. */
function scanHas(scans: ShardScans, sh: number, key: string): boolean {
  const sc = scans.get(sh);
  return sc !== undefined && sc.has(key);
}

/** Healthy parity holders not scanned yet of the dkeys none of whose scanned parity holders answered. */
function unscannedParityHolders(ctx: ShardCtx, order: Array<[string, Uint8Array]>, scans: ShardScans): Array<{ shard: number; target: number }> {
  // (indexed loops, no closures: it runs once per group, see keysFromScans)
  let want: Map<number, { shard: number; target: number }> | undefined;
  for (let d = 0; d < order.length; d++) {
    const key = order[d]![0];
    const parity = parityShardsOf(ctx, order[d]![1], key);
    let answered = false;
    for (let i = 0; i < parity.length && !answered; i++) answered = scanHas(scans, parity[i]!, key);
    if (answered) continue;
    for (let i = 0; i < parity.length; i++) {
      const sh = parity[i]!;
      if (scans.has(sh)) continue;
      for (let h = 0; h < ctx.healthy.length; h++) if (ctx.healthy[h]!.shard === sh) { (want ??= new Map()).set(sh, ctx.healthy[h]!); break; }
    }
  }
  return want === undefined ? [] : [...want.values()];
}

/**
 * The keys to move, dkeys in byte order: each dkey's akeys from a scanned parity holder of it, or
 * when none answered the union of the shards that listed it (kind from the first, the largest end).
 */
function keysFromScans(ctx: ShardCtx, order: Array<[string, Uint8Array]>, scans: ShardScans): KeyToMove[] {
  // (indexed loops: it runs once per group and is optimised in the bench's measured rebuild)
  const out: KeyToMove[] = [];
  for (let d = 0; d < order.length; d++) {
    const key = order[d]![0], dkey = order[d]![1];
    const parity = parityShardsOf(ctx, dkey, key);
    let from: ScannedDkey | undefined;
    for (let i = 0; i < parity.length && from === undefined; i++) from = scans.get(parity[i]!)?.get(key);
    if (from === undefined) { out.push(...unionKeys(scans, key, dkey)); continue; }
    const akeys = from.akeys;
    for (let i = 0; i < akeys.length; i++) out.push({ dkey, akey: akeys[i]!.akey, kind: akeys[i]!.kind, end: extentEnd(akeys[i]!), dk: key });
  }
  return out;
}

/** A dkey's akeys as the union of every shard that listed it, in byte order. */
function unionKeys(scans: ShardScans, key: string, dkey: Uint8Array): KeyToMove[] {
  const akeys = new Map<string, KeyToMove>();
  for (const sc of scans.values()) {
    for (const a of sc?.get(key)?.akeys ?? []) {
      const ak = latin1Key(a.akey);
      const e = akeys.get(ak);
      if (!e) akeys.set(ak, { dkey, akey: a.akey, kind: a.kind, end: extentEnd(a), dk: key });
      else e.end = Math.max(e.end, extentEnd(a));
    }
  }
  return [...akeys.values()].sort((x, y) => Buffer.compare(x.akey, y.akey));
}

/** A key's bytes as a map key (latin1 is a bijection of bytes). */
function latin1Key(k: Uint8Array): string { return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('latin1'); }

/** Copy or rebuild one akey of every mover at read point R (EC arrays: pipelined writes into `acc`). */
async function moveValue(ctx: ShardCtx, movers: Mover[], R: bigint, key: KeyToMove, acc: WriteAcc): Promise<void> {
  // Short on the common path (an EC shard whose old copy is gone: decoded), the copies in
  // `copyMovers`: it runs once per key, V8 optimises it in the bench's measured rebuild, and its
  // copy loop's paths untaken until then deoptimised it there (--trace-deopt).
  const toDecode = ctx.cls.kind === 'ec' && !anyReadable(ctx, movers) ? movers : await copyMovers(ctx, movers, R, key, acc);
  if (toDecode.length === 0) return;
  if (key.kind === 'single') await rebuildPieces(ctx, toDecode, R, key, acc);
  else await rebuildCells(ctx, toDecode, R, key, acc);
}

/** Whether some mover's own old shard is readable (a copy source). */
function anyReadable(ctx: ShardCtx, movers: Mover[]): boolean {
  for (let i = 0; i < movers.length; i++) if (ctx.healthyShards.has(movers[i]!.shard)) return true;
  return false;
}

/**
 * Copy the key onto each mover from a readable copy, best first: the shard's own old copy, then
 * (replicas) any healthy sibling. The EC movers none could be copied to (to decode); a replica
 * with no copy left: DATA_LOST.
 */
async function copyMovers(ctx: ShardCtx, movers: Mover[], R: bigint, key: KeyToMove, acc: WriteAcc): Promise<Mover[]> {
  const { dkey, akey, kind } = key;
  const toDecode: Mover[] = [];
  for (const mv of movers) {
    const sources: Array<{ shard: number; target: number }> = [];
    if (ctx.healthyShards.has(mv.shard)) sources.push(mv);
    if (ctx.cls.kind !== 'ec') sources.push(...ctx.healthy.filter((m) => m.shard !== mv.shard));
    let copied = false;
    for (const source of sources) {
      try {
        acc.bytes += await copyValue(ctx, source, kind, mv.dst, unitOid(ctx.oid, mv.shard), R, dkey, akey);
        copied = true;
        break;
      } catch (err) {
        // A source that fails half way (checksum, I/O) is skipped; writes are idempotent, so the
        // next source simply rewrites the same bytes.
        if (!isShardFailure(err)) throw err;
      }
    }
    if (copied) continue;
    if (ctx.cls.kind !== 'ec') throw lostErr(ctx.oid);
    toDecode.push(mv);
  }
  return toDecode;
}

/** EC single values: each mover's piece rebuilt from the other shards' (`rebuildPiece`). */
async function rebuildPieces(ctx: ShardCtx, movers: Mover[], R: bigint, key: KeyToMove, acc: WriteAcc): Promise<void> {
  for (const mv of movers) acc.bytes += await rebuildPiece(ctx, mv, R, key.dkey, key.akey);
}

async function copyValue(ctx: ShardCtx, source: { shard: number; target: number }, kind: 'single' | 'array', dst: ShardStore, dstOid: bigint, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const src = await ctx.io.store(source.target);
  const srcOid = unitOid(ctx.oid, source.shard);
  if (kind === 'single') {
    const v = await src.fetchSingle(R, srcOid, dkey, akey);
    if (v === undefined) { await dst.punchAkey(R, dstOid, dkey, akey); return 0; }
    await ctx.run.take(2 * v.length);
    await dst.updateSingle(R, dstOid, dkey, akey, v);
    return v.length;
  }
  let n = 0;
  const extents: Array<{ index: number; count: number }> = [];
  for await (const x of src.listRecx(R, srcOid, dkey, akey)) extents.push({ index: x.index, count: x.count });
  for (const x of extents) {
    for (let off = x.index; off < x.index + x.count; off += MIGRATE_CHUNK) {
      const len = Math.min(MIGRATE_CHUNK, x.index + x.count - off);
      await ctx.run.take(2 * len);
      const { data, present } = await src.fetchArray(R, srcOid, dkey, akey, { index: off, count: len });
      for (const p of present) {
        // record size named: a repair in place must not depend on the damaged shard's own index (byte arrays)
        await dst.updateArray(R, dstOid, dkey, akey, p, data.subarray(p.index - off, p.index - off + p.count), { recordSize: 1 });
        n += p.count;
      }
    }
  }
  return n;
}

/** Role of every member position for `dkey` (index: position in the group). */
function rolesOf(ctx: ShardCtx, dkey: Uint8Array, key: string = latin1Key(dkey)): DkeyRoles {
  // Asked several times per key (listing, kind, decode): computed once per dkey of the group, and
  // shared by every dkey of the same parity rotation (at most group size of them per group).
  // `key`: latin1Key(dkey), passed by callers that made it already.
  let r = ctx.roles.get(key);
  if (!r) {
    const rotation = dkeyRotation(ctx.io, ctx.cls, dkey);
    r = ctx.rotations.get(rotation);
    if (!r) {
      // Plain loops, not map (see makeCellPlan): arrays of one elements kind whoever made them.
      const pos = rolePositions(ctx.members.length, rotation);
      const roles: DkeyRoles['roles'] = [];
      const roleOf = new Map<number, number>();
      for (let i = 0; i < pos.length; i++) {
        const m = ctx.members[pos[i]!]!;
        roles.push({ shard: m.shard, target: m.target });
        roleOf.set(m.shard, i);
      }
      const parity: number[] = [];
      for (let i = ctx.cls.kind === 'ec' ? ctx.cls.dataShards : roles.length; i < roles.length; i++) parity.push(roles[i]!.shard);
      r = { roles, roleOf, parity, plans: new Map() };
      ctx.rotations.set(rotation, r);
    }
    ctx.roles.set(key, r);
  }
  return r;
}

/** Most group members and rotations `rolePositions` keeps positions for (a larger group is placed each time). */
const ROLE_POSITIONS_MAX = 1024;
/** `rolePositions` by group size * ROLE_POSITIONS_MAX + rotation. */
const rolePositionCache = new Map<number, readonly number[]>();

/**
 * The member positions of a group of `n` in role order under `rotation` (element i: the position
 * holding role i; io's `roleShards` of the positions, made once per size and rotation). Why: a
 * rebuild asks it for each rotation of every object it moves, and `roleShards` keeps its answers by
 * the layout's groups array, so a group of targets made per object was a cache miss and a new
 * cache entry (a map, a frozen list of frozen members) every time.
 */
function rolePositions(n: number, rotation: number): readonly number[] {
  const kept = n < ROLE_POSITIONS_MAX && rotation < ROLE_POSITIONS_MAX;
  const key = n * ROLE_POSITIONS_MAX + rotation;
  let pos = kept ? rolePositionCache.get(key) : undefined;
  if (pos === undefined) {
    const positions: number[] = [];
    for (let i = 0; i < n; i++) positions.push(i);
    const placed = roleShards([positions], 0, rotation);
    const made: number[] = [];
    for (let i = 0; i < placed.length; i++) made.push(placed[i]!.shard);
    assert(made.length === n, 'every member of a group holds one role', { n, rotation, roles: made.length });
    pos = made;
    if (kept) rolePositionCache.set(key, made);
  }
  return pos;
}

/**
 * Shards of a group by role for one parity rotation (`roles[role]`), each shard's role, the
 * shards at parity roles, and the cell plans made for it (by the movers' shards).
 */
interface DkeyRoles { roles: Array<{ shard: number; target: number }>; roleOf: Map<number, number>; parity: number[]; plans: Map<string, CellPlan> }

/**
 * EC single value: the lost shard's piece from the other shards' (io.ts `ecRebuildSinglePiece`):
 * a value stored whole is copied from any surviving copy (no decode; data roles other than 0 hold
 * none of it), a striped one decoded from k pieces of its newest complete version.
 */
async function rebuildPiece(ctx: ShardCtx, mv: Mover, R: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<number> {
  const { dataShards: k, parityShards: p } = ctx.cls;
  const base = ctx.members[0]!.shard;
  assert(ctx.members.length === k + p && mv.shard >= base && mv.shard < base + k + p, 'the rebuilt piece belongs to a group of k + p shards', { shard: mv.shard, base, k, p, members: ctx.members.length });
  const { roleOf } = rolesOf(ctx, dkey);
  const pieces: Array<Uint8Array | undefined> = new Array(k + p).fill(undefined);
  await Promise.all(ctx.healthy.map(async (m) => {
    try {
      pieces[roleOf.get(m.shard)!] = await (await ctx.io.store(m.target)).fetchSingle(R, unitOid(ctx.oid, m.shard), dkey, akey);
    } catch (err) {
      if (!isShardFailure(err)) throw err;
      swallowed('migrate.piece-unreadable-counts-missing', err); // the other pieces decode it
    }
  }));
  await ctx.run.take(pieces.reduce((n, v) => n + (v?.length ?? 0), 0));
  // The newest complete version: a whole value (any one copy, copied as is) or k striped pieces (decoded for this role).
  const r = ecRebuildSinglePiece(ctx.io.codec(k, p), pieces, k, p, roleOf.get(mv.shard)!, ctx.io.matrixId);
  if (r.kind === 'absent') { await mv.dst.punchAkey(R, unitOid(ctx.oid, mv.shard), dkey, akey); return 0; }
  if (r.kind === 'lost') throw lostErr(ctx.oid);
  if (r.kind === 'none') return 0; // a whole value has no piece on this data role
  await mv.dst.updateSingle(R, unitOid(ctx.oid, mv.shard), dkey, akey, r.piece);
  return r.piece.length;
}

/**
 * EC array: decode the lost shards' cells stripe range by stripe range (`end`: the shard-local end
 * of the akey's extents, from a parity holder's scan: parity holds whole cells of every stripe
 * written). Each step reads k healthy shards straight into codec memory, decodes every mover's role
 * in one pass and queues the movers' writes on their destinations (pipelined; the decode memory is
 * released when they land).
 */
async function rebuildCells(ctx: ShardCtx, movers: Mover[], R: bigint, key: KeyToMove, acc: WriteAcc): Promise<void> {
  const end = key.end;
  if (end === 0) return;
  const plan = cellPlan(ctx, movers, key);
  for (let first = 0; first * plan.cell < end; first += plan.stripesPerStep) {
    throwIfAborted(ctx.run.signal);
    await cellStep(ctx, plan, movers, R, key, first, acc);
    if (acc.errors.length) throw acc.errors[0];
  }
}

/** What every step of one akey's cell rebuild shares. */
interface CellPlan {
  k: number; p: number; cell: number; stripesPerStep: number; codec: ReturnType<IoContext['codec']>;
  /** Sources in role order (data first: a parity-free decode when only parity is lost), movers excluded. */
  sources: Array<{ role: number; shard: number; target: number; uoid: bigint }>;
  /** Each mover's role. */
  moverRoles: number[];
  /** Every mover holds a data role: decode the data roles only. */
  dataOnly: boolean;
  /** Every mover holds a parity role (each writes whole cells of every stripe). */
  parityOnly: boolean;
  /**
   * The codec's (k + p) x k encoding matrix when steps may be decoded on their writes' pool jobs
   * (`cellStep`): every mover's destination is a local container store, whose device computes a
   * deferred fill before any read of its bytes (a remote store would send the buffer as it is);
   * undefined: decoded here (`reconstruct`).
   */
  encoding: Uint8Array | undefined;
  /** Decode rows (one per mover, k coefficients each) by the roles read into the k slots, made once per pattern. */
  rows: Map<string, Uint8Array>;
}

/** The cell plan of `movers` for the key's dkey (made once per parity rotation and set of movers). */
function cellPlan(ctx: ShardCtx, movers: Mover[], key: KeyToMove): CellPlan {
  const r = rolesOf(ctx, key.dkey, key.dk);
  const plans = movers.length === 1 ? String(movers[0]!.shard) : movers.map((m) => m.shard).join(',');
  let plan = r.plans.get(plans);
  if (!plan) { plan = makeCellPlan(ctx, movers, r); r.plans.set(plans, plan); }
  return plan;
}

function makeCellPlan(ctx: ShardCtx, movers: Mover[], { roles, roleOf }: DkeyRoles): CellPlan {
  const { dataShards: k, parityShards: p } = ctx.cls;
  const cell = ctx.io.cellSize;
  assert(ctx.members.length === k + p && cell > 0, 'cells are rebuilt in a group of k + p shards', { k, p, members: ctx.members.length, cell });
  // Plain loops and pushes, not map/every: an array made by Array.prototype.map has another
  // elements kind once the caller is optimised (the inlined map), and `cellStep`, optimised on the
  // first kind, then bailed out ("wrong map") and was compiled again in the next rebuild.
  const moverShards = new Set<number>();
  const moverRoles: number[] = [];
  let dataOnly = true, parityOnly = true;
  for (const mv of movers) {
    moverShards.add(mv.shard);
    const role = roleOf.get(mv.shard)!;
    moverRoles.push(role);
    if (role >= k) dataOnly = false;
    else parityOnly = false;
  }
  const sources: CellPlan['sources'] = [];
  for (let role = 0; role < roles.length; role++) {
    const r = roles[role]!;
    if (ctx.healthyShards.has(r.shard) && !moverShards.has(r.shard)) sources.push({ role, shard: r.shard, target: r.target, uoid: unitOid(ctx.oid, r.shard) });
  }
  const codec = ctx.io.codec(k, p);
  const m = codec.encodingMatrix;
  let local = true;
  for (const mv of movers) if (!supportsBulkRead(mv.dst)) local = false;
  const encoding = local && m instanceof Uint8Array && m.length === (k + p) * k && k <= FILL_MAX_COEFFS ? m : undefined;
  return { k, p, cell, stripesPerStep: Math.max(1, Math.floor(MIGRATE_STEP_BYTES / cell)), codec, sources, moverRoles, dataOnly, parityOnly, encoding, rows: new Map() };
}

/**
 * The decode rows of `plan`'s movers when the k slots hold roles `chosen` (slot order): mover i's
 * cells = sum over slots j of rows[i * k + j] * (slot j's cells), in GF(2^8). A data role's row is
 * its row of the inverse of the chosen rows of the encoding matrix; a parity role's is its encoding
 * row times that inverse (ec/matrix.ts `decodeRows`, as `MatrixCodec.reconstruct` uses).
 */
function decodeRows(plan: CellPlan, chosen: readonly number[]): Uint8Array {
  const key = chosen.join(',');
  let rows = plan.rows.get(key);
  if (rows !== undefined) return rows;
  // A plan lives for one object's group: the rows of the same pattern are shared by every object
  // of the codec (a matrix inversion per object and rotation was ~1.5% of the rebuild's main thread).
  let byPattern = sharedRows.get(plan.encoding!);
  if (byPattern === undefined) sharedRows.set(plan.encoding!, byPattern = new Map());
  const shared = `${plan.moverRoles.join(',')}|${key}`;
  rows = byPattern.get(shared);
  if (rows === undefined) {
    const made = matrixDecodeRows(plan.encoding!, plan.k, chosen, plan.moverRoles);
    assert(made !== null, 'the chosen rows of the encoding matrix invert (MDS)', { chosen: key });
    if (byPattern.size >= SHARED_ROWS_MAX) byPattern.clear();
    byPattern.set(shared, rows = made);
  }
  plan.rows.set(key, rows);
  return rows;
}

/** Decode rows by encoding matrix, then by movers' roles and chosen roles (`decodeRows`); at most SHARED_ROWS_MAX patterns per matrix (emptied when full). */
const sharedRows = new WeakMap<Uint8Array, Map<string, Uint8Array>>();
const SHARED_ROWS_MAX = 4096;

/**
 * The step's k source slots as one buffer of whole stripes (`deferFill`'s layout: cell j of stripe
 * s at (s * k + j) * cell) when the codec's first k stripe buffers lie end to end (its arena packs
 * page-multiple buffers so); undefined otherwise (decode here).
 */
function slotBuffer(shards: readonly Uint8Array[], k: number, bytes: number): Uint8Array | undefined {
  const first = shards[0]!;
  for (let j = 1; j < k; j++) {
    const b = shards[j]!;
    if (b.buffer !== first.buffer || b.byteOffset !== first.byteOffset + j * bytes) return undefined;
  }
  return new Uint8Array(first.buffer, first.byteOffset, k * bytes);
}

/**
 * One decode step: stripes from `first` on (up to `end`), read, decoded, and the movers' writes queued.
 *
 * Where it can, the decode runs on the pool job that hashes and writes each mover's cells, not
 * here (the codec's decode was about a tenth of the JavaScript thread's time in a rebuild): the k
 * sources are read (checksums verified as always, before anything is decoded) into one buffer of
 * whole stripes, and each mover's output buffer is registered as a deferred fill of that buffer
 * with its decode row (media/fills.ts), which the write's job computes before hashing and writing
 * it; any path that reads the buffer otherwise computes it first. It falls back to `reconstruct`
 * here when the addon cannot fill, the codec is not matrix-based, its buffers are not packed, a
 * data mover writes less than whole cells, or the cells are small enough for the store to write
 * them on this thread anyway (SYNC_WRITE_MAX_BYTES). Before any of that, where the rebuild addon
 * has staged steps, the step runs as one native job in the pool thread's own memory (`stagedStep`:
 * no stripe buffers here at all); when it cannot, or a source fails there, as below.
 */
async function cellStep(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, first: number, acc: WriteAcc): Promise<void> {
  const { k, p, cell } = plan;
  const { dkey, akey, end } = key;
  const lo = first * cell, hi = Math.min(end, (first + plan.stripesPerStep) * cell);
  const recx = { index: lo, count: Math.ceil((hi - lo) / cell) * cell };
  if (ctx.run.budget) await ctx.run.take(recx.count * k + (hi - lo) * movers.length);
  // Decoded on the pool job in its own memory when it can (no buffers here at all: `stagedStep`),
  // in a staged-step slot (MIGRATE_STAGED_IN_FLIGHT), not a decode slot: it holds no decode memory.
  if (stagedOn && fusedOn && groupedOn && poolDecodeOn && plan.encoding !== undefined && recx.count > SYNC_WRITE_MAX_BYTES && (hi - lo === recx.count || plan.parityOnly)) {
    if (!ctx.run.stagedSlots.tryAcquire()) await ctx.run.stagedSlot();
    let done: boolean;
    try {
      const staged = stagedStep(ctx, plan, movers, R, key, recx, lo, acc);
      done = staged !== false && await staged;
    } finally {
      ctx.run.stagedSlots.release();
    }
    // (false: nothing was sent, or a source failed and nothing was recorded: run the step the other way)
    if (done) return;
  }
  if (!ctx.run.decodes.tryAcquire()) await ctx.run.decodeSlot();
  const bufs = stripeBuffers(plan.codec, k + p, recx.count);
  // Decode on the writes' pool jobs: every mover writes whole cells (parity always does; a data
  // role unless the data ends inside the step's last cell).
  const data = plan.encoding !== undefined && poolDecodeOn && recx.count > SYNC_WRITE_MAX_BYTES && (hi - lo === recx.count || plan.parityOnly) && deferredFills()
    ? slotBuffer(bufs.shards, k, recx.count) : undefined;
  // The step's decode memory is released once every write it started has landed.
  const landed: Array<Promise<void>> = [];
  const fills: Uint8Array[] = [];
  try {
    if (data !== undefined) {
      if (fusedOn && groupedOn) {
        const fused = fusedStep(ctx, plan, movers, R, key, recx, lo, data, bufs.shards, acc);
        if (fused !== false && await fused) return;
      }
      const slots = stripeViews(data, k, cell, recx.count / cell); // (slot j's cells, one view per stripe)
      const chosen = await readSources(ctx, plan, R, key, recx, (_role, slot) => slots[slot]!);
      const rows = decodeRows(plan, chosen);
      for (let i = 0; i < movers.length; i++) {
        const out = bufs.shards[k + i]!;
        deferFill(out, rows.subarray(i * k, (i + 1) * k), cell, data);
        fills.push(out);
        const mv = movers[i]!;
        const w = await ctx.run.queueWrite(mv.dstTarget, () => writeCellsNow(ctx.run, mv, R, dkey, akey, lo, out, acc));
        landed.push(w.landed);
        acc.writes.push(w.landed);
      }
      return;
    }
    const present = presentRoles(plan, await readSources(ctx, plan, R, key, recx, (role) => [bufs.shards[role]!]));
    // Only k sources were read, so the unread healthy parity counts as missing too: when every
    // mover holds a data role, restore the data roles only (half the decode work with one lost
    // data shard of a p = 2 group).
    plan.codec.reconstruct(bufs.shards, { present, dataOnly: plan.dataOnly });
    for (let i = 0; i < movers.length; i++) {
      const mv = movers[i]!, role = plan.moverRoles[i]!;
      // Parity covers whole cells of every stripe written; a data cell ends where the data does.
      const count = role >= k ? recx.count : hi - lo;
      const w = await ctx.run.queueWrite(mv.dstTarget, () => writeCells(mv, mv.uoid, R, dkey, akey, lo, bufs.shards[role]!.subarray(0, count), acc));
      landed.push(w.landed);
      acc.writes.push(w.landed);
    }
  } finally {
    // (a fill not computed by a write that landed is never read: dropped without computing it)
    void Promise.allSettled(landed).then(() => { for (const f of fills) dropFill(f); bufs.release(); ctx.run.decodes.release(); });
  }
}

/**
 * One decode step as one native job (native/rebuild.c `rebuildStep`): the first k sources located
 * (`locateArrayNow`, into their slots of `data`) and every mover's write prepared
 * (`prepareArrayWriteNow`, its output buffer `shards[k + i]`); the job reads the sources, hashes
 * them, decodes the movers' cells stripe by stripe while the sources are in cache, hashes and
 * writes them. Then every read is verified against its checksum (`finish`) before any write's
 * record is appended: when one fails, the writes are abandoned (their extents freed, no record) and
 * false is answered, so the caller runs the step the other way, which reads around the damage and
 * reports it. False too (at once, not a promise), with nothing held, when the addon, a source or a
 * destination cannot take this path. Write failures land in `acc` as the other paths' do.
 *
 * Not async, and its parts in small functions of their own (`fusedRequests`, `fusedAnswered`):
 * as one async function it was a large unit that V8 compiled again in every measured rebuild of
 * the bench (a deopt in code it had inlined; 300-550 ms of compiler wall time each on a loaded
 * machine, --trace-opt), and each step paid an async frame for it.
 */
function fusedStep(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, recx: { index: number; count: number }, lo: number, data: Uint8Array, shards: readonly Uint8Array[], acc: WriteAcc): Promise<boolean> | false {
  const addon = fusedAddon();
  if (addon === undefined || plan.sources.length < plan.k) return false;
  const job = fusedRequests(ctx, plan, movers, R, key, recx, lo, data, shards);
  if (job === undefined) return false;
  let sent: Promise<Array<bigint | number>>;
  try {
    sent = ctx.run.fusedCall(addon, job.step);
  } catch (err) {
    return fusedRefused(job, err);
  }
  return sent.then((answers) => fusedAnswered(job, answers, recx.count, acc), (err: unknown) => fusedRefused(job, err));
}

/** What a fused step holds until it is answered: its located reads and prepared writes. */
interface FusedHeld { located: LocatedShardRead[]; prepared: PreparedShardWrite[] }
/** A fused step ready to send: what it holds, and the addon's arguments. */
interface FusedJob extends FusedHeld { step: FlatStep }
/** A staged step ready to send (`stagedStep`). */
interface StagedJob extends FusedHeld { staged: StagedStep }

/**
 * The fused step's requests (see `fusedStep`): the k sources located into their slots of `data`,
 * each mover's write prepared, and the addon's arguments as numbers (each read's views exactly its
 * slot, as located; each write its output then zeros). Undefined, with nothing held, when any of
 * them cannot take this path.
 */
function fusedRequests(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, recx: { index: number; count: number }, lo: number, data: Uint8Array, shards: readonly Uint8Array[]): FusedJob | undefined {
  const { k, cell } = plan;
  const outs: Uint8Array[] = [];
  for (let i = 0; i < movers.length; i++) outs.push(shards[k + i]!);
  const h = fusedHold(ctx, plan, movers, R, key, recx, lo, slotViews(data, k, cell, recx.count / cell), outs);
  return h === undefined ? undefined : { located: h.located, prepared: h.prepared, step: [k, cell, data, h.rows, outs, h.nums, h.seeds] };
}

/**
 * A fused step's requests held (`fusedRequests`, `stagedRequests`): the k sources located into
 * views `into[j]`, each mover's write of `outs[i]` prepared, and the addon's numbers (per read fd,
 * position, hashLen; per write fd, position, hashLen, total; seeds k + m) with the decode rows.
 * Undefined, with nothing held, when any of them cannot take this path or a request does not name
 * exactly those views (each read the step's whole range, each write its output then at most a
 * zero tail).
 */
function fusedHold(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, recx: { index: number; count: number }, lo: number, into: readonly Uint8Array[][], outs: readonly Uint8Array[]): (FusedHeld & { rows: Uint8Array; nums: Float64Array; seeds: BigUint64Array }) | undefined {
  const k = plan.k, count = recx.count;
  const located: LocatedShardRead[] = [];
  const prepared: PreparedShardWrite[] = [];
  const chosen: number[] = [];
  let ok = true;
  for (let j = 0; j < k && ok; j++) {
    const m = plan.sources[j]!;
    const l = locateSource(ctx.stores.get(m.target), ctx.versions.get(m.shard), R, m.uoid, key, recx, into[j]!);
    if (l === null) ok = false;
    else { located.push(l); chosen.push(m.role); }
  }
  for (let i = 0; i < movers.length && ok; i++) {
    const w = prepareCells(movers[i]!, R, key, lo, count, outs[i]!);
    if (w === null) ok = false;
    else prepared.push(w);
  }
  const m = prepared.length;
  const nums = stepNums(3 * k + 4 * m), seeds = stepSeeds(k + m);
  for (let j = 0; ok && j < k; j++) {
    const r = located[j]!.read;
    if (r.views !== into[j] || r.hashLen !== count) ok = false;
    nums[3 * j] = r.fd; nums[3 * j + 1] = r.position; nums[3 * j + 2] = r.hashLen; seeds[j] = r.seed;
  }
  for (let i = 0; ok && i < m; i++) {
    const w = prepared[i]!.write, out = outs[i]!, v = w.views;
    let total = 0;
    for (let x = 0; x < v.length; x++) total += v[x]!.length;
    if (v[0] !== out || v.length > 2 || w.hashLen !== count || out.length !== count) ok = false;
    const at = 3 * k + 4 * i;
    nums[at] = w.fd; nums[at + 1] = w.position; nums[at + 2] = w.hashLen; nums[at + 3] = total; seeds[k + i] = w.seed;
  }
  if (!ok) { releaseFused(located, prepared); return undefined; }
  return { located, prepared, rows: decodeRows(plan, chosen), nums, seeds };
}

/**
 * `fusedStep` run in the pool thread's own memory (native `rebuildStepsStaged`): the same located
 * sources and prepared writes, each given views of `stagedScratch` (never read nor written: the
 * job is sent as numbers, and reads and writes its bytes in its own buffer), so this thread
 * allocates no stripe buffers for the step, and the job's reads, decode and writes stay in its
 * cache. Every read is verified before any write's record (`fusedAnswered`, as `fusedStep`). False
 * at once, with nothing held, when the addon has no staged steps or a request cannot take this path
 * (the caller then runs the step with buffers of its own).
 */
function stagedStep(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, recx: { index: number; count: number }, lo: number, acc: WriteAcc): Promise<boolean> | false {
  const addon = fusedAddon();
  if (addon === undefined || addon.rebuildStepsStaged === undefined || plan.sources.length < plan.k) return false;
  const job = stagedRequests(ctx, plan, movers, R, key, recx, lo);
  if (job === undefined) return false;
  let sent: Promise<Array<bigint | number>>;
  try {
    sent = ctx.run.stagedCall(addon, job.staged);
  } catch (err) {
    return fusedRefused(job, err);
  }
  return sent.then((answers) => stagedAnswered(job, answers, recx.count, acc), (err: unknown) => fusedRefused(job, err));
}

/** `fusedAnswered` of a staged step (counted as staged when its writes were recorded). */
function stagedAnswered(job: StagedJob, answers: Array<bigint | number>, bytes: number, acc: WriteAcc): boolean | Promise<boolean> {
  const r = fusedAnswered(job, answers, bytes, acc);
  if (r !== false) groupStats.stagedSteps++;
  return r;
}

/**
 * Bytes that staged steps' located reads and prepared writes are given as their views (their
 * requests must name views of the right length; the job is sent as numbers and never touches
 * them): one buffer shared by every staged step, grown to the largest step.
 */
let stagedScratch = new Uint8Array(0);

/** `fusedRequests` of a staged step: the requests located and prepared onto `stagedScratch`, the addon's arguments as numbers. */
function stagedRequests(ctx: ShardCtx, plan: CellPlan, movers: Mover[], R: bigint, key: KeyToMove, recx: { index: number; count: number }, lo: number): StagedJob | undefined {
  const { k, cell } = plan;
  const count = recx.count;
  if (stagedScratch.length < count) stagedScratch = new Uint8Array(count);
  const view = stagedScratch.subarray(0, count);
  // (plain pushes: packed arrays, as fusedRequests' are; every source names the same one-view list)
  const one = [view], into: Uint8Array[][] = [], outs: Uint8Array[] = [];
  for (let j = 0; j < k; j++) into.push(one);
  for (let i = 0; i < movers.length; i++) outs.push(view);
  const h = fusedHold(ctx, plan, movers, R, key, recx, lo, into, outs);
  return h === undefined ? undefined : { located: h.located, prepared: h.prepared, staged: [k, cell, count, h.rows, h.nums, h.seeds] };
}

/**
 * Slot j's cells of `data` (whole stripes: cell j of stripe s at (s * k + j) * cell), one view per
 * stripe: what a fused step's source j is located into. (Its own plain loops, not io's
 * `stripeViews`: that one's feedback is shared with the EC read and write paths, and inlined here
 * it deoptimised `fusedStep` in measured rebuilds: "insufficient type feedback for construct".)
 */
function slotViews(data: Uint8Array, k: number, cell: number, nStripes: number): Uint8Array[][] {
  const parts: Uint8Array[][] = [];
  for (let j = 0; j < k; j++) {
    const views: Uint8Array[] = [];
    for (let s = 0; s < nStripes; s++) {
      const at = (s * k + j) * cell;
      views.push(data.subarray(at, at + cell));
    }
    parts.push(views);
  }
  return parts;
}

/**
 * Source `uoid`'s range `recx` of the key located into `into` by its store, or null (no store, not
 * locatable, or it threw): straight from the version the shard's scan found at R (`scanned`,
 * `ctx.versions`: `locateVersionNow`, no lookup; its checksum still decides) when the scan has it
 * whole and the store takes it, else looked up (`locateArrayNow`).
 */
function locateSource(s: ShardStore | undefined, scanned: Map<string, VersionedDkey> | undefined, R: bigint, uoid: bigint, key: KeyToMove, recx: { index: number; count: number }, into: Uint8Array[]): LocatedShardRead | null {
  if (s === undefined || s.locateArrayNow === undefined) return null;
  try {
    if (scanned !== undefined && supportsBulkRead(s)) {
      const v = wholeVersion(scanned, key.dk, key.akey, recx);
      const byVersion = v === undefined ? undefined : (s as ContainerStore & { locateVersionNow?: (v: MemVersion, into: readonly Uint8Array[]) => LocatedShardRead | null }).locateVersionNow;
      if (v !== undefined && byVersion !== undefined) {
        const l = byVersion.call(s, v, into);
        if (l !== null) { groupStats.versionLocates++; return l; }
      }
    }
    return s.locateArrayNow(R, uoid, key.dkey, key.akey, recx, into);
  } catch {
    return null;
  }
}


/** Mover `mv`'s write of `out` at `lo` prepared by its destination (`prepareArrayWriteNow`, record size 1), or null (not a local store, not preparable, or it threw). */
function prepareCells(mv: Mover, R: bigint, key: KeyToMove, lo: number, count: number, out: Uint8Array): PreparedShardWrite | null {
  const dst = mv.dst;
  if (!supportsBulkRead(dst)) return null;
  try { return dst.prepareArrayWriteNow(R, mv.uoid, key.dkey, key.akey, { index: lo, count }, [out], { recordSize: 1 }); } catch { return null; }
}

/** A fused step the addon refused (a shape it does not take: nothing was sent): everything it held given back; false (run it the other way). */
function fusedRefused(job: FusedHeld, err: unknown): false {
  swallowed('migrate.fused-step-refused', err);
  releaseFused(job.located, job.prepared);
  return false;
}

/**
 * A fused step's answers (k read hashes, then one per write): every read verified against its
 * checksum first; when one failed or mismatched, nothing decoded from it is recorded (the writes
 * abandoned, their extents freed) and false is answered (the step runs again the other way). Else
 * each write's record is appended (`bytes` each, into `acc`; a failure lands in `acc.errors`).
 */
function fusedAnswered(job: FusedHeld, answers: Array<bigint | number>, bytes: number, acc: WriteAcc): boolean | Promise<boolean> {
  const { located, prepared } = job;
  const k = located.length;
  let readsOk = true;
  for (let j = 0; j < k; j++) {
    const a = answers[j]!;
    if (located[j]!.finish(typeof a === 'bigint' ? a : mediaErrorFromErrno(a, 'read'))) groupStats.locatedReads++;
    else readsOk = false;
  }
  if (!readsOk) {
    groupStats.fusedFallbacks++;
    for (const w of prepared) { try { void w.finish(new Error('a source of the fused rebuild step failed: abandoned')); } catch { /* (abandoned: its extent freed) */ } }
    return false;
  }
  groupStats.fusedSteps++;
  let waits: Array<Promise<void>> | undefined;
  for (let i = 0; i < prepared.length; i++) {
    const a = answers[k + i]!;
    try {
      const p = prepared[i]!.finish(typeof a === 'bigint' ? a : mediaErrorFromErrno(a, 'write'));
      if (p === undefined) acc.bytes += bytes;
      else (waits ??= []).push(p.then(() => { acc.bytes += bytes; }, (err: unknown) => { acc.errors.push(err); }));
    } catch (err) {
      acc.errors.push(err);
    }
  }
  return waits === undefined ? true : Promise.all(waits).then(fusedDone);
}

/** `fusedAnswered`'s answer once its writes' records are applied. */
function fusedDone(): boolean { return true; }

/** Give back what `fusedStep` holds when it does not send its job: the located reads' holds and the prepared writes' extents. */
function releaseFused(located: readonly LocatedShardRead[], prepared: readonly PreparedShardWrite[]): void {
  for (const l of located) l.finish(undefined);
  for (const w of prepared) { try { void w.finish(undefined); } catch { /* (never sent: frees only) */ } }
}

/**
 * `writeCells` as a prepared write joined to the run's open write group (one pool job and one
 * promise for the writes of several steps; a deferred fill of `data` is computed on that job) when
 * the destination prepares it (`prepareArrayWriteNow`, record size 1 named as `writeCells` names
 * it); else `writeCells`.
 */
function writeCellsNow(run: MigrationRun, mv: Mover, R: bigint, dkey: Uint8Array, akey: Uint8Array, lo: number, data: Uint8Array, acc: WriteAcc): Promise<void> {
  const dst = mv.dst;
  if (groupedOn && supportsBulkRead(dst)) {
    let w: PreparedShardWrite | null = null;
    try { w = dst.prepareArrayWriteNow(R, mv.uoid, dkey, akey, { index: lo, count: data.length }, [data], { recordSize: 1 }); } catch { w = null; }
    if (w !== null) {
      groupStats.preparedWrites++;
      return run.joinWrite(w).then(() => { acc.bytes += data.length; }, (err: unknown) => { acc.errors.push(err); });
    }
  }
  groupStats.checkedWrites++;
  return writeCells(mv, mv.uoid, R, dkey, akey, lo, data, acc);
}

/** Write one rebuilt cell range (failures recorded in `acc`, rethrown by the key's step loop). */
async function writeCells(mv: Mover, uoid: bigint, R: bigint, dkey: Uint8Array, akey: Uint8Array, lo: number, data: Uint8Array, acc: WriteAcc): Promise<void> {
  try {
    await mv.dst.updateArray(R, uoid, dkey, akey, { index: lo, count: data.length }, data, { recordSize: 1 });
    acc.bytes += data.length;
  } catch (err) {
    acc.errors.push(err);
  }
}

/**
 * Read k sources of a step (more when some fail) into k slots, each source into the views
 * `into(role, slot)` gives (the codec's buffer of its role, or its slot of a buffer of whole
 * stripes); returns the role read into each slot. Too few: DATA_LOST.
 */
async function readSources(ctx: ShardCtx, plan: CellPlan, R: bigint, key: KeyToMove, recx: { index: number; count: number }, into: (role: number, slot: number) => Uint8Array[]): Promise<number[]> {
  const chosen: number[] = [];
  const free: number[] = [];
  for (let j = plan.k - 1; j >= 0; j--) free.push(j);
  let have = 0, next = 0;
  while (have < plan.k && next < plan.sources.length) {
    const batch = plan.sources.slice(next, next + plan.k - have);
    next += batch.length;
    const slots: number[] = [];
    for (let i = 0; i < batch.length; i++) slots.push(free.pop()!);
    const views: Uint8Array[][] = [];
    for (let i = 0; i < batch.length; i++) views.push(into(batch[i]!.role, slots[i]!));
    const got = await readBatch(ctx, batch, R, key, recx, views);
    for (let i = 0; i < batch.length; i++) {
      if (got[i]) { chosen[slots[i]!] = batch[i]!.role; have++; } else free.push(slots[i]!);
    }
  }
  if (have < plan.k) throw lostErr(ctx.oid);
  return chosen;
}

/**
 * Read sources `batch` into `views` (one list of views each): the ones their store locates
 * (`locateArrayNow`: the newest extent is exactly the range, in the data file) as one hashed group
 * (one pool job, one promise), each verified against its checksum there; the others, and any
 * located read that failed or mismatched, through `readSource` (which reads again the checked way
 * and reports damage: a damaged source counts missing, never absent). True where the bytes arrived.
 */
function readBatch(ctx: ShardCtx, batch: ReadonlyArray<CellPlan['sources'][number]>, R: bigint, key: KeyToMove, recx: { index: number; count: number }, views: Uint8Array[][]): Promise<boolean[]> {
  let located: Array<LocatedShardRead | null> | undefined;
  if (groupedOn) {
    for (let i = 0; i < batch.length; i++) {
      const s = ctx.stores.get(batch[i]!.target);
      let l: LocatedShardRead | null = null;
      if (s !== undefined && s.locateArrayNow !== undefined) {
        try { l = s.locateArrayNow(R, batch[i]!.uoid, key.dkey, key.akey, recx, views[i]!); } catch { l = null; }
      }
      if (l !== null) (located ??= new Array<LocatedShardRead | null>(batch.length).fill(null))[i] = l;
    }
  }
  if (located === undefined) return Promise.all(batch.map((m, i) => readSource(ctx, m, R, key, recx, views[i]!)));
  return readLocated(ctx, batch, R, key, recx, views, located);
}

/** `readBatch` with some reads located: the group sent, each finished, the rest read by `readSource`. */
async function readLocated(ctx: ShardCtx, batch: ReadonlyArray<CellPlan['sources'][number]>, R: bigint, key: KeyToMove, recx: { index: number; count: number }, views: Uint8Array[][], located: Array<LocatedShardRead | null>): Promise<boolean[]> {
  const reads: HashedReadSlot[] = [];
  const slow: Array<Promise<boolean> | undefined> = [];
  for (let i = 0; i < batch.length; i++) {
    const l = located[i];
    if (l !== null && l !== undefined) { reads.push(l.read); slow.push(undefined); continue; }
    const p = readSource(ctx, batch[i]!, R, key, recx, views[i]!);
    p.catch(() => undefined); // (awaited below, maybe after another has thrown)
    slow.push(p);
  }
  let results: Array<bigint | Error>;
  try {
    results = await readHashedGroup(reads);
  } catch (e) {
    for (const l of located) l?.finish(undefined);
    throw e;
  }
  const out: boolean[] = [];
  let j = 0;
  for (let i = 0; i < batch.length; i++) {
    const l = located[i];
    if (l !== null && l !== undefined) {
      // failed or mismatched: read again the checked way, which reports it
      if (l.finish(results[j++])) { groupStats.locatedReads++; out.push(true); continue; }
      groupStats.locatedRereads++;
      out.push(await readSource(ctx, batch[i]!, R, key, recx, views[i]!));
    } else {
      out.push(await slow[i]!);
    }
  }
  return out;
}

/**
 * The presence flags for `reconstruct` of a step whose slots hold roles `chosen`: the roles read,
 * and the sources never asked (healthy roles after the k read, in role order) count as present too:
 * the decode takes its inputs from the first k present roles, which are exactly the k read, and
 * computes only the roles that are missing: the movers (and any source that failed), never an
 * unread parity (a lost parity role then costs one output, not two).
 */
function presentRoles(plan: CellPlan, chosen: readonly number[]): boolean[] {
  // (sources are asked in role order, so the roles never asked are exactly those above every role
  // read: one that failed is below a later one read, or the step is lost)
  const present: boolean[] = new Array(plan.k + plan.p).fill(false);
  let last = -1;
  for (const role of chosen) { present[role] = true; last = Math.max(last, role); }
  for (const m of plan.sources) if (m.role > last) present[m.role] = true;
  return present;
}

/**
 * One source shard's cells into the views `into`; false when the shard fails (the other shards decode them).
 * Not async: the common case (a local store whose scan found the whole version) is one
 * `readVersionInto` with its answer mapped, one promise and no async frame of its own per source
 * read (k of them per step).
 */
function readSource(ctx: ShardCtx, m: CellPlan['sources'][number], R: bigint, key: KeyToMove, recx: { index: number; count: number }, into: Uint8Array[]): Promise<boolean> {
  const store = ctx.stores.get(m.target);
  let v: MemVersion | undefined;
  try {
    v = store !== undefined && supportsBulkRead(store) ? wholeVersion(shardVersions(ctx, m.shard, store, R), key.dk, key.akey, recx) : undefined;
  } catch (err) {
    return Promise.reject(err).catch(sourceFailed);
  }
  if (v === undefined) return readSourceStored(ctx, m, R, key, recx, into);
  return readVersionInto(store as ContainerStore, m.uoid, key.dkey, key.akey, v, into).then(sourceRead, (err: unknown) => {
    // Freed and reused since the scan found it, or damaged: look it up again (damage fails there too).
    if ((err as { code?: unknown }).code !== 'CHECKSUM_MISMATCH') return sourceFailed(err);
    swallowed('migrate.scanned-version-changed-read-again', err);
    return readSourceLooked(ctx, m, R, key, recx, into);
  });
}

/** `readSource`'s answer when the bytes arrived. */
function sourceRead(): boolean { return true; }

/** `readSource`'s answer when the shard failed: false (counted missing), or rethrown when it is not a shard failure. */
function sourceFailed(err: unknown): boolean {
  if (!isShardFailure(err)) throw err;
  swallowed('migrate.cells-unreadable-count-missing', err);
  return false;
}

/** `readSource` when no version was found: a store not opened yet is opened and read as `readSource` does; an opened one is read the ordinary way. */
async function readSourceStored(ctx: ShardCtx, m: CellPlan['sources'][number], R: bigint, key: KeyToMove, recx: { index: number; count: number }, into: Uint8Array[]): Promise<boolean> {
  const had = ctx.stores.get(m.target);
  if (had !== undefined) return readSourceLooked(ctx, m, R, key, recx, into, had);
  try {
    ctx.stores.set(m.target, await ctx.io.store(m.target));
  } catch (err) {
    return sourceFailed(err);
  }
  return readSource(ctx, m, R, key, recx, into);
}

/** One source shard's cells read the ordinary way (each read looks its akey up). */
async function readSourceLooked(ctx: ShardCtx, m: CellPlan['sources'][number], R: bigint, key: KeyToMove, recx: { index: number; count: number }, into: Uint8Array[], store?: ShardStore): Promise<boolean> {
  try {
    await readShardInto(store ?? ctx.stores.get(m.target) ?? await ctx.io.store(m.target), R, m.uoid, key.dkey, key.akey, recx, into);
    return true;
  } catch (err) {
    return sourceFailed(err);
  }
}

/**
 * One local shard's content at read point R with its versions (`objectVersions`), by dkey; cached
 * in `ctx.versions` for the read point. Undefined: not a local store or too many dkeys (read the
 * ordinary way). A failing pass is cached as undefined and rethrown.
 */
function shardVersions(ctx: ShardCtx, shard: number, store: ShardStore, R: bigint): Map<string, VersionedDkey> | undefined {
  if (ctx.versions.has(shard)) return ctx.versions.get(shard);
  let byKey: Map<string, VersionedDkey> | undefined;
  try {
    const got = supportsBulkRead(store) ? objectVersions(store, R, unitOid(ctx.oid, shard)) : undefined;
    byKey = got && new Map(got.map((d) => [latin1Key(d.dkey), d]));
  } finally {
    ctx.versions.set(shard, byKey);
  }
  return byKey;
}

/**
 * The version holding exactly the byte range `recx` of an array akey (one visible piece that is a
 * whole version of record size 1), or undefined (several pieces, holes, another shape: read the
 * ordinary way).
 */
function wholeVersion(byKey: Map<string, VersionedDkey> | undefined, dk: string, akey: Uint8Array, recx: { index: number; count: number }): MemVersion | undefined {
  const d = byKey?.get(dk);
  if (!d) return undefined;
  let a: VersionedDkey['akeys'][number] | undefined;
  for (const x of d.akeys) if (sameBytes(x.akey, akey)) { a = x; break; }
  if (!a || a.kind !== 'array') return undefined;
  const p = a.pieces.find((x) => x.index === recx.index);
  if (!p || p.count !== recx.count) return undefined;
  const v = p.version;
  return v.index === p.index && v.count === p.count && v.recordSize === 1 && v.len === recx.count ? v : undefined;
}

/**
 * Members of a group that can serve reads: in service and with a store that opens (a target whose
 * directory vanished before it was excluded counts as lost, so the rebuild reads around it).
 */
async function openable(io: IoContext, members: Array<{ shard: number; target: number }>, stores?: Map<number, ShardStore>): Promise<Array<{ shard: number; target: number }>> {
  const out: Array<{ shard: number; target: number }> = [];
  for (const m of members) {
    if (!io.available(m.target)) continue;
    try { const s = await io.store(m.target); stores?.set(m.target, s); out.push(m); } catch (err) { if (!isShardFailure(err)) throw err; }
  }
  return out;
}

/** A failure of one shard's store (missing files, checksum, I/O), as opposed to a programming error. */
function isShardFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (code === 'ABORTED' || code === 'POOL_CLOSED') return false;
  return err instanceof CairnError || code !== undefined;
}

function lostErr(oid: bigint): ObjectError {
  return new ObjectError('DATA_LOST', `object ${oid.toString(16)}: not enough healthy shards to rebuild`, { oid: oid.toString(16) });
}
