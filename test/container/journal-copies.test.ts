/**
 * Journal format 5-6: both copies in one file, one fdatasync per group (format 6: several in flight). A flipped byte in either copy
 * of any INTENT or DONE never loses an acknowledged commit (and the open heals the copy, so the
 * same damage in the other copy next is survived too); a torn last group (every byte offset, in
 * either copy or both, zeros or garbage after it) is cut, never read as damage, and the next opens
 * agree with the first; both copies damaged is reported (`damaged`, CORRUPTED from recovery),
 * never guessed; a version 4 (two-file) journal is read, converted crash-safely, or kept in the
 * old mode when damaged in both copies; SIGKILLed writers (real processes) lose no acknowledged
 * commit.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { Journal, JournalType, doneSetPayloadEpochs, type AppendRecord, type JournalRecord } from '../../src/container/journal.js';
import { LocalContainerStorage } from '../../src/container/storage.js';
import { Rng } from '../../core/rng.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { tmpDir } from '../helpers/tmp.js';
import { copyImage, copyRecords, flipCopy, writeAtCopy, writeTwoFileJournal } from './journal-file.js';

await initXxhash();
const t = suite('journal-copies');

const key = (r: { type: number; epoch: bigint }) => `${r.type}:${r.epoch}`;
const keys = (rs: ReadonlyArray<{ type: number; epoch: bigint }>) => rs.map(key).sort();
const headerVersion = (p: string) => readFileSync(p).readUInt32LE(8);
const sortEpochs = (es: bigint[]) => es.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** A container's commits 1-5 finished, 6 torn (INTENT only); some carry single values (binary INTENTs). */
async function fiveAndATorn(dir: string, durable: boolean): Promise<void> {
  const s = await LocalContainerStorage.open(dir, durable, durable ? { redo: true } : {});
  s.recover();
  for (let e = 1n; e <= 6n; e++) {
    const value = new Uint8Array(30 + Number(e)).fill(Number(e));
    const info = { targets: [1, 2], objects: [`a${e}`], ...(e % 2n === 0n ? { single: { dkey: new Uint8Array([9]), akey: new Uint8Array([8]), hash: xxh64(value), shards: [[1, 0], [2, 1]] as Array<[number, number]>, ...(durable ? { value } : {}) } } : {}) };
    await s.intent(e, info);
    if (e < 6n) await s.done(e, info);
  }
  s.close();
}

t('an open writes back to a copy only the records it lacks: a healthy journal\'s copies keep their records, a copy with one damaged record gets that one appended', async () => {
  for (const durable of [false, true]) {
    const template = join(tmpDir(), 'c');
    await fiveAndATorn(template, durable);
    const before = [0, 1].map((c) => copyRecords(copyImage(join(template, 'journal'), c as 0 | 1)));
    assert.is(before[0]!.length, 11);
    assert.equal(before[1], before[0], 'both copies hold the same records');
    for (const damaged of [undefined, 2, 7]) {
      const dir = join(tmpDir(), 'c');
      cpSync(template, dir, { recursive: true });
      const file = join(dir, 'journal');
      const r = damaged === undefined ? undefined : before[1]![damaged]!;
      if (r !== undefined) flipCopy(file, 1, r.off + r.len - 1); // (a payload byte: the record's checksum fails)
      const s = await LocalContainerStorage.open(dir, durable, durable ? { redo: true } : {});
      const rec = s.recover();
      s.close();
      assert.equal(rec.torn.map((x) => x.epoch), [6n], 'the torn commit found');
      const after = [0, 1].map((c) => copyRecords(copyImage(file, c as 0 | 1)));
      const label = `${durable ? 'durable' : 'plain'}, ${r === undefined ? 'healthy' : `copy 1 damaged at record ${damaged}`}`;
      assert.equal(after[0], before[0], `${label}: copy 0 unchanged`);
      if (r === undefined) assert.equal(after[1], before[1], `${label}: copy 1 unchanged (nothing written back)`);
      else {
        assert.is(after[1]!.length, 12, `${label}: one record appended to copy 1`);
        assert.equal(after[1]!.slice(0, 11), before[1], `${label}: its records kept in place`);
        assert.equal([after[1]![11]!.type, after[1]![11]!.epoch, after[1]![11]!.len], [r.type, r.epoch, r.len], `${label}: the appended one is the damaged record`);
      }
    }
  }
});

t('a flipped byte in either copy of any INTENT or DONE (length, type, epoch, checksum, payload): every acknowledged commit is kept, the torn one discarded; the open heals the copy, so the same byte flipped in the other copy next is survived too', async () => {
  for (const durable of [false, true]) {
    const template = join(tmpDir(), 'c');
    await fiveAndATorn(template, durable);
    const recs = copyRecords(copyImage(join(template, 'journal'), 0));
    assert.is(recs.length, 11);
    const rng = new Rng(durable ? 51 : 50);
    for (const r of recs) {
      for (const at of [4, 8, 17, 25, 32 + rng.int(r.len - 32)]) {
        for (const copy of [0, 1] as const) {
          const dir = join(tmpDir(), 'c');
          cpSync(template, dir, { recursive: true });
          const file = join(dir, 'journal');
          const label = `${durable ? 'durable' : 'plain'}: ${r.type === 1 ? 'INTENT' : 'DONE'} ${r.epoch} byte ${at} of copy ${copy}`;
          flipCopy(file, copy, r.off + at);
          const s = await LocalContainerStorage.open(dir, durable, durable ? { redo: true } : {});
          const rec = s.recover();
          assert.equal(rec.done.map((d) => d.epoch), [1n, 2n, 3n, 4n, 5n], label);
          assert.equal(rec.torn.map((x) => [x.epoch, x.targets]), [[6n, [1, 2]]], label);
          if (durable) assert.equal(sortEpochs(rec.replay!.map((x) => x.epoch)), [2n, 4n], label);
          s.close();
          // the same byte of the other copy: the record is read from the copy the open healed
          flipCopy(file, copy === 0 ? 1 : 0, r.off + at);
          const j = Journal.open(file, { durable });
          assert.equal(keys(j.records), keys(recs), `${label}, then the other copy`);
          j.journal.close();
        }
      }
    }
  }
});

t('the same record damaged in both copies: reported (damaged), and recovery refuses to guess (CORRUPTED) while a commit cannot be resolved', async () => {
  for (const which of ['DONE', 'INTENT'] as const) {
    const dir = join(tmpDir(), 'c');
    await fiveAndATorn(dir, false);
    const file = join(dir, 'journal');
    const recs = copyRecords(copyImage(file, 0));
    // DONE 3 lost in both copies: commit 3 cannot be told finished; INTENT 4 lost (its DONE kept): the loss is still said
    const r = recs.find((x) => x.type === (which === 'DONE' ? 2 : 1) && x.epoch === (which === 'DONE' ? 3n : 4n))!;
    flipCopy(file, 0, r.off + 30); flipCopy(file, 1, r.off + 30);
    // (copies alike byte for byte, damage included: each copy is reported damaged, the records after it read)
    const read = Journal.read(file);
    const j = Journal.open(file);
    assert.ok(j.damaged, which);
    assert.is(j.corruptRecords, 2, `${which}: one damaged record in each copy`);
    assert.not.ok(j.records.some((x) => key(x) === key(r)), `${which}: the damaged record is not read`);
    assert.is(j.records.length, recs.length - 1, `${which}: every other record read`);
    assert.ok(read.damaged, `${which}: a read-only read says so too`);
    assert.equal(keys(read.records), keys(j.records), `${which}: and reads the same records`);
    j.journal.close();
    const s = await LocalContainerStorage.open(dir, false);
    // (commit 6, torn, may have had its DONE in the damage too)
    assert.throws(() => s.recover(), (e: unknown) => (e as { code?: string }).code === 'CORRUPTED');
    s.close();
  }
});

/** Records of the groups written before the last one, and the last group, for the torn-tail cases. */
function groups(): { before: AppendRecord[][]; last: AppendRecord[] } {
  const intent = (e: bigint, n: number): AppendRecord => ({ type: JournalType.Intent, epoch: e, intent: { targets: [n, n + 1], objects: [e.toString(16)], single: { dkey: new Uint8Array([1]), akey: new Uint8Array([2]), hash: e * 77n, shards: [[n, 0], [n + 1, 1]], value: new Uint8Array(20 + n).fill(n) } } });
  const done = (e: bigint): AppendRecord => ({ type: JournalType.Done, epoch: e, json: '{}' });
  return {
    before: [[intent(1n, 1), intent(2n, 2)], [done(1n), done(2n), intent(3n, 3)], [done(3n), intent(4n, 4)]],
    last: [done(4n), intent(5n, 5), intent(6n, 6), { type: JournalType.Abort, epoch: 7n, payload: { recovered: true } }],
  };
}

t('a torn last group, at every byte offset, in copy 0, copy 1 or both, followed by zeros or garbage: cut, never damage; exactly its records whole in a copy are read; the next opens agree', () => {
  for (const durable of [false, true]) {
    const { before, last } = groups();
    const base = join(tmpDir(), 'j');
    const { journal: j } = Journal.open(base, { durable });
    for (const g of before) j.writeBatch(g);
    const start = j.bytes;
    const lastBytes = Buffer.from(j.writeBatch(last)!);
    j.close();
    const earlier = keys(before.flat().map((r) => ({ type: r.type, epoch: r.epoch })));
    // each record of the last group: its end, relative to the group's start
    const ends: number[] = [];
    for (let at = 0; at < lastBytes.length; at += lastBytes.readUInt32LE(at + 4)) ends.push(at + lastBytes.readUInt32LE(at + 4));
    const img = readFileSync(base), guard = readFileSync(base + '.copy');
    const step = durable ? 5 : 1;
    for (let k = 0; k <= lastBytes.length; k += step) {
      const cases: Array<[string, number, number, boolean]> = [['copy 0 torn', k, 0, false], ['copy 1 torn', lastBytes.length, k, false], ['copy 1 torn, copy 0 absent', 0, k, false], ['both torn, garbage after', k, k, true]];
      for (const [what, k0, k1, garbage] of cases) {
        if (durable && garbage) continue; // (a durable journal's tail is its preallocated zeros)
        const p = join(tmpDir(), 'j');
        writeFileSync(p, img); writeFileSync(p + '.copy', guard);
        const keep = [k0, k1];
        for (const c of [0, 1] as const) {
          const rest = Buffer.alloc(lastBytes.length - keep[c]!, garbage ? 0xa5 : 0);
          writeAtCopy(p, c, start + keep[c]!, rest);
        }
        const label = `${durable ? 'durable' : 'plain'} ${what} at ${k}`;
        const want = [...earlier, ...keys(last.filter((_, i) => Math.max(k0, k1) >= ends[i]!).map((r) => ({ type: r.type, epoch: r.epoch })))].sort();
        let r = Journal.open(p, { durable });
        assert.equal(keys(r.records), want, label);
        assert.not.ok(r.damaged, label);
        assert.is(r.corruptRecords, 0, label);
        // a copy holding part of a record (it starts with its magic) or garbage after its records: those bytes are cut
        const torn = keep.some((kc) => (kc > 0 && !ends.includes(kc)) || (garbage && kc < lastBytes.length));
        assert.is(r.truncatedBytes > 0, torn, `${label}: torn bytes cut (${r.truncatedBytes})`);
        r.journal.append(JournalType.Done, 100n);
        r.journal.close();
        for (let again = 0; again < 1; again++) {
          r = Journal.open(p, { durable });
          assert.equal(keys(r.records), [...want, key({ type: JournalType.Done, epoch: 100n })].sort(), `${label}: reopen ${again}`);
          assert.not.ok(r.damaged, label);
          assert.is(r.corruptRecords, 0, `${label}: reopen ${again}`);
          assert.is(r.truncatedBytes, 0, `${label}: reopen ${again}`);
          r.journal.close();
        }
      }
    }
  }
});

/** A record of epoch `e` (INTENT naming one object, or DONE). */
const rec = (type: JournalType, e: bigint): AppendRecord => ({ type, epoch: e, payload: type === JournalType.Intent ? { targets: [1], objects: [e.toString(16)] } : {} });
/** `n` INTENT records from epoch `from`. */
const intents = (from: bigint, n: number): AppendRecord[] => Array.from({ length: n }, (_, i) => rec(JournalType.Intent, from + BigInt(i)));

t('format 6, pipelined group syncs: a group a power loss lost while a later group written during its sync reached the disk is a torn tail (cut, never damage); the same loss before bytes a completed sync covered is damage, as ever', () => {
  // (the page cache's image of the file once the groups are written, then the lost bytes zeroed in both copies: a power loss)
  const lose = (written: (j: Journal) => Array<[number, number]>, cutAt: (ranges: Array<[number, number]>) => [number, number]) => {
    const base = join(tmpDir(), 'j');
    const { journal: j } = Journal.open(base, { durable: true });
    const ranges = written(j);
    const img = readFileSync(base), guard = readFileSync(base + '.copy');
    j.close();
    const p = join(tmpDir(), 'j');
    writeFileSync(p, img); writeFileSync(p + '.copy', guard);
    const [from, to] = cutAt(ranges);
    for (const c of [0, 1] as const) writeAtCopy(p, c, from, Buffer.alloc(to - from));
    return p;
  };
  /** Append `recs` as one group (synced when `sync`) and give its range in each copy. */
  const group = (j: Journal, recs: AppendRecord[], sync: boolean): [number, number] => {
    const from = j.bytes;
    if (sync) j.appendBatch(recs); else j.writeBatch(recs);
    return [from, j.bytes];
  };
  const A = intents(1n, 3), B = intents(10n, 4), C = intents(20n, 5);
  // A synced; B written, its sync in flight; C written meanwhile: B lost, C kept
  for (const [what, cut] of [['the whole group', (r: Array<[number, number]>) => r[1]!], ['its first record', (r: Array<[number, number]>) => [r[1]![0], r[1]![0] + 40] as [number, number]], ['a record in its middle', (r: Array<[number, number]>) => [r[1]![0] + 150, r[1]![0] + 170] as [number, number]]] as const) {
    const p = lose((j) => [group(j, A, true), group(j, B, false), group(j, C, false)], cut as (r: Array<[number, number]>) => [number, number]);
    const r = Journal.open(p, { durable: true });
    const got = keys(r.records);
    assert.ok(keys(A).every((k) => got.includes(k)), `${what}: the synced group is read`);
    assert.ok(!keys(C).some((k) => got.includes(k)), `${what}: the records after the lost bytes are cut with them`);
    assert.not.ok(r.damaged, `${what}: not damage`);
    assert.is(r.corruptRecords, 0, what);
    assert.ok(r.truncatedBytes > 0, `${what}: cut`);
    r.journal.close();
    const again = Journal.open(p, { durable: true });
    assert.equal(keys(again.records), got, `${what}: the next open agrees`);
    assert.is(again.truncatedBytes, 0); assert.not.ok(again.damaged);
    again.journal.close();
  }
  // B synced before C was written: B's bytes were durable, so losing them in both copies is damage
  {
    const p = lose((j) => [group(j, A, true), group(j, B, true), group(j, C, false)], (r) => r[1]!);
    const r = Journal.open(p, { durable: true });
    assert.ok(r.damaged, 'lost bytes a completed sync covered: damage');
    assert.ok(r.corruptRecords > 0);
    const got = keys(r.records);
    assert.ok([...keys(A), ...keys(C)].every((k) => got.includes(k)), 'the records around the damage are kept');
    r.journal.close();
  }
  // B written, C written during its sync and synced (B durable now), D written after: D's lag
  // starts past B, so losing B is damage. (Without D, B and C are the groups a power loss may have
  // found in flight: both copies of B damaged on the media would be read as a torn tail, as the
  // last group's are with one sync in flight.)
  {
    const D = intents(30n, 2);
    const p = lose((j) => [group(j, A, true), group(j, B, false), group(j, C, true), group(j, D, false)], (r) => r[1]!);
    const r = Journal.open(p, { durable: true });
    assert.ok(r.damaged, 'lost bytes a completed sync covered before a later record was written: damage');
    assert.ok([...keys(C), ...keys(D)].every((k) => keys(r.records).includes(k)));
    r.journal.close();
  }
});

t('format 6: a group lost in one copy only (the records after it cut there as a torn tail) is read from the other, and the open writes that copy every record it cut, so damage to the other copy next is survived', () => {
  const A = intents(1n, 3), B = intents(10n, 4), C = intents(20n, 5);
  for (const lostIn of [0, 1] as const) {
    const base = join(tmpDir(), 'j');
    const { journal: j } = Journal.open(base, { durable: true });
    j.appendBatch(A);
    const from = j.bytes;
    j.writeBatch(B); // (its sync in flight)
    const to = j.bytes;
    j.writeBatch(C); // (written during it: its lag covers B)
    const img = readFileSync(base), guard = readFileSync(base + '.copy');
    j.close();
    const p = join(tmpDir(), 'j');
    writeFileSync(p, img); writeFileSync(p + '.copy', guard);
    writeAtCopy(p, lostIn, from, Buffer.alloc(to - from));
    const r = Journal.open(p, { durable: true, typed: true });
    const all = keys([...A, ...B, ...C]);
    assert.equal(keys(r.records), all, `lost in copy ${lostIn}: every record read from the other copy`);
    assert.not.ok(r.damaged);
    r.journal.close();
    for (const c of [0, 1] as const) assert.equal(keys(copyRecords(copyImage(p, c))), all, `lost in copy ${lostIn}: copy ${c} holds every record after the open`);
    // the other copy's bytes of C damaged now: still read, from the healed copy
    const other = (1 - lostIn) as 0 | 1;
    const cRec = copyRecords(copyImage(p, other)).find((x) => x.epoch === 22n)!;
    flipCopy(p, other, cRec.off + cRec.len - 1);
    const again = Journal.open(p, { durable: true });
    assert.equal(keys(again.records), all, `lost in copy ${lostIn}, then copy ${other} damaged: every record read`);
    again.journal.close();
  }
});

t('format 7 DONE sets: the DONEs of commits finished while a group gathers are one record (12 bytes per commit), read back as one DONE per epoch; a flipped byte in either copy of it loses no DONE, the open heals the copy once; a checkpoint keeps or drops a set by its highest epoch', async () => {
  for (const durable of [false, true]) {
    const template = join(tmpDir(), 'c');
    {
      const s = await LocalContainerStorage.open(template, durable, durable ? { redo: true } : {});
      s.recover();
      const infos = [];
      for (let e = 1n; e <= 7n; e++) {
        const value = new Uint8Array(20).fill(Number(e));
        infos.push({ targets: [1, 2], objects: [`b${e}`], single: { dkey: new Uint8Array([9]), akey: new Uint8Array([8]), hash: xxh64(value), shards: [[1, 0], [2, 1]] as Array<[number, number]>, ...(durable ? { value } : {}) } });
      }
      await Promise.all(infos.map((info, i) => s.intent(BigInt(i + 1), info)));
      // epochs 1-6 finish in one turn (out of order), 7 stays torn
      for (const e of [3n, 1n, 2n, 6n, 5n, 4n]) s.doneLater!(e);
      s.close();
    }
    const file = join(template, 'journal');
    const recs = copyRecords(copyImage(file, 0));
    const img = copyImage(file, 0);
    const dones = recs.filter((r) => r.type === JournalType.Done);
    assert.is(dones.length, 1, 'one DONE record');
    const set = dones[0]!;
    assert.is(img[set.off + 9], 2, 'payload encoding 2: a DONE set');
    assert.is(set.epoch, 6n, 'the set\'s epoch is its highest');
    assert.is(set.len, 32 + 4 + 6 * 8);
    const label0 = durable ? 'durable' : 'plain';
    {
      const r = Journal.open(file, { durable });
      assert.equal(keys(r.records.filter((x) => x.type === JournalType.Done)), keys([1n, 2n, 3n, 4n, 5n, 6n].map((epoch) => ({ type: JournalType.Done, epoch }))), label0);
      r.journal.close();
      assert.equal(keys(Journal.read(file).records), keys(r.records), `${label0}: read-only`);
    }
    const rng = new Rng(durable ? 71 : 70);
    for (const at of [4, 8, 9, 17, 25, 32, 33, 36 + rng.int(set.len - 36)]) {
      for (const copy of [0, 1] as const) {
        const dir = join(tmpDir(), 'c');
        cpSync(template, dir, { recursive: true });
        const f = join(dir, 'journal');
        const label = `${label0}: DONE set byte ${at} of copy ${copy}`;
        flipCopy(f, copy, set.off + at);
        const s = await LocalContainerStorage.open(dir, durable, durable ? { redo: true } : {});
        const rec = s.recover();
        assert.equal(rec.done.map((d) => d.epoch), [1n, 2n, 3n, 4n, 5n, 6n], label);
        assert.equal(rec.torn.map((x) => x.epoch), [7n], label);
        s.close();
        // healed: the set written once into the damaged copy (after its records), so the other copy's flip is survived
        const healed = copyRecords(copyImage(f, copy)).filter((r) => r.type === JournalType.Done);
        assert.ok(healed.length >= 1 && healed.length <= 2, `${label}: healed once (${healed.length})`);
        flipCopy(f, copy === 0 ? 1 : 0, set.off + at);
        const j = Journal.open(f, { durable });
        assert.equal(keys(j.records.filter((x) => x.type === JournalType.Done)), keys([1n, 2n, 3n, 4n, 5n, 6n].map((epoch) => ({ type: JournalType.Done, epoch }))), `${label}, then the other copy`);
        j.journal.close();
      }
    }
  }
  // a written set read back from its bytes; a checkpoint keeps it whole while its highest epoch is above the covered one
  const j = Journal.open(join(tmpDir(), 'j'), { durable: true }).journal;
  const bytes = Buffer.from(j.writeBatch([{ type: JournalType.Done, epoch: 0n, epochs: [5n, 9n, 7n] }, { type: JournalType.Done, epoch: 11n, json: '{}' }])!);
  await j.sync();
  j.close();
  const seen: Array<[number, bigint, boolean]> = [];
  Journal.forEachBatchRecord(bytes, (type, epoch, start, end, binary) => { seen.push([type, epoch, binary]); if (binary) assert.equal(doneSetPayloadEpochs(bytes, start, end), [5n, 9n, 7n]); });
  assert.equal(seen, [[JournalType.Done, 9n, true], [JournalType.Done, 11n, false]]);
  for (const [covered, keptEpochs, dropped] of [[8n, [9n, 11n], 0], [9n, [11n], 1], [11n, [], 2]] as const) {
    const kept: bigint[] = [];
    assert.is(Journal.splitBatch(bytes, covered, (_t, e) => { kept.push(e); }, () => assert.unreachable('no INTENT')), dropped, `covered ${covered}`);
    assert.equal(kept, [...keptEpochs], `covered ${covered}`);
  }
});

t('formats 5 (one file, records without lags) and 6 (no DONE sets) are read as they are; opened for writing, the header becomes 7 in both copies and in the guard', () => {
  for (const v of [5, 6]) {
    const p = join(tmpDir(), 'j');
    const { journal: j } = Journal.open(p, { durable: true });
    j.appendBatch([...intents(1n, 3), rec(JournalType.Done, 1n)]);
    j.close();
    // the same file as format 5 or 6 wrote it: version 5 or 6 headers (records synced one group at a time have lag 0)
    for (const c of [0, 1] as const) { const h = Buffer.alloc(4); h.writeUInt32LE(v); writeAtCopy(p, c, 8, h); }
    { const g = readFileSync(p + '.copy'); g.writeUInt32LE(v, 8); writeFileSync(p + '.copy', g); }
    assert.is(headerVersion(p), v);
    assert.equal(keys(Journal.read(p).records), keys([...intents(1n, 3), rec(JournalType.Done, 1n)]), 'read-only');
    const r = Journal.open(p, { durable: true });
    assert.equal(keys(r.records), keys([...intents(1n, 3), rec(JournalType.Done, 1n)]));
    assert.not.ok(r.damaged);
    r.journal.close();
    assert.is(copyImage(p, 0).readUInt32LE(8), 7); assert.is(copyImage(p, 1).readUInt32LE(8), 7);
    assert.is(headerVersion(p + '.copy'), 7);
  }
});

t('a version 4 journal (two files) is read as it is, converted on open for writing (crash-safe: a leftover temporary, a stale journal.copy), or kept in the old mode while damaged in both copies', async () => {
  const v4 = [
    { type: JournalType.Intent, epoch: 1n, payload: { targets: [0, 1], objects: ['aa'] } },
    { type: JournalType.Done, epoch: 1n, payload: {} },
    { type: JournalType.Intent, epoch: 2n, payload: { targets: [2], objects: ['bb'] } },
    { type: JournalType.Done, epoch: 2n, payload: {} },
    { type: JournalType.Intent, epoch: 3n, payload: { targets: [3], objects: ['cc'] } },
  ];
  const dir = join(tmpDir(), 'c');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'journal');
  writeTwoFileJournal(file, v4);
  const size = statSync(file).size;
  // read-only: nothing changes
  assert.equal(keys(Journal.read(file).records), keys(v4));
  assert.is(headerVersion(file), 4); assert.is(statSync(file + '.copy').size, size);
  // a conversion that died before its rename left a temporary: the pair is read and converted again
  writeFileSync(file + '.compact', Buffer.alloc(5000, 0x4a));
  let s = await LocalContainerStorage.open(dir, true);
  let rec = s.recover();
  assert.equal(rec.done.map((d) => d.epoch), [1n, 2n]);
  assert.equal(rec.torn.map((x) => x.epoch), [3n]);
  assert.is(headerVersion(file), 7);
  assert.is(statSync(file + '.copy').size, 16, 'journal.copy is the guard');
  assert.is(headerVersion(file + '.copy'), 7);
  await s.abort(3n, { recovered: true });
  await s.intent(4n, { targets: [1], objects: ['dd'] }); await s.done(4n, { targets: [1], objects: ['dd'] });
  s.close();
  const converted = readFileSync(file);
  // a conversion that died after its rename, before the guard: the stale journal.copy (here with a record of its own) is never read
  writeTwoFileJournal(file, [...v4, { type: JournalType.Intent, epoch: 99n, payload: { targets: [5], objects: ['ee'] } }], 4, [file + '.copy']);
  s = await LocalContainerStorage.open(dir, true);
  rec = s.recover();
  assert.equal(rec.done.map((d) => d.epoch), [1n, 2n, 4n]);
  assert.equal(rec.torn, [], 'nothing of the stale copy (epoch 99) is read');
  assert.is(statSync(file + '.copy').size, 16, 'the stale copy became the guard');
  s.close();
  assert.equal(keys(Journal.read(file).records), keys(Journal.open(file).records));
  void converted;
  // one copy damaged in its middle: converted with every record
  const d1 = join(tmpDir(), 'c'); mkdirSync(d1, { recursive: true });
  writeTwoFileJournal(join(d1, 'journal'), v4);
  flipCopyOfTwoFiles(join(d1, 'journal.copy'), 16 + 40);
  let j = Journal.open(join(d1, 'journal'));
  assert.equal(keys(j.records), keys(v4));
  assert.ok(j.journal.oneFile, 'converted');
  j.journal.close();
  // both copies damaged: kept as two files (the damage is reported at every open), appends still work; compaction converts
  const d2 = join(tmpDir(), 'c'); mkdirSync(d2, { recursive: true });
  const f2 = join(d2, 'journal');
  writeTwoFileJournal(f2, v4);
  flipCopyOfTwoFiles(f2, 16 + 40); flipCopyOfTwoFiles(f2 + '.copy', 16 + 40);
  for (let round = 0; round < 2; round++) {
    j = Journal.open(f2);
    assert.ok(j.damaged, `round ${round}: damaged`);
    assert.not.ok(j.journal.oneFile, `round ${round}: kept in the old mode`);
    assert.is(headerVersion(f2), 4); assert.is(headerVersion(f2 + '.copy'), 4);
    j.journal.append(JournalType.Done, BigInt(10 + round));
    j.journal.close();
  }
  j = Journal.open(f2);
  assert.ok(j.records.some((r) => r.epoch === 10n) && j.records.some((r) => r.epoch === 11n));
  j.journal.rewrite([{ epoch: 11n, objects: ['ff'] }]);
  j.journal.append(JournalType.Done, 12n);
  assert.ok(j.journal.oneFile, 'compaction wrote format 5');
  j.journal.close();
  assert.is(headerVersion(f2), 7); assert.is(statSync(f2 + '.copy').size, 16);
  j = Journal.open(f2);
  assert.equal(j.records.map((r) => r.epoch), [11n, 12n]);
  assert.not.ok(j.damaged);
  j.journal.close();
});

/** XOR a byte of a plain file (a format 4 journal file). */
function flipCopyOfTwoFiles(f: string, at: number): void {
  const b = readFileSync(f); b[at]! ^= 0xff; writeFileSync(f, b);
}

t('SIGKILL during durable group commits (real processes, 6 rounds): every acknowledged commit is finished after reopen, nothing is damaged', async () => {
  const dir = join(tmpDir(), 'c');
  const child = new URL('./journal-kill-child.ts', import.meta.url).pathname;
  const rng = new Rng(20261201);
  const acked = new Set<bigint>();
  for (let round = 0; round < 6; round++) {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      proc.stdout.on('data', (d) => {
        buf += d;
        if (!timer && buf.includes('ready\n')) timer = setTimeout(() => proc.kill('SIGKILL'), 30 + rng.int(300));
      });
      proc.on('exit', (_c, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`writer exited on its own: ${buf.slice(-400)}`))));
    });
    for (const m of buf.matchAll(/ack (\d+)\n/g)) acked.add(BigInt(m[1]!));
    const j = Journal.open(join(dir, 'journal'), { durable: true });
    assert.not.ok(j.damaged, `round ${round}`);
    assert.is(j.corruptRecords, 0, `round ${round}`);
    j.journal.close();
    const s = await LocalContainerStorage.open(dir, true, { redo: true });
    const rec = s.recover();
    const done = new Set(rec.done.map((d) => d.epoch));
    const replay = new Set(rec.replay!.map((r) => r.epoch));
    for (const e of acked) {
      assert.ok(done.has(e), `round ${round}: acknowledged commit ${e} is finished`);
      assert.ok(replay.has(e), `round ${round}: its value is replayed`);
    }
    for (const x of rec.torn) assert.not.ok(acked.has(x.epoch), `round ${round}: torn ${x.epoch} was never acknowledged`);
    // the torn ones are resolved as the container would (ABORT), then the next writer goes on
    for (const x of rec.torn) await s.abort(x.epoch, { recovered: true });
    s.close();
  }
  assert.ok(acked.size > 24, `commits were acknowledged (${acked.size})`);
  assert.ok(existsSync(join(dir, 'journal.copy')) && statSync(join(dir, 'journal.copy')).size === 16);
});

t.run();
