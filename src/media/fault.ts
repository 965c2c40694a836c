/**
 * Deterministic fault injection for media devices (block data file and pmem file).
 *
 * A `FaultInjector` is seeded (core/rng.ts), so the same seed and the same sequence of calls
 * produce exactly the same faults: crash and recovery tests replay from a seed. Devices call its
 * hooks on every operation, in the order the operations are issued:
 * - `onOpen(path)` may refuse the open (`failOpen`);
 * - `onWrite(offset, data, granularity)` may tear the write (only a prefix of whole
 *   `granularity`-sized units reaches the medium, then the write fails and, with
 *   `crashAfterTornWrite`, the device behaves as powered off), inject an I/O error, or report
 *   `NO_SPACE` once `enospcAfterBytes` bytes have been written;
 * - `onRead(offset, buf)` may flip one bit of the data returned (not of the data stored).
 */
import { Rng } from '../../core/rng.js';
import { MediaError } from './errors.js';

/** Options of `FaultInjector`; probabilities are per operation, in [0, 1]. */
export interface FaultOptions {
  /** Seed of the fault sequence. */
  seed: number;
  /** Probability that a write tears: a random prefix of whole units is written, then it fails. */
  tornWrite?: number;
  /** After a torn write, fail every later operation (simulates power loss). Default true. */
  crashAfterTornWrite?: boolean;
  /** Probability that a write fails with `IO_ERROR` before writing anything. */
  writeError?: number;
  /** Probability that a read fails with `IO_ERROR`. */
  readError?: number;
  /** Probability that one random bit of the data returned by a read is flipped. */
  bitFlipOnRead?: number;
  /** Writes fail with `NO_SPACE` once this many bytes in total would have been written. */
  enospcAfterBytes?: number;
  /** Every open fails with `IO_ERROR`. */
  failOpen?: boolean;
}

/** What a device must do with one write: write `data` (only its first `truncateTo` bytes if set), then throw `error` if set. */
export interface WriteFault {
  /** The bytes to write (the caller's data; the injector never copies). */
  data: Uint8Array;
  /** Write only this many leading bytes (a multiple of the granularity), then fail with `error`. */
  truncateTo?: number;
  /** Fail with this error: before writing anything if `truncateTo` is unset, after the prefix otherwise. */
  error?: MediaError;
}

/** Fault decided for one read at issue time. */
export interface ReadFault {
  /** Fail the read with this error. */
  error?: MediaError;
  /** Flip this bit (index into the returned bytes, bit 0 = LSB of byte 0). */
  flipBit?: number;
}

/** Counters of injected faults, for tests and logs. */
export interface FaultStats {
  writes: number; reads: number; tornWrites: number; writeErrors: number; readErrors: number;
  bitFlips: number; noSpace: number; failedOpens: number; bytesWritten: number;
}

function checkProbability(name: string, p: number | undefined): number {
  if (p === undefined) return 0;
  if (!(typeof p === 'number' && p >= 0 && p <= 1)) {
    throw new MediaError('INVALID_ARGUMENT', `fault option ${name} must be a probability in [0, 1]`, { [name]: p });
  }
  return p;
}

/** Seeded, deterministic fault source shared by the block device and the pmem file. */
export class FaultInjector {
  private readonly rng: Rng;
  private readonly tornWrite: number;
  private readonly writeError: number;
  private readonly readError: number;
  private readonly bitFlipOnRead: number;
  private readonly enospcAfterBytes: number;
  private readonly failOpen: boolean;
  private readonly crashAfterTornWrite: boolean;
  private crashedAt: number | undefined;
  /** Counters of what was injected so far. */
  readonly stats: FaultStats = { writes: 0, reads: 0, tornWrites: 0, writeErrors: 0, readErrors: 0, bitFlips: 0, noSpace: 0, failedOpens: 0, bytesWritten: 0 };

  constructor(opts: FaultOptions) {
    if (!Number.isInteger(opts.seed)) throw new MediaError('INVALID_ARGUMENT', 'fault seed must be an integer', { seed: opts.seed });
    this.rng = new Rng(opts.seed);
    this.tornWrite = checkProbability('tornWrite', opts.tornWrite);
    this.writeError = checkProbability('writeError', opts.writeError);
    this.readError = checkProbability('readError', opts.readError);
    this.bitFlipOnRead = checkProbability('bitFlipOnRead', opts.bitFlipOnRead);
    const e = opts.enospcAfterBytes ?? Infinity;
    if (!(e === Infinity || (Number.isSafeInteger(e) && e >= 0))) {
      throw new MediaError('INVALID_ARGUMENT', 'enospcAfterBytes must be a non-negative integer', { enospcAfterBytes: e });
    }
    this.enospcAfterBytes = e;
    this.failOpen = opts.failOpen ?? false;
    this.crashAfterTornWrite = opts.crashAfterTornWrite ?? true;
  }

  /** True once a torn write simulated a crash; every later operation fails. */
  get crashed(): boolean { return this.crashedAt !== undefined; }

  /** Clear the crashed state ("power back on"), e.g. before reopening the device to test recovery. */
  recover(): void { this.crashedAt = undefined; }

  private crashError(op: string): MediaError {
    return new MediaError('IO_ERROR', `${op} after injected crash`, { injected: true, crashed: true });
  }

  /** Called before a device opens its file; throws `IO_ERROR` when opens are set to fail. */
  onOpen(path: string): void {
    if (this.failOpen) {
      this.stats.failedOpens++;
      throw new MediaError('IO_ERROR', `injected open failure: ${path}`, { injected: true, path });
    }
  }

  /**
   * Called once per write, when it is issued. `granularity` is the unit that reaches the medium
   * atomically (BLOCK_SIZE for the block device, 8 for pmem stores). Draws from the seeded
   * stream in a fixed order so the outcome depends only on the seed and the call sequence.
   */
  onWrite(offset: number, data: Uint8Array, granularity: number): WriteFault {
    this.stats.writes++;
    if (this.crashedAt !== undefined) return { data, error: this.crashError('write') };
    const torn = this.rng.chance(this.tornWrite);
    const tornUnits = this.rng.u32();
    const failed = this.rng.chance(this.writeError);
    if (this.stats.bytesWritten + data.length > this.enospcAfterBytes) {
      this.stats.noSpace++;
      return { data, error: new MediaError('NO_SPACE', 'injected ENOSPC', { injected: true, offset, length: data.length, bytesWritten: this.stats.bytesWritten }) };
    }
    if (failed) {
      this.stats.writeErrors++;
      return { data, error: new MediaError('IO_ERROR', 'injected write error', { injected: true, offset, length: data.length }) };
    }
    if (torn) {
      const units = Math.ceil(data.length / granularity);
      const keep = Math.min(data.length, (tornUnits % Math.max(units, 1)) * granularity); // strictly fewer than all units
      this.stats.tornWrites++;
      this.stats.bytesWritten += keep;
      if (this.crashAfterTornWrite) this.crashedAt = this.stats.writes;
      return { data, truncateTo: keep, error: new MediaError('IO_ERROR', 'injected torn write', { injected: true, torn: true, offset, length: data.length, written: keep }) };
    }
    this.stats.bytesWritten += data.length;
    return { data };
  }

  /**
   * Called once per read, when it is issued (so concurrent reads get their faults in issue order,
   * not completion order). Returns the error to fail it with and/or the bit to flip in its data.
   */
  beforeRead(offset: number, length: number): ReadFault {
    this.stats.reads++;
    if (this.crashedAt !== undefined) return { error: this.crashError('read') };
    const failed = this.rng.chance(this.readError);
    const flip = this.rng.chance(this.bitFlipOnRead);
    const bit = this.rng.u32();
    if (failed) {
      this.stats.readErrors++;
      return { error: new MediaError('IO_ERROR', 'injected read error', { injected: true, offset, length }) };
    }
    if (flip && length > 0) return { flipBit: bit % (length * 8) };
    return {};
  }

  /** Apply a `ReadFault` to the data a read returned (flips one bit; the stored data is untouched). */
  applyRead(fault: ReadFault, buf: Uint8Array): void {
    if (fault.flipBit !== undefined && fault.flipBit < buf.length * 8) {
      buf[fault.flipBit >>> 3]! ^= 1 << (fault.flipBit & 7);
      this.stats.bitFlips++;
    }
  }

  /** Synchronous shorthand for `beforeRead` + `applyRead` (pmem loads): throws the injected error. */
  onRead(offset: number, buf: Uint8Array): void {
    const f = this.beforeRead(offset, buf.length);
    if (f.error) throw f.error;
    this.applyRead(f, buf);
  }

  /** Called before a sync; fails after a simulated crash. */
  beforeSync(): MediaError | undefined {
    return this.crashedAt !== undefined ? this.crashError('sync') : undefined;
  }
}
