/**
 * Commits of a connected pool without etcd (issue 15), against real engines and a real etcd:
 *
 * - etcd sees no write per object or per commit (its revision counter, which counts every write);
 * - a commit whose client vanished after every write succeeded (no notice ever sent) is committed
 *   by its participants' seal round; one whose client vanished half-way is aborted, and its late
 *   write is refused;
 * - keys a transaction only read are checked against every client's commits;
 * - read stamps cover listings and punches: a write under a listing, or a punch under a read, is
 *   refused (STALE_EPOCH);
 * - `watch()` does not miss a commit that only a restarted engine took part in;
 * - `pool.extend()` on a connected pool names the engine command; engine directories of the older
 *   format are refused with FORMAT_VERSION.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Cluster, until } from '../helpers/cluster.js';
import { rejectsWith, text, tmpDir } from '../helpers/tmp.js';
import type { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { RpcClient } from '../../src/net/rpc.js';
import { containerPort } from '../../src/container/container.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';
import { unitOid } from '../../src/io/shard-store.js';
import { Engine } from '../../src/engine/engine.js';

const t = suite('commits');
let cluster: Cluster;
let a: Pool, b: Pool;
const TX_TIMEOUT_MS = 1500;

t.before(async () => {
  cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, txTimeoutMs: TX_TIMEOUT_MS });
  a = await cluster.connect();
  b = await cluster.connect();
});
t.after(async () => { await a?.close(); await b?.close(); await cluster?.stop(); });

async function etcdRevision(): Promise<number> {
  const r = await fetch(`${cluster.etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/cairn/').toString('base64') }) });
  return Number(((await r.json()) as { header: { revision: string } }).header.revision);
}

/** The engine (index in the cluster) serving a rank. */
const engineOfRank = (rank: number) => cluster.engines.findIndex((e) => e?.rank === rank);
const b64 = (s: string) => Buffer.from(s).toString('base64');

t('etcd sees no write per object or per commit', async () => {
  const c = await a.createContainer('quiet', { oclass: 'EC_2P1G1', redundancyFactor: 1 });
  await c.openTargets();
  const rev0 = await etcdRevision();
  for (let i = 0; i < 100; i++) await c.object(`o${i}`).update('d', 'a', `v${i}`);
  await Promise.all(Array.from({ length: 100 }, (_, i) => c.object(`p${i}`).update('d', 'a', `w${i}`)));
  const tx = c.beginTx();
  for (let i = 0; i < 5; i++) await tx.object(`t${i}`).update('d', 'a', 'x');
  await tx.commit();
  assert.is(await etcdRevision(), rev0, 'etcd revision unchanged by 201 commits');
  assert.is(text(await c.object('o42').fetch('d', 'a')), 'v42');
});

t('a commit whose client vanished after its writes is committed by its participants; one that vanished half-way is aborted', async () => {
  const c = await a.createContainer('orphans', { oclass: 'RP_2G1', redundancyFactor: 1 });
  await c.openTargets();
  const port = containerPort(c);
  const map = a.map;
  const send = async (name: string, epoch: bigint, value: string, which: 'all' | 'first') => {
    const oid = c.object(name).oid;
    const group = port.layout(oid).groups[0]!;
    const ranks = [...new Set(group.map((tg) => map.targets[tg]!.rank))].sort((x, y) => x - y);
    assert.is(ranks.length, 2, 'the replicas live on two engines');
    const sent = which === 'all' ? group : group.slice(0, 1);
    for (const [shard, target] of group.entries()) {
      if (!sent.includes(target)) continue;
      const e = cluster.engines[engineOfRank(map.targets[target]!.rank)]!;
      const rpc = new RpcClient({ address: e.address, secret: cluster.secret });
      try {
        await rpc.call('shard.updateSingle', { target, cont: c.uuid, mapVersion: map.version, epoch: String(epoch), oid: String(unitOid(oid, shard)), dkey: b64('d'), akey: b64('a'), tx: { ranks, n: 1 } }, Buffer.from(value));
      } finally { await rpc.close(); }
    }
    return { oid, group, ranks };
  };
  const e1 = epochAtMs(Date.now()) + 11n, e2 = e1 + 1000n;
  const t0 = Date.now();
  await send('whole', e1, 'whole value', 'all');
  const half = await send('half', e2, 'half value', 'first');
  // A reader waits for the decision; the participants settle it after their tx timeout.
  assert.is(text(await c.object('whole').fetch('d', 'a', { epoch: e2 + 10n })), 'whole value', 'every participant held its write: committed');
  assert.ok(Date.now() - t0 >= TX_TIMEOUT_MS, 'decided by the participants after their tx timeout (no notice came)');
  assert.is(await c.object('half').fetch('d', 'a', { epoch: e2 + 10n }), undefined, 'one participant never got its write: aborted');
  // The write that never arrived is refused now (the seal remembered the abort there).
  const target = half.group[1]!;
  const e = cluster.engines[engineOfRank(map.targets[target]!.rank)]!;
  const rpc = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    await rejectsWith(rpc.call('shard.updateSingle', { target, cont: c.uuid, mapVersion: map.version, epoch: String(e2), oid: String(unitOid(half.oid, 1)), dkey: b64('d'), akey: b64('a'), tx: { ranks: half.ranks, n: 1 } }, Buffer.from('late')), 'STALE_EPOCH');
  } finally { await rpc.close(); }
  assert.is(await c.object('half').fetch('d', 'a'), undefined);
});

t('keys a transaction only read are checked against other clients\' commits', async () => {
  const ca = await a.createContainer('readset', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const cb: Container = await b.openContainer('readset');
  await ca.object('x').update('d', 'a', 'x0');
  await ca.object('y').update('d', 'a', 'y0');
  // Write skew: the transaction reads x and writes y; another client changes x meanwhile.
  const tx = ca.beginTx();
  assert.is(text(await tx.object('x').fetch('d', 'a')), 'x0');
  await cb.object('x').update('d', 'a', 'x1 by b');
  await tx.object('y').update('d', 'a', 'y from tx');
  await rejectsWith(tx.commit(), 'TX_RESTART');
  assert.is(text(await ca.object('y').fetch('d', 'a')), 'y0', 'nothing of the restarted transaction is visible');
  // Unrelated writes by the other client do not restart it.
  const tx2 = ca.beginTx();
  assert.is(text(await tx2.object('x').fetch('d', 'a')), 'x1 by b');
  await cb.object('z').update('d', 'a', 'z by b');
  await tx2.object('y').update('d', 'a', 'y from tx2');
  await tx2.commit();
  assert.is(text(await cb.object('y').fetch('d', 'a')), 'y from tx2');
});

t('read stamps cover listings and punches', async () => {
  const c = await a.createContainer('stamps', { oclass: 'S1' });
  await c.openTargets();
  const q = a.query();
  const e = cluster.engines[0]!;
  const target = q.targets.find((x) => x.rank === e.rank)!.id;
  const rpc = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    const route = { target, cont: c.uuid, mapVersion: q.mapVersion, oid: String(4242n << 32n) };
    const R = epochAtMs(Date.now()) + 5000n;
    // A listing of the object's dkeys at R: a new dkey below R would change it.
    await rpc.call('shard.listDkeys', { ...route, epoch: String(R), skip: 0 });
    await rejectsWith(rpc.call('shard.updateSingle', { ...route, epoch: String(R - 7n), dkey: b64('new'), akey: b64('a') }, new Uint8Array([1])), 'STALE_EPOCH');
    // A read of one akey at R2: punching its dkey (or the object) below R2 would change it.
    const route2 = { ...route, oid: String(4343n << 32n) };
    const R2 = R + 100n;
    await rpc.call('shard.fetchSingle', { ...route2, epoch: String(R2), dkey: b64('d'), akey: b64('a') });
    await rejectsWith(rpc.call('shard.punchDkey', { ...route2, epoch: String(R2 - 3n), dkey: b64('d') }), 'STALE_EPOCH');
    await rejectsWith(rpc.call('shard.punchObject', { ...route2, epoch: String(R2 - 2n) }), 'STALE_EPOCH');
    // Another dkey of that object is not affected; above the reads everything is accepted.
    await rpc.call('shard.punchDkey', { ...route2, epoch: String(R2 - 1n), dkey: b64('other') });
    await rpc.call('shard.punchDkey', { ...route2, epoch: String(R2 + 1n), dkey: b64('d') });
  } finally { await rpc.close(); }
});

t('watch does not miss a commit only a restarted engine took part in', async () => {
  const c = await a.createContainer('watched', { oclass: 'S1' });
  await c.openTargets();
  const victim = cluster.engines[1]!;
  // A name whose only shard lives on the victim: its commits are decided by that engine alone.
  const port = containerPort(c);
  let name = '';
  for (let i = 0; !name; i++) if (a.map.targets[port.layout(c.object(`n${i}`).oid).groups[0]![0]!]!.rank === victim.rank) name = `n${i}`;
  const consumer = await cluster.connect();
  const cc = await consumer.openContainer('watched');
  const from = cc.stableEpoch();
  const seen: bigint[] = [];
  const ac = new AbortController();
  const consuming = (async () => {
    try { for await (const ev of cc.watch({ from, signal: ac.signal })) seen.push(ev.epoch); } catch (err) { if ((err as { code?: string }).code !== 'ABORTED') throw err; }
  })();
  try {
    const epoch = await c.object(name).update('d', 'a', 'only on the victim');
    await cluster.kill(1); // within the watch lag: no freeze has covered the commit yet
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(!seen.includes(epoch), 'not reported while its engine is down');
    await cluster.startEngine(1);
    await until(() => seen.includes(epoch), 20_000, 'the watcher to report the commit of the restarted engine');
    assert.is(text(await c.object(name).fetch('d', 'a')), 'only on the victim');
  } finally {
    ac.abort();
    await consuming;
    await consumer.close();
  }
});

t('pool.extend() names the engine command; older engine directories are refused', async () => {
  try { await a.extend({ nodes: 1 }); assert.unreachable(); } catch (err) {
    assert.is((err as { code?: string }).code, 'UNSUPPORTED');
    assert.match((err as Error).message, /cairn engine --pool \S+ --etcd \S+ --targets DIR\.\.\. --listen HOST:PORT/);
  }
  const dir = tmpDir('cairn-old-engine-');
  mkdirSync(join(dir, 't0', '0a1b2c3d-0000-4000-8000-000000000000'), { recursive: true });
  writeFileSync(join(dir, 't0', '0a1b2c3d-0000-4000-8000-000000000000', 'vos.scm'), Buffer.alloc(4096));
  await rejectsWith(Engine.start({ pool: cluster.pool, etcd: cluster.etcdUrl, targets: [join(dir, 't0')], listen: '127.0.0.1:0', secret: cluster.secret }), 'FORMAT_VERSION');
});

t.run();
