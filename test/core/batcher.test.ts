/** Batcher (core/batcher.ts): requests of one event-loop turn go out together, each gets its own result or error, a failed send fails its whole batch only, and batches never exceed MAX_BATCH. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Batcher, MAX_BATCH } from '../../core/batcher.js';

test('one send per turn, results in order, per-item errors, bounded batches', async () => {
  const sends: number[][] = [];
  const b = new Batcher<number, number>(async (xs) => { sends.push(xs); return xs.map((x) => (x === 13 ? new Error('thirteen') : x * 2)); });
  const rs = await Promise.allSettled([1, 2, 13, 4].map((x) => b.add(x)));
  assert.equal(sends, [[1, 2, 13, 4]]);
  assert.equal(rs.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [2, 4, 'thirteen', 8]);
  sends.length = 0;
  await Promise.allSettled(Array.from({ length: MAX_BATCH * 2 + 1 }, (_, i) => b.add(i)));
  assert.equal(sends.map((s) => s.length), [MAX_BATCH, MAX_BATCH, 1]);
  let fail = true;
  const f = new Batcher<number, number>(async (xs) => { if (fail) throw new Error('down'); return xs; });
  const first = await Promise.allSettled([f.add(1), f.add(2)]);
  assert.ok(first.every((r) => r.status === 'rejected'));
  fail = false;
  assert.is(await f.add(3), 3, 'a later batch goes through');
});

test.run();
