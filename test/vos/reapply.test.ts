/**
 * `reapplySingleNow` (a durable container's redo replay at open): a value the store already holds
 * as its newest single at exactly that epoch (same checksum and length) is not logged again, in a
 * memtable replayed from the log after a crash image or in a run after a flush; a value the store
 * lacks, holds at another epoch, or holds under a newer write at the same epoch is logged as
 * `updateSingleNow` logs it (the redo value then reads back); a discarded one is written again;
 * bad arguments throw the same typed errors.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, valueChecksum } from '../../src/vos/index.js';
import { crashImage, dec, enc, tmpDir } from './helpers.js';

const test = suite('vos reapplySingleNow');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS = { scmBytes: 16 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' as const };
let dir = '';
test.before.each(() => { dir = tmpDir('reapply'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });
const A = enc('a');
const code = (f: () => unknown) => { try { f(); } catch (e) { return (e as { code?: string }).code; } return undefined; };
/** Records the store's log took (every logged update counts one). */
const logged = (t: VosTarget) => (t as unknown as { target: { nextSeq: number } }).target.nextSeq;

test('held values (replayed after a crash image, or in a run) are not logged again; others are', async () => {
  const t = await VosTarget.open(dir, OPTS);
  const big = new Uint8Array(6 * KiB).fill(9); // a data-file value
  for (let i = 0; i < 200; i++) await t.updateSingleNow(BigInt(10 + i), BigInt(1 + (i % 7)), enc(`d${i}`), A, i === 5 ? big : enc(`v${i}`));
  await t.updateSingleNow(300n, 50n, enc('d'), A, enc('first'));
  await t.updateSingleNow(300n, 50n, enc('d'), A, enc('second')); // the same epoch again: the later one is the store's
  const image = path.join(dir, 'image');
  crashImage(dir, image);
  await t.close();
  const back = await VosTarget.open(image, OPTS);
  const seq0 = logged(back);
  for (let i = 0; i < 200; i++) {
    const v = i === 5 ? big : enc(`v${i}`);
    assert.is(back.reapplySingleNow(BigInt(10 + i), BigInt(1 + (i % 7)), enc(`d${i}`), A, v, i % 2 ? valueChecksum(v) : undefined), undefined);
  }
  assert.is(back.reapplySkipped, 200, 'every replayed value was held');
  assert.is(logged(back), seq0, 'nothing logged');
  // held under a newer write at its epoch: logged, and the redo value is the store's again (as updateSingleNow)
  await (back.reapplySingleNow(300n, 50n, enc('d'), A, enc('first')) ?? Promise.resolve());
  assert.is(back.reapplySkipped, 200);
  assert.is(dec(await back.fetchSingle(300n, 50n, enc('d'), A)), 'first');
  // not held: another epoch, another value at the epoch, an absent key
  await (back.reapplySingleNow(11n, 1n, enc('d0'), A, enc('v0')) ?? Promise.resolve()); // held at 10, not at 11
  await (back.reapplySingleNow(10n, 1n, enc('d0'), A, enc('v0-other')) ?? Promise.resolve());
  await (back.reapplySingleNow(10n, 99n, enc('d0'), A, enc('new')) ?? Promise.resolve());
  assert.is(back.reapplySkipped, 200);
  assert.is(logged(back), seq0 + 4);
  assert.is(dec(await back.fetchSingle(10n, 1n, enc('d0'), A)), 'v0-other');
  assert.is(dec(await back.fetchSingle(11n, 1n, enc('d0'), A)), 'v0');
  assert.is(dec(await back.fetchSingle(10n, 99n, enc('d0'), A)), 'new');
  // in a run after a flush: still held
  await (back as unknown as { target: { flushAll(): Promise<void> } }).target.flushAll();
  const seq1 = logged(back);
  for (let i = 20; i < 60; i++) assert.is(back.reapplySingleNow(BigInt(10 + i), BigInt(1 + (i % 7)), enc(`d${i}`), A, enc(`v${i}`)), undefined);
  assert.is(back.reapplySkipped, 240);
  assert.is(logged(back), seq1);
  // discarded: written again
  await back.discard(205n, 209n);
  await (back.reapplySingleNow(206n, BigInt(1 + (196 % 7)), enc('d196'), A, enc('v196')) ?? Promise.resolve());
  assert.is(back.reapplySkipped, 240);
  assert.is(dec(await back.fetchSingle(206n, BigInt(1 + (196 % 7)), enc('d196'), A)), 'v196');
  assert.is(code(() => back.reapplySingleNow(0n, 1n, enc('d'), A, enc('x'))), 'INVALID_ARGUMENT', 'epoch 0');
  assert.is(code(() => back.reapplySingleNow(7n, 1n, new Uint8Array(0), A, enc('x'))), 'INVALID_ARGUMENT', 'empty dkey');
  assert.is(code(() => back.reapplySingleNow(7n, 1n, enc('d'), A, 'x' as unknown as Uint8Array)), 'INVALID_ARGUMENT', 'not bytes');
  await back.close();
  // everything reads back after another reopen
  const again = await VosTarget.open(image, OPTS);
  for (let i = 0; i < 200; i++) if (i !== 0 && (i < 195 || i === 196)) assert.equal(await again.fetchSingle(BigInt(10 + i), BigInt(1 + (i % 7)), enc(`d${i}`), A), i === 5 ? big : enc(`v${i}`));
  assert.is(dec(await again.fetchSingle(300n, 50n, enc('d'), A)), 'first');
  assert.is(await again.fetchSingle(208n, BigInt(1 + (198 % 7)), enc('d198'), A), undefined, 'discarded and not written again');
  await again.close();
});

test.run();
