/**
 * The hashed batches' own threads run at most one batch per core (`run_cap`, native/own-pool.c;
 * `hashedOwnStats`). Specification: the cap is the cores the process may run on (at most 8), or
 * CAIRN_HASHED_OWN_RUN_CAP; many batches of page-cached reads in flight make no more threads than the
 * cap; a read whose pages are not in the page cache (evicted with `dd iflag=nocache`) is read as
 * blocking work outside the cap (counted in `blocked`) and answers its bytes and their XXH64 as any;
 * a file that refuses such reads (tmpfs: EOPNOTSUPP) is read as cached, within the cap.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';
import { inMemoryFs } from '../helpers/tmp.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-run-cap-'));
const t = suite('media: the hashed batches\' own threads, one batch per core');
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const addon = loadNative().addon;
const addonPath = path.resolve('native/build/Release/cairn_uring.node');
const usable = addon?.hashedBatch !== undefined && addon.hashedOwnStats !== undefined && fs.existsSync(addonPath);
const CELL = 64 * 1024;
/** Most threads the pool makes (native/own-pool.h OWN_POOL_THREADS_MAX). */
const POOL_THREADS_MAX = 8;

/** In a child process (a pool of its own): `inFlight` batches of one cached 64 KiB read each, `rounds` times; the pool's stats after. */
function childReads(env: Record<string, string>, inFlight: number, rounds: number, dir = tmp): { runCap: number; threads: number; blocked: number; bad: number } {
  const src = `
    const fs = require('node:fs');
    const addon = require(${JSON.stringify(addonPath)});
    addon.hashedOwnThreads(true);
    const file = ${JSON.stringify(path.join(dir, 'cairn-run-cap-child-'))} + process.pid;
    const cells = Array.from({ length: ${inFlight} }, (_, i) => new Uint8Array(${CELL}).fill(i + 1));
    fs.writeFileSync(file, Buffer.concat(cells));
    const fd = fs.openSync(file, 'r');
    (async () => {
      let bad = 0;
      for (let r = 0; r < ${rounds}; r++) {
        const outs = cells.map(() => new Uint8Array(${CELL}));
        await Promise.all(outs.map((b, i) => addon.hashedBatch([[0, fd, [b], i * ${CELL}, ${CELL}, 0n]])));
        outs.forEach((b, i) => { if (b[0] !== i + 1 || b[${CELL} - 1] !== i + 1) bad++; });
      }
      fs.closeSync(fd); fs.rmSync(file);
      process.stdout.write(JSON.stringify({ ...addon.hashedOwnStats(), bad }));
    })();`;
  return JSON.parse(execFileSync(process.execPath, ['-e', src], { env: { ...process.env, ...env }, encoding: 'utf8' })) as { runCap: number; threads: number; blocked: number; bad: number };
}

t('the cap is the cores, at most 8; batches of cached reads in flight make no more threads than that', () => {
  if (!usable) return;
  const got = childReads({ CAIRN_HASHED_OWN_RUN_CAP: '' }, 16, 30); // (empty: the default)
  assert.is(got.bad, 0, 'every read answered its bytes');
  assert.is(got.runCap, Math.min(os.availableParallelism(), POOL_THREADS_MAX), 'one batch per core');
  assert.is(got.blocked, 0, 'reads of page-cached bytes never waited for the device');
  assert.ok(got.threads >= 1 && got.threads <= got.runCap, `${got.threads} threads for a cap of ${got.runCap}`);
});

t('CAIRN_HASHED_OWN_RUN_CAP sets the cap (1), and 0 turns it off', () => {
  if (!usable) return;
  const one = childReads({ CAIRN_HASHED_OWN_RUN_CAP: '1' }, 16, 10);
  assert.is(one.bad, 0);
  assert.is(one.runCap, 1);
  assert.is(one.threads, 1, 'a cap of 1: one thread ran every batch');
  const off = childReads({ CAIRN_HASHED_OWN_RUN_CAP: '0' }, 16, 10);
  assert.is(off.bad, 0);
  assert.is(off.runCap, 0, 'no cap');
  assert.ok(off.threads >= 1 && off.threads <= POOL_THREADS_MAX);
});

t('reads of a file on tmpfs, which refuses RWF_NOWAIT, count against the cap as cached ones', () => {
  if (!usable || !inMemoryFs('/dev/shm')) return;
  const got = childReads({ CAIRN_HASHED_OWN_RUN_CAP: '1' }, 16, 10, '/dev/shm');
  assert.is(got.bad, 0, 'every read answered its bytes');
  assert.is(got.blocked, 0, 'no read was taken for one waiting for the device');
  assert.is(got.threads, 1, 'a cap of 1: one thread ran every batch');
});

t('a read whose pages are not in the page cache waits outside the cap and answers its bytes and hash', async () => {
  if (!usable) return;
  await initXxhash();
  addon!.hashedOwnThreads!(true);
  const file = path.join(tmp, 'cold');
  const cells = Array.from({ length: 4 }, (_, i) => new Uint8Array(CELL).map((_, j) => (j * 31 + i * 7) & 255));
  const fd = fs.openSync(file, 'w+');
  try {
    fs.writeSync(fd, Buffer.concat(cells));
    fs.fsyncSync(fd); // (clean pages: the advice below drops them)
    const cached = await addon!.hashedBatch!([[0, fd, [new Uint8Array(CELL)], 0, CELL, 9n]] as never);
    assert.is(cached[0], xxh64(cells[0]!, 9n), 'a cached read\'s hash');
    const evictable = !inMemoryFs(tmp);
    execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    const before = addon!.hashedOwnStats!().blocked;
    const back = cells.map(() => new Uint8Array(CELL));
    const got = await Promise.all(back.map((b, i) => addon!.hashedBatch!([[0, fd, [b], i * CELL, CELL, 9n]] as never)));
    cells.forEach((c, i) => {
      assert.is(got[i]![0], xxh64(c, 9n), `cell ${i}: its hash`);
      assert.equal(back[i], c, `cell ${i}: its bytes`);
    });
    // (tmpfs keeps its pages: nothing there waits for a device)
    if (evictable && addon!.hashedOwnStats!().runCap > 0) assert.ok(addon!.hashedOwnStats!().blocked > before, 'the evicted reads were counted as waiting for the device');
  } finally { fs.closeSync(fd); }
});

t.run();
