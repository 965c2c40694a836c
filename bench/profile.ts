/**
 * Where the time goes on Cairn's data path: `node --import tsx bench/profile.ts <workload> [n]`
 * runs one workload of the `io` suite on the same 16-target embedded pool, records a V8 CPU
 * profile of the timed phase only (the profiler `node --cpu-prof` uses, started and stopped
 * through node:inspector so set-up is left out), writes it as a .cpuprofile (open it in Chrome
 * DevTools) and prints the functions and files with the most self time.
 *
 * Workloads: `small-put` (100-byte puts of new objects, RP_2G1, 32 in flight; n objects, default
 * 30,000), `small-put-durable` (the same on a `durable: true` pool), `small-get` (random gets of
 * those), `ec-write` / `ec-read` (1 MiB EC_4P2G1 array
 * transfers, 8 in flight; n MiB, default 256). Public API only. Not a suite (no `.bench.ts`).
 * Under tsx, positions are of the transformed code and tsx's `__name` helper shows up; for line
 * numbers and no loader overhead, compile first: `npx tsc -p tsconfig.test.json --noEmit false
 * --outDir /tmp/cairn-out` and run `node /tmp/cairn-out/bench/profile.js <workload>`. The profile
 * goes to `os.tmpdir()/cairn-profile-<workload>.cpuprofile`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { Pool } from '../index.js';
import { Rng } from '../core/rng.js';
import { inFlight } from './harness.js';
import { tempDir, removeTempDir } from './lib/cleanup.js';
import { summarizeProfile, type CpuProfile } from './lib/cpuprofile.js';
import { threadStats } from './lib/thread-stats.js';
import { performance } from 'node:perf_hooks';
import { IO_POOL_SHAPE, SMALL_DEPTH, EC_DEPTH, SMALL_VALUE_BYTES } from './io.bench.js';

const MIB = 1024 * 1024;
/** Profiler sampling interval (the default of 1 ms is coarse for sub-millisecond operations). */
const SAMPLE_INTERVAL_US = 100;
/** Rows printed per table. */
const TOP = 25;
const WORKLOADS = ['small-put', 'small-put-durable', 'small-get', 'ec-write', 'ec-read'] as const;
type Workload = typeof WORKLOADS[number];

const workload = process.argv[2] as Workload;
if (!WORKLOADS.includes(workload)) {
  console.error(`usage: node --import tsx bench/profile.ts <${WORKLOADS.join('|')}> [n]`);
  process.exit(2);
}
const small = workload.startsWith('small');
const n = Number(process.argv[3] ?? (small ? 30_000 : 256));
const root = tempDir('cairn-profile-');
const pool = await Pool.create(path.join(root, 'pool'), { ...IO_POOL_SHAPE, durable: workload === 'small-put-durable', dataBytes: Math.max(256 * MIB, Math.ceil((n * MIB * 1.5) / 16) + 64 * MIB) });
const session = new Session();
session.connect();
let profile: CpuProfile;
try {
  let phase: () => Promise<unknown>;
  if (small) {
    const cont = await pool.createContainer('small', { oclass: 'RP_2G1' });
    await cont.openTargets();
    const value = new Uint8Array(SMALL_VALUE_BYTES).fill(0x5a);
    const put = (from: number, count: number) => inFlight(count, SMALL_DEPTH, (j) => cont.kv(`o${from + j}`).put('v', value));
    await put(0, 1000); // warm-up
    if (workload !== 'small-get') phase = () => put(1000, n);
    else {
      await put(1000, n);
      const rng = new Rng(7);
      const keys = Array.from({ length: n }, () => rng.int(n + 1000));
      phase = () => inFlight(n, SMALL_DEPTH, (j) => cont.kv(`o${keys[j]}`).get('v'));
    }
  } else {
    const cont = await pool.createContainer('ec', { oclass: 'EC_4P2G1' });
    await cont.openTargets();
    const buf = new Rng(1).bytes(MIB);
    const arr = cont.array('ior', { chunkSize: MIB });
    const warm = cont.array('warm', { chunkSize: MIB });
    await inFlight(16, EC_DEPTH, (i) => warm.write(i * MIB, buf));
    if (workload === 'ec-write') phase = () => inFlight(n, EC_DEPTH, (i) => arr.write(i * MIB, buf));
    else {
      await inFlight(n, EC_DEPTH, (i) => arr.write(i * MIB, buf));
      phase = () => inFlight(n, EC_DEPTH, (i) => arr.read(i * MIB, MIB));
    }
  }
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLE_INTERVAL_US });
  await session.post('Profiler.start');
  const t0 = performance.now(), th0 = threadStats(process.pid), elu0 = performance.eventLoopUtilization();
  await phase();
  const wall = (performance.now() - t0) / 1000, th = threadStats(process.pid), elu = performance.eventLoopUtilization(elu0);
  ({ profile } = (await session.post('Profiler.stop')) as unknown as { profile: CpuProfile });
  const units = small ? n : n * MIB;
  console.log(`${workload}: ${n}${small ? ' ops' : ' MiB'} in ${wall.toFixed(2)} s = ${small ? `${(units / wall).toFixed(0)} ops/s` : `${(units / wall / 1e6).toFixed(1)} MB/s`}`);
  // (CPU of the JavaScript thread and of every other thread of the process: workers, the libuv
  // pool, io_uring workers, V8's GC and compiler threads; the profiler's own cost included)
  const unit = small ? 'op' : 'MiB';
  console.log(`CPU per ${unit}: JavaScript thread ${((th.main - th0.main) * 1000 / n).toFixed(1)} us (busy ${(100 * elu.utilization).toFixed(0)}% of the time), other threads ${((th.rest - th0.rest) * 1000 / n).toFixed(1)} us`);
} finally {
  session.disconnect();
  await pool.close();
  removeTempDir(root);
}
const file = path.join(os.tmpdir(), `cairn-profile-${workload}.cpuprofile`);
fs.writeFileSync(file, JSON.stringify(profile));
const s = summarizeProfile(profile, path.resolve(new URL('..', import.meta.url).pathname));
const pct = (x: number) => `${((100 * x) / s.totalUs).toFixed(1).padStart(5)}%`;
console.log(`profile: ${file} (${(s.totalUs / 1e6).toFixed(2)} s sampled, ${pct(s.idleUs)} idle)`);
console.log(`\ntop functions by self time (% of sampled time)`);
for (const f of s.functions.slice(0, TOP)) console.log(`${pct(f.selfUs)}  ${f.name}  ${f.where}`);
console.log(`\nself time by file`);
for (const f of s.files.slice(0, TOP)) console.log(`${pct(f.selfUs)}  ${f.file}`);
