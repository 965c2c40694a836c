/**
 * Pool specification: persistence across reopen and processes, exclusive open, query, degraded
 * I/O up to the redundancy factor, DATA_LOST beyond it, and reads that survive corrupted or
 * missing target files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { rmSync, readdirSync, statSync, openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Rng } from '../../core/rng.js';
import { EC_WHOLE_SINGLE_MAX_BYTES } from '../../src/io/io.js';
import { tmpDir, text, rejectsWith } from '../helpers/tmp.js';

const t = suite('pool');
const root = tmpDir();

t('create, write, close, reopen in this and in a new process: everything is there', async () => {
  const dir = join(root, 'persist');
  let pool = await Pool.create(dir, { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 8 << 20, dataBytes: 32 << 20 });
  const c = await pool.createContainer('c', { oclass: 'EC_2P1G1', cellSize: 1024 });
  const data = new Rng(5).bytes(100_000);
  await c.object('o').update('d', 'a', { recx: { index: 0, count: data.length }, data });
  await c.object('o').update('d', 's', 'single');
  await c.snapshot('snap');
  await pool.close();
  pool = await Pool.open(dir);
  const c2 = await pool.openContainer('c');
  assert.equal(await c2.object('o').fetch('d', 'a', { recx: { index: 0, count: data.length } }), data);
  assert.equal(c2.listSnapshots().map((s) => s.name), ['snap']);
  await pool.close();
  const script = `import { Pool } from ${JSON.stringify(new URL('../../src/pool/pool.ts', import.meta.url).pathname)};
    const p = await Pool.open(${JSON.stringify(dir)}); const c = await p.openContainer('c');
    const v = await c.object('o').fetch('d', 's'); process.stdout.write(new TextDecoder().decode(v)); await p.close();`;
  const scriptPath = join(root, 'child.mts');
  writeFileSync(scriptPath, script);
  const out = execFileSync(process.execPath, ['--import', 'tsx', scriptPath], { encoding: 'utf8' });
  assert.is(out, 'single');
});

t('a pool is open in one process at a time: POOL_BUSY; creating over a pool: EXISTS; missing: NOT_FOUND', async () => {
  const dir = join(root, 'busy');
  const pool = await Pool.create(dir, { nodes: 1, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 8 << 20 });
  await rejectsWith(Pool.open(dir), 'POOL_BUSY'); // already open in this process
  // Simulate another live process holding the lock (this test's parent process).
  await pool.close();
  writeFileSync(join(dir, 'LOCK'), String(process.ppid));
  await rejectsWith(Pool.open(dir), 'POOL_BUSY');
  rmSync(join(dir, 'LOCK'));
  await rejectsWith(Pool.create(dir), 'EXISTS');
  await rejectsWith(Pool.open(join(root, 'nothing-here')), 'NOT_FOUND');
  await rejectsWith(Pool.create(join(root, 'bad'), { nodes: 0 }), 'INVALID_ARGUMENT');
  await rejectsWith(Pool.create(join(root, 'bad2'), { scmBytes: 5 }), 'INVALID_ARGUMENT');
});

t('query reports targets with id, node, rank, state and space', async () => {
  const dir = join(root, 'query');
  const pool = await Pool.create(dir, { nodes: 2, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 8 << 20 });
  const q = pool.query();
  assert.is(q.targets.length, 8);
  assert.equal(q.targets[5], { ...q.targets[5]!, id: 5, node: 1, rank: 2, state: 'UPIN' });
  assert.ok(q.space.total === 8 * (16 << 20));
  await pool.exclude(5);
  assert.ok(['DOWN', 'DOWNOUT'].includes(pool.query().targets[5]!.state));
  await pool.waitForRebuild();
  assert.is(pool.query().targets[5]!.state, 'DOWNOUT');
  assert.is(pool.query().rebuild.state, 'idle');
  await pool.close();
  const again = await Pool.open(dir);
  assert.is(again.query().targets[5]!.state, 'DOWNOUT');
  await again.close();
});

async function fill(cont: Awaited<ReturnType<Pool['createContainer']>>, n: number, seed: number): Promise<Map<string, Uint8Array>> {
  const rng = new Rng(seed);
  const model = new Map<string, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const v = rng.bytes(1 + rng.int(20_000));
    await cont.object(`obj-${i % 7}`).update(`dkey-${i}`, 'a', v);
    model.set(`${i % 7}/dkey-${i}`, v);
  }
  return model;
}

async function verify(cont: Awaited<ReturnType<Pool['createContainer']>>, model: Map<string, Uint8Array>): Promise<void> {
  for (const [k, v] of model) {
    const [o, d] = k.split('/');
    assert.equal(await cont.object(`obj-${o}`).fetch(d!, 'a'), v, k);
  }
}

for (const oclass of ['EC_4P2G1', 'RP_3G1']) {
  t(`${oclass}: exclude up to the redundancy factor, reads and writes continue; one more: DATA_LOST`, async () => {
    const dir = join(root, `degraded-${oclass}`);
    const pool = await Pool.create(dir, { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 8 << 20, dataBytes: 32 << 20 });
    const c = await pool.createContainer('c', { oclass, redundancyFactor: 2, cellSize: 1024 });
    const model = await fill(c, 40, 11);
    const arr = new Rng(12).bytes(50_000);
    await c.array('arr').write(0, arr);
    const layout = (c as unknown as { layout(o: bigint): { groups: number[][] } }).layout(c.object('obj-0').oid).groups[0]!;
    await pool.exclude(layout[0]!);
    await verify(c, model);
    // Writes while degraded are readable, and stay readable after a second failure.
    // (above EC_WHOLE_SINGLE_MAX_BYTES: striped, so p + 1 lost shards of its group lose it; a
    // smaller value is stored whole on role 0 and the parity roles and may outlive them)
    const degraded = new Rng(13).bytes(EC_WHOLE_SINGLE_MAX_BYTES + 1000);
    await c.object('obj-0').update('new', 'a', degraded);
    model.set('0/new', degraded);
    await pool.exclude(layout[1]!);
    await verify(c, model);
    assert.equal(await c.array('arr').read(0, arr.length), arr);
    // Rebuild restores redundancy in the background; once it is done, losing p+1 shards of
    // one group at once is more than the class survives.
    await pool.waitForRebuild();
    await verify(c, model);
    const now = (c as unknown as { layout(o: bigint): { groups: number[][] } }).layout(c.object('obj-0').oid).groups[0]!;
    const states = pool.query().targets;
    const inService = now.filter((x) => states[x]!.state === 'UPIN');
    // (EC_4P2 on 6 targets has no spare: its rebuild is 'blocked' and two shards stay lost.)
    await pool.exclude(inService.slice(0, 3 - (now.length - inService.length)));
    await rejectsWith(c.object('obj-0').fetch('new', 'a'), 'DATA_LOST');
    // Other objects whose groups lost at most p shards stay readable; none returns wrong bytes.
    for (const [k, v] of model) {
      const [o, d] = k.split('/');
      const got = await c.object(`obj-${o}`).fetch(d!, 'a').catch((e: { code?: string }) => e);
      if (got instanceof Uint8Array) assert.equal(got, v, k);
      else assert.is((got as { code?: string }).code, 'DATA_LOST');
    }
    await pool.close();
  });
}

t('a corrupted or deleted target is read around: right bytes, bad shard recorded', async () => {
  const dir = join(root, 'corrupt');
  const pool = await Pool.create(dir, { nodes: 3, ranksPerNode: 1, targetsPerRank: 1, scmBytes: 8 << 20, dataBytes: 32 << 20 });
  const c = await pool.createContainer('c', { oclass: 'EC_2P1G1', redundancyFactor: 1, cellSize: 1024 });
  const small = new Rng(1).bytes(900);       // inline in the pmem log
  const large = new Rng(2).bytes(200_000);   // in the block data file
  await c.object('o').update('d', 'small', small);
  await c.object('o').update('d', 'large', { recx: { index: 0, count: large.length }, data: large });
  await pool.close();
  // Flip bytes in every file of target 0 (its pmem log and data file).
  const tdir = join(dir, 'targets', '0');
  const flip = (p: string) => {
    const size = statSync(p).size;
    const fd = openSync(p, 'r+');
    const rng = new Rng(99);
    for (let i = 0; i < 200; i++) writeSync(fd, Buffer.from([rng.u32() & 0xff]), 0, 1, 4096 + rng.int(Math.max(1, Math.min(size, 1 << 20) - 4096)));
    closeSync(fd);
  };
  for (const f of readdirSync(tdir)) flip(join(tdir, f));
  const p2 = await Pool.open(dir);
  const c2 = await p2.openContainer('c');
  assert.equal(await c2.object('o').fetch('d', 'small'), small);
  assert.equal(await c2.object('o').fetch('d', 'large', { recx: { index: 0, count: large.length } }), large);
  await p2.close();
  // A target directory that vanished entirely.
  rmSync(join(dir, 'targets', '1'), { recursive: true, force: true });
  const p3 = await Pool.open(dir);
  const c3 = await p3.openContainer('c');
  const got = await c3.object('o').fetch('d', 'large', { recx: { index: 0, count: large.length } }).catch((e) => e);
  // Two of three shards damaged: either reconstructed correctly or DATA_LOST, never wrong bytes.
  if (got instanceof Uint8Array) assert.equal(got, large);
  else assert.is((got as { code?: string }).code, 'DATA_LOST');
  assert.ok(p3.query().badShards >= 1);
  await p3.close();
  void text;
});

t.run();
