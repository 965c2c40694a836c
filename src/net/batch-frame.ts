/**
 * The wire form of an `engine.batch` request and of its reply (link.ts sends them, the engine
 * serves them): a compact binary item table at the start of the payload instead of JSON items in
 * the header. Measured before (session 26/27): a batch header of JSON items was ~290 bytes per
 * shard write (the container uuid, decimal epoch and oid, base64 keys, the commit's ranks, all
 * keyed by name), and JSON.stringify plus JSON.parse of it cost ~1.1 µs per item on each side.
 *
 * Request payload: `[table][item payloads, back to back]`; the request header is `{ commits: [] }`
 * (one shape; the batch's commit notices travel in its table since protocol 4). Table (little-endian):
 *
 *     u8 version (BATCH_TABLE_VERSION) | u16 count | count × item | u16 notices | notices × notice
 *     notice = u8 0 (the container of the notice before) or 1 then str8 container | str8 epoch
 *     item = u8 method (index in BATCH_METHODS, or 255 then str8 name) | u32 payload length | u8 form | body
 *     form 0 (JSON): u32 length | the header's JSON
 *     form 1 (compact): u16 target | u32 mapVersion | u16 flags | [str8 cont unless SAME_CONT]
 *                       | str8 epoch | str8 oid | [str8 dkey] | [str8 akey] | [f64 recx.index, f64 recx.count]
 *                       | [u32 recordSize] | [str8 txRead] | [u8 ranks, u16 × ranks, u16 n: tx] | [str8 fresh]
 *                       (flags: which fields follow, SAME_CONT, MIGRATE and HOLES_AS_ZERO: `migrate: true`, `holesAsZero: true`)
 *     str8 = u8 length | ASCII bytes
 *
 * A compact item decodes to the header the client built (the same strings and numbers under the
 * same keys; every other compact key present as undefined, one hidden class for the engine's batch
 * path, which reads its fields as before; `migrate: true` as a flag). Any header with
 * another key, a non-ASCII string, a string over 255 bytes or a number out of range goes as
 * form 0 (its JSON), so every header the client may send still travels exactly.
 *
 * Reply payload: `[table][item payloads]`, header `{}`. Table: u8 version | u16 count | count × reply
 *     reply = u8 form | body
 *     form 0: u32 payload length | u32 length | the reply header's JSON
 *     form 1 (error): u32 length | the wire error's JSON
 *     form 2 (a write's acknowledgement `{ maxEpoch }`): str8 maxEpoch
 *     form 3 (a single-value read `{ found, maxEpoch }`): u32 payload length | u8 found | str8 maxEpoch
 *
 * An `engine.locate` request (protocol 4) carries its reads as the same kind of table (every item a
 * `shard.fetchArray`, no payloads, a notice count of 0: a locate request's notices ride in its header
 * as for any call) and header `{}`; its reply is a table too, header `{}`:
 *     u8 version | u16 count | count × answer
 *     answer = u8 0 (again: the client reads it on its own)
 *            | u8 1 (located) | f64 present.index | f64 present.count | f64 length | str8 maxEpoch
 *                  | u16 path (0: a new path follows as u16 length + UTF-8 bytes; k: the k-th path of this reply)
 *                  | f64 at | f64 len | str8 csum
 *            | u8 2 (any other header) | u32 length | its JSON
 *
 * The format is versioned by RPC_PROTOCOL_VERSION (checked when a connection opens) and by its
 * own first byte; frames travel over a checked connection, so they carry no checksum.
 */
import { NetError, reviveError, toWireError, type WireError } from './errors.js';
import type { RpcReply } from './rpc.js';
import { ENGINE_METHODS, TX_BATCH_MAX } from './protocol.js';

/** First byte of a batch's item table and of its reply's (a different table: another version). */
export const BATCH_TABLE_VERSION = 2;

/** Methods an item names by a one-byte code (index); others travel by name (code 255). */
export const BATCH_METHODS: readonly string[] = [
  'shard.updateSingle', 'shard.fetchSingle', 'shard.updateArray', 'shard.punchObject', 'shard.punchDkey', 'shard.punchAkey', ENGINE_METHODS.txValidate,
  'shard.fetchArray',
];
const FETCH_ARRAY = 'shard.fetchArray';
const BY_NAME = 255;

const F_SAME_CONT = 1, F_DKEY = 2, F_AKEY = 4, F_RECX = 8, F_RECORD_SIZE = 16, F_TX_READ = 32, F_TX = 64, F_FRESH = 128, F_MIGRATE = 256, F_HOLES_AS_ZERO = 512;
const FORM_JSON = 0, FORM_COMPACT = 1;
const R_JSON = 0, R_ERROR = 1, R_ACK = 2, R_GOT = 3;

/** One item of a batch: method, header, payload (a view into the request, or the caller's buffer). */
export interface BatchItem { method: string; header: Record<string, unknown>; payload?: Uint8Array }
/** A commit notice as a batch carries it: container uuid and epoch (decimal), as `header.commits` pairs. */
export type BatchNotice = [cont: string, epoch: string];

const EMPTY = new Uint8Array(0);
/** The `commits` of a batch request that carries no notice (every batch header has the same keys in the same order). */
const NO_NOTICES: readonly unknown[] = Object.freeze([]);

/** Bytes of one slab the tables are written into (`Writer`). */
export const TABLE_SLAB_BYTES = 64 * 1024;
/** A table starts in a new slab when less than this is left in the current one. */
const TABLE_SLAB_MIN_FREE_BYTES = 4 * 1024;

/**
 * Where the tables are written: one after another in a slab, each handed out as a view of it
 * (`take`: no copy, no buffer per table; a slab is let go once it is full and lives while views of
 * it do). A table may be written later than it was made (a pipe that is connecting, a large frame
 * written as its parts), so it is never overwritten: a copy out of one reused scratch buffer per
 * table cost a buffer of the node:buffer pool and a native copy call per batch (session 29's
 * profile: `_copy` ~6% of a qd16 client's JavaScript).
 */
class Writer {
  buf = Buffer.allocUnsafeSlow(TABLE_SLAB_BYTES);
  /** Where the table being written starts. */
  base = 0;
  at = 0;
  /** Start a table (after the last one, or at the start of a new slab). */
  begin(): void {
    if (this.buf.length - this.at < TABLE_SLAB_MIN_FREE_BYTES) this.buf = Buffer.allocUnsafeSlow(TABLE_SLAB_BYTES), this.at = 0;
    this.base = this.at;
  }
  /** Room for `n` more bytes: a bigger slab when the table outgrows this one, its bytes at the same offsets (positions taken stay valid). */
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const b = Buffer.allocUnsafeSlow(Math.max(TABLE_SLAB_BYTES, 2 * (this.at + n)));
    this.buf.copy(b, this.base, this.base, this.at);
    this.buf = b;
  }
  u8(v: number): void { this.buf[this.at++] = v; }
  u16(v: number): void { const b = this.buf, a = this.at; b[a] = v & 0xff; b[a + 1] = v >>> 8; this.at = a + 2; }
  u32(v: number): void { const b = this.buf, a = this.at; b[a] = v & 0xff; b[a + 1] = (v >>> 8) & 0xff; b[a + 2] = (v >>> 16) & 0xff; b[a + 3] = v >>> 24; this.at = a + 4; }
  f64(v: number): void { this.buf.writeDoubleLE(v, this.at); this.at += 8; }
  /** A str8 of an ASCII string up to 255 characters: false (nothing written) otherwise. */
  str8(s: unknown): boolean {
    if (typeof s !== 'string' || s.length > 255) return false;
    this.ensure(1 + s.length);
    const b = this.buf, start = this.at;
    b[start] = s.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) return false;
      b[start + 1 + i] = c;
    }
    this.at = start + 1 + s.length;
    return true;
  }
  json(v: unknown): void {
    const text = JSON.stringify(v);
    const n = Buffer.byteLength(text);
    this.ensure(4 + n);
    this.u32(n);
    this.buf.write(text, this.at, 'utf8');
    this.at += n;
  }
  /** The table written since `begin`, as a view of the slab (never written again). */
  take(): Buffer {
    const out = this.buf.subarray(this.base, this.at);
    this.base = this.at;
    return out;
  }
}
const W = new Writer();

const isU16 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** How many enumerable keys `o` has (no array built). */
function keyCount(o: object): number {
  let n = 0;
  for (const _k in o) n++;
  return n;
}

/**
 * `h` written as a compact item body (flags and fields) when it fits one; false (the writer back
 * where it was) when it does not.
 */
function compact(w: Writer, h: Record<string, unknown>, prevCont: string | undefined): boolean {
  for (const k in h) {
    switch (k) {
      case 'target': case 'cont': case 'mapVersion': case 'migrate': case 'epoch': case 'oid': case 'dkey': case 'akey':
      case 'recx': case 'recordSize': case 'txRead': case 'tx': case 'fresh': case 'holesAsZero':
        break; // (one set to undefined is left out, as JSON leaves it out)
      default: return false;
    }
  }
  const target = h.target, mapVersion = h.mapVersion, cont = h.cont;
  if (!isU16(target) || !isU32(mapVersion) || typeof cont !== 'string' || typeof h.epoch !== 'string' || typeof h.oid !== 'string') return false;
  let flags = cont === prevCont ? F_SAME_CONT : 0;
  if (h.dkey !== undefined) flags |= F_DKEY;
  if (h.akey !== undefined) flags |= F_AKEY;
  const recx = h.recx as { index?: unknown; count?: unknown } | undefined;
  if (recx !== undefined) {
    if (typeof recx !== 'object' || recx === null || typeof recx.index !== 'number' || typeof recx.count !== 'number' || keyCount(recx) !== 2) return false;
    flags |= F_RECX;
  }
  if (h.recordSize !== undefined) { if (!isU32(h.recordSize)) return false; flags |= F_RECORD_SIZE; }
  if (h.txRead !== undefined) flags |= F_TX_READ;
  const tx = h.tx as { ranks?: unknown; n?: unknown } | undefined;
  if (tx !== undefined) {
    if (typeof tx !== 'object' || tx === null || !Array.isArray(tx.ranks) || tx.ranks.length > 255 || !isU16(tx.n) || keyCount(tx) !== 2) return false;
    for (const r of tx.ranks as unknown[]) if (!isU16(r)) return false;
    flags |= F_TX;
  }
  if (h.fresh !== undefined) flags |= F_FRESH;
  if (h.migrate !== undefined) { if (h.migrate !== true) return false; flags |= F_MIGRATE; }
  if (h.holesAsZero !== undefined) { if (h.holesAsZero !== true) return false; flags |= F_HOLES_AS_ZERO; }
  const start = w.at;
  w.ensure(8 + (recx !== undefined ? 16 : 0) + 4 + (tx !== undefined ? 3 + 2 * (tx.ranks as number[]).length : 0));
  w.u16(target); w.u32(mapVersion); w.u16(flags);
  const ok = ((flags & F_SAME_CONT) !== 0 || w.str8(cont)) && w.str8(h.epoch) && w.str8(h.oid)
    && ((flags & F_DKEY) === 0 || w.str8(h.dkey)) && ((flags & F_AKEY) === 0 || w.str8(h.akey));
  if (!ok) { w.at = start; return false; }
  if (recx !== undefined) { w.ensure(16); w.f64(recx.index as number); w.f64(recx.count as number); }
  if (h.recordSize !== undefined) { w.ensure(4); w.u32(h.recordSize as number); }
  if (h.txRead !== undefined && !w.str8(h.txRead)) { w.at = start; return false; }
  if (tx !== undefined) {
    const ranks = tx.ranks as number[];
    w.ensure(3 + 2 * ranks.length);
    w.u8(ranks.length);
    for (const r of ranks) w.u16(r);
    w.u16(tx.n as number);
  }
  if (h.fresh !== undefined && !w.str8(h.fresh)) { w.at = start; return false; }
  return true;
}

/**
 * The batched request for `items` with commit notices `notices` (in the table, up to 65,535; one
 * that is not a pair of short ASCII strings is left out, as the engine would ignore it): header
 * (`{ commits: [] }`: one object shape for the engine's handler) and payload parts (the item
 * table, then the callers' buffers, not copied).
 */
export function encodeBatch(items: ReadonlyArray<BatchItem>, notices?: ReadonlyArray<BatchNotice>): { header: Record<string, unknown>; parts: Uint8Array[] } {
  const parts: Uint8Array[] = [];
  parts.push(EMPTY); // (the table, set below)
  writeItems(W, items, parts);
  writeNotices(W, notices);
  parts[0] = W.take();
  return { header: { commits: NO_NOTICES }, parts };
}

/** A batch table's notices section (see the module's comment). */
function writeNotices(w: Writer, notices: ReadonlyArray<BatchNotice> | undefined): void {
  const n = notices === undefined ? 0 : Math.min(notices.length, 0xffff);
  w.ensure(2);
  const countAt = w.at;
  w.u16(0);
  let kept = 0;
  let prev: string | undefined;
  for (let i = 0; i < n; i++) {
    const x = notices![i]!;
    const c = x[0], start = w.at;
    w.ensure(1);
    let ok: boolean;
    if (c === prev) { w.u8(0); ok = true; } else { w.u8(1); ok = w.str8(c); }
    if (!ok || !w.str8(x[1])) { w.at = start; continue; }
    prev = c;
    kept++;
  }
  w.buf[countAt] = kept & 0xff; w.buf[countAt + 1] = kept >>> 8;
}

/** A table's version, count and items (`parts` gets each item's payload), begun anew in the writer. */
function writeItems(w: Writer, items: ReadonlyArray<BatchItem>, parts: Uint8Array[] | undefined): void {
  w.begin();
  w.ensure(3);
  w.u8(BATCH_TABLE_VERSION);
  w.u16(items.length);
  let prevCont: string | undefined;
  for (const it of items) {
    const n = it.payload?.length ?? 0;
    if (n) parts!.push(it.payload!);
    const code = BATCH_METHODS.indexOf(it.method);
    w.ensure(6);
    if (code >= 0) w.u8(code);
    else { w.u8(BY_NAME); if (!w.str8(it.method)) throw new NetError('NET_PROTOCOL', `method name ${JSON.stringify(it.method)} is not short ASCII`); }
    w.ensure(5);
    w.u32(n);
    const formAt = w.at;
    w.u8(FORM_COMPACT);
    if (compact(w, it.header, prevCont)) { prevCont = it.header.cont as string; continue; }
    w.at = formAt;
    w.u8(FORM_JSON);
    w.json(it.header);
  }
}

/** Node's Buffer with its direct string slicers (~50 ns for a short string; `toString` adds a dispatch). */
type SlicingBuffer = Buffer & { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };
const asBuffer = (p: Uint8Array): SlicingBuffer => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length)) as SlicingBuffer;

/** Reads a table, bounds-checked (NET_PROTOCOL when it runs past its end). */
class Reader {
  at = 0;
  constructor(readonly b: SlicingBuffer) {}
  need(n: number): void { if (this.at + n > this.b.length) throw new NetError('NET_PROTOCOL', 'batch table ends early'); }
  u8(): number { this.need(1); return this.b[this.at++]!; }
  u16(): number { this.need(2); const b = this.b, a = this.at; this.at = a + 2; return b[a]! | (b[a + 1]! << 8); }
  u32(): number { this.need(4); const b = this.b, a = this.at; this.at = a + 4; return (b[a]! | (b[a + 1]! << 8) | (b[a + 2]! << 16)) + b[a + 3]! * 0x1000000; }
  f64(): number { this.need(8); const v = this.b.readDoubleLE(this.at); this.at += 8; return v; }
  str8(): string {
    const n = this.u8();
    this.need(n);
    const b = this.b, a = this.at;
    this.at = a + n;
    if (n > 8) return b.latin1Slice(a, a + n);
    let s = '';
    for (let i = a; i < a + n; i++) s += String.fromCharCode(b[i]!);
    return s;
  }
  json(): unknown {
    const n = this.u32();
    this.need(n);
    const a = this.at;
    this.at = a + n;
    try { return JSON.parse(this.b.utf8Slice(a, a + n)); } catch { throw new NetError('NET_PROTOCOL', 'batch item is not JSON'); }
  }
}


/** The container uuid last decoded (batches of one client name one container, usually: one string kept). */
let lastCont = '';

/**
 * A compact item's header: every key of a compact header, always, in the order the client's
 * shard store builds them (route, keys, extent, transaction, freshness), those it did not send
 * undefined — one hidden class for every item the engine's batch path reads (the engine's ask,
 * session 27). Undefined fields read as absent ones: nothing on the engine's side tests a key's
 * presence, and JSON leaves them out.
 */
function readCompact(r: Reader, prevCont: string | undefined): Record<string, unknown> {
  const target = r.u16(), mapVersion = r.u32(), flags = r.u16();
  let cont: string;
  if ((flags & F_SAME_CONT) !== 0) {
    if (prevCont === undefined) throw new NetError('NET_PROTOCOL', 'batch item names the container of an item before it, and none came before');
    cont = prevCont;
  } else {
    cont = r.str8();
    if (cont === lastCont) cont = lastCont; else lastCont = cont;
  }
  // (fields read in their wire order: an object literal's values are evaluated left to right)
  return {
    target, cont, mapVersion,
    migrate: (flags & F_MIGRATE) !== 0 ? true : undefined,
    epoch: r.str8(),
    oid: r.str8(),
    dkey: (flags & F_DKEY) !== 0 ? r.str8() : undefined,
    akey: (flags & F_AKEY) !== 0 ? r.str8() : undefined,
    recx: (flags & F_RECX) !== 0 ? { index: r.f64(), count: r.f64() } : undefined,
    recordSize: (flags & F_RECORD_SIZE) !== 0 ? r.u32() : undefined,
    txRead: (flags & F_TX_READ) !== 0 ? r.str8() : undefined,
    tx: (flags & F_TX) !== 0 ? readTx(r) : undefined,
    fresh: (flags & F_FRESH) !== 0 ? r.str8() : undefined,
    holesAsZero: (flags & F_HOLES_AS_ZERO) !== 0 ? true : undefined,
  };
}

/** A compact item's commit descriptor (`{ ranks, n }`). */
function readTx(r: Reader): { ranks: number[]; n: number } {
  const k = r.u8();
  const ranks: number[] = [];
  for (let i = 0; i < k; i++) ranks.push(r.u16());
  return { ranks, n: r.u16() };
}

/** A request's item table read: its items (payloads not yet set) and each one's payload length; `r` ends after the table. */
function readTable(r: Reader): { items: BatchItem[]; sizes: number[]; notices: BatchNotice[] | undefined } {
  const version = r.u8();
  if (version !== BATCH_TABLE_VERSION) throw new NetError('NET_PROTOCOL', `batch table version ${version}, this engine reads ${BATCH_TABLE_VERSION}`);
  const count = r.u16();
  if (count === 0 || count > TX_BATCH_MAX) throw new NetError('NET_PROTOCOL', `a batch holds 1..${TX_BATCH_MAX} items`);
  const sizes: number[] = [];
  // Built by push, not `map`: one elements kind for the engine's batch loop (see the engine's handleMany).
  const items: BatchItem[] = [];
  let prevCont: string | undefined;
  for (let i = 0; i < count; i++) {
    const code = r.u8();
    const method = code === BY_NAME ? r.str8() : BATCH_METHODS[code];
    if (method === undefined) throw new NetError('NET_PROTOCOL', `batch item method code ${code} is unknown`);
    const n = r.u32();
    const form = r.u8();
    let header: Record<string, unknown>;
    if (form === FORM_COMPACT) { header = readCompact(r, prevCont); prevCont = header.cont as string; }
    else if (form === FORM_JSON) {
      const v = r.json();
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new NetError('NET_PROTOCOL', 'malformed batch item');
      header = v as Record<string, unknown>;
    } else throw new NetError('NET_PROTOCOL', `batch item form ${form} is unknown`);
    sizes.push(n);
    items.push({ method, header, payload: undefined }); // (one shape for every item: the engine's batch loop stays monomorphic)
  }
  const k = r.u16();
  let notices: BatchNotice[] | undefined;
  let cont: string | undefined;
  for (let i = 0; i < k; i++) {
    const kind = r.u8();
    if (kind === 1) { cont = r.str8(); if (cont === lastCont) cont = lastCont; else lastCont = cont; }
    else if (kind !== 0 || cont === undefined) throw new NetError('NET_PROTOCOL', `batch notice ${i} names no container`);
    (notices ??= []).push([cont, r.str8()]);
  }
  return { items, sizes, notices };
}

/** Engine side: the items of a batch request, each payload a view into the request's buffer (its notices: `decodeBatchFrame`). */
export function decodeBatch(header: Record<string, unknown>, payload: Uint8Array | undefined): BatchItem[] {
  return decodeBatchFrame(header, payload).items;
}

/**
 * Engine side: a batch request's items (each payload a view into the request's buffer) and the
 * commit notices its table carries (`[cont, epoch]` pairs as `header.commits` holds them; undefined:
 * none), to be applied before its items as notices in a header are.
 */
export function decodeBatchFrame(_header: Record<string, unknown>, payload: Uint8Array | undefined): { items: BatchItem[]; notices: BatchNotice[] | undefined } {
  if (payload === undefined || payload.length < 3) throw new NetError('NET_PROTOCOL', 'a batch carries its item table');
  const r = new Reader(asBuffer(payload));
  const { items: out, sizes, notices } = readTable(r);
  let at = r.at;
  const total = payload.length;
  for (let i = 0; i < out.length; i++) {
    const n = sizes[i]!;
    if (at + n > total) throw new NetError('NET_PROTOCOL', `batch items announce more payload than the ${total - r.at} bytes sent`);
    if (n) out[i]!.payload = payload.subarray(at, at + n);
    at += n;
  }
  if (at !== total) throw new NetError('NET_PROTOCOL', `batch payload of ${total - r.at} bytes, items announce ${at - r.at}`);
  return { items: out, notices };
}

/**
 * The methods of a batch request's items, from the payload parts as a client sends them (the
 * table is the first part): for benches and tests that count what links send.
 */
export function batchMethods(payload: Uint8Array | readonly Uint8Array[] | undefined): string[] {
  const table = payload === undefined ? undefined : payload instanceof Uint8Array ? payload : payload[0];
  if (table === undefined) throw new NetError('NET_PROTOCOL', 'a batch carries its item table');
  return readTable(new Reader(asBuffer(table))).items.map((x) => x.method);
}

const EMPTY_HEADER: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** Engine side: the reply to a batch (each result or error in item order; the table, then payloads as parts). */
export function encodeBatchReply(results: ReadonlyArray<PromiseSettledResult<RpcReply>>): RpcReply {
  const w = W;
  w.begin();
  w.ensure(3);
  w.u8(BATCH_TABLE_VERSION);
  w.u16(results.length);
  const parts: Uint8Array[] = [EMPTY];
  const sent: Array<() => void> = [];
  for (const r of results) {
    w.ensure(6);
    if (r.status === 'rejected') { w.u8(R_ERROR); w.json(toWireError(r.reason)); continue; }
    const v = r.value, h = v.header, p = v.payload, n = p?.length ?? 0;
    if (n) parts.push(p!);
    if (v.sent) sent.push(v.sent);
    const at = w.at;
    let keys = 0;
    for (const _k in h) keys++;
    if (keys === 1 && n === 0 && typeof h.maxEpoch === 'string') {
      w.u8(R_ACK);
      if (w.str8(h.maxEpoch)) continue;
    } else if (keys === 2 && typeof h.found === 'boolean' && typeof h.maxEpoch === 'string') {
      w.u8(R_GOT); w.u32(n); w.u8(h.found ? 1 : 0);
      if (w.str8(h.maxEpoch)) continue;
    }
    w.at = at;
    w.ensure(5);
    w.u8(R_JSON); w.u32(n); w.json(h);
  }
  parts[0] = w.take();
  return { header: EMPTY_HEADER, parts, sent: sent.length ? () => { for (const f of sent) f(); } : undefined };
}

/** Client side: each item's reply (or revived error) from a batch reply. */
export function decodeBatchReply(rep: RpcReply, count: number, remote: string): Array<RpcReply | Error> {
  const payload = rep.payload;
  if (payload === undefined || payload.length < 3) throw new NetError('NET_PROTOCOL', 'batch reply without its table');
  const r = new Reader(asBuffer(payload));
  const version = r.u8();
  if (version !== BATCH_TABLE_VERSION) throw new NetError('NET_PROTOCOL', `batch reply table version ${version}, this client reads ${BATCH_TABLE_VERSION}`);
  const k = r.u16();
  if (k !== count) throw new NetError('NET_PROTOCOL', `batch reply has ${k} items, expected ${count}`);
  const out: Array<RpcReply | Error> = [];
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    const form = r.u8();
    let n = 0;
    if (form === R_ERROR) {
      const e = r.json() as WireError;
      out.push(typeof e === 'object' && e !== null ? reviveError(e, remote) : new NetError('NET_PROTOCOL', 'malformed batch reply item'));
    } else if (form === R_ACK) out.push({ header: { maxEpoch: r.str8() } });
    else if (form === R_GOT) { n = r.u32(); const found = r.u8() === 1; out.push({ header: { found, maxEpoch: r.str8() } }); }
    else if (form === R_JSON) {
      n = r.u32();
      const h = r.json();
      out.push(typeof h === 'object' && h !== null && !Array.isArray(h) ? { header: h as Record<string, unknown> } : new NetError('NET_PROTOCOL', 'malformed batch reply item'));
    } else throw new NetError('NET_PROTOCOL', `batch reply form ${form} is unknown`);
    sizes.push(n);
  }
  let at = r.at;
  const total = payload.length;
  for (let i = 0; i < count; i++) {
    const n = sizes[i]!;
    if (n === 0) continue;
    if (at + n > total) throw new NetError('NET_PROTOCOL', 'batch reply items announce more payload than was sent');
    const x = out[i]!;
    if (!(x instanceof Error)) x.payload = payload.subarray(at, at + n);
    at += n;
  }
  if (at !== total) throw new NetError('NET_PROTOCOL', `batch reply payload of ${total - r.at} bytes, items announce ${at - r.at}`);
  return out;
}

// ------------------------------------------------------------------ engine.locate (protocol 4)

/** The header of an `engine.locate` request (its reads travel in the payload's table). */
const LOCATE_HEADER: Readonly<Record<string, unknown>> = Object.freeze({});
const L_AGAIN = 0, L_LOCATED = 1, L_JSON = 2;
/** What a read the engine did not locate decodes to (the client then reads it on its own). */
const AGAIN: Readonly<Record<string, unknown>> = Object.freeze({ again: true });

/**
 * Client side: an `engine.locate` request for whole-range reads `headers` (`shard.fetchArray`
 * headers with `holesAsZero`): a fresh header (notices may be added to it) and the table as payload.
 */
export function encodeLocate(headers: ReadonlyArray<Record<string, unknown>>): { header: Record<string, unknown>; payload: Uint8Array } {
  const items: BatchItem[] = [];
  for (const h of headers) items.push({ method: FETCH_ARRAY, header: h, payload: undefined });
  writeItems(W, items, undefined);
  writeNotices(W, undefined);
  return { header: { ...LOCATE_HEADER }, payload: W.take() };
}

/** Engine side: the reads of an `engine.locate` request (the headers `encodeLocate` was given; NET_PROTOCOL when malformed). */
export function decodeLocate(payload: Uint8Array | undefined): Array<Record<string, unknown>> {
  if (payload === undefined || payload.length < 3) throw new NetError('NET_PROTOCOL', 'a locate request carries its read table');
  const r = new Reader(asBuffer(payload));
  const { items, sizes } = readTable(r);
  if (r.at !== payload.length) throw new NetError('NET_PROTOCOL', 'a locate request carries its read table only');
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < items.length; i++) {
    if (items[i]!.method !== FETCH_ARRAY || sizes[i] !== 0) throw new NetError('NET_PROTOCOL', 'a locate request holds whole-range reads only');
    out.push(items[i]!.header);
  }
  return out;
}

/** `{ present: [{ index, count }], length, maxEpoch, direct: { path, at, len, csum } }` exactly (what shard-rpc's locatedHeader builds), else false. */
function isLocated(h: Record<string, unknown>): boolean {
  if (keyCount(h) !== 4 || !Array.isArray(h.present) || h.present.length !== 1 || typeof h.length !== 'number' || typeof h.maxEpoch !== 'string') return false;
  const p = h.present[0] as { index?: unknown; count?: unknown } | null, d = h.direct as { path?: unknown; at?: unknown; len?: unknown; csum?: unknown } | null;
  return typeof p === 'object' && p !== null && keyCount(p) === 2 && typeof p.index === 'number' && typeof p.count === 'number'
    && typeof d === 'object' && d !== null && keyCount(d) === 4 && typeof d.path === 'string' && d.path.length <= 0x3fff && typeof d.at === 'number' && typeof d.len === 'number' && typeof d.csum === 'string';
}

/** Engine side: the reply to an `engine.locate` request, one answer per read in order (undefined: again, the client reads it on its own). */
export function encodeLocateReply(out: ReadonlyArray<Record<string, unknown> | undefined>): RpcReply {
  const w = W;
  w.begin();
  w.ensure(3);
  w.u8(BATCH_TABLE_VERSION);
  w.u16(out.length);
  let paths: string[] | undefined;
  for (const h of out) {
    w.ensure(1);
    if (h === undefined || (h.again === true && keyCount(h) === 1)) { w.u8(L_AGAIN); continue; }
    const start = w.at;
    if (isLocated(h)) {
      const p = (h.present as Array<{ index: number; count: number }>)[0]!, d = h.direct as { path: string; at: number; len: number; csum: string };
      w.ensure(1 + 24);
      w.u8(L_LOCATED); w.f64(p.index); w.f64(p.count); w.f64(h.length as number);
      if (w.str8(h.maxEpoch)) {
        const k = paths === undefined ? -1 : paths.indexOf(d.path);
        w.ensure(2);
        if (k >= 0) w.u16(k + 1);
        else {
          const n = Buffer.byteLength(d.path);
          w.ensure(4 + n);
          w.u16(0); w.u16(n); w.buf.write(d.path, w.at, 'utf8'); w.at += n;
          (paths ??= []).push(d.path);
        }
        w.ensure(16);
        w.f64(d.at); w.f64(d.len);
        if (w.str8(d.csum)) continue;
      }
      w.at = start;
    }
    w.ensure(1);
    w.u8(L_JSON); w.json(h);
  }
  return { header: EMPTY_HEADER, payload: w.take() };
}

/** Client side: the answers of a locate reply, one per read (`{ again: true }` for a read not located). */
export function decodeLocateReply(rep: RpcReply, count: number): Array<Record<string, unknown>> {
  const payload = rep.payload;
  if (payload === undefined || payload.length < 3) throw new NetError('NET_PROTOCOL', 'locate reply without its table');
  const r = new Reader(asBuffer(payload));
  const version = r.u8();
  if (version !== BATCH_TABLE_VERSION) throw new NetError('NET_PROTOCOL', `locate reply table version ${version}, this client reads ${BATCH_TABLE_VERSION}`);
  if (r.u16() !== count) throw new NetError('NET_PROTOCOL', `locate reply does not have ${count} answers`);
  const out: Array<Record<string, unknown>> = [];
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const form = r.u8();
    if (form === L_AGAIN) { out.push(AGAIN); continue; }
    if (form === L_JSON) {
      const h = r.json();
      if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new NetError('NET_PROTOCOL', 'malformed locate answer');
      out.push(h as Record<string, unknown>);
      continue;
    }
    if (form !== L_LOCATED) throw new NetError('NET_PROTOCOL', `locate answer form ${form} is unknown`);
    const index = r.f64(), pcount = r.f64(), length = r.f64(), maxEpoch = r.str8();
    const k = r.u16();
    let path: string;
    if (k === 0) {
      const n = r.u16();
      r.need(n);
      path = r.b.utf8Slice(r.at, r.at + n);
      r.at += n;
      paths.push(path);
    } else {
      if (k > paths.length) throw new NetError('NET_PROTOCOL', `locate answer names path ${k} of ${paths.length}`);
      path = paths[k - 1]!;
    }
    const at = r.f64(), len = r.f64(), csum = r.str8();
    out.push({ present: [{ index, count: pcount }], length, maxEpoch, direct: { path, at, len, csum } });
  }
  if (r.at !== payload.length) throw new NetError('NET_PROTOCOL', 'locate reply runs past its answers');
  return out;
}
