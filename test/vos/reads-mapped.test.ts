/**
 * Small data-file values read synchronously (`TargetStore.readValueSync` -> the device's
 * `readHashedSync`): copied and hashed in one pass out of the data file's mapping (native
 * `mapReadHashSync`), or with pread when there is no mapping (CAIRN_MAPPED_WRITES=0) or it faults.
 * Specification: the bytes and checksum are the file's (model: the file read back with
 * fs.readFileSync), on both paths; bytes changed in the file behind the open store are what the
 * next read sees (a flipped byte is CHECKSUM_MISMATCH naming the version, every time; put back, the
 * value reads again: nothing verified is kept); a file cut short behind the device faults in the
 * mapping, is read with pread (zeros past the end) and the process lives.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { BLOCK_SIZE, openBlockDevice, loadNative } from '../../src/media/index.js';
import { MAPPED_WRITES_ENV } from '../../src/media/block-device.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos mapped small reads');
const KiB = 1024; const MiB = 1024 * KiB;
const mapped = loadNative().addon?.mapReadHashSync !== undefined;
let dir = '';
test.before(async () => { await initXxhash(); });
test.before.each(() => { dir = tmpDir('reads-mapped'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); delete process.env[MAPPED_WRITES_ENV]; });

/** Run `fn` with the data file's mapping on or off (the switch is read when the device first maps the file). */
function mapping(on: boolean): void {
  if (on) delete process.env[MAPPED_WRITES_ENV]; else process.env[MAPPED_WRITES_ENV] = '0';
}

test('readHashedSync: bytes and checksum are the file\'s, through the mapping and through pread, at any block and length', async () => {
  const size = 128 * BLOCK_SIZE, seed = 11n;
  const file = path.join(dir, 'dev.dat');
  fs.writeFileSync(file, new Rng(1).bytes(size));
  for (const on of [true, false]) {
    mapping(on);
    const dev = await openBlockDevice(file, { size, io: 'pread', direct: false });
    const rng = new Rng(2);
    for (let i = 0; i < 300; i++) {
      if (i % 50 === 0) { // bytes written behind the device (another descriptor): the next reads see them
        const fd = fs.openSync(file, 'r+');
        fs.writeSync(fd, rng.bytes(3 * BLOCK_SIZE), 0, 3 * BLOCK_SIZE, rng.int(125) * BLOCK_SIZE);
        fs.closeSync(fd);
      }
      if (i % 7 === 0) { const at = rng.int(120) * BLOCK_SIZE; dev.writeHashedSync(at, BLOCK_SIZE, rng.bytes(rng.int(BLOCK_SIZE + 1)), 0n); }
      const len = rng.int(5) === 0 ? rng.int(65) : rng.range(1, 16 * KiB);
      const at = rng.int(size / BLOCK_SIZE - Math.ceil(len / BLOCK_SIZE) + 1) * BLOCK_SIZE;
      const file0 = fs.readFileSync(file).subarray(at, at + len);
      const into = new Uint8Array(len).fill(0xee);
      assert.is(dev.readHashedSync(at, into, seed), xxh64(file0, seed), `${on ? 'mapped' : 'pread'} read ${i}: checksum`);
      assert.ok(Buffer.from(into).equals(file0), `${on ? 'mapped' : 'pread'} read ${i}: bytes`);
    }
    await dev.close();
    assert.throws(() => dev.readHashedSync(0, new Uint8Array(8), seed), (e: Error & { code?: string }) => e.code === 'CLOSED', 'closed: no read of the unmapped file');
  }
});

test('readHashedSync of a file cut short behind the device: reads past the cut fault in the mapping, are read with pread (zeros), the process lives', async () => {
  if (!mapped) return; // no addon: every read is a pread (the test above)
  mapping(true);
  const file = path.join(dir, 'cut.dat'), seed = 5n;
  const dev = await openBlockDevice(file, { size: 64 * BLOCK_SIZE, io: 'pread', direct: false });
  const v = new Rng(3).bytes(BLOCK_SIZE);
  dev.writeHashedSync(40 * BLOCK_SIZE, BLOCK_SIZE, v, seed); // (maps the file)
  dev.writeHashedSync(2 * BLOCK_SIZE, BLOCK_SIZE, v, seed);
  fs.truncateSync(file, 16 * BLOCK_SIZE); // pages of the mapping past 16 blocks now raise SIGBUS
  const into = new Uint8Array(BLOCK_SIZE).fill(1);
  // (xxh64 is WebAssembly: it runs after the caught fault, so the thread's memory protection keys were restored)
  assert.is(dev.readHashedSync(40 * BLOCK_SIZE, into, seed), xxh64(new Uint8Array(BLOCK_SIZE), seed));
  assert.ok(into.every((x) => x === 0), 'past the end of the file: zeros');
  assert.is(dev.readHashedSync(2 * BLOCK_SIZE, into, seed), xxh64(v, seed), 'before the cut: the value');
  assert.ok(Buffer.from(into).equals(Buffer.from(v)));
  await dev.close();
});

const OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 32 * MiB, walBytes: 256 * KiB, io: 'pread' };

test('4 KiB values in vos.data read again and again; a byte flipped behind the open store is CHECKSUM_MISMATCH at every read, put back it reads again (mapping on and off)', async () => {
  for (const on of [true, false]) {
    mapping(on);
    const d = path.join(dir, on ? 'on' : 'off');
    const t = await VosTarget.open(d, OPTS);
    try {
      const rng = new Rng(on ? 7 : 8);
      const N = 64;
      const vals = Array.from({ length: N }, () => rng.bytes(4096 + rng.int(3) * 1000));
      for (let i = 0; i < N; i++) await t.updateSingle(10n, 1n, enc(`d${i}`), enc('a'), vals[i]!);
      await t.aggregate(10n); // (and in runs: their versions name data-file extents)
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < N; i++) assert.ok(Buffer.from((await t.fetchSingle(10n, 1n, enc(`d${i}`), enc('a')))!).equals(Buffer.from(vals[i]!)), `round ${round} value ${i}`);
      }
      const data = path.join(d, 'vos.data');
      const victim = 17;
      const at = fs.readFileSync(data).indexOf(Buffer.from(vals[victim]!.subarray(0, 64)));
      assert.ok(at >= 0, 'the value is in vos.data');
      const off = at + 4000;
      const fd = fs.openSync(data, 'r+');
      try {
        const orig = Buffer.alloc(1);
        fs.readSync(fd, orig, 0, 1, off);
        fs.writeSync(fd, Buffer.from([orig[0]! ^ 0x10]), 0, 1, off);
        for (let k = 0; k < 2; k++) {
          const e = await t.fetchSingle(10n, 1n, enc(`d${victim}`), enc('a')).then(() => undefined, (x: unknown) => x as Error & { code?: string; info?: Record<string, unknown> });
          assert.is(e?.code, 'CHECKSUM_MISMATCH', `read ${k} after the flip`);
          assert.is(e?.info?.dkey, Buffer.from(`d${victim}`).toString('hex'));
          assert.is(e?.info?.where, 'data');
          assert.ok(Buffer.from((await t.fetchSingle(10n, 1n, enc(`d${victim + 1}`), enc('a')))!).equals(Buffer.from(vals[victim + 1]!)), 'its neighbour reads');
        }
        fs.writeSync(fd, orig, 0, 1, off);
      } finally { fs.closeSync(fd); }
      assert.ok(Buffer.from((await t.fetchSingle(10n, 1n, enc(`d${victim}`), enc('a')))!).equals(Buffer.from(vals[victim]!)), 'put back: reads again');
      // answers are the caller's: a later read does not change an earlier answer
      const a = (await t.fetchSingle(10n, 1n, enc('d3'), enc('a')))!;
      for (let i = 0; i < N; i++) await t.fetchSingle(10n, 1n, enc(`d${i}`), enc('a'));
      assert.ok(Buffer.from(a).equals(Buffer.from(vals[3]!)), 'an earlier answer unchanged by later reads');
    } finally { await t.close(); }
  }
});

test.run();
