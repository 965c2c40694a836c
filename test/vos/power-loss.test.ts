/**
 * Power loss. Unlike a crash, a power loss takes the page cache: what reaches the medium of the
 * writes made since the last sync is whatever pages the kernel wrote back, in any order, and the
 * tail slots' page (low in the pmem file) is often among them while the log records it names are
 * not. Emulated here by an image of the target as it was at its last sync, with pages of the live
 * target laid over it. A durable target's log then opens as its longest valid prefix past its sync
 * mark (`openReport.cutAt`), nothing before the mark lost and nothing reported damaged, and a
 * record before the mark that reads back damaged is still damage. A log without a mark (a
 * non-durable target, which never syncs) keeps the strict rule. Seeded trials lay a random subset
 * of the pages written since the sync over its image (CAIRN_VOS_POWER_TRIALS, CAIRN_VOS_POWER_SEED):
 * the target opens as the state at the sync plus a prefix of the writes made after it. A store that
 * syncs each write (an engine's) keeps every acknowledged write, and an unacknowledged one whole or
 * not at all.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, MAX_EPOCH, type VosOptions } from '../../src/vos/index.js';
import { CHUNK_BYTES } from '../../src/vos/store.js';
import { TAIL_SLOTS_OFFSET } from '../../src/vos/manifest.js';
import { REGION_HEADER } from '../../src/vos/wal.js';
import { Rng } from '../../core/rng.js';
import { safe } from './safe.js';
import { crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos power loss');

const WAL_BYTES = 256 * 1024;
const PAGE = 4096;
const DURABLE: VosOptions = { scmBytes: 32 * 1024 * 1024, dataBytes: 16 * 1024 * 1024, walBytes: WAL_BYTES, io: 'pread', durable: true, deferSync: true, mergeWorker: false };
/** Log values only (inline in the log): what a power loss takes is then the log's pages alone. */
const value = (i: number) => new Uint8Array(60 + (i % 40)).fill((i % 250) + 1);
const key = (i: number) => enc(`d${i}`);

async function write(t: VosTarget, from: number, to: number, epoch: bigint): Promise<void> {
  for (let i = from; i < to; i++) await t.updateSingle(epoch, 1n, key(i), enc('a'), value(i));
}

/** Which of keys [from, to) read back: each one whole (asserted), or absent. */
async function present(t: VosTarget, from: number, to: number, label: string): Promise<Set<number>> {
  const got = new Set<number>();
  for (let i = from; i < to; i++) {
    const v = await t.fetchSingle(MAX_EPOCH, 1n, key(i), enc('a'));
    if (v === undefined) continue;
    assert.ok(Buffer.from(v).equals(Buffer.from(value(i))), `${label}: key ${i} reads back whole`);
    got.add(i);
  }
  return got;
}

/** The image a power loss leaves: `synced` (the target at its last sync) with the pmem pages at byte offsets `pages` of `live` over it. */
function powerLoss(synced: string, live: string, out: string, pages: number[]): void {
  fs.cpSync(synced, out, { recursive: true });
  const from = fs.openSync(path.join(live, 'vos.scm'), 'r'), to = fs.openSync(path.join(out, 'vos.scm'), 'r+');
  try {
    const b = Buffer.alloc(PAGE);
    for (const off of pages) { fs.readSync(from, b, 0, PAGE, off); fs.writeSync(to, b, 0, PAGE, off); }
  } finally { fs.closeSync(from); fs.closeSync(to); }
}

/** A test body given a fresh temporary directory and a target directory in it, removed afterwards. */
function inTmp(tag: string, body: (dir: string, live: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tmpDir(tag);
    try { await body(dir, path.join(dir, 'live')); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  };
}

/** Hold back the fdatasyncs of `t`'s pmem file while `hold` is set; `release()` lets the held ones go and stops holding. */
function syncGate(t: VosTarget): { hold: boolean; release: () => void } {
  const s = t.target, held: Array<() => void> = [];
  const real = s.space.persistAsync.bind(s.space);
  const gate = { hold: false, release: () => { gate.hold = false; for (const go of held.splice(0)) go(); } };
  s.space.persistAsync = () => (gate.hold ? new Promise<void>((res) => held.push(res)).then(real) : real());
  return gate;
}

/** Open `dir`, check it, write more and reopen after a crash: the cut log stays cut, the new writes stay. */
async function reopenAndGoOn(dir: string, opts: VosOptions, label: string, synced: number, written: number): Promise<void> {
  let t = await VosTarget.open(dir, opts);
  assert.is(t.openReport.damage, undefined, `${label}: no damage`);
  assert.ok(t.openReport.cutAt !== undefined, `${label}: the log was cut`);
  const kept = await present(t, 0, written, label);
  for (let i = 0; i < synced; i++) assert.ok(kept.has(i), `${label}: key ${i}, synced before the power loss, is there`);
  await write(t, written, written + 300, 9n);
  crashImage(dir, `${dir}.after`);
  await t.close();
  t = await VosTarget.open(`${dir}.after`, opts);
  try {
    assert.is(t.openReport.damage, undefined, `${label}, after a crash: no damage`);
    assert.equal(await present(t, 0, written, `${label}, after a crash`), kept, `${label}: the keys the cut open found, no more (nothing past the cut comes back)`);
    assert.is((await present(t, written, written + 300, `${label}, after a crash`)).size, 300, `${label}: the writes made after the cut open`);
  } finally { await t.close(); }
}

test('a power loss that kept the tail slots but not the records they name: the log opens cut at its first invalid record past the sync mark', safe(inTmp('power-slots', async (dir, live) => {
  const t = await VosTarget.open(live, DURABLE);
  await write(t, 0, 300, 5n);
  await t.flush(); // a sync: the mark
  crashImage(live, path.join(dir, 'synced'));
  await write(t, 300, 500, 6n); // not synced (deferSync)
  const end = t.target.logPosition.tail;
  crashImage(live, path.join(dir, 'now'));
  // only the tail slots' page reached the medium
  powerLoss(path.join(dir, 'synced'), path.join(dir, 'now'), path.join(dir, 'slots'), [TAIL_SLOTS_OFFSET]);
  await reopenAndGoOn(path.join(dir, 'slots'), DURABLE, 'slots only', 300, 500);
  // the slots and every other log page written since the sync (the records between are torn)
  const logPages: number[] = [];
  for (let p = Math.floor(CHUNK_BYTES / PAGE) * PAGE; p < end; p += PAGE) logPages.push(p);
  const odd = logPages.filter((_, i) => i % 2 === 1);
  powerLoss(path.join(dir, 'synced'), path.join(dir, 'now'), path.join(dir, 'some'), [TAIL_SLOTS_OFFSET, ...odd]);
  await reopenAndGoOn(path.join(dir, 'some'), DURABLE, 'slots and some log pages', 300, 500);
  // every page: nothing cut, nothing lost
  const all = await VosTarget.open(path.join(dir, 'now'), DURABLE);
  try {
    assert.is(all.openReport.damage, undefined);
    assert.is(all.openReport.cutAt, undefined, 'a whole log is not cut');
    assert.is((await present(all, 0, 500, 'every page')).size, 500);
  } finally { await all.close(); }
  await t.close();
})));

test('a record before the sync mark that reads back damaged is damage, never cut', safe(inTmp('power-mark', async (dir, live) => {
  const t = await VosTarget.open(live, DURABLE);
  await write(t, 0, 300, 5n);
  await t.flush();
  await write(t, 300, 320, 6n);
  crashImage(live, path.join(dir, 'img'));
  await t.close();
  // the first record of the log (region 0 of a new target), synced long before the mark
  const fd = fs.openSync(path.join(dir, 'img', 'vos.scm'), 'r+');
  const b = Buffer.alloc(1);
  const at = CHUNK_BYTES + REGION_HEADER + 40;
  fs.readSync(fd, b, 0, 1, at); b[0]! ^= 0x10; fs.writeSync(fd, b, 0, 1, at);
  fs.closeSync(fd);
  const r = await VosTarget.open(path.join(dir, 'img'), DURABLE);
  try {
    assert.ok(r.openReport.damage !== undefined, 'reported damaged');
    assert.is(r.openReport.cutAt, undefined);
  } finally { await r.close(); }
})));

test('a non-durable target (no sync, no mark) keeps the strict rule: records its slot names that do not read back are damage', safe(inTmp('power-plain', async (dir, live) => {
  const opts: VosOptions = { ...DURABLE, durable: false, deferSync: false };
  const t = await VosTarget.open(live, opts);
  await write(t, 0, 100, 5n);
  crashImage(live, path.join(dir, 'early'));
  await write(t, 100, 300, 6n);
  crashImage(live, path.join(dir, 'now'));
  await t.close();
  powerLoss(path.join(dir, 'early'), path.join(dir, 'now'), path.join(dir, 'img'), [TAIL_SLOTS_OFFSET]);
  const r = await VosTarget.open(path.join(dir, 'img'), opts);
  try {
    assert.ok(r.openReport.damage !== undefined, 'reported damaged');
  } finally { await r.close(); }
})));

test('a power loss after a rotation past the sync mark: the new region\'s header lost, or kept with the old region\'s last records lost', safe(inTmp('power-rotate', async (dir, live) => {
  const t = await VosTarget.open(live, DURABLE);
  const s = t.target;
  // the pmem file's syncs held back from the rotation on: its flush's commit cannot sync, so
  // nothing written after the mark reaches the medium but what the images lay over it
  const gate = syncGate(t);
  await write(t, 0, 300, 5n);
  await t.flush();
  crashImage(live, path.join(dir, 'synced'));
  gate.hold = true;
  let n = 300;
  const gen = s.logPosition.gen;
  while (s.logPosition.gen === gen) { await write(t, n, n + 10, 6n); n += 10; }
  await write(t, n, n + 40, 6n); n += 40; // into the new region
  crashImage(live, path.join(dir, 'now'));
  const newRegion = CHUNK_BYTES + WAL_BYTES; // region 1: the log began in region 0
  // the slots name the new region, whose header did not reach the medium
  powerLoss(path.join(dir, 'synced'), path.join(dir, 'now'), path.join(dir, 'no-header'), [TAIL_SLOTS_OFFSET]);
  await reopenAndGoOn(path.join(dir, 'no-header'), DURABLE, 'new region header lost', 300, n);
  // the new region's first page (its header, its first records) reached the medium, the old region's last records did not
  powerLoss(path.join(dir, 'synced'), path.join(dir, 'now'), path.join(dir, 'header'), [TAIL_SLOTS_OFFSET, newRegion]);
  await reopenAndGoOn(path.join(dir, 'header'), DURABLE, 'old region\'s tail lost', 300, n);
  gate.release();
  await t.close();
})));

/** Keys of the seeded test (dkeys of object 1, akey 'a'). */
const SEEDED_KEYS = 60;
const SEEDED_TRIALS = Number(process.env.CAIRN_VOS_POWER_TRIALS ?? 12);

/** One op of the seeded test: a value written (`v`) or the key punched (`v` undefined), at `epoch`. */
interface Op { k: number; epoch: bigint; v?: Uint8Array }

/** The state after `ops` over `base`: each key's value, or undefined (absent or punched). */
function replay(base: ReadonlyMap<number, Uint8Array | undefined>, ops: readonly Op[]): Map<number, Uint8Array | undefined> {
  const m = new Map(base);
  for (const o of ops) m.set(o.k, o.v);
  return m;
}

async function applyOp(t: VosTarget, o: Op): Promise<void> {
  if (o.v) await t.updateSingle(o.epoch, 1n, key(o.k), enc('a'), o.v);
  else await t.punchAkey(o.epoch, 1n, key(o.k), enc('a'));
}

async function readAll(t: VosTarget): Promise<Map<number, Uint8Array | undefined>> {
  const m = new Map<number, Uint8Array | undefined>();
  for (let k = 0; k < SEEDED_KEYS; k++) m.set(k, await t.fetchSingle(MAX_EPOCH, 1n, key(k), enc('a')));
  return m;
}

const same = (a: ReadonlyMap<number, Uint8Array | undefined>, b: ReadonlyMap<number, Uint8Array | undefined>): boolean => {
  for (let k = 0; k < SEEDED_KEYS; k++) {
    const x = a.get(k), y = b.get(k);
    if (x === undefined || y === undefined ? x !== y : !Buffer.from(x).equals(Buffer.from(y))) return false;
  }
  return true;
};

/** For a failure: which write each key's value came from (`s` the synced state, `-` absent, else the index of the write after the sync). */
function describe(got: ReadonlyMap<number, Uint8Array | undefined>, synced: ReadonlyMap<number, Uint8Array | undefined>, after: readonly Op[]): string {
  const eq = (a: Uint8Array | undefined, b: Uint8Array | undefined) => a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));
  return [...got].map(([k, v]) => `${k}:${v === undefined ? '-' : eq(v, synced.get(k)) ? 's' : after.findIndex((o) => o.k === k && eq(o.v, v))}`).join(' ');
}

/** The 4 KiB pages at which two files differ. */
function differingPages(a: string, b: string): number[] {
  const x = fs.readFileSync(a), y = fs.readFileSync(b);
  const out: number[] = [];
  for (let off = 0; off < Math.max(x.length, y.length); off += PAGE) {
    if (!x.subarray(off, off + PAGE).equals(y.subarray(off, off + PAGE))) out.push(off);
  }
  return out;
}

test(`seeded power losses (${SEEDED_TRIALS} trials): any subset of the pages written since the last sync; the store opens as the state at that sync plus a prefix of the writes after it`, safe(async () => {
  const dir = tmpDir('power-seeded');
  try {
    for (let trial = 0; trial < SEEDED_TRIALS; trial++) {
      const rng = new Rng(Number(process.env.CAIRN_VOS_POWER_SEED ?? 7000) + trial);
      const live = path.join(dir, `live-${trial}`);
      const t = await VosTarget.open(live, DURABLE);
      const s = t.target;
      const gate = syncGate(t);
      let epoch = 10n;
      const op = (): Op => {
        const k = rng.int(SEEDED_KEYS);
        epoch++;
        return rng.chance(0.1) ? { k, epoch } : { k, epoch, v: rng.fill(new Uint8Array(rng.range(1, 400))) };
      };
      // before the power loss's sync: writes, flushes now and then (rotations and runs too)
      const before: Op[] = [];
      const n1 = rng.range(100, 2500);
      for (let i = 0; i < n1; i++) {
        const o = op(); before.push(o); await applyOp(t, o);
        if (rng.chance(0.004)) await t.flush();
      }
      await s.idle(); // (a flush or merge still running would commit, i.e. sync, after the image)
      await t.flush();
      const synced = replay(new Map(), before);
      crashImage(live, `${live}.synced`);
      // after it: writes whose pages the kernel may or may not write back before the power fails
      // (the syncs held: a rotation's flush cannot commit)
      gate.hold = true;
      const after: Op[] = [];
      // (at most ~200 KiB of log: one rotation at most, whose frozen region cannot be flushed, and the next region never full)
      let n2 = rng.range(1, 700), logBytes = 0;
      for (let i = 0; i < n2; i++) {
        const o = op(); after.push(o); await applyOp(t, o);
        logBytes += (o.v?.length ?? 0) + 200;
        if (logBytes > 200 * 1024) n2 = i + 1;
      }
      crashImage(live, `${live}.now`);
      const pages = differingPages(path.join(`${live}.synced`, 'vos.scm'), path.join(`${live}.now`, 'vos.scm'));
      const keep = rng.float();
      const kept = pages.filter((p) => (p === TAIL_SLOTS_OFFSET ? rng.chance(0.7) : rng.chance(keep)));
      const img = `${live}.lost`;
      powerLoss(`${live}.synced`, `${live}.now`, img, kept);
      const label = `trial ${trial} (${n1} ops synced, ${n2} after, ${kept.length}/${pages.length} pages written back)`;
      let r = await VosTarget.open(img, DURABLE);
      let prefix = -1;
      try {
        assert.is(r.openReport.damage, undefined, `${label}: no damage`);
        const got = await readAll(r);
        for (let p = n2; p >= 0 && prefix < 0; p--) if (same(got, replay(synced, after.slice(0, p)))) prefix = p;
        assert.ok(prefix >= 0, `${label}: the state at the sync plus a prefix of the later writes (${prefix < 0 ? describe(got, synced, after) : ''})`);
        // and it goes on: more writes, a crash, the same state plus them
        const more: Op[] = [];
        for (let i = 0; i < 50; i++) { const o = op(); more.push(o); await applyOp(r, o); }
        crashImage(img, `${img}.again`);
        await r.close();
        r = await VosTarget.open(`${img}.again`, DURABLE);
        assert.is(r.openReport.damage, undefined, `${label}, reopened: no damage`);
        assert.ok(same(await readAll(r), replay(replay(synced, after.slice(0, prefix)), more)), `${label}, reopened: nothing past the cut came back, the later writes are there`);
      } finally { await r.close(); }
      gate.release();
      await t.close();
      for (const d of [live, `${live}.synced`, `${live}.now`, img, `${img}.again`]) fs.rmSync(d, { recursive: true, force: true });
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}));

test('seeded power losses of a store that syncs every write (as an engine\'s): every acknowledged write survives; an unacknowledged one is there whole or not at all', safe(inTmp('power-ops', async (dir) => {
  const opts: VosOptions = { ...DURABLE, deferSync: false };
  for (let trial = 0; trial < 6; trial++) {
    const rng = new Rng(8100 + trial);
    const live = path.join(dir, `live-${trial}`);
    const t = await VosTarget.open(live, opts);
    const gate = syncGate(t);
    let epoch = 10n;
    const op = (big: boolean): Op => {
      const k = rng.int(SEEDED_KEYS);
      epoch++;
      return rng.chance(0.1) ? { k, epoch } : { k, epoch, v: rng.fill(new Uint8Array(big && rng.chance(0.3) ? rng.range(5000, 20000) : rng.range(1, 400))) };
    };
    const acked: Op[] = [];
    for (let i = rng.range(50, 600); i > 0; i--) { const o = op(true); acked.push(o); await applyOp(t, o); }
    await t.target.idle();
    crashImage(live, `${live}.synced`);
    // writes whose syncs never complete (the power fails first): applied to the log, not acknowledged
    gate.hold = true;
    const pending: Op[] = [];
    const waits: Array<Promise<void>> = [];
    for (let i = rng.range(1, 200); i > 0; i--) { const o = op(false); pending.push(o); waits.push(applyOp(t, o)); }
    for (let i = 0; i < 20; i++) await new Promise<void>((res) => setImmediate(res));
    crashImage(live, `${live}.now`);
    const pages = differingPages(path.join(`${live}.synced`, 'vos.scm'), path.join(`${live}.now`, 'vos.scm'));
    const keep = rng.float();
    powerLoss(`${live}.synced`, `${live}.now`, `${live}.lost`, pages.filter((p) => p === TAIL_SLOTS_OFFSET || rng.chance(keep))); // (the slots' page: written back first)
    const r = await VosTarget.open(`${live}.lost`, opts);
    try {
      const label = `trial ${trial} (${acked.length} acknowledged, ${pending.length} not)`;
      assert.is(r.openReport.damage, undefined, `${label}: no damage`);
      const synced = replay(new Map(), acked);
      const got = await readAll(r);
      for (let k = 0; k < SEEDED_KEYS; k++) {
        const v = got.get(k);
        const allowed = [synced.get(k), ...pending.filter((o) => o.k === k).map((o) => o.v)];
        assert.ok(allowed.some((a) => (a === undefined ? v === undefined : v !== undefined && Buffer.from(a).equals(Buffer.from(v)))), `${label}: key ${k} reads as acknowledged, or as a later write, whole`);
      }
    } finally { await r.close(); }
    gate.release();
    await Promise.all(waits);
    await t.close();
  }
})));

test.run();
