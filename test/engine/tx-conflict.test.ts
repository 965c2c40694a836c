/**
 * Transactions of different clients conflict through the engines (issue 7): two clients each
 * increment one counter in read-modify-write transactions, retrying on TX_RESTART. No increment
 * is lost: the final value is the total number of commits. A blind write by a third client
 * between a transaction's read and its commit also makes that transaction restart, as does a dkey
 * or akey another client adds or punches where the transaction listed, and an engine refuses a
 * write that would land under a read it already served. A transaction reading more keys on one
 * engine than one validation request carries is checked in several requests.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import { rejectsWith, text } from '../helpers/tmp.js';
import type { Pool } from '../../src/pool/pool.js';
import { RpcClient } from '../../src/net/rpc.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';
import { MAX_VALIDATE_KEYS } from '../../src/net/protocol.js';

const t = suite('tx-conflict');
let cluster: Cluster;
let a: Pool, b: Pool;
t.before(async () => {
  cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000 });
  a = await cluster.connect();
  b = await cluster.connect();
});
t.after(async () => { await a?.close(); await b?.close(); await cluster?.stop(); });

t('concurrent read-modify-write transactions from two clients lose no update', async () => {
  const ca = await a.createContainer('ctr', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const cb = await b.openContainer('ctr');
  await ca.object('counter').update('d', 'n', '0');
  let restarts = 0;
  const incr = async (c: typeof ca, times: number) => {
    for (let i = 0; i < times; i++) {
      for (;;) {
        const tx = c.beginTx();
        try {
          const n = Number(text(await tx.object('counter').fetch('d', 'n')));
          await tx.object('counter').update('d', 'n', String(n + 1));
          await tx.commit();
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== 'TX_RESTART') throw err;
          restarts++;
        }
      }
    }
  };
  await Promise.all([incr(ca, 25), incr(cb, 25)]);
  // Read "now" by both clients: every commit was acknowledged after its commit-wait, so both see
  // the last one (test/engine/freshness).
  assert.is(text(await ca.object('counter').fetch('d', 'n')), '50');
  assert.is(text(await cb.object('counter').fetch('d', 'n')), '50');
  assert.ok(restarts > 0, 'the clients did conflict');
});

t('a write by another client between read and commit restarts the transaction', async () => {
  const ca = await a.openContainer('ctr');
  const cb = await b.openContainer('ctr');
  const tx = ca.beginTx();
  assert.is(text(await tx.object('counter').fetch('d', 'n')), '50');
  await cb.object('counter').update('d', 'n', 'changed by b');
  await tx.object('counter').update('d', 'n', '51');
  await rejectsWith(tx.commit(), 'TX_RESTART');
  assert.is(text(await ca.object('counter').fetch('d', 'n')), 'changed by b');
});

/** Every key an async listing yields, as text. */
async function listed(keys: AsyncIterable<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of keys) out.push(Buffer.from(k).toString());
  return out;
}

t('a dkey another client adds to an object a transaction listed restarts the transaction', async () => {
  const ca = await a.openContainer('ctr');
  const cb = await b.openContainer('ctr');
  await ca.object('listed').update('d1', 'a', 'x');
  const tx = ca.beginTx();
  assert.equal(await listed(tx.object('listed').listDkeys()), ['d1']);
  await cb.object('listed').update('d2', 'a', 'added by b');
  await tx.object('elsewhere').update('d', 'a', 'written by the transaction');
  await rejectsWith(tx.commit(), 'TX_RESTART');
  assert.is(await ca.object('elsewhere').fetch('d', 'a'), undefined, 'nothing of the restarted transaction is written');
});

t('an akey another client punches under a dkey a transaction listed restarts the transaction', async () => {
  const ca = await a.openContainer('ctr');
  const cb = await b.openContainer('ctr');
  await ca.object('listed-akeys').update('d', 'a1', 'x');
  await ca.object('listed-akeys').update('d', 'a2', 'y');
  const tx = ca.beginTx();
  assert.equal(await listed(tx.object('listed-akeys').listAkeys('d')), ['a1', 'a2']);
  await cb.object('listed-akeys').punchAkey('d', 'a2');
  await tx.object('elsewhere-2').update('d', 'a', 'written by the transaction');
  await rejectsWith(tx.commit(), 'TX_RESTART');
});

t('on an EC container too: a dkey another client adds where a transaction listed restarts it (checked on a parity shard)', async () => {
  const ca = await a.createContainer('ec-listed', { oclass: 'EC_2P1G1', redundancyFactor: 1 });
  const cb = await b.openContainer('ec-listed');
  await ca.object('o').update('d1', 'a', 'x');
  await ca.object('o').update('d0', 'a', new Uint8Array(5000).fill(7));
  const tx = ca.beginTx();
  assert.equal((await listed(tx.object('o').listDkeys())).sort(), ['d0', 'd1']);
  await cb.object('o').update('d2', 'a', 'added by b');
  await tx.object('o2').update('d', 'a', 'written by the transaction');
  await rejectsWith(tx.commit(), 'TX_RESTART');
});

t('a transaction that lists an object and writes into it commits when no one else wrote it', async () => {
  const ca = await a.openContainer('ctr');
  await ca.object('own').update('d1', 'a', 'x');
  const tx = ca.beginTx();
  assert.equal(await listed(tx.object('own').listDkeys()), ['d1']);
  assert.equal(await listed(tx.object('own').listAkeys('d1')), ['a']);
  await tx.object('own').update('d2', 'a', 'new dkey');
  await tx.object('own').update('d1', 'b', 'new akey');
  await tx.commit();
  assert.equal(await listed(ca.object('own').listDkeys()), ['d1', 'd2']);
  // and a write of another client below the listing's commit epoch is refused from now on
  // (the listing is stamped as read there), so it lands above it
  const cb = await b.openContainer('ctr');
  await cb.object('own').update('d3', 'a', 'later');
  assert.equal(await listed(ca.object('own').listDkeys()), ['d1', 'd2', 'd3']);
});

/** `n` akeys a0.. of dkey 'd' of object `name` hold their own names (written in rounds of 250). */
async function manyAkeys(c: Awaited<ReturnType<Pool['openContainer']>>, name: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, k) => c.object(name).update('d', `a${i + k}`, `a${i + k}`)));
  }
}

/** A transaction's fetch of every akey a0..a(n-1) of `name`'s dkey 'd', in order (rounds of 250), each checked. */
async function readAll(tx: ReturnType<Awaited<ReturnType<Pool['openContainer']>>['beginTx']>, name: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 250) {
    const got = await Promise.all(Array.from({ length: Math.min(250, n - i) }, (_, k) => tx.object(name).fetch('d', `a${i + k}`)));
    got.forEach((v, k) => assert.is(text(v), `a${i + k}`));
  }
}

t('a transaction reading more keys on one engine than one validation request checks (MAX_VALIDATE_KEYS) commits, and restarts on a write past the first request', async () => {
  // One dkey of a replicated object: every key read is checked on the same engine.
  const N = MAX_VALIDATE_KEYS + 904;
  const ca = await a.openContainer('ctr');
  const cb = await b.openContainer('ctr');
  await manyAkeys(ca, 'many', N);
  const tx = ca.beginTx();
  await readAll(tx, 'many', N);
  await tx.object('many-out').update('d', 'a', 'committed');
  await tx.commit(); // (before: INVALID_ARGUMENT, "a validation checks 1..4096 keys")
  assert.is(text(await ca.object('many-out').fetch('d', 'a')), 'committed');
  // another client writes the last key read: checked in the second request, the commit restarts
  const tx2 = ca.beginTx();
  await readAll(tx2, 'many', N);
  await cb.object('many').update('d', `a${N - 1}`, 'changed by b');
  await tx2.object('many-out').update('d', 'a', 'must not land');
  await rejectsWith(tx2.commit(), 'TX_RESTART');
  assert.is(text(await ca.object('many-out').fetch('d', 'a')), 'committed');
});

t('an engine refuses a write at or below an epoch it already served a read at (STALE_EPOCH)', async () => {
  const e = cluster.engines[0]!;
  const target = a.query().targets.find((x) => x.rank === e.rank)!.id;
  const cont = (await a.listContainers())[0]!.uuid;
  const rpc = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    const route = { target, cont, mapVersion: a.query().mapVersion, oid: String(12345n << 32n), dkey: 'ZA==', akey: 'YQ==' };
    // Epochs of now: anything older than the engine's start is refused as such (tested below).
    const read = epochAtMs(Date.now()) + 777n;
    await rpc.call('shard.fetchSingle', { ...route, epoch: String(read) });
    await rejectsWith(rpc.call('shard.updateSingle', { ...route, epoch: String(read - 5n) }, new Uint8Array([1])), 'STALE_EPOCH');
    await rejectsWith(rpc.call('shard.updateSingle', { ...route, epoch: String(read) }, new Uint8Array([1])), 'STALE_EPOCH');
    // Above the read it is accepted (then settled by the prepared-write sweep: never committed).
    await rpc.call('shard.updateSingle', { ...route, epoch: String(read + 1n) }, new Uint8Array([1]));
    // A write from before the engine started (a request from before a restart) is refused too.
    await rejectsWith(rpc.call('shard.updateSingle', { ...route, oid: String(777n << 32n), epoch: String(1n << 40n) }, new Uint8Array([1])), 'STALE_EPOCH');
  } finally {
    await rpc.close();
  }
});

t.run();
