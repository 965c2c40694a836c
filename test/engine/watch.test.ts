/**
 * Following committed epochs across clients of a connected pool: two producers commit while a
 * consumer in a third client watches. The consumer sees every acknowledged commit exactly once,
 * in strictly increasing epoch order, with the object it touched, and reading at an event's epoch
 * shows exactly that commit's value (each event is a consistent, final snapshot).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import { text } from '../helpers/tmp.js';
import type { Pool } from '../../src/pool/pool.js';

const t = suite('watch');
let cluster: Cluster;
let p1: Pool, p2: Pool, consumer: Pool;
t.before(async () => {
  cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000 });
  [p1, p2, consumer] = [await cluster.connect(), await cluster.connect(), await cluster.connect()];
});
t.after(async () => { for (const p of [p1, p2, consumer]) await p?.close(); await cluster?.stop(); });

t('a consumer follows the commits of two other clients in epoch order', async () => {
  const c1 = await p1.createContainer('w', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const c2 = await p2.openContainer('w');
  const cc = await consumer.openContainer('w');
  const from = cc.stableEpoch();
  const acked = new Map<bigint, { name: string; value: string }>();
  const produce = async (c: typeof c1, who: string) => {
    for (let i = 0; i < 30; i++) {
      const name = `${who}-${i % 7}`, value = `${who}:${i}`;
      acked.set(await c.object(name).update('d', 'a', value), { name, value });
    }
  };
  const ac = new AbortController();
  const seen: Array<{ epoch: bigint; objects: bigint[] }> = [];
  const consuming = (async () => {
    try {
      for await (const ev of cc.watch({ from, signal: ac.signal })) seen.push(ev);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ABORTED') throw err;
    }
  })();
  await Promise.all([produce(c1, 'p1'), produce(c2, 'p2')]);
  const deadline = Date.now() + 20_000;
  while ([...acked.keys()].some((e) => !seen.some((s) => s.epoch === e)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  ac.abort();
  await consuming;
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.epoch > seen[i - 1]!.epoch, 'strictly increasing epochs');
  assert.is(seen.length, acked.size, 'every commit exactly once, nothing else');
  for (const ev of seen) {
    const w = acked.get(ev.epoch);
    assert.ok(w, `event ${ev.epoch} is an acknowledged commit`);
    assert.ok(ev.objects.includes(cc.object(w!.name).oid), 'the event names the object');
    assert.is(text(await cc.object(w!.name).fetch('d', 'a', { epoch: ev.epoch })), w!.value, 'reading at the event epoch shows that commit');
  }
});

t('a consumer reads at its event\'s epoch exactly while another client aggregates; once it stops, aggregation passes it', async () => {
  const c1 = await p1.createContainer('w-agg', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const cc = await consumer.openContainer('w-agg');
  const o1 = c1.object('x'), oc = cc.object('x');
  const w = cc.watch({ from: cc.stableEpoch() });
  const first = w.next();
  const e0 = await o1.update('d', 'a', 'v0');
  const ev = (await first).value!;
  assert.is(ev.epoch, e0);
  // the consumer holds its event (it has not asked for the next): the producer writes over it and aggregates
  for (let round = 0; round < 3; round++) {
    await o1.update('d', 'a', `later-${round}-a`);
    await o1.update('d', 'a', `later-${round}-b`);
    await c1.aggregate();
    assert.is(text(await oc.fetch('d', 'a', { epoch: ev.epoch })), 'v0', `round ${round}: the consumer's event still reads as it was`);
  }
  await w.return(undefined);
  // its engines were told it stopped: aggregation passes its event now (else this test checks nothing)
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    await o1.update('d', 'a', `after-${i}`);
    await c1.aggregate();
    gone = (await oc.fetch('d', 'a', { epoch: ev.epoch })) === undefined;
    if (!gone) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(gone, 'with the consumer gone, aggregation merged what only it held');
});

t.run();
