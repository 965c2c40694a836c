/**
 * The rebuild budget: a token bucket of bytes per second that every step of a rebuild or rebalance
 * draws from before it moves bytes (what it reads plus what it writes), so a migration leaves the
 * rest of the devices' bandwidth to client I/O (`pool.setRebuildBudget({ bytesPerSecond })`).
 * Unlimited by default. The bucket lends: a step larger than the tokens on hand goes at once and
 * the steps after it wait until the debt is paid, so the rate holds over any window of a few steps
 * and no step is ever refused for being large.
 */
import { AbortedError } from '../../core/errors.js';
import { badArg } from '../io/errors.js';
import { describeValue } from '../../core/describe.js';
import { knownOptionsArg } from '../object/args.js';

/** Smallest budget accepted (bytes per second): below it one migration step would wait minutes. */
export const MIN_REBUILD_BYTES_PER_SECOND = 1024 * 1024;
/** Tokens a budget may save up while the rebuild is idle (a burst), in seconds of its rate. */
export const REBUILD_BURST_SECONDS = 0.05;

/** What `pool.setRebuildBudget` takes: `bytesPerSecond` undefined (or 0) = unlimited. */
export interface RebuildBudgetOptions { bytesPerSecond?: number }

/** A token bucket of bytes per second (see the module comment). */
export class RebuildBudget {
  private rate = 0;
  private tokens = 0;
  private last = 0;

  /** Bytes per second now, 0 = unlimited. */
  get bytesPerSecond(): number { return this.rate; }

  /** Change the rate (0 or undefined: unlimited); steps already waiting keep their wait. */
  set(opts: RebuildBudgetOptions): void {
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw badArg('setRebuildBudget needs { bytesPerSecond }');
    // (a misspelt name would lift the limit without a word: only `bytesPerSecond` is taken)
    knownOptionsArg(opts, ['bytesPerSecond'], 'setRebuildBudget');
    const r = opts.bytesPerSecond === undefined ? 0 : opts.bytesPerSecond;
    if (typeof r !== 'number' || !Number.isFinite(r) || r < 0 || (r > 0 && r < MIN_REBUILD_BYTES_PER_SECOND)) {
      throw badArg(`bytesPerSecond must be 0 (unlimited) or a number >= ${MIN_REBUILD_BYTES_PER_SECOND}, got ${describeValue(r)}`, { bytesPerSecond: r });
    }
    this.rate = r;
    this.tokens = 0;
    this.last = performance.now();
  }

  /** Wait until `bytes` may move under the budget (at once when unlimited). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.rate === 0 || bytes <= 0) return;
    const now = performance.now();
    this.tokens = Math.min(this.rate * REBUILD_BURST_SECONDS, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.rate) * 1000;
    await new Promise<void>((resolve, reject) => {
      if (signal?.aborted) { reject(new AbortedError('rebuild step aborted while waiting for its budget')); return; }
      const onAbort = () => { clearTimeout(timer); reject(new AbortedError('rebuild step aborted while waiting for its budget')); };
      const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
