/**
 * Writing runs: a frozen memtable flushed as a run, and several runs merged into one
 * (compaction). Both stream entries in key order into a `RunWriter`; on the way, a merge drops
 * what no read can see any more:
 *   - everything of a destroyed container;
 *   - versions and punches a discard (rollback, aborted commit) removed;
 *   - a version hidden at its own epoch by a newer one (always safe);
 *   - with an aggregation policy for the container (`aggregate(upTo, keep)`): versions and
 *     punches no read at a kept epoch or at an epoch >= upTo - 1 can see. Punches are dropped
 *     only by a merge of every run (a punch also hides older data in runs outside the merge).
 * Data-file extents of dropped versions are returned for release once the result is committed.
 */
import { assert } from '../../core/errors.js';
import { xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from './constants.js';
import { Where } from './wal.js';
import type { ExtentList } from './allocator.js';
import type { MemVersion, MemPunch, Memtable, MemObject, MemDkey, MemAkey } from './memtable.js';
import { solo, sortedAkeys, sortedDkeys } from './memtable.js';
import {
  KeyBuilder, SECTION_DATA, SECTION_OBJECTS, TAG_ARRAY, TAG_KEY, TAG_PUNCH, TAG_SINGLE, compareKeys, keyShape, keyStamp, keyCont, keyEpoch, keySeq, copyKey,
} from './keys.js';
import { NO_PROBES, bloomProbe, bloomProbePrefix, type BloomProbe, type Run, type RunCursor, type RunSink, type RunWriter } from './run.js';
import { before, covered, type Range, type Stamp } from './tree.js';

/** Bytes of a version entry's fixed header (an inline value follows). */
export const VERSION_VALUE_BYTES = 48;

/** Flag (byte 1 of a version entry): its inline bytes matched its checksum when written into a run. */
export const VERSION_CHECKED = 1;

/**
 * Write version `v`'s entry value (header, then the inline bytes if any) at the start of `dv`'s
 * buffer. Inline bytes are checked against the version's checksum on their way in (values from
 * the log were never checked since they were written there); only bytes that match are flagged
 * `checked`, so a byte flipped in the log is still reported by the read that meets it.
 */
function putVersion(dv: DataView, out: Uint8Array, v: MemVersion, inline: Uint8Array | undefined, loc: number): void {
  const checked = inline !== undefined && (v.checked === true || xxh64(inline, CSUM_SEED) === v.csum);
  dv.setUint32(0, (inline ? Where.Run : Where.Block) | (checked ? VERSION_CHECKED << 8 : 0), true); // where, flags, then 2 zero bytes
  dv.setUint32(4, v.len, true);
  dv.setBigUint64(8, v.csum, true);
  dv.setUint32(16, loc % 4294967296, true); dv.setUint32(20, Math.floor(loc / 4294967296), true);
  dv.setUint32(24, v.alloc, true);
  dv.setUint32(28, v.recordSize, true);
  dv.setUint32(32, v.index % 4294967296, true); dv.setUint32(36, Math.floor(v.index / 4294967296), true);
  dv.setUint32(40, v.count % 4294967296, true); dv.setUint32(44, Math.floor(v.count / 4294967296), true);
  if (inline) out.set(inline, VERSION_VALUE_BYTES);
}

/** Encode a version as a run entry value (`inline`: the value bytes when they live in the run; `loc`: its data-file offset otherwise). */
export function encodeVersion(v: MemVersion, inline: Uint8Array | undefined, loc = v.loc): Uint8Array {
  const out = new Uint8Array(VERSION_VALUE_BYTES + (inline?.length ?? 0));
  putVersion(new DataView(out.buffer), out, v, inline, loc);
  return out;
}

/**
 * `encodeVersion` into a buffer the caller owns and reuses: the view is valid until the next call
 * with that buffer. Each memtable stream has its own: a stream's consumer may hold the value while
 * it yields (a fold steps between macrotasks), and another store's stream on the same thread would
 * overwrite a shared one meanwhile.
 */
export class VersionScratch {
  private buf = new Uint8Array(VERSION_VALUE_BYTES + 4096);
  private dv = new DataView(this.buf.buffer);
  encode(v: MemVersion, inline: Uint8Array | undefined, loc: number): Uint8Array {
    const n = VERSION_VALUE_BYTES + (inline?.length ?? 0);
    if (n > this.buf.length) { this.buf = new Uint8Array(n); this.dv = new DataView(this.buf.buffer); }
    putVersion(this.dv, this.buf, v, inline, loc);
    return this.buf.subarray(0, n);
  }
}

/** Decode a version entry value (epoch and seq come from the key). `copyInline`: copy the value bytes out. Undefined when malformed. */
export function decodeVersion(val: Uint8Array, epoch: bigint, seq: number, copyInline: boolean): MemVersion | undefined {
  const v = decodeVersionAt(new DataView(val.buffer, val.byteOffset, val.byteLength), val, 0, val.length, epoch, seq);
  if (copyInline && v?.inline) v.inline = v.inline.slice();
  return v;
}

const NO_BYTES = new Uint8Array(0);
const NO_BYTES_DV = new DataView(NO_BYTES.buffer);

/**
 * A run-inline version a point read decoded in place (one object, reused by every point read:
 * valid until the next one). Its value and checksum stay where they are in the block until asked
 * for: `inline` makes a view of them, `csum` reads the checksum (a BigInt), and a read whose
 * version is `checked` copies the value straight out of `bytes` at `at` (`copyValueFrom`) and needs
 * neither (a view and a BigInt less per small get).
 */
export class PointVersion implements MemVersion {
  epoch = 0n; seq = 0; len = 0; where: Where = Where.Run; loc = 0; alloc = 0; index = 0; count = 0; recordSize = 0;
  checked: boolean | undefined = undefined;
  /** The block's bytes (and `dv`, their view) holding the entry value; the value starts at `at`. */
  bytes: Uint8Array = NO_BYTES;
  dv: DataView = NO_BYTES_DV;
  at = 0;
  get csum(): bigint { return this.dv.getBigUint64(this.at - VERSION_VALUE_BYTES + 8, true); }
  get inline(): Uint8Array { return this.bytes.subarray(this.at, this.at + this.len); }
}

/**
 * Decode the version entry value at `bytes[off, off+len)` in place (`dv` views `bytes` from its
 * start); undefined when malformed. An inline version's bytes view `bytes`; it is decoded into
 * `inlineInto` when given (a point read's reused object, which keeps the bytes' place instead), every
 * other version into a new object.
 */
export function decodeVersionAt(dv: DataView, bytes: Uint8Array, off: number, len: number, epoch: bigint, seq: number, inlineInto?: PointVersion): MemVersion | undefined {
  if (len < VERSION_VALUE_BYTES) return undefined;
  const where = dv.getUint8(off);
  const vlen = dv.getUint32(off + 4, true);
  if (where === Where.Run ? len !== VERSION_VALUE_BYTES + vlen : where === Where.Block ? len !== VERSION_VALUE_BYTES : true) return undefined;
  const loc = dv.getUint32(off + 16, true) + dv.getUint32(off + 20, true) * 4294967296, alloc = dv.getUint32(off + 24, true), recordSize = dv.getUint32(off + 28, true);
  const index = dv.getUint32(off + 32, true) + dv.getUint32(off + 36, true) * 4294967296, count = dv.getUint32(off + 40, true) + dv.getUint32(off + 44, true) * 4294967296;
  if (where !== Where.Run) return { epoch, seq, where, len: vlen, csum: dv.getBigUint64(off + 8, true), loc, alloc, recordSize, index, count };
  if (inlineInto !== undefined) {
    const v = inlineInto;
    v.epoch = epoch; v.seq = seq; v.where = where; v.len = vlen; v.loc = loc; v.alloc = alloc; v.recordSize = recordSize; v.index = index; v.count = count;
    v.bytes = bytes; v.dv = dv; v.at = off + VERSION_VALUE_BYTES;
    v.checked = (dv.getUint8(off + 1) & VERSION_CHECKED) !== 0;
    return v;
  }
  const v: MemVersion = { epoch, seq, where, len: vlen, csum: dv.getBigUint64(off + 8, true), loc, alloc, recordSize, index, count };
  v.inline = bytes.subarray(off + VERSION_VALUE_BYTES, off + VERSION_VALUE_BYTES + vlen);
  if ((dv.getUint8(off + 1) & VERSION_CHECKED) !== 0) v.checked = true;
  else if (v.checked !== undefined) v.checked = false;
  return v;
}

/**
 * Add the data-file extent a version entry value points at to `freed` (none when inline,
 * malformed or nothing allocated): what a merge frees when it drops a version, without decoding
 * it. Returns the bytes freed.
 */
function freeBlockOf(val: Uint8Array, freed: ExtentList): number {
  if (val.length !== VERSION_VALUE_BYTES || val[0] !== Where.Block) return 0;
  const alloc = u32le(val, 24);
  if (alloc > 0) freed.push(u32le(val, 16) + u32le(val, 20) * 4294967296, alloc);
  return alloc;
}

/** The little-endian u32 at `at` of `b` (no closure: this runs per merged entry). */
function u32le(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/** One entry on its way into a run. */
export interface Entry { key: Uint8Array; value: Uint8Array; seq: number }

/** A source of entries in ascending key order. */
export type EntrySource = Iterator<Entry>;

const kb = new KeyBuilder();
const EMPTY = new Uint8Array(0);

/**
 * The entries of a frozen memtable, in key order. `inlineAt(loc, len)` reads a log-resident value
 * (copied into the run, so the log region can be reused).
 */
export function* memtableEntries(mt: Memtable, inlineAt: (loc: number, len: number) => Uint8Array): Generator<Entry> {
  for (const cont of [...mt.conts.keys()].sort((a, b) => a - b)) {
    const mc = mt.conts.get(cont)!;
    const nodes = mc.sortedObjects();
    for (const o of nodes) yield { key: kb.reset().u32(cont).u8(SECTION_OBJECTS).oid(o.oid).take(), value: EMPTY, seq: 0 };
    for (const o of nodes) yield* objectEntries(cont, o, inlineAt);
  }
}

function punchesDesc(ps: MemPunch[]): MemPunch[] {
  return ps.slice().sort((a, b) => (before(a, b) ? 1 : before(b, a) ? -1 : 0));
}
function versionsDesc(vs: MemVersion[]): MemVersion[] {
  return vs.slice().sort((a, b) => (before(a, b) ? 1 : before(b, a) ? -1 : 0));
}

function* objectEntries(cont: number, o: MemObject, inlineAt: (loc: number, len: number) => Uint8Array): Generator<Entry> {
  const obj = kb.reset().u32(cont).u8(SECTION_DATA).oid(o.oid).take();
  for (const p of punchesDesc(o.punches)) yield { key: kb.reset().bytes(obj).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: EMPTY, seq: p.seq };
  for (const d of sortedDkeys(o)) yield* dkeyEntries(obj, d, inlineAt);
}

function* dkeyEntries(obj: Uint8Array, d: MemDkey, inlineAt: (loc: number, len: number) => Uint8Array): Generator<Entry> {
  const dk = kb.reset().bytes(obj).u8(TAG_KEY).esc(d.key).take();
  for (const p of punchesDesc(d.punches)) yield { key: kb.reset().bytes(dk).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: EMPTY, seq: p.seq };
  for (const a of sortedAkeys(d)) yield* akeyEntries(dk, a, inlineAt);
}

function* akeyEntries(dk: Uint8Array, a: MemAkey, inlineAt: (loc: number, len: number) => Uint8Array): Generator<Entry> {
  const ak = kb.reset().bytes(dk).u8(TAG_KEY).esc(a.key).take();
  for (const p of punchesDesc(a.punches)) yield { key: kb.reset().bytes(ak).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: EMPTY, seq: p.seq };
  const val = (v: MemVersion) => encodeVersion(v, v.where === Where.Wal ? inlineAt(v.loc, v.len) : v.where === Where.Run ? v.inline : undefined);
  for (const v of versionsDesc(a.singles)) yield { key: kb.reset().bytes(ak).u8(TAG_SINGLE).inv64(v.epoch).invSeq(v.seq).take(), value: val(v), seq: v.seq };
  for (const v of versionsDesc(a.extents)) yield { key: kb.reset().bytes(ak).u8(TAG_ARRAY).inv64(v.epoch).invSeq(v.seq).take(), value: val(v), seq: v.seq };
}

/** The entries of a run in key order (views valid until the next step). */
export function* runEntries(run: Run): Generator<Entry> {
  const c = run.cursor().seekFirst();
  while (c.valid) {
    const key = c.key();
    const shape = keyShape(key);
    yield { key, value: c.value(), seq: shape && shape.kind !== 'object' ? keyStamp(key).seq : 0 };
    c.next();
  }
}

/** Merge sources by key; an identical key from several sources is kept once (the first source's). */
export function* mergeSources(sources: EntrySource[]): Generator<Entry> {
  const heads: Array<Entry | undefined> = sources.map((s) => s.next().value as Entry | undefined);
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h && (best < 0 || compareKeys(h.key, heads[best]!.key) < 0)) best = i;
    }
    if (best < 0) return;
    const out = heads[best]!;
    // copy: the source's view moves on
    const e = { key: out.key.slice(), value: out.value.slice(), seq: out.seq };
    for (let i = 0; i < heads.length; i++) {
      while (heads[i] && compareKeys(heads[i]!.key, e.key) === 0) heads[i] = sources[i]!.next().value as Entry | undefined;
    }
    yield e;
  }
}

/** Per-container rules a merge applies. */
export interface ContainerRules {
  destroyed: boolean;
  /** Discards: drop versions/punches with seq < seq and after < epoch <= upTo. */
  tombs: Array<{ after: bigint; upTo: bigint; seq: number }>;
  /** Aggregation policy, if one was requested. */
  aggregate?: { upTo: bigint; keep: bigint[] };
}

/** What a merge did, per container index (aggregate statistics). */
export interface MergeStats {
  versionsRemoved: number;
  punchesRemoved: number;
  dataBytesFreed: number;
  entriesIn: number;
  entriesOut: number;
}

/** Options of `writeMerged`. */
export interface MergeOptions {
  rules: (cont: number) => ContainerRules | undefined;
  /** Every run (and no memtable older than them) takes part: punches may be dropped. */
  full: boolean;
  /** Data extents freed by dropped versions (released after the commit). */
  freed: ExtentList;
  stats: Map<number, MergeStats>;
  /** Called every so many entries so the caller can yield to the event loop. */
  tick?: () => void;
}

type Pending = { key: Uint8Array; value: Uint8Array; seq: number; epoch: bigint; kind: string; v?: MemVersion };

/**
 * Streams entries (ascending keys) into `w`, applying the container rules: push entries one by one,
 * then `end()`. Groups the entries of one akey so hidden versions can be found; object and dkey
 * punches of the current object are kept while its entries stream by. Push-based so a caller can
 * yield to the event loop between entries.
 */
export class MergeSink {
  private objPunches: Stamp[] = [];
  private dkeyPunches: Stamp[] = [];
  private curObj: Uint8Array | undefined;
  private curDkey: Uint8Array | undefined;
  private group: Pending[] = [];
  private groupPath: Uint8Array | undefined;
  private objProbe: { path: Uint8Array; probe: BloomProbe } | undefined;

  constructor(private readonly w: RunSink, private readonly opts: MergeOptions) {}

  private statsOf(cont: number): MergeStats {
    let s = this.opts.stats.get(cont);
    if (!s) { s = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0 }; this.opts.stats.set(cont, s); }
    return s;
  }

  private objProbeOf(key: Uint8Array, objEnd: number): BloomProbe {
    const path = key.subarray(0, objEnd);
    if (!this.objProbe || compareKeys(this.objProbe.path, path) !== 0) this.objProbe = { path: path.slice(), probe: bloomProbe(path) };
    return this.objProbe.probe;
  }

  private emit(key: Uint8Array, value: Uint8Array, seq: number, probes: BloomProbe[]): void {
    this.w.add(key, value, seq, probes);
    this.statsOf(keyCont(key)).entriesOut++;
  }

  private dropVersion(cont: number, v: MemVersion | undefined): void {
    const s = this.statsOf(cont);
    s.versionsRemoved++;
    if (v && v.where === Where.Block && v.alloc > 0) { this.opts.freed.push(v.loc, v.alloc); s.dataBytesFreed += v.alloc; }
  }

  private flushGroup(): void {
    const group = this.group;
    if (!group.length) return;
    this.group = [];
    this.groupPath = undefined;
    const cont = keyCont(group[0]!.key);
    const rules = this.opts.rules(cont);
    const survivors = aggregateGroup(group, this.objPunches, this.dkeyPunches, rules, this.opts.full, (p) => {
      if (p.kind === 'akeyPunch') this.statsOf(cont).punchesRemoved++;
      else this.dropVersion(cont, p.v);
    });
    if (!survivors.length) return;
    const shape = keyShape(group[0]!.key)!;
    const probes = [bloomProbe(group[0]!.key.subarray(0, shape.akeyEnd)), this.objProbeOf(group[0]!.key, shape.objEnd)];
    for (const p of survivors) this.emit(p.key, p.value, p.seq, probes);
  }

  /** Take one entry (the key and value are copied if kept). */
  push(e: Entry): void {
    const shape = keyShape(e.key);
    assert(shape !== undefined, 'malformed key in a merge');
    const cont = keyCont(e.key);
    this.statsOf(cont).entriesIn++;
    const rules = this.opts.rules(cont);
    if (rules?.destroyed) {
      if (shape.kind === 'single' || shape.kind === 'array') this.dropVersion(cont, decodeVersion(e.value, 0n, 0, false));
      return;
    }
    if (shape.kind === 'object') { this.flushGroup(); this.emit(e.key, e.value, 0, []); return; }
    const { epoch, seq } = keyStamp(e.key);
    if (rules && rules.tombs.some((t) => seq < t.seq && epoch > t.after && epoch <= t.upTo)) {
      if (shape.kind === 'single' || shape.kind === 'array') this.dropVersion(cont, decodeVersion(e.value, epoch, seq, false));
      else this.statsOf(cont).punchesRemoved++;
      return;
    }
    const obj = e.key.subarray(0, shape.objEnd);
    if (!this.curObj || compareKeys(this.curObj, obj) !== 0) {
      this.flushGroup();
      this.curObj = obj.slice(); this.objPunches = []; this.dkeyPunches = []; this.curDkey = undefined;
    }
    if (shape.kind === 'objPunch') {
      this.flushGroup();
      this.objPunches.push({ epoch, seq });
      if (this.opts.full && rules?.aggregate && supersededPunch({ epoch, seq }, this.objPunches, [], [], rules.aggregate)) { this.statsOf(cont).punchesRemoved++; return; }
      this.emit(e.key, e.value, seq, [bloomProbe(e.key.subarray(0, e.key.length - 16)), this.objProbeOf(e.key, shape.objEnd)]);
      return;
    }
    const dk = e.key.subarray(0, shape.dkeyEnd);
    if (!this.curDkey || compareKeys(this.curDkey, dk) !== 0) { this.flushGroup(); this.curDkey = dk.slice(); this.dkeyPunches = []; }
    if (shape.kind === 'dkeyPunch') {
      this.flushGroup();
      this.dkeyPunches.push({ epoch, seq });
      if (this.opts.full && rules?.aggregate && supersededPunch({ epoch, seq }, this.objPunches, this.dkeyPunches, [], rules.aggregate)) { this.statsOf(cont).punchesRemoved++; return; }
      this.emit(e.key, e.value, seq, [bloomProbe(e.key.subarray(0, e.key.length - 16)), this.objProbeOf(e.key, shape.objEnd)]);
      return;
    }
    const path = e.key.subarray(0, shape.akeyEnd);
    if (!this.groupPath || compareKeys(this.groupPath, path) !== 0) { this.flushGroup(); this.groupPath = path.slice(); }
    const p: Pending = { key: e.key.slice(), value: e.value.slice(), seq, epoch, kind: shape.kind };
    if (shape.kind !== 'akeyPunch') p.v = decodeVersion(p.value, epoch, seq, false);
    this.group.push(p);
  }

  /** Write out what is still grouped. */
  end(): void { this.flushGroup(); }
}

/** Stream a whole synchronous source through a `MergeSink`. */
export function writeMerged(src: Iterable<Entry>, w: RunWriter, opts: MergeOptions): void {
  const sink = new MergeSink(w, opts);
  for (const e of src) sink.push(e);
  sink.end();
}

/** Whether punch `p` is superseded (a later punch of its or an enclosing scope hides at least as much at every view that sees it). */
function supersededPunch(p: Stamp, obj: Stamp[], dkey: Stamp[], akey: Stamp[], agg: { upTo: bigint; keep: bigint[] }): boolean {
  if (p.epoch >= agg.upTo) return false;
  const V = viewAt(p.epoch, agg);
  const floor = floorOf([...obj, ...dkey, ...akey], V);
  return before(p, floor);
}

function floorOf(ps: Stamp[], V: bigint): Stamp {
  let best: Stamp = { epoch: -1n, seq: -1 };
  for (const p of ps) if (p.epoch <= V && before(best, p)) best = p;
  return best;
}

/**
 * Whether a single at `epoch` is hidden by the next newer single of its akey (at `newer`): always
 * at the same epoch; under an aggregation policy, when the newer one is visible at the smallest
 * kept view at or above `epoch`. (Punches are the caller's.)
 */
function shadowed(epoch: bigint, newer: bigint | undefined, agg: { upTo: bigint; keep: bigint[] } | undefined): boolean {
  if (newer === undefined) return false;
  return newer === epoch || (agg !== undefined && epoch < agg.upTo && newer <= viewAt(epoch, agg));
}

/** The smallest kept view at or above `e` (views: kept epochs below upTo, and upTo - 1). */
function viewAt(e: bigint, agg: { upTo: bigint; keep: bigint[] }): bigint {
  let best = agg.upTo - 1n;
  for (const k of agg.keep) if (k < agg.upTo && k >= e && k < best) best = k;
  return best;
}

/**
 * Decide which entries of one akey survive. Always: a single hidden by a newer single at the same
 * epoch, an extent covered by newer extents at the same epoch. With an aggregation policy: what no
 * kept view can see (and, in a full merge, superseded akey punches).
 */
function aggregateGroup(group: Pending[], objPunches: Stamp[], dkeyPunches: Stamp[], rules: ContainerRules | undefined, full: boolean, dropped: (p: Pending) => void): Pending[] {
  const punches = group.filter((p) => p.kind === 'akeyPunch');
  const singles = group.filter((p) => p.kind === 'single').sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0)); // ascending
  const extents = group.filter((p) => p.kind === 'array');
  const agg = rules?.aggregate;
  const gone = new Set<Pending>();
  const floorAt = (V: bigint) => floorOf([...objPunches, ...dkeyPunches, ...punches], V);
  for (let i = 0; i < singles.length; i++) {
    const v = singles[i]!;
    if (shadowed(v.epoch, singles[i + 1]?.epoch, agg) || (agg && v.epoch < agg.upTo && before(v, floorAt(viewAt(v.epoch, agg))))) gone.add(v);
  }
  for (const x of extents) {
    const xv = x.v!;
    const V = agg && x.epoch < agg.upTo ? viewAt(x.epoch, agg) : x.epoch;
    if (agg && x.epoch < agg.upTo && before(x, floorAt(V))) { gone.add(x); continue; }
    const cov: Range[] = [];
    for (const y of extents) {
      if (y === x || !before(x, y) || y.epoch > V) continue;
      cov.push([y.v!.index, y.v!.index + y.v!.count]);
    }
    if (covered(xv.index, xv.index + xv.count, cov)) gone.add(x);
  }
  if (agg && full) {
    for (const p of punches) if (supersededPunch(p, objPunches, dkeyPunches, punches, agg)) gone.add(p);
  }
  const out: Pending[] = [];
  for (const p of group) { if (gone.has(p)) dropped(p); else out.push(p); }
  return out;
}

/**
 * Flush a frozen memtable straight into `w` (the hot path of every write: what `writeMerged` over
 * `memtableEntries` would do, without generating and re-parsing keys). Applies the container rules
 * a flush can apply: destroyed containers, discards, and versions hidden at their own epoch by a
 * newer one, and versions an aggregation policy in force removes (counted in `stats`). Data
 * extents of dropped versions go to `freed`. Returns the entries written.
 */
export function* flushMemtable(mt: Memtable, w: RunWriter, rules: (cont: number) => ContainerRules | undefined, inlineAt: (loc: number, len: number) => Uint8Array, freed: ExtentList, stats?: (cont: number) => MergeStats | undefined): Generator<void, number> {
  let n = 0;
  for (const e of memtableStream(mt, rules, inlineAt, freed, stats)) {
    w.add(e.key, e.value, e.seq, e.probes);
    if (++n % FLUSH_STEP_ENTRIES === 0) yield; // the memtable is frozen meanwhile
  }
  return n;
}

/** An entry of a memtable stream: `value` is valid until the stream moves on. */
export interface StreamEntry { key: Uint8Array; value: Uint8Array; seq: number; probes: readonly BloomProbe[] }

/**
 * A frozen memtable's entries in key order, with what a flush may drop already dropped (the
 * rules of `flushMemtable`). One entry object is reused: read it before the next step.
 */
function* memtableStream(mt: Memtable, rules: (cont: number) => ContainerRules | undefined, inlineAt: (loc: number, len: number) => Uint8Array, freed: ExtentList, stats?: (cont: number) => MergeStats | undefined, withProbes = true): Generator<StreamEntry> {
  /** Bloom probes of a key (none when the consumer computes its own). */
  const probe = (k: Uint8Array): BloomProbe => (withProbes ? bloomProbe(k) : NO_PROBE);
  /** Probes of the bytes `b` holds now (no view made). */
  const probeBuilt = (): BloomProbe => (withProbes ? bloomProbePrefix(b.raw(), b.length) : NO_PROBE);
  const out: StreamEntry = { key: EMPTY_KEY, value: EMPTY_KEY, seq: 0, probes: NO_PROBES };
  /** This stream's own key builder: it keeps the current prefixes while the stream is paused. */
  const b = new KeyBuilder();
  const entry = (key: Uint8Array, value: Uint8Array, seq: number, probes: readonly BloomProbe[]): StreamEntry => {
    out.key = key; out.value = value; out.seq = seq; out.probes = probes;
    return out;
  };
  const EMPTY_VAL = new Uint8Array(0);
  const freeOf = (v: MemVersion): number => {
    if (v.where === Where.Block && v.alloc > 0) { freed.push(v.loc, v.alloc); return v.alloc; }
    return 0;
  };
  const drop = (v: MemVersion) => { freeOf(v); };
  let aggStats: MergeStats | undefined;
  /** A version an aggregation policy removes (counted as the merge that applies it would). */
  const aggregated = (v: MemVersion) => {
    const freedBytes = freeOf(v);
    if (aggStats) { aggStats.versionsRemoved++; aggStats.dataBytesFreed += freedBytes; }
  };
  const scratch = new VersionScratch(); // this stream's own (see VersionScratch)
  const value = (v: MemVersion): Uint8Array => scratch.encode(v, v.where === Where.Wal ? inlineAt(v.loc, v.len) : v.inline, v.loc);
  const stamped = (prefix: Uint8Array, tag: number, epoch: bigint, seq: number): Uint8Array => kb.reset().bytes(prefix).u8(tag).inv64(epoch).invSeq(seq).take();
  for (const cont of [...mt.conts.keys()].sort((a, b) => a - b)) {
    const mc = mt.conts.get(cont)!;
    const r = rules(cont);
    if (r?.destroyed) {
      for (const o of mc.objects.values()) for (const d of o.dkeys.values()) for (const a of d.akeys.values()) { for (const v of a.singles) drop(v); for (const v of a.extents) drop(v); }
      continue;
    }
    const tombs = r?.tombs ?? [];
    const gone = (epoch: bigint, seq: number) => tombs.length > 0 && tombs.some((t) => seq < t.seq && epoch > t.after && epoch <= t.upTo);
    // An aggregation policy in force (aggregate() flushes with it): a single the next newer single
    // of the memtable hides at its smallest kept view goes now (whatever the runs hold, a newer
    // version visible there hides it), so the merge that follows has less to read and drop.
    const agg = r?.aggregate;
    aggStats = agg ? stats?.(cont) : undefined;
    const nodes = mc.sortedObjects(); // (the nodes themselves: no id looked up again)
    const tablePrefix = kb.reset().u32(cont).u8(SECTION_OBJECTS).take();
    for (const o of nodes) yield entry(kb.reset().bytes(tablePrefix).oid(o.oid).take(), EMPTY_VAL, 0, NO_PROBES);
    for (const o of nodes) {
      const oid = o.oid;
      // object, dkey and akey prefixes built in place in `b`, each on the one before (copies only of whole keys)
      const objEnd = b.reset().u32(cont).u8(SECTION_DATA).oid(oid).length;
      const objProbe = probeBuilt();
      if (o.punches.length) {
        const obj = b.take();
        const pp = [probe(kb.reset().bytes(obj).u8(TAG_PUNCH).take()), objProbe];
        for (const p of punchesDesc(o.punches)) if (!gone(p.epoch, p.seq)) yield entry(stamped(obj, TAG_PUNCH, p.epoch, p.seq), EMPTY_VAL, p.seq, pp);
      }
      const so = solo(o);
      if (so !== undefined) { // (one single of one dkey and akey, no punch: as the loops below would, with no tree made)
        const akEnd = b.truncate(objEnd).u8(TAG_KEY).esc(so.dkey).u8(TAG_KEY).esc(so.akey).length;
        const v = so.v;
        if (gone(v.epoch, v.seq)) { drop(v); continue; }
        const probes = [probeBuilt(), objProbe]; // (of the akey prefix `b` holds: before the stamp goes on)
        yield entry(stampAt(b, akEnd, TAG_SINGLE, v.epoch, v.seq), value(v), v.seq, probes);
        continue;
      }
      for (const d of sortedDkeys(o)) {
        const dkEnd = b.truncate(objEnd).u8(TAG_KEY).esc(d.key).length;
        if (d.punches.length) {
          const dk = b.take();
          const pp = [probe(kb.reset().bytes(dk).u8(TAG_PUNCH).take()), objProbe];
          for (const p of punchesDesc(d.punches)) if (!gone(p.epoch, p.seq)) yield entry(stamped(dk, TAG_PUNCH, p.epoch, p.seq), EMPTY_VAL, p.seq, pp);
        }
        for (const a of sortedAkeys(d)) {
          const akEnd = b.truncate(dkEnd).u8(TAG_KEY).esc(a.key).length;
          const probes = [probeBuilt(), objProbe];
          if (a.punches.length) for (const p of punchesDesc(a.punches)) if (!gone(p.epoch, p.seq)) yield entry(stampAt(b, akEnd, TAG_PUNCH, p.epoch, p.seq), EMPTY_VAL, p.seq, probes);
          // singles are kept ascending by (epoch, seq): walk down, dropping those a newer one hides at their own epoch
          let newerEpoch: bigint | undefined;
          for (let i = a.singles.length - 1; i >= 0; i--) {
            const v = a.singles[i]!;
            if (gone(v.epoch, v.seq) || v.epoch === newerEpoch) { drop(v); continue; }
            if (shadowed(v.epoch, newerEpoch, agg)) { newerEpoch = v.epoch; aggregated(v); continue; }
            newerEpoch = v.epoch;
            yield entry(stampAt(b, akEnd, TAG_SINGLE, v.epoch, v.seq), value(v), v.seq, probes);
          }
          if (a.extents.length) {
            const xs = versionsDesc(a.extents).filter((x) => (gone(x.epoch, x.seq) ? (drop(x), false) : true));
            for (const x of xs) {
              // covered by newer extents of the same epoch: never visible
              const cov: Range[] = [];
              for (const y of xs) if (y !== x && y.epoch === x.epoch && before(x, y)) cov.push([y.index, y.index + y.count]);
              if (cov.length && covered(x.index, x.index + x.count, cov)) { drop(x); continue; }
              yield entry(stampAt(b, akEnd, TAG_ARRAY, x.epoch, x.seq), value(x), x.seq, probes);
            }
          }
        }
      }
    }
  }
}

/** A version key: the akey prefix held in `b` (its first `akEnd` bytes), a tag, an epoch and a sequence number. */
function stampAt(b: KeyBuilder, akEnd: number, tag: number, epoch: bigint, seq: number): Uint8Array {
  return b.truncate(akEnd).u8(tag).inv64(epoch).invSeq(seq).take();
}

const NO_PROBE: BloomProbe = { h1: 0, h2: 0 };
const EMPTY_KEY = new Uint8Array(0);

/** What a k-way merge reads: a run cursor, or a memtable stream (`MemtableCursor`). */
export interface MergeCursor {
  readonly valid: boolean;
  /** The current key (unchanged until `next`). */
  key(): Uint8Array;
  /** The current value (valid until `next`). */
  value(): Uint8Array;
  next(): unknown;
}

/**
 * A frozen memtable as a merge source: its entries in key order with what a flush drops already
 * dropped, so an aggregation folds the memtable and the runs into one run in one pass.
 */
export class MemtableCursor implements MergeCursor {
  valid = false;
  private readonly it: Iterator<StreamEntry>;
  private cur: StreamEntry | undefined;
  constructor(mt: Memtable, rules: (cont: number) => ContainerRules | undefined, inlineAt: (loc: number, len: number) => Uint8Array, freed: ExtentList, stats?: (cont: number) => MergeStats | undefined) {
    this.it = memtableStream(mt, rules, inlineAt, freed, stats, false); // the merge builds the probes of what it writes
    this.next();
  }
  key(): Uint8Array { return this.cur!.key; }
  value(): Uint8Array { return this.cur!.value; }
  next(): void {
    const r = this.it.next();
    this.valid = !r.done;
    this.cur = r.done ? undefined : r.value;
  }
}

/** Cursors at the first entry of each run. */
export function runCursors(runs: readonly Run[]): RunCursor[] { return runs.map((r) => r.cursor().seekFirst()); }

/**
 * A k-way merge over cursors: `pick()` names the cursor with the smallest current key (the
 * first one on ties), keeping each cursor's key view until it moves. The cursors with a key are a
 * binary min-heap by (key, cursor index): an entry costs about log2(k) key compares instead of
 * k - 1 (a merge of 8 runs: 3 instead of 7), each a loop in JS (`cmpKeysFrom`) rather than a call
 * into `Buffer.compare` (the merge worker spent 15% of its time in those calls). Every key shares
 * its first `from` bytes (the caller knows: the runs' first and last keys); the next twelve are
 * kept per head as two 48-bit numbers, read once per entry, so most compares are one or two of
 * numbers. Twelve, not four: the keys of a target's objects share ~9 bytes past the container
 * (section, the unit oid's zero top word, the object class), so one word of four left nearly every
 * compare to the byte loop (a quarter of `fastMerge`'s own time).
 */
class KWay {
  private readonly heads: Array<Uint8Array | undefined>;
  /** Bytes [from, from + 6) of each head, big-endian, zeros past its end (`word48`). */
  private readonly hi: Float64Array;
  /** Bytes [from + 6, from + 12) of each head, likewise. */
  private readonly lo: Float64Array;
  /** Indexes of the cursors with a key, heap-ordered by `before`. */
  private readonly heap: number[] = [];
  constructor(readonly cursors: readonly MergeCursor[], private readonly from = 0) {
    this.heads = this.cursors.map((c) => (c.valid ? c.key() : undefined));
    this.hi = new Float64Array(this.heads.length);
    this.lo = new Float64Array(this.heads.length);
    for (let i = 0; i < this.heads.length; i++) {
      const k = this.heads[i];
      if (k === undefined) continue;
      this.hi[i] = word48(k, from); this.lo[i] = word48(k, from + WORD_BYTES);
      this.heap.push(i);
    }
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }
  /** Index of the cursor with the smallest key, or -1 when all are done. */
  pick(): number { return this.heap.length > 0 ? this.heap[0]! : -1; }
  key(i: number): Uint8Array { return this.heads[i]!; }
  /** Move cursor `i` on (the one `pick()` named). */
  advance(i: number): void {
    const h = this.heap;
    assert(h[0] === i, 'a k-way merge moves the cursor it picked');
    const c = this.cursors[i]!;
    c.next();
    if (c.valid) {
      const k = c.key();
      this.heads[i] = k;
      this.hi[i] = word48(k, this.from); this.lo[i] = word48(k, this.from + WORD_BYTES);
    } else {
      this.heads[i] = undefined;
      const last = h.pop()!;
      if (h.length === 0) return;
      h[0] = last;
    }
    this.siftDown(0);
  }
  /** Whether cursor `x`'s key comes before cursor `y`'s (the lower index first on equal keys, as the linear pick did). */
  private before(x: number, y: number): boolean {
    const hx = this.hi[x]!, hy = this.hi[y]!;
    if (hx !== hy) return hx < hy;
    const lx = this.lo[x]!, ly = this.lo[y]!;
    if (lx !== ly) return lx < ly;
    const d = cmpKeysFrom(this.heads[x]!, this.heads[y]!, this.from + 2 * WORD_BYTES);
    return d < 0 || (d === 0 && x < y);
  }
  private siftDown(at: number): void {
    const h = this.heap; const n = h.length;
    const x = h[at]!;
    for (;;) {
      let c = 2 * at + 1;
      if (c >= n) break;
      if (c + 1 < n && this.before(h[c + 1]!, h[c]!)) c++;
      if (!this.before(h[c]!, x)) break;
      h[at] = h[c]!;
      at = c;
    }
    h[at] = x;
  }
}

/** Bytes in one of `KWay`'s head words (48 bits: exact in a double). */
const WORD_BYTES = 6;

/**
 * Bytes [at, at + 6) of `k` as a big-endian unsigned number, zeros past its end (and before it
 * when `at` is past the end): two keys' words compare as their bytes there do, a key that ends
 * first comparing equal to one with zeros in its place (`cmpKeysFrom` then orders them by length).
 */
function word48(k: Uint8Array, at: number): number {
  const n = k.length - at;
  if (n >= WORD_BYTES) return ((k[at]! << 8) | k[at + 1]!) * 0x100000000 + (((k[at + 2]! << 24) | (k[at + 3]! << 16) | (k[at + 4]! << 8) | k[at + 5]!) >>> 0);
  let v = 0;
  for (let j = 0; j < WORD_BYTES; j++) v = v * 256 + (j < n ? k[at + j]! : 0);
  return v;
}

/**
 * Byte order of two keys known to share their first `from` bytes (the sign of `Buffer.compare`),
 * compared in JS: run keys are short and differ early (in the object id), and a call into
 * `Buffer.compare` cost more than the loop.
 */
function cmpKeysFrom(a: Uint8Array, b: Uint8Array, from: number): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = from; i < n; i++) { const d = a[i]! - b[i]!; if (d !== 0) return d; }
  return a.length - b.length;
}

/** Bytes every key of `runs` starts with: the common prefix of their first and last keys (keys between two keys share their common prefix). */
function sharedPrefix(runs: readonly Run[]): number {
  if (runs.length === 0) return 0;
  const a = runs[0]!.meta.first;
  let n = a.length;
  for (const r of runs) for (const k of [r.meta.first, r.meta.last]) {
    const m = Math.min(n, k.length);
    let i = 0;
    while (i < m && a[i] === k[i]) i++;
    n = i;
  }
  return n;
}
/** Entries a flush writes between two pauses. */
export const FLUSH_STEP_ENTRIES = 512;

/**
 * Merge runs with no container rules to apply (no discards, destroyed containers or aggregation
 * pending): a k-way merge of run cursors straight into `w`, dropping only singles hidden at their
 * own epoch by a newer one (adjacent in key order). Values are copied by the writer, so nothing
 * is copied on the way; keys are copied (the writer keeps the last one it was given, and this
 * merge the current object's and akey's) unless `stableKeys`: the runs' blocks are buffers
 * nothing writes again while referenced (a merge job's reads), so views of them stay valid. A step
 * pauses every `FLUSH_STEP_ENTRIES` entries.
 */
export function* fastMerge(runs: readonly Run[], w: RunWriter, freed: ExtentList, stableKeys = false): Generator<void, number> {
  const kw = new KWay(runCursors(runs), sharedPrefix(runs));
  let n = 0;
  let lastSingle: Uint8Array | undefined; // key of the last single written (its akey path and epoch are what count)
  // the current object and akey paths: prefixes of keys already written (no views made)
  let akeyKey: Uint8Array | undefined; let akeyLen = 0; let probes: BloomProbe[] = [];
  let objKey: Uint8Array | undefined; let objProbe: BloomProbe | undefined;
  let prevKey: Uint8Array | undefined;
  for (;;) {
    const best = kw.pick();
    if (best < 0) return n;
    const c = kw.cursors[best]!;
    const key = kw.key(best);
    const value = c.value();
    // identical keys in several runs (a replayed log): keep one
    const dup = prevKey !== undefined && equalKeys(prevKey, key);
    if (!dup) {
      prevKey = stableKeys ? key : copyKey(key); // the writer keeps the key it is given
      if (key[4] !== SECTION_DATA) {
        w.add(prevKey, value, 0, NO_PROBES); n++;
      } else {
        const tagAt = key.length - 17;
        const tag = key[tagAt];
        if (!objKey || !sameFirst(objKey, key, OBJ_PATH_BYTES)) { objKey = prevKey; objProbe = bloomProbePrefix(prevKey, OBJ_PATH_BYTES); }
        const seq = keySeq(key);
        if (tag === TAG_SINGLE || tag === TAG_ARRAY) {
          if (!akeyKey || akeyLen !== tagAt || !sameFirst(akeyKey, key, tagAt)) { akeyKey = prevKey; akeyLen = tagAt; probes = [bloomProbePrefix(prevKey, tagAt), objProbe!]; lastSingle = undefined; }
          // a single hidden at its own epoch by the newer one just written (same akey path, tag and epoch)
          if (tag === TAG_SINGLE && lastSingle && lastSingle.length === key.length && sameFirst(lastSingle, key, key.length - 8)) {
            freeBlockOf(value, freed);
          } else {
            if (tag === TAG_SINGLE) lastSingle = prevKey;
            w.add(prevKey, value, seq, probes); n++;
          }
        } else {
          // a punch (rare: parse it). An akey punch answers the akey's own lookup prefix, as its
          // versions do; object and dkey punches answer their prefix + the punch tag.
          const sh = keyShape(key);
          assert(sh !== undefined, 'malformed punch key in a merge');
          const probe = sh.kind === 'akeyPunch' ? bloomProbe(key.subarray(0, sh.akeyEnd)) : bloomProbe(key.subarray(0, key.length - 16));
          w.add(prevKey, value, seq, [probe, objProbe!]); n++;
        }
      }
    }
    kw.advance(best);
    if (n > 0 && n % FLUSH_STEP_ENTRIES === 0 && !dup) yield;
  }
}

/** Bytes of `[cont][DATA][oid]`, the object path every data key starts with. */
const OBJ_PATH_BYTES = 29;

/** Whether two keys are equal, compared from their ends (keys in a merge differ near their ends: their stamps). */
function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether the first `n` bytes of `a` and `b` (both at least `n` long) are equal. */
function sameFirst(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length < n || b.length < n) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false; // keys of a run differ near their ends
  return true;
}



/**
 * A merge of every run applying aggregation policies, for the common case with nothing else to
 * apply: no punch in any input run, no discard and no destroyed container (the caller checks).
 * The same decisions as `MergeSink` (a single is dropped when the next newer one is at its epoch,
 * or is visible at the smallest kept view at or above it; an extent when newer extents visible
 * there cover it), made while streaming cursors (runs, and the frozen memtable when an
 * aggregation folds it in): singles decided one by one in key order (newest first), extents of
 * one akey gathered and decided together. Steps pause every `FLUSH_STEP_ENTRIES` entries.
 */
export function* aggregateMerge(sources: readonly MergeCursor[], w: RunSink, rules: (cont: number) => ContainerRules | undefined, freed: ExtentList, stats: Map<number, MergeStats>): Generator<void, number> {
  const kw = new KWay(sources);
  let n = 0; let seen = 0;
  let prevKey: Uint8Array | undefined;
  // the current object and akey paths: prefixes of keys already written (no views made)
  let akeyKey: Uint8Array | undefined; let akeyLen = 0; let probes: BloomProbe[] = [];
  let objKey: Uint8Array | undefined; let objProbe: BloomProbe | undefined;
  let newerEpoch: bigint | undefined; // epoch of the single just before in this akey (the next newer one)
  let extents: Pending[] = [];
  let cont = -1; let agg: { upTo: bigint; keep: bigint[] } | undefined; let st: MergeStats | undefined;
  const statsOf = (c: number): MergeStats => {
    let s = stats.get(c);
    if (!s) { s = { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, entriesIn: 0, entriesOut: 0 }; stats.set(c, s); }
    return s;
  };
  const drop = (s: MergeStats, v: MemVersion | undefined) => {
    s.versionsRemoved++;
    if (v && v.where === Where.Block && v.alloc > 0) { freed.push(v.loc, v.alloc); s.dataBytesFreed += v.alloc; }
  };
  /** Decide the gathered extents of the akey just finished and write the survivors (ascending keys). */
  const endExtents = () => {
    if (!extents.length) return;
    const group = extents; extents = [];
    const gc = keyCont(group[0]!.key);
    const s = statsOf(gc);
    const kept = aggregateGroup(group, [], [], { destroyed: false, tombs: [], aggregate: rules(gc)?.aggregate }, true, (p) => drop(s, p.v));
    for (const p of kept) { w.add(p.key, p.value, p.seq, probes); n++; s.entriesOut++; }
  };
  for (;;) {
    const best = kw.pick();
    if (best < 0) { endExtents(); return n; }
    const c = kw.cursors[best]!;
    const key = kw.key(best);
    // identical keys in several runs (a replayed log): keep one
    if (prevKey !== undefined && equalKeys(prevKey, key)) { kw.advance(best); continue; }
    prevKey = copyKey(key); // the writer keeps the key it is given
    const value = c.value();
    const kc = keyCont(key);
    if (kc !== cont) { cont = kc; agg = rules(kc)?.aggregate; st = statsOf(kc); }
    st!.entriesIn++;
    if (key[4] !== SECTION_DATA) {
      endExtents(); akeyKey = undefined;
      w.add(prevKey, value, 0, NO_PROBES); n++; st!.entriesOut++;
    } else {
      const tagAt = key.length - 17;
      const tag = key[tagAt];
      assert(tag === TAG_SINGLE || tag === TAG_ARRAY, 'aggregateMerge takes runs without punches', { tag });
      if (!akeyKey || akeyLen !== tagAt || !sameFirst(akeyKey, key, tagAt)) {
        endExtents();
        if (!objKey || !sameFirst(objKey, key, OBJ_PATH_BYTES)) { objKey = prevKey; objProbe = bloomProbePrefix(prevKey, OBJ_PATH_BYTES); }
        akeyKey = prevKey; akeyLen = tagAt; probes = [bloomProbePrefix(prevKey, tagAt), objProbe!]; newerEpoch = undefined;
      }
      const epoch = keyEpoch(key); const seq = keySeq(key);
      if (tag === TAG_SINGLE) {
        const hidden = shadowed(epoch, newerEpoch, agg);
        newerEpoch = epoch;
        if (hidden) {
          st!.versionsRemoved++;
          st!.dataBytesFreed += freeBlockOf(value, freed);
        }
        else { w.add(prevKey, value, seq, probes); n++; st!.entriesOut++; }
      } else {
        const p: Pending = { key: prevKey, value: value.slice(), seq, epoch, kind: 'array' };
        p.v = decodeVersion(p.value, epoch, seq, false);
        extents.push(p);
      }
    }
    kw.advance(best);
    if (++seen % FLUSH_STEP_ENTRIES === 0) yield;
  }
}
