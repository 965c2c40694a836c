/**
 * The pool a specification runs against: an embedded pool in a temporary directory, or — when
 * `CAIRN_TEST_CONNECTED=1` — a connected pool of one `cairn engine` process per rank (one target
 * each) with a real etcd, so the same specification checks both modes.
 */
import { join } from 'node:path';
import { Pool } from '../../src/pool/pool.js';
import { tmpDir } from './tmp.js';
import { Cluster } from './cluster.js';

/** Whether this process runs the specifications against engines. */
export const CONNECTED = process.env.CAIRN_TEST_CONNECTED === '1';

/** A pool of `ranks` ranks of one target each; `close()` also stops a cluster. */
export async function poolUnderTest(ranks: number, sizes: { scmBytes: number; dataBytes: number }): Promise<{ pool: Pool; close(): Promise<void> }> {
  if (!CONNECTED) {
    const pool = await Pool.create(join(tmpDir(), 'pool'), { nodes: ranks / 2, ranksPerNode: 2, targetsPerRank: 1, ...sizes });
    return { pool, close: () => pool.close() };
  }
  const cluster = await Cluster.start({ engines: ranks, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: `${sizes.scmBytes >> 20}M`, dataBytes: `${sizes.dataBytes >> 20}M` });
  const pool = await cluster.connect();
  return { pool, close: async () => { await pool.close(); await cluster.stop(); } };
}
