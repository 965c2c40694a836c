/**
 * Connected pools at 10 / 100 / 1,000 engines (issue 15, docs/scale.md): what etcd and the leader
 * carry as the pool grows, measured where this machine can measure it and modeled from those
 * measurements where it cannot. `npm run bench -- engines-scale` reruns all of it. Rows:
 *
 * - `etcd writes <event> 4 engines` (measured, real etcd + 4 `cairn engine` processes): etcd's
 *   revision counter (it counts every write) across one event each: an idle pool, a client
 *   connecting, a container created, 1,000 new-object puts, an engine joining, an engine killed
 *   (exclusion by the leader + rebuild to the stable map, with its duration), the engine
 *   restarted and reintegrated (with its duration).
 * - `pool map key <N> engines x<T> targets` (measured): bytes of the etcd `maps` key (current +
 *   stable map) for N engines of T targets each, and the time one process takes to decode it.
 * - `map propagation <W> watchers <N> engines` (measured): a real etcd, W watch streams (each its
 *   own etcd client, as every engine and client has), one write of the `maps` key of N engines;
 *   time until every watcher has received it (median of rounds; each engine then decodes it on its
 *   own host: the `decodeMs` of the map-size row). The 2N-watcher rows (every engine and as many
 *   clients) are modeled: a straight line through the measured watcher counts (etcd sends each
 *   watcher its own copy), never below the largest measured time.
 * - `rebuild fan-out <N> engines <class>` (simulated with the placement simulator, the same code as
 *   `cairn sim`): one engine (rank) of N fails; distinct targets read and written to rebuild it,
 *   shards moved, and the share of the surviving engines that take part.
 * - `etcd writes per second <N> engines` (modeled from the measured per-event counts): steady
 *   state with the stated failure and client-connect rates; lease keep-alives (not writes: etcd's
 *   leader answers them without a raft round) given beside.
 */
import { performance } from 'node:perf_hooks';
import { PoolMap, simulate } from '../placement/index.js';
import { initXxhash } from '../core/xxhash.js';
import { Etcd } from '../src/net/etcd.js';
import { encodeMaps, decodeMaps, poolPrefix } from '../src/net/protocol.js';
import { Cluster, until } from './cluster.js';
import { startEtcd } from './etcd.js';
import { median, type BenchContext, type BenchRow } from './harness.js';

/** Engine counts of the scale table. */
const ENGINE_COUNTS = [10, 100, 1000];
/** Targets per engine in the map-size rows (the bench clusters use 2; DAOS engines often serve 8-16). */
const TARGETS_PER_ENGINE = [2, 8];
/** Watch streams measured (each its own etcd client); larger counts are modeled from these. */
const WATCHERS = [1, 10, 50];
const WATCHERS_QUICK = [1, 10];
/** Map propagation rounds per (watchers, engines) cell. */
const PROPAGATION_ROUNDS = 5;
/** Objects placed by the fan-out simulation: per engine, at least the minimum (a failed engine then holds ~1,000 shards). */
const SIM_OBJECTS_PER_ENGINE = 700;
const SIM_OBJECTS_MIN = 200_000;
const SIM_CLASSES = ['EC_2P1G1', 'RP_3G1', 'EC_8P2G1'];
/** Model assumptions (docs/scale.md): engine failures per engine per day, client connects per engine per minute. */
const FAILURES_PER_ENGINE_PER_DAY = 1 / 30;
const CONNECTS_PER_ENGINE_PER_MINUTE = 1;
/** The engines' lease TTL (seconds) of the keep-alive figure (`cairn engine --lease-ttl` default). */
const LEASE_TTL_S = 5;
/** Longest one propagation round may take before the case is reported as aborted. */
const PROPAGATION_TIMEOUT_MS = 30_000;

/** etcd's revision (counts every write). */
async function revision(url: string): Promise<number> {
  const r = await fetch(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/cairn/').toString('base64') }) });
  return Number(((await r.json()) as { header: { revision: string } }).header.revision);
}

/** The `maps` key of a pool of `engines` engines (one node and rank each) of `targets` targets. */
function mapsKey(engines: number, targets: number): string {
  const map = PoolMap.create({ nodes: engines, ranksPerNode: 1, targetsPerRank: targets });
  return encodeMaps({ map, stable: map.clone(), resync: [] });
}

export default async function enginesScaleBench(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const suite = 'engines-scale';
  await initXxhash(); // pool map checksums

  // ------------------------------------------------------------ pool map size and decode time
  const mapBytes = new Map<string, number>();
  for (const n of ENGINE_COUNTS) {
    for (const t of TARGETS_PER_ENGINE) {
      const key = mapsKey(n, t);
      const times: number[] = [];
      for (let i = 0; i < (ctx.quick ? 3 : 9); i++) { const a = performance.now(); decodeMaps(key); times.push(performance.now() - a); }
      mapBytes.set(`${n}x${t}`, key.length);
      rows.push({ name: `pool map key ${n} engines x${t} targets`, suite, extra: { bytes: key.length, decodeMs: Number(median(times).toFixed(3)), kind: 'measured' } });
    }
  }

  // ------------------------------------------------------------ map propagation through etcd watches
  {
    const etcd = await startEtcd();
    const writer = await Etcd.connect(etcd.url);
    const watchers = ctx.quick ? WATCHERS_QUICK : WATCHERS;
    const clients: Etcd[] = [];
    try {
      for (let i = 0; i < Math.max(...watchers); i++) clients.push(await Etcd.connect(etcd.url));
      for (const n of ENGINE_COUNTS) {
        const key = mapsKey(n, 2);
        const perWatchers: Array<[number, number]> = [];
        for (const w of watchers) {
          ctx.progress(`engines-scale: map of ${n} engines to ${w} watchers`);
          const prefix = poolPrefix(`scale${n}w${w}`);
          let pending = 0;
          let wake: (() => void) | undefined;
          // Delivery only: every engine decodes the map on its own host, in parallel with the
          // others (the decode time is its own row); decoding W copies here would serialise them.
          const stops = await Promise.all(clients.slice(0, w).map((c) => c.watchPrefix(prefix + 'maps', (ev) => {
            if (!ev.value || ev.value.length !== key.length) return;
            if (--pending === 0) wake?.();
          })));
          const times: number[] = [];
          try {
            for (let r = 0; r < PROPAGATION_ROUNDS; r++) {
              pending = w;
              const all = new Promise<void>((resolve, reject) => {
                wake = resolve;
                setTimeout(() => reject(new Error(`map propagation to ${w} watchers took over ${PROPAGATION_TIMEOUT_MS} ms`)), PROPAGATION_TIMEOUT_MS).unref();
              });
              const a = performance.now();
              await writer.put(prefix + 'maps', key);
              await all;
              times.push(performance.now() - a);
            }
          } finally {
            for (const s of stops) await s();
          }
          const ms = median(times);
          perWatchers.push([w, ms]);
          rows.push({ name: `map propagation ${w} watchers ${n} engines`, suite, seconds: ms / 1000, extra: { medianMs: Number(ms.toFixed(2)), mapBytes: key.length, rounds: times.length, kind: 'measured' } });
        }
        // Modeled: a straight line through the measured points (least squares), at 1,000 watchers.
        const k = perWatchers.length;
        const mx = perWatchers.reduce((s, p) => s + p[0], 0) / k, my = perWatchers.reduce((s, p) => s + p[1], 0) / k;
        const slope = perWatchers.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0) / Math.max(1e-9, perWatchers.reduce((s, p) => s + (p[0] - mx) ** 2, 0));
        const at = (w: number) => Math.max(my + slope * (w - mx), perWatchers[k - 1]![1]);
        // Every engine and as many clients watch the map: 2N watchers.
        const w = 2 * n;
        rows.push({ name: `map propagation ${w} watchers ${n} engines (modeled)`, suite, seconds: at(w) / 1000, extra: { medianMs: Number(at(w).toFixed(1)), msPerWatcher: Number(slope.toFixed(4)), mapBytes: key.length, bytesSent: key.length * w, kind: 'modeled: every engine + as many clients, linear in watchers through the measured rows' } });
      }
    } finally {
      for (const c of clients) await c.close();
      await writer.close();
      await etcd.stop();
    }
  }

  // ------------------------------------------------------------ rebuild fan-out (simulated)
  for (const n of ENGINE_COUNTS) {
    for (const oclass of SIM_CLASSES) {
      ctx.progress(`engines-scale: rebuild fan-out ${n} engines ${oclass}`);
      const objects = Math.max(SIM_OBJECTS_MIN, n * SIM_OBJECTS_PER_ENGINE) / (ctx.quick ? 4 : 1);
      const rep = simulate({ nodes: n, ranksPerNode: 1, targetsPerRank: 2, oclass, objects, changes: [{ kind: 'fail-rank', rank: 0 }], seed: 15 });
      const step = rep.steps[1]!;
      const fan = step.rebuildFanout ?? { sources: 0, destinations: 0 };
      const survivingTargets = rep.pool.targets - 2;
      rows.push({
        name: `rebuild fan-out ${n} engines ${oclass}`, suite,
        extra: {
          sources: fan.sources, destinations: fan.destinations, survivingTargets,
          sourceShare: Number((fan.sources / survivingTargets).toFixed(3)), destinationShare: Number((fan.destinations / survivingTargets).toFixed(3)),
          shardsMoved: step.moved.shards, shardsPerDestination: Number((step.moved.shards / Math.max(1, fan.destinations)).toFixed(1)),
          objects, kind: 'simulated (placement simulator, as cairn sim)',
        },
      });
    }
  }

  // ------------------------------------------------------------ etcd writes per event (measured on 4 engines)
  const perEvent = new Map<string, number>();
  {
    const cluster = await Cluster.start({ engines: 4, targetsPerEngine: 2, leaseTtl: 2, excludeDelayMs: 500, txTimeoutMs: 3000 });
    try {
      const url = cluster.etcdUrl;
      const count = async (event: string, fn: () => Promise<unknown>, extra: Record<string, unknown> = {}): Promise<void> => {
        ctx.progress(`engines-scale: etcd writes for ${event}`);
        const r0 = await revision(url);
        const a = performance.now();
        await fn();
        const s = (performance.now() - a) / 1000;
        const writes = (await revision(url)) - r0;
        perEvent.set(event, writes);
        rows.push({ name: `etcd writes ${event} 4 engines`, suite, seconds: s, extra: { etcdWrites: writes, ...extra, kind: 'measured' } });
      };
      const idleS = ctx.quick ? 3 : 10;
      await count(`idle ${idleS}s`, () => new Promise((r) => setTimeout(r, idleS * 1000)));
      let pool!: Awaited<ReturnType<Cluster['connect']>>;
      await count('client connect', async () => { pool = await cluster.connect(); });
      try {
        let cont!: Awaited<ReturnType<typeof pool.createContainer>>;
        await count('container create', async () => { cont = await pool.createContainer('scale', { oclass: 'RP_2G1' }); await cont.openTargets(); });
        const value = new Uint8Array(100).fill(5);
        await count('1000 new-object puts', async () => {
          for (let i = 0; i < 1000; i += 16) await Promise.all(Array.from({ length: Math.min(16, 1000 - i) }, (_, j) => cont.object(`o${i + j}`).update('d', 'a', value)));
        });
        await count('engine join', async () => {
          const before = pool.query().targets.length;
          await cluster.startEngine(4);
          await until(() => pool.query().targets.length > before, 20_000, 'the new engine in the map');
          await pool.waitForRebuild();
        });
        const victim = cluster.engines[1]!;
        await count('engine killed, excluded, rebuilt', async () => {
          await cluster.kill(1);
          await until(() => pool.query().targets.filter((x) => x.rank === victim.rank).every((x) => x.state !== 'UPIN'), 30_000, 'the leader to exclude the killed engine');
          await pool.waitForRebuild();
        }, { leaseTtlS: 2, excludeDelayMs: 500 });
        await count('engine restarted, reintegrated, rebuilt', async () => {
          await cluster.startEngine(1);
          for (const t of pool.query().targets.filter((x) => x.rank === victim.rank)) await pool.reintegrate(t.id);
          await pool.waitForRebuild();
        });
      } finally {
        await pool.close();
      }
    } finally {
      await cluster.stop();
    }
  }

  // ------------------------------------------------------------ etcd writes per second (modeled)
  {
    const failure = (perEvent.get('engine killed, excluded, rebuilt') ?? 0) + (perEvent.get('engine restarted, reintegrated, rebuilt') ?? 0);
    const connect = perEvent.get('client connect') ?? 0;
    for (const n of ENGINE_COUNTS) {
      const failuresPerS = (n * FAILURES_PER_ENGINE_PER_DAY) / 86_400;
      const connectsPerS = (n * CONNECTS_PER_ENGINE_PER_MINUTE) / 60;
      const writesPerS = failuresPerS * failure + connectsPerS * connect;
      rows.push({
        name: `etcd writes per second ${n} engines (modeled)`, suite,
        extra: {
          writesPerSecond: Number(writesPerS.toFixed(3)), perFailureCycle: failure, perClientConnect: connect,
          perCommit: 0, keepAlivesPerSecond: Number((n / (LEASE_TTL_S / 3)).toFixed(1)),
          assumptions: `${FAILURES_PER_ENGINE_PER_DAY.toFixed(4)} failures/engine/day, ${CONNECTS_PER_ENGINE_PER_MINUTE} client connect/engine/minute, lease TTL ${LEASE_TTL_S}s`,
          kind: 'modeled from the measured per-event writes',
        },
      });
    }
  }
  return rows;
}
