/**
 * A connected commit's plan (src/net/connected.ts `commitShape`): its participants ascending, each
 * with a descriptor naming them all and its own count of writes; commits of one shape (the same
 * participants with the same counts) share one plan, made once, and a commit of another shape never
 * gets it; shapes past what the cache keys (more than 3 participants, rank 1024 and up, 128 writes
 * and up) still get a right plan, each its own.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { commitShape } from '../../src/net/connected.js';

const t = suite('commit-shape');

t('a plan names its participants ascending and each one\'s count of writes', () => {
  const p = commitShape([1, 3], [2, 1], 2);
  assert.equal(p.ranks, [1, 3]);
  assert.equal(p.descriptors, [{ ranks: [1, 3], n: 2 }, { ranks: [1, 3], n: 1 }]);
  assert.is(p.descriptors[0]!.ranks, p.ranks, 'descriptors share the ranks');
});

t('commits of one shape share one plan; other shapes get their own, right ones', () => {
  // (scratch arrays longer than k, as intent's: what lies past k is not part of the shape)
  const a = commitShape([0, 2, 9, 9], [1, 1, 5, 5], 2), b = commitShape([0, 2, 7], [1, 1, 3], 2);
  assert.is(a, b, 'one plan for one shape');
  const seen = new Map<string, ReturnType<typeof commitShape>>();
  for (let r0 = 0; r0 < 6; r0++) for (let r1 = r0 + 1; r1 < 6; r1++) for (let c0 = 1; c0 < 4; c0++) for (let c1 = 1; c1 < 4; c1++) {
    const p = commitShape([r0, r1], [c0, c1], 2);
    assert.equal(p.ranks, [r0, r1]);
    assert.equal(p.descriptors.map((d) => d.n), [c0, c1]);
    for (const [k, q] of seen) assert.is.not(q, p, `shape ${r0},${r1}/${c0},${c1} shares the plan of ${k}`);
    seen.set(`${r0},${r1}/${c0},${c1}`, p);
  }
  assert.equal(commitShape([4], [1], 1).ranks, [4]);
  assert.is.not(commitShape([4], [1], 1), commitShape([4], [2], 1));
  assert.is.not(commitShape([4], [1], 1), commitShape([4, 5], [1, 1], 2));
});

t('shapes the cache does not key still get right plans', () => {
  for (const [ranks, counts] of [[[0, 1, 2, 3], [1, 1, 1, 1]], [[1023, 1024], [1, 1]], [[0, 5], [128, 1]], [[2], [300]]] as const) {
    const p = commitShape(ranks, counts, ranks.length);
    assert.equal(p.ranks, [...ranks]);
    assert.equal(p.descriptors.map((d) => d.n), [...counts]);
    assert.is.not(commitShape(ranks, counts, ranks.length), p, 'not kept: made again');
  }
});

t.run();
