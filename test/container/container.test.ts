/**
 * Container specification: epochs and snapshots give consistent reads across objects; rollback,
 * aggregation, transactions (atomic, own reads, TX_RESTART, abort) and watch.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { tmpDir, text, collect, rejectsWith } from '../helpers/tmp.js';
import { containerPort, mergeUnitIdPages } from '../../src/container/container.js';
import { unitOid } from '../../src/io/shard-store.js';
import { Rng } from '../../core/rng.js';
import { makeObjectId, toObjectClass } from '../../placement/index.js';
import { xxh64 } from '../../core/xxhash.js';

const dir = tmpDir();
const pool = await Pool.create(join(dir, 'pool'), { nodes: 2, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 16 << 20, dataBytes: 64 << 20 });
const t = suite('container');

t('every commit gets a larger epoch; reads at an epoch see that moment across objects', async () => {
  const c = await pool.createContainer('epochs', { oclass: 'RP_2G1' });
  const a = c.object('a'), b = c.object('b');
  const e1 = await a.update('d', 'k', 'a1');
  const e2 = await b.update('d', 'k', 'b1');
  const e3 = await a.update('d', 'k', 'a2');
  assert.ok(e1 < e2 && e2 < e3);
  assert.is(text(await a.fetch('d', 'k', { epoch: e2 })), 'a1');
  assert.is(text(await b.fetch('d', 'k', { epoch: e1 })), undefined);
  assert.is(text(await a.fetch('d', 'k')), 'a2');
});

t('snapshots: named, listed, readable, destroyable; rollback discards later commits', async () => {
  const c = await pool.createContainer('snaps', { oclass: 'EC_2P1G1', cellSize: 512 });
  const o = c.object('o');
  await o.update('d', 'k', 'v1');
  await o.update('d', 'arr', { recx: { index: 0, count: 3000 }, data: new Uint8Array(3000).fill(1) });
  const s1 = await c.snapshot('s1');
  assert.is(s1.name, 's1');
  assert.ok(typeof s1.epoch === 'bigint');
  await o.update('d', 'k', 'v2');
  await o.update('d', 'arr', { recx: { index: 1000, count: 10 }, data: new Uint8Array(10).fill(2) });
  const s2 = await c.snapshot();
  assert.equal(c.listSnapshots().map((s) => s.name), ['s1', s2.name]);
  await rejectsWith(c.snapshot('s1'), 'EXISTS');
  assert.is(text(await o.fetch('d', 'k', { snapshot: 's1' })), 'v1');
  assert.equal(await o.fetch('d', 'arr', { recx: { index: 995, count: 20 }, snapshot: s1 }), new Uint8Array(20).fill(1));
  await o.update('d', 'k', 'v3');
  await c.rollback('s1');
  assert.is(text(await o.fetch('d', 'k')), 'v1');
  assert.equal(await o.fetch('d', 'arr', { recx: { index: 995, count: 20 } }), new Uint8Array(20).fill(1));
  assert.equal(c.listSnapshots().map((s) => s.name), ['s1']);
  // Writes after a rollback work and get fresh epochs.
  const e = await o.update('d', 'k', 'v4');
  assert.ok(e > s2.epoch);
  assert.is(text(await o.fetch('d', 'k')), 'v4');
  await c.destroySnapshot('s1');
  assert.equal(c.listSnapshots(), []);
  await rejectsWith(c.destroySnapshot('s1'), 'NOT_FOUND');
});

t('aggregate keeps what snapshots see and the current state', async () => {
  const c = await pool.createContainer('agg', { oclass: 'RP_2G1' });
  const o = c.object('o');
  for (let i = 0; i < 20; i++) await o.update('d', 'k', `v${i}`);
  const s = await c.snapshot('mid');
  for (let i = 20; i < 40; i++) await o.update('d', 'k', `v${i}`);
  await c.aggregate();
  assert.is(text(await o.fetch('d', 'k', { snapshot: s })), 'v19');
  assert.is(text(await o.fetch('d', 'k')), 'v39');
});

t('aggregate of a container with no commit yet, its targets open, fresh or reopened, merges nothing and throws nothing', async () => {
  const sub = tmpDir();
  const p = await Pool.create(join(sub, 'pool'), { nodes: 1, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 64 << 20 });
  const c = await p.createContainer('empty', { oclass: 'S1' });
  await c.openTargets();
  await c.aggregate(); // (threw INVALID_ARGUMENT "upTo must be a bigint in [1, 2^64-1]": the stable epoch was 0)
  await c.close();
  await p.close();
  const p2 = await Pool.open(join(sub, 'pool'));
  const c2 = await p2.openContainer('empty');
  await c2.openTargets();
  await c2.aggregate();
  // and it goes on as a container does: a write, an aggregation, the write read back
  await c2.object('o').update('d', 'k', 'v');
  await c2.aggregate();
  assert.is(text(await c2.object('o').fetch('d', 'k')), 'v');
  await c2.close();
  await p2.close();
});

t('transactions: atomic across objects, own writes visible inside, invisible outside until commit', async () => {
  const c = await pool.createContainer('tx', { oclass: 'EC_2P1G1', cellSize: 512 });
  const tx = c.beginTx();
  await tx.object('x').update('d', 'k', 'tx-x');
  await tx.object('y').update('d', 'arr', { recx: { index: 10, count: 5 }, data: new Uint8Array(5).fill(5) });
  assert.is(text(await tx.object('x').fetch('d', 'k')), 'tx-x');
  assert.equal(await tx.object('y').fetch('d', 'arr', { recx: { index: 8, count: 9 } }), new Uint8Array([0, 0, 5, 5, 5, 5, 5, 0, 0]));
  assert.is(await c.object('x').fetch('d', 'k'), undefined);
  const e = await tx.commit();
  assert.is(text(await c.object('x').fetch('d', 'k')), 'tx-x');
  assert.is(text(await c.object('x').fetch('d', 'k', { epoch: e - 1n })), undefined);
  await rejectsWith(tx.commit(), 'TX_CLOSED');
});

t('two transactions that read and write the same key: the second to commit gets TX_RESTART and can retry', async () => {
  const c = await pool.createContainer('conflict', { oclass: 'RP_2G1' });
  await c.object('x').update('d', 'k', '0');
  const t1 = c.beginTx(), t2 = c.beginTx();
  const v1 = Number(text(await t1.object('x').fetch('d', 'k')));
  const v2 = Number(text(await t2.object('x').fetch('d', 'k')));
  await t1.object('x').update('d', 'k', String(v1 + 1));
  await t2.object('x').update('d', 'k', String(v2 + 1));
  await t1.commit();
  await rejectsWith(t2.commit(), 'TX_RESTART');
  const t3 = c.beginTx();
  const v3 = Number(text(await t3.object('x').fetch('d', 'k')));
  await t3.object('x').update('d', 'k', String(v3 + 1));
  await t3.commit();
  assert.is(text(await c.object('x').fetch('d', 'k')), '2');
  // Disjoint keys do not conflict.
  const a = c.beginTx(), b = c.beginTx();
  await a.object('p').update('d', 'k', 'a'); await b.object('q').update('d', 'k', 'b');
  await a.commit(); await b.commit();
});

t('a transaction that opens while an older commit is in flight conflicts with every commit decided above its read epoch', async () => {
  // Plain commits decided while no transaction is open and an older commit is still in flight
  // are set aside (no conflict keys) until a transaction opens: it must still see each of them.
  const c = await pool.createContainer('deferred-conflicts', { oclass: 'RP_2G1' });
  const big = new Uint8Array(512 * 1024).fill(7); // written to the data file asynchronously: decided last
  let exercised = 0;
  for (let round = 0; round < 6; round++) {
    let bigDone = false;
    const slow = c.kv('slow').put('x', big).then((e) => { bigDone = true; return e; });
    const epochs = await Promise.all(Array.from({ length: 24 }, (_, i) => c.kv(`k${i}`).put('x', `r${round}`)));
    const open = !bigDone;
    const txs = epochs.map(() => c.beginTx());
    const slowEpoch = await slow;
    const read = txs[0]!.readEpoch;
    for (const [i, tx] of txs.entries()) {
      assert.is(tx.readEpoch, read, 'transactions opened together read at one epoch');
      await tx.object(`k${i}`).update('x', 'v', `tx${round}`);
      if (epochs[i]! > read) { await rejectsWith(tx.commit(), 'TX_RESTART'); if (open) exercised++; } else await tx.commit();
    }
    const late = c.beginTx();
    await late.object('slow').update('x', 'v', 'late');
    await late.commit(); // opened after every commit: nothing conflicts
    if (open) assert.ok(read < slowEpoch, 'opened while the big commit was in flight: reads below it');
  }
  assert.ok(exercised > 0, 'some commit was decided above the read epoch of a transaction that opened later');
});

t('abort leaves nothing', async () => {
  const c = await pool.createContainer('abort', { oclass: 'RP_2G1' });
  const tx = c.beginTx();
  await tx.object('x').update('d', 'k', 'never');
  await tx.abort();
  assert.is(await c.object('x').fetch('d', 'k'), undefined);
  await rejectsWith(tx.commit(), 'TX_CLOSED');
});

t('watch yields committed epochs in order with the objects they touched, without blocking writers', async () => {
  const c = await pool.createContainer('watch', { oclass: 'RP_2G1' });
  const from = c.stableEpoch();
  const ac = new AbortController();
  const seen: Array<{ epoch: bigint; objects: bigint[] }> = [];
  const consumer = (async () => {
    try {
      for await (const ev of c.watch({ from, signal: ac.signal })) {
        seen.push(ev);
        // A consumer reading at the event's epoch sees a consistent state.
        const v = text(await c.object('w').fetch('d', 'k', { epoch: ev.epoch }));
        assert.ok(v !== undefined);
        if (seen.length === 5) break;
      }
    } catch (e) { if ((e as { code?: string }).code !== 'ABORTED') throw e; }
  })();
  const epochs: bigint[] = [];
  for (let i = 0; i < 5; i++) epochs.push(await c.object('w').update('d', 'k', `v${i}`));
  await consumer;
  ac.abort();
  assert.equal(seen.map((s) => s.epoch), epochs);
  assert.equal(seen[0]!.objects, [c.object('w').oid]);
});

t('a watch consumer reads at its events\' epochs exactly while aggregate() runs meanwhile; once it stops, aggregation passes them', async () => {
  const c = await pool.createContainer('watch-aggregate', { oclass: 'RP_2G1' });
  const o = c.object('w');
  const w = c.watch();
  const firstEvent = w.next(); // (the consumer starts before the commits it follows)
  const epochs: bigint[] = [];
  for (let i = 0; i < 4; i++) epochs.push(await o.update('d', 'k', `v${i}`));
  const ev = (await firstEvent).value!;
  assert.is(ev.epoch, epochs[0]);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) await o.update('d', 'k', `later${round}-${i}`);
    await c.aggregate(); // (no snapshot or transaction keeps v0: only the consumer)
    assert.is(text(await o.fetch('d', 'k', { epoch: ev.epoch })), 'v0', `round ${round}: the consumer's event still reads as it was`);
  }
  // the next events, handed out after those aggregations, read as they were too
  for (let i = 1; i < 4; i++) {
    const next = (await w.next()).value!;
    assert.is(next.epoch, epochs[i]);
    assert.is(text(await o.fetch('d', 'k', { epoch: next.epoch })), `v${i}`, `event ${i}`);
  }
  await w.return(undefined);
  await o.update('d', 'k', 'last');
  await c.aggregate();
  assert.is(await o.fetch('d', 'k', { epoch: epochs[0] }), undefined, 'with the consumer gone, aggregation merged what only it held (else this test checks nothing)');
});

t('commits decided out of epoch order are published in epoch order, each once', async () => {
  const c = await pool.createContainer('watch-order', { oclass: 'RP_2G1' });
  const from = c.stableEpoch();
  const ac = new AbortController();
  const seen: bigint[] = [];
  const ROUNDS = 8, SMALL = 40;
  const total = ROUNDS * (SMALL + 1);
  const consumer = (async () => {
    try {
      for await (const ev of c.watch({ from, signal: ac.signal })) { seen.push(ev.epoch); if (seen.length === total) break; }
    } catch (e) { if ((e as { code?: string }).code !== 'ABORTED') throw e; }
  })();
  const epochs: bigint[] = [];
  let overtaken = 0;
  for (let r = 0; r < ROUNDS; r++) {
    // an array write (planned, awaited per shard) takes its epoch first; small puts started after
    // it take later epochs and are mostly decided before it
    const slow = c.object(`slow${r}`).update('d', 'arr', { recx: { index: 0, count: 4096 }, data: new Uint8Array(4096).fill(r) });
    const fast = Array.from({ length: SMALL }, (_, i) => c.kv(`fast${r}-${i}`).put('v', `x${i}`));
    const done: bigint[] = [];
    const all = [slow, ...fast].map((p) => p.then((e) => { done.push(e); return e; }));
    const got = await Promise.all(all);
    epochs.push(...got);
    for (let i = 1; i < done.length; i++) if (done[i]! < done[i - 1]!) overtaken++;
  }
  await consumer;
  ac.abort();
  assert.ok(overtaken > 0, 'some commits were decided out of epoch order (else this test checks nothing)');
  assert.is(seen.length, total);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i - 1]! < seen[i]!, `events in epoch order at ${i}`);
  assert.equal([...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), [...epochs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
});

t('concurrent commits: readers at the stable epoch never see a torn transaction', async () => {
  const c = await pool.createContainer('torn', { oclass: 'EC_2P1G1', cellSize: 512 });
  const keys = ['a', 'b', 'c', 'd'];
  let stop = false;
  const reader = (async () => {
    let checks = 0;
    while (!stop) {
      const e = c.stableEpoch();
      const vals = await Promise.all(keys.map((k) => c.object(k).fetch('d', 'k', { epoch: e })));
      const set = new Set(vals.map((v) => text(v)));
      assert.is(set.size, 1, `torn read at ${e}: ${[...set].join(',')}`);
      checks++;
    }
    return checks;
  })();
  for (let i = 0; i < 30; i++) {
    const tx = c.beginTx();
    for (const k of keys) await tx.object(k).update('d', 'k', `round-${i}`);
    await tx.commit();
  }
  stop = true;
  assert.ok((await reader) > 0);
});

t('object names map to the id of their hash (xxh64 of the UTF-8 name with seeds "oid" and "name", in the class\'s id), ASCII or not, short or long, first or cached', async () => {
  const c = await pool.createContainer('names', { oclass: 'RP_2G1' });
  const port = containerPort(c);
  const want = (name: string, cls: string) => {
    const b = new TextEncoder().encode(name);
    return makeObjectId((xxh64(b, 0x6f6964n) << 32n) | (xxh64(b, 0x6e616d65n) & 0xffffffffn), toObjectClass(cls), {});
  };
  const names = ['o1', 'o2', 'a', 'x'.repeat(64), 'y'.repeat(65), 'zoë', '日本', 'o1' + '\u0080', 'k'.repeat(200)];
  for (let round = 0; round < 2; round++) { // (the second round reads the name cache)
    for (const n of names) {
      assert.is(port.resolveOid(n), want(n, 'RP_2G1'), `${n} (round ${round})`);
      assert.is(port.resolveOid(n, 'EC_2P1G1'), want(n, 'EC_2P1G1'), `${n} EC_2P1G1`);
    }
  }
});

t('containers: list, open returns the same handle, destroy removes, errors are typed', async () => {
  const labels = (await pool.listContainers()).map((c) => c.label);
  assert.ok(labels.includes('tx') && labels.includes('watch'));
  assert.is(await pool.openContainer('tx'), await pool.openContainer('tx'));
  await rejectsWith(pool.createContainer('tx'), 'EXISTS');
  await rejectsWith(pool.openContainer('nope'), 'NOT_FOUND');
  await rejectsWith(pool.createContainer('bad label!'), 'INVALID_ARGUMENT');
  await rejectsWith(pool.createContainer('rf', { oclass: 'S1', redundancyFactor: 1 }), 'RF_VIOLATION');
  await rejectsWith(pool.createContainer('cls', { oclass: 'BOGUS' }), 'UNKNOWN_OBJECT_CLASS');
  await pool.destroyContainer('abort');
  assert.not.ok((await pool.listContainers()).some((c) => c.label === 'abort'));
  await rejectsWith(pool.openContainer('abort'), 'NOT_FOUND');
});

t('name cache: ids stay those the name hashes to while a stream of new names drops and rotates its generations around a hot set', async () => {
  const c = await pool.createContainer('name-cache', { oclass: 'RP_2G1' });
  try {
    // the reference: an explicit class bypasses the cache and hashes every time
    const ref = (name: string) => c.object(name, { oclass: 'RP_2G1' }).oid;
    const hot = Array.from({ length: 300 }, (_, i) => `hot${i}`);
    const hotIds = hot.map(ref);
    assert.is(new Set(hotIds).size, hot.length);
    // 50,000 new names (three rotations of 16,384; the old generation is dropped after 1,024 misses in
    // a row), a hot name every 7th lookup, and names of the stream looked up again at distances
    // that reach back into the old generation or past it
    const seen: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      const name = `s${i}`;
      seen.push(name);
      assert.is(c.object(name).oid, ref(name), name);
      if (i % 7 === 0) { const h = (i / 7) % hot.length; assert.is(c.object(hot[h]!).oid, hotIds[h], hot[h]); }
      if (i % 13 === 0 && i > 20_000) { const back = seen[i - 1 - ((i * 7919) % 20_000)]!; assert.is(c.object(back).oid, ref(back), back); }
    }
  } finally { await c.close(); }
});

t('name cache: random lookups over far more names than it holds consult it for few names (sampled), and a hot set brings it back in use; ids never change', async () => {
  const c = await pool.createContainer('name-sample', { oclass: 'RP_2G1' });
  try {
    const ref = (name: string) => c.object(name, { oclass: 'RP_2G1' }).oid;
    const internals = c as unknown as { nameOids: Map<string, bigint>; nameOidsOld?: Map<string, bigint>; nameSampled: boolean };
    const cached = () => internals.nameOids.size + (internals.nameOidsOld?.size ?? 0);
    let seed = 0x5eed;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 200_000;
    // 20,000 random names of 200,000: nearly every lookup misses, so after the first window of
    // 1,024 lookups one name in 64 consults the cache (each such miss is kept). Measured with these
    // seeds: about 1,300 names cached with the sampling, 3,374 without.
    for (let i = 0; i < 20_000; i++) { const name = `r${rnd()}`; assert.is(c.object(name).oid, ref(name), name); }
    assert.ok(cached() < 2_000, `names cached while sampled: ${cached()}`);
    assert.ok(internals.nameSampled, 'sampled while nearly every lookup misses');
    // a hot set looked up again and again: found in at least half the lookups of a window, the
    // cache is consulted for every name again and the hot names stay in it
    const hot = Array.from({ length: 200 }, (_, i) => `hot${i}`);
    const hotIds = hot.map(ref);
    // (one name in 64 consulted: the hot names get in, then a window of 1,024 consulted lookups finds them)
    for (let pass = 0; pass < 1500; pass++) for (let h = 0; h < hot.length; h++) assert.is(c.object(hot[h]!).oid, hotIds[h], hot[h]);
    const held = hot.filter((n) => internals.nameOids.has(n) || internals.nameOidsOld?.has(n) === true).length;
    assert.ok(held >= hot.length * 0.9, `hot names cached: ${held} of ${hot.length}`);
    assert.not.ok(internals.nameSampled, 'a working set found in at least half the lookups is served unsampled');
  } finally { await c.close(); }
});

t('listObjects: every object once, ascending, merged over the targets a page at a time (pages past one target page and one output page)', async () => {
  const c = await pool.createContainer('listing', { oclass: 'RP_2G1' });
  try {
    const want = new Set<bigint>();
    const names = Array.from({ length: 1400 }, (_, i) => `obj-${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map(async (n) => { const o = c.object(n); await o.update('d', 'k', n); want.add(o.oid); }));
    }
    // objects of a wider class: more shards per object, on every target
    for (let i = 0; i < 40; i++) { const o = c.object(`ec-${i}`, { oclass: 'EC_2P1G1' }); await o.update('d', 'k', 'v'); want.add(o.oid); }
    const sorted = [...want].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const listed = await collect(c.listObjects());
    assert.equal(listed, sorted, 'listObjects: each object once, ascending');
    const pages = await collect(c.listObjectPages());
    assert.ok(pages.length >= 2, `${pages.length} pages`);
    for (const p of pages) assert.ok(p.length > 0, 'no empty page');
    assert.equal(pages.flat(), sorted, 'the pages, in order, are the listing');
    assert.is(await c.countObjects(), sorted.length);
  } finally { await c.close(); }
});

t('the listing merge: object ids ascending, each once, over sources of pages of any size; one next() per page; a source failing midway is dropped', async () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(0x715 + seed);
    const oids = new Set<bigint>();
    while (oids.size < 3000) oids.add((BigInt(rng.int(1 << 30)) << 64n) | (BigInt(rng.int(1 << 30)) << 20n) | BigInt(rng.int(1 << 20)));
    const K = 9;
    const per: bigint[][] = Array.from({ length: K }, () => []);
    for (const o of oids) {
      const shards = 1 + rng.int(4);
      // each shard on a distinct source; the last source (it will fail) only holds ids another source holds too
      const at = new Set<number>();
      while (at.size < shards) at.add(rng.int(K - 1));
      for (const [j, src] of [...at].entries()) per[src]!.push(unitOid(o, j));
      if (rng.int(3) === 0) per[K - 1]!.push(unitOid(o, 0));
    }
    const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    for (const ids of per) ids.sort(cmp);
    let nexts = 0, pagesOut = 0;
    const source = (ids: bigint[], failAfter = -1): AsyncIterator<bigint[]> => {
      const gen = (async function* () {
        let i = 0, n = 0;
        while (i < ids.length) {
          if (n++ === failAfter) throw new Error('source failed midway');
          const size = 1 + rng.int(rng.int(2) === 0 ? 5 : 400);
          pagesOut++;
          yield ids.slice(i, i + size); i += size;
        }
      })();
      return { next: () => { nexts++; return gen.next(); } };
    };
    const sources: Array<AsyncIterator<bigint[]> | bigint[]> = per.slice(0, K - 2).map((ids) => source(ids));
    sources.push(per[K - 2]!); // a page at hand (the registry's)
    sources.push(source(per[K - 1]!, 2));
    sources.push(source([])); // a source with nothing
    const pages = await collect(mergeUnitIdPages(sources));
    const want = [...oids].sort(cmp);
    for (const p of pages) assert.ok(p.length > 0, 'no empty page');
    assert.equal(pages.flat(), want, `seed ${seed}: each object once, ascending`);
    // one next() per page handed out, plus one to learn each source is done (the failing one: its failure)
    assert.is(nexts, pagesOut + (K - 2) + 1 + 1, `seed ${seed}: next() calls`);
  }
});

t.after(async () => { await pool.close(); });
t.run();
