/**
 * Block allocator of the data file: a sorted list of free byte ranges (multiples of the block
 * size), first fit, coalescing on free. It lives in memory only and is rebuilt on open from
 * the extents the index references, so an allocation lost in a crash is simply free again.
 */
import { assert } from '../../core/errors.js';

/**
 * A range `[a, b]` as an array of doubles, whatever its values: every range of the free list has
 * one hidden class. (Literals of small integers make arrays of another kind than ranges built from
 * typed-array loads; code that met both was deoptimised and recompiled again and again: "wrong map".)
 */
function span(a: number, b: number): [number, number] {
  const r: [number, number] = [0.5, 0.5];
  r[0] = a; r[1] = b;
  return r;
}

/** Free-extent allocator over `[0, total)` in units of `block` bytes. */
export class BlockAllocator {
  /** Sorted, disjoint, non-adjacent free ranges [start, end). */
  private free: Array<[number, number]>;
  private usedBytes = 0;

  constructor(readonly total: number, readonly block: number) {
    assert(total % block === 0, 'allocator size must be a multiple of the block', { total, block });
    this.free = total > 0 ? [span(0, total)] : [];
  }

  /** Rebuild from the used ranges (offset, bytes), in any order. */
  static fromUsed(total: number, block: number, used: Array<[number, number]>): BlockAllocator {
    const a = new BlockAllocator(total, block);
    const sorted = used.filter(([, n]) => n > 0).sort((x, y) => x[0] - y[0]);
    const free: Array<[number, number]> = [];
    let at = 0;
    for (const [off, n] of sorted) {
      assert(off >= at && off + n <= total, 'overlapping or out-of-range data extents', { off, n, at });
      if (off > at) free.push(span(at, off));
      at = off + n;
      a.usedBytes += n;
    }
    if (at < total) free.push(span(at, total));
    a.free = free;
    return a;
  }

  /** Bytes allocated. */
  get used(): number { return this.usedBytes; }

  /** Rebuild from a persisted free list (offset, bytes). */
  static fromFree(total: number, block: number, free: Array<[number, number]>): BlockAllocator {
    const a = new BlockAllocator(total, block);
    const sorted = free.filter(([, n]) => n > 0).sort((x, y) => x[0] - y[0]);
    const out: Array<[number, number]> = [];
    let freeBytes = 0;
    for (const [off, n] of sorted) {
      assert(off % block === 0 && n % block === 0 && off + n <= total, 'free range out of the device or misaligned', { off, n, total });
      const last = out[out.length - 1];
      assert(!last || last[1] <= off, 'overlapping free ranges', { off });
      if (last && last[1] === off) last[1] = off + n; else out.push(span(off, off + n));
      freeBytes += n;
    }
    a.free = out;
    a.usedBytes = total - freeBytes;
    return a;
  }

  /** Mark `[off, off+bytes)` used (replaying a logged allocation); it must be free. */
  reserve(off: number, bytes: number): void {
    const f = this.free;
    let lo = 0, hi = f.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (f[m]![1] <= off) lo = m + 1; else hi = m; }
    const r = f[lo];
    assert(r !== undefined && r[0] <= off && off + bytes <= r[1], 'reserving a data extent that is not free', { off, bytes });
    const tail = span(off + bytes, r[1]);
    r[1] = off;
    const parts: Array<[number, number]> = [];
    if (r[0] < r[1]) parts.push(r);
    if (tail[0] < tail[1]) parts.push(tail);
    f.splice(lo, 1, ...parts);
    this.usedBytes += bytes;
  }

  /** The free ranges [start, end), sorted (a copy). */
  freeRanges(): Array<[number, number]> { return this.free.map(([s, e]) => [s, e] as [number, number]); }

  /** The free ranges [start, end), sorted: the allocator's own list, not to be changed. */
  get freeList(): ReadonlyArray<readonly [number, number]> { return this.free; }

  /** Whether `[off, off+bytes)` is wholly free. */
  isFree(off: number, bytes: number): boolean {
    const f = this.free;
    let lo = 0, hi = f.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (f[m]![1] <= off) lo = m + 1; else hi = m; }
    const r = f[lo];
    return r !== undefined && r[0] <= off && off + bytes <= r[1];
  }

  /** Round `bytes` up to whole blocks. */
  roundUp(bytes: number): number { return Math.ceil(bytes / this.block) * this.block; }

  /** Allocate `bytes` (a multiple of the block); returns the offset or -1 when no range fits. */
  alloc(bytes: number): number {
    assert(bytes > 0 && bytes % this.block === 0, 'allocation must be whole blocks', { bytes });
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i]!;
      if (r[1] - r[0] >= bytes) {
        const off = r[0];
        r[0] += bytes;
        if (r[0] === r[1]) this.free.splice(i, 1);
        this.usedBytes += bytes;
        return off;
      }
    }
    return -1;
  }

  /**
   * Return many ranges (offset, bytes) to the free list at once: one merging pass, not one
   * insertion each (an `ExtentList` sorted already, for a manifest, is not sorted again).
   */
  releaseMany(ranges: ExtentList | ReadonlyArray<readonly [number, number]>): void {
    const x = ranges instanceof ExtentList ? ranges : ExtentList.of(ranges);
    if (x.length < 8) { for (let i = 0; i < x.length; i++) this.release(x.offs[i]!, x.lens[i]!); return; }
    const { offs, lens, dups } = x.sorted(this.block);
    assert(dups === 0, 'double free in data allocator', { repeats: dups });
    const f = this.free;
    const out: Array<[number, number]> = [];
    let i = 0; let j = 0; let freed = 0;
    while (i < f.length || j < offs.length) {
      let r: [number, number];
      if (j >= offs.length || (i < f.length && f[i]![0] <= offs[j]!)) r = f[i++]!;
      else { r = span(offs[j]!, offs[j]! + lens[j]!); freed += lens[j++]!; }
      const last = out[out.length - 1];
      assert(last === undefined || last[1] <= r[0], 'double free in data allocator', { off: r[0], bytes: r[1] - r[0] });
      if (last !== undefined && last[1] === r[0]) last[1] = r[1];
      else out.push(r);
    }
    this.free = out;
    this.usedBytes -= freed;
  }

  /** Return `[off, off+bytes)` to the free list. */
  release(off: number, bytes: number): void {
    if (bytes <= 0) return;
    const end = off + bytes;
    const f = this.free;
    // binary search: first range with start >= end
    let lo = 0, hi = f.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (f[m]![0] < end) lo = m + 1; else hi = m; }
    const prev = f[lo - 1];
    const next = f[lo];
    assert(!prev || prev[1] <= off, 'double free in data allocator', { off, bytes });
    assert(!next || next[0] >= end, 'double free in data allocator', { off, bytes });
    this.usedBytes -= bytes;
    const joinPrev = prev !== undefined && prev[1] === off;
    const joinNext = next !== undefined && next[0] === end;
    if (joinPrev && joinNext) { prev[1] = next[1]; f.splice(lo, 1); }
    else if (joinPrev) prev[1] = end;
    else if (joinNext) next[0] = off;
    else f.splice(lo, 0, span(off, end));
  }
}

/**
 * Data-file extents (offset, bytes) in two growable float64 arrays: what merges free (thousands per
 * aggregation) listed without an array per extent. A worker's list arrives as a plain object of
 * the same fields (structured clone): `revive` it.
 */
export class ExtentList {
  offs: Float64Array;
  lens: Float64Array;
  length = 0;
  /** `sorted()`'s answer while the list is unchanged (a commit sorts its frees once, for the manifest and their release). */
  private sortedAs: { block: number; s: SortedExtents } | undefined;
  constructor(capacity = EXTENTS_INITIAL) { this.offs = new Float64Array(capacity); this.lens = new Float64Array(capacity); }
  /** The ranges of an array of (offset, bytes) pairs. */
  static of(ranges: ReadonlyArray<readonly [number, number]>): ExtentList {
    const x = new ExtentList(Math.max(EXTENTS_INITIAL, ranges.length));
    for (let i = 0; i < ranges.length; i++) x.push(ranges[i]![0], ranges[i]![1]);
    return x;
  }
  /** An `ExtentList` posted by a worker (its fields survive the structured clone, its class does not). */
  static revive(o: { offs: Float64Array; lens: Float64Array; length: number }): ExtentList {
    const x = new ExtentList(0);
    x.offs = o.offs; x.lens = o.lens; x.length = o.length;
    return x;
  }
  push(off: number, bytes: number): void {
    if (this.length === this.offs.length) this.grow(this.length + 1);
    this.offs[this.length] = off; this.lens[this.length++] = bytes;
    this.sortedAs = undefined;
  }
  /** Append every range of `x`. */
  pushAll(x: ExtentList): void {
    if (x.length === 0) return;
    if (this.length + x.length > this.offs.length) this.grow(this.length + x.length);
    this.offs.set(x.offs.subarray(0, x.length), this.length); this.lens.set(x.lens.subarray(0, x.length), this.length);
    this.length += x.length;
    this.sortedAs = undefined;
  }
  /** Forget every range (the arrays are kept unless large: a burst of frees does not pin them). */
  clear(): void {
    if (this.offs.length > EXTENTS_KEPT_CAPACITY) { this.offs = new Float64Array(EXTENTS_INITIAL); this.lens = new Float64Array(EXTENTS_INITIAL); }
    this.length = 0;
    this.sortedAs = undefined;
  }
  /** The ranges sorted by offset (`sortExtents`), sorted once while the list does not change. */
  sorted(block: number): SortedExtents {
    if (this.sortedAs?.block !== block) this.sortedAs = { block, s: sortExtents(this, block) };
    return this.sortedAs.s;
  }
  /** The ranges as (offset, bytes) pairs (tests, diagnostics). */
  toArray(): Array<[number, number]> { return Array.from({ length: this.length }, (_, i) => [this.offs[i]!, this.lens[i]!] as [number, number]); }
  private grow(need: number): void {
    let cap = Math.max(EXTENTS_INITIAL, this.offs.length * 2); while (cap < need) cap *= 2;
    const o = new Float64Array(cap), l = new Float64Array(cap);
    o.set(this.offs.subarray(0, this.length)); l.set(this.lens.subarray(0, this.length));
    this.offs = o; this.lens = l;
  }
}
/** Capacity an `ExtentList` starts with. */
const EXTENTS_INITIAL = 16;
/** Capacity above which `ExtentList.clear` drops its arrays. */
const EXTENTS_KEPT_CAPACITY = 1 << 16;

/** Ranges sorted by offset (`sortExtents`). */
export interface SortedExtents { readonly offs: Float64Array; readonly lens: Float64Array; readonly dups: number }

/** Bits of a block number one pass of `sortExtents`'s radix sort orders by. */
const RADIX_BITS = 11;
const RADIX = 1 << RADIX_BITS;

/**
 * `ranges` with bytes > 0, sorted by offset, as two parallel arrays: these run at every manifest
 * commit, over every extent a merge freed (thousands per aggregation). Block-aligned offsets (all
 * of the data file's) are ordered by block number with a radix sort (a pass per 11 bits of the
 * largest block number: two for a data file of up to 32 GiB of 4 KiB blocks), no comparisons.
 * An offset named twice keeps its longest range; `dups` counts repeats.
 */
export function sortExtents(ranges: ExtentList, block: number): SortedExtents {
  const n = ranges.length;
  const ro = ranges.offs, rl = ranges.lens;
  const q = new Uint32Array(n);
  let order = new Uint32Array(n);
  let m = 0; let maxQ = 0;
  for (let i = 0; i < n; i++) {
    if (rl[i]! <= 0) continue;
    const b = ro[i]! / block;
    if (!Number.isInteger(b) || b >= 4294967296) return sortExtentsMap(ranges);
    q[i] = b; order[m++] = i;
    if (b > maxQ) maxQ = b;
  }
  if (m > 1) {
    let tmp = new Uint32Array(m);
    const at = new Uint32Array(RADIX);
    for (let shift = 0; shift < 32 && (shift === 0 || maxQ / 2 ** shift >= 1); shift += RADIX_BITS) {
      at.fill(0);
      for (let k = 0; k < m; k++) at[(q[order[k]!]! >>> shift) & (RADIX - 1)]++;
      let sum = 0;
      for (let d = 0; d < RADIX; d++) { const c = at[d]!; at[d] = sum; sum += c; }
      for (let k = 0; k < m; k++) { const i = order[k]!; tmp[at[(q[i]! >>> shift) & (RADIX - 1)]++] = i; }
      const t = order; order = tmp; tmp = t;
    }
  }
  const offs = new Float64Array(m), lens = new Float64Array(m);
  let k = 0, dups = 0;
  for (let x = 0; x < m; x++) {
    const i = order[x]!;
    const off = ro[i]!, len = rl[i]!;
    if (k > 0 && offs[k - 1] === off) { dups++; if (lens[k - 1]! < len) lens[k - 1] = len; continue; }
    offs[k] = off; lens[k++] = len;
  }
  return { offs: offs.subarray(0, k), lens: lens.subarray(0, k), dups };
}

/** `sortExtents` for ranges a radix sort of block numbers cannot take (unaligned offsets, beyond 2^32 blocks). */
function sortExtentsMap(ranges: ExtentList): SortedExtents {
  const len = new Map<number, number>();
  let dups = 0;
  for (let i = 0; i < ranges.length; i++) {
    const o = ranges.offs[i]!; const n = ranges.lens[i]!;
    if (n <= 0) continue;
    const had = len.get(o);
    if (had !== undefined) dups++;
    if (had === undefined || had < n) len.set(o, n);
  }
  const offs = new Float64Array(len.size);
  let k = 0;
  for (const o of len.keys()) offs[k++] = o;
  offs.sort();
  const lens = new Float64Array(offs.length);
  for (let i = 0; i < offs.length; i++) lens[i] = len.get(offs[i]!)!;
  return { offs, lens, dups };
}

/**
 * Free ranges of `a` plus ranges in use in memory but not in the persistent state (`extra`: lists
 * that may overlap one another), merged and sorted as (offset, bytes); touching or overlapping
 * ranges are joined.
 */
export function freeSnapshot(a: BlockAllocator, ...extra: Array<ExtentList | ReadonlyArray<readonly [number, number]>>): Array<[number, number]> {
  const lists = extra.map((x) => (x instanceof ExtentList ? x : ExtentList.of(x)).sorted(a.block)).filter((l) => l.offs.length > 0);
  const at = lists.map(() => 0);
  const fr = a.freeList;
  const out: Array<[number, number]> = [];
  let i = 0;
  for (;;) {
    // the smallest next start among the allocator's list and each sorted list
    let off = i < fr.length ? fr[i]![0] : Infinity; let from = -1;
    for (let k = 0; k < lists.length; k++) { const l = lists[k]!; const j = at[k]!; if (j < l.offs.length && l.offs[j]! < off) { off = l.offs[j]!; from = k; } }
    if (off === Infinity) return out;
    let end: number;
    if (from < 0) end = fr[i++]![1];
    else { const l = lists[from]!; end = off + l.lens[at[from]!]!; at[from] = at[from]! + 1; }
    const last = out[out.length - 1];
    if (last !== undefined && last[0] + last[1] >= off) { if (end > last[0] + last[1]) last[1] = end - last[0]; }
    else out.push(span(off, end - off));
  }
}
