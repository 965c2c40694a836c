/**
 * The public `Container`: the container core (src/container) plus the factories of its handles —
 * objects, KV objects, arrays and transactions. Handles reach the core through its internal port,
 * so the core has no public methods that only handles may call, and the container layer never
 * imports the handles.
 *
 * This is also where the public surface is guarded: every argument is validated here before the
 * core sees it (`INVALID_ARGUMENT`, never a raw TypeError), snapshots and commit events come back
 * JSON-safe (`toJSON`), and `await using` closes the handle (`Symbol.asyncDispose`).
 */
import './dispose.js';
import { ContainerCore, containerPort, type CommitEvent, type ContainerPort, type ReadOptions, type Snapshot } from '../container/container.js';
import { CairnObject, type ObjectOptions } from './object.js';
import { KeyValue } from './kv.js';
import { ARRAY_OPTION_NAMES, ArrayObject, type ArrayOptions } from './array.js';
import { Transaction } from './transaction.js';
import { badArg } from '../io/errors.js';
import { NO_OPTIONS, describeValue, epochArg, knownOptionsArg, objectOptionsArg, optionsArg, readOptionsArg, signalOptions, snapshotArg } from './args.js';
import { jsonSafeEvent, jsonSafeSnapshot } from './json.js';

/** The option names of `watch`. */
const WATCH_OPTION_NAMES: readonly string[] = ['from', 'signal'];

/**
 * A container handle. Obtain one from `pool.createContainer` / `pool.openContainer`; close it
 * with `close()` or let `await using` do it.
 */
export class Container extends ContainerCore {
  /** This container's port, found once (`containerPort` is a WeakMap lookup; handles are made per I/O). */
  #port: ContainerPort | undefined;

  /** An object handle by object id or by name (names hash to ids); `oclass` defaults to the container's. */
  object(oidOrName: bigint | string, opts: ObjectOptions = NO_OPTIONS): CairnObject {
    return this.#object(oidOrName, opts, 'object options', undefined);
  }

  /** A key-value object: put/get/remove/list on string or byte keys. */
  kv(name: string | bigint, opts: ObjectOptions = NO_OPTIONS): KeyValue {
    return new KeyValue(this.#object(name, opts, 'kv options', undefined));
  }

  /**
   * A byte array object with chunked layout, for values larger than memory. Its options are an
   * object's (`oclass`) and the array's (`cellSize`, `chunkSize`); any other name is refused.
   */
  array(name: string | bigint, opts: ArrayOptions & ObjectOptions = NO_OPTIONS): ArrayObject {
    const object = this.#object(name, opts, 'array options', ARRAY_OPTION_NAMES);
    return new ArrayObject(object, opts);
  }

  /** The object handle of `object`/`kv`/`array`: `opts` checked as `what`, against `known` names (default: an object's). */
  #object(oidOrName: bigint | string, opts: ObjectOptions, what: string, known: readonly string[] | undefined): CairnObject {
    const port = this.#port ??= containerPort(this);
    port.checkOpen();
    const o = objectOptionsArg(opts, what, known);
    return new CairnObject(port, port.resolveOid(oidOrName, o.oclass), o);
  }

  /** Start a transaction; its reads see the container at the current stable epoch plus its own writes. */
  beginTx(): Transaction {
    return new Transaction(containerPort(this));
  }

  /**
   * The epoch reads with `opts` see: `opts.epoch` (a bigint in [0, 2^64-1]), the epoch of snapshot
   * `opts.snapshot`, or the stable epoch.
   */
  override readEpoch(opts: ReadOptions = NO_OPTIONS): bigint {
    return super.readEpoch(readOptionsArg(opts));
  }

  /**
   * Take a snapshot of the current stable state; returns `{ name, epoch }` (JSON-safe: the epoch
   * serialises as a decimal string).
   */
  override async snapshot(name?: string, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<Snapshot> {
    if (name !== undefined && (typeof name !== 'string' || name.length === 0 || name.length > 255)) throw badArg(`snapshot name must be 1..255 characters, got ${describeValue(name)}`);
    return jsonSafeSnapshot(await super.snapshot(name, signalOptions(opts, 'snapshot options')));
  }

  /** Every snapshot, oldest first (JSON-safe). */
  override listSnapshots(): Snapshot[] {
    return super.listSnapshots().map(jsonSafeSnapshot);
  }

  /** Forget a snapshot, named or given as `{ name, epoch }` (its versions become reclaimable by `aggregate`). */
  override async destroySnapshot(snapshot: string | Snapshot): Promise<void> {
    return super.destroySnapshot(snapshotArg(snapshot));
  }

  /**
   * Return the container to a snapshot (named or `{ name, epoch }`): everything committed after
   * it is discarded on every target (later snapshots are dropped too).
   */
  override async rollback(snapshot: string | Snapshot, opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<void> {
    return super.rollback(snapshotArg(snapshot), signalOptions(opts, 'rollback options'));
  }

  /** Reclaim space: merge versions that neither the current state, a snapshot nor an open transaction can see. */
  override async aggregate(opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<void> {
    return super.aggregate(signalOptions(opts, 'aggregate options'));
  }

  /**
   * Committed epochs after `from` (a bigint epoch; default: now), in order, with the objects each
   * touched; waits for new commits. Events are JSON-safe. Arguments are checked at the call.
   */
  override watch(opts: { from?: bigint; signal?: AbortSignal } = NO_OPTIONS): AsyncGenerator<CommitEvent> {
    (this.#port ??= containerPort(this)).checkOpen(); // (a closed handle: POOL_CLOSED, not a watch that ends at once)
    const o = optionsArg<{ from?: bigint; signal?: AbortSignal }>(opts, 'watch options');
    knownOptionsArg(o, WATCH_OPTION_NAMES, 'watch options');
    const checked = { ...signalOptions({ signal: o.signal }, 'watch options'), ...(o.from !== undefined ? { from: epochArg(o.from, 'watch options.from') } : {}) };
    const inner = super.watch(checked);
    return (async function* () {
      for await (const ev of inner) yield jsonSafeEvent(ev);
    })();
  }

  /** Every object id this container has written (see the core); `signal` cancels. */
  override listObjects(opts: { signal?: AbortSignal } = NO_OPTIONS): AsyncGenerator<bigint> {
    return super.listObjects(signalOptions(opts, 'listing options'));
  }

  /** How many objects `listObjects()` yields. */
  override async countObjects(opts: { signal?: AbortSignal } = NO_OPTIONS): Promise<number> {
    return super.countObjects(signalOptions(opts, 'count options'));
  }

  /** Close the handle (also what `await using` calls). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
