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
 * uses them only when they hash to `csum`. A range it read before is copied out of a read-only
 * mapping of the data file instead of preadv (`mappingFor`: copy and hash in one pass on the pool
 * thread, no system call; measured, same-process A/B of reused 1 MiB reads: client CPU per MiB
 * EC_2P1G1 0.574 -> 0.421 ms, RP_3G1 0.662 -> 0.517, system time ~0.2 -> ~0.07).
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
import { nativeAddon } from '../media/io-uring.js';
import { coverChunks, mappedReads, markChunks } from '../media/block-device.js';
import type { FileMap, HashedRead } from '../media/io-engine.js';
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

/**
 * Bytes of newly touched pages after which a client's read-only mapping of an engine data file
 * drops its page-table entries (native `mapFile`'s zapBytes; the pages stay in the page cache).
 * Larger than an embedded store's 64 MiB: a client reading the same ranges again (reused buffers,
 * a working set of a few hundred MiB per engine file) keeps its entries instead of making them
 * again after every drop (~0.2 ms per MiB here, session 23); RSS counts at most this much of each
 * mapped file (DIRECT_MAX_OPEN_FILES files).
 */
export const DIRECT_MAP_ZAP_BYTES = 256 * 1024 * 1024;

/**
 * An engine data file a client reads located extents of: its descriptor, its read-only mapping
 * (made at the first read of a range read before; null: none to be had) and the mapping's length,
 * which READ_SEEN_CHUNK chunks were read before (one bit each), when it was last used (`useTick`),
 * its reads in flight, and whether it was dropped (closed once those reads have ended: a descriptor
 * closed under a read in flight could be reused by the next file opened, and the read go there).
 */
interface DataFile { fd: number; map: FileMap | null | undefined; mapLen: number; seen: Uint8Array; used: number; reads: number; dropped: boolean }

/** Located reads copied out of a data file's mapping (by the thread pool; tests and probes). */
export const directMapStats = { mappedReads: 0, mappedBytes: 0 };

/** Engine data files, by path (`used`: the least recently used is closed first). */
const open = new Map<string, DataFile>();
/**
 * The clock of `DataFile.used`: a read notes its file's use with one increment instead of moving
 * the file to the end of `open` (a delete and a set of its path, hashed each time: the path is a
 * new string in every answer); closing the least recently used, past DIRECT_MAX_OPEN_FILES, scans.
 */
let useTick = 0;
/** The thread-pool engine that reads and hashes (made at the first located read); null when the platform has no hashed reads. */
let reader: PreadEngine | null | undefined;

function hashedReader(): PreadEngine | null {
  if (reader === undefined) {
    try { const r = new PreadEngine('located'); reader = r.readvHash ? r : null; } catch (err) { swallowed('direct-read.no-hashed-reads', err); reader = null; }
  }
  return reader;
}

/** Data file `path` (opened read-only on first use), or undefined when it cannot be opened. */
function fileOf(path: string): DataFile | undefined {
  let f = open.get(path);
  if (f !== undefined) { f.used = ++useTick; return f; }
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (err) { swallowed('direct-read.data-file-not-openable', err); return undefined; }
  try {
    if (!fstatSync(fd).isFile()) { closeSync(fd); return undefined; }
  } catch (err) { swallowed('direct-read.data-file-not-statable', err); closeSync(fd); return undefined; }
  f = { fd, map: undefined, mapLen: 0, seen: new Uint8Array(64), used: ++useTick, reads: 0, dropped: false };
  open.set(path, f);
  while (open.size > DIRECT_MAX_OPEN_FILES) {
    let oldest: string | undefined, at = Infinity;
    for (const [p, g] of open) if (g.used < at) { at = g.used; oldest = p; }
    drop(oldest!, open.get(oldest!)!);
  }
  return f;
}

/** Close data file `path` (a read through it failed or mismatched: the file may have been replaced). */
function forget(path: string): void {
  const f = open.get(path);
  if (f !== undefined) drop(path, f);
}

/** Stop using data file `f` (at `path`): no later read takes it; closed now, or when its last read in flight ends (`ended`). */
function drop(path: string, f: DataFile): void {
  if (open.get(path) === f) open.delete(path);
  if (f.dropped) return;
  f.dropped = true;
  if (f.reads === 0) release(f);
}

/** A read of `f` ended: the file is closed when it was dropped meanwhile and no other read is in flight. */
function ended(f: DataFile): void {
  if (--f.reads === 0 && f.dropped) release(f);
}

function release(f: DataFile): void {
  unmap(f);
  try { closeSync(f.fd); } catch (err) { swallowed('direct-read.close', err); }
}

/** Drop `f`'s mapping (unmapped once the reads using it completed). */
function unmap(f: DataFile): void {
  if (f.map) nativeAddon()?.unmapFile?.(f.map);
  f.map = undefined;
  f.mapLen = 0;
}

/**
 * The mapping a located read of [at, at + len) of `f` goes through, or undefined (preadv on the
 * thread pool). As an embedded store's data file reads (media `mappedReads`, default `'reread'`):
 * through the mapping only a range every READ_SEEN_CHUNK chunk of which was read before (out of a
 * mapping whose page-table entries exist a read costs a copy; making them costs more than preadv,
 * so a first read keeps preadv); `'always'` (CAIRN_MAPPED_READS=1): every range; `'never'`
 * (CAIRN_MAPPED_READS=0): none. A range past the mapping's end (the engine grew its file) maps
 * the file again at its new size.
 */
function mappingFor(f: DataFile, at: number, len: number): FileMap | undefined {
  if (f.map === null) return undefined;
  const mode = mappedReads();
  if (mode === 'never') return undefined;
  if (mode === 'reread' && !markRead(f, at, len)) return undefined;
  if (f.map !== undefined && at + len <= f.mapLen) return f.map;
  const addon = nativeAddon();
  if (addon?.mapFile === undefined) { f.map = null; return undefined; }
  unmap(f);
  let size: number;
  try { size = fstatSync(f.fd).size; } catch (err) { swallowed('direct-read.data-file-not-statable', err); return undefined; }
  if (at + len > size) return undefined; // (shorter than the extent: the read fails or mismatches on its own)
  let m: FileMap | undefined;
  try {
    // (an addon older than 88836e6 takes no zapBytes: its mapping keeps the default budget)
    m = (addon.mapFile as (fd: number, length: number, writable: boolean, zapBytes: number) => FileMap | undefined)(f.fd, size, false, DIRECT_MAP_ZAP_BYTES);
  } catch (err) { swallowed('direct-read.map-refused', err); m = undefined; }
  f.map = m ?? null;
  f.mapLen = m ? size : 0;
  return m;
}

/** Mark the READ_SEEN_CHUNK chunks of [at, at + len) of `f` as read (block-device's chunk map); whether every one of them was read before. */
function markRead(f: DataFile, at: number, len: number): boolean {
  f.seen = coverChunks(f.seen, at, len);
  return markChunks(f.seen, at, len);
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
  return readRef(r, into, false);
}

/**
 * `readDirect` of a reference the client had from an earlier answer (link.ts: a read started
 * before the engine said where its extent lies now). True when `into` now holds bytes hashing to
 * `ref.csum`; the caller keeps them only when the engine's answer names that checksum and length.
 * A mismatch here is expected (the range was written again and its old blocks reused), so it
 * keeps the data file open; a failed read closes it, as `readDirect` does.
 */
export function readDirectGuess(ref: DirectRef, into: readonly Uint8Array[]): Promise<boolean> {
  return readRef(ref, into, true);
}

/** `readDirect` of a reference already checked by `directRefOf`. */
export function readDirectRef(ref: DirectRef, into: readonly Uint8Array[]): Promise<boolean> {
  return readRef(ref, into, false);
}

/**
 * `readDirectRef` of several references at once (`refs[i]` into `intos[i]`): the located reads of
 * one engine answer (link.ts `locateReads`). They go to the thread pool as one hashed group (one
 * promise, `readvHashGroup`: the reads of one answer then cost no promise and async frame each),
 * each checked against its own checksum as `readDirectRef` does; the answer holds, in order,
 * whether each `into` now holds its extent's bytes. A reference that fails any check is false
 * (the caller reads it again without `direct`); a failed or mismatched read closes its data file.
 */
export function readDirectRefs(refs: readonly DirectRef[], intos: ReadonlyArray<readonly Uint8Array[]>): Promise<boolean[]> {
  const n = refs.length;
  const out = new Array<boolean>(n).fill(false);
  const io = hashedReader();
  if (n === 0 || io === null || intos.length !== n) return Promise.resolve(out);
  if (io.readvHashGroup === undefined) return Promise.all(refs.map((r, i) => readRef(r, intos[i]!, false).catch(() => false)));
  const reads: HashedRead[] = [];
  const which: number[] = [];
  const mapped: boolean[] = [];
  const files: DataFile[] = [];
  for (let i = 0; i < n; i++) {
    const r = refs[i]!, into = intos[i]!;
    let total = 0;
    for (const b of into) total += b.length;
    if (total !== r.len) continue;
    const f = fileOf(r.path);
    if (f === undefined) continue;
    const map = mappingFor(f, r.at, r.len);
    f.reads++;
    reads.push({ fd: f.fd, views: into, position: r.at, hashLen: r.len, seed: CSUM_SEED, map });
    which.push(i);
    mapped.push(map !== undefined);
    files.push(f);
  }
  if (reads.length === 0) return Promise.resolve(out);
  const done = (hs: ReadonlyArray<bigint | Error> | undefined) => {
    for (let j = 0; j < which.length; j++) {
      const i = which[j]!, r = refs[i]!, f = files[j]!, h = hs?.[j];
      if (typeof h !== 'bigint') { swallowed('direct-read.read-failed-read-through-engine', h); drop(r.path, f); }
      else {
        if (mapped[j]) { directMapStats.mappedReads++; directMapStats.mappedBytes += r.len; }
        if (h === BigInt(r.csum)) out[i] = true;
        else drop(r.path, f);
      }
      ended(f);
    }
    return out;
  };
  return io.readvHashGroup(reads).then(done, () => done(undefined));
}

async function readRef(r: DirectRef, into: readonly Uint8Array[], guess: boolean): Promise<boolean> {
  let total = 0;
  for (const b of into) total += b.length;
  if (total !== r.len) return false;
  const io = hashedReader();
  if (io === null) return false;
  const f = fileOf(r.path);
  if (f === undefined) return false;
  // A range read before: the pool thread copies it out of the file's mapping and hashes it in
  // the same pass (no preadv system call; a fault in the mapping is read again with preadv there).
  const map = mappingFor(f, r.at, r.len);
  let h: bigint;
  f.reads++;
  try {
    h = await io.readvHash!(f.fd, into, r.at, r.len, CSUM_SEED, map);
  } catch (err) {
    swallowed('direct-read.read-failed-read-through-engine', err);
    drop(r.path, f);
    ended(f);
    return false;
  }
  ended(f);
  if (map !== undefined) { directMapStats.mappedReads++; directMapStats.mappedBytes += r.len; }
  if (h === BigInt(r.csum)) return true;
  if (!guess) drop(r.path, f);
  return false;
}

/** Close every data file kept open (tests). */
export function closeDirectFiles(): void { for (const p of [...open.keys()]) forget(p); }
