/**
 * Two-phase commit across engines (issue 7): transactions that each write one dkey into several
 * objects (spread over every engine) run concurrently while an engine is SIGKILLed mid-commit.
 * After the engine restarts and settles its prepared writes through etcd, every transaction is
 * wholly committed or wholly absent, and every acknowledged one is present. The leader's automatic
 * exclusion is pushed out (60 s) so that the engine comes back into the same map.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster, until } from '../helpers/cluster.js';
import { text } from '../helpers/tmp.js';
import type { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';

const t = suite('two-phase commit');
let cluster: Cluster;
let pool: Pool;
const OBJECTS = 6;

t.before(async () => {
  cluster = await Cluster.start({ engines: 4, targetsPerEngine: 1, leaseTtl: 2, excludeDelayMs: 60_000, txTimeoutMs: 1500 });
  pool = await cluster.connect();
});
t.after(async () => {
  await pool?.close();
  await cluster?.stop();
});

t('an engine killed mid-commit leaves every transaction all or nothing', async () => {
  const c = await pool.createContainer('tx', { oclass: 'RP_2G1', redundancyFactor: 1 });
  // Make sure the objects really span engines.
  const ranks = new Set<number>();
  for (let o = 0; o < OBJECTS; o++) for (const g of containerPort(c).layout(c.object(`obj${o}`).oid).groups) for (const tg of g) ranks.add(pool.query().targets[tg]!.rank);
  assert.ok(ranks.size >= 3, `objects span ${ranks.size} engines`);

  const acked = new Set<number>();
  const failed = new Set<number>();
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const i = next++;
      const tx = c.beginTx();
      try {
        for (let o = 0; o < OBJECTS; o++) await tx.object(`obj${o}`).update(`t${i}`, 'a', `value-${i}`);
        await tx.commit();
        acked.add(i);
      } catch {
        failed.add(i);
        await tx.abort().catch(() => {});
      }
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  // Kill once the load is well under way (however fast this machine is).
  await until(() => acked.size >= 20, 30_000, 'twenty committed transactions');
  await cluster.kill(1);
  await new Promise((r) => setTimeout(r, 400));
  stop = true;
  await Promise.all(workers);
  assert.ok(acked.size > 10, `only ${acked.size} transactions committed before the kill`);
  assert.ok(failed.size > 0, 'some transactions met the dead engine');

  await cluster.startEngine(1);
  // Wait until the restarted engine settled its prepared writes and the survivors timed out theirs.
  await new Promise((r) => setTimeout(r, 2500));
  let whole = 0, absent = 0;
  for (let i = 0; i < next; i++) {
    const seen: Array<string | undefined> = [];
    for (let o = 0; o < OBJECTS; o++) seen.push(text(await c.object(`obj${o}`).fetch(`t${i}`, 'a')));
    const present = seen.filter((v) => v === `value-${i}`).length;
    assert.ok(seen.every((v) => v === undefined || v === `value-${i}`), `tx ${i}: wrong bytes ${JSON.stringify(seen)}`);
    assert.ok(present === 0 || present === OBJECTS, `tx ${i} is torn: ${present}/${OBJECTS} objects`);
    if (acked.has(i)) assert.is(present, OBJECTS, `acknowledged tx ${i} is missing`);
    if (present) whole++; else absent++;
  }
  assert.ok(whole >= acked.size && whole + absent === next);
});

t.run();
