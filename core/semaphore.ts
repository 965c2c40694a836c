/**
 * The one counting semaphore of Cairn (block-device requests in flight, RPC calls in flight), and
 * the bounded parallel loop built for the same job (`runBounded`: commit shard writes, migration,
 * KV reads). Waiters are served first come first served; the wait queue itself is bounded
 * (`OVERLOADED` past `maxWaiters`), and a wait can be abandoned through an `AbortSignal`.
 */
import { AbortedError, CairnError, assert } from './errors.js';

/** Default bound of callers waiting for a slot. */
export const MAX_SEMAPHORE_WAITERS = 65_536;

/** Options of a `Semaphore`. */
export interface SemaphoreOptions {
  /** Most callers waiting for a slot at once (default `MAX_SEMAPHORE_WAITERS`). */
  maxWaiters?: number;
  /** What the slots are, for error messages (default 'semaphore'). */
  what?: string;
}

/** FIFO counting semaphore with a bounded wait queue. */
export class Semaphore {
  private waiters: Array<(() => void) | undefined> = [];
  private head = 0;
  private held = 0;
  private drained: Array<() => void> = [];
  private readonly maxWaiters: number;
  private readonly what: string;

  constructor(readonly limit: number, opts: SemaphoreOptions = {}) {
    assert(Number.isInteger(limit) && limit >= 1, 'a semaphore has at least one slot', { limit });
    this.maxWaiters = opts.maxWaiters ?? MAX_SEMAPHORE_WAITERS;
    this.what = opts.what ?? 'semaphore';
  }

  /** Slots taken now. */
  get inFlight(): number { return this.held; }

  /** Callers waiting for a slot now. */
  get waiting(): number { return this.waiters.length - this.head; }

  /** Take a slot at once if one is free and nobody waits before us (no promise on the fast path). */
  tryAcquire(): boolean {
    if (this.held < this.limit && this.waiting === 0) { this.held++; return true; }
    return false;
  }

  /**
   * Take a slot, waiting in arrival order. Rejects with `AbortedError` when `signal` fires first
   * (the wait leaves the queue) and with `OVERLOADED` when `maxWaiters` callers already wait.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`wait for a ${this.what} slot aborted`));
    if (this.tryAcquire()) return Promise.resolve();
    if (this.waiting >= this.maxWaiters) {
      return Promise.reject(new CairnError('OVERLOADED', `${this.waiting} callers already wait for a ${this.what} slot`, { what: this.what, maxWaiters: this.maxWaiters }));
    }
    return new Promise<void>((resolve, reject) => {
      const index = this.waiters.length;
      const onAbort = () => {
        if (this.waiters[index] === grant) this.waiters[index] = undefined; // skipped when its turn comes
        reject(new AbortedError(`wait for a ${this.what} slot aborted`));
      };
      const grant = () => { signal?.removeEventListener('abort', onAbort); this.held++; resolve(); };
      this.waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Give a slot back; the longest waiter gets it. */
  release(): void {
    this.held--;
    assert(this.held >= 0, `${this.what} slot released twice`);
    while (this.head < this.waiters.length) {
      const next = this.waiters[this.head];
      this.waiters[this.head++] = undefined;
      if (this.head === this.waiters.length) { this.waiters = []; this.head = 0; }
      if (next) { next(); return; }
    }
    if (this.held === 0 && this.drained.length) {
      const d = this.drained;
      this.drained = [];
      for (const f of d) f();
    }
  }

  /** Run `fn` holding one slot. */
  async with<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!this.tryAcquire()) await this.acquire(signal);
    try { return await fn(); } finally { this.release(); }
  }

  /** Resolves once no slot is held and nobody waits. */
  idle(): Promise<void> {
    if (this.held === 0 && this.waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }
}

/**
 * Run `fn` over `items` with at most `limit` calls in flight, in order of `items`; every item is
 * attempted, and the first error (if any) is thrown once all have settled.
 */
export async function runBounded<T>(items: readonly T[], limit: number, fn: (x: T, index: number) => Promise<void>): Promise<void> {
  assert(Number.isInteger(limit) && limit >= 1, 'runBounded needs at least one worker', { limit });
  let next = 0;
  let failed = false;
  let firstErr: unknown;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try { await fn(items[i]!, i); } catch (err) { if (!failed) { failed = true; firstErr = err; } }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw firstErr;
}

/**
 * `runBounded` over an async source: at most `limit` calls of `fn` in flight, the next item pulled
 * only when a worker is free (so a source of millions never sits in memory). The first error wins
 * after the calls in flight settle; the source is not drained further after an error.
 */
export async function runBoundedIter<T>(items: AsyncIterable<T>, limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  assert(Number.isInteger(limit) && limit >= 1, 'runBoundedIter needs at least one worker', { limit });
  const it = items[Symbol.asyncIterator]();
  let failed = false;
  let firstErr: unknown;
  let pulling: Promise<IteratorResult<T>> | undefined;
  // one pull at a time: async iterators need not support concurrent next()
  const pull = async (): Promise<IteratorResult<T>> => {
    while (pulling) await pulling.catch(() => undefined);
    const p = it.next();
    pulling = p;
    try { return await p; } finally { if (pulling === p) pulling = undefined; }
  };
  const worker = async () => {
    while (!failed) {
      let r: IteratorResult<T>;
      try { r = await pull(); } catch (err) { if (!failed) { failed = true; firstErr = err; } return; }
      if (r.done) return;
      try { await fn(r.value); } catch (err) { if (!failed) { failed = true; firstErr = err; } }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failed) {
    await it.return?.().catch(() => undefined);
    throw firstErr;
  }
}
