/**
 * Where a durable small put's CPU goes, thread by thread (a probe, not a suite: no `.bench.ts`).
 * `node --import tsx --import ./bench/lib/compiled.mjs bench/durable-threads.ts [rounds] [puts]
 * [warm]` (defaults 3, 40,000 and 30,000) makes an embedded pool of the io bench's shape (16
 * targets, `durable: true`; `DURABLE=0` for the same without it), puts `warm` 100-byte values of
 * new RP_2G1 objects (32 in flight, as the io bench's durable row), then per round `puts` more, and
 * prints each round's rate, process CPU per put, and every thread's CPU per put (from
 * /proc/self/task, 10 ms ticks: rounds of a few seconds) with its name and its id's offset from the
 * process's: Node's threads are all `node` (the main thread, V8's helpers started with the process,
 * then the libuv pool and worker threads in the order they started), io_uring's workers
 * `iou-wrk-<pid>`, the addon's own threads by their job: `cairn-sync` (journal group syncs),
 * `cairn-hash` (hashed batches), `cairn-rebuild` (rebuild steps). It also prints the round's minor page faults per put.
 *
 * Why: the durable row's gap to lmdb-js is CPU per put spread over several threads
 * (docs/performance.md, "Session 31" and "Session 36"); this shows which, and how a change moves
 * each, without a profiler's own cost.
 */
import { inFlight } from './harness.js';
import { withSmallPool } from './lib/small-pool.js';
import { threadList } from './lib/thread-stats.js';
import { wholeArg } from './lib/args.js';
import { SMALL_DEPTH, SMALL_VALUE_BYTES } from './io.bench.js';

/** Most rounds and puts per round or warm-up the probe takes. */
const MAX_ROUNDS = 100;
const MAX_PUTS = 10_000_000;
/** Threads below this CPU per put are summed as "rest". */
const SHOWN_US_PER_PUT = 0.3;

const rounds = wholeArg(2, 3, 1, MAX_ROUNDS, 'rounds'), puts = wholeArg(3, 40_000, 1, MAX_PUTS, 'puts'), warm = wholeArg(4, 30_000, 0, MAX_PUTS, 'warm');
const durable = process.env.DURABLE !== '0';

await withSmallPool('cairn-durable-threads-', durable, async (cont) => {
  const value = new Uint8Array(SMALL_VALUE_BYTES).fill(0x5a);
  const put = (from: number, count: number) => inFlight(count, SMALL_DEPTH, (j) => cont.kv(`o${from + j}`).put('v', value));
  await put(0, warm);
  console.log(`${durable ? 'durable' : 'not durable'}: ${warm} puts of warm-up, then ${rounds} rounds of ${puts}`);
  for (let r = 0; r < rounds; r++) {
    const before = new Map(threadList(process.pid).map((t) => [t.tid, t.ms]));
    const c0 = process.cpuUsage(), f0 = process.resourceUsage().minorPageFault, t0 = performance.now();
    await put(warm + r * puts, puts);
    const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0), faults = process.resourceUsage().minorPageFault - f0;
    const perPut = (ms: number): number => (ms * 1000) / puts;
    const shown: string[] = [];
    let rest = 0;
    for (const t of threadList(process.pid)) {
      const us = perPut(t.ms - (before.get(t.tid) ?? 0));
      if (t.tid === process.pid) shown.unshift(`main ${us.toFixed(1)}`);
      else if (us >= SHOWN_US_PER_PUT) shown.push(`${t.name}+${t.tid - process.pid} ${us.toFixed(1)}`);
      else rest += us;
    }
    console.log(`round ${r}: ${(puts / s / 1000).toFixed(1)}k puts/s, process CPU ${((c.user + c.system) / puts).toFixed(1)} us/put, ${(faults / puts).toFixed(2)} minor faults/put, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB; threads us/put: ${shown.join(', ')}, rest ${rest.toFixed(1)}`);
  }
});
