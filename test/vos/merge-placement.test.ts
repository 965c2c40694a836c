/**
 * Where a merge runs: merges of small runs on the store's thread; while no merge worker is up,
 * merges up to MERGE_HERE_COLD_MAX_BYTES too, without starting one (a worker's start and its first
 * cold merges cost more than such a merge here) until the process has merged
 * MERGE_HERE_COLD_BUDGET_BYTES that way; once one is up, those merges go to it. Reads are
 * the same either way.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MERGE_HERE_COLD_BUDGET_BYTES, MERGE_HERE_COLD_MAX_BYTES, MERGE_HERE_MAX_BYTES } from '../../src/vos/store.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { mergeColdWork } from './merge-cold-work.js';
import { safe } from './safe.js';
import { tmpDir } from './helpers.js';

const test = suite('vos merge placement');
let dir = '';
test.before.each(() => { dir = tmpDir('merge-place'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

type Child = Awaited<ReturnType<typeof mergeColdWork>> & { workerStarted: boolean };
function child(dir: string, ...args: string[]): Child {
  const file = fileURLToPath(new URL('./merge-cold-child.ts', import.meta.url));
  const env = { ...process.env }; delete env.CAIRN_MERGE_WORKERS;
  const p = spawnSync(process.execPath, ['--import', 'tsx', file, dir, ...args], { encoding: 'utf8', env, timeout: 120_000 });
  assert.is(p.status, 0, `child failed: ${p.stderr}`);
  return JSON.parse(p.stdout) as Child;
}

test('a merge between MERGE_HERE_MAX_BYTES and MERGE_HERE_COLD_MAX_BYTES runs here and starts no worker in a process with none up; past the process\'s cold-merge budget it starts one; with one up it goes there; the reads are the same', safe(async () => {
  const cold = child(path.join(dir, 'cold'));
  assert.ok(cold.runs >= 2, `several runs to merge (${cold.runs})`);
  assert.ok(cold.runBytes > MERGE_HERE_MAX_BYTES && cold.runBytes < MERGE_HERE_COLD_MAX_BYTES, `the runs' size lies between the bounds (${cold.runBytes})`);
  assert.ok(cold.runBytes < MERGE_HERE_COLD_BUDGET_BYTES, 'within the budget');
  assert.is(cold.jobs, 0, 'no worker up: the merge ran here');
  assert.is(cold.workerStarted, false, 'and started no worker');

  const spent = child(path.join(dir, 'spent'), 'spent');
  assert.is(spent.jobs, 0, 'budget spent, no worker up yet: this merge still ran here');
  assert.is(spent.workerStarted, true, 'and asked a worker to start');

  assert.ok(await mergeWorkers()!.ready('merge'), 'the merge lane started');
  const warm = await mergeColdWork(path.join(dir, 'warm'));
  assert.is(warm.runBytes, cold.runBytes, 'the same runs');
  assert.ok(warm.jobs >= 1, `a worker up: the merge went to it (${warm.jobs})`);
  for (const r of [spent, warm]) assert.equal(r.reads, cold.reads, 'the same reads every way');
  assert.ok(warm.reads.every((r) => r !== '-'), 'every value read back');
}));

test.run();
