/**
 * A transaction open while an engine restarts: the restarted engine cannot know how far its
 * stores were aggregated before it started, so it refuses the transaction's later reads at the
 * old read epoch (TX_RESTART) instead of answering them; a transaction begun after the restart
 * reads as usual. Real etcd and a real engine process, killed with SIGKILL and started again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import { rejectsWith, text } from '../helpers/tmp.js';

const t = suite('engine/tx-across-restart');
const cluster = await Cluster.start({ engines: 1, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000 });
const p = await cluster.connect();

t('a transaction\'s reads after its engine restarted are TX_RESTART; a new transaction reads', async () => {
  const c = await p.createContainer('across', { oclass: 'S1' });
  await c.object('x').update('d', 'a', 'v');
  const tx = c.beginTx();
  assert.is(text(await tx.object('x').fetch('d', 'a')), 'v', 'read before the restart');
  await cluster.kill(0);
  await cluster.startEngine(0);
  // (until the client has found the engine again, reads fail as an unreachable shard's do)
  const deadline = Date.now() + 30_000;
  for (;;) {
    try { assert.is(text(await c.object('x').fetch('d', 'a')), 'v'); break; } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await rejectsWith(tx.object('x').fetch('d', 'a'), 'TX_RESTART');
  await tx.abort();
  const again = c.beginTx();
  assert.is(text(await again.object('x').fetch('d', 'a')), 'v', 'a transaction begun after the restart');
  await again.abort();
});

t.after(async () => { await p.close(); await cluster.stop(); });
t.run();
