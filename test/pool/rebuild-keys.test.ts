/**
 * Rebuild finds every key of a sparse EC object. A short array write reaches one data role and the
 * p parity roles of its dkey (p + 1 of the group's shards, which ones rotating with the dkey), so
 * the rebuild's key listing (dkeys from enough healthy shards to meet every key, akeys from one
 * parity holder) is tested where it is tightest: after each of two failures every dkey, array and
 * single value reads back exactly, from the rebuilt shards (the map is promoted, so reads of a
 * data cell go to its rebuilt shard directly, and a key the rebuild missed would read as a hole).
 * With rotation the dkeys are listed on one healthy parity position of every rotation (3 of the 5
 * healthy shards of a 4+2 group); without it on one healthy parity shard alone: both are tested.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { targetsOf } from './rebuild-model.js';

const t = suite('rebuild key discovery');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const CELL = 4096;
const K = 4;
const DKEYS = 36;

for (const rotation of ['per-dkey', 'none'] as const) t(`sparse EC object (each dkey one short extent, parity rotation ${rotation}): two failures rebuilt, every key reads back`, async () => {
  const root = tmpDir('cairn-rebuild-keys-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: CELL, parityRotation: rotation });
    assert.is(c.props.parityRotation, rotation === 'none' ? undefined : rotation);
    const obj = c.object('sparse', { oclass: 'EC_4P2G1' });
    const rng = new Rng(14);
    const arrays = new Map<string, { index: number; data: Uint8Array }>();
    const singles = new Map<string, Uint8Array>();
    for (let i = 0; i < DKEYS; i++) {
      const dkey = `d${i}`;
      // Inside data cell (i % K) of stripe 0: one data role and the parity roles of this dkey.
      const index = (i % K) * CELL + rng.int(CELL - 64);
      const data = rng.bytes(1 + rng.int(63));
      await obj.update(dkey, 'arr', { recx: { index, count: data.length }, data });
      arrays.set(dkey, { index, data });
      if (i % 3 === 0) {
        const v = rng.bytes(1 + rng.int(3000));
        await obj.update(dkey, 'one', v);
        singles.set(dkey, v);
      }
    }
    const check = async (when: string) => {
      for (const [dkey, { index, data }] of arrays) {
        const back = await obj.fetch(dkey, 'arr', { recx: { index, count: data.length } });
        assert.ok(back !== undefined && Buffer.compare(Buffer.from(back), Buffer.from(data)) === 0, `${when}: ${dkey}/arr reads back`);
      }
      for (const [dkey, v] of singles) {
        const back = await obj.fetch(dkey, 'one');
        assert.ok(back !== undefined && Buffer.compare(Buffer.from(back), Buffer.from(v)) === 0, `${when}: ${dkey}/one reads back`);
      }
      let listed = 0;
      for await (const _ of obj.listDkeys()) listed++;
      assert.is(listed, DKEYS, `${when}: every dkey listed`);
    };
    await check('before');
    const first = targetsOf(c, 'sparse', 'EC_4P2G1');
    // Two members at different positions, one after the other, each rebuilt before the next fails.
    for (const victim of [first[1]!, first[4]!]) {
      await pool.exclude(victim);
      await pool.waitForRebuild();
      const st = pool.rebuildStatus();
      assert.is(st.state, 'idle');
      assert.is(st.lost.length, 0, 'nothing lost');
      assert.ok(st.bytes > 0, 'the lost shard was rebuilt');
      assert.not.ok(targetsOf(c, 'sparse', 'EC_4P2G1').includes(victim), 'the object left the failed target');
      await check(`after losing target ${victim}`);
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
