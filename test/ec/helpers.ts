/** Shared helpers of the ec tests (not a test file). */
import { Rng } from '../../core/rng.js';

/** k random data shards of `len` bytes followed by p zeroed parity shards. */
export function randomStripe(rng: Rng, k: number, p: number, len: number): Uint8Array[] {
  return [...Array.from({ length: k }, () => rng.bytes(len)), ...Array.from({ length: p }, () => new Uint8Array(len))];
}

/** Deep copy of a shard array. */
export function cloneShards(shards: readonly Uint8Array[]): Uint8Array[] { return shards.map((s) => s.slice()); }

/** Hex of a buffer (for assertion messages). */
export function hex(b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex'); }

/** Every subset of {0..n-1} with 1..maxSize elements. */
export function* subsets(n: number, maxSize: number): Generator<number[]> {
  for (let mask = 1; mask < 1 << n; mask++) {
    const s: number[] = [];
    for (let i = 0; i < n; i++) if (mask & (1 << i)) s.push(i);
    if (s.length <= maxSize) yield s;
  }
}

/** `count` distinct random indices from 0..n-1. */
export function randomSubset(rng: Rng, n: number, count: number): number[] {
  const all = [...Array(n).keys()];
  for (let i = 0; i < count; i++) { const j = i + rng.int(n - i); [all[i], all[j]] = [all[j]!, all[i]!]; }
  return all.slice(0, count).sort((a, b) => a - b);
}
