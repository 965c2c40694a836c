/**
 * For tests that talk to an engine directly over RPC (batches, crash windows): a suite over a
 * two-engine cluster with a connected pool, and which shard of an object one engine holds (the
 * shard's target and its unit object id, from the container's layout and the pool map; shard
 * group 0 only: the tests' objects are one group).
 */
import { suite, type Test } from 'uvu';
import { Cluster } from './cluster.js';
import { initXxhash } from '../../core/xxhash.js';
import type { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { containerPort } from '../../src/container/container.js';
import { unitOid } from '../../src/io/shard-store.js';

/** The shard of object `name` of `c` on engine `rank`, or undefined when that engine holds none. */
export type ShardOn = (name: string) => { target: number; unit: bigint } | undefined;

/** `ShardOn` for engine `rank` (map and layout as they are now). */
export function shardsOn(pool: Pool, c: Container, rank: number): ShardOn {
  const port = containerPort(c);
  const map = pool.map;
  return (name) => {
    const oid = c.object(name).oid;
    const group = port.layout(oid).groups[0]!;
    const shard = group.findIndex((tg) => map.targets[tg]!.rank === rank);
    return shard < 0 ? undefined : { target: group[shard]!, unit: unitOid(oid, shard) };
  };
}

/** The first `count` names `o0`, `o1`, ... of which `on` finds a shard. */
export function namesWithShard(on: ShardOn, count: number): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) if (on(`o${i}`)) names.push(`o${i}`);
  return names;
}

/** One engine process of a `twoEngineSuite`'s cluster. */
export type Engine = NonNullable<Cluster['engines'][number]>;

/** What a test writing to engine 0 directly starts from (`containerOnEngine0`). */
export interface EngineZero { c: Container; map: Pool['map']; e: Engine; other: Engine; mine: ShardOn }

/**
 * A new RP_2G1 container `label` of `env`'s pool with its targets open, the map, engine 0 (`e`,
 * the one the test writes to), engine 1 (`other`) and which shards engine 0 holds (`mine`).
 */
export async function containerOnEngine0(env: TwoEngines, label: string): Promise<EngineZero> {
  const c = await env.pool.createContainer(label, { oclass: 'RP_2G1', redundancyFactor: 1 });
  await c.openTargets();
  const e = env.cluster.engines[0]!, other = env.cluster.engines[1]!;
  return { c, map: env.pool.map, e, other, mine: shardsOn(env.pool, c, e.rank) };
}

/** The cluster and pool of a `twoEngineSuite`, set before its first test. */
export interface TwoEngines { cluster: Cluster; pool: Pool }

/**
 * A uvu suite over two engines of one target each, with no exclusion and no transaction sweep
 * while it runs (a test's incomplete commits wait for what the test does next: a kill, a batch),
 * and a pool connected to them; both stopped after the suite. `durable`: whether the engines run
 * `--durable` (default: as CAIRN_ENGINE_DURABLE says, bench/cluster.ts).
 */
export function twoEngineSuite(name: string, opts: { durable?: boolean } = {}): { t: Test; env: TwoEngines } {
  const t = suite(name);
  const env = {} as TwoEngines;
  t.before(async () => {
    await initXxhash();
    env.cluster = await Cluster.start({ engines: 2, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000, txTimeoutMs: 60_000, ...(opts.durable !== undefined ? { durable: opts.durable } : {}) });
    env.pool = await env.cluster.connect();
  });
  t.after(async () => { await env.pool?.close(); await env.cluster?.stop(); });
  return { t, env };
}
