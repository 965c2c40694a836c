/**
 * Writer for redo.test.ts: puts `o<i>` (1000-byte values naming i) into a durable pool, 32 in
 * flight, records `acked <i>` as each put resolves and `checkpoint` whenever a checkpoint rewrites
 * the journal, and kills itself with SIGKILL mid-stream (puts still in flight) once a checkpoint
 * happened and 500 more puts were acknowledged after it. The record goes to the ledger file
 * argv[3] with synchronous writes: stdout is a pipe, asynchronous on POSIX, and lines still queued
 * in it die with the process.
 */
import fs from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import { Journal } from '../../src/container/journal.js';

/** The value of put `i` (also used by the test to check it). */
export function redoValue(i: number): Uint8Array {
  const v = new Uint8Array(1000).fill(i & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}

if (process.argv[2]) {
  const dir = process.argv[2];
  const ledger = fs.openSync(process.argv[3]!, 'a');
  const record = (line: string) => { fs.writeSync(ledger, `${line}\n`); };
  let checkpoints = 0, acked = 0, ackedAtCheckpoint = -1;
  const replace = Journal.prototype.commitReplace;
  Journal.prototype.commitReplace = async function (this: Journal, prep, extra, late) {
    await replace.call(this, prep, extra, late);
    checkpoints++;
    if (ackedAtCheckpoint < 0) ackedAtCheckpoint = acked;
    record('checkpoint');
  };
  const pool = await Pool.open(dir, { durable: true });
  const c = await pool.openContainer('c');
  const MAX = 40_000, DEPTH = 32;
  let next = 0;
  await Promise.all(Array.from({ length: DEPTH }, async () => {
    while (next < MAX) {
      const i = next++;
      await c.kv(`o${i}`).put('v', redoValue(i));
      record(`acked ${i}`); // (before the count that decides the kill)
      acked++;
      if (checkpoints > 0 && acked >= ackedAtCheckpoint + 500) process.kill(process.pid, 'SIGKILL');
    }
  }));
  record('never killed');
}
