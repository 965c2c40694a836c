/**
 * The commit journal of a container: an append-only file that makes multi-target commits atomic.
 *
 * A commit at epoch E appends INTENT(E, targets, objects) before touching any target and DONE(E)
 * after every target applied it; a commit is acknowledged only after DONE is written. On open, an
 * INTENT without DONE means the process died mid-commit: its epoch is discarded from the targets it
 * names, so the container looks as if the commit never happened. DONE records also feed `watch()`.
 *
 * Two copies: every batch of records is appended to `journal` and to `journal.copy`, so one damaged
 * record (a flipped byte in a DONE) is read from the other copy and never turns an acknowledged
 * commit into a torn one. Records carry a magic and a checksum: a bad record in the middle of a
 * file is skipped (the scan resynchronises on the next magic) and reported; a bad tail (a crash
 * mid-append) is cut. Only when both copies are damaged in their middles can a record be missing
 * from both, and then recovery says so (`damaged`) instead of guessing.
 *
 * Format (version 4): 16-byte header ("CAIRNJNL", u32 version, u32 0), then records:
 * `u32 magic "JREC" | u32 length of the whole record | u8 type | u8 payload encoding | 2 x 0 |
 *  u64 epoch | u64 xxh64 of bytes [8, 24) and of the payload | payload`. The payload is UTF-8
 * JSON (encoding 0) or, for INTENT records, binary (encoding 1, `intent-codec.ts`): a commit's
 * INTENT is written straight into the group's reused buffer, with no JSON text, hex or base64
 * built per commit. Version 4 (the same layout) adds the INTENT's store-hash flag: a single
 * value's hash may be its store checksum instead of XXH64 with seed 0 (`intent-codec.ts`), which
 * a build reading version 3 would take for a value that does not match, so version 4 files are
 * refused by it. Version 2 files (JSON payloads only, the encoding byte 0) and version 3 files are
 * read as ever and take the version 4 header when opened for writing; a newer version is refused
 * with `FORMAT_VERSION`.
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasync, fdatasyncSync, fsyncSync, renameSync, rmSync, existsSync, openSync, fstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { open as openCb, write as writeCb, fsync as fsyncCb, close as closeCb } from 'node:fs';
import { swallowed } from '../../core/log.js';
import { promisify } from 'node:util';
import { xxh64 } from '../../core/xxhash.js';
import { CairnError, CorruptionError, assert } from '../../core/errors.js';
import { type IntentFields, intentBytes, writeIntent, decodeIntent } from './intent-codec.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';
import { COPY_SUFFIX } from '../../core/record-file.js';
import { mediaErrorFromErrno } from '../media/errors.js';
import { IoUringEngine, URING_QUEUE_DEPTH } from '../media/io-uring.js';

const MAGIC = 'CAIRNJNL';
/** Version written in new journals' headers (and given to version 2 and 3 files opened for writing). */
const FORMAT_VERSION = 4;
/** Oldest version read: version 2 journals hold JSON payloads only. */
const OLDEST_VERSION = 2;
/** Payload encodings (the byte after the record type). */
const PAYLOAD_JSON = 0;
const PAYLOAD_INTENT_BINARY = 1;
const REC_MAGIC = 0x4345524a; // "JREC"
const REC_HEADER = 32;
const MAGIC_BYTES = Buffer.from([0x4a, 0x52, 0x45, 0x43]);
/** Largest journal record accepted (a corrupt length field must not make us allocate gigabytes). */
export const MAX_JOURNAL_RECORD = 16 * 1024 * 1024;

/** Journal record types. */
export enum JournalType { Intent = 1, Done = 2, Abort = 3, Rollback = 4 }

/** One decoded journal record. */
export interface JournalRecord {
  type: JournalType;
  epoch: bigint;
  payload: Record<string, unknown>;
}

/**
 * A record to append: its payload as an object (`payload`), as JSON already serialised (`json`),
 * as an INTENT's fields written in binary (`intent`), or as those binary bytes already encoded
 * (`bin`, see `Journal.intentPayload`). The first of `bin`, `intent`, `json`, `payload` given wins.
 */
export interface AppendRecord {
  type: JournalType;
  epoch: bigint;
  payload?: Record<string, unknown>;
  json?: string;
  intent?: IntentFields;
  bin?: Uint8Array;
}

/** What one copy's scan found; `zeroTail`: every byte after `end` is zero (a durable journal's preallocated space, or nothing). */
interface Scan { records: JournalRecord[]; end: number; corrupt: number; zeroTail: boolean }

/**
 * Durable journals: bytes of zeros written ahead of the records (each copy), so a group's
 * fdatasync finds its records in blocks the file already has and the size unchanged: it flushes
 * the data alone, with no filesystem journal commit for the file's growth (measured on this VM's
 * ext4: 8 KiB written then fdatasync, 0.35 ms mean / 0.155 ms median over already-written blocks
 * against 0.81 / 0.28 ms when appending). The space is grown again in steps of this size.
 */
export const JOURNAL_PREALLOC_BYTES = 1024 * 1024;
/** Zeros written to preallocate (made on first use). */
let zeroChunk: Buffer | undefined;

/** Whether `buf[from, to)` is all zero bytes. */
function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Encode one record (JSON payload). */
function encode(type: JournalType, epoch: bigint, payload: Record<string, unknown>): Buffer {
  return Buffer.from(encodeBatch([{ type, epoch, payload }]));
}

/** Whether a version is one this build reads. */
function readable(v: number): boolean { return v >= OLDEST_VERSION && v <= FORMAT_VERSION; }

/** The error for a journal written by a newer format than this build reads. */
function newerFormat(p: string, v: number): CairnError {
  return new CairnError('FORMAT_VERSION', `journal ${p}: format version ${v} is newer than this build reads (${OLDEST_VERSION}-${FORMAT_VERSION}); open it with the build that wrote it`, { path: p, version: v, supported: FORMAT_VERSION });
}

/** Bytes of the JSON payload `{}` (DONE records of live commits). */
const EMPTY_PAYLOAD = '{}';
/** Scratch for the checksummed part of one record ([8, 24) then the payload), grown on demand. */
let hashScratch = Buffer.allocUnsafe(4096);
/** A DataView of `hashScratch` (a record's header fields are written into it as into the batch). */
let hashDv = new DataView(hashScratch.buffer, hashScratch.byteOffset, hashScratch.length);
/**
 * Views of `hashScratch` by record length: `whole` its first `n` bytes (what is hashed), `body`
 * the payload part after the 16 header bytes (copied into the batch). Records of one batch come in
 * a few sizes (DONEs, INTENTs of like commits), so a record allocates no view; cleared when the
 * scratch grows or when full. (`Buffer.copy` with offsets would make a view per call.)
 */
const hashViews = new Map<number, { whole: Buffer; body: Buffer }>();
/** Most views `hashViews` keeps. */
const HASH_VIEWS_MAX = 64;
/** Bytes of the record header covered by the checksum ([8, 24): type, encoding, epoch), first in the scratch. */
const HASHED_HEADER = 16;

/** `hashScratch[0, n)` and `hashScratch[16, n)`, views reused across records of that length. */
function hashView(n: number): { whole: Buffer; body: Buffer } {
  if (hashScratch.length < n) {
    hashScratch = Buffer.allocUnsafe(Math.max(n, hashScratch.length * 2));
    hashDv = new DataView(hashScratch.buffer, hashScratch.byteOffset, hashScratch.length);
    hashViews.clear();
  }
  let v = hashViews.get(n);
  if (v === undefined) {
    if (hashViews.size >= HASH_VIEWS_MAX) hashViews.clear();
    v = { whole: hashScratch.subarray(0, n), body: hashScratch.subarray(HASHED_HEADER, n) };
    hashViews.set(n, v);
  }
  return v;
}
/** Per-record scratch of `encodeBatch` (payload texts and lengths), reused by batches of up to BATCH_ARRAYS_MAX records. */
const batchJsons: Array<string | undefined> = [];
const batchLens: number[] = [];
/** Largest batch (records) encoded with the shared per-record scratch (a compaction's rewrite gets its own). */
const BATCH_ARRAYS_MAX = 4096;
/**
 * The bytes of the last batch encoded, reused by the next (grown on demand, kept up to
 * BATCH_SCRATCH_MAX): a batch is written synchronously and dropped, so one buffer serves them all.
 */
let batchScratch = Buffer.allocUnsafe(16 * 1024);
/** A DataView of `batchScratch` (offsets as in the batch: it starts at 0). */
let batchView = new DataView(batchScratch.buffer, batchScratch.byteOffset, batchScratch.length);
/** Largest batch buffer kept for reuse (bigger batches get their own). */
const BATCH_SCRATCH_MAX = 1024 * 1024;

/**
 * Encode a batch of records into one buffer (byte-identical to concatenating `encode` of each):
 * payloads are serialised once, written in place, and each checksum is taken over a reused scratch
 * instead of a concatenation per record. The result is a view of a buffer the next call reuses:
 * write it before encoding again.
 */
function encodeBatch(recs: ReadonlyArray<AppendRecord>): Buffer {
  const shared = recs.length <= BATCH_ARRAYS_MAX;
  const jsons: Array<string | undefined> = shared ? batchJsons : new Array(recs.length);
  const lens: number[] = shared ? batchLens : new Array(recs.length);
  let total = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    let body: number;
    jsons[i] = undefined;
    if (r.bin !== undefined) body = r.bin.length;
    else if (r.intent !== undefined) body = intentBytes(r.intent);
    else {
      const j = r.json ?? (r.payload === undefined || isEmpty(r.payload) ? EMPTY_PAYLOAD : JSON.stringify(r.payload));
      jsons[i] = j;
      body = j === EMPTY_PAYLOAD ? 2 : Buffer.byteLength(j, 'utf8');
    }
    const len = REC_HEADER + body;
    if (len > MAX_JOURNAL_RECORD) throw new CorruptionError('journal record too large', { len });
    lens[i] = len; total += len;
  }
  if (batchScratch.length < total && total <= BATCH_SCRATCH_MAX) {
    batchScratch = Buffer.allocUnsafe(Math.min(BATCH_SCRATCH_MAX, Math.max(total, 2 * batchScratch.length)));
    batchView = new DataView(batchScratch.buffer, batchScratch.byteOffset, batchScratch.length);
  }
  const own = total <= batchScratch.length;
  const out = own ? batchScratch.subarray(0, total) : Buffer.allocUnsafe(total);
  // a DataView for the header fields: Buffer's writeBigUInt64LE splits the BigInt in JS
  const dv = own ? batchView : new DataView(out.buffer, out.byteOffset, out.length);
  let at = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!, len = lens[i]!;
    const j = jsons[i];
    // The checksummed bytes (header [8, 24), then the payload) are built in the scratch, hashed
    // there, and the payload copied into the batch once.
    const view = hashView(len - REC_HEADER + HASHED_HEADER);
    const word2 = r.type | ((j === undefined ? PAYLOAD_INTENT_BINARY : PAYLOAD_JSON) << 8); // type, encoding, 2 zero bytes
    hashDv.setUint32(0, word2, true);
    hashDv.setUint32(4, 0, true);
    hashDv.setBigUint64(8, r.epoch, true);
    if (j === undefined) {
      if (r.bin !== undefined) hashScratch.set(r.bin, HASHED_HEADER);
      else writeIntent(hashScratch, hashDv, HASHED_HEADER, r.intent!);
    } else if (j === EMPTY_PAYLOAD) { hashScratch[HASHED_HEADER] = 0x7b; hashScratch[HASHED_HEADER + 1] = 0x7d; } else hashScratch.write(j, HASHED_HEADER, 'utf8');
    dv.setUint32(at, REC_MAGIC, true);
    dv.setUint32(at + 4, len, true);
    dv.setUint32(at + 8, word2, true);
    dv.setUint32(at + 12, 0, true);
    dv.setBigUint64(at + 16, r.epoch, true);
    dv.setBigUint64(at + 24, xxh64(view.whole), true);
    out.set(view.body, at + REC_HEADER);
    at += len;
  }
  if (shared) jsons.fill(undefined, 0, recs.length); // (no payload text kept alive by the scratch)
  return out;
}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

/** Stands for a record `scanFile` was told it already has. */
const KNOWN: JournalRecord = Object.freeze({ type: JournalType.Intent, epoch: -1n, payload: {} }) as JournalRecord;

/**
 * Read every valid record of one file; corrupt ones in the middle are skipped and counted.
 * `known(type, epoch)`: a record already read from the other copy (checked, then not decoded again).
 */
function scanFile(fd: number, size: number, known?: (type: number, epoch: bigint) => boolean): Scan {
  // one read of the whole file (bounded by compaction), then parse in memory
  const buf = Buffer.allocUnsafe(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length); // (Buffer's BigInt reads split them in JS)
  let got = 0;
  while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
  const records: JournalRecord[] = [];
  let corrupt = 0;
  let off = HEADER;
  let lastGood = HEADER;
  // the checksummed bytes (header fields, then payload) gathered in the shared hash scratch (`hashView`: a view
  // reused per record length, as when encoding; scanning is synchronous), not concatenated or viewed per record
  const decodeAt = (at: number): { rec: JournalRecord; len: number } | undefined => {
    if (at + REC_HEADER > got || buf.readUInt32LE(at) !== REC_MAGIC) return undefined;
    const len = buf.readUInt32LE(at + 4);
    if (len < REC_HEADER || len > MAX_JOURNAL_RECORD || at + len > got) return undefined;
    const n = 16 + len - REC_HEADER;
    const view = hashView(n).whole;
    buf.copy(view, 0, at + 8, at + 24);
    buf.copy(view, 16, at + REC_HEADER, at + len);
    if (xxh64(view) !== dv.getBigUint64(at + 24, true)) return undefined;
    if (known?.(buf.readUInt8(at + 8), dv.getBigUint64(at + 16, true))) return { rec: KNOWN, len };
    const type = buf[at + 8]!, enc = buf[at + 9]!;
    if (type < JournalType.Intent || type > JournalType.Rollback) return undefined;
    let payload: Record<string, unknown> | undefined;
    if (enc === PAYLOAD_JSON) {
      try { payload = JSON.parse(buf.toString('utf8', at + REC_HEADER, at + len)) as Record<string, unknown>; } catch { return undefined; }
      if (typeof payload !== 'object' || payload === null) return undefined;
    } else if (enc === PAYLOAD_INTENT_BINARY && type === JournalType.Intent) {
      payload = decodeIntent(buf, dv, at + REC_HEADER, at + len);
      if (payload === undefined) return undefined;
    } else return undefined;
    return { rec: { type: type as JournalType, epoch: dv.getBigUint64(at + 16, true), payload }, len };
  };
  // resynchronise: the next offset after `from` where a valid record starts, or -1
  const resync = (from: number): number => {
    for (let at = from; at + 4 <= got; at++) {
      const hit = buf.indexOf(MAGIC_BYTES, at);
      if (hit < 0) return -1;
      if (decodeAt(hit)) return hit;
      at = hit;
    }
    return -1;
  };
  while (off < got) {
    const r = decodeAt(off);
    if (r) { if (r.rec !== KNOWN) records.push(r.rec); off += r.len; lastGood = off; continue; }
    const next = resync(off + 1);
    if (next < 0) break; // a torn tail: nothing valid after it
    corrupt++;
    off = next;
  }
  return { records, end: lastGood, corrupt, zeroTail: allZero(buf, lastGood, got) };
}

/** What opening found. */
export interface JournalOpen {
  journal: Journal;
  /** Every record found in either copy, each once, in the primary's order (then the copy's extras). */
  records: JournalRecord[];
  /** Bytes cut from torn tails. */
  truncatedBytes: number;
  /** Records damaged in the middle of a copy (each was read from the other copy when it held it). */
  corruptRecords: number;
  /** Both copies are damaged in their middles: a record may be missing from both. */
  damaged: boolean;
}

/** What a read-only scan of a journal found (`Journal.read`). */
export interface JournalRead {
  /** Every valid record of either copy, each once (as `JournalOpen.records`). */
  records: JournalRecord[];
  /** Both copies are damaged in their middles: a record may be missing from both. */
  damaged: boolean;
}

/**
 * The state of the header of the file at `p`: `ok` (this version, or an absent or header-less
 * file: (re)written), `old` (a version this build reads and upgrades), `newer` (a later version),
 * `bad` (damaged).
 */
function headerState(p: string): { state: 'ok' | 'old' | 'newer' | 'bad'; version: number } {
  if (!existsSync(p)) return { state: 'ok', version: FORMAT_VERSION };
  const fd = openSync(p, 'r');
  try {
    const head = Buffer.alloc(HEADER);
    if (readSync(fd, head, 0, HEADER, 0) < HEADER) return { state: 'ok', version: FORMAT_VERSION };
    const v = head.readUInt32LE(8);
    if (head.toString('latin1', 0, 8) !== MAGIC || head.readUInt32LE(12) !== 0) return { state: 'bad', version: v };
    return { state: v === FORMAT_VERSION ? 'ok' : readable(v) ? 'old' : v > FORMAT_VERSION ? 'newer' : 'bad', version: v };
  } finally { closeSync(fd); }
}

/**
 * Write this version's header over the header of `p`: a copy whose header alone is damaged (the
 * other copy's vouches for the format; its records are checked one by one as ever), or an older
 * version's file opened for writing (its records stay readable: each names its payload encoding).
 */
function rewriteHeader(p: string): void {
  const h = Buffer.alloc(HEADER);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt32LE(FORMAT_VERSION, 8);
  const fd = openSync(p, 'r+');
  try { writeSync(fd, h, 0, HEADER, 0); fdatasyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Close the descriptor of a journal file a replacement was renamed over, off the event loop: it
 * is that file's last link, so the close frees its blocks (a checkpoint's 4 MiB copies: 5% of the
 * main thread of durable small puts when closed synchronously, measured by the puts engineer).
 * Nothing reads or writes it any more; a failed close loses nothing.
 */
function closeReplaced(fd: number): void {
  closeCb(fd, (err) => { if (err) swallowed('container.replaced-journal-close-failed', err); });
}

/** A journal replacement written and synced under temporary names (`Journal.prepareReplace`). */
export interface PreparedReplace { paths: string[]; fds: number[]; size: number; alloc: number }

const openAsync = promisify(openCb);
const writeAsync = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => writeCb(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsyncCb);

/** `syncDir` off the event loop. */
async function syncDirAsync(dir: string): Promise<void> {
  let fd: number | undefined;
  try { fd = await openAsync(dir, 'r'); await fsyncAsync(fd); } catch { /* a filesystem that cannot sync directories */ } finally { if (fd !== undefined) closeSync(fd); }
}

/** Make the renames in directory `dir` durable (best effort where a directory cannot be synced). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* a filesystem that cannot sync directories: the rename is as durable as it gets */ } finally { if (fd !== undefined) closeSync(fd); }
}

/**
 * The io_uring ring every journal's group syncs go through (one per process, made on first use):
 * both copies' fdatasyncs cost one system call and complete on the event loop, where the thread
 * pool costs a futex wake per copy and queues them behind whatever else it runs (a checkpoint's
 * flush of every target store: 2 syncs per store). Measured here (two 8 KiB writes then both
 * syncs, 300 rounds, load 11): p90 0.54-0.93 ms against 2.1-4.3 ms, main-thread CPU ~40 us less
 * per group. Undefined where io_uring cannot be used (no addon, a kernel without it),
 * `CAIRN_JOURNAL_URING=0`, or after a ring sync failed: the thread pool then, as before.
 */
function syncRing(): IoUringEngine | undefined {
  if (ringState === undefined) {
    ringState = null;
    if (process.env.CAIRN_JOURNAL_URING !== '0') {
      try { ringState = IoUringEngine.create(); } catch (e) { swallowed('container.journal-uring-unavailable', e); }
    }
  }
  return ringState ?? undefined;
}
/** The journals' ring: undefined until first asked for, null when there is none. */
let ringState: IoUringEngine | null | undefined;
/** Journal syncs in flight on the ring (bounded by its queue depth; past it, the thread pool). */
let ringSyncsInFlight = 0;

/** An open journal (both copies). Appends are synchronous; durable mode adds fdatasync. */
export class Journal {
  /**
   * Read both copies of the journal at `path` without writing anything (no header for a missing
   * file, no cut tail, no copy brought in step): how a read-only open sees what another process,
   * still appending, committed. A record being appended meanwhile is a torn tail and is skipped.
   */
  static read(path: string, opts: { copies?: 1 | 2 } = {}): JournalRead {
    const paths = (opts.copies ?? 2) === 2 ? [path, path + COPY_SUFFIX] : [path];
    const scans: Scan[] = [];
    /** Record types seen per epoch (a bit per type), and the records in first-seen order. */
    const seen = new Map<bigint, number>();
    const records: JournalRecord[] = [];
    let badHeader: CairnError | undefined;
    for (const p of paths) {
      if (!existsSync(p)) continue;
      const fd = openSync(p, 'r');
      try {
        const size = fstatSync(fd).size;
        if (size < HEADER) continue; // being created by its writer: nothing committed yet
        const head = Buffer.alloc(HEADER);
        readSync(fd, head, 0, HEADER, 0);
        const v = head.readUInt32LE(8);
        if (head.toString('latin1', 0, 8) !== MAGIC || !readable(v)) {
          // a damaged header in one copy: the other copy is read (both damaged, or both newer: refused below)
          const err = head.toString('latin1', 0, 8) === MAGIC && v > FORMAT_VERSION ? newerFormat(p, v) : new CorruptionError(`journal ${p}: ${head.toString('latin1', 0, 8) !== MAGIC ? 'bad magic' : `unsupported format version ${v}`}`, { path: p, version: v });
          if (!badHeader || err.code === 'FORMAT_VERSION') badHeader = err;
          continue;
        }
        // the second copy decodes only records the first did not give (each is still checked)
        scans.push(scanFile(fd, size, scans.length ? (t, e) => (seen.get(e) ?? 0) & (1 << t) ? true : false : undefined));
        for (const r of scans[scans.length - 1]!.records) {
          const had = seen.get(r.epoch) ?? 0;
          if (had & (1 << r.type)) continue;
          seen.set(r.epoch, had | (1 << r.type)); records.push(r);
        }
      } finally {
        closeSync(fd);
      }
    }
    if (badHeader && scans.length === 0) throw badHeader;
    // a copy skipped for its header counts as damaged
    return { records, damaged: scans.length > 0 && scans.length + (badHeader ? 1 : 0) === paths.length && scans.every((sc) => sc.corrupt > 0) };
  }

  /** The binary payload of an INTENT naming `f` (a copy of its own): to append later as `{ bin }`. */
  static intentPayload(f: IntentFields): Uint8Array {
    const out = Buffer.allocUnsafe(intentBytes(f));
    writeIntent(out, new DataView(out.buffer, out.byteOffset, out.length), 0, f);
    return out;
  }

  /**
   * `size`: each copy's end of records (where the next append goes); `alloc`: its file size, past
   * `size` when a durable journal preallocated zeros (`JOURNAL_PREALLOC_BYTES`).
   */
  private constructor(private fds: number[], private size: number[], private alloc: number[], readonly durable: boolean, private readonly path: string) {}

  /** Open (creating when absent) both copies of the journal at `path` and read them. */
  static open(path: string, opts: { durable?: boolean; copies?: 1 | 2 } = {}): JournalOpen {
    const paths = (opts.copies ?? 2) === 2 ? [path, path + COPY_SUFFIX] : [path];
    // A copy that is missing while the primary has records (a crash between creating them) starts
    // as a copy of the primary's valid records.
    const fds: number[] = []; const sizes: number[] = []; const scans: Scan[] = [];
    // one flipped byte in a copy's header: the other copy's header vouches for the format; an
    // older version's files take this version's header (their records stay readable)
    const heads = paths.map(headerState);
    const vouched = heads.some((h) => h.state === 'ok' || h.state === 'old');
    if (!vouched) { const newer = heads.find((h) => h.state === 'newer'); if (newer) throw newerFormat(paths[heads.indexOf(newer)]!, newer.version); }
    if (vouched) paths.forEach((p, i) => { if (heads[i]!.state !== 'ok') rewriteHeader(p); });
    try {
      for (const p of paths) {
        const fresh = !existsSync(p);
        const { fd, size } = openHeaderedFile(p, MAGIC, FORMAT_VERSION, 'journal');
        fds.push(fd); sizes.push(size);
        scans.push(fresh ? { records: [], end: HEADER, corrupt: 0, zeroTail: true } : scanFile(fd, size));
      }
      let truncated = 0;
      const durable = opts.durable ?? false;
      // the space a durable journal preallocated (zeros after its last record) is kept; any other tail is cut
      const allocs = sizes.slice();
      scans.forEach((s, i) => {
        if (s.end >= sizes[i]!) return;
        if (durable && s.zeroTail) { sizes[i] = s.end; return; }
        truncated += sizes[i]! - s.end; ftruncateSync(fds[i]!, s.end); fdatasyncSync(fds[i]!); sizes[i] = s.end; allocs[i] = s.end;
      });
      // records are told apart by (type, epoch): a bit per type under each epoch
      const seen = new Map<bigint, number>();
      const records: JournalRecord[] = [];
      for (const s of scans) {
        for (const r of s.records) {
          const bits = seen.get(r.epoch) ?? 0;
          if (bits & (1 << r.type)) continue;
          seen.set(r.epoch, bits | (1 << r.type)); records.push(r);
        }
      }
      const j = new Journal(fds, sizes, allocs, durable, path);
      // bring a copy that lacks records (fresh, or cut shorter) back in step
      scans.forEach((s, i) => {
        const have = new Map<bigint, number>();
        for (const r of s.records) have.set(r.epoch, (have.get(r.epoch) ?? 0) | (1 << r.type));
        const missing = records.filter((r) => !((have.get(r.epoch) ?? 0) & (1 << r.type)));
        if (missing.length) j.writeTo(i, Buffer.concat(missing.map((r) => encode(r.type, r.epoch, r.payload))));
      });
      const corruptRecords = scans.reduce((n, s) => n + s.corrupt, 0);
      const damaged = scans.length === 1 ? scans[0]!.corrupt > 0 : scans.every((s) => s.corrupt > 0);
      return { journal: j, records, truncatedBytes: truncated, corruptRecords, damaged };
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
  }

  private writeTo(i: number, bytes: Buffer): void {
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.fds[i]!, bytes, done, bytes.length - done, this.size[i]! + done);
      // (zeros ahead of the records: the sync that makes these records durable then also makes
      // the growth durable, and the next JOURNAL_PREALLOC_BYTES of groups sync without any)
      if (this.durable && this.size[i]! + bytes.length > this.alloc[i]!) this.preallocate(i, this.size[i]! + bytes.length);
    } catch (err) {
      // a full filesystem is NO_SPACE, a failing disk IO_ERROR; the size stays, so the next append overwrites the partial bytes
      throw mediaErrorFromErrno(err, `append to the journal ${this.path}`, { copy: i });
    }
    this.size[i]! += bytes.length;
  }

  /**
   * Write zeros from copy `i`'s end of records `end` (or its file's end, if further) to
   * JOURNAL_PREALLOC_BYTES past `end`. Best effort: the records are written already, so a failure
   * (a full filesystem) only leaves the next group to append as without it, and to try again.
   */
  private preallocate(i: number, end: number): void {
    const zeros = zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES);
    const to = end + JOURNAL_PREALLOC_BYTES;
    let at = Math.max(end, this.alloc[i]!);
    try {
      while (at < to) at += writeSync(this.fds[i]!, zeros, 0, to - at, at);
    } catch (err) {
      swallowed('container.journal-preallocate-failed', err);
    }
    this.alloc[i] = at;
  }

  /**
   * Append records (one write per copy); `json`, when given, is the record's payload already
   * serialised (it wins over `payload`). Returns once they are in the files (and durable in
   * durable mode).
   */
  appendBatch(recs: ReadonlyArray<AppendRecord>): Buffer | undefined {
    if (recs.length === 0) return undefined;
    const bytes = encodeBatch(recs);
    for (let i = 0; i < this.fds.length; i++) this.writeTo(i, bytes);
    if (this.durable) for (const fd of this.fds) fdatasyncSync(fd);
    return bytes;
  }

  /**
   * Append records (one write per copy) without making them durable: `sync()` does that. For
   * group commit in durable mode, where the flush runs off the event loop.
   */
  writeBatch(recs: ReadonlyArray<AppendRecord>): Buffer | undefined {
    if (recs.length === 0) return undefined;
    const bytes = encodeBatch(recs);
    for (let i = 0; i < this.fds.length; i++) this.writeTo(i, bytes);
    return bytes;
  }

  /**
   * The binary payloads of the INTENT records in `written` (the bytes `appendBatch` or
   * `writeBatch` just returned for `recs`, in the same order), as views of one copy of those
   * bytes: what `intentPayload` gives for each, without encoding any record again. `out[i]` is
   * set for every record of `recs` queued with `intent` fields, else left undefined.
   */
  static intentPayloads(recs: ReadonlyArray<AppendRecord>, written: Buffer): Array<Uint8Array | undefined> {
    const copy = Buffer.from(written); // (the batch buffer is reused by the next encode)
    const out: Array<Uint8Array | undefined> = new Array(recs.length);
    let at = 0;
    for (let i = 0; i < recs.length; i++) {
      const len = copy.readUInt32LE(at + 4);
      if (recs[i]!.intent !== undefined) out[i] = copy.subarray(at + REC_HEADER, at + len);
      at += len;
    }
    if (at !== copy.length) assert(false, 'a written batch holds exactly its records', { at, length: copy.length });
    return out;
  }

  /**
   * Make everything written so far durable: one fdatasync per copy, in parallel, submitted to the
   * journals' io_uring ring (`syncRing`) where there is one, else on the thread pool.
   */
  sync(): Promise<void> {
    const ring = ringSyncsInFlight + this.fds.length <= URING_QUEUE_DEPTH ? syncRing() : undefined;
    if (ring === undefined) return Promise.all(this.fds.map((fd) => new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve()))))).then(() => undefined);
    ringSyncsInFlight += this.fds.length;
    const one = (fd: number): Promise<void> => ring.datasync(fd).then(
      () => { ringSyncsInFlight--; },
      (e: unknown) => { ringSyncsInFlight--; ringState = null; throw e; }, // (later syncs go to the thread pool)
    );
    return Promise.all(this.fds.map(one)).then(() => undefined);
  }

  /** Append one record. */
  append(type: JournalType, epoch: bigint, payload: Record<string, unknown> = {}): void {
    this.appendBatch([{ type, epoch, payload }]);
  }

  /**
   * Replace the journal with DONE records of `history` (compaction): each copy is written to a
   * temporary file, synced and renamed over; this handle then appends to the new files.
   */
  rewrite(history: Array<{ epoch: bigint; objects: string[] }>): void {
    this.replace(history.map((h) => ({ type: JournalType.Done, epoch: h.epoch, payload: { objects: h.objects } })));
  }

  /**
   * Replace the journal with `recs` (a checkpoint drops the redo records it made redundant): each
   * copy is written to a temporary file, synced, renamed over, and the directory synced (so the
   * records appended to the new file later cannot be lost with a rename undone by a power loss);
   * this handle then appends to the new files. No group sync may be running on the old files.
   */
  replace(recs: ReadonlyArray<AppendRecord>): void {
    const bytes = recs.length ? Buffer.from(encodeBatch(recs)) : Buffer.alloc(0);
    const paths = this.fds.length === 2 ? [this.path, this.path + COPY_SUFFIX] : [this.path];
    paths.forEach((p, i) => {
      const tmp = `${p}.compact`;
      rmSync(tmp, { force: true });
      const { fd } = openHeaderedFile(tmp, MAGIC, FORMAT_VERSION, 'journal');
      let done = 0;
      try {
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, HEADER + done);
        fdatasyncSync(fd);
        renameSync(tmp, p);
      } catch (err) {
        closeSync(fd);
        throw mediaErrorFromErrno(err, `rewrite the journal ${p}`, { copy: i });
      }
      closeReplaced(this.fds[i]!);
      this.fds[i] = fd;
      this.size[i] = HEADER + bytes.length;
      this.alloc[i] = HEADER + bytes.length;
    });
    syncDir(dirname(this.path));
  }

  /**
   * `replace` in two steps, for a caller that keeps appending meanwhile: `prepareReplace` writes
   * and syncs each copy's new file off the event loop (not yet visible: a temporary name);
   * `commitReplace` then, synchronously, appends the records written to the journal since (they
   * must be passed: the caller keeps them), syncs, renames over and adopts the new files.
   * No group sync may be running on the old files during `commitReplace`.
   */
  async prepareReplace(recs: ReadonlyArray<AppendRecord>): Promise<PreparedReplace> {
    const head = Buffer.alloc(HEADER);
    head.write(MAGIC, 0, 'latin1');
    head.writeUInt32LE(FORMAT_VERSION, 8);
    const bytes = recs.length ? Buffer.concat([head, encodeBatch(recs)]) : head;
    const paths = this.fds.length === 2 ? [this.path, this.path + COPY_SUFFIX] : [this.path];
    const fds: Array<number | undefined> = new Array(paths.length);
    try {
      await Promise.all(paths.map(async (p, i) => {
        const fd = await openAsync(`${p}.compact`, 'w+', 0o644);
        fds[i] = fd;
        let done = 0;
        while (done < bytes.length) done += await writeAsync(fd, bytes, done, bytes.length - done, done);
        if (this.durable) {
          // (the new file's preallocated space, written here off the event loop: see JOURNAL_PREALLOC_BYTES)
          const zeros = zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES);
          let z = 0;
          while (z < zeros.length) z += await writeAsync(fd, zeros, z, zeros.length - z, bytes.length + z);
        }
        await fdatasyncAsync(fd);
      }));
    } catch (err) {
      for (const fd of fds) if (fd !== undefined) closeSync(fd);
      throw mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
    }
    return { paths, fds: fds as number[], size: bytes.length, alloc: bytes.length + (this.durable ? JOURNAL_PREALLOC_BYTES : 0) };
  }

  /**
   * See `prepareReplace`: adopt the prepared files, with `extra` (the records appended to the
   * journal since it was prepared) added, synced, renamed over the old files and the directory
   * synced, off the event loop; then, synchronously, the records `late()` names (appended to the
   * old files meanwhile: rare, by a caller that writes at once) are added and synced, and this
   * handle appends to the new files. The caller starts no group write meanwhile.
   */
  async commitReplace(prep: PreparedReplace, extra: ReadonlyArray<AppendRecord>, late: () => ReadonlyArray<AppendRecord> = () => []): Promise<void> {
    let size = prep.size;
    try {
      if (extra.length) {
        const more = Buffer.from(encodeBatch(extra));
        await Promise.all(prep.fds.map(async (fd) => {
          let done = 0;
          while (done < more.length) done += await writeAsync(fd, more, done, more.length - done, prep.size + done);
          await fdatasyncAsync(fd);
        }));
        size += more.length;
      }
      for (const p of prep.paths) renameSync(`${p}.compact`, p);
      await syncDirAsync(dirname(this.path));
      const tail = late();
      if (tail.length) {
        const more = Buffer.from(encodeBatch(tail));
        for (const fd of prep.fds) {
          let done = 0;
          while (done < more.length) done += writeSync(fd, more, done, more.length - done, size + done);
          fdatasyncSync(fd);
        }
        size += more.length;
      }
    } catch (err) {
      // (a copy already renamed holds every record the old one did: a reopen reads it as ever)
      this.abandonReplace(prep);
      throw mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
    }
    prep.paths.forEach((_, i) => {
      closeReplaced(this.fds[i]!);
      this.fds[i] = prep.fds[i]!;
      this.size[i] = size;
      this.alloc[i] = Math.max(size, prep.alloc);
    });
  }

  /** Close the files of a prepared replacement that is not committed (the next one overwrites their temporary names). */
  abandonReplace(prep: PreparedReplace): void {
    for (const fd of prep.fds) { try { closeSync(fd); } catch { /* already closed */ } }
  }

  /** Bytes used by the journal (one copy). */
  get bytes(): number { return this.size[0]!; }

  /** Close the files. */
  close(): void {
    this.fds.forEach((fd, i) => {
      // (a clean close leaves no preallocated zeros behind: best effort, an open keeps them anyway)
      if (this.alloc[i]! > this.size[i]!) { try { ftruncateSync(fd, this.size[i]!); } catch (err) { swallowed('container.journal-trim-failed', err); } }
      closeSync(fd);
    });
  }
}
