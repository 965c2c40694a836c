/** Child process of merge-placement.test.ts: the shared work in a process where no merge worker has started (argv: dir [spent]). */
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { coldMerges } from '../../src/vos/store.js';
import { mergeColdWork } from './merge-cold-work.js';

// argv[3] 'spent': no cold-merge budget left, so the merge asks for a worker
if (process.argv[3] === 'spent') coldMerges.budgetBytes = 0;
const out = await mergeColdWork(process.argv[2]!);
process.stdout.write(JSON.stringify({ ...out, workerStarted: mergeWorkers()?.started('merge') ?? false }));
