/**
 * Validation of the arguments of `Pool`'s public methods (create, open, containers, map changes):
 * everything is checked before anything is written, and every refusal is `INVALID_ARGUMENT`
 * naming the argument, never a raw TypeError from the file system or JSON.
 */
import { badArg } from '../io/errors.js';
import { describeValue, optionsArg, signalArg, booleanArg, knownOptionsArg } from '../object/args.js';
import { MAX_SPACE_BYTES } from '../media/pmem-space.js';
import { MAX_DEVICE_SIZE } from '../media/index.js';
import { MAX_POOL_TARGETS } from '../../placement/index.js';

/** Smallest per-target file a pool accepts (bytes). */
export const MIN_TARGET_FILE_BYTES = 1024 * 1024;
/** Largest per-target metadata file (bytes): what the pmem space can map. */
export const MAX_SCM_BYTES = MAX_SPACE_BYTES;
/** Largest per-target data file (bytes): what a block device addresses. */
export const MAX_DATA_BYTES = MAX_DEVICE_SIZE;
/** Longest path accepted for a pool directory (bytes of UTF-8; Linux's PATH_MAX). */
export const MAX_POOL_PATH_BYTES = 4096;

/** A pool directory: a non-empty string without NUL bytes, at most MAX_POOL_PATH_BYTES. */
export function poolDirArg(dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0') || Buffer.byteLength(dir) > MAX_POOL_PATH_BYTES) {
    throw badArg(`pool directory must be a non-empty path string, got ${describeValue(dir)}`);
  }
  return dir;
}

/** A positive integer option no larger than `max`. */
function positiveInt(v: unknown, what: string, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) throw badArg(`${what} must be an integer in 1..${max}, got ${describeValue(v)}`, { what });
  return v;
}

/** A byte size option in [min, max]. */
function sizeArg(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw badArg(`${what} must be an integer number of bytes in [${min}, ${max}], got ${describeValue(v)}`, { what });
  return v;
}

/** Option names of `Pool.open` (`PoolOpenOptions`). */
const OPEN_OPTIONS = ['durable', 'io', 'now', 'cacheBytes', 'readOnly', 'signal'] as const;
/** Option names of the pool's shape and sizes (`PoolCreateOptions`), which `Pool.create` takes besides the open options. */
const SHAPE_OPTIONS = ['nodes', 'ranksPerNode', 'targetsPerRank', 'scmBytes', 'dataBytes'] as const;
/** Option names of `Pool.connect` (`ConnectOptions`; `runsMigrations`, @internal, is the engines' leader's and still taken as before). */
export const CONNECT_OPTIONS: readonly string[] = ['etcd', 'pool', 'secret', 'now', 'signal', 'durable', 'timeoutMs', 'tls', 'runsMigrations'];
/** Option names of `pool.createContainer` (`ContainerCreateOptions`). */
const CONTAINER_OPTIONS = ['oclass', 'redundancyFactor', 'cellSize', 'checksum', 'ecMatrix', 'parityRotation'] as const;


/** Options of `Pool.open` (and the open part of `Pool.create`, whose `known` adds the shape), validated. */
export function openOptionsArg<T extends object>(opts: unknown, what = 'pool options', known: readonly string[] = OPEN_OPTIONS): T {
  const o = optionsArg<Record<string, unknown>>(opts, what);
  knownOptionsArg(o, known, what);
  booleanArg(o.durable, 'durable');
  booleanArg(o.readOnly, 'readOnly');
  if (o.io !== undefined && o.io !== 'auto' && o.io !== 'io_uring' && o.io !== 'pread') throw badArg(`io must be 'auto', 'io_uring' or 'pread', got ${describeValue(o.io)}`);
  if (o.now !== undefined && typeof o.now !== 'function') throw badArg(`now must be a function returning milliseconds, got ${describeValue(o.now)}`);
  if (o.cacheBytes !== undefined) sizeArg(o.cacheBytes, 'cacheBytes', 0, Number.MAX_SAFE_INTEGER);
  signalArg(o.signal, `${what}.signal`);
  return o as T;
}

/** Shape and sizes of `Pool.create`, validated (undefined fields keep their defaults). */
export function createOptionsArg<T extends object>(opts: unknown): T {
  const o = openOptionsArg<Record<string, unknown>>(opts, 'pool create options', [...OPEN_OPTIONS, ...SHAPE_OPTIONS]);
  if (o.readOnly === true) throw badArg('a pool cannot be created read-only');
  for (const k of ['nodes', 'ranksPerNode', 'targetsPerRank'] as const) if (o[k] !== undefined) positiveInt(o[k], k, MAX_POOL_TARGETS);
  const targets = ((o.nodes as number | undefined) ?? 1) * ((o.ranksPerNode as number | undefined) ?? 1) * ((o.targetsPerRank as number | undefined) ?? 1);
  if (targets > MAX_POOL_TARGETS) throw badArg(`a pool holds at most ${MAX_POOL_TARGETS} targets, asked for ${targets}`);
  if (o.scmBytes !== undefined) sizeArg(o.scmBytes, 'scmBytes', MIN_TARGET_FILE_BYTES, MAX_SCM_BYTES);
  if (o.dataBytes !== undefined) sizeArg(o.dataBytes, 'dataBytes', MIN_TARGET_FILE_BYTES, MAX_DATA_BYTES);
  return o as T;
}

/** Highest redundancy factor a container takes (failed fault domains it must survive). */
export const MAX_REDUNDANCY_FACTOR = 16;

/** Options of `pool.createContainer`, validated (the pool checks the class against its map). */
export function containerOptionsArg<T extends object>(opts: unknown): T {
  const o = optionsArg<Record<string, unknown>>(opts, 'container options');
  knownOptionsArg(o, CONTAINER_OPTIONS, 'container options');
  if (o.oclass !== undefined && (typeof o.oclass !== 'string' || o.oclass.length === 0)) throw badArg(`oclass must be an object class name such as EC_4P2GX, got ${describeValue(o.oclass)}`);
  if (o.redundancyFactor !== undefined && (typeof o.redundancyFactor !== 'number' || !Number.isInteger(o.redundancyFactor) || o.redundancyFactor < 0 || o.redundancyFactor > MAX_REDUNDANCY_FACTOR)) {
    throw badArg(`redundancyFactor must be an integer in 0..${MAX_REDUNDANCY_FACTOR}, got ${describeValue(o.redundancyFactor)}`);
  }
  if (o.cellSize !== undefined) sizeArg(o.cellSize, 'cellSize', 512, 16 * 1024 * 1024);
  booleanArg(o.checksum, 'checksum');
  if (o.ecMatrix !== undefined && o.ecMatrix !== 'vandermonde' && o.ecMatrix !== 'cauchy') throw badArg(`ecMatrix must be 'vandermonde' or 'cauchy', got ${describeValue(o.ecMatrix)}`);
  return o as T;
}

/** A container label: a string (its characters are checked by the pool). */
export function labelArg(label: unknown): string {
  if (typeof label !== 'string') throw badArg(`container label must be a string, got ${describeValue(label)}`);
  return label;
}

/** A target id: a non-negative integer (the pool map says whether it exists: UNKNOWN_TARGET). */
export function targetIdArg(id: unknown, what = 'target id'): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw badArg(`${what} must be a non-negative integer, got ${describeValue(id)}`);
  return id;
}

/** One target id or a non-empty array of distinct ones (`exclude`). */
export function targetIdsArg(ids: unknown): number[] {
  const list = Array.isArray(ids) ? ids : [ids];
  if (list.length === 0) throw badArg('exclude needs at least one target id');
  if (list.length > MAX_POOL_TARGETS) throw badArg(`at most ${MAX_POOL_TARGETS} target ids`);
  const out = list.map((x) => targetIdArg(x));
  if (new Set(out).size !== out.length) throw badArg('target ids must be distinct');
  return out;
}

/** Options of `pool.extend`, validated. */
export function extendArg(opts: unknown): { nodes: number; ranksPerNode?: number; targetsPerRank?: number } {
  const o = optionsArg<Record<string, unknown>>(opts, 'extend options');
  knownOptionsArg(o, ['nodes', 'ranksPerNode', 'targetsPerRank'], 'extend options');
  if (o.nodes === undefined) throw badArg('extend needs { nodes: positive integer }');
  const nodes = positiveInt(o.nodes, 'nodes', MAX_POOL_TARGETS);
  const ranksPerNode = o.ranksPerNode === undefined ? undefined : positiveInt(o.ranksPerNode, 'ranksPerNode', MAX_POOL_TARGETS);
  const targetsPerRank = o.targetsPerRank === undefined ? undefined : positiveInt(o.targetsPerRank, 'targetsPerRank', MAX_POOL_TARGETS);
  return { nodes, ...(ranksPerNode !== undefined ? { ranksPerNode } : {}), ...(targetsPerRank !== undefined ? { targetsPerRank } : {}) };
}

/** Options of `pool.scrub`, validated. */
export function scrubOptionsArg<T extends object>(opts: unknown): T {
  const o = optionsArg<Record<string, unknown>>(opts, 'scrub options');
  knownOptionsArg(o, ['signal', 'onProgress'], 'scrub options');
  signalArg(o.signal, 'scrub options.signal');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw badArg(`onProgress must be a function, got ${describeValue(o.onProgress)}`);
  return o as T;
}
