/**
 * A durable engine (`cairn engine --durable`) applies a batch of single-value writes together:
 * every write of the batch goes into its store before any is awaited, so the store syncs them in
 * one group (its log's commit syncs, `engine.info`'s `vos[].syncs`), not one sync per write in
 * turn; every write is acknowledged and reads back. Against two real durable engines and etcd.
 */
import * as assert from 'uvu/assert';
import { containerOnEngine0, namesWithShard, twoEngineSuite } from '../helpers/engine-direct.js';
import { RpcClient } from '../../src/net/rpc.js';
import { encodeBatch, decodeBatchReply } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';

const { t, env } = twoEngineSuite('durable-batch', { durable: true });

const b64 = (s: string) => Buffer.from(s).toString('base64');
/** Writes in the batch: each its own commit on engine 0 alone. */
const WRITES = 16;

/** The commit syncs engine `rpc`'s stores made so far, summed over its targets. */
async function storeSyncs(rpc: RpcClient): Promise<number> {
  const info = await rpc.call(ENGINE_METHODS.info, {});
  const vos = info.header.vos as Array<{ syncs: number }>;
  assert.ok(Array.isArray(vos) && vos.length > 0, 'engine.info reports its stores');
  return vos.reduce((n, v) => n + v.syncs, 0);
}

t('a batch of durable writes is synced by its store in one group, each acknowledged and read back', async () => {
  const { c, map, e, mine } = await containerOnEngine0(env, 'dbatch');
  const names = namesWithShard(mine, WRITES);
  const base = epochAtMs(Date.now() + 1000);
  const items = names.map((name, i) => {
    const m = mine(name)!;
    return { method: 'shard.updateSingle', header: { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(base + BigInt(i)), oid: String(m.unit), dkey: b64('d'), akey: b64('a'), tx: { ranks: [e.rank], n: 1 } }, payload: Buffer.from(`v${i}`) };
  });
  const rpc = new RpcClient({ address: e.address, secret: env.cluster.secret });
  try {
    // (the store opens, and syncs its creation, on a first write of its own)
    await rpc.call('shard.updateSingle', { ...items[0]!.header, epoch: String(base - 1n) }, Buffer.from('warm'));
    const before = await storeSyncs(rpc);
    const { header, parts } = encodeBatch(items);
    const replies = decodeBatchReply(await rpc.call(ENGINE_METHODS.batch, header, parts), items.length, e.address);
    for (let i = 0; i < WRITES; i++) assert.not.instance(replies[i], Error, `write ${i} acknowledged`);
    const syncs = (await storeSyncs(rpc)) - before;
    assert.ok(syncs >= 1, `the durable store synced the batch (${syncs} syncs)`);
    assert.ok(syncs <= 2, `the batch's ${WRITES} writes were synced in one group, not one sync each (${syncs} syncs)`);
    for (let i = 0; i < WRITES; i++) {
      const m = mine(names[i]!)!;
      const r = await rpc.call('shard.fetchSingle', { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(base + 100n), oid: String(m.unit), dkey: b64('d'), akey: b64('a') });
      assert.ok(r.header.found, `${names[i]} found`);
      assert.is(Buffer.from(r.payload ?? []).toString(), `v${i}`);
    }
  } finally {
    await rpc.close();
  }
});

t.run();
