/**
 * Freshness across clients (issue 15): a read "now" that starts after another client's commit was
 * acknowledged sees that commit. Two clients of one connected pool (separate connections, separate
 * epoch clocks): one commits, the other reads "now" at once, many times over — for a value, a
 * transaction, a dkey listing and a punch. A commit made in the same clock tick as the read
 * carries logical and slot bits above the reader's wall-clock epoch, so such a read misses it
 * unless it carries its uncertainty window (`fresh`, src/net/shard-rpc.ts) and the engine that
 * holds the write refuses it (STALE_EPOCH), so that it is read again above the write (the DAOS
 * way; session 22 had commit-wait instead). The clients' clock ticks every `TICK_MS` (one
 * clock of a host, read coarsely): a round trip fits in one tick here as it fits in one
 * millisecond on a fast machine, so the race is met in most rounds, not by luck.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../helpers/cluster.js';
import { rejectsWith, text } from '../helpers/tmp.js';
import type { Pool } from '../../src/pool/pool.js';
import { RpcClient } from '../../src/net/rpc.js';
import { epochAtMs } from '../../src/container/epoch-clock.js';
import { containerPort } from '../../src/container/container.js';
import { NOTICE_DELAY_MS, batchMethods, readGuesses } from '../../src/net/link.js';

/** Iterations per case. */
const ROUNDS = 100;
/** The clients' clock tick. */
const TICK_MS = 25;
const coarse = () => Math.floor(Date.now() / TICK_MS) * TICK_MS;

const t = suite('freshness');
let cluster: Cluster;
let a: Pool, b: Pool;
t.before(async () => {
  cluster = await Cluster.start({ engines: 2, targetsPerEngine: 1, leaseTtl: 5, excludeDelayMs: 60_000 });
  a = await cluster.connect(cluster.secret, { now: coarse });
  b = await cluster.connect(cluster.secret, { now: coarse });
});
t.after(async () => { await a?.close(); await b?.close(); await cluster?.stop(); });

t('a value committed by one client is read "now" by another at once', async () => {
  const ca = await a.createContainer('fresh', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const cb = await b.openContainer('fresh');
  const missed: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const [w, r] = i % 2 === 0 ? [ca, cb] : [cb, ca];
    await w.object('v').update('d', 'a', String(i));
    const got = text(await r.object('v').fetch('d', 'a'));
    if (got !== String(i)) missed.push(i);
  }
  assert.equal(missed, [], `reads that missed the other client's acknowledged commit: ${missed.length} of ${ROUNDS}`);
});

t('an array range overwritten by one client is read "now" by another into its buffer at once (located reads started on a guess)', async () => {
  // Whole-range reads into the caller's buffer from engines on this host are located reads; a
  // range read before starts from where its extent lay (link.ts readGuesses) while the engine is
  // asked where it lies now: the other client's overwrite must come back, not the old extent.
  const ca = await a.openContainer('fresh');
  const cb = await b.openContainer('fresh');
  const KIB = 1024, SIZE = 256 * KIB;
  const arrs = [ca.array('guess', { chunkSize: SIZE }), cb.array('guess', { chunkSize: SIZE })];
  const into = new Uint8Array(SIZE);
  const was = readGuesses.on;
  readGuesses.on = true; // (off by default: CAIRN_RPC_READ_GUESS=1)
  try {
    const g0 = { ...readGuesses };
    let missed = 0;
    for (let i = 0; i < ROUNDS / 2; i++) {
      const [w, r] = i % 4 < 2 ? [arrs[0]!, arrs[1]!] : [arrs[1]!, arrs[0]!];
      await w.write(0, new Uint8Array(SIZE).fill(i + 1));
      // Every other round the read comes once the commit's notice reached the engines (NOTICE_DELAY_MS)
      // and a clock tick later: the engine answers with the new extent's place (the guess, the old
      // extent, must not be kept). Otherwise it answers `again` (the commit undecided there, or the
      // read refused in the write's uncertainty window) and the read goes on its own.
      if (i % 2 === 1) await new Promise((res) => setTimeout(res, NOTICE_DELAY_MS + TICK_MS + 5));
      await r.read(0, SIZE, { into });
      if (into[0] !== i + 1 || into[SIZE - 1] !== i + 1) missed++;
      await r.read(0, SIZE, { into }); // (read again: the next overwrite meets a guess)
    }
    const kept = readGuesses.kept - g0.kept, wrong = readGuesses.missed - g0.missed;
    assert.is(missed, 0, `located reads that returned a range the other client had overwritten (guesses kept ${kept}, wrong ${wrong})`);
    assert.ok(readGuesses.started - g0.started >= ROUNDS / 4, `reads started on a guess: ${readGuesses.started - g0.started}`);
    assert.ok(wrong >= ROUNDS / 8, `guesses the overwrite made wrong: ${wrong} (kept ${kept})`);
  } finally { readGuesses.on = was; }
});

t('values committed by one client are read "now" by another at once, its reads of one turn batched per engine', async () => {
  // (single-value reads of one turn go to each engine as one batch of reads, link.ts; a read
  // refused in its uncertainty window comes back as its item's STALE_EPOCH and is made again)
  const ca = await a.createContainer('fresh-batch', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const cb = await b.openContainer('fresh-batch');
  const KEYS = 8;
  let batches = 0, missed = 0;
  const orig = RpcClient.prototype.call;
  RpcClient.prototype.call = function (this: RpcClient, method, header, payload, o) {
    if (method === 'engine.batch' && batchMethods(payload).includes('shard.fetchSingle')) batches++;
    return orig.call(this, method, header, payload, o);
  };
  try {
    for (let i = 0; i < ROUNDS / 2; i++) {
      const [w, r] = i % 2 === 0 ? [ca, cb] : [cb, ca];
      await Promise.all(Array.from({ length: KEYS }, (_, k) => w.object(`b${k}`).update('d', 'a', String(i))));
      const got = await Promise.all(Array.from({ length: KEYS }, (_, k) => r.object(`b${k}`).fetch('d', 'a')));
      for (const v of got) if (text(v) !== String(i)) missed++;
    }
  } finally { RpcClient.prototype.call = orig; }
  assert.is(missed, 0, 'batched reads that missed the other client\'s acknowledged puts');
  assert.ok(batches >= ROUNDS / 2, `read batches sent: ${batches}`);
});

t('a transaction committed by one client is read "now" by another at once', async () => {
  const ca = await a.openContainer('fresh');
  const cb = await b.openContainer('fresh');
  let missed = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const tx = ca.beginTx();
    await tx.object('t').update('d', 'a', String(i));
    await tx.object('t2').update('d', 'a', String(i));
    await tx.commit();
    if (text(await cb.object('t').fetch('d', 'a')) !== String(i)) missed++;
    if (text(await cb.object('t2').fetch('d', 'a')) !== String(i)) missed++;
  }
  assert.is(missed, 0, 'reads that missed the other client\'s acknowledged transaction');
});

t('a dkey created and a dkey punched by one client are listed "now" by another at once', async () => {
  const ca = await a.openContainer('fresh');
  const cb = await b.openContainer('fresh');
  let missed = 0;
  const list = async () => { const out: string[] = []; for await (const k of cb.object('l').listDkeys()) out.push(Buffer.from(k).toString()); return out; };
  for (let i = 0; i < ROUNDS / 3; i++) {
    await ca.object('l').update(`k${i}`, 'a', 'x');
    if (!(await list()).includes(`k${i}`)) missed++;
    await ca.object('l').punchDkey(`k${i}`);
    if ((await list()).includes(`k${i}`)) missed++;
  }
  assert.is(missed, 0, 'listings that missed the other client\'s acknowledged create or punch');
});

t('clients whose clocks differ by less than CAIRN_CLOCK_SKEW_MS read each other\'s commits "now"', async () => {
  // The writer's clock runs 30 ms ahead of the reader's (another host): its commits carry epochs
  // 30 ms in the reader's future. Both are told the skew (a pool-wide setting): the reader's
  // uncertainty window covers it.
  const ahead = () => Date.now() + 30;
  process.env.CAIRN_CLOCK_SKEW_MS = '40';
  let w: Pool, r: Pool;
  try {
    w = await cluster.connect(cluster.secret, { now: ahead });
    r = await cluster.connect();
  } finally { delete process.env.CAIRN_CLOCK_SKEW_MS; }
  try {
    const cw = await w.openContainer('fresh');
    const cr = await r.openContainer('fresh');
    let missed = 0;
    for (let i = 0; i < 30; i++) {
      await cw.object('skew').update('d', 'a', String(i));
      if (text(await cr.object('skew').fetch('d', 'a')) !== String(i)) missed++;
    }
    assert.is(missed, 0, 'reads that missed the commit of a client whose clock is ahead');
  } finally {
    await w.close();
    await r.close();
  }
});

t('a client reading "now" while its own commits to the same keys are in flight is answered (no STALE_EPOCH)', async () => {
  // Its stable epoch stays below its oldest commit in flight, so its window covers its own
  // prepared writes: a retry that cannot move above the write it was refused for reads without
  // the window (CairnObject.readAt). Otherwise such reads fail once the retries run out.
  const ca = await a.openContainer('fresh');
  const kv = ca.kv('own');
  await kv.put('k', 'v0');
  const arr = ca.array('own-array');
  await arr.write(0, new Uint8Array(3 * 1024 * 1024).fill(1));
  let failed = 0, reads = 0;
  for (let round = 0; round < 20; round++) {
    const writes = Array.from({ length: 8 }, (_, i) => kv.put('k', `v${round}-${i}`));
    const w2 = arr.write(1024 * 1024 - 10, new Uint8Array(20).fill(round & 0xff));
    const got = await Promise.allSettled([
      kv.get('k'), kv.getMany(['k', 'k2']), (async () => { for await (const _ of kv.list()) { /* listed */ } })(),
      arr.read(0, 2 * 1024 * 1024), ca.object('own').listAkeys('k'),
    ]);
    reads += got.length;
    for (const g of got) if (g.status === 'rejected') { failed++; if (failed === 1) console.error(g.reason); }
    await Promise.all([...writes, w2]);
  }
  assert.is(failed, 0, `reads "now" that failed while the client's own commits were in flight, of ${reads}`);
});

t('a client held below its own commit in flight waits for it and reads another client\'s newer acknowledged commit', async () => {
  // Client a's commit to an object on a stopped engine stays in flight, holding a's stable epoch
  // below it; client b then commits (acknowledged) a key on the other engine, a tick later. a's
  // read "now" of that key is held below b's commit: its window starts at "now" (not at the held
  // epoch), the engine refuses it, and it waits for its own commit (the engine is resumed) before
  // reading again. Before, it read the held snapshot (b's value missed, no error).
  const ca = await a.createContainer('held', { oclass: 'S1' });
  const cb = await b.openContainer('held');
  await Promise.all([ca.openTargets(), cb.openTargets()]);
  const port = containerPort(ca);
  const rankOf = (name: string) => a.map.targets[port.layout(ca.object(name).oid).groups[0]![0]!]!.rank;
  const [x, y] = [cluster.engines[0]!, cluster.engines[1]!];
  let slowName = '', keyName = '';
  for (let i = 0; !slowName || !keyName; i++) {
    const r = rankOf(`n${i}`);
    if (!slowName && r === x.rank) slowName = `n${i}`;
    else if (!keyName && r === y.rank) keyName = `n${i}`;
  }
  await ca.object(keyName).update('d', 'a', 'old');
  x.child.kill('SIGSTOP');
  let resumed = false;
  const resume = () => { if (!resumed) { resumed = true; x.child.kill('SIGCONT'); } };
  try {
    const slow = ca.object(slowName).update('d', 'a', 'slow');
    await new Promise((r) => setTimeout(r, 3 * TICK_MS)); // (b's commit lands ticks after a's epoch)
    await cb.object(keyName).update('d', 'a', 'new');
    const read = ca.object(keyName).fetch('d', 'a');
    setTimeout(resume, 2 * TICK_MS); // a's own commit can end now
    assert.is(text(await read), 'new', 'the held read returned the value another client had replaced before it began');
    await slow;
    assert.is(text(await ca.object(slowName).fetch('d', 'a')), 'slow');
  } finally { resume(); }
});

t('a malformed CAIRN_CLOCK_SKEW_MS is refused at connect (INVALID_ARGUMENT)', async () => {
  for (const bad of ['-1', '1.5', 'x', '100000']) {
    process.env.CAIRN_CLOCK_SKEW_MS = bad;
    // (a pool that connects anyway is closed, so the failure is reported rather than left open)
    try { await rejectsWith(cluster.connect().then(async (p) => { await p.close(); return p; }), 'INVALID_ARGUMENT'); } finally { delete process.env.CAIRN_CLOCK_SKEW_MS; }
  }
});

t('an engine answers a fresh read that a write within its uncertainty may precede with STALE_EPOCH (the DAOS way)', async () => {
  const e = cluster.engines[0]!;
  const target = a.query().targets.find((x) => x.rank === e.rank)!.id;
  const cont = (await a.listContainers())[0]!.uuid;
  const rpc = new RpcClient({ address: e.address, secret: cluster.secret });
  try {
    const oid = String(4242n << 32n);
    const route = { target, cont, mapVersion: a.query().mapVersion, oid, dkey: 'ZA==', akey: 'YQ==' };
    const w = epochAtMs(Date.now()) + 5000n;
    await rpc.call('shard.updateSingle', { ...route, epoch: String(w) }, new Uint8Array([7]));
    const stale = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (x: unknown) => x as { code?: string; info?: { epoch?: string; uncertain?: boolean } });
      assert.ok(err, 'the fresh read was refused');
      assert.is(err!.code, 'STALE_EPOCH');
      assert.is(err!.info?.epoch, String(w));
      assert.is(err!.info?.uncertain, true);
    };
    const r = w - 1000n;
    // The write lies in (r, fresh]: a value read, an akey and a dkey listing of its object are refused.
    await stale(rpc.call('shard.fetchSingle', { ...route, epoch: String(r), fresh: String(w + 10n) }));
    await stale(rpc.call('shard.listAkeys', { ...route, akey: undefined, epoch: String(r), fresh: String(w) }));
    await stale(rpc.call('shard.listDkeys', { ...route, dkey: undefined, akey: undefined, epoch: String(r), fresh: String(w) }));
    // Above the window, without `fresh`, another akey, or read at the write's epoch: served.
    await rpc.call('shard.fetchSingle', { ...route, epoch: String(r), fresh: String(w - 1n) });
    await rpc.call('shard.fetchSingle', { ...route, epoch: String(r + 1n) });
    await rpc.call('shard.fetchSingle', { ...route, akey: 'Yg==', epoch: String(r + 2n), fresh: String(w + 10n) });
    // (at or above the write it waits for the write, still prepared, to settle: not asked here)
  } finally {
    await rpc.close();
  }
});

t.run();
