/**
 * Array reads that skip runs older than a covering memtable extent (`visibleArray`'s `cover`,
 * `RunMeta.maxEpoch`). Model: per record, the newest update at or below the read epoch that is
 * newer than the newest punch at or below it (else a zero byte); updates and punches come at
 * epochs in no order (an older epoch written after newer ones: runs then hold newer entries than
 * the memtable), spread over runs, flushes, an aggregation and a reopen. Every read, through
 * `fetchArray` and `fetchArrayInto`, of ranges equal to, inside and around written extents, equals
 * the model. Each run records the highest epoch it holds (its descriptor's `maxEpoch`, kept in the
 * manifest across a reopen).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { runMetaFromJson, runMetaToJson } from '../../src/vos/run.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos array reads over covering extents');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('reads-cover'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const RECORDS = 24;
const AKEYS = 6;
type Ev = { kind: 'update'; epoch: bigint; index: number; count: number; byte: number } | { kind: 'punch'; epoch: bigint };

/** The model's bytes of records [lo, hi) of an akey at read epoch `e`. */
function modelRead(evs: readonly Ev[], e: bigint, lo: number, hi: number): Uint8Array {
  let punch = -1n;
  for (const v of evs) if (v.kind === 'punch' && v.epoch <= e && v.epoch > punch) punch = v.epoch;
  const out = new Uint8Array(hi - lo);
  for (let r = lo; r < hi; r++) {
    let best: Ev | undefined;
    for (const v of evs) if (v.kind === 'update' && v.epoch <= e && v.epoch > punch && v.index <= r && r < v.index + v.count && (!best || v.epoch > best.epoch)) best = v;
    if (best && best.kind === 'update') out[r - lo] = best.byte;
  }
  return out;
}

test('reads equal the model over memtable and runs with epochs in any order, punches, aggregation and reopen', async () => {
  const rng = new Rng(0xc0e);
  const d = enc('d');
  const akey = (i: number) => enc(`a${i}`);
  const evs: Ev[][] = Array.from({ length: AKEYS }, () => []);
  // unique epochs in a shuffled order: every op has its own epoch, many below ones already written
  const epochs = Array.from({ length: 400 }, (_, i) => BigInt(10 + i * 3));
  for (let i = epochs.length - 1; i > 0; i--) { const j = rng.int(i + 1); [epochs[i], epochs[j]] = [epochs[j]!, epochs[i]!]; }
  let next = 0;
  let byte = 0;
  let aggregated = 0n;
  let t = await VosTarget.open(dir, OPTS);
  const maxEpoch = () => epochs.slice(0, next).reduce((a, b) => (b > a ? b : a), 0n);
  const check = async (when: string) => {
    const top = maxEpoch();
    for (let i = 0; i < AKEYS; i++) {
      const ups = evs[i]!.filter((v): v is Extract<Ev, { kind: 'update' }> => v.kind === 'update');
      const ranges: Array<[number, number]> = [[0, RECORDS]];
      for (const u of ups.slice(-6)) {
        ranges.push([u.index, u.index + u.count]);
        if (u.count > 2) ranges.push([u.index + 1, u.index + u.count - 1]);
        ranges.push([Math.max(0, u.index - 1), Math.min(RECORDS, u.index + u.count + 1)]);
      }
      const readEpochs = [top, ...ups.slice(-4).map((u) => u.epoch), ...ups.slice(-3).map((u) => u.epoch - 1n), ...evs[i]!.filter((v) => v.kind === 'punch').slice(-2).map((p) => p.epoch)];
      for (const e of readEpochs) {
        if (e < aggregated) continue; // (history below an aggregation is merged away)
        for (const [lo, hi] of ranges) {
          const want = modelRead(evs[i]!, e, lo, hi);
          const r = await t.fetchArray(e, 7n, d, akey(i), { index: lo, count: hi - lo }, { holesAsZero: true });
          if (!Buffer.from(r.data).equals(Buffer.from(want))) assert.unreachable(`${when}: akey ${i} fetchArray [${lo}, ${hi}) at ${e}: ${Buffer.from(r.data).toString('hex')} != ${Buffer.from(want).toString('hex')}`);
          const into = [new Uint8Array(hi - lo).fill(0xee)];
          await t.fetchArrayInto(e, 7n, d, akey(i), { index: lo, count: hi - lo }, into);
          if (!Buffer.from(into[0]!).equals(Buffer.from(want))) assert.unreachable(`${when}: akey ${i} fetchArrayInto [${lo}, ${hi}) at ${e}: ${Buffer.from(into[0]!).toString('hex')} != ${Buffer.from(want).toString('hex')}`);
        }
      }
    }
  };
  const step = async () => {
    const i = rng.int(AKEYS);
    const epoch = epochs[next++]!;
    if (rng.int(12) === 0) {
      await t.punchAkey(epoch, 7n, d, akey(i));
      evs[i]!.push({ kind: 'punch', epoch });
    } else {
      const index = rng.int(RECORDS - 1), count = 1 + rng.int(Math.min(8, RECORDS - index));
      byte = (byte % 250) + 1;
      await t.updateArray(epoch, 7n, d, akey(i), { index, count }, new Uint8Array(count).fill(byte));
      evs[i]!.push({ kind: 'update', epoch, index, count, byte });
    }
  };
  for (let round = 0; round < 5; round++) {
    for (let s = 0; s < 40; s++) await step();
    await check(`round ${round} memtable`);
    await t.target.flushAll();
    for (let s = 0; s < 25; s++) await step();
    await check(`round ${round} runs + memtable`);
  }
  await t.target.flushAll();
  aggregated = maxEpoch() / 2n;
  await t.aggregate(aggregated);
  for (let s = 0; s < 30; s++) await step();
  await check('aggregated + memtable');
  await t.close();
  t = await VosTarget.open(dir, OPTS);
  try {
    for (let s = 0; s < 30; s++) await step();
    await check('reopened');
  } finally { await t.close(); }
});

test('a run descriptor keeps the highest epoch of its entries, through its JSON form and a reopen', async () => {
  let t = await VosTarget.open(dir, OPTS);
  try {
    const d = enc('d');
    await t.updateArray(900n, 7n, d, enc('x'), { index: 0, count: 4 }, new Uint8Array(4).fill(1));
    await t.updateArray(0x1_0000_0005n, 7n, d, enc('y'), { index: 0, count: 4 }, new Uint8Array(4).fill(2));
    await t.punchAkey(700n, 7n, d, enc('z'));
    await t.target.flushAll();
    const metas = t.target.runs.map((r) => r.meta);
    assert.ok(metas.length >= 1, 'a run was written');
    const top = metas.map((m) => m.maxEpoch ?? -1n).reduce((a, b) => (b > a ? b : a), -1n);
    assert.is(top, 0x1_0000_0005n, 'the newest entry written (above 2^32: both words of the stamp count)');
    for (const m of metas) assert.is(runMetaFromJson(JSON.parse(JSON.stringify(runMetaToJson(m)))).maxEpoch, m.maxEpoch, 'JSON round trip');
    const before = metas.map((m) => `${m.id}:${m.maxEpoch}`).sort();
    await t.close();
    t = await VosTarget.open(dir, OPTS);
    assert.equal(t.target.runs.map((r) => `${r.meta.id}:${r.meta.maxEpoch}`).sort(), before, 'kept in the manifest across a reopen');
    const old = runMetaToJson(metas[0]!);
    delete old.maxEpoch;
    assert.is(runMetaFromJson(old).maxEpoch, undefined, 'a descriptor written before maxEpoch was kept has none (its run is never skipped)');
  } finally { await t.close(); }
});

test.run();
