/**
 * The pool's cache of object layouts: a two-way set-associative table of `LAYOUT_CACHE_SLOTS`
 * slots indexed by a hash of the object id's low 96 bits (its user part).
 *
 * Why not a Map: a `Map` keyed by BigInts costs a mix of the id (V8 hashes a BigInt by its lowest
 * digit only) and a runtime hash per lookup and per insert, and a bounded one must evict: clearing
 * it when full (the old cache) made every working set larger than its size miss on every get
 * (each miss one placement call, about as much CPU as the rest of a small get's object layer).
 * Here a lookup is two BigInt steps and a compare, an insert overwrites one slot (the older of the
 * two of its set), and memory is bounded by the slot count. Entries are the layout records
 * themselves (they carry their oid), so nothing else is kept per slot.
 */
import type { ObjectLayout } from '../container/runtime.js';
import { assert } from '../../core/errors.js';

/** Slots of the layout cache (a power of two; at most this many layouts kept, ~150 bytes each with their groups). */
export const LAYOUT_CACHE_SLOTS = 65_536;

/** A fixed-size layout cache keyed by object id (see the module comment). */
export class LayoutCache {
  private readonly slots: Array<(ObjectLayout & { oid: bigint }) | undefined>;
  private readonly mask: number;

  /** `slots`: a power of two, at least 2. */
  constructor(slots = LAYOUT_CACHE_SLOTS) {
    assert(Number.isInteger(slots) && slots >= 2 && slots <= 2 ** 30 && (slots & (slots - 1)) === 0, 'layout cache slots are a power of two', { slots });
    this.slots = new Array(slots).fill(undefined);
    this.mask = (slots - 1) & ~1;
  }

  /** The first slot of `oid`'s set: its low 96 bits folded to 32 (names hash to ids random there; sequential ids fill sets in turn). */
  private setOf(oid: bigint): number {
    const lo = Number(BigInt.asUintN(48, oid));
    const hi = Number(BigInt.asUintN(48, oid >> 48n));
    const h = (lo % 4294967296) ^ Math.imul((lo / 4294967296) | 0, 0x9e3779b1) ^ Math.imul((hi % 4294967296) | 0, 0x85ebca6b) ^ ((hi / 4294967296) | 0);
    return ((h ^ (h >>> 15)) << 1) & this.mask;
  }

  /** The cached layout of `oid`, if any. */
  get(oid: bigint): ObjectLayout | undefined {
    const i = this.setOf(oid);
    const a = this.slots[i];
    if (a !== undefined && a.oid === oid) return a;
    const b = this.slots[i + 1];
    if (b !== undefined && b.oid === oid) {
      // the hit becomes the set's newer entry
      this.slots[i + 1] = a; this.slots[i] = b;
      return b;
    }
    return undefined;
  }

  /** Keep `l` (computed for `l.oid`) as its set's newer entry; the older one is dropped. */
  set(l: ObjectLayout & { oid: bigint }): void {
    const i = this.setOf(l.oid);
    const a = this.slots[i];
    if (a !== undefined && a.oid === l.oid) { this.slots[i] = l; return; }
    this.slots[i + 1] = a;
    this.slots[i] = l;
  }

  /** Forget every layout (the pool map changed). */
  clear(): void { this.slots.fill(undefined); }
}
