/**
 * A fake target store for the located-read tests (direct-read, locate-batch, read-guess): whole
 * values lying in a real data file `<dir>/vos.data`, each at its own 4 KiB-aligned place.
 * `fetchArrayInto` copies from the values (the engine's own read), `locateArrayExtent` names a
 * whole value's place, length and checksum (xxh64, CSUM_SEED). What the tests vary:
 * - `setLie(f)`: what `locateArrayExtent` names for value i (a wrong checksum, another place);
 * - `unlocated`: values the store does not locate (answered `again` / read by the engine);
 * - `rewrite(i, v, inPlace)`: value i becomes v, written at a new place (the old bytes stay in the
 *   file) or over the old ones.
 */
import { join } from 'node:path';
import { mkdirSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from '../../src/vos/constants.js';
import type { ShardStore, Recx } from '../../src/io/shard-store.js';
import { RpcServer, RpcClient, type RpcReply } from '../../src/net/rpc.js';
import { RemoteShardStore, locateFetch, serveFetchInto } from '../../src/net/shard-rpc.js';
import { EngineLink, decodeLocate, encodeLocateReply } from '../../src/net/link.js';
import { closeDirectFiles } from '../../src/net/direct-read.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';

/** Where a store says a whole value lies. */
export interface Located { position: number; length: number; csum: bigint }

/** The store over `values` (akey `a<i>` names value i; the array is updated by `rewrite`). */
export function locatedStore(dir: string, values: Uint8Array[]) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'vos.data');
  const fd = openSync(path, 'w');
  const places: number[] = [];
  const unlocated = new Set<number>();
  let end = 4096;
  const place = (v: Uint8Array) => { const at = end; end += Math.ceil(v.length / 4096) * 4096 + 4096; return at; };
  for (const v of values) { const at = place(v); places.push(at); writeSync(fd, v, 0, v.length, at); }
  closeSync(fd);
  let lie: (i: number, x: Located) => Located = (_, x) => x;
  const akeyIndex = (akey: Uint8Array) => Number(new TextDecoder().decode(akey).slice(1));
  const store = {
    queryMaxEpoch: () => 7n,
    async fetchArrayInto(_e: bigint, _o: bigint, _d: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]) {
      const v = values[akeyIndex(akey)]!.subarray(recx.index, recx.index + recx.count);
      let p = 0;
      for (const b of into) { b.set(v.subarray(p, p + b.length)); p += b.length; }
    },
    locateArrayExtent(_e: bigint, _o: bigint, _d: Uint8Array, akey: Uint8Array, recx: Recx): Located | null {
      const i = akeyIndex(akey), v = values[i]!;
      if (unlocated.has(i) || recx.index !== 0 || recx.count !== v.length) return null; // (only whole extents)
      return lie(i, { position: places[i]!, length: v.length, csum: xxh64(v, CSUM_SEED) });
    },
  };
  return {
    path, store: store as unknown as ShardStore, unlocated,
    setLie(f: (i: number, x: Located) => Located): void { lie = f; },
    rewrite(i: number, v: Uint8Array, inPlace: boolean): void {
      if (!inPlace) places[i] = place(v);
      const w = openSync(path, 'r+');
      try { writeSync(w, v, 0, v.length, places[i]!); } finally { closeSync(w); }
      values[i] = v;
    },
  };
}

/**
 * A fake engine serving `f` over a local connection, and a client's `RemoteShardStore` of target
 * 0 of it: `engine.locate` answers each item through `locateFetch` (`{ again: true }` when not
 * located; an unknown method when `knowsLocate` is false), any other read goes through
 * `serveFetchInto`. `seen` hears each request (its method, header and item count) before it is
 * answered. `close` closes both sides and removes `dir`.
 */
export async function locatedEngine(f: ReturnType<typeof locatedStore>, dir: string, opts: { knowsLocate?: boolean; seen?: (method: string, header: Record<string, unknown>, items: number) => void } = {}) {
  const secret = 's3cret-s3cret';
  const server = await RpcServer.listen({
    secret, localPath: join(dir, 'engine.sock'),
    handler: async (req): Promise<RpcReply> => {
      if (req.method === ENGINE_METHODS.locate) {
        const items = decodeLocate(req.payload);
        opts.seen?.(req.method, req.header, items.length);
        if (opts.knowsLocate === false) throw new Error(`unknown method ${req.method}`);
        return encodeLocateReply(items.map((h) => locateFetch(f.store, h, f.path)));
      }
      opts.seen?.(req.method, req.header, 1);
      const r = serveFetchInto(f.store, req.header, f.path);
      if (r === undefined) throw new Error(`unexpected ${req.method}`);
      return r;
    },
  });
  const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret, localPath: server.localPath!, transport: 'raw' });
  const link = new EngineLink(() => client, 'test');
  const remote = new RemoteShardStore(link, () => ({ target: 0, cont: 'c-uuid', mapVersion: 1 }));
  return { remote, async close() { link.close(); await client.close(); await server.close(); closeDirectFiles(); rmSync(dir, { recursive: true, force: true }); } };
}
