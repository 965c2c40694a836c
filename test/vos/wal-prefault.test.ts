/**
 * The log makes its pages writable ahead of its tail (`Wal.makeWritable` → `PmemSpace.prefault`,
 * one madvise for many pages instead of a trap into the kernel per page): between syncs the range
 * grows from a page to WAL_PREFAULT_BYTES, so a long run of appends costs a call per 64 KiB; after
 * a sync it is only the pages of the next record (a prefault dirties its pages, and a store that
 * syncs every few appends must not write 64 KiB back at each sync). What was logged reads back,
 * after a crash image too.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VosTarget } from '../../src/vos/index.js';
import { PmemSpace } from '../../src/media/pmem-space.js';
import { WAL_PREFAULT_BYTES, TAIL_SLOT } from '../../src/vos/wal.js';
import { crashImage, dec, enc, tmpDir } from './helpers.js';

const test = suite('vos log prefault');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('wal-prefault'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });
const A = enc('a');
const [maj, min] = os.release().split('.').map(Number);
const populates = maj! > 5 || (maj === 5 && min! >= 14);

/** Record every `prefault` call of every space (the log's ranges; the tail slots' calls are 2 slots long). */
function spy(): { calls: Array<{ off: number; len: number; done: boolean }>; restore: () => void } {
  const orig = PmemSpace.prototype.prefault;
  const calls: Array<{ off: number; len: number; done: boolean }> = [];
  PmemSpace.prototype.prefault = function (this: PmemSpace, off: number, len: number): boolean {
    const done = orig.call(this, off, len);
    calls.push({ off, len, done });
    return done;
  };
  return { calls, restore: () => { PmemSpace.prototype.prefault = orig; } };
}

test('between syncs: ranges grow from a page to 64 KiB, contiguous, one call per 64 KiB of log', async () => {
  const s = spy();
  try {
    const t = await VosTarget.open(dir, { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: 4 * MiB, pmemIo: 'mmap' });
    s.calls.length = 0;
    const n = 6000;
    for (let i = 0; i < n; i++) {
      const p = t.updateSingleNow(BigInt(10 + i), BigInt(i), enc('d'), A, enc(`value-${i}-`.padEnd(100, 'x')));
      if (p) await p;
    }
    const log = s.calls.filter((c) => c.len !== 2 * TAIL_SLOT);
    if (populates) {
      assert.ok(log.every((c) => c.done), 'the kernel populated each range');
      assert.ok(log.length >= 10 && log.length <= 60, `${log.length} calls for ${n} appends (~1 MiB of log)`);
      assert.ok(log[0]!.len <= 3 * 4096, `the first range is a page or two ahead (${log[0]!.len})`);
      assert.ok(log.slice(4).every((c) => c.len === WAL_PREFAULT_BYTES), `from the fifth on, 64 KiB each (${log.slice(0, 6).map((c) => c.len).join(', ')}, ...)`);
      for (let i = 1; i < log.length; i++) assert.is(log[i]!.off, log[i - 1]!.off + log[i - 1]!.len, `range ${i} starts where range ${i - 1} ended`);
    } else {
      assert.ok(log.every((c) => !c.done), 'an older kernel: nothing populated');
    }
    for (let i = 0; i < n; i += 97) assert.is(dec(await t.fetchSingle(BigInt(10 + i), BigInt(i), enc('d'), A)), `value-${i}-`.padEnd(100, 'x'));
    const image = path.join(dir, 'image');
    crashImage(dir, image);
    await t.close();
    const back = await VosTarget.open(image, { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: 4 * MiB, pmemIo: 'mmap' });
    for (let i = 0; i < n; i += 97) assert.is(dec(await back.fetchSingle(BigInt(10 + i), BigInt(i), enc('d'), A)), `value-${i}-`.padEnd(100, 'x'), `object ${i} replayed`);
    await back.close();
  } finally { s.restore(); }
});

test('a store that syncs after every append makes writable only the pages of each record', async () => {
  const s = spy();
  try {
    const t = await VosTarget.open(dir, { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: 4 * MiB, pmemIo: 'mmap' });
    s.calls.length = 0;
    for (let i = 0; i < 200; i++) {
      const p = t.updateSingleNow(BigInt(10 + i), BigInt(i), enc('d'), A, enc(`v${i}`.padEnd(300, 'y')));
      if (p) await p;
      await t.flush(); // (a sync of the pmem file: the pages written back are write-protected again)
    }
    const log = s.calls.filter((c) => c.len !== 2 * TAIL_SLOT);
    const slots = s.calls.filter((c) => c.len === 2 * TAIL_SLOT);
    if (populates) {
      assert.ok(log.length >= 190, `a call after each sync (${log.length})`);
      assert.ok(log.every((c) => c.len <= 2 * 4096), `each at most the two pages a record spans (largest ${Math.max(...log.map((c) => c.len))})`);
      assert.ok(slots.length >= 190, `the tail slots' page too, after each sync (${slots.length})`);
    }
    for (let i = 0; i < 200; i += 13) assert.is(dec(await t.fetchSingle(BigInt(10 + i), BigInt(i), enc('d'), A)), `v${i}`.padEnd(300, 'y'));
    await t.close();
  } finally { s.restore(); }
});

test.run();
