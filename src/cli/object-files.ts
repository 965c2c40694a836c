/**
 * Named files in a container, as `cairn put|get|ls|rm` keep them: a directory KV object
 * (`.cairn-directory`) maps each name to an entry (size, mtime, object class, data object), and
 * the bytes live in an Array object.
 *
 * Replacing a file is atomic: `putFile` streams the new bytes into a fresh data object
 * (`.cairn-data/<uuid>`), then one transaction switches the entry to it and punches the old data
 * object. A reader resolves the entry and reads the bytes at one epoch, so it sees the old file or
 * the new one, never a prefix; `--snapshot` reads both at the snapshot's epoch.
 *
 * Entry formats: version 1 (written before the data object existed: `{size, mtime, oclass}`, bytes
 * in the Array object named like the file) is still read, replaced and removed; version 2 adds
 * `v: 2` and `data`, the name of the data object.
 */
import { randomUUID } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CairnError, Container, KeyValue, ObjectError, type ArrayObject, type ReadOptions } from '../../index.js';

/** Name of the KV object that lists the files put through the CLI. */
export const DIRECTORY_OBJECT = '.cairn-directory';
/** Prefix of the data objects of format-2 entries. */
export const DATA_OBJECT_PREFIX = '.cairn-data/';
/** The entry format `putFile` writes. */
export const ENTRY_FORMAT = 2;
/** How often the switch transaction of `putFile`/`removeFile` is retried after `TX_RESTART`. */
export const MAX_SWITCH_ATTEMPTS = 16;

/** One directory entry. */
export interface FileEntry {
  /** Entry format: absent for format 1, 2 for entries with a data object. */
  v?: number;
  /** Bytes in the file. */
  size: number;
  /** When it was put (ISO 8601). */
  mtime: string;
  /** Object class of the data object. */
  oclass: string;
  /** Name of the data object (format 2); format 1 keeps the bytes in the object named like the file. */
  data?: string;
}

/** A listed file: its name and entry. */
export interface FileListing extends FileEntry { name: string }

/** Parse and check a stored entry; a malformed one is `CORRUPTED`, a newer format `FORMAT_VERSION`. */
export function parseEntry(bytes: Uint8Array, name: string): FileEntry {
  let e: unknown;
  try { e = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')); } catch {
    throw new ObjectError('CORRUPTED', `directory entry of ${name} is not JSON`, { name });
  }
  const x = e as Partial<FileEntry> | null;
  if (typeof x !== 'object' || x === null || !Number.isSafeInteger(x.size) || x.size! < 0 || typeof x.oclass !== 'string' || typeof x.mtime !== 'string') {
    throw new ObjectError('CORRUPTED', `directory entry of ${name} is malformed`, { name });
  }
  if (x.v !== undefined && x.v !== ENTRY_FORMAT) {
    throw new ObjectError('FORMAT_VERSION', `directory entry of ${name} has format ${String(x.v)}; this cairn reads formats 1 and ${ENTRY_FORMAT}: upgrade cairn`, { name, format: x.v });
  }
  if (x.v === ENTRY_FORMAT && (typeof x.data !== 'string' || x.data.length === 0)) throw new ObjectError('CORRUPTED', `directory entry of ${name} names no data object`, { name });
  return x as FileEntry;
}

/** The Array object holding the bytes of `name` (format 1: the object named like the file). */
export function dataArray(c: Container, name: string, e: FileEntry): ArrayObject {
  return c.array(e.data ?? name, { oclass: e.oclass });
}

/** The entry of `name` as of the read options (default: the current state), or undefined. */
export async function readEntry(c: Container, name: string, opts: ReadOptions = {}): Promise<FileEntry | undefined> {
  const v = await c.kv(DIRECTORY_OBJECT).get(name, opts);
  return v ? parseEntry(v, name) : undefined;
}

/** Options of `putFile`. */
export interface PutFileOptions {
  /** Object class of the data (default: the container's). */
  oclass?: string;
  /** Name of the fresh data object (default `.cairn-data/<random uuid>`); it must not exist yet. */
  dataObject?: string;
  /** Called with the bytes written so far, as they are written. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

/**
 * Store everything `src` yields as the file `name`, replacing any file of that name atomically.
 * Resolves to the new entry. On failure the partial data object is punched and no entry changes.
 */
export async function putFile(c: Container, name: string, src: Readable, opts: PutFileOptions = {}): Promise<FileEntry> {
  const oclass = opts.oclass ?? c.props.oclass;
  const data = opts.dataObject ?? DATA_OBJECT_PREFIX + randomUUID();
  const arr = c.array(data, { oclass });
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) { size += chunk.length; opts.onProgress?.(size); cb(null, chunk); },
  });
  const entry: FileEntry = { v: ENTRY_FORMAT, size: 0, mtime: '', oclass, data };
  try {
    await pipeline(src, count, arr.createWriteStream({ signal: opts.signal }), { signal: opts.signal });
    entry.size = size;
    entry.mtime = new Date().toISOString();
    await switchEntry(c, name, entry);
    return entry;
  } catch (err) {
    await arr.object.punch().catch(() => { /* best effort: an unreferenced object is only space */ });
    throw err;
  }
}

/**
 * In one transaction: point `name` at `next` (or remove it when `next` is undefined) and punch the
 * data object of the entry it replaces. Retried on `TX_RESTART` (a concurrent put of the same
 * name). Resolves to the replaced entry.
 */
async function switchEntry(c: Container, name: string, next: FileEntry | undefined): Promise<FileEntry | undefined> {
  for (let attempt = 1; ; attempt++) {
    const tx = c.beginTx();
    try {
      const dir = new KeyValue(tx.object(DIRECTORY_OBJECT));
      const cur = await dir.get(name);
      const old = cur ? parseEntry(cur, name) : undefined;
      if (next) await dir.put(name, JSON.stringify(next));
      else await dir.remove(name);
      if (old) await tx.object(old.data ?? name, { oclass: old.oclass }).punch();
      await tx.commit();
      return old;
    } catch (err) {
      await tx.abort();
      if (err instanceof CairnError && err.code === 'TX_RESTART' && attempt < MAX_SWITCH_ATTEMPTS) continue;
      throw err;
    }
  }
}

/** An opened file: its entry, the epoch it is read at, and a stream of its bytes at that epoch. */
export interface OpenedFile { entry: FileEntry; epoch: bigint; stream(): Readable }

/**
 * Open `name` for reading at one epoch (the snapshot's, or the current stable epoch): the entry
 * and the bytes both come from that epoch. `NOT_FOUND` when there is no such file then.
 */
export async function openFile(c: Container, name: string, opts: { snapshot?: string; signal?: AbortSignal } = {}): Promise<OpenedFile> {
  const epoch = c.readEpoch({ snapshot: opts.snapshot, signal: opts.signal });
  const entry = await readEntry(c, name, { epoch, signal: opts.signal });
  if (!entry) throw new ObjectError('NOT_FOUND', `no file ${name} in container ${c.label}${opts.snapshot !== undefined ? ` at snapshot ${opts.snapshot}` : ''}`, { name });
  return { entry, epoch, stream: () => dataArray(c, name, entry).createReadStream({ start: 0, end: entry.size, epoch, signal: opts.signal }) };
}

/** Every file in name order, entries read at one epoch (a snapshot's, or the current one). */
export async function* listFiles(c: Container, opts: { snapshot?: string; signal?: AbortSignal } = {}): AsyncGenerator<FileListing> {
  const epoch = c.readEpoch({ snapshot: opts.snapshot, signal: opts.signal });
  for await (const [k, v] of c.kv(DIRECTORY_OBJECT).entries({ epoch, signal: opts.signal })) {
    const name = Buffer.from(k.buffer, k.byteOffset, k.length).toString('utf8');
    yield { name, ...parseEntry(v, name) };
  }
}

/** Remove `name` and punch its data, in one transaction. `NOT_FOUND` when there is no such file. */
export async function removeFile(c: Container, name: string): Promise<FileEntry> {
  if (!(await readEntry(c, name))) throw new ObjectError('NOT_FOUND', `no file ${name} in container ${c.label}`, { name });
  const old = await switchEntry(c, name, undefined);
  if (!old) throw new ObjectError('NOT_FOUND', `no file ${name} in container ${c.label}`, { name });
  return old;
}
