/**
 * A connected pool, client side: the pool map and pool and container metadata live in etcd;
 * targets are served by `cairn engine` processes reached over authenticated HTTP/2. Clients
 * compute layouts locally from the map they watch, send the map version with every request, and
 * talk to each engine through one `EngineLink` (writes of one event-loop turn batched into one
 * request, commit notices riding on later requests). A commit costs one round trip per engine:
 * each write carries its commit's participants, and the commit is decided when every write
 * succeeded (src/engine/txn.ts). Nothing is written to etcd per object or per commit. The etcd
 * layout and the limits shared with the engines are in protocol.ts.
 *
 * Loading this module installs `connectPool` as the implementation of `Pool.connect` (the pool
 * layer below never imports it); the package entry (src/index.ts) loads it.
 */
import { randomUUID } from 'node:crypto';
import { CairnError, assert, throwIfAborted } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { swallow, swallowed } from '../../core/log.js';
import { ObjectError, badArg } from '../io/errors.js';
import { unitOid, type ShardStore } from '../io/shard-store.js';
import { groupShards } from '../io/io.js';
import { dkeyGroup } from '../../placement/index.js';
import type { ContainerMeta } from '../container/container.js';
import type { ContainerStorage, CommitInfo, CommitEvent, StorageRecovery } from '../container/storage.js';
import { MAX_CLOCK_SLOTS, epochAtMs } from '../container/epoch-clock.js';
import { Pool, installPoolConnector } from '../pool/pool.js';
import type { ConnectOptions, PoolBackend, PoolMaps, PoolMeta, RebuildStatus } from '../pool/backend.js';
import { Etcd } from './etcd.js';
import { RpcClient, type RpcCaller } from './rpc.js';
import { RemoteShardStore, epochText, freshWindow } from './shard-rpc.js';
import { EngineLink } from './link.js';
import { localPathOf } from './local-socket.js';
import {
  ENGINE_METHODS, LOCK_RPC_SLACK_MS, LOCK_TTL_MS, LOCK_WAIT_MS, MAX_VALIDATE_KEYS, WATCH_LAG_MS,
  decodeMaps, encodeMaps, poolPrefix, secretCheck, type EngineRecord, type EtcdPoolMeta, type TxDescriptor,
} from './protocol.js';

export type { ConnectOptions } from '../pool/backend.js';

/** Most engines (ranks) one connected pool tracks. */
export const MAX_ENGINES = 1024;
/** How often a connected watch asks the engines. */
const WATCH_POLL_MS = 250;
/** Least interval between two rebuild progress records in etcd. */
const REBUILD_PUBLISH_MS = 250;
/** Space figures of the engines are asked for again when older than this (by `pool.query()`). */
const SPACE_REFRESH_MS = 2000;

/** Most skew `CAIRN_CLOCK_SKEW_MS` may name (a read "now"'s uncertainty window is this much wider). */
export const MAX_CLOCK_SKEW_MS = 1000;

/**
 * Most the clocks of a pool's clients may differ, in milliseconds (`CAIRN_CLOCK_SKEW_MS`, read at
 * connect; default 0: clients on one host share its clock). A read "now" asks engines about
 * writes up to one millisecond plus this much above its epoch (`freshWindow`, shard-rpc.ts): a
 * write there may have been acknowledged before the read began, and the read is made again above it.
 * INVALID_ARGUMENT for anything but an integer in 0..MAX_CLOCK_SKEW_MS.
 */
export function clockSkewFromEnv(v: string | undefined): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > MAX_CLOCK_SKEW_MS) throw badArg(`CAIRN_CLOCK_SKEW_MS must be an integer number of milliseconds in 0..${MAX_CLOCK_SKEW_MS}, got ${JSON.stringify(v)}`);
  return n;
}

/** A commit being applied: its participants and how many shard writes each gets. */
export interface CommitPlan {
  /** Ascending (shared by commits of one shape: never changed). */
  readonly ranks: number[];
  /** What each participant's writes carry (`TxDescriptor`, by the index of its rank in `ranks`), made once per commit: its writes share it. */
  descriptors: TxDescriptor[];
  validation?: Promise<unknown>;
}

/** Scratch of `intent` (ranks ascending and their counts of writes; a commit has at most one entry per engine). */
const SCRATCH_RANKS: number[] = new Array<number>(MAX_ENGINES + 1).fill(0);
const SCRATCH_COUNTS: number[] = new Array<number>(MAX_ENGINES + 1).fill(0);
/** Most commit shapes `commitShape` keeps (all forgotten when full: a pool of E engines has a few shapes per object class). */
export const MAX_COMMIT_SHAPES = 4096;
/** Plans of commits by their shape (`shapeKey`): shared, never changed (a commit that validates keys gets its own copy). */
const shapes = new Map<number, CommitPlan>();

/**
 * A number naming the participants `ranks[0..k)` and their counts (up to 3 participants of rank
 * < 1024 with up to 127 writes each: 17 bits each), or -1 for any other commit (not kept).
 */
function shapeKey(ranks: readonly number[], counts: readonly number[], k: number): number {
  if (k > 3) return -1;
  let key = k;
  for (let i = 0; i < k; i++) {
    const r = ranks[i]!, c = counts[i]!;
    if (r >= 1024 || c >= 128) return -1;
    key = key * 131072 + r * 128 + c;
  }
  return key;
}

/** The plan of a commit with participants `ranks[0..k)` (ascending) and their counts of writes: made once per shape (its arrays and descriptors, per put ~600 B, heap sampling). */
export function commitShape(ranks: readonly number[], counts: readonly number[], k: number): CommitPlan {
  const key = shapeKey(ranks, counts, k);
  const known = key < 0 ? undefined : shapes.get(key);
  if (known !== undefined) return known;
  const rs = ranks.slice(0, k);
  const descriptors: TxDescriptor[] = [];
  for (let i = 0; i < k; i++) descriptors.push({ ranks: rs, n: counts[i]! });
  const plan: CommitPlan = { ranks: rs, descriptors };
  if (key >= 0) {
    if (shapes.size >= MAX_COMMIT_SHAPES) shapes.clear();
    shapes.set(key, plan);
  }
  return plan;
}

/** A client's view of a connected pool. */
export class ConnectedBackend implements PoolBackend {
  readonly meta: PoolMeta;
  readonly runsMigrations: boolean;
  clockSlot: number = 0;
  private mapsRev = '0';
  private mapsVersion = -1;
  private maps?: PoolMaps;
  private engines = new Map<number, EngineRecord>();
  private clients = new Map<string, RpcClient>();
  private links = new Map<number, EngineLink>();
  private storages = new Map<string, EngineContainerStorage>();
  /** Commits being applied, by container and epoch. */
  readonly plans = new Map<string, Map<bigint, CommitPlan>>();
  /**
   * The top of the uncertainty window each write of a commit carries (`fresh`, decimal), by
   * container and epoch: commits that are not a transaction's (`CommitInfo.firstEpoch`).
   */
  readonly freshTops = new Map<string, Map<bigint, string>>();
  /** Bytes used per target as the engines last reported, and when they were asked. */
  private space = new Map<number, number>();
  private spaceAsked = 0;
  /** Identifies this client's locks on engines. */
  private readonly owner = randomUUID();
  private mapListeners: Array<(m: PoolMaps) => void> = [];
  private stops: Array<() => Promise<void>> = [];
  private rebuild?: RebuildStatus;
  private lastPublish = 0;
  private publishTimer?: NodeJS.Timeout;
  private closed = false;
  /** The clock this client's epochs follow (the pool's: `ConnectOptions.now`, else the wall clock). */
  readonly now: () => number;
  /** The clock skew allowed between clients (`clockSkewFromEnv`): widens a read "now"'s uncertainty window. */
  private readonly skewMs: number;
  /** ε of a read or write "now", in epochs (`freshWindow` of the allowed clock skew). */
  readonly freshWindow: bigint;

  private constructor(readonly etcd: Etcd, readonly prefix: string, readonly poolName: string, private readonly secret: string, meta: EtcdPoolMeta, private readonly opts: ConnectOptions) {
    this.meta = { uuid: meta.uuid, createdAt: meta.createdAt, scmBytes: meta.scmBytes, dataBytes: meta.dataBytes, containers: [] };
    this.runsMigrations = opts.runsMigrations ?? false;
    this.now = opts.now ?? Date.now;
    this.skewMs = clockSkewFromEnv(process.env.CAIRN_CLOCK_SKEW_MS);
    this.freshWindow = freshWindow(this.skewMs);
  }

  get location(): string { return `${[this.opts.etcd].flat().join(',')}#${this.poolName}`; }

  /** Connect: read the pool from etcd, check the secret, follow maps, engines and containers. */
  static async connect(opts: ConnectOptions): Promise<ConnectedBackend> {
    if (!opts || (typeof opts.etcd !== 'string' && !Array.isArray(opts.etcd))) throw badArg('connect needs { etcd: URL, pool: NAME }');
    const prefix = poolPrefix(opts.pool);
    const secret = opts.secret ?? process.env.CAIRN_POOL_SECRET;
    if (!secret) throw new CairnError('AUTH_FAILED', 'no pool secret: pass { secret } or set CAIRN_POOL_SECRET');
    const etcd = await Etcd.connect(opts.etcd);
    try {
      const meta = await etcd.getJson<EtcdPoolMeta>(prefix + 'meta');
      if (!meta || !(await etcd.get(prefix + 'maps'))) throw new ObjectError('NOT_FOUND', `no pool named ${opts.pool} in etcd (start its engines first)`, { pool: opts.pool });
      if (meta.secretCheck !== secretCheck(secret, meta.uuid)) throw new CairnError('AUTH_FAILED', `wrong secret for pool ${opts.pool}`, { pool: opts.pool });
      const b = new ConnectedBackend(etcd, prefix, opts.pool, secret, meta, opts);
      await b.start();
      return b;
    } catch (err) {
      await etcd.close().catch(swallow('connected.etcd-close-after-failed-connect'));
      throw err;
    }
  }

  private async start(): Promise<void> {
    this.clockSlot = (await this.etcd.increment(this.prefix + 'slots')) % MAX_CLOCK_SLOTS;
    // Watches first, then the initial reads, so no change falls in between.
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'engines/', (ev) => this.onEngine(ev.key, ev.value)));
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'conts/', (ev) => this.onContainer(ev.key, ev.value, ev.modRevision)));
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'maps', (ev) => { if (ev.key === this.prefix + 'maps' && ev.value) void this.loadMaps().catch(swallow('connected.reload-maps-on-watch')); })); // the next change or stale-map retry reloads
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'rebuild', (ev) => { if (ev.value) this.rebuild = JSON.parse(ev.value.toString()) as RebuildStatus; }));
    for (const kv of await this.etcd.getPrefix(this.prefix + 'engines/')) this.onEngine(kv.key, kv.value);
    for (const kv of await this.etcd.getPrefix(this.prefix + 'conts/')) this.onContainer(kv.key, kv.value, kv.modRevision);
    const rb = await this.etcd.getJson<RebuildStatus>(this.prefix + 'rebuild');
    if (rb) this.rebuild = rb;
  }

  private onEngine(key: string, value: Buffer | undefined): void {
    const rank = Number(key.slice((this.prefix + 'engines/').length));
    if (!Number.isInteger(rank)) return;
    if (!value) { this.engines.delete(rank); return; }
    try {
      const rec = JSON.parse(value.toString()) as EngineRecord;
      if (this.engines.size >= MAX_ENGINES && !this.engines.has(rank)) return;
      const old = this.engines.get(rank);
      this.engines.set(rank, rec);
      // A restarted engine listens elsewhere: drop the client of its old address.
      if (old && old.address !== rec.address) this.dropClient(old.address);
    } catch (err) { swallowed('connected.malformed-engine-record-engine-rewrites-it', err); }
  }

  private dropClient(address: string): void {
    if ([...this.engines.values()].some((e) => e.address === address)) return;
    const c = this.clients.get(address);
    this.clients.delete(address);
    void c?.close().catch(swallow('connected.close-client-of-old-address'));
  }

  /**
   * A container's record as etcd holds it at revision `rev` (a watch event, or the first listing).
   * Events can arrive after a newer record this client wrote or read itself: each storage adopts
   * a record only if it is newer than the one it holds (`metaChanged`).
   */
  private onContainer(key: string, value: Buffer | undefined, rev: string | undefined): void {
    const label = key.slice((this.prefix + 'conts/').length);
    const i = this.meta.containers.findIndex((c) => c.label === label);
    if (!value) { if (i >= 0) this.meta.containers.splice(i, 1); return; }
    try {
      const meta = JSON.parse(value.toString()) as ContainerMeta;
      if (i < 0) this.meta.containers.push({ label, uuid: meta.uuid });
      this.storages.get(meta.uuid)?.metaChanged(meta, rev !== undefined && /^\d+$/.test(rev) ? BigInt(rev) : 0n);
    } catch (err) { swallowed('connected.malformed-container-record', err); }
  }

  /** The etcd revision of each record `containerMeta` returned (its storage starts from it). */
  readonly metaRevs = new WeakMap<ContainerMeta, bigint>();

  /** Engines registered now (rank -> record). */
  registeredEngines(): ReadonlyMap<number, EngineRecord> { return this.engines; }

  async loadMaps(): Promise<PoolMaps> {
    const kv = await this.etcd.get(this.prefix + 'maps');
    if (!kv) throw new ObjectError('NOT_FOUND', `pool ${this.poolName} has no map in etcd`);
    const maps = decodeMaps(kv.value);
    if (BigInt(kv.modRevision) >= BigInt(this.mapsRev)) {
      this.mapsRev = kv.modRevision;
      this.mapsVersion = maps.map.version;
      this.maps = maps;
      for (const l of this.mapListeners) l({ map: maps.map.clone(), stable: maps.stable.clone(), resync: [...maps.resync] });
    }
    return { map: maps.map.clone(), stable: maps.stable.clone(), resync: [...maps.resync] };
  }

  async saveMaps(maps: PoolMaps, expectVersion: number): Promise<boolean> {
    if (this.mapsVersion !== expectVersion) return false;
    const ok = await this.etcd.compareAndPut(this.prefix + 'maps', encodeMaps(maps), this.mapsRev);
    if (ok) await this.loadMaps();
    return ok;
  }

  onMaps(cb: (m: PoolMaps) => void): void { this.mapListeners.push(cb); }

  async addContainer(meta: ContainerMeta): Promise<void> {
    if (!(await this.etcd.createIfAbsent(this.prefix + 'conts/' + meta.label, JSON.stringify(meta)))) {
      throw new ObjectError('EXISTS', `container ${meta.label} already exists`, { label: meta.label });
    }
    if (!this.meta.containers.some((c) => c.label === meta.label)) this.meta.containers.push({ label: meta.label, uuid: meta.uuid });
  }

  async removeContainer(label: string, uuid: string): Promise<void> {
    await this.etcd.delete(this.prefix + 'conts/' + label);
    this.meta.containers = this.meta.containers.filter((c) => c.uuid !== uuid);
  }

  async containerMeta(uuid: string, label: string): Promise<ContainerMeta> {
    const r = await this.readContainerRecord(label);
    if (r === undefined || r.meta.uuid !== uuid) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    this.metaRevs.set(r.meta, r.rev);
    return r.meta;
  }

  /** Container `label`'s record in etcd now, with its revision; undefined when there is none (ETCD_ERROR when it is not JSON). */
  async readContainerRecord(label: string): Promise<{ meta: ContainerMeta; rev: bigint } | undefined> {
    const kv = await this.etcd.get(this.prefix + 'conts/' + label);
    if (!kv) return undefined;
    try {
      return { meta: JSON.parse(kv.value.toString('utf8')) as ContainerMeta, rev: BigInt(kv.modRevision) };
    } catch { throw new CairnError('ETCD_ERROR', `etcd key ${this.prefix}conts/${label} does not hold JSON`, { label }); }
  }

  async containerStorage(meta: ContainerMeta): Promise<ContainerStorage> {
    const s = new EngineContainerStorage(this, meta);
    this.storages.set(meta.uuid, s);
    return s;
  }

  /**
   * The line to the engine serving `rank`: batches writes, carries commit notices, and resolves
   * the engine's address on every request (engines restart on new ports).
   */
  link(rank: number): EngineLink {
    let l = this.links.get(rank);
    if (!l) {
      l = new EngineLink(() => this.clientForRank(rank), `rank ${rank}`);
      this.links.set(rank, l);
    }
    return l;
  }

  /** The RPC caller of the engine serving `rank` (its link). */
  rankClient(rank: number): RpcCaller { return this.link(rank); }

  private clientForRank(rank: number): RpcClient {
    const rec = this.engines.get(rank);
    if (!rec) throw new CairnError('NET_UNREACHABLE', `no engine is serving rank ${rank} of pool ${this.poolName}`, { rank });
    let c = this.clients.get(rec.address);
    if (!c) {
      const localPath = this.opts.tls ? undefined : localPathOf(rec);
      c = new RpcClient({ address: rec.address, secret: this.secret, timeoutMs: this.opts.timeoutMs, ...(this.opts.tls ? { tls: this.opts.tls } : {}), ...(localPath ? { localPath } : {}) });
      this.clients.set(rec.address, c);
    }
    return c;
  }

  /**
   * Lock a dkey of an EC group across clients, on the engine serving the group's first readable
   * shard (every client with the same map picks the same one); resolves with the release.
   */
  async lockDkey(cuuid: string, key: string, targets: number[], available: (t: number) => boolean): Promise<() => Promise<void>> {
    const t = targets.find(available) ?? targets[0]!;
    const client = this.rankClient(this.rankOf(t));
    const header = { cont: cuuid, key, owner: this.owner, ttlMs: LOCK_TTL_MS };
    await client.call(ENGINE_METHODS.lockAcquire, header, undefined, { timeoutMs: LOCK_WAIT_MS + LOCK_RPC_SLACK_MS });
    return async () => { await client.call(ENGINE_METHODS.lockRelease, header).catch(swallow('connected.lock-release-lapses-after-ttl')); };
  }

  /** The ranks a freeze asks (snapshots, watches): every registered engine and every rank with a target in service. */
  private freezeRanks(): number[] {
    return [...new Set([...this.engines.keys(), ...(this.maps?.map.targets.filter((t) => inService(t.state)).map((t) => t.rank) ?? [])])];
  }

  /** Whether `rank` has a target in service (an engine that does not answer then holds a freeze back). */
  private rankInService(rank: number): boolean {
    return this.maps?.map.targets.some((t) => t.rank === rank && inService(t.state)) ?? false;
  }

  /**
   * The epoch a snapshot of container `cuuid` may take, at or above `proposed`: at or above every
   * write the engines hold for it (a commit another client acknowledged a moment ago may carry a
   * higher epoch than this client's clock: its clock slot sits in the low bits), with every engine
   * frozen there (later writes at or below it recommit above; prepared ones are waited for), so
   * the snapshot neither misses an earlier commit nor takes in a later one. Two rounds: each engine
   * raises `proposed` to what it holds, then those below the highest are frozen at it. An engine
   * in service that does not answer fails the snapshot (its commits are not known).
   */
  async snapshotEpoch(cuuid: string, proposed: bigint): Promise<bigint> {
    const ranks = this.freezeRanks();
    const freeze = async (upTo: bigint, raise: boolean): Promise<bigint> => {
      let top = upTo;
      await Promise.all(ranks.map(async (rank) => {
        try {
          const r = await this.rankClient(rank).call(ENGINE_METHODS.watchFreeze, { cont: cuuid, upTo: upTo.toString(), after: upTo.toString(), ...(raise ? { raise: true } : {}) });
          const at = typeof r.header.upTo === 'string' && /^\d+$/.test(r.header.upTo) ? BigInt(r.header.upTo) : upTo;
          if (at > top) top = at;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if ((code !== 'NET_UNREACHABLE' && code !== 'NET_TIMEOUT') || this.rankInService(rank)) throw err;
          swallowed('connected.snapshot-skips-engine-out-of-service', err);
        }
      }));
      return top;
    };
    const top = await freeze(proposed, true);
    if (top > proposed) await freeze(top, false);
    return top;
  }

  /**
   * Follow the commits of every client in epoch order: every WATCH_LAG_MS, freeze the container on
   * every engine up to "now - lag" (engines refuse later writes at or below it and wait for its
   * prepared writes), merge the commits they report, and yield those above `from`. Events lag
   * real time by about WATCH_LAG_MS; each one's epoch reads as a consistent, final snapshot.
   * An engine that does not answer while its targets are in service holds the watch back (it may
   * hold commits nobody else took part in; it reports them from its log once restarted); one out
   * of service is skipped (what it held is rebuilt elsewhere).
   */
  async *followCommits(cuuid: string, from: bigint, signal?: AbortSignal): AsyncGenerator<{ epoch: bigint; objects: bigint[] }> {
    // (each request names this follower: engines keep aggregation at or below its cursor until it
    // asks again, stops or lapses, src/engine/watch-holds.ts; asked again only once the consumer
    // took every event of the last answer)
    const follower = randomUUID().replaceAll('-', '');
    try {
      yield* this.followFrom(cuuid, from, follower, signal);
    } finally {
      if (!this.closed) {
        for (const rank of this.freezeRanks()) {
          void this.rankClient(rank).call(ENGINE_METHODS.watchFreeze, { cont: cuuid, follower, release: true })
            .catch((err: unknown) => swallowed('connected.watch-release-best-effort-engine-lapses-it', err));
        }
      }
    }
  }

  /** `followCommits` as follower `follower`. */
  private async *followFrom(cuuid: string, from: bigint, follower: string, signal?: AbortSignal): AsyncGenerator<{ epoch: bigint; objects: bigint[] }> {
    let cursor = from;
    while (!this.closed) {
      throwIfAborted(signal);
      const upTo = epochAtMs(Date.now() - WATCH_LAG_MS);
      if (upTo > cursor) {
        const merged = new Map<bigint, Set<string>>();
        let complete = true;
        const ranks = this.freezeRanks();
        await Promise.all([...ranks].map(async (rank) => {
          let r;
          try {
            r = await this.rankClient(rank).call(ENGINE_METHODS.watchFreeze, { cont: cuuid, upTo: upTo.toString(), after: cursor.toString(), follower });
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code !== 'NET_UNREACHABLE' && code !== 'NET_TIMEOUT') throw err;
            swallowed('connected.watch-waits-for-or-skips-dead-engine', err);
            // Out of service: skipped. In service: this round is not final; it is asked again.
            if (this.rankInService(rank)) complete = false;
            return;
          }
          if (r.header.lagged === true) throw new ObjectError('WATCH_LAGGED', 'watch consumer lagged behind the commits engines retain', { rank });
          for (const ev of (r.header.events as Array<{ epoch: string; objects: string[] }>) ?? []) {
            const e = BigInt(ev.epoch);
            const set = merged.get(e) ?? new Set<string>();
            for (const o of ev.objects) set.add(o);
            merged.set(e, set);
          }
        }));
        if (complete) {
          for (const e of [...merged.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
            yield { epoch: e, objects: [...merged.get(e)!].map((o) => BigInt('0x' + o)) };
          }
          cursor = upTo;
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, WATCH_POLL_MS);
        function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Rank serving target `t` in the current map. */
  rankOf(t: number): number {
    const info = this.maps?.map.targets[t];
    if (!info) throw new CairnError('NET_UNREACHABLE', `target ${t} is not in the pool map`, { target: t });
    return info.rank;
  }

  get mapVersion(): number { return this.mapsVersion; }

  /** Whether target `t` may serve reads (UPIN or DRAIN, not being refilled), in the current map. */
  available(t: number): boolean {
    const st = this.maps?.map.stateList[t];
    return (st === 'UPIN' || st === 'DRAIN') && !this.maps!.resync.includes(t);
  }

  async openStore(t: number, cuuid: string): Promise<ShardStore> {
    const rank = this.rankOf(t);
    // The leader's pool only migrates: its writes copy committed versions and are never prepared.
    const migrate = this.runsMigrations;
    // (a fresh header object per call, of one shape: no spread; with a slot for each field a write
    // sets, undefined until set, so a write's header is one allocation, not a growing property store)
    const route = migrate
      ? () => ({ target: t, cont: cuuid, mapVersion: this.mapsVersion, migrate: true, epoch: undefined, oid: undefined, dkey: undefined, akey: undefined, recx: undefined, recordSize: undefined, txRead: undefined, tx: undefined, fresh: undefined })
      : () => ({ target: t, cont: cuuid, mapVersion: this.mapsVersion, epoch: undefined, oid: undefined, dkey: undefined, akey: undefined, recx: undefined, recordSize: undefined, txRead: undefined, tx: undefined, fresh: undefined });
    return new RemoteShardStore(this.link(rank), route, {
      tx: migrate ? undefined : (epoch) => this.descriptor(cuuid, epoch, rank),
      fresh: migrate ? undefined : (epoch) => this.freshTops.get(cuuid)?.get(epoch),
      freshWindow: this.freshWindow,
    });
  }

  /** What a write at `epoch` to `rank` tells its engine about its commit. */
  private descriptor(cuuid: string, epoch: bigint, rank: number): TxDescriptor | undefined {
    const p = this.plans.get(cuuid)?.get(epoch);
    if (p === undefined) return undefined;
    const i = p.ranks.indexOf(rank);
    return i < 0 ? undefined : p.descriptors[i];
  }

  storeExists(): boolean { return true; }

  async removeStore(t: number, cuuid: string): Promise<void> {
    await this.rankClient(this.rankOf(t)).call(ENGINE_METHODS.removeStore, { target: t, cont: cuuid, mapVersion: this.mapsVersion });
  }

  async wipeTarget(t: number): Promise<void> {
    await this.rankClient(this.rankOf(t)).call(ENGINE_METHODS.wipeTarget, { target: t, mapVersion: this.mapsVersion });
  }

  async prepareTargets(): Promise<void> {
    const cmd = `cairn engine --pool ${this.poolName} --etcd ${[this.opts.etcd].flat().join(',')} --targets DIR... --listen HOST:PORT`;
    throw new CairnError('UNSUPPORTED', `a connected pool grows by engines, not by pool.extend(): start \`${cmd}\` on each new host (each engine adds one node/rank with its target directories; data rebalances onto it)`, { command: cmd });
  }

  /**
   * Bytes target `t` uses as its engine last reported. The figures travel by RPC (`engine.info`),
   * never through etcd: a call older than SPACE_REFRESH_MS asks the engines again in the background.
   */
  spaceUsed(t: number): number {
    if (Date.now() - this.spaceAsked > SPACE_REFRESH_MS) { this.spaceAsked = Date.now(); void this.refreshSpace(); }
    const known = this.space.get(t);
    if (known !== undefined) return known;
    for (const e of this.engines.values()) {
      const i = e.targets.indexOf(t);
      if (i >= 0) return e.spaceUsed?.[i] ?? 0;
    }
    return 0;
  }

  private async refreshSpace(): Promise<void> {
    await Promise.all([...this.engines.keys()].map(async (rank) => {
      try {
        const r = await this.rankClient(rank).call(ENGINE_METHODS.info, {});
        const targets = r.header.targets as number[] | undefined, used = r.header.spaceUsed as number[] | undefined;
        if (Array.isArray(targets) && Array.isArray(used)) targets.forEach((t, i) => { if (typeof used[i] === 'number') this.space.set(t, used[i]!); });
      } catch (err) { swallowed('connected.space-figures-of-unreachable-engine', err); }
    }));
  }

  remoteRebuild(): RebuildStatus | undefined { return this.rebuild; }

  publishRebuild(st: RebuildStatus): void {
    this.rebuild = st;
    const now = Date.now();
    const put = () => { this.lastPublish = Date.now(); this.publishTimer = undefined; if (!this.closed) void this.etcd.putJson(this.prefix + 'rebuild', this.rebuild).catch(swallow('connected.publish-rebuild-progress')); };
    if (st.state !== 'running' || now - this.lastPublish >= REBUILD_PUBLISH_MS) { clearTimeout(this.publishTimer); put(); }
    else this.publishTimer ??= setTimeout(put, REBUILD_PUBLISH_MS);
  }

  async beforeMigration(version: number): Promise<void> {
    await Promise.all([...this.engines.keys()].map((rank) =>
      this.rankClient(rank).call(ENGINE_METHODS.syncMap, { version }).catch(swallow('connected.sync-map-engine-gone-serves-nothing'))));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.publishTimer);
    for (const s of this.stops) await s().catch(swallow('connected.close-stop-watch'));
    // Commit notices still waiting go out first (their participants would otherwise settle them by timeout).
    await Promise.all([...this.links.values()].map((l) => l.drain().catch(swallow('connected.close-drain-notices'))));
    for (const l of this.links.values()) l.close();
    for (const c of this.clients.values()) await c.close().catch(swallow('connected.close-engine-client'));
    await this.etcd.close().catch(swallow('connected.close-etcd'));
  }
}

/** Attempts of a metadata change that other clients' changes keep overtaking (`updateMeta`). */
const META_UPDATE_ATTEMPTS = 16;

/**
 * Container state in etcd; the record that makes a commit atomic lives on the engines: every write
 * carries its commit's participants and how many writes each gets (`intent` makes the plan the
 * writes read), and once every write succeeded (`done`) the participants are told on later traffic.
 */
class EngineContainerStorage implements ContainerStorage {
  private metaCb?: (m: unknown) => void;
  /** The etcd revision of `meta` (0: not known; a compare-and-put then reads the record first). */
  private metaRev: bigint;

  constructor(private readonly b: ConnectedBackend, private meta: ContainerMeta) {
    this.metaRev = b.metaRevs.get(meta) ?? 0n;
  }

  recover(): StorageRecovery {
    // Nothing to replay here: each engine settles its own prepared writes with the others.
    return { floor: 0n, torn: [], done: [] };
  }

  /** Before the writes: their participants and counts; a transaction's read-only keys are checked alongside. */
  intent(epoch: bigint, info: CommitInfo): void {
    // Ranks kept ascending as they come (a commit has a few: no Map, no sort, whose comparator
    // sort allocated ~870 B per put; heap sampling, session 28), each with its count of writes,
    // in scratch arrays: a commit of a shape seen before takes its plan from `shapes`.
    const ranks = SCRATCH_RANKS, counts = SCRATCH_COUNTS;
    let k = 0;
    for (const t of info.writes ?? []) {
      const r = this.b.rankOf(t);
      let i = 0;
      while (i < k && ranks[i]! < r) i++;
      if (i < k && ranks[i] === r) { counts[i]!++; continue; }
      for (let j = k; j > i; j--) { ranks[j] = ranks[j - 1]!; counts[j] = counts[j - 1]!; }
      ranks[i] = r; counts[i] = 1;
      k++;
    }
    const plan = info.check ? { ...commitShape(ranks, counts, k), validation: this.validate(epoch, info.check) } : commitShape(ranks, counts, k);
    let m = this.b.plans.get(this.meta.uuid);
    if (!m) { m = new Map(); this.b.plans.set(this.meta.uuid, m); }
    m.set(epoch, plan);
    if (info.firstEpoch !== undefined) {
      let f = this.b.freshTops.get(this.meta.uuid);
      if (!f) { f = new Map(); this.b.freshTops.set(this.meta.uuid, f); }
      f.set(epoch, String(info.firstEpoch + this.b.freshWindow));
    }
  }

  /**
   * Every write succeeded: the commit is decided (every participant holds all of its writes). A
   * commit on one engine was decided by it already; the participants of one across engines are
   * told on their next request. A read-only key written since the transaction read it fails the
   * commit instead (TX_RESTART: the container discards the epoch everywhere). Nothing is waited
   * for otherwise (no promise): freshness across clients is checked by the engines as reads and
   * writes arrive (a read "now", and a write that is not a transaction's, carries its uncertainty
   * window, and an engine refuses it when it holds another write in it, docs/scale.md "Freshness").
   */
  done(epoch: bigint, info: CommitInfo): Promise<void> | undefined {
    if (info.firstEpoch !== undefined) this.b.freshTops.get(this.meta.uuid)?.delete(epoch);
    const m = this.b.plans.get(this.meta.uuid);
    const plan = m?.get(epoch);
    m?.delete(epoch);
    if (!plan) return undefined;
    if (plan.validation) return plan.validation.then(() => this.decided(epoch, plan));
    this.decided(epoch, plan);
    return undefined;
  }

  /** A commit across engines is decided: its participants are told on their next request. */
  private decided(epoch: bigint, plan: CommitPlan): void {
    if (plan.ranks.length <= 1) return;
    const e = epochText(epoch); // (once for every participant: the text its writes named)
    for (const r of plan.ranks) this.b.link(r).notice(this.meta.uuid, e);
  }

  abort(epoch: bigint): void {
    this.b.plans.get(this.meta.uuid)?.delete(epoch);
    this.b.freshTops.get(this.meta.uuid)?.delete(epoch);
  }
  rollback(): void { /* targets discard on their own */ }
  needsCompaction(): boolean { return false; }
  compact(_h: CommitEvent[]): void { /* no local journal */ }

  /**
   * Check on the engines the keys a transaction only read or listed (the keys it writes are
   * checked by its writes): an akey it fetched or a dkey whose akeys it listed on one shard of the
   * dkey's group that every write of the key reaches (a parity shard of an EC group, any replica
   * otherwise); an object whose dkeys it listed on such a shard of every group (its dkeys are
   * spread over them). The keys of one engine in requests of at most MAX_VALIDATE_KEYS (the most
   * an engine checks at once; one request for all of them failed a transaction reading more).
   */
  private validate(epoch: bigint, check: NonNullable<CommitInfo['check']>): Promise<unknown> | undefined {
    const written = new Set(check.written);
    const covered = (k: string) => { const parts = k.split('/'); for (let i = 1; i <= parts.length; i++) if (written.has(parts.slice(0, i).join('/'))) return true; return false; };
    const byRank = new Map<number, Array<{ u: string; d?: string; a?: string }>>();
    for (const k of check.keys) {
      if (covered(k)) continue;
      const parts = k.split('/');
      assert(parts.length >= 1 && parts.length <= 3, 'a noted read names an object, a dkey or an akey', { key: k });
      const oid = BigInt('0x' + parts[0]);
      const dkey = parts.length > 1 ? Buffer.from(parts[1]!, 'hex') : undefined;
      const d = dkey?.toString('base64'), a = parts.length > 2 ? Buffer.from(parts[2]!, 'hex').toString('base64') : undefined;
      const { groups, red } = check.layout(oid);
      const gs = dkey !== undefined ? [dkeyGroup(new Uint8Array(dkey), groups.length)] : groups.map((_, g) => g);
      for (const g of gs) {
        const shards = groupShards(groups, g).filter((s) => this.b.available(s.target));
        const parity = red.kind === 'ec' ? shards.filter((s) => s.shard % red.groupSize >= red.dataShards) : [];
        const use = red.kind === 'ec' ? (parity.length ? parity.slice(0, 1) : shards) : shards.slice(0, 1);
        for (const s of use) {
          const r = this.b.rankOf(s.target);
          const list = byRank.get(r) ?? [];
          list.push(a !== undefined ? { u: unitOid(oid, s.shard).toString(), d, a } : d !== undefined ? { u: unitOid(oid, s.shard).toString(), d } : { u: unitOid(oid, s.shard).toString() });
          byRank.set(r, list);
        }
      }
    }
    if (byRank.size === 0) return undefined;
    const header = { cont: this.meta.uuid, txRead: check.readEpoch.toString(), epoch: epoch.toString() };
    const calls: Array<Promise<unknown>> = [];
    for (const [r, keys] of byRank) {
      for (let i = 0; i < keys.length; i += MAX_VALIDATE_KEYS) calls.push(this.b.link(r).call(ENGINE_METHODS.txValidate, { ...header, keys: keys.slice(i, i + MAX_VALIDATE_KEYS) }));
    }
    const p = Promise.all(calls);
    p.catch(() => undefined); // awaited by done(); a commit whose writes fail first never awaits it
    return p;
  }

  async saveMeta(meta: unknown): Promise<void> {
    // (a plain write of the whole record: `updateMeta` is the change that keeps other clients' changes)
    this.meta = meta as ContainerMeta;
    await this.b.etcd.putJson(`${this.b.prefix}conts/${this.meta.label}`, meta);
  }

  async updateMeta(change: (meta: unknown) => void): Promise<unknown> {
    const key = `${this.b.prefix}conts/${this.meta.label}`;
    // (`fresh`: the record was just read from etcd; before that, a change that throws, say a
    // snapshot another client just took and this client's watch has not brought yet, is tried
    // again on the newest record)
    let fresh = false;
    for (let attempt = 0; attempt < META_UPDATE_ATTEMPTS; attempt++) {
      if (this.metaRev > 0n) {
        const next = structuredClone(this.meta);
        let changed = false;
        try { change(next); changed = true; } catch (err) { if (fresh) throw err; }
        if (changed) {
          const rev = await this.b.etcd.compareAndPutRevision(key, JSON.stringify(next), this.metaRev.toString());
          if (rev !== undefined) { this.metaChanged(next, BigInt(rev)); return next; }
        }
      }
      // another client wrote since (or the revision is not known): the record as it is now
      if (!(await this.refreshMeta())) throw new ObjectError('NOT_FOUND', `container ${this.meta.label} was destroyed`, { label: this.meta.label });
      fresh = true;
    }
    throw new CairnError('ETCD_CONFLICT', `container ${this.meta.label}: ${META_UPDATE_ATTEMPTS} changes of its record were each overtaken by another client's`, { label: this.meta.label, attempts: META_UPDATE_ATTEMPTS });
  }

  /** The record as etcd holds it now, adopted when newer (`metaChanged`); false when this container's is gone. */
  async refreshMeta(): Promise<boolean> {
    const r = await this.b.readContainerRecord(this.meta.label);
    if (r === undefined || r.meta.uuid !== this.meta.uuid) return false;
    this.metaChanged(r.meta, r.rev);
    return true;
  }

  /** The record at revision `rev` (0: not known), adopted unless this storage holds a newer one. */
  metaChanged(meta: ContainerMeta, rev: bigint): void {
    if (rev !== 0n && rev <= this.metaRev) return;
    if (rev !== 0n) this.metaRev = rev;
    this.meta = meta;
    this.metaCb?.(meta);
  }

  onMetaChange(cb: (m: unknown) => void): void { this.metaCb = cb; }

  close(): void { /* the backend owns the etcd client */ }
}

function inService(state: string): boolean { return state === 'UPIN' || state === 'UP' || state === 'NEW' || state === 'DRAIN'; }

/**
 * Connect to a pool served by `cairn engine` processes: the pool map and metadata come from etcd,
 * data goes straight to the engines. What `Pool.connect` does (installed below).
 */
export async function connectPool(options: ConnectOptions): Promise<Pool> {
  await initXxhash();
  const backend: PoolBackend = await ConnectedBackend.connect(options);
  try {
    return await Pool.fromBackend(backend, options);
  } catch (err) {
    await backend.close();
    throw err;
  }
}

installPoolConnector(connectPool);
