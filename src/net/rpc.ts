/**
 * Framed request/response RPC over HTTP/2 (`node:http2`), authenticated by a shared pool secret.
 *
 * One call is one HTTP/2 stream: POST `/cairn/v1/<method>` whose body is a frame (u32 LE length of
 * a JSON header, the header, then raw payload bytes); the reply is a frame too, with
 * `header.error = { name, code, message, info }` on failure. Bulk data travels as raw payload
 * bytes (never base64) and is read into one buffer sized by `content-length`. Header JSON cannot
 * hold bigints: callers send them as decimal strings.
 *
 * Authentication is per HTTP/2 session and mutual, and the secret never crosses the wire: the
 * client sends a nonce to `_hello`, the server answers with its nonce and HMAC-SHA256(secret,
 * "server"|cn|sn) (so a server that does not know the secret is detected), and the client proves
 * itself with HMAC(secret, "client"|cn|sn) to `_auth`. Until then every other method answers 401
 * AUTH_FAILED and no handler runs. TLS (optional) adds confidentiality.
 */
import http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AbortedError, CairnError, InvalidArgumentError } from '../../core/errors.js';
import { NetError, reviveError, toWireError, type WireError } from './errors.js';
import { Semaphore } from '../../core/semaphore.js';
import { swallowed } from '../../core/log.js';

/** Largest request or response body. */
export const RPC_MAX_BODY = 64 * 1024 * 1024;
/** Default time a call may take. */
export const RPC_DEFAULT_TIMEOUT_MS = 30_000;
/** Calls one client keeps in flight; further calls wait for a slot. */
export const MAX_RPC_IN_FLIGHT = 256;
/** Largest JSON header of a frame. */
export const RPC_MAX_HEADER = 1024 * 1024;
/**
 * Largest body of the handshake calls (`_hello`, `_auth`): they are served before the peer has
 * proven anything, so an unauthenticated peer can never make the server allocate more than this.
 */
export const RPC_MAX_HANDSHAKE_BODY = 4096;
const PATH_PREFIX = '/cairn/v1/';
/** Per-stream and per-session flow-control windows: multi-MiB payloads without a round trip per 64 KiB. */
const WINDOW = 16 * 1024 * 1024;
const SESSION_WINDOW = 128 * 1024 * 1024;
const HTTP2_SETTINGS = { initialWindowSize: WINDOW, maxFrameSize: 1024 * 1024 };

/** One request. */
export interface RpcRequest { method: string; header: Record<string, unknown>; payload?: Uint8Array }
/** One reply. `header.error` is reserved: a reply carrying it is an error reply (see `toWireError`). */
export interface RpcReply { header: Record<string, unknown>; payload?: Uint8Array }
/** Serves authenticated requests; throw a CairnError to answer with an error. */
export type RpcHandler = (req: RpcRequest) => Promise<RpcReply>;

/** Options of one call. */
export interface RpcCallOptions { timeoutMs?: number; signal?: AbortSignal }

/**
 * Something that makes calls: an `RpcClient`, or a router picking the client per call (the
 * engine serving a rank now). Stores and batchers depend on this, not on the client class.
 */
export interface RpcCaller {
  call(method: string, header: Record<string, unknown>, payload?: Uint8Array, o?: RpcCallOptions): Promise<RpcReply>;
}

/**
 * Encode a frame as [prefix+header, payload] (the payload is not copied). The header must be
 * plain JSON: a bigint (or a cycle) is a caller bug, reported as INVALID_ARGUMENT.
 */
function encodeFrame(header: Record<string, unknown>, payload?: Uint8Array): [Buffer, Uint8Array | undefined] {
  let text: string;
  try { text = JSON.stringify(header); } catch (e) {
    throw new InvalidArgumentError(`RPC header is not JSON (encode bigints as decimal strings): ${(e as Error).message}`);
  }
  const json = Buffer.from(text);
  const head = Buffer.allocUnsafe(4 + json.length);
  head.writeUInt32LE(json.length, 0);
  json.copy(head, 4);
  return [head, payload && payload.length ? payload : undefined];
}

/** Decode a frame (NET_PROTOCOL when malformed). */
function decodeFrame(body: Buffer): { header: Record<string, unknown>; payload?: Uint8Array } {
  if (body.length < 4) throw new NetError('NET_PROTOCOL', 'frame shorter than its length prefix');
  const n = body.readUInt32LE(0);
  if (n > RPC_MAX_HEADER || 4 + n > body.length) throw new NetError('NET_PROTOCOL', `frame header length ${n} is out of bounds`);
  let header: unknown;
  try { header = JSON.parse(body.subarray(4, 4 + n).toString('utf8')); } catch { throw new NetError('NET_PROTOCOL', 'frame header is not JSON'); }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new NetError('NET_PROTOCOL', 'frame header is not an object');
  const rest = body.subarray(4 + n);
  return { header: header as Record<string, unknown>, ...(rest.length ? { payload: new Uint8Array(rest.buffer, rest.byteOffset, rest.length) } : {}) };
}

/** Read a stream's body into one buffer (sized by content-length when given). */
function readBody(stream: import('node:stream').Duplex, length: number | undefined, limit = RPC_MAX_BODY): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0 || length > limit)) {
      reject(new NetError('NET_PROTOCOL', `body of ${length} bytes exceeds the ${limit}-byte limit`, { limit, length }));
      return;
    }
    const fixed = length !== undefined ? Buffer.allocUnsafe(length) : undefined;
    const chunks: Buffer[] = [];
    let got = 0;
    let failed = false;
    stream.on('data', (c: Buffer) => {
      if (failed) return;
      if (got + c.length > (fixed ? fixed.length : limit)) {
        failed = true;
        reject(new NetError('NET_PROTOCOL', fixed ? `body longer than the announced ${fixed.length} bytes` : `body exceeds the ${limit}-byte limit`, { limit }));
        return;
      }
      if (fixed) c.copy(fixed, got); else chunks.push(c);
      got += c.length;
    });
    stream.on('end', () => {
      if (fixed && got !== fixed.length) reject(new NetError('NET_PROTOCOL', `body ended after ${got} of ${fixed.length} bytes`));
      else resolve(fixed ?? Buffer.concat(chunks, got));
    });
    stream.on('error', (e: Error) => reject(e));
    stream.on('aborted', () => reject(new NetError('NET_UNREACHABLE', 'stream aborted')));
    stream.resume();
  });
}

function hmac(secret: string, ...parts: string[]): Buffer {
  return createHmac('sha256', secret).update(parts.join('|')).digest();
}

function sameMac(a: Buffer, hex: unknown): boolean {
  if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) return false;
  const b = Buffer.from(hex, 'hex');
  return b.length === a.length && timingSafeEqual(a, b);
}

interface SessionAuth { clientNonce?: string; serverNonce?: string; ok: boolean }

/** An RPC server (one per engine). */
export class RpcServer {
  private readonly auth = new WeakMap<http2.ServerHttp2Session, SessionAuth>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  private constructor(private readonly server: http2.Http2Server | http2.Http2SecureServer, private readonly secret: string, private readonly handler: RpcHandler, readonly host: string, public port: number) {}

  /** Listen on `host:port` (port 0: any free port; `port` then tells which). */
  static async listen(opts: { host?: string; port?: number; secret: string; handler: RpcHandler; tls?: { key: string | Buffer; cert: string | Buffer } }): Promise<RpcServer> {
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new NetError('AUTH_FAILED', 'an RPC server needs the pool secret');
    const common = { settings: HTTP2_SETTINGS, maxSessionMemory: 512 };
    const server = opts.tls ? http2.createSecureServer({ ...common, key: opts.tls.key, cert: opts.tls.cert }) : http2.createServer(common);
    const host = opts.host ?? '127.0.0.1';
    const s = new RpcServer(server, opts.secret, opts.handler, host, 0);
    // Small frames go out at once: with Nagle, concurrent calls stall on delayed ACKs (~40 ms).
    server.on('connection', (sock: import('node:net').Socket) => sock.setNoDelay(true));
    server.on('secureConnection', (sock: import('node:net').Socket) => sock.setNoDelay(true));
    server.on('session', (session) => {
      s.sessions.add(session);
      s.auth.set(session, { ok: false });
      session.setLocalWindowSize?.(SESSION_WINDOW);
      session.on('close', () => s.sessions.delete(session));
      session.on('error', (err) => swallowed('rpc.server-session-error-peer-gone', err)); // its streams fail on their own
    });
    server.on('stream', (stream, headers) => { void s.serve(stream, headers); });
    server.on('sessionError', (err) => swallowed('rpc.server-broken-connection', err));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
    });
    s.port = (server.address() as { port: number }).port;
    return s;
  }

  private async serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', (err) => swallowed('rpc.server-stream-error-client-gone', err)); // nobody left to answer
    const reply = (status: number, header: Record<string, unknown>, payload?: Uint8Array) => {
      if (stream.destroyed || stream.closed) return;
      const [head, body] = encodeFrame(header, payload);
      try {
        stream.respond({ ':status': status, 'content-type': 'application/x-cairn-frame', 'content-length': head.length + (body?.length ?? 0) });
        if (body) { stream.write(head); stream.end(body); } else stream.end(head);
      } catch (err) { swallowed('rpc.reply-to-closed-stream', err); } // the client is gone
    };
    const fail = (status: number, err: unknown) => reply(status, { error: toWireError(err) });
    const path = String(headers[':path'] ?? '');
    if (headers[':method'] !== 'POST' || !path.startsWith(PATH_PREFIX)) { fail(404, new NetError('NET_PROTOCOL', `no such path ${path}`)); return; }
    const method = path.slice(PATH_PREFIX.length);
    const session = stream.session as http2.ServerHttp2Session;
    const auth = this.auth.get(session) ?? { ok: false };
    const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
    if (!auth.ok && method !== '_hello' && method !== '_auth') {
      // Nothing of an unauthenticated request is read or handled.
      fail(401, new NetError('AUTH_FAILED', 'not authenticated: this session has not proven it knows the pool secret'));
      stream.resume();
      return;
    }
    let req: { header: Record<string, unknown>; payload?: Uint8Array };
    try {
      req = decodeFrame(await readBody(stream, len, auth.ok ? RPC_MAX_BODY : RPC_MAX_HANDSHAKE_BODY));
    } catch (err) {
      fail(400, err instanceof CairnError ? err : new NetError('NET_PROTOCOL', (err as Error).message));
      stream.resume();
      return;
    }
    if (method === '_hello') {
      const cn = req.header.nonce;
      if (typeof cn !== 'string' || !/^[0-9a-f]{32}$/.test(cn)) { fail(400, new NetError('NET_PROTOCOL', 'bad hello nonce')); return; }
      const sn = randomBytes(16).toString('hex');
      this.auth.set(session, { clientNonce: cn, serverNonce: sn, ok: false });
      reply(200, { nonce: sn, proof: hmac(this.secret, 'server', cn, sn).toString('hex') });
      return;
    }
    if (method === '_auth') {
      const a = this.auth.get(session);
      if (!a?.clientNonce || !a.serverNonce || !sameMac(hmac(this.secret, 'client', a.clientNonce, a.serverNonce), req.header.proof)) {
        fail(401, new NetError('AUTH_FAILED', 'wrong pool secret'));
        return;
      }
      a.ok = true;
      reply(200, {});
      return;
    }
    try {
      const r = await this.handler({ method, header: req.header, ...(req.payload ? { payload: req.payload } : {}) });
      reply(200, r.header, r.payload);
    } catch (err) {
      fail(200, err);
    }
  }

  /** Stop listening and drop every session. */
  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** An RPC client towards one server address; reconnects on demand. */
export class RpcClient implements RpcCaller {
  private session?: http2.ClientHttp2Session;
  private ready?: Promise<http2.ClientHttp2Session>;
  /** Calls in flight; the rest wait in order (bounded, abortable). */
  private readonly slots = new Semaphore(MAX_RPC_IN_FLIGHT, { what: 'RPC call' });
  private closed = false;
  private readonly address: string;
  private readonly secret: string;
  private readonly timeoutMs: number;

  constructor(private readonly opts: { address: string; secret: string; timeoutMs?: number; tls?: { ca: string | Buffer } }) {
    this.address = opts.address;
    this.secret = opts.secret;
    this.timeoutMs = opts.timeoutMs ?? RPC_DEFAULT_TIMEOUT_MS;
  }

  /**
   * Call `method`; resolves with the reply or throws the (revived) error the server sent.
   * `header` must be plain JSON (bigints as decimal strings). With `MAX_RPC_IN_FLIGHT` calls
   * running, the call first waits for a slot (abortable through `signal`); `timeoutMs` then bounds
   * connecting, the handshake and the call itself (NET_TIMEOUT, the stream is cancelled).
   */
  async call(method: string, header: Record<string, unknown>, payload?: Uint8Array, o: RpcCallOptions = {}): Promise<RpcReply> {
    if (this.closed) throw new NetError('NET_UNREACHABLE', `client of ${this.address} is closed`, { address: this.address, method });
    if (o.signal?.aborted) throw new AbortedError('RPC call aborted', { address: this.address, method });
    if (!this.slots.tryAcquire()) {
      try {
        await this.slots.acquire(o.signal);
      } catch (err) {
        if (err instanceof AbortedError) throw new AbortedError('RPC call aborted', { address: this.address, method });
        throw err;
      }
    }
    try {
      const timeout = o.timeoutMs ?? this.timeoutMs;
      const started = Date.now();
      const session = await this.bounded(this.connect(), timeout, o.signal, method);
      return await this.request(session, method, header, payload, { timeoutMs: Math.max(1, timeout - (Date.now() - started)), signal: o.signal });
    } finally {
      this.slots.release();
    }
  }

  /** The shared connect/handshake, bounded by this call's timeout and signal; errors name the method. */
  private bounded<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, method: string): Promise<T> {
    const info = { address: this.address, method };
    return new Promise<T>((resolve, reject) => {
      const finish = () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); };
      const timer = setTimeout(() => { finish(); reject(new NetError('NET_TIMEOUT', `connecting to ${this.address} took more than ${timeoutMs} ms`, info)); }, timeoutMs);
      const onAbort = () => { finish(); reject(new AbortedError('RPC call aborted', info)); };
      signal?.addEventListener('abort', onAbort, { once: true });
      p.then((v) => { finish(); resolve(v); }, (e) => {
        finish();
        if (e instanceof NetError && e.code === 'NET_UNREACHABLE' && e.info?.method === undefined) reject(new NetError('NET_UNREACHABLE', e.message, { ...e.info, ...info }, { cause: e }));
        else reject(e);
      });
    });
  }

  /** An authenticated session (shared by concurrent callers; redone after a disconnect). */
  private connect(): Promise<http2.ClientHttp2Session> {
    if (this.session && !this.session.closed && !this.session.destroyed && this.ready) return this.ready;
    const url = `${this.opts.tls ? 'https' : 'http'}://${this.address}`;
    const session = http2.connect(url, {
      settings: HTTP2_SETTINGS, maxSessionMemory: 512,
      ...(this.opts.tls ? { ca: this.opts.tls.ca } : {
        // A plain TCP socket without Nagle (see the server side).
        createConnection: (u: URL) => netConnect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), noDelay: true }),
      }),
    });
    if (this.opts.tls) session.once('connect', () => { try { (session.socket as unknown as { setNoDelay(v: boolean): void }).setNoDelay(true); } catch (err) { swallowed('rpc.no-delay-unsupported-on-socket', err); } });
    this.session = session;
    session.on('error', (err) => swallowed('rpc.client-session-error-reported-by-calls', err));
    session.on('close', () => { if (this.session === session) { this.session = undefined; this.ready = undefined; } });
    session.on('connect', () => session.setLocalWindowSize?.(SESSION_WINDOW));
    // Never left unbounded: each caller bounds its wait (see `bounded`), and this bounds the
    // handshake itself so a silent peer does not pin a half-open session forever.
    const ready = (async () => {
      await new Promise<void>((resolve, reject) => {
        if (session.connecting === false && !session.destroyed) { resolve(); return; }
        const timer = setTimeout(() => onErr(new Error(`no connection within ${this.timeoutMs} ms`)), this.timeoutMs);
        const onErr = (e: Error) => { clearTimeout(timer); reject(new NetError('NET_UNREACHABLE', `cannot reach ${this.address}: ${e.message}`, { address: this.address })); };
        session.once('connect', () => { clearTimeout(timer); session.off('error', onErr); resolve(); });
        session.once('error', onErr);
        session.once('close', () => onErr(new Error('connection closed')));
      });
      const cn = randomBytes(16).toString('hex');
      const hello = await this.request(session, '_hello', { nonce: cn }, undefined, {});
      const sn = hello.header.nonce;
      if (typeof sn !== 'string' || !sameMac(hmac(this.secret, 'server', cn, sn), hello.header.proof)) {
        session.destroy();
        throw new NetError('AUTH_FAILED', `engine at ${this.address} does not know the pool secret`, { address: this.address });
      }
      await this.request(session, '_auth', { proof: hmac(this.secret, 'client', cn, sn).toString('hex') }, undefined, {});
      return session;
    })();
    this.ready = ready;
    // A failed handshake is reported to every caller (through `ready`); here the session is dropped.
    const drop = () => { if (this.ready === ready) { this.ready = undefined; this.session = undefined; session.destroy(); } };
    ready.then(undefined, drop);
    return ready;
  }

  private request(session: http2.ClientHttp2Session, method: string, header: Record<string, unknown>, payload: Uint8Array | undefined, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<RpcReply> {
    const [head, body] = encodeFrame(header, payload);
    const total = head.length + (body?.length ?? 0);
    if (total > RPC_MAX_BODY) return Promise.reject(new NetError('NET_PROTOCOL', `request of ${total} bytes exceeds the ${RPC_MAX_BODY}-byte limit`, { method }));
    return new Promise<RpcReply>((resolve, reject) => {
      let settled = false;
      const info = { address: this.address, method };
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request({ ':method': 'POST', ':path': PATH_PREFIX + method, 'content-type': 'application/x-cairn-frame', 'content-length': total });
      } catch (e) {
        reject(new NetError('NET_UNREACHABLE', `cannot send to ${this.address}: ${(e as Error).message}`, info));
        return;
      }
      const done = (err: unknown, r?: RpcReply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) { if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL); reject(err); } else resolve(r!);
      };
      const timeout = o.timeoutMs ?? this.timeoutMs;
      const timer = setTimeout(() => done(new NetError('NET_TIMEOUT', `${method} to ${this.address} took more than ${timeout} ms`, info)), timeout);
      const onAbort = () => done(new AbortedError('RPC call aborted', info));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (e) => done(e instanceof CairnError ? e : new NetError('NET_UNREACHABLE', `${method} to ${this.address} failed: ${e.message}`, info)));
      // Every stream closes, most after their reply: build the error only when it is needed.
      req.on('close', () => setImmediate(() => { if (!settled) done(new NetError('NET_UNREACHABLE', `${method} to ${this.address}: stream closed before the reply`, info)); }));
      req.on('response', (h) => {
        const len = h['content-length'] !== undefined ? Number(h['content-length']) : undefined;
        readBody(req, len).then((buf) => {
          let f: ReturnType<typeof decodeFrame>;
          try { f = decodeFrame(buf); } catch (err) { done(err); return; } // a malformed reply fails this call only
          const e = f.header.error as WireError | undefined;
          if (e) done(reviveError(e, this.address));
          else done(null, { header: f.header, ...(f.payload ? { payload: f.payload } : {}) });
        }, (err) => done(err instanceof CairnError ? err : new NetError('NET_UNREACHABLE', `${method} to ${this.address}: ${(err as Error).message}`, info)));
      });
      if (body) { req.write(head); req.end(body); } else req.end(head);
    });
  }

  /** Close the session; later calls fail with NET_UNREACHABLE. */
  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (s && !s.destroyed) await new Promise<void>((resolve) => { s.close(() => resolve()); setTimeout(() => { s.destroy(); resolve(); }, 1000).unref(); });
  }
}
