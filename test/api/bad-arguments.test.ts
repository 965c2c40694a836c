/**
 * The bad-argument cases of issue 13, one by one (the seeded fuzzer in fuzz.test.ts covers the
 * rest at random): each is refused with INVALID_ARGUMENT (an over-long read with VALUE_TOO_LARGE,
 * the registry's specific code for it), as a CairnError, before anything is created — no orphan
 * container directory, no half-created pool directory — and the pool works afterwards.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool, CairnError, type Container } from '../../index.js';
import { tmpDir } from '../helpers/tmp.js';
import { refused } from '../helpers/refused.js';

const test = suite('api: bad arguments of issue 13');
const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 32 << 20 };

let root = '';
let pool: Pool;
let cont: Container;


/** Container directories on disk, and labels listed. */
async function containersNow(): Promise<{ dirs: string[]; listed: string[] }> {
  return { dirs: fs.readdirSync(path.join(pool.dir, 'containers')).sort(), listed: (await pool.listContainers()).map((c) => c.uuid).sort() };
}

test.before(async () => {
  root = tmpDir('cairn-badargs-');
  pool = await Pool.create(path.join(root, 'pool'), SHAPE);
  cont = await pool.createContainer('c', { oclass: 'RP_2G1', redundancyFactor: 1 });
  await cont.object('o').update('d', 'a', 'value');
  await cont.array('arr').write(0, new Uint8Array(5000).fill(3));
  await cont.snapshot('s1');
});

test.after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('Pool.open with a non-string directory', async () => {
  for (const v of [5, null, undefined, {}, [], 5n, () => 1, true, new Uint8Array(3)]) await refused(`Pool.open(${typeof v})`, () => Pool.open(v as never));
});

test('createContainer with bigint labels or options: refused, and no orphan directory', async () => {
  const before = await containersNow();
  assert.equal(before.dirs, before.listed);
  await refused('createContainer(5n)', () => pool.createContainer(5n as never));
  await refused('createContainer(2n**64n)', () => pool.createContainer((2n ** 64n) as never));
  await refused('createContainer(label, { oclass: 5n })', () => pool.createContainer('b1', { oclass: 5n } as never));
  await refused('createContainer(label, { redundancyFactor: 2n })', () => pool.createContainer('b2', { redundancyFactor: 2n } as never));
  await refused('createContainer(label, { cellSize: 4096n })', () => pool.createContainer('b3', { cellSize: 4096n } as never));
  await refused("createContainer(label, { checksum: 'no' })", () => pool.createContainer('b4', { checksum: 'no' } as never));
  assert.equal(await containersNow(), before, 'nothing half-created');
});

test('array.write with null, a function or a number as data', async () => {
  const arr = cont.array('arr');
  for (const d of [null, undefined, () => 1, 5, {}, [1, 2]]) await refused(`array.write(0, ${typeof d})`, () => arr.write(0, d as never));
  assert.equal(await arr.read(0, 5000), new Uint8Array(5000).fill(3), 'the array is unchanged');
});

test('rollback(null), destroySnapshot(undefined) and other non-names', async () => {
  for (const s of [null, undefined, 5, 5n, {}, true]) {
    await refused(`rollback(${String(s)})`, () => cont.rollback(s as never));
    await refused(`destroySnapshot(${String(s)})`, () => cont.destroySnapshot(s as never));
  }
  assert.equal(cont.listSnapshots().map((s) => s.name), ['s1'], 'the snapshot is still there');
});

test('fetch with { snapshot: null } or an epoch beyond 2^64-1', async () => {
  const o = cont.object('o');
  await refused('fetch({ snapshot: null })', () => o.fetch('d', 'a', { snapshot: null } as never));
  await refused('fetch({ snapshot: 5n })', () => o.fetch('d', 'a', { snapshot: 5n } as never));
  await refused('fetch({ epoch: 2n**64n })', () => o.fetch('d', 'a', { epoch: 2n ** 64n }));
  await refused('fetch({ epoch: -1n })', () => o.fetch('d', 'a', { epoch: -1n }));
  await refused('fetch({ epoch: 5 })', () => o.fetch('d', 'a', { epoch: 5 } as never));
  assert.equal(new TextDecoder().decode(await o.fetch('d', 'a')), 'value');
});

test('array.read(0, 2**40) and other impossible ranges', async () => {
  const arr = cont.array('arr');
  await refused('array.read(0, 2**40)', () => arr.read(0, 2 ** 40), ['INVALID_ARGUMENT', 'VALUE_TOO_LARGE']);
  for (const [o, n] of [[-1, 5], [0, -1], [NaN, 5], [0, Infinity], [2 ** 53, 1], [1.5, 2]]) {
    await refused(`array.read(${o}, ${n})`, () => arr.read(o!, n!));
  }
});

test("watch({ from: true }) and other non-epochs", async () => {
  for (const from of [true, 'x', -5n, 2n ** 64n, 5]) await refused(`watch({ from: ${String(from)} })`, () => cont.watch({ from } as never));
});

test('Pool.create with scmBytes 1e15 (and other impossible sizes): refused, nothing left behind', async () => {
  for (const [i, over] of ([{ scmBytes: 1e15 }, { dataBytes: 1e18 }, { scmBytes: -1 }, { scmBytes: 2 ** 20 + 0.5 }, { nodes: 2 ** 40 }] as const).entries()) {
    const dir = path.join(root, `create-${i}`);
    await refused(`Pool.create(${JSON.stringify(over)})`, () => Pool.create(dir, { ...SHAPE, ...over }));
    assert.not.ok(fs.existsSync(dir), `${JSON.stringify(over)}: no pool directory left`);
  }
});

test('the pool works afterwards', async () => {
  const c = await pool.openContainer('c');
  await c.object('o').update('d', 'a', 'after');
  assert.equal(new TextDecoder().decode(await c.object('o').fetch('d', 'a')), 'after');
  const { dirs, listed } = await containersNow();
  assert.equal(dirs, listed);
});

test.run();
