/**
 * `ContainerStore.locateArrayExtent`: where a whole-extent array read's bytes lie in the target's
 * data file (for a reader on the same host that reads them itself and checks them). It answers
 * only when the newest extent visible at the epoch is exactly the range asked for and lies in the
 * data file; the bytes at its position hash (xxh64, CSUM_SEED) to its checksum and are the value's.
 * A sub-range, a range never written, a value held in the log: null.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { xxh64 } from '../../core/xxhash.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { CSUM_SEED, DATA_FILE } from '../../src/vos/constants.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos extent place');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('place'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** The bytes at `p` in the target's data file. */
function bytesAt(p: { position: number; length: number }): Uint8Array {
  const fd = fs.openSync(path.join(dir, DATA_FILE), 'r');
  try {
    const b = new Uint8Array(p.length);
    assert.is(fs.readSync(fd, b, 0, p.length, p.position), p.length);
    return b;
  } finally { fs.closeSync(fd); }
}

test('the newest whole extent: its place in the data file holds its bytes, which hash to its checksum', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(180);
    const a = rng.bytes(MiB), b = rng.bytes(MiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.updateArray(3n, 7n, enc('d'), enc('a'), { index: 0, count: b.length }, b);
    for (const [epoch, want] of [[3n, b], [2n, a]] as const) {
      const p = v.locateArrayExtent(epoch, 7n, enc('d'), enc('a'), { index: 0, count: MiB });
      assert.ok(p, `located at epoch ${epoch}`);
      assert.is(p!.length, MiB);
      const got = bytesAt(p!);
      assert.ok(Buffer.from(got).equals(Buffer.from(want)), `the bytes of epoch ${epoch}'s version`);
      assert.is(xxh64(got, CSUM_SEED), p!.csum, 'they hash to the checksum');
    }
  } finally { await v.close(); }
});

test('a sub-range, a range not written, a value in the log, nothing at the epoch: null', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(181);
    await v.updateArray(2n, 7n, enc('d'), enc('a'), { index: 0, count: MiB }, rng.bytes(MiB));
    await v.updateArray(2n, 7n, enc('d'), enc('s'), { index: 0, count: 100 }, rng.bytes(100));
    const at = (akey: string, index: number, count: number, epoch = 2n) => v.locateArrayExtent(epoch, 7n, enc('d'), enc(akey), { index, count });
    assert.ok(at('a', 0, MiB), 'the whole extent is located');
    assert.is(at('a', 0, MiB / 2), null, 'a sub-range');
    assert.is(at('a', 4096, MiB - 4096), null, 'a range starting inside');
    assert.is(at('b', 0, MiB), null, 'an akey never written');
    assert.is(at('a', 0, MiB, 1n), null, 'an epoch before the write');
    assert.is(at('s', 0, 100), null, 'a small value held in the log');
  } finally { await v.close(); }
});

test.run();
