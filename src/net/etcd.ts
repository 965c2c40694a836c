/**
 * The small part of etcd that Cairn uses — keys, compare-and-set, leases, prefix watches and
 * leader election — over the `etcd3` client, with failures as typed `EtcdError`s.
 */
import { Etcd3, type Lease as EtcdLease, type Watcher } from 'etcd3';
import { CairnError } from '../../core/errors.js';

/** Prefix of every key Cairn writes. */
export const ETCD_PREFIX = '/cairn/';
/** Default time to reach etcd. */
export const ETCD_DIAL_TIMEOUT_MS = 5000;
/** Attempts of a compare-and-set loop (counters) before giving up. */
const CAS_ATTEMPTS = 256;
/** Seconds of the election lease (a dead leader is replaced within this). */
export const ELECTION_TTL_S = 3;

/** Codes of `EtcdError`. */
export type EtcdErrorCode = 'ETCD_UNREACHABLE' | 'ETCD_CONFLICT' | 'ETCD_ERROR';

/** etcd could not be reached or refused an operation. */
export class EtcdError extends CairnError {
  constructor(code: EtcdErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
  }
}

/** A granted lease kept alive in the background. */
export interface Lease {
  readonly id: string;
  revoke(): Promise<void>;
  on(ev: 'lost', cb: (err: unknown) => void): void;
}

/** One watched change. */
export interface WatchEvent { type: 'put' | 'delete'; key: string; value?: Buffer }

function wrap(err: unknown, what: string, info: Record<string, unknown> = {}): EtcdError {
  if (err instanceof EtcdError) return err;
  const msg = (err as Error)?.message ?? String(err);
  const unreachable = /unavailable|connect|ECONNREFUSED|deadline|No connection|failed to connect/i.test(msg) || (err as { name?: string })?.name === 'GRPCConnectFailedError';
  return new EtcdError(unreachable ? 'ETCD_UNREACHABLE' : 'ETCD_ERROR', `etcd ${what}: ${msg}`, info, { cause: err });
}

/** A connection to etcd. */
export class Etcd {
  private constructor(private readonly client: Etcd3, readonly urls: string[]) {}

  /** Connect and check that etcd answers (`ETCD_UNREACHABLE` within about `dialTimeoutMs`). */
  static async connect(url: string | string[], opts: { dialTimeoutMs?: number } = {}): Promise<Etcd> {
    const urls = [url].flat();
    if (urls.length === 0 || urls.some((u) => typeof u !== 'string' || !/^https?:\/\/.+/.test(u))) {
      throw new EtcdError('ETCD_UNREACHABLE', `etcd URL(s) must be http(s)://host:port, got ${JSON.stringify(url)}`, { url });
    }
    const dial = opts.dialTimeoutMs ?? ETCD_DIAL_TIMEOUT_MS;
    const client = new Etcd3({ hosts: urls, dialTimeout: dial });
    const e = new Etcd(client, urls);
    try {
      await Promise.race([
        client.get(ETCD_PREFIX + 'ping').string(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no answer')), dial + 500).unref()),
      ]);
    } catch (err) {
      client.close();
      throw new EtcdError('ETCD_UNREACHABLE', `cannot reach etcd at ${urls.join(',')}: ${(err as Error).message}`, { url: urls.join(',') }, { cause: err });
    }
    return e;
  }

  async get(key: string): Promise<{ value: Buffer; modRevision: string; version: string } | undefined> {
    try {
      const r = await this.client.get(key).exec();
      const kv = r.kvs[0];
      return kv ? { value: kv.value, modRevision: String(kv.mod_revision), version: String(kv.version) } : undefined;
    } catch (err) { throw wrap(err, 'get', { key }); }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const kv = await this.get(key);
    if (!kv) return undefined;
    try { return JSON.parse(kv.value.toString('utf8')) as T; } catch { throw new EtcdError('ETCD_ERROR', `etcd key ${key} does not hold JSON`, { key }); }
  }

  async getPrefix(prefix: string): Promise<Array<{ key: string; value: Buffer; modRevision: string }>> {
    try {
      const r = await this.client.getAll().prefix(prefix).exec();
      return r.kvs.map((kv) => ({ key: kv.key.toString('utf8'), value: kv.value, modRevision: String(kv.mod_revision) }));
    } catch (err) { throw wrap(err, 'get prefix', { prefix }); }
  }

  async put(key: string, value: string | Buffer, opts: { lease?: Lease } = {}): Promise<void> {
    try {
      if (opts.lease) await (opts.lease as LeaseImpl).raw.put(key).value(value).exec();
      else await this.client.put(key).value(value).exec();
    } catch (err) { throw wrap(err, 'put', { key }); }
  }

  putJson(key: string, v: unknown, opts: { lease?: Lease } = {}): Promise<void> { return this.put(key, JSON.stringify(v), opts); }

  /** Create only if absent; true when created. */
  async createIfAbsent(key: string, value: string | Buffer, opts: { lease?: Lease } = {}): Promise<boolean> {
    try {
      const put = opts.lease ? (opts.lease as LeaseImpl).raw.put(key).value(value) : this.client.put(key).value(value);
      const r = await this.client.if(key, 'Create', '==', 0).then(put).commit();
      return r.succeeded;
    } catch (err) { throw wrap(err, 'create', { key }); }
  }

  /** Put only if the key's modRevision is still `modRevision` ('0': must not exist); true on success. */
  async compareAndPut(key: string, value: string | Buffer, modRevision: string): Promise<boolean> {
    try {
      const cmp = modRevision === '0' ? this.client.if(key, 'Create', '==', 0) : this.client.if(key, 'Mod', '==', modRevision);
      const r = await cmp.then(this.client.put(key).value(value)).commit();
      return r.succeeded;
    } catch (err) { throw wrap(err, 'compare-and-put', { key }); }
  }

  async delete(key: string): Promise<void> {
    try { await this.client.delete().key(key).exec(); } catch (err) { throw wrap(err, 'delete', { key }); }
  }

  async deletePrefix(prefix: string): Promise<void> {
    try { await this.client.delete().prefix(prefix).exec(); } catch (err) { throw wrap(err, 'delete prefix', { prefix }); }
  }

  /** Next value (from 0) of the counter at `key`. */
  async increment(key: string): Promise<number> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const kv = await this.get(key);
      const n = kv ? Number(kv.value.toString()) : -1;
      if (await this.compareAndPut(key, String(n + 1), kv?.modRevision ?? '0')) return n + 1;
    }
    throw new EtcdError('ETCD_CONFLICT', `counter ${key} kept changing`, { key });
  }

  /** Grant a lease of `ttlSeconds`, kept alive until revoked or lost. */
  async lease(ttlSeconds: number): Promise<Lease> {
    const raw = this.client.lease(ttlSeconds);
    try {
      const id = await raw.grant();
      return new LeaseImpl(raw, id);
    } catch (err) { throw wrap(err, 'lease'); }
  }

  /** Watch every put/delete below `prefix`; returns a function that stops watching. */
  async watchPrefix(prefix: string, cb: (ev: WatchEvent) => void): Promise<() => Promise<void>> {
    let w: Watcher;
    try {
      w = await this.client.watch().prefix(prefix).create();
    } catch (err) { throw wrap(err, 'watch', { prefix }); }
    w.on('put', (kv) => cb({ type: 'put', key: kv.key.toString('utf8'), value: kv.value }));
    w.on('delete', (kv) => cb({ type: 'delete', key: kv.key.toString('utf8') }));
    w.on('error', () => { /* etcd3 reconnects watchers on its own */ });
    return async () => { await w.cancel().catch(() => {}); };
  }

  /**
   * Become leader of `name` among the processes campaigning for it: resolves once elected. The
   * election runs under its own lease (ELECTION_TTL_S), so a dead leader is replaced quickly.
   */
  campaign(name: string, value: string): Promise<{ resign(): Promise<void> }> {
    const c = this.client.election(name, ELECTION_TTL_S).campaign(value);
    return new Promise((resolve, reject) => {
      c.on('elected', () => resolve({ resign: () => c.resign() }));
      c.on('error', (err) => reject(wrap(err, 'campaign', { name })));
    });
  }

  async close(): Promise<void> { this.client.close(); }
}

class LeaseImpl implements Lease {
  constructor(readonly raw: EtcdLease, readonly id: string) {}
  revoke(): Promise<void> { return this.raw.revoke().catch(() => {}); }
  on(_ev: 'lost', cb: (err: unknown) => void): void { this.raw.on('lost', cb); }
}
