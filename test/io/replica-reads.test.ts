/**
 * Array reads of a replicated object start at a replica chosen by the dkey's hash: the chunks of
 * one array are served by every replica of its group (not all by the first), each read still tries
 * the other replicas in turn when one fails, and a read with every replica lost is `DATA_LOST`-typed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fetchArray, type IoContext, type Redundancy } from '../../src/io/io.js';
import type { ShardStore } from '../../src/io/shard-store.js';
import { CairnError } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';

const t = suite('replicated array reads');
t.before(async () => { await initXxhash(); });
const RP3: Redundancy = { kind: 'replicated', dataShards: 1, parityShards: 2, groupSize: 3 };
const GROUPS = [[10, 11, 12]];
const enc = (s: string) => new TextEncoder().encode(s);

/** A context over three fake targets whose array reads fill the buffer with the target's id; `down` targets fail. */
function context(served: Map<number, number>, down: ReadonlySet<number> = new Set()): IoContext {
  const store = (target: number): ShardStore => ({
    async fetchArrayInto(_e: bigint, _o: bigint, _d: Uint8Array, _a: Uint8Array, _r: unknown, into: readonly Uint8Array[]) {
      if (down.has(target)) throw new CairnError('CHECKSUM_MISMATCH', `target ${target} is bad`);
      served.set(target, (served.get(target) ?? 0) + 1);
      for (const b of into) b.fill(target);
    },
  }) as unknown as ShardStore;
  return {
    store: async (target) => store(target),
    available: () => true,
    codec: () => { throw new Error('no EC here'); },
    cellSize: 4096,
    reportBadShard: () => {},
  };
}

t('the chunks of one array are read from every replica', async () => {
  const served = new Map<number, number>();
  const ctx = context(served);
  for (let i = 0; i < 60; i++) {
    const got = await fetchArray(ctx, RP3, GROUPS, 0, 7n, enc(`chunk-${i}`), enc('a'), 0, 1024, 5n);
    assert.ok(GROUPS[0]!.includes(got[0]!), 'filled by one of the replicas');
    assert.ok(got.every((b) => b === got[0]), 'by one replica alone');
  }
  assert.equal([...served.keys()].sort(), [10, 11, 12], `every replica served some chunks: ${JSON.stringify([...served])}`);
  for (const n of served.values()) assert.ok(n >= 8, `no replica left nearly idle (${JSON.stringify([...served])})`);
  // the same dkey always starts at the same replica
  const again = new Map<number, number>();
  const first = (await fetchArray(context(again), RP3, GROUPS, 0, 7n, enc('chunk-3'), enc('a'), 0, 16, 5n))[0];
  for (let i = 0; i < 5; i++) assert.is((await fetchArray(context(again), RP3, GROUPS, 0, 7n, enc('chunk-3'), enc('a'), 0, 16, 5n))[0], first);
});

t('a failed replica is skipped (the next one answers); all lost is a typed error', async () => {
  const served = new Map<number, number>();
  for (let i = 0; i < 30; i++) {
    const got = await fetchArray(context(served, new Set([10, 11])), RP3, GROUPS, 0, 7n, enc(`chunk-${i}`), enc('a'), 0, 64, 5n);
    assert.is(got[0], 12);
  }
  let err: unknown;
  try { await fetchArray(context(new Map(), new Set([10, 11, 12])), RP3, GROUPS, 0, 7n, enc('x'), enc('a'), 0, 64, 5n); } catch (e) { err = e; }
  assert.ok(err instanceof CairnError, `typed: ${String(err)}`);
});

t.run();
