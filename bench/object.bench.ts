/**
 * Object-layer workloads through `runIor()` (src/bench/ior.ts): IOR-like 1 MiB sequential write
 * and read of an EC_4P2G1 and an RP_3G1 array with their ratio to raw fs writes and reads of the
 * same bytes, and mdtest-like 4 KiB KV puts and gets. Smaller sizes under CAIRN_BENCH_QUICK=1.
 */
import { runIor } from '../src/bench/ior.js';
import type { BenchContext, BenchRow } from './harness.js';

const MIB = 1024 * 1024;

export default async function objectBench(ctx: BenchContext): Promise<BenchRow[]> {
  const results = await runIor({
    bytes: (ctx.quick ? 32 : 256) * MIB,
    transfer: MIB,
    kvOps: ctx.quick ? 2000 : 20_000,
    progress: (m) => ctx.progress(`object: ${m}`),
  });
  return results.map((r) => ({
    name: r.name,
    suite: 'object',
    ...(r.bytesPerSecond !== undefined ? { bytesPerSecond: r.bytesPerSecond } : {}),
    ...(r.opsPerSecond !== undefined ? { opsPerSecond: r.opsPerSecond } : {}),
    ...(r.extra ? { extra: r.extra } : {}),
  }));
}
