/**
 * The KV API: a flat map of keys to values stored in one object, each key a dkey holding a single
 * value under a fixed akey (as DAOS's KV objects do).
 */
import type { CairnObject, Key } from './object.js';
import type { ReadOptions } from '../container/container.js';
import { toText } from '../common/bytes.js';

const VALUE_AKEY = new Uint8Array([0x76]); // "v"

/** A key-value object. Keys and values may be strings (UTF-8) or bytes. */
export class KeyValue {
  /** @internal */
  constructor(readonly object: CairnObject) {}

  /** Store `value` under `key` (replaces any previous value). Resolves to the commit epoch. */
  put(key: Key, value: Uint8Array | string, opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    return this.object.update(key, VALUE_AKEY, value, opts);
  }

  /** The value under `key`, or undefined. */
  get(key: Key, opts: ReadOptions = {}): Promise<Uint8Array | undefined> {
    return this.object.fetch(key, VALUE_AKEY, opts);
  }

  /** The value under `key` decoded as UTF-8, or undefined. */
  async getString(key: Key, opts: ReadOptions = {}): Promise<string | undefined> {
    const v = await this.get(key, opts);
    return v === undefined ? undefined : toText(v);
  }

  /** Remove `key`. */
  remove(key: Key, opts: { signal?: AbortSignal } = {}): Promise<bigint> {
    return this.object.punchDkey(key, opts);
  }

  /** Every key (bytes, ascending). */
  list(opts: ReadOptions = {}): AsyncGenerator<Uint8Array> {
    return this.object.listDkeys(opts);
  }
}
