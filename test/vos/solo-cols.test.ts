/**
 * A memtable's new solo nodes kept as columns until read (memtable.ts `SoloCols`): the node made
 * on the first read holds exactly the fields written (epoch and checksum up to 2^64 - 1, numbers
 * past 2^32, through the columns' growth), the object table keeps it (one node per object for
 * every reader), a single at the epoch of an unread one replaces it as a made node's would, and
 * the answers are those of nodes made at once (`setSoloColumns(false)`). The test fails if the
 * column path is never taken (an unread entry must hold no node).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Memtable, SoloObj, setSoloColumns, solo, type MemObject } from '../../src/vos/memtable.js';
import { Where } from '../../src/vos/wal.js';

const test = suite('vos memtable solo columns');
const enc = (s: string) => new TextEncoder().encode(s);
const MAX64 = (1n << 64n) - 1n;
const N = 1000; // past the columns' first size (64) several times

/** The fields of object i's single. */
function fields(i: number) {
  return {
    oid: (BigInt(i) << 100n) | BigInt(i * 7 + 1),
    dkey: enc(i % 3 === 0 ? 'd' : `dkey-${i % 5}`),
    akey: enc(i % 40 === 0 ? `a-long-akey-of-more-than-thirty-two-bytes-${i}` : 'v'),
    epoch: i === 0 ? MAX64 : BigInt(i) * 1_000_003n + (1n << 62n),
    seq: i * 5 + 2 ** 33,
    csum: i === 1 ? MAX64 : BigInt(i) * 0x9e3779b97f4a7c15n % (1n << 64n),
    len: i * 13,
    where: i % 2 === 0 ? Where.Wal : Where.Block,
    loc: i * 4096 + 2 ** 41,
    alloc: i % 2 === 0 ? 0 : 4096 * (1 + (i % 3)),
  };
}

function fill(mt: Memtable): void {
  for (let i = 0; i < N; i++) {
    const f = fields(i);
    assert.is(mt.addSingle(7, f.oid, f.dkey, f.akey, f.epoch, f.seq, f.csum, f.len, f.where, f.loc, f.alloc, 64), undefined);
  }
}

/** What a reader sees of object i, through `MemObject`. */
function seen(o: MemObject | undefined): string {
  if (!o) return 'none';
  const out: string[] = [String(o.oid)];
  for (const d of o.dkeys.values()) for (const a of d.akeys.values()) for (const v of a.singles) {
    out.push(`${Buffer.from(d.key).toString()}/${Buffer.from(a.key).toString()} ${v.epoch} ${v.seq} ${v.csum} ${v.len} ${v.where} ${v.loc} ${v.alloc} ${v.index}/${v.count}/${v.recordSize}`);
  }
  return out.join(' | ');
}

test('columns hold every field exactly, through growth; the node made is kept; same answers as nodes made at once', () => {
  const was = setSoloColumns(true);
  try {
    const mt = new Memtable(1);
    fill(mt);
    const mc = mt.container(7, false)!;
    const vals = (mc.objects as unknown as { vals: unknown[] }).vals;
    assert.is(vals.length, N);
    assert.ok(vals.every((v) => v === undefined), 'unread new objects hold no node (the column path was taken)');
    setSoloColumns(false);
    const ref = new Memtable(1);
    fill(ref);
    const rvals = (ref.container(7, false)!.objects as unknown as { vals: unknown[] }).vals;
    assert.ok(rvals.every((v) => v instanceof SoloObj), 'nodes made at once');
    for (let i = N - 1; i >= 0; i -= 3) {
      const f = fields(i);
      const o = mc.objects.get(f.oid)!;
      assert.ok(o instanceof SoloObj && solo(o) === o, `object ${i} is a solo node`);
      assert.is(mc.objects.get(f.oid), o, 'the table keeps the node it made');
      const s = solo(o)!;
      assert.is(s.epoch, f.epoch); assert.is(s.csum, f.csum); assert.is(s.seq, f.seq); assert.is(s.len, f.len);
      assert.is(s.where, f.where); assert.is(s.loc, f.loc); assert.is(s.alloc, f.alloc);
      assert.equal([...s.dkey], [...f.dkey]); assert.equal([...s.akey], [...f.akey]);
      assert.is(s.oid, f.oid);
      assert.is(seen(o), seen(ref.find(7, f.oid).o), `object ${i} as nodes made at once`);
      assert.is(mt.find(7, f.oid, f.dkey, f.akey).a!.singles[0], s, 'find reads the same node');
    }
    // the rest made by a walk in order (values, sortedObjects) are the same ones as a lookup then gives
    const all = [...mc.objects.values()];
    assert.is(all.length, N);
    assert.ok(vals.every((v) => v !== undefined));
    for (let i = 0; i < N; i++) assert.is(all[i], mc.objects.get(fields(i).oid));
    const sorted = mc.sortedObjects();
    assert.equal(sorted.map((o) => seen(o)), ref.container(7, false)!.sortedObjects().map((o) => seen(o)));
  } finally { setSoloColumns(was); }
});

test('a single at the epoch of an unread one replaces it (the later by seq kept, the other handed back); a newer epoch makes the tree', () => {
  for (const on of [true, false]) {
    const was = setSoloColumns(on);
    try {
      const mt = new Memtable(1);
      fill(mt);
      const a = fields(10), b = fields(11), c = fields(12);
      // later seq at the same epoch: the held one is handed back with its fields
      const gone = mt.addSingle(7, a.oid, a.dkey, a.akey, a.epoch, a.seq + 1, 42n, 5, Where.Wal, 99, 0, 64)!;
      assert.is(gone.seq, a.seq); assert.is(gone.csum, a.csum); assert.is(gone.loc, a.loc); assert.is(gone.epoch, a.epoch);
      const sa = mt.find(7, a.oid, a.dkey, a.akey).a!.singles;
      assert.is(sa.length, 1); assert.is(sa[0]!.seq, a.seq + 1); assert.is(sa[0]!.csum, 42n);
      // earlier seq at the same epoch (replayed out of order): the new one is handed back
      const back = mt.addSingle(7, b.oid, b.dkey, b.akey, b.epoch, b.seq - 1, 43n, 5, Where.Wal, 98, 0, 64)!;
      assert.is(back.seq, b.seq - 1);
      assert.is(mt.find(7, b.oid, b.dkey, b.akey).a!.singles[0]!.seq, b.seq);
      // a newer epoch: a tree with both, oldest first
      assert.is(mt.addSingle(7, c.oid, c.dkey, c.akey, c.epoch + 1n, c.seq + 1, 44n, 5, Where.Wal, 97, 0, 64), undefined);
      const o = mt.container(7, false)!.objects.get(c.oid)!;
      assert.is(solo(o), undefined);
      assert.equal(mt.find(7, c.oid, c.dkey, c.akey).a!.singles.map((v) => [v.epoch, v.seq, v.csum]), [[c.epoch, c.seq, c.csum], [c.epoch + 1n, c.seq + 1, 44n]]);
      assert.is(mt.superseded, 2);
    } finally { setSoloColumns(was); }
  }
});

test('find keeps the object it found last: right through a solo node becoming a tree, punches, objects added after a miss, another container', () => {
  const mt = new Memtable(1);
  const a = fields(1), b = fields(2);
  const d2 = enc('other-dkey');
  mt.addSingle(7, a.oid, a.dkey, a.akey, a.epoch, a.seq, a.csum, a.len, a.where, a.loc, a.alloc, 64);
  const s = mt.find(7, a.oid, a.dkey, a.akey);
  assert.ok(s.o instanceof SoloObj && s.a!.singles[0]!.seq === a.seq);
  assert.is(mt.find(7, a.oid, d2).d, undefined);
  // a second dkey: the slot now holds a tree; the node found before reads it
  mt.addSingle(7, a.oid, d2, a.akey, a.epoch, a.seq + 1, 5n, 1, Where.Wal, 1, 0, 64);
  assert.is(mt.find(7, a.oid, d2, a.akey).a!.singles[0]!.seq, a.seq + 1);
  assert.is(mt.find(7, a.oid, a.dkey, a.akey).a!.singles[0]!.seq, a.seq);
  // an object punch is seen through the node found before
  mt.addPunch(7, a.oid, 0, a.dkey, a.akey, { epoch: a.epoch + 1n, seq: a.seq + 2 }, 32);
  assert.is(mt.find(7, a.oid).o!.punches.length, 1);
  // a miss is not kept: the object added after it is found
  assert.is(mt.find(7, b.oid).o, undefined);
  mt.addSingle(7, b.oid, b.dkey, b.akey, b.epoch, b.seq, b.csum, b.len, b.where, b.loc, b.alloc, 64);
  assert.is(mt.find(7, b.oid, b.dkey, b.akey).a!.singles[0]!.csum, b.csum);
  // the same id in another container is another object
  assert.is(mt.find(8, b.oid).o, undefined);
  mt.addSingle(8, b.oid, b.dkey, b.akey, b.epoch, b.seq + 9, 77n, 1, Where.Wal, 1, 0, 64);
  assert.is(mt.find(8, b.oid, b.dkey, b.akey).a!.singles[0]!.csum, 77n);
  assert.is(mt.find(7, b.oid, b.dkey, b.akey).a!.singles[0]!.csum, b.csum);
  assert.is(mt.find(7, a.oid, d2, a.akey).a!.singles[0]!.seq, a.seq + 1);
});

test('columns made on the first solo entry, past entries of other nodes', () => {
  const mt = new Memtable(1);
  for (let i = 0; i < 300; i++) mt.addVersion(7, 1_000_000n + BigInt(i), enc('d'), enc('arr'), { epoch: 5n, seq: i + 1, csum: 1n, len: 8, where: Where.Block, loc: 4096 * i, alloc: 4096, index: 0, count: 1, recordSize: 8 }, 64);
  const mc = mt.container(7, false)!;
  assert.is((mc as unknown as { cols: { stamps: BigUint64Array } }).cols.stamps.length, 0, 'no columns for array objects');
  for (let i = 0; i < 100; i++) { const f = fields(i); mt.addSingle(7, f.oid, f.dkey, f.akey, f.epoch, f.seq, f.csum, f.len, f.where, f.loc, f.alloc, 64); }
  for (let i = 0; i < 100; i++) {
    const f = fields(i); const s = solo(mc.objects.get(f.oid)!)!;
    assert.ok(s !== undefined && s.epoch === f.epoch && s.csum === f.csum && s.seq === f.seq && s.loc === f.loc && s.alloc === f.alloc && s.len === f.len);
  }
  assert.is(mt.find(7, 1_000_123n, enc('d'), enc('arr')).a!.extents[0]!.seq, 124);
});

test('columns grow past entries of other nodes added after the first solo one (objects punched first, as a migration punches every moved shard)', () => {
  const was = setSoloColumns(true);
  try {
    const mt = new Memtable(1);
    const out: number[] = [];
    // solo entries, then a run of objects made as trees by a punch (no columns), several times the
    // columns' size, then solo entries again: each must read back as written
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) { const f = fields(round * 10 + i); mt.addSingle(7, f.oid, f.dkey, f.akey, f.epoch, f.seq, f.csum, f.len, f.where, f.loc, f.alloc, 64); out.push(round * 10 + i); }
      for (let i = 0; i < 700; i++) mt.addPunch(7, 5_000_000n + BigInt(round * 1000 + i), 0, new Uint8Array(0), new Uint8Array(0), { epoch: 9n, seq: 1 + i }, 64);
    }
    const mc = mt.container(7, false)!;
    for (const i of out) {
      const f = fields(i);
      const s = solo(mc.objects.get(f.oid)!);
      assert.ok(s !== undefined && s.epoch === f.epoch && s.csum === f.csum && s.seq === f.seq && s.loc === f.loc && s.alloc === f.alloc && s.len === f.len, `object ${i} reads back its single`);
      assert.is(seen(mc.objects.get(f.oid)), seen(nodeMadeAtOnce(f)), `object ${i} reads as a node made at once`);
    }
    // a merge walks every object's keys: none may lack them
    for (const o of mc.objects.values()) for (const d of o.dkeys.values()) assert.ok(d.key instanceof Uint8Array);
  } finally {
    setSoloColumns(was);
  }
});

/** What object `f` reads as when its node is made at once (no columns). */
function nodeMadeAtOnce(f: ReturnType<typeof fields>): MemObject | undefined {
  const was = setSoloColumns(false);
  try {
    const mt = new Memtable(1);
    mt.addSingle(7, f.oid, f.dkey, f.akey, f.epoch, f.seq, f.csum, f.len, f.where, f.loc, f.alloc, 64);
    return mt.container(7, false)!.objects.get(f.oid);
  } finally {
    setSoloColumns(was);
  }
}

test.run();
