/**
 * Digests of a request body computed while it streams: MD5 (S3's ETag), SHA-256 (a signed
 * payload) and the additional checksums S3 clients declare (`x-amz-checksum-crc32`, `-crc32c`,
 * `-crc64nvme`, `-sha1`, `-sha256`: base64 of the big-endian digest). CRC32 is zlib's; CRC32C and
 * CRC64/NVME are table-driven here (Node has neither).
 */
import { createHash, type Hash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** The additional checksum algorithms of S3. */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
/** One of S3's additional checksum algorithms. */
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number];

/** The header carrying a checksum of `alg` (`x-amz-checksum-crc32`, ...). */
export function checksumHeader(alg: ChecksumAlgorithm): string { return `x-amz-checksum-${alg.toLowerCase()}`; }

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli), continuing from `prev`. */
export function crc32c(data: Uint8Array, prev = 0): number {
  let c = ~prev >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// CRC-64/NVME: reflected polynomial 0x9a6c9329ac4bc9b5, held as two 32-bit halves.
const CRC64_HI = new Uint32Array(256), CRC64_LO = new Uint32Array(256);
(() => {
  const PH = 0x9a6c9329, PL = 0xac4bc9b5;
  for (let i = 0; i < 256; i++) {
    let hi = 0, lo = i;
    for (let k = 0; k < 8; k++) {
      const odd = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (odd) { hi = (hi ^ PH) >>> 0; lo = (lo ^ PL) >>> 0; }
    }
    CRC64_HI[i] = hi; CRC64_LO[i] = lo;
  }
})();

/** Streaming CRC-64/NVME. */
class Crc64Nvme {
  private hi = 0xffffffff;
  private lo = 0xffffffff;
  update(data: Uint8Array): void {
    let hi = this.hi, lo = this.lo;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) >>> 0;
      hi = hi >>> 8;
      lo = (lo ^ CRC64_LO[idx]!) >>> 0;
      hi = (hi ^ CRC64_HI[idx]!) >>> 0;
    }
    this.hi = hi; this.lo = lo;
  }
  digest(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(~this.hi >>> 0, 0);
    b.writeUInt32BE(~this.lo >>> 0, 4);
    return b;
  }
}

/** A running checksum of one algorithm; `digest()` is the base64 S3 uses. */
export class Checksum {
  private crc = 0;
  private readonly hash?: Hash;
  private readonly c64?: Crc64Nvme;
  constructor(readonly algorithm: ChecksumAlgorithm) {
    if (algorithm === 'SHA1') this.hash = createHash('sha1');
    else if (algorithm === 'SHA256') this.hash = createHash('sha256');
    else if (algorithm === 'CRC64NVME') this.c64 = new Crc64Nvme();
  }
  update(data: Uint8Array): void {
    if (this.hash) this.hash.update(data);
    else if (this.c64) this.c64.update(data);
    else if (this.algorithm === 'CRC32') this.crc = crc32(data, this.crc);
    else this.crc = crc32c(data, this.crc);
  }
  /** Base64 of the big-endian digest. */
  digest(): string {
    if (this.hash) return this.hash.digest('base64');
    if (this.c64) return this.c64.digest().toString('base64');
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.crc >>> 0);
    return b.toString('base64');
  }
}

/** Parse an algorithm name (any case); undefined when unknown. */
export function checksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const up = name.toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(up) ? (up as ChecksumAlgorithm) : undefined;
}
