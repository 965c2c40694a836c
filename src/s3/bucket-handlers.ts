/**
 * Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation,
 * GetBucketVersioning, ListObjects (V1 and V2), DeleteObjects, and Cairn's bucket snapshots
 * (`?cairn-snapshot=NAME` to take or drop one, `?cairn-snapshots` to list them; a snapshot's
 * version id is its epoch, readable with `GetObject ?versionId=` and `ListObjects ?cairn-epoch=`).
 */
import { CairnError } from '../../core/errors.js';
import type { ContainerCreateOptions, Snapshot } from '../index.js';
import { S3Error, toS3Error } from './errors.js';
import { el, xmlDocument, type Xml } from './xml.js';
import { parseXml, textOf } from './xml-parse.js';
import { header, sendXml, sendEmpty, quoted, isoTime, intParam, parseVersionId, listEncoding, type RequestContext } from './context.js';
import { keyText, keyBytes } from './bucket-store.js';
import { decodeToken, encodeToken, type ListParams } from './listing.js';

/** Most keys in one DeleteObjects request, as S3. */
export const MAX_DELETE_KEYS = 1000;
/** Most keys in one listing page, as S3. */
export const MAX_LIST_KEYS = 1000;

const OWNER = () => [el('ID', 'cairn'), el('DisplayName', 'cairn')];
const enc = new TextEncoder();

/** GET / */
export async function listBuckets(ctx: RequestContext): Promise<void> {
  const buckets = await ctx.store.listBuckets();
  sendXml(ctx, 200, xmlDocument(el('ListAllMyBucketsResult', [
    el('Owner', OWNER()),
    el('Buckets', buckets.map((b) => el('Bucket', [el('Name', b.name), el('CreationDate', isoTime(b.created))]))),
  ])));
}

/** PUT /bucket (container properties from `x-cairn-oclass`, `x-cairn-redundancy-factor`, `x-cairn-cell-size`). */
export async function createBucket(ctx: RequestContext): Promise<void> {
  const body = await ctx.body().readAll(ctx.settings.maxXmlBytes);
  if (body.length > 0) parseXml(body, 'CreateBucketConfiguration');
  const props: ContainerCreateOptions = {};
  const oclass = header(ctx, 'x-cairn-oclass');
  if (oclass !== undefined) props.oclass = oclass;
  const rf = header(ctx, 'x-cairn-redundancy-factor');
  if (rf !== undefined) props.redundancyFactor = Number(rf);
  const cell = header(ctx, 'x-cairn-cell-size');
  if (cell !== undefined) props.cellSize = Number(cell);
  await ctx.store.createBucket(ctx.bucket!, props);
  sendEmpty(ctx, 200, { location: `/${ctx.bucket}` });
}

/** DELETE /bucket */
export async function deleteBucket(ctx: RequestContext): Promise<void> {
  await ctx.store.deleteBucket(ctx.bucket!);
  sendEmpty(ctx, 204);
}

/** HEAD /bucket */
export async function headBucket(ctx: RequestContext): Promise<void> {
  const b = await ctx.store.bucket(ctx.bucket!);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': ctx.settings.region, 'x-cairn-oclass': b.bodyClass });
}

/** GET /bucket?location */
export async function getLocation(ctx: RequestContext): Promise<void> {
  await ctx.store.bucket(ctx.bucket!);
  const r = ctx.settings.region;
  sendXml(ctx, 200, xmlDocument(el('LocationConstraint', r === 'us-east-1' ? '' : r)));
}

/** GET /bucket?versioning: S3 versioning is not enabled (versions are epochs; see docs/s3.md). */
export async function getVersioning(ctx: RequestContext): Promise<void> {
  await ctx.store.bucket(ctx.bucket!);
  sendXml(ctx, 200, xmlDocument(el('VersioningConfiguration', [])));
}

/** The epoch a listing reads at: `cairn-epoch=E`, `cairn-snapshot=NAME`, or now. */
async function listingEpoch(ctx: RequestContext): Promise<bigint | undefined> {
  const e = parseVersionId(ctx.query.get('cairn-epoch'));
  if (e !== undefined) return e;
  const snap = ctx.query.get('cairn-snapshot');
  if (snap === undefined) return undefined;
  const b = await ctx.store.bucket(ctx.bucket!);
  const s = b.cont.listSnapshots().find((x: Snapshot) => x.name === snap);
  if (!s) throw new S3Error('NoSuchVersion', `no snapshot named ${snap}`, { Snapshot: snap });
  return s.epoch;
}

/** GET /bucket: ListObjects V1, or V2 with `list-type=2`. */
export async function listObjects(ctx: RequestContext): Promise<void> {
  const v2 = ctx.query.get('list-type') === '2';
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const prefix = ctx.query.get('prefix') ?? '';
  const delimiter = ctx.query.get('delimiter') || undefined;
  const maxKeys = intParam(ctx, 'max-keys', MAX_LIST_KEYS, 0, Number.MAX_SAFE_INTEGER);
  const { encoding, show } = listEncoding(ctx);
  const params: ListParams = { prefix: enc.encode(prefix), delimiter: delimiter ? enc.encode(delimiter) : undefined, maxKeys: Math.min(maxKeys, MAX_LIST_KEYS) };
  const token = ctx.query.get('continuation-token');
  const startAfter = v2 ? ctx.query.get('start-after') : ctx.query.get('marker');
  if (v2 && token !== undefined) {
    const t = decodeToken(token);
    if (!t) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    params.after = t;
  } else if (startAfter) {
    const k = enc.encode(startAfter);
    // A V1 marker that is itself a common prefix (NextMarker) resumes after everything under it.
    const rest = startAfter.slice(prefix.length);
    const isPrefix = !v2 && !!delimiter && startAfter.startsWith(prefix) && rest.endsWith(delimiter) && rest.indexOf(delimiter) === rest.length - delimiter.length;
    params.after = { key: k, isPrefix };
  }
  const pin = bucket.pin(await listingEpoch(ctx));
  let result;
  try { result = await bucket.list(params, pin.epoch); } finally { await pin.release(); }
  const { page, records } = result;
  const contents: Xml[] = page.keys.map((k, i) => {
    const r = records[i]!;
    return el('Contents', [
      el('Key', show(keyText(k))), el('LastModified', isoTime(r.mtime)), el('ETag', quoted(r.etag)), el('Size', r.size),
      ...(!v2 || ctx.query.get('fetch-owner') === 'true' ? [el('Owner', OWNER())] : []),
      el('StorageClass', 'STANDARD'),
    ]);
  });
  const prefixes = page.prefixes.map((p) => el('CommonPrefixes', [el('Prefix', show(keyText(p)))]));
  const common: Xml[] = [el('Name', ctx.bucket!), el('Prefix', show(prefix)), ...(delimiter ? [el('Delimiter', show(delimiter))] : []), el('MaxKeys', maxKeys)];
  const tail: Xml[] = [...(encoding ? [el('EncodingType', encoding)] : []), el('IsTruncated', page.truncated), ...contents, ...prefixes];
  if (v2) {
    sendXml(ctx, 200, xmlDocument(el('ListBucketResult', [
      ...common, el('KeyCount', page.keys.length + page.prefixes.length),
      ...(token !== undefined ? [el('ContinuationToken', token)] : []),
      ...(page.truncated && page.last ? [el('NextContinuationToken', encodeToken(page.last))] : []),
      ...(startAfter ? [el('StartAfter', show(startAfter))] : []),
      ...tail,
    ])));
  } else {
    sendXml(ctx, 200, xmlDocument(el('ListBucketResult', [
      ...common, el('Marker', show(startAfter ?? '')),
      ...(page.truncated && delimiter && page.last ? [el('NextMarker', show(keyText(page.last.key)))] : []),
      ...tail,
    ])));
  }
}

/** POST /bucket?delete: DeleteObjects, in one commit. */
export async function deleteObjects(ctx: RequestContext): Promise<void> {
  const doc = parseXml(await ctx.body().readAll(ctx.settings.maxXmlBytes), 'Delete');
  const objects = (doc.Object as Array<Record<string, unknown>> | undefined) ?? [];
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML', `Delete needs 1..${MAX_DELETE_KEYS} Object elements`);
  const quiet = textOf(doc, 'Quiet', true)?.trim() === 'true';
  const bucket = await ctx.store.bucket(ctx.bucket!);
  const keys = objects.map((o) => textOf(o, 'Key'));
  const results: Xml[] = [];
  const valid: string[] = [];
  for (const k of keys) {
    try { keyBytes(k); valid.push(k); } catch (err) {
      const e = toS3Error(err);
      results.push(el('Error', [el('Key', k), el('Code', e.s3Code), el('Message', e.message)]));
    }
  }
  if (valid.length) {
    try {
      await bucket.deleteKeys(valid);
      if (!quiet) for (const k of valid) results.push(el('Deleted', [el('Key', k)]));
    } catch (err) {
      const e = toS3Error(err);
      for (const k of valid) results.push(el('Error', [el('Key', k), el('Code', e.s3Code), el('Message', e.message)]));
    }
  }
  sendXml(ctx, 200, xmlDocument(el('DeleteResult', results)));
}

/** PUT /bucket?cairn-snapshot=NAME: a named snapshot of the bucket's container. */
export async function createSnapshot(ctx: RequestContext): Promise<void> {
  const b = await ctx.store.bucket(ctx.bucket!);
  await ctx.body().readAll(ctx.settings.maxXmlBytes);
  const name = ctx.query.get('cairn-snapshot') || undefined;
  try {
    const s = await b.cont.snapshot(name);
    sendXml(ctx, 200, xmlDocument(el('Snapshot', [el('Name', s.name), el('VersionId', s.epoch.toString())])));
  } catch (err) {
    if (err instanceof CairnError && err.code === 'EXISTS') throw new S3Error('InvalidArgument', `snapshot ${name} already exists`, { ArgumentName: 'cairn-snapshot' });
    throw err;
  }
}

/** GET /bucket?cairn-snapshots */
export async function listSnapshots(ctx: RequestContext): Promise<void> {
  const b = await ctx.store.bucket(ctx.bucket!);
  sendXml(ctx, 200, xmlDocument(el('ListSnapshotsResult', [
    el('Name', ctx.bucket!),
    ...b.cont.listSnapshots().map((s: Snapshot) => el('Snapshot', [el('Name', s.name), el('VersionId', s.epoch.toString())])),
  ])));
}

/** DELETE /bucket?cairn-snapshot=NAME */
export async function deleteSnapshot(ctx: RequestContext): Promise<void> {
  const b = await ctx.store.bucket(ctx.bucket!);
  const name = ctx.query.get('cairn-snapshot')!;
  try {
    await b.cont.destroySnapshot(name);
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NOT_FOUND') throw new S3Error('NoSuchVersion', `no snapshot named ${name}`, { Snapshot: name });
    throw err;
  }
  sendEmpty(ctx, 204);
}
