/**
 * The IOR-like run (src/bench/ior.ts) against a connected pool of 4 `cairn engine` processes on
 * loopback (2 targets each, pool map in a real etcd), beside the embedded run of the same size and
 * classes in the same invocation. Classes are 3 wide (EC_2P1G1, RP_3G1) because 4 engines are 4
 * fault domains. Needs etcd (`node scripts/ensure-etcd.mjs`).
 */
import { runIor, type WorkloadResult } from '../src/bench/ior.js';
import { Cluster } from './cluster.js';
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
  // The fs baseline rows get a suffix: the object suite has rows of the same name.
  const own = (name: string) => (name.startsWith('fs ') ? `${name} (engines suite)` : name);
  const rows: BenchRow[] = [];
  for (const r of embedded) rows.push(toRow(r, own(r.name), r.peer ? { peer: own(r.peer) } : {}));
  for (const r of remote) {
    // Peer of a 4-engine row: the same workload on the embedded pool; the fs baseline beside it.
    const twin = r.name.replace(' 4 engines', ' embedded');
    rows.push(toRow(r, r.name, { peer: twin, ...(r.peer ? { alsoVs: [own(r.peer)] } : {}) }));
  }
  return rows;
}

function toRow(r: WorkloadResult, name: string, peers: Pick<BenchRow, 'peer' | 'alsoVs'>): BenchRow {
  return {
    name, suite: 'engines',
    ...(r.bytesPerSecond !== undefined ? { bytesPerSecond: r.bytesPerSecond } : {}),
    ...(r.opsPerSecond !== undefined ? { opsPerSecond: r.opsPerSecond } : {}),
    ...peers,
    ...(r.extra ? { extra: r.extra } : {}),
  };
}
