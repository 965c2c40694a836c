import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inFlight, median, roundRobin, type BenchContext } from '../../bench/harness.js';

/** Harness helpers: interleaving of round-robin timing, bounded in-flight runner, median. */
const test = suite('bench/harness');
const ctx: BenchContext = { quick: true, progress: () => undefined };

test('roundRobin interleaves contenders round by round and rates each by its median call', async () => {
  const order: string[] = [];
  const res = await roundRobin([
    { name: 'a', fn: () => { order.push('a'); }, unitsPerCall: 10 },
    { name: 'b', fn: async () => { order.push('b'); await new Promise((r) => setImmediate(r)); }, unitsPerCall: 20 },
  ], ctx, { budgetMs: 0, sliceMs: 0, minRounds: 4 });
  // one warm-up call each, then one call per contender per round (slice 0 = a single call)
  assert.equal(order, ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  assert.is(res.get('a')!.samples, 4);
  assert.is(res.get('b')!.samples, 4);
  for (const r of res.values()) {
    assert.ok(r.medianMs >= 0 && Number.isFinite(r.perSecond) && r.perSecond > 0);
  }
  assert.ok(Math.abs(res.get('b')!.perSecond - (20 / res.get('b')!.medianMs) * 1000) < 1e-6);
});

test('inFlight never exceeds its depth and runs every index once', async () => {
  let live = 0, peak = 0;
  const seen: number[] = [];
  await inFlight(50, 4, async (i) => {
    live++; peak = Math.max(peak, live); seen.push(i);
    await new Promise((r) => setImmediate(r));
    live--;
  });
  assert.is(peak, 4);
  assert.equal(seen.sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});

test('median of odd and even lists', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
});

test.run();
