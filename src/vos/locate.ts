/**
 * Where a whole-extent array read's bytes lie, answered synchronously: the fused EC read path.
 *
 * Why: an EC read of 1 MiB asks k targets for one cell range each. Through `fetchArrayInto` every
 * cell costs a chain of async frames (the store's checks and read, the target's `readValueInto`,
 * the device's hashed read and slot), about six promises, and each cell's hashed read is its own
 * batcher entry with its own promise: ~25 promises per read, ~5 us of JavaScript per cell. Here
 * a store does the read's synchronous part (visibility, the newest extent, its data-file place and
 * checksum) in one call and hands back the device request ready to send; the caller sends the k
 * requests of its read as one group (`readHashedGroup`: one promise) and checks every hash against
 * the extent's checksum (`LocatedArrayRead.finish`) before it uses a byte.
 *
 * What it does not do: anything but the plain case. A value in memory, in the log or inline in a
 * run, a range that is not exactly the newest extent, a damaged or closed target, a device that
 * cannot prepare the request: the answer is null and the caller reads with `fetchArrayInto`, which
 * also owns every error report (a failed or mismatching located read is read again that way, so
 * damage is reported, noted and reconstructed exactly as there; it never reads as absent).
 */
import { readHashedGroup, type HashedReadSlot } from '../media/block-device.js';
import { CSUM_SEED } from './constants.js';
import { Where } from './wal.js';
import { akeyProbes, visibleArray, type AkeyProbes, type ReadView } from './reads.js';
import type { BloomProbe } from './run.js';
import type { MemVersion } from './memtable.js';
import type { ContState, TargetStore } from './store.js';

export { readHashedGroup };

/**
 * A located whole-extent read: the device request (`read`, send it with `readHashedGroup`) and
 * the hold it keeps on the target until `finish` (the target stays open and the extent's blocks
 * are not reused while the read is in flight, as for `readValueInto`).
 */
export interface LocatedArrayRead {
  /** The hashed read of the extent into the caller's buffers, not yet sent. */
  readonly read: HashedReadSlot;
  /**
   * The read is over: `result` is what `readHashedGroup` gave for it (its hash or its error), or
   * undefined when it was never sent. Releases the slot and the target's holds (once; later
   * calls return false). True only when the bytes now in the buffers hash to the extent's checksum.
   */
  finish(result: bigint | Error | undefined): boolean;
}

/** `LocatedArrayRead` of a target store (see `locateArrayRead`). */
class Located implements LocatedArrayRead {
  private open = true;
  constructor(private readonly t: TargetStore, private readonly gen: number, readonly read: HashedReadSlot, private readonly csum: bigint) {}

  finish(result: bigint | Error | undefined): boolean {
    if (!this.open) return false;
    this.open = false;
    this.read.release();
    this.t.endRead(this.gen);
    this.t.leave();
    return result === this.csum;
  }
}

/**
 * An akey's run probes (`akeyProbes`) built only when `visibleArray` first asks for one: it asks
 * only when it reads a run (a memtable extent covering the range, newer than every run, shadows
 * them all: the steady state of an array rewritten and read back). Why: the k cells of an EC read
 * are k unit objects, so `akeyProbes`' one-entry cache misses on each, and building the prefixes
 * and bloom hashes was 6% of the JavaScript thread of 1 MiB EC reads (perf, load 8). Lives for
 * one synchronous `wholeExtentInData` call (the keys are the caller's, unchanged meanwhile).
 */
class ProbesOnDemand implements AkeyProbes {
  private p: AkeyProbes | undefined;
  private cont = 0;
  private oid = 0n;
  private dkeyIn: Uint8Array = EMPTY;
  private akeyIn: Uint8Array = EMPTY;
  /** Ready for the keys of one lookup (nothing built yet). */
  reset(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array): this {
    this.p = undefined; this.cont = cont; this.oid = oid; this.dkeyIn = dkey; this.akeyIn = akey;
    return this;
  }
  /** Drop the lookup's keys and probes (nothing of a caller's is kept between lookups). */
  clear(): void { this.p = undefined; this.dkeyIn = EMPTY; this.akeyIn = EMPTY; }
  private get built(): AkeyProbes { return this.p ??= akeyProbes(this.cont, this.oid, this.dkeyIn, this.akeyIn); }
  get akey(): Uint8Array { return this.built.akey; }
  get dkey(): Uint8Array { return this.built.dkey; }
  get obj(): Uint8Array { return this.built.obj; }
  get pa(): BloomProbe { return this.built.pa; }
  get pd(): BloomProbe { return this.built.pd; }
  get po(): BloomProbe { return this.built.po; }
  /** Whether a probe was asked for (tests). */
  get asked(): boolean { return this.p !== undefined; }
}

const EMPTY = new Uint8Array(0);
/** The probes of the lookup running (`wholeExtentInData`; reset per lookup, cleared after). */
const lookupProbes = new ProbesOnDemand();

/** Test hook: called with whether each `wholeExtentInData` built its probes. */
let probesSeen: ((built: boolean) => void) | undefined;
/** Test hook: `fn` hears, after each located lookup, whether it built the akey's run probes (undefined: stop). */
export function onProbes(fn: ((built: boolean) => void) | undefined): void { probesSeen = fn; }

/**
 * The newest extent visible at `epoch` (records of `oid`/`dkey`/`akey` in container `st`, through
 * view `v`) when it is exactly `recx` and lies in the data file, with the akey's record size;
 * null otherwise. The common step of every located read (the caller holds the target open).
 */
export function wholeExtentInData(st: ContState, v: ReadView, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: { index: number; count: number }): { x0: MemVersion; recordSize: number | undefined } | null {
  // (one ProbesOnDemand for every lookup: each is synchronous and keeps nothing of it; 4 objects per 1 MiB EC read before)
  const pr = lookupProbes.reset(st.idx, oid, dkey, akey);
  let found: ReturnType<typeof visibleArray>;
  try {
    found = visibleArray(v, oid, dkey, akey, epoch, pr, recx);
    if (probesSeen !== undefined) probesSeen(pr.asked);
  } finally {
    pr.clear();
  }
  const { recordSize, extents } = found;
  const x0 = extents[0];
  if (x0 === undefined || x0.where !== Where.Block || x0.index !== recx.index || x0.count !== recx.count) return null;
  return { x0, recordSize };
}

/**
 * Locate the array read of `recx` (records of `oid`/`dkey`/`akey` visible at `epoch` in the
 * container `st` of target `t`, through read view `v`) into the caller's buffers `into`, when the
 * newest visible extent is exactly that range and lies in the data file. Null otherwise, and on
 * anything unusual (the caller then reads with `fetchArrayInto`, which checks and reports). The
 * arguments are the caller's, checked only as far as this path needs: a ContainerStore passes
 * its own view.
 */
export function locateArrayRead(t: TargetStore, st: ContState, v: ReadView, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: { index: number; count: number }, into: readonly Uint8Array[]): LocatedArrayRead | null {
  if (st.destroyed || typeof epoch !== 'bigint' || typeof oid !== 'bigint' || !(dkey instanceof Uint8Array) || !(akey instanceof Uint8Array)
    || !Number.isSafeInteger(recx.index) || !Number.isSafeInteger(recx.count) || recx.index < 0 || recx.count <= 0) return null;
  // (the lookup's arguments in the module's scratch, not a closure per located cell)
  const w = wanted;
  w.st = st; w.v = v; w.epoch = epoch; w.oid = oid; w.dkey = dkey; w.akey = akey; w.recx = recx;
  try {
    return locateEntered(t, into);
  } finally {
    w.st = undefined; w.v = undefined; w.dkey = EMPTY; w.akey = EMPTY; w.recx = NO_RECX;
  }
}

/**
 * What `locateEntered` looks for, set by its caller for one synchronous call and cleared after:
 * the lookup's arguments (`locateArrayRead`), or the version found already (`locateVersionRead`).
 */
const NO_RECX = { index: 0, count: 0 };
const wanted: { st: ContState | undefined; v: ReadView | undefined; epoch: bigint; oid: bigint; dkey: Uint8Array; akey: Uint8Array; recx: { index: number; count: number }; version: MemVersion | undefined } = {
  st: undefined, v: undefined, epoch: 0n, oid: 0n, dkey: EMPTY, akey: EMPTY, recx: NO_RECX, version: undefined,
};

/** The version `wanted` names for buffers of `bytes` in all, or null (see `locateEntered`). */
function findWanted(bytes: number): MemVersion | null {
  const w = wanted;
  if (w.version !== undefined) return bytes === w.version.len ? w.version : null;
  const found = wholeExtentInData(w.st!, w.v!, w.epoch, w.oid, w.dkey, w.akey, w.recx);
  if (found === null || bytes !== w.recx.count * (found.recordSize ?? 1) || bytes !== found.x0.len) return null;
  return found.x0;
}

/**
 * Inside the target (entered and intact), the version `wanted` names for buffers `into` of `bytes`
 * in all (`findWanted`), as a located read of `into`; null when there is none and on anything
 * unusual (closed, damaged, a buffer that is not a Uint8Array). The `Located` answered takes the
 * target's hold over.
 */
function locateEntered(t: TargetStore, into: readonly Uint8Array[]): Located | null {
  if (!Array.isArray(into)) return null;
  try {
    t.enter();
  } catch {
    return null; // (closed: the ordinary read says so)
  }
  let held = true;
  try {
    t.checkIntact();
    let bytes = 0;
    for (let i = 0; i < into.length; i++) {
      const b = into[i];
      if (!(b instanceof Uint8Array)) return null;
      bytes += b.length;
    }
    const x0 = findWanted(bytes);
    if (x0 === null) return null;
    const l = located(t, x0, into);
    if (l !== null) held = false; // (the Located holds it now)
    return l;
  } catch {
    return null;
  } finally {
    if (held) t.leave();
  }
}

/**
 * The device request of version `x0`'s bytes into `into` (which holds exactly them), and the
 * read hold that goes with it (`beginRead`); null when the device cannot prepare it. The caller
 * holds the target (`enter`): the `Located` answered takes that hold over.
 */
function located(t: TargetStore, x0: MemVersion, into: readonly Uint8Array[]): Located | null {
  const gen = t.beginRead();
  let slot: HashedReadSlot | undefined;
  try {
    slot = t.dev.hashedReadNow?.(x0.loc, x0.alloc, into, CSUM_SEED);
  } finally {
    if (slot === undefined) t.endRead(gen);
  }
  return slot === undefined ? null : new Located(t, gen, slot, x0.csum);
}

/**
 * `locateArrayRead` for a version the caller found visible at its read point already (the
 * rebuild's scan of a shard, `objectVersions`): no lookup (the rebuild located each source cell
 * with `locateArrayRead`, whose `visibleArray` repeated the scan's work: 7% of its JavaScript
 * thread). Null unless the version lies in the data file and `into` holds exactly its bytes, and
 * on anything unusual (closed, damaged, destroyed). Safe without a lookup for the same reason as
 * `readVersionInto`: a version freed since the scan (aggregation, discard) may have its blocks
 * reused, and then they hold other bytes, which fail the hash check in `finish` (false): the
 * caller reads the ordinary way, which says what is there now and reports real damage.
 */
export function locateVersionRead(t: TargetStore, st: ContState, version: MemVersion, into: readonly Uint8Array[]): LocatedArrayRead | null {
  if (st.destroyed || version.where !== Where.Block) return null;
  wanted.version = version;
  try {
    return locateEntered(t, into);
  } finally {
    wanted.version = undefined;
  }
}
