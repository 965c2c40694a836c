/**
 * The pool map: a tree of fault domains (by default node -> rank -> target, any depth from JSON)
 * whose leaves are targets with a state. Every change bumps `version`. Target ids are 0-based in
 * pool order (depth-first order of the tree), so a layout is a list of target ids.
 *
 * Placement eligibility (see ELIGIBLE_STATES): UPIN, UP (being reintegrated) and NEW (being added)
 * targets receive shards; DOWN, DOWNOUT and DRAIN targets do not: their shards go to spare targets.
 *
 * Weights: every target has a relative `weight` (its capacity; default 1), and a domain weighs the
 * sum of its targets, so a node with half the targets (or half the capacity) gets half the shards.
 *
 * The placement base (`placement.baseTargets`): the targets the map had before its first
 * extension. Layouts place groups over the base with the original jump-map and let later domains
 * join by weighted reservoir sampling, so growing a pool moves shards only onto the added targets
 * and never changes the layout of a map that was never extended. A map without the field (every
 * map written before it existed) is all base: its layouts are exactly the original ones.
 */
import { xxh64 } from '../core/xxhash.js';
import { PlacementError } from './errors.js';
import { describeValue } from '../core/describe.js';
import { LAYOUT_V1, LAYOUT_V2, LAYOUT_V3, LAYOUT_V4 } from '../assembly/placement/abi.js';

/** Layout rules given to maps extended (or created from several blocks) by this build. */
export const LAYOUT_VERSION_LATEST = LAYOUT_V4;
/** Every layout rule set this build lays out. */
export const LAYOUT_VERSIONS: readonly number[] = [LAYOUT_V1, LAYOUT_V2, LAYOUT_V3, LAYOUT_V4];

/** Target states, as in DAOS. */
export type TargetState = 'UP' | 'UPIN' | 'DOWN' | 'DOWNOUT' | 'NEW' | 'DRAIN';
/** Every target state. */
export const TARGET_STATES: readonly TargetState[] = ['UP', 'UPIN', 'DOWN', 'DOWNOUT', 'NEW', 'DRAIN'];
/** States whose targets receive shards in a layout. */
export const ELIGIBLE_STATES: ReadonlySet<TargetState> = new Set<TargetState>(['UPIN', 'UP', 'NEW']);

/** Limits that keep a map and its wasm image bounded. */
export const MAX_POOL_TARGETS = 1 << 20;
export const MAX_POOL_LEVELS = 8;
/** Largest relative target weight (the smallest is its inverse): keeps weight ratios sane. */
export const MAX_TARGET_WEIGHT = 1e6;

/** One target as seen by callers. */
export interface TargetInfo {
  /** 0-based position in pool order. */
  readonly id: number;
  /** Index (pool order) of its top-level domain. */
  readonly node: number;
  /** Index (pool order) of its innermost domain (the engine / rank). */
  readonly rank: number;
  readonly state: TargetState;
  /** Index (pool order, per level) of its domain at every level, top-down. */
  readonly path: readonly number[];
}

/** JSON description of one target: `weight` is its relative capacity (default 1, omitted when 1). */
export interface TargetJSON { id: number; state?: TargetState; weight?: number }
/** JSON description of one domain: inner domains have `children`, innermost ones `targets`. */
export interface DomainJSON { name?: string; children?: DomainJSON[]; targets?: TargetJSON[] }
/** Placement facts recorded in the map (see the module comment). */
export interface PlacementJSON {
  /** Targets [0, baseTargets) form the jump-map base: the pool before its first extension. */
  baseTargets: number;
  /**
   * The layout rules (LAYOUT_V1 .. LAYOUT_V4 of assembly/placement/abi.ts); absent = 1, the rules of
   * maps extended before the field existed. Recorded at the first extension and kept after it,
   * so a pool's objects stay where its rules put them.
   */
  layoutVersion?: number;
  /**
   * Layout rules 3 and 4: the target count of the pool before each of its extensions, in order
   * (the first is `baseTargets`), so a lift is seeded by the layout the pool really had before it.
   * Absent on maps with older rules; on a rules-3 or rules-4 map absent = [baseTargets].
   */
  extents?: number[];
}
/** JSON description of a pool map. */
export interface PoolMapJSON {
  version: number;
  /** Level names top-down, e.g. ['node', 'rank']; targets are the implicit last level. */
  levels: string[];
  /** Level at which shards of one group must not share a domain (default: the innermost, 'rank'). */
  faultLevel?: string;
  domains: DomainJSON[];
  /** Absent: the whole map is the placement base (maps written before extensions recorded it). */
  placement?: PlacementJSON;
}

/** Shape of a regular pool (or of one block of a heterogeneous one). */
export interface PoolShape {
  nodes: number; ranksPerNode: number; targetsPerRank: number;
  /** Relative capacity of each target of the block (default 1). */
  targetWeight?: number;
}

/** One flattened level: domain i's children are [start[i], start[i] + count[i]) of the next level. */
interface Level { name: string; start: Int32Array; count: Int32Array; names: (string | undefined)[] }

const MAGIC = 0x504d5043; // "CPMP" little endian
/** Serialized format of a map that uses neither a placement base nor target weights (readable by every release). */
const FORMAT_VERSION = 1;
/**
 * Format of a map with a placement base or target weights: an older release would ignore those
 * fields and compute other layouts, so it must refuse the map (unsupported format) instead.
 */
const FORMAT_VERSION_WEIGHTED = 2;
/**
 * Format of a map whose placement records layout rules newer than LAYOUT_V1: a release that reads
 * format 2 would lay it out with the first rules, so it must refuse the map too.
 */
const FORMAT_VERSION_LAYOUT = 3;
/**
 * Format of a map with layout rules 3 (it records `placement.extents`): a release that reads format
 * 3 would lay it out with rules 2, so it must refuse the map too.
 */
const FORMAT_VERSION_EXTENTS = 4;
/**
 * Format of a map with layout rules 4 (a lift keeps shards on their spares, LAYOUT_V4): a release
 * that reads format 4 would lay it out with rules 3, so it must refuse the map too.
 */
const FORMAT_VERSION_GHOST = 5;
/** Formats above the newest known and below this read as "newer" (FORMAT_VERSION); others as damage. */
const MAX_PLAUSIBLE_FORMAT = 64;
const HEADER_BYTES = 16;
const CHECKSUM_BYTES = 8;

function invalid(message: string, details?: Record<string, unknown>): PlacementError {
  return new PlacementError('INVALID_ARGUMENT', message, details);
}

/** The pool map (mutable: operations change states and bump `version`). */
export class PoolMap {
  private _version: number;
  private readonly levelNames: string[];
  private readonly _faultLevel: number;
  private readonly levels: Level[];
  private readonly states: TargetState[];
  private readonly weights: Float64Array;
  private readonly paths: Int32Array[]; // per level, ancestor of each target
  private readonly _baseTargets: number | undefined;
  private readonly _layoutVersion: number | undefined;
  private readonly _extents: readonly number[] | undefined;
  private cache?: { version: number; targets: readonly TargetInfo[] };

  private constructor(desc: PoolMapJSON) {
    if (typeof desc !== 'object' || desc === null) throw invalid('pool map description must be an object');
    const { version, levels, domains } = desc;
    if (!Number.isInteger(version) || version < 0 || version > 0xffffffff) throw invalid(`version must be a u32, got ${describeValue(version)}`);
    if (!Array.isArray(levels) || levels.length < 1 || levels.length > MAX_POOL_LEVELS || !levels.every((l) => typeof l === 'string' && l.length > 0)) {
      throw invalid(`levels must be 1..${MAX_POOL_LEVELS} non-empty names`);
    }
    if (new Set(levels).size !== levels.length || levels.includes('target')) throw invalid('level names must be distinct and not "target"');
    const fl = desc.faultLevel ?? levels[levels.length - 1]!;
    const fi = fl === 'target' ? levels.length : levels.indexOf(fl);
    if (fi < 0) throw invalid(`faultLevel ${describeValue(fl)} is not one of ${[...levels, 'target'].join(', ')}`);
    this._version = version;
    this.levelNames = [...levels];
    this._faultLevel = fi;
    const L = levels.length;
    const starts: number[][] = levels.map(() => []), counts: number[][] = levels.map(() => []);
    const names: (string | undefined)[][] = levels.map(() => []);
    const childTotals = new Array<number>(L + 1).fill(0);
    this.states = [];
    const weights: number[] = [];
    const paths: number[][] = levels.map(() => []);
    const stack: number[] = [];
    const walk = (d: DomainJSON, l: number) => {
      if (typeof d !== 'object' || d === null) throw invalid(`domain at level ${levels[l]} must be an object`);
      const idx = starts[l]!.length;
      stack[l] = idx;
      names[l]!.push(typeof d.name === 'string' ? d.name : undefined);
      starts[l]!.push(childTotals[l + 1]!);
      if (l < L - 1) {
        if (d.targets !== undefined) throw invalid(`${levels[l]} ${idx} is not innermost and cannot hold targets`);
        if (!Array.isArray(d.children) || d.children.length === 0) throw invalid(`${levels[l]} ${idx} is empty`, { level: levels[l], index: idx });
        counts[l]!.push(d.children.length);
        childTotals[l + 1]! += d.children.length;
        for (const c of d.children) walk(c, l + 1);
      } else {
        if (d.children !== undefined) throw invalid(`${levels[l]} ${idx} is innermost and cannot hold domains`);
        if (!Array.isArray(d.targets) || d.targets.length === 0) throw invalid(`${levels[l]} ${idx} is empty`, { level: levels[l], index: idx });
        counts[l]!.push(d.targets.length);
        childTotals[l + 1]! += d.targets.length;
        for (const t of d.targets) {
          const id = this.states.length;
          if (typeof t !== 'object' || t === null || !Number.isInteger(t.id)) throw invalid(`target at position ${id} has no integer id`);
          if (t.id !== id) {
            throw invalid(t.id < id ? `duplicate or out-of-order target id ${t.id} at position ${id}` : `target id ${t.id} at position ${id}: ids must be 0-based in pool order`, { id: t.id, position: id });
          }
          const st = t.state ?? 'UPIN';
          if (!TARGET_STATES.includes(st)) throw invalid(`target ${describeValue(id)} has unknown state ${describeValue(st)}`, { id, state: st });
          if (id >= MAX_POOL_TARGETS) throw invalid(`more than ${MAX_POOL_TARGETS} targets`);
          const w = t.weight ?? 1;
          if (typeof w !== 'number' || !Number.isFinite(w) || w < 1 / MAX_TARGET_WEIGHT || w > MAX_TARGET_WEIGHT) {
            throw invalid(`target ${describeValue(id)} weight must be a number in [${1 / MAX_TARGET_WEIGHT}, ${MAX_TARGET_WEIGHT}], got ${describeValue(t.weight)}`, { id });
          }
          this.states.push(st);
          weights.push(w);
          for (let k = 0; k < L; k++) paths[k]!.push(stack[k]!);
        }
      }
    };
    if (!Array.isArray(domains) || domains.length === 0) throw invalid('pool map has no domains');
    for (const d of domains) walk(d, 0);
    this.levels = levels.map((name, l) => ({ name, start: Int32Array.from(starts[l]!), count: Int32Array.from(counts[l]!), names: names[l]! }));
    this.paths = paths.map((p) => Int32Array.from(p));
    this.weights = Float64Array.from(weights);
    if (desc.placement !== undefined) {
      const b = (desc.placement as PlacementJSON | null)?.baseTargets;
      if (!Number.isInteger(b) || b! < 1 || b! > this.states.length) throw invalid(`placement.baseTargets must be an integer in [1, ${this.states.length}], got ${describeValue(b)}`);
      // the base is whole top-level domains: its last target ends one
      const top = this.paths[0]!;
      if (b! < this.states.length && top[b! - 1] === top[b!]) throw invalid(`placement.baseTargets ${b} splits top-level domain ${top[b!]}`, { baseTargets: b });
      this._baseTargets = b;
      const lv = (desc.placement as PlacementJSON).layoutVersion;
      if (lv !== undefined && !LAYOUT_VERSIONS.includes(lv)) throw invalid(`placement.layoutVersion must be one of ${LAYOUT_VERSIONS.join(', ')}, got ${describeValue(lv)}`);
      this._layoutVersion = lv;
      const ex = (desc.placement as PlacementJSON).extents;
      if (ex !== undefined) {
        if (lv !== LAYOUT_V3 && lv !== LAYOUT_V4) throw invalid(`placement.extents is recorded by layout rules ${LAYOUT_V3} and ${LAYOUT_V4} only (map has ${describeValue(lv ?? LAYOUT_V1)})`);
        if (!Array.isArray(ex) || ex.length === 0 || ex.length > this.states.length || ex[0] !== b) throw invalid(`placement.extents must be a list of target counts starting with baseTargets ${b}, got ${describeValue(ex)}`);
        for (let i = 0; i < ex.length; i++) {
          const e = ex[i]!;
          if (!Number.isInteger(e) || e < b! || e > this.states.length || (i > 0 && e <= ex[i - 1]!)) throw invalid(`placement.extents must increase from baseTargets to at most ${this.states.length}, got ${describeValue(ex)}`);
          if (e < this.states.length && top[e - 1] === top[e]) throw invalid(`placement.extents entry ${e} splits top-level domain ${top[e]}`, { extent: e });
        }
        this._extents = Object.freeze([...ex]);
      }
    }
  }

  /**
   * A pool of node blocks, all UPIN, version 1: one shape gives a regular pool
   * (`nodes` x `ranksPerNode` x `targetsPerRank`), several a heterogeneous one (e.g. 4 nodes of
   * 2 x 8 then 2 nodes of 2 x 4). With several blocks the first one is the placement base.
   */
  static create(shape: PoolShape | readonly PoolShape[]): PoolMap {
    const blocks = Array.isArray(shape) ? shape as readonly PoolShape[] : [shape as PoolShape];
    if (blocks.length === 0) throw new PlacementError('INVALID_ARGUMENT', 'a pool needs at least one block of nodes');
    let total = 0;
    for (const b of blocks) {
      for (const k of ['nodes', 'ranksPerNode', 'targetsPerRank'] as const) {
        const v = b?.[k];
        if (!Number.isInteger(v) || v < 1) throw new PlacementError('INVALID_ARGUMENT', `${k} must be a positive integer, got ${describeValue(v)}`);
      }
      total += b.nodes * b.ranksPerNode * b.targetsPerRank;
      if (total > MAX_POOL_TARGETS) throw new PlacementError('INVALID_ARGUMENT', `pool too large: at most ${MAX_POOL_TARGETS} targets`);
    }
    let id = 0;
    const domains: DomainJSON[] = [];
    for (const b of blocks) domains.push(...nodeBlock(b, () => id++, 'UPIN'));
    const first = blocks[0]!;
    const desc: PoolMapJSON = { version: 1, levels: ['node', 'rank'], faultLevel: 'rank', domains };
    if (blocks.length > 1) {
      const b = first.nodes * first.ranksPerNode * first.targetsPerRank;
      desc.placement = { baseTargets: b, layoutVersion: LAYOUT_VERSION_LATEST, extents: [b] };
    }
    return new PoolMap(desc);
  }

  /** A map from its JSON description (any depth); `INVALID_ARGUMENT` if it breaks a rule. */
  static fromJSON(desc: PoolMapJSON): PoolMap { return new PoolMap(desc); }

  /** The JSON description (round-trips through `fromJSON`). */
  toJSON(): PoolMapJSON {
    const L = this.levels.length;
    const build = (l: number, i: number): DomainJSON => {
      const lv = this.levels[l]!;
      const d: DomainJSON = {};
      if (lv.names[i] !== undefined) d.name = lv.names[i];
      const s = lv.start[i]!, c = lv.count[i]!;
      if (l < L - 1) d.children = Array.from({ length: c }, (_, k) => build(l + 1, s + k));
      else {
        d.targets = Array.from({ length: c }, (_, k) => {
          const t: TargetJSON = { id: s + k, state: this.states[s + k]! };
          if (this.weights[s + k] !== 1) t.weight = this.weights[s + k]!;
          return t;
        });
      }
      return d;
    };
    const out: PoolMapJSON = {
      version: this._version, levels: [...this.levelNames], faultLevel: this.faultLevelName,
      domains: Array.from({ length: this.levels[0]!.start.length }, (_, i) => build(0, i)),
    };
    if (this._baseTargets !== undefined) {
      out.placement = { baseTargets: this._baseTargets };
      if (this._layoutVersion !== undefined) out.placement.layoutVersion = this._layoutVersion;
      if (this._extents !== undefined) out.placement.extents = [...this._extents];
    }
    return out;
  }

  /**
   * Bytes: magic "CPMP", format version (1; 2 when the map has a placement base or target weights;
   * 3 when its layout rules are newer than LAYOUT_V1: older releases refuse what they would lay out
   * differently), map version, JSON payload, xxh64 checksum. Needs initXxhash().
   */
  serialize(): Uint8Array {
    const payload = new TextEncoder().encode(JSON.stringify(this.toJSON()));
    const out = new Uint8Array(HEADER_BYTES + payload.length + CHECKSUM_BYTES);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    const format = (this._layoutVersion ?? LAYOUT_V1) >= LAYOUT_V4 ? FORMAT_VERSION_GHOST
      : (this._layoutVersion ?? LAYOUT_V1) >= LAYOUT_V3 ? FORMAT_VERSION_EXTENTS
      : (this._layoutVersion ?? LAYOUT_V1) > LAYOUT_V1 ? FORMAT_VERSION_LAYOUT
      : this._baseTargets !== undefined || this.weights.some((w) => w !== 1) ? FORMAT_VERSION_WEIGHTED : FORMAT_VERSION;
    dv.setUint16(4, format, true);
    dv.setUint32(8, this._version, true);
    dv.setUint32(12, payload.length, true);
    out.set(payload, HEADER_BYTES);
    dv.setBigUint64(HEADER_BYTES + payload.length, xxh64(out.subarray(0, HEADER_BYTES + payload.length)), true);
    return out;
  }

  /**
   * Parse `serialize()` output; `CORRUPTED` on bad magic, version, length or checksum;
   * `FORMAT_VERSION` for a format newer than this build reads (a later release wrote it).
   */
  static deserialize(bytes: Uint8Array): PoolMap {
    const bad = (m: string) => new PlacementError('CORRUPTED', `pool map bytes corrupted: ${m}`);
    if (!(bytes instanceof Uint8Array)) throw new PlacementError('INVALID_ARGUMENT', `PoolMap.deserialize takes a Uint8Array, got ${describeValue(bytes)}`);
    if (bytes.length < HEADER_BYTES + CHECKSUM_BYTES) throw bad('too short');
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== MAGIC) throw bad('bad magic');
    const format = dv.getUint16(4, true);
    const len = dv.getUint32(12, true);
    if (HEADER_BYTES + len + CHECKSUM_BYTES !== bytes.length) throw bad('length mismatch');
    const sum = dv.getBigUint64(HEADER_BYTES + len, true);
    if (xxh64(bytes.subarray(0, HEADER_BYTES + len)) !== sum) throw bad('checksum mismatch');
    // checksummed, so not damage: a later release wrote it
    if (format > FORMAT_VERSION_GHOST && format < MAX_PLAUSIBLE_FORMAT) {
      throw new PlacementError('FORMAT_VERSION', `pool map format ${format} is newer than this build reads (1 to ${FORMAT_VERSION_GHOST}): open the pool with the Cairn version that wrote it, or upgrade`, { format });
    }
    if (format !== FORMAT_VERSION && format !== FORMAT_VERSION_WEIGHTED && format !== FORMAT_VERSION_LAYOUT && format !== FORMAT_VERSION_EXTENTS && format !== FORMAT_VERSION_GHOST) throw bad(`unsupported format version ${format}`);
    let desc: PoolMapJSON;
    try { desc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_BYTES, HEADER_BYTES + len))) as PoolMapJSON; }
    catch { throw bad('payload is not JSON'); }
    if (desc?.version !== dv.getUint32(8, true)) throw bad('header and payload versions differ');
    return new PoolMap(desc);
  }

  /** Version, bumped by every change. */
  get version(): number { return this._version; }
  /** Level names top-down (targets excluded). */
  get levelNamesList(): readonly string[] { return this.levelNames; }
  /** Index of the fault level (levels.length means 'target'). */
  get faultLevel(): number { return this._faultLevel; }
  /** Name of the fault level. */
  get faultLevelName(): string { return this.levelNames[this._faultLevel] ?? 'target'; }
  /** Number of domains at level `l` (levels.length = targets). */
  domainCount(l: number): number { return l >= this.levels.length ? this.states.length : this.levels[l]!.start.length; }
  /** Children ranges of level `l` (for the placement engine). */
  levelArrays(l: number): { start: Int32Array; count: Int32Array } { const lv = this.levels[l]!; return { start: lv.start, count: lv.count }; }
  /** Domain index at level `l` of every target (l = levels.length: the target itself). */
  domainOfTargets(l: number): Int32Array {
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0) throw new PlacementError('INVALID_ARGUMENT', `level must be a non-negative integer, got ${describeValue(l)}`);
    if (l >= this.levels.length) return Int32Array.from(this.states, (_, i) => i);
    return this.paths[l]!;
  }
  /** Number of nodes (top-level domains). */
  get nodeCount(): number { return this.domainCount(0); }
  /** Number of innermost domains (ranks). */
  get rankCount(): number { return this.domainCount(this.levels.length - 1); }

  /** All targets in pool order. */
  get targets(): readonly TargetInfo[] {
    if (this.cache?.version !== this._version) {
      const L = this.levels.length;
      const targets = this.states.map((state, id) => {
        const path = this.paths.map((p) => p[id]!);
        return Object.freeze({ id, node: path[0]!, rank: path[L - 1]!, state, path: Object.freeze(path) });
      });
      this.cache = { version: this._version, targets: Object.freeze(targets) };
    }
    return this.cache.targets;
  }

  /** Raw states in pool order (no copies; for engines). */
  get stateList(): readonly TargetState[] { return this.states; }

  /** Relative weight (capacity) of every target in pool order (no copy: do not mutate). */
  get targetWeights(): Float64Array { return this.weights; }

  /** Weight of every domain at level `l` (levels.length = targets): the sum of its targets. */
  domainWeights(l: number): Float64Array {
    const of = this.domainOfTargets(l);
    const out = new Float64Array(this.domainCount(l));
    for (let t = 0; t < of.length; t++) out[of[t]!] += this.weights[t]!;
    return out;
  }

  /**
   * Targets of the placement base: those laid out by the original jump-map (ids below it);
   * later domains join by weighted reservoir. All targets for a map never extended.
   */
  get baseTargets(): number { return this._baseTargets ?? this.states.length; }

  /** Whether the map records its placement base (false: the whole map is the base). */
  get hasPlacementBase(): boolean { return this._baseTargets !== undefined; }

  /**
   * The layout rules of the map (LAYOUT_V1 .. LAYOUT_V4): as recorded; 1 for a map extended
   * before the field existed; the latest for a map never extended (all rules agree on it).
   */
  get layoutVersion(): number {
    return this._layoutVersion ?? (this._baseTargets !== undefined ? LAYOUT_V1 : LAYOUT_VERSION_LATEST);
  }

  /**
   * Target counts the pool had before each extension (layout rules 3; the first is the base), the
   * candidates for the seed of a lift; empty for maps with older rules or never extended.
   */
  get extents(): readonly number[] {
    if (this.layoutVersion < LAYOUT_V3 || this._baseTargets === undefined) return [];
    return this._extents ?? [this._baseTargets];
  }

  /** One target; `UNKNOWN_TARGET` if `id` is not in the map. */
  target(id: number): TargetInfo {
    this.checkTarget(id);
    return this.targets[id]!;
  }

  /** An independent copy. */
  clone(): PoolMap { return new PoolMap(this.toJSON()); }

  /** Take a target out of service now: UPIN/UP/NEW/DRAIN -> DOWN. */
  exclude(id: number): void { this.transition(id, ['UPIN', 'UP', 'NEW', 'DRAIN'], 'DOWN', 'exclude'); }
  /** Every target of rank `rank` (innermost domain, pool order) -> DOWN (those already down stay). */
  excludeRank(rank: number): void {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.rankCount) throw new PlacementError('UNKNOWN_TARGET', `no rank ${describeValue(rank)} (pool has ${this.rankCount})`, { rank: describeValue(rank) });
    const lv = this.levels[this.levels.length - 1]!;
    let changed = false;
    for (let t = lv.start[rank]!; t < lv.start[rank]! + lv.count[rank]!; t++) {
      if (this.states[t] !== 'DOWN' && this.states[t] !== 'DOWNOUT') { this.states[t] = 'DOWN'; changed = true; }
    }
    if (changed) this._version++;
  }
  /** After its shards were rebuilt elsewhere: DOWN/DRAIN -> DOWNOUT (no layout change). */
  markDownOut(id: number): void { this.transition(id, ['DOWN', 'DRAIN'], 'DOWNOUT', 'markDownOut'); }
  /** Bring a target back: DOWN/DOWNOUT -> UP (its shards return to it). */
  reintegrate(id: number): void { this.transition(id, ['DOWN', 'DOWNOUT'], 'UP', 'reintegrate'); }
  /** Move data off a healthy target: UPIN/UP -> DRAIN. */
  drain(id: number): void { this.transition(id, ['UPIN', 'UP'], 'DRAIN', 'drain'); }
  /** Integration done: NEW/UP -> UPIN (no layout change). */
  markUpIn(id: number): void { this.transition(id, ['NEW', 'UP'], 'UPIN', 'markUpIn'); }

  /**
   * Add `nodes` top-level domains shaped like the last one (or `ranksPerNode` x `targetsPerRank`
   * on a two-level map), all targets NEW, of weight `targetWeight` (default: that of the last
   * target); ids continue after the existing ones. Returns new ids. The first extension records
   * the placement base (the targets before it), so existing shards move only onto the new targets.
   */
  extend(opts: { nodes: number; ranksPerNode?: number; targetsPerRank?: number; targetWeight?: number }): number[] {
    const n = opts?.nodes;
    if (!Number.isInteger(n) || n < 1) throw new PlacementError('INVALID_ARGUMENT', `extend needs a positive integer number of nodes, got ${describeValue(n)}`);
    const weight = opts.targetWeight ?? this.weights[this.weights.length - 1]!;
    const desc = this.toJSON();
    const template = desc.domains[desc.domains.length - 1]!;
    let id = this.states.length;
    const first = id;
    const target = (): TargetJSON => (weight === 1 ? { id: id++, state: 'NEW' } : { id: id++, state: 'NEW', weight });
    const copy = (d: DomainJSON): DomainJSON => d.children
      ? { children: d.children.map(copy) }
      : { targets: d.targets!.map(target) };
    for (let i = 0; i < n; i++) {
      if ((opts.ranksPerNode !== undefined || opts.targetsPerRank !== undefined) && this.levels.length === 2) {
        const r = opts.ranksPerNode ?? template.children!.length, t = opts.targetsPerRank ?? template.children![0]!.targets!.length;
        if (!Number.isInteger(r) || r < 1 || !Number.isInteger(t) || t < 1) throw new PlacementError('INVALID_ARGUMENT', `extend needs positive integer ranksPerNode and targetsPerRank, got ${describeValue(r)} x ${t}`);
        desc.domains.push({ children: Array.from({ length: r }, () => ({ targets: Array.from({ length: t }, target) })) });
      } else desc.domains.push(copy(template));
      if (id > MAX_POOL_TARGETS) throw new PlacementError('INVALID_ARGUMENT', `pool too large: at most ${MAX_POOL_TARGETS} targets`);
    }
    desc.version = this._version + 1;
    // the first extension records the base and this build's layout rules; later ones keep both
    desc.placement = { baseTargets: this.baseTargets };
    const lv = this._baseTargets !== undefined ? this._layoutVersion : LAYOUT_VERSION_LATEST;
    if (lv !== undefined) desc.placement.layoutVersion = lv;
    // rules 3 record the pool's size before every extension (the seeds of later lifts)
    if (lv === LAYOUT_V3 || lv === LAYOUT_V4) desc.placement.extents = [...(this._extents ?? (this._baseTargets !== undefined ? [this._baseTargets] : [])), first].filter((e, i, a) => i === 0 || e > a[i - 1]!);
    const next = new PoolMap(desc);
    Object.assign(this, {
      levels: next.levels, states: next.states, weights: next.weights, paths: next.paths, _version: next._version,
      _baseTargets: next._baseTargets, _layoutVersion: next._layoutVersion, _extents: next._extents, cache: undefined,
    });
    return Array.from({ length: id - first }, (_, k) => first + k);
  }

  private checkTarget(id: number): void {
    if (typeof id !== 'number') throw new PlacementError('INVALID_ARGUMENT', `a target id is a number, got ${describeValue(id)}`);
    if (!Number.isInteger(id) || id < 0 || id >= this.states.length) {
      throw new PlacementError('UNKNOWN_TARGET', `no target ${describeValue(id)} (pool has ${this.states.length}, ids 0-based)`, { id: describeValue(id) });
    }
  }

  private transition(id: number, from: TargetState[], to: TargetState, op: string): void {
    this.checkTarget(id);
    const st = this.states[id]!;
    if (!from.includes(st)) {
      throw new PlacementError('INVALID_ARGUMENT', `${op}: target ${id} is ${st}, expected ${from.join('/')}`, { id, state: st, op });
    }
    this.states[id] = to;
    this._version++;
  }
}

/** The top-level domains of one block of a pool (`nodes` x `ranksPerNode` x `targetsPerRank`). */
function nodeBlock(b: PoolShape, nextId: () => number, state: TargetState): DomainJSON[] {
  const w = b.targetWeight ?? 1;
  return Array.from({ length: b.nodes }, () => ({
    children: Array.from({ length: b.ranksPerNode }, () => ({
      targets: Array.from({ length: b.targetsPerRank }, (): TargetJSON => (w === 1 ? { id: nextId(), state } : { id: nextId(), state, weight: w })),
    })),
  }));
}
