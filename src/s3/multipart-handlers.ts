/**
 * Multipart uploads: Create, UploadPart (and UploadPartCopy), ListParts, Complete, Abort, and
 * ListMultipartUploads. Each part is its own body object; Complete lists the parts' bodies in the
 * object's index record (no copy) with S3's multipart ETag, MD5 of the part MD5s, `-N`.
 */
import { createHash } from 'node:crypto';
import { S3Error } from './errors.js';
import { el, xmlDocument, type Xml } from './xml.js';
import { parseXml, textOf } from './xml-parse.js';
import { header, sendXml, sendEmpty, quoted, isoTime, metadataFromHeaders, intParam, checksumResponseHeader, listEncoding, type RequestContext } from './context.js';
import { MAX_PARTS, type ObjectRecord, type PartRecord } from './bucket-store.js';
import { copyBody } from './object-handlers.js';

const OWNER = () => [el('ID', 'cairn'), el('DisplayName', 'cairn')];

/** POST /bucket/key?uploads */
export async function createUpload(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const md = metadataFromHeaders(ctx);
  await ctx.body().readAll(ctx.settings.maxXmlBytes);
  const id = await bucket.createUpload({ key: ctx.key!, initiated: Date.now(), ...md });
  sendXml(ctx, 200, xmlDocument(el('InitiateMultipartUploadResult', [el('Bucket', ctx.bucket!), el('Key', ctx.key!), el('UploadId', id)])));
}

function partNumberOf(ctx: RequestContext): number {
  return intParam(ctx, 'partNumber', 0, 1, MAX_PARTS);
}

/** PUT /bucket/key?partNumber=N&uploadId=ID (with x-amz-copy-source: UploadPartCopy). */
export async function uploadPart(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const id = ctx.query.get('uploadId')!;
  const n = partNumberOf(ctx);
  await bucket.getUpload(id, ctx.key!);
  const name = bucket.newBodyName('part', id);
  const copy = header(ctx, 'x-amz-copy-source') !== undefined;
  let part: PartRecord;
  if (copy) {
    const rangeHeader = header(ctx, 'x-amz-copy-source-range');
    let range: { start: number; end: number } | undefined;
    if (rangeHeader !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader.trim());
      if (!m || Number(m[2]) < Number(m[1])) throw new S3Error('InvalidArgument', 'x-amz-copy-source-range must be bytes=first-last', { ArgumentName: 'x-amz-copy-source-range' });
      range = { start: Number(m[1]), end: Number(m[2]) + 1 };
    }
    await ctx.body().readAll(0);
    const copied = await copyBody(ctx, bucket, name, range);
    if (copied.size > ctx.settings.maxPartBytes) { await bucket.punchBodies(copied.parts); throw new S3Error('EntityTooLarge'); }
    part = { etag: copied.md5, size: copied.size, mtime: Date.now(), body: copied.parts[0] ?? { o: name, n: 0, c: bucket.bodyChunk, k: bucket.bodyClass } };
  } else {
    const body = ctx.body();
    const written = await bucket.writeBody(name, body, ctx.signal);
    part = { etag: body.md5hex, size: body.bytes, mtime: Date.now(), body: written, ...(body.checksum ? { checksum: body.checksum } : {}) };
  }
  await bucket.putPart(id, ctx.key!, n, part);
  if (copy) sendXml(ctx, 200, xmlDocument(el('CopyPartResult', [el('LastModified', isoTime(part.mtime)), el('ETag', quoted(part.etag))])));
  else sendEmpty(ctx, 200, { etag: quoted(part.etag), ...checksumResponseHeader(part) });
}

/** GET /bucket/key?uploadId=ID */
export async function listParts(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const id = ctx.query.get('uploadId')!;
  await bucket.getUpload(id, ctx.key!);
  const maxParts = intParam(ctx, 'max-parts', 1000, 0, 1000);
  const marker = intParam(ctx, 'part-number-marker', 0, 0, MAX_PARTS);
  const all = (await bucket.listParts(id)).filter((p) => p.n > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  const items: Xml[] = page.map(({ n, part }) => el('Part', [el('PartNumber', n), el('LastModified', isoTime(part.mtime)), el('ETag', quoted(part.etag)), el('Size', part.size)]));
  sendXml(ctx, 200, xmlDocument(el('ListPartsResult', [
    el('Bucket', ctx.bucket!), el('Key', ctx.key!), el('UploadId', id),
    el('PartNumberMarker', marker), el('NextPartNumberMarker', page.length ? page[page.length - 1]!.n : marker),
    el('MaxParts', maxParts), el('IsTruncated', truncated),
    el('Initiator', OWNER()), el('Owner', OWNER()), el('StorageClass', 'STANDARD'),
    ...items,
  ])));
}

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`. */
export function multipartEtag(partEtags: string[]): string {
  const h = createHash('md5');
  for (const e of partEtags) h.update(Buffer.from(e, 'hex'));
  return `${h.digest('hex')}-${partEtags.length}`;
}

/** POST /bucket/key?uploadId=ID */
export async function completeUpload(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const id = ctx.query.get('uploadId')!;
  const doc = parseXml(await ctx.body().readAll(ctx.settings.maxXmlBytes), 'CompleteMultipartUpload');
  const parts = (doc.Part as Array<Record<string, unknown>> | undefined) ?? [];
  const wanted = parts.map((p) => {
    const n = textOf(p, 'PartNumber').trim(), etag = textOf(p, 'ETag').trim();
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_PARTS || etag === '') throw new S3Error('MalformedXML', 'each Part needs a PartNumber in 1..10000 and an ETag');
    return { n: Number(n), etag };
  });
  const { epoch, record } = await bucket.completeUpload(id, ctx.key!, wanted, (u, ps): ObjectRecord => ({
    size: ps.reduce((a, p) => a + p.size, 0),
    etag: multipartEtag(ps.map((p) => p.etag)),
    mtime: Date.now(),
    contentType: u.contentType, meta: u.meta, headers: u.headers,
    parts: ps.map((p) => p.body),
    partCount: ps.length,
  }));
  const host = header(ctx, 'host') ?? 'localhost';
  sendXml(ctx, 200, xmlDocument(el('CompleteMultipartUploadResult', [
    el('Location', `http://${host}/${ctx.bucket}/${encodeURI(ctx.key!)}`), el('Bucket', ctx.bucket!), el('Key', ctx.key!), el('ETag', quoted(record.etag)),
  ])), epoch !== undefined ? { 'x-amz-version-id': epoch.toString() } : {}); // (a retry of a completion whose epoch was not noted: no version id)
}

/** DELETE /bucket/key?uploadId=ID */
export async function abortUpload(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  await bucket.abortUpload(ctx.query.get('uploadId')!, ctx.key!);
  sendEmpty(ctx, 204);
}

/**
 * GET /bucket?uploads: one page in key order, then initiation order within a key, from
 * `key-marker` (after `upload-id-marker` within that key when given), filtered by `prefix`, with
 * keys rolled up into CommonPrefixes by `delimiter`. An ordered walk of the bucket's upload
 * index: it reads about `max-uploads` entries however many uploads the bucket holds. With
 * `encoding-type=url` keys, prefixes, the delimiter and the key markers are percent-encoded, as
 * ListObjects encodes them.
 */
export async function listUploads(ctx: RequestContext): Promise<void> {
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const maxUploads = intParam(ctx, 'max-uploads', 1000, 0, 1000);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') || undefined;
  const keyMarker = ctx.query.get('key-marker') ?? '';
  const idMarker = keyMarker === '' ? '' : ctx.query.get('upload-id-marker') ?? '';
  const { encoding, show } = listEncoding(ctx);
  const page = await bucket.listUploads({ prefix, delimiter, maxUploads, keyMarker, uploadIdMarker: idMarker });
  sendXml(ctx, 200, xmlDocument(el('ListMultipartUploadsResult', [
    el('Bucket', ctx.bucket!), el('KeyMarker', show(keyMarker)), el('UploadIdMarker', ctx.query.get('upload-id-marker') ?? ''),
    el('NextKeyMarker', show(page.last?.key ?? '')), el('NextUploadIdMarker', page.last?.id ?? ''), el('Prefix', show(prefix)),
    ...(delimiter ? [el('Delimiter', show(delimiter))] : []),
    el('MaxUploads', maxUploads), ...(encoding ? [el('EncodingType', encoding)] : []), el('IsTruncated', page.truncated),
    ...page.uploads.map((u) => el('Upload', [
      el('Key', show(u.key)), el('UploadId', u.id), el('Initiator', OWNER()), el('Owner', OWNER()),
      el('StorageClass', 'STANDARD'), el('Initiated', isoTime(u.initiated)),
    ])),
    ...page.prefixes.map((p) => el('CommonPrefixes', [el('Prefix', show(p))])),
  ])));
}
