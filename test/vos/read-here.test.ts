/**
 * Whole-extent array reads on the store's thread (`TargetOptions.readHereBytes`, what engines set):
 * a value of at most that many bytes read into one buffer (`fetchArrayInto`) is copied and hashed by
 * the device's `readHashedSync`, larger ones, and reads into several buffers, by the thread pool
 * (`readIntoHashed`). Specification: both paths answer the bytes written (model: the written
 * values), before and after a flush to runs; a byte flipped in vos.data behind the open store is
 * CHECKSUM_MISMATCH on both paths, every time, and the value reads again once put back; which path
 * served a read is checked by counting the device's calls (a store that ignored the option, or
 * read everything here, fails it); a bad option is INVALID_ARGUMENT.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos reads here (readHereBytes)');
const KiB = 1024; const MiB = 1024 * KiB;
const HERE = 256 * KiB;
const OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread', readHereBytes: HERE };
let dir = '';
test.before(async () => { await initXxhash(); });
test.before.each(() => { dir = tmpDir('read-here'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

/** Count the device's synchronous and thread-pool hashed reads of `t`. */
function countReads(t: VosTarget): { here: number; pool: number } {
  const dev = t.target.dev as unknown as Record<string, (...a: unknown[]) => unknown>;
  const n = { here: 0, pool: 0 };
  const sync = dev.readHashedSync!.bind(dev), pool = dev.readIntoHashed!.bind(dev);
  dev.readHashedSync = (...a: unknown[]) => { n.here++; return sync(...a); };
  dev.readIntoHashed = (...a: unknown[]) => { n.pool++; return pool(...a); };
  return n;
}

test('values up to readHereBytes are read here, larger ones and multi-buffer reads on the pool: same bytes as written, before and after a flush', async () => {
  const t = await VosTarget.open(dir, OPTS);
  try {
    const n = countReads(t);
    const rng = new Rng(21);
    const sizes = [8 * KiB + 1, 64 * KiB, HERE - 1, HERE, HERE + 1, 512 * KiB];
    const vals = sizes.map((s) => rng.bytes(s));
    for (let i = 0; i < sizes.length; i++) await t.updateArray(5n, 1n, enc(`d${i}`), enc('a'), { index: 0, count: sizes[i]! }, vals[i]!);
    for (const phase of ['memtable', 'runs']) {
      if (phase === 'runs') await t.aggregate(5n);
      for (let i = 0; i < sizes.length; i++) {
        const before = { ...n };
        const into = new Uint8Array(sizes[i]!).fill(0xaa);
        await t.fetchArrayInto(6n, 1n, enc(`d${i}`), enc('a'), { index: 0, count: sizes[i]! }, [into]);
        assert.ok(Buffer.from(into).equals(Buffer.from(vals[i]!)), `${phase} ${sizes[i]}: bytes`);
        const here = sizes[i]! <= HERE;
        assert.is(n.here - before.here, here ? 1 : 0, `${phase} ${sizes[i]}: read here`);
        assert.is(n.pool - before.pool, here ? 0 : 1, `${phase} ${sizes[i]}: read on the pool`);
        // two buffers: the pool path, same bytes
        const half = sizes[i]! >> 1, a = new Uint8Array(half), b = new Uint8Array(sizes[i]! - half);
        const b0 = { ...n };
        await t.fetchArrayInto(6n, 1n, enc(`d${i}`), enc('a'), { index: 0, count: sizes[i]! }, [a, b]);
        assert.ok(Buffer.concat([a, b]).equals(Buffer.from(vals[i]!)), `${phase} ${sizes[i]}: two buffers`);
        assert.is(n.here - b0.here, 0, `${phase} ${sizes[i]}: two buffers never here`);
      }
    }
  } finally { await t.close(); }
});

test('a byte flipped in vos.data behind the open store: CHECKSUM_MISMATCH read here and on the pool, every time; put back, it reads again', async () => {
  const t = await VosTarget.open(dir, OPTS);
  try {
    const rng = new Rng(22);
    const small = rng.bytes(HERE), large = rng.bytes(HERE * 2);
    await t.updateArray(5n, 1n, enc('s'), enc('a'), { index: 0, count: small.length }, small);
    await t.updateArray(5n, 1n, enc('l'), enc('a'), { index: 0, count: large.length }, large);
    await t.aggregate(5n);
    const data = fs.readFileSync(path.join(dir, 'vos.data'));
    for (const [name, v] of [['s', small], ['l', large]] as const) {
      const at = data.indexOf(Buffer.from(v.subarray(0, 64)));
      assert.ok(at >= 0, `${name} is in vos.data`);
      const off = at + 1000;
      const fd = fs.openSync(path.join(dir, 'vos.data'), 'r+');
      const orig = Buffer.alloc(1);
      try {
        fs.readSync(fd, orig, 0, 1, off);
        fs.writeSync(fd, Buffer.from([orig[0]! ^ 0x04]), 0, 1, off);
        for (let k = 0; k < 2; k++) {
          const e = await t.fetchArrayInto(6n, 1n, enc(name), enc('a'), { index: 0, count: v.length }, [new Uint8Array(v.length)]).then(() => undefined, (x: unknown) => x as Error & { code?: string });
          assert.is(e?.code, 'CHECKSUM_MISMATCH', `${name} read ${k} after the flip`);
        }
        fs.writeSync(fd, orig, 0, 1, off);
      } finally { fs.closeSync(fd); }
      const into = new Uint8Array(v.length);
      await t.fetchArrayInto(6n, 1n, enc(name), enc('a'), { index: 0, count: v.length }, [into]);
      assert.ok(Buffer.from(into).equals(Buffer.from(v)), `${name} put back: reads again`);
    }
  } finally { await t.close(); }
});

test('readHereBytes must be an integer >= 0', async () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    const e = await VosTarget.open(path.join(dir, `bad${String(bad)}`), { ...OPTS, readHereBytes: bad }).then(async (t) => { await t.close(); return undefined; }, (x: unknown) => x as Error & { code?: string });
    assert.is(e?.code, 'INVALID_ARGUMENT', `readHereBytes ${bad}`);
  }
});

test.run();
