/**
 * The RPC layer (src/net/rpc.ts): frames round-trip byte-exact, typed errors cross the wire as the
 * same class and code, the pool secret is proven both ways before any handler runs, limits and
 * timeouts give typed errors, and a client reconnects to a restarted server by itself.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { RpcServer, RpcClient, RPC_MAX_BODY, type RpcHandler } from '../../src/net/rpc.js';
import { ObjectError } from '../../src/object/errors.js';
import { CairnError } from '../../core/errors.js';
import { rejectsWith } from '../helpers/tmp.js';

const t = suite('rpc');
const SECRET = 'correct horse battery staple';
let calls = 0;
const handler: RpcHandler = async (req) => {
  calls++;
  if (req.method === 'echo') return { header: { ...req.header, len: req.payload?.length ?? 0 }, ...(req.payload ? { payload: req.payload } : {}) };
  if (req.method === 'fail') throw new ObjectError('NOT_FOUND', 'no such thing', { what: 'x', n: 3 });
  if (req.method === 'crash') throw new TypeError('boom');
  if (req.method === 'slow') { await new Promise((r) => setTimeout(r, 2000)); return { header: {} }; }
  throw new CairnError('NET_PROTOCOL', `unknown ${req.method}`);
};

t('payloads of 0 B, 1 B and 8 MiB round-trip byte-exact with their header', async () => {
  const s = await RpcServer.listen({ secret: SECRET, handler });
  const c = new RpcClient({ address: `127.0.0.1:${s.port}`, secret: SECRET });
  try {
    for (const n of [0, 1, 8 * 1024 * 1024]) {
      const p = randomBytes(n);
      const r = await c.call('echo', { a: 'b', n }, n ? p : undefined);
      assert.is(r.header.len, n);
      assert.is(r.header.a, 'b');
      assert.ok(Buffer.from(r.payload ?? new Uint8Array(0)).equals(p), `payload of ${n} bytes`);
    }
    // 200 concurrent calls, each its own answer.
    const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => c.call('echo', { i }, Buffer.from(`x${i}`))));
    rs.forEach((r, i) => { assert.is(r.header.i, i); assert.is(Buffer.from(r.payload!).toString(), `x${i}`); });
  } finally { await c.close(); await s.close(); }
});

t('a handler error arrives as the same class, code and info; other errors as INTERNAL', async () => {
  const s = await RpcServer.listen({ secret: SECRET, handler });
  const c = new RpcClient({ address: `127.0.0.1:${s.port}`, secret: SECRET });
  try {
    try { await c.call('fail', {}); assert.unreachable('should throw'); } catch (err) {
      assert.instance(err, ObjectError);
      assert.is((err as ObjectError).code, 'NOT_FOUND');
      assert.equal((err as ObjectError).info, { what: 'x', n: 3 });
    }
    await rejectsWith(c.call('crash', {}), 'INTERNAL');
    // The server is still serving after a failure.
    assert.is((await c.call('echo', { ok: 1 })).header.ok, 1);
  } finally { await c.close(); await s.close(); }
});

t('a wrong secret is refused and no handler runs; a raw client that skips the handshake gets 401', async () => {
  const s = await RpcServer.listen({ secret: SECRET, handler });
  const before = calls;
  const bad = new RpcClient({ address: `127.0.0.1:${s.port}`, secret: 'wrong secret' });
  try {
    await rejectsWith(bad.call('echo', {}), 'AUTH_FAILED');
    await rejectsWith(bad.call('fail', {}), 'AUTH_FAILED');
  } finally { await bad.close(); }
  const raw = http2.connect(`http://127.0.0.1:${s.port}`);
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const req = raw.request({ ':method': 'POST', ':path': '/cairn/v1/echo' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.end(Buffer.from([2, 0, 0, 0, 0x7b, 0x7d]));
    });
    assert.is(status, 401);
  } finally { raw.close(); }
  assert.is(calls, before, 'no handler ran for unauthenticated requests');
  await s.close();
});

t('a server that does not know the secret is detected by the client', async () => {
  const s = await RpcServer.listen({ secret: 'an impostor secret', handler });
  const c = new RpcClient({ address: `127.0.0.1:${s.port}`, secret: SECRET });
  try { await rejectsWith(c.call('echo', {}), 'AUTH_FAILED'); } finally { await c.close(); await s.close(); }
});

t('limits, timeouts and unreachable servers give typed errors; a restarted server is reconnected to', async () => {
  const s = await RpcServer.listen({ secret: SECRET, handler });
  const port = s.port;
  const c = new RpcClient({ address: `127.0.0.1:${port}`, secret: SECRET, timeoutMs: 500 });
  try {
    await rejectsWith(c.call('echo', {}, new Uint8Array(RPC_MAX_BODY + 1)), 'NET_PROTOCOL');
    await rejectsWith(c.call('slow', {}), 'NET_TIMEOUT');
    assert.is((await c.call('echo', { still: 'serving' })).header.still, 'serving');
    await s.close();
    await rejectsWith(c.call('echo', {}), 'NET_UNREACHABLE');
    const s2 = await RpcServer.listen({ port, secret: SECRET, handler });
    try {
      assert.is((await c.call('echo', { back: true })).header.back, true);
    } finally { await s2.close(); }
  } finally { await c.close(); }
  await rejectsWith(new RpcClient({ address: '127.0.0.1:1', secret: SECRET }).call('echo', {}), 'NET_UNREACHABLE');
});

t.run();
