/**
 * A plain model of one container on a target, for the model-based tests: nested Maps
 * (object -> dkey -> akey) holding every version and punch with its (epoch, seq), read by brute
 * force with the documented semantics:
 *   - (epoch, seq) orders everything; at equal epochs the later operation wins;
 *   - a punch of an object, dkey or akey at epoch p hides, for reads at epochs >= p, everything
 *     under it ordered before the punch;
 *   - a discard of (after, upTo] removes every version and punch written so far at those epochs;
 *   - aggregate(upTo, keep) changes nothing the model reads, but afterwards only reads at a kept
 *     epoch or at an epoch >= upTo - 1 are guaranteed (`protectedView`).
 * Keys are latin1 strings of the raw key bytes (`k()` / `bytes()`), so binary keys order like the
 * store's (byte order).
 */

export interface Stamp { epoch: bigint; seq: number }
interface SingleV extends Stamp { value: Uint8Array }
interface ExtentV extends Stamp { index: number; count: number; data: Uint8Array }
interface AkeyM { singles: SingleV[]; extents: ExtentV[]; punches: Stamp[]; recordSize?: number }
interface DkeyM { akeys: Map<string, AkeyM>; punches: Stamp[] }
interface ObjM { dkeys: Map<string, DkeyM>; punches: Stamp[] }

/** A key range of a listing, as the store takes it. */
export interface ModelRange { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse?: boolean; limit?: number }

/** latin1 string of key bytes (a bijection). */
export const k = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
/** Key bytes of a latin1 string. */
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
/** Byte order of two latin1 keys. */
export const cmpKey = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));

const after = (a: Stamp, b: Stamp) => a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq);
const NONE: Stamp = { epoch: -1n, seq: -1 };
let seqCounter = 0;

/** The model of one container. */
export class ContainerModel {
  readonly objects = new Map<bigint, ObjM>();
  /** Every oid ever updated or punched (the target's object table). */
  readonly touched = new Set<bigint>();
  maxEpoch = 0n;
  /** Highest `upTo` aggregated so far. */
  aggUpTo = 0n;
  private guards: Array<{ upTo: bigint; keep: Set<bigint> }> = [];

  private obj(oid: bigint): ObjM {
    let o = this.objects.get(oid);
    if (!o) { o = { dkeys: new Map(), punches: [] }; this.objects.set(oid, o); }
    this.touched.add(oid);
    return o;
  }
  private dk(oid: bigint, dkey: string): DkeyM {
    const o = this.obj(oid);
    let d = o.dkeys.get(dkey);
    if (!d) { d = { akeys: new Map(), punches: [] }; o.dkeys.set(dkey, d); }
    return d;
  }
  private ak(oid: bigint, dkey: string, akey: string): AkeyM {
    const d = this.dk(oid, dkey);
    let a = d.akeys.get(akey);
    if (!a) { a = { singles: [], extents: [], punches: [] }; d.akeys.set(akey, a); }
    return a;
  }
  /** Paths and epochs written lately (reads right there find off-by-one mistakes). */
  readonly recent: Array<{ oid: bigint; dkey?: string; akey?: string; epoch: bigint }> = [];
  private stamp(epoch: bigint, oid: bigint, dkey?: string, akey?: string): Stamp {
    if (epoch > this.maxEpoch) this.maxEpoch = epoch;
    this.recent.push({ oid, dkey, akey, epoch });
    if (this.recent.length > 64) this.recent.shift();
    return { epoch, seq: ++seqCounter };
  }

  updateSingle(epoch: bigint, oid: bigint, dkey: string, akey: string, value: Uint8Array): void {
    this.ak(oid, dkey, akey).singles.push({ ...this.stamp(epoch, oid, dkey, akey), value: value.slice() });
  }
  /** `data` holds `count * recordSize` bytes. */
  updateArray(epoch: bigint, oid: bigint, dkey: string, akey: string, index: number, count: number, data: Uint8Array, recordSize: number): void {
    const a = this.ak(oid, dkey, akey);
    a.recordSize ??= recordSize;
    a.extents.push({ ...this.stamp(epoch, oid, dkey, akey), index, count, data: data.slice() });
  }
  punchObject(epoch: bigint, oid: bigint): void { this.obj(oid).punches.push(this.stamp(epoch, oid)); }
  punchDkey(epoch: bigint, oid: bigint, dkey: string): void { this.dk(oid, dkey).punches.push(this.stamp(epoch, oid, dkey)); }
  punchAkey(epoch: bigint, oid: bigint, dkey: string, akey: string): void { this.ak(oid, dkey, akey).punches.push(this.stamp(epoch, oid, dkey, akey)); }

  discard(afterEpoch: bigint, upTo: bigint): void {
    const keep = <T extends Stamp>(xs: T[]) => xs.filter((x) => x.epoch <= afterEpoch || x.epoch > upTo);
    for (const o of this.objects.values()) {
      o.punches = keep(o.punches);
      for (const d of o.dkeys.values()) {
        d.punches = keep(d.punches);
        for (const a of d.akeys.values()) { a.punches = keep(a.punches); a.singles = keep(a.singles); a.extents = keep(a.extents); }
      }
    }
    if (this.maxEpoch > afterEpoch && this.maxEpoch <= upTo) this.maxEpoch = afterEpoch;
  }

  aggregate(upTo: bigint, keep: bigint[]): void {
    this.guards.push({ upTo, keep: new Set(keep) });
    if (upTo > this.aggUpTo) this.aggUpTo = upTo;
  }

  /** The views aggregations promised to keep: kept epochs and upTo - 1 (the edges of what they may drop). */
  keptViews(): bigint[] {
    return this.guards.flatMap((g) => [...g.keep, g.upTo - 1n, g.upTo]).filter((e) => e >= 0n && this.protectedView(e));
  }

  /** Whether reads at `e` are still guaranteed to match the model. */
  protectedView(e: bigint): boolean {
    return this.guards.every((g) => e >= g.upTo - 1n || g.keep.has(e));
  }

  // ------------------------------------------------------------------ reads

  private floor(e: bigint, o: ObjM | undefined, d: DkeyM | undefined, a: AkeyM | undefined): Stamp {
    let f = NONE;
    for (const ps of [o?.punches, d?.punches, a?.punches]) for (const p of ps ?? []) if (p.epoch <= e && after(p, f)) f = p;
    return f;
  }
  private nodes(oid: bigint, dkey: string, akey: string): { o?: ObjM; d?: DkeyM; a?: AkeyM } {
    const o = this.objects.get(oid); const d = o?.dkeys.get(dkey); const a = d?.akeys.get(akey);
    return { o, d, a };
  }

  fetchSingle(e: bigint, oid: bigint, dkey: string, akey: string): Uint8Array | undefined {
    const { o, d, a } = this.nodes(oid, dkey, akey);
    if (!a) return undefined;
    let best: SingleV | undefined;
    for (const s of a.singles) if (s.epoch <= e && (!best || after(s, best))) best = s;
    if (!best || !after(best, this.floor(e, o, d, a))) return undefined;
    return best.value;
  }

  /** Visible extents at e, newest first. */
  private visibleExtents(e: bigint, oid: bigint, dkey: string, akey: string): ExtentV[] {
    const { o, d, a } = this.nodes(oid, dkey, akey);
    if (!a) return [];
    const f = this.floor(e, o, d, a);
    return a.extents.filter((x) => x.epoch <= e && after(x, f)).sort((x, y) => (after(x, y) ? -1 : after(y, x) ? 1 : 0));
  }

  recordSize(oid: bigint, dkey: string, akey: string): number | undefined {
    return this.nodes(oid, dkey, akey).a?.recordSize;
  }

  /** Records [lo, hi): bytes (holes zero) and the present ranges. */
  fetchArray(e: bigint, oid: bigint, dkey: string, akey: string, lo: number, hi: number, rs = this.recordSize(oid, dkey, akey) ?? 1): { data: Uint8Array; present: Array<{ index: number; count: number }> } {
    const exts = this.visibleExtents(e, oid, dkey, akey);
    const data = new Uint8Array((hi - lo) * rs);
    const present: Array<{ index: number; count: number }> = [];
    for (let i = lo; i < hi; i++) {
      const x = exts.find((y) => y.index <= i && i < y.index + y.count);
      if (!x) continue;
      data.set(x.data.subarray((i - x.index) * rs, (i - x.index + 1) * rs), (i - lo) * rs);
      const last = present[present.length - 1];
      if (last && last.index + last.count === i) last.count++;
      else present.push({ index: i, count: 1 });
    }
    return { data, present };
  }

  /** Visible extents as the store lists them: disjoint pieces, each with the epoch that wrote it. */
  listRecx(e: bigint, oid: bigint, dkey: string, akey: string): Array<{ index: number; count: number; epoch: bigint }> {
    const exts = this.visibleExtents(e, oid, dkey, akey);
    if (!exts.length) return [];
    const lo = Math.min(...exts.map((x) => x.index)); const hi = Math.max(...exts.map((x) => x.index + x.count));
    const out: Array<{ index: number; count: number; epoch: bigint }> = [];
    let prev: ExtentV | undefined;
    for (let i = lo; i < hi; i++) {
      const x = exts.find((y) => y.index <= i && i < y.index + y.count);
      const last = out[out.length - 1];
      if (x && prev === x && last) last.count++;
      else if (x) out.push({ index: i, count: 1, epoch: x.epoch });
      prev = x;
    }
    return out;
  }

  akeyKind(e: bigint, oid: bigint, dkey: string, akey: string): 'single' | 'array' | undefined {
    const { o, d, a } = this.nodes(oid, dkey, akey);
    if (!a) return undefined;
    const f = this.floor(e, o, d, a);
    let best: Stamp & { t: 'single' | 'array' } | undefined;
    let s: SingleV | undefined;
    for (const v of a.singles) if (v.epoch <= e && (!s || after(v, s))) s = v;
    if (s && after(s, f)) best = { ...s, t: 'single' };
    const x = this.visibleExtents(e, oid, dkey, akey)[0];
    if (x && (!best || after(x, best))) best = { ...x, t: 'array' };
    return best?.t;
  }

  private akeyVisible(e: bigint, oid: bigint, dkey: string, akey: string): boolean {
    return this.fetchSingle(e, oid, dkey, akey) !== undefined || this.visibleExtents(e, oid, dkey, akey).length > 0;
  }

  listAkeys(e: bigint, oid: bigint, dkey: string): string[] {
    const d = this.objects.get(oid)?.dkeys.get(dkey);
    if (!d) return [];
    return [...d.akeys.keys()].filter((a) => this.akeyVisible(e, oid, dkey, a)).sort(cmpKey);
  }

  /** Visible dkeys of `oid` at `e` within `range`, in byte order (descending with `reverse`). */
  listDkeys(e: bigint, oid: bigint, range: ModelRange = {}): string[] {
    const o = this.objects.get(oid);
    if (!o) return [];
    let ks = [...o.dkeys.keys()].filter((d) => this.listAkeys(e, oid, d).length > 0).sort(cmpKey);
    const c = (x: string, b?: Uint8Array) => cmpKey(x, k(b!));
    if (range.gt) ks = ks.filter((x) => c(x, range.gt) > 0);
    if (range.gte) ks = ks.filter((x) => c(x, range.gte) >= 0);
    if (range.lt) ks = ks.filter((x) => c(x, range.lt) < 0);
    if (range.lte) ks = ks.filter((x) => c(x, range.lte) <= 0);
    if (range.reverse) ks.reverse();
    if (range.limit !== undefined) ks = ks.slice(0, range.limit);
    return ks;
  }

  listObjects(e: bigint): bigint[] {
    return [...this.objects.keys()].filter((oid) => this.listDkeys(e, oid).length > 0).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  listObjectIds(): bigint[] {
    return [...this.touched].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
