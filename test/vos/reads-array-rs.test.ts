/**
 * The record size of an array akey (`reads.arrayRecordSize`, checked by every array update): that
 * of the extents already written, wherever they are — memtable, a run (read from its first entry
 * only, or from the run's kept answer after a read decoded its versions), after a flush, an
 * aggregation and a reopen. Model: each akey's record size as first written. An update naming
 * another record size is INVALID_ARGUMENT; one naming none inherits it (its data must be
 * count * that size); every extent reads back as written.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos array record size');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('reads-array-rs'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code ?? String(e));

test('record size remembered from the memtable, a run (first entry), a run\'s kept versions, after flush, aggregation and reopen', async () => {
  const rng = new Rng(21);
  const AKEYS = 24;
  const rsOf = (i: number) => 1 + (i % 5) * 3; // 1, 4, 7, 10, 13
  const d = enc('d');
  const akey = (i: number) => enc(`a${i}`);
  /** The bytes last written at each record index of each akey (the model of the extents). */
  const model = Array.from({ length: AKEYS }, () => new Map<number, number>());
  let epoch = 0n;
  let t = await VosTarget.open(dir, OPTS);
  const write = async (i: number, named: boolean) => {
    const rs = rsOf(i), index = rng.int(16), count = 1 + rng.int(4);
    const data = rng.bytes(count * rs);
    await t.updateArray(++epoch, 5n, d, akey(i), { index, count }, data, named ? { recordSize: rs } : {});
    for (let k = 0; k < count; k++) model[i]!.set(index + k, data[k * rs]!);
  };
  const check = async (when: string) => {
    for (let i = 0; i < AKEYS; i++) {
      const rs = rsOf(i);
      const other = rs === 1 ? 2 : rs - 1;
      assert.is(await code(t.updateArray(epoch + 1n, 5n, d, akey(i), { index: 0, count: 1 }, new Uint8Array(other), { recordSize: other })), 'INVALID_ARGUMENT', `${when}: akey ${i} refuses record size ${other} (has ${rs})`);
      if (rs !== 1) assert.is(await code(t.updateArray(epoch + 1n, 5n, d, akey(i), { index: 0, count: 1 }, new Uint8Array(1))), 'INVALID_ARGUMENT', `${when}: akey ${i}, no size named: ${rs} inherited, 1 byte is not a record`);
    }
    for (let i = 0; i < AKEYS; i++) {
      const r = await t.fetchArray(epoch, 5n, d, akey(i), { index: 0, count: 20 });
      const rs = rsOf(i);
      assert.is(r.data.length, 20 * rs, `${when}: akey ${i} read in records of ${rs}`);
      for (const [index, first] of model[i]!) assert.is(r.data[index * rs], first, `${when}: akey ${i} record ${index}`);
    }
  };
  for (let i = 0; i < AKEYS; i++) await write(i, true);
  await check('memtable');
  await t.target.flushAll();
  for (let i = 0; i < AKEYS; i += 2) await write(i, false); // half the akeys in the memtable and a run, half in the run only
  await check('memtable + run');
  await t.target.flushAll();
  for (let i = 0; i < AKEYS; i++) await write(i, i % 3 === 0);
  await t.target.flushAll();
  // several versions per akey over three runs; an akey read just before (the run kept its versions) and one not
  await t.fetchArray(epoch, 5n, d, akey(3), { index: 0, count: 4 });
  await check('runs');
  await t.aggregate(epoch);
  await check('aggregated');
  await t.close();
  t = await VosTarget.open(dir, OPTS);
  try {
    await check('reopened');
    assert.is(await code(t.updateArray(epoch + 1n, 5n, d, enc('new'), { index: 0, count: 2 }, new Uint8Array(6), { recordSize: 3 })), 'ok', 'an akey with no extents takes any record size');
  } finally { await t.close(); }
});

test.run();
