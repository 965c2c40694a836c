import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { CairnError, assert as invariant, InvariantError } from '../../core/errors.js';

const t = suite('core');

t('Rng replays exactly from a seed and differs across seeds', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const xs = Array.from({ length: 100 }, () => a.u32());
  const ys = Array.from({ length: 100 }, () => b.u32());
  const zs = Array.from({ length: 100 }, () => c.u32());
  assert.equal(xs, ys);
  assert.not.equal(xs, zs);
});

t('Rng.int is uniform enough and in range', () => {
  const r = new Rng(7);
  const counts = new Array(10).fill(0);
  for (let i = 0; i < 100_000; i++) {
    const v = r.int(10);
    assert.ok(v >= 0 && v < 10);
    counts[v]++;
  }
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, `bucket count ${c}`);
});

t('errors carry stable codes; assert throws InvariantError', () => {
  const e = new CairnError('NOT_FOUND', 'msg', { a: 1 });
  assert.is(e.code, 'NOT_FOUND');
  assert.instance(e, Error);
  assert.throws(() => invariant(false, 'broken'), (err: unknown) => err instanceof InvariantError && (err as InvariantError).code === 'ASSERTION_FAILED');
});

t.run();
