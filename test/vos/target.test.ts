/**
 * VosTarget behaviour: argument checking, replace-at-same-epoch, record sizes, holes,
 * aggregation with kept epochs, discard, NO_SPACE and recovery from it, injected faults,
 * concurrency (default and durable), persistence across reopen, both I/O engines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { FaultInjector } from '../../src/media/fault.js';
import { VosTarget, VosError, MAX_EPOCH, MAX_KEY_SIZE, type VosOptions } from '../../src/vos/index.js';
import { ioEngines } from './engines.js';
import { safe } from './safe.js';

const test = suite('vos target');
const enc = (s: string) => new TextEncoder().encode(s);
const BASE: VosOptions = { scmBytes: 256 * 1024, dataBytes: 4 * 1024 * 1024, io: 'pread' };
let dir = '';
test.before.each(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-vos-target-')); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { return (e as VosError).code; }
  return undefined;
}
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> { const out: T[] = []; for await (const x of it) out.push(x); return out; }

test('bad arguments give typed errors', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('a');
  assert.is(await code(t.updateSingle(0n, 1n, d, a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(-1n, 1n, d, a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(1 as unknown as bigint, 1n, d, a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(1n << 64n, 1n, d, a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(1n, -1n, d, a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(1n, 1n, new Uint8Array(0), a, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateSingle(1n, 1n, d, new Uint8Array(MAX_KEY_SIZE + 1), enc('x'))), 'KEY_TOO_LARGE');
  assert.is(await code(t.updateSingle(1n, 1n, d, a, 'x' as unknown as Uint8Array)), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateArray(1n, 1n, d, a, { index: 0, count: 3 }, enc('xy'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateArray(1n, 1n, d, a, { index: -1, count: 1 }, enc('x'))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateArray(1n, 1n, d, a, { index: 0, count: 0 }, enc(''))), 'INVALID_ARGUMENT');
  assert.is(await code(t.updateArray(1n, 1n, d, a, { index: 0.5, count: 1 }, enc('x'))), 'INVALID_ARGUMENT');
  await t.updateArray(1n, 1n, d, a, { index: 0, count: 2 }, enc('abcd'), { recordSize: 2 });
  assert.is(await code(t.updateArray(2n, 1n, d, a, { index: 0, count: 4 }, enc('abcd'), { recordSize: 1 })), 'INVALID_ARGUMENT', 'record size is fixed per akey');
  assert.is(await code(t.aggregate(0n)), 'INVALID_ARGUMENT');
  assert.is(await code(VosTarget.open(path.join(dir, 'x'), { scmBytes: 1000 })), 'INVALID_ARGUMENT');
  await t.close();
  assert.is(await code(t.fetchSingle(1n, 1n, d, a)), 'CLOSED');
  assert.is(await code(t.updateSingle(1n, 1n, d, a, enc('x'))), 'CLOSED');
  await t.close(); // idempotent
}));

test('an update at an existing epoch replaces it and frees its space', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  await t.updateSingle(5n, 1n, enc('d'), enc('a'), new Uint8Array(9000).fill(1));
  const used = t.usage().dataUsed;
  for (let i = 2; i < 20; i++) await t.updateSingle(5n, 1n, enc('d'), enc('a'), new Uint8Array(9000).fill(i));
  assert.is(t.usage().dataUsed, used, 'replaced versions give their blocks back');
  assert.equal((await t.fetchSingle(5n, 1n, enc('d'), enc('a')))![0], 19);
  await t.updateArray(6n, 1n, enc('d'), enc('x'), { index: 0, count: 4 }, enc('aaaa'));
  await t.updateArray(6n, 1n, enc('d'), enc('x'), { index: 2, count: 4 }, enc('bbbb'));
  assert.equal(new TextDecoder().decode((await t.fetchArray(6n, 1n, enc('d'), enc('x'), { index: 0, count: 6 })).data), 'aabbbb');
  await t.close();
}));

test('arrays: record size, holes absent unless asked, extents listed', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('arr');
  await t.updateArray(1n, 9n, d, a, { index: 10, count: 2 }, enc('AAAABBBB'), { recordSize: 4 });
  await t.updateArray(2n, 9n, d, a, { index: 11, count: 2 }, enc('CCCCDDDD'));
  const r = await t.fetchArray(2n, 9n, d, a, { index: 9, count: 5 });
  assert.is(r.data.length, 20);
  assert.equal(r.present, [{ index: 10, count: 3 }]);
  assert.is(new TextDecoder().decode(r.data.subarray(4, 16)), 'AAAACCCCDDDD');
  assert.ok(r.data.subarray(0, 4).every((x) => x === 0));
  const z = await t.fetchArray(2n, 9n, d, a, { index: 9, count: 5 }, { holesAsZero: true });
  assert.equal(z.present, [{ index: 9, count: 5 }]);
  assert.equal((await t.fetchArray(1n, 9n, d, a, { index: 10, count: 3 })).present, [{ index: 10, count: 2 }]);
  assert.equal(await collect(t.listRecx(2n, 9n, d, a)), [{ index: 10, count: 1, epoch: 1n }, { index: 11, count: 2, epoch: 2n }]);
  assert.is(await t.akeyKind(2n, 9n, d, a), 'array');
  assert.is(await t.akeyKind(0n, 9n, d, a), undefined);
  await t.updateSingle(3n, 9n, d, enc('sv'), enc('one'));
  assert.is(await t.akeyKind(3n, 9n, d, enc('sv')), 'single');
  assert.equal((await collect(t.listAkeys(3n, 9n, d))).map((k) => new TextDecoder().decode(k)), ['arr', 'sv']);
  await t.close();
}));

test('aggregation keeps what kept epochs need and frees the rest', safe(async () => {
  const t = await VosTarget.open(dir, BASE);
  const d = enc('d'); const a = enc('a');
  for (let e = 1; e <= 10; e++) await t.updateSingle(BigInt(e), 1n, d, a, new Uint8Array(5000).fill(e));
  for (let e = 1; e <= 10; e++) await t.updateArray(BigInt(e), 1n, d, enc('x'), { index: e, count: 20 }, new Uint8Array(20).fill(e));
  const before = new Map<bigint, Uint8Array>();
  const views = [3n, 7n, 9n, 10n, MAX_EPOCH];
  for (const e of views) before.set(e, (await t.fetchSingle(e, 1n, d, a))!);
  const arrBefore = await Promise.all(views.map((e) => t.fetchArray(e, 1n, d, enc('x'), { index: 0, count: 40 })));
  const used = t.usage();
  const stats = await t.aggregate(10n, [3n, 7n]);
  assert.ok(stats.versionsRemoved >= 6, JSON.stringify(stats));
  assert.ok(t.usage().dataUsed < used.dataUsed);
  for (const e of views) assert.equal(await t.fetchSingle(e, 1n, d, a), before.get(e), `epoch ${e}`);
  const arrAfter = await Promise.all(views.map((e) => t.fetchArray(e, 1n, d, enc('x'), { index: 0, count: 40 })));
  assert.equal(arrAfter, arrBefore);
  // punch + aggregate removes everything below the punch
  await t.punchObject(11n, 1n);
  assert.equal(await collect(t.listObjects(MAX_EPOCH)), []);
  assert.equal(await collect(t.listObjects(10n)), [1n]);
  await t.aggregate(20n);
  assert.is(t.usage().dataUsed, 0);
  assert.is(await t.fetchSingle(10n, 1n, d, a), undefined, 'unkept history is gone');
  await t.close();
}));

test('discard drops everything after an epoch, also after reopen', safe(async () => {
  let t = await VosTarget.open(dir, BASE);
  for (let e = 1; e <= 6; e++) await t.updateSingle(BigInt(e), 1n, enc('d'), enc('a'), enc(`v${e}`));
  await t.punchAkey(5n, 1n, enc('d'), enc('a'));
  await t.discard(3n);
  assert.is(t.queryMaxEpoch(), 3n);
  assert.equal(await t.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc('a')), enc('v3'));
  await t.updateSingle(4n, 1n, enc('d'), enc('a'), enc('new4'));
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.equal(await t.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc('a')), enc('new4'));
  assert.equal(await t.fetchSingle(3n, 1n, enc('d'), enc('a')), enc('v3'));
  assert.is(t.queryMaxEpoch(), 4n);
  // a ranged discard drops only (after, upTo]
  await t.updateSingle(5n, 1n, enc('d'), enc('b'), enc('b5'));
  await t.updateSingle(6n, 1n, enc('d'), enc('b'), enc('b6'));
  await t.updateSingle(7n, 1n, enc('d'), enc('b'), enc('b7'));
  await t.discard(5n, 6n);
  assert.equal(await t.fetchSingle(6n, 1n, enc('d'), enc('b')), enc('b5'));
  assert.equal(await t.fetchSingle(7n, 1n, enc('d'), enc('b')), enc('b7'));
  assert.is(t.queryMaxEpoch(), 7n);
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.equal(await t.fetchSingle(6n, 1n, enc('d'), enc('b')), enc('b5'));
  assert.equal(await t.fetchSingle(7n, 1n, enc('d'), enc('b')), enc('b7'));
  assert.is(await code(t.discard(-1n)), 'INVALID_ARGUMENT');
  await t.close();
}));

test('data file full: NO_SPACE, nothing lost, writable again after punch + aggregate', safe(async () => {
  const t = await VosTarget.open(dir, { ...BASE, dataBytes: 64 * 1024 });
  const written: number[] = [];
  let err: string | undefined;
  for (let i = 0; i < 20 && !err; i++) {
    err = await code(t.updateSingle(1n, 1n, enc('d'), enc(`k${i}`), new Uint8Array(8000).fill(i)));
    if (!err) written.push(i);
  }
  assert.is(err, 'NO_SPACE');
  assert.is(written.length, 8);
  for (const i of written) assert.is((await t.fetchSingle(1n, 1n, enc('d'), enc(`k${i}`)))![0], i);
  await t.punchAkey(2n, 1n, enc('d'), enc('k0'));
  assert.is(await code(t.updateSingle(3n, 1n, enc('d'), enc('more'), new Uint8Array(8000))), 'NO_SPACE', 'a punch alone keeps history');
  await t.aggregate(3n);
  await t.updateSingle(3n, 1n, enc('d'), enc('more'), new Uint8Array(8000).fill(99));
  assert.is((await t.fetchSingle(3n, 1n, enc('d'), enc('more')))![0], 99);
  await t.close();
}));

test('pmem log full: NO_SPACE, nothing lost, compaction after aggregation makes room', safe(async () => {
  let t = await VosTarget.open(dir, { ...BASE, scmBytes: 64 * 1024 });
  let n = 0;
  for (;;) {
    const c = await code(t.updateSingle(1n, 1n, enc('d'), enc(`key-${n}`), new Uint8Array(200).fill(n & 0xff)));
    if (c) { assert.is(c, 'NO_SPACE'); break; }
    n++;
  }
  assert.ok(n > 50, `wrote ${n}`);
  for (let i = 0; i < n; i += 7) assert.is((await t.fetchSingle(1n, 1n, enc('d'), enc(`key-${i}`)))![0], i & 0xff);
  await t.punchDkey(2n, 1n, enc('d'));
  await t.aggregate(3n);
  assert.ok(t.usage().scmLive < 1024, JSON.stringify(t.usage()));
  for (let i = 0; i < 20; i++) await t.updateSingle(4n, 1n, enc('d2'), enc(`k${i}`), new Uint8Array(200).fill(i));
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is((await t.fetchSingle(4n, 1n, enc('d2'), enc('k19')))![0], 19);
  assert.is(await t.fetchSingle(4n, 1n, enc('d'), enc('key-0')), undefined);
  await t.close();
}));

test('injected ENOSPC and torn pmem writes: typed errors, acknowledged data survives', safe(async () => {
  const fault = new FaultInjector({ seed: 8, enospcAfterBytes: 20_000 });
  let t = await VosTarget.open(dir, { ...BASE, fault });
  await t.updateSingle(1n, 1n, enc('d'), enc('a'), new Uint8Array(8192).fill(1));
  assert.is(await code(t.updateSingle(2n, 1n, enc('d'), enc('b'), new Uint8Array(16384).fill(2))), 'NO_SPACE');
  assert.is((await t.fetchSingle(2n, 1n, enc('d'), enc('a')))![0], 1);
  await t.close();
  // a torn store into the log: the update fails, and reopening finds the earlier data only
  const torn = new FaultInjector({ seed: 11, tornWrite: 0.2 });
  t = await VosTarget.open(dir, { ...BASE, fault: torn });
  const acked: number[] = [];
  for (let i = 0; i < 40; i++) {
    const c = await code(t.updateSingle(10n + BigInt(i), 1n, enc('d'), enc(`t${i}`), new Uint8Array(300).fill(i + 1)));
    if (c) { assert.ok(c === 'IO_ERROR', c); break; }
    acked.push(i);
  }
  assert.ok(torn.crashed, 'a torn write happened');
  await t.close().catch(() => undefined);
  t = await VosTarget.open(dir, BASE);
  assert.equal(t.openReport.corruptSpans, []);
  for (const i of acked) assert.ok((await t.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc(`t${i}`)))!.every((x) => x === i + 1));
  const tornValue = await t.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc(`t${acked.length}`));
  assert.is(tornValue, undefined, 'the torn write is wholly absent');
  assert.equal((await t.scrub()).bad, []);
  await t.close();
}));

test('scrub while values are being replaced reports nothing (no false positives)', safe(async () => {
  const t = await VosTarget.open(dir, { ...BASE, dataBytes: 8 * 1024 * 1024 });
  const vals = (i: number, r: number) => new Uint8Array(6000 + (i % 5) * 1000).fill((i + r) & 0xff);
  for (let i = 0; i < 40; i++) await t.updateSingle(1n, 1n, enc('d'), enc(`k${i}`), vals(i, 0));
  const writer = (async () => {
    for (let r = 1; r < 6; r++) for (let i = 0; i < 40; i++) await t.updateSingle(1n, 1n, enc('d'), enc(`k${i}`), vals(i, r));
  })();
  const reports = [];
  for (let k = 0; k < 4; k++) reports.push(await t.scrub());
  await writer;
  for (const r of reports) assert.equal(r.bad, []);
  for (let i = 0; i < 40; i++) assert.equal(await t.fetchSingle(1n, 1n, enc('d'), enc(`k${i}`)), vals(i, 5));
  await t.close();
}));

test('aggregate and discard with a full log compact instead of logging, and persist', safe(async () => {
  let t = await VosTarget.open(dir, { ...BASE, scmBytes: 64 * 1024 });
  let e = 1n;
  // fill the log with versions of a few keys (each replaces nothing: new epochs)
  for (;;) {
    const c = await code(t.updateSingle(e, 1n, enc('d'), enc(`k${Number(e) % 4}`), new Uint8Array(300).fill(Number(e) & 0xff)));
    if (c) { assert.is(c, 'NO_SPACE'); break; }
    e++;
  }
  const last = e - 1n;
  const stats = await t.aggregate(last);
  assert.ok(stats.compacted, 'compacted');
  await t.discard(last - 1n);
  await t.close();
  t = await VosTarget.open(dir, BASE);
  assert.is(t.queryMaxEpoch(), last - 1n);
  for (let k = 0; k < 4; k++) {
    const got = await t.fetchSingle(MAX_EPOCH, 1n, enc('d'), enc(`k${k}`));
    assert.ok(got, `k${k} kept`);
  }
  await t.close();
}));

for (const io of await ioEngines()) {
  for (const durable of [false, true]) {
    test(`concurrent updates and fetches, io=${io} durable=${durable}`, safe(async () => {
      let t = await VosTarget.open(dir, { ...BASE, scmBytes: 4 * 1024 * 1024, dataBytes: 16 * 1024 * 1024, io, durable });
      assert.is(t.ioEngine, io);
      const rng = new Rng(12);
      const vals = Array.from({ length: 200 }, (_, i) => rng.bytes(i % 4 === 0 ? 4096 + rng.int(20000) : rng.int(4096)));
      await Promise.all(vals.map((v, i) => (i % 3 === 0
        ? t.updateArray(BigInt(1 + (i % 5)), BigInt(i % 7), enc(`d${i}`), enc('arr'), { index: 0, count: Math.max(1, v.length) }, v.length ? v : new Uint8Array(1))
        : t.updateSingle(BigInt(1 + (i % 5)), BigInt(i % 7), enc(`d${i}`), enc('sv'), v))));
      const check = async (tt: VosTarget) => Promise.all(vals.map(async (v, i) => {
        if (i % 3 === 0) {
          const r = await tt.fetchArray(MAX_EPOCH, BigInt(i % 7), enc(`d${i}`), enc('arr'), { index: 0, count: Math.max(1, v.length) });
          assert.ok(Buffer.from(r.data).equals(Buffer.from(v.length ? v : new Uint8Array(1))), `array ${i}`);
        } else {
          assert.ok(Buffer.from((await tt.fetchSingle(MAX_EPOCH, BigInt(i % 7), enc(`d${i}`), enc('sv')))!).equals(Buffer.from(v)), `single ${i}`);
        }
      }));
      await check(t);
      await t.flush();
      await t.close();
      t = await VosTarget.open(dir, { ...BASE, io });
      await check(t);
      assert.equal((await t.scrub()).bad, []);
      await t.close();
    }));
  }
}

test.run();
