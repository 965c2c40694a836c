/**
 * SIGKILL-during-rebuild helper: opens the pool in argv[2], then `exclude <id>`, `drain <id>`,
 * `reintegrate <id>` or `extend` (one node), or with `resume` only opens it (a pending rebuild or
 * rebalance resumes by itself). It prints
 * `progress <done> <total>` on the first rebuild event that shows work done, then holds its
 * event loop (at most HOLD_MS) so that the parent's SIGKILL lands while the migration is under
 * way: a rebuild that had only a few objects left finished between the line and the signal now and
 * then, and the test read `done` (test/pool/rebuild, "SIGKILL during rebalance", drain). It prints
 * `done` if the rebuild finishes before the parent kills it.
 */
import { Pool, type RebuildStatus } from '../../src/pool/pool.js';

/** Longest the child holds after its progress line (the parent kills it long before). */
const HOLD_MS = 30_000;

const [dir, mode, target] = process.argv.slice(2);
const pool = await Pool.open(dir!);
let told = false;
pool.on('rebuild', (s: RebuildStatus) => {
  if (!told && s.state === 'running' && s.objectsDone >= 1) {
    told = true;
    process.stdout.write(`progress ${s.objectsDone} ${s.objectsTotal}\n`); // (synchronous to a pipe on Linux)
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, HOLD_MS);
  }
});
if (mode === 'exclude') await pool.exclude(Number(target));
else if (mode === 'drain') await pool.drain(Number(target));
else if (mode === 'reintegrate') await pool.reintegrate(Number(target));
else if (mode === 'extend') await pool.extend({ nodes: 1 });
else if (mode !== 'resume') throw new Error(`unknown mode ${mode}`);
await pool.waitForRebuild();
process.stdout.write('done\n');
await pool.close();
