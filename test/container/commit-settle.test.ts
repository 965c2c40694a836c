/**
 * A commit that fails on one shard waits for its other shard writes before it discards the epoch
 * (container.ts `commitLocked`, `commitSingleDirect`): a write still in flight when the discard ran
 * would land afterwards, and the aborted commit would stay visible on that shard (a torn commit);
 * it would also still be reading the plan's buffers after they went back to the pool. And a second
 * failure while the first write is still pending is handled, never an unhandled rejection (which
 * ends a Node process).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from '../helpers/tmp.js';
import { Pool } from '../../src/pool/pool.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { containerPort } from '../../src/container/container.js';

const test = suite('commit-settle');
let dir = '';
test.before.each(() => { dir = tmpDir('commit-settle'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const SLOW_MS = 40;

/** Records unhandled rejections while `fn` runs (a listener keeps the process alive to report them). */
async function noUnhandled(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (e: unknown) => { seen.push(e); };
  process.on('unhandledRejection', on);
  try { await fn(); await sleep(SLOW_MS * 2); } finally { process.off('unhandledRejection', on); }
  return seen;
}

test('an array commit failing fast on one replica discards the epoch only after the other replica\'s write settled; the data reads absent', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  const realUpdate = ContainerStore.prototype.updateArray, realDiscard = ContainerStore.prototype.discard;
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const port = containerPort(cont), io = port.io();
    const arr = cont.array('a', { chunkSize: 4096 });
    const oid = cont.object('a').oid;
    const { groups } = port.layout(oid);
    assert.is(groups.length, 1, 'one group (G1)');
    const [fast, slow] = groups[0]!.map((t) => io.storeNow!(t));
    assert.ok(fast instanceof ContainerStore && slow instanceof ContainerStore && fast !== slow, 'two local stores');
    const events: string[] = [];
    ContainerStore.prototype.updateArray = async function (this: ContainerStore, ...args: Parameters<typeof realUpdate>) {
      if (this === fast) throw new Error('test: this replica\'s write fails at once');
      if (this === slow) { await sleep(SLOW_MS); await realUpdate.apply(this, args); events.push('slow applied'); return; }
      return realUpdate.apply(this, args);
    };
    ContainerStore.prototype.discard = async function (this: ContainerStore, ...args: Parameters<typeof realDiscard>) {
      if (this === slow) events.push('slow discarded');
      return realDiscard.apply(this, args);
    };
    const unhandled = await noUnhandled(async () => {
      const r = await Promise.allSettled([arr.write(0, new Uint8Array(100).fill(7))]);
      assert.is(r[0]!.status, 'rejected', 'the commit fails');
    });
    assert.equal(unhandled, [], 'no unhandled rejection');
    assert.equal(events, ['slow applied', 'slow discarded'], 'the discard ran after the slow replica\'s write');
    ContainerStore.prototype.updateArray = realUpdate;
    // the slow replica alone serves reads: the aborted commit is not visible there
    await pool.exclude(groups[0]![0]!);
    await pool.waitForRebuild();
    const all = await arr.read(0, 100);
    assert.ok(all.every((b) => b === 0), 'the array reads as never written on the slow replica');
  } finally {
    ContainerStore.prototype.updateArray = realUpdate;
    ContainerStore.prototype.discard = realDiscard;
    await pool.close();
  }
});

test('a single-value commit to asynchronous stores: the first replica slow, the second failing at once — handled, and discarded after both settled', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  const realNow = ContainerStore.prototype.updateSingleNow, realUpdate = ContainerStore.prototype.updateSingle, realDiscard = ContainerStore.prototype.discard;
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const port = containerPort(cont), io = port.io();
    const kv = cont.kv('o');
    await kv.put('k', 'before');
    const oid = cont.object('o').oid;
    const { groups } = port.layout(oid);
    const group = groups[port.groupOf(groups, new TextEncoder().encode('k'))]!;
    const [first, second] = group.map((t) => io.storeNow!(t));
    assert.ok(first instanceof ContainerStore && second instanceof ContainerStore && first !== second, 'two local stores');
    const events: string[] = [];
    // stores that answer asynchronously (as remote ones do): no synchronous apply
    (ContainerStore.prototype as { updateSingleNow?: unknown }).updateSingleNow = undefined;
    ContainerStore.prototype.updateSingle = async function (this: ContainerStore, ...args: Parameters<typeof realUpdate>) {
      if (this === second) throw new Error('test: the second replica fails at once');
      // (the real apply: `updateSingle` itself goes through the synchronous apply, hidden here)
      if (this === first) { await sleep(SLOW_MS); await realNow.apply(this, args); events.push('first applied'); return; }
      await realNow.apply(this, args);
    };
    ContainerStore.prototype.discard = async function (this: ContainerStore, ...args: Parameters<typeof realDiscard>) {
      if (this === first) events.push('first discarded');
      return realDiscard.apply(this, args);
    };
    const unhandled = await noUnhandled(async () => {
      const r = await Promise.allSettled([kv.put('k', 'after')]);
      assert.is(r[0]!.status, 'rejected', 'the commit fails');
      assert.match(String((r[0] as PromiseRejectedResult).reason), /second replica fails/, `with the failing replica's error (${String((r[0] as PromiseRejectedResult).reason)})`);
    });
    assert.equal(unhandled, [], 'no unhandled rejection');
    assert.equal(events, ['first applied', 'first discarded'], 'the discard ran after the slow replica\'s write');
    ContainerStore.prototype.updateSingleNow = realNow;
    ContainerStore.prototype.updateSingle = realUpdate;
    assert.is(new TextDecoder().decode((await kv.get('k'))!), 'before', 'the failed put left the old value');
  } finally {
    ContainerStore.prototype.updateSingleNow = realNow;
    ContainerStore.prototype.updateSingle = realUpdate;
    ContainerStore.prototype.discard = realDiscard;
    await pool.close();
  }
});

test.run();
