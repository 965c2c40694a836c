/**
 * Bulk writes (hashed batch writes, `writeFromHashed`) of a buffered device go through a writable
 * mapping of their own advised MADV_HUGEPAGE, first writes included, where the kernel takes it
 * (`CAIRN_MAP_HUGE=0` turns it off: mapped-batch-writes.test.ts specifies that rule). Specification:
 * - a first write brings its range into the page cache as 2 MiB folios mapped whole (observable as
 *   FilePmdMapped in /proc/self/smaps_rollup), with the bytes and hashes written;
 * - after a sync (whose writeback write-protects every page it writes) and the pwritev pause that
 *   follows it, a rewrite through the mapping faults about once per 2 MiB, not once per page;
 * - `writeFromHashed` takes the same mapping, and reads of the ranges written go through it;
 * - writes under 128 KiB keep the small-page rule (a first write with pwritev, no huge folio): a
 *   store into a clean folio dirties all of it, so a small write must not bring in a 2 MiB one.
 * Skipped, saying so, where the kernel or filesystem gives a huge mapping no huge folios.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { openBlockDevice, writeHashedGroup, MAP_HUGE_ENV, type BlockDevice } from '../../src/media/block-device.js';
import { nativeAddon } from '../../src/media/io-uring.js';

delete process.env[MAP_HUGE_ENV];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-huge-bulk-'));
const t = suite('media: huge bulk mapping');
t.before(async () => { await initXxhash(); });
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SEED = 0x6875_6765_0001n;
const MIB = 1 << 20, CELL = 256 * 1024;
let fileNo = 0;
const fresh = () => path.join(tmp, `dev-${fileNo++}.dat`);
const pmdMapped = () => Number(/FilePmdMapped:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1] ?? NaN) * 1024;
const faults = () => process.resourceUsage().minorPageFault + process.resourceUsage().majorPageFault;

/** Whether a huge mapping of a file here gets huge folios mapped whole (a raw probe of the addon); says why not. */
function hugeHere(): boolean {
  const addon = nativeAddon();
  if (!addon?.mapFile || !addon.mapHuge || !addon.hashedBatch || addon.mappedBatchWrites !== true) { console.log('  (no native huge mappings: skipped)'); return false; }
  if (!fs.existsSync('/proc/self/smaps_rollup')) { console.log('  (no /proc/self/smaps_rollup: skipped)'); return false; }
  const file = fresh(), len = 8 * MIB;
  const fd = fs.openSync(file, 'w+');
  try {
    fs.ftruncateSync(fd, len);
    const m = addon.mapFile(fd, len, true, undefined, true);
    if (!m) { console.log('  (no mapping: skipped)'); return false; }
    try {
      if (!addon.mapHuge(m)) { console.log('  (the kernel took no MADV_HUGEPAGE: skipped)'); return false; }
      const before = pmdMapped();
      const v = new Uint8Array(64 * 1024).fill(1);
      for (let o = 0; o < len; o += v.length) assert.equal(typeof addon.mapWriteHashSync!(m, v, o, v.length, 1n), 'bigint');
      if (pmdMapped() - before < 4 * MIB) { console.log('  (huge mappings get no huge folios here: skipped)'); return false; }
      return true;
    } finally { addon.unmapFile!(m); }
  } finally { fs.closeSync(fd); }
}

/** Run `fn` on a new buffered pread device of 2 x `total` bytes (closed after). */
async function withDevice(total: number, fn: (dev: BlockDevice, file: string) => Promise<void>): Promise<void> {
  const file = fresh();
  const dev = await openBlockDevice(file, { size: 2 * total, io: 'pread', direct: false });
  try { await fn(dev, file); } finally { await dev.close(); }
}

/** Write [from, from + total) as groups of 4 cells of `v` (`v.length` bytes each); every answer is v's hash. */
async function pass(dev: BlockDevice, total: number, v: Uint8Array, from = 0): Promise<void> {
  const cell = v.length;
  for (let o = from; o < from + total; o += 4 * cell) {
    const slots = [0, 1, 2, 3].map((i) => dev.hashedWriteNow!(o + i * cell, cell, [v], SEED)!);
    assert.ok(slots.every(Boolean), 'prepared');
    try {
      for (const h of await writeHashedGroup(slots)) assert.is(h, xxh64(v, SEED));
    } finally { for (const s of slots) s.release(); }
  }
}

t('a first write of a range goes through the huge mapping: its pages come in as 2 MiB folios mapped whole, with the bytes and hashes written', async () => {
  if (!hugeHere()) return;
  const total = 16 * MIB;
  await withDevice(total, async (dev, file) => {
    const v = new Rng(401).bytes(CELL);
    const before = pmdMapped();
    await pass(dev, total, v);
    const grew = pmdMapped() - before;
    assert.ok(grew >= 12 * MIB, `a first write of 16 MiB mapped ${(grew / MIB).toFixed(1)} MiB by 2 MiB entries`);
    const bytes = fs.readFileSync(file);
    for (let o = 0; o < total; o += CELL) assert.ok(bytes.subarray(o, o + CELL).equals(Buffer.from(v)), `bytes at ${o}`);
    assert.ok(bytes.subarray(total).every((b) => b === 0), 'nothing written past the range');
  });
});

t('after a sync and its pwritev pause, a rewrite through the huge mapping faults about once per 2 MiB, not once per page', async () => {
  if (!hugeHere()) return;
  const total = 16 * MIB;
  await withDevice(total, async (dev, file) => {
    const rng = new Rng(402);
    await pass(dev, total, rng.bytes(CELL)); await pass(dev, total, rng.bytes(CELL)); // (the second through a mapping either way)
    await dev.sync(); // (writeback write-protects every page it wrote)
    await pass(dev, total, rng.bytes(CELL)); await pass(dev, total, rng.bytes(CELL)); // the 32 MiB after a sync: pwritev
    const v = rng.bytes(CELL);
    const f0 = faults();
    await pass(dev, total, v);
    const took = faults() - f0;
    // (8 entries of 2 MiB; a small-page mapping faults on every page of its first group, 64 a
    // cell, before its writes back off to pwritev: 131-132 with CAIRN_MAP_HUGE=0 here, 11-12 without)
    assert.ok(took < 48, `a rewrite of 16 MiB after a sync took ${took} page faults`);
    const bytes = fs.readFileSync(file);
    for (let o = 0; o < total; o += CELL) assert.ok(bytes.subarray(o, o + CELL).equals(Buffer.from(v)), `bytes at ${o}`);
  });
});

t('writeFromHashed takes the huge mapping too, and reads of what it wrote go through it: bytes and hashes as written', async () => {
  if (!hugeHere()) return;
  const total = 8 * MIB;
  await withDevice(total, async (dev, file) => {
    const rng = new Rng(403);
    const values = Array.from({ length: total / MIB }, () => rng.bytes(MIB - 100)); // (zero tails: whole MiB extents)
    const before = pmdMapped();
    for (let i = 0; i < values.length; i++) assert.is(await dev.writeFromHashed(i * MIB, MIB, [values[i]!], SEED), xxh64(values[i]!, SEED), `hash of value ${i}`);
    const grew = pmdMapped() - before;
    assert.ok(grew >= 6 * MIB, `8 MiB of writeFromHashed mapped ${(grew / MIB).toFixed(1)} MiB by 2 MiB entries`);
    const into = new Uint8Array(MIB);
    for (let i = 0; i < values.length; i++) {
      into.fill(0xee);
      const want = Buffer.concat([values[i]!, Buffer.alloc(100)]);
      assert.is(await dev.readIntoHashed(i * MIB, MIB, [into], SEED), xxh64(want, SEED), `read hash of value ${i}`);
      assert.ok(Buffer.from(into).equals(want), `read bytes of value ${i}`);
    }
  });
});

t('cells under 128 KiB keep the small-page rule: a first write adds no huge folios, and the bytes and hashes are as written', async () => {
  if (!hugeHere()) return;
  const total = 16 * MIB;
  await withDevice(total, async (dev, file) => {
    const small = new Rng(404).bytes(64 * 1024);
    let before = pmdMapped();
    await pass(dev, total, small);
    assert.ok(pmdMapped() - before < 2 * MIB, `a first write of 16 MiB in 64 KiB cells mapped ${((pmdMapped() - before) / MIB).toFixed(1)} MiB by 2 MiB entries`);
    // (and 256 KiB cells over the other half of the file do take the huge mapping, in the same device;
    // the file is read after: a read of its holes would bring small folios into the page cache)
    before = pmdMapped();
    const big = new Rng(405).bytes(CELL);
    await pass(dev, total, big, total);
    assert.ok(pmdMapped() - before >= 12 * MIB, `then 16 MiB in 256 KiB cells mapped ${((pmdMapped() - before) / MIB).toFixed(1)} MiB by 2 MiB entries`);
    const bytes = fs.readFileSync(file);
    for (let o = 0; o < total; o += small.length) assert.ok(bytes.subarray(o, o + small.length).equals(Buffer.from(small)), `bytes at ${o}`);
    for (let o = total; o < 2 * total; o += CELL) assert.ok(bytes.subarray(o, o + CELL).equals(Buffer.from(big)), `bytes at ${o}`);
  });
});

t.run();
