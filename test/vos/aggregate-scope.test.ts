/**
 * An aggregation of one container reads that container's runs and the memtable, not the runs of
 * the other containers on the target: `TargetStore.aggregateEntries` (entries its folds and merges
 * read) grows by the container's own data, however much another container holds (it used to fold
 * every run of the target: one container's aggregate cost ~1 s beside 150k objects of another).
 * What a fold takes of other containers (their records in the memtable, a run written before)
 * lands in runs of their own, so the next aggregation does not read it again. Reads of every
 * container stay right, through the fold path and the merge path (a punch in the container).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { TargetStore, ContainerStore, type VosOptions } from '../../src/vos/index.js';
import { dec, enc, tmpDir } from './helpers.js';

const test = suite('vos aggregation scope');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS: VosOptions = { scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('agg-scope'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const BIG = 12_000; // other container's objects (several flushed runs)
const MINE = 40; // keys of the aggregated container, each written ROUNDS times
const ROUNDS = 6;
const D = enc('d'); const A = enc('a');

async function bigWrites(c: ContainerStore, from: number, to: number, epoch: bigint): Promise<void> {
  const ps: Array<Promise<void>> = [];
  for (let i = from; i < to; i++) {
    ps.push(c.updateSingle(epoch, BigInt(1000 + i), D, A, enc(`big${i}`)));
    if (ps.length >= 64) { await Promise.all(ps); ps.length = 0; }
  }
  await Promise.all(ps);
}

for (const order of ['other container first', 'aggregated container first'] as const) {
  test(`aggregating one container reads its own entries, not the other's (${order})`, async () => {
    const ts = await TargetStore.open(dir, OPTS);
    const names = order === 'other container first' ? ['big', 'mine'] : ['mine', 'big'];
    const cs = new Map<string, ContainerStore>();
    for (const n of names) cs.set(n, new ContainerStore(ts, await ts.createContainer(n)));
    const big = cs.get('big')!; const mine = cs.get('mine')!;
    let epoch = 10n;
    await bigWrites(big, 0, BIG, epoch);
    await ts.flushAll();
    // the last of the other container's writes stay in the memtable beside the first of mine
    await bigWrites(big, BIG, BIG + 500, ++epoch);
    const reads: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      epoch++;
      for (let k = 0; k < MINE; k++) await mine.updateSingle(epoch, BigInt(k + 1), D, A, enc(`m${k}@${epoch}`));
      const before = ts.aggregateEntries;
      const s = await mine.aggregate(epoch + 1n);
      reads.push(ts.aggregateEntries - before);
      assert.ok(s.compacted, 'the aggregation ran');
      if (r > 0) assert.ok(s.versionsRemoved >= MINE, `round ${r}: the older versions of mine went (${s.versionsRemoved})`);
    }
    // the first fold takes the other container's memtable records (bounded by the log region);
    // every later one reads mine's entries (one version per key, the new ones) and nothing else
    for (let r = 1; r < ROUNDS; r++) assert.ok(reads[r]! <= 4 * MINE, `round ${r} read ${reads[r]} entries (other container: ${BIG + 500})`);
    for (let k = 0; k < MINE; k++) assert.is(dec(await mine.fetchSingle(epoch, BigInt(k + 1), D, A)), `m${k}@${epoch}`);
    for (let i = 0; i < BIG + 500; i += 97) assert.is(dec(await big.fetchSingle(epoch, BigInt(1000 + i), D, A)), `big${i}`);

    // the merge path (a punch in the container): still only the container's runs
    await mine.punchAkey(++epoch, 1n, D, A);
    await mine.updateSingle(++epoch, 2n, D, A, enc('after punch'));
    const before = ts.aggregateEntries;
    await mine.aggregate(epoch + 1n);
    assert.ok(ts.aggregateEntries - before <= 4 * MINE, `the merge path read ${ts.aggregateEntries - before} entries`);
    assert.is(await mine.fetchSingle(epoch, 1n, D, A), undefined, 'punched');
    assert.is(dec(await mine.fetchSingle(epoch, 2n, D, A)), 'after punch');
    assert.is(dec(await mine.fetchSingle(epoch, 3n, D, A)), `m2@${epoch - 2n}`);
    for (let i = 0; i < BIG + 500; i += 89) assert.is(dec(await big.fetchSingle(epoch, BigInt(1000 + i), D, A)), `big${i}`);
    await ts.close();

    // and after a reopen
    const again = await TargetStore.open(dir, OPTS);
    const m2 = new ContainerStore(again, await again.createContainer('mine'));
    const b2 = new ContainerStore(again, await again.createContainer('big'));
    assert.is(dec(await m2.fetchSingle(epoch, 2n, D, A)), 'after punch');
    assert.is(await m2.fetchSingle(epoch, 1n, D, A), undefined);
    for (let i = 0; i < BIG + 500; i += 101) assert.is(dec(await b2.fetchSingle(epoch, BigInt(1000 + i), D, A)), `big${i}`);
    await again.close();
  });
}

test('aggregating a container with nothing on the target reads nothing and leaves the memtable to its own flush', async () => {
  const ts = await TargetStore.open(dir, OPTS);
  const big = new ContainerStore(ts, await ts.createContainer('big'));
  const mine = new ContainerStore(ts, await ts.createContainer('mine'));
  await bigWrites(big, 0, BIG, 10n);
  const mem = ts.usage().memtableBytes;
  assert.ok(mem > 0, 'the other container has records in the memtable');
  const flushes = ts.flushes; const read = ts.aggregateEntries; const merged = ts.mergeInputEntries;
  const s = await mine.aggregate(20n);
  assert.is(s.versionsRemoved, 0);
  assert.is(ts.aggregateEntries, read, 'no entry read');
  assert.is(ts.mergeInputEntries, merged, 'no run merged');
  assert.is(ts.flushes, flushes, 'no flush');
  for (let i = 0; i < BIG; i += 97) assert.is(dec(await big.fetchSingle(20n, BigInt(1000 + i), D, A)), `big${i}`);
  await ts.close();
});

test('a space merge (the data file filling with values replaced at one epoch) takes the runs that share key ranges, not another container\'s', async () => {
  const ts = await TargetStore.open(dir, { scmBytes: 64 * MiB, dataBytes: 128 * MiB, walBytes: 1 * MiB, io: 'pread' });
  const big = new ContainerStore(ts, await ts.createContainer('big'));
  const mine = new ContainerStore(ts, await ts.createContainer('mine'));
  await bigWrites(big, 0, BIG, 10n);
  await big.aggregate(11n); // (its runs, which overlap each other, folded into one)
  await ts.idle();
  const bigEntries = 2 * BIG; // (an object-table entry and a version per object)
  const before = ts.mergeInputEntries; const merges = ts.compactions;
  // 4 KiB values of 1,024 keys overwritten at one epoch: 24 MiB written, two flushed runs of them
  const KEYS = 1024;
  for (let r = 0; r < 24; r++) {
    for (let k = 0; k < KEYS; k++) await mine.updateSingle(20n, 7n, enc(`d${k}`), A, new Uint8Array(4096).fill((k + r) & 0xff));
    if (r % 8 === 7) await ts.flushAll();
  }
  await ts.idle();
  assert.ok(ts.compactions > merges, 'a space merge ran');
  const read = ts.mergeInputEntries - before;
  assert.ok(read < bigEntries, `merges read ${read} entries; the other container's runs hold ${bigEntries}`);
  for (let k = 0; k < KEYS; k += 37) assert.is((await mine.fetchSingle(20n, 7n, enc(`d${k}`), A))![0], (k + 23) & 0xff);
  for (let i = 0; i < BIG; i += 97) assert.is(dec(await big.fetchSingle(20n, BigInt(1000 + i), D, A)), `big${i}`);
  await ts.close();
});

test.run();
