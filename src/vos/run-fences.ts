/**
 * A run's fences: the first key of every data block, in order, packed into one byte array, so a
 * point seek finds its data block with one binary search over a small dense array instead of a
 * search of the run's index-block list (one object and one key array per probe), a map lookup for
 * the index block and a search of that block (`Run.seekTo`).
 *
 * Why: a small get is bound by the cache lines it touches, not by its compares (measured: a seek
 * over keys spread across 16 stores cost 2-3x a seek repeating 16 keys). The search compares each
 * probed fence from the longest prefix the key is known to share with both ends of the range (the
 * fences between two keys share at least their common prefix), so a probe reads a few bytes of one
 * packed key, not the container, section and class bytes every key of a run starts with. A run's
 * fences take about the length of one key plus 12 bytes per data block (~12 KiB for a 1 MiB run).
 */

/** Most data blocks a run keeps fences for (larger runs seek through their index blocks: memory stays bounded, under 1 MiB of fences per run). */
export const RUN_FENCE_MAX_BLOCKS = 16_384;
/**
 * Most index blocks a run keeps fences for: the fences hold a view of each (its data blocks'
 * references), at most ~1 MiB per run. Until session 29 this was the run's index cache (64
 * blocks): a run of more (~80-250k entries of 100 B objects, which a store of ~1M entries merges
 * into) had no fences, hence no point list, and its store no point index at all: every get took
 * the per-run path (25-45 us of CPU instead of 3-4), long before POINT_INDEX_MAX_VERSIONS.
 */
export const RUN_FENCE_MAX_INDEX_BLOCKS = 256;

/** The first keys of a run's data blocks (see the module comment). */
export class RunFences {
  /** Data blocks. */
  readonly count: number;
  /** Index block of data block g. */
  readonly indexOf: Int32Array;
  /** Position of data block g in its index block. */
  readonly entryOf: Int32Array;
  /** Every first key, packed; key g is keys[at[g], at[g+1]). */
  private readonly keys: Uint8Array;
  private readonly at: Int32Array;

  /** `firstKeys[g]`: the first key of data block g, ascending; `indexOf`, `entryOf`: where block g is listed. */
  constructor(firstKeys: readonly Uint8Array[], indexOf: Int32Array, entryOf: Int32Array) {
    const n = firstKeys.length;
    this.count = n;
    this.indexOf = indexOf;
    this.entryOf = entryOf;
    let bytes = 0;
    for (const k of firstKeys) bytes += k.length;
    this.keys = new Uint8Array(bytes);
    this.at = new Int32Array(n + 1);
    for (let g = 0, p = 0; g < n; g++) { this.keys.set(firstKeys[g]!, p); p += firstKeys[g]!.length; this.at[g + 1] = p; }
  }

  /**
   * After `lastAtOrBefore`: how many leading bytes the key shares with the fence it returned, or
   * -1 when the key sorts before every fence. A seek uses it to place the key against the data
   * block's shared key prefix without reading the block's first key (`BlockView.lowerBoundAfter`).
   */
  lcp = -1;

  /** The first key of data block g (a view of the packed fences). */
  key(g: number): Uint8Array { return this.keys.subarray(this.at[g]!, this.at[g + 1]!); }

  /**
   * The last data block whose first key is <= the first `klen` bytes of `k` (0 when none is):
   * the block a seek for `k` starts in (`Run.seekTo` then moves on while it is past its end).
   * Sets `lcp`.
   */
  lastAtOrBefore(k: Uint8Array, klen: number): number {
    const x = this.keys, at = this.at;
    // fences [0, lo) are <= k, [hi, n) are > k; k shares its first `llo` bytes with fence lo-1
    // and `lhi` with fence hi, so every fence between them shares the smaller of the two
    let lo = 0, hi = this.count, llo = 0, lhi = 0;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      const s = at[m]!, fl = at[m + 1]! - s;
      const n = fl < klen ? fl : klen;
      let j = llo < lhi ? llo : lhi;
      while (j < n && x[s + j] === k[j]) j++;
      const c = j < n ? x[s + j]! - k[j]! : fl - klen;
      if (c <= 0) { lo = m + 1; llo = j; } else { hi = m; lhi = j; }
    }
    // llo is the exact common prefix with fence lo-1 (each probe extends from a bound it shares)
    this.lcp = lo > 0 ? llo : -1;
    return lo > 0 ? lo - 1 : 0;
  }
}
