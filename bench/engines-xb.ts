/**
 * Cross-build A/B on connected pools (issue 15), for changes of the wire protocol (engines and
 * clients must run the same build): one process starts two clusters — etcd and 4 `cairn engine`
 * processes (2 targets each, warmed up, as the `engines` suite) — one from each worktree, connects
 * a client of the same build to each (their compiled dist/index.js), and measures them in
 * alternating rounds: the rate, the client's CPU per operation (process.cpuUsage; only one client
 * works in a round) and its engines' (/proc). The idle cluster of a round costs next to nothing.
 *
 * - `put [qd] [n] [rounds]`: new-object 100-byte EC_2P1G1 puts, `qd` started together and awaited together.
 * - `get [qd] [n] [rounds]`: gets of existing 100-byte EC_2P1G1 values (4,096 objects, scattered order).
 *
 * `CAIRN_XB_BASE` and `CAIRN_XB_NEW` name the two worktrees (built: dist/, native/; new defaults
 * to this checkout). Run with CAIRN_BENCH_DIST_READY=1 so that each cluster's engines run their
 * tree's compiled library:
 * `CAIRN_BENCH_DIST_READY=1 CAIRN_XB_BASE=/tmp/wt-base node --import tsx --import ./bench/lib/compiled.mjs bench/engines-xb.ts put 16 4000 8`.
 * Not a suite (no `.bench.ts`).
 */
import { join } from 'node:path';
import { alternateRounds, median as med } from './lib/ab-rounds.js';

const mode = process.argv[2] ?? 'put';
const [qd, n, rounds] = [Number(process.argv[3] ?? 16), Number(process.argv[4] ?? 4000), Number(process.argv[5] ?? 8)];
const here = new URL('..', import.meta.url).pathname;
const trees: Record<string, string> = { base: process.env.CAIRN_XB_BASE ?? '', new: process.env.CAIRN_XB_NEW ?? here };
if (!trees.base) throw new Error('set CAIRN_XB_BASE to the base worktree (built)');

interface Obj { update(d: string, a: string, v: Uint8Array): Promise<void>; fetch(d: string, a: string): Promise<Uint8Array | undefined> }
interface Cont { openTargets(): Promise<void>; object(name: string): Obj }
interface PoolLike { createContainer(name: string, o: { oclass: string }): Promise<Cont>; close(): Promise<void> }
interface ClusterLike { etcdUrl: string; pool: string; secret: string; engines: Array<{ child: { pid?: number } } | undefined>; stop(): Promise<void> }

const sides: Record<string, { cluster: ClusterLike; pool: PoolLike; cont: Cont; pids: number[] }> = {};
try {
  // (the cluster started second measured ~0.84x the engine CPU per put of the first in an A/A run
  // of one build: CAIRN_XB_FIRST=new starts the new build's first; quote both orders)
  const order = process.env.CAIRN_XB_FIRST === 'new' ? ['new', 'base'] : ['base', 'new'];
  for (const k of order) {
    const tree = trees[k]!;
    const { Cluster } = await import(join(tree, 'bench/cluster.ts')) as { Cluster: { start(o: Record<string, unknown>): Promise<ClusterLike> } };
    const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 5, excludeDelayMs: 60_000, scmBytes: '256M', dataBytes: '4096M', warmUp: true });
    const P = (await import(join(tree, 'dist/index.js')) as { Pool: { connect(o: Record<string, unknown>): Promise<PoolLike> } }).Pool;
    const pool = await P.connect({ etcd: cluster.etcdUrl, pool: cluster.pool, secret: cluster.secret });
    const cont = await pool.createContainer(`xb-${k}`, { oclass: 'EC_2P1G1' });
    await cont.openTargets();
    sides[k] = { cluster, pool, cont, pids: cluster.engines.map((e) => e!.child.pid!) };
  }
  const value = new Uint8Array(100).fill(7);
  let seq = 0;
  const OBJECTS = 4096;
  const scatter = Array.from({ length: OBJECTS }, (_, i) => (i * 2654435761) % OBJECTS);
  const run = async (k: string, count: number) => {
    const c = sides[k]!.cont;
    for (let next = 0; next < count;) {
      const m = Math.min(qd, count - next);
      if (mode === 'put') await Promise.all(Array.from({ length: m }, () => c.object(`${k}-${seq++}`).update('d', 'a', value)));
      else await Promise.all(Array.from({ length: m }, (_, j) => c.object(`g-${scatter[(next + j) % OBJECTS]!}`).fetch('d', 'a')));
      next += m;
    }
  };
  if (mode === 'get') for (const k of Object.keys(sides)) for (let i = 0; i < OBJECTS; i += 64) await Promise.all(Array.from({ length: 64 }, (_, j) => sides[k]!.cont.object(`g-${i + j}`).update('d', 'a', value)));
  console.log(`clusters started: ${order.join(' then ')}`);
  for (const k of Object.keys(sides)) { const end = performance.now() + 3000; while (performance.now() < end) await run(k, 10 * qd); }
  const res = await alternateRounds(rounds, n, run, (k) => sides[k]!.pids);
  const ratio = (j: number) => res.new.map((x, i) => x[j]! / res.base[i]![j]!);
  console.log(`${mode} qd${qd}, new/base per round: client CPU ${ratio(1).map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio(1)).toFixed(3)}); engines CPU ${ratio(2).map((x) => x.toFixed(3)).join(' ')} (median ${med(ratio(2)).toFixed(3)})`);
} finally {
  for (const s of Object.values(sides)) { await s.pool.close().catch(() => undefined); await s.cluster.stop().catch(() => undefined); }
}
