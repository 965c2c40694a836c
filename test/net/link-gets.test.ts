/**
 * Single-value reads of an `EngineLink` (src/net/link.ts) go batched with the other reads of
 * their turn, never with writes: one `engine.batch` request per turn and engine, each read getting
 * its own item's reply or error; a lone read goes as a call of its own; commit notices ride on a
 * read batch as on any request; `getBatching.on = false` sends each read on its own. The engine is
 * a fake caller that answers batches item by item and records what it was sent. Nothing here
 * asserts a time.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EngineLink, decodeBatchFrame, encodeBatchReply, getBatching } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import type { RpcCaller, RpcReply } from '../../src/net/rpc.js';
import { NetError } from '../../src/net/errors.js';
import { CairnError } from '../../core/errors.js';

const t = suite('link-gets');
t.after.each(() => { getBatching.on = true; });

/** The reply of one fake shard call: a read of key k answers its bytes, `stale` keys refuse (STALE_EPOCH), writes answer nothing. */
function serveOne(method: string, h: Record<string, unknown>): Promise<RpcReply> {
  if (method !== 'shard.fetchSingle') return Promise.resolve({ header: { maxEpoch: '1' } });
  const k = String(h.k);
  if (k.startsWith('stale')) return Promise.reject(new CairnError('STALE_EPOCH', `a write in the window of ${k}`, { epoch: '9' }));
  if (k.startsWith('absent')) return Promise.resolve({ header: { found: false, maxEpoch: '1' } });
  return Promise.resolve({ header: { found: true, maxEpoch: '1' }, payload: new TextEncoder().encode(`value of ${k}`) });
}

/** A caller recording each request (method, the methods of a batch's items, the notices it carried), answering as an engine would. */
function engine() {
  const sent: Array<{ method: string; items: string[]; commits: string[] }> = [];
  const caller: RpcCaller = {
    async call(method, header, payload): Promise<RpcReply> {
      const commits = ((header.commits as Array<[string, string]> | undefined) ?? []).map(([, e]) => e);
      if (method !== ENGINE_METHODS.batch) { sent.push({ method, items: [], commits }); return serveOne(method, header); }
      const parts = payload === undefined ? [] : payload instanceof Uint8Array ? [payload] : [...payload];
      const joined = Buffer.concat(parts.map((p) => Buffer.from(p)));
      const { items, notices } = decodeBatchFrame(header, joined.length ? new Uint8Array(joined) : undefined);
      // (a batch's notices travel in its table, protocol 4)
      sent.push({ method, items: items.map((x) => x.method), commits: [...commits, ...(notices ?? []).map(([, e]) => e)] });
      const r = encodeBatchReply(await Promise.allSettled(items.map((x) => serveOne(x.method, x.header))));
      // (the reply travels as one payload, as the RPC layer delivers it)
      const out = (r.parts ?? []).length ? new Uint8Array(Buffer.concat((r.parts ?? []).map((p) => Buffer.from(p)))) : undefined;
      return { header: JSON.parse(JSON.stringify(r.header)) as Record<string, unknown>, ...(out ? { payload: out } : {}) };
    },
  };
  return { sent, caller };
}

const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));

t('reads of one turn go as one batch of reads, each with its own reply or error; writes of the turn go apart', async () => {
  const e = engine();
  const link = new EngineLink(() => e.caller, 'rank 0');
  try {
    link.notice('c', 5n);
    const reads = ['a', 'b', 'stale-c', 'absent-d'].map((k) => link.call('shard.fetchSingle', { k }));
    const write = link.call('shard.updateSingle', { k: 'w' }, new Uint8Array([1, 2, 3]));
    const got = await Promise.allSettled(reads);
    await write;
    assert.is(got[0]!.status, 'fulfilled');
    assert.is(text((got[0] as PromiseFulfilledResult<RpcReply>).value.payload), 'value of a');
    assert.is(text((got[1] as PromiseFulfilledResult<RpcReply>).value.payload), 'value of b');
    assert.is(got[2]!.status, 'rejected');
    assert.is(((got[2] as PromiseRejectedResult).reason as { code?: string }).code, 'STALE_EPOCH');
    assert.equal((got[3] as PromiseFulfilledResult<RpcReply>).value.header.found, false);
    const batches = e.sent.filter((x) => x.method === ENGINE_METHODS.batch);
    assert.is(batches.length, 1, 'one batch for the four reads');
    assert.equal(batches[0]!.items, ['shard.fetchSingle', 'shard.fetchSingle', 'shard.fetchSingle', 'shard.fetchSingle']);
    // The write went on its own request, never in the read batch.
    assert.ok(e.sent.some((x) => x.method === 'shard.updateSingle'));
    assert.ok(e.sent.every((x) => !(x.items.includes('shard.updateSingle') && x.items.includes('shard.fetchSingle'))));
    // The notice rode on exactly one request.
    assert.equal(e.sent.flatMap((x) => x.commits), ['5']);
    assert.is(link.pendingNotices, 0);
  } finally { link.close(); }
});

t('a lone read goes as a call of its own; with batching off, each read does', async () => {
  const e = engine();
  const link = new EngineLink(() => e.caller, 'rank 0');
  try {
    assert.is(text((await link.call('shard.fetchSingle', { k: 'x' })).payload), 'value of x');
    assert.equal(e.sent.map((x) => x.method), ['shard.fetchSingle']);
    getBatching.on = false;
    const rs = await Promise.all(['y', 'z'].map((k) => link.call('shard.fetchSingle', { k })));
    assert.equal(rs.map((r) => text(r.payload)), ['value of y', 'value of z']);
    assert.equal(e.sent.map((x) => x.method), ['shard.fetchSingle', 'shard.fetchSingle', 'shard.fetchSingle']);
  } finally { link.close(); }
});

t('a read batch that fails fails each of its reads with the error; a closed link fails reads still queued', async () => {
  const failing: RpcCaller = { call: () => Promise.reject(new NetError('NET_UNREACHABLE', 'down')) };
  const link = new EngineLink(() => failing, 'rank 0');
  const rs = await Promise.allSettled(['a', 'b', 'c'].map((k) => link.call('shard.fetchSingle', { k })));
  assert.equal(rs.map((r) => r.status === 'rejected' && (r.reason as { code?: string }).code), ['NET_UNREACHABLE', 'NET_UNREACHABLE', 'NET_UNREACHABLE']);
  const queued = link.call('shard.fetchSingle', { k: 'q' });
  link.close();
  await queued.then(() => assert.unreachable('a read queued on a closed link fails'), (err: unknown) => assert.is((err as { code?: string }).code, 'NET_UNREACHABLE'));
});

t.run();
