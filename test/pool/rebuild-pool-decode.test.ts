/**
 * Rebuilt EC cells decoded on the pool job that hashes and writes them (migrate.ts `cellStep`:
 * each mover's buffer is a deferred fill of the k source cells with its decode row, media/fills.ts)
 * against the JavaScript-thread decode (`CAIRN_REBUILD_POOL_DECODE=0`, `rebuildPoolDecode(false)`):
 * the same pool loses two targets of a group at once (two movers per group, whose roles vary with
 * each dkey's parity rotation: data + data, data + parity, parity + parity), and every byte must
 * read back as written (model), in both modes; the pool-decoded run must have sent its fills to
 * the write jobs and computed none on this thread, and the other none at all. Arrays end inside a
 * cell too (a data mover's partial last cell takes the JavaScript decode). And with the pool
 * decode, every value of a healthy source damaged: the rebuild reads around it (its slot is read
 * again from another shard) and never writes a decode of damaged bytes (the damaged target then
 * fails too, so reads depend on the rebuilt shard). And a destination that is not a local
 * container store (as a remote engine's store: it takes the bytes as they are when called) must get
 * decoded bytes, never a buffer whose fill is still pending. Fused native steps (which decode in
 * their own job, not through fills) are off here: test/pool/rebuild-grouped covers them. Real pool files.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { rebuildPoolDecode, rebuildFused } from '../../src/pool/migrate.js';
import { deferredFills, fillStats } from '../../src/media/fills.js';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { targetsOf, damageValues } from './rebuild-model.js';
import { swallowedCounts } from '../../core/log.js';
import { containerPort } from '../../src/container/container.js';

const t = suite('rebuild pool decode');
const root = tmpDir('cairn-rebuild-pool-decode-');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 };
/** Bytes of each array (1 MiB chunks: shard values above the store's synchronous-write size): whole stripes of 4 KiB cells, and ends inside a cell. */
const SIZES = [1 << 20, (700 << 10) + 1000, (2 << 20) + 4096 * 5 + 17];
const CHUNK = 1 << 20;
const CLASSES = ['EC_4P2G1', 'EC_8P2G1'];

async function run(name: string, pool: boolean): Promise<{ sent: number; here: number }> {
  const was = rebuildPoolDecode(), wasFused = rebuildFused();
  rebuildPoolDecode(pool);
  rebuildFused(false); // (the deferred fills are under test here; fused steps: rebuild-grouped)
  try {
    const dir = join(root, name);
    const p = await Pool.create(dir, SHAPE);
    const rng = new Rng(99);
    const c = await p.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const model = new Map<string, { oclass: string; data: Uint8Array }>();
    for (const oclass of CLASSES) {
      for (const [i, n] of SIZES.entries()) {
        const data = rng.bytes(n);
        await c.array(`${oclass}-${i}`, { oclass, chunkSize: CHUNK }).write(0, data);
        model.set(`${oclass}-${i}`, { oclass, data });
      }
    }
    const verify = async () => {
      for (const [name, { oclass, data }] of model) {
        const got = await c.array(name, { oclass, chunkSize: CHUNK }).read(0, data.length);
        assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(data)) === 0, `${name}: wrong bytes after the rebuild`);
      }
    };
    // Two targets of one group fail together: every group that holds both has two movers.
    const g = targetsOf(c, 'EC_4P2G1-0', 'EC_4P2G1');
    const before = fillStats();
    await p.exclude([g[1]!, g[4]!]);
    await p.waitForRebuild();
    const after = fillStats();
    assert.equal(p.rebuildStatus().lost, [], 'nothing lost');
    assert.ok(p.rebuildStatus().bytes > 0, 'shards were rebuilt');
    await verify();
    // The rebuilt shards alone must supply reads now: two more targets of the group fail (no rebuild needed to read).
    await p.exclude([g[0]!, g[5]!]);
    await p.waitForRebuild();
    await verify();
    await p.close();
    return { sent: after.sent - before.sent, here: after.computedHere - before.computedHere };
  } finally {
    rebuildPoolDecode(was);
    rebuildFused(wasFused);
  }
}

t('two movers per group: every byte right whether the decode runs on the write jobs or here', async () => {
  const off = await run('js', false);
  assert.is(off.sent, 0, 'the JavaScript decode sends no fill');
  const on = await run('pool', true);
  if (deferredFills()) {
    assert.ok(on.sent > 0, 'rebuilt cells were decoded on their write jobs');
    assert.is(on.here, 0, 'no fill was computed on the JavaScript thread');
  }
});

t('pool decode, every value of a healthy source damaged: the rebuild reads around it and its shard holds the right bytes', async () => {
  const was = rebuildPoolDecode(), wasFused = rebuildFused();
  rebuildPoolDecode(true);
  rebuildFused(false); // (the deferred fills are under test here; fused steps: rebuild-grouped)
  try {
    const dir = join(root, 'bad-source');
    let p = await Pool.create(dir, SHAPE);
    let c = await p.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const rng = new Rng(5);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 6; i++) {
      const data = rng.bytes((4 << 20) + 4096 * i); // (several 1 MiB dkeys: each rotates its parity, so the damaged shard is a source of some)
      await c.array(`a-${i}`, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).write(0, data);
      model.set(`a-${i}`, data);
    }
    const verify = async () => {
      for (const [name, data] of model) {
        const got = await c.array(name, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).read(0, data.length);
        assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(data)) === 0, `${name}: wrong bytes`);
      }
    };
    const [victim, bad] = targetsOf(c, 'a-0', 'EC_4P2G1');
    await p.close();
    assert.ok(damageValues(dir, bad!, 4096) > 100, 'values of the source were damaged');
    p = await Pool.open(dir);
    c = await p.openContainer('c');
    const before = swallowedCounts(), fills0 = fillStats();
    await p.exclude(victim!);
    await p.waitForRebuild();
    assert.equal(p.rebuildStatus().lost, [], 'nothing lost: the other shards decode what the damaged one cannot supply');
    const after = swallowedCounts();
    assert.ok((after['migrate.cells-unreadable-count-missing'] ?? 0) > (before['migrate.cells-unreadable-count-missing'] ?? 0), 'the damaged source counted as missing');
    if (deferredFills()) assert.ok(fillStats().sent > fills0.sent, 'rebuilt cells were decoded on their write jobs');
    // The damaged target out as well: reads of a-0 now need the shard the first rebuild wrote.
    await p.exclude(bad!);
    await p.waitForRebuild();
    assert.equal(p.rebuildStatus().lost, []);
    await verify();
    await p.close();
  } finally {
    rebuildPoolDecode(was);
    rebuildFused(wasFused);
  }
});

t('a destination that is not a local store (it reads the bytes when called) gets decoded bytes', async () => {
  const was = rebuildPoolDecode(), wasFused = rebuildFused();
  rebuildPoolDecode(true);
  rebuildFused(false); // (the deferred fills are under test here; fused steps: rebuild-grouped)
  try {
    const p = await Pool.create(join(root, 'remote-dest'), SHAPE);
    const c = await p.createContainer('c', { oclass: 'EC_4P2G1', redundancyFactor: 2, cellSize: 4096 });
    const rng = new Rng(11);
    const model = new Map<string, Uint8Array>();
    for (let i = 0; i < 4; i++) {
      const data = rng.bytes(3 << 20);
      await c.array(`r-${i}`, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).write(0, data);
      model.set(`r-${i}`, data);
    }
    // Every store the rebuild opens is wrapped: not a ContainerStore, and its array writes copy the
    // caller's bytes at once (what a store that sends them over the network does).
    const io = containerPort(c).io();
    const open = io.store;
    let copied = 0;
    io.store = async (target: number) => {
      const real = await open(target);
      return new Proxy(real, {
        getPrototypeOf: () => Object.prototype,
        get(t, k) {
          if (k === 'updateArray') {
            return (e: bigint, oid: bigint, dk: Uint8Array, ak: Uint8Array, recx: { index: number; count: number }, data: Uint8Array, o?: { recordSize?: number }) => {
              copied++;
              return t.updateArray(e, oid, dk, ak, recx, data.slice(), o);
            };
          }
          const v = Reflect.get(t, k, t) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      });
    };
    const [victim] = targetsOf(c, 'r-0', 'EC_4P2G1');
    const fills0 = fillStats();
    try {
      await p.exclude(victim!);
      await p.waitForRebuild();
    } finally {
      io.store = open;
    }
    assert.ok(copied > 0, 'the rebuild wrote through the wrapped stores');
    assert.is(fillStats().sent, fills0.sent, 'no fill went to a store that is not local');
    assert.equal(p.rebuildStatus().lost, []);
    // Reads now need the rebuilt shard: a second target of the group fails too.
    await p.exclude(targetsOf(c, 'r-0', 'EC_4P2G1')[2]!);
    await p.waitForRebuild();
    for (const [name, data] of model) {
      const got = await c.array(name, { oclass: 'EC_4P2G1', chunkSize: CHUNK }).read(0, data.length);
      assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(data)) === 0, `${name}: wrong bytes`);
    }
    await p.close();
  } finally {
    rebuildPoolDecode(was);
    rebuildFused(wasFused);
  }
});

t.run();
