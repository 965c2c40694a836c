/**
 * Rebuild throughput: an EC_8P2G1 container on a 32-target pool (4 nodes x 2 ranks x 4 targets)
 * loses one target; the rebuild reconstructs every shard it held onto the other targets. The rate
 * is MB/s of reconstructed data (status.bytes / wall seconds from exclude to waitForRebuild),
 * compared in the same run (its peer row, `ratio=`) with copying the same number of bytes as plain
 * files of the rebuilt shards' size with `fs.promises.copyFile`, 8 at a time, in two rounds that
 * bracket the rebuild (one just before the target fails, one just after the rebuild ends: the
 * peer's rate is both rounds' bytes over both rounds' seconds, so load that changes during the run
 * weighs on both sides; each round's rate is shown; each timed copy and the measured rebuild start
 * from a written-back page cache, `settleWriteback`). Beside it, the
 * fraction of the pool's in-service targets the rebuild read from and wrote to (declustering), and
 * `cpuRate` / `cpuRatio`: bytes per CPU second of the process (every thread) of each, which a
 * loaded shared machine distorts less than wall time (file copies are mostly kernel time);
 * `cpuSeconds` and, on Linux, `mainThreadCpuSeconds` split the rebuild's CPU between the JavaScript
 * thread and the rest (thread-pool reads, writes and hashing; compiler and GC threads);
 * `readPerRebuiltByte` / `writtenPerRebuiltByte` (Linux) are the bytes the rebuild read and wrote
 * per byte rebuilt: an 8+2 rebuild reads k = 8 bytes for each byte it writes, where the copy reads one.
 *
 * Warm-up (both sides, unmeasured): the measured rebuild is the pool's third. Two targets (the
 * fullest each time) fail and are rebuilt before it, so the rebuild's JavaScript has run through
 * every path the measured rebuild takes and V8 has optimised it (a cold first rebuild of this size
 * spent about a quarter of its CPU in V8's optimising compiler, a one-off cost a rebuild of real size
 * does not pay per byte; the second still optimised and deoptimised dozens of functions, --trace-opt,
 * and cost ~1.5x the user CPU per MiB of the third); their figures are shown as `coldMBps` /
 * `coldCpuRate` (the first) and `secondMBps` / `secondCpuRate`. The copies get a small unmeasured
 * round first.
 *
 * Then client I/O under a budgeted rebuild (issue 14: client I/O keeps >= 0.5x its unloaded rate):
 * 1 MiB array reads of the filled objects, 8 in flight, for a fixed window with no rebuild, then a
 * second target fails with `pool.setRebuildBudget({ bytesPerSecond })` set and the same reads run
 * for the same window while the rebuild proceeds (the failed target's shards read degraded meanwhile,
 * as in any rebuild); the budgeted rebuild's own rate over that window is reported beside them. The
 * budget is then lifted so the rebuild ends, and a last window with no rebuild follows: the peer row
 * is the mean of the two windows without a rebuild, which bracket the loaded one (each is shown).
 * `fullGcs` counts V8's full collections in each window: a window that falls into a run of them
 * (docs/performance.md, session 39) measures that, not the read path.
 */
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { gcKind } from './lib/gc-kind.js';
import path from 'node:path';
import { Pool, type RebuildStatus } from '../index.js';
import { Rng } from '../core/rng.js';
import type { BenchContext, BenchRow } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';

const MIB = 1024 * 1024;
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 4 };
const K = 8;
/** Objects written concurrently while filling. */
const FILL_DEPTH = 8;
/** Copies in flight in the baseline: as many objects as the migration moves at once (docs/performance.md). */
const COPY_DEPTH = 8;
/** Client reads in flight while measuring client I/O with and without a rebuild. */
const CLIENT_DEPTH = 8;
/** Rebuild budget of the loaded phase: reads + writes of the rebuild, bytes per second. */
export const BENCH_REBUILD_BUDGET = 96 * MIB;

/**
 * Objects filled (full run; CAIRN_BENCH_REBUILD_OBJECTS overrides it): 2048 x 4 MiB, so one failed
 * target of 32 holds about 380 MiB to rebuild. With 512 (95 MiB rebuilt) the rebuild's fixed costs
 * (the map change and its fsyncs, the listing, the promotion, functions V8 first optimises in the
 * measured rebuild: 1.55 ms CPU per rebuilt MiB at 95 MiB against 0.69 at 360 MiB, perf) weighed
 * 15-40% of its wall time, so the ratio showed them rather than the rate a rebuild of real size runs at.
 */
export const BENCH_REBUILD_OBJECTS = 2048;

export default async function rebuildBench(ctx: BenchContext): Promise<BenchRow[]> {
  const envObjects = Number(process.env.CAIRN_BENCH_REBUILD_OBJECTS);
  const objects = Number.isInteger(envObjects) && envObjects > 0 ? envObjects : ctx.quick ? 128 : BENCH_REBUILD_OBJECTS;
  const objectBytes = (ctx.quick ? 2 : 4) * MIB;
  const root = tempDir('cairn-rebuild-bench-');
  const rows: BenchRow[] = [];
  try {
    const targets = SHAPE.nodes * SHAPE.ranksPerNode * SHAPE.targetsPerRank;
    // Per target: its share of the EC data (10/8 of the user bytes) with room for the rebuild.
    const dataBytes = Math.max(64 * MIB, Math.ceil(((objects * objectBytes * 10) / K / targets) * 2));
    const pool = await Pool.create(path.join(root, 'pool'), { ...SHAPE, scmBytes: 64 * MIB, dataBytes });
    let st: RebuildStatus;
    let seconds: number;
    /** Of `seconds`, the part spent in `pool.exclude()` itself (the map change; the rebuild starts inside it). */
    let excludeSeconds: number;
    let cpuSeconds: number;
    /** Of `cpuSeconds`, the kernel's (system time: the reads' and writes' page-cache copies, syscalls). */
    let systemCpuSeconds: number;
    /** Wall ms from the failure until the objects were listed (the map change, quiesce and listing), and until the last object moved (then: the promotion). */
    let listedAt: number | undefined, movedAt: number | undefined;
    /** Of `cpuSeconds`, the JavaScript thread's (Linux; the rest: thread pool I/O and hashing, compiler and GC threads). */
    let mainCpuSeconds: number | undefined;
    let inService: number;
    /** Bytes the process read and wrote through system calls during the measured rebuild (Linux). */
    let ioBytes: { read: number; written: number } | undefined;
    /** The unmeasured warm-up rebuilds (the pool's first and second): bytes, wall and CPU seconds. */
    let cold: { bytes: number; seconds: number; cpuSeconds: number } | undefined;
    let warm2: { bytes: number; seconds: number; cpuSeconds: number } | undefined;
    let client: { unloaded: number; unloadedRounds: number[]; loaded: number; windowSeconds: number; budgetRebuilt: number; stillRunning: boolean; fullGcs: number[] } | undefined;
    const shardBytes = Math.ceil(objectBytes / K);
    const copies: CopyRound[] = [];
    try {
      const cont = await pool.createContainer('rebuild', { oclass: 'EC_8P2G1', redundancyFactor: 2 });
      ctx.progress(`rebuild: fill ${objects} x ${objectBytes / MIB} MiB EC_8P2G1`);
      const data = new Rng(1).bytes(objectBytes);
      let next = 0;
      await Promise.all(Array.from({ length: FILL_DEPTH }, async () => {
        while (next < objects) {
          const i = next++;
          const own = data.slice();
          own[0] = i & 0xff; // distinct content per object
          await cont.array(`obj-${i}`, { chunkSize: MIB }).write(0, own);
        }
      }));
      // Client reads: 1 MiB array reads of random filled objects, CLIENT_DEPTH in flight, for `window` s.
      const windowSeconds = ctx.quick ? 1 : 3;
      const clientRng = new Rng(7);
      // Full collections during each window (shown: a window's rate with a run of them is another measurement).
      const gcs = majorGcCounter();
      const windowGcs: number[] = [];
      const clientReads = async (): Promise<number> => {
        const gc0 = gcs.count;
        let bytes = 0;
        const end = performance.now() + windowSeconds * 1000;
        const t = performance.now();
        await Promise.all(Array.from({ length: CLIENT_DEPTH }, async () => {
          while (performance.now() < end) {
            const i = clientRng.int(objects);
            const back = await cont.array(`obj-${i}`, { chunkSize: MIB }).read(clientRng.int(objectBytes / MIB) * MIB, MIB);
            if (back.length !== MIB) throw new Error('short client read');
            bytes += MIB;
          }
        }));
        const rate = bytes / ((performance.now() - t) / 1000);
        await new Promise((r) => setImmediate(r)); // (the observer's entries of the window)
        windowGcs.push(gcs.count - gc0);
        return rate;
      };
      ctx.progress('rebuild: client reads, no rebuild');
      await clientReads(); // warm-up
      const unloaded = await clientReads();
      // Warm-up rebuilds (see the module comment): the fullest target fails, twice, unmeasured but shown.
      ctx.progress('rebuild: warm-up rebuilds (two targets, one after the other)');
      cold = await timedRebuild(pool, fullest(pool));
      warm2 = await timedRebuild(pool, fullest(pool));
      await copyRoundsWarm(root, shardBytes);
      // The in-service target holding the most data (public API: pool.query()) fails.
      const victimInfo = fullestInfo(pool);
      const victim = victimInfo.id;
      // Copy round 1, just before the failure: about the bytes the victim holds.
      ctx.progress('rebuild: copyFile baseline (round 1)');
      copies.push(await copyRound(root, 'r1', Math.max(1, Math.round(victimInfo.spaceUsed / shardBytes)), shardBytes));
      ctx.progress('rebuild: exclude one target, rebuild');
      settleWriteback(); // (the fill's and the copy's dirty pages are theirs, not the rebuild's)
      perfControl('enable');
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const m0 = mainThreadCpuSeconds();
      const io0 = processIo();
      // Phases (wall, from t0): the map change, the listing, the last object moved; the rest is the promotion.
      const onStatus = (s: RebuildStatus) => {
        if (s.state !== 'running') return;
        if (listedAt === undefined && s.objectsTotal > 0) listedAt = performance.now() - t0;
        if (s.objectsTotal > 0 && s.objectsDone === s.objectsTotal) movedAt = performance.now() - t0;
      };
      pool.on('rebuild', onStatus);
      await pool.exclude(victim);
      excludeSeconds = (performance.now() - t0) / 1000;
      await pool.waitForRebuild();
      seconds = (performance.now() - t0) / 1000;
      perfControl('disable');
      pool.off('rebuild', onStatus);
      const c = process.cpuUsage(c0);
      cpuSeconds = (c.user + c.system) / 1e6;
      systemCpuSeconds = c.system / 1e6;
      const m1 = mainThreadCpuSeconds();
      const io1 = processIo();
      if (io0 && io1) ioBytes = { read: io1.read - io0.read, written: io1.written - io0.written };
      mainCpuSeconds = m0 !== undefined && m1 !== undefined ? m1 - m0 : undefined;
      st = pool.rebuildStatus();
      // Copy round 2, just after the rebuild: exactly the rebuilt bytes.
      ctx.progress('rebuild: copyFile baseline (round 2)');
      copies.push(await copyRound(root, 'r2', Math.max(1, Math.round(st.bytes / shardBytes)), shardBytes));
      inService = pool.query().targets.filter((x) => x.state === 'UPIN').length;
      if (st.state !== 'idle' || st.lost.length > 0) throw new Error(`rebuild ended ${st.state}, lost ${st.lost.length}`);
      // A second target fails with the rebuild budget set: client reads for the same window meanwhile.
      ctx.progress('rebuild: client reads during a budgeted rebuild');
      const second = fullest(pool);
      pool.setRebuildBudget({ bytesPerSecond: BENCH_REBUILD_BUDGET });
      await pool.exclude(second);
      const loaded = await clientReads();
      const during = pool.rebuildStatus();
      pool.setRebuildBudget({});
      await pool.waitForRebuild();
      ctx.progress('rebuild: client reads, no rebuild (after)');
      const unloadedAfter = await clientReads();
      gcs.stop();
      client = { unloaded: (unloaded + unloadedAfter) / 2, unloadedRounds: [unloaded, unloadedAfter], loaded, windowSeconds, budgetRebuilt: during.bytes, stillRunning: during.state === 'running', fullGcs: windowGcs.slice(1) };
      // Spot check: objects read back after the rebuild (several of them had a shard on the victim).
      for (let i = 0; i < Math.min(objects, 16); i++) {
        const back = await cont.array(`obj-${i}`, { chunkSize: MIB }).read(0, objectBytes);
        if (back[0] !== (i & 0xff) || back[1] !== data[1] || back[objectBytes - 1] !== data[objectBytes - 1]) throw new Error(`object ${i} reads back wrong after the rebuild`);
      }
    } finally {
      await pool.close();
    }
    const rate = st.bytes / seconds;

    // Baseline: the copy rounds (see the module comment), taken together.
    const copyBytes = copies.reduce((n, r) => n + r.bytes, 0);
    const copySeconds = copies.reduce((n, r) => n + r.seconds, 0);
    const copyCpuSeconds = copies.reduce((n, r) => n + r.cpuSeconds, 0);
    const copyRate = copyBytes / copySeconds;
    const files = copies.reduce((n, r) => n + r.files, 0);

    const copyName = `copyFile ${shardBytes / 1024}KiB files ${COPY_DEPTH} in flight (same bytes)`;
    rows.push({
      name: `rebuild EC_8P2G1 ${targets} targets 1 failed`,
      suite: 'rebuild',
      bytesPerSecond: rate,
      opsPerSecond: st.objectsTotal / seconds,
      peer: copyName,
      targetRatio: 0.6,
      extra: {
        sourcesFraction: (st.sources ?? 0) / inService,
        destinationsFraction: (st.destinations ?? 0) / inService,
        sources: st.sources ?? 0,
        destinations: st.destinations ?? 0,
        inService,
        rebuiltMiB: st.bytes / MIB,
        seconds,
        excludeSeconds,
        // where the wall time went: map change + listing, the objects, the promotion (map persisted)
        ...(listedAt !== undefined && movedAt !== undefined ? { listedSeconds: +(listedAt / 1000).toFixed(3), objectsSeconds: +((movedAt - listedAt) / 1000).toFixed(3), promoteSeconds: +(seconds - movedAt / 1000).toFixed(3), objectsMBps: +(st.bytes / ((movedAt - listedAt) / 1000) / 1e6).toFixed(1) } : {}),
        // bytes rebuilt per CPU second of the process (every thread), and that against the copies'
        cpuRate: Math.round(st.bytes / Math.max(1e-6, cpuSeconds)),
        cpuRatio: +((st.bytes / Math.max(1e-6, cpuSeconds)) / (copyBytes / Math.max(1e-6, copyCpuSeconds))).toFixed(3),
        cpuSeconds: +cpuSeconds.toFixed(3),
        ...(mainCpuSeconds !== undefined ? { mainThreadCpuSeconds: +mainCpuSeconds.toFixed(3) } : {}),
        // the same per rebuilt MiB (ms), and the copies' CPU per copied MiB beside them
        cpuMsPerMiB: +((cpuSeconds * 1000) / Math.max(1e-9, st.bytes / MIB)).toFixed(3),
        ...(mainCpuSeconds !== undefined ? { mainThreadCpuMsPerMiB: +((mainCpuSeconds * 1000) / Math.max(1e-9, st.bytes / MIB)).toFixed(3) } : {}),
        // (kernel time: a rebuild writing page-cache pages the guest has not touched lately pays ~2 ms per MiB more there, perf: copy_folio_from_iter_atomic)
        systemCpuMsPerMiB: +((systemCpuSeconds * 1000) / Math.max(1e-9, st.bytes / MIB)).toFixed(3),
        copyCpuMsPerMiB: +((copyCpuSeconds * 1000) / Math.max(1e-9, copyBytes / MIB)).toFixed(3),
        objects: st.objectsTotal,
        objectMiB: objectBytes / MIB,
        // what the rebuild read and wrote per rebuilt byte (Linux): k = 8 reads per rebuilt byte is its floor
        ...(ioBytes ? { readPerRebuiltByte: +(ioBytes.read / Math.max(1, st.bytes)).toFixed(2), writtenPerRebuiltByte: +(ioBytes.written / Math.max(1, st.bytes)).toFixed(2) } : {}),
        // the unmeasured warm-up rebuilds (the pool's first, cold JavaScript, and its second)
        ...(cold ? { coldMBps: +(cold.bytes / cold.seconds / 1e6).toFixed(1), coldCpuRate: Math.round(cold.bytes / Math.max(1e-6, cold.cpuSeconds)) } : {}),
        ...(warm2 ? { secondMBps: +(warm2.bytes / warm2.seconds / 1e6).toFixed(1), secondCpuRate: Math.round(warm2.bytes / Math.max(1e-6, warm2.cpuSeconds)) } : {}),
      },
    });
    rows.push({
      name: copyName,
      suite: 'rebuild',
      bytesPerSecond: copyRate,
      opsPerSecond: files / copySeconds,
      extra: {
        files, copiedMiB: copyBytes / MIB, seconds: copySeconds, cpuRate: Math.round(copyBytes / Math.max(1e-6, copyCpuSeconds)),
        roundMBps: copies.map((r) => +(r.bytes / r.seconds / 1e6).toFixed(1)).join('/'),
      },
    });
    if (client) {
      const unloadedName = `client read 1MiB EC_8P2G1 ${CLIENT_DEPTH} in flight, no rebuild`;
      rows.push({
        name: `client read 1MiB EC_8P2G1 ${CLIENT_DEPTH} in flight during a rebuild budgeted at ${BENCH_REBUILD_BUDGET / MIB} MiB/s`,
        suite: 'rebuild', bytesPerSecond: client.loaded, opsPerSecond: client.loaded / MIB, peer: unloadedName, targetRatio: 0.5,
        extra: { windowSeconds: client.windowSeconds, rebuildStillRunning: client.stillRunning, fullGcs: client.fullGcs[1] },
      });
      rows.push({
        name: unloadedName, suite: 'rebuild', bytesPerSecond: client.unloaded, opsPerSecond: client.unloaded / MIB,
        extra: { windowSeconds: client.windowSeconds, roundMBps: client.unloadedRounds.map((r) => +(r / 1e6).toFixed(1)).join('/'), fullGcs: `${client.fullGcs[0]}/${client.fullGcs[2]}` },
      });
      rows.push({
        name: `rebuild EC_8P2G1 ${targets} targets 1 failed, budget ${BENCH_REBUILD_BUDGET / MIB} MiB/s (reads + writes), client reads running`,
        suite: 'rebuild', bytesPerSecond: client.budgetRebuilt / client.windowSeconds,
        extra: { rebuiltMiB: client.budgetRebuilt / MIB, windowSeconds: client.windowSeconds, budgetMiBps: BENCH_REBUILD_BUDGET / MIB, ioMiBps: (client.budgetRebuilt * (K + 1)) / MIB / client.windowSeconds },
      });
    }
  } finally {
    removeTempDir(root);
  }
  return rows;
}

/** Full (mark-compact) collections of this process since the call, counted until `stop`. */
function majorGcCounter(): { readonly count: number; stop(): void } {
  let count = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (gcKind(e) === perfConstants.NODE_PERFORMANCE_GC_MAJOR) count++;
  });
  obs.observe({ entryTypes: ['gc'] });
  return { get count() { return count; }, stop: () => obs.disconnect() };
}

/**
 * Bytes this process has read and written through system calls (Linux: rchar / wchar of
 * /proc/self/io, page-cache hits included), undefined where that is not readable.
 */
function processIo(): { read: number; written: number } | undefined {
  try {
    const t = fs.readFileSync('/proc/self/io', 'utf8');
    const read = Number(/rchar: (\d+)/.exec(t)?.[1]), written = Number(/wchar: (\d+)/.exec(t)?.[1]);
    return Number.isFinite(read) && Number.isFinite(written) ? { read, written } : undefined;
  } catch {
    return undefined;
  }
}

/** The in-service target holding the most data (public API: `pool.query()`). */
function fullestInfo(pool: Pool): ReturnType<Pool['query']>['targets'][number] {
  return pool.query().targets.filter((x) => x.state === 'UPIN').reduce((a, b) => (b.spaceUsed > a.spaceUsed ? b : a));
}

/** Id of `fullestInfo`. */
function fullest(pool: Pool): number { return fullestInfo(pool).id; }

/**
 * Write back every dirty page of the machine (`sync`) before a measured phase, outside its timing.
 * Why: the fill writes ~10 GiB, so the page cache holds gigabytes of dirty pages when the copy
 * rounds and the rebuild start; whichever of them ran while the kernel flushed them, or hit its
 * dirty limit, paid for the fill's writeback (measured in two runs of this suite: copyFile at
 * 887 and 266 MB/s, `excludeSeconds` 0.37 and 0.08, the map change's fsyncs waiting on the
 * journal). Each measured phase now starts from a written-back page cache
 * (`CAIRN_BENCH_REBUILD_SYNC=0`: not, as before, for an A/B).
 */
function settleWriteback(): void {
  if (process.platform === 'win32' || process.env.CAIRN_BENCH_REBUILD_SYNC === '0') return;
  try { execFileSync('sync', { stdio: 'ignore' }); } catch { /* no sync(1): measured as before */ }
}

/** Exclude `target` and wait for its rebuild: rebuilt bytes, wall and process CPU seconds. */
async function timedRebuild(pool: Pool, target: number): Promise<{ bytes: number; seconds: number; cpuSeconds: number }> {
  const t = performance.now();
  const c = process.cpuUsage();
  await pool.exclude(target);
  await pool.waitForRebuild();
  const cu = process.cpuUsage(c);
  const st = pool.rebuildStatus();
  if (st.state !== 'idle' || st.lost.length > 0) throw new Error(`warm-up rebuild ended ${st.state}, lost ${st.lost.length}`);
  return { bytes: st.bytes, seconds: (performance.now() - t) / 1000, cpuSeconds: (cu.user + cu.system) / 1e6 };
}

/**
 * Profiling aid: with CAIRN_BENCH_PERF_CTL naming the control FIFO of a `perf record -D -1
 * --control=fifo:<path>` around the bench, the measured rebuild alone is sampled ('enable' before
 * the exclusion, 'disable' once the rebuild has ended). Nothing happens without it.
 */
function perfControl(cmd: 'enable' | 'disable'): void {
  const ctl = process.env.CAIRN_BENCH_PERF_CTL;
  if (ctl) fs.writeFileSync(ctl, `${cmd}\n`);
}

/** Unmeasured warm-up of the copy baseline: a few files written and copied the same way. */
function copyRoundsWarm(root: string, fileBytes: number): Promise<CopyRound> {
  return copyRound(root, 'warm', COPY_DEPTH * 2, fileBytes);
}

/**
 * CPU seconds of the JavaScript thread so far (Linux: /proc/self/task/<pid>/stat, in clock ticks of
 * 10 ms), undefined where that is not readable. `process.cpuUsage` counts every thread.
 */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    return Number.isFinite(ticks) ? ticks / 100 : undefined;
  } catch {
    return undefined;
  }
}

/** One timed round of the copyFile baseline. */
interface CopyRound { files: number; bytes: number; seconds: number; cpuSeconds: number }

/**
 * Write `files` files of `fileBytes` under `root/<tag>` (untimed), then copy them with
 * `fs.promises.copyFile`, COPY_DEPTH at a time (timed: wall and process CPU).
 */
async function copyRound(root: string, tag: string, files: number, fileBytes: number): Promise<CopyRound> {
  const src = path.join(root, `${tag}-src`), dst = path.join(root, `${tag}-dst`);
  fs.mkdirSync(src); fs.mkdirSync(dst);
  const buf = new Rng(2).bytes(fileBytes);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(src, `f${i}`), buf);
  settleWriteback();
  let n = 0;
  const t = performance.now();
  const c = process.cpuUsage();
  await Promise.all(Array.from({ length: COPY_DEPTH }, async () => {
    while (n < files) { const i = n++; await fs.promises.copyFile(path.join(src, `f${i}`), path.join(dst, `f${i}`)); }
  }));
  const seconds = (performance.now() - t) / 1000;
  const cu = process.cpuUsage(c);
  fs.rmSync(src, { recursive: true, force: true });
  fs.rmSync(dst, { recursive: true, force: true });
  return { files, bytes: files * fileBytes, seconds, cpuSeconds: (cu.user + cu.system) / 1e6 };
}
