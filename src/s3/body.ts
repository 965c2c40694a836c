/**
 * A request body as the gateway consumes it: decoded (aws-chunked when the client streams),
 * authenticated (a signed payload's SHA-256, chunk and trailer signatures) and checked
 * (declared length, Content-MD5, `x-amz-checksum-*` from a header or a trailer) while it streams.
 * Every check that needs the whole body runs when the last byte has been read, before the
 * consumer commits anything, so a body that fails a check is never made visible.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from './errors.js';
import type { PayloadMode, SigV4Result } from './sigv4.js';
import { decodeAwsChunked } from './chunked.js';
import { Checksum, CHECKSUM_ALGORITHMS, checksumAlgorithm, checksumHeader, type ChecksumAlgorithm } from './checksums.js';

/** A verified checksum of a body: the algorithm and its base64 value. */
export interface BodyChecksum { algorithm: ChecksumAlgorithm; value: string }

/** How a body is read. */
export interface RequestBodyOptions {
  headers: IncomingHttpHeaders;
  payload: PayloadMode;
  signing?: SigV4Result['signing'];
  /** Largest body accepted (EntityTooLarge beyond). */
  maxBytes: number;
}

/** One request body, consumed once by iterating it. */
export class RequestBody implements AsyncIterable<Buffer> {
  /** Bytes of payload read so far. */
  bytes = 0;
  /** The verified additional checksum, when the client declared one. */
  checksum?: BodyChecksum;
  private readonly md5: Hash = createHash('md5');
  private md5Hex?: string;
  private consumed = false;
  private readonly declaredLength?: number;
  private readonly checksumAlg?: ChecksumAlgorithm;
  private readonly checksumValue?: string;

  constructor(private readonly source: AsyncIterable<Uint8Array>, private readonly opts: RequestBodyOptions) {
    const h = opts.headers;
    const chunked = opts.payload.kind === 'chunked';
    const lenHeader = chunked ? h['x-amz-decoded-content-length'] : h['content-length'];
    if (lenHeader !== undefined) {
      const n = Number(lenHeader);
      if (!/^\d+$/.test(String(lenHeader)) || !Number.isSafeInteger(n)) throw new S3Error('InvalidArgument', `bad ${chunked ? 'x-amz-decoded-content-length' : 'Content-Length'}`);
      this.declaredLength = n;
      if (n > opts.maxBytes) throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(n), MaxSizeAllowed: String(opts.maxBytes) });
    } else if (chunked && opts.payload.kind === 'chunked' && opts.payload.signed) {
      throw new S3Error('MissingContentLength', 'a streaming upload needs x-amz-decoded-content-length');
    }
    // At most one additional checksum: in a header, or announced in x-amz-trailer.
    const inHeaders = CHECKSUM_ALGORITHMS.filter((a) => h[checksumHeader(a)] !== undefined);
    const trailerNames = String(h['x-amz-trailer'] ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const inTrailer = trailerNames.map((n) => (n.startsWith('x-amz-checksum-') ? checksumAlgorithm(n.slice('x-amz-checksum-'.length)) : undefined));
    if (inTrailer.some((a) => a === undefined)) throw new S3Error('InvalidRequest', `unsupported trailer ${JSON.stringify(h['x-amz-trailer'])}`);
    if (inHeaders.length + inTrailer.length > 1) throw new S3Error('InvalidRequest', 'expecting a single x-amz-checksum- header');
    if (inTrailer.length && !(opts.payload.kind === 'chunked' && opts.payload.trailer)) throw new S3Error('InvalidRequest', 'x-amz-trailer needs a STREAMING-...-TRAILER payload');
    this.checksumAlg = inHeaders[0] ?? inTrailer[0];
    if (inHeaders[0]) this.checksumValue = String(h[checksumHeader(inHeaders[0])]);
    const md5 = h['content-md5'];
    if (md5 !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(String(md5))) throw new S3Error('InvalidDigest');
  }

  /** Lowercase hex MD5 of the payload (after the body was fully read). */
  get md5hex(): string {
    if (this.md5Hex === undefined) throw new S3Error('InternalError', 'body MD5 asked before the body was read');
    return this.md5Hex;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.consumed) throw new S3Error('InternalError', 'a request body is read once');
    this.consumed = true;
    const p = this.opts.payload;
    const sha = p.kind === 'sha256' ? createHash('sha256') : undefined;
    const sum = this.checksumAlg ? new Checksum(this.checksumAlg) : undefined;
    let trailerValue: string | undefined;
    const src: AsyncIterable<Uint8Array> = p.kind === 'chunked'
      ? decodeAwsChunked(this.source, {
        signed: p.signed, trailer: p.trailer, signing: this.opts.signing,
        onTrailer: (t) => { if (this.checksumAlg) trailerValue = t.get(checksumHeader(this.checksumAlg)); },
      })
      : this.source;
    try {
      for await (const chunk of src) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        this.bytes += b.length;
        if (this.bytes > this.opts.maxBytes) throw new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(this.opts.maxBytes) });
        if (this.declaredLength !== undefined && this.bytes > this.declaredLength) throw new S3Error('InvalidRequest', 'the body is longer than its declared length');
        this.md5.update(b);
        sha?.update(b);
        sum?.update(b);
        yield b;
      }
    } catch (err) {
      if (err instanceof S3Error) throw err;
      // The client went away or the socket failed mid-body.
      throw new S3Error('IncompleteBody', undefined, {}, { cause: err });
    }
    if (this.declaredLength !== undefined && this.bytes !== this.declaredLength) throw new S3Error('IncompleteBody');
    if (sha && p.kind === 'sha256' && sha.digest('hex') !== p.sha256) throw new S3Error('XAmzContentSHA256Mismatch');
    const md5 = this.md5.digest();
    this.md5Hex = md5.toString('hex');
    const wantMd5 = this.opts.headers['content-md5'];
    if (wantMd5 !== undefined && md5.toString('base64') !== String(wantMd5)) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    if (sum) {
      const want = this.checksumValue ?? trailerValue;
      if (want === undefined) throw new S3Error('InvalidRequest', `the trailer has no ${checksumHeader(sum.algorithm)}`);
      const got = sum.digest();
      if (got !== want) throw new S3Error('BadDigest', `The ${sum.algorithm} you specified did not match the calculated checksum.`);
      this.checksum = { algorithm: sum.algorithm, value: got };
    }
  }

  /** Read the whole body into memory (small XML documents only); `limit` bytes at most. */
  async readAll(limit: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const b of this) {
      n += b.length;
      if (n > limit) throw new S3Error('MalformedXML', `the request document is larger than ${limit} bytes`);
      parts.push(b);
    }
    return Buffer.concat(parts);
  }
}
