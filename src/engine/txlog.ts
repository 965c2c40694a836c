/**
 * The transaction log of an engine (`tx.log` in its first target directory): what it must
 * remember about commits across a crash — which epochs may have data on its targets that is not
 * decided yet, which of them it holds whole, and what was decided.
 *
 * Records (JSON, one per line of the log's life; see `TxRecord`):
 *   I  intent (format 2 and older; read, no longer written): the first write of (container, epoch)
 *      arrived. Since format 3 the write's own store marks the epoch prepared before the write
 *      (`ContainerStore.markPrepared`) and the engine reads those marks after a crash (txn.ts).
 *   P  prepared: every write this engine gets for the commit is applied (count, ranks, units).
 *   S  sealed: a resolver found the commit whole here; a client's late abort no longer applies.
 *   D  decided commit (with the units, for watchers); A decided abort.
 *   F  floors kept by compaction: decisions at or below `f` were forgotten, watcher history ends at `w`.
 *
 * Appends made in one synchronous stretch are written together at the next microtask (one write,
 * plus fdatasync in durable mode): a batch of writes costs one system call, and a write waits for
 * its P/D record before it is acknowledged. A durable log's fdatasync runs on a syncer thread of
 * its own (`FileSyncer`), not on the event loop: the engine goes on serving while a group syncs
 * (it blocked for every group, 0.2-20 ms a sync on this machine); without the native addon it is
 * synchronous, as before.
 *
 * Format (version 3): 16-byte header ("CAIRNTXL", u32 3, u32 0), then groups
 * `u32 magic "TXLG" | u32 length of the whole group | u64 xxh64 of the body | body`, the body being
 * the JSON texts of the records appended in one synchronous stretch, separated by "\n" (JSON text
 * holds no raw newline). One header and one checksum per write rather than per record (measured:
 * the per-record header and hash were about a fifth of the log's CPU at qd16, ~20 records per write).
 * A group that fails its checks ends the log (a torn tail from a crash mid-append is cut whole:
 * none of its records was acknowledged, a write resolves once its group is in the file); in a
 * durable log, a whole group after it means damage in the middle, refused as CORRUPTED, never cut.
 * Version 3 has version 2's layout; what changed is the meaning of a missing INTENT: a version-2
 * engine took a pair it has no record of as never written here, while a version-3 log leaves the
 * incomplete pairs to the stores' prepared marks (an older build must not open it). Version 2 is
 * read (its INTENTs replayed) and rewritten as version 3 when opened for writing; version 1 (the
 * same header with u32 1, then one `u32 "TXLR" | u32 length | u64 xxh64 | JSON` per record)
 * likewise. The rewrite goes to a temporary file renamed over the log: a crash leaves either log
 * whole. A newer version is refused (FORMAT_VERSION).
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasyncSync, renameSync, rmSync, openSync, fstatSync, constants as fsc } from 'node:fs';
import { xxh64 } from '../../core/xxhash.js';
import { CairnError, CorruptionError, FormatVersionError } from '../../core/errors.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';
import { isDecimalText, isEpochText } from '../net/protocol.js';
import { FileSyncer } from '../media/syncer.js';

const MAGIC = 'CAIRNTXL';
/**
 * Format written (groups of records, no INTENT records); version 2 (the same groups, with INTENTs)
 * and version 1 (a header and checksum per record) are read and upgraded.
 */
export const TXLOG_FORMAT_VERSION = 3;
const V1 = 1;
const V2 = 2;
const REC_MAGIC = 0x524c5854; // "TXLR" (version 1 records)
const GROUP_MAGIC = 0x474c5854; // "TXLG" (version 2 groups)
/** GROUP_MAGIC as it lies in the file (little-endian). */
const GROUP_MAGIC_BYTES = Buffer.from('TXLG', 'latin1');
/** Bytes before a v1 record's JSON or a v2 group's body: magic, length, xxh64. */
const REC_HEADER = 16;
/** Largest record (v1) or group (v2, header included) accepted (a corrupt length must not make us allocate gigabytes). */
export const MAX_TXLOG_RECORD = 1024 * 1024;
/** "\n", between the records of a group's body. */
const NL = 10;

/** One record of the log. Epochs and floors are decimal strings. */
export interface TxRecord {
  t: 'I' | 'P' | 'S' | 'D' | 'A' | 'F';
  /** Container uuid. */
  c: string;
  /** Epoch (I, P, S, D, A). */
  e?: string;
  /** Shard writes this engine gets (I, P). */
  n?: number;
  /** Participating ranks (I, P). */
  r?: number[];
  /** Unit object ids written (decimal; P, D). */
  u?: string[];
  /** Decisions at or below this epoch were forgotten (F). */
  f?: string;
  /** Watcher history of this container starts above this epoch (F). */
  w?: string;
}

/**
 * Longest record `GroupWriter.addRecord` writes in place (the records of commits are ~100-200
 * bytes; a longer one, e.g. of many units, is written as its text).
 */
const MAX_FAST_RECORD_BYTES = 4096;

/** Bytes of the buffer a group of records is encoded into at first (grown on demand, reused). */
const GROUP_BUFFER_BYTES = 64 * 1024;
/** A group buffer grown past this is given back after its group was written. */
const GROUP_BUFFER_KEEP_BYTES = 4 * 1024 * 1024;

/** Write the header of the group `into[at, end)` (its body from `at + REC_HEADER`): magic, length, xxh64 of the body. */
function sealGroup(into: Buffer, at: number, end: number): void {
  into.writeUInt32LE(GROUP_MAGIC, at);
  into.writeUInt32LE(end - at, at + 4);
  // The hash as two u32 writes: Buffer's BigInt writer splits the value in JS (measured: a third
  // of a record's encoding once), the same bytes.
  const h = xxh64(into.subarray(at + REC_HEADER, end));
  into.writeUInt32LE(Number(h & 0xffffffffn), at + 8);
  into.writeUInt32LE(Number(h >> 32n), at + 12);
}

/** The UTF-8 bytes of the container part of record texts (`,"c":"<uuid>"`) per container, made once (bounded). */
const contBytes = new Map<string, Buffer>();
const MAX_CONT_PARTS = 4096;

function contPartBytes(c: string): Buffer {
  return contBytes.get(c) ?? newContPartBytes(c);
}

/**
 * `contPartBytes` for a container seen first (rare: one call per container). Apart from
 * `contPartBytes`, which is inlined into `writeRecord`: its miss branch ran too seldom in the
 * warm-up for V8 to keep feedback, and a served engine's first container deoptimised the record
 * encoder ("insufficient type feedback" at the map's size, --trace-deopt-verbose, 3 of 4 engines).
 */
function newContPartBytes(c: string): Buffer {
  if (contBytes.size >= MAX_CONT_PARTS) contBytes.clear();
  const b = Buffer.from(`,"c":${JSON.stringify(c)}`, 'utf8');
  contBytes.set(c, b);
  return b;
}

/**
 * Warm-up (before the engine serves): the records of `n` containers never seen, so that V8 keeps
 * feedback for `contPartBytes`'s miss branch before it optimises `writeRecord` (run once per
 * container otherwise: a served engine's first container deoptimised the encoder,
 * --trace-deopt-verbose, 3 of 4 engines). The containers are forgotten afterwards.
 */
export function warmUpRecordTexts(n: number): void {
  for (let i = 0; i < n; i++) recordText({ t: 'A', c: `00000000-0000-4000-8000-${(0xfeed0000 + i).toString(16).padStart(12, '0')}`, e: String(i + 1) });
  contBytes.clear();
}

/** Record types written as they are (others are stringified). */
const PLAIN_TYPES: ReadonlySet<string> = new Set(['I', 'P', 'S', 'D', 'A']);


/** Scratch `recordText` writes a record into (`writeRecord`). */
const textScratch = Buffer.alloc(MAX_FAST_RECORD_BYTES);

/**
 * The JSON text of `rec`: JSON that parses to what `JSON.stringify(rec)` does. The records of
 * commits are `writeRecord`'s bytes (fields in the order t, c, e, n, r, u; measured: about half the
 * CPU of stringifying the record object); records of other shapes (floors), or longer than
 * MAX_FAST_RECORD_BYTES, are stringified.
 */
export function recordText(rec: TxRecord): string {
  const end = writeRecord(rec, textScratch, 0);
  return end < 0 ? JSON.stringify(rec) : textScratch.toString('utf8', 0, end);
}

/** Longest unit text written as it is (a unit object id is at most 160 bits: 49 digits). */
const MAX_UNIT_DIGITS = 60;

/** Bytes a rank takes at most in a record's text (a safe integer and its comma). */
const MAX_RANK_TEXT_BYTES = 17;

/**
 * The bytes of a record's JSON text written straight into `into` at `at` (ASCII but for the
 * container part's UTF-8: no record text or intermediate strings built), returning where they
 * end; -1 (nothing written) for a record that is to be stringified, or one that
 * might not end by `limit` (default: the end of `into`). The records of commits (P, D, S, A; 2 per shard write at qd16) take this
 * path; anything else is written as its text.
 */
export function writeRecord(rec: TxRecord, into: Buffer, at: number, limit = into.length): number {
  const e = rec.e, n = rec.n, r = rec.r, u = rec.u;
  if (e === undefined || rec.f !== undefined || rec.w !== undefined || !PLAIN_TYPES.has(rec.t) || !isEpochText(e) || (n !== undefined && !Number.isSafeInteger(n))) return -1;
  const cb = contPartBytes(rec.c);
  let max = 8 + cb.length + 7 + e.length + 1 + (n !== undefined ? 5 + MAX_RANK_TEXT_BYTES : 0);
  if (r !== undefined) {
    max += 6 + MAX_RANK_TEXT_BYTES * r.length;
    for (let i = 0; i < r.length; i++) { const x = r[i]!; if (!Number.isSafeInteger(x) || x < 0) return -1; }
  }
  if (u !== undefined) {
    max += 6;
    for (let i = 0; i < u.length; i++) { const x = u[i]!; if (!isDecimalText(x, MAX_UNIT_DIGITS)) return -1; max += x.length + 3; }
  }
  if (at + max > limit) return -1;
  let k = at;
  k = ascii(into, k, '{"t":"');
  into[k++] = rec.t.charCodeAt(0);
  into[k++] = 34; // "
  into.set(cb, k);
  k += cb.length;
  k = ascii(into, k, ',"e":"');
  k = ascii(into, k, e);
  into[k++] = 34;
  if (n !== undefined) { k = ascii(into, k, ',"n":'); k = uint(into, k, n); }
  if (r !== undefined) {
    k = ascii(into, k, ',"r":[');
    for (let i = 0; i < r.length; i++) { if (i > 0) into[k++] = 44; k = uint(into, k, r[i]!); }
    into[k++] = 93; // ]
  }
  if (u !== undefined) {
    k = ascii(into, k, ',"u":[');
    for (let i = 0; i < u.length; i++) { if (i > 0) into[k++] = 44; into[k++] = 34; k = ascii(into, k, u[i]!); into[k++] = 34; }
    into[k++] = 93;
  }
  into[k++] = 125; // }
  return k;
}

/** Write the safe integer `x` as decimal text at `at` (a single digit without a string), returning where it ends. */
function uint(into: Buffer, at: number, x: number): number {
  if (x >= 0 && x < 10) { into[at] = 48 + x; return at + 1; }
  return ascii(into, at, `${x}`);
}

/** Write the ASCII string `s` at `at` (one byte per character), returning where it ends. */
function ascii(into: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) into[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** Most bytes the record of JSON `text` takes in a group body (UTF-8 needs at most 3 bytes per UTF-16 unit, and its "\n"). */
function maxRecordBytes(text: string): number { return 3 * text.length + 1; }

/** A record too large for any group (refused: a corrupt or absurd record must not reach the log). */
function tooLarge(len: number): CorruptionError { return new CorruptionError('transaction log record too large', { len }); }

/**
 * Records encoded into groups, appended to as they come: `add` puts a record's text at the end of
 * the open group (a new group when it would outgrow MAX_TXLOG_RECORD), `seal` closes the open
 * group. `buf[0, used)` then holds whole groups, ready to be written.
 */
class GroupWriter {
  buf: Buffer;
  used = 0;
  /** Where the open group starts (-1: none open). */
  private open = -1;

  constructor(bytes: number) { this.buf = Buffer.allocUnsafe(bytes); }

  add(text: string): void {
    const max = maxRecordBytes(text);
    if (this.open >= 0 && this.used + max - this.open > MAX_TXLOG_RECORD) this.seal();
    const room = this.used + (this.open < 0 ? REC_HEADER : 0) + max;
    if (room > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(room, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    const start = this.used;
    if (this.open < 0) { this.open = this.used; this.used += REC_HEADER; }
    else this.buf[this.used++] = NL;
    const n = this.buf.write(text, this.used, 'utf8');
    this.used += n;
    if (this.used - this.open > MAX_TXLOG_RECORD) {
      // Taken back whole (a group opened for it too): the groups written stay as they were.
      if (this.open === start) this.open = -1;
      this.used = start;
      throw tooLarge(REC_HEADER + n);
    }
  }

  /**
   * `add(recordText(rec))` without the text where `writeRecord` takes the record: the same bytes
   * (the open group grown or sealed first as `add` would, from an upper bound of its length).
   */
  addRecord(rec: TxRecord): void {
    // (room for the group header or the "\n", and the record's bytes as `writeRecord` bounds them)
    const sep = this.open < 0 ? REC_HEADER : 1;
    if (this.used + sep + MAX_FAST_RECORD_BYTES > this.buf.length || (this.open >= 0 && this.used + 1 + MAX_FAST_RECORD_BYTES - this.open > MAX_TXLOG_RECORD)) { this.add(recordText(rec)); return; }
    const at = this.used + sep;
    const end = writeRecord(rec, this.buf, at, at + MAX_FAST_RECORD_BYTES);
    if (end < 0) { this.add(recordText(rec)); return; }
    if (this.open < 0) this.open = this.used;
    else this.buf[this.used] = NL;
    this.used = end;
  }

  seal(): void {
    if (this.open < 0) return;
    sealGroup(this.buf, this.open, this.used);
    this.open = -1;
  }

  /** Forget what was written (the buffer is reused). */
  reset(): void { this.used = 0; this.open = -1; }
}

/** Records as whole groups in one buffer (compaction). */
function encodeGroups(recs: readonly TxRecord[]): Buffer {
  const g = new GroupWriter(GROUP_BUFFER_BYTES);
  for (const r of recs) g.addRecord(r);
  g.seal();
  return g.buf.subarray(0, g.used);
}

/** Whether `rec` has a record's shape (a type and a container). */
function isRecord(rec: unknown): rec is TxRecord {
  return typeof (rec as TxRecord | null)?.t === 'string' && typeof (rec as TxRecord).c === 'string';
}

/** The valid records of a version-1 log image and where they end. */
function scanV1(buf: Buffer): { records: TxRecord[]; end: number } {
  const records: TxRecord[] = [];
  let at = HEADER;
  while (at + REC_HEADER <= buf.length) {
    if (buf.readUInt32LE(at) !== REC_MAGIC) break;
    const len = buf.readUInt32LE(at + 4);
    if (len < REC_HEADER || len > MAX_TXLOG_RECORD || at + len > buf.length) break;
    const json = buf.subarray(at + REC_HEADER, at + len);
    if (xxh64(json) !== buf.readBigUInt64LE(at + 8)) break;
    let rec: unknown;
    try { rec = JSON.parse(json.toString('utf8')); } catch { break; }
    if (!isRecord(rec)) break;
    records.push(rec);
    at += len;
  }
  return { records, end: at };
}

/** The valid records of a version-2 or -3 log image (whole groups) and where they end; `groups`, when given, gets each group's records. */
function scanV2(buf: Buffer, groups?: TxRecord[][], durable?: { path: string }): { records: TxRecord[]; end: number } {
  const records: TxRecord[] = [];
  let at = HEADER;
  groups: while (at + REC_HEADER <= buf.length) {
    if (!groupAt(buf, at)) break;
    const len = buf.readUInt32LE(at + 4);
    const body = buf.subarray(at + REC_HEADER, at + len);
    const group: TxRecord[] = [];
    for (const line of body.toString('utf8').split('\n')) {
      let rec: unknown;
      try { rec = JSON.parse(line); } catch { break groups; }
      if (!isRecord(rec)) break groups;
      group.push(rec);
    }
    for (const r of group) records.push(r);
    groups?.push(group);
    at += len;
  }
  // A durable log's groups are written one after another, each synced before the next starts, so
  // only the last can be torn: a whole group after the end found is damage in the middle of the
  // log, and cutting there would forget the decisions after it (acknowledged commits) without a
  // word. (A log without syncs promises nothing across a power loss, which keeps any pages: cut.)
  for (let from = at + 1; durable && from + REC_HEADER <= buf.length;) {
    const next = buf.indexOf(GROUP_MAGIC_BYTES, from);
    if (next < 0) break;
    if (groupAt(buf, next)) throw new CorruptionError(`transaction log damaged at byte ${at}: a whole group follows at ${next}`, { path: durable.path, at, next });
    from = next + 1;
  }
  return { records, end: at };
}

/** Whether a whole version-2/3 group starts at `at` of `buf` (magic, a sane length inside `buf`, its checksum). */
function groupAt(buf: Buffer, at: number): boolean {
  if (at + REC_HEADER > buf.length || buf.readUInt32LE(at) !== GROUP_MAGIC) return false;
  const len = buf.readUInt32LE(at + 4);
  if (len <= REC_HEADER || len > MAX_TXLOG_RECORD || at + len > buf.length) return false;
  return xxh64(buf.subarray(at + REC_HEADER, at + len)) === buf.readBigUInt64LE(at + 8);
}

/** The format version in the header of the log image `buf` (0: no header yet). */
function versionOf(buf: Buffer): number {
  return buf.length >= HEADER ? buf.readUInt32LE(8) : 0;
}

/** The records of a log image of either version and where the valid part ends. */
function scan(buf: Buffer): { records: TxRecord[]; end: number } {
  return versionOf(buf) === V1 ? scanV1(buf) : scanV2(buf);
}

/** FORMAT_VERSION for a log written by a newer build. */
function newerFormat(path: string, v: number): CairnError {
  return FormatVersionError.newer('transaction log', path, v, V1, TXLOG_FORMAT_VERSION);
}

/** Read the whole file `fd` of `size` bytes. */
function readAll(fd: number, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
  return buf.subarray(0, got);
}

/** Write `bytes` as the whole of a new version-3 log at `path` (a temporary file synced and renamed over it); returns its fd. */
function writeWhole(path: string, bytes: Buffer): number {
  const tmp = `${path}.compact`;
  rmSync(tmp, { force: true });
  const { fd } = openHeaderedFile(tmp, MAGIC, TXLOG_FORMAT_VERSION, 'transaction log');
  try {
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, HEADER + done);
    fdatasyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, path);
  return fd;
}

/** An open transaction log. */
export class TxLog {
  /** The records queued for the next write, encoded as groups (the buffer reused). */
  private out = new GroupWriter(GROUP_BUFFER_BYTES);
  private group: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private closed = false;
  /** A durable log's syncs off the event loop (of the current file: `rewrite` opens another); undefined: synchronous. */
  private syncer: FileSyncer | undefined;

  private constructor(private fd: number, private size: number, private readonly path: string, readonly durable: boolean) {
    if (durable) this.syncer = FileSyncer.open(fd);
  }

  /**
   * Open (creating) the log at `path`; returns it with every valid record (a torn tail is cut). A
   * version-1 or -2 log is rewritten as version 3 (its valid records, in order, INTENTs included:
   * they are replayed); a newer one is refused.
   */
  static open(path: string, durable: boolean): { log: TxLog; records: TxRecord[] } {
    const peek = openSync(path, fsc.O_RDWR | fsc.O_CREAT, 0o644);
    let v: number;
    try { v = versionOf(readAll(peek, Math.min(HEADER, fstatSync(peek).size))); } finally { closeSync(peek); }
    if (v > TXLOG_FORMAT_VERSION) throw newerFormat(path, v);
    if (v === V1 || v === V2) {
      const old = openHeaderedFile(path, MAGIC, v, 'transaction log');
      let records: TxRecord[];
      try { const buf = readAll(old.fd, old.size); records = (v === V1 ? scanV1(buf) : scanV2(buf)).records; } finally { closeSync(old.fd); }
      const fd = writeWhole(path, encodeGroups(records));
      return { log: new TxLog(fd, fstatSync(fd).size, path, durable), records };
    }
    const { fd, size } = openHeaderedFile(path, MAGIC, TXLOG_FORMAT_VERSION, 'transaction log');
    try {
      const { records, end } = scanV2(readAll(fd, size), undefined, durable ? { path } : undefined);
      if (end < size) { ftruncateSync(fd, end); fdatasyncSync(fd); }
      return { log: new TxLog(fd, end, path, durable), records };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Bytes the log holds. */
  get bytes(): number { return this.size; }

  /**
   * Queue `rec`; it is written with every record queued in the same synchronous stretch.
   * Resolves once it is in the file (and durable, in durable mode).
   */
  append(rec: TxRecord): Promise<void> {
    if (this.closed) return Promise.reject(new CorruptionError('transaction log is closed', { path: this.path }));
    this.out.addRecord(rec);
    if (!this.group) {
      let resolve!: () => void, reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      promise.catch(() => undefined); // a caller that does not wait (a lazy record) must not leave it unhandled
      this.group = { promise, resolve, reject };
      queueMicrotask(() => this.flush());
    }
    return this.group.promise;
  }

  /** Write what is queued now. */
  flush(): void {
    const g = this.group;
    if (!g) return;
    this.group = undefined;
    // Written synchronously below: the buffer is free for the next group once this returns.
    this.out.seal();
    const bytes = this.out.buf.subarray(0, this.out.used);
    this.out.reset();
    if (this.out.buf.length > GROUP_BUFFER_KEEP_BYTES) this.out = new GroupWriter(GROUP_BUFFER_BYTES);
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.size + done);
      this.size += bytes.length;
      // (a sync asked for now covers this group and every one before it; groups resolve in order)
      if (this.syncer !== undefined) { this.syncer.sync().then(g.resolve, g.reject); return; }
      if (this.durable) fdatasyncSync(this.fd);
      g.resolve();
    } catch (err) {
      // The file may hold part of the group: cut it back, so the next append starts on a boundary.
      try { ftruncateSync(this.fd, this.size); } catch { /* the next open cuts the torn tail */ }
      g.reject(err);
    }
  }

  /**
   * Replace the log by `records` (compaction): written to a temporary file, synced and renamed
   * over; records queued meanwhile are written first.
   */
  rewrite(records: TxRecord[]): void {
    this.flush();
    const fd = writeWhole(this.path, encodeGroups(records));
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
    // (syncs asked of the old file are still made and answered; the new file was synced whole)
    if (this.syncer !== undefined) { this.syncer.close(); this.syncer = FileSyncer.open(fd); }
  }

  /** Write what is queued and close the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
    this.syncer?.close(); // (the last group's sync is still made and answered)
  }

  /**
   * The records of the version-2 or -3 log at `path` group by group, one group per write (tests:
   * which records shared a write), without opening it for writing.
   */
  static readGroups(path: string): TxRecord[][] {
    const buf = TxLog.image(path);
    if (versionOf(buf) === V1) throw new CorruptionError('a version-1 transaction log has no groups', { path });
    const groups: TxRecord[][] = [];
    scanV2(buf, groups);
    return groups;
  }

  /** The records of the log at `path` without opening it for writing (tests, tools). */
  static read(path: string): TxRecord[] {
    return scan(TxLog.image(path)).records;
  }

  /** The whole log file at `path`, refused when a newer format wrote it (`read`, `readGroups`). */
  private static image(path: string): Buffer {
    const fd = openSync(path, 'r');
    try {
      const buf = readAll(fd, fstatSync(fd).size);
      if (versionOf(buf) > TXLOG_FORMAT_VERSION) throw newerFormat(path, versionOf(buf));
      return buf;
    } finally {
      closeSync(fd);
    }
  }
}
