/**
 * Pooled payload buffers (src/net/buffer-pool.ts) and their use by the RPC server: a buffer comes
 * back only after release, the pool keeps a bounded number of bytes, and over real connections
 * pooled request payloads and pooled replies never mix the bytes of concurrent calls (a request's
 * buffer is reused only once its handler settled and its reply, which may hold views of it, was
 * written; a reply's buffer only once the socket took it).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BufferPool, payloadPool, POOL_MIN_BYTES, POOL_MAX_BYTES } from '../../src/net/buffer-pool.js';
import { RpcServer, RpcClient, type RpcHandler } from '../../src/net/rpc.js';

const t = suite('buffer-pool');
const SECRET = 'pool test secret';

t('a released buffer is reused; an unreleased one is not; release twice is harmless', () => {
  const pool = new BufferPool();
  const a = pool.take(100_000);
  assert.is(a.bytes.length, 100_000);
  const b = pool.take(100_000);
  assert.is.not(a.bytes.buffer, b.bytes.buffer);
  a.release();
  a.release();
  assert.is(pool.keptBytes, 128 * 1024);
  const c = pool.take(70_000);
  assert.is(c.bytes.buffer, a.bytes.buffer, 'same size class: the released buffer');
  assert.is(c.bytes.length, 70_000);
  const d = pool.take(70_000);
  assert.is.not(d.bytes.buffer, a.bytes.buffer, 'taken twice only after a second release');
});

t('small and huge payloads are not pooled; the pool keeps a bounded number of bytes', () => {
  assert.not.ok(BufferPool.pools(POOL_MIN_BYTES - 1));
  assert.ok(BufferPool.pools(POOL_MIN_BYTES));
  assert.not.ok(BufferPool.pools(POOL_MAX_BYTES + 1));
  const pool = new BufferPool(256 * 1024);
  const small = pool.take(100);
  small.release();
  assert.is(pool.keptBytes, 0);
  const leases = Array.from({ length: 5 }, () => pool.take(POOL_MIN_BYTES));
  for (const l of leases) l.release();
  assert.is(pool.keptBytes, 256 * 1024, 'four 64 KiB buffers kept, the fifth left to the GC');
});

t('pooled request payloads and pooled replies keep concurrent calls apart', async () => {
  const stored = new Map<number, string>();
  const handler: RpcHandler = async (req) => {
    const i = Number(req.header.i);
    if (req.method === 'put') {
      // Look at the payload after an await: another call must not have overwritten it meanwhile.
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      stored.set(i, Buffer.from(req.payload!).toString('base64'));
      return { header: { n: req.payload!.length } };
    }
    if (req.method === 'echo') return { header: {}, payload: req.payload! }; // a reply holding the request's own buffer
    const want = Buffer.from(stored.get(i)!, 'base64');
    const lease = payloadPool.take(want.length);
    lease.bytes.set(want);
    return { header: {}, payload: lease.bytes, sent: lease.release };
  };
  const server = await RpcServer.listen({ port: 0, secret: SECRET, handler });
  const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret: SECRET });
  try {
    const sizes = [POOL_MIN_BYTES, 100_000, 300_000, 512 * 1024, 1 << 20];
    const datas = Array.from({ length: 24 }, (_, i) => randomBytes(sizes[i % sizes.length]!));
    for (let round = 0; round < 3; round++) {
      await Promise.all(datas.map(async (d, i) => {
        const r = await client.call('put', { i }, d);
        assert.is(r.header.n, d.length);
      }));
      // (compared as a boolean: a failing string assert.is of megabytes would spend minutes on its diff)
      for (const [i, d] of datas.entries()) assert.ok(stored.get(i) === d.toString('base64'), `put ${i} (${d.length} bytes) arrived intact in round ${round}`);
      await Promise.all(datas.map(async (d, i) => {
        const r = await client.call('get', { i });
        assert.ok(Buffer.from(r.payload!).equals(d), `get ${i} intact`);
        const into = new Uint8Array(d.length);
        const r2 = await client.call('get', { i }, undefined, { into: [into] });
        assert.ok(r2.filled);
        assert.ok(Buffer.from(into).equals(d), `get ${i} into a caller buffer intact`);
        const e = await client.call('echo', { i }, d);
        assert.ok(Buffer.from(e.payload!).equals(d), `echo ${i} intact`);
      }));
    }
    assert.ok(payloadPool.keptBytes > 0, 'the server gave its buffers back to the pool');
  } finally {
    await client.close();
    await server.close();
  }
});

t.run();
