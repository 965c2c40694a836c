/**
 * A target's store over the network (src/net/shard-rpc.ts): a seeded sequence of updates, punches,
 * fetches and listings gives exactly the same answers through `RemoteShardStore` (a real
 * VosTarget behind an RpcServer) as from a second local VosTarget used as the oracle, including
 * listings longer than one page, absent values, present extents and the reported max epoch.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { VosTarget, VosError } from '../../src/vos/index.js';
import { RpcServer, RpcClient, rawReadStats } from '../../src/net/rpc.js';
import { RemoteShardStore, serveShardCall, serveFetchInto, serveFetchSingleNow, serveUpdate, LIST_PAGE, SHARD_METHODS } from '../../src/net/shard-rpc.js';
import { ShmRegion, slotView, SHM_SLOTS, SHM_HEADER_BYTES, SHM_SLOT_BYTES } from '../../src/net/shm.js';
import type { ShardStore } from '../../src/io/shard-store.js';
import { tmpDir, collect } from '../helpers/tmp.js';

const t = suite('shard-rpc');
const OPTS = { scmBytes: 32 << 20, dataBytes: 64 << 20, io: 'pread' as const };
const SECRET = 's3cret-s3cret';
const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array | undefined) => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

/**
 * Served store + oracle + remote handle; `seen` records every request header the engine got.
 * `fast`: array reads go through `serveFetchInto` first, single-value reads through
 * `serveFetchSingleNow` and value updates through `serveUpdate`, as an engine's fast paths do.
 */
async function setup(o: { fast?: boolean; local?: boolean } = {}) {
  await initXxhash();
  const dir = tmpDir('cairn-shardrpc-');
  const served = await VosTarget.open(join(dir, 'served'), OPTS);
  const oracle = await VosTarget.open(join(dir, 'oracle'), OPTS);
  const seen: Array<{ method: string; header: Record<string, unknown> }> = [];
  const server = await RpcServer.listen({
    secret: SECRET,
    ...(o.local ? { localPath: join(dir, 'engine.sock') } : {}),
    handler: (req) => {
      seen.push({ method: req.method, header: req.header });
      const st = served as unknown as ShardStore;
      if (o.fast && (req.method === 'shard.updateSingle' || req.method === 'shard.updateArray')) return serveUpdate(req.method, req.header, req.payload, st);
      if (o.fast && req.method === 'shard.fetchSingle') {
        let now;
        try { now = serveFetchSingleNow(req.header, st); } catch (err) { return Promise.reject(err); }
        if (now !== undefined) { fastGets++; return Promise.resolve(now); }
      }
      const fast = o.fast && req.method === 'shard.fetchArray' && req.header.holesAsZero === true ? serveFetchInto(st, req.header) : undefined;
      if (fast) fastReads++;
      return fast ?? serveShardCall(req.method, req.header, req.payload, st);
    },
  });
  const client = new RpcClient({ address: `127.0.0.1:${server.port}`, secret: SECRET, ...(o.local ? { localPath: server.localPath!, transport: 'raw' as const } : {}) });
  let mapVersion = 1;
  let closed = 0;
  let fastReads = 0;
  let fastGets = 0;
  const remote = new RemoteShardStore(client, () => ({ target: 3, cont: 'c-uuid', mapVersion }), { onClose: () => { closed++; } });
  return {
    served, oracle, remote, seen, client, local: oracle as unknown as ShardStore,
    bumpMap: () => { mapVersion++; return mapVersion; },
    closedCount: () => closed,
    fastReads: () => fastReads,
    fastGets: () => fastGets,
    async close() { await client.close(); await server.close(); await served.close(); await oracle.close(); },
  };
}

/** Run `f` on the remote and the oracle; both must give the same result or the same error code. */
async function both<T>(what: string, f: (s: ShardStore) => Promise<T>, s: { remote: ShardStore; local: ShardStore }, norm: (x: T) => unknown = (x) => x): Promise<void> {
  const run = async (st: ShardStore): Promise<Record<string, unknown>> => {
    try { return { v: norm(await f(st)) }; } catch (e) { return { err: (e as VosError).code ?? String(e), cls: (e as Error).constructor.name }; }
  };
  assert.equal(await run(s.remote), await run(s.local), what);
}

for (const fast of [false, true]) t(`a seeded sequence of operations answers the same remotely as locally${fast ? ' (the engine fast paths: serveUpdate, serveFetchInto)' : ''}`, async () => {
  const s = await setup({ fast });
  const { remote, local } = s;
  try {
    assert.equal(remote.usage(), { scmUsed: 0, scmTotal: 0, dataUsed: 0, dataTotal: 0 }, 'zeros before any usage reply');
    const rng = new Rng(7);
    const oids = [1n, (1n << 150n) + 5n, 12345678901234567890123456789n, 77n];
    const key = (n: number) => enc(`k${rng.int(n)}`);
    const arr = enc('arr');
    let epoch = 1n;
    const fetchAt = () => (rng.chance(0.7) ? epoch : BigInt(rng.range(1, Number(epoch))));
    const listNorm = (x: Uint8Array[]) => x.map(hex);
    for (let step = 0; step < 1500; step++) {
      const oid = oids[rng.int(oids.length)]!;
      const dkey = key(6), akey = key(3);
      const op = rng.int(14);
      const tag = `step ${step} op ${op}`;
      if (op < 3) {
        epoch++;
        const v = rng.bytes(rng.int(3) === 0 ? 0 : rng.range(1, 5000));
        await both(tag, (st) => st.updateSingle(epoch, oid, dkey, akey, v), s);
      } else if (op < 5) {
        epoch++;
        const recx = { index: rng.int(20_000), count: rng.range(1, 9000) };
        const data = rng.bytes(recx.count);
        await both(tag, (st) => st.updateArray(epoch, oid, arr, akey, recx, data), s);
      } else if (op === 5) {
        epoch++;
        await both(tag, (st) => st.punchAkey(epoch, oid, dkey, akey), s);
      } else if (op === 6 && rng.chance(0.3)) {
        epoch++;
        const which = rng.chance(0.5) ? dkey : arr;
        await both(tag, (st) => st.punchDkey(epoch, oid, which), s);
      } else if (op === 7 && rng.chance(0.1)) {
        epoch++;
        await both(tag, (st) => st.punchObject(epoch, oid), s);
      } else {
        const at = fetchAt();
        await both(`${tag} fetchSingle`, (st) => st.fetchSingle(at, oid, dkey, akey), s, hex);
        const recx = { index: rng.int(20_000), count: rng.range(1, 8000) };
        const holes = rng.chance(0.5) ? { holesAsZero: rng.chance(0.5) } : undefined;
        await both(`${tag} fetchArray`, (st) => st.fetchArray(at, oid, arr, akey, recx, holes), s, (r) => ({ data: hex(r.data), present: r.present }));
        await both(`${tag} listObjects`, (st) => collect(st.listObjects(at)), s, (x) => x.map(String));
        await both(`${tag} listDkeys`, (st) => collect(st.listDkeys(at, oid)), s, listNorm);
        await both(`${tag} listAkeys`, (st) => collect(st.listAkeys(at, oid, dkey)), s, listNorm);
        await both(`${tag} listRecx`, (st) => collect(st.listRecx(at, oid, arr, akey)), s, (x) => x.map((r) => `${r.index}+${r.count}@${r.epoch}`));
        await both(`${tag} akeyKind`, (st) => st.akeyKind(at, oid, dkey, akey), s);
        await both(`${tag} akeyKind arr`, (st) => st.akeyKind(at, oid, arr, akey), s);
      }
      if (op < 8) assert.is(remote.queryMaxEpoch(), local.queryMaxEpoch(), `${tag}: max epoch after a write`);
    }
    // Errors of the engine's store arrive as the same class and code.
    await both('epoch 0 is refused', (st) => st.updateSingle(0n, 1n, enc('d'), enc('a'), enc('x')), s);
    await both('empty dkey is refused', (st) => st.fetchSingle(epoch, 1n, new Uint8Array(0), enc('a')), s);
    try { await remote.updateSingle(0n, 1n, enc('d'), enc('a'), enc('x')); assert.unreachable(); } catch (e) { assert.instance(e, VosError); }
    // An absent value and an empty value are different things.
    epoch++;
    await both('empty single', (st) => st.updateSingle(epoch, 5n, enc('e'), enc('e'), new Uint8Array(0)), s);
    assert.is(hex(await remote.fetchSingle(epoch, 5n, enc('e'), enc('e'))), '');
    assert.is(await remote.fetchSingle(epoch, 5n, enc('e'), enc('nope')), undefined);
    assert.is(await remote.akeyKind(epoch, 5n, enc('e'), enc('nope')), undefined);
    // aggregate, discard (which lowers the max epoch) and usage reach the engine's store.
    await both('aggregate', (st) => st.aggregate(epoch - 5n, [epoch - 100n]), s, (r) => JSON.parse(JSON.stringify(r, (_k, x) => (typeof x === 'bigint' ? String(x) : x))));
    await both('discard', (st) => st.discard(epoch - 3n), s);
    assert.is(remote.queryMaxEpoch(), local.queryMaxEpoch(), 'max epoch after a discard');
    assert.is(await remote.refreshMaxEpoch(), s.served.queryMaxEpoch());
    await both('listObjects after discard', (st) => collect(st.listObjects(epoch)), s, (x) => x.map(String));
    assert.equal(await remote.refreshUsage(), s.served.usage());
    assert.equal(remote.usage(), s.served.usage());
    assert.ok(remote.usage().scmTotal > 0);
    if (fast) assert.ok(s.fastGets() > 100, `single-value reads answered by serveFetchSingleNow: ${s.fastGets()}`);
  } finally { await s.close(); }
});

t('listings longer than one page are complete and identical, also interleaved', async () => {
  const s = await setup();
  const { remote, local } = s;
  try {
    const n = LIST_PAGE * 2 + 17;
    const v = new Uint8Array([1]);
    // Many objects, many dkeys of one object, many akeys of one dkey, many extents of one akey.
    for (let i = 0; i < LIST_PAGE + 5; i++) for (const st of [remote, local]) await st.updateSingle(2n, BigInt(1000 + i), enc('d'), enc('a'), v);
    for (let i = 0; i < n; i++) for (const st of [remote, local]) await st.updateSingle(3n, 7n, enc(`d${i}`), enc('a'), v);
    for (let i = 0; i < n; i++) for (const st of [remote, local]) await st.updateSingle(4n, 8n, enc('d'), enc(`a${i}`), v);
    for (let i = 0; i < n; i++) for (const st of [remote, local]) await st.updateArray(BigInt(5 + (i % 3)), 9n, enc('d'), enc('x'), { index: i * 3, count: 2 }, new Uint8Array([i & 255, 7]));
    const objs = await collect(remote.listObjects(10n));
    assert.is(objs.length, LIST_PAGE + 5 + 3);
    assert.equal(objs.map(String), (await collect(local.listObjects(10n))).map(String));
    const dk = await collect(remote.listDkeys(10n, 7n));
    assert.is(dk.length, n);
    assert.equal(dk.map(hex), (await collect(local.listDkeys(10n, 7n))).map(hex));
    const ak = await collect(remote.listAkeys(10n, 8n, enc('d')));
    assert.is(ak.length, n);
    assert.equal(ak.map(hex), (await collect(local.listAkeys(10n, 8n, enc('d')))).map(hex));
    const rx = await collect(remote.listRecx(10n, 9n, enc('d'), enc('x')));
    assert.is(rx.length, n);
    assert.equal(rx, await collect(local.listRecx(10n, 9n, enc('d'), enc('x'))));
    // Two listings advanced page by page in turn do not disturb each other.
    const a = remote.listDkeys(10n, 7n)[Symbol.asyncIterator]();
    const b = remote.listAkeys(10n, 8n, enc('d'))[Symbol.asyncIterator]();
    const ga: string[] = [], gb: string[] = [];
    for (;;) {
      const [x, y] = [await a.next(), await b.next()];
      if (!x.done) ga.push(hex(x.value)); if (!y.done) gb.push(hex(y.value));
      if (x.done && y.done) break;
    }
    assert.equal(ga, dk.map(hex)); assert.equal(gb, ak.map(hex));
    // Pages were fetched, not one giant reply: ceil(n / LIST_PAGE) calls for the dkeys.
    const pages = s.seen.filter((x) => x.method === 'shard.listDkeys' && x.header.oid === '7');
    assert.is(pages.length, 2 * Math.ceil(n / LIST_PAGE));
    // A continuation whose cursor is unknown (expired, engine restarted) resumes by skipping.
    const r = await serveShardCall('shard.listDkeys', { epoch: '10', oid: '7', skip: LIST_PAGE, cursor: 'gone' }, undefined, s.served as unknown as ShardStore);
    assert.equal(r.header.items, dk.slice(LIST_PAGE, 2 * LIST_PAGE).map((k) => Buffer.from(k).toString('base64')));
    assert.is(r.header.done, false);
    const last = await serveShardCall('shard.listDkeys', { epoch: '10', oid: '7', skip: 2 * LIST_PAGE, cursor: r.header.cursor }, undefined, s.served as unknown as ShardStore);
    assert.is((last.header.items as unknown[]).length, 17);
    assert.is(last.header.done, true);
  } finally { await s.close(); }
});

t('route is merged into every call and re-evaluated; bulk data is raw payload; close only calls onClose', async () => {
  const s = await setup();
  const { remote } = s;
  try {
    const big = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255);
    await remote.updateArray(2n, 1n, enc('d'), enc('a'), { index: 0, count: big.length }, big);
    const v2 = s.bumpMap();
    const got = await remote.fetchArray(2n, 1n, enc('d'), enc('a'), { index: 0, count: big.length });
    assert.ok(Buffer.from(got.data).equals(Buffer.from(big)));
    assert.equal(got.present, [{ index: 0, count: big.length }]);
    assert.equal(s.seen.map((x) => x.header.mapVersion), [1, v2]);
    for (const x of s.seen) { assert.is(x.header.target, 3); assert.is(x.header.cont, 'c-uuid'); }
    assert.ok(JSON.stringify(s.seen[0]!.header).length < 1000, 'the bulk data was not put in the header');
    for (const m of s.seen.map((x) => x.method)) assert.ok(SHARD_METHODS.includes(m));
    await remote.close();
    assert.is(s.closedCount(), 1);
    assert.is(hex((await s.served.fetchArray(2n, 1n, enc('d'), enc('a'), { index: 0, count: 4 })).data), hex(big.subarray(0, 4)), 'the engine store is still open');
    // Unknown methods and malformed headers are protocol errors, never a crash.
    for (const [m, h] of [['shard.nope', {}], ['shard.fetchSingle', { epoch: 5, oid: '1', dkey: 'ZA==', akey: 'YQ==' }], ['shard.fetchArray', { epoch: '5', oid: '1', dkey: 'ZA==', akey: 'YQ==', recx: { index: -1, count: 1 } }]] as const) {
      try { await serveShardCall(m, h as Record<string, unknown>, undefined, s.served as unknown as ShardStore); assert.unreachable(m); } catch (e) { assert.is((e as { code?: string }).code, 'NET_PROTOCOL', m); }
    }
  } finally { await s.close(); }
});

t('a key buffer the caller changes between writes is sent as it is at each write (the remembered base64 is of a copy)', async () => {
  const s = await setup();
  try {
    const key = Buffer.from('k0'), val = (i: number) => new Uint8Array([i]);
    for (let i = 0; i < 4; i++) {
      key[1] = 0x30 + i; // the same Buffer, other bytes: 'k0', 'k1', ...
      await s.remote.updateSingle(BigInt(20 + i), 9n, key, key, val(i));
    }
    for (let i = 0; i < 4; i++) {
      const k = enc(`k${i}`);
      assert.equal([...(await s.served.fetchSingle(30n, 9n, k, k))!], [i], `key k${i} holds its own value`);
    }
    assert.equal(s.seen.slice(-4).map((x) => x.header.dkey), ['azA=', 'azE=', 'azI=', 'azM='], 'each write named the key it was given');
  } finally { await s.close(); }
});

for (const fast of [false, true]) t(`bulk array reads served from pooled buffers give the bytes of the oracle, concurrently and over overlaps, holes and records${fast ? ' (serveFetchInto, the engine fast path)' : ''}`, async () => {
  const s = await setup({ fast });
  try {
    const rng = new Rng(15);
    const KB = 1024;
    const bytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.int(256); return b; };
    const writes: Array<[bigint, string, number, Uint8Array, number?]> = [
      [10n, 'whole', 0, bytes(512 * KB)],
      [11n, 'whole2', 0, bytes(64 * KB)],
      [12n, 'over', 0, bytes(256 * KB)],
      [13n, 'over', 100 * KB, bytes(100 * KB)], // overlaps the older extent: assembled, not one extent
      [14n, 'holes', 200 * KB, bytes(80 * KB)], // [0, 200 KiB) is a hole
    ];
    const records = bytes(128 * KB);
    for (const st of [s.remote, s.local]) {
      for (const [e, akey, at, data] of writes) await st.updateArray(e, 5n, enc('d'), enc(akey), { index: at, count: data.length }, data);
      await st.updateArray(15n, 5n, enc('d'), enc('records'), { index: 0, count: 32 * KB }, records, { recordSize: 4 });
    }
    const reads: Array<[string, number, number]> = [['whole', 0, 512 * KB], ['whole2', 0, 64 * KB], ['over', 0, 256 * KB], ['over', 64 * KB, 128 * KB], ['holes', 0, 280 * KB], ['records', 0, 32 * KB], ['absent', 0, 96 * KB]];
    for (let round = 0; round < 3; round++) {
      await Promise.all(reads.map(async ([akey, index, count]) => {
        const want = await s.local.fetchArray(20n, 5n, enc('d'), enc(akey), { index, count }, { holesAsZero: true });
        const got = await s.remote.fetchArray(20n, 5n, enc('d'), enc(akey), { index, count }, { holesAsZero: true });
        // Compared as booleans: a diff of two 1 MiB hex strings would take minutes to print.
        assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), `${akey} [${index}, +${count}) by fetchArray: ${got.data.length} vs ${want.data.length} bytes`);
        if (akey === 'records') return; // records of 4 bytes: count records are 4 x count bytes, not what fetchArrayInto takes
        const into = [new Uint8Array(count >> 1), new Uint8Array(count - (count >> 1))];
        await (s.remote as RemoteShardStore).fetchArrayInto(20n, 5n, enc('d'), enc(akey), { index, count }, into);
        assert.ok(Buffer.concat(into).equals(Buffer.from(want.data)), `${akey} [${index}, +${count}) into the caller's buffers`);
        assert.is(s.remote.queryMaxEpoch(), s.local.queryMaxEpoch(), `${akey}: the reply carries the store's max epoch`);
      }));
    }
    // The fast path served the pooled whole-range reads (64 KiB and more, byte records); the rest went the general way.
    if (fast) assert.ok(s.fastReads() >= 3 * 5, `fast reads: ${s.fastReads()}`); else assert.is(s.fastReads(), 0);
    if (fast) {
      // A malformed header is a protocol error thrown before anything is read.
      try { serveFetchInto(s.served as unknown as ShardStore, { epoch: '5', oid: '1', dkey: 'ZA==', akey: 'YQ==', recx: { index: -1, count: 1 } }); assert.unreachable(); } catch (e) { assert.is((e as { code?: string }).code, 'NET_PROTOCOL'); }
      assert.is(serveFetchInto(s.served as unknown as ShardStore, { epoch: '5', oid: '1', dkey: 'ZA==', akey: 'YQ==', recx: { index: 0, count: 100 } }), undefined, 'a read too small for the pool takes the general path');
    }
  } finally {
    await s.close();
  }
});

for (const fast of [true, false]) t(`reads from an engine on this host come through a slot of the client's shared region (src/net/shm.ts)${fast ? '' : '; an engine that does not use it answers over the socket'}, byte for byte, and every slot is given back`, async () => {
  const s = await setup({ fast, local: true });
  try {
    const rng = new Rng(16);
    const KB = 1024;
    const bytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.int(256); return b; };
    const sizes = [64 * KB, 200 * KB + 3, 512 * KB, 1024 * KB];
    const values = sizes.map((n) => bytes(n));
    for (const st of [s.remote, s.local]) for (const [i, v] of values.entries()) await st.updateArray(30n, 9n, enc('d'), enc(`a${i}`), { index: 0, count: v.length }, v);
    const before = rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes;
    let asked = 0;
    for (let round = 0; round < 3; round++) {
      // More reads in flight than slots: the rest go over the socket, every one gives the oracle's bytes.
      await Promise.all(Array.from({ length: SHM_SLOTS + 8 }, async (_, k) => {
        const i = k % values.length, v = values[i]!;
        const index = k % 3 === 0 ? 0 : 1000, count = v.length - index;
        const into = [new Uint8Array(count >> 2), new Uint8Array(count - (count >> 2))];
        await (s.remote as RemoteShardStore).fetchArrayInto(30n, 9n, enc('d'), enc(`a${i}`), { index, count }, into);
        asked += count;
        assert.ok(Buffer.concat(into).equals(Buffer.from(v.subarray(index))), `a${i} [${index}, +${count}) into the caller's buffers`);
      }));
      const region = s.client.sharedRegion;
      assert.ok(region !== undefined, 'this platform makes a region (tmpfs and the mmap binding)');
      assert.is(region!.freeSlots, SHM_SLOTS, 'every slot is given back once its reply was read');
    }
    const overSocket = rawReadStats.inPlaceBytes + rawReadStats.bufferedBytes - before;
    const named = s.seen.filter((x) => x.method === 'shard.fetchArray' && x.header.shm !== undefined).length;
    assert.ok(named >= 3 * SHM_SLOTS, `requests that named a slot: ${named}`);
    if (fast) assert.ok(overSocket < asked / 2, `with the engine's fast path most bytes skip the socket: ${overSocket} of ${asked}`);
    else assert.ok(overSocket >= asked, `without it every byte comes over the socket: ${overSocket} of ${asked}`);
  } finally { await s.close(); }
});

t('an engine maps only an unlinked region of the announced size holding the announced id, and only slots inside it', () => {
  const region = ShmRegion.create();
  assert.ok(region !== undefined);
  const slot = region!.take(128 * 1024)!;
  try {
    const good = slotView(slot.ref, 128 * 1024);
    assert.ok(good !== undefined, 'the slot as the client named it');
    good![7] = 99;
    assert.is(slot.view[7], 99, 'the engine writes the bytes the client reads');
    const bad: Array<[string, unknown, number]> = [
      ['another id', { ...slot.ref, id: 'ab'.repeat(16) }, 1024],
      ['past the end', { ...slot.ref, at: slot.ref.size - 1024 }, 4096],
      ['in the header', { ...slot.ref, at: 0 }, 1024],
      ['larger than a slot', slot.ref, SHM_SLOT_BYTES + 1],
      ['a file with a name', { ...slot.ref, fd: 0 }, 1024],
      ['not an object', 'x', 1024],
      ['another size', { ...slot.ref, size: slot.ref.size - SHM_SLOT_BYTES }, 1024],
    ];
    for (const [what, ref, n] of bad) assert.is(slotView(ref, n), undefined, what);
    assert.ok(SHM_HEADER_BYTES % 4096 === 0, 'slots are page-aligned');
  } finally { region!.give(slot); }
});

t.run();
