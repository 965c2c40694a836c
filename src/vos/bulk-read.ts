/**
 * Bulk reads of one object on one target, for rebuild: one merged pass over the object's whole key
 * range gives every visible dkey and akey (as `ContainerStore.scanObject` does) together with the
 * stored versions that supply each visible array piece and single value; the bytes of a version
 * are then read straight into the caller's buffers (`readVersionInto`: one positional read on the
 * thread pool, the checksum verified there), with no lookup per read.
 *
 * Why: a rebuild reads every value of an object on k shards; through `fetchArrayInto` each read
 * first looks its akey up again (record size, punch floor, extents: three merged seeks over the
 * memtables and runs), which cost more JavaScript than the read itself. One pass per shard per
 * object replaces all of those lookups.
 *
 * A version found by the pass may be freed (aggregation, discard) before it is read; its block
 * could then hold other bytes, which fail the checksum: callers treat CHECKSUM_MISMATCH from
 * `readVersionInto` as "look again" and read through the ordinary path, which reports real
 * damage as before.
 */
import { ContainerStore, dkeyFloor, visibleOfAkey, type ScannedAkey } from './container-store.js';
import { VosError, invalidArg } from './errors.js';
import { solo, type MemObject, type MemVersion } from './memtable.js';
import { addEntry, objectPrefix, prefixEnd, scan, tombHides, type Gathered, type ReadView, type Tomb } from './reads.js';
import { bloomProbe } from './run.js';
import { locateVersionRead, type LocatedArrayRead } from './locate.js';
import { keyHex, keyStr, paint, type Stamp } from './tree.js';

/** Dkeys one `objectVersions` pass gathers at most; an object with more is read the ordinary way (undefined). */
export const OBJECT_VERSIONS_MAX_DKEYS = 4096;

/** Records [index, index + count) of an array akey, visible from `version` (all of it or a part). */
export interface VersionPiece { index: number; count: number; version: MemVersion }

/** A visible akey with the versions that supply it: `pieces` (arrays, ascending, disjoint) or `single`. */
export interface VersionedAkey extends ScannedAkey { pieces: VersionPiece[]; single?: MemVersion }

/** A visible dkey with its visible akeys in byte order. */
export interface VersionedDkey { dkey: Uint8Array; akeys: VersionedAkey[] }

/** Whether `store` can be read with `objectVersions` / `readVersionInto` (a local container store). */
export function supportsBulkRead(store: unknown): store is ContainerStore {
  return store instanceof ContainerStore;
}

/**
 * Every dkey of unit object `oid` visible at `epoch` on `cs`, in key order, each akey with its kind,
 * extents (as `scanObject`) and the versions supplying them; undefined when the object has more
 * than `maxDkeys` dkeys (default OBJECT_VERSIONS_MAX_DKEYS): the caller reads it page by page
 * with `scanObject` instead. Synchronous: one pass, no await.
 */
export function objectVersions(cs: ContainerStore, epoch: bigint, oid: bigint, opts: { maxDkeys?: number } = {}): VersionedDkey[] | undefined {
  if (typeof epoch !== 'bigint' || epoch < 0n) throw invalidArg('epoch must be a bigint >= 0', { epoch: String(epoch) });
  if (typeof oid !== 'bigint' || oid < 0n) throw invalidArg('oid must be a bigint >= 0', { oid: String(oid) });
  const max = opts.maxDkeys ?? OBJECT_VERSIONS_MAX_DKEYS;
  const t = cs.target, st = cs.state;
  t.enter();
  try {
    live(cs);
    t.checkIntact();
    const g: Gathered = { punches: [], dkeys: new Map() };
    // The memtables' part straight from their nodes (no entry encoded and decoded again) ...
    for (const m of t.frozen ? [t.active, t.frozen] : [t.active]) {
      const o = m.conts.get(st.idx)?.objects.get(oid);
      if (o && !addMemObject(g, o, st.tombs, max)) return undefined;
    }
    // ... and the runs' in one merged pass over the object's key range (its punches, then every dkey).
    const obj = objectPrefix(st.idx, oid);
    const runs: ReadView = { mems: [], runs: t.runs, tombs: st.tombs, cont: st.idx };
    const s = scan(runs, obj, prefixEnd(obj), false, () => [], (r) => r.mayContain(bloomProbe(obj)));
    for (let e = s.next(); e; e = s.next()) {
      addEntry(g, e, st.tombs);
      if (g.dkeys.size > max) return undefined;
    }
    const out: VersionedDkey[] = [];
    for (const d of g.dkeys.values()) {
      const akeys = visibleVersions(d, g.punches, epoch);
      if (akeys.length) out.push({ dkey: d.key, akeys });
    }
    // (often in key order already, as a chunked array written in order is: then no sort)
    for (let i = 1; i < out.length; i++) if (Buffer.compare(out[i - 1]!.dkey, out[i]!.dkey) > 0) return out.sort((x, y) => Buffer.compare(x.dkey, y.dkey));
    return out;
  } catch (e) {
    t.noteDamage(e);
    throw e;
  } finally {
    t.leave();
  }
}

/**
 * Read the bytes of `version` (found by `objectVersions` on `cs`) into `into` (buffers holding
 * exactly its length, in order), checksum verified; CHECKSUM_MISMATCH when the bytes differ (damage,
 * or the version was freed and its block reused since it was found: look it up again).
 */
export async function readVersionInto(cs: ContainerStore, oid: bigint, dkey: Uint8Array, akey: Uint8Array, version: MemVersion, into: readonly Uint8Array[]): Promise<void> {
  const t = cs.target;
  t.enter();
  try {
    live(cs);
    t.checkIntact();
    await t.readValueInto(version, () => ({ oid: oid.toString(), dkey: keyHex(dkey), akey: keyHex(akey), epoch: version.epoch.toString(), recx: { index: version.index, count: version.count } }), into);
  } catch (e) {
    t.noteDamage(e);
    throw e;
  } finally {
    t.leave();
  }
}

/**
 * `locateVersionRead` on container store `cs`: the synchronous device request of a version
 * `objectVersions` gave (send it with `readHashedGroup`; `finish` false: read it the ordinary way),
 * or null (read it with `readVersionInto` or the ordinary way).
 */
export function locateVersionInto(cs: ContainerStore, version: MemVersion, into: readonly Uint8Array[]): LocatedArrayRead | null {
  return locateVersionRead(cs.target, cs.state, version, into);
}

type GatheredDkey = Gathered['dkeys'] extends Map<string, infer D> ? D : never;

/**
 * Add a memtable object's punches and versions (those no discard hides) to `g`; false when that
 * makes more than `max` dkeys. A version held twice (a memtable and a run during a flush) is
 * harmless: the visibility rules keep one.
 */
function addMemObject(g: Gathered, o: MemObject, tombs: Tomb[], max: number): boolean {
  const so = solo(o);
  if (so !== undefined) { // (one single of one dkey and akey, no punch: as below, with no tree made)
    const ds = keyStr(so.dkey);
    let gd = g.dkeys.get(ds);
    if (!gd) {
      gd = { key: so.dkey, punches: [], akeys: new Map() };
      g.dkeys.set(ds, gd);
      if (g.dkeys.size > max) return false;
    }
    const as = keyStr(so.akey);
    let ga = gd.akeys.get(as);
    if (!ga) { ga = { key: so.akey, punches: [], singles: [], extents: [] }; gd.akeys.set(as, ga); }
    if (!tombHides(tombs, so.v.epoch, so.v.seq)) ga.singles.push(so.v);
    return true;
  }
  for (const p of o.punches) if (!tombHides(tombs, p.epoch, p.seq)) g.punches.push(p);
  for (const d of o.dkeys.values()) {
    const ds = keyStr(d.key);
    let gd = g.dkeys.get(ds);
    if (!gd) {
      gd = { key: d.key, punches: [], akeys: new Map() };
      g.dkeys.set(ds, gd);
      if (g.dkeys.size > max) return false;
    }
    for (const p of d.punches) if (!tombHides(tombs, p.epoch, p.seq)) gd.punches.push(p);
    for (const a of d.akeys.values()) {
      const as = keyStr(a.key);
      let ga = gd.akeys.get(as);
      if (!ga) { ga = { key: a.key, punches: [], singles: [], extents: [] }; gd.akeys.set(as, ga); }
      for (const p of a.punches) if (!tombHides(tombs, p.epoch, p.seq)) ga.punches.push(p);
      for (const x of a.singles) if (!tombHides(tombs, x.epoch, x.seq)) ga.singles.push(x);
      for (const x of a.extents) if (!tombHides(tombs, x.epoch, x.seq)) ga.extents.push(x);
    }
  }
  return true;
}

function live(cs: ContainerStore): void {
  if (cs.state.destroyed) throw new VosError('NOT_FOUND', `container ${cs.state.uuid} was destroyed on this target`, { container: cs.state.uuid });
}

/** The akeys of one gathered dkey visible at `epoch`, in byte order, with their versions (the rules of `scanObject`). */
function visibleVersions(d: GatheredDkey, objP: readonly Stamp[], epoch: bigint): VersionedAkey[] {
  const akeys: VersionedAkey[] = [];
  const dfloor = dkeyFloor(objP, d.punches, epoch);
  for (const a of d.akeys.values()) {
    const v = visibleOfAkey(a, dfloor, epoch);
    if (!v) continue;
    if (v.single) {
      akeys.push({ akey: a.key, kind: 'single', epoch: v.single.epoch, extents: [], pieces: [], single: v.single });
      continue;
    }
    const exts = v.exts;
    const pieces = visiblePieces(exts);
    // Extents as `scanObject` reports them: touching pieces of one version joined.
    const extents: ScannedAkey['extents'] = [];
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!, prev = pieces[i - 1];
      if (prev && prev.version === p.version && prev.index + prev.count === p.index) extents[extents.length - 1]!.count += p.count;
      else extents.push({ index: p.index, count: p.count, epoch: p.version.epoch });
    }
    akeys.push({ akey: a.key, kind: 'array', epoch: exts[0]!.epoch, extents, pieces });
  }
  return akeys.sort((x, y) => Buffer.compare(x.akey, y.akey));
}

/** Visible pieces of extents (newest first) as disjoint ascending ranges, each with the version it comes from. */
function visiblePieces(exts: readonly MemVersion[]): VersionPiece[] {
  // (one extent, as an array chunk written once holds: itself, no painting)
  if (exts.length === 1) { const x = exts[0]!; return x.count > 0 ? [{ index: x.index, count: x.count, version: x }] : []; }
  let lo = Infinity, hi = 0;
  for (const x of exts) { lo = Math.min(lo, x.index); hi = Math.max(hi, x.index + x.count); }
  const painted = paint(exts as never, lo, hi);
  const out: VersionPiece[] = [];
  for (let i = 0; i < exts.length; i++) for (const [s, e] of painted[i]!) out.push({ index: s, count: e - s, version: exts[i]! });
  return out.sort((p, q) => p.index - q.index);
}
