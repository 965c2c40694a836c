/**
 * Reclaim: the space a rebalance's moves leave behind. A shard moved off a target that stays in
 * service (an extend's moves onto the new targets, a reintegration's moves off the spares) leaves
 * its copy there, and nothing reads it once the pool map that moved it is the layout of record.
 * Each such unit object is punched whole at the container's stable epoch, so the target's
 * aggregation frees it (a snapshot older than the punch keeps what it sees, as anywhere else).
 *
 * Safe at any time after the promotion: a shard the stable or the current layout places on the
 * target is never touched, and the punch epoch is at or above every write the old copy took
 * (writes planned with the old layout finished before the quiesce that gives it) and at or below
 * the read points of any later migration (its quiesce comes later), which punches its shard
 * whole at each of them anyway (migrate.ts). Correctness never depends on it: an interrupted
 * reclaim leaves space, never wrong data.
 */
import { containerPort, type ContainerCore } from '../container/container.js';
import { splitUnitOid } from '../io/shard-store.js';
import { throwIfAborted } from '../../core/errors.js';
import { swallowed } from '../../core/log.js';

/** Set to 0 to leave moved shards' old copies in place (tests of the migration's own guard against them). */
export const REBUILD_RECLAIM_ENV = 'CAIRN_REBUILD_RECLAIM';

/** Whether the pool reclaims after a promotion (`REBUILD_RECLAIM_ENV`, read per promotion). */
export function reclaimOn(): boolean { return process.env[REBUILD_RECLAIM_ENV] !== '0'; }

/** What a reclaim did: unit objects looked at on the targets, those punched, and the targets that failed it (their copies stay). */
export interface ReclaimResult { checked: number; punched: number; failed: number[] }

/**
 * Punch, on each of `targets` (in service), the unit objects of `cont` that neither the stable
 * nor the current layout places there and that still show content at the stable epoch.
 */
export async function reclaimContainer(cont: ContainerCore, targets: Iterable<number>, opts: { signal?: AbortSignal } = {}): Promise<ReclaimResult> {
  const port = containerPort(cont);
  const io = port.io();
  const epoch = await port.quiesce();
  const out: ReclaimResult = { checked: 0, punched: 0, failed: [] };
  for (const t of targets) {
    throwIfAborted(opts.signal);
    try {
      const store = await io.store(t);
      for await (const uoid of store.listObjectIds({ signal: opts.signal })) {
        out.checked++;
        const { oid, shard } = splitUnitOid(uoid);
        if (placedOn(port, oid, shard, t)) continue;
        let shows = false;
        for await (const _ of store.listDkeys(epoch, uoid)) { shows = true; break; }
        if (!shows) continue;
        await store.punchObject(epoch, uoid);
        out.punched++;
      }
    } catch (err) {
      throwIfAborted(opts.signal);
      // A target that fails (damage, no space for the punch record) keeps its copies: space, not data.
      swallowed('reclaim.target-failed', err);
      out.failed.push(t);
    }
  }
  return out;
}

/** Whether the stable or the current layout of `oid` places shard `shard` on target `t` (an id without a layout: kept). */
function placedOn(port: ReturnType<typeof containerPort>, oid: bigint, shard: number, t: number): boolean {
  let groups: number[][];
  try {
    groups = port.layout(oid).groups;
  } catch (err) {
    swallowed('reclaim.no-layout-kept', err); // not an object id of this container's classes: never reclaimed
    return true;
  }
  const size = groups[0]!.length;
  const g = Math.floor(shard / size);
  if (g >= groups.length || groups[g]![shard % size] === t) return true;
  return port.movedShards(oid).get(shard) === t;
}
