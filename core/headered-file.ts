/**
 * Append-only files that start with a 16-byte header: 8-byte ASCII magic, u32 format version,
 * u32 zero. A new (or empty) file gets the header written and synced; an existing one must carry
 * exactly this magic and version, or it is refused as corrupt.
 */
import { openSync, closeSync, writeSync, readSync, fstatSync, fdatasyncSync, constants as fsc } from 'node:fs';
import { CorruptionError } from './errors.js';

/** Bytes of the header. */
export const FILE_HEADER_BYTES = 16;

/** Open `path` read-write (creating it), check or write its header; returns the fd and file size. */
export function openHeaderedFile(path: string, magic: string, version: number, what: string): { fd: number; size: number } {
  const fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT, 0o644);
  try {
    let size = fstatSync(fd).size;
    if (size < FILE_HEADER_BYTES) {
      const h = Buffer.alloc(FILE_HEADER_BYTES);
      h.write(magic, 0, 'latin1');
      h.writeUInt32LE(version, 8);
      writeSync(fd, h, 0, FILE_HEADER_BYTES, 0);
      fdatasyncSync(fd);
      size = FILE_HEADER_BYTES;
    }
    const head = Buffer.alloc(FILE_HEADER_BYTES);
    readSync(fd, head, 0, FILE_HEADER_BYTES, 0);
    if (head.toString('latin1', 0, 8) !== magic) throw new CorruptionError(`${what} ${path}: bad magic`, { path });
    const v = head.readUInt32LE(8);
    if (v !== version) throw new CorruptionError(`${what} ${path}: unsupported format version ${v}`, { path, version: v });
    return { fd, size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}
