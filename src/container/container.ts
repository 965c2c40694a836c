/**
 * A container: a versioned namespace of objects inside a pool, with its own epochs, snapshots,
 * transactions and commit journal. Every commit (a single update or a whole transaction) gets one
 * epoch and becomes visible atomically: reads without an explicit epoch read at the *stable epoch*,
 * the highest epoch below which every commit has been fully applied on every target, so a reader
 * never sees half a commit, and a crash mid-commit is rolled back on open through the journal.
 */
import { EventEmitter } from 'node:events';
import type { ContainerStorage, CommitEvent } from './storage.js';
import { EpochClock, HLC_LOGICAL_BITS } from './epoch-clock.js';
import { commitContext } from '../common/commit-context.js';
import { ConflictTracker, conflictKey } from './conflicts.js';
import type { Op } from './ops.js';
import { KeyedMutex, KeyedRwLock } from '../common/keyed-mutex.js';
import { hex, toBytes } from '../common/bytes.js';
import { ObjectError, badArg } from '../object/errors.js';
import type { ShardStore } from '../object/shard-store.js';
import { unitOid } from '../object/shard-store.js';
import type { IoContext, ShardWrite, ShardPlan, Redundancy, EcCodec } from '../object/io.js';
import { planSingle, planArray, groupShards, isPartialStripe } from '../object/io.js';
import type { PoolRuntime } from '../pool/runtime.js';
import { CairnObject, type ObjectOptions } from '../object/object.js';
import { KeyValue } from '../object/kv.js';
import { ArrayObject, type ArrayOptions } from '../object/array.js';
import { Transaction } from './tx.js';
import { throwIfAborted, assert } from '../../core/errors.js';
import { xxh64 } from '../../core/xxhash.js';
import { makeObjectId, objectClassOf, toObjectClass, dkeyGroup, resolveGroups, type ObjectClass } from '../../placement/index.js';

/** Container properties fixed at creation. */
export interface ContainerProps {
  /** Default object class of objects created without one (e.g. `EC_4P2G1`). */
  oclass: string;
  /** Number of fault domains that may fail with no data loss; classes below it are refused. */
  redundancyFactor: number;
  /** EC cell size in bytes (array data per data shard per stripe). */
  cellSize: number;
  /** End-to-end checksums (always on in the store; kept for DAOS compatibility of the property). */
  checksum: boolean;
  /** Reed-Solomon matrix every EC object of the container is encoded with (readers decode with it). */
  ecMatrix?: 'vandermonde' | 'cauchy';
}

/** A named snapshot: reads at `epoch` see the container exactly as it was then. */
export interface Snapshot { name: string; epoch: bigint }

export type { CommitEvent } from './storage.js';

/** Persisted container metadata. */
export interface ContainerMeta {
  uuid: string;
  label: string;
  props: ContainerProps;
  snapshots: Array<{ name: string; epoch: string }>;
  createdAt: string;
  /** Objects a rebuild could not restore (hex oids): they fail with DATA_LOST until punched. */
  lost?: string[];
}

export { CONTAINER_META_MAGIC, JOURNAL_COMPACT_BYTES } from './storage.js';
/** Largest number of commit events kept in memory for `watch()` consumers that lag behind. */
export const MAX_WATCH_HISTORY = 65_536;
/** Largest number of shard I/Os one commit keeps in flight. */
export const MAX_COMMIT_CONCURRENCY = 64;
/** Commits between two prunings of the conflict tracker. */
const PRUNE_EVERY = 1024;
/** Attempts of an operation that meets a pool map changed under it (connected pools). */
export const MAX_STALE_MAP_RETRIES = 8;
/** Default EC cell size. */
export const DEFAULT_CELL_SIZE = 64 * 1024;

/** Fault domains an object class can lose without losing data (p for EC, n-1 for RP_n, 0 for S). */
export function failuresTolerated(cls: ObjectClass): number {
  return cls.kind === 'ec' ? cls.parityShards : cls.kind === 'replicated' ? cls.replicas - 1 : 0;
}

/** Throw RF_VIOLATION when `cls` survives fewer failed domains than `redundancyFactor`. */
export function checkRedundancy(cls: ObjectClass, redundancyFactor: number): void {
  const tolerates = failuresTolerated(cls);
  if (tolerates < redundancyFactor) {
    throw new ObjectError('RF_VIOLATION', `object class ${cls.name} survives ${tolerates} failed domain(s), below the redundancy factor ${redundancyFactor}`, { oclass: cls.name, redundancyFactor });
  }
}

/** Options of a read: an explicit epoch or a snapshot (by name or object), else the stable epoch. */
export interface ReadOptions { epoch?: bigint; snapshot?: string | Snapshot; signal?: AbortSignal }

/**
 * A container handle. Obtain one from `pool.createContainer` / `pool.openContainer`.
 */
export class Container {
  private readonly clock: EpochClock;
  private readonly inflight = new Set<bigint>();
  private readonly locks = new KeyedMutex();
  private readonly objLocks = new KeyedRwLock();
  private readonly conflicts = new ConflictTracker();
  private readonly activeTx = new Map<Transaction, bigint>();
  private readonly events = new EventEmitter();
  private readonly history: CommitEvent[] = [];
  private readonly pendingEvents = new Map<bigint, CommitEvent>();
  private barrier: Promise<void> | null = null;
  private commitsSincePrune = 0;
  private closed = false;
  private emittedUpTo: bigint;

  /** @internal use `pool.openContainer`. */
  constructor(
    private readonly rt: PoolRuntime,
    private meta: ContainerMeta,
    private readonly storage: ContainerStorage,
    floor: bigint,
  ) {
    this.clock = new EpochClock(floor, rt.now, rt.clockSlot);
    this.emittedUpTo = floor;
    this.events.setMaxListeners(0);
    storage.onMetaChange?.((m) => { this.meta = m as ContainerMeta; });
  }

  /** Open (or finish creating) a container's runtime: replays its commit record and repairs torn commits. */
  static async load(rt: PoolRuntime, meta: ContainerMeta, storage: ContainerStorage): Promise<Container> {
    const { floor, torn, done } = storage.recover();
    const c = new Container(rt, meta, storage, floor);
    // Roll back commits that never finished: the process died between INTENT and DONE.
    for (const { epoch, targets } of torn) {
      await Promise.all(targets.map(async (t) => {
        const store = await c.store(t).catch(() => undefined);
        if (store) await store.discard(epoch - 1n, epoch);
      }));
      await storage.abort(epoch, { targets, objects: [], recovered: true });
    }
    // Every target may hold epochs above the journal's (a journal reset): never reuse them.
    await c.observeTargetEpochs();
    c.emittedUpTo = c.clock.current;
    for (const ev of done.slice(-MAX_WATCH_HISTORY)) c.history.push(ev);
    if (storage.needsCompaction()) c.compactJournal();
    return c;
  }

  /** Move the epoch clock past the highest epoch any target holds. */
  private async observeTargetEpochs(): Promise<void> {
    await Promise.all(this.rt.map().targets.map(async (t) => {
      const store = await this.peekStore(t.id);
      if (store) this.clock.observe((await (store as { refreshMaxEpoch?: () => Promise<bigint> }).refreshMaxEpoch?.().catch(() => undefined)) ?? store.queryMaxEpoch());
    }));
  }

  /**
   * @internal run `fn` again (up to MAX_STALE_MAP_RETRIES times) when an engine says the pool map
   * it was planned with is stale: the pool refreshes its map first. Embedded pools never see it.
   */
  async retryStale<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'STALE_EPOCH' && attempt < MAX_STALE_MAP_RETRIES) {
          // An engine already served a read at or above our epoch: move the clock past it (HLC).
          const seen = (err as { info?: { epoch?: string } }).info?.epoch;
          if (seen && /^\d+$/.test(seen)) this.clock.observe(BigInt(seen));
          continue;
        }
        if (code !== 'STALE_MAP' || attempt >= MAX_STALE_MAP_RETRIES || !this.rt.refreshMap) throw err;
        await this.rt.refreshMap();
      }
    }
  }

  /** Container label. */
  get label(): string { return this.meta.label; }
  /** Container UUID. */
  get uuid(): string { return this.meta.uuid; }
  /** Container properties. */
  get props(): Readonly<ContainerProps> { return this.meta.props; }

  /**
   * The highest epoch at which the container is consistent: every commit at or below it is
   * fully applied. Reads default to it.
   */
  stableEpoch(): bigint {
    // Connected pools: other clients commit too, so "now" follows physical time (engines hold a
    // read back until any prepared write at or below its epoch is decided).
    if (this.rt.clockSlot !== undefined) this.clock.observe(BigInt(Math.floor(this.rt.now())) << HLC_LOGICAL_BITS);
    if (this.inflight.size === 0) return this.clock.current;
    let min = -1n;
    for (const e of this.inflight) if (min < 0n || e < min) min = e;
    return min - 1n;
  }

  // ------------------------------------------------------------------ handles

  /** An object handle by object id or by name (names hash to ids); `oclass` defaults to the container's. */
  object(oidOrName: bigint | string, opts: ObjectOptions = {}): CairnObject {
    this.checkOpen();
    return new CairnObject(this, this.resolveOid(oidOrName, opts.oclass), opts);
  }

  /** A key-value object: put/get/remove/list on string or byte keys. */
  kv(name: string | bigint, opts: ObjectOptions = {}): KeyValue {
    return new KeyValue(this.object(name, opts));
  }

  /** A byte array object with chunked layout, for values larger than memory. */
  array(name: string | bigint, opts: ArrayOptions & ObjectOptions = {}): ArrayObject {
    return new ArrayObject(this.object(name, opts), opts);
  }

  /** Start a transaction; its reads see the container at the current stable epoch plus its own writes. */
  beginTx(): Transaction {
    this.checkOpen();
    const tx = new Transaction(this, this.stableEpoch());
    this.activeTx.set(tx, tx.readEpoch);
    return tx;
  }

  /** @internal the object id for a handle. */
  resolveOid(oidOrName: bigint | string, oclass?: string | ObjectClass): bigint {
    if (typeof oidOrName === 'bigint') {
      const cls = objectClassOf(oidOrName);
      this.checkClass(cls);
      return oidOrName;
    }
    if (typeof oidOrName !== 'string' || oidOrName.length === 0) throw badArg('object name must be a non-empty string or an object id');
    const cls = toObjectClass(oclass ?? this.meta.props.oclass);
    this.checkClass(cls);
    const name = toBytes(oidOrName);
    const lo = (xxh64(name, 0x6f6964n) << 32n) | (xxh64(name, 0x6e616d65n) & 0xffffffffn);
    // GX objects fix their group count at creation, so later pool growth does not re-layout them.
    return makeObjectId(lo, cls, cls.groups === 'X' ? { groups: resolveGroups(cls, this.rt.map()) } : {});
  }

  /** Refuse classes that cannot survive the container's redundancy factor. */
  private checkClass(cls: ObjectClass): void { checkRedundancy(cls, this.meta.props.redundancyFactor); }

  // ------------------------------------------------------------------ reads

  /** @internal resolve read options to an epoch. */
  readEpoch(opts: ReadOptions = {}): bigint {
    throwIfAborted(opts.signal);
    if (opts.epoch !== undefined && opts.snapshot !== undefined) throw badArg('give epoch or snapshot, not both');
    if (opts.epoch !== undefined) {
      if (typeof opts.epoch !== 'bigint' || opts.epoch < 0n) throw badArg('epoch must be a non-negative bigint');
      return opts.epoch;
    }
    if (opts.snapshot !== undefined) {
      const name = typeof opts.snapshot === 'string' ? opts.snapshot : opts.snapshot.name;
      const s = this.meta.snapshots.find((x) => x.name === name);
      if (!s) throw new ObjectError('NOT_FOUND', `no snapshot named ${name}`, { snapshot: name });
      return BigInt(s.epoch);
    }
    return this.stableEpoch();
  }

  /** @internal the layout groups of an object and its redundancy. */
  layout(oid: bigint): { groups: number[][]; red: Redundancy; cls: ObjectClass } {
    const cls = objectClassOf(oid);
    const groups = this.rt.layout(oid);
    return { groups, red: cls, cls };
  }

  /** Every object id this container has written (a superset of the objects that hold data). */
  listObjects(): bigint[] { this.checkOpen(); return this.storage.listObjects(); }

  /** @internal reload object ids other clients recorded (connected pools), and the epoch clock. */
  async refreshObjects(): Promise<void> {
    await this.storage.refreshObjects?.();
    await this.observeTargetEpochs();
  }

  /** @internal record objects that a rebuild could not restore. */
  async markLost(oids: bigint[]): Promise<void> {
    const set = new Set(this.meta.lost ?? []);
    for (const o of oids) set.add(o.toString(16));
    this.meta.lost = [...set];
    await this.saveMeta();
  }

  /** Whether `oid` was lost to failures beyond its redundancy (reads fail with DATA_LOST). */
  isLost(oid: bigint): boolean { return this.meta.lost?.includes(oid.toString(16)) ?? false; }

  /** @internal throw DATA_LOST for a lost object. */
  checkNotLost(oid: bigint): void {
    if (this.isLost(oid)) throw new ObjectError('DATA_LOST', `object ${oid.toString(16)} was lost to more failures than its class survives; punch it to reuse it`, { oid: oid.toString(16) });
  }

  /** @internal shards of `oid` a pending rebuild/rebalance moves: shard index -> new target. */
  movedShards(oid: bigint): ReadonlyMap<number, number> { return this.rt.moved(oid); }

  /** @internal the group of a dkey. */
  groupOf(groups: number[][], dkey: Uint8Array): number { return dkeyGroup(dkey, groups.length); }

  /** @internal the I/O context for the data path. */
  io(): IoContext {
    return {
      store: (t) => this.store(t),
      available: (t) => this.rt.available(t),
      codec: (k, p): EcCodec => this.rt.codec(k, p, this.meta.props.ecMatrix ?? 'vandermonde'),
      matrixId: (this.meta.props.ecMatrix ?? 'vandermonde') === 'cauchy' ? 2 : 1,
      cellSize: this.meta.props.cellSize,
      reportBadShard: (info) => this.rt.reportBadShard({ ...info, container: this.meta.uuid }),
    };
  }

  /** @internal the store of target `t` for this container (opened lazily). */
  store(t: number): Promise<ShardStore> {
    this.checkOpen();
    return this.rt.store(t, this.meta.uuid);
  }

  /**
   * Open this container's store on every in-service target now (they are otherwise opened on
   * first use), so the first I/O does not pay for replaying or creating target files.
   */
  async openTargets(): Promise<void> {
    await Promise.all(this.rt.map().targets.filter((t) => this.rt.writable(t.id)).map(async (t) => {
      const s = await this.store(t.id);
      // A remote store opens on its engine at the first request: make that request now.
      await (s as { refreshMaxEpoch?: () => Promise<bigint> }).refreshMaxEpoch?.();
    }));
  }

  /** @internal the store of `t` only when it exists on disk (does not create it). */
  private async peekStore(t: number): Promise<ShardStore | undefined> {
    if (!this.rt.available(t) || !this.rt.storeExists(t, this.meta.uuid)) return undefined;
    return this.rt.store(t, this.meta.uuid).catch(() => undefined);
  }

  // ------------------------------------------------------------------ commits

  /**
   * @internal commit `ops` atomically at one new epoch. With `check`, refuse with TX_RESTART when
   * any key read or written was committed by someone else after `check.readEpoch`.
   */
  async commit(ops: Op[], check?: { readEpoch: bigint; keys: Iterable<string> }, signal?: AbortSignal): Promise<bigint> {
    return this.retryStale(() => this.commitOnce(ops, check, signal));
  }

  private async commitOnce(ops: Op[], check?: { readEpoch: bigint; keys: Iterable<string> }, signal?: AbortSignal): Promise<bigint> {
    this.checkOpen();
    throwIfAborted(signal);
    while (this.barrier) await this.barrier;
    if (ops.length === 0) return this.stableEpoch();
    // Writes to one dkey are serialised (EC read-modify-write needs it). Every commit holds its
    // objects shared, an object punch holds its object exclusively, so a punch never interleaves
    // with a read-modify-write of the same object. Object locks come first, each set in sorted
    // order, so concurrent commits cannot deadlock.
    const objs = [...new Set(ops.map((o) => o.oid.toString(16)))];
    const punched = new Set(ops.filter((o) => o.kind === 'punchObject').map((o) => o.oid.toString(16)));
    const lockKeys = [...new Set(ops.filter((o) => 'dkey' in o).map((o) => `${o.oid.toString(16)}/${hex((o as { dkey: Uint8Array }).dkey)}`))];
    return this.objLocks.with(objs.filter((o) => !punched.has(o)), [...punched], () => this.locks.withLocks(lockKeys, async () => {
      if (check) {
        for (const k of check.keys) {
          if (this.conflicts.conflicts(k, check.readEpoch)) {
            throw new ObjectError('TX_RESTART', 'transaction conflicts with a concurrent commit; retry it', { key: k });
          }
        }
      }
      for (const op of ops) if (op.kind !== 'punchObject') this.checkNotLost(op.oid);
      // Connected pools: partial-stripe EC writes also serialise with other clients' (engine locks).
      const unlock = await this.lockStripes(ops);
      try {
        return await this.commitLocked(ops, check?.readEpoch);
      } finally {
        await unlock();
      }
    }));
  }

  /** Take the cross-client locks of the dkeys whose EC stripes `ops` rewrite in part (sorted: no deadlock). */
  private async lockStripes(ops: Op[]): Promise<() => Promise<void>> {
    if (!this.rt.lockDkey) return async () => {};
    const want = new Map<string, number[]>();
    for (const op of ops) {
      if (op.kind !== 'array') continue;
      const { groups, red } = this.layout(op.oid);
      if (!isPartialStripe(red, this.meta.props.cellSize, op.offset, op.data.length)) continue;
      want.set(`${op.oid.toString(16)}/${hex(op.dkey)}`, groups[this.groupOf(groups, op.dkey)]!);
    }
    const releases: Array<() => Promise<void>> = [];
    const releaseAll = async () => { for (const r of releases.splice(0).reverse()) await r().catch(() => {}); };
    try {
      for (const key of [...want.keys()].sort()) releases.push(await this.rt.lockDkey(this.meta.uuid, key, want.get(key)!));
    } catch (err) {
      await releaseAll();
      throw err;
    }
    return releaseAll;
  }

  private async commitLocked(ops: Op[], txRead?: bigint): Promise<bigint> {
    {
      const epoch = this.clock.next();
      assert(!this.inflight.has(epoch) && epoch > this.emittedUpTo, 'commit epochs are unique and above every published epoch', { epoch: String(epoch) });
      this.inflight.add(epoch);
      const releases: Array<() => void> = [];
      try {
        const writes: ShardWrite[] = [];
        const io = this.io();
        for (const op of ops) {
          const plan = await this.planOp(io, op, epoch);
          if (plan.release) releases.push(plan.release);
          writes.push(...plan);
        }
        const targets = [...new Set(writes.map((w) => w.target))].sort((a, b) => a - b);
        const objects = [...new Set(ops.map((o) => o.oid.toString(16)))];
        await this.storage.addObjects(ops.map((o) => o.oid));
        await this.storage.intent(epoch, { targets, objects });
        try {
          const apply = () => runBounded(writes, MAX_COMMIT_CONCURRENCY, async (w) => w.apply(await this.store(w.target), epoch));
          await (txRead !== undefined ? commitContext.run({ readEpoch: txRead }, apply) : apply());
          await this.storage.done(epoch, { targets, objects });
        } catch (err) {
          await Promise.all(targets.map(async (t) => { try { await (await this.store(t)).discard(epoch - 1n, epoch); } catch { /* target gone: nothing visible */ } }));
          await this.storage.abort(epoch, { targets, objects });
          throw err;
        }
        if (this.meta.lost?.length && ops.some((o) => o.kind === 'punchObject' && this.isLost(o.oid))) {
          this.meta.lost = this.meta.lost.filter((x) => !ops.some((o) => o.kind === 'punchObject' && o.oid.toString(16) === x));
          await this.saveMeta();
        }
        for (const op of ops) this.conflicts.record(opKey(op), epoch, op.kind.startsWith('punch'));
        if (++this.commitsSincePrune >= PRUNE_EVERY) { this.commitsSincePrune = 0; this.pruneConflicts(); }
        this.pendingEvents.set(epoch, { epoch, objects: objects.map((o) => BigInt('0x' + o)) });
        return epoch;
      } finally {
        for (const r of releases) r();
        this.inflight.delete(epoch);
        this.flushEvents();
      }
    }
  }

  /** Plan one op's shard writes (EC read-modify-write happens here, under the dkey lock). */
  private async planOp(io: IoContext, op: Op, epoch: bigint): Promise<ShardPlan> {
    const { groups, red } = this.layout(op.oid);
    const moved = this.rt.moved(op.oid);
    // Writes reach the stable target of every shard that accepts writes, plus the new target of
    // shards a rebuild or rebalance is moving (so the move never misses a concurrent write).
    const live = (ws: ShardPlan): ShardPlan => {
      const out: ShardPlan = ws.filter((w) => this.rt.writable(w.target));
      out.release = ws.release;
      for (const w of ws) {
        const to = moved.get(w.shard);
        if (to !== undefined && to !== w.target && this.rt.writable(to)) out.push({ ...w, target: to });
      }
      return out;
    };
    const all = (fn: (s: ShardStore, shard: number) => Promise<void>, gs: number[]) =>
      live(gs.flatMap((g) => groupShards(groups, g)).map(({ shard, target }): ShardWrite => ({ target, shard, apply: (s) => fn(s, shard) })));
    const checkWritable = (ws: ShardPlan, g: number): ShardPlan => {
      // The group must keep enough healthy shards to read the value back: k for EC (untouched
      // cells on healthy targets still hold valid data), one replica otherwise.
      const need = red.kind === 'ec' ? red.dataShards : 1;
      const healthy = groupShards(groups, g).filter((x) => this.rt.available(x.target)).length;
      if (healthy < need) ws.release?.();
      if (healthy < need) throw new ObjectError('DATA_LOST', `object ${op.oid.toString(16)}: group ${g} has ${healthy} healthy shard(s), needs ${need}`, { oid: op.oid.toString(16), group: g });
      return ws;
    };
    switch (op.kind) {
      case 'single': {
        const g = this.groupOf(groups, op.dkey);
        return checkWritable(live(planSingle(io, red, groups, g, op.oid, op.dkey, op.akey, op.value, epoch)), g);
      }
      case 'array': {
        const g = this.groupOf(groups, op.dkey);
        return checkWritable(live(await planArray(io, red, groups, g, op.oid, op.dkey, op.akey, op.offset, op.data)), g);
      }
      case 'punchObject':
        return all((s, shard) => s.punchObject(epoch, unitOid(op.oid, shard)), groups.map((_, g) => g));
      case 'punchDkey':
        return all((s, shard) => s.punchDkey(epoch, unitOid(op.oid, shard), op.dkey), [this.groupOf(groups, op.dkey)]);
      case 'punchAkey':
        return all((s, shard) => s.punchAkey(epoch, unitOid(op.oid, shard), op.dkey, op.akey), [this.groupOf(groups, op.dkey)]);
    }
  }

  /** Publish commit events in epoch order once they are at or below the stable epoch. */
  private flushEvents(): void {
    const stable = this.stableEpoch();
    const ready = [...this.pendingEvents.keys()].filter((e) => e <= stable).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const e of ready) {
      const ev = this.pendingEvents.get(e)!;
      this.pendingEvents.delete(e);
      this.history.push(ev);
      if (this.history.length > MAX_WATCH_HISTORY + 1024) this.history.splice(0, this.history.length - MAX_WATCH_HISTORY);
      this.emittedUpTo = e;
      this.events.emit('commit', ev);
    }
  }

  // ------------------------------------------------------------------ snapshots, rollback, aggregation

  /** Take a snapshot of the current stable state; returns `{ name, epoch }`. */
  async snapshot(name?: string, opts: { signal?: AbortSignal } = {}): Promise<Snapshot> {
    this.checkOpen();
    throwIfAborted(opts.signal);
    const epoch = this.stableEpoch();
    const n = name ?? `snap-${epoch}`;
    if (typeof n !== 'string' || n.length === 0 || n.length > 255) throw badArg('snapshot name must be 1..255 characters');
    if (this.meta.snapshots.some((s) => s.name === n)) throw new ObjectError('EXISTS', `snapshot ${n} already exists`, { snapshot: n });
    this.meta.snapshots.push({ name: n, epoch: epoch.toString() });
    await this.saveMeta();
    return { name: n, epoch };
  }

  /** Every snapshot, oldest first. */
  listSnapshots(): Snapshot[] {
    return this.meta.snapshots.map((s) => ({ name: s.name, epoch: BigInt(s.epoch) })).sort((a, b) => (a.epoch < b.epoch ? -1 : a.epoch > b.epoch ? 1 : 0));
  }

  /** Forget a snapshot (its versions become reclaimable by `aggregate`). */
  async destroySnapshot(snapshot: string | Snapshot): Promise<void> {
    this.checkOpen();
    const name = typeof snapshot === 'string' ? snapshot : snapshot.name;
    const i = this.meta.snapshots.findIndex((s) => s.name === name);
    if (i < 0) throw new ObjectError('NOT_FOUND', `no snapshot named ${name}`, { snapshot: name });
    this.meta.snapshots.splice(i, 1);
    await this.saveMeta();
  }

  /**
   * Return the container to a snapshot: everything committed after it is discarded on every
   * target (later snapshots are dropped too). Waits for in-flight commits first.
   */
  async rollback(snapshot: string | Snapshot, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    const epoch = this.readEpoch({ snapshot, signal: opts.signal });
    await this.exclusive(async () => {
      this.storage.rollback(this.clock.next(), epoch);
      for (const t of this.rt.map().targets) {
        const s = await this.peekStore(t.id);
        if (s) await s.discard(epoch);
      }
      this.meta.snapshots = this.meta.snapshots.filter((s) => BigInt(s.epoch) <= epoch);
      await this.saveMeta();
      this.conflicts.recordGlobal(this.clock.current);
    });
  }

  /**
   * Reclaim space: merge versions that neither the current state, a snapshot nor an open
   * transaction can see any more.
   */
  async aggregate(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.checkOpen();
    if (this.storage.needsCompaction()) await this.exclusive(async () => this.compactJournal());
    const upTo = this.stableEpoch();
    const keep = [...this.listSnapshots().map((s) => s.epoch), ...this.activeTx.values()];
    for (const t of this.rt.map().targets) {
      throwIfAborted(opts.signal);
      const s = await this.peekStore(t.id);
      if (s) await s.aggregate(upTo, keep);
    }
  }

  // ------------------------------------------------------------------ watch

  /**
   * Committed epochs after `from`, in order, with the objects each touched; waits for new
   * commits. A consumer reading at an event's epoch sees a consistent snapshot. Producers never
   * wait for consumers: a consumer more than MAX_WATCH_HISTORY commits behind gets `WATCH_LAGGED`.
   */
  async *watch(opts: { from?: bigint; signal?: AbortSignal } = {}): AsyncGenerator<CommitEvent> {
    let cursor = opts.from ?? this.emittedUpTo;
    const signal = opts.signal;
    if (this.rt.followCommits) {
      // Connected pools: the commits of every client, from the engines, once final.
      for await (const ev of this.rt.followCommits(this.meta.uuid, cursor, signal)) {
        if (this.closed) return;
        yield ev;
      }
      return;
    }
    for (;;) {
      throwIfAborted(signal);
      if (this.closed) return;
      const first = this.history.findIndex((e) => e.epoch > cursor);
      if (first >= 0) {
        if (first === 0 && this.history.length >= MAX_WATCH_HISTORY && cursor < this.history[0]!.epoch - 1n && opts.from !== undefined && cursor !== opts.from) {
          throw new ObjectError('INVALID_ARGUMENT', 'watch consumer lagged behind the retained history', { code: 'WATCH_LAGGED' });
        }
        const ev = this.history[first]!;
        cursor = ev.epoch;
        yield ev;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = () => { this.events.off('commit', done); this.events.off('close', done); signal?.removeEventListener('abort', done); resolve(); };
        this.events.on('commit', done);
        this.events.on('close', done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  // ------------------------------------------------------------------ lifecycle

  /** @internal transactions report their end so their read epochs stop pinning versions. */
  txEnded(tx: Transaction): void {
    this.activeTx.delete(tx);
    this.pruneConflicts();
  }

  /**
   * Forget last-writer epochs no transaction can conflict with: a transaction's read epoch is at
   * least the stable epoch when it begins, so entries at or below min(stable, oldest open
   * transaction) are dead. Keeps the tracker bounded by the writes since the oldest open tx.
   */
  private pruneConflicts(): void {
    let oldest = this.stableEpoch();
    for (const e of this.activeTx.values()) if (e < oldest) oldest = e;
    this.conflicts.prune(oldest);
  }

  /**
   * @internal wait until no commit is in flight, then return the stable epoch: every later commit
   * was planned with the current pool map (used when a rebuild or rebalance starts).
   */
  async quiesce(): Promise<bigint> { return this.exclusive(async () => this.stableEpoch()); }

  /** Rewrite the journal to the retained watch history (no commit in flight). */
  private compactJournal(): void { this.storage.compact(this.history); }

  /** Run `fn` with no commit in flight and none starting. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.barrier) await this.barrier;
    let release!: () => void;
    this.barrier = new Promise<void>((r) => (release = r));
    try {
      while (this.inflight.size > 0) await new Promise((r) => setTimeout(r, 1));
      return await fn();
    } finally {
      this.barrier = null;
      release();
    }
  }

  private async saveMeta(): Promise<void> { await this.storage.saveMeta(this.meta); }

  /** Close the handle: waits for in-flight commits; later calls fail with POOL_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.exclusive(async () => { this.closed = true; });
    this.events.emit('close');
    await this.storage.close();
    this.rt.containerClosed(this);
  }

  private checkOpen(): void {
    if (this.closed || this.rt.closed) throw new ObjectError('POOL_CLOSED', `container ${this.meta.label} is closed`);
  }
}

function opKey(op: Op): string {
  switch (op.kind) {
    case 'punchObject': return conflictKey(op.oid);
    case 'punchDkey': return conflictKey(op.oid, hex(op.dkey));
    default: return conflictKey(op.oid, hex(op.dkey), hex(op.akey));
  }
}

/** Run `fn` over `items` with at most `limit` in flight; the first error wins after all settle. */
export async function runBounded<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  let firstErr: unknown;
  const worker = async () => {
    while (i < items.length) {
      const x = items[i++]!;
      try { await fn(x); } catch (err) { firstErr ??= err; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (firstErr !== undefined) throw firstErr;
}
