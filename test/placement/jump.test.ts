import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jumpConsistentHash, jumpConsistentHashBatch, jumpConsistentHashReference, PlacementError } from '../../placement/index.js';
import { Rng } from '../../core/rng.js';

const t = suite('jump-hash');
const root = new URL('../..', import.meta.url).pathname;
const vectors = readFileSync(join(root, 'test', 'vectors', 'jump-hash.txt'), 'utf8') // vectors from the workplace's shared/vectors, kept in the repository
  .split('\n').filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => { const [k, b, e] = l.trim().split(/\s+/); return { key: BigInt(k!), buckets: Number(b), expected: Number(e) }; });

t('vector file is present and non-trivial', () => {
  assert.ok(vectors.length >= 100, `only ${vectors.length} vectors`);
});

t('every vector matches: wasm single, wasm batch, scalar reference', () => {
  for (const v of vectors) {
    assert.is(jumpConsistentHash(v.key, v.buckets), v.expected, `key ${v.key} buckets ${v.buckets}`);
    assert.is(jumpConsistentHashReference(v.key, v.buckets), v.expected);
  }
  const byBuckets = new Map<number, typeof vectors>();
  for (const v of vectors) byBuckets.set(v.buckets, [...(byBuckets.get(v.buckets) ?? []), v]);
  for (const [b, vs] of byBuckets) {
    const out = jumpConsistentHashBatch(BigUint64Array.from(vs.map((v) => v.key)), b);
    assert.equal(Array.from(out), vs.map((v) => v.expected));
  }
});

t('batch equals single and the scalar reference on random keys (differential)', () => {
  const r = new Rng(2024);
  for (const buckets of [1, 2, 7, 1024, 65537, 0x7fffffff]) {
    const keys = new BigUint64Array(500);
    for (let i = 0; i < keys.length; i++) keys[i] = r.u64();
    keys[0] = 0n; keys[1] = (1n << 64n) - 1n;
    const out = jumpConsistentHashBatch(keys, buckets);
    for (let i = 0; i < keys.length; i++) {
      assert.is(out[i], jumpConsistentHash(keys[i]!, buckets));
      assert.is(out[i], jumpConsistentHashReference(keys[i]!, buckets));
      assert.ok(out[i]! >= 0 && out[i]! < buckets);
    }
  }
});

t('consistency: growing n -> n+1 buckets moves keys only to the new bucket, about 1/(n+1)', () => {
  const r = new Rng(5);
  const keys = new BigUint64Array(20000);
  for (let i = 0; i < keys.length; i++) keys[i] = r.u64();
  const a = jumpConsistentHashBatch(keys, 10), b = jumpConsistentHashBatch(keys, 11);
  let moved = 0;
  for (let i = 0; i < keys.length; i++) if (a[i] !== b[i]) { moved++; assert.is(b[i], 10); }
  assert.ok(Math.abs(moved / keys.length - 1 / 11) < 0.01, `moved ${moved}`);
});

t('bad arguments give typed errors', () => {
  const bad = (f: () => unknown) => {
    try { f(); assert.unreachable('should throw'); } catch (e) {
      assert.instance(e, PlacementError); assert.is((e as PlacementError).code, 'INVALID_ARGUMENT');
    }
  };
  bad(() => jumpConsistentHash(1n, 0));
  bad(() => jumpConsistentHash(1n, -3));
  bad(() => jumpConsistentHash(1n, 1.5));
  bad(() => jumpConsistentHash(1n, 2 ** 31));
  bad(() => jumpConsistentHash(-1n, 10));
  bad(() => jumpConsistentHash(1n << 64n, 10));
  bad(() => jumpConsistentHash(5 as unknown as bigint, 10));
  bad(() => jumpConsistentHashBatch(new BigUint64Array(3), 0));
  bad(() => jumpConsistentHashBatch([1n] as unknown as BigUint64Array, 3));
  assert.equal(Array.from(jumpConsistentHashBatch(new BigUint64Array(0), 5)), []);
});

t.run();
