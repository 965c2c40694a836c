/** The pool the Dfs tests share the shape of: 3 nodes x 2 ranks x 1 target, one EC 4+1 container `fs`. */
import { join } from 'node:path';
import { Pool, type Container } from '../../index.js';

/** Create that pool under `dir` (in `dir/pool`) and its container. */
export async function dfsPool(dir: string): Promise<{ pool: Pool; cont: Container }> {
  const pool = await Pool.create(join(dir, 'pool'), { nodes: 3, ranksPerNode: 2, targetsPerRank: 1, scmBytes: 64 << 20, dataBytes: 1 << 30 });
  return { pool, cont: await pool.createContainer('fs', { oclass: 'EC_4P1G1', redundancyFactor: 1 }) };
}
