/**
 * A shard moved back onto a target that still holds its old copy. A failed target's shards are
 * rebuilt onto spares; an extend then moves some of them on to the new node's targets and leaves
 * their old copies on the spares (which stay in service); when the new node fails too, those
 * shards fall back to the same spares (the first target is still out). Whatever changed in
 * between (keys punched, values overwritten, arrays punched) must read on the moved shard itself as
 * it does on its siblings, now and at a snapshot: the old copy must never show through.
 * Real files, a 16-target pool (4 nodes x 2 ranks x 2 targets) extended by one node.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { unitOid } from '../../src/io/shard-store.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { Model, verify, targetsOf } from './rebuild-model.js';
import { REBUILD_RECLAIM_ENV } from '../../src/pool/reclaim.js';

// The pool's reclaim punches old copies once a move is promoted; here they stay, as a crash between
// the promotion and the reclaim leaves them: the migration itself must keep them from showing.
process.env[REBUILD_RECLAIM_ENV] = '0';

const t = suite('rebuild-old-copies');
const root = tmpDir('cairn-rebuild-old-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const OBJECTS = 120;
const DKEYS = 2;
const enc = new TextEncoder();
const classOf = (o: number) => (o % 2 === 0 ? 'RP_3G1' : 'EC_4P2G1');

t('a target excluded, then extend, punch and overwrite, then the new node excluded: each shard moved back onto its old target reads as its siblings, now and at a snapshot', async () => {
  const pool = await Pool.create(join(root, 'back'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const port = containerPort(c);
    const rng = new Rng(14);
    const m = new Model();
    for (let o = 0; o < OBJECTS; o++) {
      for (let d = 0; d < DKEYS; d++) for (const a of ['a', 'b']) await m.put(c, `obj-${o}`, classOf(o), `d${d}`, a, rng.bytes(1 + rng.int(3000)));
      // a byte array beside the single values (replicated objects: their extents are copied as they are)
      if (classOf(o) === 'RP_3G1') await c.object(`obj-${o}`, { oclass: 'RP_3G1' }).update('arr', 'x', { recx: { index: 0, count: 5000 }, data: rng.bytes(5000) });
    }
    // One target fails first: its shards are rebuilt onto spares (the layout's fallback for it).
    await pool.exclude(0);
    await pool.waitForRebuild();
    const placedBefore = new Map<string, number[]>();
    for (let o = 0; o < OBJECTS; o++) placedBefore.set(`obj-${o}`, targetsOf(c, `obj-${o}`, classOf(o)));

    const added = await pool.extend({ nodes: 1 });
    await pool.waitForRebuild();
    // The shards extend moved onto the new node, and the targets holding their old copies.
    const movedOnto = [...placedBefore].flatMap(([name, before]) => {
      const now = targetsOf(c, name, classOf(Number(name.slice(4))));
      return now.map((tg, shard) => ({ name, shard, from: before[shard]!, to: tg })).filter((s) => added.includes(s.to) && s.from !== s.to);
    });
    assert.ok(movedOnto.length > 0, 'extend moved no shard onto the new node');

    // Changes while the old copies sit on their old targets: each object loses d0/a, gets a new
    // d1/b, and its array akey is punched; then a snapshot. (No read point of the coming move
    // precedes these changes: one that did would see those keys and punch them at the next.)
    for (let o = 0; o < OBJECTS; o++) {
      await m.punch(c, `obj-${o}`, classOf(o), 'd0', 'a');
      await m.put(c, `obj-${o}`, classOf(o), 'd1', 'b', rng.bytes(1 + rng.int(3000)));
      if (classOf(o) === 'RP_3G1') await c.object(`obj-${o}`, { oclass: 'RP_3G1' }).punchAkey('arr', 'x');
    }
    await c.snapshot('after');

    // The whole new node fails (within the redundancy factor: a group keeps at most two shards there).
    await pool.exclude(added);
    await pool.waitForRebuild();
    // Which of those shards went back to the very target that holds their old copy.
    const back = movedOnto.filter((s) => targetsOf(c, s.name, classOf(Number(s.name.slice(4))))[s.shard] === s.from);
    assert.ok(back.length > 0, `no shard moved onto the new node went back to its old target (${movedOnto.length} moved there)`);

    // Through the API, now and at both snapshots.
    await verify(c, m);
    await verify(c, m, { snapshot: 'after' });

    // On each moved-back shard itself (a replicated read may be served by a sibling).
    const io = port.io();
    const epochs: Array<[string, bigint, Model]> = [['now', port.readEpoch(), m], ['after', port.readEpoch({ snapshot: 'after' }), m]];
    for (const s of back) {
      const o = Number(s.name.slice(4));
      const oid = c.object(s.name, { oclass: classOf(o) }).oid;
      const store = await io.store(s.from);
      for (const [when, epoch, model] of epochs) {
        for (let d = 0; d < DKEYS; d++) {
          for (const a of ['a', 'b']) {
            const want = model.singles.get(`${s.name}/d${d}/${a}`)!.value;
            const got = await store.fetchSingle(epoch, unitOid(oid, s.shard), enc.encode(`d${d}`), enc.encode(a));
            const what = `${s.name} shard ${s.shard} on target ${s.from}, d${d}/${a} (${when})`;
            if (want === undefined) assert.is(got, undefined, `${what}: punched, yet its old copy reads back`);
            else if (classOf(o) === 'RP_3G1') assert.ok(got !== undefined && Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0, `${what}: not the value written last`);
            // (an EC shard holds a piece of a value, or nothing where its role for the dkey holds none)
          }
        }
        if (classOf(o) === 'RP_3G1') {
          const extents: number[] = [];
          for await (const r of store.listRecx(epoch, unitOid(oid, s.shard), enc.encode('arr'), enc.encode('x'))) extents.push(r.count);
          assert.equal(extents, [], `${s.name} shard ${s.shard}: punched array reads back (${when})`);
        }
      }
    }
  } finally {
    await pool.close();
  }
});

t.run();
