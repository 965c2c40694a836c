/**
 * An engine's target stores (`EngineStores`): a commit's prepared marks are settled on the targets
 * its writes went to (the target bits of each epoch, `Prepared.targets`), and on every target
 * when they are not known; a target is never handed an epoch of another.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { EngineStores } from '../../src/engine/stores.js';
import { ALL_TARGETS, targetBit } from '../../src/engine/txn.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('stores');
const C = '0f9c2d2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
const MIB = 1024 * 1024;

/** Two targets (ids 4 and 9) of one engine, container C open on both. */
async function twoTargets(): Promise<EngineStores> {
  const dir = tmpDir();
  const stores = new EngineStores(new Map([[4, join(dir, 't0')], [9, join(dir, 't1')]]), { scmBytes: 16 * MIB, dataBytes: 16 * MIB, durable: false });
  await stores.openAll();
  for (const tgt of [4, 9]) await stores.container(tgt, C);
  return stores;
}

/** The prepared epochs each target holds, by target id. */
async function marks(stores: EngineStores): Promise<Record<number, string[]>> {
  const out: Record<number, string[]> = {};
  for (const tgt of [4, 9]) out[tgt] = (await stores.target(tgt)).preparedEpochs().map((x) => String(x.epoch)).sort();
  return out;
}

/** Let the settles started by `settle` land (they run on the store's own promise). */
const landed = () => new Promise((r) => setTimeout(r, 20));

t.before(async () => { await initXxhash(); });

t('each target settles the epochs written there; unknown targets settle everywhere', async () => {
  const stores = await twoTargets();
  try {
    const a = stores.cached(4, C)!, b = stores.cached(9, C)!;
    for (const e of [10n, 12n, 13n]) await a.markPrepared(e);
    for (const e of [11n, 12n, 14n]) await b.markPrepared(e);
    assert.equal(await marks(stores), { 4: ['10', '12', '13'], 9: ['11', '12', '14'] });
    const t0 = targetBit(0), t1 = targetBit(1);
    // 13 names the other target only: it stays on target 4 (each target gets its own epochs).
    stores.settle(C, [10n, 11n, 12n, 13n], [t0, t1, t0 | t1, t1]);
    await landed();
    assert.equal(await marks(stores), { 4: ['13'], 9: ['14'] });
    stores.settle(C, [13n, 14n], [ALL_TARGETS, ALL_TARGETS]);
    await landed();
    assert.equal(await marks(stores), { 4: [], 9: [] }, 'epochs of unknown targets are settled on every target');
  } finally {
    await stores.close();
  }
});

t('a settle without target bits goes to every target (as before them)', async () => {
  const stores = await twoTargets();
  try {
    await stores.cached(4, C)!.markPrepared(20n);
    await stores.cached(9, C)!.markPrepared(21n);
    stores.settle(C, [20n, 21n]);
    await landed();
    assert.equal(await marks(stores), { 4: [], 9: [] });
  } finally {
    await stores.close();
  }
});

t('target bits: one per index below MAX_TARGET_BITS, every target past it', () => {
  assert.is(targetBit(0), 1);
  assert.is(targetBit(5), 32);
  assert.is(targetBit(29), 1 << 29);
  assert.is(targetBit(30), ALL_TARGETS);
  assert.is(targetBit(63), ALL_TARGETS);
});

t.run();
