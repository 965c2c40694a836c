/** Child process of merge-placement.test.ts: the shared work in a process where no merge worker has started. */
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { mergeColdWork } from './merge-cold-work.js';

const out = await mergeColdWork(process.argv[2]!);
process.stdout.write(JSON.stringify({ ...out, workerUp: mergeWorkers()?.warm('merge', false) ?? false }));
