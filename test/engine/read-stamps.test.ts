/**
 * An engine's read stamps against a model: the floor a write of key k must stay above is the
 * newest read of k or of anything below it, or of exactly a level above it (a listing). Value reads
 * and listings of every level are checked. Bounded tables may only
 * answer higher than the model (forgetting is conservative), never lower.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ReadStamps, type StampKey } from '../../src/engine/read-stamps.js';

const t = suite('read-stamps');

/** The definition: reads r with k a prefix of r (or r itself), and reads at exactly a strict prefix of k. */
function model(reads: Array<[StampKey, bigint]>, k: StampKey): bigint {
  let max = 0n;
  const isPrefix = (a: StampKey, b: StampKey) => a.length <= b.length && a.every((x, i) => x === b[i]);
  for (const [r, e] of reads) {
    if ((isPrefix(k, r) || (r.length < k.length && isPrefix(r, k))) && e > max) max = e;
  }
  return max;
}

/** A random key of 1-4 levels over a small alphabet (so keys share prefixes); `full` gives 4 levels. */
function keyGen(rnd: (n: number) => number) {
  const level = (i: number) => ['c', 'u', 'd', 'a'][i]! + rnd(3);
  return (full: boolean): StampKey => Array.from({ length: full ? 4 : 1 + rnd(4) }, (_, i) => level(i));
}

for (const listings of [false, true]) {
  t(`floors equal the model (${listings ? 'value reads, then listings' : 'value reads only'})`, () => {
    let seed = listings ? 11 : 5;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
    const key = keyGen(rnd);
    const stamps = new ReadStamps();
    const reads: Array<[StampKey, bigint]> = [];
    for (let step = 0; step < 3000; step++) {
      if (rnd(3) === 0) {
        // Value reads are four levels; listings (the second half of the listing run) are shorter.
        const r = key(!(listings && step > 1500 && rnd(2) === 0));
        const e = BigInt(1 + rnd(1000));
        stamps.record(r, e);
        reads.push([r, e]);
      } else {
        const w = key(false);
        assert.is(stamps.floorFor(w), model(reads, w), `floor of ${w.join('/')} at step ${step}`);
      }
    }
  });
}

t('a bounded table answers at least the model (forgetting only refuses more)', () => {
  let seed = 3;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const key = keyGen(rnd);
  const stamps = new ReadStamps(8);
  const reads: Array<[StampKey, bigint]> = [];
  let e = 0n;
  for (let step = 0; step < 3000; step++) {
    if (rnd(2) === 0) {
      const r = key(true);
      stamps.record(r, (e += 1n));
      reads.push([r, e]);
    } else {
      const w = key(false);
      assert.ok(stamps.floorFor(w) >= model(reads, w), `floor of ${w.join('/')} at step ${step}`);
    }
  }
});

t.run();
