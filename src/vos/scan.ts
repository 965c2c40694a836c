/**
 * An object's content at one epoch in one ordered pass: every visible dkey, each visible akey's kind
 * (single value or array), the epoch of its newest visible version, and its visible extents with
 * their epochs — what a rebuild needs to move an object, without a listing per dkey, a listing per
 * akey and a probe per akey (a call each, the largest cost of rebuilding small keys).
 *
 * Read through the store's public read paths: a store with `scanObject` (a local `ContainerStore`)
 * answers a page of dkeys per call from one merged pass over the object's key range; any other
 * store (a remote one) is read with `listDkeys`, `listAkeys`, `akeyKind` and `listRecx`, which give
 * the same answer.
 */
import type { ScannedAkey, ScannedDkey } from './container-store.js';

export type { ScannedAkey, ScannedDkey };

/** Dkeys asked of a store per `scanObject` page (each page is one synchronous pass over its sources). */
export const SCAN_PAGE_DKEYS = 256;

/** The read paths `scanObject` uses (a structural subset of a shard store). */
export interface ScanSource {
  listDkeys(epoch: bigint, oid: bigint): AsyncIterable<Uint8Array>;
  listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array): AsyncIterable<Uint8Array>;
  listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AsyncIterable<{ index: number; count: number; epoch: bigint }>;
  akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<'single' | 'array' | undefined>;
  /** One page of the object (see `ContainerStore.scanObject`); optional. */
  scanObject?(epoch: bigint, oid: bigint, opts?: { after?: Uint8Array; maxDkeys?: number }): Promise<{ dkeys: ScannedDkey[]; done: boolean; last?: Uint8Array }>;
}

/**
 * The content of unit object `oid` visible at `epoch` on `store`, dkey by dkey in byte order (akeys
 * in byte order within each). Array akeys carry their visible extents, ascending and disjoint;
 * single values carry the epoch of the visible version (the stamp of the write, which for an EC
 * piece is also recorded in its header). Memory: one page of dkeys at a time.
 */
export async function* scanObject(store: ScanSource, epoch: bigint, oid: bigint, opts: { pageDkeys?: number } = {}): AsyncGenerator<ScannedDkey> {
  if (store.scanObject) {
    let after: Uint8Array | undefined;
    for (;;) {
      const page = await store.scanObject(epoch, oid, { after, maxDkeys: opts.pageDkeys ?? SCAN_PAGE_DKEYS });
      yield* page.dkeys;
      if (page.done || !page.last) return;
      after = page.last;
    }
  }
  for await (const dkey of store.listDkeys(epoch, oid)) {
    const akeys: ScannedAkey[] = [];
    for await (const akey of store.listAkeys(epoch, oid, dkey)) {
      const kind = await store.akeyKind(epoch, oid, dkey, akey);
      if (!kind) continue;
      const extents: ScannedAkey['extents'] = [];
      if (kind === 'array') for await (const x of store.listRecx(epoch, oid, dkey, akey)) extents.push({ index: x.index, count: x.count, epoch: x.epoch });
      // The fallback does not learn a single value's epoch without reading it: 0 = unknown.
      const newest = extents.reduce((e, x) => (x.epoch > e ? x.epoch : e), 0n);
      akeys.push({ akey, kind, epoch: newest, extents });
    }
    if (akeys.length) yield { dkey, akeys };
  }
}

/** `scanObject` gathered into an array (for objects whose key count is bounded by the caller). */
export async function scanObjectAll(store: ScanSource, epoch: bigint, oid: bigint): Promise<ScannedDkey[]> {
  const out: ScannedDkey[] = [];
  for await (const d of scanObject(store, epoch, oid)) out.push(d);
  return out;
}

/** The end (index + count) of an array akey's last visible extent, 0 when it has none. */
export function extentEnd(a: ScannedAkey): number {
  let end = 0;
  for (const x of a.extents) end = Math.max(end, x.index + x.count);
  return end;
}
