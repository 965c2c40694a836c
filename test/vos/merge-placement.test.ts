/**
 * Where a merge runs: merges of small runs on the store's thread; while no merge worker is up,
 * merges up to MERGE_HERE_COLD_MAX_BYTES too, without starting one (a worker's start and its first
 * cold merges cost more than such a merge here); once one is up, those merges go to it. Reads are
 * the same either way.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MERGE_HERE_COLD_MAX_BYTES, MERGE_HERE_MAX_BYTES } from '../../src/vos/store.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { mergeColdWork } from './merge-cold-work.js';
import { safe } from './safe.js';
import { tmpDir } from './helpers.js';

const test = suite('vos merge placement');
let dir = '';
test.before.each(() => { dir = tmpDir('merge-place'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('a merge between MERGE_HERE_MAX_BYTES and MERGE_HERE_COLD_MAX_BYTES runs here and starts no worker in a process with none up; with one up it goes there; the reads are the same', safe(async () => {
  const child = fileURLToPath(new URL('./merge-cold-child.ts', import.meta.url));
  const env = { ...process.env }; delete env.CAIRN_MERGE_WORKERS;
  const p = spawnSync(process.execPath, ['--import', 'tsx', child, path.join(dir, 'cold')], { encoding: 'utf8', env, timeout: 120_000 });
  assert.is(p.status, 0, `child failed: ${p.stderr}`);
  const cold = JSON.parse(p.stdout) as Awaited<ReturnType<typeof mergeColdWork>> & { workerUp: boolean };
  assert.ok(cold.runs >= 2, `several runs to merge (${cold.runs})`);
  assert.ok(cold.runBytes > MERGE_HERE_MAX_BYTES && cold.runBytes < MERGE_HERE_COLD_MAX_BYTES, `the runs' size lies between the bounds (${cold.runBytes})`);
  assert.is(cold.jobs, 0, 'no worker up: the merge ran here');
  assert.is(cold.workerUp, false, 'and started no worker');

  assert.ok(await mergeWorkers()!.ready('merge'), 'the merge lane started');
  const warm = await mergeColdWork(path.join(dir, 'warm'));
  assert.is(warm.runBytes, cold.runBytes, 'the same runs');
  assert.ok(warm.jobs >= 1, `a worker up: the merge went to it (${warm.jobs})`);
  assert.equal(warm.reads, cold.reads, 'the same reads either way');
  assert.ok(warm.reads.every((r) => r !== '-'), 'every value read back');
}));

test.run();
