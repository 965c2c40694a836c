/**
 * The published commits a container keeps for `watch()` (and the journal's compaction), stored
 * flat: epochs in a typed ring, each commit's objects as its one object id (the common case) or
 * its array. A `CommitEvent` object is made only when one is read (a watcher, a compaction), so
 * a stream of small puts keeps no event object, objects array or epoch BigInt alive per commit:
 * those lived for MAX_WATCH_HISTORY commits, long enough for the scavenger to copy each into the
 * old generation. A commit's one object id is kept as its two 64-bit halves in typed rings too
 * (its BigInt, the put's own, then dies young: the ring was what kept it alive).
 */
import type { CommitEvent } from './storage.js';
import { assert } from '../../core/errors.js';

/** Objects of one commit: its one object id, or every id (several objects). */
export type CommitObjects = bigint | readonly bigint[];

/** Object ids are below 2^128 (96 user bits under the 32 bits of type, class and groups). */
const OID_LIMIT = 1n << 128n;
/** Slots of a new history's ring (it doubles up to its capacity as commits arrive). */
const INITIAL_SLOTS = 1024;

/** The newest `capacity` published commits, oldest first, ascending by epoch. */
export class CommitHistory {
  private epochs: BigUint64Array;
  /** A commit's one object id, as its high and low 64 bits (when `objs` holds undefined for it). */
  private oidHi: BigUint64Array;
  private oidLo: BigUint64Array;
  /** A commit's object ids when it has several; undefined for a commit of one object (`oidHi`/`oidLo`). */
  private objs: Array<readonly bigint[] | undefined>;
  /** Index of the oldest commit in the ring. */
  private head = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    const n = Math.min(capacity, INITIAL_SLOTS);
    this.epochs = new BigUint64Array(n);
    this.oidHi = new BigUint64Array(n);
    this.oidLo = new BigUint64Array(n);
    this.objs = new Array(n).fill(undefined);
  }

  /** Commits held. */
  get length(): number { return this.count; }

  /** Add the newest commit (epochs ascend); the oldest is dropped once `capacity` are held. */
  push(epoch: bigint, objects: CommitObjects): void {
    let slots = this.epochs.length;
    if (this.count === slots && slots < this.capacity) { this.grow(Math.min(this.capacity, slots * 2)); slots = this.epochs.length; }
    let at = this.head + this.count;
    if (at >= slots) at -= slots;
    this.epochs[at] = epoch;
    if (typeof objects === 'bigint') {
      if (!(objects >= 0n && objects < OID_LIMIT)) assert(false, 'object ids are unsigned 128-bit', { oid: String(objects) });
      this.oidHi[at] = objects >> 64n;
      this.oidLo[at] = objects; // (a BigUint64Array stores the low 64 bits)
      this.objs[at] = undefined;
    } else this.objs[at] = objects;
    if (this.count < slots) this.count++;
    else if (++this.head === slots) this.head = 0; // (full: the oldest was overwritten)
  }

  /** Add an event (read back as an equal event, not the same object). */
  pushEvent(ev: CommitEvent): void { this.push(ev.epoch, ev.objects.length === 1 ? ev.objects[0]! : ev.objects); }

  /** Epoch of the `i`-th oldest commit. */
  epochAt(i: number): bigint { return this.epochs[this.slot(i)]!; }

  /** The `i`-th oldest commit as an event (a new object). */
  at(i: number): CommitEvent {
    const s = this.slot(i);
    const o = this.objs[s];
    return { epoch: this.epochs[s]!, objects: o === undefined ? [(this.oidHi[s]! << 64n) | this.oidLo[s]!] : [...o] };
  }

  /** Index of the oldest commit above `epoch`; -1 when none is. */
  firstAfter(epoch: bigint): number {
    let lo = 0, hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.epochAt(mid) > epoch) hi = mid; else lo = mid + 1;
    }
    return lo < this.count ? lo : -1;
  }

  /** The newest `n` commits (every one when `n` is absent), oldest first, as events. */
  tail(n = this.count): CommitEvent[] {
    const k = Math.min(n, this.count);
    const out: CommitEvent[] = new Array(k);
    for (let i = 0; i < k; i++) out[i] = this.at(this.count - k + i);
    return out;
  }

  private slot(i: number): number {
    const s = this.head + i;
    return s >= this.epochs.length ? s - this.epochs.length : s;
  }

  /** Copy into a ring of `slots` (oldest first at 0). */
  private grow(slots: number): void {
    const e = new BigUint64Array(slots), hi = new BigUint64Array(slots), lo = new BigUint64Array(slots);
    const o: Array<readonly bigint[] | undefined> = new Array(slots).fill(undefined);
    for (let i = 0; i < this.count; i++) { const s = this.slot(i); e[i] = this.epochs[s]!; hi[i] = this.oidHi[s]!; lo[i] = this.oidLo[s]!; o[i] = this.objs[s]; }
    this.epochs = e;
    this.oidHi = hi;
    this.oidLo = lo;
    this.objs = o;
    this.head = 0;
  }
}
