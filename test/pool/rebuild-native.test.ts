/**
 * The rebuild addon's fused step (native/rebuild.c `rebuildStep`), on real files: k source files
 * read into their slots of whole stripes, every source's XXH64 (against core/xxhash), every output
 * cell the GF(2^8) sum of its row times the stripe's source cells (against ec/gf's gfMul), the
 * outputs written at their positions with their zero tails and hashed; a source shorter than the
 * step reads zeros past its end; a source that fails (a descriptor nothing has open) answers its negative
 * errno, and then nothing is decoded or written (the writes answer -ECANCELED, the file keeps its
 * bytes); bad shapes (reads not landing in their slots, wrong row count) are TypeErrors. Each case
 * runs in the four call forms: records, numbers (rebuildStepFlat), a batch of steps run by one
 * job (rebuildStepsFlat, the step between two others) and staged (rebuildStepsStaged: no caller
 * buffers, the job's own memory; its outputs are what it wrote to the file). Writes go O_DIRECT
 * where they align (`directWrites`): the same bytes land with it on and off, at an unaligned
 * position (written buffered), and over a range whose old bytes were cached (read back new); a
 * source a direct write left uncached reads back its bytes (O_DIRECT after RWF_NOWAIT). A batch's
 * direct writes submitted without waiting (`asyncWrites`: gathered 1 or 3 at a time, or synchronous)
 * land the same bytes, past the stage's 8 MiB of kept outputs, with a failing step and an unaligned
 * write among them. Skipped
 * where the addon is not built or CAIRN_NO_NATIVE=1 (migrate.ts then never uses it).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { existsSync, openSync, closeSync, writeFileSync, readFileSync, readSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../core/rng.js';
import { xxh64, initXxhash } from '../../core/xxhash.js';
import { gfMul } from '../../ec/gf.js';
import { tmpDir } from '../helpers/tmp.js';

interface Req { fd: number; position: number; hashLen: number; seed: bigint; views: Uint8Array[] }
type Step = (k: number, cell: number, slots: Uint8Array, rows: Uint8Array, reads: Req[], writes: Req[]) => Promise<Array<bigint | number>>;
type StepFlat = (k: number, cell: number, slots: Uint8Array, rows: Uint8Array, outs: Uint8Array[], nums: Float64Array, seeds: BigUint64Array) => Promise<Array<bigint | number>>;
type StepsFlat = (args: unknown[]) => Promise<Array<Array<bigint | number>>>;
type StepsStaged = StepsFlat;

const t = suite('rebuild native step');
const path = fileURLToPath(new URL('../../native/build/Release/cairn_rebuild.node', import.meta.url));
const addon = process.env.CAIRN_NO_NATIVE !== '1' && existsSync(path) ? (createRequire(import.meta.url)(path) as { rebuildStep: Step; rebuildStepFlat: StepFlat; rebuildStepsFlat: StepsFlat; rebuildStepsStaged: StepsStaged; directWrites: (on?: boolean) => boolean; asyncWrites: (kick?: number) => number }) : undefined;

/** The two call forms (migrate.ts uses the flat one): the same step given as request records or as numbers (reads' views implied by the slots; a write is its first view then zeros to its total). */
const FORMS = ['records', 'flat', 'batch', 'staged'] as const;
let scratchCount = 0;
function step(form: (typeof FORMS)[number], k: number, cell: number, slots: Uint8Array, rows: Uint8Array, reads: Req[], writes: Req[]): Promise<Array<bigint | number>> {
  if (form === 'records') return addon!.rebuildStep(k, cell, slots, rows, reads, writes);
  const nums = new Float64Array(3 * k + 4 * writes.length), seeds = new BigUint64Array(k + writes.length);
  reads.forEach((r, j) => { nums.set([r.fd, r.position, r.hashLen], 3 * j); seeds[j] = r.seed; });
  writes.forEach((w, i) => { nums.set([w.fd, w.position, w.hashLen, w.views.reduce((n, v) => n + v.length, 0)], 3 * k + 4 * i); seeds[k + i] = w.seed; });
  const outs = writes.map((w) => w.views[0]!);
  if (form === 'flat') return addon!.rebuildStepFlat(k, cell, slots, rows, outs, nums, seeds);
  if (form === 'staged') {
    // (the step between two others, as 'batch'; its outputs are read back from where each write that answered a hash wrote them)
    const len = slots.length / k;
    const other = (): unknown[] => {
      const n2 = Float64Array.from(nums);
      mkdirSync(root, { recursive: true });
      const scratch = openSync(join(root, `scratch-${scratchCount++}`), 'w+');
      for (let i = 0; i < writes.length; i++) n2[3 * k + 4 * i] = scratch;
      return [k, cell, len, rows, n2, seeds];
    };
    return addon!.rebuildStepsStaged([...other(), k, cell, len, rows, nums, seeds, ...other()]).then((all) => {
      assert.is(all.length, 3, 'one answer list per step');
      assert.equal(all[0], all[2], 'the steps around it answer alike');
      const got = all[1]!;
      writes.forEach((w, i) => { if (typeof got[k + i] === 'bigint') readSync(w.fd, outs[i]!, 0, len, w.position); });
      return got;
    });
  }
  // batch: the step between two others of its own (reading the same sources into their own slots, writing to scratch files)
  const other = (): unknown[] => {
    const sl = new Uint8Array(slots.length), o = writes.map((w) => new Uint8Array(w.views[0]!.length));
    const n2 = Float64Array.from(nums);
    mkdirSync(root, { recursive: true });
    const scratch = openSync(join(root, `scratch-${scratchCount++}`), 'w+'); // (closed with the process)
    for (let i = 0; i < writes.length; i++) n2[3 * k + 4 * i] = scratch;
    return [k, cell, sl, rows, o, n2, seeds];
  };
  return addon!.rebuildStepsFlat([...other(), k, cell, slots, rows, outs, nums, seeds, ...other()]).then((all) => {
    assert.is(all.length, 3, 'one answer list per step');
    assert.equal(all[0], all[2], 'the steps around it answer alike');
    return all[1]!;
  });
}
const root = tmpDir('cairn-rebuild-native-');
const SEED = 0x1234_5678_9abc_def0n;

t.before(async () => { await initXxhash(); });

/** k source files of `len` bytes (the last `short` bytes shorter when asked) at byte 4096 of each, and one output file. */
function setup(name: string, k: number, len: number, short = 0): { srcs: Uint8Array[]; fds: number[]; out: number; outPath: string; dir: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(k * 1000 + len);
  const srcs: Uint8Array[] = [], fds: number[] = [];
  for (let j = 0; j < k; j++) {
    const b = rng.bytes(len);
    const file = new Uint8Array(4096 + len - (j === 0 ? short : 0));
    file.set(b.subarray(0, len - (j === 0 ? short : 0)), 4096);
    if (j === 0 && short) b.fill(0, len - short);
    writeFileSync(join(dir, `s${j}`), file);
    srcs.push(b);
    fds.push(openSync(join(dir, `s${j}`), 'r'));
  }
  const outPath = join(dir, 'out');
  writeFileSync(outPath, new Uint8Array(3 * 65536).fill(0xee));
  return { srcs, fds, out: openSync(outPath, 'r+'), outPath, dir };
}

/** Read j's views: cell j of every stripe of `slots`. */
function slotViews(slots: Uint8Array, k: number, cell: number, j: number): Uint8Array[] {
  const stripes = slots.length / (k * cell);
  const v: Uint8Array[] = [];
  for (let s = 0; s < stripes; s++) v.push(slots.subarray((s * k + j) * cell, (s * k + j + 1) * cell));
  return v;
}

/** The reference output of row `row` over sources `srcs` (stripe by stripe: cell s of each source). */
function expected(srcs: Uint8Array[], row: Uint8Array): Uint8Array {
  const out = new Uint8Array(srcs[0]!.length);
  for (let b = 0; b < out.length; b++) {
    let acc = 0;
    for (let j = 0; j < srcs.length; j++) acc ^= gfMul(row[j]!, srcs[j]![b]!);
    out[b] = acc;
  }
  return out;
}

for (const form of FORMS) t(`${form}: ` + 'sources read, hashed and decoded into two outputs, written with their zero tails at their positions', async () => {
  if (!addon) return;
  const k = 4, cell = 4096, stripes = 3, len = cell * stripes;
  const { srcs, fds, out, outPath } = setup(`two-${form}`, k, len);
  try {
    const slots = new Uint8Array(k * len);
    const rows = new Uint8Array([1, 2, 3, 4, 0x8e, 0x11, 0x5a, 7]);
    const outs = [new Uint8Array(len), new Uint8Array(len)];
    const reads = fds.map((fd, j) => ({ fd, position: 4096, hashLen: len, seed: SEED, views: slotViews(slots, k, cell, j) }));
    const writes = outs.map((o, i) => ({ fd: out, position: i * 65536, hashLen: len, seed: SEED, views: [o, new Uint8Array(8192)] }));
    const got = await step(form, k, cell, slots, rows, reads, writes);
    assert.is(got.length, k + 2);
    for (let j = 0; j < k; j++) assert.is(got[j], xxh64(srcs[j]!, SEED), `source ${j}'s hash`);
    const file = readFileSync(outPath);
    for (let i = 0; i < 2; i++) {
      const want = expected(srcs, rows.subarray(i * k, (i + 1) * k));
      assert.ok(Buffer.compare(Buffer.from(outs[i]!), Buffer.from(want)) === 0, `output ${i} decoded`);
      assert.is(got[k + i], xxh64(want, SEED), `output ${i}'s hash`);
      assert.ok(Buffer.compare(file.subarray(i * 65536, i * 65536 + len), Buffer.from(want)) === 0, `output ${i} written`);
      assert.ok(file.subarray(i * 65536 + len, i * 65536 + len + 8192).every((x) => x === 0), `output ${i}'s zero tail written`);
    }
    assert.ok(file.subarray(2 * 65536).every((x) => x === 0xee), 'nothing else written');
  } finally {
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

for (const form of FORMS) t(`${form}: ` + 'a source shorter than the step reads zeros past its end (hash and decode of the zeros)', async () => {
  if (!addon) return;
  const k = 3, cell = 4096, len = 2 * cell;
  const { srcs, fds, out } = setup(`short-${form}`, k, len, 5000);
  try {
    const slots = new Uint8Array(k * len).fill(0x77);
    const rows = new Uint8Array([9, 8, 7]);
    const o = new Uint8Array(len);
    const reads = fds.map((fd, j) => ({ fd, position: 4096, hashLen: len, seed: SEED, views: slotViews(slots, k, cell, j) }));
    const got = await step(form, k, cell, slots, rows, reads, [{ fd: out, position: 0, hashLen: len, seed: SEED, views: [o] }]);
    assert.is(got[0], xxh64(srcs[0]!, SEED), 'the short source hashes as its bytes then zeros');
    assert.ok(Buffer.compare(Buffer.from(o), Buffer.from(expected(srcs, rows))) === 0, 'decoded with the zeros');
  } finally {
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

for (const form of FORMS) t(`${form}: ` + 'a failing source: its errno, nothing decoded or written (writes -ECANCELED)', async () => {
  if (!addon) return;
  const k = 2, cell = 4096, len = cell;
  const { fds, out, outPath } = setup(`fail-${form}`, k, len);
  const open1 = fds[1]!;
  fds[1] = 999_999; // (a descriptor number nothing has open: EBADF)
  try {
    const slots = new Uint8Array(k * len);
    const o = new Uint8Array(len).fill(0x55);
    const reads = fds.map((fd, j) => ({ fd, position: 4096, hashLen: len, seed: SEED, views: slotViews(slots, k, cell, j) }));
    const got = await step(form, k, cell, slots, new Uint8Array([1, 1]), reads, [{ fd: out, position: 0, hashLen: len, seed: SEED, views: [o] }]);
    assert.is(typeof got[0], 'bigint', 'the good source answers its hash');
    assert.is(got[1], -9, 'the descriptor nothing has open answers -EBADF');
    assert.is(got[2], -125, 'the write answers -ECANCELED');
    assert.ok(o.every((x) => x === 0x55), 'nothing decoded');
    assert.ok(readFileSync(outPath).every((x) => x === 0xee), 'nothing written');
  } finally {
    closeSync(fds[0]!);
    closeSync(open1);
    closeSync(out);
  }
});

t('staged writes: the same bytes with direct writes on and off, at an unaligned position, and over cached old bytes', async () => {
  if (!addon) return;
  assert.is(addon.directWrites(), true, 'on by default');
  const k = 2, cell = 4096, len = 4 * cell;
  const { srcs, fds, out, outPath } = setup('direct', k, len);
  try {
    const rows = new Uint8Array([3, 0x1d]);
    const want = Buffer.from(expected(srcs, rows));
    readFileSync(outPath); // (the old bytes, 0xee, now cached: a direct write must not leave them visible)
    const cases: Array<[on: boolean, position: number, total: number]> = [[true, 0, len + 8192], [false, 65536, len], [true, 2 * 65536 + 512, len], [true, 65536 + len, len]];
    for (const [on, position, total] of cases) {
      addon.directWrites(on);
      const nums = new Float64Array([fds[0]!, 4096, len, fds[1]!, 4096, len, out, position, len, total]);
      const got = (await addon.rebuildStepsStaged([k, cell, len, rows, nums, new BigUint64Array([SEED, SEED, SEED])]))[0]!;
      assert.is(got[k], xxh64(want, SEED), `output hash (direct ${on}, at ${position})`);
      const file = readFileSync(outPath);
      assert.ok(Buffer.compare(file.subarray(position, position + len), want) === 0, `output read back (direct ${on}, at ${position})`);
      assert.ok(file.subarray(position + len, position + total).every((x) => x === 0), `zero tail (direct ${on}, at ${position})`);
    }
    const file = readFileSync(outPath);
    assert.ok(file.subarray(len + 8192, 65536).every((x) => x === 0xee), 'nothing else written');
  } finally {
    addon.directWrites(true);
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

t('staged reads: a source a direct write left out of the page cache reads its bytes (direct), with direct reads off too', async () => {
  if (!addon) return;
  const k = 2, cell = 4096, len = 4 * cell;
  const { srcs, fds, out } = setup('direct-read', k, len);
  try {
    const rows = new Uint8Array([7, 0x2c]);
    const want = expected(srcs, rows);
    const seeds = new BigUint64Array([SEED, SEED, SEED]);
    // (written O_DIRECT at 64 KiB of `out`: not in the page cache after it)
    const w = (await addon.rebuildStepsStaged([k, cell, len, rows, new Float64Array([fds[0]!, 4096, len, fds[1]!, 4096, len, out, 65536, len, len]), seeds]))[0]!;
    assert.is(w[k], xxh64(want, SEED), 'written');
    for (const on of [true, false]) {
      addon.directWrites(on);
      // source 0: the uncached output; source 1 as before; row [1, 0]: the output is source 0's bytes
      const nums = new Float64Array([out, 65536, len, fds[1]!, 4096, len, out, 2 * 65536, len, len]);
      const got = (await addon.rebuildStepsStaged([k, cell, len, new Uint8Array([1, 0]), nums, seeds]))[0]!;
      assert.is(got[0], xxh64(want, SEED), `the uncached source's hash (direct ${on})`);
      assert.is(got[k], xxh64(want, SEED), `decoded from its bytes (direct ${on})`);
    }
  } finally {
    addon.directWrites(true);
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

t('asynchronous direct writes: a batch of staged steps past 8 MiB of outputs, a failing step and an unaligned write among them, lands the same bytes gathered 1 or 3 at a time or written synchronously', async () => {
  if (!addon) return;
  const k = 2, cell = 4096, len = 512 * 1024, steps = 18;
  const { srcs, fds, out, outPath } = setup('async', k, len);
  const rowsOf = (i: number): Uint8Array => new Uint8Array([1 + (i % 3), 0x1d + (i % 3)]);
  const want = [0, 1, 2].map((r) => Buffer.from(expected(srcs, rowsOf(r))));
  const badStep = 7, unaligned = 11, size = (steps + 1) * (len + 4096);
  const placeOf = (i: number): number => i * (len + 4096) + (i === unaligned ? 512 : 0);
  const kick0 = addon.asyncWrites();
  try {
    for (const kick of [1, 3, 0]) {
      writeFileSync(outPath, new Uint8Array(size).fill(0xee));
      addon.directWrites(true);
      assert.is(addon.asyncWrites(kick), kick, 'the setting');
      const args: unknown[] = [];
      for (let i = 0; i < steps; i++) {
        const nums = new Float64Array([i === badStep ? 1 << 30 : fds[0]!, 4096, len, fds[1]!, 4096, len, out, placeOf(i), len, len]);
        args.push(k, cell, len, rowsOf(i), nums, new BigUint64Array([SEED, SEED, SEED]));
      }
      const all = await addon.rebuildStepsStaged(args);
      assert.is(all.length, steps, 'one answer list per step');
      const file = readFileSync(outPath);
      for (let i = 0; i < steps; i++) {
        const got = all[i]!, at = placeOf(i);
        if (i === badStep) {
          assert.is(got[0], -9, `kick ${kick}: the bad source answers -EBADF`);
          assert.is(got[k], -125, `kick ${kick}: its write answers -ECANCELED`);
          assert.ok(file.subarray(at, at + len).every((x) => x === 0xee), `kick ${kick}: nothing of it written`);
          continue;
        }
        assert.is(got[k], xxh64(want[i % 3]!, SEED), `kick ${kick}, step ${i}: output hash`);
        assert.ok(Buffer.compare(file.subarray(at, at + len), want[i % 3]!) === 0, `kick ${kick}, step ${i}: read back`);
      }
    }
  } finally {
    addon.asyncWrites(kick0);
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

t('bad shapes are TypeErrors: reads not in their slots, rows not k per write, a partial stripe; flat: wrong counts, output length, total', () => {
  if (!addon) return;
  const k = 2, cell = 4096, len = cell;
  const slots = new Uint8Array(k * len), o = new Uint8Array(len);
  const good = (j: number) => ({ fd: 0, position: 0, hashLen: len, seed: SEED, views: slotViews(slots, k, cell, j) });
  const w = [{ fd: 0, position: 0, hashLen: len, seed: SEED, views: [o] }];
  assert.throws(() => addon.rebuildStep(k, cell, slots, new Uint8Array(2), [good(1), good(0)], w), TypeError, 'reads swapped');
  assert.throws(() => addon.rebuildStep(k, cell, slots, new Uint8Array(2), [good(0), { ...good(1), views: [new Uint8Array(len)] }], w), TypeError, 'a read elsewhere');
  assert.throws(() => addon.rebuildStep(k, cell, slots, new Uint8Array(3), [good(0), good(1)], w), TypeError, 'rows');
  assert.throws(() => addon.rebuildStep(k, cell, slots.subarray(0, k * len - 1), new Uint8Array(2), [good(0), good(1)], w), TypeError, 'partial stripe');
  const nums = new Float64Array(3 * k + 4).fill(len), seeds = new BigUint64Array(k + 1);
  assert.throws(() => addon.rebuildStepFlat(k, cell, slots, new Uint8Array(2), [o], nums.subarray(1), seeds), TypeError, 'flat: numbers');
  assert.throws(() => addon.rebuildStepFlat(k, cell, slots, new Uint8Array(2), [new Uint8Array(len - 1)], nums, seeds), TypeError, 'flat: output length');
  assert.throws(() => addon.rebuildStepFlat(k, cell, slots, new Uint8Array(2), [o], new Float64Array(3 * k + 4).fill(len).fill(len - 1, 3 * k + 3), seeds), TypeError, 'flat: total below the value');
  assert.throws(() => addon.rebuildStepsFlat([k, cell, slots, new Uint8Array(2), [o], nums, seeds, k, cell, slots, new Uint8Array(3), [o], nums, seeds]), TypeError, 'batch: a bad step refuses the batch');
  assert.throws(() => addon.rebuildStepsFlat([k, cell, slots]), TypeError, 'batch: 7 arguments a step');
  assert.throws(() => addon.rebuildStepsStaged([k, cell, len, new Uint8Array(2), nums, seeds, k]), TypeError, 'staged: 6 arguments a step');
  assert.throws(() => addon.rebuildStepsStaged([k, cell, len + 1, new Uint8Array(2), nums, seeds]), TypeError, 'staged: whole cells');
  assert.throws(() => addon.rebuildStepsStaged([k, cell, len, new Uint8Array(3), nums, seeds]), TypeError, 'staged: rows k per write');
  assert.throws(() => addon.rebuildStepsStaged([k, cell, len, new Uint8Array(2), nums.subarray(1), seeds]), TypeError, 'staged: numbers');
  assert.throws(() => addon.rebuildStepsStaged([k, cell, len, new Uint8Array(2), new Float64Array(3 * k + 4).fill(len).fill(len - 1, 3 * k + 3), seeds]), TypeError, 'staged: total below the value');
});

t.run();
