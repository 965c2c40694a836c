/**
 * A Cairn engine: one process serving some targets of a connected pool over authenticated HTTP/2.
 *
 * On start it joins the pool in etcd (the first engine creates the pool; a new engine extends the
 * map by one node/rank holding its targets; a restarted engine finds its rank in `engine.json`
 * in its first target directory), opens one target store per target directory (every container
 * lives in it), aborts the writes it held incompletely when it stopped, serves shard I/O, and
 * registers `engines/<rank>` under a lease so that a dead engine is noticed. Engines elect a
 * leader through etcd: the leader excludes the targets of an engine whose lease expired (after
 * `excludeDelayMs`) and runs rebuild / rebalance through its own connected pool.
 *
 * Commits never go through etcd: writes carry their commit's participants, a commit on this
 * engine alone is decided here, a commit across engines by its participants (commits.ts, txn.ts).
 * etcd is written at start, on a lost lease and on pool-map changes only.
 */
import { join, resolve as resolvePath } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { CreatedPaths, makeDirs, poolFsError } from '../pool/create-guard.js';
import { CairnError, assert } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { Notifier } from '../../core/wait.js';
import { swallow, swallowed } from '../../core/log.js';
import { ObjectError, badArg } from '../io/errors.js';
import type { ShardStore } from '../io/shard-store.js';
import type { ContainerStore } from '../vos/index.js';
import { MAX_CLOCK_SLOTS, epochAtMs } from '../container/epoch-clock.js';
import type { PoolMaps } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import { Etcd, type Lease } from '../net/etcd.js';
import { RpcServer, RpcClient, type RpcReply, type RpcRequest } from '../net/rpc.js';
import { locateFetch, serveFetchInto, serveFetchSingleNow, serveShardCall, serveUpdate, serveUpdateNow, SHARD_METHODS, SHARD_READ_METHODS, SHARD_WRITE_KIND } from '../net/shard-rpc.js';
import { decodeBatchFrame, encodeBatchReply, decodeLocate, encodeLocateReply } from '../net/link.js';
import { connectPool } from '../net/connected.js';
import { hostBootId, localPathOf, localSocketPath, localSocketsEnabled } from '../net/local-socket.js';
import { ENGINE_METHODS, LOCK_TTL_MS, LOCK_WAIT_MS, MAX_VALIDATE_KEYS, TX_BATCH_MAX, decodeMaps, isEpochText, poolPrefix, type EngineRecord, type EtcdPoolMeta, type TxDescriptor } from '../net/protocol.js';
import type { EngineOptions } from './options.js';
import { ALL_TARGETS, TxTable, targetBit, type Prepared } from './txn.js';
import { Commits } from './commits.js';
import { EngineStores, checkTargetFormat } from './stores.js';
import { ReadStamps, type StampKey } from './read-stamps.js';
import { AggregationFloors } from './aggregation-floors.js';
import { WatchHolds } from './watch-holds.js';
import { ensurePoolMeta, joinPool, leavePool, type JoinedMap } from './join.js';
import { LockTable } from './locks.js';
import { WriteEpochs } from './write-epochs.js';
import { warmUpRequests, warmUpServing, warmUpStores, type ScratchEngine } from './warm-up.js';

/** Clock slots as a bigint: an epoch's low bits modulo this name the client that made it (`EpochClock`). */
const CLOCK_SLOT_SPAN = BigInt(MAX_CLOCK_SLOTS);

export type { EngineOptions } from './options.js';

/** A watch follower id (`watchFreeze`): what a client sends, hex. */
const FOLLOWER_ID = /^[0-9a-f]{1,64}$/;
/** The method of array reads (`serveFetchNow`). */
const FETCH_ARRAY = 'shard.fetchArray';
/** The method of single-value reads (`serveGetNow`). */
const FETCH_SINGLE = 'shard.fetchSingle';
/** The value updates (`serveWriteNow`). */
const UPDATE_SINGLE = 'shard.updateSingle';
const UPDATE_ARRAY = 'shard.updateArray';
/** A batch item's result before it settles (replaced by its own result before the reply is built). */
const PENDING: PromiseSettledResult<RpcReply> = { status: 'rejected', reason: undefined };
/** A single-value update of a batch admitted on the fast path (`Engine.admitNow`): item `i`, counted under map `version`. */
interface FastWrite { i: number; p: Prepared; h: Record<string, unknown>; payload: Uint8Array | undefined; store: ShardStore; target: number; cont: string; version: number }
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
/**
 * How long a commit decision is remembered at least, in tx timeouts (`MAX_DECIDED_KEPT` says why):
 * a participant asks after one, and its seal round's calls may take one each.
 */
const DECISION_KEEP_TX_TIMEOUTS = 3;
/** Pause before campaigning again after leadership failed, and before re-registering after a lost lease. */
const RETRY_PAUSE_MS = 1000;
/** Size caps of the scratch targets of the request-path warm-up (`Engine.scratch`; sparse files). */
const SCRATCH_SCM_BYTES = 64 * 1024 * 1024;
const SCRATCH_DATA_BYTES = 16 * 1024 * 1024;
/** Name of the transaction log in the first target directory. */
export const TX_LOG_FILE = 'tx.log';

/** A running engine. */
export class Engine {
  private maps!: PoolMaps;
  private server!: RpcServer;
  private lease!: Lease;
  /** Shard requests in flight per pool map version they were planned with. */
  private inflight = new Map<number, number>();
  /** Notified whenever a shard request finishes. */
  private readonly requestsDone = new Notifier();
  private stops: Array<() => Promise<void>> = [];
  private leaderPool?: Pool;
  private resign?: () => Promise<void>;
  private excludeTimers = new Map<number, NodeJS.Timeout>();
  private sweepTimer?: NodeJS.Timeout;
  private closed = false;
  private peers = new Map<string, RpcClient>();
  private registered = new Map<number, EngineRecord>();
  private readonly locks = new LockTable();
  private readonly stores: EngineStores;
  /**
   * Whether reads asking for it (`direct: true`, a client on this host) are answered with where
   * their extent lies in a data file rather than its bytes (src/net/direct-read.ts);
   * `CAIRN_ENGINE_DIRECT_READS=0`: never.
   */
  private readonly directReads = process.env.CAIRN_ENGINE_DIRECT_READS !== '0';
  private readonly commits: Commits;
  /** Per container: epoch at or below which watchers froze the container (writes refused). */
  private readonly frozen = new Map<string, bigint>();
  /** Writes at or below this epoch are refused unless their commit is prepared here: nothing from before a restart slips in. */
  private readonly startFloor = epochAtMs(Date.now());
  /** Epochs of the latest writes per container, object, dkey and akey (assumed "now" for anything before this engine started). */
  private readonly writes = new WriteEpochs(this.startFloor);
  /** Epochs keys were last read at, at every level (a later write may not slip under them). */
  private readonly reads = new ReadStamps();
  /** Per container, the epochs transactions' reads are still answered exactly at, once aggregations ran (`checkTxRead`). */
  private readonly aggregated = new AggregationFloors(this.startFloor);
  /** Per container, the cursors of the clients following its commits (`watchFreeze`): aggregation stays at or below them. */
  private readonly watchHolds = new WatchHolds();
  /** The bit of each target (by id) in `Prepared.targets`: its index among `targetIds` (`targetBit`). */
  private readonly targetBits: ReadonlyMap<number, number>;

  private constructor(
    private readonly opts: Required<Pick<EngineOptions, 'leaseTtl' | 'excludeDelayMs' | 'txTimeoutMs' | 'durable'>> & EngineOptions,
    private readonly etcd: Etcd,
    private readonly prefix: string,
    private readonly secret: string,
    private readonly meta: EtcdPoolMeta,
    /** This engine's rank and its target ids, in the order of `opts.targets`. */
    readonly rank: number,
    readonly targetIds: number[],
    private readonly tx: TxTable,
  ) {
    this.stores = new EngineStores(new Map(targetIds.map((t, i) => [t, opts.targets[i]!])), { scmBytes: meta.scmBytes, dataBytes: meta.dataBytes, durable: opts.durable });
    this.commits = new Commits({
      rank, tx, stores: this.stores, txTimeoutMs: opts.txTimeoutMs,
      peer: (r) => this.peer(r),
      inService: (r) => this.maps.map.targets.some((t) => t.rank === r && inService(t.state)),
      log: (m) => this.log(m),
    });
    // A commit's prepared marks are settled in the stores once its DONE record is written.
    tx.setSettler((cont, epochs, targets) => this.stores.settle(cont, epochs, targets));
    this.targetBits = new Map(targetIds.map((t, i) => [t, targetBit(i)]));
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
    // A start that fails removes what it created (directories, engine.json, tx.log, stores), never what was there.
    const created = opts.targets.map((d) => CreatedPaths.note(d));
    let etcd: Etcd | undefined;
    let tx: TxTable | undefined;
    let engine: Engine | undefined;
    let added: JoinedMap | undefined;
    try {
      for (const d of opts.targets) await makeDirs(d).catch((err: unknown) => { throw poolFsError(err, d, 'cannot create the engine target directory'); });
      // Directories of the older format are refused before anything is written to etcd.
      for (const d of opts.targets) checkTargetFormat(d);
      etcd = await Etcd.connect(opts.etcd);
      const meta = await ensurePoolMeta(etcd, prefix, secret, opts);
      const joined = await joinPool(etcd, prefix, opts);
      const { rank, targets } = joined;
      added = joined.added;
      const opened = TxTable.open(join(opts.targets[0]!, TX_LOG_FILE), opts.durable, rank, { keepMs: DECISION_KEEP_TX_TIMEOUTS * opts.txTimeoutMs });
      tx = opened.table;
      engine = new Engine(opts, etcd, prefix, secret, meta, rank, targets, tx);
      await engine.run(opened.undecided);
      return engine;
    } catch (err) {
      // (its stores, server and watches; its lease is revoked, which deletes its engines/<rank> record)
      if (engine) await engine.shutdown().catch(swallow('engine.close-after-failed-start'));
      else tx?.close();
      // A rank this start added to the map leaves it again where that is safe (leavePool says when):
      // its engine.json goes below, so a retry would join as another rank and this one never serve.
      if (added && etcd) {
        const left = await leavePool(etcd, prefix, added).catch((e: unknown) => { swallowed('engine.leave-pool-after-failed-start', e); return false; });
        if (!left) opts.log?.(`[engine] the start failed after joining pool ${opts.pool}; its new rank stays in the pool map (the map changed or the pool holds containers since)`);
      }
      await etcd?.close().catch(swallow('engine.etcd-close-after-failed-start'));
      for (const c of created) c.remove();
      throw err;
    }
  }

  /**
   * An engine of this class over scratch targets and a scratch transaction log in `dir`, with this
   * engine's rank, target ids and pool maps, never registered nor listening (`warmUpRequests`
   * serves it): the request path's own code runs before serving, on nothing this engine holds.
   */
  private async scratch(dir: string): Promise<ScratchEngine> {
    const targets = this.opts.targets.map((_, i) => join(dir, `t${i}`));
    for (const d of targets) await mkdir(d, { recursive: true });
    const { table } = TxTable.open(join(dir, TX_LOG_FILE), this.opts.durable, this.rank, { keepMs: DECISION_KEEP_TX_TIMEOUTS * this.opts.txTimeoutMs });
    const e = new Engine({ ...this.opts, targets }, this.etcd, this.prefix, this.secret, { ...this.meta, scmBytes: SCRATCH_SCM_BYTES, dataBytes: SCRATCH_DATA_BYTES }, this.rank, this.targetIds, table);
    e.maps = this.maps;
    try {
      await e.stores.openAll();
    } catch (err) {
      await e.stores.close();
      table.close();
      throw err;
    }
    return {
      handle: (req) => e.handle(req), rank: this.rank, targets: this.targetIds, mapVersion: this.maps.map.version, firstEpoch: e.startFloor + 1n,
      close: async () => { e.closed = true; table.flushSettles(); await e.stores.close(); table.close(); },
    };
  }

  /** `host:port` clients reach this engine at. */
  get address(): string { return `${this.server.host}:${this.server.port}`; }

  private log(msg: string): void { this.opts.log?.(`[engine rank ${this.rank}] ${msg}`); }

  private async run(undecided: Prepared[]): Promise<void> {
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'maps', (ev) => { if (ev.key === this.prefix + 'maps' && ev.value) this.adoptMaps(decodeMaps(ev.value)); }));
    await this.reloadMaps();
    if (this.opts.warmUp ?? process.env.CAIRN_ENGINE_WARM_UP === '1') {
      this.log(`store code warmed up in ${(await warmUpStores(this.opts.targets[0]!)).toFixed(0)} ms of CPU`);
      if (process.env.CAIRN_ENGINE_WARM_UP_SERVE !== '0') this.log(`serving code warmed up in ${(await warmUpServing(this.opts.targets[0]!)).toFixed(0)} ms of CPU`);
      if (process.env.CAIRN_ENGINE_WARM_UP_REQUESTS !== '0') this.log(`request path warmed up in ${(await warmUpRequests(this.opts.targets[0]!, (dir) => this.scratch(dir))).toFixed(0)} ms of CPU`);
    }
    await this.stores.openAll();
    await this.resolveMarks();
    // Writes the last process held incompletely can never commit: discarded before anything is
    // served. Complete ones are settled with the other participants by the first sweeps.
    for (const p of undecided) {
      if (p.complete) { p.since = 0; continue; }
      try {
        await this.commits.abortLocally(p);
      } catch (err) {
        swallowed('engine.abort-at-restart-left-to-sweep', err);
        this.log(`incomplete commit ${p.cont}@${p.epoch} not aborted at restart: ${(err as Error).message}; retried by the sweep`);
      }
    }
    if (undecided.length) this.log(`restart: ${undecided.filter((p) => !p.complete).length} incomplete commit(s) aborted, ${undecided.filter((p) => p.complete).length} whole one(s) to settle with their participants`);
    const { host, port } = parseListen(this.opts.listen);
    const tls = this.opts.tls;
    // Processes on this host reach the engine through a Unix socket too (local-socket.ts; plain servers only).
    const localPath = !tls && localSocketsEnabled() && hostBootId() !== undefined ? localSocketPath(this.opts.targets[0]!) : undefined;
    this.server = await RpcServer.listen({ host, port, secret: this.secret, handler: (req) => this.handle(req), ...(tls ? { tls: { key: tls.key, cert: tls.cert } } : {}), ...(localPath ? { localPath } : {}) });
    if (localPath && this.server.localPath === undefined) this.log(`local socket ${localPath} could not be bound: local clients use TCP`);
    await this.newLease();
    await this.register();
    this.stops.push(await this.etcd.watchPrefix(this.prefix + 'engines/', (ev) => this.onEngine(ev.key, ev.value)));
    for (const kv of await this.etcd.getPrefix(this.prefix + 'engines/')) this.onEngine(kv.key, kv.value);
    this.sweepTimer = setInterval(() => { if (!this.closed) this.commits.sweep(); }, Math.max(100, Math.min(2000, this.opts.txTimeoutMs / 4)));
    this.sweepTimer.unref();
    void this.campaign();
    this.log(`serving targets ${this.targetIds.join(',')} at ${this.address}`);
  }

  /**
   * After a restart, before serving: the epochs the stores hold prepared marks of (writes of
   * commits, `ContainerStore.markPrepared`), against what tx.log says (txn.ts). Held whole here (a
   * P record): left to the sweep, as before. Decided commit, or forgotten (a forgotten abort was
   * discarded, which settled its marks): settled. Decided abort (its discard did not survive):
   * discarded again. Known to neither (tx.log has no INTENT since format 3): the commit was
   * incomplete here, never acknowledged, so it can never commit: discarded on every target and
   * remembered as aborted.
   */
  private async resolveMarks(): Promise<void> {
    const incomplete = new Map<string, { cont: string; epoch: bigint }>();
    let settled = 0, discarded = 0;
    for (const t of this.targetIds) {
      const ts = await this.stores.target(t);
      const settle = new Map<string, bigint[]>();
      for (const { cont, epoch } of ts.preparedEpochs()) {
        if (this.tx.get(cont, epoch) !== undefined) continue;
        const d = this.tx.decidedOf(cont, epoch);
        if (d === 'commit' || d === 'forgotten') { let l = settle.get(cont); if (!l) settle.set(cont, l = []); l.push(epoch); }
        else if (d === 'abort') { await (await this.stores.container(t, cont)).discard(epoch - 1n, epoch); discarded++; }
        else incomplete.set(`${cont}/${epoch}`, { cont, epoch });
      }
      for (const [cont, epochs] of settle) { await ts.settlePrepared(cont, epochs); settled += epochs.length; }
    }
    for (const { cont, epoch } of incomplete.values()) {
      for (const s of await this.stores.containerOnAll(cont)) await s.discard(epoch - 1n, epoch);
      await this.tx.tombstone(cont, epoch);
    }
    if (settled + discarded + incomplete.size > 0) this.log(`restart: prepared marks of ${settled} decided commit(s) settled, ${discarded} aborted one(s) discarded again, ${incomplete.size} incomplete commit(s) discarded`);
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

  /** (Re)write this engine's record under its lease (at start and after a lost lease only). */
  private async register(): Promise<void> {
    if (this.closed) return;
    const boot = hostBootId(), localPath = this.server.localPath;
    const rec: EngineRecord = {
      rank: this.rank, address: this.address, targets: this.targetIds, pid: process.pid, spaceUsed: this.stores.spaceUsed(this.targetIds),
      ...(boot !== undefined && localPath !== undefined ? { local: { boot, path: localPath } } : {}),
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

  private handle(req: RpcRequest): Promise<RpcReply> {
    try {
      if (this.closed) throw new CairnError('NET_UNREACHABLE', 'engine is stopping');
      // Commit notices ride on any request: applied first, so a read that follows its own commit sees it.
      if (req.header.commits !== undefined) this.commits.applyNotices(req.header.commits);
      if (req.method === FETCH_ARRAY) { const r = this.serveFetchNow(req.header); if (r !== undefined) return r; }
      if (req.method === ENGINE_METHODS.locate) return Promise.resolve(this.locateMany(req.payload));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.handleMany(req);
  }

  /**
   * A whole-range array read (a client's `fetchArrayInto`) in one synchronous stretch: the checks
   * of `handleShard` and `serveShard` inline, then the store's read started at once (the bulk read
   * path then runs no chain of async frames; measured in docs/performance.md, the connected data
   * path's history). Undefined when the read
   * needs the general path: a map version other than this engine's, a prepared write it must
   * wait for, a store not open yet, a rebuild read (`migrate`), or a read the pool does not lend
   * a buffer for. Checks that fail throw, as on the general path.
   */
  private serveFetchNow(h: Record<string, unknown>): Promise<RpcReply> | undefined {
    const version = h.mapVersion;
    if (version !== this.maps.map.version || h.holesAsZero !== true || h.migrate === true || typeof h.oid !== 'string') return undefined;
    const target = this.ownTarget(h.target), cont = checkCont(h.cont);
    const store = this.stores.cached(target, cont);
    if (store === undefined) return undefined;
    const epoch = epochOf(h.epoch), unit = h.oid;
    if (h.fresh !== undefined) this.checkFresh(FETCH_ARRAY, cont, unit, h, epoch);
    if (h.txRead !== undefined) this.checkTxRead(cont, epoch);
    if (this.tx.blocking(cont, epoch, unit).length) return undefined;
    let read = serveFetchInto(store as unknown as ShardStore, h, this.directReads ? this.stores.dataFile(target) : undefined);
    if (read === undefined) return undefined;
    if (h.txRead !== undefined) read = read.then((r) => this.txReadDone(cont, epoch, r));
    // (recorded once the read started: a malformed header read nothing)
    if (epoch < READ_TS_LIMIT && typeof h.dkey === 'string' && typeof h.akey === 'string') this.reads.recordValue(cont, unit, h.dkey, h.akey, epoch);
    this.inflight.set(version, (this.inflight.get(version) ?? 0) + 1);
    return read.finally(() => this.requestDone(version));
  }

  /**
   * A client's whole-range reads of one turn (`engine.locate`, link.ts), answered in one reply:
   * each with where its extent lies, as `serveFetchNow` answers a read asking `direct`, or with
   * `{ again: true }` when it needs more (another map version, a prepared write to wait for, a
   * store not open yet, an extent the store does not locate, located reads off, a malformed
   * item): the client then sends that read on its own, which waits, reads or reports as usual.
   * Synchronous: one wake-up and one reply for the lot instead of one per read. Binary tables
   * both ways since protocol 4 (batch-frame.ts `decodeLocate` / `encodeLocateReply`; an undefined
   * answer is "again").
   */
  private locateMany(payload: Uint8Array | undefined): RpcReply {
    const items = decodeLocate(payload); // (NET_PROTOCOL when malformed or not 1..TX_BATCH_MAX reads)
    const out = items.map((x) => {
      try {
        return this.locateNow(x);
      } catch (err) {
        swallowed('engine.locate-item-read-on-its-own', err); // the read sent on its own reports it
        return undefined;
      }
    });
    return encodeLocateReply(out);
  }

  /** One item of `locateMany`: the located answer's header, or undefined (the client reads it on its own). */
  private locateNow(x: unknown): Record<string, unknown> | undefined {
    if (!this.directReads || typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
    const h = x as Record<string, unknown>;
    if (h.mapVersion !== this.maps.map.version || h.holesAsZero !== true || h.migrate === true || typeof h.oid !== 'string') return undefined;
    const target = this.ownTarget(h.target), cont = checkCont(h.cont);
    const store = this.stores.cached(target, cont), dataFile = this.stores.dataFile(target);
    if (store === undefined || dataFile === undefined) return undefined;
    const epoch = epochOf(h.epoch), unit = h.oid;
    if (h.fresh !== undefined) this.checkFresh(FETCH_ARRAY, cont, unit, h, epoch); // (refused: the read sent on its own reports it)
    if (h.txRead !== undefined) this.checkTxRead(cont, epoch);
    if (this.tx.blocking(cont, epoch, unit).length) return undefined;
    const located = locateFetch(store as unknown as ShardStore, h, dataFile);
    if (located === undefined) return undefined;
    if (epoch < READ_TS_LIMIT && typeof h.dkey === 'string' && typeof h.akey === 'string') this.reads.recordValue(cont, unit, h.dkey, h.akey, epoch);
    return located;
  }

  /** A shard request planned with map `version` finished (see `inflight`, `syncMap`). */
  private requestDone(version: number): void {
    const n = (this.inflight.get(version) ?? 1) - 1;
    if (n === 0) this.inflight.delete(version); else this.inflight.set(version, n);
    this.requestsDone.notify();
  }

  private async handleMany(req: RpcRequest): Promise<RpcReply> {
    if (req.method === ENGINE_METHODS.batch) {
      const { items, notices } = decodeBatchFrame(req.header, req.payload);
      // (a batch's commit notices travel in its table since protocol 4: applied before its items,
      // as handle() applies a header's `commits` for other methods)
      if (notices !== undefined) this.commits.applyNotices(notices);
      // Every item is admitted in this synchronous stretch: their log records go out in one write.
      // Single-value updates the fast path admits are applied together (`applyBatch`); the rest
      // go their own way.
      const results: Array<PromiseSettledResult<RpcReply>> = [];
      // (each other item's outcome is taken as it settles: a rejection waiting unhandled while the
      // fast writes are applied would count as an unhandled rejection)
      let others: Array<Promise<void>> | undefined;
      let fast: FastWrite[] | undefined;
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        results.push(PENDING);
        if (it.method === UPDATE_SINGLE) {
          let w: FastWrite | undefined;
          try {
            w = this.admitNow(i, it.header, it.payload);
          } catch (err) {
            results[i] = { status: 'rejected', reason: err };
            continue;
          }
          if (w !== undefined) { (fast ??= []).push(w); continue; }
        } else if (it.method === FETCH_SINGLE) {
          let r: RpcReply | undefined;
          try {
            r = this.serveGetNow(it.header);
          } catch (err) {
            results[i] = { status: 'rejected', reason: err };
            continue;
          }
          if (r !== undefined) { results[i] = { status: 'fulfilled', value: r }; continue; }
        }
        (others ??= []).push(this.handleOne(it.method, it.header, it.payload).then(
          (value) => { results[i] = { status: 'fulfilled', value }; },
          (reason: unknown) => { results[i] = { status: 'rejected', reason }; }));
      }
      if (fast !== undefined) await this.applyBatch(fast, results);
      if (others !== undefined) await Promise.all(others);
      return encodeBatchReply(results);
    }
    return this.handleOne(req.method, req.header, req.payload);
  }

  /**
   * A single-value read of a batch answered in the batch's synchronous stretch (fresh's ask 1,
   * session 26: a turn's reads come as one batch of reads), or undefined when it needs the general
   * path (another map version, a rebuild read, a store not open, a prepared write to wait for, a
   * value the store reads asynchronously). The checks of `handleShard` and `serveShard`'s read
   * branch, in its order: freshness window, read timestamp recorded, prepared writes. Nothing
   * awaits, so it is not counted in `inflight`. Checks that fail throw.
   */
  private serveGetNow(h: Record<string, unknown>): RpcReply | undefined {
    if (h.mapVersion !== this.maps.map.version || h.migrate === true || typeof h.oid !== 'string' || h.epoch === undefined) return undefined;
    const target = this.ownTarget(h.target), cont = checkCont(h.cont);
    const store = this.stores.cached(target, cont);
    if (store === undefined) return undefined;
    const epoch = epochOf(h.epoch), unit = h.oid;
    if (h.fresh !== undefined) this.checkFresh(FETCH_SINGLE, cont, unit, h, epoch);
    if (h.txRead !== undefined) this.checkTxRead(cont, epoch);
    if (epoch < READ_TS_LIMIT && typeof h.dkey === 'string' && typeof h.akey === 'string') this.reads.recordValue(cont, unit, h.dkey, h.akey, epoch);
    // (the general path then records it again, harmless, and waits)
    if (this.tx.blocking(cont, epoch, unit).length) return undefined;
    return serveFetchSingleNow(h, store as unknown as ShardStore);
  }

  /**
   * A value update (item `i` of a batch) admitted on the fast path, with the checks of
   * `handleShard` and `serveShard` inline (see `serveWriteNow`), and counted in `inflight` under
   * its map version; undefined when it needs the general path. Checks that fail throw.
   */
  private admitNow(i: number, h: Record<string, unknown>, payload: Uint8Array | undefined): FastWrite | undefined {
    const version = h.mapVersion;
    if (version !== this.maps.map.version || h.migrate === true || h.epoch === undefined || this.tx.full) return undefined;
    const target = this.ownTarget(h.target), cont = checkCont(h.cont);
    const store = this.stores.cached(target, cont) as unknown as ShardStore | undefined;
    if (store === undefined) return undefined;
    const p = this.admitWrite('update', cont, h.oid !== undefined ? String(h.oid) : undefined, epochOf(h.epoch), h, target);
    this.inflight.set(version, (this.inflight.get(version) ?? 0) + 1);
    return { i, p, h, payload, store, target, cont, version };
  }

  /**
   * Apply the admitted single-value updates of a batch as `applyAdmitted` does one, together: each
   * is marked prepared in its store and applied in one synchronous stretch (the store's
   * `markPrepared` and `updateSingleNow`; those that must wait are awaited together), then
   * acknowledged once its commit's P (or DONE) record is logged. Each write's outcome
   * goes to `results[w.i]`. Measured against one `applyAdmitted` per item: no async frame, await
   * or promise per write of a batch (counted in the commit that made it).
   */
  private async applyBatch(ws: FastWrite[], results: Array<PromiseSettledResult<RpcReply>>): Promise<void> {
    // 1. Applied, each noted prepared in its store (the epoch's first write there carries the
    // mark in its own update record), each acknowledged once its P/DONE record is logged. A write
    // its store must wait for (a durable store's sync, room in its log) is not awaited before the
    // next is applied: a durable engine's stores then sync a batch's writes in one group each, not
    // one sync per write in turn (measured: 1,234 puts/s, 17 context switches per put). Each
    // write's P/DONE record still waits for its own store's write to complete.
    const acks: Array<Promise<void> | undefined> = [];
    const replies: RpcReply[] = [];
    let waits: Array<Promise<void>> | undefined;
    for (let k = 0; k < ws.length; k++) {
      const w = ws[k]!;
      let r: RpcReply | Promise<RpcReply>;
      try {
        // (the epoch admitNow parsed, not the header's text again: fresh 69d0e55)
        r = serveUpdateNow(UPDATE_SINGLE, w.h, w.payload, w.store, true, w.p.epoch);
      } catch (err) {
        this.writeFailed(w, err, results);
        continue;
      }
      if (r instanceof Promise) {
        (waits ??= []).push(r.then((reply) => { this.writeApplied(k, w, reply, acks, replies, results); }, (err: unknown) => { this.writeFailed(w, err, results); }));
      } else {
        this.writeApplied(k, w, r, acks, replies, results);
      }
    }
    if (waits !== undefined) await Promise.all(waits);
    // 2. Acknowledged once logged (the P/DONE records of a batch share a group write, usually).
    let ackSeen: Promise<void> | undefined, ackErr: unknown, ackFailed = false;
    for (let k = 0; k < ws.length; k++) {
      const a = acks[k];
      if (a === undefined) continue;
      const w = ws[k]!;
      if (a !== ackSeen) {
        ackSeen = a; ackFailed = false;
        try { await a; } catch (err) { ackFailed = true; ackErr = err; }
      }
      this.requestDone(w.version);
      results[w.i] = ackFailed ? { status: 'rejected', reason: ackErr } : { status: 'fulfilled', value: replies[k]! };
    }
  }

  /** `applyBatch`: write `k` is in its store; its P/DONE record goes to the log (unless its commit is being aborted). */
  private writeApplied(k: number, w: FastWrite, reply: RpcReply, acks: Array<Promise<void> | undefined>, replies: RpcReply[], results: Array<PromiseSettledResult<RpcReply>>): void {
    if (w.p.aborting) {
      // (as in `applyAdmitted`: the write of a commit being aborted must not count as done)
      this.writeFailed(w, abortedWhileApplied(w.p), results);
      return;
    }
    acks[k] = this.tx.applied(w.p);
    replies[k] = reply;
  }

  /** `applyBatch`: write `w` failed (or its commit is being aborted); its outcome is `err`. */
  private writeFailed(w: FastWrite, err: unknown, results: Array<PromiseSettledResult<RpcReply>>): void {
    this.tx.failed(w.p);
    this.requestDone(w.version);
    results[w.i] = { status: 'rejected', reason: err };
  }

  private handleOne(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined): Promise<RpcReply> {
    if (method === UPDATE_SINGLE || method === UPDATE_ARRAY) {
      try {
        const r = this.serveWriteNow(method, h, payload);
        if (r !== undefined) return r;
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (SHARD_METHODS.includes(method)) return this.handleShard(method, h, payload);
    return this.handleControl(method, h);
  }

  /** The engine methods (commit protocol, locks, watch, map sync, target admin). */
  private async handleControl(method: string, h: Record<string, unknown>): Promise<RpcReply> {
    switch (method) {
      case ENGINE_METHODS.txNotice: return { header: {} }; // its notices were applied by `handle`
      // (checked here, not in `handleOne`: its comparison there, inlined into the batch handler,
      // deoptimised `handleMany` at a served engine's first request of another method, "wrong
      // instance type", --trace-deopt-verbose, 4 of 4 engines)
      case ENGINE_METHODS.batch: throw new CairnError('NET_PROTOCOL', 'a batch cannot hold a batch');
      case ENGINE_METHODS.txResolve: return { header: { decision: await this.commits.resolveAsCoordinator(checkCont(h.cont), epochOf(h.epoch), ranksOf(h.ranks)) } };
      case ENGINE_METHODS.txSeal: return { header: { state: await this.commits.sealLocal(checkCont(h.cont), epochOf(h.epoch)) } };
      case ENGINE_METHODS.txDecide: {
        const d = h.decision === 'commit' ? 'commit' : 'abort';
        for (const x of batchPairs(h.items)) await this.commits.applyDecision(checkCont(x[0]), epochOf(x[1]), d);
        return { header: {} };
      }
      case ENGINE_METHODS.txValidate: return this.validate(h);
      case ENGINE_METHODS.lockAcquire: {
        const { key, owner } = lockArgs(h);
        await this.locks.acquire(`${checkCont(h.cont)}/${key}`, owner, Number(h.ttlMs) || LOCK_TTL_MS, LOCK_WAIT_MS);
        return { header: {} };
      }
      case ENGINE_METHODS.lockRelease: { const { key, owner } = lockArgs(h); this.locks.release(`${checkCont(h.cont)}/${key}`, owner); return { header: {} }; }
      case ENGINE_METHODS.watchFreeze: {
        const cont = checkCont(h.cont);
        if (h.follower !== undefined) {
          // (a watch's follower: its cursor holds aggregation back until it asks again, stops or lapses: watch-holds.ts)
          if (typeof h.follower !== 'string' || !FOLLOWER_ID.test(h.follower)) throw badArg('a watch follower is 1..64 hex digits');
          if (h.release === true) { this.watchHolds.release(cont, h.follower); return { header: {} }; }
          this.watchHolds.note(cont, h.follower, epochOf(h.after), Date.now());
        }
        return this.freeze(cont, epochOf(h.upTo), epochOf(h.after), h.raise === true);
      }
      case ENGINE_METHODS.syncMap: return this.syncMap(Number(h.version));
      case ENGINE_METHODS.wipeTarget: await this.wipeTarget(this.ownTarget(h.target)); return { header: {} };
      case ENGINE_METHODS.removeStore: await this.stores.removeContainer(this.ownTarget(h.target), checkCont(h.cont)); return { header: {} };
      case ENGINE_METHODS.info: return { header: { rank: this.rank, targets: this.targetIds, mapVersion: this.mapVersion, pool: this.meta.uuid, spaceUsed: this.stores.spaceUsed(this.targetIds), prepared: this.tx.size, vos: this.stores.counters(this.targetIds) } };
      default: throw new CairnError('NET_PROTOCOL', `unknown method ${method}`, { method });
    }
  }

  /** A shard method: check the map version and target, then serve it (counted per map version for syncMap). */
  private handleShard(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined): Promise<RpcReply> {
    const version = Number(h.mapVersion);
    if (!Number.isInteger(version)) return Promise.reject(badArg('shard requests carry the pool map version'));
    if (version > this.mapVersion) return this.reloadMaps().then(() => this.handleShard(method, h, payload));
    if (version < this.mapVersion) return Promise.reject(new CairnError('STALE_MAP', `pool map version ${version} is stale; the engine has ${this.mapVersion}`, { version: this.mapVersion }));
    let target: number, cont: string;
    try { target = this.ownTarget(h.target); cont = checkCont(h.cont); } catch (err) { return Promise.reject(err); }
    this.inflight.set(version, (this.inflight.get(version) ?? 0) + 1);
    return this.serveCounted(method, h, payload, target, cont, version);
  }

  /** `serveShard`, counted in `inflight` under the map version it was planned with. */
  private async serveCounted(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, target: number, cont: string, version: number): Promise<RpcReply> {
    try {
      return await this.serveShard(method, h, payload, target, cont);
    } finally {
      this.requestDone(version);
    }
  }

  /**
   * Serve one shard call. A write of a commit is admitted synchronously (before the first await:
   * the checks and the prepared pair are one step), marked prepared in its store and applied,
   * and acknowledged once its commit's P (or, on this engine alone, DONE) record is logged.
   */
  private async serveShard(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, target: number, cont: string): Promise<RpcReply> {
    const epoch = h.epoch !== undefined ? epochOf(h.epoch) : undefined;
    const unit = h.oid !== undefined ? String(h.oid) : undefined;
    const kind = SHARD_WRITE_KIND[method];
    if (method === 'shard.discard') return this.serveDiscard(method, h, payload, target, cont);
    if (kind !== undefined && epoch !== undefined && h.migrate !== true) {
      // Rebuild copies (`migrate`) rewrite versions committed long ago: never prepared.
      if (this.tx.full) {
        const deadline = Date.now() + PREPARED_ROOM_WAIT_TX_TIMEOUTS * this.opts.txTimeoutMs;
        while (this.tx.full) await this.tx.waitForRoom(Math.max(0, deadline - Date.now()));
      }
      const p = this.admitWrite(kind, cont, unit, epoch, h, target);
      return this.applyAdmitted(p, method, h, payload, this.stores.cached(target, cont) as unknown as ShardStore | undefined, target, cont, undefined);
    }
    if (SHARD_READ_METHODS.has(method) && epoch !== undefined) {
      if (h.fresh !== undefined) this.checkFresh(method, cont, unit, h, epoch);
      if (h.txRead !== undefined) this.checkTxRead(cont, epoch);
      // Remember what was read at which epoch (not the read-modify-write reads of everything
      // applied so far, nor rebuild's): a write arriving later may not slip under it. Recorded
      // before waiting for the prepared writes at or below the epoch: a write admitted while the
      // read waits (another client's retry, at an epoch of its own clock below this one) would
      // otherwise be neither waited for nor refused, and the read would miss it — a lost update
      // of read-modify-write transactions (test/engine/tx-conflict).
      if (epoch < READ_TS_LIMIT && h.migrate !== true) {
        const k = readKey(method, cont, unit, h);
        if (k) this.reads.record(k, epoch);
      }
      for (let waits = this.tx.blocking(cont, epoch, unit); waits.length; waits = this.tx.blocking(cont, epoch, unit)) await Promise.all(waits);
    }
    if (method === 'shard.aggregate') {
      // Kept at or below the cursor of every live watch() consumer (any client's: watch-holds.ts),
      // and noted before anything is merged (a transaction's read that ends after it is refused).
      let upTo = epochOf(h.upTo);
      const held = this.watchHolds.floor(cont, Date.now());
      if (held !== undefined && held < upTo) { upTo = held; h.upTo = upTo.toString(); }
      this.aggregated.note(cont, upTo, Array.isArray(h.keep) ? h.keep.map(epochOf) : []);
    }
    const reply = await serveShardCall(method, h, payload, (this.stores.cached(target, cont) ?? await this.stores.container(target, cont)) as unknown as ShardStore);
    return h.txRead !== undefined && epoch !== undefined && SHARD_READ_METHODS.has(method) ? this.txReadDone(cont, epoch, reply) : reply;
  }

  /**
   * The `reply` of a transaction's read that went through an await, unless an aggregation that
   * passed its epoch was noted while it read (what it read may be merged already): then
   * TX_RESTART as `checkTxRead`, a buffer the reply was lent going back.
   */
  private txReadDone(cont: string, epoch: bigint, reply: RpcReply): RpcReply {
    if (this.aggregated.exact(cont, epoch)) return reply;
    reply.sent?.();
    throw this.txReadRefused(cont, epoch);
  }

  /**
   * Apply an admitted write `p` (to `store`, or the store opened then), its epoch marked prepared
   * in the store first, and acknowledge it once its commit's P (or DONE) record is logged; a failure leaves `p`
   * incomplete. Shared by the write fast path (`serveWriteNow`, which passes the map `version` the
   * request was counted under: it is marked done here, with no promise of its own) and `serveShard`.
   */
  private async applyAdmitted(p: Prepared, method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, store: ShardStore | undefined, target: number, cont: string, version: number | undefined): Promise<RpcReply> {
    try {
      let reply: RpcReply;
      try {
        const st = store ?? (this.stores.cached(target, cont) ?? await this.stores.container(target, cont)) as unknown as ShardStore;
        // (the mark goes into the store's log before the write: a write that survives a crash names its epoch)
        const mark = (st as unknown as ContainerStore).markPrepared(p.epoch);
        if (mark !== undefined) await mark;
        reply = await (method === UPDATE_SINGLE || method === UPDATE_ARRAY ? serveUpdate(method, h, payload, st) : serveShardCall(method, h, payload, st));
      } catch (err) {
        this.tx.failed(p);
        throw err;
      }
      if (p.aborting) {
        // Its commit is being aborted (abandoned, or settled as incomplete): the write must not count as done.
        this.tx.failed(p);
        throw abortedWhileApplied(p);
      }
      await this.tx.applied(p);
      return reply;
    } finally {
      if (version !== undefined) this.requestDone(version);
    }
  }

  /**
   * A value update of a commit sent on its own, or an array update of a batch (a batch's
   * single-value updates go through `applyBatch`), admitted in one synchronous stretch
   * (`admitNow`: the checks of `handleShard` and `serveShard` inline), then
   * `applyAdmitted` (the write path runs two async frames instead of four: handleShard ->
   * serveCounted -> serveShard -> serveShardCall). Undefined when the write needs the general
   * path: another map version, a rebuild copy (`migrate`), no epoch, no room among the prepared
   * writes, a store not open yet. Checks that fail throw, as on the general path.
   */
  private serveWriteNow(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined): Promise<RpcReply> | undefined {
    const w = this.admitNow(0, h, payload);
    if (w === undefined) return undefined;
    return method === UPDATE_SINGLE ? this.applyOne(w) : this.applyAdmitted(w.p, method, h, payload, w.store, w.target, w.cont, w.version);
  }

  /**
   * A single-value update sent on its own, applied as a batch of one (`applyBatch`): its P (or
   * DONE) record is appended in the request's synchronous stretch, with the D records of the
   * notices its header carried, so both go in one tx.log write. Through `applyAdmitted`, whose
   * apply is awaited first, the notices' group was written at the next microtask and the P record
   * in a second write (strace of a qd1 put's engine: two pwrites per request, 93 and 164 bytes).
   */
  private async applyOne(w: FastWrite): Promise<RpcReply> {
    const results: Array<PromiseSettledResult<RpcReply>> = [PENDING];
    await this.applyBatch([w], results);
    const r = results[0]!;
    assert(r !== PENDING, 'applyBatch settles every write it is given');
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }

  /**
   * A discard. Of one epoch (`after` = E - 1, `upTo` = E): a client abandoning its commit — abort
   * it here first, unless it committed or a resolver sealed it (then nothing is discarded: the
   * commit stands). Of a range (rollback): every prepared epoch in it is aborted first.
   */
  private async serveDiscard(method: string, h: Record<string, unknown>, payload: Uint8Array | undefined, target: number, cont: string): Promise<RpcReply> {
    const after = epochOf(h.after);
    const upTo = h.upTo !== undefined && h.upTo !== null ? epochOf(h.upTo) : undefined;
    const store = (await this.stores.container(target, cont)) as unknown as ShardStore;
    if (upTo !== undefined && upTo === after + 1n) {
      if (!(await this.commits.abandon(cont, upTo))) return { header: { maxEpoch: String(store.queryMaxEpoch()), kept: true } };
    } else {
      for (const p of this.tx.within(cont, after, upTo ?? (1n << 64n))) await this.commits.abortLocally(p);
    }
    return serveShardCall(method, h, payload, store);
  }

  /**
   * Admit a write of a client's commit at `epoch` to target `target` (id) and mark it prepared.
   * Synchronous on purpose: the checks and the prepared mark are one step, with no await in between.
   */
  private admitWrite(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string | undefined, epoch: bigint, h: Record<string, unknown>, target: number): Prepared {
    assert(!this.tx.full, 'a write is admitted only with room among the prepared writes');
    if (epoch <= this.startFloor && !this.tx.get(cont, epoch)) {
      throw new CairnError('STALE_EPOCH', `epoch ${epoch} is older than this engine's start; retry at a later epoch`, { epoch: this.startFloor.toString() });
    }
    const frozen = this.frozen.get(cont);
    if (frozen !== undefined && epoch <= frozen) {
      throw new CairnError('STALE_EPOCH', `epoch ${epoch} is at or below ${frozen}, which a watcher has frozen; retry at a later epoch`, { epoch: frozen.toString() });
    }
    const dk = typeof h.dkey === 'string' ? h.dkey : undefined, ak = typeof h.akey === 'string' ? h.akey : undefined;
    // A write may not land at or below an epoch at which anything it changes was already read
    // (a value, or a listing above it): the client retries at a fresh epoch above it.
    const read = unit !== undefined ? this.writeStampFloor(kind, cont, unit, dk, ak) : undefined;
    if (read !== undefined && read >= epoch) throw new CairnError('STALE_EPOCH', `epoch ${epoch} is at or below a read already served at ${read}; retry at a later epoch`, { epoch: read.toString() });
    // Optimistic concurrency across clients: a transaction that read at txRead may not write
    // over (or under) a write someone else made after that.
    // The levels the write changes (a malformed request, which serving refuses, records nothing).
    const wd = kind === 'punchObject' ? undefined : dk, wa = kind === 'punchObject' || kind === 'punchDkey' ? undefined : ak;
    const known = unit !== undefined && (kind === 'punchObject' || (wd !== undefined && (kind === 'punchDkey' || wa !== undefined)));
    if (known && h.txRead !== undefined) {
      const last = this.writes.lastWrite(cont, unit, wd, wa);
      if (last > BigInt(String(h.txRead)) && last !== epoch) {
        throw new ObjectError('TX_RESTART', 'transaction conflicts with a write committed after it read; retry it', { epoch: epoch.toString() });
      }
    } else if (known && h.fresh !== undefined) this.checkFreshWrite(cont, unit, wd, wa, epoch, h.fresh);
    // (the epoch's text as the request carried it: `epochOf` checked its digits; its own target's bit)
    const p = this.tx.admit(cont, epoch, txDescriptor(h.tx, this.rank), unit, this.targetBits.get(target) ?? ALL_TARGETS, h.epoch as string);
    if (known) this.writes.record(cont, unit, wd, wa, epoch, kind !== 'update');
    return p;
  }

  /**
   * A write "now" (`fresh`: the top of its uncertainty window, a decimal epoch above `epoch`) to
   * (cont, unit, dk, ak) that this engine holds another client's write to at an epoch in (epoch,
   * fresh] is refused with STALE_EPOCH and that write's epoch: the other write may have been
   * acknowledged before this one began, and landing below it would leave it in force (a punch below
   * an update it followed would not hide it). The client commits again above it, keeping its
   * window (`CommitInfo.firstEpoch`). What the write conflicts with is what `lastWrite` answers for
   * its key: writes at or below it and punches of it or above. A write of the same client (the
   * epoch's clock slot in its low bits) is passed over: its clock orders its own writes, and one it
   * made at a higher epoch began after this one. The writers' side of `checkFresh`.
   */
  private checkFreshWrite(cont: string, unit: string, dk: string | undefined, ak: string | undefined, epoch: bigint, fresh: unknown): void {
    const top = epochOf(fresh);
    if (top <= epoch) return;
    const last = this.writes.lastWrite(cont, unit, dk, ak);
    if (last > epoch && last <= top && last % CLOCK_SLOT_SPAN !== epoch % CLOCK_SLOT_SPAN) {
      throw new CairnError('STALE_EPOCH', `a write at epoch ${last} to what this write changes may have been acknowledged before the write at ${epoch} began; write again above it`, { epoch: last.toString(), uncertain: true });
    }
  }

  /**
   * The newest read a write of `kind` to (cont, unit, dk, ak) must stay above: the read stamps of
   * the key it changes (the object for a punch of it, the dkey for a punch of a dkey, the akey for
   * an update or a punch of an akey), undefined when the write names no such key.
   */
  private writeStampFloor(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string, dk: string | undefined, ak: string | undefined): bigint | undefined {
    switch (kind) {
      case 'punchObject': return this.reads.floorOf(cont, unit);
      case 'punchDkey': return dk === undefined ? undefined : this.reads.floorOf(cont, unit, dk);
      default: return dk === undefined || ak === undefined ? undefined : this.reads.floorOf(cont, unit, dk, ak);
    }
  }

  /**
   * A read "now" (`fresh`: the top of its uncertainty window, a decimal epoch above `epoch`)
   * that this engine holds a write for, to what the read depends on, at an epoch in
   * (epoch, fresh] is answered STALE_EPOCH with that write's epoch (`info.uncertain`): the write
   * may have been acknowledged before the read began (the writer's clock ahead of the reader's,
   * or the same millisecond with logical and slot bits above the reader's epoch), so the reader
   * reads again at a "now" at or above it (the container's `retryStale` moves its clock there). A
   * write above `fresh` began after the read did. What the read depends on: the akey (a value,
   * `akeyKind`, `listRecx`), the dkey (`listAkeys`) or the object (`listDkeys`), each with the
   * punches above it (`WriteEpochs.lastWrite`), or the container (`listObjects`: its newest write
   * anywhere, `WriteEpochs.lastInContainer`). Prepared writes count as well as decided ones: a commit across engines is
   * acknowledged before its participants hear the decision. The retry keeps its first `fresh`, so
   * the window shrinks and the retries end. The DAOS way of freshness across clients
   * (docs/scale.md, "What is left"); clients send `fresh` once the object layer says which reads
   * are "now" (until then commit-wait, src/net/connected.ts, gives the guarantee).
   */
  private checkFresh(method: string, cont: string, unit: string | undefined, h: Record<string, unknown>, epoch: bigint): void {
    const top = epochOf(h.fresh);
    if (top <= epoch) return;
    const dk = typeof h.dkey === 'string' ? h.dkey : undefined, ak = typeof h.akey === 'string' ? h.akey : undefined;
    let last: bigint;
    if (method === 'shard.listObjects') last = this.writes.lastInContainer(cont);
    else if (unit === undefined) return;
    else if (method === 'shard.listDkeys') last = this.writes.lastWrite(cont, unit);
    else if (method === 'shard.listAkeys') { if (dk === undefined) return; last = this.writes.lastWrite(cont, unit, dk); }
    else { if (dk === undefined || ak === undefined) return; last = this.writes.lastWrite(cont, unit, dk, ak); }
    if (last > epoch && last <= top) {
      throw new CairnError('STALE_EPOCH', `a write at epoch ${last} to what this read depends on may have been acknowledged before the read at ${epoch} began; read again at or above it`, { epoch: last.toString(), uncertain: true });
    }
  }

  /**
   * A transaction's read (one carrying `txRead`, its read epoch, which is the read's epoch) at an
   * epoch an aggregation of the container passed without keeping it, or from before this engine
   * started: what the epoch saw may be merged away, so the read is refused (TX_RESTART) rather than
   * answered wrongly, and the transaction runs again at a newer epoch (aggregation-floors.ts).
   */
  private checkTxRead(cont: string, epoch: bigint): void {
    if (!this.aggregated.exact(cont, epoch)) throw this.txReadRefused(cont, epoch);
  }

  /** The TX_RESTART of a transaction's read at `epoch` of `cont` that is no longer exact (`checkTxRead`). */
  private txReadRefused(cont: string, epoch: bigint): CairnError {
    return new ObjectError('TX_RESTART', `epoch ${epoch} was aggregated past (or is from before this engine started): what a transaction read there may be merged away; run it again`, { epoch: epoch.toString(), floor: this.aggregated.floorOf(cont).toString() });
  }

  /**
   * Keys a transaction only read, checked at its commit (`{ cont, txRead, epoch, keys: [{ u, d?, a? }] }`):
   * an akey it fetched, a dkey whose akeys it listed (no `a`) or a unit object whose dkeys it
   * listed (neither). TX_RESTART when anyone wrote at or below one after `txRead` (or punched
   * above it); otherwise each is stamped as read at `epoch - 1`, so no write can land between the
   * read and the commit from now on.
   */
  private validate(h: Record<string, unknown>): RpcReply {
    const cont = checkCont(h.cont);
    const txRead = epochOf(h.txRead), epoch = epochOf(h.epoch);
    if (!Array.isArray(h.keys) || h.keys.length > MAX_VALIDATE_KEYS) throw badArg(`a validation checks 1..${MAX_VALIDATE_KEYS} keys`);
    const keys = h.keys.map((x: unknown) => {
      const k = x as { u?: unknown; d?: unknown; a?: unknown };
      const level = typeof k?.u === 'string' && /^\d{1,60}$/.test(k.u) && (k.d === undefined ? k.a === undefined : typeof k.d === 'string' && (k.a === undefined || typeof k.a === 'string'));
      if (!level) throw badArg('validation keys are { u: unit oid, d?: dkey, a?: akey } (base64 keys; an akey only with its dkey)');
      return { u: k.u as string, d: k.d as string | undefined, a: k.a as string | undefined };
    });
    for (const k of keys) {
      if (this.writes.lastWrite(cont, k.u, k.d, k.a) > txRead) {
        throw new ObjectError('TX_RESTART', 'a key the transaction read or listed was written after it read; retry it', { epoch: epoch.toString() });
      }
    }
    // (a value read stamps its akey; a listing its dkey or object, as a served listing does)
    for (const k of keys) {
      if (k.a !== undefined) this.reads.recordValue(cont, k.u, k.d!, k.a, epoch - 1n);
      else this.reads.record(k.d !== undefined ? [cont, k.u, k.d] : [cont, k.u], epoch - 1n);
    }
    return { header: {} };
  }

  private ownTarget(t: unknown): number {
    const id = Number(t);
    if (!this.targetIds.includes(id)) throw new CairnError('WRONG_ENGINE', `target ${String(t)} is not served by rank ${this.rank}`, { target: t, rank: this.rank });
    return id;
  }

  /** Every later request planned with an older map is refused; wait for the ones in flight. */
  private async syncMap(version: number): Promise<RpcReply> {
    if (version > this.mapVersion) await this.reloadMaps();
    await this.requestsDone.until(() => ![...this.inflight.keys()].some((v) => v < version), {
      timeoutMs: SYNC_MAP_TIMEOUT_MS, what: `requests planned with pool maps older than ${version} to finish`, info: { version },
    });
    return { header: { mapVersion: this.mapVersion } };
  }

  private async wipeTarget(t: number): Promise<void> {
    await this.stores.wipe(t);
    this.log(`target ${t} wiped for reintegration`);
  }

  /**
   * A watcher freezes (cont, ≤ upTo): later writes at or below it are refused (STALE_EPOCH, the
   * writer recommits above), prepared writes at or below it are waited for, and the commits in
   * (after, upTo] this engine took part in are returned — once every engine answered, that set
   * of commits is final. The commits survive a restart of the engine (its transaction log).
   * `raise` (a snapshot's first round): `upTo` is raised to the highest epoch this engine holds a
   * write of for the container, and the reply's `upTo` says where it froze (no events then).
   */
  private async freeze(cont: string, upTo: bigint, after: bigint, raise = false): Promise<RpcReply> {
    if (raise) { const m = this.tx.maxEpoch(cont); if (m > upTo) upTo = m; }
    const cur = this.frozen.get(cont);
    if (cur === undefined || upTo > cur) this.frozen.set(cont, upTo);
    const waits = this.tx.blocking(cont, upTo, undefined);
    if (waits.length) await Promise.all(waits);
    if (raise) return { header: { upTo: upTo.toString() } };
    const events = this.tx.commitsIn(cont, after, upTo).map((e) => ({ epoch: e.epoch.toString(), objects: e.objects }));
    return { header: { events, lagged: this.tx.historyStart(cont) > after } };
  }

  private peer(rank: number): RpcClient {
    const rec = this.registered.get(rank);
    if (!rec) throw new CairnError('NET_UNREACHABLE', `no engine is serving rank ${rank}`, { rank });
    let c = this.peers.get(rec.address);
    if (!c) {
      const localPath = this.opts.tls ? undefined : localPathOf(rec);
      c = new RpcClient({ address: rec.address, secret: this.secret, ...(this.opts.tls ? { tls: { ca: this.opts.tls.ca } } : {}), ...(localPath ? { localPath } : {}) });
      this.peers.set(rec.address, c);
    }
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
    await this.shutdown();
    await this.etcd.close().catch(swallow('engine.close-etcd'));
  }

  /** Everything `close` does but closing the etcd client (a failed start still undoes its join through it). */
  private async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const t of this.excludeTimers.values()) clearTimeout(t);
    // Closing: every step runs even if an earlier one fails; failures are counted, not thrown.
    await this.leaderPool?.close().catch(swallow('engine.close-leader-pool'));
    await this.resign?.().catch(swallow('engine.close-resign'));
    for (const s of this.stops) await s().catch(swallow('engine.close-stop-watch'));
    await this.server?.close().catch(swallow('engine.close-server'));
    this.tx.flushSettles();
    await this.lease?.revoke().catch(swallow('engine.close-revoke-lease'));
    for (const c of this.peers.values()) await c.close().catch(swallow('engine.close-peer-client'));
    await this.stores.close();
    this.tx.close();
  }
}

/** STALE_EPOCH for a write applied while its commit was being aborted here (the client retries above). */
function abortedWhileApplied(p: Prepared): CairnError {
  return new CairnError('STALE_EPOCH', `epoch ${p.epoch} was aborted on this engine while the write was applied; retry at a later epoch`, { epoch: p.epoch.toString() });
}

function inService(state: string): boolean { return state === 'UPIN' || state === 'UP' || state === 'NEW' || state === 'DRAIN'; }

function isUuid(s: string): boolean { return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s); }

function lockArgs(h: Record<string, unknown>): { key: string; owner: string } {
  if (typeof h.key !== 'string' || h.key.length === 0 || h.key.length > 1024 || typeof h.owner !== 'string' || h.owner.length === 0 || h.owner.length > 128) throw badArg('lock requests carry a key and an owner');
  return { key: h.key, owner: h.owner };
}

function ranksOf(v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_ENGINES_PER_TX) throw badArg('ranks must be a non-empty list of rank numbers');
  // (a loop, not `every` with a closure: every shard write of a commit carries its ranks)
  for (let i = 0; i < v.length; i++) { const r: unknown = v[i]; if (!Number.isInteger(r) || (r as number) < 0) throw badArg('ranks must be a non-empty list of rank numbers'); }
  return v as number[];
}

/** The commit descriptor of a write (`tx` header), or undefined when absent or malformed. */
function txDescriptor(v: unknown, rank: number): TxDescriptor | undefined {
  const d = v as { ranks?: unknown; n?: unknown } | undefined;
  if (!d || typeof d !== 'object' || !Number.isInteger(d.n) || (d.n as number) < 1 || (d.n as number) > 1 << 20) return undefined;
  const ranks = ranksOf(d.ranks);
  if (!ranks.includes(rank)) throw badArg(`a write names participants ${ranks.join(',')} without this engine (rank ${rank})`);
  return { ranks, n: d.n as number };
}

function epochOf(v: unknown): bigint {
  if (typeof v !== 'string' || !isEpochText(v)) throw badArg(`epoch expected as a decimal string, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

function batchPairs(v: unknown): Array<[unknown, unknown]> {
  if (!Array.isArray(v) || v.length > TX_BATCH_MAX || !v.every((x) => Array.isArray(x) && x.length === 2)) throw badArg(`a batch holds up to ${TX_BATCH_MAX} [container, epoch] pairs`);
  return v as Array<[unknown, unknown]>;
}

/** Container uuids already checked (most recent `MAX_CHECKED_CONTAINERS`), so a request skips the pattern match. */
const checkedConts = new Set<string>();
const MAX_CHECKED_CONTAINERS = 4096;

function checkCont(c: unknown): string {
  if (typeof c === 'string' && checkedConts.has(c)) return c;
  if (typeof c !== 'string' || !isUuid(c)) throw badArg(`container uuid expected, got ${JSON.stringify(c)}`);
  if (checkedConts.size >= MAX_CHECKED_CONTAINERS) checkedConts.clear();
  checkedConts.add(c);
  return c;
}


/** The read-stamp key a read method depends on (see read-stamps.ts). */
function readKey(method: string, cont: string, unit: string | undefined, h: Record<string, unknown>): StampKey | undefined {
  if (method === 'shard.listObjects') return [cont];
  if (unit === undefined) return undefined;
  if (method === 'shard.listDkeys') return [cont, unit];
  if (typeof h.dkey !== 'string') return undefined;
  if (method === 'shard.listAkeys') return [cont, unit, h.dkey];
  return typeof h.akey === 'string' ? [cont, unit, h.dkey, h.akey] : undefined;
}

/** Parse `host:port` (`INVALID_ARGUMENT` otherwise). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = typeof listen === 'string' ? /^(.+):(\d{1,5})$/.exec(listen) : null;
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw badArg(`--listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}
