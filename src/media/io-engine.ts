/**
 * The I/O engine seam of the block device: one positional read, write or fdatasync at a time per
 * call, completed asynchronously. `io-uring.ts` implements it over the native ring, `pread.ts`
 * over Node's libuv thread-pool (`fs.read`/`fs.write`). Engines see only whole, validated,
 * in-bounds requests; the device bounds how many are in flight (`maxInFlight`).
 */

/** A shared file mapping made by the native addon (`mapFile`, read-only or writable; native/hashio.c): opaque to JavaScript. */
export type FileMap = object & { readonly __fileMap?: never };

/**
 * One hashed read of a group (`IoEngine.readvHashGroup`): `readvHash`'s arguments as a record, so
 * the reads of several devices (the k cells of an EC read) travel as one request.
 */
export interface HashedRead {
  readonly fd: number;
  readonly views: readonly Uint8Array[];
  readonly position: number;
  readonly hashLen: number;
  readonly seed: bigint;
  readonly map: FileMap | undefined;
}

/**
 * One hashed write of a group (`IoEngine.writevHashGroup`): `writevHash`'s arguments as a record,
 * so the shard writes of several devices (the k + p cells of an EC write) travel as one request.
 * A first view registered as a deferred parity fill (fills.ts) is computed on the job.
 */
export interface HashedWrite {
  readonly fd: number;
  readonly views: readonly Uint8Array[];
  readonly position: number;
  readonly hashLen: number;
  readonly seed: bigint;
  /**
   * The file's writable mapping when the write may go through it (copied into the page cache
   * while hashed, no system call; a fault there leaves it to pwritev): see `FileBlockDevice.writeMap`.
   */
  readonly map?: FileMap | undefined;
}

/** An asynchronous positional I/O engine over file descriptors. */
export interface IoEngine {
  /** Which engine this is (reported by the device). */
  readonly name: 'io_uring' | 'pread';
  /** Most requests the engine accepts at once; the device never exceeds it. */
  readonly maxInFlight: number;
  /** Write all of `buf` at `position` (retrying short writes); rejects with a `MediaError`. */
  write(fd: number, buf: Uint8Array, position: number): Promise<void>;
  /** Read up to `buf.length` bytes at `position`; resolves with the byte count (short only at end of file). */
  read(fd: number, buf: Uint8Array, position: number): Promise<number>;
  /**
   * Read into `bufs` in order, as one positional scatter read (preadv); resolves with the byte
   * count (short only at end of file). Optional: the device bounces through one buffer without it.
   */
  readv?(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number>;
  /** Write all of `bufs`, in order, at `position` as one gather write (pwritev), retrying short writes. Optional. */
  writev?(fd: number, bufs: readonly Uint8Array[], position: number): Promise<void>;
  /**
   * `readv`, then xxhash64 (core/xxhash.ts's checksum) of the first `hashLen` bytes of `bufs`,
   * both off the JavaScript thread; resolves with the hash (bytes past the end of the file read
   * as zeros). `map`, the file's mapping where the device has one, lets the engine copy and hash
   * the bytes in one pass. Optional: the device hashes on the JavaScript thread without it.
   */
  readvHash?(fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint, map?: FileMap): Promise<bigint>;
  /**
   * `readvHash` of several reads with one promise: resolves, in order, with each read's hash or
   * the `MediaError` it failed with (never rejects), so a failed read never hides the others'
   * results. Optional (the thread-pool engine's batcher has it). The reads may belong to any
   * devices whose engines have it (one process-wide batcher; each read names its descriptor).
   */
  readvHashGroup?(reads: readonly HashedRead[]): Promise<Array<bigint | Error>>;
  /**
   * xxhash64 of the first `hashLen` bytes of `bufs`, then `writev` of all of them, off the
   * JavaScript thread. `map`, the file's writable mapping where the device lets the write go
   * through it (`FileBlockDevice.writeMap`), lets the engine copy and hash in one pass. Optional.
   */
  writevHash?(fd: number, bufs: readonly Uint8Array[], position: number, hashLen: number, seed: bigint, map?: FileMap): Promise<bigint>;
  /**
   * `writevHash` of several writes with one promise, as `readvHashGroup` for reads: resolves, in
   * order, with each write's hash or the `MediaError` it failed with (never rejects). Optional.
   */
  writevHashGroup?(writes: readonly HashedWrite[]): Promise<Array<bigint | Error>>;
  /** fdatasync(fd): make completed writes durable. */
  datasync(fd: number): Promise<void>;
  /** Release engine resources; called once no request is in flight. */
  close(): void;
}
