/**
 * What an engine knows of commits (`TxTable`): the writes it holds that are not decided yet, what
 * was decided, and the commits watchers are told about — persisted in its transaction log
 * (txlog.ts). The engine drives it; the protocol is:
 *
 * - Every write of a commit at epoch E of container C carries the participating ranks and how many
 *   shard writes this engine gets (`TxDescriptor`). Each write is applied at once (the commit point
 *   moves no data), its store told first that E is prepared there (`ContainerStore.markPrepared`:
 *   one Prepare record in the store's own log before the epoch's first write, so a write that
 *   survives a crash implies a surviving mark; tx.log keeps no INTENT record since format 3), and
 *   (C, E) stays *prepared*: a read at an epoch >= E of a unit object E wrote waits for the decision.
 * - After a crash the stores name their prepared epochs (`TargetStore.preparedEpochs`); one this log
 *   neither holds whole (P) nor decided was incomplete (never acknowledged) and is discarded; a
 *   decided or forgotten one is settled (an abort discards, and a discard settles: a mark left over
 *   from a forgotten decision is a commit's).
 * - A commit's marks are settled (`TargetStore.settlePrepared`) after its DONE record is written:
 *   batched per container per event-loop turn, before the decision can be forgotten or compacted.
 * - When all of its writes are applied, (C, E) is *complete* here. A commit on this engine alone
 *   is then decided (DONE) before the last write is acknowledged: a single-engine commit is local.
 *   A commit across engines logs P (prepared, whole) before that acknowledgement.
 * - A client whose every write succeeded knows every participant is complete: the commit is
 *   decided, and it tells the participants on later traffic (commit notices). Nothing goes to etcd.
 * - A participant whose (C, E) stays undecided past the tx timeout settles it: an incomplete one
 *   can never commit and is aborted here (discarded, remembered as aborted so a late write is
 *   refused); a complete one asks the commit's coordinator (one of the participants, by epoch),
 *   which *seals* every participant — each reports committed / aborted / complete, and one that is
 *   incomplete or never heard of E is aborted and stays so — and decides: commit iff no participant
 *   aborted (every one in service was complete, or one already committed). Sealing is monotone,
 *   so any participant may run the same round when the coordinator is unreachable.
 * - Decisions are remembered (log + memory, the last `MAX_DECIDED`) so that repeated questions and
 *   late messages are answered; watchers read the committed ones (`commitsIn`).
 */
import { assert, CairnError } from '../../core/errors.js';
import { Notifier } from '../../core/wait.js';
import type { TxDescriptor } from '../net/protocol.js';
import { TxLog, type TxRecord } from './txlog.js';
import { objectList } from './write-epochs.js';

/** Most prepared (container, epoch) pairs one engine holds before new writes wait. */
export const MAX_PREPARED = 65_536;
/** Containers whose prepared map is kept while empty (past them an emptied map is dropped). */
export const MAX_IDLE_PREPARED_MAPS = 64;
/** Decisions remembered (answers to resolvers, refusal of late writes, watcher history). */
export const MAX_DECIDED = 65_536;
/**
 * Most decisions remembered while some are younger than the table's `keepMs` (`TxTableOptions`):
 * past MAX_DECIDED a decision is forgotten only once it is that old, or past this many. A
 * participant that missed its commit notice asks the coordinator after the tx timeout, and a
 * seal round counts a 'forgotten' answer as an abort: a committed decision forgotten sooner (at
 * ~11k decisions/s per engine, MAX_DECIDED lasted ~6 s against a 10 s tx timeout) could abort a
 * commit other participants applied. ~100 B each: at most ~100 MiB at this bound.
 */
export const MAX_DECIDED_KEPT = 1_048_576;

/** Options of `TxTable.open`. */
export interface TxTableOptions {
  /**
   * How long a decision is remembered at least (ms; 0: only the newest MAX_DECIDED are). The
   * engine keeps them for 3 tx timeouts: past the time a participant waits before asking.
   */
  keepMs?: number;
  /** The clock `keepMs` is measured on (ms; Date.now by default; tests pass their own). */
  now?: () => number;
}
/**
 * How long a commit's prepared marks wait to be settled, so that one Settle record per container and
 * target covers many commits (settling at every turn of the event loop cost ~1.7% of an engine's
 * main thread at qd16 puts, perf: `settlePrepared` runs per call, not per epoch). A mark left
 * longer costs nothing but a set entry in its store.
 */
export const SETTLE_DELAY_MS = 20;
/** Log size above which it is rewritten down to what is remembered. */
export const TXLOG_COMPACT_BYTES = 32 * 1024 * 1024;

/** A commit decision. */
export type Decision = 'commit' | 'abort';
/** A participant's state of a commit as a seal reports it. */
export type SealState = 'committed' | 'aborted' | 'complete' | 'never' | 'forgotten';

/** One prepared (container, epoch). */
export interface Prepared {
  readonly cont: string;
  readonly epoch: bigint;
  /** `epoch` as decimal text, made once (every record of the pair carries it): the first write's own text when canonical. */
  readonly epochText: string;
  /**
   * The engine's targets its writes went to, as bits of their index among the engine's targets
   * (`ALL_TARGETS`: unknown, or an index past `MAX_TARGET_BITS`): its marks are settled there only.
   */
  targets: number;
  /** From the writes' descriptor (absent: writes without one, which never complete). */
  desc?: TxDescriptor;
  /** Writes admitted but not applied yet. */
  inflight: number;
  applied: number;
  /** Unit objects written (decimal); undefined after a restart without a P record: every read of the container waits. */
  units?: UnitSet;
  /** `units` as a list, made once the pair is complete (no write joins it then): its P record and its decision share it. */
  unitList?: string[];
  complete: boolean;
  /** A resolver found it complete: a client's abandon no longer aborts it. */
  sealed: boolean;
  /** An abort is under way: no more writes are admitted. */
  aborting: boolean;
  since: number;
  /** Resolution by the sweeper is under way. */
  resolving: boolean;
  /** Resolves with the decision; made only when someone waits for it (`waitDecided`), most pairs never are. */
  decided?: Promise<Decision>;
  settle?: (d: Decision) => void;
  /** The decision, once made (a waiter that comes later gets it at once). */
  decision?: Decision;
}

/**
 * A remembered decision. `units`: the unit objects a commit wrote here, a lone one as its string
 * (most commits write one unit per engine: no array kept per decision, MAX_DECIDED of them live).
 */
interface Decided { cont: string; epoch: bigint; d: Decision; units: string | string[] | undefined }

/**
 * The unit objects a prepared pair wrote here: the first one inline, a set only past it. Most
 * commits write one unit per engine; a `Set` per pair was an ordered hash table allocated (and
 * kept until the decision) for each of them.
 */
export class UnitSet implements Iterable<string> {
  private first: string | undefined = undefined;
  private more: Set<string> | undefined = undefined;

  constructor(units?: Iterable<string>) { if (units !== undefined) for (const u of units) this.add(u); }

  add(u: string): void {
    if (this.first === undefined) { this.first = u; return; }
    if (this.first === u) return;
    (this.more ??= new Set()).add(u);
  }

  has(u: string): boolean { return this.first === u || (this.more !== undefined && this.more.has(u)); }

  /** The units as a new list, the first one first. */
  list(): string[] {
    if (this.first === undefined) return [];
    const out = [this.first];
    if (this.more !== undefined) for (const u of this.more) out.push(u);
    return out;
  }

  [Symbol.iterator](): Iterator<string> { return this.list()[Symbol.iterator](); }
}

/** The units of a remembered decision as a list. */
function unitsOf(u: string | string[] | undefined): string[] {
  return u === undefined ? [] : typeof u === 'string' ? [u] : u;
}

/** A container's list of decisions is copied down once this many forgotten slots lead it (and they are half of it). */
const DECIDED_LIST_SLACK = 1024;

/**
 * The remembered decisions of one container, ascending by epoch, the highest epoch ever put in (a
 * new commit's epoch is usually above it: appended, no lookup), and its floors. Kept for the
 * table's life once made (the floors outlive the decisions). A sorted list, not a map by epoch:
 * decisions come nearly in epoch order, so remembering one is an append and forgetting the
 * lowest a step of `head`; a map by epoch cost a hash insert and a delete per decision in a table
 * of MAX_DECIDED entries (the table's `remember` was ~6% of an engine's main thread in the batch
 * micro). Lookups (resolvers, late writes below `max`) are binary searches.
 */
class ContDecisions {
  /** Live from `head`, ascending by epoch, no epoch twice. */
  list: Decided[] = objectList();
  head = 0;
  max = 0n;
  /** Decisions at or below this epoch were forgotten (-1n: none was). */
  forgotten = -1n;
  /** Watcher history starts above this epoch (-1n: no commit was forgotten). */
  history = -1n;

  /** The first index at or after `head` whose epoch is not below `epoch`. */
  private lowerBound(epoch: bigint): number {
    let lo = this.head, hi = this.list.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (this.list[mid]!.epoch < epoch) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** The decision of `epoch`, if remembered. */
  find(epoch: bigint): Decided | undefined {
    const k = this.lowerBound(epoch);
    const d = this.list[k];
    return d !== undefined && d.epoch === epoch ? d : undefined;
  }

  /** Put `rec` in epoch order; false when its epoch is there already. */
  insert(rec: Decided): boolean {
    const l = this.list;
    const last = l.length > this.head ? l[l.length - 1]! : undefined;
    if (last === undefined || last.epoch < rec.epoch) { l.push(rec); return true; }
    const k = this.lowerBound(rec.epoch);
    if (l[k]!.epoch === rec.epoch) return false;
    l.push(rec);
    for (let i = l.length - 1; i > k; i--) l[i] = l[i - 1]!;
    l[k] = rec;
    return true;
  }

  /** Forget the lowest decision and return it (the caller knows one is there). */
  shift(): Decided {
    const d = this.list[this.head]!;
    this.list[this.head++] = undefined as unknown as Decided;
    if (this.head > DECIDED_LIST_SLACK && 2 * this.head > this.list.length) { this.list = this.list.slice(this.head); this.head = 0; }
    return d;
  }

  /** The remembered decisions with epochs in (after, upTo], ascending. */
  *within(after: bigint, upTo: bigint): Iterable<Decided> {
    for (let i = this.lowerBound(after + 1n); i < this.list.length; i++) {
      const d = this.list[i]!;
      if (d.epoch > upTo) return;
      yield d;
    }
  }

  /** Every remembered decision, ascending. */
  *all(): Iterable<Decided> {
    for (let i = this.head; i < this.list.length; i++) yield this.list[i]!;
  }
}

/**
 * Where a commit's prepared marks are settled (the engine's stores), given its container and
 * epochs, and for each epoch the targets that may hold its marks (`Prepared.targets`).
 */
export type Settler = (cont: string, epochs: bigint[], targets: number[]) => void;

/** `Prepared.targets` when the targets a pair wrote are not known: every target. */
export const ALL_TARGETS = -1;
/** Targets of an engine with a bit of their own in `Prepared.targets` (by index; later ones count as every target). */
export const MAX_TARGET_BITS = 30;

/** The bit of the engine's `index`th target in `Prepared.targets`. */
export function targetBit(index: number): number {
  return index >= 0 && index < MAX_TARGET_BITS ? 1 << index : ALL_TARGETS;
}

/** The commits whose marks are to be settled in one container, with the targets of each. */
interface SettleList { epochs: bigint[]; targets: number[] }

/** A promise of `p`'s decision (made on first use: a pair nobody waits for allocates none). */
export function waitDecided(p: Prepared): Promise<Decision> {
  if (p.decision !== undefined) return Promise.resolve(p.decision);
  if (!p.decided) p.decided = new Promise<Decision>((r) => (p.settle = r));
  return p.decided;
}

/** Prepared and decided commits of one engine. */
export class TxTable {
  private readonly byCont = new Map<string, Map<bigint, Prepared>>();
  private count = 0;
  /** Decisions per container (lookups, watchers), and all of them oldest first (forgetting). */
  private readonly decidedByCont = new Map<string, ContDecisions>();
  /**
   * The container of each decision remembered, in the order they were (a list of objects from the
   * start: its first push deoptimised `remember` once per engine, see objectList): past
   * MAX_DECIDED the container at its head forgets its lowest decision.
   */
  private decidedOrder: ContDecisions[] = objectList();
  /** When each decision of `decidedOrder` was remembered (by `now`; 0 when `keepMs` is 0). */
  private decidedAt: number[] = [];
  private decidedHead = 0;
  private readonly keepMs: number;
  private readonly now: () => number;
  /** Notified whenever a prepared pair is decided or a write finishes applying. */
  readonly changed = new Notifier();
  /** Commits whose store marks are still to be settled, per container (`flushSettles`). */
  private settles = new Map<string, SettleList>();
  private settleCount = 0;
  private settleTimer: NodeJS.Timeout | undefined;
  /** Decisions remembered since the oldest queued settle (`remember` sends them before one of them could be forgotten). */
  private decidedSinceSettle = 0;
  private settler: Settler | undefined;

  private constructor(private readonly log: TxLog, readonly rank: number, options: TxTableOptions) {
    this.keepMs = options.keepMs ?? 0;
    this.now = options.now ?? Date.now;
    assert(Number.isFinite(this.keepMs) && this.keepMs >= 0, 'keepMs is a duration', { keepMs: this.keepMs });
  }

  /**
   * Open the log: the table and the pairs the last process left undecided (incomplete ones can
   * never commit: the engine aborts them before serving; complete ones are settled with the others).
   */
  static open(path: string, durable: boolean, rank: number, options: TxTableOptions = {}): { table: TxTable; undecided: Prepared[] } {
    const { log, records } = TxLog.open(path, durable);
    const t = new TxTable(log, rank, options);
    for (const r of records) t.replay(r);
    return { table: t, undecided: [...t.byCont.values()].flatMap((m) => [...m.values()]) };
  }

  private replay(r: TxRecord): void {
    if (r.t === 'F') {
      const m = this.contOf(r.c);
      if (r.f !== undefined) { const f = BigInt(r.f); if (f > m.forgotten) m.forgotten = f; }
      if (r.w !== undefined) { const w = BigInt(r.w); if (w > m.history) m.history = w; }
      return;
    }
    if (r.e === undefined || !/^\d+$/.test(r.e)) return;
    const epoch = BigInt(r.e);
    switch (r.t) {
      case 'I': {
        if (this.decidedOf(r.c, epoch) !== undefined) return;
        const p = this.get(r.c, epoch) ?? this.add(r.c, epoch, undefined);
        p.targets = ALL_TARGETS;
        if (r.n !== undefined && r.r !== undefined) p.desc = { n: r.n, ranks: r.r };
        p.units = undefined; // which units were written is known only once P is logged
        break;
      }
      case 'P': {
        // (format 3 writes no INTENT: a P is the first record of its pair)
        if (this.decidedOf(r.c, epoch) !== undefined) return;
        const p = this.get(r.c, epoch) ?? this.add(r.c, epoch, undefined);
        p.targets = ALL_TARGETS;
        p.complete = true;
        if (r.n !== undefined && r.r !== undefined) p.desc = { n: r.n, ranks: r.r };
        p.units = new UnitSet(r.u ?? []);
        break;
      }
      case 'S': { const p = this.get(r.c, epoch); if (p) p.sealed = true; break; }
      case 'D': case 'A': {
        const p = this.get(r.c, epoch);
        const units = r.u ?? p?.units?.list();
        if (p) this.remove(p);
        this.remember(r.c, epoch, r.t === 'D' ? 'commit' : 'abort', units);
        break;
      }
    }
  }

  /** The decisions of `cont` (made on first use). */
  private contOf(cont: string): ContDecisions {
    let m = this.decidedByCont.get(cont);
    if (m === undefined) { m = new ContDecisions(); this.decidedByCont.set(cont, m); }
    return m;
  }

  private add(cont: string, epoch: bigint, desc: TxDescriptor | undefined, epochText?: string): Prepared {
    assert(this.count < MAX_PREPARED, 'prepared writes are bounded', { count: this.count });
    let m = this.byCont.get(cont);
    if (!m) { m = new Map(); this.byCont.set(cont, m); }
    // Every field set here, in one order: all pairs share one shape (a field added later, as the
    // decision once was, moved each decided pair to another hidden class and gave it a property array).
    const p: Prepared = {
      cont, epoch, epochText: epochText !== undefined && (epochText.length === 1 || epochText.charCodeAt(0) !== 48) ? epochText : epoch.toString(), targets: 0, desc, inflight: 0, applied: 0, units: new UnitSet(), unitList: undefined, complete: false, sealed: false,
      aborting: false, since: Date.now(), resolving: false, decided: undefined, settle: undefined, decision: undefined,
    };
    m.set(epoch, p);
    this.count++;
    return p;
  }

  /** Forget prepared pair `p`; false when it is not the prepared pair of its (cont, epoch). */
  private remove(p: Prepared): boolean {
    const m = this.byCont.get(p.cont);
    if (!m || m.get(p.epoch) !== p) return false;
    m.delete(p.epoch);
    // (an emptied map is kept while few containers have one: a container whose commits are all
    // decided between two batches, as in a burst of puts, made a new map per batch)
    if (m.size === 0 && this.byCont.size > MAX_IDLE_PREPARED_MAPS) this.byCont.delete(p.cont);
    this.count--;
    assert(this.count >= 0, 'prepared writes are counted once');
    return true;
  }

  /** Remember a decision (bounded: the oldest are forgotten, raising their container's floor). */
  private remember(cont: string, epoch: bigint, d: Decision, units?: string[]): void {
    const m = this.contOf(cont);
    const rec: Decided = { cont, epoch, d, units: units !== undefined && units.length === 1 ? units[0] : units };
    // (an epoch above every one put in cannot be there yet: appended)
    if (epoch > m.max) { m.max = epoch; m.list.push(rec); } else if (!m.insert(rec)) return;
    this.decidedOrder.push(m);
    const now = this.keepMs > 0 ? this.now() : 0;
    this.decidedAt.push(now);
    // (a decision is forgotten only once its marks are settled: the queued settles are all among
    // the last `decidedSinceSettle` decisions, sent long before MAX_DECIDED newer ones push them out)
    if (++this.decidedSinceSettle >= MAX_DECIDED >> 1 && this.settleCount > 0) this.flushSettles();
    for (let live = this.decidedOrder.length - this.decidedHead; live > MAX_DECIDED; live--) {
      // (younger than keepMs: kept, up to MAX_DECIDED_KEPT; see there)
      if (live <= MAX_DECIDED_KEPT && now - this.decidedAt[this.decidedHead]! < this.keepMs) break;
      // (the container of the oldest decision forgets its lowest: as many of its decisions are
      // remembered as it has entries left here, so it has one)
      const om = this.decidedOrder[this.decidedHead]!;
      this.decidedOrder[this.decidedHead++] = undefined as unknown as ContDecisions;
      const old = om.shift();
      if (old.epoch > om.forgotten) om.forgotten = old.epoch;
      if (old.d === 'commit' && old.epoch > om.history) om.history = old.epoch;
    }
    if (this.decidedHead > MAX_DECIDED) {
      this.decidedOrder = this.decidedOrder.slice(this.decidedHead);
      this.decidedAt = this.decidedAt.slice(this.decidedHead);
      this.decidedHead = 0;
    }
  }

  /** Every remembered decision, container by container, ascending. */
  private *remembered(): Iterable<Decided> {
    for (const m of this.decidedByCont.values()) yield* m.all();
  }

  /** The prepared pair (cont, epoch), if any. */
  get(cont: string, epoch: bigint): Prepared | undefined { return this.byCont.get(cont)?.get(epoch); }

  /** What was decided for (cont, epoch): a decision, 'forgotten' (too long ago to tell), or undefined. */
  decidedOf(cont: string, epoch: bigint): Decision | 'forgotten' | undefined {
    const m = this.decidedByCont.get(cont);
    if (m === undefined) return undefined;
    if (epoch <= m.max) { const d = m.find(epoch); if (d) return d.d; }
    return epoch <= m.forgotten ? 'forgotten' : undefined;
  }

  /** 'forgotten' when decisions of (cont, epoch) would have been forgotten by now. */
  private forgottenAt(cont: string, epoch: bigint): 'forgotten' | undefined {
    const m = this.decidedByCont.get(cont);
    return m !== undefined && epoch <= m.forgotten ? 'forgotten' : undefined;
  }

  /** Whether more prepared pairs may be taken. */
  get full(): boolean { return this.count >= MAX_PREPARED; }
  /** Prepared pairs now. */
  get size(): number { return this.count; }

  /** Resolve once there is room for a new prepared pair; `TIMEOUT` after `timeoutMs`. */
  waitForRoom(timeoutMs: number): Promise<void> {
    return this.changed.until(() => !this.full, { timeoutMs, what: `room among ${MAX_PREPARED} prepared writes`, info: { prepared: this.count } });
  }

  /**
   * Admit one write of `unit` at (cont, epoch) to the engine's target of bit `target`
   * (`targetBit`; default every target), synchronously (`epochText`: `epoch` as the request
   * carried it, kept as the pair's text when canonical): the pair is created or joined
   * (nothing is logged here: the caller marks the epoch prepared in the write's store before
   * applying it) and calls `applied` or `failed` after. Throws STALE_EPOCH for a pair already
   * decided or being aborted.
   */
  admit(cont: string, epoch: bigint, desc: TxDescriptor | undefined, unit: string | undefined, target: number = ALL_TARGETS, epochText?: string): Prepared {
    let p = this.get(cont, epoch);
    // (a prepared pair has no decision, deciding removes it: only the floor of forgotten ones applies)
    const d = p === undefined ? this.decidedOf(cont, epoch) : this.forgottenAt(cont, epoch);
    if (d !== undefined || p?.aborting || p?.complete) {
      throw new CairnError('STALE_EPOCH', `epoch ${epoch} of container ${cont} is already ${d ?? (p?.complete ? 'complete' : 'being aborted')} on this engine; retry at a later epoch`, { epoch: epoch.toString() });
    }
    if (!p) p = this.add(cont, epoch, desc, epochText);
    else {
      if (!p.desc && desc) p.desc = desc;
      p.since = Date.now();
    }
    if (unit !== undefined) p.units?.add(unit);
    p.targets |= target;
    p.inflight++;
    return p;
  }

  /**
   * One admitted write was applied. When it was the last one this engine gets, the pair is
   * complete: a commit on this engine alone is decided now (DONE), one across engines is logged
   * as prepared (P). Resolves once that record is in the log (acknowledge the write only then).
   */
  applied(p: Prepared): Promise<void> {
    p.inflight--;
    p.applied++;
    this.changed.notify();
    if (!p.desc || p.complete || p.aborting || p.applied < p.desc.n) return Promise.resolve();
    p.complete = true;
    const units = p.unitList = p.units?.list() ?? [];
    if (p.desc.ranks.length === 1 && p.desc.ranks[0] === this.rank) return this.decide(p, 'commit');
    return this.log.append({ t: 'P', c: p.cont, e: p.epochText, n: p.desc.n, r: p.desc.ranks, u: units });
  }

  /** One admitted write failed: the pair stays incomplete (it is aborted by the client or by timeout). */
  failed(p: Prepared): void {
    p.inflight--;
    this.changed.notify();
  }

  /** Wait until no admitted write of `p` is still being applied (before discarding it). */
  quiesce(p: Prepared, timeoutMs: number): Promise<void> {
    p.aborting = true;
    return this.changed.until(() => p.inflight === 0, { timeoutMs, what: `writes of epoch ${p.epoch} to finish before its abort`, info: { epoch: p.epoch.toString() } });
  }

  /** A resolver found `p` complete: seal it (logged). */
  seal(p: Prepared): Promise<void> {
    if (p.sealed) return Promise.resolve();
    p.sealed = true;
    return this.log.append({ t: 'S', c: p.cont, e: p.epochText });
  }

  /**
   * Record the decision of a prepared pair (for an abort: after its writes were discarded) and
   * wake its readers. Resolves once the record is in the log.
   */
  decide(p: Prepared, d: Decision): Promise<void> {
    if (!this.remove(p)) return Promise.resolve();
    // (a complete pair's list is final: no write joins it)
    const units = d !== 'commit' ? undefined : p.unitList ?? p.units?.list();
    this.remember(p.cont, p.epoch, d, units);
    // A commit's units are in its P record when it has one (across engines); a single-engine commit carries them here.
    const withUnits = d === 'commit' && units && !(p.complete && p.desc && p.desc.ranks.length > 1);
    const done = this.log.append(withUnits ? { t: 'D', c: p.cont, e: p.epochText, u: units } : { t: d === 'commit' ? 'D' : 'A', c: p.cont, e: p.epochText });
    // (an abort's discard settled its marks already)
    if (d === 'commit') this.queueSettle(p.cont, p.epoch, p.targets);
    p.decision = d;
    p.settle?.(d);
    this.changed.notify();
    this.maybeCompact();
    return done;
  }

  /** Remember that (cont, epoch), which this engine holds nothing of, is aborted (a late write is refused). */
  tombstone(cont: string, epoch: bigint): Promise<void> {
    if (this.decidedOf(cont, epoch) !== undefined || this.get(cont, epoch)) return Promise.resolve();
    this.remember(cont, epoch, 'abort');
    const done = this.log.append({ t: 'A', c: cont, e: epoch.toString() });
    this.maybeCompact();
    return done;
  }

  /** Prepared epochs of `cont` in (after, upTo]. */
  within(cont: string, after: bigint, upTo: bigint): Prepared[] {
    return [...(this.byCont.get(cont)?.values() ?? [])].filter((p) => p.epoch > after && p.epoch <= upTo);
  }

  /**
   * Decisions a read of `unit` (or of the whole container when undefined) at `epoch` must wait
   * for: prepared epochs at or below it that wrote the unit (or whose units are unknown).
   */
  blocking(cont: string, epoch: bigint, unit: string | undefined): Array<Promise<unknown>> {
    const m = this.byCont.get(cont);
    if (!m) return [];
    const out: Array<Promise<unknown>> = [];
    for (const p of m.values()) {
      if (p.epoch > epoch) continue;
      if (unit === undefined || p.units === undefined || p.units.has(unit)) out.push(waitDecided(p));
    }
    return out;
  }

  /** Prepared pairs older than `ageMs` and not being resolved already. */
  stale(ageMs: number): Prepared[] {
    const now = Date.now();
    const out: Prepared[] = [];
    for (const m of this.byCont.values()) for (const p of m.values()) if (!p.resolving && p.inflight === 0 && now - p.since >= ageMs) out.push(p);
    return out;
  }

  /** Commits of `cont` in (after, upTo] this engine took part in, with the objects they wrote here (hex). */
  commitsIn(cont: string, after: bigint, upTo: bigint): Array<{ epoch: bigint; objects: string[] }> {
    const out: Array<{ epoch: bigint; objects: string[] }> = [];
    for (const d of this.decidedByCont.get(cont)?.within(after, upTo) ?? []) {
      if (d.d !== 'commit') continue;
      out.push({ epoch: d.epoch, objects: [...new Set(unitsOf(d.units).map((u) => (BigInt(u) >> 32n).toString(16)))] });
    }
    return out;
  }

  /** The highest epoch of `cont` this engine holds a write of, decided or prepared (0 when none). */
  maxEpoch(cont: string): bigint {
    let m = this.decidedByCont.get(cont)?.max ?? 0n;
    for (const e of this.byCont.get(cont)?.keys() ?? []) if (e > m) m = e;
    return m;
  }

  /** Watcher history of `cont` starts above this epoch (older commits were forgotten). */
  historyStart(cont: string): bigint {
    const h = this.decidedByCont.get(cont)?.history;
    return h !== undefined && h > 0n ? h : 0n;
  }

  /**
   * Where commits' store marks are settled (the engine's stores). Without one (tests of the table
   * alone) nothing is queued.
   */
  setSettler(s: Settler | undefined): void { this.settler = s; }

  /**
   * Queue the settle of a commit's marks. Sent SETTLE_DELAY_MS later (a timer: after the microtask
   * that writes the DONE record, TxLog.append, so a mark is settled only once its decision is in
   * the log), the commits of that time sharing one Settle record per container and target.
   */
  private queueSettle(cont: string, epoch: bigint, targets: number): void {
    if (this.settler === undefined) return;
    let l = this.settles.get(cont);
    if (l === undefined) { l = { epochs: objectList(), targets: [] }; this.settles.set(cont, l); }
    l.epochs.push(epoch);
    l.targets.push(targets);
    if (this.settleCount++ === 0) this.decidedSinceSettle = 0;
    if (this.settleTimer === undefined) { this.settleTimer = setTimeout(this.flushSettlesNow, SETTLE_DELAY_MS); this.settleTimer.unref(); }
  }

  private readonly flushSettlesNow = (): void => { this.settleTimer = undefined; this.flushSettles(); };

  /**
   * Send the queued settles to the settler now (before compaction, forgetting, or closing the
   * stores). The log's queued records are written first: a mark is settled only once its DONE
   * record is in the log, whoever calls this.
   */
  flushSettles(): void {
    if (this.settleTimer !== undefined) { clearTimeout(this.settleTimer); this.settleTimer = undefined; }
    if (this.settleCount === 0 || this.settler === undefined) return;
    this.log.flush();
    const all = this.settles;
    this.settles = new Map();
    this.settleCount = 0;
    for (const [cont, l] of all) this.settler(cont, l.epochs, l.targets);
  }

  /** Rewrite the log down to what is prepared and remembered, once it outgrew TXLOG_COMPACT_BYTES. */
  private maybeCompact(): void {
    if (this.log.bytes < TXLOG_COMPACT_BYTES) return;
    // The decisions dropped here must have their marks settled in the stores first.
    this.flushSettles();
    const recs: TxRecord[] = [];
    for (const [c, m] of this.decidedByCont) {
      if (m.forgotten < 0n && m.history < 0n) continue;
      recs.push({ t: 'F', c, ...(m.forgotten >= 0n ? { f: m.forgotten.toString() } : {}), ...(m.history >= 0n ? { w: m.history.toString() } : {}) });
    }
    for (const d of this.remembered()) recs.push({ t: d.d === 'commit' ? 'D' : 'A', c: d.cont, e: d.epoch.toString(), ...(d.units !== undefined ? { u: unitsOf(d.units) } : {}) });
    // Prepared pairs: the complete ones (P, and S when sealed). An incomplete one needs no record:
    // the marks of its applied writes name it after a crash (aborted then), as before compaction;
    // except one replayed from a format-2 INTENT (units unknown: its writes carry no mark) whose
    // abort at restart failed and is retried by the sweep.
    for (const m of this.byCont.values()) {
      for (const p of m.values()) {
        if (!p.complete && p.units === undefined) recs.push({ t: 'I', c: p.cont, e: p.epoch.toString(), ...(p.desc ? { n: p.desc.n, r: p.desc.ranks } : {}) });
        if (p.complete && p.desc) recs.push({ t: 'P', c: p.cont, e: p.epoch.toString(), n: p.desc.n, r: p.desc.ranks, u: p.units?.list() ?? [] });
        if (p.sealed) recs.push({ t: 'S', c: p.cont, e: p.epoch.toString() });
      }
    }
    this.log.rewrite(recs);
  }

  /** Bytes of the log (for tests and stats). */
  get logBytes(): number { return this.log.bytes; }

  /** Close the log. */
  close(): void { this.log.close(); }
}
