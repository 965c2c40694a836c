/**
 * Single-value commits (the small put) record in their INTENT what recovery checks on the targets
 * (dkey, akey, value hash, shards) and do not wait for their DONE record. These tests take DONE
 * records out of a real pool's journal (both copies), as a crash before DONE reached the file
 * leaves it, and reopen: a commit whose every write is on its targets is completed (kept, DONE
 * written), one whose targets do not hold the recorded value is rolled back, in plain and durable
 * pools; and a durable writer killed with SIGKILL right after its acknowledgements loses none.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { Pool } from '../../src/pool/pool.js';
import { Journal, JournalType, JOURNAL_SYNC_DEPTH, type JournalRecord, type AppendRecord } from '../../src/container/journal.js';
import type { IntentFields } from '../../src/container/intent-codec.js';
import { GROUP_SPLIT_INTENTS } from '../../src/container/storage.js';
import { COPY_SUFFIX } from '../../core/record-file.js';
import { initXxhash } from '../../core/xxhash.js';
import { tmpDir, text } from '../helpers/tmp.js';

await initXxhash();
const t = suite('single-commit');
const SHAPE = { nodes: 3, ranksPerNode: 1, targetsPerRank: 2, scmBytes: 32 << 20, dataBytes: 64 << 20 };

/** Rewrite both copies of the journal at `path` with `edit` applied to its records. */
function rewriteJournal(path: string, edit: (rs: JournalRecord[]) => JournalRecord[]): JournalRecord[] {
  const { records } = Journal.read(path);
  const kept = edit(records);
  rmSync(path); rmSync(path + COPY_SUFFIX);
  const { journal } = Journal.open(path);
  journal.appendBatch(kept.map((r) => ({ type: r.type, epoch: r.epoch, payload: r.payload })));
  journal.close();
  return records;
}

/** Pool with one RP_2G1 container; `k` written 'v1' then 'v2'; returns the epoch of the second put and the journal path. */
async function twoPuts(durable: boolean): Promise<{ dir: string; journal: string; e2: bigint }> {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, { ...SHAPE, durable });
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  const kv = c.kv('obj');
  await kv.put('k', 'v1');
  const e2 = await kv.put('k', 'v2');
  for (let i = 0; i < 20; i++) await c.kv(`other-${i}`).put('k', `x${i}`);
  const journal = join(dir, 'containers', c.uuid, 'journal');
  await pool.close();
  return { dir, journal, e2 };
}

for (const durable of [false, true]) {
  t(`${durable ? 'durable: ' : ''}a single-value commit without DONE whose writes are on its targets is completed`, async () => {
    const { dir, journal, e2 } = await twoPuts(durable);
    const before = rewriteJournal(journal, (rs) => rs.filter((r) => !(r.type === JournalType.Done && r.epoch === e2)));
    const intent = before.find((r) => r.type === JournalType.Intent && r.epoch === e2);
    assert.ok(intent, 'the put wrote an INTENT');
    const single = intent!.payload.single as { d: string; a: string; h: string; s: number[][] };
    assert.ok(single && single.s.length === 2, 'the INTENT of a put names what recovery checks (two replicas)');
    assert.is(Buffer.from(single.d, 'hex').toString(), 'k');
    const pool = await Pool.open(dir, { durable });
    const c = await pool.openContainer('c');
    assert.is(text(await c.kv('obj').get('k')), 'v2');
    for (let i = 0; i < 20; i++) assert.is(text(await c.kv(`other-${i}`).get('k')), `x${i}`);
    await pool.close();
    const after = Journal.read(journal).records;
    assert.ok(after.some((r) => r.type === JournalType.Done && r.epoch === e2), 'recovery wrote the missing DONE');
    assert.not.ok(after.some((r) => r.type === JournalType.Abort && r.epoch === e2), 'and no ABORT');
  });

  t(`${durable ? 'durable: ' : ''}a single-value commit without DONE whose targets hold other bytes is rolled back`, async () => {
    const { dir, journal, e2 } = await twoPuts(durable);
    // The INTENT claims a value the targets do not hold (as when a write never landed).
    rewriteJournal(journal, (rs) => rs
      .filter((r) => !(r.type === JournalType.Done && r.epoch === e2))
      .map((r) => (r.type === JournalType.Intent && r.epoch === e2 ? { ...r, payload: { ...r.payload, single: { ...(r.payload.single as object), h: '1234' } } } : r)));
    const pool = await Pool.open(dir, { durable });
    const c = await pool.openContainer('c');
    assert.is(text(await c.kv('obj').get('k')), 'v1', 'the unfinished put is discarded on every replica');
    for (let i = 0; i < 20; i++) assert.is(text(await c.kv(`other-${i}`).get('k')), `x${i}`);
    await pool.close();
    const after = Journal.read(journal).records;
    assert.ok(after.some((r) => r.type === JournalType.Abort && r.epoch === e2), 'recovery recorded the abort');
  });
}

/** An INTENT's payload as `Journal.read` gives it (hex and base64 strings), as the binary fields a put writes; `hash` replaces its hash. */
function binaryIntent(p: Record<string, unknown>, hash?: bigint): IntentFields {
  const s = p.single as { d: string; a: string; h: string; s: Array<[number, number]>; c?: number; v?: string } | undefined;
  const fields: IntentFields = { targets: p.targets as number[], objects: p.objects as string[] };
  if (s === undefined) return fields;
  return { ...fields, single: { dkey: Buffer.from(s.d, 'hex'), akey: Buffer.from(s.a, 'hex'), hash: hash ?? BigInt('0x' + s.h), storeHash: s.c === 1, shards: s.s, ...(s.v !== undefined ? { value: Buffer.from(s.v, 'base64') } : {}) } };
}

/** `rewriteJournal` keeping INTENTs binary (what a put writes; an open reads them without strings): `edit` maps each record to what is appended, or drops it. */
function rewriteJournalBinary(path: string, edit: (r: JournalRecord) => AppendRecord | undefined): JournalRecord[] {
  const { records } = Journal.read(path);
  const kept: AppendRecord[] = [];
  for (const r of records) { const a = edit(r); if (a !== undefined) kept.push(a); }
  rmSync(path); rmSync(path + COPY_SUFFIX);
  const { journal } = Journal.open(path);
  journal.appendBatch(kept);
  journal.close();
  return records;
}

for (const durable of [false, true]) {
  // (recovery reads binary INTENTs as bytes and numbers, with the checks the JSON form gets)
  t(`${durable ? 'durable: ' : ''}binary INTENTs: a single-value commit without DONE is completed when its targets hold it, rolled back when its hash names other bytes`, async () => {
    for (const wrongHash of [false, true]) {
      const { dir, journal, e2 } = await twoPuts(durable);
      const before = rewriteJournalBinary(journal, (r) => {
        if (r.type === JournalType.Done && r.epoch === e2) return undefined;
        if (r.type !== JournalType.Intent) return { type: r.type, epoch: r.epoch, payload: r.payload };
        return { type: r.type, epoch: r.epoch, intent: binaryIntent(r.payload, wrongHash && r.epoch === e2 ? 0x1234n : undefined) };
      });
      const intent = before.find((r) => r.type === JournalType.Intent && r.epoch === e2)!;
      assert.is(typeof (intent.payload.single as { v?: unknown }).v === 'string', durable, 'a durable put\'s INTENT carries its value (a redo record)');
      const opened = Journal.read(journal).records.find((r) => r.type === JournalType.Intent && r.epoch === e2)!;
      assert.equal(opened.payload, wrongHash ? { ...intent.payload, single: { ...(intent.payload.single as object), h: '1234' } } : intent.payload, 'the INTENT was written back in binary as it was');
      const pool = await Pool.open(dir, { durable });
      const c = await pool.openContainer('c');
      assert.is(text(await c.kv('obj').get('k')), wrongHash ? 'v1' : 'v2', wrongHash ? 'a value that is not the one its INTENT hashes is not trusted' : 'the unfinished put is completed');
      for (let i = 0; i < 20; i++) assert.is(text(await c.kv(`other-${i}`).get('k')), `x${i}`);
      await pool.close();
      const after = Journal.read(journal).records;
      assert.is(after.some((r) => r.type === JournalType.Done && r.epoch === e2), !wrongHash, 'recovery wrote the missing DONE of a completed put');
      assert.is(after.some((r) => r.type === JournalType.Abort && r.epoch === e2), wrongHash, 'and the ABORT of a rolled-back one');
    }
  });
}

t('a malformed single-value record in an INTENT is not trusted: the commit is rolled back', async () => {
  const { dir, journal, e2 } = await twoPuts(false);
  rewriteJournal(journal, (rs) => rs
    .filter((r) => !(r.type === JournalType.Done && r.epoch === e2))
    .map((r) => (r.type === JournalType.Intent && r.epoch === e2 ? { ...r, payload: { ...r.payload, single: { d: 'zz', a: 7 } } } : r)));
  const pool = await Pool.open(dir);
  const c = await pool.openContainer('c');
  assert.is(text(await c.kv('obj').get('k')), 'v1');
  await pool.close();
});

t('durable: a writer killed right after acknowledging puts loses none of them', async () => {
  const dir = join(tmpDir(), 'pool');
  const p = await Pool.create(dir, { ...SHAPE, durable: true });
  await p.createContainer('c', { oclass: 'RP_2G1' });
  await p.close();
  const child = new URL('./single-commit-child.ts', import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_c, s) => resolve(s)));
  assert.is(signal, 'SIGKILL', `the writer kills itself after its acknowledgements: ${out.slice(-300)}`);
  const acked = Number(/acked (\d+)/.exec(out)?.[1] ?? '0');
  assert.ok(acked > 0, 'the writer acknowledged puts');
  const pool = await Pool.open(dir, { durable: true });
  const c = await pool.openContainer('c');
  for (let i = 0; i < acked; i++) assert.is(text(await c.kv(`o${i}`).get('v')), `value ${i}`, `acknowledged put ${i}`);
  await pool.close();
});

t('durable: concurrent commits share journal syncs (a cohort waits for the commits still writing), and a slow commit holds no group back', async () => {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, { ...SHAPE, durable: true });
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  await c.openTargets();
  const sync = Journal.prototype.sync;
  let syncs = 0;
  Journal.prototype.sync = function (this: Journal) { syncs++; return sync.call(this); };
  try {
    // 3 rounds of 32 writers, each putting 4 values one after the other
    const N = 32, EACH = 4;
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: N }, async (_, w) => { for (let i = 0; i < EACH; i++) await c.kv(`r${round}-w${w}-${i}`).put('v', `value ${round}/${w}/${i}`); }));
    }
    const commits = 3 * N * EACH;
    // (pipelined group syncs: groups of GROUP_SPLIT_INTENTS commits, several syncing at once; one group per sync: the cohort of 32 writers)
    const per = JOURNAL_SYNC_DEPTH > 1 ? GROUP_SPLIT_INTENTS / 2 : 16;
    assert.ok(syncs > 0 && syncs <= commits / per, `${commits} concurrent commits made ${syncs} journal syncs (expected at most one per ${per} commits: 32 writers)`);
    // a commit writing a large value (written to the data file asynchronously) beside small ones: none waits for it beyond the gathering deadline
    const big = new Uint8Array(1 << 20).fill(9);
    const slow = c.kv('big').put('v', big);
    const small = await Promise.all(Array.from({ length: 16 }, (_, i) => c.kv(`s${i}`).put('v', `s${i}`)));
    assert.is(small.length, 16);
    await slow;
  } finally {
    Journal.prototype.sync = sync;
  }
  await pool.close();
  const again = await Pool.open(dir, { durable: true });
  const c2 = await again.openContainer('c');
  for (let round = 0; round < 3; round++) for (let w = 0; w < 32; w++) for (let i = 0; i < 4; i++) assert.is(text(await c2.kv(`r${round}-w${w}-${i}`).get('v')), `value ${round}/${w}/${i}`);
  assert.is((await c2.kv('big').get('v'))?.length, 1 << 20);
  await again.close();
});

t.run();
