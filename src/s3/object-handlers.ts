/**
 * Object operations: PutObject, GetObject / HeadObject (Range, conditions, `versionId` = epoch,
 * `partNumber`), DeleteObject, CopyObject. Bodies stream in both directions; a PUT writes its
 * body first and flips the index entry in one commit.
 */
import { createHash } from 'node:crypto';
import { S3Error } from './errors.js';
import { el, xmlDocument } from './xml.js';
import {
  header, sendXml, sendEmpty, sendStream, quoted, isoTime, metadataFromHeaders, objectHeaders, parseRange,
  checkConditions, parseVersionId, checksumResponseHeader, intParam, type RequestContext,
} from './context.js';
import type { ObjectRecord, S3Bucket, BodyPart } from './bucket-store.js';
import { MAX_PARTS } from './bucket-store.js';

/** Write a body (from the request or a copy) into a new body object of `bucket`. */
async function storeBody(ctx: RequestContext, bucket: S3Bucket, src: AsyncIterable<Uint8Array>, name: string): Promise<BodyPart[]> {
  const part = await bucket.writeBody(name, src, ctx.signal);
  return part.n > 0 ? [part] : [];
}

/** PUT /bucket/key (no copy source). */
export async function putObject(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const md = metadataFromHeaders(ctx);
  const ifNoneMatch = header(ctx, 'if-none-match');
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') throw new S3Error('NotImplemented', 'If-None-Match on PUT supports only *');
  const ifMatch = header(ctx, 'if-match');
  if (ifNoneMatch === '*') {
    // Refuse early when the key exists; the flip checks again inside its transaction.
    const pin = bucket.pin();
    try { if (await bucket.getRecord(ctx.key!, pin.epoch)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-None-Match' }); } finally { await pin.release(); }
  }
  const body = ctx.body();
  const parts = await storeBody(ctx, bucket, body, bucket.newBodyName('body'));
  const rec: ObjectRecord = {
    size: body.bytes, etag: body.md5hex, mtime: Date.now(), ...md, parts, ...(body.checksum ? { checksum: body.checksum } : {}),
  };
  let epoch: bigint;
  try {
    epoch = await bucket.putRecord(ctx.key!, rec, { ifNoneMatch: ifNoneMatch === '*', ifMatch });
  } catch (err) {
    await bucket.punchBodies(parts);
    throw err;
  }
  sendEmpty(ctx, 200, { etag: quoted(rec.etag), 'x-amz-version-id': epoch.toString(), ...checksumResponseHeader(rec) });
}

/** The record a GET/HEAD reads, pinned at the version's epoch (or now). */
async function readRecord(ctx: RequestContext, bucket: S3Bucket): Promise<{ rec: ObjectRecord; pin: { epoch: bigint; release(): Promise<void> }; version?: bigint }> {
  const version = parseVersionId(ctx.query.get('versionId'));
  const pin = bucket.pin(version);
  try {
    const rec = await bucket.getRecord(ctx.key!, pin.epoch);
    if (!rec) throw new S3Error(version !== undefined ? 'NoSuchVersion' : 'NoSuchKey', undefined, { Key: ctx.key!, ...(version !== undefined ? { VersionId: version.toString() } : {}) });
    return { rec, pin, version };
  } catch (err) {
    await pin.release();
    throw err;
  }
}

const RESPONSE_OVERRIDES: Array<[string, string]> = [
  ['response-content-type', 'content-type'], ['response-content-language', 'content-language'], ['response-expires', 'expires'],
  ['response-cache-control', 'cache-control'], ['response-content-disposition', 'content-disposition'], ['response-content-encoding', 'content-encoding'],
];

/** GET or HEAD /bucket/key. */
export async function getObject(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const { rec, pin, version } = await readRecord(ctx, bucket);
  try {
    const headers = objectHeaders(rec);
    if (version !== undefined) headers['x-amz-version-id'] = version.toString();
    if (checkConditions(ctx, rec) === 304) {
      const { 'content-type': _t, 'accept-ranges': _a, ...h } = headers;
      sendEmpty(ctx, 304, h);
      return;
    }
    for (const [q, h] of RESPONSE_OVERRIDES) { const v = ctx.query.get(q); if (v !== undefined) headers[h] = v; }
    let start = 0, end = rec.size, status = 200;
    const partNumber = ctx.query.has('partNumber') ? intParam(ctx, 'partNumber', 1, 1, MAX_PARTS) : undefined;
    if (partNumber !== undefined) {
      if (header(ctx, 'range') !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
      const sizes = rec.partCount ? rec.parts.map((p) => p.n) : [rec.size];
      if (partNumber > sizes.length) throw new S3Error('InvalidPart', 'the object has fewer parts', { PartNumber: String(partNumber) });
      start = sizes.slice(0, partNumber - 1).reduce((a, b) => a + b, 0);
      end = start + sizes[partNumber - 1]!;
      headers['x-amz-mp-parts-count'] = String(sizes.length);
      if (rec.partCount) status = 206;
    } else {
      const r = parseRange(header(ctx, 'range'), rec.size);
      if (r) { start = r.start; end = r.end; status = 206; }
    }
    if (status === 206) headers['content-range'] = `bytes ${start}-${end - 1}/${rec.size}`;
    else if (header(ctx, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') Object.assign(headers, checksumResponseHeader(rec));
    headers['content-length'] = String(end - start);
    await sendStream(ctx, status, headers, bucket.readBody(rec.parts, start, end, pin.epoch, ctx.signal));
  } finally {
    await pin.release();
  }
}

/** DELETE /bucket/key: 204 whether or not the key existed, as S3. */
export async function deleteObject(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const { epoch, existed } = await bucket.deleteKeys([ctx.key!]);
  sendEmpty(ctx, 204, existed[0] ? { 'x-amz-version-id': epoch.toString() } : {});
}

/** The source of a copy: `x-amz-copy-source` = [/]bucket/key[?versionId=E], URL-encoded. */
export function parseCopySource(v: string): { bucket: string; key: string; version?: bigint } {
  const q = v.indexOf('?');
  const path = q < 0 ? v : v.slice(0, q);
  let decoded: string;
  try { decoded = decodeURIComponent(path.startsWith('/') ? path.slice(1) : path); } catch { throw new S3Error('InvalidArgument', 'x-amz-copy-source is not properly URL-encoded', { ArgumentName: 'x-amz-copy-source' }); }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new S3Error('InvalidArgument', 'x-amz-copy-source must be bucket/key', { ArgumentName: 'x-amz-copy-source' });
  let version: bigint | undefined;
  if (q >= 0) {
    const params = new URLSearchParams(v.slice(q + 1));
    version = parseVersionId(params.get('versionId') ?? undefined);
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), version };
}

/**
 * Stream a source object's bytes [start, end) into a new body of `dst`, returning the body
 * and the MD5 of the copied bytes. The source stays pinned until the copy is written.
 */
export async function copyBody(ctx: RequestContext, dst: S3Bucket, name: string, range?: { start: number; end: number }): Promise<{ parts: BodyPart[]; md5: string; size: number; src: ObjectRecord; version?: bigint }> {
  const source = parseCopySource(header(ctx, 'x-amz-copy-source')!);
  const srcBucket = await ctx.store.bucket(source.bucket);
  const pin = srcBucket.pin(source.version);
  try {
    const src = await srcBucket.getRecord(source.key, pin.epoch);
    if (!src) throw new S3Error(source.version !== undefined ? 'NoSuchVersion' : 'NoSuchKey', undefined, { Key: source.key });
    checkConditions(ctx, src, 'x-amz-copy-source-');
    const r = range ?? { start: 0, end: src.size };
    if (r.end > src.size || r.start > r.end) throw new S3Error('InvalidRange', undefined, { ActualObjectSize: String(src.size) });
    const md5 = createHash('md5');
    const counted = (async function* () {
      for await (const b of srcBucket.readBody(src.parts, r.start, r.end, pin.epoch, ctx.signal)) { md5.update(b); yield b; }
    })();
    const parts = await storeBody(ctx, dst, counted, name);
    return { parts, md5: md5.digest('hex'), size: r.end - r.start, src, version: source.version };
  } finally {
    await pin.release();
  }
}

/** PUT /bucket/key with x-amz-copy-source: CopyObject. */
export async function copyObject(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const directive = (header(ctx, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', 'x-amz-metadata-directive must be COPY or REPLACE', { ArgumentName: 'x-amz-metadata-directive' });
  const source = parseCopySource(header(ctx, 'x-amz-copy-source')!);
  if (source.bucket === ctx.bucket && source.key === ctx.key && directive === 'COPY' && source.version === undefined) {
    throw new S3Error('InvalidRequest', 'This copy request is illegal because it is trying to copy an object to itself without changing the object\'s metadata, storage class, website redirect location or encryption attributes.');
  }
  await ctx.body().readAll(0); // a copy carries no body
  const copied = await copyBody(ctx, bucket, bucket.newBodyName('body'));
  const md = directive === 'REPLACE' ? metadataFromHeaders(ctx) : { contentType: copied.src.contentType, meta: copied.src.meta, headers: copied.src.headers };
  const rec: ObjectRecord = { size: copied.size, etag: copied.md5, mtime: Date.now(), ...md, parts: copied.parts };
  let epoch: bigint;
  try {
    epoch = await bucket.putRecord(ctx.key!, rec);
  } catch (err) {
    await bucket.punchBodies(copied.parts);
    throw err;
  }
  sendXml(ctx, 200, xmlDocument(el('CopyObjectResult', [el('LastModified', isoTime(rec.mtime)), el('ETag', quoted(rec.etag))])), {
    'x-amz-version-id': epoch.toString(),
    ...(copied.version !== undefined ? { 'x-amz-copy-source-version-id': copied.version.toString() } : {}),
  });
}
