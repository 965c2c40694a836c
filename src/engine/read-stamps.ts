/**
 * Read timestamps of an engine, for every kind of read: a write may not land at or below an epoch
 * at which something it changes was already read (it would change what that reader saw), so the
 * writer is refused (`STALE_EPOCH`) and recommits above. Keys have four levels —
 * container / unit object / dkey / akey — and reads stamp the level they depend on:
 *
 *   fetch, akeyKind, listRecx   the akey          listAkeys   the dkey
 *   listDkeys                   the unit object   listObjects the container
 *
 * A write (update, punch) of key K at epoch E is refused when a read at or above E stamped K or
 * anything below K (a punch of a dkey changes every akey under it), or exactly a level above
 * K (a listing of the dkeys of an object changes when one of its dkeys is created or punched).
 * Bounded; forgetting raises the floor, which only refuses more.
 */
import { WriteEpochs } from './write-epochs.js';

/** Keys (unit objects + dkeys + akeys) remembered. */
export const MAX_READ_STAMPS = 1 << 20;
/** Containers whose listings (reads of exactly the container) are remembered; past it they fold into a floor. */
const MAX_LISTED_CONTAINERS = 4096;

/** The levels of a key, container first: [cont, unit?, dkey?, akey?] (keys as base64 or hex text). */
export type StampKey = readonly string[];

/**
 * Read stamps by key level (see the module comment), kept in a `WriteEpochs` tree (one lookup of
 * the object in its container's map, its dkeys and akeys inline or in small maps) with a read as a
 * write: a value read raises its akey and every level above it ("read at or below"), a listing of
 * an object's dkeys (a dkey's akeys) raises the object (dkey) as a punch does ("read at exactly
 * this level", which a write below it must stay above, as it must stay above a punch). Listings of
 * a container's objects, the one level `WriteEpochs` keeps no punch for, are kept beside it.
 * Before (session 25), four prefix strings per read were built and hashed into two tables (one
 * exact, one below): five hash-map operations on fresh strings per value read, 7% of an engine's
 * main thread during located reads (perf, session 26).
 */
export class ReadStamps {
  private readonly tree: WriteEpochs;
  /** Newest listing of each container's objects; `listedFloor`: those forgotten were at or below it. */
  private readonly listed = new Map<string, bigint>();
  private listedFloor = 0n;

  constructor(maxKeys = MAX_READ_STAMPS) {
    this.tree = new WriteEpochs(0n, maxKeys);
  }

  /** A read of `k` at `epoch` was served. */
  record(k: StampKey, epoch: bigint): void {
    const cont = k[0]!;
    if (k.length === 1) { this.list(cont, epoch); return; }
    this.tree.record(cont, k[1]!, k[2], k[3], epoch, k.length < 4);
  }

  /** A value read of (cont, unit, dkey, akey) at `epoch` was served (`record` of a four-level key, without building it). */
  recordValue(cont: string, unit: string, dk: string, ak: string, epoch: bigint): void {
    this.tree.record(cont, unit, dk, ak, epoch, false);
  }

  /** The newest read a write of `k` must stay above (0 when none). */
  floorFor(k: StampKey): bigint {
    const cont = k[0]!;
    return k.length === 1 ? this.maxListed(cont, this.tree.lastInContainer(cont)) : this.floorOf(cont, k[1]!, k[2], k[3]);
  }

  /**
   * `floorFor([cont, unit, dk?, ak?])` without the key list (a write checks its key on every
   * shard write: the engine's admission path builds no array for it).
   */
  floorOf(cont: string, unit: string, dk?: string, ak?: string): bigint {
    return this.maxListed(cont, this.tree.lastWrite(cont, unit, dk, ak));
  }

  /** The newer of `t` and the newest listing of `cont`'s objects (or their floor). */
  private maxListed(cont: string, t: bigint): bigint {
    const l = this.listed.get(cont);
    const max = l !== undefined && l > this.listedFloor ? l : this.listedFloor;
    return t > max ? t : max;
  }

  private list(cont: string, epoch: bigint): void {
    const cur = this.listed.get(cont);
    if (cur !== undefined && cur >= epoch) return;
    if (cur === undefined && this.listed.size >= MAX_LISTED_CONTAINERS) {
      for (const e of this.listed.values()) if (e > this.listedFloor) this.listedFloor = e;
      this.listed.clear();
    }
    this.listed.set(cont, epoch);
  }
}
