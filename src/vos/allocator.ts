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

/** Most free ranges one chunk of a `BlockAllocator`'s list holds (a full chunk is split in two). */
const CHUNK_RANGES = 64;
/** Fewest ranges `releaseMany` merges into the list in one pass (fewer are released one by one). */
const RELEASE_MANY_MIN = 8;
/** `releaseMany` releases ranges one by one while they are fewer than the list's ranges divided by this (a merge pass rebuilds every chunk). */
const RELEASE_MANY_SHARE = 8;
/** Ranges per chunk when a list is built whole (`fromFree`, `releaseMany`): room left for inserts. */
const CHUNK_FILL = 48;

/**
 * A run of consecutive free ranges of the list: starts and ends in two fixed float64 arrays, and
 * the longest range's bytes (first fit skips a chunk with no range long enough).
 */
class Chunk {
  readonly s = new Float64Array(CHUNK_RANGES);
  readonly e = new Float64Array(CHUNK_RANGES);
  n = 0;
  max = 0;
  /** Bytes of the longest range, recomputed (after the longest shrank or left). */
  remax(): void {
    let m = 0;
    for (let i = 0; i < this.n; i++) { const l = this.e[i]! - this.s[i]!; if (l > m) m = l; }
    this.max = m;
  }
  /** Insert range [a, b) at `j` (the chunk is not full). */
  insert(j: number, a: number, b: number): void {
    if (j < this.n) { this.s.copyWithin(j + 1, j, this.n); this.e.copyWithin(j + 1, j, this.n); }
    this.s[j] = a; this.e[j] = b; this.n++;
    if (b - a > this.max) this.max = b - a;
  }
  /** Remove the range at `j`. */
  remove(j: number): void {
    const len = this.e[j]! - this.s[j]!;
    if (j < this.n - 1) { this.s.copyWithin(j, j + 1, this.n); this.e.copyWithin(j, j + 1, this.n); }
    this.n--;
    if (len >= this.max) this.remax();
  }
}

/**
 * Free-extent allocator over `[0, total)` in units of `block` bytes.
 *
 * The free list is kept in chunks of at most CHUNK_RANGES ranges (a two-level list): an
 * allocation or a release moves at most one chunk's entries, not the whole list's. (One sorted
 * array of ~1,000 ranges cost a memmove of the whole list per 4 KiB overwrite: first fit took the
 * first range out with `splice(0, 1)` and the release of the replaced extent spliced one in.)
 */
export class BlockAllocator {
  /** Sorted, disjoint, non-adjacent free ranges [start, end), chunk after chunk; no chunk is empty. */
  private chunks: Chunk[] = [];
  private usedBytes = 0;

  constructor(readonly total: number, readonly block: number) {
    assert(total % block === 0, 'allocator size must be a multiple of the block', { total, block });
    if (total > 0) this.setList([0], [total], 1);
  }

  /** Rebuild from the used ranges (offset, bytes), in any order. */
  static fromUsed(total: number, block: number, used: Array<[number, number]>): BlockAllocator {
    const a = new BlockAllocator(total, block);
    const sorted = used.filter(([, n]) => n > 0).sort((x, y) => x[0] - y[0]);
    const s: number[] = [], e: number[] = [];
    let at = 0;
    let usedBytes = 0;
    for (const [off, n] of sorted) {
      assert(off >= at && off + n <= total, 'overlapping or out-of-range data extents', { off, n, at });
      if (off > at) { s.push(at); e.push(off); }
      at = off + n;
      usedBytes += n;
    }
    if (at < total) { s.push(at); e.push(total); }
    a.setList(s, e, s.length);
    a.usedBytes = usedBytes;
    return a;
  }

  /** Bytes allocated. */
  get used(): number { return this.usedBytes; }

  /** Rebuild from a persisted free list (offset, bytes). */
  static fromFree(total: number, block: number, free: Array<[number, number]>): BlockAllocator {
    const a = new BlockAllocator(total, block);
    const sorted = free.filter(([, n]) => n > 0).sort((x, y) => x[0] - y[0]);
    const s: number[] = [], e: number[] = [];
    let freeBytes = 0;
    for (const [off, n] of sorted) {
      assert(off % block === 0 && n % block === 0 && off + n <= total, 'free range out of the device or misaligned', { off, n, total });
      const k = e.length - 1;
      assert(k < 0 || e[k]! <= off, 'overlapping free ranges', { off });
      if (k >= 0 && e[k] === off) e[k] = off + n; else { s.push(off); e.push(off + n); }
      freeBytes += n;
    }
    a.setList(s, e, s.length);
    a.usedBytes = total - freeBytes;
    return a;
  }

  /** Replace the list by ranges [s[i], e[i]) (sorted, disjoint, non-adjacent), CHUNK_FILL to a chunk. */
  private setList(s: ArrayLike<number>, e: ArrayLike<number>, n: number): void {
    const chunks: Chunk[] = [];
    for (let i = 0; i < n; i += CHUNK_FILL) {
      const c = new Chunk();
      const k = Math.min(CHUNK_FILL, n - i);
      for (let j = 0; j < k; j++) { c.s[j] = s[i + j]!; c.e[j] = e[i + j]!; }
      c.n = k;
      c.remax();
      chunks.push(c);
    }
    this.chunks = chunks;
  }

  /**
   * The position of the first range whose start (`byEnd` false) or end (`byEnd` true) is above
   * `x`, as chunk index * CHUNK_RANGES + index in the chunk; past the last range: the chunk
   * count * CHUNK_RANGES.
   */
  private seek(x: number, byEnd: boolean): number {
    const cs = this.chunks;
    let lo = 0, hi = cs.length;
    while (lo < hi) { const m = (lo + hi) >> 1; const c = cs[m]!; if ((byEnd ? c.e : c.s)[c.n - 1]! <= x) lo = m + 1; else hi = m; }
    if (lo === cs.length) return lo * CHUNK_RANGES;
    const c = cs[lo]!, a = byEnd ? c.e : c.s;
    let i = 0, j = c.n;
    while (i < j) { const m = (i + j) >> 1; if (a[m]! <= x) i = m + 1; else j = m; }
    return lo * CHUNK_RANGES + i;
  }

  /** Remove range `j` of chunk `ci` (and the chunk when it empties). */
  private removeAt(ci: number, j: number): void {
    const c = this.chunks[ci]!;
    if (c.n === 1) { this.chunks.splice(ci, 1); return; }
    c.remove(j);
  }

  /** Insert range [a, b) at range `j` of chunk `ci` (j may be the chunk's count; `ci` may be the chunk count: a new last chunk). */
  private insertAt(ci: number, j: number, a: number, b: number): void {
    const cs = this.chunks;
    if (ci === cs.length) {
      const last = cs[ci - 1];
      if (last !== undefined && last.n < CHUNK_RANGES) { last.insert(last.n, a, b); return; }
      const c = new Chunk(); c.insert(0, a, b); cs.push(c); return;
    }
    const c = cs[ci]!;
    if (c.n < CHUNK_RANGES) { c.insert(j, a, b); return; }
    // full: split in two halves, then insert into the half that holds position j
    const h = CHUNK_RANGES >> 1;
    const d = new Chunk();
    d.s.set(c.s.subarray(h, c.n)); d.e.set(c.e.subarray(h, c.n)); d.n = c.n - h;
    c.n = h;
    c.remax(); d.remax();
    cs.splice(ci + 1, 0, d);
    if (j <= h) c.insert(j, a, b); else d.insert(j - h, a, b);
  }

  /** Mark `[off, off+bytes)` used (replaying a logged allocation); it must be free. */
  reserve(off: number, bytes: number): void {
    const p = this.seek(off, true);
    const ci = Math.floor(p / CHUNK_RANGES), j = p % CHUNK_RANGES;
    const c = this.chunks[ci];
    const rs = c?.s[j], re = c?.e[j];
    assert(c !== undefined && rs! <= off && off + bytes <= re!, 'reserving a data extent that is not free', { off, bytes });
    const end = off + bytes;
    if (rs === off) {
      if (end === re) this.removeAt(ci, j);
      else { c!.s[j] = end; c!.remax(); }
    } else {
      c!.e[j] = off;
      c!.remax();
      if (end < re!) this.insertAt(ci, j + 1, end, re!);
    }
    this.usedBytes += bytes;
  }

  /** The free ranges [start, end), sorted (a copy). */
  freeRanges(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const c of this.chunks) for (let i = 0; i < c.n; i++) out.push([c.s[i]!, c.e[i]!]);
    return out;
  }

  /** The free ranges [start, end), sorted (made for the caller: one pass over the chunks). */
  get freeList(): ReadonlyArray<readonly [number, number]> {
    const out: Array<[number, number]> = [];
    for (const c of this.chunks) for (let i = 0; i < c.n; i++) out.push(span(c.s[i]!, c.e[i]!));
    return out;
  }

  /** Whether `[off, off+bytes)` is wholly free. */
  isFree(off: number, bytes: number): boolean {
    const p = this.seek(off, true);
    const c = this.chunks[Math.floor(p / CHUNK_RANGES)];
    if (c === undefined) return false;
    const j = p % CHUNK_RANGES;
    return c.s[j]! <= off && off + bytes <= c.e[j]!;
  }

  /** Round `bytes` up to whole blocks. */
  roundUp(bytes: number): number { return Math.ceil(bytes / this.block) * this.block; }

  /** Allocate `bytes` (a multiple of the block) first fit; returns the offset or -1 when no range fits. */
  alloc(bytes: number): number {
    assert(bytes > 0 && bytes % this.block === 0, 'allocation must be whole blocks', { bytes });
    const cs = this.chunks;
    for (let ci = 0; ci < cs.length; ci++) {
      const c = cs[ci]!;
      if (c.max < bytes) continue;
      for (let j = 0; j < c.n; j++) {
        const len = c.e[j]! - c.s[j]!;
        if (len < bytes) continue;
        const off = c.s[j]!;
        if (len === bytes) this.removeAt(ci, j);
        else { c.s[j] = off + bytes; if (len >= c.max) c.remax(); }
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
    let count = 0;
    for (const c of this.chunks) count += c.n;
    // few ranges (against the list's length): one insertion each, in at most one chunk
    if (x.length < RELEASE_MANY_MIN || x.length * RELEASE_MANY_SHARE < count) { for (let i = 0; i < x.length; i++) this.release(x.offs[i]!, x.lens[i]!); return; }
    const { offs, lens, dups } = x.sorted(this.block);
    assert(dups === 0, 'double free in data allocator', { repeats: dups });
    const outS = new Float64Array(count + offs.length), outE = new Float64Array(count + offs.length);
    let n = 0, freed = 0, j = 0;
    const push = (a: number, b: number): void => {
      assert(n === 0 || outE[n - 1]! <= a, 'double free in data allocator', { off: a, bytes: b - a });
      if (n > 0 && outE[n - 1] === a) outE[n - 1] = b;
      else { outS[n] = a; outE[n++] = b; }
    };
    for (const c of this.chunks) {
      for (let i = 0; i < c.n; i++) {
        const a = c.s[i]!;
        while (j < offs.length && offs[j]! < a) { push(offs[j]!, offs[j]! + lens[j]!); freed += lens[j++]!; }
        push(a, c.e[i]!);
      }
    }
    while (j < offs.length) { push(offs[j]!, offs[j]! + lens[j]!); freed += lens[j++]!; }
    this.setList(outS, outE, n);
    this.usedBytes -= freed;
  }

  /** Return `[off, off+bytes)` to the free list. */
  release(off: number, bytes: number): void {
    if (bytes <= 0) return;
    const end = off + bytes;
    const cs = this.chunks;
    // the first range with start >= end ("next") and the one before it ("prev")
    const p = this.seek(end - 1, false); // (starts are whole numbers: start > end - 1 is start >= end, for block multiples and any integer)
    let ci = Math.floor(p / CHUNK_RANGES), j = p % CHUNK_RANGES;
    const nc = cs[ci];
    let pci = ci, pj = j - 1;
    if (pj < 0) { pci = ci - 1; pj = pci >= 0 ? cs[pci]!.n - 1 : -1; }
    const pc = pci >= 0 ? cs[pci] : undefined;
    const prevEnd = pc !== undefined ? pc.e[pj]! : -1;
    const nextStart = nc !== undefined ? nc.s[j]! : Infinity;
    assert(pc === undefined || prevEnd <= off, 'double free in data allocator', { off, bytes });
    assert(nc === undefined || nextStart >= end, 'double free in data allocator', { off, bytes });
    this.usedBytes -= bytes;
    const joinPrev = pc !== undefined && prevEnd === off;
    const joinNext = nc !== undefined && nextStart === end;
    if (joinPrev && joinNext) {
      pc!.e[pj] = nc!.e[j]!;
      const l = pc!.e[pj]! - pc!.s[pj]!; if (l > pc!.max) pc!.max = l;
      this.removeAt(ci, j);
    } else if (joinPrev) {
      pc!.e[pj] = end;
      const l = end - pc!.s[pj]!; if (l > pc!.max) pc!.max = l;
    } else if (joinNext) {
      nc!.s[j] = off;
      const l = nc!.e[j]! - off; if (l > nc!.max) nc!.max = l;
    } else {
      // between prev and next: at the end of prev's chunk when next opens a chunk (or there is none)
      if (j === 0 && ci > 0) { ci--; j = cs[ci]!.n; }
      this.insertAt(ci, j, off, end);
    }
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
