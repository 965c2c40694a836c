/**
 * Groups requests made in the same turn of the event loop into one call (commits and commit
 * notifications to one engine), so that a network round trip is paid per batch, not per request.
 */

/** Most items one batch carries. */
export const MAX_BATCH = 256;

/** Collects items and sends them together; each `add` resolves with its own result. */
export class Batcher<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  /** `send` gets up to MAX_BATCH items and returns one result (or Error) per item, in order. */
  constructor(private readonly send: (items: T[]) => Promise<Array<R | Error>>) {}

  add(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) { this.scheduled = true; setImmediate(() => this.flush()); }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.send(batch.map((b) => b.item)).then((rs) => {
        batch.forEach((b, i) => { const r = rs[i]; if (r instanceof Error) b.reject(r); else b.resolve(r as R); });
      }, (err) => { for (const b of batch) b.reject(err); });
    }
  }
}
