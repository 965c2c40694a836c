/**
 * The fused-step queue's number arrays (src/pool/rebuild-steps.ts `stepNums`, `stepSeeds`,
 * `FusedQueue`): once the queue has sent a step to the addon, its nums and seeds are handed to the
 * next step that asks for arrays of their length, and the sent step still reads and writes what they
 * said when it was sent (the addon copies a step's numbers when it queues the job). Real files and
 * the real addon: the step is overwritten with a descriptor nothing has open and zero seeds in the
 * same turn it was sent, before its pool job can have run; its answers and the file must still be
 * the sources' hashes, the decoded bytes and their hash. Skipped where the addon is not built.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { xxh64, initXxhash } from '../../core/xxhash.js';
import { FusedQueue, fusedAddon, stepNums, stepSeeds, type StagedStep } from '../../src/pool/rebuild-steps.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('rebuild steps: number arrays');
const root = tmpDir('cairn-rebuild-steps-');
const SEED = 0x0bad_cafe_1234_5678n;

t.before(async () => { await initXxhash(); });

t('a sent step\'s arrays are reused by the next step, and the sent step reads and writes what they said when sent', async () => {
  const addon = fusedAddon();
  if (addon?.rebuildStepsStaged === undefined) return;
  const k = 2, m = 1, cell = 4096, len = 2 * cell;
  mkdirSync(root, { recursive: true });
  const rng = new Rng(29);
  const srcs = [rng.bytes(len), rng.bytes(len)];
  const fds = srcs.map((b, j) => { writeFileSync(join(root, `s${j}`), b); return openSync(join(root, `s${j}`), 'r'); });
  const outPath = join(root, 'out');
  writeFileSync(outPath, new Uint8Array(len).fill(0xee));
  const out = openSync(outPath, 'r+');
  try {
    const nums = stepNums(3 * k + 4 * m), seeds = stepSeeds(k + m);
    nums.set([fds[0]!, 0, len, fds[1]!, 0, len, out, 0, len, len]);
    seeds.fill(SEED);
    const q = new FusedQueue<StagedStep>(addon, true);
    const answered = q.add([k, cell, len, new Uint8Array([1, 1]), nums, seeds]);
    // (the queue sends in a microtask queued by `add`; this one runs right after it, before the pool job can)
    await Promise.resolve();
    const again = stepNums(3 * k + 4 * m), seedsAgain = stepSeeds(k + m);
    assert.ok(again === nums, 'the sent step\'s nums are handed to the next step');
    assert.ok(seedsAgain === seeds, 'and its seeds');
    again.fill(-1);
    seedsAgain.fill(0n);
    const got = await answered;
    assert.is(got[0], xxh64(srcs[0]!, SEED), 'source 0 read and hashed as sent');
    assert.is(got[1], xxh64(srcs[1]!, SEED), 'source 1 read and hashed as sent');
    const want = srcs[0]!.map((x, i) => x ^ srcs[1]![i]!);
    assert.is(got[2], xxh64(want, SEED), 'the output hashed with the seed it was sent with');
    assert.ok(Buffer.compare(readFileSync(outPath), Buffer.from(want)) === 0, 'the output written where it was sent');
    assert.ok(stepNums(3 * k + 4 * m) !== nums, 'an array is handed out once');
  } finally {
    for (const fd of fds) closeSync(fd);
    closeSync(out);
  }
});

t.run();
