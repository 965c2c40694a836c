/**
 * `objectVersions` / `readVersionInto` (src/vos/bulk-read.ts): one pass over an object gives the
 * same dkeys, akeys, kinds and extents as `scanObject` at every epoch (memtable, runs after a
 * reopen, a discarded range, punches at all levels, overlapping extents), and the versions it names
 * read back exactly the bytes `fetchArray` / `fetchSingle` return for the same pieces; a flipped
 * byte in the data file fails the read with CHECKSUM_MISMATCH; objects with too many dkeys are
 * refused (undefined) rather than gathered.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { scanObjectAll, type ScannedDkey } from '../../src/vos/scan.js';
import { objectVersions, readVersionInto, supportsBulkRead } from '../../src/vos/bulk-read.js';
import { code, dec, enc, fillRandom as fill, tmpDir } from './helpers.js';

const test = suite('vos bulk read');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('bulk'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

function shape(ds: ScannedDkey[]): unknown {
  return ds.map((d) => ({ dkey: dec(d.dkey), akeys: d.akeys.map((a) => ({ akey: dec(a.akey), kind: a.kind, epoch: a.epoch, extents: a.extents.map((x) => `${x.index}+${x.count}@${x.epoch}`) })) }));
}


/** At epochs 1..last+1 (every `step`): the pass equals `scanObject`, and every piece reads back as `fetchArray` / `fetchSingle` do. */
async function compareAll(t: VosTarget, last: bigint, step: bigint): Promise<number> {
  let pieces = 0;
  for (let e = 1n; e <= last + 1n; e += step) {
    for (const oid of [1n, 2n, 3n, 4n]) {
      const got = objectVersions(t, e, oid)!;
      assert.ok(got, 'a small object is gathered');
      assert.equal(shape(got), shape(await scanObjectAll(t, e, oid)), `oid ${oid} at epoch ${e}`);
      for (const d of got) {
        for (const a of d.akeys) {
          if (a.kind === 'single') {
            const want = (await t.fetchSingle(e, oid, d.dkey, a.akey))!;
            const into = new Uint8Array(a.single!.len);
            await readVersionInto(t, oid, d.dkey, a.akey, a.single!, [into]);
            assert.equal([...into], [...want], `single ${dec(d.dkey)}/${dec(a.akey)} at ${e}`);
            pieces++;
            continue;
          }
          assert.is(a.single, undefined);
          for (const p of a.pieces) {
            assert.ok(p.index >= p.version.index && p.index + p.count <= p.version.index + p.version.count, 'a piece lies inside its version');
            // The whole version, read in two buffers (a split at an odd offset), then the piece cut out of it.
            const whole = new Uint8Array(p.version.len);
            const cut = Math.floor(whole.length / 3);
            await readVersionInto(t, oid, d.dkey, a.akey, p.version, [whole.subarray(0, cut), whole.subarray(cut)]);
            const { data } = await t.fetchArray(e, oid, d.dkey, a.akey, { index: p.index, count: p.count });
            assert.equal(Buffer.compare(whole.subarray(p.index - p.version.index, p.index - p.version.index + p.count), data), 0, `piece ${p.index}+${p.count} of ${dec(d.dkey)}/${dec(a.akey)} at ${e}`);
            pieces++;
          }
        }
      }
    }
  }
  return pieces;
}

test('the pass equals scanObject and its versions read back the visible bytes (memtable, runs, discard)', async () => {
  let t = await VosTarget.open(dir, BASE);
  assert.ok(supportsBulkRead(t));
  const last = await fill(t, 21, 600);
  try {
    assert.ok(await compareAll(t, last, 29n) > 200);
  } finally { await t.close(); }
  t = await VosTarget.open(dir, BASE); // runs only
  try {
    assert.ok(await compareAll(t, last, 47n) > 100);
    await t.discard(150n, 260n);
    assert.ok(await compareAll(t, last, 43n) > 100);
  } finally { await t.close(); }
});

test('a flipped byte under a version fails its read with CHECKSUM_MISMATCH', async () => {
  const t = await VosTarget.open(dir, BASE);
  try {
    const value = new Rng(5).bytes(256 * KiB); // above the inline threshold: a data-file value
    await t.updateArray(1n, 9n, enc('d'), enc('a'), { index: 0, count: value.length }, value);
    const [d] = objectVersions(t, 1n, 9n)!;
    const v = d!.akeys[0]!.pieces[0]!.version;
    assert.is(v.where, 1, 'the value lives in the data file');
    const into = new Uint8Array(v.len);
    await readVersionInto(t, 9n, d!.dkey, enc('a'), v, [into]);
    assert.equal(Buffer.compare(into, value), 0);
    const fd = fs.openSync(path.join(dir, 'vos.data'), 'r+');
    try {
      const b = Buffer.alloc(1);
      fs.readSync(fd, b, 0, 1, v.loc + 1000);
      b[0] ^= 0x40;
      fs.writeSync(fd, b, 0, 1, v.loc + 1000);
    } finally { fs.closeSync(fd); }
    assert.is(await code(readVersionInto(t, 9n, d!.dkey, enc('a'), v, [into])), 'CHECKSUM_MISMATCH');
  } finally { await t.close(); }
});

test('an object with more dkeys than the bound is refused, bad arguments are INVALID_ARGUMENT', async () => {
  const t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 12; i++) await t.updateSingle(1n, 3n, enc(`k${String(i).padStart(2, '0')}`), enc('a'), enc(`v${i}`));
    assert.is(objectVersions(t, 1n, 3n, { maxDkeys: 11 }), undefined);
    assert.is(objectVersions(t, 1n, 3n, { maxDkeys: 12 })!.length, 12);
    assert.equal(objectVersions(t, 1n, 4n), []);
    assert.is(await code(() => objectVersions(t, -1n as bigint, 3n)), 'INVALID_ARGUMENT');
    assert.is(await code(() => objectVersions(t, 1n, 'x' as unknown as bigint)), 'INVALID_ARGUMENT');
  } finally { await t.close(); }
});

test.run();
