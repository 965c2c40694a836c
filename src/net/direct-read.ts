/**
 * Located reads: a client on an engine's host reads a whole-extent array read straight out of the
 * engine's data file into the caller's buffers (issue 15).
 *
 * Why: through a shared-memory slot (shm.ts) a 1 MiB read costs an engine's pool thread a copy and
 * a hash into the slot and the client a second copy out of it, besides the wake-ups of the pool
 * hop (measured in the suite's call shape, EC_2P1G1 reads into reused buffers, per MiB: engine
 * pool threads 0.33 ms, engine main threads 0.27, client 0.35 of which about 0.1 is the slot copy;
 * an embedded pool spends 0.23 ms in all, one copy and hash into the caller's buffer). When the
 * request says `direct: true` (the client reaches the engine through its Unix socket), an engine
 * whose store can locate the read (the newest extent visible at the read's epoch is exactly the
 * range asked for, in the data file: `locateArrayExtent`) answers with where it lies instead of
 * its bytes: `direct: { path, at, len, csum }`, the data file's absolute path, the byte position
 * and length there, and the extent's checksum (xxh64, `CSUM_SEED`, decimal). The client reads
 * those bytes into the caller's buffers on its own thread pool, hashing them as they land, and
 * uses them only when they hash to `csum`.
 *
 * No hold is kept on the engine: blocks freed and reused after the answer, a file replaced
 * (a wiped target), damage, a short or failed read — every one of them mismatches or fails here,
 * and the client then asks again without `direct` (the engine's own read, which reports damage
 * and reconstructs exactly as before). The field is a hint both ways: an engine without this code
 * ignores it, and a client that does not ask never gets it. Off with `CAIRN_RPC_DIRECT=0`.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { swallowed } from '../../core/log.js';
import { PreadEngine } from '../media/pread.js';
import { CSUM_SEED } from '../vos/constants.js';

/**
 * Smallest read a client asks a located answer for: below, the reply's bytes over the socket (or a
 * slot) cost less than a read on the client's thread pool (the hop there and back).
 */
export const DIRECT_MIN_BYTES = 64 * 1024;
/** Data files one client process keeps open for located reads (least recently used closed first). */
export const DIRECT_MAX_OPEN_FILES = 64;
/** Longest `csum` field accepted (a u64 in decimal). */
const CSUM_MAX_DIGITS = 20;
/** The name every engine data file has (vos DATA_FILE): a located read names nothing else. */
const DATA_FILE_NAME = '/vos.data';

/** What an engine's answer names: the data file, the extent's byte position and length there, and its checksum. */
export interface DirectRef { path: string; at: number; len: number; csum: string }

/** Whether this process's clients ask engines on their host for located reads (`CAIRN_RPC_DIRECT=0`: off). */
export function directReadsEnabled(): boolean { return process.env.CAIRN_RPC_DIRECT !== '0' && process.platform === 'linux'; }

/** Descriptors of engine data files, by path, least recently used first. */
const open = new Map<string, number>();
/** The thread-pool engine that reads and hashes (made at the first located read); null when the platform has no hashed reads. */
let reader: PreadEngine | null | undefined;

function hashedReader(): PreadEngine | null {
  if (reader === undefined) {
    try { const r = new PreadEngine(); reader = r.readvHash ? r : null; } catch (err) { swallowed('direct-read.no-hashed-reads', err); reader = null; }
  }
  return reader;
}

/** The descriptor of data file `path` (opened read-only on first use), or undefined when it cannot be opened. */
function fdOf(path: string): number | undefined {
  let fd = open.get(path);
  if (fd !== undefined) { open.delete(path); open.set(path, fd); return fd; }
  try { fd = openSync(path, 'r'); } catch (err) { swallowed('direct-read.data-file-not-openable', err); return undefined; }
  try {
    if (!fstatSync(fd).isFile()) { closeSync(fd); return undefined; }
  } catch (err) { swallowed('direct-read.data-file-not-statable', err); closeSync(fd); return undefined; }
  open.set(path, fd);
  while (open.size > DIRECT_MAX_OPEN_FILES) forget(open.keys().next().value as string);
  return fd;
}

/** Close the descriptor of `path` (a read through it failed or mismatched: the file may have been replaced). */
function forget(path: string): void {
  const fd = open.get(path);
  if (fd === undefined) return;
  open.delete(path);
  try { closeSync(fd); } catch (err) { swallowed('direct-read.close', err); }
}

/** `ref` as a `DirectRef` when it is well formed, else undefined. */
export function directRefOf(ref: unknown): DirectRef | undefined {
  const r = ref as Partial<DirectRef> | null;
  if (typeof r !== 'object' || r === null || typeof r.path !== 'string' || !isAbsolute(r.path) || !r.path.endsWith(DATA_FILE_NAME) || r.path.includes('\0')
    || !Number.isSafeInteger(r.at) || r.at! < 0 || !Number.isSafeInteger(r.len) || r.len! <= 0
    || typeof r.csum !== 'string' || r.csum.length === 0 || r.csum.length > CSUM_MAX_DIGITS || !/^\d+$/.test(r.csum)) return undefined;
  return r as DirectRef;
}

/**
 * Client side: read the extent `ref` names into `into` (their total length must be the extent's)
 * and check it against its checksum. True when `into` now holds the extent's bytes; false when
 * anything did not fit (malformed reference, another length, a file that cannot be opened or read,
 * a mismatch): `into` may then hold anything, and the caller reads again without `direct`.
 */
export async function readDirect(ref: unknown, into: readonly Uint8Array[]): Promise<boolean> {
  const r = directRefOf(ref);
  if (r === undefined) return false;
  let total = 0;
  for (const b of into) total += b.length;
  if (total !== r.len) return false;
  const io = hashedReader();
  if (io === null) return false;
  const fd = fdOf(r.path);
  if (fd === undefined) return false;
  let h: bigint;
  try {
    h = await io.readvHash!(fd, into, r.at, r.len, CSUM_SEED);
  } catch (err) {
    swallowed('direct-read.read-failed-read-through-engine', err);
    forget(r.path);
    return false;
  }
  if (h === BigInt(r.csum)) return true;
  forget(r.path);
  return false;
}

/** Close every data file kept open (tests). */
export function closeDirectFiles(): void { for (const p of [...open.keys()]) forget(p); }
