/**
 * Latest write epoch per key an engine has applied, for the cross-client conflict check of
 * transactions: a transaction that read at R may not write a key that someone else wrote at an
 * epoch in (R, its own epoch). Bounded: forgotten keys count as written at the highest epoch
 * forgotten (and, after a restart, as written when the engine started) — conservative, so a
 * conflict is never missed, at worst a transaction is restarted needlessly.
 */

/** Most keys remembered. */
export const MAX_WRITE_KEYS = 1_000_000;

type Level = 'objAny' | 'objPunch' | 'dkeyAny' | 'dkeyPunch' | 'akey';

/** Last write epochs by object / dkey / akey, and the latest epoch each akey was read at. */
export class WriteEpochs {
  private readonly last = new Map<string, bigint>();
  private readonly reads = new Map<string, bigint>();
  private readFloor = 0n;

  /** `floor`: epoch every unknown key is assumed written at. */
  constructor(private floor: bigint) {}

  private k(level: Level, cont: string, unit: string, dkey = '', akey = ''): string { return `${level}|${cont}|${unit}|${dkey}|${akey}`; }
  private get(key: string): bigint { return this.last.get(key) ?? this.floor; }
  private bump(key: string, e: bigint): void {
    const cur = this.last.get(key);
    if (cur !== undefined && cur >= e) return;
    this.last.delete(key);
    this.last.set(key, e);
    while (this.last.size > MAX_WRITE_KEYS) {
      const [oldest, epoch] = this.last.entries().next().value as [string, bigint];
      this.last.delete(oldest);
      if (epoch > this.floor) this.floor = epoch;
    }
  }

  /** Latest epoch a write of this kind would overwrite or be hidden by. */
  latest(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string, dkey?: string, akey?: string): bigint {
    const max = (...xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));
    switch (kind) {
      case 'update': case 'punchAkey':
        return max(this.get(this.k('objPunch', cont, unit)), this.get(this.k('dkeyPunch', cont, unit, dkey)), this.get(this.k('akey', cont, unit, dkey, akey)));
      case 'punchDkey': return max(this.get(this.k('objPunch', cont, unit)), this.get(this.k('dkeyAny', cont, unit, dkey)));
      case 'punchObject': return this.get(this.k('objAny', cont, unit));
    }
  }

  /** A read of (unit, dkey, akey) at `epoch` was served: no later write may land at or below it. */
  recordRead(cont: string, unit: string, dkey: string, akey: string, epoch: bigint): void {
    const key = `${cont}|${unit}|${dkey}|${akey}`;
    const cur = this.reads.get(key);
    if (cur !== undefined && cur >= epoch) return;
    this.reads.delete(key);
    this.reads.set(key, epoch);
    while (this.reads.size > MAX_WRITE_KEYS) {
      const [oldest, e] = this.reads.entries().next().value as [string, bigint];
      this.reads.delete(oldest);
      if (e > this.readFloor) this.readFloor = e;
    }
  }

  /** Latest epoch (unit, dkey, akey) was read at; a write at or below it would change what a reader saw. */
  lastRead(cont: string, unit: string, dkey: string, akey: string): bigint {
    return this.reads.get(`${cont}|${unit}|${dkey}|${akey}`) ?? this.readFloor;
  }

  /** Record a write at `epoch`. */
  record(kind: 'update' | 'punchAkey' | 'punchDkey' | 'punchObject', cont: string, unit: string, epoch: bigint, dkey?: string, akey?: string): void {
    this.bump(this.k('objAny', cont, unit), epoch);
    if (kind === 'punchObject') { this.bump(this.k('objPunch', cont, unit), epoch); return; }
    this.bump(this.k('dkeyAny', cont, unit, dkey), epoch);
    if (kind === 'punchDkey') { this.bump(this.k('dkeyPunch', cont, unit, dkey), epoch); return; }
    this.bump(this.k('akey', cont, unit, dkey, akey), epoch);
  }
}
