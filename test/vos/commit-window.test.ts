/**
 * The durable manifest commit's window (TargetStore.commitManifest: its syncs run on the thread
 * pool while updates and reads go on; two when a worker synced the run it adds, the commit slot
 * going with the manifest copies, else three). A child process writes durably (the crash test's
 * child and workload) and SIGKILLs itself at a chosen phase of its n-th manifest commit of either
 * order (`CAIRN_VOS_CRASH_COMMIT_KILL`): copies written and not synced, copies synced (with the
 * commit slot, or before it), the commit slot synced before the other, both synced before the old
 * state's space is released, and just after the release. A power loss inside the one sync of
 * copies and commit slot is shown by an image of the files taken then, the copies lost: the open
 * takes the state before. Writes go on between the phases, so a data extent or a
 * heap chunk the old state names, reused before the new state is durable, shows on reopen as a
 * lost or wrong value, a damaged block or damage. The reopened target must answer every
 * acknowledged write, report no damage and scrub clean. In-process: while a commit's syncs are
 * held back, updates and reads are served, and a second commit waits for the first.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { VosTarget, MAX_EPOCH } from '../../src/vos/index.js';
import { decodeSuperblock, SB_SLOT_BYTES, type Superblock } from '../../src/vos/manifest.js';
import { mergeWorkers } from '../../src/vos/merge-workers.js';
import { CRASH_OPTS } from './crash-common.js';
import { checkTarget, newLedger, record, runChild } from './crash-check.js';
import { safe } from './safe.js';
import { code, crashImage, enc, tmpDir } from './helpers.js';

const test = suite('vos commit window');

/** Phases of a manifest commit at which the child kills itself (see TargetStore.onCommitPhase). */
const PHASES = ['staged', 'synced', 'committed', 'written', 'released'] as const;
/** A child that never reaches its phase is killed by the parent after this long (the round then checks a random kill). */
const GUARD_MS = 60_000;

test('SIGKILL at every phase of a durable manifest commit, writes going on: nothing acknowledged is lost, nothing damaged', safe(async () => {
  const dir = tmpDir('commit-window');
  const ledger = newLedger();
  const hit = new Map<string, number>();
  try {
    let round = 0;
    // commits of both orders: two syncs (a worker's run, synced there: the commit slot goes with the
    // copies) and three (a run written here: runs and copies synced before the commit slot)
    for (const [n, syncs] of [[2, 'two'], [1, 'three'], [3, 'two']] as const) {
      for (const phase of PHASES) {
        // (three syncs: even seeds, whose children merge small runs here, so such commits come whether or not a worker is up)
        const seed = syncs === 'three' ? 3100 + 2 * round : 3000 + round;
        const { lines } = await runChild(dir, seed, 'pread', true, 'random', GUARD_MS, { CAIRN_VOS_CRASH_COMMIT_KILL: `${phase}:${n}:${syncs}` });
        const killed = lines.find((l) => l.startsWith('KILL '));
        if (killed) { hit.set(phase, (hit.get(phase) ?? 0) + 1); hit.set(`${phase} ${syncs}`, (hit.get(`${phase} ${syncs}`) ?? 0) + 1); }
        record(ledger, lines);
        const t = await VosTarget.open(dir, { ...CRASH_OPTS, io: 'pread', durable: true });
        try {
          await checkTarget(t, ledger, `round ${round} (killed at ${killed ?? 'a random moment'}, commit ${n})`);
        } finally {
          await t.close();
        }
        round++;
      }
    }
    for (const phase of PHASES) for (const syncs of ['two', 'three']) assert.ok((hit.get(`${phase} ${syncs}`) ?? 0) >= 1, `a kill landed at phase ${phase} of a commit of ${syncs} syncs (${JSON.stringify([...hit])})`);
    assert.ok(ledger.totalAcks > 100, `enough acknowledged writes (${ledger.totalAcks})`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('while a durable commit\'s syncs are held back, updates and reads are served; a commit staged meanwhile waits for it', safe(async () => {
  const dir = tmpDir('commit-window-gate');
  try {
    const t = await VosTarget.open(dir, { ...CRASH_OPTS, io: 'pread', durable: true, deferSync: true, mergeWorker: false });
    const s = t.target;
    // fdatasyncs of the pmem file held back while `hold`, until pump() lets the ones waiting go
    let hold = false;
    const held: Array<() => void> = [];
    const real = s.space.persistAsync.bind(s.space);
    s.space.persistAsync = () => (hold ? new Promise<void>((res) => held.push(res)).then(real) : real());
    const pump = () => { for (const r of held.splice(0)) r(); };
    const turn = () => new Promise<void>((r) => setImmediate(r));
    const phases: string[] = [];
    s.onCommitPhase = (p) => phases.push(p);
    const val = (i: number) => new Uint8Array(i % 3 === 0 ? 5000 : 100).fill(i & 0xff);
    let next = 0;
    const write = async (n: number) => { for (const end = next + n; next < end;) { const i = next++; await t.updateSingle(5n, 1n, enc(`a${i}`), enc('v'), val(i)); } };
    const check = async (label: string) => {
      for (let i = 0; i < next; i += 7) {
        const got = await t.fetchSingle(MAX_EPOCH, 1n, enc(`a${i}`), enc('v'));
        assert.ok(got && Buffer.from(got).equals(Buffer.from(val(i))), `${label}: key ${i}`);
      }
    };
    // seven runs (MERGE_FANIN - 1), committed as usual
    for (let r = 0; r < 7; r++) { await write(40); await s.flushAll(); }
    assert.is(s.runs.length, 7);
    // the eighth flush's commit is held: updates and reads are served meanwhile (each awaited: one
    // that waited for the commit would never end)
    hold = true; phases.length = 0;
    await write(40);
    let flushed = false;
    const flush = s.flushAll().then(() => { flushed = true; });
    while (s.commitInFlight === 0) await turn();
    assert.equal(phases, ['staged']);
    await write(200);
    await check('during the flush\'s commit');
    assert.not.ok(flushed, 'the flush waits for its commit');
    assert.is(s.commitInFlight, 1);
    // its end starts the merge of eight runs, whose commit is held in turn
    while (!flushed) { pump(); await turn(); }
    await flush;
    while (s.commitInFlight === 0) { assert.ok(s.compactions === 0, 'the merge is not done before its commit'); await turn(); }
    phases.length = 0;
    // a flush now stages its commit after the merge's, and waits for it
    await write(40);
    let second = false;
    const flush2 = s.flushAll().then(() => { second = true; });
    while (s.commitInFlight < 2) await turn();
    await check('during two commits');
    assert.equal(phases, ['staged'], 'the flush staged (the merge staged before)');
    assert.not.ok(second);
    while (!second) { pump(); await turn(); }
    await flush2;
    assert.equal(phases, ['staged', 'synced', 'committed', 'written', 'released', 'synced', 'committed', 'written', 'released'], 'the flush\'s syncs after the merge\'s');
    assert.is(s.commitInFlight, 0);
    assert.ok(s.compactions >= 1);
    hold = false; pump();
    await check('after the commits');
    await t.close();
    const r = await VosTarget.open(dir, { ...CRASH_OPTS, io: 'pread' });
    assert.is(r.openReport.damage, undefined);
    for (let i = 0; i < next; i++) {
      const got = await r.fetchSingle(MAX_EPOCH, 1n, enc(`a${i}`), enc('v'));
      assert.ok(got && Buffer.from(got).equals(Buffer.from(val(i))), `key ${i} after reopen`);
    }
    assert.equal((await r.scrub()).bad, []);
    await r.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('at the metadata cap, an update that meets a durable commit in flight waits for it and succeeds (its end frees chunks); NO_SPACE when truly full', safe(async () => {
  const dir = tmpDir('commit-window-cap');
  try {
    const MiB = 1024 * 1024;
    const t = await VosTarget.open(dir, { scmBytes: 8 * MiB, dataBytes: 8 * MiB, walBytes: 256 * 1024, io: 'pread', durable: true, deferSync: true, mergeWorker: false });
    const s = t.target;
    let hold = false;
    const held: Array<() => void> = [];
    const real = s.space.persistAsync.bind(s.space);
    s.space.persistAsync = () => (hold ? new Promise<void>((res) => held.push(res)).then(real) : real());
    const pump = () => { for (const r of held.splice(0)) r(); };
    const turn = () => new Promise<void>((r) => setImmediate(r));
    // (dkeys d0..d12 are punched at epoch 2 below; the writes after it go to dkey x)
    const put = (i: number) => code(t.updateSingle(1n, 1n, enc(i < 100000 ? `d${i % 13}` : 'x'), enc(`key-${i}`), new Uint8Array(200).fill(i & 0xff)));
    // fill the metadata file to its cap from write `from` on: full once a write meets NO_SPACE with
    // nothing running and no commit in flight (a flush or merge that ends may free chunks); returns
    // the index of that write
    const fillToCap = async (from: number): Promise<number> => {
      let i = from;
      for (let passes = 0; ; passes++) {
        let err: string | undefined;
        while (!(err = await put(i))) i++;
        assert.is(err, 'NO_SPACE');
        await s.idle();
        assert.is(s.commitInFlight, 0);
        if ((err = await put(i)) === 'NO_SPACE') return i;
        i++;
        assert.ok(passes < 100, `the target fills up (${i - from} values)`);
      }
    };
    const n = await fillToCap(0);
    assert.ok(n > 1000, `wrote ${n} values before the cap`);
    assert.is(await put(n), 'NO_SPACE', 'truly full, no commit in flight: NO_SPACE at once');
    // punch everything, then an aggregation whose full merge's commit (it drops every run: their
    // chunks are released when it is durable) has its syncs held
    for (let dk = 0; dk < 13; dk++) await t.punchDkey(2n, 1n, enc(`d${dk}`));
    let mergeStaged = false;
    s.onCommitPhase = (p) => { if (p === 'staged' && s.runs.length <= 1) mergeStaged = true; };
    hold = true;
    let aggDone = false;
    const agg = t.aggregate(3n).then(() => { aggDone = true; });
    while (!(mergeStaged && s.commitInFlight > 0)) { assert.not.ok(aggDone); pump(); await turn(); }
    // updates meanwhile: admitted while the heap has room; at the cap, one waits for the commit
    // (before: NO_SPACE although the commit was about to free the old runs' chunks)
    let waiting: Promise<string | undefined> | undefined;
    for (let i = 0; i < 20000 && !waiting; i++) {
      let got: { e: string | undefined } | undefined;
      const p = put(100000 + i);
      void p.then((e) => { got = { e }; });
      for (let k = 0; k < 20 && !got; k++) await turn();
      if (!got) { waiting = p; break; }
      assert.is(got.e, undefined, `put ${i} while the merge's commit is held (${s.commitInFlight} in flight)`);
    }
    assert.ok(waiting, 'an update met the cap while the commit was held');
    assert.ok(s.commitInFlight > 0, 'it waits for the commit in flight');
    hold = false; pump();
    assert.is(await waiting, undefined, 'the update succeeds once the commit is durable');
    await agg;
    assert.is((await t.fetchSingle(4n, 1n, enc('d0'), enc('key-0'))), undefined, 'punched');
    // truly full again, with commits held: every update that waits ends, and NO_SPACE comes
    hold = true;
    let m = 0;
    for (let last: string | undefined; last !== 'NO_SPACE'; m++) {
      const p = put(200000 + m);
      let got = false;
      void p.then(() => { got = true; });
      for (let k = 0; k < 20 && !got; k++) await turn();
      while (!got) { pump(); await turn(); }
      last = await p;
      assert.ok(last === undefined || last === 'NO_SPACE', `put ${m}: ${last}`);
      assert.ok(m < 50000, 'the target fills up again');
    }
    hold = false; pump();
    await fillToCap(300000);
    assert.is(await put(400000), 'NO_SPACE', 'truly full: NO_SPACE');
    await t.close();
    const r = await VosTarget.open(dir, { scmBytes: 8 * MiB, dataBytes: 8 * MiB, walBytes: 256 * 1024, io: 'pread' });
    assert.is(r.openReport.damage, undefined);
    assert.is((await r.fetchSingle(MAX_EPOCH, 1n, enc('x'), enc('key-100000')))![0], 100000 & 0xff, 'a write of the held window');
    assert.is(await r.fetchSingle(MAX_EPOCH, 1n, enc('d0'), enc('key-0')), undefined);
    assert.equal((await r.scrub()).bad, []);
    await r.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test('at the cap with commits in flight and too few free chunks for a third commit\'s copies, a committer waits for them (roomToStage) and then stages', safe(async () => {
  const dir = tmpDir('commit-window-third');
  try {
    const MiB = 1024 * 1024;
    const opts = { scmBytes: 8 * MiB, dataBytes: 8 * MiB, walBytes: 256 * 1024, io: 'pread', durable: true, deferSync: true, mergeWorker: false } as const;
    const t = await VosTarget.open(dir, opts);
    const s = t.target;
    // (the store's commit internals, driven directly: a heal or a rotation's fallback commit beside a flush's and a merge's is hard to time from outside)
    const S = s as unknown as { commitManifest(a: unknown[], r: unknown[], g: number): Promise<void> | undefined; roomToStage(): Promise<void> | undefined; stageShort(): boolean; sb: { walFlushedGen: number }; commitTail: Promise<void> | undefined };
    let hold = false;
    const held: Array<() => void> = [];
    const real = s.space.persistAsync.bind(s.space);
    s.space.persistAsync = () => (hold ? new Promise<void>((res) => held.push(res)).then(real) : real());
    const pump = () => { for (const r of held.splice(0)) r(); };
    const turn = () => new Promise<void>((r) => setImmediate(r));
    let i = 0;
    for (let passes = 0; ; passes++) {
      while (!(await code(t.updateSingle(1n, 1n, enc(`d${i % 13}`), enc(`key-${i}`), new Uint8Array(200).fill(i & 0xff))))) i++;
      await s.idle();
      if (await code(t.updateSingle(1n, 1n, enc('d0'), enc('more'), enc('x'))) === 'NO_SPACE') break;
      assert.ok(passes < 100, 'the target fills up');
    }
    assert.is(S.roomToStage(), undefined, 'nothing in flight: nothing to wait for');
    // commits staged with their syncs held until the free chunks are short of one more commit's copies
    hold = true;
    const stage = (): string | undefined => {
      try { void S.commitManifest([], [], S.sb.walFlushedGen)?.catch(() => undefined); return undefined; } catch (e) { return (e as { code?: string }).code; }
    };
    for (let k = 0; !S.stageShort(); k++) { assert.ok(k < 50, 'the heap runs short'); assert.is(stage(), undefined); }
    // staging on meets NO_SPACE (what a committer that did not wait would get), state unchanged
    let err: string | undefined;
    for (let k = 0; !err; k++) { assert.ok(k < 50, 'staging fails at last'); err = stage(); }
    assert.is(err, 'NO_SPACE');
    assert.ok(s.commitInFlight >= 2, `commits in flight: ${s.commitInFlight}`);
    assert.ok(S.stageShort());
    const w = S.roomToStage();
    assert.ok(w instanceof Promise, 'short at the cap with commits in flight: a committer waits');
    let done = false;
    void w!.then(() => { done = true; });
    for (let k = 0; k < 20; k++) { await turn(); assert.not.ok(done, 'it waits while the commits are held'); }
    while (!done) { pump(); await turn(); }
    assert.ok(!S.stageShort() || s.commitInFlight === 0, 'room for a commit\'s copies once they ended');
    const c = S.commitManifest([], [], S.sb.walFlushedGen);
    hold = false; pump();
    await c;
    while (S.commitTail) await S.commitTail;
    for (let k = 0; k < i; k += 97) assert.is((await t.fetchSingle(1n, 1n, enc(`d${k % 13}`), enc(`key-${k}`)))![0], k & 0xff, `key ${k}`);
    await t.close();
    const r = await VosTarget.open(dir, { ...opts, durable: false });
    assert.is(r.openReport.damage, undefined);
    assert.is((await r.fetchSingle(1n, 1n, enc('d0'), enc('key-0')))![0], 0);
    assert.equal((await r.scrub()).bad, []);
    await r.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

/** Both superblock slots of the pmem file in `dir` (undefined: not valid). */
function slotsOf(dir: string): Array<Superblock | undefined> {
  const scm = fs.readFileSync(path.join(dir, 'vos.scm'));
  return [0, 1].map((i) => { const s = decodeSuperblock(scm.subarray(i * SB_SLOT_BYTES, (i + 1) * SB_SLOT_BYTES)); return 'sb' in s ? s.sb : undefined; });
}

test('a power loss inside the one sync of a worker flush\'s manifest copies and commit slot (the slot on the medium, its copies not): the open takes the state before, nothing acknowledged is lost', safe(async () => {
  const dir = tmpDir('commit-window-power');
  const image = path.join(dir, 'image');
  try {
    assert.ok(await mergeWorkers()?.ready('flush'), 'a flush worker is up');
    const t = await VosTarget.open(path.join(dir, 'live'), { ...CRASH_OPTS, io: 'pread', durable: true });
    const s = t.target;
    const val = (i: number) => new Uint8Array(i % 3 === 0 ? 5000 : 100).fill(i & 0xff);
    let next = 0;
    const write = async (n: number) => { for (const end = next + n; next < end;) { const i = next++; await t.updateSingle(5n, 1n, enc(`a${i}`), enc('v'), val(i)); } };
    await write(300);
    await s.flushAll(); // (a first commit: both slots name it)
    await write(300);
    // At the flush commit's first sync (nothing else in flight), take an image of the files as they
    // are, the commit slot written and the copies with it, then lose the copies in it (their chunks
    // as if never written): what a power loss inside that sync can leave.
    const real = s.space.persistAsync.bind(s.space);
    let staged = false; let taken = false;
    s.onCommitPhase = (p) => { if (p === 'staged') staged = true; };
    s.space.persistAsync = () => {
      if (staged && !taken) { taken = true; crashImage(path.join(dir, 'live'), image); }
      return real();
    };
    const jobs = s.workerJobs;
    await s.flushAll();
    assert.ok(taken, 'the commit synced');
    assert.ok(s.workerJobs > jobs, 'the flush ran on the worker (its run synced there)');
    const [a, b] = slotsOf(image);
    assert.ok(a && b, 'both slots valid in the image');
    const newest = a!.gen > b!.gen ? a! : b!, other = newest === a ? b! : a!;
    assert.is(newest.gen, other.gen + 1, 'the commit slot was written before the sync: the image holds it');
    assert.not.equal(newest.copies[0].chunks, other.copies[0].chunks, 'it names the new copies');
    const fd = fs.openSync(path.join(image, 'vos.scm'), 'r+');
    try { for (const c of newest.copies) for (const ch of c.chunks) fs.writeSync(fd, new Uint8Array(Math.min(c.len, 64 * 1024)), 0, Math.min(c.len, 64 * 1024), ch); } finally { fs.closeSync(fd); }
    await t.close();
    let r = await VosTarget.open(image, { ...CRASH_OPTS, io: 'pread', durable: true });
    try {
      assert.ok(r.openReport.manifestCopyDamaged?.includes('a durable commit cut short'), `noticed: ${r.openReport.manifestCopyDamaged}`);
      assert.is(r.openReport.damage, undefined, 'a commit cut short is not damage');
      for (let i = 0; i < next; i++) assert.equal(await r.fetchSingle(MAX_EPOCH, 1n, enc(`a${i}`), enc('v')), val(i), `value ${i}`);
      const sc = await r.scrub();
      assert.is(sc.bad.length, 0, 'scrub clean');
    } finally { await r.close(); }
    r = await VosTarget.open(image, { ...CRASH_OPTS, io: 'pread', durable: true });
    try {
      assert.is(r.openReport.manifestCopyDamaged, undefined, 'both slots were written afresh by the first open');
      for (let i = 0; i < next; i += 7) assert.equal(await r.fetchSingle(MAX_EPOCH, 1n, enc(`a${i}`), enc('v')), val(i), `value ${i} after the second open`);
    } finally { await r.close(); }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));

test.run();
