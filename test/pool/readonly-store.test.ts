/**
 * refreshingStore (src/pool/readonly-store.ts): the view of a target store a read-only pool reads
 * through. A read that fails as a stale view does is made again on a re-read store; synchronous
 * reads, which cannot wait for a re-read, are not offered, so callers take the retried promise reads.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CairnError } from '../../core/errors.js';
import { refreshingStore, MAX_STALE_VIEW_RETRIES } from '../../src/pool/readonly-store.js';
import type { ShardStore } from '../../src/io/shard-store.js';

/** A fake store: `failures` stale errors before answering, tagged with its generation. */
function fakeStore(gen: number, failures: { n: number }) {
  const stale = () => new CairnError('CHECKSUM_MISMATCH', 'block rewritten by the writer');
  return {
    gen,
    async fetchSingle() { if (failures.n > 0) { failures.n--; throw stale(); } return new Uint8Array([gen]); },
    async scanObject() { if (failures.n > 0) { failures.n--; throw stale(); } return { dkeys: [], done: true, gen }; },
    fetchSingleNow() { return new Uint8Array([gen]); },
    async punch() { return gen; },
  };
}

test('a stale read is made again on a re-read store; the re-read happens once for calls failing together', async () => {
  const failures = { n: 1 };
  let reopens = 0;
  const view = refreshingStore(fakeStore(1, failures) as unknown as ShardStore, async () => fakeStore(2 + reopens++, failures) as unknown as ShardStore);
  const v = await (view as unknown as { fetchSingle(): Promise<Uint8Array> }).fetchSingle();
  assert.is(v[0], 2, 'answered by the re-read store');
  assert.is(reopens, 1);
  failures.n = 1;
  const page = await (view as unknown as { scanObject(): Promise<{ gen: number }> }).scanObject();
  assert.is(page.gen, 3, 'scanObject (rebuild and scrub reads) is retried too');
  assert.is(reopens, 2);
});

test('a read failing on every re-read gives its error after MAX_STALE_VIEW_RETRIES re-reads', async () => {
  const failures = { n: 1000 };
  let reopens = 0;
  const view = refreshingStore(fakeStore(1, failures) as unknown as ShardStore, async () => { reopens++; return fakeStore(9, failures) as unknown as ShardStore; });
  try {
    await (view as unknown as { fetchSingle(): Promise<Uint8Array> }).fetchSingle();
    assert.unreachable('the error stands');
  } catch (e) {
    assert.is((e as CairnError).code, 'CHECKSUM_MISMATCH');
  }
  assert.is(reopens, MAX_STALE_VIEW_RETRIES);
});

test('synchronous reads are not offered through the view; other methods go to the current store', async () => {
  const view = refreshingStore(fakeStore(1, { n: 0 }) as unknown as ShardStore, async () => fakeStore(2, { n: 0 }) as unknown as ShardStore);
  assert.is((view as unknown as { fetchSingleNow?: unknown }).fetchSingleNow, undefined, 'no fetchSingleNow: it could not wait for a re-read');
  assert.is(await (view as unknown as { punch(): Promise<number> }).punch(), 1);
});

test.run();
