/**
 * The embedded pool: everything in one directory, opened by one process.
 *
 *   pool.meta              record file "CAIRNPOL" (format 2): uuid, per-target caps, container list
 *   pool.map               the serialised current pool map (its own magic, version and checksum)
 *   pool.map.stable        the map the data is laid out by
 *   rebuild.state          record file "CAIRNRBD": targets being refilled
 *   *.copy                 a second copy of each of the files above (one damaged copy is survived)
 *   LOCK                   pid of the process that has the pool open
 *   targets/<t>/           the target store of target t (vos.scm, vos.data): every container
 *   containers/<cuuid>/    container metadata (two copies) and commit journal
 */
import { join, resolve } from 'node:path';
import { mkdir, rm, readFile, open as fsOpen } from 'node:fs/promises';
import { existsSync, statSync, readdirSync, unlinkSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { totalmem } from 'node:os';
import { PoolMap } from '../../placement/index.js';
import { CairnError } from '../../core/errors.js';
import { swallowed } from '../../core/log.js';
import { readJsonRecordEither, writeJsonRecordTwice, writeFileTwice, writeFilesTwiceInOrder, encodeJsonRecord, readEither, writeFileAtomic, decodeJsonRecord, COPY_SUFFIX } from '../../core/record-file.js';
import { ObjectError, badArg } from '../io/errors.js';
import { makeDirs } from './create-guard.js';
import type { ShardStore } from '../io/shard-store.js';
import { TargetStore, ContainerStore, staggeredRotateFill } from '../vos/index.js';
import { PMEM_WINDOW_BYTES } from '../media/pmem-space.js';
import { LocalContainerStorage, ReadOnlyContainerStorage, CONTAINER_META_MAGIC, CONTAINER_META_VERSION, type ContainerStorage } from '../container/storage.js';
import type { ContainerMeta } from '../container/container.js';
import type { PoolBackend, PoolMaps, PoolMeta } from './backend.js';
import type { DamagedRanges } from './scrub.js';
import type { BlockDamage } from '../vos/index.js';

/**
 * Default memory the target stores of one pool keep resident (split among them), and the share a
 * new target's log regions are sized from (on disk for good: see `createTargetStore`).
 */
export const DEFAULT_POOL_CACHE_BYTES = 256 * 1024 * 1024;
/**
 * With the default cache (no `cacheBytes`), the target stores' verified-block caches grow with
 * their runs, up to this much for the whole pool (`TargetOptions.blockCacheMaxBytes`): a fixed
 * 256 MiB held ~650 B per replica record of 100 B values, and 100 B gets over 16 targets went
 * from 2.8-3.1 us of CPU per get at 151k objects to 7.5-8.8 at 201k (each get re-read and
 * re-verified a 4 KiB block). Memory grows only with blocks read. A quarter of the machine's
 * memory, at most 2 GiB, never below the default cache.
 */
export const DEFAULT_POOL_CACHE_MAX_BYTES = Math.max(DEFAULT_POOL_CACHE_BYTES, Math.min(2 * 1024 * 1024 * 1024, Math.floor(totalmem() / 4)));
/** Pools open in this process (the LOCK file guards against other processes). */
const openInProcess = new Set<string>();
const POOL_META_MAGIC = 'CAIRNPOL';
/** Format 2: one target store per target. Format 1 (one store per container per target) is refused. */
const POOL_META_VERSION = 2;
const REBUILD_MAGIC = 'CAIRNRBD';

/** Shape and sizes of a new embedded pool. */
export interface LocalPoolShape { nodes: number; ranksPerNode: number; targetsPerRank: number; scmBytes: number; dataBytes: number }

/** A pool directory. */
export class LocalBackend implements PoolBackend {
  /** A read-only open runs no rebuild: the writing process does. */
  get runsMigrations(): boolean { return this.opts.readOnly !== true; }
  ioEngine?: string;

  /** Target stores, opened on first use (a failed open is forgotten so the next use retries). */
  private readonly targets = new Map<number, Promise<TargetStore>>();
  /** Target stores that are open (for synchronous lookups). */
  private readonly opened = new Map<number, TargetStore>();
  /** The coalesced flushes of each open store (`flushTargets`). */
  private readonly flushes = new WeakMap<TargetStore, FlushGroup>();

  private constructor(readonly location: string, readonly meta: PoolMeta, private readonly opts: { durable: boolean; io: 'auto' | 'io_uring' | 'pread'; readOnly?: boolean; cacheBytes?: number }) {}

  /** Options every target store of this pool opens with. */
  private targetOptions(create: boolean) {
    const targets = readdirSync(join(this.location, 'targets')).length;
    const residentBytes = targetResidentBytes(this.opts.cacheBytes ?? DEFAULT_POOL_CACHE_BYTES, targets);
    // with the default cache, each store's block cache follows its data (see DEFAULT_POOL_CACHE_MAX_BYTES)
    const follow = this.opts.cacheBytes === undefined ? { blockCacheMaxBytes: Math.floor(DEFAULT_POOL_CACHE_MAX_BYTES / Math.max(1, targets)) } : {};
    // durable pools keep a redo journal per container: the stores sync at checkpoints (flushTargets), not per update
    return { scmBytes: this.meta.scmBytes, dataBytes: this.meta.dataBytes, durable: this.opts.durable, deferSync: this.redo, io: this.opts.io, readOnly: this.opts.readOnly, create, residentBytes, ...follow };
  }

  /** Whether the pool keeps redo journals (durable and writable): its target stores then sync only when flushed. */
  get redo(): boolean { return this.opts.durable && this.opts.readOnly !== true; }

  /**
   * Make every update, punch and discard acknowledged so far by the stores of `ids` (default: every
   * open target) durable: one flush per store, in parallel; callers arriving while a store flushes
   * share its next flush (so N concurrent callers cost at most two flushes per store). A no-op
   * for pools that do not defer their syncs. `lanes`: most stores flushed at once (a checkpoint's
   * flush runs beside the journals' group syncs, which must not queue behind every store's).
   */
  async flushTargets(ids?: readonly number[], lanes = Infinity): Promise<void> {
    if (!this.redo) return;
    const list = ids ?? [...this.opened.keys()];
    const flush = (t: number): Promise<void> | undefined => {
      const ts = this.opened.get(t);
      if (!ts) return undefined; // never opened here: nothing unsynced in it (a store closing flushes itself)
      let g = this.flushes.get(ts);
      if (!g) { g = new FlushGroup(() => ts.flush()); this.flushes.set(ts, g); }
      return g.request();
    };
    if (lanes >= list.length) { await Promise.all(list.map(flush)); return; }
    // at most `lanes` stores at once; every store is flushed even when one fails (the first failure is thrown)
    let next = 0;
    let failure: { err: unknown } | undefined;
    await Promise.all(Array.from({ length: Math.max(1, lanes) }, async () => {
      while (next < list.length) {
        try { await flush(list[next++]!); } catch (err) { failure ??= { err }; }
      }
    }));
    if (failure) throw failure.err;
  }

  /** Lay out a new pool directory. */
  static async create(dir: string, shape: LocalPoolShape): Promise<void> {
    for (const [k, v] of Object.entries({ scmBytes: shape.scmBytes, dataBytes: shape.dataBytes })) {
      if (!Number.isSafeInteger(v) || v < 1024 * 1024) throw badArg(`${k} must be an integer >= 1 MiB, got ${v}`);
    }
    const map = PoolMap.create({ nodes: shape.nodes, ranksPerNode: shape.ranksPerNode, targetsPerRank: shape.targetsPerRank });
    if (existsSync(join(dir, 'pool.meta'))) throw new ObjectError('EXISTS', `a pool already exists in ${dir}`, { dir });
    // (makeDirs: a read-only mount or an unwritable directory fails as EROFS or EACCES, not ENOENT)
    await makeDirs(join(dir, 'targets'));
    await makeDirs(join(dir, 'containers'));
    // Every target store is created (and its first segment allocated for real) now, so a
    // filesystem too small for the pool gives NO_SPACE here rather than later.
    // (created with the resident share an open with the default cache gives them: a new store's
    // log regions are sized from it, and on disk for good)
    const residentBytes = targetResidentBytes(DEFAULT_POOL_CACHE_BYTES, map.targets.length);
    for (const t of map.targets) await createTargetStore(join(dir, 'targets', String(t.id)), shape, residentBytes);
    await writeFileTwice(join(dir, 'pool.map'), map.serialize());
    await writeFileTwice(join(dir, 'pool.map.stable'), map.serialize());
    const meta: PoolMeta = { uuid: randomUUID(), createdAt: new Date().toISOString(), scmBytes: shape.scmBytes, dataBytes: shape.dataBytes, containers: [] };
    await writeJsonRecordTwice(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, meta);
  }

  /** Open and lock a pool directory (`POOL_BUSY` when another process or handle has it). */
  static async open(dir: string, opts: { durable: boolean; io: 'auto' | 'io_uring' | 'pread'; cacheBytes?: number; readOnly?: boolean }): Promise<LocalBackend> {
    if (!existsSync(join(dir, 'pool.meta'))) throw new ObjectError('NOT_FOUND', `no pool in ${dir}`, { dir });
    const got = await readJsonRecordEither<PoolMeta>(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, 'pool metadata');
    if (got.version < POOL_META_VERSION) {
      throw new ObjectError('FORMAT_VERSION', `pool ${dir} was written in Cairn pool format ${got.version} (one store per container); this build reads format ${POOL_META_VERSION}: copy its data out with the Cairn version that wrote it (cairn get / the API) into a new pool`, { dir, version: got.version });
    }
    const meta = got.doc;
    // A read-only open takes no lock: it writes nothing, and the writer may hold the pool.
    if (opts.readOnly) return new LocalBackend(dir, meta, opts);
    const key = resolve(dir);
    if (openInProcess.has(key)) throw new ObjectError('POOL_BUSY', `pool ${dir} is already open in this process`, { dir });
    await takeLock(dir);
    openInProcess.add(key);
    await healCopies(join(dir, 'pool.meta'), (img) => decodeJsonRecord(img, POOL_META_MAGIC, POOL_META_VERSION, 'pool metadata'));
    return new LocalBackend(dir, meta, opts);
  }

  async loadMaps(): Promise<PoolMaps> {
    const dir = this.location;
    const map = (await readEither(join(dir, 'pool.map'), (img) => PoolMap.deserialize(img))).value;
    const stable = existsSync(join(dir, 'pool.map.stable')) || existsSync(join(dir, 'pool.map.stable.copy'))
      ? (await readEither(join(dir, 'pool.map.stable'), (img) => PoolMap.deserialize(img))).value : map.clone();
    const state = existsSync(join(dir, 'rebuild.state')) || existsSync(join(dir, 'rebuild.state.copy'))
      ? (await readJsonRecordEither<{ resync: number[]; reclaim?: number[] }>(join(dir, 'rebuild.state'), REBUILD_MAGIC, 1, 'rebuild state')).doc : { resync: [] };
    const { resync } = state;
    // (a list of target ids or absent: written by releases that reclaim; older ones leave it out)
    const reclaim = Array.isArray(state.reclaim) ? state.reclaim.filter((t) => Number.isInteger(t) && t >= 0 && t < map.targets.length) : [];
    if (!this.opts.readOnly) {
      for (const f of ['pool.map', 'pool.map.stable']) await healCopies(join(dir, f), (img) => PoolMap.deserialize(img));
      await healCopies(join(dir, 'rebuild.state'), (img) => decodeJsonRecord(img, REBUILD_MAGIC, 1, 'rebuild state'));
    }
    return { map, stable, resync, reclaim };
  }

  async saveMaps(maps: PoolMaps, _expect: number, stableChanged: boolean): Promise<boolean> {
    // Order matters for a crash in between: the stable map last, so a restart re-runs the
    // (idempotent) migration rather than trusting a layout whose data was not moved.
    // (their syncs overlap: writeFilesTwiceInOrder keeps only the order of the renames)
    const files = [
      { path: join(this.location, 'pool.map'), image: maps.map.serialize() },
      { path: join(this.location, 'rebuild.state'), image: await encodeJsonRecord(REBUILD_MAGIC, 1, { resync: maps.resync, reclaim: maps.reclaim ?? [] }) },
    ];
    if (stableChanged) files.push({ path: join(this.location, 'pool.map.stable'), image: maps.stable.serialize() });
    await writeFilesTwiceInOrder(files);
    return true;
  }

  async addContainer(meta: ContainerMeta): Promise<void> {
    await LocalContainerStorage.create(join(this.location, 'containers', meta.uuid), meta);
    this.meta.containers.push({ label: meta.label, uuid: meta.uuid });
    await this.saveMeta();
  }

  async removeContainer(label: string, uuid: string): Promise<void> {
    this.meta.containers = this.meta.containers.filter((c) => c.uuid !== uuid);
    await this.saveMeta();
    await LocalContainerStorage.remove(join(this.location, 'containers', uuid));
    void label;
  }

  async containerMeta(uuid: string, label: string): Promise<ContainerMeta> {
    const file = join(this.location, 'containers', uuid, 'meta');
    const what = `container ${label} metadata`;
    const { doc } = await readJsonRecordEither<ContainerMeta>(file, CONTAINER_META_MAGIC, CONTAINER_META_VERSION, what);
    if (!this.opts.readOnly) await healCopies(file, (img) => decodeJsonRecord(img, CONTAINER_META_MAGIC, CONTAINER_META_VERSION, what));
    return doc;
  }

  containerStorage(meta: ContainerMeta): Promise<ContainerStorage> {
    if (this.opts.readOnly) return ReadOnlyContainerStorage.open(join(this.location, 'containers', meta.uuid));
    return LocalContainerStorage.open(join(this.location, 'containers', meta.uuid), this.opts.durable, { redo: this.redo });
  }

  /** The store of target `t`, opened on first use. */
  target(t: number): Promise<TargetStore> {
    let p = this.targets.get(t);
    if (!p) {
      const tdir = join(this.location, 'targets', String(t));
      p = existsSync(tdir)
        ? TargetStore.open(tdir, { ...this.targetOptions(false), rotateFill: staggeredRotateFill(t) })
        : Promise.reject(new CairnError('MISSING_FILE', `target ${t} directory is missing`, { target: t }));
      const mine = p;
      mine.then((ts) => { if (this.targets.get(t) === mine) this.opened.set(t, ts); this.ioEngine ??= ts.ioEngine; }, () => { if (this.targets.get(t) === mine) this.targets.delete(t); });
      this.targets.set(t, p);
    }
    return p;
  }

  async openStore(t: number, cuuid: string): Promise<ShardStore> {
    const ts = await this.target(t);
    // Read-only: a container the writer never stored on this target reads as empty (index 0 is
    // never given to a container, so the view matches no key).
    const st = ts.byUuid.get(cuuid) ?? (this.opts.readOnly
      ? { idx: 0, uuid: cuuid, maxEpoch: 0n, tombs: [], destroyed: false }
      : await ts.createContainer(cuuid));
    return new ContainerStore(ts, st);
  }

  /** Open every target now (they are cheap to open), so `storeExists` answers for all of them. */
  async openTargets(ids: number[]): Promise<void> {
    await Promise.all(ids.map((t) => this.target(t).catch((err) => swallowed('local-backend.target-open-failed-reads-use-redundancy', err))));
  }

  storeExists(t: number, cuuid: string): boolean { return this.opened.get(t)?.byUuid.has(cuuid) ?? false; }

  async removeStore(t: number, cuuid: string): Promise<void> {
    const ts = await this.target(t);
    await ts.destroyContainer(cuuid);
  }

  /**
   * Close target `t`'s store; the next use reopens it. `flush: false` (a target taken out of
   * service): its memtables stay in the log, replayed by a later open, not written out now.
   */
  async closeTarget(t: number, opts: { flush?: boolean } = {}): Promise<void> {
    const p = this.targets.get(t);
    this.targets.delete(t);
    this.opened.delete(t);
    if (!p) return;
    try { await (await p).close(opts); } catch (err) { swallowed('local-backend.close-target-that-never-opened', err); }
  }

  async wipeTarget(t: number): Promise<void> {
    await this.closeTarget(t);
    const tdir = join(this.location, 'targets', String(t));
    const { residentBytes } = this.targetOptions(true); // (counted with the target's own directory)
    await rm(tdir, { recursive: true, force: true });
    await createTargetStore(tdir, this.meta, residentBytes);
  }

  async prepareTargets(ids: number[]): Promise<void> {
    // the share of the pool these targets extend (the new ones counted before they exist)
    const dirs = readdirSync(join(this.location, 'targets'));
    const fresh = ids.filter((id) => !dirs.includes(String(id))).length;
    const residentBytes = targetResidentBytes(this.opts.cacheBytes ?? DEFAULT_POOL_CACHE_BYTES, dirs.length + fresh);
    for (const id of ids) {
      const tdir = join(this.location, 'targets', String(id));
      // A directory here is what an extend that did not take effect left (no saved map names
      // these targets, so nothing was ever routed to them): its store may be half made (a crash
      // while it was created left an empty vos.scm, which no open accepts), so it is made anew.
      if (dirs.includes(String(id))) { await this.closeTarget(id); await rm(tdir, { recursive: true, force: true }); }
      await createTargetStore(tdir, this.meta, residentBytes);
    }
  }

  async scrubTarget(t: number, signal?: AbortSignal): Promise<{ whole?: string; blocks: number; damaged: DamagedRanges }> {
    let ts: TargetStore;
    try { ts = await this.target(t); } catch (err) { return { whole: (err as Error).message, blocks: 0, damaged: { ranges: [] } }; }
    const r = await ts.scrub({ signal, values: false });
    if (r.whole) return { whole: r.whole, blocks: r.blocksChecked, damaged: { ranges: [] } };
    return { blocks: r.blocksChecked, damaged: { ranges: r.blocks.flatMap((b) => damagedRanges(ts, b)) } };
  }

  async healTarget(t: number): Promise<void> {
    const ts = await this.target(t);
    await ts.heal();
  }

  /** Usage of an open target store, if open. */
  targetUsage(t: number) { return this.opened.get(t)?.usage(); }

  spaceUsed(t: number): number { return allocatedBytes(join(this.location, 'targets', String(t))); }

  private async saveMeta(): Promise<void> {
    await writeJsonRecordTwice(join(this.location, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, this.meta);
  }

  /** Re-read `pool.meta` (read-only opens: the writer adds and removes containers). */
  async refreshMeta(): Promise<void> {
    const got = await readJsonRecordEither<PoolMeta>(join(this.location, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, 'pool metadata');
    Object.assign(this.meta, got.doc);
  }

  /** Re-read the stores of `ids` (read-only opens); a store that cannot be re-read is closed (reads use redundancy). */
  async refreshTargets(ids: number[]): Promise<void> {
    await Promise.all(ids.map(async (t) => {
      const open = this.opened.get(t);
      if (!open) { await this.target(t).catch((err) => swallowed('local-backend.target-open-failed-reads-use-redundancy', err)); return; }
      try { await open.refresh(); } catch (err) {
        swallowed('local-backend.target-refresh-failed-reopened-on-next-use', err);
        await this.closeTarget(t);
      }
    }));
  }

  async close(): Promise<void> {
    for (const t of [...this.targets.keys()]) await this.closeTarget(t);
    if (this.opts.readOnly) return; // took no lock
    try {
      unlinkSync(join(this.location, 'LOCK'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') swallowed('local-backend.unlock-failed-stale-lock-taken-over-by-pid-check', err);
    }
    openInProcess.delete(resolve(this.location));
  }
}

/**
 * One flush at a time of one store: a request made while a flush runs is served by the next one
 * (which starts when the running one ends and serves every request made meanwhile), so whatever
 * was acknowledged before the request is covered.
 */
class FlushGroup {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  constructor(private readonly run: () => Promise<void>) {}

  request(): Promise<void> {
    if (!this.running) return this.start();
    this.next ??= this.running.then(() => undefined, () => undefined).then(() => { this.next = undefined; return this.start(); });
    return this.next;
  }

  private start(): Promise<void> {
    const p = this.run().finally(() => { if (this.running === p) this.running = undefined; });
    this.running = p;
    return p;
  }
}

/**
 * Check both copies of a metadata file and rewrite a bad one from the good one, so that one damaged
 * copy is survived again and again (a copy that is missing, fails `decode`, or differs from a valid
 * primary — the primary is written first, so it is the newer — is replaced). Nothing happens when
 * neither copy decodes (the reader reported that) or the file does not exist.
 */
async function healCopies(path: string, decode: (image: Uint8Array) => unknown): Promise<void> {
  const files = [path, path + COPY_SUFFIX];
  const images = await Promise.all(files.map((p) => readFile(p).then((b) => new Uint8Array(b), () => undefined)));
  const valid = images.map((img) => {
    if (!img) return false;
    try { decode(img); return true; } catch { return false; }
  });
  const good = valid.indexOf(true);
  if (good < 0) return;
  const src = images[good]!;
  for (let i = 0; i < files.length; i++) {
    if (valid[i] && (i === good || Buffer.compare(images[i]!, src) === 0)) continue;
    try { await writeFileAtomic(files[i]!, src); } catch (err) { swallowed('local-backend.metadata-copy-rewrite-failed-kept-one-copy', err); }
  }
}

/** Bytes allocated on disk below `dir` (sparse files count what they really use). */
export function allocatedBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    let entries: string[];
    try { entries = readdirSync(d); } catch (err) { swallowed('local-backend.space-walk-directory-vanished', err); return; }
    for (const e of entries) {
      const p = join(d, e);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p); else n += st.blocks * 512;
      } catch (err) { swallowed('local-backend.space-walk-entry-vanished', err); }
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
      try { unlinkSync(path); } catch (err) { swallowed('local-backend.stale-lock-removed-by-another-opener', err); }
    }
  }
  throw new ObjectError('POOL_BUSY', `could not lock pool ${dir}`, { dir });
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Each target store's share of a pool's cache of `cacheBytes` over `targets` targets (`TargetOptions.residentBytes`). */
function targetResidentBytes(cacheBytes: number, targets: number): number {
  return Math.max(PMEM_WINDOW_BYTES * 4, Math.floor(cacheBytes / Math.max(1, targets) / PMEM_WINDOW_BYTES) * PMEM_WINDOW_BYTES);
}

/**
 * Create (and close) an empty target store in `dir`, its first segment allocated for real, with
 * the resident share it will be opened with (its log regions are sized from it, on disk for good).
 */
async function createTargetStore(dir: string, caps: { scmBytes: number; dataBytes: number }, residentBytes: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ts = await TargetStore.open(dir, { scmBytes: caps.scmBytes, dataBytes: caps.dataBytes, create: true, residentBytes });
  await ts.close();
}

/** The (container, unit oid) ranges a damaged block covered (its bounds are index keys). */
export function damagedRanges(ts: TargetStore, b: BlockDamage): DamagedRanges['ranges'] {
  const decode = (h: string) => {
    if (!h) return undefined;
    const k = Buffer.from(h, 'hex');
    const cont = k.length >= 4 ? k.readUInt32BE(0) : 0;
    let oid = 0n;
    for (let i = 5; i < 29; i++) oid = (oid << 8n) | BigInt(i < k.length ? k[i]! : 0);
    return { cont, section: k.length > 4 ? k[4]! : 0, oid };
  };
  const lo = decode(b.lo) ?? { cont: 0, section: 0, oid: 0n };
  const hi = decode(b.hi);
  const out: DamagedRanges['ranges'] = [];
  for (const c of ts.conts.values()) {
    if (c.idx < lo.cont || (hi && c.idx > hi.cont)) continue;
    const hiHere = hi && c.idx === hi.cont ? { hi: hi.oid } : {};
    // A block starting in the object table (section 1) and ending past it covers the table from
    // lo.oid on and the data section (sorted after it) from its start: two ranges of oids.
    if (c.idx === lo.cont && lo.section === 1 && !(hi && hi.cont === c.idx && hi.section <= 1)) {
      out.push({ uuid: c.uuid, lo: lo.oid }, { uuid: c.uuid, lo: 0n, ...hiHere });
      continue;
    }
    out.push({ uuid: c.uuid, lo: c.idx === lo.cont ? lo.oid : 0n, ...hiHere });
  }
  return out;
}
