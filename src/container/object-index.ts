/**
 * The set of object ids a container has ever written, so that rebuild and rebalance can find
 * every object without scanning targets. An append-only file: 16-byte header ("CAIRNOBJ",
 * u32 format version, u32 0), then 24-byte entries (u128 oid little-endian, u64 xxhash64 of those
 * 16 bytes). A new id is appended before the commit that first writes it starts, so after any crash
 * the index is a superset of the objects that exist; a torn or corrupt tail entry is dropped on open.
 */
import { closeSync, writeSync, readSync, ftruncateSync, fdatasyncSync } from 'node:fs';
import { xxh64 } from '../../core/xxhash.js';
import { openHeaderedFile, FILE_HEADER_BYTES as HEADER } from '../../core/headered-file.js';

const MAGIC = 'CAIRNOBJ';
const VERSION = 1;
const ENTRY = 24;

/** Persistent set of object ids. */
export class ObjectIndex {
  private readonly ids = new Set<bigint>();
  private constructor(private readonly fd: number, private size: number, private readonly durable: boolean) {}

  /** Open or create the index file at `path`. */
  static open(path: string, durable = false): ObjectIndex {
    const { fd, size } = openHeaderedFile(path, MAGIC, VERSION, 'object index');
    try {
      const idx = new ObjectIndex(fd, HEADER, durable);
      const n = Math.floor((size - HEADER) / ENTRY);
      const buf = Buffer.alloc(n * ENTRY);
      if (n > 0) readSync(fd, buf, 0, buf.length, HEADER);
      let good = 0;
      for (let i = 0; i < n; i++) {
        const e = buf.subarray(i * ENTRY, (i + 1) * ENTRY);
        if (xxh64(e.subarray(0, 16)) !== e.readBigUInt64LE(16)) break;
        idx.ids.add(e.readBigUInt64LE(0) | (e.readBigUInt64LE(8) << 64n));
        good++;
      }
      idx.size = HEADER + good * ENTRY;
      if (idx.size !== size) ftruncateSync(fd, idx.size);
      return idx;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Record `oids` (those not yet known), durably before returning. */
  addAll(oids: Iterable<bigint>): void {
    const fresh = [...new Set(oids)].filter((o) => !this.ids.has(o));
    if (fresh.length === 0) return;
    const buf = Buffer.alloc(fresh.length * ENTRY);
    fresh.forEach((o, i) => {
      const e = buf.subarray(i * ENTRY, (i + 1) * ENTRY);
      e.writeBigUInt64LE(o & 0xffffffffffffffffn, 0);
      e.writeBigUInt64LE(o >> 64n, 8);
      e.writeBigUInt64LE(xxh64(e.subarray(0, 16)), 16);
    });
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, this.size + done);
    this.size += buf.length;
    if (this.durable) fdatasyncSync(this.fd);
    for (const o of fresh) this.ids.add(o);
  }

  /** Every recorded id, ascending. */
  list(): bigint[] { return [...this.ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)); }

  /** Number of recorded ids. */
  get count(): number { return this.ids.size; }

  /** Close the file. */
  close(): void { closeSync(this.fd); }
}
