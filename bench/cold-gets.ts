/**
 * What random gets cost while a store's blocks are not cached yet (a probe, not a suite: no
 * `.bench.ts`). `node --import tsx --import ./bench/lib/compiled.mjs bench/cold-gets.ts [puts]
 * [gets] [rounds] [waitMs]` (defaults 180,000, 50,000, 4 and 0) makes an embedded pool of the io
 * bench's shape (16 targets), puts `puts` 100-byte values of new RP_2G1 objects (32 in flight, as
 * the io bench), waits `waitMs` (merges still running, or not), then runs rounds of `gets` random
 * gets of them (32 in flight) and prints each round's rate with the store reads behind it: the pmem
 * file's block reads a get (`pread`: one block into a buffer of its own; `preadInto`: several
 * blocks into a reused one, what a run's point list reads) with their mean time, and the block
 * arena's fills a get with theirs. `CAIRN_COLD_GETS_STACKS=1` also prints where the `pread`s came
 * from (the callers' frames, most frequent first).
 *
 * Why: the io bench's first get round ran at half the rate of its third, and a block read or fill
 * into fresh memory costs a page fault a page on this VM (docs/performance.md, "Session 55").
 */
import path from 'node:path';
import { Pool } from '../index.js';
import { Rng } from '../core/rng.js';
import { inFlight } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { wholeArg } from './lib/args.js';
import { IO_POOL_SHAPE, SMALL_DEPTH, SMALL_VALUE_BYTES } from './io.bench.js';
import { PmemSpace } from '../src/media/pmem-space.js';
import { BlockArena } from '../src/vos/run.js';

const MAX_OPS = 10_000_000;
const puts = wholeArg(2, 180_000, 1, MAX_OPS, 'puts'), gets = wholeArg(3, 50_000, 1, MAX_OPS, 'gets');
const rounds = wholeArg(4, 4, 1, 100, 'rounds'), waitMs = wholeArg(5, 0, 0, 3_600_000, 'waitMs');
const stacksOn = process.env.CAIRN_COLD_GETS_STACKS === '1';

/** Calls and milliseconds of the counted store reads and fills so far. */
const c = { pread: 0, preadMs: 0, preadInto: 0, preadIntoMs: 0, fill: 0, fillMs: 0 };
const stacks = new Map<string, number>();
const pread = PmemSpace.prototype.pread, preadInto = PmemSpace.prototype.preadInto, fill = BlockArena.prototype.fill;
PmemSpace.prototype.pread = function (this: PmemSpace, off: number, len: number): Uint8Array {
  c.pread++;
  if (stacksOn) { const at = (new Error().stack ?? '').split('\n').slice(2, 9).map((l) => l.trim().split(' ')[1]).join(' < '); stacks.set(at, (stacks.get(at) ?? 0) + 1); }
  const t = performance.now();
  try { return pread.call(this, off, len); } finally { c.preadMs += performance.now() - t; }
};
// (absent from builds before session 55: nothing to count there)
if (typeof preadInto === 'function') PmemSpace.prototype.preadInto = function (this: PmemSpace, off: number, out: Uint8Array): void {
  c.preadInto++;
  const t = performance.now();
  try { preadInto.call(this, off, out); } finally { c.preadIntoMs += performance.now() - t; }
};
BlockArena.prototype.fill = function (this: BlockArena, off: number, bytes: Uint8Array): number {
  c.fill++;
  const t = performance.now();
  try { return fill.call(this, off, bytes); } finally { c.fillMs += performance.now() - t; }
};

const root = tempDir('cairn-cold-gets-');
const pool = await Pool.create(path.join(root, 'pool'), { ...IO_POOL_SHAPE });
try {
  const cont = await pool.createContainer('small', { oclass: 'RP_2G1' });
  await cont.openTargets();
  const value = new Uint8Array(SMALL_VALUE_BYTES).fill(0x5a);
  await inFlight(puts, SMALL_DEPTH, (j) => cont.kv(`o${j}`).put('v', value));
  if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
  console.log(`${puts} puts, then ${rounds} rounds of ${gets} random gets`);
  const rng = new Rng(7);
  const each = (n: number, ms: number) => (n === 0 ? '-' : `${((1000 * ms) / n).toFixed(1)} us`);
  for (let r = 0; r < rounds; r++) {
    const keys = Array.from({ length: gets }, () => rng.int(puts));
    const c0 = { ...c };
    const t0 = performance.now();
    let absent = 0;
    await inFlight(gets, SMALL_DEPTH, async (j) => { if ((await cont.kv(`o${keys[j]}`).get('v')) === undefined) absent++; });
    const s = (performance.now() - t0) / 1000;
    if (absent > 0) throw new Error(`cold-gets: ${absent} gets of written objects found nothing`);
    const d = (k: keyof typeof c) => c[k] - c0[k];
    console.log(`round ${r}: ${(gets / s / 1000).toFixed(1)}k gets/s; a get: pread ${(d('pread') / gets).toFixed(3)} (${each(d('pread'), d('preadMs'))} each), preadInto ${(d('preadInto') / gets).toFixed(3)} (${each(d('preadInto'), d('preadIntoMs'))}), arena fills ${(d('fill') / gets).toFixed(3)} (${each(d('fill'), d('fillMs'))}); reads and fills ${(d('preadMs') + d('preadIntoMs') + d('fillMs')).toFixed(0)} of ${(s * 1000).toFixed(0)} ms`);
  }
  if (stacksOn) for (const [at, n] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`${n} pread from ${at}`);
} finally {
  await pool.close();
  removeTempDir(root);
}
