/**
 * A run's fences: the first key of every data block, in order, in three flat arrays, so a point
 * seek finds its data block with one binary search over a small dense array instead of a search of
 * the run's index-block list (one object and one key array per probe), a map lookup for the index
 * block and a search of that block (`Run.seekTo`).
 *
 * Why: a small get is bound by the cache lines it touches, not by its compares (measured: a seek
 * over keys spread across 16 stores cost 2-3x a seek repeating 16 keys). Each probe here reads
 * 8 bytes from `win` (the 8 bytes of the key after the prefix every fence shares, as two
 * big-endian u32, zero-padded), and the key bytes only when those are equal; a run's fences take
 * about 16 bytes per data block plus the keys (one copy, packed), ~3 KiB for a 1 MiB run.
 */

/** Most data blocks a run keeps fences for (larger runs seek through their index blocks: memory stays bounded, ~1 MiB of fences at most). */
export const RUN_FENCE_MAX_BLOCKS = 16_384;

/** The big-endian u32 of `b[at, at+4)` with bytes past `avail` (how many belong to the key, may be <= 0) read as zero. */
function window32(b: Uint8Array, at: number, avail: number): number {
  if (avail >= 4) return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  let v = 0;
  for (let j = 0; j < 4; j++) v = (v * 256) + (j < avail ? b[at + j]! : 0);
  return v;
}

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
  /** Two big-endian u32 per block: its key's 8 bytes after `shared`, zero-padded. */
  private readonly win: Uint32Array;
  /** Bytes every first key starts with (the first and the last one's common prefix: they are sorted). */
  private readonly shared: number;

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
    const a = firstKeys[0]!, b = firstKeys[n - 1]!;
    const max = a.length < b.length ? a.length : b.length;
    let cp = 0;
    while (cp < max && a[cp] === b[cp]) cp++;
    this.shared = cp;
    this.win = new Uint32Array(2 * n);
    for (let g = 0; g < n; g++) {
      const k = firstKeys[g]!;
      this.win[2 * g] = window32(k, cp, k.length - cp);
      this.win[2 * g + 1] = window32(k, cp + 4, k.length - cp - 4);
    }
  }

  /** Fence g against the first `klen` bytes of `k`, both agreeing on their first `from` bytes. */
  private compareFrom(g: number, k: Uint8Array, klen: number, from: number): number {
    const x = this.keys, s = this.at[g]!, kl = this.at[g + 1]! - s;
    const n = kl < klen ? kl : klen;
    for (let j = from; j < n; j++) { const d = x[s + j]! - k[j]!; if (d !== 0) return d; }
    return kl - klen;
  }

  /**
   * The last data block whose first key is <= the first `klen` bytes of `k` (0 when none is):
   * the block a seek for `k` starts in (`Run.seekTo` then moves on while it is past its end).
   */
  lastAtOrBefore(k: Uint8Array, klen: number): number {
    const n = this.count, cp = this.shared, x = this.keys;
    // k against the prefix every fence shares: before all, after all, or among them
    const m0 = cp < klen ? cp : klen;
    for (let j = 0; j < m0; j++) { const d = k[j]! - x[j]!; if (d !== 0) return d < 0 ? 0 : n - 1; }
    if (klen < cp) return 0; // a proper prefix of every fence sorts before them
    const kh = window32(k, cp, klen - cp), kl = window32(k, cp + 4, klen - cp - 4);
    const w = this.win;
    let lo = 0, hi = n; // first fence > k
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      const eh = w[2 * m]!, el = w[2 * m + 1]!;
      const c = eh !== kh ? (eh < kh ? -1 : 1) : el !== kl ? (el < kl ? -1 : 1) : this.compareFrom(m, k, klen, cp);
      if (c <= 0) lo = m + 1; else hi = m;
    }
    return lo > 0 ? lo - 1 : 0;
  }
}
