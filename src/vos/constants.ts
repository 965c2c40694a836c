/**
 * Named limits and defaults of the versioned object store (one instance per storage target).
 */

/** Largest dkey or akey in bytes (keys are 1..MAX_KEY_SIZE bytes). */
export const MAX_KEY_SIZE = 4096;
/** Largest single value or array write in bytes. */
export const MAX_VALUE_SIZE = 256 * 1024 * 1024;
/** Largest record size of an array akey in bytes. */
export const MAX_RECORD_SIZE = 1024 * 1024;
/** Largest array index + count (records are addressed with safe integers). */
export const MAX_ARRAY_INDEX = Number.MAX_SAFE_INTEGER;
/** Largest object id: 192 bits, room for a 128-bit object id and a 32-bit shard index. */
export const MAX_OID = (1n << 192n) - 1n;
/** Largest epoch (u64). Epoch 0 is reserved ("nothing"). */
export const MAX_EPOCH = (1n << 64n) - 1n;
/** Default pmem (metadata + small values) file size. */
export const DEFAULT_SCM_BYTES = 64 * 1024 * 1024;
/** Default block data file size (sparse). */
export const DEFAULT_DATA_BYTES = 1024 * 1024 * 1024;
/**
 * Values of at most this many bytes live in the pmem file (log and runs) by default; from 4 KiB on
 * they go to the block data file (DAOS's SCM/NVMe boundary), so merges move references, not bytes.
 */
export const DEFAULT_INLINE_THRESHOLD = 4095;
/**
 * Largest value written to the data file synchronously (a copy into the page cache on the write
 * path, hashed with it; durable, synced with its group of commits). Larger values are written
 * asynchronously on the thread pool.
 */
export const SYNC_WRITE_MAX_BYTES = 64 * 1024;
/** Largest inline threshold accepted. */
export const MAX_INLINE_THRESHOLD = 64 * 1024;
/** Block size of the data file (allocation unit and O_DIRECT alignment). */
export const DATA_BLOCK = 4096;
/** Seed of every xxhash64 checksum in the store (value, record and superblock checksums). */
export const CSUM_SEED = 0x5643_4149_524e_0001n;
/** File names inside a target directory. */
export const SCM_FILE = 'vos.scm';
export const DATA_FILE = 'vos.data';
