/**
 * Object API specification: single values and arrays on every redundancy kind, punch, enumeration,
 * KV and Array APIs — on a real pool (real files, real mapped memory). The same file runs against
 * six `cairn engine` processes and etcd from test/engine/object-connected.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../core/rng.js';
import { text, collect, rejectsWith } from '../helpers/tmp.js';
import { poolUnderTest } from '../helpers/pool-under-test.js';
import { containerPort } from '../../src/container/container.js';
import { utf8, INLINE_UTF8_MAX_CHARS } from '../../src/container/utf8.js';

// 6 ranks of one target: enough for EC_4P2 with one shard per rank.
const put = await poolUnderTest(6, { scmBytes: 16 << 20, dataBytes: 64 << 20 });
const pool = put.pool;
const cont = await pool.createContainer('objects', { oclass: 'EC_4P2G1', cellSize: 1024 });
const CLASSES = ['S1', 'S2', 'RP_2G1', 'RP_3G1', 'EC_2P1G1', 'EC_4P2G1', 'EC_2P2G1'];

const t = suite('object');

for (const oclass of CLASSES) {
  t(`${oclass}: single values replace as a whole; empty, small and large values round-trip`, async () => {
    const o = cont.object(`single-${oclass}`, { oclass });
    assert.is(await o.fetch('d', 'a'), undefined);
    await o.update('d', 'a', 'first');
    await o.update('d', 'a', 'second, longer value');
    assert.is(text(await o.fetch('d', 'a')), 'second, longer value');
    await o.update('d', 'empty', new Uint8Array(0));
    assert.equal(await o.fetch('d', 'empty'), new Uint8Array(0));
    const big = new Rng(1).bytes(300_001);
    await o.update('d2', 'big', big);
    assert.equal(await o.fetch('d2', 'big'), big);
  });

  t(`${oclass}: arrays merge extents newest first; holes read as zeros; partial stripes stay correct`, async () => {
    const o = cont.object(`array-${oclass}`, { oclass });
    const rng = new Rng(7);
    const model = new Uint8Array(20_000);
    for (let i = 0; i < 40; i++) {
      const off = rng.int(18_000), len = 1 + rng.int(2_000);
      const data = rng.bytes(len);
      await o.update('d', 'arr', { recx: { index: off, count: len }, data });
      model.set(data, off);
    }
    const back = await o.fetch('d', 'arr', { recx: { index: 0, count: model.length } });
    assert.equal(back, model);
    const mid = await o.fetch('d', 'arr', { recx: { index: 1234, count: 5000 } });
    assert.equal(mid, model.subarray(1234, 6234));
  });
}

t('records of recordSize bytes are addressed by record index', async () => {
  const o = cont.object('records');
  const data = new Uint8Array(64).map((_, i) => i);
  await o.update('d', 'a', { recx: { index: 3, count: 8 }, data, recordSize: 8 });
  assert.equal(await o.fetch('d', 'a', { recx: { index: 3, count: 8 }, recordSize: 8 }), data);
  assert.equal(await o.fetch('d', 'a', { recx: { index: 24, count: 8 } }), data.subarray(0, 8));
});

t('punch object, dkey and akey hide exactly what they name', async () => {
  const o = cont.object('punchy', { oclass: 'RP_2G1' });
  await o.update('d1', 'a1', 'x'); await o.update('d1', 'a2', 'y'); await o.update('d2', 'a1', 'z');
  await o.punchAkey('d1', 'a1');
  assert.is(await o.fetch('d1', 'a1'), undefined);
  assert.is(text(await o.fetch('d1', 'a2')), 'y');
  await o.punchDkey('d1');
  assert.is(await o.fetch('d1', 'a2'), undefined);
  assert.is(text(await o.fetch('d2', 'a1')), 'z');
  await o.punch();
  assert.is(await o.fetch('d2', 'a1'), undefined);
  assert.equal(await collect(o.listDkeys()), []);
});

t('enumeration lists dkeys, akeys and extents; queryMaxDkey is the greatest dkey', async () => {
  for (const oclass of ['S2', 'EC_2P1G1']) {
    const o = cont.object(`enum-${oclass}`, { oclass });
    const names = ['alpha', 'beta', 'gamma', 'delta', 'eps'];
    for (const n of names) await o.update(n, 'v', n);
    await o.update('beta', 'w', 'w');
    await o.update('arr', 'x', { recx: { index: 100, count: 50 }, data: new Uint8Array(50).fill(1) });
    await o.update('arr', 'x', { recx: { index: 5000, count: 3000 }, data: new Uint8Array(3000).fill(2) });
    const dkeys = (await collect(o.listDkeys())).map((k) => text(k));
    assert.equal(dkeys, ['alpha', 'arr', 'beta', 'delta', 'eps', 'gamma']);
    assert.equal((await collect(o.listAkeys('beta'))).map((k) => text(k)), ['v', 'w']);
    assert.equal(await collect(o.listRecx('arr', 'x')), [{ index: 100, count: 50 }, { index: 5000, count: 3000 }]);
    assert.is(text(await o.queryMaxDkey()), 'gamma');
  }
});

t('KV API: put/get/remove/list with string and byte keys', async () => {
  const kv = cont.kv('kv', { oclass: 'RP_3G1' });
  await kv.put('b', 'two'); await kv.put('a', 'one'); await kv.put(new Uint8Array([0xff, 0]), new Uint8Array([9]));
  assert.is(await kv.getString('a'), 'one');
  assert.equal(await kv.get(new Uint8Array([0xff, 0])), new Uint8Array([9]));
  await kv.remove('a');
  assert.is(await kv.get('a'), undefined);
  assert.equal((await collect(kv.list())).map((k) => Array.from(k)), [[0x62], [0xff, 0]]);
});

t('Array API: chunked writes across groups, size, shrink and grow, streams', async () => {
  const arr = cont.array('big-array', { oclass: 'EC_2P1G1', chunkSize: 4096 });
  const data = new Rng(3).bytes(50_000);
  await arr.write(0, data);
  assert.is(await arr.getSize(), 50_000);
  assert.equal(await arr.read(1000, 20_000), data.subarray(1000, 21_000));
  await arr.setSize(10_001);
  assert.is(await arr.getSize(), 10_001);
  assert.equal(await arr.read(0, 10_001), data.subarray(0, 10_001));
  assert.equal(await arr.read(10_001, 100), new Uint8Array(100));
  await arr.setSize(30_000);
  assert.is(await arr.getSize(), 30_000);
  const chunks: Buffer[] = [];
  for await (const c of arr.createReadStream()) chunks.push(c as Buffer);
  const all = Buffer.concat(chunks);
  assert.is(all.length, 30_000);
  assert.equal(new Uint8Array(all.subarray(0, 10_001)), data.subarray(0, 10_001));
  const w = cont.array('streamed', { chunkSize: 4096 }).createWriteStream();
  const src = new Rng(4).bytes(20_000);
  await new Promise<void>((res, rej) => { w.on('error', rej); w.on('finish', res); for (let i = 0; i < src.length; i += 3000) w.write(Buffer.from(src.subarray(i, i + 3000))); w.end(); });
  assert.equal(await cont.array('streamed', { chunkSize: 4096 }).read(0, 20_000), src);
});

t('a Cauchy-matrix container encodes with ISA-L\'s matrix and still decodes degraded', async () => {
  const c = await pool.createContainer('cauchy', { oclass: 'EC_4P2G1', cellSize: 1024, ecMatrix: 'cauchy' });
  assert.is(c.props.ecMatrix, 'cauchy');
  const o = c.object('c1');
  const v = new Rng(11).bytes(10_001);
  const arr = new Rng(12).bytes(9_000);
  await o.update('d', 's', v);
  await o.update('d', 'a', { recx: { index: 100, count: arr.length }, data: arr });
  const layout = containerPort(c).layout(o.oid).groups[0]!;
  // Read around two data shards by treating their targets as unavailable.
  const io = containerPort(c).io();
  const ctx = { ...io, available: (t: number) => t !== layout[0] && t !== layout[1] && io.available(t) };
  const { fetchSingle, fetchArray } = await import('../../src/io/io.js');
  const red = { kind: 'ec' as const, dataShards: 4, parityShards: 2, groupSize: 6 };
  const e = c.stableEpoch();
  assert.equal(await fetchSingle(ctx, red, [layout], 0, o.oid, new TextEncoder().encode('d'), new TextEncoder().encode('s'), e), v);
  assert.equal(await fetchArray(ctx, red, [layout], 0, o.oid, new TextEncoder().encode('d'), new TextEncoder().encode('a'), 100, arr.length, e), arr);
});

t('bad input gets typed errors', async () => {
  const o = cont.object('bad');
  await rejectsWith(o.update('', 'a', 'x'), 'INVALID_ARGUMENT');
  await rejectsWith(o.update('d', new Uint8Array(5000), 'x'), 'INVALID_ARGUMENT');
  await rejectsWith(o.update('d', 'a', { recx: { index: -1, count: 1 }, data: new Uint8Array(1) }), 'INVALID_ARGUMENT');
  await rejectsWith(o.update('d', 'a', { recx: { index: 0, count: 2 }, data: new Uint8Array(1) }), 'INVALID_ARGUMENT');
  await rejectsWith(o.fetch('d', 'a', { epoch: -1n }), 'INVALID_ARGUMENT');
  await rejectsWith(o.fetch('d', 'a', { snapshot: 'nope' }), 'NOT_FOUND');
  assert.throws(() => cont.object('x', { oclass: 'EC_99P1G1' }), (e: { code?: string }) => e.code === 'UNKNOWN_OBJECT_CLASS');
  assert.throws(() => cont.array('x', { cellSize: 3, chunkSize: 4096 }), (e: { code?: string }) => e.code === 'INVALID_ARGUMENT');
});

t('keys and names encode to the UTF-8 TextEncoder gives (ASCII inline, anything else and long strings through it); non-ASCII keys round-trip', async () => {
  const enc = new TextEncoder();
  const samples = ['', 'v', 'o12345', 'x'.repeat(INLINE_UTF8_MAX_CHARS), 'y'.repeat(INLINE_UTF8_MAX_CHARS + 1), 'caf\u00e9', '\u{1f600}k', 'a\u0000b', '\u007f\u0080'];
  for (const s of samples) assert.equal([...utf8(s)], [...enc.encode(s)], JSON.stringify(s));
  const kv = cont.kv('utf8-keys');
  await kv.put('caf\u00e9', 'accent');
  await kv.put('cafe', 'plain');
  assert.is(text(await kv.get('caf\u00e9')), 'accent');
  assert.is(text(await kv.get(enc.encode('caf\u00e9'))), 'accent');
  assert.is(text(await kv.get('cafe')), 'plain');
  assert.is(cont.kv('\u00e9t\u00e9').object.oid, cont.kv(String.fromCharCode(0xe9, 0x74, 0xe9)).object.oid);
  assert.is.not(cont.kv('ete').object.oid, cont.kv('\u00e9t\u00e9').object.oid);
});

t('object ids of names are pinned (ids on disk depend on them): short names hashed in JS, long ones in wasm, any class', async () => {
  const c = await pool.createContainer('pinned-names', { oclass: 'RP_2G1' });
  try {
    const pinned: Array<[string, string]> = [
      ['a', 'a21777c31cbcca8d5aba85c3'], ['o1', '986d5682c5a559ed78b59a1e'], ['o123456', '3b916da45552c79d8f2a1756'],
      ['users/alice', '7c1b955456e033f07806afae'], ['exactly-thirty-one-bytes-long-x', '84c8def120a165ddbde9e1ac'],
      ['exactly-thirty-two-bytes-long-xy', 'a2e46ad73568638aad46e9e8'], ['\u00fcn\u00efcode', 'f728a4c482fdd2103b155590'],
    ];
    for (const [name, user] of pinned) {
      for (let pass = 0; pass < 2; pass++) assert.is(c.object(name).oid.toString(16), '80000' + user.padStart(24, '0'), `${name} (default class), pass ${pass}`);
      assert.is(c.object(name, { oclass: 'S1' }).oid.toString(16), '10000' + user.padStart(24, '0'), `${name} (S1)`);
      assert.is(c.kv(name, { oclass: 'EC_2P1G1' }).object.oid.toString(16), '390000' + user.padStart(24, '0'), `${name} (EC_2P1G1)`);
    }
  } finally { await c.close(); }
});

t('names resolve to the same ids whether cached or not, past the name cache size; reused string keys stay intact', async () => {
  const c = await pool.createContainer('names', { oclass: 'RP_2G1' });
  try {
    const N = 20_000; // past NAME_OID_CACHE_SIZE: generations rotate, old names are hashed again
    const first = Array.from({ length: N }, (_, i) => c.object(`n${i}`).oid);
    assert.is(new Set(first).size, N, 'distinct names, distinct ids');
    for (let pass = 0; pass < 2; pass++) for (let i = N - 1; i >= 0; i -= 7) assert.is(c.object(`n${i}`).oid, first[i], `name n${i}, pass ${pass}`);
    const bytes = c.object(`n5`, { oclass: 'S1' }).oid;
    assert.not.equal(bytes, first[5], 'another class, another id (not the cached one)');
    // one string key used by many ops, and the same bytes given as an array: the shared encoding is never altered
    const kv = c.kv('keys');
    for (let i = 0; i < 50; i++) await kv.put('k', `v${i}`);
    const k = new TextEncoder().encode('k');
    assert.is(text(await kv.get(k)), 'v49');
    const listed = await collect(kv.list());
    assert.equal(listed.map((x) => text(x)), ['k']);
    listed[0]!.fill(0x7a); // a caller writing into a listed key
    assert.is(text(await kv.get('k')), 'v49');
    assert.equal((await collect(kv.list())).map((x) => text(x)), ['k']);
  } finally { await c.close(); }
});

t.after(async () => { await put.close(); });
t.run();
