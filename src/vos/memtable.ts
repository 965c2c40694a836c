/**
 * The memtable: what the active log region holds, indexed in memory (container -> unit object ->
 * dkey -> akey -> versions and punches). Bounded by the log region it mirrors: when the region is
 * frozen the memtable is frozen with it and written out as a sorted run, then dropped.
 *
 * Every version and punch carries `(epoch, seq)`: the epoch it was written at and the log
 * sequence number, which orders them totally (at equal epochs the later operation wins).
 */
import { keyStr, type KeyMap } from './tree.js';
import { copyKey } from './keys.js';
import { OidKey, OidTable } from './oid-table.js';
import { Where, WalType, type WalRecord } from './wal.js';
import { sameBytes } from '../../core/bytes.js';
import { assert } from '../../core/errors.js';

/** A version of a single value or an array extent. */
export interface MemVersion {
  epoch: bigint;
  seq: number;
  /** xxh64 of the value bytes. */
  csum: bigint;
  /** Value length in bytes. */
  len: number;
  /** Wal: inline in the log at `loc`; Block: data file at `loc` (`alloc` bytes); Run: `inline` holds the bytes. */
  where: Where;
  loc: number;
  alloc: number;
  /** Array extents: first record, record count, record size (all 0 for single values). */
  index: number;
  count: number;
  recordSize: number;
  /** Value bytes of versions read from a run (copied out of the block). */
  inline?: Uint8Array;
  /**
   * Run-inline bytes that matched `csum` when they were written into the run: the run block's own
   * checksum has covered them since, so a read needs no second hash.
   */
  checked?: boolean;
}

/** A punch. */
export interface MemPunch { epoch: bigint; seq: number }

export interface MemAkey { key: Uint8Array; singles: MemVersion[]; extents: MemVersion[]; punches: MemPunch[] }
export interface MemDkey { key: Uint8Array; akeys: SmallMap<MemAkey>; punches: MemPunch[] }
export interface MemObject { oid: bigint; dkeys: SmallMap<MemDkey>; punches: MemPunch[] }

/**
 * The punches and extents of a node that has none: one shared, frozen empty array (most nodes
 * never get any; a memtable holds hundreds of thousands of nodes). Replaced on the first push.
 */
const NO_PUNCHES = Object.freeze([]) as unknown as MemPunch[];
const NO_VERSIONS = Object.freeze([]) as unknown as MemVersion[];


/** Entries a `SmallMap` holds before it keeps a byte index of them too (`getBytes` without a string). */
const BYTE_INDEX_MIN = 8;

/** Hash of a key's bytes for `SmallMap`'s byte index (FNV-1a, mixed). */
function keyBytesHash(k: Uint8Array): number {
  let h = 0x811c9dc5 ^ k.length;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k[i]!, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * What a `SmallMap` of two entries or more keeps beside its `Map`: the byte index (from
 * BYTE_INDEX_MIN entries: slots of `bv` index + 1, open addressing, 0 is empty; the values it names
 * in insertion order) and the values sorted by key (`sortedValues`, until the next `set`).
 */
interface ManyIndex<V> { bx: Int32Array | undefined; bv: V[] | undefined; sorted: V[] | undefined }

/**
 * A map from key strings to nodes holding its first entry inline: most objects of a memtable have
 * one dkey and most dkeys one akey, and a `Map` per node was the largest part of a memtable's heap.
 * Iterates in insertion order, as a `Map`.
 *
 * Every value's `key` holds the bytes its string names (`set(keyStr(v.key), v)`), so a node is also
 * found by the key's bytes (`getBytes`) with no string made: a compare of the inline entry's key,
 * or, from BYTE_INDEX_MIN entries, a probe of a hash index of the bytes (an update of one of an
 * object's 1,024 dkeys made a string and hashed it in a 1,024-entry `Map`).
 */
export class SmallMap<V extends { readonly key: Uint8Array }> implements KeyMap<V> {
  private k0: string | undefined;
  private v0: V | undefined;
  private m: Map<string, V> | undefined;
  /**
   * The byte index and the sorted values, apart (set with `m`): most nodes hold one entry, and each
   * field less on a node is 8 bytes less of every memtable node that survives until its flush.
   */
  private ix: ManyIndex<V> | undefined;
  get size(): number { return this.m ? this.m.size : this.k0 === undefined ? 0 : 1; }
  get(k: string): V | undefined {
    if (this.m) return this.m.get(k);
    return k === this.k0 ? this.v0 : undefined;
  }
  /** The value whose key has bytes `k` (as `get(keyStr(k))`, with no string made once indexed). */
  getBytes(k: Uint8Array): V | undefined {
    if (this.m === undefined) { const v = this.v0; return v !== undefined && sameBytes(v.key, k) ? v : undefined; }
    const bx = this.ix!.bx;
    if (bx === undefined) return this.m.get(keyStr(k));
    const bv = this.ix!.bv!, mask = bx.length - 1;
    for (let i = keyBytesHash(k) & mask; ; i = (i + 1) & mask) {
      const e = bx[i]!;
      if (e === 0) return undefined;
      const v = bv[e - 1]!;
      if (sameBytes(v.key, k)) return v;
    }
  }
  set(k: string, v: V): this {
    if (this.m) {
      const had = this.m.size;
      this.m.set(k, v);
      this.ix!.sorted = undefined;
      if (this.ix!.bx !== undefined) this.indexed(v, this.m.size === had);
      else if (this.m.size >= BYTE_INDEX_MIN) this.reindex();
    } else if (this.k0 === undefined || this.k0 === k) { this.k0 = k; this.v0 = v; }
    else {
      this.m = new Map([[this.k0, this.v0!], [k, v]]); this.k0 = undefined; this.v0 = undefined;
      this.ix = { bx: undefined, bv: undefined, sorted: undefined };
    }
    return this;
  }
  /** Note `v` in the byte index: a new entry, or (`replaced`) the value of a key held already. */
  private indexed(v: V, replaced: boolean): void {
    const bx = this.ix!.bx!, bv = this.ix!.bv!;
    const mask = bx.length - 1;
    let i = keyBytesHash(v.key) & mask;
    for (; bx[i] !== 0; i = (i + 1) & mask) if (sameBytes(bv[bx[i]! - 1]!.key, v.key)) { bv[bx[i]! - 1] = v; return; }
    if (replaced) { this.reindex(); return; } // (not found by its bytes: cannot happen while keys name their bytes)
    bv.push(v);
    bx[i] = bv.length;
    if (bv.length * 2 > bx.length) this.reindex();
  }
  /** Build the byte index of every value, at most half full. */
  private reindex(): void {
    const bv = [...this.m!.values()];
    let cap = 16;
    while (cap < bv.length * 4) cap *= 2;
    const bx = new Int32Array(cap), mask = cap - 1;
    for (let e = 0; e < bv.length; e++) {
      let i = keyBytesHash(bv[e]!.key) & mask;
      while (bx[i] !== 0) i = (i + 1) & mask;
      bx[i] = e + 1;
    }
    this.ix!.bx = bx; this.ix!.bv = bv;
  }
  /** The one value when it holds exactly one (no iterator). */
  only(): V | undefined { return this.m ? (this.m.size === 1 ? this.m.values().next().value : undefined) : this.v0; }
  values(): IterableIterator<V> {
    if (this.m) return this.m.values();
    return (this.k0 === undefined ? [] : [this.v0!]).values();
  }
  /**
   * The values in `cmp` order: kept until the next `set` for two or more; for one (most nodes), a
   * new one-element array each call (a flush asks once per node; nothing kept on the node).
   */
  sortedValues(cmp: (a: V, b: V) => number): V[] {
    if (this.m === undefined) return this.k0 === undefined ? [] : [this.v0!];
    const x = this.ix!;
    return x.sorted ??= [...this.m.values()].sort(cmp);
  }
}

/**
 * An object node that is its own dkey map (`dkeys` is the node): one heap object instead of two
 * per memtable object (a memtable holds hundreds of thousands; every one survives young-generation
 * collections until its flush, so each object fewer is copied twice less).
 */
class ObjNode extends SmallMap<MemDkey> implements MemObject {
  punches: MemPunch[] = NO_PUNCHES;
  constructor(readonly oid: bigint) { super(); }
  get dkeys(): SmallMap<MemDkey> { return this; }
}

/** A dkey node that is its own akey map (`akeys` is the node), as `ObjNode`. */
class DkeyNode extends SmallMap<MemAkey> implements MemDkey {
  punches: MemPunch[] = NO_PUNCHES;
  constructor(readonly key: Uint8Array) { super(); }
  get akeys(): SmallMap<MemAkey> { return this; }
}

/**
 * A new object's node while it holds one single value version of one dkey and one akey, and no
 * punch: one heap object where the tree takes five (object, dkey, akey, versions array, version).
 * Most objects of a small-put workload stay so until their flush, and every memtable node survives
 * the young-generation collections until then and is marked by every full collection while it
 * lives (the put row's GC share was memtable survivors, ~400 B per replica as a tree).
 *
 * The node is also its version (`MemVersion`: its own epoch, seq, checksum, place; no array
 * fields, `index`, `count` and `recordSize` are 0 from the prototype): `v` is the node itself
 * until a later single at its epoch replaces it in place (`v` then names that one; the node's own
 * version fields never change, so a reader holding it as a version reads what it read).
 *
 * Read through `MemObject` as any node: `dkeys` makes the usual tree (`ObjNode`) on its first read
 * and keeps it (`full`), so every reader sees one live tree from then on. The memtable's writes
 * turn it into that tree when it gets a second dkey, akey or version at another epoch, an array
 * extent or a punch, and put the tree in its table slot (the table has no deletes; a reader or
 * the sorted-node cache holding this node reads the tree through it). The hot paths (point read,
 * flush) read `v` straight while `full` is unset (`solo()`).
 */
export class SoloObj implements MemObject, MemVersion {
  /** The tree this node became (then the only state: `dkey`, `akey` and `v` are no longer read). */
  full: ObjNode | undefined = undefined;
  /** The one version: this node itself, or the single that replaced it at its epoch. */
  v: MemVersion;
  /** (From the prototype: 0, a single value's.) */
  declare readonly index: number;
  declare readonly count: number;
  declare readonly recordSize: number;
  /**
   * `table`, `at`: the object table the node is entry `at` of (it keeps the id's words: the node
   * keeps no bigint of its own, a third of what a put's replica left alive); `dkey`, `akey`: the
   * memtable's copies (shared for short keys); the rest: the fields of its version (`MemVersion`),
   * a single value's.
   */
  constructor(private readonly table: OidTable<MemObject>, private readonly at: number, readonly dkey: Uint8Array, readonly akey: Uint8Array,
    readonly epoch: bigint, readonly seq: number, readonly csum: bigint, readonly len: number, readonly where: Where, readonly loc: number, readonly alloc: number) {
    this.v = this;
  }
  /** The unit object id (made from the table's words: a new bigint per call, so read it once). */
  get oid(): bigint { return this.table.oidAt(this.at); }
  get punches(): MemPunch[] { return this.full === undefined ? NO_PUNCHES : this.full.punches; }
  get dkeys(): SmallMap<MemDkey> { return this.full ?? this.expand(); }
  /** The tree of this node, made on first call and kept. */
  expand(): ObjNode {
    if (this.full !== undefined) return this.full;
    const o = new ObjNode(this.oid);
    const d = new DkeyNode(this.dkey);
    d.set(keyStr(this.akey), { key: this.akey, singles: [this.v], extents: NO_VERSIONS, punches: NO_PUNCHES });
    o.set(keyStr(this.dkey), d);
    this.full = o;
    return o;
  }
}
// a single value's array fields, shared by every solo node (8 bytes less of each of three fields)
Object.defineProperties(SoloObj.prototype, { index: { value: 0 }, count: { value: 0 }, recordSize: { value: 0 } });

/** `o` as a solo node still holding its one version (`SoloObj`), or undefined (a tree, or a solo node that became one). */
export function solo(o: MemObject): SoloObj | undefined {
  return o instanceof SoloObj && o.full === undefined ? o : undefined;
}

/** Distinct short keys a memtable shares one copy of (`Memtable.keyCopy`); past it, keys are copied each time. */
const SHARED_KEYS_MAX = 1024;
/** Longest key (bytes) a memtable shares. */
const SHARED_KEY_MAX_BYTES = 32;

/** A key's copy and its string (`keyStr`), as a memtable shares them. */
interface SharedKey { s: string; k: Uint8Array }

/** Bits of a memtable container's object filter per object it holds, at least (one hash: ~6% of absent objects pass). */
const OBJECT_FILTER_BITS_PER_OBJECT = 16;
/** Bits of an empty container's object filter (a power of two, at least 32). */
const OBJECT_FILTER_MIN_BITS = 1024;
/** Most bits a size hint gives a new container's object filter (beyond, it is rebuilt as it fills). */
const OBJECT_FILTER_MAX_HINT_BITS = 1 << 24;
/** Odd multiplier spreading an id's hash over the filter's bit numbers (2^32 / golden ratio). */
const OBJECT_FILTER_MUL = 0x9e3779b1;

/** The key the memtable's own lookups and inserts read ids into (used and dropped within a call). */
const memKey = new OidKey();

/**
 * Whether new solo nodes are kept as columns (`SoloCols`; default) or made at once as before
 * (`CAIRN_VOS_SOLO_COLS=0`, read at load; `setSoloColumns`): for same-process A/Bs and a quiet
 * wall A/B.
 */
let soloColumns = process.env.CAIRN_VOS_SOLO_COLS !== '0';
/** Keep new solo nodes as columns (true) or make them at once (see `soloColumns`); returns the previous setting. */
export function setSoloColumns(on: boolean): boolean { const was = soloColumns; soloColumns = on; return was; }

/** Numbers per entry in `SoloCols.num`: seq, len, where, loc, alloc. */
const SOLO_NUMS = 5;
/** Entries `SoloCols` holds at least when first sized. */
const SOLO_COLS_MIN = 64;
/** The columns of a `SoloCols` before its first solo entry. */
const NO_STAMPS = new BigUint64Array(0);
const NO_NUMS = new Float64Array(0);
const NO_KEY_IDS = new Int32Array(0);
/** Distinct key copies a `SoloCols` looks up by identity (`keyId`); past them each entry's key is listed again. */
const SOLO_KEYS_MAPPED = 1024;

/**
 * The solo nodes of a memtable container that no one has read yet, as columns by object-table
 * entry (`SoloObj`'s fields: epoch and checksum in a `BigUint64Array`, the numbers in a
 * `Float64Array`, the shared key copies by their index in a list of the distinct ones): a put of a
 * new object leaves no heap object of its own in the memtable, nor a pointer the collector scans
 * (two arrays of key pointers, one slot each per entry, were ~90 bytes allocated per put as they
 * grew: heap sampling, /tmp/vos29/alloc.mjs). Every memtable node survived the young-generation collections
 * until its flush (each copied twice, and its checksum's BigInt with it); measured in one process,
 * puts of new 100 B objects with no node at all: main thread -8..12% CPU per put, process -13%,
 * bytes promoted per put 851 -> 623. The table makes an entry's `SoloObj` from them on its first
 * read (`OidTable` `fill`) and keeps it, so readers see one node per object as before. Epochs and
 * checksums are unsigned 64-bit values, as the log holds them.
 */
class SoloCols {
  /** Epoch and checksum of entry e at [2e, 2e + 1]. */
  stamps: BigUint64Array;
  /** seq, len, where, loc, alloc of entry e at [5e, 5e + 5). */
  num: Float64Array;
  /** The dkey's and akey's index in `keys` of entry e at [2e, 2e + 1] (only a solo entry's are set). */
  ids: Int32Array;
  /** The distinct key copies entries name (the memtable's shared copies: one object per key bytes). */
  readonly keys: Uint8Array[] = [];
  /** Index in `keys` of each copy (up to SOLO_KEYS_MAPPED of them), and the last two looked up. */
  private readonly keyIds = new Map<Uint8Array, number>();
  private lastD: Uint8Array | undefined = undefined;
  private lastDId = -1;
  private lastA: Uint8Array | undefined = undefined;
  private lastAId = -1;

  /** `expect`: entries the container will likely hold (the columns are sized for them on first use). */
  constructor(private readonly expect: number) {
    // (made on the first solo entry: a container of array objects, or of objects written again, needs none)
    this.stamps = NO_STAMPS;
    this.num = NO_NUMS;
    this.ids = NO_KEY_IDS;
  }

  /** Set entry `e`'s keys (`room(e)` first): the index of each copy in `keys`, listed on first sight. */
  setKeys(e: number, dkey: Uint8Array, akey: Uint8Array): void {
    let d = this.lastDId;
    if (dkey !== this.lastD) { d = this.keyId(dkey); this.lastD = dkey; this.lastDId = d; }
    let a = this.lastAId;
    if (akey !== this.lastA) { a = this.keyId(akey); this.lastA = akey; this.lastAId = a; }
    this.ids[2 * e] = d; this.ids[2 * e + 1] = a;
  }

  private keyId(k: Uint8Array): number {
    const id = this.keyIds.get(k);
    if (id !== undefined) return id;
    const n = this.keys.length;
    this.keys.push(k);
    if (n < SOLO_KEYS_MAPPED) this.keyIds.set(k, n);
    return n;
  }

  /**
   * Room for entry `e`. Entries come in order, but not all through here: objects added as trees
   * (a punch or an array extent first) take entries with no columns, so `e` may lie several
   * doublings past the columns' end (one doubling left it outside: typed arrays drop writes out of
   * range and read undefined, and the solo node made from them had no keys).
   */
  room(e: number): void {
    const have = this.stamps.length / 2;
    if (e < have) return;
    let n = have === 0 ? Math.max(SOLO_COLS_MIN, this.expect) : have * 2;
    while (n <= e) n *= 2;
    const stamps = new BigUint64Array(2 * n); stamps.set(this.stamps); this.stamps = stamps;
    const num = new Float64Array(SOLO_NUMS * n); num.set(this.num); this.num = num;
    const ids = new Int32Array(2 * n); ids.set(this.ids); this.ids = ids;
    assert(2 * (e + 1) <= this.stamps.length, 'the solo columns hold entry e', { e, entries: n });
  }
}

/** One container's part of the memtable. */
export class MemContainer {
  /** Keyed by unit object ids (`OidTable`: ids hashed by all their words, no BigInt per lookup beyond the id's high half). */
  readonly objects: OidTable<MemObject>;

  /** Solo nodes not yet made (see `SoloCols`). */
  private readonly cols: SoloCols;

  /** `expect`: objects it will likely hold (as many as this container's part of the memtable before). */
  constructor(expect = 0) {
    this.objects = new OidTable<MemObject>(expect, (e) => this.soloAt(e));
    this.cols = new SoloCols(expect);
    let bits = OBJECT_FILTER_MIN_BITS;
    while (bits < expect * OBJECT_FILTER_BITS_PER_OBJECT && bits < OBJECT_FILTER_MAX_HINT_BITS) bits *= 2;
    this.filter = new Int32Array(bits >>> 5);
    this.filterShift = 32 - Math.log2(bits);
  }
  /**
   * One bit per hash of each object's id (`mayHold`): a point read of an object this memtable
   * does not hold (most of them, in a store with runs) skips the table's probe and its key
   * compare. Rebuilt twice as large from the objects when they pass OBJECT_FILTER_BITS_PER_OBJECT
   * bits each (objects are never removed from a memtable).
   */
  private filter: Int32Array;
  /** 32 - log2(bits of the filter): a hash's top bits name its bit. */
  private filterShift: number;

  /** False when this container's part holds no object of the id `k` holds, true when it may (look it up). */
  mayHold(k: OidKey): boolean {
    const bit = this.filterBit(k.hash);
    return (this.filter[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** The filter's bit for an id of hash `hash`: the hash spread by OBJECT_FILTER_MUL, top bits kept. */
  private filterBit(hash: number): number {
    return Math.imul(hash, OBJECT_FILTER_MUL) >>> this.filterShift;
  }

  private noteObject(hash: number): void {
    if (this.objects.size * OBJECT_FILTER_BITS_PER_OBJECT > this.filter.length * 32) {
      const bits = this.filter.length * 64;
      this.filter = new Int32Array(bits >>> 5);
      this.filterShift = 32 - Math.log2(bits);
      for (let i = 0; i < this.objects.size; i++) this.setFilterBit(this.objects.hashAt(i)); // (the table keeps each id's hash)
      return; // (the new object is among them)
    }
    this.setFilterBit(hash);
  }

  private setFilterBit(hash: number): void {
    const bit = this.filterBit(hash);
    this.filter[bit >>> 5]! |= 1 << (bit & 31);
  }
  private sortedNodes: MemObject[] | undefined;
  private sortedOids: bigint[] | undefined;
  /**
   * This container's object-table entries (reads.ts `memObjectTable`), encoded and sorted once
   * and dropped with `oids()` at the next new object: a listing pages through them from its
   * position instead of encoding every object's key per page.
   */
  objectTable: Array<{ key: Uint8Array; value: Uint8Array }> | undefined;

  /**
   * Object nodes in ascending unit object id order (cached until the next new object): a flush
   * walks them without looking each id up again (a mix of the id and a hash lookup per object).
   */
  sortedObjects(): MemObject[] {
    if (!this.sortedNodes) {
      // each id read once (a solo node makes its id from the table's words), then sorted with its node
      const n = this.objects.size;
      const ids = new Array<bigint>(n);
      const order = new Array<number>(n);
      for (let i = 0; i < n; i++) { ids[i] = this.objects.oidAt(i); order[i] = i; }
      order.sort((x, y) => (ids[x]! < ids[y]! ? -1 : ids[x]! > ids[y]! ? 1 : 0));
      const a = new Array<MemObject>(n);
      const sortedIds = new Array<bigint>(n);
      for (let i = 0; i < n; i++) { a[i] = this.objects.valueAt(order[i]!); sortedIds[i] = ids[order[i]!]!; }
      this.sortedNodes = a;
      this.sortedOids = sortedIds;
    }
    return this.sortedNodes;
  }

  /** Unit object ids in ascending order (cached until the next new object). */
  oids(): bigint[] {
    if (!this.sortedOids) this.sortedObjects();
    return this.sortedOids!;
  }

  /**
   * The tree node of `oid` (a solo node becomes its tree, and the tree takes its slot), created
   * when absent. `key`: an `OidKey` holding `oid` already (the store read it once for the log record too).
   */
  tree(oid: bigint, key?: OidKey): ObjNode {
    const k = key ?? memKey.of(oid); // (once for the lookup and the insert of a new object)
    const objects = this.objects;
    const e = objects.lookup(k); // (one probe for the lookup and the insert)
    if (e >= 0) return this.treeAt(e);
    const o = new ObjNode(oid);
    this.add(k, e, o);
    return o;
  }

  /** The tree of entry `e` (a solo node there becomes its tree, which takes the slot). */
  treeAt(e: number): ObjNode {
    const o = this.objects.valueAt(e);
    if (o instanceof ObjNode) return o;
    const t = (o as SoloObj).expand();
    this.objects.setAt(e, t);
    return t;
  }

  /** Add a new object's node (`missed`: what `objects.lookup(k)` answered, with no insert since). */
  add(k: OidKey, missed: number, o: MemObject): void {
    this.objects.addAt(k, missed, o); // (its entry's columns are never read: the table holds its node)
    this.added(k.hash);
  }

  /**
   * Add a new object holding one single value version (a solo node, kept as columns until read:
   * `SoloCols`). `dkey`, `akey`: the memtable's copies; `missed` as for `add`.
   */
  addSolo(k: OidKey, missed: number, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, seq: number, csum: bigint, len: number, where: Where, loc: number, alloc: number): void {
    const cols = this.cols;
    const e = this.objects.size;
    cols.room(e);
    const st = cols.stamps, num = cols.num, n = SOLO_NUMS * e;
    st[2 * e] = epoch; st[2 * e + 1] = csum;
    num[n] = seq; num[n + 1] = len; num[n + 2] = where; num[n + 3] = loc; num[n + 4] = alloc;
    cols.setKeys(e, dkey, akey);
    this.objects.addAt(k, missed, undefined);
    this.added(k.hash);
  }

  /** The solo node of entry `e`, made from its columns (the object table keeps it: `OidTable` `fill`). */
  private soloAt(e: number): SoloObj {
    const c = this.cols, st = c.stamps, num = c.num, n = SOLO_NUMS * e;
    return new SoloObj(this.objects, e, c.keys[c.ids[2 * e]!]!, c.keys[c.ids[2 * e + 1]!]!, st[2 * e]!, num[n]!, st[2 * e + 1]!, num[n + 1]!, num[n + 2]! as Where, num[n + 3]!, num[n + 4]!);
  }

  private added(hash: number): void {
    this.noteObject(hash);
    this.sortedNodes = undefined;
    this.sortedOids = undefined;
    this.objectTable = undefined;
  }
}

/** Dkeys of an object in byte order (`SmallMap.sortedValues`: kept for two or more until the next new dkey). */
export function sortedDkeys(o: MemObject): MemDkey[] {
  return o.dkeys.sortedValues(byKey);
}

/** Akeys of a dkey in byte order (`SmallMap.sortedValues`: kept for two or more until the next new akey). */
export function sortedAkeys(d: MemDkey): MemAkey[] {
  return d.akeys.sortedValues(byKey);
}


/**
 * Byte order of nodes' keys, compared in JS: dkeys and akeys are short, and a call into
 * `Buffer.compare` cost twice the loop (sorting an object's 1,024 dkeys for a flush: 0.65 ms -> 0.3).
 */
function byKey(a: { key: Uint8Array }, b: { key: Uint8Array }): number {
  const x = a.key, y = b.key;
  const n = x.length < y.length ? x.length : y.length;
  for (let i = 0; i < n; i++) { const d = x[i]! - y[i]!; if (d !== 0) return d; }
  return x.length - y.length;
}

/** The memtable of one log region. */
export class Memtable {
  readonly conts = new Map<number, MemContainer>();
  /** Log bytes of the records it holds. */
  bytes = 0;
  /** Records applied. */
  records = 0;
  /** Upper bound of the run bytes its entries become when flushed (the store's space reserve). */
  runBound = 0;
  /** Smallest sequence number it holds (a full merge may forget only discards and destroys older than this). */
  minSeq = Number.MAX_SAFE_INTEGER;
  /** Punches it holds (an aggregation folds a memtable without punches straight into the runs). */
  punches = 0;
  /** Singles replaced by a later single at the same epoch (see `addVersion`). */
  superseded = 0;
  /** A caller waits for its flush (`flushAll`: an aggregation, a close): a worker takes it only if one is up. */
  waited = false;

  /**
   * Short dkeys and akeys it holds, one copy and one string each shared by every node with that key
   * (most objects of a workload use the same few akeys, often the same dkeys): bounded by
   * SHARED_KEYS_MAX.
   */
  private readonly shared = new Map<string, SharedKey>();

  /**
   * `expect`: objects per container a memtable before it held (the one it follows in the log):
   * each container's table and filter start at that size instead of doubling their way up.
   */
  constructor(readonly gen: number, private readonly expect?: ReadonlyMap<number, number>) {}

  /** Objects per container: the `expect` of the memtable that follows this one. */
  objectCounts(): Map<number, number> {
    const m = new Map<number, number>();
    for (const [cont, c] of this.conts) m.set(cont, c.objects.size);
    return m;
  }

  /**
   * The copy of key `k` (string `ks`) a new node keeps, and the string its parent's map keeps: the
   * shared ones for a short key (the caller's string then dies young).
   */
  private keyCopy(k: Uint8Array, ks: string): SharedKey {
    if (k.length > SHARED_KEY_MAX_BYTES) return { s: ks, k: copyKey(k) };
    let c = this.shared.get(ks);
    if (c === undefined) {
      c = { s: ks, k: copyKey(k) };
      if (this.shared.size < SHARED_KEYS_MAX) this.shared.set(ks, c);
    }
    return c;
  }

  /** The shared keys `sharedKey` gave last, for a new dkey (0) and a new akey (1). */
  private readonly lastShared: [SharedKey | undefined, SharedKey | undefined] = [undefined, undefined];

  /**
   * `keyCopy(k, keyStr(k))`, with no string and no map lookup when `k` has the bytes of the key
   * this gave last for the same `level` (0 dkey, 1 akey): new objects mostly take the dkey and
   * akey the one before took (a stream of new objects: a string and a lookup per node before).
   */
  private sharedKey(k: Uint8Array, level: 0 | 1): SharedKey {
    const last = this.lastShared[level];
    if (last !== undefined && sameBytes(last.k, k)) return last;
    const c = this.keyCopy(k, keyStr(k));
    if (k.length <= SHARED_KEY_MAX_BYTES) this.lastShared[level] = c; // (a longer key's copy is its node's own)
    return c;
  }

  /** The container part `container(.., true)` found or made last, and its index (writes go to one container at a time: no map lookup). */
  private lastCont: MemContainer | undefined = undefined;
  private lastContIdx = -1;

  container(cont: number, create: true): MemContainer;
  container(cont: number, create: boolean): MemContainer | undefined;
  container(cont: number, create: boolean): MemContainer | undefined {
    if (cont === this.lastContIdx) return this.lastCont;
    let c = this.conts.get(cont);
    if (!c && create) { c = new MemContainer(this.expect?.get(cont) ?? 0); this.conts.set(cont, c); }
    if (c !== undefined) { this.lastCont = c; this.lastContIdx = cont; } // (parts are never removed from a memtable)
    return c;
  }

  /** The akey node, created on demand. `key`: an `OidKey` holding `oid` already, if the caller has one. */
  akey(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, key?: OidKey): MemAkey {
    return this.akeyOf(this.container(cont, true).tree(oid, key), dkey, akey);
  }

  /** The akey node of object tree `o`, created on demand. */
  private akeyOf(o: ObjNode, dkey: Uint8Array, akey: Uint8Array): MemAkey {
    let d = o.dkeys.getBytes(dkey); // (no key string unless the node is new)
    if (!d) { const c = this.sharedKey(dkey, 0); d = new DkeyNode(c.k); o.dkeys.set(c.s, d); }
    let a = d.akeys.getBytes(akey);
    if (!a) { const c = this.sharedKey(akey, 1); a = { key: c.k, singles: NO_VERSIONS, extents: NO_VERSIONS, punches: NO_PUNCHES }; d.akeys.set(c.s, a); }
    return a;
  }

  /**
   * The object node `find` found last, its container and id: the cells of an array read one after
   * another on a target are one unit object (only the dkey changes), and each lookup's walk of the
   * container map and the object table (hash, slot, hash, key words, value) was a chain of cache
   * misses once the pool threads' copies had flushed the core's caches (reads engineer, session
   * 27: ~2.1-2.5 us per located cell cold vs 0.37 warm). Safe to keep: a memtable never removes an
   * object, and a solo node whose slot now holds its tree reads that tree (`SoloObj.full`).
   */
  private foundCont = -1;
  private foundOid: bigint | undefined = undefined;
  private foundObj: MemObject | undefined = undefined;

  /** Look up nodes without creating them. */
  find(cont: number, oid: bigint, dkey?: Uint8Array, akey?: Uint8Array): { o?: MemObject; d?: MemDkey; a?: MemAkey } {
    let o: MemObject | undefined;
    if (cont === this.foundCont && oid === this.foundOid) o = this.foundObj;
    else {
      o = this.conts.get(cont)?.objects.get(oid);
      if (o !== undefined) { this.foundCont = cont; this.foundOid = oid; this.foundObj = o; }
    }
    if (!o || !dkey) return { o };
    const s = solo(o);
    if (s !== undefined && !sameBytes(s.dkey, dkey)) return { o }; // (no tree made for a dkey it does not hold)
    const d = o.dkeys.get(keyStr(dkey));
    if (!d || !akey) return { o, d };
    return { o, d, a: d.akeys.get(keyStr(akey)) };
  }

  /**
   * Add a version (singles kept sorted by (epoch, seq); extents in seq order). A single at the
   * epoch of one already held replaces it: the later of the two (by seq) hides the other from every
   * read, punch and discard (a discard hiding the later hides the earlier too), so only one is kept.
   * Returns the single that is not kept, whose data extent the caller frees; a replay of the log
   * replaces the same versions in the same order, so it frees the same extents. `key`: an `OidKey`
   * holding `oid` already, if the caller has one.
   */
  addVersion(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, v: MemVersion, recLen: number, key?: OidKey): MemVersion | undefined {
    this.counted(v.seq, recLen);
    const c = this.container(cont, true);
    const k = key ?? memKey.of(oid);
    const e = c.objects.lookup(k); // (one probe for the lookup and the insert)
    if (e < 0 && v.recordSize === 0) { this.addNew(c, k, e, dkey, akey, v.epoch, v.seq, v.csum, v.len, v.where, v.loc, v.alloc); return undefined; }
    return this.addVersionAt(c, k, e, oid, dkey, akey, v);
  }

  /**
   * `addVersion` of a single value, its version's fields given one by one: a new object's node is
   * made holding them (`SoloObj`: no version object of its own); otherwise as `addVersion`.
   */
  addSingle(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, seq: number, csum: bigint, len: number,
    where: Where, loc: number, alloc: number, recLen: number, key?: OidKey): MemVersion | undefined {
    this.counted(seq, recLen);
    const c = this.container(cont, true);
    const k = key ?? memKey.of(oid);
    const e = c.objects.lookup(k); // (one probe for the lookup and the insert)
    if (e < 0) { this.addNew(c, k, e, dkey, akey, epoch, seq, csum, len, where, loc, alloc); return undefined; }
    return this.addVersionAt(c, k, e, oid, dkey, akey, { epoch, seq, csum, len, where, loc, alloc, index: 0, count: 0, recordSize: 0 });
  }

  /** A new object holding one single value version: its solo node, as columns (`SoloCols`) or made now. */
  private addNew(c: MemContainer, k: OidKey, e: number, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, seq: number, csum: bigint, len: number, where: Where, loc: number, alloc: number): void {
    const dk = this.sharedKey(dkey, 0).k, ak = this.sharedKey(akey, 1).k;
    if (soloColumns) c.addSolo(k, e, dk, ak, epoch, seq, csum, len, where, loc, alloc);
    else c.add(k, e, new SoloObj(c.objects, c.objects.size, dk, ak, epoch, seq, csum, len, where, loc, alloc));
  }

  /** The rest of `addVersion` (counted already): `e` is what `c.objects.lookup(k)` answered. */
  private addVersionAt(c: MemContainer, k: OidKey, e: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, v: MemVersion): MemVersion | undefined {
    let o: ObjNode;
    if (e < 0) {
      o = new ObjNode(oid);
      c.add(k, e, o);
    } else {
      const s = solo(c.objects.valueAt(e));
      if (s !== undefined && v.recordSize === 0 && s.v.epoch === v.epoch && sameBytes(s.dkey, dkey) && sameBytes(s.akey, akey)) {
        // a single at the epoch of the one held: the later (by seq) is kept, as below
        const held = s.v;
        this.superseded++;
        if (held.seq < v.seq) { s.v = v; return held; }
        return v;
      }
      o = c.treeAt(e);
    }
    const a = this.akeyOf(o, dkey, akey);
    if (v.recordSize === 0) {
      const s = a.singles;
      if (s === NO_VERSIONS) { a.singles = [v]; return undefined; } // (push would reserve 16 slots)
      let i = s.length;
      while (i > 0 && (s[i - 1]!.epoch > v.epoch || (s[i - 1]!.epoch === v.epoch && s[i - 1]!.seq > v.seq))) i--;
      const older = s[i - 1];
      if (older !== undefined && older.epoch === v.epoch) { s[i - 1] = v; this.superseded++; return older; }
      if (i < s.length && s[i]!.epoch === v.epoch) { this.superseded++; return v; } // (applied out of seq order: a later one is held)
      if (i === s.length) s.push(v); else s.splice(i, 0, v); // (splice allocates its removed-items array)
    } else if (a.extents === NO_VERSIONS) a.extents = [v];
    else a.extents.push(v);
    return undefined;
  }

  private counted(seq: number, recLen: number): void {
    if (seq < this.minSeq) this.minSeq = seq;
    this.bytes += recLen;
    this.records++;
  }

  /** Add a punch at an object, dkey or akey. */
  addPunch(cont: number, oid: bigint, level: 0 | 1 | 2, dkey: Uint8Array, akey: Uint8Array, p: MemPunch, recLen: number): void {
    if (level === 2) { const a = this.akey(cont, oid, dkey, akey); if (a.punches === NO_PUNCHES) a.punches = []; a.punches.push(p); }
    else {
      const o = this.container(cont, true).tree(oid);
      if (level === 0) { if (o.punches === NO_PUNCHES) o.punches = []; o.punches.push(p); }
      else {
        const ds = keyStr(dkey);
        let d = o.dkeys.get(ds);
        if (!d) { const c = this.keyCopy(dkey, ds); d = new DkeyNode(c.k); o.dkeys.set(c.s, d); }
        if (d.punches === NO_PUNCHES) d.punches = [];
        d.punches.push(p);
      }
    }
    if (p.seq < this.minSeq) this.minSeq = p.seq;
    this.punches++;
    this.bytes += recLen;
    this.records++;
  }
}

/**
 * Apply a logged update or punch to `mt` as the write that logged it did (replay at open, and a
 * flush on a merge worker rebuilding a frozen memtable from its log region). Other records change
 * no memtable: false. `superseded` gets a single that a later one at its epoch replaced (see
 * `Memtable.addVersion`), as the write that replaced it did.
 */
export function addLogged(mt: Memtable, r: WalRecord, superseded?: (v: MemVersion) => void): boolean {
  if (r.type === WalType.Punch) {
    const p = r.punch!;
    mt.addPunch(r.cont, p.oid, p.level, p.dkey, p.akey, { epoch: r.epoch, seq: r.seq }, r.length);
    return true;
  }
  if (r.type !== WalType.UpdateSingle && r.type !== WalType.UpdateArray) return false;
  const u = r.update!;
  const loc = u.where === Where.Wal ? r.inlineOffset! : u.blockOffset, alloc = u.where === Where.Block ? u.alloc : 0;
  const gone = r.type === WalType.UpdateSingle
    ? mt.addSingle(r.cont, u.oid, u.dkey, u.akey, r.epoch, r.seq, u.csum, u.dataLen, u.where, loc, alloc, r.length)
    : mt.addVersion(r.cont, u.oid, u.dkey, u.akey, { epoch: r.epoch, seq: r.seq, csum: u.csum, len: u.dataLen, where: u.where, loc, alloc, index: u.index, count: u.count, recordSize: u.recordSize }, r.length);
  if (gone !== undefined && superseded) superseded(gone);
  return true;
}
