/**
 * Writer for redo.test.ts and journal-checkpoint.test.ts: puts `o<i>` (1000-byte values naming i)
 * into a durable pool (a pool that is not durable with REDO_CHILD_DURABLE=0), 32 in
 * flight, records `acked <i>` as each put resolves and `checkpoint` whenever a checkpoint rewrites
 * the journal, and kills itself with SIGKILL mid-stream (puts still in flight) once a checkpoint
 * happened and 500 more puts were acknowledged after it. The record goes to the ledger file
 * argv[3] with synchronous writes: stdout is a pipe, asynchronous on POSIX, and lines still queued
 * in it die with the process.
 *
 * argv[4], a window of the checkpoint's adoption of the new journal (`Journal.commitReplace`) to
 * be killed in instead, held open by holding back a sync there (puts go on meanwhile, to both
 * files): `before-rename` (the new file's fdatasync before its rename), `after-rename` (the
 * directory's fsync after it). The kill comes once 100 puts were acknowledged in the window
 * (each recorded `window <i>`); the hold ends after 30 s whatever happened (a loaded machine acknowledges 100 puts far sooner).
 */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { Pool } from '../../src/pool/pool.js';
import { Journal } from '../../src/container/journal.js';

/** The value of put `i` (also used by the test to check it). */
export function redoValue(i: number): Uint8Array {
  const v = new Uint8Array(1000).fill(i & 0xff);
  new DataView(v.buffer).setUint32(0, i, true);
  return v;
}

/**
 * Run this writer on the pool in `dir` (its ledger beside it) until it kills itself, `window` as
 * argv[4] says, with `env` added to the test's; what its ledger recorded, and how it ended.
 */
export async function runKilledWriter(dir: string, window?: 'before-rename' | 'after-rename', env: Record<string, string> = {}): Promise<{ signal: NodeJS.Signals | null; ledger: string; acked: number[] }> {
  const ledgerPath = join(dirname(dir), 'ledger');
  const self = new URL(import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', self, dir, ledgerPath, ...(window ? [window] : [])], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => proc.on('close', (_c, sig) => resolve(sig)));
  const ledger = fs.readFileSync(ledgerPath, 'utf8'); // (written synchronously: nothing in it is lost with the process)
  return { signal, ledger, acked: [...ledger.matchAll(/acked (\d+)/g)].map((m) => Number(m[1])) };
}

if (process.argv[2]) {
  const dir = process.argv[2];
  const ledger = fs.openSync(process.argv[3]!, 'a');
  const record = (line: string) => { fs.writeSync(ledger, `${line}\n`); };
  let checkpoints = 0, acked = 0, ackedAtCheckpoint = -1;
  const windowMode = process.argv[4] as 'before-rename' | 'after-rename' | undefined;
  // (in the window: puts acknowledged in it so far)
  let inWindow = false, windowAcks = 0, adopting = false, renamed = false;
  const replace = Journal.prototype.commitReplace;
  Journal.prototype.commitReplace = async function (this: Journal, prep, extra) {
    adopting = true;
    await replace.call(this, prep, extra);
    adopting = false;
    checkpoints++;
    if (ackedAtCheckpoint < 0) ackedAtCheckpoint = acked;
    record('checkpoint');
  };
  if (windowMode !== undefined) {
    const hold = (go: () => void): void => { inWindow = true; record('window opened'); setTimeout(go, 30_000); };
    const fdPath = (fd: number): string => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`); } catch { return ''; } };
    const readWrite = (fd: number): boolean => { try { return (parseInt(/flags:\s*([0-7]+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8) & 3) === 2; } catch { return false; } };
    const fdatasync = fs.fdatasync, fsync = fs.fsync, renameSync = fs.renameSync;
    // (the checkpoint's new journal: written under `journal.compact`, or, with CAIRN_JOURNAL_SPARE=1, into the spare made ahead)
    const NEW_JOURNAL = /journal\.(compact|spare)$/;
    // before-rename: the new file's own sync (its descriptor opened read-write; group syncs use read-only ones)
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void => {
      if (windowMode === 'before-rename' && adopting && !inWindow && NEW_JOURNAL.test(fdPath(fd)) && readWrite(fd)) hold(() => fdatasync(fd, cb));
      else fdatasync(fd, cb);
    };
    (fs as { renameSync: unknown }).renameSync = (from: string, to: string): void => {
      renameSync(from, to);
      if (adopting && NEW_JOURNAL.test(from) && to.endsWith('journal')) renamed = true;
    };
    // after-rename: the directory's sync
    (fs as { fsync: unknown }).fsync = (fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void => {
      if (windowMode === 'after-rename' && adopting && renamed && !inWindow && fs.fstatSync(fd).isDirectory()) hold(() => fsync(fd, cb));
      else fsync(fd, cb);
    };
    syncBuiltinESMExports();
  }
  const pool = await Pool.open(dir, { durable: process.env.REDO_CHILD_DURABLE !== '0' });
  const c = await pool.openContainer('c');
  const MAX = 40_000, DEPTH = 32;
  let next = 0;
  await Promise.all(Array.from({ length: DEPTH }, async () => {
    while (next < MAX) {
      const i = next++;
      await c.kv(`o${i}`).put('v', redoValue(i));
      record(`acked ${i}`); // (before the count that decides the kill)
      acked++;
      if (windowMode !== undefined) {
        if (inWindow && adopting) { record(`window ${i}`); if (++windowAcks >= 100) process.kill(process.pid, 'SIGKILL'); }
      } else if (checkpoints > 0 && acked >= ackedAtCheckpoint + 500) process.kill(process.pid, 'SIGKILL');
    }
  }));
  record('never killed');
}
