/**
 * Deferred parity fills: an EC write's parity cells computed on the thread-pool job that hashes
 * and writes them (native `hashedBatch`, a write carrying a fill), not on the JavaScript thread.
 *
 * Why: the parity encode of a 1 MiB EC_4P2G1 write was ~57 us of the JavaScript thread's ~300 us
 * per MiB (28% of its self time), while the parity cells are only read again by the pool thread
 * that hashes and writes them. The data path (src/io planArray) registers, for each parity buffer
 * it hands a local store, the recipe that computes it (`deferFill`); the hashed batcher finds it
 * by the buffer (`fillOf`) when the buffer reaches it as a write's first view and sends it with
 * the write, so the pool thread computes, hashes and writes the cell in one job the write costs
 * anyway. Every other path that could read the buffer's bytes first (a device write that is not a
 * hashed batch write: O_DIRECT, fault injection, io_uring, the unbatched pool calls) computes it
 * on the spot (`materializeFills`), so no reader ever sees a buffer before its parity.
 *
 * A fill is idempotent (its inputs must not change until the write settles, which the caller of
 * a gather write promises anyway), so a write retried after a failure computes it again. It stays
 * registered until the plan that made it is released (`dropFill`).
 */
import { nativeAddon } from './io-uring.js';

/** What the addon's hashedBatch takes as a write's 8th element: [coeffs (k), cell bytes, data (whole stripes)]. */
export type ParityFill = readonly [coeffs: Uint8Array, cell: number, data: Uint8Array];

/** Most coefficients (k) of one fill: the native addon's limit (native/hashio.c FILL_MAX_K), which refuses a larger one. */
export const FILL_MAX_COEFFS = 64;

/** Set to 0 to encode EC parity on the JavaScript thread instead of deferring it to the write's pool job. */
export const DEFER_PARITY_ENV = 'CAIRN_EC_DEFER_PARITY';

const fills = new WeakMap<Uint8Array, ParityFill>();
/** Fills registered and not yet dropped: while 0, the lookups below cost one comparison. */
let pending = 0;
/** Counts since the process started (tests check which way parity went). */
const stats = { deferred: 0, sent: 0, computedHere: 0 };

/** [fills registered, fills handed to a batch write, fills computed on this thread]: tests check which way parity went. */
export function fillStats(): Readonly<typeof stats> {
  return { ...stats };
}

/** Whether fills are deferred where the addon can (`deferParity`); starts from DEFER_PARITY_ENV. */
let deferOn = process.env[DEFER_PARITY_ENV] !== '0';
/** Whether the addon computes fills (looked up once). */
let canFill: boolean | undefined;

/**
 * Whether EC writes defer their parity to the write's pool job where they can; `on` switches it
 * (tests compare both ways in one process). Starts from CAIRN_EC_DEFER_PARITY. (Read once, not per
 * write: a `process.env` lookup per EC write was ~1% of its JavaScript-thread time.)
 */
export function deferParity(on?: boolean): boolean {
  if (on !== undefined) deferOn = on;
  return deferOn;
}

/**
 * Whether parity fills can be deferred here: the addon computes them (`parityFill`, and hashedBatch
 * writes that carry one) and deferral is on (`deferParity`, CAIRN_EC_DEFER_PARITY not 0).
 */
export function deferredFills(): boolean {
  return deferOn && (canFill ??= nativeAddon()?.parityFill !== undefined);
}

/**
 * Register `out` (exactly data.length / k bytes) as computed later: cell s of `out` = sum_j
 * coeffs[j] * (cell j of stripe s of `data`), in GF(2^8) (ec/gf.ts; one parity row of the
 * encoding matrix). Until `dropFill`, `out` must reach a device only as a write's buffer.
 */
export function deferFill(out: Uint8Array, coeffs: Uint8Array, cell: number, data: Uint8Array): void {
  const k = coeffs.length;
  if (!(k >= 1 && k <= FILL_MAX_COEFFS && Number.isSafeInteger(cell) && cell >= 1 && data.length % (k * cell) === 0 && out.length === data.length / k)) {
    throw new RangeError(`a parity fill writes data.length / k bytes from whole stripes (k ${k}, cell ${cell}, data ${data.length}, out ${out.length})`);
  }
  if (!fills.has(out)) pending++;
  fills.set(out, [coeffs, cell, data]);
  stats.deferred++;
}

/** The fill `view` is waiting for (undefined: none); it stays registered. */
export function fillOf(view: Uint8Array | undefined): ParityFill | undefined {
  if (pending === 0 || view === undefined) return undefined;
  const f = fills.get(view);
  if (f !== undefined) stats.sent++;
  return f;
}

/** Compute now the pending fills of any of `views` (a write that will not carry them to the pool). */
export function materializeFills(views: readonly Uint8Array[]): void {
  if (pending === 0) return;
  for (const v of views) {
    const f = fills.get(v);
    if (f !== undefined) { nativeAddon()!.parityFill!(f[0], f[1], f[2], v); stats.computedHere++; }
  }
}

/** `view`'s fill is no longer needed (its plan was released); computed now with `materialize`. */
export function dropFill(view: Uint8Array, materialize = false): void {
  const f = fills.get(view);
  if (f === undefined) return;
  if (materialize) { nativeAddon()!.parityFill!(f[0], f[1], f[2], view); stats.computedHere++; }
  fills.delete(view);
  pending--;
}
