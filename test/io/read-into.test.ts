/**
 * Reads straight into the caller's buffers (issue 14): the block device's scatter read
 * (`readInto`: preadv into the caller's pieces, the bytes past them dropped, zeros past the end
 * of a short file; a bounce buffer when faults are injected) and gather write (`writeFrom`: a
 * value that is not whole blocks goes out with a zero tail, no padded copy), the store's `fetchArrayInto`
 * (checksum verified in place: a flipped bit is `CHECKSUM_MISMATCH`, never wrong bytes), and
 * `array.read(..., { into })` on a pool (the caller's buffer comes back, every byte right, holes
 * zero even in a dirty buffer; a wrong-sized buffer is `INVALID_ARGUMENT`).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync, openSync, readSync, writeSync, closeSync, statSync } from 'node:fs';
import { openBlockDevice } from '../../src/media/block-device.js';
import { FaultInjector } from '../../src/media/fault.js';
import { VosTarget } from '../../src/vos/target.js';
import { Pool } from '../../src/pool/pool.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('reads into caller buffers');
const enc = (s: string) => new TextEncoder().encode(s);
/** The highest epoch a read may ask for. */
const MAX_EPOCH_READ = (1n << 64n) - 1n;

t('block device readInto: scatter into pieces with a dropped tail, zeros past a short file, bounce path under faults', async () => {
  const root = tmpDir('cairn-readinto-dev-');
  try {
    const dev = await openBlockDevice(join(root, 'data'), { size: 1 << 20, direct: false, io: 'pread' });
    const src = new Rng(1).bytes(16384);
    await dev.write(8192, src);
    const pieces = [new Uint8Array(1000), new Uint8Array(5000), new Uint8Array(4000)];
    await dev.readInto(8192, 12288, pieces); // 10000 bytes into pieces, 2288 dropped
    assert.equal([...pieces[0]!], [...src.subarray(0, 1000)]);
    assert.equal([...pieces[1]!], [...src.subarray(1000, 6000)]);
    assert.equal([...pieces[2]!], [...src.subarray(6000, 10000)]);
    // Past the end of the file (sparse but shorter after truncation): zeros.
    await dev.close();
    const fd = openSync(join(root, 'data'), 'r+');
    const { ftruncateSync } = await import('node:fs');
    ftruncateSync(fd, 8192 + 4096);
    closeSync(fd);
    const dev2 = await openBlockDevice(join(root, 'data'), { size: 1 << 20, direct: false, io: 'pread' });
    // openBlockDevice extends the file again (sparse): the tail reads as zeros, never old bytes.
    const dirty = [new Uint8Array(6000).fill(0xee), new Uint8Array(2192).fill(0xee)];
    await dev2.readInto(8192, 8192, dirty);
    assert.equal([...dirty[0]!.subarray(0, 4096)], [...src.subarray(0, 4096)]);
    assert.ok(dirty[0]!.subarray(4096).every((b) => b === 0) && dirty[1]!.every((b) => b === 0), 'zeros past the written end');
    try { await dev2.readInto(0, 4096, [new Uint8Array(5000)]); assert.unreachable('more buffer than length accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
    await dev2.close();
    // With a fault injector the device reads through one buffer and applies the faults there.
    const fault = new FaultInjector({ seed: 3, bitFlipOnRead: 1 });
    const dev3 = await openBlockDevice(join(root, 'data'), { size: 1 << 20, direct: false, io: 'pread', fault });
    const got = [new Uint8Array(2048), new Uint8Array(2048)];
    await dev3.readInto(8192, 4096, got);
    const flippedBytes = [...got[0]!, ...got[1]!].filter((b, i) => b !== src[i]).length;
    assert.is(flippedBytes, 1, 'exactly one flipped byte reaches the caller pieces');
    await dev3.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t('block device writeFrom: the caller buffers then zeros to the block, one gather write (bounce under faults); more than length refused', async () => {
  const root = tmpDir('cairn-writefrom-');
  try {
    for (const fault of [undefined, new FaultInjector({ seed: 5 })]) {
      const dev = await openBlockDevice(join(root, `data-${fault ? 'f' : 'p'}`), { size: 1 << 20, direct: false, io: 'pread', fault });
      await dev.write(0, new Uint8Array(16384).fill(0xff)); // old bytes the zero tail must replace
      const a = new Rng(11).bytes(3000), b = new Rng(12).bytes(5000);
      await dev.writeFrom(0, 12288, [a, b]);
      const back = await dev.read(0, 16384);
      assert.equal([...back.subarray(0, 3000)], [...a]);
      assert.equal([...back.subarray(3000, 8000)], [...b]);
      assert.ok(back.subarray(8000, 12288).every((x) => x === 0), 'zero tail up to length');
      assert.ok(back.subarray(12288).every((x) => x === 0xff), 'nothing written past length');
      try { await dev.writeFrom(0, 4096, [new Uint8Array(5000)]); assert.unreachable('more than length accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
      await dev.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t('store fetchArrayInto: whole extents read in place and verified; partial and overlapped ranges assembled; a flipped bit is CHECKSUM_MISMATCH', async () => {
  await initXxhash();
  const root = tmpDir('cairn-readinto-vos-');
  try {
    const dir = join(root, 'vos');
    let v = await VosTarget.open(dir, { dataBytes: 16 << 20, scmBytes: 16 << 20 });
    const a = new Rng(2).bytes(64 * 1024), b = new Rng(3).bytes(10_000);
    await v.updateArray(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, a);
    await v.updateArray(2n, 7n, enc('d'), enc('a'), { index: 30_000, count: b.length }, b);
    const want = a.slice(); want.set(b, 30_000);
    // Exact newest extent: straight in.
    const exact = [new Uint8Array(4000), new Uint8Array(6000)];
    await v.fetchArrayInto(2n, 7n, enc('d'), enc('a'), { index: 30_000, count: 10_000 }, exact);
    assert.equal([...exact[0]!, ...exact[1]!], [...b]);
    // A range over both versions and a hole: assembled, holes as zeros.
    const wide = [new Uint8Array(50_000).fill(0xaa), new Uint8Array(30_000).fill(0xaa)];
    await v.fetchArrayInto(2n, 7n, enc('d'), enc('a'), { index: 0, count: 80_000 }, wide);
    const expect = new Uint8Array(80_000); expect.set(want);
    assert.ok(Buffer.compare(Buffer.concat([wide[0]!, wide[1]!]), Buffer.from(expect)) === 0, 'assembled range');
    try { await v.fetchArrayInto(2n, 7n, enc('d'), enc('a'), { index: 0, count: 10 }, [new Uint8Array(9)]); assert.unreachable('short buffers accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
    await v.close();
    // Flip one bit of the data file where extent `a` lives: the in-place check catches it.
    const f = join(dir, 'vos.data');
    const fd = openSync(f, 'r+');
    const blk = Buffer.alloc(4096);
    let flipped = false;
    for (let off = 0; off + 4096 <= statSync(f).size && !flipped; off += 4096) {
      readSync(fd, blk, 0, 4096, off);
      if (blk.subarray(0, 64).equals(Buffer.from(a.subarray(0, 64)))) { blk[100]! ^= 1; writeSync(fd, blk, 0, 4096, off); flipped = true; }
    }
    closeSync(fd);
    assert.ok(flipped, 'found the extent in the data file');
    v = await VosTarget.open(dir, { dataBytes: 16 << 20, scmBytes: 16 << 20 });
    try {
      await v.fetchArrayInto(1n, 7n, enc('d'), enc('a'), { index: 0, count: a.length }, [new Uint8Array(a.length)]);
      assert.unreachable('a flipped bit was returned');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'CHECKSUM_MISMATCH');
    }
    await v.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t('store fetchArrayInto over memtables and runs: the newest visible extent at each epoch, punches and discards honoured, record size from a run (as fetchArray)', async () => {
  await initXxhash();
  const root = tmpDir('cairn-readinto-runs-');
  try {
    const v = await VosTarget.open(join(root, 'vos'), { dataBytes: 16 << 20, scmBytes: 16 << 20 });
    const d = enc('d'), a = enc('a'), r4 = enc('r4');
    const ver = [1, 2, 3].map((i) => new Rng(40 + i).bytes(5000));
    const runsBefore = v.target.runs.length;
    await v.updateArray(1n, 9n, d, a, { index: 0, count: 5000 }, ver[0]!);
    await v.target.flushAll();
    await v.updateArray(2n, 9n, d, a, { index: 0, count: 5000 }, ver[1]!);
    await v.target.flushAll();
    await v.updateArray(3n, 9n, d, a, { index: 0, count: 5000 }, ver[2]!); // stays in the memtable
    assert.ok(v.target.runs.length > runsBefore, 'older versions sit in runs');
    const both = async (epoch: bigint, recx = { index: 0, count: 5000 }, akey = a, rs = 1): Promise<Buffer> => {
      const bytes = recx.count * rs, cut = Math.floor(bytes / 3); // two dirty pieces
      const into = [new Uint8Array(cut).fill(0xcc), new Uint8Array(bytes - cut).fill(0xcc)];
      await v.fetchArrayInto(epoch, 9n, d, akey, recx, into);
      const got = Buffer.concat(into);
      const { data } = await v.fetchArray(epoch, 9n, d, akey, recx, { holesAsZero: true });
      assert.ok(Buffer.compare(got, Buffer.from(data)) === 0, `epoch ${epoch}: fetchArrayInto agrees with fetchArray`);
      return got;
    };
    for (const e of [1, 2, 3]) assert.ok(Buffer.compare(await both(BigInt(e)), Buffer.from(ver[e - 1]!)) === 0, `epoch ${e}: version ${e}`);
    assert.ok((await both(3n, { index: 1000, count: 2000 })).equals(Buffer.from(ver[2]!.subarray(1000, 3000))), 'a part of the newest extent (assembled)');
    await v.punchAkey(4n, 9n, d, a);
    await v.target.flushAll(); // the punch in a run
    assert.ok((await both(4n)).every((x) => x === 0), 'punched: zeros, never old bytes');
    assert.ok(Buffer.compare(await both(3n), Buffer.from(ver[2]!)) === 0, 'below the punch: still version 3');
    await v.discard(2n); // epochs 3 and 4 gone
    assert.ok(Buffer.compare(await both(MAX_EPOCH_READ), Buffer.from(ver[1]!)) === 0, 'after the discard: version 2 again');
    // Record size 4, written then flushed: the size comes from the run.
    const recs = new Rng(50).bytes(400);
    await v.updateArray(5n, 9n, d, r4, { index: 10, count: 100 }, recs, { recordSize: 4 });
    await v.target.flushAll();
    assert.ok(Buffer.compare(await both(5n, { index: 10, count: 100 }, r4, 4), Buffer.from(recs)) === 0, 'records of 4 bytes');
    try { await v.fetchArrayInto(5n, 9n, d, r4, { index: 10, count: 100 }, [new Uint8Array(100)]); assert.unreachable('buffers of count bytes for 4-byte records accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
    await v.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t('array.read with { into }: the caller buffer comes back with every byte right (holes zero in a dirty buffer); wrong sizes refused', async () => {
  const root = tmpDir('cairn-readinto-pool-');
  const pool = await Pool.create(join(root, 'pool'), { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 });
  try {
    for (const oclass of ['EC_4P2G1', 'RP_2G1', 'S1']) {
      const c = await pool.createContainer(`c-${oclass}`, { oclass, redundancyFactor: 0 });
      const arr = c.array('x', { chunkSize: 256 * 1024 });
      const data = new Rng(9).bytes(700_000);
      await arr.write(100_000, data); // [0, 100000) is a hole
      const into = new Uint8Array(900_000).fill(0x5c);
      const got = await arr.read(0, 900_000, { into });
      assert.ok(got === into, `${oclass}: the caller's buffer is returned`);
      assert.ok(into.subarray(0, 100_000).every((x) => x === 0), `${oclass}: hole reads as zeros`);
      assert.ok(Buffer.compare(Buffer.from(into.subarray(100_000, 800_000)), Buffer.from(data)) === 0, `${oclass}: data`);
      assert.ok(into.subarray(800_000).every((x) => x === 0), `${oclass}: past the end zeros`);
      const plain = await arr.read(123_457, 300_000);
      assert.ok(Buffer.compare(Buffer.from(plain), Buffer.from(into.subarray(123_457, 423_457))) === 0, `${oclass}: unaligned read without into`);
      for (const bad of [new Uint8Array(10), 'nope']) {
        try { await arr.read(0, 900_000, { into: bad as Uint8Array }); assert.unreachable('bad into accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
      }
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
