/**
 * Reads inside a transaction (src/object/transaction.ts): its listings see the container at the
 * transaction's read epoch plus its own buffered writes, as its fetches do, and are checked at
 * commit as its fetches are (TX_RESTART when someone else changed what they listed).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool, type Container } from '../../index.js';
import { tmpDir, collect, text, rejectsWith } from '../helpers/tmp.js';

const test = suite('api: transaction reads');

let root = '';
let pool: Pool;
let cont: Container;

test.before(async () => {
  root = tmpDir('cairn-txreads-');
  pool = await Pool.create(path.join(root, 'pool'), { nodes: 1, ranksPerNode: 1, targetsPerRank: 4, scmBytes: 32 << 20, dataBytes: 32 << 20 });
  cont = await pool.createContainer('c', { oclass: 'RP_2G2', redundancyFactor: 1 });
});

test.after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const texts = async (it: AsyncIterable<Uint8Array>) => (await collect(it)).map(text);
const extent = (index: number, count: number, fill = 1) => ({ recx: { index, count }, data: new Uint8Array(count).fill(fill) });

test('a transaction\'s listings read at its read epoch, not the container\'s current state', async () => {
  const o = cont.object('snap');
  await o.update('d1', 'a1', 'v');
  await o.update('d1', 'x', extent(0, 4));
  const tx = cont.beginTx();
  const txo = tx.object('snap');
  // committed after the transaction began: invisible to it
  await o.update('d2', 'a', 'later');
  await o.update('d1', 'a2', 'later');
  await o.update('d1', 'x', extent(10, 4));
  await o.punchAkey('d1', 'a1');
  assert.equal(await texts(txo.listDkeys()), ['d1']);
  assert.equal(await texts(txo.listDkeys({ reverse: true, limit: 1 })), ['d1']);
  assert.is(text(await txo.queryMaxDkey()), 'd1');
  assert.equal(await texts(txo.listAkeys('d1')), ['a1', 'x']);
  assert.equal(await collect(txo.listRecx('d1', 'x')), [{ index: 0, count: 4 }]);
  // the container's current state, outside the transaction
  assert.equal(await texts(o.listDkeys()), ['d1', 'd2']);
  assert.equal(await texts(o.listAkeys('d1')), ['a2', 'x']);
  await tx.abort();
});

test('a transaction\'s listings show its own buffered updates and punches (as its fetches do)', async () => {
  const o = cont.object('own');
  await o.update('d1', 'a1', 'v');
  await o.update('d1', 'a2', 'v');
  await o.update('d1', 'x', extent(0, 4));
  await o.update('d2', 'a', 'v');
  await o.update('d3', 'a', 'v');
  const tx = cont.beginTx();
  const txo = tx.object('own');
  await txo.update('d4', 'a', 'new');
  await txo.punchDkey('d2');
  await txo.punchAkey('d1', 'a1'); // d1 keeps a2 and x
  await txo.punchAkey('d3', 'a'); // d3's only akey: d3 goes
  await txo.update('d5', 'x', extent(3, 0)); // an empty extent writes nothing
  await txo.update('d1', 'x', extent(4, 4));
  await txo.update('d1', 'x', extent(20, 2));
  assert.equal(await texts(txo.listDkeys()), ['d1', 'd4']);
  assert.equal(await texts(txo.listDkeys({ gt: 'd1' })), ['d4']);
  assert.equal(await texts(txo.listDkeys({ reverse: true })), ['d4', 'd1']);
  assert.equal(await texts(txo.listDkeys({ limit: 1 })), ['d1']);
  assert.is(text(await txo.queryMaxDkey()), 'd4');
  assert.equal(await texts(txo.listAkeys('d1')), ['a2', 'x']);
  assert.equal(await texts(txo.listAkeys('d3')), []);
  assert.equal(await texts(txo.listAkeys('d4')), ['a']);
  assert.equal(await collect(txo.listRecx('d1', 'x')), [{ index: 0, count: 8 }, { index: 20, count: 2 }]);
  // the same as its fetches see
  assert.is(await txo.fetch('d2', 'a'), undefined);
  assert.is(text(await txo.fetch('d4', 'a')), 'new');
  // a punch of the object hides everything stored; what it writes after shows
  await txo.punch();
  assert.equal(await texts(txo.listDkeys()), []);
  await txo.update('d9', 'b', 'v');
  assert.equal(await texts(txo.listDkeys()), ['d9']);
  assert.equal(await texts(txo.listAkeys('d1')), []);
  assert.equal(await collect(txo.listRecx('d1', 'x')), []);
  // nothing of it is visible outside before the commit, all of it after
  assert.equal(await texts(o.listDkeys()), ['d1', 'd2', 'd3']);
  await tx.commit();
  assert.equal(await texts(o.listDkeys()), ['d9']);
});

test('a commit by someone else that adds or punches a key a transaction listed fails its commit with TX_RESTART, as a fetched key\'s does', async () => {
  const changes: Array<[string, (o: ReturnType<Container['object']>) => Promise<unknown>]> = [
    ['a dkey added', (o) => o.update('new', 'a', 'v')],
    ['a dkey punched', (o) => o.punchDkey('d1')],
    ['the object punched', (o) => o.punch()],
  ];
  for (const [what, change] of changes) {
    const name = `listed-${what}`;
    await cont.object(name).update('d1', 'a', 'v');
    const tx = cont.beginTx();
    assert.equal(await texts(tx.object(name).listDkeys()), ['d1']);
    await tx.object(`${name}-marker`).update('d', 'a', 'listed');
    await change(cont.object(name));
    await rejectsWith(tx.commit(), 'TX_RESTART');
    assert.is(await cont.object(`${name}-marker`).fetch('d', 'a'), undefined, `${what}: nothing of the restarted transaction was written`);
  }
  // the akeys of a listed dkey: an akey added (or punched) under it conflicts, one under another dkey does not
  await cont.object('akeys').update('d', 'a', 'v');
  for (const [other, conflicts] of [['e', false], ['d', true]] as const) {
    const tx = cont.beginTx();
    assert.equal(await texts(tx.object('akeys').listAkeys('d')), ['a']);
    await tx.object('akeys-marker').update('d', other, 'listed');
    await cont.object('akeys').update(other, 'b', 'v');
    if (conflicts) await rejectsWith(tx.commit(), 'TX_RESTART');
    else await tx.commit();
  }
  // the extents of a listed akey
  await cont.object('extents').update('d', 'x', extent(0, 4));
  const tx = cont.beginTx();
  assert.equal(await collect(tx.object('extents').listRecx('d', 'x')), [{ index: 0, count: 4 }]);
  await tx.object('extents-marker').update('d', 'a', 'listed');
  await cont.object('extents').update('d', 'x', extent(8, 4));
  await rejectsWith(tx.commit(), 'TX_RESTART');
  // a listing whose object nobody changed commits
  const quiet = cont.beginTx();
  assert.equal(await texts(quiet.object('akeys').listDkeys()), ['d', 'e']);
  await quiet.object('quiet-marker').update('d', 'a', 'v');
  await cont.object('elsewhere').update('d', 'a', 'v');
  await quiet.commit();
  assert.is(text(await cont.object('quiet-marker').fetch('d', 'a')), 'v');
});

test.run();
