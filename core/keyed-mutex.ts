/**
 * Per-key locks in memory: `KeyedMutex` (mutual exclusion) and `KeyedRwLock` (shared/exclusive).
 * Waiters are served in arrival order; the number of callers waiting at once is bounded
 * (`OVERLOADED` past `maxWaiters`), so a flood of requests on one key cannot grow memory unbounded.
 */
import { CairnError } from './errors.js';

/** Default bound of callers waiting for keys of one lock table. */
export const MAX_LOCK_WAITERS = 65_536;

function overloaded(waiting: number, max: number): CairnError {
  return new CairnError('OVERLOADED', `${waiting} callers already wait for keyed locks`, { maxWaiters: max });
}

/**
 * Per-key async mutual exclusion: callers on the same key run one after another, in arrival order;
 * different keys do not wait for each other. Used to serialise read-modify-write of one EC stripe.
 */
export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();
  private waiting = 0;

  constructor(private readonly maxWaiters = MAX_LOCK_WAITERS) {}

  /** Run `fn` while holding the locks of all `keys` (taken in sorted order, so no deadlock). */
  async withLocks<T>(keys: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const releases: Array<() => void> = [];
    try {
      for (const k of sorted) releases.push(await this.acquire(k));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  /**
   * Take the lock of `key` now when nobody holds or waits for it (no promise to await: the hot
   * path of uncontended commits); returns its release, or undefined when the caller must wait
   * (`withLocks`). Holders taken this way are waited for by later `withLocks` callers as usual.
   */
  tryLock(key: string): (() => void) | undefined {
    if (this.tails.has(key)) return undefined;
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    this.tails.set(key, mine);
    return () => {
      release();
      if (this.tails.get(key) === mine) this.tails.delete(key);
    };
  }

  private async acquire(key: string): Promise<() => void> {
    const prev = this.tails.get(key);
    if (prev && this.waiting >= this.maxWaiters) throw overloaded(this.waiting, this.maxWaiters);
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = (prev ?? Promise.resolve()).then(() => mine);
    this.tails.set(key, tail);
    if (prev) {
      this.waiting++;
      try { await prev; } finally { this.waiting--; }
    }
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

/**
 * Per-key async read/write lock, first come first served: any number of shared holders, or one
 * exclusive holder. Used so that an object punch excludes concurrent writes to any of the
 * object's dkeys (whose read-modify-write could otherwise resurrect punched bytes).
 */
export class KeyedRwLock {
  private keys = new Map<string, { shared: number; exclusive: boolean; queue: Array<{ exclusive: boolean; grant: () => void }> }>();
  private waiting = 0;

  constructor(private readonly maxWaiters = MAX_LOCK_WAITERS) {}

  /** Run `fn` holding every key of `shared` shared and of `exclusive` exclusively (sorted order). */
  async with<T>(shared: string[], exclusive: string[], fn: () => Promise<T>): Promise<T> {
    const ex = new Set(exclusive);
    const all = [...new Set([...shared, ...exclusive])].sort();
    const releases: Array<() => void> = [];
    try {
      for (const k of all) releases.push(await this.acquire(k, ex.has(k)));
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  /**
   * Take `key` shared now when it is neither held exclusively nor waited for (so no exclusive
   * waiter is overtaken); returns its release, or undefined when the caller must wait (`with`).
   */
  tryShared(key: string): (() => void) | undefined {
    let st = this.keys.get(key);
    if (st && (st.exclusive || st.queue.length > 0)) return undefined;
    if (!st) { st = { shared: 0, exclusive: false, queue: [] }; this.keys.set(key, st); }
    const s = st;
    s.shared++;
    return () => { s.shared--; this.pump(key, s); };
  }

  private acquire(key: string, exclusive: boolean): Promise<() => void> {
    let st = this.keys.get(key);
    if (!st) { st = { shared: 0, exclusive: false, queue: [] }; this.keys.set(key, st); }
    const s = st;
    const release = () => {
      if (exclusive) s.exclusive = false; else s.shared--;
      this.pump(key, s);
    };
    if (this.waiting >= this.maxWaiters) {
      if (s.queue.length === 0 && !s.exclusive && s.shared === 0) this.keys.delete(key);
      return Promise.reject(overloaded(this.waiting, this.maxWaiters));
    }
    this.waiting++;
    return new Promise((resolve) => {
      s.queue.push({ exclusive, grant: () => { this.waiting--; resolve(release); } });
      this.pump(key, s);
    });
  }

  private pump(key: string, s: { shared: number; exclusive: boolean; queue: Array<{ exclusive: boolean; grant: () => void }> }): void {
    while (s.queue.length) {
      const head = s.queue[0]!;
      if (s.exclusive || (head.exclusive && s.shared > 0)) break;
      s.queue.shift();
      if (head.exclusive) s.exclusive = true; else s.shared++;
      head.grant();
      if (head.exclusive) break;
    }
    if (!s.exclusive && s.shared === 0 && s.queue.length === 0) this.keys.delete(key);
  }
}
