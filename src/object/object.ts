/**
 * An object handle: update / fetch / punch / enumerate one object of a container. Values are
 * single values (replaced whole) or arrays addressed by `{ recx: { index, count }, data }` in
 * records of `recordSize` bytes (default 1, byte-granular).
 */
import type { Container, ReadOptions } from '../container/container.js';
import type { Op } from '../container/ops.js';
import { fetchSingle, fetchArray, listExtents, groupShards } from './io.js';
import { unitOid, type ShardStore } from './shard-store.js';
import { toBytes, hex, compareBytes } from '../common/bytes.js';
import { badArg, ObjectError } from './errors.js';
import { throwIfAborted } from '../../core/errors.js';
import type { ObjectClass } from '../../placement/index.js';

/** Longest dkey or akey (bytes). */
export const MAX_KEY_BYTES = 4096;
/** Largest value of one update (bytes). */
export const MAX_UPDATE_BYTES = 256 * 1024 * 1024;

/** Options of `cont.object()`. */
export interface ObjectOptions {
  /** Object class for objects named by string (default: the container's). */
  oclass?: string | ObjectClass;
}

/** An array extent in records. */
export interface Recx { index: number; count: number }

/** An array update: `count * recordSize` bytes of `data` at record `index`. */
export interface ArrayValue { recx: Recx; data: Uint8Array | string; recordSize?: number }

/** Key argument: UTF-8 string or bytes. */
export type Key = string | Uint8Array;

/** Fetch options. `recx` selects an array fetch; without it a single value is fetched. */
export interface FetchOptions extends ReadOptions { recx?: Recx; recordSize?: number }

/** @internal validated key bytes. */
export function keyBytes(k: Key, what: string): Uint8Array {
  if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw badArg(`${what} must be a string or Uint8Array`);
  const b = toBytes(k);
  if (b.length === 0 || b.length > MAX_KEY_BYTES) throw badArg(`${what} must be 1..${MAX_KEY_BYTES} bytes, got ${b.length}`, { what });
  return b;
}

/** @internal validate an array update, returning its byte offset and data. */
export function arrayBytes(v: ArrayValue): { offset: number; data: Uint8Array } {
  const rs = v.recordSize ?? 1;
  if (!Number.isInteger(rs) || rs < 1 || rs > 1024 * 1024) throw badArg('recordSize must be an integer in 1..1 MiB');
  const { index, count } = v.recx ?? ({} as Recx);
  if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(count) || count < 0) throw badArg('recx needs non-negative integer index and count');
  const data = toBytes(v.data);
  if (data.length !== count * rs) throw badArg(`array data is ${data.length} bytes, recx needs ${count * rs}`);
  if (data.length > MAX_UPDATE_BYTES) throw badArg(`an update carries at most ${MAX_UPDATE_BYTES} bytes`);
  if (!Number.isSafeInteger((index + count) * rs)) throw badArg('recx out of range');
  return { offset: index * rs, data };
}

/** @internal a value argument as an op. */
export function valueOp(oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array | string | ArrayValue): Op {
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const b = toBytes(value);
    if (b.length > MAX_UPDATE_BYTES) throw badArg(`a value is at most ${MAX_UPDATE_BYTES} bytes`);
    return { kind: 'single', oid, dkey, akey, value: b };
  }
  if (typeof value !== 'object' || value === null) throw badArg('value must be a string, a Uint8Array or { recx, data }');
  const { offset, data } = arrayBytes(value);
  return { kind: 'array', oid, dkey, akey, offset, data };
}

/** A handle on one object of a container. Cheap to create; holds no resources. */
export class CairnObject {
  /** @internal */
  constructor(protected readonly cont: Container, readonly oid: bigint, protected readonly opts: ObjectOptions = {}) {}

  /** Update one akey: a single value (string or bytes) or an array extent. Resolves to the commit epoch. */
  async update(dkey: Key, akey: Key, value: Uint8Array | string | ArrayValue, opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    throwIfAborted(opts.signal);
    const op = valueOp(this.oid, keyBytes(dkey, 'dkey'), keyBytes(akey, 'akey'), value);
    return this.cont.commit([op], undefined, opts.signal);
  }

  /**
   * Fetch a single value (`Uint8Array`, or `undefined` when nothing is visible) or, with `recx`,
   * an array extent (holes read as zeros). Reads at `epoch`, `snapshot`, or the stable epoch.
   */
  async fetch(dkey: Key, akey: Key, opts: FetchOptions = {}): Promise<Uint8Array | undefined> {
    return this.cont.retryStale(() => this.fetchOnce(dkey, akey, opts));
  }

  private async fetchOnce(dkey: Key, akey: Key, opts: FetchOptions): Promise<Uint8Array | undefined> {
    const epoch = this.cont.readEpoch(opts);
    this.cont.checkNotLost(this.oid);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    const { groups, red } = this.cont.layout(this.oid);
    const g = this.cont.groupOf(groups, d);
    if (opts.recx) {
      const rs = opts.recordSize ?? 1;
      const { index, count } = opts.recx;
      if (!Number.isSafeInteger(index) || index < 0 || !Number.isSafeInteger(count) || count < 0) throw badArg('recx needs non-negative integer index and count');
      if (count * rs > MAX_UPDATE_BYTES) throw badArg(`a fetch returns at most ${MAX_UPDATE_BYTES} bytes`);
      return fetchArray(this.cont.io(), red, groups, g, this.oid, d, a, index * rs, count * rs, epoch);
    }
    return fetchSingle(this.cont.io(), red, groups, g, this.oid, d, a, epoch);
  }

  /** Punch the whole object (all dkeys) at a new epoch. */
  async punch(opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    return this.cont.commit([{ kind: 'punchObject', oid: this.oid }], undefined, opts.signal);
  }

  /** Punch one dkey and everything below it. */
  async punchDkey(dkey: Key, opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    return this.cont.commit([{ kind: 'punchDkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey') }], undefined, opts.signal);
  }

  /** Punch one akey of a dkey. */
  async punchAkey(dkey: Key, akey: Key, opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    return this.cont.commit([{ kind: 'punchAkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey'), akey: keyBytes(akey, 'akey') }], undefined, opts.signal);
  }

  /**
   * Keys listed by the shards of one group: replicas and striped shards hold every key, so the
   * first healthy shard answers; an EC data shard holds only the keys whose cells it received, so
   * EC groups are the union over every healthy shard.
   */
  private async groupKeys(g: number, list: (s: ShardStore, uoid: bigint) => AsyncIterable<Uint8Array>, dkey: Uint8Array, signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
    return this.cont.retryStale(() => this.groupKeysOnce(g, list, dkey, signal));
  }

  private async groupKeysOnce(g: number, list: (s: ShardStore, uoid: bigint) => AsyncIterable<Uint8Array>, dkey: Uint8Array, signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
    this.cont.checkNotLost(this.oid);
    const { groups, red } = this.cont.layout(this.oid);
    const io = this.cont.io();
    const out = new Map<string, Uint8Array>();
    let answered = 0;
    for (const { shard, target } of groupShards(groups, g)) {
      throwIfAborted(signal);
      if (!io.available(target)) continue;
      try {
        const store = await io.store(target);
        const keys: Uint8Array[] = [];
        for await (const k of list(store, unitOid(this.oid, shard))) keys.push(k);
        for (const k of keys) out.set(hex(k), k);
        answered++;
        if (red.kind !== 'ec') break;
      } catch (err) {
        if ((err as { code?: string }).code === 'STALE_MAP') throw err;
        io.reportBadShard({ target, oid: this.oid, shard, dkey, akey: new Uint8Array(0), error: err });
      }
    }
    const need = red.kind === 'ec' ? red.dataShards : 1;
    if (answered < need) throw new ObjectError('DATA_LOST', `object ${this.oid.toString(16)}: group ${g} cannot be enumerated`, { oid: this.oid.toString(16), group: g });
    return out;
  }

  /** Every dkey visible at the read epoch, in byte order. */
  async *listDkeys(opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const epoch = this.cont.readEpoch(opts);
    const { groups } = this.cont.layout(this.oid);
    const seen = new Map<string, Uint8Array>();
    for (let g = 0; g < groups.length; g++) {
      const keys = await this.groupKeys(g, (s, u) => s.listDkeys(epoch, u), new Uint8Array(0), opts.signal);
      for (const [h, k] of keys) if (this.cont.groupOf(groups, k) === g) seen.set(h, k);
    }
    for (const k of [...seen.values()].sort(compareBytes)) yield k;
  }

  /** Every akey of a dkey visible at the read epoch, in byte order. */
  async *listAkeys(dkey: Key, opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    const epoch = this.cont.readEpoch(opts);
    const d = keyBytes(dkey, 'dkey');
    const { groups } = this.cont.layout(this.oid);
    const keys = await this.groupKeys(this.cont.groupOf(groups, d), (s, u) => s.listAkeys(epoch, u, d), d, opts.signal);
    for (const k of [...keys.values()].sort(compareBytes)) yield k;
  }

  /** The extents of an array akey visible at the read epoch (bytes, merged, ascending). */
  async *listRecx(dkey: Key, akey: Key, opts: ReadOptions = {}): AsyncGenerator<Recx> {
    const epoch = this.cont.readEpoch(opts);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    this.cont.checkNotLost(this.oid);
    const { groups, red } = this.cont.layout(this.oid);
    const g = this.cont.groupOf(groups, d);
    for (const x of await listExtents(this.cont.io(), red, groups, g, this.oid, d, a, epoch)) yield x;
  }

  /** The greatest dkey (byte order) visible at the read epoch, or undefined for an empty object. */
  async queryMaxDkey(opts: ReadOptions = {}): Promise<Uint8Array | undefined> {
    let max: Uint8Array | undefined;
    for await (const k of this.listDkeys(opts)) if (!max || compareBytes(k, max) > 0) max = k;
    return max;
  }
}
