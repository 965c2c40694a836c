/**
 * Same-process A/B on a connected pool (issue 15), for a machine too busy for wall-clock pairs:
 * one process starts etcd and 4 `cairn engine` processes (2 targets each, as the `engines` suite)
 * and measures two variants against them in alternating rounds, reporting per round and as
 * medians the rate, the client's CPU per operation (process.cpuUsage) and the engines' (/proc).
 *
 * - `put [qd] [n] [rounds]`: new-object 100-byte EC_2P1G1 puts, `qd` started together and awaited
 *   together (the suite's call shape), through two builds of the library loaded side by side:
 *   `CAIRN_AB_BASE` and `CAIRN_AB_NEW` name their compiled entry points (e.g.
 *   /tmp/wt-base/dist/index.js and /tmp/wt-new/dist/index.js), each connected as a client of its own.
 * - `read [class] [MiB] [rounds]`: 1 MiB array reads into 8 reused buffers (qd8) of `MiB` written
 *   MiB, by this build, rounds alternating located reads through the thread pool's preadv
 *   (CAIRN_MAPPED_READS=0) and the default (a range read before copied out of a mapping of the
 *   data file), with the client's main-thread and other-thread CPU per MiB and its RSS.
 *
 * - `guess [class] [MiB] [rounds]`: as `read`, rounds alternating located reads started after their
 *   engine's answer (`readGuesses.on` false) and started on a guess, from where the engine located
 *   the range before (the default: link.ts `readGuesses`), both through the mapping.
 *
 * - `read-builds [MiB] [rounds]`: 1 MiB EC_2P1G1 reads into 8 reused buffers (qd8) through the two
 *   builds `CAIRN_AB_BASE` and `CAIRN_AB_NEW` (as `put`), each reading the `MiB` it wrote: promises
 *   per MiB (async_hooks, exact), then alternating rounds of the client's CPU per MiB.
 *
 * - `get [qd] [n] [rounds]`: gets of existing 100-byte EC_2P1G1 values (4,096 objects, read in a
 *   scattered order), `qd` started together, rounds alternating single-value reads of one turn
 *   sent to each engine as one batch (link.ts `getBatching`, the default) and each on its own,
 *   with requests per get.
 *
 * `CAIRN_AB_PROFILE=<file>` (read and guess modes): a CPU profile of the client's main thread over the
 * measured rounds only (inspector, 200 us sampling), without start-up and the writes.
 *
 * Not a suite (no `.bench.ts`): `node --import tsx --import ./bench/lib/compiled.mjs bench/engines-ab.ts put 16 3000 8`.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createHook } from 'node:async_hooks';
import { Cluster } from './cluster.js';
import { alternateRounds, median as med, processCpuMs as cpuMs } from './lib/ab-rounds.js';
import { Pool } from '../index.js';
import { batchMethods, getBatching, readGuesses } from '../src/net/link.js';
import { RpcClient } from '../src/net/rpc.js';

const MIB = 1 << 20;
const mode = process.argv[2] ?? 'put';
/** CPU milliseconds of this process's main thread and of its other threads so far. */
function threads(): { main: number; rest: number } {
  const out = { main: 0, rest: 0 };
  for (const t of readdirSync('/proc/self/task')) {
    try { const f = readFileSync(`/proc/self/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' '); const ms = (Number(f[11]) + Number(f[12])) * 10; if (Number(t) === process.pid) out.main += ms; else out.rest += ms; } catch { /* a thread that ended */ }
  }
  return out;
}

type Cont = Awaited<ReturnType<Pool['createContainer']>>;
const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: '4096M', warmUp: true });
const pids = cluster.engines.map((e) => e!.child.pid!);
const pools: Array<{ close(): Promise<void> }> = [];
/**
 * One EC_2P1G1 container per client build (`CAIRN_AB_BASE`, `CAIRN_AB_NEW`: compiled entry points),
 * each through a pool connected by that build (the put and read-builds modes).
 */
async function buildContainers(what: string): Promise<Record<'base' | 'new', Cont>> {
  const builds = { base: process.env.CAIRN_AB_BASE ?? '', new: process.env.CAIRN_AB_NEW ?? '' };
  if (!builds.base || !builds.new) throw new Error(`${what}: set CAIRN_AB_BASE and CAIRN_AB_NEW to the two builds' dist/index.js`);
  const conts: Partial<Record<'base' | 'new', Cont>> = {};
  for (const k of ['base', 'new'] as const) {
    const P = (await import(builds[k]) as { Pool: typeof Pool }).Pool;
    const pool = await P.connect({ etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret });
    pools.push(pool);
    const cont = await pool.createContainer(`ab-${k}`, { oclass: 'EC_2P1G1' });
    await cont.openTargets();
    conts[k] = cont;
  }
  return conts as Record<'base' | 'new', Cont>;
}
try {
  if (mode === 'put') {
    const [qd, n, rounds] = [Number(process.argv[3] ?? 16), Number(process.argv[4] ?? 3000), Number(process.argv[5] ?? 8)];
    const conts = await buildContainers('put');
    const value = new Uint8Array(100).fill(7);
    let seq = 0;
    const run = async (k: 'base' | 'new', count: number) => {
      for (let next = 0; next < count;) { const m = Math.min(qd, count - next); next += m; await Promise.all(Array.from({ length: m }, () => conts[k]!.object(`${k}-${seq++}`).update('d', 'a', value))); }
    };
    for (const k of ['base', 'new'] as const) { const end = performance.now() + 3000; while (performance.now() < end) await run(k, 10 * qd); }
    const res = await alternateRounds(rounds, n, run, () => pids, 'put');
    const ratio = res.new.map((x, i) => x[1] / res.base[i]![1]);
    console.log(`client CPU per put new/base per round: ${ratio.map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio).toFixed(3)})`);
  } else if (mode === 'read' || mode === 'guess') {
    const [oclass, mib, rounds] = [process.argv[3] ?? 'EC_2P1G1', Number(process.argv[4] ?? 128), Number(process.argv[5] ?? 8)];
    const QD = 8;
    const pool = await cluster.connect();
    pools.push(pool);
    const cont = await pool.createContainer('ab', { oclass });
    await cont.openTargets();
    const arr = cont.array('f', { chunkSize: MIB });
    const buf = new Uint8Array(MIB).fill(9);
    for (let i = 0; i < mib; i += QD) await Promise.all(Array.from({ length: QD }, (_, k) => arr.write((i + k) * MIB, buf)));
    const reused = Array.from({ length: QD }, () => new Uint8Array(MIB));
    const readAll = async () => { for (let i = 0; i < mib; i += QD) await Promise.all(Array.from({ length: QD }, (_, k) => arr.read((i + k) * MIB, MIB, { into: reused[k]! }))); };
    await readAll(); await readAll();
    if (mode === 'guess' && process.env.CAIRN_AB_PER_BATCH === '1') {
      // Batches alternating (a load swing hits both alike): the time of each qd8 batch, per mode.
      const times: Record<string, number[]> = { after: [], guess: [] }, cpu: Record<string, number[]> = { after: [], guess: [] };
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < mib; i += QD) {
          const k = ((i / QD) + round) % 2 ? 'guess' : 'after';
          readGuesses.on = k === 'guess';
          const t0 = performance.now(), c0 = process.cpuUsage();
          await Promise.all(Array.from({ length: QD }, (_, j) => arr.read((i + j) * MIB, MIB, { into: reused[j]! })));
          times[k]!.push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu[k]!.push((c.user + c.system) / 1000 / QD);
        }
      }
      const q = (a: number[], f: number) => [...a].sort((x, y) => x - y)[Math.floor(a.length * f)]!;
      for (const k of ['after', 'guess']) console.log(`${k}: batches ${times[k]!.length} ms per qd${QD} batch p25 ${q(times[k]!, 0.25).toFixed(3)} median ${q(times[k]!, 0.5).toFixed(3)} p75 ${q(times[k]!, 0.75).toFixed(3)}; client CPU ms/MiB median ${q(cpu[k]!, 0.5).toFixed(3)} mean ${(cpu[k]!.reduce((a, b) => a + b, 0) / cpu[k]!.length).toFixed(3)}`);
      console.log(`median batch time guess/after: ${(q(times.guess!, 0.5) / q(times.after!, 0.5)).toFixed(3)}`);
    } else {
    const prof = process.env.CAIRN_AB_PROFILE ? new (await import('node:inspector')).Session() : undefined;
    if (prof) { prof.connect(); await new Promise((r) => prof.post('Profiler.enable', () => prof.post('Profiler.setSamplingInterval', { interval: 200 }, () => prof.post('Profiler.start', r)))); }
    const [A, B] = mode === 'read' ? ['preadv', 'mapped'] : ['after', 'guess'];
    const res: Record<string, number[][]> = { [A]: [], [B]: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of (r % 2 ? [B, A] : [A, B])) {
        if (k === 'preadv') process.env.CAIRN_MAPPED_READS = '0'; else delete process.env.CAIRN_MAPPED_READS;
        readGuesses.on = k !== 'after';
        const g0 = { ...readGuesses };
        const t0 = threads(), c0 = process.cpuUsage(), e0 = pids.reduce((a, p) => a + cpuMs(p), 0), w0 = performance.now();
        await readAll();
        const s = (performance.now() - w0) / 1000, c = process.cpuUsage(c0), t1 = threads(), e = pids.reduce((a, p) => a + cpuMs(p), 0) - e0;
        const row = [mib / s, (c.user + c.system) / 1000 / mib, (t1.main - t0.main) / mib, (t1.rest - t0.rest) / mib, c.system / 1000 / mib, e / mib];
        res[k]!.push(row);
        console.log(`round ${r} ${k}: ${row[0]!.toFixed(0)} MiB/s client ${row[1]!.toFixed(3)} ms/MiB (main ${row[2]!.toFixed(3)} other ${row[3]!.toFixed(3)} system ${row[4]!.toFixed(3)}) engines ${row[5]!.toFixed(3)} ms/MiB, RSS ${(process.memoryUsage().rss / MIB).toFixed(0)} MiB, guesses kept ${readGuesses.kept - g0.kept} missed ${readGuesses.missed - g0.missed}`);
      }
    }
    for (const k of Object.keys(res)) console.log(`median ${k}: ${med(res[k]!.map((x) => x[0]!)).toFixed(0)} MiB/s client ${med(res[k]!.map((x) => x[1]!)).toFixed(3)} ms/MiB (main ${med(res[k]!.map((x) => x[2]!)).toFixed(3)} other ${med(res[k]!.map((x) => x[3]!)).toFixed(3)} system ${med(res[k]!.map((x) => x[4]!)).toFixed(3)}) engines ${med(res[k]!.map((x) => x[5]!)).toFixed(3)} ms/MiB`);
    const ratio = res[B]!.map((x, i) => x[1]! / res[A]![i]![1]!), rate = res[B]!.map((x, i) => x[0]! / res[A]![i]![0]!);
    console.log(`client CPU per MiB ${B}/${A} per round: ${ratio.map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio).toFixed(3)})`);
    console.log(`MiB/s ${B}/${A} per round: ${rate.map((x) => x.toFixed(3)).join(' ')} (median ${med(rate).toFixed(3)})`);
    if (prof) await new Promise<void>((r) => prof.post('Profiler.stop', (_e, res) => { writeFileSync(process.env.CAIRN_AB_PROFILE!, JSON.stringify((res as { profile: unknown }).profile)); r(); }));
    }
  } else if (mode === 'read-builds') {
    // Two client builds (CAIRN_AB_BASE, CAIRN_AB_NEW) reading 1 MiB EC_2P1G1 extents into 8 reused
    // buffers (qd8, each build its own array): promises per MiB (async_hooks, exact: a count that
    // survives load), then the client's CPU per MiB in alternating rounds.
    const [mib, rounds] = [Number(process.argv[3] ?? 64), Number(process.argv[4] ?? 8)];
    const QD = 8;
    const builds = await buildContainers('read-builds');
    const arrs: Record<string, ReturnType<Cont['array']>> = {};
    const buf = new Uint8Array(MIB).fill(9);
    for (const [k, cont] of Object.entries(builds)) {
      const arr = cont.array('f', { chunkSize: MIB });
      for (let i = 0; i < mib; i += QD) await Promise.all(Array.from({ length: QD }, (_, j) => arr.write((i + j) * MIB, buf)));
      arrs[k] = arr;
    }
    const reused = Array.from({ length: QD }, () => new Uint8Array(MIB));
    const run = async (k: 'base' | 'new', _n: number) => { const a = arrs[k]!; for (let i = 0; i < mib; i += QD) await Promise.all(Array.from({ length: QD }, (_, j) => a.read((i + j) * MIB, MIB, { into: reused[j]! }))); };
    for (const k of ['base', 'new', 'base', 'new'] as const) await run(k, mib);
    let promises = 0;
    const hook = createHook({ init(_id, type) { if (type === 'PROMISE') promises++; } });
    for (const k of ['base', 'new'] as const) { promises = 0; hook.enable(); await run(k, mib); hook.disable(); console.log(`${k}: promises per MiB ${(promises / mib).toFixed(2)}`); }
    const res = await alternateRounds(rounds, mib, run, () => pids, 'MiB');
    const ratio = res.new.map((x, i) => x[1] / res.base[i]![1]);
    console.log(`client CPU per MiB new/base per round: ${ratio.map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio).toFixed(3)})`);
  } else if (mode === 'get') {
    // Gets of existing 100-byte values, `qd` started together and awaited together, rounds
    // alternating reads of one turn batched per engine (link.ts `getBatching`) and each on its own.
    const [qd, n, rounds] = [Number(process.argv[3] ?? 16), Number(process.argv[4] ?? 8000), Number(process.argv[5] ?? 8)];
    const OBJECTS = 4096;
    const pool = await cluster.connect();
    pools.push(pool);
    const cont = await pool.createContainer('ab', { oclass: process.env.CLASS ?? 'EC_2P1G1' });
    await cont.openTargets();
    const value = new Uint8Array(100).fill(7);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => { while (next < OBJECTS) await cont.object(`g${next++}`).update('d', 'a', value); }));
    const calls = { requests: 0, items: 0 };
    const orig = RpcClient.prototype.call;
    RpcClient.prototype.call = function (this: RpcClient, method, header, payload, o) {
      calls.requests++;
      calls.items += method === 'engine.batch' ? batchMethods(payload).length : 1;
      return orig.call(this, method, header, payload, o);
    };
    let seq = 0;
    const run = async (count: number) => {
      for (let done = 0; done < count;) {
        const m = Math.min(qd, count - done); done += m;
        await Promise.all(Array.from({ length: m }, async () => { const v = await cont.object(`g${(seq++ * 2654435761 >>> 0) % OBJECTS}`).fetch('d', 'a'); if (v?.length !== 100) throw new Error('a get came back wrong'); }));
      }
    };
    for (const on of [true, false]) { getBatching.on = on; const end = performance.now() + 3000; while (performance.now() < end) await run(10 * qd); }
    const res: Record<string, number[][]> = { apart: [], batched: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of (r % 2 ? ['batched', 'apart'] : ['apart', 'batched'])) {
        getBatching.on = k === 'batched';
        const q0 = { ...calls }, c0 = process.cpuUsage(), e0 = pids.reduce((a, p) => a + cpuMs(p), 0), t0 = performance.now();
        await run(n);
        const c = process.cpuUsage(c0), e = pids.reduce((a, p) => a + cpuMs(p), 0) - e0, s = (performance.now() - t0) / 1000;
        const row = [n / s, (c.user + c.system) / 1000 / n, e / n, (calls.requests - q0.requests) / n];
        res[k]!.push(row);
        console.log(`round ${r} ${k}: ${row[0]!.toFixed(0)}/s client ${row[1]!.toFixed(4)} ms/get engines ${row[2]!.toFixed(4)} ms/get, requests/get ${row[3]!.toFixed(3)} (items ${(calls.items - q0.items) / n})`);
      }
    }
    for (const k of Object.keys(res)) console.log(`median ${k}: ${med(res[k]!.map((x) => x[0]!)).toFixed(0)}/s client ${med(res[k]!.map((x) => x[1]!)).toFixed(4)} ms/get engines ${med(res[k]!.map((x) => x[2]!)).toFixed(4)} ms/get requests/get ${med(res[k]!.map((x) => x[3]!)).toFixed(3)}`);
    const per = (i: number) => res.batched!.map((x, j) => x[i]! / res.apart![j]![i]!);
    console.log(`batched/apart per round: rate ${per(0).map((x) => x.toFixed(2)).join(' ')} (median ${med(per(0)).toFixed(3)}); client CPU ${per(1).map((x) => x.toFixed(2)).join(' ')} (median ${med(per(1)).toFixed(3)}); engine CPU ${per(2).map((x) => x.toFixed(2)).join(' ')} (median ${med(per(2)).toFixed(3)})`);
  } else throw new Error(`unknown mode ${mode} (put | read | read-builds | guess | get)`);
} finally {
  for (const p of pools) await p.close().catch(() => undefined);
  await cluster.stop();
}
