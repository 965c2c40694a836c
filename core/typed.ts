/**
 * Typed-array methods called as plain functions, for the paths that run per operation (log and
 * journal records, the mapped log, id tables). On Node 20 (V8 11.3) optimised code looks up a
 * typed array's methods and accessors (`set`, `fill`, `subarray`, `byteLength`, `byteOffset`,
 * `buffer`; not `length`) with a generic property lookup, a call of the LoadIC builtin (6-15 ns
 * each, measured in isolation), while a call of the method itself, held in a constant, goes
 * straight to its builtin. `fill` is a C++ builtin (~20 ns a call), so short ranges are zeroed by
 * a loop.
 */
const taSet = Uint8Array.prototype.set;
const taFill = Uint8Array.prototype.fill;

/** Longest range `zeroRange` zeroes with a loop (longer ones: `fill`). */
const ZERO_LOOP_MAX_BYTES = 64;

/** `dst.set(src, at)`: copy all of `src` into `dst` from `at` (RangeError past `dst`'s end, as `set`). */
export function copyInto(dst: Uint8Array, src: Uint8Array, at: number): void {
  taSet.call(dst, src, at);
}

/** Zero `dst[from, to)` (from <= to <= dst.length). */
export function zeroRange(dst: Uint8Array, from: number, to: number): void {
  if (to - from <= ZERO_LOOP_MAX_BYTES) { for (let i = from; i < to; i++) dst[i] = 0; return; }
  taFill.call(dst, 0, from, to);
}
