/**
 * Short-lived locks an engine grants to clients of a connected pool. A partial-stripe EC write
 * reads the old stripe, merges and re-encodes parity: two clients doing it on one stripe at once
 * would each write parity computed without the other's cells. Clients of one process serialise
 * through the container's dkey lock; across processes they take this lock on the engine serving
 * the group's first in-service shard. A holder that dies loses the lock after its TTL.
 */
import { ObjectError } from '../io/errors.js';
import { assert } from '../../core/errors.js';

/** Most locks (held or awaited keys) one engine tracks. */
export const MAX_LOCKS = 65_536;
/** Longest a lock may be held before it lapses. */
export const MAX_LOCK_TTL_MS = 60_000;
/** Most requests waiting for one lock (beyond: TX_RESTART at once, as for a lock that stays busy). */
export const MAX_LOCK_WAITERS = 4096;

interface Held { owner: string; expires: number; waiters: Array<() => void> }

/** Locks by key, FIFO among waiters, each lapsing after its TTL. */
export class LockTable {
  private readonly held = new Map<string, Held>();

  /** Take `key` for `owner` (re-entrant), waiting at most `waitMs`; TX_RESTART when it stays busy. */
  async acquire(key: string, owner: string, ttlMs: number, waitMs: number): Promise<void> {
    const ttl = Math.min(Math.max(1, ttlMs), MAX_LOCK_TTL_MS);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const h = this.held.get(key);
      const now = Date.now();
      if (!h || h.owner === owner || h.expires <= now) {
        const waiters = h?.waiters ?? [];
        if (!h) assert(this.held.size < MAX_LOCKS, 'engine locks are bounded', { size: this.held.size });
        this.held.set(key, { owner, expires: now + ttl, waiters });
        return;
      }
      if (now >= deadline) throw new ObjectError('TX_RESTART', `stripe lock ${key} stayed busy; retry`, { key });
      if (h.waiters.length >= MAX_LOCK_WAITERS) throw new ObjectError('TX_RESTART', `stripe lock ${key} has ${h.waiters.length} waiters; retry`, { key, waiters: h.waiters.length });
      // Wake on release, or when the holder's TTL or our deadline passes.
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(1, Math.min(h.expires, deadline) - now));
        function done() { clearTimeout(t); const i = h!.waiters.indexOf(done); if (i >= 0) h!.waiters.splice(i, 1); resolve(); }
        h.waiters.push(done);
      });
    }
  }

  /** Release `key` if `owner` holds it; the longest waiter goes next. */
  release(key: string, owner: string): void {
    const h = this.held.get(key);
    if (!h || h.owner !== owner) return;
    if (h.waiters.length === 0) { this.held.delete(key); return; }
    h.expires = 0;
    h.waiters.shift()!();
  }

  get size(): number { return this.held.size; }
}
