/**
 * The portable I/O engine: `pread`/`pwrite`/`fdatasync` on Node's libuv thread-pool. Used when
 * io_uring is unavailable (no native addon, kernel refuses) or when asked for with `io: 'pread'`.
 */
import * as fs from 'node:fs';
import type { IoEngine } from './io-engine.js';
import { mediaErrorFromErrno, MediaError } from './errors.js';
import { nativeAddon } from './io-uring.js';

/** Requests in flight at once on the thread-pool engine (libuv has 4 threads by default). */
export const PREAD_MAX_IN_FLIGHT = 16;

function writeOnce(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function readOnce(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function readvOnce(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.readv(fd, bufs as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

function writevOnce(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, bufs as Uint8Array[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** `bufs` without their first `n` bytes (after a short scatter read or gather write). */
function skipBytes(bufs: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of bufs) {
    if (n >= b.length) { n -= b.length; continue; }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/** Most buffers one hashed request takes (`native/hashio.c` MAX_VIEWS). */
export const HASHED_IO_MAX_VIEWS = 1024;

/**
 * `IoEngine` over the libuv thread-pool. With the native addon (`native/hashio.c`) it also reads
 * and writes with the checksum computed on the pool thread that moves the bytes (`readvHash`,
 * `writevHash`), so bulk I/O leaves the JavaScript thread nothing to hash.
 */
export class PreadEngine implements IoEngine {
  readonly name = 'pread' as const;
  readonly maxInFlight = PREAD_MAX_IN_FLIGHT;
  readonly readvHash?: (fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint) => Promise<bigint>;
  readonly writevHash?: (fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint) => Promise<bigint>;

  constructor() {
    const addon = nativeAddon();
    const { preadvHash, pwritevHash } = addon ?? {};
    if (preadvHash && pwritevHash) {
      const total = (bufs: readonly Uint8Array[]) => bufs.reduce((n, b) => n + b.length, 0);
      this.readvHash = (fd, bufs, position, hashLen, seed) => preadvHash(fd, bufs as Uint8Array[], position, hashLen, seed)
        .catch((e: unknown) => { throw mediaErrorFromErrno(e, 'preadv', { position, length: total(bufs) }); });
      this.writevHash = (fd, bufs, position, hashLen, seed) => pwritevHash(fd, bufs as Uint8Array[], position, hashLen, seed)
        .catch((e: unknown) => { throw mediaErrorFromErrno(e, 'pwritev', { position, length: total(bufs) }); });
    }
  }

  async write(fd: number, buf: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try { n = await writeOnce(fd, done === 0 ? buf : buf.subarray(done), position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pwrite', { position: position + done, length: buf.length - done }); }
      if (n <= 0) throw new MediaError('IO_ERROR', 'pwrite wrote nothing', { position: position + done });
      done += n;
    }
  }

  async read(fd: number, buf: Uint8Array, position: number): Promise<number> {
    let done = 0;
    while (done < buf.length) {
      let n: number;
      try { n = await readOnce(fd, done === 0 ? buf : buf.subarray(done), position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pread', { position: position + done, length: buf.length - done }); }
      if (n === 0) break; // end of file
      done += n;
    }
    return done;
  }

  async readv(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let done = 0;
    let rest: readonly Uint8Array[] = bufs;
    while (done < total) {
      let n: number;
      try { n = await readvOnce(fd, rest, position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'preadv', { position: position + done, length: total - done }); }
      if (n === 0) break; // end of file
      done += n;
      if (done < total) rest = skipBytes(rest, n);
    }
    return done;
  }

  async writev(fd: number, bufs: readonly Uint8Array[], position: number): Promise<void> {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    let done = 0;
    let rest: readonly Uint8Array[] = bufs;
    while (done < total) {
      let n: number;
      try { n = await writevOnce(fd, rest, position + done); }
      catch (e) { throw mediaErrorFromErrno(e, 'pwritev', { position: position + done, length: total - done }); }
      if (n <= 0) throw new MediaError('IO_ERROR', 'pwritev wrote nothing', { position: position + done });
      done += n;
      if (done < total) rest = skipBytes(rest, n);
    }
  }

  datasync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err ? reject(mediaErrorFromErrno(err, 'fdatasync')) : resolve()));
    });
  }

  close(): void { /* nothing to release */ }
}
