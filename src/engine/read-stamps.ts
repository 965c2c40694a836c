/**
 * Read timestamps of an engine, for every kind of read: a write may not land at or below an epoch
 * at which something it changes was already read (it would change what that reader saw), so the
 * writer is refused (`STALE_EPOCH`) and recommits above. Keys have four levels —
 * container / unit object / dkey / akey — and reads stamp the level they depend on:
 *
 *   fetch, akeyKind, listRecx   the akey          listAkeys   the dkey
 *   listDkeys                   the unit object   listObjects the container
 *
 * A write (update, punch) of key K at epoch E is refused when a read at or above E stamped K or
 * anything below K (`below` table: a punch of a dkey changes every akey under it), or a level above
 * K (`exact` table: a listing of the dkeys of an object changes when one of its dkeys is created
 * or punched). Both tables are bounded; forgetting raises their floor, which only refuses more.
 */
import { EpochTable } from '../container/conflicts.js';

/** Keys each table remembers. */
export const MAX_READ_STAMPS = 1_000_000;

/** The levels of a key, container first: [cont, unit?, dkey?, akey?] (keys as base64 or hex text). */
export type StampKey = readonly string[];

/** Levels of the longest key (an akey). */
const STAMP_LEVELS = 4;
/** Separator of a key's levels in the tables. */
const LEVEL_SEP = '\u0000';

function prefixes(k: StampKey): string[] {
  const out: string[] = [];
  let acc = '';
  for (let i = 0; i < k.length; i++) { acc = i === 0 ? k[0]! : `${acc}${LEVEL_SEP}${k[i]}`; out.push(acc); }
  return out;
}

/** Read stamps by key level (see the module comment). */
export class ReadStamps {
  /** Reads of exactly this key (a listing at this level, or a value read at the akey). */
  private readonly exact: EpochTable;
  /** Reads of this key or anything below it. */
  private readonly below: EpochTable;
  /**
   * Whether `exact` may answer above 0 for a key of fewer than four levels: a listing was stamped
   * (only listings stamp such keys exactly), or the table was full once (forgetting raises its
   * floor for every key). Until then a write asks `below` alone and builds one key, not four: the
   * exact levels it would ask are all unknown to a table that holds value reads only.
   */
  private exactShort = false;

  constructor(private readonly maxKeys = MAX_READ_STAMPS) {
    this.exact = new EpochTable(0n, maxKeys);
    this.below = new EpochTable(0n, maxKeys);
  }

  /** A read of `k` at `epoch` was served. */
  record(k: StampKey, epoch: bigint): void {
    if (k.length < STAMP_LEVELS || this.exact.size >= this.maxKeys) this.exactShort = true;
    const ps = prefixes(k);
    this.exact.raise(ps[ps.length - 1]!, epoch);
    for (const p of ps) this.below.raise(p, epoch);
  }

  /** The newest read a write of `k` must stay above (0 when none). */
  floorFor(k: StampKey): bigint {
    // Nothing read yet (a table's floor rises only past its bound, so an empty table's floor is 0):
    // a write-only load builds no prefix keys.
    if (this.exact.size === 0 && this.below.size === 0) return 0n;
    // Value reads only: the exact levels above `k` are unknown (0), `k` itself is `below`'s.
    if (!this.exactShort) return this.below.get(k.join(LEVEL_SEP));
    const ps = prefixes(k);
    let max = this.below.get(ps[ps.length - 1]!);
    for (let i = 0; i < ps.length - 1; i++) { const e = this.exact.get(ps[i]!); if (e > max) max = e; }
    return max;
  }
}
