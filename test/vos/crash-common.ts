/** Shared by the crash test and its child: key space, log size and the deterministic values written. */
import { Rng } from '../../core/rng.js';

/** Distinct dkeys the child writes (overwritten at increasing epochs). */
export const CRASH_KEYS = 48;
/** Concurrent writers in the child. */
export const CRASH_WORKERS = 6;
/** Byte length of array values (fixed so every write covers the whole array). */
export const CRASH_ARRAY_LEN = 6000;
/** Small log regions, so flushes and merges happen every few hundred writes. */
export const CRASH_OPTS = { scmBytes: 64 * 1024 * 1024, dataBytes: 64 * 1024 * 1024, walBytes: 256 * 1024 } as const;
/** Kinds of values: inline in the log, in the data file, an array extent in the data file. */
export const CRASH_KINDS = ['small', 'large', 'array'] as const;

/** The value of `kind` for `key` at `epoch`: 8-byte epoch, then seeded bytes. */
export function crashValue(kind: string, key: number, epoch: bigint): Uint8Array {
  const len = kind === 'small' ? 64 + (Number(epoch % 200n)) : kind === 'large' ? 5000 + Number(epoch % 70000n) : CRASH_ARRAY_LEN; // large: written at once (<= 64 KiB: most), or an async data write
  const rng = new Rng(Number(epoch % 1000003n) * 131 + key * 7 + kind.length);
  const v = rng.bytes(len);
  new DataView(v.buffer).setBigUint64(0, epoch, true);
  return v;
}

/** The epoch embedded in a value. */
export function embeddedEpoch(v: Uint8Array): bigint {
  return new DataView(v.buffer, v.byteOffset, v.byteLength).getBigUint64(0, true);
}
