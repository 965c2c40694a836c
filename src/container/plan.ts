/**
 * Planning a commit: turn one op into the shard writes that apply it, on the targets of its
 * layout. Writes reach the stable target of every shard that accepts writes, plus the new target
 * of shards a rebuild or rebalance is moving (so the move never misses a concurrent write). A value
 * is only written while its group keeps enough healthy shards to read it back.
 */
import type { ObjectClass } from '../../placement/index.js';
import { dkeyGroup } from '../../placement/index.js';
import { assert } from '../../core/errors.js';
import { ObjectError } from '../io/errors.js';
import { unitOid, type ShardStore } from '../io/shard-store.js';
import { planSingle, planArray, groupShards, writeOpts, type ApplyContext, type IoContext, type ShardPlan, type ShardWrite } from '../io/io.js';
import type { Op } from './ops.js';

/** Where an object lives and which targets take writes, as planning needs it. */
export interface PlanView {
  /** The object's layout of record: target per shard, per group. */
  groups: number[][];
  /** Its object class. */
  cls: ObjectClass;
  /** Shards a pending rebuild / rebalance moves: shard -> new target. */
  moved: ReadonlyMap<number, number>;
  /** Whether a target accepts writes. */
  writable(t: number): boolean;
  /** Whether a target serves reads. */
  available(t: number): boolean;
}

/**
 * Plan one op's shard writes at `epoch` (EC read-modify-write reads here: hold the dkey lock).
 * Synchronous except for array writes (their plan may read the stripe first): a commit of anything
 * else takes no promise or microtask turn here. Invalid input throws synchronously.
 */
export function planOp(io: IoContext, view: PlanView, op: Op, epoch: bigint): ShardPlan | Promise<ShardPlan> {
  if (!(epoch > 0n)) assert(false, 'commits are at positive epochs', { epoch: String(epoch) });
  const { groups, cls } = view;
  switch (op.kind) {
    case 'single': {
      const g = dkeyGroup(op.dkey, groups.length);
      if (cls.kind !== 'ec' && view.moved.size === 0) return planCopies(io, view, op, g, epoch);
      return checkReadable(view, op.oid, g, live(view, planSingle(io, cls, groups, g, op.oid, op.dkey, op.akey, op.value, epoch)));
    }
    case 'array': {
      const g = dkeyGroup(op.dkey, groups.length);
      return planArray(io, cls, groups, g, op.oid, op.dkey, op.akey, op.offset, op.data, op).then((ws) => checkReadable(view, op.oid, g, live(view, ws)));
    }
    case 'punchObject':
      return everyShard(view, groups.map((_, g) => g), (s, shard, at) => s.punchObject(at.epoch, unitOid(op.oid, shard), writeOpts(at)));
    case 'punchDkey':
      return everyShard(view, [dkeyGroup(op.dkey, groups.length)], (s, shard, at) => s.punchDkey(at.epoch, unitOid(op.oid, shard), op.dkey, writeOpts(at)));
    case 'punchAkey':
      return everyShard(view, [dkeyGroup(op.dkey, groups.length)], (s, shard, at) => s.punchAkey(at.epoch, unitOid(op.oid, shard), op.dkey, op.akey, writeOpts(at)));
  }
}

/**
 * A single value of a replicated or striped object with no shard moving (the common case): the
 * value itself on every writable shard of its group, as `live(planSingle(...))` then
 * `checkReadable` give, without their intermediate arrays.
 */
function planCopies(io: IoContext, view: PlanView, op: Extract<Op, { kind: 'single' }>, g: number, epoch: bigint): ShardPlan {
  const group = view.groups[g];
  const size = view.groups[0]!.length;
  if (!group || group.length !== size || size !== view.cls.groupSize) return checkReadable(view, op.oid, g, live(view, planSingle(io, view.cls, view.groups, g, op.oid, op.dkey, op.akey, op.value, epoch)));
  const { oid, dkey, akey, value } = op;
  const out: ShardPlan = [];
  let healthy = 0;
  for (let i = 0; i < size; i++) {
    const target = group[i]!;
    if (view.available(target)) healthy++;
    if (!view.writable(target)) continue;
    const shard = g * size + i;
    out.push({ target, shard, apply: (s, at) => s.updateSingle(at.epoch, unitOid(oid, shard), dkey, akey, value, writeOpts(at)) });
  }
  if (healthy < 1) throw new ObjectError('DATA_LOST', `object ${oid.toString(16)}: group ${g} has ${healthy} healthy shard(s), needs 1`, { oid: oid.toString(16), group: g });
  return out;
}

/** Keep the writes whose target accepts writes, and add the new target of every moving shard. */
function live(view: PlanView, ws: ShardPlan): ShardPlan {
  const out: ShardPlan = ws.filter((w) => view.writable(w.target));
  out.release = ws.release;
  for (const w of ws) {
    const to = view.moved.get(w.shard);
    if (to !== undefined && to !== w.target && view.writable(to)) out.push({ ...w, target: to });
  }
  return out;
}

/** The same write on every shard of groups `gs` (punches). */
function everyShard(view: PlanView, gs: number[], fn: (s: ShardStore, shard: number, at: ApplyContext) => Promise<void>): ShardPlan {
  return live(view, gs.flatMap((g) => groupShards(view.groups, g)).map(({ shard, target }): ShardWrite => ({ target, shard, apply: (s, at) => fn(s, shard, at) })));
}

/**
 * The group must keep enough healthy shards to read the value back: k for EC (untouched cells on
 * healthy targets still hold valid data), one replica otherwise; else DATA_LOST (buffers freed).
 */
function checkReadable(view: PlanView, oid: bigint, g: number, ws: ShardPlan): ShardPlan {
  const need = view.cls.kind === 'ec' ? view.cls.dataShards : 1;
  const healthy = groupShards(view.groups, g).filter((x) => view.available(x.target)).length;
  if (healthy < need) {
    ws.release?.();
    throw new ObjectError('DATA_LOST', `object ${oid.toString(16)}: group ${g} has ${healthy} healthy shard(s), needs ${need}`, { oid: oid.toString(16), group: g });
  }
  return ws;
}
