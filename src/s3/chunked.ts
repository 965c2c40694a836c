/**
 * The `aws-chunked` content encoding S3 clients stream bodies in: `hex-size[;chunk-signature=sig]`
 * CRLF, data, CRLF, ..., a zero-size chunk, then (trailer modes) `name:value` trailer lines and,
 * when signed, `x-amz-trailer-signature`. Each chunk signature chains on the previous one, starting
 * from the request's seed signature. Decoding streams: data passes through as slices of the input,
 * only the short framing lines are buffered.
 */
import { createHash } from 'node:crypto';
import { S3Error } from './errors.js';
import { EMPTY_SHA256, sign, sameSignature } from './sigv4.js';

/** Longest framing line (chunk header or trailer line), bytes. */
export const MAX_CHUNK_LINE_BYTES = 4096;
/** Most trailer bytes in total. */
export const MAX_TRAILER_BYTES = 16 * 1024;

/** Settings of one decode. */
export interface ChunkedOptions {
  /** Chunk signatures are present and must verify. */
  signed: boolean;
  /** Trailer headers follow the last chunk. */
  trailer: boolean;
  /** From the request's SigV4 verification (signed mode). */
  signing?: { key: Buffer; amzDate: string; scope: string; seedSignature: string };
  /** Receives the trailer headers (lowercase names) once they are read (and verified). */
  onTrailer?(headers: Map<string, string>): void;
}

const CRLF = Buffer.from('\r\n');
const malformed = (why: string) => new S3Error('InvalidRequest', `malformed aws-chunked body: ${why}`);

/** Decode an aws-chunked byte stream into the payload bytes, verifying signatures as it goes. */
export async function* decodeAwsChunked(source: AsyncIterable<Uint8Array>, opts: ChunkedOptions): AsyncGenerator<Buffer> {
  if (opts.signed && !opts.signing) throw malformed('signed chunks need the request signature');
  let prevSig = opts.signing?.seedSignature ?? '';
  const chunkSts = (dataHash: string) => `AWS4-HMAC-SHA256-PAYLOAD\n${opts.signing!.amzDate}\n${opts.signing!.scope}\n${prevSig}\n${EMPTY_SHA256}\n${dataHash}`;
  const it = source[Symbol.asyncIterator]();
  let buf: Buffer = Buffer.alloc(0);
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const r = await it.next();
    if (r.done) { ended = true; return false; }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    buf = buf.length === 0 ? b : Buffer.concat([buf, b]);
    return true;
  };
  const line = async (): Promise<string> => {
    for (;;) {
      const i = buf.indexOf(CRLF);
      if (i >= 0) {
        const l = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 2);
        return l;
      }
      if (buf.length > MAX_CHUNK_LINE_BYTES) throw malformed('framing line too long');
      if (!(await more())) throw new S3Error('IncompleteBody', 'the aws-chunked body ended early');
    }
  };
  let finished = false;
  const drain = async () => {
    // Read the source to its end, so the request completes and its connection stays usable;
    // nothing may follow the end of the body (it would be bytes the client sent and S3 dropped).
    if (buf.length > 0) throw malformed('data after the last chunk');
    while (await more()) if (buf.length > 0) throw malformed('data after the last chunk');
    finished = true;
  };
  try {
    for (;;) {
      const header = await line();
      const [sizeHex, ...exts] = header.split(';');
      if (!/^[0-9a-fA-F]{1,15}$/.test(sizeHex!.trim())) throw malformed(`bad chunk size ${JSON.stringify(sizeHex)}`);
      let size = parseInt(sizeHex!.trim(), 16);
      let sig: string | undefined;
      for (const e of exts) {
        const eq = e.indexOf('=');
        if (eq > 0 && e.slice(0, eq).trim() === 'chunk-signature') sig = e.slice(eq + 1).trim().toLowerCase();
      }
      if (opts.signed && !sig) throw malformed('a chunk has no chunk-signature');
      const hash = opts.signed ? createHash('sha256') : undefined;
      while (size > 0) {
        if (buf.length === 0 && !(await more())) throw new S3Error('IncompleteBody', 'the aws-chunked body ended inside a chunk');
        const n = Math.min(size, buf.length);
        const data = buf.subarray(0, n);
        buf = buf.subarray(n);
        size -= n;
        hash?.update(data);
        yield data;
      }
      const last = parseInt(sizeHex!.trim(), 16) === 0;
      if (opts.signed) {
        const expect = sign(opts.signing!.key, chunkSts(hash!.digest('hex')));
        if (!sameSignature(expect, sig!)) throw new S3Error('SignatureDoesNotMatch', 'a chunk signature does not match');
        prevSig = expect;
      }
      if (!last) {
        if ((await line()) !== '') throw malformed('chunk data is not followed by CRLF');
        continue;
      }
      if (!opts.trailer) {
        // The body ends with an empty line after the last chunk (tolerate its absence at EOF).
        while (buf.length < 2 && (await more()));
        if (buf.length > 0 && (await line()) !== '') throw malformed('data after the last chunk');
        await drain();
        return;
      }
      const trailers = new Map<string, string>();
      let trailerText = '', total = 0, trailerSig: string | undefined;
      for (;;) {
        while (buf.indexOf(CRLF) < 0 && !ended) if (!(await more())) break;
        if (buf.length === 0 && ended) break; // no closing empty line: tolerated at EOF
        const l = await line();
        if (l === '') break;
        total += l.length;
        if (total > MAX_TRAILER_BYTES) throw malformed('trailer too large');
        const c = l.indexOf(':');
        if (c <= 0) throw malformed(`bad trailer line ${JSON.stringify(l.slice(0, 80))}`);
        const name = l.slice(0, c).trim().toLowerCase(), value = l.slice(c + 1).trim();
        if (name === 'x-amz-trailer-signature') { trailerSig = value.toLowerCase(); continue; }
        trailers.set(name, value);
        trailerText += `${name}:${value}\n`;
      }
      if (opts.signed) {
        if (!trailerSig) throw malformed('signed trailer without x-amz-trailer-signature');
        const sts = `AWS4-HMAC-SHA256-TRAILER\n${opts.signing!.amzDate}\n${opts.signing!.scope}\n${prevSig}\n${createHash('sha256').update(trailerText).digest('hex')}`;
        if (!sameSignature(sign(opts.signing!.key, sts), trailerSig)) throw new S3Error('SignatureDoesNotMatch', 'the trailer signature does not match');
      }
      opts.onTrailer?.(trailers);
      await drain();
      return;
    }
  } finally {
    if (!finished) await it.return?.();
  }
}
