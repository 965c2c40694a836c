/**
 * `scanObject` (src/vos/scan.ts): one ordered pass over an object gives the same dkeys, akeys,
 * kinds and extents (with their epochs) as the per-key listings (`listDkeys`, `listAkeys`,
 * `akeyKind`, `listRecx`), at every epoch, across the memtable and many runs, with punches at all
 * three levels, overwrites, overlapping extents, values in the data file, a discarded epoch range
 * and pages of a few dkeys; a single value's epoch is the one its write carried.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { scanObject, scanObjectAll, extentEnd, type ScanSource, type ScannedDkey } from '../../src/vos/scan.js';
import { collect, dec, enc, fillRandom as fill, tmpDir } from './helpers.js';

const test = suite('vos scan');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('scan'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** The same store seen only through its listings (the fallback path of `scanObject`). */
function listingsOnly(t: VosTarget): ScanSource {
  return {
    listDkeys: (e, o) => t.listDkeys(e, o),
    listAkeys: (e, o, d) => t.listAkeys(e, o, d),
    listRecx: (e, o, d, a) => t.listRecx(e, o, d, a),
    akeyKind: (e, o, d, a) => t.akeyKind(e, o, d, a),
  };
}

/** A scan without the single values' epochs (the listings do not report them). */
function shape(ds: ScannedDkey[]): unknown {
  return ds.map((d) => ({ dkey: dec(d.dkey), akeys: d.akeys.map((a) => ({ akey: dec(a.akey), kind: a.kind, extents: a.extents.map((x) => `${x.index}+${x.count}@${x.epoch}`) })) }));
}


async function compareAll(t: VosTarget, last: bigint, step: bigint): Promise<number> {
  let checked = 0;
  for (let e = 1n; e <= last + 1n; e += step) {
    for (const oid of [1n, 2n, 3n, 4n]) {
      const fast = await scanObjectAll(t, e, oid);
      const slow = await scanObjectAll(listingsOnly(t), e, oid);
      assert.equal(shape(fast), shape(slow), `oid ${oid} at epoch ${e}`);
      // Pages of 2 dkeys give the same answer as one page.
      const paged: ScannedDkey[] = [];
      for await (const d of scanObject(t, e, oid, { pageDkeys: 2 })) paged.push(d);
      assert.equal(shape(paged), shape(fast), `paged scan of oid ${oid} at epoch ${e}`);
      for (const d of fast) {
        for (const a of d.akeys) {
          if (a.kind === 'single') {
            // The epoch reported is the one the visible value was written at.
            const v = dec((await t.fetchSingle(e, oid, d.dkey, a.akey))!)!;
            assert.is(`v@${a.epoch}`, v.split(';')[0]!.slice(0, `v@${a.epoch}`.length), `single epoch of ${dec(d.dkey)}/${dec(a.akey)} at ${e}`);
            assert.ok(a.epoch <= e);
          } else {
            assert.ok(a.extents.length > 0);
            assert.is(a.epoch, a.extents.reduce((m, x) => (x.epoch > m ? x.epoch : m), 0n), 'an array akey reports its newest visible extent');
            assert.is(extentEnd(a), Math.max(...a.extents.map((x) => x.index + x.count)));
          }
          checked++;
        }
      }
    }
  }
  return checked;
}

test('scan equals the per-key listings at every epoch (memtable and runs, punches, overwrites)', async () => {
  const t = await VosTarget.open(dir, BASE);
  try {
    const last = await fill(t, 11, 700);
    const checked = await compareAll(t, last, 37n);
    assert.ok(checked > 100, `compared ${checked} akeys`);
  } finally { await t.close(); }
});

test('scan after a reopen (runs only) and after a discarded epoch range', async () => {
  let t = await VosTarget.open(dir, BASE);
  const last = await fill(t, 12, 500);
  await t.close();
  t = await VosTarget.open(dir, BASE);
  try {
    await compareAll(t, last, 53n);
    // Drop versions in (200, 300]: the scan no longer reports them.
    await t.discard(200n, 300n);
    const checked = await compareAll(t, last, 41n);
    assert.ok(checked > 50);
    for (const oid of [1n, 2n, 3n]) {
      for (const d of await scanObjectAll(t, last, oid)) {
        for (const a of d.akeys) {
          assert.ok(!(a.epoch > 200n && a.epoch <= 300n), 'no discarded version is visible');
          for (const x of a.extents) assert.ok(!(x.epoch > 200n && x.epoch <= 300n), 'no discarded extent is visible');
        }
      }
    }
  } finally { await t.close(); }
});

test('an object never written, or punched whole, scans empty', async () => {
  const t = await VosTarget.open(dir, BASE);
  try {
    assert.equal(await scanObjectAll(t, 10n, 99n), []);
    await t.updateArray(5n, 7n, enc('d'), enc('a'), { index: 0, count: 10 }, new Uint8Array(10).fill(1));
    await t.updateSingle(6n, 7n, enc('d'), enc('s'), enc('v@6'));
    const before = await scanObjectAll(t, 6n, 7n);
    assert.equal(shape(before), [{ dkey: 'd', akeys: [{ akey: 'a', kind: 'array', extents: ['0+10@5'] }, { akey: 's', kind: 'single', extents: [] }] }]);
    await t.punchObject(8n, 7n);
    assert.equal(await scanObjectAll(t, 8n, 7n), []);
    assert.equal(shape(await scanObjectAll(t, 7n, 7n)), shape(before), 'older epochs still see the content');
    // The listings agree.
    assert.equal(await collect(t.listDkeys(8n, 7n)), []);
  } finally { await t.close(); }
});

test.run();
