/**
 * Helpers for tests that damage a format 5 journal file (both copies in one file, in alternating
 * chunks: `journalCopyOffset`): read a copy's bytes, write or flip a byte at an offset of one copy.
 */
import { openSync, readSync, writeSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { journalCopyOffset, copyLength, JOURNAL_CHUNK_BYTES } from '../../src/container/journal.js';
import { xxh64 } from '../../core/xxhash.js';

/** Copy `copy`'s bytes of the journal file `path` (header, records, then whatever follows in its chunks). */
export function copyImage(path: string, copy: 0 | 1): Buffer {
  const n = copyLength(copy, statSync(path).size);
  const out = Buffer.alloc(n);
  const fd = openSync(path, 'r');
  try {
    for (let x = 0; x < n; x += JOURNAL_CHUNK_BYTES) readSync(fd, out, x, Math.min(JOURNAL_CHUNK_BYTES, n - x), journalCopyOffset(copy, x));
  } finally { closeSync(fd); }
  return out;
}

/** Write `bytes` at byte `x` of copy `copy` of the journal file `path`. */
export function writeAtCopy(path: string, copy: 0 | 1, x: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    for (let i = 0; i < bytes.length; i++) writeSync(fd, bytes, i, 1, journalCopyOffset(copy, x + i));
  } finally { closeSync(fd); }
}

/** XOR the byte at `x` of copy `copy` with `mask` (default 0xff: a flipped byte). */
export function flipCopy(path: string, copy: 0 | 1, x: number, mask = 0xff): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    const at = journalCopyOffset(copy, x);
    readSync(fd, b, 0, 1, at);
    b[0]! ^= mask;
    writeSync(fd, b, 0, 1, at);
  } finally { closeSync(fd); }
}

/** The records of a copy's bytes (`copyImage`), parsed here independently of the journal: offset, length, type, epoch. */
export function copyRecords(img: Buffer): Array<{ off: number; len: number; type: number; epoch: bigint }> {
  const out: Array<{ off: number; len: number; type: number; epoch: bigint }> = [];
  for (let off = 16; off + 32 <= img.length && img.readUInt32LE(off) === 0x4345524a;) {
    const len = img.readUInt32LE(off + 4);
    out.push({ off, len, type: img[off + 8]!, epoch: img.readBigUInt64LE(off + 16) });
    off += len;
  }
  return out;
}

/**
 * A format 2-4 (two-file) journal written byte by byte, independently of the journal's encoder:
 * `path` and `path.copy`, each the header of `version` then the records (JSON payloads).
 */
export function writeTwoFileJournal(path: string, recs: Array<{ type: number; epoch: bigint; payload: unknown }>, version = 4, files = [path, path + '.copy']): void {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(16); head.write('CAIRNJNL', 0, 'latin1'); head.writeUInt32LE(version, 8); parts.push(head);
  for (const r of recs) {
    const json = Buffer.from(JSON.stringify(r.payload), 'utf8');
    const rec = Buffer.alloc(32 + json.length);
    rec.writeUInt32LE(0x4345524a, 0); rec.writeUInt32LE(rec.length, 4); rec.writeUInt8(r.type, 8); rec.writeBigUInt64LE(r.epoch, 16);
    json.copy(rec, 32);
    rec.writeBigUInt64LE(xxh64(Buffer.concat([rec.subarray(8, 24), json])), 24);
    parts.push(rec);
  }
  for (const f of files) writeFileSync(f, Buffer.concat(parts));
}
