/**
 * Object classes, as in DAOS: striping (`S1`..`S32`, `SX`), replication (`RP_<n>G<m>`) and
 * erasure coding (`EC_<k>P<p>G<m>`), with `GX` meaning as many groups as the pool holds.
 * Each class has a small stable `id` (stored in object ids), assigned by its position in
 * `OBJECT_CLASS_NAMES`: append only, never reorder.
 */
import { PlacementError } from './errors.js';
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

const GROUPS: (number | 'X')[] = [1, 2, 4, 8, 16, 32, 'X'];
const REPLICAS = [2, 3, 4, 6, 8, 12, 16];
const EC_SHAPES: [number, number][] = [[2, 1], [2, 2], [4, 1], [4, 2], [8, 1], [8, 2], [16, 2]];

function buildTable(): ObjectClass[] {
  const out: ObjectClass[] = [];
  const add = (c: Omit<ObjectClass, 'id'>) => out.push(Object.freeze({ ...c, id: out.length + 1 }));
  for (const g of GROUPS) add({ name: `S${g}`, kind: 'striped', dataShards: 1, parityShards: 0, replicas: 1, groupSize: 1, groups: g });
  for (const n of REPLICAS) for (const g of GROUPS) {
    add({ name: `RP_${n}G${g}`, kind: 'replicated', dataShards: 1, parityShards: n - 1, replicas: n, groupSize: n, groups: g });
  }
  for (const [k, p] of EC_SHAPES) for (const g of GROUPS) {
    add({ name: `EC_${k}P${p}G${g}`, kind: 'ec', dataShards: k, parityShards: p, replicas: 1, groupSize: k + p, groups: g });
  }
  return out;
}

const TABLE = buildTable();
const BY_NAME = new Map(TABLE.map((c) => [c.name, c]));

/** Every class name Cairn knows, in id order (id = index + 1). */
export const OBJECT_CLASS_NAMES: readonly string[] = Object.freeze(TABLE.map((c) => c.name));

/** The class named `name` (case-insensitive); `UNKNOWN_OBJECT_CLASS` otherwise. */
export function parseObjectClass(name: string): ObjectClass {
  const c = typeof name === 'string' ? BY_NAME.get(name.trim().toUpperCase()) : undefined;
  if (!c) throw new PlacementError('UNKNOWN_OBJECT_CLASS', `unknown object class ${JSON.stringify(name)} (e.g. S1, SX, RP_3G1, RP_2GX, EC_8P2G1, EC_4P2GX)`, { name });
  return c;
}

/** The class with stable id `id`; `UNKNOWN_OBJECT_CLASS` otherwise. */
export function objectClassById(id: number): ObjectClass {
  const c = Number.isInteger(id) ? TABLE[id - 1] : undefined;
  if (!c) throw new PlacementError('UNKNOWN_OBJECT_CLASS', `unknown object class id ${id}`, { id });
  return c;
}

/** The canonical name of a class. */
export function formatObjectClass(c: ObjectClass): string { return c.name; }

/** Accept a class or its name. */
export function toObjectClass(c: ObjectClass | string): ObjectClass {
  return typeof c === 'string' ? parseObjectClass(c) : objectClassById(c.id);
}

/**
 * Number of groups of `oclass` on `pool`: the class's own count, or for `GX` as many whole groups
 * as the pool's targets hold (all targets of the map, whatever their state, so the count does not
 * change on failures), capped at MAX_GX_GROUPS. Fails if a group has more shards than targets.
 */
export function resolveGroups(oclass: ObjectClass, pool: Pick<PoolMap, 'targets'> | number): number {
  const targets = typeof pool === 'number' ? pool : pool.targets.length;
  if (oclass.groupSize > targets) {
    throw new PlacementError('INSUFFICIENT_TARGETS', `class ${oclass.name} needs ${oclass.groupSize} targets per group, pool has ${targets}`, { oclass: oclass.name, targets });
  }
  if (oclass.groups !== 'X') return oclass.groups;
  return Math.max(1, Math.min(MAX_GX_GROUPS, Math.floor(targets / oclass.groupSize)));
}
