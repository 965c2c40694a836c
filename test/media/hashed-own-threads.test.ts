/**
 * Hashed batches on the addon's own threads (`hashedOwnThreads`, native/own-pool.c). Specification:
 * a batch answers and writes exactly what it does on the libuv pool (the XXH64 of each request's
 * bytes, checked against xxhash-wasm, and the bytes in the file), many batches in flight; the
 * threads that ran them are the process's at nice HASHED_OWN_NICE (10) while the JavaScript thread
 * keeps its own (CAIRN_HASHED_OWN_NICE sets another value); batches sent one at a time, each waking an idle thread, are each answered; a worker thread cannot take the threads the main thread claimed, and its batches
 * (on the libuv pool) answer the same; and switching the threads off sends the next batches to the libuv pool.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-own-'));
const t = suite('media: hashed batches on the addon\'s own threads');
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const addon = loadNative().addon;
const usable = addon?.hashedBatch !== undefined && addon.hashedOwnThreads !== undefined;
const CELL = 64 * 1024;

/** The nice value of each of this process's threads (field 19 of /proc/self/task/<tid>/stat), by tid. */
function niceByThread(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // (fields from the 3rd on)
      out.set(Number(tid), Number(fields[16]));
    } catch { /* (a thread that ended meanwhile) */ }
  }
  return out;
}

/** Write `cells` (one request each) into `file` at consecutive offsets, read them back; the write and read hashes. */
async function roundTrip(file: string, cells: Uint8Array[], seed: bigint): Promise<{ wrote: Array<bigint | number>; read: Array<bigint | number>; back: Uint8Array[] }> {
  const fd = fs.openSync(file, 'w+');
  try {
    const writes = cells.map((c, i) => [1, fd, [c], i * CELL, c.length, seed] as const);
    const wrote = await addon!.hashedBatch!(writes as never);
    const back = cells.map((c) => new Uint8Array(c.length));
    const read = await addon!.hashedBatch!(back.map((b, i) => [0, fd, [b], i * CELL, b.length, seed]) as never);
    return { wrote, read, back };
  } finally { fs.closeSync(fd); }
}

t('a batch answers and writes on the own threads what it does on the libuv pool, many in flight', async () => {
  if (!usable) return;
  await initXxhash();
  const was = addon!.hashedOwnThreads!();
  try {
    for (const own of [true, false]) {
      assert.is(addon!.hashedOwnThreads!(own), own);
      const runs = await Promise.all(Array.from({ length: 12 }, (_, r) => {
        const cells = Array.from({ length: 1 + (r % 5) }, (_, i) => new Uint8Array(CELL).map((_, j) => (j * 7 + i * 13 + r) & 255));
        return roundTrip(path.join(tmp, `f-${own}-${r}`), cells, BigInt(r)).then((got) => ({ got, cells, r }));
      }));
      for (const { got, cells, r } of runs) {
        cells.forEach((c, i) => {
          const want = xxh64(c, BigInt(r));
          assert.is(got.wrote[i], want, `own ${own}, batch ${r}, write ${i}: its hash`);
          assert.is(got.read[i], want, `own ${own}, batch ${r}, read ${i}: its hash`);
          assert.equal(got.back[i], c, `own ${own}, batch ${r}, read ${i}: the bytes written`);
        });
        const onDisk = fs.readFileSync(path.join(tmp, `f-${own}-${r}`));
        assert.is(onDisk.length, cells.length * CELL);
      }
    }
  } finally { addon!.hashedOwnThreads!(was); }
});

t('batches sent one at a time, each after the last was answered (the threads idle between them), are each answered', async () => {
  if (!usable) return;
  await initXxhash();
  const was = addon!.hashedOwnThreads!();
  const fd = fs.openSync(path.join(tmp, 'one-by-one'), 'w+');
  try {
    assert.is(addon!.hashedOwnThreads!(true), true);
    const cell = new Uint8Array(4096).map((_, j) => (j * 31) & 255);
    for (let i = 0; i < 2000; i++) {
      // (a batch whose wake-up was lost would wait for the next batch, which never comes)
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`batch ${i} not answered within 10 s`)), 10_000); });
      try {
        const [h] = await Promise.race([addon!.hashedBatch!([[1, fd, [cell], (i % 64) * 4096, cell.length, BigInt(i)]] as never), late]);
        assert.is(h, xxh64(cell, BigInt(i)), `batch ${i}: its hash`);
      } finally { clearTimeout(timer); }
    }
  } finally { fs.closeSync(fd); addon!.hashedOwnThreads!(was); }
});

t('the own threads run at nice 10; the JavaScript thread keeps its priority', async () => {
  if (!usable) return;
  const was = addon!.hashedOwnThreads!(true);
  try {
    const before = niceByThread();
    await roundTrip(path.join(tmp, 'nice'), [new Uint8Array(CELL).fill(1), new Uint8Array(CELL).fill(2)], 1n);
    const after = niceByThread();
    assert.is(after.get(process.pid), before.get(process.pid), 'the JavaScript thread\'s nice is unchanged');
    assert.ok([...after.values()].includes(10), `a thread at nice 10 ran the batch (nice values: ${[...after.values()].join(',')})`);
  } finally { addon!.hashedOwnThreads!(was); }
});

t('CAIRN_HASHED_OWN_NICE sets the threads\' nice value (a child process)', async () => {
  if (!usable) return;
  const addonPath = path.resolve('native/build/Release/cairn_uring.node');
  if (!fs.existsSync(addonPath)) return;
  const src = `
    const fs = require('node:fs');
    const addon = require(${JSON.stringify(addonPath)});
    addon.hashedOwnThreads(true);
    const fd = fs.openSync(${JSON.stringify(path.join(tmp, 'child'))}, 'w+');
    addon.hashedBatch([[1, fd, [new Uint8Array(4096).fill(1)], 0, 4096, 0n]]).then(() => {
      const nice = fs.readdirSync('/proc/self/task').map((t) => { const s = fs.readFileSync('/proc/self/task/' + t + '/stat', 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]); });
      process.stdout.write(JSON.stringify(nice));
    });`;
  const { execFileSync } = await import('node:child_process');
  const nice = JSON.parse(execFileSync(process.execPath, ['-e', src], { env: { ...process.env, CAIRN_HASHED_OWN_NICE: '3' }, encoding: 'utf8' })) as number[];
  assert.ok(nice.includes(3), `a thread at nice 3 (nice values: ${nice.join(',')})`);
  assert.not.ok(nice.includes(10), 'none at the default 10');
});

t('a worker thread\'s batches (another environment) answer the same', async () => {
  if (!usable) return;
  await initXxhash();
  const file = path.join(tmp, 'worker');
  const src = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fs = require('node:fs');
    const addon = require(workerData.addonPath);
    (async () => {
      const claimed = addon.hashedOwnThreads(true);
      const fd = fs.openSync(workerData.file, 'w+');
      const cell = new Uint8Array(${CELL}).fill(7);
      const [w] = await addon.hashedBatch([[1, fd, [cell], 0, cell.length, 5n]]);
      const back = new Uint8Array(cell.length);
      const [r] = await addon.hashedBatch([[0, fd, [back], 0, back.length, 5n]]);
      fs.closeSync(fd);
      parentPort.postMessage({ w, r, claimed, same: Buffer.compare(Buffer.from(back), Buffer.from(cell)) === 0 });
    })().catch((e) => parentPort.postMessage({ error: String(e) }));`;
  const addonPath = path.resolve('native/build/Release/cairn_uring.node');
  if (!fs.existsSync(addonPath)) return;
  // (the main thread owns the threads: it claimed them first)
  addon!.hashedOwnThreads!(true);
  await roundTrip(path.join(tmp, 'owner'), [new Uint8Array(CELL).fill(3)], 2n);
  const got = await new Promise<{ w?: bigint; r?: bigint; claimed?: boolean; same?: boolean; error?: string }>((resolve, reject) => {
    const w = new Worker(src, { eval: true, workerData: { addonPath, file } });
    w.once('message', resolve); w.once('error', reject);
  });
  assert.is(got.error, undefined);
  assert.is(got.claimed, false, 'the main thread owns the threads: a worker cannot take them');
  const want = xxh64(new Uint8Array(CELL).fill(7), 5n);
  assert.is(got.w, want, 'the worker\'s write hash');
  assert.is(got.r, want, 'the worker\'s read hash');
  assert.ok(got.same, 'the worker read back the bytes it wrote');
  // and the main thread's own threads still answer after the worker's environment went away
  const after = await roundTrip(path.join(tmp, 'after'), [new Uint8Array(CELL).fill(4)], 3n);
  assert.is(after.wrote[0], xxh64(new Uint8Array(CELL).fill(4), 3n));
});

t.run();
