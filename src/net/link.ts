/**
 * One client's line to one engine, as the data path uses it (`EngineLink`):
 *
 * - Writes (and read validations) made in the same turn of the event loop go to the engine as one
 *   `engine.batch` request: one HTTP/2 stream for many shard writes, their payloads sent back to
 *   back as they are (never copied into one buffer), the replies' payloads sliced from one buffer.
 * - Single-value reads (`shard.fetchSingle`) of one turn go as one `engine.batch` request of their
 *   own, never with writes: a read may wait for a commit decision, and must not hold the replies
 *   of writes batched with it (it may hold the other reads of its batch: reads with reads).
 *   Listings and array reads go as calls of their own.
 * - Commit notices: once every write of a commit that spans several engines succeeded, the commit
 *   is decided (every participant holds all of its writes, prepared). The client tells each
 *   participant on the next request it sends there anyway (in a batch's item table, or `commits`
 *   in the header of any other request), or after `NOTICE_DELAY_MS` in a `tx.notice` request of
 *   their own when no request comes. A
 *   participant that never hears (the client died) settles it with the others (src/engine/txn.ts).
 *
 * The wire format of a batch and of a locate request is defined in batch-frame.ts, for both sides
 * (`encodeBatch`/`decodeBatchReply`, `encodeLocate`/`decodeLocateReply` on the client,
 * `decodeBatchFrame`/`encodeBatchReply`, `decodeLocate`/`encodeLocateReply` on the engine), re-exported here.
 */
import { CairnError } from '../../core/errors.js';
import { swallowed } from '../../core/log.js';
import { NetError } from './errors.js';
import { encodeBatch, decodeBatchReply, encodeLocate, decodeLocateReply } from './batch-frame.js';
import { rawReadStats, type RpcCaller, type RpcCallOptions, type RpcPayload, type RpcReply } from './rpc.js';
import { ENGINE_METHODS, TX_BATCH_MAX } from './protocol.js';
import { directRefOf, readDirectGuess, readDirectRef, readDirectRefs, type DirectRef } from './direct-read.js';

/** Methods a link sends batched (they never wait on other clients' commits). */
export const BATCHED_METHODS: ReadonlySet<string> = new Set([
  'shard.updateSingle', 'shard.updateArray', 'shard.punchObject', 'shard.punchDkey', 'shard.punchAkey', ENGINE_METHODS.txValidate,
]);
/** The read a link batches with other reads of its turn (see the module's comment). */
const FETCH_SINGLE = 'shard.fetchSingle';
/**
 * Whether single-value reads of one turn to one engine go as one `engine.batch` request
 * (`CAIRN_RPC_GET_BATCH=0`: each as a request of its own; `on` flips it for A/B in benches).
 */
export const getBatching = { on: process.env.CAIRN_RPC_GET_BATCH !== '0' };
/** Most payload bytes one batch carries (more: the next batch). */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** Most calls waiting in one link (beyond: OVERLOADED). */
export const MAX_LINK_QUEUE = 64 * TX_BATCH_MAX;
/**
 * Longest a commit notice waits for a request to ride on before it is sent on its own. A reader
 * of another client that meets the commit undecided waits for it at most this long (its own
 * client's reads carry the notices); the longer, the more notices share one request.
 */
export const NOTICE_DELAY_MS = 50;
/**
 * Batches one link keeps in flight. Writes queued while they are out wait for one of them to be
 * answered and then go together (group commit): under load each engine gets fewer, larger
 * batches, so the per-request costs (a wake-up on each side, socket reads and writes, the
 * engine's two tx.log writes per batch) are shared by more writes. A lone write still goes at once.
 */
export const MAX_BATCHES_IN_FLIGHT = batchesInFlight(process.env.CAIRN_LINK_BATCHES_IN_FLIGHT, 2);

/** `CAIRN_LINK_BATCHES_IN_FLIGHT` read as a whole number 1..64, else `dflt` (A/B of the group commit's window). */
function batchesInFlight(v: string | undefined, dflt: number): number {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? n : dflt;
}
/** Most commit notices one request carries. */
export const MAX_NOTICES_PER_REQUEST = 4096;
/** Most commit notices a link keeps waiting (the oldest are dropped: their participants settle them by timeout). */
export const MAX_PENDING_NOTICES = 65_536;

/**
 * Whether whole-range reads into the caller's buffers that one turn sends to one engine on this
 * host are asked where they lie in one `engine.locate` request (`CAIRN_RPC_LOCATE_BATCH=0`: each
 * read goes on its own, as a located read of its own).
 */
const LOCATE_BATCHES = process.env.CAIRN_RPC_LOCATE_BATCH !== '0';
/** The read a link may ask to be located in a batch. */
const FETCH_ARRAY = 'shard.fetchArray';

/**
 * Located reads started on a guess: a whole-range read whose range (target, container, map
 * version, object, keys, extent) the engine located before is read from where it lay then at
 * once, while the `engine.locate` request for it is out, instead of after its answer (the round
 * trip and the copy overlap). The bytes are kept only when they hashed to the checksum the
 * engine's answer names, with its length: the answer, made at the read's epoch with its
 * freshness window (a refused read is answered `again`), says which bytes the read must return,
 * and bytes that hash to that checksum are those bytes (the same trust a located read puts in
 * it). Otherwise the read goes on as without a guess (read again from where the answer says,
 * or sent on its own) once the guessed read ended. Every read still asks its engine, so freshness,
 * read timestamps and waits for prepared writes are as before; a wrong guess costs one wasted
 * copy. Off unless `CAIRN_RPC_READ_GUESS=1` (`on`; benches flip it for A/B; and counts): in
 * same-process A/B at load 11-34 it saved no client CPU and no wall time measurably, and RP_3G1
 * reused 1 MiB reads cost 1.13-1.23x the client CPU per MiB with it (per-round medians, 3 runs;
 * not explained: one larger pool batch is cheaper per MiB, not dearer, /tmp/fresh25/batchmicro.mjs);
 * EC_2P1G1 1.00-1.06x. Kept for a quiet measurement (docs/performance.md, the connected data path's
 * history, session 25).
 */
export const readGuesses = { on: process.env.CAIRN_RPC_READ_GUESS === '1', started: 0, kept: 0, missed: 0 };
/** Ranges one link remembers where the engine located (the oldest remembered is forgotten first). */
export const MAX_READ_GUESSES = 16_384;

/** The key a read's located answer is remembered under (undefined: a header that does not name one range). */
function guessKey(h: Record<string, unknown>): string | undefined {
  const r = h.recx as { index?: unknown; count?: unknown } | undefined;
  if (typeof h.oid !== 'string' || typeof h.dkey !== 'string' || typeof h.akey !== 'string' || typeof r !== 'object' || r === null) return undefined;
  return `${String(h.target)}|${String(h.cont)}|${String(h.mapVersion)}|${h.oid}|${h.dkey}|${h.akey}|${String(r.index)}|${String(r.count)}${h.migrate === true ? '|m' : ''}`;
}

/**
 * Whether the links' flushes of one turn run in one `setImmediate` (`atTurnEnd`;
 * `CAIRN_LINK_TURN_FLUSH=1`) or each in one of its own (the default). Same-process A/B at load ~20
 * (engines-ab put 16 6000 8): client CPU per put new/base median 0.994, rates within noise; a wall
 * question for a quiet A/B.
 */
const TURN_FLUSH = process.env.CAIRN_LINK_TURN_FLUSH === '1';

/** Flushes due at the end of this turn (`atTurnEnd`), run by one `setImmediate`. */
let dueFlushes: Array<() => void> = [];
let dueArmed = false;

/**
 * Run `flush` at the end of this turn, with every other link's flush of the turn, in one
 * `setImmediate` callback: their requests are all built first and their sockets then written back
 * to back, when the RPC layer uncorks them after the callback (rpc.ts `corkForTick`). Each link in
 * a `setImmediate` of its own wrote its socket between the others' encoding, so an engine woken by
 * the first write could take the core before the client had written to the next one.
 */
function atTurnEnd(flush: () => void): void {
  if (!TURN_FLUSH) { setImmediate(flush); return; }
  dueFlushes.push(flush);
  if (!dueArmed) { dueArmed = true; setImmediate(runDueFlushes); }
}

function runDueFlushes(): void {
  const fs = dueFlushes;
  dueFlushes = [];
  dueArmed = false; // (a flush due while these run goes at the next turn's end)
  let failed: { err: unknown } | undefined;
  for (const f of fs) {
    try { f(); } catch (err) { failed ??= { err }; } // (the others still go; the first error is thrown as before)
  }
  if (failed !== undefined) throw failed.err;
}

/** What `capture` took from the promise made last. */
const captured: { resolve: ((r: RpcReply) => void) | undefined; reject: ((e: unknown) => void) | undefined } = { resolve: undefined, reject: undefined };
/**
 * The executor of the promises of queued calls: one function for all, which hands the promise's
 * resolve and reject over in `captured` (read at once by the caller), so a queued call makes no
 * executor closure and context of its own (about 90 B per call).
 */
function capture(resolve: (r: RpcReply) => void, reject: (e: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

/** A commit notice: container uuid and epoch (decimal). */
export type Notice = [cont: string, epoch: string];

/**
 * A call waiting for its turn's batch. `note` (a write's, `callNoted`): run on its reply before the
 * caller's promise settles, which then resolves with what it returns (no `then` of the caller's own).
 */
interface Pending { method: string; header: Record<string, unknown>; payload?: Uint8Array; resolve: (r: RpcReply) => void; reject: (e: unknown) => void; note: ((r: RpcReply) => unknown) | undefined }
/** A whole-range read waiting for the turn's `engine.locate` request. */
interface PendingRead { header: Record<string, unknown>; into: readonly Uint8Array[]; bytes: number; key: string | undefined; resolve: (r: RpcReply) => void; reject: (e: unknown) => void }

export { batchMethods, encodeBatch, decodeBatch, decodeBatchFrame, encodeBatchReply, decodeBatchReply, encodeLocate, decodeLocate, encodeLocateReply, decodeLocateReply } from './batch-frame.js';

/**
 * A client's line to one engine: batches writes per event-loop turn and carries commit notices.
 * `client()` is re-resolved for every request (an engine that restarts listens elsewhere).
 */
export class EngineLink implements RpcCaller {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Batches sent and not answered yet (at most MAX_BATCHES_IN_FLIGHT). */
  private inFlight = 0;
  private notices: Notice[] = [];
  /**
   * Armed while notices may be waiting; not cleared when a request takes them (a timer armed and
   * cleared per commit cost each put two timer-list operations per participant): when it fires
   * it sends the notices waiting since at least NOTICE_DELAY_MS, or waits for the rest of the
   * delay of the oldest one, or ends when none wait.
   */
  private noticeTimer?: NodeJS.Timeout;
  /** When the oldest notice waiting now was queued (`performance.now()`). */
  private noticesSince = 0;
  private closed = false;
  /** Single-value reads of this turn, sent together (`flushGets`). */
  private gets: Pending[] = [];
  private getsScheduled = false;
  /** Whole-range reads of this turn to be located together (`flushReads`). */
  private reads: PendingRead[] = [];
  private readsScheduled = false;
  /** Where the engine located ranges read before (`readGuesses`), by `guessKey`. */
  private guesses = new Map<string, DirectRef>();

  constructor(private readonly client: () => RpcCaller, private readonly remote: string) {}

  /**
   * Send `method` (batched with others of this turn when it is a write; located with the others
   * of this turn when it is a whole-range read an engine on this host may answer with where it
   * lies); resolves with its reply.
   */
  call(method: string, header: Record<string, unknown>, payload?: RpcPayload, o?: RpcCallOptions): Promise<RpcReply> {
    if (method === FETCH_ARRAY && o?.into !== undefined && o.signal === undefined && o.timeoutMs === undefined && payload === undefined && header.holesAsZero === true && LOCATE_BATCHES) {
      const r = this.queueRead(header, o.into);
      if (r !== undefined) return r;
    }
    if (method === FETCH_SINGLE && o === undefined && payload === undefined && getBatching.on) {
      if (this.gets.length >= MAX_LINK_QUEUE) return Promise.reject(new CairnError('OVERLOADED', `${this.gets.length} reads already wait for engine ${this.remote}`, { maxQueued: MAX_LINK_QUEUE }));
      const p = new Promise<RpcReply>(capture);
      this.gets.push({ method, header, payload: undefined, resolve: captured.resolve!, reject: captured.reject!, note: undefined });
      if (!this.getsScheduled) { this.getsScheduled = true; atTurnEnd(this.flushGets); }
      return p;
    }
    if (!BATCHED_METHODS.has(method) || o?.signal || o?.timeoutMs !== undefined || (payload !== undefined && !(payload instanceof Uint8Array))) {
      return this.direct(method, header, payload, o);
    }
    return this.queued(method, header, payload as Uint8Array | undefined, undefined);
  }

  /**
   * `call(method, header, payload).then(note)` for a batched write, with no `then` promise of its
   * own: `note` runs on the reply (it must not throw) and the promise resolves with what it
   * returns. A shard store's writes note the store's max epoch this way (shard-rpc.ts).
   */
  callNoted<T>(method: string, header: Record<string, unknown>, payload: Uint8Array | undefined, note: (r: RpcReply) => T): Promise<T> {
    if (!BATCHED_METHODS.has(method)) return this.call(method, header, payload).then(note);
    return this.queued(method, header, payload, note) as Promise<unknown> as Promise<T>;
  }

  /** A write queued for this turn's batch. */
  private queued(method: string, header: Record<string, unknown>, payload: Uint8Array | undefined, note: ((r: RpcReply) => unknown) | undefined): Promise<RpcReply> {
    if (this.queue.length >= MAX_LINK_QUEUE) return Promise.reject(new CairnError('OVERLOADED', `${this.queue.length} requests already wait for engine ${this.remote}`, { maxQueued: MAX_LINK_QUEUE }));
    const p = new Promise<RpcReply>(capture);
    this.queue.push({ method, header, payload, resolve: captured.resolve!, reject: captured.reject!, note }); // (one shape, payload or not)
    this.schedule();
    return p;
  }

  /** Queue a commit notice for this engine (it rides on the next request, or goes on its own soon); `epoch` as a bigint or its decimal text. */
  notice(cont: string, epoch: bigint | string): void {
    if (this.closed) return;
    if (this.notices.length >= MAX_PENDING_NOTICES) this.notices.shift();
    if (this.notices.length === 0) this.noticesSince = performance.now();
    this.notices.push([cont, typeof epoch === 'string' ? epoch : epoch.toString()]);
    this.noticeTimer ??= setTimeout(this.noticeDue, NOTICE_DELAY_MS);
  }

  /** The notice timer fired: send what waited NOTICE_DELAY_MS, wait for the rest of the delay, or stop (nothing waits). */
  private readonly noticeDue = (): void => {
    this.noticeTimer = undefined;
    if (this.notices.length === 0 || this.closed) return;
    const left = NOTICE_DELAY_MS - (performance.now() - this.noticesSince);
    if (left >= 1) { this.noticeTimer = setTimeout(this.noticeDue, left); return; }
    void this.sendNotices();
  };

  /** Send the notices waiting now (before a client closes). */
  async drain(): Promise<void> {
    clearTimeout(this.noticeTimer);
    this.noticeTimer = undefined;
    await this.sendNotices();
  }

  /** Notices waiting to be sent (for tests and stats). */
  get pendingNotices(): number { return this.notices.length; }

  /** Stop: calls still queued fail, notices are dropped (their participants settle them by timeout). */
  close(): void {
    this.closed = true;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = undefined;
    this.notices = [];
    this.guesses.clear();
    for (const p of [...this.queue.splice(0), ...this.gets.splice(0), ...this.reads.splice(0)]) p.reject(new NetError('NET_UNREACHABLE', `link to engine ${this.remote} is closed`, { remote: this.remote }));
  }

  /**
   * Queue a whole-range read into `into` for this turn's `engine.locate` request, when the engine
   * may answer it with where it lies (undefined otherwise: the caller sends it on its own).
   */
  private queueRead(header: Record<string, unknown>, into: readonly Uint8Array[]): Promise<RpcReply> | undefined {
    let bytes = 0;
    for (const b of into) bytes += b.length;
    let c: RpcCaller;
    try { c = this.client(); } catch { return undefined; } // (sent on its own, it reports why)
    if (this.closed || c.locates?.(bytes) !== true || this.reads.length >= MAX_LINK_QUEUE) return undefined;
    const p = new Promise<RpcReply>(capture);
    this.reads.push({ header, into, bytes, key: readGuesses.on ? guessKey(header) : undefined, resolve: captured.resolve!, reject: captured.reject! });
    if (!this.readsScheduled) { this.readsScheduled = true; atTurnEnd(this.flushReads); }
    return p;
  }

  /** Send the reads queued this turn: a lone one as it is, more in `engine.locate` requests of up to TX_BATCH_MAX. */
  private readonly flushReads = (): void => {
    this.readsScheduled = false;
    while (this.reads.length) {
      const batch = this.reads.splice(0, TX_BATCH_MAX);
      // (a lone read goes on its own unless it has a guess: then it is located, the guess read meanwhile)
      if (batch.length === 1 && (batch[0]!.key === undefined || !this.guesses.has(batch[0]!.key))) this.readAlone(batch[0]!); else void this.locateReads(batch);
    }
  };

  /**
   * Ask the engine where the reads of `batch` lie, in one request, then read each located one
   * here (direct-read.ts: checked against its checksum). A read the engine did not locate, one
   * that did not check out, and every read of a request that failed are sent on their own (the
   * engine then reads, waits or reports as for any read).
   */
  private async locateReads(batch: PendingRead[]): Promise<void> {
    let items: Array<Record<string, unknown>> | undefined;
    rawReadStats.locateRequests++;
    rawReadStats.locateItems += batch.length;
    // Reads of ranges located before start now, from where they lay (`readGuesses`).
    let guessed: Array<{ ref: DirectRef; read: Promise<boolean> } | undefined> | undefined;
    for (let i = 0; i < batch.length; i++) {
      const key = batch[i]!.key;
      const ref = key === undefined ? undefined : this.guesses.get(key);
      if (ref === undefined) continue;
      readGuesses.started++;
      (guessed ??= new Array<{ ref: DirectRef; read: Promise<boolean> } | undefined>(batch.length))[i] = { ref, read: readDirectGuess(ref, batch[i]!.into).catch(() => false) };
    }
    try {
      const headers: Array<Record<string, unknown>> = [];
      for (const b of batch) headers.push(b.header);
      const req = encodeLocate(headers);
      items = decodeLocateReply(await this.direct(ENGINE_METHODS.locate, req.header, req.payload), batch.length);
    } catch (err) {
      swallowed('link.locate-failed-reads-sent-alone', err);
    }
    // (the located reads not guessed go to the thread pool as one group: `readDirectRefs`, the reads
    // engineer's ask, session 27: promises per reused MiB 35.64 -> 28.78)
    let at: number[] | undefined, refs: DirectRef[] | undefined, intos: Array<readonly Uint8Array[]> | undefined;
    for (let i = 0; i < batch.length; i++) {
      const b = batch[i]!, g = guessed?.[i];
      const it = items?.[i];
      const ref = typeof it === 'object' && it !== null && it.direct !== undefined ? directRefOf(it.direct) : undefined;
      if (b.key !== undefined) this.remember(b.key, ref);
      if (g === undefined) {
        if (ref === undefined) { this.located(b, it, ref); continue; }
        (at ??= []).push(i); (refs ??= []).push(ref); (intos ??= []).push(b.into);
        continue;
      }
      // (a guessed read writes into the caller's buffers: nothing else may until it ended)
      g.read.then((ok) => {
        if (ok && ref !== undefined && ref.csum === g.ref.csum && ref.len === g.ref.len) {
          readGuesses.kept++;
          rawReadStats.directBytes += b.bytes;
          b.resolve({ header: it!, filled: true });
          return;
        }
        readGuesses.missed++;
        this.located(b, it, ref);
      }, () => this.located(b, it, ref));
    }
    if (at !== undefined) {
      const idx = at;
      readDirectRefs(refs!, intos!).then((oks) => {
        for (let j = 0; j < idx.length; j++) {
          const b = batch[idx[j]!]!;
          if (!oks[j]) { rawReadStats.directMisses++; if (b.key !== undefined) this.guesses.delete(b.key); this.readAlone(b); continue; }
          rawReadStats.directBytes += b.bytes;
          b.resolve({ header: items![idx[j]!] as Record<string, unknown>, filled: true });
        }
      }, () => { for (const i of idx) this.readAlone(batch[i]!); });
    }
  }

  /** The engine's answer `it` to one read of a locate request (`ref`: where it said the extent lies, if it located it): read from there, or send the read on its own. */
  private located(b: PendingRead, it: Record<string, unknown> | undefined, ref: DirectRef | undefined): void {
    if (ref === undefined) { this.readAlone(b); return; }
    readDirectRef(ref, b.into).then((ok) => {
      if (!ok) { rawReadStats.directMisses++; if (b.key !== undefined) this.guesses.delete(b.key); this.readAlone(b); return; }
      rawReadStats.directBytes += b.bytes;
      b.resolve({ header: it!, filled: true });
    }, () => this.readAlone(b));
  }

  /** Remember where the engine located range `key` (`ref`), or forget it (not located). */
  private remember(key: string, ref: DirectRef | undefined): void {
    if (ref === undefined) { this.guesses.delete(key); return; }
    if (!this.guesses.has(key) && this.guesses.size >= MAX_READ_GUESSES) this.guesses.delete(this.guesses.keys().next().value as string);
    this.guesses.set(key, ref);
  }

  /** Send one whole-range read on its own (the client's own located / shared-memory / socket read). */
  private readAlone(b: PendingRead): void {
    const p = this.direct(FETCH_ARRAY, b.header, undefined, { into: b.into });
    if (b.key === undefined) { p.then(b.resolve, b.reject); return; }
    // (a read answered with where its extent lies and read from there is remembered: the next read of its range starts on a guess)
    p.then((r) => { this.remember(b.key!, r.filled === true && r.payload === undefined && r.header.direct !== undefined ? directRefOf(r.header.direct) : undefined); b.resolve(r); }, b.reject);
  }

  /** Take up to MAX_NOTICES_PER_REQUEST notices for a request going out now. */
  private takeNotices(): Notice[] | undefined {
    if (this.notices.length === 0) return undefined;
    return this.notices.splice(0, MAX_NOTICES_PER_REQUEST); // (the timer stays: see `noticeTimer`)
  }

  /** Notices of a request that failed go back in the queue (a notice is idempotent). */
  private requeue(n: Notice[] | undefined): void {
    if (!n || this.closed) return;
    if (this.notices.length === 0) this.noticesSince = performance.now();
    this.notices.unshift(...n.slice(0, Math.max(0, MAX_PENDING_NOTICES - this.notices.length)));
    this.noticeTimer ??= setTimeout(this.noticeDue, NOTICE_DELAY_MS);
  }

  /**
   * Send one request now, with the notices waiting (they go back in the queue if it fails). Not
   * async: the caller gets the RPC call's own promise when no notice rides (one frame and promise
   * less per request), or one `catch` promise when some do.
   */
  private direct(method: string, header: Record<string, unknown>, payload?: RpcPayload, o?: RpcCallOptions): Promise<RpcReply> {
    const n = this.takeNotices();
    const p = this.send(method, header, payload, o, n);
    return n === undefined ? p : p.catch((err: unknown) => { this.requeue(n); throw err; });
  }

  /**
   * Send one request now carrying notices `n` (if any); the caller puts them back (`requeue`) if
   * it fails. A call that throws comes back as a rejection.
   */
  private send(method: string, header: Record<string, unknown>, payload: RpcPayload | undefined, o: RpcCallOptions | undefined, n: Notice[] | undefined): Promise<RpcReply> {
    try {
      // (a header with `commits` already, a batch's, takes them in place: its shape stays)
      if (n !== undefined) { if (header.commits !== undefined) header.commits = n; else header = { ...header, commits: n }; }
      return this.client().call(method, header, payload, o);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async sendNotices(): Promise<void> {
    const n = this.takeNotices();
    if (!n) return;
    try {
      await this.client().call(ENGINE_METHODS.txNotice, { commits: n });
    } catch (err) {
      swallowed('link.notice-failed-participant-settles-by-timeout', err);
      // An unreachable engine settles its prepared writes with the others when it is back.
    }
  }

  /**
   * Send the single-value reads of this turn: a lone one as a call of its own, more as batches of
   * up to TX_BATCH_MAX (each item's reply or error its own). Not held back by the batches in
   * flight (reads do not queue behind writes, nor behind each other's batches).
   */
  private readonly flushGets = (): void => {
    this.getsScheduled = false;
    while (this.gets.length) this.sendBatch(this.gets.splice(0, TX_BATCH_MAX), undefined);
  };

  /** Send what is queued at the end of this turn, once a batch may go. */
  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= MAX_BATCHES_IN_FLIGHT) return;
    this.scheduled = true;
    atTurnEnd(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    while (this.queue.length && this.inFlight < MAX_BATCHES_IN_FLIGHT) {
      // The last batch that may go now takes everything queued (up to the batch limits).
      let bytes = 0, i = 0;
      while (i < this.queue.length && i < TX_BATCH_MAX && (i === 0 || bytes + (this.queue[i]!.payload?.length ?? 0) <= MAX_BATCH_BYTES)) bytes += this.queue[i++]!.payload?.length ?? 0;
      const batch = this.queue.splice(0, i);
      this.inFlight++;
      this.sendBatch(batch, this.batchDone);
    }
  };

  /** A write batch was answered (or failed) and handed to its callers: the next may go. */
  private readonly batchDone = (): void => { this.inFlight--; this.schedule(); };

  /**
   * Send one batch; once its reply (or failure) was handed to its callers, `done` (if any) runs.
   * Not async: one `then` on the request's promise, no frame or `finally` promise of its own.
   */
  private sendBatch(batch: Pending[], done: (() => void) | undefined): void {
    // (the notices are put back by the rejection handlers here: no `catch` promise of `direct`'s)
    const n = this.takeNotices();
    if (batch.length === 1) {
      const b = batch[0]!;
      this.send(b.method, b.header, b.payload, undefined, n).then((r) => {
        if (b.note !== undefined) b.resolve(b.note(r) as RpcReply); else b.resolve(r);
        done?.();
      }, (err: unknown) => { this.requeue(n); b.reject(err); done?.(); });
      return;
    }
    // (the notices travel in the batch's table: no JSON of them in the header)
    const { header, parts } = encodeBatch(batch, n);
    this.send(ENGINE_METHODS.batch, header, parts, undefined, undefined).then((r) => {
      let replies: Array<RpcReply | Error>;
      try {
        replies = decodeBatchReply(r, batch.length, this.remote);
      } catch (err) {
        for (const b of batch) b.reject(err);
        done?.();
        return;
      }
      for (let i = 0; i < batch.length; i++) {
        const b = batch[i]!, x = replies[i]!;
        if (x instanceof Error) b.reject(x); else if (b.note !== undefined) b.resolve(b.note(x) as RpcReply); else b.resolve(x);
      }
      done?.();
    }, (err: unknown) => {
      this.requeue(n);
      for (const b of batch) b.reject(err);
      done?.();
    });
  }
}
