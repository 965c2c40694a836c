/**
 * Overwriting a single value at the epoch it was written at: the later write replaces the earlier
 * one and the earlier one's data-file extent is free again at once (in the memtable), or when the
 * runs holding both are merged (a write that finds the data file full merges them). So a key
 * overwritten in place never fills the data file, reads see the last write or the one before it
 * (never a reused block), and a crash image whose log frees and reuses extents replays to the same
 * values.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { Memtable, type MemVersion } from '../../src/vos/memtable.js';
import { Where } from '../../src/vos/wal.js';
import { crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos overwrites at one epoch');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 16 * MiB, dataBytes: 4 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('same-epoch'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const A = enc('a');
const dkeyOf = (i: number) => enc(`k${i}`);
/** A 4 KiB value naming (key, round): its bytes differ for every write. */
function valueOf(key: number, round: number, n = 4 * KiB): Uint8Array {
  const v = new Uint8Array(n).fill((key * 31 + round) & 0xff);
  new DataView(v.buffer).setUint32(0, key, true);
  new DataView(v.buffer).setUint32(4, round, true);
  return v;
}
const round = (v: Uint8Array | undefined) => (v === undefined ? -1 : new DataView(v.buffer, v.byteOffset).getUint32(4, true));

const version = (epoch: bigint, seq: number, loc: number): MemVersion => ({ epoch, seq, csum: 0n, len: 4096, where: Where.Block, loc, alloc: 4096, index: 0, count: 0, recordSize: 0 });

test('the memtable keeps one single per epoch: the later by seq, and hands back the other', () => {
  const mt = new Memtable(1);
  const d = enc('d');
  assert.is(mt.addVersion(0, 1n, d, A, version(5n, 1, 0), 10), undefined);
  assert.is(mt.addVersion(0, 1n, d, A, version(7n, 2, 4096), 10), undefined);
  const gone = mt.addVersion(0, 1n, d, A, version(5n, 3, 8192), 10);
  assert.is(gone?.seq, 1, 'the earlier single at epoch 5 is handed back');
  // applied out of order (a later one already held): the one added is handed back, not kept
  assert.is(mt.addVersion(0, 1n, d, A, version(7n, 0, 12288), 10)?.seq, 0);
  const singles = mt.find(0, 1n, d, A).a!.singles;
  assert.equal(singles.map((v) => [v.epoch, v.seq]), [[5n, 3], [7n, 2]]);
  assert.is(mt.records, 4, 'every record is counted (the log holds them all)');
  assert.is(mt.superseded, 2);
});

test('a key overwritten in place many times over never fills the data file', async () => {
  const t = await VosTarget.open(dir, BASE);
  const KEYS = 64; const WRITES = 12_000; // 47 MiB written into a 4 MiB data file
  for (let i = 0; i < WRITES; i++) await t.updateSingle(1n, 1n, dkeyOf(i % KEYS), A, valueOf(i % KEYS, i));
  for (let k = 0; k < KEYS; k++) {
    const last = WRITES - KEYS + ((k - WRITES) % KEYS + KEYS) % KEYS;
    assert.is(round(await t.fetchSingle(1n, 1n, dkeyOf(k), A)), last, `key ${k} holds its last write`);
  }
  const u = t.target.usage();
  assert.ok(u.dataUsed <= u.dataTotal, 'within the data file');
  await t.target.idle();
  await t.close();
  const again = await VosTarget.open(dir, BASE);
  for (let k = 0; k < KEYS; k++) assert.ok(round(await again.fetchSingle(1n, 1n, dkeyOf(k), A)) >= WRITES - KEYS, `key ${k} after reopen`);
  await again.close();
});

test('a live set half the data file overwritten at one epoch, one writer or 256 in flight, never gives NO_SPACE (a full file waits for the merge that frees it)', async () => {
  // 1,024 keys of 4 KiB (4 MiB live) in an 8 MiB data file: a run holds every key and the memtable
  // replaces each of them, so only a flush and a merge of every run make room for the next write
  const KEYS = 1024;
  for (const inFlight of [1, 256]) {
    const t = await VosTarget.open(path.join(dir, `w${inFlight}`), { ...BASE, dataBytes: 8 * MiB, scmBytes: 32 * MiB, walBytes: 1 * MiB });
    let i = 0;
    const writer = async () => { while (i < 12 * KEYS) { const j = i++; await t.updateSingle(1n, 1n, dkeyOf(j % KEYS), A, valueOf(j % KEYS, j)); } };
    await Promise.all(Array.from({ length: inFlight }, writer));
    await t.target.idle();
    for (let k = 0; k < KEYS; k += 37) assert.is(round(await t.fetchSingle(1n, 1n, dkeyOf(k), A)), 11 * KEYS + k, `${inFlight} in flight: key ${k} holds its last write`);
    await t.close();
    const again = await VosTarget.open(path.join(dir, `w${inFlight}`), { ...BASE, dataBytes: 8 * MiB, scmBytes: 32 * MiB, walBytes: 1 * MiB });
    for (let k = 0; k < KEYS; k += 37) assert.is(round(await again.fetchSingle(1n, 1n, dkeyOf(k), A)), 11 * KEYS + k, `${inFlight} in flight: key ${k} after reopen`);
    await again.close();
  }
});

test('space held by versions reads can see is still NO_SPACE (nothing is dropped to make room)', async () => {
  const t = await VosTarget.open(dir, BASE);
  let err: unknown;
  let i = 0;
  try { for (; i < 2000; i++) await t.updateSingle(BigInt(i + 1), 1n, dkeyOf(i % 8), A, valueOf(i % 8, i)); } catch (e) { err = e; }
  assert.is((err as { code?: string })?.code, 'NO_SPACE', 'every version at its own epoch stays readable, so the file fills');
  assert.ok(i > 900 && i <= 1024, `filled after ${i} writes of 4 KiB into 4 MiB`);
  // every acknowledged version is still there, at its own epoch
  for (let j = Math.max(0, i - 50); j < i; j++) assert.is(round(await t.fetchSingle(BigInt(j + 1), 1n, dkeyOf(j % 8), A)), j);
  await t.close();
});

test('reads racing overwrites of a large value see the old or the new value, never a reused block', async () => {
  const t = await VosTarget.open(dir, { ...BASE, dataBytes: 16 * MiB });
  const N = 200 * KiB; // read on the thread pool (asynchronously), beyond the synchronous read size
  const d = dkeyOf(0);
  await t.updateSingle(1n, 1n, d, A, valueOf(0, 0, N));
  let written = 0;
  const writer = (async () => { for (let r = 1; r <= 150; r++) { await t.updateSingle(1n, 1n, d, A, valueOf(0, r, N)); written = r; } })();
  let reads = 0;
  const readers = Array.from({ length: 4 }, async () => {
    while (written < 150) {
      const seenBefore = written;
      const got = await t.fetchSingle(1n, 1n, d, A); // CHECKSUM_MISMATCH would throw here
      const r = round(got);
      assert.ok(r >= Math.max(0, seenBefore - 1) && r <= written + 1, `read round ${r} while ${seenBefore}..${written} were written`);
      assert.equal(got, valueOf(0, r, N), 'the bytes of that round');
      reads++;
    }
  });
  await Promise.all([writer, ...readers]);
  assert.ok(reads > 0);
  assert.is(round(await t.fetchSingle(1n, 1n, d, A)), 150);
  await t.close();
});

test('a crash image whose log frees and reuses extents replays to the acknowledged values', async () => {
  const t = await VosTarget.open(dir, { ...BASE, dataBytes: 16 * MiB });
  const model = new Map<string, number>(); // "key@epoch" -> round
  let r = 0;
  // same-epoch overwrites free extents that the next writes (other keys, other epochs) reuse
  for (let i = 0; i < 600; i++) {
    const key = i % 5; const epoch = BigInt(1 + (i % 3));
    await t.updateSingle(epoch, 1n, dkeyOf(key), A, valueOf(key, ++r));
    model.set(`${key}@${epoch}`, r);
  }
  // what a process killed now leaves (nothing flushed on purpose), replayed with either pmem access
  const images = { mmap: path.join(dir, 'image-mmap'), pread: path.join(dir, 'image-pread') } as const;
  crashImage(dir, images.mmap); crashImage(dir, images.pread);
  await t.close();
  for (const pmemIo of ['mmap', 'pread'] as const) {
    const back = await VosTarget.open(images[pmemIo], { ...BASE, dataBytes: 16 * MiB, pmemIo });
    for (const [k, want] of model) {
      const [key, epoch] = k.split('@');
      assert.is(round(await back.fetchSingle(BigInt(epoch!), 1n, dkeyOf(Number(key)), A)), want, `${k} after replay (${pmemIo})`);
    }
    // the replayed allocator is consistent: more writes reuse what the replay freed
    for (let i = 0; i < 300; i++) await back.updateSingle(9n, 1n, dkeyOf(100 + (i % 7)), A, valueOf(100, i));
    await back.target.flushAll();
    for (const [k, want] of model) {
      const [key, epoch] = k.split('@');
      assert.is(round(await back.fetchSingle(BigInt(epoch!), 1n, dkeyOf(Number(key)), A)), want, `${k} after more writes (${pmemIo})`);
    }
    await back.close();
  }
});

test.run();
