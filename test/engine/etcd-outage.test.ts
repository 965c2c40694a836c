/**
 * etcd goes away for longer than the engines' lease TTL and comes back: every engine notices its
 * lease was lost, registers again, and the pool keeps serving the data written before (no engine
 * is excluded for it: the exclusion delay is longer than the outage's aftermath).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, until } from '../helpers/cluster.js';
import { Etcd } from '../../src/net/etcd.js';
import { text } from '../helpers/tmp.js';

const t = suite('etcd-outage');

t('engines register again after an etcd outage longer than their lease', async () => {
  const cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 2, excludeDelayMs: 8_000 });
  try {
    const pool = await cluster.connect();
    const c = await pool.createContainer('o', { oclass: 'RP_2G1', redundancyFactor: 1 });
    await c.object('x').update('d', 'a', 'before');
    await pool.close();
    await cluster.etcdOutage(4000);
    const etcd = await Etcd.connect(cluster.etcdUrl);
    try {
      await until(async () => (await etcd.getPrefix(`/cairn/pools/${cluster.pool}/engines/`)).length === 3, 30_000, 'all engines registered again');
    } finally {
      await etcd.close();
    }
    const again = await cluster.connect();
    try {
      const c2 = await again.openContainer('o');
      assert.is(text(await c2.object('x').fetch('d', 'a')), 'before');
      await c2.object('x').update('d', 'a', 'after');
      assert.is(text(await c2.object('x').fetch('d', 'a')), 'after');
      assert.ok(again.query().targets.every((x) => x.state === 'UPIN'));
      // Someone leads again: a killed engine is still excluded automatically.
      await cluster.kill(2);
      await until(() => again.query().targets.some((x) => x.state !== 'UPIN'), 45_000, 'exclusion by a leader elected after the outage');
      assert.is(text(await c2.object('x').fetch('d', 'a')), 'after');
    } finally {
      await again.close();
    }
  } finally {
    await cluster.stop();
  }
});

t.run();
