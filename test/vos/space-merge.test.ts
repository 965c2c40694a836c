/**
 * Space merges keep the written part of the data file near the data's size: keys overwritten in
 * place at one epoch leave their replaced values in older runs until a merge of every run frees
 * them. The first such merge comes at 16 MiB in use (or half the file), each next one once the
 * data in use has doubled since the last: the file's peak use stays near twice the live data, not
 * half the file (its pages are touched, cost CPU on first touch and sit in the page cache). Reads
 * answer the last value written throughout (model: a Map).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget } from '../../src/vos/index.js';
import { safe } from './safe.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos space merges');
const MiB = 1024 * 1024;
// 1 MiB log regions: a flush every ~7k updates, so replaced values reach runs (with the 4 MiB
// default at this cap the memtable absorbs most overwrites and frees them itself)
const OPTS = { scmBytes: 64 * MiB, dataBytes: 128 * MiB, walBytes: 1 * MiB, io: 'pread' as const };
let dir = '';
test.before.each(() => { dir = tmpDir('space-merge'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('4 KiB values of 1,024 keys (4 MiB) overwritten 48 times (192 MiB written) in a 128 MiB data file: peak use stays under 24 MiB, space merges free the replaced values, reads answer the last write', safe(async () => {
  const t = await VosTarget.open(dir, OPTS);
  const KEYS = 1024; const ROUNDS = 48;
  const model = new Map<number, number>();
  const value = (k: number, r: number) => new Uint8Array(4096).fill((k * 31 + r) & 0xff);
  let peak = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < KEYS; k++) {
      await t.updateSingle(1n, 1n, enc(`d${k}`), enc('a'), value(k, r));
      model.set(k, r);
      peak = Math.max(peak, t.target.usage().dataUsed);
    }
  }
  await t.target.idle();
  assert.ok(t.compactions > 0, 'space merges ran');
  assert.ok(peak < 24 * MiB, `peak data-file use ${(peak / MiB).toFixed(1)} MiB (half the file would be 64)`);
  for (const [k, r] of model) {
    const got = await t.fetchSingle(1n, 1n, enc(`d${k}`), enc('a'));
    assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(value(k, r))), `key ${k}: round ${r}'s value`);
  }
  await t.close();
  const again = await VosTarget.open(dir, OPTS);
  for (const [k, r] of model) {
    const got = await again.fetchSingle(1n, 1n, enc(`d${k}`), enc('a'));
    assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(value(k, r))), `reopened, key ${k}: round ${r}'s value`);
  }
  await again.close();
}));

test.run();
