/**
 * The runs' point index (`reads.PointIndex`): a point read answers from the newest version of its
 * akey over every run, by (epoch, sequence number) and not by run order; falls back to the runs
 * for a read below that version; answers "absent" only for akeys no run holds; keeps two akeys
 * whose hashes agree apart. Every answer is held to a model and to the same read with the index
 * switched off.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { VosTarget, type VosOptions } from '../../src/vos/index.js';
import { POINT_INDEX_MIN_READS, POINT_INDEX_SYNC_LIST_ENTRIES, PointIndex, pointIndexOf, pointReads, pointHitOf } from '../../src/vos/reads.js';
import type { RunPoints } from '../../src/vos/run.js';
import { enc, tmpDir } from './helpers.js';

const test = suite('vos point index');
const KiB = 1024; const MiB = 1024 * KiB;
const BASE: VosOptions = { scmBytes: 32 * MiB, dataBytes: 64 * MiB, walBytes: 256 * KiB, io: 'pread' };
let dir = '';
// every list of runs indexed at its first read (the default waits for POINT_INDEX_MIN_READS: see the last test)
test.before.each(() => { dir = tmpDir('reads-index'); pointReads.minReads = 1; });
test.after.each(() => { pointReads.index = true; pointReads.minReads = POINT_INDEX_MIN_READS; pointReads.syncListsMax = POINT_INDEX_SYNC_LIST_ENTRIES; fs.rmSync(dir, { recursive: true, force: true }); });

const OBJECTS = 600;
const D = enc('d'), A = enc('a');
const oidOf = (i: number) => (BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << 128n) - 1n);
/** A value naming (object, write number): every write is told apart. */
const valueOf = (i: number, w: number) => { const v = new Uint8Array(40 + (i % 30)).fill(w & 0xff); new DataView(v.buffer).setUint32(0, i, true); new DataView(v.buffer).setUint32(4, w, true); return v; };

/** Model: per object, its writes in order (epoch, value); at one epoch the later write wins. */
const model = new Map<number, Array<{ e: bigint; v: Uint8Array }>>();
function expected(i: number, at: bigint): Uint8Array | undefined {
  let best: { e: bigint; v: Uint8Array } | undefined;
  for (const w of model.get(i) ?? []) if (w.e <= at && (!best || w.e >= best.e)) best = w;
  return best?.v;
}

const READ_AT = [5n, 15n, 20n, 25n, 30n, 45n, 50n, 60n];

async function read(t: VosTarget, at: bigint, i: number): Promise<Uint8Array | undefined> {
  const now = t.fetchSingleNow(at, oidOf(i), D, A);
  return now === null ? await t.fetchSingle(at, oidOf(i), D, A) : now;
}

async function checkAll(t: VosTarget, objects: number): Promise<void> {
  for (let i = 0; i < objects; i++) {
    for (const at of READ_AT) {
      const want = expected(i, at);
      pointReads.index = true;
      const got = await read(t, at, i);
      pointReads.index = false;
      const plain = await read(t, at, i);
      pointReads.index = true;
      assert.equal(got, want, `object ${i} at ${at} (index)`);
      assert.equal(plain, want, `object ${i} at ${at} (runs)`);
    }
  }
}

test('newest over every run by epoch then sequence number, older reads, absent keys, after a reopen', async () => {
  let t = await VosTarget.open(dir, BASE);
  let w = 0;
  const put = async (i: number, e: bigint) => { const v = valueOf(i, ++w); await t.updateSingle(e, oidOf(i), D, A, v); (model.get(i) ?? model.set(i, []).get(i)!).push({ e, v }); };
  try {
    // epochs not in run order: the newest epoch goes into the oldest run
    for (let i = 0; i < OBJECTS; i++) await put(i, 30n);
    await t.target.flushAll();
    for (let i = 0; i < OBJECTS; i += 2) await put(i, 20n);
    await t.target.flushAll();
    for (let i = 0; i < OBJECTS; i += 3) await put(i, 25n);
    await t.target.flushAll();
    // the same epoch written again in a later run: the later write (higher sequence number) wins
    for (let i = 0; i < OBJECTS; i += 5) await put(i, 50n);
    await t.target.flushAll();
    for (let i = 0; i < OBJECTS; i += 10) await put(i, 50n);
    await t.target.flushAll();
    // objects only some runs hold, and a few only in the memtable
    for (let i = OBJECTS; i < OBJECTS + 50; i++) await put(i, 45n);
    await t.target.flushAll();
    for (let i = OBJECTS + 50; i < OBJECTS + 60; i++) await put(i, 45n);
    const runs = t.target.runs;
    assert.ok(runs.length >= 6, `several runs (${runs.length})`);
    assert.ok(pointIndexOf(runs) !== null, 'the runs are indexed');
    await checkAll(t, OBJECTS + 80); // the last 20 were never written: absent everywhere
    // one more run appended to the indexed list (the index is extended, not rebuilt): newer versions of some akeys
    for (let i = 0; i < OBJECTS; i += 4) await put(i, 55n);
    await t.target.flushAll();
    assert.is(t.target.runs.length, runs.length + 1, 'one run appended');
    assert.ok(t.target.runs.slice(0, runs.length).every((r, k) => r === runs[k]), 'to the same runs');
    await checkAll(t, OBJECTS + 80);
    await t.close();
    t = await VosTarget.open(dir, BASE);
    assert.ok(pointIndexOf(t.target.runs) !== null, 'indexed after a reopen');
    await checkAll(t, OBJECTS + 80);
    // a new run: a new list of runs, indexed again
    for (let i = 0; i < OBJECTS; i += 7) await put(i, 60n);
    await t.target.flushAll();
    await checkAll(t, OBJECTS + 80);
  } finally {
    await t.close();
    model.clear();
  }
});

test('akeys whose hashes agree in full keep their own slots', async () => {
  const t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 200; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, i));
    await t.target.flushAll();
    for (let i = 0; i < 200; i += 2) await t.updateSingle(20n, oidOf(i), D, A, valueOf(i, 1000 + i));
    await t.target.flushAll();
    const runs = t.target.runs;
    const lists = runs.map((r) => r.points()!);
    assert.ok(lists.every((p) => p !== null && p.count > 0));
    // every akey of the lists gets the same two hashes: the index can tell them apart by their keys only
    const same: RunPoints[] = lists.map((p) => ({ ...p, h1: new Int32Array(p.count).fill(7), h2: new Int32Array(p.count).fill(-3) }));
    const ix = new PointIndex(runs.slice(), same, same.reduce((n, p) => n + p.count, 0));
    const full = pointIndexOf(runs)!;
    assert.ok(full !== null);
    // the slot each akey resolves to in the colliding index names the same entry as in the real one
    const { KeyBuilder, SECTION_DATA, TAG_KEY, TAG_SINGLE } = await import('../../src/vos/keys.js');
    const { bloomProbeInto } = await import('../../src/vos/run.js');
    const cont = t.state.idx;
    for (let i = 0; i < 200; i++) {
      const kb = new KeyBuilder().u32(cont).u8(SECTION_DATA).oid(oidOf(i)).u8(TAG_KEY).esc(D).u8(TAG_KEY).esc(A);
      const n = kb.length;
      kb.u8(TAG_SINGLE);
      const key = kb.raw();
      const real = bloomProbeInto(key, n, { h1: 0, h2: 0 });
      const a = full.find(key, n, real);
      assert.ok(a >= 0, `akey ${i} found`);
      const runA = full.runOf(a), hitA = { ...pointHitOf() };
      const b = ix.find(key, n, { h1: 7, h2: -3 });
      assert.ok(b >= 0, `akey ${i} found among colliding slots`);
      assert.is(ix.runOf(b), runA, `akey ${i}: the same run`);
      assert.equal(pointHitOf(), hitA, `akey ${i}: the same entry`);
      assert.is(ix.find(key, n, { h1: 8, h2: -3 }), -1, 'other hashes: absent');
    }
    // and the reads through the real index
    for (let i = 0; i < 200; i++) assert.equal(t.fetchSingleNow(30n, oidOf(i), D, A), i % 2 === 0 ? valueOf(i, 1000 + i) : valueOf(i, i), `object ${i}`);
  } finally {
    await t.close();
  }
});

test('a store opened for a few reads builds no index: a list of runs is indexed once it has served minReads point reads', async () => {
  pointReads.minReads = POINT_INDEX_MIN_READS;
  let t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 200; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, 1));
    await t.target.flushAll();
    for (let i = 200; i < 400; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, 1));
    await t.target.flushAll();
    await t.close();
    t = await VosTarget.open(dir, BASE);
    const runs = t.target.runs;
    assert.ok(runs.length >= 2);
    for (let r = 0; r < 3; r++) {
      for (let k = 0; k < POINT_INDEX_MIN_READS - 1; k++) {
        const i = (k * 37) % 400;
        assert.equal(await t.fetchSingle(20n, oidOf(i), D, A), valueOf(i, 1), 'read on the per-run path');
      }
      // the reads above went through pointIndexOf (index on): the next one builds it
      if (r === 0) {
        assert.is((runs[0]!.pointIndexOf as { index: unknown } | undefined)?.index ?? null, null, `not indexed after ${POINT_INDEX_MIN_READS - 1} reads`);
        assert.ok(pointIndexOf(runs) !== null, `indexed at read ${POINT_INDEX_MIN_READS}`);
      }
    }
  } finally {
    await t.close();
  }
});

test('punches held only in a run hide the versions the index answers, whichever run holds them (the index keeps whether its runs hold punches)', async () => {
  let t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 300; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, 1));
    await t.target.flushAll();
    // a run of no punches first, read through its index, then punches flushed into a new run
    const before = t.target.runs;
    assert.ok(pointIndexOf(before) !== null && !pointIndexOf(before)!.anyPunches, 'a list of runs without punches');
    for (let i = 0; i < 300; i += 3) await t.punchDkey(20n, oidOf(i), D);
    for (let i = 1; i < 300; i += 3) await t.punchObject(20n, oidOf(i));
    await t.target.flushAll();
    const runs = t.target.runs;
    assert.ok(runs.length >= 2 && runs !== before);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 300; i++) {
        const got = t.fetchSingleNow(30n, oidOf(i), D, A);
        assert.equal(got, i % 3 === 2 ? valueOf(i, 1) : undefined, `object ${i} at 30 (pass ${pass})`);
        assert.equal(t.fetchSingleNow(15n, oidOf(i), D, A), valueOf(i, 1), `object ${i} at 15 (below the punch)`);
      }
    }
    const ix = pointIndexOf(runs);
    assert.ok(ix !== null && ix.anyPunches, 'the index of the runs holding punches says so');
  } finally {
    await t.close();
  }
});

test('runs whose point lists are large get them made in the background: reads answer meanwhile, and the read after builds the index', async () => {
  pointReads.syncListsMax = 100; // (the default makes up to 32k entries' lists in the reading turn)
  const t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 3000; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, 1));
    await t.target.flushAll();
    const runs = t.target.runs;
    assert.ok(runs.reduce((n, r) => n + r.meta.entries, 0) > 100 && runs.some((r) => !r.pointsMade), 'lists to make');
    assert.equal(await t.fetchSingle(20n, oidOf(7), D, A), valueOf(7, 1));
    const kept = runs[0]!.pointIndexOf as { building?: Promise<void>; index: unknown } | undefined;
    assert.ok(kept?.building !== undefined, 'the lists are being made');
    assert.is(pointIndexOf(runs), null, 'no index while they are');
    for (let i = 0; i < 3000; i += 13) assert.equal(await t.fetchSingle(20n, oidOf(i), D, A), valueOf(i, 1), `object ${i} meanwhile`);
    await kept!.building;
    assert.ok(runs.every((r) => r.pointsMade), 'every list made');
    const ix = pointIndexOf(runs);
    assert.ok(ix !== null, 'indexed at the next read');
    for (let i = 0; i < 3000; i += 7) assert.equal(await t.fetchSingle(20n, oidOf(i), D, A), valueOf(i, 1), `object ${i} through the index`);
    assert.is(await t.fetchSingle(20n, oidOf(5000), D, A), undefined, 'absent');
    // a list replaced while its lists are made (a merge retires runs): the making stops, the new list starts over
    for (let i = 3000; i < 3300; i++) await t.updateSingle(11n, oidOf(i), D, A, valueOf(i, 2));
    await t.target.flushAll();
    assert.equal(await t.fetchSingle(20n, oidOf(3100), D, A), valueOf(3100, 2));
  } finally {
    await t.close();
  }
});

test('reads that never let the loop turn still get the point lists made, a step at a time, and the index then answers them', async () => {
  pointReads.syncListsMax = 100;
  const t = await VosTarget.open(dir, BASE);
  try {
    for (let i = 0; i < 3000; i++) await t.updateSingle(10n, oidOf(i), D, A, valueOf(i, 1));
    await t.target.flushAll();
    const runs = t.target.runs;
    assert.ok(runs.some((r) => !r.pointsMade), 'lists to make');
    // Synchronous reads only, no await between them: the steps the loop would make never run,
    // so every list made below was made by the reads themselves.
    let turned = false;
    setImmediate(() => { turned = true; });
    const deadline = performance.now() + 5000;
    let reads = 0;
    while (pointIndexOf(runs) === null && performance.now() < deadline) {
      const i = reads++ % 3000;
      assert.equal(t.fetchSingleNow(20n, oidOf(i), D, A), valueOf(i, 1), `object ${i} while the lists are made`);
    }
    assert.not.ok(turned, 'the loop never turned');
    assert.ok(runs.every((r) => r.pointsMade), 'every list made by the reads');
    assert.ok(pointIndexOf(runs) !== null, 'indexed');
    for (let i = 0; i < 3000; i += 7) assert.equal(t.fetchSingleNow(20n, oidOf(i), D, A), valueOf(i, 1), `object ${i} through the index`);
  } finally {
    await t.close();
  }
});

test.run();
