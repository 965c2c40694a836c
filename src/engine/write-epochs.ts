/**
 * The newest write epochs an engine knows, per container, unit object, dkey and akey: what
 * optimistic transactions (`txRead`), fresh reads (`fresh`) and read validation are checked
 * against. Same rules as the container's `ConflictTracker` (src/container/conflicts.ts):
 *
 * - A write at a key at epoch E marks the key and every level above it "written at or below, at E";
 *   a punch also marks its own key "punched at E" (a punch hides everything below it).
 * - The last write a read or write of a key conflicts with (`lastWrite`) is the newest of: a write
 *   at or below the key, a punch of the key or of a level above it, and the floor (what the engine
 *   cannot know: its start, and everything it forgot).
 * - `lastInContainer` is the newest write anywhere in a container (a listing of its objects).
 *
 * Why not the tracker's flat table: the engine records every shard write, and a new-object put
 * raised three string keys (object, object/dkey, object/dkey/akey) in a table of up to a million
 * entries — three hash lookups and inserts, each missing the CPU caches, plus the key strings:
 * 8% of an engine's main thread per put (session 21, perf). Here a write costs one lookup of its
 * object in its container's map; an object's dkeys and a dkey's akeys are kept in the object's
 * entry, the first one inline (most objects have one dkey with one akey), a map past it.
 *
 * Bounded: past `maxEntries` (objects + dkeys + akeys) the least recently written object is
 * forgotten whole and the floor rises to its newest epoch; a dkey (akey) map past
 * `MAX_SUB_ENTRIES` is folded into its object's (dkey's) own floor. Forgetting only answers
 * newer epochs: a conflict is never missed, at worst a transaction restarts needlessly.
 */
import { assert } from '../../core/errors.js';

/** Default bound of entries (objects + dkeys + akeys) an engine remembers. */
export const MAX_WRITE_ENTRIES = 1_000_000;
/** Most dkeys of one object (akeys of one dkey) kept apart; more are folded into the level's floor. */
export const MAX_SUB_ENTRIES = 4096;
/** Stale queue entries tolerated beyond one per object before the queue is compacted. */
const QUEUE_SLACK = 1024;

/**
 * An empty list whose elements kind already holds objects (a literal `[]` holds small integers
 * until its first push): the queues of a new table (the engine's own, after the warm-up's scratch
 * engine optimised `record` with lists of objects) deoptimised `record` at their first push
 * ("not a Smi" at `queueObjs.push`, --trace-deopt-verbose, every engine once).
 */
export function objectList<T>(): T[] {
  const a: T[] = [null as unknown as T];
  a.length = 0;
  return a;
}

/** One dkey of an object. */
class DkeyW {
  /** Newest write at or below the dkey. */
  e: bigint;
  /** Newest punch of the dkey itself (0n: none). */
  p = 0n;
  /** Akeys forgotten from `aks` were written at or below this. */
  sf = 0n;
  /** The first akey written (inline), and its newest write. */
  ak: string | undefined = undefined;
  ae = 0n;
  /** Akeys beyond the first (with the first moved in). */
  aks: Map<string, bigint> | undefined = undefined;
  constructor(e: bigint) { this.e = e; }
}

/**
 * One unit object of a container. It is also the `DkeyW` of its first dkey (the fields it
 * inherits: most objects have one dkey, and a separate object per dkey was ~40 of the ~190 bytes an
 * engine kept per new object); a second dkey moves the first into its own `DkeyW` in `dks`.
 */
class ObjectW extends DkeyW {
  /** Newest write at or below the object. */
  oe = 0n;
  /** Newest punch of the object itself (0n: none). */
  op = 0n;
  /** Dkeys forgotten from `dks` (or akeys folded away) were written at or below this. */
  osf = 0n;
  /** The first dkey written, whose fields are this object's inherited ones (undefined: none, or `dks` holds it). */
  dk: string | undefined = undefined;
  /** Dkeys beyond the first (with the first moved in). */
  dks: Map<string, DkeyW> | undefined = undefined;
  /** Entries it holds (itself, dkeys, akeys). */
  entries = 1;
  /** Forgotten (its queue entries are stale). */
  dead = false;
  constructor(readonly cont: ContainerW, readonly unit: string) { super(0n); }
}

/** One container. */
class ContainerW {
  /** Newest write anywhere in the container. */
  e = 0n;
  readonly objects = new Map<string, ObjectW>();
}

/** Newest write epochs per container / object / dkey / akey of one engine (see the module comment). */
export class WriteEpochs {
  private readonly conts = new Map<string, ContainerW>();
  private count = 0;
  /** Objects in the order they were last raised, with the epoch of that raise; live from `head`. */
  private queueObjs: ObjectW[] = objectList();
  private queueEpochs: bigint[] = objectList();
  private head = 0;
  private objectsHeld = 0;
  /**
   * The last dkey and akey strings recorded: an equal key of a later write is kept as this same
   * string (a request's keys are new strings each time, and most writes name the same few keys:
   * 2 strings fewer kept per new object).
   */
  private lastDk = '';
  private lastAk = '';

  constructor(private floor = 0n, private readonly maxEntries = MAX_WRITE_ENTRIES) {
    assert(maxEntries >= 1 && floor >= 0n, 'write epochs have room and a non-negative floor', { maxEntries, floor: String(floor) });
  }

  /**
   * A write at `epoch` of the object `unit` of `cont` (dkey `dk` undefined), of its dkey `dk`
   * (`ak` undefined) or of an akey; `punch` for punches.
   */
  record(cont: string, unit: string, dk: string | undefined, ak: string | undefined, epoch: bigint, punch: boolean): void {
    let cw = this.conts.get(cont);
    if (cw === undefined) { cw = new ContainerW(); this.conts.set(cont, cw); }
    if (epoch > cw.e) cw.e = epoch;
    let o = cw.objects.get(unit);
    if (o === undefined) { o = new ObjectW(cw, unit); cw.objects.set(unit, o); this.count++; this.objectsHeld++; }
    if (epoch > o.oe) {
      o.oe = epoch;
      this.queueObjs.push(o);
      this.queueEpochs.push(epoch);
    }
    if (dk === undefined) {
      if (punch && epoch > o.op) o.op = epoch;
    } else {
      if (dk === this.lastDk) dk = this.lastDk; else this.lastDk = dk;
      const d = this.dkeyFor(o, dk, epoch);
      if (ak === undefined) {
        if (punch && epoch > d.p) d.p = epoch;
      } else {
        if (ak === this.lastAk) ak = this.lastAk; else this.lastAk = ak;
        this.raiseAkey(o, d, ak, epoch);
      }
    }
    if (this.count > this.maxEntries) this.evict(o);
    this.maybeCompactQueue();
  }

  /** The newest write a read or write of the object (`dk` undefined), dkey (`ak` undefined) or akey conflicts with. */
  lastWrite(cont: string, unit: string, dk?: string, ak?: string): bigint {
    let last = this.floor;
    const o = this.conts.get(cont)?.objects.get(unit);
    if (o === undefined) return last;
    if (dk === undefined) return o.oe > last ? o.oe : last;
    if (o.op > last) last = o.op;
    if (o.osf > last) last = o.osf;
    const d: DkeyW | undefined = o.dk === dk ? o : o.dks?.get(dk);
    if (d === undefined) return last;
    if (ak === undefined) return d.e > last ? d.e : last;
    if (d.p > last) last = d.p;
    if (d.sf > last) last = d.sf;
    const a = d.ak === ak ? d.ae : d.aks?.get(ak);
    return a !== undefined && a > last ? a : last;
  }

  /** The newest write anywhere in container `cont` (the floor when none is known). */
  lastInContainer(cont: string): bigint {
    const e = this.conts.get(cont)?.e;
    return e !== undefined && e > this.floor ? e : this.floor;
  }

  /** Entries held (objects + dkeys + akeys; tests and stats). */
  get size(): number { return this.count; }

  private dkeyFor(o: ObjectW, dk: string, epoch: bigint): DkeyW {
    let d: DkeyW | undefined;
    if (o.dks === undefined) {
      if (o.dk === undefined) { o.dk = dk; o.e = epoch; this.grow(o, 1); return o; }
      if (o.dk === dk) d = o;
      else {
        // (the first dkey moves out of the object into a DkeyW of its own)
        const first = new DkeyW(o.e);
        first.p = o.p; first.sf = o.sf; first.ak = o.ak; first.ae = o.ae; first.aks = o.aks;
        o.dks = new Map([[o.dk, first]]);
        o.dk = undefined; o.e = 0n; o.p = 0n; o.sf = 0n; o.ak = undefined; o.ae = 0n; o.aks = undefined;
      }
    }
    if (d === undefined) {
      d = o.dks!.get(dk);
      if (d === undefined) {
        if (o.dks!.size >= MAX_SUB_ENTRIES) this.foldDkeys(o);
        d = new DkeyW(epoch);
        o.dks!.set(dk, d);
        this.grow(o, 1);
        return d;
      }
    }
    if (epoch > d.e) d.e = epoch;
    return d;
  }

  private raiseAkey(o: ObjectW, d: DkeyW, ak: string, epoch: bigint): void {
    if (d.aks === undefined) {
      if (d.ak === undefined) { d.ak = ak; d.ae = epoch; this.grow(o, 1); return; }
      if (d.ak === ak) { if (epoch > d.ae) d.ae = epoch; return; }
      d.aks = new Map([[d.ak, d.ae]]);
      d.ak = undefined; d.ae = 0n;
    }
    const cur = d.aks.get(ak);
    if (cur === undefined) {
      if (d.aks.size >= MAX_SUB_ENTRIES) {
        for (const e of d.aks.values()) if (e > d.sf) d.sf = e;
        this.grow(o, -d.aks.size);
        d.aks.clear();
      }
      d.aks.set(ak, epoch);
      this.grow(o, 1);
    } else if (epoch > cur) d.aks.set(ak, epoch);
  }

  /** Fold every dkey of `o` (and their akeys) into its floor (an object with too many dkeys). */
  private foldDkeys(o: ObjectW): void {
    let removed = 0;
    for (const d of o.dks!.values()) {
      if (d.e > o.osf) o.osf = d.e;
      removed += 1 + (d.ak !== undefined ? 1 : 0) + (d.aks?.size ?? 0);
    }
    o.dks!.clear();
    this.grow(o, -removed);
  }

  private grow(o: ObjectW, n: number): void { o.entries += n; this.count += n; }

  /** Forget the least recently written objects until the bound holds (never `keep`, being written). */
  private evict(keep: ObjectW): void {
    while (this.count > this.maxEntries && this.head < this.queueObjs.length) {
      const o = this.queueObjs[this.head]!, e = this.queueEpochs[this.head]!;
      if (o === keep && o.oe === e && !o.dead) break; // only the object being written is left: it stays
      this.queueObjs[this.head] = undefined as unknown as ObjectW;
      this.head++;
      if (o.dead || o.oe !== e) continue; // raised again since (or forgotten): not its last raise
      o.dead = true;
      o.cont.objects.delete(o.unit);
      this.count -= o.entries;
      this.objectsHeld--;
      if (e > this.floor) this.floor = e;
    }
  }

  /** Drop stale queue entries once they outnumber the live ones (one per object). */
  private maybeCompactQueue(): void {
    const queued = this.queueObjs.length - this.head;
    if (queued > 2 * this.objectsHeld + QUEUE_SLACK) {
      const objs: ObjectW[] = objectList(), epochs: bigint[] = objectList();
      for (let i = this.head; i < this.queueObjs.length; i++) {
        const o = this.queueObjs[i]!, e = this.queueEpochs[i]!;
        if (!o.dead && o.oe === e) { objs.push(o); epochs.push(e); }
      }
      this.queueObjs = objs;
      this.queueEpochs = epochs;
      this.head = 0;
    } else if (this.head > QUEUE_SLACK && 2 * this.head > this.queueObjs.length) {
      this.queueObjs = this.queueObjs.slice(this.head);
      this.queueEpochs = this.queueEpochs.slice(this.head);
      this.head = 0;
    }
  }
}
