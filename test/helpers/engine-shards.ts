/**
 * Which shard of an object one engine holds, for tests that talk to an engine directly over RPC
 * (batches, crash windows): the shard's target and its unit object id, from the container's layout
 * and the pool map. Shard group 0 only (the tests' objects are one group).
 */
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
