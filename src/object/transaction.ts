/**
 * Transactions: buffered updates across any objects of a container, committed atomically at one
 * epoch (or not at all). Reads inside the transaction see the container at the transaction's read
 * epoch plus the transaction's own writes. Commit uses optimistic concurrency: if any key the
 * transaction read or wrote was committed by someone else after its read epoch, commit fails with
 * `TX_RESTART` and nothing is written; the caller retries with a new transaction.
 */
import type { ContainerPort, TxTicket } from '../container/container.js';
import { opConflictKey, type Op } from '../container/ops.js';
import { conflictKey } from '../container/conflicts.js';
import { CairnObject, fetchExtent, keyBytes, recordSizeArg, valueOp, type ArrayValue, type FetchOptions, type Key, type ObjectOptions } from './object.js';
import { optionsArg, readOptionsArg, signalOptions } from './args.js';
import { ObjectError } from '../io/errors.js';
import { equalBytes, hex } from '../../core/bytes.js';
import { throwIfAborted } from '../../core/errors.js';

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
      noteRead: (oid, dkey, akey) => { this.checkOpen(); this.keys.add(conflictKey(oid.toString(16), hex(dkey), hex(akey))); },
      opsFor: (oid, dkey, akey) => this.ops.filter((o) => o.oid === oid && (o.kind === 'punchObject' || (equalBytes(o.dkey, dkey) && (o.kind === 'punchDkey' || equalBytes(o.akey, akey))))),
    };
  }

  /** The epoch the transaction reads at (the stable epoch when it began). */
  get readEpoch(): bigint { return this.ticket.readEpoch; }

  /** A handle whose update/fetch/punch belong to this transaction. */
  object(oidOrName: bigint | string, opts: ObjectOptions = {}): TxObject {
    this.checkOpen();
    opts = optionsArg<ObjectOptions>(opts, 'object options');
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
  /** Note a read for conflict detection (TX_CLOSED as `checkOpen`: reads are refused once it closed). */
  noteRead(oid: bigint, dkey: Uint8Array, akey: Uint8Array): void;
  /** The buffered ops touching (oid, dkey, akey), in order. */
  opsFor(oid: bigint, dkey: Uint8Array, akey: Uint8Array): Op[];
}

/** An object handle inside a transaction. */
export class TxObject extends CairnObject {
  /** @internal */
  constructor(private readonly tx: TxBuffer, port: ContainerPort, oid: bigint, opts: ObjectOptions) { super(port, oid, opts); }

  /**
   * Buffer an update; visible to this transaction's reads now, to others after commit. The bytes
   * are taken at the call (copied): the caller may reuse its buffer before the commit.
   */
  override async update(dkey: Key, akey: Key, value: Uint8Array | string | ArrayValue): Promise<bigint> {
    const op = valueOp(this.oid, keyBytes(dkey, 'dkey'), keyBytes(akey, 'akey'), value);
    // (valueOp copies a single value; an extent is copied here, as it waits for the commit)
    this.tx.add(op.kind === 'array' ? { ...op, data: new Uint8Array(op.data) } : op);
    return this.tx.readEpoch;
  }

  /**
   * Fetch at the transaction's read epoch, overlaid with its own buffered writes. A transaction
   * reads at its own epoch only: `epoch` and `snapshot` are refused (INVALID_ARGUMENT), not ignored.
   */
  override async fetch(dkey: Key, akey: Key, opts: FetchOptions = {}): Promise<Uint8Array | undefined> {
    opts = readOptionsArg<FetchOptions>(opts, 'fetch options');
    if (opts.epoch !== undefined || opts.snapshot !== undefined) throw new ObjectError('INVALID_ARGUMENT', 'a transaction reads at its own epoch (tx.readEpoch): fetch it with neither epoch nor snapshot, or read outside the transaction');
    const extent = opts.recx !== undefined ? fetchExtent(opts.recx, opts.recordSize) : (recordSizeArg(opts.recordSize), undefined);
    const d = keyBytes(dkey, 'dkey'), a = keyBytes(akey, 'akey');
    this.tx.noteRead(this.oid, d, a);
    const own = this.tx.opsFor(this.oid, d, a);
    const lastPunch = own.map((o) => o.kind.startsWith('punch')).lastIndexOf(true);
    const after = own.slice(lastPunch + 1);
    const base = { ...opts, epoch: this.tx.readEpoch, snapshot: undefined };
    if (!extent) {
      const lastSingle = [...after].reverse().find((o) => o.kind === 'single');
      // (a copy: the caller may write to what it fetched, which must not change the buffered update)
      if (lastSingle && lastSingle.kind === 'single') return new Uint8Array(lastSingle.value);
      if (lastPunch >= 0) return undefined;
      return super.fetch(d, a, base);
    }
    const start = extent.offset, len = extent.length;
    const out = lastPunch >= 0 ? new Uint8Array(len) : ((await super.fetch(d, a, base)) ?? new Uint8Array(len));
    for (const o of after) {
      if (o.kind !== 'array') continue;
      const lo = Math.max(start, o.offset), hi = Math.min(start + len, o.offset + o.data.length);
      if (hi > lo) out.set(o.data.subarray(lo - o.offset, hi - o.offset), lo - start);
    }
    return out;
  }

  override async punch(): Promise<bigint> { this.tx.add({ kind: 'punchObject', oid: this.oid }); return this.tx.readEpoch; }
  override async punchDkey(dkey: Key): Promise<bigint> { this.tx.add({ kind: 'punchDkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey') }); return this.tx.readEpoch; }
  override async punchAkey(dkey: Key, akey: Key): Promise<bigint> {
    this.tx.add({ kind: 'punchAkey', oid: this.oid, dkey: keyBytes(dkey, 'dkey'), akey: keyBytes(akey, 'akey') });
    return this.tx.readEpoch;
  }
}
