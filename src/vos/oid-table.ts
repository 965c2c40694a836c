/**
 * A hash table keyed by unit object ids (bigints in [0, 2^192)): the objects of a memtable
 * container. A `Map` keyed by the ids hashes only their low 64 bits (ids alike there share a
 * bucket: see core/big-id-map.ts), and mixing the high bits in first costs four BigInts per
 * lookup. Here an id is read into six 32-bit words once (one BigInt for ids of up to 128 bits),
 * hashed with integer arithmetic, and compared word by word against keys kept flat in a typed
 * array; one `OidKey` serves the lookups of every memtable a read walks.
 */
import { assert } from '../../core/errors.js';

/** Words of an id (192 bits). */
const WORDS = 6;
/** Slots of an empty table (a power of two). */
const START_SLOTS = 16;
/** Most entries a size hint sizes a new table for (beyond, it grows as it fills). */
const MAX_HINT_ENTRIES = 1 << 20;
const TWO_64 = 1n << 64n;
const TWO_128 = 1n << 128n;

/** An id read into words and hashed, for lookups (`OidTable.getKey`) and inserts (`setKey`). */
export class OidKey {
  readonly words = new Uint32Array(WORDS);
  /**
   * The words as 24 bytes: the id little-endian, low 64 bits first (the log record's oid field:
   * `WalEncoder.update` copies these instead of splitting the id into BigInts again).
   */
  readonly bytes = new Uint8Array(this.words.buffer);
  private readonly view = new DataView(this.words.buffer);
  /** 32-bit hash of the words (every bit of the id reaches every bit of it). */
  hash = 0;
  /** The id the words hold (the replicas of a put read the same id in turn: read once). */
  private last: bigint | undefined = undefined;

  /** Read `oid` (a bigint in [0, 2^192)) into this key. */
  of(oid: bigint): this {
    if (oid === this.last) return this;
    this.last = oid;
    const v = this.view;
    // setBigUint64 keeps the low 64 bits of what it is given: no masks to allocate
    v.setBigUint64(0, oid, true);
    if (oid < TWO_64) { v.setUint32(8, 0); v.setUint32(12, 0); v.setUint32(16, 0); v.setUint32(20, 0); }
    else {
      const hi = oid >> 64n;
      v.setBigUint64(8, hi, true);
      if (oid < TWO_128) { v.setUint32(16, 0); v.setUint32(20, 0); } else v.setBigUint64(16, hi >> 64n, true);
    }
    const w = this.words;
    let h = 0x9e3779b9;
    for (let i = 0; i < WORDS; i++) {
      h = Math.imul(h ^ w[i]!, 0x85ebca6b);
      h ^= h >>> 15;
    }
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    this.hash = h ^ (h >>> 16);
    return this;
  }
}

/** A scratch key for the one-shot `get` (used and dropped within the call). */
const scratch = new OidKey();

/**
 * Ids to values, in insertion order; no deletes (a memtable only grows until it is dropped).
 * Open addressing with linear probing, at most half full.
 */
export class OidTable<V> {
  /** Entry index + 1 per slot (0: free). */
  private slots: Int32Array;
  /** Words of entry i at [i * WORDS, (i + 1) * WORDS). */
  private keys: Uint32Array;
  private hashes: Int32Array;
  /** Values by entry; `undefined`: an entry added with none, made by `fill` when first read. */
  private readonly vals: Array<V | undefined> = [];

  /**
   * `expect`: ids it will likely hold (the size its predecessor reached): sized for them at once,
   * instead of growing and rehashing through every doubling on the way. `fill`: makes the value
   * of an entry added with none (`addAt(.., undefined)`) the first time it is read, and the table
   * keeps it: a memtable's solo nodes are kept as columns until read (memtable.ts `SoloCols`).
   */
  constructor(expect = 0, private readonly fill?: (e: number) => V) {
    assert(Number.isSafeInteger(expect) && expect >= 0, 'oid table size hint', { expect });
    // as large as growing to `expect` entries would have made it (an empty one: START_SLOTS of each)
    let slots = START_SLOTS;
    while (slots < 2 * expect && slots < 2 * MAX_HINT_ENTRIES) slots *= 2;
    const entries = Math.max(START_SLOTS, slots / 2);
    this.slots = new Int32Array(slots);
    this.keys = new Uint32Array(entries * WORDS);
    this.hashes = new Int32Array(entries);
  }

  get size(): number { return this.vals.length; }

  /**
   * The id of entry `i` (i < size), made from its words (a memtable's solo nodes keep no id of
   * their own: `SoloObj.oid`). A new bigint per call.
   */
  oidAt(i: number): bigint {
    const K = this.keys, o = i * WORDS;
    const dv = this.keysView.buffer === K.buffer ? this.keysView : (this.keysView = new DataView(K.buffer));
    const lo = dv.getBigUint64(o * 4, true);
    if (K[o + 2] === 0 && K[o + 3] === 0 && K[o + 4] === 0 && K[o + 5] === 0) return lo;
    const mid = dv.getBigUint64(o * 4 + 8, true);
    if (K[o + 4] === 0 && K[o + 5] === 0) return (mid << 64n) | lo;
    return (dv.getBigUint64(o * 4 + 16, true) << 128n) | (mid << 64n) | lo;
  }
  /** A view of `keys`' buffer (`oidAt`), made again when `keys` grew. */
  private keysView: DataView = new DataView(new ArrayBuffer(0));

  /** The hash of entry `i` (i < size), as `OidKey.hash` had it. */
  hashAt(i: number): number { return this.hashes[i]!; }

  /** The value of `oid`. */
  get(oid: bigint): V | undefined { return this.getKey(scratch.of(oid)); }

  /** The value of the id `k` holds. */
  getKey(k: OidKey): V | undefined {
    const e = this.find(k);
    if (e < 0) return undefined;
    const v = this.vals[e];
    return v !== undefined ? v : this.filled(e);
  }

  /** The value `fill` makes for entry `e`, kept (undefined when the table has no `fill`). */
  private filled(e: number): V | undefined {
    if (this.fill === undefined) return undefined;
    const v = this.fill(e);
    this.vals[e] = v;
    return v;
  }

  /** Set the value of the id `k` holds (added at the end of the order when new). */
  setKey(k: OidKey, v: V): void {
    const e = this.find(k);
    if (e >= 0) { this.vals[e] = v; return; }
    this.addAt(k, e, v);
  }

  /**
   * The entry index of `k`'s id (>= 0), or where it would go (< 0: pass it to `addAt`): a lookup
   * that inserts when it misses probes once.
   */
  lookup(k: OidKey): number { return this.find(k); }

  /** The value of entry `e` (a `lookup` result >= 0). */
  valueAt(e: number): V {
    const v = this.vals[e];
    return v !== undefined ? v : this.filled(e)!;
  }

  /** Replace the value of entry `e` (a `lookup` result >= 0; its place in the order is kept). */
  setAt(e: number, v: V): void {
    assert(e >= 0 && e < this.vals.length, 'oid table: setAt of no entry', { e });
    this.vals[e] = v;
  }

  /**
   * Add the id `k` holds, absent, with value `v`; `missed`: what `lookup(k)` answered, with no
   * insert since (the free slot it found).
   */
  addAt(k: OidKey, missed: number, v: V | undefined): void {
    assert(missed < 0, 'oid table: addAt of an id it holds');
    const at = -1 - missed;
    const i = this.vals.length;
    if ((i + 1) * WORDS > this.keys.length) this.growEntries();
    const K = this.keys, w = k.words, o = i * WORDS; // (six stores: a `set` call costs more)
    K[o] = w[0]!; K[o + 1] = w[1]!; K[o + 2] = w[2]!; K[o + 3] = w[3]!; K[o + 4] = w[4]!; K[o + 5] = w[5]!;
    this.hashes[i] = k.hash;
    this.vals.push(v);
    this.slots[at] = i + 1;
    if (2 * this.vals.length > this.slots.length) this.rehash();
  }

  /**
   * Loads the slot a lookup of `k` probes first and returns its word (a batch of reads calls this
   * for each read in a tight loop, then `touchEntry`, so their cache misses overlap: see
   * reads.ts `prefetchSlots`). Changes nothing.
   */
  touchSlot(k: OidKey): number {
    return this.slots[k.hash & (this.slots.length - 1)]!;
  }

  /**
   * Loads what a lookup of `k` reads after its first slot when that slot holds an entry: the
   * entry's hash, its first key word and its value's first field (`probe` reads it from the
   * value). Returns a number made of them (to be summed, so the loads are not dropped).
   */
  touchEntry(k: OidKey, probe: (v: V) => number): number {
    const e = this.slots[k.hash & (this.slots.length - 1)]! - 1;
    if (e < 0) return 0;
    const v = this.vals[e];
    return this.hashes[e]! ^ this.keys[e * WORDS]! ^ (v !== undefined ? probe(v) : 0);
  }

  /** Values in insertion order (every entry's made by `fill` first). */
  values(): IterableIterator<V> {
    if (this.fill !== undefined) for (let e = 0; e < this.vals.length; e++) if (this.vals[e] === undefined) this.filled(e);
    return (this.vals as V[]).values();
  }

  /** The entry index of `k`'s id, or -1 - (the free slot where it would go). */
  private find(k: OidKey): number {
    const mask = this.slots.length - 1;
    const h = k.hash; const w = k.words; const K = this.keys;
    for (let s = h & mask, probes = 0; ; s = (s + 1) & mask, probes++) {
      assert(probes <= mask, 'oid table has no free slot');
      const e = this.slots[s]! - 1;
      if (e < 0) return -1 - s;
      if (this.hashes[e] !== h) continue;
      const o = e * WORDS;
      if (K[o] === w[0] && K[o + 1] === w[1] && K[o + 2] === w[2] && K[o + 3] === w[3] && K[o + 4] === w[4] && K[o + 5] === w[5]) return e;
    }
  }

  private growEntries(): void {
    const keys = new Uint32Array(this.keys.length * 2); keys.set(this.keys); this.keys = keys;
    const hashes = new Int32Array(this.hashes.length * 2); hashes.set(this.hashes); this.hashes = hashes;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.vals.length; e++) {
      let s = this.hashes[e]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.slots = slots;
  }
}
