/**
 * Child of merge-workers.test.ts: starts a worker on module `argv[2]` the way merge workers are
 * started (`startWorker`), and prints its first message.
 */
import { startWorker } from '../../src/vos/merge-workers.js';

const w = startWorker(process.argv[2]!, {});
const m = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
console.log(String(m));
await w.terminate();
