/**
 * ListObjects (V1 and V2) over an ordered index: seek to the first key of the page (`gte` prefix
 * or `gt` the continuation key), read at most the keys the page still needs, and skip a whole
 * common prefix by seeking just past `prefix + run + delimiter` instead of reading the keys under
 * it. The index is never scanned from its start, and a page reads O(MaxKeys) keys plus one seek
 * per common prefix.
 */
import type { KeyRange } from '../index.js';
import { prefixEnd } from '../../core/bytes.js';

/** What the listing reads from: ascending keys of a range (a KV / object dkey listing). */
export type KeyScan = (range: KeyRange) => AsyncIterable<Uint8Array>;

/** One page request. Keys are bytes (S3 keys are UTF-8). */
export interface ListParams {
  prefix: Uint8Array;
  delimiter?: Uint8Array;
  /** Keys plus common prefixes in the page (S3's MaxKeys, at most 1000). */
  maxKeys: number;
  /** Resume after this key, or after every key under this common prefix. */
  after?: { key: Uint8Array; isPrefix: boolean };
}

/** One page. */
export interface ListPage {
  keys: Uint8Array[];
  prefixes: Uint8Array[];
  truncated: boolean;
  /** The last entry of the page (where the next page resumes). */
  last?: { key: Uint8Array; isPrefix: boolean };
  /** Range seeks the page made (one per scan started): a measure that the listing does not scan. */
  seeks: number;
}

/** The smallest byte string greater than every string starting with `p` (core/bytes; undefined: none). */
export { prefixEnd };

function startsWith(k: Uint8Array, p: Uint8Array): boolean {
  if (k.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (k[i] !== p[i]) return false;
  return true;
}

function indexOfFrom(k: Uint8Array, d: Uint8Array, from: number): number {
  outer: for (let i = from; i + d.length <= k.length; i++) {
    for (let j = 0; j < d.length; j++) if (k[i + j] !== d[j]) continue outer;
    return i;
  }
  return -1;
}

function cmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The common prefix `k` rolls up into under (prefix, delimiter), or undefined. */
export function commonPrefixOf(k: Uint8Array, prefix: Uint8Array, delimiter?: Uint8Array): Uint8Array | undefined {
  if (!delimiter || delimiter.length === 0) return undefined;
  const i = indexOfFrom(k, delimiter, prefix.length);
  return i < 0 ? undefined : k.slice(0, i + delimiter.length);
}

/** List one page of keys and common prefixes in key order. */
export async function listPage(scan: KeyScan, p: ListParams): Promise<ListPage> {
  const page: ListPage = { keys: [], prefixes: [], truncated: false, seeks: 0 };
  if (p.maxKeys <= 0) return page;
  // Lower bound: the prefix itself, or past the resume point when that is further on.
  let lo: { key: Uint8Array; inclusive: boolean } = { key: p.prefix, inclusive: true };
  if (p.after) {
    const cand = p.after.isPrefix ? prefixEnd(p.after.key) : p.after.key;
    if (!cand) return page;
    const c = cmp(cand, lo.key);
    if (c > 0 || (c === 0 && !p.after.isPrefix)) lo = { key: cand, inclusive: p.after.isPrefix };
  }
  const hi = p.prefix.length ? prefixEnd(p.prefix) : undefined;
  let count = 0;
  for (;;) {
    const range: KeyRange = { limit: p.maxKeys - count + 1 };
    if (lo.key.length > 0 || !lo.inclusive) { if (lo.inclusive) range.gte = lo.key; else range.gt = lo.key; }
    if (hi) range.lt = hi;
    page.seeks++;
    let reseek = false;
    for await (const k of scan(range)) {
      if (!startsWith(k, p.prefix)) continue; // the range ends at prefixEnd; defensive only
      const cp = commonPrefixOf(k, p.prefix, p.delimiter);
      if (count === p.maxKeys) { page.truncated = true; return page; }
      count++;
      if (cp) {
        page.prefixes.push(cp);
        page.last = { key: cp, isPrefix: true };
        const next = prefixEnd(cp);
        if (!next) return page;
        lo = { key: next, inclusive: true };
        reseek = true;
        break; // seek past every key under the common prefix
      }
      page.keys.push(k);
      page.last = { key: k, isPrefix: false };
      lo = { key: k, inclusive: false };
    }
    if (!reseek) return page;
  }
}

/** Opaque continuation token of ListObjectsV2: where the next page resumes. */
export function encodeToken(last: { key: Uint8Array; isPrefix: boolean }): string {
  return Buffer.concat([Buffer.from([last.isPrefix ? 2 : 1]), Buffer.from(last.key)]).toString('base64url');
}

/** Decode a continuation token; undefined when it is not one of ours. */
export function decodeToken(token: string): { key: Uint8Array; isPrefix: boolean } | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const b = Buffer.from(token, 'base64url');
  if (b.length < 2 || (b[0] !== 1 && b[0] !== 2)) return undefined;
  return { key: new Uint8Array(b.subarray(1)), isPrefix: b[0] === 2 };
}
