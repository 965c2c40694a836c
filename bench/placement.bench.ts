/**
 * Placement benchmarks: jump consistent hash keys/s (single call and batch), and object layouts/s
 * for EC_8P2G1 and RP_3G1 on a 1,024-target pool (16 nodes x 8 ranks x 8 targets), batch and
 * single, for the jump-map layout and the ring alternative.
 */
import { rate, type BenchContext, type BenchRow } from './harness.js';
import { Rng } from '../core/rng.js';
import {
  jumpConsistentHash, jumpConsistentHashBatch, PoolMap, createPlacement, makeObjectId, type PlacementAlgo,
} from '../placement/index.js';

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
  const batchSize = ctx.quick ? 1 << 14 : 1 << 16;
  for (const algo of ['jump-map', 'ring'] as PlacementAlgo[]) {
    const placement = createPlacement(pm, { algo });
    for (const cls of ['EC_8P2G1', 'RP_3G1']) {
      const oids = new BigUint64Array(2 * batchSize);
      const hi = makeObjectId(0n, cls) >> 64n;
      for (let i = 0; i < batchSize; i++) { oids[2 * i] = rng.u64(); oids[2 * i + 1] = hi; }
      const nb = `layout ${cls} 1024 targets ${algo} batch`;
      const rb = await rate(nb, () => placement.layoutBatch(oids), batchSize, ctx);
      rows.push({ name: nb, suite: 'placement', opsPerSecond: rb.perSecond, extra: { samples: rb.samples, batch: batchSize } });
      const singles = Array.from({ length: 2048 }, (_, i) => (oids[2 * i + 1]! << 64n) | oids[2 * i]!);
      const ns = `layout ${cls} 1024 targets ${algo} single`;
      const rs = await rate(ns, () => { for (const o of singles) placement.layout(o); }, singles.length, ctx);
      rows.push({ name: ns, suite: 'placement', opsPerSecond: rs.perSecond, extra: { samples: rs.samples } });
    }
  }
  return rows;
}
