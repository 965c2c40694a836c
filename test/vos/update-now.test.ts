/**
 * `updateSingleNow`: a small single value is logged and applied before the call returns (undefined,
 * no promise), readable at once; a value for the data file, a durable store or one whose log
 * region is full takes the awaited path (a promise) with the same result; bad arguments throw
 * synchronously with the same typed errors as `updateSingle`; replays after a crash image.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, valueChecksum } from '../../src/vos/index.js';
import { crashImage, dec, enc, tmpDir } from './helpers.js';

const test = suite('vos updateSingleNow');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('update-now'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });
const A = enc('a');
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as { code?: string }).code; } return undefined; };

test('small values apply synchronously (inline or a synchronous data-file write); large values, full log regions and durable stores return a promise', async () => {
  const t = await VosTarget.open(dir, { scmBytes: 16 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' });
  assert.is(t.updateSingleNow(5n, 1n, enc('d'), A, enc('now')), undefined, 'applied in the call');
  assert.is(dec(t.fetchSingleNow(5n, 1n, enc('d'), A) as Uint8Array), 'now', 'readable at once');
  const big = new Uint8Array(8 * KiB).fill(3);
  assert.is(t.updateSingleNow(6n, 1n, enc('d'), A, big), undefined, 'a small data-file value is written and applied in the call');
  assert.equal(await t.fetchSingle(6n, 1n, enc('d'), A), big);
  const huge = new Uint8Array(100 * KiB).fill(4);
  const p = t.updateSingleNow(7n, 1n, enc('d'), A, huge);
  assert.ok(p instanceof Promise, 'a value beyond the synchronous write size goes to the thread pool: the awaited path');
  await p;
  assert.equal(await t.fetchSingle(7n, 1n, enc('d'), A), huge);
  // many in a row: some find the log region full and wait for its rotation; all are applied
  let promised = 0;
  for (let i = 0; i < 20_000; i++) { const q = t.updateSingleNow(BigInt(10 + i), 2n, enc(`k${i % 50}`), A, enc(`v${i}`)); if (q) { promised++; await q; } }
  assert.ok(promised < 20_000, `most applied synchronously (${promised} promised)`);
  for (let k = 0; k < 50; k++) assert.is(dec(await t.fetchSingle(BigInt(10 + 19_999), 2n, enc(`k${k}`), A)), `v${19_950 + k}`);
  assert.is(code(() => t.updateSingleNow(0n, 1n, enc('d'), A, enc('x'))), 'INVALID_ARGUMENT', 'epoch 0');
  assert.is(code(() => t.updateSingleNow(7n, 1n, new Uint8Array(0), A, enc('x'))), 'INVALID_ARGUMENT', 'empty dkey');
  assert.is(code(() => t.updateSingleNow(7n, 1n, enc('d'), A, 'x' as unknown as Uint8Array)), 'INVALID_ARGUMENT', 'not bytes');
  const image = path.join(dir, 'image');
  crashImage(dir, image); // what a process killed now leaves
  await t.close();
  const back = await VosTarget.open(image, { scmBytes: 16 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' });
  assert.is(dec(await back.fetchSingle(5n, 1n, enc('d'), A)), 'now', 'replayed');
  for (let k = 0; k < 50; k++) assert.is(dec(await back.fetchSingle(BigInt(10 + 19_999), 2n, enc(`k${k}`), A)), `v${19_950 + k}`);
  await back.close();
  const d = await VosTarget.open(path.join(dir, 'durable'), { scmBytes: 16 * MiB, dataBytes: 16 * MiB, durable: true, io: 'pread' });
  const q = d.updateSingleNow(5n, 1n, enc('d'), A, enc('synced'));
  assert.ok(q instanceof Promise, 'a durable store syncs: the awaited path');
  await q;
  assert.is(dec(await d.fetchSingle(5n, 1n, enc('d'), A)), 'synced');
  await d.close();
});

test('a checksum passed in (one hash for every replica) is the one stored: reads and a replay verify the value against it', async () => {
  const opts = { scmBytes: 16 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' as const };
  const t = await VosTarget.open(dir, opts);
  const v = enc('hashed once');
  assert.is(t.updateSingleNow(5n, 1n, enc('d'), A, v, valueChecksum(v)), undefined);
  assert.is(dec(await t.fetchSingle(5n, 1n, enc('d'), A)), 'hashed once');
  const image = path.join(dir, 'image');
  crashImage(dir, image);
  await t.target.flushAll(); // (into a run: the run's checksum check reads it back)
  assert.is(dec(await t.fetchSingle(5n, 1n, enc('d'), A)), 'hashed once');
  await t.close();
  const back = await VosTarget.open(image, opts);
  assert.is(dec(await back.fetchSingle(5n, 1n, enc('d'), A)), 'hashed once', 'replayed');
  await back.close();
  // the checksum passed is the one stored: a wrong one fails the read (the value is not re-hashed)
  const w = await VosTarget.open(path.join(dir, 'wrong'), opts);
  assert.is(w.updateSingleNow(5n, 1n, enc('d'), A, v, valueChecksum(v) ^ 1n), undefined);
  let err: unknown;
  try { await w.fetchSingle(5n, 1n, enc('d'), A); } catch (e) { err = e; }
  assert.is((err as { code?: string })?.code, 'CHECKSUM_MISMATCH');
  await w.close();
});

test.run();
