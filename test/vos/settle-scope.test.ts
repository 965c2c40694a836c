/**
 * Settling one container's discards or destroy (the merge after which they are forgotten) merges
 * the runs that hold that container's keys, not every run of the target: beside a container of
 * 12k objects, a destroy (or a 33rd discard) of a small one used to merge the large one's runs
 * too (`TargetStore.mergeInputEntries` grew by both). Reads of both stay right, the settled state
 * is forgotten (a destroyed container's index is gone; the discards are cleared), and after a reopen.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { TargetStore, ContainerStore, type VosOptions } from '../../src/vos/index.js';
import { dec, enc, tmpDir, writeSingles } from './helpers.js';

const test = suite('vos settle scope');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS: VosOptions = { scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('settle-scope'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const BIG = 12_000; // the other container's objects (several flushed runs)
const MINE = 2_000; // the settled container's objects
const D = enc('d'); const A = enc('a');


/** The container states the store keeps (settled ones are forgotten). */
const conts = (ts: TargetStore): Map<number, { tombs: unknown[]; destroyed: boolean }> => (ts as unknown as { conts: Map<number, { tombs: unknown[]; destroyed: boolean }> }).conts;

/** Runs of the store. */
const runs = (ts: TargetStore): number => (ts as unknown as { runs: unknown[] }).runs.length;

for (const order of ['big first', 'mine first'] as const) {
  test(`a destroy merges the destroyed container's runs only (${order})`, async () => {
    const ts = await TargetStore.open(dir, OPTS);
    const names = order === 'big first' ? ['big', 'mine'] : ['mine', 'big'];
    const cs = new Map<string, ContainerStore>();
    const st = new Map<string, number>();
    for (const n of names) { const s = await ts.createContainer(n); st.set(n, s.idx); cs.set(n, new ContainerStore(ts, s)); }
    const big = cs.get('big')!; const mine = cs.get('mine')!;
    await writeSingles(big, 1000, BIG, 10n, 'big');
    await ts.flushAll();
    await big.aggregate(10n); // (big's runs folded into one first: a level compaction that mixes containers' runs is another matter)
    await writeSingles(mine, 1, MINE, 11n, 'm');
    await ts.flushAll();
    await ts.idle();
    assert.ok(runs(ts) >= 2, `runs: ${runs(ts)}`);
    const before = ts.mergeInputEntries; const merges = ts.compactions;
    await ts.destroyContainer('mine');
    await ts.idle();
    const read = ts.mergeInputEntries - before;
    assert.ok(read <= 2 * MINE, `the destroy's merge read ${read} entries (mine holds ${2 * MINE}, big ${2 * BIG})`);
    assert.ok(!conts(ts).has(st.get('mine')!), 'the destroy is settled: the container is forgotten');
    assert.ok(ts.compactions >= merges, 'compactions counted');
    for (let i = 0; i < BIG; i += 97) assert.is(dec(await big.fetchSingle(20n, BigInt(1000 + i), D, A)), `big${i}`);
    await ts.close();
    const again = await TargetStore.open(dir, OPTS);
    const b2 = new ContainerStore(again, await again.createContainer('big'));
    for (let i = 0; i < BIG; i += 101) assert.is(dec(await b2.fetchSingle(20n, BigInt(1000 + i), D, A)), `big${i}`);
    const m2 = new ContainerStore(again, await again.createContainer('mine')); // a new container of that name: empty
    for (let i = 0; i < MINE; i += 53) assert.is(await m2.fetchSingle(20n, BigInt(1 + i), D, A), undefined);
    await again.close();
  });
}

test('discards past the limit are settled by merging the container\'s runs only', async () => {
  const ts = await TargetStore.open(dir, OPTS);
  const bigSt = await ts.createContainer('big'); const mineSt = await ts.createContainer('mine');
  const big = new ContainerStore(ts, bigSt); const mine = new ContainerStore(ts, mineSt);
  await writeSingles(big, 1000, BIG, 10n, 'big');
  await big.aggregate(10n); // (as above)
  // versions at epochs 20..52, then a discard of each epoch above 20, one by one (33 discards)
  for (let e = 20n; e <= 53n; e++) await writeSingles(mine, 1, 50, e, `m${e}-`);
  await ts.flushAll();
  await ts.idle();
  const before = ts.mergeInputEntries;
  for (let e = 53n; e > 20n; e--) await mine.discard(e - 1n, e);
  await ts.idle();
  const read = ts.mergeInputEntries - before;
  assert.ok(read < 2 * BIG, `the discards' merge read ${read} entries (big holds ${2 * BIG})`);
  assert.ok(conts(ts).get(mineSt.idx)!.tombs.length <= 1, `discards settled (${conts(ts).get(mineSt.idx)!.tombs.length} left)`);
  for (let i = 0; i < 50; i += 7) assert.is(dec(await mine.fetchSingle(60n, BigInt(1 + i), D, A)), `m20-${i}`);
  for (let i = 0; i < BIG; i += 97) assert.is(dec(await big.fetchSingle(60n, BigInt(1000 + i), D, A)), `big${i}`);
  await ts.close();
  const again = await TargetStore.open(dir, OPTS);
  const m2 = new ContainerStore(again, await again.createContainer('mine'));
  for (let i = 0; i < 50; i += 7) assert.is(dec(await m2.fetchSingle(60n, BigInt(1 + i), D, A)), `m20-${i}`);
  await again.close();
});

test.run();
