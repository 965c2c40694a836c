/**
 * The object ids of a migration pass handed from its listing to its migration as they are listed
 * (`ObjectFeed`), so objects move while the rest are still being listed.
 *
 * Why: a rebuild lists every container's objects first (the count is its progress total) and only
 * then moves any; the listing merges every target's object table and reads the commit registry on
 * the JavaScript thread, with the pool threads idle: rebuild bench `listedSeconds` 0.12-0.25 s of a
 * 0.6-0.8 s rebuild at 512 objects, 0.17-1.1 s at 2048 (session 22). With a feed the listing runs
 * as it did (same quiesce first, same order, same count, ids kept up to the same bound), and the
 * migration takes each id as soon as it is listed.
 */
/**
 * Object ids from one container's listing (`listMigrationObjects` with `feed`) to its migration
 * (`migrateContainer`'s `objects`), in listing order. The listing `push`es at most the ids it may
 * keep, then marks the feed `overflow`ed and only counts; `end` closes it. An overflowed feed, once
 * its kept ids are taken, continues with a fresh listing (`relist`) from after the last of them
 * (listings are in ascending id order), as the migration listed for itself before. `quiesced`
 * settles once the listing's quiesce is over: the migration takes its read points after it (an
 * object whose first write was still landing is listed, and visible at them). One consumer.
 */
export class ObjectFeed implements AsyncIterable<bigint> {
  private readonly ids: bigint[] = [];
  private at = 0;
  private ended = false;
  private overflowed = false;
  private error: unknown;
  private failed = false;
  private wake: (() => void) | undefined;
  private quiesceDone!: () => void;
  /** Settles when the listing's quiesce is over (or the listing failed before it). */
  readonly quiesced: Promise<void> = new Promise<void>((resolve) => { this.quiesceDone = resolve; });

  /** `relist`: a fresh listing of the same container, in ascending id order (used after an overflow). */
  constructor(private readonly relist: () => AsyncIterable<bigint>) {}

  /** The listing's quiesce is over. */
  markQuiesced(): void { this.quiesceDone(); }

  /** One listed id (ignored once the feed has ended or overflowed). */
  push(oid: bigint): void {
    if (this.ended || this.overflowed) return;
    this.ids.push(oid);
    this.notify();
  }

  /** The listing keeps no more ids: the migration lists the rest itself once the kept ones are taken. */
  overflow(): void { this.overflowed = true; }

  /** The listing is over (later calls and pushes are ignored). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.quiesceDone();
    this.notify();
  }

  /** The listing failed: the migration's iteration throws `err` once it has taken the ids before it. */
  fail(err: unknown): void {
    if (this.ended) return;
    this.failed = true;
    this.error = err;
    this.end();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<bigint> {
    let last: bigint | undefined;
    for (;;) {
      if (this.at < this.ids.length) {
        last = this.ids[this.at]!;
        // (taken ids are dropped from memory as the migration goes)
        if (++this.at >= 4096 && this.at * 2 >= this.ids.length) { this.ids.splice(0, this.at); this.at = 0; }
        yield last;
        continue;
      }
      if (this.ended) break;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
    if (this.failed) throw this.error;
    if (!this.overflowed) return;
    for await (const oid of this.relist()) if (last === undefined || oid > last) yield oid;
  }
}
