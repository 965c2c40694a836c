/**
 * The per-target store interface (`ShardStore`) over RPC: `RemoteShardStore` on the client side,
 * `serveShardCall` on the engine side. Every method is one call `shard.<name>`; bigints travel as
 * decimal strings, keys as base64 in the header, bulk values as the raw payload. Lists are paged
 * (`LIST_PAGE` items per call) so a huge listing never builds one giant reply: the engine keeps
 * the listing's iterator under a cursor id between pages (bounded: `LIST_CURSOR_MAX` cursors, each
 * dropped after `LIST_CURSOR_TTL_MS` idle), and the client also sends how many items it has seen,
 * so an expired cursor (or an engine restart) is resumed by skipping that many items.
 * Every reply carries the store's max epoch (`maxEpoch`, decimal string). A write of a transaction
 * carries its read epoch (`txRead`, decimal string; the engine checks conflicts with it), and a
 * write of a commit carries what its engine must know of the commit (`tx`, a `TxDescriptor`).
 */
import { randomBytes } from 'node:crypto';
import { TX_READ, type ShardStore, type Recx, type WriteOpts, type FreshFrom } from '../io/shard-store.js';
import { swallowed } from '../../core/log.js';
import { NetError } from './errors.js';
import { BufferPool, payloadPool } from './buffer-pool.js';
import { CairnError } from '../../core/errors.js';
import type { RpcCaller, RpcCallOptions, RpcReply } from './rpc.js';
import { isDecimalText, type TxDescriptor } from './protocol.js';
import { slotView } from './shm.js';
import { EngineLink } from './link.js';
import { HLC_LOGICAL_BITS } from '../container/epoch-clock.js';

/**
 * Items per page of a listing. With keys of at most 4 KiB (VOS `MAX_KEY_SIZE`) a page of base64
 * keys stays under 6 MiB, far below `RPC_MAX_BODY`.
 */
export const LIST_PAGE = 1024;
/** Open listing cursors the engine keeps (all callers together); the least recently used goes first. */
export const LIST_CURSOR_MAX = 1024;
/** A cursor idle this long is dropped (the client then resumes by skipping). */
export const LIST_CURSOR_TTL_MS = 60_000;

/** Methods `serveShardCall` handles. */
export const SHARD_METHODS: readonly string[] = [
  'shard.updateSingle', 'shard.updateArray', 'shard.fetchSingle', 'shard.fetchArray',
  'shard.punchObject', 'shard.punchDkey', 'shard.punchAkey',
  'shard.listObjects', 'shard.listObjectIds', 'shard.listDkeys', 'shard.listAkeys', 'shard.listRecx', 'shard.akeyKind',
  'shard.queryMaxEpoch', 'shard.aggregate', 'shard.discard', 'shard.usage',
];

/** The shard methods that write at an epoch, and the level of the key each one writes. */
export const SHARD_WRITE_KIND: Readonly<Record<string, 'update' | 'punchAkey' | 'punchDkey' | 'punchObject'>> = {
  'shard.updateSingle': 'update', 'shard.updateArray': 'update', 'shard.punchAkey': 'punchAkey', 'shard.punchDkey': 'punchDkey', 'shard.punchObject': 'punchObject',
};
/** The shard methods that read at an epoch. */
export const SHARD_READ_METHODS: ReadonlySet<string> = new Set(['shard.fetchSingle', 'shard.fetchArray', 'shard.listDkeys', 'shard.listAkeys', 'shard.listRecx', 'shard.akeyKind', 'shard.listObjects']);

const b64 = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.length).toString('base64');

/** Keys up to this many bytes are remembered by `KeyText` (compared byte by byte: longer ones are encoded each time). */
const KEY_MEMO_MAX_BYTES = 64;

/**
 * The base64 text of the last key of one role (dkey or akey) a write sent, kept with a copy of its
 * bytes: writes repeat their keys (a put's replicas and shards, puts to one dkey/akey), and each
 * `b64` cost a Buffer view and a string (~100 B per key, 4 per connected put).
 */
class KeyText {
  private bytes = new Uint8Array(0);
  private text = '';
  of(k: Uint8Array): string {
    const b = this.bytes, n = k.length;
    if (n === b.length) {
      let i = 0;
      while (i < n && k[i] === b[i]) i++;
      if (i === n) return this.text;
    }
    const text = b64(k);
    if (n <= KEY_MEMO_MAX_BYTES) { this.bytes = new Uint8Array(k); this.text = text; } // (a copy: a Buffer's slice would be a view of bytes the caller may change)
    return text;
  }
}
const dkeyText = new KeyText(), akeyText = new KeyText();
const unb64 = (v: unknown): Uint8Array => {
  if (typeof v !== 'string') throw new NetError('NET_PROTOCOL', 'key expected as base64');
  return new Uint8Array(Buffer.from(v, 'base64'));
};
/** Most digits of a decimal epoch or object id in a shard request (`big`). */
const MAX_DECIMAL_DIGITS = 60;
const big = (v: unknown, what: string): bigint => {
  if (typeof v !== 'string' || !isDecimalText(v, MAX_DECIMAL_DIGITS)) throw new NetError('NET_PROTOCOL', `${what} expected as a decimal string`);
  return BigInt(v);
};

/** Key texts up to this many characters are remembered by `KeyBytes`. */
const KEY_BYTES_MEMO_CHARS = 64;
/**
 * The serving side of `KeyText`: the bytes of the key text decoded last (one per key kind), handed
 * out again while requests name the same key (a batch's writes mostly do). Stores read or copy the
 * key bytes they are given and never change them, so one array may serve several writes.
 */
class KeyBytes {
  private text = '';
  private bytes: Uint8Array | undefined;
  of(v: unknown): Uint8Array {
    if (typeof v !== 'string') throw new NetError('NET_PROTOCOL', 'key expected as base64');
    if (v === this.text && this.bytes !== undefined) return this.bytes;
    const b = new Uint8Array(Buffer.from(v, 'base64'));
    if (v.length <= KEY_BYTES_MEMO_CHARS) { this.text = v; this.bytes = b; }
    return b;
  }
}
const dkeyBytes = new KeyBytes(), akeyBytes = new KeyBytes();

/** The text of a store's max epoch as last replied (`maxEpochText`), by store. */
const maxEpochTexts = new WeakMap<ShardStore, { epoch: bigint; text: string }>();
/** `String(store.queryMaxEpoch())`, the text kept while the store's max epoch stays the same (one BigInt toString per change, not per reply). */
function maxEpochText(store: ShardStore): string {
  const e = store.queryMaxEpoch();
  const m = maxEpochTexts.get(store);
  if (m === undefined) { const text = String(e); maxEpochTexts.set(store, { epoch: e, text }); return text; }
  if (m.epoch !== e) { m.epoch = e; m.text = String(e); }
  return m.text;
}
const int = (v: unknown, what: string): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new NetError('NET_PROTOCOL', `${what} expected as a non-negative integer`);
  return v as number;
};
const recxOf = (v: unknown): Recx => {
  const r = v as { index?: unknown; count?: unknown };
  return { index: int(r?.index, 'recx.index'), count: int(r?.count, 'recx.count') };
};

/** A listing in progress on the engine: its iterator, positioned after `pos` items. */
interface Cursor { store: ShardStore; method: string; sig: string; it: AsyncIterator<unknown>; pos: number; lastUsed: number }

/** Open cursors by id, least recently used first (Map insertion order; re-inserted on use). */
const cursors = new Map<string, Cursor>();

function dropCursor(id: string): void {
  const c = cursors.get(id);
  if (!c) return;
  cursors.delete(id);
  void Promise.resolve(c.it.return?.()).catch((err) => swallowed('shard-rpc.close-dropped-cursor', err));
}

function pruneCursors(now: number): void {
  for (const [id, c] of cursors) {
    if (now - c.lastUsed > LIST_CURSOR_TTL_MS || cursors.size > LIST_CURSOR_MAX) dropCursor(id);
    else break; // the rest were used more recently
  }
}

/**
 * One page of a listing: continue the cursor named in the header if it is still open at the same
 * position, else start `open()` afresh and skip the `skip` items the client already has.
 */
async function page<T>(store: ShardStore, method: string, h: Record<string, unknown>, open: () => AsyncIterable<T>): Promise<{ items: T[]; cursor?: string; done: boolean }> {
  const now = Date.now();
  pruneCursors(now);
  const skip = int(h.skip ?? 0, 'skip');
  const sig = `${String(h.epoch)}|${String(h.oid)}|${String(h.dkey)}|${String(h.akey)}`;
  const id = typeof h.cursor === 'string' ? h.cursor : undefined;
  let c = id !== undefined ? cursors.get(id) : undefined;
  if (id !== undefined) cursors.delete(id);
  if (!c || c.store !== store || c.method !== method || c.sig !== sig || c.pos !== skip) {
    if (c) void Promise.resolve(c.it.return?.()).catch((err) => swallowed('shard-rpc.close-replaced-cursor', err));
    c = { store, method, sig, it: open()[Symbol.asyncIterator](), pos: 0, lastUsed: now };
    for (; c.pos < skip; c.pos++) if ((await c.it.next()).done) return { items: [], done: true };
  }
  const items: T[] = [];
  while (items.length < LIST_PAGE) {
    const r = await c.it.next();
    if (r.done) return { items, done: true };
    items.push(r.value as T);
  }
  c.pos += items.length;
  c.lastUsed = Date.now();
  const next = id ?? randomBytes(12).toString('hex');
  cursors.set(next, c);
  pruneCursors(c.lastUsed);
  return { items, cursor: next, done: false };
}

/** Plain JSON of a store's result (bigints as decimal strings); undefined if it has none. */
function jsonSafe(v: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)) ?? 'null');
  } catch (err) {
    swallowed('shard-rpc.result-not-json-sent-without-it', err); // the result is informational only
    return undefined;
  }
}

/**
 * Engine side: run one shard call (`method` is one of `SHARD_METHODS`) against a local store.
 * The store's own errors propagate (the RPC server sends them with their class and code); a
 * malformed header is NET_PROTOCOL. Every reply carries `maxEpoch`; `shard.usage` also `usage`.
 */
export async function serveShardCall(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, store: ShardStore): Promise<RpcReply> {
  // Epoch and oid are parsed where each case needs them (no closures per request).
  const data = payload ?? new Uint8Array(0);
  let reply: RpcReply;
  switch (method) {
    case 'shard.updateSingle': await store.updateSingle(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), data); reply = { header: {} }; break;
    case 'shard.updateArray':
      await store.updateArray(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), recxOf(h.recx), data, h.recordSize !== undefined ? { recordSize: int(h.recordSize, 'recordSize') } : undefined);
      reply = { header: {} };
      break;
    case 'shard.fetchSingle': {
      const v = await store.fetchSingle(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey));
      reply = v === undefined ? { header: { found: false } } : { header: { found: true }, payload: v };
      break;
    }
    case 'shard.fetchArray': {
      const pooled = h.holesAsZero === true ? await fetchPooled(store, h) : undefined;
      if (pooled) { reply = pooled; break; }
      const r = await store.fetchArray(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), recxOf(h.recx), h.holesAsZero !== undefined ? { holesAsZero: h.holesAsZero === true } : undefined);
      reply = { header: { present: r.present, length: r.data.length }, payload: r.data };
      break;
    }
    case 'shard.punchObject': await store.punchObject(big(h.epoch, 'epoch'), big(h.oid, 'oid')); reply = { header: {} }; break;
    case 'shard.punchDkey': await store.punchDkey(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey)); reply = { header: {} }; break;
    case 'shard.punchAkey': await store.punchAkey(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey)); reply = { header: {} }; break;
    case 'shard.listObjects': {
      const e = big(h.epoch, 'epoch');
      const p = await page(store, method, h, () => store.listObjects(e));
      reply = { header: { items: p.items.map(String), done: p.done, ...(p.cursor ? { cursor: p.cursor } : {}) } };
      break;
    }
    case 'shard.listObjectIds': {
      const p = await page(store, method, h, () => store.listObjectIds());
      reply = { header: { items: p.items.map(String), done: p.done, ...(p.cursor ? { cursor: p.cursor } : {}) } };
      break;
    }
    case 'shard.listDkeys': {
      const e = big(h.epoch, 'epoch'), o = big(h.oid, 'oid');
      const p = await page(store, method, h, () => store.listDkeys(e, o));
      reply = { header: { items: p.items.map(b64), done: p.done, ...(p.cursor ? { cursor: p.cursor } : {}) } };
      break;
    }
    case 'shard.listAkeys': {
      const e = big(h.epoch, 'epoch'), o = big(h.oid, 'oid'), d = unb64(h.dkey);
      const p = await page(store, method, h, () => store.listAkeys(e, o, d));
      reply = { header: { items: p.items.map(b64), done: p.done, ...(p.cursor ? { cursor: p.cursor } : {}) } };
      break;
    }
    case 'shard.listRecx': {
      const e = big(h.epoch, 'epoch'), o = big(h.oid, 'oid'), d = unb64(h.dkey), a = unb64(h.akey);
      const p = await page(store, method, h, () => store.listRecx(e, o, d, a));
      reply = { header: { items: p.items.map((r) => ({ index: r.index, count: r.count, epoch: String(r.epoch) })), done: p.done, ...(p.cursor ? { cursor: p.cursor } : {}) } };
      break;
    }
    case 'shard.akeyKind': reply = { header: { kind: (await store.akeyKind(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey))) ?? null } }; break;
    case 'shard.queryMaxEpoch': reply = { header: {} }; break;
    case 'shard.aggregate': {
      const keep = Array.isArray(h.keep) ? h.keep.map((k) => big(k, 'keep')) : undefined;
      const result = await store.aggregate(big(h.upTo, 'upTo'), keep);
      reply = { header: result !== undefined ? { result: jsonSafe(result) } : {} };
      break;
    }
    case 'shard.discard': await store.discard(big(h.after, 'after'), h.upTo !== undefined && h.upTo !== null ? big(h.upTo, 'upTo') : undefined); reply = { header: {} }; break;
    case 'shard.usage': reply = { header: { usage: store.usage() } }; break;
    default: throw new NetError('NET_PROTOCOL', `unknown shard method ${method}`, { method });
  }
  reply.header.maxEpoch = String(store.queryMaxEpoch());
  return reply;
}

/**
 * A whole-range array read (holes as zeros, what a client's `fetchArrayInto` asks for) into a
 * buffer lent by the payload pool, through the store's `fetchArrayInto` (a VOS target reads an
 * exact extent with the hashed pread of the thread pool, verifying its checksum there): no fresh
 * buffer per read (its page faults, its share of GC). The buffer goes back once the socket took
 * the reply (`sent`). Undefined when this does not apply (small reads, stores without
 * `fetchArrayInto`, arrays of records larger than a byte): the caller reads as usual.
 */
async function fetchPooled(store: ShardStore, h: Record<string, unknown>): Promise<RpcReply | undefined> {
  if (!store.fetchArrayInto) return undefined;
  const recx = recxOf(h.recx);
  if (!BufferPool.pools(recx.count)) return undefined;
  const lease = payloadPool.take(recx.count);
  try {
    await store.fetchArrayInto(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), recx, [lease.bytes]);
  } catch (err) {
    lease.release();
    // A record size above one byte: `into` does not hold count * recordSize bytes; read as usual.
    if (err instanceof CairnError && err.code === 'INVALID_ARGUMENT') return undefined;
    throw err;
  }
  return { header: { present: [{ index: recx.index, count: recx.count }], length: recx.count }, payload: lease.bytes, sent: lease.release };
}

/** Decimal digits only (a max epoch in a reply). */
const DECIMAL = /^\d+$/;

/** The epoch `epochText` turned into text last, and its text. */
let lastEpoch = -1n, lastEpochText = '-1';
/**
 * `epoch` as decimal text, the last one's text kept: a commit's writes to several shards (and its
 * notices) name one epoch one after another, so one BigInt toString (~120 ns and a string) serves them all.
 */
export function epochText(epoch: bigint): string {
  if (epoch !== lastEpoch) { lastEpochText = epoch.toString(); lastEpoch = epoch; }
  return lastEpochText;
}
const UPDATE_SINGLE = 'shard.updateSingle', UPDATE_ARRAY = 'shard.updateArray', FETCH_ARRAY = 'shard.fetchArray', FETCH_SINGLE = 'shard.fetchSingle';

/** An empty payload (an update of an empty value). */
const EMPTY = new Uint8Array(0);

/**
 * `shard.updateSingle` or `shard.updateArray` applied to `store` (the engine's write path: no
 * method switch, no reply built before the store answered). Resolves with the reply (`maxEpoch`);
 * a malformed header throws NET_PROTOCOL synchronously, the store's errors reject.
 */
export function serveUpdate(method: 'shard.updateSingle' | 'shard.updateArray' | string, h: Record<string, unknown>, payload: Uint8Array | undefined, store: ShardStore): Promise<RpcReply> {
  const data = payload ?? EMPTY;
  const done = method === 'shard.updateSingle'
    ? store.updateSingle(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), data)
    : store.updateArray(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), recxOf(h.recx), data, h.recordSize !== undefined ? { recordSize: int(h.recordSize, 'recordSize') } : undefined);
  return done.then((): RpcReply => ({ header: { maxEpoch: String(store.queryMaxEpoch()) } }));
}

/** A store's `updateSingleNow` that may be told the write is prepared (a VOS ContainerStore, b2c88da). */
interface PreparedUpdater {
  updateSingleNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum: bigint | undefined, prepared: boolean): Promise<void> | undefined;
}

/**
 * `serveUpdate` answered in the call when it can: a single-value update to a store that applies it
 * synchronously (`updateSingleNow`) returns its reply itself, with no promise (the engine applies
 * a batch's writes in one synchronous stretch). Anything else (an array update, a store without
 * `updateSingleNow`, one that must wait) returns what `serveUpdate` does. A malformed header and
 * the store's synchronous failures throw. `prepared` (the engine's undecided commits) goes to the store's `updateSingleNow`; `epoch`: `h.epoch` as the engine parsed it already (else parsed here).
 */
export function serveUpdateNow(method: 'shard.updateSingle' | 'shard.updateArray' | string, h: Record<string, unknown>, payload: Uint8Array | undefined, store: ShardStore, prepared = false, epoch?: bigint): RpcReply | Promise<RpcReply> {
  if (method !== UPDATE_SINGLE || store.updateSingleNow === undefined) return serveUpdate(method, h, payload, store);
  // (`prepared`: the write is of an engine's undecided commit; a ContainerStore notes a new epoch in
  // the update record itself, vos b2c88da; other stores ignore the extra argument. `epoch`: h.epoch
  // as the engine parsed it already, when it did. The keys' bytes and the reply's max epoch text
  // are kept from the write before while they stay the same: `KeyBytes`, `maxEpochText`)
  const later = (store as ShardStore & PreparedUpdater).updateSingleNow(epoch ?? big(h.epoch, 'epoch'), big(h.oid, 'oid'), dkeyBytes.of(h.dkey), akeyBytes.of(h.akey), payload ?? EMPTY, undefined, prepared);
  if (later !== undefined) return later.then((): RpcReply => ({ header: { maxEpoch: maxEpochText(store) } }));
  return { header: { maxEpoch: maxEpochText(store) } };
}

/**
 * A whole-range array read (`shard.fetchArray` with `holesAsZero`, what a client's
 * `fetchArrayInto` sends) served in one frame: the header parsed, a pooled buffer taken and the
 * store's `fetchArrayInto` started synchronously, the reply built when it resolves (the engine's
 * read fast path: no chain of async frames between the request and the store). Undefined when
 * the read does not take this path (no `fetchArrayInto`, a size the pool does not lend): the
 * caller serves it as usual. A store that refuses the pooled read (records larger than a byte)
 * is read again through `serveShardCall`. Malformed headers throw NET_PROTOCOL synchronously.
 *
 * `dataFile`: the absolute path of the store's data file, when the engine lets a client on its
 * host read located extents itself (direct-read.ts): a request saying `direct: true` whose
 * extent the store locates is answered with `direct: { path, at, len, csum }` and no payload.
 */
export function serveFetchInto(store: ShardStore, h: Record<string, unknown>, dataFile?: string): Promise<RpcReply> | undefined {
  if (!store.fetchArrayInto) return undefined;
  const recx = recxOf(h.recx);
  if (!BufferPool.pools(recx.count)) return undefined;
  const epoch = big(h.epoch, 'epoch'), oid = big(h.oid, 'oid'), dkey = unb64(h.dkey), akey = unb64(h.akey);
  if (h.direct === true && dataFile !== undefined) {
    const located = locatedHeader(store, epoch, oid, dkey, akey, recx, dataFile);
    if (located !== undefined) return Promise.resolve({ header: located });
  }
  // A client on this host may name a slot of its shared region: the read lands there, the reply is a header (src/net/shm.ts).
  const slot = h.shm !== undefined ? slotView(h.shm, recx.count) : undefined;
  if (slot !== undefined) {
    return store.fetchArrayInto(epoch, oid, dkey, akey, recx, [slot]).then(
      (): RpcReply => ({ header: { present: [{ index: recx.index, count: recx.count }], length: recx.count, maxEpoch: String(store.queryMaxEpoch()), shm: true } }),
      (err: unknown) => {
        if (err instanceof CairnError && err.code === 'INVALID_ARGUMENT') return serveShardCall('shard.fetchArray', h, undefined, store);
        throw err;
      });
  }
  const lease = payloadPool.take(recx.count);
  let read: Promise<void>;
  try {
    read = store.fetchArrayInto(epoch, oid, dkey, akey, recx, [lease.bytes]);
  } catch (err) {
    lease.release();
    throw err;
  }
  return read.then(
    (): RpcReply => ({ header: { present: [{ index: recx.index, count: recx.count }], length: recx.count, maxEpoch: String(store.queryMaxEpoch()) }, payload: lease.bytes, sent: lease.release }),
    (err: unknown) => {
      lease.release();
      if (err instanceof CairnError && err.code === 'INVALID_ARGUMENT') return serveShardCall('shard.fetchArray', h, undefined, store);
      throw err;
    });
}

/** The header of a located answer to a whole-range read of `recx`, or undefined when `store` does not locate it. */
function locatedHeader(store: ShardStore, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, dataFile: string): Record<string, unknown> | undefined {
  const at = locateExtent(store as ShardStore & ExtentLocator, epoch, oid, dkey, akey, recx);
  if (at === null) return undefined;
  return { present: [{ index: recx.index, count: recx.count }], length: recx.count, maxEpoch: String(store.queryMaxEpoch()), direct: { path: dataFile, at: at.position, len: at.length, csum: String(at.csum) } };
}

/**
 * One item of a batched locate (`engine.locate`, link.ts): the header a located answer to the
 * whole-range read `h` (a `shard.fetchArray` header with `holesAsZero`) carries, or undefined
 * when the store does not locate it (the client then sends the read on its own). Synchronous;
 * malformed headers throw NET_PROTOCOL.
 */
export function locateFetch(store: ShardStore, h: Record<string, unknown>, dataFile: string): Record<string, unknown> | undefined {
  if (!store.fetchArrayInto) return undefined;
  const recx = recxOf(h.recx);
  if (!BufferPool.pools(recx.count)) return undefined;
  return locatedHeader(store, big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey), recx, dataFile);
}

/** A store that can say where a whole-extent array read lies in its data file (a local VOS container store: `locateArrayExtent`). */
interface ExtentLocator {
  locateArrayExtent?(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx): { position: number; length: number; csum: bigint } | null;
}

/**
 * Where `store` locates the read (see `serveFetchInto`), or null: no locator, not a whole extent in
 * the data file, or anything the store refuses (its own read then reports it).
 */
function locateExtent(store: ShardStore & ExtentLocator, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx): { position: number; length: number; csum: bigint } | null {
  if (typeof store.locateArrayExtent !== 'function') return null;
  try {
    const at = store.locateArrayExtent(epoch, oid, dkey, akey, recx);
    return at !== null && Number.isSafeInteger(at.position) && Number.isSafeInteger(at.length) && at.length > 0 && typeof at.csum === 'bigint' ? at : null;
  } catch (err) {
    swallowed('shard-rpc.locate-refused-read-through-store', err);
    return null;
  }
}

/**
 * `CAIRN_FRESH_READS=0` sends no uncertainty window with reads "now" (A/B of its cost, and the
 * proof in test/engine/freshness that it is what keeps reads fresh across clients: without it
 * a read can miss another client's acknowledged commit). Never for real use.
 */
const FRESH_READS = process.env.CAIRN_FRESH_READS !== '0';

/**
 * ε of a read "now", in epochs: one millisecond (a commit made in the reader's millisecond carries
 * logical and slot bits above the reader's epoch) plus `skewMs`, the most the clocks of a pool's
 * clients may differ (`CAIRN_CLOCK_SKEW_MS`).
 */
export function freshWindow(skewMs: number): bigint {
  return BigInt(1 + skewMs) << HLC_LOGICAL_BITS;
}

type Usage = ReturnType<ShardStore['usage']>;
/** Fields a usage figure in a reply must carry. */
const USAGE_FIELDS: readonly string[] = ['scmUsed', 'scmTotal', 'dataUsed', 'dataTotal'];

/** The reply of a whole-range read into `into` (`fetchArrayInto`): checked, and its bytes copied there unless the transport put them there already. */
function filledInto(r: RpcReply, into: readonly Uint8Array[]): void {
  const len = int(r.header.length ?? 0, 'length');
  let total = 0;
  for (const b of into) total += b.length;
  if (len !== total) throw new NetError('NET_PROTOCOL', `fetchArray reply has ${len} bytes, ${total} were asked for`, { method: FETCH_ARRAY });
  if (r.filled) return;
  const data = r.payload ?? new Uint8Array(0);
  if (data.length !== len) throw new NetError('NET_PROTOCOL', `fetchArray reply has ${data.length} bytes, announced ${len}`, { method: FETCH_ARRAY });
  let at = 0;
  for (const b of into) { b.set(data.subarray(at, at + b.length)); at += b.length; }
}

/** Client side: a target's store on an engine. `route` (target, container, map version) is merged into every request. */
export class RemoteShardStore implements ShardStore {
  /** The highest max epoch replies reported, as decimal text (`noteMaxEpoch`), and as a bigint once asked for. */
  private maxText = '0';
  private maxParsed: bigint | undefined = 0n;
  private lastUsage: Usage = { scmUsed: 0, scmTotal: 0, dataUsed: 0, dataTotal: 0 };

  /**
   * `route()` (a fresh object on every call: the request header is built in it) is merged into
   * every request; `tx(epoch)` gives the commit descriptor a write at
   * `epoch` carries (connected pools), if any, and `fresh(epoch)` the top of a write's uncertainty
   * window (a commit that is not a transaction's: `CommitInfo.firstEpoch`). `freshWindow`: ε of a read "now" in epochs (one
   * millisecond plus the clock skew allowed between clients: `freshWindow()`); such a read
   * carries `fresh: <its first attempt's epoch + ε>` (default FRESH_WINDOW_DEFAULT).
   */
  constructor(private readonly client: RpcCaller, private readonly route: () => Record<string, unknown>, private readonly opts: { onClose?: () => void; tx?: (epoch: bigint) => TxDescriptor | undefined; fresh?: (epoch: bigint) => string | undefined; freshWindow?: bigint } = {}) {
    this.window = opts.freshWindow ?? freshWindow(0);
  }

  /** ε of a read "now" (see the constructor). */
  private readonly window: bigint;

  /**
   * One call; remembers the highest max epoch replies report (`exact`: take the reply's value
   * even if lower: an explicit query, or a discard that lowered it) and any usage they carry.
   */
  private async call(method: string, header: Record<string, unknown>, payload?: Uint8Array, exact = false, o?: RpcCallOptions): Promise<RpcReply> {
    // route() is a fresh object per call: the request header is built in it (no further copy).
    const r = await this.client.call(`shard.${method}`, Object.assign(this.route(), header), payload, o);
    this.noteReply(r, exact);
    return r;
  }

  /** What every reply tells: the store's max epoch (see `call`) and any usage figure. */
  private noteReply(r: RpcReply, exact: boolean): void {
    const m = r.header.maxEpoch;
    if (typeof m === 'string') this.noteMaxEpoch(m, exact);
    const u = r.header.usage as Usage | undefined;
    if (u !== undefined && u !== null && typeof u === 'object' && USAGE_FIELDS.every((k) => typeof (u as Record<string, unknown>)[k] === 'number')) {
      this.lastUsage = { ...u }; // any further numbers the store reports (e.g. VOS scmLive) come along
    }
  }

  /**
   * A reply's max epoch (decimal text). Kept as text and turned into a bigint only when asked
   * (`queryMaxEpoch`): a write's reply then costs a string comparison, not a BigInt. Canonical
   * decimals (no leading zero) compare as numbers by length, then character by character.
   */
  private noteMaxEpoch(m: string, exact: boolean): void {
    if (m.length === 0 || m.length > 40 || (m.length > 1 && m.charCodeAt(0) === 48) || !DECIMAL.test(m)) return;
    const t = this.maxText;
    if (exact || m.length > t.length || (m.length === t.length && m > t)) { this.maxText = m; this.maxParsed = undefined; }
  }

  /** The reply of a write: its max epoch noted, nothing returned (one bound function, no frame per write). */
  private readonly written = (r: RpcReply): void => {
    const m = r.header.maxEpoch;
    if (typeof m === 'string') this.noteMaxEpoch(m, false);
    if (r.header.usage !== undefined) this.noteReply(r, false);
  };

  /**
   * A write: its header (built on `route()`'s fresh object: keys, extent, the transaction's read
   * epoch, the commit's descriptor), sent as one call; resolves once the engine acknowledged it.
   * Not async: one promise per write and no frame of its own; anything thrown comes back as a rejection.
   */
  private write(method: string, epoch: bigint, oid: bigint, dkey: Uint8Array | undefined, akey: Uint8Array | undefined, payload: Uint8Array | undefined, opts: ({ recordSize?: number } & WriteOpts) | undefined, recx?: Recx): Promise<void> {
    try {
      const h = this.route();
      h.epoch = epochText(epoch);
      h.oid = String(oid);
      if (dkey) h.dkey = dkeyText.of(dkey);
      if (akey) h.akey = akeyText.of(akey);
      if (recx) h.recx = { index: recx.index, count: recx.count };
      if (opts?.recordSize !== undefined) h.recordSize = opts.recordSize;
      if (opts?.txRead !== undefined) h.txRead = String(opts.txRead);
      const tx = this.opts.tx?.(epoch);
      if (tx) h.tx = tx;
      // (a write "now": the top of its uncertainty window, see CommitInfo.firstEpoch)
      const fresh = opts?.txRead === undefined ? this.opts.fresh?.(epoch) : undefined;
      if (fresh !== undefined) h.fresh = fresh;
      const c = this.client;
      // (a link runs `written` on the reply itself: no `then` promise per write)
      return c instanceof EngineLink ? c.callNoted(method, h, payload, this.written) : c.call(method, h, payload).then(this.written);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private keys(epoch: bigint, oid: bigint, dkey?: Uint8Array, akey?: Uint8Array): Record<string, unknown> {
    const h: Record<string, unknown> = { epoch: String(epoch), oid: String(oid) };
    if (dkey) h.dkey = dkeyText.of(dkey);
    if (akey) h.akey = akeyText.of(akey);
    return h;
  }

  /**
   * A read's header: `keys`, and for a read "now" (`fresh`: its first attempt's epoch) the top of
   * its uncertainty window, `fresh + ε`: the engine refuses the read (STALE_EPOCH) when it holds
   * a write to what the read depends on in (epoch, fresh + ε] (docs/scale.md, "Freshness").
   */
  private readKeys(epoch: bigint, oid: bigint, dkey: Uint8Array | undefined, akey: Uint8Array | undefined, fresh: FreshFrom): Record<string, unknown> {
    const h = this.keys(epoch, oid, dkey, akey);
    if (fresh !== undefined) this.readBound(h, fresh);
    return h;
  }

  updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, opts?: WriteOpts): Promise<void> {
    return this.write(UPDATE_SINGLE, epoch, oid, dkey, akey, value, opts);
  }

  updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts?: { recordSize?: number } & WriteOpts): Promise<void> {
    return this.write(UPDATE_ARRAY, epoch, oid, dkey, akey, data, opts, recx);
  }

  /** A read's header built on `route()`'s fresh object (as a write's): keys, and a read "now"'s window top (`readKeys`). */
  private readHeader(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh: FreshFrom): Record<string, unknown> {
    const h = this.route();
    h.epoch = epochText(epoch);
    h.oid = String(oid);
    h.dkey = dkeyText.of(dkey);
    h.akey = akeyText.of(akey);
    if (fresh !== undefined) this.readBound(h, fresh);
    return h;
  }

  /**
   * A read's `fresh` in its header `h` (whose `epoch` is set): a read "now" carries the top of its
   * uncertainty window, a transaction's read its read epoch as `txRead` (the engine refuses it
   * below an aggregation that did not keep it: shard-store.ts `TX_READ`).
   */
  private readBound(h: Record<string, unknown>, fresh: bigint | typeof TX_READ): void {
    if (fresh === TX_READ) h.txRead = h.epoch;
    else if (FRESH_READS) h.fresh = String(fresh + this.window);
  }

  /** A single value's read. Not async, its header built on `route()`'s object (as `fetchArrayInto`). */
  fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): Promise<Uint8Array | undefined> {
    try {
      const h = this.readHeader(epoch, oid, dkey, akey, fresh);
      return this.client.call(FETCH_SINGLE, h).then(this.gotSingle);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The reply of a single value's read: its max epoch noted, the value (undefined: none visible). */
  private readonly gotSingle = (r: RpcReply): Uint8Array | undefined => {
    this.noteReply(r, false);
    return r.header.found ? (r.payload ?? new Uint8Array(0)) : undefined;
  };

  async fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts?: { holesAsZero?: boolean }, fresh?: FreshFrom): Promise<{ data: Uint8Array; present: Recx[] }> {
    const r = await this.call('fetchArray', { ...this.readKeys(epoch, oid, dkey, akey, fresh), recx: { index: recx.index, count: recx.count }, ...(opts?.holesAsZero !== undefined ? { holesAsZero: opts.holesAsZero } : {}) });
    const len = int(r.header.length ?? 0, 'length');
    const got = r.payload?.length ?? 0;
    if (got !== len) throw new NetError('NET_PROTOCOL', `fetchArray reply has ${got} bytes, announced ${len}`, { method: 'shard.fetchArray' });
    if (!Array.isArray(r.header.present)) throw new NetError('NET_PROTOCOL', 'fetchArray reply without present extents', { method: 'shard.fetchArray' });
    return { data: r.payload ?? new Uint8Array(0), present: r.header.present.map(recxOf) };
  }

  /**
   * `fetchArray` (holes as zeros) with the reply's bytes read off the connection straight into
   * `into` (or read by the link from where the engine located them). Not async: its header is built
   * on `route()`'s fresh object as a write's is (no keys object spread into a second one and merged
   * into a third), and the reply checked in one `then` (no async frames of its own and of `call`'s).
   */
  fetchArrayInto(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[], fresh?: FreshFrom): Promise<void> {
    try {
      const h = this.readHeader(epoch, oid, dkey, akey, fresh);
      h.recx = { index: recx.index, count: recx.count };
      h.holesAsZero = true;
      return this.client.call(FETCH_ARRAY, h, undefined, { into }).then((r) => { this.noteReply(r, false); filledInto(r, into); });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  punchObject(epoch: bigint, oid: bigint, opts?: WriteOpts): Promise<void> { return this.write('shard.punchObject', epoch, oid, undefined, undefined, undefined, opts); }
  punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array, opts?: WriteOpts): Promise<void> { return this.write('shard.punchDkey', epoch, oid, dkey, undefined, undefined, opts); }
  punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, opts?: WriteOpts): Promise<void> { return this.write('shard.punchAkey', epoch, oid, dkey, akey, undefined, opts); }

  /**
   * A paged listing: each page continues the engine's cursor (or skips what was seen, if it
   * expired). A read "now" carries its `fresh` bound on the first page only: a write the engine
   * holds by then is every write acknowledged before the listing began (one that comes later
   * began after it).
   */
  private async *pages<T>(method: string, header: Record<string, unknown>, map: (x: unknown) => T): AsyncGenerator<T> {
    let cursor: string | undefined;
    const first = header, rest = header.fresh === undefined ? header : { ...header, fresh: undefined };
    for (let skip = 0; ;) {
      const r = await this.call(method, { ...(skip === 0 ? first : rest), skip, ...(cursor ? { cursor } : {}) });
      const items = r.header.items;
      if (!Array.isArray(items)) throw new NetError('NET_PROTOCOL', `${method} reply without items`, { method: `shard.${method}` });
      const mapped = items.map(map);
      for (const x of mapped) yield x;
      if (r.header.done !== false || items.length === 0) return;
      skip += items.length;
      cursor = typeof r.header.cursor === 'string' ? r.header.cursor : undefined;
    }
  }

  listObjects(epoch: bigint, fresh?: FreshFrom): AsyncIterable<bigint> {
    const h: Record<string, unknown> = { epoch: String(epoch) };
    if (fresh !== undefined) this.readBound(h, fresh); // (engines check a "now" against the container's newest write)
    return this.pages('listObjects', h, (x) => BigInt(String(x)));
  }
  listObjectIds(): AsyncIterable<bigint> { return this.pages('listObjectIds', {}, (x) => BigInt(String(x))); }
  listDkeys(epoch: bigint, oid: bigint, _range?: undefined, fresh?: FreshFrom): AsyncIterable<Uint8Array> { return this.pages('listDkeys', this.readKeys(epoch, oid, undefined, undefined, fresh), unb64); }
  listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array, fresh?: FreshFrom): AsyncIterable<Uint8Array> { return this.pages('listAkeys', this.readKeys(epoch, oid, dkey, undefined, fresh), unb64); }
  listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): AsyncIterable<{ index: number; count: number; epoch: bigint }> {
    return this.pages('listRecx', this.readKeys(epoch, oid, dkey, akey, fresh), (x) => { const r = x as { index: number; count: number; epoch: string }; return { index: r.index, count: r.count, epoch: BigInt(r.epoch) }; });
  }

  async akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, fresh?: FreshFrom): Promise<'single' | 'array' | undefined> {
    const r = await this.call('akeyKind', this.readKeys(epoch, oid, dkey, akey, fresh));
    return (r.header.kind as 'single' | 'array' | null) ?? undefined;
  }

  /** The highest epoch the engine reported for this store (refreshed by every reply). */
  queryMaxEpoch(): bigint { return (this.maxParsed ??= BigInt(this.maxText)); }

  /** Ask the engine for the store's highest epoch now. */
  async refreshMaxEpoch(): Promise<bigint> { await this.call('queryMaxEpoch', {}, undefined, true); return this.queryMaxEpoch(); }

  /** Aggregate the engine's store; resolves with its result as plain JSON (bigints as strings). */
  async aggregate(upTo: bigint, keep?: bigint[]): Promise<unknown> {
    const r = await this.call('aggregate', { upTo: String(upTo), ...(keep ? { keep: keep.map(String) } : {}) });
    return r.header.result;
  }

  /** Discard on the engine; the max epoch is then the engine's (a discard can lower it). */
  async discard(after: bigint, upTo?: bigint): Promise<void> {
    await this.call('discard', { after: String(after), ...(upTo !== undefined ? { upTo: String(upTo) } : {}) }, undefined, true);
  }

  /** The last usage the engine reported (zeros before `refreshUsage`). */
  usage(): Usage { return this.lastUsage; }

  /** Ask the engine for the store's usage now (also what `usage()` returns from then on). */
  async refreshUsage(): Promise<Usage> {
    const r = await this.call('usage', {});
    if (r.header.usage === undefined) throw new NetError('NET_PROTOCOL', 'usage reply without usage', { method: 'shard.usage' });
    return this.lastUsage;
  }

  /** Forget this handle (the engine keeps its store open). */
  async close(): Promise<void> { this.opts.onClose?.(); }
}

/**
 * `shard.fetchSingle` answered in the call when the store can read the value now
 * (`fetchSingleNow`: in memory, in the log, inline in a run, a small value from the page cache):
 * the reply `serveShardCall` would give, with no promise; undefined when the store has no
 * `fetchSingleNow` or must read with `fetchSingle` (the caller then goes the general way). For
 * the engine's batch path: a client sends the single-value reads of one turn as one batch
 * (link.ts), and the reads of a batch that need no wait can be answered in one synchronous
 * stretch, as its writes are (`serveUpdateNow`). The caller does what the general read path does
 * before it (freshness window, read timestamp, waits for prepared writes). A malformed header
 * and the store's errors throw.
 */
export function serveFetchSingleNow(h: Record<string, unknown>, store: ShardStore): RpcReply | undefined {
  if (store.fetchSingleNow === undefined) return undefined;
  const v = store.fetchSingleNow(big(h.epoch, 'epoch'), big(h.oid, 'oid'), unb64(h.dkey), unb64(h.akey));
  if (v === null) return undefined;
  const maxEpoch = String(store.queryMaxEpoch());
  return v === undefined ? { header: { found: false, maxEpoch } } : { header: { found: true, maxEpoch }, payload: v };
}
