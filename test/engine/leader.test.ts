/**
 * Leadership moves (issue 7): the engines' leader runs exclusion and rebuild. SIGKILL the leader
 * itself: another engine is elected, excludes the dead leader's targets once its lease expires,
 * and rebuilds them; every value written before is read back, degraded and after rebuild.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Cluster, until } from '../helpers/cluster.js';
import type { Pool } from '../../src/pool/pool.js';

const t = suite('leader');
let cluster: Cluster;
let pool: Pool;
t.before(async () => {
  cluster = await Cluster.start({ engines: 4, targetsPerEngine: 1, leaseTtl: 2, excludeDelayMs: 300 });
  pool = await cluster.connect();
});
t.after(async () => { await pool?.close(); await cluster?.stop(); });

t('the leader is killed: a new leader excludes it and rebuilds its shards', async () => {
  const c = await pool.createContainer('l', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const values = new Map<string, Buffer>();
  for (let i = 0; i < 40; i++) { const v = randomBytes(300 + i); values.set(`o${i}`, v); await c.object(`o${i}`).update('d', 'a', v); }
  const leader = cluster.engines[0]!;
  assert.ok(leader.log.join('').includes('leader'), 'the first engine leads');
  await cluster.kill(0);
  for (const [k, v] of values) assert.ok(Buffer.from((await c.object(k).fetch('d', 'a'))!).equals(v), `${k} degraded`);
  await until(() => pool.query().targets.filter((x) => x.rank === leader.rank).every((x) => x.state !== 'UPIN'), 20_000, 'the new leader to exclude the old one');
  await pool.waitForRebuild();
  assert.ok(pool.query().targets.filter((x) => x.rank === leader.rank).every((x) => x.state === 'DOWNOUT'));
  const newLeader = cluster.engines.filter(Boolean).find((e) => e!.log.join('').includes('leader'));
  assert.ok(newLeader, 'another engine took the lead');
  for (const [k, v] of values) assert.ok(Buffer.from((await c.object(k).fetch('d', 'a'))!).equals(v), `${k} after rebuild`);
});

t.run();
