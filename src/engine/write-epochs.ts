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
 * Kept in typed arrays, not in JavaScript objects: buckets of `WRITE_EPOCH_WAYS` slots, one slot
 * per key (object, dkey or akey), found by a 96-bit hash of the key's levels (the container as a
 * small number, then each level's text), holding the newest write at or below the key and the
 * newest punch of it; the addon maps a large table on huge pages. Why: every shard write records
 * its key, and a new-object put makes three new entries. As maps of objects (one per unit object,
 * its dkeys and akeys inline; sessions 21-50) a record of a new object cost 1.9-2.9 us at the
 * 1M-entry bound and the entries held 85-316 MB of heap that every full collection of the engine
 * marked; this table takes 1.3 us there, in at most 32 MiB outside the collector's heap
 * (`bench/write-epochs-probe.ts`, session 51, docs/performance.md).
 *
 * A key is held in its bucket or, that one full, in one of the next PATH_BUCKETS (linear probing
 * by bucket). The table starts at 64 KiB and doubles past 70% full, up to the bound (32
 * MiB at the default): memory follows the keys held, and nothing is forgotten below the bound.
 * A doubling moves the keys a few buckets per `record` (MOVE_BUCKETS_PER_RECORD), not all at
 * once: the old table answers the keys not moved yet, and a key written meanwhile moves at once
 * (its old slot left as a tombstone). Moving all at once stalled an engine's event loop 83 ms at
 * the last doubling (367k keys) and 45 ms at the one before.
 *
 * Bounded: at the bound, past HOME_ONLY_LOAD full, a new key takes the slot of the oldest write in
 * its own bucket, forgotten into the bucket's floor (the table stays that full: a path ends at the
 * first bucket with a free slot); a key not found answers the highest floor on its path, and a key
 * entering starts at it. Forgetting only answers newer epochs: a conflict is never missed, at worst
 * a transaction restarts (or a write recommits above a read) needlessly. Two keys are taken for
 * one only when all 96 bits of their hashes agree (seeded per table: below 2^-70 per lookup).
 */
import { randomFillSync } from 'node:crypto';
import { assert } from '../../core/errors.js';
import { fmix32 } from '../../core/mix.js';
import { nativeAddon } from '../media/io-uring.js';

/** Default bound of entries (objects + dkeys + akeys) an engine remembers. */
export const MAX_WRITE_ENTRIES = 1 << 20;
/** Slots per bucket: a key may sit in any of its bucket's slots. */
export const WRITE_EPOCH_WAYS = 4;
/** Largest epoch a slot holds; a larger one is kept as this (answers only higher). */
const MAX_EPOCH = (1n << 64n) - 1n;

/**
 * An empty list whose elements kind already holds objects (a literal `[]` holds small integers
 * until its first push): a list of a new table (the engine's own, after the warm-up's scratch
 * engine optimised the code that fills it with objects) deoptimised that code at its first push
 * ("not a Smi", --trace-deopt-verbose, every engine once). Used by the commit table (txn.ts).
 */
export function objectList<T>(): T[] {
  const a: T[] = [null as unknown as T];
  a.length = 0;
  return a;
}

/** One container: its number in the key hashes and its newest write anywhere. */
class ContainerW {
  e = 0n;
  constructor(readonly id: number) {}
}

/** Bytes of one bucket in the table (see `WriteEpochs.u32`): 4 slots' hashes, the bucket's floor, 4 writes, 4 punches, padding. */
const BUCKET_BYTES = 128;
const BUCKET_U32 = BUCKET_BYTES / 4, BUCKET_U64 = BUCKET_BYTES / 8;
/** Where a bucket's floor, its slots' writes and their punches start, in u64 words from the bucket's start. */
const FORGOT_AT = 6, WRITES_AT = 7, PUNCHES_AT = 7 + WRITE_EPOCH_WAYS;

/** Buckets a table starts with (when its bound halves to it exactly): 64 KiB. */
const MIN_TABLE_BUCKETS = 512;
/** Most buckets a key's path runs from its own (a key is held at most this far from it). */
const PATH_BUCKETS = 32;
/** Below its bound a table doubles once it holds more than this share of its slots. */
const GROW_LOAD = 0.7;
/** At its bound, past this share of its slots a new key takes the slot of the oldest write in its own bucket (forgotten). */
const HOME_ONLY_LOAD = 0.7;
/** Buckets of the old table a `record` moves into the new one while the table doubles (the last doubling at the default bound: 131k buckets, moved in 33k records). */
export const MOVE_BUCKETS_PER_RECORD = 4;
/** A slot's key words once its key moved to the new table ahead of its bucket (never a key's hash: `feed` avoids it). */
const TOMBSTONE = 0xffffffff;
/** Tables this large or larger are mapped by the addon, on huge pages where it can (`allocTable`). */
const HUGE_TABLE_BYTES = 2 * 1024 * 1024;

/** Levels of a key, mixed into its hash (an object and its dkey named alike hash apart). */
const LEVEL_OBJECT = 0x6f626a31, LEVEL_DKEY = 0x646b6579, LEVEL_AKEY = 0x616b6579;

/** Newest write epochs per container / object / dkey / akey of one engine (see the module comment). */
export class WriteEpochs {
  private readonly conts = new Map<string, ContainerW>();
  /** Buckets now (doubled as keys come, up to `maxBuckets`) and at most (the bound). */
  private buckets: number;
  private readonly maxBuckets: number;
  /** Slots filled, and the count past which the table grows or (at its bound) keys stay in their own bucket. */
  private count = 0;
  private limit = 0;
  /** A bucket forgot a key (floors may be above zero; only at the bound). */
  private forgetting = false;
  /** A punch was recorded (until then every punch epoch held is zero). */
  private punched = false;
  /** What the last `find` that missed saw: the bucket its path ended at (a free slot there; -1: none within PATH_BUCKETS), and the highest floor on the path. */
  private stop = -1;
  private missFloor = 0n;
  /**
   * The table, a bucket per BUCKET_BYTES (two cache lines: a probe reads one bucket): as u32,
   * words [0, 12) the slots' key hashes, three words a slot (0, 0, 0: empty; a key never hashes to
   * it); as u64, word 6 what the bucket forgot (every key it dropped was written and punched at or
   * below it), words [7, 11) each slot's newest write at or below its key, [11, 15) each slot's
   * newest punch of the key itself (0: none).
   */
  private u32!: Uint32Array;
  private u64!: BigUint64Array;
  /**
   * While the table doubles: the table before, whose buckets from `moveAt` on still hold keys not
   * yet moved (a slot of TOMBSTONE words: its key moved ahead of its bucket). Its buckets below
   * `moveAt` were moved; what they still hold is stale and never read.
   */
  private old: { buckets: number; u32: Uint32Array; u64: BigUint64Array } | undefined;
  private moveAt = 0;
  /** Seeds of the three hash words (random per table: keys cannot be chosen to collide). */
  private readonly seeds = new Uint32Array(3);
  /** The last key hashed (`hashLevels`): words of the object, dkey and akey levels. */
  private readonly h = new Uint32Array(9);
  /** The levels `h` holds the words of (`hashLevels`): container id 0 is none. */
  private hashedId = 0;
  private hashedUnit = '';
  private hashedDk: string | undefined = undefined;
  private hashedAk: string | undefined = undefined;
  /** The running hash words while a key is hashed (`feed`). */
  private x = 0;
  private y = 0;
  private z = 0;

  constructor(private readonly floor = 0n, maxEntries = MAX_WRITE_ENTRIES) {
    assert(Number.isSafeInteger(maxEntries) && maxEntries >= WRITE_EPOCH_WAYS && floor >= 0n && floor <= MAX_EPOCH, 'write epochs have room for a bucket and a non-negative floor', { maxEntries, floor: String(floor) });
    assert(PUNCHES_AT + WRITE_EPOCH_WAYS <= BUCKET_U64 && 3 * WRITE_EPOCH_WAYS <= 2 * FORGOT_AT, 'a bucket holds its slots');
    this.maxBuckets = Math.floor(maxEntries / WRITE_EPOCH_WAYS);
    // (it starts small and doubles: memory follows the keys held; a bound that does not halve
    // exactly to a small table is allocated whole)
    let b = this.maxBuckets;
    while (b % 2 === 0 && b / 2 >= MIN_TABLE_BUCKETS) b /= 2;
    this.buckets = 0;
    this.allocate(b);
    randomFillSync(this.seeds);
  }

  /**
   * A write at `epoch` of the object `unit` of `cont` (dkey `dk` undefined), of its dkey `dk`
   * (`ak` undefined) or of an akey; `punch` for punches.
   */
  record(cont: string, unit: string, dk: string | undefined, ak: string | undefined, epoch: bigint, punch: boolean): void {
    if (epoch > MAX_EPOCH) epoch = MAX_EPOCH;
    let cw = this.conts.get(cont);
    if (cw === undefined) { cw = new ContainerW(this.conts.size + 1); this.conts.set(cont, cw); }
    if (epoch > cw.e) cw.e = epoch;
    if (punch) this.punched = true;
    if (this.old !== undefined) this.moveBuckets(MOVE_BUCKETS_PER_RECORD);
    this.hashLevels(cw.id, unit, dk, ak);
    const h = this.h;
    this.raise(h[0]!, h[1]!, h[2]!, epoch, punch && dk === undefined);
    if (dk === undefined) return;
    this.raise(h[3]!, h[4]!, h[5]!, epoch, punch && ak === undefined);
    if (ak === undefined) return;
    this.raise(h[6]!, h[7]!, h[8]!, epoch, false); // (an akey's punch is a write of it: nothing below it to hide)
  }

  /** The newest write a read or write of the object (`dk` undefined), dkey (`ak` undefined) or akey conflicts with. */
  lastWrite(cont: string, unit: string, dk?: string, ak?: string): bigint {
    let last = this.floor;
    const cw = this.conts.get(cont);
    if (cw === undefined) return last; // (nothing of the container was ever recorded)
    this.hashLevels(cw.id, unit, dk, ak);
    const h = this.h;
    if (dk === undefined) return max(last, this.epochOf(h[0]!, h[1]!, h[2]!, WRITES_AT));
    // (the punches above the key: none to find while nothing was punched or forgotten)
    const above = this.punched || this.forgetting;
    if (above) last = max(last, this.epochOf(h[0]!, h[1]!, h[2]!, PUNCHES_AT));
    if (ak === undefined) return max(last, this.epochOf(h[3]!, h[4]!, h[5]!, WRITES_AT));
    if (above) last = max(last, this.epochOf(h[3]!, h[4]!, h[5]!, PUNCHES_AT));
    return max(last, this.epochOf(h[6]!, h[7]!, h[8]!, WRITES_AT));
  }

  /** The newest write anywhere in container `cont` (the floor when none is known). */
  lastInContainer(cont: string): bigint {
    const e = this.conts.get(cont)?.e;
    return e !== undefined && e > this.floor ? e : this.floor;
  }

  /** Entries held (objects + dkeys + akeys; tests and stats). */
  get size(): number { return this.count; }

  /** Bytes of the table now, the old one included while the table doubles (tests and stats). */
  get tableBytes(): number { return (this.buckets + (this.old?.buckets ?? 0)) * BUCKET_BYTES; }

  /** Buckets of the old table still to move while the table doubles; 0 otherwise (tests and stats). */
  get bucketsToMove(): number { return this.old === undefined ? 0 : this.old.buckets - this.moveAt; }

  /** Raise the key hashed (a, b, c) to a write at `epoch` (and a punch of it, `punch`), entering it when new. */
  private raise(a: number, b: number, c: number, epoch: bigint, punch: boolean): void {
    let slot = this.find(a, b, c);
    // (while the table doubles, a key not moved yet moves now: from here on the new table holds it)
    if (slot < 0 && this.old !== undefined) {
      const o = this.findOld(a, b, c);
      if (o >= 0) slot = this.moveSlot(o);
      if (slot === -2) { this.raise(a, b, c, epoch, punch); return; } // (the table grew again meanwhile)
    }
    const u64 = this.u64;
    if (slot >= 0) {
      const w = this.slotWord(slot, WRITES_AT), p = this.slotWord(slot, PUNCHES_AT);
      if (epoch > u64[w]!) u64[w] = epoch;
      if (punch && epoch > u64[p]!) u64[p] = epoch;
      return;
    }
    const home = this.bucketOf(a);
    let at = this.stop, forget = false;
    if (this.buckets === this.maxBuckets && (at < 0 || this.count >= this.limit)) {
      // (at the bound and as full as it may be: it takes the slot of the oldest write in its own bucket)
      at = home; forget = true;
    } else if (at < 0) {
      // (no free slot on its path below the bound: the table doubles, and nothing is forgotten)
      this.grow();
      this.raise(a, b, c, epoch, punch);
      return;
    }
    // (a key entering starts at what its path forgot: it may be one of those keys)
    const f = this.missFloor;
    const i = this.place(at, a, b, c, forget);
    u64[at * BUCKET_U64 + WRITES_AT + i] = epoch > f ? epoch : f;
    u64[at * BUCKET_U64 + PUNCHES_AT + i] = punch && epoch > f ? epoch : f;
    if (this.count > this.limit && this.buckets < this.maxBuckets) this.grow();
  }

  /**
   * The slot of the old table (while the table doubles) holding the key hashed (a, b, c) in a
   * bucket not moved yet, or -1. Leaves `stop` and `missFloor` (of the new table) as they were.
   */
  private findOld(a: number, b: number, c: number): number {
    const o = this.old!, u32 = o.u32, n = o.buckets;
    const steps = PATH_BUCKETS < n ? PATH_BUCKETS : n;
    let bucket = Math.floor((a >>> 0) * n / 4294967296);
    for (let step = 0; step < steps; step++) {
      const k0 = bucket * BUCKET_U32;
      for (let i = 0; i < WRITE_EPOCH_WAYS; i++) {
        const k = k0 + 3 * i, ka = u32[k]!, kb = u32[k + 1]!, kc = u32[k + 2]!;
        if (ka === a && kb === b && kc === c) return bucket >= this.moveAt ? bucket * WRITE_EPOCH_WAYS + i : -1;
        if ((ka | kb | kc) === 0) return -1;
      }
      bucket = bucket + 1 === n ? 0 : bucket + 1;
    }
    return -1;
  }

  /**
   * Move the key of old slot `o` (in a bucket not moved yet) into the new table, leaving a
   * tombstone (a table regrown at once places every key not moved, once); its slot there, or -2
   * when the new table had no room on its path and grew (every key placed again: ask again).
   */
  private moveSlot(o: number): number {
    const old = this.old!, ob = (o / WRITE_EPOCH_WAYS) | 0, i = o - ob * WRITE_EPOCH_WAYS, k = ob * BUCKET_U32 + 3 * i;
    const a = old.u32[k]!, b = old.u32[k + 1]!, c = old.u32[k + 2]!;
    const w = old.u64[ob * BUCKET_U64 + WRITES_AT + i]!, p = old.u64[ob * BUCKET_U64 + PUNCHES_AT + i]!;
    const placed = this.placeMoved(a, b, c, w, p);
    if (placed === -2) return -2;
    old.u32[k] = TOMBSTONE; old.u32[k + 1] = TOMBSTONE; old.u32[k + 2] = TOMBSTONE;
    return placed;
  }

  /**
   * Place a key moving from the old table (not in the new one) with its write `w` and punch `p`:
   * its slot, or -2 when its path held no free slot below the bound and the table grew again
   * (every key then placed again, this one included).
   */
  private placeMoved(a: number, b: number, c: number, w: bigint, p: bigint): number {
    const slot = this.placeKey(a, b, c, w, p);
    if (slot < 0) { this.regrow(); return -2; }
    this.count--; // (it was counted in the old table; `place` counted it again unless it forgot one)
    return slot;
  }

  /**
   * Place a key not held in this table with its write `w` and punch `p` on its path: its slot, or
   * -1 when the path holds no free slot and the table is below its bound (at the bound the key
   * takes a slot in its own bucket, as a new key would).
   */
  private placeKey(a: number, b: number, c: number, w: bigint, p: bigint): number {
    const held = this.find(a, b, c); // (its path: `stop`, where it goes)
    assert(held < 0, 'a key is held once');
    let at = this.stop;
    if (at < 0) {
      if (this.buckets < this.maxBuckets) return -1;
      at = this.bucketOf(a);
    }
    const j = this.place(at, a, b, c, false);
    this.u64[at * BUCKET_U64 + WRITES_AT + j] = w;
    this.u64[at * BUCKET_U64 + PUNCHES_AT + j] = p;
    return at * WRITE_EPOCH_WAYS + j;
  }

  /** Move up to `n` buckets of the old table (while the table doubles); the old table is dropped once all are. */
  private moveBuckets(n: number): void {
    const old = this.old!;
    const end = Math.min(old.buckets, this.moveAt + n);
    for (; this.moveAt < end; this.moveAt++) {
      const ob = this.moveAt;
      for (let i = 0; i < WRITE_EPOCH_WAYS; i++) {
        const k = ob * BUCKET_U32 + 3 * i, a = old.u32[k]!, b = old.u32[k + 1]!, c = old.u32[k + 2]!;
        if ((a | b | c) === 0) break; // (slots fill in order: none after an empty one)
        if (a === TOMBSTONE && b === TOMBSTONE && c === TOMBSTONE) continue;
        if (this.moveSlot(ob * WRITE_EPOCH_WAYS + i) === -2) return; // (regrown: nothing old is left)
      }
    }
    if (this.moveAt === old.buckets) this.old = undefined;
  }

  /**
   * The slot (bucket x WAYS + way) of the key hashed (a, b, c), or -1: then `stop` is the bucket
   * its path ended at (-1: none free within PATH_BUCKETS) and `missFloor` the highest floor on it.
   * A key is held on its path, the buckets from its own on, before the first bucket with a free
   * slot (slots fill in order and are never emptied, so no key lies past one).
   */
  private find(a: number, b: number, c: number): number {
    const u32 = this.u32, n = this.buckets, first = this.bucketOf(a);
    const steps = PATH_BUCKETS < n ? PATH_BUCKETS : n;
    let bucket = first, step = 0;
    search: for (; step < steps; step++) {
      const k0 = bucket * BUCKET_U32;
      for (let i = 0; i < WRITE_EPOCH_WAYS; i++) {
        const k = k0 + 3 * i, ka = u32[k]!, kb = u32[k + 1]!, kc = u32[k + 2]!;
        if (ka === a && kb === b && kc === c) return bucket * WRITE_EPOCH_WAYS + i;
        if ((ka | kb | kc) === 0) break search;
      }
      bucket = bucket + 1 === n ? 0 : bucket + 1;
    }
    this.stop = step < steps ? bucket : -1;
    // (the floors on the path, only once the table forgets: none is above zero before)
    let floor = 0n;
    if (this.forgetting) {
      const u64 = this.u64;
      for (let j = 0, x = first; j <= step && j < steps; j++, x = x + 1 === n ? 0 : x + 1) {
        const f = u64[x * BUCKET_U64 + FORGOT_AT]!;
        if (f > floor) floor = f;
      }
    }
    this.missFloor = floor;
    return -1;
  }

  /**
   * Put the key hashed (a, b, c) in bucket `bucket`: its first free slot, or (`forget`, or the
   * bucket full) the slot of its oldest write, forgotten into the bucket's floor. The way.
   */
  private place(bucket: number, a: number, b: number, c: number, forget: boolean): number {
    const u32 = this.u32, u64 = this.u64, k0 = bucket * BUCKET_U32, w0 = bucket * BUCKET_U64 + WRITES_AT;
    let i = 0, oldest = 0;
    for (; i < WRITE_EPOCH_WAYS; i++) {
      const k = k0 + 3 * i;
      if ((u32[k]! | u32[k + 1]! | u32[k + 2]!) === 0) break;
      // (the oldest by the writes' high words: no 64-bit loads; the floor below takes the exact write)
      if (u32[2 * (w0 + i) + 1]! < u32[2 * (w0 + oldest) + 1]!) oldest = i;
    }
    if (i === WRITE_EPOCH_WAYS || (forget && i > 0)) {
      i = oldest;
      const fi = bucket * BUCKET_U64 + FORGOT_AT, w = u64[w0 + i]!;
      if (w > u64[fi]!) u64[fi] = w;
      this.forgetting = true;
    } else {
      this.count++;
    }
    const k = k0 + 3 * i;
    u32[k] = a; u32[k + 1] = b; u32[k + 2] = c;
    return i;
  }

  /** The u64 index of slot `slot`'s write (`at` WRITES_AT) or punch (PUNCHES_AT). */
  private slotWord(slot: number, at: number): number {
    const bucket = (slot / WRITE_EPOCH_WAYS) | 0;
    return bucket * BUCKET_U64 + at + (slot - bucket * WRITE_EPOCH_WAYS);
  }

  /** The write (`at` WRITES_AT) or punch (PUNCHES_AT) epoch of the key hashed (a, b, c); the highest floor on its path when it is not held. */
  private epochOf(a: number, b: number, c: number, at: number): bigint {
    const slot = this.find(a, b, c);
    if (slot >= 0) return this.u64[this.slotWord(slot, at)]!;
    const floor = this.missFloor;
    if (this.old === undefined) return floor;
    // (while the table doubles: a key not moved yet answers from the old table)
    const o = this.findOld(a, b, c);
    if (o < 0) return floor;
    const e = this.old.u64[this.slotWord(o, at)]!;
    return e > floor ? e : floor;
  }

  /** A zeroed table of `buckets` buckets (on huge pages where the addon can map them: a probe's page is then in the TLB far more often). */
  private allocate(buckets: number): void {
    const bytes = buckets * BUCKET_BYTES;
    const table = bytes >= HUGE_TABLE_BYTES ? nativeAddon()?.allocTable?.(bytes) ?? new ArrayBuffer(bytes) : new ArrayBuffer(bytes);
    this.buckets = buckets;
    this.u32 = new Uint32Array(table);
    this.u64 = new BigUint64Array(table);
    this.limit = Math.floor(buckets * WRITE_EPOCH_WAYS * (buckets < this.maxBuckets ? GROW_LOAD : HOME_ONLY_LOAD));
  }

  /**
   * Double the table (below its bound, before anything was forgotten): the keys move to the new
   * one a few buckets per `record` (`moveBuckets`), the old one answering those not moved yet. A
   * doubling still under way when the table must double again is finished first.
   */
  private grow(): void {
    assert(!this.forgetting && this.buckets * 2 <= this.maxBuckets, 'a table doubles only below its bound, before it forgets');
    // (the caller asks again: the moved keys may have left room, else the next ask doubles)
    if (this.old !== undefined) { this.moveBuckets(this.old.buckets); return; }
    this.old = { buckets: this.buckets, u32: this.u32, u64: this.u64 };
    this.moveAt = 0;
    this.allocate(this.buckets * 2);
  }

  /**
   * The table doubled, and even so a key's path in it holds no free slot (below the bound): every
   * key, of this table and those the old one still holds, is placed again at once in a table
   * doubled again (and again, should a path still be full). Rare (a run of 32 full buckets at
   * most 70% full); it stalls as a doubling used to.
   */
  private regrow(): void {
    const sources: Array<{ buckets: number; u32: Uint32Array; u64: BigUint64Array; from: number }> = [{ buckets: this.buckets, u32: this.u32, u64: this.u64, from: 0 }];
    if (this.old !== undefined) sources.push({ ...this.old, from: this.moveAt });
    this.old = undefined;
    const held = this.count;
    for (let size = this.buckets * 2; ; size *= 2) {
      this.allocate(Math.min(size, this.maxBuckets));
      this.count = 0;
      if (sources.every((src) => this.placeAll(src.buckets, src.u32, src.u64, src.from))) break;
    }
    assert(this.count === held || this.forgetting, 'every key is placed again', { held, count: this.count });
  }

  /** Place every key of a table (`oldBuckets`, `o32`, `o64`) from bucket `from` on in this one; false when one found no free slot on its path (never at the bound). */
  private placeAll(oldBuckets: number, o32: Uint32Array, o64: BigUint64Array, from: number): boolean {
    for (let ob = from; ob < oldBuckets; ob++) {
      for (let i = 0; i < WRITE_EPOCH_WAYS; i++) {
        const k = ob * BUCKET_U32 + 3 * i, a = o32[k]!, b = o32[k + 1]!, c = o32[k + 2]!;
        if ((a | b | c) === 0) break;
        if (a === TOMBSTONE && b === TOMBSTONE && c === TOMBSTONE) continue;
        if (this.placeKey(a, b, c, o64[ob * BUCKET_U64 + WRITES_AT + i]!, o64[ob * BUCKET_U64 + PUNCHES_AT + i]!) < 0) return false;
      }
    }
    return true;
  }

  /** The bucket of a key whose first hash word is `a` (its high bits pick it: a range map, no division). */
  private bucketOf(a: number): number { return Math.floor((a >>> 0) * this.buckets / 4294967296); }

  /**
   * Hash the levels of (container `id`, `unit`, `dk`, `ak`) into `h`: three words for the object,
   * then (when named) the dkey and the akey, each level's words continuing the one above it.
   */
  private hashLevels(id: number, unit: string, dk: string | undefined, ak: string | undefined): void {
    // (the key just hashed again: an engine checks a write against the table, then records it)
    if (id === this.hashedId && unit === this.hashedUnit && dk === this.hashedDk && ak === this.hashedAk) return;
    this.hashedId = id; this.hashedUnit = unit; this.hashedDk = dk; this.hashedAk = ak;
    const sd = this.seeds;
    this.x = sd[0]! ^ Math.imul(id, 0x9e3779b1); this.y = sd[1]! ^ Math.imul(id, 0x85ebca77); this.z = sd[2]! ^ Math.imul(id, 0xc2b2ae3d);
    this.feed(unit, 0, LEVEL_OBJECT);
    if (dk === undefined) return;
    this.feed(dk, 3, LEVEL_DKEY);
    if (ak !== undefined) this.feed(ak, 6, LEVEL_AKEY);
  }

  /** Continue the running hash words with the text of one level, and store that level's words at `h[at..at+3)`. */
  private feed(t: string, at: number, level: number): void {
    let x = this.x, y = this.y, z = this.z;
    for (let i = 0; i < t.length; i++) {
      const ch = t.charCodeAt(i);
      x = Math.imul(x ^ ch, 0x01000193); y = Math.imul(y ^ ch, 0x5bd1e995); z = Math.imul(z ^ ch, 0x27d4eb2f);
      y ^= y >>> 15; z ^= z >>> 13;
    }
    x ^= t.length; y ^= t.length; z ^= t.length;
    this.x = x; this.y = y; this.z = z;
    const h = this.h;
    h[at] = fmix32(x ^ level); h[at + 1] = fmix32(y ^ level); h[at + 2] = fmix32(z ^ level);
    if ((h[at]! | h[at + 1]! | h[at + 2]!) === 0) h[at + 2] = 1; // (all zero marks an empty slot)
    else if (h[at] === TOMBSTONE && h[at + 1] === TOMBSTONE && h[at + 2] === TOMBSTONE) h[at + 2] = TOMBSTONE - 1; // (all ones: a moved key's old slot)
  }
}

function max(a: bigint, b: bigint): bigint { return a > b ? a : b; }
