/**
 * The data-file allocator against a plain model (one flag per block): first-fit allocations,
 * frees that coalesce, and the free list a manifest records (`freeSnapshot`: the allocator's free
 * ranges plus ranges in use only in memory), which must be exactly the union of both, sorted,
 * disjoint and coalesced, whether those come as one unsorted list or partly as lists sorted
 * beforehand (a commit sorts a merge's frees once, for its manifest and for their release).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { BlockAllocator, ExtentList, freeSnapshot, sortExtents } from '../../src/vos/allocator.js';

const BLOCK = 4096;

/** Free ranges [offset, bytes) of a per-block flag array (true = free). */
function rangesOf(free: boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let b = 0; b < free.length; b++) {
    if (!free[b]) continue;
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === b * BLOCK) last[1] += BLOCK; else out.push([b * BLOCK, BLOCK]);
  }
  return out;
}

for (const seed of [1, 2, 3]) {
  test(`allocations, frees and manifest free lists match a per-block model (seed ${seed})`, () => {
    const rng = new Rng(seed);
    const blocks = 512;
    const a = new BlockAllocator(blocks * BLOCK, BLOCK);
    const model: boolean[] = Array.from({ length: blocks }, () => true);
    const held: Array<[number, number]> = [];
    let snapshots = 0; let releasedMany = 0;
    for (let step = 0; step < 3000; step++) {
      const r = rng.float();
      if (r < 0.5) {
        const n = (1 + rng.int(4)) * BLOCK;
        const off = a.alloc(n);
        // first fit: the lowest run of free blocks long enough
        let want = -1;
        for (let b = 0; b + n / BLOCK <= blocks && want < 0; b++) if (model.slice(b, b + n / BLOCK).every(Boolean)) want = b * BLOCK;
        assert.is(off, want, `seed ${seed} step ${step}: first fit of ${n}`);
        if (off >= 0) { for (let b = off / BLOCK; b < (off + n) / BLOCK; b++) model[b] = false; held.push([off, n]); }
      } else if (r < 0.8 && held.length) {
        const [off, n] = held.splice(rng.int(held.length), 1)[0]!;
        a.release(off, n);
        for (let b = off / BLOCK; b < (off + n) / BLOCK; b++) model[b] = true;
      } else if (r < 0.85 && held.length) {
        // a merge's frees, released together in any order (small batches go one by one)
        const batch = held.filter(() => rng.chance(0.5));
        for (const x of batch) held.splice(held.indexOf(x), 1);
        // as pairs, as a flat list, or sorted beforehand
        const how = rng.int(3);
        if (how === 0) a.releaseMany(batch);
        else if (how === 1) a.releaseMany(ExtentList.of(batch));
        else { const x = ExtentList.of(batch); x.sorted(BLOCK); a.releaseMany(x); }
        for (const [off, n] of batch) for (let b = off / BLOCK; b < (off + n) / BLOCK; b++) model[b] = true;
        releasedMany += batch.length;
      } else {
        // some held ranges are free in the persistent state (e.g. written by records not yet flushed)
        const extra = held.filter(() => rng.chance(0.3)).map(([o, n]) => [o, n] as [number, number]);
        if (rng.chance(0.2)) extra.push([rng.int(blocks) * BLOCK, 0]); // empty ranges are ignored
        const want = model.slice();
        for (const [o, n] of extra) for (let b = o / BLOCK; b < (o + n) / BLOCK; b++) want[b] = true;
        assert.equal(freeSnapshot(a, extra), rangesOf(want), `seed ${seed} step ${step}: manifest free list`);
        // the same ranges in three lists, two of them sorted beforehand (they may overlap one another)
        const parts: ExtentList[] = [new ExtentList(), new ExtentList(), new ExtentList()];
        for (const [o, n] of extra) parts[rng.int(3)]!.push(o, n);
        if (extra.length) parts[1]!.push(extra[0]![0], extra[0]![1]);
        parts[1]!.sorted(BLOCK); parts[2]!.sorted(BLOCK);
        assert.equal(freeSnapshot(a, ...parts), rangesOf(want), `seed ${seed} step ${step}: manifest free list from sorted parts`);
        snapshots++;
      }
      assert.equal(a.freeRanges().map(([s, e]) => [s, e - s]), rangesOf(model), `seed ${seed} step ${step}: free ranges`);
      assert.is(a.used, model.filter((f) => !f).length * BLOCK);
    }
    assert.ok(snapshots > 100 && releasedMany > 100);
  });
}

test('a fragmented free list of thousands of ranges (its chunks split, empty and refill): first fit, frees, replayed reservations and isFree match the per-block model', () => {
  const rng = new Rng(11);
  const blocks = 8192;
  const a = new BlockAllocator(blocks * BLOCK, BLOCK);
  const model: boolean[] = Array.from({ length: blocks }, () => true);
  const held: Array<[number, number]> = [];
  const firstFit = (nb: number): number => {
    let run = 0;
    for (let b = 0; b < blocks; b++) { run = model[b] ? run + 1 : 0; if (run === nb) return (b - nb + 1) * BLOCK; }
    return -1;
  };
  const mark = (off: number, n: number, free: boolean) => { for (let b = off / BLOCK; b < (off + n) / BLOCK; b++) model[b] = free; };
  let maxRanges = 0; let reserved = 0;
  for (let step = 0; step < 30000; step++) {
    const phase = Math.floor(step / 5000) % 2; // fill (fragmenting) then drain, twice over
    const r = rng.float();
    if (r < (phase === 0 ? 0.6 : 0.3)) {
      const n = (rng.chance(0.9) ? 1 : 1 + rng.int(6)) * BLOCK;
      const off = a.alloc(n);
      assert.is(off, firstFit(n / BLOCK), `step ${step}: first fit of ${n}`);
      if (off >= 0) { mark(off, n, false); held.push([off, n]); }
    } else if (r < 0.93 && held.length) {
      const [off, n] = held.splice(rng.int(held.length), 1)[0]!;
      a.release(off, n);
      mark(off, n, true);
    } else {
      // a replayed allocation: any free run, anywhere in a free range (head, middle, tail, whole)
      const b0 = rng.int(blocks);
      let b = b0; while (b < blocks && !model[b]) b++;
      if (b === blocks) continue;
      let e = b; while (e < blocks && model[e] && e - b < 8) e++;
      const from = b + rng.int(e - b), len = 1 + rng.int(e - from);
      assert.ok(a.isFree(from * BLOCK, len * BLOCK), `step ${step}: free run reads free`);
      if (from > 0 && !model[from - 1]) assert.not.ok(a.isFree((from - 1) * BLOCK, (len + 1) * BLOCK), `step ${step}: a run with a used block is not free`);
      a.reserve(from * BLOCK, len * BLOCK);
      mark(from * BLOCK, len * BLOCK, false); held.push([from * BLOCK, len * BLOCK]);
      reserved++;
    }
    if (step % 97 === 0 || step > 29900) {
      const want = rangesOf(model);
      maxRanges = Math.max(maxRanges, want.length);
      assert.equal(a.freeRanges().map(([s, e]) => [s, e - s]), want, `step ${step}: free ranges`);
      assert.equal(a.freeList.map(([s, e]) => [s, e - s]), want, `step ${step}: the manifest's view of them`);
      assert.is(a.used, model.filter((f) => !f).length * BLOCK);
    }
  }
  assert.ok(maxRanges > 300 && reserved > 1000, `the list grew to ${maxRanges} ranges; ${reserved} reservations`);
  // rebuilt from its free list and from its used ranges: the same allocator
  const free = a.freeRanges().map(([s, e]) => [s, e - s] as [number, number]);
  const rebuilt = [BlockAllocator.fromFree(blocks * BLOCK, BLOCK, free.slice().reverse()), BlockAllocator.fromUsed(blocks * BLOCK, BLOCK, held.slice())];
  for (const b of rebuilt) {
    assert.equal(b.freeRanges(), a.freeRanges(), 'rebuilt: the same free ranges');
    assert.is(b.used, a.used);
  }
  for (let i = 0; i < 200; i++) {
    const n = (1 + rng.int(3)) * BLOCK;
    const off = a.alloc(n);
    for (const b of rebuilt) assert.is(b.alloc(n), off, 'rebuilt: the same first fits');
  }
  assert.throws(() => a.reserve(held[0]![0], BLOCK), /not free/, 'reserving a used extent');
  const stillFree = a.freeRanges();
  assert.throws(() => a.release(stillFree[stillFree.length - 1]![0], BLOCK), /double free/, 'releasing a free extent');
});

test('a manifest free list merges extents that are not block-aligned too (the sort for those takes another path)', () => {
  const a = new BlockAllocator(16 * BLOCK, BLOCK);
  a.alloc(16 * BLOCK); // nothing free
  const extra: Array<[number, number]> = [[3 * BLOCK + 100, 50], [BLOCK, BLOCK], [3 * BLOCK + 100, 20], [2 * BLOCK, 10], [0, 0]];
  assert.equal(freeSnapshot(a, extra), [[BLOCK, BLOCK + 10], [3 * BLOCK + 100, 50]], 'sorted, touching ranges joined, the longest of a repeated offset');
  const aligned: Array<[number, number]> = [[5 * BLOCK, BLOCK], [BLOCK, BLOCK], [5 * BLOCK, 2 * BLOCK], [2 * BLOCK, BLOCK]];
  assert.equal(freeSnapshot(a, aligned), [[BLOCK, 2 * BLOCK], [5 * BLOCK, 2 * BLOCK]], 'aligned: the same rules');
});

test('a flat extent list grows and clears; its sort is made once and made again after any change', () => {
  const x = new ExtentList(2);
  for (let i = 99; i >= 0; i--) x.push(i * BLOCK, BLOCK);
  const y = ExtentList.of([[500 * BLOCK, BLOCK]]);
  const before = x.sorted(BLOCK);
  assert.is(x.sorted(BLOCK), before, 'unchanged: the same sort');
  assert.is(before.offs[0], 0, 'sorted by offset');
  x.pushAll(y);
  assert.is(x.length, 101);
  assert.ok(x.sorted(BLOCK) !== before && x.sorted(BLOCK).offs.length === 101, 'pushAll: sorted again, with the new range');
  assert.equal(x.toArray()[100], [500 * BLOCK, BLOCK]);
  const c = x.sorted(BLOCK);
  x.push(600 * BLOCK, BLOCK);
  assert.ok(x.sorted(BLOCK) !== c && x.sorted(BLOCK).offs.length === 102, 'push: sorted again');
  x.clear();
  assert.is(x.length, 0);
  assert.is(x.sorted(BLOCK).offs.length, 0, 'clear: sorted again, empty');
  const revived = ExtentList.revive(structuredClone(y));
  assert.equal(revived.toArray(), y.toArray(), 'a list posted by a worker');
});

test('sortExtents orders block numbers of any size (one radix pass per 11 bits) as a plain sort does, keeping the longest of a repeated offset', () => {
  const rng = new Rng(7);
  for (const maxBlock of [1, 2047, 2048, 1 << 22, 2 ** 32 - 1]) {
    const x = new ExtentList();
    const want = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const off = Math.floor(rng.float() * (maxBlock + 1)) * BLOCK;
      const len = rng.chance(0.05) ? 0 : (1 + rng.int(8)) * BLOCK;
      x.push(off, len);
      if (len > 0) want.set(off, Math.max(want.get(off) ?? 0, len));
    }
    const s = sortExtents(x, BLOCK);
    const offs = [...want.keys()].sort((a, b) => a - b);
    assert.equal([...s.offs], offs, `max block ${maxBlock}: offsets`);
    assert.equal([...s.lens], offs.map((o) => want.get(o)!), `max block ${maxBlock}: lengths`);
    assert.is(s.dups, x.toArray().filter(([, n]) => n > 0).length - offs.length, `max block ${maxBlock}: repeats counted`);
  }
});

test('releasing a range twice, or a free range, in one batch is a double free', () => {
  const a = new BlockAllocator(64 * BLOCK, BLOCK);
  const held = Array.from({ length: 20 }, () => [a.alloc(BLOCK), BLOCK] as [number, number]);
  assert.throws(() => a.releaseMany([...held.slice(0, 10), held[3]!]), /double free/);
  const twice = ExtentList.of([...held.slice(10, 19), held[12]!]);
  twice.sorted(BLOCK);
  assert.throws(() => a.releaseMany(twice), /double free/, 'sorted beforehand: the same check');
  const b = new BlockAllocator(64 * BLOCK, BLOCK);
  const got = Array.from({ length: 20 }, () => [b.alloc(BLOCK), BLOCK] as [number, number]);
  b.release(got[5]![0], BLOCK);
  assert.throws(() => b.releaseMany(got.slice(0, 12)), /double free/);
  b.releaseMany(got.filter((_, i) => i !== 5));
  assert.is(b.used, 0, 'everything free again');
  assert.equal(b.freeRanges(), [[0, 64 * BLOCK]], 'coalesced into one range');
});

test.run();
