/**
 * A Cairn engine: one process serving some targets of a connected pool over authenticated HTTP/2.
 *
 * On start it joins the pool in etcd (the first engine creates the pool; a new engine extends the
 * map by one node/rank holding its targets; a restarted engine finds its rank in `engine.json`
 * in its first target directory), resolves writes it had prepared before a crash, serves shard
 * I/O, and registers `engines/<rank>` under a lease so that a dead engine is noticed. Engines
 * elect a leader through etcd: the leader excludes the targets of an engine whose lease expired
 * (after `excludeDelayMs`) and runs rebuild / rebalance through its own connected pool.
 */
import { join, resolve as resolvePath } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { CairnError, assert } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { Batcher } from '../../core/batcher.js';
import { Notifier } from '../../core/wait.js';
import { swallow, swallowed } from '../../core/log.js';
import { VosTarget } from '../vos/index.js';
import { ObjectError, badArg } from '../io/errors.js';
import type { ShardStore } from '../io/shard-store.js';
import { ConflictTracker, ReadStamps, conflictKey } from '../container/conflicts.js';
import { epochAtMs } from '../container/epoch-clock.js';
import type { PoolMaps } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import { allocatedBytes } from '../pool/local-backend.js';
import { Etcd, type Lease } from '../net/etcd.js';
import { RpcServer, RpcClient, type RpcReply, type RpcRequest } from '../net/rpc.js';
import { serveShardCall, SHARD_METHODS, SHARD_READ_METHODS, SHARD_WRITE_KIND } from '../net/shard-rpc.js';
import { toWireError } from '../net/errors.js';
import { connectPool } from '../net/connected.js';
import { ENGINE_METHODS, LOCK_TTL_MS, LOCK_WAIT_MS, TX_BATCH_MAX, decisionKey, decodeMaps, poolPrefix, type EngineRecord, type EtcdPoolMeta } from '../net/protocol.js';
import type { EngineOptions } from './options.js';
import { PreparedTable } from './prepared.js';
import { ensurePoolMeta, joinPool } from './join.js';
import { DecisionLog } from './decisions.js';
import { LockTable } from './locks.js';

export type { EngineOptions } from './options.js';

/** How often an engine refreshes the space figures in its record. */
const USAGE_REFRESH_MS = 5000;
/** Commits per container an engine remembers for watchers. */
const MAX_COMMIT_LOG = 65_536;
/** Reads at or above this epoch read "everything applied so far" and leave no read timestamp. */
const READ_TS_LIMIT = 1n << 62n;
/** Most engines one transaction spans. */
const MAX_ENGINES_PER_TX = 4096;
/** Most targets one engine serves. */
export const MAX_ENGINE_TARGETS = 64;
/**
 * Longest a syncMap request waits for requests planned with older maps to finish (`TIMEOUT` after
 * it; the leader then goes on, as for an engine that does not answer).
 */
export const SYNC_MAP_TIMEOUT_MS = 60_000;
/** How long a write waits for room among the prepared writes, in units of the tx timeout. */
const PREPARED_ROOM_WAIT_TX_TIMEOUTS = 3;
/** Pause before campaigning again after leadership failed, and before re-registering after a lost lease. */
const RETRY_PAUSE_MS = 1000;

/** A running engine. */
export class Engine {
  private maps!: PoolMaps;
  private server!: RpcServer;
  private lease!: Lease;
  private stores = new Map<string, Promise<VosTarget>>();
  /** Shard requests in flight per pool map version they were planned with. */
  private inflight = new Map<number, number>();
  /** Notified whenever a shard request finishes. */
  private readonly requestsDone = new Notifier();
  private stops: Array<() => Promise<void>> = [];
  private leaderPool?: Pool;
  private resign?: () => Promise<void>;
  private excludeTimers = new Map<number, NodeJS.Timeout>();
  private sweepTimer?: NodeJS.Timeout;
  private usageTimer?: NodeJS.Timeout;
  private closed = false;
  private peers = new Map<string, RpcClient>();
  private registered = new Map<number, EngineRecord>();
  private readonly decisions: DecisionLog;
  private readonly locks = new LockTable();
  /** Per container: epoch at or below which watchers froze the container (writes refused). */
  private readonly frozen = new Map<string, bigint>();
  /** Per container: recent decided commits and the objects they wrote here. */
  private readonly commitLog = new Map<string, { entries: Array<{ epoch: bigint; oids: string[] }>; truncatedUpTo: bigint }>();
  /** Epochs of the latest writes per key (assumed "now" for anything before this engine started). */
  private readonly writes = new ConflictTracker({ floor: epochAtMs(Date.now()) });
  /** Epochs each akey was last read at (a later write may not slip under them). */
  private readonly reads = new ReadStamps();
  private readonly resolvers = new Map<number, Batcher<{ cont: string; epoch: string }, void>>();

  private constructor(
    private readonly opts: Required<Pick<EngineOptions, 'leaseTtl' | 'excludeDelayMs' | 'txTimeoutMs' | 'durable'>> & EngineOptions,
    private readonly etcd: Etcd,
    private readonly prefix: string,
    private readonly secret: string,
    private readonly meta: EtcdPoolMeta,
    /** This engine's rank and its target ids, in the order of `opts.targets`. */
    readonly rank: number,
    readonly targetIds: number[],
    private readonly prepared: PreparedTable,
  ) {
    this.decisions = new DecisionLog(etcd);
  }

  /** Join (or create) the pool and start serving. */
  static async start(options: EngineOptions): Promise<Engine> {
    await initXxhash();
    const prefix = poolPrefix(options.pool);
    const secret = options.secret ?? process.env.CAIRN_POOL_SECRET;
    if (!secret || secret.length < 8) throw badArg('an engine needs a pool secret of at least 8 characters (--secret-file or CAIRN_POOL_SECRET)');
    if (!Array.isArray(options.targets) || options.targets.length === 0 || options.targets.length > MAX_ENGINE_TARGETS) throw badArg(`an engine serves 1..${MAX_ENGINE_TARGETS} target directories`);
    parseListen(options.listen);
    const opts = { leaseTtl: 5, excludeDelayMs: 2000, txTimeoutMs: 10_000, durable: false, ...options, targets: options.targets.map((d) => resolvePath(d)) };
    for (const d of opts.targets) await mkdir(d, { recursive: true });
    const etcd = await Etcd.connect(opts.etcd);
    try {
      const meta = await ensurePoolMeta(etcd, prefix, secret, opts);
      const { rank, targets } = await joinPool(etcd, prefix, opts);
      const { table, undecided } = PreparedTable.open(join(opts.targets[0]!, 'prepared.journal'), opts.durable);
      const engine = new Engine(opts, etcd, prefix, secret, meta, rank, targets, table);
      await engine.run(undecided);
      return engine;
    } catch (err) {
      await etcd.close().catch(swallow('engine.etcd-close-after-failed-start'));
      throw err;
    }
  }

  /** `host:port` clients reach this engine at. */
  get address(): string { return `${this.server.host}:${this.server.port}`; }

  private log(msg: string): void { this.opts.log?.(`[engine rank ${this.rank}] ${msg}`); }

  private async run(undecided: Array<{ cont: string; epoch: bigint }>): Promise<void> {
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'maps', (ev) => { if (ev.key === this.prefix + 'maps' && ev.value) this.adoptMaps(decodeMaps(ev.value)); }));
    await this.reloadMaps();
    // Writes left undecided by a crash are settled before anything is served.
    for (const u of undecided) {
      try {
        await this.settleThroughEtcd(u.cont, u.epoch, 'restart');
      } catch (err) {
        // Still prepared (reads of the container wait): the sweep settles it once etcd or the store answers.
        swallowed('engine.settle-at-restart-left-to-sweep', err);
        this.log(`prepared write ${u.cont}@${u.epoch} not settled at restart: ${(err as Error).message}; retried by the sweep`);
      }
    }
    const { host, port } = parseListen(this.opts.listen);
    const tls = this.opts.tls;
    this.server = await RpcServer.listen({ host, port, secret: this.secret, handler: (req) => this.handle(req), ...(tls ? { tls: { key: tls.key, cert: tls.cert } } : {}) });
    await this.newLease();
    await this.register();
    // The record also carries the space each target uses, refreshed for `pool.query()`.
    this.usageTimer = setInterval(() => void this.register().catch(swallow('engine.refresh-record-retried-next-interval')), USAGE_REFRESH_MS);
    this.usageTimer.unref();
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'engines/', (ev) => this.onEngine(ev.key, ev.value)));
    for (const kv of await this.etcd.getPrefix(this.prefix + 'engines/')) this.onEngine(kv.key, kv.value);
    this.sweepTimer = setInterval(() => void this.sweepPrepared(), Math.max(250, Math.min(2000, this.opts.txTimeoutMs / 4)));
    this.sweepTimer.unref();
    void this.campaign();
    this.log(`serving targets ${this.targetIds.join(',')} at ${this.address}`);
  }

  /**
   * Grant the lease the engine's record lives under. If it is lost (etcd unreachable for longer
   * than the TTL), a new one is granted and the record written again, retrying until it works, so
   * an engine that is alive does not stay unregistered after an etcd outage.
   */
  private async newLease(): Promise<void> {
    const lease = await this.etcd.lease(this.opts.leaseTtl);
    this.lease = lease;
    lease.on('lost', () => {
      if (this.closed || this.lease !== lease) return;
      this.log('lease lost; registering again');
      const retry = async (): Promise<void> => {
        if (this.closed) return;
        try {
          await this.newLease();
          await this.register();
        } catch (err) {
          swallowed('engine.re-register-retried', err);
          setTimeout(() => void retry(), RETRY_PAUSE_MS).unref();
        }
      };
      void retry();
    });
  }

  /** (Re)write this engine's record under its lease. */
  private async register(): Promise<void> {
    if (this.closed) return;
    const rec: EngineRecord = {
      rank: this.rank, address: this.address, targets: this.targetIds, pid: process.pid,
      spaceUsed: this.opts.targets.map((d) => allocatedBytes(d)),
    };
    await this.etcd.putJson(`${this.prefix}engines/${this.rank}`, rec, { lease: this.lease });
  }

  // ------------------------------------------------------------------ maps

  private adoptMaps(m: PoolMaps): void {
    if (!this.maps || m.map.version >= this.maps.map.version) this.maps = m;
  }

  private async reloadMaps(): Promise<void> {
    const kv = await this.etcd.get(this.prefix + 'maps');
    if (!kv) throw new ObjectError('NOT_FOUND', 'the pool map vanished from etcd');
    this.adoptMaps(decodeMaps(kv.value));
  }

  get mapVersion(): number { return this.maps.map.version; }

  // ------------------------------------------------------------------ RPC

  private async handle(req: RpcRequest): Promise<RpcReply> {
    if (this.closed) throw new CairnError('NET_UNREACHABLE', 'engine is stopping');
    const control = await this.handleControl(req.method, req.header);
    if (control) return control;
    if (!SHARD_METHODS.includes(req.method)) throw new CairnError('NET_PROTOCOL', `unknown method ${req.method}`, { method: req.method });
    return this.handleShard(req);
  }

  /** The engine methods (two-phase commit, locks, watch, map sync, target admin); undefined for shard methods. */
  private async handleControl(method: string, h: Record<string, unknown>): Promise<RpcReply | undefined> {
    switch (method) {
      case ENGINE_METHODS.txCommit: await this.coordinate(checkCont(h.cont), BigInt(String(h.epoch)), ranksOf(h.ranks)); return { header: { decision: 'commit' } };
      case ENGINE_METHODS.txCommitMany: {
        const items = batchItems(h.items);
        const rs = await Promise.allSettled(items.map((x) => this.coordinate(checkCont(x.cont), BigInt(String(x.epoch)), ranksOf(x.ranks))));
        return { header: { results: rs.map((r) => (r.status === 'fulfilled' ? { ok: true } : { error: toWireError(r.reason) })) } };
      }
      case ENGINE_METHODS.txResolve: await this.decide(checkCont(h.cont), BigInt(String(h.epoch)), h.decision === 'commit' ? 'commit' : 'abort'); return { header: {} };
      case ENGINE_METHODS.txResolveMany: {
        for (const x of batchItems(h.items)) await this.decide(checkCont(x.cont), BigInt(String(x.epoch)), h.decision === 'commit' ? 'commit' : 'abort');
        return { header: {} };
      }
      case ENGINE_METHODS.lockAcquire: {
        const { key, owner } = lockArgs(h);
        await this.locks.acquire(`${checkCont(h.cont)}/${key}`, owner, Number(h.ttlMs) || LOCK_TTL_MS, LOCK_WAIT_MS);
        return { header: {} };
      }
      case ENGINE_METHODS.lockRelease: { const { key, owner } = lockArgs(h); this.locks.release(`${checkCont(h.cont)}/${key}`, owner); return { header: {} }; }
      case ENGINE_METHODS.watchFreeze: return this.freeze(checkCont(h.cont), BigInt(String(h.upTo)), BigInt(String(h.after)));
      case ENGINE_METHODS.syncMap: return this.syncMap(Number(h.version));
      case ENGINE_METHODS.wipeTarget: await this.wipeTarget(this.ownTarget(h.target)); return { header: {} };
      case ENGINE_METHODS.removeStore: await this.removeStore(this.ownTarget(h.target), checkCont(h.cont)); return { header: {} };
      case ENGINE_METHODS.info: return { header: { rank: this.rank, targets: this.targetIds, mapVersion: this.mapVersion, pool: this.meta.uuid } };
      default: return undefined;
    }
  }

  /** A shard method: check the map version, admit the write or read (2PC, conflicts, freezes), serve it. */
  private async handleShard(req: RpcRequest): Promise<RpcReply> {
    const h = req.header;
    const version = Number(h.mapVersion);
    if (!Number.isInteger(version)) throw badArg('shard requests carry the pool map version');
    if (version > this.mapVersion) await this.reloadMaps();
    if (version < this.mapVersion) throw new CairnError('STALE_MAP', `pool map version ${version} is stale; the engine has ${this.mapVersion}`, { version: this.mapVersion });
    const target = this.ownTarget(h.target);
    const cont = checkCont(h.cont);
    this.inflight.set(version, (this.inflight.get(version) ?? 0) + 1);
    try {
      const epoch = h.epoch !== undefined ? BigInt(String(h.epoch)) : undefined;
      const unit = h.oid !== undefined ? String(h.oid) : undefined;
      const kind = SHARD_WRITE_KIND[req.method];
      if (req.method === 'shard.discard') {
        // Discarding an epoch that is still prepared (a client abandoning its commit, a rollback):
        // settle it first, so that no coordinator can commit what is being dropped.
        const after = BigInt(String(h.after));
        const upTo = h.upTo !== undefined && h.upTo !== null ? BigInt(String(h.upTo)) : (1n << 64n);
        for (const e of this.prepared.within(cont, after, upTo)) await this.settleThroughEtcd(cont, e);
      } else if (kind !== undefined && epoch !== undefined && h.migrate !== true) {
        // Rebuild copies (`migrate`) rewrite versions that were committed long ago: never prepared.
        // A full table drains as decisions arrive (or the sweep settles overdue ones through etcd).
        const deadline = Date.now() + PREPARED_ROOM_WAIT_TX_TIMEOUTS * this.opts.txTimeoutMs;
        while (this.prepared.full) await this.prepared.waitForRoom(Math.max(0, deadline - Date.now()));
        this.admitWrite(kind, cont, unit, epoch, h);
      } else if (SHARD_READ_METHODS.has(req.method) && epoch !== undefined) {
        const waits = this.prepared.blocking(cont, epoch, unit);
        if (waits.length) await Promise.all(waits);
        // Remember what was read at which epoch (not the read-modify-write reads of everything
        // applied so far, nor rebuild's): a write arriving later may not slip under it.
        if (unit !== undefined && typeof h.dkey === 'string' && typeof h.akey === 'string' && epoch < READ_TS_LIMIT && h.migrate !== true) {
          this.reads.record(unitKey(cont, unit, h.dkey, h.akey), epoch);
        }
      }
      const store = await this.store(target, cont);
      return await serveShardCall(req.method, h, req.payload, store as unknown as ShardStore);
    } finally {
      const n = (this.inflight.get(version) ?? 1) - 1;
      if (n === 0) this.inflight.delete(version); else this.inflight.set(version, n);
      this.requestsDone.notify();
    }
  }

  /**
   * Admit a write of a client's commit at `epoch` and mark it prepared. Synchronous on purpose:
   * the checks and the prepared mark are one step, with no await in between.
   */
  private admitWrite(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string | undefined, epoch: bigint, h: Record<string, unknown>): void {
    assert(!this.prepared.full, 'a write is admitted only with room among the prepared writes');
    const frozen = this.frozen.get(cont);
    if (frozen !== undefined && epoch <= frozen) {
      throw new CairnError('STALE_EPOCH', `epoch ${epoch} is at or below ${frozen}, which a watcher has frozen; retry at a later epoch`, { epoch: frozen.toString() });
    }
    const dk = typeof h.dkey === 'string' ? h.dkey : undefined, ak = typeof h.akey === 'string' ? h.akey : undefined;
    // A write may not land at or below an epoch someone already read the key at (it would
    // change what they saw): the client retries at a fresh epoch above it.
    if (unit !== undefined && dk !== undefined && ak !== undefined) {
      const read = this.reads.last(unitKey(cont, unit, dk, ak));
      if (read >= epoch) throw new CairnError('STALE_EPOCH', `epoch ${epoch} is at or below a read already served at ${read}; retry at a later epoch`, { epoch: read.toString() });
    }
    // Optimistic concurrency across clients: a transaction that read at txRead may not write
    // over (or under) a write someone else made after that.
    const key = unit !== undefined ? writeKey(kind, cont, unit, dk, ak) : undefined;
    if (key !== undefined && h.txRead !== undefined) {
      const last = this.writes.lastWrite(key);
      if (last > BigInt(String(h.txRead)) && last !== epoch) {
        throw new ObjectError('TX_RESTART', 'transaction conflicts with a write committed after it read; retry it', { epoch: epoch.toString() });
      }
    }
    if (key !== undefined) this.writes.record(key, epoch, kind !== 'update');
    this.prepared.prepare(cont, epoch, unit);
  }

  private ownTarget(t: unknown): number {
    const id = Number(t);
    if (!this.targetIds.includes(id)) throw new CairnError('WRONG_ENGINE', `target ${String(t)} is not served by rank ${this.rank}`, { target: t, rank: this.rank });
    return id;
  }

  private store(t: number, cont: string): Promise<VosTarget> {
    const key = `${t}/${cont}`;
    let s = this.stores.get(key);
    if (!s) {
      const dir = this.opts.targets[this.targetIds.indexOf(t)]!;
      s = VosTarget.open(join(dir, cont), { scmBytes: this.meta.scmBytes, dataBytes: this.meta.dataBytes, durable: this.opts.durable });
      // A store that fails to open is forgotten (the next request retries); the request gets the error through `s`.
      const forget = () => { if (this.stores.get(key) === s) this.stores.delete(key); };
      s.then(undefined, forget);
      this.stores.set(key, s);
    }
    return s;
  }

  /** Every later request planned with an older map is refused; wait for the ones in flight. */
  private async syncMap(version: number): Promise<RpcReply> {
    if (version > this.mapVersion) await this.reloadMaps();
    await this.requestsDone.until(() => ![...this.inflight.keys()].some((v) => v < version), {
      timeoutMs: SYNC_MAP_TIMEOUT_MS, what: `requests planned with pool maps older than ${version} to finish`, info: { version },
    });
    return { header: { mapVersion: this.mapVersion } };
  }

  private async closeStoresOf(t: number): Promise<void> {
    for (const [k, s] of [...this.stores]) {
      if (!k.startsWith(`${t}/`)) continue;
      this.stores.delete(k);
      await closeStore(s, 'engine.close-store-of-wiped-target');
    }
  }

  private async wipeTarget(t: number): Promise<void> {
    await this.closeStoresOf(t);
    const dir = this.opts.targets[this.targetIds.indexOf(t)]!;
    // Container stores only: the engine's identity and prepared-write journal stay.
    for (const e of readdirSync(dir)) if (isUuid(e)) await rm(join(dir, e), { recursive: true, force: true });
    this.log(`target ${t} wiped for reintegration`);
  }

  private async removeStore(t: number, cont: string): Promise<void> {
    const key = `${t}/${cont}`;
    const s = this.stores.get(key);
    this.stores.delete(key);
    if (s) await closeStore(s, 'engine.close-store-of-removed-container');
    await rm(join(this.opts.targets[this.targetIds.indexOf(t)]!, cont), { recursive: true, force: true });
  }

  // ------------------------------------------------------------------ two-phase commit

  /** Coordinator: record the decision in etcd, then tell every participant. */
  private async coordinate(cont: string, epoch: bigint, ranks: number[]): Promise<void> {
    if ((await this.decisions.decide(decisionKey(this.prefix, cont, epoch), 'commit')) !== 'commit') {
      throw new ObjectError('TX_RESTART', `commit at epoch ${epoch} was aborted (a participant gave up waiting); retry`, { epoch: epoch.toString() });
    }
    // Participants that miss this message settle through etcd when their prepared write ages.
    await Promise.all(ranks.map(async (r) => {
      try {
        if (r === this.rank) await this.decide(cont, epoch, 'commit');
        else await this.resolver(r).add({ cont, epoch: epoch.toString() });
      } catch (err) {
        swallowed('engine.commit-notice-participant-settles-through-etcd', err);
      }
    }));
  }

  /** Participant: apply a decision (abort discards the epoch from this engine's stores). */
  private async decide(cont: string, epoch: bigint, d: 'commit' | 'abort'): Promise<void> {
    if (!this.prepared.has(cont, epoch)) return;
    if (d === 'abort') {
      for (const t of this.targetIds) {
        const dir = this.opts.targets[this.targetIds.indexOf(t)]!;
        if (!existsSync(join(dir, cont))) continue;
        // A store that cannot discard leaves the write prepared (never recorded as aborted): retried.
        await (await this.store(t, cont)).discard(epoch - 1n, epoch);
      }
    }
    const units = this.prepared.decide(cont, epoch, d);
    if (d === 'commit' && units) this.logCommit(cont, epoch, units);
  }

  /** Remember a decided commit and the objects it wrote here, for watchers. */
  private logCommit(cont: string, epoch: bigint, units: Set<string>): void {
    let log = this.commitLog.get(cont);
    if (!log) { log = { entries: [], truncatedUpTo: 0n }; this.commitLog.set(cont, log); }
    const oids = [...new Set([...units].map((u) => (BigInt(u) >> 32n).toString(16)))];
    log.entries.push({ epoch, oids });
    while (log.entries.length > MAX_COMMIT_LOG) {
      const old = log.entries.shift()!;
      if (old.epoch > log.truncatedUpTo) log.truncatedUpTo = old.epoch;
    }
  }

  /**
   * A watcher freezes (cont, ≤ upTo): later writes at or below it are refused (STALE_EPOCH, the
   * writer recommits above), prepared writes at or below it are waited for, and the commits in
   * (after, upTo] this engine took part in are returned — once every engine answered, that set
   * of commits is final.
   */
  private async freeze(cont: string, upTo: bigint, after: bigint): Promise<RpcReply> {
    const cur = this.frozen.get(cont);
    if (cur === undefined || upTo > cur) this.frozen.set(cont, upTo);
    const waits = this.prepared.blocking(cont, upTo, undefined);
    if (waits.length) await Promise.all(waits);
    const log = this.commitLog.get(cont);
    const events = (log?.entries ?? []).filter((e) => e.epoch > after && e.epoch <= upTo).map((e) => ({ epoch: e.epoch.toString(), objects: e.oids }));
    return { header: { events, lagged: (log?.truncatedUpTo ?? 0n) > after } };
  }

  /** Settle an undecided write through etcd: abort it unless the coordinator already committed. */
  private async settleThroughEtcd(cont: string, epoch: bigint, why?: string): Promise<void> {
    const d = await this.decisions.decide(decisionKey(this.prefix, cont, epoch), 'abort');
    await this.decide(cont, epoch, d);
    if (why) this.log(`prepared write ${cont}@${epoch} settled (${why}): ${d}`);
  }

  private async sweepPrepared(): Promise<void> {
    if (this.closed) return;
    for (const u of this.prepared.stale(this.opts.txTimeoutMs)) {
      try {
        await this.settleThroughEtcd(u.cont, u.epoch, 'no decision in time');
      } catch (err) {
        swallowed('engine.sweep-settle-retried-next-sweep', err); // etcd or the store unreachable
      }
    }
  }

  /** Commit notifications to `rank`, batched per event-loop turn. */
  private resolver(rank: number): Batcher<{ cont: string; epoch: string }, void> {
    let b = this.resolvers.get(rank);
    if (!b) {
      b = new Batcher<{ cont: string; epoch: string }, void>(async (items) => {
        await this.peer(rank).call(ENGINE_METHODS.txResolveMany, { items, decision: 'commit' });
        return items.map(() => undefined as void);
      }, { maxBatch: TX_BATCH_MAX });
      this.resolvers.set(rank, b);
    }
    return b;
  }

  private peer(rank: number): RpcClient {
    const rec = this.registered.get(rank);
    if (!rec) throw new CairnError('NET_UNREACHABLE', `no engine is serving rank ${rank}`, { rank });
    let c = this.peers.get(rec.address);
    if (!c) { c = new RpcClient({ address: rec.address, secret: this.secret, ...(this.opts.tls ? { tls: { ca: this.opts.tls.ca } } : {}) }); this.peers.set(rec.address, c); }
    return c;
  }

  // ------------------------------------------------------------------ membership and leadership

  private onEngine(key: string, value: Buffer | undefined): void {
    const rank = Number(key.slice((this.prefix + 'engines/').length));
    if (!Number.isInteger(rank)) return;
    if (value) {
      try {
        const rec = JSON.parse(value.toString()) as EngineRecord;
        const old = this.registered.get(rank);
        this.registered.set(rank, rec);
        // A restarted peer listens elsewhere: drop the client of its old address.
        if (old && old.address !== rec.address) { const c = this.peers.get(old.address); this.peers.delete(old.address); void c?.close().catch(swallow('engine.close-client-of-old-peer-address')); }
      } catch (err) {
        swallowed('engine.malformed-peer-record-peer-rewrites-it', err);
      }
      clearTimeout(this.excludeTimers.get(rank));
      this.excludeTimers.delete(rank);
    } else {
      this.registered.delete(rank);
      this.scheduleExclusion(rank);
    }
  }

  /**
   * Campaign for leadership for as long as the engine runs: when elected, open the leader's pool
   * (migrations, exclusions); when leadership is lost (an etcd outage longer than the election
   * lease), step down and campaign again, so the pool never stays without a leader.
   */
  private async campaign(): Promise<void> {
    while (!this.closed) {
      try {
        const h = await this.etcd.campaign(this.prefix + 'leader', String(this.rank));
        if (this.closed) { await h.resign().catch(swallow('engine.resign-while-closing')); return; }
        const lost = new Promise<void>((resolve) => h.on('lost', () => resolve()));
        this.resign = () => h.resign();
        this.log('leader: runs rebuild and excludes dead engines');
        this.leaderPool = await connectPool({ etcd: this.opts.etcd, pool: this.opts.pool, secret: this.secret, runsMigrations: true, ...(this.opts.tls ? { tls: { ca: this.opts.tls.ca } } : {}) });
        this.leaderPool.on('rebuild', (st: { state: string; objectsDone: number; objectsTotal: number }) => {
          if (st.state !== 'running') this.log(`rebuild ${st.state} (${st.objectsDone}/${st.objectsTotal} objects)`);
        });
        // Ranks with targets in service but no engine registered: exclude them after the delay too.
        for (const t of this.maps.map.targets) {
          if (!this.registered.has(t.rank) && inService(t.state)) this.scheduleExclusion(t.rank);
        }
        await lost;
        if (this.closed) return;
        this.log('leadership lost; stepping down and campaigning again');
        await this.stepDown();
      } catch (err) {
        if (this.closed) return;
        this.log(`leadership failed: ${(err as Error).message}; campaigning again`);
        await this.stepDown();
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
  }

  private async stepDown(): Promise<void> {
    for (const t of this.excludeTimers.values()) clearTimeout(t);
    this.excludeTimers.clear();
    const p = this.leaderPool;
    this.leaderPool = undefined;
    this.resign = undefined;
    await p?.close().catch(swallow('engine.close-leader-pool-stepping-down'));
  }

  private scheduleExclusion(rank: number): void {
    if (!this.leaderPool || this.excludeTimers.has(rank) || rank === this.rank) return;
    this.excludeTimers.set(rank, setTimeout(() => {
      this.excludeTimers.delete(rank);
      void this.excludeRank(rank);
    }, this.opts.excludeDelayMs));
  }

  private async excludeRank(rank: number): Promise<void> {
    const pool = this.leaderPool;
    if (!pool || this.closed || this.registered.has(rank)) return;
    const ids = pool.map.targets.filter((t) => t.rank === rank && inService(t.state)).map((t) => t.id);
    if (ids.length === 0) return;
    try {
      await pool.exclude(ids);
      this.log(`rank ${rank} lease expired: targets ${ids.join(',')} excluded, rebuild started`);
    } catch (err) {
      this.log(`excluding rank ${rank} failed: ${(err as Error).message}`);
    }
  }

  /** Stop serving (the lease is revoked, so the others notice at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.usageTimer);
    for (const t of this.excludeTimers.values()) clearTimeout(t);
    // Closing: every step runs even if an earlier one fails; failures are counted, not thrown.
    await this.leaderPool?.close().catch(swallow('engine.close-leader-pool'));
    await this.resign?.().catch(swallow('engine.close-resign'));
    for (const s of this.stops) await s().catch(swallow('engine.close-stop-watch'));
    await this.server?.close().catch(swallow('engine.close-server'));
    await this.lease?.revoke().catch(swallow('engine.close-revoke-lease'));
    for (const c of this.peers.values()) await c.close().catch(swallow('engine.close-peer-client'));
    for (const s of this.stores.values()) await closeStore(s, 'engine.close-store');
    this.prepared.close();
    await this.etcd.close().catch(swallow('engine.close-etcd'));
  }
}

/** Close a store being opened or open: one that never opened has nothing to close (its error went to its opener). */
async function closeStore(p: Promise<VosTarget>, reason: string): Promise<void> {
  let store: VosTarget;
  try { store = await p; } catch (err) { swallowed(`${reason}.never-opened`, err); return; }
  try { await store.close(); } catch (err) { swallowed(reason, err); }
}

function inService(state: string): boolean { return state === 'UPIN' || state === 'UP' || state === 'NEW' || state === 'DRAIN'; }

function isUuid(s: string): boolean { return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s); }

function lockArgs(h: Record<string, unknown>): { key: string; owner: string } {
  if (typeof h.key !== 'string' || h.key.length === 0 || h.key.length > 1024 || typeof h.owner !== 'string' || h.owner.length === 0 || h.owner.length > 128) throw badArg('lock requests carry a key and an owner');
  return { key: h.key, owner: h.owner };
}

function ranksOf(v: unknown): number[] {
  if (!Array.isArray(v) || v.length > MAX_ENGINES_PER_TX || !v.every((r) => Number.isInteger(r) && r >= 0)) throw badArg('ranks must be a list of rank numbers');
  return v as number[];
}

function batchItems(v: unknown): Array<{ cont: unknown; epoch: unknown; ranks?: unknown }> {
  if (!Array.isArray(v) || v.length > TX_BATCH_MAX) throw badArg(`a batch holds 1..${TX_BATCH_MAX} items`);
  return v as Array<{ cont: unknown; epoch: unknown; ranks?: unknown }>;
}

function checkCont(c: unknown): string {
  if (typeof c !== 'string' || !isUuid(c)) throw badArg(`container uuid expected, got ${JSON.stringify(c)}`);
  return c;
}

/** The conflict-tracker key of an akey of a unit object (keys arrive as base64; levels are hex). */
function unitKey(cont: string, unit: string, dkeyB64: string, akeyB64?: string): string {
  return conflictKey(`${cont}.${unit}`, b64hex(dkeyB64), akeyB64 === undefined ? undefined : b64hex(akeyB64));
}

/** The key a write of `kind` writes (undefined for a malformed request, which serving refuses). */
function writeKey(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string, dk: string | undefined, ak: string | undefined): string | undefined {
  switch (kind) {
    case 'punchObject': return conflictKey(`${cont}.${unit}`);
    case 'punchDkey': return dk === undefined ? undefined : unitKey(cont, unit, dk);
    default: return dk === undefined || ak === undefined ? undefined : unitKey(cont, unit, dk, ak);
  }
}

function b64hex(v: string): string { return Buffer.from(v, 'base64').toString('hex'); }

/** Parse `host:port` (`INVALID_ARGUMENT` otherwise). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = typeof listen === 'string' ? /^(.+):(\d{1,5})$/.exec(listen) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw badArg(`--listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
