/**
 * The per-target store interface (`ShardStore`) over RPC: `RemoteShardStore` on the client side,
 * `serveShardCall` on the engine side. Every method is one call `shard.<name>`; bigints travel as
 * decimal strings, keys as base64 in the header, bulk values as the raw payload. Lists are paged
 * (`LIST_PAGE` items per call) so a huge listing never builds one giant reply.
 */
import type { ShardStore, Recx } from '../object/shard-store.js';
import { NetError } from './errors.js';
import type { RpcClient, RpcReply } from './rpc.js';

/** Items per page of a listing. */
export const LIST_PAGE = 1024;

/** Methods `serveShardCall` handles. */
export const SHARD_METHODS: readonly string[] = [
  'shard.updateSingle', 'shard.updateArray', 'shard.fetchSingle', 'shard.fetchArray',
  'shard.punchObject', 'shard.punchDkey', 'shard.punchAkey',
  'shard.listObjects', 'shard.listDkeys', 'shard.listAkeys', 'shard.listRecx', 'shard.akeyKind',
  'shard.queryMaxEpoch', 'shard.aggregate', 'shard.discard', 'shard.usage',
];

const b64 = (k: Uint8Array) => Buffer.from(k.buffer, k.byteOffset, k.length).toString('base64');
const unb64 = (v: unknown): Uint8Array => {
  if (typeof v !== 'string') throw new NetError('NET_PROTOCOL', 'key expected as base64');
  return new Uint8Array(Buffer.from(v, 'base64'));
};
const big = (v: unknown, what: string): bigint => {
  if (typeof v !== 'string' || !/^\d{1,60}$/.test(v)) throw new NetError('NET_PROTOCOL', `${what} expected as a decimal string`);
  return BigInt(v);
};
const int = (v: unknown, what: string): number => {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new NetError('NET_PROTOCOL', `${what} expected as a non-negative integer`);
  return v as number;
};
const recxOf = (v: unknown): Recx => {
  const r = v as { index?: unknown; count?: unknown };
  return { index: int(r?.index, 'recx.index'), count: int(r?.count, 'recx.count') };
};

/** Collect one page of an async iterable: items [skip, skip + LIST_PAGE). */
async function page<T>(it: AsyncIterable<T>, skip: number): Promise<{ items: T[]; done: boolean }> {
  const items: T[] = [];
  let i = 0;
  for await (const x of it) {
    if (i++ < skip) continue;
    if (items.length === LIST_PAGE) return { items, done: false };
    items.push(x);
  }
  return { items, done: true };
}

/** Engine side: run one shard call against a local store. */
export async function serveShardCall(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, store: ShardStore): Promise<RpcReply> {
  const epoch = () => big(h.epoch, 'epoch');
  const oid = () => big(h.oid, 'oid');
  const data = payload ?? new Uint8Array(0);
  let reply: RpcReply;
  switch (method) {
    case 'shard.updateSingle': await store.updateSingle(epoch(), oid(), unb64(h.dkey), unb64(h.akey), data); reply = { header: {} }; break;
    case 'shard.updateArray':
      await store.updateArray(epoch(), oid(), unb64(h.dkey), unb64(h.akey), recxOf(h.recx), data, h.recordSize !== undefined ? { recordSize: int(h.recordSize, 'recordSize') } : undefined);
      reply = { header: {} };
      break;
    case 'shard.fetchSingle': {
      const v = await store.fetchSingle(epoch(), oid(), unb64(h.dkey), unb64(h.akey));
      reply = v === undefined ? { header: { found: false } } : { header: { found: true }, payload: v };
      break;
    }
    case 'shard.fetchArray': {
      const r = await store.fetchArray(epoch(), oid(), unb64(h.dkey), unb64(h.akey), recxOf(h.recx), h.holesAsZero !== undefined ? { holesAsZero: h.holesAsZero === true } : undefined);
      reply = { header: { present: r.present, length: r.data.length }, payload: r.data };
      break;
    }
    case 'shard.punchObject': await store.punchObject(epoch(), oid()); reply = { header: {} }; break;
    case 'shard.punchDkey': await store.punchDkey(epoch(), oid(), unb64(h.dkey)); reply = { header: {} }; break;
    case 'shard.punchAkey': await store.punchAkey(epoch(), oid(), unb64(h.dkey), unb64(h.akey)); reply = { header: {} }; break;
    case 'shard.listObjects': {
      const p = await page(store.listObjects(epoch()), int(h.skip ?? 0, 'skip'));
      reply = { header: { items: p.items.map(String), done: p.done } };
      break;
    }
    case 'shard.listDkeys': {
      const p = await page(store.listDkeys(epoch(), oid()), int(h.skip ?? 0, 'skip'));
      reply = { header: { items: p.items.map(b64), done: p.done } };
      break;
    }
    case 'shard.listAkeys': {
      const p = await page(store.listAkeys(epoch(), oid(), unb64(h.dkey)), int(h.skip ?? 0, 'skip'));
      reply = { header: { items: p.items.map(b64), done: p.done } };
      break;
    }
    case 'shard.listRecx': {
      const p = await page(store.listRecx(epoch(), oid(), unb64(h.dkey), unb64(h.akey)), int(h.skip ?? 0, 'skip'));
      reply = { header: { items: p.items.map((r) => ({ index: r.index, count: r.count, epoch: String(r.epoch) })), done: p.done } };
      break;
    }
    case 'shard.akeyKind': reply = { header: { kind: (await store.akeyKind(epoch(), oid(), unb64(h.dkey), unb64(h.akey))) ?? null } }; break;
    case 'shard.queryMaxEpoch': reply = { header: {} }; break;
    case 'shard.aggregate': {
      const keep = Array.isArray(h.keep) ? h.keep.map((k) => big(k, 'keep')) : undefined;
      await store.aggregate(big(h.upTo, 'upTo'), keep);
      reply = { header: {} };
      break;
    }
    case 'shard.discard': await store.discard(big(h.after, 'after'), h.upTo !== undefined && h.upTo !== null ? big(h.upTo, 'upTo') : undefined); reply = { header: {} }; break;
    case 'shard.usage': reply = { header: { usage: store.usage() } }; break;
    default: throw new NetError('NET_PROTOCOL', `unknown shard method ${method}`, { method });
  }
  reply.header.maxEpoch = String(store.queryMaxEpoch());
  return reply;
}

type Usage = ReturnType<ShardStore['usage']>;

/** Client side: a target's store on an engine. `route` (target, container, map version) is merged into every request. */
export class RemoteShardStore implements ShardStore {
  private maxEpoch = 0n;
  private lastUsage: Usage = { scmUsed: 0, scmTotal: 0, dataUsed: 0, dataTotal: 0 };

  constructor(private readonly client: RpcClient, private readonly route: () => Record<string, unknown>, private readonly opts: { onClose?: () => void } = {}) {}

  private async call(method: string, header: Record<string, unknown>, payload?: Uint8Array): Promise<RpcReply> {
    const r = await this.client.call(`shard.${method}`, { ...this.route(), ...header }, payload);
    if (typeof r.header.maxEpoch === 'string') { const e = BigInt(r.header.maxEpoch); if (e > this.maxEpoch) this.maxEpoch = e; }
    return r;
  }

  private keys(epoch: bigint, oid: bigint, dkey?: Uint8Array, akey?: Uint8Array): Record<string, unknown> {
    return { epoch: String(epoch), oid: String(oid), ...(dkey ? { dkey: b64(dkey) } : {}), ...(akey ? { akey: b64(akey) } : {}) };
  }

  async updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array): Promise<void> {
    await this.call('updateSingle', this.keys(epoch, oid, dkey, akey), value);
  }

  async updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts?: { recordSize?: number }): Promise<void> {
    await this.call('updateArray', { ...this.keys(epoch, oid, dkey, akey), recx: { index: recx.index, count: recx.count }, ...(opts?.recordSize !== undefined ? { recordSize: opts.recordSize } : {}) }, data);
  }

  async fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<Uint8Array | undefined> {
    const r = await this.call('fetchSingle', this.keys(epoch, oid, dkey, akey));
    return r.header.found ? (r.payload ?? new Uint8Array(0)) : undefined;
  }

  async fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts?: { holesAsZero?: boolean }): Promise<{ data: Uint8Array; present: Recx[] }> {
    const r = await this.call('fetchArray', { ...this.keys(epoch, oid, dkey, akey), recx: { index: recx.index, count: recx.count }, ...(opts?.holesAsZero !== undefined ? { holesAsZero: opts.holesAsZero } : {}) });
    const len = int(r.header.length ?? 0, 'length');
    const data = r.payload && r.payload.length === len ? r.payload : new Uint8Array(len);
    if (r.payload && r.payload.length !== len) data.set(r.payload.subarray(0, Math.min(len, r.payload.length)));
    return { data, present: (r.header.present as Recx[]) ?? [] };
  }

  async punchObject(epoch: bigint, oid: bigint): Promise<void> { await this.call('punchObject', this.keys(epoch, oid)); }
  async punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array): Promise<void> { await this.call('punchDkey', this.keys(epoch, oid, dkey)); }
  async punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> { await this.call('punchAkey', this.keys(epoch, oid, dkey, akey)); }

  private async *pages<T>(method: string, header: Record<string, unknown>, map: (x: unknown) => T): AsyncGenerator<T> {
    for (let skip = 0; ;) {
      const r = await this.call(method, { ...header, skip });
      const items = (r.header.items as unknown[]) ?? [];
      for (const x of items) yield map(x);
      if (r.header.done !== false || items.length === 0) return;
      skip += items.length;
    }
  }

  listObjects(epoch: bigint): AsyncIterable<bigint> { return this.pages('listObjects', { epoch: String(epoch) }, (x) => BigInt(String(x))); }
  listDkeys(epoch: bigint, oid: bigint): AsyncIterable<Uint8Array> { return this.pages('listDkeys', this.keys(epoch, oid), unb64); }
  listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array): AsyncIterable<Uint8Array> { return this.pages('listAkeys', this.keys(epoch, oid, dkey), unb64); }
  listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AsyncIterable<{ index: number; count: number; epoch: bigint }> {
    return this.pages('listRecx', this.keys(epoch, oid, dkey, akey), (x) => { const r = x as { index: number; count: number; epoch: string }; return { index: r.index, count: r.count, epoch: BigInt(r.epoch) }; });
  }

  async akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<'single' | 'array' | undefined> {
    const r = await this.call('akeyKind', this.keys(epoch, oid, dkey, akey));
    return (r.header.kind as 'single' | 'array' | null) ?? undefined;
  }

  /** The highest epoch the engine reported for this store (refreshed by every reply). */
  queryMaxEpoch(): bigint { return this.maxEpoch; }

  /** Ask the engine for the store's highest epoch now. */
  async refreshMaxEpoch(): Promise<bigint> { await this.call('queryMaxEpoch', {}); return this.maxEpoch; }

  async aggregate(upTo: bigint, keep?: bigint[]): Promise<unknown> {
    await this.call('aggregate', { upTo: String(upTo), ...(keep ? { keep: keep.map(String) } : {}) });
    return undefined;
  }

  async discard(after: bigint, upTo?: bigint): Promise<void> {
    await this.call('discard', { after: String(after), ...(upTo !== undefined ? { upTo: String(upTo) } : {}) });
  }

  /** The last usage the engine reported (zeros before `refreshUsage`). */
  usage(): Usage { return this.lastUsage; }

  async refreshUsage(): Promise<Usage> {
    const r = await this.call('usage', {});
    this.lastUsage = r.header.usage as Usage;
    return this.lastUsage;
  }

  /** Forget this handle (the engine keeps its store open). */
  async close(): Promise<void> { this.opts.onClose?.(); }
}
