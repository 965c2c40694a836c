/**
 * A flush job's fast path: a frozen log region of single-value updates written straight into a
 * sorted run, without rebuilding its memtable. The records' run keys are built into one buffer,
 * sorted there, and written in order, with the entries `flushMemtable` would write for the same
 * region (same keys, values, sequence numbers and bloom probes). Rebuilding the memtable on the
 * worker (a decoded record, a version object, key strings and tree nodes per update, all garbage
 * once the run is written) was as much work as writing the run, on a machine whose two cores the
 * writers and the flushes share.
 *
 * It applies when every record of the region is a single-value update or a container record, and
 * no container rule of the job (destroyed, discards, an aggregation in force) covers the region;
 * anything else takes the memtable path (`logFlushSteps` answers undefined).
 */
import { FLUSH_STEP_ENTRIES, VERSION_CHECKED, VERSION_VALUE_BYTES, type ContainerRules } from './merge.js';
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from './constants.js';
import { KeyBuilder, SECTION_DATA, SECTION_OBJECTS, TAG_KEY, TAG_SINGLE, escInto, u32Into } from './keys.js';
import { NO_PROBES, bloomProbeInto, type BloomProbe, type RunWriter } from './run.js';
import { REGION_HEADER, WAL_HEADER, WalEncoder, WalType, Where, walRecordLength, emptyViews, type FrozenRegion } from './wal.js';
import type { ExtentList } from './allocator.js';

/** Bytes of a data key before its dkey: container, section, unit object id, tag. */
const OBJ_KEY_BYTES = 4 + 1 + 24;
/** Bytes of a version key after its akey's escaped bytes: tag, inverted epoch, inverted sequence number. */
const STAMP_KEY_BYTES = 1 + 8 + 8;

/**
 * This thread's key builder and object-key buffer, reused by its next flush (see `merge-job.ts`'s
 * region buffer): the versions' keys are built back to back in one builder, the object table's in
 * the buffer. The run writer keeps views of them (its first and last key, its index's first keys)
 * only until the job's descriptor is packed, which copies them.
 */
let keys = new KeyBuilder();
let objBuf = new Uint8Array(16 * 1024);
/** Longest key buffer kept for the next flush. */
const KEY_BUF_REUSE_MAX_BYTES = 8 * 1024 * 1024;

/**
 * Let this thread's key and object-key buffers go (the main thread after a recovery at open,
 * which flushes there once: a flush worker keeps them for its next job).
 */
export function releaseFlushBuffers(): void {
  keys = new KeyBuilder();
  objBuf = new Uint8Array(16 * 1024);
}

/**
 * The steps of writing region `view` (read from absolute offset `f.base`, records up to `f.end`)
 * into `w`, or undefined when the region needs the memtable path. Throws `'replay'` (via
 * `replayFailed`) when the region does not hold exactly the `f.records` updates the store applied.
 * Data extents of versions a flush drops go to `freed`, as `flushMemtable` frees them.
 */
export function logFlushSteps(view: Uint8Array, f: FrozenRegion & { records: number }, w: RunWriter, rules: (cont: number) => ContainerRules | undefined, freed: ExtentList, replayFailed: () => never): Generator<void, number> | undefined {
  // (each pass over the records is a function of its own: in one function, a pass's long loop was
  // compiled on stack (OSR) before the passes after it had run, and that code was thrown away at
  // the first of them: 8-9 deoptimisations of it in a process's first 200k puts, each one a
  // recompile of the whole function; 1-2 of its parts now)
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const base = f.base;
  // 1. the records: valid up to exactly f.end, single-value updates and container records only
  const at: number[] = []; // offsets (in view) of the updates
  const seqs: number[] = [];
  if (!scanRecords(view, dv, f, rules, replayFailed, at, seqs)) return undefined;
  if (at.length !== f.records) replayFailed();
  // 2. their run keys, back to back
  const n = at.length;
  const keyAt = new Int32Array(n + 1);
  keys.reset();
  buildKeys(view, dv, at, seqs, keyAt, keys);
  keyAt[n] = keys.length;
  const kb = keys.raw(); // (complete: the builder grows no more in this job)
  // 3. sorted: every key shares its first `lcp` bytes with the first one (the container, the
  // section and the ids' high bytes, mostly), so a compare starts there, and first on the next
  // four bytes read once per key as a number (a byte-by-byte compare from byte 0 was most of the sort)
  const lcp = commonPrefix(kb, keyAt, n);
  const order = sortedOrder(kb, keyAt, n, lcp, wordsAfter(kb, keyAt, n, lcp));
  if (objBuf.length < n * OBJ_KEY_BYTES) objBuf = new Uint8Array(Math.max(2 * objBuf.length, n * OBJ_KEY_BYTES));
  const steps = write(kb, objBuf, view, base, at, seqs, keyAt, order, lcp, w);
  // (the steps hold their own references)
  if (kb.length > KEY_BUF_REUSE_MAX_BYTES) keys = new KeyBuilder();
  if (objBuf.length > KEY_BUF_REUSE_MAX_BYTES) objBuf = new Uint8Array(16 * 1024);
  void freed; // (nothing this path writes is dropped with an extent: see the note on singles at one epoch in `write`)
  return steps;
}

/**
 * Step 1: the offsets in `view` of the region's single-value updates into `at`, their sequence
 * numbers into `seqs`; false when a record or a container rule needs the memtable path.
 */
function scanRecords(view: Uint8Array, dv: DataView, f: FrozenRegion, rules: (cont: number) => ContainerRules | undefined, replayFailed: () => never, at: number[], seqs: number[]): boolean {
  const base = f.base;
  let seq = f.startSeq;
  let lastCont = -1;
  for (let pos = base + REGION_HEADER; pos < f.end;) {
    const len = walRecordLength(view, dv, base, pos, f.end, f.gen);
    if (len === 0) replayFailed();
    const a = pos - base;
    const type = view[a + 5]!;
    if (type === WalType.UpdateSingle) {
      const cont = dv.getUint32(a + 24, true);
      if (cont !== lastCont) {
        const r = rules(cont);
        if (r && (r.destroyed || r.tombs.length > 0 || r.aggregate)) return false;
        lastCont = cont;
      }
      at.push(a); seqs.push(seq);
    } else if (type === WalType.UpdateArray || type === WalType.Punch) return false;
    seq++;
    pos += len;
  }
  return true;
}

/**
 * Step 2: the run key of each update at `at[i]` into `keys`, back to back, its start at
 * `keyAt[i]`:
 * [cont][SECTION_DATA][oid][TAG_KEY][dkey esc][TAG_KEY][akey esc][TAG_SINGLE][~epoch][~seq].
 */
function buildKeys(view: Uint8Array, dv: DataView, at: number[], seqs: number[], keyAt: Int32Array, keys: KeyBuilder): void {
  const n = at.length;
  for (let i = 0; i < n; i++) {
    const a = at[i]!;
    const m = a + WAL_HEADER;
    const dk = dv.getUint16(m + 70, true); const ak = dv.getUint16(m + 72, true);
    const start = keys.length;
    keyAt[i] = start;
    // one pass into room made once (escaping at most doubles a key's bytes, plus its terminator)
    const b = keys.reserve(OBJ_KEY_BYTES + 1 + 2 * dk + 2 + 1 + 2 * ak + 2 + STAMP_KEY_BYTES);
    let p = start;
    const cont = dv.getUint32(a + 24, true);
    p = u32Into(b, p, cont);
    b[p++] = SECTION_DATA;
    for (let j = 23; j >= 0; j--) b[p++] = view[m + j]!; // the oid's 24 little-endian bytes, reversed: big-endian
    b[p++] = TAG_KEY;
    p = escInto(b, p, view, m + 80, dk);
    b[p++] = TAG_KEY;
    p = escInto(b, p, view, m + 80 + dk, ak);
    b[p++] = TAG_SINGLE;
    p = u32Into(b, p, ~dv.getUint32(a + 20, true) >>> 0); // 2^64-1-epoch
    p = u32Into(b, p, ~dv.getUint32(a + 16, true) >>> 0);
    const seq = seqs[i]!; // 2^64-1-seq for a safe-integer seq
    p = u32Into(b, p, (0xffffffff - Math.floor(seq / 4294967296)) >>> 0);
    p = u32Into(b, p, (0xffffffff - (seq >>> 0)) >>> 0);
    keys.extend(p - start);
  }
  // (nothing after the loop: code compiled on stack for it (OSR) that met an operation here never
  // run before was thrown away there at every flush, 110 times in one run)
}

/** Step 3's sort words: bytes [lcp, lcp+4) of each key, big-endian, zeros past a key's end. */
function wordsAfter(kb: Uint8Array, keyAt: Int32Array, n: number, lcp: number): Uint32Array {
  const word = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const s = keyAt[i]! + lcp; const e = keyAt[i + 1]!;
    word[i] = (((s < e ? kb[s]! : 0) << 24) | ((s + 1 < e ? kb[s + 1]! : 0) << 16) | ((s + 2 < e ? kb[s + 2]! : 0) << 8) | (s + 3 < e ? kb[s + 3]! : 0)) >>> 0;
  }
  return word;
}

/**
 * 4. the entries in key order: each container's object table, then its versions, a single hidden
 * at its own epoch dropped. Every key starts with the same `lcp` bytes: compares of key prefixes
 * start past them.
 */
function* write(kb: Uint8Array, ob: Uint8Array, view: Uint8Array, base: number, at: number[], seqs: number[], keyAt: Int32Array, order: number[], lcp: number, w: RunWriter): Generator<void, number> {
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const scratch = new ValueScratch();
  const EMPTY = new Uint8Array(0);
  const objProbe: BloomProbe = { h1: 0, h2: 0 }; const akeyProbe: BloomProbe = { h1: 0, h2: 0 };
  const bothProbes: readonly BloomProbe[] = [akeyProbe, objProbe];
  let written = 0;
  const n = order.length;
  let o = 0; // next object key in ob
  const cs = Math.min(lcp, 4); // (skips of the container's, the object's and the id's bytes every key shares)
  const os = Math.min(lcp, OBJ_KEY_BYTES);
  const is = Math.max(0, os - 5);
  for (let g = 0; g < n;) {
    // one container: [g, e)
    const c0 = keyAt[order[g]!]!;
    let e = g + 1;
    while (e < n && compareAt(kb, c0 + cs, c0 + 4, keyAt[order[e]!]! + cs, keyAt[order[e]!]! + 4) === 0) e++;
    // its object table: one entry per object, in oid order (the versions' order)
    let prevObj = -1;
    for (let i = g; i < e; i++) {
      const ka = keyAt[order[i]!]!;
      if (prevObj >= 0 && compareAt(kb, prevObj + 5 + is, prevObj + OBJ_KEY_BYTES, ka + 5 + is, ka + OBJ_KEY_BYTES) === 0) continue;
      prevObj = ka;
      for (let j = 0; j < OBJ_KEY_BYTES; j++) ob[o + j] = kb[ka + j]!; // (no view made to copy it)
      ob[o + 4] = SECTION_OBJECTS;
      const key = ob.subarray(o, o + OBJ_KEY_BYTES);
      o += OBJ_KEY_BYTES;
      w.add(key, EMPTY, 0, NO_PROBES);
      if (++written % FLUSH_STEP_ENTRIES === 0) yield;
    }
    // its versions
    let objAt = -1;
    let akAt = -1; let akLen = 0; let probes: readonly BloomProbe[] = NO_PROBES;
    for (let i = g; i < e; i++) {
      const r = order[i]!;
      const ka = keyAt[r]!; const kl = keyAt[r + 1]! - ka;
      const prefix = kl - STAMP_KEY_BYTES; // through the akey's terminator
      const ps = prefix < lcp ? prefix : lcp;
      const sameAkey = akAt >= 0 && prefix === akLen && compareAt(kb, akAt + ps, akAt + akLen, ka + ps, ka + prefix) === 0;
      // a single at the epoch of the one before it (higher seq) was replaced in the memtable, which freed its extent then
      if (sameAkey && compareAt(kb, akAt + akLen + 1, akAt + akLen + 9, ka + prefix + 1, ka + prefix + 9) === 0) continue;
      const key = kb.subarray(ka, ka + kl);
      if (!sameAkey) {
        if (objAt < 0 || compareAt(kb, objAt + os, objAt + OBJ_KEY_BYTES, ka + os, ka + OBJ_KEY_BYTES) !== 0) { bloomProbeInto(key, OBJ_KEY_BYTES, objProbe); objAt = ka; }
        bloomProbeInto(key, prefix, akeyProbe);
        probes = bothProbes; // (reused: the writer copies a probe's words when it is given it)
      }
      akAt = ka; akLen = prefix;
      w.add(key, scratch.encode(view, dv, at[r]!, base), seqs[r]!, probes);
      if (++written % FLUSH_STEP_ENTRIES === 0) yield;
    }
    g = e;
  }
  return written;
}

/** Records a sort by number takes (an index packed below its key's word in a double: 2^21 of them). */
const PACKED_MAX = 1 << 21;

/**
 * The record numbers in key order: by `word` (the 4 key bytes after the `lcp` every key shares)
 * in a typed-array sort, with no call back into JavaScript per compare; records of one word (keys
 * alike there, or ending there) are then put in order by their bytes, and then their lengths.
 */
function sortedOrder(kb: Uint8Array, keyAt: Int32Array, n: number, lcp: number, word: Uint32Array): number[] {
  const order = new Array<number>(n);
  const byBytes = (x: number, y: number): number => compareAt(kb, keyAt[x]! + lcp, keyAt[x + 1]!, keyAt[y]! + lcp, keyAt[y + 1]!);
  if (n > PACKED_MAX) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((x, y) => (word[x]! - word[y]!) || byBytes(x, y));
  }
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = word[i]! * PACKED_MAX + i;
  packed.sort();
  for (let i = 0; i < n; i++) order[i] = packed[i]! % PACKED_MAX;
  for (let i = 0; i < n;) {
    const w = word[order[i]!]!;
    let j = i + 1;
    while (j < n && word[order[j]!] === w) j++;
    if (j - i > 1) {
      const run = order.slice(i, j).sort(byBytes);
      for (let k = 0; k < run.length; k++) order[i + k] = run[k]!;
    }
    i = j;
  }
  return order;
}

/** Bytes every key `b[keyAt[i], keyAt[i+1])`, i < n, shares with the first (at most the shortest key's length). */
function commonPrefix(b: Uint8Array, keyAt: Int32Array, n: number): number {
  if (n === 0) return 0;
  const k0 = keyAt[0]!;
  let lcp = keyAt[1]! - k0;
  for (let i = 1; i < n && lcp > 0; i++) {
    const ki = keyAt[i]!;
    const m = Math.min(lcp, keyAt[i + 1]! - ki);
    let j = 0;
    while (j < m && b[k0 + j] === b[ki + j]) j++;
    lcp = j;
  }
  return lcp;
}

/**
 * Byte order of `b[x0, x1)` and `b[y0, y1)`. Every arithmetic operation runs on every call (the
 * lengths' difference is taken up front): optimised code never meets an operation it has no type
 * feedback for. An engine's flush worker deoptimised this 995 times in one run ("insufficient
 * type feedback for binary operation") when the equal-prefix return was first reached late.
 */
function compareAt(b: Uint8Array, x0: number, x1: number, y0: number, y1: number): number {
  const lx = x1 - x0, ly = y1 - y0;
  const tail = lx - ly;
  const n = lx < ly ? lx : ly;
  for (let i = 0; i < n; i++) {
    const d = b[x0 + i]! - b[y0 + i]!;
    if (d !== 0) return d;
  }
  return tail;
}

/**
 * A single's run entry value (merge.ts `putVersion`'s layout) made from its log record at `a` in
 * `view` (absolute offset `base + a`), into a buffer reused per entry: the checksum and the
 * locations are copied as they are in the record (no BigInt per entry), the inline value once.
 */
/** Lengths of value scratch views kept (`ValueScratch.views`). */
const VIEW_CACHE_MAX = 1024;

class ValueScratch {
  private buf = new Uint8Array(VERSION_VALUE_BYTES + 4096);
  private dv = new DataView(this.buf.buffer);
  /** Views of the first n < VIEW_CACHE_MAX bytes of `buf`, by n (made whole: see `WalEncoder.views`). */
  private views = emptyViews(VIEW_CACHE_MAX);

  encode(view: Uint8Array, rec: DataView, a: number, base: number): Uint8Array {
    const m = a + WAL_HEADER;
    const len = rec.getUint32(m + 52, true);
    const inWal = view[m + 68] === Where.Wal;
    const n = VERSION_VALUE_BYTES + (inWal ? len : 0);
    if (n > this.buf.length) { this.buf = new Uint8Array(n); this.dv = new DataView(this.buf.buffer); this.views = emptyViews(VIEW_CACHE_MAX); }
    const b = this.buf, dv = this.dv;
    let flags = 0;
    if (inWal) {
      const off = a + WalEncoder.inlineOffset(rec.getUint16(m + 70, true), rec.getUint16(m + 72, true));
      const inline = view.subarray(off, off + len);
      b.set(inline, VERSION_VALUE_BYTES);
      // checked: the bytes hash to the record's checksum (compared as bytes: the hash written over the slot first)
      dv.setBigUint64(8, xxh64(inline, CSUM_SEED), true);
      if (dv.getUint32(8, true) === rec.getUint32(m + 24, true) && dv.getUint32(12, true) === rec.getUint32(m + 28, true)) flags = VERSION_CHECKED;
      const loc = base + off;
      dv.setUint32(16, loc % 4294967296, true); dv.setUint32(20, Math.floor(loc / 4294967296), true);
      dv.setUint32(24, 0, true);
    } else {
      dv.setUint32(16, rec.getUint32(m + 56, true), true); dv.setUint32(20, rec.getUint32(m + 60, true), true);
      dv.setUint32(24, rec.getUint32(m + 64, true), true);
    }
    dv.setUint32(0, (inWal ? Where.Run : Where.Block) | (flags << 8), true); // where, flags, then 2 zero bytes
    dv.setUint32(4, len, true);
    dv.setUint32(8, rec.getUint32(m + 24, true), true); dv.setUint32(12, rec.getUint32(m + 28, true), true);
    for (let i = 28; i < VERSION_VALUE_BYTES; i += 4) dv.setUint32(i, 0, true); // recordSize, index, count: a single's are 0
    let v = this.views[n];
    if (v === undefined) { v = b.subarray(0, n); if (n < VIEW_CACHE_MAX) this.views[n] = v; }
    return v;
  }
}
