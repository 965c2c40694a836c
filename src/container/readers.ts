/**
 * Read-only readers of an embedded pool, made safe against the writer's `aggregate()`.
 *
 * A process that opens a pool read-only reads every container at one epoch F (the last commit
 * the writer had finished when the reader read the commit journal). The writer's aggregation
 * merges old versions away: once it aggregated past F, the versions F reads may be gone. So the
 * two processes meet in the container directory, each writing before it reads (so at least one
 * sees the other):
 *
 * - the reader writes its epoch in `readers/<id>` (pid and epoch, JSON), then reads the mark
 *   `aggregating`; if the mark is above F, the writer may have aggregated past F before seeing the
 *   registration: the reader re-reads the journal (its new F is at or above the mark, whose
 *   commits were all finished when it was written) and registers again;
 * - the writer, before every aggregation up to U, writes U as the mark, then reads the
 *   registrations and keeps the version every live reader's epoch sees (as it does for
 *   snapshots). Registrations of dead processes are removed.
 *
 * Registering is best effort: a reader that cannot write there (a read-only file system, no
 * permission) still reads, without this protection (`registerReader` says so). A reader creates
 * nothing: `readers/` is made by the writer (`LocalContainerStorage.create` and `open`), so in a
 * container no read-write open made it yet (written by a release before that) a reader reads
 * unprotected too; its reads of versions aggregated away then fail their checksums (`STALE_VIEW_CODES`,
 * readonly-store.ts), never return wrong data, until the writer's next open makes the directory.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { swallowed } from '../../core/log.js';

/** Sub-directory of a container directory holding the reader registrations. */
export const READERS_DIR = 'readers';
/** File of a container directory holding the epoch the writer last aggregated (or is aggregating) to. */
export const AGGREGATION_MARK = 'aggregating';
/** Most registrations the writer reads per aggregation (more are ignored: a bound on the work). */
export const MAX_READERS = 4096;

/** A fresh registration id for one reader (pool handle) in this process. */
export function readerId(): string {
  return `${process.pid}-${randomUUID().slice(0, 8)}`;
}

/** Write `text` to `path` atomically (temp file + rename; no fsync: this is coordination, not data). */
async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * The writer: make the `readers/` directory of the container in `containerDir` (at its create and
 * every read-write open), where readers register; readers never create it (a read-only open
 * writes no directory).
 */
export async function makeReadersDir(containerDir: string): Promise<void> {
  await mkdir(join(containerDir, READERS_DIR), { recursive: true });
}

/**
 * Record that reader `id` reads the container in `containerDir` at `epoch`, in its `readers/`
 * directory if it exists (the reader creates nothing). Resolves to false when the registration
 * cannot be written (the reader then reads unprotected): no `readers/`, a read-only file system,
 * no permission.
 */
export async function registerReader(containerDir: string, id: string, epoch: bigint): Promise<boolean> {
  try {
    await writeAtomic(join(containerDir, READERS_DIR, id), JSON.stringify({ pid: process.pid, epoch: epoch.toString() }));
    return true;
  } catch (err) {
    swallowed('readers.registration-not-written-reads-unprotected', err);
    return false;
  }
}

/** Remove the registration of reader `id` (on close). */
export async function unregisterReader(containerDir: string, id: string): Promise<void> {
  await unlink(join(containerDir, READERS_DIR, id)).catch((err) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') swallowed('readers.registration-not-removed', err);
  });
}

/** The epoch of the writer's latest aggregation mark (0 when it never aggregated). */
export async function aggregationMark(containerDir: string): Promise<bigint> {
  try {
    const s = (await readFile(join(containerDir, AGGREGATION_MARK), 'utf8')).trim();
    return /^\d{1,20}$/.test(s) ? BigInt(s) : 0n;
  } catch {
    return 0n;
  }
}

/** Whether process `pid` exists (signal 0: EPERM means it does, under another user). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * The writer, before aggregating the container in `containerDir` up to `upTo`: publish the mark,
 * then return the epochs of every live registered reader (to keep, like snapshots). Registrations
 * of processes that are gone are removed.
 */
export async function readerEpochsBeforeAggregate(containerDir: string, upTo: bigint): Promise<bigint[]> {
  // Best effort: aggregation is what frees space, so a full disk must not stop it; without the mark
  // only a reader registering at this very moment is unprotected (registered ones are kept below).
  await writeAtomic(join(containerDir, AGGREGATION_MARK), upTo.toString()).catch((err) => swallowed('readers.aggregation-mark-not-written', err));
  let names: string[];
  try { names = await readdir(join(containerDir, READERS_DIR)); } catch { return []; }
  const out: bigint[] = [];
  for (const name of names.slice(0, MAX_READERS)) {
    if (name.includes('.tmp-')) continue;
    const path = join(containerDir, READERS_DIR, name);
    let reg: { pid?: unknown; epoch?: unknown };
    try { reg = JSON.parse(await readFile(path, 'utf8')) as typeof reg; } catch { continue; } // replaced or removed meanwhile
    if (typeof reg.pid !== 'number' || typeof reg.epoch !== 'string' || !/^\d{1,20}$/.test(reg.epoch)) continue;
    if (!alive(reg.pid)) { await unlink(path).catch(() => { /* removed by its reader meanwhile */ }); continue; }
    out.push(BigInt(reg.epoch));
  }
  return out;
}
