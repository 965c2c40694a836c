/**
 * A pool: many storage targets, grouped into fault domains by a pool map, holding containers.
 *
 * On disk a pool is a directory:
 *   pool.meta              record file "CAIRNPOL": uuid, per-target sizes, container list
 *   pool.map               the serialised pool map (its own magic, version and checksum)
 *   LOCK                   pid of the process that has the pool open
 *   targets/<t>/<cuuid>/   the versioned store (VOS) of container cuuid on target t
 *   containers/<cuuid>/    container metadata (snapshots) and commit journal
 */
import { join } from 'node:path';
import { mkdir, readdir, rm, readFile, writeFile, open as fsOpen } from 'node:fs/promises';
import { existsSync, statSync, readdirSync, unlinkSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { PoolMap, createPlacement, type Placement } from '../../placement/index.js';
import { createCodec, type Codec } from '../../ec/index.js';
import { initXxhash } from '../../core/xxhash.js';
import { CairnError, throwIfAborted } from '../../core/errors.js';
import { readJsonRecord, writeJsonRecord, writeFileAtomic } from '../common/record-file.js';
import { ObjectError, badArg } from '../object/errors.js';
import type { ShardStore } from '../object/shard-store.js';
import type { BadShard, PoolRuntime } from './runtime.js';
import { Container, DEFAULT_CELL_SIZE, type ContainerMeta, type ContainerProps } from '../container/container.js';
import { VosTarget } from '../vos/index.js';

const POOL_META_MAGIC = 'CAIRNPOL';
const POOL_META_VERSION = 1;
/** Most containers one pool holds. */
export const MAX_CONTAINERS = 4096;
/** Longest container label. */
export const MAX_LABEL_LENGTH = 127;
/** Layouts cached per pool map version. */
export const LAYOUT_CACHE_SIZE = 16_384;
/** Bad shards remembered for repair before the oldest are dropped (they are found again by scrub). */
export const MAX_BAD_SHARDS = 10_000;

/** Options of `Pool.create`. Sizes are per target; files are sparse. */
export interface PoolCreateOptions {
  nodes?: number;
  ranksPerNode?: number;
  targetsPerRank?: number;
  /** Size of each target's metadata (pmem-style) file. */
  scmBytes?: number;
  /** Size of each target's bulk data file. */
  dataBytes?: number;
}

/** Options of `Pool.open` (and of `Pool.create`). */
export interface PoolOpenOptions {
  /** Acknowledged writes also survive power loss (msync/fsync, group-committed). Default false. */
  durable?: boolean;
  /** Block I/O engine of the targets. Default 'auto' (io_uring when available). */
  io?: 'auto' | 'io_uring' | 'pread';
  /** Clock for epochs; inject for deterministic tests. */
  now?: () => number;
  signal?: AbortSignal;
}

/** Options of `pool.createContainer`. */
export interface ContainerCreateOptions {
  /** Default object class (default `EC_2P1GX` when the pool has >= 3 ranks, else `S1`). */
  oclass?: string;
  /** Failed fault domains the container must survive (default 0). */
  redundancyFactor?: number;
  /** EC cell size in bytes (default 64 KiB). */
  cellSize?: number;
  /** Checksums (always computed; default true). */
  checksum?: boolean;
}

interface PoolMeta {
  uuid: string;
  createdAt: string;
  scmBytes: number;
  dataBytes: number;
  containers: Array<{ label: string; uuid: string }>;
}

/** One target as `pool.query()` reports it. */
export interface TargetQuery {
  id: number; node: number; rank: number; state: string;
  /** Bytes allocated on disk by this target's stores. */
  spaceUsed: number;
  /** Configured capacity (scm + data) of this target. */
  spaceTotal: number;
}

/** What `pool.query()` returns. */
export interface PoolQuery {
  uuid: string;
  dir: string;
  mapVersion: number;
  targets: TargetQuery[];
  space: { used: number; total: number; free: number; scmBytes: number; dataBytes: number };
  containers: number;
  /** Shards found bad by reads, waiting for repair. */
  badShards: number;
  /** I/O engine in use by opened targets ('io_uring' or 'pread'), when known. */
  ioEngine?: string;
}

/**
 * A pool handle. `Pool.create(dir, ...)` makes a new pool; `Pool.open(dir)` opens one.
 */
export class Pool {
  private map_: PoolMap;
  private placement: Placement;
  private layoutCache = new Map<bigint, number[][]>();
  private codecs = new Map<string, Codec>();
  private stores = new Map<string, Promise<ShardStore>>();
  private containers = new Map<string, Container>();
  private badShards: BadShard[] = [];
  private closed_ = false;
  private ioEngine?: string;
  private readonly runtime: PoolRuntime;

  private constructor(readonly dir: string, private meta: PoolMeta, map: PoolMap, private readonly opts: PoolOpenOptions) {
    this.map_ = map;
    this.placement = createPlacement(layoutView(map), { algo: 'jump-map' });
    const self = this;
    this.runtime = {
      now: opts.now ?? Date.now,
      durable: opts.durable ?? false,
      get closed() { return self.closed_; },
      map: () => self.map_,
      layout: (oid) => self.layout(oid),
      available: (t) => self.available(t),
      codec: (k, p) => self.codec(k, p),
      store: (t, c) => self.store(t, c),
      storeExists: (t, c) => existsSync(join(self.dir, 'targets', String(t), c)),
      reportBadShard: (b) => { self.badShards.push(b); if (self.badShards.length > MAX_BAD_SHARDS) self.badShards.shift(); },
      containerClosed: (c) => { for (const [k, v] of self.containers) if (v === c) self.containers.delete(k); },
    };
  }

  /** Create a pool in `dir` (which must not hold a pool already). */
  static async create(dir: string, options: PoolCreateOptions & PoolOpenOptions = {}): Promise<Pool> {
    await initXxhash();
    const { nodes = 1, ranksPerNode = 2, targetsPerRank = 4, scmBytes = 64 * 1024 * 1024, dataBytes = 1024 * 1024 * 1024 } = options;
    for (const [k, v] of Object.entries({ scmBytes, dataBytes })) {
      if (!Number.isSafeInteger(v) || v < 1024 * 1024) throw badArg(`${k} must be an integer >= 1 MiB, got ${v}`);
    }
    const map = PoolMap.create({ nodes, ranksPerNode, targetsPerRank });
    if (existsSync(join(dir, 'pool.meta'))) throw new ObjectError('EXISTS', `a pool already exists in ${dir}`, { dir });
    await mkdir(join(dir, 'targets'), { recursive: true });
    await mkdir(join(dir, 'containers'), { recursive: true });
    for (const t of map.targets) await mkdir(join(dir, 'targets', String(t.id)), { recursive: true });
    await writeFileAtomic(join(dir, 'pool.map'), map.serialize());
    const meta: PoolMeta = { uuid: randomUUID(), createdAt: new Date().toISOString(), scmBytes, dataBytes, containers: [] };
    await writeJsonRecord(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, meta);
    return Pool.open(dir, options);
  }

  /** Open the pool in `dir`. Only one process may have a pool open (`POOL_BUSY` otherwise). */
  static async open(dir: string, options: PoolOpenOptions = {}): Promise<Pool> {
    await initXxhash();
    throwIfAborted(options.signal);
    if (!existsSync(join(dir, 'pool.meta'))) throw new ObjectError('NOT_FOUND', `no pool in ${dir}`, { dir });
    const meta = await readJsonRecord<PoolMeta>(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, 'pool metadata');
    const map = PoolMap.deserialize(new Uint8Array(await readFile(join(dir, 'pool.map'))));
    await takeLock(dir);
    return new Pool(dir, meta, map, options);
  }

  /** The current pool map (read-only view; change it with exclude/reintegrate/...). */
  get map(): PoolMap { return this.map_; }

  /** Targets, their states and space. */
  query(): PoolQuery {
    const perTarget = this.meta.scmBytes + this.meta.dataBytes;
    const targets = this.map_.targets.map((t) => ({
      id: t.id, node: t.node, rank: t.rank, state: t.state,
      spaceUsed: allocatedBytes(join(this.dir, 'targets', String(t.id))),
      spaceTotal: perTarget,
    }));
    const used = targets.reduce((n, t) => n + t.spaceUsed, 0);
    const total = perTarget * targets.length;
    return {
      uuid: this.meta.uuid, dir: this.dir, mapVersion: this.map_.version, targets,
      space: { used, total, free: Math.max(0, total - used), scmBytes: this.meta.scmBytes, dataBytes: this.meta.dataBytes },
      containers: this.meta.containers.length, badShards: this.badShards.length,
      ...(this.ioEngine ? { ioEngine: this.ioEngine } : {}),
    };
  }

  // ------------------------------------------------------------------ containers

  /** Create a container labelled `label` and return its open handle. */
  async createContainer(label: string, opts: ContainerCreateOptions = {}): Promise<Container> {
    this.checkOpen();
    checkLabel(label);
    if (this.meta.containers.some((c) => c.label === label)) throw new ObjectError('EXISTS', `container ${label} already exists`, { label });
    if (this.meta.containers.length >= MAX_CONTAINERS) throw badArg(`a pool holds at most ${MAX_CONTAINERS} containers`);
    const props: ContainerProps = {
      oclass: opts.oclass ?? (this.map_.rankCount >= 3 ? 'EC_2P1GX' : 'S1'),
      redundancyFactor: opts.redundancyFactor ?? 0,
      cellSize: opts.cellSize ?? DEFAULT_CELL_SIZE,
      checksum: opts.checksum ?? true,
    };
    if (!Number.isInteger(props.redundancyFactor) || props.redundancyFactor < 0 || props.redundancyFactor > 16) throw badArg('redundancyFactor must be an integer in 0..16');
    if (!Number.isInteger(props.cellSize) || props.cellSize < 512 || props.cellSize > 16 * 1024 * 1024) throw badArg('cellSize must be an integer in 512..16 MiB');
    // Validate the class (throws UNKNOWN_OBJECT_CLASS / RF_VIOLATION) before anything is written.
    const { toObjectClass } = await import('../../placement/index.js');
    const cls = toObjectClass(props.oclass);
    const tolerates = cls.kind === 'ec' ? cls.parityShards : cls.kind === 'replicated' ? cls.replicas - 1 : 0;
    if (tolerates < props.redundancyFactor) {
      throw new ObjectError('RF_VIOLATION', `object class ${cls.name} survives ${tolerates} failed domain(s), below redundancy factor ${props.redundancyFactor}`, { oclass: cls.name });
    }
    if (cls.groupSize > this.map_.rankCount && cls.groupSize > this.map_.targets.length) {
      throw badArg(`object class ${cls.name} needs ${cls.groupSize} targets, the pool has ${this.map_.targets.length}`);
    }
    props.oclass = cls.name;
    const meta: ContainerMeta = { uuid: randomUUID(), label, props, snapshots: [], createdAt: new Date().toISOString() };
    await Container.createMeta(join(this.dir, 'containers', meta.uuid), meta);
    this.meta.containers.push({ label, uuid: meta.uuid });
    await this.saveMeta();
    return this.openContainer(label);
  }

  /** Open the container labelled `label` (the same handle while it stays open). */
  async openContainer(label: string): Promise<Container> {
    this.checkOpen();
    const entry = this.meta.containers.find((c) => c.label === label);
    if (!entry) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    const open = this.containers.get(entry.uuid);
    if (open) return open;
    const dir = join(this.dir, 'containers', entry.uuid);
    const meta = await readJsonRecord<ContainerMeta>(join(dir, 'meta'), 'CAIRNCNT', 1, `container ${label} metadata`);
    const c = await Container.load(this.runtime, meta, dir);
    this.containers.set(entry.uuid, c);
    return c;
  }

  /** Labels and properties of every container. */
  async listContainers(): Promise<Array<{ label: string; uuid: string; props: ContainerProps }>> {
    this.checkOpen();
    const out = [];
    for (const c of this.meta.containers) {
      const meta = await readJsonRecord<ContainerMeta>(join(this.dir, 'containers', c.uuid, 'meta'), 'CAIRNCNT', 1, `container ${c.label} metadata`);
      out.push({ label: c.label, uuid: c.uuid, props: meta.props });
    }
    return out;
  }

  /** Destroy a container and all of its data. */
  async destroyContainer(label: string): Promise<void> {
    this.checkOpen();
    const i = this.meta.containers.findIndex((c) => c.label === label);
    if (i < 0) throw new ObjectError('NOT_FOUND', `no container labelled ${label}`, { label });
    const { uuid } = this.meta.containers[i]!;
    await this.containers.get(uuid)?.close();
    this.meta.containers.splice(i, 1);
    await this.saveMeta();
    for (const t of this.map_.targets) {
      const key = `${t.id}/${uuid}`;
      const s = this.stores.get(key);
      if (s) { this.stores.delete(key); await (await s.catch(() => undefined))?.close().catch(() => {}); }
      await rm(join(this.dir, 'targets', String(t.id), uuid), { recursive: true, force: true });
    }
    await Container.removeFiles(join(this.dir, 'containers', uuid));
  }

  // ------------------------------------------------------------------ pool map changes

  /** Mark a target DOWN: I/O continues degraded (its shards are rebuilt from redundancy on read). */
  async exclude(targetId: number): Promise<void> {
    this.checkOpen();
    this.map_.exclude(targetId);
    await this.mapChanged();
    const s = [...this.stores.entries()].filter(([k]) => k.startsWith(`${targetId}/`));
    for (const [k, p] of s) { this.stores.delete(k); (await p.catch(() => undefined))?.close().catch(() => {}); }
  }

  private async mapChanged(): Promise<void> {
    await writeFileAtomic(join(this.dir, 'pool.map'), this.map_.serialize());
    this.placement = createPlacement(layoutView(this.map_), { algo: 'jump-map' });
    this.layoutCache.clear();
  }

  /** Shards found bad by reads since open (oldest first), for repair. */
  get pendingRepairs(): readonly BadShard[] { return this.badShards; }

  // ------------------------------------------------------------------ runtime

  private layout(oid: bigint): number[][] {
    let l = this.layoutCache.get(oid);
    if (!l) {
      l = this.placement.layout(oid).groups.map((g) => [...g]);
      if (this.layoutCache.size >= LAYOUT_CACHE_SIZE) this.layoutCache.delete(this.layoutCache.keys().next().value!);
      this.layoutCache.set(oid, l);
    }
    return l;
  }

  private available(t: number): boolean {
    const st = this.map_.stateList[t];
    return st === 'UP' || st === 'UPIN' || st === 'NEW' || st === 'DRAIN';
  }

  private codec(k: number, p: number): Codec {
    const key = `${k}+${p}`;
    let c = this.codecs.get(key);
    if (!c) { c = createCodec({ dataShards: k, parityShards: p }); this.codecs.set(key, c); }
    return c;
  }

  private store(t: number, cuuid: string): Promise<ShardStore> {
    const key = `${t}/${cuuid}`;
    let s = this.stores.get(key);
    if (!s) {
      const tdir = join(this.dir, 'targets', String(t));
      if (!existsSync(tdir)) {
        return Promise.reject(new CairnError('MEDIA_MISSING_FILE', `target ${t} directory is missing`, { target: t }));
      }
      s = VosTarget.open(join(tdir, cuuid), {
        scmBytes: this.meta.scmBytes, dataBytes: this.meta.dataBytes, durable: this.opts.durable ?? false, io: this.opts.io ?? 'auto',
      }).then((v) => { this.ioEngine ??= v.ioEngine; return devShim(v as unknown as ShardStore); });
      s.catch(() => { if (this.stores.get(key) === s) this.stores.delete(key); });
      this.stores.set(key, s);
    }
    return s;
  }

  private async saveMeta(): Promise<void> {
    await writeJsonRecord(join(this.dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, this.meta);
  }

  /** Close every container and target, release the pool lock. */
  async close(): Promise<void> {
    if (this.closed_) return;
    for (const c of [...this.containers.values()]) await c.close();
    this.closed_ = true;
    for (const s of this.stores.values()) await (await s.catch(() => undefined))?.close().catch(() => {});
    this.stores.clear();
    for (const c of this.codecs.values()) (c as { dispose?: () => void }).dispose?.();
    try { unlinkSync(join(this.dir, 'LOCK')); } catch { /* already gone */ }
  }

  private checkOpen(): void {
    if (this.closed_) throw new ObjectError('POOL_CLOSED', 'pool is closed');
  }
}

/**
 * The map used for layouts: DOWN targets keep their place (their shards count as lost and are
 * rebuilt from redundancy on read) until rebuild moves them and marks them DOWNOUT.
 */
function layoutView(map: PoolMap): PoolMap {
  if (!map.stateList.some((s) => s === 'DOWN')) return map;
  const json = map.toJSON();
  const fix = (d: { children?: unknown[]; targets?: Array<{ id: number; state?: string }> }): void => {
    d.targets?.forEach((t) => { if (t.state === 'DOWN') t.state = 'UPIN'; });
    (d.children as typeof d[] | undefined)?.forEach(fix);
  };
  json.domains.forEach((d) => fix(d as never));
  return PoolMap.fromJSON(json);
}

function checkLabel(label: string): void {
  if (typeof label !== 'string' || !/^[A-Za-z0-9._-]{1,127}$/.test(label)) {
    throw badArg(`container label must be 1..${MAX_LABEL_LENGTH} characters of [A-Za-z0-9._-], got ${JSON.stringify(label)}`);
  }
}

/** Bytes allocated on disk below `dir` (sparse files count what they really use). */
function allocatedBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    let entries: string[];
    try { entries = readdirSync(d); } catch { return; }
    for (const e of entries) {
      const p = join(d, e);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p); else n += st.blocks * 512;
      } catch { /* raced with removal */ }
    }
  };
  walk(dir);
  return n;
}

async function takeLock(dir: string): Promise<void> {
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fsOpen(path, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new ObjectError('POOL_BUSY', `pool ${dir} is open in process ${pid}`, { dir, pid });
      }
      try { unlinkSync(path); } catch { /* someone else took it over */ }
    }
  }
  throw new ObjectError('POOL_BUSY', `could not lock pool ${dir}`, { dir });
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

void readdir; void writeFile;

// DEV SHIM (temporary): VOS takes u64 oids for now; hash wide unit oids into u64.
import { xxh64 as _h } from '../../core/xxhash.js';
function devShim(v: ShardStore): ShardStore {
  const m = (o: bigint) => { const b = new Uint8Array(24); const dv = new DataView(b.buffer); dv.setBigUint64(0, o & 0xffffffffffffffffn); dv.setBigUint64(8, (o >> 64n) & 0xffffffffffffffffn); dv.setBigUint64(16, o >> 128n); return _h(b); };
  return new Proxy(v, { get(t, k) {
    const f = (t as any)[k];
    if (typeof f !== 'function') return f;
    if (['updateSingle','updateArray','fetchSingle','fetchArray','punchDkey','punchAkey','listAkeys','listRecx'].includes(String(k))) return (e: bigint, o: bigint, ...r: unknown[]) => f.call(t, e, m(o), ...r);
    if (['punchObject','listDkeys'].includes(String(k))) return (e: bigint, o: bigint, ...r: unknown[]) => f.call(t, e, m(o), ...r);
    return f.bind(t);
  } });
}
