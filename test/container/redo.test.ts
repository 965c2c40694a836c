/**
 * The redo journal of durable embedded pools: a small single-value commit carries its value in its
 * INTENT (one journal sync per group of commits), the target stores sync only at checkpoints, and
 * an open writes the journal's values again. A writer killed with SIGKILL mid-stream, across a
 * checkpoint, loses no acknowledged put; a power loss is emulated by putting back the target
 * stores as they were at the last flush beside the journal as it was synced: the open replays
 * the values, then the rollbacks, in that order; one pool checkpoint flushes every store once and
 * lets every container's journal drop its records.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { closeSync, cpSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { Pool } from '../../src/pool/pool.js';
import type { Container } from '../../src/object/handles.js';
import { Journal, JournalType, copyLength } from '../../src/container/journal.js';
import { REDO_CHECKPOINT_BYTES } from '../../src/container/storage.js';
import { TargetStore } from '../../src/vos/store.js';
import { TAIL_SLOTS_OFFSET } from '../../src/vos/manifest.js';
import { COPY_SUFFIX } from '../../core/record-file.js';
import { initXxhash } from '../../core/xxhash.js';
import { Rng } from '../../core/rng.js';
import { tmpDir, text } from '../helpers/tmp.js';
import { redoValue, runKilledWriter } from './redo-child.js';

await initXxhash();
const t = suite('redo');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20 };

t('durable: a small put\'s INTENT carries its value (a redo record); non-durable pools keep the plain record', async () => {
  for (const durable of [true, false]) {
    const dir = join(tmpDir(), 'pool');
    const pool = await Pool.create(dir, { ...SHAPE, durable });
    const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
    await c.openTargets(); // (a put to a store not yet open takes the general commit path)
    const e = await c.kv('obj').put('k', 'hello redo');
    const journal = join(dir, 'containers', c.uuid, 'journal');
    await pool.close();
    const intent = Journal.read(journal).records.find((r) => r.type === JournalType.Intent && r.epoch === e);
    const single = intent?.payload.single as { v?: string } | undefined;
    assert.ok(single, 'the put recorded a single-value INTENT');
    if (durable) assert.is(Buffer.from(single!.v ?? '', 'base64').toString(), 'hello redo');
    else assert.is(single!.v, undefined);
  }
});

/**
 * Run redo-child.ts on a new durable pool until it kills itself (`window`: in that window of a
 * checkpoint's adoption of the new journal, else 500 puts after a checkpoint); every put it
 * acknowledged must then read back.
 */
async function killedWriterLosesNothing(window?: 'before-rename' | 'after-rename'): Promise<void> {
  const dir = join(tmpDir(), 'pool');
  const p = await Pool.create(dir, { ...SHAPE, durable: true });
  await p.createContainer('c', { oclass: 'RP_2G1' });
  await p.close();
  const { signal, ledger: out, acked } = await runKilledWriter(dir, window);
  assert.is(signal, 'SIGKILL', `the writer kills itself mid-stream: ${out.slice(-200)}`);
  if (window) {
    // the kill came inside the window, puts having been acknowledged in it (commits do not wait for the checkpoint)
    assert.ok(out.includes('window opened'), 'the writer reached the window');
    assert.ok(!out.includes('checkpoint'), 'the writer was killed before the checkpoint ended');
    const inWindow = [...out.matchAll(/window (\d+)/g)].map((m) => Number(m[1]));
    assert.is(inWindow.length, 100, 'puts were acknowledged in the window');
    // Their INTENTs (epochs above the checkpoint's) are in the file now named `journal`, whichever
    // that is: the stores, which lose their unsynced writes with a power loss, would still hold
    // them after a mere SIGKILL, so a read-back alone cannot tell.
    const [uuid] = readdirSync(join(dir, 'containers'));
    const inJournal = new Set<number>();
    for (const r of Journal.read(join(dir, 'containers', uuid!, 'journal')).records) {
      const v = (r.payload.single as { v?: string } | undefined)?.v;
      if (r.type === JournalType.Intent && v !== undefined) inJournal.add(Buffer.from(v, 'base64').readUInt32LE(0));
    }
    for (const i of inWindow) assert.ok(inJournal.has(i), `the journal holds the INTENT of put ${i}, acknowledged in the window`);
  } else {
    assert.ok(out.includes('checkpoint'), 'the writer passed a checkpoint');
    assert.ok(acked.length >= 500, `the writer acknowledged puts (${acked.length})`);
  }
  const pool = await Pool.open(dir, { durable: true });
  const c = await pool.openContainer('c');
  for (const i of acked) {
    const v = await c.kv(`o${i}`).get('v');
    assert.ok(v !== undefined && Buffer.compare(Buffer.from(v), Buffer.from(redoValue(i))) === 0, `acknowledged put ${i} is there`);
  }
  // and the pool takes writes again
  await c.kv('after').put('v', 'x');
  assert.is(text(await c.kv('after').get('v')), 'x');
  await pool.close();
}

t('durable: a writer killed with SIGKILL mid-stream, after a checkpoint, loses no acknowledged put', () => killedWriterLosesNothing());

t('durable: killed while a checkpoint adopts the new journal, before its rename (puts acknowledged in both files meanwhile), loses no acknowledged put', () => killedWriterLosesNothing('before-rename'));

t('durable: killed while a checkpoint adopts the new journal, renamed but the directory not yet synced, loses no acknowledged put', () => killedWriterLosesNothing('after-rename'));

/** Copy the journal (both copies) of container `uuid` of the pool in `dir` to `to`. */
function copyJournal(dir: string, uuid: string, to: string): void {
  const j = join(dir, 'containers', uuid, 'journal');
  cpSync(j, to); cpSync(j + COPY_SUFFIX, to + COPY_SUFFIX);
}

/** Put back the targets copied to `targets` and the journal copied to `journal` (what a power loss would leave). */
function powerLoss(dir: string, uuid: string, targets: string, journal: string): void {
  rmSync(join(dir, 'targets'), { recursive: true });
  cpSync(targets, join(dir, 'targets'), { recursive: true });
  const j = join(dir, 'containers', uuid, 'journal');
  cpSync(journal, j); cpSync(journal + COPY_SUFFIX, j + COPY_SUFFIX);
}

/**
 * A durable pool in `root`/pool whose container `c` holds k0..k39 = a0..a39, closed, its stores
 * copied to `root`/targets-1 as the clean close synced them, opened again, and then k0..k39
 * overwritten with b0..b39 and n0..n39 = n0..n39 put (acknowledged: in the journal, not synced in the stores).
 */
async function writtenAfterClose(root: string): Promise<{ dir: string; uuid: string; pool: Pool; c: Container }> {
  const dir = join(root, 'pool');
  const first = await Pool.create(dir, { ...SHAPE, durable: true });
  const c0 = await first.createContainer('c', { oclass: 'RP_2G1' });
  for (let i = 0; i < 40; i++) await c0.kv(`k${i}`).put('v', `a${i}`);
  await first.close();
  cpSync(join(dir, 'targets'), join(root, 'targets-1'), { recursive: true });
  const pool = await Pool.open(dir, { durable: true });
  const c = await pool.openContainer('c');
  // (stores open: every put takes the small-put path, whose INTENT carries the value; a commit of
  // the general path syncs its stores itself, which these emulations would undo)
  await c.openTargets();
  await Promise.all(Array.from({ length: 40 }, (_, i) => c.kv(`k${i}`).put('v', `b${i}`)));
  await Promise.all(Array.from({ length: 40 }, (_, i) => c.kv(`n${i}`).put('v', `n${i}`)));
  return { dir, uuid: c0.uuid, pool, c };
}

/** The puts `writtenAfterClose` made after the close are all there. */
async function assertReplayed(c: Container): Promise<void> {
  for (let i = 0; i < 40; i++) {
    assert.is(text(await c.kv(`k${i}`).get('v')), `b${i}`, `overwrite k${i} replayed`);
    assert.is(text(await c.kv(`n${i}`).get('v')), `n${i}`, `new object n${i} replayed`);
  }
}

t('durable: an open writes the journal\'s values again into stores that lost them, then discards a rollback again', async () => {
  const root = tmpDir();
  const opened = await writtenAfterClose(root);
  const { dir, uuid } = opened;
  let { pool, c } = opened;
  copyJournal(dir, uuid, join(root, 'journal-1')); // every acknowledged put's record is synced
  await pool.close();
  powerLoss(dir, uuid, join(root, 'targets-1'), join(root, 'journal-1'));
  pool = await Pool.open(dir, { durable: true });
  c = await pool.openContainer('c');
  await assertReplayed(c);
  await c.snapshot('s');
  await pool.close();
  cpSync(join(dir, 'targets'), join(root, 'targets-2'), { recursive: true });
  pool = await Pool.open(dir, { durable: true });
  c = await pool.openContainer('c');
  await c.openTargets();
  for (let i = 0; i < 10; i++) await c.kv(`k${i}`).put('v', `c${i}`);
  await c.rollback('s');
  assert.is(text(await c.kv('k0').get('v')), 'b0');
  copyJournal(dir, uuid, join(root, 'journal-2'));
  await pool.close();
  // the stores lose the puts and the rollback's discards; the journal names both: the values are
  // written again, then the rollback discards them again (the other order would resurrect them)
  powerLoss(dir, uuid, join(root, 'targets-2'), join(root, 'journal-2'));
  pool = await Pool.open(dir, { durable: true });
  c = await pool.openContainer('c');
  for (let i = 0; i < 40; i++) assert.is(text(await c.kv(`k${i}`).get('v')), `b${i}`, `k${i} as at the snapshot`);
  await pool.close();
});

for (const half of [false, true]) t(`durable: a power loss that kept every store's tail slots${half ? ' and a seeded half of its other pages written since the last sync' : ''} but not the log records they name (the slots' page is low in the file: written back first) loses no acknowledged put`, async () => {
  const root = tmpDir();
  const opened = await writtenAfterClose(root);
  const { dir, uuid } = opened;
  let { pool, c } = opened;
  // each store's pmem file as the live store left it (every store took appends since the close)
  const live = new Map(readdirSync(join(dir, 'targets')).map((t) => [t, readFileSync(join(dir, 'targets', t, 'vos.scm'))] as const));
  copyJournal(dir, uuid, join(root, 'journal-1'));
  await pool.close();
  powerLoss(dir, uuid, join(root, 'targets-1'), join(root, 'journal-1'));
  const rng = new Rng(31);
  let laid = 0;
  for (const [t, now] of live) {
    const file = join(dir, 'targets', t, 'vos.scm');
    const was = readFileSync(file);
    const fd = openSync(file, 'r+');
    for (let off = 0; off < now.length; off += 4096) {
      const page = now.subarray(off, off + 4096);
      if (page.equals(was.subarray(off, off + 4096))) continue;
      if (off === TAIL_SLOTS_OFFSET || (half && rng.chance(0.5))) { writeSync(fd, page, 0, page.length, off); laid++; }
    }
    closeSync(fd);
  }
  assert.ok(laid >= 16, `pages written back (${laid})`);
  pool = await Pool.open(dir, { durable: true });
  c = await pool.openContainer('c');
  await assertReplayed(c);
  await pool.close();
});

t('durable: one pool checkpoint flushes every target store (twice: the second puts the stores\' sync marks on the medium) and every container\'s journal drops its redo records', async () => {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, { ...SHAPE, durable: true });
  const a = await pool.createContainer('a', { oclass: 'RP_2G1' });
  const b = await pool.createContainer('b', { oclass: 'RP_2G1' });
  await a.openTargets(); await b.openTargets();
  const jb = join(dir, 'containers', b.uuid, 'journal'), ja = join(dir, 'containers', a.uuid, 'journal');
  for (let i = 0; i < 50; i++) await b.kv(`b${i}`).put('v', `b${i}`);
  const flush = TargetStore.prototype.flush, replace = Journal.prototype.commitReplace;
  let flushes = 0;
  const rewritten: string[] = [];
  TargetStore.prototype.flush = function (this: TargetStore) { flushes++; return flush.call(this); };
  Journal.prototype.commitReplace = async function (this: Journal, prep, extra) { await replace.call(this, prep, extra); rewritten.push((this as unknown as { path: string }).path); };
  let n = 0;
  try {
    // write `a` until its journal passes the bound and a checkpoint rewrote it
    while (!rewritten.includes(ja) && n < 20_000) {
      await Promise.all(Array.from({ length: 32 }, (_, j) => a.kv(`a${n + j}`).put('v', redoValue(n + j))));
      n += 32;
    }
    await pool.close(); // (waits for a checkpoint still running)
  } finally {
    TargetStore.prototype.flush = flush; Journal.prototype.commitReplace = replace;
  }
  assert.ok(rewritten.includes(ja), `container a's journal was rewritten by a checkpoint (${n} puts)`);
  assert.ok(rewritten.includes(jb), 'and container b\'s, by the same checkpoint (no flush of its own)');
  assert.ok(flushes >= 16, `every one of the 16 stores was flushed (${flushes} flushes)`);
  // (format 5: both copies in one file, in alternating chunks; a copy's bytes are `copyLength` of the file's)
  assert.ok(copyLength(1, statSync(ja).size) < REDO_CHECKPOINT_BYTES, `a's journal is below the bound after it (${statSync(ja).size} bytes)`);
  assert.ok(copyLength(1, statSync(jb).size) < 4096, `b's journal dropped its redo records (${statSync(jb).size} bytes)`);
  const again = await Pool.open(dir, { durable: true });
  const a2 = await again.openContainer('a'), b2 = await again.openContainer('b');
  for (let i = 0; i < n; i += 97) assert.ok(Buffer.compare(Buffer.from((await a2.kv(`a${i}`).get('v'))!), Buffer.from(redoValue(i))) === 0, `a${i}`);
  for (let i = 0; i < 50; i++) assert.is(text(await b2.kv(`b${i}`).get('v')), `b${i}`);
  assert.ok((await a2.countObjects()) >= n, 'the objects of the dropped records are still listed');
  await again.close();
});

t('durable: aggregation first drops the redo records of what it may merge (an open never writes an aggregated-away version again)', async () => {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, { ...SHAPE, durable: true });
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  await c.openTargets();
  const epochs: bigint[] = [];
  for (let i = 0; i < 10; i++) epochs.push(await c.kv('obj').put('k', `v${i}`));
  await c.object('obj').punch();
  const journal = join(dir, 'containers', c.uuid, 'journal');
  const redoAt = () => new Set(Journal.read(journal).records.filter((r) => r.type === JournalType.Intent && typeof (r.payload.single as { v?: unknown } | undefined)?.v === 'string').map((r) => r.epoch));
  assert.ok(epochs.every((e) => redoAt().has(e)), 'the puts are redo records before');
  await c.aggregate();
  const left = redoAt();
  assert.ok(epochs.every((e) => !left.has(e)), 'aggregation dropped them first');
  await pool.close();
  const again = await Pool.open(dir, { durable: true });
  assert.is(await (await again.openContainer('c')).kv('obj').get('k'), undefined, 'the punched object stays punched');
  await again.close();
});

t.run();
