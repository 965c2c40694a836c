/**
 * Two clients of a connected pool write different cells of the same EC stripe at the same moment
 * (partial-stripe read-modify-writes that share the parity cell). Parity must stay consistent with
 * the data: each stripe is read back through reconstruction, with a data shard treated as lost.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import type { Pool } from '../../src/pool/pool.js';
import { fetchArray } from '../../src/io/io.js';
import { containerPort } from '../../src/container/container.js';

const t = suite('ec-rmw');
let cluster: Cluster;
let a: Pool, b: Pool;
t.before(async () => {
  cluster = await Cluster.start({ engines: 4, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000 });
  a = await cluster.connect();
  b = await cluster.connect();
});
t.after(async () => { await a?.close(); await b?.close(); await cluster?.stop(); });

t('simultaneous partial-stripe writes from two clients keep parity consistent', async () => {
  const CELL = 1024, K = 2;
  const ca = await a.createContainer('ec', { oclass: 'EC_2P1G1', cellSize: CELL, redundancyFactor: 1 });
  const cb = await b.openContainer('ec');
  const enc = (s: string) => new TextEncoder().encode(s);
  const write = async (c: typeof ca, dkey: string, cellIdx: number, fill: number) => {
    const data = new Uint8Array(200).fill(fill);
    for (;;) {
      try { await c.object('shared').update(dkey, 'arr', { recx: { index: cellIdx * CELL + 100, count: data.length }, data }); return; } catch (err) {
        if ((err as { code?: string }).code !== 'TX_RESTART') throw err;
      }
    }
  };
  const oid = ca.object('shared').oid;
  const bad: string[] = [];
  for (let i = 0; i < 60; i++) {
    const dkey = `d${i}`;
    await Promise.all([write(ca, dkey, 0, 1 + (i & 127)), write(cb, dkey, 1, 129 + (i & 127))]);
    const expected = new Uint8Array(K * CELL);
    expected.fill(1 + (i & 127), 100, 300);
    expected.fill(129 + (i & 127), CELL + 100, CELL + 300);
    const healthy = await ca.object('shared').fetch(dkey, 'arr', { recx: { index: 0, count: expected.length } });
    assert.equal(healthy, expected, `${dkey} healthy`);
    // Read around each data shard in turn: the cell is rebuilt from the other one and parity.
    const { groups } = containerPort(ca).layout(oid);
    const io = containerPort(ca).io();
    for (const lost of [groups[0]![0]!, groups[0]![1]!]) {
      const ctx = { ...io, available: (tg: number) => tg !== lost && io.available(tg) };
      const got = await fetchArray(ctx, { kind: 'ec', dataShards: 2, parityShards: 1, groupSize: 3 }, groups, 0, oid, enc(dkey), enc('arr'), 0, expected.length, ca.stableEpoch());
      if (Buffer.compare(Buffer.from(got), Buffer.from(expected)) !== 0) bad.push(`${dkey} without target ${lost}`);
    }
  }
  assert.equal(bad, [], 'every stripe reconstructs exactly');
});

t.run();
