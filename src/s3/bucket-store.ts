/**
 * S3 buckets and objects laid out on Cairn objects (see docs/s3.md):
 *
 * - a bucket is a container (label = bucket name); its object class (EC / RP / S) is the
 *   container's, fixed when the bucket is created;
 * - `s3/index` is the bucket index: one dkey per object key (byte order = S3 key order), akey
 *   `m` holding a small metadata record (format byte + JSON: size, ETag, time, type, user
 *   metadata, and the body parts); a multipart object's akey `c` notes the completion's epoch;
 * - object bodies are Array objects named per upload (`s3/body/<random>`), written first; the
 *   index entry is flipped to the new body in ONE transaction (one epoch), so readers see the old
 *   object or the new one, never a mix; the old bodies are punched after the flip;
 * - multipart uploads live in `s3/uploads`: dkey = upload id, akey `u` = the upload, akeys
 *   `p00001`.. = the parts, each part its own Array object; Complete writes an index record that
 *   lists the part bodies (no copy) and removes the upload, in one transaction;
 * - `s3/upload-keys` orders the uploads for ListMultipartUploads: one dkey per upload,
 *   escaped key + terminator + upload id (see `uploadIndexKey`), written and removed in the same
 *   transaction as the upload itself, so a listing is an ordered range walk like ListObjects.
 *
 * Only the public Cairn API is used. Reads pin their epoch with an open transaction, so space
 * reclamation (`aggregate`) cannot reclaim a version while a GET streams it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CairnError } from '../../core/errors.js';
import { compareBytes } from '../../core/bytes.js';
import { swallow } from '../../core/log.js';
import { parseObjectClass } from '../../placement/index.js';
import type { Pool, Container, ContainerCreateOptions, Transaction, KeyRange } from '../index.js';
import { S3Error } from './errors.js';
import { listPage, prefixEnd, commonPrefixOf, type ListParams, type ListPage } from './listing.js';
import type { BodyChecksum } from './body.js';

/** Format byte of index, upload and part records. */
export const RECORD_FORMAT = 1;
/** Name of the bucket index object. */
export const INDEX_OBJECT = 's3/index';
/** Name of the multipart-upload object. */
export const UPLOADS_OBJECT = 's3/uploads';
/** Name of the object ordering the uploads by key, then id (ListMultipartUploads). */
export const UPLOAD_KEYS_OBJECT = 's3/upload-keys';
/** Name of the bucket's own KV object (creation time). */
export const BUCKET_OBJECT = 's3/bucket';
/** Longest S3 key (bytes of UTF-8), as S3. */
export const MAX_S3_KEY_BYTES = 1024;
/** Most parts of a multipart upload, as S3. */
export const MAX_PARTS = 10_000;
/** Smallest part but the last, as S3 (configurable for tests). */
export const DEFAULT_MIN_PART_BYTES = 5 * 1024 * 1024;
/** Target size of a body array chunk (rounded up to whole EC stripes). */
export const BODY_CHUNK_TARGET_BYTES = 1024 * 1024;
/** Largest body array chunk (the Array API's limit). */
export const MAX_BODY_CHUNK_BYTES = 64 * 1024 * 1024;
/** Default bytes buffered per upload before one chunked Array write (two buffers per upload). */
export const DEFAULT_WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
/** Default bytes per read of a body (two in flight per download). */
export const DEFAULT_READ_BUFFER_BYTES = 4 * 1024 * 1024;
/** Attempts of an index flip that meets a concurrent writer (TX_RESTART). */
export const MAX_FLIP_ATTEMPTS = 32;
/** Index records fetched at once by a listing or a batch delete. */
export const RECORD_FETCH_CONCURRENCY = 32;

const META_AKEY = 'm';
const UPLOAD_AKEY = 'u';
/**
 * Akey beside `m` of a multipart object: `{ id, version }`, the upload that completed into the
 * record and the epoch it committed at (its version id). The epoch is chosen by the commit, so the
 * record itself cannot hold it: a second commit notes it here, where it does not shadow the
 * version (`versionId` reads stay valid after `aggregate`). Read only while `m` names that upload.
 */
const COMPLETED_AKEY = 'c';
/** Key of the bucket's own KV object saying that `s3/upload-keys` lists every upload. */
const UPLOADS_INDEXED_KEY = 'uploads-indexed';
const partAkey = (n: number) => `p${String(n).padStart(5, '0')}`;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** One body piece: an Array object holding `n` bytes in chunks of `c`, of class `k`. */
export interface BodyPart { o: string; n: number; c: number; k: string }

/** What the index holds per object key. */
export interface ObjectRecord {
  size: number;
  /** ETag without quotes: MD5 hex, or `md5-of-part-md5s-N` for multipart objects. */
  etag: string;
  /** Last-modified time, ms since the Unix epoch. */
  mtime: number;
  contentType: string;
  /** User metadata (`x-amz-meta-*`, names lowercase, without the prefix). */
  meta: Record<string, string>;
  /** Stored representation headers (content-encoding, cache-control, ...). */
  headers: Record<string, string>;
  /** Body pieces in order; one per S3 part for multipart objects. */
  parts: BodyPart[];
  /** Multipart objects: number of parts (S3's `-N`). */
  partCount?: number;
  checksum?: BodyChecksum;
  /**
   * Multipart objects: the upload that completed into this record and a digest of the part list
   * it was completed with (`completionDigest`). A CompleteMultipartUpload retried after its
   * response was lost finds the upload gone and this record still in place, and answers as the
   * first time (S3 does), with the version id noted beside the record (`COMPLETED_AKEY`). The
   * state is bounded: it lives in the record and goes with it when the object is overwritten or
   * deleted (the note, one per key, with the key).
   */
  completedUpload?: { id: string; parts: string };
}

/** An in-progress multipart upload. */
export interface UploadRecord {
  key: string;
  initiated: number;
  contentType: string;
  meta: Record<string, string>;
  headers: Record<string, string>;
}

/** One uploaded part. */
export interface PartRecord { etag: string; size: number; mtime: number; body: BodyPart; checksum?: BodyChecksum }

function encodeRecord(v: unknown): Uint8Array {
  const json = enc.encode(JSON.stringify(v));
  const out = new Uint8Array(json.length + 1);
  out[0] = RECORD_FORMAT;
  out.set(json, 1);
  return out;
}

function decodeRecord<T>(b: Uint8Array | undefined): T | undefined {
  if (b === undefined) return undefined;
  if (b[0] !== RECORD_FORMAT) throw new CairnError('FORMAT_VERSION', `S3 record format ${b[0]} is not readable by this build (expects ${RECORD_FORMAT})`);
  return JSON.parse(dec.decode(b.subarray(1))) as T;
}

/** S3's bucket naming rules (3-63 of a-z 0-9 . -, alphanumeric at both ends, not an IP address). */
export function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !/\.\.|\.-|-\./.test(name) && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}

/** The bytes of a key; KeyTooLongError / InvalidArgument for keys S3 refuses. */
export function keyBytes(key: string): Uint8Array {
  const b = enc.encode(key);
  if (b.length === 0) throw new S3Error('InvalidArgument', 'an object key must not be empty');
  if (b.length > MAX_S3_KEY_BYTES) throw new S3Error('KeyTooLongError', undefined, { Size: String(b.length), MaxSizeAllowed: String(MAX_S3_KEY_BYTES) });
  return b;
}

/** A key read back from the index. */
export function keyText(b: Uint8Array): string { return dec.decode(b); }

/**
 * The bytes of `key` escaped so that appending a terminator keeps S3 key order: 0x00 becomes
 * 0x00 0xff. A key's escaped form is a byte prefix of the escaped form of every key it prefixes.
 */
function escapeKey(key: Uint8Array): Uint8Array {
  let zeros = 0;
  for (const b of key) if (b === 0) zeros++;
  if (zeros === 0) return key;
  const out = new Uint8Array(key.length + zeros);
  let o = 0;
  for (const b of key) { out[o++] = b; if (b === 0) out[o++] = 0xff; }
  return out;
}

/** Length of an upload id (hex digits). */
const UPLOAD_ID_BYTES = 32;

/** What ends an escaped key in `s3/upload-keys` (sorts before any continuation of the key). */
const UPLOAD_KEY_END = new Uint8Array([0, 0]);

/**
 * The `s3/upload-keys` dkey of upload `id` of `key`: escaped key, 0x00 0x00, id. Dkeys sort by key
 * (byte order, as S3), then by id; ids begin with their initiation time (`createUpload`), so
 * the uploads of one key sort by initiation as S3 lists them.
 */
export function uploadIndexKey(key: Uint8Array, id: string | Uint8Array): Uint8Array {
  const k = escapeKey(key), i = typeof id === 'string' ? enc.encode(id) : id;
  const out = new Uint8Array(k.length + UPLOAD_KEY_END.length + i.length);
  out.set(k, 0);
  out.set(UPLOAD_KEY_END, k.length);
  out.set(i, k.length + UPLOAD_KEY_END.length);
  return out;
}

/** The key bytes and upload id of an `s3/upload-keys` dkey. */
function parseUploadIndexKey(d: Uint8Array): { key: Uint8Array; id: string } {
  const key: number[] = [];
  for (let i = 0; i < d.length; i++) {
    if (d[i] !== 0) { key.push(d[i]!); continue; }
    if (d[i + 1] === 0xff) { key.push(0); i++; continue; }
    if (d[i + 1] === 0) return { key: new Uint8Array(key), id: dec.decode(d.subarray(i + 2)) };
    break;
  }
  throw new CairnError('CORRUPTED', `an entry of ${UPLOAD_KEYS_OBJECT} is not an escaped key and an upload id`);
}

/**
 * Digest of the part list a CompleteMultipartUpload names (numbers and ETags, quotes dropped as
 * `sameEtag` drops them): what a retried completion must match.
 */
export function completionDigest(wanted: Array<{ n: number; etag: string }>): string {
  const h = createHash('md5');
  for (const w of wanted) h.update(`${w.n}:${w.etag.trim().replace(/^"(.*)"$/, '$1')}\n`);
  return h.digest('hex');
}

/** One page request of ListMultipartUploads (strings as S3 sends them). */
export interface UploadListParams {
  prefix: string;
  delimiter?: string;
  /** Uploads plus common prefixes in the page. */
  maxUploads: number;
  /** Resume after this key (after its uploads up to `uploadIdMarker` when one is given). */
  keyMarker: string;
  uploadIdMarker: string;
}

/** One page of ListMultipartUploads. */
export interface UploadListPage {
  uploads: Array<{ key: string; id: string; initiated: number }>;
  prefixes: string[];
  truncated: boolean;
  /** The page's last entry: an upload (`id` set) or a common prefix. */
  last?: { key: string; id?: string };
}

/** The object class of small metadata objects: replicas surviving what the bucket's class survives. */
export function indexClassFor(bucketClass: string): string {
  const c = parseObjectClass(bucketClass);
  const tolerated = c.kind === 'ec' ? c.parityShards : c.kind === 'replicated' ? c.replicas - 1 : 0;
  if (tolerated === 0) return 'S1';
  for (let n = tolerated + 1; n <= 18; n++) {
    try { return parseObjectClass(`RP_${n}G1`).name; } catch { /* no such replica count: try the next */ }
  }
  return c.name;
}

/** Body array chunk size for a class: whole EC stripes of about BODY_CHUNK_TARGET_BYTES. */
export function bodyChunkFor(oclass: string, cellSize: number): number {
  const c = parseObjectClass(oclass);
  const stripe = c.kind === 'ec' ? c.dataShards * cellSize : 1;
  const chunk = Math.ceil(BODY_CHUNK_TARGET_BYTES / stripe) * stripe;
  return Math.min(chunk, MAX_BODY_CHUNK_BYTES);
}

const isRestart = (err: unknown) => err instanceof CairnError && err.code === 'TX_RESTART';

/** Run `fn` over `items` with at most `limit` in flight, results in order. */
async function mapBounded<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]!); }
  }));
  return out;
}

/** Options of the object layout. */
export interface BucketStoreOptions {
  writeBufferBytes: number;
  readBufferBytes: number;
  minPartBytes: number;
}

/** A read pinned at one epoch; `release()` when done. */
export interface ReadPin { epoch: bigint; release(): Promise<void> }

/** One bucket's objects. */
export class S3Bucket {
  /** Object class of the index and upload objects. */
  readonly indexClass: string;
  /** Object class of bodies (the container's). */
  readonly bodyClass: string;
  /** Array chunk size of new bodies. */
  readonly bodyChunk: number;
  private readonly writeBuffer: number;

  constructor(readonly name: string, readonly cont: Container, private readonly opts: BucketStoreOptions) {
    this.bodyClass = cont.props.oclass;
    this.indexClass = indexClassFor(this.bodyClass);
    this.bodyChunk = bodyChunkFor(this.bodyClass, cont.props.cellSize);
    this.writeBuffer = Math.max(this.bodyChunk, Math.floor(opts.writeBufferBytes / this.bodyChunk) * this.bodyChunk);
  }

  private index() { return this.cont.object(INDEX_OBJECT, { oclass: this.indexClass }); }
  private uploads() { return this.cont.object(UPLOADS_OBJECT, { oclass: this.indexClass }); }
  private uploadKeys() { return this.cont.object(UPLOAD_KEYS_OBJECT, { oclass: this.indexClass }); }

  /** Pin a read at `epoch` (a version id) or at the current stable epoch. */
  pin(epoch?: bigint): ReadPin {
    const tx = this.cont.beginTx();
    return { epoch: epoch ?? tx.readEpoch, release: () => tx.abort() };
  }

  /** The index record of `key` at `epoch`, or undefined. */
  async getRecord(key: string, epoch: bigint): Promise<ObjectRecord | undefined> {
    return decodeRecord<ObjectRecord>(await this.index().fetch(keyBytes(key), META_AKEY, { epoch }));
  }

  /** Whether the bucket holds no object (and no upload in progress). */
  async isEmpty(): Promise<boolean> {
    for await (const _ of this.index().listDkeys({ limit: 1 })) return false;
    for await (const _ of this.uploads().listDkeys({ limit: 1 })) return false;
    return true;
  }

  // ---------------------------------------------------------------- bodies

  /**
   * Stream `src` into a new Array object named `name`: gathered into writes of whole chunks
   * (`writeBufferBytes`), one write in flight while the next one gathers, so an upload holds at
   * most about two buffers whatever its size. On failure the partial body is punched. Pieces are
   * kept by reference until written: the source must not reuse a piece after yielding it (Node
   * streams never do).
   */
  async writeBody(name: string, src: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal?: AbortSignal): Promise<BodyPart> {
    const part: BodyPart = { o: name, n: 0, c: this.bodyChunk, k: this.bodyClass };
    const arr = this.cont.array(name, { chunkSize: part.c, oclass: part.k });
    const W = this.writeBuffer;
    // Incoming pieces wait in a queue (no copy) until a whole write buffer is there.
    const queue: Uint8Array[] = [];
    let queued = 0;
    const take = (n: number): Uint8Array => {
      queued -= n;
      if (queue[0]!.length === n) return queue.shift()!;
      const out = Buffer.allocUnsafe(n);
      for (let o = 0; o < n;) {
        const c = queue[0]!;
        const k = Math.min(c.length, n - o);
        out.set(c.subarray(0, k), o);
        o += k;
        if (k === c.length) queue.shift(); else queue[0] = c.subarray(k);
      }
      return out;
    };
    let pending: Promise<void> | undefined;
    const flush = async (data: Uint8Array) => {
      await pending;
      const at = part.n;
      part.n += data.length;
      const w = arr.write(at, data, { signal });
      w.catch(() => undefined); // awaited before the next write or at the end
      pending = w;
    };
    try {
      for await (const chunk of src) {
        if (chunk.length === 0) continue;
        queue.push(chunk);
        queued += chunk.length;
        while (queued >= W) await flush(take(W));
      }
      if (queued > 0) await flush(take(queued));
      await pending;
      return part;
    } catch (err) {
      await pending?.catch(() => undefined);
      await this.punchBodies([part]);
      throw err;
    }
  }

  /**
   * The bytes [start, end) of a body made of `parts`, read at `epoch` in pieces of
   * `readBufferBytes` with one piece read ahead.
   */
  async *readBody(parts: BodyPart[], start: number, end: number, epoch: bigint, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const pieces: Array<{ part: BodyPart; off: number; len: number }> = [];
    let base = 0;
    for (const part of parts) {
      const pStart = base, pEnd = base + part.n;
      base = pEnd;
      if (pEnd <= start || pStart >= end) continue;
      const R = Math.max(part.c, Math.floor(this.opts.readBufferBytes / part.c) * part.c);
      for (let off = Math.max(start, pStart) - pStart; off < Math.min(end, pEnd) - pStart;) {
        const len = Math.min(R - (off % R), Math.min(end, pEnd) - pStart - off);
        pieces.push({ part, off, len });
        off += len;
      }
    }
    const read = (i: number) => {
      const { part, off, len } = pieces[i]!;
      const p = this.cont.array(part.o, { chunkSize: part.c, oclass: part.k }).read(off, len, { epoch, signal });
      p.catch(() => undefined); // awaited in order below
      return p;
    };
    let ahead = pieces.length > 0 ? read(0) : undefined;
    for (let i = 0; i < pieces.length; i++) {
      const cur = ahead!;
      ahead = i + 1 < pieces.length ? read(i + 1) : undefined;
      const data = await cur;
      yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    }
  }

  /** Punch body objects (best effort: a failure leaves garbage, never wrong data). */
  async punchBodies(parts: BodyPart[]): Promise<void> {
    await Promise.all(parts.map((p) => this.cont.array(p.o, { chunkSize: p.c, oclass: p.k }).object.punch().catch(() => undefined)));
  }

  /** A fresh body object name. */
  newBodyName(kind: 'body' | 'part', uploadId?: string): string {
    const r = randomBytes(12).toString('hex');
    return kind === 'body' ? `s3/body/${r}` : `s3/part/${uploadId}/${r}`;
  }

  // ---------------------------------------------------------------- index flips

  /**
   * Run `fn` in a transaction, committed at one epoch; retried from the start on TX_RESTART
   * (a concurrent commit touched what it read or wrote).
   */
  private async inTx<T>(fn: (tx: Transaction) => Promise<T>): Promise<{ epoch: bigint; value: T }> {
    for (let attempt = 1; ; attempt++) {
      const tx = this.cont.beginTx();
      try {
        const value = await fn(tx);
        const epoch = await tx.commit();
        return { epoch, value };
      } catch (err) {
        await tx.abort();
        if (!isRestart(err) || attempt >= MAX_FLIP_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.min(50, attempt * 2) * Math.random()));
      }
    }
  }

  /** Punch body objects inside a transaction (they disappear at its epoch, with the index change). */
  private async punchInTx(tx: Transaction, parts: BodyPart[]): Promise<void> {
    for (const p of parts) await tx.object(p.o, { oclass: p.k }).punch();
  }

  /**
   * Point `key` at `rec` atomically, returning the epoch (the version id). The bodies of the
   * replaced object that `rec` does not reuse are punched in the same commit: a reader at an
   * earlier epoch still sees the old record and its body, a reader at this epoch the new ones.
   * `cond` checks the current record inside the transaction (PreconditionFailed).
   */
  async putRecord(key: string, rec: ObjectRecord, cond: { ifNoneMatch?: boolean; ifMatch?: string } = {}): Promise<bigint> {
    const k = keyBytes(key);
    const keep = new Set(rec.parts.map((p) => p.o));
    const { epoch } = await this.inTx(async (tx) => {
      const idx = tx.object(INDEX_OBJECT, { oclass: this.indexClass });
      const old = decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY));
      if (cond.ifNoneMatch && old) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-None-Match' });
      if (cond.ifMatch !== undefined && (!old || !etagMatches(cond.ifMatch, old.etag))) throw new S3Error(old ? 'PreconditionFailed' : 'NoSuchKey', undefined, old ? { Condition: 'If-Match' } : {});
      await idx.update(k, META_AKEY, encodeRecord(rec));
      if (old) await this.punchInTx(tx, old.parts.filter((p) => !keep.has(p.o)));
    });
    return epoch;
  }

  /** Remove keys and their bodies in one commit; resolves to the epoch and the keys that existed. */
  async deleteKeys(keys: string[]): Promise<{ epoch: bigint; existed: boolean[] }> {
    const ks = keys.map(keyBytes);
    const { epoch, value: olds } = await this.inTx(async (tx) => {
      const idx = tx.object(INDEX_OBJECT, { oclass: this.indexClass });
      const olds = await mapBounded(ks, RECORD_FETCH_CONCURRENCY, async (k) => decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY)));
      for (let i = 0; i < ks.length; i++) {
        const old = olds[i];
        if (!old) continue;
        await idx.punchDkey(ks[i]!);
        await this.punchInTx(tx, old.parts);
      }
      return olds;
    });
    return { epoch, existed: olds.map((o) => o !== undefined) };
  }

  // ---------------------------------------------------------------- listing

  /** One page of a listing at `epoch`, with the records of its keys (read at the same epoch). */
  async list(params: ListParams, epoch: bigint): Promise<{ page: ListPage; records: ObjectRecord[] }> {
    const idx = this.index();
    const page = await listPage((r) => idx.listDkeys({ ...r, epoch }), params);
    const records = await mapBounded(page.keys, RECORD_FETCH_CONCURRENCY, async (k) => {
      const r = decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY, { epoch }));
      if (!r) throw new CairnError('ASSERTION_FAILED', 'a listed key has no record at the listing epoch');
      return r;
    });
    return { page, records };
  }

  // ---------------------------------------------------------------- multipart

  /**
   * Start a multipart upload; returns its id: 32 hex digits, the initiation time (ms, 12 digits)
   * then 20 random ones, so ids of one key sort by initiation. The upload record and its
   * `s3/upload-keys` entry are written in one commit.
   */
  async createUpload(rec: UploadRecord): Promise<string> {
    const k = keyBytes(rec.key);
    const t = Math.min(Math.max(0, Math.floor(rec.initiated)), 0xffff_ffff_ffff);
    const id = t.toString(16).padStart(12, '0') + randomBytes(10).toString('hex');
    await this.inTx(async (tx) => {
      await tx.object(UPLOADS_OBJECT, { oclass: this.indexClass }).update(id, UPLOAD_AKEY, encodeRecord(rec));
      await tx.object(UPLOAD_KEYS_OBJECT, { oclass: this.indexClass }).update(uploadIndexKey(k, id), UPLOAD_AKEY, encodeRecord({ initiated: rec.initiated }));
    });
    return id;
  }

  /** The upload `id` (NoSuchUpload when absent or for another key). */
  async getUpload(id: string, key?: string): Promise<UploadRecord> {
    if (!/^[0-9a-f]{32}$/.test(id)) throw new S3Error('NoSuchUpload', undefined, { UploadId: id });
    const u = decodeRecord<UploadRecord>(await this.uploads().fetch(id, UPLOAD_AKEY));
    if (!u || (key !== undefined && u.key !== key)) throw new S3Error('NoSuchUpload', undefined, { UploadId: id });
    return u;
  }

  /** Record part `n` of upload `id` (replacing an earlier upload of the same part number). */
  async putPart(id: string, key: string, n: number, part: PartRecord): Promise<void> {
    let replaced: PartRecord | undefined;
    try {
      ({ value: replaced } = await this.inTx(async (tx) => {
        const ups = tx.object(UPLOADS_OBJECT, { oclass: this.indexClass });
        const u = decodeRecord<UploadRecord>(await ups.fetch(id, UPLOAD_AKEY));
        if (!u || u.key !== key) throw new S3Error('NoSuchUpload', undefined, { UploadId: id });
        const old = decodeRecord<PartRecord>(await ups.fetch(id, partAkey(n)));
        await ups.update(id, partAkey(n), encodeRecord(part));
        return old;
      }));
    } catch (err) {
      await this.punchBodies([part.body]);
      throw err;
    }
    if (replaced && replaced.body.o !== part.body.o) await this.punchBodies([replaced.body]);
  }

  /** The parts of upload `id` in part-number order. */
  async listParts(id: string): Promise<Array<{ n: number; part: PartRecord }>> {
    const ups = this.uploads();
    const ns: number[] = [];
    for await (const a of ups.listAkeys(id)) {
      const s = keyText(a);
      if (/^p\d{5}$/.test(s)) ns.push(Number(s.slice(1)));
    }
    const parts = await mapBounded(ns, RECORD_FETCH_CONCURRENCY, async (n) => decodeRecord<PartRecord>(await ups.fetch(id, partAkey(n))));
    return ns.map((n, i) => ({ n, part: parts[i]! })).filter((x) => x.part !== undefined).sort((a, b) => a.n - b.n);
  }

  /**
   * One page of ListMultipartUploads at one epoch: an ordered walk of `s3/upload-keys` from the
   * markers (or the prefix), reading at most the entries the page still needs plus one, and
   * seeking past a whole common prefix (as `listPage` does for objects). Its cost is the page,
   * not the number of uploads in the bucket.
   */
  async listUploads(p: UploadListParams): Promise<UploadListPage> {
    await this.indexOlderUploads();
    const page: UploadListPage = { uploads: [], prefixes: [], truncated: false };
    const prefix = enc.encode(p.prefix);
    // Stored keys hold at most MAX_S3_KEY_BYTES bytes and ids UPLOAD_ID_BYTES: a longer prefix
    // matches nothing, and longer markers resume where their first that-many bytes' entries end
    // (no stored entry lies in between), so no bound outgrows a dkey.
    if (prefix.length > MAX_S3_KEY_BYTES) return page;
    const delimiter = p.delimiter ? enc.encode(p.delimiter) : undefined;
    const ePrefix = escapeKey(prefix);
    let lo: { key: Uint8Array; inclusive: boolean } = { key: ePrefix, inclusive: true };
    if (p.keyMarker !== '') {
      let km = enc.encode(p.keyMarker), idm = enc.encode(p.uploadIdMarker);
      if (km.length > MAX_S3_KEY_BYTES) { km = km.subarray(0, MAX_S3_KEY_BYTES); idm = new Uint8Array(0); }
      let cand: { key: Uint8Array; inclusive: boolean } | undefined;
      if (idm.length > 0) cand = { key: uploadIndexKey(km, idm.subarray(0, UPLOAD_ID_BYTES)), inclusive: false };
      else if (delimiter && commonPrefixOf(km, prefix, delimiter)?.length === km.length && p.keyMarker.startsWith(p.prefix)) {
        // The marker is a common prefix (a NextKeyMarker): resume after every key under it.
        const end = prefixEnd(escapeKey(km));
        if (!end) return page;
        cand = { key: end, inclusive: true };
      } else cand = { key: prefixEnd(uploadIndexKey(km, ''))!, inclusive: true }; // after every upload of the key
      const c = compareBytes(cand.key, lo.key);
      if (c > 0 || (c === 0 && !cand.inclusive)) lo = cand;
    }
    const hi = prefix.length ? prefixEnd(ePrefix) : undefined;
    const pin = this.pin();
    try {
      const idx = this.uploadKeys();
      const found: Array<{ d: Uint8Array; key: string; id: string }> = [];
      let count = 0;
      walk: for (;;) {
        const range: KeyRange & { epoch: bigint } = { epoch: pin.epoch, limit: p.maxUploads - count + 1 };
        if (lo.key.length > 0 || !lo.inclusive) { if (lo.inclusive) range.gte = lo.key; else range.gt = lo.key; }
        if (hi) range.lt = hi;
        let reseek = false;
        for await (const d of idx.listDkeys(range)) {
          const { key, id } = parseUploadIndexKey(d);
          if (count === p.maxUploads) { page.truncated = true; break walk; }
          count++;
          const cp = commonPrefixOf(key, prefix, delimiter);
          if (cp) {
            page.prefixes.push(keyText(cp));
            page.last = { key: keyText(cp) };
            const next = prefixEnd(escapeKey(cp));
            if (!next) break walk;
            lo = { key: next, inclusive: true };
            reseek = true;
            break; // seek past every upload under the common prefix
          }
          found.push({ d, key: keyText(key), id });
          page.last = { key: keyText(key), id };
          lo = { key: d, inclusive: false };
        }
        if (!reseek) break;
      }
      page.uploads = await mapBounded(found, RECORD_FETCH_CONCURRENCY, async (f) => {
        const r = decodeRecord<{ initiated: number }>(await idx.fetch(f.d, UPLOAD_AKEY, { epoch: pin.epoch }));
        return { key: f.key, id: f.id, initiated: r?.initiated ?? 0 };
      });
    } finally {
      await pin.release();
    }
    return page;
  }

  /**
   * Give uploads started before `s3/upload-keys` existed (by an older gateway) their entries,
   * once per bucket: each in a transaction that re-reads the upload, so one completed or aborted
   * meanwhile gets none; then mark the bucket as indexed. New buckets are marked when created,
   * and a bucket without uploads needs no mark.
   */
  private async indexOlderUploads(): Promise<void> {
    const meta = this.cont.kv(BUCKET_OBJECT, { oclass: this.indexClass });
    if (await meta.has(UPLOADS_INDEXED_KEY)) return;
    let any = false;
    for await (const d of this.uploads().listDkeys()) {
      any = true;
      const id = keyText(d);
      await this.inTx(async (tx) => {
        const u = decodeRecord<UploadRecord>(await tx.object(UPLOADS_OBJECT, { oclass: this.indexClass }).fetch(id, UPLOAD_AKEY));
        if (u) await tx.object(UPLOAD_KEYS_OBJECT, { oclass: this.indexClass }).update(uploadIndexKey(enc.encode(u.key), id), UPLOAD_AKEY, encodeRecord({ initiated: u.initiated }));
      });
    }
    if (any) await meta.put(UPLOADS_INDEXED_KEY, new Uint8Array(0));
  }

  /**
   * Complete upload `id` with the listed parts: the object's record lists the part bodies (no
   * copy), written together with the removal of the upload in one transaction. Parts are read
   * inside the transaction, so a part replaced concurrently restarts it.
   *
   * A retry of a completion that succeeded (its answer lost) finds no upload; when `key` still
   * holds the record that completion wrote, with the same part list (`completedUpload`), it
   * resolves to that record again (writing nothing) with the epoch that completion committed at
   * when it was noted (`COMPLETED_AKEY`; none for a record without the note), else NoSuchUpload.
   */
  async completeUpload(id: string, key: string, wanted: Array<{ n: number; etag: string }>, build: (u: UploadRecord, parts: PartRecord[]) => ObjectRecord): Promise<{ epoch?: bigint; record: ObjectRecord }> {
    if (wanted.length === 0) throw new S3Error('MalformedXML', 'CompleteMultipartUpload needs at least one part');
    if (wanted.length > MAX_PARTS) throw new S3Error('InvalidArgument', `at most ${MAX_PARTS} parts`);
    for (let i = 1; i < wanted.length; i++) if (wanted[i]!.n <= wanted[i - 1]!.n) throw new S3Error('InvalidPartOrder');
    const k = keyBytes(key);
    const digest = completionDigest(wanted);
    let record!: ObjectRecord;
    let done: { epoch?: bigint; record: ObjectRecord } | undefined;
    const { epoch } = await this.inTx(async (tx) => {
      done = undefined;
      const ups = tx.object(UPLOADS_OBJECT, { oclass: this.indexClass });
      const u = decodeRecord<UploadRecord>(await ups.fetch(id, UPLOAD_AKEY));
      if (!u) {
        const idx = tx.object(INDEX_OBJECT, { oclass: this.indexClass });
        const cur = decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY));
        if (cur?.completedUpload?.id === id && cur.completedUpload.parts === digest) {
          const note = decodeRecord<{ id: string; version: string }>(await idx.fetch(k, COMPLETED_AKEY));
          done = { record: cur, ...(note?.id === id ? { epoch: BigInt(note.version) } : {}) };
          return;
        }
      }
      if (!u || u.key !== key) throw new S3Error('NoSuchUpload', undefined, { UploadId: id });
      const parts = await mapBounded(wanted, RECORD_FETCH_CONCURRENCY, async (w) => decodeRecord<PartRecord>(await ups.fetch(id, partAkey(w.n))));
      parts.forEach((p, i) => {
        if (!p || !sameEtag(wanted[i]!.etag, p.etag)) throw new S3Error('InvalidPart', undefined, { PartNumber: String(wanted[i]!.n), ETag: wanted[i]!.etag });
        if (i < parts.length - 1 && p.size < this.opts.minPartBytes) {
          throw new S3Error('EntityTooSmall', undefined, { PartNumber: String(wanted[i]!.n), ProposedSize: String(p.size), MinSizeAllowed: String(this.opts.minPartBytes) });
        }
      });
      record = { ...build(u, parts as PartRecord[]), completedUpload: { id, parts: digest } };
      const idx = tx.object(INDEX_OBJECT, { oclass: this.indexClass });
      const keep = new Set(record.parts.map((p) => p.o));
      const old = decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY));
      await idx.update(k, META_AKEY, encodeRecord(record));
      await ups.punchDkey(id);
      await tx.object(UPLOAD_KEYS_OBJECT, { oclass: this.indexClass }).punchDkey(uploadIndexKey(k, id));
      if (old) await this.punchInTx(tx, old.parts.filter((p) => !keep.has(p.o)));
    });
    if (done) return done;
    // Best effort: without the note a retry answers no version id, as for an older record.
    await this.noteCompletion(k, id, epoch).catch(swallow('s3.completion-note-not-written'));
    // Parts uploaded but left out of the object are punched afterwards.
    const keep = new Set(record.parts.map((p) => p.o));
    await this.punchBodies((await this.partsAt(id, epoch - 1n)).filter((p) => !keep.has(p.o)));
    return { epoch, record };
  }

  /**
   * Note beside `key`'s record that upload `id` completed into it at `epoch` (`COMPLETED_AKEY`),
   * in its own commit, while the record is still the one that completion wrote (an overwrite or
   * delete meanwhile restarts it, and then it writes nothing).
   */
  private async noteCompletion(k: Uint8Array, id: string, epoch: bigint): Promise<void> {
    await this.inTx(async (tx) => {
      // (an older commit of this gateway still in flight holds the stable epoch below the completion)
      if (tx.readEpoch < epoch) throw new CairnError('TX_RESTART', 'the completion is above the read epoch: begin again');
      const idx = tx.object(INDEX_OBJECT, { oclass: this.indexClass });
      const cur = decodeRecord<ObjectRecord>(await idx.fetch(k, META_AKEY));
      if (cur?.completedUpload?.id === id) await idx.update(k, COMPLETED_AKEY, encodeRecord({ id, version: epoch.toString() }));
    });
  }

  /** Part bodies of upload `id` as they were at `epoch`. */
  private async partsAt(id: string, epoch: bigint): Promise<BodyPart[]> {
    const ups = this.uploads();
    const out: BodyPart[] = [];
    for await (const a of ups.listAkeys(id, { epoch })) {
      if (!/^p\d{5}$/.test(keyText(a))) continue;
      const p = decodeRecord<PartRecord>(await ups.fetch(id, a, { epoch }));
      if (p) out.push(p.body);
    }
    return out;
  }

  /** Abort upload `id`: remove it (one commit), then punch its part bodies. */
  async abortUpload(id: string, key: string): Promise<void> {
    await this.getUpload(id, key);
    const { epoch } = await this.inTx(async (tx) => {
      const ups = tx.object(UPLOADS_OBJECT, { oclass: this.indexClass });
      const u = decodeRecord<UploadRecord>(await ups.fetch(id, UPLOAD_AKEY));
      if (!u || u.key !== key) throw new S3Error('NoSuchUpload', undefined, { UploadId: id });
      await ups.punchDkey(id);
      await tx.object(UPLOAD_KEYS_OBJECT, { oclass: this.indexClass }).punchDkey(uploadIndexKey(keyBytes(key), id));
    });
    await this.punchBodies(await this.partsAt(id, epoch - 1n));
  }
}

/** Whether an ETag condition (quoted or not, or `*`) matches `etag`. */
export function etagMatches(cond: string, etag: string): boolean {
  return cond.split(',').map((s) => s.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')).some((c) => c === '*' || c === etag);
}

/**
 * Whether the ETag a client names (quoted or not) is exactly `etag`. Unlike a condition header,
 * a part's ETag in CompleteMultipartUpload is one value: `*` or a list names no part.
 */
export function sameEtag(named: string, etag: string): boolean {
  return named.trim().replace(/^"(.*)"$/, '$1') === etag;
}

/** Options of the bucket store. */
export interface S3StoreOptions extends BucketStoreOptions {
  /** Properties of containers created by CreateBucket. */
  bucketDefaults: ContainerCreateOptions;
}

/** Buckets of a pool. */
export class S3Store {
  constructor(readonly pool: Pool, private readonly opts: S3StoreOptions) {}

  /** The bucket `name` (NoSuchBucket when there is no such container). */
  async bucket(name: string): Promise<S3Bucket> {
    if (!validBucketName(name)) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
    try {
      return new S3Bucket(name, await this.pool.openContainer(name), this.opts);
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NOT_FOUND') throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
      throw err;
    }
  }

  /** Create bucket `name`: a container with `props` (defaults from the options). */
  async createBucket(name: string, props: ContainerCreateOptions = {}): Promise<void> {
    if (!validBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name });
    let cont: Container;
    try {
      cont = await this.pool.createContainer(name, { ...this.opts.bucketDefaults, ...props });
    } catch (err) {
      if (err instanceof CairnError && err.code === 'EXISTS') throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
      throw err;
    }
    const meta = cont.kv(BUCKET_OBJECT, { oclass: indexClassFor(cont.props.oclass) });
    await meta.put('meta', encodeRecord({ created: Date.now() }));
    await meta.put(UPLOADS_INDEXED_KEY, new Uint8Array(0)); // (every upload of a new bucket is in s3/upload-keys)
  }

  /** Delete bucket `name` (BucketNotEmpty unless it holds no object and no upload). */
  async deleteBucket(name: string): Promise<void> {
    const b = await this.bucket(name);
    if (!(await b.isEmpty())) throw new S3Error('BucketNotEmpty', undefined, { BucketName: name });
    await this.pool.destroyContainer(name);
  }

  /** Every bucket: containers whose label is a valid bucket name, with their creation time. */
  async listBuckets(): Promise<Array<{ name: string; created: number }>> {
    const out: Array<{ name: string; created: number }> = [];
    for (const c of await this.pool.listContainers()) {
      if (!validBucketName(c.label)) continue;
      const cont = await this.pool.openContainer(c.label);
      const meta = decodeRecord<{ created: number }>(await cont.kv(BUCKET_OBJECT, { oclass: indexClassFor(cont.props.oclass) }).get('meta').catch(() => undefined));
      out.push({ name: c.label, created: meta?.created ?? 0 });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
