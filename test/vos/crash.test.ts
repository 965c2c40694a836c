/**
 * Crashes. A child process writes (inline values, data-file values, array extents, akey punches)
 * with flushes and merges going on, and prints what was acknowledged; the parent SIGKILLs it at
 * seeded random moments, in the middle of a flush and in the middle of a merge, reopens the
 * target and checks that every acknowledged operation is there (a value read back is the newest
 * acknowledged one or a later one, whole; an acknowledged punch hides what is older), that the
 * listing agrees with the reads, that nothing is reported damaged and scrub finds nothing.
 * Crash images taken in-process (copies of the files at an exact moment) cover the windows inside
 * recovery itself and a flush or merge at a chosen point.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { Rng } from '../../core/rng.js';
import { VosTarget, MAX_EPOCH, type VosOptions } from '../../src/vos/index.js';
import { CHUNK_BYTES } from '../../src/vos/store.js';
import { TAIL_SLOTS_OFFSET } from '../../src/vos/manifest.js';
import { REGION_HEADER, TAIL_SLOT, WAL_HEADER } from '../../src/vos/wal.js';
import { CRASH_OPTS, embeddedEpoch } from './crash-common.js';
import { CrashCheckFailure, checkTarget, describeKey, keepDir, metaImage, newLedger, record, roundLabel, runChild, type KillAt } from './crash-check.js';
import { ioEngines } from './engines.js';
import { safe } from './safe.js';
import { crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos crash');
const ROUNDS = Number(process.env.CAIRN_VOS_CRASH_ROUNDS ?? 9);

test(`SIGKILL at random moments and inside flushes and merges, ${ROUNDS} rounds`, safe(async () => {
  const engines = await ioEngines();
  const dir = tmpDir('crash');
  const image = `${dir}.image`; // each crash image's metadata as the child left it (the reopen recovers, i.e. rewrites, the directory)
  const rng = new Rng(2024);
  const ledger = newLedger();
  const insideCount = { flush: 0, merge: 0 };
  let kept = false;
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const io = engines[round % engines.length]!;
      const durable = round % 3 === 2;
      const at: KillAt = (['random', 'flush', 'merge'] as const)[round % 3]!;
      const delay = at === 'random' ? rng.range(50, 700) : at === 'flush' ? rng.range(0, 4) : rng.range(0, 25);
      const { lines, inside } = await runChild(dir, 1000 + round, io, durable, at, delay);
      for (const x of inside) insideCount[x]++;
      record(ledger, lines);
      metaImage(dir, image);
      const t = await VosTarget.open(dir, { ...CRASH_OPTS, io });
      const where = roundLabel(round, at, inside, io, durable);
      try {
        await checkTarget(t, ledger, where);
      } catch (e) {
        // keep the evidence: the image as killed, the recovered directory, the child's output, and
        // what the image holds for the key that failed
        kept = true;
        const keep = keepDir(dir);
        fs.mkdirSync(keep, { recursive: true });
        fs.writeFileSync(path.join(keep, 'child-output.txt'), lines.join('\n'));
        const about = e instanceof CrashCheckFailure && e.id ? await describeKey(image, e.id, ledger) : '';
        fs.writeFileSync(path.join(keep, 'about.txt'), `${(e as Error).message}\n${about}\n`);
        console.error(`${(e as Error).message}\n${about}\nkept: ${image} (as killed), ${dir} (recovered), ${keep} (child output, this text)`);
        throw e;
      } finally {
        await t.close();
      }
    }
    assert.ok(ledger.totalAcks > ROUNDS * 50, `enough acknowledged writes (${ledger.totalAcks})`);
    assert.ok(insideCount.flush >= 2 && insideCount.merge >= 2, `kills landed inside flushes and merges (${JSON.stringify(insideCount)})`);
  } catch (e) {
    console.error('crash test failed:', e); // uvu does not print errors with a cause
    throw e;
  } finally {
    if (!kept) { fs.rmSync(dir, { recursive: true, force: true }); fs.rmSync(image, { recursive: true, force: true }); }
  }
}));

/** How long the parent waits, not reading, for the child to stop itself (a guard: the test waits on the child's exit). */
const QUEUED_GUARD_MS = 120_000;

test('the ledger has every punch the child issued, also when the parent reads its output late (lines queued on a pipe die with the child)', safe(async () => {
  const dir = tmpDir('crash-ledger');
  try {
    // the parent stops reading at READY; the child kills itself once a punch resolved while its
    // PUNCH line still waited in the child for the pipe (what a loaded CI run did to the old test,
    // which took its ledger from stdout: a logged punch it never heard of hid an acknowledged value)
    const { lines, stdout } = await runChild(dir, 77, 'pread', false, 'random', QUEUED_GUARD_MS, { CAIRN_VOS_CRASH_KILL_QUEUED: '1' }, true);
    const queued = lines.find((l) => l.startsWith('QUEUED-PUNCH '));
    assert.ok(queued, 'a punch resolved while its line was queued on stdout');
    const punch = queued.replace('QUEUED-PUNCH', 'PUNCH');
    assert.ok(lines.includes(punch), 'the ledger file has the punch');
    assert.not.ok(stdout.split('\n').includes(punch), 'stdout never delivered it: a ledger read from stdout would not know it');
    const ledger = newLedger();
    record(ledger, lines);
    const t = await VosTarget.open(dir, { ...CRASH_OPTS, io: 'pread' });
    try {
      await checkTarget(t, ledger, 'killed with its output queued');
      const [, kind, key, e] = punch.split(' ') as [string, string, string, string];
      const got = kind === 'array' ? undefined : await t.fetchSingle(MAX_EPOCH, 1n, enc(`k${key}`), enc(kind));
      if (got) assert.ok(embeddedEpoch(got) > BigInt(e), `${kind}/${key}: nothing older than the punch at ${e} shows`);
    } finally {
      await t.close();
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}));

// ------------------------------------------------------------------ crash images at exact moments

const OPTS: VosOptions = { scmBytes: 32 * 1024 * 1024, dataBytes: 16 * 1024 * 1024, walBytes: 256 * 1024, io: 'pread' };
const value = (i: number) => new Uint8Array(i % 5 === 0 ? 5000 : 90).fill(i & 0xff);

async function writeMany(t: VosTarget, from: number, n: number, epoch: bigint): Promise<void> {
  for (let i = from; i < from + n; i++) await t.updateSingle(epoch, BigInt(i % 4), enc(`d${i}`), enc('a'), value(i));
}
async function checkMany(t: VosTarget, from: number, n: number, label: string): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const got = await t.fetchSingle(MAX_EPOCH, BigInt(i % 4), enc(`d${i}`), enc('a'));
    assert.ok(got && Buffer.from(got).equals(Buffer.from(value(i))), `${label}: key ${i}`);
  }
}

test('after a crash: recovery, then opens with no writes in between, lose nothing and report no damage', safe(async () => {
  const dir = tmpDir('crash-img');
  try {
    const t = await VosTarget.open(path.join(dir, 'live'), OPTS);
    await writeMany(t, 0, 3000, 5n);
    crashImage(path.join(dir, 'live'), path.join(dir, 'img'));
    await t.close();
    for (let k = 0; k < 3; k++) {
      const r = await VosTarget.open(path.join(dir, 'img'), OPTS);
      assert.is(r.openReport.damage, undefined, `open ${k}`);
      assert.is(r.openReport.tornAt, undefined, `open ${k}: a log region used before is not a torn append`);
      if (k === 0) assert.ok(r.openReport.records > 0, 'the first open replays the log');
      else assert.is(r.openReport.records, 0, `open ${k} replays nothing`);
      await checkMany(r, 0, 3000, `open ${k}`);
      await r.close(); // no writes: no commit, the log restarted by recovery stays as it is
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}));

test('a crash inside recovery, between its commit and its fresh log: later writes are not lost', safe(async () => {
  const dir = tmpDir('crash-rec');
  const [live, pre, post, mixed, after] = ['live', 'pre', 'post', 'mixed', 'after'].map((n) => path.join(dir, n)) as [string, string, string, string, string];
  try {
    const t = await VosTarget.open(live, OPTS);
    await writeMany(t, 0, 1500, 5n);
    crashImage(live, pre); // a crash with log records to recover
    await t.close();
    fs.cpSync(pre, path.join(dir, 'post-src'), { recursive: true });
    const rec = await VosTarget.open(path.join(dir, 'post-src'), OPTS); // recovery ran: run written, manifest committed, log restarted
    crashImage(path.join(dir, 'post-src'), post);
    await rec.close();
    // the state a crash leaves right after recovery's manifest commit and before its new log: the new
    // superblock and run, but the log header and tail slots as they were before recovery
    fs.cpSync(post, mixed, { recursive: true });
    const preScm = fs.readFileSync(path.join(pre, 'vos.scm'));
    const fd = fs.openSync(path.join(mixed, 'vos.scm'), 'r+');
    fs.writeSync(fd, preScm, TAIL_SLOTS_OFFSET, 2 * TAIL_SLOT, TAIL_SLOTS_OFFSET);
    fs.writeSync(fd, preScm, CHUNK_BYTES, REGION_HEADER + WAL_HEADER, CHUNK_BYTES);
    fs.closeSync(fd);
    const m = await VosTarget.open(mixed, OPTS);
    assert.is(m.openReport.damage, undefined);
    await checkMany(m, 0, 1500, 'after the interrupted recovery');
    await writeMany(m, 1500, 300, 6n);
    crashImage(mixed, after); // and a crash again, with the new writes only in the log
    await m.close();
    const a = await VosTarget.open(after, OPTS);
    assert.is(a.openReport.damage, undefined);
    await checkMany(a, 0, 1800, 'writes made after the interrupted recovery');
    await a.close();
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}));

for (const mergeWorker of [false, true]) test(`crash images inside a flush and inside a merge (${mergeWorker ? 'on merge workers: images taken while they write' : 'on the store\'s thread: an image at every step'})`, safe(async () => {
  const dir = tmpDir('crash-mid');
  try {
    const live = path.join(dir, 'live');
    const t = await VosTarget.open(live, { ...OPTS, mergeWorker, ...(mergeWorker ? { mergeOnWorkerBytes: 0 } : {}) }); // (0: even these small merges go to a worker)
    // images are copied synchronously (the store cannot move meanwhile) and verified afterwards
    const images: Array<{ dir: string; label: string; keys: number }> = [];
    const imageNow = (label: string, keys: number) => {
      const img = path.join(dir, `img-${images.length}`);
      crashImage(live, img);
      images.push({ dir: img, label, keys });
    };
    let written = 0;
    for (let round = 0; round < 4; round++) {
      await writeMany(t, written, 700, BigInt(round + 1)); written += 700;
      const flushing = t.target.flushAll(); // rotate + flush, yielding to the event loop as it goes
      let steps = 0;
      while (t.target.frozen) {
        if (mergeWorker && steps > 0) await new Promise<void>((res) => setTimeout(res, 1)); // the worker writes meanwhile
        imageNow(`inside flush ${round}, step ${steps++}`, written);
        await new Promise<void>((res) => setImmediate(res));
      }
      await flushing;
      assert.ok(steps >= 1, `flush ${round}: images taken while it ran`);
    }
    assert.ok(t.target.runs.length >= 2, 'several runs to merge');
    const before = t.compactions;
    const merging = t.aggregate(3n); // flush + a full merge of every run
    let mergeImages = 0;
    while (t.compactions === before) {
      imageNow(`inside aggregate, image ${mergeImages++}`, written);
      await new Promise<void>((res) => (mergeWorker ? setTimeout(res, 1) : setImmediate(res)));
    }
    await merging;
    assert.ok(mergeImages >= (mergeWorker ? 1 : 4), `images taken inside the merge (${mergeImages})`);
    if (mergeWorker) assert.ok(t.target.workerJobs > 0, 'flushes and merges ran on workers');
    else assert.is(t.target.workerJobs, 0, 'nothing ran on a worker');
    await t.close();
    for (const img of images) {
      const r = await VosTarget.open(img.dir, OPTS);
      assert.is(r.openReport.damage, undefined, img.label);
      await checkMany(r, 0, img.keys, img.label);
      assert.equal((await r.scrub()).bad, [], `${img.label}: scrub`);
      await r.close();
      fs.rmSync(img.dir, { recursive: true, force: true });
    }
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}));

test.run();
