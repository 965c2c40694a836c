/**
 * Ops of one commit take effect in the order they were given, whatever order their shard writes
 * reach the targets in: an update then a punch of the same key leaves it punched; a punch then an
 * update leaves the update; of two updates of one key the second wins; two array writes of one
 * akey overlap as written, and two writes of one erasure-coded stripe keep each other's bytes.
 * Every case on a replicated, an erasure-coded and a striped object, repeated on fresh dkeys (the
 * reorderings are races). Run against a connected pool too (test/engine/commit-order-connected.test.ts).
 * Embedded, the erasure-coded cases are also read back with each target of the group excluded in
 * turn: the parity a commit wrote must rebuild what it wrote.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { poolUnderTest, CONNECTED } from '../helpers/pool-under-test.js';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { tmpDir } from '../helpers/tmp.js';

const put = await poolUnderTest(6, { scmBytes: 32 << 20, dataBytes: 64 << 20 });
const cont = await put.pool.createContainer('commit-order', { oclass: 'RP_2G1', cellSize: 512 });
const t = suite('container/commit-order');
const CLASSES = ['RP_2G1', 'EC_2P1G1', 'S1'];
const ROUNDS = 8;
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

type Tx = ReturnType<typeof cont.beginTx>;
/** `body` in a committed transaction on object `name` of each class, ROUNDS times on new dkeys. */
async function eachCase(name: string, body: (tx: Tx, o: ReturnType<Tx['object']>, d: string) => Promise<void>, check: (o: ReturnType<typeof cont.object>, d: string, where: string) => Promise<void>): Promise<void> {
  for (const oclass of CLASSES) {
    for (let r = 0; r < ROUNDS; r++) {
      const d = `d${r}`;
      const tx = cont.beginTx();
      await body(tx, tx.object(`${name}-${oclass}`, { oclass }), d);
      await tx.commit();
      await check(cont.object(`${name}-${oclass}`, { oclass }), d, `${oclass} round ${r}`);
    }
  }
}

t('an update then a punch of the key, its dkey or its object leaves it punched', async () => {
  for (const punch of ['akey', 'dkey', 'object'] as const) {
    await eachCase(`up-punch-${punch}`, async (_tx, o, d) => {
      await o.update(d, 'a', bytes(40, 1));
      await o.update(d, 'b', bytes(30, 2));
      if (punch === 'akey') await o.punchAkey(d, 'a'); else if (punch === 'dkey') await o.punchDkey(d); else await o.punch();
    }, async (o, d, where) => {
      assert.is(await o.fetch(d, 'a'), undefined, `${where}: punch ${punch} after the update`);
      if (punch === 'akey') assert.equal(await o.fetch(d, 'b'), bytes(30, 2), `${where}: the other akey`);
      else assert.is(await o.fetch(d, 'b'), undefined, `${where}: punch ${punch} after the other akey's update`);
    });
  }
});

t('a punch of the key, its dkey or its object then an update leaves the update', async () => {
  for (const punch of ['akey', 'dkey', 'object'] as const) {
    await eachCase(`punch-up-${punch}`, async (_tx, o, d) => {
      if (punch === 'akey') await o.punchAkey(d, 'a'); else if (punch === 'dkey') await o.punchDkey(d); else await o.punch();
      await o.update(d, 'a', bytes(50, 3));
    }, async (o, d, where) => {
      assert.equal(await o.fetch(d, 'a'), bytes(50, 3), `${where}: update after punch ${punch}`);
    });
  }
});

t('of two updates of one key in a commit, the second wins', async () => {
  await eachCase('twice', async (_tx, o, d) => {
    await o.update(d, 'a', bytes(60, 4));
    await o.update(d, 'a', bytes(20, 5));
  }, async (o, d, where) => {
    assert.equal(await o.fetch(d, 'a'), bytes(20, 5), `${where}: the second update`);
  });
});

t('array writes of one akey in a commit land as written: overlaps by the later, one stripe keeps both', async () => {
  await eachCase('arrays', async (_tx, o, d) => {
    await o.update(d, 'x', { recx: { index: 0, count: 300 }, data: bytes(300, 6) });
    await o.update(d, 'x', { recx: { index: 200, count: 300 }, data: bytes(300, 7) });
    await o.update(d, 'y', { recx: { index: 0, count: 10 }, data: bytes(10, 8) });
    await o.update(d, 'y', { recx: { index: 100, count: 10 }, data: bytes(10, 9) });
  }, async (o, d, where) => {
    const x = new Uint8Array(500); x.fill(6, 0, 200); x.fill(7, 200, 500);
    assert.equal(await o.fetch(d, 'x', { recx: { index: 0, count: 500 } }), x, `${where}: overlapping writes`);
    const y = new Uint8Array(110); y.fill(8, 0, 10); y.fill(9, 100, 110);
    assert.equal(await o.fetch(d, 'y', { recx: { index: 0, count: 110 } }), y, `${where}: writes of one stripe`);
  });
});

t('a KV batch that puts then deletes a key leaves it deleted', async () => {
  const kv = cont.kv('kv-order', { oclass: 'EC_2P1G1' });
  for (let r = 0; r < ROUNDS; r++) {
    const k = `k${r}`;
    await kv.batch([{ type: 'put', key: k, value: bytes(10, r) }, { type: 'del', key: k }, { type: 'put', key: `${k}-kept`, value: bytes(12, r) }]);
    assert.is(await kv.get(k), undefined, `round ${r}: deleted after the put`);
    assert.equal(await kv.get(`${k}-kept`), bytes(12, r), `round ${r}: the other key`);
  }
});

if (!CONNECTED) t('erasure-coded array writes of one akey in a commit leave parity that rebuilds them, each target excluded in turn', async () => {
  const cell = 512, span = 2 * cell; // EC_2P1G1: one stripe of two data cells
  const expect = new Map<string, Uint8Array>();
  for (let excluded = 0; excluded < 3; excluded++) {
    const pool = await Pool.create(join(tmpDir(), `ec-${excluded}`), { nodes: 3, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
    try {
      const c = await pool.createContainer('ec', { oclass: 'EC_2P1G1', cellSize: cell });
      const o = c.object('x', { oclass: 'EC_2P1G1' });
      const write = (tx: ReturnType<typeof c.beginTx>, d: string, at: number, n: number, fill: number) => tx.object('x', { oclass: 'EC_2P1G1' }).update(d, 'a', { recx: { index: at, count: n }, data: bytes(n, fill) });
      const model = (d: string, f: (m: Uint8Array) => void) => { const m = expect.get(d) ?? new Uint8Array(span); f(m); expect.set(d, m); };
      for (let r = 0; r < 4; r++) {
        // before the commit: the stripe written whole
        const base = `base${r}`;
        await o.update(base, 'a', { recx: { index: 0, count: span }, data: bytes(span, 1) });
        model(base, (m) => m.fill(1));
        await o.update(`punched${r}`, 'a', { recx: { index: 0, count: span }, data: bytes(span, 4) });
        const tx = c.beginTx();
        // overlapping writes
        await write(tx, `overlap${r}`, 0, 300, 6); await write(tx, `overlap${r}`, 200, 300, 7);
        model(`overlap${r}`, (m) => { m.fill(6, 0, 200); m.fill(7, 200, 500); });
        // writes with a gap in one stripe, over what was there
        await write(tx, base, 0, 50, 2); await write(tx, base, 600, 50, 3);
        model(base, (m) => { m.fill(2, 0, 50); m.fill(3, 600, 650); });
        // a punch, then a write: the rest of the stripe is a hole
        await tx.object('x', { oclass: 'EC_2P1G1' }).punchAkey(`punched${r}`, 'a');
        await write(tx, `punched${r}`, 100, 10, 5);
        model(`punched${r}`, (m) => { m.fill(0); m.fill(5, 100, 110); });
        await tx.commit();
      }
      const group = containerPort(c).layout(o.oid).groups[0]!;
      await pool.exclude(group[excluded]!);
      for (const [d, m] of expect) assert.equal(await o.fetch(d, 'a', { recx: { index: 0, count: span } }), m, `${d}, group target ${excluded} excluded`);
      expect.clear();
    } finally {
      await pool.close();
    }
  }
});

t.after(() => put.close());
t.run();
