/**
 * The work of the merge-placement specification, shared by its test and its child process: runs
 * holding more than MERGE_HERE_MAX_BYTES and less than MERGE_HERE_COLD_MAX_BYTES, then an
 * aggregation that merges every run. Returns the worker jobs the merges took, the run bytes merged
 * and what reads see afterwards.
 */
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { dec, enc } from './helpers.js';

const MiB = 1024 * 1024;
export const MERGE_COLD_OPTS: VosOptions = { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: 256 * 1024, io: 'pread' };

export async function mergeColdWork(dir: string): Promise<{ jobs: number; runBytes: number; runs: number; reads: string[] }> {
  const t = await VosTarget.open(dir, MERGE_COLD_OPTS);
  try {
    for (let r = 0; r < 4; r++) {
      for (let i = 0; i < 500; i++) await t.updateSingle(BigInt(r + 1), BigInt(1 + (i % 11)), enc(`d${i}`), enc('a'), enc(`v${r}-${i}-`.padEnd(200, String.fromCharCode(97 + r))));
      await t.target.flushAll();
    }
    await t.target.idle();
    const runs = t.target.runs.length;
    const runBytes = t.target.runs.reduce((n, x) => n + x.meta.bytes, 0);
    const before = t.target.workerJobs;
    await t.aggregate(3n); // a merge of every run (epochs 1 and 2 are folded into 3: reads below look at 3 and 4)
    const jobs = t.target.workerJobs - before;
    const reads: string[] = [];
    for (let e = 3n; e <= 4n; e++) for (let i = 0; i < 500; i += 7) reads.push(dec(await t.fetchSingle(e, BigInt(1 + (i % 11)), enc(`d${i}`), enc('a'))) ?? '-');
    return { jobs, runBytes, runs, reads };
  } finally {
    await t.close();
  }
}
