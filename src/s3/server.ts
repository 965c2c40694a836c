/**
 * The S3 gateway: an HTTP(S) server that authenticates every request with AWS Signature V4,
 * routes it to a bucket / object / multipart handler, and answers failures with S3's XML error
 * document. Buckets are containers of the pool it serves; see bucket-store.ts for the layout.
 *
 * Memory stays bounded: bodies stream in both directions (an upload holds at most two write
 * buffers, a download two read buffers), HTTP/1.1 runs one request at a time per connection,
 * and at most `maxConcurrentRequests` run at once (more get `SlowDown`).
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Pool, ContainerCreateOptions } from '../index.js';
import { S3Error, toS3Error, errorXml } from './errors.js';
import { verifySigV4, parseRawQuery } from './sigv4.js';
import { RequestBody } from './body.js';
import {
  S3Store, keyBytes, DEFAULT_MIN_PART_BYTES, DEFAULT_READ_BUFFER_BYTES, DEFAULT_WRITE_BUFFER_BYTES,
} from './bucket-store.js';
import type { RequestContext, HandlerSettings } from './context.js';
import * as B from './bucket-handlers.js';
import * as O from './object-handlers.js';
import * as M from './multipart-handlers.js';

/** An access key and its secret. */
export interface S3Credentials { accessKey: string; secretKey: string }

/** Default limit of requests served at once. */
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 64;
/** Largest single PutObject / UploadPart body (S3's 5 GiB). */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;
/** Largest XML request document (DeleteObjects of 1000 long keys fits). */
export const MAX_XML_BYTES = 4 * 1024 * 1024;
/** A connection idle this long (no bytes either way) is closed. */
export const IDLE_TIMEOUT_MS = 120_000;
/**
 * A kept-alive connection waits this long for its next request. Node's default (5 s) is shorter
 * than the pauses of real clients, whose agents keep pooled connections without a limit (the AWS
 * SDK's): a request sent on one the server is closing at that moment fails with "socket hang up".
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Options of `createS3Server`. */
export interface S3ServerOptions {
  /** Access keys accepted (at least one). */
  credentials: S3Credentials | S3Credentials[];
  /** Region reported by GetBucketLocation / HeadBucket (default us-east-1). Any signing region is accepted. */
  region?: string;
  /** Serve virtual-hosted-style requests `bucket.<domain>` too (path style always works). */
  domain?: string;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Requests served at once; more get 503 SlowDown (default 64). */
  maxConcurrentRequests?: number;
  /** Bytes buffered per upload before a chunked write (default 4 MiB; two buffers per upload). */
  writeBufferBytes?: number;
  /** Bytes per body read of a download (default 4 MiB; two in flight). */
  readBufferBytes?: number;
  /** Smallest part but the last of a multipart upload (default 5 MiB, as S3). */
  minPartBytes?: number;
  /** Properties of the containers CreateBucket makes (object class, redundancy factor...). */
  bucketDefaults?: ContainerCreateOptions;
  /** Clock for signature times (tests). */
  now?: () => number;
  /** Receives one line per server-side failure (5xx). */
  log?: (line: string) => void;
}

const UNSUPPORTED = new Set([
  'acl', 'policy', 'policyStatus', 'cors', 'lifecycle', 'tagging', 'website', 'replication', 'logging', 'encryption',
  'notification', 'object-lock', 'ownershipControls', 'publicAccessBlock', 'accelerate', 'requestPayment', 'analytics',
  'inventory', 'metrics', 'intelligent-tiering', 'legal-hold', 'retention', 'restore', 'select', 'torrent', 'attributes', 'versions',
]);

type Handler = (ctx: RequestContext) => Promise<void>;

function checkPositive(name: string, v: number | undefined, def: number): number {
  const n = v ?? def;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`, { [name]: v });
  return n;
}

/** An S3 gateway over one pool. */
export class S3Server {
  /** The bucket layer (also usable without HTTP). */
  readonly store: S3Store;
  /** The underlying node:http(s) server. */
  readonly server: http.Server;
  private readonly secrets = new Map<string, string>();
  private readonly settings: HandlerSettings;
  private readonly maxConcurrent: number;
  private readonly now: () => number;
  private inflight = 0;

  constructor(readonly pool: Pool, private readonly opts: S3ServerOptions) {
    const creds = Array.isArray(opts.credentials) ? opts.credentials : [opts.credentials];
    if (creds.length === 0) throw new InvalidArgumentError('createS3Server needs at least one access key');
    for (const c of creds) {
      if (typeof c?.accessKey !== 'string' || typeof c.secretKey !== 'string' || c.accessKey.length === 0 || c.secretKey.length === 0 || /[\s/]/.test(c.accessKey)) {
        throw new InvalidArgumentError('credentials need a non-empty accessKey (no spaces or /) and secretKey');
      }
      this.secrets.set(c.accessKey, c.secretKey);
    }
    this.settings = { region: opts.region ?? 'us-east-1', maxPutBytes: MAX_PUT_BYTES, maxPartBytes: MAX_PUT_BYTES, maxXmlBytes: MAX_XML_BYTES };
    this.maxConcurrent = checkPositive('maxConcurrentRequests', opts.maxConcurrentRequests, DEFAULT_MAX_CONCURRENT_REQUESTS);
    this.now = opts.now ?? Date.now;
    this.store = new S3Store(pool, {
      writeBufferBytes: checkPositive('writeBufferBytes', opts.writeBufferBytes, DEFAULT_WRITE_BUFFER_BYTES),
      readBufferBytes: checkPositive('readBufferBytes', opts.readBufferBytes, DEFAULT_READ_BUFFER_BYTES),
      minPartBytes: checkPositive('minPartBytes', opts.minPartBytes, DEFAULT_MIN_PART_BYTES),
      bucketDefaults: opts.bucketDefaults ?? {},
    });
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => { void this.handle(req, res, false); };
    this.server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : http.createServer(onRequest);
    // Authenticate before asking the client for its body (Expect: 100-continue).
    this.server.on('checkContinue', (req, res) => { void this.handle(req, res, true); });
    // What Node's HTTP parser refuses never reaches `handle`: answer it with S3's XML too.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.clientError(err, socket));
    this.server.requestTimeout = 0; // multi-GiB bodies: the idle timeout guards instead
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000; // (kept above the keep-alive wait)
    this.server.setTimeout(IDLE_TIMEOUT_MS);
  }

  /** Listen on `host:port` (port 0: any free port). */
  listen(port = 0, host = '127.0.0.1'): Promise<{ host: string; port: number; url: string }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const a = this.server.address() as AddressInfo;
        const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
        resolve({ host: a.address, port: a.port, url: `${this.opts.tls ? 'https' : 'http'}://${h}:${a.port}` });
      });
    });
  }

  /** Stop accepting connections and wait for requests in flight (idle connections close at once). */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Handle one request (usable as a node:http request listener). */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, expectContinue = false): Promise<void> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('server', 'Cairn');
    const ac = new AbortController();
    res.on('close', () => { if (!res.writableFinished) ac.abort(); });
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    let bucket: string | undefined, key: string | undefined;
    let counted = false;
    try {
      if (this.inflight >= this.maxConcurrent) throw new S3Error('SlowDown');
      this.inflight++;
      counted = true;
      ({ bucket, key } = this.route(req, rawPath));
      const query = new Map<string, string>();
      for (const [n, v] of parseRawQuery(qi < 0 ? '' : url.slice(qi + 1))) if (!query.has(n)) query.set(n, v);
      const auth = verifySigV4({ method: req.method ?? 'GET', url, headers: req.headers, headersDistinct: req.headersDistinct }, { secretOf: (k) => this.secrets.get(k), now: this.now });
      // A key S3 refuses is refused before the body is asked for or read, not after storing it.
      if (key !== undefined) keyBytes(key);
      if (expectContinue) res.writeContinue();
      let body: RequestBody | undefined;
      const ctx: RequestContext = {
        req, res, method: req.method ?? 'GET', bucket, key, query, headers: req.headers,
        // Read without destroying the request on an early stop, so an error can still be answered.
        body: () => (body ??= new RequestBody(req.iterator({ destroyOnReturn: false }), { headers: req.headers, payload: auth.payload, signing: auth.signing, maxBytes: this.settings.maxPutBytes })),
        store: this.store, settings: this.settings, requestId, signal: ac.signal,
      };
      await this.dispatch(ctx)(ctx);
    } catch (err) {
      this.fail(req, res, err, { bucket, key, resource: rawPath, requestId }, expectContinue);
    } finally {
      if (counted) this.inflight--;
    }
  }

  /** Bucket and key of a request: virtual-hosted (`bucket.<domain>`) or path style. */
  private route(req: http.IncomingMessage, rawPath: string): { bucket?: string; key?: string } {
    let path: string;
    try { path = decodeURIComponent(rawPath); } catch { throw new S3Error('InvalidArgument', 'the request path is not valid percent-encoded UTF-8'); }
    if (!path.startsWith('/')) throw new S3Error('InvalidRequest', 'the request target must be an absolute path');
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const d = this.opts.domain?.toLowerCase();
    if (d && host.endsWith('.' + d)) {
      const key = path.slice(1);
      return { bucket: host.slice(0, -(d.length + 1)), key: key || undefined };
    }
    const p = path.slice(1);
    const i = p.indexOf('/');
    const bucket = i < 0 ? p : p.slice(0, i);
    const key = i < 0 ? '' : p.slice(i + 1);
    return { bucket: bucket || undefined, key: key || undefined };
  }

  /** The handler of a request. */
  private dispatch(ctx: RequestContext): Handler {
    const q = ctx.query;
    const unsupported = [...q.keys()].find((k) => UNSUPPORTED.has(k));
    const notImplemented: Handler = async () => { throw new S3Error('NotImplemented', `${ctx.method} ?${unsupported ?? ''} is not implemented`); };
    const m = ctx.method;
    if (!ctx.bucket) {
      if (m === 'GET') return B.listBuckets;
      throw new S3Error('MethodNotAllowed');
    }
    if (!ctx.key) {
      if (unsupported) return notImplemented;
      switch (m) {
        case 'PUT': return q.has('cairn-snapshot') ? B.createSnapshot : B.createBucket;
        case 'DELETE': return q.has('cairn-snapshot') ? B.deleteSnapshot : B.deleteBucket;
        case 'HEAD': return B.headBucket;
        case 'GET':
          if (q.has('location')) return B.getLocation;
          if (q.has('versioning')) return B.getVersioning;
          if (q.has('uploads')) return M.listUploads;
          if (q.has('cairn-snapshots')) return B.listSnapshots;
          return B.listObjects;
        case 'POST': if (q.has('delete')) return B.deleteObjects; break;
      }
      throw new S3Error('MethodNotAllowed');
    }
    if (unsupported) return notImplemented;
    switch (m) {
      case 'PUT':
        if (q.has('uploadId') || q.has('partNumber')) {
          if (!q.has('uploadId') || !q.has('partNumber')) throw new S3Error('InvalidRequest', 'UploadPart needs uploadId and partNumber');
          return M.uploadPart;
        }
        return ctx.headers['x-amz-copy-source'] !== undefined ? O.copyObject : O.putObject;
      case 'GET': return q.has('uploadId') ? M.listParts : O.getObject;
      case 'HEAD': return O.getObject;
      case 'DELETE': return q.has('uploadId') ? M.abortUpload : O.deleteObject;
      case 'POST':
        if (q.has('uploads')) return M.createUpload;
        if (q.has('uploadId')) return M.completeUpload;
        break;
    }
    throw new S3Error('MethodNotAllowed');
  }

  /**
   * A request Node's HTTP parser refused (a malformed request line or header, a header section
   * over Node's limit, a connection half-closed inside a body): S3's error document, then the
   * connection closes. Node's default answer is a bare status line S3 clients cannot read.
   */
  private clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const res = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || res?.headersSent) { socket.destroy(); return; }
    const e = err.code === 'HPE_HEADER_OVERFLOW' ? new S3Error('RequestHeaderSectionTooLarge')
      : err.code === 'HPE_INVALID_EOF_STATE' ? new S3Error('IncompleteBody')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? new S3Error('RequestTimeout')
          : new S3Error('InvalidRequest', `malformed HTTP request (${err.code ?? err.message})`);
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const body = Buffer.from(errorXml(e, { requestId }), 'utf8');
    socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${e.status} ${http.STATUS_CODES[e.status]}\r\ncontent-type: application/xml\r\ncontent-length: ${body.length}\r\n` +
      `connection: close\r\nx-amz-request-id: ${requestId}\r\nserver: Cairn\r\n\r\n`, 'latin1'), body]), () => socket.destroy());
  }

  /** Answer a failure with S3's error document (or cut the connection mid-body). */
  private fail(req: http.IncomingMessage, res: http.ServerResponse, err: unknown, where: { bucket?: string; key?: string; resource: string; requestId: string }, expectContinue: boolean): void {
    const e = toS3Error(err);
    if (e.status >= 500 && this.opts.log) this.opts.log(`s3 ${req.method} ${where.resource}: ${e.s3Code}: ${e.message}${e.cause instanceof Error ? ` (${e.cause.stack ?? e.cause.message})` : ''}`);
    if (res.headersSent) { res.destroy(); return; }
    const headers: Record<string, string> = { 'content-type': 'application/xml' };
    if (e.s3Code === 'InvalidRange' && e.extra.ActualObjectSize) headers['content-range'] = `bytes */${e.extra.ActualObjectSize}`;
    if (!req.complete) {
      // The body was not (fully) read: answer, then close the connection, discarding what
      // still arrives (with Expect: 100-continue the client never sends it).
      headers.connection = 'close';
      if (!expectContinue) req.resume();
    }
    const body = req.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(errorXml(e, where), 'utf8');
    headers['content-length'] = String(body.length);
    res.writeHead(e.status, headers);
    res.end(body);
  }
}

/** Create an S3 gateway serving the buckets (containers) of `pool`; call `listen()` to serve. */
export function createS3Server(pool: Pool, opts: S3ServerOptions): S3Server {
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('createS3Server needs options with credentials');
  return new S3Server(pool, opts);
}
