/**
 * How the thread-pool engine's hashed batcher splits a batch over idle cores (src/media/pread.ts
 * `hashedBatchTuning.minPerJob`, default 'auto': `HASHED_BATCH_MIN_PER_JOB` = 1 while the machine is
 * not loaded, `HASHED_BATCH_LOADED_MIN_PER_JOB` = 3 while it is, `machineLoaded`). Specification: hashed reads
 * issued in one synchronous run while no job is in flight go to the pool as
 * max(1, min(floor(n / minPerJob), cores)) jobs — with 1, one per idle core (min(n, cores));
 * with 3, 2 to 5 requests (the cells a connected client's located reads bring per engine answer) are
 * one job, which the native vector pass hashes side by side; and every answer is the XXH64 of the bytes read, which are the file's,
 * mapped or not, whatever the split. A flush of reads only may count on `readExtraJobs`
 * (HASHED_BATCH_READ_EXTRA_JOBS) jobs more than the cores while the machine is not loaded; writes
 * never. Counts only (`hashedBatchStats`), no timing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';
import { HASHED_BATCH_LOADED_MIN_PER_JOB, HASHED_BATCH_MIN_PER_JOB, HASHED_BATCH_READ_EXTRA_JOBS, PreadEngine, hashedBatchStats, hashedBatchTuning, overrideMachineLoaded } from '../../src/media/pread.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-split-'));
const t = suite('media: hashed batch split over idle cores');
t.before(async () => { await initXxhash(); });
// (the split without the job cap, whatever CAIRN_HASHED_BATCH_MAX_JOBS says: hashed-batch-cap tests the cap)
// (and without extra read jobs but where a test sets them)
const savedMaxJobs = hashedBatchTuning.maxJobs, savedExtra = hashedBatchTuning.readExtraJobs;
t.before.each(() => { hashedBatchTuning.maxJobs = undefined; hashedBatchTuning.readExtraJobs = 0; });
t.after(() => { hashedBatchTuning.minPerJob = 'auto'; hashedBatchTuning.maxJobs = savedMaxJobs; hashedBatchTuning.readExtraJobs = savedExtra; overrideMachineLoaded(undefined); fs.rmSync(tmp, { recursive: true, force: true }); });

const CELL = 64 * 1024;
const addon = loadNative().addon;
/** Jobs that run at once (the batcher's own cap: libuv pool threads, at most the cores). */
const cores = Math.max(1, Math.min(Number(process.env.UV_THREADPOOL_SIZE) || 4, os.availableParallelism()));

t('with minPerJob 1 (by default on a machine not loaded) each idle core takes a share; with 3 (by default on a loaded machine), 2-5 reads of one run are one job and 6 or more a share of at least 3 per idle core; the answers are the bytes and their hashes', async () => {
  const io = new PreadEngine();
  if (!io.readvHash || !addon?.hashedBatch || process.env.CAIRN_HASHED_BATCH === '0') { console.log('  (no native hashed batches: skipped)'); return; }
  const file = path.join(tmp, 'cells.dat');
  const data = new Rng(0x5b1).bytes(16 * CELL);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r');
  const map = addon.mapFile?.(fd, data.length, false);
  try {
    // ([tuning, machine loaded?, the share that must result]: 'auto' follows the load)
    const cases: Array<[number | 'auto', boolean, number]> = [[HASHED_BATCH_MIN_PER_JOB, true, 1], [3, false, 3], ['auto', false, HASHED_BATCH_MIN_PER_JOB], ['auto', true, HASHED_BATCH_LOADED_MIN_PER_JOB]];
    for (const [tuning, loaded, minPerJob] of cases) {
      hashedBatchTuning.minPerJob = tuning;
      overrideMachineLoaded(loaded);
      for (const mapped of map ? [false, true] : [false]) {
        for (let n = 1; n <= 9; n++) {
          const into = Array.from({ length: n }, () => new Uint8Array(CELL));
          const j0 = hashedBatchStats.jobs;
          // (one synchronous run, nothing in flight before: the previous batch was awaited)
          const hs = await Promise.all(into.map((b, i) => io.readvHash!(fd, [b], (i * 7 % 16) * CELL, CELL, BigInt(i + 1), mapped ? map : undefined)));
          const want = Math.max(1, Math.min(Math.floor(n / minPerJob), cores));
          assert.is(hashedBatchStats.jobs - j0, want, `${n} ${mapped ? 'mapped' : 'preadv'} reads, minPerJob ${tuning} (loaded ${loaded}): jobs`);
          into.forEach((b, i) => {
            const at = (i * 7 % 16) * CELL;
            assert.ok(Buffer.from(b).equals(data.subarray(at, at + CELL)), `read ${i} of ${n}: bytes`);
            assert.is(hs[i], xxh64(b, BigInt(i + 1)), `read ${i} of ${n}: hash`);
          });
        }
      }
    }
  } finally {
    hashedBatchTuning.minPerJob = 'auto';
    overrideMachineLoaded(undefined);
    if (map) addon.unmapFile?.(map);
    fs.closeSync(fd);
  }
});

t('a flush of reads only takes readExtraJobs (by default HASHED_BATCH_READ_EXTRA_JOBS) more jobs than the cores on a machine not loaded, none on a loaded one; a flush of writes none', async () => {
  const io = new PreadEngine();
  if (!io.readvHash || !io.writevHash || !addon?.hashedBatch || process.env.CAIRN_HASHED_BATCH === '0') { console.log('  (no native hashed batches: skipped)'); return; }
  assert.ok(HASHED_BATCH_READ_EXTRA_JOBS >= 1, 'one extra read job by default');
  const file = path.join(tmp, 'extra.dat');
  const data = new Rng(0x5b2).bytes(8 * CELL);
  fs.writeFileSync(file, data);
  const fd = fs.openSync(file, 'r+');
  hashedBatchTuning.minPerJob = 1;
  hashedBatchTuning.readExtraJobs = HASHED_BATCH_READ_EXTRA_JOBS;
  try {
    for (const loaded of [false, true]) {
      overrideMachineLoaded(loaded);
      fs.writeSync(fd, data, 0, data.length, 0);
      const n = cores + HASHED_BATCH_READ_EXTRA_JOBS + 2;
      const into = Array.from({ length: n }, () => new Uint8Array(CELL));
      let j0 = hashedBatchStats.jobs;
      const hs = await Promise.all(into.map((b, i) => io.readvHash!(fd, [b], (i % 8) * CELL, CELL, BigInt(i + 1))));
      assert.is(hashedBatchStats.jobs - j0, loaded ? cores : cores + HASHED_BATCH_READ_EXTRA_JOBS, `${n} reads (loaded ${loaded}): jobs`);
      into.forEach((b, i) => {
        assert.ok(Buffer.from(b).equals(data.subarray((i % 8) * CELL, (i % 8 + 1) * CELL)), `read ${i}: bytes`);
        assert.is(hs[i], xxh64(b, BigInt(i + 1)), `read ${i}: hash`);
      });
      const cells = Array.from({ length: n }, (_, i) => new Rng(0x5b3 + i).bytes(CELL));
      j0 = hashedBatchStats.jobs;
      const ws = await Promise.all(cells.map((c, i) => io.writevHash!(fd, [c], (i % 8) * CELL, CELL, BigInt(i + 1))));
      assert.is(hashedBatchStats.jobs - j0, cores, `${n} writes (loaded ${loaded}): jobs`);
      ws.forEach((h, i) => assert.is(h, xxh64(cells[i]!, BigInt(i + 1)), `write ${i}: hash`));
    }
  } finally {
    hashedBatchTuning.minPerJob = 'auto';
    overrideMachineLoaded(undefined);
    fs.closeSync(fd);
  }
});

t.run();
