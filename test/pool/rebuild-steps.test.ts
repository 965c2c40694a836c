/**
 * The fused-step queue's number arrays (src/pool/rebuild-steps.ts `stepNums`, `stepSeeds`,
 * `FusedQueue`): once the queue has sent a step to the addon, its nums and seeds are handed to the
 * next step that asks for arrays of their length, and the sent step still reads and writes what they
 * said when it was sent (the addon copies a step's numbers when it queues the job). Real files and
 * the real addon: the step is overwritten with a descriptor nothing has open and zero seeds in the
 * same turn it was sent, before its pool job can have run; its answers and the file must still be
 * the sources' hashes, the decoded bytes and their hash. And the addon's own threads
 * (`ownThreads`) answer and write what the libuv pool does for the same batches, two in flight (the
 * file ends: a thread or a function left holding the event loop would keep it from exiting). Skipped
 * where the addon is not built. And how many pool jobs the queue keeps in flight (a stand-in addon
 * that holds each job until released): two per core with no rebuild budget, one per core while a
 * budget paces the migration, asked again at every send.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.js';
import { xxh64, initXxhash } from '../../core/xxhash.js';
import { availableParallelism } from 'node:os';
import { FUSED_JOBS_MAX, FusedQueue, fusedAddon, fusedJobs, pacedFusedJobs, stepNums, stepSeeds, type FlatStep, type RebuildAddon, type StagedStep } from '../../src/pool/rebuild-steps.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('rebuild steps: number arrays, own threads');
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

t('on the addon\'s own threads (ownThreads) a batch answers and writes what it does on the libuv pool', async () => {
  const addon = fusedAddon();
  if (addon?.rebuildStepsStaged === undefined || addon.ownThreads === undefined) return;
  const k = 3, cell = 4096, len = 3 * cell;
  mkdirSync(root, { recursive: true });
  const rng = new Rng(2929);
  const srcs = [rng.bytes(len), rng.bytes(len), rng.bytes(len)];
  const fds = srcs.map((b, j) => { writeFileSync(join(root, `o${j}`), b); return openSync(join(root, `o${j}`), 'r'); });
  const outs = [0, 1].map((x) => { const p = join(root, `oo${x}`); writeFileSync(p, new Uint8Array(2 * len)); return { p, fd: openSync(p, 'r+') }; });
  /** A batch of 4 steps: step s writes output file s % 2 at (s >> 1) * len, rows s + 1, 2, 3 (GF(2^8)). */
  const batch = (): unknown[] => {
    const args: unknown[] = [];
    for (let st = 0; st < 4; st++) {
      const nums = new Float64Array(3 * k + 4);
      for (let j = 0; j < k; j++) nums.set([fds[j]!, 0, len], 3 * j);
      nums.set([outs[st % 2]!.fd, (st >> 1) * len, len, len], 3 * k);
      args.push(k, cell, len, new Uint8Array([st + 1, 2, 3]), nums, new BigUint64Array(k + 1).fill(SEED));
    }
    return args;
  };
  const was = addon.ownThreads();
  try {
    assert.is(was, false, 'off by default');
    const pooled = await addon.rebuildStepsStaged(batch());
    const pooledBytes = outs.map((o) => readFileSync(o.p));
    for (const o of outs) writeFileSync(o.p, new Uint8Array(2 * len));
    assert.is(addon.ownThreads(true), true);
    const [own, own2] = await Promise.all([addon.rebuildStepsStaged(batch()), addon.rebuildStepsStaged(batch())]);
    assert.equal(own, pooled, 'the same answers (source and output hashes) as on the pool');
    assert.equal(own2, pooled, 'and a second batch in flight beside it');
    for (let x = 0; x < 2; x++) assert.ok(Buffer.compare(readFileSync(outs[x]!.p), pooledBytes[x]!) === 0, `output file ${x} holds the same bytes`);
    assert.is(typeof pooled[0]![0], 'bigint', 'the steps ran (hashes, not errnos)');
  } finally {
    addon.ownThreads(was);
    for (const fd of fds) closeSync(fd);
    for (const o of outs) closeSync(o.fd);
  }
});

/** A stand-in addon whose flat-step jobs wait until `release` settles them (each step answered with its own cell). */
function heldAddon() {
  const jobs: Array<{ steps: number; release: () => void }> = [];
  let inFlight = 0, most = 0;
  const addon = {
    rebuildStep: () => Promise.reject(new Error('unused')),
    rebuildStepFlat: () => Promise.reject(new Error('unused')),
    rebuildStepsFlat(args: unknown[]): Promise<Array<Array<bigint | number>>> {
      const cells: number[] = [];
      for (let i = 0; i < args.length; i += 7) cells.push(args[i + 1] as number);
      inFlight++;
      most = Math.max(most, inFlight);
      return new Promise((resolve) => {
        jobs.push({ steps: cells.length, release: () => { inFlight--; resolve(cells.map((c) => [BigInt(c)])); } });
      });
    },
  } as unknown as RebuildAddon;
  return { addon, jobs, inFlight: () => inFlight, most: () => most };
}

const flatStep = (cell: number): FlatStep => [2, cell, new Uint8Array(2), new Uint8Array(2), [], new Float64Array(1), new BigUint64Array(1)];
const turn = () => new Promise<void>((r) => setImmediate(r));

t('with no budget, two pool jobs per core are in flight; while a budget paces the migration, one per core', async () => {
  const cores = Math.max(1, availableParallelism());
  const env = process.env.CAIRN_REBUILD_FUSED_JOBS;
  assert.is(fusedJobs(undefined), Math.min(FUSED_JOBS_MAX, 2 * cores), 'the default: two per core');
  assert.is(pacedFusedJobs(), Math.min(FUSED_JOBS_MAX, cores), 'paced: one per core');
  for (const paced of [false, true]) {
    const h = heldAddon();
    const q = new FusedQueue(h.addon, false, () => paced);
    const answers = Array.from({ length: 64 }, (_, i) => q.add(flatStep(4096 + i)));
    await turn();
    const want = paced ? Math.min(fusedJobs(env), pacedFusedJobs()) : fusedJobs(env);
    assert.is(h.inFlight(), want, `${paced ? 'paced' : 'unpaced'}: jobs in flight`);
    while (h.jobs.length > 0) { h.jobs.shift()!.release(); await turn(); }
    const got = await Promise.all(answers);
    got.forEach((a, i) => assert.equal(a, [BigInt(4096 + i)], `step ${i} gets its own answer`));
    assert.is(h.most(), want, 'never more in flight');
  }
});

t('a budget set or lifted while steps run changes the jobs in flight at the next send', async () => {
  const all = fusedJobs(process.env.CAIRN_REBUILD_FUSED_JOBS), few = Math.min(all, pacedFusedJobs());
  const h = heldAddon();
  let paced = true;
  const q = new FusedQueue(h.addon, false, () => paced);
  const answers = Array.from({ length: 64 }, (_, i) => q.add(flatStep(i)));
  await turn();
  assert.is(h.inFlight(), few, 'paced at first');
  paced = false; // (the budget lifted)
  h.jobs.shift()!.release();
  await turn();
  assert.is(h.inFlight(), all, 'the completion sends up to the unpaced cap');
  paced = true; // (set again: jobs in flight drain down to the paced cap)
  while (h.inFlight() > few) { h.jobs.shift()!.release(); await turn(); }
  h.jobs.shift()!.release();
  await turn();
  assert.ok(h.inFlight() <= few, `paced again: ${h.inFlight()} in flight`);
  while (h.jobs.length > 0) { h.jobs.shift()!.release(); await turn(); }
  assert.is((await Promise.all(answers)).length, 64);
});

t.run();
