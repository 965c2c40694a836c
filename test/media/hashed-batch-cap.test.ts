/**
 * The hashed batcher's job cap (src/media/pread.ts `hashedBatchTuning.maxJobs`, env
 * CAIRN_HASHED_BATCH_MAX_JOBS; unset: 'auto', HASHED_BATCH_LOADED_MAX_JOBS while the machine is
 * loaded, no cap otherwise; 0: no cap). Specification, counts only (`hashedBatchStats`), no
 * timing: with maxJobs 1, a flush of HASHED_BATCH_CAP_MIN_REQUESTS or more reads is one job, and
 * flushes made while a job is in flight wait and then go together as one job; a smaller flush (a
 * lone reader's cells) is still split over the idle cores; writes are never held; the 'located'
 * lane (a connected client's reads of engines' files) is never capped; every answer is the bytes
 * of the file and their XXH64, whatever was held.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';
import { HASHED_BATCH_CAP_MIN_REQUESTS, HASHED_BATCH_LOADED_MAX_JOBS, PreadEngine, hashedBatchStats, hashedBatchTuning, overrideMachineLoaded } from '../../src/media/pread.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-cap-'));
const t = suite('media: hashed batch job cap');
const saved = hashedBatchTuning.maxJobs;
t.before(async () => { await initXxhash(); });
// (the cap alone: no extra read jobs, which hashed-batch-split tests)
const savedExtra = hashedBatchTuning.readExtraJobs;
t.before.each(() => { hashedBatchTuning.readExtraJobs = 0; });
t.after(() => { hashedBatchTuning.readExtraJobs = savedExtra; hashedBatchTuning.maxJobs = saved; hashedBatchTuning.minPerJob = 'auto'; overrideMachineLoaded(undefined); fs.rmSync(tmp, { recursive: true, force: true }); });

const CELL = 64 * 1024;
const CELLS = 64;
const addon = loadNative().addon;
const cores = Math.max(1, Math.min(Number(process.env.UV_THREADPOOL_SIZE) || 4, os.availableParallelism()));
/** Let the batcher's scheduled flush run (a microtask checkpoint; no job can complete in between). */
const tick = () => Promise.resolve();

t('maxJobs 1: big read flushes are one job, later ones wait and go together; small flushes split; writes and the located lane are not held; answers right', async () => {
  const io = new PreadEngine();
  const located = new PreadEngine('located');
  if (!io.readvHash || !io.writevHash || !located.readvHash || !addon?.hashedBatch || process.env.CAIRN_HASHED_BATCH === '0') { console.log('  (no native hashed batches: skipped)'); return; }
  const file = path.join(tmp, 'cells.dat');
  const data = new Rng(0xca9).bytes(CELLS * CELL);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r+');
  const map = addon.mapFile?.(fd, data.length, false);
  const N = HASHED_BATCH_CAP_MIN_REQUESTS;
  hashedBatchTuning.minPerJob = 1;
  overrideMachineLoaded(false);
  hashedBatchTuning.maxJobs = 1;
  try {
    const reads = (e: PreadEngine, n: number, from: number, mapped: boolean) => {
      const into = Array.from({ length: n }, () => new Uint8Array(CELL));
      const at = (i: number) => ((from + i) * 5 % CELLS) * CELL;
      const p = Promise.all(into.map((b, i) => e.readvHash!(fd, [b], at(i), CELL, BigInt(from + i), mapped ? map : undefined)));
      return { p, check: (hs: bigint[]) => into.forEach((b, i) => {
        assert.ok(Buffer.from(b).equals(data.subarray(at(i), at(i) + CELL)), `read ${from + i}: bytes`);
        assert.is(hs[i], xxh64(b, BigInt(from + i)), `read ${from + i}: hash`);
      }) };
    };
    for (const mapped of map ? [false, true] : [false]) {
      // a flush of N reads, nothing in flight: one job
      let j0 = hashedBatchStats.jobs;
      let a = reads(io, N, 0, mapped);
      a.check(await a.p);
      assert.is(hashedBatchStats.jobs - j0, 1, `${N} reads, maxJobs 1: one job`);
      // a lone reader's flush (fewer than N): split over the idle cores as without the cap
      j0 = hashedBatchStats.jobs;
      a = reads(io, 4, 100, mapped);
      a.check(await a.p);
      assert.is(hashedBatchStats.jobs - j0, Math.min(4, cores), '4 reads: one job per idle core');
      // three flushes, the first in flight while the next two are made: 2 jobs in all
      j0 = hashedBatchStats.jobs;
      a = reads(io, N, 200, mapped);
      await tick();
      const b = reads(io, N, 300, mapped);
      await tick();
      const c = reads(io, N + 3, 400, mapped);
      await tick();
      assert.is(hashedBatchStats.jobs - j0, 1, 'while the first job is in flight the next flushes wait');
      const [ha, hb, hc] = await Promise.all([a.p, b.p, c.p]);
      a.check(ha); b.check(hb); c.check(hc);
      assert.is(hashedBatchStats.jobs - j0, 2, 'the held flushes went as one job');
      // the located lane is never capped: one job per idle core
      j0 = hashedBatchStats.jobs;
      a = reads(located, N, 500, mapped);
      a.check(await a.p);
      assert.is(hashedBatchStats.jobs - j0, Math.min(N, cores), `located lane, ${N} reads: one job per idle core`);
    }
    // writes are not held: N writes (past the cells read) go out while a read job is in flight
    const j0 = hashedBatchStats.jobs;
    const a = reads(io, N, 600, false);
    await tick();
    const src = Array.from({ length: N }, (_, i) => new Rng(0x77 + i).bytes(CELL));
    const w = Promise.all(src.map((s, i) => io.writevHash!(fd, [s], (CELLS + i) * CELL, CELL, 9n)));
    await tick();
    assert.ok(hashedBatchStats.jobs - j0 >= 2, 'the writes were sent beside the read job in flight');
    a.check(await a.p);
    const hw = await w;
    src.forEach((s, i) => {
      assert.is(hw[i], xxh64(s, 9n), `write ${i}: hash`);
      const back = Buffer.alloc(CELL);
      fs.readSync(fd, back, 0, CELL, (CELLS + i) * CELL);
      assert.ok(back.equals(s), `write ${i}: bytes`);
    });
  } finally {
    hashedBatchTuning.maxJobs = saved;
    hashedBatchTuning.minPerJob = 'auto';
    overrideMachineLoaded(undefined);
    if (map) addon.unmapFile?.(map);
    fs.closeSync(fd);
  }
});

t("'auto' caps only while the machine is loaded", async () => {
  const io = new PreadEngine();
  if (!io.readvHash || !addon?.hashedBatch || process.env.CAIRN_HASHED_BATCH === '0') { console.log('  (no native hashed batches: skipped)'); return; }
  const file = path.join(tmp, 'auto.dat');
  const data = new Rng(0xa07).bytes(CELLS * CELL);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r');
  const N = HASHED_BATCH_CAP_MIN_REQUESTS;
  hashedBatchTuning.minPerJob = 1;
  hashedBatchTuning.maxJobs = 'auto';
  try {
    for (const loaded of [false, true]) {
      overrideMachineLoaded(loaded);
      const j0 = hashedBatchStats.jobs;
      const into = Array.from({ length: N }, () => new Uint8Array(CELL));
      const hs = await Promise.all(into.map((b, i) => io.readvHash!(fd, [b], i * CELL, CELL, 3n)));
      into.forEach((b, i) => { assert.ok(Buffer.from(b).equals(data.subarray(i * CELL, (i + 1) * CELL))); assert.is(hs[i], xxh64(b, 3n)); });
      assert.is(hashedBatchStats.jobs - j0, loaded ? HASHED_BATCH_LOADED_MAX_JOBS : Math.min(N, cores), `${N} reads, 'auto', loaded ${loaded}: jobs`);
    }
  } finally {
    hashedBatchTuning.maxJobs = saved;
    hashedBatchTuning.minPerJob = 'auto';
    overrideMachineLoaded(undefined);
    fs.closeSync(fd);
  }
});

t.run();
