import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reservoirStages, reservoirInclusion } from '../../placement/index.js';
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

t('bad weights and group sizes are refused', () => {
  assert.throws(() => reservoirStages([1, 0, 2], 2), /positive/);
  assert.throws(() => reservoirStages([1, 2], 0), /group size/);
});

t.run();
