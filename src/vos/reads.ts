/**
 * Reading a target's index: the memtables (active and frozen) and every run, combined. Point
 * lookups seek once per source (a bloom filter skips runs that cannot hold the key); listings are
 * ordered scans that merge the sources in key order, both directions, a page at a time.
 *
 * Every function here is synchronous: it works on views into the mapping that stay valid only
 * until the next await, and copies out what it returns.
 */
import type { Run, BlockView } from './run.js';
import { bloomProbe, bloomProbeInto, BlockArena, RunPoint, ENTRY_HEADER, POINT_ENTRY_LIMIT, type BloomProbe, type RunPoints } from './run.js';
import type { Memtable, MemVersion, MemObject, MemDkey, MemAkey, MemPunch, MemContainer } from './memtable.js';
import { solo, sortedAkeys, sortedDkeys } from './memtable.js';
import {
  TAG_ARRAY, TAG_KEY, TAG_PUNCH, TAG_SINGLE, akeyPrefix, dkeyPrefix, hasPrefix, keyShape, keyStamp, objectPrefix,
  prefixEnd, seekAtEpoch, withTag, objectTablePrefix, keyOid, unescapeAt, KeyBuilder, SECTION_DATA, STAMP_BYTES, stampEpochAt, stampSeqAt,
} from './keys.js';
import { decodeVersion, decodeVersionAt, PointVersion, VERSION_VALUE_BYTES } from './merge.js';
import { Where } from './wal.js';
import { before, keyStr, NO_STAMP, type Stamp } from './tree.js';
import { VosError } from './errors.js';
import { OidKey } from './oid-table.js';
import { sameBytes } from '../../core/bytes.js';

/** A discard not yet applied to the runs: hides versions and punches with seq < seq and after < epoch <= upTo. */
export interface Tomb { after: bigint; upTo: bigint; seq: number }

/** Everything a read needs: the sources and the container's discards. */
export interface ReadView {
  mems: Memtable[];
  runs: Run[];
  tombs: Tomb[];
  cont: number;
}

function hidden(tombs: Tomb[], epoch: bigint, seq: number): boolean {
  for (let i = 0; i < tombs.length; i++) { const t = tombs[i]!; if (seq < t.seq && epoch > t.after && epoch <= t.upTo) return true; }
  return false;
}

/** The newest punch at or below `epoch` among `ps` (not discarded). */
function newestPunch(ps: MemPunch[], epoch: bigint, tombs: Tomb[], best: Stamp): Stamp {
  for (const p of ps) if (p.epoch <= epoch && before(best, p) && !hidden(tombs, p.epoch, p.seq)) best = p;
  return best;
}

/** In one run: the first entry under `prefix+tag` at or below `epoch` that no discard hides. */
function runNewest(run: Run, prefix: Uint8Array, tag: number, epoch: bigint, tombs: Tomb[]): { key: Uint8Array; value: Uint8Array; epoch: bigint; seq: number } | undefined {
  // one key: the seek key `prefix + tag + ~epoch`; an entry is under `prefix + tag` when it starts with its first bytes
  const seek = seekAtEpoch(prefix, tag, epoch);
  const c = run.cursor().seek(seek);
  while (c.valid) {
    const k = c.key();
    if (!samePrefix(k, seek, prefix.length + 1)) return undefined;
    const s = keyStamp(k);
    if (!hidden(tombs, s.epoch, s.seq)) return { key: k, value: c.value(), epoch: s.epoch, seq: s.seq };
    c.next();
  }
  return undefined;
}

/** Probes of the three lookup prefixes of an akey. */
export interface AkeyProbes { akey: Uint8Array; dkey: Uint8Array; obj: Uint8Array; pa: BloomProbe; pd: BloomProbe; po: BloomProbe }

/**
 * The probes of one akey, the dkey and object ones (punch lookups only) built when first asked
 * for: a read of a target whose runs hold no punches never builds them.
 */
class LazyProbes implements AkeyProbes {
  readonly akey: Uint8Array;
  readonly pa: BloomProbe;
  private d?: Uint8Array; private o?: Uint8Array; private pdv?: BloomProbe; private pov?: BloomProbe;
  constructor(private readonly cont: number, private readonly oid: bigint, private readonly dkeyIn: Uint8Array, akeyIn: Uint8Array) {
    this.akey = akeyPrefix(cont, oid, dkeyIn, akeyIn);
    this.pa = bloomProbe(this.akey);
  }
  get dkey(): Uint8Array { return this.d ??= dkeyPrefix(this.cont, this.oid, this.dkeyIn); }
  get obj(): Uint8Array { return this.o ??= objectPrefix(this.cont, this.oid); }
  get pd(): BloomProbe { return this.pdv ??= bloomProbe(withTag(this.dkey, TAG_PUNCH)); }
  get po(): BloomProbe { return this.pov ??= bloomProbe(withTag(this.obj, TAG_PUNCH)); }
}

export function akeyProbes(cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AkeyProbes {
  // A read asks for the same akey's probes more than once (record size, then visible extents):
  // the last answer is kept (its arrays are never written to), so the prefixes and the bloom
  // hashes are built once per read.
  const m = lastProbes;
  if (m !== undefined && m.cont === cont && m.oid === oid && sameBytes(m.dkeyIn, dkey) && sameBytes(m.akeyIn, akey)) return m.probes;
  // copies of the caller's keys: a caller may reuse its buffers for other keys
  const dkeyIn = dkey.slice();
  const probes = new LazyProbes(cont, oid, dkeyIn, akey);
  lastProbes = { cont, oid, dkeyIn, akeyIn: akey.slice(), probes };
  return probes;
}
/** The last `akeyProbes` answer and what it was asked for. */
let lastProbes: { cont: number; oid: bigint; dkeyIn: Uint8Array; akeyIn: Uint8Array; probes: AkeyProbes } | undefined;

/** The punch floor of an akey at `epoch`: the newest object, dkey or akey punch at or below it. */
export function punchFloor(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, pr: AkeyProbes): Stamp {
  let floor: Stamp = { epoch: -1n, seq: -1 };
  for (const m of v.mems) {
    const { o, d, a } = m.find(v.cont, oid, dkey, akey);
    if (o) floor = newestPunch(o.punches, epoch, v.tombs, floor);
    if (d) floor = newestPunch(d.punches, epoch, v.tombs, floor);
    if (a) floor = newestPunch(a.punches, epoch, v.tombs, floor);
  }
  for (const r of v.runs) {
    if (!r.mayHavePunches) continue;
    if (r.mayContain(pr.po)) { const x = runNewest(r, pr.obj, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
    if (r.mayContain(pr.pd)) { const x = runNewest(r, pr.dkey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
    if (r.mayContain(pr.pa)) { const x = runNewest(r, pr.akey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
  }
  return floor;
}

/** The newest single value version at or below `epoch` (before punches are considered; a run's version views its inline bytes in the block: valid until the next await). */
export function newestSingle(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, pr: AkeyProbes): MemVersion | undefined {
  let best: MemVersion | undefined;
  for (const m of v.mems) {
    const a = m.find(v.cont, oid, dkey, akey).a;
    if (!a) continue;
    best = newerSingle(a, epoch, v.tombs, best);
  }
  return newestInRuns(v, pr.akey, pr.pa, epoch, best);
}

/** The memtable akey's newest single at or below `epoch` (not discarded), when newer than `best`. */
function newerSingle(a: MemAkey, epoch: bigint, tombs: ReadView['tombs'], best: MemVersion | undefined): MemVersion | undefined {
  for (let i = a.singles.length - 1; i >= 0; i--) {
    const s = a.singles[i]!;
    if (s.epoch > epoch || hidden(tombs, s.epoch, s.seq)) continue;
    return !best || before(best, s) ? s : best;
  }
  return best;
}

/**
 * The runs' newest single of the probed akey at or below `epoch`, when newer than `best`
 * (`runNewest`'s walk inline: one seek key for every run, no result object per run).
 */
function newestInRuns(v: ReadView, akey: Uint8Array, pa: BloomProbe, epoch: bigint, best: MemVersion | undefined): MemVersion | undefined {
  let seek: Uint8Array | undefined;
  for (const r of v.runs) {
    if (!r.mayContain(pa)) continue;
    seek ??= seekAtEpoch(akey, TAG_SINGLE, epoch);
    const c = r.cursor().seek(seek);
    while (c.valid) {
      const k = c.key();
      if (!samePrefix(k, seek, akey.length + 1)) break;
      const s = keyStamp(k);
      if (hidden(v.tombs, s.epoch, s.seq)) { c.next(); continue; }
      if (!best || before(best, s)) {
        // (a view of the inline bytes: the one reader of them copies them out, see visibleSingle)
        const ver = decodeVersion(c.value(), s.epoch, s.seq, false);
        if (!ver) throw corruptEntry(r, k);
        best = ver;
      }
      break;
    }
  }
  return best;
}

/** Whether `b[at, at+n)` equals `k[0, n)` (last bytes first: keys of one store share their first bytes). */
function sameBytesAt(b: Uint8Array, at: number, k: Uint8Array, n: number): boolean {
  if (at + n > b.length) return false;
  for (let i = n - 1; i >= 0; i--) if (b[at + i] !== k[i]) return false;
  return true;
}

/** Whether `a` and `b` agree on their first `n` bytes (both at least that long). */
function samePrefix(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (a.length < n) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** The key `visibleSingle` reads an oid into (used and dropped within the call). */
const readKey = new OidKey();
/**
 * Whether this host is little-endian: an `OidKey`'s words (written by a little-endian DataView,
 * read as a Uint32Array) are then the id's 32-bit words in order, and a point key takes the oid
 * from them (`KeyBuilder.oidWords`) instead of shifting the BigInt again.
 */
const OID_WORDS_IN_ORDER = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The single value of an akey visible at `epoch`: the newest version at or below it that no
 * object, dkey or akey punch at or below `epoch` hides (what `newestSingle` then `punchFloor`
 * give), in one pass: each memtable is looked up once, and the run probes are built only when
 * there are runs. A version found in a run carries a view of its inline bytes in the run's
 * verified data block (valid until the next await, as everything here): the caller copies them
 * out after checking them against the version's checksum (`TargetStore.readValueSync`), one copy.
 */
export function visibleSingle(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint): MemVersion | undefined {
  let best: MemVersion | undefined;
  let floor: Stamp = NO_STAMP;
  let key: OidKey | undefined; // the oid read once for every memtable's object table
  // the read prepared for this one (`prefetchPoint`): its oid key, seek key and hashes are taken
  const c = currentPrep;
  const prep = c !== null && c.dkey === dkey && c.akey === akey && c.oid === oid && c.cont === v.cont && c.epoch === epoch ? c : null;
  if (prep !== null) key = prep.key;
  // (indexed loops here: a for-of's iterator and its results were not optimised away in this
  // function, 130 bytes per read)
  const mems = v.mems;
  for (let mi = 0; mi < mems.length; mi++) {
    const mc = mems[mi]!.conts.get(v.cont);
    if (mc === undefined || mc.objects.size === 0) continue;
    // (the object filter: most objects of a store with runs are in no memtable)
    key ??= readKey.of(oid);
    if (!mc.mayHold(key)) continue;
    const o = mc.objects.getKey(key);
    if (!o) continue;
    const so = solo(o);
    if (so !== undefined) { // (one version of one dkey and akey, no punch: read it with no tree made)
      const x = so.v;
      if (x.epoch <= epoch && sameBytes(so.akey, akey) && sameBytes(so.dkey, dkey) && !hidden(v.tombs, x.epoch, x.seq) && (!best || before(best, x))) best = x;
      continue;
    }
    if (o.punches.length) floor = newestPunch(o.punches, epoch, v.tombs, floor);
    const d = o.dkeys.getBytes(dkey); // (by the key's bytes: no string)
    if (!d) continue;
    if (d.punches.length) floor = newestPunch(d.punches, epoch, v.tombs, floor);
    const a = d.akeys.getBytes(akey);
    if (!a) continue;
    if (a.punches.length) floor = newestPunch(a.punches, epoch, v.tombs, floor);
    best = newerSingle(a, epoch, v.tombs, best);
  }
  if (v.runs.length) {
    if (v.tombs.length === 0) best = newestSingleInRuns(v.runs, v.cont, oid, key, dkey, akey, epoch, best, prep);
    else { const a = akeyPrefix(v.cont, oid, dkey, akey); best = newestInRuns(v, a, bloomProbe(a), epoch, best); }
    if (best && runsMayHavePunches(v.runs)) {
      const pr = akeyProbes(v.cont, oid, dkey, akey);
      for (const r of v.runs) {
        if (!r.mayHavePunches) continue;
        if (r.mayContain(pr.po)) { const x = runNewest(r, pr.obj, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
        if (r.mayContain(pr.pd)) { const x = runNewest(r, pr.dkey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
        if (r.mayContain(pr.pa)) { const x = runNewest(r, pr.akey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
      }
    }
  }
  return best && before(floor, best) ? best : undefined;
}

/** `anyPunches(runs)`, answered by their point index when it is built (no per-run read). */
function runsMayHavePunches(runs: readonly Run[]): boolean {
  const ix = builtPointIndex(runs);
  return ix !== null ? ix.anyPunches : anyPunches(runs);
}

function anyPunches(runs: readonly Run[]): boolean {
  for (let i = 0; i < runs.length; i++) if (runs[i]!.mayHavePunches) return true;
  return false;
}

/** The point-lookup key: akey prefix, then TAG_SINGLE and ~epoch (built in place, reused). */
const pointKey = new KeyBuilder();
/** Where a point lookup's seek landed (reused). */
const point = new RunPoint();
/** The bloom probe of the point lookup's akey (reused). */
const pointProbe: BloomProbe = { h1: 0, h2: 0 };
/**
 * The version a point lookup found inline in a run (reused: see `newestSingleInRuns`). Its
 * value and checksum are read from the verified block when asked for (`PointVersion`).
 */
const pointVersion = new PointVersion();


/**
 * The seek key of a point read at `epoch` into `pointKey` (the akey's lookup prefix, then the
 * single-value tag and the inverted epoch) and the prefix's bloom probe into `pointProbe`; returns
 * the prefix's length.
 */
function buildPointKey(cont: number, oid: bigint, k: OidKey | undefined, dkey: Uint8Array, akey: Uint8Array, epoch: bigint): number {
  return buildSeekKey(pointKey, pointProbe, cont, oid, k ?? readKey.of(oid), dkey, akey, epoch);
}

/** `buildPointKey` into builder `kb` and probe `probe`, for the oid read into `k`. */
function buildSeekKey(kb: KeyBuilder, probe: BloomProbe, cont: number, oid: bigint, k: OidKey, dkey: Uint8Array, akey: Uint8Array, epoch: bigint): number {
  kb.reset().u32(cont).u8(SECTION_DATA);
  // (the oid's words as the memtables read them: no BigInt made here)
  if (OID_WORDS_IN_ORDER) kb.oidWords(k.words); else kb.oid(oid);
  kb.u8(TAG_KEY).esc(dkey).u8(TAG_KEY).esc(akey);
  const prefixLen = kb.length;
  kb.u8(TAG_SINGLE).inv64(epoch);
  bloomProbeInto(kb.raw(), prefixLen, probe);
  return prefixLen;
}

/**
 * The runs' newest single of an akey at or below `epoch`, when newer than `best`, for a view with
 * no discards (`newestInRuns` without allocating: the seek key is built in a reused buffer, each
 * run is positioned by `Run.seekTo` with no cursor, the key's prefix and stamp are read in place
 * in the verified block, and the version's header is decoded from it).
 *
 * A version whose bytes live in the run is answered in one shared object, valid until the next
 * call (its `inline` views the block: valid until the next await, as everything here); the one
 * caller, `ContainerStore.singleNow` through `visibleSingle`, copies the value out before it
 * returns. A version in the data file is a fresh object (it is read after an await). With `prep`
 * (this read, prepared by `prefetchPoint` for the same index), its seek key and hashes are used.
 */
function newestSingleInRuns(runs: readonly Run[], cont: number, oid: bigint, k: OidKey | undefined, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, best: MemVersion | undefined, prep: PreparedPoint | null): MemVersion | undefined {
  let prefixLen = -1, seekLen = 0;
  let key = pointKey.raw();
  const ix = runs.length > 0 && pointReads.index ? pointIndexOf(runs) : null;
  if (ix !== null) {
    let slot: number;
    if (prep !== null && prep.ix === ix) {
      // (the seek key and hashes built when the read was prepared; the per-run path below builds its own)
      preparedUsed++;
      slot = ix.find(prep.seek.raw(), prep.prefixLen, prep);
    } else {
      prefixLen = buildPointKey(cont, oid, k, dkey, akey, epoch);
      seekLen = pointKey.length;
      key = pointKey.raw();
      slot = ix.find(key, prefixLen, pointProbe);
    }
    // no run holds a single of this akey
    if (slot < 0) return best;
    const b = pointHit.bytes, o = pointHit.o;
    const pl = prefixLen < 0 ? prep!.prefixLen : prefixLen; // (prepared: the per-run path below still builds its key)
    const ko = o + ENTRY_HEADER, kl = pl + 1 + STAMP_BYTES, st = ko + kl - STAMP_BYTES;
    const ep = stampEpochAt(b, st);
    // the runs' newest version of the akey; a read at an older epoch seeks every run
    if (ep <= epoch) {
      const sq = stampSeqAt(b, st);
      if (best !== undefined && !(best.epoch < ep || (best.epoch === ep && best.seq < sq))) return best;
      // decoded in the bytes `find` checked (an arena frame or the block), with their DataView
      const ver = decodeVersionAt(pointHit.dv, b, ko + kl, (b[o + 2]! | (b[o + 3]! << 8) | (b[o + 4]! << 16) | (b[o + 5]! << 24)) >>> 0, ep, sq, pointVersion);
      if (ver === undefined) throw corruptEntry(runs[ix.runOf(slot)]!, b.subarray(ko, ko + kl));
      return ver;
    }
  }
  for (const r of runs) {
    if (prefixLen < 0) {
      prefixLen = buildPointKey(cont, oid, k, dkey, akey, epoch);
      seekLen = pointKey.length;
      key = pointKey.raw();
    }
    if (!r.mayContain(pointProbe) || !r.seekTo(key, seekLen, point)) continue;
    const blk = point.blk!, e = point.e;
    // the first entry at or after the seek key: the newest at or below epoch when it is under prefix + tag
    if (!blk.keyStartsWith(e, key, prefixLen + 1)) continue;
    const ko = blk.keyOffset(e), kl = blk.keyLength(e);
    if (kl !== prefixLen + 1 + STAMP_BYTES) throw corruptEntry(r, blk.bytes.subarray(ko, ko + kl));
    const b = blk.bytes, st = ko + kl - STAMP_BYTES;
    const ep = stampEpochAt(b, st), sq = stampSeqAt(b, st);
    if (best !== undefined && !(best.epoch < ep || (best.epoch === ep && best.seq < sq))) continue;
    best = versionAt(blk, ko + kl, blk.valueLength(e), ep, sq);
    if (best === undefined) throw corruptEntry(r, b.subarray(ko, ko + kl));
  }
  return best;
}

/** Most point reads a batch prepares (`prefetchPoint` positions). */
export const POINT_PREFETCH_MAX = 64;

/**
 * A point read prepared ahead (`prefetchPoint`): what it was prepared for, its oid read into an
 * `OidKey`, and, when its store's runs have a point index, its seek key and the key's hashes
 * (`h1`, `h2`: it is the probe). The read itself (`visibleSingle`, told by `preparedRead`) takes
 * them instead of building them again when it is the read they were prepared for.
 */
class PreparedPoint implements BloomProbe {
  oid = -1n; dkey: Uint8Array | null = null; akey: Uint8Array | null = null; cont = -1; epoch = -1n;
  readonly key = new OidKey();
  readonly seek = new KeyBuilder();
  ix: PointIndex | null = null;
  prefixLen = -1;
  h1 = 0; h2 = 0;
  /** The container's part of the active and the frozen memtable when it holds objects (their filter words are loaded in `prefetchSlots`), else null. */
  ma: MemContainer | null = null; mf: MemContainer | null = null;
  /** The first of those whose object filter says it may hold the read's object (`prefetchSlots`), else null. */
  mt: MemContainer | null = null;
  /** The bytes holding the entry its slot names (`PointIndex.entryLines`), or null, and the offsets of its four lines there. */
  eb: Uint8Array | null = null;
  e0 = 0; e1 = 0; e2 = 0; e3 = 0;
}
const prepared: PreparedPoint[] = Array.from({ length: POINT_PREFETCH_MAX }, () => new PreparedPoint());
/** The prepared read the next `visibleSingle` may be (`preparedRead`), or null. */
let currentPrep: PreparedPoint | null = null;
/** Point reads that found their entry with a prepared seek key (never reset). */
let preparedUsed = 0;
/** @internal how many point reads used a prepared seek key so far (tests: the batched path is taken). */
export function preparedReads(): number { return preparedUsed; }

/**
 * First step of a batch of point reads: prepare the read at position `i` (< POINT_PREFETCH_MAX)
 * of `(oid, dkey, akey)` at `epoch` in a store of container `cont` whose memtables are `active`
 * and `frozen` and runs `runs` (no discards pending): its oid key, and its seek key and hashes when
 * the runs have a point index; each memtable's object filter word it will test is loaded. Then
 * `prefetchSlots` and `prefetchPoints` load the index slots and the entries they name for the
 * whole batch, and each read is made with `preparedRead(i)` set.
 *
 * Why: a point read of a random key costs two or three dependent cache misses (the index slot,
 * then the entry in its block, and the filters), and a read makes them one after another. The
 * reads a caller keeps in flight, prepared together and their lines loaded in tight loops, overlap
 * their misses. Only loads and the read's own key work are done ahead: nothing changes, and a
 * prepared read that is not made, or finds something else, just wasted a load.
 */
export function prefetchPoint(i: number, active: Memtable, frozen: Memtable | undefined, runs: readonly Run[], cont: number, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint): void {
  const p = prepared[i]!;
  p.oid = oid; p.dkey = dkey; p.akey = akey; p.cont = cont; p.epoch = epoch;
  p.key.of(oid);
  let touch = 0;
  if (pointReads.filterLoop) {
    p.ma = memPart(active, cont);
    p.mf = frozen !== undefined ? memPart(frozen, cont) : null;
  } else {
    touch = filterTouch(active, cont, p.key);
    if (frozen !== undefined) touch += filterTouch(frozen, cont, p.key);
  }
  const ix = runs.length > 0 && pointReads.index ? builtPointIndex(runs) : null;
  p.ix = ix;
  if (ix !== null) p.prefixLen = buildSeekKey(p.seek, p, cont, oid, p.key, dkey, akey, epoch);
  pointTouch = touch;
}

/** Container `cont`'s part of memtable `m` when it holds objects, else null. */
function memPart(m: Memtable, cont: number): MemContainer | null {
  const mc = m.conts.get(cont);
  return mc !== undefined && mc.objects.size !== 0 ? mc : null;
}

/** Loads the word of memtable `m`'s object filter that a read of the id in `k` tests (1 when its bit is set). */
function filterTouch(m: Memtable, cont: number, k: OidKey): number {
  const mc = m.conts.get(cont);
  return mc !== undefined && mc.objects.size !== 0 && mc.mayHold(k) ? 1 : 0;
}

/** Forget the read prepared at position `i` (it will not be made as prepared). */
export function unprepare(i: number): void {
  const p = prepared[i]!;
  p.oid = -1n; p.dkey = p.akey = null; p.ix = null; p.ma = p.mf = p.mt = null; p.eb = null;
}

/**
 * Second step of a batch: load the first slot of each of the first `n` prepared reads, and the
 * memtable filter words each will test (a tight loop: the misses overlap).
 */
export function prefetchSlots(n: number): void {
  let touch = 0;
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!, ix = p.ix;
    if (ix !== null) touch += ix.touch(p.h1 | 0);
    // (a memtable whose filter says it may hold the object: its table slot too, and its entry in the next step)
    p.mt = null;
    if (p.ma !== null && p.ma.mayHold(p.key)) { p.mt = p.ma; touch += p.ma.objects.touchSlot(p.key); }
    if (p.mf !== null && p.mf.mayHold(p.key)) { p.mt ??= p.mf; touch += p.mf.objects.touchSlot(p.key); }
  }
  pointTouch = touch;
}

/** Loads a memtable object's node and what a read of a solo node compares (`touchEntry`'s probe). */
function touchObject(o: MemObject): number {
  const so = solo(o);
  return so !== undefined ? so.dkey.length ^ so.akey.length ^ so.v.seq : 0;
}

/** For each of the first `n` prepared reads that may find its object in a memtable: its entry and node. */
function prefetchMemObjects(n: number): number {
  let touch = 0;
  for (let i = 0; i < n; i++) {
    const mt = prepared[i]!.mt;
    if (mt !== null) touch += mt.objects.touchEntry(prepared[i]!.key, touchObject);
  }
  return touch;
}

/** Third step of a batch: for each of the first `n` prepared reads, load the lines of the entry its slot names (found by the hashes alone). */
export function prefetchPoints(n: number): void {
  let touch = 0;
  if (!pointReads.split) {
    for (let i = 0; i < n; i++) {
      const p = prepared[i]!, ix = p.ix;
      if (ix !== null) touch += ix.touchEntry(p.h1 | 0, p.h2 | 0);
    }
    pointTouch = touch + prefetchMemObjects(n);
    return;
  }
  // where each entry lies first (its slot's line is loaded), then its lines in a loop of a few
  // instructions per read: more of the reads' misses are in flight at once
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!, ix = p.ix;
    p.eb = ix !== null ? ix.entryLines(p.h1 | 0, p.h2 | 0, p) : null;
  }
  for (let i = 0; i < n; i++) {
    const p = prepared[i]!, b = p.eb;
    if (b !== null) touch += b[p.e0]! ^ b[p.e1]! ^ b[p.e2]! ^ b[p.e3]!;
  }
  pointTouch = touch + prefetchMemObjects(n);
}

/**
 * The next point read (`visibleSingle`) may be the one prepared at position `i` (-1: none): it
 * uses the prepared key and hashes when its oid, key arrays, container and epoch are the ones it
 * was prepared with.
 */
export function preparedRead(i: number): void {
  currentPrep = i < 0 ? null : prepared[i]!;
}

/**
 * Most entries (summed over a store's runs) a `PointIndex` is built for. Memory: 12 bytes per
 * indexed version in the runs' point lists and 24-48 in the table (16-byte slots, at most 2/3
 * full; until session 29 28 and 48-96: the lists kept each version's stamp, the slots its block's
 * arena frame); larger stores keep the bloom and fence path. At 2^18, 100 B objects on 16 targets
 * (~3.9 entries per object) lost their index past ~1.08M objects, and a get went from ~3-4 to 25-45
 * us of CPU (the per-run path over ~13 runs per store); 2^20 moved that to ~4.3M, 2^21 (the same
 * most memory per store as 2^20 took before) to ~8.6M.
 */
export const POINT_INDEX_MAX_VERSIONS = 1 << 21;
/** Words of one `PointIndex` slot (16 bytes: four slots per cache line). */
const SLOT_WORDS = 4;
/** Most runs a `PointIndex` covers (a slot names its run in 8 bits). */
const POINT_INDEX_MAX_RUNS = 255;

/**
 * Whether point reads use their runs' `PointIndex` (default; `CAIRN_POINT_INDEX=0` turns it off),
 * and whether the index answers from the block arena (`arena`: else from the block cache).
 * @internal also switched by tests, which hold both paths to each other, and by A/B measurements.
 */
export const pointReads = { index: process.env.CAIRN_POINT_INDEX !== '0', minReads: 0, arena: true, filterLoop: true, split: true, syncListsMax: 0 };

/**
 * Point reads a list of runs serves on the per-run path before its `PointIndex` is built (a list
 * the index of a shorter list extends is indexed at once). Building reads every block of every run:
 * a store opened to serve a few reads must not pay for it (issue 12: reopen plus 2,000 random reads
 * of 300k objects over 16 stores, ~125 per store, went from 0.5 s to 13 s under load when the first
 * read of each store built it), and a store read this often has paid for it many times over.
 */
export const POINT_INDEX_MIN_READS = 1024;
pointReads.minReads = POINT_INDEX_MIN_READS;

/**
 * Most entries of runs without point lists yet that a read meeting their list makes the lists of
 * in its own turn (~0.4 us per entry here, ~12 ms; up to ~60 ms on cold code and a loaded
 * machine); more are made in the background (`makeLists`). @internal tests lower it.
 */
export const POINT_INDEX_SYNC_LIST_ENTRIES = 32_768;
pointReads.syncListsMax = POINT_INDEX_SYNC_LIST_ENTRIES;

/** The stamps of two versions compared while building a `PointIndex` (reused). */
const stamp = { hi: 0, lo: 0, seq: 0 }, stampB = { hi: 0, lo: 0, seq: 0 };
function be32(b: Uint8Array, at: number): number { return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0; }

/**
 * Where `PointIndex.find` found its entry: verified bytes holding its block (an arena segment, or
 * the block's own copy), a DataView of them, and the entry's offset in them (reused: valid until
 * the next call).
 */
const pointHit: { bytes: Uint8Array; o: number; dv: DataView } = { bytes: new Uint8Array(0), o: 0, dv: new DataView(new ArrayBuffer(0)) };

/** Where `PointIndex.find` leaves the bytes it loads ahead (kept so the loads are not dropped as unused). */
let pointTouch = 0;
/** @internal the last value `PointIndex.find` loaded ahead (for tests: reading it keeps the loads). */
export function pointTouched(): number { return pointTouch; }

/** @internal `PointIndex.find`'s last hit (its block's bytes and entry), for tests. */
export function pointHitOf(): { bytes: Uint8Array; o: number } { return { bytes: pointHit.bytes, o: pointHit.o }; }

/**
 * A store's runs' newest single-value version of every akey, in one open-addressing hash table
 * keyed by the two bloom hashes of the akey's lookup prefix: a point read of a fresh key probes one
 * or two slots of one array and reads the one data block that holds the version, instead of a
 * bloom filter per run (1-6 cache lines each), then the fences and a block search of each run the
 * filters let through. On this machine a get is bound by the cache lines and pages it touches
 * (the io bench's gets over 151k objects touch 4-8 runs per store).
 *
 * Built when a read first meets a list of runs (lists are replaced, never changed in place, when
 * runs come and go), from each run's point list (`Run.points`, made once per run), and only while
 * every run has one and the list holds at most POINT_INDEX_MAX_VERSIONS versions: otherwise reads
 * keep the per-run path. Each slot is `[h1, h2, run + 1, loc]` (run 0: empty): where the entry is
 * in its run; the run knows the `BlockArena` frame its block was copied into (`Run.pointFrameHeld`,
 * one word pair per data block), so a read goes from the slot to the block's bytes; a block whose
 * frame was reused is copied in again (`Run.pointFrame`), and a block with no frame is read from
 * the block cache. Two akeys whose hashes agree in full get
 * two slots (their keys are compared while building and when reading), so an akey absent from the
 * table is absent from every run.
 */
export class PointIndex {
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** The arena of the runs' block cache (one per store: every run of the list shares it). */
  private readonly arena: BlockArena | null;
  /**
   * The arena's fill count when the index was built: reads copy blocks into frames (a block met
   * first, or whose frame was reused) until the arena has been filled once over since, then read
   * unframed blocks from the block cache. Runs whose blocks do not all fit would otherwise copy a
   * block per read.
   */
  private readonly builtFills: number;
  /**
   * Whether any of the runs may hold punches (`Run.mayHavePunches`, read once here: a run's meta
   * object is of many shapes, so that read is a megamorphic load per run, and a point read asks
   * it of every run each time it finds a version).
   */
  readonly anyPunches: boolean;
  /**
   * Index `lists` (the point lists of `runs`, in order: `total` versions). With `prev`, the index of
   * a list of runs `runs` starts with (a flush appends a run), its table is copied and only the runs
   * after those are added, while it has room.
   */
  constructor(readonly runs: readonly Run[], lists: readonly RunPoints[], total: number, prev?: PointIndex) {
    let from = 0;
    this.arena = runs.length > 0 ? runs[0]!.arena : null;
    if (prev !== undefined && (prev.mask + 1) >= total * 1.5) {
      this.mask = prev.mask;
      this.slots = prev.slots.slice();
      from = prev.runs.length;
    } else {
      let size = 16;
      while (size < total * 1.5) size *= 2; // (at most 2/3 full: an absent akey's probe ends within a line or two)
      this.mask = size - 1;
      this.slots = new Int32Array(size * SLOT_WORDS);
    }
    const t = this.slots;
    // (blocks are copied into the arena by the reads that meet them, not here: a build that copied
    // every indexed block took 0.75 us per version, 0.09 without, on the read that triggers it,
    // and every merge of a store's runs builds its table again)
    for (let r = from; r < lists.length; r++) {
      const p = lists[r]!;
      for (let i = 0; i < p.count; i++) {
        const h1 = p.h1[i]!, h2 = p.h2[i]!;
        let s = h1 & this.mask;
        for (;;) {
          const w = s * SLOT_WORDS;
          if (t[w + 2] === 0) { t[w] = h1; t[w + 1] = h2; t[w + 2] = r + 1; t[w + 3] = p.loc[i]!; break; }
          if (t[w] === h1 && t[w + 1] === h2 && this.sameAkey(t[w + 2]! - 1, t[w + 3]!, r, p.loc[i]!)) {
            // keep the newer (epoch, then sequence number); both stamps are read in their entries
            this.stampOf(t[w + 2]! - 1, t[w + 3]!, stamp);
            this.stampOf(r, p.loc[i]!, stampB);
            const hi = stampB.hi, lo = stampB.lo, q = stampB.seq;
            if (hi > stamp.hi || (hi === stamp.hi && (lo > stamp.lo || (lo === stamp.lo && q > stamp.seq)))) { t[w + 2] = r + 1; t[w + 3] = p.loc[i]!; }
            break;
          }
          s = (s + 1) & this.mask;
        }
      }
    }
    this.builtFills = this.arena === null ? 0 : this.arena.fills;
    this.anyPunches = anyPunches(runs);
  }

  /**
   * The arena frame of the block of the slot at word `w` (`Run.pointFrame`: copied in when it has
   * none, or none of this generation); -1 when it has none.
   */
  private refresh(w: number): number {
    const t = this.slots;
    return this.runs[t[w + 2]! - 1]!.pointFrame(Math.floor(t[w + 3]! / POINT_ENTRY_LIMIT));
  }

  /** The arena frame holding the block of the slot at word `w` now, or -1 (`Run.pointFrameHeld`). */
  private held(w: number): number {
    const t = this.slots;
    return this.runs[t[w + 2]! - 1]!.pointFrameHeld(Math.floor(t[w + 3]! / POINT_ENTRY_LIMIT));
  }

  /** The stamp of the entry at (run r, loc) into `into`. */
  private stampOf(r: number, loc: number, into: { hi: number; lo: number; seq: number }): void {
    const b = this.runs[r]!.pointBytes(Math.floor(loc / POINT_ENTRY_LIMIT)), o = loc % POINT_ENTRY_LIMIT;
    const st = o + ENTRY_HEADER + (b[o]! | (b[o + 1]! << 8)) - STAMP_BYTES;
    into.hi = (0xffffffff - be32(b, st)) >>> 0; into.lo = (0xffffffff - be32(b, st + 4)) >>> 0;
    into.seq = (0xffffffff - be32(b, st + 8)) * 4294967296 + (0xffffffff - be32(b, st + 12));
  }

  /** Whether the single-value entries at (run a, loc la) and (run b, loc lb) are versions of one akey. */
  private sameAkey(a: number, la: number, b: number, lb: number): boolean {
    const x = this.runs[a]!.pointBytes(Math.floor(la / POINT_ENTRY_LIMIT)), oa = la % POINT_ENTRY_LIMIT;
    const y = this.runs[b]!.pointBytes(Math.floor(lb / POINT_ENTRY_LIMIT)), ob = lb % POINT_ENTRY_LIMIT;
    const na = x[oa]! | (x[oa + 1]! << 8), nb = y[ob]! | (y[ob + 1]! << 8);
    if (na !== nb) return false;
    const ka = oa + ENTRY_HEADER, kb = ob + ENTRY_HEADER;
    for (let j = na - STAMP_BYTES - 1; j >= 0; j--) if (x[ka + j] !== y[kb + j]) return false;
    return true;
  }

  /**
   * The slot of the akey whose lookup prefix is `key[0, prefixLen)` (hashes `p`), its entry's block
   * and position left in `pointHit`; -1 when no run holds a single of it.
   */
  find(key: Uint8Array, prefixLen: number, p: BloomProbe): number {
    const t = this.slots, h1 = p.h1 | 0, h2 = p.h2 | 0, a = this.arena;
    for (let s = h1 & this.mask; ; s = (s + 1) & this.mask) {
      const w = s * SLOT_WORDS, r = t[w + 2]!;
      if (r === 0) return -1;
      if (t[w] !== h1 || t[w + 1] !== h2) continue;
      const loc = t[w + 3]!;
      // the entry `[klen u16][vlen u32][key]...` read in the verified block's bytes, no view:
      // in its arena frame while the frame holds it (the slot's generation), else from the cache
      let f = a === null || !pointReads.arena ? -1 : this.held(w);
      if (f < 0) f = pointReads.arena && a !== null && a.fills - this.builtFills < a.frames ? this.refresh(w) : -1;
      let b: Uint8Array, o: number, dv: DataView;
      if (f >= 0) {
        const seg = BlockArena.segment(f);
        b = a!.segs[seg]!; dv = a!.dvs[seg]!; o = BlockArena.base(f) + loc % POINT_ENTRY_LIMIT;
      } else {
        const blk = this.runs[r - 1]!.pointBlock(Math.floor(loc / POINT_ENTRY_LIMIT));
        b = blk.bytes; dv = blk.dv; o = loc % POINT_ENTRY_LIMIT;
      }
      // (the lines after the entry's first, where its version and inline value lie, loaded now,
      // beside the first: independent loads whose cache misses overlap instead of following it)
      const last = b.length - 1;
      pointTouch = b[Math.min(o + 64, last)]! ^ b[Math.min(o + 128, last)]! ^ b[Math.min(o + 192, last)]!;
      if ((b[o]! | (b[o + 1]! << 8)) !== prefixLen + 1 + STAMP_BYTES || !sameBytesAt(b, o + ENTRY_HEADER, key, prefixLen + 1)) continue;
      pointHit.bytes = b; pointHit.o = o; pointHit.dv = dv;
      return s;
    }
  }

  /** The first word of the slot a probe of hash `h1` starts at (loads its line; see `prefetchPoint`). */
  touch(h1: number): number {
    return this.slots[(h1 & this.mask) * SLOT_WORDS + 2]!;
  }

  /**
   * Loads the lines of the entry of the first slot holding hashes `(h1, h2)` (its arena frame's,
   * when that frame still holds its block), as `find` would read them; returns a byte of them.
   */
  touchEntry(h1: number, h2: number): number {
    const t = this.slots, a = this.arena;
    if (a === null) return 0;
    for (let s = h1 & this.mask; ; s = (s + 1) & this.mask) {
      const w = s * SLOT_WORDS;
      if (t[w + 2] === 0) return 0;
      if (t[w] !== h1 || t[w + 1] !== h2) continue;
      const f = this.held(w);
      if (f < 0) return 0;
      const b = a.segs[BlockArena.segment(f)]!, o = BlockArena.base(f) + t[w + 3]! % POINT_ENTRY_LIMIT;
      const last = b.length - 1;
      return b[o]! ^ b[Math.min(o + 64, last)]! ^ b[Math.min(o + 128, last)]! ^ b[Math.min(o + 192, last)]!;
    }
  }

  /**
   * The arena bytes holding the entry of the first slot holding hashes `(h1, h2)`, when its frame
   * still holds its block (else null), with the offsets of the entry's first four lines in them
   * (`touchEntry`'s loads, clamped to the bytes) in `at.e0..e3`. Loads only the slot's line.
   */
  entryLines(h1: number, h2: number, at: { e0: number; e1: number; e2: number; e3: number }): Uint8Array | null {
    const t = this.slots, a = this.arena;
    if (a === null) return null;
    for (let s = h1 & this.mask; ; s = (s + 1) & this.mask) {
      const w = s * SLOT_WORDS;
      if (t[w + 2] === 0) return null;
      if (t[w] !== h1 || t[w + 1] !== h2) continue;
      const f = this.held(w);
      if (f < 0) return null;
      const b = a.segs[BlockArena.segment(f)]!, o = BlockArena.base(f) + t[w + 3]! % POINT_ENTRY_LIMIT;
      const last = b.length - 1;
      at.e0 = o; at.e1 = Math.min(o + 64, last); at.e2 = Math.min(o + 128, last); at.e3 = Math.min(o + 192, last);
      return b;
    }
  }

  /** The fence (data block) of slot `s`'s entry in its run. */
  blockOf(s: number): number { return Math.floor(this.slots[s * SLOT_WORDS + 3]! / POINT_ENTRY_LIMIT); }

  /** The run (its position in `runs`) of slot `s`. */
  runOf(s: number): number { return this.slots[s * SLOT_WORDS + 2]! - 1; }

  /** @internal the arena frame holding slot `s`'s block now (-1: none), for tests. */
  frameOf(s: number): number { return this.held(s * SLOT_WORDS); }
}

/**
 * The point index of `runs` (built on first use), or null when it has none (see PointIndex). Kept
 * on the list's first run (`Run.pointIndexOf`) with the list it was built for.
 */
export function pointIndexOf(runs: readonly Run[]): PointIndex | null {
  const first = runs[0];
  if (first === undefined) return null;
  const kept = first.pointIndexOf;
  if (kept !== undefined && kept.building !== undefined && kept.runs === runs) {
    // (its point lists are being made: the per-run path, helping the making when the loop stalls)
    if (kept.build !== undefined) helpListBuild(kept.build as ListBuild);
    return null;
  }
  // (a list is replaced when runs change; one grown in place while a store opens is indexed again)
  let prev: PointIndex | undefined;
  let reads = 0;
  if (kept !== undefined) {
    const old = kept.index as PointIndex | null;
    if (kept.reads !== undefined) reads = kept.reads; // (reads of a list not indexed yet count for the list that replaces it)
    else if (kept.runs === runs && (old === null || old.runs.length === runs.length)) return old;
    // the list it was built for starts the new one (a flush appended runs): extend a copy of it
    if (old !== null && old.runs.length < runs.length && old.runs.every((r, i) => runs[i] === r)) prev = old;
  }
  if (prev === undefined && ++reads < pointReads.minReads) {
    // not read enough yet to pay for a build: the per-run path
    if (kept !== undefined && kept.runs === runs) kept.reads = reads;
    else first.pointIndexOf = { runs, index: null, reads };
    return null;
  }
  let ix: PointIndex | null = null;
  if (runs.length <= POINT_INDEX_MAX_RUNS) {
    let entries = 0;
    for (const r of runs) entries += r.meta.entries;
    if (entries <= POINT_INDEX_MAX_VERSIONS) {
      let pending = 0;
      for (const r of runs) if (!r.pointsMade) pending += r.meta.entries;
      if (pending > pointReads.syncListsMax) {
        // the runs' point lists read every block: made in the background, a step per turn, while
        // reads take the per-run path; the read after them builds the table (~0.1 us per version)
        first.pointIndexOf = { runs, index: null, reads: pointReads.minReads, ...makeLists(runs, first) };
        return null;
      }
      const lists: RunPoints[] = [];
      let total = 0;
      for (const r of runs) { const p = r.points(); if (p === null) break; lists.push(p); total += p.count; }
      if (lists.length === runs.length) {
        try { ix = new PointIndex(runs.slice(), lists, total, prev); } catch { ix = null; }
      }
    }
  }
  first.pointIndexOf = { runs, index: ix };
  return ix;
}

/**
 * Reads that find a list's point lists still being made, with no step made for this long, make one
 * step themselves (`helpListBuild`), at most one per this long over every store of the process.
 * The steps wait for turns of the event loop, and a stream of reads answered in microtasks (a
 * caller keeping gets in flight on an embedded pool: each resolves in a microtask) never lets it
 * turn: 151k objects over 16 targets, the lists of ~40k entries per target were still unmade after
 * 250k gets, every get on the per-run path (200-270k gets/s against 350-450k once indexed). A step
 * is `POINT_LIST_STEP_BLOCKS` blocks (~0.4 ms here), so reads that help give it at most a third of
 * a stalled loop's time, and a loop that turns never helps.
 */
export const POINT_LIST_HELP_AFTER_MS = 1;
/** When a read last made a step of a list (`helpListBuild`), over every store. */
let lastHelpMs = -Infinity;

/**
 * The making of the point lists of `runs` (`makeLists`), a step at a time (`step`): up to
 * `POINT_LIST_STEP_BLOCKS` blocks of the next run without its list. Stops when a run of the list
 * is retired (merged away: its chunks may be reused), the list is replaced, or a list fails (no
 * index for `runs`); when every list is made, the next read of `runs` builds the table.
 */
class ListBuild {
  /** The next run whose list may be unmade. */
  private next = 0;
  private finished = false;
  /** When the last step was made (by the loop or by a read). */
  lastStepMs = performance.now();
  constructor(private readonly runs: readonly Run[], private readonly first: Run) {}

  /** Make one step; true once the making is over (done, failed or no longer wanted). */
  step(): boolean {
    this.lastStepMs = performance.now();
    if (this.finished) return true;
    const { runs, first } = this;
    if (first.pointIndexOf?.build !== this || runs.some((r) => r.retired)) return this.finish();
    while (this.next < runs.length && runs[this.next]!.pointsMade) this.next++;
    if (this.next === runs.length) {
      first.pointIndexOf = { runs, index: null, reads: pointReads.minReads };
      return this.finish();
    }
    const s = runs[this.next]!.pointSteps().next();
    if (s.done) {
      if (s.value === null) { first.pointIndexOf = { runs, index: null }; return this.finish(); }
      this.next++;
    }
    return false;
  }

  private finish(): true { this.finished = true; return true; }
}

/** A read found `b` unfinished: make a step of it if neither the loop nor another read has lately. */
function helpListBuild(b: ListBuild): void {
  const now = performance.now();
  if (now - b.lastStepMs < POINT_LIST_HELP_AFTER_MS || now - lastHelpMs < POINT_LIST_HELP_AFTER_MS) return;
  lastHelpMs = now;
  b.step();
}

/**
 * Make the point lists of `runs` in steps (`ListBuild`), one per turn of the event loop
 * (`pointIndexOf`, for lists of more than `pointReads.syncListsMax` entries to make: ~0.4 us per
 * entry here, on the read that would build it), and by reads when the loop stalls. Resolves when
 * the making is over.
 */
function makeLists(runs: readonly Run[], first: Run): { build: ListBuild; building: Promise<void> } {
  const build = new ListBuild(runs, first);
  const building = (async () => {
    for (;;) {
      await new Promise<void>((res) => setImmediate(res));
      if (build.step()) return;
    }
  })();
  return { build, building };
}

/** The point index built for exactly `runs`, or null (never builds one, counts no read: `prefetchPoint`). */
function builtPointIndex(runs: readonly Run[]): PointIndex | null {
  const kept = runs[0]!.pointIndexOf;
  if (kept === undefined || kept.reads !== undefined || kept.runs !== runs) return null;
  const ix = kept.index as PointIndex | null;
  return ix !== null && ix.runs.length === runs.length ? ix : null;
}

/**
 * The version entry value at `blk.bytes[off, off+len)`, decoded in place (`decodeVersionAt`):
 * inline versions into the shared `pointVersion` (valid until the next call), others into a new
 * object. Exported for the test that holds it to `decodeVersion`.
 */
export function versionAt(blk: BlockView, off: number, len: number, epoch: bigint, seq: number): MemVersion | undefined {
  return decodeVersionAt(blk.dv, blk.bytes, off, len, epoch, seq, pointVersion);
}

/** Every array extent version at or below `epoch` (not discarded), any order. */
export function extentsAtOrBelow(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, pr: AkeyProbes): MemVersion[] {
  const out: MemVersion[] = [];
  for (const m of v.mems) {
    const a = m.find(v.cont, oid, dkey, akey).a;
    if (a) for (const x of a.extents) if (x.epoch <= epoch && !hidden(v.tombs, x.epoch, x.seq)) out.push(x);
  }
  for (const r of v.runs) {
    if (!r.mayContain(pr.pa)) continue;
    for (const x of runArrayVersions(r, pr.akey)) if (x.epoch <= epoch && !hidden(v.tombs, x.epoch, x.seq)) out.push(x);
  }
  return out;
}

/**
 * Every array version of the akey under prefix `akey` in run `r` (all epochs, newest first),
 * decoded once: each run keeps the answer for the last akey asked of it, so a read that wants
 * an akey's record size and then its visible extents seeks the run once. Runs never change after
 * they are written, so a kept answer stays right; the versions are shared, never written to.
 */
function runArrayVersions(r: Run, akey: Uint8Array): readonly MemVersion[] {
  const kept = runArrays.get(r);
  if (kept !== undefined && sameBytes(kept.akey, akey)) return kept.versions;
  const p = withTag(akey, TAG_ARRAY);
  const c = r.cursor().seek(p);
  const versions: MemVersion[] = [];
  while (c.valid && hasPrefix(c.key(), p)) {
    const s = keyStamp(c.key());
    const ver = decodeVersion(c.value(), s.epoch, s.seq, true);
    if (!ver) throw corruptEntry(r, c.key());
    versions.push(ver);
    c.next();
  }
  runArrays.set(r, { akey: akey.slice(), versions });
  return versions;
}
/** `runArrayVersions`' last answer per run. */
const runArrays = new WeakMap<Run, { akey: Uint8Array; versions: readonly MemVersion[] }>();

/**
 * What a read of an array akey at `epoch` needs, in one pass over the sources (each memtable
 * looked up once, each run's array versions decoded once): the akey's record size (that of any
 * extent written, as `arrayRecordSize`; undefined when none) and the extents visible at `epoch`
 * (at or below it, not discarded, above the punch floor), newest first.
 *
 * With `cover` (the records a read wants), a run whose every entry is older than a visible memtable
 * extent covering all of `cover` is not read (`RunMeta.maxEpoch`): its extents lie under that one
 * within `cover` and its punches below it (a punch that hides it hides them too), so the extents
 * returned still decide every record of `cover`, though older ones outside it may be left out. A
 * 1 MiB EC read right after its rewrite found the new cell in the memtable and then decoded the
 * aggregated run's older version of it, every read.
 */
export function visibleArray(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, epoch: bigint, pr: AkeyProbes, cover?: { index: number; count: number }): { recordSize: number | undefined; extents: MemVersion[] } {
  let recordSize: number | undefined;
  let floor: Stamp = NO_STAMP;
  const out: MemVersion[] = [];
  for (const m of v.mems) {
    const { o, d, a } = m.find(v.cont, oid, dkey, akey);
    if (o && o.punches.length) floor = newestPunch(o.punches, epoch, v.tombs, floor);
    if (d && d.punches.length) floor = newestPunch(d.punches, epoch, v.tombs, floor);
    if (!a) continue;
    if (a.punches.length) floor = newestPunch(a.punches, epoch, v.tombs, floor);
    const xs = a.extents;
    if (recordSize === undefined && xs.length) recordSize = xs[xs.length - 1]!.recordSize;
    for (const x of xs) if (x.epoch <= epoch && !hidden(v.tombs, x.epoch, x.seq)) out.push(x);
  }
  // the epoch of the newest visible memtable extent covering `cover`: runs all older than it are not read
  let shadow = -1n;
  if (cover !== undefined) {
    const lo = cover.index, hi = cover.index + cover.count;
    for (const x of out) if (x.epoch > shadow && x.index <= lo && x.index + x.count >= hi && before(floor, x)) shadow = x.epoch;
  }
  for (const r of v.runs) {
    if (shadow >= 0n) { const m = r.meta.maxEpoch; if (m !== undefined && m < shadow) continue; }
    if (r.mayHavePunches) {
      if (r.mayContain(pr.po)) { const x = runNewest(r, pr.obj, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
      if (r.mayContain(pr.pd)) { const x = runNewest(r, pr.dkey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
      if (r.mayContain(pr.pa)) { const x = runNewest(r, pr.akey, TAG_PUNCH, epoch, v.tombs); if (x && before(floor, x)) floor = { epoch: x.epoch, seq: x.seq }; }
    }
    if (!r.mayContain(pr.pa)) continue;
    const xs = runArrayVersions(r, pr.akey);
    if (recordSize === undefined && xs.length) recordSize = xs[0]!.recordSize;
    for (const x of xs) if (x.epoch <= epoch && !hidden(v.tombs, x.epoch, x.seq)) out.push(x);
  }
  let n = 0;
  for (const x of out) if (before(floor, x)) out[n++] = x;
  out.length = n;
  if (n > 1) out.sort(newestFirst);
  return { recordSize, extents: out };
}
const newestFirst = (a: Stamp, b: Stamp) => (before(a, b) ? 1 : before(b, a) ? -1 : 0);

/** Record size of an array akey: that of any extent written (newest first), or undefined. */
export function arrayRecordSize(v: ReadView, oid: bigint, dkey: Uint8Array, akey: Uint8Array, pr: AkeyProbes): number | undefined {
  // (discarded extents do not count: a store reopened after the discard no longer holds them)
  for (const m of v.mems) {
    const xs = m.find(v.cont, oid, dkey, akey).a?.extents;
    if (xs) for (let i = xs.length - 1; i >= 0; i--) if (!hidden(v.tombs, xs[i]!.epoch, xs[i]!.seq)) return xs[i]!.recordSize;
  }
  for (const r of v.runs) {
    if (!r.mayContain(pr.pa)) continue;
    const rs = runArrayRecordSize(r, pr.akey, v.tombs);
    if (rs !== undefined) return rs;
  }
  return undefined;
}

/**
 * The record size of the newest array version of the akey under prefix `akey` in run `r` (the
 * first entry under its array prefix, the only one decoded), undefined when the run holds none;
 * the run's kept `runArrayVersions` answer for that akey when there is one. Every array shard
 * update checks its akey's record size: decoding (and keeping) all of a run's versions of the akey
 * for it was 3.3% of the process CPU of 1 MiB EC writes (the ec engineer's profile, session 14).
 * A malformed first entry is `CORRUPTED`; later entries are judged by the reads that decode them.
 */
function runArrayRecordSize(r: Run, akey: Uint8Array, tombs: Tomb[]): number | undefined {
  const kept = runArrays.get(r);
  if (kept !== undefined && sameBytes(kept.akey, akey)) { for (const x of kept.versions) if (!hidden(tombs, x.epoch, x.seq)) return x.recordSize; return undefined; }
  const p = withTag(akey, TAG_ARRAY);
  for (const c = r.cursor().seek(p); c.valid && hasPrefix(c.key(), p); c.next()) {
    const s = keyStamp(c.key());
    if (hidden(tombs, s.epoch, s.seq)) continue; // (discarded, not yet merged away)
    const ver = decodeVersion(c.value(), s.epoch, s.seq, true);
    if (!ver) throw corruptEntry(r, c.key());
    return ver.recordSize;
  }
  return undefined;
}

function corruptEntry(r: Run, key: Uint8Array): VosError {
  return new VosError('CORRUPTED', `malformed entry in run ${r.meta.id}`, { run: r.meta.id, key: Buffer.from(key).toString('hex') });
}

// ------------------------------------------------------------------------------------ ordered scans

/** One entry of a scan (copies). */
export interface ScanEntry { key: Uint8Array; value: Uint8Array }

const kb = new KeyBuilder();

/** Entries of a memtable object in key order, encoded like run entries (values: the version, inline bytes omitted). */
function* memObjectEntries(cont: number, o: MemObject, dkeyFrom?: Uint8Array): Generator<ScanEntry> {
  const obj = objectPrefix(cont, o.oid);
  const empty = new Uint8Array(0);
  const punches = (ps: MemPunch[]) => ps.slice().sort((a, b) => (before(a, b) ? 1 : before(b, a) ? -1 : 0));
  if (!dkeyFrom) for (const p of punches(o.punches)) yield { key: kb.reset().bytes(obj).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: empty };
  const ds = sortedDkeys(o);
  let i = 0;
  if (dkeyFrom) { let lo = 0, hi = ds.length; while (lo < hi) { const m = (lo + hi) >> 1; if (Buffer.compare(ds[m]!.key, dkeyFrom) < 0) lo = m + 1; else hi = m; } i = lo; }
  for (; i < ds.length; i++) yield* memDkeyEntries(obj, ds[i]!);
}

export function* memDkeyEntries(obj: Uint8Array, d: MemDkey): Generator<ScanEntry> {
  const empty = new Uint8Array(0);
  const dk = kb.reset().bytes(obj).u8(TAG_KEY).esc(d.key).take();
  const desc = <T extends Stamp>(xs: T[]) => xs.slice().sort((a, b) => (before(a, b) ? 1 : before(b, a) ? -1 : 0));
  for (const p of desc(d.punches)) yield { key: kb.reset().bytes(dk).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: empty };
  for (const a of sortedAkeys(d)) yield* memAkeyEntries(dk, a);
}

/** The version itself travels beside the entry (no re-encoding) for memtable sources. */
const memVersionOf = new WeakMap<Uint8Array, MemVersion>();

function* memAkeyEntries(dk: Uint8Array, a: MemAkey): Generator<ScanEntry> {
  const empty = new Uint8Array(0);
  const ak = kb.reset().bytes(dk).u8(TAG_KEY).esc(a.key).take();
  const desc = <T extends Stamp>(xs: T[]) => xs.slice().sort((x, y) => (before(x, y) ? 1 : before(y, x) ? -1 : 0));
  for (const p of desc(a.punches)) yield { key: kb.reset().bytes(ak).u8(TAG_PUNCH).inv64(p.epoch).invSeq(p.seq).take(), value: empty };
  for (const [tag, list] of [[TAG_SINGLE, a.singles], [TAG_ARRAY, a.extents]] as const) {
    for (const v of desc(list)) {
      const value = new Uint8Array(0);
      memVersionOf.set(value, v);
      yield { key: kb.reset().bytes(ak).u8(tag).inv64(v.epoch).invSeq(v.seq).take(), value };
    }
  }
}

/** Decode an entry's version (memtable entries carry theirs). */
export function entryVersion(e: ScanEntry, epoch: bigint, seq: number): MemVersion | undefined {
  return memVersionOf.get(e.value) ?? decodeVersion(e.value, epoch, seq, true);
}

/**
 * A cursor over the merged sources within `[lo, hi)`, forward or backward. Memtable sources are
 * materialised for the scanned object (bounded by the memtable); run sources are cursors.
 */
/**
 * Keys in order (bytes, then length: `compareKeys`' order, its sign) in JavaScript: `compareKeys`
 * is `Buffer.compare`, a call into C++ that costs 3-4x this loop on keys of a few dozen bytes, and
 * a scan compares each entry it hands out several times (every source's head, then the bounds):
 * a rebuild's listing of 2048 EC_8P2G1 objects spent 15% of its CPU in it.
 */
function cmpKeys(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a[i]!, y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

class MergedScan {
  private readonly heads: Array<{ next: () => ScanEntry | undefined; cur: ScanEntry | undefined }> = [];
  constructor(sources: Array<() => ScanEntry | undefined>, private readonly reverse: boolean) {
    for (const next of sources) this.heads.push({ next, cur: next() });
  }
  next(): ScanEntry | undefined {
    let best = -1;
    for (let i = 0; i < this.heads.length; i++) {
      const h = this.heads[i]!.cur;
      if (!h) continue;
      if (best < 0) { best = i; continue; }
      const c = cmpKeys(h.key, this.heads[best]!.cur!.key);
      if (this.reverse ? c > 0 : c < 0) best = i;
    }
    if (best < 0) return undefined;
    const out = this.heads[best]!.cur!;
    for (let i = 0; i < this.heads.length; i++) { const h = this.heads[i]!; while (h.cur && cmpKeys(h.cur.key, out.key) === 0) h.cur = h.next(); }
    return out;
  }
}

function runSource(r: Run, lo: Uint8Array, hi: Uint8Array | undefined, reverse: boolean): () => ScanEntry | undefined {
  const c = r.cursor();
  if (reverse) c.seekBefore(hi); else c.seek(lo);
  return () => {
    if (!c.valid) return undefined;
    const k = c.key();
    if (reverse ? cmpKeys(k, lo) < 0 : hi !== undefined && cmpKeys(k, hi) >= 0) return undefined;
    const e = { key: k.slice(), value: c.value().slice() };
    if (reverse) c.prev(); else c.next();
    return e;
  };
}

function arraySource(xs: ScanEntry[], lo: Uint8Array, hi: Uint8Array | undefined, reverse: boolean): () => ScanEntry | undefined {
  const inRange = xs.filter((e) => cmpKeys(e.key, lo) >= 0 && (hi === undefined || cmpKeys(e.key, hi) < 0));
  if (reverse) inRange.reverse();
  let i = 0;
  return () => inRange[i++];
}

/**
 * A merged scan of `[lo, hi)`. `mem(m)` gives a memtable's entries for the range: an array (any
 * order; sorted here) or an iterator already in scan order (it may run past the range: it is cut).
 */
export function scan(v: ReadView, lo: Uint8Array, hi: Uint8Array | undefined, reverse: boolean, mem: (m: Memtable) => ScanEntry[] | Iterator<ScanEntry>, runFilter?: (r: Run) => boolean): MergedScan {
  const sources: Array<() => ScanEntry | undefined> = [];
  for (const m of v.mems) {
    const got = mem(m);
    if (Array.isArray(got)) {
      sources.push(arraySource(got.sort((a, b) => cmpKeys(a.key, b.key)), lo, hi, reverse));
    } else {
      const it = got;
      sources.push(() => {
        for (;;) {
          const r = it.next();
          if (r.done) return undefined;
          const k = r.value.key;
          const below = cmpKeys(k, lo) < 0; const above = hi !== undefined && cmpKeys(k, hi) >= 0;
          if (reverse ? below : above) return undefined;
          if (!below && !above) return r.value;
        }
      });
    }
  }
  for (const r of v.runs) if (!runFilter || runFilter(r)) sources.push(runSource(r, lo, hi, reverse));
  return new MergedScan(sources, reverse);
}

/** Memtable entries of one object (from a dkey on). */
export function memObject(m: Memtable, cont: number, oid: bigint): ScanEntry[] {
  const o = m.conts.get(cont)?.objects.get(oid);
  return o ? [...memObjectEntries(cont, o)] : [];
}

/**
 * Memtable object-table entries of a container from key `lo` on, in key order (a scan's iterator
 * source). The entries are encoded and sorted once per memtable container and kept until its next
 * new object (`MemContainer.objectTable`); a page finds its start by binary search. (A rebuild's
 * listing encoded every oid of the memtable for each page of LIST_PAGE ids, only for the scan to
 * filter and decode them again: 4-8% of its thread.)
 */
export function memObjectTable(m: Memtable, cont: number, lo?: Uint8Array): Iterator<ScanEntry> {
  const c = m.conts.get(cont);
  let t: ScanEntry[] = [];
  if (c) {
    t = c.objectTable ?? [];
    if (c.objectTable === undefined) {
      const empty = new Uint8Array(0);
      const p = objectTablePrefix(cont);
      t = c.oids().map((oid) => ({ key: kb.reset().bytes(p).oid(oid).take(), value: empty })).sort((a, b) => cmpKeys(a.key, b.key));
      c.objectTable = t;
    }
  }
  let i = 0;
  if (lo !== undefined) {
    for (let hi = t.length; i < hi;) { const mid = (i + hi) >>> 1; if (cmpKeys(t[mid]!.key, lo) < 0) i = mid + 1; else hi = mid; }
  }
  const table = t;
  return { next: (): IteratorResult<ScanEntry> => (i < table.length ? { value: table[i++]!, done: false } : { value: undefined, done: true }) };
}

/** An object's content, gathered from every source into memtable-shaped nodes (for listing and visibility). */
export interface Gathered { punches: Stamp[]; dkeys: Map<string, { key: Uint8Array; punches: Stamp[]; akeys: Map<string, { key: Uint8Array; punches: Stamp[]; singles: MemVersion[]; extents: MemVersion[] }> }> }

/** Fold scan entries of one object into a `Gathered` (tombstoned entries left out). */
export function gather(entries: Iterable<ScanEntry>, tombs: Tomb[], into: Gathered = { punches: [], dkeys: new Map() }): Gathered {
  for (const e of entries) addEntry(into, e, tombs);
  return into;
}

export function addEntry(into: Gathered, e: ScanEntry, tombs: Tomb[]): void {
  const sh = keyShape(e.key);
  if (!sh || sh.kind === 'object') return;
  const st = keyStamp(e.key);
  if (hidden(tombs, st.epoch, st.seq)) return;
  if (sh.kind === 'objPunch') { into.punches.push(st); return; }
  const dkey = unescapeAt(e.key, sh.objEnd + 1);
  const ds = keyStr(dkey);
  let d = into.dkeys.get(ds);
  if (!d) { d = { key: dkey, punches: [], akeys: new Map() }; into.dkeys.set(ds, d); }
  if (sh.kind === 'dkeyPunch') { d.punches.push(st); return; }
  const akey = unescapeAt(e.key, sh.dkeyEnd + 1);
  const as = keyStr(akey);
  let a = d.akeys.get(as);
  if (!a) { a = { key: akey, punches: [], singles: [], extents: [] }; d.akeys.set(as, a); }
  if (sh.kind === 'akeyPunch') { a.punches.push(st); return; }
  const ver = entryVersion(e, st.epoch, st.seq);
  if (!ver) throw new VosError('CORRUPTED', 'malformed version entry', { key: Buffer.from(e.key).toString('hex') });
  (sh.kind === 'single' ? a.singles : a.extents).push(ver);
}

/** Whether an akey (with its enclosing punches) has anything visible at `epoch`. */
export function akeyVisibleAt(objP: Stamp[], dkeyP: Stamp[], a: { punches: Stamp[]; singles: MemVersion[]; extents: MemVersion[] }, epoch: bigint): boolean {
  let floor: Stamp = { epoch: -1n, seq: -1 };
  for (const p of [...objP, ...dkeyP, ...a.punches]) if (p.epoch <= epoch && before(floor, p)) floor = p;
  let best: MemVersion | undefined;
  for (const s of a.singles) if (s.epoch <= epoch && (!best || before(best, s))) best = s;
  if (best && before(floor, best)) return true;
  for (const x of a.extents) if (x.epoch <= epoch && before(floor, x)) return true;
  return false;
}

/** The unit oids of a container's object table in `[from, ...)` order (`reverse`: downwards from `from`), up to `limit`. */
export function objectTablePage(v: ReadView, from: bigint | undefined, limit: number): bigint[] {
  const p = objectTablePrefix(v.cont);
  const lo = from === undefined ? p : kb.reset().bytes(p).oid(from).take();
  const hi = prefixEnd(p);
  const s = scan(v, lo, hi, false, (m) => memObjectTable(m, v.cont, lo));
  const out: bigint[] = [];
  for (let e = s.next(); e && out.length < limit; e = s.next()) out.push(keyOid(e.key));
  return out;
}

export { hidden as tombHides, prefixEnd, TAG_KEY, objectPrefix, dkeyPrefix };
