/**
 * Commit notices of an `EngineLink` (src/net/link.ts): a notice rides on the next request the
 * link sends (`commits` in its header; a batch's in its item table) and is never sent twice; with no request it goes in a
 * `tx.notice` of its own once its delay ran out; notices of a request that failed are sent again.
 * The engine is a fake caller that records what it was sent. Nothing here asserts a time: only
 * what was sent, and in which request.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EngineLink, decodeBatchFrame } from '../../src/net/link.js';
import { ENGINE_METHODS } from '../../src/net/protocol.js';
import type { RpcCaller, RpcPayload, RpcReply } from '../../src/net/rpc.js';
import { NetError } from '../../src/net/errors.js';

const t = suite('link-notices');

/** A request's payload parts as the RPC layer delivers them: one buffer. */
const joined = (payload: RpcPayload | undefined): Uint8Array | undefined => {
  const parts = payload === undefined ? [] : payload instanceof Uint8Array ? [payload] : [...payload];
  return parts.length ? new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p)))) : undefined;
};

/** A caller recording each request (method, notices it carried); `failNext` makes the next call fail. */
function recorder() {
  const sent: Array<{ method: string; commits: string[] }> = [];
  const state = { failNext: false };
  const caller: RpcCaller = {
    call(method, header, payload): Promise<RpcReply> {
      const commits = ((header.commits as Array<[string, string]> | undefined) ?? []).map(([, e]) => e);
      // (a batch's notices travel in its table, protocol 4)
      if (method === ENGINE_METHODS.batch) for (const [, e] of decodeBatchFrame(header, joined(payload)).notices ?? []) commits.push(e);
      sent.push({ method, commits });
      if (state.failNext) { state.failNext = false; return Promise.reject(new NetError('NET_UNREACHABLE', 'down')); }
      return Promise.resolve({ header: { maxEpoch: '0' } });
    },
  };
  return { sent, state, caller };
}

/** Wait until `cond()` holds (polled on timers; the test's own timeout bounds it). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

t('a notice rides on the next request and is not sent again; alone, it goes in a tx.notice of its own', async () => {
  const r = recorder();
  const link = new EngineLink(() => r.caller, 'rank 0');
  try {
    link.notice('c', 1n);
    link.notice('c', 2n);
    await link.call('shard.fetchSingle', { epoch: '1' });
    assert.equal(r.sent[0], { method: 'shard.fetchSingle', commits: ['1', '2'] });
    assert.is(link.pendingNotices, 0);
    // A later notice with no request to ride on: sent on its own (the timer armed for the first
    // ones is still there and waits out this one's delay).
    link.notice('c', 3n);
    await until(() => r.sent.length === 2);
    assert.equal(r.sent[1], { method: ENGINE_METHODS.txNotice, commits: ['3'] });
    // Nothing else goes out: every notice was sent once.
    await new Promise((res) => setTimeout(res, 120));
    assert.is(r.sent.length, 2);
    const all = r.sent.flatMap((x) => x.commits);
    assert.equal(all, ['1', '2', '3']);
  } finally { link.close(); }
});

t('notices of a request that failed are sent again', async () => {
  const r = recorder();
  const link = new EngineLink(() => r.caller, 'rank 0');
  try {
    link.notice('c', 7n);
    r.state.failNext = true;
    await link.call('shard.fetchSingle', { epoch: '1' }).then(() => assert.unreachable('the call fails'), (e: unknown) => assert.is((e as { code?: string }).code, 'NET_UNREACHABLE'));
    assert.equal(r.sent[0]!.commits, ['7']);
    assert.is(link.pendingNotices, 1);
    await until(() => r.sent.length === 2);
    assert.equal(r.sent[1], { method: ENGINE_METHODS.txNotice, commits: ['7'] });
    assert.is(link.pendingNotices, 0);
  } finally { link.close(); }
});

t('a noted write: its note runs on the reply and the call resolves with what it returns; a failed batch of them puts its notices back', async () => {
  const r = recorder();
  const link = new EngineLink(() => r.caller, 'rank 0');
  try {
    const seen: unknown[] = [];
    const got = await link.callNoted('shard.updateSingle', { epoch: '1' }, new Uint8Array([1]), (rep) => { seen.push(rep.header.maxEpoch); return 'noted'; });
    assert.is(got, 'noted');
    assert.equal(seen, ['0']);
    // Two writes of one turn go as one batch; it fails: both fail, no note runs, the notice it carried waits again.
    link.notice('c', 8n);
    r.state.failNext = true;
    const two = await Promise.allSettled([1, 2].map(() => link.callNoted('shard.updateSingle', { epoch: '2' }, new Uint8Array([2]), () => { seen.push('x'); })));
    assert.equal(two.map((x) => x.status), ['rejected', 'rejected']);
    assert.equal(seen, ['0'], 'no note ran for the failed writes');
    assert.is(r.sent[1]!.method, ENGINE_METHODS.batch);
    assert.equal(r.sent[1]!.commits, ['8']);
    await until(() => r.sent.length === 3);
    assert.equal(r.sent[2], { method: ENGINE_METHODS.txNotice, commits: ['8'] });
  } finally { link.close(); }
});

t('drain sends what waits at once; close drops the rest', async () => {
  const r = recorder();
  const link = new EngineLink(() => r.caller, 'rank 0');
  link.notice('c', 9n);
  await link.drain();
  assert.equal(r.sent, [{ method: ENGINE_METHODS.txNotice, commits: ['9'] }]);
  link.notice('c', 10n);
  link.close();
  assert.is(link.pendingNotices, 0);
  await new Promise((res) => setTimeout(res, 120));
  assert.is(r.sent.length, 1);
});

t.run();
