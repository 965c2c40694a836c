/**
 * What a durable small put waits on (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx --import ./bench/lib/compiled.mjs bench/durable-latency.ts [rounds] [puts]
 * [warm]` (defaults 3, 30,000 and 10,000) makes an embedded pool of the io bench's shape (16
 * targets, `durable: true`; `DURABLE=0` for the same without it), puts `warm` 100-byte values of new
 * RP_2G1 objects (32 in flight, as the io bench's durable row), then per round `puts` more, and
 * prints each round's rate, the JavaScript thread's CPU per put (/proc/self/task/<pid>/schedstat,
 * ns), its event loop utilisation, the journal's sync requests (each timed from the request to its
 * answer on this thread: `FileSyncer.sync`), the puts' latency, and the stalls: gaps of over 1 ms
 * with no put completing, and how much of them had a sync in flight; the syncs that took over 1 ms
 * and how many of them overlapped a store sync (`PmemSpace.persistAsync`: a target's pmem file
 * written back); the bytes the device under the pool took per put (machine-wide: a device flush
 * waits for every write before it, so this volume lengthens the journal's syncs). `PMEM_WRITES=1` also times
 * every write into a target's pmem file (`PmemSpace.write`): how many took over 3 us (a trap into
 * the kernel) and their share of the writes' time.
 *
 * Why: durable puts at 32 in flight are bound by latency as much as by CPU, and a rate alone does
 * not say which (docs/performance.md, session 49, where this probe ran as `.scratch/dlat.ts`).
 */
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FileSyncer } from '../src/media/syncer.js';
import { PmemSpace } from '../src/media/pmem-space.js';
import { inFlight } from './harness.js';
import { withSmallPool } from './lib/small-pool.js';
import { BENCH_DIR_ENV } from './lib/cleanup.js';
import { wholeArg } from './lib/args.js';
import { SMALL_DEPTH, SMALL_VALUE_BYTES } from './io.bench.js';

/** Most rounds and puts per round or warm-up the probe takes. */
const MAX_ROUNDS = 100;
const MAX_PUTS = 10_000_000;
/** A gap between put completions longer than this is a stall. */
const STALL_MS = 1;
/** A pmem write longer than this trapped into the kernel (a store takes ~0.1 us). */
const SLOW_WRITE_NS = 3000;

const rounds = wholeArg(2, 3, 1, MAX_ROUNDS, 'rounds'), puts = wholeArg(3, 30_000, 1, MAX_PUTS, 'puts'), warm = wholeArg(4, 10_000, 0, MAX_PUTS, 'warm');
const durable = process.env.DURABLE !== '0';
const timeWrites = process.env.PMEM_WRITES === '1';

let recording = false;
/** Sync requests of this round: [asked at, answered at] (performance.now ms). */
const syncs: Array<[number, number]> = [];
const askSync = FileSyncer.prototype.sync;
FileSyncer.prototype.sync = function (this: FileSyncer): Promise<void> {
  const t = performance.now();
  return askSync.call(this).then(() => { if (recording) syncs.push([t, performance.now()]); });
};
/** Store syncs of this round (`PmemSpace.persistAsync`: a target's pmem file written back): [started, ended] (performance.now ms). */
const storeSyncs: Array<[number, number]> = [];
const persistAsync = PmemSpace.prototype.persistAsync;
PmemSpace.prototype.persistAsync = function (this: PmemSpace): Promise<void> {
  const t = performance.now();
  return persistAsync.call(this).finally(() => { if (recording) storeSyncs.push([t, performance.now()]); });
};
/** Pmem write durations of this round (ns), when timed. */
const writes: number[] = [];
if (timeWrites) {
  const write = PmemSpace.prototype.write;
  PmemSpace.prototype.write = function (this: PmemSpace, off: number, data: Uint8Array): void {
    if (!recording) { write.call(this, off, data); return; }
    const t = process.hrtime.bigint();
    try { write.call(this, off, data); } finally { writes.push(Number(process.hrtime.bigint() - t)); }
  };
}

/**
 * Sectors written so far to the block device holding the bench's temporary directories
 * (/sys/dev/block/<major>:<minor>/stat, machine-wide), in bytes, or NaN. Not /proc/self/io:
 * its `write_bytes` counts a page each time it turns dirty, and a mapped page turns dirty after
 * every write-back (measured here: 22.7 KiB a durable put against 2.6 KiB the device took).
 */
function deviceWrittenBytes(): number {
  try {
    const dev = statSync(process.env[BENCH_DIR_ENV] || tmpdir()).dev;
    const major = Math.floor(dev / 256) & 0xfff, minor = (dev & 0xff) | ((Math.floor(dev / 4096) & 0xfff00));
    return Number(readFileSync(`/sys/dev/block/${major}:${minor}/stat`, 'utf8').trim().split(/\s+/)[6]) * 512;
  } catch { return NaN; }
}
const mainCpuNs = (): number => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
const q = (sorted: readonly number[], f: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * f))] ?? NaN).toFixed(3);

await withSmallPool('cairn-durable-latency-', durable, async (cont) => {
  const value = new Uint8Array(SMALL_VALUE_BYTES).fill(0x5a);
  const latencies: number[] = [], completed: number[] = [];
  const put = (from: number, count: number) => inFlight(count, SMALL_DEPTH, async (j) => {
    const t = performance.now();
    await cont.kv(`o${from + j}`).put('v', value);
    if (recording) { const n = performance.now(); latencies.push(n - t); completed.push(n); }
  });
  await put(0, warm);
  console.log(`${durable ? 'durable' : 'not durable'}: ${warm} puts of warm-up, then ${rounds} rounds of ${puts}`);
  for (let r = 0; r < rounds; r++) {
    syncs.length = 0; storeSyncs.length = 0; writes.length = 0; latencies.length = 0; completed.length = 0;
    const elu0 = performance.eventLoopUtilization(), cpu0 = mainCpuNs(), w0 = deviceWrittenBytes(), t0 = performance.now();
    recording = true;
    await put(warm + r * puts, puts);
    recording = false;
    const s = (performance.now() - t0) / 1000, elu = performance.eventLoopUtilization(elu0).utilization;
    const mainUs = (mainCpuNs() - cpu0) / 1000 / puts;
    // stalls, and the part of them some sync request was waiting through
    let stalls = 0, stallMs = 0, syncedMs = 0;
    const bySync = syncs.slice().sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < completed.length; i++) {
      const a = completed[i - 1]!, b = completed[i]!;
      if (b - a <= STALL_MS) continue;
      stalls++; stallMs += b - a;
      let covered = a;
      for (const [p, e] of bySync) if (p < b && e > covered) { syncedMs += Math.min(b, e) - Math.max(covered, p); covered = Math.min(b, e); if (covered >= b) break; }
    }
    // slow syncs (over STALL_MS), and how many of them overlapped a store sync
    let slowSyncs = 0, slowSyncMs = 0, slowBesideStore = 0;
    for (const [p, e] of syncs) {
      if (e - p <= STALL_MS) continue;
      slowSyncs++; slowSyncMs += e - p;
      if (storeSyncs.some(([a, b]) => a < e && b > p)) slowBesideStore++;
    }
    const writtenPerPut = (deviceWrittenBytes() - w0) / puts;
    const lat = latencies.sort((x, y) => x - y), sl = syncs.map(([a, b]) => b - a).sort((x, y) => x - y);
    let line = `round ${r}: ${(puts / s / 1000).toFixed(1)}k puts/s, JavaScript thread ${mainUs.toFixed(2)} us/put, event loop ${elu.toFixed(2)}; ` +
      `${syncs.length} sync requests (${(puts / Math.max(1, syncs.length)).toFixed(1)} puts each), answered p50 ${q(sl, 0.5)} p90 ${q(sl, 0.9)} ms; ` +
      `put latency p50 ${q(lat, 0.5)} p90 ${q(lat, 0.9)} p99 ${q(lat, 0.99)} ms; ` +
      `stalls over ${STALL_MS} ms: ${stalls}, ${stallMs.toFixed(0)} of ${(s * 1000).toFixed(0)} ms, ${syncedMs.toFixed(0)} ms of it with a sync in flight; ` +
      `syncs over ${STALL_MS} ms: ${slowSyncs} (${slowSyncMs.toFixed(0)} ms), ${slowBesideStore} of them beside a store sync (${storeSyncs.length} store syncs); ` +
      `device writes ${Number.isNaN(writtenPerPut) ? '?' : (writtenPerPut / 1024).toFixed(2)} KiB/put`;
    if (timeWrites && writes.length) {
      const total = writes.reduce((a, x) => a + x, 0), slow = writes.filter((x) => x > SLOW_WRITE_NS);
      line += `; pmem writes ${(writes.length / puts).toFixed(2)}/put, ${(total / 1000 / puts).toFixed(2)} us/put, over ${SLOW_WRITE_NS / 1000} us: ${(slow.length / puts).toFixed(3)}/put holding ${((slow.reduce((a, x) => a + x, 0) / total) * 100).toFixed(0)}% of it`;
    }
    console.log(line);
  }
});
