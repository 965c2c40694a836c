/**
 * Journal formats 3-5: INTENT records carry a binary payload (intent-codec.ts) that recovery
 * reads exactly as the JSON one; format 4 adds the store-hash flag (a single value's hash is its
 * store checksum); version 2 journals (JSON payloads) and version 3 ones still replay and become
 * format 5 (one file, both copies) when opened for writing; a newer version is refused with
 * FORMAT_VERSION; a damaged binary payload is a damaged record (read from the other copy).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync, writeFileSync, openSync, readSync, writeSync, closeSync, statSync, mkdirSync } from 'node:fs';
import { Journal, JournalType } from '../../src/container/journal.js';
import { intentBytes, writeIntent, decodeIntent, intentObjects, intentBytesV1, writeIntentV1, type IntentFields } from '../../src/container/intent-codec.js';
import { LocalContainerStorage, singleHash } from '../../src/container/storage.js';
import { valueChecksum } from '../../src/vos/index.js';
import { CairnError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { tmpDir } from '../helpers/tmp.js';
import { flipCopy, copyImage, copyRecords, writeTwoFileJournal } from './journal-file.js';

await initXxhash();
const t = suite('journal-format');

const bytes = (...xs: number[]) => new Uint8Array(xs);

/** A version 2 journal file written byte by byte (independent of the journal's encoder): header, then JSON records. */
function writeV2(path: string, recs: Array<{ type: number; epoch: bigint; payload: unknown }>, version = 2): void {
  writeTwoFileJournal(path, recs, version, [path]);
}

const headerVersion = (p: string) => readFileSync(p).readUInt32LE(8);

t('binary INTENT payloads decode to the JSON encoding\'s shape (seeded random commits, with and without single values)', () => {
  const rng = new Rng(14);
  for (let k = 0; k < 300; k++) {
    const targets = Array.from({ length: rng.int(6) }, () => rng.int(1 << 20));
    const objects = Array.from({ length: rng.int(4) }, () => (BigInt(rng.int(1 << 30)) << BigInt(rng.int(97))).toString(16));
    const f: IntentFields = rng.int(2) === 0 ? { targets, objects } : {
      targets, objects,
      single: {
        dkey: Uint8Array.from({ length: rng.int(40) }, () => rng.int(256)),
        akey: Uint8Array.from({ length: rng.int(40) }, () => rng.int(256)),
        hash: (BigInt(rng.int(1 << 30)) << 34n) | BigInt(rng.int(1 << 30)),
        ...(rng.int(2) === 0 ? { storeHash: true } : {}),
        shards: Array.from({ length: 1 + rng.int(4) }, () => [rng.int(1000), rng.int(100)] as [number, number]),
        ...(rng.int(2) === 0 ? { value: Uint8Array.from({ length: rng.int(300) }, () => rng.int(256)) } : {}),
      },
    };
    const n = intentBytes(f);
    const buf = Buffer.alloc(n + 8, 0xcc);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
    assert.is(writeIntent(buf, dv, 4, f), 4 + n, 'writes exactly intentBytes');
    assert.is(buf[3], 0xcc); assert.is(buf[4 + n], 0xcc);
    const s = f.single;
    const want = JSON.parse(JSON.stringify({
      targets, objects,
      ...(s ? { single: { d: Buffer.from(s.dkey).toString('hex'), a: Buffer.from(s.akey).toString('hex'), h: s.hash.toString(16), s: s.shards, ...(s.storeHash ? { c: 1 } : {}), ...(s.value ? { v: Buffer.from(s.value).toString('base64') } : {}) } } : {}),
    }));
    assert.equal(decodeIntent(buf, dv, 4, 4 + n), want);
    // cut short, or with a byte more: not a payload
    assert.is(decodeIntent(buf, dv, 4, 4 + n - 1), undefined);
    assert.is(decodeIntent(buf, dv, 4, 4 + n + 1), undefined);
    // the compact layout (codec 2, journal format 7) against the first one (codec 1, formats 3-6: still read)
    const n1 = intentBytesV1(f);
    const b1 = Buffer.alloc(n1);
    const dv1 = new DataView(b1.buffer, b1.byteOffset, b1.length);
    assert.is(writeIntentV1(b1, dv1, 0, f), n1);
    assert.equal(decodeIntent(b1, dv1, 0, n1), want, 'codec 1');
    assert.equal(intentObjects(b1, 0, n1), objects, 'codec 1 ids');
    assert.equal(intentObjects(buf, 4, 4 + n), objects, 'codec 2 ids');
    assert.ok(n <= n1, 'never longer');
  }
});

t('codec 2 INTENT payloads: a 100-byte put\'s is 140 bytes (193 in codec 1); a damaged count, length or padding nibble is not a payload', () => {
  const f: IntentFields = { targets: [7, 11], objects: ['80000c25b3d2608a0eed13fdd467e'], single: { dkey: Buffer.from('v'), akey: Buffer.from('v'), hash: 0x31129bc411f7c2f5n, storeHash: true, shards: [[7, 0], [11, 1]], value: new Uint8Array(100).fill(0x5a) } };
  assert.is(intentBytes(f), 140);
  assert.is(intentBytesV1(f), 193);
  const n = intentBytes(f);
  const buf = Buffer.alloc(n);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
  writeIntent(buf, dv, 0, f);
  const good = decodeIntent(buf, dv, 0, n);
  assert.ok(good);
  // the odd id's padding nibble (the last byte of its 15) set: not a payload
  const padAt = 2 + 1 + 1 + 2 + 1 + 14;
  assert.is(buf[padAt]! & 15, 0);
  buf[padAt] = buf[padAt]! | 1;
  assert.is(decodeIntent(buf, dv, 0, n), undefined, 'padding nibble');
  assert.is(intentObjects(buf, 0, n), undefined, 'padding nibble (ids)');
  buf[padAt] = buf[padAt]! & 0xf0;
  for (const [at, v, what] of [[2, 200, 'target count'], [3, 9, 'object count'], [6, 0, 'empty id'], [6, 65, 'id too long'], [1, 0x18, 'unknown flag']] as const) {
    const c = Buffer.from(buf);
    c[at] = v;
    assert.is(decodeIntent(c, new DataView(c.buffer, c.byteOffset, c.length), 0, n), undefined, what);
  }
  // an unfinished varint (continuation bit on the last byte) is not one
  const c = Buffer.from(buf.subarray(0, 3)); c[2] = 0x81;
  assert.is(decodeIntent(c, new DataView(c.buffer, c.byteOffset, c.length), 0, 3), undefined, 'unfinished varint');
});

t('a commit recorded with a binary INTENT recovers as before: finished, torn (checked on the targets), and redo values replayed', async () => {
  const dir = join(tmpDir(), 'c');
  let s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  const value = bytes(1, 2, 3, 250);
  const single = { dkey: bytes(0x64), akey: bytes(0x61, 0), hash: xxh64(value), shards: [[3, 0], [7, 1]] as Array<[number, number]>, value };
  await s.intent(10n, { targets: [3, 7], objects: ['abc'], single });
  await s.done(10n, { targets: [3, 7], objects: ['abc'] });
  await s.intent(11n, { targets: [2, 5], objects: ['1f', 'ff00'] });
  await s.done(11n, { targets: [2, 5], objects: ['1f', 'ff00'] });
  await s.intent(12n, { targets: [1, 4], objects: ['de'], single: { dkey: bytes(9), akey: bytes(8), hash: 77n, shards: [[1, 0], [4, 1]] } });
  value.fill(0); // the caller's buffer changes once the put resolved: the journal holds what was committed
  s.close();
  assert.is(headerVersion(join(dir, 'journal')), 7);
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  const rec = s.recover();
  assert.equal(rec.done.map((d) => [d.epoch, d.objects]), [[10n, [0xabcn]], [11n, [0x1fn, 0xff00n]]]);
  assert.equal(rec.torn.map((x) => [x.epoch, x.targets, x.objects, x.single?.shards, x.single?.hash, [...(x.single?.dkey ?? [])]]), [[12n, [1, 4], ['de'], [[1, 0], [4, 1]], 77n, [9]]]);
  assert.is(rec.replay?.length, 1);
  assert.equal([...rec.replay![0]!.single.value], [1, 2, 3, 250]);
  assert.equal(rec.replay![0]!.single.shards, [[3, 0], [7, 1]]);
  // a checkpoint's rewrite re-encodes the kept INTENT from the bytes written, not the caller's buffer
  await s.intent(13n, { targets: [3, 7], objects: ['abd'], single: { ...single, value: bytes(5, 6), hash: xxh64(bytes(5, 6)) } });
  await s.done(13n, { targets: [3, 7], objects: ['abd'] });
  await s.dropRedo!(12n, [{ epoch: 10n, objects: [0xabcn] }]);
  s.close();
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  const again = s.recover();
  assert.equal(again.replay!.map((r) => [r.epoch, [...r.single.value]]), [[13n, [5, 6]]]);
  s.close();
});

t('a version 2 journal (JSON payloads) replays, and becomes format 5 when opened for writing', async () => {
  const dir = join(tmpDir(), 'c');
  mkdirSync(dir, { recursive: true });
  const value = bytes(7, 7, 7);
  const recs = [
    { type: JournalType.Intent, epoch: 4n, payload: { targets: [0, 1], objects: ['aa'], single: { d: '64', a: '61', h: xxh64(value).toString(16), s: [[0, 0], [1, 1]], v: Buffer.from(value).toString('base64') } } },
    { type: JournalType.Done, epoch: 4n, payload: {} },
    { type: JournalType.Intent, epoch: 5n, payload: { targets: [2], objects: ['bb'] } },
  ];
  for (const f of ['journal', 'journal.copy']) writeV2(join(dir, f), recs);
  // a read-only reader reads it as it is
  const seen = Journal.read(join(dir, 'journal'));
  assert.equal(seen.records.map((r) => [r.type, r.epoch]), [[1, 4n], [2, 4n], [1, 5n]]);
  assert.is(headerVersion(join(dir, 'journal')), 2);
  let s = await LocalContainerStorage.open(dir, true, { redo: true });
  const rec = s.recover();
  assert.equal(rec.replay!.map((r) => [r.epoch, [...r.single.value]]), [[4n, [7, 7, 7]]]);
  assert.equal(rec.torn.map((x) => [x.epoch, x.targets]), [[5n, [2]]]);
  assert.is(headerVersion(join(dir, 'journal')), 7);
  assert.is(headerVersion(join(dir, 'journal.copy')), 7);
  assert.is(statSync(join(dir, 'journal.copy')).size, 16, 'journal.copy is the guard');
  await s.abort(5n, { recovered: true });
  await s.intent(6n, { targets: [3], objects: ['cc'] });
  await s.done(6n, { targets: [3], objects: ['cc'] });
  s.close();
  // old JSON records and new binary ones in one file
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  const r2 = s.recover();
  assert.equal(r2.done.map((d) => d.epoch), [4n, 6n]);
  assert.is(r2.torn.length, 0);
  s.close();
});

t('a journal of a newer format version is refused with FORMAT_VERSION (open and read); one copy\'s bad version is repaired from the other', () => {
  const p = join(tmpDir(), 'j');
  for (const f of [p, p + '.copy']) writeV2(f, [{ type: JournalType.Done, epoch: 1n, payload: {} }], 8);
  for (const fn of [() => Journal.open(p), () => Journal.read(p)]) {
    try { fn(); assert.unreachable('a newer format opened'); } catch (err) {
      assert.instance(err, CairnError);
      assert.is((err as CairnError).code, 'FORMAT_VERSION');
      assert.match((err as Error).message, /newer than this build reads/);
    }
  }
  // only the copy's version is off (a flipped byte): the primary vouches for the format
  const q = join(tmpDir(), 'j');
  const { journal } = Journal.open(q);
  journal.append(JournalType.Done, 1n);
  journal.close();
  for (const [copy, at] of [[1, 8], [0, 9], [1, 2], [0, 12]] as const) {
    flipCopy(q, copy, at, 0x43);
    const r = Journal.open(q);
    assert.equal(r.records.map((x) => x.epoch), [1n], `copy ${copy} header byte ${at}`);
    assert.is(copyImage(q, copy).readUInt32LE(8), 7, 'the header is rewritten from the other copy');
    r.journal.close();
  }
  // both copies' versions newer: refused
  flipCopy(q, 0, 9, 0x01); flipCopy(q, 1, 9, 0x01);
  try { Journal.open(q); assert.unreachable('a newer format opened'); } catch (err) { assert.is((err as CairnError).code, 'FORMAT_VERSION'); }
});

t('format 4 store hashes: a redo value replays only when its store checksum matches; a version 3 journal keeps seed-0 hashes and becomes format 5', async () => {
  const value = bytes(3, 1, 4, 1, 5);
  const single = (hash: bigint, storeHash: boolean) => ({ dkey: bytes(0x64), akey: bytes(0x61), hash, ...(storeHash ? { storeHash } : {}), shards: [[2, 0], [5, 1]] as Array<[number, number]>, value });
  const dir = join(tmpDir(), 'c');
  let s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  // 20: the store checksum, flagged; 21: the seed-0 hash flagged as a store checksum (not trusted);
  // 22: the seed-0 hash, unflagged (format 3's meaning)
  const cases: Array<[bigint, bigint, boolean]> = [[20n, valueChecksum(value), true], [21n, xxh64(value), true], [22n, xxh64(value), false]];
  for (const [e, h, c] of cases) {
    await s.intent(e, { targets: [2, 5], objects: ['a' + e.toString(16)], single: single(h, c) });
    await s.done(e, { targets: [2, 5], objects: ['a' + e.toString(16)] });
  }
  s.close();
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  let rec = s.recover();
  assert.equal(rec.replay!.map((r) => [r.epoch, r.single.storeHash === true, [...r.single.value]]), [[20n, true, [3, 1, 4, 1, 5]], [22n, false, [3, 1, 4, 1, 5]]]);
  assert.is(singleHash(rec.replay![0]!.single, value), rec.replay![0]!.single.hash);
  assert.is(singleHash(rec.replay![1]!.single, value), rec.replay![1]!.single.hash);
  s.close();
  // the same records under a version 3 header (an older build's file: no record there has the flag,
  // so only 22 is of its kind): read as ever, and the header becomes 4 once opened for writing
  // (the two files of a version 3 journal: each the bytes of one copy, with a version 3 header)
  const img = copyImage(join(dir, 'journal'), 0);
  const recs = copyRecords(img);
  const v3 = Buffer.from(img.subarray(0, recs[recs.length - 1]!.off + recs[recs.length - 1]!.len));
  v3.writeUInt32LE(3, 8);
  for (const f of ['journal', 'journal.copy']) writeFileSync(join(dir, f), v3);
  assert.is(headerVersion(join(dir, 'journal')), 3);
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  rec = s.recover();
  assert.equal(rec.replay!.map((r) => r.epoch), [20n, 22n]);
  assert.is(headerVersion(join(dir, 'journal')), 7);
  assert.is(headerVersion(join(dir, 'journal.copy')), 7);
  s.close();
});

t('a flipped byte in a binary INTENT: read from the other copy; in both copies the record is damaged, never misread', async () => {
  const fields = { targets: [4, 9], objects: ['77'], single: { dkey: bytes(1), akey: bytes(2), hash: 5n, shards: [[4, 0], [9, 1]] as Array<[number, number]> } };
  const at = 16 + 32 + intentBytes(fields) - 10; // inside the shards of the first record's payload
  const flip = (f: string, copy: 0 | 1) => flipCopy(f, copy, at, 0x10);
  const write = async (dir: string) => {
    const s = await LocalContainerStorage.open(dir, false);
    s.recover();
    await s.intent(3n, fields);
    await s.intent(4n, { targets: [1], objects: ['88'] });
    s.close();
  };
  const one = join(tmpDir(), 'c');
  await write(one);
  flip(join(one, 'journal'), 0);
  let s = await LocalContainerStorage.open(one, false);
  const rec = s.recover();
  assert.equal(rec.torn.sort((x, y) => Number(x.epoch - y.epoch)).map((x) => [x.epoch, x.targets, x.single?.shards]), [[3n, [4, 9], [[4, 0], [9, 1]]], [4n, [1], undefined]]);
  s.close();
  const both = join(tmpDir(), 'c');
  await write(both);
  flip(join(both, 'journal'), 0); flip(join(both, 'journal'), 1);
  const j = Journal.open(join(both, 'journal'));
  assert.equal(j.records.map((r) => r.epoch), [4n]);
  assert.is(j.corruptRecords, 2);
  assert.ok(j.damaged);
  j.journal.close();
});

t.run();
