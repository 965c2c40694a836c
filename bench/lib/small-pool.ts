/**
 * The small-put probes' pool (bench/durable-threads.ts, bench/durable-latency.ts): an embedded pool
 * of the io bench's shape in a temporary directory, `durable` or not, with one RP_2G1 container
 * whose targets are open; `run` gets the container, and the pool and directory are gone after it.
 */
import path from 'node:path';
import { Pool, type Container } from '../../index.js';
import { tempDir, removeTempDir } from './cleanup.js';
import { IO_POOL_SHAPE } from '../io.bench.js';

export async function withSmallPool(prefix: string, durable: boolean, run: (cont: Container) => Promise<void>): Promise<void> {
  const dir = tempDir(prefix);
  try {
    const pool = await Pool.create(path.join(dir, 'pool'), { ...IO_POOL_SHAPE, durable });
    try {
      const cont = await pool.createContainer('small', { oclass: 'RP_2G1' });
      await cont.openTargets();
      await run(cont);
      await cont.close();
    } finally {
      await pool.close();
    }
  } finally {
    removeTempDir(dir);
  }
}
