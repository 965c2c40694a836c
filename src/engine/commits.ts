/**
 * How an engine settles commits (the protocol is described in txn.ts): it applies the commit
 * notices clients send, aborts what a client abandoned or what can never complete, and settles
 * overdue commits across engines with the others — as their coordinator (one seal round, the
 * decision remembered and sent to every participant) or by asking the coordinator (and running the
 * same round itself when the coordinator is unreachable).
 */
import { CairnError } from '../../core/errors.js';
import { Batcher } from '../../core/batcher.js';
import { swallow, swallowed } from '../../core/log.js';
import { ENGINE_METHODS, TX_BATCH_MAX, coordinatorOf, isEpochText } from '../net/protocol.js';
import type { RpcCaller } from '../net/rpc.js';
import type { TxTable, Prepared, Decision, SealState } from './txn.js';
import type { EngineStores } from './stores.js';

/** What the commit protocol needs from its engine. */
export interface CommitsDeps {
  rank: number;
  tx: TxTable;
  stores: EngineStores;
  /** The RPC client of the engine serving `rank` (throws NET_UNREACHABLE when none is registered). */
  peer(rank: number): RpcCaller;
  /** Whether `rank` has targets in service in the current map (a rank out of service has no say). */
  inService(rank: number): boolean;
  txTimeoutMs: number;
  log(msg: string): void;
}

const SEAL_STATES: ReadonlySet<string> = new Set(['committed', 'aborted', 'complete', 'never', 'forgotten']);

/** The decision a seal round's states imply: commit iff no participant aborted (see txn.ts). */
export function decideFrom(states: ReadonlyArray<SealState | 'skip'>): Decision {
  if (states.includes('committed')) return 'commit';
  if (states.some((s) => s === 'aborted' || s === 'never' || s === 'forgotten')) return 'abort';
  return 'commit';
}

function unreachable(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NET_UNREACHABLE' || code === 'NET_TIMEOUT' || code === 'WRONG_ENGINE';
}


/** A commit notice's DONE record that did not reach the log: the commit is settled again after a restart (replayed as prepared). */
const swallowNoticed = swallow('engine.commit-record-replayed-as-prepared');

/** The commit protocol of one engine. */
export class Commits {
  /** Seal rounds under way, by (cont, epoch). */
  private readonly rounds = new Map<string, Promise<Decision>>();
  private readonly deciders = new Map<number, Batcher<{ cont: string; epoch: string; d: Decision }, void>>();

  constructor(private readonly d: CommitsDeps) {}

  /** Commit notices from a client (`[[cont, epoch]]`): complete pairs are committed; anything else waits for its resolution. */
  applyNotices(list: unknown): void {
    if (!Array.isArray(list)) return;
    // (the decisions of one call share their log group's promise: one rejection handler per group,
    // not a handler and a promise per notice)
    let group: Promise<void> | undefined;
    for (const x of list) {
      if (!Array.isArray(x) || typeof x[0] !== 'string' || typeof x[1] !== 'string' || !isEpochText(x[1])) continue;
      const p = this.d.tx.get(x[0], BigInt(x[1]));
      if (p === undefined || !p.complete || p.aborting) continue;
      const done = this.d.tx.decide(p, 'commit');
      if (done !== group) { group = done; done.catch(swallowNoticed); }
    }
  }

  /**
   * Abort `p` here: no more writes of it are admitted, the ones being applied finish, its epoch is
   * discarded from every target of this engine, then the abort is recorded (a store that cannot
   * discard leaves it undecided: retried by the sweep).
   */
  async abortLocally(p: Prepared): Promise<void> {
    if (this.d.tx.get(p.cont, p.epoch) !== p) return;
    await this.d.tx.quiesce(p, 3 * this.d.txTimeoutMs);
    for (const s of await this.d.stores.containerOnAll(p.cont)) await s.discard(p.epoch - 1n, p.epoch);
    await this.d.tx.decide(p, 'abort');
  }

  /**
   * A client abandons its commit at `epoch` (some write failed): abort it here unless it already
   * committed or a resolver sealed it (then the commit stands: returns false, discard nothing).
   */
  async abandon(cont: string, epoch: bigint): Promise<boolean> {
    const known = this.d.tx.decidedOf(cont, epoch);
    if (known === 'commit') return false;
    const p = this.d.tx.get(cont, epoch);
    if (p?.sealed) return false;
    if (p) await this.abortLocally(p);
    else if (known === undefined) await this.d.tx.tombstone(cont, epoch);
    return true;
  }

  /** Apply a decision reached elsewhere. */
  async applyDecision(cont: string, epoch: bigint, d: Decision): Promise<void> {
    const p = this.d.tx.get(cont, epoch);
    if (!p) { if (d === 'abort') await this.d.tx.tombstone(cont, epoch); return; }
    if (d === 'abort') { await this.abortLocally(p); return; }
    if (!p.complete) {
      // A commit is decided only when every participant was complete, this one included.
      this.d.log(`commit decision for ${cont}@${epoch}, which is not whole here; left to the sweep`);
      return;
    }
    await this.d.tx.decide(p, 'commit');
  }

  /**
   * This engine's state of (cont, epoch) for a resolver, sealing it: a complete pair is sealed (a
   * client's abandon no longer aborts it), an incomplete one is aborted, an unknown one is
   * remembered as aborted (its late writes are refused).
   */
  async sealLocal(cont: string, epoch: bigint): Promise<SealState> {
    const known = this.d.tx.decidedOf(cont, epoch);
    if (known === 'commit') return 'committed';
    if (known === 'abort') return 'aborted';
    if (known === 'forgotten') return 'forgotten';
    const p = this.d.tx.get(cont, epoch);
    if (!p) { await this.d.tx.tombstone(cont, epoch); return 'never'; }
    if (p.aborting) { await this.abortLocally(p); return 'aborted'; }
    // Writes being applied decide whether it is whole: let them land first.
    await this.d.tx.changed.until(() => p.inflight === 0 || this.d.tx.get(cont, epoch) !== p, { timeoutMs: 3 * this.d.txTimeoutMs, what: `writes of epoch ${epoch} to land before sealing`, info: { epoch: epoch.toString() } });
    if (this.d.tx.get(cont, epoch) !== p) return this.sealLocal(cont, epoch);
    if (p.complete) { await this.d.tx.seal(p); return 'complete'; }
    p.aborting = true; // synchronously: no write joins it from here on
    await this.abortLocally(p);
    return 'aborted';
  }

  /**
   * Coordinator: the decision of (cont, epoch) across `ranks` — remembered, or reached by one seal
   * round (a participant unreachable and in service: TIMEOUT-like error, retried later), applied
   * here and sent to every other participant.
   */
  resolveAsCoordinator(cont: string, epoch: bigint, ranks: readonly number[]): Promise<Decision> {
    const known = this.d.tx.decidedOf(cont, epoch);
    if (known === 'commit' || known === 'abort') return Promise.resolve(known);
    const k = `${cont}/${epoch}`;
    let round = this.rounds.get(k);
    if (!round) {
      round = (async () => {
        const states = await Promise.all(ranks.map(async (r): Promise<SealState | 'skip'> => {
          if (r === this.d.rank) return this.sealLocal(cont, epoch);
          try {
            const s = String((await this.d.peer(r).call(ENGINE_METHODS.txSeal, { cont, epoch: epoch.toString() }, undefined, { timeoutMs: this.d.txTimeoutMs })).header.state);
            if (!SEAL_STATES.has(s)) throw new CairnError('NET_PROTOCOL', `rank ${r} answered a seal with ${s}`, { rank: r });
            return s as SealState;
          } catch (err) {
            // A participant out of service has no say (its shards are rebuilt from the others'); one in service must answer.
            if (unreachable(err) && !this.d.inService(r)) return 'skip';
            throw err;
          }
        }));
        const d = decideFrom(states);
        if (ranks.includes(this.d.rank)) await this.applyDecision(cont, epoch, d);
        for (const r of ranks) {
          if (r !== this.d.rank) this.decider(r).add({ cont, epoch: epoch.toString(), d }).catch(swallow('engine.decision-notice-participant-asks-again'));
        }
        this.d.log(`commit ${cont}@${epoch} across ranks ${ranks.join(',')} settled: ${d} (${states.join(',')})`);
        return d;
      })();
      this.rounds.set(k, round);
      const forget = () => { this.rounds.delete(k); };
      round.then(forget, forget);
    }
    return round;
  }

  /**
   * Settle a pair nobody decided in time: an incomplete one is aborted here (it can never commit);
   * a complete one across engines is settled with the others through its coordinator.
   */
  async settle(p: Prepared): Promise<void> {
    if (!p.complete || !p.desc || p.aborting) { await this.abortLocally(p); return; }
    const { ranks } = p.desc;
    const coord = coordinatorOf(ranks, p.epoch);
    let d: Decision;
    if (coord === this.d.rank) d = await this.resolveAsCoordinator(p.cont, p.epoch, ranks);
    else {
      try {
        const r = await this.d.peer(coord).call(ENGINE_METHODS.txResolve, { cont: p.cont, epoch: p.epoch.toString(), ranks }, undefined, { timeoutMs: 2 * this.d.txTimeoutMs });
        d = r.header.decision === 'commit' ? 'commit' : 'abort';
      } catch (err) {
        if (!unreachable(err)) throw err;
        swallowed('engine.coordinator-unreachable-seal-round-run-here', err);
        d = await this.resolveAsCoordinator(p.cont, p.epoch, ranks);
      }
    }
    await this.applyDecision(p.cont, p.epoch, d);
  }

  /** Settle every pair older than the tx timeout (each at most once at a time). */
  sweep(): void {
    for (const p of this.d.tx.stale(this.d.txTimeoutMs)) {
      p.resolving = true;
      this.settle(p).catch((err) => {
        swallowed('engine.settle-retried-next-sweep', err);
        this.d.log(`commit ${p.cont}@${p.epoch} not settled yet: ${(err as Error).message}`);
      }).finally(() => { p.resolving = false; p.since = Date.now(); });
    }
  }

  /** Decisions sent to participant `rank`, batched per event-loop turn. */
  private decider(rank: number): Batcher<{ cont: string; epoch: string; d: Decision }, void> {
    let b = this.deciders.get(rank);
    if (!b) {
      b = new Batcher(async (items) => {
        for (const d of ['commit', 'abort'] as const) {
          const mine = items.filter((x) => x.d === d).map((x) => [x.cont, x.epoch]);
          if (mine.length) await this.d.peer(rank).call(ENGINE_METHODS.txDecide, { items: mine, decision: d });
        }
        return items.map(() => undefined as void);
      }, { maxBatch: TX_BATCH_MAX });
      this.deciders.set(rank, b);
    }
    return b;
  }
}
