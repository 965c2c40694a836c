/**
 * Placement benchmarks: jump consistent hash keys/s (single call and batch), and object layouts/s
 * on a 1,024-target pool (16 nodes x 8 ranks x 8 targets), batch and single:
 *  - `... batch wasm`: the jump-map (the default) on a pool never extended (the original layout);
 *  - `... extended batch wasm`: the same 1,024 targets reached by extending 14 nodes by 2 (the
 *    jump-map base plus the weighted reservoir over the added domains);
 *  - `... heterogeneous batch wasm`: 8 nodes of 8 x 8 then 16 nodes of 4 x 4 (reservoir weights);
 *  - baselines in the same run: the ring, the straw2-like (CRUSH-like) descent, and the scalar
 *    TypeScript reference of the jump-map (`reference-ts`).
 *  - `... lifted batch wasm`: 2 x 4 x 8 extended by a node, which lifts EC_8P2G1 from target to
 *    rank level (layout rules 4: the lift fill keeps every shard that can stay), with the moved
 *    fraction against max(ideal, safety) (`movedOverFloor`);
 *  - `... lifted by 3 nodes batch wasm`: 1 x 2 x 8 grown by a node at target level, then lifted by
 *    three nodes at once (layout rules 3 seed the lift with the pool as it was; `movedOverFloor`).
 * The extend rows also report the shards moved against the ideal (`movedOverIdeal`). Batch rows of
 * the jump-map carry `cpuRate`: layouts per CPU second of this process (median of a few timed
 * calls), which holds up better than wall-clock rates when other processes share the cores.
 */
import { rate, type BenchContext, type BenchRow } from './harness.js';
import { Rng } from '../core/rng.js';
import {
  jumpConsistentHash, jumpConsistentHashBatch, PoolMap, createPlacement, makeObjectId, referenceLayout, type PlacementAlgo,
} from '../placement/index.js';

/** `n` random oids of `cls` as (lo, hi) pairs. */
function oidPairs(rng: Rng, cls: string, n: number): BigUint64Array {
  const oids = new BigUint64Array(2 * n);
  const hi = makeObjectId(0n, cls) >> 64n;
  for (let i = 0; i < n; i++) { oids[2 * i] = rng.u64(); oids[2 * i + 1] = hi; }
  return oids;
}

/** Run `fn` a few times first, so the wasm core is tiered up before tinybench's short warm-up. */
function warm(fn: () => unknown, times = 4): () => unknown { for (let i = 0; i < times; i++) fn(); return fn; }

/** Fraction of shards that changed target between two layouts. */
function movedFraction(a: Int32Array, b: Int32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) m++;
  return m / a.length;
}

/** Layouts per CPU second of this process: median over `rounds` calls of `fn` laying out `ops` objects. */
function cpuRate(fn: () => unknown, ops: number, rounds = 5): number {
  const per: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    per.push((c.user + c.system) / 1e6 / ops);
  }
  per.sort((a, b) => a - b);
  return 1 / Math.max(1e-12, per[per.length >> 1]!);
}

/** Shards beyond the first of their group on one rank (the minimum a lift to rank level moves), as a fraction. */
function sharedRankFraction(pm: PoolMap, targets: Int32Array, gs: number): number {
  const rank = pm.domainOfTargets(pm.levelNamesList.length - 1);
  let extra = 0;
  for (let g = 0; g < targets.length; g += gs) {
    const seen = new Set<number>();
    for (let s = g; s < g + gs; s++) { const r = rank[targets[s]!]!; if (seen.has(r)) extra++; else seen.add(r); }
  }
  return extra / targets.length;
}

export default async function placementBench(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const rng = new Rng(1);
  const keys = new BigUint64Array(ctx.quick ? 1 << 14 : 1 << 18);
  for (let i = 0; i < keys.length; i++) keys[i] = rng.u64();
  const single = keys.subarray(0, 4096);
  const r1 = await rate('jump-hash single 1024 buckets', () => { for (const k of single) jumpConsistentHash(k, 1024); }, single.length, ctx);
  rows.push({ name: 'jump-hash single 1024 buckets', suite: 'jump-hash', opsPerSecond: r1.perSecond, extra: { samples: r1.samples } });
  const r2 = await rate('jump-hash batch 1024 buckets', () => jumpConsistentHashBatch(keys, 1024), keys.length, ctx);
  rows.push({ name: 'jump-hash batch 1024 buckets', suite: 'jump-hash', opsPerSecond: r2.perSecond, extra: { samples: r2.samples, batch: keys.length } });

  const pm = PoolMap.create({ nodes: 16, ranksPerNode: 8, targetsPerRank: 8 });
  const grown = PoolMap.create({ nodes: 14, ranksPerNode: 8, targetsPerRank: 8 });
  const small = grown.clone();
  grown.extend({ nodes: 2 });
  const hetero = PoolMap.create([{ nodes: 8, ranksPerNode: 8, targetsPerRank: 8 }, { nodes: 16, ranksPerNode: 4, targetsPerRank: 4 }]);
  const batchSize = ctx.quick ? 1 << 14 : 1 << 16;
  for (const cls of ['EC_8P2G1', 'RP_3G1', 'EC_16P2G1']) {
    const oids = oidPairs(rng, cls, batchSize);
    const singles = Array.from({ length: 2048 }, (_, i) => (oids[2 * i + 1]! << 64n) | oids[2 * i]!);
    let jumpRate = 0;
    for (const algo of ['jump-map', 'ring', 'straw2-like'] as PlacementAlgo[]) {
      if (cls === 'EC_16P2G1' && algo !== 'jump-map') continue;
      const placement = createPlacement(pm, { algo });
      const tag = algo === 'jump-map' ? 'wasm' : algo;
      const nb = `layout ${cls} 1024 targets batch ${tag}`;
      const rb = await rate(nb, warm(() => placement.layoutBatch(oids)), batchSize, ctx);
      if (algo === 'jump-map') jumpRate = rb.perSecond;
      const cpu = algo === 'jump-map' ? { cpuRate: cpuRate(() => placement.layoutBatch(oids), batchSize) } : {};
      rows.push({ name: nb, suite: 'placement', opsPerSecond: rb.perSecond, extra: { samples: rb.samples, batch: batchSize, ...cpu, ...(algo === 'jump-map' ? {} : { jumpMapOverThis: jumpRate / rb.perSecond }) } });
      if (cls === 'EC_16P2G1') continue;
      const ns = `layout ${cls} 1024 targets single ${tag}`;
      const rs = await rate(ns, warm(() => { for (const o of singles) placement.layout(o); }), singles.length, ctx);
      rows.push({ name: ns, suite: 'placement', opsPerSecond: rs.perSecond, extra: { samples: rs.samples } });
    }
    if (cls === 'EC_16P2G1') continue;
    // the same target count reached by extension: base jump-map plus reservoir over 2 added nodes
    const before = createPlacement(small).layoutBatch(oids).targets;
    const pg = createPlacement(grown);
    const ne = `layout ${cls} 1024 targets extended batch wasm`;
    const re = await rate(ne, warm(() => pg.layoutBatch(oids)), batchSize, ctx);
    const ideal = 128 / 1024;
    rows.push({ name: ne, suite: 'placement', opsPerSecond: re.perSecond, extra: { samples: re.samples, batch: batchSize, cpuRate: cpuRate(() => pg.layoutBatch(oids), batchSize), vsFresh: re.perSecond / jumpRate, movedOverIdeal: movedFraction(before, pg.layoutBatch(oids).targets) / ideal } });
    if (cls === 'EC_8P2G1') {
      // a lift: 8 ranks cannot hold a group of 10 apart, 12 can (rules 2 keep what they can)
      const base = PoolMap.create({ nodes: 2, ranksPerNode: 4, targetsPerRank: 8 });
      const lifted = base.clone();
      lifted.extend({ nodes: 1 });
      const was = createPlacement(base).layoutBatch(oids).targets;
      const pl = createPlacement(lifted);
      const nl = `layout ${cls} 96 targets lifted batch wasm`;
      const rl = await rate(nl, warm(() => pl.layoutBatch(oids)), batchSize, ctx);
      const floor = Math.max(32 / 96, sharedRankFraction(lifted, was, 10));
      rows.push({ name: nl, suite: 'placement', opsPerSecond: rl.perSecond, extra: { samples: rl.samples, batch: batchSize, cpuRate: cpuRate(() => pl.layoutBatch(oids), batchSize), movedOverFloor: movedFraction(was, pl.layoutBatch(oids).targets) / floor } });
      // a lift by several nodes after growing at the finer level: 4 ranks of 8, then 10 ranks
      const grown4 = PoolMap.create({ nodes: 1, ranksPerNode: 2, targetsPerRank: 8 });
      grown4.extend({ nodes: 1 });
      const lifted3 = grown4.clone();
      lifted3.extend({ nodes: 3 });
      const was3 = createPlacement(grown4).layoutBatch(oids).targets;
      const p3 = createPlacement(lifted3);
      const n3 = `layout ${cls} 80 targets lifted by 3 nodes batch wasm`;
      const r3 = await rate(n3, warm(() => p3.layoutBatch(oids)), batchSize, ctx);
      const floor3 = Math.max(48 / 80, sharedRankFraction(lifted3, was3, 10));
      rows.push({ name: n3, suite: 'placement', opsPerSecond: r3.perSecond, extra: { samples: r3.samples, batch: batchSize, movedOverFloor: movedFraction(was3, p3.layoutBatch(oids).targets) / floor3 } });
    }
    const ph = createPlacement(hetero);
    const nh = `layout ${cls} 768 targets heterogeneous batch wasm`;
    const rh = await rate(nh, warm(() => ph.layoutBatch(oids)), batchSize, ctx);
    rows.push({ name: nh, suite: 'placement', opsPerSecond: rh.perSecond, extra: { samples: rh.samples, batch: batchSize } });
    // the scalar TypeScript reference of the jump-map (bigints): the floor any wasm must beat
    const few = singles.slice(0, ctx.quick ? 64 : 256);
    const nr = `layout ${cls} 1024 targets single reference-ts`;
    const rr = await rate(nr, () => { for (const o of few) referenceLayout(pm, o); }, few.length, ctx, { iterations: 2 });
    rows.push({ name: nr, suite: 'placement', opsPerSecond: rr.perSecond, extra: { samples: rr.samples, wasmBatchOverThis: jumpRate / rr.perSecond } });
  }
  return rows;
}
