/**
 * Small metadata files (pool map copy, pool and container properties) written atomically and read
 * back only after validation: a 32-byte header (8-byte magic, u32 format version, u32 payload length,
 * u64 xxhash64 of the payload, 8 reserved bytes) followed by the payload. Replacement is crash-safe:
 * write a temporary file, fsync it, rename over the old one, fsync the directory.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { xxh64, initXxhash } from './xxhash.js';
import { CorruptionError, assert } from './errors.js';
import { swallowed } from './log.js';

/** Header size of a record file in bytes. */
export const RECORD_FILE_HEADER = 32;

/** Encode `payload` as a record file image with an 8-character ASCII `magic`. */
export function encodeRecordFile(magic: string, version: number, payload: Uint8Array): Uint8Array {
  assert(magic.length === 8, 'record file magic must be 8 ASCII characters', { magic });
  const out = new Uint8Array(RECORD_FILE_HEADER + payload.length);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = magic.charCodeAt(i);
  dv.setUint32(8, version, true);
  dv.setUint32(12, payload.length, true);
  dv.setBigUint64(16, xxh64(payload), true);
  out.set(payload, RECORD_FILE_HEADER);
  return out;
}

/** Validate and return the payload of a record file image; throws `CorruptionError` on any mismatch. */
export function decodeRecordFile(magic: string, maxVersion: number, image: Uint8Array, what: string): { version: number; payload: Uint8Array } {
  if (image.length < RECORD_FILE_HEADER) throw new CorruptionError(`${what}: file too short (${image.length} bytes)`, { what });
  for (let i = 0; i < 8; i++) {
    if (image[i] !== magic.charCodeAt(i)) throw new CorruptionError(`${what}: bad magic`, { what });
  }
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const version = dv.getUint32(8, true);
  if (version < 1 || version > maxVersion) throw new CorruptionError(`${what}: unsupported format version ${version}`, { what, version });
  const len = dv.getUint32(12, true);
  if (RECORD_FILE_HEADER + len !== image.length) throw new CorruptionError(`${what}: length mismatch`, { what });
  const payload = image.subarray(RECORD_FILE_HEADER);
  if (xxh64(payload) !== dv.getBigUint64(16, true)) throw new CorruptionError(`${what}: checksum mismatch`, { what });
  return { version, payload };
}

let tmpCounter = 0;

/** Atomically replace `path` with `image` (temp file + fsync + rename + directory fsync). */
export async function writeFileAtomic(path: string, image: Uint8Array): Promise<void> {
  await fsp.rename(await writeTemp(path, image), path);
  await syncDir(dirname(path));
}

/** Write `image` to a new temporary file beside `path` and fsync it; returns the temporary's path. */
async function writeTemp(path: string, image: Uint8Array): Promise<string> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${++tmpCounter}`);
  const fh = await fsp.open(tmp, fsc.O_CREAT | fsc.O_TRUNC | fsc.O_WRONLY, 0o644);
  try {
    await fh.writeFile(image);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** fsync a directory (its renames are durable after it). */
async function syncDir(dir: string): Promise<void> {
  const dh = await fsp.open(dir, fsc.O_RDONLY);
  try {
    await dh.sync();
  } catch (err) {
    swallowed('record-file.directory-fsync-refused-by-filesystem', err); // the rename itself was done
  } finally {
    await dh.close();
  }
}

/** The record file image of a JSON document. */
export async function encodeJsonRecord(magic: string, version: number, doc: unknown): Promise<Uint8Array> {
  await initXxhash();
  return encodeRecordFile(magic, version, new TextEncoder().encode(JSON.stringify(doc)));
}

/** Write a JSON document as a record file. */
export async function writeJsonRecord(path: string, magic: string, version: number, doc: unknown): Promise<void> {
  await writeFileAtomic(path, await encodeJsonRecord(magic, version, doc));
}

/** Read and validate a JSON record file. */
export async function readJsonRecord<T>(path: string, magic: string, maxVersion: number, what: string): Promise<T> {
  await initXxhash();
  const image = new Uint8Array(await fsp.readFile(path));
  const { payload } = decodeRecordFile(magic, maxVersion, image, what);
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as T;
  } catch (err) {
    throw new CorruptionError(`${what}: payload is not valid JSON`, { what }, 'CORRUPTED');
  }
}

/**
 * Suffix of the second copy of a metadata file. Pool and container metadata and the pool maps are
 * written twice (each copy atomically, the primary first), so one damaged copy is survived: a
 * reader takes the primary when it validates, else the copy.
 */
export const COPY_SUFFIX = '.copy';

/** Atomically write `image` to `path` and to its copy. */
export async function writeFileTwice(path: string, image: Uint8Array): Promise<void> {
  await writeFileAtomic(path, image);
  await writeFileAtomic(path + COPY_SUFFIX, image);
}

/**
 * `writeFileTwice` of several files whose order matters after a crash (a later one must never be
 * newer than an earlier one: the pool map, then the rebuild state, then the stable map). Every image
 * and copy is first written and fsynced at once (those syncs, the slow part, overlap), then each
 * file and its copy are renamed into place, followed by a directory fsync before the next file's
 * renames: 1 + n sequential sync rounds instead of 4n. On a failure nothing more is renamed and the
 * temporary files not renamed are removed.
 */
export async function writeFilesTwiceInOrder(files: ReadonlyArray<{ path: string; image: Uint8Array }>): Promise<void> {
  const targets = files.flatMap(({ path, image }) => [{ path, image }, { path: path + COPY_SUFFIX, image }]);
  const staged = await Promise.allSettled(targets.map((t) => writeTemp(t.path, t.image)));
  let renamed = 0;
  try {
    const failed = staged.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (let i = 0; i < targets.length; i += 2) {
      for (const k of [i, i + 1]) { await fsp.rename((staged[k] as PromiseFulfilledResult<string>).value, targets[k]!.path); renamed = k + 1; }
      await syncDir(dirname(targets[i]!.path));
    }
  } catch (e) {
    for (let k = renamed; k < staged.length; k++) {
      const r = staged[k]!;
      if (r.status === 'fulfilled') await fsp.rm(r.value, { force: true }).catch((err) => swallowed('record-file.temporary-left', err));
    }
    throw e;
  }
}

/**
 * Read `path` (else its copy) and return what `decode` makes of it. `damaged` names a copy that
 * exists but failed to decode (to be reported and rewritten). When neither copy decodes, the
 * primary's error is thrown (a missing primary reads as ENOENT from fs).
 */
export async function readEither<T>(path: string, decode: (image: Uint8Array) => T): Promise<{ value: T; damaged: string[] }> {
  const damaged: string[] = [];
  let firstErr: unknown;
  for (const p of [path, path + COPY_SUFFIX]) {
    let image: Uint8Array;
    try {
      image = new Uint8Array(await fsp.readFile(p));
    } catch (err) {
      firstErr ??= err;
      continue;
    }
    try {
      return { value: decode(image), damaged };
    } catch (err) {
      firstErr ??= err;
      damaged.push(p);
    }
  }
  throw firstErr;
}

/** Decode a JSON record image (validated), returning its document and format version. */
export function decodeJsonRecord<T>(image: Uint8Array, magic: string, maxVersion: number, what: string): { doc: T; version: number } {
  const { payload, version } = decodeRecordFile(magic, maxVersion, image, what);
  try {
    return { doc: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)) as T, version };
  } catch {
    throw new CorruptionError(`${what}: payload is not valid JSON`, { what }, 'CORRUPTED');
  }
}

/** Write a JSON record file and its copy. */
export async function writeJsonRecordTwice(path: string, magic: string, version: number, doc: unknown): Promise<void> {
  await writeFileTwice(path, await encodeJsonRecord(magic, version, doc));
}

/** Read a JSON record file, else its copy; returns the document, its version and the damaged copies. */
export async function readJsonRecordEither<T>(path: string, magic: string, maxVersion: number, what: string): Promise<{ doc: T; version: number; damaged: string[] }> {
  await initXxhash();
  const { value, damaged } = await readEither(path, (img) => decodeJsonRecord<T>(img, magic, maxVersion, what));
  return { ...value, damaged };
}
