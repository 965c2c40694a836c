/**
 * The transaction log of an engine (`tx.log` in its first target directory): what it must
 * remember about commits across a crash — which epochs may have data on its targets that is not
 * decided yet, which of them it holds whole, and what was decided.
 *
 * Records (JSON, one per line of the log's life; see `TxRecord`):
 *   I  intent: the first write of (container, epoch) arrived; written before it is applied.
 *   P  prepared: every write this engine gets for the commit is applied (count, ranks, units).
 *   S  sealed: a resolver found the commit whole here; a client's late abort no longer applies.
 *   D  decided commit (with the units, for watchers); A decided abort.
 *   F  floors kept by compaction: decisions at or below `f` were forgotten, watcher history ends at `w`.
 *
 * Appends made in one synchronous stretch are written together at the next microtask (one write,
 * plus fdatasync in durable mode): a batch of writes costs one system call, and a write waits for
 * its INTENT before it is applied and for its P/D record before it is acknowledged.
 *
 * Format (version 1): 16-byte header ("CAIRNTXL", u32 1, u32 0), then records
 * `u32 magic "TXLR" | u32 length of the whole record | u64 xxh64 of the JSON | JSON`.
 * A record that fails its checks ends the log (a torn tail from a crash mid-append is cut).
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasyncSync, renameSync, rmSync, openSync, fstatSync } from 'node:fs';
import { xxh64 } from '../../core/xxhash.js';
import { CorruptionError } from '../../core/errors.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';

const MAGIC = 'CAIRNTXL';
const FORMAT_VERSION = 1;
const REC_MAGIC = 0x524c5854; // "TXLR"
const REC_HEADER = 16;
/** Largest record accepted (a corrupt length must not make us allocate gigabytes). */
export const MAX_TXLOG_RECORD = 1024 * 1024;

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

/** Bytes of the buffer a group of records is encoded into at first (grown on demand, reused). */
const GROUP_BUFFER_BYTES = 64 * 1024;
/** A group buffer grown past this is given back after its group was written. */
const GROUP_BUFFER_KEEP_BYTES = 4 * 1024 * 1024;

/**
 * Encode `rec` into `into` at `at` (the caller made room for `maxRecordBytes(text)`); returns the
 * record's end. The JSON is written in place after the record header: no buffer per record.
 */
function encodeAt(into: Buffer, at: number, text: string): number {
  const n = into.write(text, at + REC_HEADER, 'utf8');
  const len = REC_HEADER + n;
  if (len > MAX_TXLOG_RECORD) throw new CorruptionError('transaction log record too large', { len });
  into.writeUInt32LE(REC_MAGIC, at);
  into.writeUInt32LE(len, at + 4);
  // The hash as two u32 writes: Buffer's BigInt writer splits the value in JS (measured: a third
  // of the record's encoding), the same bytes.
  const h = xxh64(into.subarray(at + REC_HEADER, at + len));
  into.writeUInt32LE(Number(h & 0xffffffffn), at + 8);
  into.writeUInt32LE(Number(h >> 32n), at + 12);
  return at + len;
}

/** The container part of record texts (`,"c":"<uuid>"`) per container, made once (bounded). */
const contParts = new Map<string, string>();
const MAX_CONT_PARTS = 4096;

function contPart(c: string): string {
  let s = contParts.get(c);
  if (s === undefined) {
    if (contParts.size >= MAX_CONT_PARTS) contParts.clear();
    s = `,"c":${JSON.stringify(c)}`;
    contParts.set(c, s);
  }
  return s;
}

/** Record types written as they are (others are stringified). */
const PLAIN_TYPES: ReadonlySet<string> = new Set(['I', 'P', 'S', 'D', 'A']);

/** Whether `s` is a decimal epoch (digits only: written into the JSON as it is). */
function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 30) return false;
  for (let i = 0; i < s.length; i++) { const ch = s.charCodeAt(i); if (ch < 48 || ch > 57) return false; }
  return true;
}

/**
 * The JSON text of `rec`: JSON that parses to what `JSON.stringify(rec)` does (fields in the order t, c,
 * e, n, r, u), built from a per-container part and the few fields the records of commits carry
 * (measured: about half the CPU of stringifying the record object, 3 records per shard write).
 * Records of other shapes (floors) are stringified.
 */
export function recordText(rec: TxRecord): string {
  const e = rec.e, n = rec.n;
  if (e === undefined || rec.f !== undefined || rec.w !== undefined || !PLAIN_TYPES.has(rec.t) || !isDigits(e) || (n !== undefined && !Number.isSafeInteger(n))) return JSON.stringify(rec);
  let s = `{"t":"${rec.t}"${contPart(rec.c)},"e":"${e}"`;
  if (n !== undefined) s += `,"n":${n}`;
  if (rec.r !== undefined) s += `,"r":${JSON.stringify(rec.r)}`;
  if (rec.u !== undefined) s += `,"u":${JSON.stringify(rec.u)}`;
  return `${s}}`;
}

/** Most bytes the record of JSON `text` takes (UTF-8 needs at most 3 bytes per UTF-16 unit). */
function maxRecordBytes(text: string): number { return REC_HEADER + 3 * text.length; }

/** One record as its own buffer (compaction). */
function encode(rec: TxRecord): Buffer {
  const text = recordText(rec);
  const b = Buffer.allocUnsafe(maxRecordBytes(text));
  return b.subarray(0, encodeAt(b, 0, text));
}

/** The valid records of a log image and where they end. */
function scan(buf: Buffer): { records: TxRecord[]; end: number } {
  const records: TxRecord[] = [];
  let at = HEADER;
  while (at + REC_HEADER <= buf.length) {
    if (buf.readUInt32LE(at) !== REC_MAGIC) break;
    const len = buf.readUInt32LE(at + 4);
    if (len < REC_HEADER || len > MAX_TXLOG_RECORD || at + len > buf.length) break;
    const json = buf.subarray(at + REC_HEADER, at + len);
    if (xxh64(json) !== buf.readBigUInt64LE(at + 8)) break;
    let rec: TxRecord;
    try { rec = JSON.parse(json.toString('utf8')) as TxRecord; } catch { break; }
    if (typeof rec?.t !== 'string' || typeof rec.c !== 'string') break;
    records.push(rec);
    at += len;
  }
  return { records, end: at };
}

/** An open transaction log. */
export class TxLog {
  /** The records queued for the next write, encoded back to back in `buf[0, used)` (reused). */
  private buf = Buffer.allocUnsafe(GROUP_BUFFER_BYTES);
  private used = 0;
  private group: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private closed = false;

  private constructor(private fd: number, private size: number, private readonly path: string, readonly durable: boolean) {}

  /** Open (creating) the log at `path`; returns it with every valid record (a torn tail is cut). */
  static open(path: string, durable: boolean): { log: TxLog; records: TxRecord[] } {
    const { fd, size } = openHeaderedFile(path, MAGIC, FORMAT_VERSION, 'transaction log');
    try {
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
      const { records, end } = scan(buf.subarray(0, got));
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
    const text = recordText(rec);
    const need = this.used + maxRecordBytes(text);
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * this.buf.length));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    this.used = encodeAt(this.buf, this.used, text);
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
    const bytes = this.buf.subarray(0, this.used);
    this.used = 0;
    if (this.buf.length > GROUP_BUFFER_KEEP_BYTES) this.buf = Buffer.allocUnsafe(GROUP_BUFFER_BYTES);
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done, this.size + done);
      this.size += bytes.length;
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
    const bytes = Buffer.concat(records.map(encode));
    const tmp = `${this.path}.compact`;
    rmSync(tmp, { force: true });
    const { fd } = openHeaderedFile(tmp, MAGIC, FORMAT_VERSION, 'transaction log');
    try {
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, HEADER + done);
      fdatasyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = fd;
    this.size = fstatSync(fd).size;
  }

  /** Write what is queued and close the file. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }

  /** The records of the log at `path` without opening it for writing (tests, tools). */
  static read(path: string): TxRecord[] {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
      return scan(buf.subarray(0, got)).records;
    } finally {
      closeSync(fd);
    }
  }
}
