/**
 * The embedded pool: everything in one directory, opened by one process.
 *
 *   pool.meta              record file "CAIRNPOL": uuid, per-target sizes, container list
 *   pool.map               the serialised current pool map (its own magic, version and checksum)
 *   pool.map.stable        the map the data is laid out by
 *   rebuild.state          record file "CAIRNRBD": targets being refilled
 *   LOCK                   pid of the process that has the pool open
 *   targets/<t>/<cuuid>/   the versioned store (VOS) of container cuuid on target t
 *   containers/<cuuid>/    container metadata, commit journal and object index
 */
import { join, resolve } from 'node:path';
import { mkdir, rm, readFile, open as fsOpen } from 'node:fs/promises';
import { existsSync, statSync, readdirSync, unlinkSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { PoolMap } from '../../placement/index.js';
import { CairnError } from '../../core/errors.js';
import { swallowed } from '../../core/log.js';
import { readJsonRecord, writeJsonRecord, writeFileAtomic } from '../../core/record-file.js';
import { ObjectError, badArg } from '../io/errors.js';
import type { ShardStore } from '../io/shard-store.js';
import { VosTarget } from '../vos/index.js';
import { LocalContainerStorage, CONTAINER_META_MAGIC, CONTAINER_META_VERSION } from '../container/storage.js';
import type { ContainerMeta } from '../container/container.js';
import type { PoolBackend, PoolMaps, PoolMeta } from './backend.js';

/** Pools open in this process (the LOCK file guards against other processes). */
const openInProcess = new Set<string>();
const POOL_META_MAGIC = 'CAIRNPOL';
const POOL_META_VERSION = 1;
const REBUILD_MAGIC = 'CAIRNRBD';

/** Shape and sizes of a new embedded pool. */
export interface LocalPoolShape { nodes: number; ranksPerNode: number; targetsPerRank: number; scmBytes: number; dataBytes: number }

/** A pool directory. */
export class LocalBackend implements PoolBackend {
  readonly runsMigrations = true;
  ioEngine?: string;

  private constructor(readonly location: string, readonly meta: PoolMeta, private readonly opts: { durable: boolean; io: 'auto' | 'io_uring' | 'pread' }) {}

  /** Lay out a new pool directory. */
  static async create(dir: string, shape: LocalPoolShape): Promise<void> {
    for (const [k, v] of Object.entries({ scmBytes: shape.scmBytes, dataBytes: shape.dataBytes })) {
      if (!Number.isSafeInteger(v) || v < 1024 * 1024) throw badArg(`${k} must be an integer >= 1 MiB, got ${v}`);
    }
    const map = PoolMap.create({ nodes: shape.nodes, ranksPerNode: shape.ranksPerNode, targetsPerRank: shape.targetsPerRank });
    if (existsSync(join(dir, 'pool.meta'))) throw new ObjectError('EXISTS', `a pool already exists in ${dir}`, { dir });
    await mkdir(join(dir, 'targets'), { recursive: true });
    await mkdir(join(dir, 'containers'), { recursive: true });
    for (const t of map.targets) await mkdir(join(dir, 'targets', String(t.id)), { recursive: true });
    await writeFileAtomic(join(dir, 'pool.map'), map.serialize());
    await writeFileAtomic(join(dir, 'pool.map.stable'), map.serialize());
    const meta: PoolMeta = { uuid: randomUUID(), createdAt: new Date().toISOString(), scmBytes: shape.scmBytes, dataBytes: shape.dataBytes, containers: [] };
    await writeJsonRecord(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, meta);
  }

  /** Open and lock a pool directory (`POOL_BUSY` when another process or handle has it). */
  static async open(dir: string, opts: { durable: boolean; io: 'auto' | 'io_uring' | 'pread' }): Promise<LocalBackend> {
    if (!existsSync(join(dir, 'pool.meta'))) throw new ObjectError('NOT_FOUND', `no pool in ${dir}`, { dir });
    const meta = await readJsonRecord<PoolMeta>(join(dir, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, 'pool metadata');
    const key = resolve(dir);
    if (openInProcess.has(key)) throw new ObjectError('POOL_BUSY', `pool ${dir} is already open in this process`, { dir });
    await takeLock(dir);
    openInProcess.add(key);
    return new LocalBackend(dir, meta, opts);
  }

  async loadMaps(): Promise<PoolMaps> {
    const dir = this.location;
    const map = PoolMap.deserialize(new Uint8Array(await readFile(join(dir, 'pool.map'))));
    const stable = existsSync(join(dir, 'pool.map.stable')) ? PoolMap.deserialize(new Uint8Array(await readFile(join(dir, 'pool.map.stable')))) : map.clone();
    const resync = existsSync(join(dir, 'rebuild.state')) ? (await readJsonRecord<{ resync: number[] }>(join(dir, 'rebuild.state'), REBUILD_MAGIC, 1, 'rebuild state')).resync : [];
    return { map, stable, resync };
  }

  async saveMaps(maps: PoolMaps, _expect: number, stableChanged: boolean): Promise<boolean> {
    // Order matters for a crash in between: the stable map last, so a restart re-runs the
    // (idempotent) migration rather than trusting a layout whose data was not moved.
    await writeFileAtomic(join(this.location, 'pool.map'), maps.map.serialize());
    await writeJsonRecord(join(this.location, 'rebuild.state'), REBUILD_MAGIC, 1, { resync: maps.resync });
    if (stableChanged) await writeFileAtomic(join(this.location, 'pool.map.stable'), maps.stable.serialize());
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

  containerMeta(uuid: string, label: string): Promise<ContainerMeta> {
    return readJsonRecord<ContainerMeta>(join(this.location, 'containers', uuid, 'meta'), CONTAINER_META_MAGIC, CONTAINER_META_VERSION, `container ${label} metadata`);
  }

  containerStorage(meta: ContainerMeta): Promise<LocalContainerStorage> {
    return LocalContainerStorage.open(join(this.location, 'containers', meta.uuid), this.opts.durable);
  }

  async openStore(t: number, cuuid: string): Promise<ShardStore> {
    const tdir = join(this.location, 'targets', String(t));
    if (!existsSync(tdir)) throw new CairnError('MISSING_FILE', `target ${t} directory is missing`, { target: t });
    const v = await VosTarget.open(join(tdir, cuuid), { scmBytes: this.meta.scmBytes, dataBytes: this.meta.dataBytes, durable: this.opts.durable, io: this.opts.io });
    this.ioEngine ??= v.ioEngine;
    return v as unknown as ShardStore;
  }

  storeExists(t: number, cuuid: string): boolean { return existsSync(join(this.location, 'targets', String(t), cuuid)); }

  async removeStore(t: number, cuuid: string): Promise<void> { await rm(join(this.location, 'targets', String(t), cuuid), { recursive: true, force: true }); }

  async wipeTarget(t: number): Promise<void> {
    const tdir = join(this.location, 'targets', String(t));
    await rm(tdir, { recursive: true, force: true });
    await mkdir(tdir, { recursive: true });
  }

  async prepareTargets(ids: number[]): Promise<void> {
    for (const id of ids) await mkdir(join(this.location, 'targets', String(id)), { recursive: true });
  }

  spaceUsed(t: number): number { return allocatedBytes(join(this.location, 'targets', String(t))); }

  private async saveMeta(): Promise<void> {
    await writeJsonRecord(join(this.location, 'pool.meta'), POOL_META_MAGIC, POOL_META_VERSION, this.meta);
  }

  async close(): Promise<void> {
    try {
      unlinkSync(join(this.location, 'LOCK'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') swallowed('local-backend.unlock-failed-stale-lock-taken-over-by-pid-check', err);
    }
    openInProcess.delete(resolve(this.location));
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
