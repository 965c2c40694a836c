/**
 * Deferred parity fills (media/fills.ts, native gfni.c gf_parity_fill, hashio.c hashedBatch writes
 * carrying a fill). Specification: a fill computes exactly the parity the reference codec (ec/
 * `scalar` implementation, the oracle) encodes for each stripe of the data, on both of the addon's
 * kernels (GFNI with AVX-512, and the scalar reference it forces with fillKernel('scalar')), for
 * any k, cell length (multiples of 64 or not) and stripe count; a hashedBatch write that carries a
 * fill writes and hashes those bytes (the answer is the XXH64 of the parity, checked against
 * xxhash-wasm), the p fills of one stripe set in one batch paired (one pass for two rows) or not;
 * a registered fill is computed by any device write that does not carry it to the
 * pool (BlockDevice.writeFrom), by `materializeFills`, and by `dropFill(view, true)`; bad shapes are
 * refused (RangeError from deferFill, TypeError from the addon), never written.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative, openBlockDevice } from '../../src/media/index.js';
import { deferFill, dropFill, fillOf, fillStats, materializeFills } from '../../src/media/fills.js';
import { createCodec } from '../../ec/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-parity-fills-'));
const t = suite('media: deferred parity fills');
t.after(() => { loadNative().addon?.fillKernel?.('auto'); fs.rmSync(tmp, { recursive: true, force: true }); });

/** [k, p, cell, stripes] */
const SHAPES: Array<[number, number, number, number]> = [[4, 2, 65536, 4], [4, 2, 4096, 1], [2, 1, 100, 3], [1, 1, 64, 2], [8, 3, 4096 + 7, 2], [6, 3, 1000, 5]];

/** The reference codec's parity of every stripe of `data`: p buffers of stripes * cell bytes. */
function referenceParity(data: Uint8Array, k: number, p: number, cell: number): { parity: Uint8Array[]; matrix: Uint8Array } {
  const codec = createCodec({ dataShards: k, parityShards: p, impl: 'scalar' });
  const stripes = data.length / (k * cell);
  const parity = Array.from({ length: p }, () => new Uint8Array(stripes * cell));
  for (let s = 0; s < stripes; s++) {
    const shards = [
      ...Array.from({ length: k }, (_, j) => data.slice((s * k + j) * cell, (s * k + j + 1) * cell)),
      ...Array.from({ length: p }, () => new Uint8Array(cell)),
    ];
    codec.encode(shards);
    for (let r = 0; r < p; r++) parity[r]!.set(shards[k + r]!, s * cell);
  }
  const matrix = (codec as unknown as { encodingMatrix: Uint8Array }).encodingMatrix.slice();
  codec.dispose?.();
  return { parity, matrix };
}

/** The fill kernels here: GFNI (two fills of the same data in one job paired: 'auto'; unpaired: 'single') and the scalar reference. */
function kernels(): Array<'auto' | 'single' | 'scalar'> {
  const addon = loadNative().addon;
  return addon?.fillKernel?.('auto') === 'gfni' ? ['auto', 'single', 'scalar'] : ['scalar'];
}

t('parityFill gives the reference codec\'s parity on each kernel, for every shape', () => {
  const addon = loadNative().addon;
  if (!addon?.parityFill || !addon.fillKernel) return; // (an addon without fills: nothing is deferred)
  const rng = new Rng(0xf111);
  for (const kern of kernels()) {
    assert.is(addon.fillKernel(kern), kern === 'scalar' ? 'scalar' : 'gfni');
    for (const [k, p, cell, stripes] of SHAPES) {
      const data = rng.bytes(stripes * k * cell);
      const { parity, matrix } = referenceParity(data, k, p, cell);
      for (let r = 0; r < p; r++) {
        const out = new Uint8Array(stripes * cell).fill(0xee);
        addon.parityFill(matrix.subarray((k + r) * k, (k + r + 1) * k), cell, data, out);
        assert.ok(Buffer.from(out).equals(parity[r]!), `${kern} k=${k} p=${p} cell=${cell} stripes=${stripes}: parity row ${r}`);
      }
    }
  }
  addon.fillKernel('auto');
});

t('a hashedBatch write carrying a fill writes and hashes the parity, beside plain requests, on each kernel', async () => {
  const addon = loadNative().addon;
  if (!addon?.parityFill || !addon.fillKernel || !addon.hashedBatch) return;
  await initXxhash();
  const rng = new Rng(0xba7c);
  const file = path.join(tmp, 'batch.bin');
  const fd = fs.openSync(file, 'w+');
  try {
    for (const kern of kernels()) {
      addon.fillKernel(kern);
      for (const [k, p, cell, stripes] of SHAPES) {
        const data = rng.bytes(stripes * k * cell);
        const { parity, matrix } = referenceParity(data, k, p, cell);
        const plain = rng.bytes(5000);
        const outs = parity.map((x) => new Uint8Array(x.length).fill(0x11));
        const span = stripes * cell;
        const reqs = [
          [1, fd, [plain], 0, plain.length, 7n] as const,
          ...outs.map((o, r) => [1, fd, [o], 8192 + r * span, o.length, BigInt(r + 1), undefined, [matrix.slice((k + r) * k, (k + r + 1) * k), cell, data]] as const),
        ];
        const got = await addon.hashedBatch(reqs as unknown as Parameters<NonNullable<typeof addon.hashedBatch>>[0]);
        assert.is(got[0], xxh64(plain, 7n));
        for (let r = 0; r < p; r++) {
          assert.is(got[r + 1], xxh64(parity[r]!, BigInt(r + 1)), `${kern} k=${k} cell=${cell}: hash of parity row ${r}`);
          assert.ok(Buffer.from(outs[r]!).equals(parity[r]!), `${kern} k=${k} cell=${cell}: the fill landed in its buffer`);
          const onDisk = Buffer.alloc(span);
          fs.readSync(fd, onDisk, 0, span, 8192 + r * span);
          assert.ok(onDisk.equals(parity[r]!), `${kern} k=${k} cell=${cell}: parity row ${r} on disk`);
        }
      }
    }
  } finally {
    fs.closeSync(fd);
    addon.fillKernel('auto');
  }
});

t('a registered fill is computed by a device write that does not carry it, by materializeFills and by dropFill(view, true)', async () => {
  const addon = loadNative().addon;
  if (!addon?.parityFill) return;
  const rng = new Rng(0xde7);
  const [k, p, cell, stripes] = [4, 2, 4096, 2];
  const data = rng.bytes(stripes * k * cell);
  const { parity, matrix } = referenceParity(data, k, p, cell);
  const row = (r: number) => matrix.subarray((k + r) * k, (k + r + 1) * k);
  const dev = await openBlockDevice(path.join(tmp, 'dev.bin'), { size: 1 << 20, direct: false });
  try {
    const a = new Uint8Array(stripes * cell);
    deferFill(a, row(0), cell, data);
    assert.ok(fillOf(a) !== undefined, 'registered');
    const before = fillStats();
    await dev.writeFrom(0, a.length, [a]); // not a hashed batch write: computed first
    assert.ok(Buffer.from(a).equals(parity[0]!), 'computed by writeFrom');
    assert.ok(Buffer.from(await dev.read(0, a.length)).equals(parity[0]!), 'written as parity');
    assert.is(fillStats().computedHere, before.computedHere + 1);
    dropFill(a);
    assert.is(fillOf(a), undefined, 'dropped');
    const b = new Uint8Array(stripes * cell), c = new Uint8Array(stripes * cell);
    deferFill(b, row(1), cell, data);
    deferFill(c, row(1), cell, data);
    materializeFills([new Uint8Array(3), b]);
    assert.ok(Buffer.from(b).equals(parity[1]!), 'materializeFills');
    dropFill(c, true);
    assert.ok(Buffer.from(c).equals(parity[1]!), 'dropFill(view, true)');
    dropFill(b);
    dropFill(c); // (twice: nothing)
  } finally {
    await dev.close();
  }
});

t('bad shapes are refused and nothing is written', async () => {
  const addon = loadNative().addon;
  const coeffs = new Uint8Array([1, 2, 3, 4]);
  assert.throws(() => deferFill(new Uint8Array(100), coeffs, 64, new Uint8Array(4 * 64)), RangeError, 'out not data.length / k');
  assert.throws(() => deferFill(new Uint8Array(64), coeffs, 64, new Uint8Array(4 * 64 + 1)), RangeError, 'data not whole stripes');
  assert.throws(() => deferFill(new Uint8Array(64), new Uint8Array(0), 64, new Uint8Array(64)), RangeError, 'no coefficients');
  if (!addon?.parityFill || !addon.hashedBatch) return;
  const out = new Uint8Array(64).fill(9);
  assert.throws(() => addon.parityFill!(coeffs, 64, new Uint8Array(4 * 64), new Uint8Array(65)), TypeError);
  assert.throws(() => addon.parityFill!(new Uint8Array(65), 64, new Uint8Array(65 * 64), out), TypeError, 'k above 64');
  const fd = fs.openSync(path.join(tmp, 'bad.bin'), 'w+');
  try {
    const bad = [[1, fd, [out], 0, 64, 0n, undefined, [coeffs, 64, new Uint8Array(4 * 64 + 4)]]];
    assert.throws(() => addon.hashedBatch!(bad as unknown as Parameters<NonNullable<typeof addon.hashedBatch>>[0]), TypeError);
    assert.is(fs.fstatSync(fd).size, 0, 'nothing written');
    assert.ok(out.every((x) => x === 9), 'nothing filled');
  } finally {
    fs.closeSync(fd);
  }
});

t.run();
