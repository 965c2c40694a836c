/**
 * The journal of a pool that is not durable is checkpointed as a durable pool's redo journal is:
 * past its bound (PLAIN_CHECKPOINT_BYTES, 1 MiB here) the records of finished commits are dropped,
 * their object ids folded into the registry, and the journal rewritten beside the commits that go
 * on. So it stays bounded however many commits a process makes, an open after a crash reads only
 * what the last checkpoint left, and no object drops out of the listing: a writer killed with
 * SIGKILL after a checkpoint, or while one adopts its new journal, loses no acknowledged put and
 * no object of the registry.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpDir, text } from '../helpers/tmp.js';
import type { Journal as JournalT } from '../../src/container/journal.js';

// (read when the storage module loads: set before it is imported)
process.env.CAIRN_JOURNAL_CHECKPOINT_MIB = '1';
const { Pool } = await import('../../src/pool/pool.js');
const { Journal, copyLength } = await import('../../src/container/journal.js');
const { LocalContainerStorage, PLAIN_CHECKPOINT_BYTES } = await import('../../src/container/storage.js');
const { initXxhash } = await import('../../core/xxhash.js');
const { redoValue, runKilledWriter } = await import('./redo-child.js');

await initXxhash();
const t = suite('journal-checkpoint');
const SHAPE = { nodes: 4, ranksPerNode: 2, targetsPerRank: 2, scmBytes: 64 << 20, dataBytes: 64 << 20 };
const MIB = 1 << 20;

/** Every object id the registry and journal of container `uuid` of the closed pool in `dir` list. */
async function registered(dir: string, uuid: string): Promise<Set<bigint>> {
  const s = await LocalContainerStorage.open(join(dir, 'containers', uuid), false);
  s.recover();
  const ids = new Set(await s.registeredObjects());
  s.close();
  return ids;
}

t('the bound is the one asked for', () => {
  assert.is(PLAIN_CHECKPOINT_BYTES, MIB);
});

t('not durable: the journal stays within its bound over many commits, and every object stays listed and readable', async () => {
  const dir = join(tmpDir(), 'pool');
  const pool = await Pool.create(dir, SHAPE);
  const c = await pool.createContainer('c', { oclass: 'RP_2G1' });
  await c.openTargets();
  const journal = join(dir, 'containers', c.uuid, 'journal');
  const replace = Journal.prototype.commitReplace;
  let checkpoints = 0, largest = 0;
  Journal.prototype.commitReplace = async function (this: JournalT, prep, extra) { await replace.call(this, prep, extra); checkpoints++; };
  // ~80 journal bytes a put of a small value: writes go on until three checkpoints ended (how many
  // puts that takes depends on how fast each checkpoint runs beside them)
  const MAX = 400_000;
  let N = 0;
  const oids: bigint[] = [];
  try {
    while (checkpoints < 3 && N < MAX) {
      await Promise.all(Array.from({ length: 32 }, (_, j) => c.kv(`o${N + j}`).put('v', `v${N + j}`)));
      N += 32;
      largest = Math.max(largest, copyLength(1, statSync(journal).size));
    }
    for (let i = 0; i < N; i++) oids.push(c.kv(`o${i}`).object.oid);
    await pool.close();
  } finally {
    Journal.prototype.commitReplace = replace;
  }
  assert.ok(checkpoints >= 3, `the journal was checkpointed (${checkpoints} times in ${N} puts)`);
  // (a checkpoint drops what was committed when it began; the puts made while it runs stay)
  assert.ok(largest < 4 * MIB, `the journal stayed within a few bounds (largest copy ${largest} bytes after ${N} puts)`);
  const ids = await registered(dir, c.uuid);
  assert.ok(oids.every((o) => ids.has(o)), 'the registry and journal list every object');
  const again = await Pool.open(dir);
  const c2 = await again.openContainer('c');
  for (let i = 0; i < N; i += 101) assert.is(text(await c2.kv(`o${i}`).get('v')), `v${i}`, `o${i}`);
  assert.is(await c2.countObjects(), N);
  await again.close();
});

t('not durable, CAIRN_JOURNAL_CHECKPOINT_MIB=0: no checkpoint (the journal grows until a close compacts it)', async () => {
  const dir = join(tmpDir(), 'pool');
  const p = await Pool.create(dir, SHAPE);
  await p.createContainer('c', { oclass: 'RP_2G1' });
  await p.close();
  const child = `
    const { Pool } = await import(${JSON.stringify(new URL('../../src/pool/pool.ts', import.meta.url).pathname)});
    const { Journal } = await import(${JSON.stringify(new URL('../../src/container/journal.ts', import.meta.url).pathname)});
    let n = 0; const replace = Journal.prototype.commitReplace;
    Journal.prototype.commitReplace = async function (prep, extra) { n++; return replace.call(this, prep, extra); };
    const pool = await Pool.open(${JSON.stringify(dir)}); const c = await pool.openContainer('c'); await c.openTargets();
    for (let i = 0; i < 12000; i += 32) await Promise.all(Array.from({ length: 32 }, (_, j) => c.kv('o' + (i + j)).put('v', 'x')));
    console.log('checkpoints ' + n); await pool.close();`;
  const out = await new Promise<string>((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { env: { ...process.env, CAIRN_JOURNAL_CHECKPOINT_MIB: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = ''; proc.stdout.on('data', (d) => (s += d)); proc.on('close', () => resolve(s));
  });
  assert.match(out, /checkpoints 0\b/, `no checkpoint ran: ${out}`);
});

/**
 * Run redo-child.ts on a new pool that is not durable until it kills itself (`window`: in that
 * window of a checkpoint's adoption of the new journal, else 500 puts after a checkpoint); every
 * put it acknowledged must then read back, and its object be listed by the registry and journal.
 */
async function killedWriterLosesNothing(window?: 'before-rename' | 'after-rename'): Promise<void> {
  const dir = join(tmpDir(), 'pool');
  const p = await Pool.create(dir, SHAPE);
  const uuid = (await p.createContainer('c', { oclass: 'RP_2G1' })).uuid;
  await p.close();
  const { signal, ledger: out, acked } = await runKilledWriter(dir, window, { REDO_CHILD_DURABLE: '0', CAIRN_JOURNAL_CHECKPOINT_MIB: '1' });
  assert.is(signal, 'SIGKILL', `the writer kills itself mid-stream: ${out.slice(-200)}`);
  if (window) {
    assert.ok(out.includes('window opened'), 'the writer reached the window');
    assert.is([...out.matchAll(/window (\d+)/g)].length, 100, 'puts were acknowledged in the window (commits do not wait for the checkpoint)');
  } else {
    assert.ok(out.includes('checkpoint'), 'the writer passed a checkpoint');
  }
  assert.ok(acked.length >= 500, `the writer acknowledged puts (${acked.length})`);
  assert.ok(readdirSync(join(dir, 'containers', uuid)).some((f) => f.startsWith('objects.reg')) || window !== undefined, 'a checkpoint folded ids into the registry');
  const pool = await Pool.open(dir);
  const c = await pool.openContainer('c');
  const oids = acked.map((i) => c.kv(`o${i}`).object.oid);
  for (const i of acked) {
    const v = await c.kv(`o${i}`).get('v');
    assert.ok(v !== undefined && Buffer.compare(Buffer.from(v), Buffer.from(redoValue(i))) === 0, `acknowledged put ${i} is there`);
  }
  await c.kv('after').put('v', 'x');
  assert.is(text(await c.kv('after').get('v')), 'x', 'the pool takes writes again');
  await pool.close();
  const ids = await registered(dir, uuid);
  const missing = oids.filter((o) => !ids.has(o));
  assert.is(missing.length, 0, `every acknowledged object is listed (${missing.length} missing)`);
}

t('not durable: a writer killed with SIGKILL mid-stream, after a checkpoint, loses no acknowledged put or object', () => killedWriterLosesNothing());

t('not durable: killed while a checkpoint adopts the new journal, before its rename, loses no acknowledged put or object', () => killedWriterLosesNothing('before-rename'));

t('not durable: killed while a checkpoint adopts the new journal, renamed but the directory not yet synced, loses no acknowledged put or object', () => killedWriterLosesNothing('after-rename'));

t.run();
