/**
 * The pool cache default (local-backend `DEFAULT_POOL_CACHE_MAX_BYTES`): opened without
 * `cacheBytes`, every target store's verified-block cache may follow its data up to its share of
 * the pool's cap (`TargetOptions.blockCacheMaxBytes`); opened with `cacheBytes`, the stores keep
 * the fixed share they had. The log regions stay those of the default share (an on-disk choice
 * made at create: old pools open as before).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { DEFAULT_POOL_CACHE_BYTES, DEFAULT_POOL_CACHE_MAX_BYTES } from '../../src/pool/local-backend.js';
import type { TargetStore } from '../../src/vos/index.js';

const test = suite('pool cache default');
const MiB = 1024 * 1024;
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-cachedef-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 * MiB, dataBytes: 16 * MiB };

async function storeOf(pool: Pool, t: number): Promise<TargetStore> {
  return (pool as unknown as { backend: { target(t: number): Promise<TargetStore> } }).backend.target(t);
}

test('default: each store may grow its block cache to its share of the cap; with cacheBytes it keeps its share', async () => {
  assert.ok(DEFAULT_POOL_CACHE_MAX_BYTES >= DEFAULT_POOL_CACHE_BYTES, 'the cap is above the default');
  const root = path.join(dir, 'pool');
  const created = await Pool.create(root, SHAPE);
  await created.close();
  for (const cacheBytes of [undefined, 64 * MiB]) {
    const pool = await Pool.open(root, cacheBytes === undefined ? {} : { cacheBytes });
    try {
      const ts = await storeOf(pool, 0);
      const max = (ts as unknown as { blockCacheMax: number }).blockCacheMax;
      if (cacheBytes === undefined) assert.is(max, Math.floor(DEFAULT_POOL_CACHE_MAX_BYTES / 4), 'a quarter of the cap for each of 4 targets');
      else assert.is(max, 0, 'a fixed cache');
      assert.is(ts.verified.bound, (cacheBytes ?? DEFAULT_POOL_CACHE_BYTES) / 4 / 2, 'the block cache starts at half the store share');
      assert.is(ts.geo.walBytes, 4 * MiB, 'log regions of the default share (4 targets)');
    } finally {
      await pool.close();
    }
  }
});

test.run();
