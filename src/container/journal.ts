/**
 * The commit journal of a container: an append-only file that makes multi-target commits atomic.
 *
 * A commit at epoch E appends INTENT(E, targets, objects) before touching any target and DONE(E)
 * after every target applied it; a commit is acknowledged only after DONE is written. On open, an
 * INTENT without DONE means the process died mid-commit: its epoch is discarded from the targets it
 * names, so the container looks as if the commit never happened. DONE records also feed `watch()`.
 *
 * Two copies in one file (formats 5-6): every batch of records is written twice, once into each of
 * two copies that share the file `journal`, and a durable group is made durable with ONE fdatasync
 * (format 4 kept the copies in two files, `journal` and `journal.copy`, and synced both: two
 * fdatasyncs in parallel cost ~4x one here, the durable puts' floor). The file is cut into chunks
 * of JOURNAL_CHUNK_BYTES that alternate between the copies: chunk 2k holds bytes
 * [k*C, (k+1)*C) of copy 0, chunk 2k+1 the same bytes of copy 1 (`journalCopyOffset`). Each copy
 * is, byte for byte, what a format 4 file held: the 16-byte header, then the records; a group's
 * bytes go to the same offset of each copy, so its two copies lie exactly one chunk apart, and no
 * page or sector (4 KiB, chunk-aligned) ever holds bytes of both copies. An append rewrites only
 * the last partly written page of each copy, never a page of the other copy. Recovery gathers each
 * copy's chunks back into one buffer and scans it as format 4 scanned a file: records carry a magic
 * and a checksum; a bad record in the middle of a copy is skipped (the scan resynchronises on the
 * next magic), counted, and read from the other copy; a bad tail (a crash mid-append: the group
 * was never acknowledged, its sync had not returned) is cut by writing zeros over it. Records are
 * told apart by (type, epoch), so the copies pair up record by record, whatever either lost; an
 * open then writes into each copy the records only the other one held (healing), so a later flip
 * in the other copy is survived too. Only when both copies are damaged in their middles can a
 * record be missing from both, and then recovery says so (`damaged`) instead of guessing.
 *
 * Record layout (formats 2-6): `u32 magic "JREC" | u32 length of the whole record | u8 type |
 * u8 payload encoding | 2 x 0 | u32 lag | u64 epoch | u64 xxh64 of bytes [8, 24) and of the
 * payload | payload`. Format 6 (pipelined group syncs: a durable journal writes a group while
 * the syncs of earlier ones run) gives each record its lag, the bytes before it not yet known
 * durable when it was written (formats 2-5, and journals that are not durable, write 0): a power
 * loss may then lose an earlier group and keep a later one, and the lag tells recovery that such a
 * hole is a torn tail, not damage (`scanBuffer`).
 *
 * The payload is UTF-8 JSON (encoding 0) or, for INTENT records, binary (encoding 1,
 * `intent-codec.ts`): a commit's INTENT is written straight into the group's reused buffer, with no
 * JSON text, hex or base64 built per commit. Format 7 adds DONE sets (encoding 2, DONE records
 * only: `u32 count | count x u64 epoch`, the record's epoch the highest): the DONEs of the commits
 * that finished while a group gathered, in one record (12 bytes per commit instead of a 34-byte
 * record each: 259 -> 235 journal bytes per durable 100-byte put, so ~9% fewer redo checkpoints,
 * and one record encoded and hashed instead of 16); read back as one DONE record per epoch. Format
 * 5 and 6 files are read as they are; opened for writing, their headers and guard become 7 before
 * anything is appended, so a build that reads format 6 refuses (`FORMAT_VERSION`) a file that may
 * hold DONE sets. Format 4 added the INTENT's store-hash flag (a single
 * value's hash may be its store checksum). Format 5 files (records of lag 0) are read as format 6
 * ones; opened for writing, their headers and guard become version 7 before anything is appended,
 * so a build that reads format 5 refuses a file whose lags it would not understand. Each copy's 16-byte header ("CAIRNJNL", u32 version,
 * u32 0) vouches for the other's: a flipped byte in one is rewritten from the other.
 *
 * Older journals: a format 2-4 journal (two files) is read as ever; opened for writing, it is
 * converted when neither file is damaged in its middle: a format 5-6 file with every record is
 * written and synced under a temporary name, renamed over `journal` (directory synced), and only
 * then is `journal.copy` replaced by a guard (see below); a crash at any step leaves either the old
 * pair (converted again at the next open) or the new file, whose header wins over a stale
 * `journal.copy`. A two-file journal damaged in both copies is kept in the old mode (so its damage
 * is still reported at every open) until compaction or a checkpoint rewrites it as format 5.
 * `journal.copy` of a format 5-6 journal is a guard: a 16-byte header of its version, so a build that
 * reads format 4 refuses the pair (`FORMAT_VERSION`) instead of taking `journal` for a damaged
 * format 4 file. A newer version is refused with `FORMAT_VERSION`.
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasync, fdatasyncSync, fsyncSync, renameSync, rmSync, existsSync, openSync, fstatSync, statSync, constants as fsc } from 'node:fs';
import { dirname } from 'node:path';
import { open as openCb, write as writeCb, fsync as fsyncCb, close as closeCb } from 'node:fs';
import { swallowed } from '../../core/log.js';
import { promisify } from 'node:util';
import { xxh64 } from '../../core/xxhash.js';
import { CairnError, CorruptionError, FormatVersionError, assert } from '../../core/errors.js';
import { type IntentFields, type DecodedIntent, intentBytes, writeIntent, decodeIntent, decodeIntentTyped, forEachIntentObject } from './intent-codec.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';
import { COPY_SUFFIX } from '../../core/record-file.js';
import { mediaErrorFromErrno } from '../media/errors.js';
import { IoUringEngine, URING_QUEUE_DEPTH, nativeAddon } from '../media/io-uring.js';
import type { FileMap } from '../media/io-engine.js';
import { FileSyncer, SYNCER_MAX_THREADS } from '../media/syncer.js';
import { copyInto } from '../../core/typed.js';

const MAGIC = 'CAIRNJNL';
/**
 * Version of new journals (two copies in one file; records carry their lag, see `scanBuffer`;
 * format 7: DONE records of a group may come as one DONE set, `PAYLOAD_DONE_SET`).
 */
const FORMAT_VERSION = 7;
/** Format 5: two copies in one file, records without a lag (read as every record's lag 0; opened for writing, the header becomes 7). */
const ONE_FILE_V5 = 5;
/** Format 6: as 7 without DONE sets (read as it is; opened for writing, the header becomes 7). */
const ONE_FILE_V6 = 6;
/** Whether `v` is a one-file version this build reads (5, 6, 7). */
function oneFileVersion(v: number | undefined): boolean { return v === FORMAT_VERSION || v === ONE_FILE_V6 || v === ONE_FILE_V5; }
/**
 * Durable journals: group syncs in flight at once (`Journal.sync`; the container storage writes a
 * group while earlier ones sync, `LocalContainerStorage`). Each has its own descriptor of the file
 * (`syncFds`), so a write-back error is reported to every sync it concerns, never taken by one
 * sync and missed by another (Linux reports an error once per open file description).
 * `CAIRN_JOURNAL_SYNC_DEPTH=1`: one group per sync, as format 5 wrote them.
 */
export const JOURNAL_SYNC_DEPTH = Math.max(1, Math.min(8, Number(process.env.CAIRN_JOURNAL_SYNC_DEPTH ?? 4) || 4));
/**
 * Durable journals, for a quiet A/B (`CAIRN_JOURNAL_SPARE=1`; off by default): the file a
 * checkpoint's `prepareReplace` writes its records into is made ahead (`prepareSpare`: zeros for
 * a whole next interval, written and synced off the event loop once the previous replacement is
 * adopted, or at open), so a checkpoint writes and syncs only its records (hundreds of KiB), not
 * also ~10 MiB of zeros (5 MiB a copy), while the stores' flushes and the group syncs that every
 * durable commit waits for use the same disk.
 */
export const JOURNAL_SPARE = process.env.CAIRN_JOURNAL_SPARE === '1';
/** Creates of a spare file tried when a closed handle's spare takes the name between remove and create. */
const SPARE_CREATE_ATTEMPTS = 3;
/** Version of two-file journals written in the old mode (a damaged one kept as it is; see the doc above). */
const LEGACY_VERSION = 4;
/** Oldest version read: version 2 journals hold JSON payloads only. */
const OLDEST_VERSION = 2;
/** Payload encodings (the byte after the record type). */
const PAYLOAD_JSON = 0;
const PAYLOAD_INTENT_BINARY = 1;
/**
 * Format 7, DONE records only: a DONE set, the DONEs of several commits in one record (the
 * DONEs of a group's finished commits: one record, one checksum and 12 bytes per commit instead
 * of a 34-byte record each). Payload `u32 count | count x u64 epoch` (little-endian); the
 * record's epoch is the highest of them (a checkpoint keeps or drops the record by it). Read as
 * one DONE record per epoch, with an empty payload.
 */
const PAYLOAD_DONE_SET = 2;
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
  /**
   * A binary INTENT read by an open that asked for typed INTENTs (`Journal.open`'s `typed`): its
   * fields as bytes and numbers, and `payload` holds only its `targets` and `objects` (no single
   * value's hex or base64 strings made). Absent for every other record and read.
   */
  intent?: DecodedIntent;
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
  /**
   * A DONE set (format 7, type DONE only): the epochs of the commits it finishes, written as one
   * record (`PAYLOAD_DONE_SET`) whose epoch is `epoch`, the highest of them. Wins over the others.
   */
  epochs?: readonly bigint[];
  /**
   * Whole records already encoded (a written group's bytes, as `writeBatch` returned them: a
   * checkpoint's rewrite keeping every record of a group): copied as they are, each with the lag
   * of its new place (0 in a rewrite) and its checksum taken again when that changed its lag.
   * `type` and `epoch` are not used then. Only where no other field is given.
   */
  packed?: Uint8Array;
}

/**
 * What one copy's scan found; `zeroTail`: every byte after `end` is zero (a durable journal's
 * preallocated space, or nothing); `raws`: each record's bytes, as `records` (when asked for: an
 * open writes them again, byte for byte, to heal or convert).
 */
interface Scan { records: JournalRecord[]; raws: Buffer[]; end: number; corrupt: number; zeroTail: boolean }

/**
 * Format 5: the file is cut into chunks of this many bytes that alternate between the two copies
 * (chunk 2k: copy 0, chunk 2k+1: copy 1), so the two copies of any byte are one chunk apart and
 * never share a page or sector. A multiple of 4 KiB; a group crossing a chunk's end costs one more
 * write per copy (once per ~64 KiB of records).
 */
export const JOURNAL_CHUNK_BYTES = 64 * 1024;
const CHUNK = JOURNAL_CHUNK_BYTES;

/** Format 5: the file offset of byte `x` of copy `copy`. */
export function journalCopyOffset(copy: 0 | 1, x: number): number {
  const k = Math.floor(x / CHUNK);
  return (2 * k + copy) * CHUNK + (x - k * CHUNK);
}

/** Format 5: bytes of copy `copy` held by a file of `size` bytes. */
export function copyLength(copy: 0 | 1, size: number): number {
  const pairs = Math.floor(size / (2 * CHUNK));
  const rem = size - pairs * 2 * CHUNK;
  return pairs * CHUNK + (copy === 0 ? Math.min(rem, CHUNK) : Math.max(0, rem - CHUNK));
}

/** Format 5: copy `copy`'s bytes gathered from the whole file `file`. */
function copyBytes(file: Buffer, copy: 0 | 1): Buffer {
  const n = copyLength(copy, file.length);
  const out = Buffer.allocUnsafe(n);
  for (let x = 0; x < n; x += CHUNK) { const p = journalCopyOffset(copy, x); file.copy(out, x, p, p + Math.min(CHUNK, n - x)); }
  return out;
}

/** Format 5: the image of a file whose two copies both hold `bytes` (header included). */
function fileImage(bytes: Buffer): Buffer {
  const n = bytes.length;
  const img = Buffer.alloc(n === 0 ? 0 : journalCopyOffset(1, n - 1) + 1);
  for (let x = 0; x < n; x += CHUNK) {
    const m = Math.min(CHUNK, n - x);
    bytes.copy(img, journalCopyOffset(0, x), x, x + m);
    bytes.copy(img, journalCopyOffset(1, x), x, x + m);
  }
  return img;
}

/**
 * Format 5, a new file whose copies hold `bytes` then `pre` bytes of zeros: the image of the
 * records alone (`fileImage`: each copy's last chunk zero-filled up to its end where the other
 * copy's follows), and the file range of zeros after it, written from the shared zero chunk
 * (`zeroRanges`). The same file as `fileImage` of `bytes` and the zeros, without building an
 * image of the zeros in memory (a checkpoint's preallocation is several MiB).
 */
function replacementParts(bytes: Buffer, pre: number): { img: Buffer; end: number } {
  const img = fileImage(bytes);
  return { img, end: pre > 0 ? fileEnd(bytes.length + pre, bytes.length + pre) : img.length };
}

/** The writes of zeros over file range `[from, to)`: pieces of at most the zero chunk's length. */
function zeroRanges(from: number, to: number): Array<[pos: number, len: number]> {
  const out: Array<[number, number]> = [];
  for (let at = from; at < to; at += JOURNAL_PREALLOC_BYTES) out.push([at, Math.min(JOURNAL_PREALLOC_BYTES, to - at)]);
  return out;
}

/** Format 5: the file's end once copy 0 ends at `x0` and copy 1 at `x1`. */
function fileEnd(x0: number, x1: number): number {
  return Math.max(x0 === 0 ? 0 : journalCopyOffset(0, x0 - 1) + 1, x1 === 0 ? 0 : journalCopyOffset(1, x1 - 1) + 1);
}

/**
 * Bytes `[x, x + len)` of copy `copy` of a format 5-6 file, piece by piece as they lie in it (one
 * piece per chunk touched): `fn(pos, n, d)` for each, `pos` its place in the file, `d` its offset
 * in the range; false from `fn` stops the walk and returns false.
 */
function forEachCopyPiece(copy: 0 | 1, x: number, len: number, fn: (pos: number, n: number, d: number) => boolean | void): boolean {
  for (let d = 0; d < len;) {
    const at = x + d;
    const n = Math.min(len - d, CHUNK - (at % CHUNK));
    if (fn(journalCopyOffset(copy, at), n, d) === false) return false;
    d += n;
  }
  return true;
}

/** Write `buf[off, off + len)` at byte `x` of copy `copy` of the format 5-6 file `fd` (one write per chunk touched). */
function writeCopy(fd: number, copy: 0 | 1, buf: Buffer, off: number, len: number, x: number): void {
  forEachCopyPiece(copy, x, len, (pos, n, d) => { for (let w = 0; w < n;) w += writeSync(fd, buf, off + d + w, n - w, pos + w); });
}

/**
 * Journals that are not durable (one file, format 5 on): bytes of the file mapped writable for
 * group writes (`Journal.writeTo`), which then copy their records into the page cache with no system
 * call (a 2 KiB group write 0.1-0.3 us against 4 us for pwrite here: `.scratch` micro, session 54).
 * The same page cache as pwrite, so a process crash keeps the same bytes; writes past the mapped
 * range or the file's end (a fault caught by the addon) use pwrite. Bounded so that a journal's
 * mapped pages, which count as the process's resident memory, stay a few checkpoints' worth
 * (a checkpoint or compaction starts a new file, and a new mapping). `CAIRN_JOURNAL_MAPPED=0`
 * turns it off.
 */
export const JOURNAL_MAP_BYTES = 32 * 1024 * 1024;
const JOURNAL_MAPPED = process.env.CAIRN_JOURNAL_MAPPED !== '0';
/** Bytes of each copy past a group write's end whose pages are mapped writable with it (`Journal.populate`): one call per 16 pages, not a trap per page. */
const JOURNAL_POPULATE_BYTES = 64 * 1024;

/**
 * `writeCopy` through the writable mapping `map` of the file: false when the mapping cannot take
 * it (past its range or the file's end: the caller writes it all again with pwrite, the same
 * bytes at the same places).
 */
function mapCopy(map: FileMap, copy: 0 | 1, buf: Buffer, len: number, x: number): boolean {
  const native = nativeAddon()!;
  return forEachCopyPiece(copy, x, len, (pos, n, d) => pos + n <= JOURNAL_MAP_BYTES && typeof native.mapWriteHashSync!(map, d === 0 && n === buf.length ? buf : buf.subarray(d, d + n), pos, n, 0n) === 'bigint');
}

/** A journal file header of `version`. */
function headerBytes(version: number): Buffer {
  const h = Buffer.alloc(HEADER);
  h.write(MAGIC, 0, 'latin1');
  h.writeUInt32LE(version, 8);
  return h;
}

/**
 * Bytes of zeros written ahead of the records (each copy), so a durable group's fdatasync finds
 * its records in blocks the file already has and the size unchanged: it flushes the data alone,
 * with no filesystem journal commit for the file's growth (measured on this VM's ext4: 8 KiB
 * written then fdatasync, 0.35 ms mean / 0.155 ms median over already-written blocks against
 * 0.81 / 0.28 ms when appending). Journals that are not durable preallocate too: an append that
 * grows the file reserves blocks and updates the size (a filesystem journal handle) on the event
 * loop, one that overwrites zeros does neither (the default puts' group writes, 2 per group:
 * p50 5.0-6.2 -> 4.5-4.9 us, p90 13-25 -> 10-13 us, 5 alternating runs of /tmp/dur24/wput.mjs
 * at load 12-15); their step is PLAIN_PREALLOC_BYTES. The space is grown again in steps of this
 * size; a clean close trims it.
 */
export const JOURNAL_PREALLOC_BYTES = 1024 * 1024;
/**
 * The step of a journal that is not durable: one chunk per copy (its appends then grow the file
 * once per chunk, not per group, and a small filesystem loses 128 KiB per journal to zeros, not 2 MiB).
 */
const PLAIN_PREALLOC_BYTES = 64 * 1024;
/** Zeros written to preallocate (made on first use). */
let zeroChunk: Buffer | undefined;

/** Whether `buf[from, to)` is all zero bytes. */
function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Whether a version is a two-file one this build reads. */
function legacy(v: number): boolean { return v >= OLDEST_VERSION && v <= LEGACY_VERSION; }

/** The error for a journal written by a newer format than this build reads. */
function newerFormat(p: string, v: number): CairnError {
  return FormatVersionError.newer('journal', p, v, OLDEST_VERSION, FORMAT_VERSION);
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
 * write it before encoding again. `lag` (format 6, durable appends): the bytes of the journal
 * before the batch's first record that are not yet known durable (each record's lag adds its
 * offset in the batch); -1 (non-durable appends, files written whole and synced): every lag 0.
 */
function encodeBatch(recs: ReadonlyArray<AppendRecord>, lag = -1): Buffer {
  const shared = recs.length <= BATCH_ARRAYS_MAX;
  const jsons: Array<string | undefined> = shared ? batchJsons : new Array(recs.length);
  const lens: number[] = shared ? batchLens : new Array(recs.length);
  let total = 0;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i]!;
    let body: number;
    jsons[i] = undefined;
    if (r.epochs !== undefined) body = 4 + 8 * r.epochs.length;
    else if (r.bin !== undefined) body = r.bin.length;
    else if (r.intent !== undefined) body = intentBytes(r.intent);
    else if (r.packed !== undefined) { lens[i] = r.packed.length; total += r.packed.length; continue; }
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
    if (r.packed !== undefined) { copyPacked(r.packed, out, dv, at, lag); at += len; continue; }
    const j = jsons[i];
    // The checksummed bytes (header [8, 24), then the payload) are built in the scratch, hashed
    // there, and the payload copied into the batch once.
    const view = hashView(len - REC_HEADER + HASHED_HEADER);
    const set = r.epochs;
    const word2 = r.type | ((set !== undefined ? PAYLOAD_DONE_SET : j === undefined ? PAYLOAD_INTENT_BINARY : PAYLOAD_JSON) << 8); // type, encoding, 2 zero bytes
    // format 6: the record's lag (see `scanBuffer`), 0 when every byte before the batch is durable
    const lagAt = lag < 0 ? 0 : Math.min(0xffffffff, lag + at);
    let epoch = r.epoch;
    hashDv.setUint32(0, word2, true);
    hashDv.setUint32(4, lagAt, true);
    if (set !== undefined) {
      // (the record's epoch is the set's highest, whatever `epoch` says: a checkpoint keeps the record by it)
      if (r.type !== JournalType.Done || set.length === 0) assert(false, 'a DONE set is a DONE record of at least one epoch', { type: r.type, n: set.length });
      hashDv.setUint32(HASHED_HEADER, set.length, true);
      epoch = set[0]!;
      for (let k = 0; k < set.length; k++) { const e = set[k]!; if (e > epoch) epoch = e; hashDv.setBigUint64(HASHED_HEADER + 4 + 8 * k, e, true); }
    } else if (j === undefined) {
      if (r.bin !== undefined) copyInto(hashScratch, r.bin, HASHED_HEADER);
      else writeIntent(hashScratch, hashDv, HASHED_HEADER, r.intent!);
    } else if (j === EMPTY_PAYLOAD) { hashScratch[HASHED_HEADER] = 0x7b; hashScratch[HASHED_HEADER + 1] = 0x7d; } else hashScratch.write(j, HASHED_HEADER, 'utf8');
    hashDv.setBigUint64(8, epoch, true);
    dv.setUint32(at, REC_MAGIC, true);
    dv.setUint32(at + 4, len, true);
    dv.setUint32(at + 8, word2, true);
    dv.setUint32(at + 12, lagAt, true);
    dv.setBigUint64(at + 16, epoch, true);
    dv.setBigUint64(at + 24, xxh64(view.whole), true);
    copyInto(out, view.body, at + REC_HEADER);
    at += len;
  }
  if (shared) jsons.fill(undefined, 0, recs.length); // (no payload text kept alive by the scratch)
  return out;
}

/**
 * `encodeBatch` of an `AppendRecord.packed`: its records copied to `out` at `at` (`dv` views
 * `out`), each given the lag of its new place (`lag` as `encodeBatch` takes it) and, when that is
 * not the lag it had, its checksum again.
 */
function copyPacked(packed: Uint8Array, out: Buffer, dv: DataView, at: number, lag: number): void {
  out.set(packed, at);
  const end = at + packed.length;
  let q = at;
  while (q < end) {
    const len = q + REC_HEADER <= end ? dv.getUint32(q + 4, true) : 0;
    if (dv.getUint32(q, true) !== REC_MAGIC || len < REC_HEADER || q + len > end) assert(false, 'packed bytes are whole journal records', { at: q - at, length: packed.length });
    const lagAt = lag < 0 ? 0 : Math.min(0xffffffff, lag + q);
    if (dv.getUint32(q + 12, true) !== lagAt) {
      dv.setUint32(q + 12, lagAt, true);
      const view = hashView(len - REC_HEADER + HASHED_HEADER);
      hashScratch.set(out.subarray(q + 8, q + 24), 0); // (TypedArray set: Buffer.copy's argument checks cost more, cold)
      hashScratch.set(out.subarray(q + REC_HEADER, q + len), HASHED_HEADER);
      dv.setBigUint64(q + 24, xxh64(view.whole), true);
    }
    q += len;
  }
}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

/** Stands for a record `scanBuffer` was told it already has. */
/** The payload of a binary INTENT `Journal.read` visited with `intentObjects` instead of decoding it (shared, frozen). */
const UNDECODED: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * Visits one object id of a binary INTENT that `Journal.read` gives without its payload: its hex
 * digits at `buf[at, at + len)`, packed two a byte (codec 2) or one a byte (`forEachIntentObject`).
 */
export type IntentObjectsVisitor = (buf: Buffer, at: number, len: number, packed: boolean) => void;
const NO_VISIT = (): void => {};

const KNOWN: JournalRecord = Object.freeze({ type: JournalType.Intent, epoch: -1n, payload: {} }) as JournalRecord;

/** The first `size` bytes of `fd` (one read of the whole file: journals are bounded by compaction). */
function readWhole(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
  return got === size ? buf : buf.subarray(0, got);
}

/**
 * The epochs of the DONE set at `at` (`len` bytes, checksum already checked; `type` its type
 * byte): undefined unless it is a DONE of at least one epoch, its payload exactly its epochs and
 * its epoch the highest of them.
 */
function doneSetEpochs(buf: Buffer, dv: DataView, type: number, at: number, len: number): bigint[] | undefined {
  if (type !== JournalType.Done || len < REC_HEADER + 4) return undefined;
  const n = dv.getUint32(at + REC_HEADER, true);
  if (n === 0 || len !== REC_HEADER + 4 + 8 * n) return undefined;
  const out: bigint[] = new Array(n);
  let max = 0n;
  for (let k = 0; k < n; k++) { const e = dv.getBigUint64(at + REC_HEADER + 4 + 8 * k, true); out[k] = e; if (e > max) max = e; }
  return max === dv.getBigUint64(at + 16, true) ? out : undefined;
}

/** The epochs of a DONE set's payload `bytes[start, end)` (a packed group this process wrote: it parses). */
export function doneSetPayloadEpochs(bytes: Buffer, start: number, end: number): bigint[] {
  const n = bytes.readUInt32LE(start);
  assert(n > 0 && end - start === 4 + 8 * n, 'a written DONE set holds its epochs', { start, end, n });
  const out: bigint[] = new Array(n);
  for (let k = 0; k < n; k++) out[k] = bytes.readBigUInt64LE(start + 4 + 8 * k);
  return out;
}

/**
 * Read every valid record of one copy's bytes (a format 2-4 file, or one copy of a format 5-6 file
 * gathered from its chunks), after its header; corrupt ones in the middle are skipped and counted.
 * `known(type, epoch)`: a record already read from the other copy (checked, then not decoded
 * again). `keepRaw`: each record's bytes are kept too (views of `buf`).
 *
 * Format 6, pipelined group syncs: a durable journal writes a group while the syncs of earlier
 * groups still run, so a power loss may keep a later group's bytes and lose an earlier one's (none
 * of them acknowledged: a group is acknowledged once a sync issued after its write completed, and
 * that sync made every earlier byte durable too). Each record carries its lag (u32 at [12, 16),
 * checksummed): how far before it the bytes known durable when it was written ended, so
 * `offset - lag` is that point (lag 0: every byte before the record was durable; formats 2-5
 * write 0). A damaged region at `p` after which every valid record of the copy was written with
 * the bytes at `p` not known durable (`offset - lag <= p`) is such a lost write: a torn tail, cut
 * at `p` like any other (its records after it are unacknowledged ones), not damage. Any other
 * damaged region is damage, as ever.
 */
function scanBuffer(buf: Buffer, known?: (type: number, epoch: bigint, at: number) => boolean, keepRaw = false, intentObjects?: IntentObjectsVisitor, typed = false): Scan {
  const got = buf.length;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length); // (Buffer's BigInt reads split them in JS)
  const records: JournalRecord[] = [];
  const raws: Buffer[] = [];
  let corrupt = 0;
  let off = HEADER;
  let lastGood = HEADER;
  // (format 6) every damaged region's start, and each valid record's offset, its durable point
  // (offset - lag) and how many of `records` came before it
  const gaps: number[] = [];
  const recOff: number[] = [], recDurable: number[] = [], recCount: number[] = [];
  // the checksummed bytes (header fields, then payload) gathered in the shared hash scratch (`hashView`: a view
  // reused per record length, as when encoding; scanning is synchronous), not concatenated or viewed per record
  // (a DONE set's epochs, after `decodeAt` read one: `rec` is then its first epoch's DONE)
  let setEpochs: bigint[] | undefined;
  // (`intentObjects`) per INTENT given undecoded: its index in `records`, its payload's start and end,
  // visited once the scan knows which records it keeps (not those of a torn tail it cuts)
  const visits: number[] = [];
  const decodeAt = (at: number): { rec: JournalRecord; len: number } | undefined => {
    if (at + REC_HEADER > got || buf.readUInt32LE(at) !== REC_MAGIC) return undefined;
    const len = buf.readUInt32LE(at + 4);
    if (len < REC_HEADER || len > MAX_JOURNAL_RECORD || at + len > got) return undefined;
    const n = 16 + len - REC_HEADER;
    const view = hashView(n).whole;
    buf.copy(view, 0, at + 8, at + 24);
    buf.copy(view, 16, at + REC_HEADER, at + len);
    if (xxh64(view) !== dv.getBigUint64(at + 24, true)) return undefined;
    const type = buf[at + 8]!, enc = buf[at + 9]!;
    setEpochs = undefined;
    if (enc === PAYLOAD_DONE_SET) {
      // (never taken as known: the other copy having a DONE at this record's epoch says nothing of its other epochs)
      const set = doneSetEpochs(buf, dv, type, at, len);
      if (set === undefined) return undefined;
      setEpochs = set;
      return { rec: { type: JournalType.Done, epoch: set[0]!, payload: {} }, len };
    }
    if (known?.(buf.readUInt8(at + 8), dv.getBigUint64(at + 16, true), at)) return { rec: KNOWN, len };
    if (type < JournalType.Intent || type > JournalType.Rollback) return undefined;
    let payload: Record<string, unknown> | undefined;
    if (enc === PAYLOAD_JSON) {
      try { payload = JSON.parse(buf.toString('utf8', at + REC_HEADER, at + len)) as Record<string, unknown>; } catch { return undefined; }
      if (typeof payload !== 'object' || payload === null) return undefined;
    } else if (enc === PAYLOAD_INTENT_BINARY && type === JournalType.Intent) {
      // (a reader of object ids only: the ids visited in place, the record given without its payload)
      if (intentObjects !== undefined) return forEachIntentObject(buf, at + REC_HEADER, at + len, NO_VISIT) ? { rec: { type: JournalType.Intent, epoch: dv.getBigUint64(at + 16, true), payload: UNDECODED }, len } : undefined;
      if (typed) {
        // (the same records parse as with `decodeIntent`; the single value's fields stay bytes)
        const intent = decodeIntentTyped(buf, dv, at + REC_HEADER, at + len, true); // (its single value checked, parsed only if asked: `intentSingle`)
        if (intent === undefined) return undefined;
        intent.bytes = buf.subarray(at + REC_HEADER, at + len);
        return { rec: { type: JournalType.Intent, epoch: dv.getBigUint64(at + 16, true), payload: { targets: intent.targets, objects: intent.objects }, intent }, len };
      }
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
    if (r) {
      if (gaps.length) { recOff.push(off); recDurable.push(off - buf.readUInt32LE(off + 12)); recCount.push(records.length); }
      if (r.rec !== KNOWN) {
        if (r.rec.payload === UNDECODED) visits.push(records.length, off + REC_HEADER, off + r.len);
        const raw = keepRaw ? buf.subarray(off, off + r.len) : undefined;
        records.push(r.rec); if (raw) raws.push(raw);
        // a DONE set: one DONE record per epoch, each with the set's bytes (healing writes them once: `missingFrom`)
        const set = setEpochs;
        if (set !== undefined) for (let k = 1; k < set.length; k++) { records.push({ type: JournalType.Done, epoch: set[k]!, payload: {} }); if (raw) raws.push(raw); }
      }
      off += r.len; lastGood = off; continue;
    }
    const next = resync(off + 1);
    if (next < 0) break; // a torn tail: nothing valid after it
    gaps.push(off);
    corrupt++;
    off = next;
  }
  if (gaps.length) {
    // the first damaged region that every later record allows as a lost pipelined write: a torn tail there
    let maxDurable = -1, k = recOff.length, cut = -1;
    for (let g = gaps.length - 1; g >= 0; g--) {
      while (k > 0 && recOff[k - 1]! > gaps[g]!) { k--; if (recDurable[k]! > maxDurable) maxDurable = recDurable[k]!; }
      if (maxDurable <= gaps[g]!) cut = g;
    }
    if (cut >= 0) {
      const p = gaps[cut]!;
      let keep = records.length;
      for (let i = 0; i < recOff.length; i++) if (recOff[i]! > p) { keep = recCount[i]!; break; }
      records.length = keep;
      if (keepRaw) raws.length = keep;
      if (intentObjects !== undefined) visitIntentObjects(buf, visits, keep, intentObjects);
      return { records, raws, end: p, corrupt: cut, zeroTail: false };
    }
  }
  if (intentObjects !== undefined) visitIntentObjects(buf, visits, records.length, intentObjects);
  return { records, raws, end: Math.min(lastGood, Math.max(got, HEADER)), corrupt, zeroTail: allZero(buf, lastGood, got) };
}

/** The object ids of the INTENTs `visits` lists (index, start, end) whose index is below `kept`. */
function visitIntentObjects(buf: Buffer, visits: readonly number[], kept: number, visit: IntentObjectsVisitor): void {
  const each = (at: number, len: number, packed: boolean): void => visit(buf, at, len, packed);
  for (let i = 0; i < visits.length && visits[i]! < kept; i += 3) forEachIntentObject(buf, visits[i + 1]!, visits[i + 2]!, each);
}

/**
 * Every record of `scans`, each once by (type, epoch), in first-seen order (copy 0's, then the
 * others' extras), with its bytes; `held`: per epoch, 5 bits per scan (scan k's at 5k: a bit per
 * record type) of the records each scan holds (what `missingFrom` reads: one map for every scan).
 */
function mergeScans(scans: Scan[]): { records: JournalRecord[]; raws: Buffer[]; held: Map<bigint, number> } {
  if (scans.length > 2) assert(false, 'a journal has two copies', { scans: scans.length });
  const held = new Map<bigint, number>();
  const records: JournalRecord[] = [];
  const raws: Buffer[] = [];
  for (let k = 0; k < scans.length; k++) {
    const s = scans[k]!;
    for (let i = 0; i < s.records.length; i++) {
      const r = s.records[i]!;
      const bits = held.get(r.epoch) ?? 0;
      held.set(r.epoch, bits | (1 << (r.type + 5 * k)));
      if (((bits | (bits >> 5)) >> r.type) & 1) continue; // (seen already)
      records.push(r); raws.push(s.raws[i]!);
    }
  }
  return { records, raws, held };
}

/**
 * Whether copy 1 holds exactly the records that `s0`, the scan of copy 0, found, so that its own
 * scan would find them again and nothing more (the common case: every append writes both copies):
 * copy 0 read clean (no damage, zeros after its last record), and copy 1 the same bytes up to
 * there, then zeros to its end. A scan of copy 1 and the merge of the two scans were a third of an
 * open after a crash; anything else (damage, a group in one copy only) still scans both.
 */
function copy1Repeats(copies: readonly Buffer[], s0: Scan): boolean {
  const a = copies[0]!, b = copies[1]!;
  if (s0.corrupt !== 0 || !s0.zeroTail || b.length < s0.end) return false;
  return a.compare(b, 0, s0.end, 0, s0.end) === 0 && allZero(b, s0.end, b.length);
}

/**
 * Cut each copy's tail past its scan's end that is not a durable journal's preallocated zeros (a
 * crash mid-append): zeros written over it, synced. The bytes cut.
 */
function cutTornTails(fd: number, copies: readonly Buffer[], scans: readonly Scan[], durable: boolean): number {
  let truncated = 0;
  scans.forEach((s, i) => {
    const have = Math.max(copies[i]!.length, HEADER);
    if (s.end >= have || (durable && s.zeroTail)) return;
    let last = copies[i]!.length - 1;
    while (last >= s.end && copies[i]![last] === 0) last--;
    const n = last + 1 - s.end;
    if (n <= 0) return;
    writeCopy(fd, i as 0 | 1, Buffer.alloc(n), 0, n, s.end);
    truncated += n;
  });
  if (truncated > 0) fdatasyncSync(fd);
  return truncated;
}

/** The records of `all` (with their bytes `raws`) that scan `k` lacks, as one buffer (empty when none). */
function missingFrom(k: number, all: { records: JournalRecord[]; raws: Buffer[]; held: Map<bigint, number> }): Buffer {
  const out: Buffer[] = [];
  // (the DONEs of one DONE set share its bytes: written once)
  const added = new Set<Buffer>();
  for (let i = 0; i < all.records.length; i++) {
    const r = all.records[i]!;
    if ((all.held.get(r.epoch)! >> (r.type + 5 * k)) & 1) continue;
    const raw = all.raws[i]!;
    if (!added.has(raw)) { added.add(raw); out.push(raw); }
  }
  return Buffer.concat(out);
}

/** What opening found. */
export interface JournalOpen {
  journal: Journal;
  /** Every record found in either copy, each once, in copy 0's order (then the other copy's extras). */
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

type HeadState = { state: 'ok' | 'old' | 'newer' | 'bad'; version: number };

/**
 * The state of a 16-byte header `head` (undefined: absent): `ok` (`current`), `old` (a two-file
 * version this build reads, when `current` is LEGACY_VERSION), `newer` (a later version than any
 * this build reads), `bad` (damaged, or a version that does not belong here).
 */
function headState(head: Buffer | undefined, current: number): HeadState | undefined {
  if (head === undefined || head.length < HEADER) return undefined;
  const v = head.readUInt32LE(8);
  if (head.toString('latin1', 0, 8) !== MAGIC || head.readUInt32LE(12) !== 0) return { state: 'bad', version: v };
  return { state: v === current || (current === FORMAT_VERSION && (v === ONE_FILE_V6 || v === ONE_FILE_V5)) ? 'ok' : current === LEGACY_VERSION && legacy(v) ? 'old' : v > FORMAT_VERSION ? 'newer' : 'bad', version: v };
}

/** The 16 bytes at `at` of the file at `p` (undefined when it is absent or shorter). */
function readHead(p: string, at = 0): Buffer | undefined {
  let fd: number;
  try { fd = openSync(p, 'r'); } catch { return undefined; }
  try {
    const head = Buffer.alloc(HEADER);
    return readSync(fd, head, 0, HEADER, at) < HEADER ? undefined : head;
  } finally { closeSync(fd); }
}

/** The header version in `h`, when it is a journal header (right magic, zero word). */
function headVersion(h: Buffer | undefined): number | undefined {
  return h !== undefined && h.toString('latin1', 0, 8) === MAGIC && h.readUInt32LE(12) === 0 ? h.readUInt32LE(8) : undefined;
}

/**
 * How the journal at `path` is laid out: `one` (format 5-6: both copies in `path`; also a new
 * journal) or `two` (formats 2-4: `path` and `path.copy`). A format 5-6 header in either copy of
 * `path` wins (a stale `journal.copy` left by a conversion is ignored); then a format 2-4 header in
 * `path` or `path.copy`. Throws FORMAT_VERSION when only a newer version's `journal.copy` is there.
 */
function layoutOf(path: string): 'one' | 'two' {
  const p0 = readHead(path, 0);
  const v0 = headVersion(p0);
  if (oneFileVersion(v0)) return 'one';
  if (v0 !== undefined && legacy(v0)) return 'two';
  if (oneFileVersion(headVersion(readHead(path, CHUNK)))) return 'one';
  const vc = headVersion(readHead(path + COPY_SUFFIX));
  if (vc !== undefined && legacy(vc)) return 'two';
  if (p0 === undefined && vc !== undefined && vc > FORMAT_VERSION) throw newerFormat(path + COPY_SUFFIX, vc);
  return 'one';
}

/**
 * Write this version's header over the header of two-file journal `p` (a copy kept in the old
 * mode): a copy whose header alone is damaged (the other copy's vouches for the format; its
 * records are checked one by one as ever), or an older version's file (its records stay readable:
 * each names its payload encoding).
 */
function rewriteHeader(p: string): void {
  const h = headerBytes(LEGACY_VERSION);
  const fd = openSync(p, 'r+');
  try { writeSync(fd, h, 0, HEADER, 0); fdatasyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Make `path.copy` the guard of a format 5-6 journal (see the file's doc): a 16-byte header of
 * version 5, written under a temporary name, synced and renamed over (then the directory synced).
 * Nothing when it is one already.
 */
function writeGuard(path: string): void {
  const c = path + COPY_SUFFIX;
  try { if (statSync(c).size === HEADER && headVersion(readHead(c)) === FORMAT_VERSION) return; } catch { /* absent */ }
  const tmp = `${c}.compact`;
  const fd = openSync(tmp, 'w', 0o644);
  try { writeSync(fd, headerBytes(FORMAT_VERSION), 0, HEADER, 0); fdatasyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, c);
  syncDir(dirname(path));
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

/** A journal replacement written and synced under a temporary name (`Journal.prepareReplace`): format 5-6, both copies. */
export interface PreparedReplace { path: string; fd: number; size: number; alloc: number }

/**
 * A replacement being adopted (`Journal.commitReplace`): every batch appended to the journal
 * meanwhile is written to it too, at `size` (each copy), and every sync syncs it too. `durableEnd`:
 * its bytes known durable; `syncFree`/`syncOwned`: its group-sync descriptors (the journal's once
 * adopted); `renamed`: it is named `journal` now; `failed`: a write or sync of it failed before the
 * rename (the replacement is then abandoned: the old file, which holds every record, stays);
 * `dropped`: abandoned or closed (its descriptors are closed as their syncs end).
 */
interface Mirror { fd: number; size: number; durableEnd: number; syncFree: number[]; syncOwned: number[]; renamed: boolean; failed: unknown; dropped: boolean }

const openAsync = promisify(openCb);
const writeAsync = (fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => writeCb(fd, buf, off, len, pos, (e, n) => (e ? reject(e) : resolve(n))));
const fdatasyncAsync = promisify(fdatasync);
/** An fdatasync, and `syncDir`, off the event loop, taking `node:fs`'s functions when called (crash tests hold them back there to widen a window). */
const fdatasyncNow = (fd: number): Promise<void> => new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
async function syncDirNow(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    fd = await new Promise<number>((resolve, reject) => openCb(dir, 'r', (e, x) => (e ? reject(e) : resolve(x))));
    const d = fd;
    await new Promise<void>((resolve, reject) => fsyncCb(d, (e) => (e ? reject(e) : resolve())));
  } catch { /* a filesystem that cannot sync directories */ } finally { if (fd !== undefined) closeSync(fd); }
}

/** Make the renames in directory `dir` durable (best effort where a directory cannot be synced). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = openSync(dir, 'r'); fsyncSync(fd); } catch { /* a filesystem that cannot sync directories: the rename is as durable as it gets */ } finally { if (fd !== undefined) closeSync(fd); }
}

/**
 * The io_uring ring every journal's group syncs go through (one per process, made on first use):
 * a group's fdatasync costs one system call and completes on the event loop, where the thread
 * pool costs a futex wake and queues it behind whatever else it runs (a checkpoint's flush of
 * every target store: 2 syncs per store). Measured here (two 8 KiB writes then both syncs of the
 * format 4 pair, 300 rounds, load 11): p90 0.54-0.93 ms against 2.1-4.3 ms, main-thread CPU ~40 us
 * less per group. Undefined where io_uring cannot be used (no addon, a kernel without it),
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
/**
 * Whether a durable journal in one file sends its group syncs to syncer threads of its own
 * (media/syncer.ts, JOURNAL_SYNCER_THREADS) instead of the io_uring ring: its syncs complete sooner (durable commits wait on
 * them), and groups written while one runs share the next. `CAIRN_JOURNAL_SYNCER=0`: the ring (A/B).
 */
const GROUP_SYNCER = process.env.CAIRN_JOURNAL_SYNCER !== '0';
/**
 * Threads a journal's syncer syncs on, each on one of the journal's own sync descriptors
 * (`syncOwned`): a group's sync starts at once on a free thread instead of after the running one.
 * 2: two fdatasyncs of one file side by side complete ~1.5x as many syncs a second here as one
 * after another, and durable puts at 32 in flight keep two cohorts of commits, each waiting on its
 * own group's sync (docs/performance.md, session 49). `CAIRN_JOURNAL_SYNCER_THREADS` (1-4).
 */
export const JOURNAL_SYNCER_THREADS = Math.max(1, Math.min(SYNCER_MAX_THREADS, Math.floor(Number(process.env.CAIRN_JOURNAL_SYNCER_THREADS ?? 2)) || 2));
/** The journals' ring: undefined until first asked for, null when there is none. */
let ringState: IoUringEngine | null | undefined;
/** Journal syncs in flight on the ring (bounded by its queue depth; past it, the thread pool). */
let ringSyncsInFlight = 0;

/** An open journal (both copies). Appends are synchronous; durable mode adds fdatasync. */
export class Journal {
  /**
   * Read both copies of the journal at `path` without writing anything (no header for a missing
   * file, no cut tail, no copy brought in step, no conversion): how a read-only open sees what
   * another process, still appending, committed. A record being appended meanwhile is a torn tail
   * and is skipped.
   */
  static read(path: string, opts: { intentObjects?: IntentObjectsVisitor; writtenEnd?: number } = {}): JournalRead {
    return layoutOf(path) === 'one' ? Journal.readOne(path, opts.intentObjects, opts.writtenEnd) : Journal.readTwo(path, opts.intentObjects);
  }

  /**
   * `read` of a format 5-6 journal. `writtenEnd`: the end of records of copy 0 as its writer, this
   * process, knows it (`bytes`; the open brought both copies in step, and every append since wrote
   * the same bytes to both): when copy 0 is read back whole to exactly there, with its header intact
   * and no damaged record, copy 1 holds nothing more and is not scanned (a listing of a live
   * container checks half the bytes); anything else reads both copies as ever.
   */
  private static readOne(path: string, intentObjects?: IntentObjectsVisitor, writtenEnd?: number): JournalRead {
    let fd: number;
    try { fd = openSync(path, 'r'); } catch { return { records: [], damaged: false }; }
    let file: Buffer;
    try { file = readWhole(fd, fstatSync(fd).size); } finally { closeSync(fd); }
    if (file.length < HEADER) return { records: [], damaged: false }; // being created by its writer: nothing committed yet
    const copies = [copyBytes(file, 0), copyBytes(file, 1)];
    const heads = copies.map((b) => headState(b.length >= HEADER ? b.subarray(0, HEADER) : undefined, FORMAT_VERSION));
    if (!heads.some((h) => h?.state === 'ok')) throw Journal.headerError(path, heads);
    const seen = new Map<bigint, number>();
    const known = (t: number, e: bigint): boolean => ((seen.get(e) ?? 0) & (1 << t)) !== 0;
    const records: JournalRecord[] = [];
    const scans: Scan[] = [];
    copies.forEach((b, i) => {
      if (b.length <= HEADER) return; // (a copy not yet started)
      if (i > 0 && scans.length === 1 && heads[0]?.state === 'ok' && ((writtenEnd !== undefined && scans[0]!.corrupt === 0 && scans[0]!.end === writtenEnd) || copy1Repeats(copies, scans[0]!))) return;
      // the second copy decodes only records the first did not give (each is still checked)
      const s = scanBuffer(b, i > 0 ? known : undefined, false, intentObjects);
      scans.push(s);
      for (const r of s.records) {
        const had = seen.get(r.epoch) ?? 0;
        if (had & (1 << r.type)) continue;
        seen.set(r.epoch, had | (1 << r.type)); records.push(r);
      }
    });
    return { records, damaged: scans.length === 2 && scans.every((s) => s.corrupt > 0) };
  }

  /** The error for a format 5-6 file neither of whose copies' headers is this version's. */
  private static headerError(path: string, heads: Array<HeadState | undefined>): CairnError {
    const newer = heads.find((h) => h?.state === 'newer');
    if (newer) return newerFormat(path, newer.version);
    return new CorruptionError(`journal ${path}: the headers of both copies are damaged`, { path });
  }

  /** `read` of a two-file (format 2-4) journal. */
  private static readTwo(path: string, intentObjects?: IntentObjectsVisitor): JournalRead {
    const paths = [path, path + COPY_SUFFIX];
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
        if (head.toString('latin1', 0, 8) !== MAGIC || !legacy(v)) {
          // a damaged header in one copy: the other copy is read (both damaged, or both newer: refused below)
          const err = head.toString('latin1', 0, 8) === MAGIC && v > FORMAT_VERSION ? newerFormat(p, v) : new CorruptionError(`journal ${p}: ${head.toString('latin1', 0, 8) !== MAGIC ? 'bad magic' : `unsupported format version ${v}`}`, { path: p, version: v });
          if (!badHeader || err.code === 'FORMAT_VERSION') badHeader = err;
          continue;
        }
        // the second copy decodes only records the first did not give (each is still checked)
        scans.push(scanBuffer(readWhole(fd, size), scans.length ? (t, e) => (seen.get(e) ?? 0) & (1 << t) ? true : false : undefined, false, intentObjects));
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
   * `fds`: the format 5-6 file (one), or the two files of a journal kept in the old mode; `size`:
   * each copy's end of records (where the next append goes); `alloc`: the bytes of each copy the
   * file holds, past `size` when a durable journal preallocated zeros (`JOURNAL_PREALLOC_BYTES`).
   */
  private constructor(private fds: number[], private size: number[], private alloc: number[], readonly durable: boolean, private readonly path: string) {
    this.durableEnd = size.slice();
  }

  /**
   * Each copy's end of the bytes known durable (a sync issued after they were written completed;
   * see `scanBuffer`): what the lag of the records written next is counted from.
   */
  private durableEnd: number[];
  /**
   * Not durable, one file: the writable mapping of `fd` group writes go through (`JOURNAL_MAP_BYTES`, `writeTo`);
   * undefined until the first write (and after the file changed: `dropMap`), null when off.
   */
  private wmap: { fd: number; map: FileMap } | null | undefined;
  /** Each copy's end (record offset) of the bytes whose pages the mapping has mapped writable (`populate`). */
  private populated = [0, 0];
  /**
   * A checkpoint's replacement being adopted (`commitReplace`): batches appended meanwhile go to it
   * too, and syncs sync it too, so a record acknowledged then is durable in both files, whichever
   * one the name `journal` holds after a crash.
   */
  private mirror: Mirror | undefined;
  /** Closed (`close`): a replacement still being adopted is abandoned, or, renamed already, left as it is. */
  private isClosed = false;
  /**
   * JOURNAL_SPARE: the next replacement's file, zeros for `alloc` bytes of each copy, durable
   * (`prepareSpare`), named `journal.spare` (never read by an open; made again from nothing);
   * `spareMaking`: being made.
   */
  private spare: { fd: number; alloc: number } | undefined;
  private spareMaking = false;
  /**
   * Durable format 5-6 journals: descriptors of the file free for a group sync (`sync`), one per
   * sync in flight (JOURNAL_SYNC_DEPTH), opened before any record is appended to the file; `syncOwned`:
   * all of them (closed with the file).
   */
  private syncFree: number[] = [];
  private syncOwned: number[] = [];

  /**
   * Open the descriptors group syncs take (`syncFree`) on the file `fds[0]` names now: called when
   * every byte of it is durable (after an open's or a replacement's sync), so no write-back error
   * is pending that a new descriptor would not be told of.
   */
  private openSyncFds(): void {
    this.closeSyncFds();
    this.durableEnd = this.size.slice();
    if (!this.durable || this.fds.length !== 1) return;
    // (not `fds[0]`: the synchronous appends sync on it, and must not share a descriptor with a group sync either)
    for (let i = 0; i < JOURNAL_SYNC_DEPTH; i++) {
      try { const fd = openSync(this.path, 'r'); this.syncOwned.push(fd); this.syncFree.push(fd); } catch (err) { swallowed('container.journal-sync-fd-failed', err); break; }
    }
  }

  /**
   * Close the extra sync descriptors (off the event loop: the file may be one a replacement renamed
   * over); one a sync still runs on is closed when that sync ends (`sync`), not under it.
   */
  private closeSyncFds(): void {
    for (const fd of this.syncFree) closeReplaced(fd);
    this.syncOwned = [];
    this.syncFree = [];
  }

  /**
   * The syncer of a durable journal kept in one file (media/syncer.ts: group syncs through threads
   * of their own, `GROUP_SYNCER`), made for the descriptors array `fds` (the file `fds[0]` names)
   * and made again when that array is replaced (a replacement adopted: a new array, so a descriptor
   * number reused by the new file never keeps the old file's syncer); null once one could not be
   * made (io_uring or the thread pool then, as before).
   */
  private syncer: FileSyncer | null | undefined;
  private syncerFds: number[] | undefined;

  private groupSyncer(fds: number[]): FileSyncer | undefined {
    if (!this.durable || !GROUP_SYNCER || this.syncer === null || this.isClosed) return undefined;
    if (this.syncer === undefined || this.syncerFds !== fds) {
      this.syncer?.close(); // (its syncs asked for still run, on the file they were asked for)
      // (the sync descriptors: descriptions of their own, opened when the file was durable, see
      // `openSyncFds`; the file's own descriptor where there are none)
      const own = this.syncOwned;
      this.syncer = FileSyncer.open(own.length > 0 ? own.slice(0, JOURNAL_SYNCER_THREADS) : fds[0]!) ?? null;
      this.syncerFds = fds;
    }
    return this.syncer ?? undefined;
  }

  /** Group syncs this journal runs at once (JOURNAL_SYNC_DEPTH; 1 for a non-durable journal or one in the old two-file mode). */
  get syncDepth(): number { return this.durable && this.fds.length === 1 ? Math.max(1, this.syncOwned.length) : 1; }

  /** The lag of the next batch written (format 6; -1 outside durable mode: lags of 0): its bytes after the durable end. */
  private lag(): number {
    if (!this.durable) return -1;
    const m = this.mirror;
    // (mirrored bytes go to both files: their lag is the larger of the two, never less than either's)
    return Math.max(0, this.size[0]! - this.durableEnd[0]!, this.size[1]! - this.durableEnd[1]!, m !== undefined ? m.size - m.durableEnd : 0);
  }

  /**
   * Write `bytes` (a batch just appended to the journal) to the replacement being adopted too. A
   * failure before its rename abandons it (the old file holds the batch); after, the batch is not
   * in the file named `journal`: thrown (its commits fail), and the next batch writes over it.
   */
  private writeMirror(bytes: Buffer): void {
    const m = this.mirror!;
    if (m.failed !== undefined) return;
    try {
      writeCopy(m.fd, 0, bytes, 0, bytes.length, m.size);
      writeCopy(m.fd, 1, bytes, 0, bytes.length, m.size);
      m.size += bytes.length;
    } catch (err) {
      const e = mediaErrorFromErrno(err, `append to the journal ${this.path} (its replacement)`, {});
      if (m.renamed) throw e;
      m.failed = e;
    }
  }

  /** Whether both copies live in one file (format 5-6; else the two files of format 4). */
  get oneFile(): boolean { return this.fds.length === 1; }

  /**
   * Open (creating when absent) the journal at `path` and read both copies; a two-file journal is
   * converted to format 5-6 unless it is damaged in both copies (see the file's doc). `typed`:
   * binary INTENTs come back with `JournalRecord.intent` (bytes and numbers) and a payload of their
   * targets and objects only, not their single values' strings (a container's recovery).
   */
  static open(path: string, opts: { durable?: boolean; typed?: boolean } = {}): JournalOpen {
    const durable = opts.durable ?? false, typed = opts.typed ?? false;
    if (layoutOf(path) === 'one') return Journal.openOne(path, durable, typed);
    const { raws, ...opened } = Journal.openTwo(path, durable, typed);
    if (opened.damaged) return opened; // (kept in the old mode: its damage is reported at every open)
    try {
      opened.journal.convert(raws);
    } catch (err) {
      opened.journal.close();
      throw err;
    }
    return opened;
  }

  /** `open` of a format 5-6 journal (or a new one). */
  private static openOne(path: string, durable: boolean, typed: boolean): JournalOpen {
    const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT, 0o644);
    try {
      const size = fstatSync(fd).size;
      let file = readWhole(fd, size);
      // a new journal (or one whose first sync a power loss undid: zeros, nothing was ever written
      // to it): the header in both copies, synced before the guard names the format
      if (size < HEADER || (file[0] === 0 && allZero(file, 0, size))) {
        file = fileImage(headerBytes(FORMAT_VERSION));
        writeWhole(fd, file, 0);
        fdatasyncSync(fd);
      }
      const copies = [copyBytes(file, 0), copyBytes(file, 1)];
      const heads = copies.map((b) => headState(b.length >= HEADER ? b.subarray(0, HEADER) : undefined, FORMAT_VERSION));
      if (!heads.some((h) => h?.state === 'ok')) throw Journal.headerError(path, heads);
      // one flipped byte in a copy's header (or a copy whose header never got written): the other copy's vouches for the format
      let repaired = false;
      // (and a format 5 header becomes 6: its records read as format 6 ones of lag 0, and a build that reads format 5 must refuse the lags written next)
      heads.forEach((h, i) => { if (h?.state !== 'ok' || h.version !== FORMAT_VERSION) { writeCopy(fd, i as 0 | 1, headerBytes(FORMAT_VERSION), 0, HEADER, 0); repaired = true; } });
      if (repaired) fdatasyncSync(fd);
      writeGuard(path);
      // The second copy decodes only the records the first did not give (each still checked, and
      // counted as held by it in `held` when it lies before the end its scan kept: the healing
      // below then writes it none of those again, and every record a torn tail of it cut).
      const first = new Map<bigint, number>();
      const skipped: Array<{ e: bigint; t: number; at: number }> = [];
      const known = (t: number, e: bigint, at: number): boolean => {
        if ((((first.get(e) ?? 0) >> t) & 1) === 0) return false;
        skipped.push({ e, t, at });
        return true;
      };
      const s0 = copies[0]!.length > HEADER ? scanBuffer(copies[0]!, undefined, true, undefined, typed) : undefined;
      if (s0 !== undefined && copy1Repeats(copies, s0)) {
        // (the records of the one scan, each held by both copies: nothing to merge, nothing to write back)
        const truncated = cutTornTails(fd, copies, [s0, s0], durable);
        const j = new Journal([fd], [s0.end, s0.end], copies.map((b) => Math.max(b.length, HEADER)), durable, path);
        if (durable) { fdatasyncSync(fd); j.openSyncFds(); }
        return { journal: j, records: s0.records, truncatedBytes: truncated, corruptRecords: 0, damaged: false };
      }
      const scans = copies.map((b, i) => {
        if (b.length <= HEADER) return { records: [], raws: [], end: HEADER, corrupt: 0, zeroTail: true };
        const s = i === 0 ? s0! : scanBuffer(b, known, true, undefined, typed);
        if (i === 0) for (const r of s.records) first.set(r.epoch, (first.get(r.epoch) ?? 0) | (1 << r.type));
        return s;
      });
      const second = new Map<bigint, number>();
      for (const k of skipped) if (k.at < scans[1]!.end) second.set(k.e, (second.get(k.e) ?? 0) | (1 << k.t));
      const truncated = cutTornTails(fd, copies, scans, durable);
      const sizes = scans.map((s) => s.end), allocs = copies.map((b) => Math.max(b.length, HEADER));
      const all = mergeScans(scans);
      for (const [e, bits] of second) all.held.set(e, (all.held.get(e) ?? 0) | (bits << 5));
      const j = new Journal([fd], sizes, allocs, durable, path);
      // bring a copy that lacks records (damaged, or cut shorter) back in step
      scans.forEach((_s, i) => { const miss = missingFrom(i, all); if (miss.length) j.writeTo(i, miss); });
      // (durable: every byte found is made durable, so the lags of the records appended next count from here)
      if (durable) { fdatasyncSync(fd); j.openSyncFds(); }
      const corruptRecords = scans.reduce((n, s) => n + s.corrupt, 0);
      return { journal: j, records: all.records, truncatedBytes: truncated, corruptRecords, damaged: scans.every((s) => s.corrupt > 0) };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** `open` of a two-file (format 2-4) journal, in the old mode; `raws`: each record's bytes (for `convert`). */
  private static openTwo(path: string, durable: boolean, typed: boolean): JournalOpen & { raws: Buffer[] } {
    const paths = [path, path + COPY_SUFFIX];
    // A copy that is missing while the primary has records (a crash between creating them) starts
    // as a copy of the primary's valid records.
    const fds: number[] = []; const sizes: number[] = []; const scans: Scan[] = [];
    // one flipped byte in a copy's header: the other copy's header vouches for the format; an
    // older version's files take the old mode's header (their records stay readable)
    const heads = paths.map((p) => headState(readHead(p), LEGACY_VERSION));
    const vouched = heads.some((h) => h?.state === 'ok' || h?.state === 'old');
    if (!vouched) { const newer = heads.find((h) => h?.state === 'newer'); if (newer) throw newerFormat(paths[heads.indexOf(newer)]!, newer.version); }
    if (vouched) paths.forEach((p, i) => { if (heads[i] !== undefined && heads[i]!.state !== 'ok') rewriteHeader(p); });
    try {
      for (const p of paths) {
        const fresh = !existsSync(p);
        const { fd, size } = openHeaderedFile(p, MAGIC, LEGACY_VERSION, 'journal');
        fds.push(fd); sizes.push(size);
        scans.push(fresh ? { records: [], raws: [], end: HEADER, corrupt: 0, zeroTail: true } : scanBuffer(readWhole(fd, size), undefined, true, undefined, typed));
      }
      let truncated = 0;
      // the space a durable journal preallocated (zeros after its last record) is kept; any other tail is cut
      const allocs = sizes.slice();
      scans.forEach((s, i) => {
        if (s.end >= sizes[i]!) return;
        if (durable && s.zeroTail) { sizes[i] = s.end; return; }
        truncated += sizes[i]! - s.end; ftruncateSync(fds[i]!, s.end); fdatasyncSync(fds[i]!); sizes[i] = s.end; allocs[i] = s.end;
      });
      const all = mergeScans(scans);
      const j = new Journal(fds, sizes, allocs, durable, path);
      // bring a copy that lacks records (fresh, or cut shorter) back in step
      scans.forEach((_s, i) => { const miss = missingFrom(i, all); if (miss.length) j.writeTo(i, miss); });
      if (durable) { for (const fd of fds) fdatasyncSync(fd); j.openSyncFds(); }
      const corruptRecords = scans.reduce((n, s) => n + s.corrupt, 0);
      const damaged = scans.every((s) => s.corrupt > 0);
      return { journal: j, records: all.records, raws: all.raws, truncatedBytes: truncated, corruptRecords, damaged };
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
  }

  /**
   * Convert this two-file journal to format 5-6 holding `raws` (every record it holds, as read),
   * crash-safe at every step: the new file is written and synced under a temporary name, renamed
   * over `journal` and the directory synced (a crash before: the old pair, converted again at the
   * next open; after: the new file, whose header wins), then `journal.copy` becomes the guard.
   */
  private convert(raws: Buffer[]): void {
    const bytes = Buffer.concat([headerBytes(FORMAT_VERSION), ...raws]);
    this.adoptImage(bytes);
  }

  /**
   * Write a format 5-6 file whose copies hold `bytes` (header and records; a durable journal's
   * preallocated zeros after them) under a temporary name, sync it, rename it over `journal`, sync
   * the directory, make `journal.copy` the guard, and append to it from now on. `pre`: the bytes
   * of zeros preallocated after the records.
   */
  private adoptImage(bytes: Buffer, pre = this.durable ? JOURNAL_PREALLOC_BYTES : 0): void {
    const tmp = `${this.path}.compact`;
    rmSync(tmp, { force: true });
    const { img, end } = replacementParts(bytes, pre);
    const fd = openSync(tmp, 'w+', 0o644);
    try {
      writeWhole(fd, img, 0);
      for (const [pos, len] of zeroRanges(img.length, end)) writeWhole(fd, (zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES)).subarray(0, len), pos);
      fdatasyncSync(fd);
      renameSync(tmp, this.path);
    } catch (err) {
      closeSync(fd);
      throw mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
    }
    this.dropMap();
    for (const old of this.fds) closeReplaced(old);
    this.fds = [fd];
    this.size = [bytes.length, bytes.length];
    this.alloc = [bytes.length + pre, bytes.length + pre];
    syncDir(dirname(this.path));
    writeGuard(this.path);
    this.openSyncFds();
  }

  /** The writable mapping of `fd` (see `wmap`), made at its first use; undefined when off or impossible. */
  private mapOf(fd: number): FileMap | undefined {
    const w = this.wmap;
    if (w !== undefined && w !== null && w.fd === fd) return w.map;
    if (w === null) return undefined;
    this.dropMap();
    const native = JOURNAL_MAPPED ? nativeAddon() : undefined;
    const map = native?.mapWriteHashSync !== undefined ? native.mapFile?.(fd, JOURNAL_MAP_BYTES, true) : undefined;
    this.wmap = map !== undefined ? { fd, map } : null;
    return map;
  }

  /**
   * Before a group write through the mapping ends at `end` of copy `i`: map the pages from there
   * on writable in one call per chunk, up to JOURNAL_POPULATE_BYTES past `end` and no further than
   * the zeros preallocated (inside the file): a first store into each new page would trap.
   */
  private populate(map: FileMap, i: number, end: number): void {
    const native = nativeAddon()!;
    const from = Math.max(this.populated[i]!, this.size[i]!), to = Math.min(this.alloc[i]!, end + JOURNAL_POPULATE_BYTES);
    if (native.mapPrefault !== undefined && to > from) forEachCopyPiece(i as 0 | 1, from, to - from, (pos, n) => pos + n <= JOURNAL_MAP_BYTES && native.mapPrefault!(map, pos, n));
    this.populated[i] = Math.max(to, end);
  }

  /** Unmap the file's mapping (its file is replaced or closed: a mapping would keep the old file's pages). */
  private dropMap(): void {
    const w = this.wmap;
    if (w === undefined || w === null) return;
    this.wmap = undefined;
    this.populated = [0, 0];
    nativeAddon()?.unmapFile?.(w.map);
  }

  /** Append `bytes` to copy `i` (at its end of records). */
  private writeTo(i: number, bytes: Buffer): void {
    try {
      const map = this.wmap !== null && !this.durable && this.fds.length === 1 ? this.mapOf(this.fds[0]!) : undefined;
      if (map !== undefined) {
        // (through the mapping: the zeros first, so the records land inside the file's end)
        // (a hole the zeros leave below the records is filled by them: a fault there, the filesystem full, falls back to pwrite)
        const end = this.size[i]! + bytes.length;
        if (end > this.alloc[i]!) this.preallocate(i, end);
        if (end > this.populated[i]!) this.populate(map, i, end);
        if (!mapCopy(map, i as 0 | 1, bytes, bytes.length, this.size[i]!)) this.put(i, bytes, bytes.length, this.size[i]!);
        this.size[i] = end;
        return;
      }
      this.put(i, bytes, bytes.length, this.size[i]!);
      // (zeros ahead of the records: the sync that makes these records durable then also makes
      // the growth durable, and the next JOURNAL_PREALLOC_BYTES of groups sync without any)
      if (this.size[i]! + bytes.length > this.alloc[i]!) this.preallocate(i, this.size[i]! + bytes.length);
    } catch (err) {
      // a full filesystem is NO_SPACE, a failing disk IO_ERROR; the size stays, so the next append overwrites the partial bytes
      throw mediaErrorFromErrno(err, `append to the journal ${this.path}`, { copy: i });
    }
    this.size[i]! += bytes.length;
  }

  /** Write `buf[0, len)` at byte `x` of copy `i` (its chunks in the one file, or its own file). */
  private put(i: number, buf: Buffer, len: number, x: number): void {
    if (this.fds.length === 1) { writeCopy(this.fds[0]!, i as 0 | 1, buf, 0, len, x); return; }
    let done = 0;
    while (done < len) done += writeSync(this.fds[i]!, buf, done, len - done, x + done);
  }

  /**
   * Write zeros from copy `i`'s end of records `end` (or its end in the file, if further) to
   * JOURNAL_PREALLOC_BYTES past `end`. Best effort: the records are written already, so a failure
   * (a full filesystem) only leaves the next group to append as without it, and to try again.
   */
  private preallocate(i: number, end: number): void {
    const zeros = zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES);
    const to = end + (this.durable ? JOURNAL_PREALLOC_BYTES : PLAIN_PREALLOC_BYTES);
    const at = Math.max(end, this.alloc[i]!);
    try {
      if (at < to) this.put(i, zeros, to - at, at);
      this.alloc[i] = Math.max(to, this.alloc[i]!);
    } catch (err) {
      swallowed('container.journal-preallocate-failed', err);
    }
  }

  /**
   * Append records (the same bytes to both copies); returns once they are in the file (and
   * durable in durable mode: one fdatasync, or one per file of a journal in the old mode).
   */
  appendBatch(recs: ReadonlyArray<AppendRecord>): Buffer | undefined {
    if (recs.length === 0) return undefined;
    const bytes = encodeBatch(recs, this.lag());
    this.writeTo(0, bytes);
    this.writeTo(1, bytes);
    const m = this.mirror;
    if (m !== undefined) this.writeMirror(bytes);
    if (this.durable) {
      for (const fd of this.fds) fdatasyncSync(fd);
      this.durableEnd = this.size.slice();
      if (m !== undefined && m.failed === undefined) {
        try { fdatasyncSync(m.fd); m.durableEnd = m.size; } catch (err) {
          const e = mediaErrorFromErrno(err, `sync the journal ${this.path} (its replacement)`, {});
          if (m.renamed) throw e;
          m.failed = e;
        }
      }
    }
    return bytes;
  }

  /**
   * Append records (the same bytes to both copies) without making them durable: `sync()` does
   * that. For group commit in durable mode, where the flush runs off the event loop.
   */
  writeBatch(recs: ReadonlyArray<AppendRecord>): Buffer | undefined {
    if (recs.length === 0) return undefined;
    const bytes = encodeBatch(recs, this.lag());
    this.writeTo(0, bytes);
    this.writeTo(1, bytes);
    if (this.mirror !== undefined) this.writeMirror(bytes);
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
   * Visit the records of `bytes` (a copy of what `appendBatch` or `writeBatch` returned: whole
   * records, as encoded), in order: type, epoch, the payload's range `[start, end)` in `bytes`, and
   * whether the payload is binary (a binary INTENT, or a DONE set: `doneSetPayloadEpochs`; else JSON text). A redo journal keeps each group's
   * bytes this way until its next checkpoint, not an object per record.
   */
  static forEachBatchRecord(bytes: Buffer, visit: (type: JournalType, epoch: bigint, start: number, end: number, binary: boolean) => void): void {
    let at = 0;
    while (at + REC_HEADER <= bytes.length) {
      const len = bytes.readUInt32LE(at + 4);
      if (bytes.readUInt32LE(at) !== REC_MAGIC || len < REC_HEADER || at + len > bytes.length) break;
      visit(bytes[at + 8]! as JournalType, bytes.readBigUInt64LE(at + 16), at + REC_HEADER, at + len, bytes[at + 9] !== PAYLOAD_JSON);
      at += len;
    }
    if (at !== bytes.length) assert(false, 'a written batch holds exactly its records', { at, length: bytes.length });
  }

  /**
   * `forEachBatchRecord` for a checkpoint that drops the records at or below epoch `covered`:
   * `keep` visits each record above it, as `forEachBatchRecord` would; `dropIntent` gets the
   * payload range of each INTENT at or below it (whose object ids go to the registry); the other
   * dropped records (most of them) cost no BigInt and no call. Returns how many were dropped.
   */
  static splitBatch(bytes: Buffer, covered: bigint, keep: (type: JournalType, epoch: bigint, start: number, end: number, binary: boolean) => void, dropIntent: (start: number, end: number, binary: boolean) => void): number {
    // (the epochs compared as two u32 halves, not read as BigInts)
    const cHi = Number(covered >> 32n), cLo = Number(covered & 0xffffffffn);
    let at = 0, dropped = 0;
    while (at + REC_HEADER <= bytes.length) {
      const len = bytes.readUInt32LE(at + 4);
      if (bytes.readUInt32LE(at) !== REC_MAGIC || len < REC_HEADER || at + len > bytes.length) break;
      const hi = bytes.readUInt32LE(at + 20), type = bytes[at + 8]! as JournalType, binary = bytes[at + 9] !== PAYLOAD_JSON;
      if (hi > cHi || (hi === cHi && bytes.readUInt32LE(at + 16) > cLo)) keep(type, bytes.readBigUInt64LE(at + 16), at + REC_HEADER, at + len, binary);
      else { dropped++; if (type === JournalType.Intent) dropIntent(at + REC_HEADER, at + len, binary); }
      at += len;
    }
    if (at !== bytes.length) assert(false, 'a written batch holds exactly its records', { at, length: bytes.length });
    return dropped;
  }

  /**
   * Make everything written so far durable: one fdatasync (format 5-6: both copies are in the one
   * file; a journal kept in the old mode syncs its two files in parallel), submitted to the
   * journals' io_uring ring (`syncRing`) where there is one, else on the thread pool.
   */
  sync(): Promise<void> {
    const m = this.mirror;
    const mirrored = m !== undefined && m.failed === undefined;
    const ring = ringSyncsInFlight + this.fds.length + (mirrored ? 1 : 0) <= URING_QUEUE_DEPTH ? syncRing() : undefined;
    const one = (fd: number): Promise<void> => {
      if (ring === undefined) return fdatasyncAsync(fd);
      ringSyncsInFlight++;
      return ring.datasync(fd).then(
        () => { ringSyncsInFlight--; },
        (e: unknown) => { ringSyncsInFlight--; ringState = null; throw e; }, // (later syncs go to the thread pool)
      );
    };
    const ends = this.size.slice();
    const fds = this.fds;
    const synced = (): void => {
      // (not after a replacement adopted another file meanwhile)
      if (this.fds === fds) for (let i = 0; i < 2; i++) if (ends[i]! > this.durableEnd[i]!) this.durableEnd[i] = ends[i]!;
    };
    let own: Promise<void>;
    const sy = fds.length === 1 ? this.groupSyncer(fds) : undefined;
    if (fds.length !== 1) own = Promise.all(fds.map(one)).then(synced);
    else if (sy !== undefined) own = sy.sync().then(synced);
    else {
      // a descriptor of its own per sync in flight (`syncFree`; the file's own when none is free)
      const free = this.syncFree;
      const taken = free.pop();
      const release = (): void => {
        if (taken === undefined) return;
        if (this.syncFree === free) free.push(taken); else closeReplaced(taken); // (closed or replaced meanwhile)
      };
      own = one(taken ?? fds[0]!).then(() => { release(); synced(); }, (e: unknown) => { release(); throw e; });
    }
    if (!mirrored) return own;
    // A replacement being adopted holds every batch too (`commitReplace`): synced as well, so the
    // records this sync makes durable are durable in whichever file is named `journal` after a
    // crash. Before its rename a failure there only abandons it (the old file is the journal).
    const mEnd = m!.size;
    const taken = m!.syncFree.pop();
    const release = (): void => {
      if (taken === undefined) return;
      if (!m!.dropped && (this.mirror === m || this.syncFree === m!.syncFree)) m!.syncFree.push(taken); else closeReplaced(taken);
    };
    const theirs = one(taken ?? m!.fd).then(() => {
      release();
      if (this.mirror === m) { if (mEnd > m!.durableEnd) m!.durableEnd = mEnd; } else if (this.fds.length === 1 && this.fds[0] === m!.fd) for (let i = 0; i < 2; i++) if (mEnd > this.durableEnd[i]!) this.durableEnd[i] = mEnd;
    }, (e: unknown) => {
      release();
      if (m!.renamed) throw e;
      m!.failed ??= e;
    });
    return Promise.all([own, theirs]).then(() => undefined);
  }

  /** Append one record. */
  append(type: JournalType, epoch: bigint, payload: Record<string, unknown> = {}): void {
    this.appendBatch([{ type, epoch, payload }]);
  }

  /**
   * Replace the journal with DONE records of `history` (compaction): a new file is written under a
   * temporary name, synced and renamed over; this handle then appends to the new file.
   */
  rewrite(history: Array<{ epoch: bigint; objects: string[] }>): void {
    this.replace(history.map((h) => ({ type: JournalType.Done, epoch: h.epoch, payload: { objects: h.objects } })));
  }

  /**
   * Replace the journal with `recs` (a checkpoint drops the redo records it made redundant): a
   * format 5-6 file holding them in both copies is written under a temporary name, synced, renamed
   * over, and the directory synced (so the records appended to the new file later cannot be lost
   * with a rename undone by a power loss); this handle then appends to the new file (a journal
   * kept in the old mode is format 5-6 from then on). No group sync may be running on the old file.
   */
  replace(recs: ReadonlyArray<AppendRecord>): void {
    const bytes = recs.length ? Buffer.concat([headerBytes(FORMAT_VERSION), encodeBatch(recs)]) : headerBytes(FORMAT_VERSION);
    this.adoptImage(bytes, 0);
  }

  /**
   * `replace` in two steps, for a caller that keeps appending meanwhile: `prepareReplace` writes
   * and syncs the new file off the event loop (not yet visible: a temporary name);
   * `commitReplace` then appends the records written to the journal since (they must be passed:
   * the caller keeps them), syncs, renames over and adopts the new file.
   * No group sync may be running on the old file during `commitReplace`.
   * `preallocate` (durable journals; at least JOURNAL_PREALLOC_BYTES): the bytes of zeros written
   * after the records of each copy, here, off the event loop (a redo journal's checkpoint asks for
   * its whole interval: its group writes then never zero-fill on the event loop, and no group sync
   * flushes those zeros).
   */
  async prepareReplace(recs: ReadonlyArray<AppendRecord>, preallocate = JOURNAL_PREALLOC_BYTES): Promise<PreparedReplace> {
    const bytes = recs.length ? Buffer.concat([headerBytes(FORMAT_VERSION), encodeBatch(recs)]) : headerBytes(FORMAT_VERSION);
    // (a durable journal's preallocated space, written here off the event loop: see JOURNAL_PREALLOC_BYTES)
    const pre = this.durable ? Math.max(JOURNAL_PREALLOC_BYTES, preallocate) : 0;
    const sp = this.spare;
    if (sp !== undefined && sp.alloc >= bytes.length + JOURNAL_PREALLOC_BYTES) {
      // (the spare's zeros are durable already: only the records are written and synced now)
      this.spare = undefined;
      try {
        await writeWholeAsync(sp.fd, fileImage(bytes), 0);
        await fdatasyncAsync(sp.fd);
      } catch (err) {
        closeSync(sp.fd);
        throw mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
      }
      return { path: this.sparePath, fd: sp.fd, size: bytes.length, alloc: sp.alloc };
    }
    const { img, end } = replacementParts(bytes, pre);
    const tmp = `${this.path}.compact`;
    let fd: number | undefined;
    try {
      fd = await openAsync(tmp, 'w+', 0o644);
      await writeWholeAsync(fd, img, 0);
      for (const [pos, len] of zeroRanges(img.length, end)) await writeWholeAsync(fd, (zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES)).subarray(0, len), pos);
      await fdatasyncAsync(fd);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      throw mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
    }
    return { path: tmp, fd, size: bytes.length, alloc: bytes.length + pre };
  }

  /** Where the spare file is made (JOURNAL_SPARE). */
  private get sparePath(): string { return `${this.path}.spare`; }

  /**
   * Close spare descriptor `fd` and remove its file, unless the name holds another file by now (a
   * handle opened on this journal after this one closed may have made its own spare there).
   */
  private dropSpare(fd: number): void {
    try {
      const mine = fstatSync(fd).ino;
      closeSync(fd);
      let named: number | undefined;
      try { named = statSync(this.sparePath).ino; } catch { /* gone already */ }
      if (named === mine) rmSync(this.sparePath, { force: true });
    } catch (err) { swallowed('container.journal-spare-close-failed', err); }
  }

  /**
   * JOURNAL_SPARE (durable journals): make the file the next `prepareReplace` takes, in the
   * background: `alloc` bytes of zeros per copy, written and synced off the event loop. A no-op
   * when off, not durable, closed, or when one is made or being made; a failure is counted and
   * leaves none (the next replacement writes its zeros itself, as without the knob). Resolves
   * when it is made (or not); never rejects.
   */
  prepareSpare(alloc: number): Promise<void> {
    if (!JOURNAL_SPARE || !this.durable || this.isClosed || this.spare !== undefined || this.spareMaking) return Promise.resolve();
    this.spareMaking = true;
    return (async () => {
      let fd: number | undefined;
      try {
        // (a new file, not one truncated: a handle closed on this journal may still be making its
        // spare under the name, and may create it between our remove and our create: then remove
        // that one, which is stale, and create again; its handle then sees the name hold another file)
        for (let attempt = 1; fd === undefined; attempt++) {
          rmSync(this.sparePath, { force: true });
          try {
            fd = await openAsync(this.sparePath, 'wx+', 0o644);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= SPARE_CREATE_ATTEMPTS) throw err;
          }
          if (this.isClosed && fd === undefined) return;
        }
        for (const [pos, len] of zeroRanges(0, fileEnd(alloc, alloc))) await writeWholeAsync(fd, (zeroChunk ??= Buffer.alloc(JOURNAL_PREALLOC_BYTES)).subarray(0, len), pos);
        await fdatasyncAsync(fd);
        if (this.isClosed) { this.dropSpare(fd); return; }
        this.spare = { fd, alloc };
      } catch (err) {
        if (fd !== undefined) { try { closeSync(fd); } catch { /* closed */ } }
        swallowed('container.journal-spare-failed', err);
      } finally {
        this.spareMaking = false;
      }
    })();
  }

  /**
   * See `prepareReplace`: adopt the prepared file. `extra` (the records appended to the journal
   * since it was prepared) is added to both its copies at once; from then on every batch appended
   * is written to both files and every sync syncs both (`mirror`), so appends and their
   * acknowledgements go on while the new file is synced, renamed over the old one and the
   * directory synced, off the event loop (before the rename the old file is the journal and holds
   * every record; after it the new one does, every record acknowledged synced in it: `extra` by the
   * sync before the rename, the mirrored ones by their own syncs). Then this handle appends to the
   * new file alone. A failure before the rename abandons the new file (thrown; the journal stays
   * whole). One replacement at a time; the caller keeps no group write waiting for it.
   */
  async commitReplace(prep: PreparedReplace, extra: ReadonlyArray<AppendRecord>): Promise<void> {
    if (this.mirror !== undefined) assert(false, 'one journal replacement at a time', { path: this.path });
    const fds = this.fds;
    const m: Mirror = { fd: prep.fd, size: prep.size, durableEnd: prep.size, syncFree: [], syncOwned: [], renamed: false, failed: undefined, dropped: false };
    const drop = (): void => {
      if (this.mirror === m) this.mirror = undefined;
      m.dropped = true;
      for (const fd of m.syncFree.splice(0)) closeReplaced(fd); // (one a sync runs on: when it ends)
    };
    try {
      if (extra.length) {
        // (written now, on the event loop: no batch can come between them and the mirroring)
        const more = encodeBatch(extra);
        writeCopy(prep.fd, 0, more, 0, more.length, m.size);
        writeCopy(prep.fd, 1, more, 0, more.length, m.size);
        m.size += more.length;
      }
      // descriptors for the group syncs of the new file, opened before its bytes are written back
      // (a write-back error is then reported to each: see `openSyncFds`)
      if (this.durable) {
        for (let i = 0; i < JOURNAL_SYNC_DEPTH; i++) {
          try { const fd = openSync(prep.path, 'r'); m.syncOwned.push(fd); m.syncFree.push(fd); } catch (err) { swallowed('container.journal-sync-fd-failed', err); break; }
        }
      }
      this.mirror = m;
      const upTo = m.size;
      await fdatasyncNow(prep.fd);
      if (m.durableEnd < upTo) m.durableEnd = upTo;
      if (m.failed !== undefined) throw m.failed;
      if (this.isClosed) { drop(); this.abandonReplace(prep); return; } // (closed meanwhile: the old file holds every record)
      if (this.fds !== fds) throw new CairnError('CLOSED', 'journal replaced while a checkpoint adopted its replacement', { path: this.path });
      renameSync(prep.path, this.path);
      m.renamed = true;
    } catch (err) {
      drop();
      this.abandonReplace(prep);
      throw err instanceof CairnError ? err : mediaErrorFromErrno(err, `rewrite the journal ${this.path}`, {});
    }
    // renamed: the new file is the journal now, whatever follows
    await syncDirNow(dirname(this.path));
    if (this.isClosed || this.fds !== fds) { drop(); this.abandonReplace(prep); return; } // (closed meanwhile: the file holds every record)
    this.mirror = undefined;
    this.dropMap();
    for (const old of this.fds) closeReplaced(old);
    for (const fd of this.syncFree) closeReplaced(fd); // (one a sync runs on: when it ends)
    this.fds = [prep.fd];
    this.size = [m.size, m.size];
    this.alloc = [Math.max(m.size, prep.alloc), Math.max(m.size, prep.alloc)];
    this.durableEnd = [m.durableEnd, m.durableEnd];
    this.syncOwned = m.syncOwned;
    this.syncFree = m.syncFree;
    if (fds.length !== 1) writeGuard(this.path); // (a journal in the old mode: `journal.copy` is stale now)
  }

  /** Close the file of a prepared replacement that is not committed (the next one overwrites its temporary name). */
  abandonReplace(prep: PreparedReplace): void {
    try { closeSync(prep.fd); } catch { /* already closed */ }
  }

  /** Bytes used by the journal (one copy's records and header). */
  get bytes(): number { return this.size[0]!; }

  /** Close the file(s). */
  close(): void {
    this.isClosed = true;
    this.dropMap();
    this.syncer?.close(); // (syncs asked for still run: they sync a descriptor of their own)
    if (this.spare !== undefined) {
      this.dropSpare(this.spare.fd);
      this.spare = undefined;
    }
    // (a replacement being adopted: its own descriptors; `commitReplace` closes its file)
    const m = this.mirror;
    if (m !== undefined) { m.dropped = true; for (const fd of m.syncFree.splice(0)) closeReplaced(fd); }
    // (a descriptor a group sync still runs on is closed when it ends: `sync`)
    for (const fd of this.syncFree) { try { closeSync(fd); } catch (err) { swallowed('container.journal-sync-fd-close-failed', err); } }
    this.syncOwned = []; this.syncFree = [];
    // (a clean close leaves no preallocated zeros behind: best effort, an open keeps them anyway)
    const trim = (fd: number, to: number): void => { try { ftruncateSync(fd, to); } catch (err) { swallowed('container.journal-trim-failed', err); } };
    if (this.fds.length === 1) {
      if (this.alloc[0]! > this.size[0]! || this.alloc[1]! > this.size[1]!) trim(this.fds[0]!, fileEnd(this.size[0]!, this.size[1]!));
      closeSync(this.fds[0]!);
      return;
    }
    this.fds.forEach((fd, i) => {
      if (this.alloc[i]! > this.size[i]!) trim(fd, this.size[i]!);
      closeSync(fd);
    });
  }
}

/** Write all of `buf` at `pos` of `fd`. */
function writeWhole(fd: number, buf: Buffer, pos: number): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, pos + done);
}

/** `writeWhole` off the event loop. */
async function writeWholeAsync(fd: number, buf: Buffer, pos: number): Promise<void> {
  let done = 0;
  while (done < buf.length) done += await writeAsync(fd, buf, done, buf.length - done, pos + done);
}
