/**
 * Placement engines: compute an object's layout (target of every shard of every group) from its
 * id and the pool map, in the wasm core. `createPlacement` snapshots the map, so a layout is a pure
 * function of (oid, pool map contents). Algorithms:
 *  - 'jump-map' (default): over the map's placement base (the pool before its first extension),
 *    a hierarchical jump consistent hash, one independent jump per domain level (node, rank,
 *    target), retried until the shard's fault domain is unused by its group: the original Cairn
 *    layout, unchanged. Domains added by extensions then join each group by weighted reservoir
 *    sampling in pool order (Chao's scheme: domain j enters with its exact share of the weight and
 *    takes one member's slot), so an extension moves shards only onto the new domains, in the
 *    proportion of their weight. A base with fewer domains than a group (or none left) runs the
 *    reservoir from the first domain. See docs/placement.md.
 *  - 'ring': consistent-hash ring with RING_VNODES virtual nodes per target, walked clockwise
 *    past used fault domains (the classic alternative, for comparison).
 *  - 'straw2-like': CRUSH's straw2 descent (node, rank, target by weight) with `chooseleaf indep`
 *    retries on collisions and on failed targets (for comparison with the peer operators know).
 * jump-map and ring first place every shard state-blind (so a failure never moves a healthy
 * shard), then give each shard on a DOWN/DOWNOUT/DRAIN target a spare that avoids its siblings'
 * fault domains.
 */
import { PlacementError } from './errors.js';
import { describeValue } from '../core/describe.js';
import { resolveGroups, objectClassById, MAX_GROUP_SIZE, type ObjectClass } from './classes.js';
import { assert } from '../core/errors.js';
import { OID_MAX } from './oid.js';
import { PoolMap, ELIGIBLE_STATES } from './poolmap.js';
import { PlacementCore } from './wasm.js';
import {
  LAYOUT_ABI_MAGIC, HEADER_WORDS, H_MAGIC, H_ALGO, H_LEVELS, H_NTARGETS, H_NDOMAINS, H_GROUPS, H_GROUPSIZE,
  H_LEVELINFO, H_ELIGIBLE, H_DOMAIN, H_DSTART, H_DCOUNT, H_RINGPTS, H_RINGTGT, H_RINGSIZE, H_BASE_NODES,
  H_BASE_TARGETS, H_BASE_DOMAINS, H_GROUP_MODE, H_RES_PROB, H_RES_C, H_RES_UNIFORM, H_DWEIGHT, H_SPARE_PROB,
  H_DUNIFORM, H_TCUM, H_LEVELWEIGHT, H_STRAW_LOG, H_SEED_MAP, H_LEVEL, H_LAYOUT_VERSION, H_LIFT_PREFIX, H_LIFT_END, H_LIFT_Q, LAYOUT_V2, LAYOUT_V3, LAYOUT_V4, ALGO_JUMP_MAP, ALGO_RING, ALGO_STRAW2, MODE_JUMP_BASE,
  MODE_RESERVOIR, LAYOUT_ERR_NO_TARGETS, LAYOUT_ERR_ABI,
} from '../assembly/placement/abi.js';
import { reservoirStages, liftFill } from './reservoir.js';

/** Placement algorithms. */
export type PlacementAlgo = 'jump-map' | 'ring' | 'straw2-like';
/** Every algorithm name. */
export const PLACEMENT_ALGOS: readonly PlacementAlgo[] = ['jump-map', 'ring', 'straw2-like'];
/** Virtual nodes per target on the ring. */
export const RING_VNODES = 128;
/** Objects per wasm call inside `layoutBatch` (bounds the memory of one call). */
export const BATCH_CHUNK_OBJECTS = 1 << 16;
/** Shards per wasm call inside `layoutBatch` (bounds the output buffer of one call to 4 MiB). */
export const BATCH_CHUNK_SHARDS = 1 << 20;

const ALGO_CODES: Record<PlacementAlgo, number> = { 'jump-map': ALGO_JUMP_MAP, ring: ALGO_RING, 'straw2-like': ALGO_STRAW2 };

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
  /**
   * The layout of one object as an engine-wide shared value: every object whose class, group
   * count and shard targets are the same gets the same frozen `SharedLayout` (its `id` is dense,
   * so a caller keeps what it derives from a layout in an array by id). No allocation once the
   * layout has been seen: the hot path of a small read asks this instead of keeping a layout per
   * object. Undefined when the object's layouts are not shared (more than MAX_SHARED_SHARDS shards,
   * or its class and group count already filled their share of MAX_SHARED_LAYOUTS); ask `layout`.
   */
  sharedLayout(oid: bigint): SharedLayout | undefined;
}

/** A layout shared by every object of one class, group count and shard targets (`Placement.sharedLayout`). */
export interface SharedLayout {
  /** Dense id within its engine: 0, 1, 2, ... in order of first use. */
  readonly id: number;
  readonly oclass: ObjectClass;
  /** Target id of every shard, per group (frozen: shared by every object with this layout). */
  readonly groups: readonly (readonly number[])[];
  /** As `Layout.domainLevel`. */
  readonly domainLevel: string;
  /** As `Layout.violations`. */
  readonly violations: number;
}

/**
 * Most distinct layouts one engine shares (`sharedLayout`; about 150 bytes each). A pool of 16
 * targets has at most 240 two-replica groups; a class whose layouts are more diverse than this
 * stops being shared once it has filled the table, and its callers fall back to `layout`.
 */
export const MAX_SHARED_LAYOUTS = 1 << 14;
/** Most shards (groups x group size) of an object whose layout `sharedLayout` shares. */
export const MAX_SHARED_SHARDS = 64;

/** A placement engine for `poolMap` (snapshotted) with `algo` (default 'jump-map'). */
export function createPlacement(poolMap: PoolMap, opts: { algo?: PlacementAlgo } = {}): Placement {
  if (!(poolMap instanceof PoolMap)) throw new PlacementError('INVALID_ARGUMENT', `createPlacement needs a PoolMap, got ${describeValue(poolMap)}`);
  if (opts === null || typeof opts !== 'object') throw new PlacementError('INVALID_ARGUMENT', `placement options must be an object, got ${describeValue(opts)}`);
  const algo = opts.algo ?? 'jump-map';
  if (!PLACEMENT_ALGOS.includes(algo)) throw new PlacementError('INVALID_ARGUMENT', `unknown placement algorithm ${describeValue(algo)} (have ${PLACEMENT_ALGOS.join(', ')})`);
  return new WasmPlacement(poolMap.clone(), algo);
}

/** Wasm image of the domains at one effective fault level. */
interface LevelImage {
  level: number;
  /** Domains at this level, whole map and inside the base. */
  n: number; nBase: number;
  dom: number; ds: number; dc: number; dweight: number; duniform: number; tcum: number; spareProb: number;
  /** Host copies for the exit checks. */
  domainOf: Int32Array;
}

/** Wasm image of the reservoir stages for one (level, group size). */
interface StageImage { prob: number; c: number; uniform: number }

/** Most distinct (class, group count) headers one engine keeps for single-object layouts. */
const MAX_SINGLE_HEADERS = 256;
/** Slots of a header's shared-layout table when first used (doubles as it fills to one half). */
const SHARED_TABLE_START_SLOTS = 64;

/** A kept single-object layout header: where it and its output live in the core. */
interface SingleHeader {
  top: number;
  oclass: ObjectClass; groups: number; gs: number; spo: number; d: LevelImage;
  hp: number; outp: number; domainLevel: string;
  /** View of the output (rebuilt after the core's memory grows). */
  outView: Int32Array;
  /**
   * The layouts of this header that `sharedLayout` gave out: an open-addressing table of
   * (shared index + 1, 0 = free) hashed by the targets, the targets of each (`spo` words each,
   * in table order of insertion) and the shared values. `sharing` is false once this header
   * stopped sharing (too many shards, or the engine's table is full).
   */
  sharing: boolean;
  table: Int32Array; keys: Int32Array; shared: SharedLayout[];
}

class WasmPlacement implements Placement {
  private readonly core = new PlacementCore();
  private readonly single = new Map<number, SingleHeader>();
  /** The header used last (a pool's small I/O is mostly of one class). */
  private lastSingle: SingleHeader | undefined;
  /** Where one object id lives in the core for single-object layouts (16 bytes), and its views. */
  private readonly oidp: number;
  private oidView: BigUint64Array;
  private oidWords: Uint32Array;
  /** Layouts given out by `sharedLayout`, by id. */
  private sharedCount = 0;
  /**
   * The last `sharedLayout` answer and its oid: the reads of one array (a chunk each) ask for the
   * same object's layout again and again, a wasm run and a table probe each time (7% of an embedded
   * 1 MiB EC read's JavaScript below `read()`); the engine's map is a snapshot, so an oid's layout never changes.
   */
  private lastSharedOid = -1n;
  private lastShared: SharedLayout | undefined;
  /** Static image offsets. */
  private readonly img: { levelInfo: number; eligible: number; ringPts: number; ringTgt: number; ringSize: number; levelWeight: number; strawLog: number };
  private readonly levelImg = new Map<number, LevelImage>();
  private readonly stageImg = new Map<string, StageImage>();
  private readonly eligibleHost: Uint8Array;
  /** Top-level domains of the placement base. */
  private readonly baseNodes: number;
  /** Scratch of the exit checks: a stamp per target and per domain. */
  private stampT: Int32Array;
  private stampD = new Int32Array(0);
  private stamp = 0;

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
    this.eligibleHost = new Uint8Array(n);
    for (let i = 0; i < n; i++) this.eligibleHost[i] = ELIGIBLE_STATES.has(states[i]!) ? 1 : 0;
    new Uint8Array(core.buffer, eligible, n).set(this.eligibleHost);
    let ringPts = 0, ringTgt = 0, ringSize = 0;
    if (algo === 'ring') {
      const ring = buildRing(n);
      ringSize = ring.points.length;
      ringPts = core.reserve(8 * ringSize); ringTgt = core.reserve(4 * ringSize);
      new BigUint64Array(core.buffer, ringPts, ringSize).set(ring.points);
      new Int32Array(core.buffer, ringTgt, ringSize).set(ring.targets);
    }
    let levelWeight = 0, strawLog = 0;
    if (algo === 'straw2-like') {
      levelWeight = core.reserve(4 * (L + 1));
      const lp: number[] = [];
      for (let l = 0; l <= L; l++) {
        const w = pm.domainWeights(l);
        const p = core.reserve(8 * w.length);
        new Float64Array(core.buffer, p, w.length).set(w);
        lp.push(p);
        if (strawLog === 0 && !siblingsEqual(pm, l, w)) strawLog = 1;
      }
      new Int32Array(core.buffer, levelWeight, L + 1).set(lp);
    }
    this.img = { levelInfo, eligible, ringPts, ringTgt, ringSize, levelWeight, strawLog };
    const B = pm.baseTargets;
    this.baseNodes = pm.domainOfTargets(0)[B - 1]! + 1;
    this.stampT = new Int32Array(n);
    this.oidp = core.reserve(16);
    this.oidView = new BigUint64Array(core.buffer, this.oidp, 2);
    this.oidWords = new Uint32Array(core.buffer, this.oidp, 4);
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

  /**
   * The level the placement base alone would use for groups of `groupSize` (the first level from
   * the fault level with enough base domains), or -1 if the base has fewer targets than a group.
   */
  private baseLevelFor(groupSize: number): number {
    const pm = this.poolMap, L = pm.levelNamesList.length, B = pm.baseTargets;
    if (B < groupSize) return -1;
    let l = pm.faultLevel;
    while (l < L && pm.domainOfTargets(l)[B - 1]! + 1 < groupSize) l++;
    return l;
  }

  private domains(level: number): LevelImage {
    let d = this.levelImg.get(level);
    if (!d) {
      const pm = this.poolMap, core = this.core, n = pm.targets.length;
      const of = pm.domainOfTargets(level);
      const nd = pm.domainCount(level);
      const starts = new Int32Array(nd), counts = new Int32Array(nd);
      starts.fill(-1);
      for (let t = 0; t < n; t++) { const x = of[t]!; if (starts[x] === -1) starts[x] = t; counts[x]!++; }
      const tw = pm.targetWeights;
      const dweight = pm.domainWeights(level);
      const duniform = new Uint8Array(nd);
      const tcum = new Float64Array(n);
      for (let x = 0; x < nd; x++) {
        const s0 = starts[x]!, c = counts[x]!;
        let acc = 0, same = 1;
        for (let t = s0; t < s0 + c; t++) { acc += tw[t]!; tcum[t] = acc; if (tw[t] !== tw[s0]) same = 0; }
        duniform[x] = same;
      }
      const nBase = of[pm.baseTargets - 1]! + 1;
      // one-slot reservoir (spares): domain j >= nBase takes the spare with probability w_j / W_j
      const spareProb = new Float64Array(nd);
      let W = 0;
      for (let x = 0; x < nd; x++) { W += dweight[x]!; spareProb[x] = x < nBase ? 0 : (dweight[x]! / W) * 2 ** 32; }
      const dom = core.reserve(4 * n), ds = core.reserve(4 * nd), dc = core.reserve(4 * nd);
      const dw = core.reserve(8 * nd), du = core.reserve(nd), tc = core.reserve(8 * n), sp = core.reserve(8 * nd);
      new Int32Array(core.buffer, dom, n).set(of);
      new Int32Array(core.buffer, ds, nd).set(starts);
      new Int32Array(core.buffer, dc, nd).set(counts);
      new Float64Array(core.buffer, dw, nd).set(dweight);
      new Uint8Array(core.buffer, du, nd).set(duniform);
      new Float64Array(core.buffer, tc, n).set(tcum);
      new Float64Array(core.buffer, sp, nd).set(spareProb);
      d = { level, n: nd, nBase, dom, ds, dc, dweight: dw, duniform: du, tcum: tc, spareProb: sp, domainOf: of };
      this.levelImg.set(level, d);
      if (this.stampD.length < nd) this.stampD = new Int32Array(nd);
    }
    return d;
  }

  private stages(d: LevelImage, groupSize: number): StageImage {
    const key = `${d.level}/${groupSize}`;
    let st = this.stageImg.get(key);
    if (!st) {
      const core = this.core, nd = d.n;
      const r = reservoirStages(this.poolMap.domainWeights(d.level), groupSize);
      const prob = core.reserve(8 * nd), c = core.reserve(8 * nd), uniform = core.reserve(nd);
      new Float64Array(core.buffer, prob, nd).set(r.prob.map((p) => p * 2 ** 32));
      new Float64Array(core.buffer, c, nd).set(r.c);
      new Uint8Array(core.buffer, uniform, nd).set(r.uniform);
      st = { prob, c, uniform };
      this.stageImg.set(key, st);
    }
    return st;
  }

  layout(oid: bigint): Layout {
    checkOidArg(oid);
    // One object: the header of its class and group count is built once and kept in the core
    // (with room for its output; the oid has one slot for every header), so a layout is one wasm
    // call and no allocation besides the result.
    const s = this.singleOf(oid);
    if (s === undefined) {
      const b = this.layoutBatch([oid]);
      const groups: number[][] = [];
      for (let g = 0; g < b.groups; g++) groups.push(Array.from(b.targets.subarray(g * b.groupSize, (g + 1) * b.groupSize)));
      return { oid, oclass: b.oclass, groups, domainLevel: b.domainLevel, violations: b.violations };
    }
    const v = this.runSingle(s);
    const out = s.outView;
    this.checkLayouts(out, s.gs, s.d, v);
    const groups: number[][] = new Array(s.groups);
    for (let g = 0, i = 0; g < s.groups; g++) {
      const grp: number[] = new Array(s.gs);
      for (let k = 0; k < s.gs; k++, i++) grp[k] = out[i]!;
      groups[g] = grp;
    }
    return { oid, oclass: s.oclass, groups, domainLevel: s.domainLevel, violations: v };
  }

  sharedLayout(oid: bigint): SharedLayout | undefined {
    // (an oid that is not a valid one never equals the last valid one: checked below)
    if (this.lastShared !== undefined && oid === this.lastSharedOid) return this.lastShared;
    const l = this.sharedLayoutOf(oid);
    if (l !== undefined) { this.lastSharedOid = oid; this.lastShared = l; }
    return l;
  }

  private sharedLayoutOf(oid: bigint): SharedLayout | undefined {
    checkOidArg(oid);
    const s = this.singleOf(oid);
    if (s === undefined || !s.sharing) return undefined;
    const v = this.runSingle(s);
    const out = s.outView, spo = s.spo;
    const mask = s.table.length - 1;
    let i = hashTargets(out, spo) & mask;
    for (;;) {
      const e = s.table[i]!;
      if (e === 0) break;
      // (a layout seen before passed the exit checks: the same targets pass them again)
      if (sameTargets(s.keys, (e - 1) * spo, out, spo)) {
        const l = s.shared[e - 1]!;
        if (l.violations !== v) assert(false, 'a shared layout was counted with other violations by the core', { id: l.id, was: l.violations, now: v });
        return l;
      }
      i = (i + 1) & mask;
    }
    this.checkLayouts(out, s.gs, s.d, v);
    if (this.sharedCount >= MAX_SHARED_LAYOUTS) { s.sharing = false; return undefined; }
    return this.share(s, out, v);
  }

  /** A new shared layout of header `s` for the targets in `out` (checked). */
  private share(s: SingleHeader, out: Int32Array, v: number): SharedLayout {
    const spo = s.spo, n = s.shared.length;
    if (2 * (n + 1) > s.table.length) {
      // grow: double the table and rehash the kept targets
      const table = new Int32Array(s.table.length * 2), mask = table.length - 1;
      for (let e = 0; e < n; e++) {
        let i = hashTargets(s.keys.subarray(e * spo, (e + 1) * spo), spo) & mask;
        while (table[i] !== 0) i = (i + 1) & mask;
        table[i] = e + 1;
      }
      s.table = table;
    }
    if ((n + 1) * spo > s.keys.length) { const k = new Int32Array(Math.max(s.keys.length * 2, (n + 1) * spo)); k.set(s.keys); s.keys = k; }
    s.keys.set(out.subarray(0, spo), n * spo);
    const groups: (readonly number[])[] = new Array(s.groups);
    for (let g = 0, i = 0; g < s.groups; g++) {
      const grp: number[] = new Array(s.gs);
      for (let k = 0; k < s.gs; k++, i++) grp[k] = out[i]!;
      groups[g] = Object.freeze(grp);
    }
    const l: SharedLayout = Object.freeze({ id: this.sharedCount++, oclass: s.oclass, groups: Object.freeze(groups), domainLevel: s.domainLevel, violations: v });
    s.shared.push(l);
    const mask = s.table.length - 1;
    let i = hashTargets(out, spo) & mask;
    while (s.table[i] !== 0) i = (i + 1) & mask;
    s.table[i] = n + 1;
    return l;
  }

  /**
   * Put `oid` in the core's oid slot and find the kept header of its class and group count
   * (undefined when the engine keeps MAX_SINGLE_HEADERS headers already and this is not one).
   */
  private singleOf(oid: bigint): SingleHeader | undefined {
    // (views of a memory that grew read length 0: checked without reading the memory's buffer)
    if (this.oidWords.length === 0) { const mem = this.core.buffer; this.oidView = new BigUint64Array(mem, this.oidp, 2); this.oidWords = new Uint32Array(mem, this.oidp, 4); }
    // (a BigUint64Array element takes the low 64 bits of what it is given: no mask)
    this.oidView[0] = oid; this.oidView[1] = oid >> 64n;
    const top = this.oidWords[3]! & 0x00ffffff;
    let s = this.lastSingle;
    if (s === undefined || s.top !== top) {
      s = this.single.get(top);
      if (s === undefined) {
        if (this.single.size >= MAX_SINGLE_HEADERS) return undefined;
        s = this.singleHeader(top);
        this.single.set(top, s);
      }
      this.lastSingle = s;
    }
    return s;
  }

  /**
   * Lay out the object in the oid slot with header `s` (`singleOf` just before): the targets are
   * in `s.outView`; returns the core's violation count.
   */
  private runSingle(s: SingleHeader): number {
    const core = this.core;
    if (s.outView.length === 0) s.outView = new Int32Array(core.buffer, s.outp, s.spo);
    const v = core.exports.layoutBatch(s.hp, this.oidp, 1, s.outp);
    if (v === LAYOUT_ERR_NO_TARGETS) throw new PlacementError('INSUFFICIENT_TARGETS', `not enough eligible targets for a group of ${s.gs} shards (class ${s.oclass.name})`, { oclass: s.oclass.name });
    if (v < 0) {
      assert(v !== LAYOUT_ERR_ABI, 'placement core refused the layout header: build/placement.wasm and placement/engine.ts disagree (rebuild with npm run build:wasm)');
      assert(false, 'placement core returned an unknown code', { code: v });
    }
    return v;
  }

  /** Class, group count and fault-domain level of objects whose id's top word is `top`. */
  private shapeOf(top: number): { oclass: ReturnType<typeof objectClassById>; groups: number; gs: number; level: number; d: LevelImage } {
    const oclass = objectClassById((top >>> 16) & 0xff);
    const fixed = top & 0xffff;
    const groups = fixed !== 0 ? fixed : resolveGroups(oclass, this.poolMap);
    const gs = oclass.groupSize;
    const level = this.levelFor(gs);
    return { oclass, groups, gs, level, d: this.domains(level) };
  }

  /** The kept header (and oid / output room) of objects whose id's top word masks to `top`. */
  private singleHeader(top: number): SingleHeader {
    const { oclass, groups, gs, level, d } = this.shapeOf(top);
    const { h, seed } = this.header(d, level, gs, groups);
    const core = this.core;
    // reserved for the engine's lifetime, like the level images (never released)
    if (seed) {
      const sp = core.reserve(4 * HEADER_WORDS);
      new Int32Array(core.buffer, sp, HEADER_WORDS).set(seed);
      h[H_SEED_MAP] = sp;
    }
    this.checkHeader(h);
    const hp = core.reserve(4 * HEADER_WORDS);
    const spo = groups * gs;
    const outp = core.reserve(4 * spo);
    new Int32Array(core.buffer, hp, HEADER_WORDS).set(h);
    const sharing = spo <= MAX_SHARED_SHARDS;
    return {
      top, oclass, groups, gs, spo, d, hp, outp, domainLevel: this.levelName(level), outView: new Int32Array(core.buffer, outp, spo),
      sharing, table: new Int32Array(sharing ? SHARED_TABLE_START_SLOTS : 0), keys: new Int32Array(0), shared: [],
    };
  }

  /**
   * LAYOUT_V2/V3 seed of a lifted group (base with fewer domains than `gs` at `level`): the
   * prefix of the pool the seed lays out, which is, under LAYOUT_V3, the pool exactly as it was
   * before the extension that lifted it (the largest recorded extent with fewer than `gs` domains
   * at `level`) and, under LAYOUT_V2, the largest prefix of top-level domains with fewer than `gs`
   * domains at `level` (the same pool only when it grew a node at a time); the finer level that prefix lays
   * out at, and how many `level` domains it holds if they are alike (else 0: no eviction
   * preference). Undefined when the prefix cannot hold a group or its base has too few domains
   * at that finer level too (then the base's own layout seeds, as in LAYOUT_V1).
   */
  private liftPrefix(level: number, gs: number): { seedLevel: number; targets: number; domains: number; alike: number } | undefined {
    const pm = this.poolMap, L = pm.levelNamesList.length, nt = pm.targets.length, B = pm.baseTargets;
    const top = pm.domainOfTargets(0), ofL = pm.domainOfTargets(level);
    let T = 0;
    if (pm.layoutVersion >= LAYOUT_V3) {
      // rules 3: the pool as it was before the extension that lifted it (the largest recorded
      // size with too few domains at this level)
      for (const e of pm.extents) if (ofL[e - 1]! + 1 < gs) T = e;
    } else {
      for (let t = 1; t <= nt; t++) {
        if ((t === nt || top[t] !== top[t - 1]) && ofL[t - 1]! + 1 < gs) T = t;
      }
    }
    if (T < B || T < gs) return undefined;
    let sl = pm.faultLevel;
    while (sl < L && pm.domainOfTargets(sl)[T - 1]! + 1 < gs) sl++;
    if (sl <= level || pm.domainOfTargets(sl)[B - 1]! + 1 < gs) return undefined;
    // alike: every prefix domain at `level`, and every top-level domain, holds as many targets; one weight
    const nP = ofL[T - 1]! + 1, w = pm.targetWeights;
    const sizeL = new Int32Array(nP), sizeTop = new Int32Array(top[T - 1]! + 1);
    let alike = 1;
    for (let t = 0; t < T; t++) { sizeL[ofL[t]!]!++; sizeTop[top[t]!]!++; if (w[t] !== w[0]) alike = 0; }
    if (sizeL.some((x) => x !== sizeL[0]) || sizeTop.some((x) => x !== sizeTop[0])) alike = 0;
    return { seedLevel: sl, targets: T, domains: nP, alike };
  }

  /**
   * The layout header for groups of `gs` at `level` (its image `d`), and the seed header when the
   * base alone has too few domains at that level (checked; the caller stores it and sets
   * H_SEED_MAP): the base's own layout (LAYOUT_V1), or the layout of the lift prefix (LAYOUT_V2,
   * see liftPrefix). Reserves the cached images it needs (before any mark).
   */
  private header(d: LevelImage, level: number, gs: number, groups: number): { h: Int32Array; seed?: Int32Array } {
    // a base with too few domains at this level still had a layout of its own, at a finer level
    const lifted = d.nBase < gs && this.algo === 'jump-map';
    const v2 = this.poolMap.layoutVersion >= LAYOUT_V2;
    const prefix = lifted && v2 ? this.liftPrefix(level, gs) : undefined;
    const seedLevel = prefix ? prefix.seedLevel : lifted ? this.baseLevelFor(gs) : -1;
    const seedImg = seedLevel >= 0 ? this.domains(seedLevel) : undefined;
    const seedDomains = prefix ? this.domainsIn(seedLevel, prefix.targets) : 0;
    const seedStages = prefix && seedImg && seedDomains > seedImg.nBase ? this.stages(seedImg, gs) : undefined;
    const mode = d.nBase >= gs ? MODE_JUMP_BASE : MODE_RESERVOIR;
    const st = this.algo === 'jump-map' && (mode === MODE_RESERVOIR || d.nBase < d.n) ? this.stages(d, gs) : undefined;
    const pm = this.poolMap;
    const h = new Int32Array(HEADER_WORDS);
    h[H_MAGIC] = LAYOUT_ABI_MAGIC; h[H_ALGO] = ALGO_CODES[this.algo]; h[H_LEVELS] = pm.levelNamesList.length;
    h[H_NTARGETS] = pm.targets.length; h[H_NDOMAINS] = d.n; h[H_GROUPS] = groups; h[H_GROUPSIZE] = gs;
    h[H_LEVELINFO] = this.img.levelInfo; h[H_ELIGIBLE] = this.img.eligible; h[H_DOMAIN] = d.dom; h[H_DSTART] = d.ds; h[H_DCOUNT] = d.dc;
    h[H_RINGPTS] = this.img.ringPts; h[H_RINGTGT] = this.img.ringTgt; h[H_RINGSIZE] = this.img.ringSize;
    h[H_BASE_NODES] = this.baseNodes; h[H_BASE_TARGETS] = pm.baseTargets; h[H_BASE_DOMAINS] = d.nBase; h[H_GROUP_MODE] = mode;
    h[H_RES_PROB] = st?.prob ?? 0; h[H_RES_C] = st?.c ?? 0; h[H_RES_UNIFORM] = st?.uniform ?? 0;
    h[H_DWEIGHT] = d.dweight; h[H_SPARE_PROB] = d.spareProb; h[H_DUNIFORM] = d.duniform; h[H_TCUM] = d.tcum;
    h[H_LEVELWEIGHT] = this.img.levelWeight; h[H_STRAW_LOG] = this.img.strawLog; h[H_LEVEL] = level;
    h[H_LAYOUT_VERSION] = pm.layoutVersion; h[H_LIFT_PREFIX] = seedImg && prefix?.alike ? prefix.domains : 0;
    const fill = seedImg && prefix ? this.liftFillOf(level, gs, prefix) : undefined;
    if (fill) { h[H_LIFT_END] = fill.end; h[H_LIFT_Q] = fill.q; }
    if (!seedImg) return { h };
    // the base's own layout: the same header at the base's level, original jump-map only
    const sh = h.slice();
    sh[H_NDOMAINS] = seedImg.n; sh[H_DOMAIN] = seedImg.dom; sh[H_DSTART] = seedImg.ds; sh[H_DCOUNT] = seedImg.dc; sh[H_LEVEL] = seedImg.level;
    sh[H_BASE_DOMAINS] = seedImg.nBase; sh[H_GROUP_MODE] = MODE_JUMP_BASE;
    sh[H_RES_PROB] = 0; sh[H_RES_C] = 0; sh[H_RES_UNIFORM] = 0; sh[H_LIFT_PREFIX] = 0; sh[H_LIFT_END] = 0; sh[H_LIFT_Q] = 0;
    sh[H_NDOMAINS] = seedImg.nBase;
    if (prefix) {
      // LAYOUT_V2: the prefix's whole layout (the jump over the base, then its reservoir)
      sh[H_NDOMAINS] = seedDomains; sh[H_NTARGETS] = prefix.targets;
      if (seedStages) { sh[H_RES_PROB] = seedStages.prob; sh[H_RES_C] = seedStages.c; sh[H_RES_UNIFORM] = seedStages.uniform; }
    }
    sh[H_DWEIGHT] = seedImg.dweight; sh[H_SPARE_PROB] = seedImg.spareProb; sh[H_DUNIFORM] = seedImg.duniform; sh[H_TCUM] = seedImg.tcum;
    this.checkHeader(sh, true);
    return { h, seed: sh };
  }

  /**
   * LAYOUT_V4 lift fill (see `liftFill`): when the lift is seeded by the base alone at target
   * level and every domain of `level` up to the end of the lifting extension is alike (as many
   * targets, one weight), that end and the probability (x 2^32, u32 bits) of taking a free base
   * domain beyond the forced ones; else undefined (the LAYOUT_V3 fill and stages).
   */
  private liftFillOf(level: number, gs: number, prefix: { seedLevel: number; targets: number; domains: number; alike: number }): { end: number; q: number } | undefined {
    const pm = this.poolMap, L = pm.levelNamesList.length, B = pm.baseTargets, nt = pm.targets.length;
    if (pm.layoutVersion < LAYOUT_V4 || this.algo !== 'jump-map' || !prefix.alike || prefix.targets !== B || prefix.seedLevel !== L) return undefined;
    let end = nt;
    for (const e of pm.extents) if (e > B) { end = e; break; }
    const of = pm.domainOfTargets(level), w = pm.targetWeights;
    const R = prefix.domains, m = B / R, nL = of[end - 1]! + 1;
    if (!Number.isInteger(m)) return undefined;
    const size = new Int32Array(nL);
    for (let t = 0; t < end; t++) { size[of[t]!]!++; if (w[t] !== w[0]) return undefined; }
    if (size.some((x) => x !== m)) return undefined;
    const q = liftFill(R, m, gs, nL - R);
    if (q === undefined) return undefined;
    return { end: nL, q: Math.min(2 ** 32 - 1, Math.floor(q * 2 ** 32)) | 0 };
  }

  /** Domains of level `l` among the first `targets` targets (pool order). */
  private domainsIn(l: number, targets: number): number { return this.poolMap.domainOfTargets(l)[targets - 1]! + 1; }

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
    const { oclass, groups, gs, level, d } = this.shapeOf(top);
    const spo = groups * gs;
    const targets = new Int32Array(count * spo);
    // cached images are reserved before the mark: everything after it is released on return
    const { h, seed } = this.header(d, level, gs, groups);
    const core = this.core;
    const mark = core.mark();
    let violations = 0;
    try {
      const chunk = Math.max(1, Math.min(BATCH_CHUNK_OBJECTS, count, Math.floor(BATCH_CHUNK_SHARDS / spo)));
      const hp = core.reserve(4 * HEADER_WORDS);
      const op = core.reserve(16 * chunk);
      const outp = core.reserve(4 * chunk * spo);
      if (seed) {
        const sp = core.reserve(4 * HEADER_WORDS);
        new Int32Array(core.buffer, sp, HEADER_WORDS).set(seed);
        h[H_SEED_MAP] = sp;
      }
      this.checkHeader(h);
      new Int32Array(core.buffer, hp, HEADER_WORDS).set(h);
      for (let i = 0; i < count; i += chunk) {
        const n = Math.min(chunk, count - i);
        new BigUint64Array(core.buffer, op, 2 * n).set(pairs.subarray(2 * i, 2 * (i + n)));
        const v = core.exports.layoutBatch(hp, op, n, outp);
        if (v === LAYOUT_ERR_NO_TARGETS) {
          throw new PlacementError('INSUFFICIENT_TARGETS', `not enough eligible targets for a group of ${gs} shards (class ${oclass.name})`, { oclass: oclass.name });
        }
        assert(v !== LAYOUT_ERR_ABI, 'placement core refused the layout header: build/placement.wasm and placement/engine.ts disagree (rebuild with npm run build:wasm)');
        assert(v >= 0, 'placement core returned an unknown code', { code: v });
        const got = new Int32Array(core.buffer, outp, n * spo);
        this.checkLayouts(got, gs, d, v);
        violations += v;
        targets.set(got, i * spo);
      }
    } finally {
      core.release(mark);
    }
    return { oclass, groups, groupSize: gs, shardsPerObject: spo, targets, domainLevel: this.levelName(level), violations };
  }

  /** Entry invariants of a layout call: the header describes a sane map and group (`seed`: a base-only header). */
  private checkHeader(h: Int32Array, seed = false): void {
    const gs = h[H_GROUPSIZE]!, nd = h[H_NDOMAINS]!, nt = h[H_NTARGETS]!;
    assert(gs >= 1 && gs <= MAX_GROUP_SIZE, 'group size out of range', { gs });
    assert(h[H_GROUPS]! >= 1, 'groups must be positive', { groups: h[H_GROUPS] });
    assert(nt >= gs && nd >= 1 && nd <= nt, 'domain and target counts', { nd, nt, gs });
    assert(h[H_BASE_NODES]! >= 1 && h[H_BASE_TARGETS]! >= 1 && h[H_BASE_TARGETS]! <= nt, 'placement base', { baseNodes: h[H_BASE_NODES], baseTargets: h[H_BASE_TARGETS] });
    assert(h[H_BASE_DOMAINS]! >= 1 && h[H_BASE_DOMAINS]! <= nd, 'base domains', { baseDomains: h[H_BASE_DOMAINS], nd });
    assert(h[H_GROUP_MODE] === MODE_RESERVOIR || h[H_BASE_DOMAINS]! >= gs, 'a jump-map base must hold a whole group', { gs });
    assert(h[H_LEVEL]! >= 0 && h[H_LEVEL]! <= h[H_LEVELS]!, 'effective level out of range', { level: h[H_LEVEL] });
    assert(seed || h[H_ALGO] !== ALGO_JUMP_MAP || (h[H_GROUP_MODE] === MODE_JUMP_BASE && h[H_BASE_DOMAINS] === nd) || h[H_RES_PROB] !== 0, 'reservoir stages missing');
    assert(!seed || (h[H_GROUP_MODE] === MODE_JUMP_BASE && h[H_SEED_MAP] === 0), 'a seed header runs the jump-map over its base only');
    assert(!seed || nd === h[H_BASE_DOMAINS] || h[H_RES_PROB] !== 0, 'seed reservoir stages missing');
  }

  /**
   * Exit invariants of a layout call: every target id in range and eligible, no target twice in a
   * group, and the groups with two shards in one domain are exactly the `violations` the core
   * counted (none when the level has enough domains: the core only shares a domain when forced).
   */
  private checkLayouts(out: Int32Array, gs: number, d: LevelImage, violations: number): void {
    if (this.stamp > 0x7fffffff - out.length / gs - 1) { this.stampT.fill(0); this.stampD.fill(0); this.stamp = 0; }
    const r = checkGroups(out, gs, this.eligibleHost, d.domainOf, this.stampT, this.stampD, this.stamp);
    this.stamp = r.stamp;
    const bad = r.shared;
    // (tested before the call: the details object is built only on failure)
    if (bad !== violations) assert(false, 'layout violations differ from the core count', { counted: bad, core: violations });
  }

  private levelName(l: number): string { return this.poolMap.levelNamesList[l] ?? 'target'; }
}

/** An object id argument: a bigint in [0, 2^128). */
function checkOidArg(oid: bigint): void {
  if (typeof oid !== 'bigint' || oid < 0n || oid > OID_MAX) throw new PlacementError('INVALID_ARGUMENT', `object id must be a bigint in [0, 2^128), got ${describeValue(oid)}`);
}

/** A 32-bit hash of the first `n` target ids of `t` (the shared-layout tables). */
function hashTargets(t: Int32Array, n: number): number {
  let h = 0x2545f491 ^ n;
  for (let i = 0; i < n; i++) { h = Math.imul(h ^ t[i]!, 0x9e3779b1); h ^= h >>> 15; }
  return h >>> 0;
}

/** Whether `keys[at, at+n)` equals `t[0, n)`. */
function sameTargets(keys: Int32Array, at: number, t: Int32Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (keys[at + i] !== t[i]) return false;
  return true;
}

/**
 * The hot loop of `checkLayouts` (every shard of a batch), a plain function over typed arrays so it
 * allocates nothing and stays monomorphic: throws (InvariantError) on a shard out of range or out of
 * service or two shards of a group on one target; returns the groups sharing a domain and the last
 * stamp used (stamps mark targets and domains seen in the current group, `stamp + 1` onwards).
 */
function checkGroups(out: Int32Array, gs: number, elig: Uint8Array, of: Int32Array, sT: Int32Array, sD: Int32Array, stamp: number): { shared: number; stamp: number } {
  const nt = elig.length;
  let bad = 0;
  for (let g = 0; g < out.length; g += gs) {
    stamp++;
    let shared = 0;
    for (let s = g; s < g + gs; s++) {
      const t = out[s]!;
      // `t >>> 0 < nt` is the range check (negative ids wrap above nt)
      if (!(t >>> 0 < nt && elig[t] === 1)) assert(false, 'layout put a shard on a target out of range or out of service', { target: t, shard: s - g });
      if (sT[t] === stamp) assert(false, 'layout put two shards of a group on one target', { target: t });
      sT[t] = stamp;
      const x = of[t]!;
      shared |= sD[x] === stamp ? 1 : 0;
      sD[x] = stamp;
    }
    bad += shared;
  }
  return { shared: bad, stamp };
}

/** Whether the children of every domain of level l-1 (top level: all of level 0) weigh the same. */
function siblingsEqual(pm: PoolMap, l: number, w: Float64Array): boolean {
  if (l === 0) return w.every((x) => x === w[0]);
  const { start, count } = pm.levelArrays(l - 1);
  for (let p = 0; p < start.length; p++) {
    for (let i = start[p]! + 1; i < start[p]! + count[p]!; i++) if (w[i] !== w[start[p]!]) return false;
  }
  return true;
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

