/**
 * `CairnLevel`: an abstract-level database stored in one KV object of a Cairn container, so the
 * Level ecosystem (sublevels, encodings, level-read-stream, ...) runs on Cairn unchanged.
 *
 * - Keys are kept in byte order: each Level key `k` is the dkey `0x00 || k` (the prefix byte lets
 *   the empty key exist, since dkeys are 1..4096 bytes), values are single values.
 * - Iterators read the KV object's ordered range listing (`gt/gte/lt/lte/reverse/limit`).
 * - `batch()` is one Cairn commit: atomic, at one epoch.
 * - Snapshots are Cairn epochs: every read and iterator captures the container's stable epoch
 *   synchronously when it is created (implicit snapshots); `db.snapshot()` captures one epoch for
 *   many reads and pins it with an open transaction so space reclamation keeps its versions.
 */
import { AbstractLevel, AbstractIterator, AbstractKeyIterator, AbstractSnapshot } from 'abstract-level';
import type { AbstractDatabaseOptions, AbstractOpenOptions } from 'abstract-level';
import { CairnError, InvalidArgumentError } from '../../core/errors.js';
import type { Container, KeyValue, KeyRange, Transaction, KvBatchOp } from '../index.js';

/** The byte in front of every Level key. */
export const LEVEL_KEY_PREFIX = 0x00;
/** Longest Level key (a dkey holds at most 4096 bytes, one is the prefix). */
export const MAX_LEVEL_KEY_BYTES = 4095;
/** Keys one `clear()` deletes per commit. */
export const CLEAR_BATCH_KEYS = 1000;

const PREFIX_ONLY = new Uint8Array([LEVEL_KEY_PREFIX]);
const PAST_PREFIX = new Uint8Array([LEVEL_KEY_PREFIX + 1]);

/** Options of `new CairnLevel(container, options)`. */
export interface CairnLevelOptions<K = string, V = string> extends AbstractDatabaseOptions<K, V> {
  /** Name of the KV object holding the database (required). */
  object: string;
  /** Object class of that object (default: the container's). */
  oclass?: string;
}

function toKey(k: Uint8Array): Uint8Array {
  if (k.length > MAX_LEVEL_KEY_BYTES) throw new InvalidArgumentError(`a Level key is at most ${MAX_LEVEL_KEY_BYTES} bytes, got ${k.length}`);
  const out = new Uint8Array(k.length + 1);
  out[0] = LEVEL_KEY_PREFIX;
  out.set(k, 1);
  return out;
}

const fromKey = (d: Uint8Array): Uint8Array => d.subarray(1);

/**
 * Whether `k` can be a stored Level key. Only writes refuse a longer key (`put`, a batch `put`:
 * INVALID_ARGUMENT, nothing written), since storing it is impossible; a longer key cannot exist,
 * so reading it finds nothing (`get`/`getMany` undefined, `has`/`hasMany` false) and deleting it
 * (`del`, a batch `del`) removes nothing and succeeds, as for any absent key — the same view as
 * range bounds of any length (`lowerBound`).
 */
const storable = (k: Uint8Array): boolean => k.length <= MAX_LEVEL_KEY_BYTES;

/** The dkey marking that the database was created (outside the Level key space, which starts with 0x00). */
const CREATED_KEY = new Uint8Array([LEVEL_KEY_PREFIX + 1, 0x63]);

function cmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * A range bound as a prefixed dkey. Stored keys hold at most MAX_LEVEL_KEY_BYTES bytes, so a
 * longer bound is the same bound as its first MAX_LEVEL_KEY_BYTES bytes `m` (no stored key lies
 * strictly between `m` and it): `gt`/`gte` it is `gt m`, `lt`/`lte` it is `lte m`. A bound is
 * never refused for its length (LevelDB takes bounds of any length).
 */
function lowerBound(b: Uint8Array, inclusive: boolean): { gt?: Uint8Array; gte?: Uint8Array } {
  if (b.length > MAX_LEVEL_KEY_BYTES) return { gt: toKey(b.subarray(0, MAX_LEVEL_KEY_BYTES)) };
  return inclusive ? { gte: toKey(b) } : { gt: toKey(b) };
}
function upperBound(b: Uint8Array, inclusive: boolean): { lt?: Uint8Array; lte?: Uint8Array } {
  if (b.length > MAX_LEVEL_KEY_BYTES) return { lte: toKey(b.subarray(0, MAX_LEVEL_KEY_BYTES)) };
  return inclusive ? { lte: toKey(b) } : { lt: toKey(b) };
}

/** Level range options (already encoded to bytes) as a Cairn key range over the prefixed keys. */
export function levelRange(o: { gt?: unknown; gte?: unknown; lt?: unknown; lte?: unknown; reverse?: boolean }): KeyRange {
  const bytes = (v: unknown) => (v instanceof Uint8Array ? v : undefined);
  const gt = bytes(o.gt), gte = bytes(o.gte), lt = bytes(o.lt), lte = bytes(o.lte);
  const r: KeyRange = { reverse: !!o.reverse };
  // As in abstract-level: gte takes precedence over gt, lte over lt.
  if (gte) Object.assign(r, lowerBound(gte, true));
  else if (gt) Object.assign(r, lowerBound(gt, false));
  else r.gte = PREFIX_ONLY;
  if (lte) Object.assign(r, upperBound(lte, true));
  else if (lt) Object.assign(r, upperBound(lt, false));
  else r.lt = PAST_PREFIX;
  return r;
}

/** An explicit snapshot: one Cairn epoch, pinned by an open transaction until closed. */
export class CairnSnapshot extends AbstractSnapshot {
  /** The epoch every read with this snapshot sees. */
  readonly epoch: bigint;
  private readonly pin: Transaction;

  constructor(container: Container, options: object) {
    // @ts-expect-error abstract-level's types omit the options argument its runtime requires (the owner)
    super(options);
    this.pin = container.beginTx();
    this.epoch = this.pin.readEpoch;
  }

  async _close(): Promise<void> { await this.pin.abort(); }
}

type ReadOpts = { snapshot?: unknown };

/** Entries of a range at one epoch; `seek` restarts the listing at a target inside the range. */
class RangeCursor<T> {
  private it?: AsyncGenerator<T>;
  private range: KeyRange;

  /** (everything that can fail is computed before the iterator exists: abstract-level registers an
   * iterator with its database in its constructor, and closes it with the database) */
  constructor(options: Record<string, unknown>, private readonly epoch: bigint, private readonly list: (r: KeyRange & { epoch: bigint }) => AsyncGenerator<T>) {
    this.range = levelRange(options);
  }

  next(limitLeft: number): Promise<IteratorResult<T>> {
    this.it ??= this.list({ ...this.range, epoch: this.epoch, limit: Number.isFinite(limitLeft) ? limitLeft : undefined });
    return this.it.next();
  }

  seek(target: Uint8Array): void {
    // The seek target as a bound in the listing's direction (a target longer than any key too).
    const r = { ...this.range };
    if (!r.reverse) {
      const b = lowerBound(target, true), t = (b.gte ?? b.gt)!;
      const lo = (r.gt ?? r.gte)!;
      const c = cmp(t, lo as Uint8Array);
      // (at an equal key the exclusive bound is the narrower one)
      if (c > 0 || (c === 0 && b.gt !== undefined)) { delete r.gt; delete r.gte; Object.assign(r, b); }
    } else {
      const b = upperBound(target, true), t = (b.lte ?? b.lt)!;
      const hi = (r.lt ?? r.lte)!;
      const c = cmp(t, hi as Uint8Array);
      if (c < 0 || (c === 0 && b.lt !== undefined)) { delete r.lt; delete r.lte; Object.assign(r, b); }
    }
    void this.it?.return(undefined);
    this.it = undefined;
    this.range = r;
  }

  async close(): Promise<void> { await this.it?.return(undefined); this.it = undefined; }
}

function snapshotEpoch(db: CairnLevel<unknown, unknown>, options: ReadOpts): bigint {
  return options.snapshot instanceof CairnSnapshot ? options.snapshot.epoch : db.container.stableEpoch();
}

class CairnIterator extends AbstractIterator<CairnLevel<unknown, unknown>, Uint8Array, Uint8Array> {
  private readonly cursor: RangeCursor<[Uint8Array, Uint8Array]>;
  constructor(db: CairnLevel<unknown, unknown>, options: Record<string, unknown>) {
    const cursor = new RangeCursor(options, snapshotEpoch(db, options), (r) => db.kv.entries(r));
    super(db, options as never);
    this.cursor = cursor;
  }
  async _next(): Promise<[Uint8Array, Uint8Array] | undefined> {
    const r = await this.cursor.next(this.limit - this.count);
    return r.done ? undefined : [fromKey(r.value[0]), r.value[1]];
  }
  async _nextv(size: number): Promise<Array<[Uint8Array, Uint8Array]>> {
    const out: Array<[Uint8Array, Uint8Array]> = [];
    while (out.length < size) {
      const e = await this._next();
      if (!e) break;
      out.push(e);
    }
    return out;
  }
  async _all(): Promise<Array<[Uint8Array, Uint8Array]>> { return this._nextv(Infinity); }
  _seek(target: Uint8Array): void { this.cursor.seek(target); }
  async _close(): Promise<void> { await this.cursor.close(); }
}

class CairnKeyIterator extends AbstractKeyIterator<CairnLevel<unknown, unknown>, Uint8Array> {
  private readonly cursor: RangeCursor<Uint8Array>;
  constructor(db: CairnLevel<unknown, unknown>, options: Record<string, unknown>) {
    const cursor = new RangeCursor(options, snapshotEpoch(db, options), (r) => db.kv.list(r));
    super(db, options as never);
    this.cursor = cursor;
  }
  async _next(): Promise<Uint8Array | undefined> {
    const r = await this.cursor.next(this.limit - this.count);
    return r.done ? undefined : fromKey(r.value);
  }
  async _nextv(size: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    while (out.length < size) {
      const k = await this._next();
      if (!k) break;
      out.push(k);
    }
    return out;
  }
  async _all(): Promise<Uint8Array[]> { return this._nextv(Infinity); }
  _seek(target: Uint8Array): void { this.cursor.seek(target); }
  async _close(): Promise<void> { await this.cursor.close(); }
}

/** An abstract-level database in one KV object of a Cairn container. */
export class CairnLevel<K = string, V = string> extends AbstractLevel<Uint8Array, K, V> {
  /** The KV object holding the data. */
  readonly kv: KeyValue;

  constructor(readonly container: Container, options: CairnLevelOptions<K, V>) {
    if (typeof options !== 'object' || options === null || typeof options.object !== 'string' || options.object.length === 0) {
      throw new InvalidArgumentError('CairnLevel needs { object: "name" }: the KV object holding the database');
    }
    const { object, oclass, ...levelOptions } = options;
    super({
      encodings: { view: true },
      implicitSnapshots: true,
      explicitSnapshots: true,
      has: true,
      permanence: true,
      seek: true,
      createIfMissing: true,
      errorIfExists: true,
    }, levelOptions as AbstractDatabaseOptions<K, V>);
    this.kv = container.kv(object, oclass ? { oclass } : {});
  }

  /**
   * Open: the database exists once it has been opened with createIfMissing (a marker key outside
   * the Level key space records that), as a directory-backed Level would.
   */
  async _open(options: AbstractOpenOptions): Promise<void> {
    const exists = await this.kv.has(CREATED_KEY);
    const name = `Level database in object ${this.kv.object.oid.toString(16)}`;
    if (!exists && options.createIfMissing === false) throw new CairnError('NOT_FOUND', `${name} does not exist (createIfMissing is false)`);
    if (exists && options.errorIfExists === true) throw new CairnError('EXISTS', `${name} exists (errorIfExists is true)`);
    if (!exists) await this.kv.put(CREATED_KEY, new Uint8Array(0));
  }

  async _get(key: Uint8Array, options: ReadOpts): Promise<Uint8Array | undefined> {
    const epoch = snapshotEpoch(this as never, options);
    if (!storable(key)) return undefined;
    return this.kv.get(toKey(key), { epoch });
  }

  async _getMany(keys: Uint8Array[], options: ReadOpts): Promise<Array<Uint8Array | undefined>> {
    const epoch = snapshotEpoch(this as never, options);
    const ok = keys.filter(storable);
    if (ok.length === keys.length) return this.kv.getMany(keys.map(toKey), { epoch });
    const got = ok.length ? await this.kv.getMany(ok.map(toKey), { epoch }) : [];
    let i = 0;
    return keys.map((k) => (storable(k) ? got[i++] : undefined));
  }

  async _has(key: Uint8Array, options: ReadOpts): Promise<boolean> {
    const epoch = snapshotEpoch(this as never, options);
    if (!storable(key)) return false;
    return this.kv.has(toKey(key), { epoch });
  }

  async _hasMany(keys: Uint8Array[], options: ReadOpts): Promise<boolean[]> {
    return (await this._getMany(keys, options)).map((v) => v !== undefined);
  }

  async _put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.kv.put(toKey(key), value);
  }

  async _del(key: Uint8Array): Promise<void> {
    if (!storable(key)) return;
    await this.kv.remove(toKey(key));
  }

  async _batch(operations: Array<{ type: 'put' | 'del'; key: Uint8Array; value?: Uint8Array }>): Promise<void> {
    const ops: KvBatchOp[] = [];
    for (const o of operations) {
      if (o.type === 'put') ops.push({ type: 'put', key: toKey(o.key), value: o.value! });
      else if (storable(o.key)) ops.push({ type: 'del', key: toKey(o.key) });
    }
    if (ops.length) await this.kv.batch(ops);
  }

  async _clear(options: Record<string, unknown>): Promise<void> {
    const epoch = snapshotEpoch(this as never, options);
    const limit = options.limit as number;
    const range: KeyRange = { ...levelRange(options), limit: limit >= 0 ? limit : undefined };
    let batch: KvBatchOp[] = [];
    for await (const k of this.kv.list({ ...range, epoch })) {
      batch.push({ type: 'del', key: k });
      if (batch.length >= CLEAR_BATCH_KEYS) { await this.kv.batch(batch); batch = []; }
    }
    if (batch.length) await this.kv.batch(batch);
  }

  _iterator(options: Record<string, unknown>): CairnIterator {
    return new CairnIterator(this as never, options);
  }

  _keys(options: Record<string, unknown>): CairnKeyIterator {
    return new CairnKeyIterator(this as never, options);
  }

  _snapshot(options: object): CairnSnapshot {
    return new CairnSnapshot(this.container, options);
  }
}
