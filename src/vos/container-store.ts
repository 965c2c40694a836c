/**
 * One container's view of a target store: the per-target operations the object layer drives
 * (update / fetch / punch / enumerate / aggregate / discard), validated and answered from the
 * target's memtables and runs. A container on a target costs one manifest entry, no files.
 */
import { throwIfAborted } from '../../core/errors.js';
import { MAX_ARRAY_INDEX, MAX_EPOCH, MAX_KEY_SIZE, MAX_OID, MAX_RECORD_SIZE, MAX_VALUE_SIZE, SYNC_WRITE_MAX_BYTES } from './constants.js';
import { VosError, invalidArg } from './errors.js';
import type { MemVersion, Memtable } from './memtable.js';
import { sortedDkeys } from './memtable.js';
import {
  TAG_KEY, TAG_PUNCH, akeyPrefix, compareKeys, dkeyPrefix, hasPrefix, keyShape, keyStamp, objectPrefix, prefixEnd, stampKey, unescapeAt, withTag,
} from './keys.js';
import {
  addEntry, akeyProbes, akeyVisibleAt, arrayRecordSize, extentsAtOrBelow, memDkeyEntries, memObject, newestSingle, visibleSingle, objectTablePage, punchFloor, scan, visibleArray,
  type Gathered, type ReadView, type ScanEntry,
} from './reads.js';
import { valueChecksum, type ContState, type TargetStore, type ValueParts } from './store.js';
import { before, keyHex, paint, type Range, type Stamp } from './tree.js';
import { bloomProbe } from './run.js';
import { locateArrayRead, locateVersionRead, wholeExtentInData, type LocatedArrayRead } from './locate.js';
import { prepareArrayWrite, type PreparedArrayWrite } from './locate-write.js';
import { RecordSizes } from './record-sizes.js';

/** The answer of an update applied in the call: one resolved promise shared by all (nothing to allocate). */
const DONE: Promise<void> = Promise.resolve();

/** An array extent: `count` records starting at record `index`. */
export interface Recx { index: number; count: number }

/** A key range of a listing (bounds are raw keys, byte order). */
export interface KeyRange { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse?: boolean; limit?: number }

/**
 * What `aggregate` did. `compacted` is false when nothing ran, or when it goes on in the
 * background (`wait: false`): then the counts are zero and the target's `aggregatedInBackground` totals count it.
 */
export interface AggregateStats { versionsRemoved: number; punchesRemoved: number; dataBytesFreed: number; scmBytesFreed: number; compacted: boolean }

/** How `aggregate` runs. */
export interface AggregateOptions {
  /**
   * false: return at once and let the aggregation run in the background (on a worker thread
   * where there is one), as DAOS aggregates. Reads stay correct meanwhile; one runs at a time per
   * target, and a newer request for the container replaces one still waiting (the newest policy
   * is in force); a write that finds no space waits for it; `idle()` and `close()` wait for it.
   * Default true: return when it is done, with its counts.
   */
  wait?: boolean;
}

/** Keys handed out per listing page (each page is one synchronous pass over the sources). */
export const LIST_PAGE = 256;

function checkEpoch(epoch: unknown, name = 'epoch', min = 1n): asserts epoch is bigint {
  if (typeof epoch !== 'bigint' || epoch < min || epoch > MAX_EPOCH) throw invalidArg(`${name} must be a bigint in [${min}, 2^64-1]`, { [name]: String(epoch) });
}
function checkOid(oid: unknown): asserts oid is bigint {
  if (typeof oid !== 'bigint' || oid < 0n || oid > MAX_OID) throw invalidArg('oid must be a bigint in [0, 2^192)', { oid: String(oid) });
}
function checkKey(key: unknown, name: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw invalidArg(`${name} must be a Uint8Array`);
  if (key.length === 0) throw invalidArg(`${name} must not be empty`);
  if (key.length > MAX_KEY_SIZE) throw new VosError('KEY_TOO_LARGE', `${name} longer than ${MAX_KEY_SIZE} bytes`, { [name + 'Length']: key.length, max: MAX_KEY_SIZE });
}
function checkRecx(recx: unknown): asserts recx is Recx {
  const r = recx as Recx;
  if (!r || !Number.isSafeInteger(r.index) || !Number.isSafeInteger(r.count) || r.index < 0 || r.count < 1 || r.index + r.count > MAX_ARRAY_INDEX) {
    throw invalidArg('recx must be { index >= 0, count >= 1 } safe integers', { recx: r && { index: r.index, count: r.count } });
  }
}

function describe(oid: bigint, dkey: Uint8Array, akey: Uint8Array, v: MemVersion): Record<string, unknown> {
  const d: Record<string, unknown> = { oid: oid.toString(), dkey: keyHex(dkey), akey: keyHex(akey), epoch: v.epoch.toString(), where: v.where === 1 ? 'data' : 'scm' };
  if (v.recordSize > 0) d.recx = { index: v.index, count: v.count };
  return d;
}

/**
 * The arguments of the point read `readValueSync` is checking (set just before the synchronous
 * call, cleared after it), and `describeCurrent`, the one description function handed to it: a
 * point read passes no per-read closure, and the description is built only when an error needs it.
 */
let curOid = 0n, curDkey: Uint8Array | undefined, curAkey: Uint8Array | undefined, curVersion: MemVersion | undefined;
function describeCurrent(): Record<string, unknown> {
  return curVersion ? describe(curOid, curDkey!, curAkey!, curVersion) : {};
}

const cmpStamp = (a: Stamp, b: Stamp) => (before(a, b) ? 1 : before(b, a) ? -1 : 0);

/** The store of one container on one target. */
export class ContainerStore {
  constructor(readonly target: TargetStore, readonly state: ContState) {}

  /** The container's uuid. */
  get uuid(): string { return this.state.uuid; }

  /** The last view built (`view()`), reused while the target's sources and the container's discards are the same objects. */
  private lastView: ReadView | undefined;

  private view(): ReadView {
    const t = this.target;
    const v = this.lastView;
    // (a read view costs two allocations: reads reuse it until a memtable is frozen or replaced,
    // the run list or the discards are replaced; arrays changed in place are seen through it)
    if (v !== undefined && v.mems[0] === t.active && v.runs === t.runs && v.tombs === this.state.tombs && v.cont === this.state.idx
      && (t.frozen ? v.mems.length === 2 && v.mems[1] === t.frozen : v.mems.length === 1)) return v;
    const mems: Memtable[] = t.frozen ? [t.active, t.frozen] : [t.active];
    return this.lastView = { mems, runs: t.runs, tombs: this.state.tombs, cont: this.state.idx };
  }

  private live(): void {
    if (this.state.destroyed) throw new VosError('NOT_FOUND', `container ${this.state.uuid} was destroyed on this target`, { container: this.state.uuid });
  }

  /** Run a read: enter/leave, whole-target damage check, and note damaged blocks it meets. */
  private async read<T>(fn: () => Promise<T> | T): Promise<T> {
    const t = this.target;
    t.enter();
    try {
      this.live();
      t.checkIntact();
      return await fn();
    } catch (e) {
      t.noteDamage(e);
      throw e;
    } finally {
      t.leave();
    }
  }

  // ---------------------------------------------------------------- updates

  /**
   * Replace the single value of (oid, dkey, akey) at `epoch`. (Not async: `updateSingleNow`, and
   * an update it applied in the call answers with one shared resolved promise; errors reject,
   * never throw.)
   */
  updateSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array): Promise<void> {
    try {
      return this.updateSingleNow(epoch, oid, dkey, akey, value) ?? DONE;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * `updateSingle` done synchronously when the store can (see `TargetStore.logUpdateNow`):
   * undefined once the value is logged and applied, else the promise `updateSingle` would return.
   * Bad arguments and synchronous failures are thrown. `csum`: the value's checksum
   * (`valueChecksum(value)`) when the caller has it already (a put writing replicas hashes once).
   * `prepared`: the write belongs to an undecided transaction (as `markPrepared` first, but the
   * first write of an epoch that is appended in the call notes it in its own record: one log
   * record instead of two).
   */
  updateSingleNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum?: bigint, prepared?: boolean): Promise<void> | undefined {
    const t = this.target;
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    if (!(value instanceof Uint8Array)) throw invalidArg('value must be a Uint8Array');
    if (value.length > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `value longer than ${MAX_VALUE_SIZE} bytes`, { length: value.length });
    t.enter();
    let p: Promise<void> | undefined;
    try {
      this.live();
      p = t.logUpdateNow(this.state, epoch, oid, dkey, akey, value, csum, prepared === true);
    } catch (e) {
      t.leave();
      throw e;
    }
    if (p === undefined) { t.leave(); return undefined; }
    return p.then(this.leaveOk, this.leaveErr);
  }

  /**
   * `updateSingleNow` for a redo replay (a durable container's journal, at open): nothing is
   * logged when the store's newest single of (oid, dkey, akey) at or below `epoch` is already
   * that value at exactly `epoch` (same checksum and length, not discarded), so a crash reopen
   * does not log again the writes the store's own log kept (after a SIGKILL, all of them: 40k
   * replica writes for 20k puts, each a WAL record and a memtable version more). Otherwise the
   * logged update, as `updateSingleNow` (a store that lost the write, or holds another value at
   * that epoch, gets it). `csum`: the value's `valueChecksum`, when the caller has it.
   */
  reapplySingleNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, value: Uint8Array, csum?: bigint): Promise<void> | undefined {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    if (!(value instanceof Uint8Array)) throw invalidArg('value must be a Uint8Array');
    const c = csum ?? valueChecksum(value);
    if (this.holdsSingle(epoch, oid, dkey, akey, c, value.length)) { this.reapplySkipped++; return undefined; }
    return this.updateSingleNow(epoch, oid, dkey, akey, value, c);
  }

  /** Redo writes `reapplySingleNow` found held and did not log again (for tests and probes). */
  reapplySkipped = 0;

  /** Whether the newest single of (oid, dkey, akey) at or below `epoch` is one at `epoch` with checksum `csum` and length `len`. */
  private holdsSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, csum: bigint, len: number): boolean {
    const t = this.target;
    t.enter();
    try {
      this.live();
      const s = newestSingle(this.view(), oid, dkey, akey, epoch, akeyProbes(this.state.idx, oid, dkey, akey));
      return s !== undefined && s.epoch === epoch && s.csum === csum && s.len === len;
    } finally {
      t.leave();
    }
  }

  /** The target is left once an update settled (`updateSingle`): one pair of handlers per view, not a closure per update. */
  private readonly leaveOk = (): void => { this.target.leave(); };
  private readonly leaveErr = (e: unknown): never => { this.target.leave(); throw e; };

  /**
   * Note that this container's writes of `epoch` that follow are undecided (an engine's prepared
   * transaction), until `TargetStore.settlePrepared` or a `discard` covering it: after a crash,
   * `TargetStore.preparedEpochs` names the epoch if any of them survived. Once per epoch (a second
   * call costs a set lookup). Undefined when done now; a promise when the log had to make room.
   */
  markPrepared(epoch: bigint): Promise<void> | undefined {
    checkEpoch(epoch);
    const t = this.target;
    t.enter();
    let p: Promise<void> | undefined;
    try {
      this.live();
      p = t.logPrepareNow(this.state, epoch);
    } catch (e) {
      t.leave();
      throw e;
    }
    if (p === undefined) { t.leave(); return undefined; }
    return p.then(this.leaveOk, this.leaveErr);
  }

  /**
   * Write `recx.count` records of `recordSize` bytes (default 1, fixed per akey) at `recx.index`.
   * `opts.prepared`: the write belongs to an undecided transaction (`markPrepared` first).
   */
  async updateArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array, opts: { recordSize?: number; prepared?: boolean } = {}): Promise<void> {
    if (!(data instanceof Uint8Array)) throw invalidArg('data must be a Uint8Array');
    return this.updateArrayValue(epoch, oid, dkey, akey, recx, data, opts);
  }

  /**
   * `updateArray` of bytes given as views, in order (an EC write's data cells of the caller's
   * buffer): written to the data file with one gather write and hashed there, not joined into one
   * buffer first. Values not above SYNC_WRITE_MAX_BYTES and the inline threshold are joined (they
   * are written synchronously or inline). The views must not change until the promise settles.
   */
  async updateArrayParts(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[], opts: { recordSize?: number; prepared?: boolean } = {}): Promise<void> {
    if (!Array.isArray(parts)) throw invalidArg('parts must be an array of Uint8Arrays');
    let length = 0;
    for (const v of parts) { if (!(v instanceof Uint8Array)) throw invalidArg('parts must be an array of Uint8Arrays'); length += v.length; }
    if (length > Math.max(SYNC_WRITE_MAX_BYTES, this.target.inlineThreshold)) return this.updateArrayValue(epoch, oid, dkey, akey, recx, { length, parts }, opts);
    const joined = new Uint8Array(length);
    let at = 0;
    for (const v of parts) { joined.set(v, at); at += v.length; }
    return this.updateArrayValue(epoch, oid, dkey, akey, recx, joined, opts);
  }

  /**
   * `updateArrayParts` prepared synchronously (the fused EC write, src/vos/locate-write.ts): the
   * value's data-file extent allocated and its hashed gather write handed back, not yet sent; the
   * caller sends it (media `writeHashedGroup`) and must `finish` it with the result, which appends
   * the record. Null when only `updateArrayParts` can write it (an akey whose record size is not
   * known to be 1, a small value, a store that would wait, sync or retry). Arguments are checked
   * as `updateArrayParts` checks them (same errors).
   */
  prepareArrayWriteNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, parts: readonly Uint8Array[], opts: { recordSize?: number } = {}): PreparedArrayWrite | null {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    const kept = this.state.recordSizes?.get(oid, dkey, akey);
    if (kept !== 1) {
      // Unknown: a caller naming record size 1 (a rebuild's first write of the akey here) has the
      // akey's existing extents decide, as updateArray's check would; otherwise the checked path finds it.
      if (kept !== undefined || opts.recordSize !== 1 || !this.recordSizeFits(oid, dkey, akey, 1)) return null;
    }
    return prepareArrayWrite(this.target, this.state, epoch, oid, dkey, akey, recx, parts);
  }

  /** Whether the akey's existing extents have record size `rs` or there are none (false on anything unusual: the checked path reports it). Not cached: the checked write caches it once it lands. */
  private recordSizeFits(oid: bigint, dkey: Uint8Array, akey: Uint8Array, rs: number): boolean {
    const t = this.target;
    try { t.enter(); } catch { return false; }
    try {
      if (this.state.destroyed) return false;
      const existing = arrayRecordSize(this.view(), oid, dkey, akey, akeyProbes(this.state.idx, oid, dkey, akey));
      return existing === undefined || existing === rs;
    } catch {
      return false;
    } finally {
      t.leave();
    }
  }

  private async updateArrayValue(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, data: Uint8Array | ValueParts, opts: { recordSize?: number; prepared?: boolean }): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    if (opts.prepared === true) await this.markPrepared(epoch);
    const t = this.target;
    t.enter();
    try {
      this.live();
      const st = this.state;
      const known = st.recordSizes ?? (st.recordSizes = new RecordSizes());
      const kept = known.get(oid, dkey, akey);
      let existing = kept;
      if (existing === undefined) try {
        existing = arrayRecordSize(this.view(), oid, dkey, akey, akeyProbes(st.idx, oid, dkey, akey));
      } catch (e) {
        // a damaged block hides the akey's record size: a repair that names it may still rewrite the
        // akey (guessing could misread the older extents); without it the damage is the answer
        t.noteDamage(e);
        if (!(e instanceof VosError && e.code === 'CORRUPTED' && opts.recordSize !== undefined && (e.info as { whole?: boolean } | undefined)?.whole !== true)) throw e;
      }
      const rs = opts.recordSize ?? existing ?? 1;
      if (!Number.isSafeInteger(rs) || rs < 1 || rs > MAX_RECORD_SIZE) throw invalidArg(`recordSize must be in [1, ${MAX_RECORD_SIZE}]`, { recordSize: rs });
      if (existing !== undefined && existing !== rs) throw invalidArg('record size differs from the existing extents of this akey', { oid: oid.toString(), akey: keyHex(akey), recordSize: rs, existing });
      if (recx.count * rs > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `extent longer than ${MAX_VALUE_SIZE} bytes`, { bytes: recx.count * rs });
      if (data.length !== recx.count * rs) throw invalidArg('data length must be recx.count * recordSize', { length: data.length, count: recx.count, recordSize: rs });
      // (the keys as they are now, kept below: the caller may reuse its buffers while the update awaits)
      const keys = kept === undefined ? [dkey.slice(), akey.slice()] as const : undefined;
      await t.logUpdate(st, true, epoch, oid, dkey, akey, data, recx.index, recx.count, rs);
      if (keys !== undefined && st.recordSizes) st.recordSizes.set(oid, keys[0], keys[1], rs);
    } finally { t.leave(); }
  }

  private async punch(level: 0 | 1 | 2, epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> {
    const t = this.target;
    t.enter();
    try {
      this.live();
      await t.logPunch(this.state, level, epoch, oid, dkey, akey);
    } finally { t.leave(); }
  }

  /** Punch a whole object at `epoch`. */
  async punchObject(epoch: bigint, oid: bigint): Promise<void> {
    checkEpoch(epoch); checkOid(oid);
    await this.punch(0, epoch, oid, new Uint8Array(0), new Uint8Array(0));
  }

  /** Punch a dkey (all its akeys) at `epoch`. */
  async punchDkey(epoch: bigint, oid: bigint, dkey: Uint8Array): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey');
    await this.punch(1, epoch, oid, dkey, new Uint8Array(0));
  }

  /** Punch one akey at `epoch`. */
  async punchAkey(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<void> {
    checkEpoch(epoch); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    await this.punch(2, epoch, oid, dkey, akey);
  }

  // ---------------------------------------------------------------- point reads

  /**
   * `fetchSingle` without a promise: the value visible at `epoch` (undefined when none) when it can
   * be read now (in memory, in the log, inline in a run, or a data-file value of at most
   * SYNC_WRITE_MAX_BYTES from the page cache), or `null` when it must be read with `fetchSingle`.
   * Same checks, same errors.
   */
  fetchSingleNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Uint8Array | undefined | null {
    const r = this.singleNow(epoch, oid, dkey, akey);
    return r === undefined || r instanceof Uint8Array ? r : null;
  }

  /** The single value visible at `epoch`, or undefined. */
  async fetchSingle(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<Uint8Array | undefined> {
    // a value in memory, in the log or inline in a run is read synchronously: a small get costs
    // no closure and one promise
    const r = this.singleNow(epoch, oid, dkey, akey);
    if (r === undefined || r instanceof Uint8Array) return r;
    const t = this.target;
    t.enter();
    try {
      return await t.readValue(r, () => describe(oid, dkey, akey, r));
    } catch (e) {
      t.noteDamage(e);
      throw e;
    } finally {
      t.leave();
    }
  }

  /**
   * The steps of a point read that need no wait: the value visible at `epoch` when it can be read
   * now, the version when it lives in the data file (read it with `readValue`), undefined when none.
   */
  private singleNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Uint8Array | MemVersion | undefined {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    const t = this.target;
    t.enter();
    try {
      this.live();
      t.checkIntact();
      const s = visibleSingle(this.view(), oid, dkey, akey, epoch);
      if (!s) return undefined;
      curOid = oid; curDkey = dkey; curAkey = akey; curVersion = s;
      try {
        return t.readValueSync(s, describeCurrent) ?? s;
      } finally {
        curDkey = curAkey = curVersion = undefined;
      }
    } catch (e) {
      t.noteDamage(e);
      throw e;
    } finally {
      t.leave();
    }
  }


  /** Visible extents of an array akey at `epoch`, newest first, with the punch floor applied. */
  private visibleExtents(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, pr = akeyProbes(this.state.idx, oid, dkey, akey), v = this.view()): MemVersion[] {
    const floor = punchFloor(v, oid, dkey, akey, epoch, pr);
    return extentsAtOrBelow(v, oid, dkey, akey, epoch, pr).filter((x) => before(floor, x)).sort(cmpStamp);
  }

  /**
   * Records `recx` of an array akey as visible at `epoch`, newest extent winning. `present`
   * lists the ranges that hold data; holes are zero bytes in `data`.
   */
  async fetchArray(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, opts: { holesAsZero?: boolean; recordSize?: number } = {}): Promise<{ data: Uint8Array; present: Recx[] }> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    return this.read(async () => {
      const { recordSize, extents: exts } = visibleArray(this.view(), oid, dkey, akey, epoch, akeyProbes(this.state.idx, oid, dkey, akey), recx);
      const rs = recordSize ?? opts.recordSize ?? 1;
      if (recx.count * rs > MAX_VALUE_SIZE) throw new VosError('VALUE_TOO_LARGE', `fetch longer than ${MAX_VALUE_SIZE} bytes`, { bytes: recx.count * rs });
      const lo = recx.index; const hi = recx.index + recx.count;
      const x0 = exts[0];
      if (x0 && x0.index === lo && x0.count === recx.count) {
        const bytes = await this.target.readValue(x0, () => describe(oid, dkey, akey, x0));
        return { data: bytes, present: [{ index: lo, count: recx.count }] };
      }
      const painted = paint(exts as never, lo, hi);
      const out = new Uint8Array(recx.count * rs);
      const pieces: Range[] = [];
      await Promise.all(exts.map(async (x, i) => {
        const ps = painted[i]!;
        if (!ps.length) return;
        const bytes = await this.target.readValue(x, () => describe(oid, dkey, akey, x));
        for (const [s, e] of ps) {
          out.set(bytes.subarray((s - x.index) * rs, (e - x.index) * rs), (s - lo) * rs);
          pieces.push([s, e]);
        }
      }));
      if (opts.holesAsZero) return { data: out, present: [{ index: lo, count: recx.count }] };
      return { data: out, present: mergeRanges(pieces) };
    });
  }

  /**
   * `fetchArray` straight into the caller's buffers: records `recx` as visible at `epoch` land in
   * `into` (in order; together exactly the bytes asked for), holes as zeros. When the newest
   * extent is exactly the range asked for (a whole EC cell range, a whole chunk), its bytes go
   * from the data file into `into` with no intermediate buffer, checksum-verified there once;
   * otherwise the extents are assembled as `fetchArray` does and copied in.
   */
  async fetchArrayInto(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]): Promise<void> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    if (!Array.isArray(into) || !into.every((b) => b instanceof Uint8Array)) throw invalidArg('into must be an array of Uint8Array');
    // (the read's steps inline, not through `read()`: a bulk read's path is one closure and one
    // promise shorter; same enter/leave, damage checks and notes)
    const t = this.target;
    t.enter();
    try {
      this.live();
      t.checkIntact();
      const { recordSize, extents } = visibleArray(this.view(), oid, dkey, akey, epoch, akeyProbes(this.state.idx, oid, dkey, akey), recx);
      const rs = recordSize ?? 1;
      let bytes = 0;
      for (let i = 0; i < into.length; i++) bytes += into[i]!.length;
      if (bytes !== recx.count * rs) throw invalidArg('into must hold recx.count * recordSize bytes', { count: recx.count, recordSize: rs });
      const x0 = extents[0];
      if (x0 && x0.index === recx.index && x0.count === recx.count) {
        await t.readValueInto(x0, () => describe(oid, dkey, akey, x0), into);
        return;
      }
    } catch (e) {
      t.noteDamage(e);
      throw e;
    } finally {
      t.leave();
    }
    const { data } = await this.fetchArray(epoch, oid, dkey, akey, recx, { holesAsZero: true });
    let at = 0;
    for (const b of into) { b.set(data.subarray(at, at + b.length)); at += b.length; }
  }

  /**
   * `ShardStore.locateArrayNow`: where a whole-extent array read's bytes lie in the data file,
   * answered synchronously (src/vos/locate.ts), so an EC read sends its k cells as one hashed
   * batch; null: read it with `fetchArrayInto`.
   */
  locateArrayNow(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx, into: readonly Uint8Array[]): LocatedArrayRead | null {
    return locateArrayRead(this.target, this.state, this.view(), epoch, oid, dkey, akey, recx, into);
  }

  /**
   * `locateArrayNow` for a version the caller already found visible at its read point (the
   * rebuild's scan, `objectVersions`): no lookup. Null unless it lies in the data file and `into`
   * holds exactly its bytes; `finish` answers false when its blocks were freed and reused since
   * the scan, or are damaged: then read it the ordinary way.
   */
  locateVersionNow(v: MemVersion, into: readonly Uint8Array[]): LocatedArrayRead | null {
    return locateVersionRead(this.target, this.state, v, into);
  }

  /**
   * Where the bytes of a whole-extent array read lie, when `fetchArrayInto` would read them
   * straight from the data file: the newest extent visible at `epoch` is exactly `recx` and in the
   * data file (`vos.data` in the target's directory). Its byte position and length there and its
   * checksum (xxh64 with `CSUM_SEED`); null in every other case (read with `fetchArrayInto`).
   * Why: an engine serving a reader on its host hands it the place instead of the bytes (one copy,
   * src/engine). No hold is kept: the reader checks what it read against `csum` (blocks freed and
   * reused meanwhile, or damaged, mismatch; it then reads with `fetchArrayInto`, which reports).
   */
  locateArrayExtent(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array, recx: Recx): { position: number; length: number; csum: bigint } | null {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey'); checkRecx(recx);
    const t = this.target;
    t.enter();
    try {
      this.live();
      t.checkIntact();
      const found = wholeExtentInData(this.state, this.view(), epoch, oid, dkey, akey, recx);
      return found === null ? null : { position: found.x0.loc, length: found.x0.len, csum: found.x0.csum };
    } finally {
      t.leave();
    }
  }

  /** 'single' or 'array' by the newest thing visible at `epoch`, undefined when nothing is. */
  async akeyKind(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): Promise<'single' | 'array' | undefined> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    return this.read(() => {
      const v = this.view();
      const pr = akeyProbes(this.state.idx, oid, dkey, akey);
      const floor = punchFloor(v, oid, dkey, akey, epoch, pr);
      const s0 = newestSingle(v, oid, dkey, akey, epoch, pr);
      const s = s0 && before(floor, s0) ? s0 : undefined;
      const x = this.visibleExtents(epoch, oid, dkey, akey, pr, v)[0];
      if (!s && !x) return undefined;
      if (s && x) return before(s, x) ? 'array' : 'single';
      return s ? 'single' : 'array';
    });
  }

  // ---------------------------------------------------------------- listings

  /** Object punches of `oid` (all epochs, not discarded). */
  private objectPunches(v: ReadView, oid: bigint): Stamp[] {
    const obj = objectPrefix(this.state.idx, oid);
    const lo = withTag(obj, TAG_PUNCH); const hi = withTag(obj, TAG_KEY);
    const g: Gathered = { punches: [], dkeys: new Map() };
    // memtables: the object's punch list itself (materializing the whole object cost O(object) per listing page)
    const empty = new Uint8Array(0);
    const memPunches = (m: Memtable) => (m.conts.get(this.state.idx)?.objects.get(oid)?.punches ?? []).map((p) => ({ key: stampKey(obj, TAG_PUNCH, p.epoch, p.seq), value: empty }));
    const s = scan(v, lo, hi, false, memPunches, (r) => r.mayContain(bloomProbe(lo)));
    for (let e = s.next(); e; e = s.next()) addEntry(g, e, v.tombs);
    return g.punches;
  }

  /**
   * One page of visible dkeys of `oid` at `epoch`, starting after `after` (exclusive) in the
   * direction asked, within `range`. Returns the keys and whether the listing ended.
   */
  private dkeyPage(epoch: bigint, oid: bigint, after: Uint8Array | undefined, range: KeyRange, max: number): { keys: Uint8Array[]; done: boolean; last?: Uint8Array } {
    const v = this.view();
    const cont = this.state.idx;
    const reverse = range.reverse === true;
    const obj = objectPrefix(cont, oid);
    const objP = this.objectPunches(v, oid);
    let lo = withTag(obj, TAG_KEY);
    let hi = prefixEnd(obj);
    if (!reverse) {
      const start = after ?? range.gt ?? range.gte;
      if (start) lo = after || range.gt ? prefixEnd(dkeyPrefix(cont, oid, start))! : dkeyPrefix(cont, oid, start);
    } else {
      const start = after ?? range.lt ?? range.lte;
      if (start) hi = after || range.lt ? dkeyPrefix(cont, oid, start) : prefixEnd(dkeyPrefix(cont, oid, start));
    }
    const memSrc = (m: Memtable) => memDkeyWalk(m, cont, oid, obj, lo, hi, reverse);
    const s = scan(v, lo, hi, reverse, memSrc, (r) => r.mayContain(bloomProbe(obj)));
    const keys: Uint8Array[] = [];
    let cur: { key: Uint8Array; raw: Uint8Array; entries: ScanEntry[] } | undefined;
    let last: Uint8Array | undefined;
    const beyond = (k: Uint8Array) => reverse
      ? (range.gt !== undefined && Buffer.compare(k, range.gt) <= 0) || (range.gte !== undefined && Buffer.compare(k, range.gte) < 0)
      : (range.lt !== undefined && Buffer.compare(k, range.lt) >= 0) || (range.lte !== undefined && Buffer.compare(k, range.lte) > 0);
    const finish = (): boolean => {
      if (!cur) return false;
      const g: Gathered = { punches: [], dkeys: new Map() };
      for (const e of cur.entries) addEntry(g, e, v.tombs);
      const d = g.dkeys.values().next().value;
      last = cur.raw;
      if (d && [...d.akeys.values()].some((a) => akeyVisibleAt(objP, d.punches, a, epoch))) keys.push(cur.raw);
      cur = undefined;
      return true;
    };
    for (let e = s.next(); e; e = s.next()) {
      const sh = keyShape(e.key);
      if (!sh || sh.dkeyEnd < 0) continue;
      const dk = e.key.subarray(0, sh.dkeyEnd);
      if (!cur || compareKeys(cur.key, dk) !== 0) {
        finish();
        if (keys.length >= max) return { keys, done: false, last };
        const raw = unescapeAt(e.key, sh.objEnd + 1);
        if (beyond(raw)) return { keys, done: true, last };
        cur = { key: dk.slice(), raw, entries: [] };
      }
      cur.entries.push(e);
    }
    finish();
    return { keys, done: true, last };
  }

  /** Dkeys of `oid` with anything visible at `epoch`, in byte order (descending with `reverse`), within `range`. */
  async *listDkeys(epoch: bigint, oid: bigint, range: KeyRange = {}): AsyncIterable<Uint8Array> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid);
    for (const b of [range.gt, range.gte, range.lt, range.lte]) if (b !== undefined && !(b instanceof Uint8Array)) throw invalidArg('range bounds must be Uint8Array keys');
    let left = range.limit ?? Infinity;
    if (!(left >= 0)) throw invalidArg('limit must be a non-negative number');
    let after: Uint8Array | undefined;
    while (left > 0) {
      const page = await this.read(() => this.dkeyPage(epoch, oid, after, range, Math.min(LIST_PAGE, left)));
      for (const k of page.keys) { yield k; left--; }
      if (page.done || !page.last) return;
      after = page.last;
    }
  }

  /** Akeys of (oid, dkey) with anything visible at `epoch`, in byte order. */
  async *listAkeys(epoch: bigint, oid: bigint, dkey: Uint8Array): AsyncIterable<Uint8Array> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey');
    const out = await this.read(() => {
      const v = this.view();
      const cont = this.state.idx;
      const objP = this.objectPunches(v, oid);
      const dp = dkeyPrefix(cont, oid, dkey);
      const s = scan(v, dp, prefixEnd(dp), false, (m) => {
        const o = m.conts.get(cont)?.objects.get(oid);
        const d = o?.dkeys.get(Buffer.from(dkey).toString('latin1'));
        return d ? [...memDkeyEntries(objectPrefix(cont, oid), d)] : [];
      }, (r) => r.mayContain(bloomProbe(objectPrefix(cont, oid))));
      const g: Gathered = { punches: [], dkeys: new Map() };
      for (let e = s.next(); e; e = s.next()) addEntry(g, e, v.tombs);
      const d = g.dkeys.values().next().value;
      if (!d) return [];
      return [...d.akeys.values()].filter((a) => akeyVisibleAt(objP, d.punches, a, epoch)).map((a) => a.key).sort(Buffer.compare);
    });
    yield* out;
  }

  /** Visible extents of an array akey at `epoch`: disjoint, ascending, each with the epoch it was written at. */
  async *listRecx(epoch: bigint, oid: bigint, dkey: Uint8Array, akey: Uint8Array): AsyncIterable<{ index: number; count: number; epoch: bigint }> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid); checkKey(dkey, 'dkey'); checkKey(akey, 'akey');
    const merged = await this.read(() => {
      const exts = this.visibleExtents(epoch, oid, dkey, akey);
      if (!exts.length) return [];
      let lo = Infinity, hi = 0;
      for (const x of exts) { lo = Math.min(lo, x.index); hi = Math.max(hi, x.index + x.count); }
      const painted = paint(exts as never, lo, hi);
      const out: Array<{ s: number; e: number; x: MemVersion }> = [];
      exts.forEach((x, i) => { for (const [s, e] of painted[i]!) out.push({ s, e, x }); });
      out.sort((p, q) => p.s - q.s);
      const res: Array<{ index: number; count: number; epoch: bigint }> = [];
      let prev: { s: number; e: number; x: MemVersion } | undefined;
      for (const p of out) {
        if (prev && prev.x === p.x && prev.e === p.s) { prev.e = p.e; res[res.length - 1]!.count = prev.e - prev.s; continue; }
        prev = { ...p };
        res.push({ index: p.s, count: p.e - p.s, epoch: p.x.epoch });
      }
      return res;
    });
    yield* merged;
  }

  /**
   * One page of an object's content visible at `epoch`, in key order, from one ordered pass over
   * its key range (rebuild reads an object with this instead of a listing per dkey and akey and a
   * probe per akey): each visible dkey after `after` (up to `maxDkeys`, default LIST_PAGE) with
   * each visible akey's kind (the newer of its single value and array extents, as `akeyKind`), the
   * epoch of its single value, and its visible extents (as `listRecx`).
   */
  async scanObject(epoch: bigint, oid: bigint, opts: { after?: Uint8Array; maxDkeys?: number } = {}): Promise<{ dkeys: ScannedDkey[]; done: boolean; last?: Uint8Array }> {
    checkEpoch(epoch, 'epoch', 0n); checkOid(oid);
    const max = opts.maxDkeys ?? LIST_PAGE;
    return this.read(() => {
      const v = this.view(); const cont = this.state.idx; const obj = objectPrefix(cont, oid);
      const objP = this.objectPunches(v, oid);
      const lo = opts.after ? prefixEnd(dkeyPrefix(cont, oid, opts.after))! : withTag(obj, TAG_KEY);
      const hi = prefixEnd(obj);
      const s = scan(v, lo, hi, false, (m) => memDkeyWalk(m, cont, oid, obj, lo, hi, false), (r) => r.mayContain(bloomProbe(obj)));
      const out: ScannedDkey[] = [];
      let g: Gathered = { punches: [], dkeys: new Map() }; let cur: Uint8Array | undefined; let n = 0; let last: Uint8Array | undefined;
      const finish = () => {
        for (const d of g.dkeys.values()) {
          last = d.key;
          const akeys = visibleAkeys(d, objP, epoch);
          if (akeys.length) out.push({ dkey: d.key, akeys });
        }
        g = { punches: [], dkeys: new Map() };
      };
      for (let e = s.next(); e; e = s.next()) {
        const sh = keyShape(e.key);
        if (!sh || sh.dkeyEnd < 0) continue;
        const dk = e.key.subarray(0, sh.dkeyEnd);
        if (!cur || compareKeys(cur, dk) !== 0) {
          finish();
          if (++n > max) return { dkeys: out, done: false, last };
          cur = dk.slice();
        }
        addEntry(g, e, v.tombs);
      }
      finish();
      return { dkeys: out, done: true, last };
    });
  }

  /** Whether `oid` has anything visible at `epoch`. */
  private objectVisible(v: ReadView, oid: bigint, epoch: bigint): boolean {
    const cont = this.state.idx;
    const obj = objectPrefix(cont, oid);
    const objP = this.objectPunches(v, oid);
    const s = scan(v, withTag(obj, TAG_KEY), prefixEnd(obj), false, (m) => memObject(m, cont, oid), (r) => r.mayContain(bloomProbe(obj)));
    let cur: Uint8Array | undefined; let entries: ScanEntry[] = [];
    const check = () => {
      if (!entries.length) return false;
      const g: Gathered = { punches: [], dkeys: new Map() };
      for (const e of entries) addEntry(g, e, v.tombs);
      entries = [];
      for (const d of g.dkeys.values()) for (const a of d.akeys.values()) if (akeyVisibleAt(objP, d.punches, a, epoch)) return true;
      return false;
    };
    for (let e = s.next(); e; e = s.next()) {
      const sh = keyShape(e.key);
      if (!sh || sh.dkeyEnd < 0) continue;
      const dk = e.key.subarray(0, sh.dkeyEnd);
      if (!cur || compareKeys(cur, dk) !== 0) { if (check()) return true; cur = dk.slice(); }
      entries.push(e);
    }
    return check();
  }

  /** Unit object ids recorded on this target (the object table), ascending: everything ever written here, punched or not. */
  async *listObjectIds(opts: { signal?: AbortSignal } = {}): AsyncIterable<bigint> {
    for await (const page of this.listObjectIdPages(opts)) yield* page;
  }

  /**
   * `listObjectIds` a page at a time (arrays of at most LIST_PAGE ids, ascending, none empty): a
   * caller merging many targets' listings (`Container.listObjects`) awaits once per page, not
   * once per id. Each page is a new array the caller may keep.
   */
  async *listObjectIdPages(opts: { signal?: AbortSignal } = {}): AsyncGenerator<bigint[]> {
    let from: bigint | undefined;
    for (;;) {
      throwIfAborted(opts.signal);
      const page = await this.read(() => objectTablePage(this.view(), from, LIST_PAGE));
      if (page.length > 0) yield page;
      if (page.length < LIST_PAGE) return;
      from = page[page.length - 1]! + 1n;
    }
  }

  /** Unit object ids with anything visible at `epoch`, ascending. */
  async *listObjects(epoch: bigint): AsyncIterable<bigint> {
    checkEpoch(epoch, 'epoch', 0n);
    let from: bigint | undefined;
    for (;;) {
      const page = await this.read(() => {
        const v = this.view();
        const ids = objectTablePage(v, from, LIST_PAGE);
        return { ids, visible: ids.filter((oid) => this.objectVisible(v, oid, epoch)) };
      });
      yield* page.visible;
      if (page.ids.length < LIST_PAGE) return;
      from = page.ids[page.ids.length - 1]! + 1n;
    }
  }

  // ---------------------------------------------------------------- maintenance

  /** Highest epoch written in this container on this target (0n when empty); lowered by `discard`. */
  queryMaxEpoch(): bigint { return this.state.maxEpoch; }

  /**
   * Merge versions older than `upTo`: drop what neither a read at a `keep` epoch nor a read at an
   * epoch >= upTo - 1 can see, and reclaim its space.
   */
  async aggregate(upTo: bigint, keep: bigint[] = [], opts: AggregateOptions = {}): Promise<AggregateStats> {
    checkEpoch(upTo, 'upTo');
    if (!Array.isArray(keep) || keep.length > 4096) throw invalidArg('keep must be an array of at most 4096 epochs');
    for (const k of keep) checkEpoch(k, 'keep epoch', 0n);
    if (opts === null || typeof opts !== 'object' || (opts.wait !== undefined && typeof opts.wait !== 'boolean')) throw invalidArg('aggregate options must be an object; wait a boolean');
    const t = this.target;
    t.enter();
    try {
      this.live();
      if (upTo <= 1n) return { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, scmBytesFreed: 0, compacted: false };
      if (opts.wait === false) {
        t.aggregateInBackground(this.state, upTo, keep);
        return { versionsRemoved: 0, punchesRemoved: 0, dataBytesFreed: 0, scmBytesFreed: 0, compacted: false };
      }
      const s = await t.aggregateContainer(this.state, upTo, keep);
      return { versionsRemoved: s.versionsRemoved, punchesRemoved: s.punchesRemoved, dataBytesFreed: s.dataBytesFreed, scmBytesFreed: s.scmBytesFreed, compacted: true };
    } finally { t.leave(); }
  }

  /** Drop everything written at epochs in (`after`, `upTo`] (rollback, aborted transactions). */
  async discard(after: bigint, upTo: bigint = MAX_EPOCH): Promise<void> {
    checkEpoch(after, 'after', 0n); checkEpoch(upTo, 'upTo', 0n);
    const t = this.target;
    t.enter();
    try {
      this.live();
      await t.logDiscard(this.state, after, upTo);
    } finally { t.leave(); }
  }

  /** Space of the whole target (containers share it). */
  usage(): { scmUsed: number; scmTotal: number; dataUsed: number; dataTotal: number } {
    const u = this.target.usage();
    return { scmUsed: u.scmUsed, scmTotal: u.scmTotal, dataUsed: u.dataUsed, dataTotal: u.dataTotal };
  }

  /** Containers do not own the target: closing a container's view is a no-op. */
  async close(): Promise<void> { /* the pool closes the target store */ }
}

/** Memtable entries of one object's dkeys in scan order within [lo, hi), dkey by dkey (lazy). */
function* memDkeyWalk(m: Memtable, cont: number, oid: bigint, obj: Uint8Array, lo: Uint8Array, hi: Uint8Array | undefined, reverse: boolean): Generator<ScanEntry> {
  const o = m.conts.get(cont)?.objects.get(oid);
  if (!o) return;
  const ds = sortedDkeys(o);
  const first = (bound: Uint8Array) => {
    let a = 0, b = ds.length;
    while (a < b) { const mid = (a + b) >> 1; if (compareKeys(dkeyPrefix(cont, oid, ds[mid]!.key), bound) < 0) a = mid + 1; else b = mid; }
    return a;
  };
  if (!reverse) {
    for (let i = Math.max(0, first(lo) - 1); i < ds.length; i++) {
      const es = [...memDkeyEntries(obj, ds[i]!)];
      if (hi && es.length && compareKeys(es[0]!.key, hi) >= 0) return;
      yield* es;
    }
  } else {
    for (let i = Math.min(ds.length - 1, hi ? first(hi) : ds.length - 1); i >= 0; i--) {
      const es = [...memDkeyEntries(obj, ds[i]!)].reverse();
      if (es.length && compareKeys(es[0]!.key, lo) < 0) return;
      yield* es;
    }
  }
}

/** Sort and merge touching/overlapping ranges into extents. */
function mergeRanges(rs: Range[]): Recx[] {
  rs.sort((x, y) => x[0] - y[0]);
  const out: Recx[] = [];
  for (const [s, e] of rs) {
    const last = out[out.length - 1];
    if (last && last.index + last.count >= s) last.count = Math.max(last.index + last.count, e) - last.index;
    else out.push({ index: s, count: e - s });
  }
  return out;
}

/** The akeys of one gathered dkey visible at `epoch` (`scanObject`), in byte order. */
function visibleAkeys(d: Gathered['dkeys'] extends Map<string, infer D> ? D : never, objP: readonly Stamp[], epoch: bigint): ScannedAkey[] {
  const akeys: ScannedAkey[] = [];
  const dfloor = dkeyFloor(objP, d.punches, epoch);
  for (const a of d.akeys.values()) {
    const v = visibleOfAkey(a, dfloor, epoch);
    if (!v) continue;
    if (v.single) akeys.push({ akey: a.key, kind: 'single', epoch: v.single.epoch, extents: [] });
    else akeys.push({ akey: a.key, kind: 'array', epoch: v.exts[0]!.epoch, extents: paintedExtents(v.exts) });
  }
  return akeys.sort((x, y) => Buffer.compare(x.akey, y.akey));
}

/** The newest of the object's and the dkey's punches at or below `epoch` (a dkey's punch floor). */
export function dkeyFloor(objP: readonly Stamp[], dkeyP: readonly Stamp[], epoch: bigint): Stamp {
  let floor: Stamp = { epoch: -1n, seq: -1 };
  for (const p of objP) if (p.epoch <= epoch && before(floor, p)) floor = p;
  for (const p of dkeyP) if (p.epoch <= epoch && before(floor, p)) floor = p;
  return floor;
}

/**
 * What of gathered akey `a` is visible at `epoch` above its dkey's punch floor: its single value
 * (when newer than every visible extent), else its visible extents newest first; undefined: nothing.
 */
export function visibleOfAkey(a: { punches: readonly Stamp[]; singles: readonly MemVersion[]; extents: readonly MemVersion[] }, dfloor: Stamp, epoch: bigint): { single: MemVersion; exts?: undefined } | { single?: undefined; exts: MemVersion[] } | undefined {
  let floor = dfloor;
  for (const p of a.punches) if (p.epoch <= epoch && before(floor, p)) floor = p;
  let single: MemVersion | undefined;
  for (const x of a.singles) if (x.epoch <= epoch && (!single || before(single, x))) single = x;
  if (single && !before(floor, single)) single = undefined;
  const exts = a.extents.filter((x) => x.epoch <= epoch && before(floor, x)).sort(cmpStamp);
  if (!single && !exts.length) return undefined;
  if (single && (!exts.length || before(exts[0]!, single))) return { single };
  return { exts };
}

/** Visible pieces of extents (newest first) as disjoint ascending extents, each with its epoch (touching pieces of one version joined, as `listRecx`). */
function paintedExtents(exts: readonly MemVersion[]): ScannedAkey['extents'] {
  let lo = Infinity, hi = 0;
  for (const x of exts) { lo = Math.min(lo, x.index); hi = Math.max(hi, x.index + x.count); }
  const painted = paint(exts as never, lo, hi);
  const ps: Array<{ s: number; e: number; x: MemVersion }> = [];
  for (let i = 0; i < exts.length; i++) for (const [a0, e0] of painted[i]!) ps.push({ s: a0, e: e0, x: exts[i]! });
  ps.sort((p, q) => p.s - q.s);
  const out: ScannedAkey['extents'] = [];
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i]!; const prev = ps[i - 1];
    if (prev && prev.x === p.x && prev.e === p.s) out[out.length - 1]!.count += p.e - p.s;
    else out.push({ index: p.s, count: p.e - p.s, epoch: p.x.epoch });
  }
  return out;
}

/** A visible akey of `ContainerStore.scanObject`: kind, epoch of the newest visible version, visible extents (arrays; ascending, each with its epoch). */
export interface ScannedAkey { akey: Uint8Array; kind: 'single' | 'array'; epoch: bigint; extents: Array<{ index: number; count: number; epoch: bigint }> }
/** A visible dkey of `ContainerStore.scanObject` with its visible akeys in byte order. */
export interface ScannedDkey { dkey: Uint8Array; akeys: ScannedAkey[] }


export { hasPrefix, keyStamp, akeyPrefix };
