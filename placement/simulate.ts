/**
 * The placement simulator behind `cairn sim`: places M objects on a regular pool, applies pool
 * changes in order (fail a target or rank, drain a target, extend by nodes) and measures, for the
 * initial layout and after each change, load balance, fault domain violations, data movement
 * against the ideal minimum, rebuild fan-out and placement rate.
 */
import { Rng } from '../core/rng.js';
import { PlacementError } from './errors.js';
import { parseObjectClass, resolveGroups } from './classes.js';
import { makeObjectId } from './oid.js';
import { PoolMap, ELIGIBLE_STATES, type PoolShape } from './poolmap.js';
import { createPlacement, type PlacementAlgo } from './engine.js';

/** Most shards (objects x shards per object) one simulation holds per layout. */
export const MAX_SIM_SHARDS = 1 << 25;
/** Most objects one simulation places. */
export const MAX_SIM_OBJECTS = 50_000_000;

/** A pool change, applied in order. */
export type SimChange =
  | { kind: 'fail'; target: number }
  | { kind: 'fail-rank'; rank: number }
  | { kind: 'drain'; target: number }
  | { kind: 'extend'; nodes: number };

/** Simulator input. */
export interface SimOptions extends PoolShape {
  oclass: string;
  objects: number;
  algo?: PlacementAlgo;
  changes?: SimChange[];
  seed?: number;
  /** Called after each chunk with objects laid out so far and the total over all steps. */
  onProgress?: (done: number, total: number) => void;
}

/** Load statistics over in-service targets. */
export interface LoadStats { min: number; mean: number; max: number; maxOverMean: number; stddev: number }

/** One row of the report: the initial layout or the layout after one change. */
export interface SimStep {
  change: string;
  targets: number;
  load: LoadStats;
  violations: number;
  moved: { shards: number; fraction: number; idealFraction: number };
  rebuildFanout: { sources: number; destinations: number } | null;
  objectsPerSecond: number;
  /** Extra: pool map version and the level where the fault domain rule holds. */
  poolVersion: number;
  domainLevel: string;
}

/** The simulator's report (the `--json` schema). */
export interface SimReport {
  algo: PlacementAlgo;
  class: string;
  objects: number;
  seed: number;
  pool: { nodes: number; ranks: number; targets: number };
  shardsPerObject: number;
  steps: SimStep[];
  /** Per-target shard counts of the initial and the final layout (for plots). */
  loads: { initial: number[]; final: number[] };
}

/** Text form of a change, as in the report (`fail target:37`, `extend 2`). */
export function describeChange(c: SimChange): string {
  switch (c.kind) {
    case 'fail': return `fail target:${c.target}`;
    case 'fail-rank': return `fail rank:${c.rank}`;
    case 'drain': return `drain target:${c.target}`;
    case 'extend': return `extend ${c.nodes}`;
  }
}

function applyChange(pm: PoolMap, c: SimChange): void {
  switch (c.kind) {
    case 'fail': pm.exclude(c.target); break;
    case 'fail-rank': pm.excludeRank(c.rank); break;
    case 'drain': pm.drain(c.target); break;
    case 'extend': pm.extend({ nodes: c.nodes }); break;
  }
}

/** Run a simulation; throws PlacementError on bad input before doing any heavy work. */
export function simulate(opts: SimOptions): SimReport {
  const algo = opts.algo ?? 'jump-map';
  const oclass = parseObjectClass(opts.oclass);
  const objects = opts.objects;
  if (!Number.isInteger(objects) || objects < 1 || objects > MAX_SIM_OBJECTS) {
    throw new PlacementError('INVALID_ARGUMENT', `objects must be an integer in [1, ${MAX_SIM_OBJECTS}], got ${objects}`);
  }
  const seed = opts.seed ?? 1;
  // plan every map first, so bad changes fail before any layout work
  const maps: PoolMap[] = [PoolMap.create(opts)];
  const changes = opts.changes ?? [];
  for (const c of changes) {
    const next = maps[maps.length - 1]!.clone();
    applyChange(next, c);
    maps.push(next);
  }
  const groups = resolveGroups(oclass, maps[0]!);
  const spo = groups * oclass.groupSize;
  if (objects * spo > MAX_SIM_SHARDS) {
    throw new PlacementError('INVALID_ARGUMENT', `${objects} objects x ${spo} shards exceeds the simulator limit of ${MAX_SIM_SHARDS} shards: use fewer --objects`);
  }
  // object ids: random user parts, class (and the group count fixed at creation) in the high bits
  const rng = new Rng(seed);
  const hi = makeObjectId(0n, oclass, { groups: oclass.groups === 'X' ? groups : 0 }) >> 64n;
  const oids = new BigUint64Array(2 * objects);
  for (let i = 0; i < objects; i++) {
    oids[2 * i] = rng.u64();
    oids[2 * i + 1] = hi | BigInt(rng.u32());
  }
  const chunk = 1 << 16;
  const total = objects * maps.length;
  let done = 0;
  const steps: SimStep[] = [];
  let prev: Int32Array | undefined;
  let initialLoad: number[] = [];
  let finalLoad: number[] = [];
  for (let si = 0; si < maps.length; si++) {
    const pm = maps[si]!;
    const placement = createPlacement(pm, { algo });
    const cur = new Int32Array(objects * spo);
    let violations = 0, domainLevel = '';
    const t0 = performance.now();
    for (let i = 0; i < objects; i += chunk) {
      const n = Math.min(chunk, objects - i);
      const b = placement.layoutBatch(oids.subarray(2 * i, 2 * (i + n)));
      cur.set(b.targets, i * spo);
      violations += b.violations;
      domainLevel = b.domainLevel;
      done += n;
      opts.onProgress?.(done, total);
    }
    const seconds = Math.max(1e-9, (performance.now() - t0) / 1000);
    const nt = pm.targets.length;
    const load = new Array<number>(nt).fill(0);
    for (let k = 0; k < cur.length; k++) load[cur[k]!]!++;
    const inService = pm.stateList.map((s, i) => (ELIGIBLE_STATES.has(s) ? i : -1)).filter((i) => i >= 0);
    const step: SimStep = {
      change: si === 0 ? 'initial' : describeChange(changes[si - 1]!),
      targets: inService.length,
      load: loadStats(inService.map((i) => load[i]!)),
      violations,
      moved: { shards: 0, fraction: 0, idealFraction: 0 },
      rebuildFanout: null,
      objectsPerSecond: objects / seconds,
      poolVersion: pm.version,
      domainLevel,
    };
    if (prev) {
      const before = maps[si - 1]!;
      let moved = 0;
      for (let k = 0; k < cur.length; k++) if (cur[k] !== prev[k]) moved++;
      const lost = lostTargets(before, pm);
      let ideal: number;
      const c = changes[si - 1]!;
      if (c.kind === 'extend') {
        const added = pm.targets.length - before.targets.length;
        ideal = added / inService.length;
      } else {
        let onLost = 0;
        for (let k = 0; k < prev.length; k++) if (lost.has(prev[k]!)) onLost++;
        ideal = onLost / cur.length;
      }
      step.moved = { shards: moved, fraction: moved / cur.length, idealFraction: ideal };
      if (lost.size > 0) step.rebuildFanout = fanout(prev, cur, lost, oclass.groupSize, c.kind === 'drain');
    }
    steps.push(step);
    if (si === 0) initialLoad = load;
    finalLoad = load;
    prev = cur;
  }
  const p0 = maps[0]!;
  return {
    algo, class: oclass.name, objects, seed,
    pool: { nodes: p0.nodeCount, ranks: p0.rankCount, targets: p0.targets.length },
    shardsPerObject: spo, steps, loads: { initial: initialLoad, final: finalLoad },
  };
}

/** Targets eligible in `before` and not in `after`. */
function lostTargets(before: PoolMap, after: PoolMap): Set<number> {
  const out = new Set<number>();
  before.stateList.forEach((s, i) => { if (ELIGIBLE_STATES.has(s) && !ELIGIBLE_STATES.has(after.stateList[i]!)) out.add(i); });
  return out;
}

/**
 * Rebuild fan-out: destinations are the distinct targets receiving shards that were on `lost`;
 * sources the distinct targets read to rebuild them (the surviving shards of each affected group,
 * or for a drain the draining target itself).
 */
function fanout(prev: Int32Array, cur: Int32Array, lost: Set<number>, gs: number, drain: boolean): { sources: number; destinations: number } {
  const src = new Set<number>(), dst = new Set<number>();
  for (let k = 0; k < prev.length; k++) {
    if (!lost.has(prev[k]!)) continue;
    dst.add(cur[k]!);
    if (drain) { src.add(prev[k]!); continue; }
    const g0 = k - (k % gs);
    for (let j = g0; j < g0 + gs; j++) if (j !== k && !lost.has(prev[j]!)) src.add(cur[j]!);
  }
  return { sources: src.size, destinations: dst.size };
}

/** min, mean, max, max/mean, population stddev. */
export function loadStats(xs: number[]): LoadStats {
  if (xs.length === 0) return { min: 0, mean: 0, max: 0, maxOverMean: 0, stddev: 0 };
  let min = Infinity, max = -Infinity, sum = 0;
  for (const x of xs) { if (x < min) min = x; if (x > max) max = x; sum += x; }
  const mean = sum / xs.length;
  let v = 0;
  for (const x of xs) v += (x - mean) ** 2;
  return { min, mean, max, maxOverMean: mean > 0 ? max / mean : 0, stddev: Math.sqrt(v / xs.length) };
}
