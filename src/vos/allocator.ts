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

  /** Return many ranges (offset, bytes) to the free list at once: one merging pass, not one insertion each. */
  releaseMany(ranges: ReadonlyArray<readonly [number, number]>): void {
    if (ranges.length < 8) { for (const [o, n] of ranges) this.release(o, n); return; }
    const { offs, lens, dups } = byOffset(ranges, this.block);
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

/** Ranges a packed sort takes at most (their index shares a float64 with the offset's block number). */
const PACKED_SORT_MAX = 1 << 21;

/**
 * `ranges` (offset, bytes) with bytes > 0, sorted by offset, as two parallel arrays: these run at
 * every manifest commit, over every extent a merge freed. Block-aligned offsets (all of the data
 * file's) are sorted as one float64 each, block number and index packed, by a numeric typed-array
 * sort (no comparator calls). An offset named twice keeps its longest range; `dups` counts repeats.
 */
function byOffset(ranges: ReadonlyArray<readonly [number, number]>, block: number): { offs: Float64Array; lens: Float64Array; dups: number } {
  const n = ranges.length;
  if (n >= PACKED_SORT_MAX) return byOffsetMap(ranges);
  const keys = new Float64Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    const r = ranges[i]!;
    if (r[1] <= 0) continue;
    const q = r[0] / block;
    if (!Number.isInteger(q) || q >= 4294967296) return byOffsetMap(ranges);
    keys[m++] = q * PACKED_SORT_MAX + i;
  }
  const sorted = keys.subarray(0, m).sort();
  const offs = new Float64Array(m), lens = new Float64Array(m);
  let k = 0, dups = 0;
  for (let x = 0; x < m; x++) {
    const key = sorted[x]!;
    const i = key % PACKED_SORT_MAX;
    const off = ((key - i) / PACKED_SORT_MAX) * block, len = ranges[i]![1];
    if (k > 0 && offs[k - 1] === off) { dups++; if (lens[k - 1]! < len) lens[k - 1] = len; continue; }
    offs[k] = off; lens[k++] = len;
  }
  return { offs: offs.subarray(0, k), lens: lens.subarray(0, k), dups };
}

/** `byOffset` for ranges a packed sort cannot take (unaligned offsets, or very many ranges). */
function byOffsetMap(ranges: ReadonlyArray<readonly [number, number]>): { offs: Float64Array; lens: Float64Array; dups: number } {
  const len = new Map<number, number>();
  let dups = 0;
  for (let i = 0; i < ranges.length; i++) {
    const o = ranges[i]![0]; const n = ranges[i]![1];
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

/** Free ranges of `a` plus `extra` ranges (in use in memory but not in the persistent state), merged and sorted. */
export function freeSnapshot(a: BlockAllocator, extra: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const { offs, lens } = byOffset(extra, a.block);
  const fr = a.freeList;
  const out: Array<[number, number]> = [];
  let i = 0; let j = 0;
  while (i < fr.length || j < offs.length) {
    let off: number; let end: number;
    if (j >= offs.length || (i < fr.length && fr[i]![0] <= offs[j]!)) { const r = fr[i++]!; off = r[0]; end = r[1]; }
    else { off = offs[j]!; end = off + lens[j++]!; }
    const last = out[out.length - 1];
    if (last !== undefined && last[0] + last[1] >= off) { if (end > last[0] + last[1]) last[1] = end - last[0]; }
    else out.push(span(off, end - off));
  }
  return out;
}
