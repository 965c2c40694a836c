/**
 * Where a connected pool spends its time (issue 15), outside the suite: `node --import tsx
 * bench/engines-probe.ts [put|get|ior|idle] [n]` starts etcd and 4 `cairn engine` processes (2 targets
 * each, like the `engines` suite), runs new-object 100-byte puts (qd 1 and 16) or 1 MiB EC_2P1G1
 * array writes and reads (qd 8), and prints per phase: rate, median latency, and CPU time per
 * operation of the client and of all engines together (from /proc/<pid>/stat), split into each
 * process's main thread and its other threads (libuv pool, GC helpers, compiler), with context
 * switches and read/write system calls per operation (a wake-up costs tens of microseconds on
 * this VM), and the phase's window on CLOCK_MONOTONIC (the clock of `--cpu-prof` timestamps, so a
 * profile summary can keep the phase's samples only). `QDS=16,64` sets the put phases' depths. With
 * CAIRN_ENGINE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" the engines write CPU profiles on exit;
 * run the probe itself under `node --cpu-prof` for the client's. Not a suite (no `.bench.ts`).
 * `get [n]`: n new-object puts at qd16, then n gets of them at qd1 and at qd16.
 * CAIRN_PROBE_SIGNAL=SIGUSR2: that signal goes to every engine at each phase's start and end (a preload
 * of the engines may start and stop a heap-sampling profile on it).
 * A read phase follows CAIRN_PROBE_READ_WARM untimed reads (default 4,096).
 * `idle [n]`: n empty calls to one engine per phase at qd1, with 0, 1,000 or 300 us of idle time
 * before each: what waking an idle engine costs (a qd1 put's engines idle between its requests).
 */
import { readFileSync } from 'node:fs';
import { Cluster } from './cluster.js';
import { join } from 'node:path';
import { RpcClient, rawReadStats } from '../src/net/rpc.js';
import { batchMethods } from '../src/net/link.js';
import { directMapStats } from '../src/net/direct-read.js';
import { ENGINE_METHODS } from '../src/net/protocol.js';
import { Pool } from '../index.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { threadStats, threadsOf } from './lib/thread-stats.js';
import { Session } from 'node:inspector/promises';
import { writeFileSync, mkdirSync, readdirSync } from 'node:fs';

/** CAIRN_PROBE_PROFILE=DIR: a CPU profile of this process per phase (DIR/<phase>.cpuprofile), the phase only. */
const profileDir = process.env.CAIRN_PROBE_PROFILE;
const inspector = profileDir ? new Session() : undefined;
if (inspector) { inspector.connect(); await inspector.post('Profiler.enable'); mkdirSync(profileDir!, { recursive: true }); }
/** CAIRN_PROBE_READS=K: the read phase reads the written MiBs K times over (a longer phase to profile). */
const readRounds = Number(process.env.CAIRN_PROBE_READS ?? 1);
/** CAIRN_PROBE_READ_WARM=N: reads before a read phase, untimed (default 4,096; 0: none), so that TurboFan compiles the read path before the phase, not inside it (measured: 512 were too few). */
const readWarm = Number(process.env.CAIRN_PROBE_READ_WARM ?? 4096);
/** CAIRN_PROBE_LOCKSTEP=1: each phase runs its operations qd at a time, all started together (the suite's call shape); latencies are per group. */
const lockstep = process.env.CAIRN_PROBE_LOCKSTEP === '1';

/** Calls per method (CAIRN_PROBE_COUNT=1), to see what one operation costs in requests. */
const counts = new Map<string, number>();
if (process.env.CAIRN_PROBE_COUNT) {
  const orig = RpcClient.prototype.call;
  RpcClient.prototype.call = function (this: RpcClient, method, header, payload, o) {
    const items = method === 'engine.batch' ? batchMethods(payload).map((m) => `batch:${m}`) : [method];
    for (const m of items) counts.set(m, (counts.get(m) ?? 0) + 1);
    counts.set('requests', (counts.get('requests') ?? 0) + 1);
    return orig.call(this, method, header, payload, o);
  };
}

/** The put phases' queue depths: `QDS` (comma-separated whole numbers), else 1 and 16. */
function putDepths(): number[] {
  const qds = (process.env.QDS ?? '1,16').split(',').map(Number);
  if (qds.some((q) => !Number.isInteger(q) || q < 1)) throw new Error(`QDS: whole numbers >= 1, comma-separated (got ${process.env.QDS})`);
  return qds;
}

const mode = process.argv[2] ?? 'put';
const n = Number(process.argv[3] ?? (mode === 'put' || mode === 'get' ? 2000 : mode === 'idle' ? 3000 : 128));
/** Gaps before each empty call of the `idle` mode, in microseconds (alternating, so load hits them alike). */
const IDLE_GAPS_US = [0, 1000, 0, 1000, 300];
const MIB = 1 << 20;
/** CPU milliseconds (user + system) process `pid` used so far. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}
/** Minor page faults of process `pid` so far (each costs 7-15 us of CPU on this VM: FACTS.md). */
function minflt(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);
}
/** Read- and write-family system calls of process `pid` so far (/proc/<pid>/io syscr, syscw). */
function syscalls(pid: number): { r: number; w: number } {
  const t = readFileSync(`/proc/${pid}/io`, 'utf8');
  return { r: Number(/^syscr:\s+(\d+)/m.exec(t)?.[1] ?? 0), w: Number(/^syscw:\s+(\d+)/m.exec(t)?.[1] ?? 0) };
}
/** System CPU milliseconds of process `pid` so far. */
function sysMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[12]) * 10;
}

/**
 * CAIRN_PROBE_CHUNK=K: a line per K operations of a phase (rate, CPU per op of the client and of
 * the engines, over those K only), so a long phase shows whether the pool slows down as its
 * tables fill (e.g. `put 480000` at QD=16: about 360k shard writes per engine, past the ~330k at
 * which the epoch tables' eviction cliff of session 20 began).
 */
const chunkOps = Number(process.env.CAIRN_PROBE_CHUNK ?? 0);
function chunkReporter(name: string, pids: readonly number[]): { at(done: number): void } {
  if (!(chunkOps > 0)) return { at: () => undefined };
  let mark = 0, t = performance.now(), c = process.cpuUsage(), e = pids.reduce((a, p) => a + cpuMs(p), 0);
  return {
    at(done: number): void {
      if (done - mark < chunkOps) return;
      const now = performance.now(), c1 = process.cpuUsage(c), e1 = pids.reduce((a, p) => a + cpuMs(p), 0), k = done - mark;
      console.log(`${name}: ops ${mark}-${done}: ${(k / ((now - t) / 1000)).toFixed(0)}/s, cpu per op client ${((c1.user + c1.system) / 1000 / k).toFixed(3)} ms, engines ${((e1 - e) / k).toFixed(3)} ms`);
      mark = done; t = now; c = process.cpuUsage(); e = e1;
    },
  };
}

// CAIRN_PROBE_EMBEDDED=1: the same workload on an embedded pool of the same shape, alone in this process.
const embedded = process.env.CAIRN_PROBE_EMBEDDED === '1';
const cluster = embedded ? undefined : await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: '4096M', warmUp: process.env.CAIRN_ENGINE_WARM_UP !== '0' });
const dir = embedded ? tempDir('cairn-probe-') : undefined;
try {
  const pool = cluster ? await cluster.connect() : await Pool.create(join(dir!, 'pool'), { nodes: 4, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 256 * MIB, dataBytes: 4096 * MIB });
  const cont = await pool.createContainer('probe', { oclass: process.env.CLASS ?? 'EC_2P1G1' });
  await cont.openTargets();
  const value = new Uint8Array(100).fill(7);
  const buf = new Uint8Array(MIB).fill(9);
  // CAIRN_PROBE_REUSE=1: reads go into 8 reused buffers (as the suite's `reused buffers` rows), not a fresh one each.
  const reused = process.env.CAIRN_PROBE_REUSE === '1' ? Array.from({ length: 8 }, () => new Uint8Array(MIB)) : undefined;
  const arr = cont.array('f', { chunkSize: MIB });
  // `idle`: empty calls (`tx.notice`) to engine 0 at qd1, the client blocked for a gap before each
  // (Atomics.wait: no timer), so the engine sleeps that long between calls: what a wake-up from
  // idle costs the engine and the client (a qd1 put's engines sleep about a round trip between requests).
  const idleLocal = cluster?.localPath(0);
  const idleRpc = mode === 'idle' && cluster ? new RpcClient({ address: cluster.engines[0]!.address, secret: cluster.secret, ...(idleLocal ? { localPath: idleLocal } : {}) }) : undefined;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const idlePhase = (gapUs: number) => ({ name: `idle gap ${gapUs}us`, qd: 1, op: () => { if (gapUs > 0) Atomics.wait(sleeper, 0, 0, gapUs / 1000); return idleRpc!.call(ENGINE_METHODS.txNotice, {}); } });
  const phases: Array<{ name: string; qd: number; op: (i: number) => Promise<unknown> }> = mode === 'idle'
    ? IDLE_GAPS_US.map(idlePhase)
    : mode === 'put'
    ? putDepths().map((qd) => ({ name: `put qd${qd}`, qd, op: (i: number) => cont.object(`o${qd}-${i}`).update('d', 'a', value) }))
    : mode === 'get'
    // (`get`: n new-object puts at qd16, then gets of them at qd1 and qd16: requests and CPU per get)
    ? [{ name: 'put qd16', qd: 16, op: (i: number) => cont.object(`g-${i}`).update('d', 'a', value) }, ...[1, 16].map((qd) => ({ name: `get qd${qd}`, qd, op: (i: number) => cont.object(`g-${i % n}`).fetch('d', 'a') }))]
    : [{ name: 'write qd8', qd: 8, op: (i: number) => arr.write(i * MIB, buf) }, { name: 'read qd8', qd: 8, op: (i: number) => arr.read((i % n) * MIB, MIB, reused ? { into: reused[i % 8]! } : {}) }];
  // Warm-up (JIT): CAIRN_PROBE_WARM_MS of puts at qd16 (default 20 puts only).
  const warmEnd = performance.now() + Number(process.env.CAIRN_PROBE_WARM_MS ?? 0);
  let w = 0;
  await Promise.all(Array.from({ length: 16 }, async () => { while (w < 20 || performance.now() < warmEnd) await cont.object(`warm${w++}`).update('d', 'a', value); }));
  const only = process.env.QD ? Number(process.env.QD) : undefined;
  const onlyName = process.env.PHASE;
  /** Store flushes and merges so far, summed over every target (engines: `engine.info`; embedded: the pool's open stores). */
  // Through each engine's Unix socket, as the pool's client: a first TCP connection at a phase's
  // start deoptimised every engine's receive path (onStreamRead, the frame parser: 'wrong map'),
  // which then compiled again inside the measured phase (--trace-opt: ~80 ms of CPU per engine).
  const infoClients = cluster ? cluster.engines.map((e, i) => { const localPath = cluster.localPath(i); return new RpcClient({ address: e!.address, secret: cluster.secret, ...(localPath ? { localPath } : {}) }); }) : [];
  const storeCounters = async (): Promise<{ flushes: number; compactions: number }> => {
    const all: Array<{ flushes: number; compactions: number }> = cluster
      ? (await Promise.all(infoClients.map(async (c) => ((await c.call('engine.info', {})).header.vos as Array<{ flushes: number; compactions: number }>) ?? []))).flat()
      : [...((pool as unknown as { backend: { opened: Map<number, { flushes: number; compactions: number }> } }).backend.opened.values())];
    return all.reduce((a, x) => ({ flushes: a.flushes + x.flushes, compactions: a.compactions + x.compactions }), { flushes: 0, compactions: 0 });
  };
  for (const ph of phases.filter((x) => (only === undefined || x.qd === only) && (onlyName === undefined || x.name.startsWith(onlyName)))) {
    if (ph.name.startsWith('read') && readWarm > 0) {
      // (the read path's code is compiled here, not inside the measured phase: the suite warms its reads too)
      let wi = 0;
      await Promise.all(Array.from({ length: ph.qd }, async () => { while (wi < readWarm) await ph.op(wi++); }));
    }
    const v0 = await storeCounters();
    const pids = cluster ? cluster.engines.map((e) => e!.child.pid!) : [];
    const e0 = pids.map(cpuMs), s0 = pids.map(sysMs), c0 = process.cpuUsage(), f0 = pids.map(minflt), cf0 = minflt(process.pid);
    const r0 = { ...rawReadStats }, m0 = { ...directMapStats };
    const te0 = threadsOf(pids), tc0 = threadStats(process.pid);
    const io0 = [...pids, process.pid].map(syscalls);
    const lat: number[] = [];
    let next = 0;
    const total = ph.name.startsWith('read') ? n * readRounds : n;
    counts.clear(); // (the warm-up's and the previous phase's calls are not this phase's)
    if (inspector) await inspector.post('Profiler.start');
    // CAIRN_PROBE_SIGNAL=SIGUSR2: sent to every engine at the phase's start and end (e.g. a preload
    // that starts and stops a heap-sampling profile on it: the phase's allocations only).
    const signal = process.env.CAIRN_PROBE_SIGNAL as NodeJS.Signals | undefined;
    if (signal) for (const pid of pids) process.kill(pid, signal);
    const mono0 = process.hrtime.bigint() / 1000n;
    const t0 = performance.now();
    const chunks = chunkReporter(ph.name, pids);
    if (lockstep) {
      // CAIRN_PROBE_LOCKSTEP=1: qd operations started together, the next qd once all are done (the suite's calls: `arrayIo`).
      while (next < total) { const a = performance.now(); const k = Math.min(ph.qd, total - next); await Promise.all(Array.from({ length: k }, () => ph.op(next++))); lat.push(performance.now() - a); chunks.at(next); }
    } else {
      await Promise.all(Array.from({ length: ph.qd }, async () => {
        while (next < total) { const i = next++; const a = performance.now(); await ph.op(i); lat.push(performance.now() - a); chunks.at(next); }
      }));
    }
    const s = (performance.now() - t0) / 1000;
    if (signal) for (const pid of pids) process.kill(pid, signal);
    // (the window on CLOCK_MONOTONIC in microseconds, the clock of a --cpu-prof profile's timestamps: a profile summary can keep this phase's samples only)
    console.log(`${ph.name}: monotonic window ${mono0}-${process.hrtime.bigint() / 1000n} us`);
    const te1 = threadsOf(pids), tc1 = threadStats(process.pid);
    const io1 = [...pids, process.pid].map(syscalls);
    const c = process.cpuUsage(c0), e1 = pids.map(cpuMs), s1 = pids.map(sysMs), f1 = pids.map(minflt), cf1 = minflt(process.pid);
    if (inspector) { const { profile } = await inspector.post('Profiler.stop'); writeFileSync(join(profileDir!, `${ph.name.replace(/\s+/g, '-')}.cpuprofile`), JSON.stringify(profile)); }
    const nOps = total;
    const sys = s1.reduce((a, x, i) => a + x - s0[i]!, 0);
    lat.sort((a, b) => a - b);
    if (counts.size) { console.log([...counts].map(([m, k]) => `${m}=${(k / nOps).toFixed(2)}`).join(' ')); counts.clear(); }
    const eng = e1.map((x, i) => x - e0[i]!);
    const v1 = await storeCounters();
    const inPlace = rawReadStats.inPlaceBytes - r0.inPlaceBytes, buffered = rawReadStats.bufferedBytes - r0.bufferedBytes, shared = rawReadStats.sharedBytes - r0.sharedBytes;
    if (inPlace + buffered > 0) console.log(`${ph.name}: client read ${((inPlace + buffered) / MIB).toFixed(1)} MiB, ${(100 * inPlace / (inPlace + buffered)).toFixed(1)}% in place`);
    if (shared > 0) console.log(`${ph.name}: ${(shared / MIB).toFixed(1)} MiB of replies through shared memory`);
    const direct = rawReadStats.directBytes - r0.directBytes, misses = rawReadStats.directMisses - r0.directMisses;
    if (direct > 0 || misses > 0) console.log(`${ph.name}: ${(direct / MIB).toFixed(1)} MiB read by the client from engine data files (located reads; ${misses} did not check out)`);
    const mr = directMapStats.mappedReads - m0.mappedReads;
    if (mr > 0) console.log(`${ph.name}: ${mr} located reads (${((directMapStats.mappedBytes - m0.mappedBytes) / MIB).toFixed(1)} MiB) copied out of a mapping of the data file (thread pool)`);
    const lr = rawReadStats.locateRequests - r0.locateRequests, li = rawReadStats.locateItems - r0.locateItems;
    if (lr > 0) console.log(`${ph.name}: ${lr} engine.locate requests for ${li} reads (${(li / lr).toFixed(2)} per request)`);
    console.log(`${ph.name}: store flushes ${v1.flushes - v0.flushes}, merges ${v1.compactions - v0.compactions} (all targets; since start: ${v1.flushes} flushes)`);
    const per = (x: number) => (x / nOps).toFixed(3);
    console.log(`${ph.name}: threads, ms per op: client main ${per(tc1.main - tc0.main)} other ${per(tc1.rest - tc0.rest)}; engines main ${per(te1.main - te0.main)} other ${per(te1.rest - te0.rest)}; context switches per op (voluntary/involuntary): client ${per(tc1.vcs - tc0.vcs)}/${per(tc1.ics - tc0.ics)}, engines ${per(te1.vcs - te0.vcs)}/${per(te1.ics - te0.ics)}`);
    const ioe = io1.slice(0, -1).reduce((a, x, i) => ({ r: a.r + x.r - io0[i]!.r, w: a.w + x.w - io0[i]!.w }), { r: 0, w: 0 });
    const ioc = { r: io1[io1.length - 1]!.r - io0[io0.length - 1]!.r, w: io1[io1.length - 1]!.w - io0[io0.length - 1]!.w };
    console.log(`${ph.name}: read/write system calls per op: client ${per(ioc.r)}/${per(ioc.w)}, engines ${per(ioe.r)}/${per(ioe.w)}`);
    console.log(`${ph.name}: client RSS ${(process.memoryUsage().rss / MIB).toFixed(0)} MiB`);
    console.log(`${ph.name}: ${(nOps / s).toFixed(0)}/s median ${lat[lat.length >> 1]!.toFixed(2)} ms; cpu per op: client ${((c.user + c.system) / 1000 / nOps).toFixed(3)} ms, engines ${(eng.reduce((a, b) => a + b, 0) / nOps).toFixed(3)} ms (${eng.join('/')} ms total, system ${(sys / nOps).toFixed(3)} ms/op), client system ${(c.system / 1000 / nOps).toFixed(3)} ms/op; minflt per op: client ${((cf1 - cf0) / nOps).toFixed(2)}, engines ${(f1.reduce((a, x, i) => a + x - f0[i]!, 0) / nOps).toFixed(2)}`);
  }
  for (const c of infoClients) await c.close();
  await idleRpc?.close();
  await pool.close();
} finally {
  await cluster?.stop();
  if (dir) removeTempDir(dir);
}
