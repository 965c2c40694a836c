/**
 * The IOR-like run (src/bench/ior.ts) against a connected pool of 4 `cairn engine` processes on
 * loopback (2 targets each, pool map in a real etcd), beside the embedded run of the same size and
 * classes in the same invocation. Classes are 3 wide (EC_2P1G1, RP_3G1) because 4 engines are 4
 * fault domains. Needs etcd (`node scripts/ensure-etcd.mjs`).
 */
import { runIor, type WorkloadResult } from '../src/bench/ior.js';
import { Cluster } from '../test/helpers/cluster.js';
import type { BenchContext, BenchRow } from './harness.js';

const MIB = 1024 * 1024;
const CLASSES = ['EC_2P1G1', 'RP_3G1'];

export default async function enginesBench(ctx: BenchContext): Promise<BenchRow[]> {
  const bytes = (ctx.quick ? 32 : 256) * MIB;
  const kvOps = ctx.quick ? 1000 : 5000;
  const embedded = await runIor({ bytes, transfer: MIB, kvOps, classes: CLASSES, label: 'embedded', progress: (m) => ctx.progress(`engines: embedded ${m}`) });
  const fsWrite = embedded.find((r) => r.name.startsWith('fs write'))!.bytesPerSecond!;
  const fsRead = embedded.find((r) => r.name.startsWith('fs read'))!.bytesPerSecond!;
  ctx.progress('engines: starting etcd and 4 engines');
  const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: `${Math.max(1024, Math.ceil((bytes * 2) / 8 / MIB))}M` });
  let remote: WorkloadResult[];
  try {
    const pool = await cluster.connect();
    try {
      remote = await runIor({ pool, bytes, transfer: MIB, kvOps, classes: CLASSES, label: '4 engines', baseline: { fsWrite, fsRead }, progress: (m) => ctx.progress(`engines: 4 engines ${m}`) });
    } finally {
      await pool.close();
    }
  } finally {
    await cluster.stop();
  }
  const rows: BenchRow[] = [];
  for (const r of embedded) rows.push(toRow(r));
  for (const r of remote) {
    const twin = embedded.find((e) => e.name === r.name.replace(' 4 engines', ' embedded'));
    const rate = r.bytesPerSecond ?? r.opsPerSecond;
    const base = twin?.bytesPerSecond ?? twin?.opsPerSecond;
    rows.push(toRow({ ...r, extra: { ...(r.extra ?? {}), ...(rate && base ? { vsEmbedded: rate / base } : {}) } }));
  }
  return rows;
}

function toRow(r: WorkloadResult): BenchRow {
  return {
    name: r.name, suite: 'engines',
    ...(r.bytesPerSecond !== undefined ? { bytesPerSecond: r.bytesPerSecond } : {}),
    ...(r.opsPerSecond !== undefined ? { opsPerSecond: r.opsPerSecond } : {}),
    ...(r.extra ? { extra: r.extra } : {}),
  };
}
