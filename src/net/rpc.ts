/**
 * Framed request/response RPC over HTTP/2 (`node:http2`), authenticated by a shared pool secret.
 *
 * One call is one HTTP/2 stream: POST `/cairn/v1/<method>` whose body is a frame (u32 LE length of
 * a JSON header, the header, then raw payload bytes); the reply is a frame too, with
 * `header.error = { name, code, message, info }` on failure. Bulk data travels as raw payload
 * bytes (never base64) and is read into one buffer sized by `content-length`. Header JSON cannot
 * hold bigints: callers send them as decimal strings.
 *
 * Calls are pipelined: once a session is authenticated, the client opens one long-lived stream,
 * `_pipe`, and sends every call on it as a pipe frame (`u32 frame length | u32 call id | u32
 * header length | header JSON | payload`); the server answers each with a frame of the same id,
 * in any order, as its handler finishes. A call then costs one write each way instead of a
 * stream's setup (HEADERS, HPACK, stream state), several times cheaper in CPU. Payload parts are
 * written as they are, never copied together; a received frame is one buffer, payload a view.
 * The frames written in one tick leave in one `writev` (the stream is corked until the next
 * `process.nextTick`). A server reads request payloads of 64 KiB and more into buffers lent by
 * a pool (buffer-pool.ts), given back once the handler settled and its reply was written; a
 * reply may lend its payload the same way (`RpcReply.sent`).
 *
 * Transports. A plain (non-TLS) client sends its pipe frames straight on a TCP connection (the
 * *raw* transport): a 12-byte preface (`CAIRNRPC`, u32 `RPC_PROTOCOL_VERSION`), then the same
 * handshake and pipe frames, with no HTTP/2 framing, flow control or stream state in between
 * (measured on loopback: 512 KiB replies 278 -> 485 MB/s, writes 327 -> 411 MB/s). A server takes
 * both on one port (the first byte tells a raw preface from the HTTP/2 preface); either side
 * refuses a peer of another protocol version with NET_PROTOCOL naming both versions. TLS clients
 * use HTTP/2 (`_pipe` stream); so do plain ones with `transport: 'http2'`.
 *
 * Authentication is per HTTP/2 session (or raw connection) and mutual, and the secret never crosses the wire: the
 * client sends a nonce to `_hello`, the server answers with its nonce and HMAC-SHA256(secret,
 * "server"|cn|sn) (so a server that does not know the secret is detected), and the client proves
 * itself with HMAC(secret, "client"|cn|sn) to `_auth`. Until then every other method answers 401
 * AUTH_FAILED and no handler runs. TLS (optional) adds confidentiality.
 */
import http2 from 'node:http2';
import { connect as netConnect, createServer, Socket, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AbortedError, CairnError, InvalidArgumentError } from '../../core/errors.js';
import { NetError, reviveError, toWireError, type WireError } from './errors.js';
import { Semaphore } from '../../core/semaphore.js';
import { swallowed } from '../../core/log.js';
import { BufferPool, payloadPool, type Lease } from './buffer-pool.js';
import { widenLocalSocket, LOCAL_WIDEN_FRAME_BYTES } from './local-socket.js';
import { ShmRegion, copyFromSlot, shmEnabled, type ShmSlot } from './shm.js';
import { DIRECT_MIN_BYTES, directReadsEnabled, readDirect } from './direct-read.js';

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
/**
 * Version of the raw pipe protocol (framing, handshake, method headers). A client sends it in its
 * preface and checks the server's (in the `_hello` reply); either side refuses another version
 * with NET_PROTOCOL naming both. Version 2: clients store small EC single values whole (piece
 * format 2, b6f6d09), which a client of version 1 reads as damaged pieces (DATA_LOST, and a bad
 * shard reported per value): the two refuse each other at the hello instead. Version 3: an
 * `engine.batch` request carries its items as a binary table at the start of its payload, and its
 * reply likewise (src/net/batch-frame.ts, 1a2fe23); a version-2 peer would refuse every batch as
 * malformed, so the two refuse each other at the hello instead. Version 4: a batch's commit
 * notices travel in its item table, and `engine.locate` requests and replies are binary tables
 * (batch-frame.ts, session 28).
 */
export const RPC_PROTOCOL_VERSION = 4;
/** First bytes of a raw pipe connection (then the u32 LE protocol version). */
const RAW_MAGIC = Buffer.from('CAIRNRPC', 'latin1');
/** Bytes of a raw pipe's preface: magic, version. */
const RAW_PREFACE_BYTES = RAW_MAGIC.length + 4;
/** The buffer a raw client reads replies into (reused for every read). */
const RAW_READ_BUFFER_BYTES = 1024 * 1024;
/**
 * The buffer a server reads its raw connections' requests into (one per server, shared by its
 * connections: each read is parsed before the next one starts, and the parser copies out what it
 * keeps). Payloads of at least `DIRECT_READ_MIN_BYTES` still to come are read straight into their
 * own buffers instead (see `pipeFrameParser`'s `direct`).
 */
const RAW_SERVER_READ_BUFFER_BYTES = 1024 * 1024;
/**
 * Whether a server reads raw connections through `onread` (a reused buffer, payloads in place) or
 * through 'data' events (a new 64 KiB chunk per read). CAIRN_RPC_SERVER_ONREAD=0 picks the latter
 * (A/B measurements).
 */
const SERVER_ONREAD = process.env.CAIRN_RPC_SERVER_ONREAD !== '0';
/** How long a refused raw connection is kept open for its refusal to arrive. */
const REFUSED_LINGER_MS = 1000;
/**
 * The transport a plain (non-TLS) client uses: `raw` (default: pipe frames straight on a TCP
 * connection) or `http2` (pipe frames on an HTTP/2 stream; TLS clients always use it). The
 * CAIRN_RPC_TRANSPORT environment variable overrides it (A/B measurements).
 */
export type RpcTransport = 'raw' | 'http2';
/** The default transport of plain clients. */
export const DEFAULT_RPC_TRANSPORT: RpcTransport = process.env.CAIRN_RPC_TRANSPORT === 'http2' ? 'http2' : 'raw';
/** The method of the long-lived stream that carries pipelined calls. */
const PIPE_METHOD = '_pipe';
/** Bytes before a pipe frame's header JSON: frame length, call id, header length. */
const PIPE_PREFIX = 12;
/** The read whose replies may come through shared memory on one host (a whole-range array read: `fetchArrayInto`). */
const SHM_READ_METHOD = 'shard.fetchArray';
/** Per-stream and per-session flow-control windows: multi-MiB payloads without a round trip per 64 KiB. */
const WINDOW = 16 * 1024 * 1024;
const SESSION_WINDOW = 128 * 1024 * 1024;
const HTTP2_SETTINGS = { initialWindowSize: WINDOW, maxFrameSize: 1024 * 1024 };

/** One request. */
export interface RpcRequest { method: string; header: Record<string, unknown>; payload?: Uint8Array }
/**
 * One reply. `header.error` is reserved: a reply carrying it is an error reply (see `toWireError`).
 * A server may give the payload as `parts` (sent one after the other, never concatenated in
 * memory); the receiver gets them as one `payload`.
 */
export interface RpcReply {
  header: Record<string, unknown>; payload?: Uint8Array; parts?: readonly Uint8Array[]; filled?: boolean;
  /**
   * Server side: called once the transport took the reply's bytes (or the reply was dropped): a
   * payload lent from a pool goes back then. Not sent on the wire.
   */
  sent?: () => void;
}
/** A request or reply payload: one buffer, or parts sent back to back without being copied together. */
export type RpcPayload = Uint8Array | readonly Uint8Array[];
/** Serves authenticated requests; throw a CairnError to answer with an error. */
export type RpcHandler = (req: RpcRequest) => Promise<RpcReply>;

/**
 * Options of one call. `into`: buffers the reply's payload is read straight into when its length
 * is their total length (the reply then says `filled` and carries no `payload`); otherwise the
 * payload comes as usual.
 */
export interface RpcCallOptions { timeoutMs?: number; signal?: AbortSignal; into?: readonly Uint8Array[] }

/**
 * Something that makes calls: an `RpcClient`, or a router picking the client per call (the
 * engine serving a rank now). Stores and batchers depend on this, not on the client class.
 */
export interface RpcCaller {
  call(method: string, header: Record<string, unknown>, payload?: RpcPayload, o?: RpcCallOptions): Promise<RpcReply>;
  /**
   * Whether a whole-range read of `bytes` into the caller's buffers may be answered with where it
   * lies (the server is on this host and reached through its Unix socket, located reads are on:
   * direct-read.ts), so that reads of one turn can be asked for together (`engine.locate`, link.ts).
   */
  locates?(bytes: number): boolean;
}

/**
 * Encode a frame as [prefix+header, ...payload parts] (the payload is never copied). The header
 * must be plain JSON: a bigint (or a cycle) is a caller bug, reported as INVALID_ARGUMENT.
 */
function encodeFrame(header: Record<string, unknown>, payload?: RpcPayload): { head: Buffer; parts: Uint8Array[]; bytes: number } {
  let text: string;
  try { text = JSON.stringify(header); } catch (e) {
    throw new InvalidArgumentError(`RPC header is not JSON (encode bigints as decimal strings): ${(e as Error).message}`);
  }
  const len = Buffer.byteLength(text);
  const head = Buffer.allocUnsafe(4 + len);
  head.writeUInt32LE(len, 0);
  head.write(text, 4);
  const parts = payload === undefined ? [] : (payload instanceof Uint8Array ? [payload] : [...payload]).filter((p) => p.length > 0);
  let bytes = head.length;
  for (const p of parts) bytes += p.length;
  return { head, parts, bytes };
}

/**
 * Write a frame to a stream (and end it, unless `end` is false): header, then each part as it is
 * (no copy). `written` runs once the stream took the last byte (or failed): the parts may be reused then.
 */
function writeFrame(stream: import('node:stream').Writable, f: { head: Buffer; parts: Uint8Array[] }, end = true, written?: () => void): void {
  const cb = written ? () => written() : undefined;
  if (f.parts.length === 0) { if (end) stream.end(f.head, cb); else stream.write(f.head, cb); return; }
  stream.write(f.head);
  for (let i = 0; i < f.parts.length - 1; i++) stream.write(f.parts[i]);
  if (end) stream.end(f.parts[f.parts.length - 1], cb); else stream.write(f.parts[f.parts.length - 1], cb);
}

/** Streams corked until the current tick's callbacks and microtasks are done. */
const corked = new WeakSet<import('node:stream').Writable>();

/**
 * Gather the pipe frames written to `stream` in this tick (every call or reply made in one
 * synchronous stretch and its microtasks) into one write: the stream is corked now and uncorked
 * on the next `process.nextTick` turn, so a socket sends them with one `writev` system call. On
 * loopback each write to an idle peer also wakes it (measured: about 0.2 ms of the writer's CPU per
 * wake-up here), so a frame's head and payload, and the frames of one burst, go out together.
 */
function corkForTick(stream: import('node:stream').Writable): void {
  if (corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  process.nextTick(uncorkStream, stream);
}
function uncorkStream(stream: import('node:stream').Writable): void {
  corked.delete(stream);
  stream.uncork();
}

/** Local (Unix) connections whose send buffer is still the kernel's default (see `widenForLarge`). */
const widenPending = new WeakSet<object>();

/**
 * Before a frame of `bytes` goes out on `stream`: a local connection that carries its first frame
 * of at least `LOCAL_WIDEN_FRAME_BYTES` gets its larger send buffer now (`widenLocalSocket`), so
 * connections that only ever carry small calls keep the default.
 */
function widenForLarge(stream: object, bytes: number): void {
  if (bytes < LOCAL_WIDEN_FRAME_BYTES || !widenPending.has(stream)) return;
  widenPending.delete(stream);
  widenLocalSocket(stream as Socket);
}

/**
 * Payloads up to this many bytes are copied into the pipe frame's head buffer (one write, one
 * DATA frame); larger ones are written as they are (never copied).
 */
const PIPE_INLINE_PAYLOAD_BYTES = 4096;

/**
 * A pipe frame: the frame prefix (length, id, header length), the header JSON and the payload —
 * one buffer for the prefix and header (and a small payload), the parts of a large payload as
 * they are. `method` (when given) travels in the header as `_m`.
 */
function encodePipeFrame(id: number, header: Record<string, unknown>, payload?: RpcPayload, method?: string): { head: Buffer; parts: Uint8Array[]; bytes: number } {
  let text: string;
  try { text = JSON.stringify(header); } catch (e) {
    throw new InvalidArgumentError(`RPC header is not JSON (encode bigints as decimal strings): ${(e as Error).message}`);
  }
  if (method !== undefined) text = text.length <= 2 ? `{"_m":${JSON.stringify(method)}}` : `${text.slice(0, -1)},"_m":${JSON.stringify(method)}}`;
  const hlen = Buffer.byteLength(text);
  const parts = payload === undefined ? [] : (payload instanceof Uint8Array ? (payload.length ? [payload] : []) : payload.filter((p) => p.length > 0));
  let plen = 0;
  for (const p of parts) plen += p.length;
  const inline = plen <= PIPE_INLINE_PAYLOAD_BYTES;
  const head = Buffer.allocUnsafe(PIPE_PREFIX + hlen + (inline ? plen : 0));
  head.writeUInt32LE(PIPE_PREFIX + hlen + plen, 0);
  head.writeUInt32LE(id, 4);
  head.writeUInt32LE(hlen, 8);
  head.write(text, PIPE_PREFIX);
  if (inline) {
    let at = PIPE_PREFIX + hlen;
    for (const p of parts) { head.set(p, at); at += p.length; }
  }
  return { head, parts: inline ? [] : parts, bytes: PIPE_PREFIX + hlen + plen };
}

/** Where the frames a pipe reads go. */
interface PipeSink {
  /**
   * Buffers the payload of frame `id` is to be read straight into (in order), or undefined. Used
   * only when their total length is the payload's length; otherwise the payload is one new buffer.
   */
  into?(id: number): readonly Uint8Array[] | undefined;
  /**
   * A whole frame: its header, and its payload unless it went `into` the given buffers (`filled`).
   * `lease`: the payload was lent by the parser's pool; the sink releases it once done with it.
   */
  frame(id: number, f: { header: Record<string, unknown>; payload?: Uint8Array; filled?: boolean; lease?: Lease } | Error): void;
  /** A call waiting for its reply reads it `into` buffers of at least `DIRECT_READ_MIN_BYTES` (optional). */
  expectsLarge?(): boolean;
}

/**
 * Read pipe frames from `stream` as they arrive: prefix, header, then the payload streamed into its
 * destination — the caller's buffers when `sink.into` names them (no intermediate buffer), else one
 * buffer (a payload inside one received chunk is a view of it, not copied). `onEnd()` at the end of
 * the stream, `onEnd(err)` when a frame breaks the framing or the limits (the pipe is then dead).
 */
function readPipeFrames(stream: import('node:stream').Readable, sink: PipeSink, onEnd: (err?: Error) => void, maxBody: () => number = () => RPC_MAX_BODY, pool?: BufferPool): void {
  const { push, end } = pipeFrameParser(sink, onEnd, maxBody, pool);
  stream.on('data', (c: Buffer) => push(c, false));
  stream.on('end', end);
  stream.resume();
}

/** A pipe frame being read (`pipeFrameParser`): after its prefix, and its header once `header` is set. */
interface FrameState {
  id: number; hlen: number; plen: number; header: Record<string, unknown> | Error | undefined; dest: readonly Uint8Array[] | undefined;
  filled: boolean; di: number; doff: number; got: number; payload: Uint8Array | undefined; lease: Lease | undefined;
}

/**
 * A whole frame as its sink gets it: always the same four fields (undefined when absent), so the
 * sinks' reads stay monomorphic (spreading the optional ones made four hidden classes: measured,
 * a 'wrong map' deoptimisation of the server's `frame` in every engine inside a benchmark phase).
 */
function wholeFrame(f: FrameState): { header: Record<string, unknown>; payload: Uint8Array | undefined; filled: boolean; lease: Lease | undefined } {
  return { header: f.header as Record<string, unknown>, payload: f.payload !== undefined && f.plen > 0 ? f.payload : undefined, filled: f.filled, lease: f.lease };
}

/**
 * The parser behind `readPipeFrames`: `push(chunk, transient)` feeds it bytes as they arrive,
 * `end()` says the stream ended (its own function: an end-of-stream branch inside `push` ran once
 * per connection, without call feedback, and deoptimised the optimised `push` of every engine at
 * its warm-up connection's end: `--trace-deopt`, session 24). A `transient` chunk is a view of a buffer the caller
 * reuses once `push` returns (a socket's `onread` buffer): nothing of it is kept (a payload is then
 * always copied into its own buffer or straight into the caller's `into` buffers).
 *
 * `direct()` (a socket's `onread` buffer generator asks it before each read) names where the next
 * read may go in place: the rest of the payload destination being filled (the caller's `into`
 * buffer, or the frame's own payload buffer) when nothing else is buffered and at least
 * `DIRECT_READ_MIN_BYTES` of the payload remain (the rest of the current destination buffer may be
 * shorter), never more than the payload's remaining bytes (so a read never takes bytes of the next
 * frame). The chunk of such a read is that view: the parser counts its bytes as landed, copying
 * nothing. `shortRead()` says when the read at a frame's start should be short (`HEAD_READ_BYTES`).
 */
/**
 * An empty list of buffers whose elements kind already holds objects. A literal `[]` starts as a
 * list of small integers and changes kind at its first push; every connection's parser starts with
 * one, so the first push of each new connection's parser deoptimised the shared optimised `push`
 * ("not a Smi" at `chunks.push`, --trace-deopt-verbose, every engine once a client connected after
 * the warm-up), which then ran in the baseline tier for seconds (perf: `^push` 4.2% of engine main).
 */
function chunkList(): Buffer[] {
  const a: Buffer[] = [EMPTY_CHUNK];
  a.length = 0;
  return a;
}
const EMPTY_CHUNK = Buffer.alloc(0);

function pipeFrameParser(sink: PipeSink, onEnd: (err?: Error) => void, maxBody: () => number, pool?: BufferPool): FrameParser {
  let chunks: Buffer[] = chunkList();
  /** The last whole frame's payload was large enough to be read in place (the next one likely is too). */
  let lastLarge = false;
  let have = 0;
  let failed = false;
  /** The frame being read: after its prefix (and header, once `header` is set). */
  let cur: FrameState | undefined;
  /** Take `n` buffered bytes (a view when they lie in the first chunk). */
  const take = (n: number): Buffer => {
    const c0 = chunks[0]!;
    if (c0.length >= n) {
      const out = c0.subarray(0, n);
      if (c0.length === n) chunks.shift(); else chunks[0] = c0.subarray(n);
      have -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = chunks[0]!;
      const k = Math.min(c.length, n - got);
      c.copy(out, got, 0, k);
      got += k;
      if (k === c.length) chunks.shift(); else chunks[0] = c.subarray(k);
    }
    have -= n;
    return out;
  };
  const fail = (err: Error) => { failed = true; chunks = chunkList(); have = 0; onEnd(err); };
  const keep = () => { for (let i = 0; i < chunks.length; i++) chunks[i] = Buffer.from(chunks[i]!); }; // (in place: the list keeps its elements kind)
  /** The view `direct()` handed out last (its reads land in place). */
  let lent: Uint8Array | undefined;
  const direct = (): Uint8Array | undefined => {
    lent = undefined;
    if (failed || !cur || cur.header === undefined || !cur.dest || have !== 0) return undefined;
    // The payload's rest decides (not the rest of the current destination buffer: a payload read
    // into many cells reaches each cell's end at an arbitrary point, and a short rest there read
    // into the reused buffer took the following cells with it, copied).
    const rest = cur.plen - cur.got;
    if (rest < DIRECT_READ_MIN_BYTES) return undefined;
    const d = cur.dest[cur.di]!;
    const n = Math.min(d.length - cur.doff, rest);
    lent = d.subarray(cur.doff, cur.doff + n);
    return lent;
  };
  const end = (): void => {
    if (failed) return;
    failed = true;
    onEnd();
  };
  const push = (c: Buffer, transient: boolean, inPlace = false): void => {
    if (failed) return;
    if (inPlace) {
      // A read straight into the destination `direct()` named: its bytes are where they belong.
      const f = cur!;
      const d = f.dest![f.di]!;
      f.doff += c.length; f.got += c.length;
      if (f.doff === d.length) { f.di++; f.doff = 0; }
      if (f.got < f.plen) return;
      cur = undefined;
      lastLarge = true;
      sink.frame(f.id, f.header instanceof Error ? f.header : wholeFrame(f));
      return;
    }
    chunks.push(c);
    have += c.length;
    for (;;) {
      if (!cur) {
        if (have < PIPE_PREFIX) break;
        const pre = take(PIPE_PREFIX);
        const len = pre.readUInt32LE(0), id = pre.readUInt32LE(4), hlen = pre.readUInt32LE(8);
        if (len < PIPE_PREFIX || len - 8 > maxBody() || hlen > RPC_MAX_HEADER || PIPE_PREFIX + hlen > len) { fail(new NetError('NET_PROTOCOL', `pipe frame of ${len} bytes (header ${hlen}) is out of bounds`)); return; }
        // (every field set here, in one order: frames read along different paths share one hidden class)
        cur = { id, hlen, plen: len - PIPE_PREFIX - hlen, header: undefined, dest: undefined, filled: false, di: 0, doff: 0, got: 0, payload: undefined, lease: undefined };
      }
      if (cur.header === undefined) {
        if (have < cur.hlen) break;
        const h = take(cur.hlen);
        try {
          const v: unknown = JSON.parse(h.toString('utf8'));
          cur.header = typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : new NetError('NET_PROTOCOL', 'frame header is not an object');
        } catch { cur.header = new NetError('NET_PROTOCOL', 'frame header is not JSON'); }
        const into = cur.header instanceof Error ? undefined : sink.into?.(cur.id);
        if (into && cur.plen > 0 && into.reduce((n, b) => n + b.length, 0) === cur.plen) { cur.dest = into; cur.filled = true; }
        else if (!transient && cur.plen > 0 && chunks.length > 0 && chunks[0]!.length >= cur.plen) { cur.payload = take(cur.plen); cur.got = cur.plen; }
        else if (cur.plen > 0 && pool && !(cur.header instanceof Error) && BufferPool.pools(cur.plen)) { cur.lease = pool.take(cur.plen); cur.payload = cur.lease.bytes; cur.dest = [cur.payload]; }
        else if (cur.plen > 0) { cur.payload = Buffer.allocUnsafe(cur.plen); cur.dest = [cur.payload]; }
      }
      while (cur.got < cur.plen && have > 0) {
        const c0 = chunks[0]!;
        const d = cur.dest![cur.di]!;
        const k = Math.min(c0.length, d.length - cur.doff, cur.plen - cur.got);
        d.set(k === c0.length ? c0 : c0.subarray(0, k), cur.doff);
        cur.doff += k; cur.got += k; have -= k;
        if (k === c0.length) chunks.shift(); else chunks[0] = c0.subarray(k);
        if (cur.doff === d.length) { cur.di++; cur.doff = 0; }
      }
      if (cur.got < cur.plen) return;
      const f = cur;
      cur = undefined;
      lastLarge = f.plen >= DIRECT_READ_MIN_BYTES;
      sink.frame(f.id, f.header instanceof Error ? f.header : wholeFrame(f));
    }
    // What is left (part of a frame's prefix or header) is kept past a transient buffer. One call
    // site for both cases, reached at the end of every read: the one at a partial header, rare,
    // had no feedback and deoptimised the optimised `push` when first reached ("insufficient type
    // feedback for call", --trace-deopt-verbose, an engine reading 1 MiB values).
    if (transient) keep();
  };
  /**
   * Between frames (or inside a frame's prefix and header) when the frame before was large: the
   * next read should be short (`HEAD_READ_BYTES`), so that it takes the prefix and header and the
   * payload's rest is read in place rather than into the reused buffer and copied from there.
   */
  const shortRead = (): boolean => !failed && (cur === undefined || cur.header === undefined) && (lastLarge || sink.expectsLarge?.() === true);
  return { push, end, direct, lent: () => lent, shortRead };
}

/** A pipe frame parser: feed it chunks (`push`); `direct()`/`lent()`: reads in place (see `pipeFrameParser`). */
interface FrameParser {
  push(c: Buffer, transient: boolean, inPlace?: boolean): void;
  /** The stream ended (`onEnd` is called, once). */
  end(): void;
  direct(): Uint8Array | undefined;
  lent(): Uint8Array | undefined;
  /** The next read should be at most `HEAD_READ_BYTES` (a large payload likely follows its header). */
  shortRead(): boolean;
}

/**
 * Bytes raw clients of this process read, by where they landed: straight in their destination
 * (`inPlaceBytes`) or in the connection's read buffer, copied from there as needed
 * (`bufferedBytes`), and reply bytes that came through a slot of the connection's shared region
 * instead of the socket (`sharedBytes`, src/net/shm.ts), and bytes read by the client itself out of
 * an engine's data file (`directBytes`, direct-read.ts; `directMisses`: located reads that did not
 * check out and were read again by the engine), and the `engine.locate` requests links sent
 * (`locateRequests`) with the reads they asked for (`locateItems`, link.ts). For tests and benchmarks.
 */
export const rawReadStats = { inPlaceBytes: 0, bufferedBytes: 0, sharedBytes: 0, directBytes: 0, directMisses: 0, locateRequests: 0, locateItems: 0 };

/**
 * Least payload bytes a socket read goes straight into their destination for (less: the read goes
 * into the connection's reused buffer and is copied from there; a read per small piece costs more
 * than the copy).
 */
const DIRECT_READ_MIN_BYTES = 32 * 1024;
/**
 * Longest read at the start of a frame that likely carries a large payload: the prefix, the header
 * and at most this much payload land in the reused buffer (copied out); the rest is read in place.
 * Without it the first read took whatever the socket held (up to its ~200 KiB buffer): measured,
 * 55% of a client's 1 MiB EC read bytes were copied.
 */
const HEAD_READ_BYTES = 2 * 1024;

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

/** Resolve once `conn` emits 'connect'; NET_UNREACHABLE on an error, a close, or `timeoutMs` without it. */
function connected(conn: import('node:events').EventEmitter, timeoutMs: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => onErr(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    const onErr = (e: Error) => { clearTimeout(timer); reject(new NetError('NET_UNREACHABLE', `cannot reach ${address}: ${e.message}`, { address })); };
    conn.once('connect', () => { clearTimeout(timer); conn.off('error', onErr); resolve(); });
    conn.once('error', onErr);
    conn.once('close', () => onErr(new Error('connection closed')));
  });
}

/**
 * The client's half of a connection's handshake, over `call` (a raw pipe's or an HTTP/2
 * session's): `_hello` with a fresh nonce; the server proves it knows the secret (and, `version`,
 * that it speaks this protocol version); then `_auth` proves this client does.
 */
async function handshake(secret: string, address: string, version: boolean, call: (method: string, header: Record<string, unknown>) => Promise<RpcReply>): Promise<void> {
  const info = { address };
  const cn = randomBytes(16).toString('hex');
  const hello = await call('_hello', { nonce: cn });
  const sn = hello.header.nonce;
  if (version && hello.header.version !== RPC_PROTOCOL_VERSION) {
    throw new NetError('NET_PROTOCOL', `engine at ${address} speaks Cairn RPC protocol v${String(hello.header.version)}, this client v${RPC_PROTOCOL_VERSION}: run the same Cairn version on both sides`, { ...info, version: RPC_PROTOCOL_VERSION, peerVersion: hello.header.version ?? null });
  }
  if (typeof sn !== 'string' || !sameMac(hmac(secret, 'server', cn, sn), hello.header.proof)) {
    throw new NetError('AUTH_FAILED', `engine at ${address} does not know the pool secret`, info);
  }
  await call('_auth', { proof: hmac(secret, 'client', cn, sn).toString('hex') });
}

/** Why a listen on an address failed, in words, by Node's error code. */
const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (EADDRINUSE): another process listens there; stop it or choose another address',
  EADDRNOTAVAIL: 'the address is not one of this host\'s (EADDRNOTAVAIL)',
  EACCES: 'permission denied (EACCES): ports below 1024 need privileges',
  ENOTFOUND: 'the host name does not resolve (ENOTFOUND)',
  EAI_AGAIN: 'the host name does not resolve (EAI_AGAIN)',
};

/**
 * A failed listen as a typed error naming `host:port` (`IO_ERROR`, as the CLI reported the raw
 * system error before: a system call failed, nothing was bound). A port taken by another process
 * was Node's bare "listen EADDRINUSE" error, naming neither whose listen nor how to fix it.
 */
function listenError(err: unknown, host: string, port: number): CairnError {
  if (err instanceof CairnError) return err;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const why = (errno !== undefined ? LISTEN_FAILURES[errno] : undefined) ?? String((err as Error)?.message ?? err);
  return new NetError('IO_ERROR', `cannot listen on ${address}: ${why}`, { address, ...(errno !== undefined ? { errno } : {}) }, { cause: err });
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

/** Something a server can drop at close: an HTTP/2 session or a raw connection. */
interface Droppable { destroy(): void }

/** An RPC server (one per engine). */
/** The parts of a socket's handle that `adoptForUserReads` uses (Node's stream handle, not public API). */
interface StreamHandle { useUserBuffer?: (b: Uint8Array) => void }

/**
 * Move the handle of an accepted connection `sock` to a new socket that reads through `onread`
 * (`buffer` names where each read goes, `callback` takes its bytes before the next read), as
 * clients' sockets do: Node 20 gives accepted sockets 'data' events only, a new 64 KiB buffer per
 * read and the stream machinery per chunk. What `sock` had read and buffered is returned, in
 * order, to be parsed first; `sock` is then destroyed without its handle (the connection stays
 * open, owned by the new socket). Undefined (and `sock` left as it was) when the handle cannot
 * take a user buffer or the peer already ended: the caller keeps reading `sock` as before.
 */
function adoptForUserReads(sock: Socket, buffer: () => Uint8Array, callback: (n: number, buf: Uint8Array) => boolean): { socket: Socket; buffered: Buffer[] } | undefined {
  const s = sock as unknown as { _handle?: StreamHandle | null; _readableState?: { ended?: boolean } };
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || sock.destroyed || s._readableState?.ended !== false) return undefined;
  const buffered: Buffer[] = [];
  for (let c = sock.read() as Buffer | null; c !== null; c = sock.read() as Buffer | null) buffered.push(c);
  // The new socket takes the handle over (its owner, read callback and user buffer); the old one
  // forgets it, so destroying it closes nothing.
  const socket = new Socket({ handle, onread: { buffer, callback } } as unknown as ConstructorParameters<typeof Socket>[0]);
  s._handle = null;
  sock.destroy();
  socket.setNoDelay(true);
  return { socket, buffered };
}

export class RpcServer {
  private readonly auth = new WeakMap<http2.ServerHttp2Session, SessionAuth>();
  /** HTTP/2 sessions and raw connections (authenticated or not yet), dropped at close. */
  private readonly sessions = new Set<Droppable>();
  /** Every accepted TCP connection (plain servers), dropped at close. */
  private readonly sockets = new Set<Socket>();
  /** The plain server's TCP listener (it hands HTTP/2 connections to `server`); none with TLS. */
  private front?: Server;
  /** The Unix socket listener for clients on this host (`listenLocal`), if bound. */
  private local?: Server;
  /** The path of that Unix socket, if bound. */
  localPath?: string;
  /** Request payloads of pipe frames are read into buffers lent by this pool (released when their handler settles). */
  private readonly pool = payloadPool;
  /** Raw connections read here (see `RAW_SERVER_READ_BUFFER_BYTES`), allocated on the first one. */
  private get readBuffer(): Buffer { return (this.sharedReadBuffer ??= Buffer.allocUnsafe(RAW_SERVER_READ_BUFFER_BYTES)); }
  private sharedReadBuffer?: Buffer;

  private constructor(private readonly server: http2.Http2Server | http2.Http2SecureServer, private readonly secret: string, private readonly handler: RpcHandler, readonly host: string, public port: number) {}

  /**
   * Listen on `host:port` (port 0: any free port; `port` then tells which). A plain server takes
   * both transports on its one port: a connection whose first byte is that of `RAW_MAGIC` is a raw
   * pipe, anything else goes to HTTP/2. A TLS server speaks HTTP/2 only.
   */
  static async listen(opts: { host?: string; port?: number; secret: string; handler: RpcHandler; tls?: { key: string | Buffer; cert: string | Buffer }; localPath?: string }): Promise<RpcServer> {
    if (typeof opts.secret !== 'string' || opts.secret.length === 0) throw new NetError('AUTH_FAILED', 'an RPC server needs the pool secret');
    const common = { settings: HTTP2_SETTINGS, maxSessionMemory: 512 };
    const server = opts.tls ? http2.createSecureServer({ ...common, key: opts.tls.key, cert: opts.tls.cert }) : http2.createServer(common);
    const host = opts.host ?? '127.0.0.1';
    const s = new RpcServer(server, opts.secret, opts.handler, host, 0);
    // Small frames go out at once: with Nagle, concurrent calls stall on delayed ACKs (~40 ms).
    server.on('connection', (sock: Socket) => sock.setNoDelay(true));
    server.on('secureConnection', (sock: Socket) => sock.setNoDelay(true));
    server.on('session', (session) => {
      s.sessions.add(session);
      s.auth.set(session, { ok: false });
      session.setLocalWindowSize?.(SESSION_WINDOW);
      session.on('close', () => s.sessions.delete(session));
      session.on('error', (err) => swallowed('rpc.server-session-error-peer-gone', err)); // its streams fail on their own
    });
    server.on('stream', (stream, headers) => { void s.serve(stream, headers); });
    server.on('sessionError', (err) => swallowed('rpc.server-broken-connection', err));
    const listener: Server = opts.tls ? server : (s.front = createServer((sock) => s.accept(sock)));
    await new Promise<void>((resolve, reject) => {
      const failed = (err: unknown) => reject(listenError(err, host, opts.port ?? 0));
      listener.once('error', failed);
      listener.listen(opts.port ?? 0, host, () => { listener.off('error', failed); resolve(); });
    });
    s.port = (listener.address() as { port: number }).port;
    if (opts.localPath !== undefined && !opts.tls) await s.listenLocal(opts.localPath);
    return s;
  }

  /**
   * Also take connections on the Unix socket `path` (the same handshake and frames; plain servers
   * only): clients on this host reach the engine without the TCP stack (see `localSocketPath`).
   * A path that cannot be bound leaves the server on TCP alone (`localPath` stays undefined).
   */
  private async listenLocal(path: string): Promise<void> {
    const local = createServer((sock) => { widenPending.add(sock); this.accept(sock); });
    try {
      rmSync(path, { force: true }); // a socket file left by a killed process with the same directories
      await new Promise<void>((resolve, reject) => {
        local.once('error', reject);
        local.listen(path, () => { local.off('error', reject); resolve(); });
      });
      local.on('error', (err) => swallowed('rpc.local-listener-error', err));
      this.local = local;
      this.localPath = path;
    } catch (err) {
      swallowed('rpc.local-socket-not-bound-tcp-only', err);
      local.close();
    }
  }

  /** A plain TCP connection: its first byte says raw pipe or HTTP/2. */
  private accept(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    sock.on('error', (err) => swallowed('rpc.server-socket-error-peer-gone', err));
    sock.on('close', () => { this.sockets.delete(sock); this.sessions.delete(sock); });
    sock.once('data', (first: Buffer) => {
      sock.pause();
      if (first[0] === RAW_MAGIC[0]) { this.sessions.add(sock); this.serveRaw(sock, first); return; }
      sock.unshift(first);
      this.server.emit('connection', sock);
    });
  }

  /**
   * A raw pipe: the preface (magic, protocol version), then pipe frames. Until the handshake
   * (`_hello`, `_auth`, as over HTTP/2) succeeds, frames are at most RPC_MAX_HANDSHAKE_BODY bytes
   * and no handler runs; a peer of another protocol version gets NET_PROTOCOL naming both versions.
   */
  private serveRaw(sock: Socket, first: Buffer): void {
    let head = first;
    const preface = (): void => {
      if (head.length < RAW_PREFACE_BYTES) {
        sock.once('data', (more: Buffer) => { sock.pause(); head = Buffer.concat([head, more]); preface(); });
        sock.resume();
        return;
      }
      if (!head.subarray(0, RAW_MAGIC.length).equals(RAW_MAGIC)) { sock.destroy(); return; }
      const version = head.readUInt32LE(RAW_MAGIC.length);
      const rest = head.subarray(RAW_PREFACE_BYTES);
      const auth: SessionAuth = { ok: false };
      const mismatch = version === RPC_PROTOCOL_VERSION ? undefined : new NetError('NET_PROTOCOL',
        `the client speaks Cairn RPC protocol v${version}, this engine v${RPC_PROTOCOL_VERSION}: run the same Cairn version on both sides`,
        { version: RPC_PROTOCOL_VERSION, peerVersion: version });
      const gate = mismatch ? () => mismatch : (id: number, header: Record<string, unknown>, answer: (id: number, header: Record<string, unknown>) => void) => this.rawHandshake(auth, header, id, answer);
      const maxBody = () => (auth.ok ? RPC_MAX_BODY : RPC_MAX_HANDSHAKE_BODY);
      // Requests are read into the server's reused buffer, payloads in place (`onread`), not in a
      // new 64 KiB chunk per read through the stream machinery.
      const feed: { parser?: FrameParser } = {};
      const readBuffer = this.readBuffer;
      const headBuffer = readBuffer.subarray(0, HEAD_READ_BYTES);
      const adopted = SERVER_ONREAD ? adoptForUserReads(sock, () => feed.parser?.direct() ?? (feed.parser?.shortRead() ? headBuffer : readBuffer), (n, buf) => {
        const p = feed.parser;
        if (p === undefined) return true;
        if (buf !== readBuffer && buf === p.lent()) p.push(Buffer.from(buf.buffer, buf.byteOffset, n), true, true);
        else p.push(Buffer.from(buf.buffer, buf.byteOffset, n), true);
        return true;
      }) : undefined;
      if (!adopted) {
        if (rest.length) sock.unshift(rest);
        this.runPipe(sock, () => sock.destroy(), gate, maxBody);
        return;
      }
      const conn = adopted.socket;
      if (widenPending.has(sock)) widenPending.add(conn); // the same connection, now owned by `conn`
      this.sockets.delete(sock); this.sessions.delete(sock);
      this.sockets.add(conn); this.sessions.add(conn);
      conn.on('error', (err) => swallowed('rpc.server-socket-error-peer-gone', err));
      conn.on('close', () => { this.sockets.delete(conn); this.sessions.delete(conn); });
      this.runPipe(conn, () => conn.destroy(), gate, maxBody, feed, [rest, ...adopted.buffered]);
    };
    preface();
  }

  /**
   * One frame of a raw pipe seen by its gate: 'pass' once the connection is authenticated; else a
   * handshake frame, answered here (undefined), or the error to answer with (the pipe then closes).
   */
  private rawHandshake(a: SessionAuth, header: Record<string, unknown>, id: number, answer: (id: number, header: Record<string, unknown>) => void): Error | undefined | 'pass' {
    if (a.ok) return 'pass';
    const step = this.handshakeStep(a, String(header._m), header);
    if (step instanceof Error) return step;
    answer(id, step);
    return undefined;
  }

  /**
   * One call of a connection's handshake (raw pipe or HTTP/2 session): `_hello` (once) answers the
   * server's nonce and proof (and its protocol version); `_auth` with the client's proof
   * authenticates the connection. Returns the reply header, or the error to answer with.
   */
  private handshakeStep(a: SessionAuth, method: string, header: Record<string, unknown>): Record<string, unknown> | NetError {
    if (method === '_hello' && a.serverNonce === undefined) {
      const cn = header.nonce;
      if (typeof cn !== 'string' || !/^[0-9a-f]{32}$/.test(cn)) return new NetError('NET_PROTOCOL', 'bad hello nonce');
      a.clientNonce = cn;
      a.serverNonce = randomBytes(16).toString('hex');
      return { nonce: a.serverNonce, proof: hmac(this.secret, 'server', cn, a.serverNonce).toString('hex'), version: RPC_PROTOCOL_VERSION };
    }
    if (method === '_auth' && a.clientNonce !== undefined && a.serverNonce !== undefined && sameMac(hmac(this.secret, 'client', a.clientNonce, a.serverNonce), header.proof)) {
      a.ok = true;
      return {};
    }
    return new NetError('AUTH_FAILED', method === '_auth' ? 'wrong pool secret' : 'not authenticated: this connection has not proven it knows the pool secret');
  }

  private async serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', (err) => swallowed('rpc.server-stream-error-client-gone', err)); // nobody left to answer
    const reply = (status: number, header: Record<string, unknown>, payload?: RpcPayload, sent?: () => void) => {
      if (stream.destroyed || stream.closed) { sent?.(); return; }
      let f: ReturnType<typeof encodeFrame>;
      try { f = encodeFrame(header, payload); } catch (err) { f = encodeFrame({ error: toWireError(err) }); }
      try {
        stream.respond({ ':status': status, 'content-type': 'application/x-cairn-frame', 'content-length': f.bytes });
        writeFrame(stream, f, true, sent);
      } catch (err) { sent?.(); swallowed('rpc.reply-to-closed-stream', err); } // the client is gone
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
    if (method === PIPE_METHOD) { this.servePipe(stream); return; }
    let req: { header: Record<string, unknown>; payload?: Uint8Array };
    try {
      req = decodeFrame(await readBody(stream, len, auth.ok ? RPC_MAX_BODY : RPC_MAX_HANDSHAKE_BODY));
    } catch (err) {
      fail(400, err instanceof CairnError ? err : new NetError('NET_PROTOCOL', (err as Error).message));
      stream.resume();
      return;
    }
    if (method === '_hello' || method === '_auth') {
      if (!this.auth.has(session)) this.auth.set(session, auth);
      const step = this.handshakeStep(auth, method, req.header);
      if (step instanceof Error) fail(step.code === 'AUTH_FAILED' ? 401 : 400, step);
      else reply(200, step);
      return;
    }
    try {
      const r = await this.handler({ method, header: req.header, ...(req.payload ? { payload: req.payload } : {}) });
      reply(200, r.header, r.parts ?? r.payload, r.sent);
    } catch (err) {
      fail(200, err);
    }
  }

  /** Serve the pipelined calls of one authenticated HTTP/2 session on its `_pipe` stream. */
  private servePipe(stream: http2.ServerHttp2Stream): void {
    try { stream.respond({ ':status': 200, 'content-type': 'application/x-cairn-pipe' }); } catch (err) { swallowed('rpc.pipe-respond-client-gone', err); return; }
    this.runPipe(stream, () => stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR));
    stream.on('error', (err) => swallowed('rpc.pipe-stream-error-client-gone', err));
  }

  /**
   * Serve pipe frames on `stream`: each frame runs the handler; replies go back as they finish.
   * `gate` (raw pipes) sees every frame first: it handles the handshake (returns undefined having
   * answered, or an error to answer with, after which the pipe is closed) and lets frames through
   * (returns undefined without answering) once the connection is authenticated.
   */
  private runPipe(stream: Duplex, kill: () => void, gate?: (id: number, header: Record<string, unknown>, answer: (id: number, header: Record<string, unknown>) => void) => Error | undefined | 'pass', maxBody?: () => number, feed?: { parser?: FrameParser }, first?: readonly Buffer[]): void {
    let running = 0, ended = false;
    const finish = () => { if (ended && running === 0 && !stream.destroyed) stream.end(); };
    const answer = (id: number, header: Record<string, unknown>, payload?: RpcPayload, sent?: () => void) => {
      if (stream.destroyed || stream.writableEnded) { sent?.(); return; }
      let f: ReturnType<typeof encodePipeFrame>;
      try { f = encodePipeFrame(id, header, payload); } catch (err) { f = encodePipeFrame(id, { error: toWireError(err) }); }
      if (f.bytes - 8 > RPC_MAX_BODY) f = encodePipeFrame(id, { error: toWireError(new NetError('NET_PROTOCOL', `reply of ${f.bytes} bytes exceeds the ${RPC_MAX_BODY}-byte limit`)) });
      // A small payload was copied into the frame's head: its buffer is free at once.
      if (sent && f.parts.length === 0) { sent(); sent = undefined; }
      widenForLarge(stream, f.bytes);
      try { corkForTick(stream); writeFrame(stream, f, false, sent); } catch (err) { sent?.(); swallowed('rpc.pipe-reply-client-gone', err); }
    };
    let authed = gate === undefined;
    const sink: PipeSink = {
      frame: (id, f) => {
        if (f instanceof Error) { answer(id, { error: toWireError(f) }); return; }
        if (!authed) {
          const g = gate!(id, f.header, answer);
          // the gate answers a handshake frame itself (its payload is free now); a frame it passes
          // goes on to the handler with its payload, released when that settles (below)
          if (g !== 'pass') f.lease?.release();
          if (g instanceof Error) {
            answer(id, { error: toWireError(g) });
            ended = true;
            finish();
            setTimeout(kill, REFUSED_LINGER_MS).unref(); // the refusal is sent; a peer that stays is dropped
            return;
          }
          if (g !== 'pass') return;
          authed = true;
        }
        const method = typeof f.header._m === 'string' ? f.header._m : '';
        // (cleared, not deleted: a deleted property turned every request's header into a
        // dictionary-mode object; an undefined field reads as absent and JSON leaves it out)
        f.header._m = undefined;
        running++;
        // A pooled request payload goes back once the handler settled and its reply was written
        // (a reply may carry views of the request's payload). One reaction per request, no
        // `finally` (a second promise and microtask per request).
        const lease = f.lease;
        this.handler({ method, header: f.header, payload: f.payload ? new Uint8Array(f.payload.buffer, f.payload.byteOffset, f.payload.length) : undefined })
          .then((r) => {
            running--;
            answer(id, r.header, r.parts ?? r.payload, lease ? () => { r.sent?.(); lease.release(); } : r.sent);
            finish();
          }, (err) => {
            running--;
            lease?.release();
            answer(id, { error: toWireError(err) });
            finish();
          });
      },
    };
    const onEnd = (err?: Error) => {
      // A frame that breaks the pipe's framing (or its limits) ends the pipe: the client reconnects.
      if (err) { swallowed('rpc.pipe-malformed-frame', err); kill(); return; }
      ended = true;
      finish();
    };
    if (!feed) { readPipeFrames(stream, sink, onEnd, maxBody, this.pool); return; }
    // The socket reads through `onread` (no 'data' events): the parser is fed from there, after
    // the bytes read before it took the connection over.
    const parser = pipeFrameParser(sink, onEnd, maxBody ?? (() => RPC_MAX_BODY), this.pool);
    for (const b of first ?? []) if (b.length) parser.push(b, false);
    feed.parser = parser;
    stream.on('end', () => parser.end());
  }

  /** Stop listening and drop every session and connection. */
  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sockets) s.destroy();
    const front = this.front, local = this.local;
    await Promise.all([
      new Promise<void>((resolve) => { if (front) front.close(() => resolve()); else resolve(); }),
      new Promise<void>((resolve) => { if (local) local.close(() => resolve()); else resolve(); }),
      new Promise<void>((resolve) => { if (front) resolve(); else this.server.close(() => resolve()); }),
    ]);
  }
}

/** An RPC client towards one server address; reconnects on demand. */
export class RpcClient implements RpcCaller {
  private session?: http2.ClientHttp2Session;
  /** The session whose handshake succeeded (calls on it skip the connect path). */
  private authed?: http2.ClientHttp2Session;
  private pipe?: Pipe;
  private ready?: Promise<http2.ClientHttp2Session>;
  /** Raw transport: the authenticated pipe being set up (its handshake), shared by concurrent callers. */
  private rawReady?: Promise<Pipe>;
  /** Raw transport: the authenticated pipe (calls on it skip the connect path). */
  private rawPipe?: Pipe;
  private readonly transport: RpcTransport;
  /** Calls in flight; the rest wait in order (bounded, abortable). */
  private readonly slots = new Semaphore(MAX_RPC_IN_FLIGHT, { what: 'RPC call' });
  private closed = false;
  private readonly address: string;
  private readonly secret: string;
  private readonly timeoutMs: number;

  /** `transport`: see `RpcTransport` (TLS clients always use HTTP/2). */
  /** Raw transport: a Unix socket path of the server on this host (`localPath`), until connecting through it failed once. */
  private localPath?: string;

  /**
   * `transport`: see `RpcTransport` (TLS clients always use HTTP/2). `localPath`: the server's
   * Unix socket on this host (raw transport only); used first, TCP `address` when it fails.
   */
  constructor(private readonly opts: { address: string; secret: string; timeoutMs?: number; tls?: { ca: string | Buffer }; transport?: RpcTransport; localPath?: string }) {
    this.transport = opts.tls ? 'http2' : (opts.transport ?? DEFAULT_RPC_TRANSPORT);
    this.address = opts.address;
    this.secret = opts.secret;
    this.timeoutMs = opts.timeoutMs ?? RPC_DEFAULT_TIMEOUT_MS;
    if (this.transport === 'raw') this.localPath = opts.localPath;
  }

  /**
   * This connection's shared region for read replies (src/net/shm.ts): made at the first read
   * that can use it over the server's Unix socket; null when shared memory is off or unavailable.
   */
  private shm?: ShmRegion | null;
  /** Whether this client asks for located reads (direct-read.ts), decided at its first read. */
  private direct?: boolean;

  /** The shared region of this connection's read replies, once made (tests). */
  get sharedRegion(): ShmRegion | undefined { return this.shm ?? undefined; }

  /** See `RpcCaller.locates`: false until the raw pipe is connected through the server's Unix socket. */
  locates(bytes: number): boolean {
    const rp = this.rawPipe;
    return bytes >= DIRECT_MIN_BYTES && this.localPath !== undefined && rp !== undefined && !rp.broken && !this.closed && (this.direct ??= directReadsEnabled());
  }

  /** Whether the raw pipe (once connected) goes through the server's Unix socket. */
  get viaLocalSocket(): boolean { return this.localPath !== undefined && this.rawPipe !== undefined; }

  /**
   * Call `method`; resolves with the reply or throws the (revived) error the server sent.
   * `header` must be plain JSON (bigints as decimal strings). With `MAX_RPC_IN_FLIGHT` calls
   * running, the call first waits for a slot (abortable through `signal`); `timeoutMs` then bounds
   * connecting, the handshake and the call itself (NET_TIMEOUT, the stream is cancelled).
   */
  call(method: string, header: Record<string, unknown>, payload?: RpcPayload, o: RpcCallOptions = {}): Promise<RpcReply> {
    // Fast path (fresh's ask 2, session 26): raw transport, pipe connected, a slot free, no abort
    // signal, not a shared-memory read: the pipe call's own promise, the slot released when it
    // settles (no async frame: its promise, the await's reaction and the finally's, per request).
    const rp = this.rawPipe;
    if (this.transport === 'raw' && !this.closed && o.signal === undefined && rp !== undefined && !rp.broken
      && !(o.into !== undefined && this.localPath !== undefined && method === SHM_READ_METHOD) && this.slots.tryAcquire()) {
      let p: Promise<RpcReply>;
      try {
        p = rp.call(method, header, payload, { timeoutMs: o.timeoutMs ?? this.timeoutMs, signal: undefined, into: o.into });
      } catch (err) {
        this.slots.release();
        return Promise.reject(err);
      }
      // (a derived promise that never rejects: the caller still gets `p`'s rejection)
      p.then(this.releaseSlot, this.releaseSlot);
      return p;
    }
    return this.callSlow(method, header, payload, o);
  }

  /** Gives back a call's slot (`call`'s fast path). */
  private readonly releaseSlot = (): void => { this.slots.release(); };

  /** `call` through the general path: waits for a slot, connects, shared-memory reads, HTTP/2. */
  private async callSlow(method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, o: RpcCallOptions): Promise<RpcReply> {
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
      if (this.transport === 'raw') {
        let rp = this.rawPipe, left = timeout;
        if (rp === undefined || rp.broken) {
          const started = Date.now();
          rp = await this.bounded(this.connectRaw(), timeout, o.signal, method);
          left = Math.max(1, timeout - (Date.now() - started));
        }
        // (`localPath` is known once connected: undefined when the Unix socket could not be reached)
        if (o.into !== undefined && this.localPath !== undefined && method === SHM_READ_METHOD) return await this.localRead(rp, method, header, payload, left, o, o.into);
        return await rp.call(method, header, payload, { timeoutMs: left, signal: o.signal, into: o.into });
      }
      // Fast path: an authenticated session with a working pipe needs no connect bound (no timer, no promise).
      const s = this.session, pipe = this.pipe;
      if (s !== undefined && this.authed === s && !s.closed && !s.destroyed && pipe !== undefined && pipe.session === s && !pipe.broken) {
        return await pipe.call(method, header, payload, { timeoutMs: timeout, signal: o.signal, into: o.into });
      }
      const started = Date.now();
      const session = await this.bounded(this.connect(), timeout, o.signal, method);
      return await this.pipeOf(session).call(method, header, payload, { timeoutMs: Math.max(1, timeout - (Date.now() - started)), signal: o.signal, into: o.into });
    } finally {
      this.slots.release();
    }
  }

  /**
   * A whole-range read from an engine on this host: it may be answered with where its extent lies
   * (direct-read.ts: read here from the engine's data file, checked against its checksum), else
   * through a slot of the connection's shared region (`callViaSlot`), else over the socket. A
   * located answer that does not check out is asked again without `direct`: the engine reads it.
   */
  private async localRead(rp: Pipe, method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, timeout: number, o: RpcCallOptions, into: readonly Uint8Array[]): Promise<RpcReply> {
    const bytes = into.reduce((n, b) => n + b.length, 0);
    if ((this.direct ??= directReadsEnabled()) && bytes >= DIRECT_MIN_BYTES) header.direct = true;
    if (this.shm === undefined) this.shm = (shmEnabled() ? ShmRegion.create() : undefined) ?? null;
    const slot = this.shm?.take(bytes);
    const r = slot !== undefined ? await this.callViaSlot(rp, this.shm!, slot, method, header, payload, timeout, o) : await rp.call(method, header, payload, { timeoutMs: timeout, signal: o.signal, into });
    if (r.header.direct === undefined || r.filled || r.payload !== undefined) return r;
    if (await readDirect(r.header.direct, into)) { r.filled = true; rawReadStats.directBytes += bytes; return r; }
    rawReadStats.directMisses++;
    delete header.direct; delete header.shm;
    return await rp.call(method, header, payload, { timeoutMs: timeout, signal: o.signal, into });
  }

  /**
   * A read whose reply may come through `slot` of this process's shared region (the engine is on
   * this host: src/net/shm.ts). The request names the slot (`shm`, added to `header`); a reply
   * saying `shm: true` carries no payload, and the slot's bytes are copied into `into`. Any other
   * reply came over the socket as usual. The slot is given back once the reply was read; a call
   * that ended without one (timeout, abort, broken connection) leaves it retired: the engine may
   * still write it.
   */
  private async callViaSlot(rp: Pipe, region: ShmRegion, slot: ShmSlot, method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, timeout: number, o: RpcCallOptions): Promise<RpcReply> {
    header.shm = slot.ref;
    let r: RpcReply;
    try {
      r = await rp.call(method, header, payload, { timeoutMs: timeout, signal: o.signal, into: o.into });
    } catch (err) {
      // An error the engine sent means it is done with the slot; anything else may not.
      if (err instanceof CairnError && !(err instanceof AbortedError) && err.code !== 'NET_TIMEOUT' && err.code !== 'NET_UNREACHABLE' && err.code !== 'NET_PROTOCOL') region.give(slot);
      throw err;
    }
    try {
      if (r.header.shm === true && r.payload === undefined && !r.filled) { copyFromSlot(slot, o.into!); r.filled = true; rawReadStats.sharedBytes += slot.view.length; }
    } finally {
      region.give(slot);
    }
    return r;
  }

  /** The pipe of an authenticated session (opened on first use, again after it broke). */
  private pipeOf(session: http2.ClientHttp2Session): Pipe {
    if (!this.pipe || this.pipe.session !== session || this.pipe.broken) this.pipe = Pipe.overSession(session, this.address);
    return this.pipe;
  }

  /**
   * An authenticated raw pipe (shared by concurrent callers; redone after it broke): a TCP
   * connection, the preface (magic, protocol version), then `_hello` / `_auth` as pipe calls.
   * Bounded by the client's timeout, so a silent peer never pins a half-open connection.
   */
  private connectRaw(): Promise<Pipe> {
    if (this.rawReady) return this.rawReady;
    const at = this.address.lastIndexOf(':');
    const host = this.address.slice(0, at).replace(/^\[|\]$/g, ''), port = Number(this.address.slice(at + 1));
    const info = { address: this.address };
    // Replies are read into one reused buffer (`onread`): no buffer allocated (and collected) per
    // 64 KiB read, up to RAW_READ_BUFFER_BYTES per read; the parser copies out what it keeps.
    // A payload being read into its destination (the caller's `into` buffer) is read there in
    // place: the buffer generator names its rest before each read (no copy from the reused buffer).
    const feed: { parser?: FrameParser } = {};
    const readBuffer = Buffer.allocUnsafe(RAW_READ_BUFFER_BYTES);
    const headBuffer = readBuffer.subarray(0, HEAD_READ_BYTES);
    const open = (path: string | undefined): Socket => netConnect({
      ...(path !== undefined ? { path } : { host, port, noDelay: true }),
      onread: {
        buffer: () => feed.parser?.direct() ?? (feed.parser?.shortRead() ? headBuffer : readBuffer),
        callback: (n: number, buf: Uint8Array) => {
          const p = feed.parser;
          if (p === undefined) return true;
          if (buf !== readBuffer && buf === p.lent()) { rawReadStats.inPlaceBytes += n; p.push(Buffer.from(buf.buffer, buf.byteOffset, n), true, true); }
          else { rawReadStats.bufferedBytes += n; p.push(Buffer.from(buf.buffer, buf.byteOffset, n), true); }
          return true;
        },
      },
    });
    let sock = open(this.localPath);
    sock.on('error', (err) => swallowed('rpc.client-socket-error-reported-by-calls', err));
    // eslint-disable-next-line prefer-const -- read inside the async body, after the assignment
    let ready!: Promise<Pipe>;
    ready = (async () => {
      try {
        await connected(sock, this.timeoutMs, this.address);
        if (this.localPath !== undefined) widenPending.add(sock);
      } catch (err) {
        if (this.localPath === undefined) throw err;
        // The server's Unix socket is not reachable from here (another host or mount namespace, a stale record): TCP from now on.
        swallowed('rpc.local-socket-unreachable-tcp-instead', err);
        sock.destroy();
        sock = open(undefined);
        sock.on('error', (e) => swallowed('rpc.client-socket-error-reported-by-calls', e));
        await connected(sock, this.timeoutMs, this.address);
        this.localPath = undefined;
      }
      const preface = Buffer.allocUnsafe(RAW_PREFACE_BYTES);
      RAW_MAGIC.copy(preface, 0);
      preface.writeUInt32LE(RPC_PROTOCOL_VERSION, RAW_MAGIC.length);
      sock.write(preface);
      const pipe = new Pipe(sock, this.address, () => sock.destroy(), sock, feed);
      await handshake(this.secret, this.address, true, (m, h) => pipe.call(m, h, undefined, { timeoutMs: this.timeoutMs }));
      if (this.closed) { await pipe.close(); throw new NetError('NET_UNREACHABLE', `client of ${this.address} is closed`, info); }
      if (this.rawReady === ready) this.rawPipe = pipe;
      pipe.onBroken = () => { if (this.rawReady === ready) { this.rawReady = undefined; this.rawPipe = undefined; } };
      if (pipe.broken) pipe.onBroken();
      return pipe;
    })();
    this.rawReady = ready;
    ready.then(undefined, (err) => {
      swallowed('rpc.raw-handshake-failed-reported-to-callers', err);
      if (this.rawReady === ready) this.rawReady = undefined;
      sock.destroy();
    });
    return ready;
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
      if (session.connecting !== false || session.destroyed) await connected(session, this.timeoutMs, this.address);
      await handshake(this.secret, this.address, false, (m, h) => this.request(session, m, h, undefined, {}));
      if (this.session === session) this.authed = session;
      return session;
    })();
    this.ready = ready;
    // A failed handshake is reported to every caller (through `ready`); here the session is dropped.
    const drop = () => { if (this.ready === ready) { this.ready = undefined; this.session = undefined; session.destroy(); } };
    ready.then(undefined, drop);
    return ready;
  }

  private request(session: http2.ClientHttp2Session, method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<RpcReply> {
    const frame = encodeFrame(header, payload);
    const total = frame.bytes;
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
      writeFrame(req, frame);
    });
  }

  /** Close the session; later calls fail with NET_UNREACHABLE. */
  async close(): Promise<void> {
    this.closed = true;
    const rp = this.rawPipe;
    this.rawPipe = undefined;
    this.rawReady = undefined;
    if (rp) await rp.close();
    this.shm?.close();
    const s = this.session;
    this.session = undefined;
    if (s && !s.destroyed) await new Promise<void>((resolve) => { s.close(() => resolve()); setTimeout(() => { s.destroy(); resolve(); }, 1000).unref(); });
  }
}

/**
 * One call in flight on a pipe: settles once (reply, error, timeout or abort). A class rather than
 * closures, so a call allocates one object and its timer and abort listener share it.
 */
/**
 * How often a pipe's pending calls are checked against their deadlines: one interval timer per
 * pipe while it has calls pending, not a timer per call (a per-call setTimeout/clearTimeout pair
 * was ~0.6% of a qd1 client's wall time, fresh's count: 3 pairs per put). A call times out at
 * most this much after its `timeoutMs`.
 */
const TIMEOUT_SWEEP_MS = 250;
/** The sweep timer of each pipe's pending calls (by its map of pending calls), while any is pending. */
const sweepers = new WeakMap<Map<number, PipeCall>, NodeJS.Timeout>();

class PipeCall {
  private settled = false;
  /** When the call times out (`performance.now()` time). */
  private readonly deadline: number;

  constructor(
    private readonly pending: Map<number, PipeCall>, readonly id: number, readonly method: string, private readonly address: string,
    readonly into: readonly Uint8Array[] | undefined, private readonly signal: AbortSignal | undefined, private readonly timeoutMs: number,
    private readonly resolve: (r: RpcReply) => void, private readonly reject: (e: unknown) => void,
    /** Calls of the pipe waiting to read a large reply in place (this one counted when `into` is large). */
    private readonly large?: { n: number },
  ) {
    if (large) large.n++;
    this.deadline = performance.now() + timeoutMs;
    if (!sweepers.has(pending)) sweepers.set(pending, setInterval(PipeCall.sweep, TIMEOUT_SWEEP_MS, pending));
    signal?.addEventListener('abort', this, { once: true });
  }

  /** Time out the calls of `pending` past their deadline; stop sweeping once none is pending. */
  private static sweep(pending: Map<number, PipeCall>): void {
    const now = performance.now();
    for (const c of pending.values()) if (c.deadline <= now) PipeCall.timedOut(c);
    if (pending.size === 0) { clearInterval(sweepers.get(pending)); sweepers.delete(pending); }
  }

  private static timedOut(c: PipeCall): void {
    c.done(new NetError('NET_TIMEOUT', `${c.method} to ${c.address} took more than ${c.timeoutMs} ms`, { address: c.address, method: c.method }));
  }

  /** The abort listener (EventListener object). */
  handleEvent(): void { this.done(new AbortedError('RPC call aborted', { address: this.address, method: this.method })); }

  done(err: unknown, r?: RpcReply): void {
    if (this.settled) return;
    this.settled = true;
    if (this.large) this.large.n--;
    this.signal?.removeEventListener('abort', this);
    if (this.pending.get(this.id) === this) this.pending.delete(this.id);
    if (err) this.reject(err); else this.resolve(r!);
  }
}

/** Bytes `into` buffers hold. */
function intoBytes(into: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of into) n += b.length;
  return n;
}

/** Calls of one client in flight on its pipe: an HTTP/2 stream, or a raw TCP connection. */
class Pipe {
  private readonly pending = new Map<number, PipeCall>();
  /** Calls waiting for a reply of at least DIRECT_READ_MIN_BYTES `into` their buffers. */
  private readonly large = { n: 0 };
  private nextId = 1;
  broken = false;
  /** Called once when the pipe breaks (its owner forgets it). */
  onBroken?: () => void;

  /** The pipe of an authenticated HTTP/2 session: a long-lived `_pipe` stream. */
  static overSession(session: http2.ClientHttp2Session, address: string): Pipe {
    const stream = session.request({ ':method': 'POST', ':path': PATH_PREFIX + PIPE_METHOD, 'content-type': 'application/x-cairn-pipe' });
    const pipe = new Pipe(stream, address, () => { if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL); }, session);
    stream.on('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) pipe.fail(new NetError(status === 401 ? 'AUTH_FAILED' : 'NET_PROTOCOL', `engine at ${address} refused the call pipe (HTTP ${status})`, { address }));
    });
    return pipe;
  }

  /** `kill` tears the transport down; `session` is what the pipe runs on (an HTTP/2 session or the socket). */
  constructor(private readonly stream: Duplex, private readonly address: string, private readonly kill: () => void, readonly session: unknown, feed?: { parser?: FrameParser }) {
    const sink: PipeSink = {
      into: (id) => this.pending.get(id)?.into,
      expectsLarge: () => this.large.n > 0,
      frame: (id, f) => {
        const p = this.pending.get(id);
        if (!p) return; // a call that timed out or was aborted
        this.pending.delete(id);
        if (f instanceof Error) { p.done(f); return; }
        const e = f.header.error as WireError | undefined;
        if (e) p.done(reviveError(e, this.address));
        else p.done(null, { header: f.header, ...(f.payload ? { payload: new Uint8Array(f.payload.buffer, f.payload.byteOffset, f.payload.length) } : {}), ...(f.filled ? { filled: true } : {}) });
      },
    };
    const onEnd = (err?: Error) => this.fail(err ?? new NetError('NET_UNREACHABLE', 'the call pipe ended'));
    if (feed) {
      // The socket reads through `onread` (no 'data' events): the parser is fed from there.
      feed.parser = pipeFrameParser(sink, onEnd, () => RPC_MAX_BODY);
      this.stream.on('end', () => feed.parser?.end());
    } else readPipeFrames(this.stream, sink, onEnd);
    this.stream.on('error', (err) => this.fail(err));
    this.stream.on('close', () => setImmediate(() => this.fail(new NetError('NET_UNREACHABLE', 'stream closed before the reply'))));
  }

  /** End the pipe gracefully (calls in flight fail), then tear it down. */
  async close(): Promise<void> {
    if (this.stream.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.stream.destroy(); resolve(); }, 1000);
      timer.unref();
      this.stream.once('close', () => { clearTimeout(timer); resolve(); });
      this.stream.end();
    });
  }

  /** Every call in flight fails (the pipe is dead; the next call opens another). */
  fail(err: Error): void {
    if (!this.broken) { this.broken = true; this.onBroken?.(); }
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      p.done(err instanceof CairnError ? new NetError(err.code, `${p.method} to ${this.address}: ${err.message}`, { address: this.address, method: p.method })
        : new NetError('NET_UNREACHABLE', `${p.method} to ${this.address} failed: ${err.message}`, { address: this.address, method: p.method }));
    }
    this.kill();
  }

  call(method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, o: { timeoutMs: number; signal?: AbortSignal; into?: readonly Uint8Array[] }): Promise<RpcReply> {
    const info = { address: this.address, method };
    let f: ReturnType<typeof encodePipeFrame>;
    try { f = encodePipeFrame(0, header, payload, method); } catch (err) { return Promise.reject(err); }
    if (f.bytes - 8 > RPC_MAX_BODY) return Promise.reject(new NetError('NET_PROTOCOL', `request of ${f.bytes - 8} bytes exceeds the ${RPC_MAX_BODY}-byte limit`, { method }));
    if (this.broken) return Promise.reject(new NetError('NET_UNREACHABLE', `${method} to ${this.address}: the call pipe is closed`, info));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    f.head.writeUInt32LE(id, 4);
    return new Promise<RpcReply>((resolve, reject) => {
      const c = new PipeCall(this.pending, id, method, this.address, o.into, o.signal, o.timeoutMs, resolve, reject, o.into && intoBytes(o.into) >= DIRECT_READ_MIN_BYTES ? this.large : undefined);
      this.pending.set(id, c);
      widenForLarge(this.stream, f.bytes);
      try { corkForTick(this.stream); writeFrame(this.stream, f, false); } catch (e) { c.done(new NetError('NET_UNREACHABLE', `cannot send to ${this.address}: ${(e as Error).message}`, info)); }
    });
  }
}
