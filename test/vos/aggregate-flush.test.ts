/**
 * Flushes, aggregations and writes at once: `flushAll` called by several callers while an
 * aggregation folds and writers fill log regions always ends with everything in runs (it waits
 * until nothing is frozen or flushing before it rotates), and every acknowledged value reads back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos flushAll beside aggregations and writers');
const KiB = 1024; const MiB = 1024 * KiB;
let dir = '';
test.before.each(() => { dir = tmpDir('agg-flush'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('concurrent flushAll calls, folds and writers: no failure, nothing lost, nothing left in the log', async () => {
  const t = await VosTarget.open(dir, { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' });
  const A = enc('a');
  let epoch = 0n;
  const last = new Map<number, bigint>();
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const e = ++epoch; const k = Number(e % 97n);
      await t.updateSingle(e, 1n, enc(`k${k}`), A, enc(`v${e}`));
      last.set(k, e);
    }
  };
  for (let round = 0; round < 40; round++) {
    await Promise.all([write(150), t.target.flushAll(), write(60), t.target.flushAll(), t.aggregate(epoch > 50n ? epoch - 50n : 2n), t.target.flushAll()]);
  }
  await t.target.flushAll();
  assert.is(t.target.usage().memtableBytes, 0, 'everything is in runs after the last flushAll');
  for (const [k, e] of last) assert.is(new TextDecoder().decode(await t.fetchSingle(epoch, 1n, enc(`k${k}`), A)), `v${e}`, `key ${k}`);
  await t.close();
});

test.run();
