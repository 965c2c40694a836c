/**
 * The epochs at which an engine still answers a transaction's reads exactly, per container, once
 * aggregations ran.
 *
 * An aggregation up to U merges every version at or below U that neither the newest state at U
 * nor a kept epoch sees (kept: the container's snapshots, the transactions open on the client
 * that aggregates, read-only readers). A transaction open on another client reads at its read
 * epoch E: once an aggregation passed E without keeping it, what E saw may be merged away (a
 * value read there could come back as an older one, or as absent). Such a read is refused
 * (`TX_RESTART`, engine.ts `checkTxRead`) instead of answered wrongly; the transaction runs again
 * at a newer epoch. Reads that are not a transaction's (a snapshot's, one "now") are not checked.
 *
 * The engine's start counts as an aggregation up to its start epoch keeping nothing: what the
 * engine's stores were aggregated to before it started is not known (and a transaction open
 * across an engine's restart fails its commit anyway: `WriteEpochs` takes every key as written at
 * the start).
 */

/** Most kept epochs remembered per container (an aggregation keeping more: the excess kept no longer, reads there restart). */
export const MAX_FLOOR_KEEP = 4096;

/** The epochs aggregations left exact: every epoch at or above `upTo`, and those in `keep` (all below `upTo`). */
interface Floor {
  upTo: bigint;
  keep: ReadonlySet<bigint>;
}

/** Per container, the epochs still read exactly (see the module comment). */
export class AggregationFloors {
  private readonly floors = new Map<string, Floor>();

  /** `startEpoch`: the engine's start (see the module comment). */
  constructor(private readonly startEpoch: bigint) {}

  /**
   * An aggregation of container `cont` up to `upTo`, keeping the versions `keep` see, is about to
   * run (noted before it merges anything). An epoch stays exact only if every aggregation so far
   * left it so.
   */
  note(cont: string, upTo: bigint, keep: readonly bigint[]): void {
    const old = this.floors.get(cont);
    const top = old === undefined || upTo > old.upTo ? upTo : old.upTo;
    const now = new Set(keep);
    const exactAfter = (e: bigint) => e < top && (e >= upTo || now.has(e)) && (old === undefined || e >= old.upTo || old.keep.has(e));
    const kept: bigint[] = [];
    for (const e of now) if (exactAfter(e)) kept.push(e);
    if (old !== undefined) for (const e of old.keep) if (!now.has(e) && exactAfter(e)) kept.push(e);
    // (past the bound the newest stay: the oldest kept epochs are the likeliest to be done with)
    kept.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    this.floors.set(cont, { upTo: top, keep: new Set(kept.length > MAX_FLOOR_KEEP ? kept.slice(-MAX_FLOOR_KEEP) : kept) });
  }

  /** Whether a transaction's read of `cont` at `epoch` sees exactly what it saw before any aggregation. */
  exact(cont: string, epoch: bigint): boolean {
    if (epoch < this.startEpoch) return false;
    const f = this.floors.get(cont);
    return f === undefined || epoch >= f.upTo || f.keep.has(epoch);
  }

  /** The epoch reads of `cont` must be at or above to be exact (the info of a refusal). */
  floorOf(cont: string): bigint {
    const f = this.floors.get(cont);
    return f === undefined || f.upTo < this.startEpoch ? this.startEpoch : f.upTo;
  }
}
