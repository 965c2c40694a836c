/**
 * Transactions are serializable against commits that run at the same time (src/container/container.ts):
 * a transaction's commit fails with TX_RESTART when a key it read or listed is written by any
 * commit whose epoch falls between its read epoch and its own, also one still in flight when the
 * transaction checks. Two transactions that each read what the other writes (write skew) never
 * both commit, and a transaction never commits over a read that a plain put in flight made stale.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Pool, type Container } from '../../index.js';
import { tmpDir, text } from '../helpers/tmp.js';

const test = suite('container: serializable transactions');

/** Rounds of each race (each round is one chance for the old interleaving). */
const ROUNDS = 20;

let root = '';
let pool: Pool;

test.before(async () => {
  root = tmpDir('cairn-txser-');
  pool = await Pool.create(path.join(root, 'pool'), { nodes: 1, ranksPerNode: 1, targetsPerRank: 6, scmBytes: 32 << 20, dataBytes: 32 << 20 });
});

test.after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** How a commit ended: 'ok' or its error code (anything but TX_RESTART fails the test). */
async function outcome(p: Promise<unknown>): Promise<'ok' | 'TX_RESTART'> {
  try { await p; return 'ok'; } catch (e) {
    if ((e as { code?: string }).code === 'TX_RESTART') return 'TX_RESTART';
    throw e;
  }
}

for (const oclass of ['RP_2G1', 'EC_4P1G1']) {
  test(`${oclass}: two transactions committing together, each reading what the other writes: exactly one commits`, async () => {
    const cont: Container = await pool.createContainer(`skew-${oclass}`, { oclass, redundancyFactor: 1 });
    for (let r = 0; r < ROUNDS; r++) {
      const x = cont.object(`x${r}`), y = cont.object(`y${r}`);
      await x.update('d', 'k', 'x0');
      await y.update('d', 'k', 'y0');
      const t1 = cont.beginTx(), t2 = cont.beginTx();
      assert.is(text(await t1.object(`x${r}`).fetch('d', 'k')), 'x0');
      assert.is(text(await t2.object(`y${r}`).fetch('d', 'k')), 'y0');
      await t1.object(`y${r}`).update('d', 'k', 'y1');
      await t2.object(`x${r}`).update('d', 'k', 'x1');
      const [o1, o2] = await Promise.all([outcome(t1.commit()), outcome(t2.commit())]);
      assert.equal([o1, o2].sort(), ['TX_RESTART', 'ok'], `round ${r}: one commits, the other restarts (got ${o1}, ${o2})`);
      // what is stored is what the one that committed wrote
      const got = [text(await x.fetch('d', 'k')), text(await y.fetch('d', 'k'))];
      assert.equal(got, o1 === 'ok' ? ['x0', 'y1'] : ['x1', 'y0'], `round ${r}`);
    }
    await cont.close();
  });
}

test('a plain put in flight when a transaction checks its reads: the transaction restarts', async () => {
  const cont = await pool.createContainer('inflight-put', { oclass: 'RP_2G1', redundancyFactor: 1 });
  for (let r = 0; r < ROUNDS; r++) {
    await cont.object(`y${r}`).update('d', 'k', 'old');
    const tx = cont.beginTx();
    assert.is(text(await tx.object(`y${r}`).fetch('d', 'k')), 'old');
    await tx.object(`z${r}`).update('d', 'k', 'derived from old');
    const put = cont.object(`y${r}`).update('d', 'k', 'new'); // in flight while the transaction commits
    const o = await outcome(tx.commit());
    await put;
    assert.is(o, 'TX_RESTART', `round ${r}: the transaction read y before a commit that lands below its own`);
  }
  await cont.close();
});

test('a transaction opened while a plain put is in flight does not commit over the value that put replaces', async () => {
  const cont = await pool.createContainer('open-during-put', { oclass: 'RP_2G1', redundancyFactor: 1 });
  for (let r = 0; r < ROUNDS; r++) {
    await cont.object(`y${r}`).update('d', 'k', 'old');
    const put = cont.object(`y${r}`).update('d', 'k', 'new'); // not awaited: in flight
    const tx = cont.beginTx(); // reads below the put in flight
    const seen = text(await tx.object(`y${r}`).fetch('d', 'k'));
    await tx.object(`z${r}`).update('d', 'k', `derived from ${seen}`);
    const o = await outcome(tx.commit());
    await put;
    if (seen === 'old') assert.is(o, 'TX_RESTART', `round ${r}: it read the value the put in flight replaced`);
    else assert.is(o, 'ok', `round ${r}`);
  }
  await cont.close();
});

test.run();
