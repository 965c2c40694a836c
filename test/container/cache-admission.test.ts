/**
 * Cache admission (`CacheAdmission`): a stream of new keys is inserted one miss in eight, a
 * working set is inserted at every miss and found, and a key used repeatedly inside a stream is
 * admitted after a few misses. Checked against a model cache (a Map bounded like the real ones).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CacheAdmission, CACHE_WINDOW_LOOKUPS, CACHE_STREAM_ADMIT_SHIFT } from '../../src/container/cache-admission.js';

const t = suite('cache-admission');

/** A bounded cache (cleared when full, as the layout cache) with admission; counts hits and inserts. */
function modelCache(limit: number) {
  const adm = new CacheAdmission();
  const m = new Map<string, number>();
  const stats = { hits: 0, misses: 0, inserts: 0 };
  return {
    adm, stats, has: (k: string) => m.has(k),
    get(k: string): void {
      if (m.has(k)) { adm.hit(); stats.hits++; return; }
      stats.misses++;
      if (adm.admitMiss()) { if (m.size >= limit) m.clear(); m.set(k, 1); stats.inserts++; }
    },
  };
}

t('a stream of new keys: every miss inserted for the first window, then about one in eight', () => {
  const c = modelCache(16_384);
  for (let i = 0; i < CACHE_WINDOW_LOOKUPS - 1; i++) c.get(`s${i}`);
  assert.is(c.stats.inserts, CACHE_WINDOW_LOOKUPS - 1, 'no window seen yet: all admitted');
  const before = c.stats.inserts;
  const n = 100_000;
  for (let i = 0; i < n; i++) c.get(`t${i}`);
  assert.ok(c.adm.streaming);
  const share = (c.stats.inserts - before) / n;
  const want = 1 / (1 << CACHE_STREAM_ADMIT_SHIFT);
  assert.ok(share > want * 0.8 && share < want * 1.2 + CACHE_WINDOW_LOOKUPS / n, `admitted share ${share}, want ~${want}`);
});

t('a working set beside a stream: the hit share leaves the stream policy, the set is found, every miss is inserted again', () => {
  const c = modelCache(16_384);
  for (let i = 0; i < 20_000; i++) c.get(`s${i}`); // streaming first
  assert.ok(c.adm.streaming);
  const hot = Array.from({ length: 500 }, (_, i) => `h${i}`);
  let hotHits = 0, hotLookups = 0;
  for (let i = 0; i < 60_000; i++) {
    if (i % 2 === 0) {
      const k = hot[(i >> 1) % hot.length]!;
      const had = c.has(k);
      c.get(k);
      if (i > 30_000) { hotLookups++; if (had) hotHits++; }
    } else c.get(`u${i}`);
  }
  assert.not.ok(c.adm.streaming, 'half the lookups hit: not a stream');
  assert.ok(hotHits / hotLookups > 0.9, `hot keys found ${hotHits}/${hotLookups}`);
  const inserts = c.stats.inserts;
  for (let i = 0; i < 100; i++) c.get(`v${i}`);
  assert.is(c.stats.inserts - inserts, 100, 'every miss inserted while keys are found again');
});

t('a key used repeatedly inside a stream is admitted after a few misses', () => {
  const c = modelCache(1 << 20);
  for (let i = 0; i < 5_000; i++) c.get(`s${i}`);
  assert.ok(c.adm.streaming);
  for (let k = 0; k < 50; k++) {
    const key = `k${k}`;
    let misses = 0;
    for (let round = 0; round < 200 && !c.has(key); round++) {
      c.get(key); misses++;
      for (let j = 0; j < 9; j++) c.get(`x${k}-${round}-${j}`);
    }
    assert.ok(c.has(key), `${key} admitted`);
    assert.ok(misses <= 120, `${key} admitted after ${misses} misses`);
  }
});

t.run();
