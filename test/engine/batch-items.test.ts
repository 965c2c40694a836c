/**
 * A batch of shard writes (`engine.batch`, link.ts) as an engine serves it, against a real engine
 * and etcd: each item is answered on its own — a write refused at admission (STALE_EPOCH) fails
 * alone while the others of the batch are acknowledged — two writes of one commit in the same
 * batch are decided once, every acknowledged commit is decided in the engine's log and none logs an
 * INTENT (format 3), nothing is logged for the refused write, and the values read back. And a fresh listing
 * of a container's objects (`fresh`, the DAOS way of freshness) is refused when a write anywhere in
 * the container lies in its uncertainty window.
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

const { t, env } = twoEngineSuite('batch-items');

const b64 = (s: string) => Buffer.from(s).toString('base64');

t('a batch of puts is logged before it is applied and acknowledged; a write refused at admission fails alone', async () => {
  // Shard 0 of each object, on whichever engine holds it; the batch goes to engine 0's rank.
  const { c, map, e, mine } = await containerOnEngine0(env, 'batch');
  const names = namesWithShard(mine, 3);
  const base = epochAtMs(Date.now() + 1000);
  const item = (name: string, epoch: bigint, n: number, value: string) => {
    const m = mine(name)!;
    return { method: 'shard.updateSingle', header: { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(epoch), oid: String(m.unit), dkey: b64('d'), akey: b64('a'), tx: { ranks: [e.rank], n } }, payload: Buffer.from(value) };
  };
  const items = [
    item(names[0]!, base, 1, 'one'),
    item(names[1]!, 1000n, 1, 'stale'), // below the engine's start: STALE_EPOCH
    // Two writes of one commit in the same batch: the second completes it.
    item(names[1]!, base + 1n, 2, 'two'),
    item(names[2]!, base + 1n, 2, 'three'),
  ];
  const rpc = new RpcClient({ address: e.address, secret: env.cluster.secret });
  try {
    const { header, parts } = encodeBatch(items);
    const replies = decodeBatchReply(await rpc.call(ENGINE_METHODS.batch, header, parts), items.length, e.address);
    assert.not.instance(replies[0], Error, 'the first put is acknowledged');
    assert.is(typeof (replies[0] as { header: { maxEpoch?: unknown } }).header.maxEpoch, 'string', 'its reply carries the store max epoch');
    assert.instance(replies[1], Error);
    assert.is((replies[1] as { code?: string }).code, 'STALE_EPOCH', 'the write below the engine start is refused alone');
    assert.not.instance(replies[2], Error);
    assert.not.instance(replies[3], Error);
    // Every acknowledged commit is decided in the engine's log (once), with no INTENT record
    // (tx.log format 3: the writes' stores mark the epoch prepared).
    const recs = TxLog.read(join(e.dirs[0]!, TX_LOG_FILE));
    for (const epoch of [base, base + 1n]) {
      assert.is(recs.filter((r) => r.t === 'D' && r.e === String(epoch)).length, 1, `one DONE for ${epoch}`);
    }
    assert.not.ok(recs.some((r) => r.t === 'I'), 'no INTENT record');
    assert.not.ok(recs.some((r) => r.e === '1000'), 'nothing logged for the refused write');
    // The values are there, read through the engine.
    for (const [name, value] of [[names[0]!, 'one'], [names[1]!, 'two'], [names[2]!, 'three']] as const) {
      const m = mine(name)!;
      const r = await rpc.call('shard.fetchSingle', { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(base + 10n), oid: String(m.unit), dkey: b64('d'), akey: b64('a') });
      assert.ok(r.header.found, `${name} found`);
      assert.is(Buffer.from(r.payload ?? []).toString(), value);
    }
  } finally {
    await rpc.close();
  }
});

t('a fresh listObjects is refused (STALE_EPOCH, uncertain) when a write anywhere in the container lies in (epoch, fresh]', async () => {
  const c = await env.pool.createContainer('fresh-list', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const other = await env.pool.createContainer('fresh-list-other', { oclass: 'RP_2G1', redundancyFactor: 1 });
  await c.openTargets();
  await other.openTargets();
  const e = env.cluster.engines[0]!;
  const target = env.pool.query().targets.find((x) => x.rank === e.rank)!.id;
  const rpc = new RpcClient({ address: e.address, secret: env.cluster.secret });
  try {
    const mapVersion = env.pool.map.version;
    const w = epochAtMs(Date.now()) + 5000n;
    await rpc.call('shard.updateSingle', { target, cont: c.uuid, mapVersion, epoch: String(w), oid: String(77n << 32n), dkey: b64('d'), akey: b64('a'), tx: { ranks: [e.rank], n: 1 } }, Buffer.from('x'));
    const r = w - 1000n;
    const list = (cont: string, fresh?: bigint) => rpc.call('shard.listObjects', { target, cont, mapVersion, epoch: String(r), ...(fresh !== undefined ? { fresh: String(fresh) } : {}) });
    const err = await list(c.uuid, w).then(() => undefined, (x: unknown) => x as { code?: string; info?: { epoch?: string; uncertain?: boolean } });
    assert.ok(err, 'the fresh listing was refused');
    assert.is(err!.code, 'STALE_EPOCH');
    assert.is(err!.info?.epoch, String(w));
    assert.is(err!.info?.uncertain, true);
    // The write above the window, no `fresh`, or another container: served.
    await list(c.uuid, w - 1n);
    await list(c.uuid);
    await list(other.uuid, w + 10n);
  } finally {
    await rpc.close();
  }
});

t.run();
