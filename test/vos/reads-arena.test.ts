/**
 * The block arena point reads answer from (`run.BlockArena`, named by `reads.PointIndex` slots
 * with a frame and its generation): a frame reused for another block (eviction, a block filled
 * again, a forgotten range) is never read as the block its old holders named, held to a model of
 * every frame's contents; a store whose arena is much smaller than its runs answers every point
 * read as a model says, through many evictions; bytes damaged behind the store are reported
 * (CORRUPTED for a run block once its cached copies are forgotten, CHECKSUM_MISMATCH for a value
 * in the data file), never read as absent nor served from a stale frame.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { ARENA_FRAME_BYTES, ARENA_SEGMENT_FRAMES, BlockArena } from '../../src/vos/run.js';
import { POINT_INDEX_MIN_READS, pointIndexOf, pointReads } from '../../src/vos/reads.js';
import { decodeKey } from '../../src/vos/keys.js';
import { Rng } from '../../core/rng.js';
import { enc, failure, flip, tmpDir } from './helpers.js';

const test = suite('vos block arena');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('reads-arena'); pointReads.minReads = 1; });
test.after.each(() => { pointReads.index = true; pointReads.arena = true; pointReads.minReads = POINT_INDEX_MIN_READS; fs.rmSync(dir, { recursive: true, force: true }); });

test('a holder of (frame, generation) reads its own block or sees the generation moved on: fills, reuse, refills of one offset, forgets', () => {
  const FRAMES = ARENA_SEGMENT_FRAMES + 5; // two segments
  let grown = 0;
  const a = new BlockArena(FRAMES, (n) => { grown += n; });
  const rng = new Rng(0xa7e);
  // model: what each frame holds now (undefined: nothing); holders: every (frame, gen, bytes) ever handed out
  const holds: Array<Uint8Array | undefined> = new Array(FRAMES).fill(undefined);
  const holders: Array<{ f: number; gen: number; bytes: Uint8Array; off: number }> = [];
  const offs = new Map<number, number>(); // block offset -> frame the model expects it in
  let version = 0;
  for (let step = 0; step < 4000; step++) {
    const x = rng.int(100);
    if (x < 3) {
      // forget one offset, or a range of them
      const lo = rng.int(400) * 4096, len = x === 0 ? 64 * 4096 : 1;
      a.forgetRange(lo, len);
      for (const [o, f] of [...offs]) if (o >= lo && o < lo + len) { holds[f] = undefined; offs.delete(o); }
      continue;
    }
    const off = rng.int(400) * 4096;
    const len = 16 + rng.int(ARENA_FRAME_BYTES - 15);
    const bytes = new Uint8Array(len);
    new DataView(bytes.buffer).setUint32(0, ++version, true);
    bytes.fill(version & 0xff, 4);
    const f = a.fill(off, bytes);
    assert.ok(f >= 0 && f < FRAMES, `frame ${f}`);
    const old = offs.get(off);
    if (old !== undefined && old !== f) holds[old] = undefined; // one frame per block offset
    for (const [o, g] of [...offs]) if (g === f) offs.delete(o);
    holds[f] = bytes; offs.set(off, f);
    holders.push({ f, gen: a.gen[f]!, bytes, off });
    // every holder whose generation still matches reads exactly its block; every other frame moved on
    if (step % 97 === 0 || step > 3900) {
      for (const h of holders) {
        const now = a.segs[BlockArena.segment(h.f)]!.subarray(BlockArena.base(h.f), BlockArena.base(h.f) + h.bytes.length);
        if (a.gen[h.f] === h.gen) {
          assert.ok(holds[h.f] === h.bytes, `frame ${h.f}: generation ${h.gen} still current only while it holds the block`);
          assert.equal(now, h.bytes, `frame ${h.f}: its bytes`);
        } else {
          assert.ok(holds[h.f] !== h.bytes, `frame ${h.f}: a frame that still holds the block keeps its generation`);
        }
      }
    }
  }
  assert.is(a.fills, holders.length);
  assert.is(grown, FRAMES * ARENA_FRAME_BYTES, 'segments allocated once, counted once');
  assert.is(a.segs.length, 2);
  assert.is(a.fill(0, new Uint8Array(ARENA_FRAME_BYTES + 1)), -1, 'a block larger than a frame gets none');
});

const D = enc('d'), A = enc('a');
const oidOf = (i: number) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << 128n) - 1n);
/** Object i's value at write w: inline in runs (60-189 bytes) unless `big` (5 KiB: the data file); its bytes name (i, w). */
const valueOf = (i: number, w: number, big = false) => {
  const v = new Uint8Array(big ? 5000 + (i % 7) : 60 + ((i * 7 + w) % 130)).fill((i * 31 + w) & 0xff);
  new DataView(v.buffer).setUint32(0, i, true); new DataView(v.buffer).setUint32(4, w, true);
  return v;
};

async function read(t: VosTarget, at: bigint, i: number): Promise<Uint8Array | undefined> {
  const now = t.fetchSingleNow(at, oidOf(i), D, A);
  return now === null ? await t.fetchSingle(at, oidOf(i), D, A) : now;
}

test('an arena far smaller than the runs: random point reads through many frame reuses (index builds, refills) all answer as the model', async () => {
  // a block cache of 128 KiB: an arena of 16 frames for ~100-300 data blocks
  const opts: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread', residentBytes: 256 * KiB };
  const t = await VosTarget.open(dir, opts);
  const N = 3000;
  const model = new Map<number, Uint8Array>();
  const rng = new Rng(0x5eed);
  try {
    const arena = t.target.verified.arena!;
    assert.ok(arena !== null && arena.frames === 16, `a 16-frame arena (${arena?.frames})`);
    let w = 0;
    for (let round = 0; round < 8; round++) {
      // new versions of a spread of objects, flushed: a new list of runs, its index extended or rebuilt (frames refilled)
      for (let i = round % 3; i < N; i += 1 + (round % 4)) { const v = valueOf(i, ++w); await t.updateSingle(BigInt(10 + round), oidOf(i), D, A, v); model.set(i, v); }
      await t.target.flushAll();
      assert.ok(pointIndexOf(t.target.runs) !== null, `round ${round}: the runs are indexed`);
      for (let k = 0; k < 1500; k++) {
        const i = rng.int(N + 200); // the last 200 were never written
        assert.equal(await read(t, 100n, i), model.get(i), `round ${round}: object ${i} (read ${k})`);
      }
    }
    // (reads fill frames, up to the arena's size per index built: 8 builds of 16 frames; builds copy no block since session 29)
    assert.ok(arena.fills >= 6 * arena.frames, `frames reused many times (${arena.fills} fills of ${arena.frames} frames)`);
    // the same answers from the block cache (the arena off), and with the index off (the per-run path)
    pointReads.arena = false;
    for (let i = 0; i < N; i += 37) assert.equal(await read(t, 100n, i), model.get(i), `object ${i} (arena off)`);
    pointReads.arena = true;
    pointReads.index = false;
    for (let i = 0; i < N; i += 37) assert.equal(await read(t, 100n, i), model.get(i), `object ${i} (runs)`);
  } finally {
    await t.close();
  }
});

test('damage behind the store: a run block is CORRUPTED once its cached copies are forgotten (never absent, never a stale frame); a data-file value is CHECKSUM_MISMATCH', async () => {
  const opts: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread' };
  const t = await VosTarget.open(dir, opts);
  const N = 1500;
  const big = (i: number) => i % 50 === 0;
  const model = new Map<number, Uint8Array>();
  try {
    for (let i = 0; i < N; i++) { const v = valueOf(i, 1, big(i)); await t.updateSingle(10n, oidOf(i), D, A, v); model.set(i, v); }
    await t.target.flushAll();
    for (let i = 0; i < N; i++) assert.equal(await read(t, 20n, i), model.get(i), `object ${i}`);
    const run = t.target.runs[0]!;
    const ix = pointIndexOf(t.target.runs)!;
    assert.ok(ix !== null);
    const arena = t.target.verified.arena!;
    assert.ok(arena.fills > 0, 'point reads answered from the arena');
    // a data block in the middle of the run, and the objects whose entries it holds
    const ib = run.indexBlock(0);
    const j = ib.count >> 1, ref = ib.ref(j);
    const inBlock = new Set<number>();
    {
      const blk = run.dataBlock(0, j);
      const byOid = new Map<bigint, number>();
      for (let i = 0; i < N; i++) byOid.set(oidOf(i), i);
      for (let e = 0; e < blk.count; e++) {
        const k = decodeKey(blk.key(e).slice());
        const i = k && k.kind !== 'object' ? byOid.get(k.oid) : undefined;
        if (i !== undefined) inBlock.add(i);
      }
    }
    assert.ok(inBlock.size > 3, `objects in the block (${inBlock.size})`);
    flip(path.join(dir, 'vos.scm'), ref.off + Math.floor(ref.len / 2));
    // the block cache and the arena hold verified copies made before the damage: forget them
    t.target.verified.forgetRange(0, Number.MAX_SAFE_INTEGER);
    for (const i of [...inBlock].slice(0, 5)) {
      const err = await failure(() => read(t, 20n, i));
      assert.is(err?.code, 'CORRUPTED', `object ${i} in the damaged block: CORRUPTED, never absent`);
    }
    for (let i = 0; i < N; i += 7) if (!inBlock.has(i) && !big(i)) {
      const got = await failure(() => read(t, 20n, i));
      if (got !== undefined) assert.is(got.code, 'CORRUPTED', `object ${i}: right or typed`);
      else assert.equal(await read(t, 20n, i), model.get(i), `object ${i} outside the block`);
    }
    flip(path.join(dir, 'vos.scm'), ref.off + Math.floor(ref.len / 2)); // put back
    t.target.verified.forgetRange(0, Number.MAX_SAFE_INTEGER);
    for (const i of inBlock) assert.equal(await read(t, 20n, i), model.get(i), `object ${i} after repair`);
    // a value in the data file, its version found through the arena: a flipped byte is CHECKSUM_MISMATCH at every read
    const victim = 100;
    const data = path.join(dir, 'vos.data');
    const at = fs.readFileSync(data).indexOf(Buffer.from(model.get(victim)!.subarray(0, 64)));
    assert.ok(at >= 0, 'the value is in vos.data');
    flip(data, at + 300);
    for (let k = 0; k < 3; k++) assert.is((await failure(() => read(t, 20n, victim)))?.code, 'CHECKSUM_MISMATCH', `read ${k} of the flipped value`);
    flip(data, at + 300);
    assert.equal(await read(t, 20n, victim), model.get(victim), 'put back, it reads again');
  } finally {
    await t.close();
  }
});

test.run();
