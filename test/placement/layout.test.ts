import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PoolMap, createPlacement, makeObjectId, referenceLayout, PlacementError, parseObjectClass, OBJECT_CLASS_NAMES,
  type PlacementAlgo, type PoolMapJSON,
} from '../../placement/index.js';
import { Rng } from '../../core/rng.js';

const t = suite('layout');

function oidsOf(cls: string, n: number, seed: number): bigint[] {
  const r = new Rng(seed);
  return Array.from({ length: n }, () => makeObjectId(r.u64() | (BigInt(r.u32()) << 64n), cls));
}

function rankOf(pm: PoolMap, t: number): number { return pm.target(t).rank; }

/** Every group: distinct ranks (when enough ranks), distinct targets, eligible targets only. */
function checkLayouts(pm: PoolMap, targets: Int32Array, gs: number): void {
  for (let g = 0; g < targets.length; g += gs) {
    const ranks = new Set<number>(), ts = new Set<number>();
    for (let s = 0; s < gs; s++) {
      const x = targets[g + s]!;
      ts.add(x); ranks.add(rankOf(pm, x));
      assert.ok(['UPIN', 'UP', 'NEW'].includes(pm.target(x).state), `shard on ${pm.target(x).state} target ${x}`);
    }
    assert.is(ts.size, gs);
    assert.is(ranks.size, gs);
  }
}

t('wasm layout equals the scalar TypeScript reference (several classes, states, a 3-level map)', () => {
  const pm = PoolMap.create({ nodes: 6, ranksPerNode: 4, targetsPerRank: 4 });
  const p0 = createPlacement(pm);
  pm.exclude(5); pm.drain(40); pm.excludeRank(7); pm.exclude(77); pm.markDownOut(77);
  const p1 = createPlacement(pm);
  const deep: PoolMapJSON = {
    version: 1, levels: ['rack', 'node', 'engine'], faultLevel: 'node',
    domains: Array.from({ length: 3 }, (_, r) => ({ children: Array.from({ length: 3 + r }, () => ({ children: [{ targets: [] }, { targets: [] }] })) })),
  };
  let id = 0;
  for (const rack of deep.domains) for (const node of rack.children!) for (const eng of node.children!) eng.targets = Array.from({ length: 3 }, () => ({ id: id++ }));
  deep.domains[1]!.children![0]!.children![1]!.targets![2]!.state = 'DOWN';
  const pd = PoolMap.fromJSON(deep);
  const p2 = createPlacement(pd);
  let k = 0;
  for (const cls of ['EC_8P2G1', 'RP_3G2', 'S4', 'EC_4P2GX', 'EC_16P2G1', 'RP_2GX']) {
    for (const oid of oidsOf(cls, 40, 11 + k++)) {
      for (const [p, m] of [[p0, PoolMap.create({ nodes: 6, ranksPerNode: 4, targetsPerRank: 4 })], [p1, pm], [p2, pd]] as const) {
        const w = p.layout(oid), ref = referenceLayout(m, oid);
        assert.equal(w.groups, ref.groups, `${cls} ${oid}`);
        assert.is(w.violations, ref.violations);
        assert.is(w.domainLevel, ref.domainLevel);
      }
    }
  }
});

t('layout is a pure function of (oid, map contents); batch equals single', () => {
  const pm = PoolMap.create({ nodes: 4, ranksPerNode: 4, targetsPerRank: 4 });
  const oids = oidsOf('EC_4P2G1', 200, 3);
  const a = createPlacement(pm).layoutBatch(oids);
  const b = createPlacement(PoolMap.deserialize === undefined ? pm : pm.clone()).layoutBatch(oids);
  assert.equal(Array.from(a.targets), Array.from(b.targets));
  const p = createPlacement(pm);
  oids.slice(0, 30).forEach((oid, i) => {
    assert.equal(p.layout(oid).groups.flat(), Array.from(a.targets.subarray(i * 6, i * 6 + 6)));
  });
  const l = p.layout(oids[0]!);
  assert.is(l.oclass.name, 'EC_4P2G1');
  assert.is(l.oid, oids[0]);
});

for (const algo of ['jump-map', 'ring'] as PlacementAlgo[]) {
  t(`${algo}: fault domains respected, exclude moves only the failed target's shards, with wide fan-out`, () => {
    const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 });
    const oids = oidsOf('EC_8P2G1', 20000, 21);
    const before = createPlacement(pm, { algo }).layoutBatch(oids);
    assert.is(before.violations, 0);
    assert.is(before.domainLevel, 'rank');
    checkLayouts(pm, before.targets, 10);
    const failed = 37;
    pm.exclude(failed);
    const after = createPlacement(pm, { algo }).layoutBatch(oids);
    assert.is(after.violations, 0);
    checkLayouts(pm, after.targets, 10);
    let moved = 0;
    const dst = new Set<number>(), src = new Set<number>();
    for (let i = 0; i < before.targets.length; i++) {
      if (before.targets[i] !== after.targets[i]) {
        assert.is(before.targets[i], failed, 'only shards of the failed target move');
        moved++; dst.add(after.targets[i]!);
        const g0 = i - (i % 10);
        for (let j = g0; j < g0 + 10; j++) if (j !== i) src.add(after.targets[j]!);
      } else assert.is.not(before.targets[i], failed);
    }
    assert.ok(moved > 100, `moved ${moved}`);
    assert.ok(dst.size > moved * 0.5, `destinations ${dst.size} of ${moved}`);
    assert.ok(src.size > 500, `sources ${src.size}`);
    // DOWN -> DOWNOUT changes nothing; reintegration brings every shard back
    pm.markDownOut(failed);
    assert.equal(createPlacement(pm, { algo }).layoutBatch(oids).targets, after.targets);
    pm.reintegrate(failed);
    assert.equal(createPlacement(pm, { algo }).layoutBatch(oids).targets, before.targets);
  });
}

t('jump-map: a failed rank and a drained target move only their shards; no violations', () => {
  const pm = PoolMap.create({ nodes: 8, ranksPerNode: 4, targetsPerRank: 4 });
  const oids = oidsOf('RP_3G2', 10000, 8);
  const before = createPlacement(pm).layoutBatch(oids);
  pm.excludeRank(5); pm.drain(100);
  const lost = new Set([20, 21, 22, 23, 100]);
  const after = createPlacement(pm).layoutBatch(oids);
  assert.is(after.violations, 0);
  checkLayouts(pm, after.targets, 3);
  for (let i = 0; i < before.targets.length; i++) {
    assert.is(before.targets[i] !== after.targets[i], lost.has(before.targets[i]!));
  }
});

t('jump-map: extend moves close to the minimum, only onto new targets', () => {
  // excess over the ideal comes from re-resolved fault domain collisions: about groupSize / ranks
  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 2 });
  const oids = oidsOf('EC_8P2G1', 20000, 4);
  const before = createPlacement(pm).layoutBatch(oids);
  pm.extend({ nodes: 4 });
  const after = createPlacement(pm).layoutBatch(oids);
  assert.is(after.violations, 0);
  let moved = 0, ontoNew = 0;
  for (let i = 0; i < before.targets.length; i++) if (before.targets[i] !== after.targets[i]) { moved++; if (after.targets[i]! >= 256) ontoNew++; }
  const fraction = moved / before.targets.length, ideal = 64 / 320;
  assert.ok(fraction >= ideal * 0.95 && fraction <= ideal * 1.12, `moved ${fraction} ideal ${ideal}`);
  assert.ok(ontoNew / moved > 0.9, `onto new ${ontoNew}/${moved}`);
});

t('jump-map: balance, max/mean within a few percent with enough objects', () => {
  const pm = PoolMap.create({ nodes: 4, ranksPerNode: 4, targetsPerRank: 4 });
  const b = createPlacement(pm).layoutBatch(oidsOf('EC_4P2G1', 200000, 77));
  const load = new Array(64).fill(0);
  for (const x of b.targets) load[x]++;
  const mean = b.targets.length / 64;
  assert.ok(Math.max(...load) / mean < 1.04, `max/mean ${Math.max(...load) / mean}`);
  assert.ok(Math.min(...load) / mean > 0.96, `min/mean ${Math.min(...load) / mean}`);
});

t('degrades to target level when there are too few ranks, and says so', () => {
  const pm = PoolMap.create({ nodes: 2, ranksPerNode: 2, targetsPerRank: 4 });
  const b = createPlacement(pm).layoutBatch(oidsOf('EC_4P2G1', 500, 1));
  assert.is(b.domainLevel, 'target');
  assert.is(b.violations, 0);
  for (let g = 0; g < b.targets.length; g += 6) assert.is(new Set(b.targets.subarray(g, g + 6)).size, 6);
  const ok = createPlacement(pm).layout(makeObjectId(1n, 'RP_3G1'));
  assert.is(ok.domainLevel, 'rank');
});

t('too many shards or too few eligible targets -> typed errors', () => {
  const pm = PoolMap.create({ nodes: 1, ranksPerNode: 2, targetsPerRank: 4 });
  const code = (f: () => unknown) => { try { f(); } catch (e) { assert.instance(e, PlacementError); return (e as PlacementError).code; } return 'none'; };
  assert.is(code(() => createPlacement(pm).layout(makeObjectId(1n, 'EC_16P2G1'))), 'INSUFFICIENT_TARGETS');
  for (let i = 0; i < 4; i++) pm.exclude(i);
  assert.is(code(() => createPlacement(pm).layout(makeObjectId(1n, 'EC_4P2G1'))), 'INSUFFICIENT_TARGETS');
  assert.is(code(() => createPlacement(pm, { algo: 'nope' as PlacementAlgo })), 'INVALID_ARGUMENT');
  assert.is(code(() => createPlacement(pm).layoutBatch([makeObjectId(1n, 'S1'), makeObjectId(1n, 'S2')])), 'INVALID_ARGUMENT');
  assert.is(code(() => createPlacement(pm).layoutBatch([])), 'INVALID_ARGUMENT');
  assert.is(code(() => createPlacement(pm).layout(-1n)), 'INVALID_ARGUMENT');
  assert.is(code(() => createPlacement(pm).layout(77n)), 'UNKNOWN_OBJECT_CLASS');
});

t('every class lays out on a large pool with distinct ranks per group', () => {
  const pm = PoolMap.create({ nodes: 8, ranksPerNode: 4, targetsPerRank: 4 });
  const p = createPlacement(pm);
  for (const name of OBJECT_CLASS_NAMES) {
    const c = parseObjectClass(name);
    const l = p.layout(makeObjectId(42n, c));
    assert.is(l.violations, 0, name);
    assert.ok(l.groups.every((g) => g.length === c.groupSize), name);
    if (c.groups !== 'X') assert.is(l.groups.length, c.groups, name);
  }
});

t('differential on random pools and states (fixed seed): wasm equals the reference', () => {
  const r = new Rng(99);
  const states = ['UPIN', 'UP', 'NEW', 'DOWN', 'DOWNOUT', 'DRAIN'] as const;
  for (let round = 0; round < 12; round++) {
    const nodes = r.range(1, 6), ranks = r.range(1, 4), tpr = r.range(1, 5);
    const pm = PoolMap.create({ nodes, ranksPerNode: ranks, targetsPerRank: tpr });
    const desc = pm.toJSON();
    for (const n of desc.domains) for (const rk of n.children!) for (const tg of rk.targets!) if (r.chance(0.2)) tg.state = r.pick(states);
    const m = PoolMap.fromJSON(desc);
    const eligible = m.targets.filter((x) => ['UPIN', 'UP', 'NEW'].includes(x.state)).length;
    const p = createPlacement(m, { algo: 'jump-map' });
    for (const cls of ['S1', 'RP_2G1', 'RP_3G2', 'EC_2P1G1', 'EC_4P2G1', 'SX']) {
      const gs = parseObjectClass(cls).groupSize;
      for (const oid of oidsOf(cls, 15, round * 100 + gs)) {
        if (gs > eligible) {
          try { p.layout(oid); assert.unreachable('expected an error'); } catch (e) { assert.is((e as PlacementError).code, 'INSUFFICIENT_TARGETS'); }
          continue;
        }
        const w = p.layout(oid), ref = referenceLayout(m, oid);
        assert.equal(w.groups, ref.groups, `round ${round} ${cls}`);
        assert.is(w.violations, ref.violations);
        for (const g of w.groups) for (const x of g) assert.ok(['UPIN', 'UP', 'NEW'].includes(m.target(x).state));
      }
    }
  }
});

t('large GX batches are chunked (memory growth) and match single layouts', () => {
  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 });
  const p = createPlacement(pm);
  const oids = oidsOf('SX', 3000, 5);
  const b = p.layoutBatch(oids);
  assert.is(b.groups, 1024);
  assert.is(b.targets.length, 3000 * 1024);
  for (const i of [0, 1, 1500, 2999]) assert.equal(p.layout(oids[i]!).groups.flat(), Array.from(b.targets.subarray(i * 1024, (i + 1) * 1024)));
  const ec = p.layoutBatch(oidsOf('EC_8P2GX', 200, 6));
  assert.is(ec.groups, 102);
  assert.is(ec.violations, 0);
});

t.run();
