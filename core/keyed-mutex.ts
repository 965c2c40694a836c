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
 * The queue of one contended key of a `KeyedMutex`: grants of the callers waiting for it, in
 * arrival order. Created on first contention; an uncontended key is held with no object at all.
 */
interface MutexQueue { grants: Array<() => void> }

/** A `KeyedMutex` entry held by one caller with nobody waiting (no allocation per lock). */
const HELD = 0;

/**
 * Per-key async mutual exclusion: callers on the same key run one after another, in arrival order;
 * different keys do not wait for each other. Used to serialise read-modify-write of one EC stripe.
 *
 * A key held with nobody waiting is one map entry (`HELD`): taking and releasing it uncontended
 * allocates no promise, queue or closure (`tryAcquire`/`release`). The waiter queue is made when
 * a second caller arrives, and the lock is handed to the oldest waiter directly on release.
 */
export class KeyedMutex<K = string> {
  private keys = new Map<K, typeof HELD | MutexQueue>();
  private waiting = 0;

  constructor(private readonly maxWaiters = MAX_LOCK_WAITERS) {}

  /** Run `fn` while holding the locks of all `keys` (taken in sorted order, so no deadlock). */
  async withLocks<T>(keys: K[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const taken: K[] = [];
    try {
      for (const k of sorted) { await this.acquire(k); taken.push(k); }
      return await fn();
    } finally {
      for (let i = taken.length - 1; i >= 0; i--) this.release(taken[i]!);
    }
  }

  /**
   * Take the lock of `key` now when nobody holds or waits for it (no promise to await: the hot
   * path of uncontended commits); returns its release, or undefined when the caller must wait
   * (`withLocks`). Holders taken this way are waited for by later `withLocks` callers as usual.
   * The release is idempotent (a second call does nothing).
   */
  tryLock(key: K): (() => void) | undefined {
    if (!this.tryAcquire(key)) return undefined;
    let held = true;
    return () => { if (held) { held = false; this.release(key); } };
  }

  /**
   * `tryLock` without a handle: true when `key` was free and is now held by the caller, who must
   * call `release(key)` exactly once. Allocates nothing.
   */
  tryAcquire(key: K): boolean {
    if (this.keys.has(key)) return false;
    this.keys.set(key, HELD);
    return true;
  }

  /**
   * Release `key`, held by the caller (`tryAcquire`, or a lock `withLocks` took): the oldest waiter
   * gets it, or it becomes free. Releasing a key nobody holds is a programming error (asserted).
   */
  release(key: K): void {
    const e = this.keys.get(key);
    if (e === undefined) throw new CairnError('ASSERTION_FAILED', 'release of a keyed lock nobody holds');
    if (e === HELD) { this.keys.delete(key); return; }
    const grant = e.grants.shift();
    if (e.grants.length === 0) this.keys.set(key, HELD); // (the next holder, if any, holds it alone)
    if (grant === undefined) this.keys.delete(key);
    else grant();
  }

  private acquire(key: K): Promise<void> {
    const e = this.keys.get(key);
    if (e === undefined) { this.keys.set(key, HELD); return Promise.resolve(); }
    if (this.waiting >= this.maxWaiters) return Promise.reject(overloaded(this.waiting, this.maxWaiters));
    let q = e;
    if (q === HELD) { q = { grants: [] }; this.keys.set(key, q); }
    this.waiting++;
    const queue = q;
    return new Promise<void>((resolve) => { queue.grants.push(() => { this.waiting--; resolve(); }); });
  }
}

/** State of a `KeyedRwLock` key held exclusively or waited for (a key only held shared is its count). */
interface RwState { shared: number; exclusive: boolean; queue: Array<{ exclusive: boolean; grant: () => void }> }

/**
 * Per-key async read/write lock, first come first served: any number of shared holders, or one
 * exclusive holder. Used so that an object punch excludes concurrent writes to any of the
 * object's dkeys (whose read-modify-write could otherwise resurrect punched bytes).
 *
 * A key only held shared with nobody waiting is its holder count in the map (a small integer: no
 * allocation to take or release it, `trySharedAcquire`/`releaseShared`); the state object with
 * its queue is made when an exclusive holder or a waiter arrives.
 */
export class KeyedRwLock<K = string> {
  private keys = new Map<K, number | RwState>();
  private waiting = 0;

  constructor(private readonly maxWaiters = MAX_LOCK_WAITERS) {}

  /** Run `fn` holding every key of `shared` shared and of `exclusive` exclusively (sorted order). */
  async with<T>(shared: K[], exclusive: K[], fn: () => Promise<T>): Promise<T> {
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
   * waiter is overtaken); returns its release (idempotent), or undefined when the caller must wait (`with`).
   */
  tryShared(key: K): (() => void) | undefined {
    if (!this.trySharedAcquire(key)) return undefined;
    let held = true;
    return () => { if (held) { held = false; this.releaseShared(key); } };
  }

  /**
   * `tryShared` without a handle: true when `key` is now held shared by the caller, who must call
   * `releaseShared(key)` exactly once. Allocates nothing when the key is only held shared.
   */
  trySharedAcquire(key: K): boolean {
    const e = this.keys.get(key);
    if (e === undefined) { this.keys.set(key, 1); return true; }
    if (typeof e === 'number') { this.keys.set(key, e + 1); return true; }
    if (e.exclusive || e.queue.length > 0) return false;
    e.shared++;
    return true;
  }

  /** Release one shared hold of `key` (`trySharedAcquire`): waiters are granted as it allows. */
  releaseShared(key: K): void {
    const e = this.keys.get(key);
    if (typeof e === 'number') {
      if (e > 1) this.keys.set(key, e - 1); else this.keys.delete(key);
      return;
    }
    if (e === undefined || e.shared <= 0) throw new CairnError('ASSERTION_FAILED', 'shared release of a keyed lock not held shared');
    e.shared--;
    this.pump(key, e);
  }

  /** The state object of `key` (made from its shared count when it has none). */
  private state(key: K): RwState {
    const e = this.keys.get(key);
    if (e !== undefined && typeof e !== 'number') return e;
    const st: RwState = { shared: e ?? 0, exclusive: false, queue: [] };
    this.keys.set(key, st);
    return st;
  }

  private acquire(key: K, exclusive: boolean): Promise<() => void> {
    if (this.waiting >= this.maxWaiters) return Promise.reject(overloaded(this.waiting, this.maxWaiters));
    const s = this.state(key);
    let held = true;
    // (by key, not by `s`: once the queue empties, a shared-only key goes back to being a count)
    const release = () => {
      if (!held) return;
      held = false;
      if (!exclusive) { this.releaseShared(key); return; }
      const cur = this.keys.get(key);
      if (cur === undefined || typeof cur === 'number' || !cur.exclusive) throw new CairnError('ASSERTION_FAILED', 'exclusive release of a keyed lock not held exclusively');
      cur.exclusive = false;
      this.pump(key, cur);
    };
    this.waiting++;
    return new Promise((resolve) => {
      s.queue.push({ exclusive, grant: () => { this.waiting--; resolve(release); } });
      this.pump(key, s);
    });
  }

  private pump(key: K, s: RwState): void {
    while (s.queue.length) {
      const head = s.queue[0]!;
      if (s.exclusive || (head.exclusive && s.shared > 0)) break;
      s.queue.shift();
      if (head.exclusive) s.exclusive = true; else s.shared++;
      head.grant();
      if (head.exclusive) break;
    }
    if (s.queue.length === 0 && !s.exclusive && this.keys.get(key) === s) {
      // back to the allocation-free form: a shared count, or no entry
      if (s.shared === 0) this.keys.delete(key); else this.keys.set(key, s.shared);
    }
  }
}
