/**
 * A plain in-memory model of one VOS target for the model-based test: a list of every
 * operation with its (epoch, seq), read by brute force with the documented semantics
 * ((epoch, seq) order, later wins at equal epochs; a punch hides what is ordered before it).
 */

export interface Stamp { epoch: bigint; seq: number }
export type Op =
  | { t: 'single'; oid: bigint; dkey: string; akey: string; epoch: bigint; seq: number; value: Uint8Array }
  | { t: 'array'; oid: bigint; dkey: string; akey: string; epoch: bigint; seq: number; index: number; data: Uint8Array }
  | { t: 'punch'; oid: bigint; dkey?: string; akey?: string; epoch: bigint; seq: number };

const after = (a: Stamp, b: Stamp) => a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq);

export class VosModel {
  ops: Op[] = [];
  seq = 0;
  maxEpoch = 0n;
  /** Read epochs at which the store must still match (narrowed by each aggregation). */
  private guards: Array<{ upTo: bigint; keep: Set<bigint> }> = [];
  /** Highest `upTo` aggregated so far. */
  aggUpTo = 0n;

  updateSingle(epoch: bigint, oid: bigint, dkey: string, akey: string, value: Uint8Array): void {
    this.ops.push({ t: 'single', oid, dkey, akey, epoch, seq: ++this.seq, value: value.slice() });
    if (epoch > this.maxEpoch) this.maxEpoch = epoch;
  }
  updateArray(epoch: bigint, oid: bigint, dkey: string, akey: string, index: number, data: Uint8Array): void {
    this.ops.push({ t: 'array', oid, dkey, akey, epoch, seq: ++this.seq, index, data: data.slice() });
    if (epoch > this.maxEpoch) this.maxEpoch = epoch;
  }
  punch(epoch: bigint, oid: bigint, dkey?: string, akey?: string): void {
    this.ops.push({ t: 'punch', oid, dkey, akey, epoch, seq: ++this.seq });
    if (epoch > this.maxEpoch) this.maxEpoch = epoch;
  }
  history: unknown[] = [];
  discard(afterEpoch: bigint, upTo: bigint): void {
    this.history.push({ discard: afterEpoch, upTo, seq: this.seq });
    this.ops = this.ops.filter((o) => o.epoch <= afterEpoch || o.epoch > upTo);
    if (this.maxEpoch > afterEpoch && this.maxEpoch <= upTo) this.maxEpoch = afterEpoch;
  }
  aggregate(upTo: bigint, keep: bigint[]): void {
    this.guards.push({ upTo, keep: new Set(keep) });
    this.history.push({ aggregate: upTo, keep, seq: this.seq });
    if (upTo > this.aggUpTo) this.aggUpTo = upTo;
  }
  /** Whether reads at `e` are still guaranteed to match the model. */
  protectedView(e: bigint): boolean {
    return this.guards.every((g) => e >= g.upTo - 1n || g.keep.has(e));
  }

  private punched(o: Op, e: bigint): boolean {
    return this.ops.some((p) => p.t === 'punch' && p.oid === o.oid && p.epoch <= e && p.oid === o.oid && (p.dkey === undefined || (o.t !== 'punch' && p.dkey === o.dkey))
      && (p.akey === undefined || (o.t !== 'punch' && p.akey === o.akey)) && after(p, o));
  }
  private visible(e: bigint, oid: bigint, dkey: string, akey: string): Op[] {
    return this.ops.filter((o) => o.t !== 'punch' && o.oid === oid && o.dkey === dkey && o.akey === akey && o.epoch <= e && !this.punched(o, e));
  }

  fetchSingle(e: bigint, oid: bigint, dkey: string, akey: string): Uint8Array | undefined {
    let best: Op | undefined;
    for (const o of this.ops) {
      if (o.t === 'single' && o.oid === oid && o.dkey === dkey && o.akey === akey && o.epoch <= e && (!best || after(o, best))) best = o;
    }
    if (!best || this.punched(best, e)) return undefined;
    return (best as { value: Uint8Array }).value;
  }

  /** Winner op per record index in [lo, hi) (undefined = hole). */
  arrayWinners(e: bigint, oid: bigint, dkey: string, akey: string, lo: number, hi: number): Array<Extract<Op, { t: 'array' }> | undefined> {
    const vis = this.visible(e, oid, dkey, akey).filter((o): o is Extract<Op, { t: 'array' }> => o.t === 'array');
    const out: Array<Extract<Op, { t: 'array' }> | undefined> = new Array(hi - lo).fill(undefined);
    for (const o of vis) {
      for (let i = Math.max(lo, o.index); i < Math.min(hi, o.index + o.data.length); i++) {
        const cur = out[i - lo];
        if (!cur || after(o, cur)) out[i - lo] = o;
      }
    }
    return out;
  }

  fetchArray(e: bigint, oid: bigint, dkey: string, akey: string, lo: number, hi: number): { data: Uint8Array; present: Array<{ index: number; count: number }> } {
    const w = this.arrayWinners(e, oid, dkey, akey, lo, hi);
    const data = new Uint8Array(hi - lo);
    const present: Array<{ index: number; count: number }> = [];
    w.forEach((o, k) => {
      if (!o) return;
      const i = lo + k;
      data[k] = o.data[i - o.index]!;
      const last = present[present.length - 1];
      if (last && last.index + last.count === i) last.count++;
      else present.push({ index: i, count: 1 });
    });
    return { data, present };
  }

  listRecx(e: bigint, oid: bigint, dkey: string, akey: string, hi: number): Array<{ index: number; count: number; epoch: bigint }> {
    const w = this.arrayWinners(e, oid, dkey, akey, 0, hi);
    const out: Array<{ index: number; count: number; epoch: bigint }> = [];
    let prev: Op | undefined;
    w.forEach((o, i) => {
      if (!o) { prev = undefined; return; }
      const last = out[out.length - 1];
      if (prev === o && last) last.count++;
      else out.push({ index: i, count: 1, epoch: o.epoch });
      prev = o;
    });
    return out;
  }

  akeyKind(e: bigint, oid: bigint, dkey: string, akey: string): 'single' | 'array' | undefined {
    let best: Op | undefined;
    const s = this.ops.filter((o) => o.t === 'single' && o.oid === oid && o.dkey === dkey && o.akey === akey && o.epoch <= e);
    const sv = s.reduce<Op | undefined>((b, o) => (!b || after(o, b) ? o : b), undefined);
    if (sv && !this.punched(sv, e)) best = sv;
    for (const o of this.visible(e, oid, dkey, akey)) if (o.t === 'array' && (!best || after(o, best))) best = o;
    return best ? (best.t === 'single' ? 'single' : 'array') : undefined;
  }

  private akeyHas(e: bigint, oid: bigint, dkey: string, akey: string): boolean {
    return this.fetchSingle(e, oid, dkey, akey) !== undefined || this.visible(e, oid, dkey, akey).some((o) => o.t === 'array');
  }

  /** Every (oid, dkey, akey) with something visible at e. */
  private live(e: bigint): Array<[bigint, string, string]> {
    const seen = new Map<string, [bigint, string, string]>();
    for (const o of this.ops) if (o.t !== 'punch') seen.set(`${o.oid}/${o.dkey}/${o.akey}`, [o.oid, o.dkey, o.akey]);
    return [...seen.values()].filter(([o, d, a]) => this.akeyHas(e, o, d, a));
  }
  listAkeys(e: bigint, oid: bigint, dkey: string): string[] {
    return [...new Set(this.live(e).filter(([o, d]) => o === oid && d === dkey).map(([, , a]) => a))].sort();
  }
  listDkeys(e: bigint, oid: bigint): string[] {
    return [...new Set(this.live(e).filter(([o]) => o === oid).map(([, d]) => d))].sort();
  }
  listObjects(e: bigint): bigint[] {
    return [...new Set(this.live(e).map(([o]) => o))].sort((a, b) => (a < b ? -1 : 1));
  }
}
