/**
 * A block cache that follows the data (`TargetOptions.blockCacheMaxBytes`): as a store's runs grow,
 * its verified-block cache's bound rises by their bytes (up to the cap), all of it for its arena, so random point reads over every key keep their blocks (a second pass over the
 * keys fills no frame) instead of re-reading and re-verifying a block per read (the 'cache cliff':
 * 100 B gets over 16 targets cost 2.8-3.1 us of CPU at 151k objects, 7.5-8.8 at 201k). A store
 * without the option keeps its bound. The arena grows in place: blocks already in frames keep
 * their frames and generations, new frames are used before any is reused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { ARENA_FRAME_BYTES, ARENA_SEGMENT_FRAMES, BlockArena } from '../../src/vos/run.js';
import { POINT_INDEX_MIN_READS, pointReads } from '../../src/vos/reads.js';
import { Rng } from '../../core/rng.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos block cache follows the data');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('block-cache-follow'); pointReads.minReads = 1; });
test.after.each(() => { pointReads.minReads = POINT_INDEX_MIN_READS; fs.rmSync(dir, { recursive: true, force: true }); });

test('an arena extended in place: its frames keep their blocks and generations; new frames are used before any is reused; a short last segment grows', () => {
  let grown = 0;
  const a = new BlockArena(10, (n) => { grown += n; }); // one short segment of 10 frames
  const block = (i: number) => new Uint8Array(100).fill(i & 0xff);
  const held: Array<{ f: number; gen: number; i: number }> = [];
  for (let i = 0; i < 25; i++) held.push({ f: a.fill(i * 4096, block(i)), gen: 0, i }); // reuses frames 0..9 twice over
  for (const h of held) h.gen = a.gen[h.f]!;
  const live = held.filter((h) => a.gen[h.f] === h.gen && a.segs[BlockArena.segment(h.f)]![BlockArena.base(h.f)] === (h.i & 0xff));
  assert.is(live.length, 10, 'the last 10 fills hold their frames');
  assert.is(grown, 10 * ARENA_FRAME_BYTES);
  a.extend(ARENA_SEGMENT_FRAMES + 20);
  assert.is(a.frames, ARENA_SEGMENT_FRAMES + 20);
  assert.is(a.segs[0]!.length, ARENA_SEGMENT_FRAMES * ARENA_FRAME_BYTES, 'the short segment grew to a full one');
  for (const h of live) {
    assert.is(a.gen[h.f], h.gen, `frame ${h.f} keeps its generation`);
    assert.is(a.segs[BlockArena.segment(h.f)]![BlockArena.base(h.f) + 99], h.i & 0xff, `frame ${h.f} keeps its bytes`);
  }
  // the new frames (10 .. 275) are filled before any old one is reused
  const fresh = new Set<number>();
  for (let i = 0; i < ARENA_SEGMENT_FRAMES + 10; i++) fresh.add(a.fill((100 + i) * 4096, block(i)));
  assert.is(fresh.size, ARENA_SEGMENT_FRAMES + 10);
  for (const h of live) assert.ok(!fresh.has(h.f), `old frame ${h.f} not reused while new ones were free`);
  for (const h of live) assert.is(a.gen[h.f], h.gen, `frame ${h.f} still holds its block`);
  assert.is(grown, (ARENA_SEGMENT_FRAMES + 20) * ARENA_FRAME_BYTES, 'every segment byte counted once');
  a.extend(5);
  assert.is(a.frames, ARENA_SEGMENT_FRAMES + 20, 'never shrinks');
});

const D = enc('d'), A = enc('a');
const oidOf = (i: number) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << 128n) - 1n);
const valueOf = (i: number) => { const v = new Uint8Array(100).fill(i & 0xff); new DataView(v.buffer).setUint32(0, i, true); return v; };

/** Write `n` objects (flushed into runs), read them all twice at random; the arena fills of each pass. */
async function twoPasses(opts: VosOptions, n: number): Promise<{ bound: number; runBytes: number; fills: [number, number]; frames: number }> {
  const t = await VosTarget.open(dir, opts);
  try {
    for (let i = 0; i < n; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i));
    await t.target.flushAll();
    const arena = t.target.verified.arena!;
    const rng = new Rng(0xcac4e);
    const fills: [number, number] = [0, 0];
    for (let pass = 0; pass < 2; pass++) {
      const f0 = arena.fills;
      for (let k = 0; k < 2 * n; k++) {
        const i = rng.int(n);
        const now = t.fetchSingleNow(20n, oidOf(i), D, A);
        const got = now === null ? await t.fetchSingle(20n, oidOf(i), D, A) : now;
        assert.equal(got, valueOf(i), `object ${i}`);
      }
      fills[pass] = arena.fills - f0;
    }
    let runBytes = 0;
    for (const r of t.target.runs) runBytes += r.meta.bytes;
    return { bound: t.target.verified.bound, runBytes, fills, frames: arena.frames };
  } finally {
    await t.close();
  }
}

// a 512 KiB resident budget: a 256 KiB block cache, a 32-frame arena, for ~2 MiB of runs
const BASE: VosOptions = { scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread', residentBytes: 512 * KiB };
const N = 12000;

test('with blockCacheMaxBytes the bound follows the runs (the first bound + their bytes) and a second random pass over every key fills no frame', async () => {
  const r = await twoPasses({ ...BASE, blockCacheMaxBytes: 64 * MiB }, N);
  assert.ok(r.runBytes > 1 * MiB, `runs of ${r.runBytes} bytes`);
  assert.is(r.bound, 512 * KiB / 2 + r.runBytes, 'bound = its first bound + the runs');
  assert.is(r.frames, Math.floor((128 * KiB + r.runBytes) / ARENA_FRAME_BYTES), `an arena of ${r.frames} frames: its first half of the bound + the runs`);
  assert.is(r.fills[1], 0, `second pass: no block read again (first pass ${r.fills[0]} fills)`);
});

test('the cap holds the bound; without the option the bound and the arena stay', async () => {
  const capped = await twoPasses({ ...BASE, blockCacheMaxBytes: 1 * MiB }, N);
  assert.is(capped.bound, 1 * MiB, 'the cap');
  fs.rmSync(dir, { recursive: true, force: true });
  const fixed = await twoPasses(BASE, N);
  assert.is(fixed.bound, 256 * KiB, 'half the resident budget, as before');
  assert.is(fixed.frames, 32, 'the arena keeps its 32 frames');
});

test('a raised bound read without the point index (no arena frames): the blocks read take the raised bound', async () => {
  pointReads.index = false;
  const t = await VosTarget.open(dir, { ...BASE, blockCacheMaxBytes: 64 * MiB });
  try {
    for (let i = 0; i < N; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i));
    await t.target.flushAll();
    assert.ok(t.target.verified.bound > 512 * KiB, 'raised');
    for (let i = 0; i < N; i += 3) {
      const now = t.fetchSingleNow(20n, oidOf(i), D, A);
      assert.equal(now === null ? await t.fetchSingle(20n, oidOf(i), D, A) : now, valueOf(i));
    }
    const held = t.target.verified.bytes;
    assert.ok(held > 512 * KiB && held <= t.target.verified.bound, `held ${held}: past the first bound (256 KiB), within the raised one (${t.target.verified.bound})`);
  } finally {
    pointReads.index = true;
    await t.close();
  }
});

test('blockCacheMaxBytes must be an integer >= 0', async () => {
  let code: string | undefined;
  try { await VosTarget.open(dir, { ...BASE, blockCacheMaxBytes: -1 }); } catch (e) { code = (e as { code?: string }).code; }
  assert.is(code, 'INVALID_ARGUMENT');
});

test.run();
