/**
 * The etcd wrapper (src/net/etcd.ts) against a real etcd: create-if-absent, compare-and-set,
 * counters under concurrency, leases that vanish when their holder is SIGKILLed, prefix watches,
 * leader election, and a typed error when etcd is not there.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { Etcd } from '../../src/net/etcd.js';
import { startEtcd } from '../helpers/etcd.js';
import { rejectsWith } from '../helpers/tmp.js';
import { until } from '../helpers/cluster.js';

const t = suite('etcd');
let server: Awaited<ReturnType<typeof startEtcd>>;
let etcd: Etcd;
t.before(async () => { server = await startEtcd(); etcd = await Etcd.connect(server.url); });
t.after(async () => { await etcd?.close(); await server?.stop(); });

t('keys, JSON, create-if-absent and compare-and-set', async () => {
  await etcd.putJson('/cairn/t/a', { x: 1 });
  assert.equal(await etcd.getJson('/cairn/t/a'), { x: 1 });
  assert.is(await etcd.createIfAbsent('/cairn/t/b', 'one'), true);
  assert.is(await etcd.createIfAbsent('/cairn/t/b', 'two'), false);
  assert.is((await etcd.get('/cairn/t/b'))!.value.toString(), 'one');
  const kv = (await etcd.get('/cairn/t/b'))!;
  assert.is(await etcd.compareAndPut('/cairn/t/b', 'three', kv.modRevision), true);
  assert.is(await etcd.compareAndPut('/cairn/t/b', 'four', kv.modRevision), false, 'a stale revision loses');
  assert.is(await etcd.compareAndPut('/cairn/t/new', 'x', '0'), true);
  assert.is(await etcd.compareAndPut('/cairn/t/new', 'y', '0'), false);
  assert.is((await etcd.getPrefix('/cairn/t/')).length, 3);
  await etcd.deletePrefix('/cairn/t/');
  assert.is(await etcd.get('/cairn/t/a'), undefined);
});

t('fifty concurrent increments hand out 0..49 exactly once', async () => {
  const got = await Promise.all(Array.from({ length: 50 }, () => etcd.increment('/cairn/counter')));
  assert.equal([...got].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
});

t('a watch sees puts and deletes; a leased key vanishes when its holder is SIGKILLed', async () => {
  const seen: string[] = [];
  const stop = await etcd.watchPrefix('/cairn/w/', (ev) => seen.push(`${ev.type} ${ev.key}`));
  const holder = spawn(process.execPath, ['--import', 'tsx', '-e', `
    import { Etcd } from './src/net/etcd.ts';
    const e = await Etcd.connect(${JSON.stringify(server.url)});
    const l = await e.lease(2);
    await e.put('/cairn/w/leased', 'alive', { lease: l });
    console.log('ready');
    setInterval(() => {}, 1000);
  `], { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => holder.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve(); }));
  assert.is((await etcd.get('/cairn/w/leased'))!.value.toString(), 'alive');
  holder.kill('SIGKILL');
  await until(async () => (await etcd.get('/cairn/w/leased')) === undefined, 8000, 'the lease to expire');
  await until(() => seen.includes('delete /cairn/w/leased'), 3000, 'the delete event');
  assert.ok(seen.includes('put /cairn/w/leased'));
  await stop();
  // A lease revoked by its holder removes its keys at once.
  const l = await etcd.lease(30);
  await etcd.put('/cairn/w/mine', 'x', { lease: l });
  await l.revoke();
  assert.is(await etcd.get('/cairn/w/mine'), undefined);
});

t('leader election: the second campaigner leads once the first resigns', async () => {
  const other = await Etcd.connect(server.url);
  try {
    const first = await etcd.campaign('/cairn/lead', 'a');
    let secondElected = false;
    const second = other.campaign('/cairn/lead', 'b').then((h) => { secondElected = true; return h; });
    await new Promise((r) => setTimeout(r, 300));
    assert.is(secondElected, false, 'only one leader at a time');
    await first.resign();
    await (await second).resign();
    assert.is(secondElected, true);
  } finally {
    await other.close();
  }
});

t('no etcd at the address: ETCD_UNREACHABLE', async () => {
  await rejectsWith(Etcd.connect('http://127.0.0.1:1', { dialTimeoutMs: 500 }), 'ETCD_UNREACHABLE');
  await rejectsWith(Etcd.connect('not a url'), 'ETCD_UNREACHABLE');
});

t.run();
