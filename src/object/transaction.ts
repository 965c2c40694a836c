/**
 * Transactions: buffered updates across any objects of a container, committed atomically at one
 * epoch (or not at all). Reads inside the transaction (fetches and listings) see the container at
 * the transaction's read epoch plus the transaction's own writes. Commit uses optimistic
 * concurrency: if any key the transaction read, listed or wrote was committed by someone else after
 * its read epoch, commit fails with `TX_RESTART` and nothing is written; the caller retries with a
 * new transaction.
 */
import type { ContainerPort, ReadOptions, TxTicket } from '../container/container.js';
import { opConflictKey, type Op } from '../container/ops.js';
import { conflictKey } from '../container/conflicts.js';
import { CairnObject, FETCH_OPTION_NAMES, LISTING_OPTION_NAMES, aboveLower, belowUpper, emptyBounds, fetchExtent, keyBounds, keyBytes, mergeAscending, orderedLimited, recordSizeArg, valueOp, type ArrayValue, type FetchOptions, type Key, type KeyRange, type ObjectOptions, type Recx } from './object.js';
import { NO_OPTIONS, objectOptionsArg, readOptionsArg, signalOptions } from './args.js';
import { ObjectError } from '../io/errors.js';
import { TX_READ, type FreshFrom } from '../io/shard-store.js';
import { compareBytes, equalBytes, hex } from '../../core/bytes.js';
import { throwIfAborted } from '../../core/errors.js';
import { mergeExtents } from '../../core/extents.js';

/** Most operations one transaction may buffer. */
export const MAX_TX_OPS = 100_000;

/** An open transaction. */
export class Transaction {
  private ops: Op[] = [];
  private keys = new Set<string>();
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /**
   * A `commit()` is in flight: the transaction takes no more ops (one buffered now could be
   * acknowledged and never written), no second commit, and no abort (the commit decides).
   * `status` stays 'open' until it is decided.
   */
  private committing = false;
  private readonly ticket: TxTicket;
  /** Buffered state the transaction's object handles share (ops, keys, read epoch). */
  private readonly buffer: TxBuffer;

  /** @internal use `cont.beginTx()`. */
  constructor(private readonly port: ContainerPort) {
    this.ticket = port.beginTx();
    this.buffer = {
      readEpoch: this.ticket.readEpoch,
      add: (op) => this.add(op),
      checkOpen: () => this.checkOpen(),
      noteRead: (oid, dkey, akey) => { this.checkOpen(); this.keys.add(conflictKey(oid.toString(16), dkey && hex(dkey), akey && hex(akey))); },
      opsFor: (oid, dkey, akey) => this.ops.filter((o) => o.oid === oid && (dkey === undefined || o.kind === 'punchObject' || (equalBytes(o.dkey, dkey) && (akey === undefined || o.kind === 'punchDkey' || equalBytes(o.akey, akey))))),
    };
  }

  /** The epoch the transaction reads at (the stable epoch when it began). */
  get readEpoch(): bigint { return this.ticket.readEpoch; }

  /** A handle whose update/fetch/punch belong to this transaction. */
  object(oidOrName: bigint | string, opts: ObjectOptions = {}): TxObject {
    this.checkOpen();
    opts = objectOptionsArg<ObjectOptions>(opts, 'object options');
    return new TxObject(this.buffer, this.port, this.port.resolveOid(oidOrName, opts.oclass), opts);
  }

  /** Buffer an op. */
  private add(op: Op): void {
    this.checkOpen();
    if (this.ops.length >= MAX_TX_OPS) throw new ObjectError('INVALID_ARGUMENT', `a transaction holds at most ${MAX_TX_OPS} operations`);
    this.ops.push(op);
    this.keys.add(opConflictKey(op));
  }

  /** Commit every buffered op atomically; resolves to the commit epoch. `TX_RESTART` on conflict. */
  async commit(opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    this.checkOpen();
    opts = signalOptions(opts, 'commit options');
    throwIfAborted(opts.signal);
    this.committing = true;
    try {
      const epoch = await this.port.commit(this.ops, { readEpoch: this.readEpoch, keys: this.keys }, opts.signal);
      this.state = 'committed';
      return epoch;
    } catch (err) {
      this.state = 'aborted';
      throw err;
    } finally {
      this.committing = false;
      this.ticket.end();
    }
  }

  /**
   * Drop every buffered op; nothing of the transaction becomes visible. Nothing to do once it was
   * committed or aborted; TX_CLOSED while its commit is in flight (too late to drop anything).
   */
  async abort(): Promise<void> {
    if (this.committing) this.checkOpen();
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.ops = [];
    this.ticket.end();
  }

  /** 'open', 'committed' or 'aborted'. */
  get status(): 'open' | 'committed' | 'aborted' { return this.state; }

  private checkOpen(): void {
    if (this.state !== 'open') throw new ObjectError('TX_CLOSED', `transaction is already ${this.state}`);
    if (this.committing) throw new ObjectError('TX_CLOSED', 'transaction is being committed');
  }
}

/** What a transaction's object handles use of it. */
interface TxBuffer {
  readonly readEpoch: bigint;
  /** Buffer an op (TX_CLOSED once committed or aborted). */
  add(op: Op): void;
  /**
   * TX_CLOSED once the transaction is committed or aborted, or while its commit is in flight: a
   * read then would see its old read epoch, and no commit checks it for conflicts any more.
   */
  checkOpen(): void;
  /**
   * Note a read for conflict detection (TX_CLOSED as `checkOpen`: reads are refused once it
   * closed): of an akey's value (a fetch, its extents), of a dkey's akeys (no `akey`), or of an
   * object's dkeys (neither). A commit by someone else after the read epoch that writes at or
   * below the key, or punches it or above it, fails this transaction's commit (TX_RESTART).
   */
  noteRead(oid: bigint, dkey?: Uint8Array, akey?: Uint8Array): void;
  /** The buffered ops touching the object, its dkey `dkey` or that dkey's akey `akey`, in order. */
  opsFor(oid: bigint, dkey?: Uint8Array, akey?: Uint8Array): Op[];
}

/** Whether a buffered op makes its akey visible (a zero-length extent writes nothing). */
function makesVisible(o: Op): o is Extract<Op, { kind: 'single' | 'array' }> {
  return o.kind === 'single' || (o.kind === 'array' && o.data.length > 0);
}

/** An async iterator over `keys`. */
async function* keysOf(keys: readonly Uint8Array[]): AsyncGenerator<Uint8Array> { yield* keys; }

/** An object handle inside a transaction. */
export class TxObject extends CairnObject {
  /** @internal */
  constructor(private readonly tx: TxBuffer, port: ContainerPort, oid: bigint, opts: ObjectOptions) { super(port, oid, opts); }

  /** @internal Reads at the transaction's read epoch are its reads: an engine refuses them once another client's aggregation passed that epoch (`TX_READ`). */
  protected override explicitBound(epoch: bigint): FreshFrom { return epoch === this.tx.readEpoch ? TX_READ : undefined; }

  /**
   * Buffer an update; visible to this transaction's reads now, to others after commit. The bytes
   * are taken at the call (copied): the caller may reuse its buffer before the commit.
   */
  override async update(dkey: Key, akey: Key, value: Uint8Array | string | ArrayValue, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    throwIfAborted(signalOptions(opts, 'update options').signal);
    const op = valueOp(this.oid, keyBytes(dkey, 'dkey'), keyBytes(akey, 'akey'), value);
    // (valueOp copies a single value; an extent is copied here, as it waits for the commit)
    this.tx.add(op.kind === 'array' ? { ...op, data: new Uint8Array(op.data) } : op);
    return this.tx.readEpoch;
  }

  /**
   * Read options of a read inside the transaction, validated (`known`: the names the read takes,
   * as `readOptionsArg`). It reads at the transaction's own epoch only: `epoch` and `snapshot`
   * are refused (INVALID_ARGUMENT), not ignored.
   */
  private txReadOptions<T extends ReadOptions>(opts: unknown, what: string, known?: readonly string[]): T {
    const o = readOptionsArg<T>(opts, what, known);
    if (o.epoch !== undefined || o.snapshot !== undefined) throw new ObjectError('INVALID_ARGUMENT', `a transaction reads at its own epoch (tx.readEpoch): give its ${what} neither epoch nor snapshot, or read outside the transaction`);
    return o;
  }

  /**
   * The buffered ops on `d` (on its akey `a` when given) after the last one that punched it or
   * something above it, and whether there was such a punch (then nothing stored is visible to
   * this transaction there).
   */
  private sinceLastPunch(d: Uint8Array, a?: Uint8Array): { punched: boolean; ops: Op[] } {
    const own = this.tx.opsFor(this.oid, d, a);
    const last = own.map((o) => o.kind === 'punchObject' || o.kind === 'punchDkey' || (a !== undefined && o.kind === 'punchAkey')).lastIndexOf(true);
    return { punched: last >= 0, ops: own.slice(last + 1) };
  }

  /**
   * Fetch at the transaction's read epoch, overlaid with its own buffered writes. A transaction
   * reads at its own epoch only: `epoch` and `snapshot` are refused (INVALID_ARGUMENT), not ignored.
   */
  override async fetch(dkey: Key, akey: Key, opts: FetchOptions = {}): Promise<Uint8Array | undefined> {
    opts = this.txReadOptions<FetchOptions>(opts, 'fetch options', FETCH_OPTION_NAMES);
    const extent = opts.recx !== undefined ? fetchExtent(opts.recx, opts.recordSize) : (recordSizeArg(opts.recordSize), undefined);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    this.tx.noteRead(this.oid, d, a);
    const { punched, ops: after } = this.sinceLastPunch(d, a);
    const base = { ...opts, epoch: this.tx.readEpoch, snapshot: undefined };
    if (!extent) {
      const lastSingle = [...after].reverse().find((o) => o.kind === 'single');
      // (a copy: the caller may write to what it fetched, which must not change the buffered update)
      if (lastSingle && lastSingle.kind === 'single') return new Uint8Array(lastSingle.value);
      if (punched) return undefined;
      return super.fetch(d, a, base);
    }
    const start = extent.offset, len = extent.length;
    const out = punched ? new Uint8Array(len) : ((await super.fetch(d, a, base)) ?? new Uint8Array(len));
    for (const o of after) {
      if (o.kind !== 'array') continue;
      const lo = Math.max(start, o.offset), hi = Math.min(start + len, o.offset + o.data.length);
      if (hi > lo) out.set(o.data.subarray(lo - o.offset, hi - o.offset), lo - start);
    }
    return out;
  }

  /**
   * The dkeys visible at the transaction's read epoch overlaid with its own buffered writes (a
   * dkey it updated is listed, one it punched is not), bounded and ordered as `listDkeys`. The
   * listing is noted for the commit's conflict check at the object's level, as DAOS records an
   * enumeration: a commit by someone else after the read epoch that adds or punches a dkey of the
   * object fails this transaction's commit (TX_RESTART). Coarser than the listed range (any write
   * to the object conflicts, also one to a dkey that exists): a conflict is never missed.
   */
  override async *listDkeys(options: ReadOptions & KeyRange = NO_OPTIONS): AsyncGenerator<Uint8Array> {
    const opts = this.txReadOptions<ReadOptions & KeyRange>(options, 'listing options', LISTING_OPTION_NAMES);
    const b = keyBounds(opts);
    this.tx.noteRead(this.oid);
    if (emptyBounds(b)) return;
    const own = await this.ownDkeys(opts.signal);
    const stored = (): AsyncGenerator<Uint8Array> => super.listDkeys({ ...opts, epoch: this.tx.readEpoch, reverse: false, limit: Infinity });
    let ascending: AsyncIterable<Uint8Array>;
    if (own === undefined) ascending = stored();
    else {
      const added = [...own.dkeys.values()].filter((x) => x.visible && aboveLower(x.key, b) && belowUpper(x.key, b)).map((x) => x.key.slice()).sort(compareBytes);
      const kept = own.cleared ? keysOf([]) : (async function* () { for await (const k of stored()) if (!own.dkeys.has(hex(k))) yield k; })();
      ascending = mergeAscending([kept, keysOf(added)]);
    }
    for await (const k of orderedLimited(ascending, b)) {
      this.tx.checkOpen();
      yield k;
    }
  }

  /**
   * What the buffered ops make of this object's dkeys: whether one punched the object (`cleared`:
   * no stored dkey is visible to the transaction), and the dkeys they decide, visible or not (a
   * dkey one of whose akeys was punched stays visible while another akey is). Undefined when no
   * buffered op touches the object.
   */
  private async ownDkeys(signal?: AbortSignal): Promise<{ cleared: boolean; dkeys: Map<string, { key: Uint8Array; visible: boolean | undefined }> } | undefined> {
    const own = this.tx.opsFor(this.oid);
    if (own.length === 0) return undefined;
    let cleared = false;
    const dkeys = new Map<string, { key: Uint8Array; visible: boolean | undefined }>();
    for (const o of own) {
      if (o.kind === 'punchObject') { cleared = true; dkeys.clear(); continue; }
      const h = hex(o.dkey);
      if (o.kind === 'punchDkey') dkeys.set(h, { key: o.dkey, visible: false });
      else if (o.kind === 'punchAkey') { if (dkeys.get(h)?.visible !== false) dkeys.set(h, { key: o.dkey, visible: undefined }); }
      else if (makesVisible(o)) dkeys.set(h, { key: o.dkey, visible: true });
    }
    for (const x of dkeys.values()) if (x.visible === undefined) x.visible = (await this.akeysInTx(x.key, signal)).length > 0;
    return { cleared, dkeys };
  }

  /**
   * The akeys of `dkey` visible at the transaction's read epoch overlaid with its own buffered
   * writes, in byte order. The listing is noted for the commit's conflict check at the dkey's
   * level: a commit by someone else after the read epoch that adds or punches an akey of the dkey
   * (or writes any of them) fails this transaction's commit (TX_RESTART).
   */
  override async *listAkeys(dkey: Key, options: ReadOptions = NO_OPTIONS): AsyncGenerator<Uint8Array> {
    const opts = this.txReadOptions(options, 'listing options');
    const d = keyBytes(dkey, 'dkey');
    this.tx.noteRead(this.oid, d);
    for (const k of await this.akeysInTx(d, opts.signal)) {
      this.tx.checkOpen();
      yield k;
    }
  }

  /** The akeys of `d` this transaction sees (`listAkeys` without its checks), in byte order. */
  private async akeysInTx(d: Uint8Array, signal?: AbortSignal): Promise<Uint8Array[]> {
    const { punched, ops } = this.sinceLastPunch(d);
    const keys = new Map<string, Uint8Array>();
    if (!punched) for await (const k of super.listAkeys(d, { epoch: this.tx.readEpoch, signal })) keys.set(hex(k), k);
    for (const o of ops) {
      if (o.kind === 'punchAkey') keys.delete(hex(o.akey));
      // (a copy: a string key's bytes may be shared, and are never handed to a caller)
      else if (makesVisible(o)) keys.set(hex(o.akey), o.akey.slice());
    }
    return [...keys.values()].sort(compareBytes);
  }

  /**
   * The extents of an array akey visible at the transaction's read epoch overlaid with its own
   * buffered extents (bytes, merged, ascending); noted for the commit's conflict check as a fetch
   * of the akey is.
   */
  override async *listRecx(dkey: Key, akey: Key, options: ReadOptions = NO_OPTIONS): AsyncGenerator<Recx> {
    const opts = this.txReadOptions(options, 'listing options');
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    this.tx.noteRead(this.oid, d, a);
    const { punched, ops } = this.sinceLastPunch(d, a);
    const xs: Recx[] = [];
    if (!punched) for await (const x of super.listRecx(d, a, { epoch: this.tx.readEpoch, signal: opts.signal })) xs.push(x);
    for (const o of ops) if (o.kind === 'array' && o.data.length > 0) xs.push({ index: o.offset, count: o.data.length });
    for (const x of mergeExtents(xs)) {
      this.tx.checkOpen();
      yield x;
    }
  }

  /** Buffer a punch of the object (its options, `{ signal }` only, are checked as the object's punch checks them). */
  override async punch(opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    throwIfAborted(signalOptions(opts, 'punch options').signal);
    this.tx.add({ kind: 'punchObject', oid: this.oid });
    return this.tx.readEpoch;
  }

  /** Buffer a punch of one dkey. */
  override async punchDkey(dkey: Key, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    throwIfAborted(signalOptions(opts, 'punch options').signal);
    this.tx.add({ kind: 'punchDkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey') });
    return this.tx.readEpoch;
  }

  /** Buffer a punch of one akey. */
  override async punchAkey(dkey: Key, akey: Key, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<bigint> {
    throwIfAborted(signalOptions(opts, 'punch options').signal);
    this.tx.add({ kind: 'punchAkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey'), akey: keyBytes(akey, 'akey') });
    return this.tx.readEpoch;
  }
}
