/**
 * Shared by the pool integrity tests (issue 13): a 16-target pool (4 nodes x 2 ranks x 2 targets)
 * with an RP_3G1 and an EC_4P2G1 container (redundancy factor 2) holding single values and arrays,
 * inline and in vos.data, a snapshot, overwrites and punches — part of it in sorted runs, the rest
 * only in the targets' logs (a crash image: the pool files as a process killed at that moment
 * leaves them) — and the oracle every read is checked against: the committed bytes, or nothing
 * where a punch says so. Never other bytes, never "absent" for something that exists.
 */
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Pool } from '../../src/pool/pool.js';
import { containerPort } from '../../src/container/container.js';
import { Rng } from '../../core/rng.js';

type Cont = Awaited<ReturnType<Pool['createContainer']>>;

/** Pool shape: 16 targets in 8 ranks on 4 nodes. */
export const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 16 << 20, dataBytes: 32 << 20 };
/** The two containers: their classes survive two failed ranks. */
export const CONTS = [
  { label: 'rp', oclass: 'RP_3G1' },
  { label: 'ec', oclass: 'EC_4P2G1' },
] as const;
export const EC_CELL = 8192;
export const SNAP = 'snap';

/** One akey the oracle knows: what a read must return now and at the snapshot. */
export interface Item {
  cont: 'rp' | 'ec'; obj: string; dkey: string; akey: 'sv' | 'ar';
  /** Single value (undefined: punched or never written); array: the bytes of [0, len) (holes zero). */
  now: Uint8Array | undefined;
  snap: Uint8Array | undefined;
  /** Targets of the object's group. */
  targets: number[];
  /** Epochs of the commits that changed it. */
  epochs: bigint[];
}

/** The oracle of a pool. */
export class Oracle {
  readonly items = new Map<string, Item>();
  /** An object (in both containers) whose values were punched before the snapshot: no read point sees them. */
  hidden = '';
  readonly objects = new Map<'rp' | 'ec', Set<string>>([['rp', new Set()], ['ec', new Set()]]);

  key(cont: string, obj: string, dkey: string, akey: string): string { return `${cont}/${obj}/${dkey}/${akey}`; }

  private item(c: Cont, cont: 'rp' | 'ec', obj: string, dkey: string, akey: 'sv' | 'ar'): Item {
    const k = this.key(cont, obj, dkey, akey);
    let it = this.items.get(k);
    if (!it) {
      const oid = c.object(obj).oid;
      it = { cont, obj, dkey, akey, now: undefined, snap: undefined, targets: containerPort(c).layout(oid).groups.flat(), epochs: [] };
      this.items.set(k, it);
    }
    this.objects.get(cont)!.add(obj);
    return it;
  }

  async put(c: Cont, cont: 'rp' | 'ec', obj: string, dkey: string, value: Uint8Array): Promise<void> {
    const e = await c.object(obj).update(dkey, 'sv', value);
    const it = this.item(c, cont, obj, dkey, 'sv');
    it.now = value; it.epochs.push(e);
  }

  async write(c: Cont, cont: 'rp' | 'ec', obj: string, dkey: string, offset: number, data: Uint8Array): Promise<void> {
    const e = await c.object(obj).update(dkey, 'ar', { recx: { index: offset, count: data.length }, data });
    const it = this.item(c, cont, obj, dkey, 'ar');
    it.epochs.push(e);
    const cur = it.now ?? new Uint8Array(0);
    const next = new Uint8Array(Math.max(cur.length, offset + data.length));
    next.set(cur); next.set(data, offset);
    it.now = next;
  }

  async punchAkey(c: Cont, cont: 'rp' | 'ec', obj: string, dkey: string, akey: 'sv' | 'ar'): Promise<void> {
    this.punched(this.item(c, cont, obj, dkey, akey), await c.object(obj).punchAkey(dkey, akey));
  }

  /** A punch at `epoch` covered `it`: a single value is gone, an array reads zeros. */
  private punched(it: Item, epoch: bigint): void {
    it.epochs.push(epoch);
    it.now = it.akey === 'sv' ? undefined : it.now && new Uint8Array(it.now.length);
  }

  async punchDkey(c: Cont, cont: 'rp' | 'ec', obj: string, dkey: string): Promise<void> {
    const e = await c.object(obj).punchDkey(dkey);
    for (const it of this.items.values()) if (it.cont === cont && it.obj === obj && it.dkey === dkey) this.punched(it, e);
  }

  async punchObject(c: Cont, cont: 'rp' | 'ec', obj: string): Promise<void> {
    const e = await c.object(obj).punch();
    for (const it of this.items.values()) if (it.cont === cont && it.obj === obj) this.punched(it, e);
  }

  /** The state now becomes the snapshot's. */
  snapshotTaken(): void { for (const it of this.items.values()) it.snap = it.now; }

  /** Items whose group includes `target`. */
  on(target: number): Item[] { return [...this.items.values()].filter((it) => it.targets.includes(target)); }
}

/** What one read pass found. */
export interface ReadPass { reads: number; lost: Array<{ key: string; at: string }> }

/**
 * Read every item now and at the snapshot; fail on other bytes, "absent" for what exists, or any
 * error but DATA_LOST for items in `mayLose`. Also checks that every object is still listed.
 */
export async function readAll(pool: Pool, o: Oracle, label: string, mayLose: (it: Item) => boolean = () => false, only?: (it: Item) => boolean): Promise<ReadPass> {
  const out: ReadPass = { reads: 0, lost: [] };
  for (const { label: cl } of CONTS) {
    const c = await pool.openContainer(cl);
    for (const it of o.items.values()) {
      if (it.cont !== cl || (only && !only(it))) continue;
      for (const at of ['now', SNAP] as const) {
        const want = at === 'now' ? it.now : it.snap;
        const opts = at === 'now' ? {} : { snapshot: SNAP };
        const what = `${label}: ${o.key(it.cont, it.obj, it.dkey, it.akey)} @${at}`;
        let got: Uint8Array | undefined;
        try {
          if (it.akey === 'sv') got = await c.object(it.obj).fetch(it.dkey, 'sv', opts);
          else {
            const len = Math.max(it.now?.length ?? 0, it.snap?.length ?? 0);
            if (len === 0) continue;
            got = await c.object(it.obj).fetch(it.dkey, 'ar', { ...opts, recx: { index: 0, count: len } });
          }
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === 'DATA_LOST' && mayLose(it)) { out.lost.push({ key: o.key(it.cont, it.obj, it.dkey, it.akey), at }); continue; }
          throw new Error(`${what}: read failed with ${code}: ${(err as Error).message}`);
        }
        out.reads++;
        if (it.akey === 'sv') {
          if (want === undefined) assert.is(got, undefined, `${what}: punched, read ${got?.length} bytes`);
          else {
            assert.ok(got !== undefined, `${what}: exists (${want.length} bytes), read as absent`);
            assert.ok(Buffer.from(got!).equals(Buffer.from(want)), `${what}: other bytes (${got!.length} read, ${want.length} expected)`);
          }
        } else {
          const len = Math.max(it.now?.length ?? 0, it.snap?.length ?? 0);
          const exp = new Uint8Array(len);
          if (want) exp.set(want);
          assert.ok(got !== undefined && got.length === len, `${what}: array read ${got?.length} bytes, expected ${len}`);
          if (!Buffer.from(got!).equals(Buffer.from(exp))) {
            let first = 0;
            while (got![first] === exp[first]) first++;
            const zeros = got!.subarray(first).every((b) => b === 0);
            assert.unreachable(`${what}: other bytes from offset ${first} of ${len}${zeros ? ' (zeros: read as absent)' : ''}`);
          }
        }
      }
    }
    // every object is still found (scrub and rebuild walk this list)
    const listed = new Set<bigint>();
    for await (const oid of c.listObjects()) listed.add(oid);
    for (const name of o.objects.get(cl as 'rp' | 'ec')!) assert.ok(listed.has(c.object(name).oid), `${label}: object ${cl}/${name} vanished from listObjects`);
  }
  return out;
}

/** Copy a directory tree keeping files sparse (vos.data is mostly holes). */
export function copyTree(src: string, dst: string): void {
  fs.rmSync(dst, { recursive: true, force: true });
  const r = spawnSync('cp', ['-a', '--sparse=always', src, dst], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cp ${src} ${dst}: ${r.stderr}`);
}

/** Build the template pool in `dir` (a crash image); returns its oracle. */
export async function buildPool(root: string, seed = 1313): Promise<{ dir: string; oracle: Oracle }> {
  const live = path.join(root, 'live');
  const rng = new Rng(seed);
  const o = new Oracle();
  let pool = await Pool.create(live, { ...SHAPE, io: 'pread' });
  const conts = new Map<'rp' | 'ec', Cont>();
  for (const { label, oclass } of CONTS) conts.set(label, await pool.createContainer(label, { oclass, redundancyFactor: 2, cellSize: EC_CELL }));
  const big = (cont: 'rp' | 'ec') => (cont === 'rp' ? 5000 + rng.int(5000) : 18_000 + rng.int(12_000));
  // phase 1: singles and arrays, inline and in vos.data (two runs: closed in between); a snapshot; overwrites and punches
  for (const [cont, c] of conts) {
    for (let i = 0; i < 10; i++) {
      for (let d = 0; d < 4; d++) {
        const large = (i + d) % 3 === 0;
        await o.put(c, cont, `o${i}`, `d${d}`, rng.bytes(large ? big(cont) : 50 + rng.int(400)));
        await o.write(c, cont, `o${i}`, `d${d}`, 0, rng.bytes(large ? 3 * big(cont) : 300 + rng.int(2000)));
      }
    }
  }
  // An object whose RP and EC groups share a target: its values, in this first run, are punched
  // before the snapshot (the punches land in the next run), so no read point ever sees them.
  const groupOf = (c: Cont, name: string) => containerPort(c).layout(c.object(name).oid).groups[0]!;
  let k = 0;
  while (!groupOf(conts.get('rp')!, `h${k}`).some((t) => groupOf(conts.get('ec')!, `h${k}`).includes(t))) k++;
  o.hidden = `h${k}`;
  for (const [cont, c] of conts) {
    for (const d of ['d0', 'd1']) {
      await o.put(c, cont, o.hidden, d, rng.bytes(d === 'd0' ? big(cont) : 300));
      await o.write(c, cont, o.hidden, d, 0, rng.bytes(3 * big(cont)));
    }
  }
  await pool.close();
  pool = await Pool.open(live, { io: 'pread' });
  for (const { label } of CONTS) conts.set(label, await pool.openContainer(label));
  for (const [cont, c] of conts) {
    await o.punchAkey(c, cont, o.hidden, 'd0', 'sv');
    await o.punchAkey(c, cont, o.hidden, 'd0', 'ar');
    await o.write(c, cont, o.hidden, 'd0', 0, rng.bytes(500)); // shorter: the old tail must stay gone
    await o.punchDkey(c, cont, o.hidden, 'd1');
  }
  await conts.get('rp')!.snapshot(SNAP);
  await conts.get('ec')!.snapshot(SNAP);
  o.snapshotTaken();
  for (const [cont, c] of conts) {
    for (let i = 0; i < 10; i += 2) await o.put(c, cont, `o${i}`, 'd1', rng.bytes(i % 4 === 0 ? big(cont) : 200));
    for (let i = 1; i < 10; i += 3) await o.write(c, cont, `o${i}`, 'd2', 100 + rng.int(3000), rng.bytes(i % 2 ? big(cont) : 1000));
    await o.punchAkey(c, cont, 'o3', 'd0', 'sv');
    await o.punchAkey(c, cont, 'o4', 'd3', 'ar');
    await o.punchDkey(c, cont, 'o5', 'd1');
    await o.punchObject(c, cont, 'o7');
  }
  await pool.close();
  // phase 2: more commits, acknowledged and only in the targets' logs
  pool = await Pool.open(live, { io: 'pread' });
  for (const { label } of CONTS) conts.set(label, await pool.openContainer(label));
  for (const [cont, c] of conts) {
    for (let i = 0; i < 10; i++) {
      await o.put(c, cont, `o${i}`, 'd4', rng.bytes(i % 3 === 0 ? big(cont) : 80 + rng.int(300)));
      await o.write(c, cont, `o${i}`, 'd4', 0, rng.bytes(i % 3 === 1 ? 2 * big(cont) : 700));
    }
    await o.put(c, cont, 'o7', 'd0', rng.bytes(300)); // the punched object written again
    await o.put(c, cont, 'o2', 'd2', rng.bytes(big(cont)));
    await o.punchAkey(c, cont, 'o6', 'd4', 'sv');
  }
  const dir = path.join(root, 'template');
  copyTree(live, dir);
  await pool.close();
  fs.rmSync(live, { recursive: true, force: true });
  return { dir, oracle: o };
}

/** Where things lie in one target's files (found through the store's own structures). */
export interface TargetFiles {
  dir: string;
  scm: string; data: string;
  scmSize: number;
  /** Log: the active region, its acknowledged tail, its first record (offset and length). */
  activeRegion: number; tail: number; firstRecord: { off: number; len: number };
  /** Tail slots. */
  slots: number[];
  /** Manifest copies of the superblock in force (chunk offsets and length). */
  manifests: Array<{ chunks: number[]; len: number }>;
  /** Run blocks. */
  blocks: Array<{ off: number; len: number; kind: 'data' | 'index' | 'bloom'; run: number; lo: string; hi: string }>;
  /** Non-zero 4 KiB blocks of vos.data. */
  dataBlocks: number[];
  /** Log records replayed on open (acknowledged, not in runs yet). */
  logRecords: number;
  /** Container index on the target, by container uuid. */
  contIdx: Map<string, number>;
}

/** Locate the structures of target `t` of the pool in `poolDir` (opened read-only: nothing is written). */
export async function locate(poolDir: string, t: number): Promise<TargetFiles> {
  const { TargetStore } = await import('../../src/vos/store.js');
  const { decodeSuperblock, SB_SLOT_BYTES, TAIL_SLOTS_OFFSET } = await import('../../src/vos/manifest.js');
  const { REGION_HEADER, TAIL_SLOT } = await import('../../src/vos/wal.js');
  const dir = path.join(poolDir, 'targets', String(t));
  const ts = await TargetStore.open(dir, { readOnly: true, io: 'pread' });
  const blocks: TargetFiles['blocks'] = [];
  let logRecords = 0;
  let regions: [number, number];
  const contIdx = new Map<string, number>();
  try {
    logRecords = ts.openReport.records;
    for (const [uuid, st] of ts.byUuid) contIdx.set(uuid, st.idx);
    assert.is(ts.openReport.damage, undefined, `template target ${t} is intact`);
    regions = [ts.geo.chunkBytes, ts.geo.chunkBytes + ts.geo.walBytes];
    for (const r of ts.runs) {
      for (const b of r.blocks()) {
        const d = b.damage();
        blocks.push({ off: b.ref.off, len: b.ref.len, kind: d.kind, run: d.run, lo: d.lo, hi: d.hi });
      }
    }
  } finally { await ts.close(); }
  const scmPath = path.join(dir, 'vos.scm');
  const scm = fs.readFileSync(scmPath);
  const slots = [0, 1].map((s) => TAIL_SLOTS_OFFSET + s * TAIL_SLOT);
  const counters = slots.map((o) => scm.readUInt32LE(o + 8));
  const newest = slots[counters[0]! > counters[1]! ? 0 : 1]!;
  const tail = scm.readUInt32LE(newest + 24);
  const activeRegion = regions!.find((r) => tail >= r && tail <= r + (regions![1] - regions![0]))!;
  const first = activeRegion + REGION_HEADER;
  const firstLen = scm.readUInt32LE(first + 8);
  const sbs = [0, 1].map((s) => decodeSuperblock(scm.subarray(s * SB_SLOT_BYTES, (s + 1) * SB_SLOT_BYTES)));
  const sb = sbs.flatMap((s) => ('sb' in s ? [s.sb] : [])).reduce((a, b) => (b.gen > a.gen ? b : a));
  const dataPath = path.join(dir, 'vos.data');
  const dataBlocks: number[] = [];
  const fd = fs.openSync(dataPath, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(1 << 20);
    for (let off = 0; off < size; off += buf.length) {
      const n = fs.readSync(fd, buf, 0, buf.length, off);
      for (let b = 0; b + 4096 <= n; b += 4096) if (buf.subarray(b, b + 4096).some((x) => x !== 0)) dataBlocks.push(off + b);
    }
  } finally { fs.closeSync(fd); }
  return {
    dir, scm: scmPath, data: dataPath, scmSize: scm.length, activeRegion, tail, firstRecord: { off: first, len: firstLen }, slots,
    manifests: sb.copies.map((c) => ({ chunks: c.chunks, len: c.len })), blocks, dataBlocks, logRecords, contIdx,
  };
}

/** XOR `mask` into the byte at `offset` of `file` (the store tests' helper). */
export { flip } from '../vos/helpers.js';

/**
 * Read the RP container's shards on target `t` directly (its own store, at the snapshot and the
 * stable epoch): a repaired replica must hold exactly the committed state, even where the pool
 * would read another replica first.
 */
export async function readReplicasOn(pool: Pool, o: Oracle, t: number, label: string): Promise<number> {
  const { unitOid } = await import('../../src/io/shard-store.js');
  const c = await pool.openContainer('rp');
  const port = containerPort(c);
  const store = await port.io().store(t);
  const points: Array<[string, bigint]> = [['now', port.readEpoch({})], [SNAP, port.readEpoch({ snapshot: SNAP })]];
  const enc = (s: string) => new TextEncoder().encode(s);
  let n = 0;
  for (const it of o.items.values()) {
    if (it.cont !== 'rp' || !it.targets.includes(t)) continue;
    const oid = c.object(it.obj).oid;
    const u = unitOid(oid, port.layout(oid).groups[0]!.indexOf(t));
    for (const [at, R] of points) {
      const want = at === 'now' ? it.now : it.snap;
      const what = `${label}: replica on target ${t} of ${o.key(it.cont, it.obj, it.dkey, it.akey)} @${at}`;
      if (it.akey === 'sv') {
        const got = await store.fetchSingle(R, u, enc(it.dkey), enc('sv'));
        if (want === undefined) assert.is(got, undefined, `${what}: punched, holds ${got?.length} bytes`);
        else assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(want)), `${what}: ${got === undefined ? 'absent' : 'other bytes'}`);
      } else {
        const len = Math.max(it.now?.length ?? 0, it.snap?.length ?? 0);
        if (len === 0) continue;
        const got = await store.fetchArray(R, u, enc(it.dkey), enc('ar'), { index: 0, count: len });
        const exp = new Uint8Array(len);
        if (want) exp.set(want);
        assert.ok(Buffer.from(got.data).equals(Buffer.from(exp)), `${what}: other bytes`);
      }
      n++;
    }
  }
  return n;
}

/** Target `t`'s own object tables list the shard of every object with a shard on it (after a repair). */
export async function tablesOn(pool: Pool, o: Oracle, t: number, label: string): Promise<void> {
  const { unitOid } = await import('../../src/io/shard-store.js');
  for (const { label: cl } of CONTS) {
    const c = await pool.openContainer(cl);
    const port = containerPort(c);
    const listed = new Set<bigint>();
    for await (const u of (await port.io().store(t)).listObjectIds()) listed.add(u);
    for (const name of o.objects.get(cl)!) {
      const oid = c.object(name).oid;
      const shard = port.layout(oid).groups[0]!.indexOf(t);
      if (shard >= 0) assert.ok(listed.has(unitOid(oid, shard)), `${label}: target ${t}'s object table lists ${cl}/${name} shard ${shard}`);
    }
  }
}
