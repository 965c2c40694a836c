/**
 * Commit journal and object index specification: records survive reopen, a torn or corrupt tail
 * is cut (never trusted), compaction keeps the retained history.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { appendFileSync, statSync, openSync, writeSync, closeSync, readdirSync, cpSync, renameSync } from 'node:fs';
import { Journal, JournalType, JOURNAL_PREALLOC_BYTES, journalCopyOffset, copyLength, type AppendRecord } from '../../src/container/journal.js';
import { intentObjects, decodeIntent, decodeIntentTyped, forEachIntentObject, intentBytes, intentCarriesValue, intentSingle, writeIntent, type IntentFields } from '../../src/container/intent-codec.js';
import { flipCopy, writeAtCopy, copyImage, copyRecords } from './journal-file.js';
import { LocalContainerStorage, ReadOnlyContainerStorage, idRecords, hexIdRecords, mergeIdRecords, REGISTRY_MAX_DELTAS, REDO_CHECKPOINT_BYTES, singleHash } from '../../src/container/storage.js';
import { Rng } from '../../core/rng.js';
import { initXxhash } from '../../core/xxhash.js';
import { tmpDir } from '../helpers/tmp.js';

await initXxhash();
const t = suite('journal');

t('records round-trip across reopen', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  journal.append(JournalType.Intent, 5n, { targets: [1, 2], objects: ['ab'] });
  journal.append(JournalType.Done, 5n);
  journal.close();
  const { records, truncatedBytes } = Journal.open(p);
  assert.is(truncatedBytes, 0);
  assert.equal(records.map((r) => [r.type, r.epoch]), [[JournalType.Intent, 5n], [JournalType.Done, 5n]]);
  assert.equal(records[0]!.payload, { targets: [1, 2], objects: ['ab'] });
});

t('a torn tail is cut; a flipped byte in one copy is read from the other; in both, the rest is still kept and damage is reported', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  for (let i = 1; i <= 10; i++) journal.append(JournalType.Done, BigInt(i));
  const end = journal.bytes;
  journal.close();
  for (const c of [0, 1] as const) writeAtCopy(p, c, end, Buffer.from([0x4a, 0x52, 0x45, 0x43, 40, 0, 0])); // a record cut short, in both copies
  let r = Journal.open(p);
  assert.is(r.records.length, 10);
  assert.ok(r.truncatedBytes > 0);
  assert.is(r.corruptRecords, 0);
  r.journal.close();
  const recLen = (end - 16) / 10;
  const flip = (file: string, copy: 0 | 1) => flipCopy(file, copy, 16 + 5 * recLen + 26);
  // record 6 damaged in copy 0: read from copy 1
  flip(p, 0);
  r = Journal.open(p);
  assert.equal(r.records.map((x) => x.epoch).sort((a, b) => Number(a - b)), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  assert.is(r.corruptRecords, 1);
  assert.is(r.damaged, false);
  r.journal.close();
  // that open healed copy 0 (record 6 appended again from copy 1): copy 1's record 6 may now fail too
  flip(p, 1);
  r = Journal.open(p);
  assert.equal(r.records.map((x) => x.epoch).sort((a, b) => Number(a - b)), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  assert.is(r.damaged, true, 'both copies hold a damaged record (healed ones or not: said, never guessed)');
  r.journal.close();
  // record 6 damaged in both copies of a fresh journal: the records after it are kept, and the loss is reported
  const q = join(tmpDir(), 'j');
  const j2 = Journal.open(q).journal;
  for (let i = 1; i <= 10; i++) j2.append(JournalType.Done, BigInt(i));
  j2.close();
  flip(q, 0); flip(q, 1);
  r = Journal.open(q);
  assert.equal(r.records.map((x) => x.epoch).sort((a, b) => Number(a - b)), [1n, 2n, 3n, 4n, 5n, 7n, 8n, 9n, 10n]);
  assert.is(r.damaged, true);
  r.journal.close();
});

t('durable: zeros are preallocated ahead of the records; a crash image keeps them and appends after its records; a torn record there is cut; a clean close trims them', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p, { durable: true });
  for (let i = 1; i <= 10; i++) journal.append(JournalType.Done, BigInt(i));
  const ends = journal.bytes;
  const first = 16 + (ends - 16) / 10; // (the first append preallocated past its record: the others went into that space)
  // (copy 1 ends the file; copy 0's zeros fill its chunks up to there)
  assert.is(copyLength(1, statSync(p).size), first + JOURNAL_PREALLOC_BYTES, 'copy 1: preallocated past the records');
  assert.ok(copyLength(0, statSync(p).size) >= first + JOURNAL_PREALLOC_BYTES, 'copy 0: preallocated past the records');
  // the image a SIGKILL leaves (the file as it is while open)
  const q = join(tmpDir(), 'crash');
  cpSync(p, q);
  journal.close();
  const trimmed = journalCopyOffset(1, ends - 1) + 1;
  assert.is(statSync(p).size, trimmed, 'a clean close trims the zeros');
  let r = Journal.open(q, { durable: true });
  assert.equal(r.records.map((x) => x.epoch), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  assert.is(r.truncatedBytes, 0);
  assert.is(r.corruptRecords, 0);
  assert.is(r.journal.bytes, ends, 'the next record goes after the last one, not after the zeros');
  assert.is(copyLength(1, statSync(q).size), first + JOURNAL_PREALLOC_BYTES, 'the preallocated space is kept');
  for (let i = 11; i <= 12; i++) r.journal.append(JournalType.Done, BigInt(i));
  const at = r.journal.bytes;
  r.journal.close();
  r = Journal.open(q, { durable: true });
  assert.equal(r.records.map((x) => x.epoch), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n]);
  r.journal.close();
  // a record torn inside the preallocated space (both copies): cut, the records before it kept
  for (const c of [0, 1] as const) {
    writeAtCopy(q, c, at, Buffer.alloc(4096)); // (zeros again, as while open)
    writeAtCopy(q, c, at, Buffer.from([0x4a, 0x52, 0x45, 0x43, 40, 0, 0, 0, 2]));
  }
  r = Journal.open(q, { durable: true });
  assert.is(r.records.length, 12);
  assert.ok(r.truncatedBytes > 0, 'the torn record is cut');
  r.journal.append(JournalType.Done, 13n);
  r.journal.close();
  r = Journal.open(q, { durable: true });
  assert.equal(r.records.map((x) => x.epoch).slice(-2), [12n, 13n]);
  r.journal.close();
  // a journal that is not durable preallocates too (its appends overwrite zeros, never grow the
  // file per group); a crash image reads back and appends after its records; a clean close trims
  const n = join(tmpDir(), 'plain');
  const plain = Journal.open(n).journal;
  plain.append(JournalType.Done, 1n);
  const grown = statSync(n).size;
  assert.is(copyLength(1, grown), plain.bytes + 64 * 1024, 'not durable: a chunk of zeros past the records');
  for (let i = 2; i <= 50; i++) plain.append(JournalType.Done, BigInt(i));
  assert.is(statSync(n).size, grown, 'the appends went into the zeros');
  const crash = join(tmpDir(), 'plain-crash');
  cpSync(n, crash);
  const bytes = plain.bytes;
  plain.close();
  assert.is(statSync(n).size, journalCopyOffset(1, bytes - 1) + 1, 'a clean close trims the zeros');
  const again = Journal.open(crash);
  assert.equal(again.records.map((x) => x.epoch), Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
  assert.is(again.truncatedBytes, 0, 'zeros are not a torn tail');
  again.journal.append(JournalType.Done, 51n);
  again.journal.close();
  assert.equal(Journal.open(crash).records.map((x) => x.epoch).slice(-2), [50n, 51n]);
});

t('durable replacement: both copies hold the records then exactly the zeros asked for (vs a model of each copy); a redo checkpoint preallocates its whole interval, so the group writes after it never grow the file; a crash image reads back', async () => {
  // Journal.prepareReplace / commitReplace: records, then `preallocate` zeros in each copy
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p, { durable: true });
  journal.append(JournalType.Done, 1n);
  const recs: AppendRecord[] = Array.from({ length: 3000 }, (_, i) => ({ type: JournalType.Done, epoch: BigInt(10 + i), payload: { objects: [(i * 7919).toString(16)] } }));
  for (const pre of [JOURNAL_PREALLOC_BYTES, 3 * JOURNAL_PREALLOC_BYTES + 12345]) {
    const prep = await journal.prepareReplace(recs, pre);
    await journal.commitReplace(prep, []);
    const n = journal.bytes;
    assert.ok(n > 2 * 64 * 1024, 'the records span several chunks');
    assert.is(statSync(p).size, journalCopyOffset(1, n + pre - 1) + 1, `the file ends where copy 1's zeros end (${pre})`);
    for (const c of [0, 1] as const) {
      const img = copyImage(p, c);
      assert.ok(img.length >= n + pre);
      assert.ok(img.subarray(n).every((b) => b === 0), `copy ${c}: zeros after the records`);
      assert.equal(copyRecords(img).map((r) => r.epoch), recs.map((r) => r.epoch), `copy ${c}: the records`);
    }
  }
  journal.close();
  // a redo storage's checkpoint: zeros for REDO_CHECKPOINT_BYTES of records, and more
  const dir = join(tmpDir(), 'c');
  const s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  const file = join(dir, 'journal');
  const ids = (e: number) => Array.from({ length: 100 }, (_, i) => (e * 1000 + i).toString(16).padStart(24, '0'));
  let e = 0;
  const commits = async (k: number) => { await Promise.all(Array.from({ length: k }, () => { const x = ++e; return s.intent(BigInt(x), { targets: [0], objects: ids(x) }).then(() => s.done(BigInt(x), { targets: [0], objects: ids(x) })); })); };
  await commits(20);
  await s.dropRedo!(BigInt(e), []);
  const bytes = (s as unknown as { journal: Journal }).journal.bytes;
  const size = statSync(file).size;
  assert.is(copyLength(1, size), bytes + REDO_CHECKPOINT_BYTES + JOURNAL_PREALLOC_BYTES, 'the interval is preallocated with the new file');
  // past one JOURNAL_PREALLOC_BYTES of records (a group write would have zero-filled on the event loop)
  while ((s as unknown as { journal: Journal }).journal.bytes < bytes + JOURNAL_PREALLOC_BYTES + 100_000) await commits(50);
  assert.is(statSync(file).size, size, 'no group write grew the file');
  const crash = join(tmpDir(), 'crash');
  cpSync(dir, crash, { recursive: true });
  s.close();
  const again = await LocalContainerStorage.open(crash, true, { redo: true });
  const rec = again.recover();
  assert.is(rec.torn.length, 0);
  assert.is(rec.floor, BigInt(e));
  again.close();
});

t('a written batch read back record by record (forEachBatchRecord, intentObjects) gives exactly the records encoded: type, epoch, payload bytes, encoding, object ids (vs the records and decodeIntent)', () => {
  const rng = new Rng(41);
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  for (let round = 0; round < 20; round++) {
    const recs: AppendRecord[] = [];
    for (let i = 0; i < 1 + rng.int(60); i++) {
      const epoch = BigInt(round * 1000 + i) << BigInt(rng.int(40));
      const k = rng.int(4);
      if (k === 0) recs.push({ type: JournalType.Done, epoch, json: '{}' });
      else if (k === 1) recs.push({ type: JournalType.Rollback, epoch, payload: { to: String(i) } });
      else {
        const objects = Array.from({ length: rng.int(4) }, () => (BigInt(rng.int(1 << 30)) << BigInt(rng.int(97))).toString(16));
        const single = k === 3 ? { dkey: new Uint8Array([i]), akey: new Uint8Array([0x61]), hash: 7n, shards: [[1, 2]] as Array<[number, number]>, value: new Uint8Array(rng.int(200)).fill(i) } : undefined;
        recs.push({ type: JournalType.Intent, epoch, intent: { targets: [rng.int(16)], objects, ...(single ? { single } : {}) } });
      }
    }
    const written = Buffer.from(journal.writeBatch(recs)!);
    const seen: Array<[JournalType, bigint, boolean]> = [];
    Journal.forEachBatchRecord(written, (type, epoch, start, end, binary) => {
      const r = recs[seen.length]!;
      seen.push([type, epoch, binary]);
      if (r.intent !== undefined) {
        assert.equal(Buffer.from(written.subarray(start, end)), Buffer.from(Journal.intentPayload(r.intent)), 'the INTENT payload bytes');
        assert.equal(intentObjects(written, start, end), [...r.intent.objects], 'its object ids');
        assert.equal(intentObjects(written, start, end), decodeIntent(written, new DataView(written.buffer, written.byteOffset, written.length), start, end)!.objects);
      } else assert.equal(JSON.parse(written.toString('utf8', start, end)), r.json !== undefined ? JSON.parse(r.json) : r.payload, 'the JSON payload');
    });
    assert.equal(seen, recs.map((r) => [r.type, r.epoch, r.intent !== undefined]));
    // a checkpoint's split at epochs around the records' (their u32 halves compared): kept ones visited as above, the dropped INTENTs' ids given as digit ranges
    for (let c = 0; c < 6; c++) {
      const pick = recs[rng.int(recs.length)]!.epoch;
      const covered = [pick, pick - 1n, pick + 1n, pick ^ (1n << 32n), 0n, (1n << 64n) - 1n][c]!;
      if (covered < 0n) continue;
      const kept: Array<[JournalType, bigint, boolean]> = [];
      const ids: string[] = [];
      const dropped = Journal.splitBatch(written, covered, (type, epoch, _s, _e, binary) => { kept.push([type, epoch, binary]); }, (start, end, binary) => {
        assert.ok(binary, 'INTENTs are binary');
        assert.ok(forEachIntentObject(written, start, end, (at, len, packed) => {
          if (!packed) { ids.push(written.toString('latin1', at, at + len)); return; }
          let o = '';
          for (let k = 0; k < len; k++) o += ((written[at + (k >> 1)]! >> ((k & 1) === 0 ? 4 : 0)) & 15).toString(16);
          ids.push(o);
        }));
      });
      assert.equal(kept, recs.filter((r) => r.epoch > covered).map((r) => [r.type, r.epoch, r.intent !== undefined]), 'the records above the covered epoch');
      assert.is(dropped, recs.filter((r) => r.epoch <= covered).length);
      assert.equal(ids, recs.filter((r) => r.epoch <= covered && r.intent !== undefined).flatMap((r) => [...r.intent!.objects]), 'the dropped INTENTs\' ids');
    }
  }
  journal.close();
  assert.is(intentObjects(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0, 12), undefined, 'another codec version');
  assert.is(intentObjects(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0x67, 0x67]), 0, 16), undefined, 'not hex');
});

t('a rewrite copies written groups whole (AppendRecord.packed): each record read back in both copies as written, its lag 0 and its checksum taken again (a pipelined group\'s records had lags); bytes that are not whole records are refused', async () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p, { durable: true });
  const rng = new Rng(11);
  const groups: Buffer[] = [];
  const want: Array<{ type: JournalType; epoch: bigint; payload?: unknown }> = [];
  let e = 100n;
  for (let g = 0; g < 6; g++) {
    // (written without a sync between them: every group after the first has records of lag > 0)
    const recs: AppendRecord[] = [];
    for (let i = 0; i < 1 + rng.int(20); i++) {
      e++;
      const k = rng.int(3);
      if (k === 0) recs.push({ type: JournalType.Intent, epoch: e, intent: { targets: [1, 2], objects: [(e * 7919n).toString(16)] } });
      else if (k === 1) recs.push({ type: JournalType.Done, epoch: e, epochs: [e - 1n, e] });
      else recs.push({ type: JournalType.Abort, epoch: e, payload: { recovered: true } });
    }
    groups.push(Buffer.from(journal.writeBatch(recs)!));
  }
  const lagged = groups.slice(1).some((b) => copyRecords(Buffer.concat([Buffer.alloc(16), b])).some((r) => b.readUInt32LE(r.off - 16 + 12) > 0));
  assert.ok(lagged, 'the groups hold records of lag > 0');
  await journal.sync();
  const before = Journal.read(p).records.filter((r) => r.epoch > 100n);
  for (const r of before) want.push({ type: r.type, epoch: r.epoch, payload: r.payload });
  const prep = await journal.prepareReplace([{ type: JournalType.Done, epoch: 1n, payload: { objects: ['ab'] } }, ...groups.map((b) => ({ type: JournalType.Intent, epoch: 0n, packed: b }))], JOURNAL_PREALLOC_BYTES);
  await journal.commitReplace(prep, []);
  const got = Journal.read(p);
  assert.is(got.damaged, false, 'no record damaged');
  assert.equal(got.records.filter((r) => r.epoch > 100n).map((r) => ({ type: r.type, epoch: r.epoch, payload: r.payload })), want, 'every record of the groups, in order');
  for (const c of [0, 1] as const) {
    const img = copyImage(p, c);
    const recs = copyRecords(img);
    assert.is(recs.length, 1 + groups.reduce((n, b) => n + copyRecords(Buffer.concat([Buffer.alloc(16), b])).length, 0), `copy ${c}: every record`);
    for (const r of recs) assert.is(img.readUInt32LE(r.off + 12), 0, `copy ${c}: lag 0 at ${r.off}`);
  }
  // not whole records: refused before anything is written
  let err: unknown;
  try { await journal.prepareReplace([{ type: JournalType.Intent, epoch: 0n, packed: groups[0]!.subarray(0, groups[0]!.length - 1) }]); } catch (x) { err = x; }
  assert.is((err as { code?: string } | undefined)?.code, 'ASSERTION_FAILED');
  journal.close();
});

t('redo checkpoints keep the groups written as packed bytes: the records above the covered epoch survive the rewrite byte for byte (replayed with their values after a crash, their rollback discarded again), the ids of the dropped ones reach the registry (vs a model)', async () => {
  const dir = join(tmpDir(), 'c');
  const s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  const rng = new Rng(7);
  const objs = new Map<bigint, string>();
  let e = 0n;
  const copies = new Map<bigint, Buffer>();
  const put2 = async (): Promise<void> => {
    const ep = ++e;
    const oid = ((BigInt(rng.int(1 << 30)) << 40n) | ep).toString(16);
    const buf = Buffer.from(new Uint8Array(1 + rng.int(300)).map(() => rng.int(256)));
    copies.set(ep, Buffer.from(buf)); objs.set(ep, oid);
    await s.intent(ep, { targets: [1, 2], objects: [oid], single: { dkey: Buffer.from(oid), akey: Buffer.from('v'), hash: singleHash({ storeHash: true }, buf), storeHash: true, shards: [[1, 0], [2, 0]], value: buf } });
    buf.fill(0);
    s.doneLater!(ep);
  };
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 40 }, put2));
    const covered = e - 15n; // the last 15 commits stay in the journal
    await Promise.all(Array.from({ length: 10 }, put2)); // (records appended after the mark, before the rewrite)
    const aborted = ++e;
    await s.abort(aborted, { recovered: true }); // (a JSON record in a group)
    s.rollback(e + 1n, e - 3n); e++;
    const rolledAt = e;
    // (groups written while the checkpoint runs: the ids their INTENTs name move to the storage's new sink, and the next round drops them)
    const during = Promise.all(Array.from({ length: 8 }, put2));
    await s.dropRedo!(covered, []);
    await during;
    assert.is(s.redoCovered!(), covered);
    // the registry names every object of a dropped commit
    const reg = new Set((await s.registeredObjects()).map((o) => o.toString(16)));
    for (const [ep, oid] of objs) if (ep <= covered) assert.ok(reg.has(oid), `object of commit ${ep} registered`);
    // a crash now: the journal replays exactly the commits above `covered`, with their values
    const crash = join(tmpDir(), `crash${round}`);
    cpSync(dir, crash, { recursive: true });
    const again = await LocalContainerStorage.open(crash, true, { redo: true });
    const rec = again.recover();
    again.close();
    const want = [...copies.keys()].filter((ep) => ep > covered).sort((a, b) => (a < b ? -1 : 1));
    assert.equal(rec.replay!.map((r) => r.epoch).sort((a, b) => (a < b ? -1 : 1)), want, `round ${round}: replayed commits`);
    for (const r of rec.replay!) {
      assert.equal(Buffer.from(r.single.value), copies.get(r.epoch), `commit ${r.epoch}: its value`);
      assert.equal(r.objects, [objs.get(r.epoch)!]);
    }
    assert.equal(rec.rediscard!.filter((d) => d.upTo === rolledAt), [{ after: rolledAt - 4n, upTo: rolledAt }], `round ${round}: the rollback is discarded again`);
    assert.equal(Journal.read(join(crash, 'journal')).records.filter((r) => r.epoch === aborted).map((r) => [r.type, r.payload]), [[JournalType.Abort, { recovered: true }]], `round ${round}: the ABORT kept as written`);
  }
  s.close();
});

t('a container whose journal lost a DONE in one copy keeps the acknowledged commit; lost in both, it refuses to guess', async () => {
  const dir = tmpDir();
  const s = await LocalContainerStorage.open(dir, false);
  s.recover();
  await s.intent(5n, { targets: [1, 2], objects: ['ab'] });
  await s.done(5n, { targets: [1, 2], objects: ['ab'] });
  s.close();
  const file = join(dir, 'journal');
  const end = (await LocalContainerStorage.open(dir, false).then((x) => { const b = (x as unknown as { journal: Journal }).journal.bytes; x.close(); return b; }));
  // the DONE is the last record: flip a byte of its payload in copy 0
  flipCopy(file, 0, end - 1, 0xee ^ 0x7d);
  let again = await LocalContainerStorage.open(dir, false);
  let rec = again.recover();
  assert.equal(rec.torn, [], 'the DONE was read from the copy: nothing to discard');
  assert.equal(rec.done.map((d) => d.epoch), [5n]);
  again.close();
  // damage both copies of an INTENT-without-DONE situation: a commit in flight, then both copies hit
  const s2 = await LocalContainerStorage.open(dir, false);
  s2.recover();
  await s2.intent(6n, { targets: [1], objects: ['cd'] });
  s2.close();
  for (const c of [0, 1] as const) flipCopy(file, c, 16 + 10, 0x11);
  again = await LocalContainerStorage.open(dir, false);
  assert.throws(() => again.recover(), (e: unknown) => (e as { code?: string }).code === 'CORRUPTED');
  again.close();
});

t('the INTENT payloads of a written batch, taken from its bytes, equal each INTENT encoded alone; they outlive the next batch, and read back from the file', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  const rng = new Rng(0x1a7e);
  const recs: AppendRecord[] = [];
  for (let i = 0; i < 40; i++) {
    const epoch = BigInt(100 + i);
    const k = rng.int(4);
    if (k === 0) recs.push({ type: JournalType.Done, epoch, json: '{}' });
    else if (k === 1) recs.push({ type: JournalType.Abort, epoch, payload: { recovered: true } });
    else {
      const value = new Uint8Array(rng.int(300)).map(() => rng.int(256));
      const single = { dkey: new Uint8Array([0x64, i]), akey: new Uint8Array([0x61]), hash: BigInt(rng.int(1 << 30)) << 20n, shards: [[rng.int(16), 2 * i], [rng.int(16), 2 * i + 1]] as Array<[number, number]>, ...(k === 3 ? { value } : {}) };
      recs.push({ type: JournalType.Intent, epoch, intent: { targets: [1, 5], objects: [(0xabcdef00n + BigInt(i)).toString(16)], single } });
    }
  }
  const written = journal.writeBatch(recs)!;
  const bins = Journal.intentPayloads(recs, written);
  journal.writeBatch([{ type: JournalType.Done, epoch: 999n, json: '{}' }, { type: JournalType.Intent, epoch: 1000n, intent: { targets: [2], objects: ['ff'] } }]); // (reuses the batch buffer)
  recs.forEach((r, i) => {
    if (r.intent === undefined) { assert.is(bins[i], undefined); return; }
    assert.equal(Buffer.from(bins[i]!), Buffer.from(Journal.intentPayload(r.intent)), `record ${i}`);
  });
  journal.close();
  // a journal holding the views as `bin` records reads back the same INTENTs as one holding the fields
  const q = join(tmpDir(), 'k'), r2 = join(tmpDir(), 'l');
  const a = Journal.open(q).journal, b = Journal.open(r2).journal;
  a.appendBatch(recs);
  b.appendBatch(recs.map((r, i) => (r.intent !== undefined ? { type: r.type, epoch: r.epoch, bin: bins[i]! } : r)));
  a.close(); b.close();
  assert.equal(Journal.open(r2).records, Journal.open(q).records);
});

t('durable: closing a storage while group syncs are in flight settles them (a sync\'s descriptor is closed once it ends, not under it); every INTENT is there after a reopen', async () => {
  const dir = join(tmpDir(), 'c');
  const s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  // (groups of GROUP_SPLIT_INTENTS are written, and their syncs issued, as the INTENTs queue; the rest goes with the close)
  const ps: Array<Promise<void>> = [];
  for (let e = 1n; e <= 40n; e++) ps.push(s.intent(e, { targets: [1], objects: [e.toString(16)] }));
  s.close();
  const settled = await Promise.allSettled(ps);
  assert.equal(settled.filter((x) => x.status === 'rejected').map((x) => String((x as PromiseRejectedResult).reason)), [], 'no group failed');
  const again = await LocalContainerStorage.open(dir, true, { redo: true });
  assert.equal(again.recover().torn.map((c) => c.epoch), Array.from({ length: 40 }, (_, i) => BigInt(i + 1)), 'every INTENT (none finished: torn)');
  again.close();
});

t('rewrite keeps exactly the given history and appends continue after it', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  for (let i = 1; i <= 100; i++) { journal.append(JournalType.Intent, BigInt(i), { targets: [0], objects: ['a'] }); journal.append(JournalType.Done, BigInt(i)); }
  const before = journal.bytes;
  journal.rewrite([{ epoch: 99n, objects: ['a'] }, { epoch: 100n, objects: ['b'] }]);
  assert.ok(journal.bytes < before);
  journal.append(JournalType.Done, 101n, { objects: ['c'] });
  journal.close();
  const { records } = Journal.open(p);
  assert.equal(records.map((r) => [r.epoch, r.payload.objects]), [[99n, ['a']], [100n, ['b']], [101n, ['c']]]);
});
t('compaction folds the object ids of the journal into the registry; with both registry copies damaged it keeps the journal instead of forgetting ids', async () => {
  const dir = tmpDir();
  const s = await LocalContainerStorage.open(dir, false);
  s.recover();
  for (const [e, o] of [[1n, 'a1'], [2n, 'b2']] as const) { await s.intent(e, { targets: [0], objects: [o] }); await s.done(e, { targets: [0], objects: [o] }); }
  s.compact([]); // history forgotten: only the registry names a1 and b2 now
  assert.equal(await s.registeredObjects(), [0xa1n, 0xb2n]);
  for (const f of ['objects.reg', 'objects.reg.copy']) { const d = openSync(join(dir, f), 'r+'); writeSync(d, Buffer.from([0x5a]), 0, 1, 40); closeSync(d); }
  await s.intent(3n, { targets: [0], objects: ['c3'] }); await s.done(3n, { targets: [0], objects: ['c3'] });
  const bytes = statSync(join(dir, 'journal')).size;
  s.compact([]); // must not rewrite the journal (c3 lives only there) over an unreadable registry
  assert.is(statSync(join(dir, 'journal')).size, bytes, 'journal kept whole');
  let err: unknown;
  try { await s.registeredObjects(); } catch (e) { err = e; }
  assert.is((err as { code?: string } | undefined)?.code, 'CORRUPTED', 'a registry damaged in both copies is reported, never read as empty');
  s.close();
  const again = await LocalContainerStorage.open(dir, false);
  assert.equal(again.recover().done.map((d) => d.epoch), [3n], 'the commit after the damage is still in the journal');
  again.close();
});

t('compactions keep the union of every id ever committed: registry records merged with the journal\'s, ascending, each once (vs a Set)', async () => {
  const dir = tmpDir();
  const s = await LocalContainerStorage.open(dir, false);
  s.recover();
  const rng = new Rng(17);
  const model = new Set<bigint>();
  let e = 0n;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 40; i++) {
      // repeats across rounds, ids above 64 bits, and the same id twice in one round
      const o = rng.chance(0.2) && model.size ? [...model][rng.int(model.size)]! : (BigInt(rng.int(1 << 30)) << BigInt(rng.int(98))) // object ids are 128-bit;
      model.add(o);
      await s.intent(++e, { targets: [0], objects: [o.toString(16)] }); await s.done(e, { targets: [0], objects: [o.toString(16)] });
    }
    s.compact([]);
    assert.equal(await s.registeredObjects(), [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), `round ${round}`);
  }
  s.close();
});

t('checkpoints add their ids to the registry as delta files, merged past REGISTRY_MAX_DELTAS: the registry stays the union of every id (vs a Set), across reopen, a read-only open and compaction', async () => {
  const dir = join(tmpDir(), 'c');
  let s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  const rng = new Rng(23);
  const model = new Set<bigint>();
  const sorted = () => [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const deltaFiles = () => readdirSync(dir).filter((f) => /^objects\.reg\.\d+(\.copy)?$/.test(f));
  let e = 0n;
  let most = 0, merges = 0;
  for (let round = 0; round < 2 * REGISTRY_MAX_DELTAS + 5; round++) {
    // one large fold early (the deltas then stay below the base's size for a while), then small ones
    const n = round === 3 ? 150 : 1 + rng.int(4);
    for (let i = 0; i < n; i++) {
      const o = rng.chance(0.2) && model.size ? [...model][rng.int(model.size)]! : (BigInt(rng.int(1 << 30)) << BigInt(rng.int(98)));
      model.add(o);
      await s.intent(++e, { targets: [0], objects: [o.toString(16)] }); await s.done(e, { targets: [0], objects: [o.toString(16)] });
    }
    const before = deltaFiles().length;
    await s.dropRedo!(e, []); // no history kept: only the registry names the dropped commits' objects
    const after = deltaFiles().length;
    if (after <= before) merges++;
    most = Math.max(most, after / 2);
    assert.ok(after % 2 === 0, 'every delta has its two copies');
    assert.equal(await s.registeredObjects(), sorted(), `round ${round}`);
  }
  assert.ok(most <= REGISTRY_MAX_DELTAS, `at most ${REGISTRY_MAX_DELTAS} deltas (${most})`);
  assert.ok(merges >= 2, `the deltas were merged (${merges} times)`);
  s.close();
  s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  assert.equal(await s.registeredObjects(), sorted(), 'after reopen');
  const ro = await ReadOnlyContainerStorage.open(dir);
  assert.equal(await ro.registeredObjects(), sorted(), 'read-only open');
  ro.close();
  s.compact([]);
  assert.equal(deltaFiles(), [], 'compaction folds the deltas into the base');
  assert.equal(await s.registeredObjects(), sorted(), 'after compaction');
  // a delta damaged in both copies is reported, never read as empty
  await s.intent(++e, { targets: [0], objects: ['abc'] }); await s.done(e, { targets: [0], objects: ['abc'] });
  await s.dropRedo!(e, []);
  const [delta] = deltaFiles().filter((f) => !f.endsWith('.copy'));
  for (const f of [delta!, delta + '.copy']) { const d = openSync(join(dir, f), 'r+'); writeSync(d, Buffer.from([0x5a]), 0, 1, 40); closeSync(d); }
  let err: unknown;
  try { await s.registeredObjects(); } catch (x) { err = x; }
  assert.is((err as { code?: string } | undefined)?.code, 'CORRUPTED');
  s.close();
});

t('hex id records: the records of the ids as BigInts (idRecords), ascending, each once; ids that are not 1-32 hex digits left out', () => {
  const rng = new Rng(5);
  for (let k = 0; k < 200; k++) {
    const ids = Array.from({ length: rng.int(40) }, () => BigInt(rng.int(1 << 30)) << BigInt(rng.int(99)));
    if (ids.length && rng.chance(0.3)) ids.push(ids[0]!);
    if (rng.chance(0.2)) ids.push(0n, (1n << 128n) - 1n);
    const hex = ids.map((o) => o.toString(16));
    assert.equal([...hexIdRecords(hex)], [...idRecords(ids)]);
    assert.equal([...hexIdRecords([...hex, 'xyz', '', 'F00', '1'.repeat(33)])], [...idRecords(ids)]);
  }
  // thousands of ids sharing words (equal high words, equal low words, few distinct values per word): each sorting pass keeps the order of the ones before
  for (let k = 0; k < 4; k++) {
    const word = (): bigint => BigInt([0, 1, 0xffffffff, rng.int(1 << 30), rng.int(3)][rng.int(5)]!);
    const ids = Array.from({ length: 3000 + rng.int(3000) }, () => (word() << 96n) | (word() << 64n) | (word() << 32n) | word());
    assert.equal([...hexIdRecords(ids.map((o) => o.toString(16)))], [...idRecords(ids)]);
  }
});

t('id record merge: union of sorted record sets; an out-of-order registry is not trusted (rebuilt by decoding)', () => {
  const rng = new Rng(3);
  const dec = (r: Uint8Array) => { const out: bigint[] = []; for (let i = 0; i < r.length; i += 16) out.push(BigInt('0x' + Buffer.from(r.subarray(i, i + 16)).toString('hex'))); return out; };
  for (let k = 0; k < 200; k++) {
    const a = Array.from({ length: rng.int(30) }, () => BigInt(rng.int(50)) << BigInt(rng.int(3) * 60));
    const b = Array.from({ length: rng.int(30) }, () => BigInt(rng.int(50)) << BigInt(rng.int(3) * 60));
    const want = [...new Set([...a, ...b])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    assert.equal(dec(mergeIdRecords(idRecords(a), idRecords(b))), want);
    // records of `a` reversed (not ascending): still the union, sorted
    const ra = idRecords(a); const rev = new Uint8Array(ra.length);
    for (let i = 0; i < ra.length; i += 16) rev.set(ra.subarray(i, i + 16), ra.length - 16 - i);
    assert.equal(dec(mergeIdRecords(rev, idRecords(b))), want);
  }
});

t('read with intentObjects: the ids visited are exactly those of the INTENTs the decoded read gives, through damage in one or both copies and torn pipelined tails (vs Journal.read)', () => {
  const rng = new Rng(77);
  for (let trial = 0; trial < 30; trial++) {
    const p = join(tmpDir(), 'j');
    const { journal } = Journal.open(p, { durable: true });
    let e = 0n;
    for (let g = 0; g < 2 + rng.int(6); g++) {
      const recs: AppendRecord[] = [];
      for (let i = 0; i < 1 + rng.int(12); i++) {
        const epoch = ++e;
        const k = rng.int(4);
        if (k === 0) recs.push({ type: JournalType.Done, epoch, json: '{}' });
        else if (k === 1) recs.push({ type: JournalType.Done, epoch, payload: { objects: [(BigInt(rng.int(1 << 30)) << 40n).toString(16)] } });
        else recs.push({ type: JournalType.Intent, epoch, intent: { targets: [rng.int(16)], objects: Array.from({ length: rng.int(3) }, () => (BigInt(rng.int(1 << 30)) << BigInt(rng.int(97))).toString(16)) } });
      }
      journal.writeBatch(recs); // (no sync between groups: later records carry the lag that lets a damaged earlier one be a torn tail)
    }
    journal.close();
    const recs0 = copyRecords(copyImage(p, 0));
    for (let d = 0; d < rng.int(4); d++) {
      const r = recs0[rng.int(recs0.length)]!;
      const at = r.off + 32 + rng.int(Math.max(1, r.len - 32));
      const which = rng.int(3);
      if (which !== 1) flipCopy(p, 0, at, 1 + rng.int(255));
      if (which !== 0) flipCopy(p, 1, at, 1 + rng.int(255));
    }
    const full = Journal.read(p);
    const want = new Set<string>();
    for (const r of full.records) if (r.type === JournalType.Intent) for (const o of r.payload.objects as string[]) want.add(o);
    const got = new Set<string>();
    const light = Journal.read(p, { intentObjects: (b, at, len, packed) => { got.add(packed ? b.toString('hex', at, at + ((len + 1) >> 1)).slice(0, len) : b.toString('latin1', at, at + len)); } });
    assert.equal(light.records.map((r) => [r.type, r.epoch]), full.records.map((r) => [r.type, r.epoch]), `trial ${trial}: the same records`);
    assert.is(light.damaged, full.damaged);
    assert.equal([...got].sort(), [...want].sort(), `trial ${trial}: the same ids`);
    for (const r of light.records) if (r.type !== JournalType.Intent) assert.equal(r.payload, full.records.find((x) => x.type === r.type && x.epoch === r.epoch)!.payload, 'other records decoded as ever');
  }
});

t('a listing with nothing written since the last one reads no file; every write, compaction and checkpoint since makes it read again (vs a model)', async () => {
  const dir = join(tmpDir(), 'c');
  const s = await LocalContainerStorage.open(dir, true, { redo: true });
  s.recover();
  const model = new Set<bigint>();
  const sorted = () => [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rng = new Rng(31);
  let e = 0n;
  const commit = async () => {
    const o = BigInt(rng.int(1 << 30)) << BigInt(rng.int(97));
    model.add(o);
    await s.intent(++e, { targets: [0], objects: [o.toString(16)] }); s.doneLater!(e);
  };
  const aside = async (): Promise<bigint[]> => {
    // the journal moved away: a listing that read it would miss the ids only it names
    renameSync(join(dir, 'journal'), join(dir, 'journal.aside'));
    try { return await s.registeredObjects(); } finally { renameSync(join(dir, 'journal.aside'), join(dir, 'journal')); }
  };
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 5 + rng.int(20); i++) await commit();
    assert.equal(await s.registeredObjects(), sorted(), `round ${round}: after writes`);
    assert.equal(await aside(), sorted(), `round ${round}: nothing written since: no file read`);
    if (round % 2 === 0) await s.dropRedo!(e - BigInt(rng.int(4)), []); else s.compact([]);
    assert.equal(await s.registeredObjects(), sorted(), `round ${round}: after ${round % 2 === 0 ? 'a checkpoint' : 'a compaction'}`);
    await commit();
    assert.equal(await s.registeredObjects(), sorted(), `round ${round}: one more commit`);
  }
  s.close();
});

t('a compaction after an open that read a journal (a crashed writer) folds every id into the registry: those the open read and those written since, one and several per commit (vs a Set)', async () => {
  const dir = join(tmpDir(), 'c');
  const rng = new Rng(47);
  const model = new Set<bigint>();
  const sorted = () => [...model].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let e = 0n;
  const commit = async (s: LocalContainerStorage) => {
    const objs = Array.from({ length: rng.chance(0.2) ? 2 + rng.int(3) : 1 }, () => BigInt(rng.int(1 << 30)) << BigInt(rng.int(97)));
    for (const o of objs) model.add(o);
    const info = { targets: [0], objects: objs.map((o) => o.toString(16)) };
    await s.intent(++e, info);
    if (rng.chance(0.5)) await s.done(e, info); else s.doneLater!(e);
  };
  for (const durable of [false, true]) {
    const first = await LocalContainerStorage.open(dir, durable, { redo: durable });
    first.recover();
    for (let i = 0; i < 200; i++) await commit(first);
    await first.intent(++e, { targets: [0], objects: ['77'] }); // (a torn commit: the open rolls it back, its id listed as ever)
    model.add(0x77n);
    // no close: what a killed process leaves (its groups are written)
    const s = await LocalContainerStorage.open(dir, durable, { redo: durable });
    assert.ok(s.recover().torn.length >= 1, 'the open found the torn commit');
    for (let i = 0; i < 100; i++) await commit(s);
    s.compact([]);
    // the journal moved away: the registry alone must name every id
    renameSync(join(dir, 'journal'), join(dir, 'journal.aside'));
    try { assert.equal(await s.registeredObjects(), sorted(), `${durable ? 'durable' : 'plain'}: after compaction, from the registry`); } finally { renameSync(join(dir, 'journal.aside'), join(dir, 'journal')); }
    s.close();
    first.close();
  }
});

t('a live listing reads copy 0 only when it holds exactly what this process wrote, undamaged; an INTENT damaged in copy 0 is then read from copy 1', async () => {
  for (const durable of [false, true]) {
    const dir = join(tmpDir(), durable ? 'd' : 'p');
    const s = await LocalContainerStorage.open(dir, durable);
    s.recover();
    const model: bigint[] = [];
    let e = 0n;
    const commit = async () => {
      const o = 0xc0de0000n + BigInt(model.length);
      model.push(o);
      await s.intent(++e, { targets: [0], objects: [o.toString(16)] }); await s.done(e, { targets: [0], objects: [o.toString(16)] });
    };
    for (let i = 0; i < 30; i++) await commit();
    const file = join(dir, 'journal');
    const intents = copyRecords(copyImage(file, 0)).filter((r) => r.type === JournalType.Intent);
    // copy 1 damaged: copy 0 alone names every object
    flipCopy(file, 1, intents[3]!.off + intents[3]!.len - 1);
    await commit();
    assert.equal(await s.registeredObjects(), model, `${durable ? 'durable' : 'plain'}: copy 1 damaged`);
    // copy 0 damaged at another INTENT: its object comes from copy 1
    flipCopy(file, 0, intents[7]!.off + intents[7]!.len - 1);
    await commit();
    assert.equal(await s.registeredObjects(), model, `${durable ? 'durable' : 'plain'}: copy 0 damaged`);
    s.close();
  }
});

t('an INTENT decoded lazily (its single value checked, not made) parses exactly when the full decode does, and gives the same single value when asked (random records, cut and flipped)', () => {
  const rng = new Rng(53);
  let lazyParsed = 0, refused = 0;
  for (let trial = 0; trial < 400; trial++) {
    const single = rng.chance(0.8) ? {
      dkey: rng.bytes(rng.int(40)), akey: rng.bytes(rng.int(20)), hash: BigInt.asUintN(64, BigInt(rng.int(1 << 30)) << BigInt(rng.int(34))),
      storeHash: rng.chance(0.5), shards: Array.from({ length: rng.int(5) }, () => [rng.int(1 << 20), rng.int(300)] as const),
      ...(rng.chance(0.5) ? { value: rng.bytes(rng.int(200)) } : {}),
    } : undefined;
    const f: IntentFields = { targets: Array.from({ length: 1 + rng.int(4) }, () => rng.int(5000)), objects: Array.from({ length: 1 + rng.int(3) }, () => (BigInt(rng.int(1 << 30)) << BigInt(rng.int(90))).toString(16)), ...(single ? { single } : {}) };
    const buf = Buffer.alloc(intentBytes(f));
    const end = writeIntent(buf, new DataView(buf.buffer, buf.byteOffset, buf.length), 0, f);
    assert.is(end, buf.length);
    // the record as written, cut short or with one byte changed
    const variants: Buffer[] = [buf];
    for (let k = 0; k < 4; k++) { const b = Buffer.from(buf); b[rng.int(b.length)] ^= 1 + rng.int(255); variants.push(b); }
    variants.push(buf.subarray(0, rng.int(buf.length)));
    for (const b of variants) {
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const eager = decodeIntentTyped(b, dv, 0, b.length);
      const lazy = decodeIntentTyped(b, dv, 0, b.length, true);
      assert.is(lazy === undefined, eager === undefined, `trial ${trial}: both parse or neither`);
      if (!lazy || !eager) { refused++; continue; }
      lazyParsed++;
      lazy.bytes = b;
      assert.equal(lazy.targets, eager.targets); assert.equal(lazy.objects, eager.objects);
      const got = intentSingle(lazy), want = eager.single;
      assert.is(got === undefined, want === undefined);
      if (got && want) {
        assert.equal([...got.dkey], [...want.dkey]); assert.equal([...got.akey], [...want.akey]);
        assert.is(got.hash, want.hash); assert.is(got.storeHash, want.storeHash); assert.equal(got.shards, want.shards);
        assert.equal(got.value && [...got.value], want.value && [...want.value]);
      }
      assert.is(intentCarriesValue(lazy), intentCarriesValue(eager), 'both say whether a value is carried');
      assert.is(intentCarriesValue(eager), want?.value !== undefined);
    }
  }
  assert.ok(lazyParsed > 400 && refused > 100, `both kinds met (${lazyParsed} parsed, ${refused} refused)`);
});

t.run();
