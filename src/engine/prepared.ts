/**
 * Prepared writes of an engine: every write a client sends at epoch E of container C is part of a
 * two-phase commit that is not decided yet. The engine applies it at once (so the commit point
 * costs no data movement) but records (C, E) in a journal first and keeps it "prepared" until the
 * coordinator's decision arrives. Reads at an epoch >= E of an object E touched wait for the
 * decision, so nobody sees half a commit; an aborted E is discarded from the local targets.
 * After a crash the journal names every undecided (C, E), and the decision is looked up in etcd.
 */
import { Journal, JournalType } from '../container/journal.js';
import { assert } from '../../core/errors.js';
import { Notifier } from '../../core/wait.js';

/** Most prepared (container, epoch) pairs one engine holds before new writes wait. */
export const MAX_PREPARED = 65_536;
/** Journal size above which it is rewritten (when nothing is prepared). */
const COMPACT_BYTES = 4 * 1024 * 1024;

interface Entry {
  cont: string;
  epoch: bigint;
  /** Unit objects written (hex), for read visibility; undefined after a restart (unknown: every read of the container waits). */
  units?: Set<string>;
  since: number;
  decided: Promise<'commit' | 'abort'>;
  settle: (d: 'commit' | 'abort') => void;
}

/** Table of undecided writes, persisted in a journal. */
export class PreparedTable {
  private readonly byCont = new Map<string, Map<bigint, Entry>>();
  private count = 0;
  /** Notified whenever a decision frees room. */
  private readonly decided = new Notifier();

  private constructor(private readonly journal: Journal) {}

  /** Open the journal; returns the table and the pairs left undecided by the last process. */
  static open(path: string, durable: boolean): { table: PreparedTable; undecided: Array<{ cont: string; epoch: bigint }> } {
    const { journal, records } = Journal.open(path, { durable });
    const open = new Map<string, { cont: string; epoch: bigint }>();
    for (const r of records) {
      const cont = String(r.payload.cont ?? '');
      const key = `${cont}/${r.epoch}`;
      if (r.type === JournalType.Intent) open.set(key, { cont, epoch: r.epoch });
      else open.delete(key);
    }
    const table = new PreparedTable(journal);
    const undecided = [...open.values()];
    for (const u of undecided) table.add(u.cont, u.epoch, undefined, false);
    return { table, undecided };
  }

  /** Record a write of `unit` at (cont, epoch) before it is applied. */
  prepare(cont: string, epoch: bigint, unit: string | undefined): void {
    const e = this.byCont.get(cont)?.get(epoch);
    if (e) { if (unit !== undefined) e.units?.add(unit); e.since = Date.now(); return; }
    this.add(cont, epoch, unit, true);
  }

  private add(cont: string, epoch: bigint, unit: string | undefined, log: boolean): void {
    assert(this.count < MAX_PREPARED, 'prepared writes are bounded', { count: this.count });
    if (log) this.journal.append(JournalType.Intent, epoch, { cont });
    let m = this.byCont.get(cont);
    if (!m) { m = new Map(); this.byCont.set(cont, m); }
    let settle!: (d: 'commit' | 'abort') => void;
    const decided = new Promise<'commit' | 'abort'>((r) => (settle = r));
    m.set(epoch, { cont, epoch, units: log ? new Set(unit !== undefined ? [unit] : []) : undefined, since: Date.now(), decided, settle });
    this.count++;
  }

  /** Whether more prepared pairs may be taken. */
  get full(): boolean { return this.count >= MAX_PREPARED; }

  /** Resolve once the table has room for a new pair; `TimeoutError` after `timeoutMs` (decisions are overdue). */
  waitForRoom(timeoutMs: number): Promise<void> {
    return this.decided.until(() => !this.full, { timeoutMs, what: `room among ${MAX_PREPARED} prepared writes`, info: { prepared: this.count } });
  }

  /** Is (cont, epoch) prepared? */
  has(cont: string, epoch: bigint): boolean { return this.byCont.get(cont)?.has(epoch) ?? false; }

  /** Record the decision and wake readers; returns the unit objects the epoch wrote (when known). */
  decide(cont: string, epoch: bigint, d: 'commit' | 'abort'): Set<string> | undefined {
    const m = this.byCont.get(cont);
    const e = m?.get(epoch);
    if (!m || !e) return undefined;
    this.journal.append(d === 'commit' ? JournalType.Done : JournalType.Abort, epoch, { cont });
    m.delete(epoch);
    if (m.size === 0) this.byCont.delete(cont);
    this.count--;
    assert(this.count >= 0, 'prepared writes are counted once');
    e.settle(d);
    this.decided.notify();
    if (this.count === 0 && this.journal.bytes > COMPACT_BYTES) this.journal.rewrite([]);
    return e.units;
  }

  /** Epochs prepared for `cont` in (after, upTo]. */
  within(cont: string, after: bigint, upTo: bigint): bigint[] {
    return [...(this.byCont.get(cont)?.keys() ?? [])].filter((e) => e > after && e <= upTo);
  }

  /**
   * Decisions a read of `unit` (or of the whole container when undefined) at `epoch` must wait
   * for: prepared epochs at or below it that touched the unit.
   */
  blocking(cont: string, epoch: bigint, unit: string | undefined): Array<Promise<unknown>> {
    const m = this.byCont.get(cont);
    if (!m) return [];
    const out: Array<Promise<unknown>> = [];
    for (const e of m.values()) {
      if (e.epoch > epoch) continue;
      if (unit === undefined || e.units === undefined || e.units.has(unit)) out.push(e.decided);
    }
    return out;
  }

  /** Entries older than `ageMs` (their client or coordinator may be gone). */
  stale(ageMs: number): Array<{ cont: string; epoch: bigint }> {
    const now = Date.now();
    const out = [];
    for (const m of this.byCont.values()) for (const e of m.values()) if (now - e.since >= ageMs) out.push({ cont: e.cont, epoch: e.epoch });
    return out;
  }

  close(): void { this.journal.close(); }
}
