/**
 * The object table's memtable part (reads.ts `memObjectTable`) is encoded once per memtable
 * container and kept until its next new object; a listing page starts by binary search. Listings
 * must still see every object: ones added after a listing built the table, ones in the frozen or
 * flushed part, from any page start, across LIST_PAGE boundaries.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget } from '../../src/vos/index.js';
import { collect, tmpDir } from './helpers.js';
import { safe } from './safe.js';

const test = suite('vos object table');

test('listObjectIds: objects added after a listing, in the memtable, frozen or in runs, listed once each in order', safe(async () => {
  const dir = tmpDir('object-table');
  try {
    const t = await VosTarget.open(dir, { scmBytes: 64 << 20, dataBytes: 32 << 20, walBytes: 4 << 20, io: 'pread' });
    const want = new Set<bigint>();
    const put = async (oid: bigint) => { await t.updateSingle(1n, oid, new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])); want.add(oid); };
    const check = async (label: string) => {
      const got = await collect(t.listObjectIds());
      assert.equal(got, [...want].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), label);
    };
    for (let i = 0; i < 700; i++) await put(BigInt(i * 3 + 10)); // three pages of 256 and more
    await check('memtable');
    await check('memtable, again (the kept table)');
    await put(11n); await put(5n); await put(100000n); // before, between and after the listed ones
    await check('objects added after a listing');
    for (let i = 0; i < 300; i++) await put(BigInt(i * 3 + 11)); // between pages' ids too
    await check('more added');
    await t.target.flushAll();
    await check('flushed');
    for (let i = 0; i < 300; i++) await put(BigInt(i * 3 + 12));
    await put(10n); // (already in a run: listed once)
    await check('runs and memtable');
    await t.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test.run();
