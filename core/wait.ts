/**
 * Waiting on state changes instead of polling: the code that changes some state calls `notify()`,
 * and each waiter re-checks its condition then. Every wait has a deadline (`TimeoutError`, code
 * `TIMEOUT`, naming what was awaited) and may be abandoned through an `AbortSignal`; the number
 * of waiters is bounded (`OVERLOADED`).
 */
import { AbortedError, CairnError, TimeoutError, assert } from './errors.js';

/** Default bound of concurrent waiters of one `Notifier`. */
export const MAX_NOTIFIER_WAITERS = 65_536;

/** How one wait is bounded. */
export interface WaitOptions {
  /** Longest wait in milliseconds; `TimeoutError` after it. */
  timeoutMs: number;
  /** What is awaited, for the timeout message ("in-flight commits to finish"). */
  what: string;
  signal?: AbortSignal;
  /** Context for the timeout error's `info`. */
  info?: Record<string, unknown>;
}

/** Wakes waiters when the state they wait on may have changed. */
export class Notifier {
  private waiters = new Set<() => void>();

  constructor(private readonly maxWaiters = MAX_NOTIFIER_WAITERS) {}

  /** Callers waiting now. */
  get waiting(): number { return this.waiters.size; }

  /** The state changed: every waiter re-checks its condition. */
  notify(): void {
    if (this.waiters.size === 0) return;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolve as soon as `cond()` holds (checked now and after every `notify`). */
  until(cond: () => boolean, o: WaitOptions): Promise<void> {
    if (cond()) return Promise.resolve();
    assert(Number.isFinite(o.timeoutMs) && o.timeoutMs >= 0, 'a wait has a finite deadline', { what: o.what, timeoutMs: o.timeoutMs });
    if (o.signal?.aborted) return Promise.reject(new AbortedError(`wait for ${o.what} aborted`, o.info));
    if (this.waiters.size >= this.maxWaiters) {
      return Promise.reject(new CairnError('OVERLOADED', `${this.waiters.size} callers already wait for ${o.what}`, { ...o.info, maxWaiters: this.maxWaiters }));
    }
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: unknown) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        o.signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err); else resolve();
      };
      const check = () => {
        let ok: boolean;
        try { ok = cond(); } catch (err) { finish(err); return; }
        if (ok) finish(); else this.waiters.add(check);
      };
      const onAbort = () => finish(new AbortedError(`wait for ${o.what} aborted`, o.info));
      const timer = setTimeout(() => finish(new TimeoutError(`${o.what}: not done within ${o.timeoutMs} ms`, { ...o.info, timeoutMs: o.timeoutMs })), o.timeoutMs);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(check);
    });
  }
}
