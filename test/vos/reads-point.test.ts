/**
 * Point reads of single values (`fetchSingleNow` / `fetchSingle`, `reads.visibleSingle` over
 * `Run.seekTo`): every key at every epoch against a model, with versions spread over the memtable
 * and many runs (so seeks land at block and index-block boundaries), values inline in runs and in
 * the data file, punches, a discarded epoch range (the path with discards), after a reopen (all in
 * runs); answers are copies that later reads do not change. And the verified-block cache entries
 * a point lookup keeps: dead once evicted or forgotten, re-read after.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { Run, RunWriter, VerifiedBlocks, type RunSpace } from '../../src/vos/run.js';
import { versionAt } from '../../src/vos/reads.js';
import { decodeVersion, encodeVersion, VERSION_VALUE_BYTES } from '../../src/vos/merge.js';
import { Where } from '../../src/vos/wal.js';
import type { MemVersion } from '../../src/vos/memtable.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from '../../src/vos/constants.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos point reads');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('reads-point'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const OBJECTS = 1200;
const EPOCHS = [10n, 20n, 30n];
const D = enc('d'), A = enc('a');
const oidOf = (i: number) => (BigInt(i) * 0x9e3779b97f4a7c15n) & ((1n << 128n) - 1n);

/** Value of object i at epoch e: its length varies (every 9th in the data file), its bytes name (i, e). */
function valueOf(i: number, e: bigint): Uint8Array {
  const n = i % 9 === 0 ? 5000 + (i % 7) : 60 + (i % 50);
  const v = new Uint8Array(n).fill((i + Number(e)) & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  new DataView(v.buffer).setUint32(4, Number(e), true);
  return v;
}

/** Model: per object, writes and punches (epoch ordered). */
type Op = { e: bigint; v?: Uint8Array };
const model = new Map<number, Op[]>();
function expected(i: number, at: bigint, discarded?: [bigint, bigint]): Uint8Array | undefined {
  let best: Op | undefined;
  for (const op of model.get(i) ?? []) {
    if (op.e > at || (discarded && op.e > discarded[0] && op.e <= discarded[1])) continue;
    if (!best || op.e >= best.e) best = op;
  }
  return best?.v;
}

async function checkAll(t: VosTarget, discarded?: [bigint, bigint]): Promise<number> {
  let n = 0;
  for (let i = 0; i < OBJECTS; i++) {
    for (const at of [5n, 10n, 15n, 20n, 22n, 25n, 30n, 35n, 40n, 45n]) {
      const want = expected(i, at, discarded);
      const now = t.fetchSingleNow(at, oidOf(i), D, A);
      const got = now === null ? await t.fetchSingle(at, oidOf(i), D, A) : now;
      if (want === undefined) assert.is(got, undefined, `object ${i} at ${at}: absent`);
      else {
        assert.ok(got instanceof Uint8Array, `object ${i} at ${at}: present`);
        assert.equal(got, want, `object ${i} at ${at}`);
      }
      n++;
    }
  }
  return n;
}

test('every key at every epoch, from the memtable and many runs, before and after a reopen', async () => {
  let t = await VosTarget.open(dir, BASE);
  try {
    for (const e of EPOCHS) {
      for (let i = 0; i < OBJECTS; i++) {
        if (e === 30n && i % 5 === 0) continue; // some objects keep their epoch-20 version as newest
        const v = valueOf(i, e);
        await t.updateSingle(e, oidOf(i), D, A, v);
        (model.get(i) ?? model.set(i, []).get(i)!).push({ e, v });
      }
    }
    // dkey punches at 22 on some objects (hide 10 and 20, not 30)
    for (let i = 0; i < OBJECTS; i += 11) { await t.punchDkey(22n, oidOf(i), D); model.get(i)!.push({ e: 22n }); }
    // newer versions that stay in the memtable above what the runs hold
    for (let i = 3; i < OBJECTS; i += 13) { const v = valueOf(i, 40n); await t.updateSingle(40n, oidOf(i), D, A, v); model.get(i)!.push({ e: 40n, v }); }
    assert.ok(t.target.runs.length > 1, `versions spread over several runs (${t.target.runs.length})`);
    assert.is(await checkAll(t), OBJECTS * 10);
    await t.close();
    t = await VosTarget.open(dir, BASE);
    assert.ok(t.target.runs.length > 1);
    assert.is(await checkAll(t), OBJECTS * 10);
    // a discarded range: reads go through the discards (the path with tombstones), then the same after a reopen
    await t.discard(25n, 30n);
    await checkAll(t, [25n, 30n]);
    await t.close();
    t = await VosTarget.open(dir, BASE);
    await checkAll(t, [25n, 30n]);
  } finally {
    await t.close();
    model.clear();
  }
});

test('answers are copies: a later read does not change an earlier answer, and changing an answer changes no later read', async () => {
  let t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 400; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i + 1, 10n)); // all inline-sized except every 9th
    await t.close();
    t = await VosTarget.open(dir, BASE);
    const first = t.fetchSingleNow(10n, oidOf(1), D, A);
    assert.ok(first instanceof Uint8Array);
    const keep = first.slice();
    for (let i = 2; i < 400; i++) if (i % 9 !== 8) t.fetchSingleNow(10n, oidOf(i), D, A);
    assert.equal(first, keep, 'an earlier answer is unchanged by later reads');
    first.fill(0);
    assert.equal(t.fetchSingleNow(10n, oidOf(1), D, A), keep, 'a caller changing its answer changes nothing stored');
  } finally {
    await t.close();
  }
});

test('a version read in place from a run block is the one decodeVersion reads (inline checked and not, data-file, malformed)', async () => {
  await initXxhash();
  const buf = new Uint8Array(1 << 20); let next = 0;
  const space: RunSpace & { chunkBytes: number; allocChunk(): number } = {
    chunkBytes: 256 * 1024, allocChunk: () => { const at = next; next += 256 * 1024; return at; },
    pread: (off, len) => buf.slice(off, off + len), pwrite: (off, data) => { buf.set(data, off); },
  };
  const bytes = enc('inline value bytes');
  const base: MemVersion = { epoch: 7n, seq: 3, csum: xxh64(bytes, CSUM_SEED), len: bytes.length, where: Where.Run, loc: 0, alloc: 0, index: 5, count: 2 ** 40 + 3, recordSize: 9 };
  const values = [
    encodeVersion(base, bytes),                                              // inline, matches its checksum: flagged checked
    encodeVersion({ ...base, csum: base.csum ^ 1n }, bytes),                 // inline, does not match: not flagged
    encodeVersion({ ...base, where: Where.Block, len: 9000, alloc: 12288 }, undefined, 2 ** 33 + 4096), // in the data file
    encodeVersion(base, bytes).subarray(0, VERSION_VALUE_BYTES + 3),         // truncated: malformed
  ];
  const w = new RunWriter(space, space, 1, 0);
  values.forEach((v, i) => w.add(Uint8Array.of(i), v, i + 1, []));
  const run = new Run(space, w.finish()!, new VerifiedBlocks());
  values.forEach((v, i) => {
    const c = run.cursor().seek(Uint8Array.of(i));
    const blk = c.blk!;
    const o = blk.keyOffset(c.e) + blk.keyLength(c.e);
    const mine = versionAt(blk, o, blk.valueLength(c.e), 7n, 3);
    const theirs = decodeVersion(v, 7n, 3, true);
    if (theirs === undefined) { assert.is(mine, undefined, `entry ${i} malformed for both`); return; }
    assert.ok(mine, `entry ${i} decoded`);
    const plain = (x: MemVersion) => ({ epoch: x.epoch, seq: x.seq, csum: x.csum, len: x.len, where: x.where, loc: x.loc, alloc: x.alloc, index: x.index, count: x.count, recordSize: x.recordSize, inline: x.where === Where.Run ? Array.from(x.inline!) : undefined, checked: x.checked === true }); // (a point read's version reads its checksum and bytes from the block when asked)
    assert.equal(plain(mine), plain(theirs), `entry ${i}`);
  });
});

test('verified-block cache entries: dead once evicted or forgotten, their bytes let go', () => {
  const c = new VerifiedBlocks(3 * 4096);
  const refs = [0, 4096, 8192, 12288, 16384].map((off, k) => ({ off, len: 4096, csum: BigInt(k + 1) }));
  const blocks = refs.map((r) => new Uint8Array(r.len).fill(Number(r.csum)));
  c.add(refs[0]!, blocks[0]!);
  const e0 = c.entry(refs[0]!)!;
  assert.ok(e0.live);
  assert.is(e0.bytes, blocks[0]);
  assert.is(c.entry({ ...refs[0]!, csum: 99n }), undefined, 'another checksum at the same offset is not a hit');
  c.add(refs[1]!, blocks[1]!);
  c.add(refs[2]!, blocks[2]!);
  c.add(refs[3]!, blocks[3]!); // over the bound: one entry goes (e0 had a hit, so a second chance first)
  assert.ok(c.bytes <= 3 * 4096, `bounded (${c.bytes})`);
  const gone = refs.slice(0, 4).filter((r) => c.entry(r) === undefined);
  assert.is(gone.length, 1);
  c.forgetRange(refs[2]!.off, 1);
  assert.is(c.entry(refs[2]!), undefined);
  c.add(refs[0]!, blocks[4]!); // replaced at the same offset
  assert.not.ok(e0.live, 'a replaced entry is dead');
  assert.is(e0.bytes.length, 0, 'a dead entry holds no bytes');
  assert.is(c.entry(refs[0]!)!.bytes, blocks[4]);
  c.forgetRange(0, Number.MAX_SAFE_INTEGER);
  assert.is(c.bytes, 0);
});

test.run();
