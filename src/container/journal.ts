/**
 * The commit journal of a container: an append-only file that makes multi-target commits atomic.
 *
 * A commit at epoch E appends INTENT(E, targets, objects) before touching any target and DONE(E)
 * after every target applied it; a commit is acknowledged only after DONE is written. On open, an
 * INTENT without DONE means the process died mid-commit: its epoch is discarded from the targets it
 * names, so the container looks as if the commit never happened. DONE records also feed `watch()`.
 *
 * Format: 16-byte header ("CAIRNJNL", u32 format version, u32 reserved), then records:
 * u32 length of the whole record, u8 type, u8 0, u16 0, u64 epoch, u64 xxhash64 of the bytes from
 * type to the end, then a UTF-8 JSON payload. A torn or corrupt tail is detected by length or
 * checksum and truncated on open; nothing after the first bad record is trusted.
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasyncSync, renameSync, rmSync } from 'node:fs';
import { xxh64 } from '../../core/xxhash.js';
import { CorruptionError } from '../../core/errors.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';

const MAGIC = 'CAIRNJNL';
const FORMAT_VERSION = 1;
const REC_HEADER = 24;
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

/** An open journal; appends are synchronous small writes (durable mode adds fdatasync). */
export class Journal {
  private constructor(private fd: number, private size: number, readonly durable: boolean, private readonly path: string) {}

  /** Open (creating when absent) and return the journal plus every valid record in order. */
  static open(path: string, opts: { durable?: boolean } = {}): { journal: Journal; records: JournalRecord[]; truncatedBytes: number } {
    const { fd, size } = openHeaderedFile(path, MAGIC, FORMAT_VERSION, 'journal');
    try {
      const records: JournalRecord[] = [];
      let off = HEADER;
      const fileSize = size;
      const rh = Buffer.alloc(REC_HEADER);
      while (off + REC_HEADER <= fileSize) {
        readSync(fd, rh, 0, REC_HEADER, off);
        const len = rh.readUInt32LE(0);
        if (len < REC_HEADER || len > MAX_JOURNAL_RECORD || off + len > fileSize) break;
        const rec = Buffer.alloc(len);
        readSync(fd, rec, 0, len, off);
        const covered = Buffer.concat([rec.subarray(4, 16), rec.subarray(REC_HEADER)]);
        if (xxh64(covered) !== rec.readBigUInt64LE(16)) break;
        let payload: Record<string, unknown>;
        try { payload = JSON.parse(rec.subarray(REC_HEADER).toString('utf8')) as Record<string, unknown>; } catch { break; }
        records.push({ type: rec.readUInt8(4) as JournalType, epoch: rec.readBigUInt64LE(8), payload });
        off += len;
      }
      const truncatedBytes = fileSize - off;
      if (truncatedBytes > 0) { ftruncateSync(fd, off); fdatasyncSync(fd); }
      return { journal: new Journal(fd, off, opts.durable ?? false, path), records, truncatedBytes };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Append one record; returns once it is in the file (and on stable storage in durable mode). */
  append(type: JournalType, epoch: bigint, payload: Record<string, unknown> = {}): void {
    const json = Buffer.from(JSON.stringify(payload), 'utf8');
    const len = REC_HEADER + json.length;
    if (len > MAX_JOURNAL_RECORD) throw new CorruptionError('journal record too large', { len });
    const rec = Buffer.alloc(len);
    rec.writeUInt32LE(len, 0);
    rec.writeUInt8(type, 4);
    rec.writeBigUInt64LE(epoch, 8);
    json.copy(rec, REC_HEADER);
    const covered = Buffer.concat([rec.subarray(4, 16), rec.subarray(REC_HEADER)]);
    rec.writeBigUInt64LE(xxh64(covered), 16);
    let done = 0;
    while (done < len) done += writeSync(this.fd, rec, done, len - done, this.size + done);
    this.size += len;
    if (this.durable) fdatasyncSync(this.fd);
  }

  /**
   * Replace the whole journal with DONE records of `history` (compaction): written to a temporary
   * file, synced, renamed over the journal; this handle then appends to the new file.
   */
  rewrite(history: Array<{ epoch: bigint; objects: string[] }>): void {
    const tmp = `${this.path}.compact`;
    rmSync(tmp, { force: true });
    const fresh = Journal.open(tmp, { durable: false }).journal;
    for (const h of history) fresh.append(JournalType.Done, h.epoch, { objects: h.objects });
    fdatasyncSync(fresh.fd);
    renameSync(tmp, this.path);
    closeSync(this.fd);
    this.fd = fresh.fd;
    this.size = fresh.size;
  }

  /** Bytes used by the journal file. */
  get bytes(): number { return this.size; }

  /** Close the file. */
  close(): void { closeSync(this.fd); }
}
