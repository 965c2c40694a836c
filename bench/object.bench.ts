/**
 * Object-layer workloads through `runIor()` (src/bench/ior.ts): IOR-like 1 MiB sequential write
 * and read (8 in flight) of an EC_4P2G1 and an RP_3G1 array, each beside fs.promises writes and
 * reads of the same bytes (its peer), and mdtest-like 4 KiB KV puts and gets (32 in flight) beside
 * classic-level doing the same in the same run. Smaller sizes under CAIRN_BENCH_QUICK=1.
 */
import path from 'node:path';
import { runIor } from '../src/bench/ior.js';
import { inFlight, seconds, type BenchContext, type BenchRow } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { openPeer } from './lib/kv-peers.js';

const MIB = 1024 * 1024;
/** mdtest-like KV ops in flight (as in runIor). */
const KV_DEPTH = 32;
const KV_VALUE_BYTES = 4096;

/** classic-level puts and gets of `ops` 4 KiB values, KV_DEPTH in flight: [puts/s, gets/s]. */
async function levelKv(ops: number): Promise<[number, number]> {
  const dir = tempDir('cairn-object-level-');
  try {
    const db = await openPeer('level', path.join(dir, 'db'));
    const v = new Uint8Array(KV_VALUE_BYTES).fill(7);
    const put = await seconds(() => inFlight(ops, KV_DEPTH, (i) => db.put(`key-${i}`, v)));
    let bad = 0;
    const get = await seconds(() => inFlight(ops, KV_DEPTH, async (i) => { const g = await db.get(`key-${i}`); if (!g || g.length !== KV_VALUE_BYTES) bad++; }));
    await db.close();
    if (bad) throw new Error(`classic-level: ${bad} bad gets`);
    return [ops / put, ops / get];
  } finally {
    removeTempDir(dir);
  }
}

export default async function objectBench(ctx: BenchContext): Promise<BenchRow[]> {
  const kvOps = ctx.quick ? 2000 : 20_000;
  const dir = tempDir('cairn-object-bench-'); // removed on exit or signal, not only when runIor ends
  let results;
  try {
    results = await runIor({
      bytes: (ctx.quick ? 32 : 256) * MIB,
      transfer: MIB,
      kvOps,
      dir,
      progress: (m) => ctx.progress(`object: ${m}`),
    });
  } finally {
    removeTempDir(dir);
  }
  ctx.progress('object: classic-level 4KiB kv');
  const [lvPut, lvGet] = await levelKv(kvOps);
  const lvPutName = `classic-level put 4KiB ${KV_DEPTH} in flight`, lvGetName = `classic-level get 4KiB ${KV_DEPTH} in flight`;
  const rows: BenchRow[] = results.map((r) => ({
    name: r.name,
    suite: 'object',
    ...(r.bytesPerSecond !== undefined ? { bytesPerSecond: r.bytesPerSecond } : {}),
    ...(r.opsPerSecond !== undefined ? { opsPerSecond: r.opsPerSecond } : {}),
    ...(r.peer ? { peer: r.peer } : r.name.startsWith('mdtest kv put') ? { peer: lvPutName } : r.name.startsWith('mdtest kv get') ? { peer: lvGetName } : {}),
    ...(r.extra ? { extra: r.extra } : {}),
  }));
  rows.push({ name: lvPutName, suite: 'object', opsPerSecond: lvPut, extra: { ops: kvOps } });
  rows.push({ name: lvGetName, suite: 'object', opsPerSecond: lvGet, extra: { ops: kvOps } });
  return rows;
}
