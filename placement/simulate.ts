/**
 * The placement simulator behind `cairn sim`: places M objects on a pool (regular, or blocks of
 * nodes of different shapes and capacities), applies pool changes in order (fail a target or rank,
 * drain or reintegrate a target, extend by nodes) and measures, for the initial layout and after
 * each change, load balance, load per fault domain against its weight, fault domain violations,
 * data movement against the ideal minimum, rebuild fan-out, parity load and placement rate.
 */
import { Rng } from '../core/rng.js';
import { PlacementError } from './errors.js';
import { parseObjectClass, resolveGroups } from './classes.js';
import { makeObjectId } from './oid.js';
import { PoolMap, ELIGIBLE_STATES, type PoolShape } from './poolmap.js';
import { createPlacement, type PlacementAlgo } from './engine.js';
import { parityRotationOfHalves } from './parity.js';
import { jumpConsistentHashBatch } from './jump.js';

/** Most shards (objects x shards per object) one simulation holds per layout. */
export const MAX_SIM_SHARDS = 1 << 25;
/** Most objects one simulation places. */
export const MAX_SIM_OBJECTS = 50_000_000;
/** Default dkeys per object for the parity load (each dkey rotates the group's roles). */
export const DEFAULT_SIM_DKEYS = 8;
/** Most dkeys per object the parity load simulates. */
export const MAX_SIM_DKEYS = 64;
/** Objects laid out (untimed) before each timed step, so the rate is that of optimised code. */
const WARMUP_OBJECTS = 2048;

/** A pool change, applied in order. */
export type SimChange =
  | { kind: 'fail'; target: number }
  | { kind: 'fail-rank'; rank: number }
  | { kind: 'drain'; target: number }
  | { kind: 'reintegrate'; target: number }
  | { kind: 'extend'; nodes: number };

/** Simulator input. `shape` (blocks of nodes) overrides nodes / ranksPerNode / targetsPerRank. */
export interface SimOptions extends PoolShape {
  oclass: string;
  objects: number;
  algo?: PlacementAlgo;
  changes?: SimChange[];
  seed?: number;
  /** Heterogeneous pool: blocks of nodes in pool order (the first is the placement base). */
  shape?: PoolShape[];
  /** Dkeys per object for the parity load (default DEFAULT_SIM_DKEYS; EC classes only). */
  dkeys?: number;
  /** Called after each chunk with objects laid out so far and the total over all steps. */
  onProgress?: (done: number, total: number) => void;
}

/** Load statistics over in-service targets. */
export interface LoadStats { min: number; mean: number; max: number; maxOverMean: number; stddev: number }

/** Load of the domains of one level against their weight (capacity of in-service targets). */
export interface DomainLoad {
  /** Domains of the level with in-service targets. */
  domains: number;
  /** Largest |load share / weight share - 1| over those domains. */
  maxDeviation: number;
  /** The domain (pool order index) where it occurs. */
  worst: number;
}

/** One row of the report: the initial layout or the layout after one change. */
export interface SimStep {
  change: string;
  targets: number;
  load: LoadStats;
  violations: number;
  /**
   * `ratio` = fraction / the larger of idealFraction and safetyFraction; `ontoAdded`: share of
   * moved shards landing on added targets (extend); `safetyFraction` (only when the change lifts
   * the domain level, e.g. target -> rank): shards that must leave a domain they share with a
   * sibling, a minimum for any layout that keeps the no-sharing rule at the new level.
   */
  moved: { shards: number; fraction: number; idealFraction: number; ratio: number; ontoAdded?: number; safetyFraction?: number };
  rebuildFanout: { sources: number; destinations: number } | null;
  /** Layout rate of the step against wall-clock time (falls when other processes share the cores). */
  objectsPerSecond: number;
  /**
   * Layout rate against the CPU time this process used during the step (user + system, all its
   * threads), so a figure taken on a busy machine is comparable with one taken on an idle one.
   */
  cpuObjectsPerSecond: number;
  /** Extra: pool map version and the level where the fault domain rule holds. */
  poolVersion: number;
  domainLevel: string;
  /** Load per node and per rank against their weight. */
  domainLoad: { node: DomainLoad; rank: DomainLoad };
  /** Parity writes per in-service target over objects x dkeys, roles rotated per dkey (EC only). */
  parityLoad: LoadStats | null;
}

/** One fault domain of the final layout (for reports and plots). */
export interface DomainRow { index: number; targets: number; weight: number; weightShare: number; shards: number; loadShare: number }

/** The simulator's report (the `--json` schema). */
export interface SimReport {
  algo: PlacementAlgo;
  class: string;
  objects: number;
  seed: number;
  /** `shape`: the blocks of nodes, e.g. `4x2x8,2x2x4` (`@w` = target weight when not 1). */
  pool: { nodes: number; ranks: number; targets: number; shape: string; weight: number };
  shardsPerObject: number;
  steps: SimStep[];
  /**
   * Parity rotation per dkey (EC classes): with `dkeysPerObject` dkeys per object, the parity
   * writes of the busiest shard position of a group against the group's mean (averaged over
   * groups), with fixed roles (parity on the last p positions: (k + p) / p) and rotated roles;
   * null for other classes.
   */
  parity: { dkeysPerObject: number; rotation: 'per-dkey'; groupMaxOverMean: { fixed: number; rotated: number } } | null;
  /** Per-target shard counts of the initial and the final layout, targets out of service at the end (for plots). */
  loads: { initial: number[]; final: number[]; finalOut: number[] };
  /** Nodes of the final layout with their weight and load shares (for reports and plots). */
  nodesFinal: DomainRow[];
}

/** Text form of a change, as in the report (`fail target:37`, `extend 2`). */
export function describeChange(c: SimChange): string {
  switch (c.kind) {
    case 'fail': return `fail target:${c.target}`;
    case 'fail-rank': return `fail rank:${c.rank}`;
    case 'drain': return `drain target:${c.target}`;
    case 'reintegrate': return `reintegrate target:${c.target}`;
    case 'extend': return `extend ${c.nodes}`;
  }
}

/** Text form of pool blocks: `4x2x8,2x2x4` (`@w` when a block's target weight is not 1). */
export function describeShape(blocks: readonly PoolShape[]): string {
  return blocks.map((b) => `${b.nodes}x${b.ranksPerNode}x${b.targetsPerRank}${(b.targetWeight ?? 1) !== 1 ? `@${b.targetWeight}` : ''}`).join(',');
}

function applyChange(pm: PoolMap, c: SimChange): void {
  switch (c.kind) {
    case 'fail': pm.exclude(c.target); break;
    case 'fail-rank': pm.excludeRank(c.rank); break;
    case 'drain': pm.drain(c.target); break;
    case 'reintegrate': pm.reintegrate(c.target); break;
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
  const dkeys = opts.dkeys ?? DEFAULT_SIM_DKEYS;
  if (!Number.isInteger(dkeys) || dkeys < 1 || dkeys > MAX_SIM_DKEYS) {
    throw new PlacementError('INVALID_ARGUMENT', `dkeys must be an integer in [1, ${MAX_SIM_DKEYS}], got ${dkeys}`);
  }
  const seed = opts.seed ?? 1;
  const blocks: PoolShape[] = opts.shape ?? [{ nodes: opts.nodes, ranksPerNode: opts.ranksPerNode, targetsPerRank: opts.targetsPerRank }];
  // plan every map first, so bad changes fail before any layout work
  const maps: PoolMap[] = [PoolMap.create(blocks)];
  const changes = opts.changes ?? [];
  for (const c of changes) {
    const next = maps[maps.length - 1]!.clone();
    applyChange(next, c);
    maps.push(next);
  }
  const groups = resolveGroups(oclass, maps[0]!);
  const gs = oclass.groupSize;
  const spo = groups * gs;
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
  const parityPlan = oclass.kind === 'ec' ? planParity(objects, groups, gs, dkeys, seed) : undefined;
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
    placement.layoutBatch(oids.subarray(0, 2 * Math.min(objects, WARMUP_OBJECTS)));
    const cur = new Int32Array(objects * spo);
    let violations = 0, domainLevel = '';
    const t0 = performance.now();
    const c0 = process.cpuUsage();
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
    const cpu = process.cpuUsage(c0);
    const cpuSeconds = Math.max(1e-9, (cpu.user + cpu.system) / 1e6);
    const nt = pm.targets.length;
    const load = new Array<number>(nt).fill(0);
    for (let k = 0; k < cur.length; k++) load[cur[k]!]!++;
    const inService = pm.stateList.map((s, i) => (ELIGIBLE_STATES.has(s) ? i : -1)).filter((i) => i >= 0);
    const step: SimStep = {
      change: si === 0 ? 'initial' : describeChange(changes[si - 1]!),
      targets: inService.length,
      load: loadStats(inService.map((i) => load[i]!)),
      violations,
      moved: { shards: 0, fraction: 0, idealFraction: 0, ratio: 0 },
      rebuildFanout: null,
      objectsPerSecond: objects / seconds,
      cpuObjectsPerSecond: objects / cpuSeconds,
      poolVersion: pm.version,
      domainLevel,
      domainLoad: { node: domainLoad(pm, load, 0), rank: domainLoad(pm, load, pm.levelNamesList.length - 1) },
      parityLoad: parityPlan ? parityLoadStats(parityPlan, cur, oclass.dataShards, oclass.parityShards, gs, spo, inService, nt) : null,
    };
    if (prev) {
      const before = maps[si - 1]!;
      const c = changes[si - 1]!;
      let moved = 0, ontoAdded = 0;
      const firstAdded = before.targets.length;
      for (let k = 0; k < cur.length; k++) {
        if (cur[k] !== prev[k]) { moved++; if (cur[k]! >= firstAdded) ontoAdded++; }
      }
      const lost = lostTargets(before, pm);
      let ideal: number;
      if (c.kind === 'extend') {
        // the added targets' share of the in-service weight (their capacity, not their count: an
        // extension of heavier or lighter targets should take that share of the shards)
        const w = pm.targetWeights;
        let addedW = 0, inW = 0;
        for (let t = before.targets.length; t < w.length; t++) if (ELIGIBLE_STATES.has(pm.stateList[t]!)) addedW += w[t]!;
        for (const t of inService) inW += w[t]!;
        ideal = inW > 0 ? addedW / inW : 0;
      } else if (c.kind === 'reintegrate') {
        ideal = load[c.target]! / cur.length; // the shards that return to it
      } else {
        let onLost = 0;
        for (let k = 0; k < prev.length; k++) if (lost.has(prev[k]!)) onLost++;
        ideal = onLost / cur.length;
      }
      const fraction = moved / cur.length;
      const prevLevel = steps[si - 1]!.domainLevel;
      const safety = domainLevel !== prevLevel ? sharedDomainShards(pm, prev, gs, domainLevel) / cur.length : undefined;
      const floor = Math.max(ideal, safety ?? 0);
      step.moved = { shards: moved, fraction, idealFraction: ideal, ratio: floor > 0 ? fraction / floor : (moved === 0 ? 1 : Infinity) };
      if (safety !== undefined) step.moved.safetyFraction = safety;
      if (c.kind === 'extend') step.moved.ontoAdded = moved > 0 ? ontoAdded / moved : 1;
      if (lost.size > 0) step.rebuildFanout = fanout(prev, cur, lost, gs, c.kind === 'drain');
    }
    steps.push(step);
    if (si === 0) initialLoad = load;
    finalLoad = load;
    prev = cur;
  }
  const p0 = maps[0]!, last = maps[maps.length - 1]!;
  return {
    algo, class: oclass.name, objects, seed,
    pool: { nodes: p0.nodeCount, ranks: p0.rankCount, targets: p0.targets.length, shape: describeShape(blocks), weight: sum(p0.targetWeights) },
    shardsPerObject: spo, steps,
    parity: parityPlan ? { dkeysPerObject: dkeys, rotation: 'per-dkey', groupMaxOverMean: groupParitySpread(parityPlan, oclass.dataShards, oclass.parityShards, gs, groups) } : null,
    loads: { initial: initialLoad, final: finalLoad, finalOut: last.stateList.flatMap((st, t) => (ELIGIBLE_STATES.has(st) ? [] : [t])) },
    nodesFinal: domainRows(last, finalLoad, 0),
  };
}

function sum(xs: ArrayLike<number>): number { let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i]!; return s; }

/** Shards of `layout` beyond the first of their group in a domain of level `levelName` of `pm`. */
function sharedDomainShards(pm: PoolMap, layout: Int32Array, gs: number, levelName: string): number {
  const L = pm.levelNamesList.length;
  const li = levelName === 'target' ? L : pm.levelNamesList.indexOf(levelName);
  const of = pm.domainOfTargets(li < 0 ? L : li);
  let extra = 0;
  for (let g = 0; g < layout.length; g += gs) {
    const seen = new Set<number>();
    for (let s = g; s < g + gs; s++) { const d = of[layout[s]!]!; if (seen.has(d)) extra++; else seen.add(d); }
  }
  return extra;
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

/** Shards and weight of every domain of level `l` (in-service targets only). */
function domainTotals(pm: PoolMap, load: number[], l: number): { shards: Float64Array; weight: Float64Array; targets: Int32Array } {
  const of = pm.domainOfTargets(l), nd = pm.domainCount(l), w = pm.targetWeights, st = pm.stateList;
  const shards = new Float64Array(nd), weight = new Float64Array(nd), targets = new Int32Array(nd);
  for (let t = 0; t < of.length; t++) {
    if (!ELIGIBLE_STATES.has(st[t]!)) continue;
    shards[of[t]!] += load[t]!; weight[of[t]!] += w[t]!; targets[of[t]!]!++;
  }
  return { shards, weight, targets };
}

/** Load of the domains of level `l` against their in-service weight. */
function domainLoad(pm: PoolMap, load: number[], l: number): DomainLoad {
  const { shards, weight } = domainTotals(pm, load, l);
  const S = sum(shards), W = sum(weight);
  let maxDeviation = 0, worst = 0, domains = 0;
  for (let d = 0; d < weight.length; d++) {
    if (weight[d] === 0) continue;
    domains++;
    const dev = S > 0 ? Math.abs(shards[d]! / S / (weight[d]! / W) - 1) : 0;
    if (dev > maxDeviation) { maxDeviation = dev; worst = d; }
  }
  return { domains, maxDeviation, worst };
}

/** Rows of the domains of level `l`. */
function domainRows(pm: PoolMap, load: number[], l: number): DomainRow[] {
  const { shards, weight, targets } = domainTotals(pm, load, l);
  const S = sum(shards), W = sum(weight);
  return Array.from(weight, (w, d) => ({ index: d, targets: targets[d]!, weight: w, weightShare: W > 0 ? w / W : 0, shards: shards[d]!, loadShare: S > 0 ? shards[d]! / S : 0 }));
}

/** The dkeys of the parity simulation: per object x dkey, its group and its rotation. */
interface ParityPlan { dkeys: number; group: Int32Array; rotation: Uint8Array }

function planParity(objects: number, groups: number, gs: number, dkeys: number, seed: number): ParityPlan {
  const n = objects * dkeys;
  const rng = new Rng(seed ^ 0x5eed);
  const rotation = new Uint8Array(n);
  const keys = groups > 1 ? new BigUint64Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const hi = rng.u32(), lo = rng.u32();
    rotation[i] = parityRotationOfHalves(hi, lo, gs);
    if (keys) keys[i] = (BigInt(hi) << 32n) | BigInt(lo);
  }
  // the group of a dkey, as dkeyGroup picks it: jump consistent hash of its hash
  const group = keys ? jumpConsistentHashBatch(keys, groups) : new Int32Array(n);
  return { dkeys, group, rotation };
}

/** Parity writes per in-service target: one per parity role of every (object, dkey). */
function parityLoadStats(plan: ParityPlan, layout: Int32Array, k: number, p: number, gs: number, spo: number, inService: number[], nt: number): LoadStats {
  const writes = new Float64Array(nt);
  const D = plan.dkeys;
  for (let i = 0; i < plan.rotation.length; i++) {
    const base = Math.floor(i / D) * spo + plan.group[i]! * gs, r = plan.rotation[i]!;
    for (let j = 0; j < p; j++) writes[layout[base + ((k + j + r) % gs)]!]! += 1;
  }
  return loadStats(inService.map((t) => writes[t]!));
}

/**
 * Parity writes on the busiest shard position of a group against the group's mean, averaged over
 * groups that got writes: fixed roles always give (k + p) / p; rotated ones tend to 1 with dkeys.
 */
function groupParitySpread(plan: ParityPlan, k: number, p: number, gs: number, groups: number): { fixed: number; rotated: number } {
  const D = plan.dkeys, objects = plan.rotation.length / D;
  const counts = new Float64Array(groups * gs);
  let acc = 0, n = 0;
  for (let o = 0; o < objects; o++) {
    counts.fill(0);
    for (let i = o * D; i < (o + 1) * D; i++) {
      const base = plan.group[i]! * gs, r = plan.rotation[i]!;
      for (let j = 0; j < p; j++) counts[base + ((k + j + r) % gs)]! += 1;
    }
    for (let g = 0; g < groups; g++) {
      let mx = 0, tot = 0;
      for (let x = g * gs; x < (g + 1) * gs; x++) { tot += counts[x]!; if (counts[x]! > mx) mx = counts[x]!; }
      if (tot > 0) { acc += mx / (tot / gs); n++; }
    }
  }
  return { fixed: gs / p, rotated: n > 0 ? acc / n : 0 };
}

/** min, mean, max, max/mean, population stddev. */
export function loadStats(xs: number[]): LoadStats {
  if (xs.length === 0) return { min: 0, mean: 0, max: 0, maxOverMean: 0, stddev: 0 };
  let min = Infinity, max = -Infinity, s = 0;
  for (const x of xs) { if (x < min) min = x; if (x > max) max = x; s += x; }
  const mean = s / xs.length;
  let v = 0;
  for (const x of xs) v += (x - mean) ** 2;
  return { min, mean, max, maxOverMean: mean > 0 ? max / mean : 0, stddev: Math.sqrt(v / xs.length) };
}
