/**
 * The batch wire form (src/net/batch-frame.ts): every item header decodes to exactly the header
 * the client built — compact ones (a shard write with its commit's ranks, a read "now", an array
 * write with its extent) and those that go as JSON (another key, a non-ASCII string, a key over
 * 255 bytes) — with its method and payload; replies (acknowledgements, reads found or not with
 * their bytes, errors with their codes, other headers) likewise; a compact item is smaller than
 * its JSON; a batch's commit notices travel in its table; `engine.locate` requests and their
 * answers (located, again, other) likewise (protocol 4); and a damaged table is refused with
 * NET_PROTOCOL, never read past its end.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BATCH_TABLE_VERSION, TABLE_SLAB_BYTES, decodeBatch, decodeBatchFrame, decodeBatchReply, decodeLocate, decodeLocateReply, encodeBatch, encodeBatchReply, encodeLocate, encodeLocateReply, type BatchNotice } from '../../src/net/batch-frame.js';
import { CairnError } from '../../core/errors.js';
import type { RpcReply } from '../../src/net/rpc.js';
import { TX_BATCH_MAX } from '../../src/net/protocol.js';

const t = suite('batch-frame');

const cont = 'd3b07384-d113-4ec6-a6a1-3b9f5e2c7f10';
const route = (target: number) => ({ target, cont, mapVersion: 7 });
/** The request as the RPC layer delivers it: the header through JSON, the payload parts as one buffer. */
function travel(items: Parameters<typeof encodeBatch>[0], notices?: BatchNotice[]) {
  const { header, parts } = encodeBatch(items, notices);
  return { header: JSON.parse(JSON.stringify(header)) as Record<string, unknown>, payload: new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p)))), table: parts[0]! };
}

const items = [
  { method: 'shard.updateSingle', header: { ...route(3), epoch: '7349561238456123392', oid: '530242871224172549', dkey: 'ZA==', akey: 'YQ==', tx: { ranks: [0, 2], n: 2 } }, payload: new Uint8Array(100).fill(1) },
  { method: 'shard.updateSingle', header: { ...route(4), epoch: '7349561238456123393', oid: '530242871224172550', dkey: 'ZA==', akey: 'YQ==', txRead: '7349561238456120000', tx: { ranks: [1], n: 1 } }, payload: new Uint8Array(0) },
  { method: 'shard.fetchSingle', header: { ...route(0), epoch: '12', oid: '34', dkey: 'ZA==', akey: 'YQ==', fresh: '99' } },
  { method: 'shard.updateArray', header: { ...route(1), cont: '0e9b1c8e-1b53-4a0d-9c52-2b1e4e0f6a11', epoch: '5', oid: '6', dkey: 'ZA==', akey: 'YQ==', recx: { index: 2 ** 40, count: 4096 }, recordSize: 1 }, payload: new Uint8Array(4096).fill(9) },
  { method: 'shard.punchObject', header: { ...route(2), epoch: '5', oid: '6' } },
  // As JSON: another key, a non-ASCII string, a key over 255 bytes, a method without a code.
  { method: 'shard.updateSingle', header: { ...route(2), migrate: true, epoch: '5', oid: '6', dkey: 'ZA==', akey: 'YQ==' }, payload: new Uint8Array([5]) },
  { method: 'shard.fetchSingle', header: { ...route(2), epoch: 'é', oid: '6', dkey: 'ZA==', akey: 'YQ==' } },
  { method: 'shard.fetchSingle', header: { ...route(2), epoch: '5', oid: '6', dkey: 'x'.repeat(300), akey: 'YQ==' } },
  { method: 'tx.validate', header: { cont, txRead: '1', epoch: '2', keys: [['a', 'b']] } },
  { method: 'some.other', header: { k: 'v' }, payload: new Uint8Array([1, 2, 3]) },
];

t('every item comes back with its method, the very header it was sent with, and its payload', () => {
  const { header, payload } = travel(items, [[cont, '5']]);
  assert.equal(header.commits, [], 'no notice in the header: they travel in the table');
  const { items: got, notices } = decodeBatchFrame(header, payload);
  assert.equal(notices, [[cont, '5']], 'the notice');
  assert.is(got.length, items.length);
  for (let i = 0; i < items.length; i++) {
    assert.is(got[i]!.method, items[i]!.method, `method of ${i}`);
    assert.is(JSON.stringify(got[i]!.header), JSON.stringify(items[i]!.header), `header of ${i}, keys in order`);
    const want = items[i]!.payload;
    if (want === undefined || want.length === 0) assert.is(got[i]!.payload, undefined, `no payload for ${i}`);
    else assert.equal(Buffer.from(got[i]!.payload!), Buffer.from(want), `payload of ${i}`);
  }
  assert.is(got[1]!.header.cont, got[0]!.header.cont, 'the container named once for items of one container');
  // Compact items (0-5) all have every compact key, in one order: one hidden class on the engine.
  for (let i = 1; i <= 5; i++) assert.equal(Object.keys(got[i]!.header), Object.keys(got[0]!.header), `keys of ${i}`);
});

t('a table taken stays as it was while later tables are written (they go after it in the slab, or in a new slab; none overwrites it)', () => {
  const kept: Array<{ table: Uint8Array; copy: Buffer }> = [];
  const big = Array.from({ length: TX_BATCH_MAX }, (_, i) => ({ method: 'shard.updateSingle', header: { ...route(i % 8), epoch: String(i), oid: String(i), dkey: 'x'.repeat(250), akey: 'y'.repeat(250) }, payload: new Uint8Array(1) }));
  for (let i = 0; i < 3000; i++) {
    // (small tables, a table larger than a slab now and then, and reply tables, interleaved)
    const { parts } = i % 1000 === 500 ? encodeBatch(big) : encodeBatch(items.slice(0, 1 + (i % 5)), [[cont, String(i)]]);
    const reply = encodeBatchReply([{ status: 'fulfilled', value: { header: { maxEpoch: String(i) } } }]).parts![0]!;
    if (i % 7 === 0) kept.push({ table: parts[0]!, copy: Buffer.from(parts[0]!) }, { table: reply, copy: Buffer.from(reply) });
  }
  assert.ok(kept.some((k) => k.table.length > TABLE_SLAB_BYTES) || TX_BATCH_MAX * 500 > TABLE_SLAB_BYTES, 'a table larger than a slab was written');
  for (const [i, k] of kept.entries()) assert.ok(Buffer.from(k.table).equals(k.copy), `table ${i} unchanged`);
});

t('a full batch (TX_BATCH_MAX items, a table larger than the first scratch buffer) and its reply come back whole', () => {
  const many = Array.from({ length: TX_BATCH_MAX }, (_, i) => ({ method: 'shard.updateSingle', header: { ...route(i % 8), cont: i % 2 ? cont : '0e9b1c8e-1b53-4a0d-9c52-2b1e4e0f6a11', epoch: String(1000n + BigInt(i)), oid: String(BigInt(i) << 32n), dkey: 'ZA=='.repeat(i % 3 + 1), akey: 'x'.repeat(200), tx: { ranks: [0, 1, 2, 3], n: i } }, payload: new Uint8Array([i & 0xff]) }));
  const { header, payload, table } = travel(many);
  assert.ok(table.length > 16 * 1024, `table of ${table.length} bytes`);
  const got = decodeBatch(header, payload);
  assert.is(got.length, many.length);
  for (let i = 0; i < many.length; i++) {
    assert.is(JSON.stringify(got[i]!.header), JSON.stringify(many[i]!.header), `header of ${i}`);
    assert.equal([...got[i]!.payload!], [i & 0xff], `payload of ${i}`);
  }
  const r = encodeBatchReply(many.map((_, i) => ({ status: 'fulfilled' as const, value: { header: { found: true, maxEpoch: 'm'.repeat(i % 200) }, payload: new Uint8Array(i) } })));
  const rp = new Uint8Array(Buffer.concat((r.parts ?? []).map((p) => Buffer.from(p))));
  const back = decodeBatchReply({ header: {}, payload: rp }, many.length, 'rank 0');
  for (let i = 0; i < many.length; i++) { const x = back[i] as RpcReply; assert.is(x.header.maxEpoch, 'm'.repeat(i % 200)); assert.is(x.payload?.length ?? 0, i); }
});

t('compact write items take under half the bytes of their JSON', () => {
  const one = [items[0]!, { ...items[0]!, header: { ...items[0]!.header, target: 5 } }];
  const { table } = travel(one);
  const json = JSON.stringify({ items: one.map((x) => ({ m: x.method, h: x.header, n: x.payload?.length ?? 0 })) });
  assert.ok(table.length * 2 <= json.length, `table ${table.length} bytes vs JSON ${json.length}`);
});

t('replies: acknowledgements, reads found and not found with their bytes, errors, other headers', () => {
  const results: Array<PromiseSettledResult<RpcReply>> = [
    { status: 'fulfilled', value: { header: { maxEpoch: '7349561238456123392' } } },
    { status: 'fulfilled', value: { header: { found: true, maxEpoch: '9' }, payload: new Uint8Array([1, 2, 3]) } },
    { status: 'fulfilled', value: { header: { found: false, maxEpoch: '9' } } },
    { status: 'rejected', reason: new CairnError('STALE_EPOCH', 'a write in the window', { epoch: '9', uncertain: true }) },
    { status: 'fulfilled', value: { header: { maxEpoch: '1', usage: { scmUsed: 1 } }, payload: new Uint8Array([7]) } },
    { status: 'fulfilled', value: { header: {} } },
  ];
  let sent = 0;
  results[0] = { status: 'fulfilled', value: { header: { maxEpoch: '7349561238456123392' }, sent: () => { sent++; } } };
  const r = encodeBatchReply(results);
  r.sent?.();
  assert.is(sent, 1, 'a reply sent callback still runs');
  const payload = new Uint8Array(Buffer.concat((r.parts ?? []).map((p) => Buffer.from(p))));
  const got = decodeBatchReply({ header: JSON.parse(JSON.stringify(r.header)) as Record<string, unknown>, payload }, results.length, 'rank 1');
  assert.equal((got[0] as RpcReply).header, { maxEpoch: '7349561238456123392' });
  assert.equal((got[1] as RpcReply).header, { found: true, maxEpoch: '9' });
  assert.equal(Buffer.from((got[1] as RpcReply).payload!), Buffer.from([1, 2, 3]));
  assert.equal((got[2] as RpcReply).header, { found: false, maxEpoch: '9' });
  assert.is((got[2] as RpcReply).payload, undefined);
  assert.instance(got[3], CairnError);
  assert.is((got[3] as CairnError).code, 'STALE_EPOCH');
  assert.is((got[3] as CairnError).info?.uncertain, true);
  assert.equal((got[4] as RpcReply).header, { maxEpoch: '1', usage: { scmUsed: 1 } });
  assert.equal(Buffer.from((got[4] as RpcReply).payload!), Buffer.from([7]));
  assert.equal((got[5] as RpcReply).header, {});
  assert.throws(() => decodeBatchReply({ header: {}, payload }, results.length + 1, 'rank 1'), (e: unknown) => (e as CairnError).code === 'NET_PROTOCOL', 'a reply of another count');
});

t('commit notices travel in the table: each container named once in a row, none as undefined, malformed ones left out', () => {
  const other = '0e9b1c8e-1b53-4a0d-9c52-2b1e4e0f6a11';
  const notices: BatchNotice[] = [[cont, '7349561238456123392'], [cont, '7349561238456123393'], [other, '1'], [cont, '2'], [cont, 'é'], ['x'.repeat(300), '3'], [cont, '4']];
  const withNotices = travel(items.slice(0, 2), notices), without = travel(items.slice(0, 2));
  const got = decodeBatchFrame(withNotices.header, withNotices.payload);
  assert.equal(got.notices, [[cont, '7349561238456123392'], [cont, '7349561238456123393'], [other, '1'], [cont, '2'], [cont, '4']]);
  assert.equal(JSON.stringify(got.items.map((x) => x.header)), JSON.stringify(items.slice(0, 2).map((x) => x.header)), 'the items as without notices');
  assert.is(decodeBatchFrame(without.header, without.payload).notices, undefined, 'a batch without notices: undefined');
  // 2 + 36 + 2 + 19 bytes for the first, 1 + 2 + 19 for the second of its container: no uuid again
  assert.ok(withNotices.table.length - without.table.length < 5 * 40 + 3 * 22, `notices take ${withNotices.table.length - without.table.length} bytes`);
  assert.equal(JSON.parse(JSON.stringify(withNotices.header)), JSON.parse(JSON.stringify(without.header)), 'one header shape with or without notices');
});

const located = (at: number, path = '/pool/engine-0/target-3/vos.data') => ({ present: [{ index: 2 ** 33, count: 1 << 20 }], length: 1 << 20, maxEpoch: '7349561238456123392', direct: { path, at, len: 1 << 20, csum: '18446744073709551615' } });

t('engine.locate: the reads travel as a table and each answer comes back (located, again, any other header)', () => {
  const reads = [0, 1, 2].map((i) => ({ ...route(i), epoch: '7349561238456123392', oid: String(530242871224172549n + BigInt(i)), dkey: 'ZA==', akey: 'YQ==', recx: { index: 2 ** 33, count: 1 << 20 }, holesAsZero: true, ...(i === 1 ? { fresh: '7349561238456999999' } : {}) }));
  const req = encodeLocate(reads);
  assert.equal(Object.keys(req.header), [], 'the header carries nothing but the notices a call may take');
  assert.ok(req.payload.length * 2 < JSON.stringify({ items: reads }).length, `a table of ${req.payload.length} bytes`);
  const back = decodeLocate(req.payload);
  assert.equal(back.map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined))), reads, 'each read header as sent');
  for (const h of back) assert.equal(Object.keys(h), Object.keys(back[0]!), 'one key list');
  const answers = [located(4096), undefined, { again: true }, located(1 << 30), located(7, '/other/vos.data'), { present: [], length: 0, maxEpoch: '1' }, { ...located(1), extra: 1 }];
  const rep = encodeLocateReply(answers);
  const payload = rep.payload as Uint8Array;
  const got = decodeLocateReply({ header: JSON.parse(JSON.stringify(rep.header)) as Record<string, unknown>, payload }, answers.length);
  assert.equal(got, [located(4096), { again: true }, { again: true }, located(1 << 30), located(7, '/other/vos.data'), { present: [], length: 0, maxEpoch: '1' }, { ...located(1), extra: 1 }]);
  const four = [1, 2, 3, 4].map((i) => located(i << 20)), small = encodeLocateReply(four).payload as Uint8Array;
  assert.ok(small.length * 2 < JSON.stringify({ items: four }).length, `located answers: ${small.length} bytes (the path once)`);
  assert.is(protocolError(() => decodeLocateReply({ header: {}, payload }, answers.length + 1)), 'NET_PROTOCOL', 'another count');
  for (let cut = 0; cut < payload.length; cut++) assert.is(protocolError(() => decodeLocateReply({ header: {}, payload: payload.subarray(0, cut) }, answers.length)), 'NET_PROTOCOL', `reply cut at ${cut}`);
  for (let cut = 0; cut < req.payload.length; cut++) assert.is(protocolError(() => decodeLocate(req.payload.subarray(0, cut))), 'NET_PROTOCOL', `request cut at ${cut}`);
  const w = travel([items[0]!]);
  assert.is(protocolError(() => decodeLocate(w.payload)), 'NET_PROTOCOL', 'a batch of writes is not a locate request');
});

const protocolError = (f: () => unknown): string | undefined => { try { f(); return undefined; } catch (e) { return (e as CairnError).code; } };

t('a damaged table is refused with NET_PROTOCOL, at every cut and with a wrong version, form or length', () => {
  const { header, payload, table } = travel(items.slice(0, 5));
  for (let cut = 0; cut < table.length; cut++) {
    assert.is(protocolError(() => decodeBatch(header, payload.subarray(0, cut))), 'NET_PROTOCOL', `table cut at ${cut}`);
  }
  const bad = (at: number, v: number) => { const p = new Uint8Array(payload); p[at] = v; return p; };
  assert.is(protocolError(() => decodeBatch(header, bad(0, BATCH_TABLE_VERSION + 1))), 'NET_PROTOCOL', 'another table version');
  assert.is(protocolError(() => decodeBatch(header, bad(3, 200))), 'NET_PROTOCOL', 'an unknown method code');
  assert.is(protocolError(() => decodeBatch(header, bad(8, 9))), 'NET_PROTOCOL', 'an unknown form');
  assert.is(protocolError(() => decodeBatch(header, bad(4, 255))), 'NET_PROTOCOL', 'a payload length past the end');
  assert.is(protocolError(() => decodeBatch(header, new Uint8Array([...payload, 0]))), 'NET_PROTOCOL', 'payload bytes no item announces');
  assert.is(protocolError(() => decodeBatch(header, new Uint8Array([BATCH_TABLE_VERSION, 0, 0]))), 'NET_PROTOCOL', 'an empty batch');
  assert.is(protocolError(() => decodeBatch(header, undefined)), 'NET_PROTOCOL', 'no table');
  assert.is(protocolError(() => decodeBatch(header, payload)), undefined, 'the undamaged table decodes');
});

t.run();
