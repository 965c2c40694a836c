/**
 * The rebuild model tests with parity rotation on and off side by side (issue 17): one pool, a
 * rotated container and a fixed-roles one filled with the same mix (EC and replicated singles
 * and arrays, overwrites, punches, a snapshot); targets fail, are rebuilt (EC decode maps
 * positions to roles per dkey), drained (copies), and every byte reads back now and at the
 * snapshot; the rebuild budget is honoured while it runs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { tmpDir } from '../helpers/tmp.js';
import { Model, fill, mutate, verify, targetsOf } from './rebuild-model.js';

const t = suite('rebuild with parity rotation');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };

t('rotated and fixed containers: fill, snapshot, mutate, two failures rebuilt, a drain; every byte right now and at the snapshot', async () => {
  const root = tmpDir('cairn-rebuild-rot-');
  const dir = join(root, 'pool');
  let pool = await Pool.create(dir, SHAPE);
  try {
    const conts = [
      { c: await pool.createContainer('rot', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 }), m: new Model(), label: 'rot' },
      { c: await pool.createContainer('fixed', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096, parityRotation: 'none' }), m: new Model(), label: 'fixed' },
    ];
    assert.is(conts[0]!.c.props.parityRotation, 'per-dkey');
    assert.is(conts[1]!.c.props.parityRotation, undefined);
    for (const [i, x] of conts.entries()) {
      await fill(x.c, x.m, 100 + i, 8, 700 * 1024);
      await x.c.snapshot('s');
    }
    const snaps = conts.map((x) => x.m.clone());
    for (const [i, x] of conts.entries()) await mutate(x.c, x.m, 200 + i);
    // Two targets of the EC array's group fail (p = 2): everything is rebuilt by decoding.
    const victims = targetsOf(conts[0]!.c, 'arr-ec', 'EC_4P2G1').slice(1, 3);
    for (const v of victims) await pool.exclude(v);
    await pool.waitForRebuild();
    assert.is(pool.rebuildStatus().lost.length, 0, 'nothing lost');
    for (const [i, x] of conts.entries()) {
      await verify(x.c, x.m);
      await verify(x.c, snaps[i]!, { snapshot: 's' });
    }
    // A drain copies shards off a healthy target (no decode), under a rebuild budget.
    pool.setRebuildBudget({ bytesPerSecond: 64 << 20 });
    const drained = targetsOf(conts[0]!.c, 'arr-ec', 'EC_4P2G1').find((x) => !victims.includes(x))!;
    await pool.drain(drained);
    await pool.waitForRebuild();
    pool.setRebuildBudget({});
    await pool.close();
    pool = await Pool.open(dir);
    for (const [i, x] of conts.entries()) {
      const c = await pool.openContainer(x.label);
      await verify(c, x.m);
      await verify(c, snaps[i]!, { snapshot: 's' });
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t('the rebuild budget holds a rebuild to its rate (bytes read + written per second)', async () => {
  const root = tmpDir('cairn-rebuild-budget-');
  const pool = await Pool.create(join(root, 'pool'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2 });
    const m = new Model();
    const data = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
    for (let i = 0; i < 12; i++) await m.writeArray(c, `big-${i}`, 'EC_4P2G1', 0, data);
    const victim = targetsOf(c, 'big-0', 'EC_4P2G1')[0]!;
    const rate = 4 << 20;
    pool.setRebuildBudget({ bytesPerSecond: rate });
    const t0 = performance.now();
    await pool.exclude(victim);
    await pool.waitForRebuild();
    const secs = (performance.now() - t0) / 1000;
    const st = pool.rebuildStatus();
    // Every rebuilt byte cost k = 4 bytes read plus itself written, all drawn from the budget.
    const moved = st.bytes * 5;
    assert.ok(st.bytes > 0, 'something was rebuilt');
    assert.ok(secs >= (moved / rate) * 0.8 - 0.1, `rebuild of ${st.bytes} bytes (${moved} moved) took ${secs.toFixed(2)} s under ${rate} B/s`);
    await verify(c, m);
    for (const bad of [0, -1, 1000, Number.NaN]) {
      try { pool.setRebuildBudget({ bytesPerSecond: bad }); if (bad !== 0) assert.unreachable(`accepted ${bad}`); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
    }
  } finally {
    await pool.close();
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
