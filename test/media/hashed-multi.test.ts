/**
 * The native hashed batch's vector pass (native/xxh64x.c): the cells of one batch hashed side by
 * side. Specification: every answer is exactly what the per-request path gives — the XXH64 of the
 * hashed prefix (checked against xxhash-wasm), the bytes read (out of a mapping, or with preadv and
 * then hashed where they landed) or written — whatever the batch's
 * size, the requests' lengths (multiples of 32 or not, long or short), seeds, views (one, the
 * stripe pieces of an EC cell, split anywhere) and order; a
 * read whose mapping faults (the file cut short behind its back) is answered by preadv (zeros past
 * the end) together with the rest of its group. Every batch goes alternately through `hashedBatch`
 * (an array per request) and `hashedBatchFlat` (the same requests flattened: numbers, seeds, views,
 * extras), so both calls are held to the same answers in every scenario.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { loadNative } from '../../src/media/index.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hashed-multi-'));
const t = suite('media: hashed batch, vector pass');
t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Views of `len` bytes in all, each `next()` long (the last what is left). */
function splitViews(len: number, next: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let left = len; left > 0;) { const n = Math.min(left, next()); out.push(new Uint8Array(n)); left -= n; }
  return out;
}

/** `value` cut into pieces each `next()` long (the last what is left), each in a buffer of its own (not adjacent in memory, as an EC data cell's stripe pieces are not). */
function cutViews(value: Uint8Array, next: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < value.length;) { const n = Math.min(value.length - at, next()); out.push(value.slice(at, at + n)); at += n; }
  return out;
}

type Req = [0 | 1, number, Uint8Array[], number, number, bigint] | [0 | 1, number, Uint8Array[], number, number, bigint, unknown];

let batches = 0;
/**
 * `reqs` through the addon, in turn as they are (`hashedBatch`), flattened (`hashedBatchFlat`) and
 * with their views as numbers into their buffers (`hashedBatchBases`) where the addon has them.
 */
function runBatch(addon: NonNullable<ReturnType<typeof loadNative>['addon']>, reqs: Req[]): Promise<Array<bigint | number>> {
  const way = batches++ % 3;
  if (way === 0 || !addon.hashedBatchFlat) return addon.hashedBatch!(reqs as never);
  const nums = new Float64Array(reqs.length * 5), seeds = new BigUint64Array(reqs.length), views: Uint8Array[] = [];
  const extras = reqs.map((q) => q[6] as never);
  reqs.forEach((q, i) => { nums.set([q[0], q[1], q[3], q[4], q[2].length], i * 5); seeds[i] = q[5]; views.push(...q[2]); });
  const ex = extras.some((x) => x !== undefined) ? extras : undefined;
  if (way === 1 || !addon.hashedBatchBases) return addon.hashedBatchFlat(reqs.length, nums, seeds, views, ex);
  const bufs: ArrayBufferLike[] = [], bases: Uint8Array[] = [], triples = new Float64Array(views.length * 3);
  views.forEach((v, i) => {
    let b = bufs.indexOf(v.buffer);
    if (b < 0) { b = bufs.length; bufs.push(v.buffer); bases.push(new Uint8Array(v.buffer)); }
    triples.set([b, v.byteOffset, v.length], i * 3);
  });
  return addon.hashedBatchBases(reqs.length, nums, seeds, bases, triples, ex) as Promise<Array<bigint | number>>;
}
const FILE_BYTES = 4 << 20;

/** Rounds of random hashed-read batches (sizes, lengths, offsets, seeds, views), each answer against xxhash-wasm and the file. */
async function readRounds(mapped: boolean, seed0: number): Promise<void> {
  const addon = loadNative().addon!;
  await initXxhash();
  const file = path.join(tmp, `reads-${mapped ? 'mapped' : 'preadv'}.dat`);
  const v = new Rng(seed0).bytes(FILE_BYTES);
  fs.writeFileSync(file, v);
  const fd = fs.openSync(file, 'r');
  const map = mapped ? addon.mapFile!(fd, FILE_BYTES)! : undefined;
  try {
    const rng = new Rng(seed0 + 1);
    for (let round = 0; round < 90; round++) {
      const n = 1 + (round % 9);
      const reqs: Req[] = [], want: Array<{ at: number; len: number; hashLen: number; seed: bigint; into: Uint8Array[] }> = [];
      // same length in most rounds (one EC read's cells), mixed in the others
      const same = 4096 + rng.int(300_000);
      for (let i = 0; i < n; i++) {
        const len = round % 3 === 0 ? 1 + rng.int(300_000) : same;
        const at = rng.int(FILE_BYTES - len);
        const seed = BigInt(rng.int(1 << 30));
        // one view; the pieces of an EC cell's stripes (views of a multiple of 32 bytes, the vector
        // pass goes view by view); views split anywhere (the scalar code finishes); a hashed prefix
        const kind = rng.int(4);
        const into = kind === 1 ? splitViews(len, () => 32 * (1 + rng.int(4096)))
          : kind === 2 && len > 10 ? splitViews(len, () => 1 + rng.int(100_000)) : [new Uint8Array(len)];
        const hashLen = rng.int(6) === 0 ? rng.int(len + 1) : len;
        reqs.push(map ? [0, fd, into, at, hashLen, seed, map] : [0, fd, into, at, hashLen, seed]);
        want.push({ at, len, hashLen, seed, into });
      }
      const got = await runBatch(addon, reqs);
      for (let i = 0; i < n; i++) {
        const w = want[i]!;
        assert.is(got[i], xxh64(v.subarray(w.at, w.at + w.hashLen), w.seed), `round ${round} request ${i}: hash`);
        assert.ok(Buffer.concat(w.into).equals(Buffer.from(v.subarray(w.at, w.at + w.len))), `round ${round} request ${i}: bytes`);
      }
    }
  } finally {
    if (map) addon.unmapFile!(map);
    fs.closeSync(fd);
  }
}

t('hashedBatchBases: views as [base, offset, length] into shared buffers read and write what the views name; a triple outside its base or a missing base is a TypeError', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatchBases) return;
  await initXxhash();
  const file = path.join(tmp, 'bases.dat');
  const data = new Rng(77).bytes(1 << 20);
  fs.writeFileSync(file, new Uint8Array(1 << 20));
  const fd = fs.openSync(file, 'r+');
  try {
    // an EC write's shape: 4 cells, each the pieces of 4 stripes of one caller buffer (64 KiB cells)
    const cell = 64 << 10, k = 4, stripes = 4;
    const nums = new Float64Array(k * 5), seeds = new BigUint64Array(k), triples = new Float64Array(k * stripes * 3);
    for (let c = 0; c < k; c++) {
      nums.set([1, fd, c * stripes * cell, stripes * cell, stripes], c * 5);
      seeds[c] = BigInt(c + 1);
      for (let s = 0; s < stripes; s++) triples.set([0, (s * k + c) * cell, cell], (c * stripes + s) * 3);
    }
    const hs = await addon.hashedBatchBases(k, nums, seeds, [data], triples) as Array<bigint | number>;
    const file1 = fs.readFileSync(file);
    for (let c = 0; c < k; c++) {
      const want = new Uint8Array(stripes * cell);
      for (let s = 0; s < stripes; s++) want.set(data.subarray((s * k + c) * cell, (s * k + c + 1) * cell), s * cell);
      assert.ok(Buffer.compare(file1.subarray(c * stripes * cell, (c + 1) * stripes * cell), want) === 0, `cell ${c} written from its stripe pieces`);
      assert.is(hs[c], xxh64(want, BigInt(c + 1)), `cell ${c} hash`);
    }
    // reads of the 4 cells back into one buffer (an EC read into the caller's `into`)
    const into = new Uint8Array(k * stripes * cell);
    const rn = new Float64Array(k * 5), rt = new Float64Array(k * 3);
    for (let c = 0; c < k; c++) { rn.set([0, fd, c * stripes * cell, stripes * cell, 1], c * 5); rt.set([0, c * stripes * cell, stripes * cell], c * 3); }
    const rh = await addon.hashedBatchBases(k, rn, seeds, [into], rt) as Array<bigint | number>;
    assert.ok(Buffer.compare(Buffer.from(into), file1) === 0, 'the cells read into one buffer');
    for (let c = 0; c < k; c++) assert.is(rh[c], xxh64(into.subarray(c * stripes * cell, (c + 1) * stripes * cell), BigInt(c + 1)));
    // a parity write whose bytes the job computes first (a deferred fill given as numbers: coeffs and
    // data as views among the triples after the request's own), against the addon's parityFill
    if (addon.parityFill) {
      const coeffs = new Uint8Array([1, 2, 3, 4]);
      const parity = new Uint8Array(stripes * cell), want = new Uint8Array(stripes * cell);
      addon.parityFill(coeffs, cell, data, want);
      const pn = new Float64Array([1, fd, 0, stripes * cell, 1]);
      const pt = new Float64Array([0, 0, parity.length, 1, 0, 4, 2, 0, data.length]);
      const ph = await addon.hashedBatchBases(1, pn, new BigUint64Array([9n]), [parity, coeffs, data], pt, undefined, undefined, new Float64Array([1, cell, 2])) as Array<bigint | number>;
      assert.ok(Buffer.compare(fs.readFileSync(file).subarray(0, parity.length), want) === 0, 'the fill computed and written');
      assert.is(ph[0], xxh64(want, 9n), 'the filled parity hashed');
      // a fill whose data is not whole stripes of its coefficients' k, or on a read: refused
      assert.throws(() => addon.hashedBatchBases!(1, pn, new BigUint64Array([9n]), [parity, coeffs, data], new Float64Array([0, 0, parity.length, 1, 0, 3, 2, 0, data.length]), undefined, undefined, new Float64Array([1, cell, 2])), (e: Error) => e instanceof TypeError, 'a fill of 3 coefficients over 4-cell stripes');
      assert.throws(() => addon.hashedBatchBases!(1, new Float64Array([0, fd, 0, stripes * cell, 1]), new BigUint64Array([9n]), [parity, coeffs, data], pt, undefined, undefined, new Float64Array([1, cell, 2])), (e: Error) => e instanceof TypeError, 'a read with a fill');
    }
    // bad triples: past the base's end, a base that is not there, a fraction: refused, nothing queued
    const one = new Float64Array([0, fd, 0, 16, 1]), s1 = new BigUint64Array([0n]);
    const small = new Uint8Array(8);
    for (const [bases, tr] of [[[small], [0, 0, 16]], [[small], [0, 4, 8]], [[small], [1, 0, 8]], [[], [0, 0, 8]], [[small], [0, 0.5, 4]], [[small], [0, 0, 8, 0]]] as Array<[Uint8Array[], number[]]>) {
      assert.throws(() => addon.hashedBatchBases!(1, one, s1, bases, new Float64Array(tr)), (e: Error) => e instanceof TypeError, `refused: ${JSON.stringify(tr)} of ${bases.length} bases`);
    }
  } finally {
    fs.closeSync(fd);
  }
});

t('mapped reads: any batch size, lengths, offsets and seeds give preadv\'s bytes and xxh64', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch || !addon.mapFile) return; // no addon: no batches
  await readRounds(true, 7);
});

t('reads with preadv, hashed side by side where they landed: any batch size, lengths, offsets, seeds and views give the file\'s bytes and xxh64', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch) return;
  await readRounds(false, 17);
});

t('reads with preadv in one group: a read past the end of the file gets zeros there, a failing one its errno, the others their bytes and hashes', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch) return;
  await initXxhash();
  const cell = 64 << 10;
  const file = path.join(tmp, 'short.dat');
  const v = new Rng(40).bytes(3 * cell + 1000); // the 4th cell is mostly past the end
  fs.writeFileSync(file, v);
  const fd = fs.openSync(file, 'r');
  const wfd = fs.openSync(path.join(tmp, 'short-w.dat'), 'w'); // write-only: preadv fails (EBADF)
  try {
    const into = Array.from({ length: 5 }, () => new Uint8Array(cell).fill(0xee));
    const reqs: Req[] = into.map((b, i): Req => [0, i === 2 ? wfd : fd, [b.subarray(0, cell / 2), b.subarray(cell / 2)], (i === 4 ? 2 : i) * cell, cell, 5n]);
    const got = await runBatch(addon, reqs);
    const padded = new Uint8Array(4 * cell); padded.set(v);
    for (const i of [0, 1, 3, 4]) {
      const at = (i === 4 ? 2 : i) * cell;
      const w = padded.subarray(at, at + cell);
      assert.is(got[i], xxh64(w, 5n), `request ${i}: hash`);
      assert.ok(Buffer.from(into[i]!).equals(Buffer.from(w)), `request ${i}: bytes`);
    }
    assert.is(got[2], -9, 'the request on a write-only descriptor: -EBADF');
  } finally {
    fs.closeSync(fd);
    fs.closeSync(wfd);
  }
});

t('writes: any batch size, views (one, stripe pieces, split anywhere), with zero tails and hashed prefixes, give pwritev\'s file and xxh64 of the hashed bytes', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch) return;
  await initXxhash();
  const file = path.join(tmp, 'writes.dat');
  fs.writeFileSync(file, new Uint8Array(0));
  const fd = fs.openSync(file, 'r+');
  try {
    const rng = new Rng(9);
    for (let round = 0; round < 40; round++) {
      const n = 1 + (round % 9);
      const reqs: Req[] = [], want: Array<{ at: number; value: Uint8Array; total: number; hashLen: number; seed: bigint }> = [];
      const same = 4096 + rng.int(200_000);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const len = round % 3 === 0 ? 1 + rng.int(200_000) : same;
        const value = rng.bytes(len);
        const tail = rng.int(3) === 0 ? new Uint8Array(rng.int(4096) + 1) : undefined;
        // one view; the pieces of an EC data cell's stripes (a gather write: views of a multiple of
        // 32 bytes, hashed view by view side by side); views split anywhere (the scalar code finishes)
        const kind = rng.int(3);
        const pieces = kind === 1 ? cutViews(value, () => 32 * (1 + rng.int(2048))) : kind === 2 ? cutViews(value, () => 1 + rng.int(50_000)) : [value];
        const views = tail ? [...pieces, tail] : pieces;
        const total = len + (tail?.length ?? 0);
        const hashLen = rng.int(6) === 0 ? rng.int(len + 1) : len;
        const seed = BigInt(rng.int(1 << 30));
        reqs.push([1, fd, views, at, hashLen, seed]);
        want.push({ at, value, total, hashLen, seed });
        at += total + rng.int(5000);
      }
      const got = await runBatch(addon, reqs);
      const back = fs.readFileSync(file);
      for (let i = 0; i < n; i++) {
        const w = want[i]!;
        assert.is(got[i], xxh64(w.value.subarray(0, w.hashLen), w.seed), `round ${round} request ${i}: hash`);
        assert.ok(back.subarray(w.at, w.at + w.value.length).equals(Buffer.from(w.value)), `round ${round} request ${i}: bytes`);
        assert.ok(back.subarray(w.at + w.value.length, w.at + w.total).every((b) => b === 0), `round ${round} request ${i}: zero tail`);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
});

t('reads and writes mixed in one batch; a group whose mapping faults is answered by preadv', async () => {
  const addon = loadNative().addon;
  if (!addon?.hashedBatch || !addon.mapFile) return;
  await initXxhash();
  const file = path.join(tmp, 'mixed.dat');
  const v = new Rng(10).bytes(FILE_BYTES);
  fs.writeFileSync(file, v);
  const fd = fs.openSync(file, 'r');
  const wfile = path.join(tmp, 'mixed-w.dat');
  const wfd = fs.openSync(wfile, 'w+');
  const map = addon.mapFile(fd, FILE_BYTES)!;
  try {
    const cell = 256 << 10;
    // an EC read's cells: each the pieces of 4 stripes (4 views of 64 KiB)
    const into = Array.from({ length: 4 }, () => new Uint8Array(cell));
    const pieces = (b: Uint8Array) => [0, 1, 2, 3].map((j) => b.subarray(j * (cell / 4), (j + 1) * (cell / 4)));
    const values = Array.from({ length: 6 }, (_, i) => new Rng(20 + i).bytes(cell));
    const reqs: Req[] = [
      ...into.map((b, i): Req => [0, fd, pieces(b), i * cell, cell, 3n, map]),
      ...values.map((b, i): Req => [1, wfd, [b], i * cell, cell, 4n]),
    ];
    const got = await runBatch(addon, reqs);
    into.forEach((b, i) => {
      assert.is(got[i], xxh64(v.subarray(i * cell, (i + 1) * cell), 3n));
      assert.ok(Buffer.from(b).equals(Buffer.from(v.subarray(i * cell, (i + 1) * cell))));
    });
    values.forEach((b, i) => assert.is(got[4 + i], xxh64(b, 4n)));
    assert.ok(fs.readFileSync(wfile).equals(Buffer.concat(values)));
    // Cut the file short behind the mapping: the group's last cell lies past the end (SIGBUS in the
    // vector pass): every cell is still right, the missing bytes zeros.
    fs.truncateSync(file, 3 * cell + 1000);
    const again = Array.from({ length: 4 }, () => new Uint8Array(cell).fill(0xee));
    const got2 = await runBatch(addon, again.map((b, i): Req => [0, fd, [b], i * cell, cell, 3n, map]));
    const cut = new Uint8Array(4 * cell); cut.set(v.subarray(0, 3 * cell + 1000));
    again.forEach((b, i) => {
      const w = cut.subarray(i * cell, (i + 1) * cell);
      assert.is(got2[i], xxh64(w, 3n), `cell ${i}`);
      assert.ok(Buffer.from(b).equals(Buffer.from(w)), `cell ${i} bytes`);
    });
  } finally {
    addon.unmapFile!(map);
    fs.closeSync(fd);
    fs.closeSync(wfd);
  }
});

t('the same answers with a group\'s streams in lockstep and with each a stripe behind the one before (CAIRN_HASH_STAGGER 0 and 32: this file again in a child each)', () => {
  if (process.env.CAIRN_HASH_STAGGER !== undefined || !loadNative().addon?.hashedBatch) return; // (in the child, or no addon)
  for (const lag of ['0', '32']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], { env: { ...process.env, CAIRN_HASH_STAGGER: lag }, encoding: 'utf8', timeout: 300_000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.is(r.status, 0, `CAIRN_HASH_STAGGER=${lag}: ${out.slice(-2000)}`);
    const passed = /Passed:\s+(\d+)/.exec(out), total = /Total:\s+(\d+)/.exec(out);
    assert.ok(passed && total && Number(passed[1]) === Number(total[1]) && Number(total[1]) >= 6, `CAIRN_HASH_STAGGER=${lag}: every test passed (${passed?.[1]} of ${total?.[1]})`);
  }
});

t.run();
