/**
 * An array write prepared synchronously and finished once its bytes are written: the fused EC
 * write path (the write-side twin of locate.ts).
 *
 * Why: an EC write of 1 MiB writes k + p = 6 shard values of 256 KiB. Through `updateArrayParts`
 * each one costs a chain of async frames (the container store's checks, the target's
 * `logUpdate`/`logUpdateOnce`, `writeData`, the device's slot and hashed write), about six promises
 * per shard: ~36 per write, before the commit's own. Here a store does the write's synchronous
 * part in one call (checks, the data-file extent, the device request) and hands the request back;
 * the caller sends the requests of its shards as one group (media `writeHashedGroup`: one
 * promise) and finishes each with its hash, which appends and applies its record in the same pass.
 *
 * Crash ordering is the checked path's: the bytes are in the file (page cache; a durable store
 * never takes this path) before the record that points at them is appended, and the extent is held
 * in flight (no merge hands it out) until then; a write that fails, or is never sent, frees it and
 * appends nothing. A crash in between leaves an extent no record names: free at the next open.
 *
 * What it does not do: anything but the plain case. A value not above SYNC_WRITE_MAX_BYTES and
 * the inline threshold, an akey whose record size is not known to be 1, a store that must wait,
 * sync or retry (a background aggregation, a write stall, no room in the log, a full data file),
 * a device that cannot prepare the request: the answer is null and the caller writes with
 * `updateArrayParts`, which owns every wait and error.
 */
import type { HashedWriteSlot } from '../media/block-device.js';
import { CSUM_SEED, MAX_VALUE_SIZE, SYNC_WRITE_MAX_BYTES } from './constants.js';
import type { BlockDevice } from '../media/block-device.js';
import { toVosError, type ContState } from './store.js';

/**
 * A prepared array write: the device request (`write`, send it with media `writeHashedGroup`)
 * and the holds it keeps until `finish` (the target stays open; the extent is in flight).
 */
export interface PreparedArrayWrite {
  /** The hashed gather write of the value into its extent, not yet sent. */
  readonly write: HashedWriteSlot;
  /**
   * The write is over: `result` is what `writeHashedGroup` gave for it (the bytes' hash, or the
   * error it failed with), or undefined when it was never sent. With a hash, the record is
   * appended and applied (undefined once done; a promise when the log had to make room first);
   * otherwise the extent is freed, and an error is thrown as the checked path would. Releases the
   * slot and the target's hold (once; later calls do nothing).
   */
  finish(result: bigint | Error | undefined): Promise<void> | undefined;
}

/**
 * What a fused write needs of its target store (store.ts `TargetStore`): the target's hold, its
 * data device, and the two halves of `logUpdate` for a value in the data file.
 */
export interface FusedWriteTarget {
  readonly dev: BlockDevice;
  readonly inlineThreshold: number;
  enter(): void;
  leave(): void;
  /**
   * An extent for a value of `len` bytes whose record (`dkeyLen`, `akeyLen`) the log has room for
   * now, held in flight; undefined when the update must take `logUpdate` (it could wait, sync or
   * retry). Throws as `logUpdate` does on a store that takes no writes.
   */
  prepareDataNow(dkeyLen: number, akeyLen: number, len: number): { loc: number; alloc: number } | undefined;
  /** Free an extent of `prepareDataNow` whose write failed or was never sent. */
  abandonPreparedData(loc: number, alloc: number): void;
  /**
   * Append and apply the record of an array value written at `loc` (`alloc` bytes of
   * `prepareDataNow`) hashing to `csum`: undefined once done, a promise when the log had to make
   * room first. On failure the extent is freed and the error thrown (or rejected).
   */
  commitPreparedData(st: ContState, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, index: number, count: number, recordSize: number, len: number, loc: number, alloc: number, csum: bigint): Promise<void> | undefined;
}

/** `PreparedArrayWrite` of a target store (see `prepareArrayWrite`). */
class Prepared implements PreparedArrayWrite {
  private open = true;
  constructor(
    private readonly t: FusedWriteTarget, private readonly st: ContState, private readonly epoch: bigint, private readonly oid: bigint,
    private readonly dkey: Uint8Array, private readonly akey: Uint8Array, private readonly index: number, private readonly len: number,
    private readonly loc: number, private readonly alloc: number, readonly write: HashedWriteSlot,
  ) {}

  finish(result: bigint | Error | undefined): Promise<void> | undefined {
    if (!this.open) return undefined;
    this.open = false;
    this.write.release();
    const t = this.t;
    if (typeof result !== 'bigint') {
      t.abandonPreparedData(this.loc, this.alloc);
      t.leave();
      if (result !== undefined) throw toVosError(result, 'update');
      return undefined;
    }
    let p: Promise<void> | undefined;
    try {
      p = t.commitPreparedData(this.st, this.epoch, this.oid, this.dkey, this.akey, this.index, this.len, 1, this.len, this.loc, this.alloc, result);
    } catch (e) {
      t.leave();
      throw e;
    }
    if (p === undefined) { t.leave(); return undefined; }
    return p.then(() => { t.leave(); }, (e: unknown) => { t.leave(); throw e; });
  }
}

/**
 * Prepare the write of byte-array value `parts` (views, in order, of `recx.count` bytes at byte
 * `recx.index`; record size 1, which the caller knows the akey has) of `oid`/`dkey`/`akey` at
 * `epoch` in container `st` of target `t`: its extent allocated and its device request built, not
 * sent. Null when only the checked path (`updateArrayParts`) can write it. The arguments are the
 * caller's, checked by it (ContainerStore.prepareArrayWriteNow); this checks what its path needs.
 */
export function prepareArrayWrite(t: FusedWriteTarget, st: ContState, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: { index: number; count: number }, parts: readonly Uint8Array[]): PreparedArrayWrite | null {
  if (st.destroyed || !Array.isArray(parts) || parts.length === 0 || t.dev.hashedWriteNow === undefined) return null;
  let len = 0;
  for (let i = 0; i < parts.length; i++) {
    const v = parts[i];
    if (!(v instanceof Uint8Array)) return null;
    len += v.length;
  }
  if (len !== recx.count || len <= SYNC_WRITE_MAX_BYTES || len <= t.inlineThreshold || len > MAX_VALUE_SIZE) return null;
  try {
    t.enter();
  } catch {
    return null; // (closed: the checked path says so)
  }
  let held = true;
  try {
    const x = t.prepareDataNow(dkey.length, akey.length, len);
    if (x === undefined) return null;
    let slot: HashedWriteSlot | undefined;
    try {
      slot = t.dev.hashedWriteNow(x.loc, x.alloc, parts, CSUM_SEED);
    } finally {
      if (slot === undefined) t.abandonPreparedData(x.loc, x.alloc);
    }
    if (slot === undefined) return null;
    held = false; // (the Prepared holds it now)
    return new Prepared(t, st, epoch, oid, dkey, akey, recx.index, len, x.loc, x.alloc, slot);
  } catch {
    return null; // (the checked path meets the same condition and reports it)
  } finally {
    if (held) t.leave();
  }
}
