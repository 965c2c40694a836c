// The layout ABI of build/placement.wasm: word offsets of the header a layout call reads at its
// map pointer, algorithm codes and result codes. ONE source of truth, compiled by both sides:
// AssemblyScript (assembly/placement/layout.ts) and TypeScript (placement/engine.ts import this
// very file). Plain integer constants only, so that both compilers accept it. Adding a word:
// append it, bump LAYOUT_ABI_VERSION; the kernel refuses a header whose magic word differs.

/** Header word 0 must hold this: "CPL" and the ABI version in the low byte. */
export const LAYOUT_ABI_VERSION = 5;
export const LAYOUT_ABI_MAGIC = 0x43504c00 + LAYOUT_ABI_VERSION;

// ---- header words (i32, at the map pointer)
export const H_MAGIC = 0;
/** ALGO_* below. */
export const H_ALGO = 1;
/** Domain levels above targets (>= 1). */
export const H_LEVELS = 2;
/** Targets in the whole map. */
export const H_NTARGETS = 3;
/** Domains at the effective fault level, whole map. */
export const H_NDOMAINS = 4;
export const H_GROUPS = 5;
export const H_GROUPSIZE = 6;
/** ptr: per level [count, childStartPtr, childCountPtr] (3 x i32). */
export const H_LEVELINFO = 7;
/** ptr: u8 per target, 1 if it may receive shards (UPIN, UP, NEW). */
export const H_ELIGIBLE = 8;
/** ptr: i32 per target, its domain at the effective fault level. */
export const H_DOMAIN = 9;
/** ptr: i32 per domain, its first target (targets of a domain are contiguous). */
export const H_DSTART = 10;
/** ptr: i32 per domain, its number of targets. */
export const H_DCOUNT = 11;
/** ptr: u64 sorted ring points (ring only). */
export const H_RINGPTS = 12;
/** ptr: i32 target of each ring point (ring only). */
export const H_RINGTGT = 13;
export const H_RINGSIZE = 14;
/** Top-level domains of the jump-map base (the pool before its first extension). */
export const H_BASE_NODES = 15;
/** Targets of the jump-map base. */
export const H_BASE_TARGETS = 16;
/** Domains at the effective fault level inside the base. */
export const H_BASE_DOMAINS = 17;
/** MODE_* below: how a group's base positions are chosen. */
export const H_GROUP_MODE = 18;
/** ptr: f64 per domain j, probability x 2^32 that domain j enters a group at reservoir stage j. */
export const H_RES_PROB = 19;
/** ptr: f64 per domain j, the inclusion multiplier c_j of stage j (Infinity while filling). */
export const H_RES_C = 20;
/** ptr: u8 per domain j, 1 if the slot a stage-j entrant replaces is uniform over the group. */
export const H_RES_UNIFORM = 21;
/** ptr: f64 per domain, its weight (sum of its targets' weights). */
export const H_DWEIGHT = 22;
/** ptr: f64 per domain j, probability x 2^32 that domain j takes a spare at stage j (k = 1). */
export const H_SPARE_PROB = 23;
/** ptr: u8 per domain, 1 if its targets all have the same weight. */
export const H_DUNIFORM = 24;
/** ptr: f64 per target, cumulative target weight within its domain (inclusive). */
export const H_TCUM = 25;
/** ptr: per level 0..levels (levels = targets), ptr to f64 weight of every domain of that level. */
export const H_LEVELWEIGHT = 26;
/** 1 if some siblings differ in weight (straw2 then needs logarithms). */
export const H_STRAW_LOG = 27;
/**
 * ptr (MODE_RESERVOIR, or 0): header of the layout the base had on its own, at its own (finer)
 * effective level, which seeds the reservoir so that the first extension moves only what it must.
 */
export const H_SEED_MAP = 28;
/** Index of the effective fault level (levels = the target level), where H_DOMAIN's domains are. */
export const H_LEVEL = 29;
/**
 * LAYOUT_V*: the layout rules of the map (its `placement.layoutVersion`). They differ only when an
 * extension lifts the domain level (a base with fewer domains than the group at the new level).
 */
export const H_LAYOUT_VERSION = 30;
/**
 * LAYOUT_V2 lift (MODE_RESERVOIR with a seed): the domains of the effective level inside the
 * seed's prefix (the first ones; they hold every shard the seed keeps), when they are alike (same
 * targets, one weight) so that evicting those whose slot moves anyway first keeps every inclusion
 * probability exact; 0: uniform eviction.
 */
export const H_LIFT_PREFIX = 31;
/**
 * LAYOUT_V4 lift fill (a lift seeded by the base alone, at target level, every domain up to the
 * end of the lifting extension alike): that end (domains of the effective level), or 0 when the
 * lift runs the fill and reservoir stages of LAYOUT_V3. See `liftFill` in placement/reservoir.ts.
 */
export const H_LIFT_END = 32;
/** LAYOUT_V4 lift fill: probability x 2^32 (as u32 bits) that a free base domain is taken beyond the forced ones. */
export const H_LIFT_Q = 33;
/** Header size in i32 words. */
export const HEADER_WORDS = 34;

// ---- layout versions (placement.layoutVersion of the pool map)
/**
 * The first rules: on a lift the seed is the base's own layout (extensions made at the finer
 * level are ignored) and the reservoir evicts uniformly; kept so maps written with them read alike.
 */
export const LAYOUT_V1 = 1;
/**
 * On a lift the seed is the layout the pool had at the finer level over its largest prefix of
 * top-level domains with fewer domains than the group (its extensions included), and reservoir
 * stages evict a prefix member that moves anyway before one that stays.
 */
export const LAYOUT_V2 = 2;
/**
 * As LAYOUT_V2, but the seed of a lift is the layout of the pool exactly as it was before the
 * extension that lifted it (the map records the target count before every extension,
 * `placement.extents`), not the largest prefix of top-level domains with too few domains: a pool
 * lifted by several nodes at once keeps the shards its previous layout had (the core runs it as
 * LAYOUT_V2; only the seed's extent differs).
 */
export const LAYOUT_V3 = 3;
/**
 * As LAYOUT_V3, plus, on a lift seeded by the base alone, two state-blind choices that use each
 * base shard's *ghost spare* (the spare the base's own layout gives it when its own target alone
 * is out): (1) of the shards of a group sharing a domain of the new level, the first whose ghost
 * spare is in that same domain stays (else the first, as before); (2) a shard that must move goes
 * to its ghost spare when that target's domain is a free fill domain of uniform target weight. A
 * target out of service during the lift then leaves its shards on the spares they already had
 * (the lifted layout, healthy, is the same whether it is out or not, so reintegration still moves
 * back exactly its shards). Healthy lifts move the same number of shards as under LAYOUT_V3.
 */
export const LAYOUT_V4 = 4;

// ---- algorithms
export const ALGO_JUMP_MAP = 0;
export const ALGO_RING = 1;
export const ALGO_STRAW2 = 2;

// ---- group modes (jump-map)
/** Base positions by the hierarchical jump hash over the base, then reservoir over later domains. */
export const MODE_JUMP_BASE = 0;
/** Base positions by the weighted reservoir from the first domain (base too small or absent). */
export const MODE_RESERVOIR = 1;

// ---- results of layoutBatch (>= 0: violating groups)
export const LAYOUT_ERR_NO_TARGETS = -1;
export const LAYOUT_ERR_ABI = -2;
