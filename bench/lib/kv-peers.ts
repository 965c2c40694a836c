/**
 * The small-I/O peers users would pick instead of Cairn for 100-byte values: lmdb-js (3.x) and
 * classic-level (3.x, LevelDB), behind one tiny interface so the `io` and `scale` suites drive
 * them exactly like Cairn (same keys, same values, same number in flight). Values are stored as
 * raw bytes (`encoding: 'binary'` / `valueEncoding: 'view'`), keys as UTF-8 strings.
 *
 * Defaults are the packages' own: lmdb-js commits are synced (overlappingSync on Linux) and batch
 * every async put of one event turn into one transaction; classic-level puts are not synced
 * (`sync: true` per put is the durable variant).
 */
import { open as lmdbOpen, type RootDatabase } from 'lmdb';
import { ClassicLevel } from 'classic-level';

/** Which peer. */
export type PeerKind = 'lmdb' | 'level';
/** Display names used in row names. */
export const PEER_LABEL: Record<PeerKind, string> = { lmdb: 'lmdb-js', level: 'classic-level' };

/** A key-value peer store. */
export interface PeerStore {
  readonly kind: PeerKind;
  put(key: string, value: Uint8Array): Promise<unknown>;
  /** lmdb-js reads synchronously; classic-level returns a promise. */
  get(key: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Extra named namespaces (lmdb: named databases in the same environment; level: sublevels). */
  namespace(name: string): { put(key: string, value: Uint8Array): Promise<unknown> };
  close(): Promise<void>;
}

/** Options of `openPeer`. */
export interface PeerOptions {
  /** classic-level only: `sync: true` on every put (durable). Default false (the package default). */
  sync?: boolean;
}

/** Open (or create) the peer store in directory `dir`. */
export async function openPeer(kind: PeerKind, dir: string, opts: PeerOptions = {}): Promise<PeerStore> {
  if (kind === 'lmdb') {
    const db: RootDatabase<Uint8Array, string> = lmdbOpen<Uint8Array, string>({ path: dir, encoding: 'binary', maxDbs: 64 });
    return {
      kind,
      put: (k, v) => db.put(k, v),
      get: (k) => db.get(k),
      namespace: (name) => { const sub = db.openDB<Uint8Array, string>({ name, encoding: 'binary' }); return { put: (k, v) => sub.put(k, v) }; },
      close: () => db.close(),
    };
  }
  const db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' });
  await db.open();
  const putOpts = { sync: opts.sync === true };
  return {
    kind,
    put: (k, v) => db.put(k, v, putOpts),
    get: (k) => db.get(k),
    namespace: (name) => { const sub = db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' }); return { put: (k, v) => sub.put(k, v) }; },
    close: () => db.close(),
  };
}
