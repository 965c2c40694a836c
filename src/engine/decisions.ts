/**
 * Commit decisions of a coordinator engine, recorded in etcd: concurrent commits are grouped into
 * one etcd transaction (a group commit), and every decision key lives under a lease that is not
 * kept alive, so etcd drops decisions on its own long after every participant has settled
 * (participants settle within the engine's tx timeout; an engine gone for longer is excluded and
 * wiped before it serves again).
 */
import type { Etcd, Lease } from '../net/etcd.js';
import { CairnError } from '../../core/errors.js';

/** Seconds a decision stays in etcd. */
export const DECISION_TTL_S = 3600;
/** A fresh decision lease is granted after this long, so every key keeps most of its TTL. */
const LEASE_ROTATE_MS = 10 * 60 * 1000;
/** Attempts, RETRY_MS apart, to record a batch while etcd is unreachable. */
const RETRIES = 20;
const RETRY_MS = 500;
/** Most decisions in one etcd transaction. */
export const MAX_DECISION_BATCH = 128;
/** Most decisions waiting to be recorded (beyond: OVERLOADED; callers retry or settle later). */
export const MAX_DECISION_QUEUE = 65_536;

interface Pending { key: string; value: 'commit' | 'abort'; resolve: (d: 'commit' | 'abort') => void; reject: (e: unknown) => void }

/** Records decisions, grouped, and reports the decision that stands for each key. */
export class DecisionLog {
  private queue: Pending[] = [];
  private flushing = false;
  private lease?: { lease: Lease; at: number };

  constructor(private readonly etcd: Etcd) {}

  /** Record `value` for `key` unless a decision exists; resolves with the decision that stands. */
  decide(key: string, value: 'commit' | 'abort'): Promise<'commit' | 'abort'> {
    if (this.queue.length >= MAX_DECISION_QUEUE) {
      return Promise.reject(new CairnError('OVERLOADED', `${this.queue.length} commit decisions already wait for etcd`, { maxQueued: MAX_DECISION_QUEUE }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value, resolve, reject });
      if (!this.flushing) { this.flushing = true; setImmediate(() => void this.flush()); }
    });
  }

  private async currentLease(): Promise<Lease> {
    if (!this.lease || Date.now() - this.lease.at > LEASE_ROTATE_MS) {
      this.lease = { lease: await this.etcd.lease(DECISION_TTL_S, { keepAlive: false }), at: Date.now() };
    }
    return this.lease.lease;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_DECISION_BATCH);
        try {
          await this.record(batch);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /** Record one batch, riding out a short etcd outage (its client refuses calls for a few seconds after one). */
  private async record(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.recordOnce(batch);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== 'ETCD_UNREACHABLE' || attempt >= RETRIES) throw err;
        this.lease = undefined;
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async recordOnce(batch: Pending[]): Promise<void> {
    const lease = await this.currentLease();
    const byValue = new Map<string, Pending[]>();
    for (const p of batch) byValue.set(p.value, [...(byValue.get(p.value) ?? []), p]);
    for (const [value, ps] of byValue) {
      if (await this.etcd.createAllIfAbsent(ps.map((p) => p.key), value, { lease })) { for (const p of ps) p.resolve(p.value); continue; }
      // Some key already had a decision (or a retried batch recorded some): settle each on its own.
      for (const p of ps) {
        if (await this.etcd.createIfAbsent(p.key, value, { lease })) { p.resolve(p.value); continue; }
        const v = (await this.etcd.get(p.key))?.value.toString();
        p.resolve(v === 'commit' ? 'commit' : 'abort');
      }
    }
  }

  /** The decision recorded for `key`, if any. */
  async lookup(key: string): Promise<'commit' | 'abort' | undefined> {
    const v = (await this.etcd.get(key))?.value.toString();
    return v === 'commit' || v === 'abort' ? v : undefined;
  }
}
