/**
 * Sorted runs: the persistent part of a target's index (an LSM tree's tables), written once into
 * pmem chunks and read in place through the mapping, never replayed.
 *
 * A run is a sequence of checksummed blocks inside chunks it owns (a block never spans chunks):
 *   data blocks   (~4 KiB)  entries `[klen u16][vlen u32][key][value]`, ascending keys;
 *   index blocks  (~4 KiB)  one entry per data block: first key, offset, length, checksum;
 *   bloom blocks  (4 KiB of bits) a blocked bloom filter over the lookup prefixes of the run.
 * The run's descriptor (`RunMeta`, kept in the manifest) lists its chunks, its index blocks (first
 * key, offset, length, checksum) and its bloom blocks, so a lookup is: bloom probe, binary search
 * of the index-block list (in memory), of one index block and of one data block.
 *
 * Block layout: `[magic u32][kind u8][version u8][0 u16][count u32][len u32] body
 * [offsets u32 x count][xxh64 u64 of bytes 0..len-8]`. A parent (the index, or the descriptor)
 * also records each child's checksum, so a stale or misplaced block is caught as well as a
 * flipped bit. A block that fails is reported as `CORRUPTED` naming the key range it covers:
 * callers never read a damaged block as "absent".
 */
import { VosError } from './errors.js';
import { XXH32_JS_MAX_BYTES, xxh32, xxh32jsPair, xxh64 } from '../../core/xxhash.js';
import { assert } from '../../core/errors.js';
import { CSUM_SEED } from './constants.js';
import { keyShape, STAMP_BYTES } from './keys.js';
import { RunFences, RUN_FENCE_MAX_BLOCKS, RUN_FENCE_MAX_INDEX_BLOCKS } from './run-fences.js';
import { nativeAddon } from '../media/io-uring.js';

/** Magic of every run block ("VRBK" little-endian). */
export const BLOCK_MAGIC = 0x4b425256;
export const BLOCK_VERSION = 1;
export const BLOCK_HEADER = 16;
export const BLOCK_TRAILER = 8;
/** Kinds of blocks. */
export const enum BlockKind { Data = 1, Index = 2, Bloom = 3 }
/** Target size of data and index blocks (a block holds at least one entry, so it may be larger). */
export const TARGET_BLOCK_BYTES = 4096;
/** Bits of one bloom block. */
export const BLOOM_BLOCK_BITS = 4096 * 8;
/** Bloom bits per key (about 1% false positives with 6 probes). */
export const BLOOM_BITS_PER_KEY = 10;
export const BLOOM_PROBES = 6;
const BLOOM_SEED_1 = 0x9747b28c;
const BLOOM_SEED_2 = 0x5bd1e995;
/** Index blocks decoded and kept per run (LRU). */
export const INDEX_CACHE_BLOCKS = 64;

/** Where a block lives and what it must hash to. */
export interface BlockRef { off: number; len: number; csum: bigint }

/** The persistent descriptor of a run (JSON-safe in the manifest via `runMetaToJson`). */
export interface RunMeta {
  id: number;
  /** Size tier (compaction policy). */
  level: number;
  entries: number;
  /** Bytes of all its blocks. */
  bytes: number;
  minSeq: number;
  maxSeq: number;
  /** Chunks the run owns (freed together when the run is dropped). */
  chunks: number[];
  /** Index blocks with the first key of the first data block each covers. */
  index: Array<{ first: Uint8Array; ref: BlockRef }>;
  bloom: BlockRef[];
  first: Uint8Array;
  last: Uint8Array;
  /** Punch entries in the run (undefined for runs written before it was counted: probe as if some). */
  punches?: number;
  /**
   * The highest epoch of the run's data entries (versions and punches); undefined for a run written
   * before it was kept, or holding none. An array read skips a run whose every entry is older than
   * a newer extent it already holds that covers the records asked for (`visibleArray`'s `cover`).
   */
  maxEpoch?: bigint;
}

/** JSON form of a run descriptor. */
export interface RunMetaJson {
  id: number; level: number; entries: number; bytes: number; minSeq: number; maxSeq: number; chunks: number[];
  index: Array<[string, number, number, string]>;
  bloom: Array<[number, number, string]>;
  first: string; last: string;
  punches?: number;
  /** `RunMeta.maxEpoch`, hex. */
  maxEpoch?: string;
}

const U64_MAX = (1n << 64n) - 1n;
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

export function runMetaToJson(m: RunMeta): RunMetaJson {
  return {
    id: m.id, level: m.level, entries: m.entries, bytes: m.bytes, minSeq: m.minSeq, maxSeq: m.maxSeq, chunks: m.chunks,
    index: m.index.map((x) => [hex(x.first), x.ref.off, x.ref.len, x.ref.csum.toString(16)]),
    bloom: m.bloom.map((r) => [r.off, r.len, r.csum.toString(16)]),
    first: hex(m.first), last: hex(m.last), ...(m.punches !== undefined ? { punches: m.punches } : {}),
    ...(m.maxEpoch !== undefined ? { maxEpoch: m.maxEpoch.toString(16) } : {}),
  };
}

export function runMetaFromJson(j: RunMetaJson): RunMeta {
  return {
    id: j.id, level: j.level, entries: j.entries, bytes: j.bytes, minSeq: j.minSeq, maxSeq: j.maxSeq, chunks: j.chunks,
    index: j.index.map(([k, off, len, c]) => ({ first: unhex(k), ref: { off, len, csum: BigInt('0x' + c) } })),
    bloom: j.bloom.map(([off, len, c]) => ({ off, len, csum: BigInt('0x' + c) })),
    first: unhex(j.first), last: unhex(j.last), ...(typeof j.punches === 'number' ? { punches: j.punches } : {}),
    ...(typeof j.maxEpoch === 'string' && /^[0-9a-f]{1,16}$/.test(j.maxEpoch) ? { maxEpoch: BigInt('0x' + j.maxEpoch) } : {}),
  };
}

/** The two 32-bit hashes of a bloom key, computed once per lookup and probed in every run. */
export interface BloomProbe { h1: number; h2: number }

/**
 * No bloom probes, as an array of the same kind as one that holds probes: an empty literal is an
 * array of small integers to V8, and `RunWriter.add` called with both kinds was compiled again
 * (a "wrong map" deoptimisation) in every thread that flushes or merges.
 */
export const NO_PROBES: readonly BloomProbe[] = (() => { const a: BloomProbe[] = [{ h1: 0, h2: 0 }]; a.pop(); return a; })();

/** Hash a lookup prefix for the bloom filters. */
export function bloomProbe(key: Uint8Array): BloomProbe {
  if (key.length <= XXH32_JS_MAX_BYTES) return bloomProbePrefix(key, key.length);
  return { h1: xxh32(key, BLOOM_SEED_1), h2: xxh32(key, BLOOM_SEED_2) };
}

/** `bloomProbe` of the first `n` bytes of `buf` (a key prefix, no view made; keys up to 64 bytes). */
export function bloomProbePrefix(buf: Uint8Array, n: number): BloomProbe {
  if (n > XXH32_JS_MAX_BYTES) return bloomProbe(buf.subarray(0, n));
  const p: BloomProbe = { h1: 0, h2: 0 };
  xxh32jsPair(buf, n, BLOOM_SEED_1, BLOOM_SEED_2, p);
  return p;
}

/** `bloomProbePrefix` into a caller's reusable probe (a point lookup makes none per get). */
export function bloomProbeInto(buf: Uint8Array, n: number, out: BloomProbe): BloomProbe {
  if (n > XXH32_JS_MAX_BYTES) { const p = bloomProbe(buf.subarray(0, n)); out.h1 = p.h1; out.h2 = p.h2; return out; }
  xxh32jsPair(buf, n, BLOOM_SEED_1, BLOOM_SEED_2, out);
  return out;
}

function bloomBits(p: BloomProbe, visit: (bit: number) => boolean): boolean {
  let x = p.h2 >>> 0;
  const delta = ((p.h2 >>> 17) | (p.h2 << 15)) >>> 0;
  for (let i = 0; i < BLOOM_PROBES; i++) {
    if (!visit(x & (BLOOM_BLOCK_BITS - 1))) return false;
    x = (x + delta) >>> 0;
  }
  return true;
}

/** Set a key's bits in its bloom block: the bits `bloomBits` visits, with no probe object or callback (a run sets one per key). */
function setBloomBits(block: Uint8Array, h2: number): void {
  let x = h2 >>> 0;
  const delta = ((h2 >>> 17) | (h2 << 15)) >>> 0;
  for (let i = 0; i < BLOOM_PROBES; i++) {
    const bit = x & (BLOOM_BLOCK_BITS - 1);
    block[bit >>> 3]! |= 1 << (bit & 7);
    x = (x + delta) >>> 0;
  }
}

// ---------------------------------------------------------------------------------------- blocks

/** Builds one block in a reusable buffer. */
class BlockBuilder {
  private buf = new Uint8Array(2 * TARGET_BLOCK_BYTES);
  private dv = new DataView(this.buf.buffer);
  private offsets: number[] = [];
  private at = BLOCK_HEADER;
  firstKey: Uint8Array | undefined;

  get count(): number { return this.offsets.length; }
  /** Bytes the block would take with one more entry of `n` bytes. */
  sizeWith(n: number): number { return this.at + n + 4 * (this.offsets.length + 1) + BLOCK_TRAILER; }

  private ensure(n: number): void {
    if (n <= this.buf.length) return;
    let size = this.buf.length;
    while (size < n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.at));
    this.buf = b;
    this.dv = new DataView(b.buffer);
  }

  /** Append `[klen u16][vlen u32][key][value]`. */
  addEntry(key: Uint8Array, value: Uint8Array): void {
    const n = 6 + key.length + value.length;
    this.ensure(this.sizeWith(n));
    if (this.offsets.length === 0) this.firstKey = key.slice();
    this.offsets.push(this.at);
    this.dv.setUint16(this.at, key.length, true);
    this.dv.setUint32(this.at + 2, value.length, true);
    this.buf.set(key, this.at + 6);
    this.buf.set(value, this.at + 6 + key.length);
    this.at += n;
  }

  /** Raw body bytes (bloom blocks). */
  setBody(body: Uint8Array): void {
    this.ensure(BLOCK_HEADER + body.length + BLOCK_TRAILER);
    this.buf.set(body, BLOCK_HEADER);
    this.at = BLOCK_HEADER + body.length;
  }

  /** Seal the block: returns its bytes (a view of the builder's buffer) and checksum. */
  seal(kind: BlockKind): { bytes: Uint8Array; csum: bigint } {
    const len = this.at + 4 * this.offsets.length + BLOCK_TRAILER;
    this.ensure(len);
    const dv = this.dv;
    dv.setUint32(0, BLOCK_MAGIC, true);
    dv.setUint8(4, kind);
    dv.setUint8(5, BLOCK_VERSION);
    dv.setUint16(6, 0, true);
    dv.setUint32(8, this.offsets.length, true);
    dv.setUint32(12, len, true);
    let p = this.at;
    for (const o of this.offsets) { dv.setUint32(p, o, true); p += 4; }
    const csum = xxh64(this.buf.subarray(0, len - BLOCK_TRAILER), CSUM_SEED);
    dv.setBigUint64(len - BLOCK_TRAILER, csum, true);
    return { bytes: this.buf.subarray(0, len), csum };
  }

  reset(): void { this.offsets = []; this.at = BLOCK_HEADER; this.firstKey = undefined; }
}

/** The big-endian u32 of `b[at, at+4)` with bytes past `avail` (how many of them belong to the key, may be <= 0) read as zero. */
export function window32(b: Uint8Array, at: number, avail: number): number {
  if (avail >= 4) return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  let v = 0;
  for (let j = 0; j < 4; j++) v = (v * 256) + (j < avail ? b[at + j]! : 0);
  return v;
}

/** A verified block's entries, read in place. */
export class BlockView {
  readonly count: number;
  /** A view of `bytes` (entries are read in place with it). */
  readonly dv: DataView;
  private readonly offTable: number;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.count = this.dv.getUint32(8, true);
    this.offTable = bytes.length - BLOCK_TRAILER - 4 * this.count;
  }
  private entryAt(i: number): number { return this.dv.getUint32(this.offTable + 4 * i, true); }
  key(i: number): Uint8Array {
    const o = this.entryAt(i);
    const kl = this.dv.getUint16(o, true);
    return this.bytes.subarray(o + 6, o + 6 + kl);
  }
  value(i: number): Uint8Array {
    const o = this.entryAt(i);
    const kl = this.dv.getUint16(o, true);
    const vl = this.dv.getUint32(o + 2, true);
    return this.bytes.subarray(o + 6 + kl, o + 6 + kl + vl);
  }
  /**
   * Key i against the first `klen` bytes of `k` in byte order (< 0, 0, > 0), compared in place
   * (no view made: seeks compare a few per block).
   */
  compareAt(i: number, k: Uint8Array, klen = k.length): number {
    const o = this.entryAt(i);
    const kl = this.dv.getUint16(o, true);
    const b = this.bytes; const at = o + 6;
    const n = kl < klen ? kl : klen;
    for (let j = 0; j < n; j++) { const d = b[at + j]! - k[j]!; if (d !== 0) return d; }
    return kl - klen;
  }
  /** Bytes every key of the block starts with (its first and last keys' common prefix: keys are sorted), -1 until computed. */
  private shared = -1;
  private sharedPrefix(): number {
    if (this.shared >= 0) return this.shared;
    const a = this.entryAt(0), b = this.entryAt(this.count - 1);
    const al = this.dv.getUint16(a, true), bl = this.dv.getUint16(b, true);
    const max = al < bl ? al : bl, x = this.bytes;
    let n = 0;
    while (n < max && x[a + 6 + n] === x[b + 6 + n]) n++;
    return this.shared = n;
  }
  /**
   * Where the first `klen` bytes of `k` fall against the block's shared key prefix: -1 before
   * every key, 1 after every key, 0 when k starts with it (then keys differ from k only after it).
   */
  private againstShared(k: Uint8Array, klen: number): number {
    const cp = this.sharedPrefix(), at = this.entryAt(0) + 6, x = this.bytes;
    const n = cp < klen ? cp : klen;
    for (let j = 0; j < n; j++) { const d = k[j]! - x[at + j]!; if (d !== 0) return d < 0 ? -1 : 1; }
    return klen < cp ? -1 : 0; // a proper prefix of the shared prefix sorts before every key
  }
  /** Key i against the first `klen` bytes of `k`, both known to agree on their first `from` bytes. */
  private compareFrom(i: number, k: Uint8Array, klen: number, from: number): number {
    const o = this.entryAt(i);
    const kl = this.dv.getUint16(o, true);
    const b = this.bytes; const at = o + 6;
    const n = kl < klen ? kl : klen;
    for (let j = from; j < n; j++) { const d = b[at + j]! - k[j]!; if (d !== 0) return d; }
    return kl - klen;
  }
  /**
   * Each key's 8 bytes after the shared prefix (zero-padded past its end) as two big-endian u32s,
   * side by side in one small array, built when the block is first searched (it stays with the
   * cached view). Two padded windows that differ order their keys exactly (a key that ends first
   * pads with zeros, and a key ordered before every key it prefixes); equal ones need the bytes.
   * A search reads this dense array instead of chasing each probed key through the block: fewer
   * cache lines per probe.
   */
  private windows: Uint32Array | undefined;
  private buildWindows(cp: number): Uint32Array {
    const w = new Uint32Array(2 * this.count);
    for (let i = 0; i < this.count; i++) {
      const o = this.entryAt(i);
      const at = o + 6, kl = this.dv.getUint16(o, true);
      w[2 * i] = window32(this.bytes, at + cp, kl - cp);
      w[2 * i + 1] = window32(this.bytes, at + cp + 4, kl - cp - 4);
    }
    return this.windows = w;
  }
  /** Key m against the first `klen` bytes of `k`, whose window after the shared prefix `cp` is (kh, kl). */
  private probe(m: number, k: Uint8Array, klen: number, cp: number, kh: number, kl: number): number {
    const w = this.windows!;
    const eh = w[2 * m]!;
    if (eh !== kh) return eh < kh ? -1 : 1;
    const el = w[2 * m + 1]!;
    if (el !== kl) return el < kl ? -1 : 1;
    return this.compareFrom(m, k, klen, cp);
  }
  /**
   * First index with key >= the first `klen` bytes of k (count when none). The block's shared key
   * prefix is compared once, then each probe compares the next 8 bytes from a dense array of key
   * windows and the rest of the bytes only when those are equal (keys of one block share their
   * container, section and often most of the unit oid).
   */
  lowerBound(k: Uint8Array, klen = k.length): number { return this.bound(k, klen, 0); }
  /** First index with key > the first `klen` bytes of k (count when none): `lowerBound`'s twin for index blocks. */
  upperBound(k: Uint8Array, klen = k.length): number { return this.bound(k, klen, 1); }
  /** First index whose key compares >= `past` against k's first `klen` bytes (0: lowerBound, 1: upperBound). */
  private bound(k: Uint8Array, klen: number, past: 0 | 1): number {
    if (this.count === 0) return 0;
    const side = this.againstShared(k, klen);
    if (side !== 0) return side < 0 ? 0 : this.count;
    const cp = this.shared;
    if (this.windows === undefined) this.buildWindows(cp);
    const kh = window32(k, cp, klen - cp), kl = window32(k, cp + 4, klen - cp - 4);
    let lo = 0, hi = this.count;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.probe(m, k, klen, cp, kh, kl) < past) lo = m + 1; else hi = m; }
    return lo;
  }
  /**
   * `lowerBound` for a key known to sort at or after the block's first key and to share its first
   * `lcp` bytes with it (a fence seek's answer): once the block has been searched (its shared prefix
   * and key windows are kept), the block's first key is not read again. A key sharing fewer bytes
   * with the first key than every key of the block shares with it sorts after all of them.
   */
  lowerBoundAfter(k: Uint8Array, klen: number, lcp: number): number {
    const w = this.windows;
    if (w === undefined || this.count === 0) return this.bound(k, klen, 0);
    const cp = this.shared;
    if (lcp < cp) return this.count;
    const kh = window32(k, cp, klen - cp), kl = window32(k, cp + 4, klen - cp - 4);
    let lo = 0, hi = this.count;
    while (lo < hi) { const m = (lo + hi) >> 1; if (this.probe(m, k, klen, cp, kh, kl) < 0) lo = m + 1; else hi = m; }
    return lo;
  }
  /** Whether key i starts with the first `n` bytes of `k` (in place). */
  keyStartsWith(i: number, k: Uint8Array, n: number): boolean {
    const o = this.entryAt(i);
    if (this.dv.getUint16(o, true) < n) return false;
    const b = this.bytes; const at = o + 6;
    for (let j = n - 1; j >= 0; j--) if (b[at + j] !== k[j]) return false;
    return true;
  }
  /** Offset in `bytes` of key i's first byte (its length is `keyLength(i)`; the value follows it). */
  keyOffset(i: number): number { return this.entryAt(i) + 6; }
  /** Length of key i. */
  keyLength(i: number): number { return this.dv.getUint16(this.entryAt(i), true); }
  /** Length of value i (it starts right after key i). */
  valueLength(i: number): number { return this.dv.getUint32(this.entryAt(i) + 2, true); }
  /** Check that every entry lies inside the body (after the checksum passed, a bug guard). */
  wellFormed(): boolean {
    if (this.offTable < BLOCK_HEADER) return false;
    for (let i = 0; i < this.count; i++) {
      const o = this.entryAt(i);
      if (o < BLOCK_HEADER || o + 6 > this.offTable) return false;
      const end = o + 6 + this.dv.getUint16(o, true) + this.dv.getUint32(o + 2, true);
      if (end > this.offTable) return false;
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------- writer

/**
 * What runs are read from and written to: the target's pmem file (`PmemSpace`), or a plain file
 * descriptor of it in a merge worker (`merge-worker.ts`). Whole blocks, copied.
 */
export interface RunSpace {
  pread(off: number, len: number): Uint8Array;
  /** `pread` into `out` (`[off, off + out.length)`), where the space can: a reused buffer has no fresh pages to fault in. */
  preadInto?(off: number, out: Uint8Array): void;
  pwrite(off: number, data: Uint8Array): void;
}

/** Where a run writer gets space. */
export interface ChunkSource {
  /** A free chunk's offset (grows the file when needed); throws NO_SPACE. */
  allocChunk(): number;
  readonly chunkBytes: number;
}


/** Bloom probe words a run writer starts with room for (it doubles them as entries come). */
const BLOOM_H_START = 1024;
/** A finished writer's probe words. */
const NO_PROBE_HASHES = new Int32Array(0);

/**
 * Chunk buffers run writers of this thread finished with, all zeros again, at most
 * SPARE_CHUNK_BUFS: a writer takes one instead of a new one. A new 1 MiB buffer per run written
 * (every flush on the flush worker) is a zero fill and 256 page faults on first touch: it was the
 * largest cost of placing blocks.
 */
const spareChunkBufs: Uint8Array[] = [];
const SPARE_CHUNK_BUFS = 2;

function takeChunkBuf(n: number): Uint8Array {
  for (let i = spareChunkBufs.length - 1; i >= 0; i--) {
    if (spareChunkBufs[i]!.length === n) return spareChunkBufs.splice(i, 1)[0]!;
  }
  return new Uint8Array(n);
}

/** Give back a chunk buffer whose bytes are all zero. */
function giveChunkBuf(b: Uint8Array): void {
  if (spareChunkBufs.length < SPARE_CHUNK_BUFS) spareChunkBufs.push(b);
}

/**
 * Whether `a` sorts strictly before `b` (`compareKeys(a, b) < 0`, keys.ts), in JavaScript: a run writer
 * checks it per entry, and neighbours in a run differ within their first few dozen bytes, fewer
 * than a call into `Buffer.compare` costs.
 */
function ascending(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0;
  }
  return a.length < b.length;
}
/** What a merge writes its sorted entries into: a `RunWriter`, or a `ContainerSplitWriter` of several. */
export type RunSink = Pick<RunWriter, 'add'>;

/**
 * Sorted entries written as up to three runs: the entries of containers before container `cont`,
 * those of `cont`, and those after it (keys begin with the container index, so each part is
 * contiguous). An aggregation of `cont` writes through it, so what it folds of other containers (a
 * memtable's records, a run written before the split) lands in runs of their own, which the next
 * aggregation of `cont` does not read again: an aggregation costs by its own container's data, not
 * by the other containers on the target. `make` opens each run's writer (its run id, its level).
 */
export class ContainerSplitWriter implements RunSink {
  private readonly writers: RunWriter[] = [];
  private w: RunWriter;
  /** -1 before `cont`, 0 in it, 1 after it; 2: nothing written yet. */
  private side = 2;

  constructor(private readonly cont: number, private readonly make: () => RunWriter) {
    this.w = make();
    this.writers.push(this.w);
  }

  add(key: Uint8Array, value: Uint8Array, seq: number, bloomKeys: readonly BloomProbe[]): void {
    const c = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
    const side = c < this.cont ? -1 : c === this.cont ? 0 : 1;
    if (side !== this.side) {
      if (this.w.count > 0) { this.w = this.make(); this.writers.push(this.w); }
      this.side = side;
    }
    this.w.add(key, value, seq, bloomKeys);
  }

  /** Entries added so far. */
  get count(): number { let n = 0; for (const w of this.writers) n += w.count; return n; }

  /** Finish every part; the descriptors of the non-empty ones, in key order. */
  finish(): RunMeta[] {
    const out: RunMeta[] = [];
    for (const w of this.writers) { const m = w.finish(); if (m) out.push(m); }
    return out;
  }

  /** Chunks every part allocated (to free when the writer is abandoned). */
  get allocated(): number[] { return this.writers.flatMap((w) => w.allocated); }
}

/** Above every 32-bit word (and not a small integer): `RunWriter`'s "no epoch yet". */
const NO_WORD = 2 ** 32;

/** Streams sorted entries into a new run. */
export class RunWriter {
  private readonly data = new BlockBuilder();
  private readonly idx = new BlockBuilder();
  private readonly chunks: number[] = [];
  private chunkOff = -1;
  private chunkUsed = 0;
  private readonly indexRefs: Array<{ first: Uint8Array; ref: BlockRef }> = [];
  private pendingIndex: Array<{ first: Uint8Array; ref: BlockRef }> = [];
  /** The entries' bloom probes, h1 and h2 in turn (`bloomN` of them): a typed array, not a pushed-to array of numbers. */
  private bloomH = new Int32Array(BLOOM_H_START);
  private bloomN = 0;
  private entries = 0;
  private punches = 0;
  private bytes = 0;
  private minSeq = Number.MAX_SAFE_INTEGER;
  private maxSeq = 0;
  /**
   * The smallest inverted epoch (~epoch, big-endian in the key's stamp) of a data entry, as two
   * words; NO_WORD: none yet. Doubles from the start, as the words they take are: a field that
   * began as a small integer and then took a word of 2^31 or more changed the writer's hidden
   * class, and every compiled method of the writer was thrown away (deoptimised) in each thread.
   */
  private invEpochHi = NO_WORD;
  private invEpochLo = NO_WORD;
  private first: Uint8Array | undefined;
  private last: Uint8Array | undefined;

  constructor(private readonly space: RunSpace, private readonly src: ChunkSource, private readonly id: number, private readonly level: number) {}

  /** Add an entry; keys strictly ascending. `bloomKeys` are the lookup prefixes this entry answers (read during the call: a caller may reuse them). */
  add(key: Uint8Array, value: Uint8Array, seq: number, bloomKeys: readonly BloomProbe[]): void {
    if (this.last !== undefined && !ascending(this.last, key)) assert(false, 'run entries must be strictly ascending');
    const n = 6 + key.length + value.length;
    if (this.data.count > 0 && this.data.sizeWith(n) > TARGET_BLOCK_BYTES) this.flushData();
    this.data.addEntry(key, value);
    for (let i = 0; i < bloomKeys.length; i++) {
      const p = bloomKeys[i]!;
      if (this.bloomN + 2 > this.bloomH.length) { const h = new Int32Array(this.bloomH.length * 2); h.set(this.bloomH); this.bloomH = h; }
      this.bloomH[this.bloomN++] = p.h1; this.bloomH[this.bloomN++] = p.h2; // (32-bit: every use reads them with >>> and <<)
    }
    this.entries++;
    // data keys end with [tag][16-byte stamp]; object-table keys (section 1) have no tag
    if (key[4] === 0x02 && key[key.length - 17] === 0x01) this.punches++;
    if (key[4] === 0x02 && key.length >= 5 + STAMP_BYTES) {
      // the newest epoch is the smallest ~epoch: two big-endian words compared, no BigInt per entry
      const at = key.length - STAMP_BYTES;
      const hi = ((key[at]! << 24) | (key[at + 1]! << 16) | (key[at + 2]! << 8) | key[at + 3]!) >>> 0;
      const lo = ((key[at + 4]! << 24) | (key[at + 5]! << 16) | (key[at + 6]! << 8) | key[at + 7]!) >>> 0;
      if (hi < this.invEpochHi || (hi === this.invEpochHi && lo < this.invEpochLo)) { this.invEpochHi = hi; this.invEpochLo = lo; }
    }
    if (seq > 0) { if (seq < this.minSeq) this.minSeq = seq; if (seq > this.maxSeq) this.maxSeq = seq; }
    // callers hand over keys they no longer change (fresh copies): keep references
    this.first ??= key;
    this.last = key;
  }

  get count(): number { return this.entries; }

  /** Write the rest and return the descriptor (undefined for an empty run, whose chunks are released). */
  finish(): RunMeta | undefined {
    if (this.entries === 0) return undefined;
    if (this.data.count > 0) this.flushData();
    this.flushIndexBlocks(true);
    const bloom = this.writeBloom();
    this.flushChunk();
    // (every chunk written and zeroed again: another writer of this thread takes the buffer)
    if (this.chunkBuf !== undefined) { giveChunkBuf(this.chunkBuf); this.chunkBuf = undefined; }
    return {
      id: this.id, level: this.level, entries: this.entries, bytes: this.bytes, minSeq: this.minSeq === Number.MAX_SAFE_INTEGER ? 0 : this.minSeq,
      maxSeq: this.maxSeq, chunks: this.chunks.slice(), index: this.indexRefs, bloom, first: this.first!, last: this.last!, punches: this.punches,
      ...(this.invEpochHi !== NO_WORD ? { maxEpoch: U64_MAX - ((BigInt(this.invEpochHi) << 32n) | BigInt(this.invEpochLo)) } : {}),
    };
  }

  /** Chunks allocated so far (to free when the writer is abandoned). */
  get allocated(): readonly number[] { return this.chunks; }

  /** Bytes of the chunk being filled, written to the file in one pwrite when it is full or the run ends. */
  private chunkBuf: Uint8Array | undefined;

  private place(bytes: Uint8Array): number {
    const cb = this.src.chunkBytes;
    if (bytes.length > cb) assert(false, 'block larger than a chunk', { len: bytes.length, chunk: cb });
    if (this.chunkOff < 0 || this.chunkUsed + bytes.length > cb) {
      this.flushChunk();
      this.chunkOff = this.src.allocChunk();
      this.chunks.push(this.chunkOff);
      this.chunkUsed = 0;
    }
    const at = this.chunkOff + this.chunkUsed;
    this.chunkBuf ??= takeChunkBuf(cb);
    this.chunkBuf.set(bytes, this.chunkUsed);
    this.chunkUsed += (bytes.length + 7) & ~7;
    this.bytes += bytes.length;
    return at;
  }

  /** Write the chunk being filled. */
  private flushChunk(): void {
    if (this.chunkOff < 0 || !this.chunkBuf || this.chunkUsed === 0) return;
    this.space.pwrite(this.chunkOff, this.chunkBuf.subarray(0, Math.min(this.chunkUsed, this.chunkBuf.length)));
    this.chunkBuf.fill(0, 0, this.chunkUsed);
  }

  private flushData(): void {
    const first = this.data.firstKey!;
    const { bytes, csum } = this.data.seal(BlockKind.Data);
    const off = this.place(bytes);
    this.data.reset();
    this.pendingIndex.push({ first, ref: { off, len: bytes.length, csum } });
    this.flushIndexBlocks(false);
  }

  /** Pack pending index entries into index blocks (all of them when `all`). */
  private flushIndexBlocks(all: boolean): void {
    const enc = (r: BlockRef) => {
      const v = new Uint8Array(20);
      const dv = new DataView(v.buffer);
      dv.setUint32(0, r.off % 4294967296, true); dv.setUint32(4, Math.floor(r.off / 4294967296), true);
      dv.setUint32(8, r.len, true);
      dv.setBigUint64(12, r.csum, true);
      return v;
    };
    while (this.pendingIndex.length > 0) {
      // estimate: emit a block once it would pass the target size, or at the end
      let size = BLOCK_HEADER + BLOCK_TRAILER; let n = 0;
      for (const e of this.pendingIndex) {
        const add = 6 + e.first.length + 20 + 4;
        if (n > 0 && size + add > TARGET_BLOCK_BYTES) break;
        size += add; n++;
      }
      if (n === this.pendingIndex.length && !all) return;
      const take = this.pendingIndex.splice(0, n);
      this.idx.reset();
      for (const e of take) this.idx.addEntry(e.first, enc(e.ref));
      const { bytes, csum } = this.idx.seal(BlockKind.Index);
      const off = this.place(bytes);
      this.indexRefs.push({ first: take[0]!.first, ref: { off, len: bytes.length, csum } });
    }
  }

  private writeBloom(): BlockRef[] {
    const keys = this.bloomN / 2;
    const nb = Math.max(1, Math.ceil((keys * BLOOM_BITS_PER_KEY) / BLOOM_BLOCK_BITS));
    const blocks = Array.from({ length: nb }, () => new Uint8Array(BLOOM_BLOCK_BITS / 8));
    const h = this.bloomH;
    for (let i = 0; i < this.bloomN; i += 2) setBloomBits(blocks[(h[i]! >>> 0) % nb]!, h[i + 1]!);
    const refs: BlockRef[] = [];
    const bb = new BlockBuilder();
    for (const body of blocks) {
      bb.reset();
      bb.setBody(body);
      const { bytes, csum } = bb.seal(BlockKind.Bloom);
      refs.push({ off: this.place(bytes), len: bytes.length, csum });
    }
    this.bloomH = NO_PROBE_HASHES; this.bloomN = 0;
    return refs;
  }
}

// ---------------------------------------------------------------------------------------- reader

/** Bytes of one frame of a `BlockArena` (a data block is cut at TARGET_BLOCK_BYTES unless one entry is larger: most fit one frame). */
export const ARENA_FRAME_BYTES = TARGET_BLOCK_BYTES;
const ARENA_FRAME_SHIFT = 12;
/** Frames of one arena segment (one ArrayBuffer of 1 MiB, allocated when first needed). */
export const ARENA_SEGMENT_FRAMES = 256;
const ARENA_SEGMENT_SHIFT = 8;
/** Most frames of one arena (a point-index slot names a frame in a 31-bit word). */
const ARENA_MAX_FRAMES = 1 << 24;

/**
 * `n` zeroed bytes to be filled bit by bit (an arena segment, a reused read buffer), their pages
 * made present in one call where the addon can (`prefaultBuffer`): a page's first store into fresh
 * memory traps, ~12-17 us a page on this VM, against ~0.4-1.3 us a page so (what is left of a
 * first store, ~6-8 us a page here, is the host's).
 */
function freshBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  nativeAddon()?.prefaultBuffer?.(b);
  return b;
}

/**
 * Verified copies of data blocks that point reads answer from (`PointIndex`), in frames of a few
 * large ArrayBuffers instead of one Uint8Array (and its VerifiedBlock and BlockView) per block: a
 * point read goes from its index slot, which carries the frame and its generation, straight to
 * the block's bytes, and decodes them with the segment's one DataView. On this machine a fresh get
 * is bound by the dependent cache misses it takes (slot, run, fence array, entry object, array
 * object, bytes, view, DataView: 5-6 before; slot, generation, bytes: 2-3 now).
 *
 * A frame is filled only from verified bytes (the block cache's, `Run.pointFrame`, or a block a
 * run's point list read and checked, `Run.preloadPointBlocks`), and only by point reads, point-index
 * builds and point lists, never by cursors: so no view that may be held across an await (a merge's
 * or a scan's cursor) ever points into a frame. Every fill and every `forget` bumps the frame's
 * generation (`gen`), and a holder of (frame, generation) reads the frame only while they agree: a
 * frame reused for another block is never read as the old one. A frame's bytes read by a point
 * read stay valid until the next point read (the one place that reuses frames: a point list only
 * takes frames never used, `unused`), which is the contract of the version it answers (`reads.ts`
 * `pointVersion`). Frames are reused in fill order (a hit stores nothing).
 */
export class BlockArena {
  /** Segment i holds frames [i * ARENA_SEGMENT_FRAMES, (i + 1) * ARENA_SEGMENT_FRAMES). */
  readonly segs: Uint8Array[] = [];
  /** A DataView of each segment (offsets are the segment's). */
  readonly dvs: DataView[] = [];
  /** Generation of each frame: bumped by every fill and every forget (never 0 once filled). Replaced (copied) when the arena grows. */
  gen: Int32Array;
  /** File offset of the block in each frame (-1: none). */
  private offs: Float64Array;
  private readonly byOff = new Map<number, number>();
  private used = 0;
  private hand = 0;
  /** Frames filled so far (for tests and measurements). */
  fills = 0;
  /** Frames never filled yet (a fill takes one of them before it reuses any). */
  get unused(): number { return this.frames - this.used; }
  /**
   * An arena of `frames` frames; `grow(bytes)` is told of each segment allocated (the block cache
   * counts them against its bound).
   */
  constructor(public frames: number, private readonly grow: (bytes: number) => void) {
    assert(frames > 0 && frames <= ARENA_MAX_FRAMES, 'arena frames out of range', { frames });
    this.gen = new Int32Array(frames);
    this.offs = new Float64Array(frames).fill(-1);
  }

  /**
   * Let the arena hold up to `frames` frames (never fewer than now): the frames after the current
   * ones are used before any is reused. Segments are still allocated when first filled.
   */
  extend(frames: number): void {
    frames = Math.min(ARENA_MAX_FRAMES, Math.floor(frames));
    if (frames <= this.frames) return;
    const gen = new Int32Array(frames); gen.set(this.gen);
    const offs = new Float64Array(frames).fill(-1); offs.set(this.offs);
    this.gen = gen; this.offs = offs;
    // a short last segment (the old frame count ended inside it) is grown to the frames it now covers
    const seg = this.segs.length - 1;
    if (seg >= 0) {
      const want = Math.min(ARENA_SEGMENT_FRAMES, frames - (seg << ARENA_SEGMENT_SHIFT)) * ARENA_FRAME_BYTES;
      const had = this.segs[seg]!;
      if (want > had.length) {
        const b = freshBytes(want); b.set(had);
        this.segs[seg] = b; this.dvs[seg] = new DataView(b.buffer);
        this.grow(want - had.length);
      }
    }
    this.frames = frames;
  }

  /**
   * Copy `bytes` (a verified block at file offset `off`) into a frame; returns the frame (its
   * generation is `gen[frame]`), or -1 for a block larger than a frame.
   */
  fill(off: number, bytes: Uint8Array): number {
    if (bytes.length > ARENA_FRAME_BYTES) return -1;
    let f: number;
    if (this.used < this.frames) {
      f = this.used++;
      const seg = f >>> ARENA_SEGMENT_SHIFT;
      if (seg === this.segs.length) {
        const n = Math.min(ARENA_SEGMENT_FRAMES, this.frames - (seg << ARENA_SEGMENT_SHIFT)) * ARENA_FRAME_BYTES;
        const b = freshBytes(n);
        this.segs.push(b); this.dvs.push(new DataView(b.buffer));
        this.grow(n);
      }
    } else {
      f = this.hand;
      this.hand = f + 1 === this.frames ? 0 : f + 1;
      this.empty(f);
    }
    this.segs[f >>> ARENA_SEGMENT_SHIFT]!.set(bytes, (f & (ARENA_SEGMENT_FRAMES - 1)) << ARENA_FRAME_SHIFT);
    this.bump(f);
    this.offs[f] = off;
    const prev = this.byOff.get(off);
    if (prev !== undefined) this.empty(prev); // (one frame per block: a block filled again after its chunk was reused)
    this.byOff.set(off, f);
    this.fills++;
    return f;
  }

  /** Byte offset of frame `f` in its segment. */
  static base(f: number): number { return (f & (ARENA_SEGMENT_FRAMES - 1)) << ARENA_FRAME_SHIFT; }
  /** Segment of frame `f`. */
  static segment(f: number): number { return f >>> ARENA_SEGMENT_SHIFT; }

  private bump(f: number): void { const g = (this.gen[f]! + 1) | 0; this.gen[f] = g === 0 ? 1 : g; }

  /** Frame `f` holds nothing any more: holders of its old generation stop reading it. */
  private empty(f: number): void {
    const off = this.offs[f]!;
    if (off >= 0 && this.byOff.get(off) === f) this.byOff.delete(off);
    this.offs[f] = -1;
    this.bump(f);
  }

  /** Forget the blocks at file offsets in `[off, off+len)` (a freed chunk, or a scrub that re-reads). */
  forgetRange(off: number, len: number): void {
    if (len === 1) { const f = this.byOff.get(off); if (f !== undefined) this.empty(f); return; }
    for (const [k, f] of [...this.byOff]) if (k >= off && k < off + len) this.empty(f);
  }
}

/**
 * Verified copies of run blocks, shared by the runs of one store: an LRU bounded in bytes. A block
 * is read from the file once (pread: page-cache speed, no mapping, so resident memory is this cache
 * and not the file), verified once, and served from here until evicted; a later read re-verifies.
 * (Reads through the mapping would map whole large folios of the page cache on every touch.)
 * Half the bound may go to the `BlockArena` point reads copy their blocks into (its segments
 * count against the bound as they are allocated).
 */
export class VerifiedBlocks {
  // insertion order is the clock; `used` marks a hit since the hand last passed (second chance), so
  // a hit costs a flag store, not a reinsertion
  private readonly map = new Map<number, VerifiedBlock>();
  private held = 0;
  /** Frames of the blocks point reads answer from (null: a bound too small for one frame). */
  readonly arena: BlockArena | null;
  /** The bound the cache was made with. */
  private readonly base: number;
  constructor(private maxBytes = 16 * 1024 * 1024) {
    this.base = maxBytes;
    const frames = Math.min(ARENA_MAX_FRAMES, Math.floor(maxBytes / 2 / ARENA_FRAME_BYTES));
    this.arena = frames > 0 ? new BlockArena(frames, (n) => { this.held += n; this.arenaHeld += n; this.shrink(); }) : null;
  }
  /** The bound in bytes (arena segments included). */
  get bound(): number { return this.maxBytes; }
  /**
   * Let the arena grow by `bytes` past its half of the first bound, and the bound with it, up to a
   * bound of `cap` (never lowered: what is held stays until evicted). The other half of the first
   * bound stays for blocks not in the arena. A store whose runs grow calls it with their bytes
   * (`TargetOptions.blockCacheMaxBytes`), so point reads keep their blocks as the data grows.
   */
  followData(bytes: number, cap: number): void {
    const bound = Math.min(cap, this.base + bytes);
    if (!(bound > this.maxBytes)) return;
    this.maxBytes = bound;
    this.arena?.extend(Math.floor((bound - Math.floor(this.base / 2)) / ARENA_FRAME_BYTES));
  }
  /** The verified copy of `r`, if cached. */
  get(r: BlockRef): Uint8Array | undefined { return this.entry(r)?.bytes; }
  /**
   * The cache entry of `r`, if cached: a point lookup keeps it (`IndexView`) and checks `live`
   * instead of looking it up again; the entry's view is made once.
   */
  entry(r: BlockRef): VerifiedBlock | undefined {
    const e = this.map.get(r.off);
    if (!e || e.csum !== r.csum || e.bytes.length !== r.len) return undefined;
    e.used = true;
    return e;
  }
  has(r: BlockRef): boolean { return this.get(r) !== undefined; }
  add(r: BlockRef, bytes: Uint8Array): void {
    const old = this.map.get(r.off);
    if (old) { this.drop(old); this.map.delete(r.off); }
    this.map.set(r.off, new VerifiedBlock(r.csum, bytes));
    this.held += bytes.length;
    this.shrink();
  }
  /** Bytes of the arena's segments (in `held`). */
  private arenaHeld = 0;
  /**
   * Evict (second chance) while more than the bound is held; once the bound was raised
   * (`followData`) and the arena is in use, also while more than the first bound, or the arena and
   * the half of the first bound blocks outside it had, is held (the raise is for the arena: blocks
   * copied into frames are not kept twice). A store whose reads fill no frame (no point index:
   * too many versions, or reads by cursor) has the raised bound for its blocks instead.
   */
  private shrink(): void {
    const bound = this.maxBytes > this.base && this.arenaHeld > 0 ? Math.min(this.maxBytes, Math.max(this.base, this.arenaHeld + this.base - Math.floor(this.base / 2))) : this.maxBytes;
    for (let turns = 0; this.held > bound && this.map.size > 1 && turns < 2 * this.map.size; turns++) {
      const k = this.map.keys().next().value as number;
      const e = this.map.get(k)!;
      this.map.delete(k);
      if (e.used) { e.used = false; this.map.set(k, e); continue; }
      this.drop(e);
    }
  }
  /** An entry leaves the cache: holders of it see `live` false, and its bytes are let go. */
  private drop(e: VerifiedBlock): void {
    this.held -= e.bytes.length;
    e.live = false; e.bytes = NO_BYTES; e.view = undefined;
  }
  /** Forget blocks in `[off, off+len)` (a freed chunk, or a scrub that re-reads), in the arena too. */
  forgetRange(off: number, len: number): void {
    this.arena?.forgetRange(off, len);
    if (len === 1) { const e = this.map.get(off); if (e) { this.drop(e); this.map.delete(off); } return; }
    for (const [k, e] of this.map) if (k >= off && k < off + len) { this.drop(e); this.map.delete(k); }
  }
  /** Bytes held (arena segments included). */
  get bytes(): number { return this.held; }
}

const NO_BYTES = new Uint8Array(0);

/** One verified block in the cache (while `live`); its `BlockView` is made when first asked for. */
export class VerifiedBlock {
  used = false;
  live = true;
  view: BlockView | undefined = undefined;
  constructor(readonly csum: bigint, public bytes: Uint8Array) {}
  /** The block's entries, read in place (the view is kept with the entry). */
  blockView(): BlockView { return this.view ??= new BlockView(this.bytes); }
}

/** Details of a damaged block, for errors and scrub reports (JSON-safe). */
export interface BlockDamage { run: number; block: number; kind: 'data' | 'index' | 'bloom'; lo: string; hi: string }

/** A run opened for reading, in place. */
export class Run {
  private readonly indexCache = new Map<number, IndexView>();
  /** Readers pinning the run's chunks (an iterator across awaits); the chunks are freed at zero after retirement. */
  pins = 0;
  retired = false;

  /**
   * Whether the run may hold punches (runs that hold none skip punch lookups): a field of its own,
   * set once, because run descriptors come in many shapes (unpacked, parsed from JSON, built), so
   * reading `meta.punches` per lookup was a megamorphic load (--log-ic).
   */
  readonly mayHavePunches: boolean;

  constructor(private readonly space: RunSpace, readonly meta: RunMeta, private readonly verified: VerifiedBlocks) {
    this.mayHavePunches = meta.punches === undefined || meta.punches > 0;
  }

  /** Verify and view a block. */
  block(ref: BlockRef, kind: BlockKind, damage: () => BlockDamage): Uint8Array {
    const hit = this.verified.get(ref);
    if (hit) return hit;
    return this.verify(ref, kind, damage, this.space.pread(ref.off, ref.len));
  }

  /** Check `bytes` (read at `ref`) and cache them; throws `CORRUPTED` naming the block's range. */
  private verify(ref: BlockRef, kind: BlockKind, damage: () => BlockDamage, bytes: Uint8Array): Uint8Array {
    this.check(ref, kind, damage, bytes);
    this.verified.add(ref, bytes);
    return bytes;
  }

  /** Check `bytes` (read at `ref`) as a block of `kind`; throws `CORRUPTED` naming the block's range. */
  private check(ref: BlockRef, kind: BlockKind, damage: () => BlockDamage, bytes: Uint8Array): void {
    const fail = (why: string) => {
      const d = damage();
      return new VosError('CORRUPTED', `damaged ${d.kind} block in run ${d.run}: ${why}`, { ...d, why });
    };
    if (ref.len < BLOCK_HEADER + BLOCK_TRAILER) throw fail('length');
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(0, true) !== BLOCK_MAGIC || dv.getUint8(5) !== BLOCK_VERSION) throw fail('magic or version');
    if (dv.getUint8(4) !== kind || dv.getUint32(12, true) !== ref.len) throw fail('kind or length');
    const csum = xxh64(bytes.subarray(0, ref.len - BLOCK_TRAILER), CSUM_SEED);
    if (csum !== ref.csum || dv.getBigUint64(ref.len - BLOCK_TRAILER, true) !== csum) throw fail('checksum');
    if (kind !== BlockKind.Bloom && !new BlockView(bytes).wellFormed()) throw fail('structure');
  }

  /**
   * The bits of every bloom block of the run, verified, side by side (block i at i * 4 KiB): a
   * probe loads one array and one byte, no per-block object (about 1.25 bytes per entry).
   * Undefined until the first probe.
   */
  private bloomBits: Uint8Array | undefined;
  /** Bloom blocks of the run (`meta.bloom.length`, kept beside the bits). */
  private bloomBlocks = 0;
  /** 1 for each bloom block that failed its checks (it answers "maybe"); null when none did. */
  private bloomBad: Uint8Array | null = null;

  /**
   * Read every bloom block of the run at once (one pread per contiguous span: they are written
   * one after another), verify each, and keep their bits in one array; a damaged block (or one
   * not of the bloom size) is marked bad and answers "maybe".
   */
  private loadBlooms(): Uint8Array {
    const refs = this.meta.bloom;
    const body = BLOOM_BLOCK_BITS / 8;
    const bits = new Uint8Array(refs.length * body);
    let bad: Uint8Array | null = null;
    for (let i = 0; i < refs.length;) {
      let j = i;
      while (j + 1 < refs.length && refs[j + 1]!.off === refs[j]!.off + ((refs[j]!.len + 7) & ~7)) j++;
      const start = refs[i]!.off; const end = refs[j]!.off + refs[j]!.len;
      let span: Uint8Array | undefined;
      try { span = this.space.pread(start, end - start); } catch { /* each block is then read (and judged) alone */ }
      for (let k = i; k <= j; k++) {
        const r = refs[k]!;
        const damage = () => ({ run: this.meta.id, block: r.off, kind: 'bloom' as const, lo: '', hi: '' });
        try {
          const b = span ? this.verify(r, BlockKind.Bloom, damage, span.slice(r.off - start, r.off - start + r.len)) : this.block(r, BlockKind.Bloom, damage);
          if (b.length < BLOCK_HEADER + body) throw new Error('short bloom block');
          bits.set(b.subarray(BLOCK_HEADER, BLOCK_HEADER + body), k * body);
        } catch {
          (bad ??= new Uint8Array(refs.length))[k] = 1; // the index is still checked: a damaged filter only costs lookups
        }
      }
      i = j + 1;
    }
    this.bloomBad = bad;
    this.bloomBlocks = refs.length;
    this.bloomBits = bits;
    return bits;
  }

  /** False when the bloom filter proves no entry of the run answers `p`. A damaged bloom block says "maybe". */
  mayContain(p: BloomProbe): boolean {
    const bits = this.bloomBits ?? this.loadBlooms();
    const n = this.bloomBlocks;
    if (n === 0) return true;
    const i = (p.h1 >>> 0) % n;
    if (this.bloomBad !== null && this.bloomBad[i] === 1) return true;
    const base = i * (BLOOM_BLOCK_BITS / 8);
    let x = p.h2 >>> 0;
    const delta = ((p.h2 >>> 17) | (p.h2 << 15)) >>> 0;
    for (let k = 0; k < BLOOM_PROBES; k++) {
      const bit = x & (BLOOM_BLOCK_BITS - 1);
      if ((bits[base + (bit >>> 3)]! & (1 << (bit & 7))) === 0) return false;
      x = (x + delta) >>> 0;
    }
    return true;
  }

  /** Index block `i`, read in place (keys are views into its verified bytes; nothing decoded ahead). */
  indexBlock(i: number): IndexView {
    const hit = this.indexCache.get(i);
    if (hit) return hit;
    const top = this.meta.index[i]!;
    const next = this.meta.index[i + 1];
    const bytes = this.block(top.ref, BlockKind.Index, () => ({ run: this.meta.id, block: top.ref.off, kind: 'index', lo: hex(top.first), hi: next ? hex(next.first) : '' }));
    const out = new IndexView(new BlockView(bytes));
    this.indexCache.set(i, out);
    if (this.indexCache.size > INDEX_CACHE_BLOCKS) this.indexCache.delete(this.indexCache.keys().next().value as number);
    return out;
  }

  /**
   * Data block `j` of index block `i`: the cached view of its verified copy (the index view keeps
   * the cache entry it found last, so a hit is a flag check, no lookup and no allocation).
   */
  dataBlock(i: number, j: number, ib = this.indexBlock(i)): BlockView {
    const kept = ib.blocks[j];
    if (kept !== undefined && kept.live) { kept.used = true; return kept.blockView(); }
    const ref = ib.refAt(j);
    const e = this.verified.entry(ref);
    if (e === undefined) return this.readDataBlock(i, j, ib, ref);
    ib.blocks[j] = e;
    return e.blockView();
  }

  /** `dataBlock` on a cache miss: read, verify, cache (the damage report's closure is made only here). */
  private readDataBlock(i: number, j: number, ib: IndexView, ref: BlockRef): BlockView {
    const bytes = this.block(ref, BlockKind.Data, () => ({
      run: this.meta.id, block: ref.off, kind: 'data', lo: hex(ib.key(j)),
      hi: j + 1 < ib.count ? hex(ib.key(j + 1)) : this.meta.index[i + 1] ? hex(this.meta.index[i + 1]!.first) : '',
    }));
    // the block was verified and cached just now (a cache too small to keep it still gets a view)
    const e = this.verified.entry(ref);
    if (e === undefined) return new BlockView(bytes);
    ib.blocks[j] = e;
    return e.blockView();
  }

  /**
   * Position `at` on the first entry with key >= the first `klen` bytes of `k` (a point lookup's
   * seek: no cursor, no key view, blocks and their views from the verified cache). False when
   * every key of the run is smaller.
   */
  seekTo(k: Uint8Array, klen: number, at: RunPosition): boolean {
    const f = this.fences === undefined ? this.buildFences() : this.fences;
    if (f === null) return this.seekThroughIndex(k, klen, at);
    let g = f.lastAtOrBefore(k, klen);
    const lcp = f.lcp;
    let blk = this.fenceBlock(f, g);
    let e = lcp < 0 ? 0 : blk.lowerBoundAfter(k, klen, lcp);
    while (e >= blk.count) {
      if (++g >= f.count) return false;
      blk = this.fenceBlock(f, g);
      e = 0;
    }
    at.i = f.indexOf[g]!; at.j = f.entryOf[g]!; at.blk = blk; at.e = e;
    return true;
  }

  /** Data blocks' cache entries by fence number (a seek's hit is one array load and a flag check, not the index view's). */
  private fenceBlocks: Array<VerifiedBlock | undefined> = [];

  /**
   * Data block g of a run with fences (`dataBlock` by fence number). On a cache fill the block's
   * first key is checked against its fence, which `lowerBoundAfter` relies on: a run whose index
   * and data blocks disagree is reported damaged, never searched on a wrong premise.
   */
  private fenceBlock(f: RunFences, g: number): BlockView {
    const kept = this.fenceBlocks[g];
    if (kept !== undefined && kept.live) { kept.used = true; return kept.view ?? kept.blockView(); }
    const i = f.indexOf[g]!, j = f.entryOf[g]!, ib = this.fenceIndex[i]!;
    const blk = this.dataBlock(i, j, ib);
    const first = f.key(g);
    if (blk.count === 0 || blk.compareAt(0, first) !== 0) {
      const ref = ib.refAt(j);
      throw new VosError('CORRUPTED', `damaged data block in run ${this.meta.id}: its first key is not its index entry's`, { run: this.meta.id, block: ref.off, kind: 'data', lo: hex(first), hi: '', why: 'first key' });
    }
    const ent = ib.blocks[j];
    if (ent !== undefined && ent.live) this.fenceBlocks[g] = ent;
    return blk;
  }

  /**
   * The run's fences (`RunFences`), built on its first seek from every index block, with those
   * blocks' views; null for a run of more than RUN_FENCE_MAX_INDEX_BLOCKS index blocks or
   * RUN_FENCE_MAX_BLOCKS data blocks, or with an index block that fails its checks (its
   * seeks go through the index blocks, and only a seek that needs a damaged block reports it).
   */
  private fences: RunFences | null | undefined;
  /** Index block views by number, for a run with fences (held here: its index cache keeps the last INDEX_CACHE_BLOCKS used). */
  private fenceIndex: IndexView[] = [];
  private buildFences(): RunFences | null {
    const top = this.meta.index;
    this.fences = null;
    if (top.length === 0 || top.length > RUN_FENCE_MAX_INDEX_BLOCKS) return null;
    const keys: Uint8Array[] = [], ii: number[] = [], jj: number[] = [], views: IndexView[] = [];
    try {
      for (let i = 0; i < top.length; i++) {
        const ib = this.indexBlock(i);
        views.push(ib);
        for (let j = 0; j < ib.count; j++) { keys.push(ib.key(j)); ii.push(i); jj.push(j); }
        if (keys.length > RUN_FENCE_MAX_BLOCKS) return null;
      }
    } catch {
      return null;
    }
    if (keys.length === 0) return null;
    this.fenceIndex = views;
    return this.fences = new RunFences(keys, Int32Array.from(ii), Int32Array.from(jj));
  }

  /**
   * The run's point list (`RunPoints`): built on first use by reading every data block (verified,
   * through the block cache), kept for the run's life; null for a run without fences or with a
   * block that fails its checks (its reads keep the bloom and fence path, which reports the damage
   * only for keys in that block's range).
   */
  private pointList: RunPoints | null | undefined;
  /**
   * The point index of the last list of runs that starts with this run (reads.ts `pointIndexOf`
   * keeps it here: one field load per get instead of a WeakMap lookup). Opaque to the run.
   */
  pointIndexOf: { runs: readonly Run[]; index: unknown; reads?: number; building?: Promise<void>; build?: unknown } | undefined;
  points(): RunPoints | null {
    if (this.pointList !== undefined) return this.pointList;
    const steps = this.pointSteps();
    for (;;) { const r = steps.next(); if (r.done) return r.value; }
  }

  /** Whether the run's point list is made (`points()` answers without reading blocks). */
  get pointsMade(): boolean { return this.pointList !== undefined; }

  /** The list being made in steps (`pointSteps`), shared by whoever continues it. */
  private pointGen: Generator<void, RunPoints | null> | undefined;

  /**
   * `points()` in steps of POINT_LIST_STEP_BLOCKS data blocks (each step but the last yields): a
   * list made in the background while reads take the per-run path. One making per run: a caller
   * gets the steps in progress, if any (a `points()` call finishes them at once).
   */
  pointSteps(): Generator<void, RunPoints | null> {
    return this.pointGen ??= this.makePoints();
  }

  private *makePoints(): Generator<void, RunPoints | null> {
    try {
      return yield* this.makePointsSteps();
    } finally {
      this.pointGen = undefined;
    }
  }

  private *makePointsSteps(): Generator<void, RunPoints | null> {
    if (this.pointList !== undefined) return this.pointList;
    const blocksPerStep = POINT_LIST_STEP_BLOCKS;
    const f = this.fences === undefined ? this.buildFences() : this.fences;
    if (f === null) return this.pointList = null;
    const h1: number[] = [], h2: number[] = [], loc: number[] = [];
    const probe: BloomProbe = { h1: 0, h2: 0 };
    let prev: Uint8Array | undefined, prevLen = 0;
    let pre: Array<BlockView | undefined> | undefined, g0 = 0;
    try {
      for (let g = 0; g < f.count; g++) {
        if (g > 0 && g % blocksPerStep === 0) {
          yield;
          if (this.pointList !== undefined) return this.pointList;
          if (prev !== undefined) prev = prev.slice(0, prevLen); // (its block may have left the cache meanwhile)
        }
        if (g % blocksPerStep === 0) { pre = this.preloadPointBlocks(f, g, Math.min(f.count, g + blocksPerStep)); g0 = g; }
        const blk = pre?.[g - g0] ?? this.fenceBlock(f, g);
        if (blk.bytes.length > POINT_ENTRY_LIMIT) return this.pointList = null;
        for (let e = 0; e < blk.count; e++) {
          const ko = blk.keyOffset(e), kl = blk.keyLength(e);
          const key = blk.bytes.subarray(ko, ko + kl);
          const shape = keyShape(key);
          if (shape === undefined || shape.kind !== 'single') continue;
          const pl = shape.akeyEnd;
          // the first version of an akey in the run is its newest (~epoch, ~seq order)
          if (prev !== undefined && prevLen === pl && samePrefixBytes(prev, key, pl)) continue;
          prev = key; prevLen = pl;
          bloomProbeInto(key, pl, probe);
          h1.push(probe.h1 | 0); h2.push(probe.h2 | 0); loc.push(g * POINT_ENTRY_LIMIT + ko - ENTRY_HEADER);
        }
      }
    } catch {
      return this.pointList = null;
    }
    return this.pointList = { count: h1.length, h1: Int32Array.from(h1), h2: Int32Array.from(h2), loc: Int32Array.from(loc) };
  }

  /**
   * The data blocks [g0, g1) of a run with fences that no cache holds yet, read for its point list
   * (`makePointsSteps`): blocks near one another in one read into a reused scratch (a pread per 4
   * KiB block, each into fresh memory, took ~24 us here, most of it page faults), each checked as
   * `block` checks a block, then copied into a frame the arena never used while it has any (the
   * frame the first point read of it would fill), else into the block cache. Returns views of the
   * checked bytes by fence number minus g0, valid until the next call (the scratch is reused);
   * a block that fails a check is left out: `fenceBlock` then reads it and reports it as ever.
   */
  private preloadPointBlocks(f: RunFences, g0: number, g1: number): Array<BlockView | undefined> | undefined {
    if (this.space.preadInto === undefined) return undefined;
    let out: Array<BlockView | undefined> | undefined;
    const want: number[] = [];
    for (let g = g0; g < g1; g++) {
      const kept = this.fenceBlocks[g];
      if (kept !== undefined && kept.live) continue;
      const held = this.pointFrameHeld(g);
      if (held >= 0) { if (this.verified.get(this.fenceRef(f, g)) === undefined) (out ??= [])[g - g0] = new BlockView(this.frameBytes(held, g)); continue; }
      if (this.verified.get(this.fenceRef(f, g)) === undefined) want.push(g);
    }
    if (want.length > 0 && spanScratch.length === 0) spanScratch = freshBytes(POINT_SPAN_MAX_BYTES);
    // (each span goes after the last in the scratch: the views returned stay valid together)
    for (let k = 0, at = 0; k < want.length;) {
      // a span: the next wanted block and those after it within the gap and size bounds
      const start = this.fenceRef(f, want[k]!).off;
      let end = start + this.fenceRef(f, want[k]!).len, last = k;
      while (last + 1 < want.length) {
        const r = this.fenceRef(f, want[last + 1]!);
        if (r.off < end || r.off - end > POINT_SPAN_MAX_GAP_BYTES || at + r.off + r.len - start > POINT_SPAN_MAX_BYTES) break;
        end = r.off + r.len; last++;
      }
      if (at + end - start > spanScratch.length) return out; // (the rest are read one by one)
      const span = spanScratch.subarray(at, at + end - start);
      at += end - start;
      try { this.space.preadInto(start, span); } catch { return out; } // (the blocks are then read one by one, and any error reported)
      for (; k <= last; k++) {
        const g = want[k]!, ref = this.fenceRef(f, g);
        const bytes = span.subarray(ref.off - start, ref.off - start + ref.len);
        try { this.check(ref, BlockKind.Data, noDamage, bytes); } catch { continue; }
        const blk = new BlockView(bytes);
        if (blk.count === 0 || blk.compareAt(0, f.key(g)) !== 0) continue; // (fenceBlock reports it)
        const a = this.verified.arena;
        if (a !== null && a.unused > 0 && ref.len <= ARENA_FRAME_BYTES) {
          const nf = a.fill(ref.off, bytes);
          const fr = this.frames ??= new Int32Array(2 * f.count);
          fr[2 * g] = nf + 1; fr[2 * g + 1] = a.gen[nf]!;
        } else {
          this.verified.add(ref, bytes.slice());
          const e = this.verified.entry(ref);
          if (e !== undefined) { this.fenceIndex[f.indexOf[g]!]!.blocks[f.entryOf[g]!] = e; this.fenceBlocks[g] = e; }
        }
        (out ??= [])[g - g0] = blk;
      }
    }
    return out;
  }

  /** Where data block g of a run with fences lies. */
  private fenceRef(f: RunFences, g: number): BlockRef { return this.fenceIndex[f.indexOf[g]!]!.refAt(f.entryOf[g]!); }

  /** The bytes of data block g in arena frame `frame` (it holds them now: valid until the next fill). */
  private frameBytes(frame: number, g: number): Uint8Array {
    const base = BlockArena.base(frame);
    return this.verified.arena!.segs[BlockArena.segment(frame)]!.subarray(base, base + this.fenceRef(this.fences!, g).len);
  }

  /**
   * The data block a `RunPoints` location names (`loc / POINT_ENTRY_LIMIT`): verified, from the
   * block cache or read again. Only for a run whose `points()` is not null.
   */
  pointBlock(g: number): BlockView { return this.fenceBlock(this.fences!, g); }

  /**
   * `pointBlock(g)`'s verified bytes, with no view: a point read checks its key in them (`[klen
   * u16][vlen u32][key][value]` at the entry's offset) before it decodes anything.
   */
  pointBytes(g: number): Uint8Array {
    const kept = this.fenceBlocks[g];
    if (kept !== undefined && kept.live) { kept.used = true; return kept.bytes; }
    const held = this.pointFrameHeld(g);
    if (held >= 0) return this.frameBytes(held, g);
    return this.fenceBlock(this.fences!, g).bytes;
  }

  /** The arena of the run's store's block cache (shared by its runs; null when the cache has none). */
  get arena(): BlockArena | null { return this.verified.arena; }

  /** Frame and generation of each data block in the arena, by fence (`[frame + 1, gen]`; frame -1: larger than a frame). */
  private frames: Int32Array | undefined;

  /**
   * The arena frame holding data block `g` (`pointBlock(g)`'s verified bytes, copied into a frame
   * on first use and again after the frame was reused), or -1 when the block cannot have one (no
   * arena, or a block larger than a frame). Only for a run whose `points()` is not null. Throws
   * `CORRUPTED` as `pointBlock` does: the bytes come from the verified block cache.
   */
  pointFrame(g: number): number {
    const f = this.pointFrameHeld(g);
    if (f >= 0) return f;
    const a = this.verified.arena;
    if (a === null || this.frames![2 * g] === -1) return -1; // (-1: the block fits no frame)
    const bytes = this.pointBytes(g);
    const f0 = this.fences!;
    const ref = this.fenceIndex[f0.indexOf[g]!]!.refAt(f0.entryOf[g]!);
    const nf = a.fill(ref.off, bytes);
    const fr = this.frames!;
    if (nf < 0) { fr[2 * g] = -1; return -1; }
    fr[2 * g] = nf + 1; fr[2 * g + 1] = a.gen[nf]!;
    return nf;
  }

  /** The arena frame holding data block `g` now, or -1 (`pointFrame` without copying it in). */
  pointFrameHeld(g: number): number {
    const a = this.verified.arena;
    if (a === null) return -1;
    const fr = this.frames ??= new Int32Array(2 * this.fences!.count);
    const f = fr[2 * g]! - 1;
    return f >= 0 && a.gen[f] === fr[2 * g + 1] ? f : -1;
  }

  /** `seekTo` for a run without fences: the index-block list, then one index block, then one data block. */
  private seekThroughIndex(k: Uint8Array, klen: number, at: RunPosition): boolean {
    const top = this.meta.index;
    // last index block whose first key <= k (or 0)
    let lo = 0, hi = top.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (comparePrefix(top[m]!.first, k, klen) <= 0) lo = m + 1; else hi = m; }
    let i = lo > 0 ? lo - 1 : 0;
    let ib = this.indexBlock(i);
    const a = ib.upperBound(k, klen);
    let j = a > 0 ? a - 1 : 0;
    let blk = this.dataBlock(i, j, ib);
    let e = blk.lowerBound(k, klen);
    while (e >= blk.count) {
      if (j + 1 < ib.count) j++;
      else if (i + 1 < top.length) { i++; j = 0; ib = this.indexBlock(i); }
      else return false;
      blk = this.dataBlock(i, j, ib);
      e = 0;
    }
    at.i = i; at.j = j; at.blk = blk; at.e = e;
    return true;
  }

  /** A cursor over the run's entries. */
  cursor(): RunCursor { return new RunCursor(this); }

  /** Every block of the run, for scrub. */
  *blocks(): Generator<{ ref: BlockRef; kind: BlockKind; damage: () => BlockDamage }> {
    for (let i = 0; i < this.meta.index.length; i++) {
      const top = this.meta.index[i]!;
      const next = this.meta.index[i + 1];
      const lo = hex(top.first); const hi = next ? hex(next.first) : '';
      yield { ref: top.ref, kind: BlockKind.Index, damage: () => ({ run: this.meta.id, block: top.ref.off, kind: 'index', lo, hi }) };
      let ib: IndexView;
      try { ib = this.indexBlock(i); } catch { continue; }
      for (let j = 0; j < ib.count; j++) {
        const r = ib.ref(j);
        const dlo = hex(ib.key(j)); const dhi = j + 1 < ib.count ? hex(ib.key(j + 1)) : hi;
        yield { ref: r, kind: BlockKind.Data, damage: () => ({ run: this.meta.id, block: r.off, kind: 'data', lo: dlo, hi: dhi }) };
      }
    }
    for (const r of this.meta.bloom) yield { ref: r, kind: BlockKind.Bloom, damage: () => ({ run: this.meta.id, block: r.off, kind: 'bloom', lo: '', hi: '' }) };
  }
}

/**
 * Bytes of one data block a `RunPoints` location can point into: a location is `g *
 * POINT_ENTRY_LIMIT + o` (fence g, the entry's byte offset o in the block; fences are at most
 * RUN_FENCE_MAX_BLOCKS, so it fits an int32). A run with a larger block has no point list.
 */
export const POINT_ENTRY_LIMIT = 1 << 17;
/** Data blocks of a run's point list made per step (`Run.pointSteps`: ~2-3 ms at ~20 versions per block). */
export const POINT_LIST_STEP_BLOCKS = 64;
/** Bytes of `Run.preloadPointBlocks`' reused scratch: the most one call reads (a step's blocks, with the gaps its reads span). */
const POINT_SPAN_MAX_BYTES = 512 * 1024;
/** Largest gap between two wanted blocks that one read still spans (read and ignored: cheaper than a second read). */
const POINT_SPAN_MAX_GAP_BYTES = 64 * 1024;
/** The reused buffer of `Run.preloadPointBlocks`' reads (its bytes are checked and copied out in the same call). */
let spanScratch: Uint8Array = new Uint8Array(0);
/** A check's damage report that nobody reads (`preloadPointBlocks` leaves a failing block to `fenceBlock`). */
const noDamage = (): BlockDamage => ({ run: 0, block: 0, kind: 'data', lo: '', hi: '' });
/** Bytes before an entry's key: `[klen u16][vlen u32]`. */
export const ENTRY_HEADER = 6;

/**
 * The newest single-value version of every akey a run holds, as flat arrays (index i: one akey):
 * the bloom hashes of its lookup prefix (`bloomProbe`: the same two hashes a point read computes),
 * where its entry is (`loc`: fence and byte offset, see POINT_ENTRY_LIMIT) and its stamp (epoch as two
 * u32 halves, sequence number), so a store can index its runs' newest versions without reading
 * their blocks again (see reads.ts `PointIndex`).
 */
export interface RunPoints {
  count: number;
  h1: Int32Array; h2: Int32Array; loc: Int32Array;
}

function samePrefixBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** An index block read in place: entry j is (first key of data block j, its reference). */
export class IndexView {
  constructor(private readonly v: BlockView) {}
  get count(): number { return this.v.count; }
  key(j: number): Uint8Array { return this.v.key(j); }
  /** Key j against the first `klen` bytes of `k` (see BlockView.compareAt). */
  compareAt(j: number, k: Uint8Array, klen = k.length): number { return this.v.compareAt(j, k, klen); }
  /** First entry whose key is > the first `klen` bytes of `k` (see BlockView.upperBound). */
  upperBound(k: Uint8Array, klen = k.length): number { return this.v.upperBound(k, klen); }
  private readonly refs: Array<BlockRef | undefined> = [];
  /** The verified-cache entry last found for data block j (`Run.dataBlock` checks it is still live). */
  readonly blocks: Array<VerifiedBlock | undefined> = [];
  /** `ref(j)` decoded once per cached index block (a lookup per get must not decode it again). */
  refAt(j: number): BlockRef { return this.refs[j] ??= this.ref(j); }
  ref(j: number): BlockRef {
    const val = this.v.value(j);
    const dv = new DataView(val.buffer, val.byteOffset, 20);
    return { off: dv.getUint32(0, true) + dv.getUint32(4, true) * 4294967296, len: dv.getUint32(8, true), csum: dv.getBigUint64(12, true) };
  }
}

/** `a` against the first `klen` bytes of `k` in byte order (in place; `Buffer.compare` costs a native call per comparison). */
function comparePrefix(a: Uint8Array, k: Uint8Array, klen: number): number {
  const n = a.length < klen ? a.length : klen;
  for (let j = 0; j < n; j++) { const d = a[j]! - k[j]!; if (d !== 0) return d; }
  return a.length - klen;
}

/** Where a seek landed in a run: index block i, its data block j (viewed as `blk`), entry e of it. */
export interface RunPosition { i: number; j: number; e: number; blk: BlockView | undefined }

/**
 * A reusable position for point lookups (`Run.seekTo`): the entry's key and value are read in
 * place from `blk` (valid until the next await).
 */
export class RunPoint implements RunPosition {
  i = 0; j = 0; e = 0;
  blk: BlockView | undefined = undefined;
}

/** Position in a run: index block, data block, entry. Used synchronously (views into verified blocks). */
export class RunCursor implements RunPosition {
  // (RunPosition, written by `Run.seekTo`; kept in the declarations, which must still implement it)
  /** Index block. */
  i = 0;
  /** Data block of index block `i`. */
  j = 0;
  /** Entry of data block `j`. */
  e = 0;
  /** Data block `j`, viewed. */
  blk: BlockView | undefined;
  valid = false;

  constructor(private readonly run: Run) {}

  /** Position at the first entry with key >= k. */
  seek(k: Uint8Array): this {
    this.valid = this.run.seekTo(k, k.length, this);
    return this;
  }

  /** Position at the last entry with key < k (k undefined: the last entry). */
  seekBefore(k: Uint8Array | undefined): this {
    if (k === undefined) return this.seekLast();
    this.seek(k);
    if (this.valid) return this.prev();
    return this.seekLast();
  }

  seekFirst(): this { this.i = 0; this.j = 0; this.load(); this.e = 0; this.settleForward(); return this; }

  seekLast(): this {
    this.i = this.run.meta.index.length - 1;
    const ib = this.run.indexBlock(this.i);
    this.j = ib.count - 1;
    this.load();
    this.e = this.blk!.count - 1;
    this.valid = this.e >= 0;
    return this;
  }

  key(): Uint8Array { return this.blk!.key(this.e); }
  value(): Uint8Array { return this.blk!.value(this.e); }

  next(): this { this.e++; this.settleForward(); return this; }

  prev(): this {
    this.e--;
    while (this.e < 0) {
      if (this.j > 0) this.j--;
      else if (this.i > 0) { this.i--; this.j = this.run.indexBlock(this.i).count - 1; }
      else { this.valid = false; return this; }
      this.load();
      this.e = this.blk!.count - 1;
    }
    this.valid = true;
    return this;
  }

  private load(): void { this.blk = this.run.dataBlock(this.i, this.j); }

  private settleForward(): void {
    while (this.e >= this.blk!.count) {
      const ib = this.run.indexBlock(this.i);
      if (this.j + 1 < ib.count) this.j++;
      else if (this.i + 1 < this.run.meta.index.length) { this.i++; this.j = 0; }
      else { this.valid = false; return; }
      this.load();
      this.e = 0;
    }
    this.valid = true;
  }
}
