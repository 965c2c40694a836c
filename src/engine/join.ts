/**
 * How an engine joins its pool in etcd: the first engine creates the pool's metadata (and every
 * later one proves it has the same secret), a new engine extends the pool map by one node/rank
 * holding its targets (straight into service while the pool holds no containers), and a restarted
 * engine finds its rank in `engine.json` in its first target directory.
 */
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { PoolMap } from '../../placement/index.js';
import { CairnError } from '../../core/errors.js';
import { swallow } from '../../core/log.js';
import { badArg } from '../io/errors.js';
import type { Etcd } from '../net/etcd.js';
import { secretCheck, encodeMaps, decodeMaps, type EtcdPoolMeta } from '../net/protocol.js';
import type { PoolMaps } from '../pool/backend.js';
import type { EngineOptions } from './options.js';

/** Attempts of a compare-and-set on the pool map (joining). */
const JOIN_ATTEMPTS = 64;
const IDENTITY_FILE = 'engine.json';

/** Create the pool's metadata if this is its first engine, else check the secret against it. */
export async function ensurePoolMeta(etcd: Etcd, prefix: string, secret: string, opts: EngineOptions): Promise<EtcdPoolMeta> {
  const uuid = randomUUID();
  const fresh: EtcdPoolMeta = {
    uuid, createdAt: new Date().toISOString(),
    scmBytes: opts.scmBytes ?? 64 * 1024 * 1024, dataBytes: opts.dataBytes ?? 1024 * 1024 * 1024,
    secretCheck: secretCheck(secret, uuid),
  };
  await etcd.createIfAbsent(prefix + 'meta', JSON.stringify(fresh));
  const meta = await etcd.getJson<EtcdPoolMeta>(prefix + 'meta');
  if (!meta) throw new CairnError('ETCD_ERROR', 'pool metadata vanished from etcd');
  if (meta.secretCheck !== secretCheck(secret, meta.uuid)) throw new CairnError('AUTH_FAILED', `this engine's secret is not pool ${opts.pool}'s secret`);
  return meta;
}

/**
 * The pool-map change a start made by joining as a new rank, for `leavePool` when that start
 * fails: the `maps` key's modRevision after the join, and the value it replaced (undefined: the
 * start created the map, as the pool's first engine).
 */
export interface JoinedMap { revision: string; previous: Buffer | undefined }

/**
 * Find this engine's rank (restart) or add it to the pool map (first start). `added` is set when
 * this start added the rank while the pool held no containers (its targets joined in service at
 * once): the one kind of join `leavePool` can undo.
 */
export async function joinPool(etcd: Etcd, prefix: string, opts: EngineOptions & { targets: string[] }): Promise<{ rank: number; targets: number[]; added?: JoinedMap }> {
  const idPath = join(opts.targets[0]!, IDENTITY_FILE);
  if (existsSync(idPath)) {
    const id = JSON.parse(readFileSync(idPath, 'utf8')) as { pool: string; rank: number; targets: number[] };
    if (id.pool !== opts.pool) throw badArg(`${opts.targets[0]} belongs to pool ${id.pool}, not ${opts.pool}`);
    if (id.targets.length !== opts.targets.length) throw badArg(`this engine served ${id.targets.length} targets; start it with the same --targets`);
    return { rank: id.rank, targets: id.targets };
  }
  const n = opts.targets.length;
  for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
    const kv = await etcd.get(prefix + 'maps');
    let maps: PoolMaps;
    let ids: number[];
    let empty = true; // (a first engine's pool holds no containers)
    if (!kv) {
      const map = PoolMap.create({ nodes: 1, ranksPerNode: 1, targetsPerRank: n });
      maps = { map, stable: map.clone(), resync: [] };
      ids = map.targets.map((t) => t.id);
    } else {
      maps = decodeMaps(kv.value);
      const settled = maps.map.version === maps.stable.version && maps.resync.length === 0;
      ids = maps.map.extend({ nodes: 1, ranksPerNode: 1, targetsPerRank: n });
      // A settled pool without containers holds no data: new targets join in service at once.
      empty = settled && (await etcd.getPrefix(prefix + 'conts/')).length === 0;
      if (empty) {
        for (const id of ids) maps.map.markUpIn(id);
        maps.stable = maps.map.clone();
      }
    }
    const revision = await etcd.compareAndPutRevision(prefix + 'maps', encodeMaps(maps), kv?.modRevision ?? '0');
    if (revision !== undefined) {
      const rank = maps.map.targets[ids[0]!]!.rank;
      const added = empty ? { revision, previous: kv?.value } : undefined;
      try {
        await writeFile(idPath, JSON.stringify({ pool: opts.pool, rank, targets: ids }));
      } catch (err) {
        // without engine.json a retry would join as yet another rank: this one leaves again
        if (added) await leavePool(etcd, prefix, added).catch(swallow('join.leave-after-identity-not-written'));
        throw err;
      }
      return { rank, targets: ids, ...(added ? { added } : {}) };
    }
  }
  throw new CairnError('ETCD_CONFLICT', 'could not join the pool map: too many concurrent changes');
}

/**
 * Undo the join of a start that failed (`joinPool`'s `added`), so that a retry with the same
 * options joins afresh and the map names no rank that never served: the map this start replaced
 * is written back (under a version above every version published since, as engines and clients
 * adopt only newer maps) or, when the start created the map, the map is deleted. Only in one etcd
 * transaction that finds the map unchanged since the join and no container in the pool: then no
 * object was ever placed on the rank's targets. Otherwise the rank stays in the map: once a
 * container exists, or another change (a join, an exclusion, a rebalance) built on the map,
 * objects may be placed on its targets, and taking them out of the map would move those objects
 * where their shards are not; it is then handled as any engine that stopped. Resolves to whether
 * the rank was removed.
 */
export async function leavePool(etcd: Etcd, prefix: string, added: JoinedMap): Promise<boolean> {
  const key = prefix + 'maps';
  if (added.previous === undefined) return etcd.compareAndSetIfNone(key, undefined, added.revision, prefix + 'conts/');
  const kv = await etcd.get(key);
  if (!kv || kv.modRevision !== added.revision) return false;
  const joined = decodeMaps(kv.value), before = decodeMaps(added.previous);
  const version = Math.max(joined.map.version, joined.stable.version) + 1;
  const again = (m: PoolMap) => PoolMap.fromJSON({ ...m.toJSON(), version });
  const restored: PoolMaps = { map: again(before.map), stable: again(before.stable), resync: before.resync };
  return etcd.compareAndSetIfNone(key, encodeMaps(restored), added.revision, prefix + 'conts/');
}
