/**
 * `VosTarget`: a target store holding one container, for code and tests that drive a single
 * versioned store directly (benchmarks, the store's own specification tests, an engine-less shard
 * server). It is the `TargetStore` with a default container, nothing more: pools open one
 * `TargetStore` per target and one `ContainerStore` per container instead.
 */
import { TargetStore, type TargetOptions, type TargetOpenReport } from './store.js';
import { ContainerStore, type AggregateStats, type KeyRange, type Recx } from './container-store.js';
import type { BlockDamage } from './run.js';

/** The container a `VosTarget` keeps its objects in. */
export const DEFAULT_CONTAINER = '00000000-0000-0000-0000-000000000000';

/** Options of `VosTarget.open` (those of a target store). */
export type VosOptions = TargetOptions;
export type { Recx, AggregateStats };

/** One bad thing found by `scrub` (never the bytes themselves). */
export interface ScrubFinding {
  /** `data`: a value (log, run or data file); `block`: a run block; `target`: the whole target. */
  where: 'data' | 'block' | 'target';
  reason: string;
  info: Record<string, unknown>;
}

/** Result of `scrub`. */
export interface ScrubReport { checked: number; bytes: number; bad: ScrubFinding[] }

/** Space in use. */
export interface VosUsage { scmUsed: number; scmTotal: number; dataUsed: number; dataTotal: number }

/** What open found. */
export type VosOpenReport = TargetOpenReport;

/** A single-container target store. */
export class VosTarget extends ContainerStore {
  private constructor(target: TargetStore, c: ContainerStore) { super(target, c.state); }

  /** Open the target in `dir` (creating it when absent) and its default container. */
  static async open(dir: string, opts: VosOptions = {}): Promise<VosTarget> {
    const t = await TargetStore.open(dir, opts);
    try {
      const st = t.byUuid.get(DEFAULT_CONTAINER) ?? (opts.readOnly ? undefined : await t.createContainer(DEFAULT_CONTAINER));
      if (!st) return new VosTarget(t, new ContainerStore(t, { idx: 0, uuid: DEFAULT_CONTAINER, maxEpoch: 0n, tombs: [], destroyed: false }));
      return new VosTarget(t, new ContainerStore(t, st));
    } catch (e) {
      await t.close();
      throw e;
    }
  }

  get dir(): string { return this.target.dir; }
  get openReport(): VosOpenReport { return this.target.openReport; }
  get ioEngine(): 'io_uring' | 'pread' { return this.target.ioEngine; }
  get ioEngineReason(): string { return this.target.ioEngineReason; }
  get directIo(): boolean { return this.target.dev.direct; }
  get inlineThreshold(): number { return this.target.inlineThreshold; }
  get durable(): boolean { return this.target.durable; }
  /** Merges committed since open. */
  get compactions(): number { return this.target.compactions; }

  /** Every key of an object in byte order (alias kept for range listings). */
  override listDkeys(epoch: bigint, oid: bigint, range?: KeyRange): AsyncIterable<Uint8Array> { return super.listDkeys(epoch, oid, range); }

  /** Verify every block and value of the target. */
  async scrub(opts: { signal?: AbortSignal } = {}): Promise<ScrubReport> {
    const r = await this.target.scrub(opts);
    const bad: ScrubFinding[] = [
      ...(r.whole ? [{ where: 'target' as const, reason: r.whole, info: {} }] : []),
      ...r.blocks.map((b: BlockDamage) => ({ where: 'block' as const, reason: `damaged ${b.kind} block`, info: { ...b } })),
      ...r.values.map((v) => ({ where: 'data' as const, reason: String(v.reason), info: v })),
    ];
    return { checked: r.checked, bytes: r.bytes, bad };
  }

  /** Make everything acknowledged so far durable against power loss. */
  flush(): Promise<void> { return this.target.flush(); }

  /** Close the target. */
  override async close(): Promise<void> { await this.target.close(); }
}
