/**
 * What a durable group commit costs this machine's disk alone (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx bench/disk-sync.ts [groups] [groupBytes]` (defaults 3,000 and 3,800: a durable
 * journal group of 16 small puts) writes groups into a file whose blocks were written and synced
 * first (as a durable journal preallocates), each group as two copies 32 MiB apart followed by
 * fdatasync, and prints groups per second and the syncs' p50 / p90 / p99, for one and for two
 * threads syncing the one file, with groups packed one after another (a group's first page shared
 * with the group before, as the journal writes them) and page-aligned.
 *
 * Why: a durable put waits for its group's sync; in the pool, syncs ran 2-4x slower than this
 * (docs/performance.md, session 50), and this is the figure to hold them against.
 * `CAIRN_DISK_SYNC_SPIN=<n>` keeps n more threads spinning meanwhile (at the nice value
 * `CAIRN_DISK_SYNC_SPIN_NICE`, default 0): the pool's syncs run while its threads keep the cores
 * busy, and on this VM the syncs' tail follows that load (session 51).
 */
import { Worker } from 'node:worker_threads';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { wholeArg } from './lib/args.js';

/** Bytes between a group's two copies, and the size of the file's first half. */
const COPY_OFFSET = 32 * 1024 * 1024;
const PAGE = 4096;

/** A thread's loop (plain JavaScript, run with `eval`: a worker does not get the TypeScript loader). */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const { closeSync, fdatasyncSync, openSync, writeSync } = require('node:fs');
const { file, groups, groupBytes, stride, copyOffset, counter } = workerData;
const next = new Int32Array(counter);
const fd = openSync(file, 'r+');
const group = Buffer.alloc(groupBytes, 0x47);
const lat = [];
for (let i = 0; i < groups; i++) {
  const at = Atomics.add(next, 0, 1) * stride;
  writeSync(fd, group, 0, groupBytes, at);
  writeSync(fd, group, 0, groupBytes, copyOffset + at);
  const t = performance.now();
  fdatasyncSync(fd);
  lat.push((performance.now() - t) * 1000);
}
closeSync(fd);
parentPort.postMessage(lat);
`;

/** A spinning thread (plain JavaScript): busy until told to stop, at the nice value it was given. */
const SPIN = `
const { workerData } = require('node:worker_threads');
const { setPriority } = require('node:os');
if (workerData.nice !== 0) setPriority(0, workerData.nice); // (Linux: this thread's own priority)
const stop = new Int32Array(workerData.stop);
while (Atomics.load(stop, 0) === 0) for (let i = 0; i < 1e5; i++);
`;
const spinners = Number(process.env.CAIRN_DISK_SYNC_SPIN ?? 0), spinNice = Number(process.env.CAIRN_DISK_SYNC_SPIN_NICE ?? 0);
if (!Number.isInteger(spinners) || spinners < 0 || spinners > 16) throw new Error('CAIRN_DISK_SYNC_SPIN: a whole number 0..16');
if (!Number.isInteger(spinNice) || spinNice < -20 || spinNice > 19) throw new Error('CAIRN_DISK_SYNC_SPIN_NICE: a nice value -20..19');
const stopSpin = new SharedArrayBuffer(4);
const spinning = Array.from({ length: spinners }, () => new Worker(SPIN, { eval: true, workerData: { stop: stopSpin, nice: spinNice } }));
if (spinners > 0) console.log(`${spinners} thread(s) spinning at nice ${spinNice}`);

const groups = wholeArg(2, 3000, 1, 100_000, 'groups'), groupBytes = wholeArg(3, 3800, 1, 1024 * 1024, 'groupBytes');
if (groups * Math.ceil(groupBytes / PAGE) * PAGE > COPY_OFFSET) throw new Error(`groups x groupBytes must stay under ${COPY_OFFSET} bytes`);
const dir = tempDir('cairn-disk-sync-');
try {
  for (const aligned of [false, true]) {
    for (const threads of [1, 2]) {
      const file = path.join(dir, `log-${aligned ? 'aligned' : 'packed'}-${threads}`);
      const fd = openSync(file, 'w+');
      const zeros = Buffer.alloc(1024 * 1024);
      for (let at = 0; at < 2 * COPY_OFFSET; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at);
      fdatasyncSync(fd);
      closeSync(fd);
      const counter = new SharedArrayBuffer(4);
      const t = performance.now();
      const per = Math.ceil(groups / threads);
      const lats = await Promise.all(Array.from({ length: threads }, () => new Promise<number[]>((resolve, reject) => {
        const stride = aligned ? Math.ceil(groupBytes / PAGE) * PAGE : groupBytes;
        const w = new Worker(THREAD, { eval: true, workerData: { file, groups: per, groupBytes, stride, copyOffset: COPY_OFFSET, counter } });
        w.once('message', resolve);
        w.once('error', reject);
      })));
      const s = (performance.now() - t) / 1000;
      const all = lats.flat().sort((a, b) => a - b);
      const q = (f: number): string => all[Math.min(all.length - 1, Math.floor(all.length * f))]!.toFixed(0);
      const slow = all.filter((x) => x > 1000).length;
      console.log(`${aligned ? 'page-aligned' : 'packed'} groups, ${threads} thread(s): ${(all.length / s).toFixed(0)} groups/s, fdatasync p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} us, ${slow} of ${all.length} over 1 ms`);
    }
  }
} finally {
  Atomics.store(new Int32Array(stopSpin), 0, 1);
  await Promise.all(spinning.map((w) => new Promise((r) => w.once('exit', r))));
  removeTempDir(dir);
}
