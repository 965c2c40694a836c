/**
 * Hostile input on the data path (objects, KV, arrays, transactions, watch), case by case, beyond
 * bad-arguments.test.ts and the seeded fuzzer: each call is refused with a CairnError of the
 * registry's code for it — never a raw TypeError, never DATA_LOST for data that is there — and
 * what was acknowledged before reads back as it was given.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Pool, CairnError, type Container } from '../../index.js';
import { MAX_UPDATE_BYTES } from '../../src/object/object.js';
import { MAX_WATCH_HISTORY } from '../../src/container/container.js';
import { tmpDir, collect, text } from '../helpers/tmp.js';
import { refused } from '../helpers/refused.js';

const test = suite('api: data-path arguments');
// (metadata room for the MAX_WATCH_HISTORY commits of the watch case)
const SHAPE = { nodes: 1, ranksPerNode: 1, targetsPerRank: 4, scmBytes: 64 << 20, dataBytes: 64 << 20 };

let root = '';
let pool: Pool;
let cont: Container;


test.before(async () => {
  root = tmpDir('cairn-datapath-');
  pool = await Pool.create(path.join(root, 'pool'), SHAPE);
  cont = await pool.createContainer('c', { oclass: 'RP_2G1', redundancyFactor: 1 });
});

test.after(async () => {
  await pool?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('a buffer reused for the next put before this one is acknowledged: every put reads back as it was at its call', async () => {
  for (const size of [100, 4000, 100_000]) {
    const kv = cont.kv(`reuse-${size}`);
    const buf = new Uint8Array(size);
    const puts: Promise<bigint>[] = [];
    for (let i = 0; i < 32; i++) {
      buf.fill(i);
      puts.push(kv.put(`k${i}`, buf)); // pipelined: the buffer is refilled while the put is in flight
    }
    await Promise.all(puts);
    for (let i = 0; i < 32; i++) assert.equal(await kv.get(`k${i}`), new Uint8Array(size).fill(i), `size ${size}, put ${i}`);
  }
});

test('a value whose ArrayBuffer was transferred away: INVALID_ARGUMENT, and the stored value stays', async () => {
  const o = cont.object('detached');
  await o.update('d', 'a', 'before');
  const v = new Uint8Array(16).fill(4);
  structuredClone(v.buffer, { transfer: [v.buffer] });
  await refused('update(detached view)', () => o.update('d', 'a', v), 'INVALID_ARGUMENT');
  await refused('kv.put(detached view)', () => cont.kv('detached').put('k', v), 'INVALID_ARGUMENT');
  await refused('array.write(detached view)', () => cont.array('detached').write(0, v), 'INVALID_ARGUMENT');
  await refused('update(extent of a detached view)', () => o.update('d', 'x', { recx: { index: 0, count: 0 }, data: v }), 'INVALID_ARGUMENT');
  const dv = new DataView(new ArrayBuffer(4));
  structuredClone(dv.buffer, { transfer: [dv.buffer] });
  await refused('update(DataView of a detached buffer)', () => o.update('d', 'a', dv as never), 'INVALID_ARGUMENT');
  await refused('array.write(DataView of a detached buffer)', () => cont.array('detached').write(0, dv as never), 'INVALID_ARGUMENT');
  assert.is(text(await o.fetch('d', 'a')), 'before');
});

test('value bytes of another typed array, a DataView or a bare ArrayBuffer: INVALID_ARGUMENT naming Uint8Array', async () => {
  const o = cont.object('views');
  for (const v of [new Uint16Array(4), new DataView(new ArrayBuffer(4)), new ArrayBuffer(4), new SharedArrayBuffer(4)]) {
    const err = await refused(`update(${Object.prototype.toString.call(v)})`, () => o.update('d', 'a', v as never), 'INVALID_ARGUMENT');
    assert.match(err.message, /Uint8Array/, 'the message names what is expected');
  }
});

test('a value or an extent over MAX_UPDATE_BYTES: VALUE_TOO_LARGE (as a fetch of that size), nothing written', async () => {
  const o = cont.object('huge');
  const big = new Uint8Array(MAX_UPDATE_BYTES + 1);
  await refused('update(single of MAX_UPDATE_BYTES + 1)', () => o.update('d', 'a', big), 'VALUE_TOO_LARGE');
  await refused('kv.put(MAX_UPDATE_BYTES + 1)', () => cont.kv('huge').put('k', big), 'VALUE_TOO_LARGE');
  await refused('update(extent of MAX_UPDATE_BYTES + 1)', () => o.update('d', 'x', { recx: { index: 0, count: big.length }, data: big }), 'VALUE_TOO_LARGE');
  await refused('fetch(extent of MAX_UPDATE_BYTES + 1)', () => o.fetch('d', 'x', { recx: { index: 0, count: big.length } }), 'VALUE_TOO_LARGE');
  assert.equal(await collect(o.listDkeys()), []);
});

test('string keys and object names with a lone surrogate: INVALID_ARGUMENT (UTF-8 would make them all one key)', async () => {
  const o = cont.object('surrogates');
  await refused('update(dkey "\\uD800")', () => o.update('\uD800', 'a', 'first'), 'INVALID_ARGUMENT');
  await refused('update(akey "x\\uDFFF")', () => o.update('d', 'x\uDFFF', 'second'), 'INVALID_ARGUMENT');
  await refused('fetch(dkey "\\uDBFF")', () => o.fetch('\uDBFF', 'a'), 'INVALID_ARGUMENT');
  await refused('kv.put("\\uDC00")', () => cont.kv('surrogates').put('\uDC00', 'v'), 'INVALID_ARGUMENT');
  await refused('object("name\\uD800")', () => cont.object('name\uD800'), 'INVALID_ARGUMENT');
  await refused('kv("\\uDC00")', () => cont.kv('\uDC00'), 'INVALID_ARGUMENT');
  assert.equal(await collect(o.listDkeys()), [], 'nothing was written');
  // well-formed text of any script is a key as before, surrogate pairs included
  await o.update('é😀', 'ü', 'v');
  assert.is(text(await o.fetch('é😀', 'ü')), 'v');
  assert.is(text(await cont.object('x😀y').fetch('é😀', 'ü')), undefined);
});

test('kv.entries(null) and other non-objects: INVALID_ARGUMENT, not a TypeError', async () => {
  const kv = cont.kv('entries');
  await kv.put('a', '1');
  for (const o of [null, 5, 'x', []]) await refused(`kv.entries(${JSON.stringify(o)})`, () => kv.entries(o as never), 'INVALID_ARGUMENT');
  assert.equal((await collect(kv.entries())).map(([k, v]) => `${text(k)}=${text(v)}`), ['a=1']);
});

test('array.setSize(-1): INVALID_ARGUMENT naming the size', async () => {
  const err = await refused('setSize(-1)', () => cont.array('sized').setSize(-1), 'INVALID_ARGUMENT');
  assert.match(err.message, /^size /);
});

test('a transaction whose commit is in flight takes no update, no second commit and no abort (TX_CLOSED); its commit stands', async () => {
  const tx = cont.beginTx();
  await tx.object('inflight').update('d', 'a', 'committed');
  const commit = tx.commit();
  await refused('update during commit', () => tx.object('inflight').update('d', 'late', 'x'), 'TX_CLOSED');
  await refused('second commit during commit', () => tx.commit(), 'TX_CLOSED');
  await refused('abort during commit', () => tx.abort(), 'TX_CLOSED');
  const epoch = await commit;
  assert.is(typeof epoch, 'bigint');
  assert.is(tx.status, 'committed', 'the refused calls did not mark the committed transaction aborted');
  assert.is(text(await cont.object('inflight').fetch('d', 'a')), 'committed');
  assert.is(await cont.object('inflight').fetch('d', 'late'), undefined, 'nothing was acknowledged and dropped');
  // an empty transaction is committed once too
  const empty = cont.beginTx();
  const first = empty.commit();
  await refused('second commit of an empty transaction', () => empty.commit(), 'TX_CLOSED');
  await first;
});

test('a large transaction: an update buffered while its commit runs is refused, never acknowledged and lost', async () => {
  const tx = cont.beginTx();
  await tx.object('slow').update('d', 'big', { recx: { index: 0, count: 4 << 20 }, data: new Uint8Array(4 << 20).fill(1) });
  const commit = tx.commit();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  await refused('update while the commit runs', () => tx.object('slow').update('d', 'late', 'x'), 'TX_CLOSED');
  await commit;
  assert.is(await cont.object('slow').fetch('d', 'late'), undefined);
});

test('a transaction keeps the bytes given to update: neither the caller\'s buffer nor a fetched value changes what it commits', async () => {
  const tx = cont.beginTx();
  const o = tx.object('txcopy');
  const single = new Uint8Array(8).fill(1), extent = new Uint8Array(8).fill(2);
  await o.update('d', 's', single);
  await o.update('d', 'x', { recx: { index: 0, count: 8 }, data: extent });
  single.fill(9); extent.fill(9);
  const seen = (await o.fetch('d', 's'))!;
  assert.equal(seen, new Uint8Array(8).fill(1), 'its own read sees the bytes of the call');
  seen.fill(7);
  assert.equal(await o.fetch('d', 'x', { recx: { index: 0, count: 8 } }), new Uint8Array(8).fill(2));
  await tx.commit();
  assert.equal(await cont.object('txcopy').fetch('d', 's'), new Uint8Array(8).fill(1));
  assert.equal(await cont.object('txcopy').fetch('d', 'x', { recx: { index: 0, count: 8 } }), new Uint8Array(8).fill(2));
});

test('a transaction object used after its transaction committed or aborted: TX_CLOSED for reads too, never a read at its old epoch', async () => {
  const o = cont.object('txclosed');
  await o.update('d', 'a', 'old');
  for (const end of ['commit', 'abort'] as const) {
    const tx = cont.beginTx();
    const txo = tx.object('txclosed');
    assert.is(text(await txo.fetch('d', 'a')), 'old');
    if (end === 'commit') await tx.commit(); else await tx.abort();
    await o.update('d', 'a', 'new');
    await refused(`fetch after ${end}`, () => txo.fetch('d', 'a'), 'TX_CLOSED');
    await refused(`array fetch after ${end}`, () => txo.fetch('d', 'a', { recx: { index: 0, count: 1 } }), 'TX_CLOSED');
    await refused(`update after ${end}`, () => txo.update('d', 'a', 'x'), 'TX_CLOSED');
    await refused(`punch after ${end}`, () => txo.punch(), 'TX_CLOSED');
    await refused(`punchDkey after ${end}`, () => txo.punchDkey('d'), 'TX_CLOSED');
    await refused(`punchAkey after ${end}`, () => txo.punchAkey('d', 'a'), 'TX_CLOSED');
    await refused(`tx.object after ${end}`, () => tx.object('txclosed'), 'TX_CLOSED');
    await refused(`listDkeys after ${end}`, () => txo.listDkeys(), 'TX_CLOSED');
    await refused(`listAkeys after ${end}`, () => txo.listAkeys('d'), 'TX_CLOSED');
    await refused(`listRecx after ${end}`, () => txo.listRecx('d', 'a'), 'TX_CLOSED');
    await refused(`queryMaxDkey after ${end}`, () => txo.queryMaxDkey(), 'TX_CLOSED');
    await o.update('d', 'a', 'old');
  }
  // a listing begun while it was open stops at its next step
  await o.update('d2', 'a', 'v');
  const open = cont.beginTx();
  const keys = open.object('txclosed').listDkeys();
  assert.is(text((await keys.next()).value), 'd');
  await open.abort();
  await refused('a listing stepped after abort', () => keys.next(), 'TX_CLOSED');
  // while its commit is in flight, a read is refused too: the commit's check would not cover it
  const tx = cont.beginTx();
  const txo = tx.object('txclosed');
  await txo.update('d', 'b', 'v');
  const commit = tx.commit();
  await refused('fetch during commit', () => txo.fetch('d', 'a'), 'TX_CLOSED');
  await commit;
  assert.is(text(await o.fetch('d', 'a')), 'old', 'the refused calls wrote nothing');
});

test('a transaction\'s fetch with { epoch } or { snapshot }: INVALID_ARGUMENT, not silently read at the transaction\'s epoch', async () => {
  const o = cont.object('txread');
  await o.update('d', 'a', 'old');
  const snap = await cont.snapshot('txread-old');
  await o.update('d', 'a', 'new');
  const tx = cont.beginTx();
  await refused('tx fetch { snapshot }', () => tx.object('txread').fetch('d', 'a', { snapshot: snap }), 'INVALID_ARGUMENT');
  await refused('tx fetch { snapshot: missing }', () => tx.object('txread').fetch('d', 'a', { snapshot: 'no-such' }), 'INVALID_ARGUMENT');
  await refused('tx fetch { epoch }', () => tx.object('txread').fetch('d', 'a', { epoch: BigInt(snap.epoch) }), 'INVALID_ARGUMENT');
  assert.is(text(await tx.object('txread').fetch('d', 'a')), 'new', 'its own epoch');
  assert.is(text(await o.fetch('d', 'a', { snapshot: snap })), 'old', 'the snapshot read outside the transaction');
  await tx.abort();
});

test('an option a { signal }-only call does not know: INVALID_ARGUMENT naming it, and nothing done', async () => {
  const kv = cont.kv('strict-options');
  await kv.put('k', 'kept');
  await refused('put { epoch }', () => kv.put('k', 'x', { epoch: 5n } as never), 'INVALID_ARGUMENT');
  const obj = cont.object('strict-options-obj');
  await refused('update { sync }', () => obj.update('d', 'a', 'x', { sync: true } as never), 'INVALID_ARGUMENT');
  await refused('punch { epoch }', () => obj.punch({ epoch: 1n } as never), 'INVALID_ARGUMENT');
  const e = await refused('aggregate { upTo }', () => cont.aggregate({ upTo: 5n } as never), 'INVALID_ARGUMENT');
  assert.match(e.message, /upTo/, 'the message names the unknown option');
  await refused('snapshot { epoch }', () => cont.snapshot('s-strict', { epoch: 1n } as never), 'INVALID_ARGUMENT');
  assert.is(text(await kv.get('k')), 'kept', 'the refused put wrote nothing');
  assert.is(await obj.fetch('d', 'a'), undefined, 'the refused update wrote nothing');
  assert.ok(cont.listSnapshots().every((s) => s.name !== 's-strict'), 'no snapshot was taken');
  // a signal is still taken
  await kv.put('k2', 'v', { signal: new AbortController().signal });
  assert.is(text(await kv.get('k2')), 'v');
});

test('an option a read does not know: INVALID_ARGUMENT naming it (every read-side call, in a transaction too); the options it knows still work', async () => {
  const o = cont.object('strict-reads');
  await o.update('d', 'a', 'v');
  await o.update('d', 'x', { recx: { index: 0, count: 4 }, data: new Uint8Array(4).fill(1) });
  const kv = cont.kv('strict-reads-kv');
  await kv.put('k', 'v');
  const arr = cont.array('strict-reads-arr');
  await arr.write(0, new Uint8Array(10).fill(2));
  const snap = await cont.snapshot('strict-reads');
  const bad = { snapshoot: snap.name };
  const tx = cont.beginTx();
  const txo = tx.object('strict-reads');
  const calls: Array<[string, () => unknown]> = [
    ['fetch', () => o.fetch('d', 'a', bad as never)],
    ['fetch (extent)', () => o.fetch('d', 'x', { recx: { index: 0, count: 4 }, ...bad } as never)],
    ['listDkeys', () => o.listDkeys(bad as never)],
    ['listAkeys', () => o.listAkeys('d', bad as never)],
    ['listRecx', () => o.listRecx('d', 'x', bad as never)],
    ['queryMaxDkey', () => o.queryMaxDkey(bad as never)],
    ['kv.get', () => kv.get('k', bad as never)],
    ['kv.get { recx } (a fetch option, not a get one)', () => kv.get('k', { recx: { index: 0, count: 1 } } as never)],
    ['kv.getString', () => kv.getString('k', bad as never)],
    ['kv.has', () => kv.has('k', bad as never)],
    ['kv.getMany', () => kv.getMany(['k'], bad as never)],
    ['kv.list', () => kv.list(bad as never)],
    ['kv.entries', () => kv.entries(bad as never)],
    ['array.read', () => arr.read(0, 10, bad as never)],
    ['array.getSize', () => arr.getSize(bad as never)],
    ['array.createReadStream', () => arr.createReadStream(bad as never)],
    ['cont.readEpoch', () => cont.readEpoch(bad as never)],
    ['cont.watch', () => cont.watch({ form: 0n } as never)],
    ['tx fetch', () => txo.fetch('d', 'a', bad as never)],
    ['tx listDkeys', () => txo.listDkeys(bad as never)],
    ['tx listAkeys', () => txo.listAkeys('d', bad as never)],
    ['tx listRecx', () => txo.listRecx('d', 'x', bad as never)],
    ['tx update', () => txo.update('d', 'a', 'x', { epoch: 1n } as never)],
    ['tx punch', () => txo.punch({ epoch: 1n } as never)],
  ];
  for (const [what, call] of calls) {
    const err = await refused(what, call, 'INVALID_ARGUMENT');
    assert.match(err.message, /snapshoot|recx|form|epoch/, `${what}: the message names the unknown option (${err.message})`);
  }
  await tx.commit();
  assert.is(text(await o.fetch('d', 'a')), 'v', 'the refused transaction calls buffered nothing');
  // the names each call knows are taken as before
  const signal = new AbortController().signal;
  assert.is(text(await o.fetch('d', 'a', { snapshot: snap, signal })), 'v');
  assert.equal(await o.fetch('d', 'x', { epoch: BigInt(snap.epoch), recx: { index: 0, count: 4 }, recordSize: 1, into: new Uint8Array(4) }), new Uint8Array(4).fill(1));
  assert.equal((await collect(o.listDkeys({ snapshot: snap, gte: 'd', lte: 'd', reverse: true, limit: 1, signal }))).map(text), ['d']);
  assert.equal((await collect(o.listAkeys('d', { snapshot: snap, signal }))).map(text), ['a', 'x']);
  assert.equal(await collect(o.listRecx('d', 'x', { snapshot: snap })), [{ index: 0, count: 4 }]);
  assert.is(text(await o.queryMaxDkey({ snapshot: snap })), 'd');
  assert.is(await kv.getString('k', { snapshot: snap, signal }), 'v');
  assert.equal((await kv.getMany(['k'], { snapshot: snap, signal })).map(text), ['v']);
  assert.equal((await collect(kv.entries({ snapshot: snap, gt: 'a', limit: 5 }))).map(([k]) => text(k)), ['k']);
  assert.equal(await arr.read(0, 10, { snapshot: snap, into: new Uint8Array(10), signal }), new Uint8Array(10).fill(2));
  assert.is(await arr.getSize({ snapshot: snap }), 10);
  assert.is(Buffer.concat(await collect(arr.createReadStream({ snapshot: snap, start: 2, end: 6, signal }))).length, 4);
  const w = cont.watch({ from: 0n, signal });
  assert.is((await w.next()).done, false);
  await w.return(undefined);
});

test('an option an opener, a write or a write stream does not know: INVALID_ARGUMENT naming it, nothing written; the options they know still work', async () => {
  const arr = cont.array('strict-writes-arr', { chunkSize: 16 });
  await arr.write(0, new Uint8Array(20).fill(3));
  const tx = cont.beginTx();
  const calls: Array<[string, () => unknown, string]> = [
    ['cont.object { oclas }', () => cont.object('strict-open', { oclas: 'RP_2G1' } as never), 'oclas'],
    ['cont.kv { oclas }', () => cont.kv('strict-open', { oclas: 'RP_2G1' } as never), 'oclas'],
    ['cont.kv { chunkSize } (an array option, not a kv one)', () => cont.kv('strict-open', { chunkSize: 16 } as never), 'chunkSize'],
    ['cont.array { chunksize }', () => cont.array('strict-writes-arr', { chunksize: 16 } as never), 'chunksize'],
    ['cont.array { cellsize }', () => cont.array('strict-writes-arr', { cellsize: 4 } as never), 'cellsize'],
    ['tx.object { oclas }', () => tx.object('strict-open', { oclas: 'RP_2G1' } as never), 'oclas'],
    ['array.write { epoch }', () => arr.write(0, 'x', { epoch: 1n } as never), 'epoch'],
    ['array.setSize { epoch }', () => arr.setSize(4, { epoch: 1n } as never), 'epoch'],
    ['array.createWriteStream { offset }', () => arr.createWriteStream({ offset: 4 } as never), 'offset'],
    ['array.createWriteStream { strat }', () => arr.createWriteStream({ strat: 4, signal: new AbortController().signal } as never), 'strat'],
    ['Pool.connect { secert }', () => Pool.connect({ etcd: 'http://127.0.0.1:1', pool: 'p', secert: 's' } as never), 'secert'],
  ];
  for (const [what, call, name] of calls) {
    const err = await refused(what, call, 'INVALID_ARGUMENT');
    assert.ok(err.message.includes(JSON.stringify(name)), `${what}: the message names the unknown option (${err.message})`);
  }
  await tx.abort();
  assert.equal(await arr.read(0, 20), new Uint8Array(20).fill(3), 'the refused writes wrote nothing');
  // the names each call knows are taken as before
  const signal = new AbortController().signal;
  assert.is(cont.object('strict-open', { oclass: 'RP_2G1' }).oid, cont.object('strict-open').oid);
  await cont.kv('strict-open', { oclass: 'RP_2G1' }).put('k', 'v', { signal });
  const tx2 = cont.beginTx();
  assert.is(text(await tx2.object('strict-open', { oclass: 'RP_2G1' }).fetch('k', 'v')), 'v');
  await tx2.abort();
  const arr4 = cont.array('strict-writes-arr4', { oclass: 'RP_2G1', cellSize: 4, chunkSize: 16 });
  await arr4.write(0, new Uint8Array(8).fill(4), { signal });
  await arr4.setSize(4, { signal });
  assert.is(await arr4.getSize(), 4);
  // (a write stream from `start` writes there: its writes once got `{ start }` too, which write refuses)
  const ws = cont.array('strict-writes-arr', { chunkSize: 16 }).createWriteStream({ start: 18, signal });
  ws.end(new Uint8Array(4).fill(5));
  await finished(ws);
  assert.equal(await arr.read(16, 6), new Uint8Array([3, 3, 5, 5, 5, 5]));
});

test('listings of a closed container: POOL_CLOSED, never DATA_LOST', async () => {
  const c = await pool.createContainer('closing', { oclass: 'RP_2G1', redundancyFactor: 1 });
  const o = c.object('o'), kv = c.kv('kv'), arr = c.array('arr');
  await o.update('d', 'a', 'v');
  await kv.put('k', 'v');
  await arr.write(0, new Uint8Array(100).fill(1));
  await c.close();
  await refused('listDkeys', () => o.listDkeys(), 'POOL_CLOSED');
  await refused('listAkeys', () => o.listAkeys('d'), 'POOL_CLOSED');
  await refused('queryMaxDkey', () => o.queryMaxDkey(), 'POOL_CLOSED');
  await refused('kv.list', () => kv.list(), 'POOL_CLOSED');
  await refused('kv.entries', () => kv.entries(), 'POOL_CLOSED');
  await refused('array.getSize', () => arr.getSize(), 'POOL_CLOSED');
  await refused('array.setSize', () => arr.setSize(10), 'POOL_CLOSED');
  await refused('array.createReadStream', () => collect(arr.createReadStream()), 'POOL_CLOSED');
  await refused('watch', () => c.watch(), 'POOL_CLOSED');
  // the data is there: reopened, every listing answers
  const again = await pool.openContainer('closing');
  assert.equal((await collect(again.object('o').listDkeys())).map(text), ['d']);
  assert.is(await again.array('arr').getSize(), 100);
});

test(`a watch from now that falls more than MAX_WATCH_HISTORY (${MAX_WATCH_HISTORY}) commits behind: WATCH_LAGGED, not a silent gap`, async () => {
  const c = await pool.createContainer('lagging', { oclass: 'S1' });
  const w = c.watch();
  const first = w.next();
  const kv = c.kv('k');
  await kv.put('a', 'b');
  assert.is((await first).done, false);
  const PIPELINE = 256;
  for (let i = 0; i < MAX_WATCH_HISTORY + PIPELINE; i += PIPELINE) await Promise.all(Array.from({ length: PIPELINE }, (_, j) => kv.put(`k${(i + j) % 64}`, 'v')));
  await refused('the lagging watch', () => w.next(), 'WATCH_LAGGED');
  // a consumer resuming from a saved epoch the history no longer reaches is told so, not moved on
  const saved = (await first).value!.epoch;
  await refused('a watch resumed from an epoch older than the retained history', () => c.watch({ from: BigInt(saved) }), 'WATCH_LAGGED');
  // { from: 0n } asks for whatever is retained: it starts at the oldest commit held
  const all = c.watch({ from: 0n });
  const oldest = await all.next();
  assert.is(oldest.done, false);
  assert.ok(BigInt(oldest.value!.epoch) > BigInt(saved), 'the retained history starts after the dropped commits');
  await all.return(undefined);
  await c.close();
});

test('the pool works afterwards', async () => {
  const c = await pool.openContainer('c');
  await c.object('o').update('d', 'a', 'after');
  assert.is(text(await c.object('o').fetch('d', 'a')), 'after');
});

test.run();
