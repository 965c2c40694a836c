/**
 * Hybrid logical clock for commit epochs: the high bits are physical milliseconds, the low 18 bits
 * a logical counter, so epochs follow wall time yet stay strictly increasing even when the clock
 * stalls or steps back. A deterministic `now` can be injected for replayable tests.
 */

/** Bits of the logical counter below the physical time (as in DAOS's HLC). */
export const HLC_LOGICAL_BITS = 18n;

/** Strictly increasing epoch source. */
export class EpochClock {
  private last: bigint;

  /** `floor` is the highest epoch already used (from disk); new epochs are strictly above it. */
  constructor(floor: bigint, private readonly now: () => number = Date.now) {
    this.last = floor;
  }

  /** A fresh epoch, strictly greater than every epoch returned or observed before. */
  next(): bigint {
    const physical = BigInt(Math.floor(this.now())) << HLC_LOGICAL_BITS;
    this.last = physical > this.last ? physical : this.last + 1n;
    return this.last;
  }

  /** Move the clock past an epoch seen elsewhere. */
  observe(epoch: bigint): void { if (epoch > this.last) this.last = epoch; }

  /** The highest epoch handed out or observed. */
  get current(): bigint { return this.last; }
}
