/**
 * Prepared shard writes (`ShardStore.prepareArrayWriteNow`) made in one run of JavaScript, sent as
 * one hashed group write (media `writeHashedGroup`: one pool job, one promise) when that run ends.
 * Used by EC writes (src/io/io.ts) and by the rebuild's prepared writes (src/pool).
 */
import type { PreparedShardWrite } from './shard-store.js';
import { writeHashedGroup, type HashedWriteSlot } from '../media/block-device.js';

/**
 * How the callers of `add` learn a group's outcome:
 * - `group` (one EC write's shards): every `add` answers the group's one promise, settled once
 *   every member's record is applied, and rejected with the first failure only after every member
 *   settled (a commit discards a failed epoch as soon as it rejects; a record still being appended
 *   then would land after the discard);
 * - `member` (rebuild steps): each `add` answers its own promise, so a failed member fails only
 *   its own step.
 */
export type WriteGroupSettle = 'group' | 'member';

interface Waiter { resolve: () => void; reject: (e: unknown) => void }

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/**
 * The open group of one run of JavaScript. Each member is finished with its own result once the
 * group write is over: its record appended, or its extent freed and its error thrown (a group
 * write that failed as a whole fails every member with that error).
 */
export class PreparedWriteGroup {
  /** Sent: a write prepared from now on opens a new group. */
  sent = false;
  private readonly members: PreparedShardWrite[] = [];
  private readonly slots: HashedWriteSlot[] = [];
  /** `member`: one per member, in order. */
  private readonly waiters: Waiter[] = [];
  /** `group`: the group's one promise and its functions (made by the first `add`). */
  private whole: Promise<void> | undefined;
  private wholeWaiter: Waiter | undefined;

  constructor(private readonly settle: WriteGroupSettle) {
    queueMicrotask(() => this.send());
  }

  /** Join `w` (prepared, not sent); see `WriteGroupSettle` for what the promise means. */
  add(w: PreparedShardWrite): Promise<void> {
    this.members.push(w); this.slots.push(w.write);
    if (this.settle === 'group') return this.whole ??= new Promise<void>((resolve, reject) => { this.wholeWaiter = { resolve, reject }; });
    return new Promise<void>((resolve, reject) => { this.waiters.push({ resolve, reject }); });
  }

  private send(): void {
    this.sent = true;
    let results: Promise<Array<bigint | Error>>;
    try {
      results = writeHashedGroup(this.slots);
    } catch (e) {
      this.finish(this.members.map(() => asError(e)));
      return;
    }
    results.then((out) => this.finish(out), (e: unknown) => this.finish(this.members.map(() => asError(e))));
  }

  /** Every member finished with its result, in one pass; then settled as `settle` says. */
  private finish(out: ReadonlyArray<bigint | Error>): void {
    const perMember = this.settle === 'member';
    let failed: unknown;
    let waits: Promise<void>[] | undefined;
    for (let i = 0; i < this.members.length; i++) {
      let p: Promise<void> | undefined;
      try {
        p = this.members[i]!.finish(out[i]);
      } catch (e) {
        if (perMember) this.waiters[i]!.reject(e); else failed ??= e;
        continue;
      }
      if (perMember) { const w = this.waiters[i]!; if (p === undefined) w.resolve(); else p.then(w.resolve, w.reject); }
      else if (p !== undefined) (waits ??= []).push(p);
    }
    if (perMember) return;
    const g = this.wholeWaiter!;
    if (waits === undefined) { if (failed === undefined) g.resolve(); else g.reject(failed); return; }
    Promise.allSettled(waits).then((rs) => {
      for (let i = 0; i < rs.length; i++) { const r = rs[i]!; if (r.status === 'rejected') failed ??= r.reason; }
      if (failed === undefined) g.resolve(); else g.reject(failed);
    });
  }
}
