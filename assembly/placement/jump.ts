// Jump consistent hash (Lamping & Veach 2014, arXiv:1406.2294) and the 64-bit mixer used to derive
// per-shard, per-level keys. Scalar by nature (a data-dependent loop), so no SIMD here.

/** Bucket in [0, buckets) for `key`, exactly the paper's algorithm on an unsigned 64-bit key. */
// @ts-ignore: decorator
@inline
export function jump(key: u64, buckets: i32): i32 {
  let b: i64 = -1;
  let j: i64 = 0;
  while (j < <i64>buckets) {
    b = j;
    key = key * 2862933555777941757 + 1;
    j = <i64>(<f64>(b + 1) * (2147483648.0 / <f64>((key >> 33) + 1)));
  }
  return <i32>b;
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
