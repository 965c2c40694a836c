/**
 * Writer for test/container/journal-mapped: a journal that is not durable, given groups of records
 * made from a seed (the same groups for the same seed), then either closed (`close`) or left as a
 * SIGKILL leaves it (`kill`: the process kills itself once `acked` is printed). The parent runs it
 * with mapped group writes on and off (CAIRN_JOURNAL_MAPPED=0) and compares what the files hold.
 */
import { Journal, JournalType } from '../../src/container/journal.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';

await initXxhash();
const [path, seedArg, groupsArg, end] = process.argv.slice(2);
const rng = new Rng(Number(seedArg));
const j = Journal.open(path!).journal;
let epoch = 1n;
for (let g = 0; g < Number(groupsArg); g++) {
  // groups of 1-40 records of 20-900 bytes: some cross a 64 KiB chunk of a copy, some a page
  const recs = Array.from({ length: 1 + rng.int(40) }, () => ({ type: JournalType.Done, epoch: epoch++, payload: { objects: [Buffer.from(rng.bytes(10 + rng.int(440))).toString('hex')] } }));
  j.appendBatch(recs);
}
process.stdout.write(`acked ${epoch - 1n}\n`);
if (end === 'kill') process.kill(process.pid, 'SIGKILL');
j.close();
