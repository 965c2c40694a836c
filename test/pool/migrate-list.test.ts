/**
 * The object listing a migration pass starts with (`listMigrationObjects`): one listing serves the
 * progress count and the migration, ids kept only up to a bound; the rebuild that uses it reports
 * every object and restores every byte.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Pool, type RebuildStatus } from '../../src/pool/pool.js';
import { listMigrationObjects } from '../../src/pool/migrate.js';
import { ObjectFeed } from '../../src/pool/rebuild-feed.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('migrate-list');
const root = tmpDir('cairn-migrate-list-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
const OBJECTS = 24;

t('listMigrationObjects: count and ids equal a listing of the container; above maxIds the count alone; a rebuild reports every object and reads back right', async () => {
  const pool = await Pool.create(join(root, 'p'), SHAPE);
  try {
    const c = await pool.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const rng = new Rng(11);
    const data = new Map<string, Uint8Array>();
    for (let i = 0; i < OBJECTS; i++) {
      const bytes = rng.bytes(5000 + i * 977);
      data.set(`o${i}`, bytes);
      await c.array(`o${i}`).write(0, bytes);
    }
    const listed: bigint[] = [];
    for await (const oid of c.listObjects()) listed.push(oid);
    assert.is(listed.length, OBJECTS);

    const all = await listMigrationObjects(c);
    assert.is(all.count, OBJECTS);
    assert.equal(all.oids, listed, 'ids kept in listing order');

    const exact = await listMigrationObjects(c, { maxIds: OBJECTS });
    assert.equal(exact.oids, listed, 'exactly maxIds objects: still kept');
    const over = await listMigrationObjects(c, { maxIds: OBJECTS - 1 });
    assert.is(over.count, OBJECTS, 'counted past the bound');
    assert.is(over.oids, undefined, 'more than maxIds: no ids kept (the migration lists again)');
    const none = await listMigrationObjects(c, { maxIds: 0 });
    assert.equal({ count: none.count, oids: none.oids }, { count: OBJECTS, oids: undefined }, 'bound used up by earlier containers: the count alone');

    // A feed: the ids as the listing reaches them, all of them once in listing order, past the bound too
    // (the feed lists the rest itself), taken while the listing runs.
    for (const maxIds of [OBJECTS, 5, 0]) {
      const feed = new ObjectFeed(() => c.listObjects());
      const taken: bigint[] = [];
      const consumer = (async () => { for await (const oid of feed) taken.push(oid); })();
      const l = await listMigrationObjects(c, { maxIds, feed });
      await consumer;
      assert.equal({ count: l.count, fed: l.fed, oids: l.oids }, { count: OBJECTS, fed: Math.min(maxIds, OBJECTS), oids: undefined }, `feed, maxIds ${maxIds}: counted, ids fed up to the bound`);
      assert.equal(taken, listed, `feed, maxIds ${maxIds}: every id once, in order`);
    }
    // A listing that fails fails its feed: the consumer throws that error after the ids before it.
    const failing = new ObjectFeed(() => c.listObjects());
    failing.push(listed[0]!);
    failing.fail(Object.assign(new Error('listing failed'), { code: 'IO_ERROR' }));
    const before: bigint[] = [];
    let thrown: unknown;
    try { for await (const oid of failing) before.push(oid); } catch (err) { thrown = err; }
    assert.equal(before, [listed[0]]);
    assert.is((thrown as Error | undefined)?.message, 'listing failed');

    const events: RebuildStatus[] = [];
    pool.on('rebuild', (s) => events.push(s));
    const victim = pool.query().targets.reduce((a, b) => (b.spaceUsed > a.spaceUsed ? b : a)).id;
    await pool.exclude(victim);
    await pool.waitForRebuild();
    const last = events[events.length - 1]!;
    assert.is(last.state, 'idle');
    assert.is(last.objectsTotal, OBJECTS, 'the progress total is the one listing\'s count');
    assert.is(last.objectsDone, OBJECTS);
    assert.ok(last.bytes > 0, 'the failed target held shards that were rebuilt');
    assert.equal(last.lost, []);
    assert.is(pool.query().targets[victim]!.state, 'DOWNOUT');
    // Redundancy restored: one more failure still reads every object.
    const second = pool.query().targets.filter((x) => x.state === 'UPIN').reduce((a, b) => (b.spaceUsed > a.spaceUsed ? b : a)).id;
    await pool.exclude(second);
    for (const [name, bytes] of data) assert.equal(await c.array(name).read(0, bytes.length), bytes, `${name} reads back`);
    await pool.waitForRebuild();
    for (const [name, bytes] of data) assert.equal(await c.array(name).read(0, bytes.length), bytes, `${name} reads back after the second rebuild`);
  } finally {
    await pool.close();
  }
});

t.after(() => rmSync(root, { recursive: true, force: true }));
t.run();
