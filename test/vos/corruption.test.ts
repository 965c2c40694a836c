/**
 * Integrity (issue 13): no damaged byte may turn into a wrong or missing value. One target is
 * built in a crash state — several sorted runs, acknowledged records still in the log, values
 * inline and in the data file, arrays, punches — and copies of it are damaged part by part, at a
 * fixed and at a seeded-random offset of each part: a log record before the acknowledged tail,
 * the bytes after it, the tail slots and region headers, a run's data, index and bloom blocks, an
 * inline value in the log and in a run, a value in vos.data, each manifest copy and both, each
 * superblock slot; then many seeded-random flips anywhere. After each: every read returns the
 * right bytes (or rightly nothing, for punched keys) or a typed error (CORRUPTED,
 * CHECKSUM_MISMATCH) — never other bytes, never "absent" for something that exists; scrub reports
 * exactly the damage; rewriting the affected keys and heal() restore clean reads.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, VosError, MAX_EPOCH, type VosOptions } from '../../src/vos/index.js';
import { akeyPrefix, decodeKey, prefixEnd } from '../../src/vos/keys.js';
import { decodeSuperblock, SB_SLOT_BYTES, TAIL_SLOTS_OFFSET, type Superblock } from '../../src/vos/manifest.js';
import { CHUNK_BYTES } from '../../src/vos/store.js';
import { REGION_HEADER, TAIL_SLOT } from '../../src/vos/wal.js';
import { safe } from './safe.js';
import { initXxhash, xxh64 } from '../../core/xxhash.js';
import { CSUM_SEED } from '../../src/vos/constants.js';
import { collect, crashImage, enc, flip, tmpDir } from './helpers.js';

const test = suite('vos corruption');
const WAL = 256 * 1024;
const OPTS: VosOptions = { scmBytes: 32 * 1024 * 1024, dataBytes: 8 * 1024 * 1024, walBytes: WAL, io: 'pread' };
const REGIONS = [CHUNK_BYTES, CHUNK_BYTES + WAL];

/** One written key: its newest state is the value (or nothing, when punched). */
interface Entry {
  i: number; oid: bigint; dkey: string; akey: string; kind: 'single' | 'array'; epoch: bigint;
  value: Uint8Array; punched?: bigint; where: 'run' | 'log'; big: boolean;
}

interface BlockInfo { off: number; len: number; kind: 'data' | 'index' | 'bloom'; run: number; entries: Entry[]; hasObjectTable: boolean }

interface Fixture {
  dir: string; entries: Entry[]; blocks: BlockInfo[]; runChunks: Array<[number, number]>;
  sb: Superblock; activeRegion: number; tail: number; slots: Array<{ off: number; counter: number; gen: number }>;
}

let fx: Fixture;
let root = '';
let dir = '';

/** Write an entry's operations. A repair names the array record size (damage may hide the stored one). */
async function writeEntry(t: VosTarget, e: Entry, repair = false): Promise<void> {
  if (e.kind === 'single') await t.updateSingle(e.epoch, e.oid, enc(e.dkey), enc(e.akey), e.value);
  else await t.updateArray(e.epoch, e.oid, enc(e.dkey), enc(e.akey), { index: 0, count: e.value.length }, e.value, repair ? { recordSize: 1 } : {});
  if (e.punched !== undefined) await t.punchAkey(e.punched, e.oid, enc(e.dkey), enc(e.akey));
}

function makeEntry(rng: Rng, i: number, where: 'run' | 'log'): Entry {
  const big = i % 7 === 0;
  const kind = i % 3 === 0 ? 'array' : 'single';
  const e: Entry = {
    i, oid: BigInt(1 + (i % 5)), dkey: `dk-${String(i).padStart(5, '0')}`, akey: kind === 'array' ? 'arr' : 'sv', kind, epoch: BigInt(1 + (i % 50)),
    value: rng.bytes(big ? 5000 + rng.int(4000) : 100 + rng.int(200)), where, big,
  };
  if (i % 37 === 5) e.punched = e.epoch + 1n;
  return e;
}

/** Build the damaged-copies template: a target in a crash state, and where everything lies in its files. */
async function buildFixture(): Promise<Fixture> {
  root = tmpDir('corrupt');
  const live = path.join(root, 'live');
  const rng = new Rng(4242);
  const entries: Entry[] = [];
  let t = await VosTarget.open(live, OPTS);
  for (let i = 0; i < 1000; i++) {
    const e = makeEntry(rng, i, 'run');
    await writeEntry(t, e);
    entries.push(e);
    if (i % 250 === 249) await t.target.flushAll();
  }
  await t.close();
  t = await VosTarget.open(live, OPTS);
  for (let i = 1000; i < 1200; i++) {
    const e = makeEntry(rng, i, 'log');
    await writeEntry(t, e);
    entries.push(e);
  }
  assert.ok(t.target.runs.length >= 2, `several runs (${t.target.runs.length})`);
  // every block of every run, and which entries each data block holds
  const byKey = new Map(entries.map((e) => [`${e.oid}/${e.dkey}/${e.akey}`, e]));
  const blocks: BlockInfo[] = [];
  const runChunks: Array<[number, number]> = [];
  for (const r of t.target.runs) {
    for (const c of r.meta.chunks) runChunks.push([c, c + CHUNK_BYTES]);
    for (let i = 0; i < r.meta.index.length; i++) {
      const ib = r.indexBlock(i);
      const inIndex: Entry[] = [];
      let objTable = false;
      for (let j = 0; j < ib.count; j++) {
        const blk = r.dataBlock(i, j);
        const held: Entry[] = [];
        let hasObj = false;
        for (let n = 0; n < blk.count; n++) {
          const k = decodeKey(blk.key(n).slice())!;
          if (k.kind === 'object') { hasObj = true; continue; }
          const e = k.dkey && k.akey ? byKey.get(`${k.oid}/${new TextDecoder().decode(k.dkey)}/${new TextDecoder().decode(k.akey)}`) : undefined;
          if (e && !held.includes(e)) held.push(e);
        }
        objTable ||= hasObj;
        inIndex.push(...held);
        blocks.push({ off: ib.ref(j).off, len: ib.ref(j).len, kind: 'data', run: r.meta.id, entries: held, hasObjectTable: hasObj });
      }
      blocks.push({ off: r.meta.index[i]!.ref.off, len: r.meta.index[i]!.ref.len, kind: 'index', run: r.meta.id, entries: inIndex, hasObjectTable: objTable });
    }
    for (const b of r.meta.bloom) blocks.push({ off: b.off, len: b.len, kind: 'bloom', run: r.meta.id, entries: [], hasObjectTable: false });
  }
  const tpl = path.join(root, 'template');
  crashImage(live, tpl); // the crash state: phase-two entries are only in the log
  await t.close();
  const scm = fs.readFileSync(path.join(tpl, 'vos.scm'));
  const slots = [0, 1].map((s) => ({ off: TAIL_SLOTS_OFFSET + s * TAIL_SLOT, counter: scm.readUInt32LE(TAIL_SLOTS_OFFSET + s * TAIL_SLOT + 8), gen: scm.readUInt32LE(TAIL_SLOTS_OFFSET + s * TAIL_SLOT + 16) }));
  const newest = slots[0]!.counter > slots[1]!.counter ? slots[0]! : slots[1]!;
  const tail = scm.readUInt32LE(newest.off + 24);
  const activeRegion = REGIONS.find((r) => tail > r && tail < r + WAL)!;
  const sbs = [0, 1].map((s) => decodeSuperblock(scm.subarray(s * SB_SLOT_BYTES, (s + 1) * SB_SLOT_BYTES)));
  const sb = sbs.flatMap((s) => ('sb' in s ? [s.sb] : [])).reduce((a, b) => (b.gen > a.gen ? b : a));
  return { dir: tpl, entries, blocks, runChunks, sb, activeRegion, tail, slots };
}

test.before(async () => { fx = await buildFixture(); });
test.after(() => { fs.rmSync(root, { recursive: true, force: true }); });
test.before.each(() => { dir = path.join(root, `case-${Math.random().toString(36).slice(2)}`); crashImage(fx.dir, dir); });
test.after.each(() => { fs.rmSync(dir, { recursive: true, force: true }); });

const scmOf = (d: string) => path.join(d, 'vos.scm');
const dataOf = (d: string) => path.join(d, 'vos.data');
const hex = (s: string) => Buffer.from(s).toString('hex');

/** Read one entry's newest state. Fails the test on wrong bytes, an untyped error, or "absent" for an existing value. */
async function read(t: VosTarget, e: Entry): Promise<VosError | undefined> {
  try {
    if (e.kind === 'single') {
      const got = await t.fetchSingle(MAX_EPOCH, e.oid, enc(e.dkey), enc(e.akey));
      if (e.punched !== undefined) assert.is(got, undefined, `${e.dkey} is punched: nothing, never its old bytes`);
      else {
        assert.ok(got !== undefined, `${e.dkey} exists: never "absent"`);
        assert.ok(Buffer.from(got!).equals(Buffer.from(e.value)), `${e.dkey}: never other bytes`);
      }
    } else {
      const got = await t.fetchArray(MAX_EPOCH, e.oid, enc(e.dkey), enc(e.akey), { index: 0, count: e.value.length });
      if (e.punched !== undefined) assert.equal(got.present, [], `${e.dkey} is punched`);
      else {
        assert.equal(got.present, [{ index: 0, count: e.value.length }], `${e.dkey} exists: never "absent"`);
        assert.ok(Buffer.from(got.data).equals(Buffer.from(e.value)), `${e.dkey}: never other bytes`);
      }
    }
    return undefined;
  } catch (err) {
    if (!(err instanceof VosError)) throw err;
    assert.ok(err.code === 'CORRUPTED' || err.code === 'CHECKSUM_MISMATCH', `${e.dkey}: typed error, got ${err.code}`);
    return err;
  }
}

/** Read every entry; returns those that failed, with their errors. */
async function readAll(t: VosTarget, entries = fx.entries): Promise<Map<Entry, VosError>> {
  const bad = new Map<Entry, VosError>();
  for (const e of entries) { const err = await read(t, e); if (err) bad.set(e, err); }
  return bad;
}

/** Rewrite entries as the pool would from redundancy: the same operations at the same epochs. */
async function rewrite(t: VosTarget, entries: Iterable<Entry>): Promise<void> {
  for (const e of entries) await writeEntry(t, e, true);
}

async function expectAllGood(t: VosTarget, label: string): Promise<void> {
  const bad = await readAll(t);
  assert.is(bad.size, 0, `${label}: ${[...bad].slice(0, 3).map(([e, err]) => `${e.dkey}: ${err.code}`).join(', ')}`);
}

/** The offset of `needle` inside `[from, to)` of a file. */
function find(file: string, needle: Uint8Array, from: number, to: number): number {
  const b = fs.readFileSync(file).subarray(from, to);
  const at = b.indexOf(Buffer.from(needle));
  return at < 0 ? -1 : from + at;
}

const seeded = new Rng(9001);
/** A fixed offset (the middle) and a seeded-random one, inside `[off, off + len)`. */
const offsetsIn = (off: number, len: number): Array<[string, number]> => [['middle', off + (len >> 1)], ['random', off + seeded.int(len)]];

// ------------------------------------------------------------------ the log

test('a log record before the acknowledged tail: the whole target reports damage, every read is CORRUPTED', safe(async () => {
  const e = fx.entries.find((x) => x.where === 'log' && x.i === 1100)!;
  const at = find(scmOf(dir), enc(e.dkey), fx.activeRegion, fx.tail);
  assert.ok(at > 0, 'the record is in the active log region');
  flip(scmOf(dir), at + 2); // inside the record's metadata (its checksum covers it)
  for (let open = 0; open < 2; open++) {
    const t = await VosTarget.open(dir, OPTS);
    try {
      assert.ok(t.openReport.damage, `open ${open}: damage reported (${t.openReport.damage})`);
      for (const x of [fx.entries[0]!, e, fx.entries[1190]!]) {
        const err = await read(t, x);
        assert.is(err?.code, 'CORRUPTED', `${x.dkey}: CORRUPTED, never undefined`);
        assert.is(err?.info?.whole, true);
      }
      assert.is(((await collect(t.listDkeys(MAX_EPOCH, 1n)).catch((x: VosError) => x)) as VosError).code, 'CORRUPTED');
      assert.is(((await collect(t.listObjects(MAX_EPOCH)).catch((x: VosError) => x)) as VosError).code, 'CORRUPTED');
      const s = await t.scrub();
      assert.ok(s.bad.some((b) => b.where === 'target'), 'scrub reports the target');
    } finally { await t.close(); }
  }
}));

test('bytes after the acknowledged tail: a torn append is dropped silently, acknowledged data intact', safe(async () => {
  const scm = fs.readFileSync(scmOf(dir));
  // the start of an append of this generation that a crash cut short: a record's first 40 bytes
  const first = scm.subarray(fx.activeRegion + REGION_HEADER, fx.activeRegion + REGION_HEADER + 40);
  const fd = fs.openSync(scmOf(dir), 'r+');
  fs.writeSync(fd, first, 0, first.length, fx.tail);
  fs.closeSync(fd);
  let t = await VosTarget.open(dir, OPTS);
  assert.is(t.openReport.damage, undefined);
  assert.is(t.openReport.tornAt, fx.tail, 'the torn append is named');
  await expectAllGood(t, 'after a torn append');
  assert.equal((await t.scrub()).bad, []);
  await t.close();
  // arbitrary garbage after the tail is dropped too
  crashImage(fx.dir, dir);
  const fd2 = fs.openSync(scmOf(dir), 'r+');
  fs.writeSync(fd2, seeded.bytes(300), 0, 300, fx.tail);
  fs.closeSync(fd2);
  t = await VosTarget.open(dir, OPTS);
  assert.is(t.openReport.damage, undefined);
  await expectAllGood(t, 'after garbage past the tail');
  await t.close();
}));

test('tail slots and log region headers: one damaged slot is survived; a damaged active header is damage, never silent loss', safe(async () => {
  for (const s of fx.slots) {
    crashImage(fx.dir, dir);
    flip(scmOf(dir), s.off + 20);
    const t = await VosTarget.open(dir, OPTS);
    assert.is(t.openReport.damage, undefined, `slot at ${s.off}`);
    await expectAllGood(t, `slot at ${s.off} damaged`);
    await t.close();
  }
  crashImage(fx.dir, dir);
  flip(scmOf(dir), fx.activeRegion + 20);
  let t = await VosTarget.open(dir, OPTS);
  assert.ok(t.openReport.damage, 'the active region header');
  assert.is((await read(t, fx.entries[1100]!))?.code, 'CORRUPTED', 'its records are not silently absent');
  await t.close();
  crashImage(fx.dir, dir);
  const other = REGIONS.find((r) => r !== fx.activeRegion)!;
  flip(scmOf(dir), other + 20); // the region already written out as a run
  t = await VosTarget.open(dir, OPTS);
  assert.is(t.openReport.damage, undefined, 'a flushed region is not needed');
  await expectAllGood(t, 'flushed region header damaged');
  await t.close();
  // after a clean close (the newest slot is the rotation's), one damaged slot is survived too
  crashImage(fx.dir, dir);
  t = await VosTarget.open(dir, OPTS);
  await t.close();
  const scm = fs.readFileSync(scmOf(dir));
  const counters = [0, 1].map((i) => scm.readUInt32LE(TAIL_SLOTS_OFFSET + i * TAIL_SLOT + 8));
  flip(scmOf(dir), TAIL_SLOTS_OFFSET + (counters[0]! > counters[1]! ? 0 : 1) * TAIL_SLOT + 30);
  t = await VosTarget.open(dir, OPTS);
  assert.is(t.openReport.damage, undefined, 'newest slot damaged after a clean close');
  await expectAllGood(t, 'newest slot damaged after a clean close');
  await t.close();
}));

test('tail slots of the earlier format (checksummed with xxh64) are read as they were written', safe(async () => {
  await initXxhash();
  crashImage(fx.dir, dir);
  const file = scmOf(dir);
  const scm = fs.readFileSync(file);
  for (let i = 0; i < 2; i++) {
    const at = TAIL_SLOTS_OFFSET + i * TAIL_SLOT;
    const slot = Buffer.alloc(TAIL_SLOT);
    scm.copy(slot, 0, at, at + 32); // magic, counter, generation, tail as the current format wrote them
    slot.writeUInt32LE(0x53545756, 0); // "VWTS"
    slot.writeBigUInt64LE(xxh64(slot.subarray(0, 56), CSUM_SEED), 56);
    slot.copy(scm, at);
  }
  fs.writeFileSync(file, scm);
  const t = await VosTarget.open(dir, OPTS);
  assert.is(t.openReport.damage, undefined, 'old-format slots name the acknowledged tail');
  await expectAllGood(t, 'old-format tail slots');
  await t.close();
  // and a damaged record before the tail they name is still damage
  crashImage(fx.dir, dir);
  const scm2 = fs.readFileSync(file);
  for (let i = 0; i < 2; i++) {
    const at = TAIL_SLOTS_OFFSET + i * TAIL_SLOT;
    scm2.writeUInt32LE(0x53545756, at);
    scm2.fill(0, at + 32, at + 56);
    scm2.writeBigUInt64LE(xxh64(scm2.subarray(at, at + 56), CSUM_SEED), at + 56);
  }
  fs.writeFileSync(file, scm2);
  flip(file, fx.activeRegion + REGION_HEADER + 20);
  const t2 = await VosTarget.open(dir, OPTS);
  assert.ok(t2.openReport.damage, 'a damaged first record before an old-format slot\'s tail');
  await t2.close();
}));

test('an inline value in the log: CHECKSUM_MISMATCH naming it; scrub reports exactly it; a rewrite restores it', safe(async () => {
  const e = fx.entries.find((x) => x.where === 'log' && !x.big && x.punched === undefined && x.kind === 'single')!;
  const at = find(scmOf(dir), e.value.subarray(0, 32), fx.activeRegion, fx.tail);
  assert.ok(at > 0);
  for (const [how, off] of offsetsIn(at, e.value.length)) {
    crashImage(fx.dir, dir);
    flip(scmOf(dir), off);
    const t = await VosTarget.open(dir, OPTS);
    try {
      assert.is(t.openReport.damage, undefined, `${how}: a value is not the log's structure`);
      const bad = await readAll(t);
      assert.equal([...bad.keys()].map((x) => x.dkey), [e.dkey], how);
      const err = bad.get(e)!;
      assert.is(err.code, 'CHECKSUM_MISMATCH');
      assert.equal(err.info, { oid: e.oid.toString(), dkey: hex(e.dkey), akey: hex(e.akey), epoch: e.epoch.toString(), where: 'scm' });
      assert.not.ok(JSON.stringify(err.info).includes(Buffer.from(e.value.subarray(0, 8)).toString('hex')), 'never the bytes');
      const s = await t.scrub();
      assert.is(s.bad.length, 1, JSON.stringify(s.bad));
      assert.is(s.bad[0]!.where, 'data');
      assert.is(s.bad[0]!.reason, 'CHECKSUM_MISMATCH');
      await rewrite(t, [e]);
      await expectAllGood(t, `${how}: rewritten`);
      await t.aggregate(2n); // a merge drops the replaced version
      assert.equal((await t.scrub()).bad, [], `${how}: clean after the merge`);
    } finally { await t.close(); }
  }
}));

// ------------------------------------------------------------------ runs

/** Damage one block; check reads, scrub, then rewrite its entries and heal. */
async function blockCase(b: BlockInfo, off: number, label: string): Promise<void> {
  crashImage(fx.dir, dir);
  flip(scmOf(dir), off);
  const t = await VosTarget.open(dir, OPTS);
  try {
    assert.is(t.openReport.damage, undefined, `${label}: a block is not the whole target`);
    const bad = await readAll(t);
    if (b.kind === 'bloom') assert.is(bad.size, 0, `${label}: a damaged bloom filter only costs lookups`);
    for (const e of b.entries) assert.ok(bad.has(e), `${label}: ${e.dkey} (in the block) fails typed`);
    let outside = 0;
    for (const [e, err] of bad) {
      assert.is(err.code, 'CORRUPTED', `${label}: ${e.dkey}`);
      assert.is(err.info!.block, b.off, `${label}: ${e.dkey} names the damaged block`);
      assert.is(err.info!.kind, b.kind);
      // the key that failed lies in the damaged block's key range [lo, hi) (hex of encoded keys: same order),
      // or just before it: a lookup whose entries end the previous block steps into the next one to see
      // that they ended (a typed error, and the key reads again after heal)
      const from = Buffer.from(akeyPrefix(t.state.idx, e.oid, enc(e.dkey), enc(e.akey))).toString('hex');
      const to = Buffer.from(prefixEnd(akeyPrefix(t.state.idx, e.oid, enc(e.dkey), enc(e.akey)))!).toString('hex');
      assert.ok(err.info!.hi === '' || from < String(err.info!.hi), `${label}: ${e.dkey} is not after the block (${from} vs ${err.info!.hi})`);
      if (!(to > String(err.info!.lo))) outside++;
    }
    assert.ok(outside <= 2, `${label}: ${outside} keys outside the block's range failed`);
    const s = await t.scrub();
    assert.equal(s.bad.map((x) => [x.where, x.info.kind, x.info.block]), [['block', b.kind, b.off]], `${label}: scrub reports exactly the block`);
    // an array write that must learn the record size from the damaged block is refused, typed
    const arr = b.entries.find((e) => e.kind === 'array' && bad.has(e));
    if (arr) assert.is((await t.updateArray(arr.epoch, arr.oid, enc(arr.dkey), enc(arr.akey), { index: 0, count: 1 }, new Uint8Array(1)).catch((x: VosError) => x))?.code, 'CORRUPTED');
    // the pool rewrites what the block held (the same operations at the same epochs), then heal drops it
    await rewrite(t, b.entries);
    await t.target.heal();
    await expectAllGood(t, `${label}: after rewrite + heal`);
    assert.equal((await t.scrub()).bad, [], `${label}: scrub clean after heal`);
  } finally { await t.close(); }
  const r = await VosTarget.open(dir, OPTS);
  await expectAllGood(r, `${label}: after heal and reopen`);
  assert.equal((await collect(r.listObjectIds())), [1n, 2n, 3n, 4n, 5n]);
  await r.close();
}

test('a run data block (a key, and an inline value in it): its keys fail CORRUPTED naming the block; scrub; rewrite + heal', safe(async () => {
  const b = fx.blocks.find((x) => x.kind === 'data' && !x.hasObjectTable && x.entries.some((e) => e.punched !== undefined))!;
  assert.ok(b, 'a data block holding a punch');
  for (const [how, off] of offsetsIn(b.off, b.len)) await blockCase(b, off, `data block, ${how}`);
  // an inline value inside a run's data block
  const e = fx.entries.find((x) => x.where === 'run' && !x.big && x.punched === undefined)!;
  const ranges = fx.runChunks;
  let at = -1;
  for (const [s, t] of ranges) { at = find(scmOf(fx.dir), e.value.subarray(0, 32), s, t); if (at > 0) break; }
  assert.ok(at > 0, 'the value is inline in a run');
  const holder = fx.blocks.find((x) => x.kind === 'data' && at >= x.off && at < x.off + x.len)!;
  assert.ok(holder.entries.includes(e));
  await blockCase(holder, at + 7, 'inline value in a run');
}));

test('a run index block: the keys under it fail CORRUPTED naming it; scrub reports it alone; rewrite + heal', safe(async () => {
  const b = fx.blocks.find((x) => x.kind === 'index' && x.entries.length > 0 && !x.hasObjectTable)
    ?? fx.blocks.find((x) => x.kind === 'index' && x.entries.length > 0)!;
  // (an index block covering a run's object table too: rewriting its entries writes the objects' table entries again)
  for (const [how, off] of offsetsIn(b.off, b.len)) await blockCase(b, off, `index block, ${how}`);
}));

test('a run bloom block: reads stay right; scrub reports it; heal rewrites it', safe(async () => {
  const b = fx.blocks.find((x) => x.kind === 'bloom')!;
  for (const [how, off] of offsetsIn(b.off + 16, b.len - 24)) await blockCase(b, off, `bloom block, ${how}`);
}));

// ------------------------------------------------------------------ the data file

test('a value in vos.data: CHECKSUM_MISMATCH naming oid, dkey, akey, epoch (and extent); scrub; rewrite', safe(async () => {
  for (const kind of ['single', 'array'] as const) {
    const e = fx.entries.find((x) => x.big && x.kind === kind && x.punched === undefined && x.where === 'run')!;
    // find its extent: the only data-file bytes equal to its value
    const data = fs.readFileSync(dataOf(fx.dir));
    const at = data.indexOf(Buffer.from(e.value.subarray(0, 64)));
    assert.ok(at >= 0 && at % 4096 === 0, `${kind}: the value starts a data block`);
    for (const [how, off] of offsetsIn(at, e.value.length)) {
      crashImage(fx.dir, dir);
      flip(dataOf(dir), off);
      const t = await VosTarget.open(dir, OPTS);
      try {
        const bad = await readAll(t);
        assert.equal([...bad.keys()].map((x) => x.dkey), [e.dkey], `${kind} ${how}`);
        const err = bad.get(e)!;
        assert.is(err.code, 'CHECKSUM_MISMATCH');
        const want: Record<string, unknown> = { oid: e.oid.toString(), dkey: hex(e.dkey), akey: hex(e.akey), epoch: e.epoch.toString(), where: 'data' };
        if (kind === 'array') want.recx = { index: 0, count: e.value.length };
        assert.equal(err.info, want);
        const s = await t.scrub();
        assert.is(s.bad.length, 1, JSON.stringify(s.bad));
        assert.is(s.bad[0]!.reason, 'CHECKSUM_MISMATCH');
        const used = t.target.usage().dataUsed;
        await rewrite(t, [e]);
        await expectAllGood(t, `${kind} ${how}: rewritten`);
        await t.aggregate(2n);
        assert.equal((await t.scrub()).bad, [], `${kind} ${how}: clean after the merge`);
        assert.is(t.target.usage().dataUsed, used, 'the damaged extent was freed');
      } finally { await t.close(); }
    }
  }
}));

// ------------------------------------------------------------------ manifest and superblocks

/** The superblock in force in a target directory. */
function currentSuperblock(d: string): Superblock {
  const scm = fs.readFileSync(scmOf(d));
  return [0, 1].map((s) => decodeSuperblock(scm.subarray(s * SB_SLOT_BYTES, (s + 1) * SB_SLOT_BYTES))).flatMap((s) => ('sb' in s ? [s.sb] : [])).reduce((a, b) => (b.gen > a.gen ? b : a));
}

/** A cleanly closed copy of the template (no recovery at the next open, so nothing is rewritten by it). */
async function cleanCopy(): Promise<void> {
  crashImage(fx.dir, dir);
  const t = await VosTarget.open(dir, OPTS);
  await t.close();
}

test('a manifest copy: the other is used and both are written afresh at open; both damaged is CORRUPTED (whole)', safe(async () => {
  for (const copy of [0, 1]) {
    await cleanCopy();
    const c = currentSuperblock(dir).copies[copy]!;
    for (const [how, off] of offsetsIn(c.chunks[0]!, Math.min(c.len, CHUNK_BYTES))) {
      await cleanCopy();
      flip(scmOf(dir), off);
      let t = await VosTarget.open(dir, OPTS);
      assert.ok(t.openReport.manifestCopyDamaged, `copy ${copy} ${how}: noticed`);
      assert.is(t.openReport.records, 0, 'no recovery ran');
      assert.is(t.openReport.damage, undefined);
      await expectAllGood(t, `copy ${copy} ${how}`);
      await t.close(); // no writes: only the repair at open committed
      // redundancy was restored: damaging the other copy of the manifest now in force is survived as well
      flip(scmOf(dir), currentSuperblock(dir).copies[1 - copy]!.chunks[0]! + 50);
      t = await VosTarget.open(dir, OPTS);
      assert.is(t.openReport.damage, undefined);
      await expectAllGood(t, `copy ${copy} ${how}, then the other copy`);
      await t.close();
    }
  }
  await cleanCopy();
  for (const c of currentSuperblock(dir).copies) flip(scmOf(dir), c.chunks[0]! + 100);
  const err = await VosTarget.open(dir, OPTS).then(() => undefined, (e: unknown) => e as VosError);
  assert.instance(err, VosError);
  assert.is(err!.code, 'CORRUPTED');
  assert.is(err!.info!.whole, true);
}));

test('a superblock slot: the other is used (openReport.superblockDamaged) and rewritten at open; both damaged is CORRUPTED', safe(async () => {
  for (const state of ['crashed', 'clean'] as const) {
    for (const slot of [0, 1]) {
      for (const [how, off] of offsetsIn(slot * SB_SLOT_BYTES, SB_SLOT_BYTES)) {
        if (state === 'clean') await cleanCopy(); else crashImage(fx.dir, dir);
        flip(scmOf(dir), off);
        let t = await VosTarget.open(dir, OPTS);
        const label = `${state}, slot ${slot} ${how}`;
        assert.ok(t.openReport.superblockDamaged, label);
        assert.is(t.openReport.damage, undefined, label);
        await expectAllGood(t, label);
        await t.close();
        t = await VosTarget.open(dir, OPTS);
        assert.not.ok(t.openReport.superblockDamaged, `${label}: rewritten by the first open`);
        await expectAllGood(t, `${label}, reopened`);
        await t.close();
      }
    }
  }
  await cleanCopy();
  flip(scmOf(dir), 100); flip(scmOf(dir), SB_SLOT_BYTES + 100);
  const err = await VosTarget.open(dir, OPTS).then(() => undefined, (e: unknown) => e as VosError);
  assert.is(err?.code, 'CORRUPTED');
  assert.is(err?.info?.whole, true);
}));

test('every commit writes the same state into both superblock slots: losing the newest slot loses no commit and needs no log', safe(async () => {
  const d = path.join(root, 'both-slots');
  const slots = () => { const scm = fs.readFileSync(scmOf(d)); return [0, 1].map((s) => decodeSuperblock(scm.subarray(s * SB_SLOT_BYTES, (s + 1) * SB_SLOT_BYTES))); };
  const t = await VosTarget.open(d, OPTS);
  const values = new Map<number, Uint8Array>();
  const rng = new Rng(77);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 200; i++) { const v = rng.bytes(50 + rng.int(3000)); values.set(i, v); await t.updateSingle(BigInt(round + 1), 9n, enc(`dk-${i}`), enc('a'), v); }
    await t.target.flushAll(); // one flush commit, while the target stays open
    const [a, b] = slots();
    assert.ok(a && 'sb' in a && b && 'sb' in b, `round ${round}: both slots valid`);
    const [x, y] = [a.sb, b.sb].sort((p, q) => p.gen - q.gen);
    assert.is(y!.gen, x!.gen + 1, 'consecutive generations');
    assert.is(x!.walFlushedGen, y!.walFlushedGen, 'the same log generation in runs');
    assert.equal(x!.copies, y!.copies, 'the same manifest copies');
  }
  // the newest slot damaged: the other one holds the same state (no log record replayed, nothing lost)
  const img = path.join(root, 'both-slots-img');
  crashImage(d, img);
  await t.close();
  const imgSlots = (() => { const scm = fs.readFileSync(scmOf(img)); return [0, 1].map((s) => decodeSuperblock(scm.subarray(s * SB_SLOT_BYTES, (s + 1) * SB_SLOT_BYTES))); })();
  const imgNewest = imgSlots.flatMap((s, k) => ('sb' in s ? [{ k, gen: s.sb.gen }] : [])).reduce((p, q) => (q.gen > p.gen ? q : p));
  flip(scmOf(img), imgNewest.k * SB_SLOT_BYTES + 100);
  const r = await VosTarget.open(img, OPTS);
  try {
    assert.ok(r.openReport.superblockDamaged, 'the damaged slot is noticed');
    assert.is(r.openReport.records, 0, 'the fallback slot needs no log replay');
    for (const [i, v] of values) {
      const got = await r.fetchSingle(MAX_EPOCH, 9n, enc(`dk-${i}`), enc('a'));
      assert.ok(got !== undefined && Buffer.from(got).equals(Buffer.from(v)), `dk-${i}`);
    }
  } finally { await r.close(); }
}));

test('a directory holding the old per-container format is FORMAT_VERSION', safe(async () => {
  const old = path.join(root, 'old-format');
  fs.mkdirSync(old, { recursive: true });
  const b = Buffer.alloc(64 * 1024);
  b.write('CAIRNVOS', 0, 'latin1');
  b.writeUInt32LE(2, 8);
  fs.writeFileSync(path.join(old, 'vos.scm'), b);
  fs.writeFileSync(path.join(old, 'vos.log'), Buffer.alloc(4096));
  const err = await VosTarget.open(old, OPTS).then(() => undefined, (e: unknown) => e as VosError);
  assert.is(err?.code, 'FORMAT_VERSION');
  assert.ok(/older Cairn format/.test(err!.message), err!.message);
  assert.ok(fs.readFileSync(path.join(old, 'vos.scm')).subarray(0, 8).toString('latin1') === 'CAIRNVOS', 'left untouched');
}));

// ------------------------------------------------------------------ anywhere

test('seeded random flips anywhere in both files: typed errors only, never other bytes, never "absent"; scrub covers every failing read', safe(async () => {
  const rng = new Rng(31337);
  const scmSize = fs.statSync(scmOf(fx.dir)).size;
  const data = fs.readFileSync(dataOf(fx.dir));
  const usedPages: number[] = [];
  for (let p = 0; p < data.length; p += 4096) if (data.subarray(p, p + 4096).some((x) => x !== 0)) usedPages.push(p);
  const stats = { rounds: 0, openFailed: 0, whole: 0, corrupted: 0, mismatch: 0, clean: 0 };
  for (let round = 0; round < 20; round++) {
    crashImage(fx.dir, dir);
    const flips = 1 + rng.int(3);
    for (let k = 0; k < flips; k++) {
      if (rng.chance(0.75)) flip(scmOf(dir), rng.int(scmSize), 1 << rng.int(8));
      else flip(dataOf(dir), rng.pick(usedPages) + rng.int(4096), 1 << rng.int(8));
    }
    stats.rounds++;
    let t: VosTarget;
    try { t = await VosTarget.open(dir, OPTS); } catch (e) {
      assert.instance(e, VosError, `round ${round}: a failed open is typed`);
      assert.is((e as VosError).code, 'CORRUPTED', `round ${round}`);
      stats.openFailed++;
      continue;
    }
    try {
      const bad = await readAll(t); // asserts: right bytes or typed errors
      const s = await t.scrub();
      if (t.openReport.damage) { stats.whole++; assert.ok(s.bad.some((b) => b.where === 'target'), `round ${round}: scrub names the target`); continue; }
      const blocks = new Set(s.bad.filter((b) => b.where === 'block').map((b) => b.info.block));
      const values = new Set(s.bad.filter((b) => b.where === 'data').map((b) => String(b.info.dkey ?? b.info.key)));
      for (const [e, err] of bad) {
        if (err.code === 'CORRUPTED') { stats.corrupted++; assert.ok(blocks.has(err.info!.block), `round ${round}: scrub reports the block ${e.dkey} failed in`); }
        else { stats.mismatch++; assert.ok(values.has(hex(e.dkey)) || [...values].some((v) => v.includes(hex(e.dkey))), `round ${round}: scrub reports ${e.dkey}'s value`); }
      }
      if (!bad.size) stats.clean++;
    } finally { await t.close(); }
  }
  if (process.env.CAIRN_VOS_CORRUPT_VERBOSE) console.log(JSON.stringify(stats));
  assert.ok(stats.corrupted + stats.mismatch + stats.whole + stats.openFailed > 0, `some flips were detected (${JSON.stringify(stats)})`);
}));

test.run();
