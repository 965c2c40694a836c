/**
 * Reads "now" through the data path (issue 15, the DAOS way of freshness): the `fresh` argument
 * reaches every shard read of every redundancy kind, and an engine's refusal of such a read
 * (STALE_EPOCH: it holds a write in the read's uncertainty window) is passed on to the caller,
 * which reads again at a newer "now" — it is not a lost shard: no other replica or parity is
 * read, nothing is reported for repair, and the error is not DATA_LOST.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fetchArray, fetchSingle, fetchSingleNow, listExtents, type IoContext, type Redundancy } from '../../src/io/io.js';
import type { ShardStore } from '../../src/io/shard-store.js';
import { CairnError } from '../../core/errors.js';
import { initXxhash } from '../../core/xxhash.js';
import { RemoteShardStore, freshWindow } from '../../src/net/shard-rpc.js';
import type { RpcCaller } from '../../src/net/rpc.js';

const t = suite('fresh reads in the data path');
t.before(async () => { await initXxhash(); });
const RP3: Redundancy = { kind: 'replicated', dataShards: 1, parityShards: 2, groupSize: 3 };
const EC21: Redundancy = { kind: 'ec', dataShards: 2, parityShards: 1, groupSize: 3 };
const GROUPS = [[10, 11, 12]];
const enc = (s: string) => new TextEncoder().encode(s);

interface Seen { fresh: Array<bigint | undefined>; reads: number; reported: number }

/** Three fake targets; `refuse` ones answer every read with STALE_EPOCH (an uncertain write at 99). */
function context(seen: Seen, refuse: ReadonlySet<number>): IoContext {
  const answer = (target: number, fresh: bigint | undefined) => {
    seen.reads++;
    seen.fresh.push(fresh);
    if (refuse.has(target)) throw new CairnError('STALE_EPOCH', 'a write in the uncertainty window', { epoch: '99', uncertain: true });
  };
  const store = (target: number): ShardStore => ({
    async fetchSingle(_e: bigint, _o: bigint, _d: Uint8Array, _a: Uint8Array, fresh?: bigint) { answer(target, fresh); return undefined; },
    async fetchArrayInto(_e: bigint, _o: bigint, _d: Uint8Array, _a: Uint8Array, _r: unknown, into: readonly Uint8Array[], fresh?: bigint) {
      answer(target, fresh);
      for (const b of into) b.fill(0);
    },
    listRecx(_e: bigint, _o: bigint, _d: Uint8Array, _a: Uint8Array, fresh?: bigint) {
      return (async function* () { answer(target, fresh); yield { index: 0, count: 1, epoch: 1n }; })();
    },
  }) as unknown as ShardStore;
  return {
    store: async (target) => store(target),
    available: () => true,
    codec: () => { throw new Error('no decoding: every data shard answers or refuses'); },
    cellSize: 4096,
    reportBadShard: () => { seen.reported++; },
  };
}

const fresh0 = (): Seen => ({ fresh: [], reads: 0, reported: 0 });

t('the fresh bound reaches every shard read (values, arrays, extent listings; RP and EC)', async () => {
  for (const red of [RP3, EC21]) {
    const seen = fresh0();
    const ctx = context(seen, new Set());
    await fetchSingle(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n);
    await fetchSingleNow(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n);
    await fetchArray(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 0, 3 * 4096, 5n, undefined, 4n);
    await listExtents(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n);
    assert.ok(seen.reads >= 4, `${red.kind}: reads made (${seen.reads})`);
    assert.equal(seen.fresh.filter((f) => f !== 4n), [], `${red.kind}: every shard read carries fresh = 4`);
    // reads at an explicit epoch carry none
    const plain = fresh0();
    await fetchSingle(context(plain, new Set()), red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n);
    await fetchArray(context(plain, new Set()), red, GROUPS, 0, 7n, enc('d'), enc('a'), 0, 64, 5n);
    assert.equal(plain.fresh.filter((f) => f !== undefined), [], `${red.kind}: no bound without fresh`);
  }
});

t('a refused read (STALE_EPOCH) is passed on: not a lost shard, nothing reported, no other copy read', async () => {
  for (const red of [RP3, EC21]) {
    const reads: Array<(ctx: IoContext) => Promise<unknown>> = [
      (ctx) => fetchSingle(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n),
      async (ctx) => fetchSingleNow(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n),
      (ctx) => fetchArray(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 0, 2 * 4096, 5n, undefined, 4n),
      (ctx) => listExtents(ctx, red, GROUPS, 0, 7n, enc('d'), enc('a'), 5n, 4n),
    ];
    for (const [i, read] of reads.entries()) {
      const seen = fresh0();
      let err: unknown;
      try { await read(context(seen, new Set([10, 11, 12]))); } catch (e) { err = e; }
      assert.ok(err instanceof CairnError, `${red.kind} read ${i}: typed (${String(err)})`);
      assert.is((err as CairnError).code, 'STALE_EPOCH', `${red.kind} read ${i}: passed on, not DATA_LOST`);
      assert.is(seen.reported, 0, `${red.kind} read ${i}: no shard reported for repair`);
      if (red.kind === 'replicated') assert.is(seen.reads, 1, `${red.kind} read ${i}: no other replica tried`);
      else assert.ok(seen.reads <= 2, `${red.kind} read ${i}: no parity read (${seen.reads} reads)`);
    }
  }
});

t('a remote store sends fresh = first epoch + 1 ms + skew: on reads, on a listing\'s first page only, on object listings', async () => {
  const sent: Array<{ method: string; header: Record<string, unknown> }> = [];
  const client = {
    async call(method: string, header: Record<string, unknown>) {
      sent.push({ method, header: JSON.parse(JSON.stringify(header)) });
      if (method === 'shard.fetchSingle') return { header: { found: false } };
      const skip = header.skip as number;
      return { header: { items: skip === 0 ? [method === 'shard.listObjects' ? '7' : 'AA=='] : [], done: skip !== 0, cursor: 'c' } };
    },
  } as unknown as RpcCaller;
  const win = freshWindow(40);
  assert.is(win, 41n << 18n, 'one millisecond plus the skew, in epochs');
  const s = new RemoteShardStore(client, () => ({ target: 0, cont: 'c' }), { freshWindow: win });
  await s.fetchSingle(100n, 5n, enc('d'), enc('a'), 90n);
  await s.fetchSingle(100n, 5n, enc('d'), enc('a'));
  for await (const _ of s.listDkeys(100n, 5n, undefined, 90n)) { /* pages */ }
  for await (const _ of s.listObjects(100n, 90n)) { /* pages */ }
  const f = sent.map((x) => `${x.method}:${x.header.fresh ?? '-'}`);
  const top = String(90n + win);
  assert.equal(f, [`shard.fetchSingle:${top}`, 'shard.fetchSingle:-', `shard.listDkeys:${top}`, 'shard.listDkeys:-', `shard.listObjects:${top}`, 'shard.listObjects:-'], f.join(' '));
});

t.run();
