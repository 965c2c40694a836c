/**
 * The in-memory index of one target: object -> dkey -> akey -> versions, rebuilt on open by
 * replaying the log. Every version (single value, array extent) and punch carries its epoch
 * and a log sequence number `seq`; `(epoch, seq)` orders them totally, so at equal epochs the
 * later operation wins (an update at an existing epoch replaces the value, a punch at epoch p
 * hides everything ordered before it with epoch <= p).
 *
 * Visibility at a read epoch E: a version v is visible when v.epoch <= E and no punch p of its
 * object, dkey or akey with p.epoch <= E is ordered after v.
 */
import { latin1 } from '../../core/bytes.js';

/** Where a version's bytes live and how they are checked. */
export interface Version {
  epoch: bigint;
  seq: number;
  /** xxh64 of the value / extent bytes. */
  csum: bigint;
  /** Byte length of the value / extent. */
  len: number;
  /** 0: inline in the pmem log at `loc`; 1: in the data file at `loc`. */
  where: 0 | 1;
  loc: number;
  /** Bytes allocated in the data file (0 when inline). */
  alloc: number;
  /** Bytes of the log record holding it (live-set accounting). */
  recLen: number;
  /** Array extents: first record index, record count, record size (0 for single values). */
  index: number;
  count: number;
  recordSize: number;
  /** Set when the version leaves the index (its space may be reused from then on). */
  dead?: boolean;
}

/** A punch of an object, dkey or akey. */
export interface Punch { epoch: bigint; seq: number; recLen: number }

/** One akey: its single-value versions (sorted by (epoch, seq)) and array extents (in seq order). */
export interface AkeyNode {
  key: Uint8Array;
  singles: Version[];
  extents: Version[];
  punches: Punch[];
}

/** What the trees need of a map from key strings to nodes (a `Map`, or the memtable's `SmallMap`). */
export interface KeyMap<V> {
  get(k: string): V | undefined;
  set(k: string, v: V): unknown;
  values(): IterableIterator<V>;
  readonly size: number;
}

/** One dkey and its akeys. */
export interface DkeyNode { key: Uint8Array; akeys: KeyMap<AkeyNode>; punches: Punch[] }

/** One object and its dkeys. */
export interface ObjNode { oid: bigint; dkeys: KeyMap<DkeyNode>; punches: Punch[] }

/** `(epoch, seq)` of a version or punch. */
export interface Stamp { epoch: bigint; seq: number }

/** The stamp ordered before everything. */
export const NO_STAMP: Stamp = { epoch: -1n, seq: -1 };

/** a < b in (epoch, seq) order. */
export function before(a: Stamp, b: Stamp): boolean {
  return a.epoch < b.epoch || (a.epoch === b.epoch && a.seq < b.seq);
}

/** Map key of a byte-string key (latin1 is a bijection of bytes). */
export function keyStr(k: Uint8Array): string { return latin1(k); }

/** Hex of a key for error details and reports. */
export function keyHex(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

/** The latest punch (by stamp) with epoch <= e, or NO_STAMP. */
export function punchFloor(punches: readonly Punch[], e: bigint): Stamp {
  let best: Stamp = NO_STAMP;
  for (const p of punches) if (p.epoch <= e && before(best, p)) best = p;
  return best;
}

/** The later of two stamps. */
export function maxStamp(a: Stamp, b: Stamp): Stamp { return before(a, b) ? b : a; }

/** Combined punch floor of an object, dkey and akey at read epoch e. */
export function floorAt(o: ObjNode, d: DkeyNode, a: AkeyNode | undefined, e: bigint): Stamp {
  let f = maxStamp(punchFloor(o.punches, e), punchFloor(d.punches, e));
  if (a) f = maxStamp(f, punchFloor(a.punches, e));
  return f;
}

/** The single value version visible at e, if any. */
export function visibleSingle(a: AkeyNode, floor: Stamp, e: bigint): Version | undefined {
  const s = a.singles;
  for (let i = s.length - 1; i >= 0; i--) {
    const v = s[i]!;
    if (v.epoch <= e) return before(floor, v) ? v : undefined;
  }
  return undefined;
}

/** Extents visible at e (not punched, epoch <= e), newest first. */
export function visibleExtents(a: AkeyNode, floor: Stamp, e: bigint): Version[] {
  const out = a.extents.filter((x) => x.epoch <= e && before(floor, x));
  out.sort((x, y) => (before(x, y) ? 1 : before(y, x) ? -1 : 0));
  return out;
}

/** Whether an akey has anything visible at e. */
export function akeyVisible(o: ObjNode, d: DkeyNode, a: AkeyNode, e: bigint): boolean {
  const f = floorAt(o, d, a, e);
  if (visibleSingle(a, f, e)) return true;
  for (const x of a.extents) if (x.epoch <= e && before(f, x)) return true;
  return false;
}

/** Whether a dkey has any visible akey at e. */
export function dkeyVisible(o: ObjNode, d: DkeyNode, e: bigint): boolean {
  for (const a of d.akeys.values()) if (akeyVisible(o, d, a, e)) return true;
  return false;
}

/** Whether an object has any visible dkey at e. */
export function objectVisible(o: ObjNode, e: bigint): boolean {
  for (const d of o.dkeys.values()) if (dkeyVisible(o, d, e)) return true;
  return false;
}

/** Half-open record ranges [start, end). */
export type Range = [number, number];

/**
 * Paint extents (newest first) over [lo, hi): returns for each extent the pieces of it that
 * are visible (not covered by a newer one), in extent order. Extents with no visible piece get
 * an empty list.
 */
export function paint(extents: readonly Version[], lo: number, hi: number): Range[][] {
  // uncovered: sorted disjoint ranges still open
  let open: Range[] = [[lo, hi]];
  const out: Range[][] = [];
  for (const x of extents) {
    const xs = Math.max(lo, x.index); const xe = Math.min(hi, x.index + x.count);
    const pieces: Range[] = [];
    if (xs < xe && open.length) {
      const next: Range[] = [];
      for (const [s, t] of open) {
        if (t <= xs || s >= xe) { next.push([s, t]); continue; }
        const cs = Math.max(s, xs); const ce = Math.min(t, xe);
        pieces.push([cs, ce]);
        if (s < cs) next.push([s, cs]);
        if (ce < t) next.push([ce, t]);
      }
      open = next;
    }
    out.push(pieces);
  }
  return out;
}

/** Whether [s, e) is wholly covered by the union of `ranges`. */
export function covered(s: number, e: number, ranges: Range[]): boolean {
  const sorted = ranges.filter(([a, b]) => b > s && a < e).sort((x, y) => x[0] - y[0]);
  let at = s;
  for (const [a, b] of sorted) {
    if (a > at) return false;
    if (b > at) at = b;
    if (at >= e) return true;
  }
  return at >= e;
}
