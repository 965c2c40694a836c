import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Arena, alignUp } from '../../ec/arena.js';
import { Rng } from '../../core/rng.js';

const test = suite('ec/arena');

test('random alloc/free never overlaps, respects alignment, and reuses freed space', () => {
  const rng = new Rng(0xa7e4a);
  let end = 0;
  const arena = new Arena(1000, (e) => { end = Math.max(end, e); });
  const live = new Map<number, number>();
  for (let t = 0; t < 3000; t++) {
    if (live.size && rng.chance(0.45)) {
      const addrs = [...live.keys()];
      const a = rng.pick(addrs);
      arena.free(a); live.delete(a);
    } else {
      const size = rng.range(1, 5000), align = rng.pick([1, 16, 64, 4096]);
      const a = arena.alloc(size, align);
      assert.is(a % align, 0);
      assert.ok(a >= 1000 && a + size <= end);
      for (const [b, s] of live) assert.ok(a + size <= b || b + s <= a, 'overlap');
      live.set(a, size);
    }
    let sum = 0; for (const s of live.values()) sum += s;
    assert.is(arena.liveBytes, sum);
  }
  for (const a of live.keys()) arena.free(a);
  assert.is(arena.liveBytes, 0);
  // everything coalesced back: the next allocation starts at the base again
  assert.is(arena.alloc(10, 8), 1000);
  assert.throws(() => arena.free(123456));
});

test('alignUp', () => {
  assert.is(alignUp(0, 64), 0); assert.is(alignUp(1, 64), 64); assert.is(alignUp(4096, 4096), 4096);
});

test.run();
