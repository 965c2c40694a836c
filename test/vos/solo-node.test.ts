/**
 * The memtable's solo node (`SoloObj`): a new object holding one single value of one dkey and one
 * akey is one node until it gets more (a second dkey, akey, a version at another epoch, an array
 * extent, a punch); then it becomes the usual tree in the same table slot.
 *
 * - Against a model of the memtable's rules (singles per akey sorted by (epoch, seq), one per
 *   epoch: the later by seq kept, the other handed back), through random writes to many objects,
 *   read through the `MemObject` interface as every reader does; objects that got one single stay
 *   solo (the test fails if the solo path is never taken), and a reader holding a solo node after
 *   it became a tree reads the tree.
 * - Through a target store: point reads (the solo fast path), bulk reads, scans, listing, flush and
 *   reopen (replay) of many new objects, some later given a second akey, an overwrite at their
 *   epoch, a newer epoch, or a punch, all read back as a model says.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { Rng } from '../../core/rng.js';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { Memtable, SoloObj, solo, type MemObject, type MemVersion } from '../../src/vos/memtable.js';
import { objectVersions } from '../../src/vos/bulk-read.js';
import { scanObjectAll } from '../../src/vos/scan.js';
import { Where } from '../../src/vos/wal.js';
import { dec, enc, tmpDir } from './helpers.js';

const test = suite('vos memtable solo nodes');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 16 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
test.before.each(() => { dir = tmpDir('solo-node'); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const single = (epoch: bigint, seq: number): MemVersion => ({ epoch, seq, csum: BigInt(seq), len: 8, where: Where.Block, loc: seq * 4096, alloc: 4096, index: 0, count: 0, recordSize: 0 });
const extent = (epoch: bigint, seq: number): MemVersion => ({ epoch, seq, csum: BigInt(seq), len: 8, where: Where.Block, loc: seq * 4096, alloc: 4096, index: seq, count: 1, recordSize: 8 });

/** What a node holds, read through `MemObject` (what every reader of the memtable sees). */
function contents(o: MemObject): string[] {
  const out: string[] = [];
  for (const p of o.punches) out.push(`P@${p.epoch}/${p.seq}`);
  for (const d of o.dkeys.values()) {
    for (const p of d.punches) out.push(`${dec(d.key)} P@${p.epoch}/${p.seq}`);
    for (const a of d.akeys.values()) {
      for (const p of a.punches) out.push(`${dec(d.key)}/${dec(a.key)} P@${p.epoch}/${p.seq}`);
      for (const v of a.singles) out.push(`${dec(d.key)}/${dec(a.key)} S@${v.epoch}/${v.seq}`);
      for (const v of a.extents) out.push(`${dec(d.key)}/${dec(a.key)} X@${v.epoch}/${v.seq}`);
    }
  }
  return out.sort();
}

/** A version's fields (a new object's solo node is its own version: not the object passed in). */
const fields = (v: MemVersion | undefined) => v && [v.epoch, v.seq, v.csum, v.len, v.where, v.loc, v.alloc, v.index, v.count, v.recordSize, v.inline];

for (const seed of [1, 2, 3]) {
  test(`random writes to many objects read as the model says; one-single objects stay solo (seed ${seed})`, () => {
    const rng = new Rng(seed);
    const mt = new Memtable(1);
    /** Per object: what it should hold (as `contents` lists it), and whether it ever got anything but one single's versions at one epoch. */
    const model = new Map<bigint, { items: Map<string, MemVersion | true>; singles: Map<string, MemVersion[]>; more: boolean }>();
    const held: Array<{ oid: bigint; node: MemObject }> = [];
    let seq = 0, late = 0;
    const OBJECTS = 400;
    for (let step = 0; step < 3000; step++) {
      const oid = BigInt(1 + rng.int(OBJECTS)) << 32n | BigInt(rng.int(3));
      const m = model.get(oid) ?? { items: new Map(), singles: new Map(), more: false };
      model.set(oid, m);
      // most objects get one write; some get a few, to the same keys or others
      const dk = rng.chance(0.8) ? 'd' : `d${rng.int(3)}`;
      const ak = rng.chance(0.8) ? 'a' : `a${rng.int(3)}`;
      const epoch = BigInt(1 + rng.int(6));
      const s = 1000 * ++seq; // (gaps: room for a write applied out of order, below)
      const kind = rng.int(20);
      if (kind === 0) {
        mt.addPunch(0, oid, 0, enc(''), enc(''), { epoch, seq: s }, 10);
        m.items.set(`P@${epoch}/${s}`, true); m.more = true;
      } else if (kind === 1) {
        mt.addPunch(0, oid, 2, enc(dk), enc(ak), { epoch, seq: s }, 10);
        m.items.set(`${dk}/${ak} P@${epoch}/${s}`, true); m.more = true;
      } else if (kind === 2) {
        assert.is(mt.addVersion(0, oid, enc(dk), enc(ak), extent(epoch, s), 10), undefined);
        m.items.set(`${dk}/${ak} X@${epoch}/${s}`, true); m.more = true;
      } else {
        // a single, sometimes applied out of seq order (as a replay of concurrent writes can)
        const v = single(epoch, rng.chance(0.1) && seq > 6 ? s - 1000 * (1 + rng.int(5)) + 1 + (late++ % 998) : s);
        const key = `${dk}/${ak}`;
        const list: MemVersion[] = m.singles.get(key) ?? [];
        const same = list.find((x) => x.epoch === v.epoch);
        const want = same === undefined ? undefined : same.seq < v.seq ? same : v;
        if (same !== undefined && same.seq < v.seq) list.splice(list.indexOf(same), 1, v);
        else if (same === undefined) list.push(v);
        m.singles.set(key, list);
        if (m.items.size + m.singles.size > 1 || list.length > 1 || m.more) m.more = true;
        const gone = mt.addVersion(0, oid, enc(dk), enc(ak), v, 10);
        // (by its fields: a new object's node holds the version's fields itself, `SoloObj`)
        assert.equal(fields(gone), fields(want), `step ${step}: the version handed back`);
      }
      // a node found now, kept by the "reader", read again later whatever it becomes
      if (rng.chance(0.05)) held.push({ oid, node: mt.conts.get(0)!.objects.get(oid)! });
    }
    let solos = 0;
    const c = mt.conts.get(0)!;
    for (const [oid, m] of model) {
      const want = [...m.items.keys()];
      for (const [key, list] of m.singles) for (const v of list) want.push(`${key} S@${v.epoch}/${v.seq}`);
      const o = c.objects.get(oid)!;
      // (read the solo state before `contents` reads `dkeys`, which makes the tree)
      const isSolo = solo(o) !== undefined;
      if (!m.more) { assert.ok(isSolo, `object ${oid.toString(16)} with one single is solo`); solos++; }
      else assert.not.ok(isSolo, `object ${oid.toString(16)} holding more is a tree`);
      assert.equal(contents(o), want.sort(), `object ${oid.toString(16)}`);
      // singles in (epoch, seq) order, as reads and flushes rely on
      for (const d of o.dkeys.values()) for (const a of d.akeys.values()) {
        for (let i = 1; i < a.singles.length; i++) assert.ok(a.singles[i - 1]!.epoch < a.singles[i]!.epoch, 'one single per epoch, ascending');
      }
    }
    assert.ok(solos > 20, `objects left solo: ${solos}`);
    assert.is(c.objects.size, model.size);
    assert.is(c.sortedObjects().length, model.size);
    for (const { oid, node } of held) assert.equal(contents(node), contents(c.objects.get(oid)!), `a node held since: ${oid.toString(16)}`);
  });
}

test('a solo node read by a holder, then written: the holder and the table read one tree', () => {
  const mt = new Memtable(1);
  mt.addVersion(0, 5n, enc('d'), enc('a'), single(1n, 0), 10);
  const o = mt.conts.get(0)!.objects.get(5n)!;
  assert.ok(o instanceof SoloObj);
  assert.is(o.punches.length, 0);
  const d = o.dkeys.getBytes(enc('d'))!; // (the tree made on this first read)
  assert.is(d.akeys.getBytes(enc('a'))!.singles.length, 1);
  mt.addVersion(0, 5n, enc('d'), enc('b'), single(2n, 1), 10);
  mt.addVersion(0, 5n, enc('d'), enc('a'), single(3n, 2), 10);
  assert.is(d.akeys.size, 2, 'the dkey node the holder read has the new akey');
  assert.is(d.akeys.getBytes(enc('a'))!.singles.length, 2);
  const t = mt.conts.get(0)!.objects.get(5n)!;
  assert.not.ok(t instanceof SoloObj, 'the tree took the slot');
  assert.is(o.dkeys, t.dkeys);
  mt.addPunch(0, 5n, 0, enc(''), enc(''), { epoch: 4n, seq: 3 }, 10);
  assert.is(o.punches.length, 1, 'the holder sees the punch');
  // a lookup of a dkey a solo node does not hold makes no tree
  mt.addVersion(0, 6n, enc('d'), enc('a'), single(1n, 4), 10);
  assert.equal(mt.find(0, 6n, enc('x'), enc('a')).d, undefined);
  assert.ok(solo(mt.conts.get(0)!.objects.get(6n)!), 'still solo');
  assert.is(mt.find(0, 6n, enc('d'), enc('a')).a!.singles[0]!.seq, 4);
});

test("a new object's solo node is its own version; a later single at its epoch replaces it, and a holder of the first reads it unchanged", () => {
  const mt = new Memtable(1);
  assert.is(mt.addSingle(0, 7n, enc('d'), enc('a'), 3n, 10, 99n, 8, Where.Block, 4096, 4096, 10), undefined);
  const o = mt.conts.get(0)!.objects.get(7n)!;
  const s = solo(o)!;
  assert.ok(s, 'solo');
  const first = s.v;
  assert.is(first, s as MemVersion, 'the node is its version');
  assert.equal(fields(first), [3n, 10, 99n, 8, Where.Block, 4096, 4096, 0, 0, 0, undefined]);
  // a single at the same epoch with a later seq: kept, the first handed back (its extent freed by the caller)
  const gone = mt.addSingle(0, 7n, enc('d'), enc('a'), 3n, 11, 100n, 9, Where.Block, 8192, 4096, 10);
  assert.is(gone, first);
  assert.ok(solo(o), 'still solo');
  assert.equal(fields(s.v), [3n, 11, 100n, 9, Where.Block, 8192, 4096, 0, 0, 0, undefined]);
  assert.equal(fields(first), [3n, 10, 99n, 8, Where.Block, 4096, 4096, 0, 0, 0, undefined], 'the holder of the first reads it unchanged');
  // an earlier seq at that epoch (a replay out of order) is handed back, not kept
  assert.equal(fields(mt.addSingle(0, 7n, enc('d'), enc('a'), 3n, 5, 1n, 1, Where.Block, 0, 4096, 10)), [3n, 5, 1n, 1, Where.Block, 0, 4096, 0, 0, 0, undefined]);
  // another epoch: the tree, holding the kept version, and the node reads the same tree
  assert.is(mt.addSingle(0, 7n, enc('d'), enc('a'), 4n, 12, 101n, 9, Where.Block, 12288, 4096, 10), undefined);
  assert.not.ok(solo(o));
  assert.equal(mt.find(0, 7n, enc('d'), enc('a')).a!.singles.map((v) => v.seq), [11, 12]);
  assert.equal([...o.dkeys.getBytes(enc('d'))!.akeys.getBytes(enc('a'))!.singles].map((v) => v.seq), [11, 12]);
  assert.is(mt.records, 4);
});

const val = (oid: number, round: number) => { const v = new Uint8Array(40).fill(oid & 0xff); new DataView(v.buffer).setUint32(0, oid, true); new DataView(v.buffer).setUint32(4, round, true); return v; };
const roundOf = (v: Uint8Array | undefined) => (v === undefined ? -1 : new DataView(v.buffer, v.byteOffset).getUint32(4, true));

test('a target store: many new objects, some given more, read back through every path before and after flush and reopen', async () => {
  const rng = new Rng(7);
  let t = await VosTarget.open(dir, BASE);
  const N = 3000;
  const D = enc('d'), A = enc('a'), B = enc('b');
  /** Per object: the round its akey a holds at epoch 10, b's round (or -1), and whether it was punched at 20. */
  const want: Array<{ a: number; aNew: number; b: number; punched: boolean }> = [];
  for (let i = 0; i < N; i++) { await t.updateSingle(10n, BigInt(i + 1), D, A, val(i, 0)); want.push({ a: 0, aNew: -1, b: -1, punched: false }); }
  const check = async (label: string) => {
    for (let i = 0; i < N; i += 1 + rng.int(7)) {
      const oid = BigInt(i + 1), w = want[i]!;
      assert.is(roundOf(await t.fetchSingle(10n, oid, D, A)), w.a, `${label}: ${i} a at 10`);
      assert.is(roundOf(await t.fetchSingle(15n, oid, D, A)), w.aNew >= 0 ? w.aNew : w.a, `${label}: ${i} a at 15`);
      assert.is(roundOf(await t.fetchSingle(25n, oid, D, A)), w.punched ? -1 : w.aNew >= 0 ? w.aNew : w.a, `${label}: ${i} a at 25`);
      assert.is(roundOf(await t.fetchSingle(10n, oid, D, B)), w.b, `${label}: ${i} b`);
      assert.is(await t.fetchSingle(9n, oid, D, A), undefined, `${label}: ${i} before its write`);
      assert.is(await t.fetchSingle(10n, oid, enc('x'), A), undefined, `${label}: ${i} another dkey`);
      const got = objectVersions(t, 12n, oid)!;
      assert.equal(got.map((d) => [dec(d.dkey), d.akeys.map((a) => dec(a.akey))]), [['d', w.b >= 0 ? ['a', 'b'] : ['a']]], `${label}: ${i} bulk read`);
      const scanned = await scanObjectAll(t, 12n, oid);
      assert.equal(scanned.map((d) => [dec(d.dkey), d.akeys.map((a) => `${dec(a.akey)}:${a.kind}`)]), [['d', w.b >= 0 ? ['a:single', 'b:single'] : ['a:single']]], `${label}: ${i} scan`);
    }
  };
  await check('solo, in the memtable');
  for (let i = 0; i < N; i++) {
    const oid = BigInt(i + 1), w = want[i]!;
    const r = rng.int(8);
    if (r === 0) { await t.updateSingle(10n, oid, D, B, val(i, 7)); w.b = 7; }
    else if (r === 1) { await t.updateSingle(10n, oid, D, A, val(i, 3)); w.a = 3; } // (an overwrite at its epoch)
    else if (r === 2) { await t.updateSingle(15n, oid, D, A, val(i, 5)); w.aNew = 5; }
    else if (r === 3) { await t.punchObject(20n, oid); w.punched = true; }
  }
  await check('written again, in the memtable');
  await t.target.flushAll();
  await check('flushed');
  for (let i = N; i < N + 500; i++) { await t.updateSingle(10n, BigInt(i + 1), D, A, val(i, 0)); want.push({ a: 0, aNew: -1, b: -1, punched: false }); }
  await t.close();
  t = await VosTarget.open(dir, BASE);
  await check('reopened (runs and a replayed memtable)');
  for (let i = N; i < N + 500; i++) assert.is(roundOf(await t.fetchSingle(10n, BigInt(i + 1), D, A)), 0, `replayed ${i}`);
  const listed: bigint[] = [];
  for await (const oid of t.listObjects(10n)) listed.push(oid);
  assert.is(new Set(listed).size, N + 500, 'every object listed once');
  assert.is(listed.length, N + 500);
  await t.close();
});

test.run();
