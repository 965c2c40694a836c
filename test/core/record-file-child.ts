/**
 * Child of test/core/record-file: replaces three ordered files (and their copies) with
 * `writeFilesTwiceInOrder`, round after round, each holding the round number, until killed.
 * Argument: the directory.
 */
import { join } from 'node:path';
import { writeFilesTwiceInOrder } from '../../core/record-file.js';

const dir = process.argv[2]!;
const names = ['a', 'b', 'c'];
for (let round = 1; ; round++) {
  await writeFilesTwiceInOrder(names.map((n) => ({ path: join(dir, n), image: new TextEncoder().encode(String(round)) })));
  if (round === 1) process.stdout.write('started\n');
}
