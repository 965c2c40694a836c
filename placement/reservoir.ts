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
