/**
 * The versioned store of a target, through `VosTarget` (one default container) and through
 * `TargetStore` + `ContainerStore` (many containers on one target): argument checking, replace
 * at an existing epoch, arrays, aggregation, discards, container isolation, ordered listings
 * across the memtable, a frozen memtable and many runs, space limits of both files, injected
 * media faults, concurrency with both data-file engines (buffered and durable), and what an open
 * costs (no replay after a clean close, runs not read, a bounded replay after a crash).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { FaultInjector } from '../../src/media/fault.js';
import {
  VosTarget, TargetStore, ContainerStore, VosError, MAX_EPOCH, MAX_KEY_SIZE, MAX_VALUE_SIZE, LIST_PAGE, type VosOptions, type KeyRange,
} from '../../src/vos/index.js';
import { MERGE_FANIN, ROTATE_FILL_MAX, ROTATE_FILL_MIN, staggeredRotateFill } from '../../src/vos/store.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { ioEngines } from './engines.js';
import { safe } from './safe.js';
import { code, collect, crashImage, dec, enc, failure, tmpDir } from './helpers.js';
import { ContainerModel, bytes, k } from './model.js';

const test = suite('vos target');
const KiB = 1024; const MiB = 1024 * KiB;
const WAL = 256 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: WAL, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('target'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) => a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

test('bad arguments and options give typed errors', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('a');
  const inv = async (p: Promise<unknown> | (() => unknown), what: string) => assert.is(await code(p), 'INVALID_ARGUMENT', what);
  await inv(t.updateSingle(0n, 1n, d, a, enc('x')), 'epoch 0 is reserved');
  await inv(t.updateSingle(-1n, 1n, d, a, enc('x')), 'negative epoch');
  await inv(t.updateSingle(1 as unknown as bigint, 1n, d, a, enc('x')), 'epoch not a bigint');
  await inv(t.updateSingle(1n << 64n, 1n, d, a, enc('x')), 'epoch past 2^64-1');
  await inv(t.updateSingle(1n, -1n, d, a, enc('x')), 'negative oid');
  await inv(t.updateSingle(1n, 1n << 192n, d, a, enc('x')), 'oid past 192 bits');
  await inv(t.updateSingle(1n, 1n, new Uint8Array(0), a, enc('x')), 'empty dkey');
  await inv(t.updateSingle(1n, 1n, 'd' as unknown as Uint8Array, a, enc('x')), 'dkey not bytes');
  await inv(t.updateSingle(1n, 1n, d, a, 'x' as unknown as Uint8Array), 'value not bytes');
  assert.is(await code(t.updateSingle(1n, 1n, new Uint8Array(MAX_KEY_SIZE + 1), a, enc('x'))), 'KEY_TOO_LARGE');
  assert.is(await code(t.updateSingle(1n, 1n, d, new Uint8Array(MAX_KEY_SIZE + 1), enc('x'))), 'KEY_TOO_LARGE');
  assert.is(await code(t.fetchSingle(1n, 1n, d, new Uint8Array(MAX_KEY_SIZE + 1))), 'KEY_TOO_LARGE');
  await t.updateSingle(1n, 1n, new Uint8Array(MAX_KEY_SIZE).fill(0), new Uint8Array(MAX_KEY_SIZE).fill(0), enc('longest keys'));
  assert.is(dec(await t.fetchSingle(1n, 1n, new Uint8Array(MAX_KEY_SIZE), new Uint8Array(MAX_KEY_SIZE))), 'longest keys');
  assert.is(await code(t.updateSingle(1n, 1n, d, a, new Uint8Array(MAX_VALUE_SIZE + 1))), 'VALUE_TOO_LARGE');
  assert.is(await code(t.updateArray(1n, 1n, d, a, { index: 0, count: MAX_VALUE_SIZE + 1 }, enc('x'))), 'VALUE_TOO_LARGE');
  assert.is(await code(t.fetchArray(1n, 1n, d, a, { index: 0, count: MAX_VALUE_SIZE + 1 })), 'VALUE_TOO_LARGE');
  await inv(t.updateArray(1n, 1n, d, a, { index: 0, count: 3 }, enc('xy')), 'data shorter than the extent');
  await inv(t.updateArray(1n, 1n, d, a, { index: -1, count: 1 }, enc('x')), 'negative index');
  await inv(t.updateArray(1n, 1n, d, a, { index: 0, count: 0 }, enc('')), 'empty extent');
  await inv(t.updateArray(1n, 1n, d, a, { index: 0.5, count: 1 }, enc('x')), 'fractional index');
  await inv(t.updateArray(1n, 1n, d, a, null as unknown as { index: number; count: number }, enc('x')), 'no recx');
  await inv(t.updateArray(1n, 1n, d, a, { index: 0, count: 1 }, enc('x'), { recordSize: 0 }), 'record size 0');
  await t.updateArray(1n, 1n, d, enc('arr'), { index: 0, count: 2 }, enc('abcd'), { recordSize: 2 });
  await inv(t.updateArray(2n, 1n, d, enc('arr'), { index: 0, count: 4 }, enc('abcd'), { recordSize: 1 }), 'record size is fixed per akey');
  await inv(t.aggregate(0n), 'aggregate upTo 0');
  await inv(t.aggregate(5n, 'x' as unknown as bigint[]), 'keep not an array');
  await inv(t.aggregate(5n, [-1n]), 'negative kept epoch');
  await inv(t.aggregate(5n, [], null as unknown as { wait: boolean }), 'aggregate options not an object');
  await inv(t.aggregate(5n, [], { wait: 'no' as unknown as boolean }), 'aggregate wait not a boolean');
  await inv(t.discard(-1n), 'negative discard epoch');
  await inv(collect(t.listDkeys(1n, 1n, { gt: 'a' as unknown as Uint8Array })), 'range bound not bytes');
  await inv(collect(t.listDkeys(1n, 1n, { limit: -1 })), 'negative limit');
  await inv(collect(t.listAkeys(1n, 1n, new Uint8Array(0))), 'empty dkey in a listing');
  await t.close();
  assert.is(await code(t.fetchSingle(1n, 1n, d, a)), 'CLOSED');
  assert.is(await code(t.updateSingle(1n, 1n, d, a, enc('x'))), 'CLOSED');
  assert.is(await code(collect(t.listDkeys(1n, 1n))), 'CLOSED');
  await t.close(); // idempotent

  // options
  const sub = (n: string) => path.join(dir, n);
  const small = await failure(VosTarget.open(sub('small'), { scmBytes: 1 * MiB, walBytes: WAL }));
  assert.is(small?.code, 'INVALID_ARGUMENT');
  const min = small!.info!.min as number;
  assert.ok(Number.isSafeInteger(min) && min > MiB, `the minimum is named (${min})`);
  assert.is(await code(VosTarget.open(sub('below'), { scmBytes: min - 1, walBytes: WAL })), 'INVALID_ARGUMENT', 'just below the minimum');
  const atMin = await VosTarget.open(sub('min'), { scmBytes: min, walBytes: WAL, dataBytes: MiB });
  await atMin.updateSingle(1n, 1n, d, a, enc('fits'));
  await atMin.close();
  await inv(VosTarget.open(sub('o1'), { scmBytes: 1.5 as unknown as number }), 'fractional scmBytes');
  await inv(VosTarget.open(sub('o2'), { ...BASE, dataBytes: 1000 }), 'dataBytes not whole blocks');
  await inv(VosTarget.open(sub('o3'), { ...BASE, inlineThreshold: 1 << 20 }), 'inline threshold too large');
  await inv(VosTarget.open(sub('o4'), { ...BASE, walBytes: 100 * KiB }), 'walBytes not whole chunks');
  await inv(VosTarget.open(sub('o5'), { ...BASE, rotateFill: 0.2 }), 'rotateFill below its range');
  await inv(VosTarget.open(sub('o6'), { ...BASE, rotateFill: 'x' as unknown as number }), 'rotateFill not a number');
  assert.is(await code(TargetStore.open(sub('absent'), { readOnly: true })), 'MISSING_FILE', 'a read-only open of nothing');
  // a destroyed container's store refuses work
  const ts = await TargetStore.open(sub('multi'), BASE);
  const c = new ContainerStore(ts, await ts.createContainer('c1'));
  await c.updateSingle(1n, 1n, d, a, enc('x'));
  await ts.destroyContainer('c1');
  assert.is(await code(c.fetchSingle(1n, 1n, d, a)), 'NOT_FOUND');
  assert.is(await code(c.updateSingle(2n, 1n, d, a, enc('y'))), 'NOT_FOUND');
  await ts.close();
}));

test('an update at an existing epoch replaces it (inline, data file, arrays), also after reopen; replaced blocks are freed', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  const d = enc('d');
  for (let i = 1; i <= 20; i++) await t.updateSingle(5n, 1n, d, enc('big'), new Uint8Array(9000).fill(i));
  for (let i = 1; i <= 20; i++) await t.updateSingle(5n, 1n, d, enc('small'), enc(`v${i}`));
  await t.updateSingle(4n, 1n, d, enc('big'), new Uint8Array(100).fill(4));
  assert.is((await t.fetchSingle(5n, 1n, d, enc('big')))![0], 20);
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('small'))), 'v20');
  assert.is((await t.fetchSingle(4n, 1n, d, enc('big')))![0], 4);
  await t.updateArray(6n, 1n, d, enc('x'), { index: 0, count: 4 }, enc('aaaa'));
  await t.updateArray(6n, 1n, d, enc('x'), { index: 2, count: 4 }, enc('bbbb'));
  assert.is(dec((await t.fetchArray(6n, 1n, d, enc('x'), { index: 0, count: 6 })).data), 'aabbbb');
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is((await t.fetchSingle(5n, 1n, d, enc('big')))![0], 20);
  assert.is(dec(await t.fetchSingle(5n, 1n, d, enc('small'))), 'v20');
  assert.is(dec((await t.fetchArray(6n, 1n, d, enc('x'), { index: 0, count: 6 })).data), 'aabbbb');
  assert.is(t.target.usage().dataUsed, 12 * KiB, 'only the last 9000-byte version holds blocks (3 of 4 KiB)');
  // replacing a version that is already in a run
  await t.updateSingle(5n, 1n, d, enc('big'), new Uint8Array(9000).fill(77));
  assert.is((await t.fetchSingle(5n, 1n, d, enc('big')))![0], 77);
  await t.aggregate(2n); // a full merge: the replaced version in the run goes
  assert.is((await t.fetchSingle(5n, 1n, d, enc('big')))![0], 77);
  assert.is(t.target.usage().dataUsed, 12 * KiB);
  await t.close();
}));

test('a background merge of runs keeps one single per epoch: a version replaced at its own epoch in an older run goes, its blocks freed', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  const ts = t.target;
  const d = enc('d');
  await t.updateSingle(5n, 1n, d, enc('big'), new Uint8Array(9000).fill(1));
  await ts.flushAll();
  await t.updateSingle(5n, 1n, d, enc('big'), new Uint8Array(9000).fill(2)); // replaces it at epoch 5, in a newer run
  await ts.flushAll();
  assert.is(ts.usage().dataUsed, 24 * KiB, 'both versions hold blocks while they sit in separate runs');
  const before = t.compactions;
  for (let i = 0; ts.runs.length < MERGE_FANIN && t.compactions === before; i++) { await t.updateSingle(6n, 1n, enc(`o${i}`), enc('a'), enc('x')); await ts.flushAll(); }
  await ts.idle();
  assert.ok(t.compactions > before, 'the background merge ran');
  assert.is(ts.runs.length, 1, 'one merged run');
  assert.is((await t.fetchSingle(5n, 1n, d, enc('big')))![0], 2);
  assert.is((await t.fetchSingle(MAX_EPOCH, 1n, d, enc('big')))![0], 2);
  assert.is(ts.usage().dataUsed, 12 * KiB, 'the replaced version\'s blocks are free after the merge');
  await t.close();
}));

test('rotateFill sets how full the log gets before a flush; a pool spreads its targets over the range', safe(async () => {
  const flushesAt = async (rotateFill: number) => {
    // flushes on the store's thread: a worker's first flush waits for it to start, and writers
    // meanwhile fill the region whatever the fill set (the rotation points under test move)
    const t = await VosTarget.open(path.join(dir, `fill-${rotateFill}`), { ...BASE, rotateFill, mergeWorker: false });
    for (let i = 0; i < 4000; i++) await t.updateSingle(1n, 1n, enc(`d${i}`), enc('a'), enc('v'));
    await t.target.idle();
    const n = t.target.flushes;
    for (let i = 0; i < 100; i++) await t.fetchSingle(1n, 1n, enc(`d${i * 37}`), enc('a')).then((v) => assert.is(dec(v), 'v'));
    await t.close();
    return n;
  };
  const low = await flushesAt(ROTATE_FILL_MIN); const high = await flushesAt(ROTATE_FILL_MAX);
  assert.ok(low > high && high >= 1, `a lower fill flushes more often (${low} flushes at ${ROTATE_FILL_MIN}, ${high} at ${ROTATE_FILL_MAX})`);
  const fills = Array.from({ length: 64 }, (_, i) => staggeredRotateFill(i));
  assert.ok(fills.every((f) => f >= ROTATE_FILL_MIN && f <= ROTATE_FILL_MAX), 'every fill in range');
  assert.is(new Set(fills.map((f) => f.toFixed(4))).size, 64, 'no two targets of 64 share a fill');
  const sorted = fills.slice(0, 16).sort((a, b) => a - b);
  const maxGap = Math.max(...sorted.slice(1).map((f, i) => f - sorted[i]!));
  assert.ok(maxGap < (ROTATE_FILL_MAX - ROTATE_FILL_MIN) / 4, `16 targets cover the range evenly (largest gap ${maxGap.toFixed(3)})`);
}));

test('log regions by default: 4 MiB for a lone target, smaller when the cap or the resident budget is small; a reopen keeps the size it was made with', safe(async () => {
  const walOf = async (name: string, opts: VosOptions) => {
    const t = await VosTarget.open(path.join(dir, name), { io: 'pread', dataBytes: 16 * MiB, ...opts });
    const wal = t.target.geo.walBytes;
    await t.close();
    return wal;
  };
  assert.is(await walOf('lone', { scmBytes: 64 * MiB }), 4 * MiB, 'cap 64 MiB, default resident budget (32 MiB): 4 MiB');
  assert.is(await walOf('cap32', { scmBytes: 32 * MiB }), 1 * MiB, 'cap 32 MiB: 1 MiB');
  assert.is(await walOf('cap8', { scmBytes: 8 * MiB }), 256 * KiB, 'cap 8 MiB: 256 KiB');
  // a 16-target pool with the default 256 MiB cache gives each target 16 MiB: the file's half (8 MiB) holds two 1 MiB regions
  assert.is(await walOf('pooled', { scmBytes: 1024 * MiB, residentBytes: 16 * MiB }), 1 * MiB, '16 MiB resident budget: 1 MiB');
  assert.is(await walOf('small-budget', { scmBytes: 1024 * MiB, residentBytes: 2 * MiB }), 256 * KiB, '2 MiB resident budget: 256 KiB');
  assert.is(await walOf('asked', { scmBytes: 64 * MiB, walBytes: 512 * KiB }), 512 * KiB, 'walBytes given: kept');
  assert.is(await walOf('lone', { scmBytes: 64 * MiB, residentBytes: 2 * MiB }), 4 * MiB, 'reopened with a smaller budget: the geometry on disk');
}));

test('values from 4 KiB live in the data file: written at once (durable: synced with their group before the record), an async write when large', safe(async () => {
  for (const durable of [false, true]) {
    const t = await VosTarget.open(dir, { ...BASE, durable });
    const ts = t.target;
    const v = (i: number, n: number) => new Uint8Array(n).fill(i & 0xff);
    assert.is(ts.inlineThreshold, 4095, 'values below 4 KiB stay in the pmem file by default');
    await t.updateSingle(1n, 1n, enc('small'), enc('a'), v(1, 4095));
    assert.is(ts.usage().dataUsed, 0, 'a 4095-byte value is inline');
    await t.updateSingle(1n, 1n, enc('d'), enc('a'), v(2, 4096));
    assert.is(ts.usage().dataUsed, 4096, 'a 4 KiB value has its extent');
    const onDisk = () => { const b = Buffer.alloc(4096); const fd = fs.openSync(path.join(dir, 'vos.data'), 'r'); fs.readSync(fd, b, 0, 4096, 0); fs.closeSync(fd); return b[0]; };
    assert.is(onDisk(), 2, 'in the data file when acknowledged');
    assert.ok(same(await t.fetchSingle(1n, 1n, enc('d'), enc('a')), v(2, 4096)), 'read back before the flush');
    // replaced at its own epoch before the flush: the replaced extent comes back
    await t.updateSingle(1n, 1n, enc('d'), enc('a'), v(3, 5000));
    await t.updateSingle(2n, 1n, enc('big'), enc('a'), v(4, 96 * KiB)); // above SYNC_WRITE_MAX_BYTES: an async write
    await ts.flushAll();
    assert.is(ts.usage().dataUsed, 8192 + 96 * KiB, 'the replaced extent is free after the flush');
    for (const [dk, e, want] of [['small', 1n, v(1, 4095)], ['d', 1n, v(3, 5000)], ['big', 2n, v(4, 96 * KiB)]] as const) {
      assert.ok(same(await t.fetchSingle(e, 1n, enc(dk), enc('a')), want), `${dk} after the flush (durable ${durable})`);
    }
    await t.close();
    const r = await VosTarget.open(dir, { ...BASE, durable });
    assert.ok(same(await r.fetchSingle(1n, 1n, enc('d'), enc('a')), v(3, 5000)), 'after reopen');
    assert.ok(same(await r.fetchSingle(2n, 1n, enc('big'), enc('a')), v(4, 96 * KiB)), 'large after reopen');
    assert.is(r.target.usage().dataUsed, 8192 + 96 * KiB, 'nothing leaked');
    await r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('deferSync: a durable store acknowledges updates without a sync; flush() and every memtable flush sync the data file', safe(async () => {
  const syncs = (ts: TargetStore) => { const box = { n: 0 }; const real = ts.dev.sync.bind(ts.dev); ts.dev.sync = () => { box.n++; return real(); }; return box; };
  const v = (i: number) => new Uint8Array(4096).fill(i & 0xff);
  const eager = await VosTarget.open(dir, { ...BASE, durable: true });
  const es = syncs(eager.target);
  for (let i = 0; i < 20; i++) await eager.updateSingle(1n, 1n, enc(`d${i}`), enc('a'), v(i));
  assert.ok(es.n > 0, 'durable: each group of updates syncs the data file');
  await eager.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const t = await VosTarget.open(dir, { ...BASE, durable: true, deferSync: true });
  const n = syncs(t.target);
  for (let i = 0; i < 20; i++) await t.updateSingle(1n, 1n, enc(`d${i}`), enc('a'), v(i));
  await t.punchDkey(2n, 1n, enc('d0'));
  assert.is(n.n, 0, 'deferSync: no sync per update or punch');
  await t.target.flush();
  assert.is(n.n, 1, 'flush() is the checkpoint: one sync');
  for (let i = 20; i < 40; i++) await t.updateSingle(3n, 1n, enc(`d${i}`), enc('a'), v(i));
  const before = n.n;
  await t.target.flushAll();
  assert.ok(n.n > before, 'a memtable flush syncs the data file before its run is committed');
  await t.close();
  const r = await VosTarget.open(dir, { ...BASE, durable: true, deferSync: true });
  for (let i = 1; i < 40; i++) assert.ok(same(await r.fetchSingle(3n, 1n, enc(`d${i}`), enc('a')), v(i)), `d${i} after reopen`);
  assert.is(await r.fetchSingle(3n, 1n, enc('d0'), enc('a')), undefined, 'the punch after reopen');
  await r.close();
}));

test('flushes and merges on worker threads write what the store\'s own thread writes; a punch, a replaced single and aggregation included', safe(async () => {
  const stores: VosTarget[] = [];
  for (const mergeWorker of [true, false]) {
    if (mergeWorker) for (const lane of ['flush', 'merge'] as const) assert.ok(await mergeWorkers()!.ready(lane), `the ${lane} lane started`); // (a job goes to a lane once it is up)
    const t = await VosTarget.open(path.join(dir, String(mergeWorker)), { ...BASE, mergeWorker, ...(mergeWorker ? { mergeOnWorkerBytes: 0 } : {}) }); // (0: even these small merges go to a worker)
    stores.push(t);
    const rng = new Rng(7);
    for (let i = 0; i < 6000; i++) {
      const oid = BigInt(1 + rng.int(300)); const e = BigInt(1 + (i >> 6));
      if (i % 97 === 0) await t.punchDkey(e, oid, enc(`d${rng.int(4)}`));
      else await t.updateSingle(e, oid, enc(`d${rng.int(4)}`), enc(`a${rng.int(3)}`), i % 50 === 0 ? new Uint8Array(5000).fill(i & 0xff) : enc(`v${i}`));
      if (i === 4000) await t.aggregate(30n);
    }
    await t.target.idle();
    if (mergeWorker) assert.ok(t.target.workerJobs > 0 && t.compactions > 0, `flushes and merges ran on workers (${t.target.workerJobs})`);
    else assert.is(t.target.workerJobs, 0, 'all on the store\'s thread');
  }
  const [a, b] = stores as [VosTarget, VosTarget];
  for (const epoch of [20n, 60n, MAX_EPOCH]) {
    for (let o = 1n; o <= 300n; o++) {
      for (let d = 0; d < 4; d++) for (let x = 0; x < 3; x++) {
        const args = [epoch, o, enc(`d${d}`), enc(`a${x}`)] as const;
        const [va, vb] = [await a.fetchSingle(...args), await b.fetchSingle(...args)];
        assert.ok(va === vb || same(va, vb), `oid ${o} d${d} a${x} at ${epoch}`);
      }
      assert.equal((await collect(a.listDkeys(epoch, o))).map(dec), (await collect(b.listDkeys(epoch, o))).map(dec), `dkeys of ${o}`);
    }
  }
  assert.is(a.target.usage().dataUsed, b.target.usage().dataUsed, 'the same data blocks freed');
  for (const t of stores) await t.close();
}));

test('a run entry flags inline bytes that matched their checksum on the way in (reads then skip a second hash); a mismatch is never flagged', safe(async () => {
  const { encodeVersion, decodeVersion } = await import('../../src/vos/merge.js');
  const { xxh64, initXxhash } = await import('../../core/xxhash.js');
  const { CSUM_SEED } = await import('../../src/vos/constants.js');
  await initXxhash();
  const bytes = enc('a small value');
  const v = { epoch: 3n, seq: 9, csum: xxh64(bytes, CSUM_SEED), len: bytes.length, where: 0, loc: 0, alloc: 0, index: 0, count: 0, recordSize: 0 } as const;
  const good = decodeVersion(encodeVersion({ ...v }, bytes), 3n, 9, true)!;
  assert.is(good.checked, true, 'bytes that match are flagged');
  assert.ok(same(good.inline, bytes));
  const flipped = bytes.slice(); flipped[2]! ^= 1;
  const bad = decodeVersion(encodeVersion({ ...v }, flipped), 3n, 9, true)!;
  assert.is(bad.checked, undefined, 'a flipped byte is not flagged: the read that meets it hashes and reports it');
  const again = decodeVersion(encodeVersion(good, good.inline), 3n, 9, true)!;
  assert.is(again.checked, true, 'a merge carries the flag of bytes from a verified block');
  // end to end: the flagged value reads back, before and after a reopen
  const t = await VosTarget.open(dir, BASE);
  await t.updateSingle(1n, 1n, enc('d'), enc('a'), bytes);
  await t.target.flushAll();
  assert.ok(same(await t.fetchSingle(1n, 1n, enc('d'), enc('a')), bytes));
  await t.close();
}));

test('arrays: record size fixed per akey, holes absent unless asked, listRecx merges extents across memtable and runs', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('arr');
  await t.updateArray(1n, 9n, d, a, { index: 10, count: 2 }, enc('AAAABBBB'), { recordSize: 4 });
  await t.close();
  t = await VosTarget.open(dir, BASE); // the first extent is in a run now
  assert.is(await code(t.updateArray(2n, 9n, d, a, { index: 0, count: 1 }, enc('xy'), { recordSize: 2 })), 'INVALID_ARGUMENT', 'record size remembered from a run');
  await t.updateArray(2n, 9n, d, a, { index: 11, count: 2 }, enc('CCCCDDDD')); // record size 4 inherited
  const r = await t.fetchArray(2n, 9n, d, a, { index: 9, count: 5 });
  assert.is(r.data.length, 20);
  assert.equal(r.present, [{ index: 10, count: 3 }]);
  assert.is(dec(r.data.subarray(4, 16)), 'AAAACCCCDDDD');
  assert.ok(r.data.subarray(0, 4).every((x) => x === 0) && r.data.subarray(16).every((x) => x === 0), 'holes read as zeros');
  const z = await t.fetchArray(2n, 9n, d, a, { index: 9, count: 5 }, { holesAsZero: true });
  assert.equal(z.present, [{ index: 9, count: 5 }]);
  assert.equal((await t.fetchArray(1n, 9n, d, a, { index: 10, count: 3 })).present, [{ index: 10, count: 2 }], 'at epoch 1 only the first extent');
  assert.equal((await t.fetchArray(2n, 9n, d, a, { index: 100, count: 3 })).present, [], 'beyond every extent');
  assert.equal(await collect(t.listRecx(2n, 9n, d, a)), [{ index: 10, count: 1, epoch: 1n }, { index: 11, count: 2, epoch: 2n }]);
  // an extent written in pieces by one epoch is listed as one
  await t.updateArray(3n, 9n, d, a, { index: 20, count: 1 }, enc('EEEE'));
  await t.updateArray(3n, 9n, d, a, { index: 21, count: 1 }, enc('FFFF'));
  assert.equal(await collect(t.listRecx(3n, 9n, d, a)), [
    { index: 10, count: 1, epoch: 1n }, { index: 11, count: 2, epoch: 2n }, { index: 20, count: 1, epoch: 3n }, { index: 21, count: 1, epoch: 3n },
  ]);
  assert.is(await t.akeyKind(2n, 9n, d, a), 'array');
  assert.is(await t.akeyKind(0n, 9n, d, a), undefined);
  await t.updateSingle(3n, 9n, d, enc('sv'), enc('one'));
  assert.is(await t.akeyKind(3n, 9n, d, enc('sv')), 'single');
  assert.equal((await collect(t.listAkeys(3n, 9n, d))).map(dec), ['arr', 'sv']);
  await t.punchAkey(4n, 9n, d, a);
  assert.equal(await collect(t.listRecx(4n, 9n, d, a)), []);
  assert.equal((await collect(t.listAkeys(4n, 9n, d))).map(dec), ['sv']);
  assert.is((await collect(t.listRecx(3n, 9n, d, a))).length, 4, 'history before the punch kept');
  await t.close();
}));

test('aggregation keeps what kept epochs need and frees the rest', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('a'); const x = enc('x');
  for (let e = 1; e <= 10; e++) {
    await t.updateSingle(BigInt(e), 1n, d, a, new Uint8Array(5000).fill(e));
    await t.updateArray(BigInt(e), 1n, d, x, { index: e, count: 20 }, new Uint8Array(20).fill(e));
    await t.updateSingle(BigInt(e), 2n, enc(`d${e}`), a, enc(`small ${e}`));
    if (e === 5) { await t.close(); t = await VosTarget.open(dir, BASE); } // half the history in a run
  }
  await t.punchDkey(4n, 2n, enc('d2'));
  const views = [3n, 7n, 9n, 10n, 11n, MAX_EPOCH];
  const snapshot = async () => Promise.all(views.map(async (e) => ({
    single: await t.fetchSingle(e, 1n, d, a),
    array: await t.fetchArray(e, 1n, d, x, { index: 0, count: 40 }),
    recx: await collect(t.listRecx(e, 1n, d, x)),
    dkeys: (await collect(t.listDkeys(e, 2n))).map(dec),
    objects: await collect(t.listObjects(e)),
  })));
  const before = await snapshot();
  const used = t.target.usage().dataUsed;
  const stats = await t.aggregate(10n, [3n, 7n]);
  assert.ok(stats.compacted);
  assert.ok(stats.versionsRemoved >= 6, JSON.stringify(stats));
  assert.is(stats.dataBytesFreed, 6 * 8 * KiB, 'the 5000-byte versions at 1, 2, 4, 5, 6 and 8 freed (3, 7 and 9 are seen by kept views)');
  assert.is(t.target.usage().dataUsed, used - stats.dataBytesFreed);
  assert.equal(await snapshot(), before, 'every kept view and every view >= upTo - 1 reads the same');
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.equal(await snapshot(), before, 'also after reopen');
  // punch + aggregate removes everything below the punch
  await t.punchObject(11n, 1n);
  assert.equal(await collect(t.listObjects(MAX_EPOCH)), [2n]);
  assert.equal(await collect(t.listObjects(10n)), [1n, 2n]);
  await t.aggregate(20n);
  assert.is(t.target.usage().dataUsed, 0, 'every block freed');
  assert.is(await t.fetchSingle(10n, 1n, d, a), undefined, 'unkept history is gone');
  assert.equal(await collect(t.listObjectIds()), [1n, 2n], 'the object table still names both');
  assert.equal((await collect(t.listDkeys(MAX_EPOCH, 2n))).length, 9);
  await t.close();
}));

test('discard drops (after, upTo], in the memtable and in runs, also after reopen and past many discards', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  const d = enc('d');
  for (let e = 1; e <= 6; e++) await t.updateSingle(BigInt(e), 1n, d, enc('a'), enc(`v${e}`));
  await t.punchAkey(5n, 1n, d, enc('a'));
  await t.discard(3n);
  assert.is(t.queryMaxEpoch(), 3n);
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('a'))), 'v3');
  await t.updateSingle(4n, 1n, d, enc('a'), enc('new4'));
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('a'))), 'new4', 'a write after the discard at a discarded epoch stays');
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('a'))), 'new4');
  assert.is(dec(await t.fetchSingle(3n, 1n, d, enc('a'))), 'v3');
  assert.is(t.queryMaxEpoch(), 4n);
  // a ranged discard of versions that are in a run
  for (const e of [5n, 6n, 7n]) await t.updateSingle(e, 1n, d, enc('b'), enc(`b${e}`));
  await t.close();
  t = await VosTarget.open(dir, BASE);
  await t.discard(5n, 6n);
  assert.is(dec(await t.fetchSingle(6n, 1n, d, enc('b'))), 'b5');
  assert.is(dec(await t.fetchSingle(7n, 1n, d, enc('b'))), 'b7');
  assert.is(t.queryMaxEpoch(), 7n);
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is(dec(await t.fetchSingle(6n, 1n, d, enc('b'))), 'b5');
  assert.is(dec(await t.fetchSingle(7n, 1n, d, enc('b'))), 'b7');
  // more discards than the store keeps before merging them into the runs, while discarded
  // versions are still in the memtable: they stay discarded
  await t.updateSingle(20n, 1n, d, enc('c'), enc('c20'));
  await t.updateSingle(30n, 1n, d, enc('c'), enc('c30'));
  await t.discard(25n);
  for (let i = 0; i < 40; i++) await t.discard(1000n + BigInt(i), 1000n + BigInt(i));
  await t.aggregate(2n); // and a full merge on top
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('c'))), 'c20');
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 1n, d, enc('c'))), 'c20');
  assert.is(dec(await t.fetchSingle(7n, 1n, d, enc('b'))), 'b7');
  await t.close();
}));

test('several containers on one target are isolated; a destroyed one gives its space back', safe(async () => {
  let ts = await TargetStore.open(dir, BASE);
  const names = ['alpha', 'beta', 'gamma'];
  let cs = await Promise.all(names.map(async (n) => new ContainerStore(ts, await ts.createContainer(n))));
  const value = (c: number, i: number) => new Uint8Array(i % 2 ? 6000 : 100).fill(c * 16 + (i % 16));
  for (let i = 0; i < 60; i++) {
    for (let c = 0; c < 3; c++) await cs[c]!.updateSingle(BigInt(i + 1), BigInt(i % 3), enc(`d${i % 7}`), enc(`a${i}`), value(c, i));
  }
  await cs[1]!.punchObject(100n, 0n);
  await cs[2]!.discard(30n);
  const check = async (c: number, live: boolean) => {
    const s = cs[c]!;
    for (let i = 0; i < 60; i++) {
      const got = await s.fetchSingle(MAX_EPOCH, BigInt(i % 3), enc(`d${i % 7}`), enc(`a${i}`));
      const gone = (c === 1 && i % 3 === 0) || (c === 2 && i + 1 > 30);
      if (!live || gone) assert.is(got, undefined, `container ${c} key ${i}`);
      else assert.ok(same(got, value(c, i)), `container ${c} key ${i}`);
    }
  };
  for (let c = 0; c < 3; c++) await check(c, true);
  assert.equal(await collect(cs[0]!.listObjects(MAX_EPOCH)), [0n, 1n, 2n]);
  assert.equal(await collect(cs[1]!.listObjects(MAX_EPOCH)), [1n, 2n]);
  assert.is(cs[2]!.queryMaxEpoch(), 30n);
  assert.is(cs[0]!.queryMaxEpoch(), 60n);
  const perContainer = ts.usage().dataUsed / 3;
  await ts.close();
  ts = await TargetStore.open(dir, BASE);
  assert.equal(ts.containerUuids().sort(), names);
  cs = names.map((n) => new ContainerStore(ts, ts.byUuid.get(n)!));
  for (let c = 0; c < 3; c++) await check(c, true);
  await ts.destroyContainer('beta');
  await check(0, true); await check(2, true);
  assert.is(await code(cs[1]!.fetchSingle(1n, 1n, enc('d1'), enc('a1'))), 'NOT_FOUND');
  const scmBefore = ts.usage().scmUsed;
  await cs[0]!.aggregate(2n); // a full merge
  assert.ok(ts.usage().dataUsed <= 2 * perContainer + 1, `the destroyed container's blocks are free (${ts.usage().dataUsed} of ${3 * perContainer})`);
  assert.ok(ts.usage().scmUsed <= scmBefore, 'and its index entries');
  await check(0, true); await check(2, true);
  await ts.close();
  ts = await TargetStore.open(dir, BASE);
  assert.equal(ts.containerUuids().sort(), ['alpha', 'gamma']);
  const again = new ContainerStore(ts, await ts.createContainer('beta'));
  assert.equal(await collect(again.listObjectIds()), [], 'a container created again with the same uuid starts empty');
  assert.is(await again.fetchSingle(MAX_EPOCH, 1n, enc('d1'), enc('a1')), undefined);
  await ts.close();
}));

/** Keys that stress the key encoding: zero and 0xff bytes, prefixes of each other, lengths 1..12. */
function keyPool(rng: Rng, n: number): string[] {
  const out = new Set<string>();
  while (out.size < n) {
    const len = 1 + rng.int(rng.chance(0.2) ? 12 : 4);
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) { const r = rng.float(); b[i] = r < 0.15 ? 0 : r < 0.25 ? 0xff : r < 0.35 ? 1 : 0x61 + rng.int(4); }
    out.add(k(b));
    if (rng.chance(0.2)) out.add(k(b.subarray(0, Math.max(1, len - 1))));
    if (rng.chance(0.1)) out.add(k(new Uint8Array([...b, 0])));
  }
  return [...out];
}

test('listings match a sorted model across the memtable, a frozen memtable and many runs', safe(async () => {
  const t = await VosTarget.open(dir, { ...BASE, inlineThreshold: 256 });
  const rng = new Rng(77);
  const m = new ContainerModel();
  const oids = [5n, 9n, 1n << 100n];
  const dkeys = keyPool(rng, 700);
  const akeys = ['a', 'b', '\u0000', 'b\u0000', 'zz'];
  let writes = 0;
  const write = async () => {
    const oid = rng.pick(oids); const dkey = rng.pick(dkeys); const akey = rng.pick(akeys); const e = BigInt(1 + rng.int(60));
    const r = rng.float();
    if (r < 0.9) {
      const v = rng.bytes(20 + rng.int(rng.chance(0.1) ? 600 : 120));
      await t.updateSingle(e, oid, bytes(dkey), bytes(akey), v); m.updateSingle(e, oid, dkey, akey, v);
    } else if (r < 0.95) {
      await t.punchDkey(e, oid, bytes(dkey)); m.punchDkey(e, oid, dkey);
    } else if (r < 0.99) {
      await t.punchAkey(e, oid, bytes(dkey), bytes(akey)); m.punchAkey(e, oid, dkey, akey);
    } else {
      await t.punchObject(e, oid); m.punchObject(e, oid);
    }
    writes++;
  };
  const ranges = (): KeyRange[] => {
    const bound = () => (rng.chance(0.7) ? bytes(rng.pick(dkeys)) : rng.bytes(1 + rng.int(3)));
    const out: KeyRange[] = [{}, { limit: 0 }, { limit: 1 }, { reverse: true, limit: LIST_PAGE + 3 }];
    for (let i = 0; i < 5; i++) {
      const r: KeyRange = {};
      if (rng.chance(0.5)) r[rng.chance(0.5) ? 'gt' : 'gte'] = bound();
      if (rng.chance(0.5)) r[rng.chance(0.5) ? 'lt' : 'lte'] = bound();
      if (rng.chance(0.4)) r.reverse = true;
      if (rng.chance(0.3)) r.limit = rng.int(50);
      out.push(r);
    }
    return out;
  };
  const checkAll = async (label: string) => {
    const epochs = [MAX_EPOCH, BigInt(1 + rng.int(60))];
    const jobs: Array<Promise<void>> = [];
    // started together: the first page of every listing is computed before a running flush ends
    for (const e of epochs) {
      jobs.push(collect(t.listObjects(e)).then((got) => assert.equal(got, m.listObjects(e), `${label}: listObjects @${e}`)));
      for (const oid of oids) {
        for (const r of ranges()) {
          jobs.push(collect(t.listDkeys(e, oid, r)).then((got) => assert.equal(got.map(k), m.listDkeys(e, oid, r), `${label}: listDkeys ${oid} @${e} ${JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`)));
        }
        for (let i = 0; i < 3; i++) {
          const dkey = rng.pick(dkeys);
          jobs.push(collect(t.listAkeys(e, oid, bytes(dkey))).then((got) => assert.equal(got.map(k), m.listAkeys(e, oid, dkey), `${label}: listAkeys @${e}`)));
        }
      }
    }
    jobs.push(collect(t.listObjectIds()).then((got) => assert.equal(got, m.listObjectIds(), `${label}: listObjectIds`)));
    await Promise.all(jobs);
  };
  let sawFrozen = 0;
  let checkedFor = -1;
  while (t.target.flushes < MERGE_FANIN + 2) { // enough runs for a merge of one tier
    await write();
    if (t.target.frozen && t.target.flushes !== checkedFor && t.target.flushes % 2 === 1) { // a flush is running: check while it is
      checkedFor = t.target.flushes;
      sawFrozen++;
      await checkAll(`frozen ${sawFrozen} after ${writes} writes`);
    }
  }
  await checkAll('memtable + runs');
  await t.target.idle(); // the merge of that tier runs in the background (on a worker): wait for it
  await checkAll('after the merge');
  assert.ok(sawFrozen >= 3, `checked ${sawFrozen} times while a memtable was frozen`);
  assert.ok(t.target.runs.length >= 2 || t.compactions > 0, `runs: ${t.target.runs.length}, merges: ${t.compactions}`);
  assert.ok(t.compactions >= 1, 'runs were merged');
  await t.close();
  const r = await VosTarget.open(dir, BASE); // everything in runs now
  for (const oid of oids) {
    assert.equal((await collect(r.listDkeys(MAX_EPOCH, oid))).map(k), m.listDkeys(MAX_EPOCH, oid), 'after reopen');
    assert.equal((await collect(r.listDkeys(40n, oid, { reverse: true, limit: 300 }))).map(k), m.listDkeys(40n, oid, { reverse: true, limit: 300 }), 'after reopen, reverse');
  }
  await r.close();
}));

test('the pmem file grows from one segment by whole segments; NO_SPACE only at its cap; nothing acknowledged lost; writable again after punch + aggregate', safe(async () => {
  const opts: VosOptions = { scmBytes: 8 * MiB, dataBytes: 8 * MiB, walBytes: WAL, io: 'pread' };
  let t = await VosTarget.open(dir, opts);
  const seg = t.target.space.segmentBytes;
  assert.is(fs.statSync(path.join(dir, 'vos.scm')).size % seg, 0);
  assert.ok(fs.statSync(path.join(dir, 'vos.scm')).size <= 4 * seg, 'a new target does not take its cap');
  // sizes seen: after open (before any write: the first write's growth does not depend on timing), then after every write
  const sizes = new Set<number>([t.target.usage().scmFile]);
  let n = 0;
  const put = async (): Promise<string | undefined> => {
    const e = await code(t.updateSingle(1n, 1n, enc(`d${n % 13}`), enc(`key-${n}`), new Uint8Array(200).fill(n & 0xff)));
    if (!e) n++;
    sizes.add(t.target.usage().scmFile);
    return e;
  };
  // A flush or merge running in the background (worker threads, merges at low priority) holds
  // chunks it took ahead and frees chunks when it commits, so a write refused while one runs may
  // fit once it ends: the target is full when a write meets NO_SPACE with nothing running.
  let passes = 0;
  for (;;) {
    let err: string | undefined;
    while (!err) err = await put();
    assert.is(err, 'NO_SPACE');
    assert.is(t.target.usage().scmFile, 8 * MiB, 'NO_SPACE comes only once the file is at its cap');
    await t.target.idle();
    if ((err = await put()) === 'NO_SPACE') break;
    assert.ok(++passes < 100, `the target fills up (${n} values written)`);
  }
  const sorted = [...sizes].sort((a, b) => a - b);
  assert.ok(sorted.length >= 3 && sorted[sorted.length - 1] === 8 * MiB, `grew in steps up to its cap (${sorted.join(', ')})`);
  for (const s of sizes) assert.is(s % seg, 0, 'whole segments');
  assert.ok(n > 2000, `wrote ${n} values before the cap`);
  for (let i = 0; i < n; i += 11) assert.is((await t.fetchSingle(1n, 1n, enc(`d${i % 13}`), enc(`key-${i}`)))![0], i & 0xff, `key ${i}`);
  assert.is(await code(t.updateSingle(1n, 1n, enc('d0'), enc('more'), enc('x'))), 'NO_SPACE', 'still full');
  // full and closed: it opens again (its log replays into a run), nothing lost
  await t.close();
  t = await VosTarget.open(dir, opts);
  assert.is(t.openReport.damage, undefined);
  for (let i = 0; i < n; i += 7) assert.is((await t.fetchSingle(1n, 1n, enc(`d${i % 13}`), enc(`key-${i}`)))![0], i & 0xff, `key ${i} after reopen`);
  for (let dk = 0; dk < 13; dk++) await t.punchDkey(2n, 1n, enc(`d${dk}`));
  const stats = await t.aggregate(3n);
  assert.ok(stats.versionsRemoved >= n, JSON.stringify(stats));
  assert.ok(stats.scmBytesFreed > 0);
  for (let i = 0; i < 500; i++) await t.updateSingle(4n, 1n, enc('d2'), enc(`k${i}`), new Uint8Array(200).fill(i & 0xff));
  await t.close();
  t = await VosTarget.open(dir, opts);
  assert.is(t.openReport.damage, undefined);
  assert.is((await t.fetchSingle(4n, 1n, enc('d2'), enc('k499')))![0], 499 & 0xff);
  assert.is(await t.fetchSingle(4n, 1n, enc('d0'), enc('key-0')), undefined);
  assert.equal((await t.scrub()).bad, []);
  await t.close();
}));

test('a merge of runs smaller than mergeOnWorkerBytes runs on the store\'s thread; 0 sends it to a worker; the results are the same; bad values are INVALID_ARGUMENT', safe(async () => {
  assert.ok(await mergeWorkers()!.ready('merge'), 'the merge lane started');
  const jobs: number[] = [];
  const reads: string[][] = [];
  for (const mergeOnWorkerBytes of [undefined, 0]) {
    const t = await VosTarget.open(path.join(dir, `mow-${mergeOnWorkerBytes}`), { ...BASE, ...(mergeOnWorkerBytes === undefined ? {} : { mergeOnWorkerBytes }) });
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < 50; i++) await t.updateSingle(BigInt(r + 1), BigInt(1 + (i % 7)), enc(`d${i}`), enc('a'), enc(`v${r}-${i}`));
      await t.target.flushAll();
    }
    assert.ok(t.target.runs.length >= 2, 'several small runs');
    const before = t.target.workerJobs;
    await t.aggregate(2n); // flush + a merge of every run
    jobs.push(t.target.workerJobs - before);
    const out: string[] = [];
    for (let e = 1n; e <= 3n; e++) for (let i = 0; i < 50; i++) out.push(dec(await t.fetchSingle(e, BigInt(1 + (i % 7)), enc(`d${i}`), enc('a'))) ?? '-');
    reads.push(out);
    await t.close();
  }
  assert.is(jobs[0], 0, 'default: the small merge ran here');
  assert.ok(jobs[1]! >= 1, `mergeOnWorkerBytes 0: it ran on a worker (${jobs[1]})`);
  assert.equal(reads[0], reads[1], 'the same reads either way');
  for (const bad of [-1, 1.5, Number.NaN]) assert.is(await code(VosTarget.open(path.join(dir, 'mow-bad'), { ...BASE, mergeOnWorkerBytes: bad })), 'INVALID_ARGUMENT', `mergeOnWorkerBytes ${bad}`);
}));

test('aggregate({ wait: false }) folds on a worker (runs above foldOnWorkerBytes) or on the store\'s thread in steps, reads the same meanwhile and ends in the same state as an awaited aggregation (with and without workers)', safe(async () => {
  const modes = [{ mergeWorker: true, wait: true }, { mergeWorker: false, wait: true }, { mergeWorker: true, wait: false }, { mergeWorker: true, wait: false, foldOnWorkerBytes: 0 }] as const;
  assert.ok(await mergeWorkers()!.ready('flush'), 'the flush lane started'); // (folds go to it once it has)
  const stores = await Promise.all(modes.map((m, i) => VosTarget.open(path.join(dir, String(i)), { ...BASE, mergeWorker: m.mergeWorker, ...('foldOnWorkerBytes' in m ? { foldOnWorkerBytes: m.foldOnWorkerBytes } : {}) })));
  const [ref] = stores as [VosTarget, VosTarget, VosTarget, VosTarget];
  const removed = [0, 0, 0, 0];
  const rng = new Rng(11);
  const value = (i: number) => (i % 3 === 0 ? new Uint8Array(5000).fill(i & 0xff) : enc(`v${i}`));
  const readAll = async (t: VosTarget, epoch: bigint) => {
    const out: Array<string | undefined> = [];
    for (let o = 1n; o <= 40n; o++) for (let d = 0; d < 5; d++) { const v = await t.fetchSingle(epoch, o, enc(`d${d}`), enc('a')); out.push(v && Buffer.from(v).toString('hex')); }
    return out;
  };
  let epoch = 0n;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 1500; i++) {
      const o = BigInt(1 + rng.int(40)); const d = `d${rng.int(5)}`; const e = ++epoch; const v = value(i);
      for (const t of stores) await t.updateSingle(e, o, enc(d), enc('a'), v);
    }
    const upTo = epoch - 200n; const keep = [upTo - 700n];
    for (const [i, t] of stores.entries()) {
      if (modes[i]!.wait) removed[i]! += (await t.aggregate(upTo, keep)).versionsRemoved;
      else assert.is((await t.aggregate(upTo, keep, { wait: false })).compacted, false, 'answers before the work is done');
    }
    // what a permitted read sees is the same whether the aggregation is done, running or not begun
    for (const e of [keep[0]!, upTo, epoch - 50n, MAX_EPOCH]) {
      const want = await readAll(ref, e);
      for (const t of stores.slice(1)) assert.equal(await readAll(t, e), want, `round ${round}: reads at ${e}`);
    }
  }
  for (const t of stores) await t.target.idle();
  for (const i of [2, 3]) {
    const bg = stores[i]!.target.aggregatedInBackground;
    assert.ok(bg.aggregations >= 1 && bg.aggregations <= 6, `background aggregations ran (${bg.aggregations}; a request made while one runs replaces the one waiting)`);
    removed[i] = bg.versionsRemoved;
  }
  assert.ok(removed[0]! > 1000, `versions were aggregated away (${removed[0]})`);
  assert.equal(removed, [removed[0], removed[0], removed[0], removed[0]], 'the same versions removed');
  assert.ok(stores[2]!.target.folds > 0 && stores[2]!.target.workerFolds === 0, `small runs: background folds on the store's thread (${stores[2]!.target.workerFolds} of ${stores[2]!.target.folds} on a worker)`);
  assert.ok(stores[3]!.target.workerFolds > 0, `foldOnWorkerBytes 0: background folds ran on a worker (${stores[3]!.target.workerFolds} of ${stores[3]!.target.folds})`);
  assert.is(stores[0]!.target.workerFolds, 0, 'a fold the caller waits for runs on the store\'s thread');
  assert.ok(stores[0]!.target.folds > 0, 'aggregations folded');
  assert.is(stores[1]!.target.workerJobs, 0, 'all on the store\'s thread');
  assert.is(stores[1]!.target.usage().dataUsed, ref.target.usage().dataUsed, 'the same data blocks freed (thread)');
  assert.is(stores[2]!.target.usage().dataUsed, ref.target.usage().dataUsed, 'the same data blocks freed (background)');
  assert.is(stores[3]!.target.usage().dataUsed, ref.target.usage().dataUsed, 'the same data blocks freed (background, on a worker)');
  for (const t of stores) await t.close();
  const r = await VosTarget.open(path.join(dir, '2'), BASE);
  const again = await VosTarget.open(path.join(dir, '0'), BASE);
  for (const e of [epoch - 250n, MAX_EPOCH]) assert.equal(await readAll(r, e), await readAll(again, e), `after reopen at ${e}`);
  await r.close(); await again.close();
}));

test('a fold on the store\'s thread and another store\'s flush stepping in turn on the same thread keep their own entries (no shared encoding buffer)', safe(async () => {
  const [a, b] = await Promise.all(['a', 'b'].map((n) => VosTarget.open(path.join(dir, n), { ...BASE, mergeWorker: false })));
  const val = (t: string, i: number, e: number) => (i % 2 === 0 ? new Uint8Array(5000).fill((i + e) & 0xff) : enc(`${t}${i}@${e}`));
  for (let e = 1; e <= 3; e++) {
    for (let i = 0; i < 400; i++) {
      await a!.updateSingle(BigInt(e), BigInt(1 + (i % 50)), enc(`d${i}`), enc('a'), val('a', i, e));
      await b!.updateSingle(BigInt(e), BigInt(1 + (i % 50)), enc(`d${i}`), enc('a'), val('b', i, e));
    }
    if (e === 1) { await a!.target.flushAll(); await b!.target.flushAll(); } // runs for the fold to fold into
  }
  await Promise.all([a!.aggregate(3n), b!.target.flushAll()]); // both stream memtables, stepping in turn
  assert.ok(a!.target.folds > 0, 'the aggregation folded');
  for (const [t, name] of [[a!, 'a'], [b!, 'b']] as const) {
    for (let i = 0; i < 400; i++) {
      const got = await t.fetchSingle(3n, BigInt(1 + (i % 50)), enc(`d${i}`), enc('a'));
      assert.ok(same(got, val(name, i, 3)), `${name} d${i}`);
    }
  }
  await a!.close(); await b!.close();
}));

test('a write that finds the data file full while an aggregation runs in the background waits for it; close() waits for it too', safe(async () => {
  const fill = async (t: VosTarget) => { for (let e = 1n; e <= 60n; e++) await t.updateSingle(e, 1n, enc('d'), enc('a'), new Uint8Array(4096).fill(Number(e))); };
  // without the aggregation, the next writes do not fit (the test can fail)
  const control = await VosTarget.open(path.join(dir, 'control'), { ...BASE, dataBytes: 64 * 4096 });
  await fill(control);
  let err: string | undefined;
  for (let i = 0; i < 30 && !err; i++) err = await code(control.updateSingle(61n, 2n, enc('d'), enc(`k${i}`), new Uint8Array(4096)));
  assert.is(err, 'NO_SPACE', 'the control fills up');
  await control.close();
  for (const closeAt of ['end', 'at once'] as const) {
    const at = path.join(dir, closeAt);
    const t = await VosTarget.open(at, { ...BASE, dataBytes: 64 * 4096 });
    await fill(t);
    await t.aggregate(61n, [], { wait: false });
    if (closeAt === 'at once') { await t.close(); } else {
      for (let i = 0; i < 30; i++) await t.updateSingle(61n, 2n, enc('d'), enc(`k${i}`), new Uint8Array(4096).fill(i)); // waits for space, never NO_SPACE
      await t.close();
    }
    const r = await VosTarget.open(at, { ...BASE, dataBytes: 64 * 4096 });
    assert.is((await r.fetchSingle(61n, 1n, enc('d'), enc('a')))![0], 60, `${closeAt}: the newest version`);
    assert.is(r.target.usage().dataUsed, (closeAt === 'end' ? 31 : 1) * 4096, `${closeAt}: the old versions' blocks were freed`);
    if (closeAt === 'end') for (let i = 0; i < 30; i++) assert.is((await r.fetchSingle(61n, 2n, enc('d'), enc(`k${i}`)))![0], i);
    await r.close();
  }
}));

test('data file full at dataBytes: NO_SPACE, nothing lost, writable again after punch + aggregate', safe(async () => {
  const t = await VosTarget.open(dir, { ...BASE, dataBytes: 64 * KiB });
  const written: number[] = [];
  let err: string | undefined;
  for (let i = 0; i < 20 && !err; i++) {
    err = await code(t.updateSingle(1n, 1n, enc('d'), enc(`k${i}`), new Uint8Array(8000).fill(i)));
    if (!err) written.push(i);
  }
  assert.is(err, 'NO_SPACE');
  assert.is(written.length, 8, '8 values of two 4 KiB blocks fill 64 KiB');
  for (const i of written) assert.is((await t.fetchSingle(1n, 1n, enc('d'), enc(`k${i}`)))![0], i);
  assert.is(await t.fetchSingle(1n, 1n, enc('d'), enc('k8')), undefined, 'the refused write is absent');
  await t.updateSingle(1n, 1n, enc('d'), enc('inline'), enc('small values still fit in the pmem file'));
  await t.punchAkey(2n, 1n, enc('d'), enc('k0'));
  assert.is(await code(t.updateSingle(3n, 1n, enc('d'), enc('more'), new Uint8Array(8000))), 'NO_SPACE', 'a punch alone keeps the history');
  await t.aggregate(3n);
  await t.updateSingle(3n, 1n, enc('d'), enc('more'), new Uint8Array(8000).fill(99));
  assert.is((await t.fetchSingle(3n, 1n, enc('d'), enc('more')))![0], 99);
  assert.is((await t.fetchSingle(3n, 1n, enc('d'), enc('k7')))![0], 7);
  await t.close();
}));

test('injected ENOSPC and torn pmem writes: typed errors; acknowledged data survives a reopen', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  await t.close();
  const fault = new FaultInjector({ seed: 8, enospcAfterBytes: 20_000 });
  t = await VosTarget.open(dir, { ...BASE, fault });
  await t.updateSingle(1n, 1n, enc('d'), enc('a'), new Uint8Array(8192).fill(1));
  assert.is(await code(t.updateSingle(2n, 1n, enc('d'), enc('b'), new Uint8Array(16384).fill(2))), 'NO_SPACE');
  assert.is((await t.fetchSingle(2n, 1n, enc('d'), enc('a')))![0], 1);
  assert.is(await t.fetchSingle(2n, 1n, enc('d'), enc('b')), undefined);
  await t.close().catch(() => undefined);
  t = await VosTarget.open(dir, BASE);
  assert.is((await t.fetchSingle(2n, 1n, enc('d'), enc('a')))![0], 1);
  await t.close();
  // torn stores into the pmem file (then the "power" stays off): every acknowledged write survives
  for (const [seed, p] of [[11, 0.05], [12, 0.01], [13, 0.003], [14, 0.001]] as const) {
    const torn = new FaultInjector({ seed, tornWrite: p });
    t = await VosTarget.open(dir, { ...BASE, fault: torn });
    const acked: number[] = [];
    let failed = -1;
    for (let i = 0; i < 3000; i++) {
      const c = await code(t.updateSingle(10n + BigInt(i), BigInt(seed), enc(`d${i % 5}`), enc(`t${i}`), new Uint8Array(i % 4 ? 300 : 6000).fill((i % 250) + 1)));
      if (c) { assert.is(c, 'IO_ERROR'); failed = i; break; }
      acked.push(i);
    }
    assert.ok(torn.crashed, `seed ${seed}: a torn write happened`);
    await t.close().catch(() => undefined);
    t = await VosTarget.open(dir, BASE);
    assert.is(t.openReport.damage, undefined, `seed ${seed}: a torn append is not damage`);
    for (const i of acked) {
      const got = await t.fetchSingle(MAX_EPOCH, BigInt(seed), enc(`d${i % 5}`), enc(`t${i}`));
      assert.ok(got && got.length === (i % 4 ? 300 : 6000) && got.every((x) => x === (i % 250) + 1), `seed ${seed}: acknowledged write ${i}`);
    }
    const tornValue = await t.fetchSingle(MAX_EPOCH, BigInt(seed), enc(`d${failed % 5}`), enc(`t${failed}`));
    assert.ok(tornValue === undefined || tornValue.every((x) => x === (failed % 250) + 1), 'the write that failed is wholly absent or wholly there');
    assert.equal((await t.scrub()).bad, []);
    await t.close();
  }
}));

for (const io of await ioEngines()) {
  for (const durable of [false, true]) {
    test(`concurrent updates and fetches, io=${io} durable=${durable}`, safe(async () => {
      let t = await VosTarget.open(dir, { ...BASE, io, durable });
      assert.is(t.ioEngine, io);
      assert.is(t.durable, durable);
      const rng = new Rng(12);
      const vals = Array.from({ length: 300 }, (_, i) => rng.bytes(i % 4 === 0 ? 4097 + rng.int(20000) : 1 + rng.int(4096)));
      const key = (i: number) => [BigInt(i % 7), enc(`d${i}`)] as const;
      await Promise.all(vals.map((v, i) => (i % 3 === 0
        ? t.updateArray(BigInt(1 + (i % 5)), key(i)[0], key(i)[1], enc('arr'), { index: 0, count: v.length }, v)
        : t.updateSingle(BigInt(1 + (i % 5)), key(i)[0], key(i)[1], enc('sv'), v))));
      const check = async (tt: VosTarget) => Promise.all(vals.map(async (v, i) => {
        if (i % 3 === 0) {
          const r = await tt.fetchArray(MAX_EPOCH, key(i)[0], key(i)[1], enc('arr'), { index: 0, count: v.length });
          assert.ok(same(r.data, v), `array ${i}`);
        } else {
          assert.ok(same((await tt.fetchSingle(MAX_EPOCH, key(i)[0], key(i)[1], enc('sv')))!, v), `single ${i}`);
        }
      }));
      // reads and more writes interleaved (new epochs), while flushes run in the background
      await Promise.all([check(t), ...vals.map((v, i) => t.updateSingle(10n, key(i)[0], key(i)[1], enc('again'), v.subarray(0, 100)))]);
      await check(t);
      await t.flush();
      await t.close();
      t = await VosTarget.open(dir, { ...BASE, io });
      await check(t);
      for (let i = 0; i < vals.length; i += 17) assert.ok(same((await t.fetchSingle(10n, key(i)[0], key(i)[1], enc('again')))!, vals[i]!.subarray(0, 100)));
      assert.equal((await t.scrub()).bad, []);
      await t.close();
    }));
  }
}

test('an open after a clean close replays nothing and reads no run; after a crash it replays at most two log regions', safe(async () => {
  const opts: VosOptions = { ...BASE, scmBytes: 64 * MiB, residentBytes: 8 * MiB };
  let t = await VosTarget.open(dir, opts);
  const val = new Uint8Array(150).fill(7);
  for (let i = 0; i < 40_000; i++) await t.updateSingle(1n + BigInt(i % 3), BigInt(i % 50), enc(`dkey-${i}`), enc('a'), val);
  const runBytes = t.target.runs.reduce((s, r) => s + r.meta.bytes, 0);
  assert.ok(runBytes > 4 * MiB, `runs hold ${runBytes} bytes`);
  // a crash image now: the log holds what is not in runs yet
  const crashed = path.join(dir, 'crashed');
  crashImage(dir, crashed);
  await t.close();
  t = await VosTarget.open(dir, opts);
  assert.is(t.openReport.records, 0, 'a clean close leaves nothing to replay');
  assert.is(t.openReport.created, false);
  const resident = t.target.usage().residentWindows;
  const runWindows = Math.ceil(runBytes / (64 * KiB));
  assert.ok(resident <= 2 * WAL / (64 * KiB) + 8, `open touched ${resident} windows (the runs span ${runWindows})`);
  assert.is(dec(await t.fetchSingle(MAX_EPOCH, 17n, enc('dkey-12367'), enc('a'))), dec(val));
  assert.ok(t.target.usage().residentWindows <= resident + 2 + 3 * t.target.runs.length, 'a point read touches a few windows per run');
  await t.close();
  const c = await VosTarget.open(crashed, opts);
  const minRecord = 120;
  assert.ok(c.openReport.records > 0, 'a crash leaves log records');
  assert.ok(c.openReport.records <= (2 * WAL) / minRecord, `replayed ${c.openReport.records} records, at most two log regions' worth`);
  assert.is(c.openReport.damage, undefined);
  for (let i = 0; i < 40_000; i += 997) assert.ok(same((await c.fetchSingle(MAX_EPOCH, BigInt(i % 50), enc(`dkey-${i}`), enc('a')))!, val), `key ${i} after the crash`);
  await c.close();
}));

test('a read-only open follows a writer through refresh()', safe(async () => {
  const w = await VosTarget.open(dir, BASE);
  await w.updateSingle(1n, 1n, enc('d'), enc('a'), enc('one'));
  const rt = await TargetStore.open(dir, { readOnly: true, pmemIo: 'pread' });
  const r = new ContainerStore(rt, rt.byUuid.get(w.uuid)!);
  assert.is(dec(await r.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc('a'))), 'one');
  for (let i = 0; i < 3000; i++) await w.updateSingle(2n, 1n, enc(`k${i}`), enc('a'), new Uint8Array(120).fill(i & 0xff)); // flushes and grows
  await w.updateSingle(3n, 1n, enc('d'), enc('a'), enc('two'));
  assert.is(dec(await r.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc('a'))), 'one', 'before refresh: the state at open');
  await rt.refresh();
  const r2 = new ContainerStore(rt, rt.byUuid.get(w.uuid)!);
  assert.is(dec(await r2.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc('a'))), 'two');
  assert.is((await r2.fetchSingle(MAX_EPOCH, 1n, enc('k2999'), enc('a')))![0], 2999 & 0xff);
  assert.is(await code(r2.updateSingle(4n, 1n, enc('d'), enc('a'), enc('x'))), 'READ_ONLY');
  await rt.close();
  await w.close();
}));

test.run();
