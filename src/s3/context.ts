/**
 * One S3 request as the handlers see it (bucket, key, decoded query, the authenticated body) and
 * the helpers they share: XML and empty responses, streamed bodies, Range and conditional headers,
 * and the object metadata carried in headers.
 */
import type { IncomingMessage, ServerResponse, IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error } from './errors.js';
import type { RequestBody } from './body.js';
import type { S3Store, ObjectRecord } from './bucket-store.js';
import { etagMatches } from './bucket-store.js';
import { checksumHeader } from './checksums.js';
import { awsEncode } from './sigv4.js';

/** Largest total size of user metadata (names and values), as S3. */
export const MAX_USER_METADATA_BYTES = 2048;
/** Representation headers stored with an object and returned on GET/HEAD. */
export const STORED_HEADERS = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;
/** The default content type S3 gives objects stored without one. */
export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

/** Resolved gateway settings the handlers need. */
export interface HandlerSettings {
  region: string;
  maxPutBytes: number;
  maxPartBytes: number;
  maxXmlBytes: number;
}

/** A request routed to a handler. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket?: string;
  key?: string;
  /** Decoded query parameters (first value of each name). */
  query: Map<string, string>;
  headers: IncomingHttpHeaders;
  /** The request body (authenticated, decoded); read it once. */
  body(): RequestBody;
  store: S3Store;
  settings: HandlerSettings;
  requestId: string;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** The first value of a header as a string, or undefined. */
export function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

/** Send an XML document. */
export function sendXml(ctx: RequestContext, status: number, xml: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(xml, 'utf8');
  ctx.res.writeHead(status, { 'content-type': 'application/xml', 'content-length': String(body.length), ...headers });
  ctx.res.end(ctx.method === 'HEAD' ? undefined : body);
}

/** Send a response without a body. */
export function sendEmpty(ctx: RequestContext, status: number, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { 'content-length': '0', ...headers });
  ctx.res.end();
}

/** Stream `body` as the response (with backpressure); the socket is destroyed on a mid-stream error. */
export async function sendStream(ctx: RequestContext, status: number, headers: Record<string, string>, body: AsyncIterable<Buffer>): Promise<void> {
  ctx.res.writeHead(status, headers);
  if (ctx.method === 'HEAD') { ctx.res.end(); return; }
  await pipeline(Readable.from(body, { objectMode: false }), ctx.res);
}

/** A quoted ETag header value. */
export const quoted = (etag: string) => `"${etag}"`;

/** An S3 timestamp in XML (ISO 8601 with milliseconds). */
export const isoTime = (ms: number) => new Date(ms).toISOString();

/** Parse a non-negative integer query parameter (InvalidArgument otherwise). */
export function intParam(ctx: RequestContext, name: string, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = ctx.query.get(name);
  if (v === undefined || v === '') return def;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new S3Error('InvalidArgument', `${name} must be an integer in ${min}..${max}`, { ArgumentName: name, ArgumentValue: v });
  return Number(v);
}

/** The metadata an upload carries in its headers: content type, user metadata, stored headers. */
export function metadataFromHeaders(ctx: RequestContext): { contentType: string; meta: Record<string, string>; headers: Record<string, string> } {
  const meta: Record<string, string> = {};
  let size = 0;
  for (const [name, value] of Object.entries(ctx.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : String(value);
    const n = name.slice('x-amz-meta-'.length);
    meta[n] = v;
    size += Buffer.byteLength(n) + Buffer.byteLength(v);
  }
  if (size > MAX_USER_METADATA_BYTES) throw new S3Error('MetadataTooLarge', undefined, { Size: String(size), MaxSizeAllowed: String(MAX_USER_METADATA_BYTES) });
  const headers: Record<string, string> = {};
  for (const h of STORED_HEADERS) {
    let v = header(ctx, h);
    if (h === 'content-encoding' && v !== undefined) {
      v = v.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'aws-chunked').join(',');
      if (v === '') v = undefined;
    }
    if (v !== undefined) headers[h] = v;
  }
  return { contentType: header(ctx, 'content-type') ?? DEFAULT_CONTENT_TYPE, meta, headers };
}

/** Response headers describing an object (ETag, type, time, metadata, stored headers). */
export function objectHeaders(rec: ObjectRecord): Record<string, string> {
  const h: Record<string, string> = {
    etag: quoted(rec.etag),
    'last-modified': new Date(rec.mtime).toUTCString(),
    'content-type': rec.contentType,
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(rec.headers)) h[k] = v;
  for (const [k, v] of Object.entries(rec.meta)) h[`x-amz-meta-${k}`] = v;
  if (rec.partCount) h['x-amz-mp-parts-count'] = String(rec.partCount);
  return h;
}

/** The checksum header of a stored checksum. */
export function checksumResponseHeader(rec: { checksum?: { algorithm: Parameters<typeof checksumHeader>[0]; value: string } }): Record<string, string> {
  return rec.checksum ? { [checksumHeader(rec.checksum.algorithm)]: rec.checksum.value } : {};
}

/**
 * A `Range: bytes=...` header against an object of `size` bytes: the [start, end) to send, or
 * undefined for the whole object (no header, or one S3 ignores); InvalidRange when unsatisfiable.
 */
export function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multiple or malformed ranges: whole object, as S3
  if (m[1] === '') {
    const n = Number(m[2]);
    // (an empty object has no byte to send: every range is unsatisfiable, as for `bytes=0-`)
    if (n === 0 || size === 0) throw new S3Error('InvalidRange', undefined, { RangeRequested: value, ActualObjectSize: String(size) });
    return { start: Math.max(0, size - n), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // syntactically invalid: ignored
  if (start >= size) throw new S3Error('InvalidRange', undefined, { RangeRequested: value, ActualObjectSize: String(size) });
  return { start, end: last + 1 };
}

/**
 * Evaluate If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since (with `prefix`
 * `x-amz-copy-source-` for copies). Returns 304 when a GET must answer Not Modified; throws
 * PreconditionFailed.
 */
export function checkConditions(ctx: RequestContext, rec: ObjectRecord, prefix = ''): 304 | undefined {
  const ifMatch = header(ctx, `${prefix}if-match`);
  const ifNone = header(ctx, `${prefix}if-none-match`);
  const ifMod = header(ctx, `${prefix}if-modified-since`);
  const ifUnmod = header(ctx, `${prefix}if-unmodified-since`);
  const mtimeS = Math.floor(rec.mtime / 1000) * 1000;
  if (ifMatch !== undefined && !etagMatches(ifMatch, rec.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Match` });
  if (ifMatch === undefined && ifUnmod !== undefined) {
    const t = Date.parse(ifUnmod);
    if (Number.isFinite(t) && mtimeS > t) throw new S3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Unmodified-Since` });
  }
  const notModified = prefix === '' && (ctx.method === 'GET' || ctx.method === 'HEAD');
  if (ifNone !== undefined && etagMatches(ifNone, rec.etag)) {
    if (notModified) return 304;
    throw new S3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-None-Match` });
  }
  if (ifNone === undefined && ifMod !== undefined) {
    const t = Date.parse(ifMod);
    if (Number.isFinite(t) && mtimeS <= t) {
      if (notModified) return 304;
      throw new S3Error('PreconditionFailed', undefined, { Condition: `${prefix}If-Modified-Since` });
    }
  }
  return undefined;
}

/** A version id (a Cairn epoch, decimal) from a query or header; InvalidArgument when malformed. */
export function parseVersionId(v: string | undefined): bigint | undefined {
  if (v === undefined || v === '' || v === 'null') return undefined;
  if (!/^\d{1,20}$/.test(v)) throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: v });
  return BigInt(v);
}

/**
 * The `encoding-type` of a listing request (ListObjects V1 and V2, ListMultipartUploads): `url` or
 * none, anything else InvalidArgument, as S3. `show` renders a key, prefix, delimiter or marker for
 * the response: with `url` percent-encoded as AWS encodes them (a key may hold characters XML 1.0
 * cannot carry), else as is. One helper, so every listing encodes and refuses alike.
 */
export function listEncoding(ctx: RequestContext): { encoding?: 'url'; show: (s: string) => string } {
  const encoding = ctx.query.get('encoding-type');
  if (encoding === undefined) return { show: (s) => s };
  if (encoding !== 'url') throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
  return { encoding, show: (s) => awsEncode(Buffer.from(s, 'utf8'), true) };
}
