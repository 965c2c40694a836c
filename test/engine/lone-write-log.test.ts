/**
 * A single-value update sent on its own (`shard.updateSingle`, as a client sends a lone write at
 * queue depth 1), against a real engine and etcd: the commit notices its header carries and its
 * own P record are appended in one synchronous stretch, so they reach the engine's tx.log in one
 * group (one write), not a group for the notices and a second one for the write. The write is
 * acknowledged, the noticed commit is decided, and the value reads back.
 */
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { containerOnEngine0, namesWithShard, twoEngineSuite } from '../helpers/engine-direct.js';
import { RpcClient } from '../../src/net/rpc.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';
import { TX_LOG_FILE } from '../../src/engine/engine.js';
import { TxLog, type TxRecord } from '../../src/engine/txlog.js';

// (not durable: a durable engine logs the write's P only once its store synced the write, in a group after the notices')
const { t, env } = twoEngineSuite('lone-write-log', { durable: false });

const b64 = (s: string) => Buffer.from(s).toString('base64');

t('a lone write logs the decisions its header brings and its own prepared record in one group', async () => {
  const { c, map, e, other, mine } = await containerOnEngine0(env, 'lone');
  const [first, second] = namesWithShard(mine, 2);
  const base = epochAtMs(Date.now() + 1000);
  // Each write is one of two of a commit across both engines' ranks: logged P here, decided by a notice.
  const header = (name: string, epoch: bigint) => {
    const m = mine(name)!;
    return { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(epoch), oid: String(m.unit), dkey: b64('d'), akey: b64('a'), tx: { ranks: [e.rank, other.rank], n: 1 } };
  };
  const log = join(e.dirs[0]!, TX_LOG_FILE);
  const rpc = new RpcClient({ address: e.address, secret: env.cluster.secret });
  try {
    await rpc.call('shard.updateSingle', header(first!, base), Buffer.from('one'));
    const before = TxLog.readGroups(log).length;
    // The second write carries the first commit's notice, as a client's next request does.
    const r = await rpc.call('shard.updateSingle', { ...header(second!, base + 1n), commits: [[c.uuid, String(base)]] }, Buffer.from('two'));
    assert.is(typeof r.header.maxEpoch, 'string', 'the second write is acknowledged');
    const added = TxLog.readGroups(log).slice(before);
    const has = (g: TxRecord[], t: TxRecord['t'], epoch: bigint) => g.some((r) => r.t === t && r.e === String(epoch));
    const decided = added.filter((g) => has(g, 'D', base));
    const prepared = added.filter((g) => has(g, 'P', base + 1n));
    assert.is(decided.length, 1, 'the noticed commit is decided once');
    assert.is(prepared.length, 1, 'the second write is logged prepared once');
    assert.is(decided[0], prepared[0], 'the decision and the prepared record share one group (one write)');
    assert.is(added.length, 1, 'the request wrote one group');
    const m = mine(first!)!;
    const got = await rpc.call('shard.fetchSingle', { target: m.target, cont: c.uuid, mapVersion: map.version, epoch: String(base + 10n), oid: String(m.unit), dkey: b64('d'), akey: b64('a') });
    assert.ok(got.header.found, 'the first value is there');
    assert.is(Buffer.from(got.payload ?? []).toString(), 'one');
  } finally {
    await rpc.close();
  }
});

t.run();
