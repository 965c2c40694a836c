/**
 * Hashed writes prepared synchronously and sent as one group (`BlockDevice.hashedWriteNow`,
 * `writeHashedGroup`: the fused EC write's device half). Specification: each write of a group,
 * across devices, puts its views' bytes, in order, at its position followed by zeros up to its
 * length, and answers the XXH64 of exactly the views' bytes (what the per-request
 * `writeFromHashed` answers); a write whose first view is a deferred parity fill writes the
 * computed parity (the model: the codec's reference parity); a write that fails answers its error
 * in its place while the others of its group still answer (the group's promise never rejects); a
 * prepared write holds one of its device's slots until released; a device that cannot batch (fault
 * injection) prepares nothing; a bad range is refused as `writeFromHashed` refuses it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { openBlockDevice, writeHashedGroup, type HashedWriteSlot } from '../../src/media/block-device.js';
import { FaultInjector } from '../../src/media/fault.js';
import { PREAD_MAX_IN_FLIGHT } from '../../src/media/pread.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { deferFill, dropFill, fillStats } from '../../src/media/fills.js';
import { gfMul } from '../../ec/gf.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-wgroup-'));
const t = suite('media: hashed write groups');
t.before(async () => { await initXxhash(); });
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SEED = 0x0fed_cba9_8765_4321n;
const SIZE = 4 << 20;

function fileBytes(p: string, at: number, n: number): Uint8Array {
  const fd = fs.openSync(p, 'r');
  try { const b = new Uint8Array(n); fs.readSync(fd, b, 0, n, at); return b; } finally { fs.closeSync(fd); }
}

t('writes of two devices in one group: each lands at its place (zero tail) and answers its own hash', async () => {
  if (!nativeAddon()?.hashedBatch) { console.log('  (no native hashed batch: skipped)'); return; }
  const rng = new Rng(191);
  const pa = path.join(tmp, 'a'), pb = path.join(tmp, 'b');
  const a = await openBlockDevice(pa, { size: SIZE, direct: false, io: 'pread' });
  const b = await openBlockDevice(pb, { size: SIZE, direct: false, io: 'pread' });
  try {
    const da = rng.bytes(256 << 10), db = rng.bytes(100_000);
    await b.write(65536, new Uint8Array(102400).fill(0xee)); // the tail must be zeroed over old bytes
    const wa = a.hashedWriteNow!(0, 256 << 10, [da.subarray(0, 1), da.subarray(1, 70_001), da.subarray(70_001)], SEED);
    const wb = b.hashedWriteNow!(65536, 102400, [db], SEED);
    assert.ok(wa && wb, 'prepared on a buffered pread device');
    const out = await writeHashedGroup([wa!, wb!]);
    wa!.release(); wb!.release();
    assert.is(out[0], xxh64(da, SEED));
    assert.is(out[1], xxh64(db, SEED), 'the hash covers the views, not the zero padding');
    assert.equal(Buffer.compare(fileBytes(pa, 0, 256 << 10), da), 0);
    const got = fileBytes(pb, 65536, 102400);
    assert.equal(Buffer.compare(got.subarray(0, db.length), db), 0);
    assert.ok(got.subarray(db.length).every((x) => x === 0), 'zeros after the views up to the length');
    assert.is(out[1], await b.writeFromHashed(65536, 102400, [db], SEED), 'as the per-request write');
  } finally { await a.close(); await b.close(); }
});

t('a deferred parity fill as a write\'s first view is computed on the job: the reference parity lands', async () => {
  if (!nativeAddon()?.hashedBatch || !nativeAddon()?.parityFill) { console.log('  (no native fills: skipped)'); return; }
  const rng = new Rng(192);
  const p = path.join(tmp, 'f');
  const dev = await openBlockDevice(p, { size: SIZE, direct: false, io: 'pread' });
  try {
    const k = 4, cell = 16384, stripes = 2;
    const data = rng.bytes(k * cell * stripes);
    const coeffs = Uint8Array.from([3, 7, 11, 200]);
    // reference: parity cell s = sum_j coeffs[j] * (cell j of stripe s), GF(2^8)
    const want = new Uint8Array(cell * stripes);
    for (let s = 0; s < stripes; s++) for (let j = 0; j < k; j++) for (let x = 0; x < cell; x++) want[s * cell + x]! ^= gfMul(coeffs[j]!, data[s * k * cell + j * cell + x]!);
    const out = new Uint8Array(cell * stripes);
    deferFill(out, coeffs, cell, data);
    try {
      const before = fillStats();
      const w = dev.hashedWriteNow!(0, out.length, [out], SEED)!;
      assert.ok(w, 'prepared');
      const [h] = await writeHashedGroup([w]);
      w.release();
      assert.is(fillStats().sent - before.sent, 1, 'the fill went with the write');
      assert.is(fillStats().computedHere - before.computedHere, 0, 'not computed on this thread');
      assert.equal(Buffer.compare(fileBytes(p, 0, out.length), want), 0, 'the reference parity is on disk');
      assert.is(h, xxh64(want, SEED), 'and its hash');
    } finally { dropFill(out); }
  } finally { await dev.close(); }
});

t('a failing write answers its error in its place; the others of the group still answer', async () => {
  const p = path.join(tmp, 'c');
  const dev = await openBlockDevice(p, { size: SIZE, direct: false, io: 'pread' });
  try {
    const d = new Rng(193).bytes(8192);
    const good = dev.hashedWriteNow?.(0, 8192, [d], SEED);
    if (!good) { console.log('  (no hashed groups here: skipped)'); return; }
    const bad: HashedWriteSlot = { ...good, fd: 1 << 30, map: undefined, release() {} }; // EBADF (pwritev: no mapping)
    const out = await writeHashedGroup([good, bad, good]);
    good.release();
    assert.is(out[0], xxh64(d, SEED));
    assert.ok(out[1] instanceof Error, `the bad write answers an error: ${String(out[1])}`);
    assert.is(out[2], xxh64(d, SEED));
    assert.equal(Buffer.compare(fileBytes(p, 0, 8192), d), 0);
  } finally { await dev.close(); }
});

t('a prepared write holds a slot until released; none left: undefined; fault injection and bad ranges', async () => {
  const dev = await openBlockDevice(path.join(tmp, 'd'), { size: SIZE, direct: false, io: 'pread' });
  try {
    const v = new Uint8Array(4096).fill(5);
    const first = dev.hashedWriteNow?.(0, 4096, [v], SEED);
    if (!first) { console.log('  (no hashed groups here: skipped)'); return; }
    const held: HashedWriteSlot[] = [first];
    for (let i = 1; i < PREAD_MAX_IN_FLIGHT; i++) held.push(dev.hashedWriteNow!(4096 * i, 4096, [v], SEED)!);
    assert.ok(held.every(Boolean), 'one slot per prepared write');
    assert.is(dev.hashedWriteNow!(0, 4096, [v], SEED), undefined, 'no free slot: not prepared');
    let done = false;
    const waiting = dev.writeFromHashed(0, 4096, [v], SEED).then((h) => { done = true; return h; });
    await new Promise((r) => setImmediate(r));
    assert.not.ok(done, 'a promise write waits for a slot');
    held[0]!.release(); held[0]!.release(); // (twice: once counts)
    assert.is(await waiting, xxh64(v, SEED));
    for (const h of held.slice(1)) h.release();
    assert.throws(() => dev.hashedWriteNow!(100, 4096, [v], SEED), /multiple/, 'an unaligned offset is refused');
    assert.throws(() => dev.hashedWriteNow!(SIZE, 4096, [v], SEED), /past the end/, 'past the end is refused');
  } finally { await dev.close(); }
  const faulty = await openBlockDevice(path.join(tmp, 'e'), { size: SIZE, direct: false, io: 'pread', fault: new FaultInjector({ seed: 1 }) });
  try {
    assert.is(faulty.hashedWriteNow?.(0, 4096, [new Uint8Array(4096)], SEED), undefined, 'fault injection: nothing prepared');
  } finally { await faulty.close(); }
});

t.run();
