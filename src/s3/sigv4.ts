/**
 * AWS Signature Version 4 verification, as S3 does it: the `Authorization` header form and the
 * presigned-URL (query) form, with the payload modes S3 accepts (a signed SHA-256, UNSIGNED-PAYLOAD,
 * and the streaming `aws-chunked` modes whose chunks are checked by `chunked.ts`). Pure functions
 * of the request head: no I/O, time injected, so AWS's published examples are test vectors.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from './errors.js';

/** The signing algorithm name S3 accepts. */
export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** Largest difference between a request's signing time and the server clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** Longest validity of a presigned URL (S3's: seven days). */
export const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600;
/** Signing keys kept (one per access key, day, region). */
const SIGNING_KEY_CACHE_SIZE = 256;
/** SHA-256 of the empty string. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** How the request body is authenticated. */
export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; sha256: string }
  | { kind: 'chunked'; signed: boolean; trailer: boolean };

/** A verified request. */
export interface SigV4Result {
  accessKey: string;
  payload: PayloadMode;
  /** What chunk signatures chain from (streaming modes). */
  signing: { key: Buffer; amzDate: string; scope: string; seedSignature: string };
}

/** The request head to verify. `url` is the raw request target (path and query as sent). */
export interface SigV4Request { method: string; url: string; headers: IncomingHttpHeaders; headersDistinct?: Record<string, string[] | undefined> }

/** Verification settings. */
export interface SigV4Options {
  /** Secret key of an access key, or undefined when the key is unknown. */
  secretOf(accessKey: string): string | undefined;
  /** Clock (ms since epoch). */
  now(): number;
}

const sha256Hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s).digest();

const keyCache = new Map<string, Buffer>();

/** The SigV4 signing key of (secret, day, region, service), cached. */
export function signingKey(accessKey: string, secret: string, day: string, region: string, service: string): Buffer {
  const id = `${accessKey}\n${day}\n${region}\n${service}\n${sha256Hex(secret)}`;
  let k = keyCache.get(id);
  if (!k) {
    k = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    if (keyCache.size >= SIGNING_KEY_CACHE_SIZE) keyCache.clear();
    keyCache.set(id, k);
  }
  return k;
}

/** HMAC-SHA256 of `stringToSign` under `key`, as lowercase hex. */
export function sign(key: Buffer, stringToSign: string): string { return createHmac('sha256', key).update(stringToSign).digest('hex'); }

/** Constant-time comparison of two hex signatures. */
export function sameSignature(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8'), y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Percent-decode to bytes (`+` stays `+`); undefined when an escape is malformed. */
function percentDecode(s: string): Buffer | undefined {
  if (!s.includes('%')) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let i = 0;
  while (i < s.length) {
    const j = s.indexOf('%', i);
    if (j < 0) { parts.push(Buffer.from(s.slice(i), 'utf8')); break; }
    if (j > i) parts.push(Buffer.from(s.slice(i, j), 'utf8'));
    const h = s.slice(j + 1, j + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
    parts.push(Buffer.from([parseInt(h, 16)]));
    i = j + 3;
  }
  return Buffer.concat(parts);
}

/** AWS's URI encoding of bytes: everything but A-Z a-z 0-9 - _ . ~ (and `/` when `keepSlash`). */
export function awsEncode(bytes: Uint8Array, keepSlash: boolean): string {
  let out = '';
  for (const b of bytes) {
    if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e || (keepSlash && b === 0x2f)) out += String.fromCharCode(b);
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** The raw query as decoded (name, value) byte pairs in order. */
export function parseRawQuery(rawQuery: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const n = percentDecode(eq < 0 ? part : part.slice(0, eq));
    const v = percentDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (!n || !v) throw new S3Error('InvalidArgument', 'malformed percent-encoding in the query string');
    out.push([n.toString('utf8'), v.toString('utf8')]);
  }
  return out;
}

function canonicalQuery(rawQuery: string, skip?: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const n = percentDecode(eq < 0 ? part : part.slice(0, eq)), v = percentDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (!n || !v) throw new S3Error('InvalidArgument', 'malformed percent-encoding in the query string');
    if (skip !== undefined && n.toString('utf8') === skip) continue;
    pairs.push([awsEncode(n, false), awsEncode(v, false)]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** Canonical URI candidates: AWS's encoding of the decoded path, and the path exactly as sent. */
function canonicalUris(rawPath: string): string[] {
  const decoded = percentDecode(rawPath);
  const enc = decoded ? awsEncode(decoded, true) : undefined;
  return enc === undefined || enc === rawPath ? [rawPath] : [enc, rawPath];
}

function headerValue(req: SigV4Request, name: string): string {
  const many = req.headersDistinct?.[name];
  const raw = many ? many : ([] as string[]).concat(req.headers[name] ?? []);
  return raw.map((v) => String(v).trim().replace(/\s+/g, ' ')).join(',');
}

/** Parse `YYYYMMDDTHHMMSSZ` to ms; undefined when malformed. */
export function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  // (Date.UTC carries month 13 or hour 25 into the next year or day: such a date is malformed)
  if (!Number.isFinite(t) || new Date(t).toISOString().replace(/[-:]|\.\d{3}/g, '') !== s) return undefined;
  return t;
}

/** The canonical request of SigV4 (exported for tests). */
export function canonicalRequest(method: string, uri: string, query: string, req: SigV4Request, signedHeaders: string[], payloadHash: string): string {
  const headers = signedHeaders.map((h) => `${h}:${headerValue(req, h)}\n`).join('');
  return `${method}\n${uri}\n${query}\n${headers}\n${signedHeaders.join(';')}\n${payloadHash}`;
}

interface Parsed { accessKey: string; day: string; region: string; service: string; signedHeaders: string[]; signature: string; amzDate: string; presigned: boolean; expiresS?: number }

function parseCredential(cred: string, where: 'header' | 'query'): { accessKey: string; day: string; region: string; service: string } {
  const parts = cred.split('/');
  const bad = () => new S3Error(where === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError', `malformed credential scope ${JSON.stringify(cred)}`);
  if (parts.length < 5) throw bad();
  const terminator = parts.pop()!, service = parts.pop()!, region = parts.pop()!, day = parts.pop()!;
  const accessKey = parts.join('/');
  if (terminator !== 'aws4_request' || !/^\d{8}$/.test(day) || accessKey === '' || region === '') throw bad();
  if (service !== 's3') throw new S3Error(where === 'header' ? 'AuthorizationHeaderMalformed' : 'AuthorizationQueryParametersError', `credential scope names service ${service}; expected s3`);
  return { accessKey, day, region, service };
}

function parseHeaderAuth(auth: string, req: SigV4Request): Parsed {
  if (!auth.startsWith(SIGV4_ALGORITHM + ' ')) {
    throw new S3Error('InvalidRequest', `unsupported authorization type; use ${SIGV4_ALGORITHM}`);
  }
  const fields = new Map<string, string>();
  for (const f of auth.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = f.indexOf('=');
    if (eq > 0) fields.set(f.slice(0, eq).trim(), f.slice(eq + 1).trim());
  }
  const cred = fields.get('Credential'), sh = fields.get('SignedHeaders'), sig = fields.get('Signature');
  if (!cred || !sh || !sig) throw new S3Error('AuthorizationHeaderMalformed', 'the authorization header needs Credential, SignedHeaders and Signature');
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate) throw new S3Error('AccessDenied', 'AWS authentication requires a valid x-amz-date header');
  return { ...parseCredential(cred, 'header'), signedHeaders: sh.split(';'), signature: sig.toLowerCase(), amzDate, presigned: false };
}

function parseQueryAuth(q: Map<string, string>): Parsed {
  if (q.get('X-Amz-Algorithm') !== SIGV4_ALGORITHM) throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Algorithm must be ${SIGV4_ALGORITHM}`);
  const cred = q.get('X-Amz-Credential'), sh = q.get('X-Amz-SignedHeaders'), sig = q.get('X-Amz-Signature'), amzDate = q.get('X-Amz-Date'), exp = q.get('X-Amz-Expires');
  if (!cred || !sh || !sig || !amzDate || !exp) throw new S3Error('AuthorizationQueryParametersError', 'a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
  const expiresS = Number(exp);
  if (!/^\d+$/.test(exp) || expiresS < 1 || expiresS > MAX_PRESIGN_EXPIRES_S) throw new S3Error('AuthorizationQueryParametersError', `X-Amz-Expires must be 1..${MAX_PRESIGN_EXPIRES_S} seconds`);
  return { ...parseCredential(cred, 'query'), signedHeaders: sh.split(';'), signature: sig.toLowerCase(), amzDate, presigned: true, expiresS };
}

function payloadModeOf(v: string): PayloadMode {
  if (/^[0-9a-f]{64}$/.test(v)) return { kind: 'sha256', sha256: v };
  switch (v) {
    case 'UNSIGNED-PAYLOAD': return { kind: 'unsigned' };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': return { kind: 'chunked', signed: true, trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': return { kind: 'chunked', signed: true, trailer: true };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER': return { kind: 'chunked', signed: false, trailer: true };
    default:
      if (v.startsWith('STREAMING-')) throw new S3Error('NotImplemented', `payload mode ${v} is not supported`);
      throw new S3Error('InvalidArgument', `x-amz-content-sha256 must be a hex SHA-256 or a payload mode, got ${JSON.stringify(v)}`, { ArgumentName: 'x-amz-content-sha256' });
  }
}

/**
 * Verify a request's SigV4 signature. Throws the S3 error a client must see: `AccessDenied`
 * (unsigned or expired), `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`,
 * `AuthorizationHeaderMalformed` / `AuthorizationQueryParametersError`.
 */
export function verifySigV4(req: SigV4Request, opts: SigV4Options): SigV4Result {
  const qi = req.url.indexOf('?');
  const rawPath = qi < 0 ? req.url : req.url.slice(0, qi);
  const rawQuery = qi < 0 ? '' : req.url.slice(qi + 1);
  const auth = req.headers.authorization;
  let p: Parsed;
  if (auth) p = parseHeaderAuth(auth, req);
  else {
    const q = new Map(parseRawQuery(rawQuery));
    if (!q.has('X-Amz-Signature')) {
      if (q.has('Signature') || q.has('AWSAccessKeyId')) throw new S3Error('InvalidRequest', `signature version 2 is not supported; use ${SIGV4_ALGORITHM}`);
      throw new S3Error('AccessDenied', 'anonymous access is not allowed: sign the request with AWS Signature Version 4');
    }
    p = parseQueryAuth(q);
  }
  const secret = opts.secretOf(p.accessKey);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: p.accessKey });
  const t = parseAmzDate(p.amzDate);
  if (t === undefined) throw new S3Error(p.presigned ? 'AuthorizationQueryParametersError' : 'AccessDenied', `X-Amz-Date must be YYYYMMDDTHHMMSSZ, got ${JSON.stringify(p.amzDate)}`);
  if (p.amzDate.slice(0, 8) !== p.day) throw new S3Error(p.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', 'the credential scope date does not match X-Amz-Date');
  const now = opts.now();
  if (p.presigned) {
    if (now > t + p.expiresS! * 1000) throw new S3Error('AccessDenied', 'Request has expired', { Expires: new Date(t + p.expiresS! * 1000).toISOString(), ServerTime: new Date(now).toISOString() });
    if (t - now > MAX_CLOCK_SKEW_MS) throw new S3Error('AccessDenied', 'Request is not valid yet');
  } else if (Math.abs(now - t) > MAX_CLOCK_SKEW_MS) {
    throw new S3Error('RequestTimeTooSkewed', undefined, { RequestTime: p.amzDate, ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: String(MAX_CLOCK_SKEW_MS) });
  }
  if (!p.signedHeaders.includes('host')) throw new S3Error(p.presigned ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed', 'the host header must be signed');
  for (const h of p.signedHeaders) if (h !== h.toLowerCase() || h === '') throw new S3Error('AuthorizationHeaderMalformed', 'signed header names must be lowercase');

  const declared = req.headers['x-amz-content-sha256'];
  let payloadHash: string;
  let payload: PayloadMode;
  if (p.presigned) {
    payloadHash = typeof declared === 'string' ? declared : 'UNSIGNED-PAYLOAD';
    payload = payloadModeOf(payloadHash);
  } else {
    if (typeof declared !== 'string') throw new S3Error('InvalidRequest', 'missing required header for this request: x-amz-content-sha256');
    payloadHash = declared;
    payload = payloadModeOf(declared);
  }
  const scope = `${p.day}/${p.region}/${p.service}/aws4_request`;
  const key = signingKey(p.accessKey, secret, p.day, p.region, p.service);
  const query = canonicalQuery(rawQuery, p.presigned ? 'X-Amz-Signature' : undefined);
  for (const uri of canonicalUris(rawPath)) {
    const creq = canonicalRequest(req.method, uri, query, req, p.signedHeaders, payloadHash);
    const sts = `${SIGV4_ALGORITHM}\n${p.amzDate}\n${scope}\n${sha256Hex(creq)}`;
    if (sameSignature(sign(key, sts), p.signature)) {
      return { accessKey: p.accessKey, payload, signing: { key, amzDate: p.amzDate, scope, seedSignature: p.signature } };
    }
  }
  throw new S3Error('SignatureDoesNotMatch', undefined, { AWSAccessKeyId: p.accessKey });
}
