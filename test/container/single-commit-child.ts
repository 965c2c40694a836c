/**
 * Writer for single-commit.test.ts: puts `o<i>` = `value <i>` into a durable pool, 32 in flight,
 * prints `acked <n>` once n puts resolved, and kills itself with SIGKILL at once (journal records
 * queued behind a sync in flight never reach the file).
 */
import { Pool } from '../../src/pool/pool.js';

const [dir] = process.argv.slice(2);
const pool = await Pool.open(dir!, { durable: true });
const c = await pool.openContainer('c');
const N = 256, DEPTH = 32;
let next = 0;
await Promise.all(Array.from({ length: DEPTH }, async () => {
  while (next < N) { const i = next++; await c.kv(`o${i}`).put('v', `value ${i}`); }
}));
process.stdout.write(`acked ${N}\n`, () => process.kill(process.pid, 'SIGKILL'));
