/** Temporary directories of tests and benchmarks, removed when the process ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];
process.on('exit', () => {
  for (const d of dirs) {
    try { rmSync(d, { recursive: true, force: true }); } catch (err) { process.stderr.write(`could not remove ${d}: ${(err as Error).message}\n`); }
  }
});

/** A fresh empty directory under the OS temp dir. */
export function tmpDir(prefix = 'cairn-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
