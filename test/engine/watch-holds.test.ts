/**
 * The cursors of a connected pool's watch() followers, per container: aggregation stays at or below
 * the lowest of those heard from within WATCH_HOLD_MS; a follower that stopped, or lapsed, holds
 * nothing; the number remembered is bounded.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_WATCH_HOLDS, WATCH_HOLD_MS, WatchHolds } from '../../src/engine/watch-holds.js';

const t = suite('engine/watch-holds');

t('no follower: nothing held; otherwise the lowest cursor of the container', () => {
  const w = new WatchHolds();
  assert.is(w.floor('c', 0), undefined);
  w.note('c', 'a', 500n, 0);
  w.note('c', 'b', 300n, 0);
  w.note('other', 'z', 100n, 0);
  assert.is(w.floor('c', 1), 300n);
  w.note('c', 'b', 700n, 2); // (b asked again: its consumer took every event up to its new cursor)
  assert.is(w.floor('c', 3), 500n);
  assert.is(w.floor('other', 3), 100n, 'containers are apart');
});

t('a follower that stopped holds nothing; one not heard from within WATCH_HOLD_MS lapses', () => {
  const w = new WatchHolds();
  w.note('c', 'a', 500n, 0);
  w.note('c', 'b', 300n, 1000);
  w.release('c', 'b');
  assert.is(w.floor('c', 1000), 500n);
  assert.is(w.floor('c', WATCH_HOLD_MS), 500n);
  assert.is(w.floor('c', WATCH_HOLD_MS + 1), undefined, 'lapsed');
  w.release('c', 'never-seen'); // (harmless)
});

t('at most MAX_WATCH_HOLDS followers a container: the one heard from longest ago is forgotten', () => {
  const w = new WatchHolds();
  w.note('c', 'oldest', 1n, 0);
  for (let i = 0; i < MAX_WATCH_HOLDS; i++) w.note('c', `f${i}`, 1000n + BigInt(i), 1);
  assert.is(w.floor('c', 2), 1000n, 'the oldest follower (cursor 1) was forgotten');
});

t.run();
