/**
 * `prepareArrayWrite` (src/vos/locate-write.ts) through `ContainerStore.prepareArrayWriteNow`: the
 * synchronous half of the fused EC write and its `finish`. Specification: only the plain case is
 * prepared (a byte-array value above SYNC_WRITE_MAX_BYTES whose akey is known to hold records of
 * 1 byte; a small value, an akey never written, a store whose log has no room: null); a prepared
 * write sent and finished with its hash reads back the bytes (after a reopen too: its record
 * replays) and its hash is the value's checksum (`fetchArrayInto` verifies it); a write finished
 * with an error (or never sent) appends nothing, frees its extent (data usage as before) and
 * throws a VosError; a log found full at finish makes room first (a promise) and then appends; a
 * crash after the bytes are written and before finish leaves the previous value readable and the
 * extent free; the target is held until finish (close waits) and finish acts once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { writeHashedGroup } from '../../src/media/block-device.js';
import { MediaError } from '../../src/media/errors.js';
import type { PreparedArrayWrite } from '../../src/vos/locate-write.js';
import { crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos locate-write');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('locate-write'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function prepare(v: VosTarget, epoch: bigint, akey: string, index: number, parts: Uint8Array[]): PreparedArrayWrite | null {
  const count = parts.reduce((n, p) => n + p.length, 0);
  return v.prepareArrayWriteNow(epoch, 7n, enc('d'), enc(akey), { index, count }, parts);
}

async function send(ws: PreparedArrayWrite[]): Promise<Array<bigint | Error>> {
  return writeHashedGroup(ws.map((w) => w.write));
}

async function readBack(v: VosTarget, epoch: bigint, akey: string, index: number, count: number): Promise<Uint8Array> {
  const into = new Uint8Array(count);
  await v.fetchArrayInto(epoch, 7n, enc('d'), enc(akey), { index, count }, [into]); // (verifies the checksum)
  return into;
}

test('the plain case is prepared; written and finished, it reads back (and after a reopen); everything else is null', async () => {
  let v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(31);
    const a = rng.bytes(256 * KiB), b = rng.bytes(256 * KiB);
    assert.is(prepare(v, 1n, 'a', 0, [a]), null, 'an akey never written: its record size is not known');
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    assert.is(prepare(v, 2n, 'a', 0, [new Uint8Array(64 * KiB)]), null, 'a small value (written synchronously)');
    await v.updateArray(1n, 7n, enc('d'), enc('r'), { index: 0, count: 1024 }, new Uint8Array(256 * KiB), { recordSize: 256 });
    assert.is(prepare(v, 2n, 'r', 0, [new Uint8Array(256 * KiB)]), null, 'an akey of 256-byte records');
    const w = prepare(v, 2n, 'a', 0, [b.subarray(0, 1000), b.subarray(1000)]);
    assert.ok(w, 'prepared');
    const [h] = await send([w!]);
    assert.is(typeof h, 'bigint');
    assert.is(w!.finish(h), undefined, 'applied in the call');
    assert.is(w!.finish(h), undefined, 'a second finish does nothing');
    assert.equal(Buffer.compare(await readBack(v, 2n, 'a', 0, b.length), b), 0, 'the new bytes at epoch 2');
    assert.equal(Buffer.compare(await readBack(v, 1n, 'a', 0, a.length), a), 0, 'the old ones at epoch 1');
    await v.close();
    v = await VosTarget.open(dir, BASE);
    assert.equal(Buffer.compare(await readBack(v, 2n, 'a', 0, b.length), b), 0, 'after a reopen: the record replays');
  } finally { await v.close(); }
});

test('finished with an error or never sent: nothing appended, the extent freed, a VosError', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(32);
    const a = rng.bytes(128 * KiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    const used = v.usage().dataUsed;
    const w1 = prepare(v, 2n, 'a', 0, [rng.bytes(128 * KiB)])!;
    assert.ok(w1);
    assert.ok(v.usage().dataUsed > used, 'the extent is allocated at prepare');
    let err: unknown;
    try { w1.finish(new MediaError('IO_ERROR', 'pwritev: EIO')); } catch (e) { err = e; } // (what the batcher answers for a failed write)
    assert.is((err as { code?: string })?.code, 'IO_ERROR', 'a failed write throws as the checked path');
    assert.is(v.usage().dataUsed, used, 'its extent is free again');
    const w2 = prepare(v, 3n, 'a', 0, [rng.bytes(128 * KiB)])!;
    assert.is(w2.finish(undefined), undefined, 'never sent: nothing thrown');
    assert.is(v.usage().dataUsed, used, 'its extent is free again');
    assert.equal(Buffer.compare(await readBack(v, 5n, 'a', 0, a.length), a), 0, 'the old bytes are the newest');
  } finally { await v.close(); }
});

test('a log found full at finish makes room first, then appends', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(33);
    const a = rng.bytes(128 * KiB), b = rng.bytes(128 * KiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    const w = prepare(v, 2n, 'a', 0, [b])!;
    assert.ok(w);
    const [h] = await send([w]);
    const wal = (v.target as unknown as { wal: { fits(n: number): boolean } }).wal;
    const fits = wal.fits;
    let refused = 0;
    wal.fits = function (n: number) { if (refused++ === 0) return false; return fits.call(this, n); };
    let p: Promise<void> | undefined;
    try { p = w.finish(h); } finally { wal.fits = fits; }
    assert.ok(p instanceof Promise, 'a promise: room is made first');
    await p;
    assert.equal(Buffer.compare(await readBack(v, 2n, 'a', 0, b.length), b), 0);
  } finally { await v.close(); }
});

test('a crash after the bytes are written and before finish: the previous value, the extent free; close waits for finish', async () => {
  const v = await VosTarget.open(dir, BASE);
  const image = tmpDir('locate-write-crash');
  try {
    const rng = new Rng(34);
    const a = rng.bytes(128 * KiB), b = rng.bytes(128 * KiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    const w = prepare(v, 2n, 'a', 0, [b])!;
    const [h] = await send([w]);
    crashImage(dir, image); // (the bytes are in the data file; no record names them)
    let closed = false;
    const closing = v.close().then(() => { closed = true; });
    await new Promise((r) => setTimeout(r, 50));
    assert.is(closed, false, 'close waits for the prepared write');
    assert.is(w.finish(h), undefined);
    await closing;
    const c = await VosTarget.open(image, BASE);
    try {
      assert.equal(Buffer.compare(await readBack(c, 2n, 'a', 0, a.length), a), 0, 'the crash image holds the previous value');
      const before = c.usage().dataUsed;
      await c.updateArray(3n, 7n, enc('d'), enc('b'), { index: 0, count: 128 * KiB }, rng.bytes(128 * KiB));
      assert.is(c.usage().dataUsed - before, 128 * KiB, 'the unnamed extent is not held (the next write allocates as usual)');
    } finally { await c.close(); }
  } finally { fs.rmSync(image, { recursive: true, force: true }); }
});

test.run();
