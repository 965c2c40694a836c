/**
 * Admission for the bounded lookup caches of the small-I/O path (object names to ids, object ids
 * to layouts). A stream of keys seen once (puts of new objects) finds nothing in such a cache,
 * yet every miss was inserted: an insert per op, and entries that live for a whole cache
 * generation, so young-generation collections copy and promote them for nothing. While the
 * cache's recent hit share is below 1/2^CACHE_SPARSE_SHIFT, only one miss in
 * 2^CACHE_STREAM_ADMIT_SHIFT (pseudo-random, deterministic) is inserted; once keys are found
 * again (a working set) every miss is inserted, as before. A key used repeatedly is admitted after
 * a few misses either way. Deciding costs two counters per lookup.
 */

/** Lookups per window over which the hit share is taken. */
export const CACHE_WINDOW_LOOKUPS = 1024;
/** A window with fewer than lookups >> this many hits (1/16) is a stream of new keys. */
export const CACHE_SPARSE_SHIFT = 4;
/** While streaming, one miss in 2^this (1 in 8) is inserted. */
export const CACHE_STREAM_ADMIT_SHIFT = 3;

/** The admission state of one cache: tell it every hit (`hit`), ask it at every miss (`admitMiss`). */
export class CacheAdmission {
  private lookups = 0;
  private hits = 0;
  /** The last window's hit share was below 1/2^CACHE_SPARSE_SHIFT. */
  private sparse = false;
  /** LCG state of the 1-in-8 choice (deterministic; not periodic in a way access patterns meet). */
  private rnd = 0x2545f491;

  /** A lookup found its key. */
  hit(): void {
    this.hits++;
    if (++this.lookups >= CACHE_WINDOW_LOOKUPS) this.roll();
  }

  /** A lookup missed: whether to insert its key. */
  admitMiss(): boolean {
    if (++this.lookups >= CACHE_WINDOW_LOOKUPS) this.roll();
    if (!this.sparse) return true;
    this.rnd = (Math.imul(this.rnd, 1103515245) + 12345) >>> 0;
    return this.rnd >>> (32 - CACHE_STREAM_ADMIT_SHIFT) === 0;
  }

  /** Whether misses are inserted one in 2^CACHE_STREAM_ADMIT_SHIFT (the last window was a stream). */
  get streaming(): boolean { return this.sparse; }

  private roll(): void {
    this.sparse = this.hits << CACHE_SPARSE_SHIFT < this.lookups;
    this.hits = 0;
    this.lookups = 0;
  }
}
