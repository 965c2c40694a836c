// Placement.sharedLayout: one frozen value per distinct (class, group count, targets), held to
// layout() (the oracle) on healthy, degraded and extended maps, every algorithm, across memory
// growth of the core, and bounded (MAX_SHARED_SHARDS, MAX_SHARED_LAYOUTS).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PoolMap, createPlacement, makeObjectId, MAX_SHARED_LAYOUTS, MAX_SHARED_SHARDS,
  type PlacementAlgo, type SharedLayout,
} from '../../placement/index.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';

await initXxhash();

const t = suite('shared-layout');

function oidsOf(cls: string, n: number, seed: number, opts: { groups?: number } = {}): bigint[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => makeObjectId(r.u64() | (BigInt(r.u32()) << 64n), cls, opts));
}

/** The shared layout of every oid equals layout(oid); equal targets share one value, distinct ones never do; ids are dense. */
function holdToLayout(p: ReturnType<typeof createPlacement>, oids: bigint[], seen = new Map<number, SharedLayout>()): Map<number, SharedLayout> {
  const byTargets = new Map<string, SharedLayout>();
  for (const l of seen.values()) byTargets.set(`${l.oclass.name}/${l.groups.length}/${l.groups.flat().join(',')}`, l);
  for (const oid of oids) {
    const want = p.layout(oid);
    const s = p.sharedLayout(oid);
    assert.ok(s !== undefined, 'shared');
    assert.equal(s!.groups.map((g) => [...g]), want.groups);
    assert.is(s!.oclass, want.oclass);
    assert.is(s!.domainLevel, want.domainLevel);
    assert.is(s!.violations, want.violations);
    const k = `${want.oclass.name}/${want.groups.length}/${want.groups.flat().join(',')}`;
    const before = byTargets.get(k);
    if (before !== undefined) assert.is(s, before, 'equal targets share one value');
    else {
      assert.not.ok(seen.has(s!.id), 'a new layout gets a new id');
      assert.is(s!.id, seen.size, 'ids are dense, in order of first use');
      byTargets.set(k, s!);
      seen.set(s!.id, s!);
    }
  }
  return seen;
}

t('equals layout() for every class shape, healthy and degraded, every algorithm; one value per distinct layout', () => {
  const classes = ['S1', 'RP_2G1', 'RP_3G1', 'EC_2P1G1', 'EC_4P2G1', 'RP_2G4', 'S4'];
  for (const algo of ['jump-map', 'ring', 'straw2-like'] as PlacementAlgo[]) {
    const healthy = PoolMap.create({ nodes: 4, ranksPerNode: 2, targetsPerRank: 2 });
    const degraded = healthy.clone();
    degraded.exclude(3);
    degraded.exclude(9); degraded.markDownOut(9);
    degraded.drain(12);
    for (const pm of [healthy, degraded]) {
      const p = createPlacement(pm, { algo });
      const seen = new Map<number, SharedLayout>();
      classes.forEach((cls, i) => holdToLayout(p, oidsOf(cls, 400, 11 + i), seen));
      // a second pass over the same objects hands out nothing new
      const n = seen.size;
      classes.forEach((cls, i) => holdToLayout(p, oidsOf(cls, 400, 11 + i), seen));
      assert.is(seen.size, n);
      // 16 targets, two replicas: at most 16 x 15 distinct groups
      assert.ok([...seen.values()].filter((l) => l.oclass.name === 'RP_2G1').length <= 240);
    }
  }
});

t('extended maps (reservoir) and GX group counts fixed in the id', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 4 });
  pm.extend({ nodes: 1, ranksPerNode: 2, targetsPerRank: 4 });
  const p = createPlacement(pm);
  holdToLayout(p, [...oidsOf('RP_3G1', 300, 3), ...oidsOf('EC_4P2G1', 300, 4), ...oidsOf('RP_2GX', 100, 5, { groups: 3 })]);
});

t('shared values are frozen: a caller cannot change what every other object sees', () => {
  const p = createPlacement(PoolMap.create({ nodes: 4, ranksPerNode: 2, targetsPerRank: 2 }));
  const oid = oidsOf('RP_2G1', 1, 7)[0]!;
  const s = p.sharedLayout(oid)!;
  const before = s.groups.map((g) => [...g]);
  assert.throws(() => { (s.groups[0] as number[])[0] = 99; });
  assert.throws(() => { (s.groups as number[][]).push([1, 2]); });
  assert.throws(() => { (s as { id: number }).id = 5; });
  assert.equal(p.sharedLayout(oid)!.groups.map((g) => [...g]), before);
  // layout() still hands out fresh arrays of its own
  const l = p.layout(oid);
  l.groups[0]![0] = 99;
  assert.equal(p.layout(oid).groups, before);
});

t('still right after the core memory grows under it (big batches between single layouts)', () => {
  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 });
  const p = createPlacement(pm);
  const oids = oidsOf('RP_3G1', 200, 8);
  const seen = holdToLayout(p, oids.slice(0, 100));
  // SX: 1,024 shards per object, 3,000 objects: the core's memory grows for this batch
  p.layoutBatch(oidsOf('SX', 3000, 9));
  holdToLayout(p, oids, seen);
  // a header of another class made after the growth
  holdToLayout(p, oidsOf('EC_8P2G1', 100, 10), seen);
});

t('objects of more than MAX_SHARED_SHARDS shards are not shared', () => {
  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 });
  const p = createPlacement(pm);
  const wide = oidsOf('RP_2GX', 3, 12, { groups: MAX_SHARED_SHARDS / 2 + 1 });
  for (const oid of wide) assert.is(p.sharedLayout(oid), undefined);
  const fits = oidsOf('RP_2GX', 3, 13, { groups: MAX_SHARED_SHARDS / 2 });
  holdToLayout(p, fits);
});

t('a class whose layouts fill MAX_SHARED_LAYOUTS stops being shared; others keep theirs', () => {
  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 }); // 1,024 targets
  const p = createPlacement(pm);
  const small = oidsOf('RP_2G1', 50, 14);
  const keep = small.map((o) => p.sharedLayout(o)!);
  let first: bigint | undefined, shared = 0;
  for (const oid of oidsOf('RP_3G1', MAX_SHARED_LAYOUTS + 200, 15)) {
    const s = p.sharedLayout(oid);
    if (s === undefined) { first ??= oid; continue; }
    assert.is(first, undefined, 'once full, never shared again');
    shared++;
  }
  assert.ok(first !== undefined, 'the table filled');
  assert.ok(shared + new Set(keep).size <= MAX_SHARED_LAYOUTS);
  assert.is(p.sharedLayout(first!), undefined);
  // layout() answers for them all the same
  assert.is(p.layout(first!).groups[0]!.length, 3);
  // the class that was shared before keeps answering its values
  small.forEach((o, i) => assert.is(p.sharedLayout(o), keep[i]));
});

t('asking again (the same oid, one after another or between others) answers the same value, the one layout() describes', () => {
  const p = createPlacement(PoolMap.create({ nodes: 4, ranksPerNode: 2, targetsPerRank: 2 }));
  const [a, b] = oidsOf('EC_4P2G1', 2, 16);
  const la = p.sharedLayout(a!)!;
  assert.is(p.sharedLayout(a!), la);
  const lb = p.sharedLayout(b!)!;
  assert.is(p.sharedLayout(b!), lb);
  assert.is(p.sharedLayout(a!), la);
  assert.equal(la.groups.map((g) => [...g]), p.layout(a!).groups);
  assert.equal(lb.groups.map((g) => [...g]), p.layout(b!).groups);
  // a bad id right after a good one is still refused
  for (const bad of [-1n, 1n << 128n]) {
    try { p.sharedLayout(bad); assert.unreachable('accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
  }
});

t('bad object ids are INVALID_ARGUMENT, as for layout()', () => {
  const p = createPlacement(PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 2 }));
  for (const bad of [-1n, 1n << 128n, 5 as unknown as bigint, undefined as unknown as bigint]) {
    try { p.sharedLayout(bad); assert.unreachable('accepted'); } catch (err) { assert.is((err as { code?: string }).code, 'INVALID_ARGUMENT'); }
  }
});

t.run();
