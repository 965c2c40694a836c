/**
 * Seeded pseudo-random numbers (xoshiro128**), so tests, fault injection and the placement
 * simulator replay exactly from a seed. Not for cryptography.
 */
import { fmix32 } from './mix.js';

export class Rng {
  private a: number; private b: number; private c: number; private d: number;

  /** A generator whose whole sequence is determined by `seed`. */
  constructor(seed: number | bigint = 1) {
    // splitmix32 to spread the seed over the state
    let s = Number(BigInt.asUintN(32, BigInt(seed))) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      return fmix32(s);
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d;
    this.c ^= t; this.d = rotl(this.d, 11);
    this.a >>>= 0; this.b >>>= 0; this.c >>>= 0; this.d >>>= 0;
    return r;
  }

  /** Uniform float in [0, 1). */
  float(): number { return this.u32() / 4294967296; }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32. */
  int(n: number): number { return Math.floor(this.float() * n); }

  /** Uniform integer in [lo, hi] inclusive. */
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }

  /** Uniform unsigned 64-bit bigint. */
  u64(): bigint { return (BigInt(this.u32()) << 32n) | BigInt(this.u32()); }

  /** True with probability p. */
  chance(p: number): boolean { return this.float() < p; }

  /** A random element of a non-empty array. */
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }

  /** Fill `buf` with random bytes and return it. */
  fill(buf: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= buf.length; i += 4) {
      const v = this.u32();
      buf[i] = v; buf[i + 1] = v >>> 8; buf[i + 2] = v >>> 16; buf[i + 3] = v >>> 24;
    }
    for (; i < buf.length; i++) buf[i] = this.u32();
    return buf;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array { return this.fill(new Uint8Array(n)); }
}

function rotl(x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0; }
