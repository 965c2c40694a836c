/**
 * Bad input to the pool-level API of embedded pools, found by the pool-argument sweep: each case
 * is refused with a CairnError of the registry code named (never accepted and ignored, never a
 * raw Node error or an internal assertion), before anything is created or changed, and the pool
 * works afterwards. Misspelt options, a pool used after close, a rebuild cut short by close, a
 * damaged pool directory, and a clock given as `now` that returns no usable time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool, CairnError, type Container } from '../../index.js';
import { tmpDir } from '../helpers/tmp.js';
import { refused } from '../helpers/refused.js';

const test = suite('api: pool arguments');
const SHAPE = { nodes: 2, ranksPerNode: 1, targetsPerRank: 4, scmBytes: 16 << 20, dataBytes: 64 << 20 };

let root = '';
let pool: Pool;
let cont: Container;


const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));

test.before(async () => {
  root = tmpDir('cairn-poolargs-');
  pool = await Pool.create(path.join(root, 'pool'), SHAPE);
  cont = await pool.createContainer('c', { oclass: 'RP_2G1', redundancyFactor: 1 });
  await cont.object('o').update('d', 'a', 'value');
});

test.after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('a misspelt or unknown option is refused, not ignored (nothing created, nothing changed)', async () => {
  for (const [i, over] of ([{ node: 3 }, { targetPerRank: 2 }, { bogus: 1 }, { readonly: true }] as const).entries()) {
    const dir = path.join(root, `create-${i}`);
    await refused(`Pool.create(${JSON.stringify(over)})`, () => Pool.create(dir, { ...SHAPE, ...over } as never), 'INVALID_ARGUMENT');
    assert.not.ok(fs.existsSync(dir), `${JSON.stringify(over)}: no pool directory left`);
  }
  // the open options still reach the open of a new pool
  const ok = await Pool.create(path.join(root, 'create-ok'), { ...SHAPE, io: 'pread', durable: true });
  await ok.close();
  await refused('Pool.open with the shape of Pool.create', () => Pool.open(path.join(root, 'create-ok'), { nodes: 2 } as never), 'INVALID_ARGUMENT');
  await refused('Pool.open({ readonly: true })', () => Pool.open(path.join(root, 'create-ok'), { readonly: true } as never), 'INVALID_ARGUMENT');

  const containers = fs.readdirSync(path.join(pool.dir, 'containers')).sort();
  // (was: a container of the default class S1, without the redundancy asked for)
  await refused("createContainer({ oclas: 'RP_2G1' })", () => pool.createContainer('typo', { oclas: 'RP_2G1', redundancyFactor: 1 } as never), 'INVALID_ARGUMENT');
  await refused('createContainer({ rf: 1 })', () => pool.createContainer('typo', { rf: 1 } as never), 'INVALID_ARGUMENT');
  assert.equal(fs.readdirSync(path.join(pool.dir, 'containers')).sort(), containers, 'no container created');
  assert.equal((await pool.listContainers()).map((c) => c.label), ['c']);

  const version = pool.map.version;
  await refused('extend({ nodes: 1, targetsPerNode: 2 })', () => pool.extend({ nodes: 1, targetsPerNode: 2 } as never), 'INVALID_ARGUMENT');
  assert.is(pool.map.version, version, 'the map is unchanged');
  assert.is(pool.map.targets.length, 8);
  await refused('scrub({ onprogress })', () => pool.scrub({ onprogress: () => undefined } as never), 'INVALID_ARGUMENT');
});

test('setRebuildBudget: a misspelt name, null or an array is refused (each lifted the limit without a word)', async () => {
  pool.setRebuildBudget({ bytesPerSecond: 8 << 20 });
  for (const o of [{ bps: 5 }, { bytesPerSec: 1 << 20 }, { bytesPerSecond: 1 << 20, burst: 1 }, { bytesPerSecond: null }, [], [1 << 20]]) {
    await refused(`setRebuildBudget(${JSON.stringify(o)})`, () => pool.setRebuildBudget(o as never), 'INVALID_ARGUMENT');
  }
  pool.setRebuildBudget({}); // documented: unlimited
  pool.setRebuildBudget({ bytesPerSecond: 0 });
});

test('a closed pool: query, setRebuildBudget and waitForRebuild say POOL_CLOSED; close twice is fine', async () => {
  const dir = path.join(root, 'closed');
  const p = await Pool.create(dir, SHAPE);
  await p.close();
  await refused('query() after close', () => p.query(), 'POOL_CLOSED');
  await refused('setRebuildBudget() after close', () => p.setRebuildBudget({ bytesPerSecond: 0 }), 'POOL_CLOSED');
  await refused('waitForRebuild() after close', () => p.waitForRebuild(), 'POOL_CLOSED');
  await refused('createContainer() after close', () => p.createContainer('x'), 'POOL_CLOSED');
  await p.close();
  await p[Symbol.asyncDispose]();
});

test('waitForRebuild while the pool is closed mid-rebuild: POOL_CLOSED, not "done"; the rebuild resumes at the next open', async () => {
  const dir = path.join(root, 'rebuild');
  let p = await Pool.create(dir, SHAPE);
  const c = await p.createContainer('r', { oclass: 'RP_2G1', redundancyFactor: 1 });
  for (let i = 0; i < 200; i++) await c.object(`o${i}`).update('d', 'a', new Uint8Array(20_000).fill(i));
  p.setRebuildBudget({ bytesPerSecond: 1 << 20 }); // ~4 MiB to move: seconds
  await p.exclude(0);
  const waiting = p.waitForRebuild().then(() => 'resolved', (err: unknown) => err);
  await new Promise((r) => setTimeout(r, 100));
  assert.is(p.rebuildStatus().state, 'running', 'the rebuild is still running at close');
  await p.close();
  const got = await waiting;
  assert.instance(got, CairnError, `waitForRebuild: ${String(got)}`);
  assert.is((got as CairnError).code, 'POOL_CLOSED');
  p = await Pool.open(dir);
  await p.waitForRebuild();
  assert.is(p.query().targets[0]!.state, 'DOWNOUT');
  const r = await p.openContainer('r');
  for (let i = 0; i < 200; i += 37) assert.equal(await r.object(`o${i}`).fetch('d', 'a'), new Uint8Array(20_000).fill(i));
  await p.close();
});

test('a damaged pool directory: container calls give registry codes, not raw ENOTDIR / ENOENT', async () => {
  const dir = path.join(root, 'damaged');
  let p = await Pool.create(dir, SHAPE);
  const uuid = (await p.createContainer('keep')).uuid;
  const containers = path.join(dir, 'containers');
  fs.renameSync(containers, `${containers}.moved`);
  fs.writeFileSync(containers, 'not a directory');
  await refused('createContainer with containers/ a file', () => p.createContainer('x'), 'IO_ERROR');
  await refused('listContainers with containers/ a file', () => p.listContainers(), 'IO_ERROR');
  fs.rmSync(containers);
  fs.renameSync(`${containers}.moved`, containers);
  assert.equal((await p.listContainers()).map((c) => c.label), ['keep'], 'nothing half-created');
  await p.close();
  fs.renameSync(path.join(containers, uuid), path.join(root, 'keep-moved'));
  p = await Pool.open(dir);
  await refused('openContainer of a container whose files are gone', () => p.openContainer('keep'), 'MISSING_FILE');
  await refused('listContainers with a container whose files are gone', () => p.listContainers(), 'MISSING_FILE');
  await p.destroyContainer('keep');
  await p.createContainer('after');
  await p.close();
});

test('a clock (option now) that returns NaN, a negative, a string or a time past 2^64 epochs: INVALID_ARGUMENT, nothing written', async () => {
  for (const [i, now] of [() => NaN, () => -1, () => 'soon', () => 1e300, () => 2 ** 47].entries()) {
    const dir = path.join(root, `clock-${i}`);
    const p = await Pool.create(dir, { ...SHAPE, now: now as never });
    const c = await p.createContainer('c', { oclass: 'RP_2G1' });
    await refused(`update with now = ${String(now)}`, () => c.object('o').update('d', 'a', 'v'), 'INVALID_ARGUMENT');
    // a snapshot is refused, or names an epoch the stores hold (it named one past 2^64 with 1e300)
    const snap = await c.snapshot('s').catch((err: unknown) => err);
    if (snap instanceof Error) assert.is((snap as CairnError).code, 'INVALID_ARGUMENT', String(snap));
    else assert.ok((snap as { epoch: bigint }).epoch < 2n ** 64n, `snapshot epoch ${String((snap as { epoch: bigint }).epoch)}`);
    assert.is(await c.object('o').fetch('d', 'a'), undefined, 'nothing was written');
    await p.close();
    // a good clock works on the same pool afterwards
    const again = await Pool.open(dir);
    const c2 = await again.openContainer('c');
    assert.is(await c2.object('o').fetch('d', 'a'), undefined);
    await c2.object('o').update('d', 'a', 'v');
    assert.is(text(await c2.object('o').fetch('d', 'a')), 'v');
    await again.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the pool works afterwards', async () => {
  const c = await pool.openContainer('c');
  await c.object('o').update('d', 'a', 'after');
  assert.is(text(await c.object('o').fetch('d', 'a')), 'after');
  assert.ok(pool.query().targets.every((t) => t.state === 'UPIN'));
});

test.run();
