/**
 * What an engine knows of commits (src/engine/txn.ts, txlog.ts), on real log files: a write waits
 * for its INTENT record; a commit on one engine is decided when its last write is applied; one
 * across engines is complete (P) and waits for a notice; reads wait exactly for undecided writes
 * at or below their epoch on their unit; after a crash the log names the incomplete pairs (to be
 * aborted) and the complete ones (to be settled), and remembers decisions; compaction keeps
 * exactly that; a torn tail is cut.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { TxTable, MAX_PREPARED, MAX_DECIDED, SETTLE_DELAY_MS, targetBit } from '../../src/engine/txn.js';
import { TxLog, recordText, writeRecord, MAX_TXLOG_RECORD, TXLOG_FORMAT_VERSION, type TxRecord } from '../../src/engine/txlog.js';
import { decideFrom } from '../../src/engine/commits.js';
import { tmpDir, rejectsWith } from '../helpers/tmp.js';

const t = suite('txn');
const C = '11111111-2222-3333-4444-555555555555';
const D = '66666666-2222-3333-4444-555555555555';
const ME = 2;

t.before(async () => { await initXxhash(); });

t('a commit on this engine alone is decided by its last write; one across engines waits for its notice', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { table, undecided } = TxTable.open(path, false, ME);
  assert.is(undecided.length, 0);
  // Single engine, two writes.
  const u1 = String(1n << 32n), u2 = String((1n << 32n) | 1n), u5 = String(5n << 32n);
  const a = table.admit(C, 10n, { ranks: [ME], n: 2 }, u1);
  table.admit(C, 10n, { ranks: [ME], n: 2 }, u2);
  const settled: string[] = [];
  table.setSettler((c, es, ts) => { es.forEach((e, i) => settled.push(`${c}/${e}/${TxLog.read(path).some((r) => r.t === 'D' && r.e === String(e))}/${ts[i]}`)); });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(TxLog.read(path), [], 'no INTENT record (format 3: the write\'s store marks the epoch prepared)');
  await table.applied(a);
  assert.is(table.decidedOf(C, 10n), undefined, 'one of two writes applied: still prepared');
  assert.is(table.blocking(C, 10n, u2).length, 1);
  await table.applied(a);
  assert.is(table.decidedOf(C, 10n), 'commit', 'the last write decides it');
  assert.equal(settled, [], 'marks are settled later, not at once');
  await new Promise((r) => setTimeout(r, SETTLE_DELAY_MS + 50));
  assert.equal(settled, [`${C}/10/true/-1`], 'a commit\'s marks are settled once its DONE record is in the log (on every target: its writes named none)');
  assert.is(table.blocking(C, 10n, u2).length, 0);
  assert.equal(table.commitsIn(C, 0n, 100n), [{ epoch: 10n, objects: ['1'] }], 'watchers see it, with its object');
  // Across engines: complete, then the notice commits it.
  const b = table.admit(C, 20n, { ranks: [1, ME], n: 1 }, u5, targetBit(2), '20');
  assert.is(b.epochText, '20', 'the request\'s own epoch text');
  await table.applied(b);
  assert.ok(b.complete && table.decidedOf(C, 20n) === undefined, 'complete, not decided');
  assert.ok(TxLog.read(path).some((r) => r.t === 'P' && r.e === '20'), 'P is logged before the last write is acknowledged');
  let woke = false;
  const w = Promise.all(table.blocking(C, 25n, u5)).then(() => { woke = true; });
  assert.is(table.blocking(C, 19n, u5).length, 0, 'an older read never waits');
  assert.is(table.blocking(C, 25n, 'other').length, 0, 'another unit never waits');
  await new Promise((r) => setTimeout(r, 10));
  assert.is(woke, false);
  await table.decide(b, 'commit');
  await w;
  assert.is(woke, true);
  assert.equal(table.commitsIn(C, 15n, 30n), [{ epoch: 20n, objects: ['5'] }]);
  // An abort settles nothing (its discard settled the marks); queued settles go out at flushSettles too.
  const ab = table.admit(C, 22n, { ranks: [ME, 1], n: 1 }, u5);
  table.failed(ab);
  await table.decide(ab, 'abort');
  table.flushSettles();
  assert.equal(settled, [`${C}/10/true/-1`, `${C}/20/true/4`], 'each with the targets its writes went to');
  assert.is(table.admit(C, 23n, undefined, u5, targetBit(0), '023').epochText, '23', 'a text with a leading zero is not kept');
  // Decided epochs refuse late writes; a tombstone does too.
  assert.throws(() => table.admit(C, 20n, { ranks: [1, ME], n: 1 }, u1), (e: unknown) => (e as { code?: string }).code === 'STALE_EPOCH');
  await table.tombstone(C, 30n);
  assert.is(table.decidedOf(C, 30n), 'abort');
  assert.throws(() => table.admit(C, 30n, undefined, u1), (e: unknown) => (e as { code?: string }).code === 'STALE_EPOCH');
  table.close();
});

t('after a crash the log names incomplete and complete pairs and remembers decisions; a torn tail is cut', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { table } = TxTable.open(path, false, ME);
  const inc = table.admit(C, 100n, { ranks: [1, ME], n: 2 }, '4294967296');
  await table.applied(inc); // 1 of 2
  const comp = table.admit(D, 100n, { ranks: [ME, 3], n: 1 }, '30064771072');
  await table.applied(comp);
  const sealed = table.admit(C, 200n, { ranks: [1, ME], n: 1 }, '12884901888');
  await table.applied(sealed); await table.seal(sealed);
  const done = table.admit(C, 300n, { ranks: [ME], n: 1 }, '17179869184');
  await table.applied(done);
  await table.tombstone(C, 400n);
  table.close();
  // A record torn by the crash: cut on open.
  const size = statSync(path).size;
  appendFileSync(path, Buffer.from([0x54, 0x58, 0x4c, 0x52, 0xff, 0, 0, 0, 1, 2, 3]));
  const again = TxTable.open(path, false, ME);
  assert.is(statSync(path).size, size, 'the torn tail is cut');
  const byKey = new Map(again.undecided.map((p) => [`${p.cont}/${p.epoch}`, p]));
  assert.equal([...byKey.keys()].sort(), [`${C}/200`, `${D}/100`].sort(), 'an incomplete pair leaves no record: the marks of its writes in the stores name it (Engine.resolveMarks aborts it)');
  assert.is(again.table.blocking(C, 150n, '99').length, 0);
  assert.is(byKey.get(`${D}/100`)!.complete, true);
  assert.equal([...byKey.get(`${D}/100`)!.units!], ['30064771072']);
  assert.equal(byKey.get(`${D}/100`)!.desc, { n: 1, ranks: [ME, 3] });
  assert.is(byKey.get(`${C}/200`)!.sealed, true);
  assert.is(again.table.decidedOf(C, 300n), 'commit');
  assert.is(again.table.decidedOf(C, 400n), 'abort');
  assert.equal(again.table.commitsIn(C, 0n, 1000n).map((e) => e.epoch), [300n], 'watchers still see commits decided before the restart');
  again.table.close();
});

t('a durable log damaged in the middle (a whole group after a bad one) is refused as CORRUPTED and left as it is; a non-durable one is cut there', async () => {
  for (const durable of [true, false]) {
    const path = join(tmpDir(), 'tx.log');
    const { table } = TxTable.open(path, durable, ME);
    for (let i = 1; i <= 3; i++) { const w = table.admit(C, BigInt(100 * i), { ranks: [ME], n: 1 }, String(i << 20)); await table.applied(w); }
    table.close();
    const groups = TxLog.readGroups(path);
    assert.is(groups.length, 3, 'one group per decided commit');
    // a bit flipped in the first group's body (the header is 16 bytes, the group's own header 16 more)
    const img = readFileSync(path);
    img[16 + 16 + 5]! ^= 0x01;
    writeFileSync(path, img);
    const size = statSync(path).size;
    if (durable) {
      assert.throws(() => TxTable.open(path, true, ME), (e: { code?: string }) => e.code === 'CORRUPTED');
      assert.is(statSync(path).size, size, 'nothing cut: the groups after the damage are still in the file');
    } else {
      const again = TxTable.open(path, false, ME);
      assert.is(again.table.decidedOf(C, 300n), undefined, 'cut at the damage: a log without syncs promises nothing across a power loss');
      again.table.close();
    }
  }
});

t('a full prepared table makes writers wait until a decision frees room; decisions in order of precedence', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { table } = TxTable.open(path, false, ME);
  const first = table.admit(C, 1n, undefined, '1');
  for (let e = 2n; !table.full; e++) table.admit(C, e, undefined, '1');
  assert.is(table.size, MAX_PREPARED);
  await rejectsWith(table.waitForRoom(30), 'TIMEOUT');
  const room = table.waitForRoom(5000);
  table.failed(first);
  await table.decide(first, 'abort');
  await room;
  assert.is(table.full, false);
  table.close();
  assert.is(decideFrom(['complete', 'complete', 'skip']), 'commit');
  assert.is(decideFrom(['complete', 'never']), 'abort');
  assert.is(decideFrom(['committed', 'never']), 'commit', 'someone committed: the commit stands (the other forgot)');
  assert.is(decideFrom(['complete', 'aborted']), 'abort');
  assert.is(decideFrom(['complete', 'forgotten']), 'abort');
});

t('record text parses to the record for every shape (odd container names and epochs are stringified)', () => {
  const recs: TxRecord[] = [
    { t: 'I', c: '0f9c2d2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f', e: '123' },
    { t: 'I', c: 'c', e: '18446744073709551615', n: 3, r: [0, 4, 7] },
    { t: 'P', c: 'c', e: '5', n: 1, r: [2], u: ['42', '4294967297'] },
    { t: 'D', c: 'c', e: '5', u: ['1'] }, { t: 'D', c: 'c', e: '6' }, { t: 'A', c: 'c', e: '7' }, { t: 'S', c: 'c', e: '8' },
    { t: 'F', c: 'c', f: '10', w: '9' }, { t: 'F', c: 'c', f: '10' },
    { t: 'D', c: 'a"b\\c\u0001', e: '9', u: ['x"y'] }, { t: 'I', c: 'c', e: '1"2' }, { t: 'I', c: 'c', e: '' }, { t: 'I', c: 'c', e: '1', n: 1.5, r: [1] },
  ];
  for (const r of recs) assert.equal(JSON.parse(recordText(r)), JSON.parse(JSON.stringify(r)), JSON.stringify(r));
});

t('records written in place are the bytes of their text; others are left to the text, nothing written', () => {
  const C = '0f9c2d2e-1b3a-4c5d-8e9f-0a1b2c3d4e5f';
  const big = '1461501637330902918203684832716283019655932542975'; // 2^160 - 1: the largest unit
  const fast: TxRecord[] = [
    { t: 'P', c: C, e: '1844674407370955161', n: 1, r: [0, 1, 2], u: [big] },
    { t: 'P', c: C, e: '5', n: 3, r: [2, 9007199254740991], u: ['42', '4294967297', '0'] },
    { t: 'D', c: C, e: '5', u: ['1'] }, { t: 'D', c: C, e: '6' }, { t: 'A', c: 'c', e: '7' }, { t: 'S', c: 'c', e: '8' },
    { t: 'I', c: 'ü"\\', e: '9', n: 2, r: [] }, { t: 'P', c: C, e: '10', n: 0, r: [1], u: [] }, { t: 'P', c: C, e: '12', n: -3, r: [10, 123456], u: ['7'] },
  ];
  for (const r of fast) {
    const buf = Buffer.alloc(600, 0xee);
    const end = writeRecord(r, buf, 7);
    assert.ok(end > 7, `${JSON.stringify(r)} is written in place`);
    assert.is(buf.subarray(7, end).toString('utf8'), recordText(r), JSON.stringify(r));
    assert.equal(JSON.parse(buf.subarray(7, end).toString('utf8')), JSON.parse(JSON.stringify(r)), `${JSON.stringify(r)}: its bytes parse to the record`);
    assert.ok(buf.subarray(0, 7).every((b) => b === 0xee) && buf.subarray(end).every((b) => b === 0xee), 'nothing outside its bytes');
  }
  const slow: TxRecord[] = [
    { t: 'F', c: C, f: '10', w: '9' }, { t: 'I', c: C, e: '1"2' }, { t: 'I', c: C, e: '' }, { t: 'I', c: C, e: '1', n: 1.5, r: [1] },
    { t: 'P', c: C, e: '1', n: 1, r: [-1], u: ['1'] }, { t: 'D', c: C, e: '9', u: ['x"y'] }, { t: 'D', c: C, e: '9', u: [big + '0000000000000'] },
  ];
  for (const r of slow) {
    const buf = Buffer.alloc(600, 0xee);
    assert.is(writeRecord(r, buf, 0), -1, JSON.stringify(r));
    assert.ok(buf.every((b) => b === 0xee), 'nothing written');
  }
  const tight = Buffer.alloc(40);
  assert.is(writeRecord(fast[0]!, tight, 0), -1, 'a record that may not fit is left to the text');
  // A commit of many units goes through its text, in the same group, and reads back whole.
  const path = join(tmpDir(), 'tx.log');
  const { log } = TxLog.open(path, false);
  const many: TxRecord = { t: 'P', c: C, e: '11', n: 400, r: [0, 1], u: Array.from({ length: 400 }, (_, i) => String(1000000000000 + i)) };
  void log.append(fast[0]!); void log.append(many); void log.append(fast[2]!);
  log.close();
  assert.equal(TxLog.read(path), [fast[0], many, fast[2]]);
  assert.equal(TxLog.readGroups(path), [[fast[0], many, fast[2]]], 'appended in one synchronous stretch: one group');
});

t('records appended in separate stretches are separate groups (readGroups), in order', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { log } = TxLog.open(path, false);
  const a: TxRecord = { t: 'P', c: C, e: '21', n: 1, r: [ME] }, b: TxRecord = { t: 'D', c: C, e: '21' }, d: TxRecord = { t: 'A', c: C, e: '22' };
  const first = log.append(a); void log.append(b);
  await first; // (the first group is written at the next microtask)
  await log.append(d);
  log.close();
  assert.equal(TxLog.readGroups(path), [[a, b], [d]]);
  assert.equal(TxLog.read(path), [a, b, d], 'the same records, flat');
});

/** A log image of format version 1 (a header and an xxh64 per record), as builds before version 2 wrote it. */
function v1Image(recs: readonly TxRecord[]): Buffer {
  const head = Buffer.alloc(16);
  head.write('CAIRNTXL', 0, 'latin1');
  head.writeUInt32LE(1, 8);
  return Buffer.concat([head, ...recs.map((r) => {
    const json = Buffer.from(JSON.stringify(r));
    const h = Buffer.alloc(16);
    h.writeUInt32LE(0x524c5854, 0);
    h.writeUInt32LE(16 + json.length, 4);
    h.writeBigUInt64LE(xxh64(json), 8);
    return Buffer.concat([h, json]);
  })]);
}

t('a version-1 log is read (its torn tail cut) and rewritten as version 3; a newer version is refused', async () => {
  const path = join(tmpDir(), 'tx.log');
  const recs: TxRecord[] = [
    { t: 'I', c: C, e: '100', n: 2, r: [1, ME] },
    { t: 'I', c: D, e: '100', n: 1, r: [ME, 3] }, { t: 'P', c: D, e: '100', n: 1, r: [ME, 3], u: ['30064771072'] },
    { t: 'I', c: C, e: '300', n: 1, r: [ME] }, { t: 'D', c: C, e: '300', u: ['17179869184'] }, { t: 'A', c: C, e: '400' },
  ];
  // (a torn v1 record after them: cut)
  writeFileSync(path, Buffer.concat([v1Image(recs), Buffer.from([0x54, 0x58, 0x4c, 0x52, 0xff, 0, 0, 0, 1, 2])]));
  assert.equal(TxLog.read(path), recs, 'read as it is');
  const { table, undecided } = TxTable.open(path, false, ME);
  assert.is(readFileSync(path).readUInt32LE(8), TXLOG_FORMAT_VERSION, 'rewritten in the current format when opened');
  assert.equal(undecided.map((p) => `${p.cont}/${p.epoch}/${p.complete}`).sort(), [`${C}/100/false`, `${D}/100/true`].sort());
  assert.is(table.decidedOf(C, 300n), 'commit');
  assert.is(table.decidedOf(C, 400n), 'abort');
  const b = table.admit(C, 500n, { ranks: [ME], n: 1 }, '1');
  await table.applied(b);
  table.close();
  assert.equal(TxLog.read(path), [...recs, { t: 'D', c: C, e: '500', u: ['1'] }], 'the old records, then the new ones (no INTENT)');
  // A log of a newer format: FORMAT_VERSION, the file left alone.
  const newer = readFileSync(path);
  newer.writeUInt32LE(TXLOG_FORMAT_VERSION + 1, 8);
  writeFileSync(path, newer);
  assert.throws(() => TxTable.open(path, false, ME), (e: unknown) => (e as { code?: string }).code === 'FORMAT_VERSION');
  assert.throws(() => TxLog.read(path), (e: unknown) => (e as { code?: string }).code === 'FORMAT_VERSION');
  assert.equal(readFileSync(path), newer);
});

/** A log image of format version 2 (groups of records, INTENTs written), as builds before version 3 wrote it. */
function v2Image(recs: readonly TxRecord[]): Buffer {
  const head = Buffer.alloc(16);
  head.write('CAIRNTXL', 0, 'latin1');
  head.writeUInt32LE(2, 8);
  const body = Buffer.from(recs.map((r) => JSON.stringify(r)).join('\n'));
  const h = Buffer.alloc(16);
  h.writeUInt32LE(0x474c5854, 0);
  h.writeUInt32LE(16 + body.length, 4);
  h.writeBigUInt64LE(xxh64(body), 8);
  return Buffer.concat([head, h, body]);
}

t('a version-2 log is read (its INTENTs replayed: incomplete pairs, aborted by the engine) and rewritten as version 3', async () => {
  const path = join(tmpDir(), 'tx.log');
  const recs: TxRecord[] = [
    { t: 'I', c: C, e: '100', n: 2, r: [1, ME] },
    { t: 'I', c: D, e: '100', n: 1, r: [ME, 3] }, { t: 'P', c: D, e: '100', n: 1, r: [ME, 3], u: ['30064771072'] },
    { t: 'I', c: C, e: '300', n: 1, r: [ME] }, { t: 'D', c: C, e: '300', u: ['17179869184'] },
  ];
  writeFileSync(path, v2Image(recs));
  assert.equal(TxLog.read(path), recs, 'read as it is');
  const { table, undecided } = TxTable.open(path, false, ME);
  assert.is(readFileSync(path).readUInt32LE(8), 3, 'rewritten as version 3 when opened');
  assert.equal(TxLog.read(path), recs, 'every record kept');
  const byKey = new Map(undecided.map((p) => [`${p.cont}/${p.epoch}`, p]));
  assert.equal([...byKey.keys()].sort(), [`${C}/100`, `${D}/100`].sort());
  assert.is(byKey.get(`${C}/100`)!.complete, false, 'an INTENT alone: incomplete (the engine aborts it before serving)');
  assert.is(byKey.get(`${C}/100`)!.units, undefined, 'its units are unknown: every read of the container waits');
  assert.is(table.blocking(C, 150n, '99').length, 1);
  assert.is(byKey.get(`${D}/100`)!.complete, true);
  assert.is(table.decidedOf(C, 300n), 'commit');
  table.close();
});

t('the records of one synchronous stretch are one checksummed group: a damaged group is cut whole, the groups before it stay', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { table } = TxTable.open(path, false, ME);
  const a = table.admit(C, 10n, { ranks: [ME], n: 1 }, '1');
  await table.applied(a);
  const size = statSync(path).size;
  const ps = [20n, 21n, 22n].map((e) => table.admit(C, e, { ranks: [1, ME], n: 1 }, '2'));
  const acks = ps.map((p) => table.applied(p));
  await acks[0];
  assert.ok(acks.every((x) => x === acks[0]), 'one write for the three P records');
  table.close();
  assert.is(TxLog.read(path).length, 4, 'D, then the three P records');
  // A byte of the last group's body flipped: the group fails its checksum and is cut whole.
  const img = readFileSync(path);
  img[img.length - 3] ^= 0x20;
  writeFileSync(path, img);
  const again = TxTable.open(path, false, ME);
  assert.is(statSync(path).size, size, 'cut at the damaged group');
  assert.is(again.undecided.length, 0, 'none of its P records is known (none of their writes was acknowledged: each waits for its group)');
  assert.is(again.table.decidedOf(C, 10n), 'commit');
  // A record too large for a group is refused and leaves the log whole.
  assert.throws(() => again.table.tombstone(C.slice(0, 35) + 'x'.repeat(MAX_TXLOG_RECORD), 5n), (e: unknown) => (e as { code?: string }).code === 'CORRUPTED');
  const c = again.table.admit(C, 30n, { ranks: [ME], n: 1 }, '3');
  await again.table.applied(c);
  again.table.close();
  assert.equal(TxLog.read(path).slice(-2).map((r) => `${r.t}${r.e}`), ['D10', 'D30']);
});

t('past MAX_DECIDED the oldest decisions are forgotten per container: their epochs answer forgotten, late writes are refused, watcher history starts above them; the same after a restart', async () => {
  const path = join(tmpDir(), 'tx.log');
  const { table } = TxTable.open(path, false, ME);
  // D gets 5 commits first, then C fills the table: D's are forgotten first, C's oldest after them.
  // 6 decisions of D, then C's tombstones and one commit: `over` more than the table keeps, so D's 6 and C's first 2 are forgotten.
  const over = 8;
  let last: Promise<void> = Promise.resolve();
  for (let e = 1n; e <= 5n; e++) last = table.tombstone(D, e).then(() => undefined);
  const dc = table.admit(D, 6n, { ranks: [ME], n: 1 }, '1');
  await table.applied(dc);
  for (let e = 1n; e <= BigInt(MAX_DECIDED - 7 + over); e++) last = table.tombstone(C, 1000n + e);
  const cc = table.admit(C, 5_000_000n, { ranks: [ME], n: 1 }, '2');
  await table.applied(cc); await last;
  const check = (tb: TxTable, when: string) => {
    assert.is(tb.decidedOf(D, 3n), 'forgotten', when);
    assert.is(tb.decidedOf(D, 6n), 'forgotten', `${when}: D's commit too`);
    assert.is(tb.historyStart(D), 6n, `${when}: D's watcher history starts above its forgotten commit`);
    assert.is(tb.decidedOf(C, 1002n), 'forgotten', when);
    assert.is(tb.decidedOf(C, 1003n), 'abort', `${when}: the next one is remembered`);
    assert.is(tb.decidedOf(C, 999n), 'forgotten', `${when}: anything below the floor too`);
    assert.is(tb.historyStart(C), 0n, `${when}: no commit of C was forgotten`);
    assert.is(tb.decidedOf(C, 5_000_000n), 'commit', when);
    assert.equal(tb.commitsIn(C, 0n, 1n << 62n).map((x) => x.epoch), [5_000_000n]);
    assert.throws(() => tb.admit(D, 2n, { ranks: [ME], n: 1 }, '1'), (e: unknown) => (e as { code?: string }).code === 'STALE_EPOCH');
    assert.ok(tb.admit(D, 7n, { ranks: [ME], n: 1 }, '1'), `${when}: above the floor, a new commit is admitted`);
  };
  check(table, 'running');
  table.close();
  const again = TxTable.open(path, false, ME);
  check(again.table, 'after a restart');
  again.table.close();
});

t('decisions come in any order and twice: they answer as a plain map of them would, watchers get them in order; past the bound the oldest one\'s container forgets its lowest', async () => {
  const { table } = TxTable.open(join(tmpDir(), 'tx.log'), false, ME);
  const model = new Map<string, Map<bigint, 'commit' | 'abort'>>([[C, new Map()], [D, new Map()]]);
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  // Epochs mostly rising, some far below (a resolver's late abort), some again (a repeated notice).
  let top = 1000n;
  for (let i = 0; i < 3000; i++) {
    const cont = rnd(3) === 0 ? D : C;
    const r = rnd(10);
    const epoch = r < 6 ? (top += BigInt(1 + rnd(3))) : r < 8 ? top - BigInt(rnd(40)) : BigInt(1 + rnd(900));
    if (model.get(cont)!.has(epoch) || table.get(cont, epoch) !== undefined) { await table.tombstone(cont, epoch); continue; } // (already decided: nothing changes)
    if (rnd(2) === 0) { await table.tombstone(cont, epoch); model.get(cont)!.set(epoch, 'abort'); } else { const p = table.admit(cont, epoch, { ranks: [ME], n: 1 }, '4294967296'); await table.applied(p); model.get(cont)!.set(epoch, 'commit'); }
  }
  for (const [cont, m] of model) {
    for (const [e, d] of m) assert.is(table.decidedOf(cont, e), d, `${cont}@${e}`);
    for (const e of [0n, 999n, top + 1n]) if (!m.has(e)) assert.is(table.decidedOf(cont, e), undefined, `${cont}@${e} never decided`);
    const commits = [...m].filter(([, d]) => d === 'commit').map(([e]) => e).sort((a, b) => (a < b ? -1 : 1));
    assert.equal(table.commitsIn(cont, 0n, top).map((x) => x.epoch), commits, `${cont}: every commit, ascending`);
    const mid = commits[commits.length >> 1]!;
    assert.equal(table.commitsIn(cont, mid, top).map((x) => x.epoch), commits.filter((e) => e > mid), `${cont}: those above ${mid}`);
  }
  // Past the bound: as many more decisions of C, in order; D's (remembered before) go first, lowest first.
  const dEpochs = [...model.get(D)!.keys()].sort((a, b) => (a < b ? -1 : 1));
  let last: Promise<void> = Promise.resolve();
  for (let i = 1; i <= MAX_DECIDED; i++) last = table.tombstone(C, top + BigInt(i));
  await last;
  for (const e of dEpochs) assert.is(table.decidedOf(D, e), 'forgotten', `D@${e}`);
  assert.is(table.decidedOf(C, top + BigInt(MAX_DECIDED)), 'abort');
  table.close();
});

t('with keepMs, a decision younger than keepMs is remembered past MAX_DECIDED (a participant that missed its notice asks after the tx timeout, and a forgotten commit would seal as an abort); older ones are forgotten as before', async () => {
  let clock = 1_000;
  const { table } = TxTable.open(join(tmpDir(), 'tx.log'), false, ME, { keepMs: 30_000, now: () => clock });
  const dc = table.admit(D, 6n, { ranks: [ME, ME + 1], n: 1 }, '1');
  await table.applied(dc);
  await table.decide(dc, 'commit');
  let last: Promise<unknown> = Promise.resolve();
  for (let e = 1n; e <= BigInt(MAX_DECIDED + 10); e++) { clock += 0.1; last = table.tombstone(C, 1000n + e); }
  await last;
  assert.is(table.decidedOf(D, 6n), 'commit', 'D@6 was decided less than keepMs ago: still known, past MAX_DECIDED newer decisions');
  assert.is(table.decidedOf(C, 1001n), 'abort', 'so is the oldest of C');
  clock += 30_000;
  await table.tombstone(C, 1000n + BigInt(MAX_DECIDED + 11));
  // Now every decision is older than keepMs but the newest: the oldest are forgotten down to MAX_DECIDED.
  assert.is(table.decidedOf(D, 6n), 'forgotten', 'D@6, the oldest, is forgotten once older than keepMs');
  assert.is(table.decidedOf(C, 1011n), 'forgotten', 'and the oldest of C down to MAX_DECIDED remembered');
  assert.is(table.decidedOf(C, 1012n), 'abort');
  assert.is(table.decidedOf(C, 1000n + BigInt(MAX_DECIDED + 11)), 'abort');
  table.close();
});

t.run();
