/**
 * The KV API: a flat map of keys to values stored in one object, each key a dkey holding a single
 * value under a fixed akey (as DAOS's KV objects do). Listings are ordered by key bytes and take
 * ranges (`gt`/`gte`/`lt`/`lte`/`reverse`/`limit`), the vocabulary Level and S3 listings speak.
 */
import { FRESH_FROM, LISTING_OPTION_NAMES, keyBytes, valueOp, type CairnObject, type FreshReadOptions, type Key, type KeyRange } from './object.js';
import type { ReadOptions } from '../container/container.js';
import type { Op } from '../container/ops.js';
import { badArg } from '../io/errors.js';
import { NO_OPTIONS, describeValue, readOptionsArg, signalOptions } from './args.js';
import { hex, toText } from '../../core/bytes.js';
import { throwIfAborted } from '../../core/errors.js';
import { runBounded } from '../../core/semaphore.js';
import { swallow } from '../../core/log.js';

const VALUE_AKEY = new Uint8Array([0x76]); // "v"

/** Most operations one `batch` may carry. */
export const MAX_BATCH_OPS = 100_000;
/** Most keys one `getMany` may ask for. */
export const MAX_GET_MANY_KEYS = 100_000;
/** Times `entries` starts again at a newer "now" when an engine refuses its listing (STALE_EPOCH). */
const MAX_ENTRIES_RESTARTS = 8;
/** Value fetches `getMany` and `entries` keep in flight. */
export const KV_READ_CONCURRENCY = 32;

/** One operation of `kv.batch`. */
export type KvBatchOp = { type: 'put'; key: Key; value: Uint8Array | string } | { type: 'del'; key: Key };

function checkValue(value: unknown): Uint8Array | string {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw badArg(`a KV value must be a string or Uint8Array, got ${describeValue(value)}`);
  return value;
}

/** A key-value object. Keys and values may be strings (UTF-8) or bytes. */
export class KeyValue {
  /** @internal */
  constructor(readonly object: CairnObject) {}

  /** Store `value` under `key` (replaces any previous value). Resolves to the commit epoch. */
  put(key: Key, value: Uint8Array | string, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    // (not async: `update`'s promise as is; a bad value still rejects)
    try { return this.object.update(key, VALUE_AKEY, checkValue(value), opts); } catch (err) { return Promise.reject(err); }
  }

  /** The value under `key`, or undefined. */
  get(key: Key, opts: ReadOptions = NO_OPTIONS): Promise<Uint8Array | undefined> {
    // (a read's options: those of an object's fetch, `recx` and the like, are refused too)
    if (opts !== NO_OPTIONS) try { readOptionsArg(opts, 'get options'); } catch (err) { return Promise.reject(err); }
    return this.object.fetch(key, VALUE_AKEY, opts);
  }

  /** The value under `key` decoded as UTF-8, or undefined. */
  async getString(key: Key, opts: ReadOptions = NO_OPTIONS): Promise<string | undefined> {
    const v = await this.get(key, opts);
    return v === undefined ? undefined : toText(v);
  }

  /** Whether `key` holds a value at the read epoch. */
  async has(key: Key, opts: ReadOptions = NO_OPTIONS): Promise<boolean> {
    return (await this.get(key, opts)) !== undefined;
  }

  /**
   * The values of `keys` (undefined where absent), all read at one epoch so they are mutually
   * consistent; at most KV_READ_CONCURRENCY fetches in flight.
   */
  async getMany(keys: Key[], opts: ReadOptions = NO_OPTIONS): Promise<Array<Uint8Array | undefined>> {
    if (!Array.isArray(keys)) throw badArg('getMany needs an array of keys');
    if (keys.length > MAX_GET_MANY_KEYS) throw badArg(`getMany takes at most ${MAX_GET_MANY_KEYS} keys`);
    opts = readOptionsArg(opts, 'getMany options');
    const bytes = keys.map((k) => keyBytes(k, 'key'));
    // (a read "now" of a connected pool is read whole again at a newer "now" when an engine holds
    // a write in its uncertainty window: `readAt`)
    return this.object.readAt(opts, async (epoch, fresh) => {
      const at: FreshReadOptions = { epoch, signal: opts.signal, [FRESH_FROM]: fresh };
      const out = new Array<Uint8Array | undefined>(bytes.length);
      await runBounded(bytes, KV_READ_CONCURRENCY, async (k, i) => { out[i] = await this.get(k, at); });
      return out;
    });
  }

  /** Remove `key`. */
  remove(key: Key, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    return this.object.punchDkey(key, opts);
  }

  /**
   * Apply puts and deletes atomically at one epoch (one commit): readers see all of them or none.
   * Operations apply in order, so the last one on a key wins. Resolves to the commit epoch.
   */
  async batch(ops: KvBatchOp[], opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    opts = signalOptions(opts, 'batch options');
    throwIfAborted(opts.signal);
    if (!Array.isArray(ops)) throw badArg('batch needs an array of operations');
    if (ops.length > MAX_BATCH_OPS) throw badArg(`a batch carries at most ${MAX_BATCH_OPS} operations`);
    const last = new Map<string, Op>();
    for (const op of ops) {
      if (typeof op !== 'object' || op === null) throw badArg(`a batch operation must be an object, got ${describeValue(op)}`);
      const k = keyBytes(op.key, 'key');
      const h = hex(k);
      last.delete(h); // keep the order of last writes
      if (op.type === 'put') last.set(h, valueOp(this.object.oid, k, VALUE_AKEY, checkValue(op.value)));
      else if (op.type === 'del') last.set(h, { kind: 'punchDkey', oid: this.object.oid, dkey: k });
      else throw badArg(`batch operation type must be 'put' or 'del', got ${String((op as { type?: unknown }).type)}`);
    }
    return this.object.commitOps([...last.values()], opts);
  }

  /** Keys (bytes) in byte order, descending with `reverse`, bounded by the range, at most `limit`. */
  list(opts: ReadOptions & KeyRange = NO_OPTIONS): AsyncGenerator<Uint8Array> {
    return this.object.listDkeys(opts);
  }

  /**
   * `[key, value]` pairs of the range in key order, all read at one epoch (a consistent view
   * even while writers continue); values are fetched ahead, at most KV_READ_CONCURRENCY at once.
   */
  async *entries(opts: ReadOptions & KeyRange = NO_OPTIONS): AsyncGenerator<[Uint8Array, Uint8Array]> {
    opts = readOptionsArg<ReadOptions & KeyRange>(opts, 'entries options', LISTING_OPTION_NAMES);
    // A listing "now" of a connected pool checks the whole object's writes in its uncertainty
    // window with its first pages (`FRESH_FROM`), before any key comes: the values read at its
    // epoch afterwards need no check of their own. Refused there, it starts again at a newer "now".
    const now = this.object.readsNow(opts);
    const first = this.object.epochFor(opts);
    let at: ReadOptions = { epoch: typeof first === 'bigint' ? first : await first, signal: opts.signal };
    const from = now ? at.epoch : undefined;
    let refused = -1n;
    for (let attempt = 1; ; attempt++) {
      let yielded = false;
      try {
        // (an epoch held below a write it was refused for, by this client's own commits in flight, lists without the bound: CairnObject.readAt's rule)
        for await (const pair of this.entriesAt(opts, at, at.epoch! >= refused ? from : undefined)) { yielded = true; yield pair; }
        return;
      } catch (err) {
        if (!now || yielded || (err as { code?: string }).code !== 'STALE_EPOCH' || attempt >= MAX_ENTRIES_RESTARTS) throw err;
        const w = (err as { info?: { epoch?: unknown } }).info?.epoch;
        if (typeof w === 'string' && /^\d{1,60}$/.test(w) && BigInt(w) > refused) refused = BigInt(w);
        await this.object.observeRefusal(err);
        at = { epoch: this.object.readEpoch(opts), signal: opts.signal };
      }
    }
  }

  /** `entries` at `at.epoch`; `from`: the start of a read "now"'s uncertainty window, sent with the listing's first pages. */
  private async *entriesAt(opts: ReadOptions & KeyRange, at: ReadOptions, from: bigint | undefined): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const ahead: Array<[Uint8Array, Promise<Uint8Array | undefined>]> = [];
    try {
      const listing: FreshReadOptions & KeyRange = { ...opts, ...at, snapshot: undefined, [FRESH_FROM]: from };
      for await (const k of this.object.listDkeys(listing)) {
        const p = this.get(k, at);
        p.catch(() => undefined); // its error is thrown where it is awaited below; no unhandled rejection meanwhile
        ahead.push([k, p]);
        if (ahead.length >= KV_READ_CONCURRENCY) {
          const [hk, hv] = ahead.shift()!;
          const v = await hv;
          if (v !== undefined) yield [hk, v];
        }
      }
      while (ahead.length > 0) {
        const [hk, hv] = ahead.shift()!;
        const v = await hv;
        if (v !== undefined) yield [hk, v];
      }
    } finally {
      // The consumer stopped early: fetches read ahead are never awaited; their errors are counted.
      for (const [, hv] of ahead.splice(0)) hv.catch(swallow('kv.entries-read-ahead-unread'));
    }
  }
}
