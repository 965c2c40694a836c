/**
 * Batched single-value fetches (object.ts `GetBatch`, vos reads.ts `prefetchPoint`): gets issued
 * together are answered together, their reads prepared ahead (seek keys built, index slots and
 * entries loaded). Checked against a model of every key and against the same gets unbatched, on
 * a pool whose targets hold both runs (point-indexed) and memtables, with overwrites, removals,
 * absent keys, several akeys per object, reads at an older epoch, and batches larger than one
 * preparation round (POINT_PREFETCH_MAX).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { tmpDir } from '../helpers/tmp.js';
import { Pool } from '../../src/pool/pool.js';
import { getBatch } from '../../src/object/object.js';
import { pointReads, POINT_INDEX_MIN_READS, POINT_PREFETCH_MAX, preparedReads } from '../../src/vos/reads.js';
import { ContainerStore } from '../../src/vos/container-store.js';
import { VosError } from '../../src/vos/errors.js';
import { containerPort } from '../../src/container/container.js';

const test = suite('get-batch');
let dir = '';
test.before.each(() => { dir = tmpDir('get-batch'); pointReads.minReads = 1; getBatch.on = true; });
test.after.each(() => { pointReads.minReads = POINT_INDEX_MIN_READS; getBatch.on = true; fs.rmSync(dir, { recursive: true, force: true }); });

const OBJECTS = 3000;
const AKEYS = ['v', 'w'];
const value = (i: number, akey: string, gen: number): Uint8Array => {
  const v = new Uint8Array(40 + (i % 60)).fill(gen + 1);
  new DataView(v.buffer).setUint32(0, i, true);
  v[4] = akey.charCodeAt(0);
  return v;
};

// (EC_2P1G1: small values stored whole on data role 0, read there alone; their store lines are
// prefetched as a replica's are, `getBatch.ecPrefetch`)
for (const oclass of ['RP_2G1', 'EC_2P1G1']) test(`gets issued together answer what the model holds, and what the same gets answer one at a time (${oclass})`, async () => {
  const shape = oclass === 'RP_2G1' ? { nodes: 2, ranksPerNode: 1, targetsPerRank: 2 } : { nodes: 4, ranksPerNode: 1, targetsPerRank: 1 };
  const pool = await Pool.create(join(dir, 'pool'), { ...shape, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  try {
    const cont = await pool.createContainer('c', { oclass });
    await cont.openTargets();
    const model = new Map<string, Uint8Array>();
    const rng = new Rng(0x6e7);
    const put = async (i: number, akey: string, gen: number) => { const v = value(i, akey, gen); await cont.object(`o${i}`).update('d', akey, v); model.set(`${i}/${akey}`, v); };
    // generation 0 of everything (flushed into runs as the logs fill), then overwrites and removals
    for (let i = 0; i < OBJECTS; i += 32) await Promise.all(Array.from({ length: Math.min(32, OBJECTS - i) }, (_, j) => Promise.all(AKEYS.map((a) => put(i + j, a, 0)))));
    for (let n = 0; n < 600; n++) await put(rng.int(OBJECTS), AKEYS[rng.int(2)]!, 1);
    for (let n = 0; n < 100; n++) { const i = rng.int(OBJECTS), a = AKEYS[rng.int(2)]!; await cont.object(`o${i}`).punchAkey('d', a); model.delete(`${i}/${a}`); }
    const asks = (n: number) => Array.from({ length: n }, () => ({ i: rng.int(OBJECTS + 200), a: AKEYS[rng.int(2)]! }));
    const check = (got: Array<Uint8Array | undefined>, ask: Array<{ i: number; a: string }>, what: string) => {
      for (let k = 0; k < ask.length; k++) assert.equal(got[k], model.get(`${ask[k]!.i}/${ask[k]!.a}`), `${what}: o${ask[k]!.i}/${ask[k]!.a}`);
    };
    const before = preparedReads();
    for (const n of [1, 7, POINT_PREFETCH_MAX - 1, POINT_PREFETCH_MAX, POINT_PREFETCH_MAX + 1, 3 * POINT_PREFETCH_MAX + 5]) {
      for (let round = 0; round < 4; round++) {
        const ask = asks(n);
        getBatch.on = true;
        const batched = await Promise.all(ask.map(({ i, a }) => cont.object(`o${i}`).fetch('d', a)));
        check(batched, ask, `batched, ${n} at once`);
        getBatch.on = false;
        const alone = [];
        for (const { i, a } of ask) alone.push(await cont.object(`o${i}`).fetch('d', a));
        assert.equal(batched, alone, `${n} at once: batched and one at a time agree`);
      }
    }
    assert.ok(preparedReads() > before, 'prepared reads were made (the store has indexed runs)');
  } finally {
    await pool.close();
  }
});

test('a batched get reads at the epoch it was issued at, and a bad one rejects alone', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const kv = cont.kv('k');
    const e1 = await kv.put('a', 'one');
    await kv.put('a', 'two');
    const at1 = kv.get('a', { epoch: e1 });
    const now = kv.get('a');
    const bad = kv.get('', {});
    const absent = kv.get('b');
    const [r1, r2, r3, r4] = await Promise.allSettled([at1, now, bad, absent]);
    assert.equal(r1.status === 'fulfilled' && new TextDecoder().decode(r1.value), 'one', 'read at the first epoch');
    assert.equal(r2.status === 'fulfilled' && new TextDecoder().decode(r2.value), 'two', 'read now');
    assert.is(r3.status, 'rejected', 'an empty key rejects');
    assert.equal(r4, { status: 'fulfilled', value: undefined }, 'an absent key');
    // a get issued before a put that then commits reads what was there when it was issued
    const p = kv.get('a');
    const w = kv.put('a', 'three');
    assert.is(new TextDecoder().decode(await p), 'two');
    await w;
    assert.is(new TextDecoder().decode(await kv.get('a')), 'three');
  } finally {
    await pool.close();
  }
});

test('a batched get whose first copy fails reads the next copy (never absent) and reports the failed one; a programming error rejects', async () => {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 8 << 20, dataBytes: 64 << 20 });
  const real = ContainerStore.prototype.fetchSingleNow;
  try {
    const cont = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const N = 400;
    for (let i = 0; i < N; i += 40) await Promise.all(Array.from({ length: 40 }, (_, j) => cont.kv(`o${i + j}`).put('k', `v${i + j}`)));
    const port = containerPort(cont), io = port.io();
    // the store of target 0 fails every point read as a damaged copy would
    const bad = io.storeNow!(0);
    assert.ok(bad instanceof ContainerStore);
    let failed = 0, mode: 'damage' | 'bug' = 'damage';
    ContainerStore.prototype.fetchSingleNow = function (this: ContainerStore, ...args: Parameters<typeof real>) {
      if (this !== bad) return real.apply(this, args);
      failed++;
      if (mode === 'bug') throw new TypeError('a bug, not a damaged copy');
      throw new VosError('CORRUPTED', 'a damaged block (test)');
    };
    const firstOnBad = (i: number) => { const oid = cont.object(`o${i}`).oid; const { groups } = port.layout(oid); return groups[port.groupOf(groups, new TextEncoder().encode('k'))]![0] === 0; };
    const onBad = Array.from({ length: N }, (_, i) => i).filter(firstOnBad);
    assert.ok(onBad.length > 0, 'some objects have their first copy on target 0');
    const badBefore = pool.query().badShards;
    const got = await Promise.all(Array.from({ length: N + 20 }, (_, i) => cont.kv(`o${i}`).get('k')));
    for (let i = 0; i < N + 20; i++) assert.is(got[i] === undefined ? undefined : new TextDecoder().decode(got[i]), i < N ? `v${i}` : undefined, `o${i}`);
    assert.ok(failed >= onBad.length, 'the failing copy was asked');
    assert.ok(pool.query().badShards > badBefore, 'the failed copy was reported');
    mode = 'bug';
    const r = await Promise.allSettled(onBad.slice(0, 5).map((i) => cont.kv(`o${i}`).get('k')));
    for (const x of r) assert.ok(x.status === 'rejected' && x.reason instanceof TypeError, 'a programming error in the store rejects the get');
  } finally {
    ContainerStore.prototype.fetchSingleNow = real;
    await pool.close();
  }
});

test.run();
