/**
 * A container's record (snapshots, lost objects) on a connected pool lives in etcd, where every
 * client of the pool changes it: a change keeps every other client's (compare-and-put, applied
 * again to the newest record when overtaken), and a client never goes back to an older record
 * its watch delivers after it wrote a newer one. A snapshot sees every commit acknowledged before
 * it was taken, whichever client made it; another client reads at it as soon as it is told the
 * name (the record read again when its watch has not brought it yet). Real etcd and engines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import { rejectsWith } from '../helpers/tmp.js';

const t = suite('engine/container-meta');
const cluster = await Cluster.start({ engines: 3, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '16M', dataBytes: '64M' });
const a = await cluster.connect(), b = await cluster.connect();
const ca = await a.createContainer('meta', { oclass: 'RP_2G1' });
const cb = await b.openContainer('meta');

t('snapshots taken by two clients at once are all kept', async () => {
  const names = Array.from({ length: 12 }, (_, i) => `both-${i}`);
  await Promise.all(names.map((n, i) => (i % 2 ? ca : cb).snapshot(n)));
  const fresh = await cluster.connect();
  try {
    const listed = (await fresh.openContainer('meta')).listSnapshots().map((s) => s.name).filter((n) => n.startsWith('both-'));
    assert.equal(listed.sort(), names.slice().sort(), 'a new client lists every snapshot');
  } finally { await fresh.close(); }
});

t('of two clients taking a snapshot of one name, one gets it and the other EXISTS', async () => {
  const r = await Promise.allSettled([ca.snapshot('same'), cb.snapshot('same')]);
  assert.equal(r.map((x) => x.status).sort(), ['fulfilled', 'rejected']);
  const err = r.find((x) => x.status === 'rejected') as PromiseRejectedResult;
  assert.is((err.reason as { code?: string }).code, 'EXISTS');
});

t('a client reads at each snapshot it just took, its watch delivering the older records meanwhile', async () => {
  const o = ca.object('o', { oclass: 'RP_2G1' });
  for (let i = 0; i < 40; i++) {
    await o.update('d', 'a', new TextEncoder().encode(`v${i}`));
    const s = await ca.snapshot(`quick-${i}`);
    assert.equal(new TextDecoder().decode(await o.fetch('d', 'a', { snapshot: s.name })), `v${i}`, `snapshot quick-${i}`);
    assert.ok(ca.listSnapshots().some((x) => x.name === `quick-${i}`), `quick-${i} listed`);
  }
});

t('snapshots taken back to back are each listed at once (the watch brings the older records after)', async () => {
  for (let i = 0; i < 100; i++) {
    await ca.snapshot(`pair-${i}-a`);
    await ca.snapshot(`pair-${i}-b`);
    assert.ok(ca.listSnapshots().some((x) => x.name === `pair-${i}-b`), `pair-${i}-b listed`);
    await new Promise((r) => setImmediate(r));
    assert.ok(ca.listSnapshots().some((x) => x.name === `pair-${i}-b`), `pair-${i}-b still listed a turn later`);
  }
});

t('a snapshot one client takes just after another client\'s commit sees that commit', async () => {
  const enc = (v: string) => new TextEncoder().encode(v);
  const mine = ca.object('after', { oclass: 'RP_2G1' });
  for (let i = 0; i < 100; i++) {
    await cb.object('after', { oclass: 'RP_2G1' }).update('d', 'a', enc(`b${i}`));
    const s = await ca.snapshot(`after-${i}`);
    assert.equal(new TextDecoder().decode(await mine.fetch('d', 'a', { snapshot: s.name })), `b${i}`, `snapshot after-${i} at ${s.epoch}`);
  }
});

t('a client reads at a snapshot another client just took, before its watch brings the record', async () => {
  const enc = (v: string) => new TextEncoder().encode(v);
  const dec = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));
  const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => { const out: T[] = []; for await (const x of it) out.push(x); return out; };
  for (let i = 0; i < 40; i++) {
    const o = ca.object(`told-${i}`, { oclass: 'RP_2G1' });
    await o.update(`d${i}`, 'a', enc(`v${i}`));
    await ca.kv(`told-kv-${i}`).put('k', enc(`kv${i}`));
    await ca.array(`told-arr-${i}`).write(0, enc(`arr${i}`));
    const s = await ca.snapshot(`told-${i}`);
    const later = o.update(`d${i}`, 'a', enc('later')); // (after the snapshot: not seen at it)
    // B is told the name at once (the way a user passes it on): each kind of read finds it
    const ob = cb.object(`told-${i}`, { oclass: 'RP_2G1' });
    const kind = i % 5;
    const at = { snapshot: s.name };
    if (kind === 0) assert.is(dec(await ob.fetch(`d${i}`, 'a', at)), `v${i}`, `fetch at told-${i}`);
    if (kind === 1) assert.equal((await collect(ob.listDkeys(at))).map(dec), [`d${i}`], `listDkeys at told-${i}`);
    if (kind === 2) assert.equal((await collect(ob.listAkeys(`d${i}`, at))).map(dec), ['a'], `listAkeys at told-${i}`);
    if (kind === 3) assert.is(dec(await cb.kv(`told-kv-${i}`).get('k', at)), `kv${i}`, `kv get at told-${i}`);
    if (kind === 4) assert.is(dec(await cb.array(`told-arr-${i}`).read(0, 3 + String(i).length, at)), `arr${i}`, `array read at told-${i}`);
    await later;
  }
  await rejectsWith(cb.object('told-0').fetch('d0', 'a', { snapshot: 'never-taken' }), 'NOT_FOUND'); // (a snapshot no one took)
});

t('aggregation by one client keeps a snapshot the other just took, and a rollback finds it', async () => {
  const enc = (v: string) => new TextEncoder().encode(v);
  const dec = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));
  for (let i = 0; i < 30; i++) {
    const ob = cb.object(`kept-${i}`, { oclass: 'RP_2G1' });
    await ob.update('d', 'a', enc(`old${i}`));
    const s = await cb.snapshot(`kept-${i}`);
    await ob.update('d', 'a', enc(`new${i}`));
    await ca.aggregate(); // (A's watch may not have brought the snapshot yet)
    assert.is(dec(await ob.fetch('d', 'a', { snapshot: s.name })), `old${i}`, `round ${i}: read at B's snapshot after A's aggregation`);
  }
  for (let i = 0; i < 10; i++) {
    const ob = cb.object(`kept-rollback-${i}`, { oclass: 'RP_2G1' });
    await ob.update('d', 'a', enc('before'));
    const s = await cb.snapshot(`kept-rollback-${i}`);
    await ca.rollback(s.name); // (named by B a moment ago: A's watch may not have brought it)
    assert.is(dec(await ob.fetch('d', 'a')), 'before', `round ${i}: A rolled back to B's snapshot`);
  }
});

t('a transaction open on one client while the other aggregates: its reads restart, never answer what aggregation left', async () => {
  const enc = (v: string) => new TextEncoder().encode(v);
  const dec = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));
  const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => { const out: T[] = []; for await (const x of it) out.push(x); return out; };
  for (let i = 0; i < 15; i++) {
    const name = `agg-tx-${i}`;
    await cb.object(name, { oclass: 'RP_2G1' }).update('d', 'a', enc('old'));
    await cb.object(name, { oclass: 'RP_2G1' }).update('d', 'arr', { recx: { index: 0, count: 3 }, data: enc('old') });
    const txB = cb.beginTx(); // (open on B: A's aggregation does not know of it)
    assert.is(dec(await txB.object(name, { oclass: 'RP_2G1' }).fetch('d', 'a')), 'old', `round ${i}: B's transaction reads before`);
    const oa = ca.object(name, { oclass: 'RP_2G1' });
    await oa.update('d', 'a', enc('new1'));
    const txA = ca.beginTx(); // (open on A: kept by A's aggregation; above B's, which A's commit passed)
    assert.ok(txA.readEpoch > txB.readEpoch);
    await oa.update('d', 'a', enc('new2'));
    await oa.update('d', 'arr', { recx: { index: 0, count: 3 }, data: enc('NEW') });
    await ca.aggregate(); // (merges 'old' away: no snapshot or transaction of A's sees it)
    const inB = txB.object(name, { oclass: 'RP_2G1' });
    const kind = i % 5;
    const read = kind === 0 ? inB.fetch('d', 'a') : kind === 1 ? collect(inB.listAkeys('d')) : kind === 2 ? collect(inB.listDkeys())
      : kind === 3 ? inB.fetch('d', 'arr', { recx: { index: 0, count: 3 } }) : collect(inB.listRecx('d', 'arr'));
    await rejectsWith(read, 'TX_RESTART');
    await txB.abort();
    // A's own transaction was kept, and a transaction begun after the aggregation reads the newest value
    assert.is(dec(await txA.object(name, { oclass: 'RP_2G1' }).fetch('d', 'a')), 'new1', `round ${i}: A's transaction, kept by its aggregation`);
    await txA.abort();
    const again = cb.beginTx();
    assert.is(dec(await again.object(name, { oclass: 'RP_2G1' }).fetch('d', 'a')), 'new2', `round ${i}: a new transaction on B`);
    await again.abort();
  }
});

t('a snapshot deleted by one client is gone for the other', async () => {
  await ca.snapshot('doomed');
  await cb.destroySnapshot('doomed');
  await ca.snapshot('after-doomed'); // (its change starts from the newest record)
  const fresh = await cluster.connect();
  try {
    const listed = (await fresh.openContainer('meta')).listSnapshots().map((s) => s.name);
    assert.not.ok(listed.includes('doomed'), 'the deleted snapshot stays deleted');
    assert.ok(listed.includes('after-doomed'));
  } finally { await fresh.close(); }
});

t.after(async () => { await a.close(); await b.close(); await cluster.stop(); });
t.run();
