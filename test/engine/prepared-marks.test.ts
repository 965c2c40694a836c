/**
 * An engine SIGKILLed between a write and its commit's P (or DONE) record (issue 15, tx.log
 * format 3: no INTENT record; the write's store marks its epoch prepared before the write). A write
 * of a commit that is incomplete on the engine (one of its two shard writes applied) is
 * acknowledged with nothing in tx.log; after the kill and a restart the engine finds the epoch
 * among its store's prepared marks, knows it neither whole nor decided, and discards it before
 * serving (remembered as aborted). A commit decided here before the kill stays. Both write paths:
 * a batch (`applyBatch`) and a write sent on its own (`applyAdmitted`).
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { containerOnEngine0, namesWithShard, twoEngineSuite } from '../helpers/engine-direct.js';
import { RpcClient } from '../../src/net/rpc.js';
import { encodeBatch, decodeBatchReply } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';
import { TxLog } from '../../src/engine/txlog.js';
import { TX_LOG_FILE } from '../../src/engine/engine.js';

const { t, env } = twoEngineSuite('prepared-marks');

const b64 = (s: string) => Buffer.from(s).toString('base64');

t('a write acknowledged without its P survives a SIGKILL only as a prepared mark: discarded at restart; a decided commit stays', async () => {
  const { c, map, e, other, mine } = await containerOnEngine0(env, 'marks');
  const names = namesWithShard(mine, 3);
  const base = epochAtMs(Date.now() + 1000);
  // [name, epoch, participants, shard writes this engine gets, value]
  const header = (name: string, epoch: bigint, ranks: number[], n: number) => {
    const m = mine(name)!;
    return { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(epoch), oid: String(m.unit), dkey: b64('d'), akey: b64('a'), tx: { ranks, n } };
  };
  const incBatch = base, incAlone = base + 1n, done = base + 2n;
  let rpc = new RpcClient({ address: e.address, secret: env.cluster.secret });
  try {
    // Incomplete here (1 of 2 writes): acknowledged at once, nothing in tx.log.
    const items = [{ method: 'shard.updateSingle', header: header(names[0]!, incBatch, [e.rank, other.rank], 2), payload: Buffer.from('torn-batch') }];
    const { header: bh, parts } = encodeBatch(items);
    const replies = decodeBatchReply(await rpc.call(ENGINE_METHODS.batch, bh, parts), 1, e.address);
    assert.not.instance(replies[0], Error, 'the batched write is acknowledged');
    await rpc.call('shard.updateSingle', header(names[1]!, incAlone, [e.rank, other.rank], 2), Buffer.from('torn-alone'));
    // Decided here (a commit on this engine alone).
    await rpc.call('shard.updateSingle', header(names[2]!, done, [e.rank], 1), Buffer.from('whole'));
    const recs = TxLog.read(join(e.dirs[0]!, TX_LOG_FILE));
    assert.not.ok(recs.some((r) => r.e === String(incBatch) || r.e === String(incAlone)), 'nothing in tx.log for the incomplete commits');
    assert.ok(recs.some((r) => r.t === 'D' && r.e === String(done)), 'the whole one is decided');
    // Readable before the kill (prepared: a read at their epoch waits; an older read does not see them, so read raw "now").
  } finally {
    await rpc.close();
  }

  await env.cluster.kill(0);
  const again = await env.cluster.startEngine(0);
  assert.ok(again.log.join('').includes('2 incomplete commit(s) discarded'), `the restart discards the two incomplete commits:\n${again.log.join('')}`);
  const recs = TxLog.read(join(again.dirs[0]!, TX_LOG_FILE));
  for (const ep of [incBatch, incAlone]) assert.ok(recs.some((r) => r.t === 'A' && r.e === String(ep)), `abort of ${ep} remembered`);
  rpc = new RpcClient({ address: again.address, secret: env.cluster.secret });
  try {
    const read = async (name: string) => {
      const m = mine(name)!;
      const r = await rpc.call('shard.fetchSingle', { target: m.target, cont: c.uuid, mapVersion: env.pool.map.version, epoch: String(done + 1000n), oid: String(m.unit), dkey: b64('d'), akey: b64('a') });
      return r.header.found ? Buffer.from(r.payload ?? []).toString() : undefined;
    };
    assert.is(await read(names[0]!), undefined, 'the batched incomplete write is gone');
    assert.is(await read(names[1]!), undefined, 'the incomplete write sent on its own is gone');
    assert.is(await read(names[2]!), 'whole', 'the decided commit stays');
    // A second restart finds no mark left to resolve (the discards settled them).
  } finally {
    await rpc.close();
  }
  await env.cluster.kill(0);
  const third = await env.cluster.startEngine(0);
  assert.not.ok(third.log.join('').includes('incomplete commit(s) discarded'), `no mark left after the first restart:\n${third.log.join('')}`);
});

t.run();
