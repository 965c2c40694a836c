/**
 * The pool the Dfs tests share the shape of: 3 nodes x 2 ranks x 1 target, one EC 4+1 container
 * `fs`; with `CAIRN_TEST_CONNECTED=1`, six engines of one target each and etcd (the pool's close
 * stops them).
 */
import { join } from 'node:path';
import { Pool, type Container } from '../../index.js';
import { CONNECTED } from '../helpers/pool-under-test.js';
import { Cluster } from '../helpers/cluster.js';

/** Create that pool under `dir` (in `dir/pool`) and its container. */
export async function dfsPool(dir: string): Promise<{ pool: Pool; cont: Container }> {
  if (CONNECTED) {
    const cluster = await Cluster.start({ engines: 6, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '64M', dataBytes: '1024M' });
    const pool = await cluster.connect();
    const close = pool.close.bind(pool);
    pool.close = async () => { await close(); await cluster.stop(); };
    return { pool, cont: await pool.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 }) };
  }
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  return { pool, cont: await pool.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 }) };
}
