/**
 * Prepared writes of an engine (src/engine/prepared.ts): reads wait exactly for undecided writes
 * at or below their epoch on the same unit object, decisions wake them, and after a crash the
 * journal names every pair still undecided (which then blocks every read of its container).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { initXxhash } from '../../core/xxhash.js';
import { PreparedTable } from '../../src/engine/prepared.js';
import { tmpDir } from '../helpers/tmp.js';

const t = suite('prepared');
const C = '11111111-2222-3333-4444-555555555555';

t('reads wait for undecided writes at or below their epoch on the same unit, and wake on the decision', async () => {
  await initXxhash();
  const path = join(tmpDir(), 'prepared.journal');
  const { table, undecided } = PreparedTable.open(path, false);
  assert.is(undecided.length, 0);
  table.prepare(C, 10n, 'u1');
  table.prepare(C, 10n, 'u2');
  table.prepare(C, 20n, 'u1');
  assert.is(table.blocking(C, 9n, 'u1').length, 0, 'an older read never waits');
  assert.is(table.blocking(C, 10n, 'u1').length, 1);
  assert.is(table.blocking(C, 25n, 'u1').length, 2);
  assert.is(table.blocking(C, 25n, 'u3').length, 0, 'another object never waits');
  assert.is(table.blocking(C, 25n, undefined).length, 2, 'a container-wide listing waits for all');
  assert.equal(table.within(C, 5n, 15n), [10n]);
  let woke = false;
  const w = Promise.all(table.blocking(C, 10n, 'u2')).then(() => { woke = true; });
  await new Promise((r) => setTimeout(r, 10));
  assert.is(woke, false);
  table.decide(C, 10n, 'commit');
  await w;
  assert.is(woke, true);
  assert.is(table.has(C, 10n), false);
  table.close();
  // Reopen: (C, 20) is still undecided and is reported; it blocks every read of the container.
  const again = PreparedTable.open(path, false);
  assert.equal(again.undecided, [{ cont: C, epoch: 20n }]);
  assert.is(again.table.blocking(C, 30n, 'any-unit').length, 1);
  again.table.decide(C, 20n, 'abort');
  again.table.close();
  assert.equal(PreparedTable.open(path, false).undecided, []);
});

t.run();
