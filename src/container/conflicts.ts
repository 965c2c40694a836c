/**
 * Optimistic concurrency control for transactions: remembers the epoch of the last commit that
 * wrote each key (object, object/dkey, object/dkey/akey) so that a transaction whose reads or writes
 * were overtaken by a later commit is refused with `TX_RESTART`. Entries older than every open
 * transaction's read epoch can never cause a conflict and are pruned, so memory stays bounded by
 * the keys written while transactions are open.
 */

/** A key at one of three levels; `path` is the hex encoding `oid[/dkey[/akey]]`. */
export type ConflictKey = string;

/** Build the conflict key of an object / dkey / akey. */
export function conflictKey(oid: bigint, dkeyHex?: string, akeyHex?: string): ConflictKey {
  return akeyHex !== undefined ? `${oid.toString(16)}/${dkeyHex}/${akeyHex}` : dkeyHex !== undefined ? `${oid.toString(16)}/${dkeyHex}` : oid.toString(16);
}

function prefixes(k: ConflictKey): ConflictKey[] {
  const parts = k.split('/');
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** Last-writer epochs per key, with the two rules described above. */
export class ConflictTracker {
  /** Any write at or below the key. */
  private below = new Map<ConflictKey, bigint>();
  /** Punches exactly at the key (they hide everything below). */
  private punches = new Map<ConflictKey, bigint>();

  /** Epoch of the last container-wide change (rollback): every older transaction conflicts. */
  private global = 0n;

  /** Record a container-wide change at `epoch` (a rollback). */
  recordGlobal(epoch: bigint): void { if (epoch > this.global) this.global = epoch; }

  /** Record a committed write (`punch` for punches) at `epoch`. */
  record(key: ConflictKey, epoch: bigint, punch: boolean): void {
    for (const p of prefixes(key)) if ((this.below.get(p) ?? 0n) < epoch) this.below.set(p, epoch);
    if (punch && (this.punches.get(key) ?? 0n) < epoch) this.punches.set(key, epoch);
  }

  /** True when a commit after `since` touched `key`: a write at/below it, or a punch above it. */
  conflicts(key: ConflictKey, since: bigint): boolean {
    if (this.global > since) return true;
    if ((this.below.get(key) ?? 0n) > since) return true;
    for (const p of prefixes(key)) if ((this.punches.get(p) ?? 0n) > since) return true;
    return false;
  }

  /** Forget entries that no transaction reading at or after `oldest` can conflict with. */
  prune(oldest: bigint | undefined): void {
    for (const m of [this.below, this.punches]) {
      if (oldest === undefined) { m.clear(); continue; }
      for (const [k, e] of m) if (e <= oldest) m.delete(k);
    }
  }

  /** Number of remembered keys (for tests and stats). */
  get size(): number { return this.below.size + this.punches.size; }
}
