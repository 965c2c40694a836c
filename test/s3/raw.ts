/**
 * Raw SigV4-signed HTTP requests for tests that need bytes no SDK sends: a body shorter or longer
 * than its Content-Length, a connection cut mid-body, aws-chunked framing of our own, odd methods
 * and headers. `signedHead` builds the request head (signed with the header form of SigV4);
 * `rawExchange` writes it and the body bytes on a plain socket and reads the response.
 */
import net from 'node:net';
import { createHash } from 'node:crypto';
import { signingKey, sign, awsEncode } from '../../src/s3/sigv4.js';
import { ACCESS_KEY, SECRET_KEY } from './helpers.js';

export const sha256hex = (b: string | Uint8Array) => createHash('sha256').update(b).digest('hex');

/** What `signedHead` signs. */
export interface RawRequest {
  method: string;
  /** The path as sent (already percent-encoded), e.g. `/bucket/key`. */
  path: string;
  /** The raw query as sent (without `?`). */
  query?: string;
  headers?: Record<string, string>;
  /** x-amz-content-sha256 (default: the SHA-256 of `body`, or UNSIGNED-PAYLOAD without one). */
  payloadHash?: string;
  body?: Uint8Array | string;
  port: number;
  /** Signing time (default now). */
  now?: number;
}

/** The signed request head and what aws-chunked signatures chain from. */
export function signedHead(r: RawRequest): { head: string; seed: string; key: Buffer; amzDate: string; scope: string } {
  const amzDate = new Date(r.now ?? Date.now()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/us-east-1/s3/aws4_request`;
  const headers: Record<string, string> = {
    host: `127.0.0.1:${r.port}`, 'x-amz-date': amzDate,
    'x-amz-content-sha256': r.payloadHash ?? (r.body !== undefined ? sha256hex(r.body) : sha256hex('')),
    ...Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
  };
  const names = Object.keys(headers).sort();
  const query = (r.query ?? '').split('&').filter(Boolean).map((p) => {
    const eq = p.indexOf('=');
    const dec = (s: string) => Buffer.from(decodeURIComponent(s), 'utf8');
    return [awsEncode(dec(eq < 0 ? p : p.slice(0, eq)), false), awsEncode(dec(eq < 0 ? '' : p.slice(eq + 1)), false)] as const;
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)).map(([n, v]) => `${n}=${v}`).join('&');
  const uri = awsEncode(Buffer.from(decodeURIComponent(r.path), 'utf8'), true);
  const creq = `${r.method}\n${uri}\n${query}\n${names.map((n) => `${n}:${headers[n]!.trim()}\n`).join('')}\n${names.join(';')}\n${headers['x-amz-content-sha256']}`;
  const key = signingKey(ACCESS_KEY, SECRET_KEY, day, 'us-east-1', 's3');
  const sig = sign(key, `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(creq)}`);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/${scope},SignedHeaders=${names.join(';')},Signature=${sig}`;
  const lines = [`${r.method} ${r.path}${r.query ? `?${r.query}` : ''} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return { head: lines.join('\r\n') + '\r\n\r\n', seed: sig, key, amzDate, scope };
}

/** One response as read from the socket. */
export interface RawResponse { status: number; headers: Record<string, string>; body: string; closed: boolean }

/**
 * Send `head` then `body` on a fresh connection; `end`: half-close after the body (default
 * false: the socket stays open until the response arrives); `cut`: destroy the socket after
 * writing (the client went away; resolves with status 0 once closed). Reads one response
 * (Content-Length framed) or until the server closes; `timeoutMs` fails the wait.
 */
export function rawExchange(port: number, head: string, body: Uint8Array | string = '', o: { end?: boolean; cut?: boolean; timeoutMs?: number } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const timer = setTimeout(() => { if (!done) { done = true; sock.destroy(); reject(new Error(`no response within ${o.timeoutMs ?? 10_000} ms`)); } }, o.timeoutMs ?? 10_000);
    const finish = (closed: boolean) => {
      if (done) return;
      const he = buf.indexOf('\r\n\r\n');
      if (he < 0) { if (closed) { done = true; clearTimeout(timer); resolve({ status: 0, headers: {}, body: buf.toString('latin1'), closed }); } return; }
      const lines = buf.subarray(0, he).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) { const c = l.indexOf(':'); headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim(); }
      if (status === 100) { buf = buf.subarray(he + 4); finish(closed); return; }
      const noBody = head.startsWith('HEAD ') || status === 204 || status === 304;
      const len = noBody ? 0 : headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
      const rest = buf.subarray(he + 4);
      if (len !== undefined && rest.length >= len) {
        done = true; clearTimeout(timer);
        resolve({ status, headers, body: rest.subarray(0, len).toString('utf8'), closed });
        sock.destroy();
      } else if (closed) {
        done = true; clearTimeout(timer);
        resolve({ status, headers, body: rest.toString('utf8'), closed });
      }
    };
    sock.on('data', (d) => { buf = Buffer.concat([buf, d]); finish(false); });
    sock.on('close', () => finish(true));
    sock.on('error', () => undefined);
    sock.on('connect', () => {
      sock.write(head);
      if (typeof body === 'string' ? body.length : body.length) sock.write(body);
      if (o.cut) setTimeout(() => sock.destroy(), 50);
      else if (o.end) sock.end();
    });
  });
}

/** Sign and send one request; the body goes with a matching Content-Length unless headers say otherwise. */
export async function rawRequest(r: RawRequest, o: { end?: boolean; cut?: boolean; timeoutMs?: number; bodyBytes?: Uint8Array | string } = {}): Promise<RawResponse> {
  const body = r.body ?? '';
  const headers = { ...(r.headers ?? {}) };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-length' || h.toLowerCase() === 'transfer-encoding')) headers['content-length'] = String(Buffer.byteLength(body));
  const { head } = signedHead({ ...r, headers });
  return rawExchange(r.port, head, o.bodyBytes ?? body, o);
}

/** The `<Code>` of an S3 error document, or undefined. */
export const codeOf = (body: string) => /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
