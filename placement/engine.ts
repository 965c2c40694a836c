/**
 * Placement engines: compute an object's layout (target of every shard of every group) from its
 * id and the pool map, in the wasm core. `createPlacement` snapshots the map, so a layout is a pure
 * function of (oid, pool map contents). Algorithms:
 *  - 'jump-map' (default): hierarchical jump consistent hash, one independent jump per domain
 *    level (node, rank, target), retried until the shard's fault domain is unused by its group.
 *  - 'ring': consistent-hash ring with RING_VNODES virtual nodes per target, walked clockwise
 *    past used fault domains (the classic alternative, for comparison).
 * Both first place every shard state-blind (so a failure never moves a healthy shard), then give
 * each shard on a DOWN/DOWNOUT/DRAIN target a spare that avoids its siblings' fault domains.
 */
import { PlacementError } from './errors.js';
import { resolveGroups, objectClassById, MAX_GROUP_SIZE, type ObjectClass } from './classes.js';
import { assert } from '../core/errors.js';
import { OID_MAX } from './oid.js';
import { PoolMap, ELIGIBLE_STATES } from './poolmap.js';
import { PlacementCore } from './wasm.js';

/** Placement algorithms. */
export type PlacementAlgo = 'jump-map' | 'ring';
/** Every algorithm name. */
export const PLACEMENT_ALGOS: readonly PlacementAlgo[] = ['jump-map', 'ring'];
/** Virtual nodes per target on the ring. */
export const RING_VNODES = 128;
/** Objects per wasm call inside `layoutBatch` (bounds the memory of one call). */
export const BATCH_CHUNK_OBJECTS = 1 << 16;
/** Shards per wasm call inside `layoutBatch` (bounds the output buffer of one call to 4 MiB). */
export const BATCH_CHUNK_SHARDS = 1 << 20;

/** The layout of one object. */
export interface Layout {
  readonly oid: bigint;
  readonly oclass: ObjectClass;
  /** Target id of every shard, per group; within a group data shards 0..k-1, then parity. */
  readonly groups: number[][];
  /** Level at which no two shards of a group share a domain ('rank', or 'target' when degraded). */
  readonly domainLevel: string;
  /** Groups with two shards in one domain of `domainLevel` (0 unless targets are scarce). */
  readonly violations: number;
}

/** The layouts of many objects of one class, as typed arrays. */
export interface LayoutBatch {
  readonly oclass: ObjectClass;
  readonly groups: number;
  readonly groupSize: number;
  /** groups x groupSize. */
  readonly shardsPerObject: number;
  /** Target id per shard: object-major, then group, then shard. */
  readonly targets: Int32Array;
  readonly domainLevel: string;
  /** Total violating groups over the batch. */
  readonly violations: number;
}

/** A placement engine bound to one pool map snapshot. */
export interface Placement {
  readonly algo: PlacementAlgo;
  /** The snapshot (do not mutate; clone it). */
  readonly poolMap: PoolMap;
  /** The layout of one object (its class and group count come from the oid). */
  layout(oid: bigint): Layout;
  /**
   * Layouts of many objects of one class: one wasm call per chunk (at most BATCH_CHUNK_OBJECTS
   * objects and BATCH_CHUNK_SHARDS shards).
   * `oids` as bigints, or as a BigUint64Array of (low 64 bits, high 64 bits) pairs.
   */
  layoutBatch(oids: readonly bigint[] | BigUint64Array): LayoutBatch;
}

/** A placement engine for `poolMap` (snapshotted) with `algo` (default 'jump-map'). */
export function createPlacement(poolMap: PoolMap, opts: { algo?: PlacementAlgo } = {}): Placement {
  const algo = opts.algo ?? 'jump-map';
  if (!PLACEMENT_ALGOS.includes(algo)) throw new PlacementError('INVALID_ARGUMENT', `unknown placement algorithm ${JSON.stringify(algo)} (have ${PLACEMENT_ALGOS.join(', ')})`);
  return new WasmPlacement(poolMap.clone(), algo);
}

const HEADER_WORDS = 16;

class WasmPlacement implements Placement {
  private readonly core = new PlacementCore();
  /** Static image offsets: [levelInfo, eligible, ring points, ring targets]. */
  private readonly img: { levelInfo: number; eligible: number; ringPts: number; ringTgt: number; ringSize: number };
  /** Per effective fault level: [domainOf, domainStart, domainCount, nDomains]. */
  private readonly domainImg = new Map<number, { dom: number; ds: number; dc: number; n: number }>();

  constructor(readonly poolMap: PoolMap, readonly algo: PlacementAlgo) {
    const core = this.core, pm = poolMap;
    const L = pm.levelNamesList.length;
    const n = pm.targets.length;
    const levelInfo = core.reserve(12 * L);
    const ptrs: number[] = [];
    for (let l = 0; l < L; l++) {
      const { start, count } = pm.levelArrays(l);
      const sp = core.reserve(4 * start.length), cp = core.reserve(4 * count.length);
      new Int32Array(core.buffer, sp, start.length).set(start);
      new Int32Array(core.buffer, cp, count.length).set(count);
      ptrs.push(start.length, sp, cp);
    }
    new Int32Array(core.buffer, levelInfo, 3 * L).set(ptrs);
    const eligible = core.reserve(n);
    const states = pm.stateList;
    const ev = new Uint8Array(core.buffer, eligible, n);
    for (let i = 0; i < n; i++) ev[i] = ELIGIBLE_STATES.has(states[i]!) ? 1 : 0;
    let ringPts = 0, ringTgt = 0, ringSize = 0;
    if (algo === 'ring') {
      const ring = buildRing(n);
      ringSize = ring.points.length;
      ringPts = core.reserve(8 * ringSize); ringTgt = core.reserve(4 * ringSize);
      new BigUint64Array(core.buffer, ringPts, ringSize).set(ring.points);
      new Int32Array(core.buffer, ringTgt, ringSize).set(ring.targets);
    }
    this.img = { levelInfo, eligible, ringPts, ringTgt, ringSize };
  }

  /** Effective fault level for groups of `groupSize`: the configured one, or finer when too few domains. */
  private levelFor(groupSize: number): number {
    const pm = this.poolMap, L = pm.levelNamesList.length;
    if (groupSize > pm.targets.length) {
      throw new PlacementError('INSUFFICIENT_TARGETS', `a group of ${groupSize} shards needs ${groupSize} targets, pool has ${pm.targets.length}`, { groupSize, targets: pm.targets.length });
    }
    let l = pm.faultLevel;
    while (l < L && pm.domainCount(l) < groupSize) l++;
    return l;
  }

  private domains(level: number) {
    let d = this.domainImg.get(level);
    if (!d) {
      const pm = this.poolMap, core = this.core, n = pm.targets.length;
      const of = pm.domainOfTargets(level);
      const nd = pm.domainCount(level);
      const starts = new Int32Array(nd), counts = new Int32Array(nd);
      starts.fill(-1);
      for (let t = 0; t < n; t++) { const x = of[t]!; if (starts[x] === -1) starts[x] = t; counts[x]!++; }
      const dom = core.reserve(4 * n), ds = core.reserve(4 * nd), dc = core.reserve(4 * nd);
      new Int32Array(core.buffer, dom, n).set(of);
      new Int32Array(core.buffer, ds, nd).set(starts);
      new Int32Array(core.buffer, dc, nd).set(counts);
      d = { dom, ds, dc, n: nd };
      this.domainImg.set(level, d);
    }
    return d;
  }

  layout(oid: bigint): Layout {
    if (typeof oid !== 'bigint' || oid < 0n || oid > OID_MAX) throw new PlacementError('INVALID_ARGUMENT', `object id must be a bigint in [0, 2^128), got ${String(oid)}`);
    const b = this.layoutBatch([oid]);
    const groups: number[][] = [];
    for (let g = 0; g < b.groups; g++) groups.push(Array.from(b.targets.subarray(g * b.groupSize, (g + 1) * b.groupSize)));
    return { oid, oclass: b.oclass, groups, domainLevel: b.domainLevel, violations: b.violations };
  }

  layoutBatch(oids: readonly bigint[] | BigUint64Array): LayoutBatch {
    let pairs: BigUint64Array;
    if (oids instanceof BigUint64Array) {
      if (oids.length % 2 !== 0) throw new PlacementError('INVALID_ARGUMENT', 'a BigUint64Array of oids holds (lo, hi) pairs: its length must be even');
      pairs = oids;
    } else {
      if (!Array.isArray(oids)) throw new PlacementError('INVALID_ARGUMENT', 'oids must be an array of bigints or a BigUint64Array');
      pairs = new BigUint64Array(oids.length * 2);
      const M = (1n << 64n) - 1n;
      oids.forEach((o, i) => {
        if (typeof o !== 'bigint' || o < 0n || o > OID_MAX) throw new PlacementError('INVALID_ARGUMENT', `object id ${i} must be a bigint in [0, 2^128)`);
        pairs[2 * i] = o & M; pairs[2 * i + 1] = o >> 64n;
      });
    }
    const count = pairs.length / 2;
    if (count === 0) throw new PlacementError('INVALID_ARGUMENT', 'layoutBatch needs at least one object id');
    // class and fixed group count of every object must agree (fixed stride output)
    const words = new Uint32Array(pairs.buffer, pairs.byteOffset, pairs.length * 2);
    const top = words[3]!;
    for (let i = 1; i < count; i++) {
      if (((words[4 * i + 3]! ^ top) & 0x00ffffff) !== 0) throw new PlacementError('INVALID_ARGUMENT', `layoutBatch: object ${i} has a different class or group count than object 0`);
    }
    const oclass = objectClassById((top >>> 16) & 0xff);
    const fixed = top & 0xffff;
    const groups = fixed !== 0 ? fixed : resolveGroups(oclass, this.poolMap);
    const gs = oclass.groupSize;
    assert(gs <= MAX_GROUP_SIZE, 'group size exceeds the wasm scratch (32 shards)', { gs });
    const level = this.levelFor(gs);
    const d = this.domains(level);
    const spo = groups * gs;
    const targets = new Int32Array(count * spo);
    const core = this.core;
    const mark = core.mark();
    let violations = 0;
    try {
      const chunk = Math.max(1, Math.min(BATCH_CHUNK_OBJECTS, count, Math.floor(BATCH_CHUNK_SHARDS / spo)));
      const hp = core.reserve(4 * HEADER_WORDS);
      const op = core.reserve(16 * chunk);
      const outp = core.reserve(4 * chunk * spo);
      const pm = this.poolMap;
      new Int32Array(core.buffer, hp, HEADER_WORDS).set([
        this.algo === 'ring' ? 1 : 0, pm.levelNamesList.length, pm.targets.length, d.n, groups, gs,
        this.img.levelInfo, this.img.eligible, d.dom, d.ds, d.dc, this.img.ringPts, this.img.ringTgt, this.img.ringSize,
      ]);
      for (let i = 0; i < count; i += chunk) {
        const n = Math.min(chunk, count - i);
        new BigUint64Array(core.buffer, op, 2 * n).set(pairs.subarray(2 * i, 2 * (i + n)));
        const v = core.exports.layoutBatch(hp, op, n, outp);
        if (v < 0) {
          throw new PlacementError('INSUFFICIENT_TARGETS', `not enough eligible targets for a group of ${gs} shards (class ${oclass.name})`, { oclass: oclass.name });
        }
        violations += v;
        targets.set(new Int32Array(core.buffer, outp, n * spo), i * spo);
      }
    } finally {
      core.release(mark);
    }
    return { oclass, groups, groupSize: gs, shardsPerObject: spo, targets, domainLevel: this.levelName(level), violations };
  }

  private levelName(l: number): string { return this.poolMap.levelNamesList[l] ?? 'target'; }
}


/** 32-bit murmur3 finaliser (ring point positions). */
function mix32(x: number): number {
  x ^= x >>> 16; x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13; x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Bits of a ring point holding its target id (MAX_POOL_TARGETS = 2^20). */
const RING_TARGET_BITS = 20;

/**
 * The ring: RING_VNODES points per target, depending on target ids only (never on states). A point
 * is a 64-bit position whose low RING_TARGET_BITS bits hold the target id, so a native sort of
 * the BigUint64Array orders positions and carries the targets along.
 */
function buildRing(n: number): { points: BigUint64Array; targets: Int32Array } {
  const size = n * RING_VNODES;
  const points = new BigUint64Array(size);
  const words = new Uint32Array(points.buffer);
  const mask = ~((1 << RING_TARGET_BITS) - 1) >>> 0;
  for (let t = 0, i = 0; t < n; t++) {
    for (let v = 0; v < RING_VNODES; v++, i++) {
      const hi = mix32((t * 0x9e3779b1 + v * 0x85ebca77 + 0x27d4eb2f) | 0);
      const lo = mix32((hi ^ (v * 0xc2b2ae3d) ^ t) | 0);
      words[2 * i] = ((lo & mask) | t) >>> 0; // little endian: low word first
      words[2 * i + 1] = hi;
    }
  }
  points.sort();
  const targets = new Int32Array(size);
  for (let i = 0; i < size; i++) targets[i] = words[2 * i]! & ((1 << RING_TARGET_BITS) - 1);
  return { points, targets };
}

