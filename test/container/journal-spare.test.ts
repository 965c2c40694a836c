/**
 * CAIRN_JOURNAL_SPARE=1 (a quiet A/B knob): a durable journal's next checkpoint file is made ahead
 * (`Journal.prepareSpare`: zeros, synced), and the checkpoint's `prepareReplace` writes only its
 * records into it. The journal it adopts reads back exactly as one written whole; a spare too
 * small for the records is not taken; close leaves no spare behind.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { AppendRecord } from '../../src/container/journal.js';

process.env.CAIRN_JOURNAL_SPARE = '1'; // (read when journal.ts loads: before it is imported below)
const { Journal, JournalType, JOURNAL_PREALLOC_BYTES, JOURNAL_SPARE, journalCopyOffset } = await import('../../src/container/journal.js');
const { copyImage, copyRecords } = await import('./journal-file.js');
const { initXxhash } = await import('../../core/xxhash.js');
const { tmpDir } = await import('../helpers/tmp.js');

await initXxhash();
const t = suite('journal-spare');

const done = (from: number, n: number): AppendRecord[] => Array.from({ length: n }, (_, i) => ({ type: JournalType.Done, epoch: BigInt(from + i), payload: { objects: [(i * 7919).toString(16)] } }));

t('the knob is read at load', () => { assert.ok(JOURNAL_SPARE); });

t('a checkpoint takes the spare: its records then the spare\'s zeros in both copies, the records appended meanwhile after them, and reopened as written', async () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p, { durable: true });
  journal.append(JournalType.Done, 1n);
  const alloc = 3 * JOURNAL_PREALLOC_BYTES;
  await journal.prepareSpare(alloc);
  assert.ok(existsSync(`${p}.spare`), 'the spare is made');
  assert.is(statSync(`${p}.spare`).size, journalCopyOffset(1, alloc - 1) + 1, 'zeros for `alloc` bytes of each copy');
  const kept = done(10, 2000);
  const prep = await journal.prepareReplace(kept, 5 * JOURNAL_PREALLOC_BYTES);
  assert.is(prep.path, `${p}.spare`, 'prepareReplace took the spare');
  assert.is(prep.alloc, alloc, 'its space is the spare\'s');
  const extra = done(5000, 3);
  await journal.commitReplace(prep, extra);
  assert.not.ok(existsSync(`${p}.spare`), 'renamed over the journal');
  journal.append(JournalType.Done, 9000n);
  const n = journal.bytes;
  for (const c of [0, 1] as const) {
    const img = copyImage(p, c);
    assert.ok(img.length >= alloc, `copy ${c}: the spare's space`);
    assert.ok(img.subarray(n).every((b) => b === 0), `copy ${c}: zeros after the records`);
    assert.equal(copyRecords(img).map((r) => r.epoch), [...kept, ...extra].map((r) => r.epoch).concat([9000n]), `copy ${c}: the records`);
  }
  journal.close();
  const r = Journal.open(p, { durable: true });
  assert.equal(r.records.map((x) => x.epoch), [...kept, ...extra].map((x) => x.epoch).concat([9000n]));
  assert.is(r.truncatedBytes, 0);
  r.journal.close();
});

t('a spare too small for the records is not taken (the checkpoint writes its own file); close removes the spare', async () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p, { durable: true });
  await journal.prepareSpare(JOURNAL_PREALLOC_BYTES);
  const kept = done(10, 3000); // (more than 64 KiB of records: the spare cannot also hold a step of zeros)
  const prep = await journal.prepareReplace(kept, JOURNAL_PREALLOC_BYTES);
  assert.is(prep.path, `${p}.compact`);
  await journal.commitReplace(prep, []);
  assert.ok(existsSync(`${p}.spare`), 'the spare is still there');
  journal.close();
  assert.not.ok(existsSync(`${p}.spare`), 'close removed it');
  assert.equal(Journal.open(p).records.map((x) => x.epoch), kept.map((x) => x.epoch));
});

t('a handle closed while its spare is being made does not remove the spare of a handle opened after it', async () => {
  const p = join(tmpDir(), 'j');
  const a = Journal.open(p, { durable: true }).journal;
  const making = a.prepareSpare(2 * JOURNAL_PREALLOC_BYTES);
  a.close();
  const b = Journal.open(p, { durable: true }).journal;
  await b.prepareSpare(3 * JOURNAL_PREALLOC_BYTES);
  await making; // (the first handle's spare ends after the second's was made)
  assert.ok(existsSync(`${p}.spare`), 'the second handle\'s spare is still there');
  const prep = await b.prepareReplace(done(10, 10), JOURNAL_PREALLOC_BYTES);
  assert.is(prep.path, `${p}.spare`);
  await b.commitReplace(prep, []);
  b.close();
  assert.equal(Journal.open(p).records.map((x) => x.epoch), done(10, 10).map((x) => x.epoch));
});

t('a journal that is not durable makes no spare', async () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  await journal.prepareSpare(JOURNAL_PREALLOC_BYTES);
  assert.not.ok(existsSync(`${p}.spare`));
  journal.close();
});

t.run();
