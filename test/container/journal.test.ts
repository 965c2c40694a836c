/**
 * Commit journal and object index specification: records survive reopen, a torn or corrupt tail
 * is cut (never trusted), compaction keeps the retained history.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { appendFileSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { Journal, JournalType } from '../../src/container/journal.js';
import { ObjectIndex } from '../../src/container/object-index.js';
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

t('a torn tail and a flipped byte end the valid prefix; the file is cut there', () => {
  const p = join(tmpDir(), 'j');
  const { journal } = Journal.open(p);
  for (let i = 1; i <= 10; i++) journal.append(JournalType.Done, BigInt(i));
  journal.close();
  appendFileSync(p, Buffer.from([40, 0, 0, 0, 2, 0, 0])); // a record header cut short
  let r = Journal.open(p);
  assert.is(r.records.length, 10);
  assert.ok(r.truncatedBytes > 0);
  r.journal.close();
  // Flip a byte inside record 6: records 6.. are not trusted.
  const size = statSync(p).size;
  const recLen = (size - 16) / 10;
  const fd = openSync(p, 'r+');
  writeSync(fd, Buffer.from([0xff]), 0, 1, 16 + 5 * recLen + 10);
  closeSync(fd);
  r = Journal.open(p);
  assert.equal(r.records.map((x) => x.epoch), [1n, 2n, 3n, 4n, 5n]);
  r.journal.close();
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

t('object index: ids up to 128 bits persist; a torn entry is dropped', () => {
  const p = join(tmpDir(), 'o');
  const idx = ObjectIndex.open(p);
  const ids = [1n, (1n << 127n) + 5n, 0xdeadbeefn << 64n];
  idx.addAll(ids); idx.addAll([1n]);
  assert.is(idx.count, 3);
  idx.close();
  appendFileSync(p, Buffer.alloc(10, 7));
  const again = ObjectIndex.open(p);
  assert.equal(again.list(), [...ids].sort((a, b) => (a < b ? -1 : 1)));
  again.close();
});

t.run();
