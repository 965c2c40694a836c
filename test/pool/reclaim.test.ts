/**
 * Reclaim after a rebalance: a shard moved off a target that stays in service (an extend's moves,
 * a reintegration's moves off the spares) leaves a copy nothing reads. Once the move is the layout
 * of record the pool punches those copies, so aggregation frees their space, and nothing any
 * layout places on a target is touched: every value reads back, now and at a snapshot older than
 * the move. Real files, a 16-target pool (4 nodes x 2 ranks x 2 targets).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { splitUnitOid } from '../../src/io/shard-store.js';
import { REBUILD_RECLAIM_ENV } from '../../src/pool/reclaim.js';
import type { Container } from '../../src/index.js';
import { Rng } from '../../core/rng.js';
import { readJsonRecord } from '../../core/record-file.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('reclaim');
const root = tmpDir('cairn-reclaim-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 32 << 20, dataBytes: 128 << 20 };
const ARRAYS = 48;
const ARRAY_BYTES = 256 * 1024;

/** Fill `c`: EC arrays and replicated small values; returns what each holds. */
async function fill(c: Container, rng: Rng): Promise<{ arrays: Map<string, Uint8Array>; values: Map<string, Uint8Array> }> {
  const arrays = new Map<string, Uint8Array>(), values = new Map<string, Uint8Array>();
  for (let i = 0; i < ARRAYS; i++) {
    const bytes = rng.bytes(ARRAY_BYTES);
    await c.array(`a${i}`).write(0, bytes);
    arrays.set(`a${i}`, bytes);
    const v = rng.bytes(1 + rng.int(2000));
    await c.kv(`k${i}`, { oclass: 'RP_3G1' }).put('v', v);
    values.set(`k${i}`, v);
  }
  return { arrays, values };
}

/** A new pool `name` under the test's root with container 'c' filled (`fill`, seeded by `seed`). */
async function filledPool(name: string, seed: number): Promise<{ dir: string; pool: Pool; c: Container; held: Awaited<ReturnType<typeof fill>> }> {
  const dir = join(root, name);
  const pool = await Pool.create(dir, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
  return { dir, pool, c, held: await fill(c, new Rng(seed)) };
}

/** Every array and value reads back (at snapshot `snapshot` when given). */
async function verify(c: Container, { arrays, values }: Awaited<ReturnType<typeof fill>>, where: string, snapshot?: string): Promise<void> {
  const at = snapshot === undefined ? {} : { snapshot };
  for (const [name, bytes] of arrays) {
    const got = await c.array(name).read(0, bytes.length, at);
    assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(bytes)) === 0, `${where}: array ${name} reads other bytes`);
  }
  for (const [name, v] of values) {
    const got = await c.kv(name, { oclass: 'RP_3G1' }).get('v', at);
    assert.ok(got !== undefined && Buffer.compare(Buffer.from(got), Buffer.from(v)) === 0, `${where}: value ${name} ${got === undefined ? 'is missing' : 'reads other bytes'}`);
  }
}

/** Unit objects on in-service targets that the layout places elsewhere yet still show content now. */
async function strayCopies(pool: Pool, c: Container): Promise<number> {
  const port = containerPort(c);
  const epoch = port.readEpoch();
  let n = 0;
  for (const tg of pool.query().targets) {
    if (tg.state !== 'UPIN') continue;
    const store = await port.io().store(tg.id);
    for await (const u of store.listObjectIds()) {
      const { oid, shard } = splitUnitOid(u);
      const groups = port.layout(oid).groups;
      if (groups[Math.floor(shard / groups[0]!.length)]![shard % groups[0]!.length] === tg.id) continue;
      for await (const _ of store.listDkeys(epoch, u)) { n++; break; }
    }
  }
  return n;
}

/** Bytes of the data files the container's stores use on targets `ids`. */
async function dataUsed(c: Container, ids: number[]): Promise<number> {
  let n = 0;
  for (const id of ids) n += (await containerPort(c).io().store(id)).usage().dataUsed;
  return n;
}

t('extend: the copies left on the old targets are punched once the move is promoted, and aggregation frees their space', async () => {
  const { pool, c, held } = await filledPool('extend', 70);
  try {
    await c.snapshot('before');
    const old = pool.query().targets.map((x) => x.id);
    const usedBefore = await dataUsed(c, old);

    const added = await pool.extend({ nodes: 1 });
    await pool.waitForRebuild();
    assert.is(await strayCopies(pool, c), 0, 'a moved shard still shows content on the target it left');
    const movedBytes = await dataUsed(c, added);
    assert.ok(movedBytes > ARRAY_BYTES, `the extend moved data onto the new targets (${movedBytes} bytes)`);

    // (aggregation keeps what the newest epoch can see: a commit after the punches, then aggregate)
    await c.kv('after', { oclass: 'RP_3G1' }).put('v', new Uint8Array([1]));
    await c.destroySnapshot('before');
    await c.aggregate();
    const usedAfter = await dataUsed(c, old);
    assert.ok(usedBefore - usedAfter >= movedBytes / 2, `the old targets freed ${usedBefore - usedAfter} bytes of the ${movedBytes} moved off them`);
    await verify(c, held, 'after the extend');
  } finally {
    await pool.close();
  }
});

t('a snapshot older than the move reads the same after the reclaim, and after reopen', async () => {
  const made = await filledPool('snapshot', 71);
  const { dir, c, held } = made;
  let pool = made.pool;
  await c.snapshot('before');
  // what changes after the snapshot: the snapshot must still read the old bytes
  const later = await fill(c, new Rng(72));
  await pool.extend({ nodes: 1 });
  await pool.waitForRebuild();
  assert.is(await strayCopies(pool, c), 0, 'a moved shard still shows content on the target it left');
  await c.aggregate();
  await verify(c, held, 'at the snapshot', 'before');
  await verify(c, later, 'now');
  await pool.close();
  pool = await Pool.open(dir);
  try {
    const c2 = await pool.openContainer('c');
    await verify(c2, held, 'at the snapshot, reopened', 'before');
    await verify(c2, later, 'now, reopened');
  } finally {
    await pool.close();
  }
});

t('a reclaim owed when the process stopped runs when the pool is opened again (a target owed one that left service is dropped from the list)', async () => {
  const made = await filledPool('owed', 74);
  const { dir, c, held } = made;
  let pool = made.pool;
  // the promotion records the reclaim it owes; this process stops before running it
  process.env[REBUILD_RECLAIM_ENV] = '0';
  try {
    await pool.extend({ nodes: 1 });
    await pool.waitForRebuild();
    assert.ok(await strayCopies(pool, c) > 0, 'the extend left copies on the old targets (reclaim off)');
    const owed = await readJsonRecord<{ reclaim?: number[] }>(join(dir, 'rebuild.state'), 'CAIRNRBD', 1, 'rebuild state');
    assert.ok((owed.reclaim ?? []).length > 0, 'rebuild.state names the targets owed a reclaim');
    // one of them leaves service meanwhile: nothing to reclaim there (a reintegration wipes it)
    await pool.exclude(owed.reclaim![0]!);
    await pool.waitForRebuild();
  } finally {
    delete process.env[REBUILD_RECLAIM_ENV];
  }
  await pool.close();
  pool = await Pool.open(dir);
  try {
    await pool.waitForRebuild();
    const c2 = await pool.openContainer('c');
    assert.is(await strayCopies(pool, c2), 0, 'the reopened pool did not reclaim the copies it owed');
    await verify(c2, held, 'after the reclaim at reopen');
  } finally {
    await pool.close();
  }
  // done once: the next open owes nothing (the list in rebuild.state is empty)
  const state = await readJsonRecord<{ reclaim?: number[] }>(join(dir, 'rebuild.state'), 'CAIRNRBD', 1, 'rebuild state');
  assert.equal(state.reclaim, [], 'rebuild.state still lists targets owed a reclaim');
  pool = await Pool.open(dir);
  try {
    assert.is(pool.rebuildStatus().state, 'idle');
    const c3 = await pool.openContainer('c');
    await verify(c3, held, 'reopened again');
  } finally {
    await pool.close();
  }
});

t('reintegrate: the copies the rebuild put on spares are punched once the shards are back', async () => {
  const { pool, c, held } = await filledPool('reintegrate', 73);
  try {
    await pool.exclude(5);
    await pool.waitForRebuild();
    await pool.reintegrate(5);
    await pool.waitForRebuild();
    assert.is(await strayCopies(pool, c), 0, 'a spare still shows the copy of a shard moved back to target 5');
    await verify(c, held, 'after the reintegration');
    // the reintegrated target holds its shards again: reads with it alone failed still work
    await pool.exclude(6);
    await pool.waitForRebuild();
    await verify(c, held, 'after another target failed');
  } finally {
    await pool.close();
  }
});

t.run();
