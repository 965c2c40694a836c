/**
 * Run fences (`RunFences`, the first key of every data block in flat arrays) and the seeks that
 * use them: `lastAtOrBefore` against a brute-force search on keys that are hard for the windows
 * (long shared heads, zero bytes, keys that are prefixes of others); `Run.seekTo` on a run with
 * more index blocks than its index cache keeps (fences still), on a run too large for fences
 * (more than RUN_FENCE_MAX_INDEX_BLOCKS index blocks: the index-block path) and on a
 * run with a damaged index block (no fences: only a seek that needs the damaged block fails); seeks
 * that revisit blocks (the search that skips a block's first key, `BlockView.lowerBoundAfter`)
 * against brute force; a run whose data block's first key disagrees with its index entry, every
 * checksum valid (reported CORRUPTED, never searched on the fence's word).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Run, RunWriter, RunPoint, VerifiedBlocks, INDEX_CACHE_BLOCKS, NO_PROBES, type RunSpace } from '../../src/vos/run.js';
import { akeyPrefix, objectTableKey, stampKey, TAG_SINGLE } from '../../src/vos/keys.js';
import { RunFences, RUN_FENCE_MAX_INDEX_BLOCKS } from '../../src/vos/run-fences.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { CairnError } from '../../core/errors.js';
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from '../../src/vos/constants.js';
import { memSpace } from './helpers.js';

const test = suite('vos run fences');
test.before(async () => { await initXxhash(); });

const cmp = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Sorted unique keys over a small alphabet after a shared head of `head` bytes. */
function keys(rng: Rng, n: number, head: number, maxTail = 14): Uint8Array[] {
  const alphabet = [0, 1, 2, 0x7f, 0xff];
  const seen = new Map<string, Uint8Array>();
  while (seen.size < n) {
    const len = rng.int(maxTail);
    const k = new Uint8Array(head + len).fill(9);
    for (let i = 0; i < len; i++) k[head + i] = alphabet[rng.int(alphabet.length)]!;
    seen.set(hex(k), k);
  }
  return [...seen.values()].sort(cmp);
}

/** Probes around `ks`: present, prefixes, one byte changed, one byte longer, before and after all. */
function probes(rng: Rng, ks: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [new Uint8Array(0), new Uint8Array(40).fill(0xff), new Uint8Array(3).fill(9)];
  for (let i = 0; i < n; i++) {
    const base = ks[rng.int(ks.length)]!;
    const r = rng.int(4);
    if (r === 0) out.push(base);
    else if (r === 1) out.push(base.subarray(0, rng.int(base.length + 1)));
    else { const p = base.slice(); if (p.length) p[rng.int(p.length)] = [0, 1, 3, 0x80, 0xfe][rng.int(5)]!; out.push(r === 3 ? Uint8Array.from([...p, rng.int(256)]) : p); }
  }
  return out;
}

test('lastAtOrBefore finds the last fence <= a key, as a brute-force search does', () => {
  for (const [seed, n, head] of [[1, 1, 4], [2, 2, 0], [3, 37, 11], [4, 500, 20], [5, 300, 1]] as const) {
    const rng = new Rng(seed);
    const fk = keys(rng, n, head, 10);
    const f = new RunFences(fk, new Int32Array(n), Int32Array.from(fk, (_, g) => g));
    assert.is(f.count, n);
    for (const k of probes(rng, fk, 2000)) {
      let want = 0;
      for (let g = 0; g < n; g++) if (cmp(fk[g]!, k) <= 0) want = g;
      // the probe as the first klen bytes of a longer buffer (the point lookup's key builder)
      const padded = new Uint8Array(k.length + 6).fill(0xee); padded.set(k);
      assert.is(f.lastAtOrBefore(padded, k.length), want, `seed ${seed}: ${hex(k)}`);
    }
  }
});

function buildRun(ks: Uint8Array[], valueBytes: (i: number) => number, cacheBytes = 1 << 20): { run: Run; space: ReturnType<typeof memSpace> } {
  const space = memSpace(64 * 1024 * 1024);
  const w = new RunWriter(space, space, 1, 0);
  ks.forEach((k, i) => w.add(k, new Uint8Array(valueBytes(i)).fill(i & 0xff), i + 1, []));
  return { run: new Run(space, w.finish()!, new VerifiedBlocks(cacheBytes)), space };
}

function checkSeeks(run: Run, ks: Uint8Array[], rng: Rng, n: number): void {
  const point = new RunPoint();
  for (const k of probes(rng, ks, n)) {
    let want = 0;
    while (want < ks.length && cmp(ks[want]!, k) < 0) want++;
    const found = run.seekTo(k, k.length, point);
    assert.is(found, want < ks.length, `found ${hex(k)}`);
    if (found) {
      const blk = point.blk!; const o = blk.keyOffset(point.e);
      assert.equal(blk.bytes.subarray(o, o + blk.keyLength(point.e)), ks[want], `seek ${hex(k)}`);
    }
  }
}

test('a run with more index blocks than its index cache keeps still has fences (and a point list), and seeks correctly', () => {
  const rng = new Rng(7);
  // long keys: many index blocks
  const ks = keys(rng, 24_000, 180, 24);
  const { run } = buildRun(ks, () => 200, 4 << 20);
  assert.ok(run.meta.index.length > INDEX_CACHE_BLOCKS && run.meta.index.length <= RUN_FENCE_MAX_INDEX_BLOCKS, `index blocks: ${run.meta.index.length}`);
  assert.ok(run.points() !== null, 'fences built (a run without fences has no point list)');
  checkSeeks(run, ks, rng, 800);
});

test('a run with more index blocks than its fences take seeks through its index blocks, correctly', () => {
  const rng = new Rng(9);
  // long keys and larger values: few entries per block, more index blocks than fences take
  const ks = keys(rng, 24_000, 180, 24);
  const { run } = buildRun(ks, () => 1200, 4 << 20);
  assert.ok(run.meta.index.length > RUN_FENCE_MAX_INDEX_BLOCKS, `index blocks: ${run.meta.index.length}`);
  assert.is(run.points(), null, 'no fences');
  checkSeeks(run, ks, rng, 800);
});

test('a run with fences seeks correctly; one with a damaged index block fails only the seeks that need it', () => {
  const rng = new Rng(8);
  const ks = keys(rng, 8000, 12, 16);
  const good = buildRun(ks, (i) => 8 + (i % 40));
  assert.ok(good.run.meta.index.length > 1 && good.run.meta.index.length <= INDEX_CACHE_BLOCKS, `index blocks: ${good.run.meta.index.length}`);
  checkSeeks(good.run, ks, rng, 1500);
  // damage the last index block before the run is first read
  const bad = buildRun(ks, (i) => 8 + (i % 40));
  const last = bad.run.meta.index[bad.run.meta.index.length - 1]!;
  bad.space.buf[last.ref.off + 40]! ^= 0x5a;
  const point = new RunPoint();
  const early = ks[0]!;
  assert.ok(bad.run.seekTo(early, early.length, point), 'a key under an intact index block is found');
  const o = point.blk!.keyOffset(point.e);
  assert.equal(point.blk!.bytes.subarray(o, o + point.blk!.keyLength(point.e)), early);
  const late = ks[ks.length - 1]!;
  try {
    bad.run.seekTo(late, late.length, point);
    assert.unreachable('a seek under the damaged index block must fail');
  } catch (e) {
    assert.instance(e, CairnError);
    assert.is((e as CairnError).code, 'CORRUPTED');
  }
});

test('seeks that revisit the same blocks (warm: shared prefix and windows kept) land where a brute-force search does', () => {
  const rng = new Rng(9);
  const ks = keys(rng, 3000, 30, 10);
  const { run } = buildRun(ks, (i) => 8 + (i % 20), 64 << 20); // a cache that keeps every block
  for (let pass = 0; pass < 4; pass++) checkSeeks(run, ks, rng, 1200);
});

/** Rewrite the checksum a block ends with; returns it. */
function reseal(buf: Uint8Array, off: number, len: number): bigint {
  const c = xxh64(buf.subarray(off, off + len - 8), CSUM_SEED);
  new DataView(buf.buffer, buf.byteOffset).setBigUint64(off + len - 8, c, true);
  return c;
}

test('a data block whose first key is not its index entry\'s (every checksum valid) is CORRUPTED, not searched', () => {
  const rng = new Rng(10);
  const ks = keys(rng, 4000, 12, 16);
  const { run: probe, space } = buildRun(ks, (i) => 8 + (i % 40));
  const meta = probe.meta;
  const top = meta.index[0]!.ref;
  const ib = probe.indexBlock(0);
  assert.ok(ib.count > 2);
  const ref = ib.refAt(1);
  const buf = space.buf, dv = new DataView(buf.buffer);
  // the data block's first key: make its last byte smaller (the block stays sorted), then reseal it
  const klen = dv.getUint16(ref.off + 16, true);
  const at = ref.off + 16 + 6 + klen - 1;
  let pos = at;
  while (buf[pos] === 0) pos--;
  buf[pos]! -= 1;
  const dataCsum = reseal(buf, ref.off, ref.len);
  // the index entry's checksum of that data block, then the index block and the descriptor
  const count = dv.getUint32(top.off + 8, true);
  const offTable = top.off + top.len - 8 - 4 * count;
  const o = top.off + dv.getUint32(offTable + 4, true);
  const vo = o + 6 + dv.getUint16(o, true);
  dv.setBigUint64(vo + 12, dataCsum, true);
  const topCsum = reseal(buf, top.off, top.len);
  const forged = { ...meta, index: meta.index.map((x, i) => (i === 0 ? { first: x.first, ref: { ...x.ref, csum: topCsum } } : x)) };
  const run = new Run(space, forged, new VerifiedBlocks(1 << 20));
  const point = new RunPoint();
  const inBlock1 = ks.find((k) => cmp(k, ib.key(1)) > 0 && cmp(k, ib.key(2)) < 0)!;
  try {
    run.seekTo(inBlock1, inBlock1.length, point);
    assert.unreachable('a seek into the forged block must fail');
  } catch (e) {
    assert.instance(e, CairnError);
    assert.is((e as CairnError).code, 'CORRUPTED');
  }
  const elsewhere = ks[ks.length - 1]!;
  assert.ok(run.seekTo(elsewhere, elsewhere.length, point), 'other blocks still seek');
});

test('a run records the highest epoch of its data entries (maxEpoch), whichever 32-bit words the epochs have', () => {
  const enc = new TextEncoder();
  const prefix = akeyPrefix(1, 5n, enc.encode('d'), enc.encode('a'));
  for (const epochs of [[3n, 9n, 4n], [1n << 40n, (1n << 63n) + 5n, 7n], [0xffffffffn, 0x1_0000_0000n], [(1n << 64n) - 2n]]) {
    const space = memSpace(4 * 1024 * 1024);
    const w = new RunWriter(space, space, 1, 0);
    // (descending epochs: ascending keys, as ~epoch orders them)
    [...epochs].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)).forEach((e, i) => w.add(stampKey(prefix, TAG_SINGLE, e, i + 1), new Uint8Array(4), i + 1, NO_PROBES));
    const top = epochs.reduce((a, b) => (b > a ? b : a));
    assert.is(w.finish()!.maxEpoch, top, `epochs ${epochs.join(', ')}`);
  }
  // object-table entries only: no data entry, no maxEpoch
  const space = memSpace(4 * 1024 * 1024);
  const w = new RunWriter(space, space, 1, 0);
  w.add(objectTableKey(1, 5n), new Uint8Array(0), 0, NO_PROBES);
  assert.is(w.finish()!.maxEpoch, undefined);
});

test.run();
