/**
 * The stores of an engine's targets: one `TargetStore` per target directory holding every
 * container (DAOS's VOS pool per target), and a `ContainerStore` view per container, created on
 * first use. Files in a target directory: `vos.scm`, `vos.data` (the store); the first directory
 * also holds `engine.json` (identity) and `tx.log` (transaction log).
 *
 * Directories written by engines of the older format (one store per container per target:
 * `<dir>/<container uuid>/vos.scm`) are refused with FORMAT_VERSION, naming the way out.
 */
import { join, resolve } from 'node:path';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { CairnError } from '../../core/errors.js';
import { swallow, swallowed } from '../../core/log.js';
import { TargetStore, ContainerStore, staggeredRotateFill } from '../vos/index.js';
import { allocatedBytes } from '../pool/local-backend.js';
import { ALL_TARGETS, targetBit } from './txn.js';

/** A target store's data file inside its directory (vos DATA_FILE). */
const DATA_FILE = 'vos.data';
/** Files of a target store inside its directory (what a wipe removes). */
const STORE_FILES = ['vos.scm', DATA_FILE];

function isUuid(s: string): boolean { return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s); }

/** Refuse a target directory written in the older one-store-per-container format. */
export function checkTargetFormat(dir: string): void {
  if (existsSync(join(dir, 'vos.scm'))) return;
  let old: string | undefined;
  try {
    old = readdirSync(dir).find((e) => isUuid(e) && existsSync(join(dir, e, 'vos.scm')) && statSync(join(dir, e)).isDirectory());
  } catch (err) { swallowed('engine.format-check-unreadable-directory', err); return; }
  if (old !== undefined) {
    throw new CairnError('FORMAT_VERSION', `engine target directory ${dir} was written by an older Cairn engine (one store per container: ${old}/vos.scm); this engine keeps one store per target directory: serve it with the Cairn version that wrote it and copy its data into a pool of fresh engines`, { dir, container: old });
  }
}

/**
 * Whole-extent reads of values up to this many bytes (a client's `fetchArrayInto` of an EC cell or
 * a replica's chunk) are copied and hashed on the engine's thread (`TargetOptions.readHereBytes`)
 * instead of on the thread pool, when `CAIRN_ENGINE_READ_HERE=1`. Off by default: under load
 * (2 cores, load 10-17, alternating pairs) it cut engine CPU per MiB on warm data (1.41/1.32 ->
 * 1.13/0.93 ms) but lowered the read rate every time (474/540 -> 381/490 reads/s; the pool thread
 * overlaps the copy with the next request and gets the engine a larger share of busy cores), and on
 * data read once it cost more (1.22/1.54 -> 1.46/1.75 ms: page faults through the writable mapping).
 * The switch is there to measure it on an idle machine (docs/performance.md, the connected data
 * path's history, session 15).
 */
export const ENGINE_READ_HERE_MAX_BYTES = 1024 * 1024;

/** `ENGINE_READ_HERE_MAX_BYTES` when `CAIRN_ENGINE_READ_HERE=1`, else 0 (reads on the thread pool). */
function readHereBytes(): number { return process.env.CAIRN_ENGINE_READ_HERE === '1' ? ENGINE_READ_HERE_MAX_BYTES : 0; }

/** Options every target store of an engine opens with. */
export interface EngineStoreOptions { scmBytes: number; dataBytes: number; durable: boolean }

/** A settle that failed: its marks stay, and the next start settles them (their commit is in tx.log, or forgotten). */
const swallowSettle = swallow('engine.settle-marks-left-for-next-start');

/** The epochs of `epochs` whose target bits (`targets`, by position) include `bit` or every target. */
function epochsOn(epochs: readonly bigint[], targets: readonly number[], bit: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < epochs.length; i++) { const m = targets[i]!; if (m === ALL_TARGETS || (m & bit) !== 0) out.push(epochs[i]!); }
  return out;
}

/** Target stores of one engine, by target id. */
export class EngineStores {
  private readonly targets = new Map<number, Promise<TargetStore>>();
  /** Stores whose open finished (synchronous lookups). */
  private readonly opened = new Map<number, TargetStore>();
  /**
   * Container views by target, then container uuid (no key text built per lookup: `cached` runs
   * for every shard request, and a template string per call was an allocation and a hash of ~40
   * new characters each time).
   */
  private readonly views = new Map<number, Map<string, ContainerStore>>();

  constructor(private readonly dirs: ReadonlyMap<number, string>, private readonly opts: EngineStoreOptions) {
    this.dataFiles = new Map([...dirs].map(([t, dir]) => [t, join(resolve(dir), DATA_FILE)]));
  }

  /** Check every directory's format and open every target store (creating missing ones). */
  async openAll(): Promise<void> {
    for (const dir of this.dirs.values()) checkTargetFormat(dir);
    for (const t of this.dirs.keys()) await this.target(t);
  }

  /** The store of target `t`, opened on first use (a failed open is forgotten: the next use retries). */
  target(t: number): Promise<TargetStore> {
    let p = this.targets.get(t);
    if (!p) {
      const dir = this.dirs.get(t);
      if (dir === undefined) return Promise.reject(new CairnError('WRONG_ENGINE', `target ${t} is not served here`, { target: t }));
      p = TargetStore.open(dir, { scmBytes: this.opts.scmBytes, dataBytes: this.opts.dataBytes, durable: this.opts.durable, rotateFill: staggeredRotateFill(t), readHereBytes: readHereBytes() });
      const mine = p;
      mine.then((ts) => { if (this.targets.get(t) === mine) this.opened.set(t, ts); }, () => { if (this.targets.get(t) === mine) this.targets.delete(t); });
      this.targets.set(t, p);
    }
    return p;
  }

  /**
   * The absolute path of target `t`'s data file, which a client on this host may read located
   * extents from (src/net/direct-read.ts); undefined for a target not served here.
   */
  dataFile(t: number): string | undefined {
    return this.dataFiles.get(t);
  }
  /**
   * `dataFile` paths, by target, made up front (made on first use, the branch ran too seldom in
   * the warm-up for V8 to keep feedback, and a served engine's first located read deoptimised
   * `locateNow`, --trace-deopt-verbose, 3 of 4 engines).
   */
  private readonly dataFiles: ReadonlyMap<number, string>;

  /** The view of container `cont` on target `t` if it is open already (no await on the request path). */
  cached(t: number, cont: string): ContainerStore | undefined {
    const v = this.views.get(t)?.get(cont);
    return v !== undefined && !v.state.destroyed ? v : undefined;
  }

  /** The view of container `cont` on target `t` (the container is registered on the target on first use). */
  async container(t: number, cont: string): Promise<ContainerStore> {
    const v = this.views.get(t)?.get(cont);
    if (v !== undefined && !v.state.destroyed) return v;
    const ts = await this.target(t);
    const st = ts.byUuid.get(cont) ?? await ts.createContainer(cont);
    const view = new ContainerStore(ts, st);
    let m = this.views.get(t);
    if (m === undefined) { m = new Map(); this.views.set(t, m); }
    m.set(cont, view);
    return view;
  }

  /** The views of `cont` on every target that holds it (opened stores only). */
  async containerOnAll(cont: string): Promise<ContainerStore[]> {
    const out: ContainerStore[] = [];
    for (const t of this.dirs.keys()) {
      let ts: TargetStore;
      try { ts = await this.target(t); } catch (err) { swallowed('engine.stores-target-unopenable', err); continue; }
      if (ts.byUuid.has(cont)) out.push(await this.container(t, cont));
    }
    return out;
  }

  /**
   * Settle the prepared marks of `cont`'s committed `epochs` on every open target that holds any
   * of them (`TargetStore.settlePrepared`: one Settle record per target; a target without them is
   * skipped with a lookup). A failed settle is counted, not thrown: the marks stay, and the next
   * start settles them (their commit is in tx.log, or forgotten: a commit's).
   */
  settle(cont: string, epochs: bigint[], targets?: readonly number[]): void {
    let index = 0;
    for (const t of this.dirs.keys()) {
      const bit = targetBit(index++);
      const ts = this.opened.get(t);
      if (ts === undefined) continue;
      const st = ts.byUuid.get(cont);
      if (st === undefined || st.prepared === undefined) continue;
      // Each target gets the epochs written there (`targets`: per epoch, the bits of the targets its
      // commit wrote, `Prepared.targets`), not every epoch of the engine: the store checks each one.
      const mine = targets === undefined || bit === ALL_TARGETS ? epochs : epochsOn(epochs, targets, bit);
      if (mine.length > 0) ts.settlePrepared(cont, mine).catch(swallowSettle);
    }
  }

  /** Forget container `cont` on target `t` (its space is reclaimed by the store's next merge). */
  async removeContainer(t: number, cont: string): Promise<void> {
    this.views.get(t)?.delete(cont);
    await (await this.target(t)).destroyContainer(cont);
  }

  /** Drop everything target `t` holds: close its store, remove its files, create it empty. */
  async wipe(t: number): Promise<void> {
    const dir = this.dirs.get(t);
    if (dir === undefined) throw new CairnError('WRONG_ENGINE', `target ${t} is not served here`, { target: t });
    await this.close(t);
    // The store's files only: the engine's identity and transaction log stay.
    for (const f of STORE_FILES) await rm(join(dir, f), { force: true });
    await this.target(t);
  }

  /** Close target `t` (all of it, or every target when undefined). */
  async close(t?: number): Promise<void> {
    for (const [id, p] of [...this.targets]) {
      if (t !== undefined && id !== t) continue;
      this.targets.delete(id);
      this.opened.delete(id);
      this.views.delete(id);
      try { await (await p).close(); } catch (err) { swallowed('engine.close-target-store', err); }
    }
  }

  /**
   * Each open target's store counters, in the order of `ids` (flushes, merges and the log's
   * commit syncs since it opened; zeros for a store not open): what `engine.info` reports, to
   * compare an engine's store work with an embedded pool's for the same writes.
   */
  counters(ids: readonly number[]): Array<{ target: number; flushes: number; compactions: number; syncs: number }> {
    return ids.map((t) => {
      const ts = this.opened.get(t);
      return { target: t, flushes: ts?.flushes ?? 0, compactions: ts?.compactions ?? 0, syncs: ts?.commitSyncs ?? 0 };
    });
  }

  /** Bytes allocated by each target's directory, in the order of `ids`. */
  spaceUsed(ids: readonly number[]): number[] { return ids.map((t) => allocatedBytes(this.dirs.get(t)!)); }
}
