/**
 * The one optimistic-concurrency tracker, as the container uses it (floor 0, pruning) and as an
 * engine uses it (a floor at start, bounded with eviction): the same rules either way.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictTracker, EpochTable, ReadStamps, conflictKey } from '../../src/container/conflicts.js';

const t = suite('conflicts');
const o = 'ab12', d = '6431', a = '61';

t('rules: writes at or below a key, punches of its prefixes, container-wide changes', () => {
  const c = new ConflictTracker();
  const akey = conflictKey(o, d, a), other = conflictKey(o, d, '62'), dkey = conflictKey(o, d), obj = conflictKey(o);
  c.record(akey, 10n, false);
  assert.ok(c.conflicts(akey, 9n), 'the akey itself');
  assert.not.ok(c.conflicts(akey, 10n), 'not after its own read epoch');
  assert.not.ok(c.conflicts(other, 9n), 'a sibling akey is untouched');
  assert.ok(c.conflicts(dkey, 9n) && c.conflicts(obj, 9n), 'a write below a dkey/object conflicts with reads of it');
  c.record(dkey, 20n, true);
  assert.ok(c.conflicts(other, 19n), 'a dkey punch hides every akey below it');
  assert.is(c.lastWrite(other), 20n);
  c.record(conflictKey(o, '99'), 30n, false);
  assert.is(c.lastWrite(other), 20n, 'another dkey does not touch this one');
  assert.is(c.lastWrite(obj), 30n);
  c.recordGlobal(40n);
  assert.ok(c.conflicts(other, 39n), 'a rollback conflicts with every older transaction');
  c.prune(45n);
  assert.is(c.size, 0);
});

t('engine mode: unknown keys count as written at the floor; eviction raises it (never misses a conflict)', () => {
  const c = new ConflictTracker({ floor: 100n, maxKeys: 4 });
  const k = (i: number) => conflictKey('cont.1', d, i.toString(16).padStart(2, '0'));
  assert.is(c.lastWrite(k(1)), 100n, 'before the engine started: assumed written at start');
  c.record(k(1), 200n, false);
  assert.is(c.lastWrite(k(1)), 200n);
  for (let i = 2; i < 8; i++) c.record(k(i), BigInt(200 + i), false);
  assert.ok(c.size <= 8, `bounded, holds ${c.size}`);
  assert.ok(c.lastWrite(k(1)) >= 200n, 'an evicted key reports at least its last write');
  assert.ok(c.conflicts(k(1), 199n));
});

t('read stamps: newest read per key, bounded, conservative after eviction', () => {
  const r = new ReadStamps(2);
  r.record('x', 5n); r.record('x', 3n); r.record('y', 7n);
  assert.is(r.last('x'), 5n);
  r.record('z', 9n);
  assert.is(r.last('x'), 5n, 'evicted: the floor (its epoch) covers it');
  assert.is(r.last('never'), 5n, 'unknown keys report the floor');
  assert.is(r.last('z'), 9n, 'a known key reports its own epoch');
});

t('conflict key levels never contain the separator (asserted)', () => {
  assert.throws(() => conflictKey('a/b'), (e: { code?: string }) => e.code === 'ASSERTION_FAILED');
  assert.throws(() => conflictKey('a', undefined, '61'), (e: { code?: string }) => e.code === 'ASSERTION_FAILED');
});


t('epoch table: forgets the least recently raised key and raises its floor, as a model does', () => {
  // Model: keys in the order of their last raise; past the bound the first goes and the floor takes its epoch.
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (const max of [1, 3, 16]) {
    const table = new EpochTable(5n, max);
    let order: Array<[string, bigint]> = [];
    let floor = 5n;
    let epoch = 10n;
    for (let step = 0; step < 4000; step++) {
      const op = rnd(20);
      if (op === 0) {
        const oldest = epoch - BigInt(rnd(40));
        table.prune(oldest);
        order = order.filter(([, e]) => e > oldest);
      } else {
        const key = `k${rnd(3 * max + 2)}`;
        const e = rnd(4) === 0 ? epoch - BigInt(rnd(30)) : (epoch += 1n + BigInt(rnd(3)));
        const at = order.findIndex(([k]) => k === key);
        if (at < 0 || order[at]![1] < e) {
          if (at >= 0) order.splice(at, 1);
          order.push([key, e]);
          while (order.length > max) { const [, oe] = order.shift()!; if (oe > floor) floor = oe; }
        }
        table.raise(key, e);
      }
      assert.is(table.size, order.length, `size at step ${step}`);
      for (let i = 0; i < 3 * max + 2; i++) {
        const k = `k${i}`;
        assert.is(table.get(k), order.find(([x]) => x === k)?.[1] ?? floor, `${k} at step ${step} (bound ${max})`);
      }
    }
  }
});

t.run();
