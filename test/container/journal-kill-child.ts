/**
 * SIGKILL test writer for the format 5 journal: a durable container storage (redo journal) whose
 * commits run 24 at a time (so each group write holds many INTENTs and DONEs), printing
 * `ack <epoch>` once a commit's DONE is durable. The parent kills it at random moments.
 */
import { LocalContainerStorage } from '../../src/container/storage.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';

await initXxhash();
const [dir] = process.argv.slice(2);
const s = await LocalContainerStorage.open(dir!, true, { redo: true });
const rec = s.recover();
let next = rec.floor + 1n;
process.stdout.write('ready\n');
const one = async (): Promise<void> => {
  for (;;) {
    const e = next++;
    const value = new Uint8Array(40 + Number(e % 90n)).fill(Number(e & 0xffn));
    const info = { targets: [Number(e % 7n), 7 + Number(e % 5n)], objects: [e.toString(16)], single: { dkey: new Uint8Array([1, 2]), akey: new Uint8Array([3]), hash: xxh64(value), shards: [[Number(e % 7n), 0], [7 + Number(e % 5n), 1]] as Array<[number, number]>, value } };
    await s.intent(e, info);
    s.applying?.(1);
    await new Promise(setImmediate); // (the targets' writes)
    s.applying?.(-1);
    await s.done(e, info);
    process.stdout.write(`ack ${e}\n`);
  }
};
await Promise.all(Array.from({ length: 24 }, one));
