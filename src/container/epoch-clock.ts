/**
 * Hybrid logical clock for commit epochs: the high bits are physical milliseconds, the low 18 bits
 * a logical counter, so epochs follow wall time yet stay strictly increasing even when the clock
 * stalls or steps back. A deterministic `now` can be injected for replayable tests.
 */
import { assert } from '../../core/errors.js';

/** Bits of the logical counter below the physical time (as in DAOS's HLC). */
export const HLC_LOGICAL_BITS = 18n;

/** The epoch at physical time `ms` (milliseconds since 1970) with a zero logical counter. */
export function epochAtMs(ms: number): bigint {
  if (!(ms >= 0 && ms <= Number.MAX_VALUE)) assert(false, 'physical time is a non-negative number of milliseconds', { ms }); // (details built only on failure: runs per commit)
  return BigInt(Math.floor(ms)) << HLC_LOGICAL_BITS;
}

/** Distinct clock slots (writers of one container that never collide on an epoch). */
export const MAX_CLOCK_SLOTS = 1024;
const SLOT_SPAN = BigInt(MAX_CLOCK_SLOTS);

/** Strictly increasing epoch source. */
export class EpochClock {
  private last: bigint;

  private readonly slot: bigint | undefined;

  /**
   * `floor` is the highest epoch already used (from disk); new epochs are strictly above it.
   * `slot` (0..MAX_CLOCK_SLOTS-1) is stamped into the low bits of every epoch, so clients of one
   * container that each own a distinct slot never hand out the same epoch (connected pools).
   */
  constructor(floor: bigint, private readonly now: () => number = Date.now, slot?: number) {
    assert(slot === undefined || (Number.isInteger(slot) && slot >= 0 && slot < MAX_CLOCK_SLOTS), `clock slot must be in 0..${MAX_CLOCK_SLOTS - 1}`, { slot });
    this.last = floor;
    this.slot = slot === undefined ? undefined : BigInt(slot);
  }

  /** The millisecond `phys` is the epoch of (`next`), NaN before the first. */
  private physMs = NaN;
  /**
   * `epochAtMs(physMs)`, kept: commits come many to a millisecond, and this saves each of them the
   * two BigInts (`BigInt(ms)` and its shift) of the same physical epoch.
   */
  private phys = 0n;

  /** A fresh epoch, strictly greater than every epoch returned or observed before. */
  next(): bigint {
    const ms = this.now();
    let physical: bigint;
    if (Math.floor(ms) === this.physMs) physical = this.phys; // (NaN never equals: checked below)
    else { physical = epochAtMs(ms); this.physMs = Math.floor(ms); this.phys = physical; }
    let e = physical > this.last ? physical : this.last + 1n;
    if (this.slot !== undefined) {
      // Round up to the next epoch carrying this clock's slot in its low bits.
      const base = e - (e % SLOT_SPAN);
      e = base + this.slot >= e ? base + this.slot : base + SLOT_SPAN + this.slot;
    }
    if (!(e > this.last && (this.slot === undefined || e % SLOT_SPAN === this.slot))) assert(false, 'epochs strictly increase and carry the clock slot', { epoch: String(e) });
    this.last = e;
    return e;
  }

  /** Move the clock past an epoch seen elsewhere. */
  observe(epoch: bigint): void { if (epoch > this.last) this.last = epoch; }

  /** The highest epoch handed out or observed. */
  get current(): bigint { return this.last; }
}
