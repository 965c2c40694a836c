/**
 * Rebuild reads each source value straight from the version its object pass found
 * (src/vos/bulk-read.ts); a value that fails its checksum there is read once more the ordinary
 * way and, failing again, its shard counts as missing and the other shards decode the step. Here
 * every value of one healthy source target is damaged while another target of the same EC group
 * is rebuilt: the rebuild must route around it (nothing lost), and the shard it wrote must hold the
 * right bytes (the damaged target is then excluded too, so reads and the second rebuild depend on
 * the first rebuild's shard). Real pool files throughout.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { swallowedCounts } from '../../core/log.js';
import { tmpDir } from '../helpers/tmp.js';
import { Model, fill, verify, targetsOf, damageValues } from './rebuild-model.js';

const t = suite('rebuild sources');
const root = tmpDir('cairn-rebuild-sources-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };

t('every value of a healthy source fails its checksum: the rebuild reads around it and its shard holds the right bytes', async () => {
  const dir = join(root, 'bad-source');
  let pool = await Pool.create(dir, SHAPE);
  let c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
  const m = new Model();
  await fill(c, m, 41, 6, 400 * 1024);
  const [victim, bad] = targetsOf(c, 'obj-0', 'EC_4P2G1');
  await pool.close();
  assert.ok(damageValues(dir, bad!, 4096) > 100, 'values of the source were damaged');
  pool = await Pool.open(dir);
  c = await pool.openContainer('c');
  const before = swallowedCounts();
  await pool.exclude(victim!);
  await pool.waitForRebuild();
  assert.equal(pool.rebuildStatus().lost, [], 'nothing lost: the other shards decode what the damaged one cannot supply');
  assert.is(pool.rebuildStatus().state, 'idle');
  const after = swallowedCounts();
  const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  assert.ok(delta('migrate.scanned-version-changed-read-again') > 0, 'a direct read failed its checksum and was read again');
  assert.ok(delta('migrate.cells-unreadable-count-missing') > 0, 'the damaged source counted as missing');
  // The damaged target out as well: reads of obj-0 (and the second rebuild) now need the shard the first rebuild wrote.
  await pool.exclude(bad!);
  await pool.waitForRebuild();
  assert.equal(pool.rebuildStatus().lost, []);
  const { checked } = await verify(c, m);
  assert.ok(checked > 0);
  await pool.close();
  pool = await Pool.open(dir);
  await verify(await pool.openContainer('c'), m);
  await pool.close();
});

t.run();
