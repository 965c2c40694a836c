/**
 * Where the `watch()` consumers of a connected pool are, per container, so that an aggregation
 * (any client's) merges nothing they may still read.
 *
 * A consumer reads at the epochs of the events it is handed. Its client follows the commits by
 * asking every engine (`watchFreeze`) for those after its cursor; it asks again only once its
 * consumer took every event of the last answer. So an engine knows each follower's cursor
 * (`after`), and no event the consumer may still read at lies at or below it. An aggregation is
 * kept at or below the lowest cursor (engine.ts, `shard.aggregate`).
 *
 * A follower that stops without saying so (its process killed, a consumer that never asks for the
 * next event) holds aggregation back for WATCH_HOLD_MS after its last request, then no longer: a
 * consumer that spends longer on one batch of events reads what aggregation left there (as
 * DAOS's reads at an epoch aggregated past do).
 */

/** How long after a follower's last request its cursor still holds aggregation back. */
export const WATCH_HOLD_MS = 60_000;
/** Followers remembered per container (the one heard from longest ago is forgotten first). */
export const MAX_WATCH_HOLDS = 1024;

interface Hold { after: bigint; seenMs: number }

/** Per container, each live follower's cursor (see the module comment). */
export class WatchHolds {
  private readonly holds = new Map<string, Map<string, Hold>>();

  /** Follower `id` of container `cont` asked for the commits after `after` at `nowMs`. */
  note(cont: string, id: string, after: bigint, nowMs: number): void {
    let m = this.holds.get(cont);
    if (m === undefined) this.holds.set(cont, m = new Map());
    m.delete(id); // (re-inserted last: the map stays in order of the last request)
    m.set(id, { after, seenMs: nowMs });
    if (m.size > MAX_WATCH_HOLDS) m.delete(m.keys().next().value!);
  }

  /** Follower `id` of `cont` stopped. */
  release(cont: string, id: string): void {
    const m = this.holds.get(cont);
    if (m === undefined) return;
    m.delete(id);
    if (m.size === 0) this.holds.delete(cont);
  }

  /** The lowest cursor of the followers of `cont` heard from within WATCH_HOLD_MS (undefined: none); lapsed ones are dropped. */
  floor(cont: string, nowMs: number): bigint | undefined {
    const m = this.holds.get(cont);
    if (m === undefined) return undefined;
    let low: bigint | undefined;
    for (const [id, h] of m) {
      if (nowMs - h.seenMs > WATCH_HOLD_MS) { m.delete(id); continue; }
      if (low === undefined || h.after < low) low = h.after;
    }
    if (m.size === 0) this.holds.delete(cont);
    return low;
  }
}
