/**
 * Temporary directories and child processes of a benchmark run, removed (killed) when the run
 * ends — normally, by an uncaught error, or by SIGINT / SIGTERM / SIGHUP — so an interrupted
 * `npm run bench` leaves nothing behind. Directories go under `CAIRN_BENCH_DIR` (default
 * `os.tmpdir()`); `/dev/shm` works too but hides the cost of real writes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';

/** Where temporary directories go unless CAIRN_BENCH_DIR says otherwise. */
export const BENCH_DIR_ENV = 'CAIRN_BENCH_DIR';
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

const dirs = new Set<string>();
const children = new Set<ChildProcess>();
let installed = false;

/** Remove every registered directory and kill every registered child (synchronous: safe in 'exit'). */
export function cleanupNow(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupNow);
  for (const s of SIGNALS) {
    process.once(s, () => { cleanupNow(); process.exit(SIGNAL_EXIT[s] ?? 1); });
  }
}

/** A fresh empty directory `<base>/<prefix>XXXXXX`, removed at exit or on a signal. */
export function tempDir(prefix: string): string {
  install();
  const base = process.env[BENCH_DIR_ENV] || os.tmpdir();
  const d = fs.mkdtempSync(path.join(base, prefix));
  dirs.add(d);
  return d;
}

/** Remove a directory from `tempDir` now. */
export function removeTempDir(d: string): void {
  fs.rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** Kill `child` if the run ends while it is alive. */
export function trackChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once('exit', () => children.delete(child));
}
