/**
 * Groups requests made in the same turn of the event loop into one call (commits and commit
 * notifications to one engine), so that a network round trip is paid per batch, not per request.
 * Bounded: at most `maxBatch` items per call, `maxInFlight` calls at once, and `maxQueued` items
 * waiting for a call (`OVERLOADED` past it).
 */
import { CairnError, assert } from './errors.js';

/** Most items one batch carries (the engines refuse larger batches: see src/net/protocol.ts). */
export const MAX_BATCH = 256;
/** Default bound of batches being sent at once by one batcher. */
export const MAX_BATCHES_IN_FLIGHT = 64;
/** Default bound of items waiting to be sent by one batcher. */
export const MAX_BATCHER_QUEUE = 64 * MAX_BATCH;

/** Options of a `Batcher`. */
export interface BatcherOptions {
  /** Most items per call of `send` (default `MAX_BATCH`). */
  maxBatch?: number;
  /** Most calls of `send` in flight (default `MAX_BATCHES_IN_FLIGHT`). */
  maxInFlight?: number;
  /** Most items waiting for a call (default `MAX_BATCHER_QUEUE`). */
  maxQueued?: number;
}

/** Collects items and sends them together; each `add` resolves with its own result. */
export class Batcher<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private readonly maxQueued: number;

  /** `send` gets up to `maxBatch` items and returns one result (or Error) per item, in order. */
  constructor(private readonly send: (items: T[]) => Promise<Array<R | Error>>, opts: BatcherOptions = {}) {
    this.maxBatch = opts.maxBatch ?? MAX_BATCH;
    this.maxInFlight = opts.maxInFlight ?? MAX_BATCHES_IN_FLIGHT;
    this.maxQueued = opts.maxQueued ?? MAX_BATCHER_QUEUE;
    assert(this.maxBatch >= 1 && this.maxInFlight >= 1 && this.maxQueued >= this.maxBatch, 'batcher bounds are consistent', { ...opts });
  }

  /** Queue `item` for the next batch; `OVERLOADED` when `maxQueued` items already wait. */
  add(item: T): Promise<R> {
    if (this.queue.length >= this.maxQueued) {
      return Promise.reject(new CairnError('OVERLOADED', `${this.queue.length} items already wait to be batched`, { maxQueued: this.maxQueued }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()); }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.send(batch.map((b) => b.item)).then((rs) => {
        assert(rs.length === batch.length, 'a batch send returns one result per item', { items: batch.length, results: rs.length });
        batch.forEach((b, i) => { const r = rs[i]; if (r instanceof Error) b.reject(r); else b.resolve(r as R); });
      }).catch((err) => { for (const b of batch) b.reject(err); }).finally(() => {
        this.inFlight--;
        if (this.queue.length && !this.scheduled) this.flush();
      });
    }
  }
}
