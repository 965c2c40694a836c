/**
 * A run's point list (`Run.points`, what a `PointIndex` is built from) reads the run's data blocks
 * that no cache holds a step at a time, in few reads into a reused buffer, checks each block as a
 * single read would, and puts it in a frame the block arena never used (where the first point read
 * of it would have copied it); once the arena has no such frame left, in the block cache. Point
 * reads then answer from those frames without reading the file again. A block that fails its
 * checks is left to the per-block path, which reports it (CORRUPTED, never absent), and the other
 * blocks of its read are still loaded. Held to a model (a Map) of every value written.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { PmemSpace } from '../../src/media/pmem-space.js';
import { POINT_INDEX_MIN_READS, pointIndexOf, pointReads } from '../../src/vos/reads.js';
import { POINT_LIST_STEP_BLOCKS } from '../../src/vos/run.js';
import { decodeKey } from '../../src/vos/keys.js';
import { enc, failure, flip, tmpDir } from './helpers.js';

const test = suite('vos run point lists');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('run-point-lists'); pointReads.minReads = 1; });
test.after.each(() => { pointReads.minReads = POINT_INDEX_MIN_READS; fs.rmSync(dir, { recursive: true, force: true }); });

const D = enc('d'), A = enc('a');
const oidOf = (i: number) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << 128n) - 1n);
/** Object i's value: inline in the run (60-189 bytes), its bytes naming i. */
const valueOf = (i: number) => {
  const v = new Uint8Array(60 + ((i * 7) % 130)).fill((i * 31) & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
};

async function read(t: VosTarget, at: bigint, i: number): Promise<Uint8Array | undefined> {
  const now = t.fetchSingleNow(at, oidOf(i), D, A);
  return now === null ? await t.fetchSingle(at, oidOf(i), D, A) : now;
}

/** Counts the pmem file's reads (`pread`: one block or span, its own buffer; `preadInto`: into the caller's) while `fn` runs. */
async function counted<T>(fn: () => Promise<T> | T): Promise<{ value: T; pread: number; preadInto: number; preadIntoBytes: number }> {
  const p = PmemSpace.prototype.pread, pi = PmemSpace.prototype.preadInto;
  const c = { pread: 0, preadInto: 0, preadIntoBytes: 0 };
  PmemSpace.prototype.pread = function (this: PmemSpace, off: number, len: number) { c.pread++; return p.call(this, off, len); };
  PmemSpace.prototype.preadInto = function (this: PmemSpace, off: number, out: Uint8Array) { c.preadInto++; c.preadIntoBytes += out.length; return pi.call(this, off, out); };
  try { return { value: await fn(), ...c }; } finally { PmemSpace.prototype.pread = p; PmemSpace.prototype.preadInto = pi; }
}

/** N objects written and flushed into one run, the store closed and opened again (no block cached). */
async function oneRun(opts: VosOptions, n: number): Promise<VosTarget> {
  let t = await VosTarget.open(dir, opts);
  for (let i = 0; i < n; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i));
  await t.target.flushAll();
  await t.close();
  t = await VosTarget.open(dir, opts);
  return t;
}

test('the list reads its blocks a step at a time, into unused frames; point reads then answer from them and read nothing', async () => {
  const t = await oneRun({ scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 1 * MiB, io: 'pread' }, 6000);
  try {
    const runs = t.target.runs;
    assert.ok(runs.length >= 1, 'runs');
    const arena = t.target.verified.arena!;
    const fills0 = arena.fills;
    const built = await counted(() => pointIndexOf(runs));
    assert.ok(built.value !== null, 'the run is indexed');
    const points = runs.reduce((n, r) => n + (r.points()?.count ?? Number.NaN), 0);
    assert.is(points, 6000, 'a point per object');
    const blocks = arena.fills - fills0;
    assert.ok(blocks >= 2 * POINT_LIST_STEP_BLOCKS, `its data blocks went to frames (${blocks})`);
    // blocks near one another share a read (a step's blocks, split where the run's chunks are apart): far fewer reads than blocks
    assert.ok(built.preadInto >= Math.ceil(blocks / POINT_LIST_STEP_BLOCKS) && built.preadInto <= Math.ceil(blocks / 8), `${built.preadInto} reads for ${blocks} blocks`);
    assert.ok(built.preadIntoBytes >= blocks * 1024, `the reads covered the blocks (${built.preadIntoBytes} bytes)`);
    const fills1 = arena.fills;
    const reads = await counted(async () => {
      for (let i = 0; i < 6200; i++) assert.equal(await read(t, 20n, i), i < 6000 ? valueOf(i) : undefined, `object ${i}`);
    });
    assert.is(reads.pread + reads.preadInto, 0, 'every point read answered from a frame, no file read');
    assert.is(arena.fills, fills1, 'and filled none');
  } finally {
    await t.close();
  }
});

test('an arena with fewer unused frames than the run has blocks: the rest go to the block cache, and every read answers as the model', async () => {
  // a block cache of 128 KiB: an arena of 16 frames for ~100-300 data blocks
  const t = await oneRun({ scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 1 * MiB, io: 'pread', residentBytes: 256 * KiB }, 4000);
  try {
    const arena = t.target.verified.arena!;
    assert.is(arena.frames, 16, `a 16-frame arena (${arena.frames})`);
    const built = await counted(() => pointIndexOf(t.target.runs));
    assert.ok(built.value !== null, 'the run is indexed');
    assert.is(arena.unused, 0, 'the arena used every frame');
    assert.ok(built.preadInto >= 1, 'the blocks were read in spans');
    for (let i = 0; i < 4100; i += 3) assert.equal(await read(t, 20n, i), i < 4000 ? valueOf(i) : undefined, `object ${i}`);
  } finally {
    await t.close();
  }
});

test('a data block damaged on the medium: left out of its span and reported CORRUPTED by the reads that need it (never absent); its neighbours still load', async () => {
  const opts: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 1 * MiB, io: 'pread' };
  let t = await oneRun(opts, 3000);
  const run = t.target.runs[0]!;
  const ib = run.indexBlock(0);
  const j = ib.count >> 1, ref = ib.ref(j);
  const inBlock = new Set<number>();
  const byOid = new Map<bigint, number>();
  for (let i = 0; i < 3000; i++) byOid.set(oidOf(i), i);
  const blk = run.dataBlock(0, j);
  for (let e = 0; e < blk.count; e++) {
    const k = decodeKey(blk.key(e).slice());
    const i = k && k.kind !== 'object' ? byOid.get(k.oid) : undefined;
    if (i !== undefined) inBlock.add(i);
  }
  assert.ok(inBlock.size >= 2, `objects in the block (${inBlock.size})`);
  await t.close();
  flip(path.join(dir, 'vos.scm'), ref.off + Math.floor(ref.len / 2));
  t = await VosTarget.open(dir, opts);
  try {
    const arena = t.target.verified.arena!;
    const fills0 = arena.fills;
    const built = await counted(() => pointIndexOf(t.target.runs));
    // the damaged block fails the list (the per-run path then answers), or is left out of it: either way its keys report the damage
    assert.ok(built.preadInto >= 1, 'the blocks were read in spans');
    assert.ok(arena.fills - fills0 > 2, `its neighbours went to frames (${arena.fills - fills0})`);
    for (const i of inBlock) assert.is((await failure(() => read(t, 20n, i)))?.code, 'CORRUPTED', `object ${i} in the damaged block: CORRUPTED, never absent`);
    for (let i = 0; i < 3000; i += 5) if (!inBlock.has(i)) {
      const got = await failure(() => read(t, 20n, i));
      if (got !== undefined) assert.is(got.code, 'CORRUPTED', `object ${i}: right or typed`);
      else assert.equal(await read(t, 20n, i), valueOf(i), `object ${i} outside the block`);
    }
  } finally {
    await t.close();
  }
});

test.run();
