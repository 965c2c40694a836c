// Jump consistent hash (Lamping & Veach 2014, arXiv:1406.2294) and the 64-bit mixer used to derive
// per-shard, per-level keys. Scalar by nature (a data-dependent loop), so no SIMD here.

/** Bucket in [0, buckets) for `key`, exactly the paper's algorithm on an unsigned 64-bit key. */
// @ts-ignore: decorator
@inline
export function jump(key: u64, buckets: i32): i32 {
  // the paper's i64 steps as the same IEEE operations on f64 (bit-exact): (key >> 33) + 1 < 2^31 and
  // b + 1 <= buckets convert exactly (signed conversions: the unsigned i64 -> f64 conversion is a
  // long sequence in V8), j is compared as an f64 and truncated by f64.trunc (no trapping i64
  // conversion); j only becomes an integer once it is below `buckets`
  let b: i32 = -1;
  let j: f64 = 0;
  const n = <f64>buckets;
  while (j < n) {
    b = <i32>j;
    key = key * 2862933555777941757 + 1;
    j = Math.trunc(<f64>(b + 1) * (2147483648.0 / <f64>(<i64>(key >> 33) + 1)));
  }
  return b;
}

/** The splitmix64 / murmur3 finaliser: a bijective 64-bit mix. */
// @ts-ignore: decorator
@inline
export function fmix(x: u64): u64 {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  x ^= x >> 31;
  return x;
}

/** Results of `jump2` (globals: no allocation in the core). */
export let jumpOutA: i32 = 0;
export let jumpOutB: i32 = 0;

/**
 * Two independent jump hashes interleaved with branchless lane updates, so the CPU overlaps the
 * two dependency chains. Results (in jumpOutA, jumpOutB) equal `jump(ka, na)` and `jump(kb, nb)`.
 */
// @ts-ignore: decorator
@inline
export function jump2(ka: u64, na: i32, kb: u64, nb: i32): void {
  let ba: i64 = -1, ja: i64 = 0, bb: i64 = -1, jb: i64 = 0;
  const la = <i64>na, lb = <i64>nb;
  while ((ja < la) | (jb < lb)) {
    const ra = ja < la, rb = jb < lb;
    ba = select<i64>(ja, ba, ra);
    bb = select<i64>(jb, bb, rb);
    ka = ka * 2862933555777941757 + 1;
    kb = kb * 2862933555777941757 + 1;
    const na2 = <i64>(<f64>(ba + 1) * (2147483648.0 / <f64>((ka >> 33) + 1)));
    const nb2 = <i64>(<f64>(bb + 1) * (2147483648.0 / <f64>((kb >> 33) + 1)));
    ja = select<i64>(na2, ja, ra);
    jb = select<i64>(nb2, jb, rb);
  }
  jumpOutA = <i32>ba;
  jumpOutB = <i32>bb;
}

/** Results of `jump4`. */
export let jumpOutC: i32 = 0;
export let jumpOutD: i32 = 0;

/** The results of two f64x2 lanes pairs into jumpOutA..jumpOutD (shared by jump4 and jump6). */
@inline
function outABCD(b0: v128, b1: v128): void {
  jumpOutA = <i32>f64x2.extract_lane(b0, 0);
  jumpOutB = <i32>f64x2.extract_lane(b0, 1);
  jumpOutC = <i32>f64x2.extract_lane(b1, 0);
  jumpOutD = <i32>f64x2.extract_lane(b1, 1);
}


/** The jump hash's key step (k = k * 2862933555777941757 + 1) in both i64 lanes. */
// @ts-ignore: decorator
@inline
function lcgStep2(k: v128): v128 {
  return i64x2.add(i64x2.mul(k, i64x2.splat(2862933555777941757)), i64x2.splat(1));
}

/**
 * The jump hash's next j = trunc((j + 1) * (2^31 / ((k >> 33) + 1))) in both f64 lanes: (k >> 33)
 * + 1 as a double by the exponent trick (or 2^52, minus 2^52 - 1), the same IEEE steps as the scalar code.
 */
// @ts-ignore: decorator
@inline
function jumpStep2(j: v128, k: v128): v128 {
  const d = f64x2.sub(v128.or(i64x2.shr_u(k, 33), i64x2.splat(0x4330000000000000)), f64x2.splat(4503599627370495.0));
  return f64x2.trunc(f64x2.mul(f64x2.add(j, f64x2.splat(1.0)), f64x2.div(f64x2.splat(2147483648.0), d)));
}

/**
 * Four independent jump hashes in two f64x2 vectors (results in jumpOutA..D), bit-exact with
 * `jump`: the LCG runs in i64x2 lanes; `(key >> 33) + 1` (< 2^31) becomes an f64 through the 2^52
 * exponent trick; the quotient, product and truncation are the same IEEE operations as the scalar
 * code, and b, j stay integer-valued f64 (exact below 2^53: j <= 2^31 * buckets).
 * The j sequence of a lane is strictly increasing, so its bucket is the largest j below the
 * bucket count: j runs on freely in every lane (a lane past its count only computes values it
 * never keeps) and b is the running max of the j's still below the count (j masked to +0.0
 * otherwise), which saves the two lane selects of every step.
 */
// @ts-ignore: decorator
@inline
export function jump4(ka: u64, na: i32, kb: u64, nb: i32, kc: u64, nc: i32, kd: u64, nd: i32): void {
  let k0 = i64x2.replace_lane(i64x2.splat(ka), 1, kb);
  let k1 = i64x2.replace_lane(i64x2.splat(kc), 1, kd);
  const n0 = f64x2.replace_lane(f64x2.splat(<f64>na), 1, <f64>nb);
  const n1 = f64x2.replace_lane(f64x2.splat(<f64>nc), 1, <f64>nd);
  let b0 = f64x2.splat(0.0), b1 = b0;
  let j0 = b0, j1 = b0;
  for (;;) {
    k0 = lcgStep2(k0); k1 = lcgStep2(k1);
    j0 = jumpStep2(j0, k0); j1 = jumpStep2(j1, k1);
    const r0 = f64x2.lt(j0, n0), r1 = f64x2.lt(j1, n1);
    const r = v128.or(r0, r1);
    if (!v128.any_true(r)) break;
    b0 = f64x2.pmax(b0, v128.and(j0, r0));
    b1 = f64x2.pmax(b1, v128.and(j1, r1));
  }
  outABCD(b0, b1);
}

/**
 * Two independent jump hashes in one f64x2 vector (results in jumpOutA, jumpOutB), the same steps
 * as `jump4` (for the last one or two shards of a group: half the work of a four-lane call).
 */
// @ts-ignore: decorator
@inline
export function jump2v(ka: u64, na: i32, kb: u64, nb: i32): void {
  let k0 = i64x2.replace_lane(i64x2.splat(ka), 1, kb);
  const n0 = f64x2.replace_lane(f64x2.splat(<f64>na), 1, <f64>nb);
  let b0 = f64x2.splat(0.0);
  let j0 = b0;
  for (;;) {
    k0 = lcgStep2(k0);
    j0 = jumpStep2(j0, k0);
    const r0 = f64x2.lt(j0, n0);
    if (!v128.any_true(r0)) break;
    b0 = f64x2.pmax(b0, v128.and(j0, r0));
  }
  jumpOutA = <i32>f64x2.extract_lane(b0, 0);
  jumpOutB = <i32>f64x2.extract_lane(b0, 1);
}

/** Results of `jump6` (lanes 4 and 5; lanes 0-3 in jumpOutA..D). */
export let jumpOutE: i32 = 0;
export let jumpOutF: i32 = 0;

/**
 * Six independent jump hashes in three f64x2 vectors (results in jumpOutA..F), the same steps as
 * `jump4` with a third dependency chain, so the CPU overlaps three chains' latency (three vectors
 * of key, j, best and count stay in registers; five would spill).
 */
// @ts-ignore: decorator
@inline
export function jump6(ka: u64, na: i32, kb: u64, nb: i32, kc: u64, nc: i32, kd: u64, nd: i32, ke: u64, ne: i32, kf: u64, nf: i32): void {
  let k0 = i64x2.replace_lane(i64x2.splat(ka), 1, kb);
  let k1 = i64x2.replace_lane(i64x2.splat(kc), 1, kd);
  let k2 = i64x2.replace_lane(i64x2.splat(ke), 1, kf);
  const n0 = f64x2.replace_lane(f64x2.splat(<f64>na), 1, <f64>nb);
  const n1 = f64x2.replace_lane(f64x2.splat(<f64>nc), 1, <f64>nd);
  const n2 = f64x2.replace_lane(f64x2.splat(<f64>ne), 1, <f64>nf);
  let b0 = f64x2.splat(0.0), b1 = b0, b2 = b0;
  let j0 = b0, j1 = b0, j2 = b0;
  for (;;) {
    k0 = lcgStep2(k0); k1 = lcgStep2(k1); k2 = lcgStep2(k2);
    j0 = jumpStep2(j0, k0); j1 = jumpStep2(j1, k1); j2 = jumpStep2(j2, k2);
    const r0 = f64x2.lt(j0, n0), r1 = f64x2.lt(j1, n1), r2 = f64x2.lt(j2, n2);
    if (!v128.any_true(v128.or(v128.or(r0, r1), r2))) break;
    b0 = f64x2.pmax(b0, v128.and(j0, r0));
    b1 = f64x2.pmax(b1, v128.and(j1, r1));
    b2 = f64x2.pmax(b2, v128.and(j2, r2));
  }
  outABCD(b0, b1);
  jumpOutE = <i32>f64x2.extract_lane(b2, 0);
  jumpOutF = <i32>f64x2.extract_lane(b2, 1);
}
