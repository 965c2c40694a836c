import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { applyPeers, comparisonText, peerRatio, ratioBasis } from '../../bench/peers.js';
import type { BenchRow } from '../../bench/harness.js';

/** Peer ratios of benchmark rows: orientation (> 1 = better than the peer), bases, missing peers. */
const test = suite('bench/peers');

const row = (name: string, fig: Partial<BenchRow>, more: Partial<BenchRow> = {}): BenchRow => ({ name, suite: 't', ...fig, ...more });

test('rates: ratio = rate / peer rate, bytes before ops', () => {
  const rows = [
    row('cairn put', { opsPerSecond: 5000 }, { peer: 'level put', targetRatio: 1 }),
    row('level put', { opsPerSecond: 40_000 }),
    row('cairn write', { bytesPerSecond: 3e8, opsPerSecond: 286 }, { peer: 'fs write' }),
    row('fs write', { bytesPerSecond: 1.2e9, opsPerSecond: 1144 }),
  ];
  applyPeers(rows);
  assert.is(rows[0]!.ratio, 0.125);
  assert.is(rows[0]!.ratioBasis, 'opsPerSecond');
  assert.is(rows[2]!.ratio, 0.25);
  assert.is(rows[2]!.ratioBasis, 'bytesPerSecond');
  assert.is(rows[1]!.ratio, undefined);
  const text = comparisonText(rows[0]!, new Map(rows.map((r) => [r.name, r])));
  assert.match(text, 'ratio=0.13x vs "level put" (40.0 k/s)');
  assert.match(text, 'target>=1x MISSED');
});

test('durations and memory: lower is better, so ratio = peer / row', () => {
  const slow = row('cairn reopen', { seconds: 4 }, { peer: 'lmdb reopen' });
  const fast = row('lmdb reopen', { seconds: 0.002 });
  assert.is(peerRatio(slow, fast), 0.0005);
  assert.is(peerRatio(fast, slow), 2000);
  const big = row('cairn rss', { rssBytes: 1024 }, { peer: 'lmdb rss' });
  assert.is(peerRatio(big, row('lmdb rss', { rssBytes: 256 })), 0.25);
});

test('alsoVs fills ratios; an explicit basis is honoured', () => {
  const rows = [
    row('c', { opsPerSecond: 10, seconds: 2 }, { peer: 'a', alsoVs: ['b', 'nope'], ratioBasis: 'seconds' }),
    row('a', { opsPerSecond: 20, seconds: 1 }),
    row('b', { opsPerSecond: 5, seconds: 4 }),
  ];
  applyPeers(rows);
  assert.is(rows[0]!.ratio, 0.5);
  assert.equal(rows[0]!.ratios, { b: 2 });
});

test('missing, aborted or incomparable peers give no ratio and say so', () => {
  const rows = [
    row('x', { opsPerSecond: 1 }, { peer: 'absent' }),
    row('y', { opsPerSecond: 1 }, { peer: 'z', aborted: 'memory guard' }),
    row('z', { opsPerSecond: 2 }),
    row('w', { seconds: 1 }, { peer: 'z' }),
  ];
  applyPeers(rows);
  const byName = new Map(rows.map((r) => [r.name, r]));
  assert.is(rows[0]!.ratio, undefined);
  assert.match(comparisonText(rows[0]!, byName), 'peer "absent" missing');
  assert.is(rows[1]!.ratio, undefined);
  assert.match(comparisonText(rows[1]!, byName), 'ABORTED: memory guard');
  assert.is(ratioBasis(rows[3]!, rows[2]!), undefined);
  assert.is(rows[3]!.ratio, undefined);
});

test('applyPeers recomputes (a stale ratio does not survive)', () => {
  const rows = [row('a', { opsPerSecond: 3 }, { peer: 'b', ratio: 99 }), row('b', { opsPerSecond: 6 })];
  applyPeers(rows);
  assert.is(rows[0]!.ratio, 0.5);
  rows[1]!.aborted = 'timeout';
  applyPeers(rows);
  assert.is(rows[0]!.ratio, undefined);
});

test.run();
