/**
 * Connected pools (issue 7): a real etcd and five `cairn engine` processes on loopback, each
 * serving two targets. The same object API as embedded pools runs against them; an engine is
 * SIGKILLed under load, reads continue degraded, its lease expires and it is excluded
 * automatically, rebuild restores redundancy, the engine is restarted and reintegrated, and every
 * acknowledged byte is verified at each step. Clients and engines without the pool secret are refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Cluster, until } from '../helpers/cluster.js';
import { collect, rejectsWith, text } from '../helpers/tmp.js';
import { RpcClient, rawReadStats } from '../../src/net/rpc.js';
import type { Pool } from '../../src/pool/pool.js';

const t = suite('cluster');
let cluster: Cluster;
let pool: Pool;

t.before(async () => {
  cluster = await Cluster.start({ engines: 5, targetsPerEngine: 2, leaseTtl: 2, excludeDelayMs: 500 });
  pool = await cluster.connect();
});
t.after(async () => {
  await pool?.close();
  await cluster?.stop();
});

t('five engines form one pool: ten targets, five ranks, all in service', async () => {
  await until(() => pool.query().targets.length === 10, 10_000, 'all engines in the map');
  const q = pool.query();
  assert.is(new Set(q.targets.map((x) => x.rank)).size, 5);
  assert.ok(q.targets.every((x) => x.state === 'UPIN'), JSON.stringify(q.targets.map((x) => x.state)));
});

t('the object API end to end: KV, arrays, EC and replicas, punch, lists, snapshots, transactions', async () => {
  const c = await pool.createContainer('e2e', { oclass: 'EC_2P1G1', redundancyFactor: 1, cellSize: 4096 });
  const kv = c.kv('dir', { oclass: 'RP_3G1' });
  for (let i = 0; i < 20; i++) await kv.put(`k${i}`, `v${i}`);
  assert.is(await kv.getString('k7'), 'v7');
  assert.is((await collect(kv.list())).length, 20);
  await kv.remove('k7');
  assert.is(await kv.get('k7'), undefined);

  const arr = c.array('blob', { chunkSize: 64 * 1024 });
  const data = randomBytes(300_000);
  await arr.write(0, data);
  assert.ok(Buffer.from(await arr.read(0, data.length)).equals(data));
  await arr.write(1000, 'patch');
  assert.is(Buffer.from(await arr.read(1000, 5)).toString(), 'patch');

  const snap = await c.snapshot('s1');
  await kv.put('k1', 'changed');
  assert.is(await kv.getString('k1'), 'changed');
  assert.is(await kv.getString('k1', { snapshot: snap }), 'v1');

  // A transaction over objects on several engines commits atomically (two-phase).
  const tx = c.beginTx();
  for (let i = 0; i < 6; i++) await tx.object(`txo${i}`).update('d', 'a', `tx-${i}`);
  await tx.commit();
  for (let i = 0; i < 6; i++) assert.is(text(await c.object(`txo${i}`).fetch('d', 'a')), `tx-${i}`);
  const tx2 = c.beginTx();
  await tx2.object('txo0').update('d', 'a', 'aborted');
  await tx2.abort();
  assert.is(text(await c.object('txo0').fetch('d', 'a')), 'tx-0');

  // A second client sees everything the first acknowledged, and its own writes are seen back.
  const other = await cluster.connect();
  try {
    const c2 = await other.openContainer('e2e');
    assert.is(await c2.kv('dir', { oclass: 'RP_3G1' }).getString('k3'), 'v3');
    assert.ok(Buffer.from(await c2.array('blob', { chunkSize: 64 * 1024 }).read(0, 1000)).equals(Buffer.concat([data.subarray(0, 1000)])));
    await c2.kv('dir', { oclass: 'RP_3G1' }).put('from-2', 'hello');
  } finally {
    await other.close();
  }
  assert.is(await kv.getString('from-2'), 'hello');
  await rejectsWith(pool.createContainer('e2e'), 'EXISTS');
});

t('bulk reads from engines on this host are located reads (src/net/direct-read.ts): the client reads the data files, byte for byte', async () => {
  const MIB = 1 << 20;
  for (const oclass of ['EC_2P1G1', 'RP_3G1']) {
    const c = await pool.createContainer(`located-${oclass}`, { oclass });
    const arr = c.array('f', { chunkSize: MIB });
    const data = randomBytes(3 * MIB);
    await arr.write(0, data);
    const d0 = rawReadStats.directBytes, m0 = rawReadStats.directMisses;
    const into = new Uint8Array(MIB);
    for (let i = 0; i < 3; i++) {
      await arr.read(i * MIB, MIB, { into });
      assert.ok(Buffer.from(into).equals(data.subarray(i * MIB, (i + 1) * MIB)), `${oclass} chunk ${i}`);
    }
    assert.ok(Buffer.from(await arr.read(0, data.length)).equals(data), `${oclass} all at once`);
    assert.is(rawReadStats.directBytes - d0, 6 * MIB, `${oclass}: every byte was read from the engines' data files`);
    assert.is(rawReadStats.directMisses - m0, 0);
    // Overwritten: the old extent's place is no longer what a read locates; the new bytes come back.
    const again = randomBytes(MIB);
    await arr.write(MIB, again);
    await arr.read(MIB, MIB, { into });
    assert.ok(Buffer.from(into).equals(again), `${oclass} after an overwrite`);
  }
});

t('a client or a peer without the pool secret is refused', async () => {
  await rejectsWith(cluster.connect('not-the-secret'), 'AUTH_FAILED');
  const e = cluster.engines[0]!;
  const rogue = new RpcClient({ address: e.address, secret: 'not-the-secret' });
  try {
    await rejectsWith(rogue.call('engine.info', {}), 'AUTH_FAILED');
    await rejectsWith(rogue.call('shard.fetchSingle', { target: 0, cont: '00000000-0000-0000-0000-000000000000', mapVersion: 1, epoch: '1', oid: '1', dkey: '', akey: '' }), 'AUTH_FAILED');
  } finally {
    await rogue.close();
  }
  const ok = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    const r = await ok.call('engine.info', {});
    assert.is(r.header.rank, e.rank);
  } finally {
    await ok.close();
  }
});

t('a request planned with an old pool map is refused with STALE_MAP; the CLI reads a connected pool', async () => {
  const e = cluster.engines[0]!;
  const c = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    const cont = (await pool.listContainers())[0]!.uuid;
    await rejectsWith(c.call('shard.fetchSingle', { target: pool.query().targets.find((x) => x.rank === e.rank)!.id, cont, mapVersion: 0, epoch: '1', oid: '1', dkey: 'ZA==', akey: 'YQ==' }), 'STALE_MAP');
  } finally {
    await c.close();
  }
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/cairn-cli.ts', 'pool', 'query', '--etcd', cluster.etcdUrl, '--pool', cluster.pool, '--json'],
      { cwd: new URL('../..', import.meta.url).pathname, env: { ...process.env, CAIRN_POOL_SECRET: cluster.secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    let o = '', err = '';
    child.stdout.on('data', (d) => (o += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`exit ${code}: ${err}`))));
  });
  const q = JSON.parse(out) as { targets: unknown[]; containers: number; space: { used: number } };
  assert.is(q.targets.length, 10);
  assert.ok(q.containers >= 1);
  // Engines report the space their targets use (refreshed every 5 s).
  await until(() => pool.query().space.used > 0, 12_000, 'engines to report space used');
});

t('SIGKILL an engine under load: degraded reads, automatic exclusion, rebuild, restart, reintegrate; every byte verified', async () => {
  const c = await pool.createContainer('load', { oclass: 'EC_2P1G1', redundancyFactor: 1, cellSize: 4096 });
  const model = new Map<string, Buffer>();
  const put = async (name: string, v: Buffer) => {
    // A write that meets the failure before the engine is excluded is retried, like any client would.
    for (let attempt = 0; ; attempt++) {
      try { await c.object(name).update('d', 'a', v); model.set(name, v); return; } catch (err) {
        if (attempt > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const verifyAll = async (what: string) => {
    for (const [name, v] of model) {
      const got = await c.object(name).fetch('d', 'a');
      assert.ok(got && Buffer.from(got).equals(v), `${what}: ${name} differs`);
    }
  };
  for (let i = 0; i < 60; i++) await put(`o${i}`, randomBytes(1000 + i * 97));

  let stop = false;
  let n = 60;
  const load = (async () => { while (!stop) await put(`o${n++ % 120}`, randomBytes(500 + (n % 50) * 131)); })();
  await new Promise((r) => setTimeout(r, 300));
  const victim = 2;
  const rank = cluster.engines[victim]!.rank;
  await cluster.kill(victim);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await load;
  await verifyAll('degraded, engine dead, not yet excluded');

  // The lease expires (2 s), the leader excludes the rank after 0.5 s, and rebuild runs.
  await until(() => pool.query().targets.filter((x) => x.rank === rank).every((x) => x.state === 'DOWN' || x.state === 'DOWNOUT'), 20_000, 'automatic exclusion');
  for (let i = 0; i < 20; i++) await put(`after-exclude-${i}`, randomBytes(2000));
  await pool.waitForRebuild();
  const q = pool.query();
  assert.ok(q.targets.filter((x) => x.rank === rank).every((x) => x.state === 'DOWNOUT'), JSON.stringify(q.targets));
  await verifyAll('after rebuild');

  // Restart the engine on its directories: same rank; reintegrate its targets and rebuild onto them.
  const back = await cluster.startEngine(victim);
  assert.is(back.rank, rank);
  for (const tgt of pool.query().targets.filter((x) => x.rank === rank)) await pool.reintegrate(tgt.id);
  await pool.waitForRebuild();
  assert.ok(pool.query().targets.every((x) => x.state === 'UPIN'), JSON.stringify(pool.query().targets.map((x) => x.state)));
  await verifyAll('after reintegration');
  // Redundancy is real again: lose a different engine and read everything degraded.
  await cluster.kill(4);
  await verifyAll('degraded after reintegration');
  await cluster.startEngine(4);
});

t.run();
