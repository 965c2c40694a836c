import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reservoirStages, reservoirInclusion } from '../../placement/index.js';
import { liftFill } from '../../placement/reservoir.js';
import { Rng } from '../../core/rng.js';

const t = suite('reservoir');

/** Capped shares by brute force: cap whatever reaches 1, spread the rest, repeat. */
function cappedShares(w: number[], k: number): number[] {
  if (w.length <= k) return w.map(() => 1);
  const capped = w.map(() => false);
  for (;;) {
    const left = k - capped.filter(Boolean).length;
    const rest = w.reduce((s, x, i) => s + (capped[i] ? 0 : x), 0);
    let changed = false;
    w.forEach((x, i) => { if (!capped[i] && (left / rest) * x >= 1 - 1e-12) { capped[i] = true; changed = true; } });
    if (!changed) return w.map((x, i) => (capped[i] ? 1 : (left / rest) * x));
  }
}

t('equal weights: domain j enters with k/(j+1), removal is always uniform (Algorithm R)', () => {
  const s = reservoirStages(new Array(40).fill(8), 10);
  for (let j = 0; j < 40; j++) {
    assert.ok(Math.abs(s.prob[j]! - Math.min(1, 10 / (j + 1))) < 1e-12, `stage ${j}`);
    assert.is(s.uniform[j], 1);
  }
  assert.is(s.c[9], Infinity);
  assert.ok(Math.abs(s.c[39]! * 8 - 10 / 40) < 1e-12);
});

t('stage tables reproduce the capped shares at every stage (entry and removal as the core applies them)', () => {
  const r = new Rng(4);
  for (let round = 0; round < 40; round++) {
    const n = r.range(2, 30), k = r.range(1, Math.min(n, 12));
    const w = Array.from({ length: n }, () => r.pick([1, 2, 4, 8, 0.5, 3]));
    const s = reservoirStages(w, k);
    let pi: number[] = [];
    for (let j = 0; j < n; j++) {
      const p = s.prob[j]!;
      const after = cappedShares(w.slice(0, j + 1), k);
      assert.ok(Math.abs(p - after[j]!) < 1e-9, `round ${round} entry probability at stage ${j}`);
      if (j < k) { pi.push(1); continue; }
      const before = cappedShares(w.slice(0, j), k);
      // the core removes member i with probability proportional to a_i = 1 - pi_i(j) / pi_i(j-1),
      // computed from the stage multipliers c_{j-1}, c_j: check those give the same a_i
      const a = w.slice(0, j).map((wi) => Math.max(0, 1 - Math.min(1, s.c[j]! * wi) / Math.min(1, s.c[j - 1]! * wi)));
      a.forEach((ai, i) => assert.ok(Math.abs(ai - Math.max(0, 1 - after[i]! / before[i]!)) < 1e-9, `round ${round} stage ${j} member ${i}`));
      if (s.uniform[j]) for (let i = 0; i < j; i++) assert.ok(Math.abs(a[i]! - a[0]!) < 1e-9, `uniform flag at stage ${j} but unequal removal`);
      // Chao: the a_i of any group sum to p, so P(i removed) = p * a_i / p = a_i and pi_i(j) = pi_i(j-1) (1 - a_i)
      assert.ok(Math.abs(a.reduce((x, y, i) => x + y * before[i]!, 0) - p) < 1e-9, `removals balance the entry at stage ${j}`);
      pi = pi.map((x, i) => x * (1 - a[i]!));
      pi.push(p);
      pi.forEach((x, i) => assert.ok(Math.abs(x - after[i]!) < 1e-9, `round ${round} stage ${j} domain ${i}: ${x} vs ${after[i]}`));
    }
    const inc = reservoirInclusion(w, k);
    cappedShares(w, k).forEach((x, i) => assert.ok(Math.abs(inc[i]! - x) < 1e-9));
  }
});

t('a domain heavier than 1/k of the weight is certain and never removed', () => {
  const w = [1, 1, 1, 1, 1, 1, 1, 1, 20];
  const inc = reservoirInclusion(w, 3);
  assert.is(inc[8], 1);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(inc[i]! - 2 / 8) < 1e-12);
  assert.is(reservoirStages(w, 3).prob[8], 1);
});

t('lift fill (rules 4): the probability q gives every domain its exact share, checked by enumerating every base layout', () => {
  // brute force: every k-subset of R x m targets is a base layout (all equally likely); K domains covered,
  // xmin = max(0, k - K - N) forced, q of the other free ones: E[K + x] must be R k / (R + N)
  const check = (R: number, m: number, k: number, N: number) => {
    const q = liftFill(R, m, k, N);
    let n = 0, eK = 0, eMin = 0, eRest = 0;
    const T = R * m;
    for (let mask = 0; mask < 1 << T; mask++) {
      let bits = 0;
      for (let x = mask; x; x &= x - 1) bits++;
      if (bits !== k) continue;
      let K = 0;
      for (let d = 0; d < R; d++) if ((mask >> (d * m)) & ((1 << m) - 1)) K++;
      const xmin = Math.max(0, k - K - N);
      n++; eK += K; eMin += xmin; eRest += R - K - xmin;
    }
    eK /= n; eMin /= n; eRest /= n;
    return { q, eK, eMin, eRest, want: (R * k) / (R + N) };
  };
  let inside = 0;
  for (const [R, m, k, N] of [[5, 3, 6, 2], [7, 2, 8, 2], [8, 2, 9, 2], [8, 2, 10, 3], [3, 2, 4, 2], [4, 3, 5, 2], [3, 4, 4, 1], [4, 4, 6, 2], [2, 4, 3, 1]] as const) {
    const r = check(R, m, k, N);
    const label = `R=${R} m=${m} k=${k} N=${N}: q=${r.q}`;
    if (r.q === undefined) {
      // no q in [0, 1]: the forced moves alone already overfill the base domains, or all of them underfill
      assert.ok(r.eK + r.eMin > r.want + 1e-12 || r.eK + r.eMin + r.eRest < r.want - 1e-12, label);
      continue;
    }
    assert.ok(r.q >= 0 && r.q <= 1, label);
    assert.ok(Math.abs(r.eK + r.eMin + r.q * r.eRest - r.want) < 1e-9, label);
    if (r.q > 0) inside++;
  }
  assert.is(inside, 4, 'four cases take free base domains beyond the forced ones');
  assert.is(liftFill(2, 4, 3, 1), 0, 'RP_3G1 on 2 ranks of 4 lifted to 3: the forced moves are the share');
  assert.ok(liftFill(8, 4, 10, 4)! > 0 && liftFill(16, 4, 18, 8)! > 0);
  assert.is(liftFill(4, 8, 10, 8), undefined, 'EC_8P2G1 1x4x8 + 2 nodes: kept shards over-fill the base, the lift falls back to the stages');
  assert.is(liftFill(4, 2, 9, 4), undefined, 'more shards than base targets');
});

t('bad weights and group sizes are refused', () => {
  assert.throws(() => reservoirStages([1, 0, 2], 2), /positive/);
  assert.throws(() => reservoirStages([1, 2], 0), /group size/);
});

t.run();
