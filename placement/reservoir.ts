/**
 * Stage probabilities of the weighted reservoir that places groups over domains added to a pool
 * (Chao 1982, "A general purpose unequal probability sampling plan"), computed once per
 * (pool map, fault level, group size) and handed to the wasm core.
 *
 * Domains are visited in pool order. After stage j (domains 0..j seen), each domain i must be in a
 * group with probability pi_i(j) = min(1, c_j * w_i): its share of the weight, scaled so that the
 * shares sum to the group size k, capped at 1 (a domain heavier than 1/k of the total is in every
 * group). Domain j enters with probability pi_j(j) and replaces member i with probability
 * proportional to 1 - pi_i(j) / pi_i(j-1); that keeps every inclusion probability exact at every
 * stage, so the final layout gives each domain its share of shards whatever the order or sizes.
 * Uniform removal is exact whenever nothing was capped at the previous stage, or every domain seen
 * weighs the same (the common case: a homogeneous pool growing by like nodes).
 *
 * Why a reservoir: extending the pool appends domains, i.e. appends stages. Earlier stages are
 * unchanged, so a group changes only when an added domain enters it, and then it loses exactly one
 * member: shards move only onto the added domains, in the proportion of their weight.
 */
import { assert } from '../core/errors.js';

/** Per-stage tables of the reservoir over `weights` (pool order) for groups of `k`. */
export interface ReservoirStages {
  /** pi_j(j): probability that domain j enters a group at its stage (1 while filling). */
  prob: Float64Array;
  /** c_j: inclusion multiplier after stage j (Infinity while every domain seen is certain). */
  c: Float64Array;
  /** 1 if the member a stage-j entrant replaces is uniform over the group. */
  uniform: Uint8Array;
}

/** Stage tables for groups of `k` over domains of the given weights (all > 0), in pool order. */
export function reservoirStages(weights: ArrayLike<number>, k: number): ReservoirStages {
  const n = weights.length;
  assert(Number.isInteger(k) && k >= 1, 'reservoir group size', { k });
  const prob = new Float64Array(n), c = new Float64Array(n), uniform = new Uint8Array(n);
  const heap = new MinHeap(); // weights of the domains capped at pi = 1
  let S = 0;                 // total weight of the uncapped domains
  let wMin = Infinity, wMax = -Infinity; // over domains seen before this stage
  let prevCapped = 0, prevAllCapped = true;
  for (let j = 0; j < n; j++) {
    const w = weights[j]!;
    assert(w > 0 && Number.isFinite(w), 'reservoir weights must be positive', { j, w });
    heap.push(w);
    // the capped set is the heaviest domains whose share reaches 1: drop the lightest while not
    while (heap.size > k || (S > 0 && heap.size > 0 && (k - heap.size) * heap.peek() < S)) S += heap.pop();
    const cj = S > 0 ? (k - heap.size) / S : Infinity;
    c[j] = cj;
    prob[j] = Math.min(1, cj * w);
    // removal is uniform when every earlier member loses the same fraction of its inclusion
    uniform[j] = (prevAllCapped ? wMin === wMax || j === 0 : prevCapped === 0) ? 1 : 0;
    prevCapped = heap.size;
    prevAllCapped = S === 0;
    if (w < wMin) wMin = w;
    if (w > wMax) wMax = w;
  }
  return { prob, c, uniform };
}

/** Inclusion probability of each domain after all stages (for tests and the simulator). */
export function reservoirInclusion(weights: ArrayLike<number>, k: number): Float64Array {
  const n = weights.length;
  if (n === 0) return new Float64Array(0);
  const { c } = reservoirStages(weights, k);
  const cn = c[n - 1]!;
  return Float64Array.from(weights, (w) => Math.min(1, cn * w));
}

/** A binary min-heap of numbers. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number { return this.a.length; }
  peek(): number { return this.a[0]!; }
  push(x: number): void {
    const a = this.a;
    let i = a.push(x) - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!; i = p;
    }
    a[i] = x;
  }
  pop(): number {
    const a = this.a, top = a[0]!, last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i, v = last;
        if (l < a.length && a[l]! < v) { m = l; v = a[l]!; }
        if (r < a.length && a[r]! < v) { m = r; v = a[r]!; }
        if (m === i) break;
        a[i] = a[m]!; i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * Layout rules 4, the fill of a lift seeded by the base alone (see docs/placement.md): a group of
 * `k` shards laid out at target level over a base of `R` alike domains (of the new level) of `m`
 * targets each — a uniform sample of k distinct targets — keeps the first shard on each of the K
 * domains it covers, and its other k - K shards move: x of them to free base domains (of the R - K
 * free), the rest to domains of the lifting extension (`N` of them, alike with the base ones).
 * Every domain must end with inclusion k / (R + N); by symmetry that holds exactly when E[K + x] =
 * R k / (R + N). x is at least xmin(K) = max(0, k - K - N) (the new domains must have room) and,
 * beyond that, takes each other free base domain with probability q, the value this returns
 * (undefined if no q in [0, 1] exists: the lift then evicts kept shards and runs the LAYOUT_V3
 * stages instead). Nothing kept moves, so the lift moves exactly the shards that shared a domain.
 * The law of K (distinct domains hit by k draws without replacement from R x m targets) comes from
 * a dynamic programme over the domains (all terms positive, so no cancellation).
 */
export function liftFill(R: number, m: number, k: number, N: number): number | undefined {
  if (!(R >= 1 && m >= 1 && N >= 1 && k >= 2 && k <= R * m && k <= R + N)) return undefined;
  // ways[K][t]: ways to draw t targets from the domains seen so far, K of them non-empty (scaled)
  let ways: Float64Array[] = Array.from({ length: R + 1 }, () => new Float64Array(k + 1));
  ways[0]![0] = 1;
  const binom = (n: number, r: number) => { let b = 1; for (let i = 1; i <= r; i++) b = (b * (n - r + i)) / i; return b; };
  const cm = Array.from({ length: m + 1 }, (_, j) => binom(m, j));
  for (let d = 0; d < R; d++) {
    const next = Array.from({ length: R + 1 }, () => new Float64Array(k + 1));
    let top = 0;
    for (let K = 0; K <= d; K++) {
      for (let t = 0; t <= k; t++) {
        const w = ways[K]![t]!;
        if (w === 0) continue;
        for (let j = 0; j <= m && t + j <= k; j++) { next[K + (j > 0 ? 1 : 0)]![t + j]! += w * cm[j]!; }
      }
    }
    for (const row of next) for (const x of row) if (x > top) top = x;
    for (const row of next) for (let t = 0; t <= k; t++) row[t]! /= top; // keep the scale bounded
    ways = next;
  }
  let total = 0, eK = 0, eMin = 0, eRest = 0;
  for (let K = 1; K <= R; K++) {
    const p = ways[K]![k]!;
    total += p; eK += p * K;
    const xmin = Math.max(0, k - K - N);
    eMin += p * xmin; eRest += p * (R - K - xmin);
  }
  eK /= total; eMin /= total; eRest /= total;
  const mu = (R * k) / (R + N) - eK;
  if (eRest <= 0) return Math.abs(mu - eMin) < 1e-12 ? 0 : undefined;
  const q = (mu - eMin) / eRest;
  return q >= 0 && q <= 1 ? q : undefined;
}
