/**
 * Issue 12, scale: N objects of 100 bytes (RP_2G1, embedded pool of 16 targets, one KV object per
 * put, 32 in flight), then the store reopened in a FRESH process. Reported per system:
 * puts/s (overall, per 100k, first vs last 50k), RSS and heap after writing; reopen time,
 * first-read latency, reopen + 2,000 random reads, RSS and heap of the reopened process; and RSS
 * per container for 20 extra small containers. lmdb-js and classic-level do the same work in the
 * same run (reopen = fresh process too; extra containers = lmdb named databases / level sublevels;
 * 4 extra containers in quick mode, where each costs seconds today).
 *
 * The first case also writes each store again in a process that is killed with SIGKILL when its
 * puts are acknowledged (no close), and reopens it in a fresh process: an open after a crash,
 * whose cost must not grow with the history written before it either (CRASH_IMAGES images per
 * system; the rows report the median one).
 *
 * Cases: N = 300,000 and N = CAIRN_SCALE_OBJECTS (default 1,000,000); quick mode: one case of
 * CAIRN_SCALE_OBJECTS (default 50,000). Every phase runs in a child process (lib/scale-worker.ts)
 * under a per-phase timeout (CAIRN_SCALE_PHASE_TIMEOUT_S, default grows with N) and a memory guard
 * (CAIRN_SCALE_RSS_GUARD_MIB, default 8192): the child stops writing cleanly at 94% of the guard,
 * and the parent, which samples the child's RSS, kills it at the guard. A stopped case keeps its
 * partial figures and says why in `aborted`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchRow } from './harness.js';
import { tempDir, removeTempDir, trackChild } from './lib/cleanup.js';
import { PEER_LABEL } from './lib/kv-peers.js';
import { SPLIT_OBJECTS, type WorkerResult, type WorkerTask } from './lib/scale-protocol.js';

/** Env: objects of the main case. */
export const SCALE_OBJECTS_ENV = 'CAIRN_SCALE_OBJECTS';
/** Env: seconds allowed per phase (write, reopen) of one system. */
export const SCALE_TIMEOUT_ENV = 'CAIRN_SCALE_PHASE_TIMEOUT_S';
/** Env: RSS in MiB at which a case is stopped. */
export const SCALE_GUARD_ENV = 'CAIRN_SCALE_RSS_GUARD_MIB';
/**
 * Env: MiB of touched memory the Cairn write phase holds before it opens its pool (default 0). Lets a
 * test see the memory guard stop one system whatever the store itself uses.
 */
export const SCALE_BALLAST_ENV = 'CAIRN_SCALE_CAIRN_BALLAST_MIB';
const DEFAULT_OBJECTS = 1_000_000;
const QUICK_OBJECTS = 50_000;
/** The named case issue 12 sets targets for. */
const NAMED_CASE_OBJECTS = 300_000;
const DEFAULT_GUARD_MIB = 8192;
/** Smallest guard accepted (a Node process with a store open needs about 100 MiB). */
const MIN_GUARD_MIB = 128;
/** The child stops itself at this fraction of the guard; the parent kills it at the guard. */
const SOFT_GUARD_FRACTION = 0.94;
/** How often the parent samples the child's RSS (the guard for phases that cannot check themselves, e.g. reopen). */
const RSS_SAMPLE_MS = 200;
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2 };
const TARGETS = SHAPE.nodes * SHAPE.ranksPerNode * SHAPE.targetsPerRank;
const DEPTH = 32;
const READS = 2000;
/**
 * Crash images written and reopened per system in the first case (one in quick mode); the rows
 * report the one of median reopen time and list every image's. The state a kill finds (a flush or
 * a checkpoint in flight, or not) varies: single images of the same code read 0.46 to 1.59 s
 * (session 46).
 */
const CRASH_IMAGES = 3;
/** Extra small containers whose RSS is measured (issue 12); fewer in quick mode (each costs seconds today). */
const EXTRA_CONTAINERS = 20;
const QUICK_EXTRA_CONTAINERS = 4;
const OBJECTS_PER_EXTRA_CONTAINER = 10;
/** Window of the "first vs last" put rate comparison. */
const WINDOW_OBJECTS = 50_000;
const MIB = 2 ** 20;
const SYSTEMS = ['level', 'lmdb', 'cairn'] as const;
type System = typeof SYSTEMS[number];
const LABEL: Record<System, string> = { cairn: 'cairn', lmdb: PEER_LABEL.lmdb, level: PEER_LABEL.level };
const WORKER = fileURLToPath(new URL('./lib/scale-worker.ts', import.meta.url));

/** Issue 12's absolute targets for a case of n objects. */
function targetsFor(n: number): { reopenPlusReadsS?: number; reopenS?: number; rssBytes?: number; lastVsFirst: number; extraRssBytes: number } {
  if (n >= 1_000_000) return { reopenS: 2, rssBytes: 1024 * MIB, lastVsFirst: 0.8, extraRssBytes: 8 * MIB };
  return { reopenPlusReadsS: 1.5, rssBytes: 768 * MIB, lastVsFirst: 0.8, extraRssBytes: 8 * MIB };
}

function label(n: number): string {
  return n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n);
}

/** Read VmRSS of `pid` (bytes), or 0 when it is gone. */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

interface PhaseOutcome { result?: WorkerResult; aborted?: string; peakRssBytes: number; wallSeconds: number }

/** Run one phase in a child under the timeout and memory guard. */
function runPhase(task: WorkerTask, timeoutS: number, guardBytes: number, progress: (m: string) => void): Promise<PhaseOutcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = fork(WORKER, [JSON.stringify(task)], {
      execArgv: ['--import', 'tsx', '--expose-gc', `--max-old-space-size=${Math.ceil(guardBytes / MIB)}`],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    trackChild(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    let result: WorkerResult | undefined;
    let error: string | undefined;
    let killedFor: string | undefined;
    let peak = 0;
    const kill = (why: string) => { if (!killedFor) { killedFor = why; child.kill('SIGKILL'); } };
    const sampler = setInterval(() => {
      const rss = rssOf(child.pid!);
      peak = Math.max(peak, rss);
      if (rss > guardBytes) kill(`memory guard: RSS ${(rss / 2 ** 30).toFixed(2)} GiB > ${(guardBytes / 2 ** 30).toFixed(2)} GiB during ${task.phase} (killed)`);
    }, RSS_SAMPLE_MS);
    const timer = setTimeout(() => kill(`timeout: ${task.phase} took more than ${timeoutS} s (killed)`), timeoutS * 1000);
    child.on('message', (m: { type: string; result?: WorkerResult; message?: string; objects?: number }) => {
      if (m.type === 'progress') progress(`${task.phase} ${m.objects}/${task.n}`);
      else if (m.type === 'result') result = m.result;
      else if (m.type === 'error') error = m.message;
    });
    child.on('exit', (code, signal) => {
      clearInterval(sampler); clearTimeout(timer);
      const wallSeconds = (performance.now() - t0) / 1000;
      const peakRssBytes = Math.max(peak, result?.mem?.maxRssBytes ?? 0);
      if (killedFor) return resolve({ aborted: killedFor, peakRssBytes, wallSeconds });
      if (result) return resolve({ result, ...(result.aborted ? { aborted: result.aborted } : {}), peakRssBytes, wallSeconds });
      const oom = /heap out of memory|Reached heap limit/.test(stderr) ? 'JavaScript heap out of memory' : '';
      const why = error ?? (oom || stderr.trim().split('\n').slice(-3).join(' | ') || 'no result');
      resolve({ aborted: `${task.phase} failed (${code !== null ? `exit ${code}` : `signal ${signal}`}): ${why}`, peakRssBytes, wallSeconds });
    });
  });
}

/**
 * The crash image of median reopen time (an image that was not reopened counts as slowest; with
 * none reopened, the first, whose outcome says why).
 */
function medianImage<T extends { recovered?: PhaseOutcome }>(images: T[]): T {
  const secs = (x: T) => x.recovered?.result?.reopenSeconds ?? Infinity;
  const sorted = [...images].sort((a, b) => secs(a) - secs(b));
  const m = sorted[(sorted.length - 1) >> 1]!;
  return secs(m) === Infinity ? images[0]! : m;
}

/** Puts/s of the objects between two split points (by object count). */
function rateBetween(splits: Array<{ objects: number; seconds: number }>, from: number, to: number): number | undefined {
  const at = (n: number) => (n === 0 ? 0 : splits.find((s) => s.objects === n)?.seconds);
  const a = at(from), b = at(to);
  return a !== undefined && b !== undefined && b > a ? (to - from) / (b - a) : undefined;
}

async function runCase(ctx: BenchContext, n: number, extraContainers: number, guardBytes: number, timeoutEnv: number | undefined, ballastBytes: number, crash: boolean): Promise<BenchRow[]> {
  const root = tempDir(`cairn-scale-${label(n)}-`);
  const L = label(n);
  const out: Record<System, { write?: PhaseOutcome; reopen?: PhaseOutcome; extra?: PhaseOutcome; crashed?: PhaseOutcome; recovered?: PhaseOutcome; crashReopens?: Array<number | undefined> }> = { cairn: {}, lmdb: {}, level: {} };
  try {
    for (const system of SYSTEMS) {
      const dir = path.join(root, system);
      const base: WorkerTask = {
        phase: 'write', system, dir, n, depth: DEPTH, rssSoftLimitBytes: Math.floor(guardBytes * SOFT_GUARD_FRACTION),
        reads: READS, extraContainers, objectsPerExtraContainer: OBJECTS_PER_EXTRA_CONTAINER,
        shape: SHAPE, scmBytes: Math.max(64 * MIB, Math.ceil(((n * 2) / TARGETS) * 512)), oclass: 'RP_2G1', seed: 0x5ca1e,
      };
      const tag = `scale ${L}: ${LABEL[system]}`;
      const w = await runPhase(system === 'cairn' ? { ...base, ballastBytes } : base, timeoutEnv ?? 120 + n / 1500, guardBytes, (m) => ctx.progress(`${tag} ${m}`));
      out[system].write = w;
      const written = w.result?.written ?? 0;
      if (written > 0) {
        ctx.progress(`${tag} reopen`);
        out[system].reopen = await runPhase({ ...base, phase: 'reopen', n: written }, timeoutEnv ?? 120 + n / 5000, guardBytes, (m) => ctx.progress(`${tag} ${m}`));
        ctx.progress(`${tag} extra containers`);
        out[system].extra = await runPhase({ ...base, phase: 'extra', n: written }, timeoutEnv ?? 120 + n / 5000 + extraContainers * 15, guardBytes, (m) => ctx.progress(`${tag} extra ${m}`));
      }
      fs.rmSync(dir, { recursive: true, force: true });
      if (crash) {
        // the same writes again, the writer killed once they are acknowledged; then a fresh open
        // (CRASH_IMAGES times: the row takes the image of median reopen time)
        const images: Array<{ crashed: PhaseOutcome; recovered?: PhaseOutcome }> = [];
        const count = ctx.quick ? 1 : CRASH_IMAGES;
        for (let k = 0; k < count; k++) {
          const img = `image ${k + 1}/${count}`;
          const c = await runPhase({ ...base, crash: true }, timeoutEnv ?? 120 + n / 1500, guardBytes, (m) => ctx.progress(`${tag} ${m} (killed after, ${img})`));
          const kept = c.result?.written ?? 0;
          let recovered: PhaseOutcome | undefined;
          if (kept > 0) {
            ctx.progress(`${tag} reopen after a crash (${img})`);
            recovered = await runPhase({ ...base, phase: 'reopen', n: kept }, timeoutEnv ?? 120 + n / 5000, guardBytes, (m) => ctx.progress(`${tag} ${m}`));
          }
          images.push({ crashed: c, recovered });
          fs.rmSync(dir, { recursive: true, force: true });
        }
        const pick = medianImage(images);
        out[system].crashed = pick.crashed;
        out[system].recovered = pick.recovered;
        out[system].crashReopens = images.map((x) => x.recovered?.result?.reopenSeconds);
      }
    }
  } finally {
    removeTempDir(root);
  }

  // ------------------------------------------------------------------ rows
  const t = targetsFor(n);
  const rows: BenchRow[] = [];
  const name = (s: System, what: string) => `scale ${L}: ${LABEL[s]} ${what}`;
  const PUT = (s: System) => (s === 'cairn' ? `put 100B new objects RP_2G1 ${TARGETS} targets ${DEPTH} in flight` : `put 100B ${DEPTH} in flight`);
  /** Cairn rows name `primary`'s row of the same measure as peer and the other peer's as alsoVs. */
  const peers = (s: System, what: (sys: System) => string, primary: 'lmdb' | 'level'): Partial<BenchRow> => s !== 'cairn' ? {} : {
    peer: name(primary, what(primary)),
    alsoVs: [name(primary === 'lmdb' ? 'level' : 'lmdb', what(primary === 'lmdb' ? 'level' : 'lmdb'))],
  };
  const same = (w: string) => () => w;
  for (const s of (['cairn', 'level', 'lmdb'] as System[])) {
    const w = out[s].write, r = out[s].reopen, x = out[s].extra;
    const wr = w?.result, rr = r?.result, xr = x?.result;
    const abortW = w?.aborted ? { aborted: w.aborted } : {};
    const abortR = r?.aborted ? { aborted: r.aborted } : !r && w ? { aborted: `not reopened: ${w.aborted ?? 'nothing written'}` } : {};
    const splits = wr?.splits ?? [];
    const written = wr?.written ?? 0;
    const per100k: number[] = [];
    for (let a = 0; a + 100_000 <= written; a += 100_000) { const x = rateBetween(splits, a, a + 100_000); if (x !== undefined) per100k.push(Math.round(x)); }
    const lastFrom = Math.floor((written - WINDOW_OBJECTS) / SPLIT_OBJECTS) * SPLIT_OBJECTS;
    const first = rateBetween(splits, 0, Math.min(WINDOW_OBJECTS, written - (written % SPLIT_OBJECTS)));
    const last = lastFrom > 0 ? rateBetween(splits, lastFrom, lastFrom + WINDOW_OBJECTS) : undefined;
    const lastVsFirst = first && last ? last / first : undefined;
    rows.push({
      name: name(s, PUT(s)), suite: 'scale', ...(wr?.writeSeconds ? { opsPerSecond: written / wr.writeSeconds } : {}),
      ...peers(s, PUT, 'level'), ...abortW,
      extra: {
        objects: n, written, ...(first ? { first50kPerS: Math.round(first) } : {}), ...(last ? { last50kPerS: Math.round(last) } : {}),
        ...(lastVsFirst ? { lastVsFirst, lastVsFirstTarget: `>= ${t.lastVsFirst}`, meetsTarget: lastVsFirst >= t.lastVsFirst } : {}),
        ...(per100k.length ? { putsPerSecondPer100k: per100k } : {}),
        ...(wr?.closeSeconds !== undefined ? { closeSeconds: wr.closeSeconds } : {}),
      },
    });
    rows.push({
      name: name(s, 'RSS after writing'), suite: 'scale', ...(wr?.mem ? { rssBytes: wr.mem.rssBytes } : {}), ...peers(s, same('RSS after writing'), 'lmdb'), ...abortW,
      extra: { ...(wr?.mem ? { heapUsedMiB: wr.mem.heapUsedBytes / MIB, externalMiB: wr.mem.externalBytes / MIB } : {}), peakRssMiB: (w?.peakRssBytes ?? 0) / MIB },
    });
    rows.push({
      name: name(s, 'reopen (fresh process)'), suite: 'scale', ...(rr ? { seconds: rr.reopenSeconds! } : {}), ...peers(s, same('reopen (fresh process)'), 'lmdb'), ...abortR,
      ...(t.reopenS !== undefined && rr ? { extra: { target: `<= ${t.reopenS} s`, meetsTarget: rr.reopenSeconds! <= t.reopenS } } : {}),
    });
    rows.push({ name: name(s, 'first read after reopen'), suite: 'scale', ...(rr ? { seconds: rr.firstReadSeconds! } : {}), ...peers(s, same('first read after reopen'), 'lmdb'), ...abortR });
    const total = rr ? rr.reopenSeconds! + rr.firstReadSeconds! + rr.readsSeconds! : undefined;
    rows.push({
      name: name(s, `reopen + ${READS} random reads`), suite: 'scale', ...(total !== undefined ? { seconds: total } : {}), ...peers(s, same(`reopen + ${READS} random reads`), 'lmdb'), ...abortR,
      extra: {
        ...(rr ? { readsSeconds: rr.readsSeconds, readsPerSecond: READS / rr.readsSeconds! } : {}),
        ...(t.reopenPlusReadsS !== undefined && total !== undefined ? { target: `<= ${t.reopenPlusReadsS} s`, meetsTarget: total <= t.reopenPlusReadsS } : {}),
      },
    });
    rows.push({
      name: name(s, 'RSS after reopen + reads'), suite: 'scale', ...(rr?.mem ? { rssBytes: rr.mem.rssBytes } : {}), ...peers(s, same('RSS after reopen + reads'), 'lmdb'), ...abortR,
      extra: {
        ...(rr?.mem ? { heapUsedMiB: rr.mem.heapUsedBytes / MIB, externalMiB: rr.mem.externalBytes / MIB } : {}), peakRssMiB: (r?.peakRssBytes ?? 0) / MIB,
        ...(t.rssBytes !== undefined && rr?.mem ? { target: `<= ${t.rssBytes / MIB} MiB`, meetsTarget: rr.mem.rssBytes <= t.rssBytes } : {}),
      },
    });
    const made = xr?.extraCreated ?? 0;
    const extraPer = made > 0 ? Math.max(0, xr!.extraAfterRssBytes! - xr!.extraBeforeRssBytes!) / made : undefined;
    const what = (sys: System) => sys === 'cairn' ? `${extraContainers} extra containers: RSS per container` : sys === 'lmdb' ? `${extraContainers} extra named databases: RSS per database` : `${extraContainers} extra sublevels: RSS per sublevel`;
    const abortX = x?.aborted ? { aborted: x.aborted } : !x && w ? { aborted: `not reopened: ${w.aborted ?? 'nothing written'}` } : {};
    rows.push({
      name: name(s, what(s)), suite: 'scale', ...(extraPer !== undefined ? { rssBytes: extraPer } : {}), ...abortX,
      ...(s === 'cairn' ? { peer: name('lmdb', what('lmdb')), alsoVs: [name('level', what('level'))] } : {}),
      extra: {
        objectsEach: OBJECTS_PER_EXTRA_CONTAINER, created: made,
        ...(xr?.extraRssSteps?.length ? { rssStepsMiB: xr.extraRssSteps.map((b) => +(b / MIB).toFixed(1)) } : {}),
        peakRssMiB: (x?.peakRssBytes ?? 0) / MIB,
        ...(s === 'cairn' && extraPer !== undefined ? { target: `<= ${t.extraRssBytes / MIB} MiB`, meetsTarget: extraPer <= t.extraRssBytes } : {}),
      },
    });
  }
  if (crash) {
    for (const s of (['cairn', 'level', 'lmdb'] as System[])) {
      const c = out[s].crashed, r = out[s].recovered, rr = r?.result;
      const abort = r?.aborted ? { aborted: r.aborted } : !r ? { aborted: `not reopened: ${c?.aborted ?? 'nothing written'}` } : {};
      const what = 'reopen after a crash (writer killed with SIGKILL, fresh process)';
      const images = out[s].crashReopens ?? [];
      rows.push({ name: name(s, what), suite: 'scale', ...(rr ? { seconds: rr.reopenSeconds! } : {}), ...peers(s, same(what), 'lmdb'), ...abort, extra: { written: c?.result?.written ?? 0, images: images.length, imageSeconds: images.map((x) => (x === undefined ? null : +x.toFixed(4))) } });
      const total = rr ? rr.reopenSeconds! + rr.firstReadSeconds! + rr.readsSeconds! : undefined;
      const both = `reopen after a crash + ${READS} random reads`;
      rows.push({ name: name(s, both), suite: 'scale', ...(total !== undefined ? { seconds: total } : {}), ...peers(s, same(both), 'lmdb'), ...abort });
    }
  }
  // A zero-RSS peer figure (a sublevel adds nothing measurable) gives no ratio; that is expected.
  return rows;
}

export default async function scaleBench(ctx: BenchContext): Promise<BenchRow[]> {
  const env = process.env[SCALE_OBJECTS_ENV];
  const main = env ? Number(env) : ctx.quick ? QUICK_OBJECTS : DEFAULT_OBJECTS;
  if (!Number.isInteger(main) || main < SPLIT_OBJECTS) throw new Error(`${SCALE_OBJECTS_ENV} must be an integer >= ${SPLIT_OBJECTS}, got ${env}`);
  const guardMiB = Number(process.env[SCALE_GUARD_ENV] ?? DEFAULT_GUARD_MIB);
  if (!(guardMiB >= MIN_GUARD_MIB)) throw new Error(`${SCALE_GUARD_ENV} must be >= ${MIN_GUARD_MIB} (MiB)`);
  const timeoutEnv = process.env[SCALE_TIMEOUT_ENV] ? Number(process.env[SCALE_TIMEOUT_ENV]) : undefined;
  const ballastMiB = Number(process.env[SCALE_BALLAST_ENV] ?? 0);
  if (!(ballastMiB >= 0)) throw new Error(`${SCALE_BALLAST_ENV} must be >= 0 (MiB)`);
  const cases = ctx.quick || main === NAMED_CASE_OBJECTS ? [main] : [NAMED_CASE_OBJECTS, main];
  const rows: BenchRow[] = [];
  const extra = ctx.quick ? QUICK_EXTRA_CONTAINERS : EXTRA_CONTAINERS;
  for (const n of cases) rows.push(...(await runCase(ctx, n, extra, guardMiB * MIB, timeoutEnv, Math.round(ballastMiB * MIB), n === cases[0])));
  return rows;
}
