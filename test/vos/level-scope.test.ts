/**
 * A level compaction merges one container's runs among themselves when it holds enough of the
 * level's runs: a small container's flushed run beside a large one's seven is left out of their
 * merge (it used to be merged in, and each later aggregation of either container read the mixed
 * run whole: `TargetStore.aggregateEntries`). Runs per level stay bounded, and reads stay right.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { TargetStore, ContainerStore, type VosOptions } from '../../src/vos/index.js';
import { MERGE_FANIN } from '../../src/vos/store.js';
import { dec, enc, tmpDir, writeSingles } from './helpers.js';

const test = suite('vos level scope');
const KiB = 1024; const MiB = 1024 * KiB;
const OPTS: VosOptions = { scmBytes: 64 * MiB, dataBytes: 16 * MiB, walBytes: 1 * MiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('level-scope'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const PER_RUN = 1_500; // the large container's objects per flushed run
const MINE = 40; // the small container's objects
const D = enc('d'); const A = enc('a');


interface RunView { meta: { level: number; first: Uint8Array; last: Uint8Array; entries: number } }
const runs = (ts: TargetStore): RunView[] => (ts as unknown as { runs: RunView[] }).runs;
const cont = (k: Uint8Array): number => ((k[0]! << 24) | (k[1]! << 16) | (k[2]! << 8) | k[3]!) >>> 0;
const describe = (ts: TargetStore): string => runs(ts).map((r) => `L${r.meta.level} ${cont(r.meta.first)}-${cont(r.meta.last)} n=${r.meta.entries}`).join(' | ');

for (const order of ['big first', 'mine first'] as const) {
  test(`a small container's run stays out of a large one's level merge (${order})`, async () => {
    assert.is(MERGE_FANIN, 8);
    const ts = await TargetStore.open(dir, OPTS);
    const names = order === 'big first' ? ['big', 'mine'] : ['mine', 'big'];
    const cs = new Map<string, ContainerStore>();
    for (const n of names) cs.set(n, new ContainerStore(ts, await ts.createContainer(n)));
    const big = cs.get('big')!; const mine = cs.get('mine')!;
    // seven flushed runs of the large container at level 0, then one of the small one: eight
    for (let r = 0; r < MERGE_FANIN - 1; r++) {
      await writeSingles(big, 1000 + r * PER_RUN, PER_RUN, 10n, 'big');
      await ts.flushAll();
    }
    await ts.idle();
    assert.is(runs(ts).length, MERGE_FANIN - 1, describe(ts));
    await writeSingles(mine, 1, MINE, 11n, 'm');
    await ts.flushAll();
    await ts.idle();
    assert.ok(ts.compactions > 0, 'a level compaction ran');
    assert.ok(runs(ts).every((r) => cont(r.meta.first) === cont(r.meta.last)), `no run mixes the containers: ${describe(ts)}`);
    assert.ok(runs(ts).length <= 2, describe(ts));
    // the small container's aggregation reads its own entries only
    await writeSingles(mine, 1, MINE, 12n, 'n');
    const before = ts.aggregateEntries;
    await mine.aggregate(13n);
    const read = ts.aggregateEntries - before;
    assert.ok(read <= 6 * MINE, `the aggregation read ${read} entries (big holds ${2 * (MERGE_FANIN - 1) * PER_RUN})`);
    for (let i = 0; i < MINE; i += 3) assert.is(dec(await mine.fetchSingle(20n, BigInt(1 + i), D, A)), `n${i}`);
    for (let i = 0; i < (MERGE_FANIN - 1) * PER_RUN; i += 97) assert.is(dec(await big.fetchSingle(20n, BigInt(1000 + i), D, A)), `big${i % PER_RUN}`);
    await ts.close();
  });
}

test('runs of many small containers are still merged (runs per level bounded)', async () => {
  const ts = await TargetStore.open(dir, OPTS);
  const cs: ContainerStore[] = [];
  for (let c = 0; c < 3 * MERGE_FANIN; c++) cs.push(new ContainerStore(ts, await ts.createContainer(`c${c}`)));
  for (let c = 0; c < cs.length; c++) { await writeSingles(cs[c]!, 1, 20, 10n, `c${c}-`); await ts.flushAll(); }
  await ts.idle();
  const byLevel = new Map<number, number>();
  for (const r of runs(ts)) byLevel.set(r.meta.level, (byLevel.get(r.meta.level) ?? 0) + 1);
  for (const [l, n] of byLevel) assert.ok(n < MERGE_FANIN, `level ${l} holds ${n} runs: ${describe(ts)}`);
  for (let c = 0; c < cs.length; c++) for (let i = 0; i < 20; i += 7) assert.is(dec(await cs[c]!.fetchSingle(20n, BigInt(1 + i), D, A)), `c${c}-${i}`);
  await ts.close();
});

test.run();
