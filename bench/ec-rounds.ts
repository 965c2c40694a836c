/**
 * Round by round cost of rewriting one EC_4P2G1 array (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx bench/ec-rounds.ts [rounds] [MiB]` (defaults 8 and 256) makes an embedded pool
 * of the io bench's shape (16 targets), then per round aggregates the container, rewrites the
 * array in 1 MiB writes (8 in flight) and reads it back into reused buffers, and prints each
 * round's rate and process CPU per MiB for both (and the JavaScript thread's time on a core and
 * waiting for one, per MiB), with the page cache's size (and its 2 MiB folios)
 * from /proc/meminfo, and each timed phase's CLOCK_MONOTONIC window (`[mono from-to us]`: cut a
 * `perf record -k mono` profile by round, to compare the slow rounds' samples with the fast ones').
 * `EC_ROUNDS_READS=0` leaves the reads out; `EC_ROUNDS_ALLOC=1` adds, after each
 * round, an untimed read of the whole array into a new buffer per read (as the io bench's last row
 * of a round does).
 *
 * Why: the io bench reports the median of three timed rounds after 3 GiB of untimed ones; this
 * shows what comes before (the page cache growing, then the first writes through the data files'
 * mappings: docs/performance.md, "Session 35") and how the data path's switches
 * (`CAIRN_MAPPED_WRITES`, `CAIRN_MAPPED_READS`) change each round.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from '../index.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { inFlight } from './harness.js';
import { wholeArg } from './lib/args.js';
import { IO_POOL_SHAPE, EC_DEPTH } from './io.bench.js';

const MIB = 1 << 20;
/** Largest array the probe rewrites (MiB) and most rounds. */
const MAX_MIB = 4096;
const MAX_ROUNDS = 1000;

const rounds = wholeArg(2, 8, 1, MAX_ROUNDS, 'rounds'), mib = wholeArg(3, 256, 1, MAX_MIB, 'MiB');
const reads = process.env.EC_ROUNDS_READS !== '0';
const allocReads = process.env.EC_ROUNDS_ALLOC === '1';

/** Page cache, its 2 MiB file folios and those mapped as one entry (MiB, from /proc/meminfo). */
function pageCache(): string {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? NaN);
  return `page cache ${(kib('Cached') / 1024).toFixed(0)} MiB (2 MiB folios ${(kib('FileHugePages') / 1024).toFixed(0)}, mapped whole ${(kib('FilePmdMapped') / 1024).toFixed(0)})`;
}

/**
 * Run `work`; its rate (GB/s over `mib` MiB), process CPU per MiB, and its window on CLOCK_MONOTONIC
 * in microseconds (the clock of `perf record -k mono`, so a profile's samples can be cut per round).
 */
async function timed(work: () => Promise<void>): Promise<string> {
  const c0 = process.cpuUsage(), t0 = performance.now(), m0 = process.hrtime.bigint(), j0 = jsThreadNs();
  await work();
  const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0), m1 = process.hrtime.bigint(), j1 = jsThreadNs();
  const js = j0 && j1 ? ` (JS thread ran ${((j1[0] - j0[0]) / 1e3 / mib).toFixed(0)}, waited ${((j1[1] - j0[1]) / 1e3 / mib).toFixed(0)})` : '';
  return `${((mib * MIB) / s / 1e9).toFixed(2)} GB/s ${((c.user + c.system) / mib).toFixed(0)} us CPU/MiB${js} [mono ${m0 / 1000n}-${m1 / 1000n} us]`;
}

/**
 * The JavaScript thread's time on a core and waiting for one (ns, /proc/thread-self/schedstat), or
 * undefined where the kernel has no schedstat: on 2 cores the EC write path's JavaScript thread is
 * running or runnable for its whole round, so its wait is what the pool jobs' copies cost it.
 */
function jsThreadNs(): [number, number] | undefined {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ').map(Number);
    return Number.isFinite(run) && Number.isFinite(wait) ? [run!, wait!] : undefined;
  } catch { return undefined; }
}

const dir = tempDir('cairn-ec-rounds-');
try {
  const pool = await Pool.create(join(dir, 'pool'), { ...IO_POOL_SHAPE, dataBytes: Math.max(256 * MIB, Math.ceil((mib * MIB * 3 * 1.5) / 16) + 64 * MIB) });
  try {
    const ec = await pool.createContainer('ec', { oclass: 'EC_4P2G1' });
    await ec.openTargets();
    const arr = ec.array('rounds', { chunkSize: MIB });
    const value = new Uint8Array(MIB).map((_, i) => (i * 131) & 255);
    const free = Array.from({ length: EC_DEPTH }, () => new Uint8Array(MIB));
    for (let r = 0; r < rounds; r++) {
      if (r > 0) await ec.aggregate();
      const w = await timed(() => inFlight(mib, EC_DEPTH, (i) => arr.write(i * MIB, value)));
      const rd = reads ? await timed(() => inFlight(mib, EC_DEPTH, async (i) => {
        const into = free.pop()!;
        const got = await arr.read(i * MIB, MIB, { into });
        if (got[MIB - 1] !== value[MIB - 1]) throw new Error(`round ${r}: MiB ${i} read back wrong`);
        free.push(into);
      })) : 'skipped';
      console.log(`round ${r}: write ${w} | read ${rd} | ${pageCache()}`);
      if (allocReads) await inFlight(mib, EC_DEPTH, (i) => arr.read(i * MIB, MIB));
    }
    await ec.close();
  } finally {
    await pool.close();
  }
} finally {
  removeTempDir(dir);
}
