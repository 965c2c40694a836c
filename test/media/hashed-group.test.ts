/**
 * Hashed reads prepared synchronously and sent as one group (`BlockDevice.hashedReadNow`,
 * `readHashedGroup`: the fused EC read's device half). Specification: each read of a group, across
 * devices, lands its bytes in its views in order and answers the XXH64 of exactly those bytes
 * (xxhash-wasm's, the per-request `readIntoHashed`'s); a read that fails answers its error in its
 * place while the others of its group still answer (the group's promise never rejects); a
 * prepared read holds one of its device's slots until released (so at most `maxInFlight` are
 * prepared at once: then undefined, and the device's promise reads wait in order); a device that
 * cannot batch (fault injection) prepares nothing; a bad range is refused as `readIntoHashed` does.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { openBlockDevice, readHashedGroup, type HashedReadSlot } from '../../src/media/block-device.js';
import { FaultInjector } from '../../src/media/fault.js';
import { PREAD_MAX_IN_FLIGHT, hashedBatchTuning } from '../../src/media/pread.js';
import { nativeAddon } from '../../src/media/io-uring.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-group-'));
const t = suite('media: hashed read groups');
t.before(async () => { await initXxhash(); });
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SEED = 0x1234_5678_9abc_def0n;
const SIZE = 4 << 20;

t('reads of two devices in one group: each lands in its views and answers its own hash', async () => {
  if (!nativeAddon()?.hashedBatch) { console.log('  (no native hashed batch: skipped)'); return; }
  const rng = new Rng(181);
  const a = await openBlockDevice(path.join(tmp, 'a'), { size: SIZE, direct: false, io: 'pread' });
  const b = await openBlockDevice(path.join(tmp, 'b'), { size: SIZE, direct: false, io: 'pread' });
  try {
    const da = rng.bytes(256 << 10), db = rng.bytes(100_000);
    await a.write(0, da);
    await b.write(65536, Uint8Array.from([...db, ...new Uint8Array(102400 - db.length)]));
    const va = [new Uint8Array(1), new Uint8Array(70_000), new Uint8Array((256 << 10) - 70_001)];
    const vb = [new Uint8Array(db.length)];
    const vc = [new Uint8Array(4096)];
    const ra = a.hashedReadNow!(0, 256 << 10, va, SEED)!;
    const rb = b.hashedReadNow!(65536, 102400, vb, SEED)!; // the value, not its block padding
    const rc = a.hashedReadNow!(8192, 4096, vc, 7n);
    assert.ok(ra && rb && rc, 'prepared on a buffered pread device');
    const out = await readHashedGroup([ra, rb, rc!]);
    for (const r of [ra, rb, rc!]) r.release();
    assert.is(out[0], xxh64(da, SEED));
    assert.is(out[1], xxh64(db, SEED), 'the hash covers the views, not the padding after them');
    assert.is(out[2], xxh64(da.subarray(8192, 12288), 7n));
    assert.equal(Buffer.compare(Buffer.concat(va), da), 0);
    assert.equal(Buffer.compare(vb[0]!, db), 0);
    // the same as the per-request read
    assert.is(await a.readIntoHashed(0, 256 << 10, [new Uint8Array(256 << 10)], SEED), out[0]);
  } finally { await a.close(); await b.close(); }
});

t('a failing read answers its error in its place; the others of the group still answer', async () => {
  const dev = await openBlockDevice(path.join(tmp, 'c'), { size: SIZE, direct: false, io: 'pread' });
  try {
    const d = new Rng(182).bytes(8192);
    await dev.write(0, d);
    const good = dev.hashedReadNow?.(0, 8192, [new Uint8Array(8192)], SEED);
    if (!good) { console.log('  (no hashed groups here: skipped)'); return; }
    const bad: HashedReadSlot = { ...good, fd: 1 << 30, release() {} }; // EBADF
    // (the job's answers as one typed array, the default, and as an array of values: the same answers)
    const seen: string[] = [];
    try {
      for (const typed of [true, false]) {
        hashedBatchTuning.typedResults = typed;
        const out = await readHashedGroup([good, bad, good]);
        assert.is(out[0], xxh64(d, SEED));
        assert.ok(out[1] instanceof Error, `the bad read answers an error: ${String(out[1])}`);
        const e = out[1] as Error & { code?: string };
        assert.type(e.code, 'string', 'a typed error code');
        seen.push(`${e.code} ${e.message}`);
        assert.is(out[2], xxh64(d, SEED));
      }
    } finally { hashedBatchTuning.typedResults = true; good.release(); }
    assert.is(seen[0], seen[1], 'typed results answer the same error');
  } finally { await dev.close(); }
});

t('a prepared read holds a slot until released; with no slot left: undefined, and promise reads wait', async () => {
  const dev = await openBlockDevice(path.join(tmp, 'd'), { size: SIZE, direct: false, io: 'pread' });
  try {
    const first = dev.hashedReadNow?.(0, 4096, [new Uint8Array(4096)], SEED);
    if (!first) { console.log('  (no hashed groups here: skipped)'); return; }
    const held: HashedReadSlot[] = [first];
    for (let i = 1; i < PREAD_MAX_IN_FLIGHT; i++) held.push(dev.hashedReadNow!(0, 4096, [new Uint8Array(4096)], SEED)!);
    assert.ok(held.every(Boolean), 'maxInFlight reads prepared');
    assert.is(dev.hashedReadNow!(0, 4096, [new Uint8Array(4096)], SEED), undefined, 'no slot left');
    // a promise read waits for a slot, in order
    let done = false;
    const waiting = dev.readIntoHashed(0, 4096, [new Uint8Array(4096)], SEED).then(() => { done = true; });
    await new Promise((r) => setTimeout(r, 30));
    assert.is(done, false, 'the promise read waits while every slot is held');
    held[0]!.release();
    held[0]!.release(); // (once: a second release gives nothing back)
    await waiting;
    for (const h of held.slice(1)) h.release();
    const back = dev.hashedReadNow!(0, 4096, [new Uint8Array(4096)], SEED);
    assert.ok(back, 'slots back');
    back!.release(); // (close waits for held slots)
  } finally { await dev.close(); }
});

t('faults and bad ranges: nothing prepared', async () => {
  const dev = await openBlockDevice(path.join(tmp, 'e'), { size: SIZE, direct: false, io: 'pread', fault: new FaultInjector({ seed: 1 }) });
  try {
    assert.is(dev.hashedReadNow?.(0, 4096, [new Uint8Array(4096)], SEED), undefined, 'a device with a fault injector prepares nothing');
  } finally { await dev.close(); }
  const plain = await openBlockDevice(path.join(tmp, 'f'), { size: SIZE, direct: false, io: 'pread' });
  try {
    const probe = plain.hashedReadNow?.(0, 4096, [new Uint8Array(4096)], SEED);
    if (!probe) return;
    probe.release();
    let code: string | undefined;
    try { plain.hashedReadNow!(SIZE, 4096, [new Uint8Array(4096)], SEED); } catch (e) { code = (e as { code?: string }).code; }
    assert.is(code, 'NO_SPACE', 'a range past the device is refused');
    try { plain.hashedReadNow!(0, 4096, [new Uint8Array(8192)], SEED); code = undefined; } catch (e) { code = (e as { code?: string }).code; }
    assert.is(code, 'INVALID_ARGUMENT', 'more buffer than length is refused');
  } finally { await plain.close(); }
});

t.run();
