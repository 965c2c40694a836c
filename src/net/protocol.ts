/**
 * The protocol of connected pools, shared by clients (src/net/connected.ts) and engines
 * (src/engine): where things live in etcd, what an engine record and the pool metadata hold, the
 * names of the engine methods, and the limits both sides must agree on. Defined once, here; the
 * shard methods (`shard.*`) are described by src/net/shard-rpc.ts, the batch format by link.ts.
 *
 * etcd keys, below `/cairn/pools/<pool>/` — written on pool-map and membership changes only, never
 * per object or per commit:
 *   meta                 pool uuid, sizes, secret check
 *   maps                 { map, stable, resync }: serialised maps (magic, version, xxh64), base64
 *   engines/<rank>       { rank, address, targets, pid } under the engine's lease (written at start
 *                        and after a lost lease; space figures travel by RPC, `engine.info`)
 *   conts/<label>        container metadata (uuid, props, snapshots, lost objects)
 *   rebuild              rebuild / rebalance progress published by the engines' leader
 *   slots                counter handing each client its epoch slot
 *   leader               election of the engines' leader
 *
 * Commits never touch etcd: every write carries its transaction's participants and how many writes
 * its engine gets; a commit on one engine is decided by that engine alone, a commit across engines
 * by its participants (src/engine/txn.ts), and the client's notice of success rides on its later
 * requests.
 */
import { createHmac } from 'node:crypto';
import { PoolMap } from '../../placement/index.js';
import { MAX_BATCH } from '../../core/batcher.js';
import { badArg } from '../io/errors.js';
import type { PoolMaps } from '../pool/backend.js';

/** Longest pool name. */
export const MAX_POOL_NAME = 64;
/** How long an engine keeps a stripe lock of a client that vanished (the client asks for it, the engine defaults to it). */
export const LOCK_TTL_MS = 15_000;
/** How long an engine lets a lock request wait for a busy stripe lock before TX_RESTART. */
export const LOCK_WAIT_MS = 10_000;
/** Extra time a client gives a lock request beyond `LOCK_WAIT_MS` (network and queueing). */
export const LOCK_RPC_SLACK_MS = 5_000;
/** How far behind real time a connected watch freezes the container (commits slower than this recommit above it). */
export const WATCH_LAG_MS = 2000;
/** Most commit requests (or commit notifications) one batched call carries. */
export const TX_BATCH_MAX = MAX_BATCH;
/**
 * Most keys one `tx.validate` request checks: engines refuse more (`INVALID_ARGUMENT`), so a
 * client splits a transaction's reads on one engine into requests of at most this many keys.
 */
export const MAX_VALIDATE_KEYS = 4096;

/** Engine methods besides the shard methods. */
export const ENGINE_METHODS = {
  /** Many shard writes (and read validations) in one request (`{ items }`, see link.ts). */
  batch: 'engine.batch',
  /** Client: commits that succeeded on every participant (`{ commits: [[cont, epoch]] }`). */
  txNotice: 'tx.notice',
  /** Participant to coordinator: settle an overdue commit (`{ cont, epoch, ranks }` -> `{ decision }`). */
  txResolve: 'tx.resolve',
  /** Resolver to participant: its state of a commit, sealing an incomplete one (`{ cont, epoch }` -> `{ state }`). */
  txSeal: 'tx.seal',
  /** Resolver to participant: apply one decision to up to TX_BATCH_MAX commits (`{ items: [[cont, epoch]], decision }`). */
  txDecide: 'tx.decide',
  /** Client: check keys a transaction only read (`{ cont, txRead, epoch, keys }`): TX_RESTART if written since. */
  txValidate: 'tx.validate',
  /** Take a stripe lock (`{ cont, key, owner, ttlMs }`). */
  lockAcquire: 'lock.acquire',
  /** Release a stripe lock (`{ cont, key, owner }`). */
  lockRelease: 'lock.release',
  /** Freeze a container up to an epoch and report its decided commits (`{ cont, upTo, after }`). */
  watchFreeze: 'watch.freeze',
  /** Refuse requests planned with maps older than `version`; wait for those in flight. */
  syncMap: 'engine.syncMap',
  /** Drop everything a target holds (before reintegration). */
  wipeTarget: 'engine.wipeTarget',
  /** Remove a container's store from a target. */
  removeStore: 'engine.removeStore',
  /** Rank, targets, map version, pool and the space each target uses. */
  info: 'engine.info',
  /**
   * Where whole-range array reads of a client on this host lie in the engine's data files
   * (`{ items: [fetchArray header] }` -> `{ items: [located reply header | { again: true }] }`):
   * the reads one client sends to one engine in one turn, answered in one reply (link.ts).
   */
  locate: 'engine.locate',
} as const;

/**
 * What a write of a commit tells its engine about the commit (`tx` in the write's header): the
 * participating ranks (sorted) and how many shard writes this engine gets. An engine with all of
 * them holds its part of the commit; a commit whose every participant holds its part is decided.
 */
export interface TxDescriptor { ranks: number[]; n: number }

/** Most digits of a decimal epoch on the wire (headers, commit notices). */
export const MAX_EPOCH_DIGITS = 30;

/**
 * Whether `s` is an epoch as the wire carries it: 1..MAX_EPOCH_DIGITS decimal digits (what `BigInt`
 * may parse). A loop, not a regular expression: engines check one per shard write and notice.
 */
export function isEpochText(s: string): boolean {
  return isDecimalText(s, MAX_EPOCH_DIGITS);
}

/**
 * Whether `s` is 1..`maxDigits` decimal digits: the one check of the decimal texts requests and
 * logs carry (epochs, object ids, units). A loop, not a regular expression (per shard write).
 */
export function isDecimalText(s: string, maxDigits: number): boolean {
  const n = s.length;
  if (n === 0 || n > maxDigits) return false;
  for (let i = 0; i < n; i++) { const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}

/** The coordinator of a commit across `ranks` (sorted) at `epoch`: it settles the commit when a participant asks. */
export function coordinatorOf(ranks: readonly number[], epoch: bigint): number {
  return ranks[Number(epoch % BigInt(ranks.length))]!;
}

/** The etcd key prefix of pool `name`. */
export function poolPrefix(name: string): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw badArg(`pool name must be 1..${MAX_POOL_NAME} characters of [A-Za-z0-9._-], got ${JSON.stringify(name)}`);
  return `/cairn/pools/${name}/`;
}

/** Pool metadata as stored in etcd. */
export interface EtcdPoolMeta { uuid: string; createdAt: string; scmBytes: number; dataBytes: number; secretCheck: string }

/** A registered engine. */
export interface EngineRecord {
  rank: number; address: string; targets: number[]; pid: number;
  /** Bytes allocated by each target (same order as `targets`) when the record was written. */
  spaceUsed?: number[];
  /** The engine's Unix socket for processes on its host (local-socket.ts); absent with TLS or `CAIRN_RPC_LOCAL=0`. */
  local?: { boot: string; path: string };
}

/** Proof that a process knows the pool secret, without revealing it (stored in `meta`). */
export function secretCheck(secret: string, poolUuid: string): string {
  return createHmac('sha256', secret).update(`cairn-pool-check:${poolUuid}`).digest('hex');
}

/** Encode maps for the `maps` key. */
export function encodeMaps(m: PoolMaps): string {
  return JSON.stringify({ map: Buffer.from(m.map.serialize()).toString('base64'), stable: Buffer.from(m.stable.serialize()).toString('base64'), resync: m.resync });
}

/** Decode the `maps` key (checksums verified). */
export function decodeMaps(raw: Buffer | string): PoolMaps {
  const j = JSON.parse(raw.toString()) as { map: string; stable: string; resync: number[] };
  return {
    map: PoolMap.deserialize(new Uint8Array(Buffer.from(j.map, 'base64'))),
    stable: PoolMap.deserialize(new Uint8Array(Buffer.from(j.stable, 'base64'))),
    resync: Array.isArray(j.resync) ? j.resync : [],
  };
}
