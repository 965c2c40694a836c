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
 * Not a suite (no `.bench.ts`): `node --import tsx --import ./bench/lib/compiled.mjs bench/engines-ab.ts put 16 3000 8`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Cluster } from './cluster.js';
import { Pool } from '../index.js';

const MIB = 1 << 20;
const mode = process.argv[2] ?? 'put';
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const cpuMs = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
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
try {
  if (mode === 'put') {
    const [qd, n, rounds] = [Number(process.argv[3] ?? 16), Number(process.argv[4] ?? 3000), Number(process.argv[5] ?? 8)];
    const builds: Record<string, string> = { base: process.env.CAIRN_AB_BASE ?? '', new: process.env.CAIRN_AB_NEW ?? '' };
    if (!builds.base || !builds.new) throw new Error('put: set CAIRN_AB_BASE and CAIRN_AB_NEW to the two builds\' dist/index.js');
    const conts: Record<string, Cont> = {};
    for (const [k, path] of Object.entries(builds)) {
      const P = (await import(path) as { Pool: typeof Pool }).Pool;
      const pool = await P.connect({ etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret });
      pools.push(pool);
      const cont = await pool.createContainer(`ab-${k}`, { oclass: 'EC_2P1G1' });
      await cont.openTargets();
      conts[k] = cont;
    }
    const value = new Uint8Array(100).fill(7);
    let seq = 0;
    const run = async (k: string, count: number) => {
      for (let next = 0; next < count;) { const m = Math.min(qd, count - next); next += m; await Promise.all(Array.from({ length: m }, () => conts[k]!.object(`${k}-${seq++}`).update('d', 'a', value))); }
    };
    for (const k of Object.keys(builds)) { const end = performance.now() + 3000; while (performance.now() < end) await run(k, 10 * qd); }
    const res: Record<string, number[][]> = { base: [], new: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of (r % 2 ? ['new', 'base'] : ['base', 'new'])) {
        const c0 = process.cpuUsage(), e0 = pids.reduce((a, p) => a + cpuMs(p), 0), t0 = performance.now();
        await run(k, n);
        const c = process.cpuUsage(c0), e = pids.reduce((a, p) => a + cpuMs(p), 0) - e0, s = (performance.now() - t0) / 1000;
        const row = [n / s, (c.user + c.system) / 1000 / n, e / n];
        res[k]!.push(row);
        console.log(`round ${r} ${k}: ${row[0]!.toFixed(0)}/s client ${row[1]!.toFixed(4)} ms/put engines ${row[2]!.toFixed(4)} ms/put`);
      }
    }
    for (const k of Object.keys(res)) console.log(`median ${k}: ${med(res[k]!.map((x) => x[0]!)).toFixed(0)}/s client ${med(res[k]!.map((x) => x[1]!)).toFixed(4)} ms/put engines ${med(res[k]!.map((x) => x[2]!)).toFixed(4)} ms/put`);
    const ratio = res.new!.map((x, i) => x[1]! / res.base![i]![1]!);
    console.log(`client CPU per put new/base per round: ${ratio.map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio).toFixed(3)})`);
  } else if (mode === 'read') {
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
    const res: Record<string, number[][]> = { preadv: [], mapped: [] };
    for (let r = 0; r < rounds; r++) {
      for (const k of (r % 2 ? ['mapped', 'preadv'] : ['preadv', 'mapped'])) {
        if (k === 'preadv') process.env.CAIRN_MAPPED_READS = '0'; else delete process.env.CAIRN_MAPPED_READS;
        const t0 = threads(), c0 = process.cpuUsage(), w0 = performance.now();
        await readAll();
        const s = (performance.now() - w0) / 1000, c = process.cpuUsage(c0), t1 = threads();
        const row = [mib / s, (c.user + c.system) / 1000 / mib, (t1.main - t0.main) / mib, (t1.rest - t0.rest) / mib, c.system / 1000 / mib];
        res[k]!.push(row);
        console.log(`round ${r} ${k}: ${row[0]!.toFixed(0)} MiB/s client ${row[1]!.toFixed(3)} ms/MiB (main ${row[2]!.toFixed(3)} other ${row[3]!.toFixed(3)} system ${row[4]!.toFixed(3)}), RSS ${(process.memoryUsage().rss / MIB).toFixed(0)} MiB`);
      }
    }
    for (const k of Object.keys(res)) console.log(`median ${k}: ${med(res[k]!.map((x) => x[0]!)).toFixed(0)} MiB/s client ${med(res[k]!.map((x) => x[1]!)).toFixed(3)} ms/MiB (main ${med(res[k]!.map((x) => x[2]!)).toFixed(3)} other ${med(res[k]!.map((x) => x[3]!)).toFixed(3)} system ${med(res[k]!.map((x) => x[4]!)).toFixed(3)})`);
    const ratio = res.mapped!.map((x, i) => x[1]! / res.preadv![i]![1]!);
    console.log(`client CPU per MiB mapped/preadv per round: ${ratio.map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio).toFixed(3)})`);
  } else throw new Error(`unknown mode ${mode} (put | read)`);
} finally {
  for (const p of pools) await p.close().catch(() => undefined);
  await cluster.stop();
}
