/**
 * A container's record (snapshots, lost objects) on a connected pool lives in etcd, where every
 * client of the pool changes it: a change keeps every other client's (compare-and-put, applied
 * again to the newest record when overtaken), and a client never goes back to an older record
 * its watch delivers after it wrote a newer one. A snapshot sees every commit acknowledged before
 * it was taken, whichever client made it. Real etcd and engines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';

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
