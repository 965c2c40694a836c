/**
 * The etcd wrapper against a real etcd: keys and JSON, create-if-absent, compare-and-put,
 * concurrent counters, leases (revoked, and expired after their holder is SIGKILLed), prefix
 * watches (also across an etcd restart), leader election, and unreachable etcd. The test etcd
 * itself: a port it chose that is taken before etcd binds it is chosen again, a port given is not.
 */
import { suite } from 'uvu';
import { createServer } from 'node:net';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Etcd, EtcdError, ETCD_PREFIX, type WatchEvent } from '../../src/net/etcd.js';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { rejectsWith } from '../helpers/tmp.js';

const test = suite('etcd');
const P = ETCD_PREFIX + 'test/';
let srv: TestEtcd;
let etcd: Etcd;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

test.before(async () => {
  srv = await startEtcd();
  etcd = await Etcd.connect(srv.url);
});
test.after(async () => {
  await etcd?.close();
  await srv?.stop();
});

test('put/get/json round trip, prefixes and deletes', async () => {
  assert.is(await etcd.get(P + 'none'), undefined);
  await etcd.put(P + 'a', 'hello');
  const kv = await etcd.get(P + 'a');
  assert.ok(kv);
  assert.is(kv.value.toString(), 'hello');
  assert.is(kv.version, '1');
  await etcd.put(P + 'a', Buffer.from([0, 255, 1]));
  assert.equal([...(await etcd.get(P + 'a'))!.value], [0, 255, 1]);
  assert.is((await etcd.get(P + 'a'))!.version, '2');
  await etcd.putJson(P + 'j/x', { n: 1, s: 'x', l: [1, 2] });
  await etcd.putJson(P + 'j/y', 2);
  assert.equal(await etcd.getJson(P + 'j/x'), { n: 1, s: 'x', l: [1, 2] });
  assert.is(await etcd.getJson(P + 'j/none'), undefined);
  await rejectsWith(etcd.getJson(P + 'a'), 'ETCD_ERROR');
  assert.equal((await etcd.getPrefix(P + 'j/')).map((k) => k.key), [P + 'j/x', P + 'j/y']);
  await etcd.delete(P + 'j/x');
  await etcd.delete(P + 'j/x'); // absent is fine
  assert.equal((await etcd.getPrefix(P + 'j/')).map((k) => k.key), [P + 'j/y']);
  await etcd.deletePrefix(P);
  assert.equal(await etcd.getPrefix(P), []);
  await rejectsWith(etcd.put('', 'x'), 'ETCD_ERROR');
});

test('createIfAbsent creates once', async () => {
  assert.is(await etcd.createIfAbsent(P + 'c', 'first'), true);
  assert.is(await etcd.createIfAbsent(P + 'c', 'second'), false);
  assert.is((await etcd.get(P + 'c'))!.value.toString(), 'first');
});

test('createAllIfAbsent writes all keys or none', async () => {
  const lease = await etcd.lease(30);
  assert.is(await etcd.createAllIfAbsent([P + 'all/1', P + 'all/2'], 'commit', { lease }), true);
  assert.is(await etcd.createAllIfAbsent([P + 'all/3', P + 'all/2'], 'abort'), false);
  assert.is(await etcd.get(P + 'all/3'), undefined, 'nothing written when one key exists');
  assert.equal((await etcd.getPrefix(P + 'all/')).map((k) => k.value.toString()), ['commit', 'commit']);
  await rejectsWith(etcd.createAllIfAbsent(Array.from({ length: 129 }, (_, i) => P + i), 'x'), 'ETCD_ERROR');
  await lease.revoke();
  assert.equal(await etcd.getPrefix(P + 'all/'), []);
});

test('a lease without keepalive expires after its TTL', async () => {
  const lease = await etcd.lease(2, { keepAlive: false });
  await etcd.put(P + 'short', 'x', { lease });
  assert.ok(await etcd.get(P + 'short'));
  await until(async () => (await etcd.get(P + 'short')) === undefined, 5000, 'the unrenewed lease to expire');
});

test('compareAndPut fails on a stale revision', async () => {
  assert.is(await etcd.compareAndPut(P + 'cas', 'v0', '0'), true);
  assert.is(await etcd.compareAndPut(P + 'cas', 'again', '0'), false, "'0' means must not exist");
  const r1 = (await etcd.get(P + 'cas'))!.modRevision;
  assert.is(await etcd.compareAndPut(P + 'cas', 'v1', r1), true);
  assert.is(await etcd.compareAndPut(P + 'cas', 'v2', r1), false, 'stale revision');
  assert.is((await etcd.get(P + 'cas'))!.value.toString(), 'v1');
  await rejectsWith(etcd.compareAndPut(P + 'cas', 'x', 'abc'), 'ETCD_ERROR');
});

test('50 concurrent increments from two clients give exactly 0..49', async () => {
  const other = await Etcd.connect(srv.url);
  try {
    const got = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? etcd : other).increment(P + 'counter')));
    assert.equal([...got].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    assert.is(await etcd.increment(P + 'counter'), 50);
  } finally {
    await other.close();
  }
});

test('a key under a revoked lease disappears; revoke does not signal lost', async () => {
  const lease = await etcd.lease(2);
  assert.match(lease.id, /^\d+$/);
  let lost = false;
  lease.on('lost', () => { lost = true; });
  await etcd.put(P + 'leased', 'x', { lease });
  assert.is(await etcd.createIfAbsent(P + 'leased2', 'y', { lease }), true);
  await sleep(3000); // longer than the TTL: kept alive
  assert.ok(await etcd.get(P + 'leased'), 'kept alive past its TTL');
  await lease.revoke();
  assert.is(await etcd.get(P + 'leased'), undefined);
  assert.is(await etcd.get(P + 'leased2'), undefined);
  await lease.revoke(); // twice is fine
  assert.is(lost, false);
  await rejectsWith(etcd.lease(0), 'ETCD_ERROR');
  await rejectsWith(etcd.lease(1.5), 'ETCD_ERROR');
});

test('a key of a SIGKILLed lease holder disappears within TTL + 3 s', async () => {
  const mod = fileURLToPath(new URL('../../src/net/etcd.ts', import.meta.url));
  const code = `
    import { Etcd } from ${JSON.stringify(mod)};
    const e = await Etcd.connect(${JSON.stringify(srv.url)});
    const l = await e.lease(2);
    await e.put(${JSON.stringify(P + 'child')}, 'alive', { lease: l });
    console.log('ready');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  try {
    await until(() => out.includes('ready') || child.exitCode !== null, 20_000, 'the child to put its leased key');
    assert.ok(out.includes('ready'), out);
    assert.is((await etcd.get(P + 'child'))?.value.toString(), 'alive');
    await sleep(2500);
    assert.ok(await etcd.get(P + 'child'), 'the child keeps its lease alive');
  } finally {
    child.kill('SIGKILL');
  }
  const t0 = Date.now();
  await until(async () => (await etcd.get(P + 'child')) === undefined, 5000, 'the leased key to vanish');
  assert.ok(Date.now() - t0 <= 5000);
});

test('watchPrefix sees puts and deletes below the prefix only, until stopped', async () => {
  const evs: WatchEvent[] = [];
  const stop = await etcd.watchPrefix(P + 'w/', (ev) => evs.push(ev));
  await etcd.put(P + 'w/a', '1');
  await etcd.put(P + 'other', 'x');
  await etcd.put(P + 'w/b', '2');
  await etcd.delete(P + 'w/a');
  await until(() => evs.length >= 3, 3000, 'three events');
  assert.equal(evs.map((e) => [e.type, e.key, e.value?.toString()]), [
    ['put', P + 'w/a', '1'], ['put', P + 'w/b', '2'], ['delete', P + 'w/a', undefined],
  ]);
  await stop();
  await etcd.put(P + 'w/c', '3');
  await sleep(300);
  assert.is(evs.length, 3, 'no events after stop');
});

test('campaign: the second campaigner leads after the first resigns', async () => {
  const other = await Etcd.connect(srv.url);
  try {
    const a = await etcd.campaign(P + 'leader', 'a');
    let bLeads = false;
    const bp = other.campaign(P + 'leader', 'b').then((h) => { bLeads = true; return h; });
    await sleep(500);
    assert.is(bLeads, false, 'b waits while a leads');
    await a.resign();
    const b = await bp;
    assert.ok(bLeads);
    // a third campaigner under a caller's lease waits for b
    const lease = await etcd.lease(5);
    let cLeads = false;
    const cp = etcd.campaign(P + 'leader', 'c', lease).then((h) => { cLeads = true; return h; });
    await sleep(300);
    assert.is(cLeads, false);
    await b.resign();
    const c = await cp;
    await c.resign();
    await c.resign(); // idempotent
    assert.equal(await etcd.getPrefix(P + 'leader/'), []);
    await lease.revoke();
  } finally {
    await other.close();
  }
});

test('a leader that dies (SIGKILL of etcd client connection: close) is replaced after its lease TTL', async () => {
  const dying = await Etcd.connect(srv.url);
  await dying.campaign(P + 'leader2', 'dying');
  const waiting = etcd.campaign(P + 'leader2', 'next');
  await dying.close(); // keepalives stop; the election lease (ELECTION_TTL_S) expires
  const t0 = Date.now();
  const h = await waiting;
  assert.ok(Date.now() - t0 < 8000);
  await h.resign();
});

test('close rejects a campaign still waiting', async () => {
  const other = await Etcd.connect(srv.url);
  const a = await etcd.campaign(P + 'leader3', 'a');
  const p = other.campaign(P + 'leader3', 'b');
  await sleep(200);
  await other.close();
  await rejectsWith(p, 'ETCD_ERROR');
  await a.resign();
});

test('watch and a lease survive an etcd restart', async () => {
  const evs: WatchEvent[] = [];
  const stop = await etcd.watchPrefix(P + 'rw/', (ev) => evs.push(ev));
  const lease = await etcd.lease(10);
  await etcd.put(P + 'rw/leased', 'x', { lease });
  await etcd.put(P + 'rw/a', '1');
  await until(() => evs.length === 2, 3000, 'events before the restart');
  await srv.stop({ keepDir: true });
  await sleep(500);
  srv = await startEtcd({ dir: srv.dir, port: srv.port, peerPort: srv.peerPort });
  // calls may fail for a moment while etcd3 reconnects
  await until(async () => { try { await etcd.put(P + 'rw/b', '2'); return true; } catch { return false; } }, 15_000, 'a put after restart');
  await until(() => evs.some((e) => e.key === P + 'rw/b'), 15_000, 'the watcher to see a put after restart');
  assert.ok(await etcd.get(P + 'rw/leased'), 'lease survives');
  await stop();
  await lease.revoke();
  assert.is(await etcd.get(P + 'rw/leased'), undefined);
});

test('connect to a closed port gives ETCD_UNREACHABLE quickly', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  try {
    await Etcd.connect(url, { dialTimeoutMs: 1000 });
    assert.unreachable('connected to nothing');
  } catch (err) {
    assert.instance(err, EtcdError);
    assert.is((err as EtcdError).code, 'ETCD_UNREACHABLE');
    assert.is((err as EtcdError).info?.url, url);
  }
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  const t1 = Date.now();
  await rejectsWith(Etcd.connect(url), 'ETCD_UNREACHABLE');
  assert.ok(Date.now() - t1 < 6000, `default dial took ${Date.now() - t1} ms`);
  await rejectsWith(Etcd.connect('localhost:2379'), 'ETCD_UNREACHABLE');
});

test('operations on an unreachable etcd fail with ETCD_UNREACHABLE', async () => {
  const port = await freePort();
  const s = await startEtcd({ port });
  const e = await Etcd.connect(s.url);
  await s.stop();
  try {
    await rejectsWith(e.get(P + 'x'), 'ETCD_UNREACHABLE');
    await rejectsWith(e.put(P + 'x', 'y'), 'ETCD_UNREACHABLE');
  } finally {
    await e.close();
  }
  await rejectsWith(e.get(P + 'x'), 'ETCD_ERROR'); // closed client
});

test('a chosen port taken before etcd binds it: etcd starts again on new ports; a port given is not replaced', async () => {
  const taken = createServer((c) => c.destroy()); // (startEtcd's health probe may connect to it)
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
  const busy = (taken.address() as { port: number }).port;
  try {
    let calls = 0;
    const s = await startEtcd({ choosePort: async () => (++calls === 1 ? busy : freePort()) });
    try {
      assert.ok(calls >= 4, `ports chosen again after the first start failed (${calls} chosen)`);
      assert.is.not(s.port, busy);
      const e = await Etcd.connect(s.url);
      try { await e.put(P + 'retry', '1'); assert.is((await e.get(P + 'retry'))?.value.toString(), '1'); } finally { await e.close(); }
    } finally { await s.stop(); }
    await startEtcd({ port: busy }).then(
      (s2) => { void s2.stop(); assert.unreachable('started on a port in use'); },
      (err: Error) => assert.match(err.message, /address already in use/i),
    );
  } finally {
    await new Promise<void>((resolve) => taken.close(() => resolve()));
  }
});

test.run();
