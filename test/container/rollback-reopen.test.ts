/**
 * Rollback and reopening: a rollback that finished is not finished again by the opens after it
 * (each would append a discard record and a tombstone on every target, for as long as the rollback
 * stayed the journal's last record), and one cut short is finished by the next read-write open,
 * once.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { TargetStore } from '../../src/vos/store.js';
import { tmpDir, text } from '../helpers/tmp.js';

const SHAPE = { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 };

/** Discards the target stores appended (every container, every target) since the last `take`. */
let discards = 0;
/** When set: the discard that makes `discards` reach it fails (a rollback cut short). */
let failAt: number | undefined;
const logDiscard = TargetStore.prototype.logDiscard;
TargetStore.prototype.logDiscard = function (this: TargetStore, ...args: Parameters<TargetStore['logDiscard']>) {
  discards++;
  if (failAt !== undefined && discards === failAt) return Promise.reject(new Error('injected: discard failed'));
  return logDiscard.apply(this, args);
};
function take(): number { const n = discards; discards = 0; return n; }

const t = suite('container rollback and reopen');
const dir = tmpDir();

/** Open the pool at `path` and its container `label`, run `fn`, close the pool. */
async function withContainer<T>(path: string, label: string, fn: (c: Awaited<ReturnType<Pool['openContainer']>>) => Promise<T>): Promise<T> {
  const pool = await Pool.open(path);
  try { return await fn(await pool.openContainer(label)); } finally { await pool.close(); }
}

t('a finished rollback is not done again by later opens', async () => {
  const path = join(dir, 'finished');
  const pool = await Pool.create(path, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  await c.object('o').update('d', 'k', 'v1');
  await c.snapshot('s1');
  await c.object('o').update('d', 'k', 'v2');
  await c.snapshot('s2');
  take();
  await c.rollback('s1');
  assert.ok(take() > 0, 'the rollback discards on the targets holding the container');
  await pool.close();
  for (let open = 1; open <= 3; open++) {
    await withContainer(path, 'c', async (c2) => {
      assert.is(take(), 0, `open ${open} appends no discard`);
      assert.is(text(await c2.object('o').fetch('d', 'k')), 'v1');
      assert.equal(c2.listSnapshots().map((s) => s.name), ['s1']);
    });
  }
  // writes after it still get epochs above everything before
  await withContainer(path, 'c', async (c2) => {
    await c2.object('o').update('d', 'k', 'v3');
    assert.is(text(await c2.object('o').fetch('d', 'k')), 'v3');
    assert.is(text(await c2.object('o').fetch('d', 'k', { snapshot: 's1' })), 'v1');
  });
  assert.is(take(), 0);
});

t('a rollback cut short is finished by the next open, and only by that one', async () => {
  const path = join(dir, 'cut');
  const pool = await Pool.create(path, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  const objects = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const o of objects) await c.object(o).update('d', 'k', `${o}1`);
  await c.snapshot('s1');
  for (const o of objects) await c.object(o).update('d', 'k', `${o}2`);
  await c.snapshot('s2');
  take();
  failAt = 2; // the first target discards, the second fails: the rest never start
  try {
    await c.rollback('s1').then(() => assert.unreachable('the rollback failed'), (err: Error) => assert.match(err.message, /injected/));
  } finally { failAt = undefined; }
  take();
  await pool.close();
  await withContainer(path, 'c', async (c2) => {
    assert.ok(take() > 0, 'the open finishes the rollback');
    for (const o of objects) assert.is(text(await c2.object(o).fetch('d', 'k')), `${o}1`, `object ${o} rolled back`);
    assert.equal(c2.listSnapshots().map((s) => s.name), ['s1'], 'the snapshot after the rollback\'s target is gone');
  });
  await withContainer(path, 'c', async (c2) => {
    assert.is(take(), 0, 'the next open finds it finished');
    for (const o of objects) assert.is(text(await c2.object(o).fetch('d', 'k')), `${o}1`);
  });
});

t.after(() => { TargetStore.prototype.logDiscard = logDiscard; });
t.run();
