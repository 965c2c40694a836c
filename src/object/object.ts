/**
 * An object handle: update / fetch / punch / enumerate one object of a container. Values are
 * single values (replaced whole) or arrays addressed by `{ recx: { index, count }, data }` in
 * records of `recordSize` bytes (default 1, byte-granular).
 */
import type { ContainerPort, ReadOptions } from '../container/container.js';
import type { Op } from '../container/ops.js';
import { fetchSingleNow, fetchArray, listExtents, groupShards, roleShards, dkeyRotation, passesOn } from '../io/io.js';
import { unitOid, type ShardStore, type FreshFrom } from '../io/shard-store.js';
import { epochAtMs } from '../container/epoch-clock.js';
import { ContainerStore } from '../vos/container-store.js';
import { prefetchPoint, prefetchPoints, prefetchSlots, preparedRead, unprepare, POINT_PREFETCH_MAX } from '../vos/reads.js';
import { toBytes, hex, compareBytes } from '../../core/bytes.js';
import { utf8, wellFormed } from '../container/utf8.js';
import { badArg, ObjectError } from '../io/errors.js';
import { NO_OPTIONS, READ_OPTION_NAMES, bytesArg, countArg, describeValue, liveBytes, optionsArg, readOptionsArg, signalOptions, type ObjectOptions } from './args.js';
import { throwIfAborted } from '../../core/errors.js';
import { adoptResult } from '../media/aligned.js';
import { swallow } from '../../core/log.js';
import type { Redundancy, IoContext } from '../io/io.js';

/** Longest dkey or akey (bytes). */
export const MAX_KEY_BYTES = 4096;
/** Largest value of one update (bytes). */
export const MAX_UPDATE_BYTES = 256 * 1024 * 1024;

/** Options of `cont.object()` (defined beside their validation, `args.ts`). */
export type { ObjectOptions } from './args.js';

/** An array extent in records. */
export interface Recx { index: number; count: number }

/** An array update: `count * recordSize` bytes of `data` at record `index`. */
export interface ArrayValue { recx: Recx; data: Uint8Array | string; recordSize?: number }

/** Key argument: UTF-8 string or bytes. */
export type Key = string | Uint8Array;

/**
 * Bounds and order of a key listing (the Level / S3 vocabulary): keys greater than `gt` (or at
 * least `gte`), less than `lt` (or at most `lte`), in byte order, descending with `reverse`, at
 * most `limit` of them. Bounds may be empty; give at most one lower and one upper bound.
 */
export type KeyRange = { gt?: Key; gte?: Key; lt?: Key; lte?: Key; reverse?: boolean; limit?: number };

/** The option names of a dkey listing (`listDkeys`, `kv.list`, `kv.entries`): a read's and a `KeyRange`'s. */
export const LISTING_OPTION_NAMES: readonly string[] = [...READ_OPTION_NAMES, 'gt', 'gte', 'lt', 'lte', 'reverse', 'limit'];

/** @internal a validated `KeyRange`. */
export interface KeyBounds {
  lo?: Uint8Array; loInclusive: boolean;
  hi?: Uint8Array; hiInclusive: boolean;
  reverse: boolean;
  /** Most keys to return (Infinity: no limit). */
  limit: number;
}

/** Attempts of a listing that meets a pool map changed under it (each resumes after the last key). */
const MAX_LISTING_RESTARTS = 8;

function boundBytes(k: unknown, what: string): Uint8Array {
  if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw badArg(`${what} must be a string or Uint8Array`, { what });
  const b = toBytes(k);
  if (b.length > MAX_KEY_BYTES) throw badArg(`${what} must be at most ${MAX_KEY_BYTES} bytes, got ${b.length}`, { what });
  return b;
}

/** @internal validate a `KeyRange` (INVALID_ARGUMENT on anything malformed). */
export function keyBounds(r: KeyRange): KeyBounds {
  if (typeof r !== 'object' || r === null) throw badArg('range options must be an object');
  if (r.gt !== undefined && r.gte !== undefined) throw badArg('give gt or gte, not both');
  if (r.lt !== undefined && r.lte !== undefined) throw badArg('give lt or lte, not both');
  if (r.reverse !== undefined && typeof r.reverse !== 'boolean') throw badArg('reverse must be a boolean');
  const limit = r.limit ?? Infinity;
  if (typeof limit !== 'number' || !(limit === Infinity || (Number.isSafeInteger(limit) && limit >= 0))) throw badArg('limit must be a non-negative integer or Infinity', { limit: String(limit) });
  const lo = r.gt !== undefined ? boundBytes(r.gt, 'gt') : r.gte !== undefined ? boundBytes(r.gte, 'gte') : undefined;
  const hi = r.lt !== undefined ? boundBytes(r.lt, 'lt') : r.lte !== undefined ? boundBytes(r.lte, 'lte') : undefined;
  return { lo, loInclusive: r.gt === undefined, hi, hiInclusive: r.lt === undefined, reverse: r.reverse ?? false, limit };
}

/** @internal whether `k` lies at or above the lower bound of `b`. */
export function aboveLower(k: Uint8Array, b: Pick<KeyBounds, 'lo' | 'loInclusive'>): boolean {
  if (!b.lo) return true;
  const c = compareBytes(k, b.lo);
  return b.loInclusive ? c >= 0 : c > 0;
}

/** @internal whether `k` lies at or below the upper bound of `b`. */
export function belowUpper(k: Uint8Array, b: Pick<KeyBounds, 'hi' | 'hiInclusive'>): boolean {
  if (!b.hi) return true;
  const c = compareBytes(k, b.hi);
  return b.hiInclusive ? c <= 0 : c < 0;
}

/** @internal whether the range of `b` holds no key (or `limit` is 0): a listing of it yields nothing. */
export function emptyBounds(b: KeyBounds): boolean {
  if (b.limit === 0) return true;
  if (!b.lo || !b.hi) return false;
  const c = compareBytes(b.lo, b.hi);
  return c > 0 || (c === 0 && !(b.loInclusive && b.hiInclusive));
}

/**
 * @internal The keys of `ascending` (keys of the range of `b`, in byte order) in the order of
 * `b` (descending with `reverse`), at most `b.limit` of them. A forward listing streams and stops
 * its source at the limit; a reverse one is buffered (at most `limit` keys, else the whole range):
 * the per-target store is being rewritten to give ordered range scans in both directions, and
 * will plug in here.
 */
export async function* orderedLimited(ascending: AsyncIterable<Uint8Array>, b: KeyBounds): AsyncGenerator<Uint8Array> {
  if (b.reverse) {
    const tail: Uint8Array[] = [];
    for await (const k of ascending) {
      tail.push(k);
      if (tail.length > b.limit) tail.shift();
    }
    for (let i = tail.length - 1; i >= 0; i--) yield tail[i]!;
    return;
  }
  let n = 0;
  for await (const k of ascending) {
    yield k;
    if (++n >= b.limit) return;
  }
}

/**
 * @internal Merge ascending key streams into one ascending stream without duplicates. Holds one
 * key per stream (a binary heap), so memory stays bounded by the number of streams; stopping
 * early closes every stream.
 */
export async function* mergeAscending(streams: AsyncIterator<Uint8Array>[]): AsyncGenerator<Uint8Array> {
  type Head = { key: Uint8Array; it: AsyncIterator<Uint8Array> };
  const heap: Head[] = [];
  const less = (a: Head, b: Head) => compareBytes(a.key, b.key) < 0;
  const push = (h: Head) => {
    heap.push(h);
    for (let i = heap.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): Head => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  try {
    const firsts = await Promise.all(streams.map(async (it) => ({ it, r: await it.next() })));
    for (const { it, r } of firsts) if (!r.done) push({ key: r.value, it });
    let last: Uint8Array | undefined;
    while (heap.length > 0) {
      const h = pop();
      if (!last || compareBytes(h.key, last) !== 0) { last = h.key; yield h.key; }
      const r = await h.it.next();
      if (!r.done) push({ key: r.value, it: h.it });
    }
  } finally {
    // Closing the streams of a listing that ended or stopped early: a shard failing to close is counted.
    await Promise.all(streams.map((it) => it.return?.().catch(swallow('object.close-listing-stream'))));
  }
}

/**
 * @internal The option key of a read at an explicit epoch that is one step of a read "now" run by
 * `CairnObject.readAt` (a multi-chunk array read, `getMany`, `entries`): the start of its
 * uncertainty window (shard-store.ts `FreshFrom`). Such a step sends the bound and leaves the
 * rereads to its caller (STALE_EPOCH is passed on). A symbol: no caller's options carry it by chance.
 */
export const FRESH_FROM: unique symbol = Symbol('cairn.freshFrom');

/** @internal Read options that may carry `FRESH_FROM`. */
export interface FreshReadOptions extends ReadOptions { [FRESH_FROM]?: FreshFrom }

/** Fetch options. `recx` selects an array fetch; without it a single value is fetched. */
export interface FetchOptions extends ReadOptions {
  recx?: Recx; recordSize?: number;
  /** @internal see `FRESH_FROM` (a public type names no internal one: the consumer's .d.ts would not compile). */
  [FRESH_FROM]?: FreshFrom;
  /** @internal array fetches: the bytes are read straight into this buffer (exactly the extent's length), which is returned. */
  into?: Uint8Array;
}

/** The option names of `fetch` (`FetchOptions`). */
export const FETCH_OPTION_NAMES: readonly string[] = [...READ_OPTION_NAMES, 'recx', 'recordSize', 'into'];

/**
 * Longest a read "now" refused for a write it is held below (by this client's own commits in
 * flight) waits for those commits to end before it reads without its bound (`FreshRead`).
 */
export const HELD_READ_WAIT_MS = 2000;

/** Whether `err` is an engine's refusal of a read "now" (a write in its uncertainty window), and the write's epoch then. */
function uncertainWrite(err: unknown): bigint | undefined {
  if ((err as { code?: string } | null)?.code !== 'STALE_EPOCH') return undefined;
  const e = (err as { info?: { epoch?: unknown } }).info?.epoch;
  return typeof e === 'string' && /^\d{1,60}$/.test(e) ? BigInt(e) : -1n;
}

/**
 * One read "now" of a pool other clients share, as `retryStale` reruns it (`CairnObject.readAt`):
 * each attempt reads at the current "now" with the first attempt's epoch as `fresh`, so the
 * uncertainty window shrinks from attempt to attempt. An attempt whose epoch is held below a
 * write it was refused for (this client's own commits in flight keep its stable epoch below
 * them) first waits, once and for at most HELD_READ_WAIT_MS, for those commits to end (their
 * acknowledgement takes about one round trip), then reads at the new "now" with its bound; if
 * they have not ended by then it reads without the bound, as reads did before (docs/scale.md,
 * "Freshness", limits).
 */
class FreshRead<T> {
  private first: bigint | undefined;
  /** The highest write epoch an attempt was refused for (-1: none). */
  private refused = -1n;
  /** Whether this read already waited for its own commits in flight (`waitHeld`). */
  private waited = false;
  constructor(private readonly port: ContainerPort, private readonly opts: ReadOptions, private readonly read: (epoch: bigint, fresh: FreshFrom) => T | Promise<T>) {}

  readonly attempt = (): T | Promise<T> => {
    const epoch = this.port.readEpoch(this.opts);
    // The window starts at "now", also when the read is held below this client's own commits in
    // flight (its epoch is then older): a commit another client had acknowledged before the read
    // began lies below now + ε, so the engine refuses the held read and it waits (`waitHeld`).
    if (this.first === undefined) { const now = epochAtMs(Date.now()); this.first = epoch > now ? epoch : now; }
    if (epoch < this.refused && !this.waited) return this.waitHeld();
    const r = this.read(epoch, epoch < this.refused ? undefined : this.first);
    return r instanceof Promise ? r.catch(this.note) : r;
  };

  /**
   * Held below a write it was refused for: wait until the stable epoch passes that write (this
   * client's older commits ended) or HELD_READ_WAIT_MS went by (polled every millisecond: only
   * refused reads of a client with commits in flight come here), then attempt again.
   */
  private async waitHeld(): Promise<T> {
    this.waited = true;
    const until = performance.now() + HELD_READ_WAIT_MS;
    while (this.port.readEpoch(this.opts) < this.refused && performance.now() < until) {
      throwIfAborted(this.opts.signal);
      await new Promise<void>((r) => setTimeout(r, 1));
    }
    return this.attempt();
  }

  private readonly note = (err: unknown): never => {
    const w = uncertainWrite(err);
    if (w !== undefined && w > this.refused) this.refused = w;
    throw err;
  };
}

/** Longest string key (UTF-16 code units) whose encoding `keyBytes` keeps. */
const KEY_CACHE_MAX_CHARS = 32;
/** String keys whose encodings `keyBytes` keeps (the cache is cleared when full). */
const KEY_CACHE_SIZE = 1024;
/**
 * Encodings of short string keys: most programs use a few keys over and over (a KV's akey, field
 * names), and encoding one is an allocation per operation. The cached arrays are shared, which is
 * safe because key bytes are only read below this layer (copied or hashed where they are kept),
 * never written or handed back to a caller.
 */
const keyCache = new Map<string, Uint8Array>();

function stringKeyBytes(k: string, what: string): Uint8Array {
  if (k.length > KEY_CACHE_MAX_CHARS) return wellFormedUtf8(k, what);
  let b = keyCache.get(k);
  if (b === undefined) {
    b = wellFormedUtf8(k, what);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
    keyCache.set(k, b);
  }
  return b;
}

/** The UTF-8 of a string key; a lone surrogate is refused (it would encode as U+FFFD, the same key as any other lone one). */
function wellFormedUtf8(k: string, what: string): Uint8Array {
  const b = utf8(k);
  if (b.length !== k.length && !wellFormed(k)) throw badArg(`${what} must be well-formed UTF-16 (it holds a lone surrogate, which UTF-8 cannot carry), or bytes`, { what });
  return b;
}

/** @internal validated key bytes (a string key's encoding may be a shared array: never write to it). */
export function keyBytes(k: Key, what: string): Uint8Array {
  if (typeof k !== 'string' && !(k instanceof Uint8Array)) throw badArg(`${what} must be a string or Uint8Array, got ${describeValue(k)}`, { what });
  const b = typeof k === 'string' ? stringKeyBytes(k, what) : k;
  if (b.length === 0 || b.length > MAX_KEY_BYTES) throw badArg(`${what} must be 1..${MAX_KEY_BYTES} bytes, got ${b.length}`, { what });
  return b;
}

/** Largest record size of an array akey (bytes). */
export const MAX_RECORD_BYTES = 1024 * 1024;

/** @internal a record size (default 1): an integer in 1..MAX_RECORD_BYTES. */
export function recordSizeArg(rs: unknown): number {
  if (rs === undefined) return 1;
  if (typeof rs !== 'number' || !Number.isInteger(rs) || rs < 1 || rs > MAX_RECORD_BYTES) throw badArg(`recordSize must be an integer in 1..1 MiB, got ${describeValue(rs)}`);
  return rs;
}

/** @internal validate the extent of an array fetch: its byte offset and length (at most MAX_UPDATE_BYTES). */
export function fetchExtent(recx: unknown, recordSize: unknown): { offset: number; length: number } {
  const rs = recordSizeArg(recordSize);
  const r = optionsArg<Recx>(recx, 'recx');
  const index = countArg(r.index, 'recx.index'), count = countArg(r.count, 'recx.count');
  if (count * rs > MAX_UPDATE_BYTES) throw new ObjectError('VALUE_TOO_LARGE', `a fetch returns at most ${MAX_UPDATE_BYTES} bytes, asked for ${count * rs}`, { count, recordSize: rs });
  if (!Number.isSafeInteger((index + count) * rs)) throw badArg('recx out of range');
  return { offset: index * rs, length: count * rs };
}

/** @internal validate an array update, returning its byte offset and data. */
export function arrayBytes(v: ArrayValue): { offset: number; data: Uint8Array } {
  const rs = recordSizeArg(v.recordSize);
  const recx = optionsArg<Recx>(v.recx, 'recx');
  const index = countArg(recx.index, 'recx.index'), count = countArg(recx.count, 'recx.count');
  const data = toBytes(bytesArg(v.data, 'array data'));
  if (data.length !== count * rs) throw badArg(`array data is ${data.length} bytes, recx needs ${count * rs}`);
  if (data.length > MAX_UPDATE_BYTES) throw new ObjectError('VALUE_TOO_LARGE', `an update carries at most ${MAX_UPDATE_BYTES} bytes, got ${data.length}`, { length: data.length });
  if (!Number.isSafeInteger((index + count) * rs)) throw badArg('recx out of range');
  return { offset: index * rs, data };
}

/**
 * @internal a value argument as an op. A single value given as bytes is copied here, at the call:
 * its checksum is taken when the commit starts and its bytes are stored after the INTENT is
 * recorded, so a caller reusing its buffer for the next put before this one is acknowledged
 * (pipelined puts) would otherwise store bytes that fail their own checksum (DATA_LOST) or
 * replicas that differ. (Array extents are not copied: their bytes are hashed where they are
 * written, and must not change until the update settles, as with `fs.write`.)
 */
export function valueOp(oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array | string | ArrayValue): Op {
  if (typeof value === 'string' || value instanceof Uint8Array) {
    const b = toBytes(value);
    if (b.length > MAX_UPDATE_BYTES) throw new ObjectError('VALUE_TOO_LARGE', `a value is at most ${MAX_UPDATE_BYTES} bytes, got ${b.length}`, { length: b.length });
    return { kind: 'single', oid, dkey, akey, value: typeof value === 'string' ? b : new Uint8Array(liveBytes(b, 'value')) };
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) throw badArg(`value bytes must be a Uint8Array (or a Buffer), got ${describeValue(value)}`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badArg(`value must be a string, a Uint8Array or { recx, data }, got ${describeValue(value)}`);
  const { offset, data } = arrayBytes(value);
  return { kind: 'array', oid, dkey, akey, offset, data };
}

/**
 * Whether single-value fetches of embedded pools are answered in batches (`GetBatch`; default on,
 * `CAIRN_GET_BATCH=0` turns it off); `ecPrefetch`: an EC fetch's data role 0 store lines are
 * prefetched too. @internal also switched by tests and A/B measurements.
 */
export const getBatch = { on: process.env.CAIRN_GET_BATCH !== '0', direct: true, pool: true, ecPrefetch: true };

/** What a `GetBatch` entry holds once its fetch was answered (nothing of the fetch). */
const NO_FETCH = undefined as never;
/** A key a `GetBatch` entry holds once its fetch was answered. */
const NO_KEY: Uint8Array = new Uint8Array(0);

/** One fetch waiting in a `GetBatch`. */
interface PendingGet {
  obj: CairnObject; port: ContainerPort; d: Uint8Array; a: Uint8Array; epoch: bigint;
  resolve: (v: Uint8Array | undefined) => void; reject: (e: unknown) => void;
  groups: number[][] | undefined; red: Redundancy | undefined; g: number;
  /** The local store of the copy its read goes to (step 1), or null: then it is read through `fetchSingleNow`. */
  store: ContainerStore | null;
  /** That copy's unit object id (with `store`). */
  uoid: bigint;
}

/**
 * Single-value fetches issued in one tick, answered together in a microtask (or at once when
 * POINT_PREFETCH_MAX are waiting): first every fetch's layout and group are found and the store
 * lines its read will touch are loaded (`prefetchPoint`: the memtable filters and the point
 * index's slot), then every slot's entry (`prefetchPoints`), then each fetch is answered as
 * alone. A random get misses the cache two or three times one after another (0.3-0.7 us each
 * here); the gets a caller keeps in flight now overlap their misses. Each fetch reads at the
 * epoch it was given when issued.
 */
class GetBatch {
  /**
   * The waiting fetches: the first `n` entries of `q`. The entries are kept and refilled batch
   * after batch (no object per get); a batch being run keeps its array, and the fetches issued
   * meanwhile (from a report's listener, say) go to `spare` or a new one.
   */
  private q: PendingGet[] = [];
  private n = 0;
  private spare: PendingGet[] | null = [];
  private scheduled = false;
  private readonly runNow = () => { this.scheduled = false; this.run(); };

  add(obj: CairnObject, port: ContainerPort, d: Uint8Array, a: Uint8Array, epoch: bigint, resolve: (v: Uint8Array | undefined) => void, reject: (e: unknown) => void): void {
    const p = getBatch.pool ? this.q[this.n] : undefined;
    if (p === undefined) {
      if (!getBatch.pool) this.q.length = this.n;
      this.q.push({ obj, port, d, a, epoch, resolve, reject, groups: undefined, red: undefined, g: 0, store: null, uoid: 0n });
    } else {
      p.obj = obj; p.port = port; p.d = d; p.a = a; p.epoch = epoch; p.resolve = resolve; p.reject = reject;
      p.groups = undefined; p.red = undefined; p.g = 0; p.store = null; p.uoid = 0n;
    }
    if (++this.n >= POINT_PREFETCH_MAX) this.run();
    else if (!this.scheduled) { this.scheduled = true; queueMicrotask(this.runNow); }
  }

  run(): void {
    const q = this.q, n = this.n;
    if (n === 0) return;
    this.q = getBatch.pool && this.spare !== null ? this.spare : [];
    this.spare = null;
    this.n = 0;
    try {
      this.runBatch(q, n);
    } finally {
      // (the entries drop what they held: the fetches' objects, keys and promises' functions)
      for (let i = 0; i < n; i++) { const p = q[i]!; p.obj = p.port = p.resolve = p.reject = NO_FETCH; p.d = p.a = NO_KEY; p.groups = undefined; p.red = undefined; p.store = null; }
      this.spare = q;
    }
  }

  private runBatch(q: PendingGet[], n: number): void {
    // 1: layouts and groups; the first replica's store lines loaded
    for (let i = 0; i < n; i++) {
      const p = q[i]!;
      try {
        p.obj.prepareGet(p.port, p.d, p);
        const ctx = p.port.io();
        if (p.red!.kind === 'ec') {
          // A small EC value is read from data role 0 alone (stored whole there, io.ts
          // `ecFetchSingleNow`): its store lines loaded as a replica's are (the reads engineer's
          // ask). No direct answer: the value is a piece with a header, which fetchSingleNow unwraps.
          if (!getBatch.ecPrefetch) continue;
          const r0 = roleShards(p.groups!, p.g, dkeyRotation(ctx, p.red!, p.d))[0]!;
          const s = ctx.available(r0.target) ? ctx.storeNow?.(r0.target) : undefined;
          if (s instanceof ContainerStore && s.state.tombs.length === 0) {
            const t = s.target;
            prefetchPoint(i, t.active, t.frozen, t.runs, s.state.idx, unitOid(p.obj.oid, r0.shard), p.d, p.a, p.epoch);
          }
          continue;
        }
        const group = p.groups![p.g]!;
        for (let j = 0; j < group.length; j++) {
          if (!ctx.available(group[j]!)) continue;
          const s = ctx.storeNow?.(group[j]!);
          if (s instanceof ContainerStore) {
            // (the copy `fetchSingleNow` would read first: the first available one of the group)
            const uoid = unitOid(p.obj.oid, p.g * group.length + j);
            if (ctx.syncReads === true && getBatch.direct) { p.store = s; p.uoid = uoid; }
            const t = s.target;
            if (s.state.tombs.length === 0) prefetchPoint(i, t.active, t.frozen, t.runs, s.state.idx, uoid, p.d, p.a, p.epoch);
          }
          break;
        }
      } catch (err) {
        p.groups = undefined;
        p.reject(err);
      }
    }
    // 2: the slots, then the entries they name
    prefetchSlots(n);
    prefetchPoints(n);
    // 3: each fetch answered (with its prepared read)
    for (let i = 0; i < n; i++) {
      const p = q[i]!;
      if (p.groups === undefined) continue;
      preparedRead(i);
      try {
        if (p.store !== null) {
          // the copy found in step 1, read at once; a value in the data file (null) or any error
          // (a damaged copy, a closed store) is read again through the full path below, which
          // reports a lost copy and goes on to the next one as ever
          let v: Uint8Array | undefined | null = null;
          try { v = p.store.fetchSingleNow(p.epoch, p.uoid, p.d, p.a); } catch { v = null; }
          if (v !== null) { p.resolve(v); continue; }
        }
        const r = fetchSingleNow(p.port.io(), p.red!, p.groups, p.g, p.obj.oid, p.d, p.a, p.epoch);
        if (r instanceof Promise) r.then(p.resolve, p.reject); else p.resolve(r);
      } catch (err) {
        p.reject(err);
      } finally {
        preparedRead(-1);
        unprepare(i);
      }
    }
  }
}
/** The fetches waiting for the next batch. */
const pendingGets = new GetBatch();
/** The arguments of the fetch `enqueueNext` queues (set just before; `new Promise` runs it at once). */
let nextObj: CairnObject = NO_FETCH, nextPort: ContainerPort = NO_FETCH, nextD: Uint8Array = NO_KEY, nextA: Uint8Array = NO_KEY, nextEpoch = 0n;
/** The executor of a batched get's promise: queue the fetch its arguments name. */
function enqueueNext(resolve: (v: Uint8Array | undefined) => void, reject: (e: unknown) => void): void {
  const obj = nextObj, port = nextPort, d = nextD, a = nextA;
  nextObj = nextPort = NO_FETCH; nextD = nextA = NO_KEY;
  pendingGets.add(obj, port, d, a, nextEpoch, resolve, reject);
}

/** A handle on one object of a container. Cheap to create; holds no resources. */
export class CairnObject {
  /** @internal use `cont.object()`. */
  constructor(protected readonly port: ContainerPort, readonly oid: bigint, protected readonly opts: ObjectOptions = NO_OPTIONS) {}

  /** Update one akey: a single value (string or bytes) or an array extent. Resolves to the commit epoch. */
  update(dkey: Key, akey: Key, value: Uint8Array | string | ArrayValue, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    // (not async: the commit's promise is returned as is, one frame and one tick less per put;
    // bad arguments still reject)
    try {
      opts = signalOptions(opts, 'update options');
      throwIfAborted(opts.signal);
      const op = valueOp(this.oid, keyBytes(dkey, 'dkey'), keyBytes(akey, 'akey'), value);
      return this.port.commit([op], undefined, opts.signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Fetch a single value (`Uint8Array`, or `undefined` when nothing is visible) or, with `recx`,
   * an array extent (holes read as zeros). Reads at `epoch`, `snapshot`, or the stable epoch.
   */
  fetch(dkey: Key, akey: Key, opts: FetchOptions = NO_OPTIONS): Promise<Uint8Array | undefined> {
    // (not async: an embedded pool's small get is answered with one resolved promise and no
    // closure; every error still comes back as a rejection)
    try {
      const o = readOptionsArg<FetchOptions>(opts, 'fetch options', FETCH_OPTION_NAMES);
      if (o.recx !== undefined) fetchExtent(o.recx, o.recordSize);
      else if (o.recordSize !== undefined) recordSizeArg(o.recordSize);
      if (getBatch.on && o.recx === undefined && this.port.staleFree()) return this.fetchBatched(dkey, akey, o);
      const r = this.port.staleFree() ? this.fetchOnce(dkey, akey, o, this.port.readEpoch(o), undefined) : this.fetchShared(dkey, akey, o);
      // (an extent read into a buffer of ours reaches the reader on a new ArrayBuffer: media `adoptResult`)
      if (o.recx !== undefined && o.into === undefined) return r instanceof Promise ? r.then(adoptResult) : Promise.resolve(adoptResult(r));
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `fetch` on a pool other clients share (connected): a step of its caller's read "now" (with
   * `FRESH_FROM`) once, else through `readAt` (a read "now" made fresh; stale maps replanned).
   * (Apart from `fetch`: its closure and context stay off an embedded pool's hot get.)
   */
  private fetchShared(dkey: Key, akey: Key, o: FetchOptions): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    const from = o[FRESH_FROM];
    if (from !== undefined) return this.fetchOnce(dkey, akey, o, this.port.readEpoch(o), from);
    return this.readAt(o, (epoch, fresh) => this.fetchOnce(dkey, akey, o, epoch, fresh));
  }

  /**
   * A single-value fetch answered with the other gets issued in the same tick (`GetBatch`): its
   * read epoch is taken now, so it answers what it would have answered now.
   */
  private fetchBatched(dkey: Key, akey: Key, opts: FetchOptions): Promise<Uint8Array | undefined> {
    const epoch = this.port.readEpoch(opts);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    if (!getBatch.pool) return new Promise((resolve, reject) => pendingGets.add(this, this.port, d, a, epoch, resolve, reject));
    // (one executor for every get, its arguments passed beside it: no closure per get)
    nextObj = this; nextPort = this.port; nextD = d; nextA = a; nextEpoch = epoch;
    return new Promise(enqueueNext);
  }

  /** @internal a batched get's step (`GetBatch.run`): the layout and group of this object for `dkey`. */
  prepareGet(port: ContainerPort, d: Uint8Array, g: PendingGet): void {
    port.checkNotLost(this.oid);
    const { groups, red } = port.layout(this.oid);
    g.groups = groups; g.red = red; g.g = port.groupOf(groups, d);
  }

  /**
   * (Not async: it returns the data path's answer as is, a value when a local store had it at
   * hand, else its promise; `fetch` turns a throw into a rejection.)
   */
  private fetchOnce(dkey: Key, akey: Key, opts: FetchOptions, epoch: bigint, fresh: FreshFrom): Uint8Array | undefined | Promise<Uint8Array | undefined> {
    this.port.checkNotLost(this.oid);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    const { groups, red } = this.port.layout(this.oid);
    const g = this.port.groupOf(groups, d);
    if (opts.recx !== undefined) {
      const { offset, length } = fetchExtent(opts.recx, opts.recordSize);
      return fetchArray(this.port.io(), red, groups, g, this.oid, d, a, offset, length, epoch, opts.into instanceof Uint8Array && opts.into.length === length ? opts.into : undefined, fresh);
    }
    return fetchSingleNow(this.port.io(), red, groups, g, this.oid, d, a, epoch, fresh);
  }

  /**
   * @internal Run `read` at the epoch reads with `opts` see, with what it needs to be fresh. On a
   * pool other clients share (connected), a read "now" (neither epoch nor snapshot given) gets
   * the start of its uncertainty window (`fresh`: shard-store.ts `FreshFrom`) and is run again at
   * a newer "now", with the same `fresh`, when an engine holds a write in that window
   * (STALE_EPOCH: the container's `retryStale` first moves its clock to the write; a bounded
   * number of times, then the error is thrown). A read at an explicit epoch or snapshot is read
   * as named (`fresh` undefined; a stale pool map still replans it). Embedded pools: `read` once.
   */
  readAt<T>(opts: ReadOptions, read: (epoch: bigint, fresh: FreshFrom) => T | Promise<T>): T | Promise<T> {
    const port = this.port;
    if (port.staleFree()) return read(port.readEpoch(opts), undefined);
    if (opts.epoch !== undefined || opts.snapshot !== undefined) {
      // (a snapshot another client just took: its record read first, see `epochFor`)
      const at = port.epochFor(opts);
      return typeof at === 'bigint' ? port.retryStale(() => read(at, this.explicitBound(at))) : at.then((e) => port.retryStale(() => read(e, this.explicitBound(e))));
    }
    return port.retryStale(new FreshRead(port, opts, read).attempt);
  }

  /**
   * @internal The `FreshFrom` of a read at the explicit epoch `epoch` on a pool other clients
   * share: none (it reads what the epoch names); a transaction's handle marks its reads at its
   * read epoch (`TX_READ`).
   */
  protected explicitBound(_epoch: bigint): FreshFrom { return undefined; }

  /** @internal Whether a read with `opts` is a read "now" that engines check for freshness (a connected pool, no epoch or snapshot given). */
  readsNow(opts: ReadOptions): boolean {
    return opts.epoch === undefined && opts.snapshot === undefined && !this.port.staleFree();
  }

  /** @internal `readEpoch`, a snapshot this client has not heard of yet looked up again first (`ContainerPort.epochFor`). */
  epochFor(opts: ReadOptions): bigint | Promise<bigint> { return this.port.epochFor(opts); }

  /** @internal After an engine refused a read "now" (STALE_EPOCH), move the container's clock past the write (its `retryStale`). */
  async observeRefusal(err: unknown): Promise<void> {
    let handed = false;
    await this.port.retryStale(async () => { if (!handed) { handed = true; throw err; } });
  }

  /** Punch the whole object (all dkeys) at a new epoch. */
  async punch(opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    opts = signalOptions(opts, 'punch options');
    return this.port.commit([{ kind: 'punchObject', oid: this.oid }], undefined, opts.signal);
  }

  /** Punch one dkey and everything below it. */
  async punchDkey(dkey: Key, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    opts = signalOptions(opts, 'punch options');
    return this.port.commit([{ kind: 'punchDkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey') }], undefined, opts.signal);
  }

  /** Punch one akey of a dkey. */
  async punchAkey(dkey: Key, akey: Key, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    opts = signalOptions(opts, 'punch options');
    return this.port.commit([{ kind: 'punchAkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey'), akey: keyBytes(akey, 'akey') }], undefined, opts.signal);
  }

  /**
   * Keys listed by the shards of one group: replicas and striped shards hold every key, so the
   * first healthy shard answers; an EC data shard holds only the keys whose cells it received, so
   * EC groups are the union over every healthy shard.
   */

  private async groupKeysOnce(g: number, list: (s: ShardStore, uoid: bigint) => AsyncIterable<Uint8Array>, dkey: Uint8Array, signal?: AbortSignal): Promise<Map<string, Uint8Array>> {
    this.port.checkOpen(); // (a closed handle is POOL_CLOSED, not a group that "cannot be enumerated")
    this.port.checkNotLost(this.oid);
    const { groups, red } = this.port.layout(this.oid);
    const io = this.port.io();
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
        if (passesOn(err)) throw err;
        io.reportBadShard({ target, oid: this.oid, shard, dkey, akey: new Uint8Array(0), error: err });
      }
    }
    const need = red.kind === 'ec' ? red.dataShards : 1;
    if (answered < need) throw new ObjectError('DATA_LOST', `object ${this.oid.toString(16)}: group ${g} cannot be enumerated`, { oid: this.oid.toString(16), group: g });
    return out;
  }

  /**
   * The dkeys visible at the read epoch, in byte order (descending with `reverse`), bounded by
   * the range and at most `limit` of them. Forward listings stream: the sorted listings of every
   * group are merged lazily and the scan stops at the upper bound or the limit.
   */
  async *listDkeys(options: ReadOptions & KeyRange = NO_OPTIONS): AsyncGenerator<Uint8Array> {
    const opts = readOptionsArg<FreshReadOptions & KeyRange>(options, 'listing options', LISTING_OPTION_NAMES);
    const b = keyBounds(opts);
    const at = this.port.epochFor(opts);
    const epoch = typeof at === 'bigint' ? at : await at;
    if (emptyBounds(b)) return;
    yield* orderedLimited(this.scanDkeys(opts, epoch, b, opts.signal), b);
  }

  /** @internal the epoch reads with `opts` see (the stable epoch unless an epoch or snapshot is given). */
  readEpoch(opts: ReadOptions = NO_OPTIONS): bigint { return this.port.readEpoch(opts); }

  /** @internal commit `ops` on this container atomically at one new epoch (KV batches). */
  commitOps(ops: Op[], opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    opts = signalOptions(opts, 'commit options');
    return this.port.commit(ops, undefined, opts.signal);
  }

  /**
   * Ascending dkeys of the range at `epoch` (the read epoch of `opts`). A pool map changed under
   * the listing (connected pools) restarts it with the new layout just after the last key it
   * yielded. A listing "now" of a connected pool sends the start of its uncertainty window with
   * its first pages (every shard's first page is read before the first key is yielded); an
   * engine that holds a write in it (STALE_EPOCH) restarts the listing at a newer "now", keeping
   * that start (`readAt`'s rule). A listing at an explicit epoch that carries `FRESH_FROM` (a step
   * of `entries`) sends it and passes STALE_EPOCH on.
   */
  private async *scanDkeys(opts: FreshReadOptions, epoch: bigint, b: KeyBounds, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const now = this.readsNow(opts);
    const first = now ? epoch : opts[FRESH_FROM] ?? (this.port.staleFree() ? undefined : this.explicitBound(epoch));
    let refused = -1n;
    let after: Uint8Array | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const from = after ? { lo: after, loInclusive: false } : b;
        // (no bound once keys were yielded: the first pages checked it; nor below a refused write it cannot move above: FreshRead)
        const fresh = first !== undefined && after === undefined && epoch >= refused ? first : undefined;
        for await (const k of this.scanDkeysOnce(epoch, fresh, from, b, signal)) {
          after = k;
          yield k;
        }
        return;
      } catch (err) {
        const w = now && after === undefined ? uncertainWrite(err) : undefined;
        if (((err as { code?: string }).code !== 'STALE_MAP' && w === undefined) || attempt >= MAX_LISTING_RESTARTS) throw err;
        if (w !== undefined && w > refused) refused = w;
        // retryStale refreshes the pool map when its function reports STALE_MAP, and moves the
        // clock past an uncertain write on STALE_EPOCH: hand it this one.
        await this.observeRefusal(err);
        if (w !== undefined) epoch = this.port.readEpoch(opts);
      }
    }
  }

  private async *scanDkeysOnce(epoch: bigint, fresh: FreshFrom, from: Pick<KeyBounds, 'lo' | 'loInclusive'>, b: KeyBounds, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    this.port.checkOpen(); // (a closed handle is POOL_CLOSED, not a group that "cannot be enumerated")
    this.port.checkNotLost(this.oid);
    const { groups, red } = this.port.layout(this.oid);
    const io = this.port.io();
    const streams = groups.map((_, g) => this.groupDkeys(io, red, groups, g, epoch, fresh, from, signal));
    for await (const k of mergeAscending(streams)) {
      if (!belowUpper(k, b)) return;
      yield k;
    }
  }

  /** One shard's ascending dkeys of group `g`, at or above `from`. */
  private async *shardDkeys(store: ShardStore, shard: number, groups: number[][], g: number, epoch: bigint, fresh: FreshFrom, from: Pick<KeyBounds, 'lo' | 'loInclusive'>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    for await (const k of store.listDkeys(epoch, unitOid(this.oid, shard), undefined, fresh)) {
      throwIfAborted(signal);
      if (aboveLower(k, from) && this.port.groupOf(groups, k) === g) yield k;
    }
  }

  /**
   * The ascending dkeys of group `g`: replicas and striped shards hold every key, so one healthy
   * shard answers (a shard failing mid-listing hands over to the next, after the last key); an EC
   * data shard holds only the keys whose cells it received, so EC groups merge every healthy
   * shard and need at least k of them.
   */
  private async *groupDkeys(io: IoContext, red: Redundancy, groups: number[][], g: number, epoch: bigint, fresh: FreshFrom, from: Pick<KeyBounds, 'lo' | 'loInclusive'>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    // (a handle closed mid-listing is POOL_CLOSED: no shard failed)
    const isShardError = (err: unknown) => !passesOn(err) && !signal?.aborted;
    const lost = (answered: number, need: number) => new ObjectError('DATA_LOST', `object ${this.oid.toString(16)}: group ${g} cannot be enumerated`, { oid: this.oid.toString(16), group: g, answered, need });
    const shards = groupShards(groups, g).filter((x) => io.available(x.target));
    if (red.kind !== 'ec') {
      let last: Uint8Array | undefined;
      for (const { shard, target } of shards) {
        try {
          const store = await io.store(target);
          const start = last ? { lo: last, loInclusive: false } : from;
          // (a replica taking over after keys were yielded sends no bound: the first one checked it)
          for await (const k of this.shardDkeys(store, shard, groups, g, epoch, last ? undefined : fresh, start, signal)) {
            last = k;
            yield k;
          }
          return;
        } catch (err) {
          if (!isShardError(err)) throw err;
          io.reportBadShard({ target, oid: this.oid, shard, dkey: new Uint8Array(0), akey: new Uint8Array(0), error: err });
        }
      }
      throw lost(0, 1);
    }
    const need = red.dataShards;
    if (shards.length < need) throw lost(shards.length, need);
    let healthy = shards.length;
    const guarded = shards.map(({ shard, target }) => (async function* (self: CairnObject) {
      try {
        yield* self.shardDkeys(await io.store(target), shard, groups, g, epoch, fresh, from, signal);
      } catch (err) {
        if (!isShardError(err)) throw err;
        io.reportBadShard({ target, oid: self.oid, shard, dkey: new Uint8Array(0), akey: new Uint8Array(0), error: err });
        if (--healthy < need) throw lost(healthy, need);
      }
    })(this));
    yield* mergeAscending(guarded);
  }

  /** Every akey of a dkey visible at the read epoch, in byte order. */
  async *listAkeys(dkey: Key, opts: ReadOptions = NO_OPTIONS): AsyncGenerator<Uint8Array> {
    opts = readOptionsArg(opts, 'listing options');
    const o = opts;
    const d = keyBytes(dkey, 'dkey');
    const keys = await this.readAt(o, (epoch, fresh) => {
      const { groups } = this.port.layout(this.oid);
      return this.groupKeysOnce(this.port.groupOf(groups, d), (s, u) => s.listAkeys(epoch, u, d, fresh), d, o.signal);
    });
    for (const k of [...keys.values()].sort(compareBytes)) yield k;
  }

  /** The extents of an array akey visible at the read epoch (bytes, merged, ascending). */
  async *listRecx(dkey: Key, akey: Key, opts: ReadOptions = NO_OPTIONS): AsyncGenerator<Recx> {
    opts = readOptionsArg(opts, 'listing options');
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    const xs = await this.readAt(opts, (epoch, fresh) => {
      this.port.checkNotLost(this.oid);
      const { groups, red } = this.port.layout(this.oid);
      const g = this.port.groupOf(groups, d);
      return listExtents(this.port.io(), red, groups, g, this.oid, d, a, epoch, fresh);
    });
    for (const x of xs) yield x;
  }

  /** The greatest dkey (byte order) visible at the read epoch, or undefined for an empty object. */
  async queryMaxDkey(opts: ReadOptions = NO_OPTIONS): Promise<Uint8Array | undefined> {
    opts = readOptionsArg(opts, 'query options');
    for await (const k of this.listDkeys({ ...opts, reverse: true, limit: 1 })) return k;
    return undefined;
  }
}
