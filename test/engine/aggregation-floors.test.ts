/**
 * The epochs an engine still answers a transaction's reads exactly at, once aggregations ran: at
 * or above every aggregation's bound, or kept by every aggregation that passed it, and never from
 * before the engine started.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AggregationFloors, MAX_FLOOR_KEEP } from '../../src/engine/aggregation-floors.js';

const t = suite('engine/aggregation-floors');

t('before any aggregation every epoch from the engine\'s start is exact, none before it', () => {
  const f = new AggregationFloors(100n);
  assert.ok(f.exact('c', 100n));
  assert.ok(f.exact('c', 5000n));
  assert.not.ok(f.exact('c', 99n), 'a read from before the start: what aggregation did then is not known');
  assert.is(f.floorOf('c'), 100n);
});

t('an aggregation leaves its bound and above exact, and below it only what it kept', () => {
  const f = new AggregationFloors(0n);
  f.note('c', 500n, [200n, 300n]);
  assert.ok(f.exact('c', 500n));
  assert.ok(f.exact('c', 501n));
  assert.ok(f.exact('c', 200n));
  assert.ok(f.exact('c', 300n));
  assert.not.ok(f.exact('c', 250n));
  assert.not.ok(f.exact('c', 499n));
  assert.ok(f.exact('other', 250n), 'containers are apart');
  assert.is(f.floorOf('c'), 500n);
});

t('an epoch stays exact only if every aggregation left it so', () => {
  const f = new AggregationFloors(0n);
  f.note('c', 500n, [200n, 300n]);
  f.note('c', 800n, [300n, 600n, 700n]); // (200 kept by the first only: merged by the second)
  assert.not.ok(f.exact('c', 200n));
  assert.ok(f.exact('c', 300n));
  assert.ok(f.exact('c', 600n), 'above the first bound, kept by the second');
  assert.not.ok(f.exact('c', 650n));
  // a later aggregation with a lower bound (a client whose clock is behind) still merges below it
  f.note('c', 650n, [600n]);
  assert.not.ok(f.exact('c', 300n), 'the lower aggregation did not keep 300');
  assert.ok(f.exact('c', 600n));
  assert.ok(f.exact('c', 700n), 'above the lower bound: it merged nothing there');
  assert.is(f.floorOf('c'), 800n);
});

t('kept epochs are bounded: past the bound the newest stay', () => {
  const f = new AggregationFloors(0n);
  const keep = Array.from({ length: MAX_FLOOR_KEEP + 10 }, (_, i) => BigInt(i + 1));
  f.note('c', BigInt(MAX_FLOOR_KEEP + 100), keep);
  assert.not.ok(f.exact('c', 1n), 'the oldest fell off: its reads restart');
  assert.ok(f.exact('c', BigInt(MAX_FLOOR_KEEP + 10)));
  assert.ok(f.exact('c', 11n));
  assert.not.ok(f.exact('c', 10n));
});

t.run();
