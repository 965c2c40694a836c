/**
 * Object classes, as in DAOS: striping (`S1`..`S32`, `SX`), replication (`RP_<n>G<m>`) and
 * erasure coding (`EC_<k>P<p>G<m>`), with `GX` meaning as many groups as the pool holds.
 * Each class has a small stable `id` (stored in object ids), written down in `OBJECT_CLASS_IDS`
 * (one line per class, append only): ids never depend on code order.
 */
import { assert } from '../core/errors.js';
import { PlacementError } from './errors.js';
import { describeValue } from '../core/describe.js';
import type { PoolMap } from './poolmap.js';

/** Largest number of shards in one redundancy group (EC_16P2). */
export const MAX_GROUP_SIZE = 18;
/** Largest explicit group count in a class name. */
export const MAX_CLASS_GROUPS = 32;
/** Cap on groups of a `GX` class, so one object's layout stays bounded. */
export const MAX_GX_GROUPS = 4096;

/** A resolved object class. */
export interface ObjectClass {
  /** Canonical name, e.g. `EC_8P2G1`. */
  readonly name: string;
  /** Small stable id (1..255) stored in object ids. */
  readonly id: number;
  readonly kind: 'striped' | 'replicated' | 'ec';
  /** Data shards per group (k); 1 for striped and replicated classes. */
  readonly dataShards: number;
  /** Parity shards per group (p); for RP_n the n-1 extra replicas; 0 for striped. */
  readonly parityShards: number;
  /** Copies of each byte: n for RP_n, 1 otherwise. */
  readonly replicas: number;
  /** Shards per redundancy group: dataShards + parityShards. */
  readonly groupSize: number;
  /** Groups per object, or 'X' for as many as the pool holds. */
  readonly groups: number | 'X';
}

/**
 * The class id table: name -> id, one line per class. APPEND ONLY: ids are stored in the high bits
 * of every object id, so a line may never be removed, renamed or renumbered, and a new class takes
 * the next free id (at most 255). test/placement/classes.test.ts pins every line.
 * Ids 1..105 are the table of the first release (striped, then RP_2..RP_16, then EC shapes, each
 * over groups 1, 2, 4, 8, 16, 32, X).
 */
export const OBJECT_CLASS_IDS: readonly (readonly [name: string, id: number])[] = Object.freeze(([
  ['S1', 1],
  ['S2', 2],
  ['S4', 3],
  ['S8', 4],
  ['S16', 5],
  ['S32', 6],
  ['SX', 7],
  ['RP_2G1', 8],
  ['RP_2G2', 9],
  ['RP_2G4', 10],
  ['RP_2G8', 11],
  ['RP_2G16', 12],
  ['RP_2G32', 13],
  ['RP_2GX', 14],
  ['RP_3G1', 15],
  ['RP_3G2', 16],
  ['RP_3G4', 17],
  ['RP_3G8', 18],
  ['RP_3G16', 19],
  ['RP_3G32', 20],
  ['RP_3GX', 21],
  ['RP_4G1', 22],
  ['RP_4G2', 23],
  ['RP_4G4', 24],
  ['RP_4G8', 25],
  ['RP_4G16', 26],
  ['RP_4G32', 27],
  ['RP_4GX', 28],
  ['RP_6G1', 29],
  ['RP_6G2', 30],
  ['RP_6G4', 31],
  ['RP_6G8', 32],
  ['RP_6G16', 33],
  ['RP_6G32', 34],
  ['RP_6GX', 35],
  ['RP_8G1', 36],
  ['RP_8G2', 37],
  ['RP_8G4', 38],
  ['RP_8G8', 39],
  ['RP_8G16', 40],
  ['RP_8G32', 41],
  ['RP_8GX', 42],
  ['RP_12G1', 43],
  ['RP_12G2', 44],
  ['RP_12G4', 45],
  ['RP_12G8', 46],
  ['RP_12G16', 47],
  ['RP_12G32', 48],
  ['RP_12GX', 49],
  ['RP_16G1', 50],
  ['RP_16G2', 51],
  ['RP_16G4', 52],
  ['RP_16G8', 53],
  ['RP_16G16', 54],
  ['RP_16G32', 55],
  ['RP_16GX', 56],
  ['EC_2P1G1', 57],
  ['EC_2P1G2', 58],
  ['EC_2P1G4', 59],
  ['EC_2P1G8', 60],
  ['EC_2P1G16', 61],
  ['EC_2P1G32', 62],
  ['EC_2P1GX', 63],
  ['EC_2P2G1', 64],
  ['EC_2P2G2', 65],
  ['EC_2P2G4', 66],
  ['EC_2P2G8', 67],
  ['EC_2P2G16', 68],
  ['EC_2P2G32', 69],
  ['EC_2P2GX', 70],
  ['EC_4P1G1', 71],
  ['EC_4P1G2', 72],
  ['EC_4P1G4', 73],
  ['EC_4P1G8', 74],
  ['EC_4P1G16', 75],
  ['EC_4P1G32', 76],
  ['EC_4P1GX', 77],
  ['EC_4P2G1', 78],
  ['EC_4P2G2', 79],
  ['EC_4P2G4', 80],
  ['EC_4P2G8', 81],
  ['EC_4P2G16', 82],
  ['EC_4P2G32', 83],
  ['EC_4P2GX', 84],
  ['EC_8P1G1', 85],
  ['EC_8P1G2', 86],
  ['EC_8P1G4', 87],
  ['EC_8P1G8', 88],
  ['EC_8P1G16', 89],
  ['EC_8P1G32', 90],
  ['EC_8P1GX', 91],
  ['EC_8P2G1', 92],
  ['EC_8P2G2', 93],
  ['EC_8P2G4', 94],
  ['EC_8P2G8', 95],
  ['EC_8P2G16', 96],
  ['EC_8P2G32', 97],
  ['EC_8P2GX', 98],
  ['EC_16P2G1', 99],
  ['EC_16P2G2', 100],
  ['EC_16P2G4', 101],
  ['EC_16P2G8', 102],
  ['EC_16P2G16', 103],
  ['EC_16P2G32', 104],
  ['EC_16P2GX', 105],
] as const).map((e) => Object.freeze(e)));

/** Largest class id an object id can carry (8 bits; 0 is invalid). */
export const MAX_OBJECT_CLASS_ID = 255;

/** The properties of a class, derived from its name (`S<g>`, `RP_<n>G<g>`, `EC_<k>P<p>G<g>`). */
function classFromName(name: string, id: number): ObjectClass {
  const groupsOf = (g: string): number | 'X' => (g === 'X' ? 'X' : Number(g));
  let m = /^S(\d+|X)$/.exec(name);
  if (m) return Object.freeze({ name, id, kind: 'striped', dataShards: 1, parityShards: 0, replicas: 1, groupSize: 1, groups: groupsOf(m[1]!) });
  m = /^RP_(\d+)G(\d+|X)$/.exec(name);
  if (m) {
    const n = Number(m[1]);
    return Object.freeze({ name, id, kind: 'replicated', dataShards: 1, parityShards: n - 1, replicas: n, groupSize: n, groups: groupsOf(m[2]!) });
  }
  m = /^EC_(\d+)P(\d+)G(\d+|X)$/.exec(name);
  if (m) {
    const k = Number(m[1]), p = Number(m[2]);
    return Object.freeze({ name, id, kind: 'ec', dataShards: k, parityShards: p, replicas: 1, groupSize: k + p, groups: groupsOf(m[3]!) });
  }
  throw new PlacementError('ASSERTION_FAILED', `class table: cannot parse class name ${JSON.stringify(name)}`);
}

function buildTable(): ObjectClass[] {
  const byId: ObjectClass[] = [];
  const names = new Set<string>();
  for (const [name, id] of OBJECT_CLASS_IDS) {
    assert(Number.isInteger(id) && id >= 1 && id <= MAX_OBJECT_CLASS_ID && byId[id] === undefined && !names.has(name),
      'class table: ids must be unique integers in [1, 255] and names unique', { name, id });
    const c = classFromName(name, id);
    assert(c.groupSize >= 1 && c.groupSize <= MAX_GROUP_SIZE, 'class table: group size out of range', { name });
    names.add(name);
    byId[id] = c;
  }
  return byId;
}

const BY_ID = buildTable();
const BY_NAME = new Map(OBJECT_CLASS_IDS.map(([name, id]) => [name, BY_ID[id]!]));

/** Every class name Cairn knows, in table (append) order. */
export const OBJECT_CLASS_NAMES: readonly string[] = Object.freeze(OBJECT_CLASS_IDS.map(([name]) => name));

/** The class named `name` (case-insensitive); `UNKNOWN_OBJECT_CLASS` otherwise. */
export function parseObjectClass(name: string): ObjectClass {
  const c = typeof name === 'string' ? BY_NAME.get(name.trim().toUpperCase()) : undefined;
  if (!c) throw new PlacementError('UNKNOWN_OBJECT_CLASS', `unknown object class ${describeValue(name)} (e.g. S1, SX, RP_3G1, RP_2GX, EC_8P2G1, EC_4P2GX)`, { name });
  return c;
}

/** The class with stable id `id`; `UNKNOWN_OBJECT_CLASS` otherwise. */
export function objectClassById(id: number): ObjectClass {
  const c = Number.isInteger(id) && id >= 1 && id <= MAX_OBJECT_CLASS_ID ? BY_ID[id] : undefined;
  if (!c) throw new PlacementError('UNKNOWN_OBJECT_CLASS', `unknown object class id ${describeValue(id)}`, { id: describeValue(id) });
  return c;
}

/** The canonical name of a class. */
export function formatObjectClass(c: ObjectClass): string { return c.name; }

/** Accept a class or its name. */
export function toObjectClass(c: ObjectClass | string): ObjectClass {
  if (typeof c !== 'string' && (typeof c !== 'object' || c === null)) throw new PlacementError('UNKNOWN_OBJECT_CLASS', `an object class is a name or an ObjectClass, got ${describeValue(c)}`);
  return typeof c === 'string' ? parseObjectClass(c) : objectClassById(c.id);
}

/**
 * Number of groups of `oclass` on `pool`: the class's own count, or for `GX` as many whole groups
 * as the pool's targets hold (all targets of the map, whatever their state, so the count does not
 * change on failures), capped at MAX_GX_GROUPS. Fails if a group has more shards than targets.
 */
export function resolveGroups(oclass: ObjectClass, pool: Pick<PoolMap, 'targets'> | number): number {
  oclass = toObjectClass(oclass);
  const targets = typeof pool === 'number' ? pool : typeof pool === 'object' && pool !== null && Array.isArray((pool as { targets?: unknown }).targets) ? pool.targets.length : NaN;
  if (!Number.isSafeInteger(targets) || targets < 0) throw new PlacementError('INVALID_ARGUMENT', `resolveGroups needs a pool map or a target count, got ${describeValue(pool)}`);
  if (oclass.groupSize > targets) {
    throw new PlacementError('INSUFFICIENT_TARGETS', `class ${oclass.name} needs ${oclass.groupSize} targets per group, pool has ${targets}`, { oclass: oclass.name, targets });
  }
  if (oclass.groups !== 'X') return oclass.groups;
  return Math.max(1, Math.min(MAX_GX_GROUPS, Math.floor(targets / oclass.groupSize)));
}
