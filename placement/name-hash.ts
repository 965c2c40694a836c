/**
 * The user part of a named object's id, hashed in JavaScript for short names.
 *
 * A name's id is `xxh64(name, 0x6f6964) << 32 | (xxh64(name, 0x6e616d65) & 0xffffffff)` (96 bits;
 * ids on disk depend on it, so it never changes). Through the wasm xxhash that is two calls across
 * the boundary, each copying the name into wasm memory and returning a fresh BigInt, then four
 * more BigInts to assemble the id: about 0.2 us per name, 10% of a small get's CPU. Here XXH64 is
 * computed from its specification (github.com/Cyan4973/xxHash, doc/xxhash_spec.md) on 32-bit
 * halves for names shorter than NAME_HASH_JS_MAX_BYTES (the short-input branch of the spec: no
 * stripes), both seeds in one call, and the id is read from a scratch of four words: two BigInts.
 * test/placement/name-hash checks it equals the wasm xxh64 on every length and random bytes.
 */

/** Names shorter than this many bytes are hashed here (XXH64's short-input branch); longer ones by the caller's xxh64. */
export const NAME_HASH_JS_MAX_BYTES = 32;

// XXH64's primes as (high, low) 32-bit halves.
const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

/**
 * The high word of (ah, al) * (bh, bl) mod 2^64 (its low word is `Math.imul(al, bl)`), as a signed
 * 32-bit value; halves may be signed or unsigned. The double product of the low words is within
 * 2^11 of the exact one, so (product - its low word) / 2^32 is within 2^-20 of the exact high word
 * of that product, an integer: rounded, it is exact.
 */
function mulHi(ah: number, al: number, bh: number, bl: number): number {
  return (Math.round(((al >>> 0) * (bl >>> 0) - (Math.imul(al, bl) >>> 0)) / 4294967296) + Math.imul(ah, bl) + Math.imul(al, bh)) | 0;
}

/** (high + carry of low + add) as a signed 32-bit word: the high half of a 64-bit sum whose low half is `low` (unsigned, < 2^33). */
function carryHi(high: number, low: number, add: number): number {
  return (high + add + (low > 0xffffffff ? 1 : 0)) | 0;
}

/** The two hashes of the last `hashPair`: [high, low] of the first seed's, then of the second's (signed 32-bit words). */
const R = new Int32Array(4);

/**
 * XXH64 of the first `n` (< NAME_HASH_JS_MAX_BYTES) bytes of `b` with seeds `s1` and `s2` (each
 * below 2^32) into R: the two hashes run side by side (independent chains the CPU overlaps).
 */
function hashPair(b: Uint8Array, n: number, s1: number, s2: number): void {
  // acc = seed + P5 + n
  let t1 = P5L + s1 + n, t2 = P5L + s2 + n;
  let xh = carryHi(P5H, t1, 0), xl = t1 | 0, yh = carryHi(P5H, t2, 0), yl = t2 | 0;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    // k = rotl(lane * P2, 31) * P1 (the same for both); acc ^= k; acc = rotl(acc, 27) * P1 + P4
    const ll = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    const lh = b[i + 4]! | (b[i + 5]! << 8) | (b[i + 6]! << 16) | (b[i + 7]! << 24);
    const ph = mulHi(lh, ll, P2H, P2L), pl = Math.imul(ll, P2L);
    const rh = (ph << 31) | (pl >>> 1), rl = (pl << 31) | (ph >>> 1);
    const kh = mulHi(rh, rl, P1H, P1L), kl = Math.imul(rl, P1L);
    xh ^= kh; xl ^= kl; yh ^= kh; yl ^= kl;
    const uh = (xh << 27) | (xl >>> 5), ul = (xl << 27) | (xh >>> 5);
    const vh = (yh << 27) | (yl >>> 5), vl = (yl << 27) | (yh >>> 5);
    t1 = (Math.imul(ul, P1L) >>> 0) + P4L; t2 = (Math.imul(vl, P1L) >>> 0) + P4L;
    xh = carryHi(mulHi(uh, ul, P1H, P1L), t1, P4H); xl = t1 | 0;
    yh = carryHi(mulHi(vh, vl, P1H, P1L), t2, P4H); yl = t2 | 0;
  }
  if (i + 4 <= n) {
    // acc ^= u32 * P1; acc = rotl(acc, 23) * P2 + P3
    const w = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    const kh = mulHi(0, w, P1H, P1L), kl = Math.imul(w, P1L);
    xh ^= kh; xl ^= kl; yh ^= kh; yl ^= kl;
    const uh = (xh << 23) | (xl >>> 9), ul = (xl << 23) | (xh >>> 9);
    const vh = (yh << 23) | (yl >>> 9), vl = (yl << 23) | (yh >>> 9);
    t1 = (Math.imul(ul, P2L) >>> 0) + P3L; t2 = (Math.imul(vl, P2L) >>> 0) + P3L;
    xh = carryHi(mulHi(uh, ul, P2H, P2L), t1, P3H); xl = t1 | 0;
    yh = carryHi(mulHi(vh, vl, P2H, P2L), t2, P3H); yl = t2 | 0;
    i += 4;
  }
  for (; i < n; i++) {
    // acc ^= byte * P5; acc = rotl(acc, 11) * P1
    const c = b[i]!;
    const kh = mulHi(0, c, P5H, P5L), kl = Math.imul(c, P5L);
    xh ^= kh; xl ^= kl; yh ^= kh; yl ^= kl;
    const uh = (xh << 11) | (xl >>> 21), ul = (xl << 11) | (xh >>> 21);
    const vh = (yh << 11) | (yl >>> 21), vl = (yl << 11) | (yh >>> 21);
    xh = mulHi(uh, ul, P1H, P1L); xl = Math.imul(ul, P1L);
    yh = mulHi(vh, vl, P1H, P1L); yl = Math.imul(vl, P1L);
  }
  // avalanche: acc ^= acc >> 33; acc *= P2; acc ^= acc >> 29; acc *= P3; acc ^= acc >> 32
  xl ^= xh >>> 1; yl ^= yh >>> 1;
  let ah = mulHi(xh, xl, P2H, P2L), al = Math.imul(xl, P2L);
  let bh = mulHi(yh, yl, P2H, P2L), bl = Math.imul(yl, P2L);
  xl = al ^ ((al >>> 29) | (ah << 3)); xh = ah ^ (ah >>> 29);
  yl = bl ^ ((bl >>> 29) | (bh << 3)); yh = bh ^ (bh >>> 29);
  ah = mulHi(xh, xl, P3H, P3L); al = Math.imul(xl, P3L);
  bh = mulHi(yh, yl, P3H, P3L); bl = Math.imul(yl, P3L);
  R[0] = ah; R[1] = al ^ ah; R[2] = bh; R[3] = bl ^ bh;
}

/** Seeds of the two hashes of a name (see the file comment). */
const SEED_HI = 0x6f6964, SEED_LO = 0x6e616d65;

/** Words of a 128-bit id (little-endian halves), read back as two 64-bit BigInts. */
const idWords = new Uint32Array(4);
const idHalves = new BigUint64Array(idWords.buffer);

/**
 * The object id of a name of `n` (< NAME_HASH_JS_MAX_BYTES) bytes in `b` whose bits above the 96
 * user bits are `top` (bits 127..96 of the id, as an unsigned 32-bit number): equal to
 * `(BigInt(top) << 96n) | (xxh64(name, 0x6f6964n) << 32n) | (xxh64(name, 0x6e616d65n) & 0xffffffffn)`.
 */
export function shortNameObjectId(b: Uint8Array, n: number, top: number): bigint {
  hashPair(b, n, SEED_HI, SEED_LO);
  idWords[0] = R[3]!; idWords[1] = R[1]!; idWords[2] = R[0]!; idWords[3] = top;
  return (idHalves[1]! << 64n) | idHalves[0]!;
}

/** XXH64 of `b` (shorter than NAME_HASH_JS_MAX_BYTES) with seeds below 2^32, as BigInts (for tests). */
export function xxh64ShortPair(b: Uint8Array, s1: number, s2: number): [bigint, bigint] {
  if (!(b.length < NAME_HASH_JS_MAX_BYTES) || !(s1 >= 0 && s1 <= 0xffffffff) || !(s2 >= 0 && s2 <= 0xffffffff)) throw new RangeError('xxh64ShortPair: input of at most 31 bytes, seeds below 2^32');
  hashPair(b, b.length, s1, s2);
  return [(BigInt(R[0]! >>> 0) << 32n) | BigInt(R[1]! >>> 0), (BigInt(R[2]! >>> 0) << 32n) | BigInt(R[3]! >>> 0)];
}
