/**
 * The small part of etcd that Cairn uses — keys, compare-and-set, counters, leases, prefix
 * watches and leader election — over the `etcd3` client (gRPC), with every failure an `EtcdError`.
 *
 * Reconnection is etcd3's: calls retry a few times, watchers re-subscribe from their last
 * revision after etcd restarts, and leases keep sending keepalives until etcd says the lease is
 * gone (then the lease's `lost` listeners run).
 */
import type { Etcd3, Lease as RawLease, Watcher, IKeyValue } from 'etcd3';
import { swallow, swallowed } from '../../core/log.js';
import { CairnError, type CairnErrorCode } from '../../core/errors.js';
import { prefixEnd } from '../../core/bytes.js';

/** Prefix of every key Cairn writes. */
export const ETCD_PREFIX = '/cairn/';
/** Default time to reach etcd in `Etcd.connect` (and per gRPC dial). */
export const ETCD_DIAL_TIMEOUT_MS = 5000;
/** Extra time over the dial timeout before `connect` gives up on the first answer. */
const CONNECT_GRACE_MS = 500;
/** Attempts of a compare-and-set loop (counters) before `ETCD_CONFLICT`. */
export const CAS_ATTEMPTS = 256;
/** Seconds of the lease a campaign grants itself when given none (a dead leader is replaced within this). */
export const ELECTION_TTL_S = 3;
/** Most keys in one transaction (`createAllIfAbsent`): etcd's default --max-txn-ops. */
export const MAX_TXN_KEYS = 128;
/** Longest lease TTL accepted, in seconds (etcd's own maximum is about 9e10). */
export const MAX_LEASE_TTL_S = 24 * 3600;

/**
 * etcd failed: `ETCD_UNREACHABLE` (no answer: down, refused, timed out), `ETCD_CONFLICT` (a
 * compare-and-set loop kept losing) or `ETCD_ERROR` (etcd refused the request, bad argument, client closed).
 */
export class EtcdError extends CairnError {
  constructor(code: CairnErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** A granted lease, kept alive in the background until revoked or lost. */
export interface Lease {
  /** Lease id as etcd gives it (decimal). */
  readonly id: string;
  /** Revoke it: every key attached to it is deleted now. A lease etcd no longer knows is not an error. */
  revoke(): Promise<void>;
  /** `cb` runs once when the lease is lost (etcd said it expired, or it could not be kept alive); at once if already lost. */
  on(ev: 'lost', cb: (err: EtcdError) => void): void;
}

/** Leadership won by `Etcd.campaign`. */
export interface Leadership {
  /** Give up leadership (the next campaigner is elected). Idempotent. */
  resign(): Promise<void>;
  /** `cb` runs once if the lease under the leadership is lost: this process is no longer leader. */
  on(ev: 'lost', cb: (err: EtcdError) => void): void;
}

/** One watched change. `value` is absent for deletes. */
export interface WatchEvent { type: 'put' | 'delete'; key: string; value?: Buffer; modRevision?: string }

/** A key with its value and revisions. */
export interface EtcdKv { key: string; value: Buffer; modRevision: string; createRevision: string; version: string }

const UNREACHABLE_NAMES = new Set(['GRPCUnavailableError', 'GRPCDeadlineExceededError', 'GRPCConnectFailedError', 'BrokenCircuitError', 'GRPCCancelledError']);

/** The `etcd3` client class, loaded on first connect (cached). */
let etcd3Class: typeof Etcd3 | undefined;
/**
 * Load `etcd3` (gRPC and protobufjs: about 350 ms of CPU to import) only when an etcd is
 * actually reached, so embedded pools and CLI runs that never touch etcd do not pay for it.
 */
async function loadEtcd3(): Promise<typeof Etcd3> {
  etcd3Class ??= (await import('etcd3')).Etcd3;
  return etcd3Class;
}

/** etcd's Compare enums (rpc.proto: CompareResult.EQUAL, CompareTarget.CREATE and MOD) for raw transactions. */
const CMP_EQUAL = 0 as const, CMP_TARGET_CREATE = 1 as const, CMP_TARGET_MOD = 2 as const;

/** The end of the key range of every key starting with `prefix` (etcd's "\0": every key from it on, when it is all 0xff). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = prefixEnd(prefix);
  return end ? Buffer.from(end.buffer, end.byteOffset, end.byteLength) : Buffer.from([0]);
}

/** `ETCD_ERROR` unless `modRevision` is a decimal string. */
function checkRevision(key: string, modRevision: string): void {
  if (!/^\d+$/.test(String(modRevision))) throw new EtcdError('ETCD_ERROR', `modRevision must be a decimal string, got ${modRevision}`, { key, modRevision });
}

/** Map an etcd3/gRPC failure to an `EtcdError` (unreachable vs refused). */
function wrap(err: unknown, what: string, info: Record<string, unknown> = {}): EtcdError {
  if (err instanceof EtcdError) return err;
  const name = (err as { name?: string; constructor?: { name?: string } })?.constructor?.name ?? (err as Error)?.name ?? '';
  const msg = (err as Error)?.message ?? String(err);
  const unreachable = UNREACHABLE_NAMES.has(name) || /unavailable|ECONNREFUSED|deadline exceeded|No connection established|failed to connect|circuit/i.test(msg);
  return new EtcdError(unreachable ? 'ETCD_UNREACHABLE' : 'ETCD_ERROR', `etcd ${what}: ${msg}`, { ...info, ...(name ? { error: name } : {}) }, { cause: err });
}

function kvOf(kv: IKeyValue): EtcdKv {
  return { key: kv.key.toString('utf8'), value: kv.value, modRevision: String(kv.mod_revision), createRevision: String(kv.create_revision), version: String(kv.version) };
}


/** A connection to an etcd cluster. */
export class Etcd {
  private closed = false;
  /** Rejecters of campaigns still waiting to be elected (failed by `close`). */
  private readonly waiting = new Set<(err: EtcdError) => void>();
  /** Leases kept alive by this client (released by `close`: etcd3 would keep them alive). */
  private readonly leases = new Set<LeaseImpl>();

  private constructor(private readonly client: Etcd3, /** Client URLs. */ readonly urls: string[]) {}

  /**
   * Connect to etcd at `url` (one or more `http://host:port`) and check that it answers: rejects
   * with `ETCD_UNREACHABLE` (url in `info`) after about `dialTimeoutMs` (default 5 s) otherwise.
   */
  static async connect(url: string | string[], opts: { dialTimeoutMs?: number } = {}): Promise<Etcd> {
    const urls = [url].flat();
    if (urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^https?:\/\/[^/]+/.test(u))) {
      throw new EtcdError('ETCD_UNREACHABLE', `etcd URL(s) must be http(s)://host:port, got ${JSON.stringify(url)}`, { url });
    }
    const dial = opts.dialTimeoutMs ?? ETCD_DIAL_TIMEOUT_MS;
    const client = new (await loadEtcd3())({ hosts: urls, dialTimeout: dial });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.get(ETCD_PREFIX + 'ping').options({ deadline: Date.now() + dial }).exec(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${dial} ms`)), dial + CONNECT_GRACE_MS); }),
      ]);
    } catch (err) {
      client.close();
      throw new EtcdError('ETCD_UNREACHABLE', `cannot reach etcd at ${urls.join(',')}: ${(err as Error).message}`, { url: urls.join(',') }, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    return new Etcd(client, urls);
  }

  /** The value of `key` with its revisions, or undefined when absent. */
  async get(key: string): Promise<{ value: Buffer; modRevision: string; createRevision: string; version: string } | undefined> {
    this.check(key);
    try {
      const r = await this.client.get(key).exec();
      const kv = r.kvs[0];
      return kv ? { value: kv.value, modRevision: String(kv.mod_revision), createRevision: String(kv.create_revision), version: String(kv.version) } : undefined;
    } catch (err) { throw wrap(err, 'get', { key }); }
  }

  /** The JSON value of `key`, or undefined when absent (`ETCD_ERROR` when it is not JSON). */
  async getJson<T>(key: string): Promise<T | undefined> {
    const kv = await this.get(key);
    if (!kv) return undefined;
    try { return JSON.parse(kv.value.toString('utf8')) as T; } catch { throw new EtcdError('ETCD_ERROR', `etcd key ${key} does not hold JSON`, { key }); }
  }

  /** Every key starting with `prefix`, in key order. */
  async getPrefix(prefix: string): Promise<EtcdKv[]> {
    this.check(prefix, 'prefix');
    try {
      const r = await this.client.getAll().prefix(prefix).sort('Key', 'Ascend').exec();
      return r.kvs.map(kvOf);
    } catch (err) { throw wrap(err, 'get prefix', { prefix }); }
  }

  /** Set `key` (attached to `lease` when given: deleted when the lease ends). */
  async put(key: string, value: string | Buffer, opts: { lease?: Lease } = {}): Promise<void> {
    this.check(key);
    try { await this.putOp(key, value, opts.lease).exec(); } catch (err) { throw wrap(err, 'put', { key }); }
  }

  /** `put` of `JSON.stringify(v)`. */
  putJson(key: string, v: unknown, opts: { lease?: Lease } = {}): Promise<void> { return this.put(key, JSON.stringify(v), opts); }

  /** Create only if absent; returns true when created, false when it existed. */
  async createIfAbsent(key: string, value: string | Buffer, opts: { lease?: Lease } = {}): Promise<boolean> {
    this.check(key);
    try {
      const r = await this.client.if(key, 'Create', '==', 0).then(this.putOp(key, value, opts.lease)).commit();
      return r.succeeded;
    } catch (err) { throw wrap(err, 'create', { key }); }
  }

  /**
   * Create every key of `keys` (at most MAX_TXN_KEYS) with `value` in one transaction, only if none
   * of them exists: true when all were created, false (nothing written) when any existed.
   */
  async createAllIfAbsent(keys: string[], value: string | Buffer, opts: { lease?: Lease } = {}): Promise<boolean> {
    this.check();
    if (!Array.isArray(keys) || keys.length > MAX_TXN_KEYS) throw new EtcdError('ETCD_ERROR', `createAllIfAbsent takes at most ${MAX_TXN_KEYS} keys`, { keys: Array.isArray(keys) ? keys.length : keys });
    if (keys.length === 0) return true;
    for (const k of keys) this.check(k);
    if (new Set(keys).size !== keys.length) throw new EtcdError('ETCD_ERROR', 'createAllIfAbsent keys must be distinct', { keys });
    try {
      let cmp = this.client.if(keys[0]!, 'Create', '==', 0);
      for (const k of keys.slice(1)) cmp = cmp.and(k, 'Create', '==', 0);
      const r = await cmp.then(...keys.map((k) => this.putOp(k, value, opts.lease))).commit();
      return r.succeeded;
    } catch (err) { throw wrap(err, 'create all', { keys: keys.length, first: keys[0] }); }
  }

  /** Put only if the key's modRevision is still `modRevision` ('0' = must not exist); returns success. */
  async compareAndPut(key: string, value: string | Buffer, modRevision: string): Promise<boolean> {
    return (await this.compareAndPutRevision(key, value, modRevision)) !== undefined;
  }

  /**
   * `compareAndPut` that resolves to the key's new modRevision when it wrote (undefined when the
   * comparison failed), so the writer can later tell whether the key still holds its write.
   */
  async compareAndPutRevision(key: string, value: string | Buffer, modRevision: string): Promise<string | undefined> {
    this.check(key);
    checkRevision(key, modRevision);
    try {
      const cmp = modRevision === '0' ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Mod', '==', modRevision);
      const r = await cmp.then(this.client.put(key).value(value)).commit();
      // (every write of a transaction has the transaction's revision)
      return r.succeeded ? String(r.header.revision) : undefined;
    } catch (err) { throw wrap(err, 'compare-and-put', { key }); }
  }

  /**
   * Put `value` at `key`, or delete `key` when `value` is undefined, only if the key's modRevision
   * is still `modRevision` and no key starting with `emptyPrefix` exists, both checked in the same
   * etcd transaction as the write (so nothing created under the prefix slips in between): true
   * when written. (Undoing a change that is only safe while, say, a pool holds no containers.)
   */
  async compareAndSetIfNone(key: string, value: string | Buffer | undefined, modRevision: string, emptyPrefix: string): Promise<boolean> {
    this.check(key);
    this.check(emptyPrefix, 'prefix');
    checkRevision(key, modRevision);
    if (modRevision === '0') throw new EtcdError('ETCD_ERROR', 'compareAndSetIfNone needs the modRevision of an existing key', { key });
    const k = Buffer.from(key), p = Buffer.from(emptyPrefix);
    try {
      const r = await this.client.kv.txn({
        compare: [
          { key: k, target: CMP_TARGET_MOD, result: CMP_EQUAL, mod_revision: modRevision },
          // over a range: true when no key lies in it (a key's create_revision is never 0)
          { key: p, range_end: rangeEnd(p), target: CMP_TARGET_CREATE, result: CMP_EQUAL, create_revision: 0 },
        ],
        success: [value === undefined ? { request_delete_range: { key: k } } : { request_put: { key: k, value: Buffer.from(value) } }],
      });
      return r.succeeded;
    } catch (err) { throw wrap(err, 'compare-and-set', { key, emptyPrefix }); }
  }

  /** Delete `key` (absent is fine). */
  async delete(key: string): Promise<void> {
    this.check(key);
    try { await this.client.delete().key(key).exec(); } catch (err) { throw wrap(err, 'delete', { key }); }
  }

  /** Delete every key starting with `prefix`. */
  async deletePrefix(prefix: string): Promise<void> {
    this.check(prefix, 'prefix');
    try { await this.client.delete().prefix(prefix).exec(); } catch (err) { throw wrap(err, 'delete prefix', { prefix }); }
  }

  /** Atomic counter: returns the next integer (starting at 0) stored under `key` (CAS loop; `ETCD_CONFLICT` after CAS_ATTEMPTS losses). */
  async increment(key: string): Promise<number> {
    this.check(key);
    let kv = await this.get(key);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const n = kv ? Number(kv.value.toString('utf8')) + 1 : 0;
      if (!Number.isSafeInteger(n)) throw new EtcdError('ETCD_ERROR', `counter ${key} does not hold an integer`, { key });
      let r;
      try {
        const cmp = kv ? this.client.if(key, 'Mod', '==', kv.modRevision) : this.client.if(key, 'Create', '==', 0);
        r = await cmp.then(this.client.put(key).value(String(n))).else(this.client.get(key)).commit();
      } catch (err) { throw wrap(err, 'increment', { key }); }
      if (r.succeeded) return n;
      const cur = r.responses[0]?.response_range?.kvs?.[0];
      kv = cur ? { value: cur.value, modRevision: String(cur.mod_revision), createRevision: String(cur.create_revision), version: String(cur.version) } : undefined;
    }
    throw new EtcdError('ETCD_CONFLICT', `counter ${key} kept changing (${CAS_ATTEMPTS} attempts)`, { key });
  }

  /**
   * Grant a lease with TTL seconds and keep it alive (unless `keepAlive: false`: it then simply
   * expires after its TTL); 'lost' event when it cannot be kept.
   */
  async lease(ttlSeconds: number, opts: { keepAlive?: boolean } = {}): Promise<Lease> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_LEASE_TTL_S) {
      throw new EtcdError('ETCD_ERROR', `lease TTL must be an integer in 1..${MAX_LEASE_TTL_S} s, got ${ttlSeconds}`, { ttlSeconds });
    }
    this.check();
    const raw = this.client.lease(ttlSeconds, { autoKeepAlive: opts.keepAlive !== false });
    const impl = new LeaseImpl(raw, () => this.leases.delete(impl));
    this.leases.add(impl);
    try {
      impl.id = await raw.grant();
    } catch (err) {
      impl.release();
      throw wrap(err, 'lease grant', { ttlSeconds });
    }
    return impl;
  }

  /**
   * Watch a prefix: `cb` per put/delete below it (value undefined for deletes), from now on.
   * Survives etcd restarts (etcd3 re-subscribes from the last revision seen). Returns a stop function.
   */
  async watchPrefix(prefix: string, cb: (ev: WatchEvent) => void): Promise<() => Promise<void>> {
    this.check(prefix, 'prefix');
    let w: Watcher;
    try {
      w = await this.client.watch().prefix(prefix).create();
    } catch (err) { throw wrap(err, 'watch', { prefix }); }
    w.on('put', (kv) => cb({ type: 'put', key: kv.key.toString('utf8'), value: kv.value, modRevision: String(kv.mod_revision) }));
    w.on('delete', (kv) => cb({ type: 'delete', key: kv.key.toString('utf8'), modRevision: String(kv.mod_revision) }));
    w.on('error', (err) => swallowed('etcd.watch-error-client-resubscribes', err));
    return async () => { await w.cancel().catch(swallow('etcd.watch-cancel')); };
  }

  /**
   * Leader election among processes: resolves when this process becomes leader of `name` (etcd's
   * election recipe: the candidate with the oldest key below `name/` leads; each waits for the
   * deletion of the one just before it). The candidacy lives under `lease`, or under its own lease
   * of ELECTION_TTL_S seconds when none is given, so a dead leader is replaced once its lease
   * expires. Rejects if the lease is lost or the client is closed before election.
   */
  async campaign(name: string, value: string, lease?: Lease): Promise<Leadership> {
    this.check(name, 'name');
    const own = lease === undefined;
    const l = lease ?? await this.lease(ELECTION_TTL_S);
    const pfx = name.endsWith('/') ? name : name + '/';
    const key = pfx + BigInt(l.id).toString(16);
    let resigned = false;
    const resign = async (): Promise<void> => {
      if (resigned) return;
      resigned = true;
      if (own) await l.revoke();
      else await this.delete(key);
    };
    // One 'lost' listener per campaign; `abort` fails whatever wait is current.
    let lostErr: EtcdError | undefined;
    let abort: ((err: EtcdError) => void) | undefined;
    l.on('lost', (err) => { lostErr = err; abort?.(err); });
    try {
      if (!(await this.createIfAbsent(key, value, { lease: l }))) await this.put(key, value, { lease: l });
      const mine = await this.get(key);
      if (!mine) throw new EtcdError('ETCD_ERROR', `election key ${key} vanished (lease lost?)`, { name });
      const myRev = BigInt(mine.createRevision);
      for (;;) {
        if (lostErr) throw lostErr;
        if (this.closed) throw new EtcdError('ETCD_ERROR', 'etcd client closed', { name });
        const r = await this.client.getAll().prefix(pfx).maxCreateRevision(String(myRev - 1n)).sort('Create', 'Descend').limit(1).exec();
        const pred = r.kvs[0];
        if (!pred) break;
        const w = await this.client.watch().key(pred.key.toString('utf8')).startRevision(String(BigInt(r.header.revision) + 1n)).create();
        try {
          await new Promise<void>((resolve, reject) => {
            abort = reject;
            this.waiting.add(reject);
            if (lostErr) reject(lostErr);
            w.on('delete', () => resolve());
            w.on('error', (err) => swallowed('etcd.election-watch-error-client-resubscribes', err));
          });
        } finally {
          if (abort) this.waiting.delete(abort);
          abort = undefined;
          await w.cancel().catch(swallow('etcd.election-watch-cancel'));
        }
      }
    } catch (err) {
      await resign().catch(swallow('etcd.resign-after-failed-campaign')); // the lease expires anyway
      throw wrap(err, 'campaign', { name });
    }
    return { resign, on: (ev, cb) => l.on(ev, cb) };
  }

  /** Close the connection: watchers stop, leases are no longer kept alive, waiting campaigns reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new EtcdError('ETCD_ERROR', 'etcd client closed');
    for (const f of [...this.waiting]) f(err);
    for (const l of [...this.leases]) l.release();
    this.client.close();
  }

  /** Throw `ETCD_ERROR` when closed or when `key` (if given) is not a non-empty string. */
  private check(key?: unknown, what = 'key'): void {
    if (this.closed) throw new EtcdError('ETCD_ERROR', 'etcd client closed', key === undefined ? {} : { [what]: key });
    if (arguments.length > 0 && (typeof key !== 'string' || key.length === 0)) throw new EtcdError('ETCD_ERROR', `etcd ${what} must be a non-empty string`, { [what]: key });
  }

  private putOp(key: string, value: string | Buffer, lease: Lease | undefined) {
    if (lease === undefined) return this.client.put(key).value(value);
    if (!(lease instanceof LeaseImpl)) throw new EtcdError('ETCD_ERROR', 'lease must come from Etcd.lease()', { key });
    return lease.raw.put(key).value(value);
  }
}

/** etcd3's lease behind the `Lease` interface, with `lost` remembered for late listeners. */
class LeaseImpl implements Lease {
  id = '';
  private lostErr?: EtcdError;
  private readonly listeners: Array<(err: EtcdError) => void> = [];

  constructor(readonly raw: RawLease, private readonly forget: () => void) {
    raw.on('lost', (err) => {
      if (this.lostErr) return;
      this.forget();
      this.lostErr = wrap(err, 'lease lost', { lease: this.id });
      for (const cb of this.listeners.splice(0)) cb(this.lostErr);
    });
  }

  /** Stop keepalives; the lease expires after its TTL. */
  release(): void {
    this.forget();
    this.raw.release();
  }

  async revoke(): Promise<void> {
    if (this.lostErr || this.raw.revoked()) { this.release(); return; }
    try {
      await this.raw.revoke();
      this.forget();
    } catch (err) {
      const name = (err as Error)?.constructor?.name;
      if (name === 'EtcdLeaseInvalidError' || /not found|requested lease/i.test((err as Error)?.message ?? '')) return;
      throw wrap(err, 'lease revoke', { lease: this.id });
    }
  }

  on(_ev: 'lost', cb: (err: EtcdError) => void): void {
    const e = this.lostErr;
    if (e) queueMicrotask(() => cb(e));
    else this.listeners.push(cb);
  }
}
