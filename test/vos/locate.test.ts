/**
 * `locateArrayRead` (src/vos/locate.ts), the synchronous half of the fused EC read: it answers
 * with a device request only for the plain case (the newest visible extent is exactly the range
 * asked for and lies in the data file) and null for everything else (a partial range, a value
 * still in the log, nothing visible at the epoch, an older epoch's extent, a damaged target); the
 * bytes it reads are the value's and `finish` is true only when they hash to the extent's
 * checksum (a flipped byte in the data file: false, and `fetchArrayInto` then says
 * CHECKSUM_MISMATCH); it holds the target until `finish` (close waits), `finish` releases once.
 * The akey's run probes are built only when a run is read (a memtable extent covering the range
 * shadows older runs), and the answers are the same either way (runs, punches in runs).
 * `locateVersionInto` (`locateVersionRead`) reads a version the rebuild's scan found, with no lookup.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { locateArrayRead, onProbes, readHashedGroup, type LocatedArrayRead } from '../../src/vos/locate.js';
import type { ReadView } from '../../src/vos/reads.js';
import { DATA_FILE } from '../../src/vos/constants.js';
import { locateVersionInto, objectVersions } from '../../src/vos/bulk-read.js';
import { nativeAddon } from '../../src/media/io-uring.js';
import { code, enc, tmpDir } from './helpers.js';

const test = suite('vos locate');
/**
 * Located reads are the addon's hashed reads (the pool's `readvHashGroup`). Without the addon
 * (not built, or CAIRN_NO_NATIVE=1) every lookup answers null and callers read the ordinary way:
 * the last case says so, and the cases that read located bytes are skipped.
 */
const hashedReads = nativeAddon() !== undefined;
const located = hashedReads ? test : test.skip;
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('locate'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** The read view a ContainerStore builds (its sources and the container's discards). */
function viewOf(v: VosTarget): ReadView {
  const t = v.target;
  return { mems: t.frozen ? [t.active, t.frozen] : [t.active], runs: t.runs, tombs: v.state.tombs, cont: v.state.idx };
}

function locate(v: VosTarget, epoch: bigint, oid: bigint, akey: string, index: number, count: number, into: Uint8Array[]): LocatedArrayRead | null {
  return locateArrayRead(v.target, v.state, viewOf(v), epoch, oid, enc('d'), enc(akey), { index, count }, into);
}

/** Send located reads as one group and finish each: whether each one's bytes matched. */
async function run(ls: LocatedArrayRead[]): Promise<boolean[]> {
  const out = await readHashedGroup(ls.map((l) => l.read));
  return ls.map((l, i) => l.finish(out[i]));
}

located('the newest whole extent in the data file is located and read into the pieces; everything else is null', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(18);
    const a = rng.bytes(256 * KiB), b = rng.bytes(256 * KiB), small = rng.bytes(100);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.updateArray(3n, 7n, enc('d'), enc('a'), { index: 0, count: b.length }, b);
    await v.updateArray(1n, 7n, enc('d'), enc('s'), { index: 0, count: small.length }, small);
    // at epoch 3: b, into three pieces in order
    const into = [new Uint8Array(1000), new Uint8Array(200 * KiB), new Uint8Array(256 * KiB - 1000 - 200 * KiB)];
    const l = locate(v, 3n, 7n, 'a', 0, b.length, into);
    assert.ok(l, 'located');
    assert.equal(await run([l!]), [true]);
    assert.equal(Buffer.compare(Buffer.concat(into), b), 0, 'the newest version\'s bytes, in order');
    // at epoch 2: a (an older extent, still whole)
    const one = [new Uint8Array(a.length)];
    const la = locate(v, 2n, 7n, 'a', 0, a.length, one);
    assert.ok(la);
    assert.equal(await run([la!]), [true]);
    assert.equal(Buffer.compare(one[0]!, a), 0);
    // not the plain case: null, and nothing held (close below would wait)
    assert.is(locate(v, 3n, 7n, 'a', 0, 4096, [new Uint8Array(4096)]), null, 'part of an extent');
    assert.is(locate(v, 3n, 7n, 'a', 4096, b.length, [new Uint8Array(b.length)]), null, 'a range past the extent');
    assert.is(locate(v, 0n, 7n, 'a', 0, a.length, [new Uint8Array(a.length)]), null, 'nothing visible yet');
    assert.is(locate(v, 3n, 8n, 'a', 0, a.length, [new Uint8Array(a.length)]), null, 'another object');
    assert.is(locate(v, 3n, 7n, 's', 0, small.length, [new Uint8Array(small.length)]), null, 'a small value (log or inline)');
    assert.is(locate(v, 3n, 7n, 'a', 0, b.length, [new Uint8Array(b.length - 1)]), null, 'buffers that do not hold the value');
    // the plain case after a flush too (the extent then comes from a run)
    await v.close();
    const w = await VosTarget.open(dir, BASE);
    try {
      const again = [new Uint8Array(b.length)];
      const lw = locate(w, 5n, 7n, 'a', 0, b.length, again);
      assert.ok(lw, 'located through a run');
      assert.equal(await run([lw!]), [true]);
      assert.equal(Buffer.compare(again[0]!, b), 0);
    } finally { await w.close(); }
  } catch (e) { await v.close().catch(() => undefined); throw e; }
});

located('a flipped byte in the data file: finish is false (fetchArrayInto says CHECKSUM_MISMATCH); a sound read in the same group is true', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(19);
    const a = rng.bytes(128 * KiB), b = rng.bytes(128 * KiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.updateArray(1n, 7n, enc('d'), enc('b'), { index: 0, count: b.length }, b);
    const ia = [new Uint8Array(a.length)], ib = [new Uint8Array(b.length)];
    const la = locate(v, 1n, 7n, 'a', 0, a.length, ia)!;
    const pos = la.read.position;
    la.finish(undefined); // never sent: released
    const fd = fs.openSync(path.join(dir, DATA_FILE), 'r+');
    try {
      const x = Buffer.alloc(1);
      fs.readSync(fd, x, 0, 1, pos + 5000);
      x[0] = x[0]! ^ 0x20;
      fs.writeSync(fd, x, 0, 1, pos + 5000);
    } finally { fs.closeSync(fd); }
    const l1 = locate(v, 1n, 7n, 'a', 0, a.length, ia)!, l2 = locate(v, 1n, 7n, 'b', 0, b.length, ib)!;
    assert.equal(await run([l1, l2]), [false, true], 'the damaged read is not taken, the sound one is');
    assert.equal(Buffer.compare(ib[0]!, b), 0);
    assert.is(await code(v.fetchArrayInto(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, [new Uint8Array(a.length)])), 'CHECKSUM_MISMATCH');
  } finally { await v.close(); }
});

located('locateVersionInto: a version objectVersions found is read with no lookup; not in the data file, a wrong size, closed: null; its blocks holding other bytes since (freed and reused): finish is false', async () => {
  let v = await VosTarget.open(dir, BASE);
  try {
    const rng = new Rng(21);
    const a = rng.bytes(192 * KiB), b = rng.bytes(192 * KiB), small = rng.bytes(100);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.updateArray(3n, 7n, enc('d'), enc('a'), { index: 0, count: b.length }, b);
    await v.updateArray(1n, 7n, enc('d'), enc('s'), { index: 0, count: small.length }, small);
    const versionOf = (epoch: bigint, akey: string) => {
      const ds = objectVersions(v, epoch, 7n)!;
      const ak = ds[0]!.akeys.find((x) => Buffer.from(x.akey).toString() === akey)!;
      assert.is(ak.pieces.length, 1);
      return ak.pieces[0]!.version;
    };
    const vb = versionOf(3n, 'a'), va = versionOf(2n, 'a');
    for (const [ver, want] of [[vb, b], [va, a]] as const) {
      const into = [new Uint8Array(1000), new Uint8Array(want.length - 1000)];
      const l = locateVersionInto(v, ver, into);
      assert.ok(l, 'located');
      assert.equal(await run([l!]), [true]);
      assert.equal(Buffer.compare(Buffer.concat(into), want), 0, 'the version\'s bytes, in order');
    }
    assert.is(locateVersionInto(v, versionOf(1n, 's'), [new Uint8Array(small.length)]), null, 'in the log: null');
    assert.is(locateVersionInto(v, vb, [new Uint8Array(b.length - 1)]), null, 'a wrong size: null');
    // the blocks of `a` hold other bytes now (as when freed by an aggregation and reused): false
    const la = locateVersionInto(v, va, [new Uint8Array(a.length)])!;
    const pos = la.read.position;
    la.finish(undefined);
    const fd = fs.openSync(path.join(dir, DATA_FILE), 'r+');
    try { fs.writeSync(fd, rng.bytes(4096), 0, 4096, pos + 8192); } finally { fs.closeSync(fd); }
    const again = locateVersionInto(v, va, [new Uint8Array(a.length)])!;
    const other = [new Uint8Array(b.length)];
    assert.equal(await run([again, locateVersionInto(v, vb, other)!]), [false, true], 'the stale read is not taken, the sound one is');
    assert.equal(Buffer.compare(other[0]!, b), 0);
    await v.close();
    assert.is(locateVersionInto(v, vb, [new Uint8Array(b.length)]), null, 'closed: null');
    v = await VosTarget.open(dir, BASE);
  } finally { await v.close(); }
});

located('run probes are built only when a run is read: a memtable extent over older runs needs none; answers from runs and punches in runs stay right', async () => {
  const v = await VosTarget.open(dir, BASE);
  const built: boolean[] = [];
  onProbes((b) => built.push(b));
  try {
    const rng = new Rng(21);
    const a = rng.bytes(128 * KiB), b = rng.bytes(128 * KiB), c = rng.bytes(128 * KiB);
    const get = async (epoch: bigint, akey = 'a', len = a.length): Promise<Uint8Array | null> => {
      const into = [new Uint8Array(len)];
      const l = locate(v, epoch, 7n, akey, 0, len, into);
      if (l === null) return null;
      assert.equal(await run([l]), [true]);
      return into[0]!;
    };
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.target.flushAll(); // a is in a run now
    await v.updateArray(3n, 7n, enc('d'), enc('a'), { index: 0, count: b.length }, b);
    built.length = 0;
    assert.equal(Buffer.compare((await get(3n))!, b), 0, 'the memtable extent');
    assert.equal(built, [false], 'a covering memtable extent newer than every run: no probes');
    built.length = 0;
    assert.equal(Buffer.compare((await get(2n))!, a), 0, 'the older extent, from its run');
    assert.equal(built, [true], 'a read that looks in a run builds them');
    // a punch flushed into a run hides the extents below it; a later extent in the memtable shadows it
    await v.punchAkey(4n, 7n, enc('d'), enc('a'));
    await v.target.flushAll();
    await v.updateArray(5n, 7n, enc('d'), enc('a'), { index: 0, count: c.length }, c);
    assert.is(await get(4n), null, 'punched: nothing visible');
    built.length = 0;
    assert.equal(Buffer.compare((await get(5n))!, c), 0, 'the extent after the punch');
    assert.equal(built, [false]);
    assert.equal(Buffer.compare((await get(3n))!, b), 0, 'b, flushed into a run with the punch, before it');
  } finally { onProbes(undefined); await v.close(); }
});

located('a located read holds the target until finish (close waits); finish releases once', async () => {
  const v = await VosTarget.open(dir, BASE);
  const a = new Rng(20).bytes(64 * KiB);
  await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
  const into = [new Uint8Array(a.length)];
  const l = locate(v, 1n, 7n, 'a', 0, a.length, into)!;
  assert.ok(l);
  let closed = false;
  const closing = v.close().then(() => { closed = true; });
  await new Promise((r) => setTimeout(r, 50));
  assert.is(closed, false, 'close waits for the located read');
  const [h] = await readHashedGroup([l.read]);
  assert.is(l.finish(h), true);
  assert.is(l.finish(h), false, 'a second finish does nothing');
  await closing;
  assert.ok(closed);
  assert.equal(Buffer.compare(into[0]!, a), 0);
  // a closed target locates nothing
  assert.is(locate(v, 1n, 7n, 'a', 0, a.length, [new Uint8Array(a.length)]), null);
});

(hashedReads ? test.skip : test)('without the addon every lookup is null: the caller reads the ordinary way, and the bytes are the same', async () => {
  const v = await VosTarget.open(dir, BASE);
  try {
    const b = new Rng(19).bytes(256 * KiB);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: b.length }, b);
    assert.is(locate(v, 1n, 7n, 'a', 0, b.length, [new Uint8Array(b.length)]), null);
    assert.equal(Buffer.compare((await v.fetchArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: b.length })).data, b), 0);
  } finally {
    await v.close();
  }
});

test.run();
