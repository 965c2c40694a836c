/** Helpers of tests: temporary directories (shared with the benchmarks), text, collection, expected errors. */
import { mkdirSync, mkdtempSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
export { tmpDir } from '../../bench/tmp-dir.js';

/** statfs types of filesystems kept in memory only (no device, no writeback): tmpfs and ramfs. */
const MEMORY_FS_TYPES: ReadonlySet<number> = new Set([0x01021994, 0x858458f6]);

/** The statfs type of the filesystem `path` lies on, or undefined when it cannot be read (no such path). */
function fsType(path: string): number | undefined {
  try { return statfsSync(path).type; } catch { return undefined; }
}

/** Whether `path` exists and lies on a filesystem kept in memory only (tmpfs, ramfs): no O_DIRECT, no writeback, pages never evicted. */
export function inMemoryFs(path: string): boolean {
  const t = fsType(path);
  return t !== undefined && MEMORY_FS_TYPES.has(t);
}

/** Whether `dir` exists and lies on a filesystem backed by a device. */
function onDevice(dir: string): boolean {
  const t = fsType(dir);
  return t !== undefined && !MEMORY_FS_TYPES.has(t);
}

/**
 * A fresh directory on a filesystem backed by a device, for tests of what only such a filesystem
 * does (writeback write-protecting mapped pages, an fdatasync that waits for the device, pages
 * first mapped counted as resident): the OS temp dir unless it is a tmpfs (Debian 13 mounts /tmp
 * so, and with TMPDIR on /dev/shm those tests failed), else /var/tmp, else the repository's
 * ignored `tmp/`. The caller removes it. Where none is on a device, the OS temp dir, with a warning.
 */
export function diskTmpDir(prefix: string): string {
  const repoTmp = fileURLToPath(new URL('../../tmp', import.meta.url));
  for (const root of [tmpdir(), '/var/tmp', repoTmp]) {
    if (root === repoTmp) { try { mkdirSync(root, { recursive: true }); } catch { continue; } }
    if (onDevice(root)) { try { return mkdtempSync(join(root, prefix)); } catch { /* not writable: the next */ } }
  }
  process.stderr.write(`warning: no writable directory on a device-backed filesystem; ${prefix} tests run in ${tmpdir()} (a tmpfs) and their device checks will fail\n`);
  return mkdtempSync(join(tmpdir(), prefix));
}

/** UTF-8 text of a fetched value (undefined stays undefined). */
export function text(v: Uint8Array | undefined): string | undefined {
  return v === undefined ? undefined : new TextDecoder().decode(v);
}

/** Collect an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Expect a promise to reject with a CairnError of `code`. */
export async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    const c = (err as { code?: string }).code;
    if (c !== code) throw new Error(`expected error code ${code}, got ${c}: ${(err as Error).message}`);
    return;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}
