/**
 * A connected pool, client side: the pool map, pool and container metadata and the object index
 * live in etcd; targets are served by `cairn engine` processes reached over authenticated HTTP/2.
 * Clients compute layouts locally from the map they watch, send the map version with every
 * request, and make commits atomic across engines with a two-phase commit whose decision is
 * recorded in etcd. The etcd layout and the limits shared with the engines are in protocol.ts.
 *
 * Loading this module installs `connectPool` as the implementation of `Pool.connect` (the pool
 * layer below never imports it); the package entry (src/index.ts) loads it.
 */
import { randomUUID } from 'node:crypto';
import { CairnError, throwIfAborted } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { Batcher } from '../../core/batcher.js';
import { swallow, swallowed } from '../../core/log.js';
import { ObjectError, badArg } from '../io/errors.js';
import type { ShardStore } from '../io/shard-store.js';
import type { ContainerMeta } from '../container/container.js';
import type { ContainerStorage, CommitInfo, CommitEvent, StorageRecovery } from '../container/storage.js';
import { MAX_CLOCK_SLOTS, epochAtMs } from '../container/epoch-clock.js';
import { Pool, installPoolConnector } from '../pool/pool.js';
import type { ConnectOptions, PoolBackend, PoolMaps, PoolMeta, RebuildStatus } from '../pool/backend.js';
import { Etcd } from './etcd.js';
import { RpcClient, type RpcCaller } from './rpc.js';
import { RemoteShardStore } from './shard-rpc.js';
import { reviveError, type WireError } from './errors.js';
import {
  ENGINE_METHODS, LOCK_RPC_SLACK_MS, LOCK_TTL_MS, LOCK_WAIT_MS, TX_BATCH_MAX, WATCH_LAG_MS,
  decisionKey, decodeMaps, encodeMaps, poolPrefix, secretCheck, type EngineRecord, type EtcdPoolMeta,
} from './protocol.js';

export type { ConnectOptions } from '../pool/backend.js';

/** Most engines (ranks) one connected pool tracks. */
export const MAX_ENGINES = 1024;
/** How often a connected watch asks the engines. */
const WATCH_POLL_MS = 250;
/** Least interval between two rebuild progress records in etcd. */
const REBUILD_PUBLISH_MS = 250;

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
  private storages = new Map<string, EtcdContainerStorage>();
  /** Identifies this client's locks on engines. */
  private readonly owner = randomUUID();
  private committers = new Map<number, Batcher<{ cont: string; epoch: string; ranks: number[] }, void>>();
  private mapListeners: Array<(m: PoolMaps) => void> = [];
  private stops: Array<() => Promise<void>> = [];
  private rebuild?: RebuildStatus;
  private lastPublish = 0;
  private publishTimer?: NodeJS.Timeout;
  private closed = false;

  private constructor(readonly etcd: Etcd, readonly prefix: string, readonly poolName: string, private readonly secret: string, meta: EtcdPoolMeta, private readonly opts: ConnectOptions) {
    this.meta = { uuid: meta.uuid, createdAt: meta.createdAt, scmBytes: meta.scmBytes, dataBytes: meta.dataBytes, containers: [] };
    this.runsMigrations = opts.runsMigrations ?? false;
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
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'conts/', (ev) => this.onContainer(ev.key, ev.value)));
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'maps', (ev) => { if (ev.key === this.prefix + 'maps' && ev.value) void this.loadMaps().catch(swallow('connected.reload-maps-on-watch')); })); // the next change or stale-map retry reloads
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'rebuild', (ev) => { if (ev.value) this.rebuild = JSON.parse(ev.value.toString()) as RebuildStatus; }));
    for (const kv of await this.etcd.getPrefix(this.prefix + 'engines/')) this.onEngine(kv.key, kv.value);
    for (const kv of await this.etcd.getPrefix(this.prefix + 'conts/')) this.onContainer(kv.key, kv.value);
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

  private onContainer(key: string, value: Buffer | undefined): void {
    const label = key.slice((this.prefix + 'conts/').length);
    const i = this.meta.containers.findIndex((c) => c.label === label);
    if (!value) { if (i >= 0) this.meta.containers.splice(i, 1); return; }
    try {
      const meta = JSON.parse(value.toString()) as ContainerMeta;
      if (i < 0) this.meta.containers.push({ label, uuid: meta.uuid });
      this.storages.get(meta.uuid)?.metaChanged(meta);
    } catch (err) { swallowed('connected.malformed-container-record', err); }
  }

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
    await this.etcd.deletePrefix(`${this.prefix}objs/${uuid}/`);
    this.meta.containers = this.meta.containers.filter((c) => c.uuid !== uuid);
  }

  async containerMeta(uuid: string, label: string): Promise<ContainerMeta> {
    const meta = await this.etcd.getJson<ContainerMeta>(this.prefix + 'conts/' + label);
    if (!meta || meta.uuid !== uuid) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    return meta;
  }

  async containerStorage(meta: ContainerMeta): Promise<ContainerStorage> {
    const s = new EtcdContainerStorage(this, meta);
    this.storages.set(meta.uuid, s);
    return s;
  }

  /** The RPC client of the engine serving `rank` (re-resolved on every call: engines restart on new ports). */
  rankClient(rank: number): RpcCaller {
    return { call: (method, header, payload, o) => this.clientForRank(rank).call(method, header, payload, o) };
  }

  private clientForRank(rank: number): RpcClient {
    const rec = this.engines.get(rank);
    if (!rec) throw new CairnError('NET_UNREACHABLE', `no engine is serving rank ${rank} of pool ${this.poolName}`, { rank });
    let c = this.clients.get(rec.address);
    if (!c) {
      c = new RpcClient({ address: rec.address, secret: this.secret, timeoutMs: this.opts.timeoutMs, ...(this.opts.tls ? { tls: this.opts.tls } : {}) });
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

  /**
   * Follow the commits of every client in epoch order: every WATCH_LAG_MS, freeze the container on
   * every engine up to "now - lag" (engines refuse later writes at or below it and wait for its
   * prepared writes), merge the commits they report, and yield those above `from`. Events lag
   * real time by about WATCH_LAG_MS; each one's epoch reads as a consistent, final snapshot.
   */
  async *followCommits(cuuid: string, from: bigint, signal?: AbortSignal): AsyncGenerator<{ epoch: bigint; objects: bigint[] }> {
    let cursor = from;
    while (!this.closed) {
      throwIfAborted(signal);
      const upTo = epochAtMs(Date.now() - WATCH_LAG_MS);
      if (upTo > cursor) {
        const merged = new Map<bigint, Set<string>>();
        await Promise.all([...this.engines.keys()].map(async (rank) => {
          let r;
          try {
            r = await this.rankClient(rank).call(ENGINE_METHODS.watchFreeze, { cont: cuuid, upTo: upTo.toString(), after: cursor.toString() });
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code === 'NET_UNREACHABLE' || code === 'NET_TIMEOUT') { swallowed('connected.watch-skips-dead-engine', err); return; } // a dead engine takes no writes
            throw err;
          }
          if (r.header.lagged === true) throw new ObjectError('INVALID_ARGUMENT', 'watch consumer lagged behind the commits engines retain', { code: 'WATCH_LAGGED' });
          for (const ev of (r.header.events as Array<{ epoch: string; objects: string[] }>) ?? []) {
            const e = BigInt(ev.epoch);
            const set = merged.get(e) ?? new Set<string>();
            for (const o of ev.objects) set.add(o);
            merged.set(e, set);
          }
        }));
        for (const e of [...merged.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
          yield { epoch: e, objects: [...merged.get(e)!].map((o) => BigInt('0x' + o)) };
        }
        cursor = upTo;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, WATCH_POLL_MS);
        function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Commit requests to the coordinator `rank`, batched per event-loop turn. */
  committer(rank: number): Batcher<{ cont: string; epoch: string; ranks: number[] }, void> {
    let b = this.committers.get(rank);
    if (!b) {
      b = new Batcher<{ cont: string; epoch: string; ranks: number[] }, void>(async (items) => {
        const r = await this.rankClient(rank).call(ENGINE_METHODS.txCommitMany, { items });
        const results = (r.header.results as Array<{ ok?: boolean; error?: WireError }>) ?? [];
        return items.map((_, i): void | Error => (results[i]?.ok ? undefined : reviveError(results[i]?.error ?? { name: 'NetError', code: 'NET_PROTOCOL', message: 'missing commit result' })));
      }, { maxBatch: TX_BATCH_MAX });
      this.committers.set(rank, b);
    }
    return b;
  }

  /** Rank serving target `t` in the current map. */
  rankOf(t: number): number {
    const info = this.maps?.map.targets[t];
    if (!info) throw new CairnError('NET_UNREACHABLE', `target ${t} is not in the pool map`, { target: t });
    return info.rank;
  }

  get mapVersion(): number { return this.mapsVersion; }

  async openStore(t: number, cuuid: string): Promise<ShardStore> {
    const rank = this.rankOf(t);
    // The leader's pool only migrates: its writes copy committed versions and are never prepared.
    const migrate = this.runsMigrations;
    return new RemoteShardStore(this.rankClient(rank), () => ({ target: t, cont: cuuid, mapVersion: this.mapsVersion, ...(migrate ? { migrate: true } : {}) }));
  }

  storeExists(): boolean { return true; }

  async removeStore(t: number, cuuid: string): Promise<void> {
    await this.rankClient(this.rankOf(t)).call(ENGINE_METHODS.removeStore, { target: t, cont: cuuid, mapVersion: this.mapsVersion });
  }

  async wipeTarget(t: number): Promise<void> {
    await this.rankClient(this.rankOf(t)).call(ENGINE_METHODS.wipeTarget, { target: t, mapVersion: this.mapsVersion });
  }

  async prepareTargets(): Promise<void> {
    throw badArg('a connected pool grows by starting more engines (`cairn engine`), not by pool.extend()');
  }

  spaceUsed(t: number): number {
    for (const e of this.engines.values()) {
      const i = e.targets.indexOf(t);
      if (i >= 0) return e.spaceUsed?.[i] ?? 0;
    }
    return 0;
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
    for (const c of this.clients.values()) await c.close().catch(swallow('connected.close-engine-client'));
    await this.etcd.close().catch(swallow('connected.close-etcd'));
  }
}

/** Container state in etcd; commits are made atomic by the engines' two-phase commit. */
class EtcdContainerStorage implements ContainerStorage {
  private readonly ids = new Set<bigint>();
  private metaCb?: (m: unknown) => void;

  constructor(private readonly b: ConnectedBackend, private meta: ContainerMeta) {}

  recover(): StorageRecovery {
    // Nothing to replay here: each engine resolves its own prepared writes through etcd.
    return { floor: 0n, torn: [], done: [] };
  }

  intent(): void { /* engines record a prepared write when they receive it */ }

  /** The commit point: ask one participating engine (the coordinator) to commit. */
  async done(epoch: bigint, info: CommitInfo): Promise<void> {
    const ranks = [...new Set(info.targets.map((t) => this.b.rankOf(t)))].sort((a, b) => a - b);
    if (ranks.length === 0) return;
    const coordinator = ranks[Number(epoch % BigInt(ranks.length))]!;
    const header = { cont: this.meta.uuid, epoch: epoch.toString(), ranks };
    try {
      await this.b.committer(coordinator).add(header);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'NET_UNREACHABLE' && code !== 'NET_TIMEOUT') throw err;
      // The coordinator vanished: settle the outcome in etcd ourselves.
      const key = decisionKey(this.b.prefix, this.meta.uuid, epoch);
      if (await this.b.etcd.createIfAbsent(key, 'abort')) throw new ObjectError('TX_RESTART', `commit aborted: coordinator rank ${coordinator} unreachable; retry`, { rank: coordinator, epoch: epoch.toString() });
      const v = (await this.b.etcd.get(key))?.value.toString();
      if (v !== 'commit') throw new ObjectError('TX_RESTART', `commit aborted while coordinator rank ${coordinator} was unreachable; retry`, { rank: coordinator, epoch: epoch.toString() });
      // Committed: tell the participants (best effort; they also ask etcd when a prepared write ages).
      await Promise.all(ranks.map((r) => this.b.rankClient(r).call(ENGINE_METHODS.txResolve, { cont: this.meta.uuid, epoch: epoch.toString(), decision: 'commit' }).catch(swallow('connected.resolve-notice-participant-asks-etcd'))));
    }
  }

  abort(): void { /* the container discarded the epoch on every reachable target; the rest resolve through etcd */ }
  rollback(): void { /* targets discard on their own */ }
  needsCompaction(): boolean { return false; }
  compact(_h: CommitEvent[]): void { /* no local journal */ }

  async saveMeta(meta: unknown): Promise<void> {
    this.meta = meta as ContainerMeta;
    await this.b.etcd.putJson(`${this.b.prefix}conts/${this.meta.label}`, meta);
  }

  metaChanged(meta: ContainerMeta): void {
    this.meta = meta;
    this.metaCb?.(meta);
  }

  onMetaChange(cb: (m: unknown) => void): void { this.metaCb = cb; }

  close(): void { /* the backend owns the etcd client */ }
}

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
