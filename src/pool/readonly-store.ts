/**
 * Target stores of a pool opened read-only, kept readable while the writing process goes on.
 *
 * A read-only open loads each target's index once (and again on `refresh()`). The writer keeps
 * compacting: merges rewrite runs into new chunks and free the old ones, a flushed log region is
 * reused. A reader whose index still points there finds other bytes: the checksums catch it
 * (`CHECKSUM_MISMATCH`, `CORRUPTED`), never wrong data, but the read fails and EC reads may
 * report too few consistent pieces. The versions the reader reads are still there (merges keep
 * every version; aggregation keeps the reader's registered epoch, see container/readers.ts), only
 * elsewhere: so on such a failure the store is re-read and the call made once more, at the same
 * epoch. A listing that fails midway restarts and skips what it already yielded (the listing at
 * a fixed epoch is the same after the re-read).
 */
import type { ShardStore } from '../io/shard-store.js';

/** Codes of a read through an index the writer has since rewritten (worth one re-read). */
export const STALE_VIEW_CODES: ReadonlySet<string> = new Set(['CHECKSUM_MISMATCH', 'CORRUPTED', 'MISSING_FILE']);
/** Re-reads of the store one call may trigger before its error stands. */
export const MAX_STALE_VIEW_RETRIES = 2;

const PROMISE_READS = new Set(['fetchSingle', 'fetchArray', 'fetchArrayInto', 'akeyKind', 'scanObject']);
/** Optional synchronous reads: absent through this view (a sync call cannot wait for a re-read), so callers take the promise reads above. */
const SYNC_READS = new Set(['fetchSingleNow']);
const LISTINGS = new Set(['listObjects', 'listObjectIds', 'listDkeys', 'listAkeys', 'listRecx']);

const isStale = (err: unknown) => STALE_VIEW_CODES.has(String((err as { code?: unknown } | null)?.code));

/**
 * `store`, with its reads retried on a freshly re-read store (`reopen`) when they fail as a stale
 * view does. Every other method goes to the current store unchanged.
 */
export function refreshingStore(store: ShardStore, reopen: () => Promise<ShardStore>): ShardStore {
  let current = store;
  let reopening: Promise<ShardStore> | undefined;
  /** One re-read for every call that failed on the same store. */
  const fresh = (failed: ShardStore): Promise<ShardStore> => {
    if (current !== failed) return Promise.resolve(current); // someone re-read it already
    reopening ??= reopen().then((s) => { current = s; return s; }).finally(() => { reopening = undefined; });
    return reopening;
  };
  return new Proxy(store, {
    get(_target, prop) {
      const name = String(prop);
      if (PROMISE_READS.has(name)) {
        return async (...args: unknown[]) => {
          for (let attempt = 0; ; attempt++) {
            const s = current;
            try {
              return await (s as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(...args);
            } catch (err) {
              if (!isStale(err) || attempt >= MAX_STALE_VIEW_RETRIES) throw err;
              await fresh(s);
            }
          }
        };
      }
      if (SYNC_READS.has(name)) return undefined;
      if (LISTINGS.has(name)) {
        return (...args: unknown[]) => (async function* () {
          let yielded = 0;
          for (let attempt = 0; ; attempt++) {
            const s = current;
            let skip = yielded;
            try {
              for await (const x of (s as unknown as Record<string, (...a: unknown[]) => AsyncIterable<unknown>>)[name]!(...args)) {
                if (skip > 0) { skip--; continue; }
                yielded++;
                yield x;
              }
              return;
            } catch (err) {
              if (!isStale(err) || attempt >= MAX_STALE_VIEW_RETRIES) throw err;
              await fresh(s);
            }
          }
        })();
      }
      const v = (current as unknown as Record<PropertyKey, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(current) : v;
    },
  });
}
